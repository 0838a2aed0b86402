"""trustopt.minimize as a scipy.optimize user expects it: args, defaults, seeds, callbacks, errors of
the objective, box bounds (no point outside; optima on the boundary), verbosity, a log and its plot."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
from scipy.optimize import Bounds, OptimizeResult
from scipy.stats import special_ortho_group

from trustopt import ValidationError
from trustopt.asktell import ARS, ES, TRES, BoundsWarning, TrustRegionCMA, TrustRegionES
from trustopt.bounds import Box, as_box
from trustopt.optimize import (HISTORY_COLUMNS, MAXFEV_PER_DIM, EvaluationWarning, MinimizeOptions, default_sigma0,
                               minimize, plot_minimize)


def shifted_sphere(x, c):
    return float(np.sum((x - c) ** 2))


def sphere(x):
    return float(np.dot(x, x))


# ------------------------------------------------------------------------------------ the call


def test_args_are_passed_as_scipy_passes_them():
    c = np.array([0.5, -1.0, 2.0])
    kw = dict(sigma0=0.5, maxfev=600, seed=1)
    r = minimize(shifted_sphere, np.zeros(3), (c,), **kw)  # scipy's positional args
    ref = minimize(lambda x: shifted_sphere(x, c), np.zeros(3), **kw)
    assert np.array_equal(r.x, ref.x) and r.nfev == ref.nfev
    assert np.allclose(r.x, c, atol=1e-3)
    r2 = minimize(lambda x, a: float(np.sum((x - a) ** 2)), np.zeros(3), 1.5, **kw)  # a non-tuple: (args,)
    assert np.allclose(r2.x, 1.5, atol=1e-3)
    r3 = minimize(shifted_sphere, np.zeros(3), (c,), "tres", **kw)  # method is the fourth positional
    assert r3.method == "tres"


def test_defaults_for_sigma0_maxfev_and_seed():
    assert default_sigma0(None) == 1.0
    assert default_sigma0(as_box([(0, 8), (-1, 1), (-3, 5)], 3)) == pytest.approx([2.0, 0.5, 2.0])  # a quarter each
    assert default_sigma0(as_box([(0, 2), (-1, 1), (2, 2)], 3)) == 0.5  # equal widths: one number (a fixed one unread)
    assert default_sigma0(as_box([(0, 0.3), (0.1, 0.4)], 2)) == 0.075  # widths equal up to rounding
    assert default_sigma0(as_box([(0, 8), (-1, 1), (None, 3)], 3)) == pytest.approx([2.0, 0.5, 1.0])  # open: 1


def test_the_default_sigma0_is_per_coordinate_on_unequal_widths():
    """One number, a quarter of the narrowest width, started a box of widths 1e-12 and 2 at 2.5e-13
    in both coordinates: tolx fired after one batch with the wide coordinate unmoved and called it
    converged (f = 18 against 13 at the optimum on the bound)."""
    res = minimize(lambda x: float(np.sum((x - 3) ** 2)), np.zeros(2), bounds=[(0, 1e-12), (-1, 1)], seed=0)
    assert res.x[1] == pytest.approx(1.0, abs=1e-6) and res.fun == pytest.approx(13.0, abs=1e-5)
    res = minimize(lambda x: float(np.sum((x - 3) ** 2)), np.zeros(2), bounds=[(0, 1e-12), (None, 5)], seed=0)
    assert res.x[1] == pytest.approx(3.0, abs=1e-5) and res.fun == pytest.approx(9.0, abs=1e-5)
    def noisy(x, rng):  # noise the run cannot reduce: nothing but the budget stops it
        return sphere(x) + rng.random()

    never = {"tolx": 1e-300, "tolfun": 1e-300}  # the trust-region ES has no other stopping test
    r = minimize(noisy, np.ones(2), (np.random.default_rng(0),), "trust-region-es", options=never)
    assert r.status == 1 and MAXFEV_PER_DIM * 2 - r.popsize < r.nfev <= MAXFEV_PER_DIM * 2
    assert isinstance(r.seed, int) and r.seed >= 0  # fresh entropy, recorded
    again = minimize(noisy, np.ones(2), (np.random.default_rng(0),), "trust-region-es", seed=r.seed, options=never)
    assert np.array_equal(again.x, r.x) and again.fun == r.fun  # the recorded seed repeats the run
    g = minimize(sphere, np.ones(2), seed=np.random.default_rng(5), maxfev=1e3)  # a Generator; maxfev=1e3 is 1000
    assert g.nfev <= 1000 and g.seed == int(np.random.default_rng(5).integers(0, 2**63 - 1))
    legacy = minimize(sphere, np.ones(2), seed=np.random.RandomState(5), maxfev=1e3)  # scipy takes it too
    assert legacy.seed == int(np.random.RandomState(5).randint(0, 2**63 - 1, dtype=np.int64))
    assert minimize(sphere, np.ones(2), seed=legacy.seed, maxfev=1e3).fun == legacy.fun
    for bad, match in ((1.5, "maxfev"), (0, "maxfev"), (-float("inf"), "maxfev"), (float("nan"), "maxfev")):
        with pytest.raises(ValidationError, match=match):
            minimize(sphere, np.ones(2), maxfev=bad)
    with pytest.raises(ValidationError, match="seed"):
        minimize(sphere, np.ones(2), seed=-1)
    # scipy >= 1.15 names it rng (SPEC 7): the same run as seed=
    assert minimize(sphere, np.ones(2), rng=legacy.seed, maxfev=1e3).fun == legacy.fun
    assert minimize(sphere, np.ones(2), rng=np.random.default_rng(5), maxfev=1e3).seed == g.seed
    with pytest.raises(ValidationError, match="rng: give seed or rng"):
        minimize(sphere, np.ones(2), seed=1, rng=1)


@pytest.mark.parametrize("cls", [TrustRegionCMA, TrustRegionES, ES, TRES, ARS])
def test_pycmas_loop_ends_on_an_objective_unbounded_below(cls):
    """``while not opt.stop()`` ends on ``sum(x)`` (where only TrustRegionCMA's ``tolupsigma``
    would): the ask/tell classes default to minimize's budget, 10_000 d evaluations (``maxfev=None``,
    as in minimize); ``maxfev=math.inf`` removes it."""
    d = 2
    opt = cls(np.zeros(d), 0.5, seed=1)
    assert opt.maxfev == cls(np.zeros(d), 0.5, maxfev=None).maxfev == MAXFEV_PER_DIM * d
    while not opt.stop():
        X = opt.ask()
        opt.tell(X, [float(np.sum(x)) for x in X])
    assert opt.nfev <= MAXFEV_PER_DIM * d and ("maxfev" in opt.stop() or "tolupsigma" in opt.stop())
    unlimited = cls(np.zeros(d), 0.5, seed=1, maxfev=math.inf)
    assert unlimited.maxfev == math.inf
    while unlimited.nfev <= MAXFEV_PER_DIM * d and "tolupsigma" not in unlimited.stop():
        assert "maxfev" not in unlimited.stop()
        X = unlimited.ask()
        unlimited.tell(X, [float(np.sum(x)) for x in X])


def test_minimize_takes_no_budget_as_pycmas_default_maxfevals():
    """minimize(maxfev=math.inf), pycma's default maxfevals: the runs end on their stopping tests,
    the same runs as with a budget that does not bind; a budget that binds stops them earlier."""
    def rastrigin(x):
        return float(10 * len(x) + np.sum(x * x - 10 * np.cos(2 * np.pi * x)))

    kw = dict(sigma0=2.0, seed=0, options={"restarts": 2})
    free, ample, tight = (minimize(rastrigin, np.full(2, 3.0), maxfev=m, **kw) for m in (math.inf, 10**6, 300))
    assert free.nfev == ample.nfev and np.array_equal(free.x, ample.x) and "maxfev" not in free.message
    assert tight.nfev <= 300 < free.nfev and "maxfev" in tight.message


def test_callback_forms_and_stops():
    """``callback(intermediate_result)`` gets an OptimizeResult, ``callback(xk)`` the best point; a
    truthy return or StopIteration stops the run (status 2)."""
    seen = []

    def new_style(intermediate_result):
        seen.append(intermediate_result)

    minimize(sphere, np.ones(3), sigma0=0.3, maxfev=300, seed=0, callback=new_style)
    assert seen and all(isinstance(r, OptimizeResult) for r in seen)
    assert [r.nfev for r in seen] == sorted(r.nfev for r in seen)

    xs = []
    r = minimize(sphere, np.ones(3), sigma0=0.3, maxfev=3000, seed=0, callback=lambda xk: xs.append(xk) or len(xs) >= 4)
    assert len(xs) == 4 and all(isinstance(x, np.ndarray) and x.shape == (3,) for x in xs)
    assert r.status == 2 and not r.success and "callback" in r.message
    assert np.array_equal(xs[-1], r.x)  # the legacy form gets the best point so far

    def stop(intermediate_result):
        if intermediate_result.nfev > 100:
            raise StopIteration

    r = minimize(sphere, np.ones(3), sigma0=0.3, maxfev=3000, seed=0, callback=stop)
    assert r.status == 2 and 100 < r.nfev < 200
    with pytest.raises(ValidationError, match="callback"):
        minimize(sphere, np.ones(3), callback=3)


# ------------------------------------------------------------------------------------ errors of fun


def test_an_exception_of_fun_propagates_by_default():
    def f(x):
        if x[0] > 1.2:
            raise TypeError("bad input to my simulator")
        return sphere(x)

    with pytest.raises(TypeError, match="bad input to my simulator"):
        minimize(f, np.ones(3), sigma0=0.5, maxfev=500, seed=0)
    with pytest.raises(TypeError, match="bad input to my simulator"):
        minimize(f, np.ones(3), sigma0=0.5, maxfev=500, seed=0, workers=2)  # raised in a worker, same error
    with pytest.warns(EvaluationWarning, match="TypeError: bad input to my simulator"):
        r = minimize(f, np.ones(3), sigma0=0.5, maxfev=500, seed=0, options={"on_error": "impute"})
    assert r.n_exceptions > 0 and r.n_nonfinite == 0 and r.first_exception == "TypeError: bad input to my simulator"
    with pytest.raises(ValidationError, match="on_error"):
        minimize(f, np.ones(3), options={"on_error": "ignore"})


def test_values_as_size_one_arrays_are_scalars_and_other_shapes_are_an_error():
    a = minimize(lambda x: np.array([sphere(x)]), np.ones(3), sigma0=0.3, maxfev=300, seed=0)
    b = minimize(sphere, np.ones(3), sigma0=0.3, maxfev=300, seed=0)
    assert a.fun == b.fun and a.n_exceptions == 0
    with pytest.raises(TypeError, match=r"fun must return a real number .*; it returned an array of shape \(2,\)"):
        minimize(lambda x: np.array([1.0, 2.0]), np.ones(3), sigma0=0.3, maxfev=300, seed=0)


# ------------------------------------------------------------------------------------ bounds


def test_the_box_map_is_onto_continuous_and_inverted_in_the_box():
    box = Box(np.array([-5.0, 0.0, -np.inf]), np.array([5.0, np.inf, 3.0]))
    y = np.linspace(-60, 60, 120_001)
    X = box.to_box(np.stack([y, y, y], axis=1))
    assert box.contains(X)
    for i in range(3):  # onto: the bounds themselves are reached; continuous: no jump larger than the grid step
        lo, hi = max(box.lower[i], -60.0), min(box.upper[i], 60.0)
        assert X[:, i].min() <= lo + 1e-9 and X[:, i].max() >= hi - 1e-3
        assert np.abs(np.diff(X[:, i])).max() <= 1.0001 * (y[1] - y[0])
    rng = np.random.default_rng(0)
    for _ in range(200):
        x = np.array([rng.uniform(-5, 5), rng.exponential(2.0), 3.0 - rng.exponential(2.0)])
        assert np.allclose(box.to_box(box.to_internal(x)), x, rtol=0, atol=1e-12)
    assert np.array_equal(box.to_internal(np.array([1.0, 2.0, 0.0])), [1.0, 2.0, 0.0])  # identity inside


def test_bad_bounds_are_one_line_errors():
    for bounds, match in (([(0, 1)], "expected 3 \\(lo, hi\\) pairs"), ([(1, 0)] * 3, "coordinate 0 has lower 1"),
                          ([(0, "a")] * 3, "number or None"), (5, "Bounds or a sequence"),
                          ("abc", "Bounds or a sequence of \\(lo, hi\\) pairs, got str"),
                          ([(0, 1, 2)] * 3, "got 3 sequences, of length 3 where 2 is needed"),
                          (Bounds([0, 0], [1, 1]), "Bounds with 2 lower and 2 upper bounds for x0 of 3")):
        with pytest.raises(ValidationError, match=match):
            minimize(sphere, np.full(3, 0.5), bounds=bounds, maxfev=100, seed=0)


@pytest.mark.parametrize("method", ["trust-region-es", "es", "ars", "tres"])
def test_no_point_outside_the_box_and_a_corner_optimum_is_reached(method):
    lo, hi = -1.0, 2.0
    c = np.array([3.0, -4.0, 0.5, 2.0])  # the constrained optimum: (2, -1, 0.5, 2), two coordinates on the bounds
    seen = []

    def f(x):
        seen.append(np.array(x))
        return shifted_sphere(x, c)

    r = minimize(f, np.zeros(4), method=method, bounds=Bounds(lo, hi), maxfev=6000, seed=2)
    P = np.array(seen)
    assert P.min() >= lo and P.max() <= hi  # every evaluated point
    expected = np.clip(c, lo, hi)
    assert np.abs(r.x - expected).max() < (1e-4 if method == "trust-region-es" else 2e-2)
    assert np.all((r.xmean >= lo) & (r.xmean <= hi))


def test_x0_outside_is_clipped_with_a_warning():
    with pytest.warns(BoundsWarning, match="clipped"):
        r = minimize(sphere, np.array([3.0, -0.5]), bounds=[(0.5, 2.0), (None, None)], maxfev=400, seed=0)
    assert r.x[0] >= 0.5 and abs(r.x[0] - 0.5) < 1e-6 and abs(r.x[1]) < 1e-3


def test_a_restart_point_outside_the_box_is_clipped_with_a_warning_at_the_callers_line():
    import trustopt

    assert trustopt.BoundsWarning is BoundsWarning  # filterable without knowing the submodule
    starts = []

    def fun(x):
        starts.append(np.array(x))
        return sphere(x)

    with pytest.warns(BoundsWarning, match=r"restart_x0\(rng\) is outside the bounds: restart_x0\(rng\)\[1\] = 5, "
                                           r"bounded by \[-1, 1\]; clipped into the box") as seen:
        r = minimize(fun, np.zeros(2), bounds=[(-1, 1)] * 2, maxfev=3000, seed=0,
                     options={"restarts": 1, "restart_x0": lambda rng: np.array([0.5, 5.0])})
    assert r.n_restarts >= 1 and all(w.filename == __file__ for w in seen)
    assert np.abs(np.array(starts)).max() <= 1


def test_sigma0_wider_than_the_box_warns_once_and_a_fitting_one_is_silent():
    box = [(0.0, 1.0), (0.0, 4.0), (None, None)]
    with pytest.warns(BoundsWarning, match=r"sigma0 = 100 exceeds the width 1 of the bounds in coordinate 0.*width, 0.25") as seen:
        minimize(sphere, np.ones(3), sigma0=100, bounds=box, maxfev=600, seed=0, options={"restarts": 2})
    assert len([w for w in seen if issubclass(w.category, BoundsWarning)]) == 1  # not again at each restart
    with pytest.warns(BoundsWarning, match="sigma0 = 2 exceeds the width 1"):
        TRES(np.ones(3), 2.0, bounds=box, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundsWarning)
        minimize(sphere, np.ones(3), sigma0=1.0, bounds=box, maxfev=200, seed=0)  # the narrowest width: fine
        TrustRegionES(np.ones(3), 5.0, seed=0)  # no bounds, no width


def test_scipys_tol_disp_and_maxfev_spellings(capsys):
    loose = minimize(sphere, np.ones(3), seed=0, tol=1e-6)
    assert loose.success and "tolfun = 1e-06" in loose.message
    assert loose.nfev < minimize(sphere, np.ones(3), seed=0).nfev
    # a dict naming tolfun keeps it; tol still sets tolx
    same = minimize(sphere, np.ones(3), seed=0, tol=1e-6, options={"tolfun": 1e-11})
    assert same.nfev == minimize(sphere, np.ones(3), seed=0, options={"tolfun": 1e-11, "tolx": 1e-6}).nfev
    r = minimize(sphere, np.ones(3), seed=0, options={"maxfev": 100, "disp": True})
    assert r.nfev <= 100 and r.status == 1 and "nfev" in capsys.readouterr().out
    r = minimize(sphere, np.ones(3), seed=0, options={"disp": 1})  # scipy's truthy int; pycma's every 100 batches
    out = capsys.readouterr().out.splitlines()
    batches = len(r.history["nfev"])
    assert r.success and batches > 100 and len(out) == 1 + ((batches - 1) // 100 + 1) + 1  # header, rows, message
    with pytest.raises(ValidationError, match="^maxfev: given both"):
        minimize(sphere, np.ones(3), seed=0, maxfev=50, options={"maxfev": 100})
    with pytest.raises(ValidationError, match="^options: give 'disp'"):
        minimize(sphere, np.ones(3), seed=0, options={"disp": True, "verbose": 2})
    with pytest.raises(ValidationError, match="^tol: must be >= 0"):
        minimize(sphere, np.ones(3), seed=0, tol=-1e-9)


def test_tol_0_turns_tolx_and_tolfun_off():
    """scipy's and pycma's meaning of a zero tolerance: the run goes on where the default stops on tolfun."""
    default = minimize(sphere, np.ones(3), sigma0=0.3, seed=0, maxfev=3000)
    assert default.status == 0 and "tolfun:" in default.message and default.nfev < 3000
    for kw in (dict(tol=0), dict(options={"tolx": 0, "tolfun": 0})):
        r = minimize(sphere, np.ones(3), sigma0=0.3, seed=0, maxfev=3000, **kw)
        assert "tolfun:" not in r.message and "tolx:" not in r.message and r.nfev > default.nfev, r.message


def test_sigma0_of_the_wrong_kind_is_named():
    for bad, message in ((float("nan"), "sigma0: must be finite, got nan"), (True, "sigma0: expected a number > 0"),
                         ([1.0, 2.0], "sigma0: 2 standard deviations for x0 of 3 coordinates"),
                         ([1.0, 0.0, 3.0], r"sigma0: every standard deviation must be finite and > 0, got "
                                           r"sigma0\[1\] = 0.0"),
                         ([[1.0], [1.0, 2.0]], "sigma0: expected a number or one number per coordinate"),
                         ([[1.0, 2.0, 3.0]], r"sigma0: expected 1 dimension\(s\), got shape \(1, 3\)")):
        with pytest.raises(ValidationError, match=f"^{message}"):
            minimize(sphere, np.ones(3), sigma0=bad, seed=0)


def test_bounded_runs_are_the_same_on_workers():
    kw = dict(bounds=[(-1, 1)] * 5, sigma0=0.4, maxfev=800, seed=4)
    c = np.full(5, 2.0)
    for method in ("tres", None):  # indices travel (the box applied in the worker) / rows travel
        r1 = minimize(shifted_sphere, np.zeros(5), (c,), method, workers=1, **kw)
        r2 = minimize(shifted_sphere, np.zeros(5), (c,), method, workers=2, **kw)
        assert np.array_equal(r1.x, r2.x) and r1.fun == r2.fun and r1.nfev == r2.nfev
    r3 = minimize(shifted_sphere, np.zeros(5), (c,), None, workers=-1, **kw)  # scipy's "one per CPU"
    assert np.array_equal(r1.x, r3.x) and r1.nfev == r3.nfev
    with pytest.raises(ValidationError, match="workers"):
        minimize(shifted_sphere, np.zeros(5), (c,), None, workers=-2, **kw)


@pytest.mark.parametrize("cls", [ES, ARS, TRES, TrustRegionES])
def test_ask_tell_with_bounds_asks_inside_and_takes_repaired_points(cls):
    opt = cls(np.zeros(3), 0.8, seed=0, bounds=[(0, 1), (-1, 0), (None, 0.25)])
    for _ in range(30):
        X = opt.ask()
        assert np.all(X[:, 0] >= 0) and np.all(X[:, 0] <= 1) and np.all(X[:, 1] <= 0) and np.all(X[:, 2] <= 0.25)
        repaired = np.round(X, 2)  # a user's repair (rounding) that stays in the box
        repaired = np.clip(repaired, [0, -1, -np.inf], [1, 0, 0.25])
        opt.tell(repaired, [float(np.sum((x - 0.1) ** 2)) for x in repaired], repaired=True)
    X = opt.ask()
    with pytest.raises(ValidationError, match=r"repaired points must be inside the bounds; X\[0, 0\] = .* is outside \[0, 1\]"):
        opt.tell(X + 10.0, np.zeros(len(X)), repaired=True)
    with pytest.raises(ValidationError, match="pass repaired=True"):
        opt.tell(X[::-1], np.zeros(len(X)))  # rows in another order are not the asked points


# ------------------------------------------------------------------------------------ BBOB with the optimum in a corner


def _tosz(z):
    """BBOB's oscillation transform T_osz (Hansen et al. 2009, "Real-parameter black-box optimization
    benchmarking 2009: noiseless functions definitions", sec. 0.2)."""
    xh = np.where(z != 0, np.log(np.abs(z) + (z == 0)), 0.0)
    c1, c2 = np.where(z > 0, 10.0, 5.5), np.where(z > 0, 7.9, 3.1)
    return np.sign(z) * np.exp(xh + 0.049 * (np.sin(c1 * xh) + np.sin(c2 * xh)))


