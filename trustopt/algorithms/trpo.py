"""TRPO, single path or vine (Schulman et al. 2015, sec. 5-6 and App. C)."""

from trustopt.algorithms._setup import check_sampling, setup
from trustopt.components.acceptance import ImprovementWithinRadius
from trustopt.components.distances import MeanKL
from trustopt.components.radius import ConstantRadius
from trustopt.components.steps import NaturalGradientStep
from trustopt.components.surrogates import ImportanceSampled
from trustopt.core.loop import Method


def trpo(problem, *, exact=False, delta=0.01, cg_iters=10, cg_damping=1e-3, max_backtracks=10, shrink=0.5,
         vine=False, theta0=None, **sampling):
    """``max L_hat(theta) s.t. Dbar_KL(theta_k, theta) <= delta`` (TRPO eq. 12-14): natural-gradient
    direction by CG, boundary step, backtracking until the surrogate improves and the KL
    holds (App. C); a failed line search keeps ``theta_k``.

    Hyperparameters: delta (0.01, TRPO sec. 8 / App. E), cg_iters (10, App. C),
    cg_damping (1e-3), max_backtracks (10), shrink (0.5); vine (False: single path, sec. 5.1;
    True: vine, sec. 5.2, with n_trunk_episodes, n_rollout_states on tabular problems
    (:class:`~trustopt.components.tabular_samplers.TabularVineSampler`) and MuJoCo environments
    (:class:`~trustopt.envs.vine_sampler.MujocoVineSampler`, also n_actions_per_state,
    rollout_horizon)); sampling: n_episodes, lambda_, use_baseline.
    """
    check_sampling("trpo", sampling, vine_allowed=vine, factory=trpo)
    policy, sampler, theta0 = setup(problem, exact=exact, theta0=theta0, vine=vine, **sampling)
    return Method(name="trpo", policy=policy, sampler=sampler, surrogate=ImportanceSampled(), distance=MeanKL(),
                  step=NaturalGradientStep(cg_iters=cg_iters, cg_damping=cg_damping, max_backtracks=max_backtracks,
                                           shrink=shrink),
                  acceptance=ImprovementWithinRadius(), radius_rule=ConstantRadius(delta=delta), theta0=theta0,
                  problem=problem, hyperparameters=dict(delta=delta, cg_iters=cg_iters, cg_damping=cg_damping,
                                                        max_backtracks=max_backtracks, shrink=shrink, vine=vine,
                                                        **sampling))
