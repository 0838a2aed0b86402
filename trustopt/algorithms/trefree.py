"""TREFree: trust-region-free policy optimization (TREFree Alg. 1, sec. 4)."""

from trustopt.algorithms._setup import check_sampling, setup
from trustopt.components.acceptance import AlwaysAccept
from trustopt.components.distances import MeanKL
from trustopt.components.radius import ConstantRadius
from trustopt.components.steps import ClippedAscent
from trustopt.components.surrogates import ClippedObjective
from trustopt.core.loop import Method


def trefree(problem, *, exact=False, delta=0.01, epochs=10, n_minibatches=4, learning_rate=0.01, optimizer="adam",
            normalize_advantages=True, theta0=None, **sampling):
    """K epochs of minibatch ascent on ``eta_hat + sum_i w_i min((r_i - 1) A_i, delta)`` (Alg. 1).

    Hyperparameters: delta (0.01, TREFree sec. 5), epochs (10), n_minibatches (4),
    learning_rate (0.01; TREFree anneals 3e-4 -> 0 with neural networks; 0.05 overshoots the
    kinked objective on sampled tabular batches; it is a step in parameter space, so it suits
    softmax logits: on an LQR, where ``log pi`` moves ~10x faster per parameter, sampled batches
    need ~1e-3), optimizer, normalize_advantages (True: ``A <- (A - m) / s`` within each
    (mini)batch, TREFree sec. 5, so that ``delta`` is in units of the advantage's spread and free
    of the reward scale; the reported predicted gain is ``s`` times the normalized one);
    sampling: n_episodes, lambda_, use_baseline.
    """
    check_sampling("trefree", sampling, factory=trefree)
    policy, sampler, theta0 = setup(problem, exact=exact, theta0=theta0, **sampling)
    return Method(name="trefree", policy=policy, sampler=sampler, surrogate=ClippedObjective(delta=delta, normalize_advantages=normalize_advantages),
                  distance=MeanKL(),
                  step=ClippedAscent(epochs=epochs, n_minibatches=n_minibatches, learning_rate=learning_rate,
                                     optimizer=optimizer),
                  acceptance=AlwaysAccept(), radius_rule=ConstantRadius(delta=1.0), theta0=theta0, problem=problem,
                  hyperparameters=dict(delta=delta, epochs=epochs, n_minibatches=n_minibatches,
                                       learning_rate=learning_rate, optimizer=optimizer,
                                       normalize_advantages=normalize_advantages, **sampling))
