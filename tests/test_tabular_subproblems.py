"""Tests of the exact trust-region subproblem solvers of :mod:`trustopt.tabular`.

References are independent of the code under test: brute force over the LP's vertices or a
fine grid (TV), scipy's general NLP solvers with restarts (KL, KL penalty), and the
scale invariance of the argmax (the maximizer of ``c . pit`` over a constraint set that
does not depend on ``c`` is unchanged when ``c`` is multiplied by ``k > 0``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st

from trustopt import tabular as T
from trustopt import testing


def _instance(seed: int, S: int = 3, A: int = 3, gamma: float = 0.9):
    rng = np.random.default_rng(seed)
    mdp = testing.random_mdps(rng, 1, S, A, gamma=gamma)[0]
    pi = testing.random_policies(rng, 1, S, A)[0]
    return mdp, pi


def _scaled(mdp, k):
    return T.TabularMDP(mdp.P, k * mdp.r, mdp.rho0, mdp.gamma)


def _gain(mdp, pi, sol):
    return sol.surrogate - T.evaluate(mdp, pi).eta


# ----------------------------------------------------------------- scale invariance


@pytest.mark.parametrize("k", [1e-8, 1e-10])
def test_tv_subproblem_gain_is_scale_invariant(k):
    """r -> k r multiplies c = rho A by k: the maximizer, hence gain / k, must not change.

    Small advantages are the normal case near the optimum (the exact trust-region method
    of STRO Thm. 3.5 converges to A* = 0), so the LP must not lose precision there. The
    reference is the unscaled problem; relative tolerance 1e-6 is far above round-off.
    """
    mdp, pi = _instance(0)
    ref = T.solve_tv_subproblem(mdp, pi, 0.1)
    sol = T.solve_tv_subproblem(_scaled(mdp, k), pi, 0.1)
    assert _gain(_scaled(mdp, k), pi, sol) / k == pytest.approx(_gain(mdp, pi, ref), rel=1e-6)


@pytest.mark.parametrize("k", [1e-14, 1e6])
def test_kl_subproblem_gain_is_scale_invariant(k):
    """The KL subproblem's maximizer is invariant under c -> k c (k > 0): its ties must
    be detected relative to the scale of c, not absolutely."""
    mdp, pi = _instance(0)
    ref = T.solve_kl_subproblem(mdp, pi, 0.05)
    sol = T.solve_kl_subproblem(_scaled(mdp, k), pi, 0.05)
    np.testing.assert_allclose(sol.pi, ref.pi, atol=1e-7)
    assert _gain(_scaled(mdp, k), pi, sol) / k == pytest.approx(_gain(mdp, pi, ref), rel=1e-6)


# ----------------------------------------------------------------- independent references


def _c(mdp, pi):
    ev = T.evaluate(mdp, pi)
    return ev, ev.rho[:, None] * ev.A


def tv_knapsack(c, pi, w, delta):
    """Independent exact solution of max sum c pit s.t. sum_s w(s) TV_s <= delta.

    Any pit is reached from pi by moving mass between actions, and TV_s equals the mass
    moved out of state s's actions; moving it to b_s = argmax_a c(s, a) is never worse.
    So the LP is a fractional knapsack whose items are (s, a), each of size pi(a|s), value
    rate c(s, b_s) - c(s, a) per unit of mass and cost rate w(s): fill greedily by the
    ratio (c(s, b_s) - c(s, a)) / w(s) (free items, w(s) = 0, first). Returns the maximal
    gain sum c (pit - pi) and the knapsack's marginal value (the multiplier).
    """
    items = []
    for s in range(c.shape[0]):
        b = int(np.argmax(c[s]))
        for a in range(c.shape[1]):
            rate = c[s, b] - c[s, a]
            if a == b or pi[s, a] <= 0 or rate <= 0:
                continue
            items.append((np.inf if w[s] == 0 else rate / w[s], rate, w[s], pi[s, a]))
    items.sort(key=lambda it: -it[0])
    gain, budget, marginal = 0.0, delta, 0.0
    for ratio, rate, cost, mass in items:
        if cost == 0:
            gain += rate * mass
            continue
        take = min(mass, budget / cost)
        gain += rate * take
        budget -= take * cost
        if take < mass:
            marginal = ratio
            break
    return gain, marginal


def tv_dual(c, pi, w, delta, lam):
    """Lagrangian dual function of the TV LP (independent of the primal greedy):
    D(lam) = lam delta + sum_s max_pit [c_s . pit - lam w(s) TV_s(pi, pit)]
           = lam delta + sum_s [c_s . pi_s + sum_a pi(a|s) max(0, c(s, b_s) - c(s, a) - lam w(s))],
    since the inner problem is linear in the moved masses. Weak duality: optimum <= D(lam)
    for every lam >= 0; strong duality (LP): optimum = min_lam D(lam), attained at 0 or at
    a breakpoint (c(s, b_s) - c(s, a)) / w(s) of this convex piecewise-linear function.
    Returns D(lam) - sum c pi (a bound on the gain)."""
    cb = c.max(axis=1, keepdims=True)
    return lam * delta + float(np.sum(pi * np.maximum(0.0, cb - c - lam * w[:, None])))


def tv_dual_optimum(c, pi, w, delta):
    cb = c.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        bps = np.where(w[:, None] > 0, (cb - c) / w[:, None], 0.0)
    candidates = np.concatenate([[0.0], bps[np.isfinite(bps) & (bps > 0)].ravel()])
    return min(tv_dual(c, pi, w, delta, lam) for lam in candidates)


def _assert_tv_solution(mdp, pi, delta, weights, method=None):
    ev, c = _c(mdp, pi)
    w = ev.rho if weights is None else np.asarray(weights, float)
    kw = {} if method is None else {"method": method}
    sol = T.solve_tv_subproblem(mdp, pi, delta, weights=weights, **kw)
    assert sol.success, sol.message
    scale = max(1.0, np.abs(c).max())
    tol = 1e-9 * scale
    gain_ref, _ = tv_knapsack(c, pi, w, delta)
    # the primal reference and the dual optimum agree (strong duality), and the returned
    # multiplier is a dual certificate: D(multiplier) = optimal gain
    assert gain_ref == pytest.approx(tv_dual_optimum(c, pi, w, delta), abs=tol)
    if method is None and np.isfinite(sol.multiplier):
        assert sol.multiplier >= 0
        assert tv_dual(c, pi, w, delta, sol.multiplier) == pytest.approx(gain_ref, abs=tol)
    # a valid policy, feasible, with the reported surrogate and constraint
    assert np.all(sol.pi >= 0)
    np.testing.assert_allclose(sol.pi.sum(1), 1.0, atol=1e-12)
    constraint = float(np.sum(w * T.tv(pi, sol.pi)))
    assert sol.constraint == pytest.approx(constraint, abs=1e-12 * max(1.0, delta))
    assert constraint <= delta * (1 + 1e-9) + 1e-12
    assert sol.surrogate == pytest.approx(T.surrogate(mdp, pi, sol.pi), abs=tol)
    # optimal: the same gain as the knapsack
    assert sol.surrogate - ev.eta == pytest.approx(gain_ref, abs=tol)
    # no unused budget worth more than the tolerance: tight whenever that matters
    assert gain_ref - tv_knapsack(c, pi, w, min(constraint, delta))[0] <= tol
    gain_free, _ = tv_knapsack(c, pi, w, np.inf)
    if gain_ref < gain_free - tol and tv_knapsack(c, pi, w, delta * (1 - 1e-6))[0] < gain_ref - tol:
        assert constraint == pytest.approx(delta, rel=1e-6)
    return sol, ev, c, w


@given(
    testing.mdp_and_policy(max_states=2, max_actions=3),
    st.sampled_from([1e-4, 0.01, 0.1, 0.5, 2.0, 50.0]),
    st.sampled_from(["rho", "given", "with-zero"]),
)
def test_tv_subproblem_against_knapsack(case, delta, wkind):
    mdp, pi = case
    S = mdp.n_states
    weights = {"rho": None, "given": np.linspace(0.5, 2.0, S), "with-zero": np.eye(S)[0] * 0.7}[wkind]
    _assert_tv_solution(mdp, pi, delta, weights)
    if np.ptp(np.log10(np.abs(T.evaluate(mdp, pi).rho) + 1e-300)) < 3:  # HiGHS: c of one scale
        _assert_tv_solution(mdp, pi, delta, weights, method="highs")


@pytest.mark.parametrize("seed", range(8))
def test_tv_subproblem_against_knapsack_larger(seed):
    rng = np.random.default_rng(100 + seed)
    S, A = 2 + seed % 3, 2 + seed % 2
    mdp = testing.random_mdps(rng, 1, S, A, gamma=0.9, concentration=0.5)[0]
    pi = testing.random_policies(rng, 1, S, A, deterministic_fraction=0.3)[0]
    for delta in (0.01, 0.3, 3.0):
        _assert_tv_solution(mdp, pi, delta, None)


def test_tv_subproblem_never_worse_than_pi_when_c_spans_many_scales():
    """Regression (found by the explore profile): rho0 = (0, 1), so rho(0) = 4.5e-6 while
    rho(1) = 10; pi is already optimal for L (every c(s, a) <= c(s, pi(s)) = 0), so the
    exact answer has gain 0. The LP (costs scaled by max|c| = 16.7) moved state 0 to an
    action with c = -1.1e-6 (relative 7e-8, under HiGHS's dual tolerance), spending the
    whole budget to DECREASE L by 1.1e-6. L(pit) >= L(pi) must hold (pi is feasible), up
    to round-off of c (~1e-15 * max|c|)."""
    P = np.array([[[0, 1], [1, 0], [0, 1]], [[1, 0], [5e-7, 1 - 5e-7], [1 - 5e-7, 5e-7]]], float)
    mdp = T.TabularMDP(P, np.array([[0.25, 0, 0], [0, 1, 0]]), np.array([0.0, 1.0]), 0.9)
    pi = np.array([[1.0, 0, 0], [0, 1, 0]])
    ev, c = _c(mdp, pi)
    assert np.all(c <= 0) and np.abs(c).max() > 10
    sol = T.solve_tv_subproblem(mdp, pi, 0.5, weights=np.array([0.5, 2.0]))
    assert sol.surrogate - ev.eta >= -1e-13 * np.abs(c).max()
    _assert_tv_solution(mdp, pi, 0.5, np.array([0.5, 2.0]))


def test_tv_subproblem_tiny_gain_regression():
    """Kept from the explore profile: state 0 is almost never visited (rho(0) ~ 1e-6), so
    the only available gain is ~1e-10 against max|c| ~ 1; the LP may leave the budget
    unused only if what it leaves is worth less than the tolerance."""
    P = np.array([[[5e-7, 1 - 5e-7], [1, 0], [1, 0]], [[1 - 5e-7, 5e-7], [5e-7, 1 - 5e-7], [1 - 5e-7, 5e-7]]])
    mdp = T.TabularMDP(P, np.array([[0.0, 0, 1], [0, 1, 0]]), np.array([0.0, 1.0]), 0.5)
    pi = np.array([[1.0, 0, 0], [0, 1, 0]])
    _assert_tv_solution(mdp, pi, 1e-4, np.array([0.5, 2.0]))


def test_tv_subproblem_against_grid_one_state():
    """S = 1, A = 3: brute force over a fine grid of the simplex (step 1/400).
    Grid error: the grid point nearest the optimum along the constraint's face loses at
    most ~ 2 * ||c||_inf / 400 in value."""
    P = np.ones((1, 3, 1))
    r = np.array([[0.3, 1.0, -0.4]])
    mdp = T.TabularMDP(P, r, np.ones(1), 0.5)
    pi = np.array([[0.2, 0.3, 0.5]])
    ev, c = _c(mdp, pi)
    n = 400
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    ok = i + j <= n
    grid = np.stack([i[ok], j[ok], n - i[ok] - j[ok]], axis=1) / n
    for delta in (0.05, 0.4, 0.9):
        feas = ev.rho[0] * 0.5 * np.abs(grid - pi[0]).sum(1) <= delta
        best = (grid[feas] @ c[0]).max()
        sol = T.solve_tv_subproblem(mdp, pi, delta)
        got = float(sol.pi[0] @ c[0])
        assert got >= best - 1e-12
        assert got <= best + 2 * np.abs(c).max() / n


def test_tv_subproblem_multiplier_is_marginal_value():
    """The constraint's multiplier equals d(max L)/d delta (LP sensitivity), from the
    knapsack's finite differences; zero when the constraint is slack."""
    rng = np.random.default_rng(11)
    mdp = testing.random_mdps(rng, 1, 3, 3, gamma=0.8)[0]
    pi = testing.random_policies(rng, 1, 3, 3)[0]
    ev, c = _c(mdp, pi)
    for delta in (0.05, 0.2, 0.7):
        h = 1e-6
        up = tv_knapsack(c, pi, ev.rho, delta + h)[0]
        down = tv_knapsack(c, pi, ev.rho, delta - h)[0]
        sol = T.solve_tv_subproblem(mdp, pi, delta)
        assert sol.multiplier == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-9)
    big = T.solve_tv_subproblem(mdp, pi, 1e3)
    assert big.multiplier == pytest.approx(0.0, abs=1e-9)
    greedy = T.greedy_policy(mdp, pi)
    np.testing.assert_allclose(big.surrogate, T.surrogate(mdp, pi, greedy), rtol=1e-10)


