"""Integer variables (``integrality``): the box's rounding, the lower bound on the integer
coordinates' standard deviations (against pycma's constants and its definition), and what it buys
on an ellipsoid where rounding alone freezes the integer coordinates at wrong values."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from scipy.stats import norm

from trustopt import ValidationError
from trustopt.algorithms.trust_region_cma import trust_region_cma
from trustopt.asktell import TRES, BoundsWarning, TrustRegionCMA
from trustopt.bounds import as_box
from trustopt.components.gaussian import GaussianState, cma_constants
from trustopt.components.integers import centered as integers_centered
from trustopt.components.integers import floored, std_floor
from trustopt.optimize import minimize

D = 10
INTEGER = np.arange(D) < D // 2  # the first half: the smallest coefficients of the ellipsoid
X_OPT = np.where(INTEGER, [2.0, -3.0, 1.0, 0.0, -1.0] * 2, [0.3, -1.7, 2.2, -0.4, 1.1] * 2)


def ellipsoid(x):
    """A separable ellipsoid (condition 1e6) whose integer coordinates carry the smallest
    coefficients: the continuous ones set the ranking while sigma shrinks; optimum 0 at X_OPT."""
    x = np.asarray(x, dtype=float)
    assert np.array_equal(x[INTEGER], np.round(x[INTEGER]))  # fun sees integers there
    return float(np.sum(np.logspace(0, 6, D) * (x - X_OPT) ** 2))


def test_the_box_rounds_integer_coordinates_into_their_range_and_gives_every_integer_a_unit_width():
    box = as_box([(0, 3), (None, None), (0.2, 0.8), (-1.5, 1.5), (2, 2.5)], 5,
                 integer=np.array([True, True, False, True, True]))
    assert list(box.lower) == [0, -np.inf, 0.2, -1, 2] and list(box.upper) == [3, np.inf, 0.8, 1, 2]
    assert list(box.free) == [True, True, True, True, False]  # one integer in [2, 2.5]: fixed
    assert list(box.width[[0, 3]]) == [4, 3]  # [ceil(l) - 1/2, floor(u) + 1/2]
    X = box.to_box(np.random.default_rng(0).normal(0, 3, (4000, 4)))
    assert np.array_equal(X[:, [0, 1, 3]], np.round(X[:, [0, 1, 3]])) and box.contains(X)
    assert not (np.signbit(X) & (X == 0)).any()  # no -0.0 (fun would see it, e.g. in 1 / x)
    period = 2 * (4 + 2 * 0.2)  # T is 2 (w + 2 a)-periodic: y uniform over whole periods
    wide = as_box([(0, 3)], 1, integer=np.array([True])).to_box(np.random.default_rng(1).uniform(0, 10 * period,
                                                                                                  (40000, 1)))
    counts = np.bincount(wide[:, 0].astype(int))  # a wide search: each integer owns a unit of T's range, and the
    share = counts / counts.sum()                 # end ones also T's boundary layer, 0.2 of a unit here
    np.testing.assert_allclose(share, np.array([1.2, 1, 1, 1.2]) / 4.4, atol=0.01)
    with pytest.raises(ValidationError, match=r"bounds: integer coordinate 0 has no integer in \[0.2, 0.8\]"):
        as_box([(0.2, 0.8)], 1, integer=np.array([True]))


def test_the_lower_bound_is_pycmas_and_its_probability_of_leaving_the_integer():
    """sigma_min = min(0.2, mu_eff / d, (1/2) / |Phi^-1(p / 2)|), p = 2 / (2 + d + d_int): at
    the third term a sample from a mean centred on an integer leaves it with probability p."""
    for d, lam, d_int in ((2, 6, 1), (10, 10, 5), (40, 15, 40), (100, 17, 50), (1000, 24, 1000)):
        p = 2 / (2 + d + d_int)
        expected = min(0.2, cma_constants(d, lam).mu_eff / d, 0.5 / norm.isf(p / 2))
        assert std_floor(d, lam, d_int) == pytest.approx(expected, rel=1e-12)
        third = 0.5 / norm.isf(p / 2)
        assert 2 * norm.sf(0.5 / third) == pytest.approx(p, rel=1e-9)
    try:
        from cma.options_parameters import integer_std_lower_bound
    except ImportError:  # pycma is a benchmark dependency only
        return
    for d, lam, d_int in ((10, 10, 5), (100, 17, 50)):
        mu_eff = cma_constants(d, lam).mu_eff
        assert std_floor(d, lam, d_int) == pytest.approx(integer_std_lower_bound(d, mu_eff, d_int))


def test_floored_raises_only_the_standard_deviations_below_the_bound_outside_c():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(4, 4))
    C = A @ A.T + 4 * np.eye(4)
    vals, B = np.linalg.eigh(C)
    s = GaussianState(sigma=0.05, C=C, B=B, D=np.sqrt(vals), p_sigma=np.ones(4), p_c=np.ones(4))
    floor = np.array([0.2, 0.0, 0.0, 1e-3])
    g = floored(s, floor)
    assert g.C is s.C and g.p_c is s.p_c  # C, its paths and its condition stay those of x / v
    std = g.std()
    assert std[0] == pytest.approx(0.2) and np.array_equal(std[1:], s.std()[1:])
    # the stretched distribution's covariance is V (sigma^2 C) V, and its samples have it
    z = rng.standard_normal((200_000, 4))
    np.testing.assert_allclose(np.cov(g.y_of_z(z).T) * g.sigma ** 2, np.outer(g.v, g.v) * g.sigma ** 2 * C, rtol=0.03,
                               atol=1e-6)
    assert floored(g, floor) is g  # nothing below the bound: the same state


def test_the_bound_keeps_the_integer_coordinates_moving_where_rounding_alone_freezes_them():
    """Ten seeds each: rounding inside fun (no integrality) freezes some integer coordinate at a wrong
    value in most runs; with integrality every run reaches the optimum (pycma's LB+IC likewise:
    benchmarks/bench_integer.py)."""
    rounded = lambda x: ellipsoid(np.where(INTEGER, np.round(x), x))  # noqa: E731
    x0 = np.full(D, 3.0)
    plain = [minimize(rounded, x0, sigma0=2.0, seed=s).fun for s in range(10)]
    lb = [minimize(ellipsoid, x0, sigma0=2.0, seed=s, options={"integrality": INTEGER}) for s in range(10)]
    assert sum(f < 1e-8 for f in plain) <= 3, plain
    assert all(r.fun < 1e-8 for r in lb), [r.fun for r in lb]
    assert all(np.array_equal(r.x[INTEGER], X_OPT[INTEGER]) for r in lb)


def test_integrality_in_ask_tell_resumes_from_a_pickle_and_runs_the_same_on_workers():
    def steps(opt, n):
        for _ in range(n):
            X = opt.ask()
            opt.tell(X, [ellipsoid(x) for x in X])
        return opt

    make = lambda: TrustRegionCMA(np.zeros(D), 2.0, seed=1, integrality=INTEGER)  # noqa: E731
    again = steps(make(), 110)
    half = steps(make(), 80)
    assert half.state.step_state.v is not None  # the bound is active when pickled
    resumed = steps(pickle.loads(pickle.dumps(half)), 30)
    assert np.array_equal(resumed.mean, again.mean) and np.array_equal(resumed.state.step_state.v,
                                                                       again.state.step_state.v)
    kw = dict(sigma0=2.0, maxfev=3000, seed=3, options={"integrality": INTEGER, "vectorized": True})
    f = lambda X: np.array([ellipsoid(x) for x in X])  # noqa: E731
    r1, r2 = minimize(f, np.zeros(D), workers=1, **kw), minimize(f, np.zeros(D), workers=2, **kw)
    assert np.array_equal(r1.xmean, r2.xmean) and r1.nfev == r2.nfev


def test_an_integer_range_of_one_integer_is_a_fixed_coordinate():
    """bounds (1.5, 2.5) on an integer coordinate hold the one integer 2: the run is, bit for bit, the
    run whose bounds fix it at 2 (and all-False integrality is no integrality)."""
    kw = dict(sigma0=0.5, maxfev=600, seed=0)
    sphere = lambda x: float(np.sum((np.asarray(x) - 0.3) ** 2))  # noqa: E731
    x0 = np.array([1.0, 1.0, 1.0, 2.0])
    a = minimize(sphere, x0, bounds=[(None, None)] * 3 + [(2, 2)], **kw)
    b = minimize(sphere, x0, bounds=[(None, None)] * 3 + [(1.5, 2.5)],
                 options={"integrality": [False, False, False, True]}, **kw)
    assert np.array_equal(a.x, b.x) and a.nfev == b.nfev and b.x[3] == 2
    c = minimize(sphere, np.ones(4), **kw)
    d = minimize(sphere, np.ones(4), options={"integrality": [False] * 4}, **kw)
    assert np.array_equal(c.x, d.x) and c.nfev == d.nfev


def test_bad_integrality_is_a_one_line_error_and_pycmas_name_points_to_it():
    sphere = lambda x: float(np.sum(np.asarray(x) ** 2))  # noqa: E731
    for bad in ([True, False], [0, 2, 1], [0, 1, 1], "yes", [[True, False, True]]):  # [0, 1, 1]: pycma's indices?
        with pytest.raises(ValidationError, match=r"^integrality: expected 3 True/False values"):
            minimize(sphere, np.ones(3), options={"integrality": bad})
    with pytest.raises(ValidationError, match=r"integrality: only for method 'trust-region-cma' \(got 'tres'\)"):
        TRES(np.ones(3), 0.5, integrality=[True, False, False])
    with pytest.raises(ValidationError, match=r"pycma's integer_variables=\[i, ...\] is integrality="):
        minimize(sphere, np.ones(3), options={"integer_variables": [0]})
    r = minimize(sphere, np.full(3, 2.6), bounds=[(-5, 5)] * 3, options={"integrality": np.array([1, 0, 1]) == 1},
                 maxfev=2000, seed=0)
    assert r.x[0] == 0 and r.x[2] == 0 and abs(r.x[1]) < 1e-5 and r.success
    opt = TrustRegionCMA(np.zeros(2), 1.0, seed=0, integrality=[True, False])
    X = opt.ask()
    with pytest.raises(ValidationError, match=r"X: repaired points must be integers in the integer coordinates; "
                                              r"X\[0, 0\] = 0.25"):
        opt.tell(np.where([True, False], 0.25, X), np.zeros(len(X)), repaired=True)
    with warnings.catch_warnings():  # within half a unit of its integers: rounds into them, no clipping to warn of
        warnings.simplefilter("error")
        TrustRegionCMA(np.array([5.3, 0.0]), 1.0, bounds=[(0, 5.5), (-0.4, 5)], integrality=[True, True], seed=0)
    with pytest.warns(BoundsWarning, match=r"x0\[0\] = 5.7, bounded by \[0, 5\] \(an integer coordinate\)"):
        TrustRegionCMA(np.array([5.7, 0.0]), 1.0, bounds=[(0, 5.5), (-0.4, 5)], integrality=[True, True], seed=0)


def test_every_coordinate_integer_runs_to_the_optimum_and_converges_on_flat_batches():
    """Every coordinate integer and sigma0 below the bound: a sample leaves the mean's integers in
    about 1 of 80 draws, so tolfunhist's window (10 + 30 d / lambda batches of an unchanged best)
    ended runs at their start (x = 0, f = 49 at d = 1); it is off there, as tolfun is, and the run
    ends on pycma's counted flat fitness, converged."""
    for d in (1, 2, 3):
        for seed in range(8):
            r = minimize(lambda x: float(np.sum((np.asarray(x) - 7) ** 2)), np.zeros(d), sigma0=0.1, seed=seed,
                         options={"integrality": [True] * d})
            assert r.fun == 0 and r.success and "tolflatfitness" in r.message, (d, seed, r.fun, r.message)
    opt = TrustRegionCMA(np.zeros(3), 0.05, seed=0, integrality=[True, False, True])
    assert opt.state.step_state is not None  # the bound holds from the first batch on
    np.testing.assert_allclose(opt.state.step_state.std()[[0, 2]], std_floor(3, opt.popsize, 2))


