"""Single-path sampling of Gaussian linear policies on MuJoCo, for the policy-gradient family.

:class:`MujocoEpisodeSampler` is the MuJoCo counterpart of
:class:`~trustopt.components.lqr_samplers.LQREpisodeSampler`: it implements the loop's
``Sampler`` protocol (``sample(policy, theta, rng, carry) -> Batch``) for the flat
:class:`~trustopt.components.flat_policies.FlatLinearGaussian` policy whose parameters have the
layout of :class:`trustopt.policies.LinearGaussian`, ``theta = [W.ravel(), b, log_std]``
(``act_dim (obs_dim + 2)`` entries), acting on NORMALIZED observations (TRPO sec. 8 / App. D:
a Gaussian with state-independent standard deviation; here with a linear mean)::

    z_t = (s_t - mean) / std,      a_t ~ N(W z_t + b, diag(exp(2 log_std)))

The running observation statistics ``(mean, std)`` and the fitted value baseline travel with the
loop as the batch's ``baseline`` field (:class:`PGCarry`): frozen while a batch is collected (so
the batch's policy ``pi_{theta_k}`` is well defined), merged with the batch's observations
afterwards and used from the next batch on (ARS V2 / TRES "state normalization"). ``Batch.states``
holds the normalized ``z_t``, so the surrogates, KL and Fisher products see the same policy
that acted.

Batch (TRPO sec. 5.1 "single path"; rllab's batch sampler): whole episodes are collected until
at least ``batch_steps`` steps were taken (the last episode is not cut, so every return is a
complete episode's). Episode ``j`` of a batch resets with a seed and draws its action noise
from a generator both derived from ``SeedSequence([key, j])``, where ``key`` is one integer
drawn from the ``rng`` the loop passes: the batch is a pure function of ``(rng state, theta,
carry)``; the trainer passes ``rng = default_rng([seed, stream, iteration])``, so episode
``j`` of iteration ``k`` depends on ``(seed, k, j)`` only.

Parallel episodes (``backend``, a :mod:`trustopt.workers` backend): episode ``j`` is a pure
function of ``(env, policy, key, j)``, so workers run episodes ``j, j+1, ...`` in waves and the
batch is, as in the serial case, the SHORTEST PREFIX ``0..J-1`` of episodes with at least
``batch_steps`` steps. A wave asks for ``max(n_workers, ceil(remaining / L))`` episodes (``L``
the time limit in the first wave, the mean episode length seen so far afterwards); episodes past
``J`` are simulated but dropped, and are not counted in ``n_samples``. The batch is therefore
the same bits for any number of workers (workers only receive ``(env, policy, key)`` once per
chunk and the indices ``j``, and send back the episodes' trajectories).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trustopt._validation import ValidationError, check_int, readonly
from trustopt.core.types import Batch
from trustopt.envs import EnvSpec, GaussianLinearPolicy, cached_env, rollout
from trustopt.envs.sampler_checks import check_env_sampler
from trustopt.estimators import (
    FittedLinearBaseline,
    LinearValueBaseline,
    RunningMeanStd,
    gae,
    gae_with_fitted_baseline,
)

__all__ = ["PGCarry", "GaussianEnvSampler", "MujocoEpisodeSampler", "obs_normalizer", "evaluate_mean_action",
           "gaussian_policy"]

_STD_FLOOR = 1e-8


@dataclass(frozen=True, kw_only=True, eq=False)
class PGCarry:
    """What a :class:`MujocoEpisodeSampler` hands to the next batch (``Batch.baseline``).

    Attributes:
        obs_rms: :class:`~trustopt.estimators.RunningMeanStd` of every observation collected so
            far (``count``, ``mean (obs_dim,)``, ``M2 (obs_dim,)``); merged exactly (Chan et al.).
        value: the :class:`~trustopt.estimators.FittedLinearBaseline` fitted on the previous
            batch (rllab/TRPO convention: the baseline never sees the returns it is subtracted
            from), or None before the first batch.
    """

    obs_rms: RunningMeanStd
    value: FittedLinearBaseline | None = None


def obs_normalizer(rms: RunningMeanStd | None, obs_dim: int, enabled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` of ``z = (s - mean) / std`` from running statistics: ``std = sqrt(M2 / count)``
    with 1 wherever it is below 1e-8 (a constant component); ``(0, 1)`` before any data or when
    ``enabled`` is False (the rule of :func:`trustopt.train.normalizer_arrays`)."""
    if not enabled or rms is None or rms.count == 0:
        return np.zeros(obs_dim), np.ones(obs_dim)
    std = np.sqrt(rms.var)
    return np.array(rms.mean), np.where(std < _STD_FLOOR, 1.0, std)


