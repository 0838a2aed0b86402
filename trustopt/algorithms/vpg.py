"""VPG / REINFORCE with a value baseline and GAE (slides "Vanilla Policy Gradient", "GAE")."""

from trustopt.algorithms._setup import check_sampling, setup
from trustopt.components.acceptance import AlwaysAccept
from trustopt.components.distances import MeanKL
from trustopt.components.radius import ConstantRadius
from trustopt.components.steps import GradientStep
from trustopt.components.surrogates import ImportanceSampled
from trustopt.core.loop import Method


def vpg(problem, *, exact=False, learning_rate=1.0, theta0=None, **sampling):
    """``theta_{k+1} = theta_k + learning_rate * g_hat_k`` with ``g_hat_k = sum_i w_i A_hat_i grad log pi(a_i|s_i)``
    (the gradient of :class:`~trustopt.components.surrogates.ImportanceSampled` at ``theta_k``;
    advantages by GAE with the fitted baseline, see :class:`~trustopt.components.samplers.TabularEpisodeSampler`).

    Hyperparameters: learning_rate (default 1.0, on the unnormalized-visitation scale of the
    gradient, ``sum_s rho(s) = 1/(1-gamma)``); sampling: n_episodes, lambda_, use_baseline.
    VPG has no trust region: its radius rule is a constant that the step ignores.
    """
    check_sampling("vpg", sampling)
    policy, sampler, theta0 = setup(problem, exact=exact, theta0=theta0, **sampling)
    return Method(name="vpg", policy=policy, sampler=sampler, surrogate=ImportanceSampled(), distance=MeanKL(),
                  step=GradientStep(learning_rate=learning_rate), acceptance=AlwaysAccept(),
                  radius_rule=ConstantRadius(delta=1.0), theta0=theta0, problem=problem,
                  hyperparameters=dict(learning_rate=learning_rate, **sampling))