def test_tv_subproblem_stro_lemma_3_3():
    """STRO Lemma 3.3: with w = rho_pi, L(pit) - L(pi) >= min(1, (1-gamma) delta) A*_pi."""
    rng = np.random.default_rng(12)
    for _ in range(10):
        mdp = testing.random_mdps(rng, 1, 3, 2, rho0_positive=True)[0]
        pi = testing.random_policies(rng, 1, 3, 2)[0]
        ev = T.evaluate(mdp, pi)
        a_star = T.optimal_advantage(mdp, pi, ev=ev)
        for delta in (0.01, 0.5, 5.0):
            sol = T.solve_tv_subproblem(mdp, pi, delta)
            assert sol.surrogate - ev.eta >= min(1.0, (1 - mdp.gamma) * delta) * a_star - 1e-10


# ----------------------------------------------------------------- KL subproblem


def _kl_rows(p, q):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - np.log(q)), 0.0).sum(-1)


def nlp_kl_subproblem(c, pi, w, delta, rng, restarts=3):
    """General NLP reference (used only in tests): SLSQP over logits z (S, A), pit = softmax(z),
    max sum c pit s.t. sum_s w(s) KL(pi_s || pit_s) <= delta, with analytic gradients and
    restarts from pi's logits (zeros mapped to -8) and random logits. Returns the best
    feasible value found."""
    S, A = c.shape

    def f(z):
        q = T.softmax_policy(z.reshape(S, A))
        return -float(np.sum(c * q)), -(q * (c - (q * c).sum(1, keepdims=True))).ravel()

    def g(z):
        q = T.softmax_policy(z.reshape(S, A))
        kl = _kl_rows(pi, q)  # inf where q underflows below pi's support; a state of weight 0 adds 0 (not 0 * inf)
        return delta - float(np.sum(w[w > 0] * kl[w > 0]))

    def g_jac(z):
        q = T.softmax_policy(z.reshape(S, A))
        return (-(w[:, None]) * (q - pi)).ravel()

    starts = [np.log(np.maximum(pi, np.exp(-8.0)))] + [rng.normal(scale=2.0, size=(S, A)) for _ in range(restarts)]
    best = -np.inf
    for z0 in starts:
        res = scipy.optimize.minimize(
            lambda z: f(z), z0.ravel(), jac=True, method="SLSQP",
            constraints=[{"type": "ineq", "fun": g, "jac": g_jac}], options={"maxiter": 300, "ftol": 1e-14},
        )
        if g(res.x) >= -1e-9 * delta:
            best = max(best, -f(res.x)[0])
    return best


