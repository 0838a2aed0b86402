"""Tests of the exact trust-region subproblem solvers of :mod:`trustopt.tabular`.

References are independent of the code under test: brute force over the LP's vertices or a
fine grid (TV), scipy's general NLP solvers with restarts (KL, KL penalty), and the
scale invariance of the argmax (the maximizer of ``c . pit`` over a constraint set that
does not depend on ``c`` is unchanged when ``c`` is multiplied by ``k > 0``).
"""

from __future__ import annotations

import numpy as np
import pytest

from trustopt import tabular as T
from trustopt import testing


def _instance(seed: int, S: int = 3, A: int = 3, gamma: float = 0.9):
    rng = np.random.default_rng(seed)
    mdp = testing.random_mdps(rng, 1, S, A, gamma=gamma)[0]
    pi = testing.random_policies(rng, 1, S, A)[0]
    return mdp, pi


def _scaled(mdp, k):
    return T.TabularMDP(mdp.P, k * mdp.r, mdp.rho0, mdp.gamma)


def _gain(mdp, pi, sol):
    return sol.surrogate - T.evaluate(mdp, pi).eta


# ----------------------------------------------------------------- scale invariance


@pytest.mark.parametrize("k", [1e-8, 1e-10])
def test_tv_subproblem_gain_is_scale_invariant(k):
    """r -> k r multiplies c = rho A by k: the maximizer, hence gain / k, must not change.

    Small advantages are the normal case near the optimum (the exact trust-region method
    of STRO Thm. 3.5 converges to A* = 0), so the LP must not lose precision there. The
    reference is the unscaled problem; relative tolerance 1e-6 is far above round-off.
    """
    mdp, pi = _instance(0)
    ref = T.solve_tv_subproblem(mdp, pi, 0.1)
    sol = T.solve_tv_subproblem(_scaled(mdp, k), pi, 0.1)
    assert _gain(_scaled(mdp, k), pi, sol) / k == pytest.approx(_gain(mdp, pi, ref), rel=1e-6)


@pytest.mark.parametrize("k", [1e-14, 1e6])
def test_kl_subproblem_gain_is_scale_invariant(k):
    """The KL subproblem's maximizer is invariant under c -> k c (k > 0): its ties must
    be detected relative to the scale of c, not absolutely."""
    mdp, pi = _instance(0)
    ref = T.solve_kl_subproblem(mdp, pi, 0.05)
    sol = T.solve_kl_subproblem(_scaled(mdp, k), pi, 0.05)
    np.testing.assert_allclose(sol.pi, ref.pi, atol=1e-7)
    assert _gain(_scaled(mdp, k), pi, sol) / k == pytest.approx(_gain(mdp, pi, ref), rel=1e-6)
