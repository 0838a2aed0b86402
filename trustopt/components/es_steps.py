"""Step solvers of the evolution-strategy family: they turn a batch of the search distribution
(:mod:`trustopt.components.search`) into a trial point.

Where to read: Salimans et al. 2017 Alg. 2 (:class:`ESGradientStep`); Mania, Guy & Recht 2018
Alg. 1 (:class:`ARSStep`); TRES Alg. 1 and eq. 25 (:class:`TRESStep`); STRO Alg. 3.1 with
Nocedal & Wright 2006 ch. 4 and eq. 6.19 (:class:`TrustRegionStep`, :class:`QuadraticModelStep`).
The policy-gradient step solvers are in :mod:`trustopt.components.steps`.

Every solver implements ``propose(model, radius, rng, step_state) -> Proposal`` on the loop's
:class:`~trustopt.core.types.Model` (``model.g0`` is TRES eq. 6 on antithetic batches). The
``gain`` option says what the predicted gain is: ``"raw"``, the linear model ``g0 . step`` of
the smoothed objective in the objective's units (what a ratio test needs), or ``"shaped"``, the
gain of the method's own shaped objective (positive by construction: the papers' always-accepted
updates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from trustopt._blas import one_thread
from trustopt._validation import (ValidationError, as_float_array, check_bool, check_choice, check_int,
                                  check_nonnegative, check_positive)
from trustopt.components.surrogates import clipped_terms
from trustopt.core.protocols import StepSolver
from trustopt.core.types import NONPOSITIVE_GAIN, STEP_OK, SUBPROBLEM_FAILED, Batch, Proposal
from trustopt.estimators import centered_ranks
from trustopt.linalg import adam

__all__ = ["SHAPINGS", "OPTIMIZERS", "GAINS", "shaped_utilities", "ESGradientStep", "ars_direction", "ARSStep",
           "clipped_surrogate", "TRESStep", "TrustRegionStep", "QuadraticModelStep", "bfgs_update", "dogleg"]


# ----------------------------------------------------------------------------- OpenAI ES (Salimans et al. 2017)

#: The fitness shapings of :func:`shaped_utilities`, and the optimizers of :class:`ESGradientStep`:
#: the one list of each, checked by the steps and by every options class and config that sets them.
SHAPINGS = ("centered_ranks", "none")
OPTIMIZERS = ("sgd", "adam")
GAINS = ("raw", "shaped")


def shaped_utilities(batch: Batch, shaping: str) -> np.ndarray:
    """Per-sample utilities ``u_n`` used in place of ``F(x_n)``, ``(N,)``.

    ``"centered_ranks"``: Salimans et al. 2017 / TRES "fitness shaping" (``u in [-1/2, 1/2]``,
    higher ``F`` -> higher ``u``); ``"none"``: ``adv_n = F(x_n) - eta_hat``.
    """
    if shaping == "centered_ranks":
        return centered_ranks(batch.returns)
    return np.asarray(batch.adv, dtype=np.float64)


@dataclass(frozen=True, kw_only=True)
class ESGradientStep(StepSolver):
    """OpenAI ES's parameter update (Salimans et al. 2017 Alg. 2 + their starter code) as a step solver.

    With utilities ``u_n`` (:func:`shaped_utilities`) and the radius ``s`` (a dimensionless
    scale, 1 for the paper's constant step)::

        g_s   = sum_n w_n u_n (x_n - theta_k) / sigma_n^2 - l2 * theta_k     (TRES eq. 5/6 on u; weight decay)
        step  = s * lr * g_s                       (optimizer "sgd")
        step  = s * lr * adam_direction(g_s)       (optimizer "adam", moments carried by the caller)
        natural=True:  step = lr * sigma^2 g_s  (sgd)  or  lr * sigma * adam_direction(g_s)  (adam)

    ``natural=True`` (the black-box mode of :class:`trustopt.ES`) makes the step proportional to
    ``sigma`` (``sigma^2 g`` is the natural gradient for the Fisher matrix ``diag(1/sigma^2)``),
    so adapting ``sigma`` adapts the step; the radius is then not used.
        theta_tilde = theta_k + step

    ``predicted_gain``: with ``gain="raw"``, ``g0 . step`` -- the linear model of the
    smoothed objective from the unbiased raw-value gradient ``g0`` (TRES eq. 6), in the
    objective's units, as the ratio test (STRO eq. 3.2) needs; with ``gain="shaped"``,
    ``g_s . step`` (positive for SGD: the paper's always-accepted update).

    Hyperparameters (defaults: OpenAI ES starter code, MuJoCo configs): ``lr = 0.01``,
    ``optimizer = "adam"`` (``beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8``), ``l2 = 0.005``,
    ``shaping = "centered_ranks"``. The Adam state ``(m, v, t)`` is the loop's ``step_state``
    (received by :meth:`propose`, returned in ``Proposal.step_state``; None for SGD).
    """

    lr: float = 0.01
    optimizer: str = "adam"
    l2: float = 0.005
    shaping: str = "centered_ranks"
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    gain: str = "shaped"
    natural: bool = False

    @property
    def uses_radius(self) -> bool:
        """The plain step is ``radius * lr * direction``; the natural one does not use the radius."""
        return not self.natural

    def __post_init__(self):
        check_positive(self.lr, "lr")
        check_nonnegative(self.l2, "l2")
        check_positive(self.epsilon, "epsilon")
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.shaping, "shaping", SHAPINGS)
        check_choice(self.gain, "gain", GAINS)
        check_bool(self.natural, "natural")
        for name in ("beta1", "beta2"):
            b = getattr(self, name)
            if not 0.0 <= b < 1.0:
                raise ValidationError(f"{name}: must lie in [0, 1), got {b!r}")

    def direction(self, policy, theta_k, batch) -> np.ndarray:
        """``g_s`` (before the optimizer), ``(d,)``."""
        u = shaped_utilities(batch, self.shaping)
        g = policy.score_vector_product(theta_k, batch.states, batch.actions, batch.weights * u)
        return g - self.l2 * np.asarray(theta_k)

    def propose(self, model, radius, rng, step_state=None) -> Proposal:
        policy, theta_k, batch, g0 = model.policy, model.theta_k, model.batch, model.g0
        g_s = self.direction(policy, theta_k, batch)
        if self.optimizer == "adam":
            dirn, step_state = adam(step_state, g_s, beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon)
        else:
            dirn, step_state = g_s, None
        if self.natural:
            s2 = np.mean(batch.states * batch.states, axis=0)
            step = self.lr * (s2 * dirn if self.optimizer == "sgd" else np.sqrt(s2) * dirn)
        else:
            step = radius * self.lr * dirn
        gain = float(np.dot(g0 if self.gain == "raw" else g_s, step))
        return Proposal(theta=theta_k + step, predicted_gain=gain, distance=float(np.linalg.norm(step)),
                        status=STEP_OK, n_inner=1, step_state=step_state)


# ----------------------------------------------------------------------------- ARS (Mania et al. 2018)


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
    :class:`trustopt.ARS` always draw pairs); any other batch gives a proposal with
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
        check_choice(self.gain, "gain", GAINS)

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


# ----------------------------------------------------------------------------- TRES (Liu et al. 2019)


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

    with ``V_n`` the shaped fitness of sample ``n`` (:func:`shaped_utilities`).
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
        check_int(self.K, "K", 1)
        check_choice(self.shaping, "shaping", SHAPINGS)
        check_choice(self.gain, "gain", GAINS)

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


# ----------------------------------------------------------------------------- trust-region steps (STRO Alg. 3.1)


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
        # one BLAS thread (trustopt._blas): faster, and a threaded Cholesky of H changes the bits from d = 128;
        # an overflow (a gradient estimate of ~1e160 once sigma is tiny) gives a non-finite step or
        # gain, which the loop reports as a numerical failure and does not take
        with one_thread(), np.errstate(over="ignore", invalid="ignore"):
            return self._propose(model, radius, step_state)

    def _propose(self, model, radius, step_state) -> Proposal:
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
        with one_thread():
            H = bfgs_update(H, trial_batch.theta - theta_k, (-g_t) - (-g_k))
        return (H, theta_k, g_k)
