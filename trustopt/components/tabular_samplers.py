"""Samplers: produce the batch ``B_theta`` of STRO Alg. 4.1 / TRPO sec. 5 at ``theta``.

* :class:`ExactTabularSampler` -- the exact oracle as a sampler (noise-free): all pairs
  ``(s, a)`` with weight ``rho_pi(s) pi(a|s)`` and the exact advantage ``A_pi(s, a)``, so
  ``eta + sum_i w_i r_i A_i`` is exactly TRPO's ``L_pi`` (eq. 3).
* :class:`TabularEpisodeSampler` -- single path (TRPO sec. 5.1): simulated episodes.
* :class:`TabularVineSampler` -- vine (TRPO sec. 5.2): trunk episodes, a rollout set of
  states, one branch rollout per action with common random numbers.

Episodes use GEOMETRIC TERMINATION: after every step the episode continues with
probability ``gamma`` (and is cut, as a truncation, after ``max_episode_steps``). Then
``E[sum_t 1{t < T} f(s_t, a_t)] = sum_t gamma^t E[f(s_t, a_t)] = sum_s rho_pi(s) E_pi f``,
so with weight ``1/tau`` per visited pair (``tau`` episodes) every weighted sum is an
unbiased estimate of the corresponding ``rho_pi``-weighted (UNNORMALIZED) sum, the
undiscounted episode return is an unbiased estimate of ``eta`` (STRO eq. 4.1 with the
discount carried by the termination), and the TD residual
``r_t + 1{continue} V(s_{t+1}) - V(s_t)`` has conditional mean ``A_pi(s_t, a_t)`` when
``V = V_pi``. GAE is therefore run with discount 1 on the terminating chain
(``estimators.gae(..., gamma=1, lambda_)``), which is the discounted GAE(gamma, lambda) of
the slides in expectation. The only bias is the truncation, at most
``gamma^max_episode_steps max|r| / (1 - gamma)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trustopt._validation import ValidationError, check_bool, check_int, check_nonnegative
from trustopt.core.types import Batch
from trustopt.estimators import gae, gae_with_fitted_baseline, ridge_regression
from trustopt.tabular import TabularMDP, evaluate

__all__ = ["ExactTabularSampler", "TabularEpisodeSampler", "TabularVineSampler", "default_max_episode_steps"]


def _check_unit(value, name: str) -> float:
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValidationError(f"{name}: must lie in [0, 1], got {value!r}")
    return v


def _check_mdp(mdp) -> TabularMDP:
    if not isinstance(mdp, TabularMDP):
        raise ValidationError(f"mdp: expected a tabular.TabularMDP, got {type(mdp).__name__}")
    if mdp.batch_shape:
        raise ValidationError(f"mdp: expected one MDP, got batch shape {mdp.batch_shape}")
    return mdp


def default_max_episode_steps(gamma: float) -> int:
    """Smallest ``T`` with ``gamma^T <= 1e-6`` (the truncation bias factor), at least 1."""
    if gamma <= 0.0:
        return 1
    return max(1, math.ceil(math.log(1e-6) / math.log(gamma)))


def _inverse_cdf(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index ``j`` with ``cdf[j-1] <= u < cdf[j]`` row-wise; ``cdf (..., n)``, ``u (...)``."""
    j = (u[..., None] >= cdf).sum(axis=-1)
    return np.minimum(j, cdf.shape[-1] - 1)


@dataclass(frozen=True, kw_only=True, eq=False)
class ExactTabularSampler:
    """The exact oracle as a sampler (no noise, no samples): pairs ``(s, a)`` for all
    ``S*A`` pairs with ``w = rho_pi(s) pi(a|s)``, ``adv = A_pi(s, a)``, ``eta = eta(pi)``
    from :func:`trustopt.tabular.evaluate` (TRPO eq. 3; STRO eq. 2.3-2.4)."""

    mdp: TabularMDP

    def __post_init__(self):
        _check_mdp(self.mdp)

    def sample(self, policy, theta, rng=None, baseline=None) -> Batch:
        S, A = self.mdp.n_states, self.mdp.n_actions
        pi = policy.probs(theta)
        ev = evaluate(self.mdp, pi)
        states = np.repeat(np.arange(S), A)
        actions = np.tile(np.arange(A), S)
        return Batch(
            theta=theta, states=states, actions=actions,
            weights=(ev.rho[:, None] * pi).ravel(), adv=np.asarray(ev.A).ravel(),
            logp_old=policy.log_prob(theta, states, actions), returns=np.zeros(0),
            eta=float(ev.eta), eta_std=0.0, n_samples=0, exact=True, oracle=self.mdp,
        )


