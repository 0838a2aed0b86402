"""Problem-dependent parts shared by the factories: the policy, the sampler and theta0."""

from __future__ import annotations

import numpy as np

from trustopt._validation import ValidationError, did_you_mean, own_hyperparameters
from trustopt.components.flat_policies import FlatLinearGaussian, FlatTabularSoftmax
from trustopt.components.lqr_samplers import ExactLQRSampler, LQREpisodeSampler, lqr_theta0
from trustopt.components.tabular_samplers import ExactTabularSampler, TabularEpisodeSampler, TabularVineSampler
from trustopt.lqr import LQR
from trustopt.policies import LinearGaussian, TabularSoftmax
from trustopt.tabular import TabularMDP


_SAMPLING = ("n_episodes", "lambda_", "use_baseline", "n_trunk_episodes", "n_rollout_states")
#: Sampling options of MuJoCo problems only (:class:`trustopt.envs.pg_sampler.MujocoEpisodeSampler`).
_ENV_SAMPLING = ("batch_steps", "gamma", "obs_norm", "remove_survival_bonus", "max_episode_steps", "init_log_std",
                 "backend")
#: Sampling options of the MuJoCo vine sampler only (:class:`trustopt.envs.vine_sampler.MujocoVineSampler`).
_VINE_ENV_SAMPLING = ("n_actions_per_state", "rollout_horizon")


#: The families of the registered factories, for the error of a problem given to the wrong one.
PG_FAMILY = "the policy-gradient family (vpg, npg, trpo, ppo, trefree, stro)"
ES_FAMILY = "the ES family (es, ars, tres, trust-region-es, trust-region-cma)"


def check_problem_kind(name: str, factory, problem, hyperparameters: dict) -> None:
    """Before ``factory(problem, **hyperparameters)``: a built-in factory of the ES family gets a
    black-box function and ``theta0``; the policy-gradient factories check their problems in
    :func:`setup`. The ValidationError names the problems the method takes."""
    from trustopt.algorithms import ars, es, tres, trust_region_cma, trust_region_es

    if factory not in (es, ars, tres, trust_region_es, trust_region_cma):
        return
    if not callable(problem):
        raise ValidationError(
            f"problem: {name!r}, of {ES_FAMILY}, takes a black-box function F mapping (n, d) parameters to (n,) "
            f"values to maximize, with theta0 (d,) and sigma0; got {type(problem).__name__}. Tabular MDPs, LQRs and MuJoCo "
            f"environments are problems of {PG_FAMILY}; {name} on a MuJoCo environment: trustopt.train.train "
            f"or `trustopt train --algo {name}`")
    if "theta0" not in hyperparameters:
        raise ValidationError(f"theta0: {name!r} needs the starting parameters theta0, a (d,) array (the "
                              "dimension of the function's argument)")


def check_sampling(name: str, sampling: dict, *, vine_allowed: bool = False, factory=None) -> None:
    """Reject unknown keyword arguments of a factory with a ValidationError naming them, the closest
    known name, and the keyword arguments of ``factory`` (the calling factory itself)."""
    allowed = (_SAMPLING + _ENV_SAMPLING + _VINE_ENV_SAMPLING) if vine_allowed else (_SAMPLING[:3] + _ENV_SAMPLING)
    unknown = sorted(set(sampling) - set(allowed))
    if unknown:
        model = [a for a in allowed if a in _SAMPLING]
        env = (("lambda_",) + _ENV_SAMPLING if not vine_allowed else
               tuple(a for a in _ENV_SAMPLING if a != "batch_steps") + _SAMPLING[3:] + _VINE_ENV_SAMPLING)
        own = own_hyperparameters(factory)
        listed = f"its hyperparameters: {', '.join(own)}; " if own else ""
        if unknown[0] == "env_kwargs":  # trustopt train's name: here the environment carries them
            raise ValidationError("env_kwargs: pass the environment as trustopt.envs.EnvSpec(env_id=..., "
                                  "kwargs={...}) in place of its id")
        raise ValidationError(f"{unknown[0]}: not a hyperparameter of {name!r}"
                              f"{did_you_mean(unknown[0], own + tuple(allowed))} ({listed}sampling options of "
                              f"tabular and LQR problems: {', '.join(model)}; of MuJoCo environments: {', '.join(env)})")


