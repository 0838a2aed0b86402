"""Softmax policies and the exact policy-gradient-theorem gradients (STRO eq. 2.6; TRPO
eq. 4) against central finite differences of the exact ``eta`` and ``L``.

Finite-difference tolerance: for a smooth f, the central difference with step h has error
<= h^2/6 max|f'''| + eps |f| / h. eta(softmax(theta)) has derivatives bounded by
polynomials in ||r|| / (1 - gamma) and 1/(1 - gamma), so with h = 1e-5 and gamma <= 0.9,
||r|| <= 1 the error is <= ~1e-8; we use atol 1e-7 (with gamma = 0.99, 1e-5).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trustopt import tabular as T
from trustopt import testing

from _helpers import fd_grad

H = 1e-5


def test_softmax_policy_rows_and_stability():
    theta = np.array([[0.0, 0.0], [1000.0, 0.0], [-1000.0, -1000.0], [np.log(3.0), 0.0]])
    pi = T.softmax_policy(theta)
    np.testing.assert_allclose(pi, [[0.5, 0.5], [1.0, 0.0], [0.5, 0.5], [0.75, 0.25]], rtol=1e-15, atol=1e-300)
    assert np.all(np.isfinite(pi))
    rng = np.random.default_rng(0)
    th = rng.normal(size=(3, 4, 5))
    np.testing.assert_allclose(T.softmax_policy(th + rng.normal(size=(3, 4, 1))), T.softmax_policy(th), rtol=1e-13)
    np.testing.assert_allclose(T.softmax_policy(th).sum(-1), 1.0, rtol=1e-15)


@given(testing.mdps(max_states=3, max_actions=3, gamma=st.sampled_from([0.0, 0.5, 0.9])), st.integers(0, 2**32 - 1))
def test_grad_eta_softmax_against_finite_differences(mdp, seed):
    theta = np.random.default_rng(seed).normal(scale=1.5, size=(mdp.n_states, mdp.n_actions))
    g = T.grad_eta_softmax(mdp, theta)
    g_fd = fd_grad(lambda th: T.evaluate(mdp, T.softmax_policy(th)).eta, theta, h=H)
    np.testing.assert_allclose(g, g_fd, rtol=0, atol=1e-7)


@pytest.mark.parametrize("seed", range(3))
def test_grad_eta_softmax_high_gamma(seed):
    rng = np.random.default_rng(seed)
    mdp = testing.random_mdps(rng, 1, 4, 3, gamma=0.99)[0]
    theta = rng.normal(size=(4, 3))
    g = T.grad_eta_softmax(mdp, theta)
    g_fd = fd_grad(lambda th: T.evaluate(mdp, T.softmax_policy(th)).eta, theta, h=1e-4)
    np.testing.assert_allclose(g, g_fd, rtol=0, atol=1e-5 * max(1.0, np.abs(g).max()))
    assert np.abs(g).max() > 1e-3  # not a vacuous comparison


@given(testing.mdp_and_policy(max_states=3, max_actions=3, gamma=st.sampled_from([0.0, 0.5, 0.9])),
       st.integers(0, 2**32 - 1))
def test_grad_surrogate_softmax_against_finite_differences(case, seed):
    """d L_pi(pi_theta') / d theta' by central differences of the exact surrogate; pi may be
    deterministic (the surrogate only needs pi's rho and A)."""
    mdp, pi = case
    theta_new = np.random.default_rng(seed).normal(scale=1.5, size=pi.shape)
    g = T.grad_surrogate_softmax(mdp, pi, theta_new)
    g_fd = fd_grad(lambda th: T.surrogate(mdp, pi, T.softmax_policy(th)), theta_new, h=H)
    np.testing.assert_allclose(g, g_fd, rtol=0, atol=1e-7)


@given(testing.mdps(max_states=4, max_actions=3), st.integers(0, 2**32 - 1))
def test_surrogate_first_order_agreement(mdp, seed):
    """TRPO eq. 4 / STRO eq. 2.7: at theta' = theta, L = eta and grad L = grad eta."""
    theta = np.random.default_rng(seed).normal(scale=2.0, size=(mdp.n_states, mdp.n_actions))
    pi = T.softmax_policy(theta)
    g_eta = T.grad_eta_softmax(mdp, theta)
    g_L = T.grad_surrogate_softmax(mdp, pi, theta)
    scale = max(1.0, np.abs(mdp.r).max()) / (1 - float(mdp.gamma)) ** 2
    np.testing.assert_allclose(g_L, g_eta, rtol=0, atol=1e-12 * scale)
    assert T.surrogate(mdp, pi, pi) == pytest.approx(T.evaluate(mdp, pi).eta, abs=1e-11 * scale)


def test_gradients_batched():
    rng = np.random.default_rng(7)
    mdps = testing.random_mdps(rng, 4, 3, 2)
    theta = rng.normal(size=(4, 3, 2))
    theta_new = rng.normal(size=(4, 3, 2))
    pi = T.softmax_policy(theta)
    g = T.grad_eta_softmax(mdps, theta)
    gL = T.grad_surrogate_softmax(mdps, pi, theta_new)
    assert g.shape == gL.shape == (4, 3, 2)
    for i in range(4):
        np.testing.assert_allclose(g[i], T.grad_eta_softmax(mdps[i], theta[i]), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(gL[i], T.grad_surrogate_softmax(mdps[i], pi[i], theta_new[i]), rtol=1e-12, atol=1e-14)
    # many thetas against one MDP
    g1 = T.grad_eta_softmax(mdps[0], theta)
    for i in range(4):
        np.testing.assert_allclose(g1[i], T.grad_eta_softmax(mdps[0], theta[i]), rtol=1e-12, atol=1e-14)
