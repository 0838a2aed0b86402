"""Worker backends: a pool of local processes that hold the noise table, and the in-process twin.

A backend evaluates ``[fn(shared, item, noise) for item in items]`` and returns the results in
ITEM ORDER, whatever the number of workers and however the items were chunked
(:mod:`trustopt._backends`)::

    backend.n_workers                          # int
    backend.map(fn, shared, items) -> list     # [fn(shared, item, noise) for item in items], in order
    backend.close()

``fn`` must be a module-level (picklable) function; ``shared`` travels once per chunk, the items
one by one; ``noise`` is the noise table as a float32 array ``(size,)``, held once per machine
(see :class:`ProcessBackend`), so that an ES perturbation
``theta + sigma * sign * table[index : index + d]`` travels as ``(index, sign)``
(TRES "Distributed Implementation"; Salimans et al. 2017 sec. 2.1). What runs on the workers is
the caller's: the ES rollouts of :mod:`trustopt.envs.es_sampler`, the episodes of
:mod:`trustopt.envs.pg_sampler`, the objective of :func:`trustopt.minimize`.

Determinism: when ``fn(shared, item, noise)`` is a pure function, the results are the same bits
for any number of workers and any backend (:class:`trustopt.workers_ray.RayBackend` included).

Fault tolerance: when a worker process dies (``BrokenProcessPool``, during a batch or while
idle), the pool is replaced and the chunks whose results did not arrive are run again
(results already received are kept); a pure ``fn`` gives the same result the second time.
After ``max_restarts`` consecutive failed attempts a :class:`WorkerError` is raised. Workers
exit by themselves when their parent dies.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from typing import Any, Callable

import numpy as np

from trustopt._backends import Backend, WorkerError, check_workers, chunks
from trustopt._validation import ValidationError
from trustopt.noise import NoiseTable

__all__ = [
    "Backend",
    "SerialBackend",
    "ProcessBackend",
    "WorkerError",
    "BACKENDS",
    "make_backend",
    "max_local_workers",
    "check_local_workers",
    "resident",
    "exit_with_parent",
]


class SerialBackend:
    """Everything in the calling process (``n_workers = 1``)."""

    n_workers = 1

    def __init__(self, noise: NoiseTable | None = None):
        self.noise_table = noise if noise is not None else NoiseTable()
        self.n_restarts = 0

    def map(self, fn, shared, items) -> list:
        noise = self.noise_table.noise
        return [fn(shared, item, noise) for item in items]

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_WORKER_STATE: dict = {}

#: How often (seconds) a worker checks that the process that started it is still alive.
PARENT_CHECK_PERIOD = 0.25

#: How long (seconds) :meth:`ProcessBackend.close` waits for a worker to finish its task and exit
#: before it kills the worker (SIGKILL); a broken pool's workers are killed at once.
SHUTDOWN_GRACE = 5.0


def _exit_with_parent(parent_pid: int) -> None:
    """Worker thread: exit the process once the process that owns the pool is gone.

    A worker blocked on the pool's queue never sees its owner die (SIGKILL by the OOM killer,
    a scheduler's kill): it would live on, holding its memory. Two signs, polled (portable, no
    help from the owner needed): the owner's pid no longer exists, or the worker was re-parented
    (its parent -- the owner under ``fork`` and ``spawn``, the fork server under
    ``forkserver``, which exits with the owner -- died).
    """
    ppid = os.getppid()
    while True:
        time.sleep(PARENT_CHECK_PERIOD)
        if os.getppid() != ppid or not _exists(parent_pid):
            os._exit(0)


def exit_with_parent(parent_pid: int) -> None:
    """Make this (worker) process exit once ``parent_pid`` is gone: a daemon thread polls every
    :data:`PARENT_CHECK_PERIOD` seconds. For process pools outside this module (e.g. a
    benchmark's ``ProcessPoolExecutor(initializer=exit_with_parent, initargs=(os.getpid(),))``),
    whose workers otherwise outlive a killed parent."""
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - exists, owned by another user
        return True
    return True


def _init_worker(parent_pid: int, table, resident) -> None:
    """Worker initializer: watch the parent, map the noise table, keep the resident object.

    ``table`` is the :class:`~trustopt.noise.NoiseTable` itself under the ``fork`` start method
    (the parent's cached array is inherited copy-on-write: nothing is copied or named) or
    ``(shared_memory_name, size)`` otherwise (a read-only view of the parent's segment).
    SIGINT is ignored: on Ctrl-C the parent decides, and closes the pool.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent(parent_pid)
    if isinstance(table, NoiseTable):
        _WORKER_STATE["noise"] = table.noise
    else:
        # Workers share the parent's resource tracker (spawn and forkserver): attaching
        # re-registers the same name (a set: no-op) and the parent's unlink unregisters it.
        name, size = table
        shm = shared_memory.SharedMemory(name=name)
        arr = np.ndarray((size,), dtype=np.float32, buffer=shm.buf)
        arr.setflags(write=False)
        _WORKER_STATE["shm"] = shm
        _WORKER_STATE["noise"] = arr
    _WORKER_STATE["resident"] = resident


def resident():
    """In a :class:`ProcessBackend` worker: the backend's ``resident`` object (e.g. the objective)."""
    return _WORKER_STATE["resident"]


def _run_chunk(fn, shared, items) -> list:
    noise = _WORKER_STATE["noise"]
    return [fn(shared, item, noise) for item in items]


def default_start_method() -> str | None:
    """``"fork"`` where it is safe to ask for (POSIX but macOS), else None (the platform's).

    Fork is what the pool is built for: the workers inherit the noise table copy-on-write and
    the objective unpickled (a lambda or a closure will do). It was Linux's default up to
    Python 3.13; 3.14 made it ``forkserver``, which would pickle the objective and refuse a
    lambda, so it is asked for by name. macOS defaults to ``spawn`` because its system libraries
    are not fork-safe."""
    if sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return None


@dataclass(eq=False)
class ProcessBackend:
    """``n_workers`` local processes sharing the noise table; the one process pool of trustopt.

    Items are sent in chunks (about ``chunks_per_worker`` per worker, for load balance when
    episode lengths differ); results come back in item order. ``resident``: an object handed
    to every worker once, when it starts (under ``fork`` inherited, not pickled: a closure
    will do), read there with :func:`resident` -- the black-box objective of
    :func:`trustopt.minimize`. ``start_method``: a :mod:`multiprocessing` start method
    (default: :func:`default_start_method`).

    Memory: under ``fork`` the workers inherit the parent's table copy-on-write and no named
    segment exists; otherwise the table is put once in a :mod:`multiprocessing.shared_memory`
    segment, unlinked by :meth:`close` (or by the resource tracker if the parent is killed).

    Faults: a worker that dies -- during a batch or while the pool is idle -- breaks the pool
    (``BrokenProcessPool``); the pool is replaced and the chunks whose results did not arrive
    are run again (results already received are kept; a task is a pure function, so the
    re-run gives the same result). ``n_restarts`` counts replacements; after ``max_restarts``
    consecutive failed attempts at one batch :class:`WorkerError` is raised. Workers exit by
    themselves when the parent process dies (:data:`PARENT_CHECK_PERIOD`) and ignore SIGINT.
    A worker that does not exit when its pool is shut down is killed: a broken pool's at once,
    on :meth:`close` after :data:`SHUTDOWN_GRACE` seconds (neither ever waits on a hung worker).
    """

    n_workers: int
    noise: NoiseTable = field(default_factory=NoiseTable)
    resident: Any = None
    chunks_per_worker: int = 4
    max_restarts: int = 3
    start_method: str | None = None

    def __post_init__(self):
        self.n_workers = check_workers(self.n_workers)
        if not isinstance(self.noise, NoiseTable):
            raise ValidationError(f"noise: expected a NoiseTable, got {type(self.noise).__name__}")
        self._ctx = multiprocessing.get_context(self.start_method or default_start_method())
        self._shm = None
        self._pool = None
        self.n_restarts = 0
        table = self.noise.noise  # generated (and cached) in the parent before any worker starts
        if self._ctx.get_start_method() == "fork":
            self._table = self.noise
        else:
            try:  # sent to every worker: fail now, with a message, not inside the pool
                pickle.dumps(self.resident)
            except Exception as exc:
                raise ValidationError(
                    f"fun: worker processes started by {self._ctx.get_start_method()!r} receive the objective "
                    f"pickled, so it must be picklable (a module-level function, not a lambda or a closure): "
                    f"{type(exc).__name__}: {exc}") from None
            self._shm = shared_memory.SharedMemory(create=True, size=table.nbytes)
            np.ndarray(table.shape, dtype=np.float32, buffer=self._shm.buf)[:] = table
            self._table = (self._shm.name, int(self.noise.size))

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.n_workers, mp_context=self._ctx, initializer=_init_worker,
                                             initargs=(os.getpid(), self._table, self.resident))
        return self._pool

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (starts the pool if needed; for tests and monitoring)."""
        self.map(_getpid, None, [None] * self.n_workers)
        return sorted(self._pool._processes)  # noqa: SLF001

    def map(self, fn, shared, items) -> list:
        items = list(items)
        n = len(items)
        if n == 0:
            return []
        pending = [list(range(lo, hi)) for lo, hi in chunks(n, self.n_workers, self.chunks_per_worker)]
        results: list = [None] * n
        failures = 0
        while pending:
            failed = []
            try:
                pool = self._get_pool()
                futures = [(pool.submit(_run_chunk, fn, shared, [items[i] for i in c]), c) for c in pending]
            except BrokenProcessPool:  # a worker died while the pool was idle: nothing was submitted
                failed, futures = pending, []
            for fut, chunk in futures:
                try:
                    out = fut.result()
                except BrokenProcessPool:
                    failed.append(chunk)
                    continue
                for i, r in zip(chunk, out):
                    results[i] = r
            if failed:
                self._discard_pool(grace=0.0)
                self.n_restarts += 1
                failures += 1
                if failures > self.max_restarts:
                    raise WorkerError(
                        f"worker processes died {failures} times in a row; {sum(map(len, failed))} "
                        f"of {n} tasks could not be completed"
                    )
            pending = failed
        return results

    def _discard_pool(self, grace: float) -> None:
        """Shut the pool down; a worker still alive after ``grace`` seconds is killed.

        ``ProcessPoolExecutor.shutdown`` alone can wait forever on a worker blocked in C (e.g. on
        a lock held at fork time by another thread of the parent): such a worker neither reads
        its stop sentinel nor, when SIGTERM has a Python handler (the trainer's, inherited at
        fork), dies of the SIGTERM a broken pool sends. Two waits hang on it: ``shutdown(wait=
        True)``, which joins every worker, and -- on Python >= 3.12, even with ``wait=False`` --
        ``shutdown``'s lock, which the pool's manager thread holds while it joins the workers of
        a broken pool. So a timer kills the workers at the deadline, whatever is waiting:
        SIGKILL cannot be caught, the joins return, and the manager releases the lock and the
        queues. The tasks are pure, so nothing is lost that a re-run cannot give back."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        workers = list((pool._processes or {}).values())  # noqa: SLF001
        manager = pool._executor_manager_thread  # noqa: SLF001

        def kill_workers():
            for p in workers:
                p.kill()  # a no-op on a worker already reaped

        killer = threading.Timer(grace, kill_workers)
        killer.daemon = True
        killer.start()
        try:
            pool.shutdown(wait=False, cancel_futures=True)
            for p in workers:
                p.join()
            if manager is not None:
                manager.join()
        finally:
            killer.cancel()

    def close(self) -> None:
        self._discard_pool(grace=SHUTDOWN_GRACE)
        if getattr(self, "_shm", None) is not None:
            self._shm.close()
            try:
                self._shm.unlink()
            except FileNotFoundError:  # pragma: no cover
                pass
            self._shm = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):  # pragma: no cover - safety net
        try:
            self.close()
        except Exception:
            pass


def _getpid(shared, item, noise) -> int:
    return os.getpid()


def _process_backend(workers: int, noise: NoiseTable) -> Backend:
    workers = check_workers(workers)
    return SerialBackend(noise) if workers == 1 else ProcessBackend(n_workers=workers, noise=noise)


def _ray_backend(workers: int, noise: NoiseTable, *, address: str | None = None) -> Backend:
    from trustopt.workers_ray import ray_backend  # Ray is optional: imported only when asked for

    return ray_backend(workers, noise, address=address)


#: Registered backends: name -> factory ``(workers, noise, **options) -> Backend``.
BACKENDS: dict[str, Callable[..., Backend]] = {
    "process": _process_backend,
    "serial": lambda workers, noise: SerialBackend(noise),
    "ray": _ray_backend,
}


def make_backend(name: str, workers: int, noise: NoiseTable | None = None, **options) -> Backend:
    """A backend by name (:data:`BACKENDS`): ``"process"`` (1 worker: in-process), ``"serial"``,
    ``"ray"`` (:class:`trustopt.workers_ray.RayBackend`; option ``address``: a Ray cluster,
    None: a local Ray instance). ``options`` other than a backend's own are an error."""
    if name not in BACKENDS:
        raise ValidationError(f"backend: unknown {name!r}; choose one of {', '.join(sorted(BACKENDS))}")
    options = {k: v for k, v in options.items() if v is not None}
    if options and name != "ray":
        raise ValidationError(f"backend: {', '.join(sorted(options))} only apply to the 'ray' backend, not {name!r}")
    return BACKENDS[name](workers, noise if noise is not None else NoiseTable(), **options)


def max_local_workers() -> int:
    """The most worker processes the ``process`` backend may start on this machine: 4 per CPU (at
    least 16). Rollouts are CPU-bound, so more only add overhead, and a mistyped count (``--workers
    100000``) would otherwise fork until the machine stalls."""
    return max(16, 4 * (os.cpu_count() or 1))


def local_cap_text() -> str:
    """Why :func:`max_local_workers` is what it is here, for the errors that cite it."""
    return f"(4 per CPU, at least 16; this machine has {os.cpu_count()} CPUs)"


def check_local_workers(workers, backend: str, *, ray_address: str | None = None,
                        more: str = "use --backend ray on a cluster") -> int:
    """``workers`` checked for ``backend``: an integer >= 1, and at most :func:`max_local_workers`
    for the local ``process`` backend and for the ``ray`` backend when it would start a local Ray
    instance (no ``ray_address`` and Ray not initialized in this process): a ValidationError naming
    ``workers`` otherwise (``more``: how to get more processes, "" where there is no other way)."""
    check_workers(workers)
    if workers <= max_local_workers():
        return workers
    if backend == "process":
        raise ValidationError(f"workers: at most {max_local_workers()} local processes here {local_cap_text()}, "
                              f"got {workers}" + (f"; for more, {more}" if more else ""))
    ray = sys.modules.get("ray")  # imported by trustopt.workers_ray only; not imported here
    if backend == "ray" and ray_address is None and not (ray is not None and ray.is_initialized()):
        raise ValidationError(f"workers: at most {max_local_workers()} actors in a local Ray instance here "
                              f"{local_cap_text()}, got {workers}; "
                              "for more, give --ray-address of a Ray cluster")
    return workers