def _assert_kl_solution(mdp, pi, delta, weights, rng, check_nlp=True):
    ev, c = _c(mdp, pi)
    w = ev.rho if weights is None else np.asarray(weights, float)
    sol = T.solve_kl_subproblem(mdp, pi, delta, weights=weights)
    assert sol.success, sol.message
    scale = max(1.0, np.abs(c).max())
    assert np.all(sol.pi >= 0)
    np.testing.assert_allclose(sol.pi.sum(1), 1.0, atol=1e-12)
    with np.errstate(invalid="ignore"):  # 0 * inf in zero-weight states
        constraint = float(np.sum(np.where(w > 0, w * T.kl(pi, sol.pi), 0.0)))
    assert constraint <= delta * (1 + 1e-8)  # documented: feasible up to a relative 1e-9
    assert sol.constraint == pytest.approx(constraint, rel=1e-10, abs=1e-14)
    assert sol.surrogate == pytest.approx(T.surrogate(mdp, pi, sol.pi), abs=1e-10 * scale)
    gain = sol.surrogate - ev.eta
    assert gain >= -1e-12 * scale  # pi itself is feasible
    # tight whenever the greedy step (argmax c in every weighted state) is infeasible
    greedy_gain = float(np.sum(c.max(1) - (c * pi).sum(1)))
    if gain < greedy_gain - 1e-7 * scale:
        assert constraint == pytest.approx(delta, rel=1e-7)
        assert sol.multiplier > 0
    if check_nlp:
        nlp = nlp_kl_subproblem(c, pi, w, delta, rng)
        nlp_gain = nlp - float(np.sum(c * pi))
        assert gain >= nlp_gain - 1e-7 * scale
    return sol, gain


