"""The parts of the stochastic trust-region method (STRO Algorithm 3.1 / 4.3) as protocols.

One iteration of the loop in :mod:`trustopt.core.loop` is::

    batch    = sampler.sample(policy, theta_k, rng, baseline)      # B_{theta_k}
    L0, g0   = surrogate.value_and_grad(policy, theta_k, batch)    # L_hat(theta_k), g_hat_k
    delta_k  = radius_rule.radius(param_k, ||g0||)                 # delta_k (STRO eq. 3.4 / 4.16)
    model    = Model(policy, theta_k, batch, surrogate, distance, L0, g0)
    proposal = step.propose(model, delta_k, rng, step_state)       # delta_k checked first if step.uses_radius
    step_state = proposal.step_state                                   # e.g. Adam moments
    step_state = step.observe_trial(step_state, policy, proposal, trial_batch, surrogate)
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

from typing import Any, Callable, ClassVar, Protocol, runtime_checkable

import numpy as np

from trustopt.core.types import Batch, Decision, Model, Proposal

__all__ = ["Policy", "Sampler", "Surrogate", "Distance", "StepSolver", "Acceptance", "RadiusRule"]


@runtime_checkable
class Policy(Protocol):
    """A parameterized stochastic policy ``pi_theta(a|s)`` with a flat ``theta (d,)``, ``d = n_params``.

    The members below are what the loop and the generic components call (surrogates, distances,
    step solvers); every loop policy has them (:class:`~trustopt.components.flat_policies.FlatTabularSoftmax`,
    :class:`~trustopt.components.flat_policies.FlatLinearGaussian`,
    :class:`~trustopt.components.search.GaussianSearch`). Shapes: ``theta, theta_old, v (d,)``;
    ``states (N, ...)`` and ``actions (N, ...)`` in the policy's own encoding (integers ``(N,)``
    for a tabular policy, ``(N, obs_dim)`` / ``(N, act_dim)`` for a Gaussian one).

    Members that only some components call (a policy used with them must have them):

    * ``sample(theta, states, rng) -> actions (N, ...)``, ``a_i ~ pi_theta(.|s_i)``: the tabular
      and LQR episode samplers;
    * ``probs(theta) -> (S, A)``: the tabular samplers and ``ExactTabularStep``;
    * ``tv(theta_old, theta, states) -> (N,)``, ``TV_{s_i}`` (STRO eq. 3.6): ``MeanTV``;
    * ``mean_index``, ``log_std_index`` (int arrays into ``theta``): the alternating mean /
      log-std update of ``StroInnerSolver`` (STRO eq. 4.11-4.12).

    The score matrix ``grad_log_prob (N, d)`` is not part of the protocol: the library only
    contracts it with a vector (:meth:`score_vector_product`); the policies that provide it do so
    for tests and as the reference of that contraction.
    """

    n_params: int

    def log_prob(self, theta, states, actions) -> np.ndarray:
        """``log pi_theta(a_i | s_i)``, ``(N,)``."""

    def score_vector_product(self, theta, states, actions, c) -> np.ndarray:
        """``sum_i c_i grad_theta log pi_theta(a_i | s_i)``, ``(d,)`` for ``c (N,)`` (the score,
        slides "Score Function", contracted with per-pair coefficients, e.g. ``w_i r_i A_i``)."""

    def kl(self, theta_old, theta, states) -> np.ndarray:
        """``KL(pi_old(.|s_i) || pi_theta(.|s_i))``, ``(N,)`` (old || new, as TRPO)."""

    def fisher_vector_product(self, theta, states, weights, v) -> np.ndarray:
        """``F v``, ``(d,)``, with ``F = sum_i w_i grad^2_theta' KL(pi_theta(.|s_i) || pi_theta'(.|s_i))``
        at ``theta' = theta`` (TRPO App. C.1, ``sum_i w_i J_i' M J_i``).

        ``weights (N,) >= 0`` are used AS GIVEN (``F`` is linear in them). The library's one caller,
        :class:`~trustopt.components.distances.MeanKL`, passes the normalized pair weights
        ``wbar = w / sum(w)`` (summing to one up to round-off), so ``F`` is the Hessian of the mean KL
        ``sum_i wbar_i KL_i`` that the trust region constrains (TRPO eq. 12), not of the batch's
        unnormalized-visitation sum ``sum_i w_i KL_i``. (``GaussianSearch`` divides by ``sum(w)``
        itself, which gives the same ``F`` up to round-off for normalized weights.)"""

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
    """Approximately solves ``max L_hat(theta) s.t. D_hat(theta_k, theta) <= delta_k`` (STRO eq. 4.6),
    the subproblem held by ``model`` (:class:`~trustopt.core.types.Model`), for ``radius = delta_k``.

    ``step_state``: what the previous proposal returned in ``Proposal.step_state`` (None at the
    start); a stateful solver returns its next state in every proposal (failures included), a
    stateless one ignores it.

    The :class:`~trustopt.core.types.Proposal` has ``theta`` of ``theta_k``'s shape and a scalar
    ``predicted_gain`` on the scale of ``eta`` (``(model.value(theta) - model.L0)`` times
    :func:`~trustopt.components.steps.gain_scale`); on numerical trouble the solver returns
    ``theta_k`` with a failure status (``types.FAILURE_STATUSES``), at a zero gradient ``theta_k``
    with ``types.STATIONARY``, rather than raising. The loop raises a ValidationError naming the
    solver for a proposal of another shape or an unknown status.

    Implementations subclass this protocol and inherit the defaults of its optional members:

    * ``uses_radius`` (default True): the loop checks ``delta_k`` (finite and positive) before
      calling ``propose`` and reports a failed step otherwise; a solver that ignores the radius
      (PPO's clipped ascent, TRES's K epochs: the clipping is their trust region) sets False.
    * ``observe_trial(step_state, policy, proposal, trial_batch, surrogate) -> step_state``
      (default: unchanged), which the loop calls with the batch sampled at the trial point
      (before the acceptance decision, whatever it is), e.g. for a quasi-Newton update from
      the gradient there.
    """

    uses_radius: ClassVar[bool] = True

    def propose(self, model: Model, radius: float, rng: np.random.Generator, step_state: Any = None) -> Proposal:
        ...

    def observe_trial(self, step_state: Any, policy: Policy, proposal: Proposal, trial_batch: Batch,
                      surrogate: Surrogate) -> Any:
        return step_state


class Acceptance(Protocol):
    """Decides whether ``theta_tilde`` becomes ``theta_{k+1}`` (STRO eq. 3.3 / 4.13 / 4.15).

    ``needs_trial_batch``: whether the loop must sample at ``theta_tilde`` before deciding
    (the ratio test needs ``eta_hat(theta_tilde)``). ``decide`` returns a
    :class:`~trustopt.core.types.Decision` whose action is ``accept``, ``reject``, ``reject_merge``
    or ``force_best`` (the last only with ``needs_trial_batch``: it picks among sampled trials)."""

    needs_trial_batch: bool

    def decide(self, proposal: Proposal, batch: Batch, trial_batch: Batch | None, n_rejections: int) -> Decision:
        ...


class RadiusRule(Protocol):
    """The trust-region radius as a pure function of scalars (STRO eq. 3.4 / 4.16).

    ``initial()`` gives the rule's parameter (``delta_0`` or ``mu_0``); ``radius(param,
    grad_norm)`` the radius ``delta_k``; ``update(param, rho, at_boundary=...)`` the next
    parameter, where ``rho`` may be ``nan`` (a failed step: the shrinking branch) and
    ``at_boundary`` says whether the step reached ``||p|| = delta_k`` (``Proposal.at_boundary``;
    Nocedal & Wright 2006, Alg. 4.1 enlarges the radius only then). The parameter must stay finite
    (the loop raises a ValidationError naming the rule otherwise); a radius that is not finite and
    positive is a recorded numerical failure of the step solvers that use it."""

    def initial(self) -> float:
        ...

    def radius(self, param: float, grad_norm: float) -> float:
        ...

    def update(self, param: float, rho: float, *, at_boundary: bool = True) -> float:
        ...
