"""The full-covariance Gaussian search distribution ``N(m, sigma^2 C)`` and its KL trust-region step.

Where to read: Hansen 2016, "The CMA Evolution Strategy: A Tutorial" (arXiv:1604.00772; the
summary of the algorithm in Appendix A, active negative weights included, and the default
constants of its Table 1); Akimoto, Nagata, Ono & Kobayashi 2010 and Ollivier, Arnold, Auger & Hansen (JMLR 2017,
"Information-geometric optimization"): the rank-mu update of ``(m, C)`` is a natural-gradient
step on the rank-based (quantile) expected fitness, so each step is a move of bounded KL
divergence on the Gaussian family -- a trust-region step in STRO's sense whose radius is set by
the learning rates ``c_m, c_1, c_mu`` and the step-size rule; Abdolmaleki et al. (NeurIPS 2015,
GECCO 2017) bound that KL explicitly. Ros & Hansen 2008 for the separable (diagonal) variant;
Hansen 2008 ("CMA-ES with two-point step-size adaptation", arXiv:0805.0231) and Hansen, Atamna &
Auger 2014 ("How to assess step-size adaptation mechanisms in randomised search", PPSN XIII)
for two-point step-size adaptation, which reacts within a few iterations where CSA's path needs
``~ d / mu_eff`` (the default in high dimension; ``c_tpa = 0.3`` is pycma's smoothing and
``d_tpa = sqrt(d)`` the first damping its ``CMAAdaptSigmaTPA`` documents).

One iteration (``lambda`` samples, ``mu`` best; all in ``y = (x - m) / sigma`` coordinates)::

    z_i ~ N(0, I),  y_i = B D z_i,  x_i = m + sigma y_i                       (sampling, C = B D^2 B')
    <y>_w = sum_{i <= mu} w_i y_{i:lambda}                                     (ranked by f, best first)
    m'    = m + c_m sigma <y>_w                                                (natural gradient of the mean)
    p_s'  = (1 - c_s) p_s + sqrt(c_s (2 - c_s) mu_eff) C^{-1/2} <y>_w
    sigma'= sigma exp((c_s / d_s) (||p_s'|| / E||N(0, I)|| - 1))             (cumulative step-size adaptation)
                                          (d_s raised for large populations from d = 40: large_population_damping)
      or, two-point adaptation (TPA), with y_1, y_2 = +-||z_1|| Delta / ||C^{-1/2} Delta|| (Delta = m - m_prev):
    s'    = (1 - c_tpa) s + c_tpa (rank(x_2) - rank(x_1)) / (lambda - 1),  sigma' = sigma exp(s' / d_tpa)
    p_c'  = (1 - c_c) p_c + h_s sqrt(c_c (2 - c_c) mu_eff) <y>_w
    C'    = (1 + c_1 delta(h_s) - c_1 - c_mu sum_j w_j) C + c_1 p_c' p_c'^T
            + c_mu sum_i w_i^o y_{i:lambda} y_{i:lambda}^T                     (rank-one + active rank-mu)

with ``w_i^o = w_i`` for ``w_i >= 0`` and ``w_i d / ||C^{-1/2} y_{i:lambda}||^2`` for the negative
weights of the worst samples. The only use of ``f`` is the ranking: the step is invariant to
strictly increasing transformations of ``f``; and to affine changes of coordinates (with
``m``, ``C`` transformed alike). The loop's radius ``delta_k`` caps
``KL(N(m, sigma^2 C) || N(m', sigma'^2 C'))``: a step above it is shortened along the segment
of (mean, log step size, covariance) until it holds (:class:`GaussianNaturalStep`).

The state of the distribution beyond the mean (``sigma``, ``C`` and its eigensystem, the two
paths) is the loop's step state, :class:`GaussianState`: the sampler draws with it, the step
solver returns the next one.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from scipy.linalg.lapack import dtrtrs

from trustopt._blas import dense_linalg
from trustopt._validation import ValidationError, check_bool, check_choice, check_int, check_positive
from trustopt.components.search import Draw, tolfunhist
from trustopt.core.protocols import StepSolver
from trustopt.core.types import NONPOSITIVE_GAIN, STEP_OK, Proposal
from trustopt.noise import orthogonal_directions

__all__ = ["GaussianState", "CMAConstants", "cma_popsize", "cma_constants", "large_population_damping",
           "gaussian_kl", "GaussianSampler", "GaussianNaturalStep"]


# ----------------------------------------------------------------------------- constants (Hansen 2016, Table 1)


@dataclass(frozen=True, kw_only=True, eq=False)
class CMAConstants:
    """The learning rates and weights of one population size (Hansen 2016, Table 1).

    ``weights (lambda,)``: ``w_1 >= ... >= w_mu > 0`` summing to 1, then negative weights of the
    active update summing to ``-min(alpha_mu^-, alpha_mueff^-, alpha_posdef^-)``; ``mu``,
    ``mu_eff``; ``c_sigma``, ``d_sigma`` (step size); ``c_c``, ``c_1``, ``c_mu`` (covariance);
    ``chi_n = E||N(0, I_d)||``; ``eigen_every`` (generations between eigendecompositions,
    ``O(d^3)`` each, so that their cost per sample stays ``O(d^2)``); ``c_tpa``, ``d_tpa``
    (two-point step-size adaptation: smoothing and damping, see the module docstring);
    ``ranked_gain``, the gain of a full mean step in the ranked objective,
    ``sum_{i <= mu} w_i u_(i)`` with centered ranks ``u_(i)`` from ``1/2`` (best) down to ``-1/2``
    (the same for every batch with distinct values)."""

    weights: np.ndarray
    mu: int
    mu_eff: float
    c_sigma: float
    d_sigma: float
    c_c: float
    c_1: float
    c_mu: float
    chi_n: float
    eigen_every: int
    c_tpa: float
    d_tpa: float
    ranked_gain: float


def cma_popsize(d: int) -> int:
    """CMA-ES's default population ``lambda_0 = 4 + floor(3 ln d)`` (Hansen 2016, Table 1)."""
    return 4 + int(3 * math.log(d))


