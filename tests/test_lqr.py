"""Tests of trustopt.lqr against independent references: a scalar LQR worked by hand, Monte Carlo
rollouts (stated statistical tolerances), truncated power series of the state moments (no
Lyapunov solver, no augmented state), the Riccati value iteration, central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trustopt import ValidationError
from trustopt import lqr as L

from _helpers import fd_grad


def flat(lqr, theta):
    return L.LQRPolicy.from_theta(theta, obs_dim=lqr.n, act_dim=lqr.m)


def moments_series(lqr, pi, T, mean0=None, cov0=None):
    """sum_{t<T} gamma^t of E[s_t], E[s_t s_t'] and E[r_t] by forward recursion (plain coordinates)."""
    g = lqr.gamma
    Acl = lqr.A + lqr.B @ pi.K
    m = lqr.mu0 if mean0 is None else mean0
    C = lqr.Sigma0 if cov0 is None else cov0
    Sig = pi.Sigma
    first, second, ret = np.zeros(lqr.n), np.zeros((lqr.n, lqr.n)), 0.0
    for t in range(T):
        S = C + np.outer(m, m)
        ma = pi.K @ m + pi.b
        Ea = pi.K @ C @ pi.K.T + np.outer(ma, ma) + Sig  # E[a a']
        ret += g**t * -(np.trace(lqr.Q @ S) + np.trace(lqr.R @ Ea))
        first += g**t * m
        second += g**t * S
        m = Acl @ m + lqr.B @ pi.b
        C = Acl @ C @ Acl.T + lqr.B @ Sig @ lqr.B.T + lqr.W
    return first, second, ret


def rollouts(lqr, pi, rng, n_roll, T, s0=None, a0=None, pit=None):
    """Discounted returns of n_roll rollouts (and, with pit, sum_t gamma^t A_pi(s_t, a~pit) and
    sum_t gamma^t KL(pi(.|s_t) || pit(.|s_t)) along pi's trajectories)."""
    n, g = lqr.n, lqr.gamma
    if s0 is None:
        s = rng.multivariate_normal(lqr.mu0, lqr.Sigma0, size=n_roll)
    else:
        s = np.repeat(s0[None], n_roll, axis=0)
    ret = np.zeros(n_roll)
    adv = np.zeros(n_roll)
    kl = np.zeros(n_roll)
    std = pi.std
    Lw = np.linalg.cholesky(lqr.W + 1e-300 * np.eye(n)) if np.any(lqr.W) else np.zeros((n, n))
    ev = L.evaluate(lqr, pi)
    for t in range(T):
        a = pi.mean(s) + std * rng.standard_normal((n_roll, lqr.m))
        if t == 0 and a0 is not None:
            a = np.repeat(a0[None], n_roll, axis=0)
        ret += g**t * -(np.einsum("ni,ij,nj->n", s, lqr.Q, s) + np.einsum("ni,ij,nj->n", a, lqr.R, a))
        if pit is not None:
            at = pit.mean(s) + pit.std * rng.standard_normal((n_roll, lqr.m))
            adv += g**t * L.advantage(lqr, pi, s, at, ev=ev)
            dmu = pit.mean(s) - pi.mean(s)
            kl += g**t * np.sum(np.log(pit.std / std) + (std**2 + dmu**2) / (2 * pit.std**2) - 0.5, axis=-1)
        s = s @ lqr.A.T + a @ lqr.B.T + rng.standard_normal((n_roll, n)) @ Lw.T
    return ret, adv, kl


# ----------------------------------------------------------------------------- by hand

def test_scalar_lqr_by_hand():
    a, bB, q, r, w, g = 1.1, 0.5, 2.0, 0.3, 0.2, 0.9
    mu0, S0 = 0.7, 0.4
    k, sig = -1.2, 0.6
    lqr = L.LQR(A=[[a]], B=[[bB]], Q=[[q]], R=[[r]], W=[[w]], mu0=[mu0], Sigma0=[[S0]], gamma=g)
    pi = L.LQRPolicy(K=[[k]], log_std=[np.log(sig)])
    cl = a + bB * k
    P = (q + r * k**2) / (1 - g * cl**2)
    N = bB**2 * sig**2 + w
    c = (r * sig**2 + g * P * N) / (1 - g)
    Ms = (mu0**2 + S0 + g / (1 - g) * N) / (1 - g * cl**2)
    eta = -(q + r * k**2) * Ms - r * sig**2 / (1 - g)
    assert L.eta(lqr, pi) == pytest.approx(eta, rel=1e-12)
    assert L.eta(lqr, pi) == pytest.approx(-P * (mu0**2 + S0) - c, rel=1e-12)
    assert L.value(lqr, pi, np.array([1.5])) == pytest.approx(-P * 1.5**2 - c, rel=1e-12)
    # Q(s, a) = r(s, a) + gamma E V(a s + B a + w) by hand
    s_, a_ = 0.8, -0.4
    EV = -P * ((a * s_ + bB * a_) ** 2 + w) - c
    assert L.q_value(lqr, pi, np.array([s_]), np.array([a_])) == pytest.approx(-(q * s_**2 + r * a_**2) + g * EV,
                                                                               rel=1e-12)
    vis = L.visitation(lqr, pi)
    assert vis.mass == pytest.approx(1 / (1 - g))
    assert vis.second[0, 0] == pytest.approx(Ms, rel=1e-12)
    assert vis.first[0] == pytest.approx(mu0 / (1 - g * cl), rel=1e-12)
    # d eta / dk and d eta / dlog sigma from the hand formula
    def eta_k(kk, ls):
        cl_ = a + bB * kk
        s2 = np.exp(2 * ls)
        return -(q + r * kk**2) * (mu0**2 + S0 + g / (1 - g) * (bB**2 * s2 + w)) / (1 - g * cl_**2) - r * s2 / (1 - g)
    gr = L.grad_eta(lqr, pi)
    assert gr.K[0, 0] == pytest.approx(fd_grad(lambda x: eta_k(x[0], np.log(sig)), np.array([k]))[0], rel=1e-7)
    assert gr.log_std[0] == pytest.approx(fd_grad(lambda x: eta_k(k, x[0]), np.array([np.log(sig)]))[0], rel=1e-7)
    # discounted Riccati for the scalar case: P = q + g a^2 P - g^2 a^2 B^2 P^2 / (r + g B^2 P)
    Ks = L.optimal_gain(lqr)[0, 0]
    Pk = (q + r * Ks**2) / (1 - g * (a + bB * Ks) ** 2)
    assert Pk == pytest.approx(q + g * a**2 * Pk - g**2 * a**2 * bB**2 * Pk**2 / (r + g * bB**2 * Pk), rel=1e-10)
    assert Ks == pytest.approx(-g * bB * Pk * a / (r + g * bB**2 * Pk), rel=1e-10)


# ----------------------------------------------------------------------------- series and Monte Carlo

@given(st.integers(1, 3), st.integers(1, 2), st.integers(0, 2**32 - 1), st.booleans())
def test_against_power_series(n, m, seed, noise):
    rng = np.random.default_rng(seed)
    lqr = L.random_lqr(rng, n, m, gamma=0.9, noise=noise)
    pi = L.random_policy(rng, lqr, margin=0.2)
    # with a bias the per-step moments tend to a nonzero limit, so the tail after T steps is
    # ~ gamma^T / (1 - gamma) times the limit: 0.9^400 * 10 = 5e-18 relative, far below rel=1e-9
    first, second, ret = moments_series(lqr, pi, 400)
    vis = L.visitation(lqr, pi)
    scale = 1 + np.abs(second).max()
    np.testing.assert_allclose(vis.second, second, atol=1e-9 * scale)
    np.testing.assert_allclose(vis.first, first, atol=1e-9 * scale)
    assert L.eta(lqr, pi) == pytest.approx(ret, rel=1e-9)
    # V(s) = discounted return from a deterministic start s
    s = rng.normal(size=n)
    _, _, ret_s = moments_series(lqr, pi, 400, mean0=s, cov0=np.zeros((n, n)))
    assert L.value(lqr, pi, s) == pytest.approx(ret_s, rel=1e-9)
    # eta = E_{s0}[V(s0)]  and  V(s) = E_{a ~ pi}[Q(s, a)]  (Gaussian expectation of the quadratic Q)
    ev = L.evaluate(lqr, pi)
    n1 = n + 1
    y = np.concatenate([s, [1.0], pi.mean(s)])
    EQ = -(y @ ev.H @ y + np.trace(ev.H[n1:, n1:] @ pi.Sigma)) - ev.q0
    assert L.value(lqr, pi, s) == pytest.approx(EQ, rel=1e-10)


def test_monte_carlo_rollouts():
    """4000 rollouts, horizon 300 (gamma^300 = 2e-14 relative truncation): |MC - exact| <= 5 standard errors
    (two-sided false-alarm probability 6e-7 per quantity by the CLT; the seed is fixed)."""
    rng = np.random.default_rng(123)
    lqr = L.random_lqr(rng, 2, 1, gamma=0.9)
    pi = L.random_policy(rng, lqr, margin=0.2)
    pit = L.LQRPolicy(K=pi.K + 0.2, b=pi.b - 0.3, log_std=pi.log_std + 0.2)
    n_roll, T = 4000, 300
    ret, adv, kl = rollouts(lqr, pi, rng, n_roll, T, pit=pit)

    def close(sample, exact):
        return abs(sample.mean() - exact) <= 5 * sample.std() / np.sqrt(sample.size) + 1e-12 * abs(exact)

    assert close(ret, L.eta(lqr, pi))
    assert close(adv, L.surrogate(lqr, pi, pit) - L.eta(lqr, pi))
    assert close(kl, L.mean_kl(lqr, pi, pit))
    # Q(s, a): first action fixed
    s0, a0 = np.array([0.5, -1.0]), np.array([0.7])
    ret_q, _, _ = rollouts(lqr, pi, rng, n_roll, T, s0=s0, a0=a0)
    assert close(ret_q, L.q_value(lqr, pi, s0, a0))
    ret_v, _, _ = rollouts(lqr, pi, rng, n_roll, T, s0=s0)
    assert close(ret_v, L.value(lqr, pi, s0))


# ----------------------------------------------------------------------------- gradients, identities

@given(st.integers(1, 3), st.integers(1, 2), st.integers(0, 2**32 - 1))
def test_gradients_and_first_order_identity(n, m, seed):
    rng = np.random.default_rng(seed)
    lqr = L.random_lqr(rng, n, m, gamma=float(rng.uniform(0.5, 0.95)))
    Ks = L.optimal_gain(lqr)
    pi = L.random_policy(rng, lqr, margin=0.15, center=Ks)
    pit = L.random_policy(rng, lqr, margin=0.15, scale=0.3, center=Ks)
    e = L.eta(lqr, pi)
    scale = 1 + abs(e)
    # STRO eq. 2.7: L_pi(pi) = eta(pi), grad L = grad eta at pit = pi
    assert L.surrogate(lqr, pi, pi) == pytest.approx(e, abs=1e-10 * scale)
    np.testing.assert_allclose(L.grad_surrogate(lqr, pi, pi).theta, L.grad_eta(lqr, pi).theta, atol=1e-10 * scale)
    # central differences, h = 1e-5: truncation ~ h^2 |eta'''|, round-off ~ 1e-16 |eta| / h
    h = 1e-5
    np.testing.assert_allclose(L.grad_eta(lqr, pi).theta, fd_grad(lambda t: L.eta(lqr, flat(lqr, t)), pi.theta, h),
                               atol=1e-5 * scale)
    ev = L.evaluate(lqr, pi)
    np.testing.assert_allclose(L.grad_surrogate(lqr, pi, pit).theta,
                               fd_grad(lambda t: L.surrogate(lqr, pi, flat(lqr, t), ev=ev), pit.theta, h), atol=1e-5 * scale)
    # the Hessian of L in the mean parameters is constant: compare with differences of the exact gradient
    k = m * (n + 1)
    Hs = L.hessian_surrogate_mean(lqr, pi)
    Hfd = np.stack([fd_grad(lambda t: L.grad_surrogate(lqr, pi, flat(lqr, t), ev=ev).theta[j], pit.theta, h)[:k]
                    for j in range(k)])
    np.testing.assert_allclose(Hs, Hfd, atol=1e-5 * scale)
    # Fisher: Hessian of the mean KL at pit = pi (same log_std)
    F = L.hessian_mean_kl_mean(lqr, pi)
    kl = lambda t: L.mean_kl(lqr, pi, flat(lqr, np.concatenate([t, pi.log_std])), ev=ev)  # noqa: E731
    x0 = pi.theta[:k]
    Ffd = np.array([[(kl(x0 + h * (ei + ej)) - kl(x0 + h * (ei - ej)) - kl(x0 - h * (ei - ej))
                      + kl(x0 - h * (ei + ej))) / (4 * h * h) for ej in np.eye(k)] for ei in np.eye(k)])
    np.testing.assert_allclose(F, Ffd, atol=1e-4 * (1 + np.abs(F).max()))
    np.testing.assert_allclose(L.hessian_mean_kl_mean(lqr, pi, visitation="normalized"), (1 - lqr.gamma) * F)


def test_mean_kl_properties():
    rng = np.random.default_rng(4)
    lqr = L.random_lqr(rng, 3, 2)
    pi = L.random_policy(rng, lqr)
    pit = L.random_policy(rng, lqr)
    assert L.mean_kl(lqr, pi, pi) == pytest.approx(0.0, abs=1e-12)
    u = L.mean_kl(lqr, pi, pit)
    assert u > 0
    assert L.mean_kl(lqr, pi, pit, visitation="normalized") == pytest.approx((1 - lqr.gamma) * u)
    assert L.mean_kl(lqr, pi, pit, reverse=True) != pytest.approx(u)
    # same log_std: KL = 1/2 E_rho[dmu' Sigma^-1 dmu], symmetric
    pit2 = L.LQRPolicy(K=pit.K, b=pit.b, log_std=pi.log_std)
    assert L.mean_kl(lqr, pi, pit2, reverse=True) == pytest.approx(L.mean_kl(lqr, pi, pit2), rel=1e-12)
    vis = L.visitation(lqr, pi)
    dK, db = pit2.K - pi.K, pit2.b - pi.b
    Sinv = np.diag(np.exp(-2 * pi.log_std))
    ref = 0.5 * (np.trace(Sinv @ dK @ vis.second @ dK.T) + 2 * db @ Sinv @ dK @ vis.first + vis.mass * db @ Sinv @ db)
    assert L.mean_kl(lqr, pi, pit2) == pytest.approx(ref, rel=1e-12)


# ----------------------------------------------------------------------------- optimum

@given(st.integers(1, 3), st.integers(1, 2), st.integers(0, 2**32 - 1))
def test_optimal_gain(n, m, seed):
    rng = np.random.default_rng(seed)
    lqr = L.random_lqr(rng, n, m, gamma=0.9)
    Ks = L.optimal_gain(lqr)
    # independent reference: Riccati value iteration P <- Q + g A'PA - g^2 A'PB (R + g B'PB)^-1 B'PA
    g, P = lqr.gamma, np.zeros((n, n))
    for _ in range(5000):
        G = lqr.R + g * lqr.B.T @ P @ lqr.B
        Pn = lqr.Q + g * lqr.A.T @ P @ lqr.A - g**2 * lqr.A.T @ P @ lqr.B @ np.linalg.solve(G, lqr.B.T @ P @ lqr.A)
        if np.max(np.abs(Pn - P)) < 1e-13 * (1 + np.abs(P).max()):
            break
        P = Pn
    K_vi = -g * np.linalg.solve(lqr.R + g * lqr.B.T @ P @ lqr.B, lqr.B.T @ P @ lqr.A)
    np.testing.assert_allclose(Ks, K_vi, atol=1e-7 * (1 + np.abs(Ks).max()))
    ls = rng.uniform(-1, 0, size=m)
    pis = L.optimal_policy(lqr, ls)
    e_star = L.optimal_eta(lqr, ls)
    gr = L.grad_eta(lqr, pis)
    assert np.max(np.abs(np.concatenate([gr.K.ravel(), gr.b]))) <= 1e-8 * (1 + abs(e_star))
    for _ in range(3):
        other = L.random_policy(rng, lqr, scale=0.5, center=Ks)
        other = L.LQRPolicy(K=other.K, b=other.b, log_std=ls)
        assert L.eta(lqr, other) <= e_star + 1e-10 * abs(e_star)


def test_unstable_policies():
    lqr = L.LQR(A=[[1.2]], B=[[1.0]], Q=[[1.0]], R=[[1.0]], gamma=0.9)
    bad = L.LQRPolicy(K=[[0.0]], log_std=[0.0])  # sqrt(0.9) * 1.2 = 1.138
    assert not L.is_stable(lqr, bad)
    assert L.spectral_radius(lqr, bad) == pytest.approx(np.sqrt(0.9) * 1.2)
    assert L.eta(lqr, bad) == -np.inf
    for f in (L.evaluate, L.grad_eta, L.visitation):
        with pytest.raises(L.UnstableError, match="spectral radius"):
            f(lqr, bad)
    good = L.LQRPolicy(K=[[-1.0]], log_std=[0.0])
    assert np.isfinite(L.surrogate(lqr, good, bad))  # L needs only pi's quantities
    assert np.isfinite(L.mean_kl(lqr, good, bad))
    assert issubclass(L.UnstableError, ValidationError)


def test_policy_layout_roundtrip():
    pi = L.LQRPolicy(K=np.arange(6.0).reshape(2, 3), b=[7.0, 8.0], log_std=[-1.0, 0.5])
    np.testing.assert_array_equal(pi.theta, [0, 1, 2, 3, 4, 5, 7, 8, -1, 0.5])
    back = L.LQRPolicy.from_theta(pi.theta, obs_dim=3, act_dim=2)
    np.testing.assert_array_equal(back.K, pi.K)
    np.testing.assert_array_equal(back.b, pi.b)
    np.testing.assert_array_equal(back.log_std, pi.log_std)
    np.testing.assert_allclose(pi.Sigma, np.diag(np.exp([-2.0, 1.0])))
    assert L.LQRPolicy(K=np.zeros((2, 3)), log_std=0.3).log_std.tolist() == [0.3, 0.3]


def test_validation():
    ok = dict(A=np.eye(2), B=np.ones((2, 1)), Q=np.eye(2), R=np.eye(1), gamma=0.9)
    L.LQR(**ok)
    cases = [
        (dict(A=np.ones((2, 3))), "A"),
        (dict(B=np.ones((3, 1))), "B"),
        (dict(Q=np.array([[1.0, 2.0], [0.0, 1.0]])), "Q.*symmetric"),
        (dict(Q=-np.eye(2)), "Q.*semi-definite"),
        (dict(R=np.zeros((1, 1))), "R.*positive definite"),
        (dict(R=np.eye(2)), "R"),
        (dict(W=np.diag([1.0, -1.0])), "W"),
        (dict(Sigma0=np.diag([1.0, -1.0])), "Sigma0"),
        (dict(mu0=np.zeros(3)), "mu0"),
        (dict(gamma=1.0), "gamma"),
        (dict(gamma=-0.1), "gamma"),
        (dict(A=[[np.nan, 0], [0, 1]]), "A.*non-finite"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValidationError, match=msg):
            L.LQR(**{**ok, **kw})
    with pytest.raises(ValidationError, match=r"^A: expected real numbers, got complex ones \(e.g. \(1\+1j\)\)$"):
        L.LQR(**{**ok, "A": np.eye(2) + 1j})
    lqr = L.LQR(**ok)
    # the problem in the wrong place (random_policy(rng, m) where random_lqr takes n, m): one line naming lqr
    for call in (lambda: L.random_policy(np.random.default_rng(0), 2), lambda: L.eta(2, None),
                 lambda: L.optimal_gain("lqr")):
        with pytest.raises(ValidationError, match=r"^lqr: expected an LQR \(trustopt.lqr.LQR or random_lqr\), got "):
            call()
    with pytest.raises(ValidationError, match="pi"):
        L.eta(lqr, L.LQRPolicy(K=np.zeros((1, 3)), log_std=[0.0]))
    with pytest.raises(ValidationError, match="pi"):
        L.eta(lqr, np.zeros((1, 2)))
    with pytest.raises(ValidationError, match="log_std"):
        L.LQRPolicy(K=np.zeros((1, 2)), log_std=[0.0, 0.0])
    with pytest.raises(ValidationError, match="b"):
        L.LQRPolicy(K=np.zeros((1, 2)), log_std=[0.0], b=[0.0, 1.0])
    with pytest.raises(ValidationError, match="theta"):
        L.LQRPolicy.from_theta(np.zeros(5), obs_dim=2, act_dim=1)
    pi = L.LQRPolicy(K=[[-0.5, -0.5]], log_std=[0.0])
    with pytest.raises(ValidationError, match="s"):
        L.value(lqr, pi, np.zeros(3))
    with pytest.raises(ValidationError, match="a"):
        L.q_value(lqr, pi, np.zeros(2), np.zeros(2))
    with pytest.raises(ValidationError, match="visitation"):
        L.mean_kl(lqr, pi, pi, visitation="dbar")
    with pytest.raises(ValidationError, match="rng"):
        L.random_lqr(np.random.RandomState(0), 2, 1)
    # both were NumPy errors naming no argument ("operands could not be broadcast", "zero-size array")
    with pytest.raises(ValidationError, match=r"log_std: expected shape \(1,\), got \(2,\)"):
        L.optimal_eta(lqr, [0.0, 0.0])
    for n, m, name in [(0, 1, "n"), (2, 0, "m"), (2.5, 1, "n")]:
        with pytest.raises(ValidationError, match=f"{name}: expected an integer >= 1"):
            L.random_lqr(np.random.default_rng(0), n, m)
