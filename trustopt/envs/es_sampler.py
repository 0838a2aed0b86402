"""Rollouts of noise-table perturbations of a linear MuJoCo policy, for the ES family (TRES, ES, ARS).

:class:`MujocoPerturbationSampler` is the ES counterpart of
:class:`~trustopt.envs.pg_sampler.MujocoEpisodeSampler`. One batch of an ES method is a
:class:`~trustopt.components.search.Draw` of ``2N`` antithetic points (TRES Alg. 1; ARS Alg. 1
V2; Salimans et al. 2017 Alg. 2)::

    x_j = theta + sigma * sign_j * table[index_j : index_j + d],     d = act_dim * obs_dim
    R_j = return of one episode of a = W_j (s - mean) / std,         W_j = x_j.reshape(act_dim, obs_dim)

with the observation normalizer ``(mean, std)`` of the running statistics ``S_k`` frozen for the
whole batch (ARS V2 / TRES "state normalization"; :func:`~trustopt.envs.pg_sampler.obs_normalizer`),
and ``S_{k+1} = S_k`` merged with the observation statistics of episodes ``0, 1, ..., 2N - 1``
IN THIS ORDER (Chan et al.'s exact merge; a fixed order gives the same bits for any number of
workers). Episode ``j`` and its antithetic partner ``j + N`` reset with the same seed
(``reset_seeds[j mod N]``: common random numbers, so the pair's difference of returns is due to
the perturbation, not to the initial state). ``R_j`` is the TRAINING return (survival bonus
removed when ``remove_survival_bonus``, as TRES and ARS train).

Parallel rollouts (``backend``, a :mod:`trustopt.workers` backend holding the same noise table):
a worker receives the shared :class:`RolloutJob` (the environment, ``theta``, ``sigma``, the
normalizer) once per chunk and, per episode, a :class:`RolloutTask` ``(index, sign, seed)``; it
rebuilds ``x_j`` with :func:`trustopt.noise.perturb` (the function the optimizer's
``NoiseTable.perturb`` uses: the same bits) and sends back a :class:`TaskResult` (returns,
length, observation statistics: ``2 obs_dim + 4`` numbers). A task is a pure function of
``(job, task, table)``, and backends return results in task order, so a batch is the same bits
for any number of workers.

Evaluation (:meth:`MujocoPerturbationSampler.evaluate`, :func:`evaluate_linear`): episodes of
``theta`` itself (``sign = 0``) with the environment's own reward (survival bonus included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from trustopt._validation import ValidationError
from trustopt.envs import EnvSpec, LinearPolicy, rollout
from trustopt.envs.pg_sampler import obs_normalizer
from trustopt.envs.sampler_checks import check_env_sampler
from trustopt.estimators import RunningMeanStd
from trustopt.noise import NoiseTable, perturb

__all__ = [
    "MujocoPerturbationSampler",
    "PerturbationBatch",
    "RolloutJob",
    "RolloutTask",
    "TaskResult",
    "evaluate_linear",
    "rollout_task",
    "run_rollouts",
]


@dataclass(frozen=True, kw_only=True, eq=False)
class RolloutJob:
    """What all rollouts of one batch share (sent once per chunk of tasks).

    ``env`` an :class:`~trustopt.envs.EnvSpec`; ``theta (d,)`` with ``d = act_dim * obs_dim``,
    the flattened (row-major) ``W`` of the linear policy ``a = W (s - obs_mean) / obs_std``;
    ``sigma`` the perturbation scale; ``obs_mean, obs_std (obs_dim,)`` the normalizer
    (frozen during a batch); ``remove_survival_bonus`` (TRES/ARS: train on the reward without
    the survival bonus); ``max_steps`` (None: the env's time limit).
    """

    env: Any
    theta: np.ndarray
    sigma: float
    obs_mean: np.ndarray
    obs_std: np.ndarray
    act_dim: int
    obs_dim: int
    remove_survival_bonus: bool = True
    max_steps: int | None = None

    def __post_init__(self):
        theta = np.ascontiguousarray(self.theta, dtype=np.float64)
        if theta.shape != (self.act_dim * self.obs_dim,):
            raise ValidationError(
                f"theta: expected shape ({self.act_dim * self.obs_dim},) = act_dim * obs_dim, got {theta.shape}"
            )
        object.__setattr__(self, "theta", theta)


@dataclass(frozen=True)
class RolloutTask:
    """One episode: parameters ``theta + sigma * sign * table[index : index + d]`` (``sign = 0``:
    ``theta`` itself, for evaluation), environment reset with ``seed``."""

    index: int
    sign: float
    seed: int


@dataclass(frozen=True, eq=False)
class TaskResult:
    """``train_return`` (survival bonus removed if asked), ``env_return`` (the env's own reward),
    ``length`` T, and ``obs_stats``, the :class:`~trustopt.estimators.RunningMeanStd` of the
    observations s_0..s_{T-1} (``count = T``, ``mean``, ``M2``: ``2 obs_dim + 1`` numbers)."""

    train_return: float
    env_return: float
    length: int
    obs_stats: RunningMeanStd


def rollout_task(job: RolloutJob, task: RolloutTask, noise: np.ndarray) -> TaskResult:
    """Run one :class:`RolloutTask` of ``job`` (a pure function of its arguments; ``noise`` the
    table as a float32 array, unread when ``task.sign == 0``)."""
    x = job.theta if task.sign == 0 else perturb(noise, job.theta, job.sigma, [task.index], [task.sign])[0]
    policy = LinearPolicy(W=x.reshape(job.act_dim, job.obs_dim), mean=job.obs_mean, std=job.obs_std)
    res = rollout(job.env, policy, seed=int(task.seed), max_steps=job.max_steps,
                  remove_survival_bonus=job.remove_survival_bonus)
    return TaskResult(train_return=res.train_return, env_return=res.env_return, length=res.length,
                      obs_stats=res.obs_stats)


def run_rollouts(backend, job: RolloutJob, tasks: Sequence[RolloutTask], noise: NoiseTable | None = None
                 ) -> list[TaskResult]:
    """``[rollout_task(job, t, table) for t in tasks]``, in task order: on ``backend``'s workers
    (its own table), or in this process with ``noise`` when ``backend`` is None."""
    if backend is None:
        table = None if noise is None else noise.noise
        return [rollout_task(job, t, table) for t in tasks]
    return backend.map(rollout_task, job, list(tasks))


@dataclass(frozen=True, eq=False)
class PerturbationBatch:
    """What one batch of :meth:`MujocoPerturbationSampler.sample` returns.

    ``returns (2N,)`` the training returns ``R_j`` in draw order; ``lengths (2N,)`` the episode
    lengths; ``n_samples = sum(lengths)`` environment steps; ``obs_rms`` the running statistics
    ``S_{k+1}`` (``S_k`` merged with the batch's observations in draw order)."""

    returns: np.ndarray
    lengths: np.ndarray
    n_samples: int
    obs_rms: RunningMeanStd


@dataclass(frozen=True, kw_only=True, eq=False)
class MujocoPerturbationSampler:
    """Antithetic rollouts of noise-table perturbations of a linear policy (module docstring).

    Hyperparameters:
        env: :class:`~trustopt.envs.EnvSpec` (or an env id).
        noise: the :class:`~trustopt.noise.NoiseTable` the optimizer draws its offsets from
            (read here when ``backend`` is None; a backend holds its own copy of the same table).
        obs_norm: True: act on ``(s - mean) / std`` of the running statistics; False: on ``s``.
        remove_survival_bonus: train on the reward without the survival bonus (True, TRES/ARS).

    Where episodes run (not a hyperparameter; never changes a batch):
        backend: None (this process) or a :mod:`trustopt.workers` backend built with ``noise``;
            the caller owns it and closes it.

    Derived: ``obs_dim``, ``act_dim`` (``d = act_dim * obs_dim`` parameters, ``W`` row-major).
    """

    env: EnvSpec
    noise: NoiseTable
    obs_norm: bool = True
    remove_survival_bonus: bool = True
    backend: Any = None
    obs_dim: int = field(init=False)
    act_dim: int = field(init=False)

    def __post_init__(self):
        dims = check_env_sampler(self.env, obs_norm=self.obs_norm, remove_survival_bonus=self.remove_survival_bonus,
                                 backend=self.backend)
        if not isinstance(self.noise, NoiseTable):
            raise ValidationError(f"noise: expected a NoiseTable, got {type(self.noise).__name__}")
        object.__setattr__(self, "env", dims.spec)
        object.__setattr__(self, "obs_dim", dims.obs_dim)
        object.__setattr__(self, "act_dim", dims.act_dim)

    @property
    def n_params(self) -> int:
        return self.act_dim * self.obs_dim

    def normalizer(self, obs_rms: RunningMeanStd) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` a batch acts with, given the running statistics (ones and zeros before
        any data or with ``obs_norm=False``)."""
        return obs_normalizer(obs_rms, self.obs_dim, self.obs_norm)

    def _job(self, theta, sigma: float, obs_rms: RunningMeanStd, remove_survival_bonus: bool) -> RolloutJob:
        mean, std = self.normalizer(obs_rms)
        return RolloutJob(env=self.env, theta=theta, sigma=sigma, obs_mean=mean, obs_std=std, act_dim=self.act_dim,
                          obs_dim=self.obs_dim, remove_survival_bonus=remove_survival_bonus)

    def sample(self, draw, obs_rms: RunningMeanStd, reset_seeds: Sequence[int]) -> PerturbationBatch:
        """The ``2N`` rollouts of ``draw`` (a :class:`~trustopt.components.search.Draw` with noise
        rows: ``theta (d,)``, ``sigma``, ``index``, ``sign (2N,)``; rows ``j`` and ``j + N`` an
        antithetic pair) with the normalizer of ``obs_rms``; episode ``j`` resets with
        ``reset_seeds[j mod N]`` (``N = len(reset_seeds)``)."""
        if getattr(draw, "index", None) is None:
            raise ValidationError("draw: expected noise-table rows (index and sign), got rows without them")
        n, m = len(draw.index), len(reset_seeds)
        if n != 2 * m:
            raise ValidationError(f"reset_seeds: expected one per antithetic pair ({n // 2}), got {m}")
        job = self._job(draw.theta, draw.sigma, obs_rms, self.remove_survival_bonus)
        tasks = [RolloutTask(index=int(draw.index[j]), sign=float(draw.sign[j]), seed=int(reset_seeds[j % m]))
                 for j in range(n)]
        results = run_rollouts(self.backend, job, tasks, self.noise)
        rms = obs_rms
        for r in results:  # task order: the same bits for any number of workers
            rms = rms.merge(r.obs_stats)
        lengths = np.array([r.length for r in results])
        return PerturbationBatch(returns=np.array([r.train_return for r in results]), lengths=lengths,
                                 n_samples=sum(r.length for r in results), obs_rms=rms)

    def evaluate(self, theta, obs_rms: RunningMeanStd, reset_seeds: Sequence[int]) -> np.ndarray:
        """Environment returns ``(len(reset_seeds),)`` of ``theta`` itself with the normalizer of
        ``obs_rms``, one episode per reset seed (survival bonus included)."""
        job = self._job(theta, 0.0, obs_rms, False)
        tasks = [RolloutTask(index=0, sign=0.0, seed=int(s)) for s in reset_seeds]
        return np.array([r.env_return for r in run_rollouts(self.backend, job, tasks)])


def evaluate_linear(env: EnvSpec | str, policy: LinearPolicy, reset_seeds: Sequence[int], backend=None) -> np.ndarray:
    """Environment returns ``(len(reset_seeds),)`` of the deterministic linear policy
    ``a_t = clip(W (s_t - mean) / std, low, high)`` (the environment's own reward, survival bonus
    included), one episode per reset seed; on ``backend``'s workers if given (results in seed
    order, the same for any number of workers)."""
    spec = env if isinstance(env, EnvSpec) else EnvSpec(env_id=env)
    if not isinstance(policy, LinearPolicy):
        raise ValidationError(f"policy: expected a LinearPolicy, got {type(policy).__name__}")
    act_dim, obs_dim = policy.W.shape
    job = RolloutJob(env=spec, theta=policy.W.reshape(-1), sigma=0.0, obs_mean=policy.mean, obs_std=policy.std,
                     act_dim=act_dim, obs_dim=obs_dim, remove_survival_bonus=False)
    tasks = [RolloutTask(index=0, sign=0.0, seed=int(s)) for s in reset_seeds]
    return np.array([r.env_return for r in run_rollouts(backend, job, tasks)])
