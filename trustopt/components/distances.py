"""Distances ``D_hat_k(theta, B)`` between ``pi_{theta_k}`` and ``pi_theta`` on a batch (STRO eq. 4.3).

State averages use the NORMALIZED pair weights ``w_i / sum_j w_j`` (the sample average of
TRPO sec. 5 / STRO eq. 4.3; on an exact batch, the expectation under ``dbar_pi = (1-gamma) rho_pi``),
so ``delta`` means the same as TRPO's ``Dbar_KL <= delta`` (TRPO eq. 12).

* :class:`MeanKL`: ``sum_i wbar_i KL(pi_k(.|s_i) || pi_theta(.|s_i))`` (TRPO eq. 12); metric = Fisher.
* :class:`MaxKL`: ``max_i KL(...)`` over the batch's states (TRPO eq. 11; the per-dimension
  max-KL of TRES is the same with dimensions as "states"); no smooth metric.
* :class:`MeanTV`: ``sum_i wbar_i TV_{s_i}`` (STRO eq. 3.6), tabular only; no smooth metric.
* :class:`Euclidean`: ``1/2 ||theta - theta_k||^2``; metric = identity (a natural-gradient
  step with it is a normalized gradient step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MeanKL", "MaxKL", "MeanTV", "Euclidean"]


def _wbar(batch) -> np.ndarray:
    w = batch.weights
    total = float(np.sum(w))
    return w / total if total > 0 else np.full(w.shape, 1.0 / max(w.size, 1))


@dataclass(frozen=True, kw_only=True)
class MeanKL:
    """Mean KL ``sum_i wbar_i KL(pi_{theta_k}(.|s_i) || pi_theta(.|s_i))`` (TRPO eq. 12, App. C).

    ``metric_vector_product`` is the Fisher-vector product ``F v`` with
    ``F = sum_i wbar_i Hess KL_{s_i}`` at ``theta = theta_k`` (TRPO App. C.1, ``J' M J v``).
    """

    def __call__(self, policy, theta_k, theta, batch) -> float:
        return float(np.sum(_wbar(batch) * policy.kl(theta_k, theta, batch.states)))

    def metric_vector_product(self, policy, theta_k, batch):
        states, wbar = batch.states, _wbar(batch)
        return lambda v: policy.fisher_vector_product(theta_k, states, wbar, v)


@dataclass(frozen=True, kw_only=True)
class MaxKL:
    """``max_i KL(pi_{theta_k}(.|s_i) || pi_theta(.|s_i))`` (TRPO eq. 11). No metric."""

    def __call__(self, policy, theta_k, theta, batch) -> float:
        return float(np.max(policy.kl(theta_k, theta, batch.states)))

    def metric_vector_product(self, policy, theta_k, batch):
        return None


@dataclass(frozen=True, kw_only=True)
class MeanTV:
    """``sum_i wbar_i TV_{s_i}``, ``TV_s = 1/2 sum_a |pi_k(a|s) - pi(a|s)|`` (STRO eq. 3.6 with
    normalized weights). Needs a policy with ``tv`` (tabular). No metric."""

    def __call__(self, policy, theta_k, theta, batch) -> float:
        return float(np.sum(_wbar(batch) * policy.tv(theta_k, theta, batch.states)))

    def metric_vector_product(self, policy, theta_k, batch):
        return None


@dataclass(frozen=True, kw_only=True)
class Euclidean:
    """``1/2 ||theta - theta_k||_2^2``; metric-vector product ``v -> v``."""

    def __call__(self, policy, theta_k, theta, batch) -> float:
        d = np.asarray(theta) - np.asarray(theta_k)
        return float(0.5 * np.dot(d, d))

    def metric_vector_product(self, policy, theta_k, batch):
        return lambda v: np.array(v, dtype=np.float64)
