"""A trust-region evolution strategy in STRO's sense (STRO Alg. 3.1 / 4.3 with ES samples).

One iteration on the smoothed objective ``J_sigma(theta) = E F(theta + sigma eps)`` (TRES eq. 1):

1. model at ``theta_k`` from the antithetic batch ``B_k``: ``J_hat_k = mean F``,
   ``g_k`` = TRES eq. 6 (the loop's importance-sampled surrogate gradient at ``theta_k``);
2. trial point: the maximizer of the linear model ``J_hat_k + g_k . p`` over the ball
   ``||p||_2 <= delta_k`` (the Cauchy step)::

       theta_tilde = theta_k + delta_k g_k / ||g_k||,     predicted gain  delta_k ||g_k||

3. a fresh antithetic batch ``T`` at ``theta_tilde`` with the SAME ``sigma_k``; the ratio
   (STRO eq. 4.14, eq. 3.2 when ``use_std=False``)::

       r_k = (J_hat(theta_tilde) - J_hat_k) / ([sigma_hat_k +] delta_k ||g_k||)

   accept if ``r_k >= beta0`` (``B_{k+1} = T``: no extra evaluation), else keep ``theta_k``
   and draw a fresh batch there;
4. ``delta_{k+1}`` by STRO eq. 3.4 (:class:`trustopt.components.radius.RatioRadius`).

The smoothing scale follows the radius: ``sigma_k = kappa delta_k / sqrt(d)`` (perturbations of
length ``||sigma eps|| ~ kappa delta_k``), the coupling of model radius and trust-region radius
of derivative-free trust-region methods (Conn, Scheinberg & Vicente 2009, "Introduction to
Derivative-Free Optimization", ch. 10: the sample set lies in the trust region, whose radius
goes to zero). As ``delta_k -> 0`` the antithetic model becomes a central-difference model
with vanishing bias, which is what lets the method reach high precision on smooth objectives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from trustopt._validation import ValidationError, as_float_array
from trustopt.components.acceptance import stro_ratio
from trustopt.core.protocols import StepSolver
from trustopt.core.types import ACCEPT, NONPOSITIVE_GAIN, REJECT, STEP_OK, Decision, Proposal

__all__ = ["TrustRegionStep", "QuadraticModelStep", "FreshRatioTest", "bfgs_update", "dogleg"]


@dataclass(frozen=True, kw_only=True)
class TrustRegionStep(StepSolver):
    """The Cauchy step of the linear model on the Euclidean ball (see module docstring, step 2)::

        theta_tilde = theta_k + radius * g0 / ||g0||,   predicted_gain = radius * ||g0||

    ``g0 (d,)`` is the loop's surrogate gradient at ``theta_k`` (TRES eq. 6 on an antithetic
    batch). No hyperparameters. ``||g0|| = 0`` is reported as a non-positive predicted gain.
    """

    def propose(self, model, radius, rng, step_state=None) -> Proposal:
        theta_k, g0 = model.theta_k, model.g0
        norm = float(np.linalg.norm(g0))
        if not norm > 0.0:
            return Proposal(theta=theta_k, predicted_gain=0.0, status=NONPOSITIVE_GAIN,
                            message="zero gradient estimate")
        step = (radius / norm) * np.asarray(g0)
        return Proposal(theta=theta_k + step, predicted_gain=radius * norm, distance=float(radius),
                        status=STEP_OK, n_inner=1)


@dataclass(frozen=True, kw_only=True)
class FreshRatioTest:
    """STRO's ratio test (eq. 3.2 / 4.14, acceptance eq. 3.3) with a FRESH batch after a rejection
    (STRO Alg. 3.1) instead of merging (Alg. 4.3 line 10): the ES batches carry their own
    ``sigma``, and merging batches drawn with different ``sigma`` would bias ``J_hat``.

    ``r_k = (eta_trial - eta_k) / ([sigma_hat_eta(theta_k) if use_std] + predicted_gain)``; accept iff
    ``r_k >= beta0``. ``sigma_hat_eta(theta_k)`` is ``batch.eta_std``, the SAMPLE standard deviation
    of the model batch's values (STRO eq. 4.2, ``ddof=1``) exactly as in eq. 4.14 -- not the
    standard error of their mean.

    ``center=True``: the batches end with the unperturbed point (``x_N = theta``), and the
    actual gain is ``F(theta_tilde) - F(theta_k)`` from those two evaluations instead of the
    batch means. For a quadratic ``F`` the two agree exactly when the batches share ``sigma``
    and an orthonormal direction set (``J_sigma = F + sigma^2 tr(H) / 2``, a constant); for
    other ``F`` the center gain is the one that cannot be won by inflating ``sigma`` (with the
    batch means, a large ``sigma`` makes ``J_sigma`` smoother, the model better, the radius
    larger and ``sigma`` larger still: a feedback loop seen on Rosenbrock's function).

    Hyperparameters: ``beta0 = 0.1`` (a fraction of the predicted gain must be realized:
    Nocedal & Wright 2006, Alg. 4.1, eta in [0, 1/4)); ``use_std = False`` (for deterministic
    objectives ``sigma_hat`` measures the spread of ``F`` inside the sample ball, not noise;
    set True for noisy objectives such as RL returns, STRO eq. 4.14).
    """

    beta0: float = 0.1
    use_std: bool = False
    center: bool = False
    needs_trial_batch = True

    def __post_init__(self):
        as_float_array(self.beta0, "beta0", ndim=0)

    def decide(self, proposal, batch, trial_batch, n_rejections) -> Decision:
        std = float(batch.eta_std) if self.use_std else 0.0  # STRO eq. 4.14 with eq. 4.2
        if self.center:
            rho = stro_ratio(float(trial_batch.returns[-1]), float(batch.returns[-1]), std, proposal.predicted_gain)
        else:
            rho = stro_ratio(trial_batch.eta, batch.eta, std, proposal.predicted_gain)
        return Decision(action=ACCEPT if rho >= self.beta0 else REJECT, rho=rho)


def bfgs_update(H, s, y, *, curvature_tol: float = 1e-10):
    """BFGS update of a Hessian approximation ``H ~ grad^2 f`` (Nocedal & Wright 2006, eq. 6.19)::

        H+ = H - (H s)(H s)^T / (s^T H s) + y y^T / (y^T s),     s = x+ - x,  y = grad f(x+) - grad f(x)

    ``H = None`` starts from ``(y^T y / y^T s) I`` (N&W eq. 6.20). The pair is skipped (``H``
    returned unchanged) unless ``y^T s > curvature_tol ||s|| ||y||`` (keeps ``H`` positive
    definite), or when the update is not finite in float64 (e.g. gradients estimated with a
    vanishing ``sigma`` on a noisy objective). Shapes: ``H (d, d)`` or None, ``s, y (d,)``.
    """
    s = np.asarray(s, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):  # a pair too large for float64 is skipped
        ys = float(y @ s)
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(y)) and math.isfinite(ys)
                and ys > curvature_tol * np.linalg.norm(s) * np.linalg.norm(y)):
            return H
        H0 = (float(y @ y) / ys) * np.eye(s.shape[0]) if H is None else H
        Hs = H0 @ s
        sHs = float(s @ Hs)
        if not (math.isfinite(sHs) and sHs > 0.0):
            return H
        H_new = H0 - np.outer(Hs, Hs) / sHs + np.outer(y, y) / ys
    return H_new if np.all(np.isfinite(H_new)) else H


def dogleg(g, H, delta) -> np.ndarray:
    """Dogleg solution of ``max_p g.p - 1/2 p^T H p  s.t. ||p||_2 <= delta`` for positive definite ``H``
    (Nocedal & Wright 2006, sec. 4.1, eq. 4.15-4.16): the Newton point ``H^-1 g`` if inside,
    else the path Cauchy point -> Newton point cut at the boundary. Shapes ``g (d,)``, ``H (d, d)``."""
    g = np.asarray(g, dtype=np.float64)
    gnorm = float(np.linalg.norm(g))
    try:
        pN = cho_solve(cho_factor(H, lower=True, check_finite=False), g, check_finite=False)
    except np.linalg.LinAlgError:
        return (delta / gnorm) * g
    if np.linalg.norm(pN) <= delta:
        return pN
    with np.errstate(over="ignore", invalid="ignore"):
        gHg = float(g @ H @ g)
    if not (math.isfinite(gHg) and gHg > 0.0):  # curvature beyond float64: the steepest step to the boundary
        return (delta / gnorm) * g
    pC = (gnorm * gnorm / gHg) * g
    if np.linalg.norm(pC) >= delta:
        return (delta / gnorm) * g
    dvec = pN - pC
    a, b, c = float(dvec @ dvec), 2.0 * float(pC @ dvec), float(pC @ pC) - delta * delta
    t = (-b + math.sqrt(max(b * b - 4.0 * a * c, 0.0))) / (2.0 * a)
    return pC + t * dvec


@dataclass(frozen=True, kw_only=True)
class QuadraticModelStep(StepSolver):
    """Trust-region step on the quadratic model of the smoothed objective (STRO eq. 4.6 with
    a second-order model; Nocedal & Wright 2006, ch. 4)::

        L_hat(theta_k + p) = J_hat_k + g0 . p - 1/2 p^T H p,       ||p||_2 <= delta_k
        p = dogleg(g0, H, delta_k),       predicted_gain = g0 . p - 1/2 p^T H p

    ``g0``: the antithetic gradient of ``F`` (TRES eq. 6); ``H``: a BFGS approximation of
    ``-grad^2 F`` built from the gradients at successive trial points (:func:`bfgs_update`,
    in :meth:`observe_trial`, accepted or not). ``H`` travels in the loop's step state
    ``(H, theta_k, g0)`` (``H = None``: the linear model, i.e. :class:`TrustRegionStep`).
    ``Proposal.at_boundary`` is ``||p|| >= (1 - boundary_rtol) delta_k`` (N&W Alg. 4.1's
    ``||p_k|| = Delta_k``; a Newton step inside the ball is interior).

    Hyperparameters: ``boundary_rtol`` in [0, 1) (default 0.01).
    """

    boundary_rtol: float = 0.01

    def __post_init__(self):
        b = float(as_float_array(self.boundary_rtol, "boundary_rtol", ndim=0))
        if not 0.0 <= b < 1.0:
            raise ValidationError(f"boundary_rtol: must lie in [0, 1), got {self.boundary_rtol!r}")

    def propose(self, model, radius, rng, step_state=None) -> Proposal:
        theta_k, g0 = model.theta_k, model.g0
        H = None if step_state is None else step_state[0]
        state = (H, np.array(theta_k), np.array(g0))
        norm = float(np.linalg.norm(g0))
        if not norm > 0.0:
            return Proposal(theta=theta_k, predicted_gain=0.0, status=NONPOSITIVE_GAIN,
                            message="zero gradient estimate", step_state=state)
        if H is None:
            step = (radius / norm) * np.asarray(g0)
            gain = radius * norm
        else:
            step = dogleg(g0, H, radius)
            gain = float(np.dot(g0, step) - 0.5 * step @ H @ step)
        dist = float(np.linalg.norm(step))
        return Proposal(theta=theta_k + step, predicted_gain=gain, distance=dist, status=STEP_OK, n_inner=1,
                        step_state=state, at_boundary=not dist < (1.0 - self.boundary_rtol) * radius)

    def observe_trial(self, step_state, policy, proposal, trial_batch, surrogate):
        """BFGS update (:func:`bfgs_update`) of ``H ~ -grad^2 F`` from the pair
        ``s = theta_tilde - theta_k``, ``y = -g(theta_tilde) + g0`` (gradients of ``f = -F``
        estimated on the trial batch and the model batch). Returns the next step state."""
        if step_state is None:
            return None
        H, theta_k, g_k = step_state
        g_t = surrogate.value_and_grad(policy, trial_batch.theta, trial_batch)[1]
        H = bfgs_update(H, trial_batch.theta - theta_k, (-g_t) - (-g_k))
        return (H, theta_k, g_k)
