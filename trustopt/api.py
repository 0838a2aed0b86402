"""``trustopt.run``: run a registered algorithm (or a composed :class:`~trustopt.core.loop.Method`) on a problem."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np

from trustopt._callbacks import Callback
from trustopt._validation import ValidationError, check_bool, check_int, readonly
from trustopt.core.loop import NEED_MODEL, Method, drive
from trustopt.components.search import impute_nonfinite, make_batch
from trustopt.core.types import FAILURE_STATUSES, NONPOSITIVE_GAIN, Record, Result
from trustopt.lqr import LQR, LQRPolicy

__all__ = ["run"]


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
        algorithm: a registered name (``vpg npg trpo ppo trefree stro es ars tres
            trust-region-es trust-region-cma``, or one added by :func:`trustopt.algorithms.register`; see
            :data:`trustopt.algorithms.REGISTRY`) or a composed :class:`Method`. A composed Method runs on
            the problem it was built for (``method.problem``, held by its sampler): ``problem`` is then
            that same object or None (another one is a ValidationError; a Method built with
            ``problem=None`` takes the one given).
        problem: a :class:`trustopt.tabular.TabularMDP`, a :class:`trustopt.lqr.LQR`, a MuJoCo
            environment (a Gymnasium id such as ``"Hopper-v5"`` or a :class:`trustopt.envs.EnvSpec`;
            policy-gradient algorithms), or for the ES family a function ``F: (n, d) -> (n,)`` to
            MAXIMIZE with ``theta0 (d,)`` and ``sigma0``: the
            method is the registry's, the one ``trustopt.TRES(...)`` builds, driven by
            :class:`trustopt.asktell.AskTell` (so the same seed gives the same iterates as the
            ask/tell class told ``-F``). On an LQR the policy is linear Gaussian,
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
        ``n_samples``, ``status``, ...), ``status`` (``"max_iter"``, ``"callback"``, or in exact
        mode ``"converged"``: a stationary point, where the gradient is zero to the step solver's
        tolerance) and ``message``.
    """
    check_int(max_iter, "max_iter", 0)
    method = _method(algorithm, problem, check_bool(exact, "exact"), hyperparameters)
    from trustopt.asktell import is_search_method

    if is_search_method(method) and not callable(method.problem):
        raise ValidationError(f"problem: {method.name!r}, of the ES family, maximizes a function F: (n, d) -> (n,); "
                              f"got {type(method.problem).__name__} (pass F as problem, or build the method on it)")
    drive_ = _run_search if is_search_method(method) else _run_loop
    theta, policy, eta, history, status, n_samples = drive_(method, max_iter, check_int(seed, "seed", 0), callback)
    n_acc = sum(r.accepted for r in history)
    # a step with no predicted gain on its own model is not a numerical failure: the solver's step
    # (e.g. PPO's epochs on a clipped objective) found no ascent, and the ratio test never ran
    n_no_gain = sum(r.status == NONPOSITIVE_GAIN for r in history)
    n_fail = sum(r.status in FAILURE_STATUSES for r in history) - n_no_gain
    last = history[-1].message if history and history[-1].status in FAILURE_STATUSES else None
    last_message = history[-1].message if history else ""
    stopped = f"converged: {last_message or 'stationary point'}" if status == "converged" else f"stopped by {status}"
    no_gain = f", {n_no_gain} without a predicted gain" if n_no_gain else ""
    message = (f"{method.name}: {len(history)} iteration(s), {n_acc} accepted, {len(history) - n_acc} rejected "
               f"({n_fail} numerical failure(s){no_gain}{'; last: ' + last if last else ''}); {stopped}")
    return Result(theta=theta, policy=policy, eta=float(eta), history=history, status=status,
                  message=message, n_samples=int(n_samples), method=method)


def _method(algorithm, problem, exact: bool, hyperparameters: dict) -> Method:
    """The composed method: ``algorithm`` itself, or the registry's factory on ``problem``."""
    if isinstance(algorithm, Method):
        if hyperparameters:
            raise ValidationError(
                f"hyperparameters: {sorted(hyperparameters)} can only be given with an algorithm name; "
                "a composed Method already holds its components")
        if exact:
            raise ValidationError("exact: a composed Method already holds its sampler; build it with exact=True "
                                  "(e.g. trustopt.algorithms.get(name)(problem, exact=True))")
        return _own_problem(algorithm, problem)
    if not isinstance(algorithm, str):
        raise ValidationError(f"algorithm: expected a registered name or a Method, got {type(algorithm).__name__}")
    from trustopt.algorithms import get
    from trustopt.algorithms._setup import check_problem_kind

    factory = get(algorithm)
    check_problem_kind(algorithm, factory, problem, hyperparameters)
    method = factory(problem, exact=exact, **hyperparameters)
    if not isinstance(method, Method):
        raise ValidationError(f"algorithm: the factory registered as {algorithm!r} returned {type(method).__name__}; "
                              "a factory returns a trustopt.core.Method")
    return method


