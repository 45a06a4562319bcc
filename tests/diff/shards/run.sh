#!/bin/sh
# Differential tester, shard half: N fresh cases from SEED, Python oracle vs wds.
#   tests/diff/shards/run.sh N SEED [BUILD_DIR]
# Prints "diff: K/N identical" and one reproducer line per mismatch; exit 1 on any.
set -eu
n=${1:?usage: run.sh N SEED [BUILD_DIR]}
seed=${2:?usage: run.sh N SEED [BUILD_DIR]}
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${3:-$root/build}
checker=$build/tests/wds_diff_shards
[ -x "$checker" ] || { echo "run.sh: build the checker first: cmake --build $build --target wds_diff_shards" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
/usr/bin/python3 "$root/tests/diff/shards/gen.py" --seed "$seed" --count "$n" --out "$out"
"$checker" "$out/corpus.bin"
