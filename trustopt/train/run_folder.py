"""The run folder of :func:`trustopt.train.train`: its files, the checkpoint, the policy files.

A run folder (``out``) holds:

* ``config.json``: the resolved config, the runtime options (workers, backend, Ray address) and
  the ``versions`` of :data:`VERSIONED` (:func:`library_versions`);
* ``progress.csv``: one row per iteration (the trainer's columns), appended, flushed and fsynced
  (:func:`append_row`); its length at each checkpoint is recorded, so that a resume cuts off a row
  written after the checkpoint;
* ``checkpoint.pkl``: ``{"format": CHECKPOINT_FORMAT, "config": ..., "state": run}`` written
  atomically after every iteration (:mod:`trustopt.train.checkpoint`: write, fsync, rename);
  ``run`` a :class:`RunProgress` holding the family's state;
* ``policy.npz`` (the current policy, rewritten atomically at every evaluation and at the end) and
  ``best_policy.npz`` (the policy of the evaluation with the highest mean return so far; the first
  of equal ones): the policy's arrays (ES family: ``W (act_dim, obs_dim)``; policy-gradient family:
  also ``b``, ``log_std (act_dim,)``), ``obs_mean``, ``obs_std``, the normalizer's ``obs_count``,
  ``obs_M2``, the action space's ``action_low``/``action_high``, ``env_id``, ``env_kwargs`` (JSON),
  ``env_module``, ``max_episode_steps`` (the run's episode limit; 0: the environment's own), ``algo``,
  ``iteration``, ``timesteps`` and ``eval_mean`` (the mean return of this
  policy's evaluation, NaN if it had none).

Every write is atomic, so a crash or a full disk leaves the last checkpoint and a resumable folder.
A checkpoint pickles the run's state, whose classes belong to one version of trustopt: a
checkpoint of another :data:`CHECKPOINT_FORMAT` (or one whose classes this version cannot
unpickle) is refused with a :class:`CheckpointError` saying so.

Random streams of a run: the reset seeds of stream ``s`` at iteration ``k`` are
``SeedSequence([seed, s, k])`` (:func:`reset_seeds`), so a run is a pure function of its config.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
import math
import os
import warnings

import numpy as np

from trustopt._callbacks import Callback
from trustopt._io import OutputError, make_folder, output_error, writing
from trustopt._validation import ValidationError, readonly
from trustopt.envs import EnvSpec, GaussianLinearPolicy, LinearPolicy, cached_env
from trustopt.envs.es_sampler import evaluate_linear
from trustopt.envs.pg_sampler import evaluate_mean_action
from trustopt.noise import NoiseTable
from trustopt.train.checkpoint import CheckpointError, atomic_write_bytes, load_checkpoint, save_checkpoint
from trustopt.train.config import TrainConfig
from trustopt.workers import check_local_workers, make_backend

__all__ = [
    "BEST_POLICY",
    "CHECKPOINT",
    "CHECKPOINT_FORMAT",
    "CONFIG",
    "POLICY",
    "PROGRESS",
    "RESUMABLE_FIELDS",
    "resumable_fields",
    "STREAM_EVAL",
    "STREAM_PG",
    "STREAM_RESTART",
    "STREAM_POLICY_EVAL",
    "STREAM_TRAIN",
    "VERSIONED",
    "RunProgress",
    "VersionMismatchWarning",
    "append_row",
    "evaluate_policy",
    "library_versions",
    "load_policy",
    "open_run",
    "policy_eval_seeds",
    "reset_seeds",
    "seed_checkpoints",
    "save_run",
    "write_policies",
]

CHECKPOINT, POLICY, CONFIG, PROGRESS = "checkpoint.pkl", "policy.npz", "config.json", "progress.csv"
BEST_POLICY = "best_policy.npz"
#: The layout of the run state a checkpoint pickles; a checkpoint of another layout is refused.
CHECKPOINT_FORMAT = 3
#: Distributions whose versions a run records in config.json (``versions``).
VERSIONED = ("trustopt", "numpy", "scipy", "numba", "mujoco", "gymnasium")
#: Settings a resumed run may change: the budget, evaluation and the target decide when the run
#: stops and what it reports, never its trajectory (evaluation episodes have their own seeds and
#: touch neither the parameters nor the normalizer).
RESUMABLE_FIELDS = ("timesteps", "eval_every", "eval_steps", "eval_episodes", "target")
#: Seed streams: training rollouts (ES), in-training evaluation, `trustopt eval`, policy-gradient
#: batches, the ES optimizer of a restart.
STREAM_TRAIN, STREAM_EVAL, STREAM_POLICY_EVAL, STREAM_PG, STREAM_RESTART = 0, 1, 2, 3, 4
#: What a failed write in a run folder adds to its message: every file is written atomically and
#: progress.csv is cut back to the checkpoint on resume, so the folder stays resumable.
_RESUMABLE_HINT = "; the run folder keeps its last checkpoint: rerun with --resume once this is fixed"


def reset_seeds(seed: int, stream: int, k: int, n: int) -> list[int]:
    """``n`` reset seeds (uint32) of ``stream`` at iteration ``k``: ``SeedSequence([seed, stream, k])``."""
    return [int(s) for s in np.random.SeedSequence([seed, stream, k]).generate_state(n, dtype=np.uint32)]


def policy_eval_seeds(seed: int, episodes: int) -> list[int]:
    """The reset seeds of :func:`evaluate_policy`'s ``episodes`` (and of ``trustopt eval``'s videos)."""
    return reset_seeds(seed, STREAM_POLICY_EVAL, 0, episodes)


def seed_checkpoints(out: str) -> list[str]:
    """The checkpoints of the runs of ``trustopt train --seeds`` in ``out`` (``out/seed-S``), sorted."""
    return sorted(glob.glob(os.path.join(glob.escape(out), "seed-*", CHECKPOINT)))


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


class RunProgress:
    """A run as the checkpoint pickles it (its ``state``): iterations, timesteps and episodes so
    far, training wall time, the last evaluation ``(mean, std)``, the best evaluation mean, why it
    stopped, the length of ``progress.csv`` at the checkpoint, and ``state``, the family's own
    (ES: the optimizer and the observation statistics; policy gradient: the loop state).

    Restarts (``TrainConfig.restart_below``): ``restarts`` so far, the timestep ``start_timesteps``
    at which the current start began, its best evaluation ``start_best`` (on the evaluation grain),
    and ``restart_pending``, a restart decided at the last evaluation and made when the next
    iteration begins. Class attributes, so that a checkpoint
    pickled before restarts existed reads as a run that never restarted."""

    restarts = 0
    start_timesteps = 0
    start_best = -math.inf
    restart_pending = False

    def __init__(self, state):
        self.iteration = 0
        self.timesteps = 0
        self.episodes = 0
        self.wall_s = 0.0
        self.last_eval = None
        self.eval_iteration = None
        self.best_eval = None
        self.stop_reason = None
        self.progress_bytes = 0
        self.state = state


def run_file(path: str):
    """Writes to ``path`` in a run folder: an OSError (a full disk) becomes a one-line
    :class:`~trustopt._io.OutputError` naming ``out``."""
    return writing("out", path, hint=_RESUMABLE_HINT)


def write_config(out: str, config: TrainConfig, runtime: dict) -> None:
    """config.json: the config, ``runtime`` and :func:`library_versions` (atomically)."""
    text = json.dumps({**config.to_dict(), "runtime": runtime, "versions": library_versions()}, indent=2,
                      sort_keys=True) + "\n"
    path = os.path.join(out, CONFIG)
    with run_file(path):
        atomic_write_bytes(path, text.encode())


def warn_version_change(out: str) -> None:
    """On resume: one :class:`VersionMismatchWarning` listing the versions that differ from those
    the run's config.json recorded (nothing to compare when it recorded none)."""
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
                      VersionMismatchWarning, stacklevel=4)