#: The cap of :func:`large_population_damping` (pycma issue #231: its author's change slows CSA by
#: up to a factor of three for large populations).
LARGE_POPULATION_DAMPING_MAX = 3.0

#: The dimension from which :func:`large_population_damping` raises CSA's damping. Measured on
#: BBOB (instances 1-5, BIPOP, share of targets with / without it): d = 40 0.654 / 0.641 (seed 0,
#: pycma 0.658; the sharp ridge f13 247 / 180 of 255; seeds 0-1: 0.662, pycma 0.660), d = 20
#: 0.696 / 0.709 (3 seeds), d = 10 0.759 / 0.788 (seed 0), d = 5 0.838 / 0.850 (2 seeds): below 40
#: dimensions the faster decrease of ``sigma`` pays, mostly on the rotated Rastrigin f15 (d = 20:
#: 161 / 312 of 765). Above 40 dimensions it applies unmeasured (BIPOP restarts of the separable
#: variant up to 300 dimensions; two-point adaptation does not use ``d_sigma``).
LARGE_POPULATION_DAMPING_FROM = 40


def large_population_damping(d: int, popsize: int, lambda_0: int | None = None) -> float:
    """The factor ``min(3, sqrt(lambda / lambda_0))`` (1 up to the default population ``lambda_0``,
    ``4 + floor(3 ln d)`` unless given, and below :data:`LARGE_POPULATION_DAMPING_FROM` dimensions) in
    CSA's damping
    ``d_sigma = max(1 + 2 max(0, sqrt((mu_eff - 1) / (d + 1)) - 1) + c_sigma, (1 + c_sigma) factor)``.

    Hansen 2016's ``d_sigma`` (the first term) grows with the population only once
    ``mu_eff > d + 2``; below that, CSA with a large population shrinks ``sigma`` too fast
    (reported by pycma's author, pycma issue #231, whose fix slows CSA by up to a factor of
    three; pycma 4's damping is of the same size, e.g. 4.44 for d = 40, lambda = 120, against 4.08
    here and 1.44 by Hansen 2016). The square root and the cap are this
    library's rule, measured: on BBOB's sharp ridge f13 in d = 40 with ``lambda = 120`` (a BIPOP
    restart) 3 of 3 runs reach ``f - f_opt <= 1e-8`` against 0 of 3 with Hansen's ``d_sigma``, which
    converge early at ``1e-6 .. 5e-2``; BBOB as a whole: :data:`LARGE_POPULATION_DAMPING_FROM`.

    ``lambda_0`` is the problem's default population: with integer coordinates pycma's larger one
    (:func:`trustopt.components.integers.default_popsize`), where the damping raised above
    ``4 + floor(3 ln d)`` slowed the sphere with half its 60 coordinates integer to 1.12 times
    pycma's evaluations (``benchmarks/bench_integer.py``)."""
    if d < LARGE_POPULATION_DAMPING_FROM:
        return 1.0
    lambda_0 = cma_popsize(d) if lambda_0 is None else lambda_0
    return min(LARGE_POPULATION_DAMPING_MAX, math.sqrt(max(1.0, popsize / lambda_0)))


