"""Tests of trustopt.smoothing against independent references.

References: a naive categorical implementation written directly from TRES eq. 9-13 with
itertools.product loops (no einsum, no identities); closed forms of Gaussian expectations of
quadratics, sines and exponentials; Monte Carlo with stated statistical tolerances;
central finite differences; literal nested quadrature of ``V_theta`` for eq. 12-13;
numerical integration (scipy.integrate.quad) of TV and KL between Gaussians.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate, stats

from trustopt import ValidationError
from trustopt import smoothing as sm

from _helpers import fd_grad

# ----------------------------------------------------------------------------- naive reference


def naive_softmax(theta):
    e = np.exp(theta - theta.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class Naive:
    """TRES eq. 9-13 for one categorical instance, by explicit loops."""

    def __init__(self, F, p):
        self.F, self.p = F, p
        self.d, self.K = p.shape

    def prob(self, q, x, start=0):
        out = 1.0
        for j, k in enumerate(x):
            out *= q[start + j, k]
        return out

    def V(self, prefix):
        i = len(prefix)
        tot = 0.0
        for rest in itertools.product(range(self.K), repeat=self.d - i):
            tot += self.prob(self.p, rest, start=i) * self.F[tuple(prefix) + rest]
        return tot

    def A(self, prefix):
        return self.V(prefix) - self.V(prefix[:-1])

    def J(self, q):
        return sum(self.prob(q, x) * self.F[x] for x in itertools.product(range(self.K), repeat=self.d))

    def L(self, pt):  # eq. 13, literally
        tot = self.V(())
        for i in range(self.d):
            for xi in itertools.product(range(self.K), repeat=i):
                inner = sum(pt[i, k] * self.A(xi + (k,)) for k in range(self.K))
                tot += self.prob(self.p, xi) * inner
        return tot

    def decomposition(self, pt):  # eq. 12 terms, literally
        return [
            sum(self.prob(pt, x) * self.A(x) for x in itertools.product(range(self.K), repeat=i + 1))
            for i in range(self.d)
        ]

    def eps(self):
        return max(abs(self.A(x)) for j in range(1, self.d + 1) for x in itertools.product(range(self.K), repeat=j))

    def L_is(self, pt, samples, baseline, lam=None):
        tot = 0.0
        for x in samples:
            x = tuple(int(v) for v in x)
            for i in range(1, self.d + 1):
                r = pt[i - 1, x[i - 1]] / self.p[i - 1, x[i - 1]]
                W = self.V(x[:i]) if baseline == "value" else self.A(x[:i])
                tot += r * W if lam is None else min(r * W, min(max(r, 1 - lam), 1 + lam) * W)
        return tot / len(samples)


def random_instance(rng, d, K, batch=()):
    F = rng.normal(size=(*batch, *([K] * d)))
    theta = rng.normal(size=(*batch, d, K))
    thetat = theta + rng.normal(scale=rng.uniform(0.05, 1.0), size=theta.shape)
    return F, theta, thetat


dims = st.tuples(st.integers(1, 4), st.integers(2, 4), st.integers(0, 2**32 - 1))

# ----------------------------------------------------------------------------- categorical


@given(dims)
def test_categorical_matches_naive_enumeration(args):
    d, K, seed = args
    rng = np.random.default_rng(seed)
    F, theta, thetat = random_instance(rng, d, K)
    cat = sm.CategoricalProduct(F=F, d=d)
    p, pt = naive_softmax(theta), naive_softmax(thetat)
    ref = Naive(F, p)
    tol = 1e-12 * (1 + np.abs(F).max())
    assert cat.J(theta) == pytest.approx(ref.J(p), abs=tol)
    assert cat.J(thetat) == pytest.approx(ref.J(pt), abs=tol)
    for i in range(d + 1):
        Vi = cat.value(theta, i)
        for x in itertools.product(range(K), repeat=i):
            assert Vi[x] == pytest.approx(ref.V(x), abs=tol)
    for j in range(1, d + 1):
        Aj = cat.advantage(theta, j)
        for x in itertools.product(range(K), repeat=j):
            assert Aj[x] == pytest.approx(ref.A(x), abs=tol)
    assert cat.surrogate(theta, thetat) == pytest.approx(ref.L(pt), abs=tol)
    np.testing.assert_allclose(cat.decomposition_terms(theta, thetat), ref.decomposition(pt), atol=tol)
    assert cat.eps(theta) == pytest.approx(ref.eps(), abs=tol)
    tv = cat.tv(theta, thetat)
    np.testing.assert_allclose(tv, [0.5 * sum(abs(p[i, k] - pt[i, k]) for k in range(K)) for i in range(d)], atol=1e-15)
    assert cat.alpha(theta, thetat) == pytest.approx(tv.max())
    np.testing.assert_allclose(cat.kl(theta, thetat), [stats.entropy(p[i], pt[i]) for i in range(d)], atol=1e-13)
    np.testing.assert_allclose(cat.kl(theta, thetat, reverse=True), [stats.entropy(pt[i], p[i]) for i in range(d)],
                               atol=1e-13)


@given(dims)
def test_categorical_identities_and_theorem1(args):
    """Eq. 12 decomposition is exact; L_theta(theta) = J(theta); Lemma 1 (grad L = grad J at theta);
    Theorem 1 bound and the sharper d(d-1) bound (the i = 0 terms of eq. 12 and 13 coincide)."""
    d, K, seed = args
    rng = np.random.default_rng(seed)
    F, theta, thetat = random_instance(rng, d, K, batch=(7,))
    cat = sm.CategoricalProduct(F=F, d=d)
    tol = 1e-12 * (1 + np.abs(F).max())
    J0, Jt = cat.J(theta), cat.J(thetat)
    np.testing.assert_allclose(J0 + cat.decomposition_terms(theta, thetat).sum(-1), Jt, atol=tol)
    np.testing.assert_allclose(cat.surrogate(theta, theta), J0, atol=tol)
    np.testing.assert_allclose(cat.grad_surrogate(theta, theta), cat.grad_J(theta), atol=tol)
    np.testing.assert_allclose(cat.decomposition_terms(theta, thetat)[..., 0],
                               cat.surrogate_terms(theta, thetat)[..., 0], atol=tol)
    gap = np.abs(Jt - cat.surrogate(theta, thetat))
    eps, alpha = cat.eps(theta), cat.alpha(theta, thetat)
    assert np.all(gap <= 2 * eps * d * (d + 1) * alpha**2 + tol)
    assert np.all(gap <= 2 * eps * d * (d - 1) * alpha**2 + tol)
    if d == 1:
        np.testing.assert_allclose(gap, 0.0, atol=tol)


def test_categorical_theorem1_gap_is_nonzero_for_d2():
    """The d(d-1) bound is not vacuous: for d = 2 the gap is nonzero for generic instances."""
    rng = np.random.default_rng(3)
    F, theta, thetat = random_instance(rng, 2, 3, batch=(50,))
    cat = sm.CategoricalProduct(F=F, d=2)
    gap = np.abs(cat.J(thetat) - cat.surrogate(theta, thetat))
    assert gap.max() > 1e-3


@pytest.mark.parametrize("d,K", [(1, 2), (2, 3), (3, 2), (4, 2)])
def test_categorical_gradients_finite_differences(d, K):
    rng = np.random.default_rng(10 * d + K)
    F, theta, thetat = random_instance(rng, d, K)
    cat = sm.CategoricalProduct(F=F, d=d)
    # central differences: truncation O(h^2 |f'''|) ~ 1e-12, round-off ~ 1e-16 |F| / h ~ 1e-10
    np.testing.assert_allclose(cat.grad_J(thetat), fd_grad(cat.J, thetat), atol=1e-8)
    np.testing.assert_allclose(cat.grad_surrogate(theta, thetat),
                               fd_grad(lambda t: cat.surrogate(theta, t), thetat), atol=1e-8)
    p = naive_softmax(theta)
    ref = Naive(F, p)
    np.testing.assert_allclose(cat.grad_surrogate(theta, thetat),
                               fd_grad(lambda t: ref.L(naive_softmax(t)), thetat), atol=1e-8)


def test_categorical_probs_parameterization_and_zero_probabilities():
    rng = np.random.default_rng(5)
    d, K = 3, 3
    F, theta, thetat = random_instance(rng, d, K)
    cat = sm.CategoricalProduct(F=F, d=d)
    p, pt = sm.softmax(theta), sm.softmax(thetat)
    for name in ("J", "grad_J"):
        np.testing.assert_allclose(getattr(cat, name)(p, param="probs"), getattr(cat, name)(theta), atol=1e-13)
    np.testing.assert_allclose(cat.surrogate(p, pt, param="probs"), cat.surrogate(theta, thetat), atol=1e-13)
    np.testing.assert_allclose(cat.grad_surrogate(p, pt, param="probs"), cat.grad_surrogate(theta, thetat),
                               atol=1e-13)
    np.testing.assert_allclose(sm.softmax(sm.logits(p)), p, atol=1e-15)
    # zero probabilities: a padded support point never matters
    q = p.copy()
    q[:, -1] = 0.0
    q /= q.sum(-1, keepdims=True)
    ref = Naive(F, q)
    assert cat.J(q, param="probs") == pytest.approx(ref.J(q), abs=1e-12)
    assert cat.surrogate(q, pt, param="probs") == pytest.approx(ref.L(pt), abs=1e-12)
    assert np.all(np.isinf(cat.kl(pt, q, param="probs")))  # pt puts mass where q has none
    assert np.all(np.isfinite(cat.kl(q, pt, param="probs")))


def test_categorical_batched_matches_loop():
    rng = np.random.default_rng(7)
    d, K, n = 3, 3, 6
    F, theta, thetat = random_instance(rng, d, K, batch=(n,))
    cat = sm.CategoricalProduct(F=F, d=d)
    samples = cat.sample(theta, 20, rng)
    batched = {
        "J": cat.J(thetat),
        "L": cat.surrogate(theta, thetat),
        "gL": cat.grad_surrogate(theta, thetat),
        "eps": cat.eps(theta),
        "is": cat.surrogate_is(theta, thetat, samples),
        "clip": cat.surrogate_clip(theta, thetat, samples, 0.2),
        "gclip": cat.grad_surrogate_clip(theta, thetat, samples, 0.2),
    }
    for b in range(n):
        one = sm.CategoricalProduct(F=F[b], d=d)
        loop = {
            "J": one.J(thetat[b]),
            "L": one.surrogate(theta[b], thetat[b]),
            "gL": one.grad_surrogate(theta[b], thetat[b]),
            "eps": one.eps(theta[b]),
            "is": one.surrogate_is(theta[b], thetat[b], samples[b]),
            "clip": one.surrogate_clip(theta[b], thetat[b], samples[b], 0.2),
            "gclip": one.grad_surrogate_clip(theta[b], thetat[b], samples[b], 0.2),
        }
        for k in batched:
            np.testing.assert_allclose(batched[k][b], loop[k], atol=1e-13, err_msg=k)
    # one objective, many parameter pairs; and one sample set shared by a batch
    one = sm.CategoricalProduct(F=F[0], d=d)
    np.testing.assert_allclose(one.surrogate(theta, thetat),
                               [one.surrogate(theta[b], thetat[b]) for b in range(n)], atol=1e-13)
    np.testing.assert_allclose(cat.surrogate_is(theta, thetat, samples[0]),
                               [sm.CategoricalProduct(F=F[b], d=d).surrogate_is(theta[b], thetat[b], samples[0])
                                for b in range(n)], atol=1e-13)


@given(dims, st.sampled_from(["value", "advantage"]), st.floats(0.05, 1.5))
def test_categorical_is_and_clip_surrogates(args, baseline, lam):
    d, K, seed = args
    rng = np.random.default_rng(seed)
    F, theta, thetat = random_instance(rng, d, K)
    cat = sm.CategoricalProduct(F=F, d=d)
    samples = cat.sample(theta, 9, rng)
    ref = Naive(F, naive_softmax(theta))
    pt = naive_softmax(thetat)
    tol = 1e-11 * (1 + np.abs(F).max())
    L_is = cat.surrogate_is(theta, thetat, samples, baseline=baseline)
    L_clip = cat.surrogate_clip(theta, thetat, samples, lam, baseline=baseline)
    assert L_is == pytest.approx(ref.L_is(pt, samples, baseline), abs=tol)
    assert L_clip == pytest.approx(ref.L_is(pt, samples, baseline, lam), abs=tol)
    # tres.clip-lower-bound: L_CLIP <= L_IS; equal with equal gradient at thetat = theta
    assert L_clip <= L_is + tol
    assert cat.surrogate_clip(theta, theta, samples, lam, baseline=baseline) == pytest.approx(
        cat.surrogate_is(theta, theta, samples, baseline=baseline), abs=tol)
    np.testing.assert_allclose(cat.grad_surrogate_clip(theta, theta, samples, lam, baseline=baseline),
                               cat.grad_surrogate_is(theta, theta, samples, baseline=baseline), atol=tol)


def test_categorical_is_gradients_finite_differences():
    rng = np.random.default_rng(11)
    d, K = 3, 3
    F, theta, thetat = random_instance(rng, d, K)
    cat = sm.CategoricalProduct(F=F, d=d)
    samples = cat.sample(theta, 15, rng)
    for baseline in ("value", "advantage"):
        g = cat.grad_surrogate_is(theta, thetat, samples, baseline=baseline)
        np.testing.assert_allclose(g, fd_grad(lambda t: cat.surrogate_is(theta, t, samples, baseline=baseline),
                                              thetat), atol=1e-7)
        # lambda_ chosen so that no ratio sits within 1e-4 of a kink (checked): the clip objective is
        # smooth there and central differences apply
        lam = 0.3
        pt, p = naive_softmax(thetat), naive_softmax(theta)
        r = pt[np.arange(d), samples] / p[np.arange(d), samples]
        assert np.min(np.abs(np.abs(r - 1) - lam)) > 1e-4
        g = cat.grad_surrogate_clip(theta, thetat, samples, lam, baseline=baseline)
        assert np.any(g != cat.grad_surrogate_is(theta, thetat, samples, baseline=baseline))
        np.testing.assert_allclose(g, fd_grad(lambda t: cat.surrogate_clip(theta, t, samples, lam, baseline=baseline),
                                              thetat), atol=1e-7)


@given(dims)
def test_categorical_is_exact_expectation_and_value_baseline(args):
    """E_{X~theta}[L_IS] by enumeration of all samples equals surrogate_is_exact; with the advantage
    baseline it is L - J (eq. 21 = 23); the value baseline shifts it by d J(theta) (tres.value-baseline)."""
    d, K, seed = args
    rng = np.random.default_rng(seed)
    F, theta, thetat = random_instance(rng, d, K)
    cat = sm.CategoricalProduct(F=F, d=d)
    p = naive_softmax(theta)
    allx = sm.enumerate_support(d, K)
    w = np.prod(p[np.arange(d), allx], axis=-1)
    tol = 1e-11 * (1 + np.abs(F).max())
    for baseline in ("value", "advantage"):
        per = np.array([cat.surrogate_is(theta, thetat, x[None], baseline=baseline) for x in allx])
        assert cat.surrogate_is_exact(theta, thetat, baseline=baseline) == pytest.approx(w @ per, abs=tol)
    A = cat.surrogate_is_exact(theta, thetat, baseline="advantage")
    assert A == pytest.approx(cat.surrogate(theta, thetat) - cat.J(theta), abs=tol)
    assert cat.surrogate_is_exact(theta, thetat, baseline="value") - A == pytest.approx(d * cat.J(theta), abs=tol)


def test_categorical_sampling_frequencies():
    """Empirical marginals of 40000 draws within 5 binomial standard errors (false alarm < 1e-5 per cell)."""
    rng = np.random.default_rng(2)
    d, K, n = 2, 4, 40000
    cat = sm.CategoricalProduct(F=np.zeros((K, K)), d=d)
    p = np.array([[0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.0, 0.5]])
    s = cat.sample(p, n, rng, param="probs")
    freq = np.stack([np.bincount(s[:, i], minlength=K) / n for i in range(d)])
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12)
    assert not np.any(s[:, 1] % 2 == 0)  # zero-probability points are never drawn


def test_from_function_and_points():
    z = np.array([[-1.0, 0.0, 2.0], [0.5, 1.5, 3.0]])
    f = lambda x: x[:, 0] ** 2 - 3 * x[:, 0] * x[:, 1]  # noqa: E731
    cat = sm.CategoricalProduct.from_function(f, z)
    for k1, k2 in itertools.product(range(3), repeat=2):
        assert cat.F[k1, k2] == f(np.array([[z[0, k1], z[1, k2]]]))[0]
    np.testing.assert_array_equal(cat.points(np.array([[2, 0], [1, 2]])), [[2.0, 0.5], [0.0, 3.0]])
    # batch of objectives: f returns (M, 2)
    batch = sm.CategoricalProduct.from_function(lambda x: np.stack([f(x), -f(x)], axis=-1), z)
    assert batch.batch_shape == (2,)
    np.testing.assert_array_equal(batch.F[1], -cat.F)


def test_categorical_validation():
    F = np.zeros((3, 3))
    with pytest.raises(ValidationError, match="d"):
        sm.CategoricalProduct(F=F)
    with pytest.raises(ValidationError, match="F"):
        sm.CategoricalProduct(F=np.zeros((3, 2)), d=2)
    with pytest.raises(ValidationError, match="F"):
        sm.CategoricalProduct(F=[[np.nan, 0], [0, 0]], d=2)
    with pytest.raises(ValidationError, match="z"):
        sm.CategoricalProduct(F=F, z=np.zeros((2, 2)))
    cat = sm.CategoricalProduct(F=F, d=2)
    with pytest.raises(ValidationError, match="theta"):
        cat.J(np.zeros((2, 2)))
    with pytest.raises(ValidationError, match="thetat"):
        cat.surrogate(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValidationError, match="sum to 1"):
        cat.J(np.full((2, 3), 0.5), param="probs")
    with pytest.raises(ValidationError, match="param"):
        cat.J(np.zeros((2, 3)), param="prob")
    with pytest.raises(ValidationError, match="i"):
        cat.value(np.zeros((2, 3)), 3)
    with pytest.raises(ValidationError, match="j"):
        cat.advantage(np.zeros((2, 3)), 0)
    th = np.zeros((2, 3))
    with pytest.raises(ValidationError, match="samples"):
        cat.surrogate_is(th, th, np.array([[0, 3]]))
    with pytest.raises(ValidationError, match="samples"):
        cat.surrogate_is(th, th, np.array([[0.0, 1.0]]))
    with pytest.raises(ValidationError, match="lambda_"):
        cat.surrogate_clip(th, th, np.array([[0, 1]]), 0.0)
    with pytest.raises(ValidationError, match="baseline"):
        cat.surrogate_is(th, th, np.array([[0, 1]]), baseline="q")
    with pytest.raises(ValidationError, match="zero probability"):
        cat.surrogate_is(np.array([[1.0, 0, 0], [1, 0, 0]]), np.full((2, 3), 1 / 3), np.array([[1, 0]]), param="probs")
    with pytest.raises(ValidationError, match="rng"):
        cat.sample(th, 3, np.random.RandomState(0))
    with pytest.raises(ValidationError, match="points|z"):
        cat.points(np.array([[0, 1]]))
    with pytest.raises(ValidationError, match="p"):
        sm.logits(np.array([[1.0, 0.0]]))


# ----------------------------------------------------------------------------- Gaussian

def random_quadratic(rng, d):
    H = rng.normal(size=(d, d))
    return sm.Quadratic(H=H + H.T, g=rng.normal(size=d), c=rng.normal())


@pytest.mark.parametrize("d", [1, 2, 3])
def test_gaussian_quadratic_closed_form_vs_quadrature(d):
    """Gauss-Hermite with 3 nodes is exact for degree <= 5 per variable: J, V, A, L, eq. 12, grads agree."""
    rng = np.random.default_rng(d)
    q = random_quadratic(rng, d)
    sigma = rng.uniform(0.3, 2.0, size=d)
    exact = sm.GaussianProduct(F=q, sigma=sigma)
    quad = sm.GaussianProduct(F=lambda x: q(x), sigma=sigma, order=3)
    assert exact.exact and not quad.exact
    theta, thetat = rng.normal(size=(4, d)), rng.normal(size=(4, d))
    x = rng.normal(size=(4, d))
    for name, args in [("J", (theta,)), ("grad_J", (theta,)), ("surrogate", (theta, thetat)),
                       ("grad_surrogate", (theta, thetat)), ("decomposition_terms", (theta, thetat)),
                       ("surrogate_terms", (theta, thetat))]:
        np.testing.assert_allclose(getattr(exact, name)(*args), getattr(quad, name)(*args), atol=1e-10, err_msg=name)
    for i in range(d + 1):
        np.testing.assert_allclose(exact.value(theta, x[:, :i]), quad.value(theta, x[:, :i]), atol=1e-10)
    # closed form J by hand: F(theta) + 1/2 tr(H Sigma)
    np.testing.assert_allclose(exact.J(theta), q(theta) + 0.5 * np.sum(np.diag(q.H) * sigma**2), atol=1e-12)
    np.testing.assert_allclose(exact.grad_J(theta), theta @ q.H + q.g, atol=1e-12)


def _sin_exp(a, b):
    def F(x):
        return np.sin(x @ a) + np.exp(x @ b)
    return F


def test_gaussian_quadrature_vs_closed_form_non_polynomial():
    """F = sin(a.x) + exp(b.x): E = sin(a.m) exp(-1/2 sum a^2 s^2) + exp(b.m + 1/2 sum b^2 s^2).
    With order 20 the per-dimension remainder n!/(2n)! (sigma a)^{2n} is < 1e-28 here."""
    rng = np.random.default_rng(0)
    d = 3
    a, b = rng.normal(size=d), 0.3 * rng.normal(size=d)
    sigma = np.array([0.5, 1.0, 0.8])
    gp = sm.GaussianProduct(F=_sin_exp(a, b), sigma=sigma, order=20)

    def J(m, var):
        return (np.sin(m @ a) * np.exp(-0.5 * np.sum(a**2 * var)) + np.exp(m @ b + 0.5 * np.sum(b**2 * var)))

    def gJ(m, var):
        return (np.cos(m @ a) * np.exp(-0.5 * np.sum(a**2 * var)))[..., None] * a + \
            np.exp(m @ b + 0.5 * np.sum(b**2 * var))[..., None] * b

    theta, thetat = rng.normal(size=(5, d)), rng.normal(size=(5, d))
    var = sigma**2
    np.testing.assert_allclose(gp.J(theta), J(theta, var), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gp.grad_J(theta), gJ(theta, var), rtol=1e-11, atol=1e-11)
    x = rng.normal(size=(5, d))
    for i in range(d + 1):
        m = np.concatenate([x[:, :i], theta[:, i:]], axis=1)
        v = np.where(np.arange(d) >= i, var, 0.0)
        np.testing.assert_allclose(gp.value(theta, x[:, :i]), J(m, v), rtol=1e-12, atol=1e-12)
    # L_theta(thetat): coordinate j from thetat, the others from theta
    Lref = J(theta, var) + sum(J(np.where(np.arange(d) == j, thetat, theta), var) - J(theta, var) for j in range(d))
    np.testing.assert_allclose(gp.surrogate(theta, thetat), Lref, rtol=1e-12, atol=1e-12)
    gref = np.stack([gJ(np.where(np.arange(d) == j, thetat, theta), var)[:, j] for j in range(d)], axis=-1)
    np.testing.assert_allclose(gp.grad_surrogate(theta, thetat), gref, rtol=1e-11, atol=1e-11)


def test_gaussian_quadrature_vs_monte_carlo():
    """J and grad J of a non-polynomial, non-closed-form F against 200000 Monte Carlo draws:
    |quadrature - MC| <= 5 standard errors (two-sided false-alarm rate < 6e-7 per quantity, by the CLT)."""
    rng = np.random.default_rng(42)
    F = lambda x: np.tanh(x[:, 0] * x[:, 1]) + np.abs(np.sin(x[:, 0])) ** 1.5  # noqa: E731
    sigma = np.array([0.7, 0.4])
    gp = sm.GaussianProduct(F=F, sigma=sigma, order=40)
    theta = np.array([0.3, -0.5])
    X = gp.sample(theta, 200_000, rng)
    fx = F(X)
    se = fx.std() / np.sqrt(fx.size)
    assert abs(gp.J(theta) - fx.mean()) <= 5 * se
    gs = fx[:, None] * (X - theta) / sigma**2
    assert np.all(np.abs(gp.grad_J(theta) - gs.mean(0)) <= 5 * gs.std(0) / np.sqrt(fx.size))


def _nested(gp, means_outer, n_outer, fn):
    """sum over tensor Gauss-Hermite nodes of X_k ~ N(means_outer[k], sigma_k^2), k < len(means_outer), of fn(x)."""
    nodes, w = hermegauss(n_outer)
    w = w / np.sqrt(2 * np.pi)
    k = len(means_outer)
    tot = 0.0
    for idx in itertools.product(range(n_outer), repeat=k):
        x = np.array([means_outer[j] + gp.sigma[j] * nodes[idx[j]] for j in range(k)])
        tot += np.prod(w[list(idx)]) * fn(x)
    return tot


@pytest.mark.parametrize("kind", ["quadratic", "sin"])
def test_gaussian_literal_eq12_eq13_by_nested_quadrature(kind):
    """Terms of eq. 12 (X ~ thetat) and eq. 13 (X^{1..i} ~ theta, X^{i+1} ~ thetat) computed literally as
    nested integrals of A_theta = V_theta(x^{1..i+1}) - V_theta(x^{1..i}) over quadrature nodes."""
    rng = np.random.default_rng(1)
    d = 3
    sigma = np.array([0.6, 0.9, 0.5])
    if kind == "quadratic":
        gp, n = sm.GaussianProduct(F=random_quadratic(rng, d), sigma=sigma), 3
    else:
        gp, n = sm.GaussianProduct(F=_sin_exp(rng.normal(size=d), 0.2 * rng.normal(size=d)), sigma=sigma, order=12), 12
    theta, thetat = rng.normal(size=d), rng.normal(size=d)
    T = gp.decomposition_terms(theta, thetat)
    S = gp.surrogate_terms(theta, thetat)
    for i in range(d):
        T_lit = _nested(gp, thetat[: i + 1], n, lambda x: gp.advantage(theta, x))
        S_lit = _nested(gp, np.concatenate([theta[:i], thetat[i:i + 1]]), n, lambda x: gp.advantage(theta, x))
        assert T[i] == pytest.approx(T_lit, abs=1e-9)
        assert S[i] == pytest.approx(S_lit, abs=1e-9)
    assert gp.J(theta) + T.sum() == pytest.approx(gp.J(thetat), abs=1e-10)
    assert gp.surrogate(theta, theta) == pytest.approx(gp.J(theta), abs=1e-12)
    np.testing.assert_allclose(gp.grad_surrogate(theta, theta), gp.grad_J(theta), atol=1e-10)
    np.testing.assert_allclose(gp.grad_surrogate(theta, thetat), fd_grad(lambda t: gp.surrogate(theta, t), thetat),
                               atol=1e-6)
    np.testing.assert_allclose(gp.grad_J(thetat), fd_grad(gp.J, thetat), atol=1e-6)


def test_gaussian_tv_kl_against_numerical_integration():
    sigma = np.array([0.5, 2.0])
    gp = sm.GaussianProduct(F=sm.Quadratic(H=np.eye(2), g=np.zeros(2)), sigma=sigma)
    theta, thetat = np.array([0.1, -1.0]), np.array([0.9, 0.5])
    tv, kl = gp.tv(theta, thetat), gp.kl(theta, thetat)
    for i in range(2):
        p = stats.norm(theta[i], sigma[i]).pdf
        q = stats.norm(thetat[i], sigma[i]).pdf
        tv_num = 0.5 * integrate.quad(lambda x: abs(p(x) - q(x)), -40, 40, points=[theta[i], thetat[i]], limit=200)[0]
        kl_num = integrate.quad(lambda x: p(x) * np.log(p(x) / q(x)), theta[i] - 30 * sigma[i],
                                theta[i] + 30 * sigma[i], limit=200)[0]
        assert tv[i] == pytest.approx(tv_num, abs=1e-8)
        assert kl[i] == pytest.approx(kl_num, abs=1e-8)
    assert gp.alpha(theta, thetat) == tv.max()
    np.testing.assert_array_equal(gp.kl(theta, thetat, reverse=True), kl)
    assert np.all(tv**2 <= kl / 2)  # Pinsker


@pytest.mark.parametrize("baseline", ["value", "advantage"])
def test_gaussian_is_clip_surrogates(baseline):
    rng = np.random.default_rng(8)
    d = 3
    q = random_quadratic(rng, d)
    sigma = np.array([0.5, 1.0, 0.7])
    gp = sm.GaussianProduct(F=q, sigma=sigma)
    theta = rng.normal(size=d)
    thetat = theta + 0.2 * rng.normal(size=d)
    X = gp.sample(theta, 12, rng)
    # naive loops, with exact V from the closed form
    tot = 0.0
    for x in X:
        for i in range(1, d + 1):
            r = stats.norm.pdf(x[i - 1], thetat[i - 1], sigma[i - 1]) / stats.norm.pdf(x[i - 1], theta[i - 1],
                                                                                      sigma[i - 1])
            W = gp.value(theta, x[:i]) if baseline == "value" else gp.advantage(theta, x[:i])
            tot += r * W
    assert gp.surrogate_is(theta, thetat, X, baseline=baseline) == pytest.approx(tot / len(X), rel=1e-12)
    for lam in (0.05, 0.2, 1.0):
        assert gp.surrogate_clip(theta, thetat, X, lam, baseline=baseline) <= \
            gp.surrogate_is(theta, thetat, X, baseline=baseline) + 1e-12
        assert gp.surrogate_clip(theta, theta, X, lam, baseline=baseline) == pytest.approx(
            gp.surrogate_is(theta, theta, X, baseline=baseline), abs=1e-12)
        np.testing.assert_allclose(gp.grad_surrogate_clip(theta, theta, X, lam, baseline=baseline),
                                   gp.grad_surrogate_is(theta, theta, X, baseline=baseline), atol=1e-12)
    np.testing.assert_allclose(gp.grad_surrogate_is(theta, thetat, X, baseline=baseline),
                               fd_grad(lambda t: gp.surrogate_is(theta, t, X, baseline=baseline), thetat), atol=1e-6)
    g = gp.grad_surrogate_clip(theta, thetat, X, 0.1, baseline=baseline)
    np.testing.assert_allclose(g, fd_grad(lambda t: gp.surrogate_clip(theta, t, X, 0.1, baseline=baseline), thetat,
                                          h=1e-7), atol=1e-5)
    # user-supplied weights replace the exact W
    W = rng.normal(size=(12, d))
    r = np.exp(((X - theta) ** 2 - (X - thetat) ** 2) / (2 * sigma**2))
    assert gp.surrogate_is(theta, thetat, X, weights=W) == pytest.approx(np.mean(np.sum(r * W, -1)), rel=1e-12)


def test_gaussian_is_exact_vs_monte_carlo_and_literal():
    """surrogate_is_exact = E over samples of surrogate_is: MC mean of 50000 single-sample surrogates
    within 5 standard errors; and literal quadrature of E_theta[r_i W_i]."""
    rng = np.random.default_rng(9)
    d = 2
    q = random_quadratic(rng, d)
    sigma = np.array([0.8, 0.6])
    gp = sm.GaussianProduct(F=q, sigma=sigma)
    theta = rng.normal(size=d)
    thetat = theta + 0.3 * rng.normal(size=d)
    for baseline in ("value", "advantage"):
        exact = gp.surrogate_is_exact(theta, thetat, baseline=baseline)
        X = gp.sample(theta, 50_000, rng)
        per = gp.surrogate_is(theta, thetat, X[:, None, :], baseline=baseline)
        assert abs(per.mean() - exact) <= 5 * per.std() / np.sqrt(per.size)

        def integrand(x):
            tot = 0.0
            for i in range(1, d + 1):
                r = np.exp(((x[i - 1] - theta[i - 1]) ** 2 - (x[i - 1] - thetat[i - 1]) ** 2) / (2 * sigma[i - 1] ** 2))
                tot += r * (gp.value(theta, x[:i]) if baseline == "value" else gp.advantage(theta, x[:i]))
            return tot

        assert _nested(gp, theta, 30, integrand) == pytest.approx(exact, abs=1e-8)
    assert gp.surrogate_is_exact(theta, thetat, baseline="value") - gp.surrogate_is_exact(
        theta, thetat, baseline="advantage") == pytest.approx(d * gp.J(theta), abs=1e-12)


def test_gaussian_eps_and_batching():
    q = sm.Quadratic(H=np.zeros((2, 2)), g=np.zeros(2), c=1.5)
    gp = sm.GaussianProduct(F=q, sigma=1.0)
    assert gp.eps(np.zeros((3, 2))).tolist() == [0.0, 0.0, 0.0]
    gp2 = sm.GaussianProduct(F=sm.Quadratic(H=np.zeros((2, 2)), g=[0, 1.0]), sigma=1.0)
    assert np.isinf(gp2.eps(np.zeros(2)))
    with pytest.raises(ValidationError, match="eps"):
        sm.GaussianProduct(F=lambda x: x[:, 0], sigma=1.0, d=2).eps(np.zeros(2))
    rng = np.random.default_rng(0)
    gq = sm.GaussianProduct(F=lambda x: np.cos(x).sum(-1), sigma=[0.5, 0.3], order=10)
    th, tt = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    np.testing.assert_allclose(gq.surrogate(th, tt), [gq.surrogate(th[b], tt[b]) for b in range(4)], atol=1e-14)
    np.testing.assert_allclose(gq.surrogate(th[0], tt), [gq.surrogate(th[0], tt[b]) for b in range(4)], atol=1e-14)


def test_gaussian_validation():
    with pytest.raises(ValidationError, match="H"):
        sm.Quadratic(H=[[1, 2], [0, 1]], g=[0, 0])
    with pytest.raises(ValidationError, match="g"):
        sm.Quadratic(H=np.eye(2), g=[0, 0, 0])
    q = sm.Quadratic(H=np.eye(2), g=[0, 0])
    with pytest.raises(ValidationError, match="sigma"):
        sm.GaussianProduct(F=q, sigma=[1.0, 0.0])
    with pytest.raises(ValidationError, match="sigma"):
        sm.GaussianProduct(F=q, sigma=[1.0, 1.0, 1.0])
    with pytest.raises(ValidationError, match="d"):
        sm.GaussianProduct(F=lambda x: x[:, 0], sigma=1.0)
    with pytest.raises(ValidationError, match="F"):
        sm.GaussianProduct(F=3.0, sigma=1.0, d=1)
    with pytest.raises(ValidationError, match="order"):
        sm.GaussianProduct(F=lambda x: x[:, 0], sigma=1.0, d=6, order=20)
    with pytest.raises(ValidationError, match="order"):
        sm.GaussianProduct(F=lambda x: x[:, 0], sigma=1.0, d=1, order=0)
    gp = sm.GaussianProduct(F=q, sigma=1.0)
    with pytest.raises(ValidationError, match="theta"):
        gp.J(np.zeros(3))
    with pytest.raises(ValidationError, match="thetat"):
        gp.surrogate(np.zeros(2), [np.inf, 0])
    with pytest.raises(ValidationError, match="x"):
        gp.value(np.zeros(2), np.zeros(3))
    with pytest.raises(ValidationError, match="samples"):
        gp.surrogate_is(np.zeros(2), np.zeros(2), np.zeros((0, 2)))
    with pytest.raises(ValidationError, match="weights"):
        gp.surrogate_is(np.zeros(2), np.zeros(2), np.zeros((3, 2)), weights=np.zeros((2, 2)))
    bad = sm.GaussianProduct(F=lambda x: np.full(len(x), np.nan), sigma=1.0, d=1, order=3)
    with pytest.raises(ValidationError, match="non-finite"):
        bad.J(np.zeros(1))
    shape = sm.GaussianProduct(F=lambda x: x, sigma=1.0, d=2, order=3)
    with pytest.raises(ValidationError, match="F"):
        shape.J(np.zeros(2))


# ----------------------------------------------------------------------------- full-covariance Gaussian (IGO)


def random_spd(rng, d, cond=10.0):
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    S = (Q * np.exp(rng.uniform(0, np.log(cond), d))) @ Q.T
    return 0.5 * (S + S.T)


def _exp_linear(b):
    def F(x):
        return np.exp(x @ b)
    return F


def exp_linear_closed_forms(b, m, S):
    """``F = exp(b'x)``: ``J = exp(b'm + b'Sb/2)``, ``E[F Y] = J S b``, ``E[F (YY' - S)] = J S b b' S``
    (complete the square: under the tilted measure ``Y ~ N(S b, S)``)."""
    J = np.exp(b @ m + 0.5 * b @ S @ b)
    Sb = S @ b
    return J, J * Sb, J * np.outer(Sb, Sb)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_full_gaussian_quadratic_closed_forms_vs_quadrature(d):
    """Closed forms (Quadratic) = Gauss-Hermite in the eigenbasis of S (3 nodes: exact for degree <= 5),
    batched over (m, S); J by hand; the natural gradient by both routes."""
    rng = np.random.default_rng(10 + d)
    q = random_quadratic(rng, d)
    exact, quad = sm.FullGaussian(F=q), sm.FullGaussian(F=lambda x: q(x), d=d, order=3)
    assert exact.exact and not quad.exact
    m = rng.normal(size=(4, d))
    S = np.stack([random_spd(rng, d, cond=100.0) for _ in range(4)])
    np.testing.assert_allclose(exact.J(m, S), quad.J(m, S), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(exact.J(m, S), q(m) + 0.5 * np.einsum("ij,nji->n", q.H, S), rtol=1e-13)
    for name in ("grad_J", "natural_gradient", "natural_gradient_fisher"):
        for a, b in zip(getattr(exact, name)(m, S), getattr(quad, name)(m, S)):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-9, err_msg=name)
    nm, nS = exact.natural_gradient(m, S)
    np.testing.assert_allclose(nm, np.einsum("nij,nj->ni", S, m @ q.H + q.g), rtol=1e-12)
    np.testing.assert_allclose(nS, S @ q.H @ S, rtol=1e-12)
    fm, fS = exact.natural_gradient_fisher(m, S)
    np.testing.assert_allclose(fm, nm, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(fS, nS, rtol=1e-9, atol=1e-10)


def test_full_gaussian_non_polynomial_quadrature_vs_closed_form():
    """F = exp(b'x) (not a polynomial): J, the natural gradient (expectation form and Fisher route) and
    grad_J from 24-node quadrature against the closed forms of the tilted Gaussian."""
    rng = np.random.default_rng(3)
    d = 2
    b, m, S = 0.4 * rng.normal(size=d), rng.normal(size=d), random_spd(rng, d)
    fg = sm.FullGaussian(F=_exp_linear(b), d=d, order=24)
    J, Em, ES = exp_linear_closed_forms(b, m, S)
    assert fg.J(m, S) == pytest.approx(J, rel=1e-12)
    nm, nS = fg.natural_gradient(m, S)
    np.testing.assert_allclose(nm, Em, rtol=1e-10)
    np.testing.assert_allclose(nS, ES, rtol=1e-10, atol=1e-10 * J)
    gm, G = fg.grad_J(m, S)
    np.testing.assert_allclose(gm, J * b, rtol=1e-10)               # d/dm exp(b'm + b'Sb/2)
    np.testing.assert_allclose(G, 0.5 * J * np.outer(b, b), rtol=1e-9, atol=1e-12)
    fm, fS = fg.natural_gradient_fisher(m, S)
    np.testing.assert_allclose(fm, Em, rtol=1e-9)
    np.testing.assert_allclose(fS, ES, rtol=1e-9, atol=1e-10 * J)


def test_full_gaussian_against_monte_carlo():
    """J and the natural gradient's expectation form against the sample means of F(X), F(X) Y and
    F(X)(YY' - S) (4e5 samples; |error| <= 5 standard errors per entry)."""
    rng = np.random.default_rng(4)
    d = 2
    q = random_quadratic(rng, d)
    m, S = rng.normal(size=d), random_spd(rng, d)
    fg = sm.FullGaussian(F=q)
    Y = rng.multivariate_normal(np.zeros(d), S, size=400_000)
    f = q(m + Y)
    samples = {"J": (f, fg.J(m, S)), "nat_m": (f[:, None] * Y, fg.natural_gradient(m, S)[0]),
               "nat_S": ((f[:, None, None] * (Y[:, :, None] * Y[:, None, :] - S)).reshape(len(f), -1),
                         fg.natural_gradient(m, S)[1].reshape(-1))}
    for name, (x, exact) in samples.items():
        se = x.std(axis=0) / np.sqrt(len(x))
        assert np.all(np.abs(x.mean(axis=0) - exact) <= 5 * se), name


def test_full_gaussian_grad_J_by_finite_differences():
    """grad_m J and the symmetric grad_S J (dJ = <G, dS> for symmetric dS) by central differences of J,
    for the closed form (Quadratic) and the quadrature (exp(b'x))."""
    rng = np.random.default_rng(5)
    d = 3
    m, S = rng.normal(size=d), random_spd(rng, d)
    b = 0.3 * rng.normal(size=d)
    for fg in (sm.FullGaussian(F=random_quadratic(rng, d)), sm.FullGaussian(F=_exp_linear(b), d=d, order=12)):
        gm, G = fg.grad_J(m, S)
        np.testing.assert_allclose(gm, fd_grad(lambda x: fg.J(x, S), m), rtol=1e-6, atol=1e-7)
        for i in range(d):
            for j in range(i + 1):
                E = np.zeros((d, d))
                E[i, j] = E[j, i] = 1.0
                h = 1e-5
                fd = (fg.J(m, S + h * E) - fg.J(m, S - h * E)) / (2 * h)
                assert fd == pytest.approx(np.sum(G * E), rel=1e-6, abs=1e-7), (i, j)


def test_fisher_information_is_the_hessian_of_kl():
    """The Fisher matrix in (m, vech S) is the Hessian of theta' -> KL(N(m, S) || N(theta')) at theta' = theta
    (central second differences of the oracle's KL); vech/unvech invert each other."""
    rng = np.random.default_rng(6)
    d = 2
    m, S = rng.normal(size=d), random_spd(rng, d)
    theta = np.concatenate([m, sm.vech(S)])
    np.testing.assert_array_equal(sm.unvech(sm.vech(S), d), S)

    def kl(t):
        return float(sm.gaussian_kl(m, S, t[:d], sm.unvech(t[d:], d)))

    p, h = theta.size, 1e-4
    hess = np.zeros((p, p))
    for a in range(p):
        for c in range(p):
            ea, ec = np.eye(p)[a] * h, np.eye(p)[c] * h
            hess[a, c] = (kl(theta + ea + ec) - kl(theta + ea - ec) - kl(theta - ea + ec) + kl(theta - ea - ec)) / (4 * h * h)
    np.testing.assert_allclose(sm.fisher_information(S), hess, rtol=1e-5, atol=1e-6)


def test_gaussian_kl_against_2d_numerical_integration_and_the_library():
    """The oracle's KL (relative eigenvalues) against scipy's 2-D quadrature of p log(p/q) with
    scipy.stats.multivariate_normal, for full and diagonal covariances; and against the library's
    trustopt.components.gaussian.gaussian_kl; 0 iff the arguments are equal."""
    from trustopt.components.gaussian import gaussian_kl as library_kl

    rng = np.random.default_rng(7)
    m0, m1 = np.array([0.2, -0.3]), np.array([0.7, 0.4])
    S0, S1 = random_spd(rng, 2, cond=4.0), random_spd(rng, 2, cond=4.0)
    for A0, A1 in ((S0, S1), (np.diag(np.diag(S0)), np.diag(np.diag(S1)))):
        p, q = stats.multivariate_normal(m0, A0), stats.multivariate_normal(m1, A1)
        L = 12 * np.sqrt(max(A0.max(), A1.max()))

        def integrand(y, x):
            z = np.array([x, y])
            return p.pdf(z) * (p.logpdf(z) - q.logpdf(z))

        num = integrate.dblquad(integrand, m0[0] - L, m0[0] + L, m0[1] - L, m0[1] + L, epsabs=1e-11, epsrel=1e-10)[0]
        assert sm.gaussian_kl(m0, A0, m1, A1) == pytest.approx(num, rel=1e-7)
        assert library_kl(m0, A0, m1, A1) == pytest.approx(float(sm.gaussian_kl(m0, A0, m1, A1)), rel=1e-12)
    np.testing.assert_allclose(sm.gaussian_kl(m0, np.diag(S0), m1, np.diag(S1)),
                               sm.gaussian_kl(m0, np.diag(np.diag(S0)), m1, np.diag(np.diag(S1))), rtol=1e-14)
    assert sm.gaussian_kl(m0, S0, m0, S0) == pytest.approx(0.0, abs=1e-15)
    assert sm.gaussian_kl(m0, S0, m0, S0 * (1 + 1e-6)) > 0 and sm.gaussian_kl(m0, S0, m0 + 1e-6, S0) > 0
    # batched: one KL per row
    M0, M1 = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    SS0, SS1 = np.stack([random_spd(rng, 2) for _ in range(3)]), np.stack([random_spd(rng, 2) for _ in range(3)])
    np.testing.assert_allclose(sm.gaussian_kl(M0, SS0, M1, SS1),
                               [library_kl(M0[i], SS0[i], M1[i], SS1[i]) for i in range(3)], rtol=1e-12)
    lam = sm.relative_eigenvalues(S0, S1)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(np.linalg.solve(S1, S0)).real), lam, rtol=1e-12)