# ------------------------------------------------------------------------------ progress and checkpoint


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return str(v)


def append_row(prog_path: str, row: dict, columns, run: RunProgress) -> None:
    """Append ``row`` (its ``columns``; NaN and None as empty cells) to progress.csv, flushed and
    fsynced; ``run.progress_bytes`` records the file's new length."""
    with run_file(prog_path), open(prog_path, "a", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow([_fmt(row[c]) for c in columns])
        f.flush()
        os.fsync(f.fileno())
        run.progress_bytes = f.tell()


def save_run(ckpt_path: str, config: TrainConfig, run: RunProgress) -> None:
    """Write the checkpoint of ``run`` atomically."""
    with run_file(ckpt_path):
        save_checkpoint(ckpt_path, {"format": CHECKPOINT_FORMAT, "config": config.to_dict(), "state": run})


def resumable_fields(saved: dict) -> tuple[str, ...]:
    """The settings a resumed run with the config dict ``saved`` may change: :data:`RESUMABLE_FIELDS`,
    but with restarts (``restart_below``) only ``timesteps`` and ``target``, since the restarts
    are decided on the evaluations' grain and returns."""
    if saved.get("restart_below") is None:
        return RESUMABLE_FIELDS
    return ("timesteps", "target")


def _check_same_config(saved: dict, config: TrainConfig, path: str) -> None:
    now, free = config.to_dict(), resumable_fields(saved)
    diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in free)
    if diff:
        detail = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {now.get(k)!r}" for k in diff)
        raise CheckpointError(f"checkpoint: {path} was written by a different configuration ({detail}); "
                              f"resume with the same settings (only {', '.join(free)} may change) "
                              "or choose another --out")


