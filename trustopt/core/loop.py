"""THE loop: the stochastic trust-region method of STRO Algorithm 3.1 / 4.3 as a state machine.

Every algorithm of the library (VPG, NPG, TRPO, PPO, TREFree, STRO, and the ES family) is
a :class:`Method` -- a composition of a policy, a sampler, a surrogate, a distance, a step
solver, an acceptance rule and a radius rule -- driven by this one loop.

The loop is written as ask/tell so that it can be driven from outside (e.g. by an
ask/tell optimizer whose "samples" are objective evaluations)::

    state = start(method)
    while not done:
        theta = ask(state)                        # where a batch is needed; None: none needed
        batch = None if theta is None else method.sampler.sample(method.policy, theta, rng, state.baseline)
        state, record = tell(method, state, batch, rng)    # record: one finished iteration, or None

:func:`drive` is that loop with bookkeeping (``max_iter``, callback). One iteration k is
(STRO Alg. 4.3, with Alg. 3.1 the case of an exact sampler and no trial sampling):

1. model: ``L0, g0 = L_hat(theta_k), grad L_hat(theta_k)`` on ``B_k``;
   ``delta_k = radius_rule.radius(param_k, ||g0||)`` (eq. 3.4, or ``mu_k ||g_k||``, eq. 4.16);
2. ``proposal = step.propose(Model(...), delta_k, rng, step_state)`` (eq. 4.6, e.g. Alg. 4.2),
   after checking here, once, that ``delta_k`` is finite and positive when the solver uses it
   (``step.uses_radius``); a proposal with a non-finite point, a non-finite or non-positive
   predicted gain, a radius that is not positive, or a solver failure is a NUMERICAL
   FAILURE: it is recorded (``Record.status``) and ``theta_k`` is kept; a part that breaks its
   protocol's contract instead (a proposal of another shape, a decision that is not a
   :class:`Decision`: :mod:`trustopt.core._contracts`) is a ValidationError naming the part,
   raised before the state changes;
3. if the acceptance rule needs it, ``T = SAMPLE(theta_tilde)`` (Alg. 4.3 line 4);
4. ``decision = acceptance.decide(...)`` (ratio ``r_k``, eq. 3.2 / 4.14), then
   accept (``theta_{k+1} = theta_tilde``, and ``B_{k+1} = T`` when T exists, line 8),
   reject and merge (``B_{k+1} = SAMPLE(theta_k) U B_k``, line 10), reject with a fresh
   batch, or mandatory acceptance of the best rejected trial (eq. 4.13, line 13);
5. ``param_{k+1} = radius_rule.update(param_k, r_k, at_boundary=...)``.

The step solver's state (``LoopState.step_state``) is threaded: ``propose`` receives it and
returns the next one in ``Proposal.step_state``; the solver's ``observe_trial`` (by default:
no change) updates it from the trial batch (step 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from trustopt._validation import ValidationError, check_int, readonly
from trustopt.core._contracts import PARTS, check_decision, check_model, check_part, check_proposal, rule_param
from trustopt.core.protocols import Acceptance, Distance, Policy, RadiusRule, Sampler, StepSolver, Surrogate
from trustopt.core.types import (
    ACCEPT,
    FORCE_BEST,
    NONFINITE,
    NONPOSITIVE_GAIN,
    REJECT,
    REJECT_MERGE,
    STATIONARY,
    STEP_OK,
    SUBPROBLEM_FAILED,
    Batch,
    Decision,
    Model,
    Proposal,
    Record,
    merge_batches,
)
from trustopt.linalg import norm2

__all__ = ["Method", "LoopState", "start", "ask", "tell", "iterate", "drive", "NEED_MODEL", "NEED_TRIAL", "READY"]

NEED_MODEL = "need_model"  # ask() -> theta_k: a batch at the iterate is needed
NEED_TRIAL = "need_trial"  # ask() -> theta_tilde: the acceptance rule needs a batch at the trial point
READY = "ready"            # a model batch at theta_k is at hand: ask() -> None, tell(..., None) proposes


@dataclass(frozen=True, kw_only=True, eq=False)
class Method:
    """A composed trust-region method (one algorithm), ready for :func:`drive` or ask/tell.

    Attributes:
        name: display name (e.g. ``"trpo"``).
        policy: the :class:`~trustopt.core.protocols.Policy` mapping ``theta`` to ``pi_theta``.
        sampler, surrogate, distance, step, acceptance, radius_rule: the components (instances with
            the members of their protocols, checked here: a class or a missing member is a
            ValidationError naming the field).
        theta0: ``(d,)`` initial parameters.
        problem: the problem the method was composed for (informational).
        hyperparameters: the keyword arguments the factory received (informational).
    """

    name: str
    policy: Policy
    sampler: Sampler
    surrogate: Surrogate
    distance: Distance
    step: StepSolver
    acceptance: Acceptance
    radius_rule: RadiusRule
    theta0: np.ndarray
    problem: Any = None
    hyperparameters: dict = field(default_factory=dict)

    def __post_init__(self):
        for name, (protocol, members) in PARTS.items():
            check_part(name, getattr(self, name), protocol, members)
        theta0 = np.array(self.theta0, dtype=np.float64).ravel()
        if theta0.shape != (self.policy.n_params,):
            raise ValidationError(f"theta0: expected {self.policy.n_params} parameters, got shape {theta0.shape}")
        if not np.all(np.isfinite(theta0)):
            raise ValidationError("theta0: contains a non-finite value")
        object.__setattr__(self, "theta0", readonly(theta0))


@dataclass(frozen=True, kw_only=True, eq=False)
class LoopState:
    """Everything the loop carries between calls (immutable; ``tell`` returns a new one).

    Attributes:
        k: number of finished iterations.
        theta: ``theta_k`` (read-only).
        param: the radius rule's parameter (``delta_k`` or ``mu_k``).
        phase: ``NEED_MODEL``, ``NEED_TRIAL`` or ``READY``.
        batch: the model batch ``B_k`` at ``theta_k`` (None while ``NEED_MODEL`` without merging).
        merge: the next model batch is merged into ``batch`` (after a ratio-test rejection).
        proposal: the pending trial (phase ``NEED_TRIAL``).
        L0, grad_norm, radius: ``L_hat(theta_k)``, ``||grad L_hat(theta_k)||`` and ``delta_k`` of the
            pending trial's model (NaN when no trial is pending).
        rejected: ``H``, the rejected trials ``(theta_tilde, T)`` (eq. 4.13): emptied by an ordinary
            acceptance (the paper's text takes the best "among the last few rejected iterations";
            Alg. 4.3 line 8 does not say), and by a mandatory acceptance only of the chosen pair
            (Alg. 4.3 line 13, ``H = H minus {(theta_{k+1}, B_{k+1})}``).
        n_rejections: consecutive ratio-test rejections.
        baseline: value-function parameters handed to the sampler.
        step_state: the step solver's state (``Proposal.step_state`` of the last proposal, updated
            by the solver's optional ``observe_trial``), handed to the next ``propose``.
        n_samples_total: environment steps so far; iter_samples: those of the current iteration.
    """

    k: int
    theta: np.ndarray
    param: float
    phase: str
    batch: Batch | None = None
    merge: bool = False
    proposal: Proposal | None = None
    L0: float = math.nan
    grad_norm: float = math.nan
    radius: float = math.nan
    rejected: tuple = ()
    n_rejections: int = 0
    baseline: Any = None
    step_state: Any = None
    n_samples_total: int = 0
    iter_samples: int = 0


def start(method: Method, theta0=None) -> LoopState:
    """Initial state at ``theta0`` (default ``method.theta0``) with ``param = radius_rule.initial()``."""
    theta = method.theta0 if theta0 is None else np.array(theta0, dtype=np.float64).ravel()
    if theta.shape != method.theta0.shape or not np.all(np.isfinite(theta)):
        raise ValidationError(f"theta0: expected {method.theta0.shape[0]} finite parameters")
    param = rule_param(method, method.radius_rule.initial(), "initial", ())
    return LoopState(k=0, theta=readonly(np.array(theta)), param=param, phase=NEED_MODEL)


def ask(state: LoopState) -> np.ndarray | None:
    """The parameters at which the next batch must be collected, or None when none is needed."""
    if state.phase == NEED_MODEL:
        return state.theta
    if state.phase == NEED_TRIAL:
        return state.proposal.theta
    return None


def tell(method: Method, state: LoopState, batch: Batch | None, rng: np.random.Generator):
    """Feed the batch requested by :func:`ask`; returns ``(new_state, record_or_None)``.

    At most one iteration finishes per call. ``batch`` must be None exactly when
    ``ask(state)`` is None.
    """
    wanted = ask(state)
    if (wanted is None) != (batch is None):
        raise ValidationError("batch: expected " + ("None (no sample requested)" if wanted is None else "a Batch"))
    if batch is not None:
        if not np.array_equal(batch.theta, wanted):
            raise ValidationError("batch: collected at a theta other than the one ask() returned")
        counts = dict(n_samples_total=state.n_samples_total + batch.n_samples,
                      iter_samples=state.iter_samples + batch.n_samples)
        if state.phase == NEED_TRIAL:
            return _decide(method, replace(state, **counts), batch)
        model_batch = merge_batches(state.batch, batch) if state.merge and state.batch is not None else batch
        state = replace(state, batch=model_batch, merge=False, baseline=batch.baseline, phase=READY, **counts)
    return _propose(method, state, rng)


def _failure(proposal: Proposal, theta_k: np.ndarray) -> Proposal | None:
    """The proposal as a numerical failure (iterate kept), or None when it is sound."""
    if proposal.status != STEP_OK:
        return replace(proposal, theta=theta_k) if not np.array_equal(proposal.theta, theta_k) else proposal
    if not np.all(np.isfinite(proposal.theta)) or not math.isfinite(proposal.predicted_gain):
        return replace(proposal, theta=theta_k, status=NONFINITE,
                       message=f"non-finite trial point or predicted gain ({proposal.predicted_gain!r})")
    if proposal.predicted_gain <= 0.0:
        return replace(proposal, theta=theta_k, status=NONPOSITIVE_GAIN,
                       message=f"predicted gain {proposal.predicted_gain:.3g} <= 0")
    return None


def _propose(method: Method, state: LoopState, rng):
    batch, step_state = state.batch, state.step_state
    L0, g0 = method.surrogate.value_and_grad(method.policy, state.theta, batch)
    check_model(method, state.theta, L0, g0)
    grad_norm = norm2(g0)
    radius = float(method.radius_rule.radius(state.param, grad_norm))
    if not (math.isfinite(L0) and math.isfinite(grad_norm)):
        proposal = Proposal(theta=state.theta, predicted_gain=float("nan"), status=NONFINITE,
                            message=f"non-finite surrogate at theta_k (L = {L0!r}, ||g|| = {grad_norm!r})")
    elif grad_norm == 0.0 and batch.exact:  # eta's own gradient (TRPO eq. 4): no ascent direction
        proposal = Proposal(theta=state.theta, predicted_gain=0.0, status=STATIONARY,
                            message="gradient of the surrogate at theta_k is 0: stationary point")
    elif method.step.uses_radius and not (math.isfinite(radius) and radius > 0.0):
        proposal = Proposal(theta=state.theta, predicted_gain=float("nan"), status=SUBPROBLEM_FAILED,
                            message=f"trust-region radius {radius!r} is not positive")
    else:
        model = Model(policy=method.policy, theta_k=state.theta, batch=batch, surrogate=method.surrogate,
                      distance=method.distance, L0=float(L0), g0=g0)
        proposal = method.step.propose(model, radius, rng, state.step_state)
        check_proposal(method, state.theta, proposal)
        step_state = proposal.step_state
    proposal = replace(proposal, radius=radius)  # the acceptance rule may check D_hat <= delta_k
    state = replace(state, step_state=step_state, proposal=proposal, L0=float(L0), grad_norm=grad_norm,
                    radius=radius)
    failed = _failure(proposal, state.theta)
    if failed is not None:
        return _finish(method, replace(state, proposal=failed), Decision(action=REJECT), None)
    if method.acceptance.needs_trial_batch:
        return replace(state, phase=NEED_TRIAL), None
    decision = method.acceptance.decide(proposal, batch, None, state.n_rejections)
    check_decision(method, decision, None)
    return _finish(method, state, decision, None)


def _decide(method: Method, state: LoopState, trial: Batch):
    state = replace(state, step_state=method.step.observe_trial(state.step_state, method.policy, state.proposal,
                                                               trial, method.surrogate))
    decision = method.acceptance.decide(state.proposal, state.batch, trial, state.n_rejections)
    check_decision(method, decision, trial)
    return _finish(method, state, decision, trial)


def _finish(method: Method, state: LoopState, decision: Decision, trial: Batch | None):
    proposal, batch = state.proposal, state.batch
    record = Record(
        iteration=state.k,
        eta=float(batch.eta),
        eta_std=float(batch.eta_std),
        eta_trial=float(trial.eta) if trial is not None else float("nan"),
        accepted=decision.accepted,
        action=decision.action,
        rho=float(decision.rho),
        radius=state.radius,
        radius_param=float(state.param),
        grad_norm=state.grad_norm,
        predicted_gain=float(proposal.predicted_gain),
        actual_gain=float(trial.eta - batch.eta) if trial is not None else float("nan"),
        kl=float(proposal.kl),
        distance=float(proposal.distance),
        n_samples=state.iter_samples,
        n_samples_total=state.n_samples_total,
        status=proposal.status,
        n_inner=int(proposal.n_inner),
        message=proposal.message,
        exact=bool(batch.exact),
    )
    rho = decision.rho
    param = rule_param(method, method.radius_rule.update(state.param, rho, at_boundary=bool(proposal.at_boundary)),
                        "update", (state.param, rho))
    common = dict(k=state.k + 1, param=param, proposal=None, L0=math.nan, grad_norm=math.nan, radius=math.nan,
                  iter_samples=0, merge=False)
    if decision.action == ACCEPT:
        if trial is not None:  # STRO Alg. 4.3 line 8: B_{k+1} = T_{theta_tilde}
            new = replace(state, theta=proposal.theta, batch=trial, phase=READY, baseline=trial.baseline,
                          rejected=(), n_rejections=0, **common)
        else:
            new = replace(state, theta=proposal.theta, batch=None, phase=NEED_MODEL, rejected=(),
                          n_rejections=0, **common)
    elif decision.action == FORCE_BEST:  # eq. 4.13: best eta_hat among the rejected trials
        # H holds this iteration's rejected trial too; Alg. 4.3 line 13: H = H \ {(theta_{k+1}, B_{k+1})}
        # (the other rejected trials stay candidates for the next mandatory acceptance)
        candidates = state.rejected + ((proposal.theta, trial),)
        best = max(range(len(candidates)), key=lambda i: candidates[i][1].eta)
        theta, best_batch = candidates[best]
        new = replace(state, theta=theta, batch=best_batch, phase=READY, baseline=best_batch.baseline,
                      rejected=candidates[:best] + candidates[best + 1:], n_rejections=0, **common)
    elif decision.action == REJECT_MERGE:  # Alg. 4.3 lines 10-11
        rejected = state.rejected + ((proposal.theta, trial),) if trial is not None else state.rejected
        new = replace(state, phase=NEED_MODEL, rejected=rejected, n_rejections=state.n_rejections + 1, **common)
        new = replace(new, merge=True)
    elif decision.action == REJECT:
        new = replace(state, batch=None, phase=NEED_MODEL, **common)
    else:
        raise ValueError(f"unknown decision action {decision.action!r}")
    return new, record


def iterate(method: Method, state: LoopState, rng: np.random.Generator) -> tuple[LoopState, Record]:
    """One iteration of the loop: :func:`ask`, ``method.sampler.sample`` and :func:`tell` until an
    iteration finishes (an accept/reject decision); returns ``(state, record)``. Drivers that
    need control between iterations (checkpoints, logging) call this instead of copying the loop."""
    while True:
        theta = ask(state)
        batch = None if theta is None else method.sampler.sample(method.policy, theta, rng, state.baseline)
        state, record = tell(method, state, batch, rng)
        if record is not None:
            return state, record


def drive(
    method: Method,
    *,
    max_iter: int,
    rng: np.random.Generator,
    callback: Callable[[Record, np.ndarray], Any] | None = None,
    theta0=None,
):
    """Run :func:`ask`/:func:`tell` with ``method.sampler`` for ``max_iter`` iterations.

    Returns ``(state, history, status)``: the final :class:`LoopState`, the list of
    :class:`Record`, and ``"max_iter"``, ``"callback"`` (``callback(record, theta)``, called
    after each record with the iterate ``theta_{k+1}``, returning a truthy value stops the loop)
    or ``"converged"``: an exact batch whose gradient is zero to the step solver's tolerance
    (status ``stationary``), where every further iteration would repeat the same null step.
    """
    check_int(max_iter, "max_iter", 0)
    state = start(method, theta0)
    history: list[Record] = []
    status = "max_iter"
    while len(history) < max_iter:
        state, record = iterate(method, state, rng)
        history.append(record)
        if callback is not None and callback(record, state.theta):
            status = "callback"
            break
        if record.status == STATIONARY and record.exact:
            status = "converged"
            break
    return state, history, status
