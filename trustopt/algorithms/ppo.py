"""PPO with the clipped surrogate (Schulman et al. 2017; TREFree eq. 4)."""

from trustopt.algorithms._setup import check_sampling, setup
from trustopt.components.acceptance import AlwaysAccept
from trustopt.components.distances import MeanKL
from trustopt.components.radius import ConstantRadius
from trustopt.components.steps import ClippedAscent
from trustopt.components.surrogates import ClippedRatio
from trustopt.core.loop import Method


def ppo(problem, *, exact=False, epsilon=0.2, epochs=10, n_minibatches=4, learning_rate=0.05, optimizer="adam",
        normalize_advantages=True, theta0=None, **sampling):
    """K epochs of minibatch ascent on ``eta_hat + sum_i w_i min(r_i A_i, clip(r_i, 1-epsilon, 1+epsilon) A_i)``.

    Hyperparameters: epsilon (0.2, PPO paper), epochs (10, PPO paper), n_minibatches (4),
    learning_rate (0.05; PPO uses 3e-4 with neural networks), optimizer ("adam" | "sgd"),
    normalize_advantages (True: ``A <- (A - m) / s`` per (mini)batch as PPO's implementation and
    TREFree sec. 5 "the advantages are normalized only within a training batch"; with Adam and
    the ratio clip this only centers the advantages and sets Adam's gradient scale; the reported
    predicted gain is ``s`` times the normalized one, on eta's scale);
    sampling: n_episodes, lambda_, use_baseline.
    """
    check_sampling("ppo", sampling, factory=ppo)
    policy, sampler, theta0 = setup(problem, exact=exact, theta0=theta0, **sampling)
    return Method(name="ppo", policy=policy, sampler=sampler, surrogate=ClippedRatio(epsilon=epsilon,
                                                                       normalize_advantages=normalize_advantages),
                  distance=MeanKL(),
                  step=ClippedAscent(epochs=epochs, n_minibatches=n_minibatches, learning_rate=learning_rate,
                                     optimizer=optimizer),
                  acceptance=AlwaysAccept(), radius_rule=ConstantRadius(delta=1.0), theta0=theta0, problem=problem,
                  hyperparameters=dict(epsilon=epsilon, epochs=epochs, n_minibatches=n_minibatches,
                                       learning_rate=learning_rate, optimizer=optimizer,
                                       normalize_advantages=normalize_advantages, **sampling))
