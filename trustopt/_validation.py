"""Input validation at the library's boundary.

Every public entry point checks its arguments once, here, and raises
:class:`ValidationError` (a :class:`ValueError`) naming the argument and what is
wrong with it. Kernels behind the boundary assume valid input.
"""

from __future__ import annotations

import difflib
import inspect
import math

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
    """``x`` as a float64 array, finite, with the given number of dimensions. ``None`` and text are
    errors (NumPy would read them as NaN and as the number the text spells), and so are complex
    numbers (NumPy would drop their imaginary parts with a warning)."""
    kind = np.asarray(x).dtype.kind
    if kind in "USO" and any(  # text, None, or an object array holding them
            v is None or isinstance(v, (str, bytes)) for v in np.asarray(x, dtype=object).reshape(-1)):
        raise ValidationError(" ".join(f"{name}: expected a number or an array of numbers, got {x!r}".split())[:200])
    if kind == "c":
        z = np.asarray(x).reshape(-1)
        example = f" (e.g. {complex(z[np.flatnonzero(z.imag)[0]] if np.any(z.imag) else z[0])})" if z.size else ""
        raise ValidationError(f"{name}: expected real numbers, got complex ones{example}")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name}: cannot be converted to a float array ({exc})") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            if allowed == (0,):
                raise ValidationError(f"{name}: expected a number, got an array of shape {arr.shape}")
            raise ValidationError(
                f"{name}: expected {' or '.join(map(str, allowed))} dimension(s), got shape {arr.shape}"
            )
    if not np.all(np.isfinite(arr)):
        if arr.ndim == 0:
            raise ValidationError(f"{name}: must be finite, got {float(arr)!r}")
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


def check_int(value, name: str, minimum: int | None = None, *, maximum: int | None = None) -> int:
    """An integer (Python ``int`` or NumPy integer; not ``bool``, not a float) with
    ``minimum <= value <= maximum`` (either bound optional), returned as ``int``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        raise ValidationError(f"{name}: expected an integer{_int_range(minimum, maximum)}, got {value!r}")
    return int(value)


def _int_range(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def as_count(value):
    """An integral float (a count written ``1e4``, as scientific notation and JSON give it) as the
    int it holds, up to 2^53, where floats still hold every integer; any other value unchanged,
    for :func:`check_int` to judge."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer() and abs(value) <= 2.0**53:
        return int(value)
    return value


def check_count(value, name: str, minimum: int = 1) -> int:
    """A budget-like count: :func:`check_int`, also given as an integral float (``maxfev=1e4``)."""
    return check_int(as_count(value), name, minimum)


def check_interval(value, name: str, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False):
    """A finite number in the interval from ``lo`` to ``hi`` (closed ends unless
    ``lo_open`` / ``hi_open``): a float, or an array whose every entry lies there."""
    v = as_float_array(value, name)
    below = v <= lo if lo_open else v < lo
    above = v >= hi if hi_open else v > hi
    if np.any(below) or np.any(above):
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise ValidationError(f"{name}: must lie in {interval}, got {value!r}")
    return float(v) if v.ndim == 0 else v


def check_gamma(gamma, name: str = "gamma"):
    """A discount factor in [0, 1): a float, or an array of them (one per batched MDP)."""
    return check_interval(gamma, name, 0.0, 1.0, hi_open=True)


def check_positive(value, name: str) -> float:
    """A finite scalar > 0 (a radius, a penalty coefficient, a step size; not True/False)."""
    if isinstance(value, (bool, np.bool_)):
        raise ValidationError(f"{name}: expected a number > 0, got {value!r}")
    v = as_float_array(value, name, ndim=0)
    if not v > 0.0:
        raise ValidationError(f"{name}: must be > 0, got {float(v)!r}")
    return float(v)


