"""The contracts the loop checks of a :class:`~trustopt.core.loop.Method`'s parts, one per protocol
of :mod:`trustopt.core.protocols`: what a part must have, and what its calls must return. A part
that breaks its contract is a programming error, a ValidationError naming the part, raised before
the loop's state changes; a numerical failure (a NaN, a failed subproblem) is not one of these: the
loop records it and keeps ``theta_k``."""

from __future__ import annotations

import math

import numpy as np

from trustopt._validation import ValidationError
from trustopt.core.types import (ACCEPT, FAILURE_STATUSES, FORCE_BEST, REJECT, REJECT_MERGE, STATIONARY, STEP_OK,
                                 Decision, Proposal)


#: The members the loop uses of each part of a :class:`Method` (the protocols of :mod:`trustopt.core.protocols`).
PARTS = {
    "policy": ("Policy", ("n_params",)),
    "sampler": ("Sampler", ("sample",)),
    "surrogate": ("Surrogate", ("value", "value_and_grad")),
    "distance": ("Distance", ("__call__", "metric_vector_product")),
    "step": ("StepSolver", ("propose", "uses_radius", "observe_trial")),
    "acceptance": ("Acceptance", ("needs_trial_batch", "decide")),
    "radius_rule": ("RadiusRule", ("initial", "radius", "update")),
}


def check_part(name: str, part, protocol: str, members: tuple) -> None:
    """``part`` is an instance with the members the loop calls, else a ValidationError naming them."""
    if isinstance(part, type):
        raise ValidationError(f"{name}: got the class {part.__name__}; pass an instance, e.g. {part.__name__}(...)")
    missing = [m for m in members if not hasattr(part, m)]
    if missing:
        hint = " (subclass trustopt.core.StepSolver for the defaults of uses_radius and observe_trial)" \
            if name == "step" else ""
        raise ValidationError(f"{name}: {type(part).__name__} lacks {', '.join(missing)} of the {protocol} protocol "
                              f"(trustopt.core.protocols.{protocol}: {', '.join(members)}){hint}")


def rule_param(method, value, call: str, args: tuple) -> float:
    """The radius rule's parameter, which must be a finite number (a NaN would become a NaN radius, or
    in the ES family a NaN ``sigma_k`` and NaN samples); the radius itself is checked per solver.
    ``call(*args)`` produced ``value`` (named in the error)."""
    param = float(value)
    if not math.isfinite(param):
        hint = (" (rho is nan after a failed step or where no ratio is computed: take the shrinking branch)"
                if call == "update" else "")
        raise ValidationError(f"radius_rule: {_component(method.radius_rule)}.{call}({', '.join(map(repr, args))}) "
                              f"returned {param!r}; the rule's parameter must be finite{hint}")
    return param


def _component(part) -> str:
    return type(part).__name__


def check_model(method, theta: np.ndarray, L0, g0) -> None:
    """The surrogate's ``(L0, g0)`` keep the :class:`~trustopt.core.protocols.Surrogate` contract: a
    scalar and a gradient of ``theta``'s shape (a wrong shape is a programming error, not a
    numerical failure: it would otherwise surface far away, or not at all)."""
    if np.ndim(L0) != 0 or np.shape(g0) != theta.shape:
        raise ValidationError(
            f"surrogate: {_component(method.surrogate)}.value_and_grad returned a value of shape {np.shape(L0)} and "
            f"a gradient of shape {np.shape(g0)}; expected a scalar and shape {theta.shape} (that of theta)")


def check_proposal(method, theta: np.ndarray, proposal) -> None:
    """``step.propose`` returned a :class:`Proposal` of ``theta``'s shape with a scalar predicted gain
    and a known status (``ok``, ``stationary`` or a failure status)."""
    name = _component(method.step)
    if not isinstance(proposal, Proposal):
        raise ValidationError(f"step: {name}.propose returned {type(proposal).__name__}; expected a "
                              "trustopt.core.Proposal")
    if proposal.theta.shape != theta.shape or np.ndim(proposal.predicted_gain) != 0:
        raise ValidationError(
            f"step: {name}.propose returned theta of shape {proposal.theta.shape} and a predicted gain of shape "
            f"{np.shape(proposal.predicted_gain)}; expected shape {theta.shape} (that of theta_k) and a scalar")
    if proposal.status not in (STEP_OK, STATIONARY) + FAILURE_STATUSES:
        raise ValidationError(f"step: {name}.propose returned status {proposal.status!r}; expected one of "
                              f"{', '.join(map(repr, (STEP_OK, STATIONARY) + FAILURE_STATUSES))}")


def check_decision(method, decision, trial) -> None:
    """``acceptance.decide`` returned a :class:`Decision` with a known action; ``force_best`` picks
    among sampled trials, so it needs an acceptance rule with ``needs_trial_batch``."""
    name = _component(method.acceptance)
    if not isinstance(decision, Decision):
        raise ValidationError(f"acceptance: {name}.decide returned {type(decision).__name__}; expected a "
                              "trustopt.core.Decision")
    if decision.action not in (ACCEPT, REJECT, REJECT_MERGE, FORCE_BEST):
        raise ValidationError(f"acceptance: {name}.decide returned action {decision.action!r}; expected one of "
                              f"{ACCEPT!r}, {REJECT!r}, {REJECT_MERGE!r}, {FORCE_BEST!r}")
    if decision.action == FORCE_BEST and trial is None:
        raise ValidationError(f"acceptance: {name}.decide returned {FORCE_BEST!r} without a trial batch (the "
                              "mandatory acceptance of eq. 4.13 picks among sampled trials: needs_trial_batch=True)")
