"""STRO: the stochastic trust-region method (STRO Algorithm 4.3; Algorithm 3.1 with an exact sampler)."""

from trustopt.algorithms._setup import check_sampling, setup
from trustopt.components.acceptance import RatioTest
from trustopt.components.distances import MeanKL
from trustopt.components.radius import GradientNormRadius
from trustopt.components.steps import StroInnerSolver
from trustopt.components.surrogates import ImportanceSampled
from trustopt.core.loop import Method


def stro(problem, *, exact=False, mu0=0.05, mu_min=0.01, mu_max=0.1, beta0=0.0, beta1=0.0, gamma1=2.0, gamma2=0.8,
         gamma3=0.6, max_rejections=4, max_inner=5, epsilon=0.01, tau=0.1, subsample=1.0, alternating=None,
         normalize_advantages=True, theta0=None, **sampling):
    """STRO Alg. 4.3: radius ``delta_k = mu_k ||g_k||`` (eq. 4.16), inner solver Alg. 4.2 (with the
    termination test 4.9; alternating mean/log-std update 4.11-4.12 for Gaussian policies),
    ratio test eq. 4.14 with the sample standard deviation, rejection that merges a new batch,
    mandatory acceptance (eq. 4.13) after ``max_rejections`` consecutive rejections.

    With ``exact=True`` the sampler is the exact oracle, ``sigma_hat = 0`` so the ratio is
    eq. 3.2, and there is no mandatory acceptance (Alg. 3.1): ``eta`` never decreases.

    Hyperparameters (STRO sec. 5.1): mu0 0.05, mu_min 0.01, mu_max 0.1, gamma1 2, gamma2 0.8,
    gamma3 0.6, beta0 = beta1 = 0, max_rejections 4; inner solver: max_inner 5, epsilon 0.01,
    tau 0.1, subsample 1.0; normalize_advantages (True); sampling: n_episodes, lambda_, use_baseline.

    Advantage normalization (``A <- (A - m) / s`` per model batch, as in the TRPO implementations
    STRO sec. 5 runs on, OpenAI Baselines and Spinning Up): ``g_k`` is the gradient of the
    normalized surrogate, so ``delta_k = mu_k ||g_k||`` is a KL radius free of the reward scale
    (with raw advantages, ``||g|| ~ 1e3`` on an LQR makes the sec. 5.1 mu's a radius of 10-50 nats).
    The step solver works on the normalized surrogate; the predicted gain it reports is ``s`` times
    the normalized gain (:func:`trustopt.components.steps.gain_scale`), on eta's scale, so the
    ratio of eq. 4.14 / 3.2 compares like with like; in exact mode ``m = 0`` and it is the exact
    ``L(theta_tilde) - L(theta_k)``: the exact method still never decreases eta. Not invariant to
    the reward scale: the termination test 4.9, which divides by ``1 + |L_hat|``.
    """
    check_sampling("stro", sampling, factory=stro)
    policy, sampler, theta0 = setup(problem, exact=exact, theta0=theta0, **sampling)
    if alternating is None:
        alternating = hasattr(policy, "log_std_index")
    return Method(
        name="stro", policy=policy, sampler=sampler, surrogate=ImportanceSampled(normalize_advantages=normalize_advantages),
        distance=MeanKL(),
        step=StroInnerSolver(max_inner=max_inner, epsilon=epsilon, tau=tau, subsample=subsample, alternating=alternating),
        acceptance=RatioTest(beta0=beta0, max_rejections=None if exact else max_rejections),
        radius_rule=GradientNormRadius(mu0=mu0, mu_min=mu_min, mu_max=mu_max, beta0=beta0, beta1=beta1, gamma1=gamma1,
                                       gamma2=gamma2, gamma3=gamma3),
        theta0=theta0, problem=problem,
        hyperparameters=dict(mu0=mu0, mu_min=mu_min, mu_max=mu_max, beta0=beta0, beta1=beta1, gamma1=gamma1,
                             gamma2=gamma2, gamma3=gamma3, max_rejections=max_rejections, max_inner=max_inner,
                             epsilon=epsilon, tau=tau, subsample=subsample, alternating=alternating,
                             normalize_advantages=normalize_advantages, **sampling),
    )
