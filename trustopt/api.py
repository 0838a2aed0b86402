"""``trustopt.run``: run a registered algorithm (or a composed :class:`~trustopt.core.loop.Method`) on a problem."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from trustopt._callbacks import Callback
from trustopt._validation import ValidationError, readonly
from trustopt.core.loop import NEED_MODEL, Method, drive
from trustopt.core.types import FAILURE_STATUSES, Record, Result
from trustopt.lqr import LQR, LQRPolicy

__all__ = ["run"]


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValidationError(f"seed: must be an integer >= 0, got {seed!r}")
    return int(seed)


def _loop_callback(callback):
    """``callback`` by trustopt's convention, as the loop's ``callback(record, theta) -> stop``."""
    if callback is None:
        return None
    cb = Callback(callback)

    def on_record(record: Record, theta) -> bool:
        from scipy.optimize import OptimizeResult

        x = readonly(np.array(theta))
        return cb(OptimizeResult(x=x, nit=record.iteration + 1, eta=record.eta, record=record), x)

    return on_record


def run(
    algorithm: str | Method,
    problem: Any,
    *,
    max_iter: int,
    seed: int,
    exact: bool = False,
    callback: Callable[[Any], Any] | None = None,
    **hyperparameters,
) -> Result:
    """Run a stochastic trust-region method (STRO Alg. 3.1 / 4.3) for ``max_iter`` iterations.

    Args:
        algorithm: a registered name (``vpg npg trpo ppo trefree stro``; see
            :data:`trustopt.algorithms.REGISTRY`) or a composed :class:`Method`.
        problem: a :class:`trustopt.tabular.TabularMDP`, a :class:`trustopt.lqr.LQR`, a MuJoCo
            environment (a Gymnasium id such as ``"Hopper-v5"`` or a :class:`trustopt.envs.EnvSpec`;
            policy-gradient algorithms), or for ``es``/``ars``/``tres`` a reward function (a
            composed Method carries its own). On an LQR the policy is linear Gaussian,
            ``theta = [K.ravel(), b, log_std]``, and ``theta0`` (default ``K = 0, b = 0,
            log_std = 0``) must be stabilizing. On a MuJoCo environment the policy is
            ``N(W z + b, diag(exp(2 log_std)))`` on running-normalized observations ``z``, and the
            sampling options are ``batch_steps``, ``gamma``, ``lambda_``, ``obs_norm``,
            ``remove_survival_bonus``, ``max_episode_steps``, ``init_log_std``, ``backend`` (a
            :mod:`trustopt.workers` backend: episodes on worker processes, same result), and with
            ``vine=True`` (TRPO) ``n_trunk_episodes``, ``n_rollout_states``, ``n_actions_per_state``,
            ``rollout_horizon``. The factories' defaults are not those of ``trustopt train``
            (:mod:`trustopt.train.config`; e.g. TRPO's ``cg_damping`` is 1e-3 here, 0.1 there).
        max_iter: number of iterations (``>= 0``); an iteration ends with an accept/reject decision.
        seed: seeds the one ``np.random.Generator`` passed to sampler and step solver;
            the same seed gives the same result bit for bit.
        exact: use the exact oracle as sampler (noise-free expectations; no samples). On an LQR
            see :class:`~trustopt.components.lqr_samplers.ExactLQRSampler` (the clipped PPO /
            TREFree objectives are then a deterministic quadrature, exact only at ``theta_k``).
        callback: trustopt's one convention (as :func:`trustopt.minimize` and ``trustopt train``,
            scipy's): after each iteration, a callback whose only parameter is named
            ``intermediate_result`` receives a ``scipy.optimize.OptimizeResult`` with ``x``
            (``theta_{k+1}``, read-only), ``nit`` (iterations so far), ``eta`` (the record's) and
            ``record`` (the iteration's :class:`Record`); any other callable is called
            ``callback(theta_{k+1})``. Raising ``StopIteration`` or returning a truthy value stops
            the run (``status == "callback"``).
        **hyperparameters: passed to the algorithm's factory (only with a name).

    Returns:
        :class:`~trustopt.core.types.Result` with ``theta``, ``policy`` (``(S, A)`` for tabular
        problems, a :class:`trustopt.lqr.LQRPolicy` for LQR, a :class:`trustopt.envs.GaussianLinearPolicy`
        ``N(W (s - mean) / std + b, diag(exp(2 log_std)))`` with the run's observation normalizer
        for a MuJoCo environment id), ``eta`` (of the final iterate: exact in exact mode, otherwise ``eta_hat``
        of a batch collected there), ``history`` (one :class:`Record` per iteration: ``eta``,
        ``accepted``, ``rho``, ``radius``, ``kl``, ``predicted_gain``, ``actual_gain``,
        ``n_samples``, ``status``, ...), ``status`` and ``message``.
    """
    if isinstance(algorithm, Method):
        if hyperparameters:
            raise ValidationError(
                f"hyperparameters: {sorted(hyperparameters)} can only be given with an algorithm name; "
                "a composed Method already holds its components")
        method = algorithm
    elif isinstance(algorithm, str):
        from trustopt.algorithms import get
        from trustopt.algorithms._setup import check_problem_kind

        factory = get(algorithm)
        check_problem_kind(algorithm, factory, problem, hyperparameters)
        method = factory(problem, exact=exact, **hyperparameters)
    else:
        raise ValidationError(f"algorithm: expected a registered name or a Method, got {type(algorithm).__name__}")
    rng = np.random.default_rng(_seed(seed))
    state, history, status = drive(method, max_iter=max_iter, rng=rng, callback=_loop_callback(callback))
    n_samples = state.n_samples_total
    if state.phase == NEED_MODEL and not state.merge:
        final = method.sampler.sample(method.policy, state.theta, rng, state.baseline)
        n_samples += final.n_samples
        eta = final.eta
    else:
        eta = state.batch.eta
    theta = readonly(np.array(state.theta))
    if hasattr(method.policy, "probs"):
        policy = readonly(method.policy.probs(theta))
    elif isinstance(method.problem, LQR):
        policy = LQRPolicy.from_theta(theta, obs_dim=method.problem.n, act_dim=method.problem.m)
    elif callable(getattr(method.sampler, "policy", None)):  # MuJoCo: raw observations in, normalizer carried
        policy = method.sampler.policy(theta, state.baseline)
    else:
        policy = None
    n_acc = sum(r.accepted for r in history)
    n_fail = sum(r.status in FAILURE_STATUSES for r in history)
    message = (f"{method.name}: {len(history)} iteration(s), {n_acc} accepted, {len(history) - n_acc} rejected "
               f"({n_fail} numerical failure(s){'; last: ' + history[-1].message if n_fail and history[-1].status in FAILURE_STATUSES else ''}); "
               f"stopped by {'callback' if status == 'callback' else 'max_iter'}")
    return Result(theta=theta, policy=policy, eta=float(eta), history=history, status=status, message=message,
                  n_samples=int(n_samples), method=method)