@functools.lru_cache(maxsize=64)
def cma_constants(d: int, popsize: int, *, diagonal: bool = False, lambda_0: int | None = None) -> CMAConstants:
    """Hansen 2016's default constants for dimension ``d`` and ``lambda = popsize`` (``d_sigma``
    raised above the default population ``lambda_0``: :func:`large_population_damping`); ``diagonal``:
    the separable variant, whose covariance learning rates are multiplied by ``(d + 2) / 3``
    (Ros & Hansen 2008), capped so that ``c_1 + c_mu <= 1``, and whose ``c_c`` is pycma's
    ``cc_sep`` ``(1 + 1/d + mu_eff/d) / (sqrt(d) + 1/d + 2 mu_eff/d)``."""
    lam = check_int(popsize, "popsize", 2)
    mu = lam // 2
    w = math.log((lam + 1) / 2) - np.log(np.arange(1, lam + 1))  # w'_i, positive for i <= mu
    pos, neg = w[:mu], w[mu:]
    mu_eff = pos.sum() ** 2 / (pos * pos).sum()
    mu_eff_neg = neg.sum() ** 2 / (neg * neg).sum() if neg.size and neg.sum() != 0 else 0.0
    c_sigma = (mu_eff + 2) / (d + mu_eff + 5)
    d_sigma = max(1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (d + 1)) - 1) + c_sigma,
                  (1 + c_sigma) * large_population_damping(d, lam, lambda_0))
    c_c = (4 + mu_eff / d) / (d + 4 + 2 * mu_eff / d)
    alpha_cov = 2.0
    c_1 = alpha_cov / ((d + 1.3) ** 2 + mu_eff)
    c_mu = min(1 - c_1, alpha_cov * (mu_eff - 2 + 1 / mu_eff) / ((d + 2) ** 2 + alpha_cov * mu_eff / 2))
    if diagonal:
        # the path of the rank-one update remembers ~sqrt(d) iterations instead of ~d/4 (pycma's
        # ``cc_sep``): with a diagonal C, a long path on a rotated problem piles its squared
        # coordinates into a few variances (measured: condition 1e14 on the rotated ellipsoid of
        # bench_highdim.py in d = 300 with two-point adaptation; condition ~30 with this c_c)
        c_c = (1 + 1 / d + mu_eff / d) / (math.sqrt(d) + 1 / d + 2 * mu_eff / d)
        scale = (d + 2) / 3
        c_1, c_mu = c_1 * scale, c_mu * scale
        if c_1 + c_mu > 1:
            c_1, c_mu = c_1 / (c_1 + c_mu), c_mu / (c_1 + c_mu)
    # c_mu = 0 (mu_eff = 1: lambda <= 3): no rank-mu update, so the active weights are unbounded by it
    alpha_neg = min(math.inf if c_mu == 0 else 1 + c_1 / c_mu, 1 + 2 * mu_eff_neg / (mu_eff + 2),
                    math.inf if c_mu == 0 else (1 - c_1 - c_mu) / (d * c_mu))
    weights = np.concatenate([pos / pos.sum(), alpha_neg * neg / np.abs(neg).sum() if neg.size else neg])
    weights.flags.writeable = False  # shared: the constants are cached per (d, lambda, diagonal)
    chi_n = math.sqrt(d) * (1 - 1 / (4 * d) + 1 / (21 * d * d))
    eigen_every = 1 if diagonal else max(1, int(lam / ((c_1 + c_mu) * d * 10)))
    top = weights > 0
    return CMAConstants(weights=weights, mu=mu, mu_eff=mu_eff, c_sigma=c_sigma, d_sigma=d_sigma, c_c=c_c,
                        c_1=c_1, c_mu=c_mu, chi_n=chi_n, eigen_every=eigen_every, c_tpa=0.3, d_tpa=math.sqrt(d),
                        ranked_gain=float(weights[top] @ np.linspace(0.5, -0.5, lam)[top]))


# ----------------------------------------------------------------------------- state and KL


