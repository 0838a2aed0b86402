"""Policy iteration, value iteration, greedy policies and CPI mixtures, against brute-force
enumeration of all A^S deterministic policies (one batched exact evaluation) and the
optimality conditions (Bellman optimality; STRO Lemma 3.2: A*_pi = 0 iff pi optimal)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from trustopt import tabular as T
from trustopt import testing

EPS = np.finfo(float).eps


def all_deterministic(S, A):
    acts = np.array(list(itertools.product(range(A), repeat=S)))
    return np.eye(A)[acts]  # (A^S, S, A)


def v_tol(mdp):
    g = float(mdp.gamma)
    return 64 * EPS * mdp.n_states * (1 + g) / (1 - g) * max(1.0, np.abs(mdp.r).max()) / (1 - g)


def _check_optimal(mdp, sol, threshold=0.0):
    """``threshold``: the solver's documented improvement threshold on Q (policy iteration
    keeps an action unless another is better by more than 1e-12 (1 + |Q|)), which allows a
    suboptimality of threshold / (1 - gamma) in V."""
    tol = v_tol(mdp) + threshold / (1 - float(mdp.gamma))
    pis = all_deterministic(mdp.n_states, mdp.n_actions)
    evs = T.evaluate(mdp, pis)
    # optimal in every state, not only on average under rho0 (which may have zeros)
    np.testing.assert_array_less(evs.V.max(0), sol.V + tol)
    assert sol.eta == pytest.approx(evs.eta.max(), abs=tol)
    # Bellman optimality V* = max_a [r + gamma P V*]
    Q = mdp.r + mdp.gamma * np.einsum("sat,t->sa", mdp.P, sol.V)
    np.testing.assert_allclose(Q.max(1), sol.V, rtol=0, atol=2 * tol)
    # deterministic, valid policy with A*_pi = 0 (STRO Lemma 3.2)
    assert set(np.unique(sol.pi)) <= {0.0, 1.0}
    np.testing.assert_array_equal(sol.pi.sum(1), 1.0)
    assert abs(T.optimal_advantage(mdp, sol.pi)) <= 4 * tol / (1 - float(mdp.gamma))
    ev = T.evaluate(mdp, sol.pi)
    np.testing.assert_allclose(ev.V, sol.V, rtol=0, atol=tol)
    assert np.all(ev.A <= 2 * tol)


def _pi_threshold(mdp):
    V_max = np.abs(mdp.r).max() / (1 - float(mdp.gamma))
    return 1e-12 * (1 + V_max)


# kept from the explore profile: gamma = 1e-12 makes two Q values differ by 7.5e-13, under
# policy iteration's documented improvement threshold
_P_TINY_GAMMA = np.array([[[1.0, 0, 0, 0]] * 2, [[1.0, 0, 0, 0]] * 2, [[0, 0, 0, 1.0], [0.25] * 4], [[0, 0, 0, 1.0]] * 2])


@given(testing.mdps(max_states=4, max_actions=3))
@example(T.TabularMDP(_P_TINY_GAMMA, np.array([0.0, 0, 0, -1]), np.full(4, 0.25), 1e-12))
def test_policy_iteration_against_enumeration(mdp):
    _check_optimal(mdp, T.policy_iteration(mdp), threshold=_pi_threshold(mdp))


@pytest.mark.parametrize("k", [1e-12, 1e-14])
def test_policy_iteration_is_scale_invariant(k):
    """r -> k r (k > 0) scales every V by k and leaves the optimal policies unchanged, so
    policy iteration must return an optimal policy of the scaled MDP. Its improvement
    threshold 1e-12 (1 + |Q|) is absolute for |Q| < 1: with r ~ 1e-12 it stops at the
    initial policy (eta = -1.72 k instead of the optimum 2.58 k on this instance)."""
    rng = np.random.default_rng(0)
    mdp = testing.random_mdps(rng, 1, 4, 3, gamma=0.9)[0]
    ref = T.policy_iteration(mdp)
    scaled = T.TabularMDP(mdp.P, k * mdp.r, mdp.rho0, mdp.gamma)
    sol = T.policy_iteration(scaled)
    assert sol.eta / k == pytest.approx(ref.eta, rel=1e-9)
    np.testing.assert_array_equal(sol.pi, ref.pi)  # the optimum is unique on this instance
    np.testing.assert_array_equal(T.value_iteration(scaled).pi, ref.pi)


@given(testing.mdps(max_states=3, max_actions=3, gamma=st.sampled_from([0.0, 0.3, 0.9])))
def test_value_iteration_against_policy_iteration(mdp):
    """Value iteration's greedy policy is tol-optimal (tol = 1e-10, Puterman Thm. 6.3.1)."""
    vi, pi_ = T.value_iteration(mdp), T.policy_iteration(mdp)
    assert vi.eta == pytest.approx(pi_.eta, abs=1e-10 + v_tol(mdp))
    np.testing.assert_allclose(vi.V, pi_.V, rtol=0, atol=1e-10 + v_tol(mdp))


