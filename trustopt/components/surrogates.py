"""Surrogates (model functions) ``L_hat_{theta_k}(theta, B)`` and their gradients.

With the batch of :class:`trustopt.core.types.Batch` (weights ``w_i`` on the
unnormalized-visitation scale), the probability ratio ``r_i(theta) = pi_theta(a_i|s_i) /
pi_{theta_k}(a_i|s_i) = exp(log pi_theta - logp_old_i)`` and ``A_i = adv_i``:

* :class:`ImportanceSampled` (TRPO eq. 14; STRO eq. 4.3):   ``eta_hat + sum_i w_i r_i A_i``
* :class:`ClippedRatio` (PPO; TREFree eq. 4):
  ``eta_hat + sum_i w_i min(r_i A_i, clip(r_i, 1-epsilon, 1+epsilon) A_i)``
* :class:`ClippedObjective` (TREFree Alg. 1, sec. 4 "objective-conservative"):
  ``eta_hat + sum_i w_i min((r_i - 1) A_i, delta)``

The gradient uses ``grad r_i = r_i grad log pi_theta(a_i|s_i)`` and the policy's
score-vector product ``sum_i c_i grad log pi(a_i|s_i)``, so it costs one pass over the batch.
All three equal ``eta_hat + sum_i w_i A_i`` (or ``eta_hat``) at ``theta_k`` and have the same
gradient there, ``sum_i w_i A_i grad log pi_{theta_k}(a_i|s_i)`` (the policy gradient;
on an exact batch, STRO eq. 2.6-2.7).

Advantage normalization (``normalize_advantages=True``; the per-batch normalization of the
TRPO and PPO implementations that TREFree sec. 5 adopts: "the advantages are normalized only
within a training batch"; OpenAI Spinning Up's VPG buffer does the same): every ``A_i`` is
replaced by ``(A_i - m) / s`` with the weighted mean and standard deviation of the batch it
is evaluated on (:func:`advantage_stats`). This divides the model's gain and gradient by
``s`` (they are in units of the advantage's spread, free of the reward scale) and centers it;
``L_hat(theta_k)`` is still ``eta_hat``. The centering term ``m sum_i w_i (r_i - 1)`` has
expectation zero, and on an exact batch ``m = 0`` (``sum_s rho(s) E_pi A = 0``), so
``s * (L_hat(theta) - L_hat(theta_k))`` is the un-normalized predicted gain (exactly so in exact
mode). The step solvers therefore report ``predicted_gain = s * (L_hat(theta_tilde) - L_hat(theta_k))``
(:func:`trustopt.components.steps.gain_scale`), on the scale of ``eta``, which STRO's ratio test
(eq. 3.2 / 4.14) compares with the change of ``eta_hat``: in exact mode the ratio is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trustopt._validation import check_bool, check_positive

__all__ = ["ImportanceSampled", "ClippedRatio", "ClippedObjective", "advantage_stats", "clipped_terms"]

#: Floor on ``s`` (OpenAI Baselines adds 1e-8 to the std); with ``s = 0`` every centered advantage is 0.
_STD_FLOOR = 1e-8


def advantage_stats(batch) -> tuple[float, float]:
    """``(m, s)``: weighted mean and standard deviation of the batch's advantages::

        m = sum_i w_i A_i / sum_i w_i ,   s = sqrt(sum_i w_i (A_i - m)^2 / sum_i w_i) + 1e-8

    (``w``: ``(N,)`` pair weights, ``A``: ``(N,)`` advantages). On an exact batch ``m = 0`` up to
    round-off (``sum_s rho_pi(s) E_{a~pi} A_pi(s, a) = 0``); on an exact LQR batch ``s`` is the
    deterministic quadrature of the advantage's spread (a scale, not an exact moment).
    """
    w = batch.weights
    W = float(np.sum(w))
    if not W > 0.0:
        return 0.0, 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        m = float(np.sum(w * batch.adv) / W)
        s = float(np.sqrt(np.sum(w * (batch.adv - m) ** 2) / W))
    if not (math.isfinite(m) and math.isfinite(s)) and np.all(np.isfinite(batch.adv)):
        # advantages of ~1e200 (rewards of that scale): the squares overflow and s = inf would make
        # every normalized advantage 0, a false stationary point; the same statistics on A / max|A|
        c = float(np.max(np.abs(batch.adv)))
        a = batch.adv / c
        m_c = float(np.sum(w * a) / W)
        m, s = m_c * c, float(np.sqrt(np.sum(w * (a - m_c) ** 2) / W)) * c
    return m, s + _STD_FLOOR


def clipped_terms(r, A, epsilon) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The terms of a clipped surrogate (PPO eq. 7; TRES eq. 25), elementwise::

        unclipped = r A
        objective = min(r A, clip(r, 1 - epsilon, 1 + epsilon) A)
        active    = (r A <= clip(r, 1 - epsilon, 1 + epsilon) A)   # the gradient flows through r

    ``r`` the likelihood ratios and ``A`` the advantages (or shaped fitness), broadcast together
    (``(N,)`` for :class:`ClippedRatio`, ``(N, d)`` per dimension for TRES); ``epsilon > 0``
    (TRES's ``lambda_``). Returns ``(unclipped, objective, active)``, each of the broadcast shape.
    """
    unclipped = r * A
    clipped = np.clip(r, 1.0 - epsilon, 1.0 + epsilon) * A
    return unclipped, np.minimum(unclipped, clipped), unclipped <= clipped