@dataclass(frozen=True, kw_only=True, eq=False)
class GaussianState:
    """``N(m, sigma^2 C)`` beyond its mean ``m`` (the loop's ``theta``), and the evolution paths.

    ``C (d, d)`` (or ``(d,)``, the diagonal, for the separable variant), ``B (d, d)`` and ``D (d,)``
    its eigensystem as last computed (``C = B diag(D^2) B'``; the sampler and ``C^{-1/2}`` use it),
    ``p_sigma``, ``p_c (d,)``, ``g`` the generation and ``g_eigen`` that of the eigensystem; for
    two-point step-size adaptation, ``shift (d,)`` the last move of the mean ``m_k - m_{k-1}``
    (the next batch's first two samples test it; None: no test, e.g. before the first step or
    with CSA) and ``s_tpa`` its smoothed rank difference; ``L`` the lower Cholesky factor of ``C``
    (full covariance; None: not computed yet), for the KL of the next step; ``v (d,)`` a
    per-coordinate scaling outside ``C`` (pycma's ``sigma_vec``): the distribution is then
    ``N(m, sigma^2 V C V)``, ``V = diag(v)``, and ``C``, ``p_sigma`` and ``p_c`` live in the
    coordinates ``x / v`` (None: ``v = 1``; set only by the lower bound on the standard deviations
    of integer coordinates, :mod:`trustopt.components.integers`, so that it does not enter ``C``'s
    condition number)."""

    sigma: float
    C: np.ndarray
    B: np.ndarray | None
    D: np.ndarray
    p_sigma: np.ndarray
    p_c: np.ndarray
    g: int = 0
    g_eigen: int = 0
    shift: np.ndarray | None = None
    s_tpa: float = 0.0
    L: np.ndarray | None = None
    v: np.ndarray | None = None

    @classmethod
    def initial(cls, sigma: float, d: int, *, diagonal: bool) -> "GaussianState":
        C = np.ones(d) if diagonal else np.eye(d)
        return cls(sigma=float(sigma), C=C, B=None if diagonal else np.eye(d), D=np.ones(d), p_sigma=np.zeros(d),
                   p_c=np.zeros(d))

    @property
    def diagonal(self) -> bool:
        return self.C.ndim == 1

    def y_of_z(self, z: np.ndarray) -> np.ndarray:
        """``y = V B D z`` for rows ``z (n, d)``."""
        y = z * self.D if self.diagonal else (z * self.D) @ self.B.T
        return y if self.v is None else y * self.v

    def z_of_y(self, y: np.ndarray) -> np.ndarray:
        """``z = D^{-1} B' V^{-1} y`` for rows ``y (n, d)``: the inverse of :meth:`y_of_z`."""
        y = y if self.v is None else y / self.v
        return y / self.D if self.diagonal else (y @ self.B) / self.D

    def inv_sqrt_C(self, y: np.ndarray) -> np.ndarray:
        """``C^{-1/2} y`` for rows ``y (n, d)`` with the current eigensystem."""
        if self.diagonal:
            return y / self.D
        return ((y @ self.B) / self.D) @ self.B.T

    def std(self) -> np.ndarray:
        """Per-coordinate standard deviations ``sigma v sqrt(diag C)``, ``(d,)``."""
        sd = self.sigma * np.sqrt(self.C if self.diagonal else np.diag(self.C))
        return sd if self.v is None else sd * self.v

    def max_std(self) -> float:
        """``max(std())`` (without ``v``, without the vector: sqrt and the product are monotone, the same float)."""
        if self.v is not None:
            return float(np.max(self.std()))
        return self.sigma * math.sqrt(float(np.max(self.C if self.diagonal else np.diagonal(self.C))))


def gaussian_kl(m0, S0, m1, S1) -> float:
    """``KL(N(m0, S0) || N(m1, S1)) = 1/2 [tr(S1^{-1} S0) + (m1 - m0)' S1^{-1} (m1 - m0) - d + ln det S1 - ln det S0]``
    for covariance matrices ``S (d, d)``, or diagonals ``S (d,)``. ``+inf`` when ``S1`` is not
    positive definite."""
    m0, m1 = np.asarray(m0, dtype=np.float64), np.asarray(m1, dtype=np.float64)
    S0, S1 = np.asarray(S0, dtype=np.float64), np.asarray(S1, dtype=np.float64)
    dm = m1 - m0
    if S0.ndim == 1:
        if not np.all(S1 > 0):
            return math.inf
        r = S0 / S1
        return float(0.5 * (r.sum() + (dm * dm / S1).sum() - dm.size - np.log(r).sum()))
    L0, L1 = _cholesky(S0), _cholesky(S1)
    if L0 is None:
        raise ValidationError("S0: not positive definite")
    return math.inf if L1 is None else _kl_cholesky(dm, L0, L1)


def _cholesky(S: np.ndarray) -> np.ndarray | None:
    """The lower Cholesky factor of ``S``, None when ``S`` is not positive definite."""
    try:
        return np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        return None


def _kl_cholesky(dm: np.ndarray, L0: np.ndarray, L1: np.ndarray) -> float:
    """``KL(N(m, L0 L0') || N(m + dm, L1 L1'))`` from lower Cholesky factors: with
    ``[M, v] = L1^{-1} [L0, dm]`` (one triangular solve), ``tr(S1^{-1} S0) = ||M||_F^2``,
    ``dm' S1^{-1} dm = ||v||^2`` and ``ln det S = 2 sum ln diag L``. (LAPACK's triangular solve
    directly: scipy's wrapper costs more than the solve itself at d = 10.)"""
    W, info = dtrtrs(L1, np.column_stack([L0, dm]), lower=1)
    if info != 0:
        return math.inf
    log_ratio = np.log(np.diag(L1)).sum() - np.log(np.diag(L0)).sum()
    return float(0.5 * ((W * W).sum() - dm.size) + log_ratio)


