#!/bin/bash
# Peak RSS of `wds-etl transform` on a generated ~4 GB shard (not committed):
# pets-small's samples (reference pipeline) each with a 1 MiB blob field that is
# copied through, so the shard is large and the run short. Prints one line per
# --jobs value: "jobs N: peak RSS X MB, Y s".
#   bench/bounded_memory.sh build/examples/etl/wds-etl [GB] [jobs...]
set -euo pipefail
etl=${1:?path to wds-etl}
gb=${2:-4}
shift 2 || true
jobs=("$@")
[ ${#jobs[@]} -gt 0 ] || jobs=(1 2)
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/wds-rss.XXXXXX)
trap 'rm -rf "$dir"' EXIT
/usr/bin/python3 - "$here/tests/data/etl/pets-small.tar" "$dir/big.tar" "$gb" <<'PY'
import io, os, sys, tarfile
src, dst, gb = sys.argv[1], sys.argv[2], float(sys.argv[3])
members = []
with tarfile.open(src) as t:
    for m in t.getmembers():
        if m.isfile():
            members.append((m.name, t.extractfile(m).read()))
blob = os.urandom(1 << 20)
with tarfile.open(dst, "w", format=tarfile.GNU_FORMAT) as out:
    i = 0
    while out.fileobj.tell() < gb * (1 << 30):
        for name, data in members:
            key, _, ext = name.partition(".")
            info = tarfile.TarInfo(f"r{i:06d}_{name}")
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
            if ext == "cls":  # one blob per sample
                info = tarfile.TarInfo(f"r{i:06d}_{key}.blob.bin")
                info.size = len(blob)
                out.addfile(info, io.BytesIO(blob))
        i += 1
PY
size=$(stat -c %s "$dir/big.tar")
echo "shard: $((size / 1000000)) MB"
for j in "${jobs[@]}"; do
  /usr/bin/time -v "$etl" transform "$dir/big.tar" -o "$dir/out.tar" --jobs "$j" -q 2> "$dir/time.txt"
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$dir/time.txt")
  echo "jobs $j: peak RSS $((rss / 1024)) MB, wall $wall"
  rm -f "$dir/out.tar"
done
