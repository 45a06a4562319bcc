#!/bin/bash
# Regenerates the committed slice tests/data/diff/images (run from anywhere).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=$root/tests/data/diff/images
rm -rf "$out"
/usr/bin/python3 "$root/tests/diff/images/gen.py" 400 7 "$out" small
/usr/bin/python3 "$root/tests/diff/images/gen.py" curated "$out"
/usr/bin/python3 "$root/tests/diff/images/gen.py" curated-keys "$out"
