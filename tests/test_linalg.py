"""Conjugate gradient and the TRPO backtracking line search (TRPO App. C).

References are independent of the code under test: dense ``np.linalg.solve``, the
Krylov-subspace characterization of CG (explicit projection), and closed forms of the
step length at which a quadratic KL meets the radius.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trustopt import ValidationError
from trustopt.linalg import backtracking_line_search, conjugate_gradient


def spd_matrix(rng, n, eigs):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * eigs) @ Q.T


# ----------------------------------------------------------------------------- conjugate gradient


@given(n=st.integers(1, 25), seed=st.integers(0, 2**32 - 1), cond=st.sampled_from([1.0, 10.0, 1e3]))
def test_cg_matches_dense_solve_on_spd(n, seed, cond):
    rng = np.random.default_rng(seed)
    eigs = np.exp(rng.uniform(0.0, np.log(cond), n))
    A = spd_matrix(rng, n, eigs)
    b = rng.standard_normal(n)
    # n steps suffice in exact arithmetic; 3n absorbs round-off at condition 1e3.
    res = conjugate_gradient(lambda v: A @ v, b, max_iter=3 * n, residual_tol=1e-12 * np.linalg.norm(b))
    x_ref = np.linalg.solve(A, b)
    assert res.converged and not res.breakdown
    # forward error <= cond * relative residual; residual tol 1e-12 -> error <= 1e-9 at cond 1e3.
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-8 * np.linalg.norm(x_ref))
    np.testing.assert_allclose(res.residual_norm, np.linalg.norm(b - A @ res.x), atol=1e-10 * np.linalg.norm(b))
    np.testing.assert_allclose(res.x_A_x, res.x @ A @ res.x, rtol=1e-9)


def test_cg_terminates_in_number_of_distinct_eigenvalues():
    # Theorem (Hestenes-Stiefel): with k distinct eigenvalues CG is exact after k steps.
    rng = np.random.default_rng(1)
    n = 30
    eigs = rng.choice([1.0, 2.5, 7.0], size=n)
    A = spd_matrix(rng, n, eigs)
    b = rng.standard_normal(n)
    res = conjugate_gradient(lambda v: A @ v, b, max_iter=50, residual_tol=1e-9)
    assert res.converged
    assert res.iterations == 3
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), atol=1e-9)


@pytest.mark.parametrize("k", [1, 2, 4, 6])
def test_cg_iterate_minimizes_A_norm_error_over_krylov_subspace(k):
    # x_k = argmin_{x in K_k(A, b)} ||x - x*||_A, computed by an explicit Galerkin projection.
    rng = np.random.default_rng(k)
    n = 12
    A = spd_matrix(rng, n, np.linspace(1.0, 20.0, n))
    b = rng.standard_normal(n)
    K = np.column_stack([np.linalg.matrix_power(A, j) @ b for j in range(k)])
    Q, _ = np.linalg.qr(K)
    y = np.linalg.solve(Q.T @ A @ Q, Q.T @ b)
    x_proj = Q @ y
    res = conjugate_gradient(lambda v: A @ v, b, max_iter=k, residual_tol=0.0)
    assert res.iterations == k and not res.converged and not res.breakdown
    np.testing.assert_allclose(res.x, x_proj, atol=1e-9 * np.linalg.norm(x_proj))


def test_cg_works_on_matrix_shaped_vectors():
    rng = np.random.default_rng(0)
    A = spd_matrix(rng, 12, np.linspace(1, 5, 12))
    b = rng.standard_normal((3, 4))
    res = conjugate_gradient(lambda v: (A @ v.ravel()).reshape(3, 4), b, max_iter=30)
    assert res.x.shape == (3, 4)
    np.testing.assert_allclose(res.x.ravel(), np.linalg.solve(A, b.ravel()), atol=1e-9)


def test_cg_zero_rhs_returns_zero_without_iterating():
    calls = []
    res = conjugate_gradient(lambda v: calls.append(1) or v, np.zeros(4))
    assert res.converged and res.iterations == 0 and not calls
    assert np.all(res.x == 0.0)


@pytest.mark.parametrize("b", [[1.0, 1.0], [1.0, 2.0]])
def test_cg_breakdown_on_indefinite_matrix_at_first_step(b):
    A = np.diag([1.0, -1.0])  # p'Ap = 0 for b = (1, 1), -3 for b = (1, 2)
    res = conjugate_gradient(lambda v: A @ v, np.array(b))
    assert res.breakdown and not res.converged
    assert res.iterations == 0
    assert np.all(res.x == 0.0)
    assert "breakdown" in res.message


def test_cg_breakdown_later_keeps_last_valid_iterate():
    # Indefinite matrix where the first direction has positive curvature but a later one
    # has not: the result must equal the iterate after the last valid step.
    A = np.diag([4.0, 3.0, -1.0])
    b = np.array([1.0, 1.0, 0.1])
    res = conjugate_gradient(lambda v: A @ v, b, max_iter=10, residual_tol=0.0)
    assert res.breakdown and res.iterations >= 1
    before = conjugate_gradient(lambda v: A @ v, b, max_iter=res.iterations, residual_tol=0.0)
    assert not before.breakdown
    np.testing.assert_array_equal(res.x, before.x)
    assert np.all(np.isfinite(res.x))


def test_cg_breakdown_on_non_finite_matvec():
    res = conjugate_gradient(lambda v: np.full_like(v, np.nan), np.ones(3))
    assert res.breakdown and res.iterations == 0 and np.all(res.x == 0.0)


def test_cg_respects_max_iter_and_result_is_readonly():
    rng = np.random.default_rng(3)
    A = spd_matrix(rng, 20, np.linspace(1, 100, 20))
    res = conjugate_gradient(lambda v: A @ v, rng.standard_normal(20), max_iter=3)
    assert res.iterations == 3 and not res.converged and not res.breakdown
    with pytest.raises(ValueError):
        res.x[0] = 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [({"max_iter": 0}, "max_iter"), ({"max_iter": 2.5}, "max_iter"), ({"residual_tol": -1.0}, "residual_tol")],
)
def test_cg_validation(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        conjugate_gradient(lambda v: v, np.ones(2), **kwargs)
    with pytest.raises(ValidationError, match="b"):
        conjugate_gradient(lambda v: v, np.array([1.0, np.nan]))


# ----------------------------------------------------------------------------- line search


def quadratic_problem(rng, n):
    """Surrogate improvement g'd - 1/2 d'Hd and KL 1/2 d'Fd at d = theta - theta0."""
    g = rng.standard_normal(n)
    F = spd_matrix(rng, n, rng.uniform(0.5, 2.0, n))
    H = spd_matrix(rng, n, rng.uniform(0.5, 2.0, n))
    return g, F, H


