"""One BLAS thread for the dense linear algebra of a search distribution.

NumPy's and SciPy's OpenBLAS run an eigendecomposition or a triangular solve on every core, and
for the ``d x d`` matrices of a full-covariance search distribution the threads cost more than
they share. Measured with ``benchmarks/bench_cma_overhead.py`` on 2 cores with OpenBLAS's default
2 threads, ``TrustRegionCMA``'s ask and tell took 84 / 114 / 138 us per evaluation at d = 40 / 60 /
100 against 24 / 26 / 35 with one (pycma: 42 / 61 / 48 with 2 threads). Below d = 30 the thread
count made no difference on an idle machine, but with the other core busy the two libraries'
thread pools, woken in turn by every batch's eigendecomposition (NumPy) and triangular solve
(SciPy), took 5-6 times longer: ``minimize`` on Rosenbrock took 404 / 230 us per evaluation at
d = 10 / 20 with 2 threads against 72 / 81 with one (pycma about 82 there; a new user's report,
reproduced). :func:`one_thread` limits both libraries to one thread for the duration of a ``with``
block (threadpoolctl, the library that scikit-learn uses for the same purpose), about 5 us per
block; the process's own setting is restored on exit.

One thread also makes the results independent of the thread count: OpenBLAS blocks a Cholesky
(``potrf``), LU (``getrf``) or least-squares factorization of a large matrix differently on several
threads, so ``OPENBLAS_NUM_THREADS=1`` and ``2`` gave other bits there (measured: a ``d x d``
Cholesky from d = 128, the trust-region ES's; a least-squares fit of 5,000 rows from about 94
columns, the ridge fit of the policy-gradient baseline on Ant's 214 features).
:func:`dense_linalg` and :func:`one_thread` are used around both.
"""

from __future__ import annotations

import contextlib

__all__ = ["one_thread", "dense_linalg"]

_libraries = None


def _blas_libraries() -> list:
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (NumPy's and SciPy's
    OpenBLAS), found at first use, once both are loaded."""
    global _libraries
    if _libraries is None:
        import scipy.linalg  # noqa: F401  (SciPy's OpenBLAS: a controller sees only the libraries loaded)
        from threadpoolctl import ThreadpoolController

        _libraries = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    return _libraries


class _OneThread:
    """The context of :func:`one_thread` (a class: cheaper than a generator's context manager, and it
    is entered twice per batch of a small search)."""

    __slots__ = ("changed",)

    def __enter__(self):
        self.changed = [(lib, n) for lib in _blas_libraries() if (n := lib.num_threads) != 1]
        for lib, _ in self.changed:
            lib.set_num_threads(1)

    def __exit__(self, *exc_info):
        for lib, n in self.changed:
            lib.set_num_threads(n)


def one_thread() -> _OneThread:
    """A context manager in which the BLAS libraries loaded in this process use one thread (each
    library's own setting is restored on exit). Set through threadpoolctl's per-library
    controllers, about 5 us a block, where its ``limit()`` takes about 11 (it looks the libraries
    up on every call)."""
    return _OneThread()


def dense_linalg(diagonal: bool):
    """The context of a search distribution's linear algebra: :func:`one_thread` for a full
    covariance, the process's setting for a diagonal one (it has no ``d x d`` matrix)."""
    return contextlib.nullcontext() if diagonal else one_thread()
