"""Problem-dependent parts shared by the factories: the policy, the sampler and theta0."""

from __future__ import annotations

import numpy as np

from trustopt._validation import ValidationError
from trustopt.components.flat_policies import FlatLinearGaussian, FlatTabularSoftmax
from trustopt.components.lqr_samplers import ExactLQRSampler, LQREpisodeSampler, lqr_theta0
from trustopt.components.samplers import ExactTabularSampler, TabularEpisodeSampler, TabularVineSampler
from trustopt.lqr import LQR
from trustopt.policies import LinearGaussian, TabularSoftmax
from trustopt.tabular import TabularMDP


_SAMPLING = ("n_episodes", "lambda_", "use_baseline", "n_trunk_episodes", "n_rollout_states")


def check_sampling(name: str, sampling: dict, *, vine_allowed: bool = False) -> None:
    """Reject unknown keyword arguments of a factory with a ValidationError naming them."""
    allowed = _SAMPLING if vine_allowed else _SAMPLING[:3]
    unknown = sorted(set(sampling) - set(allowed))
    if unknown:
        raise ValidationError(f"{unknown[0]}: not a hyperparameter of {name!r} (sampling options: {', '.join(allowed)})")


def setup(problem, *, exact: bool, theta0=None, n_episodes: int = 100, lambda_: float = 0.97,
          use_baseline: bool = True, vine: bool = False, n_trunk_episodes: int = 20, n_rollout_states: int = 50):
    """``(policy, sampler, theta0)`` for ``problem``.

    Tabular MDP: softmax policy over ``theta (S*A,)``, ``theta0 = 0`` (uniform policy) by default;
    sampler: exact oracle if ``exact``, vine (TRPO sec. 5.2) if ``vine``, else single-path episodes.

    LQR (:class:`trustopt.lqr.LQR`): linear Gaussian policy over ``theta = [K.ravel(), b, log_std]``
    (``m (n + 2)`` parameters), ``theta0 = 0`` (``K = 0, b = 0, sigma = 1``) by default, which must be
    stabilizing (:func:`~trustopt.components.lqr_samplers.lqr_theta0`); sampler: the exact oracle
    (:class:`~trustopt.components.lqr_samplers.ExactLQRSampler`) if ``exact``, else single-path
    rollouts (:class:`~trustopt.components.lqr_samplers.LQREpisodeSampler`); no vine.
    """
    if isinstance(problem, LQR):
        if vine:
            raise ValidationError("vine: the vine sampler (TRPO sec. 5.2) is implemented for tabular problems only")
        policy = FlatLinearGaussian(LinearGaussian(problem.n, problem.m))
        if exact:
            sampler = ExactLQRSampler(lqr=problem)
        else:
            sampler = LQREpisodeSampler(lqr=problem, n_episodes=n_episodes, lambda_=lambda_, use_baseline=use_baseline)
        return policy, sampler, lqr_theta0(problem, theta0)
    if isinstance(problem, TabularMDP):
        if problem.batch_shape:
            raise ValidationError(f"problem: expected one MDP, got batch shape {problem.batch_shape}")
        policy = FlatTabularSoftmax(TabularSoftmax(problem.n_states, problem.n_actions))
        if exact:
            sampler = ExactTabularSampler(mdp=problem)
        elif vine:
            sampler = TabularVineSampler(mdp=problem, n_trunk_episodes=n_trunk_episodes,
                                         n_rollout_states=n_rollout_states)
        else:
            sampler = TabularEpisodeSampler(mdp=problem, n_episodes=n_episodes, lambda_=lambda_,
                                            use_baseline=use_baseline)
        theta0 = np.zeros(policy.n_params) if theta0 is None else np.asarray(theta0, dtype=np.float64).ravel()
        return policy, sampler, theta0
    raise ValidationError(
        f"problem: expected a tabular.TabularMDP or a trustopt.lqr.LQR (MuJoCo problems are not supported yet), "
        f"got {type(problem).__name__}"
    )
