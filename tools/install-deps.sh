#!/usr/bin/env bash
# Installs what wds needs on Debian bookworm, calling apt-get only when a package
# is missing (idempotent; safe to run before every build).
#   tools/install-deps.sh [build] [bench] [oracle]   (default: build)
set -euo pipefail
groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(build)
pkgs=()
for g in "${groups[@]}"; do
  case "$g" in
    build) pkgs+=(cmake ninja-build make g++ clang libclang-rt-14-dev pkg-config python3 tar
                  zlib1g-dev libjpeg62-turbo-dev libspng-dev catch2
                  libbenchmark-dev meson libarchive-tools valgrind
                  libboost1.81-dev libboost-url1.81-dev libssl-dev
                  libbz2-dev liblzma-dev libzstd-dev libisal-dev libdeflate-dev) ;;
    bench) pkgs+=(libopencv-dev hyperfine) ;;
    # python3-skimage is left out: it depends on libboost1.74-dev, which conflicts
    # with libboost1.81-dev; its photos are taken with 'apt-get download' instead.
    oracle) pkgs+=(python3-torchvision python3-pil python3-numpy libjpeg-turbo-progs
                   python3-websocket python3-requests) ;;
    *) echo "install-deps: unknown group '$g' (build, bench, oracle)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
run=()
[ "$(id -u)" -ne 0 ] && run=(sudo)
"${run[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