D = 10
CORNER = np.full(D, 5.0)  # the optimum x_opt at a corner of [-5, 5]^d
ROT = special_ortho_group.rvs(D, random_state=1)
BBOB_CORNER = {  # f - f_opt for BBOB f1 (sphere), f8 (Rosenbrock), f10 (rotated ellipsoid, condition 1e6)
    "f1": lambda x: float(np.sum((x - CORNER) ** 2)),
    "f8": lambda x: (lambda z: float(np.sum(100 * (z[:-1] ** 2 - z[1:]) ** 2 + (z[:-1] - 1) ** 2)))(
        max(1.0, math.sqrt(D) / 8) * (x - CORNER) + 1),
    "f10": lambda x: float(np.sum(10 ** (6 * np.arange(D) / (D - 1)) * _tosz(ROT @ (x - CORNER)) ** 2)),
}


@pytest.mark.parametrize("name", sorted(BBOB_CORNER))
def test_unimodal_bbob_functions_with_the_optimum_in_a_corner_reach_1e_8(name):
    outside = []

    def f(x):
        if np.any(np.abs(x) > 5.0):
            outside.append(x)
        return BBOB_CORNER[name](x)

    r = minimize(f, np.zeros(D), bounds=[(-5, 5)] * D, seed=0, options={"ftarget": 1e-8})
    assert not outside and r.success and r.fun <= 1e-8 and r.nfev <= 1e4 * D


