"""Uncertainty handling (``noise_handling=True``): the rank-change measure against a direct count,
what it reads on deterministic and on random values, and the ask/tell driver's treatment."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.stats import rankdata

from trustopt import ValidationError
from trustopt.asktell import ES, TrustRegionCMA
from trustopt.components.uncertainty import THETA, alpha_sigma, n_reevaluations, rank_change
from trustopt.optimize import minimize


def _rank_change_by_counting(f, again, theta):
    """``s`` from its definition: Delta the count of values strictly between a point's two values, the
    limit the (50 theta)-th percentile of that count for the other value placed at every other rank."""
    L = np.concatenate([f, again])
    rank = rankdata(L, method="ordinal")
    n, total = L.size, 0.0
    for i in range(again.size):
        lo, hi = sorted((L[i], L[f.size + i]))
        delta = sum(lo < v < hi for v in L)
        lims = [np.percentile([abs(j - r) - 1 for j in range(1, n + 1) if j != r], 50 * theta)
                for r in (rank[i], rank[f.size + i])]
        total += 2 * delta - sum(lims)
    return total / again.size


@pytest.mark.parametrize("seed", range(5))
def test_rank_change_is_its_definition_and_reads_only_ranks(seed):
    rng = np.random.default_rng(seed)
    f, again = rng.standard_normal(12), rng.standard_normal(3)
    for theta in (0.2, 0.5, THETA):
        assert rank_change(f, again, theta) == pytest.approx(_rank_change_by_counting(f, again, theta), abs=1e-12)
    assert rank_change(np.exp(f), np.exp(again)) == rank_change(f, again)  # a monotone map changes nothing
    bad = f.copy()
    bad[0] = np.nan  # a failed evaluation ranks last, as the driver imputes it
    assert rank_change(bad, again) == rank_change(np.where(np.isnan(bad), np.inf, bad), again)


def test_rank_change_without_noise_is_negative_and_random_values_read_just_above_zero():
    rng = np.random.default_rng(0)
    f = rng.standard_normal(10)
    assert rank_change(f, f[:2]) < 0  # repeated values: Delta = 0
    assert rank_change(np.ones(10), np.ones(2)) < 0  # a plateau: the values tying with them lie not between
    assert rank_change(np.full(10, np.nan), np.full(2, np.inf)) < 0  # every evaluation failed: no noise read
    pure = [rank_change(rng.standard_normal(10), rng.standard_normal(2)) for _ in range(4000)]
    slight = [rank_change(t + 0.1 * rng.standard_normal(10), t[:2] + 0.1 * rng.standard_normal(2))
              for t in rng.standard_normal((4000, 10))]
    assert 0 < np.mean(pure) < 1.5 and np.mean(slight) < -3  # pure noise just above 0; a tenth of f's spread: < 0
    assert n_reevaluations(10) == 2 and n_reevaluations(40) == 4 and alpha_sigma(10) == 1.1


def test_a_deterministic_objective_is_the_run_without_handling_with_its_repeats_added():
    # repeated points of a deterministic f have equal values: s < 0, sigma is never raised, and the
    # update sees the same values, so the search is the run without handling, bit for bit
    f = lambda x: float(np.sum(np.arange(1, 5) * (x - 1.0) ** 2))  # noqa: E731
    plain, handled = TrustRegionCMA(np.zeros(4), 0.5, seed=2), TrustRegionCMA(np.zeros(4), 0.5, seed=2, noise_handling=True)
    assert handled.n_asked == handled.popsize + 2 == plain.popsize + 2
    for _ in range(40):
        X, Xh = plain.ask(), handled.ask()
        assert np.array_equal(Xh[: plain.popsize], X) and np.array_equal(Xh[plain.popsize:], X[:2])
        plain.tell(X, [f(x) for x in X])
        handled.tell(Xh, [f(x) for x in Xh])
    assert np.array_equal(plain.mean, handled.mean) and plain.sigma() == handled.sigma() and handled.s_bar < 0
    assert handled.nfev == 40 * (plain.popsize + 2)


def _noisy_rosenbrock(seed):
    rng = np.random.default_rng(1000 + seed)
    return lambda x: float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2) + rng.standard_normal())


def test_on_a_noisy_objective_sigma_stays_up_and_the_mean_gets_closer():
    # Rosenbrock + N(0, 1), d = 5: without handling, CSA reads the random selection as convergence and
    # sigma collapses far from the optimum; with it sigma stays where the true differences show
    true = lambda x: float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))  # noqa: E731
    ends = {}
    for handling in (False, True):
        runs = [minimize(_noisy_rosenbrock(s), np.zeros(5), sigma0=0.5, maxfev=8000, seed=s,
                         options={"noise_handling": handling}) for s in range(3)]
        ends[handling] = (np.median([true(r.xmean) for r in runs]), np.median([r.sigma for r in runs]))
    assert ends[True][0] < ends[False][0] and ends[True][1] > 10 * ends[False][1], ends


def test_handling_resumes_from_a_pickle_and_runs_the_same_on_workers():
    def steps(opt, fun, n):
        for _ in range(n):
            X = opt.ask()
            opt.tell(X, [fun(x) for x in X])
        return opt

    again = steps(TrustRegionCMA(np.zeros(3), 0.5, seed=1, noise_handling=True), _noisy_rosenbrock(0), 30)
    f = _noisy_rosenbrock(0)
    resumed = steps(pickle.loads(pickle.dumps(steps(TrustRegionCMA(np.zeros(3), 0.5, seed=1, noise_handling=True),
                                                    f, 12))), f, 18)
    assert np.array_equal(resumed.mean, again.mean) and resumed.s_bar == again.s_bar
    kw = dict(sigma0=0.5, maxfev=1500, seed=3, options={"noise_handling": True, "vectorized": True})
    noisy = lambda X: np.sum(X ** 2, axis=1) + np.sin(1e3 * X[:, 0])  # noqa: E731  (row-wise: any blocks)
    r1, r2 = minimize(noisy, np.ones(4), workers=1, **kw), minimize(noisy, np.ones(4), workers=2, **kw)
    assert np.array_equal(r1.xmean, r2.xmean) and r1.nfev == r2.nfev <= 1500


def test_handling_is_refused_where_there_is_no_gaussian_sigma_and_misspellings_point_to_it():
    with pytest.raises(ValidationError, match=r"noise_handling: only for method 'trust-region-cma' \(got 'es'\)"):
        ES(np.zeros(2), 0.5, noise_handling=True)
    with pytest.raises(ValidationError, match=r"noise_handling: only for method 'trust-region-cma' \(got 'tres'\)"):
        minimize(lambda x: float(x @ x), np.zeros(2), method="tres", options={"noise_handling": True})
    with pytest.raises(ValidationError, match="noise_handling: must be True or False"):
        minimize(lambda x: float(x @ x), np.zeros(2), options={"noise_handling": "yes"})
    with pytest.raises(ValidationError, match="pycma's noise handling is noise_handling=True here"):
        minimize(lambda x: float(x @ x), np.zeros(2), options={"noise_handler": True})
    opt = TrustRegionCMA(np.zeros(3), 0.5, seed=0, noise_handling=True)
    X = opt.ask()
    with pytest.raises(ValidationError, match="its last 2 rows repeat the first ones: tell every row"):
        opt.tell(X[: opt.popsize], np.zeros(opt.popsize))  # pycma's habit: popsize values


def test_on_pure_noise_sigma_does_not_collapse_and_failed_first_iterations_are_survived():
    # values that are pure noise: CSA's sigma random-walks and collapses (min 0.07 here); with the handling
    # it is raised whenever it would shrink, and it stays near sigma0
    lowest = {}
    for handling in (False, True):
        rng, opt, sigmas = np.random.default_rng(0), TrustRegionCMA(np.zeros(3), 0.5, seed=0, noise_handling=handling), []
        for _ in range(200):
            X = opt.ask()
            opt.tell(X, rng.standard_normal(len(X)))
            sigmas.append(opt.sigma())
        lowest[handling] = min(sigmas)
    assert lowest[True] > 0.25 and lowest[False] < 0.1, lowest
    # first iterations that fail numerically (no Gaussian state yet): counted, nothing raised
    opt = TrustRegionCMA(np.zeros(2), 1.0, seed=0, noise_handling=True)
    X = opt.ask()
    with np.errstate(all="ignore"):
        opt.tell(X, [-1e308] * 2 + [1e308] * (len(X) - 2))
    assert opt.n_failures == 1 and np.all(np.isfinite(opt.mean))


def test_a_repeated_point_keeps_its_finite_value_when_the_other_failed():
    f = lambda x: float(np.sum(x ** 2))  # noqa: E731
    a, b = TrustRegionCMA(np.ones(3), 0.5, seed=4, noise_handling=True), TrustRegionCMA(np.ones(3), 0.5, seed=4)
    X, Xb = a.ask(), b.ask()
    values = [f(x) for x in X]
    values[-1] = np.nan  # the repeat of row 1 failed: row 1 keeps its value, as in the run without handling
    a.tell(X, values, n_exceptions=1)
    b.tell(Xb, [f(x) for x in Xb])
    assert np.array_equal(a.mean, b.mean) and a.n_exceptions == 1


def test_restarts_with_handling_count_the_repeats_in_every_budget_check():
    sphere1 = lambda x: float(np.sum((x - 1) ** 2))  # noqa: E731
    for maxfev in range(504, 540):  # no run is started that cannot pay for one batch with its repeats
        r = minimize(sphere1, np.zeros(3), sigma0=0.5, seed=1, maxfev=maxfev,
                     options={"noise_handling": True, "tolx": 1e-4, "restarts": 3})
        assert r.nfev <= maxfev and not np.array_equal(r.xmean, np.zeros(3)), (maxfev, r.xmean)  # the last run stepped
    r = minimize(sphere1, np.full(3, 3.0), sigma0=2, maxfev=16, seed=1,
                 options={"noise_handling": True, "restarts": 6, "tolx": 1e-3, "tolfun": 1e-3})
    assert r.status == 1 and r.message.endswith("maxfev: 9 of maxfev = 16 evaluations used; the next batch (9) would "
                                                "exceed it") and r.n_restarts == 0


def test_the_noise_measure_is_in_the_history_the_log_and_the_printed_lines(tmp_path, capsys):
    from trustopt.optimize import HISTORY_COLUMNS, plot_minimize

    log = tmp_path / "run.csv"
    r = minimize(_noisy_rosenbrock(1), np.zeros(3), sigma0=0.5, maxfev=600, seed=0,
                 options={"noise_handling": True, "log": str(log), "verbose": 10})
    assert np.all(np.isfinite(r.history["noise"])) and np.any(r.history["noise"] > 0)
    assert "   noise" in capsys.readouterr().out
    assert np.isnan(minimize(lambda x: float(x @ x), np.ones(2), seed=0, maxfev=100).history["noise"]).all()
    plot_minimize(str(log))
    old = tmp_path / "old.csv"  # a log written before the noise column still plots
    lines = log.read_text().splitlines()
    old.write_text("\n".join(",".join(line.split(",")[: len(HISTORY_COLUMNS) - 1]) for line in lines) + "\n")
    assert len(plot_minimize(str(old)).axes) == 3
