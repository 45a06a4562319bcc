#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) into build-fuzz/ and runs
# each one for a bounded time on its committed seed corpus. Fails on any crash,
# leak, timeout or out-of-memory; the reproducer lands in build-fuzz/artifacts/.
#   tests/fuzz/run.sh [target...]        (default: every target that was built)
# Inputs under tests/fuzz/regressions/<target>/ (past findings) are replayed first.
# Environment: WDS_FUZZ_SECONDS (per target, default 20), WDS_FUZZ_BUILD_DIR
# (default build-fuzz), CXX (default clang++), WDS_FUZZ_JOBS (build jobs, default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
dir=${WDS_FUZZ_BUILD_DIR:-build-fuzz}
seconds=${WDS_FUZZ_SECONDS:-20}
cxx=${CXX:-clang++}
case "$cxx" in *clang*) ;; *) cxx=clang++ ;; esac

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$dir" "${generator[@]}" -DWDS_FUZZ=ON -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -gline-tables-only" -DWDS_BUILD_TESTS=OFF -DWDS_BUILD_EXAMPLES=OFF \
  -DWDS_BUILD_BENCHMARKS=OFF -DWDS_INSTALL=OFF >/dev/null
cmake --build "$dir" -j"${WDS_FUZZ_JOBS:-2}"

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(grep -v '^$' "$dir/tests/fuzz/targets.txt")
fi

mkdir -p "$dir/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$dir/tests/fuzz/$t"
  [ -x "$bin" ] || { echo "fuzz: no binary for $t" >&2; failed+=("$t"); continue; }
  work="$dir/corpus/$t"  # new units go here; the committed seeds stay untouched
  mkdir -p "$work"
  log="$dir/$t.log"
  start=$SECONDS
  # Inputs that once crashed a target are replayed first (one run each).
  reg="$root/tests/fuzz/regressions/$t"
  if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
    echo "--- $t: replaying $(ls "$reg" | wc -l) regression inputs"
    if ! "$bin" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 "$reg"/* >"$dir/$t.regressions.log" 2>&1; then
      failed+=("$t(regressions)")
      echo "fuzz: $t fails on a regression input; log: $dir/$t.regressions.log" >&2
      grep -E 'ERROR|SUMMARY|Running:' "$dir/$t.regressions.log" | head -10 >&2 || true
    fi
  fi
  echo "--- $t (${seconds}s)"
  set +e
  "$bin" "$work" "$root/tests/fuzz/corpus/$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$root/$dir/artifacts/$t-" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  summary+=("$(printf '%-14s %10s execs  cov %-6s %4ss  rc=%s' "$t" "${runs:-?}" "${cov:-?}" $((SECONDS - start)) "$rc")")
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc); log: $dir/$t.log" >&2
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|terminate called|what\(\)' "$log" | head -20 >&2 || true
  fi
done

echo
echo "=== fuzz summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: failing targets: ${failed[*]}" >&2
  exit 1
fi
