"""``trustopt._validation.check_int`` / ``check_interval`` / ``check_real``: the shared boundary checks.

Each case is compared with the definition written out independently (an integer type that
is not ``bool``, within the bounds; ``lo <= x <= hi`` with the open ends strict)."""

import re

import numpy as np
import pytest

from trustopt._validation import (ValidationError, as_float_array, check_gamma, check_int, check_interval, check_real,
                                  did_you_mean)


@pytest.mark.parametrize("value", [0, 3, np.int64(7), np.int32(2), np.uint8(5)])
def test_check_int_accepts_python_and_numpy_integers(value):
    out = check_int(value, "n", 0)
    assert type(out) is int and out == int(value)


@pytest.mark.parametrize("value", [True, False, 1.0, np.float64(2.0), "3", None, np.array(3)])
def test_check_int_rejects_bools_floats_and_others(value):
    with pytest.raises(ValidationError, match=r"^n_things: expected an integer"):
        check_int(value, "n_things")


def test_check_int_bounds_are_inclusive_and_named():
    assert check_int(1, "k", 1) == 1
    assert check_int(5, "k", 1, maximum=5) == 5
    with pytest.raises(ValidationError, match=r"^k: expected an integer >= 1, got 0$"):
        check_int(0, "k", 1)
    with pytest.raises(ValidationError, match=r"^k: expected an integer in \[1, 5\], got 6$"):
        check_int(6, "k", 1, maximum=5)
    with pytest.raises(ValidationError, match=r"^k: expected an integer <= 5, got 6$"):
        check_int(6, "k", maximum=5)
    assert check_int(-10**30, "k") == -10**30  # no bound: any integer


@pytest.mark.parametrize("value", [-2.5, 0, 3, 0.5, np.float32(0.25), np.int64(4), 1e300])
@pytest.mark.parametrize("lo, hi, positive", [(None, None, False), (0, None, False), (None, None, True), (0, 1, False)])
def test_check_real_matches_definition(value, lo, hi, positive):
    inside = (lo is None or value >= lo) and (hi is None or value <= hi) and (not positive or value > 0)
    if inside:
        out = check_real(value, "x", lo=lo, hi=hi, positive=positive)
        assert type(out) is float and out == float(value)
    else:
        what = ("a number in [0, 1]" if hi is not None else "a finite number > 0" if positive
                else "a finite number >= 0")
        with pytest.raises(ValidationError, match=rf"^x: expected {re.escape(what)}, got"):
            check_real(value, "x", lo=lo, hi=hi, positive=positive)


@pytest.mark.parametrize("value", [True, np.bool_(False), float("nan"), float("inf"), -np.inf, "1", None, [1.0],
                                   np.array(1.0)])
def test_check_real_rejects_non_finite_bools_and_others(value):
    with pytest.raises(ValidationError, match=r"^target: expected a finite number, got"):
        check_real(value, "target")


@pytest.mark.parametrize("lo_open", [False, True])
@pytest.mark.parametrize("hi_open", [False, True])
@pytest.mark.parametrize("x", [-0.5, 0.0, 1e-300, 0.5, 1.0 - 2**-53, 1.0, 1.5])
def test_check_interval_matches_definition(x, lo_open, hi_open):
    inside = (0.0 < x if lo_open else 0.0 <= x) and (x < 1.0 if hi_open else x <= 1.0)
    if inside:
        out = check_interval(x, "p", 0.0, 1.0, lo_open=lo_open, hi_open=hi_open)
        assert type(out) is float and out == x
    else:
        interval = ("(" if lo_open else "[") + "0, 1" + (")" if hi_open else "]")
        with pytest.raises(ValidationError, match=rf"^p: must lie in \{interval[0]}0, 1\{interval[-1]}, got"):
            check_interval(x, "p", 0.0, 1.0, lo_open=lo_open, hi_open=hi_open)


def test_check_interval_arrays_and_non_finite():
    a = check_interval([0.0, 0.25, 1.0], "alpha", 0.0, 1.0)
    np.testing.assert_array_equal(a, [0.0, 0.25, 1.0])
    with pytest.raises(ValidationError, match=r"^alpha: must lie in \[0, 1\]"):
        check_interval([0.5, 1.25], "alpha", 0.0, 1.0)
    with pytest.raises(ValidationError, match=r"^alpha: must be finite, got nan"):
        check_interval(np.nan, "alpha", 0.0, 1.0)
    with pytest.raises(ValidationError, match=r"^alpha: contains a non-finite value at index \(1,\)"):
        check_interval([0.5, np.inf], "alpha", 0.0, 1.0)


def test_check_gamma_is_the_half_open_unit_interval():
    assert check_gamma(0.0) == 0.0
    with pytest.raises(ValidationError, match=r"^gamma: must lie in \[0, 1\)"):
        check_gamma(1.0)


def test_did_you_mean_names_the_closest_known_name_or_nothing():
    assert did_you_mean("sigmaa", ["lr", "sigma", "seed"]) == " (did you mean 'sigma'?)"
    assert did_you_mean("zzz", ["lr", "sigma"]) == ""
    assert did_you_mean("sed", ["seed", "sigma0"], cutoff=0.8) == " (did you mean 'seed'?)"
    assert did_you_mean("sig", ["sigma0"], cutoff=0.8) == ""  # ratio 2*3/9 = 0.67 < 0.8


@pytest.mark.parametrize("value", [None, "1", b"1", ["1", "2"], [1.0, None], np.array(["a"])])
def test_as_float_array_rejects_none_and_text(value):
    """NumPy reads None as NaN ('x0: must be finite, got nan' misled) and '1' as 1.0 (sigma0='1'
    passed silently): both are errors that say what was given."""
    with pytest.raises(ValidationError, match="^x0: expected a number or an array of numbers, got "):
        as_float_array(value, "x0")


@pytest.mark.parametrize("value", [1 + 2j, [1.0, 2j], np.array([1.0, 0.0], dtype=complex), np.zeros(0, complex)])
def test_as_float_array_rejects_complex_numbers(value):
    """NumPy drops the imaginary part with a ComplexWarning (sigma0=[1, 2j] then read as a zero
    entry): an error that says what was given, even when every imaginary part is 0."""
    with pytest.raises(ValidationError, match="^sigma0: expected real numbers, got complex ones"):
        as_float_array(value, "sigma0")