# ----------------------------------------------------------------------------- sampler


@dataclass(frozen=True, kw_only=True)
class GaussianSampler:
    """Draws ``lambda = popsize`` samples ``x_i = m + sigma B D z_i``, ``z_i ~ N(0, I)`` from the
    loop's generator, with the distribution in the loop's step state (:class:`GaussianState`;
    ``N(m, sigma0^2 I)`` before the first step). ``diagonal``: the separable variant.

    Also the distribution's own stopping tests (:meth:`stop`), those of Hansen 2009's BIPOP-CMA-ES
    that restarts rely on."""

    sigma0: float
    popsize: int
    diagonal: bool = False
    orthogonal: bool = False
    center = False  # SearchSampler: no center row; no noise table (z comes from the generator)
    noise = None

    def __post_init__(self):
        check_positive(self.sigma0, "sigma0")
        check_int(self.popsize, "popsize", 2)
        check_bool(self.diagonal, "diagonal")
        check_bool(self.orthogonal, "orthogonal")

    def state(self, step_state, d: int) -> GaussianState:
        return step_state if step_state is not None else GaussianState.initial(self.sigma0, d, diagonal=self.diagonal)

    def sigma(self, p_k: float, p_0: float, d: int, last_step: float = math.inf, step_state=None) -> float:
        """The largest per-coordinate standard deviation ``sigma max_i sqrt(C_ii)``."""
        return self.state(step_state, d).max_std()

    def spread(self, sigma: float, d: int, step_state=None) -> float:
        """What ``tolx`` bounds (pycma's ``tolx`` test): the largest of the per-coordinate standard
        deviations ``sigma sqrt(C_ii)`` and of the evolution path's ``sigma |p_c,i|`` (a path still
        long: the mean is still moving)."""
        s = self.state(step_state, d)
        return max(s.max_std(), s.sigma * float(np.max(np.abs(s.p_c if s.v is None else s.v * s.p_c))))

    def sample(self, policy, theta, rng, baseline=None):
        raise ValueError("sampler: the Gaussian search's batches are asked and told by trustopt.asktell.AskTell")

    def draw(self, theta, sigma: float, rng: np.random.Generator, frame=None, step_state=None):
        theta = np.asarray(theta, dtype=np.float64)
        with dense_linalg(self.diagonal):
            return self._draw(theta, rng, step_state)

    def _draw(self, theta: np.ndarray, rng: np.random.Generator, step_state):
        s = self.state(step_state, theta.size)
        z = rng.standard_normal((self.popsize, theta.size))
        if self.orthogonal:  # Wang, Emmerich & Baeck 2014: orthonormal directions, chi-distributed lengths
            lengths = np.linalg.norm(z, axis=1, keepdims=True)
            z = orthogonal_directions(z, rotate=True) * (lengths / math.sqrt(theta.size))
        if s.shift is not None:  # TPA: the first two samples test the last move of the mean (GaussianNaturalStep)
            u = s.z_of_y(s.shift[None, :])[0]
            z[0] = np.linalg.norm(z[0]) * u / np.linalg.norm(u)
            z[1] = -z[0]
        Y = theta[None, :] + s.sigma * s.y_of_z(z)
        return Draw(theta=theta, sigma=s.sigma, index=None, sign=None, Y=Y, X=Y), None

    def stop(self, step_state, theta, sigma0: float, histories: tuple, last_f) -> dict:
        """Stopping tests of the distribution (Hansen 2009, BIPOP-CMA-ES; thresholds as pycma's
        defaults except the first): ``tolflatfitness`` (the best and the ``ceil(0.1 + lambda/4)``-th
        best value of the last batch are equal: the flat-fitness test of Hansen's reference MATLAB
        code ``cmaes.m``, where it raises ``sigma``; pycma stops once the best and the
        ``0.75 lambda``-th value are equal in two consecutive batches, which on the step ellipsoid
        f7 in d = 20 ended the same first runs at the same values 200-600 evaluations later, 6 runs),
        ``tolfunhist`` (the best values of the last ``10 + ceil(30 d / lambda)`` batches lie within
        ``1e-12``; pycma's default: a run whose best value stalls while its batches still spread),
        ``tolstagnation`` (over the last ``100 + 100 d^1.5 / lambda`` iterations, in one of
        ``histories``, the batches' best values and (where given) their medians, the median of the 20
        newest is not below that of the 20 oldest),
        ``conditioncov`` (the condition number of ``C`` above 1e14), ``noeffectaxis`` (adding
        ``0.1 sigma`` times a principal axis leaves ``m`` unchanged), ``noeffectcoord`` (adding
        ``0.2`` standard deviations of a coordinate leaves it unchanged), ``tolupsigma`` (``sigma
        max D`` above 1e20 ``sigma0``: divergence), ``iterations`` (more than ``100 + 150 (d + 3)^2 /
        sqrt(lambda)`` iterations: pycma's default ``maxiter``, which bounds a run that creeps)."""
        if step_state is None:
            return {}
        s, m, out = step_state, np.asarray(theta), {}
        if flat_batch(last_f, self.popsize):
            out["tolflatfitness"] = "the best and the lambda/4-th best value of the last batch are equal"
        best = histories[0]
        out.update(tolfunhist(best, m.size, self.popsize))
        window = int(100 + 100 * m.size ** 1.5 / self.popsize)
        if len(best) >= window:
            for h in histories:
                h = h[-window:]
                if np.median(h[-20:]) >= np.median(h[:20]):
                    out["tolstagnation"] = f"no improvement of the best or the median values over {window} iterations"
        D2 = s.D * s.D
        if D2.max() > 1e14 * D2.min():
            out["conditioncov"] = f"condition number of C {D2.max() / D2.min():.3g} > 1e14"
        i = s.g % m.size
        if s.diagonal:  # the principal axis is coordinate i
            no_effect = m[i] == m[i] + 0.1 * s.sigma * s.D[i] * (1.0 if s.v is None else s.v[i])
        else:
            no_effect = np.all(m == m + 0.1 * s.sigma * s.D[i] * (s.B[:, i] if s.v is None else s.v * s.B[:, i]))
        if no_effect:
            out["noeffectaxis"] = "adding 0.1 sigma times a principal axis does not change the mean"
        if np.any(m == m + 0.2 * s.std()):
            out["noeffectcoord"] = "adding 0.2 standard deviations does not change a coordinate of the mean"
        if s.g > 100 + 150 * (m.size + 3) ** 2 / math.sqrt(self.popsize):
            out["iterations"] = f"{s.g} iterations > 100 + 150 (d + 3)^2 / sqrt(lambda)"
        if s.sigma * s.D.max() > 1e20 * sigma0:
            out["tolupsigma"] = "sigma max(D) > 1e20 sigma0: the search diverges"
        return out


