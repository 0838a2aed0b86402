"""A Ray backend for the rollouts of the ES family, and a Ray-backed map for :func:`trustopt.minimize`.

The ES family scales by running rollouts on many machines (TRES "Distributed
Implementation"; Salimans et al. 2017 sec. 2.1, Alg. 2): every worker holds the same noise
table, so a perturbation ``x_j = theta + sigma * sign_j * table[index_j : index_j + d]`` is
named by ``(index_j, sign_j)`` and only these, the reset seeds and the returns travel.
Here the workers are Ray actors (Moritz et al. 2018, "Ray: A Distributed Framework for
Emerging AI Applications"):

* the noise table (float32, ``(size,)``) is put ONCE in Ray's object store (``ray.put``);
  each actor receives it on construction as a read-only, zero-copy view of the node's shared
  object store (one copy per node, not per actor);
* an actor is a long-lived process, so the environment it builds on its first rollout
  (:func:`trustopt.envs.rollout` keeps one per process and :class:`~trustopt.envs.EnvSpec`)
  is reused for all later rollouts;
* per batch, the shared part (for the ES rollouts a :class:`~trustopt.envs.es_sampler.RolloutJob`:
  ``theta``, ``sigma``, the normalizer) is put once in the object store; the items travel in
  chunks (:func:`trustopt._backends.chunks`; for the ES rollouts
  :class:`~trustopt.envs.es_sampler.RolloutTask` ``(index, sign, seed)``) and the results come
  back in ITEM ORDER whatever actor ran which chunk; when ``fn`` is a pure function of
  ``(shared, item, table)``, :class:`RayBackend` gives the same bits as
  :class:`~trustopt.workers.SerialBackend` and :class:`~trustopt.workers.ProcessBackend`, for
  any number of workers.

Fault tolerance: an actor that dies (its process killed, its node lost:
``RayActorError``) is replaced by a new actor and the chunks it had not returned are run
again; results already received are kept. A slot whose actor dies more than
``max_restarts`` times during one batch raises :class:`~trustopt.workers.WorkerError`.
An ordinary exception raised by the task itself is not retried: it propagates (as its own
type) like in the other backends.

Ray is an optional dependency (``pip install -e ".[ray]"``); it is imported only by this
module, and only when a Ray backend or map is created.

Usage::

    trustopt train --env HalfCheetah-v5 --workers 32 --backend ray --ray-address HEAD_IP:6379 --out runs/x

    from trustopt.workers_ray import RayMap
    with RayMap(4) as pmap:                       # a local Ray instance with 4 CPUs
        res = trustopt.minimize(fun, x0, sigma0=0.5, maxfev=10_000, seed=0, workers=pmap)
"""

from __future__ import annotations

import logging
import os
from collections import deque
from typing import Any, Callable, Iterable, Sequence

from trustopt._validation import ValidationError, check_int
from trustopt.noise import NoiseTable
from trustopt._backends import WorkerError, check_workers, chunks

__all__ = ["RayBackend", "RayMap", "import_ray", "init_ray", "ray_backend"]

_INSTALL_HINT = 'Ray is not installed; install the optional extra: pip install -e ".[ray]"'


def import_ray():
    """The ``ray`` module, or a :class:`~trustopt.ValidationError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ValidationError(f"backend: 'ray' needs Ray. {_INSTALL_HINT} (import failed: {exc})") from None
    return ray


def init_ray(address: str | None = None, *, num_cpus: int | None = None) -> bool:
    """Connect to a Ray cluster, or start a local Ray instance; ``True`` if this call started it.

    Already connected (``ray.is_initialized()``, e.g. the user called ``ray.init`` or a
    previous backend did): nothing is done and ``False`` is returned. ``address`` (e.g.
    ``"10.0.0.1:6379"``, ``"auto"`` or ``"ray://head:10001"``): connect to that existing
    cluster. ``None``: start a local instance with ``num_cpus`` CPUs, no dashboard, the
    workers' output not forwarded to this process, Ray's own logging at ERROR level.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage-stats prompt/message
    common = dict(log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    if address is not None:
        if not isinstance(address, str) or not address.strip():
            raise ValidationError(f"ray_address: expected an address such as 'HEAD_IP:6379', got {address!r}")
        try:
            ray.init(address=address, **common)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise ValidationError(
                f"ray_address: could not connect to a Ray cluster at {address!r} ({exc}); start one with "
                "`ray start --head` on the head node and pass its address; if the cluster uses token "
                "authentication (the default of `ray start`), set RAY_AUTH_MODE=token and provide its token "
                "(~/.ray/auth_token or RAY_AUTH_TOKEN)"
            ) from None
        return True
    # address="local": always a new instance (never silently join a cluster that `ray start` left running)
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **common)
    return True


class _Actor:
    """A rollout worker: holds the noise table (zero-copy from the object store) and, through
    :func:`trustopt.envs.rollout`'s per-process cache, the environments it has built."""

    def __init__(self, noise):
        self.noise = noise

    def ready(self) -> int:
        return os.getpid()

    def run(self, fn, shared, items) -> list:
        noise = self.noise
        return [fn(shared, item, noise) for item in items]