@given(
    testing.mdp_and_policy(max_states=3, max_actions=3, gamma=st.sampled_from([0.0, 0.5, 0.9])),
    st.sampled_from([1e-3, 0.05, 0.5, 3.0]),
    st.sampled_from(["rho", "given", "with-zero"]),
    st.integers(0, 2**16),
)
@settings(max_examples=40)
def test_kl_subproblem_against_nlp(case, delta, wkind, seed):
    mdp, pi = case
    S = mdp.n_states
    weights = {"rho": None, "given": np.linspace(0.5, 2.0, S), "with-zero": np.eye(S)[0] * 0.7}[wkind]
    _assert_kl_solution(mdp, pi, delta, weights, np.random.default_rng(seed))


@pytest.mark.parametrize("seed", range(6))
def test_kl_subproblem_against_nlp_seeded(seed):
    rng = np.random.default_rng(200 + seed)
    S, A = 2 + seed % 2, 2 + seed % 3
    mdp = testing.random_mdps(rng, 1, S, A, gamma=0.9)[0]
    pi = testing.random_policies(rng, 1, S, A, deterministic_fraction=0.4 * (seed % 2))[0]
    for delta in (0.01, 0.2):
        _assert_kl_solution(mdp, pi, delta, None, rng)


def _one_state(r, gamma=0.5):
    A = len(r)
    return T.TabularMDP(np.ones((1, A, 1)), np.array([r], float), np.ones(1), gamma)


