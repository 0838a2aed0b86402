"""The training driver of ``trustopt train``: one loop for the ES and the policy-gradient family.

One iteration ``k`` (:func:`_loop`)::

    state, step = family.iterate(state, k)   # ES:  X = opt.ask(); R = rollouts of opt.asked; opt.tell(X, -R)
                                             # PG:  state, record = core.loop.iterate(method, state, rng_k)
    timesteps += step.steps; episodes += step.episodes
    every eval_every iterations (or first past each multiple of eval_steps timesteps):
        G = family.evaluate(state, SeedSequence([seed, 1, k + 1]) reset seeds),
        policy.npz (and best_policy.npz) rewritten
    progress.csv row appended, checkpoint written, callback called

Restarts (``restart_below`` and ``restart_after``, off by default): the first evaluation on the
grain at least ``restart_after`` timesteps into a start judges it; if none of the start's
evaluations so far reached ``restart_below``, the next iteration begins a new start: the family's
initial state (``W = 0``, empty observation statistics, the optimizer afresh; the ES optimizer of
restart ``r`` seeded by ``default_rng([seed, 4, r])``, while rollouts keep their seeds by
iteration ``k``, which a new start never repeats). A start that passes stays passed: its best only
grows. The decision is made at the evaluation and the restart at the next iteration, so the
decision does not depend on the budget: ``--resume`` with a larger budget continues as an
uninterrupted run (a restart decided at the budget's last iteration is made when the run goes on).
Evaluations count every start's timesteps; policy.npz is the last start's, best_policy.npz the
best over every start. Why: a run can fix a wrong sign early and stay in the trap for its whole
budget (InvertedPendulum's cart-position gain: docs/mujoco-tres-experiments.md), and a new start
is cheaper than waiting.

ES family (TRES Alg. 1; ARS Alg. 1 V2; Salimans et al. 2017 Alg. 2; :class:`_ESFamily`): the
ask/tell optimizer of :func:`_make_optimizer` draws ``2N`` antithetic points
``theta_k +- sigma eps_j`` from the noise table; the rollouts of
:class:`~trustopt.envs.es_sampler.MujocoPerturbationSampler` return their training returns ``R_j``
(reset seeds ``SeedSequence([seed, 0, k])``, one per antithetic pair) and the observation
statistics merged in task order; the optimizer minimizes, so it is told ``-R``. Evaluation: episodes
of ``theta_k`` itself with the current normalizer.

Policy-gradient family (TRPO, NPG, VPG, PPO, TREFree, STRO; :class:`_PGFamily`): the algorithm's
factory composed on the environment (:func:`make_method`, whose sampler is
:class:`~trustopt.envs.pg_sampler.MujocoEpisodeSampler` or TRPO's vine sampler); one iteration is
one call of :func:`trustopt.core.loop.iterate` with ``rng_k = default_rng(SeedSequence([seed, 3,
k]))``, everything random in iteration ``k``. Evaluation: the Gaussian policy's MEAN action
``W z + b`` (no exploration noise) with the current normalizer.

Evaluations report the environment's own return (survival bonus included). A run is a pure
function of its :class:`~trustopt.train.config.TrainConfig`: the same bits with 1 or many workers,
and after ``--resume`` (the checkpoint holds the whole state after every iteration). The run
folder (config.json, progress.csv, checkpoint.pkl, policy.npz, best_policy.npz, and with
``tensorboard=True`` the scalars of every progress row under ``tb/``) is
:mod:`trustopt.train.run_folder`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from trustopt._callbacks import Callback
from trustopt._validation import ValidationError
from trustopt.core.loop import READY, iterate, start
from trustopt.envs import cached_env
from trustopt.envs.es_sampler import MujocoPerturbationSampler
from trustopt.envs.pg_sampler import evaluate_mean_action, obs_normalizer
from trustopt.estimators import RunningMeanStd
from trustopt.noise import NoiseTable
from trustopt.train.config import PG_ALGOS, IdleSettingWarning, TrainConfig, resolve_config
from trustopt.train.checkpoint import CheckpointError, load_checkpoint
from trustopt.train.run_folder import (
    CHECKPOINT,
    PROGRESS,
    STREAM_EVAL,
    STREAM_PG,
    STREAM_RESTART,
    STREAM_TRAIN,
    NewRunGuard,
    RunProgress,
    append_row,
    load_policy,
    open_run,
    reset_seeds,
    save_run,
    warn_version_change,
    write_config,
    write_policies,
)
from trustopt.workers import BACKENDS, check_local_workers, make_backend

__all__ = ["train", "TrainResult", "PROGRESS_COLUMNS", "PG_PROGRESS_COLUMNS", "make_method", "normalizer_arrays"]

#: Columns of progress.csv (eval_mean/eval_std are empty when the iteration was not evaluated).
PROGRESS_COLUMNS = (
    "iteration", "timesteps", "episodes", "wall_s", "eval_mean", "eval_std",
    "train_return_mean", "train_return_std", "train_return_max", "grad_norm", "predicted_gain",
    "step_norm", "sigma", "status",
)
#: progress.csv of the policy-gradient family: the ES columns (``step_norm`` = ``||theta_{k+1} -
#: theta_k||_2``, ``sigma`` = mean policy standard deviation ``exp(log_std)``, ``train_return_*``
#: of the model batch, survival bonus removed) plus the loop's diagnostics.
PG_PROGRESS_COLUMNS = PROGRESS_COLUMNS + ("kl", "accepted", "rho", "radius")


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """``config`` (resolved), ``iterations``, ``timesteps``, ``episodes``, ``wall_s``,
    ``W (act_dim, obs_dim)``, ``obs_mean``, ``obs_std``, ``last_eval`` ((mean, std) or None),
    ``last_eval_iteration`` (the iteration ``last_eval`` scored: ``iterations``, unless a callback
    stopped the run between evaluations or a resumed run went on without them; None without one),
    ``stop_reason`` (``"timesteps"``, ``"target"`` or ``"callback"``), ``out`` (the run folder),
    ``iterations_run`` (the iterations this call ran: 0 when ``resume`` found the run stopped),
    ``restarts`` (new starts the run made: ``TrainConfig.restart_below``), ``best_eval`` (the best
    evaluation mean of any start, best_policy.npz's; None without one)."""

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
    last_eval_iteration: int | None = None
    iterations_run: int = 0
    restarts: int = 0
    best_eval: float | None = None

    @property
    def policy(self):
        """The final policy, as :func:`~trustopt.train.run_folder.load_policy` reads it from ``out``:
        a ``LinearPolicy`` (ES family) or a ``GaussianLinearPolicy`` with ``b`` and ``log_std``
        (policy-gradient family), acting by ``predict(obs)`` on raw observations."""
        return load_policy(self.out)[0]


def normalizer_arrays(rms: RunningMeanStd, enabled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` for the policy ``a = W (s - mean) / std`` from the running statistics.

    ``std = sqrt(M2 / count)``, set to 1 where it is below 1e-8 (a constant observation
    component: ``s - mean = 0`` there anyway); before any data, and when ``enabled`` is
    False, ``mean = 0, std = 1`` (ARS V1 / the first iteration of V2). The rule of
    :func:`trustopt.envs.pg_sampler.obs_normalizer`, which both samplers use.
    """
    return obs_normalizer(rms, rms.shape[0], enabled)


@dataclass(frozen=True)
class _Step:
    """What one iteration reports: environment ``steps`` and ``episodes`` it used, and ``row``, its
    entries of the progress row (``train_return_*`` and the family's diagnostics)."""

    steps: int
    episodes: int
    row: dict


# ------------------------------------------------------------------------------ ES family


def _make_optimizer(c: TrainConfig, d: int, restart: int = 0):
    """The ask/tell optimizer of a RESOLVED ES ``config`` for ``d = obs_dim * act_dim`` parameters:
    the registry's method (:mod:`trustopt.algorithms`) with ``adapt=False`` -- the papers'
    algorithms (fixed ``sigma``, every step accepted: TRES Alg. 1, ARS Alg. 1, Salimans et al.
    Alg. 2), with the settings of :mod:`trustopt.train.config` -- started at ``W = 0`` (TRES/ARS:
    linear policies initialized at zero). Restart ``r > 0``: seeded by ``default_rng([seed, 4, r])``."""
    from trustopt.algorithms import get
    from trustopt.asktell import AskTell

    if c.algo == "tres":
        hp = dict(lambda_=c.lambda_, K=c.K, lr=c.lr)
    elif c.algo == "ars":
        hp = dict(alpha=c.lr, top_fraction=c.top_directions / c.n_directions)
    else:
        hp = dict(lr=c.lr, l2=c.l2, optimizer=c.optimizer)
    method = get(c.algo)(None, theta0=np.zeros(d), sigma0=c.sigma, popsize=2 * c.n_directions,
                         noise=NoiseTable(size=c.noise_table_size), adapt=False, **hp)
    seed = c.seed if restart == 0 else np.random.default_rng([c.seed, STREAM_RESTART, restart])
    return AskTell(method, seed=seed, keep_history=False)


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


@dataclass(eq=False)
class _ESState:
    """The ES family's run state: the ask/tell optimizer and the observation statistics ``S_k``."""

    opt: Any
    obs_rms: RunningMeanStd


class _ESFamily:
    """TRES, ES, ARS: ask, rollouts of the asked perturbations, tell ``-R`` (module docstring)."""

    columns = PROGRESS_COLUMNS

    def __init__(self, config: TrainConfig):
        self.config, self.spec = config, config.env_spec()
        env = cached_env(self.spec)
        self.obs_dim, self.act_dim = env.obs_dim, env.act_dim
        _check_noise_table(config, self.obs_dim * self.act_dim)
        self.sampler = None

    def new_state(self, restart: int = 0) -> _ESState:
        return _ESState(opt=_make_optimizer(self.config, self.obs_dim * self.act_dim, restart),
                        obs_rms=RunningMeanStd.empty(self.obs_dim))

    def noise(self, state: _ESState) -> NoiseTable:
        return state.opt.noise

    def attach(self, backend, state: _ESState) -> None:
        """Run the rollouts on ``backend`` (built with :meth:`noise`)."""
        c = self.config
        self.sampler = MujocoPerturbationSampler(env=self.spec, noise=state.opt.noise, obs_norm=c.obs_norm,
                                                 remove_survival_bonus=c.remove_survival_bonus, backend=backend)

    def iterate(self, state: _ESState, k: int) -> tuple[_ESState, _Step]:
        opt = state.opt
        X = opt.ask()
        draw = opt.asked
        batch = self.sampler.sample(draw, state.obs_rms, reset_seeds(self.config.seed, STREAM_TRAIN, k,
                                                                     self.config.n_directions))
        opt.tell(X, -batch.returns)
        state.obs_rms = batch.obs_rms
        rec, R = opt.last_record, batch.returns
        row = dict(train_return_mean=float(R.mean()), train_return_std=float(R.std()),
                   train_return_max=float(R.max()), grad_norm=getattr(rec, "grad_norm", math.nan),
                   predicted_gain=getattr(rec, "predicted_gain", math.nan),
                   step_norm=getattr(rec, "distance", math.nan), sigma=draw.sigma, status=getattr(rec, "status", ""))
        return state, _Step(steps=batch.n_samples, episodes=int(R.size), row=row)

    def evaluate(self, state: _ESState, seeds) -> np.ndarray:
        return self.sampler.evaluate(state.opt.mean, state.obs_rms, seeds)

    def params(self, state: _ESState) -> np.ndarray:
        return state.opt.mean

    def policy_arrays(self, state: _ESState) -> dict:
        mean, std = normalizer_arrays(state.obs_rms, self.config.obs_norm)
        return dict(W=state.opt.mean.reshape(self.act_dim, self.obs_dim), obs_mean=mean, obs_std=std,
                    obs_count=np.int64(state.obs_rms.count), obs_M2=np.array(state.obs_rms.M2))


# ------------------------------------------------------------------------------ policy-gradient family


def make_method(config: TrainConfig, spec, backend=None):
    """The :class:`~trustopt.core.loop.Method` of a RESOLVED policy-gradient ``config`` on ``spec``
    (an EnvSpec), sampling its episodes on ``backend`` (None: this process)."""
    from trustopt.algorithms import get

    c = config
    sampling = dict(gamma=c.gamma, obs_norm=c.obs_norm, remove_survival_bonus=c.remove_survival_bonus,
                    init_log_std=c.init_log_std, backend=backend)
    if c.vine:  # TRPO's vine sampling (trustopt.envs.vine_sampler.MujocoVineSampler)
        sampling.update(vine=True, n_trunk_episodes=c.n_trunk_episodes, n_rollout_states=c.n_rollout_states,
                        n_actions_per_state=c.n_actions_per_state, rollout_horizon=c.rollout_horizon)
    else:
        sampling.update(batch_steps=c.batch_steps, lambda_=c.lambda_)
    if c.algo == "trpo" or c.algo == "npg":
        hp = dict(delta=c.delta, cg_iters=c.cg_iters, cg_damping=c.cg_damping)
    elif c.algo == "vpg":
        hp = dict(learning_rate=c.lr, delta=c.delta)
    elif c.algo in ("ppo", "trefree"):
        hp = dict(epochs=c.K, n_minibatches=max(1, c.batch_steps // c.minibatch_size), learning_rate=c.lr,
                  optimizer="adam")
        hp.update(epsilon=c.epsilon) if c.algo == "ppo" else hp.update(delta=c.delta)
    else:  # stro: the factory's (paper's) defaults
        hp = {}
    return get(c.algo)(spec, **hp, **sampling)


class _BatchLog:
    """The method's sampler, keeping the batches it returned since :meth:`clear` (the driver
    counts their steps and episodes and reports the returns of the model batch)."""

    def __init__(self, sampler):
        self.sampler = sampler
        self.batches: list = []

    def clear(self) -> None:
        self.batches = []

    def sample(self, policy, theta, rng, baseline=None):
        batch = self.sampler.sample(policy, theta, rng, baseline)
        self.batches.append(batch)
        return batch


class _PGFamily:
    """TRPO, NPG, VPG, PPO, TREFree, STRO: one iteration of the loop (module docstring)."""

    columns = PG_PROGRESS_COLUMNS

    def __init__(self, config: TrainConfig):
        self.config, self.spec = config, config.env_spec()
        self.method = make_method(config, self.spec)  # validates before the run folder or any worker exists
        self.log = self.logged = None

    def new_state(self, restart: int = 0):
        return start(self.method)  # deterministic: iteration k's randomness is keyed by k alone

    def noise(self, state) -> NoiseTable:
        return NoiseTable(size=1)  # episodes never read the table

    def attach(self, backend, state) -> None:
        """Run the episodes on ``backend``."""
        sampler = dataclasses.replace(self.method.sampler, backend=backend)
        self.method = dataclasses.replace(self.method, sampler=sampler)
        self.log = _BatchLog(sampler)
        self.logged = dataclasses.replace(self.method, sampler=self.log)  # what iterate() drives

    def iterate(self, state, k: int):
        rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, STREAM_PG, k]))
        self.log.clear()
        new, record = iterate(self.logged, state, rng)
        batches = self.log.batches
        model = state.batch if state.phase == READY else batches[0]  # the batch the step was modelled on
        R = np.asarray(model.returns, dtype=np.float64)
        ls = self.method.policy.log_std_index
        row = dict(train_return_mean=float(record.eta), train_return_std=float(record.eta_std),
                   train_return_max=float(R.max()) if R.size else math.nan, grad_norm=record.grad_norm,
                   predicted_gain=record.predicted_gain, step_norm=float(np.linalg.norm(new.theta - state.theta)),
                   sigma=float(np.mean(np.exp(new.theta[ls]))), status=record.status, kl=record.kl,
                   accepted=int(record.accepted), rho=record.rho, radius=record.radius)
        return new, _Step(steps=sum(b.n_samples for b in batches), episodes=sum(len(b.returns) for b in batches),
                          row=row)

    def _policy(self, state):
        return self.method.sampler.policy(state.theta, state.baseline)

    def evaluate(self, state, seeds) -> np.ndarray:
        return evaluate_mean_action(self.spec, self._policy(state), seeds, backend=self.method.sampler.backend)

    def params(self, state) -> np.ndarray:
        return state.theta

    def policy_arrays(self, state) -> dict:
        pol, carry = self._policy(state), state.baseline
        count = 0 if carry is None else carry.obs_rms.count
        M2 = np.zeros(pol.obs_dim) if carry is None else np.array(carry.obs_rms.M2)
        return dict(W=np.array(pol.W), b=np.array(pol.b), log_std=np.array(pol.log_std), obs_mean=np.array(pol.mean),
                    obs_std=np.array(pol.std), obs_count=np.int64(count), obs_M2=M2)


# ------------------------------------------------------------------------------ the driver


def train(config: TrainConfig, out, *, workers: int = 1, backend: str = "process", resume: bool = False,
          progress: bool | None = None, callback: Callable[[Any], Any] | None = None,
          ray_address: str | None = None, tensorboard: bool = False) -> TrainResult:
    """Train ``config`` (resolved with :func:`~trustopt.train.config.resolve_config`) into ``out``.

    ``workers``/``backend`` choose where rollouts run (never what they compute); ``ray_address``
    (``backend="ray"`` only): an existing Ray cluster, None: a local Ray instance. ``resume``:
    continue from ``out/checkpoint.pkl`` (must exist and match the config except for
    :func:`~trustopt.train.run_folder.resumable_fields`: a larger ``timesteps`` trains a finished
    run further, to the same bits as an uninterrupted run with that budget; a run finished under
    the new settings just rewrites ``policy.npz``); without it ``out`` must not hold a checkpoint.
    ``progress``: a tqdm bar (iteration, timesteps, return, steps/s) on stderr; it shows the real
    timestep count, which the last iteration may take past ``config.timesteps`` (iterations are whole).
    None (default): a bar when stderr is a terminal (none in a log file or a pipe).
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
    On ``resume`` under other library versions than config.json recorded, one
    :class:`~trustopt.train.run_folder.VersionMismatchWarning`.
    Raises :class:`~trustopt.train.checkpoint.CheckpointError` for a missing, corrupt, mismatched
    or other-version checkpoint, :class:`~trustopt.ValidationError` for bad settings.
    """
    config = _check_arguments(config, workers, backend, tensorboard, callback, ray_address)
    family = _PGFamily(config) if config.algo in PG_ALGOS else _ESFamily(config)
    out = os.fspath(out)
    with _session(out, config, family, resume=resume, workers=workers, backend=backend, ray_address=ray_address,
                  progress=progress, tensorboard=tensorboard, callback=callback) as (run, bar, on_iteration):
        start = run.iteration
        try:
            _loop(config, family, run, out, bar, on_iteration)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM ends a run too: policy.npz is its checkpoint's
            _write_checkpointed_policy(out, config, family)
            raise
    arrays = family.policy_arrays(run.state)
    write_policies(out, arrays, config, run, evaluated=False)
    return TrainResult(config=config, iterations=run.iteration, timesteps=run.timesteps, episodes=run.episodes,
                       wall_s=run.wall_s, W=arrays["W"], obs_mean=arrays["obs_mean"], obs_std=arrays["obs_std"],
                       last_eval=run.last_eval, stop_reason=run.stop_reason, out=out,
                       last_eval_iteration=run.eval_iteration, iterations_run=run.iteration - start,
                       restarts=run.restarts, best_eval=run.best_eval)


def _check_arguments(config, workers, backend: str, tensorboard: bool, callback, ray_address=None) -> TrainConfig:
    """The resolved config, after checking every argument that can be checked before anything runs
    (a missing optional Ray or TensorBoard included)."""
    if not isinstance(config, TrainConfig):
        raise ValidationError(f"config: expected a TrainConfig, got {type(config).__name__}")
    config = resolve_config(config)
    if config.restart_after is not None and config.restart_after >= config.timesteps:
        # a restart begins at the iteration after its decision, and none is left
        warnings.warn(f"restart_after: {config.restart_after} is not below timesteps = {config.timesteps}, so no "
                      "start is judged within the budget and this run never restarts", IdleSettingWarning,
                      stacklevel=3)
    if backend not in BACKENDS:
        raise ValidationError(f"backend: unknown {backend!r}; choose one of {', '.join(sorted(BACKENDS))}")
    check_local_workers(workers, backend, ray_address=ray_address)
    if backend == "ray":
        from trustopt.workers_ray import import_ray

        import_ray()
    if tensorboard:
        from trustopt.train.tensorboard import import_tensorboard

        import_tensorboard()
    Callback(callback)  # a non-callable is an error before anything runs
    return config


@contextlib.contextmanager
def _session(out: str, config: TrainConfig, family, *, resume: bool, workers: int, backend: str, ray_address,
             progress: bool, tensorboard: bool, callback):
    """What the loop runs inside: the run folder opened (a new run that fails before its first saved
    iteration is removed, :class:`~trustopt.train.run_folder.NewRunGuard`), config.json written,
    and the worker backend, the progress bar and the TensorBoard writer, closed however the run
    ends. Yields ``(run, bar, on_iteration)``, ``on_iteration(row, x) -> stop`` being the
    end-of-iteration hook."""
    with NewRunGuard(out, resume) as guard:
        run = open_run(out, config, resume, family.columns, lambda: RunProgress(family.new_state()))
        if resume:
            warn_version_change(out)
        write_config(out, config, {"workers": workers, "backend": backend, "ray_address": ray_address})
        bk = make_backend(backend, workers, family.noise(run.state), address=ray_address)
        bar = _progress_bar(config, run) if (sys.stderr.isatty() if progress is None else progress) else None
        tb = _tensorboard_writer(out, tensorboard, resume)
        try:
            family.attach(bk, run.state)
            yield run, bar, guard.callback(callback, tb)
        finally:
            bk.close()
            if bar is not None:
                bar.close()
            if tb is not None:
                tb.close()


def _write_checkpointed_policy(out: str, config: TrainConfig, family) -> None:
    """policy.npz of the iteration the checkpoint holds, as at the end of a run (``trustopt eval``
    and ``load_policy`` read it; the interrupt may have come mid-iteration, where the state in
    memory is half updated); nothing before the first iteration."""
    try:
        saved = load_checkpoint(os.path.join(out, CHECKPOINT))["state"]
    except CheckpointError:  # (not expected: checkpoints are written atomically) the interrupt is what to report
        return
    if saved.iteration > 0:
        write_policies(out, family.policy_arrays(saved.state), config, saved, evaluated=False)


def _loop(config: TrainConfig, family, run: RunProgress, out: str, bar, on_iteration) -> None:
    """Iterations until the budget, the target or the callback stops the run (module docstring)."""
    ckpt_path, prog_path = os.path.join(out, CHECKPOINT), os.path.join(out, PROGRESS)
    while run.stop_reason is None:
        if run.timesteps >= config.timesteps:
            run.stop_reason = "timesteps"
            break
        t0 = time.perf_counter()
        restarting = run.restart_pending
        if restarting:
            _restart(family, run)
        run.state, step = family.iterate(run.state, run.iteration)
        run.timesteps += step.steps
        run.episodes += step.episodes
        run.iteration += 1
        ev = (math.nan, math.nan)
        on_grain = config.evaluates(run.iteration, run.timesteps - step.steps, run.timesteps)
        if on_grain or config.evaluates_last(run.timesteps):
            G = family.evaluate(run.state, reset_seeds(config.seed, STREAM_EVAL, run.iteration, config.eval_episodes))
            ev = run.last_eval = (float(G.mean()), float(G.std()))
            run.eval_iteration = run.iteration
            write_policies(out, family.policy_arrays(run.state), config, run, evaluated=True)
            if on_grain and config.restart_below is not None:
                _judge_start(config, run, ev[0])
        dt = time.perf_counter() - t0
        run.wall_s += dt
        row = dict(iteration=run.iteration, timesteps=run.timesteps, episodes=run.episodes,
                   wall_s=round(run.wall_s, 3), eval_mean=ev[0], eval_std=ev[1], **step.row)
        if restarting:
            row["status"] = "restart" if row["status"] == "ok" else f"restart; {row['status']}"
        append_row(prog_path, row, family.columns, run)
        if config.target is not None and on_grain and ev[0] >= config.target:
            run.stop_reason = "target"
        save_run(ckpt_path, config, run)
        _show_progress(bar, run, row["train_return_mean"], steps_per_s=step.steps / max(dt, 1e-9))
        if on_iteration(row, family.params(run.state)) and run.stop_reason is None:
            run.stop_reason = "callback"


def _judge_start(config: TrainConfig, run: RunProgress, eval_mean: float) -> None:
    """After an evaluation on the grain: the current start's best so far (a NaN evaluation counts
    as none), and, from ``restart_after`` timesteps into the start on, a restart when that best is
    below ``restart_below``. The first such evaluation decides: a start that passes it passes
    every later one, since its best only grows."""
    run.start_best = max(run.start_best, eval_mean)
    elapsed = run.timesteps - run.start_timesteps
    run.restart_pending = elapsed >= config.restart_after and run.start_best < config.restart_below


def _restart(family, run: RunProgress) -> None:
    """A new start: the family's initial state, restart number ``run.restarts + 1``."""
    run.restarts += 1
    run.state = family.new_state(restart=run.restarts)
    run.start_timesteps, run.start_best, run.restart_pending = run.timesteps, -math.inf, False


def _progress_bar(config: TrainConfig, run: RunProgress):
    """The tqdm bar: real timesteps against the budget (the last whole iteration may pass it),
    iteration, return, eval and steps/s in the postfix.

    Without tqdm's monitor thread: the worker pool forks (at its first batch, and again after a
    worker died), and a fork while another thread holds a lock can leave the child blocked on
    that lock for ever. The monitor only forces a refresh that ``miniters`` held back; with
    ``miniters=1`` every update (one per iteration) refreshes."""
    from tqdm import tqdm

    class Bar(tqdm):
        monitor_interval = 0

    return Bar(total=config.timesteps, initial=run.timesteps, unit="step", unit_scale=True, dynamic_ncols=True,
               miniters=1, desc=f"{config.algo} {config.env_id} (budget {tqdm.format_sizeof(config.timesteps)} steps)")


def _show_progress(bar, run: RunProgress, train_return: float, steps_per_s: float) -> None:
    if bar is None:
        return
    post = {"it": run.iteration, "ret": f"{train_return:.1f}", "steps/s": f"{steps_per_s:.0f}"}
    if run.restarts:
        post["restarts"] = run.restarts
    if run.last_eval is not None and (not run.restarts or run.start_best > -math.inf):  # of this start only
        post["eval"] = f"{run.last_eval[0]:.1f}"
    bar.set_postfix(post, refresh=False)
    if run.timesteps > bar.total:  # the last whole iteration passed the budget: a full bar, not one without a
        bar.total = run.timesteps  # percentage (the budget stays in its description)
    bar.update(run.timesteps - bar.n)  # the real count


def _tensorboard_writer(out: str, enabled: bool, resume: bool):
    """The writer of ``out/tb`` (None when not ``enabled``); a run resumed with it for the first
    time gets the rows of its progress.csv (already cut back to the checkpoint) first."""
    if not enabled:
        return None
    from trustopt.train.tensorboard import ScalarWriter

    logdir = os.path.join(out, "tb")
    first = resume and not os.path.isdir(logdir)
    writer = ScalarWriter(logdir)
    if first:
        writer.log_progress(os.path.join(out, PROGRESS))
    return writer