class _StepLog:
    """Per-step records of episodes simulated in lockstep (shared by the tabular and LQR
    samplers); :meth:`arrays` returns them sorted by (episode, t)."""

    KEYS = ("ep", "t", "s", "a", "r", "s_next", "term", "trunc")

    def __init__(self):
        self._cols = {k: [] for k in self.KEYS}

    def add(self, *, ep, t: int, s, a, r, s_next, term, trunc) -> None:
        for k, v in zip(self.KEYS, (ep, np.full(ep.size, t), s, a, r, s_next, term, trunc)):
            self._cols[k].append(v)

    def arrays(self) -> dict:
        cat = {k: np.concatenate(v) for k, v in self._cols.items()}
        order = np.lexsort((cat["t"], cat["ep"]))
        return {k: v[order] for k, v in cat.items()}


def _simulate(mdp: TabularMDP, policy, theta, starts, rng, max_steps: int, first_actions=None):
    """Lockstep simulation with geometric termination of ``len(starts)`` episodes.

    Returns per-step arrays sorted by (episode, t): ep, s, a, r, s_next, terminated, truncated.
    ``first_actions``: force the first action of each episode (vine branches).
    """
    n = len(starts)
    cdf_P = np.cumsum(mdp.P, axis=-1)
    gamma = float(mdp.gamma)
    ep_ids = np.arange(n)
    s = np.asarray(starts, dtype=np.int64)
    log = _StepLog()
    t = 0
    while ep_ids.size:
        if t == 0 and first_actions is not None:
            a = np.asarray(first_actions, dtype=np.int64)
        else:
            a = policy.sample(theta, s, rng)
        r = mdp.r[s, a]
        cont = rng.random(ep_ids.size) < gamma
        s_next = _inverse_cdf(cdf_P[s, a], rng.random(ep_ids.size))
        trunc = cont & (t + 1 >= max_steps)
        log.add(ep=ep_ids, t=t, s=s, a=a, r=r, s_next=s_next, term=~cont, trunc=trunc)
        keep = cont & ~trunc
        ep_ids, s = ep_ids[keep], s_next[keep]
        t += 1
    return log.arrays()


@dataclass(frozen=True, kw_only=True, eq=False)
class _GeometricEpisodeSampler:
    """What the single-path samplers on a geometrically terminating chain share (tabular and LQR):
    their hyperparameters and the advantages and batch built from ``n_episodes`` episodes.

    Advantages: GAE with discount 1 (the discount is carried by the termination, module
    docstring) and ``lambda_``; with ``use_baseline``, ``V(s) = phi(s)' w`` with ``w`` fitted by
    ridge regression (``reg_coeff``) on the reward-to-go targets of the PREVIOUS batch
    (:func:`trustopt.estimators.gae_with_fitted_baseline`), else ``V = 0``.
    """

    n_episodes: int = 100
    lambda_: float = 0.97
    use_baseline: bool = True
    reg_coeff: float = 1e-5
    max_episode_steps: int | None = None

    def _check_episode_fields(self, gamma: float) -> None:
        check_int(self.n_episodes, "n_episodes", 2)
        _check_unit(self.lambda_, "lambda_")
        check_bool(self.use_baseline, "use_baseline")
        check_nonnegative(self.reg_coeff, "reg_coeff")
        if self.max_episode_steps is None:
            object.__setattr__(self, "max_episode_steps", default_max_episode_steps(gamma))
        check_int(self.max_episode_steps, "max_episode_steps", 1)

    def _advantages(self, r, term, trunc, baseline, fit, predict):
        """``(A_t, w)`` on the chain; ``fit: targets -> w``, ``predict: w -> (V(s_t), V(s_{t+1}))``;
        ``w`` is None without a baseline."""
        if self.use_baseline:
            return gae_with_fitted_baseline(r, term, trunc, gamma=1.0, lambda_=self.lambda_, previous=baseline,
                                            fit=fit, predict=predict)
        zeros = np.zeros(r.shape)
        return gae(r, zeros, term, trunc, gamma=1.0, lambda_=self.lambda_, next_values=zeros), None

    def _batch(self, policy, theta, s, a, adv, returns, baseline) -> Batch:
        """Every visited pair with weight ``1/n_episodes``; ``eta_hat = mean_j R_j`` (STRO eq. 4.1),
        ``sigma_hat`` its sample standard deviation (eq. 4.2, ``ddof=1``)."""
        n = len(s)
        return Batch(
            theta=theta, states=s, actions=a, weights=np.full(n, 1.0 / self.n_episodes), adv=adv,
            logp_old=policy.log_prob(theta, s, a), returns=returns, eta=float(np.mean(returns)),
            eta_std=float(np.std(returns, ddof=1)), n_samples=int(n), exact=False, baseline=baseline,
        )