def _advantages(batch, normalize: bool) -> np.ndarray:
    if not normalize:
        return batch.adv
    m, s = advantage_stats(batch if batch.whole is None else batch.whole)  # a sampled minibatch: its own
    return (batch.adv - m) / s


def _ratio(policy, theta, batch) -> np.ndarray:
    return np.exp(policy.log_prob(theta, batch.states, batch.actions) - batch.logp_old)


def _closed_form(batch):
    """The closed-form model ``L_{pi_k}(pi_theta)`` an exact batch may carry as its ``oracle``
    (an object with ``surrogate_value(theta)`` and ``surrogate_value_and_grad(theta)``, e.g.
    :class:`~trustopt.components.lqr_samplers.ExactLQRModel`), or None."""
    model = batch.oracle if batch.exact else None
    return model if hasattr(model, "surrogate_value_and_grad") else None


@dataclass(frozen=True, kw_only=True)
class ImportanceSampled:
    """``L_hat(theta) = eta_hat + sum_i w_i r_i(theta) A_i`` (TRPO eq. 14; STRO eq. 4.3).

    ``grad L_hat = sum_i w_i r_i A_i grad log pi_theta(a_i|s_i)``.

    On an exact batch that carries a closed-form model (the LQR oracle, whose pairs are a
    quadrature exact only at ``theta_k``), value and gradient are the model's exact
    ``L_{pi_k}(pi_theta)`` and ``grad L`` at every ``theta`` (TRPO eq. 3; STRO eq. 2.4); with
    normalization, ``eta + (L - eta - m sum_i w_i) / s`` and ``grad L / s``.

    Hyperparameters:
        normalize_advantages: use ``(A_i - m) / s`` (module docstring; default False).
    """

    normalize_advantages: bool = False

    def __post_init__(self):
        check_bool(self.normalize_advantages, "normalize_advantages")

    def value(self, policy, theta, batch) -> float:
        model = _closed_form(batch)
        if model is not None:
            L = float(model.surrogate_value(theta))
            if self.normalize_advantages:
                m, s = advantage_stats(batch)
                L = batch.eta + (L - batch.eta - m * float(np.sum(batch.weights))) / s
            return float(L)
        adv = _advantages(batch, self.normalize_advantages)
        return float(batch.eta + np.sum(batch.weights * _ratio(policy, theta, batch) * adv))

    def value_and_grad(self, policy, theta, batch):
        model = _closed_form(batch)
        if model is not None:
            L, g = model.surrogate_value_and_grad(theta)
            L, g = float(L), np.asarray(g, dtype=np.float64)
            if self.normalize_advantages:
                m, s = advantage_stats(batch)
                L, g = batch.eta + (L - batch.eta - m * float(np.sum(batch.weights))) / s, g / s
            return float(L), g
        c = batch.weights * _ratio(policy, theta, batch) * _advantages(batch, self.normalize_advantages)
        g = policy.score_vector_product(theta, batch.states, batch.actions, c)
        return float(batch.eta + np.sum(c)), g


