"""The two TV-subproblem solvers (closed-form knapsack and HiGHS) agree on well-scaled
instances, where HiGHS's tolerances (~1e-9 relative to max|c| after scaling) are far
below the gains; the closed form is the default because it stays exact when rho spans
many orders of magnitude (see test_tabular_subproblems' regression cases)."""

import numpy as np
import pytest

from trustopt import ValidationError, tabular, testing


@pytest.mark.parametrize("seed", range(12))
def test_exact_and_highs_agree(seed):
    rng = np.random.default_rng(seed)
    S, A = rng.integers(1, 6), rng.integers(1, 5)
    mdp = testing.random_mdps(rng, 1, S, A, gamma=0.9, rho0_positive=True)[0]
    pi = testing.random_policies(rng, 1, S, A, deterministic_fraction=0.3)[0]
    weights = None if seed % 2 else rng.uniform(0.0, 2.0, size=S)
    delta = float(rng.choice([1e-3, 0.05, 0.5, 5.0]))
    exact = tabular.solve_tv_subproblem(mdp, pi, delta, weights)
    highs = tabular.solve_tv_subproblem(mdp, pi, delta, weights, method="highs")
    assert highs.success and exact.success
    scale = 1.0 + abs(exact.surrogate)
    assert exact.surrogate == pytest.approx(highs.surrogate, abs=1e-7 * scale)
    assert exact.constraint <= delta * (1 + 1e-12)
    if exact.multiplier > 0:  # the budget binds, and both price it the same
        assert exact.multiplier == pytest.approx(highs.multiplier, rel=1e-5, abs=1e-9)


def test_unknown_method_is_rejected():
    mdp = testing.random_mdps(np.random.default_rng(0), 1, 2, 2)[0]
    with pytest.raises(ValidationError, match="method"):
        tabular.solve_tv_subproblem(mdp, np.full((2, 2), 0.5), 0.1, method="simplex")