@dataclass(frozen=True, kw_only=True, eq=False)
class TabularEpisodeSampler(_GeometricEpisodeSampler):
    """Single-path sampling (TRPO sec. 5.1; STRO Alg. 4.1) on a finite MDP.

    Simulates ``n_episodes`` episodes from ``s_0 ~ rho0`` with geometric termination (see
    the module docstring), and returns every visited pair with weight ``1/n_episodes``,
    ``eta_hat = mean_j R_j`` (undiscounted episode returns, STRO eq. 4.1), ``sigma_hat``
    (eq. 4.2), and GAE advantages (STRO eq. 4.4; slides "GAE")::

        delta_t = r_t + 1{continue} V(s_{t+1}) - V(s_t),   A_t = sum_l lambda^l delta_{t+l}

    with the tabular value baseline ``V(s) = w_s`` (one-hot features; ridge regression on
    the reward-to-go targets, :func:`trustopt.estimators.ridge_regression`; STRO eq. 4.5)
    fitted on the PREVIOUS batch (passed in as ``baseline``; on the first batch, on the
    batch itself; :func:`trustopt.estimators.gae_with_fitted_baseline` with ``gamma = 1``).
    ``use_baseline=False`` gives REINFORCE without baseline (``V = 0``).

    Hyperparameters:
        n_episodes: episodes per batch (``>= 2``, for ``sigma_hat``).
        lambda_: GAE parameter in [0, 1] (default 0.97: GAE paper's best range 0.92-0.98,
            Schulman et al. 2016; ``lambda_ = 1`` is the unbiased Monte Carlo advantage).
        use_baseline: subtract the fitted value baseline.
        reg_coeff: ridge coefficient of the baseline fit (default 1e-5, rllab).
        max_episode_steps: truncation (default :func:`default_max_episode_steps`).
    """

    mdp: TabularMDP

    def __post_init__(self):
        _check_mdp(self.mdp)
        self._check_episode_fields(float(self.mdp.gamma))

    def _fit(self, states, targets) -> np.ndarray:
        S = self.mdp.n_states
        X = np.zeros((states.size, S))
        X[np.arange(states.size), states] = 1.0
        return ridge_regression(X, targets, self.reg_coeff)

    def sample(self, policy, theta, rng, baseline=None) -> Batch:
        mdp = self.mdp
        starts = _inverse_cdf(np.cumsum(mdp.rho0), rng.random(self.n_episodes))
        tr = _simulate(mdp, policy, theta, starts, rng, self.max_episode_steps)
        s, a, r = tr["s"], tr["a"], tr["r"]
        term, trunc = tr["term"], tr["trunc"]
        returns = np.bincount(tr["ep"], weights=r, minlength=self.n_episodes)
        # V(s) = w_s: one-hot features, fitted on the previous batch
        adv, new_baseline = self._advantages(r, term, trunc, baseline, fit=lambda targets: self._fit(s, targets),
                                             predict=lambda w: (np.asarray(w)[s], np.asarray(w)[tr["s_next"]]))
        return self._batch(policy, theta, s, a, adv, returns, new_baseline)


