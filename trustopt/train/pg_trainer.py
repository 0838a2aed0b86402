"""The training driver for the policy-gradient family (TRPO, NPG, VPG, PPO, TREFree, STRO) on MuJoCo.

Each iteration is one iteration of THE loop (:mod:`trustopt.core.loop`, STRO Alg. 4.3) of the
algorithm's factory (:mod:`trustopt.algorithms`) composed on the environment, driven by ask/tell::

    rng_k = default_rng(SeedSequence([seed, 3, k]))        # everything random in iteration k
    theta = ask(state)                                     # theta_k (or a trial point for STRO)
    batch = sampler.sample(policy, theta, rng_k, carry)    # MujocoEpisodeSampler: whole episodes,
                                                           #   normalizer frozen, GAE, baseline
    state, record = tell(method, state, batch, rng_k)      # model, step, acceptance, radius

The loop state (``theta_k``, the carried normalizer and value baseline, the radius) is the
checkpoint, written atomically after every iteration, so ``--resume`` continues to the same
bits as an uninterrupted run. Episodes run on ``workers`` processes (or Ray actors) of the
chosen backend (:class:`~trustopt.envs.pg_sampler.MujocoEpisodeSampler`: the batch is the same
shortest prefix of seeded episodes for any number of workers). Evaluation runs the Gaussian
policy's MEAN action ``W z + b`` (no exploration noise) with the current normalizer, reporting the
environment's own return; the reset seeds of the evaluation of iteration ``k`` are those of the
ES driver (``SeedSequence([seed, 1, k])``).

``policy.npz`` (rewritten at every evaluation and at the end; ``best_policy.npz`` at the best
evaluation, as in :mod:`trustopt.train.trainer`): ``W (act_dim, obs_dim)``, ``b (act_dim,)``,
``log_std (act_dim,)``, ``obs_mean``, ``obs_std``, ``obs_count``, ``obs_M2``, ``action_low``,
``action_high``, ``env_id``, ``env_kwargs``, ``env_module``, ``algo``, ``iteration``, ``timesteps``,
``eval_mean``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time

import numpy as np

from trustopt.core.loop import NEED_MODEL, READY, ask, start, tell
from trustopt.noise import NoiseTable
from trustopt.train.config import TrainConfig
from trustopt.train.trainer import RunProgress

__all__ = ["PG_PROGRESS_COLUMNS", "make_method", "train_pg"]

#: progress.csv of the policy-gradient family: the ES columns (``step_norm`` = ``||theta_{k+1} -
#: theta_k||_2``, ``sigma`` = mean policy standard deviation ``exp(log_std)``, ``train_return_*``
#: of the model batch, survival bonus removed) plus the loop's diagnostics.
PG_PROGRESS_COLUMNS = (
    "iteration", "timesteps", "episodes", "wall_s", "eval_mean", "eval_std",
    "train_return_mean", "train_return_std", "train_return_max", "grad_norm", "predicted_gain",
    "step_norm", "sigma", "status", "kl", "accepted", "rho", "radius",
)

_STREAM_PG = 3


def make_method(config: TrainConfig, spec, backend=None):
    """The :class:`~trustopt.core.loop.Method` of a RESOLVED ``config`` on ``spec`` (an EnvSpec),
    sampling its episodes on ``backend`` (None: this process)."""
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


class _PGRun(RunProgress):
    """A run of the policy-gradient family: the loop state (theta, carried normalizer and
    baseline, radius)."""

    def __init__(self, loop_state):
        super().__init__()
        self.loop = loop_state


def _final_policy(method, run: _PGRun):
    return method.sampler.policy(run.loop.theta, run.loop.baseline)


def _save_policy(out: str, config: TrainConfig, method, run: _PGRun, evaluated: bool = False) -> None:
    from trustopt.train.trainer import _policy_bytes, _write_policies

    pol = _final_policy(method, run)
    carry = run.loop.baseline
    count = 0 if carry is None else carry.obs_rms.count
    M2 = np.zeros(pol.obs_dim) if carry is None else np.array(carry.obs_rms.M2)
    arrays = dict(W=np.array(pol.W), b=np.array(pol.b), log_std=np.array(pol.log_std), obs_mean=np.array(pol.mean),
                  obs_std=np.array(pol.std), obs_count=np.int64(count), obs_M2=M2)
    bounds = _bounds(config.env_spec())
    _write_policies(out, _policy_bytes(arrays, config, run, bounds), run, evaluated)


def _bounds(spec):
    from trustopt.envs import cached_env
    from trustopt.train.trainer import _env_bounds

    return _env_bounds(cached_env(spec))


def train_pg(config: TrainConfig, out: str, *, workers: int, backend: str, resume: bool, progress: bool,
             callback, ray_address, tensorboard: bool = False):
    """:func:`trustopt.train.train` for a RESOLVED policy-gradient ``config`` (see the module docstring)."""
    from trustopt.train.trainer import TrainResult, _session

    spec = config.env_spec()
    method = make_method(config, spec)  # validates before the run folder or any worker exists
    with _session(out, config, resume, PG_PROGRESS_COLUMNS, lambda: _PGRun(start(method)), _PGRun,
                  noise=lambda run: NoiseTable(size=1),  # episodes never read the table
                  workers=workers, backend=backend, ray_address=ray_address, progress=progress,
                  tensorboard=tensorboard, callback=callback) as (run, bk, bar, on_iteration):
        method = dataclasses.replace(method, sampler=dataclasses.replace(method.sampler, backend=bk))
        _loop(config, method, run, spec, out, bar, on_iteration)
    _save_policy(out, config, method, run)
    pol = _final_policy(method, run)
    return TrainResult(config=config, iterations=run.iteration, timesteps=run.timesteps, episodes=run.episodes,
                       wall_s=run.wall_s, W=np.array(pol.W), obs_mean=np.array(pol.mean), obs_std=np.array(pol.std),
                       last_eval=run.last_eval, stop_reason=run.stop_reason, out=out)


def _evaluate(config, method, run: _PGRun, spec) -> tuple[float, float]:
    from trustopt.envs.pg_sampler import evaluate_mean_action
    from trustopt.train.trainer import _STREAM_EVAL, _seeds

    seeds = _seeds(config.seed, _STREAM_EVAL, run.iteration, config.eval_episodes)
    G = evaluate_mean_action(spec, _final_policy(method, run), seeds, backend=method.sampler.backend)
    return float(G.mean()), float(G.std())


def _loop(config, method, run: _PGRun, spec, out, bar, callback) -> None:
    from trustopt.train.trainer import CHECKPOINT, PROGRESS, _finish_iteration

    ckpt_path, prog_path = os.path.join(out, CHECKPOINT), os.path.join(out, PROGRESS)
    policy, sampler = method.policy, method.sampler
    ls = method.policy.log_std_index
    while run.stop_reason is None:
        if run.timesteps >= config.timesteps:
            run.stop_reason = "timesteps"
            break
        t0 = time.perf_counter()
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, _STREAM_PG, run.iteration]))
        state = run.loop
        theta_k = state.theta
        model_returns = state.batch.returns if state.phase == READY else None
        steps = episodes = 0
        record = None
        while record is None:
            theta = ask(state)
            batch = None
            if theta is not None:
                batch = sampler.sample(policy, theta, rng, state.baseline)
                steps += batch.n_samples
                episodes += len(batch.returns)
                if state.phase == NEED_MODEL:
                    model_returns = batch.returns
            state, record = tell(method, state, batch, rng)
        run.loop = state
        run.timesteps += steps
        run.episodes += episodes
        run.iteration += 1
        ev = (math.nan, math.nan)
        if config.eval_every and run.iteration % config.eval_every == 0:
            ev = _evaluate(config, method, run, spec)
            run.last_eval = ev
            _save_policy(out, config, method, run, evaluated=True)
        dt = time.perf_counter() - t0
        run.wall_s += dt
        R = np.asarray(model_returns, dtype=np.float64)
        row = dict(
            iteration=run.iteration, timesteps=run.timesteps, episodes=run.episodes, wall_s=round(run.wall_s, 3),
            eval_mean=ev[0], eval_std=ev[1], train_return_mean=float(record.eta), train_return_std=float(record.eta_std),
            train_return_max=float(R.max()) if R.size else math.nan, grad_norm=record.grad_norm,
            predicted_gain=record.predicted_gain, step_norm=float(np.linalg.norm(state.theta - theta_k)),
            sigma=float(np.mean(np.exp(state.theta[ls]))), status=record.status, kl=record.kl,
            accepted=int(record.accepted), rho=record.rho, radius=record.radius,
        )
        _finish_iteration(run, row, PG_PROGRESS_COLUMNS, config, prog_path, ckpt_path, bar,
                          train_return=float(record.eta), steps_per_s=steps / max(dt, 1e-9), callback=callback,
                          x=state.theta)
