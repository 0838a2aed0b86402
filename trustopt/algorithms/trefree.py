"""TREFree: trust-region-free policy optimization (TREFree Alg. 1, sec. 4)."""

from trustopt.algorithms._setup import check_sampling, setup
from trustopt.components.acceptance import AlwaysAccept
from trustopt.components.distances import MeanKL
from trustopt.components.radius import ConstantRadius
from trustopt.components.steps import ClippedAscent
from trustopt.components.surrogates import ClippedObjective
from trustopt.core.loop import Method


def trefree(problem, *, exact=False, delta=0.01, epochs=10, n_minibatches=4, learning_rate=0.01, optimizer="adam",
            theta0=None, **sampling):
    """K epochs of minibatch ascent on ``eta_hat + sum_i w_i min((r_i - 1) A_i, delta)`` (Alg. 1).

    Hyperparameters: delta (0.01, TREFree sec. 5), epochs (10), n_minibatches (4),
    learning_rate (0.01; TREFree anneals 3e-4 -> 0 with neural networks; 0.05 overshoots the
    kinked objective on sampled tabular batches), optimizer;
    sampling: n_episodes, lambda_, use_baseline.
    """
    check_sampling("trefree", sampling)
    policy, sampler, theta0 = setup(problem, exact=exact, theta0=theta0, **sampling)
    return Method(name="trefree", policy=policy, sampler=sampler, surrogate=ClippedObjective(delta=delta),
                  distance=MeanKL(),
                  step=ClippedAscent(epochs=epochs, n_minibatches=n_minibatches, learning_rate=learning_rate,
                                     optimizer=optimizer),
                  acceptance=AlwaysAccept(), radius_rule=ConstantRadius(delta=1.0), theta0=theta0, problem=problem,
                  hyperparameters=dict(delta=delta, epochs=epochs, n_minibatches=n_minibatches,
                                       learning_rate=learning_rate, optimizer=optimizer, **sampling))
