"""bench/torch_blas.py: which BLAS PyTorch really calls in this environment, for bench/bench.lua.

    /usr/bin/python3 bench/torch_blas.py
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas /usr/bin/python3 bench/torch_blas.py

Debian's libtorch_cpu links libblas.so.3, which the alternatives point at OpenBLAS once
libopenblas0-pthread is installed, else at the reference BLAS; LD_LIBRARY_PATH can force one.
Two checks, in the environment this script runs in:
  - the libraries mapped in this process (/proc/self/maps) after a matrix product in torch;
  - the library that libtorch_cpu's BLAS symbols (sgemm_ among them) are bound to, from the
    dynamic linker's own report (LD_DEBUG=bindings) of a child `import torch`. This is the one
    that counts: with LD_LIBRARY_PATH forcing the reference BLAS, OpenBLAS's libopenblas.so.0
    stays mapped (liblapack.so.3 needs it), yet no BLAS call of PyTorch goes there.
Prints 'RESULT kind=torch_blas blas=KIND sgemm_lib=PATH blas_symbols=N other_symbols=M
method=ld_debug|maps mapped=PATHS' where KIND is openblas, reference, blis, mkl or other
(from the real path of sgemm_'s library), N counts libtorch_cpu's symbols bound to that
library and M those bound to any other BLAS (0 when one BLAS serves them all). Without
torch: 'RESULT kind=torch_blas blas=absent reason=...', exit status 0.
"""
import argparse
import os
import re
import subprocess
import sys

from mapped_libs import BLAS_WORDS, mapped_libs

BINDING = re.compile(r"binding file (\S*libtorch_cpu\S*) \[\d+\] to (\S+) \[\d+\]: normal symbol `([^']+)'")


def classify(path):
    real = os.path.realpath(path)
    base = os.path.basename(real)
    if "openblas" in real:
        return "openblas"
    if "blis" in real:
        return "blis"
    if "mkl" in real:
        return "mkl"
    if base.startswith("libblas.so") and os.path.basename(os.path.dirname(real)) == "blas":
        return "reference"  # Debian's libblas3: /usr/lib/<triplet>/blas/libblas.so.3.x
    return "other"


def mapped_blas():
    return mapped_libs()


def is_blas_lib(path):
    return any(w in os.path.basename(path) for w in BLAS_WORDS)


def bindings():
    """libtorch_cpu's symbols bound to a BLAS library: {symbol: library path}, from LD_DEBUG."""
    env = dict(os.environ, LD_DEBUG="bindings")
    env.pop("LD_DEBUG_OUTPUT", None)
    child = subprocess.run([sys.executable, "-c", "import torch"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, check=False)
    found = {}
    for line in child.stderr.decode(errors="replace").splitlines():
        m = BINDING.search(line)
        if m and is_blas_lib(m.group(2)):
            found[m.group(3)] = m.group(2)
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--no-ld-debug", action="store_true",
                    help="only look at /proc/self/maps (less sure: see above)")
    a = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"RESULT kind=torch_blas blas=absent reason={str(e).replace(' ', '_')}", flush=True)
        return
    x = torch.randn(64, 400)
    (x @ torch.randn(400, 120)).sum().item()  # a dense layer's product: the BLAS is called
    mapped = mapped_blas()
    found = {} if a.no_ld_debug else bindings()
    if "sgemm_" in found:
        lib, method = found["sgemm_"], "ld_debug"
    else:  # no LD_DEBUG report: the libblas.so.3 that is mapped, if there is one
        blas3 = [p for p in mapped if os.path.basename(p).startswith("libblas.so")]
        lib, method = (blas3[0] if len(blas3) == 1 else "unknown"), "maps"
    kind = classify(lib) if lib != "unknown" else "unknown"
    same = sum(1 for p in found.values() if os.path.realpath(p) == os.path.realpath(lib))
    print(f"RESULT kind=torch_blas blas={kind} sgemm_lib={os.path.realpath(lib) if lib != 'unknown' else lib} "
          f"blas_symbols={same} other_symbols={len(found) - same} method={method} "
          f"mapped={','.join(mapped) or 'none'} torch={torch.__version__}", flush=True)


if __name__ == "__main__":
    main()
