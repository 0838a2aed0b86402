"""The generators of :mod:`trustopt.testing` produce valid instances and actually reach the
edge cases they advertise (gamma = 0, one state, one action, deterministic transitions and
policies, absorbing states, rewards of mixed sign, ...): each edge case is found by
``hypothesis.find`` (deterministic: a fixed ``random`` and no database)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from trustopt import tabular as T
from trustopt import testing
from trustopt._validation import ValidationError

FIND = settings(max_examples=2000, database=None, deadline=None, phases=[Phase.generate])  # no shrinking


def found(strategy, predicate):
    """``hypothesis.find`` with a fixed seed; fails the test if no example satisfies it."""
    return find(strategy, predicate, settings=FIND, random=random.Random(0))


def _is_one_hot(row):
    return np.count_nonzero(row) == 1 and row.max() == 1.0


# ------------------------------------------------------------------ mdps()


@pytest.mark.parametrize(
    "name, predicate",
    [
        ("gamma = 0", lambda m: m.gamma == 0.0),
        ("gamma = 0.99", lambda m: m.gamma == 0.99),
        ("one state", lambda m: m.n_states == 1),
        ("one action", lambda m: m.n_actions == 1),
        ("max size", lambda m: m.n_states == 4 and m.n_actions == 3),
        # two absorbing states with 3 actions each: reached by the deliberate option, not by
        # chance (random one-hot rows self-loop for all 3 actions with probability ~1e-3)
        ("absorbing states", lambda m: m.n_states >= 3 and m.n_actions == 3
         and sum(np.all(m.P[s, :, s] == 1.0) for s in range(m.n_states)) >= 2),
        (
            "deterministic non-absorbing transition",
            lambda m: any(
                _is_one_hot(m.P[s, a]) and m.P[s, a, s] == 0.0 for s in range(m.n_states) for a in range(m.n_actions)
            ),
        ),
        ("stochastic transition row", lambda m: np.any((m.P > 0) & (m.P < 1))),
        ("transition row with zeros", lambda m: np.any(np.all((m.P == 0) | ((m.P > 0) & (m.P < 1)), -1) & np.any(m.P == 0, -1) & (m.P.max(-1) < 1))),
        ("mixed-sign rewards", lambda m: m.r.min() < 0 < m.r.max()),
        ("all-zero rewards", lambda m: m.n_states > 1 and np.all(m.r == 0)),
        ("state-only rewards", lambda m: m.n_actions > 1 and np.all(m.r == m.r[:, :1]) and np.ptp(m.r) > 0),
        ("state-action rewards", lambda m: np.any(np.ptp(m.r, axis=1) > 0)),
        ("rho0 with zeros", lambda m: np.any(m.rho0 == 0)),
        ("rho0 uniform", lambda m: m.n_states > 1 and np.all(m.rho0 == m.rho0[0])),
    ],
)
def test_mdps_reach_edge_case(name, predicate):
    mdp = found(testing.mdps(), predicate)
    assert predicate(mdp), name


@given(testing.mdps())
def test_mdps_are_valid_and_within_bounds(mdp):
    assert isinstance(mdp, T.TabularMDP)
    assert 1 <= mdp.n_states <= 4 and 1 <= mdp.n_actions <= 3
    assert 0.0 <= mdp.gamma <= 0.99
    assert mdp.batch_shape == ()
    assert np.all(np.abs(mdp.r) <= 1.0)
    np.testing.assert_allclose(mdp.P.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(mdp.rho0.sum(), 1.0, atol=1e-12)


@given(testing.mdps(min_states=2, max_states=3, min_actions=2, max_actions=2, gamma=0.7,
                    rho0_positive=True, reward_scale=5.0))
def test_mdps_options(mdp):
    assert 2 <= mdp.n_states <= 3 and mdp.n_actions == 2
    assert mdp.gamma == 0.7
    assert np.all(mdp.rho0 > 0)  # STRO eq. 3.5
    assert np.all(np.abs(mdp.r) <= 5.0)


def test_mdps_reward_scale_reached_and_gamma_strategy():
    assert found(testing.mdps(reward_scale=5.0), lambda m: np.abs(m.r).max() > 1.0)
    m = found(testing.mdps(gamma=st.sampled_from([0.25, 0.5])), lambda m: m.gamma == 0.5)
    assert m.gamma == 0.5


# ------------------------------------------------------------------ probability vectors and policies


@pytest.mark.parametrize(
    "name, predicate",
    [
        ("one-hot", lambda p: _is_one_hot(p)),
        ("near one-hot", lambda p: 0.99 < p.max() < 1.0),
        ("uniform", lambda p: np.all(p == p[0])),
        ("random with zeros", lambda p: np.any(p == 0) and np.count_nonzero(p) >= 2),
        ("random full support", lambda p: np.all(p > 0) and np.ptp(p) > 0.1),
    ],
)
def test_probability_vectors_reach(name, predicate):
    p = found(testing.probability_vectors(4), predicate)
    assert predicate(p), name


@given(st.integers(1, 6).flatmap(lambda n: st.tuples(st.just(n), testing.probability_vectors(n, allow_zeros=False, min_entry=0.01 / n))))
def test_probability_vectors_min_entry(case):
    n, p = case
    assert p.shape == (n,)
    assert abs(p.sum() - 1.0) < 1e-12
    assert np.all(p >= 0.01 / n * (1 - 1e-9))


@given(testing.probability_vectors(5))
def test_probability_vectors_valid(p):
    assert p.shape == (5,) and np.all(p >= 0) and abs(p.sum() - 1) < 1e-12


@pytest.mark.parametrize(
    "name, predicate",
    [
        ("deterministic policy", lambda pi: all(_is_one_hot(row) for row in pi)),
        ("mixed deterministic and stochastic rows", lambda pi: any(_is_one_hot(r) for r in pi) and not all(_is_one_hot(r) for r in pi)),
        ("near-deterministic row", lambda pi: np.any((pi.max(1) > 0.99) & (pi.max(1) < 1.0))),
        ("uniform policy", lambda pi: np.all(pi == 1 / 3)),
    ],
)
def test_policies_reach(name, predicate):
    pi = found(testing.policies(3, 3), predicate)
    assert predicate(pi), name


@given(testing.policies(3, 4, full_support=True))
def test_policies_full_support(pi):
    assert pi.shape == (3, 4)
    assert np.all(pi >= 1e-3 / 4 * (1 - 1e-9))
    np.testing.assert_allclose(pi.sum(1), 1.0, atol=1e-12)


@pytest.mark.parametrize(
    "name, predicate",
    [
        ("identical pair", lambda c: np.array_equal(c[0], c[1])),
        ("pi_new leaves pi's support (finite KL, infinite reverse KL)", lambda c: not np.isinf(T.kl(c[0], c[1])).any() and np.isinf(T.kl(c[1], c[0])).any()),
        ("small step", lambda c: 0 < T.max_tv(c[0], c[1]) < 0.05),
        ("large step", lambda c: T.max_tv(c[0], c[1]) > 0.5),
    ],
)
def test_policy_pairs_reach(name, predicate):
    case = found(testing.policy_pairs(2, 2), predicate)
    assert predicate(case), name


@pytest.mark.slow
def test_policy_pairs_reach_infinite_kl():
    """pi_new putting zero mass on an action pi plays (KL(pi || pi_new) = +inf) is reached,
    but rarely (~0.8% of draws of policy_pairs(3, 3); about 10 s of search), hence slow."""
    # Hypothesis seeds its draws with literal constants of the modules imported so far, so the draws
    # (not the strategy) depend on which tests ran before: a few fixed seeds make the search robust.
    for seed in range(5):
        try:
            pi, pi_new = find(testing.policy_pairs(3, 3), lambda c: np.isinf(T.kl(c[0], c[1])).any(), settings=FIND,
                              random=random.Random(seed))
            break
        except NoSuchExample:
            continue
    else:
        pytest.fail("policy_pairs(3, 3) never gave an infinite KL in 5 x 2000 draws")
    assert np.any((pi > 0) & (pi_new == 0))


@given(testing.mdp_and_policy_pair(max_step=0.2, full_support=True))
def test_mdp_and_policy_pair_valid_and_nearby(case):
    mdp, pi, pi_new = case
    T.check_policy(mdp, pi, "pi")
    T.check_policy(mdp, pi_new, "pi_new")
    assert np.all(pi > 0) and np.all(pi_new > 0)
    assert np.all(np.isfinite(T.kl(pi, pi_new)))


@given(testing.mdp_and_policy(gamma=0.0, max_states=2))
def test_mdp_and_policy_kwargs_forwarded(case):
    mdp, pi = case
    assert mdp.gamma == 0.0 and mdp.n_states <= 2
    assert pi.shape == (mdp.n_states, mdp.n_actions)


# ------------------------------------------------------------------ NumPy batch generators


def test_random_mdps():
    rng = np.random.default_rng(0)
    mdps = testing.random_mdps(rng, 50, 4, 3)
    assert mdps.batch_shape == (50,) and mdps.n_states == 4 and mdps.n_actions == 3
    assert mdps.gamma.shape == (50,)
    assert np.all((mdps.gamma >= 0) & (mdps.gamma < 0.99))
    assert np.unique(mdps.gamma).size == 50
    assert mdps.r.min() < 0 < mdps.r.max() and np.abs(mdps.r).max() <= 1
    m2 = testing.random_mdps(rng, 5, 2, 2, gamma=0.3, reward_scale=7.0, rho0_positive=True)
    np.testing.assert_array_equal(m2.gamma, 0.3)
    assert np.all(m2.rho0 >= 0.1 / 2) and np.abs(m2.r).max() <= 7.0 and np.abs(m2.r).max() > 1.0
    # small concentration: near-deterministic transitions
    m3 = testing.random_mdps(rng, 20, 4, 2, concentration=0.01)
    assert np.median(m3.P.max(-1)) > 0.99
    # same seed, same instances
    a = testing.random_mdps(np.random.default_rng(3), 4, 3, 2)
    b = testing.random_mdps(np.random.default_rng(3), 4, 3, 2)
    np.testing.assert_array_equal(a.P, b.P)
    np.testing.assert_array_equal(a.r, b.r)
    np.testing.assert_array_equal(a.gamma, b.gamma)


def test_random_policies():
    rng = np.random.default_rng(1)
    pis = testing.random_policies(rng, 30, 3, 4)
    assert pis.shape == (30, 3, 4)
    np.testing.assert_allclose(pis.sum(-1), 1.0, atol=1e-12)
    assert np.all(pis > 0)
    det = testing.random_policies(rng, 30, 3, 4, deterministic_fraction=1.0)
    assert np.all(det.max(-1) == 1.0) and np.all(np.count_nonzero(det, axis=-1) == 1)
    half = testing.random_policies(rng, 200, 3, 4, deterministic_fraction=0.5)
    frac = np.mean(half.max(-1) == 1.0)
    assert 0.4 < frac < 0.6  # binomial(600, 0.5): sd 0.02, so 5 sd


def test_nearby_policies():
    rng = np.random.default_rng(2)
    pi = testing.random_policies(rng, 8, 3, 4, deterministic_fraction=0.3)
    np.testing.assert_allclose(testing.nearby_policies(rng, pi, 0.0), pi, rtol=1e-14, atol=1e-300)
    near = testing.nearby_policies(rng, pi, 0.3)
    np.testing.assert_array_equal(near > 0, pi > 0)  # support preserved
    assert np.all(np.isfinite(T.kl(pi, near)))
    np.testing.assert_allclose(near.sum(-1), 1.0, atol=1e-12)
    scales = np.array([0.0, 1e-3, 1e-2, 0.1, 0.3, 1.0, 2.0, 3.0])
    per = testing.nearby_policies(np.random.default_rng(5), pi, scales)
    np.testing.assert_allclose(per[0], pi[0], rtol=1e-14, atol=1e-300)
    tvs = T.max_tv(pi, per)
    assert tvs[1] < 0.01 < tvs[-1]


@pytest.mark.parametrize("bad", [dict(n=0), dict(n_states=0), dict(n_actions=1.5), dict(n=-3)])
def test_generator_size_validation(bad):
    kw = dict(n=2, n_states=2, n_actions=2) | bad
    name = next(iter(bad))
    with pytest.raises(ValidationError, match=name):
        testing.random_mdps(np.random.default_rng(0), kw["n"], kw["n_states"], kw["n_actions"])
    with pytest.raises(ValidationError, match=name):
        testing.random_policies(np.random.default_rng(0), kw["n"], kw["n_states"], kw["n_actions"])


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda rng: testing.random_mdps(rng, 2, 2, 2, concentration=0.0), "concentration"),
        (lambda rng: testing.random_mdps(rng, 2, 2, 2, concentration=-1.0), "concentration"),
        (lambda rng: testing.random_policies(rng, 2, 2, 2, concentration=0.0), "concentration"),
        (lambda rng: testing.random_policies(rng, 2, 2, 2, deterministic_fraction=1.5), "deterministic_fraction"),
        (lambda rng: testing.random_policies(rng, 2, 2, 2, deterministic_fraction=-0.5), "deterministic_fraction"),
    ],
)
def test_generator_hyperparameter_validation(make, name):
    """Generator options are validated at the boundary with the argument named (DESIGN.md):
    concentration <= 0 gave numpy's 'alpha < 0', or a ValidationError about P, or (for
    policies) silently invalid rows; deterministic_fraction outside [0, 1] was accepted."""
    with pytest.raises(ValidationError, match=name):
        make(np.random.default_rng(0))


# ------------------------------------------------------------------ sizes as strategies, shrinking, profiles

SHRINK = settings(max_examples=300, database=None, deadline=None)  # with shrinking


def minimal(strategy, predicate):
    return find(strategy, predicate, settings=SHRINK, random=random.Random(0))


@given(testing.mdps(n_states=st.sampled_from([2, 5]), n_actions=3))
def test_mdps_sizes_accept_strategies_and_ints(mdp):
    assert mdp.n_states in (2, 5) and mdp.n_actions == 3


def test_mdps_shrink_toward_simple_instances():
    # any MDP with two states: the reported one is the simplest
    m = minimal(testing.mdps(), lambda m: m.n_states >= 2)
    assert m.n_states == 2 and m.n_actions == 1 and m.gamma == 0.0 and np.all(np.asarray(m.r) == 0)
    assert set(np.unique(np.asarray(m.P))) <= {0.0, 0.5, 1.0}
    # a failing property about rewards shrinks to round rewards
    m = minimal(testing.mdps(), lambda m: np.asarray(m.r).min() < 0)
    assert np.asarray(m.r).min() in (-1.0, -0.5) and m.gamma == 0.0


def test_probabilities_shrink_to_round_values():
    p = minimal(testing.probability_vectors(3), lambda p: p.max() < 1 and p.min() < p.max())
    assert np.allclose(p * 4, np.round(p * 4)) or np.allclose(p * 12, np.round(p * 12))


@given(testing.lqr_and_policy())
def test_lqr_and_policy_are_valid_and_stable(case):
    from trustopt import lqr

    L, pi = case
    assert 1 <= L.n <= 3 and 1 <= L.m <= 2 and 0 <= L.gamma < 1
    assert lqr.spectral_radius(L, pi) <= 0.95 + 1e-12
    assert np.isfinite(lqr.eta(L, pi))


def test_lqr_strategy_sizes_and_shrinking():
    L, pi = minimal(testing.lqr_and_policy(n_states=st.integers(1, 4), n_actions=1), lambda c: c[0].n >= 2)
    assert L.n == 2 and L.m == 1 and L.gamma == 0.0 and np.all(L.A == 0)


@given(testing.categorical_products(d=st.integers(1, 3), k=2))
def test_categorical_products_match_enumeration(case):
    model, theta, thetat = case
    d = theta.shape[0]
    p = np.exp(theta) / np.exp(theta).sum(axis=1, keepdims=True)
    J = 0.0  # E[F(X)] by enumerating the 2^d points (independent of the model's contraction)
    for x in np.ndindex(*([2] * d)):
        J += float(np.prod([p[i, x[i]] for i in range(d)])) * float(model.F[x])
    assert abs(float(model.J(theta[None])[0]) - J) <= 1e-12 * (1 + abs(J))


@given(testing.gaussian_products(d=2))
def test_gaussian_products_quadratic_smoothing(case):
    model, theta, thetat = case
    F = model.F
    # E[x'Hx/2 + g'x + c] = theta'H theta/2 + g'theta + c + sum_j sigma_j^2 H_jj/2
    H, g, c = np.asarray(F.H), np.asarray(F.g), float(F.c)
    ref = theta @ H @ theta / 2 + g @ theta + c + np.sum(np.asarray(model.sigma) ** 2 * np.diag(H)) / 2
    assert abs(float(model.J(theta[None])[0]) - ref) <= 1e-10 * (1 + abs(ref))


def test_load_profile():
    from hypothesis import settings as hs

    before = hs.default
    try:
        testing.load_profile("explore")
        assert hs.default.max_examples == 2000 and not hs.default.derandomize
        testing.load_profile("ci")
        assert hs.default.derandomize and hs.default.max_examples == 60
        with pytest.raises(ValueError, match="unknown profile"):
            testing.load_profile("nightly")
    finally:
        hs.load_profile("ci")
        assert hs.default.derandomize == before.derandomize
