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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustopt._validation import check_positive

__all__ = ["ImportanceSampled", "ClippedRatio", "ClippedObjective"]


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

    ``grad L_hat = sum_i w_i r_i A_i grad log pi_theta(a_i|s_i)``. No hyperparameters.

    On an exact batch that carries a closed-form model (the LQR oracle, whose pairs are a
    quadrature exact only at ``theta_k``), value and gradient are the model's exact
    ``L_{pi_k}(pi_theta)`` and ``grad L`` at every ``theta`` (TRPO eq. 3; STRO eq. 2.4).
    """

    def value(self, policy, theta, batch) -> float:
        model = _closed_form(batch)
        if model is not None:
            return float(model.surrogate_value(theta))
        return float(batch.eta + np.sum(batch.weights * _ratio(policy, theta, batch) * batch.adv))

    def value_and_grad(self, policy, theta, batch):
        model = _closed_form(batch)
        if model is not None:
            L, g = model.surrogate_value_and_grad(theta)
            return float(L), np.asarray(g, dtype=np.float64)
        c = batch.weights * _ratio(policy, theta, batch) * batch.adv
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
    """

    epsilon: float = 0.2

    def __post_init__(self):
        check_positive(self.epsilon, "epsilon")

    def _terms(self, policy, theta, batch):
        r = _ratio(policy, theta, batch)
        unclipped = r * batch.adv
        clipped = np.clip(r, 1.0 - self.epsilon, 1.0 + self.epsilon) * batch.adv
        return r, np.minimum(unclipped, clipped), unclipped <= clipped

    def value(self, policy, theta, batch) -> float:
        _, obj, _ = self._terms(policy, theta, batch)
        return float(batch.eta + np.sum(batch.weights * obj))

    def value_and_grad(self, policy, theta, batch):
        r, obj, active = self._terms(policy, theta, batch)
        c = np.where(active, batch.weights * r * batch.adv, 0.0)
        g = policy.score_vector_product(theta, batch.states, batch.actions, c)
        return float(batch.eta + np.sum(batch.weights * obj)), g


@dataclass(frozen=True, kw_only=True)
class ClippedObjective:
    """TREFree's objective-conservative surrogate (TREFree Alg. 1; the bound of Thm. 3.3)::

        L_hat(theta) = eta_hat + sum_i w_i min((r_i - 1) A_i, delta)

    Gradient: ``w_i A_i r_i grad log pi`` where ``(r_i - 1) A_i < delta``, zero elsewhere.

    Hyperparameters:
        delta: threshold ``> 0`` on the advantage-weighted ratio deviation (default 0.01,
            TREFree sec. 5: "we heuristically set delta to 0.01").
    """

    delta: float = 0.01

    def __post_init__(self):
        check_positive(self.delta, "delta")

    def value(self, policy, theta, batch) -> float:
        dev = (_ratio(policy, theta, batch) - 1.0) * batch.adv
        return float(batch.eta + np.sum(batch.weights * np.minimum(dev, self.delta)))

    def value_and_grad(self, policy, theta, batch):
        r = _ratio(policy, theta, batch)
        dev = (r - 1.0) * batch.adv
        c = np.where(dev < self.delta, batch.weights * r * batch.adv, 0.0)
        g = policy.score_vector_product(theta, batch.states, batch.actions, c)
        return float(batch.eta + np.sum(batch.weights * np.minimum(dev, self.delta))), g