@given(seed=st.integers(0, 2**32 - 1), c=st.floats(1.01, 1e4), shrink=st.sampled_from([0.5, 0.8, 0.3]))
def test_line_search_stops_at_first_fraction_meeting_kl(seed, c, shrink):
    # KL(theta0 + f s) = c * max_kl * f^2 for the full step s; a linear surrogate always
    # improves, so the first accepted j solves c shrink^{2j} <= 1: j* = ceil(log c / (2 log 1/shrink)).
    rng = np.random.default_rng(seed)
    n = 5
    theta0 = rng.standard_normal(n)
    F = spd_matrix(rng, n, rng.uniform(0.5, 2.0, n))
    step = rng.standard_normal(n)
    max_kl = 0.01
    step = step * np.sqrt(2 * c * max_kl / (step @ F @ step))
    g = F @ step  # g'd > 0 along the step

    def evaluate(theta):
        d = theta - theta0
        return g @ d, 0.5 * d @ F @ d

    x = np.log(c) / (2 * np.log(1 / shrink))
    res = backtracking_line_search(evaluate, theta0, step, max_kl=max_kl, shrink=shrink, max_backtracks=200)
    assert res.accepted
    if abs(x - round(x)) < 1e-9:  # KL exactly at the radius: round-off may go either way
        assert res.n_backtracks in (round(x), round(x) + 1)
    else:
        assert res.n_backtracks == int(np.ceil(x))
    assert res.step_fraction == shrink**res.n_backtracks
    np.testing.assert_allclose(res.theta, theta0 + res.step_fraction * step, rtol=0, atol=0)
    assert res.kl <= max_kl and res.improvement > 0
    assert res.n_evaluations == res.n_backtracks + 1


