"""OpenAI evolution strategies (Salimans et al. 2017, Alg. 2; TRES eq. 6 with centered ranks):
its options and its one factory.

``es(problem=None, *, theta0, sigma0, popsize=None, noise=None, options=None, **hyperparameters)``
composes the method (:mod:`trustopt.algorithms._search`) with
:class:`~trustopt.components.es_steps.ESGradientStep`. Every entry point builds it here:
``trustopt.run("es", F, ...)``, ``trustopt.ES(x0, ...)`` / ``minimize(method="es")`` and
``trustopt train --algo es`` (which sets ``adapt=False``, the paper's algorithm).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

from trustopt._validation import check_choice, check_nonnegative, check_positive
from trustopt.algorithms._search import (RatioTestOptions, default_popsize, n_pairs, resolve_options, search_method,
                                         search_start)
from trustopt.components.es_steps import OPTIMIZERS, SHAPINGS, ESGradientStep
from trustopt.components.search import PerturbationSampler
from trustopt.noise import NoiseTable

__all__ = ["ESOptions", "es"]


@dataclass(frozen=True, kw_only=True)
class ESOptions(RatioTestOptions):
    """Hyperparameters of OpenAI ES.

    Fields (``None``: the value of the mode, :attr:`ADAPTIVE_DEFAULTS` for ``adapt=True``,
    :attr:`PAPER_DEFAULTS` for ``adapt=False``; see :meth:`value`):
        adapt: True (default): black-box mode, ``sigma`` and the step scaled by ``s_k`` of the
            ratio test (:class:`~trustopt.algorithms._search.RatioTestOptions`); False: the
            paper's algorithm (fixed ``sigma``, every step accepted).
        lr: step size ``> 0``. Default None: 10.0 with ``adapt`` (SGD on the natural gradient,
            ``step = lr sigma^2 g``; the best of {1, 3, 10, 30} on the 10-D sphere and a
            condition-100 ellipsoid), 0.01 without (OpenAI ES starter code, MuJoCo configs).
        optimizer: ``"sgd"`` or ``"adam"`` (``beta1 = 0.9, beta2 = 0.999, eps = 1e-8``, Kingma &
            Ba 2015). Default None: ``"sgd"`` with ``adapt``, ``"adam"`` without (starter code).
        l2: weight decay ``>= 0`` (``g - l2 theta``). Default None: 0.0 with ``adapt``, 0.005
            without (starter code).
        shaping: ``"centered_ranks"`` (default; Salimans et al. 2017's fitness shaping, ranks
            mapped to ``[-1/2, 1/2]``) or ``"none"`` (the values minus their mean).
        beta0, beta1, gamma1, gamma2, gamma3, use_std: the ratio test and STRO eq. 3.4
            (defaults 0.1, 0.5, 2.0, 1.0, 0.5, False); ``adapt=True`` only.
    """

    adapt: bool = True
    lr: float | None = None
    optimizer: str | None = None
    l2: float | None = None
    shaping: str = "centered_ranks"

    ADAPTIVE_DEFAULTS: ClassVar[Mapping] = MappingProxyType({"lr": 10.0, "optimizer": "sgd", "l2": 0.0})
    PAPER_DEFAULTS: ClassVar[Mapping] = MappingProxyType({"lr": 0.01, "optimizer": "adam", "l2": 0.005})

    def __post_init__(self):
        super().__post_init__()
        if self.lr is not None:
            check_positive(self.lr, "lr")
        if self.optimizer is not None:
            check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        if self.l2 is not None:
            check_nonnegative(self.l2, "l2")
        check_choice(self.shaping, "shaping", SHAPINGS)


def es(problem=None, *, exact: bool = False, theta0=None, sigma0: float | None = None, popsize: int | None = None,
       noise: NoiseTable | None = None, options: ESOptions | None = None, **hyperparameters):
    """OpenAI ES composed for the loop.

    ``problem``: None (ask/tell: :class:`trustopt.asktell.AskTell`) or ``F: (n, d) -> (n,)`` to
    MAXIMIZE (:func:`trustopt.run`). ``theta0 (d,)``: the start; ``sigma0 > 0``: the search
    standard deviation (multiplied by the scale ``s_k`` with ``adapt``); ``popsize``: evaluations
    per batch, rounded down to antithetic pairs (default ``4 + floor(3 ln d)``; with ``adapt=False``
    32, :data:`~trustopt.algorithms._search.PAPER_POPSIZE`); ``noise``: the
    :class:`~trustopt.noise.NoiseTable` (default ``NoiseTable()``); the hyperparameters as
    ``options=ESOptions(...)`` or keywords (:class:`ESOptions`).

    Components: :class:`~trustopt.components.es_steps.ESGradientStep` -- ``adapt=True``: SGD on
    the natural gradient (``step = lr sigma_k^2 g_s``, so adapting ``sigma`` adapts the step),
    the raw-value gain for the ratio test; ``adapt=False``: ``step = lr adam(g_s)`` with weight
    decay, always accepted (the paper's update).
    """
    o = resolve_options(ESOptions, options, hyperparameters, "es", factory=es)
    theta0, sigma0 = search_start("es", problem, exact, theta0, sigma0)
    sampler = PerturbationSampler(sigma0=sigma0, n_pairs=n_pairs(popsize, default_popsize(theta0.size, o.adapt)),
                                  noise=NoiseTable() if noise is None else noise)
    step = ESGradientStep(lr=o.value("lr"), optimizer=o.value("optimizer"), l2=o.value("l2"), shaping=o.shaping,
                          **(dict(gain="raw", natural=True) if o.adapt else dict(gain="shaped")))
    return search_method("es", problem, o, theta0=theta0, sampler=sampler, step=step)