def test_noise_handling_widens_the_continuous_coordinates_as_without_integers():
    """uncertainty.widened caps sigma's growth where the largest sigma sqrt(C_ii) reaches sigma0:
    read without the integer coordinates' scaling v, whose bound (0.2) may exceed sigma0."""
    from trustopt.components.uncertainty import widened

    def grown(integrality):
        opt = TrustRegionCMA(np.zeros(3), 0.5, seed=0, integrality=integrality)
        for _ in range(40):
            X = opt.ask()
            opt.tell(X, [float(np.sum(np.asarray(x) ** 2)) for x in X])
        g = opt.state.step_state
        before = g.std()[1:]
        for _ in range(200):
            g = widened(g, 0.5)
        return g.std()[1:] / before

    free, with_integer = grown(None), grown([True, False, False])
    assert np.all(with_integer > 100) and np.all(free > 100), (free, with_integer)


def test_integer_centering_is_its_definition():
    """centered() against the definition, on random batches: only the selected samples' integer
    coordinates move, none changes its integer, a selected sample in another integer's cell lands on
    its center, and the shift that adds (a plain sum, as pycma's) is taken back from the samples
    that stayed (all of it when they can give it, else all they can: each then at the mean's center)."""
    rng = np.random.default_rng(3)
    d, lam = 4, 12
    mu = cma_constants(d, lam).mu
    integer = np.array([True, True, False, True])
    lo, hi = np.array([-np.inf, -np.inf, -np.inf, -2.0]), np.array([np.inf, np.inf, np.inf, np.inf])
    for _ in range(200):
        m = rng.normal(0, 2, d)
        U = m + rng.normal(0, rng.uniform(0.2, 1.0), (lam, d))
        F = rng.normal(size=lam)
        out = integers_centered(U, F, m, mu, integer, lo, hi)
        sel = np.argsort(-F, kind="stable")[:mu]
        rest = np.setdiff1d(np.arange(lam), sel)
        assert np.array_equal(out[rest], U[rest]) and np.array_equal(out[:, ~integer], U[:, ~integer])
        assert np.array_equal(np.round(out), np.round(U))
        for i in np.flatnonzero(integer):
            u, new, k_m = U[sel, i], out[sel, i], np.round(m[i])
            if not lo[i] <= k_m:
                assert np.array_equal(new, u)
                continue
            usable = (u >= lo[i]) & (np.round(u) >= lo[i])
            away, home = usable & (np.round(u) != k_m), usable & (np.round(u) == k_m)
            assert np.array_equal(new[away], np.round(u[away])) and np.array_equal(new[~usable], u[~usable])
            b = np.sum(np.round(u[away]) - u[away])
            a = np.sum(k_m - u[home])
            shift = np.sum(new - u)
            if a * b < 0 and abs(a) >= abs(b):
                assert shift == pytest.approx(0.0, abs=1e-12)
            elif a * b < 0:  # not enough to take back: the samples that stayed are at the center
                np.testing.assert_allclose(new[home], k_m, atol=1e-12)
            else:
                assert np.array_equal(new[home], u[home])