# ------------------------------------------------------------------------------------ verbosity, log, plot


def test_verbose_prints_a_line_per_batch_and_the_message(capsys):
    r = minimize(sphere, np.ones(3), sigma0=0.3, maxfev=200, seed=0, options={"verbose": 1})
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["nfev", "nit", "restart", "f_best", "f_median", "sigma", "radius", "ratio", "kl"]
    rows = [line for line in out if line.strip() and line.split()[0].isdigit()]
    assert len(rows) == len(r.history["nfev"]) and out[-1] == r.message
    capsys.readouterr()
    minimize(sphere, np.ones(3), sigma0=0.3, maxfev=200, seed=0)
    assert capsys.readouterr().out == ""  # silent by default


def test_the_default_methods_history_has_the_kl_of_each_step_under_its_radius(tmp_path):
    """trust-region-cma has no ratio test: its history carries the KL of each step (all finite,
    positive and under the radius) and its plot draws them instead of the ratio."""
    r = minimize(sphere, np.ones(4), sigma0=0.3, maxfev=600, seed=0)
    h = r.history
    assert np.isnan(h["ratio"]).all() and np.all((h["kl"] > 0) & (h["kl"] <= h["radius"]))
    fig = plot_minimize(r, tmp_path / "kl.png")
    assert fig.axes[2].get_ylabel() == "KL(N_k || N_k+1)" and (tmp_path / "kl.png").stat().st_size > 0


