"""ES-family building blocks against independent references.

References: closed-form gradients of Gaussian smoothing of quadratics (trustopt.smoothing,
an exact oracle that does not import the code under test), explicit loops, scipy, and
finite differences.
"""

import math
import pickle

import numpy as np
import pytest
from scipy import stats

from trustopt import smoothing
from trustopt._validation import ValidationError
from trustopt.components.es_steps import ars_direction, bfgs_update, clipped_surrogate, dogleg
from trustopt.components.search import GaussianSearch, impute_nonfinite, make_batch
from trustopt.estimators import antithetic_gradient, vanilla_gradient
from trustopt.components.surrogates import ImportanceSampled
from trustopt.noise import NoiseTable, orthogonal_directions

# ----------------------------------------------------------------------------- noise table


def test_noise_table_is_seeded_standard_normal_and_pickles_small():
    t = NoiseTable(seed=7, size=200_000)
    t2 = pickle.loads(pickle.dumps(t))
    assert len(pickle.dumps(t)) < 500  # only (seed, size) travel
    assert t.noise is NoiseTable(seed=7, size=200_000).noise  # one cached array per (seed, size)
    assert len(pickle.dumps(t)) < 500 and vars(t2) == {"seed": 7, "size": 200_000}  # also once the table is built
    assert vars(NoiseTable(seed=np.int64(7), size=np.int32(10))) == {"seed": 7, "size": 10}
    assert type(NoiseTable(seed=np.int64(7), size=10).seed) is int
    idx = np.array([0, 5, 199_990])
    assert np.array_equal(t.get(idx, 10), t2.get(idx, 10))
    # Kolmogorov-Smirnov against N(0, 1): p-value of a correct table is U(0,1); 1e-4 false alarm.
    assert stats.kstest(t.noise[:50_000].astype(np.float64), "norm").pvalue > 1e-4
    assert not np.array_equal(NoiseTable(seed=8, size=1000).noise, NoiseTable(seed=7, size=1000).noise)
    with pytest.raises(ValidationError, match="index"):
        t.get([199_995], 10)


def test_perturb_is_the_documented_formula():
    t = NoiseTable(seed=1, size=10_000)
    theta, sigma = np.arange(4.0), 0.3
    X = t.perturb(theta, sigma, [3, 100], [1.0, -1.0])
    expect = np.stack([theta + sigma * t.noise[3:7].astype(float), theta - sigma * t.noise[100:104].astype(float)])
    assert np.array_equal(X, expect)


def test_orthogonal_directions_are_orthogonal_with_norm_sqrt_d():
    rng = np.random.default_rng(0)
    E = orthogonal_directions(rng.standard_normal((13, 5)))  # two full blocks of 5 and one of 3
    for blk in (E[0:5], E[5:10], E[10:13]):
        G = blk @ blk.T
        np.testing.assert_allclose(G, 5.0 * np.eye(len(blk)), atol=1e-12)


# ----------------------------------------------------------------------------- estimators


def _quadratic(d, rng):
    A = rng.standard_normal((d, d))
    H = A @ A.T / d + np.eye(d)
    return smoothing.Quadratic(H=H, g=rng.standard_normal(d), c=0.5)


def _hotelling_pvalue(samples, mean):
    """p-value of Hotelling's T^2 test of E[samples] = mean (exact F distribution under normality;
    the estimators are averages over many samples, so close to normal)."""
    R, d = samples.shape
    diff = samples.mean(axis=0) - mean
    S = np.cov(samples, rowvar=False)
    t2 = R * diff @ np.linalg.solve(S, diff)
    f = t2 * (R - d) / (d * (R - 1))
    return stats.f.sf(f, d, R - d)


