"""Returns, GAE, centered ranks, ridge baseline and mergeable running moments.

References: the numba kernels against their NumPy twins; both against direct O(T^2)
sums written from the slides' definitions (n-step advantages with (1 - lambda) lambda^{n-1}
weights, "GAE: Limiting Cases"); the previous-batch baseline pipeline against those sums with
a per-state-mean baseline; hand-computed episodes; scipy's rankdata; the ridge
normal equations; two-pass mean/variance of the concatenated data.
"""

import pickle

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.stats import rankdata

from trustopt import ValidationError
from trustopt.estimators import (
    LinearValueBaseline,
    RunningMeanStd,
    centered_ranks,
    discounted_returns,
    discounted_returns_numpy,
    episode_timesteps,
    gae,
    gae_numpy,
    gae_with_fitted_baseline,
    ridge_regression,
)

# ----------------------------------------------------------------------------- random trajectories


@st.composite
def trajectories(draw, two_d=None):
    """(rewards, values, next_values, terminated, truncated, gamma, lambda_) with consistent
    next_values: inside an episode next_values[t] = values[t+1]."""
    seed = draw(st.integers(0, 2**32 - 1))
    T = draw(st.integers(1, 40))
    N = draw(st.integers(1, 3)) if (two_d if two_d is not None else draw(st.booleans())) else None
    rng = np.random.default_rng(seed)
    shape = (T,) if N is None else (T, N)
    p_term, p_trunc = draw(st.sampled_from([(0.0, 0.0), (0.1, 0.0), (0.0, 0.1), (0.15, 0.15), (0.5, 0.3)]))
    terminated = rng.random(shape) < p_term
    truncated = rng.random(shape) < p_trunc
    rewards = rng.standard_normal(shape)
    values = rng.standard_normal(shape)
    next_values = np.empty(shape)
    next_values[:-1] = values[1:]
    next_values[-1] = rng.standard_normal(shape[1:])
    boundary = (terminated | truncated)[:-1]
    # at a boundary the successor is a fresh state (not the next episode's start)
    next_values[:-1] = np.where(boundary, rng.standard_normal(boundary.shape), next_values[:-1])
    gamma = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]))
    lambda_ = draw(st.sampled_from([0.0, 0.3, 0.95, 1.0]))
    return rewards, values, next_values, terminated, truncated, gamma, lambda_


def episode_end(done_col, t):
    """Last index of the episode containing t in one column of done flags (row T-1 ends all)."""
    T = len(done_col)
    e = t
    while e < T - 1 and not done_col[e]:
        e += 1
    return e


def direct_nstep_gae(r, v, nv, term, trunc, gamma, lambda_):
    """Slides' definition, one column: A_t = (1-lambda) sum_{n<L} lambda^{n-1} A^(n) + lambda^{L-1} A^(L),
    A^(n) = sum_{k<n} gamma^k r_{t+k} + gamma^n V(s_{t+n}) - V(s_t), L = steps left in the episode,
    V(s_{t+n}) = values[t+n] inside the episode, next_values at its end (0 if terminated)."""
    T = len(r)
    done = term | trunc
    out = np.empty(T)
    for t in range(T):
        e = episode_end(done, t)
        L = e - t + 1

        def A_n(n):
            ret = sum(gamma**k * r[t + k] for k in range(n))
            if n < L:
                boot = v[t + n]
            else:
                boot = 0.0 if term[e] else nv[e]
            return ret + gamma**n * boot - v[t]

        total = sum((1 - lambda_) * lambda_ ** (n - 1) * A_n(n) for n in range(1, L))
        out[t] = total + lambda_ ** (L - 1) * A_n(L)
    return out


def direct_returns(r, nv, term, trunc, gamma):
    """R_t = sum_{k=t}^{e} gamma^{k-t} r_k + gamma^{e-t+1} V(s_{e+1}) (0 if terminated)."""
    T = len(r)
    done = term | trunc
    out = np.empty(T)
    for t in range(T):
        e = episode_end(done, t)
        boot = 0.0 if term[e] else nv[e]
        out[t] = sum(gamma ** (k - t) * r[k] for k in range(t, e + 1)) + gamma ** (e - t + 1) * boot
    return out


def columns(a):
    return a[:, None] if a.ndim == 1 else a


# ----------------------------------------------------------------------------- GAE


