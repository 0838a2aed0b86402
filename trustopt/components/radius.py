"""Radius rules: the trust-region radius as a pure function of scalars (STRO eq. 3.4, 4.16).

A rule has a scalar parameter ``p_k`` (``initial()``), maps it and ``||g_k||`` to the radius
``delta_k`` (``radius``), and updates it from the ratio ``r_k`` (``update``). A ratio of
``nan`` (a failed step, or a rule that computes no ratio) takes the shrinking branch for
the adaptive rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from trustopt._validation import ValidationError, as_float_array, check_bool, check_positive

__all__ = ["ConstantRadius", "RatioRadius", "GradientNormRadius"]


@dataclass(frozen=True, kw_only=True)
class ConstantRadius:
    """``delta_k = delta`` for all k (TRPO: ``delta = 0.01``, TRPO sec. 8 / App. E).

    Hyperparameters:
        delta: ``> 0``.
    """

    delta: float = 0.01

    def __post_init__(self):
        check_positive(self.delta, "delta")

    def initial(self) -> float:
        return float(self.delta)

    def radius(self, param, grad_norm) -> float:
        return float(param)

    def update(self, param, rho, *, at_boundary: bool = True) -> float:
        return float(param)


def _check_thresholds(beta0, beta1, gamma1, gamma2, gamma3, *, strict: bool):
    """``0 < gamma3 < gamma2 <= 1 < gamma1`` (STRO eq. 3.4 and 4.16) and, with ``strict``, eq. 3.4's
    ``0 < beta0 < beta1``; otherwise (eq. 4.16, see :class:`GradientNormRadius`) ``beta0 <= beta1``."""
    beta0 = float(as_float_array(beta0, "beta0", ndim=0))
    beta1 = float(as_float_array(beta1, "beta1", ndim=0))
    if strict and not beta0 > 0.0:
        raise ValidationError(f"beta0: must be > 0 (STRO eq. 3.4), got {beta0}")
    if strict and not beta1 > beta0:
        raise ValidationError(f"beta1: must be > beta0 = {beta0} (STRO eq. 3.4), got {beta1}")
    if not beta1 >= beta0:
        raise ValidationError(f"beta1: must be >= beta0 = {beta0}, got {beta1}")
    g1, g2, g3 = (check_positive(g, n) for g, n in ((gamma1, "gamma1"), (gamma2, "gamma2"), (gamma3, "gamma3")))
    if not g1 > 1.0:
        raise ValidationError(f"gamma1: must be > 1 (enlarging, STRO eq. 3.4), got {g1}")
    if not g2 <= 1.0:
        raise ValidationError(f"gamma2: must be <= 1, got {g2}")
    if not g3 < g2:
        raise ValidationError(f"gamma3: must be < gamma2 = {g2}, got {g3}")


def _factor(rho, beta0, beta1, gamma1, gamma2, gamma3) -> float:
    if rho >= beta1:
        return gamma1
    if rho >= beta0:
        return gamma2
    return gamma3  # includes nan


@dataclass(frozen=True, kw_only=True)
class RatioRadius:
    """STRO eq. 3.4::

        delta_{k+1} = gamma1 delta_k  if r_k >= beta1 ;  gamma2 delta_k  if r_k in [beta0, beta1) ;
                      gamma3 delta_k  otherwise,   0 < beta0 < beta1,  0 < gamma3 < gamma2 <= 1 < gamma1,

    clipped to ``[delta_min, delta_max]``.

    Hyperparameters (defaults: gamma1..3 of STRO sec. 5.1; beta0 < beta1 as eq. 3.4 needs):
        delta0 (0.01), beta0 (0.1), beta1 (0.5), gamma1 (2.0), gamma2 (0.8), gamma3 (0.6),
        delta_min (1e-8), delta_max (10.0), enlarge_at_boundary_only (False: eq. 3.4 as
        written; True: Nocedal & Wright 2006, Alg. 4.1 -- ``r_k >= beta1`` enlarges only a step
        that reached the boundary, ``update(..., at_boundary=False)`` keeps ``delta_k``).
    """

    delta0: float = 0.01
    beta0: float = 0.1
    beta1: float = 0.5
    gamma1: float = 2.0
    gamma2: float = 0.8
    gamma3: float = 0.6
    delta_min: float = 1e-8
    delta_max: float = 10.0
    enlarge_at_boundary_only: bool = False

    def __post_init__(self):
        check_positive(self.delta0, "delta0")
        _check_thresholds(self.beta0, self.beta1, self.gamma1, self.gamma2, self.gamma3, strict=True)
        check_positive(self.delta_min, "delta_min")
        if not self.delta_max >= self.delta0 >= self.delta_min:
            raise ValidationError(
                f"delta0: must lie in [delta_min, delta_max] = [{self.delta_min}, {self.delta_max}], got {self.delta0}")
        check_bool(self.enlarge_at_boundary_only, "enlarge_at_boundary_only")

    def initial(self) -> float:
        return float(self.delta0)

    def radius(self, param, grad_norm) -> float:
        return float(param)

    def update(self, param, rho, *, at_boundary: bool = True) -> float:
        f = _factor(rho, self.beta0, self.beta1, self.gamma1, self.gamma2, self.gamma3)
        if f > 1.0 and self.enlarge_at_boundary_only and not at_boundary:
            return float(param)  # Nocedal & Wright 2006, Alg. 4.1: an interior step keeps delta_k
        return float(min(max(f * param, self.delta_min), self.delta_max))


@dataclass(frozen=True, kw_only=True)
class GradientNormRadius:
    """STRO sec. 4.4: ``delta_k = mu_k ||g_k(theta_k)||`` with eq. 4.16::

        mu_{k+1} = min(gamma1 mu_k, mu_max)  if r_k >= beta1 ;  max(gamma2 mu_k, mu_min)  if r_k in [beta0, beta1) ;
                   max(gamma3 mu_k, mu_min)  otherwise.

    Hyperparameters (STRO sec. 5.1, MuJoCo): mu0 = 0.05, mu_min = 0.01, mu_max = 0.1,
    gamma1 = 2, gamma2 = 0.8, gamma3 = 0.6, beta1 = 0 ("the trial point is accepted once
    eta(theta_tilde) > eta(theta_k), i.e. beta1 = 0") and beta0 = 0 (eq. 4.16 asks
    ``beta1 >= 0 > beta0``; with beta0 = beta1 = 0 the middle branch is empty). Validation:
    ``0 < gamma3 < gamma2 <= 1 < gamma1`` and ``beta0 <= beta1`` -- looser than eq. 4.16's
    ``beta0 < 0`` so that sec. 5.1's setting (the limit ``beta0 -> 0-``) is allowed.
    """

    mu0: float = 0.05
    mu_min: float = 0.01
    mu_max: float = 0.1
    beta0: float = 0.0
    beta1: float = 0.0
    gamma1: float = 2.0
    gamma2: float = 0.8
    gamma3: float = 0.6

    def __post_init__(self):
        check_positive(self.mu_min, "mu_min")
        check_positive(self.mu_max, "mu_max")
        if not self.mu_max > self.mu_min:
            raise ValidationError(f"mu_max: must be > mu_min = {self.mu_min}, got {self.mu_max}")
        check_positive(self.mu0, "mu0")
        if not self.mu_min <= self.mu0 <= self.mu_max:
            raise ValidationError(f"mu0: must lie in [mu_min, mu_max] = [{self.mu_min}, {self.mu_max}], got {self.mu0}")
        _check_thresholds(self.beta0, self.beta1, self.gamma1, self.gamma2, self.gamma3, strict=False)

    def initial(self) -> float:
        return float(self.mu0)

    def radius(self, param, grad_norm) -> float:
        return float(param * grad_norm)

    def update(self, param, rho, *, at_boundary: bool = True) -> float:
        f = _factor(rho, self.beta0, self.beta1, self.gamma1, self.gamma2, self.gamma3)
        return float(min(f * param, self.mu_max) if f > 1.0 else max(f * param, self.mu_min))
