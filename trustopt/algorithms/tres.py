"""Trust Region Evolution Strategies (Liu et al. 2019, "TRES"): the clipped per-dimension
surrogate (eq. 25) optimized for K epochs on the same samples (Algorithm 1, lines 10-15).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustopt._validation import ValidationError, check_positive
from trustopt.algorithms.es import shaped_utilities
from trustopt.components.surrogates import clipped_terms
from trustopt.core.protocols import StepSolver
from trustopt.core.types import STEP_OK, Proposal

__all__ = ["clipped_surrogate", "TRESStep", "tres"]


def clipped_surrogate(thetat, theta, X, sigma, V, lambda_) -> tuple[float, np.ndarray]:
    """TRES eq. 25 on a sample set, with its gradient in ``thetat``::

        r_ni(thetat) = N(x_ni; thetat_i, s_ni^2) / N(x_ni; theta_i, s_ni^2)
                     = exp(((x_ni - theta_i)^2 - (x_ni - thetat_i)^2) / (2 s_ni^2))
        L_CLIP(thetat) = 1/N sum_n sum_i min(r_ni V_ni, clip(r_ni, 1 - lambda_, 1 + lambda_) V_ni)
        dL/dthetat_i   = 1/N sum_n [unclipped term is the min] r_ni V_ni (x_ni - thetat_i) / s_ni^2

    Shapes: ``thetat, theta (d,)``, ``X (N, d)`` samples drawn from ``N(theta, s^2)``, ``sigma``
    scalar, ``(d,)`` or ``(N, d)``, ``V (N,)`` (the same value for every dimension, the
    practical choice: the shaped fitness of ``x_n``) or ``(N, d)`` (``V_theta(x_n^{1..i})``
    per dimension, TRES eq. 24). Returns ``(value, grad (d,))``. At ``thetat = theta``:
    ``value = sum_i mean_n V_ni`` and ``grad = 1/N sum_n V_n (x_n - theta) / s^2`` (eq. 5).
    """
    X = np.asarray(X, dtype=np.float64)
    N, d = X.shape
    s2 = np.broadcast_to(np.asarray(sigma, dtype=np.float64) ** 2, (N, d))
    V = np.asarray(V, dtype=np.float64)
    V = np.broadcast_to(V[:, None] if V.ndim == 1 else V, (N, d))
    a = X - np.asarray(theta, dtype=np.float64)
    b = X - np.asarray(thetat, dtype=np.float64)
    r = np.exp((a * a - b * b) / (2.0 * s2))
    unclipped, objective, active = clipped_terms(r, V, lambda_)
    value = float(np.sum(objective) / N)
    grad = np.sum(np.where(active, unclipped * b / s2, 0.0), axis=0) / N
    return value, grad


@dataclass(frozen=True, kw_only=True)
class TRESStep(StepSolver):
    """K epochs of gradient ascent on :func:`clipped_surrogate` (TRES Alg. 1 lines 10-15)::

        theta_{t,1} = theta_k
        theta_{t,j+1} = theta_{t,j} + lr * sigma^2 * grad L_CLIP(theta_{t,j}),   j = 1..K
        theta_tilde = theta_{t,K+1}

    with ``V_n`` the shaped fitness of sample ``n`` (:func:`~trustopt.algorithms.es.shaped_utilities`).
    The loop's radius is not used: the step is proportional to ``sigma``, so a rule that
    scales ``sigma`` scales the step (:class:`trustopt.TRES` with ``adapt=True``). The paper's
    learning rate is ``alpha = lr * sigma^2``: writing it this way makes ``lr`` free of the
    units of ``theta`` (``sigma^2 grad`` is the natural gradient for the Fisher matrix
    ``diag(1/sigma^2)`` of the search distribution).

    ``predicted_gain``: ``g0 . (theta_tilde - theta_k)`` (``gain="raw"``: the linear model of
    the smoothed objective, objective units) or ``L_CLIP(theta_tilde) - L_CLIP(theta_k)``
    (``"shaped"``, >= 0 up to the last epoch's overshoot).

    Hyperparameters and defaults: ``K = 15`` and ``lambda_ = 14`` (TRES Fig. 3-4: best on
    HalfCheetah over lambda in [8, 20] and K in {5..30}); ``lr = 1.0`` (generic black-box
    default: with centered ranks ``|V| <= 1/2``, one epoch moves each coordinate by at most
    about ``sigma * sqrt(d / N) / 2``, so K = 15 epochs stay within a few ``sigma`` of
    ``theta_k``, where the importance ratios of eq. 25 are still informative -- larger
    moves make ``r`` degenerate and the clip at ``1 + lambda_`` does the rest).
    """

    lambda_: float = 14.0
    K: int = 15
    lr: float = 1.0
    shaping: str = "centered_ranks"
    gain: str = "shaped"

    uses_radius = False  # the clipping and K are the trust region (see above)

    def __post_init__(self):
        check_positive(self.lambda_, "lambda_")
        check_positive(self.lr, "lr")
        if isinstance(self.K, bool) or not isinstance(self.K, (int, np.integer)) or self.K < 1:
            raise ValidationError(f"K: must be an integer >= 1, got {self.K!r}")
        if self.shaping not in ("centered_ranks", "none"):
            raise ValidationError(f"shaping: must be 'centered_ranks' or 'none', got {self.shaping!r}")
        if self.gain not in ("raw", "shaped"):
            raise ValidationError(f"gain: must be 'raw' or 'shaped', got {self.gain!r}")

    def propose(self, model, radius, rng, step_state=None) -> Proposal:
        theta_k, batch, g0 = model.theta_k, model.batch, model.g0
        theta_k = np.asarray(theta_k, dtype=np.float64)
        V = shaped_utilities(batch, self.shaping)
        s2 = np.mean(batch.states * batch.states, axis=0)
        theta = theta_k.copy()
        L_start = None
        for _ in range(self.K):
            val, grad = clipped_surrogate(theta, theta_k, batch.actions, batch.states, V, self.lambda_)
            if L_start is None:
                L_start = val
            theta = theta + self.lr * s2 * grad
        step = theta - theta_k
        if self.gain == "raw":
            gain = float(np.dot(g0, step))
        else:
            gain = clipped_surrogate(theta, theta_k, batch.actions, batch.states, V, self.lambda_)[0] - L_start
        return Proposal(theta=theta, predicted_gain=float(gain), distance=float(np.linalg.norm(step)),
                        status=STEP_OK, n_inner=self.K)


def tres(problem, *, exact: bool = False, theta0, sigma: float = 0.02, n_pairs: int = 20, lambda_: float = 14.0,
         K: int = 15, lr: float = 1.0, shaping: str = "centered_ranks", noise=None):
    """TRES (Liu et al. 2019, Alg. 1) composed for :func:`trustopt.run`: antithetic noise-table
    samples (``sigma``, ``n_pairs``), :class:`TRESStep` (eq. 25, ``lambda_``, ``K``, ``lr``),
    always accept, constant radius 1. ``problem``: ``F: (n, d) -> (n,)`` to MAXIMIZE."""
    from trustopt.algorithms.es import _check_problem, perturbation_method
    from trustopt.components.acceptance import AlwaysAccept
    from trustopt.components.radius import ConstantRadius

    _check_problem(problem, exact)
    return perturbation_method("tres", problem, theta0=theta0, sigma=sigma, n_pairs=n_pairs,
                               step=TRESStep(lambda_=lambda_, K=K, lr=lr, shaping=shaping, gain="shaped"),
                               acceptance=AlwaysAccept(), radius_rule=ConstantRadius(delta=1.0), noise=noise,
                               hyperparameters=dict(sigma=sigma, n_pairs=n_pairs, lambda_=lambda_, K=K, lr=lr))
