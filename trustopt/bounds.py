"""Box constraints ``l <= x <= u`` for the evolution strategies: a smooth map of R^d onto the box.

The optimizer searches an unbounded internal space ``y``; every point it evaluates is
``x = T(y)``, ``T`` acting coordinate by coordinate and mapping R ONTO ``[l_i, u_i]``, so no
evaluated point leaves the box and the methods need no change (the idea of pycma's
``BoundTransform``, Hansen et al.; written here from the description below). For a
coordinate with both bounds finite, width ``w = u - l`` and margin ``a = w / 20``:

    T(y) = y                                   l + a <= y <= u - a   (the interior: untouched)
    T(y) = l + (y - (l - a))^2 / (4 a)         l - a <= y <= l + a   (boundary layer)
    T(y) = u - (y - (u + a))^2 / (4 a)         u - a <= y <= u + a
    T(y) = T(reflection of y into [l - a, u + a])                    (T is even about l - a
                                                                      and 2 (w + 2 a)-periodic)

The layers meet the identity with slope 1 and reach the bound with slope 0, so ``T`` is C^1
and a minimum ON a bound (``x_i = l_i``, reached at ``y_i = l_i - a``) is a smooth minimum
of ``f(T(y))``: optima on the boundary are found as interior ones are. A coordinate with one
finite bound ``b`` has the one layer, margin ``a = (1 + |b|) / 20``, and is reflected about
``b -+ a`` beyond it; an unbounded coordinate is left alone. Every operation is element-wise,
so a sample's image does not depend on the batch it is mapped in (the same bits in the driver
and in a worker).

A box may also carry a ``scale (d,)`` of positive numbers, one unit per coordinate (a
per-coordinate ``sigma0``, pycma's ``CMA_stds``): the internal point ``y`` is then read as
``scale * y`` before ``T``, so that a search distribution with ``sigma = 1`` has the standard
deviation ``scale_i`` in coordinate ``i``, whatever method samples it. A box without any finite
bound may exist for its scale alone.

An integer coordinate (``integer (d,)`` True there; scipy's ``integrality``, pycma's
``integer_variables``) takes the integers ``ceil(l) .. floor(u)``: ``T`` maps onto the interval
``[ceil(l) - 1/2, floor(u) + 1/2]``, in which each of them owns a unit width, and :meth:`Box.to_box`
rounds the result to the nearest integer (the end integers of the range own a unit too, where
rounding into ``[l, u]`` would give them half of one; under a wide search they are drawn a little
more often than the inner ones, as ``T``'s boundary layer of width ``a`` also maps onto them). A
range of one integer is a fixed coordinate; a range of none is an error.

A fixed coordinate (``l = u``, as scipy allows; pycma's ``fixed_variables``) is not searched: the
ask/tell classes and ``minimize`` search the ``n_free`` free coordinates only, so the population
size, the learning rates and the default budget are those of the smaller problem, and
:meth:`Box.to_box` inserts ``l`` for the fixed ones (:meth:`Box.embed`). A method built on all
``d`` coordinates (``AskTell(method, bounds=...)``) may still search them; ``T`` maps a fixed
coordinate to ``l`` whatever ``y``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustopt._validation import ValidationError

__all__ = ["Box", "as_box", "default_sigma0", "SIGMA0_UNBOUNDED"]

#: Default ``sigma0`` without a bounded coordinate (the unit scale Nevergrad's arrays also start from).
SIGMA0_UNBOUNDED = 1.0


@dataclass(frozen=True, eq=False)
class Box:
    """The box ``lower <= x <= upper`` (``(d,)`` arrays, ``-inf``/``inf`` for an open side) and
    its map :meth:`to_box` from the internal search space (module docstring)."""

    lower: np.ndarray
    upper: np.ndarray
    scale: np.ndarray | None = None
    integer: np.ndarray | None = None

    def __post_init__(self):
        lo = np.asarray(self.lower, dtype=np.float64).reshape(-1)
        hi = np.asarray(self.upper, dtype=np.float64).reshape(-1)
        if lo.shape != hi.shape:
            raise ValidationError(f"bounds: {lo.size} lower and {hi.size} upper bounds")
        if self.integer is not None:
            integer = np.asarray(self.integer)
            if integer.shape != lo.shape or integer.dtype != bool:
                raise ValidationError(f"integrality: expected {lo.size} True/False values, one per coordinate")
            given = lo, hi
            lo, hi = np.where(integer, np.ceil(lo) + 0.0, lo), np.where(integer, np.floor(hi) + 0.0, hi)  # (no -0.0)
            empty = np.flatnonzero(integer & (lo > hi) & (given[0] <= given[1]))
            if empty.size:
                i = int(empty[0])
                raise ValidationError(f"bounds: integer coordinate {i} has no integer in "
                                      f"[{given[0][i]:g}, {given[1][i]:g}]")
            object.__setattr__(self, "integer", integer if integer.any() else None)
        if self.scale is not None:
            scale = np.asarray(self.scale, dtype=np.float64).reshape(-1)
            if scale.shape != lo.shape or not np.all(scale > 0) or not np.all(np.isfinite(scale)):
                raise ValidationError(f"scale: expected {lo.size} finite numbers > 0, one per coordinate")
            object.__setattr__(self, "scale", scale)
        if np.isnan(lo).any() or np.isnan(hi).any() or (lo == np.inf).any() or (hi == -np.inf).any():
            raise ValidationError("bounds: a lower bound must be < inf and an upper bound > -inf (no NaN)")
        bad = np.flatnonzero(~(lo <= hi))
        if bad.size:
            i = int(bad[0])
            raise ValidationError(f"bounds: coordinate {i} has lower {lo[i]:g} > upper {hi[i]:g} "
                                  f"(each lower bound must be at most its upper bound)")
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    @property
    def d(self) -> int:
        return self.lower.size

    @property
    def t_lower(self) -> np.ndarray:
        """The lower end of ``T``'s range ``(d,)``: ``l``, or ``l - 1/2`` for a searched integer coordinate."""
        return self.lower if self.integer is None else np.where(self.integer & self.free, self.lower - 0.5, self.lower)

    @property
    def t_upper(self) -> np.ndarray:
        """The upper end of ``T``'s range ``(d,)``: ``u``, or ``u + 1/2`` for a searched integer coordinate."""
        return self.upper if self.integer is None else np.where(self.integer & self.free, self.upper + 0.5, self.upper)

    @property
    def margin(self) -> np.ndarray:
        """``a (d,)``: ``w / 20`` with both bounds, ``(1 + |b|) / 20`` with one (inf with none)."""
        lo, hi = self.t_lower, self.t_upper
        with np.errstate(invalid="ignore"):
            both = (hi - lo) / 20.0
            one = (1.0 + np.where(np.isfinite(lo), np.abs(lo), np.abs(hi))) / 20.0
        return np.where(np.isfinite(lo) & np.isfinite(hi), both,
                        np.where(np.isfinite(lo) | np.isfinite(hi), one, np.inf))

    def identity_interval(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lo, hi)``, each ``(d,)``: where ``T`` is the identity, ``[t_lower + a, t_upper - a]`` for
        the argument ``scale * y`` (infinite ends where there is no bound)."""
        with np.errstate(invalid="ignore"):
            lo = np.where(np.isfinite(self.t_lower), self.t_lower + self.margin, -np.inf)
            hi = np.where(np.isfinite(self.t_upper), self.t_upper - self.margin, np.inf)
        return lo, hi

    @property
    def width(self) -> np.ndarray:
        """The width of ``T``'s range ``(d,)``: ``u - l`` (inf for an open coordinate; ``u - l + 1``
        for an integer one)."""
        return self.t_upper - self.t_lower

    @property
    def free(self) -> np.ndarray:
        """``(d,)`` bool: the coordinates with ``l < u``; the others are fixed (``l = u``)."""
        return self.lower < self.upper

    @property
    def n_free(self) -> int:
        return int(np.count_nonzero(self.free))

    def embed(self, Y) -> np.ndarray:
        """``Y (n_free,)`` or ``(n, n_free)``, values of the free coordinates, completed to ``d``
        coordinates with ``l`` in the fixed ones."""
        Y = np.asarray(Y, dtype=np.float64)
        free = self.free
        X = np.empty(Y.shape[:-1] + (self.d,))
        X[..., free] = Y
        X[..., ~free] = self.lower[~free]
        return X

    def to_box(self, Y) -> np.ndarray:
        """``T(y)`` for ``Y (d,)`` or ``(n, d)``: points in the box, the shape of ``Y``; for internal
        points of the free coordinates only, ``(n_free,)`` or ``(n, n_free)``, their ``d``-coordinate
        images (:meth:`embed`)."""
        Y = np.asarray(Y, dtype=np.float64)
        if Y.shape[-1] != self.d:
            if Y.shape[-1] != self.n_free:
                raise ValidationError(f"Y: {Y.shape[-1]} coordinates, the box has {self.d} ({self.n_free} free)")
            Y = self.embed(Y)
        if self.scale is not None:
            Y = Y * self.scale
        X = np.array(Y)
        lo, hi, a = self.t_lower, self.t_upper, self.margin
        fl, fh, fixed = np.isfinite(lo), np.isfinite(hi), lo == hi
        for cols, side in ((np.flatnonzero(fl & fh & ~fixed), "both"), (np.flatnonzero(fl & ~fh), "lower"),
                           (np.flatnonzero(~fl & fh), "upper")):
            if cols.size:
                X[..., cols] = _fold(Y[..., cols], lo[cols], hi[cols], a[cols], side)
        X[..., fixed] = lo[fixed]  # a fixed variable (lower = upper, as scipy allows)
        if self.integer is not None:  # the nearest integer; T's range ends half a unit past the last ones
            i = self.integer
            X[..., i] = np.clip(np.round(X[..., i]), self.lower[i], self.upper[i]) + 0.0  # + 0.0: no -0.0
        return X

    def to_internal(self, x) -> np.ndarray:
        """A preimage ``y`` of ``x (d,)`` in the box (the identity in the interior, divided by the
        scale if any): ``T(scale y) = x`` up to rounding."""
        x = np.asarray(x, dtype=np.float64)
        lo, hi, a = self.t_lower, self.t_upper, self.margin
        y = np.array(x)
        with np.errstate(invalid="ignore"):
            low = np.isfinite(lo) & (x < lo + a) & (lo < hi)
            high = np.isfinite(hi) & (x > hi - a) & (lo < hi)
            y = np.where(low, lo - a + 2.0 * np.sqrt(np.maximum(a * (x - lo), 0.0)), y)
            y = np.where(high, hi + a - 2.0 * np.sqrt(np.maximum(a * (hi - x), 0.0)), y)
        return y if self.scale is None else y / self.scale

    def start(self, x0) -> np.ndarray:
        """The internal starting point for ``x0 (d,)`` in the box: :meth:`to_internal` of ``x0``, with a
        coordinate ON a bound first moved a tenth of the margin inside. A point on a bound maps to
        the vertex of its boundary layer, where ``dT/dy = 0``: the smoothed objective would have a
        zero gradient in that coordinate at the start, whatever ``f``."""
        x0 = np.asarray(x0, dtype=np.float64)
        a, free, lo, hi = self.margin, self.free, self.t_lower, self.t_upper
        with np.errstate(invalid="ignore"):
            x0 = np.where(free & (x0 <= lo), lo + 0.1 * a, x0)
            x0 = np.where(free & (x0 >= hi), hi - 0.1 * a, x0)
        return self.to_internal(x0)

    def contains(self, X) -> bool:
        X = np.asarray(X, dtype=np.float64)
        return bool(np.all(X >= self.lower) and np.all(X <= self.upper))


def _fold(Y, lo, hi, a, side):
    """``T`` on the columns of one kind (``side``: ``"both"``, ``"lower"`` or ``"upper"``)."""
    if side == "both":  # reflect into [lo - a, hi + a]: even about lo - a, period P = 2 (hi - lo + 2 a)
        start, half = lo - a, hi - lo + 2.0 * a
        z = np.mod(Y - start, 2.0 * half)
        y = start + np.where(z > half, 2.0 * half - z, z)
    elif side == "lower":  # reflect about lo - a
        y = np.where(Y < lo - a, 2.0 * (lo - a) - Y, Y)
    else:  # reflect about hi + a
        y = np.where(Y > hi + a, 2.0 * (hi + a) - Y, Y)
    x = y
    if side != "upper":
        x = np.where(y < lo + a, lo + (y - (lo - a)) ** 2 / (4.0 * a), x)
    if side != "lower":
        x = np.where(y > hi - a, hi - (y - (hi + a)) ** 2 / (4.0 * a), x)
    return np.clip(x, lo, hi)  # the folded y is within [lo - a, hi + a] up to rounding: x exactly in the box


def as_box(bounds, d: int, scale=None, integer=None) -> Box | None:
    """``bounds`` as a :class:`Box` for ``d`` coordinates, or None; with ``scale (d,)`` or
    ``integer (d,)`` (bool), a box with that scale or those integer coordinates (module docstring),
    also without bounds.

    Accepted (scipy.optimize's conventions): None; a ``scipy.optimize.Bounds`` (``lb``, ``ub``
    scalars or ``(d,)``); a sequence of ``d`` pairs ``(lo, hi)`` with None for an open side; a
    :class:`Box`. A box with no finite bound at all and no scale is None (nothing to enforce).
    """
    if scale is not None or integer is not None:
        box = as_box(bounds, d) or Box(np.full(d, -np.inf), np.full(d, np.inf))
        return Box(box.lower, box.upper, scale=box.scale if scale is None else scale,
                   integer=box.integer if integer is None else integer)
    if bounds is None:
        return None
    if isinstance(bounds, Box):
        box = bounds
    elif hasattr(bounds, "lb") and hasattr(bounds, "ub"):  # scipy.optimize.Bounds
        lb, ub = np.asarray(bounds.lb, dtype=np.float64), np.asarray(bounds.ub, dtype=np.float64)
        if lb.size not in (1, d) or ub.size not in (1, d):
            raise ValidationError(f"bounds: Bounds with {lb.size} lower and {ub.size} upper bounds for x0 of {d} "
                                  f"coordinates (give 1 or {d} of each)")
        box = Box(np.broadcast_to(lb.reshape(-1), (d,)), np.broadcast_to(ub.reshape(-1), (d,)))
    else:
        try:
            if isinstance(bounds, (str, bytes)):  # iterable, but of characters
                raise TypeError
            pairs = [tuple(p) for p in bounds]
        except TypeError:
            raise ValidationError(f"bounds: expected a scipy.optimize.Bounds or a sequence of (lo, hi) pairs, "
                                  f"got {type(bounds).__name__}") from None
        if len(pairs) != d or any(len(p) != 2 for p in pairs):
            sizes = sorted({len(p) for p in pairs} - {2})
            raise ValidationError(f"bounds: expected {d} (lo, hi) pairs, one per coordinate of x0, got {len(pairs)}"
                                  + (f" sequences, of length {', '.join(map(str, sizes))} where 2 is needed"
                                     if sizes else ""))
        try:
            lo = [-np.inf if p[0] is None else float(p[0]) for p in pairs]
            hi = [np.inf if p[1] is None else float(p[1]) for p in pairs]
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"bounds: each bound must be a number or None ({exc})") from None
        box = Box(np.array(lo), np.array(hi))
    if box.d != d:
        raise ValidationError(f"bounds: {box.d} coordinates, x0 has {d}")
    if not (np.isfinite(box.lower).any() or np.isfinite(box.upper).any()) and box.scale is None and box.integer is None:
        return None
    return box


def default_sigma0(box: Box | None) -> float | np.ndarray:
    """``sigma0`` when none is given: a quarter of each coordinate's finite positive width ``u_i -
    l_i`` (pycma's advice: about a quarter of the search domain) and :data:`SIGMA0_UNBOUNDED` for a
    coordinate without one (as without bounds); one number when these agree to 1e-9, else one per
    coordinate (then, as for a ``sigma0`` array, the search and ``tolx`` run in units of each
    coordinate's ``sigma0``). One number for every coordinate would start a box of widths 1e-3 and
    20 at 2.5e-4 in both, and ``tolx`` could end the search before the wide coordinates moved."""
    if box is None:
        return SIGMA0_UNBOUNDED
    finite = np.isfinite(box.width) & (box.width > 0)
    stds = np.where(finite, 0.25 * box.width, SIGMA0_UNBOUNDED)
    free = stds[box.width > 0]  # a fixed coordinate's entry is not read
    if free.size == 0 or np.allclose(free, free[0], rtol=1e-9, atol=0.0):
        return float(free.min()) if free.size else SIGMA0_UNBOUNDED
    return stds
