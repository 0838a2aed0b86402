"""Every validation error of :mod:`trustopt.tabular` has a test; each asserts that the
message names the offending argument (DESIGN.md, Conventions), and that valid input
within the documented tolerance (``trustopt._validation.PROBABILITY_TOLERANCE = 1e-8``)
is accepted."""

from __future__ import annotations

import re

import numpy as np
import pytest

from trustopt import tabular as T
from trustopt._validation import PROBABILITY_TOLERANCE, ValidationError


def _mdp_arrays(S=2, A=2):
    P = np.zeros((S, A, S))
    P[..., 0] = 0.25
    P[..., -1] += 0.75 if S > 1 else 0.75
    r = np.arange(S * A, dtype=float).reshape(S, A) - 1.0
    rho0 = np.full(S, 1.0 / S)
    return P, r, rho0


def _mdp(S=2, A=2, gamma=0.9):
    return T.TabularMDP(*_mdp_arrays(S, A), gamma)


def raises(name: str):
    """The error is a ValidationError (a ValueError) whose message starts by naming ``name``."""
    return pytest.raises(ValidationError, match=rf"(^|\W){re.escape(name)}\W")


def test_validation_error_is_value_error():
    assert issubclass(ValidationError, ValueError)


def test_tolerance_is_documented_value():
    assert PROBABILITY_TOLERANCE == 1e-8


# ------------------------------------------------------------------ TabularMDP: P


@pytest.mark.parametrize("shape", [(2, 2), (2, 2, 3), (3, 2, 2), (2,), ()])
def test_P_bad_shape(shape):
    _, r, rho0 = _mdp_arrays()
    with raises("P"):
        T.TabularMDP(np.full(shape, 0.5), r, rho0, 0.9)


def test_P_zero_actions():
    with raises("P"):
        T.TabularMDP(np.zeros((2, 0, 2)), np.zeros((2, 0)), np.full(2, 0.5), 0.9)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_P_non_finite(bad):
    P, r, rho0 = _mdp_arrays()
    P[1, 0, 0] = bad
    with raises("P"):
        T.TabularMDP(P, r, rho0, 0.9)


def test_P_not_numeric():
    _, r, rho0 = _mdp_arrays()
    with raises("P"):
        T.TabularMDP([[["a", "b"], ["c", "d"]]] * 2, r, rho0, 0.9)


def test_P_negative_entry_with_row_sum_one():
    P, r, rho0 = _mdp_arrays()
    P[0, 1] = [-0.5, 1.5]
    with raises("P"):
        T.TabularMDP(P, r, rho0, 0.9)


def test_P_row_sum_beyond_tolerance():
    P, r, rho0 = _mdp_arrays()
    P[1, 1, 0] += 3 * PROBABILITY_TOLERANCE
    with raises("P"):
        T.TabularMDP(P, r, rho0, 0.9)
    P[1, 1, 0] -= 6 * PROBABILITY_TOLERANCE
    with raises("P"):
        T.TabularMDP(P, r, rho0, 0.9)


def test_P_within_tolerance_accepted_and_round_off_negatives_clipped():
    P, r, rho0 = _mdp_arrays()
    P[1, 1, 0] += 0.3 * PROBABILITY_TOLERANCE  # sum 1 + 3e-9: accepted
    P[0, 0] = [1.0 + 0.5 * PROBABILITY_TOLERANCE, -0.5 * PROBABILITY_TOLERANCE]  # tiny negative
    mdp = T.TabularMDP(P, r, rho0, 0.9)
    assert mdp.P[0, 0, 1] == 0.0  # round-off negative clipped to 0
    assert np.all(mdp.P >= 0)
    # accepted rows are renormalized exactly (documented in trustopt._validation)
    np.testing.assert_allclose(mdp.P[1, 1], P[1, 1] / P[1, 1].sum(), rtol=0, atol=1e-16)
    np.testing.assert_allclose(mdp.P.sum(axis=-1), 1.0, rtol=0, atol=4e-16)
    # rows that already sum to 1 to round-off are kept bit for bit (validation is idempotent)
    np.testing.assert_array_equal(T.TabularMDP(mdp.P, r, rho0, 0.9).P, mdp.P)


# ------------------------------------------------------------------ TabularMDP: r, rho0, gamma


@pytest.mark.parametrize("shape", [(3,), (2, 3), (3, 2), (2, 2, 1), ()])
def test_r_bad_shape(shape):
    P, _, rho0 = _mdp_arrays()
    with raises("r"):
        T.TabularMDP(P, np.zeros(shape), rho0, 0.9)


def test_r_non_finite():
    P, r, rho0 = _mdp_arrays()
    r[0, 1] = np.nan
    with raises("r"):
        T.TabularMDP(P, r, rho0, 0.9)


def test_state_reward_is_broadcast_over_actions():
    P, _, rho0 = _mdp_arrays()
    mdp = T.TabularMDP(P, np.array([1.0, -2.0]), rho0, 0.9)
    np.testing.assert_array_equal(mdp.r, [[1.0, 1.0], [-2.0, -2.0]])