@dataclass(frozen=True, kw_only=True)
class ClippedRatio:
    """PPO's clipped surrogate (Schulman et al. 2017; TREFree eq. 4, sec. 2)::

        L_hat(theta) = eta_hat + sum_i w_i min(r_i A_i, clip(r_i, 1 - epsilon, 1 + epsilon) A_i)

    Gradient: ``w_i A_i r_i grad log pi`` on the pairs where the unclipped term is the
    minimum (``r_i A_i <= clip(r_i) A_i``), zero elsewhere.

    Hyperparameters:
        epsilon: clip range ``> 0`` (default 0.2: PPO paper, the value TREFree sec. 5 uses
            as the PPO baseline).
        normalize_advantages: use ``(A_i - m) / s`` (module docstring; default False).
    """

    epsilon: float = 0.2
    normalize_advantages: bool = False

    def __post_init__(self):
        check_positive(self.epsilon, "epsilon")
        check_bool(self.normalize_advantages, "normalize_advantages")

    def _terms(self, policy, theta, batch):
        r = _ratio(policy, theta, batch)
        adv = _advantages(batch, self.normalize_advantages)
        _, objective, active = clipped_terms(r, adv, self.epsilon)
        return r, objective, active, adv

    def value(self, policy, theta, batch) -> float:
        _, obj, _, _ = self._terms(policy, theta, batch)
        return float(batch.eta + np.sum(batch.weights * obj))

    def value_and_grad(self, policy, theta, batch):
        r, obj, active, adv = self._terms(policy, theta, batch)
        c = np.where(active, batch.weights * r * adv, 0.0)
        g = policy.score_vector_product(theta, batch.states, batch.actions, c)
        return float(batch.eta + np.sum(batch.weights * obj)), g


@dataclass(frozen=True, kw_only=True)
class ClippedObjective:
    """TREFree's objective-conservative surrogate (TREFree Alg. 1; the bound of Thm. 3.3)::

        L_hat(theta) = eta_hat + sum_i w_i min((r_i - 1) A_i, delta)

    Gradient: ``w_i A_i r_i grad log pi`` where ``(r_i - 1) A_i < delta``, zero elsewhere.

    Hyperparameters:
        delta: threshold ``> 0`` on the advantage-weighted ratio deviation (default 0.01,
            TREFree sec. 5: "we heuristically set delta to 0.01", with advantages normalized
            within the batch, i.e. ``delta`` is in units of ``s``).
        normalize_advantages: use ``(A_i - m) / s`` (module docstring; default False).
    """

    delta: float = 0.01
    normalize_advantages: bool = False

    def __post_init__(self):
        check_positive(self.delta, "delta")
        check_bool(self.normalize_advantages, "normalize_advantages")

    def value(self, policy, theta, batch) -> float:
        dev = (_ratio(policy, theta, batch) - 1.0) * _advantages(batch, self.normalize_advantages)
        return float(batch.eta + np.sum(batch.weights * np.minimum(dev, self.delta)))

    def value_and_grad(self, policy, theta, batch):
        r = _ratio(policy, theta, batch)
        adv = _advantages(batch, self.normalize_advantages)
        dev = (r - 1.0) * adv
        c = np.where(dev < self.delta, batch.weights * r * adv, 0.0)
        g = policy.score_vector_product(theta, batch.states, batch.actions, c)
        return float(batch.eta + np.sum(batch.weights * np.minimum(dev, self.delta))), g