@pytest.mark.parametrize("delta", [0.01, 0.3, 2.0])
def test_kl_subproblem_deterministic_pi_closed_form(delta):
    """pi = one-hot on action 0 (S = 1): KL(pi || pit) = -log pit(0), so the constraint
    w (-log pit(0)) <= delta gives pit(0) >= exp(-delta / w), and the leftover mass goes
    to the best OFF-support action: pit = (e^{-delta/w}, 1 - e^{-delta/w}, 0).
    Here gamma = 0.5, V = 0, so A = r, rho = 2 = w."""
    mdp = _one_state([0.0, 1.0, 0.5])
    pi = np.array([[1.0, 0.0, 0.0]])
    sol = T.solve_kl_subproblem(mdp, pi, delta)
    p0 = np.exp(-delta / 2.0)
    np.testing.assert_allclose(sol.pi, [[p0, 1 - p0, 0.0]], rtol=1e-8, atol=1e-12)
    assert sol.constraint == pytest.approx(delta, rel=1e-8)
    assert sol.surrogate == pytest.approx(2.0 * (1 - p0), rel=1e-8)


def test_kl_subproblem_partial_support_closed_form():
    """pi = (1/2, 1/2, 0), c = rho A with the off-support action best: regime B. Stationarity
    gives pit_a = beta pi_a / (c_out - c_a) on the support and the leftover on the
    off-support action; then KL = sum_a pi_a log((c_out - c_a)/beta), so
    beta = exp(sum_a pi_a log(c_out - c_a) - delta / w). Valid while the supported mass
    sum_a beta pi_a/(c_out - c_a) <= 1."""
    mdp = _one_state([0.0, 0.2, 1.0], gamma=0.0)  # rho = 1, V = 0.1, A = r - 0.1
    pi = np.array([[0.5, 0.5, 0.0]])
    ev, c = _c(mdp, pi)
    delta = 0.5
    c_out = c[0, 2]
    gaps = c_out - c[0, :2]
    beta = np.exp(np.sum(0.5 * np.log(gaps)) - delta)
    inside = beta * 0.5 / gaps
    assert inside.sum() < 1  # in regime B
    expected = np.array([[inside[0], inside[1], 1 - inside.sum()]])
    sol = T.solve_kl_subproblem(mdp, pi, delta)
    np.testing.assert_allclose(sol.pi, expected, rtol=1e-8, atol=1e-12)
    # other radii (both regimes: B for large delta, A once beta exceeds beta_crit) against the NLP
    for d in (1e-3, 0.05, 0.2, 1.0, 5.0):
        _assert_kl_solution(mdp, pi, d, None, np.random.default_rng(0))


def test_kl_subproblem_zero_weight_states_are_greedy():
    """w(s) = 0 removes state s from the constraint: pit(.|s) is argmax_a c(s, a)
    (one-hot where the argmax is unique), even off pi's support."""
    rng = np.random.default_rng(13)
    mdp = testing.random_mdps(rng, 1, 3, 3, gamma=0.9)[0]
    pi = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.6, 0.4, 0.0]])
    ev, c = _c(mdp, pi)
    w = np.array([0.0, 1.0, 0.0])
    sol = T.solve_kl_subproblem(mdp, pi, 0.01, weights=w)
    for s in (0, 2):
        np.testing.assert_allclose(sol.pi[s], np.eye(3)[np.argmax(c[s])], atol=1e-12)
    assert sol.constraint == pytest.approx(0.01, rel=1e-7)
    assert T.kl(pi, sol.pi)[1] == pytest.approx(0.01, rel=1e-7)


