"""bench/mapped_libs.py: the shared libraries mapped into this process, for the benchmark's
Python helpers (numpy_sgemm.py, openblas_sgemm.py, torch_blas.py) to name the BLAS in use."""
import os

BLAS_WORDS = ("blas", "blis", "mkl")


def mapped_libs(words=BLAS_WORDS):
    """Real paths of the mapped files whose name contains one of `words`, sorted; [] when
    /proc/self/maps cannot be read."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if any(w in os.path.basename(path) for w in words):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(libs)