def test_plot_of_a_negative_f_marks_where_the_best_reaches_min_f(tmp_path):
    """With f <= 0 the top panel is f - min f on a log axis, where the best value's own batch is 0:
    that stretch is drawn along the panel's bottom edge, from the batch that found it on."""
    r = minimize(lambda x: sphere(x) - 3.0, np.ones(3), sigma0=0.3, maxfev=150, seed=0)
    first = int(np.flatnonzero(r.history["f_best"] == r.fun)[0])
    fig = plot_minimize(r)
    mark = [line for line in fig.axes[0].get_lines() if line.get_label() == "best f = min f"]
    assert len(mark) == 1 and list(mark[0].get_xdata()) == [r.history["nfev"][first], r.history["nfev"][-1]]
    assert fig.axes[0].get_ylabel() == "f - min f"
    positive = minimize(lambda x: sphere(x) + 1.0, np.ones(3), sigma0=0.3, maxfev=150, seed=0)
    assert [t.get_text() for t in plot_minimize(positive).axes[0].get_legend().get_texts()] == [
        "best f", "median f of the batch"]  # f > 0 everywhere: f itself, nothing to mark


def test_plot_of_a_run_with_noise_handling_draws_its_noise_measure(tmp_path):
    rng = np.random.default_rng(0)
    r = minimize(lambda x: sphere(x) + 0.1 * rng.normal(), np.ones(4), sigma0=0.3, maxfev=600, seed=0,
                 options={"noise_handling": True, "log": str(tmp_path / "run.csv")})
    for source in (r, str(tmp_path / "run.csv")):
        fig = plot_minimize(source)
        assert len(fig.axes) == 4 and fig.axes[3].get_xlabel() == "function evaluations"
        np.testing.assert_array_equal(fig.axes[3].get_lines()[0].get_ydata(), r.history["noise"])
        _assert_legends_cover_no_panel(fig)