def _own_problem(method: Method, problem) -> Method:
    """A composed method runs on the problem it holds (its sampler, or for the ES family the function
    ``method.problem``): ``problem`` must be that one or None; a method with ``problem=None`` gets it."""
    if method.problem is None:
        return method if problem is None else dataclasses.replace(method, problem=problem)
    if problem is None or problem is method.problem or (isinstance(problem, str) and problem == method.problem):
        return method
    raise ValidationError(
        f"problem: the composed Method {method.name!r} was built for another problem ({type(method.problem).__name__} "
        f"{method.problem!r}) and runs on that one, its sampler's; got {type(problem).__name__} {problem!r}. Build "
        "the method on this problem (e.g. trustopt.algorithms.get(name)(problem, ...)) or pass problem=None")


def _run_loop(method: Method, max_iter: int, seed: int, callback):
    """THE loop (:func:`~trustopt.core.loop.drive`) with the method's sampler; ``eta`` of the final
    iterate from its model batch, or from one more batch collected there."""
    rng = np.random.default_rng(seed)
    state, history, status = drive(method, max_iter=max_iter, rng=rng, callback=_loop_callback(callback))
    n_samples = state.n_samples_total
    if state.phase == NEED_MODEL and not state.merge:
        final = method.sampler.sample(method.policy, state.theta, rng, state.baseline)
        n_samples += final.n_samples
        eta = final.eta
    else:
        eta = state.batch.eta
    theta = readonly(np.array(state.theta))
    return theta, _policy(method, theta, state.baseline), eta, history, status, n_samples


def _run_search(method: Method, max_iter: int, seed: int, callback):
    """An ES method on its function ``F`` (to maximize) through :class:`trustopt.asktell.AskTell`,
    the one driver of the ES family (it minimizes, so it is told ``-F``); ``eta`` of the final
    iterate from its model batch, or from one more batch drawn there."""
    from trustopt.asktell import AskTell

    opt = AskTell(method, seed=seed, maxfev=math.inf)  # the budget is max_iter
    on_record = _loop_callback(callback)
    status = "max_iter"
    while opt.nit < max_iter and status == "max_iter":
        n_records = len(opt.history)
        X = opt.ask()
        opt.tell(X, -_values(method.problem, X))
        for record in opt.history[n_records:]:
            if on_record is not None and on_record(record, opt.state.theta):
                status = "callback"
    history = opt.history[:max_iter] if status == "max_iter" else opt.history
    n_samples = opt.nfev
    if opt.state.phase == NEED_MODEL:
        X = opt.ask()
        F = impute_nonfinite(_values(method.problem, X), maximize=True)[0]
        eta = make_batch(opt.asked.theta, opt.asked.sigma, opt.asked.Y, F).eta
        n_samples += X.shape[0]
    else:
        eta = opt.state.batch.eta
    return readonly(np.array(opt.state.theta)), None, eta, history, status, n_samples


def _values(F, X) -> np.ndarray:
    values = np.asarray(F(X), dtype=np.float64).reshape(-1)
    if values.shape != (X.shape[0],):
        raise ValidationError(f"problem: F returned {values.shape[0]} values for {X.shape[0]} points")
    return values


def _policy(method: Method, theta, baseline):
    """The final policy: ``(S, A)`` probabilities (tabular), an :class:`~trustopt.lqr.LQRPolicy`
    (LQR), the MuJoCo sampler's policy (raw observations in, its normalizer carried), or None."""
    if hasattr(method.policy, "probs"):
        return readonly(method.policy.probs(theta))
    if isinstance(method.problem, LQR):
        return LQRPolicy.from_theta(theta, obs_dim=method.problem.n, act_dim=method.problem.m)
    if callable(getattr(method.sampler, "policy", None)):
        policy = method.sampler.policy(theta, baseline)
        if getattr(policy, "action_low", False) is None and getattr(method.sampler, "env", None) is not None:
            # the environment clips the actions it receives; so does the policy a user is handed
            from trustopt.envs import cached_env

            env = cached_env(method.sampler.env)
            policy = dataclasses.replace(policy, action_low=env.action_low, action_high=env.action_high)
        return policy
    return None
