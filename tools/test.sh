#!/usr/bin/env bash
# Builds everything with warnings as errors and runs the whole test suite.
#   tools/test.sh                 (build dir: build/)
# Environment: CXX (compiler), WDS_BUILD_DIR, WDS_CMAKE_ARGS (extra cmake args),
# WDS_CTEST_ARGS (extra ctest args, e.g. -LE long to skip the quick-start rerun).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh build
dir=${WDS_BUILD_DIR:-build}
# ccache when present: CI and the quick-start test rebuild the same sources,
# the latter in a copy under this tree (base_dir makes its paths match).
if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ] && command -v ccache >/dev/null; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR=1
fi
# Release: no debug info, which is 40% of the compile time of a Beast TU.
# Tests, examples and the full test glob are forced on: a build dir configured
# before (tools/demo.sh turns tests off) must not switch tests off here.
# shellcheck disable=SC2086
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWDS_WARNINGS_AS_ERRORS=ON \
  -DWDS_BUILD_TESTS=ON -DWDS_BUILD_EXAMPLES=ON -DWDS_TEST_GLOB='test_*.cpp' \
  -DWDS_BUILD_BENCHMARKS=OFF ${WDS_CMAKE_ARGS:-} >/dev/null
cmake --build "$dir" -j"$(nproc)"
# shellcheck disable=SC2086
ctest --test-dir "$dir" --output-on-failure --no-tests=error -j"$(nproc)" ${WDS_CTEST_ARGS:-}
