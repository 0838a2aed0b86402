"""The public claim API: :class:`Claim`, :class:`Field`, :class:`Outcome`, :func:`register`.

A claim is data plus two functions:

- ``draw(rng, n)`` returns a list of *batches*; a batch is a ``dict`` of NumPy arrays that
  share a leading batch dimension (one instance per row). Shapes may differ between
  batches (e.g. one batch per number of states), never inside one.
- ``check(batch)`` returns an :class:`Outcome`: per-instance ``slack`` (``>= -tol`` means
  the claim holds on that instance), ``scale`` (the size of the quantities compared, from
  which the tolerance is derived), and for inequalities ``bound`` (the size of the term the
  theorem pays), so that ``tightness = (bound - slack) / bound = gap / bound`` can be
  reported (``1`` means the bound is attained, ``> 1`` means it is violated).

The claim's ``schema`` (a dict ``name -> Field``) tells the runner what each array is, so that
the generic adversarial search can perturb instances (probability rows in logit space, reals
additively, discounts in ``[0, 0.99]``) and the shrinker can delete states or actions and
round entries while keeping a counterexample violated. Everything in this module is public
and is exactly what the built-in claims use; ``python -m proofs_check --extra FILE.py`` loads
a file that calls :func:`register` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

KINDS = ("identity", "inequality", "algorithm", "statistical")
STATUSES = ("holds", "violated")
FIELD_KINDS = ("dist", "real", "unit", "gamma", "positive", "fixed")

#: Default relative tolerance: ``tol = rtol * scale + atol``. Exact evaluation costs two
#: linear solves with condition number ``<= (1+gamma)/(1-gamma) <= 200`` for ``gamma <= 0.99``,
#: so float64 round-off is ``~1e-13`` of the value scale; ``1e-9`` leaves four orders of
#: magnitude of margin and is still far below any violation worth reporting.
DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 1e-12


@dataclass(frozen=True, kw_only=True)
class Field:
    """What one array of an instance is (its shape excludes the leading batch axis).

    Args:
        kind: ``"dist"`` (probability vectors along the last axis), ``"real"``, ``"unit"``
            (in ``[0, 1]``), ``"gamma"`` (a discount in ``[0, 0.99]``), ``"positive"``
            (``> 0``), or ``"fixed"`` (never perturbed nor rounded).
        axes: one symbolic name per axis, e.g. ``("S", "A", "S")`` for ``P[s, a, s']``;
            the shrinker deletes index ``i`` of a symbol in every array at once. Use
            ``None`` for an axis that must not be shrunk.
    """

    kind: str
    axes: tuple = ()

    def __post_init__(self):
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"kind: must be one of {FIELD_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "axes", tuple(self.axes))


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """Per-instance result of a check; all arrays have shape ``(n,)``.

    Attributes:
        slack: ``>= -tol`` where the claim holds. For an identity ``lhs = rhs`` use
            ``-|lhs - rhs|``; for ``X <= B`` use ``B - X``.
        scale: magnitude of the compared quantities (``> 0``); ``tol = rtol*scale + atol``.
        bound: for inequalities ``X <= B``, the size ``B >= 0`` of the bound; then
            ``tightness = (bound - slack) / bound = X / B``. ``None`` for identities.
        valid: instances on which the claim's hypotheses hold (others are not counted);
            ``None`` means all.
        gap: optional explicit gap for the tightness ``gap / bound`` (for claims whose
            slack combines several inequalities, or lower bounds ``X >= B`` reported as
            ``B / X``); default ``bound - slack``.
        rtol, atol: tolerances (defaults :data:`DEFAULT_RTOL`, :data:`DEFAULT_ATOL`).
    """

    slack: np.ndarray
    scale: np.ndarray
    bound: np.ndarray | None = None
    valid: np.ndarray | None = None
    gap: np.ndarray | None = None
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL

    def __post_init__(self):
        slack = np.atleast_1d(np.asarray(self.slack, dtype=float))
        n = slack.shape[0]
        scale = np.broadcast_to(np.asarray(self.scale, dtype=float), (n,)).copy()
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        object.__setattr__(self, "slack", slack.reshape(n))
        object.__setattr__(self, "scale", scale)
        if self.bound is not None:
            object.__setattr__(self, "bound", np.broadcast_to(np.asarray(self.bound, float), (n,)).copy())
        if self.gap is not None:
            object.__setattr__(self, "gap", np.broadcast_to(np.asarray(self.gap, float), (n,)).copy())
        valid = np.ones(n, bool) if self.valid is None else np.broadcast_to(np.asarray(self.valid, bool), (n,)).copy()
        # a NaN slack on a valid instance is a failure of the check, reported as a violation
        object.__setattr__(self, "valid", valid)

    @property
    def tol(self) -> np.ndarray:
        return self.rtol * self.scale + self.atol

    @property
    def violated(self) -> np.ndarray:
        """Valid instances whose slack is below ``-tol`` (or NaN)."""
        return self.valid & ~(self.slack >= -self.tol)

    @property
    def relative_slack(self) -> np.ndarray:
        return self.slack / self.scale

    @property
    def tightness(self) -> np.ndarray:
        """``gap / bound`` where the bound is ``> tol`` (NaN elsewhere and for identities)."""
        n = self.slack.shape[0]
        if self.bound is None:
            return np.full(n, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            gap = self.bound - self.slack if self.gap is None else self.gap
            t = gap / self.bound
        return np.where(self.valid & (self.bound > self.tol) & np.isfinite(t), t, np.nan)


@dataclass(frozen=True, kw_only=True)
class Certificate:
    """An exact verdict on ONE instance, from a claim's ``exact`` function.

    The instance is converted to exact rationals (each float is the decimal it prints as,
    probability rows renormalized to sum exactly to 1: :mod:`proofs_check._rational`), and the
    claim's slack is evaluated in exact rational arithmetic, or enclosed by an interval with
    rational endpoints where ``log``/``sqrt``/``exp`` enter. ``upper < 0`` PROVES the rational
    instance violates the claim; ``lower >= 0`` proves it satisfies it.

    Attributes:
        upper: an upper bound on the exact slack (the slack itself when it is rational).
        lower: a lower bound on it (``None``: only an upper bound is known, e.g. when the
            claim's left side is a maximum that is bounded above).
        instance: the rational instance (name -> nested lists of Fractions).
        sides: named exact quantities (e.g. ``gap``, ``bound``, ``lhs``, ``rhs``).
        gap, bound: for inequalities ``gap <= bound``, exact values or intervals (used by
            variants that rescale a bound).
    """

    upper: object
    lower: object = None
    instance: Mapping = field(default_factory=dict)
    sides: Mapping = field(default_factory=dict)
    gap: object = None
    bound: object = None

    @property
    def violated(self) -> bool:
        return self.upper < 0

    @property
    def holds(self) -> bool:
        return self.lower is not None and self.lower >= 0


Draw = Callable[[np.random.Generator, int], list]
Check = Callable[[Mapping[str, np.ndarray]], Outcome]


@dataclass(frozen=True, kw_only=True)
class Claim:
    """An executable claim.

    Args:
        id: public name (e.g. ``"bound.trpo-tv"``).
        source: paper file and theorem/equation.
        statement: the statement checked, in words and symbols.
        kind: ``identity | inequality | algorithm | statistical``.
        draw: ``draw(rng, n) -> list[dict[str, ndarray]]`` (about ``n`` instances in all).
        check: ``check(batch) -> Outcome``.
        schema: ``name -> Field`` for every array of a batch (needed by the adversarial
            search and the shrinker; arrays not in the schema are left alone).
        expected: the documented status, ``"holds"`` or ``"violated"``.
        search: run the adversarial search (default: for inequalities and algorithms).
        max_instances: cap on the random instances for expensive claims (None: no cap).
        search_budget: instances the adversarial search may evaluate (None: from ``n``).
        notes: findings, corrected statement, proof of a sharper statement.
        exact: ``exact(instance) -> Certificate`` (one instance, arrays without the batch axis):
            the claim's slack on the instance made rational, evaluated exactly. When given,
            a violation found in floating point is reported only if the certificate proves it
            ("violated (exact)"); floating-point noise cannot produce a violation.
        resize: ``resize(instance, rng) -> list of instances`` (arrays without the batch axis):
            valid instances of OTHER sizes near ``instance`` (e.g. one more or one fewer
            dimension), the adversarial search's size-changing moves for sizes the schema's
            axis symbols cannot express (TRES's ``d``: ``F`` gains an axis). Index symbols
            of the schema (``"S"``, ``"A"``) get generic moves without it: a state or action
            is cloned (its probability mass split in half, so the instance keeps its values)
            or deleted.
    """

    id: str
    source: str
    statement: str
    kind: str
    draw: Draw
    check: Check
    schema: Mapping[str, Field] = field(default_factory=dict)
    expected: str = "holds"
    search: bool | None = None
    max_instances: int | None = None
    search_budget: int | None = None
    notes: str = ""
    exact: Callable | None = None
    resize: Callable | None = None

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("id: must be a non-empty string")
        if self.kind not in KINDS:
            raise ValueError(f"kind: must be one of {KINDS}, got {self.kind!r}")
        if self.expected not in STATUSES:
            raise ValueError(f"expected: must be one of {STATUSES}, got {self.expected!r}")
        if not callable(self.draw) or not callable(self.check):
            raise ValueError("draw and check must be callables")
        for k, v in dict(self.schema).items():
            if not isinstance(v, Field):
                raise ValueError(f"schema[{k!r}]: must be a Field, got {type(v).__name__}")
        if self.max_instances is not None and self.max_instances < 1:
            raise ValueError("max_instances: must be >= 1")
        if self.search is None:
            object.__setattr__(self, "search", self.kind in ("inequality", "algorithm") and bool(self.schema))

    def check_one(self, instance: Mapping[str, np.ndarray]) -> Outcome:
        """Check a single instance (arrays without the batch axis)."""
        return self.check({k: np.asarray(v)[None] for k, v in instance.items()})


_REGISTRY: dict[str, Claim] = {}


def register(claim: Claim, *, replace: bool = False) -> Claim:
    """Add a claim to the registry (what ``python -m proofs_check`` runs). Returns it."""
    if not isinstance(claim, Claim):
        raise TypeError(f"register: expected a Claim, got {type(claim).__name__}")
    if claim.id in _REGISTRY and not replace:
        raise ValueError(f"register: a claim with id {claim.id!r} is already registered")
    _REGISTRY[claim.id] = claim
    return claim


def unregister(claim_id: str) -> None:
    _REGISTRY.pop(claim_id, None)


def get(claim_id: str) -> Claim:
    _load_builtin()
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        raise KeyError(f"unknown claim id {claim_id!r}{unknown_id_hint(claim_id)}") from None


def unknown_id_hint(claim_id: str) -> str:
    """What follows "unknown claim id": the closest known id, and where the others are listed (a
    ``user.`` id is registered by its ``--extra`` file)."""
    import difflib  # (the library's did_you_mean is private: proofs_check uses trustopt's public API only)

    close = difflib.get_close_matches(str(claim_id), sorted(_REGISTRY), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    extra = "; a claim of your own needs --extra FILE.py" if str(claim_id).startswith("user.") else ""
    return f"{hint}{extra} (see --list: {len(_REGISTRY)} known ids)"


def all_claims() -> list[Claim]:
    """Every registered claim, built-in ones first (in catalogue order), then user ones."""
    _load_builtin()
    return list(_REGISTRY.values())


_LOADED = False


def _load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib

    for mod in ("kakade_langford", "trpo", "slides", "trefree", "stro", "tres", "igo"):
        importlib.import_module(f"proofs_check.{mod}")
