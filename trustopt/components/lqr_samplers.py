"""Samplers on a discounted LQR (:mod:`trustopt.lqr`; STRO sec. 3.2.2) for linear Gaussian policies.

The policy is :class:`~trustopt.components.flat_policies.FlatLinearGaussian`,
``pi_theta(.|s) = N(K s + b, diag(exp(2 log_std)))`` with ``theta = [K.ravel(), b, log_std]``
(the layout of :attr:`trustopt.lqr.LQRPolicy.theta`), ``n`` states, ``m`` actions.

* :class:`ExactLQRSampler` -- the exact oracle as a sampler (``exact=True``): noise-free,
  deterministic batches; see its docstring for what is exact and what is not.
* :class:`LQREpisodeSampler` -- single-path rollouts (TRPO sec. 5.1; STRO Alg. 4.1) with
  GEOMETRIC TERMINATION, exactly as :class:`~trustopt.components.tabular_samplers.TabularEpisodeSampler`:
  after each step the episode continues with probability ``gamma`` (truncated after
  ``max_episode_steps``), so with weight ``1/tau`` per visited pair every weighted sum is an
  unbiased estimate of the ``rho_pi``-weighted (UNNORMALIZED visitation) sum, the
  undiscounted episode return is an unbiased estimate of ``eta`` (STRO eq. 4.1), and GAE runs
  with discount 1 on the terminating chain. Truncation bias: the tail beyond
  ``max_episode_steps`` steps, of relative size about ``gamma^max_episode_steps``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from trustopt import lqr as lqr_oracle
from trustopt._validation import ValidationError, check_int, readonly
from trustopt.components.tabular_samplers import _GeometricEpisodeSampler, _StepLog
from trustopt.core.types import Batch
from trustopt.estimators import ridge_regression

__all__ = ["ExactLQRModel", "ExactLQRSampler", "LQREpisodeSampler", "quadratic_features", "lqr_theta0"]


def _check_lqr(problem) -> "lqr_oracle.LQR":
    if not isinstance(problem, lqr_oracle.LQR):
        raise ValidationError(f"lqr: expected a trustopt.lqr.LQR, got {type(problem).__name__}")
    return problem


def _check_policy(lqr, policy, theta) -> None:
    want = lqr.m * (lqr.n + 2)
    if getattr(policy, "n_params", None) != want or np.shape(theta) != (want,):
        raise ValidationError(f"policy: expected a linear Gaussian policy with {want} = m (n + 2) parameters "
                              f"(n = {lqr.n}, m = {lqr.m})")


def _psd_sqrt(C: np.ndarray) -> np.ndarray:
    """``L`` with ``L L' = C`` for a symmetric PSD ``C`` (eigen-decomposition; negative round-off clipped)."""
    lam, V = np.linalg.eigh(0.5 * (C + C.T))
    return V * np.sqrt(np.clip(lam, 0.0, None))


def _policy(lqr, theta) -> "lqr_oracle.LQRPolicy":
    return lqr_oracle.LQRPolicy.from_theta(theta, obs_dim=lqr.n, act_dim=lqr.m)


def lqr_theta0(lqr, theta0=None) -> np.ndarray:
    """Initial parameters for ``lqr``: ``theta0`` if given, else ``K = 0, b = 0, log_std = 0``.

    Raises :class:`~trustopt.ValidationError` naming ``theta0`` when the policy is not stable in the
    discounted sense (spectral radius of ``sqrt(gamma)(A + B K)`` ``>= 1``, where ``eta = -inf`` and
    rollouts diverge; :func:`trustopt.lqr.spectral_radius`)."""
    lqr = _check_lqr(lqr)
    d = lqr.m * (lqr.n + 2)
    given = theta0 is not None
    theta = np.zeros(d) if not given else np.asarray(theta0, dtype=np.float64).ravel()
    if theta.shape != (d,) or not np.all(np.isfinite(theta)):
        raise ValidationError(f"theta0: expected {d} = m (n + 2) finite parameters [K.ravel(), b, log_std], "
                              f"got shape {np.shape(theta0)}")
    rad = lqr_oracle.spectral_radius(lqr, _policy(lqr, theta))
    if not rad < 1.0:
        what = "the given theta0" if given else "the default theta0 (K = 0)"
        raise ValidationError(f"theta0: {what} is not stabilizing: spectral radius of sqrt(gamma)(A + B K) is "
                              f"{rad:.4g} >= 1; pass a stabilizing theta0, e.g. "
                              f"trustopt.lqr.random_policy(rng, lqr).theta")
    return theta


