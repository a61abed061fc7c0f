#!/usr/bin/env bash
# bench/gpu_session.sh: builds lunet, runs the benchmark and the test suite on a GPU machine
# that has the vendor's driver but none of lunet's Debian packages (a bare, offline machine,
# such as a lent cloud GPU), from a kit of .deb files unpacked into a private prefix.
#
#   bench/gpu_session.sh --make-kit [KIT]     on a Debian 12 machine with network: fills KIT
#   bench/gpu_session.sh [KIT]                on the GPU machine, in the checkout's root
#
# KIT (default: .gpu in the checkout) holds debs/ (LuaJIT, busted, the OpenCL ICD loader
# and headers, clinfo, libpng/zlib headers), cairo-debs/ (Cairo for the charts, of which
# only the libraries the machine lacks are used), mnist/ (the four IDX .gz files, from
# $LUNET_MNIST_DIR, ../shared/data/mnist or data/mnist) and torch_lenet.py (the PyTorch
# reference, from ../shared/reference; without it no torch step). Nothing is installed
# into /: the packages are unpacked into $DEPS (default /tmp/lunet-deps) and used through
# PATH, LD_LIBRARY_PATH, LUA_PATH and CMake variables. The vendor's OpenCL library
# (libnvidia-opencl.so.1, or $ICD_LIB) is listed in a private OCL_ICD_VENDORS folder.
#
# Environment: STEPS (comma-separated, default probe,build,bench,torch,test,tune),
# LUNET_DEVICE (default nvidia), OUT (where logs and results go, default runs/gpu),
# ICD_LIB, DEPS. Each step has a time limit, logs to $OUT/<step>.log and does not stop the
# others; the last lines printed are a summary.
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
packages="luajit libluajit-5.1-2 libluajit-5.1-common libluajit-5.1-dev ocl-icd-libopencl1
  ocl-icd-opencl-dev opencl-c-headers opencl-clhpp-headers opencl-headers clinfo libpng-dev
  libpng16-16 zlib1g-dev lua-busted lua-cliargs lua-dkjson lua-filesystem lua-luassert
  lua-mediator lua-penlight lua-say lua-system lua-term lua-inifile lua-yaml libyaml-0-2"
# Cairo (lunet.plot's charts) and what it needs; on the GPU machine only the libraries it
# lacks are used (those ldconfig knows are removed from the prefix), so that none of the
# system's own, newer libraries is replaced.
cairo_packages="libcairo2 libpixman-1-0 libfontconfig1 fontconfig-config fonts-dejavu-core
  libfreetype6 libbrotli1 libx11-6 libx11-data libxau6 libxcb-render0 libxcb-shm0 libxcb1
  libxdmcp6 libxext6 libxrender1 libexpat1 libbsd0 libmd0"

usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then usage; exit 0; fi
if [ "${1:-}" = "--make-kit" ]; then
  kit=${2:-$root/.gpu}
  mkdir -p "$kit/debs" "$kit/mnist" || exit 1
  # shellcheck disable=SC2086
  mkdir -p "$kit/cairo-debs" || exit 1
  (cd "$kit/debs" && apt-get download $packages) || { echo "gpu_session: apt-get download failed" >&2; exit 1; }
  # shellcheck disable=SC2086
  (cd "$kit/cairo-debs" && apt-get download $cairo_packages) || { echo "gpu_session: apt-get download failed" >&2; exit 1; }
  mnist=""
  for d in "${LUNET_MNIST_DIR:-}" "$root/../shared/data/mnist" "$root/data/mnist"; do
    [ -n "$d" ] && [ -e "$d/train-images-idx3-ubyte.gz" ] && { mnist=$d; break; }
  done
  [ -n "$mnist" ] || { echo "gpu_session: no MNIST (LUNET_MNIST_DIR, ../shared/data/mnist or data/mnist: run scripts/setup.sh)" >&2; exit 1; }
  cp "$mnist"/*-ubyte.gz "$kit/mnist/" || exit 1
  reference="$root/../shared/reference/torch_lenet.py"
  if [ -e "$reference" ]; then cp "$reference" "$kit/" || exit 1
  else echo "gpu_session: no $reference: the kit will skip the PyTorch comparison" >&2; fi
  du -sh "$kit"
  exit 0
fi
case "${1:-}" in -*) echo "gpu_session: unknown option '$1' (see --help)" >&2; exit 2 ;; esac

kit=$(cd "${1:-$root/.gpu}" 2>/dev/null && pwd) || { echo "gpu_session: no kit at ${1:-$root/.gpu} (see --help)" >&2; exit 2; }
steps=",${STEPS:-probe,build,bench,torch,test,tune},"
out=${OUT:-$root/runs/gpu}
deps=${DEPS:-/tmp/lunet-deps}
export LUNET_DEVICE=${LUNET_DEVICE:-nvidia}
mkdir -p "$out"
summary=()
note() { summary+=("$*"); echo "== $*"; }

# ---- the private prefix --------------------------------------------------------------------
mkdir -p "$deps"
for f in "$kit"/debs/*.deb; do dpkg -x "$f" "$deps" || exit 1; done
arch=x86_64-linux-gnu
ln -sf luajit "$deps/usr/bin/lua"   # busted's #!/usr/bin/env lua; it re-runs itself with --lua
export PATH="$deps/usr/bin:$PATH"
export LD_LIBRARY_PATH="$deps/usr/lib/$arch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LUA_PATH="$deps/usr/share/lua/5.1/?.lua;$deps/usr/share/lua/5.1/?/init.lua;;"
export LUA_CPATH="$deps/usr/lib/$arch/lua/5.1/?.so;;"
zlib=$(ls /lib/$arch/libz.so.1 /usr/lib/$arch/libz.so.1 2>/dev/null | head -1)

cairo_dir="$deps/cairo"
mkdir -p "$cairo_dir"
for f in "$kit"/cairo-debs/*.deb; do [ -e "$f" ] && { dpkg -x "$f" "$cairo_dir" || exit 1; }; done
for lib in "$cairo_dir/usr/lib/$arch"/*.so.*; do
  [ -e "$lib" ] || continue
  ldconfig -p | grep -q "^[[:space:]]*$(basename "$lib") " && rm -f "$lib"
done
export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$cairo_dir/usr/lib/$arch"
if [ -d "$cairo_dir/usr/share/fonts" ]; then   # fontconfig: the carried fonts and the machine's
  printf '<?xml version="1.0"?>\n<fontconfig><dir>%s</dir><dir>/usr/share/fonts</dir><cachedir>%s</cachedir></fontconfig>\n' \
    "$cairo_dir/usr/share/fonts" "$deps/fontconfig-cache" > "$deps/fonts.conf"
  export FONTCONFIG_FILE="$deps/fonts.conf"
fi

icd=${ICD_LIB:-}
if [ -z "$icd" ]; then
  for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/$arch /usr/lib64 /usr/lib; do
    [ -e "$d/libnvidia-opencl.so.1" ] && { icd="$d/libnvidia-opencl.so.1"; break; }
  done
fi
[ -z "$icd" ] && icd=$(find /usr /opt /lib -name 'libnvidia-opencl.so.1' 2>/dev/null | head -1)
mkdir -p "$deps/icd"
if [ -n "$icd" ]; then
  echo "$icd" > "$deps/icd/vendor.icd"
  export OCL_ICD_VENDORS="$deps/icd"
else
  note "no vendor OpenCL library found (libnvidia-opencl.so.1; set ICD_LIB): using /etc/OpenCL/vendors"
fi

# Runs one step with a time limit (seconds); its whole output goes to $out/NAME.log, and
# its last SHOWN lines to the terminal.
run_step() {
  local name=$1 limit=$2 shown=$3; shift 3
  case "$steps" in *",$name,"*) ;; *) return 0 ;; esac
  local t0=$SECONDS
  timeout "$limit" bash -c "$*" > "$out/$name.log" 2>&1
  local rc=$?
  tail -n "$shown" "$out/$name.log"
  note "$name: exit $rc in $((SECONDS - t0)) s (log $out/$name.log)"
  return $rc
}

run_step probe 60 40 "
  nvidia-smi -L 2>/dev/null; uname -r; (gcc --version || cc --version) 2>&1 | head -1
  cmake --version | head -1; echo 'vendor library: ${icd:-none}'
  [ -n '$icd' ] || { ls /usr/local/nvidia/lib64 /etc/OpenCL/vendors 2>&1 | head -60; find / -name 'libnvidia-opencl*' -not -path '/proc/*' 2>/dev/null | head; }
  clinfo -l && clinfo | grep -E 'Platform Version|Device Name|Device Version|Driver Version|Max compute units|Max work group size|Global memory size|Local memory size' | sort -u"

generator=()
command -v make >/dev/null || generator=(-G Ninja)
mkdir -p "$root/data/mnist" && cp -n "$kit"/mnist/*.gz "$root/data/mnist/" 2>/dev/null
run_step build 300 10 "
  cmake -S '$root' -B '$root/build' ${generator[*]} -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH='$deps/usr' -DOpenCL_INCLUDE_DIR='$deps/usr/include' \
    -DOpenCL_LIBRARY='$deps/usr/lib/$arch/libOpenCL.so.1' -DZLIB_INCLUDE_DIR='$deps/usr/include' \
    ${zlib:+-DZLIB_LIBRARY='$zlib'} -DPNG_PNG_INCLUDE_DIR='$deps/usr/include/libpng16' \
    -DPNG_LIBRARY='$deps/usr/lib/$arch/libpng16.so' -DLUAJIT='$deps/usr/bin/luajit' \
    -DBUSTED='$deps/usr/bin/busted' && cmake --build '$root/build' -j\$(nproc)"
built=$?

python=$(command -v python3 || echo python3)   # the one with torch and numpy (a venv's, say)
if [ $built -eq 0 ]; then
  run_step bench 300 12 "cd '$root' && luajit bench/bench.lua --no-torch --python '$python' --data data/mnist --out '$out/RESULTS-gpu.md'"
  [ -e "$kit/torch_lenet.py" ] || { steps=${steps/,torch,/,}; note "torch: skipped, the kit has no torch_lenet.py"; }
  run_step torch 180 10 "cd '$root' && '$python' bench/torch_cuda.py --torch-script '$kit/torch_lenet.py' --data data/mnist"
  run_step test 400 25 "cd '$root/build' && ctest --output-on-failure -j\$(nproc)"
  run_step tune 240 22 "cd '$root' && luajit scripts/tune.lua --quick"
fi

echo
echo "== summary (LUNET_DEVICE=$LUNET_DEVICE, kit $kit, results in $out)"
printf '%s\n' "${summary[@]}"
grep -h -E 'tests passed|tests failed' "$out/test.log" 2>/dev/null
grep -h '^RESULT' "$out/torch.log" 2>/dev/null
