#!/bin/bash
# Peak RSS of `wds-etl transform` on a generated ~4 GB shard (not committed):
# pets-small's samples (reference pipeline) each with a 1 MiB blob field that is
# copied through, so the shard is large and the run short. Prints one line per
# --jobs value ("jobs N: peak RSS X MB, wall Y"), then the peak RSS of
# `wds-etl serve` for one request of that shard, as an hpush body (spooled past
# --memory-limit) and through etl_fqn (read from the file), each answer
# compared with the transform's output byte for byte.
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
  if [ -f "$dir/ref.tar" ]; then
    cmp -s "$dir/out.tar" "$dir/ref.tar" || { echo "jobs $j: output differs from jobs ${jobs[0]}" >&2; exit 1; }
    rm -f "$dir/out.tar"
  else
    mv "$dir/out.tar" "$dir/ref.tar"
  fi
done

# One server per request, so VmHWM is that request's peak.
serve_once() {  # name, curl args...
  local name=$1 port pid t0 t1
  shift
  port=$((20000 + RANDOM % 20000))
  "$etl" serve --host 127.0.0.1 --port "$port" --temp-dir "$dir" 2> "$dir/serve.log" &
  pid=$!
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/health" > /dev/null 2>&1 && break
    sleep 0.1
  done
  t0=$(date +%s.%N)
  curl -fsS "$@" -o "$dir/served.tar" "http://127.0.0.1:$port/b/big.tar${QUERY:-}"
  t1=$(date +%s.%N)
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill "$pid"
  wait "$pid" || true
  cmp -s "$dir/served.tar" "$dir/ref.tar" || { echo "serve $name: answer differs from transform's output" >&2; exit 1; }
  rm -f "$dir/served.tar"
  echo "serve $name: peak RSS $((hwm / 1024)) MB, wall $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
}
serve_once "hpush (PUT body, spooled)" -T "$dir/big.tar"
QUERY="?etl_fqn=$dir/big.tar" serve_once "etl_fqn (direct file)" -X PUT
