"""Augmented Random Search V1-t (Mania, Guy & Recht 2018, "Simple random search provides a
competitive approach to reinforcement learning", Alg. 1): its options and its one factory.

Every entry point builds the method here: ``trustopt.run("ars", F, ...)``, ``trustopt.ARS`` /
``minimize(method="ars")`` and ``trustopt train --algo ars`` (``adapt=False``; V2's observation
normalization belongs to the rollout sampler of :mod:`trustopt.envs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

from trustopt._validation import ValidationError, as_float_array, check_positive
from trustopt.algorithms._search import (RatioTestOptions, default_popsize, n_pairs, resolve_options, search_method,
                                         search_start)
from trustopt.components.es_steps import ARSStep
from trustopt.components.search import PerturbationSampler
from trustopt.noise import NoiseTable

__all__ = ["ARSOptions", "ars"]


@dataclass(frozen=True, kw_only=True)
class ARSOptions(RatioTestOptions):
    """Hyperparameters of ARS (``sigma0`` is the paper's exploration noise ``nu``).

    Fields:
        adapt: True (default): black-box mode, ``nu`` and ``alpha`` both multiplied by the scale
            ``s_k`` of the ratio test / STRO eq. 3.4; False: the paper's fixed ``nu`` and ``alpha``.
        alpha: step size ``> 0`` (the paper's ``alpha``). Default None: ``sigma0`` with ``adapt``
            (the top-``b`` direction sum has norm about ``sqrt(d)``, so a step moves about as far
            as a sample), 0.02 without (:attr:`PAPER_DEFAULTS`; Mania et al. Table 9 use
            0.01-0.03 on MuJoCo).
        top_fraction: ``b / N`` in ``(0, 1]``, the fraction of the ``N`` antithetic pairs whose
            directions make the step (``b = max(1, round(top_fraction N))``). Default 0.5
            (Mania et al. tuned ``b / N`` over 0.125-1).
        beta0, beta1, gamma1, gamma2, gamma3, use_std: the ratio test (``adapt=True`` only;
            :class:`~trustopt.algorithms._search.RatioTestOptions`).
    """

    adapt: bool = True
    alpha: float | None = None
    top_fraction: float = 0.5

    PAPER_DEFAULTS: ClassVar[Mapping] = MappingProxyType({"alpha": 0.02})

    def __post_init__(self):
        super().__post_init__()
        if self.alpha is not None:
            check_positive(self.alpha, "alpha")
        top = as_float_array(self.top_fraction, "top_fraction", ndim=0)
        if not 0.0 < top <= 1.0:
            raise ValidationError(f"top_fraction: must lie in (0, 1], got {self.top_fraction!r}")


def ars(problem=None, *, exact: bool = False, theta0=None, sigma0: float | None = None, popsize: int | None = None,
        noise: NoiseTable | None = None, options: ARSOptions | None = None, **hyperparameters):
    """ARS V1-t composed for the loop: ``popsize // 2`` antithetic pairs with exploration noise
    ``sigma0`` (``nu``), :class:`~trustopt.components.es_steps.ARSStep` (``alpha``, top ``b``).
    Arguments as :func:`trustopt.algorithms.es.es`; hyperparameters :class:`ARSOptions`.
    ``adapt=True``: the raw-value gain and the ratio test; ``adapt=False``: always accepted."""
    o = resolve_options(ARSOptions, options, hyperparameters, "ars", factory=ars)
    theta0, sigma0 = search_start("ars", problem, exact, theta0, sigma0)
    sampler = PerturbationSampler(sigma0=sigma0, n_pairs=n_pairs(popsize, default_popsize(theta0.size, o.adapt)),
                                  noise=NoiseTable() if noise is None else noise)
    alpha = o.alpha if o.alpha is not None else (sigma0 if o.adapt else o.value("alpha"))
    step = ARSStep(alpha=alpha, top_fraction=o.top_fraction, gain="raw" if o.adapt else "shaped")
    return search_method("ars", problem, o, theta0=theta0, sampler=sampler, step=step)