def test_line_search_requires_improvement_as_well_as_kl():
    # Improvement f - f^2 * 4 > 0 iff f < 1/4; KL tiny, so only improvement drives shrinking.
    theta0 = np.zeros(1)

    def evaluate(theta):
        f = theta[0]
        return f - 4 * f**2, 1e-6 * f**2

    res = backtracking_line_search(evaluate, theta0, np.ones(1), max_kl=1.0, shrink=0.5, max_backtracks=10)
    assert res.accepted and res.n_backtracks == 3  # f = 1, 1/2, 1/4 (= 0, not > 0), 1/8
    assert res.step_fraction == 0.125


def test_line_search_failure_restores_parameters_exactly():
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal(4)
    theta_before = theta0.copy()
    seen = []

    def evaluate(theta):
        seen.append(theta.copy())
        return -1.0, 0.0  # never improves

    res = backtracking_line_search(evaluate, theta0, rng.standard_normal(4), max_kl=0.01, shrink=0.5, max_backtracks=7)
    assert not res.accepted
    np.testing.assert_array_equal(res.theta, theta_before)
    np.testing.assert_array_equal(theta0, theta_before)  # input untouched
    assert res.theta is not theta0
    assert res.n_evaluations == 8 == len(seen) and res.n_backtracks == 7
    assert res.step_fraction == 0.0
    assert "no improvement" in res.message


def test_line_search_candidates_are_readonly_and_nan_rejected():
    theta0 = np.zeros(2)
    calls = []

    def evaluate(theta):
        with pytest.raises(ValueError):
            theta[0] = 5.0
        calls.append(1)
        return (np.nan, 0.0) if len(calls) == 1 else (1.0, 0.0)

    res = backtracking_line_search(evaluate, theta0, np.ones(2), max_kl=1.0)
    assert res.accepted and res.n_backtracks == 1


def test_line_search_accept_ratio_uses_predicted_gain():
    # Surrogate f - f^2 with predicted g'(f s) = f: ratio = 1 - f; with accept_ratio 0.7
    # the first fraction with 1 - f >= 0.7 among 1, 0.5, 0.25 is f = 0.25.
    def evaluate(theta):
        f = theta[0]
        return f - f**2, 0.0

    res = backtracking_line_search(
        evaluate, np.zeros(1), np.ones(1), max_kl=1.0, expected_improvement=1.0, accept_ratio=0.7
    )
    assert res.accepted and res.step_fraction == 0.25
    res0 = backtracking_line_search(evaluate, np.zeros(1), np.ones(1), max_kl=1.0)
    assert res0.step_fraction == 0.5  # without the ratio test f = 1 gives 0, f = 1/2 improves


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_kl": 0.0}, "max_kl"),
        ({"max_kl": 0.1, "shrink": 1.0}, "shrink"),
        ({"max_kl": 0.1, "max_backtracks": -1}, "max_backtracks"),
        ({"max_kl": 0.1, "expected_improvement": 0.0}, "expected_improvement"),
        ({"max_kl": 0.1, "accept_ratio": -0.5}, "accept_ratio"),
    ],
)
def test_line_search_validation(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        backtracking_line_search(lambda t: (1.0, 0.0), np.zeros(2), np.ones(2), **kwargs)
    with pytest.raises(ValidationError, match="full_step"):
        backtracking_line_search(lambda t: (1.0, 0.0), np.zeros(2), np.ones(3), max_kl=0.1)


def test_line_search_infinite_radius_accepts_full_improving_step():
    res = backtracking_line_search(lambda t: (1.0, 1e9), np.zeros(2), np.ones(2), max_kl=np.inf)
    assert res.accepted and res.n_backtracks == 0


def test_norm2_neither_underflows_nor_overflows_and_is_numpys_otherwise():
    from trustopt.linalg import norm2

    assert norm2(np.full(4, 1e-200)) == pytest.approx(2e-200, rel=1e-15)  # np.linalg.norm: 0
    assert norm2(np.full(4, 1e200)) == pytest.approx(2e200, rel=1e-15)  # np.linalg.norm: inf
    g = np.random.default_rng(0).normal(size=50)
    assert norm2(g) == float(np.linalg.norm(g))  # the same bits where numpy's is fine
    assert norm2(np.zeros(3)) == 0.0 and np.isnan(norm2(np.array([1.0, np.nan])))
