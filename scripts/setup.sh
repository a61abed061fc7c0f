#!/usr/bin/env bash
# Installs what lunet needs from Debian's packages (as root), then configures and builds
# it with CMake (Release) into build/. Safe to run again: it only installs what is missing
# and rebuilds what changed. Without root it prints the apt-get line to run and still
# builds when the packages are already there.
#   scripts/setup.sh            install + build
#   scripts/setup.sh --help
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/setup.sh [--no-install] [--build-dir DIR] [--help]

Installs the Debian packages lunet needs (when run as root), then builds lunet in
Release mode with CMake.

  --no-install     do not call apt-get, only build
  --build-dir DIR  where to build (default: build/ in the checkout)
  --help           this text
USAGE
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$root/build"
install=1
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) usage; exit 0 ;;
    --no-install) install=0 ;;
    --build-dir) shift; build_dir=${1:?--build-dir needs a directory} ;;
    *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

packages=(build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
          clinfo luajit libluajit-5.1-dev libpng-dev zlib1g-dev lua-busted libcairo2 fonts-dejavu-core)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$install" = 1 ] && [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: these Debian packages are missing: ${missing[*]}"
    echo "setup: install them as root with:"
    echo "  apt-get update && apt-get install -y ${missing[*]}"
    for tool in cmake cc luajit; do
      command -v "$tool" >/dev/null || { echo "setup: cannot build without $tool" >&2; exit 1; }
    done
  fi
fi

echo "setup: building lunet (Release) in $build_dir"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j"$(nproc)" >/dev/null
echo "setup: built $build_dir/liblunet.so"