@given(trajectories())
def test_gae_numba_kernel_equals_numpy_twin(traj):
    r, v, nv, term, trunc, gamma, lambda_ = traj
    a = gae(r, v, term, trunc, gamma=gamma, lambda_=lambda_, next_values=nv)
    b = gae_numpy(r, v, term, trunc, gamma=gamma, lambda_=lambda_, next_values=nv)
    assert a.shape == r.shape
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@given(trajectories())
def test_gae_equals_lambda_weighted_nstep_advantages(traj):
    # claim gae.limits (slides "GAE"): the recursion equals the (1-lambda)lambda^{n-1} mixture.
    r, v, nv, term, trunc, gamma, lambda_ = traj
    a = columns(gae(r, v, term, trunc, gamma=gamma, lambda_=lambda_, next_values=nv))
    R, V, NV, TE, TR = map(columns, (r, v, nv, term, trunc))
    for n in range(R.shape[1]):
        ref = direct_nstep_gae(R[:, n], V[:, n], NV[:, n], TE[:, n], TR[:, n], gamma, lambda_)
        # sums of <= 40 terms of O(1) magnitude: round-off well below 1e-10
        np.testing.assert_allclose(a[:, n], ref, rtol=1e-10, atol=1e-10)


@given(trajectories())
def test_gae_limiting_cases(traj):
    r, v, nv, term, trunc, gamma, _ = traj
    delta = r + gamma * np.where(term, 0.0, nv) - v
    a0 = gae(r, v, term, trunc, gamma=gamma, lambda_=0.0, next_values=nv)
    np.testing.assert_allclose(a0, delta, rtol=1e-12, atol=1e-12)  # GAE(gamma, 0) = TD residual
    a1 = gae(r, v, term, trunc, gamma=gamma, lambda_=1.0, next_values=nv)
    R = discounted_returns(r, term, trunc, gamma=gamma, next_values=nv)
    np.testing.assert_allclose(a1, R - v, rtol=1e-10, atol=1e-10)  # GAE(gamma, 1) = R - V


def test_gae_hand_computed_termination_vs_truncation():
    # Two steps then an episode end, then one step to the batch end.
    r = np.array([1.0, 2.0, 3.0])
    v = np.array([0.5, 1.0, 2.0])
    nv = np.array([1.0, 4.0, 10.0])  # V(s_2) = 4 is the successor state at the boundary
    g, lam = 0.5, 0.5
    # terminated after step 1: delta = [1 + .5*1 - .5, 2 - 1, 3 + .5*10 - 2] = [1, 1, 6]
    a = gae(r, v, [0, 1, 0], [0, 0, 0], gamma=g, lambda_=lam, next_values=nv)
    np.testing.assert_allclose(a, [1 + 0.25 * 1, 1.0, 6.0])
    # truncated after step 1: delta_1 = 2 + .5*4 - 1 = 3; A_0 = 1 + .25*3
    a = gae(r, v, [0, 0, 0], [0, 1, 0], gamma=g, lambda_=lam, next_values=nv)
    np.testing.assert_allclose(a, [1.75, 3.0, 6.0])
    # the final step terminated: no bootstrap from 10
    a = gae(r, v, [0, 1, 1], None, gamma=g, lambda_=lam, next_values=nv)
    np.testing.assert_allclose(a, [1.25, 1.0, 1.0])
    # last_value instead of next_values when nothing is truncated mid-batch
    a = gae(r, v, [0, 1, 0], gamma=g, lambda_=lam, last_value=10.0)
    np.testing.assert_allclose(a, [1.25, 1.0, 6.0])
    # the returns of the same three cases
    np.testing.assert_allclose(discounted_returns(r, [0, 1, 0], gamma=g, next_values=nv), [2.0, 2.0, 8.0])
    np.testing.assert_allclose(discounted_returns(r, [0, 0, 0], [0, 1, 0], gamma=g, next_values=nv), [3.0, 4.0, 8.0])
    np.testing.assert_allclose(discounted_returns(r, [0, 1, 0], gamma=g), [2.0, 2.0, 3.0])  # no bootstrap


