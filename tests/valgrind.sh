#!/usr/bin/env bash
# Runs the parser tests (tar, gzip, grouping, codecs, tensors, fields, the
# hostile corpus) under valgrind memcheck: any invalid access, use of
# uninitialised memory or leak fails the run.
#   tests/valgrind.sh [build-dir] [catch2-test-spec]
# The build dir holds an already built suite (tests/wds_tests); default "build".
# Environment: WDS_VALGRIND_TIMEOUT (seconds, default 1200).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
spec=${2:-"[tar],[sample],[io],[bad],[npy],[tenbin],[json],[fields],[png],[jpeg]"}
bin="$dir/tests/wds_tests"
if [ ! -x "$bin" ]; then
  echo "valgrind.sh: $bin not found; build the suite first (tools/test.sh)" >&2
  exit 2
fi
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 2; }
# A build with ASan/UBSan cannot run under valgrind.
if nm -C "$bin" 2>/dev/null | grep -q '__asan_init'; then
  echo "valgrind.sh: $bin is built with AddressSanitizer; use a plain build" >&2
  exit 2
fi
start=$SECONDS
# Tests that cap their own address space (RLIMIT_AS) skip themselves under valgrind.
export WDS_RUNNING_UNDER_VALGRIND=1
# libjpeg-turbo's SIMD code makes memcheck report uninitialised values that the
# plain C path (same results on valid data) does not: run its C path here.
export JSIMD_FORCENONE=1
timeout "${WDS_VALGRIND_TIMEOUT:-1200}" valgrind --error-exitcode=1 --leak-check=full \
  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
  --track-origins=yes --num-callers=30 --quiet \
  "$bin" "$spec" --reporter compact
echo "valgrind.sh: parser tests clean under memcheck ($((SECONDS - start))s)"
