"""The KL trust-region method on a full-covariance Gaussian search distribution (CMA-ES's
update read as a natural-gradient trust-region step): its options and its one factory.

Where to read: :mod:`trustopt.components.gaussian` (the update, its constants and sources). The
loop's parts: :class:`~trustopt.components.gaussian.GaussianSampler` (``x = m + sigma B D z``),
the ranking of the batch (the surrogate's only use of ``f``),
:class:`~trustopt.components.gaussian.GaussianNaturalStep` (natural gradient on mean and
covariance, cumulative step-size adaptation, the step shortened to ``KL <= delta``), every step
accepted, and a constant KL radius ``delta`` (the learning rates are the trust region; the cap
only bounds outliers) or, with ``radius_rule="ratio"``, a radius set by STRO eq. 3.4 from a ratio
test in ranks (:class:`~trustopt.components.acceptance.RankRatioTest`). Restarts (IPOP, BIPOP)
are :func:`trustopt.minimize`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from trustopt._validation import NOISE_IS_A_TABLE, ValidationError, check_bool, check_choice, check_int, check_positive
from trustopt.algorithms._search import (RatioTestOptions, default_popsize, ratio_radius, resolve_options,
                                         search_method, search_start)
from trustopt.components import integers
from trustopt.components.acceptance import AlwaysAccept, RankRatioTest
from trustopt.components.gaussian import GaussianNaturalStep, GaussianSampler
from trustopt.components.radius import ConstantRadius
from trustopt.noise import NoiseTable

__all__ = ["TrustRegionCMAOptions", "trust_region_cma", "default_orthogonal", "DIAGONAL_ABOVE", "TPA_FROM",
           "TPA_MIN_POPSIZE", "ORTHOGONAL_UP_TO"]

#: The dimension above which ``diagonal=None`` means the separable variant (Ros & Hansen 2008):
#: there the full covariance's learning rate ``c_mu ~ mu_eff / d^2`` needs ``O(d^2)`` iterations
#: to learn ``C`` and each sample costs ``O(d^2)``, while the diagonal costs ``O(d)``.
DIAGONAL_ABOVE = 100

#: The smallest population with which ``step_size=None`` may mean two-point adaptation: its two
#: test points take two samples of each batch, and with ``lambda = 2`` the search never leaves the
#: line of the last move.
TPA_MIN_POPSIZE = 4

#: The largest dimension in which ``orthogonal=None`` means orthogonal sampling in every batch
#: (:func:`default_orthogonal`): with ``lambda = 4 + floor(3 ln d) >= d`` a batch holds a full
#: orthogonal frame, and BBOB measured a gain at d = 5 and 10 (see :class:`TrustRegionCMAOptions`).
ORTHOGONAL_UP_TO = 10

#: The dimension from which ``step_size=None`` means two-point step-size adaptation: CSA's path
#: needs ``~ 1 / c_sigma ~ d / mu_eff`` iterations to respond, TPA reacts within a few.
TPA_FROM = 300


def default_orthogonal(d: int, popsize: int, diagonal: bool) -> bool:
    """What ``orthogonal=None`` means for a batch of ``popsize`` samples in ``d`` dimensions:
    orthogonal sampling in every batch up to :data:`ORTHOGONAL_UP_TO` = 10 dimensions; above, with
    the full covariance (``diagonal`` False: by default up to :data:`DIAGONAL_ABOVE` = 100
    dimensions), in batches of at most ``d`` samples (one partial frame: the default population
    and BIPOP's small runs), i.i.d. in larger ones and in the separable variant.

    Why: a run at the default population learns ``C`` from ``lambda < d`` directions per batch,
    and orthogonal ones cover ``lambda`` distinct directions where i.i.d. ones overlap. Measured
    (README "Orthogonal sampling in batches of at most d samples"): single runs at the default
    population reach ``1e-8`` in 3-8% fewer evaluations on the ill-conditioned BBOB functions
    (median evaluations, orthogonal / i.i.d. / pycma; ``benchmarks/bench_bbob_single.py``,
    ``benchmarks/results/bbob_single_f*_d*_lambda*.json``): d = 20, ``lambda = 12``, 20 runs:
    ellipsoid f10 13,104 / 13,620 / 13,596, f2 13,062 / 13,986 / 13,512, discus f11 7,458 /
    7,830 / 7,674, different powers f14 12,618 / 13,650 / 13,068; d = 40, ``lambda = 15``: f10
    51,922 / 52,785 / 51,990, f14 47,940 / 49,980 / 47,738; d = 100, ``lambda = 17``, 6 runs: f10
    331,245 / 341,164. BBOB with BIPOP (instances 1-5), ECDF area of this rule / i.i.d. samples
    in every batch / pycma: d = 20 (10 seeds) 0.477 / 0.472 / 0.475 (paired against i.i.d.
    +0.005 [+0.001, +0.008]), d = 40 (seeds 0-2) 0.411 / 0.407 / 0.410 (seeds 0-4: 0.415 against
    pycma's 0.411); orthogonal samples in every batch were level with i.i.d. ones at d = 20 (0.468
    both, seeds 1-2), hence i.i.d. for BIPOP's large populations. Between 40 and 100 dimensions
    the rule is measured on single runs only (f10 at d = 100 above; its QR costs about a tenth of
    the optimizer's time there, ``benchmarks/bench_cma_overhead.py``). The separable variant
    stays i.i.d.: at d = 1000 orthogonal samples need the same evaluations on the sphere and the
    QR of each batch costs about 40% of the optimizer's time (``benchmarks/bench_highdim.py``)."""
    return d <= ORTHOGONAL_UP_TO or (not diagonal and popsize <= d)


@dataclass(frozen=True, kw_only=True)
class TrustRegionCMAOptions:
    """Hyperparameters of the Gaussian KL trust-region method.

    Fields:
        kl_radius: ``delta``, the cap on ``KL(N_k || N_{k+1})`` of one step, ``> 0`` (a constant
            radius: the learning rates are the trust region; Abdolmaleki et al. 2017 bound the
            same KL). Default None: ``d``, above the KL of a regular step (about ``d / (2 mu_eff)``
            for the mean plus the covariance's share), so that it only shortens outlying steps.
            With ``radius_rule="ratio"``: the initial and largest radius.
        radius_rule: ``"constant"`` (default: ``delta = kl_radius``) or ``"ratio"``: ``delta_k``
            follows STRO eq. 3.4 (doubled when ``r_k >= 0.5``, kept when ``0.1 <= r_k < 0.5``,
            halved otherwise; within ``[1e-6, 1] * kl_radius``) with ``r_k`` the ratio test in
            ranks of :class:`~trustopt.components.acceptance.RankRatioTest` on the next batch
            (every step is accepted, so it costs no evaluation). Measured on BBOB d = 10 (README,
            "The KL radius"; ``benchmarks/results/bbob_d10_i1-5_kl-radius.json``): share of
            targets 0.182 below the constant radius (the radius halves near an optimum and the
            run stalls), hence not the default; a constant radius of ``0.15 d``, which binds on
            the larger steps, was level (-0.006, n.s.).
        diagonal: True: the separable variant (diagonal ``C``, Ros & Hansen 2008); False: full
            ``C``. Default None: separable above ``DIAGONAL_ABOVE = 100`` dimensions, where the
            full ``C`` learns in ``O(d^2)`` iterations at ``O(d^2)`` per sample (Ros & Hansen 2008;
            measured in ``benchmarks/bench_highdim.py``).
        orthogonal: the ``lambda`` directions ``z_i`` of a batch orthogonalized in blocks of ``d``
            (a Haar-random frame), each with the length of an independent ``N(0, I)`` vector, so
            that every ``z_i`` is still ``N(0, I)`` (Wang, Emmerich & Baeck 2014). Default None:
            :func:`default_orthogonal` (every batch up to ``ORTHOGONAL_UP_TO = 10`` dimensions;
            above, batches of at most ``d`` samples with the full covariance). Measured on BBOB
            (instances 1-5, BIPOP restarts; ``benchmarks/results/bbob_d*_i1-5_*.json``), share of
            targets with / without it in every batch: d = 5 0.850 / 0.845, d = 10 0.783 / 0.765,
            d = 20 0.696 / 0.712 (seeds 1-2); the rule above at d = 20: :func:`default_orthogonal`;
            d = 1000, sphere: the same evaluations to 1e-8 either way, and the QR of each batch
            costs about 40% of the optimizer's time (``benchmarks/bench_highdim.py``).
        active: negative weights for the worst samples in the covariance update (Hansen 2016;
            pycma's default). Default True.
        c_m: the mean's learning rate, ``> 0``. Default 1.0 (Hansen 2016, Table 1).
        step_size: the step-size rule, ``"csa"`` (cumulative step-size adaptation, Hansen 2016) or
            ``"tpa"`` (two-point adaptation: the first two samples of a batch test the last move
            of the mean, Hansen 2008; Hansen, Atamna & Auger 2014; it needs ``popsize >= 4``).
            Default None: ``"tpa"`` from ``TPA_FROM = 300`` dimensions on (pycma's threshold;
            d = 1000: the sphere to 1e-8 in 62,340 evaluations against 104,100 with CSA,
            ``benchmarks/results/highdim_d1000.json``) when ``popsize >= 4``, ``"csa"`` otherwise.
    """

    kl_radius: float | None = None
    diagonal: bool | None = None
    orthogonal: bool | None = None
    active: bool = True
    c_m: float = 1.0
    step_size: str | None = None
    radius_rule: str = "constant"

    def __post_init__(self):
        if self.kl_radius is not None:
            check_positive(self.kl_radius, "kl_radius")
        check_choice(self.radius_rule, "radius_rule", ("constant", "ratio"))
        if self.diagonal is not None:
            check_bool(self.diagonal, "diagonal")
        check_bool(self.active, "active")
        if self.orthogonal is not None:
            check_bool(self.orthogonal, "orthogonal")
        check_positive(self.c_m, "c_m")
        if self.step_size is not None:
            check_choice(self.step_size, "step_size", ("csa", "tpa"))


def trust_region_cma(problem=None, *, exact: bool = False, theta0=None, sigma0: float | None = None,
                     popsize: int | None = None, noise=None, options: TrustRegionCMAOptions | None = None,
                     n_integer: int = 0, **hyperparameters):
    """The Gaussian KL trust-region method composed for the loop (``minimize``'s default method).

    Arguments as :func:`trustopt.algorithms.es.es` (``popsize`` default ``4 + floor(3 ln d)``,
    Hansen 2016; ``noise`` is not used: the samples come from the generator, but it must be None or
    a :class:`~trustopt.noise.NoiseTable`, so that pycma's habit ``noise=True`` is not silently
    ignored); hyperparameters :class:`TrustRegionCMAOptions`. ``n_integer``: how many of the ``d``
    coordinates are integer (the ask/tell driver rounds them and bounds their standard deviations:
    :mod:`trustopt.components.integers`); with any, the default population is pycma's larger one
    for integer variables, and CSA's damping rises only above it.
    """
    if noise is not None and not isinstance(noise, NoiseTable):
        raise ValidationError(f"noise: expected a NoiseTable or None, got {type(noise).__name__} ({NOISE_IS_A_TABLE})")
    o = resolve_options(TrustRegionCMAOptions, options, hyperparameters, "trust-region-cma", factory=trust_region_cma)
    theta0, sigma0 = search_start("trust-region-cma", problem, exact, theta0, sigma0)
    d = theta0.size
    diagonal = d > DIAGONAL_ABOVE if o.diagonal is None else o.diagonal
    n_integer = check_int(n_integer, "n_integer", 0, maximum=d)
    lambda_0 = integers.default_popsize(d, n_integer) if n_integer else default_popsize(d)
    lam = lambda_0 if popsize is None else popsize
    orthogonal = default_orthogonal(d, lam, diagonal) if o.orthogonal is None else o.orthogonal
    sampler = GaussianSampler(sigma0=sigma0, popsize=lam, diagonal=diagonal, orthogonal=orthogonal)
    if o.step_size == "tpa" and lam < TPA_MIN_POPSIZE:
        raise ValidationError(f"popsize: step_size='tpa' needs popsize >= {TPA_MIN_POPSIZE} (two samples of each "
                              f"batch test the last move of the mean), got {lam}")
    step_size = o.step_size or ("tpa" if d >= TPA_FROM and lam >= TPA_MIN_POPSIZE else "csa")
    step = GaussianNaturalStep(diagonal=diagonal, active=o.active, c_m=o.c_m, step_size=step_size, lambda_0=lambda_0)
    delta = float(d) if o.kl_radius is None else o.kl_radius
    if o.radius_rule == "ratio":  # STRO eq. 3.4 with the ES family's thresholds and factors, at most delta
        acceptance = RankRatioTest()
        radius = replace(ratio_radius(RatioTestOptions(), delta), delta_min=1e-6 * delta, delta_max=delta)
    else:
        acceptance, radius = AlwaysAccept(), ConstantRadius(delta=delta)
    return search_method("trust-region-cma", problem, o, theta0=theta0, sampler=sampler, step=step,
                         acceptance=acceptance, radius_rule=radius)
