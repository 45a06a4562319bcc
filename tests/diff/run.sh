#!/bin/bash
# SPDX-License-Identifier: MIT
# Differential test against the reference stack: N fresh cases from SEED.
#   tests/diff/run.sh N SEED
# Needs Debian's /usr/bin/python3 with Pillow 9.4 / torchvision 0.14 and a
# built wds_diff_check (WDS_BUILD_DIR, default build/). Prints every mismatch
# as a one-line reproducer and "diff: K/N identical" (images plus, when
# tests/diff/shards/run.sh exists, its cases). Exit 1 on any mismatch.
set -euo pipefail
N=${1:?usage: run.sh N SEED}
SEED=${2:?usage: run.sh N SEED}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${WDS_BUILD_DIR:-$root/build}
check=$build/tests/wds_diff_check
if [ ! -x "$check" ]; then
  echo "run.sh: $check not found (cmake --build $build --target wds_diff_check)" >&2
  exit 2
fi
work=${WDS_DIFF_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/wds-diff.XXXXXX")}
/usr/bin/python3 "$here/images/gen.py" "$N" "$SEED" "$work/images"
out=$("$check" "$work/images" || true)
grep -v '^diff:' <<<"$out" || true
line=$(grep '^diff:' <<<"$out" | tail -1)
k=$(sed -E 's/^diff: ([0-9]+)\/([0-9]+).*/\1/' <<<"$line")
n=$(sed -E 's/^diff: ([0-9]+)\/([0-9]+).*/\2/' <<<"$line")
echo "images: $k/$n identical (cases in $work/images)"
if [ -x "$here/shards/run.sh" ]; then
  sout=$("$here/shards/run.sh" "$N" "$SEED" || true)
  grep -v '^diff:' <<<"$sout" || true
  sline=$(grep '^diff:' <<<"$sout" | tail -1)
  if [ -n "$sline" ]; then
    sk=$(sed -E 's/^diff: ([0-9]+)\/([0-9]+).*/\1/' <<<"$sline")
    sn=$(sed -E 's/^diff: ([0-9]+)\/([0-9]+).*/\2/' <<<"$sline")
    echo "shards: $sk/$sn identical"
    k=$((k + sk))
    n=$((n + sn))
  fi
fi
echo "diff: $k/$n identical"
[ "$k" = "$n" ]