class RayBackend:
    """``n_workers`` Ray actors holding the noise table; ``map`` returns results in item order.

    The :class:`~trustopt.workers.Backend` interface::

        backend.map(fn, shared, items) == [fn(shared, item, noise) for item in items]

    where ``noise`` is ``noise_table.noise`` (``(size,)`` float32; ``None`` when the backend has
    no table). ``fn`` is pickled by Ray (cloudpickle: module-level functions by reference,
    closures by value); ``shared`` is put once per call in the object store; ``items`` are sent
    in chunks of ``ceil(len(items) / (n_workers * chunks_per_worker))``, at most
    ``in_flight`` chunks per actor at a time, to whichever actor is free (load balance when
    episode lengths differ).

    Args:
        n_workers: number of actors (each reserves 1 CPU of the cluster).
        noise: the shared :class:`~trustopt.noise.NoiseTable` (put once in the object store), or None.
        address: a Ray cluster to connect to (see :func:`init_ray`); ``None`` starts a local Ray
            instance with ``n_workers`` CPUs, unless Ray is already initialized in this process
            (then that instance is used).
        chunks_per_worker: chunks per actor and batch (>= 1).
        in_flight: chunks queued per actor (>= 1; 2 overlaps transfers with computation).
        max_restarts: replacements allowed per actor slot and batch before :class:`WorkerError`.
        start_timeout_s: seconds to wait for the actors to start (a cluster with fewer free CPUs
            than ``n_workers`` that does not scale up gives :class:`WorkerError` after it).

    ``n_restarts`` counts replaced actors. ``close()`` kills the actors and, if this backend
    started the local Ray instance, shuts it down.

    Limitation: a replacement actor needs a free CPU; on a cluster that lost a node and does
    not scale up, the chunks queued on a replacement wait until a CPU frees up.
    """

    def __init__(self, n_workers: int, noise: NoiseTable | None = None, *, address: str | None = None,
                 chunks_per_worker: int = 4, in_flight: int = 2, max_restarts: int = 3,
                 start_timeout_s: float = 300.0):
        self.n_workers = check_workers(n_workers)
        if noise is not None and not isinstance(noise, NoiseTable):
            raise ValidationError(f"noise: expected a NoiseTable or None, got {type(noise).__name__}")
        chunks_per_worker = check_int(chunks_per_worker, "chunks_per_worker", 1)
        in_flight = check_int(in_flight, "in_flight", 1)
        max_restarts = check_int(max_restarts, "max_restarts", 0)
        if not (isinstance(start_timeout_s, (int, float)) and start_timeout_s > 0):
            raise ValidationError(f"start_timeout_s: expected a number > 0, got {start_timeout_s!r}")
        self.noise_table = noise
        self.address = address
        self.chunks_per_worker, self.in_flight, self.max_restarts = chunks_per_worker, in_flight, max_restarts
        self.start_timeout_s = float(start_timeout_s)
        self.n_restarts = 0
        self._actors: list = []
        self._ray = import_ray()
        self._owns_ray = init_ray(address, num_cpus=self.n_workers)
        ray = self._ray
        self._actor_cls = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_Actor)
        self._noise_ref = ray.put(noise.noise) if noise is not None else None
        try:
            self._actors = [self._new_actor() for _ in range(self.n_workers)]
            self._wait_ready(list(range(self.n_workers)))
        except BaseException:
            self.close()  # no actors (nor a Ray instance this backend started) left behind
            raise

    # --------------------------------------------------------------------------- actors

    def _new_actor(self):
        return self._actor_cls.remote(self._noise_ref)

    def _wait_ready(self, slots: Sequence[int]) -> None:
        ray = self._ray
        from ray.exceptions import RayActorError

        refs = [self._actors[s].ready.remote() for s in slots]
        done, pending = ray.wait(refs, num_returns=len(refs), timeout=self.start_timeout_s)
        for ref in done:
            try:
                ray.get(ref)
            except RayActorError as exc:
                raise WorkerError(
                    f"a Ray actor died while starting ({str(exc).strip().splitlines()[0]}); on a cluster, check that "
                    "every node has the same Python, ray, trustopt and mujoco versions and that the driver uses "
                    "the cluster's authentication mode (RAY_AUTH_MODE)"
                ) from None
        if pending:
            cpus = ray.cluster_resources().get("CPU", 0)
            raise WorkerError(
                f"only {len(done)} of {len(refs)} Ray actors started within {self.start_timeout_s:.0f} s; the "
                f"cluster has {cpus:g} CPUs in all (each actor needs 1): use fewer --workers or add nodes"
            )

    def actor_pids(self) -> list[int]:
        """Process ids of the actors (for tests and monitoring)."""
        return self._ray.get([a.ready.remote() for a in self._actors])

    def _replace(self, slot: int) -> None:
        try:
            self._ray.kill(self._actors[slot], no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self._actors[slot] = self._new_actor()
        self.n_restarts += 1

    # --------------------------------------------------------------------------- map

    def map(self, fn: Callable, shared: Any, items: Iterable) -> list:
        if not self._actors:
            raise ValidationError("backend: this RayBackend is closed")
        ray = self._ray
        from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

        items = list(items)
        n = len(items)
        if n == 0:
            return []
        queue = deque(chunks(n, self.n_workers, self.chunks_per_worker))
        results: list = [None] * n
        shared_ref = ray.put(shared)
        running: dict = {}  # ObjectRef -> (slot, chunk, actor generation)
        done = 0
        load = [0] * self.n_workers
        deaths = [0] * self.n_workers
        dead_epoch = [0] * self.n_workers  # actor generation per slot: a late failure of an old actor is ignored
        try:
            while queue or running:
                for slot in range(self.n_workers):  # fill every actor up to `in_flight` chunks
                    while queue and load[slot] < self.in_flight:
                        lo, hi = queue.popleft()
                        ref = self._actors[slot].run.remote(fn, shared_ref, items[lo:hi])
                        running[ref] = (slot, (lo, hi), dead_epoch[slot])
                        load[slot] += 1
                [ref], _ = ray.wait(list(running), num_returns=1)
                slot, (lo, hi), epoch = running.pop(ref)
                if epoch == dead_epoch[slot]:
                    load[slot] -= 1
                try:
                    out = ray.get(ref)
                except (RayActorError, WorkerCrashedError):
                    queue.appendleft((lo, hi))  # re-run this chunk first
                    if epoch == dead_epoch[slot]:  # first failure seen from this actor: replace it
                        deaths[slot] += 1
                        self._replace(slot)  # also when giving up: the backend stays usable
                        dead_epoch[slot] += 1
                        load[slot] = 0
                        if deaths[slot] > self.max_restarts:
                            raise WorkerError(
                                f"Ray actors died {deaths[slot]} times in one slot during this batch; "
                                f"{n - done} of {n} tasks could not be completed"
                            ) from None
                    continue
                except RayTaskError as exc:  # the task raised: propagate it as its own type
                    raise exc.as_instanceof_cause() from None
                results[lo:hi] = out
                done += hi - lo
        finally:
            for ref in running:  # an error left chunks running: do not leave them queued on the actors
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001
                    pass
        return results

    # --------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Kill the actors; shut Ray down if this backend started it. Idempotent."""
        ray = getattr(self, "_ray", None)
        if ray is None:
            return
        for a in self._actors:
            try:
                ray.kill(a, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        self._actors = []
        self._noise_ref = None
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        return _detached, ("RayBackend", self.n_workers)


class _Detached:
    """What a pickled :class:`RayBackend`/:class:`RayMap` becomes (e.g. captured by a closure sent to
    the actors): its actors belong to the driver, so a copy cannot run anything."""

    def __init__(self, kind: str, n_workers: int):
        self.kind, self.n_workers = kind, n_workers

    def _fail(self, *args, **kwargs):
        raise RuntimeError(f"a pickled {self.kind} cannot run tasks: use it in the process that created it")

    map = __call__ = close = _fail


def _detached(kind: str, n_workers: int) -> _Detached:
    return _Detached(kind, n_workers)


def ray_backend(workers: int, noise: NoiseTable | None = None, *, address: str | None = None) -> RayBackend:
    """The factory registered as ``"ray"`` in :data:`trustopt.workers.BACKENDS`."""
    return RayBackend(workers, noise, address=address)


def _apply(f, item, noise):
    return f(item)


class RayMap:
    """A map-like callable on Ray actors, for ``trustopt.minimize(..., workers=RayMap(n))``.

    ``pmap(f, iterable) == list(map(f, iterable))`` (same order, same values), evaluated by
    ``n_workers`` Ray actors of a :class:`RayBackend` (dead actors replaced, their items
    re-run). ``f`` is sent once per call (cloudpickle: closures and lambdas work); items travel
    in chunks. With :func:`trustopt.minimize` the items are the sample rows ``x_j (d,)``, so the
    result is the same as with ``workers=1`` for the same seed. ``address``: as in
    :class:`RayBackend` (``None``: a local Ray instance with ``n_workers`` CPUs, or the one
    already initialized). Close it (or use ``with``) to release the actors.
    """

    def __init__(self, n_workers: int, *, address: str | None = None, chunks_per_worker: int = 1,
                 max_restarts: int = 3):
        self.backend = RayBackend(n_workers, None, address=address, chunks_per_worker=chunks_per_worker,
                                  max_restarts=max_restarts)
        self.n_workers = self.backend.n_workers

    def __call__(self, f: Callable, iterable: Iterable) -> list:
        if not callable(f):
            raise ValidationError("f: must be callable")
        return self.backend.map(_apply, f, iterable)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        return _detached, ("RayMap", self.n_workers)