@pytest.mark.parametrize("rho0", [np.array([1.0]), np.array([0.5, 0.25, 0.25]), np.full((2, 2), 0.5)])
def test_rho0_bad_shape(rho0):
    P, r, _ = _mdp_arrays()
    with raises("rho0"):
        T.TabularMDP(P, r, rho0, 0.9)


@pytest.mark.parametrize(
    "rho0", [np.array([0.5, 0.6]), np.array([1.2, -0.2]), np.array([0.0, 0.0]), np.array([np.nan, 1.0])]
)
def test_rho0_not_a_distribution(rho0):
    P, r, _ = _mdp_arrays()
    with raises("rho0"):
        T.TabularMDP(P, r, rho0, 0.9)


@pytest.mark.parametrize("gamma", [-1e-12, -0.5, 1.0, 1.0 + 1e-12, 2.0, np.nan, np.inf])
def test_gamma_out_of_range(gamma):
    with raises("gamma"):
        _mdp(gamma=gamma)


def test_gamma_bounds_accepted():
    assert _mdp(gamma=0.0).gamma == 0.0
    assert _mdp(gamma=np.nextafter(1.0, 0.0)).gamma < 1.0


def test_batched_gamma_shape():
    P, r, rho0 = _mdp_arrays()
    Pb, rb, rho0b = np.stack([P] * 3), np.stack([r] * 3), np.stack([rho0] * 3)
    with raises("gamma"):
        T.TabularMDP(Pb, rb, rho0b, np.full(2, 0.5))
    with raises("gamma"):
        T.TabularMDP(Pb, rb, rho0b, np.full((3, 1), 0.5))
    with raises("gamma"):
        T.TabularMDP(Pb, rb, rho0b, np.array([0.5, 1.0, 0.5]))
    with raises("gamma"):  # an unbatched MDP takes a scalar gamma
        T.TabularMDP(P, r, rho0, np.full(2, 0.5))
    mdp = T.TabularMDP(Pb, rb, rho0b, np.array([0.0, 0.5, 0.9]))
    assert mdp.batch_shape == (3,)
    assert mdp[2].gamma == 0.9


def test_batched_mdp_component_shapes():
    P, r, rho0 = _mdp_arrays()
    Pb = np.stack([P] * 3)
    with raises("r"):
        T.TabularMDP(Pb, np.stack([r] * 2), np.stack([rho0] * 3), 0.5)
    with raises("rho0"):
        T.TabularMDP(Pb, np.stack([r] * 3), rho0, 0.5)


def test_mdp_is_immutable():
    mdp = _mdp()
    with pytest.raises(ValueError):
        mdp.P[0, 0, 0] = 1.0
    with pytest.raises(AttributeError):
        mdp.gamma = 0.5


def test_input_arrays_are_copied_and_left_writeable():
    """Constructing an MDP must neither freeze the caller's arrays nor alias them: the
    stored (read-only) arrays are copies. (r given as float64 (S, A) used to be stored
    without a copy and the caller's array was made read-only.)"""
    P, r, rho0 = _mdp_arrays()
    mdp = T.TabularMDP(P, r, rho0, 0.9)
    for arr in (P, r, rho0):
        assert arr.flags.writeable
    P[0, 0] = [0.0, 1.0]
    r[0, 0] = 100.0
    rho0[:] = [1.0, 0.0]
    assert mdp.P[0, 0, 0] == 0.25 and mdp.r[0, 0] == -1.0 and mdp.rho0[0] == 0.5


def test_stack_errors():
    with raises("mdps"):
        T.stack([])
    with raises("mdps"):
        T.stack([_mdp(2, 2), _mdp(2, 3)])


def test_unbatched_mdp_cannot_be_indexed():
    with pytest.raises(TypeError):
        _mdp()[0]


# ------------------------------------------------------------------ policies


@pytest.mark.parametrize("shape", [(2,), (2, 3), (3, 2), (1, 2, 3)])
def test_policy_bad_shape(shape):
    with raises("pi"):
        T.evaluate(_mdp(), np.full(shape, 1.0 / shape[-1]))


@pytest.mark.parametrize(
    "row", [[0.5, 0.6], [1.5, -0.5], [0.0, 0.0], [np.nan, 1.0], [0.5 + 3e-8, 0.5]]
)
def test_policy_not_a_distribution(row):
    pi = np.array([[0.5, 0.5], row])
    with raises("pi"):
        T.evaluate(_mdp(), pi)
    with raises("pi_new"):
        T.surrogate(_mdp(), np.full((2, 2), 0.5), pi)


def test_policy_within_tolerance_accepted():
    pi = np.array([[0.5, 0.5 + 0.5 * PROBABILITY_TOLERANCE], [1.0 + 0.5e-8, -0.5e-8]])
    ev = T.evaluate(_mdp(), pi)
    assert np.isfinite(ev.eta)


def test_surrogate_validates_pi():
    with raises("pi"):
        T.surrogate(_mdp(), np.array([[0.5, 0.6], [0.5, 0.5]]), np.full((2, 2), 0.5))