def test_kl_subproblem_slack_constraint_returns_greedy():
    """With w = 0 everywhere the constraint vanishes: the greedy policy, multiplier 0 (with
    full-support pi and w > 0 greedy is never feasible: KL to a one-hot row is +inf)."""
    rng = np.random.default_rng(14)
    mdp = testing.random_mdps(rng, 1, 3, 2)[0]
    pi = testing.random_policies(rng, 1, 3, 2)[0]
    sol = T.solve_kl_subproblem(mdp, pi, 0.1, weights=np.zeros(3))
    _, c = _c(mdp, pi)
    np.testing.assert_allclose(sol.pi, np.eye(2)[c.argmax(1)], atol=1e-12)
    assert sol.multiplier == 0.0
    # a state already at a tie everywhere: pit = pi
    one = _one_state([1.0, 1.0])
    sol = T.solve_kl_subproblem(one, np.array([[0.3, 0.7]]), 0.1)
    np.testing.assert_allclose(sol.pi, [[0.3, 0.7]], atol=1e-15)
    assert sol.surrogate == pytest.approx(T.evaluate(one, np.array([[0.3, 0.7]])).eta)


def test_kl_value_increases_with_delta():
    """The optimal value is nondecreasing and concave in delta (a perturbation function of
    a convex program); its slope equals the multiplier (envelope theorem)."""
    rng = np.random.default_rng(15)
    mdp = testing.random_mdps(rng, 1, 3, 3, gamma=0.8)[0]
    pi = testing.random_policies(rng, 1, 3, 3)[0]
    deltas = np.array([0.01, 0.02, 0.04, 0.08, 0.16])
    vals = np.array([T.solve_kl_subproblem(mdp, pi, d).surrogate for d in deltas])
    assert np.all(np.diff(vals) > 0)
    slopes = np.diff(vals) / np.diff(deltas)
    assert np.all(np.diff(slopes) < 0)
    d, h = 0.05, 1e-5
    fd = (T.solve_kl_subproblem(mdp, pi, d + h).surrogate - T.solve_kl_subproblem(mdp, pi, d - h).surrogate) / (2 * h)
    assert T.solve_kl_subproblem(mdp, pi, d).multiplier == pytest.approx(fd, rel=1e-4)


@pytest.mark.parametrize("delta, weights", [(800.0, None), (1e-3, np.array([1e-6]))])
def test_kl_subproblem_feasible_when_optimum_underflows(delta, weights):
    """Regression (found by test_kl_subproblem_against_nlp): pi = (1, 0), c = (0, 1).
    The exact optimum is pit = (e^{-delta/w}, 1 - e^{-delta/w}); e^{-800} underflows to 0,
    and the solver returned pit = (0, 1) with constraint = +inf, success=True. A returned
    policy must be feasible (KL finite and <= delta, as documented) or success must be False."""
    mdp = T.TabularMDP(np.ones((1, 2, 1)), np.array([[0.0, 1.0]]), np.ones(1), 0.0)
    pi = np.array([[1.0, 0.0]])
    sol = T.solve_kl_subproblem(mdp, pi, delta, weights=weights)
    w = 1.0 if weights is None else weights[0]
    if sol.success:
        assert w * T.kl(pi, sol.pi)[0] <= delta * (1 + 1e-8)
        assert sol.constraint <= delta * (1 + 1e-8)
        assert sol.surrogate == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------- KL penalty (TRPO Algorithm 1)


def nlp_kl_penalty(c, pi, C, rng, restarts=3):
    """General NLP reference: max_z,t sum c softmax(z) - C t s.t. KL(pi_s || softmax(z)_s) <= t
    for every s (the epigraph form of max L - C max_s KL_s), SLSQP with restarts."""
    S, A = c.shape

    def f(x):
        q = T.softmax_policy(x[:-1].reshape(S, A))
        grad = np.append(-(q * (c - (q * c).sum(1, keepdims=True))).ravel(), C)
        return -float(np.sum(c * q)) + C * x[-1], grad

    def g(x):
        return x[-1] - _kl_rows(pi, T.softmax_policy(x[:-1].reshape(S, A)))

    def g_jac(x):
        q = T.softmax_policy(x[:-1].reshape(S, A))
        J = np.zeros((S, S * A + 1))
        for s in range(S):
            J[s, s * A:(s + 1) * A] = -(q[s] - pi[s])
        J[:, -1] = 1.0
        return J

    best = -np.inf
    starts = [np.log(np.maximum(pi, np.exp(-8.0)))] + [rng.normal(scale=2.0, size=(S, A)) for _ in range(restarts)]
    for z0 in starts:
        x0 = np.append(z0.ravel(), _kl_rows(pi, T.softmax_policy(z0)).max() + 0.1)
        res = scipy.optimize.minimize(f, x0, jac=True, method="SLSQP",
                                      constraints=[{"type": "ineq", "fun": g, "jac": g_jac}],
                                      options={"maxiter": 300, "ftol": 1e-14})
        q = T.softmax_policy(res.x[:-1].reshape(S, A))
        best = max(best, float(np.sum(c * q)) - C * _kl_rows(pi, q).max())
    return best


