#!/usr/bin/env bash
# The README demo: builds wds-etl and runs the reference ETL pipeline (the one of
# AIStore's WebDataset post, byte-identical to Python) on a small pets-like shard
# that ships with the repo, then lists the result.
#   bash tools/demo.sh            (from anywhere; build dir: build/ or $WDS_BUILD_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh build
dir=${WDS_BUILD_DIR:-build}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DWDS_BUILD_TESTS=OFF -DWDS_BUILD_BENCHMARKS=OFF -DWDS_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$dir" --target wds-etl -j"$(nproc)"
etl="$dir/examples/etl/wds-etl"
in=tests/data/etl/pets-small.tar
out=$(mktemp -d)/pets-small-etl.tar
trap 'rm -rf "$(dirname "$out")"' EXIT

echo "== input: $in"
"$etl" ls "$in"
echo
echo "== wds-etl transform $in -o $out"
"$etl" transform "$in" -o "$out"
echo
echo "== output"
"$etl" ls "$out"
echo
if cmp -s "$out" tests/data/etl/pets-small.expected.tar; then
  echo "== identical to the Python reference output (tests/data/etl/pets-small.expected.tar)"
else
  echo "== DIFFERS from the Python reference output" >&2
  exit 1
fi
