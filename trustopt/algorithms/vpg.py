"""VPG / REINFORCE with a value baseline and GAE (slides "Vanilla Policy Gradient", "GAE")."""

from trustopt.algorithms._setup import check_sampling, setup
from trustopt.components.acceptance import AlwaysAccept
from trustopt.components.distances import MeanKL
from trustopt.components.radius import ConstantRadius
from trustopt.components.steps import GradientStep
from trustopt.components.surrogates import ImportanceSampled
from trustopt.core.loop import Method


def vpg(problem, *, exact=False, learning_rate=1.0, delta=0.01, normalize_advantages=True, theta0=None, **sampling):
    """``theta_{k+1} = theta_k + learning_rate * g_hat_k`` with ``g_hat_k = sum_i w_i A_hat_i grad log pi(a_i|s_i)``
    (the gradient of :class:`~trustopt.components.surrogates.ImportanceSampled` at ``theta_k``;
    advantages by GAE with the fitted baseline, see :class:`~trustopt.components.tabular_samplers.TabularEpisodeSampler`).

    Hyperparameters: learning_rate (default 1.0, on the unnormalized-visitation scale of the
    gradient, ``sum_s rho(s) = 1/(1-gamma)``); delta (default 0.01, NPG/TRPO's mean-KL step size,
    TRPO App. E): the step length is ``alpha = min(learning_rate, sqrt(2 delta / g'Fg))`` (the
    step-length rule of TRPO App. C on the vanilla direction;
    :class:`~trustopt.components.steps.GradientStep` with ``cap_kl``), so one default works on
    softmax logits (where the cap rarely binds) and on an LQR (gradient norm ~1e3: the uncapped
    step of 1.0 has a negative gain on every iteration); a huge delta (1e12) gives plain VPG.
    normalize_advantages (default True, ``A <- (A - m) / s`` per batch as OpenAI Spinning Up's VPG;
    the step is then in units of the advantage's spread; the reported predicted gain is ``s``
    times the normalized one, on eta's scale); sampling: n_episodes, lambda_, use_baseline.
    """
    check_sampling("vpg", sampling, factory=vpg)
    policy, sampler, theta0 = setup(problem, exact=exact, theta0=theta0, **sampling)
    return Method(name="vpg", policy=policy, sampler=sampler,
                  surrogate=ImportanceSampled(normalize_advantages=normalize_advantages), distance=MeanKL(),
                  step=GradientStep(learning_rate=learning_rate, cap_kl=True), acceptance=AlwaysAccept(),
                  radius_rule=ConstantRadius(delta=delta), theta0=theta0, problem=problem,
                  hyperparameters=dict(learning_rate=learning_rate, delta=delta,
                                       normalize_advantages=normalize_advantages, **sampling))
