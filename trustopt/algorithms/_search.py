"""What the factories of the evolution-strategy family share (es, ars, tres, trust-region-es).

Each of those factories composes a :class:`~trustopt.core.loop.Method` from the search
distribution (:class:`~trustopt.components.search.GaussianSearch`), its sampling scheme
(:class:`~trustopt.components.search.PerturbationSampler`), the importance-sampled surrogate
(TRES eq. 23-24), the Euclidean distance, a step solver of :mod:`trustopt.components.es_steps`,
and an acceptance and radius rule chosen by the method's mode:

* ``adapt=False`` -- the paper's algorithm: fixed ``sigma``, every step accepted
  (:class:`~trustopt.components.acceptance.AlwaysAccept`, constant radius 1);
* ``adapt=True`` -- black-box mode: the ratio test on a fresh batch at the trial point
  (:class:`~trustopt.components.acceptance.FreshRatioTest`, STRO eq. 3.2-3.3) and STRO eq. 3.4 on
  a scale ``s_k`` that multiplies ``sigma`` and the step.

The options dataclasses derive from :class:`RatioTestOptions` (one level): the fields of the
ratio test, the values of fields left None by mode, and the check that a paper-mode method
does not set ratio-test fields it would ignore.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import ClassVar

import numpy as np

from trustopt._validation import (ValidationError, as_float_array, check_bool, check_int, check_positive, did_you_mean,
                                  pycma_hint, own_hyperparameters)
from trustopt.components.acceptance import AlwaysAccept, FreshRatioTest
from trustopt.components.distances import Euclidean
from trustopt.components.gaussian import cma_popsize
from trustopt.components.radius import ConstantRadius, RatioRadius
from trustopt.components.search import GaussianSearch, PerturbationSampler
from trustopt.components.surrogates import ImportanceSampled
from trustopt.core.loop import Method

__all__ = ["RatioTestOptions", "resolve_options", "search_start", "default_popsize", "PAPER_POPSIZE", "mode_rules",
           "ratio_radius", "search_method"]


@dataclass(frozen=True, kw_only=True)
class RatioTestOptions:
    """The ratio test and the scale rule of the adaptive mode (fields of every ES options class).

    The trial point of each iteration is accepted iff ``r_k = actual / predicted gain >= beta0``
    on a fresh batch at the trial point (STRO eq. 3.2-3.3), and the scale ``s_k`` (the
    trust-region radius of the trust-region ES; the multiplier of ``sigma`` and of the step of
    ES / ARS / TRES) follows STRO eq. 3.4::

        s_{k+1} = gamma1 s_k  if r_k >= beta1;   gamma2 s_k  if beta0 <= r_k < beta1;   gamma3 s_k  otherwise,

    clipped to ``[1e-100, 1e3] * s_0``.

    Fields:
        beta0: acceptance threshold, ``0 < beta0 < beta1``. Default 0.1: a tenth of the
            predicted gain must be realized (Nocedal & Wright 2006, Alg. 4.1 takes
            ``eta in [0, 1/4)``).
        beta1: "very successful" threshold of STRO eq. 3.4. Default 0.5.
        gamma1: enlarging factor, ``> 1``. Default 2.0.
        gamma2: factor after an accepted, not very successful step, ``gamma3 < gamma2 <= 1``.
            Default 1.0 (keep the scale).
        gamma3: shrinking factor after a rejection, ``0 < gamma3 < gamma2``. Default 0.5.
            (gamma1..3 = 2, 1, 1/2: double / keep / halve; STRO sec. 5.1 uses 2, 0.8, 0.6 with
            its gradient-norm radius.)
        use_std: add the sample standard deviation of the model batch's values to the
            denominator of ``r_k`` (STRO eq. 4.14 with eq. 4.2). Default False (for a
            deterministic objective that spread is not noise); True for noisy objectives.
    """

    beta0: float = 0.1
    beta1: float = 0.5
    gamma1: float = 2.0
    gamma2: float = 1.0
    gamma3: float = 0.5
    use_std: bool = False

    #: The fields only the adaptive mode uses (with ``adapt=False`` they must keep their defaults).
    ADAPTIVE_ONLY: ClassVar[tuple[str, ...]] = ("beta0", "beta1", "gamma1", "gamma2", "gamma3", "use_std")
    #: Values of the fields left ``None``, by mode (``adapt=True`` / ``adapt=False``).
    ADAPTIVE_DEFAULTS: ClassVar[Mapping] = MappingProxyType({})
    PAPER_DEFAULTS: ClassVar[Mapping] = MappingProxyType({})

    def __post_init__(self):
        ratio_radius(self, 1.0)  # the rule the method builds; its validation names the field (eq. 3.4)
        check_bool(self.use_std, "use_std")
        if not check_bool(getattr(self, "adapt", True), "adapt"):
            for f in fields(RatioTestOptions):
                if getattr(self, f.name) != f.default:
                    raise ValidationError(
                        f"{f.name}: only used with adapt=True (the ratio test and STRO eq. 3.4); adapt=False is the "
                        f"paper's algorithm with a fixed sigma, got {f.name}={getattr(self, f.name)!r}")

    def value(self, name: str):
        """The value the method uses for field ``name``: the field, or when it is ``None`` its entry
        in :attr:`ADAPTIVE_DEFAULTS` / :attr:`PAPER_DEFAULTS` (by ``adapt``)."""
        v = getattr(self, name)
        if v is None:
            v = (self.ADAPTIVE_DEFAULTS if getattr(self, "adapt", True) else self.PAPER_DEFAULTS).get(name)
        return v


def resolve_options(cls, options, hyperparameters: dict, owner: str, *, factory=None):
    """``options`` (an instance of ``cls``, or a dict of its fields, as ``minimize`` takes) or
    ``cls(**hyperparameters)``: one or the other; an unknown keyword is an error naming it, the
    closest of the valid ones and of ``factory``'s own keywords (``sigma0``, ``theta0``, ...), and
    listing the valid ones."""
    if isinstance(options, Mapping):
        if hyperparameters:
            raise ValidationError(f"options: give either options={{...}} or keyword hyperparameters, not both "
                                  f"(got options and {', '.join(sorted(hyperparameters))})")
        options, hyperparameters = None, dict(options)
    if options is not None:
        if not isinstance(options, cls):
            raise ValidationError(f"options: {owner} takes {cls.__name__}, got {type(options).__name__}")
        if hyperparameters:
            raise ValidationError(f"options: give either options={cls.__name__}(...) or keyword hyperparameters, "
                                  f"not both (got options and {', '.join(sorted(hyperparameters))})")
        return options
    valid = sorted(f.name for f in fields(cls))
    unknown = sorted(set(hyperparameters) - set(valid))
    if unknown:
        hint = did_you_mean(unknown[0], (*valid, *own_hyperparameters(factory))) + pycma_hint(unknown[0])
        raise ValidationError(f"{', '.join(unknown)}: unknown hyperparameter{'s' if len(unknown) > 1 else ''} "
                              f"of {owner}{hint}; valid: {', '.join(valid)}")
    return cls(**hyperparameters)


def search_start(name: str, problem, exact: bool, theta0, sigma0) -> tuple[np.ndarray, float]:
    """The checked ``(theta0 (d,), sigma0)`` of an ES method; ``problem`` is None (ask/tell) or a
    function ``F: (n, d) -> (n,)`` to maximize (:func:`trustopt.run`)."""
    if exact:
        raise ValidationError("exact: the ES family has no exact sampler (its samples ARE the method); use exact=False")
    if problem is not None and not callable(problem):
        raise ValidationError(f"problem: {name!r} needs a callable F mapping (n, d) parameters to (n,) values to "
                              f"MAXIMIZE (or None for ask/tell), got {type(problem).__name__}")
    if theta0 is None:
        raise ValidationError(f"theta0: {name!r} needs the starting parameters theta0, a (d,) array (the "
                              "dimension of the function's argument)")
    theta0 = as_float_array(theta0, "theta0", ndim=(0, 1)).reshape(-1)
    if theta0.size == 0:
        raise ValidationError("theta0: empty")
    if sigma0 is None:
        raise ValidationError(f"sigma0: {name!r} needs the initial standard deviation sigma0 > 0 of its search "
                              "distribution (about a tenth of the range of each parameter; 0.02 on MuJoCo "
                              "linear policies, Salimans et al. 2017)")
    return theta0, check_positive(sigma0, "sigma0")


#: ``popsize`` of the papers' algorithms (``adapt=False``: policy search with a fixed ``sigma``)
#: when none is given: 16 antithetic pairs, one setting for every task. The TRES paper states
#: none. Measured with TRES on MuJoCo-v5 linear policies (``benchmarks/bench_thresholds.py``, 10
#: seeds; README "Timesteps to the papers' thresholds"): 16 pairs reached HalfCheetah's 2385 within
#: 2e6 timesteps on 8 of 10 seeds against 4 of 10 with 8 pairs, Swimmer's 325 within 1e6 on 8 of 10
#: against 5 of 10; ARS's per-task N (32 on HalfCheetah), the earlier default, was tuned for ARS's
#: top-b step, while TRES and ES weight every direction. Neither fewer pairs on small policies nor
#: more on hard tasks measured better (TRES, sigma 0.03; ``benchmarks/results/thresholds_tres/``):
#: InvertedDoublePendulum (d = 9, 30 seeds) reaches 9104 in a median 1.1e5 timesteps with 16 pairs,
#: 8.1e4 / 1.0e5 / 1.3e5 with 8 / 10 / 12 (intervals overlapping, not monotone in N); Walker2d's 2872
#: on 0 of 5 seeds with 32 pairs against 1 of 5 with 16.
PAPER_POPSIZE = 32


def default_popsize(d: int, adapt: bool = True) -> int:
    """The population when none is given: ``4 + floor(3 ln d)`` in the adaptive (black-box) mode
    (CMA-ES's default population, Hansen 2016); :data:`PAPER_POPSIZE` in the paper mode."""
    return cma_popsize(d) if adapt else PAPER_POPSIZE


def n_pairs(popsize, default: int, *, center: bool = False) -> int:
    """Antithetic pairs of a batch of ``popsize`` evaluations (``default`` when None): a given
    ``popsize`` must be ``2 pairs`` (``+ 1`` with the ``center`` in the batch), not rounded
    silently to the batch the method would ask."""
    if popsize is None:
        return check_int(default, "popsize", 2) // 2
    popsize = check_int(popsize, "popsize", 3 if center else 2)
    if (popsize - center) % 2:
        shape = "2 x pairs + 1 (the center)" if center else "2 x pairs (antithetic)"
        raise ValidationError(f"popsize: this method's batches are {shape}, so {popsize} cannot be one; "
                              f"give {popsize - 1} or {popsize + 1}")
    return popsize // 2


def ratio_radius(o: RatioTestOptions, delta0: float) -> RatioRadius:
    """STRO eq. 3.4 on the scale parameter with ``o``'s thresholds and factors, clipped to
    ``[1e-100, 1e3] * delta0``: the search never grows beyond 1000 times its initial size (a
    guard against the smoothing feedback described in FreshRatioTest, which otherwise diverges)."""
    return RatioRadius(delta0=delta0, beta0=o.beta0, beta1=o.beta1, gamma1=o.gamma1, gamma2=o.gamma2,
                       gamma3=o.gamma3, delta_min=delta0 * 1e-100, delta_max=delta0 * 1e3)


def mode_rules(o: RatioTestOptions, *, center: bool = False):
    """``(acceptance, radius_rule)`` of the mode: the paper's (always accept, radius 1) or the
    adaptive ratio test with STRO eq. 3.4 on a scale starting at 1."""
    if not getattr(o, "adapt", True):
        return AlwaysAccept(), ConstantRadius(delta=1.0)
    rule = ratio_radius(o, 1.0)
    return FreshRatioTest(beta0=rule.beta0, use_std=o.use_std, center=center), rule


def search_method(name: str, problem, o, *, theta0: np.ndarray, sampler: PerturbationSampler, step,
                  acceptance=None, radius_rule=None) -> Method:
    """The :class:`Method` of an ES algorithm; ``acceptance``/``radius_rule`` default to :func:`mode_rules`."""
    if acceptance is None:
        acceptance, radius_rule = mode_rules(o, center=sampler.center)
    hyperparameters = {"sigma0": sampler.sigma0, "popsize": sampler.popsize,
                       **{f.name: getattr(o, f.name) for f in fields(o)}}
    return Method(name=name, policy=GaussianSearch(n_params=theta0.shape[0]), sampler=sampler,
                  surrogate=ImportanceSampled(), distance=Euclidean(), step=step, acceptance=acceptance,
                  radius_rule=radius_rule, theta0=theta0, problem=problem, hyperparameters=hyperparameters)