def _assert_penalty_solution(mdp, pi, C, rng):
    ev, c = _c(mdp, pi)
    sol = T.solve_kl_penalty(mdp, pi, C)
    assert sol.success, sol.message
    scale = max(1.0, np.abs(c).max())
    assert np.all(sol.pi >= 0)
    np.testing.assert_allclose(sol.pi.sum(1), 1.0, atol=1e-12)
    kmax = float(T.max_kl(pi, sol.pi))
    assert np.isfinite(kmax)
    assert sol.constraint == pytest.approx(kmax, rel=1e-9, abs=1e-14)
    objective = sol.surrogate - C * kmax
    assert objective >= ev.eta - 1e-10 * scale  # pit = pi gives exactly eta
    nlp = nlp_kl_penalty(c, pi, C, rng) + ev.eta - float(np.sum(c * pi))
    assert objective >= nlp - 1e-7 * scale
    if kmax > 1e-8:  # (for steps with KL ~ 1e-11 the reported sum is off by ~5e-6 relative)
        assert sol.multiplier == pytest.approx(C, rel=1e-6)
    return sol


@given(
    testing.mdp_and_policy(max_states=3, max_actions=3, gamma=st.sampled_from([0.0, 0.5, 0.9])),
    st.sampled_from([0.01, 0.3, 3.0, 30.0]),
    st.integers(0, 2**16),
)
@settings(max_examples=30)
def test_kl_penalty_against_nlp(case, C, seed):
    mdp, pi = case
    _assert_penalty_solution(mdp, pi, C, np.random.default_rng(seed))


@pytest.mark.parametrize("seed", range(4))
def test_kl_penalty_against_nlp_seeded(seed):
    rng = np.random.default_rng(300 + seed)
    mdp = testing.random_mdps(rng, 1, 3, 2 + seed % 2, gamma=0.8)[0]
    pi = testing.random_policies(rng, 1, 3, 2 + seed % 2)[0]
    for C in (0.1, 2.0, 40.0):
        _assert_penalty_solution(mdp, pi, C, rng)


def test_kl_penalty_deterministic_pi_closed_form():
    """One state, pi = (1, 0, 0), c = rho A = 2 r with r = (0, 1, 0.5) (gamma = 0.5):
    max 2 (1 - p) - C (-log p) over p = pit(0), mass 1 - p on action 1: p = C / 2 (C < 2)."""
    mdp = T.TabularMDP(np.ones((1, 3, 1)), np.array([[0.0, 1.0, 0.5]]), np.ones(1), 0.5)
    pi = np.array([[1.0, 0.0, 0.0]])
    for C in (0.1, 1.0, 1.9):
        sol = T.solve_kl_penalty(mdp, pi, C)
        np.testing.assert_allclose(sol.pi, [[C / 2, 1 - C / 2, 0.0]], rtol=1e-8, atol=1e-12)
    sol = T.solve_kl_penalty(mdp, pi, 5.0)  # C >= 2: staying put is optimal
    np.testing.assert_allclose(sol.pi, pi, atol=1e-9)


@pytest.mark.parametrize("seed", range(2))
def test_trpo_algorithm1_monotone(seed):
    """TRPO Alg. 1 with C = 4 eps gamma / (1 - gamma)^2, eps = max |A_pi|: eta(pi_{k+1}) >=
    eta(pi_k) (TRPO Thm. 1, eq. 9-10), and eta(pit) >= L(pit) - C max KL at every step."""
    rng = np.random.default_rng(400 + seed)
    mdp = testing.random_mdps(rng, 1, 4, 3, gamma=0.7, rho0_positive=True)[0]
    pi = testing.random_policies(rng, 1, 4, 3)[0]
    etas = [T.evaluate(mdp, pi).eta]
    for _ in range(10):
        ev = T.evaluate(mdp, pi)
        eps = np.abs(ev.A).max()
        if eps == 0:
            break
        C = 4 * eps * mdp.gamma / (1 - mdp.gamma) ** 2
        sol = T.solve_kl_penalty(mdp, pi, C)
        eta_new = T.evaluate(mdp, sol.pi).eta
        assert eta_new >= sol.surrogate - C * sol.constraint - 1e-10
        assert eta_new >= etas[-1] - 1e-10
        etas.append(eta_new)
        pi = sol.pi
    assert etas[-1] > etas[0]  # it does improve
    assert etas[-1] <= T.policy_iteration(mdp).eta + 1e-10