# ----------------------------------------------------------------------------- exact mode
@dataclass(frozen=True, eq=False)
class ExactLQRModel:
    """The closed-form model function carried by an exact LQR batch (``Batch.oracle``).

    ``surrogate_value(theta) = L_{pi_k}(pi_theta)`` (STRO eq. 2.4; TRPO eq. 3 with the
    UNNORMALIZED visitation ``rho_{pi_k}``) by :func:`trustopt.lqr.surrogate`, and its exact
    gradient in ``theta (d,)`` by :func:`trustopt.lqr.grad_surrogate` (layout
    ``[K.ravel(), b, log_std]``). :class:`~trustopt.components.surrogates.ImportanceSampled`
    uses these on an exact batch instead of its importance-sampled sum, which on any finite
    set of actions is exact only at ``theta_k``.

    Attributes: lqr; pi (:class:`trustopt.lqr.LQRPolicy` ``pi_k``); ev (its
    :class:`trustopt.lqr.Evaluation`).
    """

    lqr: "lqr_oracle.LQR"
    pi: "lqr_oracle.LQRPolicy"
    ev: "lqr_oracle.Evaluation"

    def surrogate_value(self, theta) -> float:
        return lqr_oracle.surrogate(self.lqr, self.pi, _policy(self.lqr, theta), ev=self.ev)

    def surrogate_value_and_grad(self, theta) -> tuple[float, np.ndarray]:
        pit = _policy(self.lqr, theta)
        L = lqr_oracle.surrogate(self.lqr, self.pi, pit, ev=self.ev)
        return L, lqr_oracle.grad_surrogate(self.lqr, self.pi, pit, ev=self.ev).theta


