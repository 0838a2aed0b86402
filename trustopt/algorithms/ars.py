"""Augmented Random Search (Mania, Guy & Recht 2018, "Simple random search provides a
competitive approach to reinforcement learning", Algorithm 1) as a step solver of the loop.

The batch holds ``N = 2m`` antithetic samples: rows ``j`` and ``j + m`` are
``theta_k + nu delta_j`` and ``theta_k - nu delta_j`` with values ``r_+(j), r_-(j)`` to maximize.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustopt._validation import ValidationError, check_positive
from trustopt.core.protocols import StepSolver
from trustopt.core.types import NONPOSITIVE_GAIN, STEP_OK, SUBPROBLEM_FAILED, Proposal

__all__ = ["ARSStep", "ars_direction", "ars"]


def ars_direction(r_plus, r_minus, delta, n_top: int) -> tuple[np.ndarray, float]:
    """ARS V1-t / V2-t update direction (Mania et al. 2018, Alg. 1, lines 6-7)::

        b-best:  sort j by max(r_+(j), r_-(j)), keep the top b
        sigma_R: standard deviation of the 2b rewards kept
        dir  = 1 / (b sigma_R) * sum_{j in top b} (r_+(j) - r_-(j)) delta_j

    Shapes: ``r_plus, r_minus (m,)``, ``delta (m, d)`` (unit-variance directions). Returns
    ``(dir (d,), sigma_R)``; ``dir = 0`` when ``sigma_R = 0`` (no information). With
    ``b = m`` this is ARS V1/V2 (no top-b selection). V2 differs from V1 only in the
    normalization of the policy's OBSERVATIONS (a running mean/std), which belongs to
    the rollout sampler, not to this update.
    """
    r_plus = np.asarray(r_plus, dtype=np.float64)
    r_minus = np.asarray(r_minus, dtype=np.float64)
    m = r_plus.shape[0]
    if not 1 <= n_top <= m:
        raise ValidationError(f"n_top: must lie in [1, {m}], got {n_top}")
    order = np.argsort(-np.maximum(r_plus, r_minus), kind="stable")[:n_top]
    kept = np.concatenate([r_plus[order], r_minus[order]])
    sigma_R = float(np.std(kept))
    if not sigma_R > 0.0:
        return np.zeros(np.shape(delta)[1]), 0.0
    return (r_plus[order] - r_minus[order]) @ np.asarray(delta)[order] / (n_top * sigma_R), sigma_R


@dataclass(frozen=True, kw_only=True)
class ARSStep(StepSolver):
    """ARS parameter update as a step solver: ``theta_tilde = theta_k + s * alpha * dir``.

    ``dir`` from :func:`ars_direction` with ``delta_j = (x_j - theta_k) / nu`` (``nu`` the
    sampling standard deviation of row ``j``), ``s`` the radius (dimensionless scale; 1 for
    the paper's constant step size). ``predicted_gain = g0 . step`` (``gain="raw"``, the
    linear model of the smoothed objective from TRES eq. 6) or ``dir . step`` (``"shaped"``).

    The batch must hold ``N = 2m`` antithetic samples (the factories :func:`ars` and
    :class:`trustopt.blackbox.ARS` always draw pairs); any other batch gives a proposal with
    status ``subproblem_failed`` (the loop keeps ``theta_k``), never an exception.

    Hyperparameters: ``alpha`` the step size (Mania et al. Table 9 use 0.01-0.03 on MuJoCo;
    default 0.02), ``top_fraction`` = b/N in (0, 1] (their tuned b/N range over 0.125-1;
    default 0.5).
    """

    alpha: float = 0.02
    top_fraction: float = 0.5
    gain: str = "shaped"

    def __post_init__(self):
        check_positive(self.alpha, "alpha")
        if not 0.0 < self.top_fraction <= 1.0:
            raise ValidationError(f"top_fraction: must lie in (0, 1], got {self.top_fraction!r}")
        if self.gain not in ("raw", "shaped"):
            raise ValidationError(f"gain: must be 'raw' or 'shaped', got {self.gain!r}")

    def propose(self, model, radius, rng, step_state=None) -> Proposal:
        theta_k, batch, g0 = model.theta_k, model.batch, model.g0
        N = batch.n_pairs
        if N % 2 or N == 0:  # a step solver never raises (core.loop): report the failure
            return Proposal(theta=theta_k, predicted_gain=float("nan"), status=SUBPROBLEM_FAILED,
                            message=f"ARS needs antithetic pairs (an even number >= 2 of samples), got {N}")
        m = N // 2
        n_top = max(1, int(round(self.top_fraction * m)))
        delta = (batch.actions[:m] - theta_k) / batch.states[:m]
        dirn, sigma_R = ars_direction(batch.returns[:m], batch.returns[m:], delta, n_top)
        step = radius * self.alpha * dirn
        gain = float(np.dot(g0 if self.gain == "raw" else dirn, step))
        if sigma_R == 0.0:
            return Proposal(theta=theta_k, predicted_gain=0.0, status=NONPOSITIVE_GAIN,
                            message="ARS: all kept rewards equal (sigma_R = 0)")
        return Proposal(theta=theta_k + step, predicted_gain=gain, distance=float(np.linalg.norm(step)),
                        status=STEP_OK, n_inner=1)


def ars(problem, *, exact: bool = False, theta0, nu: float = 0.03, n_directions: int = 8, alpha: float = 0.02,
        top_fraction: float = 0.5, noise=None):
    """ARS V1-t (Mania et al. 2018, Alg. 1) composed for :func:`trustopt.run`: ``n_directions``
    antithetic pairs with exploration noise ``nu``, :class:`ARSStep` (``alpha``, top ``b`` =
    ``top_fraction * n_directions``), always accept, constant radius 1. ``problem``:
    ``F: (n, d) -> (n,)`` to MAXIMIZE. Defaults in the range of Mania et al. Table 9."""
    from trustopt.algorithms.es import _check_problem, perturbation_method
    from trustopt.components.acceptance import AlwaysAccept
    from trustopt.components.radius import ConstantRadius

    _check_problem(problem, exact)
    return perturbation_method("ars", problem, theta0=theta0, sigma=nu, n_pairs=n_directions,
                               step=ARSStep(alpha=alpha, top_fraction=top_fraction, gain="shaped"),
                               acceptance=AlwaysAccept(), radius_rule=ConstantRadius(delta=1.0), noise=noise,
                               hyperparameters=dict(nu=nu, n_directions=n_directions, alpha=alpha,
                                                    top_fraction=top_fraction))