@pytest.mark.parametrize("seed", range(4))
def test_solvers_high_gamma(seed):
    rng = np.random.default_rng(seed)
    mdp = testing.random_mdps(rng, 1, 4, 3, gamma=0.99, concentration=0.3)[0]
    sol = T.policy_iteration(mdp)
    _check_optimal(mdp, sol)
    vi = T.value_iteration(mdp, tol=1e-9)
    assert vi.eta >= sol.eta - 1e-9 - v_tol(mdp)


def test_non_optimal_policy_has_positive_optimal_advantage():
    """STRO Lemma 3.2 (the 'only if' direction, guards against a vacuous A* = 0): a
    suboptimal policy with rho0 > 0 has A*_pi > 0."""
    rng = np.random.default_rng(5)
    mdp = testing.random_mdps(rng, 1, 3, 3, gamma=0.8, rho0_positive=True)[0]
    opt = T.policy_iteration(mdp)
    for pi in all_deterministic(3, 3):
        gap = opt.eta - T.evaluate(mdp, pi).eta
        a_star = T.optimal_advantage(mdp, pi)
        assert a_star >= -1e-12
        if gap > 1e-8:
            assert a_star > 0
            # PDL: eta* - eta = sum_s rho_*(s) sum_a pi*(a|s) A_pi(s, a) <= max_s (rho_*/rho_pi)(s) A*
            ev = T.evaluate(mdp, pi)
            ratio = (T.evaluate(mdp, opt.pi).rho / ev.rho).max()
            assert gap <= ratio * a_star * (1 + 1e-9) + 1e-12


def test_hand_worked_optimum():
    """Two states, absorbing state 1 paying 2 per step; in state 0, 'stay' pays 1 per
    step and 'move' pays 0 once. With gamma: V(stay forever) = 1/(1-g),
    V(move) = g * 2/(1-g): move is optimal iff 2 g > 1."""
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = 1.0
    P[1, :, 1] = 1.0
    r = np.array([[1.0, 0.0], [2.0, 2.0]])
    for g, best in ((0.3, 0), (0.8, 1)):
        mdp = T.TabularMDP(P, r, np.array([1.0, 0.0]), g)
        for sol in (T.policy_iteration(mdp), T.value_iteration(mdp)):
            assert sol.pi[0, best] == 1.0
            expected = 1 / (1 - g) if best == 0 else 2 * g / (1 - g)
            assert sol.eta == pytest.approx(expected, rel=1e-13)


def test_ties_terminate():
    """All actions identical: policy iteration stops at once (no cycling among ties)."""
    mdp = T.TabularMDP(np.full((3, 4, 3), 1 / 3), np.zeros((3, 4)), np.full(3, 1 / 3), 0.9)
    sol = T.policy_iteration(mdp)
    assert sol.iterations == 1
    assert sol.eta == 0.0


def test_greedy_policy():
    rng = np.random.default_rng(6)
    mdp = testing.random_mdps(rng, 1, 4, 3)[0]
    pi = testing.random_policies(rng, 1, 4, 3)[0]
    A = T.evaluate(mdp, pi).A
    np.testing.assert_array_equal(T.greedy_policy(mdp, pi), np.eye(3)[A.argmax(1)])
    # one policy-improvement step never decreases V (policy improvement theorem)
    V_new = T.evaluate(mdp, T.greedy_policy(mdp, pi)).V
    assert np.all(V_new >= T.evaluate(mdp, pi).V - 1e-12)