def gaussian_policy(theta, obs_dim: int, act_dim: int, mean, std) -> GaussianLinearPolicy:
    """The :class:`~trustopt.envs.GaussianLinearPolicy` of ``theta = [W.ravel(), b, log_std]``
    (``(act_dim (obs_dim + 2),)``) with the observation normalizer ``(mean, std)``."""
    theta = np.asarray(theta, dtype=np.float64)
    nW = act_dim * obs_dim
    if theta.shape != (nW + 2 * act_dim,):
        raise ValidationError(f"theta: expected {nW + 2 * act_dim} = act_dim (obs_dim + 2) parameters "
                              f"[W.ravel(), b, log_std], got shape {theta.shape}")
    return GaussianLinearPolicy(W=theta[:nW].reshape(act_dim, obs_dim), b=theta[nW:nW + act_dim],
                                log_std=theta[nW + act_dim:], mean=mean, std=std)


def _check_unit(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0.0 <= float(value) <= 1.0:
        raise ValidationError(f"{name}: must lie in [0, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True, eq=False)
class GaussianEnvSampler:
    """What the MuJoCo samplers of the linear Gaussian policy share (:class:`MujocoEpisodeSampler`,
    :class:`trustopt.envs.vine_sampler.MujocoVineSampler`): the environment, the policy of
    ``theta = [W.ravel(), b, log_std]`` acting on ``z = (s - mean) / std`` with the carried
    normalizer (:class:`PGCarry`), and the checks of a ``sample`` call.

    Hyperparameters:
        env: :class:`~trustopt.envs.EnvSpec` (or an env id).
        gamma: discount in [0, 1] (0.99, TRPO App. E).
        obs_norm (True: running statistics; False: ``z = s``), remove_survival_bonus (True).

    Where episodes run (not a hyperparameter; never changes a batch):
        backend: None (this process) or a :mod:`trustopt.workers` backend (``n_workers``,
            ``map(fn, shared, items)``), e.g. ``trustopt.workers.make_backend("process", 2)``;
            the caller owns it and closes it (module docstring: "Parallel episodes").

    Derived: ``obs_dim``, ``act_dim``, ``horizon`` (the time limit).
    """

    env: EnvSpec
    gamma: float = 0.99
    obs_norm: bool = True
    remove_survival_bonus: bool = True
    backend: Any = None
    obs_dim: int = field(init=False)
    act_dim: int = field(init=False)
    horizon: int = field(init=False, repr=False)

    def __post_init__(self):
        _check_unit(self.gamma, "gamma")  # before the environment is built
        dims = check_env_sampler(self.env, obs_norm=self.obs_norm, remove_survival_bonus=self.remove_survival_bonus,
                                 backend=self.backend)
        object.__setattr__(self, "env", dims.spec)
        object.__setattr__(self, "obs_dim", dims.obs_dim)
        object.__setattr__(self, "act_dim", dims.act_dim)
        object.__setattr__(self, "horizon", dims.horizon)

    @property
    def n_params(self) -> int:
        return self.act_dim * (self.obs_dim + 2)

    def normalizer(self, carry: PGCarry | None) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` the next batch acts with, given the carried statistics."""
        return obs_normalizer(None if carry is None else carry.obs_rms, self.obs_dim, self.obs_norm)

    def policy(self, theta, carry: PGCarry | None) -> GaussianLinearPolicy:
        """The environment-level policy (raw observations in) that a batch at ``theta`` runs."""
        mean, std = self.normalizer(carry)
        return gaussian_policy(theta, self.obs_dim, self.act_dim, mean, std)

    def _check_sample(self, policy, theta, baseline) -> PGCarry | None:
        """Validate the arguments of ``sample``; returns the carry."""
        if getattr(policy, "n_params", None) != self.n_params or np.shape(theta) != (self.n_params,):
            raise ValidationError(f"policy: expected a linear Gaussian policy with {self.n_params} = act_dim "
                                  f"(obs_dim + 2) parameters (obs_dim = {self.obs_dim}, act_dim = {self.act_dim})")
        if baseline is not None and not isinstance(baseline, PGCarry):
            raise ValidationError(f"baseline: expected a PGCarry (or None), got {type(baseline).__name__}")
        return baseline


@dataclass(frozen=True, kw_only=True, eq=False)
class MujocoEpisodeSampler(GaussianEnvSampler):
    """Single-path Gaussian-policy rollouts on a MuJoCo environment (module docstring).

    Per batch at ``theta_k`` with ``tau`` complete episodes and ``N >= batch_steps`` steps:

    * ``eta_hat = mean_j R_j`` (STRO eq. 4.1) of the TRAINING returns ``R_j = sum_t r'_t``
      (survival bonus removed when ``remove_survival_bonus``, as TRES/ARS; undiscounted),
      ``sigma_hat`` (eq. 4.2, ``ddof=1``; 0 with a single episode);
    * pair weights ``w_i = 1/tau``, so ``sum_i w_i f(s_i, a_i)`` estimates
      ``E[sum_t f(s_t, a_t)]`` per episode (the undiscounted visitation, sums to the mean
      episode length) and ``eta_hat + sum_i w_i (r_i - 1) A_i`` is the first-order model of the
      mean episode return (TRPO eq. 14 with ``gamma`` only in the advantages);
    * GAE advantages (Schulman et al. 2016; slides "GAE"), Gymnasium semantics::

          delta_t = r'_t + gamma * V(s_{t+1}) * [not terminated_t] - V(s_t)
          A_t = sum_l (gamma lambda)^l delta_{t+l}        (within the episode)

      with ``V(s_T)`` of the final observation bootstrapped at a TimeLimit truncation and 0 at a
      termination (:func:`trustopt.estimators.gae`);
    * value baseline ``V(z, t) = phi(z, t)' w`` on rllab's features
      (:class:`~trustopt.estimators.LinearValueBaseline`: ``[z, z^2, t/100, (t/100)^2,
      (t/100)^3, 1]``; ridge ``reg_coeff`` 1e-5), with ``w`` fitted on the PREVIOUS batch's
      discounted returns ``R_t = sum_l gamma^l r'_{t+l}`` (bootstrapped with the baseline
      at truncation; :func:`trustopt.estimators.discounted_returns`); on the first batch, fitted
      on the batch itself. ``use_baseline=False``: ``V = 0`` (REINFORCE with GAE(gamma, 1)
      discounting).

    Hyperparameters (and those of :class:`GaussianEnvSampler`: env, gamma, obs_norm,
    remove_survival_bonus; where episodes run: backend):
        batch_steps: minimum steps per batch (``>= 1``; default 5000, Duan et al. 2016's batch
            for the basic tasks; the trainer's defaults are in :mod:`trustopt.train.config`).
        lambda_: GAE parameter in [0, 1] (0.97, slides "GAE(0.99, 0.97)").
        use_baseline (True), baseline (the :class:`LinearValueBaseline` config).
    """

    batch_steps: int = 5000
    lambda_: float = 0.97
    use_baseline: bool = True
    baseline: LinearValueBaseline = field(default_factory=LinearValueBaseline)

    def __post_init__(self):
        super().__post_init__()
        check_int(self.batch_steps, "batch_steps", 1)
        _check_unit(self.lambda_, "lambda_")
        if not isinstance(self.use_baseline, bool):
            raise ValidationError(f"use_baseline: expected True or False, got {self.use_baseline!r}")
        if not isinstance(self.baseline, LinearValueBaseline):
            raise ValidationError(f"baseline: expected a LinearValueBaseline, got {type(self.baseline).__name__}")

    def sample(self, policy, theta, rng: np.random.Generator, baseline: PGCarry | None = None) -> Batch:
        carry = self._check_sample(policy, theta, baseline)
        mean, std = self.normalizer(carry)
        pol = gaussian_policy(theta, self.obs_dim, self.act_dim, mean, std)
        job = _EpisodeJob(env=self.env, policy=pol, key=int(rng.integers(0, 2**63 - 1)),
                          remove_survival_bonus=self.remove_survival_bonus)
        results = self._episodes(job)
        return self._assemble(policy, theta, carry, mean, std, [r.trajectory for r in results],
                              np.array([r.train_return for r in results]))

    def _episodes(self, job: "_EpisodeJob") -> list:
        """Episodes ``0..J-1`` of ``job``, ``J`` the fewest with ``batch_steps`` steps (module docstring)."""
        out, steps = [], 0
        bk = self.backend
        if bk is None or bk.n_workers == 1:
            while steps < self.batch_steps:
                out.append(_episode(job, len(out), None))
                steps += out[-1].length
            return out
        L = self.horizon
        while steps < self.batch_steps:
            n = max(bk.n_workers, math.ceil((self.batch_steps - steps) / L))
            wave = bk.map(_episode, job, range(len(out), len(out) + n))
            for res in wave:
                out.append(res)
                steps += res.length
                if steps >= self.batch_steps:
                    break
            L = max(1.0, steps / len(out))
        return out

    def _assemble(self, policy, theta, carry, mean, std, trajs, returns) -> Batch:
        tau = len(trajs)
        lengths = np.array([tr.obs.shape[0] for tr in trajs])
        N = int(lengths.sum())
        raw = np.concatenate([tr.obs for tr in trajs])
        z = (raw - mean) / std
        a = np.concatenate([tr.actions for tr in trajs])
        r = np.concatenate([tr.rewards for tr in trajs])
        ends = np.cumsum(lengths) - 1
        term = np.zeros(N, dtype=bool)
        trunc = np.zeros(N, dtype=bool)
        term[ends] = [tr.terminated for tr in trajs]
        trunc[ends] = [not tr.terminated for tr in trajs]  # every episode ends: terminated or time limit
        t = np.concatenate([np.arange(n) for n in lengths])
        z_final = (np.array([tr.final_obs for tr in trajs]) - mean) / std
        gamma, lam = float(self.gamma), float(self.lambda_)
        finite = bool(np.all(np.isfinite(r)) and np.all(np.isfinite(z)) and np.all(np.isfinite(z_final)))
        if not finite:  # diverged: no pairs, eta = -inf, the carry unchanged
            return Batch(theta=theta, states=np.zeros((0, self.obs_dim)), actions=np.zeros((0, self.act_dim)),
                         weights=np.zeros(0), adv=np.zeros(0), logp_old=np.zeros(0), returns=returns,
                         eta=-math.inf, eta_std=math.nan, n_samples=N, exact=False, baseline=carry)

        def values_of(fitted):
            v = fitted.predict(z, t)
            nv = np.empty(N)
            nv[:-1] = v[1:]
            nv[ends] = fitted.predict(z_final, lengths)  # V(s_T); zeroed by gae where terminated
            return v, nv

        if self.use_baseline:  # V(z, t) fitted on the previous batch's discounted returns
            adv, new_value = gae_with_fitted_baseline(
                r, term, trunc, gamma=gamma, lambda_=lam, previous=None if carry is None else carry.value,
                fit=lambda targets: self.baseline.fit(z, t, targets), predict=values_of)
        else:
            zeros = np.zeros(N)
            adv = gae(r, zeros, term, trunc, gamma=gamma, lambda_=lam, next_values=zeros)
            new_value = None if carry is None else carry.value
        rms = RunningMeanStd.empty(self.obs_dim) if carry is None else carry.obs_rms
        new_carry = PGCarry(obs_rms=rms.merge(RunningMeanStd.from_batch(raw)), value=new_value)
        return Batch(
            theta=theta, states=readonly(z), actions=a, weights=np.full(N, 1.0 / tau), adv=adv,
            logp_old=policy.log_prob(theta, z, a), returns=returns, eta=float(np.mean(returns)),
            eta_std=float(np.std(returns, ddof=1)) if tau > 1 else 0.0, n_samples=N, exact=False,
            baseline=new_carry,
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class _EpisodeJob:
    """What every episode of a batch shares (sent to a worker once per chunk of indices)."""

    env: EnvSpec
    policy: GaussianLinearPolicy
    key: int
    remove_survival_bonus: bool


def episode_seeds(key: int, j: int) -> tuple[int, int]:
    """``(reset seed, action-noise seed)`` of episode ``j`` of the batch with ``key``, from
    ``SeedSequence([key, j])`` (module docstring)."""
    reset_seed, noise_seed = np.random.SeedSequence([int(key), int(j)]).generate_state(2, dtype=np.uint32)
    return int(reset_seed), int(noise_seed)


def _episode(job: _EpisodeJob, j: int, noise=None):
    """Episode ``j`` of a batch: reset seed and action noise from :func:`episode_seeds` (a pure
    function of its arguments; ``noise``, the backends' noise table, is unused)."""
    reset_seed, noise_seed = episode_seeds(job.key, j)
    return rollout(job.env, job.policy, seed=reset_seed, rng=np.random.default_rng(noise_seed),
                   remove_survival_bonus=job.remove_survival_bonus, record=True)


def _mean_action_return(shared, seed: int, noise=None) -> float:
    """The environment's own return of one episode of the mean action of ``shared = (spec, policy)``."""
    spec, policy = shared
    e = cached_env(spec)
    low, high = e.action_low, e.action_high
    obs = e.reset(seed=int(seed))
    total = 0.0
    while True:
        obs, reward, terminated, truncated = e.step(np.clip(policy.mean_action(obs), low, high))
        total += reward
        if terminated or truncated:
            return total


def evaluate_mean_action(env: EnvSpec | str, policy: GaussianLinearPolicy, seeds, backend=None) -> np.ndarray:
    """Environment returns ``(len(seeds),)`` of the Gaussian policy's MEAN action
    ``a_t = clip(W (s_t - mean) / std + b, low, high)`` (no exploration noise; the environment's own
    reward, survival bonus included), one episode per reset seed; on ``backend``'s workers if
    given (results in seed order, the same for any number of workers)."""
    spec = env if isinstance(env, EnvSpec) else EnvSpec(env_id=env)
    if not isinstance(policy, GaussianLinearPolicy):
        raise ValidationError(f"policy: expected a GaussianLinearPolicy, got {type(policy).__name__}")
    e = cached_env(spec)
    if policy.W.shape != (e.act_dim, e.obs_dim):
        raise ValidationError(f"policy: W has shape {policy.W.shape}, {spec.env_id} needs ({e.act_dim}, {e.obs_dim})")
    seeds = [int(s) for s in seeds]
    if backend is None:
        return np.array([_mean_action_return((spec, policy), s) for s in seeds])
    return np.array(backend.map(_mean_action_return, (spec, policy), seeds))
