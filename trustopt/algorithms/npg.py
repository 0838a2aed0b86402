"""Natural policy gradient (Kakade 2002; slides "NPG"; the KL-normalized step of TRPO App. C)."""

from trustopt.algorithms._setup import check_sampling, setup
from trustopt.components.acceptance import AlwaysAccept
from trustopt.components.distances import MeanKL
from trustopt.components.radius import ConstantRadius
from trustopt.components.steps import NaturalGradientStep
from trustopt.components.surrogates import ImportanceSampled
from trustopt.core.loop import Method


def npg(problem, *, exact=False, delta=0.01, cg_iters=10, cg_damping=1e-3, theta0=None, **sampling):
    """``theta_{k+1} = theta_k + sqrt(2 delta / d'Fd) d``, ``d = F^{-1} g`` by CG (no line search, always accepted).

    Hyperparameters: delta (mean-KL step size, default 0.01 as TRPO App. E), cg_iters (10),
    cg_damping (1e-3); sampling: n_episodes, lambda_, use_baseline.
    """
    check_sampling("npg", sampling, factory=npg)
    policy, sampler, theta0 = setup(problem, exact=exact, theta0=theta0, **sampling)
    return Method(name="npg", policy=policy, sampler=sampler, surrogate=ImportanceSampled(), distance=MeanKL(),
                  step=NaturalGradientStep(cg_iters=cg_iters, cg_damping=cg_damping, max_backtracks=0),
                  acceptance=AlwaysAccept(), radius_rule=ConstantRadius(delta=delta), theta0=theta0,
                  problem=problem, hyperparameters=dict(delta=delta, cg_iters=cg_iters, cg_damping=cg_damping, **sampling))