def flat_batch(f, popsize: int) -> bool:
    """The flat-fitness test on one batch's values ``f (popsize,)``: the best and the
    ``ceil(0.1 + lambda/4)``-th best are equal. A batch with non-finite values is not flat: they are
    imputed the worst rank, and three equal -inf values would otherwise read as a plateau of the
    best values (a false convergence)."""
    if f is None or len(f) != popsize or not np.all(np.isfinite(f)):
        return False
    f = np.sort(f)
    return bool(f[0] == f[min(len(f) - 1, math.ceil(0.1 + popsize / 4))])


# ----------------------------------------------------------------------------- the step


class _FullStep(NamedTuple):
    """The update at ``t = 1``: the ranked mean direction ``y_w`` and the next ``sigma``, ``C``,
    paths and TPA sum (a shortened step interpolates between the current state and this)."""

    y_w: np.ndarray
    sigma: float
    C: np.ndarray
    p_sigma: np.ndarray
    p_c: np.ndarray
    s_tpa: float


@dataclass(frozen=True, kw_only=True)
class GaussianNaturalStep(StepSolver):
    """The natural-gradient step of ``N(m, sigma^2 C)`` on the ranked batch (see the module
    docstring), capped in KL by the loop's radius.

    ``propose``: with ``t = 1`` the update of the module docstring; when
    ``KL(N_k || N_{k+1}) > delta_k`` the largest ``t`` in ``(0, 1]`` (bisection) for which the step
    ``m + t dm``, ``log sigma + t dlog sigma``, ``(1 - t) C + t C'`` satisfies it (``at_boundary``).
    ``predicted_gain``: the step's gain in the ranked (utility) objective,
    ``c_m t sum_i w_i (u_i - mean u)`` with centered-rank utilities ``u`` -- positive unless every
    value is equal (then the mean does not move, ``sigma`` and ``C`` take their step, and ``kl`` is
    that of this move). When even ``t = 2^-bisections`` exceeds ``delta_k`` the distribution stays.

    A shortened step moves the evolution paths as the full one (they record the ranked
    direction, not the distance travelled).

    Hyperparameters: ``diagonal`` (the separable variant), ``c_m`` (mean learning rate, 1:
    Hansen 2016), ``active`` (negative weights for the worst samples, True: Hansen 2016,
    Appendix A; pycma's default), ``step_size`` (``"csa"`` or ``"tpa"``, see the module
    docstring), ``bisections`` (20), ``lambda_0`` (the problem's default population, above which
    CSA's damping rises: :func:`large_population_damping`; None: ``4 + floor(3 ln d)``).
    """

    diagonal: bool = False
    c_m: float = 1.0
    active: bool = True
    step_size: str = "csa"
    bisections: int = 20
    lambda_0: int | None = None

    def __post_init__(self):
        check_bool(self.diagonal, "diagonal")
        check_positive(self.c_m, "c_m")
        check_choice(self.step_size, "step_size", ("csa", "tpa"))
        check_bool(self.active, "active")
        check_int(self.bisections, "bisections", 0)
        if self.lambda_0 is not None:
            check_int(self.lambda_0, "lambda_0", 2)

    def propose(self, model, radius, rng, step_state=None) -> Proposal:
        with dense_linalg(self.diagonal):
            return self._propose(model, radius, step_state)

    def _propose(self, model, radius, step_state) -> Proposal:
        m, batch = np.asarray(model.theta_k, dtype=np.float64), model.batch
        d, lam = m.size, batch.n_pairs
        s = step_state if step_state is not None else GaussianState.initial(batch.states[0, 0], d,
                                                                            diagonal=self.diagonal)
        k = cma_constants(d, lam, diagonal=self.diagonal, lambda_0=self.lambda_0)
        order = np.argsort(-np.asarray(batch.returns), kind="stable")  # best (largest F) first
        y = (np.asarray(batch.actions)[order] - m) / s.sigma
        if s.v is not None:  # C and the paths learn in the coordinates x / v
            y = y / s.v
        w = k.weights if self.active else np.where(k.weights > 0, k.weights, 0.0)
        new = self._update(s, k, w, y, np.asarray(batch.returns, dtype=np.float64))
        gain = 0.0 if np.ptp(np.asarray(batch.returns)) == 0 else k.ranked_gain  # 0: no ranking
        if gain <= 0:  # no ranking: the mean stays (the loop keeps theta_k), sigma and C take their step
            new = new._replace(y_w=np.zeros(d))
        t, kl, L = self._within(m, s, new, radius)
        if t == 0.0:
            return Proposal(theta=m, predicted_gain=0.0, kl=0.0, status=NONPOSITIVE_GAIN, n_inner=1, step_state=s,
                            at_boundary=True, message=f"no step of the distribution has KL <= {radius:g}")
        m_t, new_t = self._along(m, s, new, k, t, L)
        status = STEP_OK if gain > 0 else NONPOSITIVE_GAIN
        return Proposal(theta=m_t, predicted_gain=self.c_m * t * gain if gain > 0 else 0.0, kl=kl,
                        distance=float(np.linalg.norm(m_t - m)), status=status, n_inner=1, step_state=new_t,
                        at_boundary=t < 1.0, message="" if gain > 0 else "every value of the batch is equal")

    def _update(self, s: GaussianState, k: CMAConstants, w: np.ndarray, y: np.ndarray, F: np.ndarray) -> _FullStep:
        """The full step (``t = 1``); ``F`` the batch's values in the order drawn (TPA reads its first two)."""
        mu = k.mu
        y_w = w[:mu] @ y[:mu]
        z_w = s.inv_sqrt_C(y_w[None, :])[0]
        p_sigma = (1 - k.c_sigma) * s.p_sigma + math.sqrt(k.c_sigma * (2 - k.c_sigma) * k.mu_eff) * z_w
        norm_ps = float(np.linalg.norm(p_sigma))
        s_tpa = s.s_tpa
        if self.step_size == "csa":  # the exponent is capped at 1 (sigma at most e-fold per iteration)
            sigma = s.sigma * math.exp(min(1.0, (k.c_sigma / k.d_sigma) * (norm_ps / k.chi_n - 1)))
        elif s.shift is None:  # TPA without a tested move (the first step): sigma stays
            sigma = s.sigma
        else:  # TPA: rank of m + a shift against m - a shift, +1 when the forward point is the best
            z = (np.sum(F > F[1]) - np.sum(F > F[0])) / (F.size - 1)
            s_tpa = (1 - k.c_tpa) * s.s_tpa + k.c_tpa * z
            sigma = s.sigma * math.exp(s_tpa / k.d_tpa)
        h = norm_ps / math.sqrt(1 - (1 - k.c_sigma) ** (2 * (s.g + 1))) < (1.4 + 2 / (len(p_sigma) + 1)) * k.chi_n
        p_c = (1 - k.c_c) * s.p_c + (math.sqrt(k.c_c * (2 - k.c_c) * k.mu_eff) * y_w if h else 0.0)
        wo = w.copy()
        neg = w < 0
        if neg.any():
            zn = s.inv_sqrt_C(y[neg])
            wo[neg] = w[neg] * y.shape[1] / np.maximum((zn * zn).sum(axis=1), 1e-300)
        decay = 1 + k.c_1 * (0.0 if h else k.c_c * (2 - k.c_c)) - k.c_1 - k.c_mu * w.sum()
        if s.diagonal:
            C = decay * s.C + k.c_1 * p_c * p_c + k.c_mu * (wo @ (y * y))
        else:
            C = decay * s.C + k.c_1 * np.outer(p_c, p_c) + k.c_mu * (y.T * wo) @ y
            C = 0.5 * (C + C.T)
        return _FullStep(y_w, sigma, C, p_sigma, p_c, s_tpa)

    def _point(self, m, s: GaussianState, new, t: float):
        """``(m_t, sigma_t, C_t)`` at fraction ``t`` of the step: the mean and ``log sigma`` move by
        ``t`` times their full change, the covariance is ``(1 - t) C + t C'``."""
        m_t = m + t * self.c_m * s.sigma * (new.y_w if s.v is None else s.v * new.y_w)
        if t == 1.0:
            return m_t, new.sigma, new.C
        return m_t, s.sigma * (new.sigma / s.sigma) ** t, (1 - t) * s.C + t * new.C

    def _along(self, m, s: GaussianState, new, k: CMAConstants, t: float, L):
        """The mean and the :class:`GaussianState` at fraction ``t`` of the step (``L`` the Cholesky
        factor of its covariance); the eigensystem is recomputed every ``k.eigen_every``
        generations (every one for the diagonal variant)."""
        m_t, sigma, C = self._point(m, s, new, t)
        p_sigma, p_c, s_tpa = new.p_sigma, new.p_c, new.s_tpa
        shift = m_t - m if self.step_size == "tpa" and np.any(m_t != m) else None
        g = s.g + 1
        if s.diagonal or g - s.g_eigen >= k.eigen_every:
            B, D = self._eigen(C, s)
            return m_t, GaussianState(sigma=sigma, C=C, B=B, D=D, p_sigma=p_sigma, p_c=p_c, g=g, g_eigen=g,
                                      shift=shift, s_tpa=s_tpa, L=L, v=s.v)
        return m_t, replace(s, sigma=sigma, C=C, p_sigma=p_sigma, p_c=p_c, g=g, shift=shift, s_tpa=s_tpa, L=L)

    @staticmethod
    def _eigen(C, s: GaussianState):
        if C.ndim == 1:
            return None, np.sqrt(np.maximum(C, 1e-300))
        vals, B = np.linalg.eigh(C)
        if not (np.all(np.isfinite(vals)) and vals.min() > 0):  # keep the last eigensystem
            return s.B, s.D
        return B, np.sqrt(vals)

    def _within(self, m, s: GaussianState, new, radius) -> tuple[float, float, np.ndarray | None]:
        """The largest ``t`` in ``(0, 1]`` with ``KL(N_k || N_t) <= radius`` (bisection), that KL and
        the Cholesky factor of ``C_t`` (None for the diagonal variant); ``(0, 0, None)`` when even
        ``t = 2^-bisections`` exceeds the radius (no step is taken)."""
        if s.diagonal:
            S0 = s.sigma ** 2 * s.C
        else:  # the factor of C_k was computed with the last step (or is the identity's)
            L0 = s.sigma * (s.L if s.L is not None else np.linalg.cholesky(s.C))

        def kl(t):  # with v: the KL of the two distributions read in the coordinates x / v (KL is invariant)
            m_t, sigma_t, C_t = self._point(m, s, new, t)
            a, b = (m, m_t) if s.v is None else (np.zeros_like(m), (m_t - m) / s.v)
            if s.diagonal:
                return gaussian_kl(a, S0, b, sigma_t ** 2 * C_t), None
            L_t = _cholesky(C_t)
            return (math.inf if L_t is None else _kl_cholesky(b - a, L0, sigma_t * L_t)), L_t

        full, L = kl(1.0)
        if full <= radius:
            return 1.0, full, L
        lo, hi = 0.0, 1.0
        for _ in range(self.bisections):
            mid = 0.5 * (lo + hi)
            if kl(mid)[0] <= radius:
                lo = mid
            else:
                hi = mid
        return (lo, *kl(lo)) if lo > 0 else (0.0, 0.0, None)
