"""bench/openblas_sgemm.py: OpenBLAS's cblas_sgemm called directly (ctypes), for bench/bench.lua.

    /usr/bin/python3 bench/openblas_sgemm.py [--n 1024] [--reps 5] [--threads 2] [--torch-blas]

Loads libopenblas.so.0 (Debian's libopenblas0-pthread), sets its thread count and times
C = A B on n x n float32 matrices. Prints 'RESULT kind=openblas_sgemm n=N sec=S gflops=G
threads=T reps=...' (S: the median of reps timed calls after one warm-up) and 'INFO
openblas=PATH config=...'. Without OpenBLAS it prints 'RESULT kind=openblas_sgemm
status=absent' and 'INFO openblas=absent reason=...' and exits 0. --torch-blas also prints
'INFO torch_blas=PATHS', the BLAS libraries PyTorch has loaded after a matrix product
(libtorch_cpu links libblas.so.3, which Debian's alternatives point at OpenBLAS or at the
reference BLAS).
"""
import argparse
import array
import ctypes
import random
import statistics
import sys
import time

from mapped_libs import mapped_libs

CANDIDATES = [
    "libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
]
CBLAS_ROW_MAJOR, CBLAS_NO_TRANS = 101, 111


def loaded_libs(words):
    return ",".join(mapped_libs(words)) or "unknown"


def open_openblas():
    errors = []
    for name in CANDIDATES:
        try:
            return ctypes.CDLL(name), None
        except OSError as e:
            errors.append(str(e).split(":")[-1].strip())
    return None, "no libopenblas.so.0 (apt-get install libopenblas0-pthread): " + "; ".join(errors[:1])


def random_matrix(rng, n):
    """An n x n float32 matrix as a C array (no numpy: the benchmark's python may lack it)."""
    values = array.array("f", (rng.uniform(-1.0, 1.0) for _ in range(n * n)))
    return values, (ctypes.c_float * (n * n)).from_buffer(values)


def time_sgemm(lib, n, reps):
    rng = random.Random(0)
    a, a_buf = random_matrix(rng, n)
    b, b_buf = random_matrix(rng, n)
    c, c_buf = random_matrix(rng, n)
    fp = ctypes.POINTER(ctypes.c_float)
    lib.cblas_sgemm.restype = None
    lib.cblas_sgemm.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                ctypes.c_int, ctypes.c_float, fp, ctypes.c_int, fp, ctypes.c_int,
                                ctypes.c_float, fp, ctypes.c_int]
    args = (CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, n, n, n, 1.0, ctypes.cast(a_buf, fp), n,
            ctypes.cast(b_buf, fp), n, 0.0, ctypes.cast(c_buf, fp), n)
    lib.cblas_sgemm(*args)  # warm-up
    # a spot check, so that a wrong call cannot pass for a fast one
    i, j = 3 % n, 5 % n
    want = sum(float(a[i * n + k]) * float(b[k * n + j]) for k in range(n))
    if abs(float(c[i * n + j]) - want) > 1e-2:
        sys.exit("openblas_sgemm: cblas_sgemm gave a wrong product")
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        lib.cblas_sgemm(*args)
        times.append(time.perf_counter() - t0)
    return times


def torch_blas():
    try:
        import torch
    except ImportError as e:
        return "absent (" + str(e) + ")"
    x = torch.randn(64, 400)
    (x @ torch.randn(400, 120)).sum().item()
    return loaded_libs(("blas", "mkl", "blis"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--n", type=int, default=1024, help="matrix size (default 1024)")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="OpenBLAS threads (default 2)")
    ap.add_argument("--torch-blas", action="store_true", help="also report the BLAS PyTorch loads")
    a = ap.parse_args()
    if a.n < 1 or a.reps < 1 or a.threads < 1:
        sys.exit("openblas_sgemm: --n, --reps and --threads must be positive")
    if a.torch_blas:
        print(f"INFO torch_blas={torch_blas()}", flush=True)
    lib, reason = open_openblas()
    if lib is None:
        print(f"INFO openblas=absent reason={reason.replace(' ', '_')}")
        print("RESULT kind=openblas_sgemm status=absent", flush=True)
        return
    lib.openblas_set_num_threads(a.threads)
    config = "?"
    if hasattr(lib, "openblas_get_config"):
        lib.openblas_get_config.restype = ctypes.c_char_p
        config = lib.openblas_get_config().decode(errors="replace").strip().replace(" ", "_")
    times = time_sgemm(lib, a.n, a.reps)
    sec = statistics.median(times)
    print(f"INFO openblas={loaded_libs(('openblas',))} config={config}")
    print(f"RESULT kind=openblas_sgemm status=ok n={a.n} sec={sec:.4f} gflops={2 * a.n ** 3 / sec / 1e9:.3f} "
          f"threads={a.threads} reps={','.join(f'{t:.4f}' for t in times)}", flush=True)


if __name__ == "__main__":
    main()