@pytest.mark.parametrize("kind", ["vanilla", "antithetic"])
def test_estimators_unbiased_for_quadratics(kind):
    """CLAIM es.estimators-unbiased (TRES eq. 4-6), statistical: R = 3000 independent estimates,
    Hotelling T^2 against the closed form grad J = H theta + g (smoothing oracle). False-alarm
    rate 1e-3 (fixed seed, so the outcome is deterministic). Power: the same test rejects the
    estimator with sigma instead of sigma^2 and the antithetic one without its 1/2."""
    rng = np.random.default_rng(2024)
    d, N, R, sigma = 4, 8, 3000, 0.7
    F = _quadratic(d, rng)
    theta = rng.standard_normal(d)
    truth = smoothing.GaussianProduct(F=F, sigma=sigma).grad_J(theta)
    np.testing.assert_allclose(truth, F.H @ theta + F.g, rtol=1e-10)
    est, wrong = np.empty((R, d)), np.empty((R, d))
    for r in range(R):
        eps = rng.standard_normal((N, d))
        X = theta + sigma * eps
        if kind == "vanilla":
            est[r] = vanilla_gradient(F(X), X, theta, sigma)
            wrong[r] = est[r] * sigma  # the classic slip: dividing by sigma instead of sigma^2
        else:
            est[r] = antithetic_gradient(F(X), F(2 * theta - X), X, theta, sigma)
            wrong[r] = 2.0 * est[r]
    assert _hotelling_pvalue(est, truth) > 1e-3
    assert _hotelling_pvalue(wrong, truth) < 1e-6


def test_antithetic_equals_explicit_loop_and_loop_surrogate_gradient():
    rng = np.random.default_rng(3)
    d, m, sigma = 5, 6, 0.2
    theta = rng.standard_normal(d)
    eps = rng.standard_normal((m, d))
    f = lambda x: np.sin(x).sum(axis=-1) + (x**2).sum(axis=-1)  # noqa: E731
    Xp, Xm = theta + sigma * eps, theta - sigma * eps
    loop = sum((f(Xp[i]) - f(Xm[i])) * (Xp[i] - theta) for i in range(m)) / (2 * m * sigma**2)
    np.testing.assert_allclose(antithetic_gradient(f(Xp), f(Xm), Xp, theta, sigma), loop, rtol=1e-12)
    # the loop's importance-sampled surrogate on the antithetic batch has exactly this gradient at theta_k
    batch = make_batch(theta, sigma, np.concatenate([Xp, Xm]), f(np.concatenate([Xp, Xm])))
    L0, g0 = ImportanceSampled().value_and_grad(GaussianSearch(n_params=d), theta, batch)
    np.testing.assert_allclose(g0, loop, rtol=1e-10, atol=1e-12)
    assert L0 == pytest.approx(batch.eta)


def test_gaussian_search_policy_against_scipy_and_finite_differences():
    rng = np.random.default_rng(4)
    d, N = 3, 5
    pol = GaussianSearch(n_params=d)
    theta, X = rng.standard_normal(d), rng.standard_normal((N, d))
    S = np.broadcast_to(np.array([0.5, 1.0, 2.0]), (N, d))
    np.testing.assert_allclose(pol.log_prob(theta, S, X), stats.norm.logpdf(X, theta, S).sum(axis=1), rtol=1e-12)
    h = 1e-6
    fd = np.stack([(pol.log_prob(theta + h * e, S, X) - pol.log_prob(theta - h * e, S, X)) / (2 * h)
                   for e in np.eye(d)], axis=1)
    np.testing.assert_allclose(pol.grad_log_prob(theta, S, X), fd, rtol=1e-6, atol=1e-8)
    theta2 = theta + 0.3
    # KL of equal-variance Gaussians, per dimension (TRES eq. 17's D_KL^max uses the max of these)
    np.testing.assert_allclose(pol.kl_dims(theta, theta2, S)[0], 0.09 / (2 * S[0] ** 2), rtol=1e-12)


# ----------------------------------------------------------------------------- TRES surrogate


