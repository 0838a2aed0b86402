"""Exact evaluation (V, Q, A, rho, eta), the surrogate and the advantages, against
independent references.

References:
- two-state MDPs worked by hand (2x2 inverse / geometric series);
- the Neumann series ``(I - gamma P_pi)^{-1} = sum_t (gamma P_pi)^t``, summed by repeated
  squaring to ``2^K`` terms (truncation error ``<= gamma^(2^K) / (1 - gamma) * ||r||``,
  negligible for the K used), with no linear solve;
- explicit Python loops for Q, eta, the surrogate.

Tolerances. ``M = I - gamma P_pi`` has ``||M||_inf <= 1 + gamma`` and
``||M^{-1}||_inf <= 1/(1 - gamma)``, so ``kappa_inf(M) <= (1 + gamma)/(1 - gamma)``; a
backward-stable solve gives a relative error ``O(S eps kappa)`` in ``V`` and ``rho``, with
``||V||_inf <= ||r||_inf / (1 - gamma)``. The tolerances below are that bound times a
small safety factor (``c = 64``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trustopt import tabular as T
from trustopt import testing

EPS = np.finfo(float).eps
SAFETY = 64.0


def kappa(gamma) -> float:
    return (1.0 + gamma) / (1.0 - gamma)


def v_tol(mdp) -> float:
    """Absolute error bound on V (and Q, A): c * eps * kappa * ||r|| / (1 - gamma)."""
    g = float(mdp.gamma)
    return SAFETY * EPS * mdp.n_states * kappa(g) * max(1.0, np.abs(mdp.r).max()) / (1.0 - g)


def neumann(X: np.ndarray, K: int = 24) -> np.ndarray:
    """``sum_{t < 2^K} X^t`` by the doubling ``N_{2n} = N_n + X^n N_n`` (no linear solve)."""
    N = np.eye(X.shape[-1])
    Xp = X.copy()
    for _ in range(K):
        N = N + Xp @ N
        Xp = Xp @ Xp
    return N


def reference_evaluation(P, r, rho0, gamma, pi):
    """Independent evaluation with explicit loops and the Neumann series."""
    S, A = r.shape
    P_pi = np.zeros((S, S))
    r_pi = np.zeros(S)
    for s in range(S):
        for a in range(A):
            P_pi[s] += pi[s, a] * P[s, a]
            r_pi[s] += pi[s, a] * r[s, a]
    N = neumann(gamma * P_pi)
    V = N @ r_pi
    rho = rho0 @ N  # rho(s) = sum_t gamma^t P(s_t = s)
    Q = np.zeros((S, A))
    for s in range(S):
        for a in range(A):
            Q[s, a] = r[s, a] + gamma * sum(P[s, a, t] * V[t] for t in range(S))
    eta = sum(rho0[s] * V[s] for s in range(S))
    return V, Q, Q - V[:, None], rho, eta


# ------------------------------------------------------------------ closed forms


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.99, 0.999])
@pytest.mark.parametrize("p, q", [(0.3, 0.6), (1.0, 0.0), (0.0, 0.0), (1.0, 1.0), (1e-3, 0.999)])
def test_two_state_chain_closed_form(gamma, p, q):
    """Chain with P_pi = [[1-p, p], [q, 1-q]], r_pi = (r0, r1), one action.

    By the 2x2 inverse: det(I - g P) = (1-g)(1-g+gp+gq),
    V0 = ((1-g+gq) r0 + g p r1)/det, V1 = (g q r0 + (1-g+gp) r1)/det,
    and rho^T = rho0^T (I - g P)^{-1} with the same adjugate.
    """
    r0, r1 = 1.0, -2.0
    P = np.array([[[1 - p, p]], [[q, 1 - q]]])
    rho0 = np.array([0.25, 0.75])
    mdp = T.TabularMDP(P, np.array([[r0], [r1]]), rho0, gamma)
    ev = T.evaluate(mdp, np.ones((2, 1)))
    g = gamma
    det = (1 - g) * (1 - g + g * p + g * q)
    V = np.array([((1 - g + g * q) * r0 + g * p * r1) / det, (g * q * r0 + (1 - g + g * p) * r1) / det])
    rho = np.array(
        [(rho0[0] * (1 - g + g * q) + rho0[1] * g * q) / det, (rho0[0] * g * p + rho0[1] * (1 - g + g * p)) / det]
    )
    tol = v_tol(mdp)
    np.testing.assert_allclose(ev.V, V, rtol=0, atol=tol)
    np.testing.assert_allclose(ev.rho, rho, rtol=0, atol=SAFETY * EPS * kappa(g) / (1 - g))
    np.testing.assert_allclose(ev.Q[:, 0], V, rtol=0, atol=tol)  # one action: Q = V
    np.testing.assert_allclose(ev.A, 0.0, atol=tol)
    assert ev.eta == pytest.approx(rho0 @ V, abs=tol)
    assert ev.rho.sum() == pytest.approx(1 / (1 - g), rel=SAFETY * EPS * kappa(g))


@pytest.mark.parametrize("gamma", [0.0, 0.6, 0.95])
def test_absorbing_two_state_two_action_closed_form(gamma):
    """State 0: action 0 stays (reward 1), action 1 moves to the absorbing state 1 (reward 0);
    state 1 gives reward 2 forever. Policy: stay w.p. x in state 0.

    Geometric series: V1 = 2/(1-g); V0 = (x + g (1-x) V1) / (1 - g x);
    rho(0) = 1/(1 - g x) (start in 0), rho(1) = 1/(1-g) - rho(0);
    Q(0, stay) = 1 + g V0, Q(0, move) = g V1, Q(1, .) = V1.
    """
    g, x = gamma, 0.7
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = 1.0
    P[0, 1, 1] = 1.0
    P[1, :, 1] = 1.0
    r = np.array([[1.0, 0.0], [2.0, 2.0]])
    mdp = T.TabularMDP(P, r, np.array([1.0, 0.0]), g)
    pi = np.array([[x, 1 - x], [0.5, 0.5]])
    ev = T.evaluate(mdp, pi)
    V1 = 2 / (1 - g)
    V0 = (x + g * (1 - x) * V1) / (1 - g * x)
    tol = v_tol(mdp)
    np.testing.assert_allclose(ev.V, [V0, V1], rtol=0, atol=tol)
    np.testing.assert_allclose(ev.Q, [[1 + g * V0, g * V1], [V1, V1]], rtol=0, atol=tol)
    np.testing.assert_allclose(ev.A, [[1 + g * V0 - V0, g * V1 - V0], [0, 0]], rtol=0, atol=tol)
    rho0_ = 1 / (1 - g * x)
    np.testing.assert_allclose(ev.rho, [rho0_, 1 / (1 - g) - rho0_], rtol=0, atol=SAFETY * EPS * kappa(g) / (1 - g))
    assert ev.eta == pytest.approx(V0, abs=tol)
    # surrogate of the deterministic "always move" policy, by hand: L = eta + rho(0) A(0, move)
    pi_move = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert T.surrogate(mdp, pi, pi_move) == pytest.approx(V0 + rho0_ * (g * V1 - V0), abs=tol * (1 + rho0_))


def test_gamma_zero_is_one_step():
    """gamma = 0: V = r_pi, rho = rho0, Q = r, eta = rho0 . r_pi (exactly)."""
    rng = np.random.default_rng(1)
    mdp = testing.random_mdps(rng, 1, 4, 3, gamma=0.0)[0]
    pi = testing.random_policies(rng, 1, 4, 3)[0]
    ev = T.evaluate(mdp, pi)
    r_pi = (pi * mdp.r).sum(1)
    np.testing.assert_allclose(ev.V, r_pi, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(ev.rho, mdp.rho0, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(ev.Q, mdp.r, rtol=1e-15, atol=1e-15)
    assert ev.eta == pytest.approx(mdp.rho0 @ r_pi, rel=1e-14, abs=1e-15)


def test_one_state_one_action():
    """S = A = 1: V = r / (1 - gamma), rho = 1 / (1 - gamma)."""
    mdp = T.TabularMDP(np.ones((1, 1, 1)), np.array([[-3.0]]), np.ones(1), 0.75)
    ev = T.evaluate(mdp, np.ones((1, 1)))
    assert ev.V[0] == pytest.approx(-12.0, rel=1e-15)
    assert ev.rho[0] == pytest.approx(4.0, rel=1e-15)
    assert ev.eta == pytest.approx(-12.0, rel=1e-15)
    assert ev.A[0, 0] == 0.0


def test_results_are_immutable_and_eta_is_float():
    rng = np.random.default_rng(2)
    mdp = testing.random_mdps(rng, 1, 3, 2)[0]
    ev = T.evaluate(mdp, np.full((3, 2), 0.5))
    assert isinstance(ev.eta, float)
    for arr in (ev.V, ev.Q, ev.A, ev.rho):
        assert not arr.flags.writeable
    with pytest.raises(AttributeError):
        ev.dbar  # noqa: B018 -- rho and dbar must never be confused
    np.testing.assert_allclose(T.normalized_visitation(mdp, ev), (1 - mdp.gamma) * ev.rho)


# ------------------------------------------------------------------ against the Neumann-series reference


def _check_against_reference(mdp, pi):
    V, Q, A, rho, eta = reference_evaluation(mdp.P, mdp.r, mdp.rho0, float(mdp.gamma), pi)
    ev = T.evaluate(mdp, pi)
    tol = v_tol(mdp)
    np.testing.assert_allclose(ev.V, V, rtol=0, atol=tol)
    np.testing.assert_allclose(ev.Q, Q, rtol=0, atol=tol)
    np.testing.assert_allclose(ev.A, A, rtol=0, atol=2 * tol)
    np.testing.assert_allclose(ev.rho, rho, rtol=0, atol=SAFETY * EPS * mdp.n_states * kappa(float(mdp.gamma)) / (1 - float(mdp.gamma)))
    assert ev.eta == pytest.approx(eta, abs=tol)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("gamma", [0.3, 0.99])
def test_evaluation_against_neumann_series(seed, gamma):
    rng = np.random.default_rng(seed)
    S, A = 2 + seed % 4, 1 + seed % 3
    mdp = testing.random_mdps(rng, 1, S, A, gamma=gamma, concentration=0.3, reward_scale=5.0)[0]
    pi = testing.random_policies(rng, 1, S, A, deterministic_fraction=0.3)[0]
    _check_against_reference(mdp, pi)


@given(testing.mdp_and_policy())
def test_evaluation_against_neumann_series_property(case):
    mdp, pi = case
    _check_against_reference(mdp, pi)


# ------------------------------------------------------------------ identities


def identity_tol(mdp) -> float:
    """Errors of sums of rho * A terms: ||rho||_1 <= 1/(1-gamma) times the error of A."""
    return 4 * v_tol(mdp) * max(1.0, 1.0 / (1.0 - float(mdp.gamma)))


@given(testing.mdp_and_policy_pair())
def test_identities(case):
    """sum rho = 1/(1-gamma); sum_a pi A = 0; eta = sum rho r_pi; L_pi(pi) = eta;
    policy_advantage = L - eta; A* >= max over policies of the policy advantage."""
    mdp, pi, pi_new = case
    g = float(mdp.gamma)
    ev = T.evaluate(mdp, pi)
    tol = identity_tol(mdp)
    assert ev.rho.sum() == pytest.approx(1 / (1 - g), rel=SAFETY * EPS * mdp.n_states * kappa(g))
    assert np.all(ev.rho >= -SAFETY * EPS * kappa(g) / (1 - g))
    np.testing.assert_allclose((pi * ev.A).sum(1), 0.0, atol=2 * v_tol(mdp))
    r_pi = (pi * mdp.r).sum(1)
    assert ev.eta == pytest.approx(ev.rho @ r_pi, abs=tol)
    assert T.surrogate(mdp, pi, pi) == pytest.approx(ev.eta, abs=tol)
    L = T.surrogate(mdp, pi, pi_new)
    assert T.policy_advantage(mdp, pi, pi_new) == pytest.approx(L - ev.eta, abs=tol)
    # the surrogate by an explicit double loop
    L_loop = ev.eta + sum(
        ev.rho[s] * pi_new[s, a] * ev.A[s, a] for s in range(mdp.n_states) for a in range(mdp.n_actions)
    )
    assert L == pytest.approx(L_loop, abs=tol)
    # A*_pi = max over pi_new of sum rho pi_new A >= any policy advantage (STRO eq. 3.7)
    a_star = T.optimal_advantage(mdp, pi)
    assert a_star >= -tol
    assert a_star >= T.policy_advantage(mdp, pi, pi_new) - tol
    greedy = T.greedy_policy(mdp, pi)
    assert T.policy_advantage(mdp, pi, greedy) == pytest.approx(a_star, abs=tol)


@given(testing.mdp_and_policy_pair())
def test_performance_difference_lemma(case):
    """Kakade-Langford (TRPO eq. 1, App. A Lemma 1):
    eta(pit) - eta(pi) = sum_s rho_pit(s) sum_a pit(a|s) A_pi(s, a)."""
    mdp, pi, pit = case
    ev, evt = T.evaluate(mdp, pi), T.evaluate(mdp, pit)
    rhs = np.sum(evt.rho[:, None] * pit * ev.A)
    assert evt.eta - ev.eta == pytest.approx(rhs, abs=2 * identity_tol(mdp))


def test_performance_difference_lemma_is_not_the_surrogate():
    """The lemma uses rho of the NEW policy: with rho of the old one (the surrogate), the
    identity fails on a generic instance -- guards against a swapped visitation."""
    rng = np.random.default_rng(3)
    mdp = testing.random_mdps(rng, 1, 3, 2, gamma=0.9)[0]
    pi, pit = testing.random_policies(rng, 2, 3, 2)
    gap = T.evaluate(mdp, pit).eta - T.surrogate(mdp, pi, pit)
    assert abs(gap) > 1e-4


# ------------------------------------------------------------------ batched path


def _assert_ev_equal(ev, ev_ref, idx):
    for name in ("V", "Q", "A", "rho"):
        np.testing.assert_allclose(getattr(ev, name)[idx], getattr(ev_ref, name), rtol=1e-12, atol=1e-12)
    assert np.asarray(ev.eta)[idx] == pytest.approx(ev_ref.eta, rel=1e-12, abs=1e-12)


def test_batched_many_mdps_many_policies():
    rng = np.random.default_rng(4)
    n, S, A = 12, 4, 3
    mdps = testing.random_mdps(rng, n, S, A)  # one gamma per MDP
    pis = testing.random_policies(rng, n, S, A, deterministic_fraction=0.2)
    ev = T.evaluate(mdps, pis)
    assert ev.V.shape == (n, S) and ev.Q.shape == (n, S, A) and ev.rho.shape == (n, S) and ev.eta.shape == (n,)
    for i in range(n):
        _assert_ev_equal(ev, T.evaluate(mdps[i], pis[i]), i)
        _check_against_reference(mdps[i], pis[i])
    L = T.surrogate(mdps, pis, pis[::-1])
    assert L.shape == (n,)
    for i in range(n):
        assert L[i] == pytest.approx(T.surrogate(mdps[i], pis[i], pis[n - 1 - i]), rel=1e-12, abs=1e-12)
    a_star = T.optimal_advantage(mdps, pis)
    for i in range(n):
        assert a_star[i] == pytest.approx(T.optimal_advantage(mdps[i], pis[i]), rel=1e-12, abs=1e-12)


def test_batched_broadcasting():
    """(n, S, A) policies against one MDP; one policy against n MDPs; (m, 1) x (n,) -> (m, n)."""
    rng = np.random.default_rng(5)
    n, m, S, A = 5, 3, 3, 2
    mdps = testing.random_mdps(rng, n, S, A)
    pis = testing.random_policies(rng, m, S, A)
    one = mdps[0]
    ev = T.evaluate(one, pis)
    assert ev.eta.shape == (m,)
    for j in range(m):
        _assert_ev_equal(ev, T.evaluate(one, pis[j]), j)
    ev = T.evaluate(mdps, pis[0])
    assert ev.eta.shape == (n,)
    for i in range(n):
        _assert_ev_equal(ev, T.evaluate(mdps[i], pis[0]), i)
    ev = T.evaluate(mdps, pis[:, None])
    assert ev.eta.shape == (m, n)
    for j in range(m):
        for i in range(n):
            _assert_ev_equal(ev, T.evaluate(mdps[i], pis[j]), (j, i))
    L = T.surrogate(mdps, pis[:, None], pis[::-1, None])
    assert L.shape == (m, n)
    assert L[1, 2] == pytest.approx(T.surrogate(mdps[2], pis[1], pis[m - 2]), rel=1e-12, abs=1e-12)


def test_stack_and_index_round_trip():
    rng = np.random.default_rng(6)
    ms = [testing.random_mdps(rng, 1, 3, 2, gamma=g)[0] for g in (0.0, 0.5, 0.9)]
    batched = T.stack(ms)
    assert batched.batch_shape == (3,)
    np.testing.assert_array_equal(batched.gamma, [0.0, 0.5, 0.9])
    for i, m in enumerate(ms):
        np.testing.assert_array_equal(batched[i].P, m.P)
        np.testing.assert_array_equal(batched[i].r, m.r)
        assert batched[i].gamma == m.gamma


@given(st.integers(1, 4), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_batched_equals_per_instance_property(S, A, seed):
    rng = np.random.default_rng(seed)
    mdps = testing.random_mdps(rng, 4, S, A, concentration=0.2)
    pis = testing.random_policies(rng, 4, S, A, deterministic_fraction=0.5)
    ev = T.evaluate(mdps, pis)
    for i in range(4):
        _assert_ev_equal(ev, T.evaluate(mdps[i], pis[i]), i)


def test_two_dimensional_batch():
    """Batch shape (2, 3) of MDPs, one policy: equals the flat batch of 6; indexing with a
    tuple gives one MDP; dbar = (1 - gamma) rho sums to 1 per MDP."""
    rng = np.random.default_rng(8)
    flat = testing.random_mdps(rng, 6, 3, 2)
    mb = T.TabularMDP(flat.P.reshape(2, 3, 3, 2, 3), flat.r.reshape(2, 3, 3, 2),
                      flat.rho0.reshape(2, 3, 3), flat.gamma.reshape(2, 3))
    pi = testing.random_policies(rng, 1, 3, 2)[0]
    ev = T.evaluate(mb, pi)
    assert ev.eta.shape == (2, 3) and ev.Q.shape == (2, 3, 3, 2)
    np.testing.assert_allclose(ev.eta.ravel(), T.evaluate(flat, pi).eta, rtol=1e-13)
    _assert_ev_equal(ev, T.evaluate(mb[1, 2], pi), (1, 2))
    assert mb[1].batch_shape == (3,)
    np.testing.assert_allclose(T.normalized_visitation(mb, ev).sum(-1), 1.0, rtol=1e-13)
    assert T.optimal_advantage(mb, pi).shape == (2, 3)
