"""One BLAS thread for the dense linear algebra of a small search distribution.

NumPy's and SciPy's OpenBLAS run an eigendecomposition or a triangular solve on every core, and
for the ``d x d`` matrices of a full-covariance search distribution of moderate ``d`` the threads
cost more than they share: measured with ``benchmarks/bench_cma_overhead.py`` on 2 cores,
``TrustRegionCMA``'s ask and tell took 84 / 114 / 138 us per evaluation at d = 40 / 60 / 100
with OpenBLAS's default 2 threads against 24 / 26 / 35 with one (pycma: 42 / 61 / 48 with 2
threads; at d = 20 and 10 the thread count made no difference). :func:`one_thread` limits both
libraries to one thread for the duration of a ``with`` block (threadpoolctl, the library that
scikit-learn uses for the same purpose), about 6 us per block; the process's own setting is
restored on exit.

One thread also makes the results independent of the thread count: OpenBLAS blocks a Cholesky
(``potrf``), LU (``getrf``) or least-squares factorization of a large matrix differently on several
threads, so ``OPENBLAS_NUM_THREADS=1`` and ``2`` gave other bits there (measured: a ``d x d``
Cholesky from d = 128, the trust-region ES's; a least-squares fit of 5,000 rows from about 94
columns, the ridge fit of the policy-gradient baseline on Ant's 214 features).
:func:`dense_linalg` and :func:`one_thread` are used around both.
"""

from __future__ import annotations

import contextlib

__all__ = ["DENSE_ONE_THREAD_FROM", "one_thread", "dense_linalg"]

#: From this dimension on, the dense linear algebra of a search distribution runs on one BLAS
#: thread (between the measured d = 20, unaffected, and d = 40, 3.5x slower with 2 threads).
DENSE_ONE_THREAD_FROM = 30

_controller = None


def one_thread():
    """A context manager in which the BLAS libraries loaded in this process use one thread."""
    global _controller
    if _controller is None:  # created at first use, once NumPy's and SciPy's BLAS are both loaded
        import scipy.linalg  # noqa: F401  (SciPy's OpenBLAS: a controller sees only the libraries loaded)
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def dense_linalg(d: int, diagonal: bool):
    """The context of a search distribution's linear algebra in ``d`` dimensions: :func:`one_thread`
    for a full covariance of :data:`DENSE_ONE_THREAD_FROM` or more dimensions, the process's setting
    otherwise (a diagonal one has no ``d x d`` matrix)."""
    return one_thread() if not diagonal and d >= DENSE_ONE_THREAD_FROM else contextlib.nullcontext()
