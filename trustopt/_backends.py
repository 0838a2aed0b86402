"""What every worker backend shares (:mod:`trustopt.workers`, :mod:`trustopt.workers_ray`).

A backend evaluates ``[fn(shared, item, noise) for item in items]`` on its workers and returns
the results in item order::

    backend.n_workers                          # int
    backend.map(fn, shared, items) -> list     # in item order, whatever worker ran which chunk
    backend.close()

Both backends cut the items into the same contiguous chunks (:func:`chunks`): about
``chunks_per_worker`` per worker, so that a worker that finishes early takes the next chunk
(load balance when episode lengths differ), and a chunk is the unit that is re-run when a
worker dies. Both raise :class:`WorkerError` when workers keep dying.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Protocol, Sequence

from trustopt._validation import check_int

__all__ = ["Backend", "WorkerError", "check_workers", "chunks"]


class WorkerError(RuntimeError):
    """Worker processes kept dying: the batch could not be completed."""


class Backend(Protocol):
    """Evaluates ``fn(shared, item, noise)`` for each item, returning results in item order."""

    n_workers: int

    def map(self, fn: Callable, shared: Any, items: Sequence) -> list: ...

    def close(self) -> None: ...


def check_workers(n) -> int:
    """``n`` as the number of workers of a backend (an integer >= 1), else a ValidationError naming ``workers``."""
    return check_int(n, "workers", 1)


def chunks(n: int, n_workers: int, chunks_per_worker: int) -> list[tuple[int, int]]:
    """``[(lo, hi), ...]``: ``range(n)`` cut into consecutive chunks of
    ``ceil(n / (n_workers * chunks_per_worker))`` items (the last one may be shorter)."""
    size = max(1, math.ceil(n / (n_workers * chunks_per_worker)))
    return [(lo, min(n, lo + size)) for lo in range(0, n, size)]
