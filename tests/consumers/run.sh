#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* consumer functions are called by name
# SPDX-License-Identifier: MIT
# Builds and runs every way of consuming wds, each as an external project in a
# temporary directory:
#   tests/consumers/run.sh REPO_ROOT [CONSUMER...]
# CONSUMERs (default: all): single-header cmake-build-tree cmake-find-package
#   cmake-add-subdirectory cmake-fetchcontent meson-subproject pkgconfig-make vcpkg-port
#   custom-container (examples/custom_container built on its own against the
#   installed package, as its README says; skipped without Boost.URL)
# Prints one line per consumer (PASS/FAIL, seconds); exits non-zero if any
# failed, after printing the tail of its log. Environment: CXX (default g++),
# WDS_CONSUMER_CXXFLAGS (default: strict warnings with -Werror), WDS_KEEP_TMP=1
# keeps the temporary directory.
set -uo pipefail

if [ $# -lt 1 ] || [ ! -f "$1/include/wds/config.hpp" ]; then
  echo "usage: $0 REPO_ROOT [CONSUMER...]" >&2
  exit 2
fi
root=$(cd "$1" && pwd)
shift
here="$root/tests/consumers"
all=(single-header cmake-build-tree cmake-find-package cmake-add-subdirectory cmake-fetchcontent
     meson-subproject pkgconfig-make vcpkg-port custom-container)
if [ $# -gt 0 ]; then selected=("$@"); else selected=("${all[@]}"); fi

export CXX=${CXX:-g++}
cxxflags=${WDS_CONSUMER_CXXFLAGS:--Wall -Wextra -Wpedantic -Wundef -Wshadow -Werror}
jobs=${WDS_CONSUMER_JOBS:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wds-consumers.XXXXXX")
if [ "${WDS_KEEP_TMP:-0}" = 1 ]; then
  echo "consumers: keeping $tmp"
else
  trap 'rm -rf "$tmp"' EXIT
fi
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)

# cmake configure + build of a consumer project; extra args are cache entries.
cmake_consumer() {
  local src=$1 bin=$2
  shift 2
  cmake -S "$src" -B "$bin" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON "$@" &&
    cmake --build "$bin" -j "$jobs"
}

# Runs the built consumer(s) in a directory.
run_consumers() {
  local dir=$1
  "$dir/consumer" || return 1
  if [ -x "$dir/consumer_http" ]; then "$dir/consumer_http" || return 1; fi
}

# Configure + install wds (default AUTO codecs) into a prefix, then move the
# prefix: the installed package must not remember where it was installed.
installed_prefix="$tmp/prefix"
install_wds() {
  [ -f "$installed_prefix/share/cmake/wds/wdsConfig.cmake" ] && return 0
  cmake -S "$root" -B "$tmp/wds-build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DWDS_BUILD_TESTS=OFF -DWDS_BUILD_EXAMPLES=OFF -DWDS_BUILD_BENCHMARKS=OFF -DWDS_INSTALL=ON \
    -DCMAKE_INSTALL_PREFIX="$tmp/prefix-at-install" &&
    cmake --install "$tmp/wds-build" &&
    mv "$tmp/prefix-at-install" "$installed_prefix"
}

c_single_header() {
  python3 "$root/tools/amalgamate.py" --check || return 1
  local out="$tmp/single-header" src="$here/common/consumer.cpp"
  mkdir -p "$out"
  # Enable each codec the single header carries (the umbrella decides) and the
  # machine has.
  local libs=() defs=() header="$root/single_include/wds/wds.hpp"
  has_part() { grep -q "^// ---- begin wds/$1 ----" "$header"; }
  has_part codec/gzip.hpp && pkg-config --exists zlib && { defs+=(-DWDS_HAS_ZLIB=1); libs+=(-lz); }
  has_part codec/jpeg.hpp && pkg-config --exists libjpeg && { defs+=(-DWDS_HAS_JPEG=1); libs+=(-ljpeg); }
  has_part codec/png.hpp && pkg-config --exists spng && { defs+=(-DWDS_HAS_PNG=1); libs+=(-lspng); }
  echo "single header codecs: ${defs[*]:-none}"
  # shellcheck disable=SC2086
  "$CXX" -std=c++17 $cxxflags -I "$root/single_include" "${defs[@]}" "$src" -o "$out/all" "${libs[@]}" &&
    "$out/all" || return 1
  # Core only: no codec macro, no library on the link line.
  # shellcheck disable=SC2086
  "$CXX" -std=c++17 $cxxflags -I "$root/single_include" "$src" -o "$out/core" && "$out/core" || return 1
  # The HTTP part (ais.hpp, http.hpp) under WDS_HAS_HTTP, with Boost.URL and OpenSSL.
  if has_part ais.hpp && [ -f /usr/include/boost/url.hpp ] && pkg-config --exists openssl; then
    # shellcheck disable=SC2086,SC2046
    "$CXX" -std=c++17 $cxxflags -I "$root/single_include" "${defs[@]}" -DWDS_HAS_HTTP=1 -DWDS_HAS_OPENSSL=1 \
      "$here/common/consumer_http.cpp" -o "$out/http" "${libs[@]}" \
      -lboost_url $(pkg-config --libs openssl) -pthread && "$out/http" || return 1
  fi
  if command -v clang++ >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    clang++ -std=c++20 $cxxflags -I "$root/single_include" "${defs[@]}" "$src" -o "$out/clang20" \
      "${libs[@]}" && "$out/clang20" || return 1
  fi
}

c_cmake_build_tree() {
  # The build tree's export (no install): -Dwds_DIR=<wds build dir>.
  install_wds || return 1
  cmake_consumer "$here/cmake_find_package" "$tmp/build-tree" -Dwds_DIR="$tmp/wds-build" &&
    run_consumers "$tmp/build-tree"
}

c_cmake_find_package() {
  install_wds || return 1
  [ -f "$installed_prefix/share/cmake/wds/wdsConfig.cmake" ] || return 1
  cmake_consumer "$here/cmake_find_package" "$tmp/find-package" -DCMAKE_PREFIX_PATH="$installed_prefix" &&
    run_consumers "$tmp/find-package"
}

c_cmake_add_subdirectory() {
  cmake_consumer "$here/cmake_add_subdirectory" "$tmp/add-subdirectory" -DWDS_ROOT="$root" &&
    run_consumers "$tmp/add-subdirectory"
}

c_cmake_fetchcontent() {
  cmake_consumer "$here/cmake_fetchcontent" "$tmp/fetchcontent" -DWDS_ROOT="$root" &&
    run_consumers "$tmp/fetchcontent"
}

c_meson_subproject() {
  command -v meson >/dev/null 2>&1 || { echo "meson not installed"; return 1; }
  local src="$tmp/meson-src"
  mkdir -p "$src/subprojects/wds"
  cp "$here/meson_subproject/meson.build" "$src/"
  cp "$here/common/consumer.cpp" "$src/"
  # The wds source tree as a checkout would have it (tracked + new files, no build dirs).
  (cd "$root" && git ls-files -z --cached --others --exclude-standard 2>/dev/null |
     xargs -0 -r tar cf - --ignore-failed-read 2>/dev/null) | tar xf - -C "$src/subprojects/wds"
  [ -f "$src/subprojects/wds/meson.build" ] || cp -r "$root/include" "$root/meson.build" \
    "$root/meson_options.txt" "$src/subprojects/wds/"
  CXXFLAGS="$cxxflags" meson setup "$tmp/meson-build" "$src" --wrap-mode=nodownload &&
    meson compile -C "$tmp/meson-build" -j "$jobs" &&
    run_consumers "$tmp/meson-build"
}

c_pkgconfig_make() {
  command -v make >/dev/null 2>&1 || { echo "make not installed (tools/install-deps.sh build)"; return 1; }
  install_wds || return 1
  local out="$tmp/pkgconfig-make"
  mkdir -p "$out"
  PKG_CONFIG_PATH="$installed_prefix/share/pkgconfig" make -C "$here/pkgconfig_make" \
    SRC="$here/common" OUT="$out" CXXFLAGS="-std=c++17 $cxxflags" &&
    run_consumers "$out"
}

c_custom_container() {
  local ex="$root/examples/custom_container"
  if [ ! -f "$ex/CMakeLists.txt" ] || [ ! -f /usr/include/boost/url.hpp ]; then
    echo "skipped: no examples/custom_container or no Boost.URL"
    return 0
  fi
  install_wds || return 1
  cmake_consumer "$ex" "$tmp/custom-container" -DCMAKE_PREFIX_PATH="$installed_prefix" &&
    [ -x "$tmp/custom-container/wds-custom-etl" ]
}

c_vcpkg_port() {
  python3 "$here/port_replay.py" lint "$root" || return 1
  local i=0 features
  for features in "" "zlib,jpeg,png,http"; do
    i=$((i + 1))
    local b="$tmp/port-build$i" stage="$tmp/port-packages$i" installed="$tmp/port-installed$i"
    local args=()
    mapfile -t args < <(python3 "$here/port_replay.py" cmake-args "$root" "$features")
    echo "port replay [$features]: cmake ${args[*]}"
    cmake -S "$root" -B "$b" "${args[@]}" -DCMAKE_INSTALL_PREFIX="$stage" &&
      cmake --build "$b" && cmake --install "$b" &&
      python3 "$here/port_replay.py" fixup "$root" "$stage" &&
      mv "$stage" "$installed" || return 1
    cmake_consumer "$here/cmake_find_package" "$tmp/port-consumer$i" -DCMAKE_PREFIX_PATH="$installed" \
      >"$tmp/port-consumer$i.log" 2>&1 || { cat "$tmp/port-consumer$i.log"; return 1; }
    cat "$tmp/port-consumer$i.log"
    local got
    got=$("$tmp/port-consumer$i/consumer") || { echo "$got"; return 1; }
    echo "$got"
    if [ -z "$features" ]; then
      # Features alone decide: nothing enabled although the machine has the libraries.
      echo "$got" | grep -q "zlib=0 jpeg=0 png=0" || return 1
      [ ! -e "$tmp/port-consumer$i/consumer_http" ] || return 1
    else
      echo "$got" | grep -q "zlib=1 jpeg=1 png=1" || return 1
      "$tmp/port-consumer$i/consumer_http" || return 1
    fi
    local out="$tmp/port-pkgconfig$i"
    mkdir -p "$out"
    PKG_CONFIG_PATH="$installed/share/pkgconfig" make -C "$here/pkgconfig_make" \
      SRC="$here/common" OUT="$out" CXXFLAGS="-std=c++17 $cxxflags" && run_consumers "$out" || return 1
  done
}

status=0
for name in "${selected[@]}"; do
  fn="c_${name//-/_}"
  if ! declare -F "$fn" >/dev/null; then
    echo "FAIL $name: unknown consumer (known: ${all[*]})"
    status=1
    continue
  fi
  log="$tmp/$name.log"
  start=$(date +%s)
  if (set -x; "$fn") >"$log" 2>&1; then
    echo "PASS $name ($(($(date +%s) - start))s)"
  else
    echo "FAIL $name ($(($(date +%s) - start))s); last lines of its log:"
    tail -n 40 "$log" | sed 's/^/    /'
    status=1
  fi
done
exit $status