def test_gae_batch_columns_are_independent_streams():
    rng = np.random.default_rng(0)
    r, v, nv = rng.standard_normal((3, 20, 4))
    term = rng.random((20, 4)) < 0.2
    trunc = rng.random((20, 4)) < 0.2
    a = gae(r, v, term, trunc, gamma=0.9, lambda_=0.8, next_values=nv)
    for n in range(4):
        a_n = gae(r[:, n], v[:, n], term[:, n], trunc[:, n], gamma=0.9, lambda_=0.8, next_values=nv[:, n])
        np.testing.assert_array_equal(a[:, n], a_n)


def test_gae_last_value_per_stream_equals_next_values():
    rng = np.random.default_rng(2)
    r, v = rng.standard_normal((2, 15, 3))
    term = rng.random((15, 3)) < 0.2
    last = rng.standard_normal(3)
    nv = np.vstack([v[1:], last])
    a = gae(r, v, term, gamma=0.95, lambda_=0.9, last_value=last)
    np.testing.assert_array_equal(a, gae(r, v, term, gamma=0.95, lambda_=0.9, next_values=nv))
    np.testing.assert_array_equal(
        discounted_returns(r, term, gamma=0.95, last_value=last),
        discounted_returns(r, term, gamma=0.95, next_values=np.where(term, 0.0, nv)),
    )
    with pytest.raises(ValidationError, match="last_value"):
        gae(r, v, term, gamma=0.95, lambda_=0.9, last_value=np.zeros(2))