@dataclass(frozen=True, kw_only=True, eq=False)
class TabularVineSampler:
    """Vine sampling (TRPO sec. 5.2, eq. 15) on a finite MDP, which can be reset to any state.

    1. ``n_trunk_episodes`` trunk episodes of ``pi_theta`` (geometric termination) give
       ``eta_hat`` and ``sigma_hat`` (STRO eq. 4.1-4.2) and the visited states;
    2. the rollout set: ``n_rollout_states`` states drawn uniformly from the visited steps
       (so ``s_n ~ dbar_pi`` up to the ratio estimate);
    3. from each ``s_n``, one branch rollout per action ``a`` (small finite action space,
       TRPO eq. 15): take ``a``, then follow ``pi_theta`` with geometric termination;
       ``Q_hat(s_n, a)`` is the undiscounted branch return. All ``A`` branches of a state
       use COMMON RANDOM NUMBERS (the same uniforms drive termination, transitions and
       actions), which reduces the variance of the differences ``Q_hat(s_n, a) - Q_hat(s_n, b)``.

    The batch holds the pairs ``(s_n, a)`` for every ``a`` with weight
    ``pi_theta(a|s_n) / ((1 - gamma) n_rollout_states)`` and advantage
    ``Q_hat(s_n, a) - sum_b pi_theta(b|s_n) Q_hat(s_n, b)``, so that
    ``sum_i w_i r_i adv_i = 1/((1-gamma) n) sum_n sum_a pi_new(a|s_n) A_hat(s_n, a)``, an
    estimate of ``sum_s rho_pi(s) sum_a pi_new(a|s) A_pi(s, a)`` (eq. 15 with ``rho`` unnormalized).

    Hyperparameters: n_trunk_episodes (``>= 2``), n_rollout_states (``>= 1``),
    max_episode_steps (default :func:`default_max_episode_steps`).
    """

    mdp: TabularMDP
    n_trunk_episodes: int = 20
    n_rollout_states: int = 50
    max_episode_steps: int | None = None

    def __post_init__(self):
        _check_mdp(self.mdp)
        check_int(self.n_trunk_episodes, "n_trunk_episodes", 2)
        check_int(self.n_rollout_states, "n_rollout_states", 1)
        if self.max_episode_steps is None:
            object.__setattr__(self, "max_episode_steps", default_max_episode_steps(float(self.mdp.gamma)))
        check_int(self.max_episode_steps, "max_episode_steps", 1)

    def _branches(self, policy, theta, states, rng):
        """``Q_hat (n, A)`` and the number of steps, with common random numbers per state."""
        mdp = self.mdp
        n, A = states.size, mdp.n_actions
        gamma = float(mdp.gamma)
        cdf_P = np.cumsum(mdp.P, axis=-1)
        cdf_pi = np.cumsum(policy.probs(theta), axis=-1)
        s = np.repeat(states[:, None], A, axis=1)
        a = np.repeat(np.arange(A)[None, :], n, axis=0)
        alive = np.ones((n, A), dtype=bool)
        Q = np.zeros((n, A))
        steps = 0
        for t in range(self.max_episode_steps):
            u = rng.random((3, n))[:, :, None]  # shared across the A branches of a state (CRN)
            if t > 0:
                a = _inverse_cdf(cdf_pi[s], np.broadcast_to(u[0], (n, A)))
            Q += np.where(alive, mdp.r[s, a], 0.0)
            steps += int(alive.sum())
            s = _inverse_cdf(cdf_P[s, a], np.broadcast_to(u[1], (n, A)))
            alive &= np.broadcast_to(u[2] < gamma, (n, A))
            if not alive.any():
                break
        return Q, steps

    def sample(self, policy, theta, rng, baseline=None) -> Batch:
        mdp = self.mdp
        starts = _inverse_cdf(np.cumsum(mdp.rho0), rng.random(self.n_trunk_episodes))
        tr = _simulate(mdp, policy, theta, starts, rng, self.max_episode_steps)
        returns = np.bincount(tr["ep"], weights=tr["r"], minlength=self.n_trunk_episodes)
        rollout = tr["s"][rng.integers(0, tr["s"].size, self.n_rollout_states)]
        Q, steps = self._branches(policy, theta, rollout, rng)
        pi = policy.probs(theta)[rollout]  # (n, A)
        adv = Q - np.sum(pi * Q, axis=1, keepdims=True)
        A = mdp.n_actions
        states = np.repeat(rollout, A)
        actions = np.tile(np.arange(A), self.n_rollout_states)
        weights = pi.ravel() / ((1.0 - float(mdp.gamma)) * self.n_rollout_states)
        return Batch(
            theta=theta, states=states, actions=actions, weights=weights, adv=adv.ravel(),
            logp_old=policy.log_prob(theta, states, actions), returns=returns, eta=float(np.mean(returns)),
            eta_std=float(np.std(returns, ddof=1)), n_samples=int(tr["s"].size + steps), exact=False,
        )