def test_clipped_surrogate_matches_smoothing_oracle_and_lemma1():
    """TRES eq. 25 against the independent implementation of trustopt.smoothing (same formula,
    written separately), with the oracle's exact V_theta(x^{1..i}) as per-dimension values."""
    rng = np.random.default_rng(5)
    d, N, sigma, lam = 3, 40, 0.6, 0.3
    F = _quadratic(d, rng)
    G = smoothing.GaussianProduct(F=F, sigma=sigma)
    theta = rng.standard_normal(d)
    X = G.sample(theta, N, rng)
    V = np.stack([G.value(theta, X[:, : i + 1]) for i in range(d)], axis=-1)  # V_theta(x^{1..i})
    for thetat in (theta, theta + 0.2 * rng.standard_normal(d), theta + 1.5):
        val, grad = clipped_surrogate(thetat, theta, X, sigma, V, lam)
        assert val == pytest.approx(float(G.surrogate_clip(theta, thetat, X, lam)), rel=1e-10)
        np.testing.assert_allclose(grad, G.grad_surrogate_clip(theta, thetat, X, lam), rtol=1e-9, atol=1e-12)
    # at thetat = theta the gradient is the vanilla estimator (eq. 5) with per-dimension values
    _, g = clipped_surrogate(theta, theta, X, sigma, V, lam)
    np.testing.assert_allclose(g, (V * (X - theta)).mean(axis=0) / sigma**2, rtol=1e-12)


def test_clipped_surrogate_gradient_by_finite_differences_and_lower_bound():
    rng = np.random.default_rng(6)
    d, N, sigma, lam = 4, 30, 0.5, 0.2
    theta = rng.standard_normal(d)
    X = theta + sigma * rng.standard_normal((N, d))
    V = rng.standard_normal(N)
    for _ in range(5):
        thetat = theta + 0.1 * rng.standard_normal(d)
        val, grad = clipped_surrogate(thetat, theta, X, sigma, V, lam)
        h = 1e-6
        fd = np.array([(clipped_surrogate(thetat + h * e, theta, X, sigma, V, lam)[0]
                        - clipped_surrogate(thetat - h * e, theta, X, sigma, V, lam)[0]) / (2 * h) for e in np.eye(d)])
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)  # a.e. differentiable; kinks measure zero
        r = np.exp(((X - theta) ** 2 - (X - thetat) ** 2) / (2 * sigma**2))
        assert val <= np.sum(r * V[:, None]) / N + 1e-12  # CLAIM tres.clip-lower-bound: L_CLIP <= L_IS


# ----------------------------------------------------------------------------- ARS, Adam, NaN policy


def test_ars_direction_against_explicit_loop():
    rng = np.random.default_rng(7)
    m, d, b = 8, 3, 3
    rp, rm, delta = rng.standard_normal(m), rng.standard_normal(m), rng.standard_normal((m, d))
    dirn, sR = ars_direction(rp, rm, delta, b)
    top = sorted(range(m), key=lambda j: -max(rp[j], rm[j]))[:b]
    kept = [rp[j] for j in top] + [rm[j] for j in top]
    sigma_R = np.std(kept)
    expect = sum((rp[j] - rm[j]) * delta[j] for j in top) / (b * sigma_R)
    np.testing.assert_allclose(dirn, expect, rtol=1e-12)
    assert sR == pytest.approx(sigma_R)
    with pytest.raises(ValidationError, match="n_top"):
        ars_direction(rp, rm, delta, m + 1)


