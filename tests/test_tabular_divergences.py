"""Per-state divergences (TV, KL(pi || pi_new)) and their aggregates, against explicit
loops and the conventions of CLAIMS.md (0 log 0 = 0; +inf off pi_new's support)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given

from trustopt import tabular as T
from trustopt import testing


def tv_loop(pi, pit):
    S, A = pi.shape
    return np.array([0.5 * sum(abs(pi[s, a] - pit[s, a]) for a in range(A)) for s in range(S)])


def kl_loop(pi, pit):
    out = []
    for s in range(pi.shape[0]):
        tot = 0.0
        for a in range(pi.shape[1]):
            p, q = pi[s, a], pit[s, a]
            if p == 0.0:
                continue  # 0 log 0 = 0 (and 0 log 0/q = 0)
            tot += math.inf if q == 0.0 else p * math.log(p / q)
        out.append(tot)
    return np.array(out)


@given(testing.mdp_and_policy_pair())
def test_tv_kl_against_loops(case):
    mdp, pi, pit = case
    np.testing.assert_allclose(T.tv(pi, pit), tv_loop(pi, pit), rtol=1e-14, atol=1e-15)
    k = T.kl(pi, pit)
    k_ref = kl_loop(pi, pit)
    assert k.shape == (mdp.n_states,)
    np.testing.assert_array_equal(np.isinf(k), np.isinf(k_ref))
    fin = np.isfinite(k_ref)
    np.testing.assert_allclose(k[fin], k_ref[fin], rtol=1e-12, atol=1e-15)
    assert T.max_tv(pi, pit) == pytest.approx(tv_loop(pi, pit).max(), rel=1e-14, abs=1e-15)
    assert T.max_kl(pi, pit) == k.max()
    # KL >= 0 up to round-off; Pinsker TV^2 <= KL / 2 (TRPO sec. 3) on finite states
    assert np.all(k >= -1e-15)
    assert np.all(T.tv(pi, pit)[fin] ** 2 <= k[fin] / 2 + 1e-14)


def test_zero_log_zero_and_infinite_kl():
    pi = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    pit = np.array([[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.2, 0.3, 0.5]])
    k = T.kl(pi, pit)
    assert k[0] == pytest.approx(math.log(2.0), rel=1e-15)  # zero entries of pi contribute 0
    assert k[1] == math.inf  # pit(1|1) = 0 while pi(1|1) = 0.5
    assert k[2] == 0.0
    assert T.max_kl(pi, pit) == math.inf
    # reverse direction: KL(pit || pi) = +inf in states 0 and 1
    kr = T.kl(pit, pi)
    assert kr[0] == math.inf and kr[1] == math.inf and kr[2] == 0.0
    np.testing.assert_allclose(T.tv(pi, pit), [0.5, 0.5, 0.0], rtol=0, atol=1e-16)
    with np.errstate(all="raise"):  # no floating-point warnings leak
        T.kl(pi, pit)


def test_kl_closed_form_bernoulli():
    """KL(Bern(p) || Bern(q)) = p log(p/q) + (1-p) log((1-p)/(1-q))."""
    p, q = 0.3, 0.8
    pi = np.array([[p, 1 - p]])
    pit = np.array([[q, 1 - q]])
    ref = p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
    assert T.kl(pi, pit)[0] == pytest.approx(ref, rel=1e-14)
    assert T.tv(pi, pit)[0] == pytest.approx(0.5, rel=1e-15)


def test_divergences_batch():
    rng = np.random.default_rng(0)
    pi = testing.random_policies(rng, 6, 3, 4)
    pit = testing.nearby_policies(rng, pi, 0.3)
    k, t = T.kl(pi, pit), T.tv(pi, pit)
    assert k.shape == t.shape == (6, 3)
    for i in range(6):
        np.testing.assert_allclose(k[i], kl_loop(pi[i], pit[i]), rtol=1e-12)
        np.testing.assert_allclose(t[i], tv_loop(pi[i], pit[i]), rtol=1e-14)
    np.testing.assert_array_equal(T.max_kl(pi, pit), k.max(-1))
    np.testing.assert_array_equal(T.max_tv(pi, pit), t.max(-1))
    # one pi against many pi_new
    np.testing.assert_allclose(T.kl(pi[0], pit), np.stack([kl_loop(pi[0], q) for q in pit]), rtol=1e-12)


def test_visitation_weighted_rho_and_dbar():
    rng = np.random.default_rng(1)
    mdp = testing.random_mdps(rng, 1, 4, 3, gamma=0.8)[0]
    pi, pit = testing.random_policies(rng, 2, 4, 3)
    ev = T.evaluate(mdp, pi)
    dbar = T.normalized_visitation(mdp, ev)
    div = T.kl(pi, pit)
    by_rho = T.visitation_weighted(div, rho=ev.rho)
    by_dbar = T.visitation_weighted(div, dbar=dbar)
    assert by_rho == pytest.approx(sum(ev.rho[s] * div[s] for s in range(4)), rel=1e-14)
    assert by_dbar == pytest.approx(sum(dbar[s] * div[s] for s in range(4)), rel=1e-14)
    assert by_rho == pytest.approx(by_dbar / (1 - 0.8), rel=1e-13)  # unnormalized = normalized / (1 - gamma)


def test_visitation_weighted_zero_weight_on_infinite_divergence():
    div = np.array([np.inf, 0.5, 2.0])
    assert T.visitation_weighted(div, rho=np.array([0.0, 2.0, 1.0])) == pytest.approx(3.0)
    assert T.visitation_weighted(div, dbar=np.array([1e-300, 0.5, 0.5])) == math.inf
    out = T.visitation_weighted(np.stack([div, div]), rho=np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]))
    assert out[0] == pytest.approx(2.5) and out[1] == math.inf