def check_real(value, name: str, *, lo: float | None = None, hi: float | None = None,
               positive: bool = False) -> float:
    """A finite real number, as a setting read from JSON or a command line gives it: a Python or
    NumPy int or float (not ``True``/``False``, not an array), with ``lo <= value <= hi`` (either
    bound optional) and ``value > 0`` when ``positive``; returned as ``float``."""
    try:
        ok = (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
              and math.isfinite(value) and (lo is None or value >= lo) and (hi is None or value <= hi)
              and (not positive or value > 0))
    except OverflowError:  # an int beyond any float (10**400)
        ok = False
    if not ok:
        if lo is not None and hi is not None:
            what = f"a number in [{lo:g}, {hi:g}]"
        else:
            what = "a finite number" + (" > 0" if positive else f" >= {lo:g}" if lo is not None
                                        else f" <= {hi:g}" if hi is not None else "")
        raise ValidationError(f"{name}: expected {what}, got {value!r}")
    return float(value)


def check_nonnegative(value, name: str) -> float:
    """A scalar >= 0 (a damping term, a tolerance whose 0 turns its test off; not True/False)."""
    if isinstance(value, (bool, np.bool_)):
        raise ValidationError(f"{name}: expected a number >= 0, got {value!r}")
    v = as_float_array(value, name, ndim=0)
    if not v >= 0.0:
        raise ValidationError(f"{name}: must be >= 0, got {float(v)!r}")
    return float(v)


def readonly(arr: np.ndarray) -> np.ndarray:
    """Mark an array read-only (results are immutable)."""
    arr = np.asarray(arr)
    arr.setflags(write=False)
    return arr


def check_bool(value, name: str) -> bool:
    """``True`` or ``False`` (also ``np.bool_``), returned as ``bool``; anything else (1, "yes") is an error."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValidationError(f"{name}: must be True or False, got {value!r}")
    return bool(value)


def did_you_mean(key, known, *, cutoff: float = 0.6, ignore: str = "") -> str:
    """`` (did you mean 'k'?)`` with the known name closest to a misspelt ``key`` (difflib ratio
    >= ``cutoff``), or ``""`` when none is close: the hint every unknown-name error ends with.
    ``ignore``: leading characters the names share (a flag's ``--``), left out of the comparison,
    where they would make any two names look alike."""
    names = {str(k).lstrip(ignore): str(k) for k in known}
    close = difflib.get_close_matches(str(key).lstrip(ignore), list(names), n=1, cutoff=cutoff)
    return f" (did you mean {names[close[0]]!r}?)" if close else ""


#: What ``noise`` means here, for the messages that refuse ``noise=True`` or a misspelt ``noise_handling``:
#: pycma's users reach for those names to handle a noisy objective (README "Noisy objectives").
NOISE_IS_A_TABLE = ("noise is the NoiseTable the ES perturbations are read from; pycma's noise handling is "
                    "noise_handling=True here (method 'trust-region-cma'; README 'Noisy objectives')")


def pycma_hint(key) -> str:
    """What an unknown option of pycma's is here: ``"; " + NOISE_IS_A_TABLE`` for a name that asks for
    noise handling (``noise_handling``, ``noise_handler``, ``uncertainty_handling``, ...), ``maxfev``
    for ``maxfevals``, the bounds for ``fixed_variables``, ``sigma0`` for ``CMA_stds``, ``integrality`` for ``integer_variables``, else
    ``""``."""
    k = str(key).lower()
    if k == "fixed_variables":
        return ("; pycma's fixed_variables={i: v} are bounds here: bounds=[..., (v, v), ...] (lower = upper) "
                "takes coordinate i out of the search")
    if k in ("cma_stds", "scaling_of_variables"):
        return "; pycma's sigma0 * CMA_stds is sigma0 here, an array with one standard deviation per coordinate"
    if k == "maxfevals":
        return "; pycma's maxfevals is maxfev here, a keyword argument (maxfev=...), not an option"
    if k == "integer_variables":
        return "; pycma's integer_variables=[i, ...] is integrality=[True at each i, False elsewhere] here"
    return f"; {NOISE_IS_A_TABLE}" if ("noise" in k or "uncertainty" in k) and k not in ("noise", "noise_handling") \
        else ""


def own_hyperparameters(factory) -> tuple[str, ...]:
    """The keyword-only arguments of ``factory`` other than ``exact`` (not its ``**`` catch-all): the
    names a misspelt keyword is matched against; none without a factory."""
    if factory is None:
        return ()
    params = inspect.signature(factory).parameters.values()
    return tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "exact")


def check_choice(value, name: str, choices: tuple) -> str:
    """One of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(f"{name}: must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value