def setup(problem, *, exact: bool, theta0=None, vine: bool = False, **sampling):
    """``(policy, sampler, theta0)`` for ``problem``.

    MuJoCo (a Gymnasium id such as ``"Hopper-v5"`` or a :class:`trustopt.envs.EnvSpec`): linear
    Gaussian policy on normalized observations, ``theta = [W.ravel(), b, log_std]``, ``theta0 = 0``
    (``log_std = init_log_std``, default 0) by default; sampler
    :class:`~trustopt.envs.pg_sampler.MujocoEpisodeSampler` with the options ``batch_steps``,
    ``gamma``, ``lambda_``, ``use_baseline``, ``obs_norm``, ``remove_survival_bonus``,
    ``max_episode_steps``; no exact oracle; with ``vine``,
    :class:`~trustopt.envs.vine_sampler.MujocoVineSampler` (TRPO sec. 5.2) with ``n_trunk_episodes``,
    ``n_rollout_states``, ``n_actions_per_state``, ``rollout_horizon``, ``gamma``, ``obs_norm``,
    ``remove_survival_bonus``, ``max_episode_steps``.

    Tabular MDP: softmax policy over ``theta (S*A,)``, ``theta0 = 0`` (uniform policy) by default;
    sampler: exact oracle if ``exact``, vine (TRPO sec. 5.2) if ``vine``, else single-path episodes.

    LQR (:class:`trustopt.lqr.LQR`): linear Gaussian policy over ``theta = [K.ravel(), b, log_std]``
    (``m (n + 2)`` parameters), ``theta0 = 0`` (``K = 0, b = 0, sigma = 1``) by default, which must be
    stabilizing (:func:`~trustopt.components.lqr_samplers.lqr_theta0`); sampler: the exact oracle
    (:class:`~trustopt.components.lqr_samplers.ExactLQRSampler`) if ``exact``, else single-path
    rollouts (:class:`~trustopt.components.lqr_samplers.LQREpisodeSampler`); no vine.
    """
    from trustopt.envs import EnvSpec

    if isinstance(problem, (str, EnvSpec)):
        return _setup_env(problem, exact=exact, theta0=theta0, vine=vine, **sampling)
    env_only = sorted(set(sampling) & set(_ENV_SAMPLING + _VINE_ENV_SAMPLING))
    if env_only:
        raise ValidationError(f"{env_only[0]}: a sampling option of MuJoCo problems only")
    return _setup_model(problem, exact=exact, theta0=theta0, vine=vine, **sampling)


def _setup_env(problem, *, exact, theta0, vine, init_log_std=0.0, max_episode_steps=None, **options):
    from trustopt.envs import EnvSpec
    from trustopt.envs.pg_sampler import MujocoEpisodeSampler

    if exact:
        raise ValidationError("exact: MuJoCo problems have no exact oracle; use exact=False")
    if vine:
        from trustopt.envs.vine_sampler import MujocoVineSampler

        rejected = ("n_episodes", "batch_steps", "lambda_", "use_baseline")
        what = ("the vine sampler (TRPO sec. 5.2: n_trunk_episodes, n_rollout_states, n_actions_per_state, "
                "rollout_horizon)")
    else:
        rejected = ("n_episodes", "n_trunk_episodes", "n_rollout_states") + _VINE_ENV_SAMPLING
        what = "MuJoCo problems (use batch_steps; the vine sampler's options need vine=True)"
    for name in rejected:
        if name in options:
            raise ValidationError(f"{name}: not an option of {what}")
    if isinstance(problem, EnvSpec):
        spec = problem
    else:
        try:
            spec = EnvSpec(env_id=problem, max_episode_steps=max_episode_steps)
        except ValidationError as exc:
            raise ValidationError(f"problem: a string names a MuJoCo environment; {exc}") from None
    if isinstance(problem, EnvSpec) and max_episode_steps is not None:
        raise ValidationError("max_episode_steps: set it in the EnvSpec")
    sampler = (MujocoVineSampler if vine else MujocoEpisodeSampler)(env=spec, **options)
    policy = FlatLinearGaussian(LinearGaussian(sampler.obs_dim, sampler.act_dim, init_log_std=init_log_std))
    if theta0 is None:
        theta0 = policy.base.init_theta()
    else:
        theta0 = np.asarray(theta0, dtype=np.float64).ravel()
        if theta0.shape != (policy.n_params,) or not np.all(np.isfinite(theta0)):
            raise ValidationError(f"theta0: expected {policy.n_params} = act_dim (obs_dim + 2) finite parameters "
                                  f"[W.ravel(), b, log_std], got shape {theta0.shape}")
    return policy, sampler, theta0


def _setup_model(problem, *, exact: bool, theta0=None, n_episodes: int = 100, lambda_: float = 0.97,
                 use_baseline: bool = True, vine: bool = False, n_trunk_episodes: int = 20,
                 n_rollout_states: int = 50):
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
    black_box = f"; a black-box function is a problem of {ES_FAMILY} or trustopt.minimize" if callable(problem) else ""
    raise ValidationError(
        f"problem: expected a tabular.TabularMDP, a trustopt.lqr.LQR, a MuJoCo environment id or a "
        f"trustopt.envs.EnvSpec, got {type(problem).__name__}{black_box}"
    )