def _assert_legends_cover_no_panel(fig):
    """Each legend of a plot_minimize figure lies outside every panel and inside the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert fig.bbox.x0 - 1 <= box.x0 and box.x1 <= fig.bbox.x1 + 1, (box, fig.bbox)
        assert fig.bbox.y0 - 1 <= box.y0 and box.y1 <= fig.bbox.y1 + 1, (box, fig.bbox)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), (box, ax.get_window_extent(renderer))


def test_plot_legends_cover_no_data_after_a_restart(tmp_path):
    """A restart's median f starts high again, at the right of the top panel: the legends are
    outside the panels, so none of its points is hidden (they used to sit 'upper right')."""
    from scipy.optimize import rosen

    r = minimize(rosen, np.zeros(5), seed=0, options={"restarts": 2}, maxfev=3000)
    assert r.n_restarts >= 1
    fig = plot_minimize(r)
    _assert_legends_cover_no_panel(fig)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["best f", "median f of the batch"]


def test_history_log_file_and_plot(tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    path = tmp_path / "run.csv"
    r = minimize(sphere, np.ones(4), method="trust-region-es", sigma0=0.3, maxfev=2000, seed=0,
                 options={"log": str(path), "restarts": 1, "regime": "ipop", "tolx": 1e-4})
    h = r.history
    assert tuple(h) == HISTORY_COLUMNS and h["nfev"][-1] == r.nfev and h["f_best"][-1] == r.fun
    assert np.all(np.diff(h["nfev"]) > 0) and np.all(np.diff(h["f_best"]) <= 0)
    assert set(h["restart"]) == {0, 1} and np.isfinite(h["ratio"]).any()
    lines = path.read_text().splitlines()
    assert tuple(lines[0].split(",")) == HISTORY_COLUMNS and len(lines) == len(h["nfev"]) + 1
    assert float(lines[-1].split(",")[3]) == r.fun  # written with every digit
    assert b"\r" not in path.read_bytes()  # lines end as pandas and awk expect (Python's csv writes "\r\n")
    for source in (r, str(path)):
        png = tmp_path / "run.png"
        fig = plot_minimize(source, png)
        assert len(fig.axes) == 3 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert fig.axes[0].get_title() == (f"trustopt.minimize: trust-region-es, d = 4, {r.nfev} evaluations"
                                           if source is r else f"{path.name}: {r.nfev} evaluations")
        _assert_legends_cover_no_panel(fig)
    assert matplotlib.get_backend() == backend  # the global backend is left alone
    with pytest.raises(ValidationError, match="not a minimize log"):
        (tmp_path / "other.csv").write_text("a,b\n1,2\n")
        plot_minimize(str(tmp_path / "other.csv"))
    # a log being written (or cut off by a crash) ends in a partial row: plotted without it
    cut = tmp_path / "cut.csv"
    cut.write_text(path.read_text()[:-20])
    assert len(plot_minimize(str(cut)).axes) == 3
    cut.write_text("")
    with pytest.raises(ValidationError, match="is empty"):
        plot_minimize(str(cut))
    cut.write_text("\n".join(lines[:2] + [lines[2][:8]] + lines[3:]))
    with pytest.raises(ValidationError, match="line 3 is not a row of numbers"):
        plot_minimize(str(cut))
    with pytest.raises(ValidationError, match="path: unknown image format 'xyz'"):
        plot_minimize(r, tmp_path / "run.xyz")
    with pytest.raises(ValidationError, match="path: expected a file name, got int"):
        plot_minimize(r, 123)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValidationError, match="path: "):
        plot_minimize(r, tmp_path / "file" / "run.png")  # a folder that is a file
    with pytest.raises(ValidationError, match="log: cannot write"):
        minimize(sphere, np.ones(2), maxfev=100, seed=0, options={"log": str(tmp_path / "missing" / "x.csv")})


def test_no_warning_on_a_clean_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        minimize(sphere, np.ones(3), sigma0=0.3, maxfev=300, seed=0, bounds=[(-2, 2)] * 3)


@pytest.mark.parametrize("bad, what", [(lambda x: None, "NoneType None"), (lambda x: "1.0", "str '1.0'"),
                                       (lambda x: 1j, "complex 1j")])
def test_a_value_that_is_not_a_real_number_is_an_error_naming_fun(bad, what):
    with pytest.raises(TypeError, match=f"fun must return a real number .*; it returned {what}"):
        minimize(bad, np.ones(2), sigma0=0.3, maxfev=100, seed=0)


def test_scalar_x0_fixed_variables_and_a_start_on_a_bound():
    r = minimize(lambda x: float((x[0] - 2.0) ** 2), 0.5, seed=0)  # a scalar x0, as in scipy
    assert r.x.shape == (1,) and abs(r.x[0] - 2.0) < 1e-6
    c = np.ones(3)
    r = minimize(shifted_sphere, np.array([0.0, 0.5, 0.0]), (c,), bounds=Bounds([0, 0.5, -1], [2, 0.5, 3]), seed=0)
    assert r.x[1] == 0.5 and np.allclose(r.x[[0, 2]], 1.0, atol=1e-6)  # lower = upper: a fixed variable
    # every coordinate ON a bound at the start (where the box map has a zero derivative)
    for method in ("trust-region-es", "es", "ars", "tres"):
        for x0 in ([0.0, -1.0], [2.0, 3.0]):
            r = minimize(shifted_sphere, np.array(x0), (np.ones(2),), method=method, bounds=[(0, 2), (-1, 3)], seed=0,
                         maxfev=4000)
            assert np.allclose(r.x, 1.0, atol=1e-2), (method, x0, r.x)


@pytest.mark.parametrize("cls", [TrustRegionCMA, TrustRegionES, ES, TRES, ARS])
def test_fixed_coordinates_are_not_searched_the_run_is_that_of_the_free_problem(cls):
    # pycma's fixed_variables: bounds with lo == hi take the coordinates out of the search, so the run is,
    # bit for bit, the same method on the restricted function of the free coordinates (its popsize and
    # learning rates those of the smaller dimension), every asked point carrying the fixed values
    free, values = np.array([True, False, True, True, False]), np.array([0.0, -0.5, 0.0, 0.0, 2.0])
    c = np.array([1.0, 0.0, -2.0, 0.5, 0.0])
    asked = []

    def f(x):
        asked.append(np.array(x))
        return float(np.sum((x - c) ** 2 * np.arange(1, 6)))

    def restricted(y):
        x = values.copy()
        x[free] = y
        return f(x)

    bounds = [(None, None) if fr else (v, v) for fr, v in zip(free, values)]
    x0 = np.array([0.3, -0.5, 0.1, -0.2, 2.0])
    full = cls(x0, 0.5, seed=3, bounds=bounds, maxfev=1500)
    reduced = cls(x0[free], 0.5, seed=3, maxfev=1500)
    assert full.d == reduced.d == 3 and full.popsize == reduced.popsize and full.maxfev == reduced.maxfev
    for opt, fun in ((full, f), (reduced, restricted)):
        while not opt.stop():
            X = opt.ask()
            opt.tell(X, [fun(x) for x in X])
    assert np.array_equal(full.mean[free], reduced.mean) and np.array_equal(full.mean[~free], values[~free])
    assert full.nfev == reduced.nfev and full.best_f == reduced.best_f and full.stop() == reduced.stop()
    assert all(np.array_equal(x[~free], values[~free]) for x in asked)
    # minimize: the same, with the budget of the free dimension (10_000 x 3) and on workers
    r = minimize(f, x0, bounds=bounds, method=cls.algorithm, seed=3, options={"popsize": 8} if cls is ARS else None)
    r_free = minimize(restricted, x0[free], method=cls.algorithm, seed=3, options={"popsize": 8} if cls is ARS else None)
    assert np.array_equal(r.x[free], r_free.x) and r.nfev == r_free.nfev and r.nfev <= MAXFEV_PER_DIM * 3
    r2 = minimize(f, x0, bounds=bounds, method=cls.algorithm, seed=3, workers=2,
                  options={"popsize": 8} if cls is ARS else None)
    assert np.array_equal(r2.x, r.x) and r2.nfev == r.nfev


def test_fixed_coordinates_x0_off_its_value_every_one_fixed_and_a_method_of_all_coordinates():
    bounds = [(0.0, 0.0), (None, None)]
    with pytest.warns(BoundsWarning, match=r"x0 is outside the bounds: x0\[0\] = 1, fixed at 0; clipped into the box"):
        opt = TrustRegionCMA(np.array([1.0, 1.0]), 0.5, seed=0, bounds=bounds)
    assert opt.d == 1 and np.array_equal(opt.mean, [0.0, 1.0])
    with pytest.raises(ValidationError, match="bounds: every coordinate is fixed"):
        minimize(sphere, np.array([1.0, 2.0]), bounds=[(1, 1), (2, 2)])
    for call in (lambda: minimize(sphere, np.ones(2), options={"fixed_variables": {0: 1.0}}),  # pycma's spelling
                 lambda: TrustRegionCMA(np.ones(2), fixed_variables={0: 1.0})):
        with pytest.raises(ValidationError, match=r"pycma's fixed_variables=\{i: v\} are bounds here"):
            call()
    # a method built on every coordinate (AskTell(method)) searches them all; the fixed one stays fixed
    from trustopt.algorithms import get
    from trustopt.asktell import AskTell

    opt = AskTell(get("trust-region-cma")(None, theta0=np.zeros(2), sigma0=0.5), seed=0, bounds=bounds)
    assert opt.d == 2 and np.all(opt.ask()[:, 0] == 0.0)
    import pickle

    def steps(opt, n):
        for _ in range(n):
            X = opt.ask()
            opt.tell(X, [sphere(x) for x in X])
        return opt

    x0, bounds = np.array([0.0, 1.0, 0.0]), [(None, None), (1, 1), (None, 0)]
    resumed = steps(pickle.loads(pickle.dumps(steps(TrustRegionCMA(x0, 0.5, seed=1, bounds=bounds), 3))), 5)
    again = steps(TrustRegionCMA(x0, 0.5, seed=1, bounds=bounds), 8)
    assert np.array_equal(resumed.mean, again.mean) and resumed.mean[1] == 1.0


@pytest.mark.parametrize("method", ["trust-region-cma", "trust-region-es", "es", "tres", "ars"])
def test_one_sigma0_per_coordinate_is_the_run_in_rescaled_coordinates(method):
    # sigma0 = v (d,) (pycma's sigma0 times CMA_stds) searches u = x / v with sigma0 = 1: bit for bit the
    # run on h(u) = f(v u), for every method, also on workers; scales 1e-4..1e4 stay outside the method
    # (a covariance holding them would have a condition of 1e16)
    v = 2.0 * 10.0 ** np.linspace(-4, 4, 5)
    f = lambda x: float(np.sum(np.arange(1, 6) * (x / v - 0.5) ** 2))  # noqa: E731
    kw = dict(method=method, seed=0, options={"ftarget": 1e-8})
    r = minimize(f, np.zeros(5), sigma0=v, **kw)
    ref = minimize(lambda u: f(v * u), np.zeros(5), sigma0=1.0, **kw)
    assert np.array_equal(r.x, v * ref.x) and r.fun == ref.fun and r.nfev == ref.nfev and r.success
    if method == "tres":  # workers rebuild the samples from the noise table: the scale travels with the box
        assert np.array_equal(minimize(f, np.zeros(5), sigma0=v, workers=2, **kw).x, r.x)


def test_one_sigma0_per_coordinate_with_bounds_fixed_coordinates_and_ask_tell():
    v = np.array([1e-3, 1.0, 5.0, 1e3])
    f = lambda x: float(np.sum((x / v - 0.3) ** 2))  # noqa: E731
    bounds = [(0.0, 1e-3), (2.0, 2.0), (None, None), (0.0, 2e3)]  # the fixed coordinate's entry is not read
    r = minimize(f, np.array([5e-4, 2.0, 0.0, 1e3]), sigma0=np.array([2.5e-4, 0.0, 1.25, 250.0]), bounds=bounds,
                 seed=1)
    assert r.x[1] == 2.0 and np.allclose(np.delete(r.x / v, 1), 0.3, atol=1e-3), r.x
    with pytest.warns(BoundsWarning, match="sigma0 = 2000 exceeds the width 0.001 of the bounds in coordinate 0"):
        TrustRegionCMA(np.zeros(4), [2e3, 1.0, 1.0, 1.0], bounds=[(0, 1e-3), (None, None), (None, None), (0, 1)])
    opt = TrustRegionCMA(np.ones(4), v, seed=2)
    X = opt.ask()
    assert opt.sigma() == 1.0 and np.allclose(np.std(X - 1.0, axis=0) / v, 1.0, rtol=0.9)  # per-coordinate spread
    resumed = pickle.loads(pickle.dumps(opt))
    for o in (opt, resumed):
        for _ in range(5):
            Xo = o.ask()
            o.tell(Xo, [f(x) for x in Xo])
    assert np.array_equal(opt.mean, resumed.mean)


def test_ask_tell_defaults_and_repaired_points():
    opt = TrustRegionES(np.zeros(2))  # sigma0 and seed are optional, as in pycma
    assert opt.sigma0 == 1.0 and isinstance(opt.seed, int) and opt.result.seed == opt.seed
    assert TrustRegionES(np.zeros(2), bounds=[(0, 2), (-1, 1)]).sigma0 == 0.5
    unequal = TrustRegionES(np.zeros(2), bounds=[(0, 8), (-1, 1)])  # a quarter of each width, as the box's scale
    assert unequal.sigma0 == 1.0 and np.array_equal(unequal.box.scale, [2.0, 0.5])
    X = opt.ask()
    with pytest.raises(ValidationError, match="pass repaired=True"):
        opt.tell(np.round(X, 1), np.zeros(len(X)))
    opt.tell(np.round(X, 1), [sphere(x) for x in np.round(X, 1)], repaired=True)
    assert np.array_equal(opt.best_x, np.round(X, 1)[np.argmin([sphere(x) for x in np.round(X, 1)])])


def test_tolfun_does_not_fire_on_values_imputed_at_the_edge_of_a_nan_region():
    """f is NaN for x0 > 0.5: batches there carry imputed constants, which must not read as a flat
    objective (tolfun); the search goes on to the constrained optimum 1/4 at the edge (where the best
    values stop changing: tolfunhist, which reads only finite values)."""
    def f(x):
        return math.nan if x[0] > 0.5 else float(np.sum((x - 1) ** 2))

    for seed in range(3):
        r = minimize(f, np.zeros(3), seed=seed)
        assert "tolfun:" not in r.message and r.fun < 0.25 + 1e-9, r.message


def test_minus_inf_values_are_no_flat_fitness():
    """-inf (like NaN and +inf) gets the worst rank; equal -inf values in one batch are not a plateau
    of best values: the flat-fitness test skipped them only for +inf/NaN, which sort last, and -inf
    sorts first (a false 'converged' after one batch of 7)."""
    def f(x):
        return -math.inf if x[0] > 1.5 else float(np.sum(x ** 2))

    r = minimize(f, np.ones(3), seed=0)
    assert "tolflatfitness" not in r.message and r.fun < 1e-8 and r.n_nonfinite > 0, r.message
    opt = TrustRegionCMA(np.ones(3), 1.0, seed=0)
    X = opt.ask()
    opt.tell(X, np.where(np.arange(len(X)) < 3, -math.inf, np.arange(len(X), dtype=float)))
    assert "tolflatfitness" not in opt.stop()


def test_fun_gets_copies_and_a_column_wise_vectorized_fun_is_named():
    """An objective that clips its argument in place (a user's repair) must not corrupt the batch
    the optimizer tells itself, and gives the same result in process and with workers (scipy passes
    copies too). A vectorized fun written for scipy's differential_evolution (points as columns)
    returns d values for n points: a ValidationError naming fun and the layout."""
    def g(x):
        np.clip(x, 0, None, out=x)
        return float(np.sum((x - 1) ** 2))

    a = minimize(g, -np.ones(3), seed=0, maxfev=2000)
    b = minimize(g, -np.ones(3), seed=0, maxfev=2000, workers=2)
    assert a.fun == b.fun and np.array_equal(a.x, b.x)
    with pytest.raises(ValidationError, match=r"^fun: vectorized, it takes the points as rows, X of shape \(7, 3\)"):
        minimize(lambda X: np.sum((X - 0.5) ** 2, axis=0), np.zeros(3), options={"vectorized": True}, seed=0)
    for out, shape in ((lambda X: np.sum(X ** 2)), r"\(\)"), ((lambda X: np.ones((7, 2))), r"\(7, 2\)"):  # as returned
        with pytest.raises(ValidationError, match=f"returns \\(7,\\) values; it returned shape {shape}$"):
            minimize(out, np.zeros(3), options={"vectorized": True}, seed=0)
    column = minimize(lambda X: np.sum(X ** 2, axis=1)[:, None], np.ones(3), options={"vectorized": True}, seed=0,
                      maxfev=70)
    assert column.nfev == 70  # (n, 1) is read as (n,)


def test_an_ask_tell_run_has_minimizes_history_and_plots():
    """pycma users plot an ask/tell run (cma.plot()); result.history holds minimize's columns for
    every told batch, the same rows a minimize run of the same optimizer records, and
    plot_minimize takes the optimizer or its result."""

    opt = TrustRegionCMA(np.full(5, 2.0), 0.5, seed=3, noise_handling=True)
    best = []
    while not opt.stop() and opt.nfev < 1500:
        X = opt.ask()
        f = np.sum(X * X, axis=1)
        opt.tell(X, f)
        best.append(opt.best_f)
    h = opt.result.history
    assert list(h) == list(HISTORY_COLUMNS) and len(h["nfev"]) == len(best) == opt.nit
    np.testing.assert_array_equal(h["f_best"], best)
    assert h["nfev"][-1] == opt.nfev and np.all(h["restart"] == 0) and np.isfinite(h["noise"]).all()
    assert pickle.loads(pickle.dumps(opt)).result.history.keys() == h.keys()
    for source in (opt, opt.result):
        fig = plot_minimize(source)
        assert fig.axes[0].get_title().startswith("trustopt ask/tell: trust-region-cma, d = 5")
        np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_ydata()[: len(best)], best)
    quiet = TrustRegionCMA(np.ones(3), 0.5, seed=0, keep_history=False)
    X = quiet.ask()
    quiet.tell(X, np.sum(X * X, axis=1))
    assert quiet.result.history["nfev"].size == 0 and quiet.last_row[0] == quiet.nfev
    with pytest.raises(ValidationError, match=r"^result_or_log: the ask/tell run kept no history \(keep_history=False\)$"):
        plot_minimize(quiet)
    # result.history is O(1) to read (views of column buffers): reading it after every batch of a long
    # loop stays cheap, and a view taken earlier keeps its rows
    early = opt.result.history
    assert not early["f_best"].flags.writeable and early["nit"].dtype == np.int64
    for _ in range(40):
        X = opt.ask()
        opt.tell(X, np.sum(X * X, axis=1))
        assert len(opt.result.history["nfev"]) == opt.nit
    np.testing.assert_array_equal(early["f_best"], best)


def test_the_readme_black_box_tour_is_the_example_and_runs_as_it_says(tmp_path):
    """examples/blackbox_tour.py is the README's second black-box block, and it prints what the
    README's comments say."""
    import os
    import subprocess
    import sys

    root = os.path.join(os.path.dirname(__file__), os.pardir)
    with open(os.path.join(root, "examples", "blackbox_tour.py")) as f:
        code = f.read().split('"""\n\n', 1)[1]
    with open(os.path.join(root, "README.md")) as f:
        assert f"```python\n{code}```" in f.read()
    p = subprocess.run([sys.executable, os.path.abspath(os.path.join(root, "examples", "blackbox_tour.py"))],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    x, nfev, message = lines[0].split("] ")[0], int(lines[0].split("] ")[1].split()[0]), lines[0].split(" ", 7)[-1]
    assert x == "[1. 1. 1. 1. 1. 1." and 1000 < nfev < 1600 and message.startswith("stopped by the callback: ")
    assert float(lines[1].split()[0]) < 1.0 and lines[2].startswith("[1. 1. 1. 1. 1. 1.] tolflatfitness: ")
    assert all((tmp_path / n).stat().st_size > 1000 for n in ("noisy.csv", "asktell.png", "noisy.png"))


def test_scipy_minimize_takes_it_as_a_custom_method():
    """scipy calls a callable method as ``method(fun, x0, args=, jac=, hess=, hessp=, bounds=,
    constraints=, callback=, **options)`` and returns what it returns: the same run as ours."""
    import scipy.optimize

    seen = []
    res = scipy.optimize.minimize(sphere, np.ones(4), method=minimize, bounds=[(0.5, 2)] * 4, tol=1e-8,
                                  callback=lambda intermediate_result: seen.append(intermediate_result.nfev),
                                  options={"seed": 0, "popsize": 10, "maxfev": 3000})
    ours = minimize(sphere, np.ones(4), bounds=[(0.5, 2)] * 4, tol=1e-8, seed=0, maxfev=3000, options={"popsize": 10})
    assert np.array_equal(res.x, ours.x) and res.nfev == ours.nfev and res.popsize == 10 and seen
    assert np.allclose(res.x, 0.5, atol=1e-4)
    for kw, named in ((dict(jac=lambda x: 2 * x), "jac: trustopt.minimize uses no derivatives"),
                      (dict(hess=lambda x: np.eye(4)), "hess: "),
                      (dict(constraints={"type": "ineq", "fun": lambda x: x[0]}), "constraints: not supported"),
                      (dict(options={"bogus": 1}), "options: unknown key bogus")):
        with pytest.raises(ValidationError, match=named):
            scipy.optimize.minimize(sphere, np.ones(4), method=minimize, **kw)
    with pytest.raises(ValidationError, match="popsize given both as a keyword and in options"):
        minimize(sphere, np.ones(4), popsize=6, options={"popsize": 8})
    with pytest.raises(ValidationError, match="options: give the options as keywords or as options=, not both"):
        minimize(sphere, np.ones(4), popsize=6, options=MinimizeOptions(popsize=8))


@pytest.mark.parametrize("cls", [TrustRegionCMA, TrustRegionES, TRES])
def test_optimize_is_the_ask_tell_loop(cls):
    """pycma's ``opt.optimize(f)``: the same bits as the loop written out, ``iterations`` more at a
    time, ``callback(opt)`` after each tell, and ``self`` returned."""
    def shifted(x, c):
        return float(np.sum((x - c) ** 2))

    by_hand = cls(np.zeros(4), 0.5, seed=3)
    while not by_hand.stop():
        X = by_hand.ask()
        by_hand.tell(X, [shifted(x, 1.0) for x in X])
    seen = []
    opt = cls(np.zeros(4), 0.5, seed=3)
    assert opt.optimize(shifted, iterations=2.0, args=1.0, callback=seen.append) is opt
    assert opt.nit == 2 and seen and all(s is opt for s in seen)
    opt.optimize(shifted, args=(1.0,))
    assert np.array_equal(opt.result.x, by_hand.result.x) and opt.nfev == by_hand.nfev and opt.stop()
    with pytest.raises(ValidationError, match="^iterations: "):
        cls(np.zeros(4), 0.5, seed=3).optimize(shifted, iterations=-1, args=(1.0,))
    with pytest.raises(TypeError):  # pycma's second positional is maxfun: here options are keywords
        cls(np.zeros(4), 0.5, seed=3).optimize(shifted, 100)
