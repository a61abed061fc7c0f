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
usage: scripts/setup.sh [--no-install] [--build-dir DIR] [--mnist-from DIR] [--no-data] [--help]

Installs the Debian packages lunet needs (when run as root), builds lunet in Release
mode with CMake, and puts MNIST into data/mnist/ (unless it is there already): copied
from --mnist-from DIR, else downloaded, each file checked against its published MD5.

  --no-install      do not call apt-get, only build
  --build-dir DIR   where to build (default: build/ in the checkout)
  --mnist-from DIR  copy the four MNIST .gz files from DIR (e.g. an offline copy)
  --no-data         do not fetch MNIST
  --help            this text
USAGE
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$root/build"
install=1
mnist_from=""
fetch_data=1
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) usage; exit 0 ;;
    --no-install) install=0 ;;
    --build-dir) shift; build_dir=${1:?--build-dir needs a directory} ;;
    --mnist-from) shift; mnist_from=${1:?--mnist-from needs a directory} ;;
    --no-data) fetch_data=0 ;;
    *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

packages=(curl ca-certificates build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
          clinfo luajit libluajit-5.1-dev libpng-dev zlib1g-dev lua-busted libcairo2 fonts-dejavu-core dataset-fashion-mnist)

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

# ---- MNIST into data/mnist/ --------------------------------------------------------------
# The published MD5s of the four files (the ones torchvision checks).
mnist_files=(train-images-idx3-ubyte.gz:f68b3c2dcbeaaa9fbdd348bbdeb94873
             train-labels-idx1-ubyte.gz:d53e105ee54ea40749a09fcbcd1e9432
             t10k-images-idx3-ubyte.gz:9fb629c4189551a2d022fa330f9573f3
             t10k-labels-idx1-ubyte.gz:ec29112dd5afa0611ce80d1b7f02629c)
mnist_mirrors=(https://ossci-datasets.s3.amazonaws.com/mnist https://storage.googleapis.com/cvdf-datasets/mnist)
data_dir="$root/data/mnist"

md5_ok() { [ -f "$1" ] && [ "$(md5sum "$1" | cut -d' ' -f1)" = "$2" ]; }

fetch_mnist() {
  mkdir -p "$data_dir"
  local entry name sum ok
  for entry in "${mnist_files[@]}"; do
    name=${entry%%:*}; sum=${entry##*:}
    md5_ok "$data_dir/$name" "$sum" && continue
    ok=0
    if [ -n "$mnist_from" ]; then
      if md5_ok "$mnist_from/$name" "$sum"; then
        cp "$mnist_from/$name" "$data_dir/$name.tmp" && mv "$data_dir/$name.tmp" "$data_dir/$name" && ok=1
      else
        echo "setup: $mnist_from/$name is missing or its MD5 is not $sum" >&2
      fi
    else
      for mirror in "${mnist_mirrors[@]}"; do
        if curl -fsSL --connect-timeout 10 -o "$data_dir/$name.tmp" "$mirror/$name" 2>/dev/null &&
           md5_ok "$data_dir/$name.tmp" "$sum"; then
          mv "$data_dir/$name.tmp" "$data_dir/$name"; ok=1; break
        fi
        rm -f "$data_dir/$name.tmp"
      done
    fi
    if [ "$ok" != 1 ]; then
      echo "setup: could not get MNIST's $name." >&2
      echo "setup: copy the four MNIST .gz files from a folder with: scripts/setup.sh --mnist-from DIR" >&2
      echo "setup: or point lunet at them: export LUNET_MNIST_DIR=DIR (train_lenet.lua also takes --data DIR)" >&2
      return 1
    fi
  done
  echo "setup: MNIST is in $data_dir (MD5s checked)"
}

if [ "$fetch_data" = 1 ]; then
  if [ -n "${LUNET_MNIST_DIR:-}" ] && [ -z "$mnist_from" ]; then
    echo "setup: LUNET_MNIST_DIR is set ($LUNET_MNIST_DIR): lunet reads MNIST from there"
  else
    fetch_mnist
  fi
fi