def test_adam_matches_kingma_ba_algorithm():
    """trustopt.linalg.adam against Kingma & Ba 2015 Alg. 1 written out per coordinate (epsilon next
    to sqrt(v_hat)), with an epsilon large enough (1e-2) that the paper's "efficient" variant
    (epsilon / sqrt(1 - beta2^t)) would differ by far more than the tolerance."""
    from trustopt.linalg import adam

    rng = np.random.default_rng(8)
    g_seq = rng.standard_normal((5, 3)) * np.array([1.0, 1e-3, 1e2])
    b1, b2 = 0.9, 0.999
    for eps in (1e-8, 1e-2):
        moments, m, v = None, [0.0] * 3, [0.0] * 3
        for t, g in enumerate(g_seq, start=1):
            dirn, moments = adam(moments, g, beta1=b1, beta2=b2, epsilon=eps)
            expect = []
            for i in range(3):
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
                expect.append((m[i] / (1 - b1**t)) / (math.sqrt(v[i] / (1 - b2**t)) + eps))
            np.testing.assert_allclose(dirn, expect, rtol=1e-12)
            assert moments[2] == t
    # Both users share it: ClippedAscent (PPO) and ESGradientStep (OpenAI ES) call the same function.
    import sys

    import trustopt.algorithms.es  # noqa: F401
    import trustopt.components.steps  # noqa: F401
    assert sys.modules["trustopt.components.es_steps"].adam is adam and sys.modules["trustopt.components.steps"].adam is adam


def test_nonfinite_values_get_the_worst_finite_value():
    v, n = impute_nonfinite([1.0, np.nan, -2.0, np.inf, -np.inf], maximize=True)
    assert n == 3 and np.array_equal(v, [1.0, -2.0, -2.0, -2.0, -2.0])
    v, n = impute_nonfinite([1.0, np.nan, 3.0], maximize=False)
    assert n == 1 and np.array_equal(v, [1.0, 3.0, 3.0])
    v, n = impute_nonfinite([np.nan, np.nan], maximize=True)
    assert n == 2 and np.array_equal(v, [0.0, 0.0])


# ----------------------------------------------------------------------------- trust-region pieces


def test_bfgs_recovers_a_quadratic_hessian_from_d_conjugate_pairs():
    """Quadratic termination: with y = H s and H-conjugate steps, BFGS keeps every earlier secant
    condition (hereditary property), so after d such pairs B = H (Nocedal & Wright 2006, sec. 6.1).
    Steps made H-conjugate by Gram-Schmidt in the H inner product."""
    rng = np.random.default_rng(9)
    d = 5
    A = rng.standard_normal((d, d))
    H = A @ A.T + np.eye(d)
    S = []
    for v in rng.standard_normal((d, d)):
        for s in S:
            v = v - (v @ H @ s) / (s @ H @ s) * s
        S.append(v)
    B = None
    for s in S:
        B = bfgs_update(B, s, H @ s)
    np.testing.assert_allclose(B, H, rtol=1e-8, atol=1e-8)
    assert bfgs_update(B, S[0], -H @ S[0]) is B  # negative curvature pair skipped


def test_dogleg_against_the_exact_subproblem_limits():
    rng = np.random.default_rng(10)
    d = 4
    A = rng.standard_normal((d, d))
    H = A @ A.T + 0.5 * np.eye(d)
    g = rng.standard_normal(d)
    pN = np.linalg.solve(H, g)
    np.testing.assert_allclose(dogleg(g, H, 2 * np.linalg.norm(pN)), pN, rtol=1e-10)  # interior Newton point
    tiny = 1e-6 * np.linalg.norm(g) / np.linalg.norm(H, 2)
    np.testing.assert_allclose(dogleg(g, H, tiny), tiny * g / np.linalg.norm(g), rtol=1e-10)  # steepest ascent
    for delta in np.linspace(0.05, 0.95, 7) * np.linalg.norm(pN):
        p = dogleg(g, H, delta)
        assert np.linalg.norm(p) <= delta * (1 + 1e-12)
        model = lambda q: g @ q - 0.5 * q @ H @ q  # noqa: E731
        # dogleg gains at least the Cauchy point's model value (N&W Lemma 4.2 ingredient)
        tc = min(delta / np.linalg.norm(g), (g @ g) / (g @ H @ g))
        assert model(p) >= model(tc * g) - 1e-12


