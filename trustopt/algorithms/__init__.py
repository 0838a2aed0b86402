"""Algorithms as compositions of the loop's components, one short factory each, and a registry.

``REGISTRY`` maps a name to a factory ``factory(problem, *, exact=False, **hyperparameters) -> Method``:
the policy-gradient family (vpg npg trpo ppo trefree stro) and the ES family (es ars tres
trust-region-es), each the only place its defaults live.
Users add their own compositions with :func:`register`. :data:`PAPER_POPSIZE`: the population of
the ES family's paper mode when none is given (16 antithetic pairs, measured).
"""

from __future__ import annotations

from typing import Callable

from trustopt._validation import ValidationError
from trustopt.algorithms._search import PAPER_POPSIZE
from trustopt.algorithms.ars import ars
from trustopt.algorithms.es import es
from trustopt.algorithms.npg import npg
from trustopt.algorithms.ppo import ppo
from trustopt.algorithms.stro import stro
from trustopt.algorithms.trefree import trefree
from trustopt.algorithms.tres import tres
from trustopt.algorithms.trust_region_cma import trust_region_cma
from trustopt.algorithms.trust_region_es import trust_region_es
from trustopt.algorithms.trpo import trpo
from trustopt.algorithms.vpg import vpg

__all__ = ["REGISTRY", "register", "get", "vpg", "npg", "trpo", "ppo", "trefree", "stro", "es", "ars", "tres",
           "trust_region_es", "trust_region_cma", "ES_FAMILY", "PAPER_POPSIZE"]

REGISTRY: dict[str, Callable] = {}


def register(name: str, factory: Callable, *, replace: bool = False) -> Callable:
    """Register ``factory`` under ``name`` (lower case); refuses to overwrite unless ``replace``."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"name: must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ValidationError(f"factory: must be callable, factory(problem, *, exact=False, **hyperparameters) -> "
                              f"Method, got {type(factory).__name__}")
    key = name.lower()
    if key in REGISTRY and not replace:
        raise ValidationError(f"name: algorithm {key!r} is already registered")
    REGISTRY[key] = factory
    return factory


def get(name: str) -> Callable:
    """The factory registered as ``name``; the error lists the known names."""
    key = name.lower() if isinstance(name, str) else name
    if key not in REGISTRY:
        raise ValidationError(f"algorithm: unknown name {name!r}; registered: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[key]


for _f in (vpg, npg, trpo, ppo, trefree, stro, es, ars, tres):
    register(_f.__name__, _f)
register("trust-region-es", trust_region_es)
register("trust-region-cma", trust_region_cma)

#: The names of the evolution-strategy family (their methods are driven by :class:`trustopt.asktell.AskTell`).
ES_FAMILY = ("es", "ars", "tres", "trust-region-es", "trust-region-cma")