# ------------------------------------------------------------------ CPI (TRPO eq. 5-6)


def test_cpi_mixture_formula_and_broadcast():
    rng = np.random.default_rng(7)
    pi, pi_p = testing.random_policies(rng, 2, 3, 4)
    for a in (0.0, 0.25, 1.0):
        np.testing.assert_allclose(T.cpi_mixture(pi, pi_p, a), (1 - a) * pi + a * pi_p, rtol=1e-15)
    np.testing.assert_array_equal(T.cpi_mixture(pi, pi_p, 0.0), pi)
    np.testing.assert_array_equal(T.cpi_mixture(pi, pi_p, 1.0), pi_p)
    alphas = np.array([0.0, 0.5, 1.0])
    out = T.cpi_mixture(pi, pi_p, alphas)
    assert out.shape == (3, 3, 4)
    for i, a in enumerate(alphas):
        np.testing.assert_allclose(out[i], (1 - a) * pi + a * pi_p, rtol=1e-15)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-15)


@given(testing.mdp_and_policy(max_states=4, max_actions=3), st.floats(0.0, 1.0))
def test_cpi_kakade_langford_bound(case, alpha):
    """TRPO eq. 6: with pi' = greedy, pi_new = (1-a) pi + a pi',
    eta(pi_new) >= L_pi(pi_new) - 2 eps' gamma a^2 / (1-gamma)^2, eps' = max_s |E_{pi'} A_pi|."""
    mdp, pi = case
    g = float(mdp.gamma)
    pi_p = T.greedy_policy(mdp, pi)
    pi_new = T.cpi_mixture(pi, pi_p, alpha)
    ev = T.evaluate(mdp, pi)
    eps_p = np.abs((pi_p * ev.A).sum(1)).max()
    lhs = T.evaluate(mdp, pi_new).eta
    bound = T.surrogate(mdp, pi, pi_new) - 2 * eps_p * g * alpha**2 / (1 - g) ** 2
    assert lhs >= bound - 8 * v_tol(mdp) / (1 - g)


@pytest.mark.parametrize("gap", [1e-7, -1e-7])
def test_near_tie_is_resolved(gap):
    """State 0: 'stay' pays 1 forever (V = 1/(1-g)); 'move' pays 0 then goes to the absorbing
    state 1 paying r1 with g r1/(1-g) = 1/(1-g) + gap. The optimal action flips with the sign
    of the gap, which is tiny against |V| = 10: value iteration must iterate until the
    greedy policy is tol-optimal (tol = 1e-10 << gap), and policy iteration's improvement
    threshold (1e-12 relative) must see the gap. Early-stopped value iteration sees the
    transient difference -g^k and picks 'stay'."""
    g = 0.9
    r1 = (1 + gap * (1 - g)) / g
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = 1.0
    P[1, :, 1] = 1.0
    mdp = T.TabularMDP(P, np.array([[1.0, 0.0], [r1, r1]]), np.array([1.0, 0.0]), g)
    best = 1 if gap > 0 else 0
    for sol in (T.policy_iteration(mdp), T.value_iteration(mdp)):
        assert sol.pi[0, best] == 1.0
        assert sol.eta == pytest.approx(1 / (1 - g) + max(gap, 0.0), abs=1e-12)


def test_iteration_cap_is_reported():
    """An optimizer stopped by max_iter must say so (DESIGN.md: numerical failures are
    reported in the result): value iteration capped at 2 sweeps on a near tie returns a
    suboptimal greedy policy (checked below), which must not be presented as the optimum:
    ``converged`` must be False."""
    g, gap = 0.99, 1e-3  # the near-tie MDP of test_near_tie_is_resolved
    r1 = (1 + gap * (1 - g)) / g
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[0, 1, 1] = 1.0
    P[1, :, 1] = 1.0
    mdp = T.TabularMDP(P, np.array([[1.0, 0.0], [r1, r1]]), np.array([1.0, 0.0]), g)
    opt = T.policy_iteration(mdp)
    capped = T.value_iteration(mdp, max_iter=2)
    assert capped.eta < opt.eta - 1e-6  # the premise: 2 sweeps are not enough here
    assert getattr(capped, "converged", True) is False
    assert getattr(opt, "converged", True) is True