def test_isotropic_fast_paths_equal_the_per_dimension_formulas():
    rng = np.random.default_rng(11)
    N, d = 7, 4
    pol = GaussianSearch(n_params=d)
    theta, X, c = rng.standard_normal(d), rng.standard_normal((N, d)), rng.standard_normal(N)
    s1 = np.full((N, 1), 0.3)
    sd = np.full((N, d), 0.3)
    np.testing.assert_allclose(pol.log_prob(theta, s1, X), pol.log_prob(theta, sd, X), rtol=1e-13)
    np.testing.assert_allclose(pol.score_vector_product(theta, s1, X, c),
                               pol.grad_log_prob(theta, sd, X).T @ c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pol.kl_dims(theta, theta + 1, s1), pol.kl_dims(theta, theta + 1, sd), rtol=1e-13)


def _components(method):
    return (method.name, type(method.policy), method.sampler, method.surrogate, method.distance, method.step,
            method.acceptance, method.radius_rule, bytes(np.asarray(method.theta0)))


@pytest.mark.parametrize("name", ["es", "ars", "tres", "trust-region-es", "trust-region-cma"])
@pytest.mark.parametrize("adapt", [True, False])
def test_every_entry_point_builds_the_registrys_method(name, adapt):
    """``trustopt.run(name, F)``, the ask/tell class and ``minimize(method=name)`` build the same
    registered composition (equal components and hyperparameters), and ``run`` follows the same
    iterates as the ask/tell class told ``-F`` with the same seed."""
    from trustopt.algorithms import get
    from trustopt.api import run
    from trustopt.asktell import METHODS
    from trustopt.optimize import _method

    always_adaptive = name in ("trust-region-es", "trust-region-cma")
    if always_adaptive and not adapt:
        pytest.skip(f"{name} is always adaptive")
    target = np.array([1.0, -2.0, 0.5])

    def reward(X):
        return -np.sum((np.atleast_2d(X) - target) ** 2, axis=1)

    mode = {} if always_adaptive else dict(adapt=adapt)
    registered = get(name)(None, theta0=np.zeros(3), sigma0=0.1, **mode)
    opt = METHODS[name](np.zeros(3), 0.1, seed=0, **mode)
    assert _method(name)[1] is type(opt) and _components(opt.method) == _components(registered)
    assert opt.method.hyperparameters == registered.hyperparameters
    res = run(name, reward, theta0=np.zeros(3), sigma0=0.1, max_iter=30, seed=0, **mode)
    assert _components(res.method) == _components(registered)
    while opt.nit < 30:
        X = opt.ask()
        opt.tell(X, -reward(X))
    assert np.array_equal(opt.state.theta, res.theta) and len(res.history) == 30


def test_run_drives_the_es_family_to_the_optimum():
    """es / ars / tres through ``trustopt.run`` (reward maximization) in both modes."""
    from trustopt.algorithms.ars import ars
    from trustopt.algorithms.es import es
    from trustopt.algorithms.tres import tres
    from trustopt.api import run

    target = np.array([1.0, -2.0, 0.5])

    def reward(X):
        return -np.sum((np.atleast_2d(X) - target) ** 2, axis=1)

    for factory, hp in ((es, dict(adapt=False, lr=0.05, l2=0.0, optimizer="sgd")), (ars, dict(adapt=False, alpha=0.05)),
                        (tres, dict(adapt=False, lr=0.5)), (es, {}), (ars, {}), (tres, {})):
        method = factory(reward, theta0=np.zeros(3), sigma0=0.1, popsize=40, **hp)
        res = run(method, None, max_iter=150, seed=0)
        assert np.sum((res.theta - target) ** 2) < 0.05 * np.sum(target**2), (method.name, hp, res.theta)
        again = run(factory(reward, theta0=np.zeros(3), sigma0=0.1, popsize=40, **hp), None, max_iter=150, seed=0)
        assert np.array_equal(res.theta, again.theta)  # same seed, same result
    with pytest.raises(ValidationError, match="exact"):
        es(reward, theta0=np.zeros(3), sigma0=0.1, exact=True)
    with pytest.raises(ValidationError, match="problem"):
        es("HalfCheetah-v5", theta0=np.zeros(3), sigma0=0.1)
    with pytest.raises(ValidationError, match="^sigma0: 'tres' needs the initial standard deviation"):
        run("tres", reward, theta0=np.zeros(3), max_iter=1, seed=0)


