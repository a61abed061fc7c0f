"""bench/numpy_sgemm.py: float32 matrix product a @ b with numpy, for bench/bench.lua.

    /usr/bin/python3 bench/numpy_sgemm.py [--n 1024] [--reps 5]

Prints 'RESULT kind=numpy_sgemm n=N sec=S gflops=G reps=...' (S: the median of reps
timed products after one warm-up) and 'INFO blas=PATH', the BLAS library numpy loaded.
Without numpy: 'RESULT kind=numpy_sgemm status=absent', exit status 0.
"""
import argparse
import statistics
import sys
import time

try:
    import numpy as np
except ImportError as error:   # the benchmark goes on without this row
    np = None
    MISSING = str(error)

from mapped_libs import mapped_libs


def loaded_blas():
    return ",".join(mapped_libs()) or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--n", type=int, default=1024, help="matrix size (default 1024)")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    a = ap.parse_args()
    if a.n < 1 or a.reps < 1:
        sys.exit("numpy_sgemm: --n and --reps must be positive")
    if np is None:
        print(f"INFO numpy absent ({MISSING}) in {sys.executable}")
        print("RESULT kind=numpy_sgemm status=absent", flush=True)
        return
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.n, a.n), dtype=np.float32)
    y = rng.standard_normal((a.n, a.n), dtype=np.float32)
    z = x @ y  # warm-up
    assert z.dtype == np.float32
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        x @ y
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    print(f"INFO numpy={np.__version__} blas={loaded_blas()}")
    print(f"RESULT kind=numpy_sgemm status=ok n={a.n} sec={sec:.4f} gflops={2 * a.n ** 3 / sec / 1e9:.3f} "
          f"reps={','.join(f'{t:.4f}' for t in times)}", flush=True)


if __name__ == "__main__":
    main()