def _load_run(ckpt_path: str, config: TrainConfig) -> RunProgress:
    """The run of a checkpoint of this :data:`CHECKPOINT_FORMAT` and configuration."""
    payload = load_checkpoint(ckpt_path)
    if payload.get("format") != CHECKPOINT_FORMAT or not isinstance(payload.get("state"), RunProgress):
        raise CheckpointError(f"checkpoint: {ckpt_path} was written by another version of trustopt (checkpoint "
                              f"format {payload.get('format', 1)}, this version reads {CHECKPOINT_FORMAT}); continue "
                              "it with that version, or start a new run in another --out")
    _check_same_config(payload["config"], config, ckpt_path)
    run = payload["state"]
    # a finished run continues when the new settings no longer stop it (a larger budget, another target)
    if run.stop_reason == "timesteps" or (run.stop_reason == "target" and payload["config"].get("target")
                                          != config.target):
        run.stop_reason = None
    return run


def _cut_progress(prog_path: str, run: RunProgress) -> None:
    """Cut progress.csv back to the rows the checkpoint counted (truncate() would pad a short file
    with NUL bytes, so a short or missing file is an error)."""
    size = os.path.getsize(prog_path) if os.path.isfile(prog_path) else None
    if size is None or size < run.progress_bytes:
        state = ("is missing" if size is None else
                 f"has {size} bytes, fewer than the {run.progress_bytes} the checkpoint counted")
        raise CheckpointError(f"out: {prog_path} {state}: the run's progress rows are lost, so it cannot be "
                              "resumed; choose another --out")
    with run_file(prog_path), open(prog_path, "r+b") as f:
        f.truncate(run.progress_bytes)


