"""The training driver for the ES family (TRES, ES, ARS) on linear MuJoCo policies
(the policy-gradient family is dispatched to :mod:`trustopt.train.pg_trainer`).

One iteration (TRES Alg. 1; ARS Alg. 1 V2; Salimans et al. 2017 Alg. 2), driven by the
ask/tell optimizers of :mod:`trustopt.blackbox` (themselves THE loop of
:mod:`trustopt.core.loop`) with episode returns as the objective::

    X = opt.ask()                         # 2N antithetic samples theta_k +- sigma eps_j (noise table)
    (mean, std) = normalizer(S_k)         # running observation statistics, frozen for the batch
    R_j = rollout(W = X_j, mean, std)     # on the backend's workers, rebuilt from (index_j, sign_j)
    opt.tell(X, -R)                       # the optimizer minimizes, so it is told -R
    S_{k+1} = S_k merged with the batch's observation statistics, in task order

Rollout j and its antithetic partner j + N start from the same reset seed (common random
numbers); the reset seeds of iteration k and of its evaluation come from
``SeedSequence([seed, stream, k])``, so a run is a pure function of its
:class:`~trustopt.train.config.TrainConfig` -- the same bits with 1 or many workers, and after
``--resume``. Evaluation: ``eval_episodes`` rollouts of ``theta_k`` itself (``sign = 0``) with
the current normalizer, reporting the environment's own return (survival bonus included).

Run folder (``out``): ``config.json`` (the resolved config, the runtime options and the
``versions`` of trustopt, numpy, scipy, numba, mujoco and gymnasium), ``progress.csv`` (one row
per iteration, :data:`PROGRESS_COLUMNS`), ``checkpoint.pkl`` (atomic, after every iteration),
``policy.npz`` (the current policy, rewritten atomically at every evaluation and at the end:
``W (act_dim, obs_dim)``, ``obs_mean``, ``obs_std``, the normalizer's ``obs_count``, ``obs_M2``,
the action space's ``action_low``/``action_high``, ``env_id``, ``env_kwargs`` (JSON),
``env_module``, and ``eval_mean``, the mean return of this policy's evaluation, NaN if it had
none), ``best_policy.npz`` (the policy of the evaluation with the highest mean return so far;
the first of equal ones), and with ``tensorboard=True`` the
scalars of every progress row under ``tb/``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from trustopt._callbacks import Callback
from trustopt._io import OutputError, make_folder, output_error, writing
from trustopt._validation import ValidationError, check_int, readonly
from trustopt.estimators import RunningMeanStd
from trustopt.noise import NoiseTable
from trustopt.train.checkpoint import CheckpointError, atomic_write_bytes, load_checkpoint, save_checkpoint
from trustopt.train.config import PG_ALGOS, TrainConfig, resolve_config
from trustopt.workers import BACKENDS, RolloutJob, RolloutTask, make_backend, run_rollouts

__all__ = [
    "train",
    "TrainResult",
    "PROGRESS_COLUMNS",
    "CHECKPOINT",
    "POLICY",
    "CONFIG",
    "PROGRESS",
    "normalizer_arrays",
    "load_policy",
    "evaluate_policy",
    "library_versions",
    "VersionMismatchWarning",
]

CHECKPOINT, POLICY, CONFIG, PROGRESS = "checkpoint.pkl", "policy.npz", "config.json", "progress.csv"
BEST_POLICY = "best_policy.npz"
#: Distributions whose versions a run records in config.json (``versions``).
VERSIONED = ("trustopt", "numpy", "scipy", "numba", "mujoco", "gymnasium")


class VersionMismatchWarning(UserWarning):
    """A run is resumed under other library versions than it was started with: it continues,
    but bit-for-bit equality with an uninterrupted run is promised only on the same versions."""


def library_versions() -> dict[str, str | None]:
    """``{name: version}`` of :data:`VERSIONED` as installed (None where one is not)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    if out["trustopt"] is None:  # run from a source tree that was never installed
        from trustopt import __version__

        out["trustopt"] = __version__
    return out

#: Columns of progress.csv (eval_mean/eval_std are empty when the iteration was not evaluated).
PROGRESS_COLUMNS = (
    "iteration", "timesteps", "episodes", "wall_s", "eval_mean", "eval_std",
    "train_return_mean", "train_return_std", "train_return_max", "grad_norm", "predicted_gain",
    "step_norm", "sigma", "status",
)

