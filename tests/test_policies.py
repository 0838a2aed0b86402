"""Policies: scores, KL, entropy and Fisher-vector products against independent references.

* scores against central finite differences of ``log_prob`` (error O(h^2) + O(eps/h));
* Fisher-vector products against the finite-difference Hessian of the mean KL (claim
  ``npg.fvp``, TRPO App. C.1) and against a dense ``J' M J`` assembled here from a
  finite-difference Jacobian of the distribution parameters;
* Gaussian expectations by Gauss-Hermite quadrature, which is EXACT for the polynomials
  involved (log-ratios are quadratic, score outer products quartic in the action), plus
  scipy.integrate.quad and a Monte Carlo check with a stated false-alarm rate;
* tabular Fisher against the covariance of the score by enumerating actions.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate
from scipy.stats import multivariate_normal

from trustopt import ValidationError, tabular
from trustopt.policies import LinearGaussian, TabularSoftmax


def fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def fd_hessian(f, x, h=1e-4):
    n = x.size
    H = np.zeros((n, n))
    E = np.eye(n) * h
    for i in range(n):
        for j in range(i, n):
            H[i, j] = H[j, i] = (
                f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j]) + f(x - E[i] - E[j])
            ) / (4 * h * h)
    return H


def gauss_hermite(mu, sigma, n_nodes=6):
    """Nodes (M, k) and weights (M,) with sum_m w_m f(a_m) = E_{N(mu, diag sigma^2)}[f] exactly
    for polynomials of degree <= 2 n_nodes - 1 in each coordinate."""
    x, w = np.polynomial.hermite.hermgauss(n_nodes)
    k = len(mu)
    nodes = np.array(list(itertools.product(x, repeat=k)))
    weights = np.prod(np.array(list(itertools.product(w, repeat=k))), axis=1) / np.pi ** (k / 2)
    return mu + np.sqrt(2.0) * sigma * nodes, weights


@st.composite
def gaussian_setup(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    obs_dim = draw(st.integers(1, 3))
    act_dim = draw(st.integers(1, 2))
    rng = np.random.default_rng(seed)
    pol = LinearGaussian(obs_dim, act_dim, init_log_std=rng.uniform(-1.0, 0.5, act_dim))
    theta = pol.init_theta(W=rng.standard_normal((act_dim, obs_dim)), b=rng.standard_normal(act_dim))
    obs = rng.standard_normal((draw(st.integers(1, 6)), obs_dim))
    return pol, theta, obs, rng


# ============================================================================= LinearGaussian


def test_pack_unpack_round_trip_and_layout():
    pol = LinearGaussian(3, 2, init_log_std=-0.5)
    W = np.arange(6.0).reshape(2, 3)
    theta = pol.pack(W, [7.0, 8.0], [-1.0, -2.0])
    np.testing.assert_array_equal(theta, [0, 1, 2, 3, 4, 5, 7, 8, -1, -2])
    W2, b2, ls2 = pol.unpack(theta)
    np.testing.assert_array_equal(W2, W)
    np.testing.assert_array_equal(b2, [7, 8])
    np.testing.assert_array_equal(ls2, [-1, -2])
    assert pol.n_params == 10 and theta[pol.slices["mean"]].size == 8
    np.testing.assert_array_equal(pol.init_theta()[pol.slices["log_std"]], [-0.5, -0.5])
    with pytest.raises(ValidationError, match="theta"):
        pol.mean(np.zeros(9), np.zeros(3))
    with pytest.raises(ValidationError, match="obs"):
        pol.mean(theta, np.zeros(4))
    with pytest.raises(ValidationError, match="init_log_std"):
        LinearGaussian(3, 2, init_log_std=[0.0, 0.0, 0.0])
    with pytest.raises(ValidationError, match="obs_dim"):
        LinearGaussian(0, 2)


@given(gaussian_setup())
def test_gaussian_log_prob_matches_scipy(setup):
    pol, theta, obs, rng = setup
    act = pol.sample(theta, obs, rng)
    W, b, ls = pol.unpack(theta)
    ref = [multivariate_normal(W @ s + b, np.diag(np.exp(2 * ls))).logpdf(a) for s, a in zip(obs, act)]
    np.testing.assert_allclose(pol.log_prob(theta, obs, act), ref, rtol=1e-12, atol=1e-12)


@given(gaussian_setup())
def test_gaussian_grad_log_prob_matches_finite_differences(setup):
    pol, theta, obs, rng = setup
    act = pol.sample(theta, obs, rng)
    G = pol.grad_log_prob(theta, obs, act)
    assert G.shape == (obs.shape[0], pol.n_params)
    for i in range(obs.shape[0]):
        ref = fd_grad(lambda th: pol.log_prob(th, obs[i], act[i]), theta)
        # central differences: O(h^2 f''') + O(eps |f| / h) ~ 1e-9 for these magnitudes
        np.testing.assert_allclose(G[i], ref, rtol=1e-6, atol=1e-6)


@given(gaussian_setup())
def test_gaussian_score_vector_product_is_contraction_of_scores(setup):
    pol, theta, obs, rng = setup
    act = pol.sample(theta, obs, rng)
    c = rng.standard_normal(obs.shape[0])
    np.testing.assert_allclose(
        pol.score_vector_product(theta, obs, act, c), pol.grad_log_prob(theta, obs, act).T @ c, rtol=1e-12, atol=1e-12
    )


@given(gaussian_setup())
def test_gaussian_kl_closed_form_vs_exact_quadrature(setup):
    pol, theta, obs, rng = setup
    theta_new = theta + 0.3 * rng.standard_normal(pol.n_params)
    kl = pol.kl(theta, theta_new, obs)
    assert kl.shape == (obs.shape[0],)
    sig = pol.std(theta)
    for i, s in enumerate(obs):
        # E_old[log p_old - log p_new]: the integrand is quadratic in a, so 6-node
        # Gauss-Hermite is exact up to round-off.
        a, w = gauss_hermite(pol.mean(theta, s), sig)
        ref = w @ (pol.log_prob(theta, np.broadcast_to(s, (len(w), s.size)), a)
                   - pol.log_prob(theta_new, np.broadcast_to(s, (len(w), s.size)), a))
        np.testing.assert_allclose(kl[i], ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pol.mean_kl(theta, theta_new, obs), kl.mean())
    assert np.all(pol.kl(theta, theta, obs) == 0.0)


def test_gaussian_kl_direction_and_adaptive_quadrature_1d():
    pol = LinearGaussian(1, 1)
    old = pol.pack([[0.0]], [0.0], [np.log(1.0)])
    new = pol.pack([[0.0]], [1.0], [np.log(2.0)])
    s = np.zeros((1, 1))
    # KL(N(0,1) || N(1,4)) = log 2 + (1 + 1)/8 - 1/2 ; the reverse is different
    np.testing.assert_allclose(pol.kl(old, new, s), [np.log(2) + 2 / 8 - 0.5], rtol=1e-14)
    np.testing.assert_allclose(pol.kl(new, old, s), [-np.log(2) + (4 + 1) / 2 - 0.5], rtol=1e-14)

    def integrand(a):
        lp_old = pol.log_prob(old, s[0], np.array([a]))
        return np.exp(lp_old) * (lp_old - pol.log_prob(new, s[0], np.array([a])))

    val, err = integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-13)
    np.testing.assert_allclose(pol.kl(old, new, s)[0], val, atol=1e-10)


def test_gaussian_kl_monte_carlo():
    # Statistical: mean of 200k log-ratio samples within 5 standard errors (false alarm < 1e-6
    # for a fixed seed this is deterministic; the bound documents the tolerance).
    rng = np.random.default_rng(7)
    pol = LinearGaussian(2, 2, init_log_std=[-0.2, 0.3])
    theta = pol.init_theta(W=rng.standard_normal((2, 2)), b=[0.1, -0.4])
    theta_new = theta + 0.2 * rng.standard_normal(pol.n_params)
    s = rng.standard_normal(2)
    S = np.broadcast_to(s, (200_000, 2))
    a = pol.sample(theta, S, rng)
    lr = pol.log_prob(theta, S, a) - pol.log_prob(theta_new, S, a)
    se = lr.std() / np.sqrt(lr.size)
    assert abs(lr.mean() - pol.kl(theta, theta_new, s)) < 5 * se


@given(gaussian_setup())
def test_gaussian_entropy_exact_quadrature(setup):
    pol, theta, obs, _ = setup
    a, w = gauss_hermite(pol.mean(theta, obs[0]), pol.std(theta))
    ref = -(w @ pol.log_prob(theta, np.broadcast_to(obs[0], (len(w), obs.shape[1])), a))
    np.testing.assert_allclose(pol.entropy(theta), ref, rtol=1e-10)


@given(gaussian_setup())
def test_gaussian_fvp_equals_finite_difference_hessian_of_mean_kl(setup):
    # claim npg.fvp (TRPO App. C.1 eq. 56-57): J'MJ v = Hess_{theta'} Dbar_KL(theta || theta') v at theta' = theta
    pol, theta, obs, rng = setup
    H = fd_hessian(lambda th: pol.mean_kl(theta, th, obs), theta)
    F = np.column_stack([pol.fisher_vector_product(theta, obs, e) for e in np.eye(pol.n_params)])
    # 4-point second differences: O(h^2) truncation + O(eps KL / h^2) ~ 1e-8 with h = 1e-4
    np.testing.assert_allclose(F, H, atol=2e-5 * max(1.0, np.abs(H).max()))
    np.testing.assert_allclose(F, F.T, atol=1e-12)
    v = rng.standard_normal(pol.n_params)
    np.testing.assert_allclose(pol.fisher_vector_product(theta, obs, v), H @ v, atol=2e-5 * (1 + np.abs(H).max()) * np.abs(v).sum())


@given(gaussian_setup())
def test_gaussian_fvp_equals_explicit_JtMJ_and_score_covariance(setup):
    pol, theta, obs, rng = setup
    k = pol.act_dim
    sigma = pol.std(theta)

    def dist_params(th, s):
        return np.concatenate([pol.mean(th, s), pol.unpack(th)[2]])  # (mu(s), log_std)

    M = np.diag(np.concatenate([1.0 / sigma**2, 2.0 * np.ones(k)]))
    F_dense = np.zeros((pol.n_params, pol.n_params))
    for s in obs:
        J = np.column_stack([fd_grad(lambda th: dist_params(th, s)[m], theta, h=1e-5) for m in range(2 * k)]).T
        F_dense += J.T @ M @ J / obs.shape[0]
    v = rng.standard_normal(pol.n_params)
    # dist params are linear in theta: finite differences are exact up to round-off
    np.testing.assert_allclose(pol.fisher_vector_product(theta, obs, v), F_dense @ v, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(pol.fisher_matrix(theta, obs), F_dense, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(
        pol.fisher_vector_product(theta, obs, v, damping=0.1), F_dense @ v + 0.1 * v, rtol=1e-8, atol=1e-8
    )
    # Fisher = E_s E_{a~pi}[score score'], exact by Gauss-Hermite (score is quadratic in a)
    F_score = np.zeros_like(F_dense)
    for s in obs:
        a, w = gauss_hermite(pol.mean(theta, s), sigma, n_nodes=4)
        G = pol.grad_log_prob(theta, np.broadcast_to(s, (len(w), s.size)), a)
        F_score += (G.T * w) @ G / obs.shape[0]
    np.testing.assert_allclose(F_score, F_dense, rtol=1e-8, atol=1e-8)


@given(gaussian_setup())
def test_gaussian_weighted_fvp_is_weighted_sum_of_single_state_fvps(setup):
    pol, theta, obs, rng = setup
    w = rng.uniform(0.0, 3.0, obs.shape[0])
    v = rng.standard_normal(pol.n_params)
    ref = sum(w[i] * pol.fisher_vector_product(theta, obs[i : i + 1], v) for i in range(obs.shape[0]))
    np.testing.assert_allclose(pol.fisher_vector_product(theta, obs, v, weights=w), ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pol.fisher_matrix(theta, obs, weights=w) @ v, ref, rtol=1e-10, atol=1e-12)
    theta_new = theta + 0.1 * rng.standard_normal(pol.n_params)
    np.testing.assert_allclose(pol.mean_kl(theta, theta_new, obs, weights=w), w @ pol.kl(theta, theta_new, obs))
    # the weighted FVP is the Hessian of the weighted KL (finite differences, as above)
    H = fd_hessian(lambda th: pol.mean_kl(theta, th, obs, weights=w), theta)
    np.testing.assert_allclose(pol.fisher_matrix(theta, obs, weights=w), H, atol=2e-5 * max(1.0, np.abs(H).max()))
    with pytest.raises(ValidationError, match="weights"):
        pol.fisher_vector_product(theta, obs, v, weights=-np.ones(obs.shape[0]))


def test_gaussian_sample_moments_and_determinism():
    pol = LinearGaussian(2, 2, init_log_std=[-1.0, 0.5])
    theta = pol.init_theta(W=[[1.0, 2.0], [-1.0, 0.0]], b=[0.5, 0.0])
    s = np.array([0.3, -0.2])
    a = pol.sample(theta, np.broadcast_to(s, (100_000, 2)), np.random.default_rng(0))
    se_mean = pol.std(theta) / np.sqrt(1e5)
    assert np.all(np.abs(a.mean(axis=0) - pol.mean(theta, s)) < 5 * se_mean)
    # sample std: standard error ~ sigma / sqrt(2n)
    assert np.all(np.abs(a.std(axis=0) - pol.std(theta)) < 5 * pol.std(theta) / np.sqrt(2e5))
    a1 = pol.sample(theta, s, np.random.default_rng(3))
    a2 = pol.sample(theta, s, np.random.default_rng(3))
    np.testing.assert_array_equal(a1, a2)
    assert a1.shape == (2,)


# ============================================================================= TabularSoftmax


@st.composite
def tabular_setup(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    S, A = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rng = np.random.default_rng(seed)
    return TabularSoftmax(S, A), rng.standard_normal((S, A)) * draw(st.sampled_from([0.1, 1.0, 5.0])), rng


@given(tabular_setup())
def test_tabular_probs_and_kl_match_tabular_oracle(setup):
    pol, theta, rng = setup
    np.testing.assert_allclose(pol.probs(theta), tabular.softmax_policy(theta), rtol=1e-13)
    np.testing.assert_allclose(np.exp(pol.log_probs(theta)), pol.probs(theta), rtol=1e-12)
    theta_new = theta + rng.standard_normal(theta.shape)
    np.testing.assert_allclose(
        pol.kl(theta, theta_new), tabular.kl(pol.probs(theta), pol.probs(theta_new)), rtol=1e-9, atol=1e-13
    )
    p = pol.probs(theta)
    np.testing.assert_allclose(pol.entropy(theta), -(p * np.log(p)).sum(axis=1), rtol=1e-10, atol=1e-13)


@given(tabular_setup())
def test_tabular_grad_log_prob_matches_finite_differences(setup):
    pol, theta, rng = setup
    s = np.repeat(np.arange(pol.n_states), pol.n_actions)
    a = np.tile(np.arange(pol.n_actions), pol.n_states)
    G = pol.grad_log_prob(theta, s, a)
    assert G.shape == (s.size, pol.n_states, pol.n_actions)
    for i in range(s.size):
        ref = fd_grad(lambda th: pol.log_prob(th, s[i : i + 1], a[i : i + 1])[0], theta)
        np.testing.assert_allclose(G[i], ref, atol=1e-7)


@given(tabular_setup())
def test_tabular_score_vector_product_is_contraction_of_scores(setup):
    pol, theta, rng = setup
    s = rng.integers(0, pol.n_states, 30)
    a = rng.integers(0, pol.n_actions, 30)
    c = rng.standard_normal(30)
    ref = np.einsum("i,isa->sa", c, pol.grad_log_prob(theta, s, a))
    np.testing.assert_allclose(pol.score_vector_product(theta, s, a, c), ref, atol=1e-12)


@given(tabular_setup())
def test_tabular_fisher_is_weighted_score_covariance_and_kl_hessian(setup):
    pol, theta, rng = setup
    S, A = pol.shape
    w = rng.uniform(0.0, 2.0, S)
    p = pol.probs(theta)
    # enumeration: F = sum_s w(s) sum_a pi(a|s) score score'
    F_enum = np.zeros((S * A, S * A))
    for s in range(S):
        G = pol.grad_log_prob(theta, np.full(A, s), np.arange(A)).reshape(A, -1)
        F_enum += w[s] * (G.T * p[s]) @ G
    F = np.column_stack([pol.fisher_vector_product(theta, e.reshape(S, A), w).ravel() for e in np.eye(S * A)])
    np.testing.assert_allclose(F, F_enum, atol=1e-12)
    np.testing.assert_allclose(pol.fisher_matrix(theta, w), F_enum, atol=1e-12)
    # Hessian of sum_s w(s) KL_s(theta || theta') at theta' = theta (finite differences)
    H = fd_hessian(lambda th: w @ pol.kl(theta, th.reshape(S, A)), theta.ravel())
    np.testing.assert_allclose(F, H, atol=1e-5 * max(1.0, w.sum()))
    # softmax shift invariance: adding a constant per state is in the kernel of F
    shift = np.repeat(rng.standard_normal((S, 1)), A, axis=1)
    np.testing.assert_allclose(pol.fisher_vector_product(theta, shift, w), 0.0, atol=1e-12)
    v = rng.standard_normal((S, A))
    np.testing.assert_allclose(pol.fisher_vector_product(theta, v.ravel(), w), F @ v.ravel(), atol=1e-12)


def test_tabular_sample_frequencies():
    pol = TabularSoftmax(2, 3)
    theta = np.log(np.array([[0.2, 0.3, 0.5], [0.7, 0.0001, 0.2999]]))
    rng = np.random.default_rng(0)
    n = 50_000
    for s in range(2):
        a = pol.sample(theta, np.full(n, s), rng)
        freq = np.bincount(a, minlength=3) / n
        p = pol.probs(theta)[s]
        # binomial standard error sqrt(p (1-p) / n); 5 sigma
        assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12)
    np.testing.assert_array_equal(
        pol.sample(theta, np.array([0, 1, 1]), np.random.default_rng(1)),
        pol.sample(theta, np.array([0, 1, 1]), np.random.default_rng(1)),
    )


def test_tabular_validation():
    pol = TabularSoftmax(2, 3)
    with pytest.raises(ValidationError, match="theta"):
        pol.probs(np.zeros((3, 2)))
    with pytest.raises(ValidationError, match="states"):
        pol.log_prob(np.zeros((2, 3)), np.array([2]), np.array([0]))
    with pytest.raises(ValidationError, match="actions"):
        pol.log_prob(np.zeros((2, 3)), np.array([1]), np.array([3]))
    with pytest.raises(ValidationError, match="state_weights"):
        pol.fisher_vector_product(np.zeros((2, 3)), np.zeros((2, 3)), [1.0, -1.0])
    with pytest.raises(ValidationError, match="n_actions"):
        TabularSoftmax(2, 0)