def test_the_integer_default_population_is_where_csas_damping_starts_to_rise():
    """With integer coordinates the default population is pycma's larger one, and CSA's damping
    rises only above it (``large_population_damping``): raised above the continuous default, it
    slowed the sphere with half its 60 coordinates integer to 1.12 times pycma's evaluations
    (benchmarks/bench_integer.py --dim 60 --functions 1)."""
    from trustopt.components.gaussian import cma_popsize, large_population_damping
    from trustopt.components.integers import default_popsize

    d, d_int = 60, 30
    lam0 = default_popsize(d, d_int)
    assert lam0 == int(6 + 3 * (np.log(60) + np.log(30))) == 28 > cma_popsize(d) == 16
    for popsize, factor in ((None, 1.0), (2 * lam0, np.sqrt(2.0))):
        opt = TrustRegionCMA(np.zeros(d), 1.0, seed=0, popsize=popsize, integrality=np.arange(d) % 2 == 0)
        assert opt.popsize == (popsize or lam0) and opt.method.step.lambda_0 == lam0
        assert large_population_damping(d, opt.popsize, opt.method.step.lambda_0) == pytest.approx(factor)
    continuous = TrustRegionCMA(np.zeros(d), 1.0, seed=0, popsize=lam0)
    assert large_population_damping(d, continuous.popsize, continuous.method.step.lambda_0) == pytest.approx(
        np.sqrt(lam0 / 16))
    with pytest.raises(ValidationError, match="^n_integer: expected an integer in"):
        trust_region_cma(None, theta0=np.zeros(3), sigma0=1.0, n_integer=4)
    with pytest.raises(ValidationError, match="^n_integer: set by integrality"):
        TrustRegionCMA(np.zeros(3), 1.0, n_integer=1)