_STREAM_TRAIN, _STREAM_EVAL = 0, 1
_STD_FLOOR = 1e-8


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """``config`` (resolved), ``iterations``, ``timesteps``, ``episodes``, ``wall_s``,
    ``W (act_dim, obs_dim)``, ``obs_mean``, ``obs_std``, ``last_eval`` ((mean, std) or None),
    ``stop_reason`` (``"timesteps"``, ``"target"`` or ``"callback"``), ``out`` (the run folder)."""

    config: TrainConfig
    iterations: int
    timesteps: int
    episodes: int
    wall_s: float
    W: np.ndarray
    obs_mean: np.ndarray
    obs_std: np.ndarray
    last_eval: tuple | None
    stop_reason: str
    out: str


def normalizer_arrays(rms: RunningMeanStd, enabled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` for the policy ``a = W (s - mean) / std`` from the running statistics.

    ``std = sqrt(M2 / count)``, set to 1 where it is below 1e-8 (a constant observation
    component: ``s - mean = 0`` there anyway); before any data, and when ``enabled`` is
    False, ``mean = 0, std = 1`` (ARS V1 / the first iteration of V2).
    """
    if not enabled or rms.count == 0:
        return np.zeros(rms.shape), np.ones(rms.shape)
    std = np.sqrt(rms.var)
    return np.array(rms.mean), np.where(std < _STD_FLOOR, 1.0, std)


def _seeds(seed: int, stream: int, k: int, n: int) -> list[int]:
    return [int(s) for s in np.random.SeedSequence([seed, stream, k]).generate_state(n, dtype=np.uint32)]


def _make_optimizer(c: TrainConfig, d: int):
    from trustopt.blackbox import ARS, ES, TRES

    common = dict(seed=c.seed, popsize=2 * c.n_directions, adapt=False, keep_history=False,
                  noise=NoiseTable(size=c.noise_table_size))
    x0 = np.zeros(d)  # TRES/ARS: linear policies initialized at zero
    if c.algo == "tres":
        return TRES(x0, c.sigma, lambda_=c.lambda_, K=c.K, lr=c.lr, **common)
    if c.algo == "ars":
        return ARS(x0, c.sigma, alpha=c.lr, top_fraction=c.top_directions / c.n_directions, **common)
    return ES(x0, c.sigma, lr=c.lr, l2=c.l2, optimizer=c.optimizer, **common)


class RunProgress:
    """The counters every run keeps (pickled with it as the checkpoint payload's ``state``):
    iterations, timesteps and episodes so far, training wall time, the last evaluation
    ``(mean, std)``, why it stopped, and the length of ``progress.csv`` at the checkpoint."""

    def __init__(self):
        self.iteration = 0
        self.timesteps = 0
        self.episodes = 0
        self.wall_s = 0.0
        self.last_eval = None
        self.stop_reason = None
        self.progress_bytes = 0
        self.best_eval = None


class _Run(RunProgress):
    """A run of the ES family: the ask/tell optimizer and the observation normalizer."""

    def __init__(self, config: TrainConfig, obs_dim: int, act_dim: int):
        super().__init__()
        self.opt = _make_optimizer(config, obs_dim * act_dim)
        self.rms = RunningMeanStd.empty(obs_dim)


#: What a failed write in a run folder adds to its message: every file is written atomically and
#: progress.csv is cut back to the checkpoint on resume, so the folder stays resumable.
_RESUMABLE_HINT = "; the run folder keeps its last checkpoint: rerun with --resume once this is fixed"


def _run_file(path: str):
    """Writes to ``path`` in a run folder: an OSError (a full disk) becomes a one-line
    :class:`~trustopt._io.OutputError` naming ``out``."""
    return writing("out", path, hint=_RESUMABLE_HINT)


def _write_config(out: str, config: TrainConfig, runtime: dict) -> None:
    text = json.dumps({**config.to_dict(), "runtime": runtime, "versions": library_versions()}, indent=2,
                      sort_keys=True) + "\n"
    path = os.path.join(out, CONFIG)
    with _run_file(path):
        atomic_write_bytes(path, text.encode())


def _warn_version_change(out: str) -> None:
    """On resume: one :class:`VersionMismatchWarning` listing the versions that differ from those
    the run's config.json recorded (a run from before versions were recorded: nothing to compare)."""
    try:
        with open(os.path.join(out, CONFIG)) as f:
            saved = json.load(f).get("versions")
    except (OSError, ValueError, AttributeError):
        return
    if not isinstance(saved, dict):
        return
    now = library_versions()
    diff = [f"{k} {saved.get(k)} -> {now[k]}" for k in VERSIONED if k in saved and saved.get(k) != now[k]]
    if diff:
        warnings.warn(f"resuming {out} under other versions than it started with ({', '.join(diff)}); it continues, "
                      "but is bit-for-bit equal to an uninterrupted run only on the same versions",
                      VersionMismatchWarning, stacklevel=3)


def _policy_bytes(arrays: dict, config: TrainConfig, run, bounds: tuple[np.ndarray, np.ndarray]) -> bytes:
    """policy.npz's bytes: the policy's ``arrays`` and what loading and evaluating it needs."""
    buf = io.BytesIO()
    np.savez(buf, **arrays, action_low=bounds[0], action_high=bounds[1], env_id=np.str_(config.env_id),
             env_kwargs=np.str_(json.dumps(config.env_kwargs or {}, sort_keys=True)),
             env_module=np.str_(config.env_module or ""), algo=np.str_(config.algo),
             iteration=np.int64(run.iteration), timesteps=np.int64(run.timesteps),
             eval_mean=np.float64(run.last_eval[0] if _evaluated_now(config, run) else math.nan))
    return buf.getvalue()


def _evaluated_now(config: TrainConfig, run) -> bool:
    """Whether the run's last evaluation is of its current iteration's policy."""
    return (run.last_eval is not None and run.iteration > 0 and bool(config.eval_every)
            and run.iteration % config.eval_every == 0)


def _write_policies(out: str, data: bytes, run, evaluated: bool) -> None:
    """Write policy.npz (atomically); after an evaluation whose mean beats every earlier one,
    also best_policy.npz (``run.best_eval`` records it, in the checkpoint)."""
    path = os.path.join(out, POLICY)
    with _run_file(path):
        atomic_write_bytes(path, data)
    best_eval = getattr(run, "best_eval", None)  # absent in checkpoints written before it existed
    if evaluated and (best_eval is None or run.last_eval[0] > best_eval):
        best = os.path.join(out, BEST_POLICY)
        with _run_file(best):
            atomic_write_bytes(best, data)
        run.best_eval = run.last_eval[0]


def _env_bounds(env) -> tuple[np.ndarray, np.ndarray]:
    return np.array(env.action_low, dtype=np.float64), np.array(env.action_high, dtype=np.float64)


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return str(v)


def _save_policy(out: str, config: TrainConfig, run: _Run, obs_dim: int, act_dim: int, bounds,
                 evaluated: bool = False) -> None:
    mean, std = normalizer_arrays(run.rms, config.obs_norm)
    arrays = dict(W=run.opt.mean.reshape(act_dim, obs_dim), obs_mean=mean, obs_std=std,
                  obs_count=np.int64(run.rms.count), obs_M2=np.array(run.rms.M2))
    _write_policies(out, _policy_bytes(arrays, config, run, bounds), run, evaluated)


#: Settings a resumed run may change: the budget, evaluation and the target decide when the run
#: stops and what it reports, never its trajectory (evaluation episodes have their own seeds and
#: touch neither the parameters nor the normalizer).
RESUMABLE_FIELDS = ("timesteps", "eval_every", "eval_episodes", "target")


def _check_same_config(saved: dict, config: TrainConfig, path: str) -> None:
    now = config.to_dict()
    diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in RESUMABLE_FIELDS)
    if diff:
        detail = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {now.get(k)!r}" for k in diff)
        raise CheckpointError(f"checkpoint: {path} was written by a different configuration ({detail}); "
                              f"resume with the same settings (only {', '.join(RESUMABLE_FIELDS)} may change) "
                              "or choose another --out")


def _open_run(out: str, config: TrainConfig, resume: bool, columns, new_run, kind: type):
    """The run state of ``out``: with ``resume``, the checkpoint's (its config checked against
    ``config``, a finished run reopened by :func:`_reopen`, ``progress.csv`` cut back to the rows the
    checkpoint knows); otherwise ``new_run()``, after creating ``out`` with a ``progress.csv`` header
    (``columns``, fsynced) and a first checkpoint. ``kind``: the run class the trainer expects."""
    ckpt_path, prog_path = os.path.join(out, CHECKPOINT), os.path.join(out, PROGRESS)
    if resume:
        payload = load_checkpoint(ckpt_path)
        _check_same_config(payload["config"], config, ckpt_path)
        run = payload["state"]
        if not isinstance(run, kind):
            raise CheckpointError(f"checkpoint: {ckpt_path} holds a {type(run).__name__}, not a {kind.__name__}")
        _reopen(run, payload["config"], config)
        # progress.csv must still hold the rows the checkpoint counted (truncate() would pad a short
        # file with NUL bytes); rows written after the checkpoint are dropped
        size = os.path.getsize(prog_path) if os.path.isfile(prog_path) else None
        if size is None or size < run.progress_bytes:
            state = ("is missing" if size is None else
                     f"has {size} bytes, fewer than the {run.progress_bytes} the checkpoint counted")
            raise CheckpointError(f"out: {prog_path} {state}: the run's progress rows are lost, so it cannot be "
                                  "resumed; choose another --out")
        with _run_file(prog_path), open(prog_path, "r+b") as f:
            f.truncate(run.progress_bytes)
        return run
    if os.path.exists(ckpt_path):
        raise CheckpointError(f"out: {out} already holds a run (checkpoint.pkl); pass --resume to continue "
                              "it or choose another --out")
    if not out:
        raise ValidationError("out: expected a folder name, got ''")
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f"out: {out} exists and is not a folder; choose another --out")
    run = new_run()  # before the folder exists: a run that cannot be built leaves nothing behind
    make_folder("out", out)
    with _run_file(prog_path), open(prog_path, "w", newline="") as f:
        csv.writer(f).writerow(columns)
        f.flush()
        os.fsync(f.fileno())
        run.progress_bytes = f.tell()
    with _run_file(ckpt_path):
        save_checkpoint(ckpt_path, {"config": config.to_dict(), "state": run})
    return run


class _NewRunGuard:
    """A new run that fails before its first iteration is saved leaves no run folder behind,
    so that the corrected command can be rerun into the same ``out``.

    ``with _NewRunGuard(out, resume) as guard:`` around opening and running; ``guard.callback(cb)``
    wraps the iteration callback (called after each checkpoint) to record that one was saved.
    Only an ``Exception`` discards: after Ctrl-C or SIGTERM the folder holds a valid checkpoint,
    which ``--resume`` continues. A folder that held a checkpoint before is never touched, and a
    folder that existed before (empty, or with the user's files) loses only the run's files.
    """

    def __init__(self, out: str, resume: bool):
        self.out = out
        self.active = not resume and not os.path.exists(os.path.join(out, CHECKPOINT))
        self.folder_existed = os.path.isdir(out)
        self.saved = False

    def callback(self, callback, tensorboard=None):
        """The end-of-iteration hook ``on_iteration(row, x) -> stop``: records that an iteration
        was saved, logs ``row`` to ``tensorboard`` (a writer or None), and calls the user's
        ``callback`` by trustopt's convention (:func:`train`)."""
        cb = Callback(callback)

        def on_iteration(row: dict, x: np.ndarray) -> bool:
            self.saved = True
            if tensorboard is not None:
                tensorboard.log(row)
            if callback is None:
                return False
            from scipy.optimize import OptimizeResult

            x = readonly(np.array(x))
            return cb(OptimizeResult(row, x=x), x)

        return on_iteration

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or not isinstance(exc, Exception) or not self.active or self.saved:
            return False
        if not os.path.isdir(self.out):
            return False
        for name in (CHECKPOINT, PROGRESS, CONFIG):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.out, name))
        if not self.folder_existed:
            with contextlib.suppress(OSError):
                os.rmdir(self.out)
        cause = exc.__cause__
        if isinstance(exc, OutputError) and isinstance(cause, OSError):  # its hint named a folder now gone
            raise output_error("out", exc.filename, cause, hint="; the new run was removed") from cause
        return False


@contextlib.contextmanager
def _session(out: str, config: TrainConfig, resume: bool, columns, new_run, kind: type, *, noise, workers: int,
             backend: str, ray_address, progress: bool, tensorboard: bool, callback):
    """What both trainers run inside: the run folder opened (:func:`_open_run`; a new run that
    fails before its first saved iteration is removed, :class:`_NewRunGuard`), config.json
    written, and the worker backend (``noise(run)``: its noise table), the progress bar and the
    TensorBoard writer, closed however the run ends. Yields ``(run, backend, bar, on_iteration)``,
    ``on_iteration(row, x) -> stop`` being the end-of-iteration hook (:meth:`_NewRunGuard.callback`)."""
    with _NewRunGuard(out, resume) as guard:
        run = _open_run(out, config, resume, columns, new_run, kind)
        if resume:
            _warn_version_change(out)
        _write_config(out, config, {"workers": workers, "backend": backend, "ray_address": ray_address})
        bk = make_backend(backend, workers, noise(run), address=ray_address)
        bar = _progress_bar(config, run) if progress else None
        tb = _tensorboard_writer(out, tensorboard)
        try:
            yield run, bk, bar, guard.callback(callback, tb)
        finally:
            bk.close()
            if bar is not None:
                bar.close()
            if tb is not None:
                tb.close()


def _reopen(run, saved: dict, config: TrainConfig) -> None:
    """A finished run continues when the new settings no longer stop it (a larger budget, another target)."""
    if run.stop_reason == "timesteps" or (run.stop_reason == "target" and saved.get("target") != config.target):
        run.stop_reason = None


def train(config: TrainConfig, out, *, workers: int = 1, backend: str = "process", resume: bool = False,
          progress: bool = True, callback: Callable[[Any], Any] | None = None,
          ray_address: str | None = None, tensorboard: bool = False) -> TrainResult:
    """Train ``config`` (resolved with :func:`~trustopt.train.config.resolve_config`) into ``out``.

    ``workers``/``backend`` choose where rollouts run (never what they compute); ``ray_address``
    (``backend="ray"`` only): an existing Ray cluster, None: a local Ray instance. ``resume``:
    continue from ``out/checkpoint.pkl`` (must exist and match the config except for
    :data:`RESUMABLE_FIELDS`: a larger ``timesteps`` trains a finished run further, to the same
    bits as an uninterrupted run with that budget; a run finished under the new settings just
    rewrites ``policy.npz``); without it ``out`` must not hold a checkpoint.
    ``progress``: a tqdm bar (iteration, timesteps, return, steps/s) on stderr; it shows the real
    timestep count, which the last iteration may take past ``config.timesteps`` (iterations are whole).
    ``callback``: trustopt's one convention (as :func:`trustopt.minimize` and :func:`trustopt.run`,
    scipy's): after each iteration is saved, a callback whose only parameter is named
    ``intermediate_result`` receives a ``scipy.optimize.OptimizeResult`` holding the progress row
    (``iteration``, ``timesteps``, ``eval_mean``, ...) and ``x``, the current policy parameters
    (ES family: ``W.ravel()``; policy-gradient family: ``[W.ravel(), b, log_std]``); any other
    callable is called ``callback(x)``. Raising ``StopIteration`` or returning a truthy value
    stops the run after that iteration (``stop_reason = "callback"``; the checkpoint is that of
    the iteration, so ``resume`` continues it). ``tensorboard``: also write every progress row's
    numbers as TensorBoard scalars (step: timesteps) under ``out/tb`` (needs the ``tensorboard``
    extra; a ValidationError naming it before anything runs when it is missing).
    On ``resume`` under other :data:`VERSIONED` versions than config.json recorded, one
    :class:`VersionMismatchWarning`.
    Raises :class:`~trustopt.train.checkpoint.CheckpointError` for a missing, corrupt or
    mismatched checkpoint, :class:`~trustopt.ValidationError` for bad settings.
    """
    if not isinstance(config, TrainConfig):
        raise ValidationError(f"config: expected a TrainConfig, got {type(config).__name__}")
    config = resolve_config(config)
    if backend not in BACKENDS:
        raise ValidationError(f"backend: unknown {backend!r}; choose one of {', '.join(sorted(BACKENDS))}")
    _check_workers(workers, backend)
    if backend == "ray":  # fail before the run folder is created when the optional Ray is missing
        from trustopt.workers_ray import import_ray

        import_ray()
    if tensorboard:  # before the run folder exists, as for Ray
        from trustopt.train.tensorboard import import_tensorboard

        import_tensorboard()
    Callback(callback)  # a non-callable is an error before anything runs
    if config.algo in PG_ALGOS:  # the policy-gradient family: trustopt.train.pg_trainer
        from trustopt.train.pg_trainer import train_pg

        return train_pg(config, os.fspath(out), workers=workers, backend=backend, resume=resume, progress=progress,
                        callback=callback, ray_address=ray_address, tensorboard=tensorboard)
    out = os.fspath(out)
    spec = config.env_spec()
    env = spec.make()
    obs_dim, act_dim = env.obs_dim, env.act_dim
    bounds = _env_bounds(env)
    env.close()
    _check_noise_table(config, obs_dim * act_dim)

    with _session(out, config, resume, PROGRESS_COLUMNS, lambda: _Run(config, obs_dim, act_dim), _Run,
                  noise=lambda run: run.opt.noise, workers=workers, backend=backend, ray_address=ray_address,
                  progress=progress, tensorboard=tensorboard, callback=callback) as (run, bk, bar, on_iteration):
        _loop(config, run, bk, spec, obs_dim, act_dim, out, bar, on_iteration, bounds)
    _save_policy(out, config, run, obs_dim, act_dim, bounds)
    mean, std = normalizer_arrays(run.rms, config.obs_norm)
    return TrainResult(config=config, iterations=run.iteration, timesteps=run.timesteps, episodes=run.episodes,
                       wall_s=run.wall_s, W=run.opt.mean.reshape(act_dim, obs_dim), obs_mean=mean, obs_std=std,
                       last_eval=run.last_eval, stop_reason=run.stop_reason, out=out)


def max_local_workers() -> int:
    """The most worker processes the ``process`` backend may start on this machine: 4 per CPU (at
    least 16). Rollouts are CPU-bound, so more only add overhead, and a mistyped count (``--workers
    100000``) would otherwise fork until the machine stalls."""
    return max(16, 4 * (os.cpu_count() or 1))


def _check_workers(workers, backend: str) -> int:
    check_int(workers, "workers", 1)
    if backend == "process" and workers > max_local_workers():
        raise ValidationError(f"workers: at most {max_local_workers()} local processes here (4 per CPU, at least "
                              f"16; this machine has {os.cpu_count()} CPUs), got {workers}; for more, use "
                              "--backend ray on a cluster")
    return workers


def _check_noise_table(config: TrainConfig, d: int) -> None:
    """Before the run folder exists: the table must hold one perturbation (``d`` entries) and fit in
    memory (it is built here, once per process, and cached for the optimizer and the workers)."""
    n = config.noise_table_size
    if n < d:
        raise ValidationError(f"noise_table_size: must be at least the number of policy parameters, "
                              f"obs_dim * act_dim = {d} on {config.env_id}, got {n}")
    try:
        NoiseTable(size=n).noise
    except MemoryError:
        raise ValidationError(f"noise_table_size: {n} float32 entries ({4 * n / 2**30:.1f} GiB) do not fit in "
                              f"memory here; the default is 2**23 (32 MiB)") from None


def _tensorboard_writer(out: str, enabled: bool):
    if not enabled:
        return None
    from trustopt.train.tensorboard import ScalarWriter

    return ScalarWriter(os.path.join(out, "tb"))


def _loop(config, run: _Run, bk, spec, obs_dim, act_dim, out, bar, callback, bounds) -> None:
    ckpt_path = os.path.join(out, CHECKPOINT)
    prog_path = os.path.join(out, PROGRESS)
    m = config.n_directions
    while run.stop_reason is None:
        if run.timesteps >= config.timesteps:
            run.stop_reason = "timesteps"
            break
        t0 = time.perf_counter()
        opt = run.opt
        X = opt.ask()
        pend = opt.asked
        mean, std = normalizer_arrays(run.rms, config.obs_norm)
        job = RolloutJob(env=spec, theta=pend.theta, sigma=pend.sigma, obs_mean=mean, obs_std=std,
                         act_dim=act_dim, obs_dim=obs_dim, remove_survival_bonus=config.remove_survival_bonus)
        seeds = _seeds(config.seed, _STREAM_TRAIN, run.iteration, m)
        tasks = [RolloutTask(index=int(pend.index[j]), sign=float(pend.sign[j]), seed=seeds[j % m])
                 for j in range(X.shape[0])]
        results = run_rollouts(bk, job, tasks)
        R = np.array([r.train_return for r in results])
        opt.tell(X, -R)
        rec = opt.last_record
        rms = run.rms
        for r in results:  # fixed (task) order: the same bits for any number of workers
            rms = rms.merge(r.obs_stats)
        run.rms = rms
        steps = sum(r.length for r in results)
        run.timesteps += steps
        run.episodes += len(results)
        run.iteration += 1
        ev = (math.nan, math.nan)
        if config.eval_every and run.iteration % config.eval_every == 0:
            ev = _evaluate(config, run, bk, spec, obs_dim, act_dim)
            run.last_eval = ev
            _save_policy(out, config, run, obs_dim, act_dim, bounds, evaluated=True)
        dt = time.perf_counter() - t0
        run.wall_s += dt
        row = dict(
            iteration=run.iteration, timesteps=run.timesteps, episodes=run.episodes, wall_s=round(run.wall_s, 3),
            eval_mean=ev[0], eval_std=ev[1], train_return_mean=float(R.mean()), train_return_std=float(R.std()),
            train_return_max=float(R.max()), grad_norm=getattr(rec, "grad_norm", math.nan),
            predicted_gain=getattr(rec, "predicted_gain", math.nan), step_norm=getattr(rec, "distance", math.nan),
            sigma=pend.sigma, status=getattr(rec, "status", ""),
        )
        _finish_iteration(run, row, PROGRESS_COLUMNS, config, prog_path, ckpt_path, bar,
                          train_return=float(R.mean()), steps_per_s=steps / max(dt, 1e-9), callback=callback,
                          x=opt.mean)


def _progress_bar(config, run):
    """The tqdm bar both trainers show: real timesteps against the budget (the last whole
    iteration may pass it), iteration, return, eval and steps/s in the postfix."""
    from tqdm import tqdm

    return tqdm(total=config.timesteps, initial=run.timesteps, unit="step", unit_scale=True, dynamic_ncols=True,
                desc=f"{config.algo} {config.env_id} (budget {tqdm.format_sizeof(config.timesteps)} steps)")


def _finish_iteration(run, row: dict, columns, config, prog_path, ckpt_path, bar, *, train_return: float,
                      steps_per_s: float, callback, x) -> None:
    """End of one iteration, shared by both trainers: append ``row`` to progress.csv
    (fsynced; the byte count is kept so that a resume can truncate a half-written line),
    stop at ``config.target``, write the checkpoint atomically, update the progress bar
    with the real timestep count, call ``callback(row, x)`` (x: the current parameters) and
    stop the run when it asks to."""
    with _run_file(prog_path), open(prog_path, "a", newline="") as f:
        csv.writer(f).writerow([_fmt(row[c]) for c in columns])
        f.flush()
        os.fsync(f.fileno())
        run.progress_bytes = f.tell()
    ev = row["eval_mean"]
    if config.target is not None and not math.isnan(ev) and ev >= config.target:
        run.stop_reason = "target"
    with _run_file(ckpt_path):
        save_checkpoint(ckpt_path, {"config": config.to_dict(), "state": run})
    if bar is not None:
        post = {"it": run.iteration, "ret": f"{train_return:.1f}", "steps/s": f"{steps_per_s:.0f}"}
        if run.last_eval is not None:
            post["eval"] = f"{run.last_eval[0]:.1f}"
        bar.set_postfix(post, refresh=False)
        bar.update(run.timesteps - bar.n)  # the real count: the last whole iteration may pass the budget
    if callback is not None and callback(row, x) and run.stop_reason is None:
        run.stop_reason = "callback"


def _evaluate(config, run: _Run, bk, spec, obs_dim, act_dim) -> tuple[float, float]:
    mean, std = normalizer_arrays(run.rms, config.obs_norm)
    job = RolloutJob(env=spec, theta=run.opt.mean, sigma=0.0, obs_mean=mean, obs_std=std, act_dim=act_dim,
                     obs_dim=obs_dim, remove_survival_bonus=False)
    seeds = _seeds(config.seed, _STREAM_EVAL, run.iteration, config.eval_episodes)
    res = run_rollouts(bk, job, [RolloutTask(index=0, sign=0.0, seed=s) for s in seeds])
    G = np.array([r.env_return for r in res])
    return float(G.mean()), float(G.std())


# ------------------------------------------------------------------------------ saved policies


def load_policy(path):
    """``(policy, env_id, dict of the npz arrays)`` from a run folder (its ``policy.npz``) or a
    policy file (``policy.npz``, ``best_policy.npz``): a ``LinearPolicy`` for the ES family, a
    ``GaussianLinearPolicy`` (``W``, ``b``, ``log_std``) for the policy-gradient family; both act by
    ``policy.predict(obs, deterministic=True)`` on raw observations (the run's normalizer inside,
    actions clipped to the action space's bounds). A file's ``env_module`` is imported here, so
    that ``gymnasium.make(env_id, **env_kwargs)`` works afterwards; a file from before the bounds
    were saved gets them from the environment."""
    from trustopt.envs import GaussianLinearPolicy, LinearPolicy

    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, POLICY)
    try:
        with open(path, "rb") as f:
            is_npz = f.read(4) == b"PK\x03\x04"  # a zip archive, as np.savez writes
        if not is_npz:
            raise ValidationError(f"run: {path} is not a policy file (not an .npz archive); expected a run folder "
                                  f"or its {POLICY}")
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ValidationError(f"run: {path} does not exist (has the run finished?)") from None
    except ValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise ValidationError(f"run: {path} is not a readable policy file ({exc}); expected a run folder or its "
                              f"{POLICY}") from None
    missing = {"W", "obs_mean", "obs_std", "env_id"} - set(data)
    if missing:
        raise ValidationError(f"run: {path} lacks {', '.join(sorted(missing))}")
    if "action_low" not in data:
        env = _saved_env_spec(data).make()
        data["action_low"], data["action_high"] = _env_bounds(env)
        env.close()
    else:
        _saved_env_spec(data)  # imports env_module
    common = dict(W=data["W"], mean=data["obs_mean"], std=data["obs_std"], action_low=data["action_low"],
                  action_high=data["action_high"])
    if "b" in data and "log_std" in data:
        policy = GaussianLinearPolicy(b=data["b"], log_std=data["log_std"], **common)
    else:
        policy = LinearPolicy(**common)
    return policy, str(data["env_id"]), data


def _saved_env_spec(data: dict, max_episode_steps: int | None = None):
    """The EnvSpec a policy file was trained on (env_id, env_kwargs, env_module)."""
    from trustopt.envs import EnvSpec

    kwargs = json.loads(str(data["env_kwargs"])) if "env_kwargs" in data else {}
    module = str(data["env_module"]) if "env_module" in data else ""
    return EnvSpec(env_id=str(data["env_id"]), kwargs=kwargs, max_episode_steps=max_episode_steps,
                   module=module or None)


def evaluate_policy(path, *, episodes: int = 100, seed: int = 1_000_003, workers: int = 1,
                    backend: str = "process", max_episode_steps: int | None = None) -> np.ndarray:
    """Environment returns ``(episodes,)`` of the saved deterministic policy of a run.

    Episodes reset with seeds ``SeedSequence([seed, 2, 0])`` (disjoint from the training and
    in-training evaluation streams for the default ``seed``); the environment's own reward, on the
    environment the run trained on (its ``env_kwargs``, its ``env_module`` imported). A Gaussian policy (policy-gradient family) runs its MEAN action ``W z + b``. ``workers``/``backend``
    choose where the episodes run, never their returns.
    """
    from trustopt.envs import GaussianLinearPolicy

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValidationError(f"episodes: expected an integer >= 1, got {episodes!r}")
    _check_workers(workers, backend)
    policy, env_id, data = load_policy(path)
    spec = _saved_env_spec(data, max_episode_steps)
    if isinstance(policy, GaussianLinearPolicy):
        from trustopt.envs.pg_sampler import evaluate_mean_action

    seeds = _seeds(seed, 2, 0, episodes)
    bk = make_backend(backend, workers, NoiseTable(size=1))  # evaluation never reads the noise table
    try:
        if isinstance(policy, GaussianLinearPolicy):
            return evaluate_mean_action(spec, policy, seeds, backend=bk)
        act_dim, obs_dim = policy.W.shape
        job = RolloutJob(env=spec, theta=policy.W.reshape(-1), sigma=0.0, obs_mean=policy.mean,
                         obs_std=policy.std, act_dim=act_dim, obs_dim=obs_dim, remove_survival_bonus=False)
        res = run_rollouts(bk, job, [RolloutTask(index=0, sign=0.0, seed=s) for s in seeds])
    finally:
        bk.close()
    return np.array([r.env_return for r in res])
