"""The parts of the stochastic trust-region method (STRO Algorithm 3.1 / 4.3) as protocols.

One iteration of the loop in :mod:`trustopt.core.loop` is::

    batch    = sampler.sample(policy, theta_k, rng, baseline)      # B_{theta_k}
    L0, g0   = surrogate.value_and_grad(policy, theta_k, batch)    # L_hat(theta_k), g_hat_k
    delta_k  = radius_rule.radius(param_k, ||g0||)                 # delta_k (STRO eq. 3.4 / 4.16)
    proposal = step.propose(policy, theta_k, delta_k, batch, surrogate, distance, L0, g0, rng, step_state)
    step_state = proposal.step_state                                   # e.g. Adam moments
    step_state = step.observe_trial(step_state, policy, proposal, trial_batch, surrogate)  # optional
    decision = acceptance.decide(proposal, batch, trial_batch, n_rejections)   # r_k, eq. 3.2/4.14
    param    = radius_rule.update(param_k, decision.rho, at_boundary=proposal.at_boundary)

Every implementation is a frozen keyword-only dataclass whose fields are its
hyperparameters (validated in ``__post_init__``). No component holds state between
calls, mutates another, or owns a random generator: the ``np.random.Generator`` is an
argument, and a step solver's state (optimizer moments, a quasi-Newton matrix) travels
through the loop (``LoopState.step_state`` -> ``propose`` -> ``Proposal.step_state``). The policy is also an argument (it maps ``theta`` to distributions), so one
component works for tabular softmax and linear Gaussian policies alike.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from trustopt.core.types import Batch, Decision, Proposal

__all__ = ["Policy", "Sampler", "Surrogate", "Distance", "StepSolver", "Acceptance", "RadiusRule"]


@runtime_checkable
class Policy(Protocol):
    """A parameterized stochastic policy ``pi_theta(a|s)`` with a flat ``theta`` of length
    ``n_params``. Shapes: ``states (N, ...)``, ``actions (N, ...)``, ``v (d,)``."""

    n_params: int

    def log_prob(self, theta, states, actions) -> np.ndarray:
        """``log pi_theta(a_i | s_i)``, ``(N,)``."""

    def grad_log_prob(self, theta, states, actions) -> np.ndarray:
        """``grad_theta log pi_theta(a_i | s_i)``, ``(N, d)`` (the score, slides "Score Function")."""

    def kl(self, theta_old, theta, states) -> np.ndarray:
        """``KL(pi_old(.|s_i) || pi_theta(.|s_i))``, ``(N,)`` (old || new, as TRPO)."""

    def fisher_vector_product(self, theta, states, weights, v) -> np.ndarray:
        """``F v`` with ``F = sum_i w_i grad^2_theta' KL(pi_theta(.|s_i) || pi_theta'(.|s_i))|_{theta'=theta}``
        (TRPO App. C.1, ``J' M J v``), ``(d,)``; ``weights`` sum to one."""

    def entropy(self, theta, states) -> np.ndarray:
        """``H(pi_theta(.|s_i))``, ``(N,)`` (STRO eq. 4.9)."""


class Sampler(Protocol):
    """Collects ``B_theta`` at ``theta`` (STRO Alg. 4.1; TRPO sec. 5.1-5.2), or returns the
    exact quantities (the exact oracle as a sampler)."""

    def sample(self, policy: Policy, theta: np.ndarray, rng: np.random.Generator, baseline: Any = None) -> Batch:
        ...


class Surrogate(Protocol):
    """The model function ``L_hat_{theta_k}(theta, B)`` (STRO eq. 4.3; TRPO eq. 14; PPO's clipped
    objective; TREFree's clipped objective) and its gradient in ``theta``."""

    def value(self, policy: Policy, theta: np.ndarray, batch: Batch) -> float:
        ...

    def value_and_grad(self, policy: Policy, theta: np.ndarray, batch: Batch) -> tuple[float, np.ndarray]:
        ...


class Distance(Protocol):
    """``D_hat_k(theta, B)``: a divergence between ``pi_{theta_k}`` and ``pi_theta`` averaged over
    the batch's states (STRO eq. 4.3), e.g. mean KL, max KL, mean TV, Euclidean."""

    def __call__(self, policy: Policy, theta_k: np.ndarray, theta: np.ndarray, batch: Batch) -> float:
        ...

    def metric_vector_product(
        self, policy: Policy, theta_k: np.ndarray, batch: Batch
    ) -> Callable[[np.ndarray], np.ndarray] | None:
        """``v -> grad^2_theta D_hat_k(theta_k, B) v`` (the Fisher-vector product for the KL),
        or ``None`` when the distance has no usable second-order model (max KL, TV)."""


class StepSolver(Protocol):
    """Approximately solves ``max L_hat(theta) s.t. D_hat(theta_k, theta) <= delta_k`` (STRO eq. 4.6).

    ``step_state``: what the previous proposal returned in ``Proposal.step_state`` (None at the
    start); a stateful solver returns its next state in the proposal, a stateless one ignores it.
    A solver may also define ``observe_trial(step_state, policy, proposal, trial_batch, surrogate)
    -> step_state``, which the loop calls with the batch sampled at the trial point (before the
    acceptance decision, whatever it is), e.g. for a quasi-Newton update from the gradient there.
    """

    def propose(
        self,
        policy: Policy,
        theta_k: np.ndarray,
        radius: float,
        batch: Batch,
        surrogate: Surrogate,
        distance: Distance,
        L0: float,
        g0: np.ndarray,
        rng: np.random.Generator,
        step_state: Any = None,
    ) -> Proposal:
        ...


class Acceptance(Protocol):
    """Decides whether ``theta_tilde`` becomes ``theta_{k+1}`` (STRO eq. 3.3 / 4.13 / 4.15).

    ``needs_trial_batch``: whether the loop must sample at ``theta_tilde`` before deciding
    (the ratio test needs ``eta_hat(theta_tilde)``)."""

    needs_trial_batch: bool

    def decide(self, proposal: Proposal, batch: Batch, trial_batch: Batch | None, n_rejections: int) -> Decision:
        ...


class RadiusRule(Protocol):
    """The trust-region radius as a pure function of scalars (STRO eq. 3.4 / 4.16).

    ``initial()`` gives the rule's parameter (``delta_0`` or ``mu_0``); ``radius(param,
    grad_norm)`` the radius ``delta_k``; ``update(param, rho, at_boundary=...)`` the next
    parameter, where ``rho`` may be ``nan`` (a failed step: the shrinking branch) and
    ``at_boundary`` says whether the step reached ``||p|| = delta_k`` (``Proposal.at_boundary``;
    Nocedal & Wright 2006, Alg. 4.1 enlarges the radius only then)."""

    def initial(self) -> float:
        ...

    def radius(self, param: float, grad_norm: float) -> float:
        ...

    def update(self, param: float, rho: float, *, at_boundary: bool = True) -> float:
        ...
