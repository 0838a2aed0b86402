"""Linear algebra for trust-region steps: conjugate gradient and backtracking line search.

Both implement TRPO Appendix C (Schulman et al. 2015):

* the search direction ``s ~ A^{-1} g`` is computed by conjugate gradient (CG) from
  matrix-vector products ``y -> A y`` only (``A`` the Fisher matrix, never formed);
* the step is then shrunk exponentially from the maximal length until the nonlinear
  surrogate improves AND the nonlinear KL constraint holds.

Arrays may have any shape (CG uses the flattened inner product ``<u, v> = sum u * v``);
``matvec`` must return an array of the shape it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from trustopt._validation import ValidationError, as_float_array, check_int, check_interval, check_positive, readonly

__all__ = [
    "norm2",
    "adam",
    "CGResult",
    "conjugate_gradient",
    "LineSearchResult",
    "backtracking_line_search",
]


@dataclass(frozen=True, kw_only=True)
class CGResult:
    """Result of :func:`conjugate_gradient` (the array ``x`` is read-only).

    Attributes:
        x: approximate solution of ``A x = b``, same shape as ``b``. On breakdown, the
            last iterate computed before the breakdown (``0`` if it happened at once).
        iterations: number of CG steps taken (matrix-vector products used for steps).
        residual_norm: ``||r_k||_2`` of the recurrence residual ``r_k = b - A x_k``.
        converged: ``residual_norm <= residual_tol``.
        breakdown: True when a curvature ``p' A p`` was ``<= 0`` or non-finite, i.e.
            ``A`` is not positive definite along ``p`` (or ``matvec`` returned NaN/inf);
            the iteration stopped there and ``x`` is the last valid iterate.
        x_A_x: ``x' A x`` obtained without an extra product as ``x'(b - r_k)``
            (TRPO App. C: "an intermediate result produced by the conjugate gradient
            algorithm"); exact up to the drift of the recurrence residual.
        message: a short human-readable status.
    """

    x: np.ndarray
    iterations: int
    residual_norm: float
    converged: bool
    breakdown: bool
    x_A_x: float
    message: str


def norm2(g) -> float:
    """``||g||_2`` without spurious underflow or overflow: ``np.linalg.norm`` sums the squares, so a
    gradient of entries ~1e-200 (rewards of that scale) has norm 0 (then read as a stationary
    point) and one of entries ~1e200 has norm inf; only then is it recomputed on ``g / max|g_i|``
    (so the value, and every ordinary run, is unchanged otherwise). A non-finite ``g`` gives a
    non-finite norm, for the caller to report."""
    with np.errstate(all="ignore"):
        norm = float(np.linalg.norm(g))
        if norm == 0.0 or math.isinf(norm):
            scale = float(np.max(np.abs(g), initial=0.0))
            if 0.0 < scale < math.inf:
                norm = scale * float(np.linalg.norm(np.asarray(g) / scale))
    return norm


def conjugate_gradient(
    matvec: Callable[[np.ndarray], np.ndarray],
    b,
    *,
    max_iter: int = 10,
    residual_tol: float = 1e-10,
) -> CGResult:
    """Solve ``A x = b`` for symmetric positive-definite ``A`` given only ``v -> A v``.

    TRPO App. C (search direction ``s ~ A^{-1} g`` with ``A`` the Fisher matrix; ``k = 10``
    iterations "quite effective"); the classical Hestenes-Stiefel recurrence from
    ``x_0 = 0``, ``r_0 = p_0 = b``::

        alpha_k = r_k' r_k / p_k' A p_k
        x_{k+1} = x_k + alpha_k p_k ;  r_{k+1} = r_k - alpha_k A p_k
        beta_k  = r_{k+1}' r_{k+1} / r_k' r_k ;  p_{k+1} = r_{k+1} + beta_k p_k

    In exact arithmetic CG solves an ``n``-dimensional SPD system in ``n`` steps.

    Args:
        matvec: ``v -> A v``, shape-preserving; ``A`` symmetric (positive definite for a
            meaningful result).
        b: right-hand side, any shape (e.g. ``(n_params,)`` or ``(S, A)``), finite.
        max_iter: maximum number of CG steps, ``>= 1``.
        residual_tol: stop when ``||r_k||_2 <= residual_tol`` (the residual NORM; note
            that modular_rl's ``rdotr < 1e-10`` bounds its square).

    Returns:
        :class:`CGResult`. A zero ``b`` returns ``x = 0`` with ``iterations = 0``.
        Breakdown (``p'Ap <= 0`` or non-finite) is reported in ``breakdown``; the
        iterate is never updated with a non-finite or negative-curvature step.
    """
    b = as_float_array(b, "b")
    max_iter = check_int(max_iter, "max_iter", 1)
    residual_tol = _nonnegative(residual_tol, "residual_tol")
    x, r, rdotr, iterations, breakdown_message = _hestenes_stiefel(matvec, b, max_iter, residual_tol)
    residual_norm = float(np.sqrt(rdotr))
    breakdown = bool(breakdown_message)
    converged = (not breakdown) and residual_norm <= residual_tol
    if breakdown:
        message = breakdown_message
    elif iterations == 0:  # max_iter >= 1, so no step without breakdown means ||b|| <= residual_tol
        message = "converged: ||b|| <= residual_tol"
    elif converged:
        message = f"converged in {iterations} iteration(s)"
    else:
        message = f"max_iter={max_iter} reached, ||r|| = {residual_norm:.3g}"
    return CGResult(
        x=readonly(x),
        iterations=iterations,
        residual_norm=residual_norm,
        converged=converged,
        breakdown=breakdown,
        x_A_x=float(np.vdot(x, b - r)),  # x'(b - r_k) = x'A x_k up to the drift of the recurrence residual
        message=message,
    )


def _nonnegative(value, name: str) -> float:
    value = float(as_float_array(value, name, ndim=0))
    if value < 0.0:
        raise ValidationError(f"{name}: must be >= 0, got {value!r}")
    return value


def _hestenes_stiefel(matvec, b: np.ndarray, max_iter: int, residual_tol: float):
    """The CG recurrence of :func:`conjugate_gradient` from ``x_0 = 0``, ``r_0 = p_0 = b``.

    Stops when ``||r_k|| <= residual_tol`` (before any step if ``||b||`` is that small), after
    ``max_iter`` steps, or at a curvature ``p_k' A p_k`` that is not positive and finite
    (breakdown: ``x_k`` is kept, never updated with that step). Returns
    ``(x_k, r_k, r_k' r_k, k, breakdown message or "")``.
    """
    x = np.zeros_like(b)
    r = b.copy()
    p = b.copy()
    rdotr = float(np.vdot(r, r))
    if np.sqrt(rdotr) <= residual_tol:
        return x, r, rdotr, 0, ""
    for k in range(max_iter):
        Ap = np.asarray(matvec(p), dtype=np.float64)
        if Ap.shape != p.shape:
            raise ValidationError(f"matvec: returned shape {Ap.shape}, expected {p.shape}")
        pAp = float(np.vdot(p, Ap))
        if not np.isfinite(pAp) or pAp <= 0.0 or not np.all(np.isfinite(Ap)):
            return x, r, rdotr, k, f"breakdown at iteration {k}: p'Ap = {pAp!r} (not positive and finite)"
        alpha = rdotr / pAp
        x = x + alpha * p
        r = r - alpha * Ap
        new_rdotr = float(np.vdot(r, r))
        if np.sqrt(new_rdotr) <= residual_tol:
            return x, r, new_rdotr, k + 1, ""
        beta = new_rdotr / rdotr
        p = r + beta * p
        rdotr = new_rdotr
    return x, r, rdotr, max_iter, ""


@dataclass(frozen=True, kw_only=True)
class LineSearchResult:
    """Result of :func:`backtracking_line_search` (the array ``theta`` is read-only).

    Attributes:
        theta: the accepted point ``theta_k + step_fraction * full_step``; on failure a
            copy of the input ``theta_k``, unchanged.
        accepted: whether a candidate satisfied every acceptance condition.
        step_fraction: ``shrink ** n_backtracks`` for an accepted step, ``0.0`` on failure.
        n_backtracks: number of shrinks before acceptance (``0``: the full step was
            accepted); on failure, the number of shrinks tried (``max_backtracks``).
        n_evaluations: number of calls to ``evaluate``.
        improvement: surrogate improvement at the returned point (``0.0`` on failure).
        kl: KL at the returned point (``0.0`` on failure).
        message: a short human-readable status (on failure, why the last candidate
            was rejected).
    """

    theta: np.ndarray
    accepted: bool
    step_fraction: float
    n_backtracks: int
    n_evaluations: int
    improvement: float
    kl: float
    message: str


def backtracking_line_search(
    evaluate: Callable[[np.ndarray], tuple[float, float]],
    theta,
    full_step,
    *,
    max_kl: float,
    shrink: float = 0.5,
    max_backtracks: int = 10,
    expected_improvement: float | None = None,
    accept_ratio: float = 0.0,
) -> LineSearchResult:
    """Backtracking line search of TRPO App. C on ``L(theta) - X[D_KL(theta_k, theta) <= delta]``.

    Candidates ``theta_j = theta_k + shrink^j * full_step`` for ``j = 0, 1, ...,
    max_backtracks`` (so at most ``max_backtracks + 1`` evaluations). With
    ``(improvement_j, kl_j) = evaluate(theta_j)``, where ``improvement_j =
    L_{theta_k}(theta_j) - L_{theta_k}(theta_k)`` and ``kl_j = Dbar_KL(theta_k || theta_j)``,
    the first candidate with

        improvement_j > 0   and   kl_j <= max_kl   (both finite)
        [and improvement_j / (shrink^j * expected_improvement) >= accept_ratio,
         when expected_improvement is given]

    is accepted. The optional ratio test is modular_rl's ``accept_ratio`` on the
    linearly predicted gain ``g' (shrink^j full_step)``. If no candidate passes, the
    result holds ``theta_k`` unchanged and ``accepted=False`` (TRPO App. C: "shrink beta
    exponentially until the objective improves"; without it "the algorithm occasionally
    computes large steps that cause a catastrophic degradation").

    Args:
        evaluate: ``theta -> (improvement, kl)`` as above; called on read-only candidates.
        theta: ``theta_k``, any shape, finite.
        full_step: maximal step ``beta s`` (same shape), e.g. ``sqrt(2 delta / s'As) s``.
        max_kl: the trust-region radius ``delta`` on the KL (``> 0``; ``np.inf`` disables).
        shrink: factor in ``(0, 1)`` applied at each backtrack.
        max_backtracks: number of shrinks allowed, ``>= 0``.
        expected_improvement: predicted gain of the full step ``g' full_step`` (``> 0``),
            or None to skip the ratio test.
        accept_ratio: minimal ratio ``actual / predicted`` (``>= 0``), used only with
            ``expected_improvement``.

    Returns:
        :class:`LineSearchResult`.
    """
    theta = as_float_array(theta, "theta")
    full_step = as_float_array(full_step, "full_step")
    if full_step.shape != theta.shape:
        raise ValidationError(f"full_step: shape {full_step.shape} differs from theta's {theta.shape}")
    max_kl = float("inf") if _is_posinf(max_kl) else check_positive(max_kl, "max_kl")
    shrink = check_interval(as_float_array(shrink, "shrink", ndim=0), "shrink", 0.0, 1.0, lo_open=True, hi_open=True)
    max_backtracks = check_int(max_backtracks, "max_backtracks", 0)
    if expected_improvement is not None:
        expected_improvement = check_positive(expected_improvement, "expected_improvement")
    accept_ratio = _nonnegative(accept_ratio, "accept_ratio")

    message = ""
    for j in range(int(max_backtracks) + 1):
        fraction = shrink**j
        candidate = readonly(theta + fraction * full_step)
        improvement, kl = evaluate(candidate)
        improvement, kl = float(improvement), float(kl)
        predicted = None if expected_improvement is None else fraction * expected_improvement
        message = _rejection(improvement, kl, max_kl, predicted, accept_ratio)
        if message:
            continue
        return LineSearchResult(
            theta=candidate,
            accepted=True,
            step_fraction=fraction,
            n_backtracks=j,
            n_evaluations=j + 1,
            improvement=improvement,
            kl=kl,
            message=f"accepted after {j} backtrack(s)",
        )
    return LineSearchResult(
        theta=readonly(theta.copy()),
        accepted=False,
        step_fraction=0.0,
        n_backtracks=int(max_backtracks),
        n_evaluations=int(max_backtracks) + 1,
        improvement=0.0,
        kl=0.0,
        message=f"line search failed after {max_backtracks} backtrack(s); last rejection: {message}",
    )


def _is_posinf(value) -> bool:
    try:
        return bool(np.isposinf(value))
    except TypeError:
        return False


def _rejection(improvement: float, kl: float, max_kl: float, predicted: float | None, accept_ratio: float) -> str:
    """Why a line-search candidate fails TRPO App. C's test, or ``""`` when it passes: both values
    finite, ``kl <= max_kl``, ``improvement > 0`` and, when the linear prediction
    ``predicted = shrink^j g' full_step`` is given, ``improvement / predicted >= accept_ratio``."""
    if not (np.isfinite(improvement) and np.isfinite(kl)):
        return f"non-finite evaluation (improvement={improvement!r}, kl={kl!r})"
    if kl > max_kl:
        return f"KL {kl:.3g} > max_kl {max_kl:.3g}"
    if improvement <= 0.0:
        return f"no improvement ({improvement:.3g})"
    if predicted is not None:
        ratio = improvement / predicted
        if ratio < accept_ratio:
            return f"improvement ratio {ratio:.3g} < accept_ratio {accept_ratio:.3g}"
    return ""


def adam(moments, g, *, beta1: float, beta2: float, epsilon: float):
    """One step direction of Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization",
    Algorithm 1) for ASCENT on the gradient ``g``::

        t   <- t + 1
        m_t  = beta1 m_{t-1} + (1 - beta1) g            v_t  = beta2 v_{t-1} + (1 - beta2) g * g
        m_hat = m_t / (1 - beta1^t)                     v_hat = v_t / (1 - beta2^t)
        direction = m_hat / (sqrt(v_hat) + epsilon)     (the update is theta <- theta + alpha direction)

    ``epsilon`` sits next to ``sqrt(v_hat)`` as in Alg. 1 (not the "efficient" form of the paper's
    sec. 2, which puts it next to ``sqrt(v_t)``). ``moments = (m, v, t)``, ``None`` for the start
    (zeros, ``t = 0``). Returns ``(direction, (m_t, v_t, t))``. Shapes: ``g, m, v, direction (d,)``.
    """
    g = np.asarray(g, dtype=np.float64)
    if moments is None:
        m, v, t = np.zeros_like(g), np.zeros_like(g), 0
    else:
        m, v, t = moments
    t = t + 1
    m = beta1 * m + (1.0 - beta1) * g
    v = beta2 * v + (1.0 - beta2) * g * g
    m_hat = m / (1.0 - beta1**t)
    v_hat = v / (1.0 - beta2**t)
    return m_hat / (np.sqrt(v_hat) + epsilon), (m, v, t)