def test_kl_linear_step_against_a_constrained_optimizer():
    """max g'(m' - m) s.t. 1/2 (m'-m)' S^-1 (m'-m) <= delta by scipy's SLSQP from random starts: it ends at a
    feasible point with the closed form's value (never a larger one) and at the closed form's point; the
    closed form's KL is delta. (SLSQP may report "positive directional derivative" once it cannot improve
    at ftol = 1e-14: the point, not the flag, is checked.)"""
    from scipy.optimize import minimize as sp_minimize

    rng = np.random.default_rng(8)
    for d in (1, 2, 4):
        m, S, g = rng.normal(size=d), random_spd(rng, d, cond=50.0), rng.normal(size=d)
        delta = float(np.exp(rng.uniform(np.log(1e-2), np.log(2.0))))
        ms, value = sm.kl_linear_step(m, S, g, delta)
        assert sm.gaussian_kl(m, S, ms, S) == pytest.approx(delta, rel=1e-12)
        assert value == pytest.approx(np.sqrt(2 * delta * g @ S @ g), rel=1e-14)
        assert g @ (ms - m) == pytest.approx(value, rel=1e-12)
        Si = np.linalg.inv(S)
        cons = [{"type": "ineq", "fun": lambda x: delta - 0.5 * (x - m) @ Si @ (x - m),
                 "jac": lambda x: -Si @ (x - m)}]
        for _ in range(3):
            res = sp_minimize(lambda x: -(g @ (x - m)), m + 0.1 * rng.normal(size=d), jac=lambda x: -g,
                              constraints=cons, method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
            assert 0.5 * (res.x - m) @ Si @ (res.x - m) <= delta * (1 + 1e-9)
            assert -res.fun <= value * (1 + 1e-8)
            assert -res.fun == pytest.approx(value, rel=1e-6)
            np.testing.assert_allclose(res.x, ms, rtol=1e-4, atol=1e-5 * np.abs(ms - m).max())
    ms, value = sm.kl_linear_step(np.zeros(2), np.eye(2), np.zeros(2), 0.1)  # g = 0: stay
    np.testing.assert_array_equal(ms, 0.0)
    assert value == 0.0


def test_full_gaussian_validation():
    q = sm.Quadratic(H=np.eye(2), g=np.zeros(2))
    fg = sm.FullGaussian(F=q)
    with pytest.raises(ValidationError, match="S: must be symmetric"):
        fg.J(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValidationError, match="S: must be positive definite"):
        fg.J(np.zeros(2), np.diag([1.0, -1.0]))
    with pytest.raises(ValidationError, match="S: expected shape"):
        fg.J(np.zeros(2), np.eye(3))
    with pytest.raises(ValidationError, match="m: expected shape"):
        fg.J(np.zeros(3), np.eye(2))
    with pytest.raises(ValidationError, match="d: give"):
        sm.FullGaussian(F=lambda x: x[:, 0])
    with pytest.raises(ValidationError, match="d: 3 disagrees"):
        sm.FullGaussian(F=q, d=3)
    with pytest.raises(ValidationError, match="order"):
        sm.FullGaussian(F=lambda x: x[:, 0], d=8, order=10)
    with pytest.raises(ValidationError, match="F: must map"):
        sm.FullGaussian(F=lambda x: x, d=2).J(np.zeros(2), np.eye(2))
    with pytest.raises(ValidationError, match="S1: a diagonal"):
        sm.gaussian_kl(np.zeros(2), np.ones(2), np.zeros(2), np.array([1.0, 0.0]))
    with pytest.raises(ValidationError, match="delta"):
        sm.kl_linear_step(np.zeros(2), np.eye(2), np.ones(2), 0.0)


# ----------------------------------------------------------------------------- the IGO claims, and what they found


def test_igo_claims_pass_on_the_command_line():
    """``python -m proofs_check --claim igo.`` (every IGO / trust-region-cma claim) exits 0."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "proofs_check", "--claim", "igo.", "--instances", "100"], cwd=root,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    for cid in ("igo.natural-gradient", "igo.kl", "igo.kl-lower-bound", "igo.kl-linear-step",
                "igo.kl-linear-step-bound", "igo.trcma-kl-cap"):
        assert cid in out.stdout


def _trcma_steps(F, d, delta, iterations=4, sigma0=0.5):
    """``[(record.kl, oracle KL of the distributions before and after the tell)]`` of TrustRegionCMA."""
    import trustopt

    opt = trustopt.TrustRegionCMA(np.ones(d), sigma0, seed=1, kl_radius=delta)

    def cov():
        s = opt.state.step_state
        return sigma0**2 * np.eye(d) if s is None else s.sigma**2 * s.C

    out = []
    for _ in range(iterations):
        m0, S0 = np.array(opt.state.theta), cov()
        X = opt.ask()
        opt.tell(X, F(X))
        out.append((opt.history[-1].kl, float(sm.gaussian_kl(m0, S0, np.array(opt.state.theta), cov()))))
    return out


def test_trcma_reported_kl_is_the_oracle_kl_and_within_the_cap():
    q = random_quadratic(np.random.default_rng(9), 3)
    for delta in (1e-3, 0.05, 10.0):
        for kl, oracle in _trcma_steps(q, 3, delta):
            assert kl <= delta
            assert kl == pytest.approx(oracle, rel=1e-9)


def test_trcma_kl_cap_holds_for_a_tiny_radius():
    q = random_quadratic(np.random.default_rng(9), 3)
    assert all(kl <= 1e-12 for kl, _ in _trcma_steps(q, 3, 1e-12))


def test_trcma_reported_kl_on_a_plateau_is_the_kl_of_the_move_made():
    for kl, oracle in _trcma_steps(lambda X: np.zeros(len(X)), 3, 0.1):
        assert kl == pytest.approx(oracle, rel=1e-9)