@pytest.mark.parametrize("name", ["es", "ars", "tres", "trust-region-es", "trust-region-cma"])
def test_run_with_a_misspelt_sigma0_suggests_sigma0(name):
    """The hint was looked up among the options' fields only, so ``sigm0`` got no hint and a list
    of valid names without ``sigma0``, as if ``run`` took no ``sigma0``."""
    from trustopt.api import run

    with pytest.raises(ValidationError, match=rf"^sigm0: unknown hyperparameter of {name} \(did you mean 'sigma0'\?\)"):
        run(name, lambda X: -np.sum(X**2, axis=1), theta0=np.zeros(3), sigm0=0.1, max_iter=1, seed=0)


@pytest.mark.parametrize("algo", ["es", "ars", "tres"])
def test_trustopt_train_builds_the_registrys_method_in_paper_mode(algo):
    """``trustopt train --algo {es,ars,tres}`` builds the registry's method with the one documented
    override ``adapt=False`` (the papers' algorithms) and the settings of trustopt.train.config."""
    from trustopt.algorithms import get
    from trustopt.noise import NoiseTable
    from trustopt.train.config import TrainConfig, resolve_config
    from trustopt.train.trainer import _make_optimizer

    c = resolve_config(TrainConfig(env_id="Swimmer-v5", algo=algo, timesteps=1000, seed=3))
    d = 16  # Swimmer-v5: 8 observations x 2 actions
    opt = _make_optimizer(c, d)
    hp = {"tres": dict(lambda_=c.lambda_, K=c.K, lr=c.lr), "es": dict(lr=c.lr, l2=c.l2, optimizer=c.optimizer),
          "ars": dict(alpha=c.lr, top_fraction=(c.top_directions or 1) / c.n_directions)}[algo]
    registered = get(algo)(None, theta0=np.zeros(d), sigma0=c.sigma, popsize=2 * c.n_directions,
                           noise=NoiseTable(size=c.noise_table_size), adapt=False, **hp)
    assert _components(opt.method) == _components(registered) and opt.seed == c.seed
    assert opt.method.hyperparameters == registered.hyperparameters


def test_quadratic_model_step_is_the_same_bits_for_any_blas_thread_count():
    """The trust-region ES's dogleg (a Cholesky of H) and BFGS update: OpenBLAS's threaded Cholesky
    of a d >= 128 matrix rounds differently, and minimize(rosen, zeros(150),
    method="trust-region-es") ended on other bits with OPENBLAS_NUM_THREADS=2 than with 1. They run
    on one BLAS thread (trustopt._blas), as the CMA distribution's algebra does."""
    from types import SimpleNamespace

    from threadpoolctl import threadpool_limits

    from trustopt.components.es_steps import QuadraticModelStep

    rng = np.random.default_rng(0)
    d = 160
    A = rng.normal(size=(d, d))
    H = A @ A.T / d + np.eye(d)
    g0, theta_k = rng.normal(size=d), np.zeros(d)
    model = SimpleNamespace(theta_k=theta_k, g0=g0)
    steps = []
    for n_threads in (1, 2):
        with threadpool_limits(limits=n_threads, user_api="blas"):
            steps.append(QuadraticModelStep().propose(model, 1e3, None, step_state=(H, theta_k, g0)).theta)
    assert steps[0].tobytes() == steps[1].tobytes()