def test_policy_batch_shape_must_broadcast_with_mdp():
    mdp = T.stack([_mdp(), _mdp(), _mdp()])
    with raises("pi"):
        T.evaluate(mdp, np.full((2, 2, 2), 0.5))
    with raises("pi_new"):
        T.surrogate(mdp, np.full((3, 2, 2), 0.5), np.full((4, 2, 2), 0.5))
    # (1,) and (5, 3) broadcast with (3,)
    assert T.evaluate(mdp, np.full((1, 2, 2), 0.5)).eta.shape == (3,)
    assert T.evaluate(mdp, np.full((5, 3, 2, 2), 0.5)).eta.shape == (5, 3)


# ------------------------------------------------------------------ softmax


def test_softmax_theta_shapes():
    with raises("theta"):
        T.softmax_policy(np.zeros(3))
    with raises("theta"):
        T.softmax_policy(np.array([[np.nan, 0.0]]))
    with raises("theta"):
        T.grad_eta_softmax(_mdp(), np.zeros((2, 3)))
    with raises("theta_new"):
        T.grad_surrogate_softmax(_mdp(), np.full((2, 2), 0.5), np.zeros((3, 2)))


# ------------------------------------------------------------------ subproblems


SOLVERS = [
    lambda mdp, pi, x, **kw: T.solve_tv_subproblem(mdp, pi, x, **kw),
    lambda mdp, pi, x, **kw: T.solve_kl_subproblem(mdp, pi, x, **kw),
]


@pytest.mark.parametrize("solve", SOLVERS)
@pytest.mark.parametrize("delta", [0.0, -0.1, np.nan, np.inf, [0.1, 0.2]])
def test_subproblem_delta(solve, delta):
    with raises("delta"):
        solve(_mdp(), np.full((2, 2), 0.5), delta)


@pytest.mark.parametrize("solve", SOLVERS)
def test_subproblem_weights(solve):
    pi = np.full((2, 2), 0.5)
    with raises("weights"):
        solve(_mdp(), pi, 0.1, weights=np.array([1.0, -1e-3]))
    with raises("weights"):
        solve(_mdp(), pi, 0.1, weights=np.ones(3))
    with raises("weights"):
        solve(_mdp(), pi, 0.1, weights=np.ones((2, 1)))
    with raises("weights"):
        solve(_mdp(), pi, 0.1, weights=np.array([1.0, np.nan]))


@pytest.mark.parametrize("solve", SOLVERS + [lambda mdp, pi, x, **kw: T.solve_kl_penalty(mdp, pi, x)])
def test_subproblem_rejects_batched_mdp_and_policy(solve):
    with raises("mdp"):
        solve(T.stack([_mdp(), _mdp()]), np.full((2, 2), 0.5), 0.1)
    with raises("pi"):
        solve(_mdp(), np.full((3, 2, 2), 0.5), 0.1)
    with raises("pi"):
        solve(_mdp(), np.array([[0.5, 0.6], [0.5, 0.5]]), 0.1)


@pytest.mark.parametrize("C", [0.0, -1.0, np.nan])
def test_kl_penalty_C(C):
    with raises("C"):
        T.solve_kl_penalty(_mdp(), np.full((2, 2), 0.5), C)


# ------------------------------------------------------------------ solvers, cpi, divergences


def test_optimal_solvers_reject_batched_mdp():
    batched = T.stack([_mdp(), _mdp()])
    with raises("mdp"):
        T.policy_iteration(batched)
    with raises("mdp"):
        T.value_iteration(batched)


@pytest.mark.parametrize("tol", [0.0, -1e-3])
def test_value_iteration_tol(tol):
    with raises("tol"):
        T.value_iteration(_mdp(), tol=tol)


@pytest.mark.parametrize("alpha", [-1e-9, 1.0 + 1e-9, 2.0, np.nan, [0.5, 1.5]])
def test_cpi_alpha_outside_unit_interval(alpha):
    pi = np.full((2, 2), 0.5)
    with raises("alpha"):
        T.cpi_mixture(pi, np.eye(2), alpha)


def test_cpi_shape_mismatch():
    with raises("pi_prime"):
        T.cpi_mixture(np.full((2, 2), 0.5), np.full((2, 3), 1 / 3), 0.5)


def test_visitation_weighted_needs_exactly_one_weight():
    div = np.ones(2)
    with raises("rho"):
        T.visitation_weighted(div)
    with raises("rho"):
        T.visitation_weighted(div, rho=np.ones(2), dbar=np.full(2, 0.5))
    with raises("rho"):
        T.visitation_weighted(div, rho=np.array([1.0, -1.0]))
    with raises("dbar"):
        T.visitation_weighted(div, dbar=np.array([np.nan, 1.0]))


@pytest.mark.parametrize("solver", [T.policy_iteration, T.value_iteration])
@pytest.mark.parametrize("max_iter", [0, -1, 2.5, np.nan])
def test_optimal_solvers_max_iter(solver, max_iter):
    """max_iter must be a positive integer (was: UnboundLocalError for 0 / -1, TypeError for 2.5)."""
    with raises("max_iter"):
        solver(_mdp(), max_iter=max_iter)