@pytest.mark.parametrize("p0", [1e-29, 1e-20, 1e-16, 0.0])
def test_kl_solvers_with_tiny_probabilities(p0):
    """pi = (p0, 1 - p0) with a tiny p0 > 0 on the better action (c = (1 - p0, -p0): one
    state, gamma = 0, r = (1, 0)). Up to O(p0 |log p0|) this is pi = (0, 1), whose optima are
    in closed form: KL subproblem pit(0) = 1 - e^{-delta}; penalty (KL = -log(1 - q)):
    q = 1 - C for C < 1. Found by a stress run: p0 = 1e-29 made solve_kl_penalty raise
    RuntimeError('could not bracket the multiplier'), and p0 = 1e-20 returned
    pit(0) = 0.09501 (constraint 0.0998 < delta = 0.1) and q = 0.96968 instead of 0.97."""
    mdp = T.TabularMDP(np.ones((1, 2, 1)), np.array([[1.0, 0.0]]), np.ones(1), 0.0)
    pi = np.array([[p0, 1 - p0]])
    sol = T.solve_kl_subproblem(mdp, pi, 0.1)
    assert sol.pi[0, 0] == pytest.approx(1 - np.exp(-0.1), abs=1e-9)
    assert sol.constraint == pytest.approx(0.1, rel=1e-8)
    for C in (0.03, 0.5):
        sol = T.solve_kl_penalty(mdp, pi, C)
        assert sol.pi[0, 0] == pytest.approx(1 - C, abs=1e-9)


def _extreme_instance(seed):
    """Rewards over 6 orders of magnitude, near-deterministic transitions and policies with
    entries down to 1e-15, radii from 1e-5 to 10."""
    rng = np.random.default_rng(10_000 + seed)
    S, A = int(rng.integers(1, 4)), int(rng.integers(2, 4))
    mdp = testing.random_mdps(rng, 1, S, A, gamma=float(rng.choice([0.0, 0.5, 0.95])),
                              concentration=float(rng.choice([0.05, 1.0])), reward_scale=float(10 ** rng.uniform(-3, 3)))[0]
    pi = testing.random_policies(rng, 1, S, A, concentration=float(rng.choice([0.05, 1.0])), deterministic_fraction=0.3)[0]
    if rng.random() < 0.5:
        eps = 10.0 ** rng.integers(-15, -3)
        pi = (1 - eps) * pi + eps * np.eye(A)[rng.integers(0, A, S)]
    return mdp, pi, float(10 ** rng.uniform(-5, 1)), float(10 ** rng.uniform(-2, 2)), rng


def _check_extreme(seed):
    mdp, pi, delta, C, rng = _extreme_instance(seed)
    _assert_tv_solution(mdp, pi, delta, None)
    _assert_kl_solution(mdp, pi, delta, None, rng)
    _assert_penalty_solution(mdp, pi, C, rng)


# 12, 101, 149, 159, 162: failures found by the slow sweep, kept as regression cases
# (tiny positive pi entries on the best action: e.g. seed 12 has pi(.|0) = (1.5e-39, 1),
# c(0, .) = (27, 0) and the KL solver's gain was 6.1 against the NLP's 26.0; seed 149
# raised RuntimeError in solve_kl_penalty)
@pytest.mark.parametrize("seed", [*range(13), 101, 149, 159, 162])
def test_subproblems_extreme_instances(seed):
    _check_extreme(seed)


@pytest.mark.slow
def test_subproblems_extreme_instances_many():
    for seed in range(12, 200):
        _check_extreme(seed)


@pytest.mark.parametrize("delta", [1e-9, 1e-4])
def test_subproblems_with_rows_summing_to_one_within_tolerance(delta):
    """A policy row summing to 1 + 9e-9 is accepted by validation (tolerance 1e-8) but was
    not renormalized, while the returned pit is: for delta = 1e-9 the TV solver's
    constraint was 5.5e-9 (5.5x the radius; found by the explore profile with delta = 1e-4,
    pi = (1, 1e-10, 0)), and the KL solver raised RuntimeError('could not bracket the
    multiplier') because KL(pi || pi / sum pi) = 9e-9 > delta made the problem infeasible.
    Solutions must be feasible for the accepted input (measured against pi as the solver
    sees it: normalized, or as given)."""
    mdp = T.TabularMDP(np.ones((1, 3, 1)), np.array([[0.0, 0.0, 1.0]]), np.ones(1), 0.0)
    pi = np.array([[1.0, 0.9e-8, 0.0]])
    pin = pi / pi.sum(axis=1, keepdims=True)
    sol = T.solve_tv_subproblem(mdp, pi, delta)
    assert min(T.tv(pi, sol.pi)[0], T.tv(pin, sol.pi)[0]) <= delta * (1 + 1e-6)
    assert sol.constraint <= delta * (1 + 1e-6)
    assert sol.pi[0, 2] == pytest.approx(delta, rel=1e-6)  # the budget moves mass to the best action
    sol = T.solve_kl_subproblem(mdp, pi, delta)
    assert sol.constraint <= delta * (1 + 1e-6)
    assert sol.pi[0, 2] > 0
