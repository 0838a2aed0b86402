"""Input validation at the library's boundary.

Every public entry point checks its arguments once, here, and raises
:class:`ValidationError` (a :class:`ValueError`) naming the argument and what is
wrong with it. Kernels behind the boundary assume valid input.
"""

from __future__ import annotations

import numpy as np

#: Absolute tolerance on ``sum(row) - 1`` for a probability vector (rows of ``P``,
#: policies, start distributions). Entries must also be ``>= -PROBABILITY_TOLERANCE``.
#: An accepted row is cleaned once, at the boundary: round-off negatives are set to 0
#: and the row is divided by its sum, so that every later computation sees an exact
#: distribution (constraints such as ``TV <= delta`` are then met for the rows returned).
PROBABILITY_TOLERANCE = 1e-8


class ValidationError(ValueError):
    """Invalid input to a trustopt function; the message names the argument."""


def as_float_array(x, name: str, *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``x`` as a float64 array, finite, with the given number of dimensions."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name}: cannot be converted to a float array ({exc})") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise ValidationError(
                f"{name}: expected {' or '.join(map(str, allowed))} dimension(s), got shape {arr.shape}"
            )
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValidationError(f"{name}: contains a non-finite value at index {tuple(int(i) for i in bad)}")
    return arr


def check_distribution(arr: np.ndarray, name: str, *, what: str = "row") -> np.ndarray:
    """Check that the last axis of ``arr`` holds probability vectors.

    Entries must be ``>= -PROBABILITY_TOLERANCE`` and each vector must sum to 1
    within ``PROBABILITY_TOLERANCE``. Returns a copy with round-off negatives set to 0,
    each vector whose sum is off 1 by more than round-off divided by its sum.
    """
    if arr.shape[-1] == 0:
        raise ValidationError(f"{name}: empty distribution (last axis has length 0)")
    if np.any(arr < -PROBABILITY_TOLERANCE):
        bad = np.argwhere(arr < -PROBABILITY_TOLERANCE)[0]
        raise ValidationError(
            f"{name}: negative probability {arr[tuple(bad)]:.3g} at index {tuple(int(i) for i in bad)}"
        )
    sums = arr.sum(axis=-1)
    err = np.abs(sums - 1.0)
    if np.any(err > PROBABILITY_TOLERANCE):
        bad = np.unravel_index(int(np.argmax(err)), err.shape)
        where = f" at {what} {tuple(int(i) for i in bad)}" if err.ndim else ""
        raise ValidationError(
            f"{name}: probabilities must sum to 1 (tolerance {PROBABILITY_TOLERANCE:g}); "
            f"sum is {float(sums[bad]):.12g}{where}"
        )
    arr = np.clip(arr, 0.0, None)
    sums = arr.sum(axis=-1, keepdims=True)
    # rows already exact to round-off are left bit-for-bit alone (idempotent validation)
    off = np.abs(sums - 1.0) > 8 * np.finfo(np.float64).eps
    return np.where(off, arr / sums, arr)


def check_gamma(gamma, name: str = "gamma"):
    """A discount factor in [0, 1): a float, or an array of them (one per batched MDP)."""
    g = as_float_array(gamma, name)
    if np.any(g < 0.0) or np.any(g >= 1.0):
        raise ValidationError(f"{name}: must lie in [0, 1), got {gamma!r}")
    return float(g) if g.ndim == 0 else g


def check_positive(value, name: str) -> float:
    """A finite scalar > 0 (a radius, a penalty coefficient, a step size)."""
    v = as_float_array(value, name, ndim=0)
    if not v > 0.0:
        raise ValidationError(f"{name}: must be > 0, got {float(v)!r}")
    return float(v)


def check_nonnegative(value, name: str) -> float:
    v = as_float_array(value, name, ndim=0)
    if not v >= 0.0:
        raise ValidationError(f"{name}: must be >= 0, got {float(v)!r}")
    return float(v)


def readonly(arr: np.ndarray) -> np.ndarray:
    """Mark an array read-only (results are immutable)."""
    arr = np.asarray(arr)
    arr.setflags(write=False)
    return arr