def test_gae_refuses_missing_bootstrap():
    r = v = np.ones(3)
    with pytest.raises(ValidationError, match="last_value"):
        gae(r, v, [0, 0, 0], gamma=0.9, lambda_=0.9)
    with pytest.raises(ValidationError, match="next_values"):
        gae(r, v, [0, 0, 0], [0, 1, 0], gamma=0.9, lambda_=0.9, last_value=0.0)
    with pytest.raises(ValidationError, match="not both"):
        gae(r, v, [0, 0, 1], gamma=0.9, lambda_=0.9, last_value=0.0, next_values=v)
    gae(r, v, [0, 0, 1], gamma=0.9, lambda_=0.9)  # terminated at the end: nothing to bootstrap


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"gamma": 1.5, "lambda_": 0.5}, "gamma"),
        ({"gamma": 0.5, "lambda_": -0.1}, "lambda_"),
    ],
)
def test_gae_validation(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        gae(np.ones(3), np.ones(3), [0, 0, 1], **kwargs)
    with pytest.raises(ValidationError, match="terminated"):
        gae(np.ones(3), np.ones(3), [0, 2, 1], gamma=0.5, lambda_=0.5)
    with pytest.raises(ValidationError, match="values"):
        gae(np.ones(3), np.ones(4), [0, 0, 1], gamma=0.5, lambda_=0.5)
    with pytest.raises(ValidationError, match="rewards"):
        gae(np.array([1.0, np.inf]), np.ones(2), [0, 1], gamma=0.5, lambda_=0.5)


# ----------------------------------------------------------------------------- returns


@given(trajectories())
def test_returns_kernel_twin_and_direct_sum(traj):
    r, _, nv, term, trunc, gamma, _ = traj
    a = discounted_returns(r, term, trunc, gamma=gamma, next_values=nv)
    b = discounted_returns_numpy(r, term, trunc, gamma=gamma, next_values=nv)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    R, NV, TE, TR = map(columns, (r, nv, term, trunc))
    A = columns(a)
    for n in range(R.shape[1]):
        ref = direct_returns(R[:, n], NV[:, n], TE[:, n], TR[:, n], gamma)
        np.testing.assert_allclose(A[:, n], ref, rtol=1e-10, atol=1e-10)
    # no bootstrap at all == bootstrapping with zeros
    np.testing.assert_array_equal(
        discounted_returns(r, term, trunc, gamma=gamma),
        discounted_returns(r, term, trunc, gamma=gamma, next_values=np.zeros_like(r)),
    )


def test_returns_single_episode_closed_form():
    r = np.arange(1.0, 6.0)
    R = discounted_returns(r, [0, 0, 0, 0, 1], gamma=0.9)
    np.testing.assert_allclose(R[0], sum(0.9**k * r[k] for k in range(5)))
    np.testing.assert_allclose(discounted_returns(r, [0, 0, 0, 0, 1], gamma=1.0), np.cumsum(r[::-1])[::-1])


def test_episode_timesteps():
    term = np.array([0, 0, 1, 0, 0, 0, 0])
    trunc = np.array([0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(episode_timesteps(term, trunc), [0, 1, 2, 0, 1, 0, 1])
    np.testing.assert_array_equal(episode_timesteps(term, trunc, first_timestep=5), [5, 6, 7, 0, 1, 0, 1])
    two = episode_timesteps(np.stack([term, trunc], 1))
    np.testing.assert_array_equal(two[:, 1], [0, 1, 2, 3, 4, 0, 1])


# ----------------------------------------------------------------------------- GAE with a fitted baseline


@st.composite
def state_batches(draw):
    """(rewards, states, next_states, terminated, truncated) of one (T,) stream on S = 4 states:
    inside an episode next_states[t] = states[t+1]; at an episode end a fresh successor."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    T = draw(st.integers(1, 40))
    p_term, p_trunc = draw(st.sampled_from([(0.0, 0.0), (0.1, 0.0), (0.0, 0.1), (0.15, 0.15), (0.5, 0.3)]))
    term = rng.random(T) < p_term
    trunc = rng.random(T) < p_trunc
    states = rng.integers(0, 4, T)
    next_states = np.append(states[1:], rng.integers(0, 4))
    boundary = (term | trunc)[:-1]
    next_states[:-1] = np.where(boundary, rng.integers(0, 4, T - 1), next_states[:-1])
    return rng.standard_normal(T), states, next_states, term, trunc


def per_state_mean(states, targets):
    """Least-squares fit of one-hot features: the mean target of each visited state, 0 elsewhere."""
    w = np.zeros(4)
    for j in range(4):
        if np.any(states == j):
            w[j] = np.mean(targets[states == j])
    return w


@given(first=state_batches(), second=state_batches(), gamma=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
       lambda_=st.sampled_from([0.0, 0.3, 0.95, 1.0]))
def test_gae_with_fitted_baseline_uses_the_previous_fit_and_refits(first, second, gamma, lambda_):
    """Two consecutive batches against the direct sums (slides' n-step definition, explicit returns):
    batch 1 (no previous fit) is advantaged with the fit to its own unbootstrapped returns; batch 2
    with batch 1's refit (V(s_T) bootstrapped from it at truncations); each returns the fit to its
    returns bootstrapped with the baseline it was advantaged with."""
    prev_ref = None
    prev = None
    for r, s, s_next, term, trunc in (first, second):
        if prev_ref is None:
            prev_ref = per_state_mean(s, direct_returns(r, np.zeros(r.size), term, trunc, gamma))
        v, nv = prev_ref[s], prev_ref[s_next]
        adv_ref = direct_nstep_gae(r, v, nv, term, trunc, gamma, lambda_)
        new_ref = per_state_mean(s, direct_returns(r, nv, term, trunc, gamma))
        adv, prev = gae_with_fitted_baseline(
            r, term, trunc, gamma=gamma, lambda_=lambda_, previous=prev,
            fit=lambda y, s=s: per_state_mean(s, y), predict=lambda w, s=s, s_next=s_next: (w[s], w[s_next]))
        # sums of <= 40 terms of O(1) magnitude (returns up to ~40 with gamma = 1)
        np.testing.assert_allclose(adv, adv_ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(prev, new_ref, rtol=1e-10, atol=1e-10)
        prev_ref = new_ref


def test_gae_with_fitted_baseline_calls():
    """``fit`` runs twice on a first batch (own returns, then bootstrapped targets) and once after;
    ``predict`` receives exactly the previous fit; non-finite rewards are refused (callers handle them)."""
    r = np.array([1.0, 2.0, 3.0])
    term, trunc = np.array([False, True, False]), np.array([False, False, True])
    calls = []

    def fit(y):
        calls.append(("fit", y.copy()))
        return ("fitted", len(calls))

    def predict(f):
        calls.append(("predict", f))
        return np.array([0.5, 1.0, 2.0]), np.array([1.0, 4.0, 10.0])

    adv, new = gae_with_fitted_baseline(r, term, trunc, gamma=0.5, lambda_=0.5, previous=None, fit=fit, predict=predict)
    assert [c[0] for c in calls] == ["fit", "predict", "fit"] and calls[1][1] == ("fitted", 1)
    np.testing.assert_array_equal(calls[0][1], [2.0, 2.0, 3.0])  # own returns, no bootstrap
    np.testing.assert_array_equal(calls[2][1], [2.0, 2.0, 8.0])  # 3 + 0.5 * V(s_T) = 3 + 5
    np.testing.assert_allclose(adv, [1.25, 1.0, 6.0])  # test_gae_hand_computed_termination_vs_truncation
    assert new == ("fitted", 3)
    calls.clear()
    gae_with_fitted_baseline(r, term, trunc, gamma=0.5, lambda_=0.5, previous="w", fit=fit, predict=predict)
    assert [c[0] for c in calls] == ["predict", "fit"] and calls[0][1] == "w"
    with pytest.raises(ValidationError, match="rewards"):
        gae_with_fitted_baseline(np.array([1.0, np.nan, 0.0]), term, trunc, gamma=0.5, lambda_=0.5,
                                 previous="w", fit=fit, predict=predict)


# ----------------------------------------------------------------------------- centered ranks


@given(
    st.lists(st.integers(-5, 5) | st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=2, max_size=60)
)
def test_centered_ranks_properties(xs):
    x = np.array(xs, dtype=float)
    u = centered_ranks(x)
    n = x.size
    assert u.shape == x.shape
    np.testing.assert_allclose(u.sum(), 0.0, atol=1e-12 * n)
    assert u.min() >= -0.5 and u.max() <= 0.5
    # equal to scipy's average ranks (independent implementation), scaled
    np.testing.assert_allclose(u, (rankdata(x, method="average") - 1) / (n - 1) - 0.5, atol=1e-14)
    # order preserving, ties equal
    i, j = np.meshgrid(np.arange(n), np.arange(n))
    assert np.all((u[i] < u[j]) == (x[i] < x[j]))
    assert np.all((u[i] == u[j]) == (x[i] == x[j]))
    # invariant under (exactly representable) increasing maps; odd under negation
    np.testing.assert_array_equal(centered_ranks(2.0 * x), u)
    np.testing.assert_allclose(centered_ranks(-x), -u, atol=1e-15)


def test_centered_ranks_distinct_and_edge_cases():
    u = centered_ranks([10.0, -3.0, 7.0, 0.0])
    np.testing.assert_allclose(u, np.array([3, 0, 2, 1]) / 3 - 0.5)
    assert centered_ranks([4.2]).tolist() == [0.0]
    np.testing.assert_array_equal(centered_ranks([2.0, 2.0, 2.0]), [0.0, 0.0, 0.0])
    assert centered_ranks(np.arange(6.0).reshape(2, 3)).shape == (2, 3)
    with pytest.raises(ValidationError):
        centered_ranks([1.0, np.nan])


# ----------------------------------------------------------------------------- ridge baseline


@given(seed=st.integers(0, 2**32 - 1), reg=st.sampled_from([1e-8, 1e-3, 1.0, 50.0]))
@example(seed=343, reg=1e-8)  # found by the explore profile: X'X ill-conditioned (n close to p)
def test_ridge_regression_matches_normal_equations(seed, reg):
    rng = np.random.default_rng(seed)
    n, p = rng.integers(5, 40), rng.integers(1, 8)
    X = rng.standard_normal((n, p))
    y = rng.standard_normal(n)
    w = ridge_regression(X, y, reg)
    G = X.T @ X + reg * np.eye(p)
    w_ref = np.linalg.solve(G, X.T @ y)
    # the normal-equation reference has forward error O(cond(G) eps) (Higham, ch. 20)
    tol = 100 * np.finfo(float).eps * np.linalg.cond(G) * np.linalg.norm(w_ref)
    assert np.linalg.norm(w - w_ref) <= tol + 1e-14
    # stationarity of the ridge objective
    np.testing.assert_allclose(X.T @ (X @ w - y) + reg * w, 0.0, atol=1e-9 * (1 + np.abs(X.T @ y).max()))


def test_ridge_zero_reg_is_least_squares():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 5))
    y = rng.standard_normal(30)
    np.testing.assert_allclose(ridge_regression(X, y, 0.0), np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-12)


def test_linear_baseline_features_and_fit():
    rng = np.random.default_rng(1)
    obs = rng.uniform(-2, 2, (200, 3))
    t = np.tile(np.arange(50), 4)
    base = LinearValueBaseline(reg_coeff=1e-10)
    Phi = base.features(obs, t)
    tau = t / 100.0
    np.testing.assert_array_equal(Phi, np.column_stack([obs, obs**2, tau, tau**2, tau**3, np.ones(200)]))
    # targets exactly in the feature span are recovered
    w_true = rng.standard_normal(Phi.shape[1])
    fitted = base.fit(obs, t, Phi @ w_true)
    np.testing.assert_allclose(fitted.predict(obs, t), Phi @ w_true, atol=1e-6)
    # otherwise: the fit equals np.linalg.lstsq up to the 1e-10 ridge term
    y = rng.standard_normal(200)
    np.testing.assert_allclose(
        base.fit(obs, t, y).predict(obs, t), Phi @ np.linalg.lstsq(Phi, y, rcond=None)[0], atol=1e-6
    )
    # clipping at obs_clip
    clipped = LinearValueBaseline(obs_clip=1.0).features(np.array([[5.0, -5.0, 0.5]]), [0])
    np.testing.assert_array_equal(clipped[0, :3], [1.0, -1.0, 0.5])
    assert np.all(base.unfitted(3).predict(obs, t) == 0.0)
    with pytest.raises(ValidationError, match="obs"):
        fitted.predict(obs[:, :2], t)
    with pytest.raises(ValidationError, match="reg_coeff"):
        LinearValueBaseline(reg_coeff=-1.0)


# ----------------------------------------------------------------------------- running moments


@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 8), shape=st.sampled_from([(), (3,), (2, 2)]))
def test_running_mean_std_merge_of_splits_equals_single_pass(seed, k, shape):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(k, 200))
    x = rng.standard_normal((n, *shape)) * rng.uniform(0.1, 100) + rng.uniform(-1e3, 1e3)
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(k - 1, n - 1), replace=False)) if n > 1 else []
    parts = np.split(x, cuts)
    merged = RunningMeanStd.merge_all([RunningMeanStd.from_batch(p) for p in parts])
    assert merged.count == n
    # Chan et al. is exact in real arithmetic; float round-off of O(k eps) relative
    np.testing.assert_allclose(merged.mean, x.mean(axis=0), rtol=1e-12, atol=1e-12 * np.abs(x).max())
    np.testing.assert_allclose(merged.var, x.var(axis=0), rtol=1e-10)
    # sequential updates from empty give the same statistics
    seq = RunningMeanStd.empty(shape)
    for p in parts:
        seq = seq.update(p)
    np.testing.assert_allclose(seq.M2, merged.M2, rtol=1e-10)


def test_running_mean_std_basics_and_persistence(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 4)) * 3 + 1
    s = RunningMeanStd.from_batch(x)
    np.testing.assert_allclose(s.sample_var, x.var(axis=0, ddof=1), rtol=1e-12)
    z = s.normalize(x, epsilon=0.0)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-12)
    assert np.all(np.abs(s.normalize(x * 100, clip=5.0)) <= 5.0)
    assert s.merge(RunningMeanStd.empty(4)) == s and RunningMeanStd.empty(4).merge(s) == s
    r = pickle.loads(pickle.dumps(s))
    assert r == s and not r.mean.flags.writeable
    s.save(tmp_path / "rms.npz")
    assert RunningMeanStd.load(tmp_path / "rms.npz") == s
    assert not list(tmp_path.glob("*.tmp"))
    assert [p.name for p in tmp_path.iterdir()] == ["rms.npz"]  # no temporary file left behind
    with pytest.raises(ValidationError, match="shape"):
        s.merge(RunningMeanStd.empty(3))
    with pytest.raises(ValidationError, match="M2"):
        RunningMeanStd(count=2, mean=np.zeros(2), M2=-np.ones(2))
    with pytest.raises(ValueError):
        s.mean[0] = 0.0


def test_ridge_regression_is_the_same_bits_for_any_blas_thread_count():
    """The policy-gradient baseline's fit: OpenBLAS blocks a least-squares factorization of ~128+
    columns differently on several threads (Ant's 214 features: other bits with
    OPENBLAS_NUM_THREADS=2 than with 1), so the fit runs on one BLAS thread whatever the setting."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(3000, 214)), rng.normal(size=3000)
    fits = []
    for n_threads in (1, 2):
        with threadpool_limits(limits=n_threads, user_api="blas"):
            fits.append(ridge_regression(X, y, 1e-5))
    assert fits[0].tobytes() == fits[1].tobytes()