def open_run(out: str, config: TrainConfig, resume: bool, columns, new_run) -> RunProgress:
    """The run of ``out``: with ``resume``, the checkpoint's (format and config checked, a finished
    run reopened when the new settings no longer stop it, ``progress.csv`` cut back to the rows
    the checkpoint knows); otherwise ``new_run()``, after creating ``out`` with a ``progress.csv``
    header (``columns``, fsynced) and a first checkpoint."""
    ckpt_path, prog_path = os.path.join(out, CHECKPOINT), os.path.join(out, PROGRESS)
    if resume:
        run = _load_run(ckpt_path, config)
        _cut_progress(prog_path, run)
        return run
    if os.path.exists(ckpt_path):
        raise CheckpointError(f"out: {out} already holds a run (checkpoint.pkl); continue it with --resume "
                              "(train(..., resume=True)) or choose another --out")
    if not out:
        raise ValidationError("out: expected a folder name, got ''")
    seeds = seed_checkpoints(out)
    if seeds:  # the folder of a --seeds run: a run beside its seeds would be drawn in their place
        names = ", ".join(os.path.basename(os.path.dirname(p)) for p in seeds[:3]) + (", ..." if len(seeds) > 3 else "")
        raise CheckpointError(f"out: {out} holds the runs of --seeds ({names}); choose another --out")
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f"out: {out} exists and is not a folder; choose another --out")
    run = new_run()  # before the folder exists: a run that cannot be built leaves nothing behind
    make_folder("out", out)
    with run_file(prog_path), open(prog_path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow(columns)  # "\n" as pandas, awk and SB3 write it (csv: "\r\n")
        f.flush()
        os.fsync(f.fileno())
        run.progress_bytes = f.tell()
    save_run(ckpt_path, config, run)
    return run


class NewRunGuard:
    """A new run that fails before its first iteration is saved leaves no run folder behind,
    so that the corrected command can be rerun into the same ``out``.

    ``with NewRunGuard(out, resume) as guard:`` around opening and running; ``guard.callback(cb)``
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
        ``callback`` by trustopt's convention (:func:`trustopt.train.train`)."""
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


# ------------------------------------------------------------------------------ policy files


def env_bounds(spec: EnvSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(action_low, action_high)`` of the environment of ``spec``."""
    env = cached_env(spec)
    return np.array(env.action_low, dtype=np.float64), np.array(env.action_high, dtype=np.float64)


def _evaluated_now(run: RunProgress) -> bool:
    """Whether the run's last evaluation is of its current iteration's policy."""
    return run.last_eval is not None and run.eval_iteration == run.iteration


def _policy_bytes(arrays: dict, config: TrainConfig, run: RunProgress) -> bytes:
    """policy.npz's bytes: the policy's ``arrays`` and what loading and evaluating it needs."""
    low, high = env_bounds(config.env_spec())
    buf = io.BytesIO()
    np.savez(buf, **arrays, action_low=low, action_high=high, env_id=np.str_(config.env_id),
             env_kwargs=np.str_(json.dumps(config.env_kwargs or {}, sort_keys=True)),
             env_module=np.str_(config.env_module or ""), algo=np.str_(config.algo),
             max_episode_steps=np.int64(config.max_episode_steps or 0),
             iteration=np.int64(run.iteration), timesteps=np.int64(run.timesteps),
             eval_mean=np.float64(run.last_eval[0] if _evaluated_now(run) else math.nan))
    return buf.getvalue()


def write_policies(out: str, arrays: dict, config: TrainConfig, run: RunProgress, evaluated: bool) -> None:
    """Write policy.npz of the policy's ``arrays`` (atomically); after an evaluation whose mean
    beats every earlier one, also best_policy.npz (``run.best_eval`` records it, in the checkpoint)."""
    data = _policy_bytes(arrays, config, run)
    path = os.path.join(out, POLICY)
    with run_file(path):
        atomic_write_bytes(path, data)
    if evaluated and math.isfinite(run.last_eval[0]) and (run.best_eval is None or run.last_eval[0] > run.best_eval):
        best = os.path.join(out, BEST_POLICY)
        with run_file(best):
            atomic_write_bytes(best, data)
        run.best_eval = run.last_eval[0]


def _read_npz(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            is_npz = f.read(4) == b"PK\x03\x04"  # a zip archive, as np.savez writes
        if not is_npz:
            raise ValidationError(f"run: {path} is not a policy file (not an .npz archive); expected a run folder "
                                  f"or its {POLICY}")
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ValidationError(f"run: {path} does not exist (has the run finished?)") from None
    except ValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise ValidationError(f"run: {path} is not a readable policy file ({exc}); expected a run folder or its "
                              f"{POLICY}") from None


def load_policy(path):
    """``(policy, env_id, dict of the npz arrays)`` from a run folder (its ``policy.npz``) or a
    policy file (``policy.npz``, ``best_policy.npz``): a ``LinearPolicy`` for the ES family, a
    ``GaussianLinearPolicy`` (``W``, ``b``, ``log_std``) for the policy-gradient family; both act by
    ``policy.predict(obs, deterministic=True)`` on raw observations (the run's normalizer inside,
    actions clipped to the action space's bounds). A file's ``env_module`` is imported here, so
    that ``gymnasium.make(env_id, **env_kwargs)`` works afterwards; a file without the bounds gets
    them from the environment."""
    path = os.fspath(path)
    if os.path.isdir(path):
        runs = sorted(d for d in os.listdir(path) if os.path.isfile(os.path.join(path, d, POLICY)))
        if runs and not os.path.exists(os.path.join(path, POLICY)):  # e.g. the OUT of train --seeds
            raise ValidationError(f"run: {path} is a folder of runs ({', '.join(runs[:4])}"
                                  f"{', ...' if len(runs) > 4 else ''}): give one of them, e.g. "
                                  f"{os.path.join(path, runs[0])}")
        path = os.path.join(path, POLICY)
    data = _read_npz(path)
    missing = {"W", "obs_mean", "obs_std", "env_id"} - set(data)
    if missing:
        raise ValidationError(f"run: {path} lacks {', '.join(sorted(missing))}")
    spec = saved_env_spec(data)  # imports env_module
    if "action_low" not in data:
        data["action_low"], data["action_high"] = env_bounds(spec)
    common = dict(W=data["W"], mean=data["obs_mean"], std=data["obs_std"], action_low=data["action_low"],
                  action_high=data["action_high"])
    if "b" in data and "log_std" in data:
        policy = GaussianLinearPolicy(b=data["b"], log_std=data["log_std"], **common)
    else:
        policy = LinearPolicy(**common)
    return policy, str(data["env_id"]), data


def load_env(path, **make_kwargs):
    """The Gymnasium environment a run trained on: its ``env_id`` with its ``env_kwargs``, its
    ``max_episode_steps`` and its ``env_module`` imported (``gymnasium.make(env_id)`` alone drops
    them), from a run folder or a policy file as :func:`load_policy` takes; ``make_kwargs`` go to
    ``gymnasium.make`` (e.g. ``render_mode="human"``)."""
    _, _, data = load_policy(path)
    return saved_env_spec(data).gymnasium_env(**make_kwargs)


def saved_env_spec(data: dict, max_episode_steps: int | None = None) -> EnvSpec:
    """The EnvSpec a policy file was trained on (env_id, env_kwargs, env_module, and the run's
    ``max_episode_steps`` unless ``max_episode_steps`` is given; files written before it was
    recorded get the environment's own limit)."""
    kwargs = json.loads(str(data["env_kwargs"])) if "env_kwargs" in data else {}
    module = str(data["env_module"]) if "env_module" in data else ""
    if max_episode_steps is None and int(data.get("max_episode_steps", 0)) > 0:
        max_episode_steps = int(data["max_episode_steps"])
    return EnvSpec(env_id=str(data["env_id"]), kwargs=kwargs, max_episode_steps=max_episode_steps,
                   module=module or None)


def evaluate_policy(path, *, episodes: int = 100, seed: int = 1_000_003, workers: int = 1,
                    backend: str = "process", max_episode_steps: int | None = None) -> np.ndarray:
    """Environment returns ``(episodes,)`` of the saved deterministic policy of a run.

    Episodes reset with seeds ``SeedSequence([seed, 2, 0])`` (:data:`STREAM_POLICY_EVAL`, disjoint
    from the training and in-training evaluation streams for the default ``seed``); the
    environment's own reward, on the environment the run trained on (its ``env_kwargs``, its
    ``env_module`` imported, its ``max_episode_steps`` unless ``max_episode_steps`` is given). A
    Gaussian policy (policy-gradient family) runs its MEAN action
    ``W z + b``. ``workers``/``backend`` choose where the episodes run, never their returns.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValidationError(f"episodes: expected an integer >= 1, got {episodes!r}")
    check_local_workers(workers, backend)
    policy, _, data = load_policy(path)
    spec = saved_env_spec(data, max_episode_steps)
    seeds = policy_eval_seeds(seed, episodes)
    cached_env(spec)  # built here first, as the trainer does: its errors and MuJoCo's warnings are said once, here
    bk = make_backend(backend, workers, NoiseTable(size=1))  # evaluation never reads the noise table
    try:
        if isinstance(policy, GaussianLinearPolicy):
            return evaluate_mean_action(spec, policy, seeds, backend=bk)
        return evaluate_linear(spec, policy, seeds, backend=bk)
    finally:
        bk.close()
