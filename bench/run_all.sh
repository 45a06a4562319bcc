#!/bin/bash
# Runs the benchmarks with their same-run baselines and prints one table.
#   bench/run_all.sh [BUILD_DIR]      (configure with -DWDS_BUILD_BENCHMARKS=ON)
# Ratios are computed inside this run; on a shared machine compare ratios, not
# absolute rates. Set ROUNDS (default 3) for the repetitions per benchmark.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-3}
out=$(mktemp -d /tmp/wds-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
run() {  # name binary filter [env...]
  local name=$1 bin=$2 filter=$3
  shift 3
  (cd "$build" && env "$@" "bench/$bin" --benchmark_filter="$filter" --benchmark_repetitions="$rounds" \
    --benchmark_report_aggregates_only=true --benchmark_out="$out/$name.json" --benchmark_out_format=json \
    > /dev/null 2>&1)
}
run etl bench_etl 'one_shard|codec_floor|reference_pipeline/threads:1$' WDS_BENCH_ETL_SAMPLES=200 WDS_BENCH_ETL_SHARD_OUT="$out/etl.tar"
/usr/bin/python3 "$here/bench/bench_python_etl.py" "$out/etl.tar" "$rounds" > "$out/python_etl.txt"
run resize bench_transforms 'resize_plan/(down|up)_(bilinear|bicubic|lanczos|box)|cv_resize/(down|up)_INTER_AREA'
run tar bench_tar 'read_file|gunzip' WDS_BENCH_SHARD_MB=256
run codecs bench_codecs 'png_encode|png_imencode'
/usr/bin/python3 "$here/bench/bench_pillow_resize.py" 1.0 > "$out/pillow.txt"
# The loader: wds::dataset vs the same work by hand vs Python, on the same shards.
run dataset bench_dataset 'by_hand|dataset/' WDS_BENCH_DATASET_DIR="$out/ds" WDS_BENCH_DATASET_COPIES=8
/usr/bin/python3 "$here/bench/bench_python_dataset.py" "$out/ds" "$rounds" > "$out/python_dataset.txt"
run rss bench_dataset 'shuffle_rss' WDS_BENCH_DATASET_DIR="$out/ds-rss" WDS_BENCH_DATASET_COPIES=200
uname -srm > "$out/machine.txt"
grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- >> "$out/machine.txt"
nproc >> "$out/machine.txt"
/usr/bin/python3 - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
def medians(name):
    r = {}
    for b in json.load(open(os.path.join(d, name + ".json")))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            r[b["run_name"]] = b
    return r
etl, rs, tar, ds, cod = medians("etl"), medians("resize"), medians("tar"), medians("dataset"), medians("codecs")
rss = json.load(open(os.path.join(d, "rss.json")))["benchmarks"][0]
pil = dict(l.split() for l in open(os.path.join(d, "pillow.txt")))
m = open(os.path.join(d, "machine.txt")).read().split("\n")
print(f"machine: {m[0]}, {m[1].strip()}, {m[2]} CPUs; load average {os.getloadavg()[0]:.1f}")
print("| what | wds | baseline (same run) | ratio |")
print("|---|---|---|---|")
def t(b): return b["real_time"]
one, two = etl["BM_one_shard_threads/1/real_time"], etl["BM_one_shard_threads/2/real_time"]
print(f"| ETL one shard, 2 threads vs 1 (samples/s) | {one['samples/s']*t(one)/t(two):.0f} | {one['samples/s']:.0f} | {t(one)/t(two):.2f}x |")
ref = etl["BM_reference_pipeline/threads:1"]
py = dict(l.split() for l in open(os.path.join(d, "python_etl.txt")))
ref_cpu = ref["samples/s"]  # no UseRealTime: the rate is per CPU second already
print(f"| ETL reference pipeline, 1 thread vs the Python reference on the same shard (samples/s, CPU time) | {ref_cpu:.0f} | {float(py['python_etl']):.0f} | {ref_cpu/float(py['python_etl']):.2f}x |")
fl = etl["BM_codec_floor"]
one_cpu = one["samples/s"] * t(one) / one["cpu_time"]  # both on CPU time: robust to other load
print(f"| ETL 1 thread vs codec floor (samples/s, CPU time) | {one_cpu:.0f} | {fl['samples/s']:.0f} | {one_cpu/fl['samples/s']:.2f}x |")
for shape in ("down", "up"):
    area = rs[f"bm_cv_resize/{shape}_INTER_AREA"]["MP/s"]
    for f in ("bilinear", "bicubic", "lanczos", "box"):
        k = f"bm_resize_plan/{shape}_{f}"
        if k not in rs or f"pillow/{shape}_{f}" not in pil: continue
        w, p = rs[k]["MP/s"], float(pil[f"pillow/{shape}_{f}"])
        print(f"| resize {shape} {f} vs Pillow 9.4 (MP/s) | {w:.1f} | {p:.1f} | {w/p:.2f}x |")
        if f == "bilinear":
            print(f"| resize {shape} bilinear vs OpenCV INTER_AREA (MP/s) | {w:.1f} | {area:.1f} | {w/area:.2f}x |")
plain = tar["bm_plain_read_file/real_time"]["bytes_per_second"]
for k, label in (("bm_samples_read_file/real_time", "tar + grouping (owned)"),
                 ("bm_samples_borrowed_read_file/real_time", "tar + grouping (borrowed)"),
                 ("bm_tar_read_file/real_time", "tar members only")):
    v = tar[k]["bytes_per_second"]
    print(f"| {label} vs plain read() loop (GB/s) | {v/1e9:.2f} | {plain/1e9:.2f} | {v/plain:.2f}x |")
for what, zk, ck, pk in (("photos", "bm_gunzip_zlib", "bm_gunzip_configured", "bm_gunzip_parallel"),
                         ("text", "bm_gunzip_text_zlib", "bm_gunzip_text_configured", "bm_gunzip_text_parallel")):
    z, c = tar[zk + "/real_time"], tar[ck + "/real_time"]
    print(f"| gzip inflate of a {what} shard, gzip_source ({c.get('label', '?')}) vs zlib (GB/s of output) | {c['bytes_per_second']/1e9:.2f} | {z['bytes_per_second']/1e9:.2f} | {c['bytes_per_second']/z['bytes_per_second']:.2f}x |")
    if pk + "/2/real_time" in tar:
        p = tar[pk + "/2/real_time"]
        print(f"| gzip inflate of a {what} shard, parallel_gzip_source 2 threads vs zlib (GB/s of output) | {p['bytes_per_second']/1e9:.2f} | {z['bytes_per_second']/1e9:.2f} | {p['bytes_per_second']/z['bytes_per_second']:.2f}x |")
if "bm_gunzip_isal_direct/real_time" in tar:
    direct, c = tar["bm_gunzip_isal_direct/real_time"], tar["bm_gunzip_configured/real_time"]
    print(f"| gzip inflate of the photos shard, gzip_source vs igzip called directly (GB/s) | {c['bytes_per_second']/1e9:.2f} | {direct['bytes_per_second']/1e9:.2f} | {c['bytes_per_second']/direct['bytes_per_second']:.2f}x |")
if "bm_gunzip_samples_configured/real_time" in tar:
    z, c = tar["bm_gunzip_samples_zlib/real_time"], tar["bm_gunzip_samples_configured/real_time"]
    print(f"| .tar.gz photos file read + grouping, gzip_source ({c.get('label', '?')}) vs zlib (GB/s of tar) | {c['bytes_per_second']/1e9:.2f} | {z['bytes_per_second']/1e9:.2f} | {c['bytes_per_second']/z['bytes_per_second']:.2f}x |")
for arg, what in (("0", "500x375 mask (L)"), ("1", "500x375 photo (RGB)")):
    cv = cod.get(f"opencv_png_imencode/rgb_photo:{arg}")
    for k, label in ((f"png_encode/rgb_photo:{arg}", "default (level 6)"), (f"png_encode_fast/rgb_photo:{arg}", "png(fast)")):
        if cv and k in cod:
            w = cod[k]
            print(f"| PNG encode {what}, {label} vs OpenCV imencode (MP/s; bytes) | {w['MP/s']:.1f}; {w['bytes']:.0f} B | {cv['MP/s']:.1f}; {cv['bytes']:.0f} B | {w['MP/s']/cv['MP/s']:.2f}x |")
hand = ds["BM_by_hand/real_time"]["samples/s"]
for th in (0, 1, 2):
    v = ds[f"BM_dataset/{th}/real_time"]["samples/s"]
    print(f"| dataset, {th} worker threads vs the same work by hand, 1 thread (samples/s) | {v:.0f} | {hand:.0f} | {v/hand:.2f}x |")
py, how = open(os.path.join(d, "python_dataset.txt")).read().split()[1:3]
v = ds["BM_dataset/0/real_time"]["samples/s"]
print(f"| dataset, 0 worker threads vs Python ({how}, one process) (samples/s) | {v:.0f} | {float(py):.0f} | {v/float(py):.2f}x |")
print(f"| peak RSS, 1000-sample shuffle buffer (MiB) | {rss['peak_rss_MiB']:.0f} | | |")
PY