def _gauss_hermite(q: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss-Hermite rule for ``N(0, I_m)``: nodes ``(q^m, m)``, weights ``(q^m,)`` summing to 1;
    exact for polynomials of degree ``<= 2q - 1`` in each coordinate."""
    x, w = hermegauss(q)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * m), indexing="ij")
    wgrids = np.meshgrid(*([w] * m), indexing="ij")
    z = np.stack([g.ravel() for g in grids], axis=1)
    return z, np.prod(np.stack([g.ravel() for g in wgrids], axis=1), axis=1)


@dataclass(frozen=True, kw_only=True, eq=False)
class ExactLQRSampler:
    """The exact LQR oracle as a sampler: a deterministic batch with no samples (``n_samples = 0``).

    At ``theta_k`` (policy ``pi_k``, evaluation ``ev = trustopt.lqr.evaluate``) the batch has

    * ``eta = eta(pi_k)`` exact, ``eta_std = 0`` (so STRO's ratio eq. 4.14 is eq. 3.2);
    * ``oracle``: an :class:`ExactLQRModel`, so the importance-sampled surrogate
      ``L_{pi_k}(pi_theta)`` (TRPO eq. 14 / STRO eq. 4.3) and its gradient are the closed forms
      of :func:`trustopt.lqr.surrogate` / :func:`trustopt.lqr.grad_surrogate` at EVERY ``theta``;
    * quadrature pairs ``(s_i, a_i)`` with weights ``w_i`` (unnormalized-visitation scale) and the
      exact advantages ``A_{pi_k}(s_i, a_i)`` (:func:`trustopt.lqr.advantage`):

      - states: the ``2n`` symmetric sigma points ``s = mu_s +- sqrt(n) L e_j`` of the
        visitation's mean ``mu_s`` and covariance ``C_s = L L'`` (from ``ev.M``: the moments
        of ``dbar_pi = (1-gamma) rho_pi``), each of weight ``1 / (2n (1-gamma))``;
      - actions at each state: ``a = K s + b + sigma * z`` over the tensor Gauss-Hermite
        rule for ``N(0, I_m)`` with ``action_nodes`` (``q``) nodes per dimension.

      For ``f(s, a)`` of degree ``<= 2`` in ``s`` after integrating out ``a`` and of degree
      ``<= 2q - 1`` in ``a``, ``sum_i w_i f(s_i, a_i) = sum_s rho_pi(s) E_{a ~ pi_k} f(s, a)``
      EXACTLY (the visitation is not Gaussian, but its first two moments are matched, which is
      all a quadratic needs). This covers: the mean KL ``E_dbar KL(pi_k(.|s) || pi_theta(.|s))``
      at every ``theta`` (quadratic in ``s``; :class:`~trustopt.components.distances.MeanKL`),
      the Fisher matrix (TRPO App. C.1), ``sum_i w_i A_i = 0`` and the policy gradient
      ``sum_i w_i A_i grad log pi_k(a_i|s_i) = grad eta(pi_k)`` (STRO eq. 2.6; the log-std
      score ``z^2 - 1`` times the quadratic ``A`` has degree 4 in ``a``, hence ``q >= 3``).

    NOT exact: the clipped objectives of PPO (:class:`~trustopt.components.surrogates.ClippedRatio`)
    and TREFree (:class:`~trustopt.components.surrogates.ClippedObjective`) have no closed form;
    on this batch they are evaluated on the quadrature pairs, i.e. as a deterministic
    quadrature of ``E[min(r A, clip(r) A)]`` that is exact (value and gradient) at ``theta_k``
    and an approximation elsewhere. Exact mode for PPO/TREFree therefore means "noise-free and
    deterministic", not "the exact clipped expectation".

    At a ``theta`` that is not stable in the discounted sense the batch is empty with
    ``eta = -inf`` (a ratio test then rejects the trial; a model batch there makes the loop
    record a non-finite surrogate and keep the iterate).

    Hyperparameters:
        lqr: the :class:`trustopt.lqr.LQR`.
        action_nodes: Gauss-Hermite nodes per action dimension, ``q >= 3`` (default 3; the batch
            has ``2n q^m`` pairs).
    """

    lqr: "lqr_oracle.LQR"
    action_nodes: int = 3

    def __post_init__(self):
        _check_lqr(self.lqr)
        check_int(self.action_nodes, "action_nodes", 3)

    def sample(self, policy, theta, rng=None, baseline=None) -> Batch:
        lqr = self.lqr
        _check_policy(lqr, policy, theta)
        n, m = lqr.n, lqr.m
        pi = _policy(lqr, theta)
        if not lqr_oracle.spectral_radius(lqr, pi) < 1.0:
            return Batch(theta=theta, states=np.zeros((0, n)), actions=np.zeros((0, m)), weights=np.zeros(0),
                         adv=np.zeros(0), logp_old=np.zeros(0), returns=np.zeros(0), eta=-math.inf, eta_std=0.0,
                         n_samples=0, exact=True, oracle=None)
        ev = lqr_oracle.evaluate(lqr, pi)
        mass = float(ev.M[n, n])  # 1 / (1 - gamma)
        mu_s = ev.M[:n, n] / mass
        C_s = ev.M[:n, :n] / mass - np.outer(mu_s, mu_s)
        L = math.sqrt(n) * _psd_sqrt(C_s)
        states = np.concatenate([mu_s + L.T, mu_s - L.T])  # (2n, n): mu_s +- sqrt(n) L e_j
        z, wz = _gauss_hermite(self.action_nodes, m)
        mean = pi.mean(states)  # (2n, m)
        actions = (mean[:, None, :] + pi.std * z[None, :, :]).reshape(-1, m)
        states = np.repeat(states, z.shape[0], axis=0)
        weights = np.tile(wz, 2 * n) * (mass / (2 * n))
        adv = lqr_oracle.advantage(lqr, pi, states, actions, ev=ev)
        return Batch(
            theta=theta, states=states, actions=actions, weights=weights, adv=adv,
            logp_old=policy.log_prob(theta, states, actions), returns=np.zeros(0), eta=float(ev.eta),
            eta_std=0.0, n_samples=0, exact=True, oracle=ExactLQRModel(lqr, pi, ev),
        )


# ----------------------------------------------------------------------------- sampled mode
def quadratic_features(states) -> np.ndarray:
    """``phi(s) = [s_i s_j (i <= j), s, 1]`` for ``states (N, n)``: ``(N, n(n+1)/2 + n + 1)``.

    Every ``V_pi(s) = -x' P x - c`` of a linear Gaussian policy on an LQR (``x = [s; 1]``,
    :func:`trustopt.lqr.value`) is linear in these features, so the fitted baseline can be exact."""
    s = np.asarray(states, dtype=np.float64)
    i, j = np.triu_indices(s.shape[1])
    return np.hstack([s[:, i] * s[:, j], s, np.ones((s.shape[0], 1))])


def _simulate(lqr, policy, theta, n_episodes: int, rng, max_steps: int) -> dict:
    """Lockstep rollouts with geometric termination; per-step arrays sorted by (episode, t)."""
    n = lqr.n
    A, B, Q, R, gamma = lqr.A, lqr.B, lqr.Q, lqr.R, float(lqr.gamma)
    LW = _psd_sqrt(lqr.W)
    s = lqr.mu0 + rng.standard_normal((n_episodes, n)) @ _psd_sqrt(lqr.Sigma0).T
    ep_ids = np.arange(n_episodes)
    log = _StepLog()
    t = 0
    while ep_ids.size:
        k = ep_ids.size
        a = policy.sample(theta, s, rng)
        r = -(np.einsum("ij,jk,ik->i", s, Q, s) + np.einsum("ij,jk,ik->i", a, R, a))
        cont = rng.random(k) < gamma
        s_next = s @ A.T + a @ B.T + rng.standard_normal((k, n)) @ LW.T
        trunc = cont & (t + 1 >= max_steps)
        log.add(ep=ep_ids, t=t, s=s, a=a, r=r, s_next=s_next, term=~cont, trunc=trunc)
        # an overflowed (diverging) episode ends here; the batch is then marked non-finite
        keep = cont & ~trunc & np.all(np.isfinite(s_next), axis=1) & np.isfinite(r)
        ep_ids, s = ep_ids[keep], s_next[keep]
        t += 1
    return log.arrays()


@dataclass(frozen=True, kw_only=True, eq=False)
class LQREpisodeSampler(_GeometricEpisodeSampler):
    """Single-path sampling (TRPO sec. 5.1; STRO Alg. 4.1) of Gaussian-policy rollouts on an LQR.

    ``n_episodes`` episodes from ``s_0 ~ N(mu0, Sigma0)`` with ``a_t = K s_t + b + sigma * xi_t``,
    ``s_{t+1} = A s_t + B a_t + w_t`` (``w_t ~ N(0, W)``), ``r_t = -(s_t' Q s_t + a_t' R a_t)`` and
    geometric termination (module docstring). The batch holds every visited pair with weight
    ``1/n_episodes``, ``eta_hat = mean_j R_j`` (undiscounted episode returns, STRO eq. 4.1),
    ``sigma_hat`` (eq. 4.2, ``ddof=1``), and GAE advantages (STRO eq. 4.4; slides "GAE")::

        delta_t = r_t + 1{continue} V(s_{t+1}) - V(s_t),   A_t = sum_l lambda^l delta_{t+l}

    with the value baseline ``V(s) = phi(s)' w`` on :func:`quadratic_features` (which contain
    ``V_pi`` exactly), ``w`` by ridge regression (:func:`trustopt.estimators.ridge_regression`;
    STRO eq. 4.5) on the reward-to-go targets of the PREVIOUS batch (``baseline``; on the first
    batch, of the batch itself; :func:`trustopt.estimators.gae_with_fitted_baseline` with
    ``gamma = 1``). ``use_baseline=False`` gives REINFORCE without baseline.
    Rollouts of an unstable policy may overflow: an overflowing episode ends at that step and
    the batch is returned without pairs, with ``eta = -inf`` and the previous baseline (a model
    batch there makes the loop record a non-finite surrogate; a ratio test rejects such a trial).

    Hyperparameters (defaults as :class:`~trustopt.components.tabular_samplers.TabularEpisodeSampler`):
        n_episodes (``>= 2``, default 100), lambda_ in [0, 1] (0.97), use_baseline (True),
        reg_coeff (``>= 0``, 1e-5, rllab), max_episode_steps (default: smallest ``T`` with
        ``gamma^T <= 1e-6``).
    """

    lqr: "lqr_oracle.LQR"

    def __post_init__(self):
        _check_lqr(self.lqr)
        self._check_episode_fields(float(self.lqr.gamma))

    def sample(self, policy, theta, rng, baseline=None) -> Batch:
        lqr = self.lqr
        _check_policy(lqr, policy, theta)
        with np.errstate(over="ignore", invalid="ignore"):
            tr = _simulate(lqr, policy, theta, self.n_episodes, rng, self.max_episode_steps)
            s, a, r, term, trunc = tr["s"], tr["a"], tr["r"], tr["term"], tr["trunc"]
            returns = np.bincount(tr["ep"], weights=r, minlength=self.n_episodes)
            finite = bool(np.all(np.isfinite(r)) and np.all(np.isfinite(tr["s_next"])))
            if not finite:  # diverged: no pairs, eta = -inf (the loop records a numerical failure)
                n, m = lqr.n, lqr.m
                return Batch(theta=theta, states=np.zeros((0, n)), actions=np.zeros((0, m)), weights=np.zeros(0),
                             adv=np.zeros(0), logp_old=np.zeros(0), returns=np.full(self.n_episodes, -math.inf),
                             eta=-math.inf, eta_std=math.nan, n_samples=int(r.size), exact=False,
                             baseline=baseline)
            phi = phi_next = None
            if self.use_baseline:  # V(s) = phi(s)' w on quadratic features, fitted on the previous batch
                phi, phi_next = quadratic_features(s), quadratic_features(tr["s_next"])
            adv, w = self._advantages(r, term, trunc, baseline,
                                      fit=lambda targets: ridge_regression(phi, targets, self.reg_coeff),
                                      predict=lambda w: (phi @ w, phi_next @ w))
        return self._batch(policy, theta, s, a, adv, returns, baseline if w is None else readonly(w))
