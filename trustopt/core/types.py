"""Value types passed around the trust-region loop (all frozen; arrays read-only).

Notation follows STRO (Algorithm 3.1 / 4.3) and TRPO sec. 5:

* ``Batch`` -- what a sampler returns at ``theta_k``: weighted state-action pairs
  ``(s_i, a_i, w_i, adv_i, logp_old_i)`` plus the return estimate ``eta_hat``.
  The weights are on the UNNORMALIZED visitation scale of TRPO/STRO: for any ``f``,
  ``sum_i w_i f(s_i, a_i)`` estimates ``sum_s rho_pi(s) sum_a pi(a|s) f(s, a)`` (exactly
  so for an exact batch, where ``w = rho_pi(s) pi(a|s)`` over all pairs). Hence
  ``eta_hat + sum_i w_i r_i adv_i`` is the surrogate ``L_hat`` of STRO eq. 4.3 (TRPO eq. 14)
  on the same scale as the exact ``L_pi`` of TRPO eq. 3.
* ``Model`` -- the trust-region subproblem at ``theta_k`` handed to a step solver.
* ``Proposal`` -- a step solver's trial point ``theta_tilde`` with its predicted gain.
* ``Decision`` -- an acceptance rule's verdict and the ratio ``rho_k``.
* ``Record`` -- one row of the per-iteration history kept by the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from trustopt._validation import readonly

__all__ = [
    "Batch",
    "merge_batches",
    "Model",
    "Proposal",
    "Decision",
    "Record",
    "Result",
    "STEP_OK",
    "STATIONARY",
    "FAILURE_STATUSES",
]

#: Proposal statuses. ``STEP_OK`` is the only one under which a trial point can be accepted.
STEP_OK = "ok"
CG_BREAKDOWN = "cg_breakdown"
NONPOSITIVE_GAIN = "nonpositive_predicted_gain"
NONFINITE = "nonfinite"
LINE_SEARCH_FAILED = "line_search_failed"
SUBPROBLEM_FAILED = "subproblem_failed"
#: The model's gradient at ``theta_k`` is zero to the step solver's tolerance: no ascent direction,
#: so ``theta_k`` is kept. Not a numerical failure: with an exact batch the gradient is eta's
#: (the surrogate's first-order identity, TRPO eq. 4; STRO eq. 2.7), so ``theta_k`` is a
#: stationary point and :func:`~trustopt.core.loop.drive` stops there ("converged").
STATIONARY = "stationary"
FAILURE_STATUSES = (CG_BREAKDOWN, NONPOSITIVE_GAIN, NONFINITE, LINE_SEARCH_FAILED, SUBPROBLEM_FAILED)


@dataclass(frozen=True, kw_only=True, eq=False)
class Batch:
    """Samples (or exact quantities) collected at ``theta`` (STRO Alg. 4.1 ``B_theta``).

    Attributes (``N`` pairs):
        theta: ``(d,)`` the parameters the batch was collected at (``theta_k``).
        states: ``(N,)`` int (tabular) or ``(N, n_obs)`` float.
        actions: ``(N,)`` int (tabular) or ``(N, n_act)`` float.
        weights: ``(N,)`` >= 0; ``sum_i w_i f(s_i, a_i)`` estimates
            ``sum_s rho_pi(s) E_{a~pi(.|s)} f(s, a)`` (unnormalized visitation, sums to
            about ``1/(1-gamma)``).
        adv: ``(N,)`` advantage estimates ``A_hat(s_i, a_i)`` (exact ``A_pi`` when exact).
        logp_old: ``(N,)`` ``log pi_theta(a_i | s_i)``.
        returns: ``(tau,)`` per-episode returns ``R_j`` (STRO eq. 4.1); empty when exact.
        eta: ``eta_hat = mean(R_j)`` (STRO eq. 4.1), or the exact ``eta`` when ``exact``.
        eta_std: sample standard deviation of the returns, ``ddof=1`` (STRO eq. 4.2);
            0 when exact.
        n_samples: environment steps spent on this batch (0 for an exact batch).
        exact: True when every field is an exact expectation (the exact oracle).
        oracle: for exact batches, the object the quantities came from (e.g. the
            ``TabularMDP``); lets exact step solvers reach the exact subproblem.
        baseline: value-function parameters fitted on this batch, used by the sampler
            for the NEXT batch (rllab/TRPO convention: the baseline never sees the
            returns it is subtracted from).
        whole: for a minibatch (:meth:`subset`) of an exact batch, that exact batch, else None:
            a random split of exact quantities has no statistics of its own, so advantages are
            normalized with the whole batch's (a one-pair minibatch would otherwise centre to 0).
    """

    theta: np.ndarray
    states: np.ndarray
    actions: np.ndarray
    weights: np.ndarray
    adv: np.ndarray
    logp_old: np.ndarray
    returns: np.ndarray
    eta: float
    eta_std: float
    n_samples: int
    exact: bool = False
    oracle: Any = None
    baseline: Any = None
    whole: "Batch | None" = None

    def __post_init__(self):
        for f in ("theta", "states", "actions", "weights", "adv", "logp_old", "returns"):
            object.__setattr__(self, f, readonly(np.array(getattr(self, f))))

    @property
    def n_pairs(self) -> int:
        return int(self.weights.shape[0])

    def subset(self, index) -> "Batch":
        """The pairs ``index`` (an int array), weights rescaled by ``N / len(index)`` so that
        weighted sums stay unbiased estimates of the full-batch sums (a minibatch); a minibatch of
        an exact batch keeps that batch as :attr:`whole`."""
        index = np.asarray(index)
        scale = self.n_pairs / max(len(index), 1)
        return Batch(
            theta=self.theta, states=self.states[index], actions=self.actions[index],
            weights=self.weights[index] * scale, adv=self.adv[index], logp_old=self.logp_old[index],
            returns=self.returns, eta=self.eta, eta_std=self.eta_std, n_samples=self.n_samples,
            exact=self.exact, oracle=self.oracle, baseline=self.baseline,
            whole=(self.whole or self) if self.exact else None,
        )


def merge_batches(old: Batch, new: Batch) -> Batch:
    """``B_{k+1} = SAMPLE(theta_k, N) U B_k`` after a rejection (STRO Alg. 4.3 line 10).

    Both batches must come from the same ``theta``. With ``tau_o`` and ``tau_n`` episodes,
    the pair weights are re-averaged over ``tau_o + tau_n`` episodes (each batch's weights
    are per-episode averages), the returns are concatenated, and ``eta``/``eta_std`` are
    recomputed from them (eq. 4.1-4.2). Exact batches carry no extra information: the
    newer one is returned.
    """
    if not np.array_equal(old.theta, new.theta):
        raise ValueError("merge_batches: batches were collected at different theta")
    if old.exact or new.exact:
        return new
    t_o, t_n = len(old.returns), len(new.returns)
    if t_o + t_n == 0:
        return new
    returns = np.concatenate([old.returns, new.returns])
    return Batch(
        theta=new.theta,
        states=np.concatenate([old.states, new.states]),
        actions=np.concatenate([old.actions, new.actions]),
        weights=np.concatenate([old.weights * t_o, new.weights * t_n]) / (t_o + t_n),
        adv=np.concatenate([old.adv, new.adv]),
        logp_old=np.concatenate([old.logp_old, new.logp_old]),
        returns=returns,
        eta=float(np.mean(returns)),
        eta_std=float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0,
        n_samples=old.n_samples + new.n_samples,
        exact=False,
        oracle=new.oracle,
        baseline=new.baseline,
    )


@dataclass(frozen=True, kw_only=True, eq=False)
class Model:
    """The trust-region subproblem at ``theta_k`` that a step solver solves approximately
    (STRO eq. 4.6; TRPO eq. 12-14)::

        maximize L_hat_k(theta)   subject to   D_hat(theta_k, theta) <= delta_k

    held in one object, as scipy's trust-region subproblems hold theirs, so a step solver is
    ``step.propose(model, radius, rng, step_state)``. The loop builds it once per proposal.

    Attributes:
        policy: the :class:`~trustopt.core.protocols.Policy` ``theta -> pi_theta``.
        theta_k: ``(d,)`` the current iterate.
        batch: the model batch ``B_k`` sampled at ``theta_k``.
        surrogate: the model function ``L_hat`` (a :class:`~trustopt.core.protocols.Surrogate`).
        distance: ``D_hat`` (a :class:`~trustopt.core.protocols.Distance`).
        L0: ``L_hat_k(theta_k)``.
        g0: ``(d,)`` ``grad L_hat_k(theta_k)``.
    """

    policy: Any
    theta_k: np.ndarray
    batch: Batch
    surrogate: Any
    distance: Any
    L0: float
    g0: np.ndarray

    def value(self, theta) -> float:
        """``L_hat_k(theta)``."""
        return self.surrogate.value(self.policy, theta, self.batch)

    def value_and_grad(self, theta) -> tuple[float, np.ndarray]:
        """``(L_hat_k(theta), grad L_hat_k(theta) (d,))``."""
        return self.surrogate.value_and_grad(self.policy, theta, self.batch)

    def distance_to(self, theta) -> float:
        """``D_hat(theta_k, theta)``."""
        return self.distance(self.policy, self.theta_k, theta, self.batch)

    def metric_vp(self):
        """``v -> grad^2_theta D_hat(theta_k, theta) v`` at ``theta = theta_k`` (the Fisher-vector
        product for the KL), or None when the distance has no second-order model."""
        return self.distance.metric_vector_product(self.policy, self.theta_k, self.batch)


@dataclass(frozen=True, kw_only=True, eq=False)
class Proposal:
    """A trial point ``theta_tilde_{k+1}`` (STRO Alg. 3.1 line 2 / Alg. 4.2).

    Attributes:
        theta: ``(d,)`` the trial point; equals ``theta_k`` whenever ``status != "ok"``.
        predicted_gain: ``L_hat(theta_tilde) - L_hat(theta_k)`` on the model batch, ON THE SCALE OF
            ``eta`` (the denominator of STRO eq. 3.2 / 4.14, compared with the change of ``eta_hat``):
            a surrogate that normalizes advantages has a gain ``s`` times smaller, and the step solvers
            multiply it by :func:`trustopt.components.steps.gain_scale` (``s``, else 1); ``nan`` when
            unknown.
        distance: ``D_hat(theta_k, theta_tilde)`` of the method's distance.
        kl: mean KL ``sum_i w_i KL(pi_k(.|s_i) || pi(.|s_i)) / sum_i w_i`` (``nan`` if the
            policy has no KL).
        status: ``"ok"`` or one of the failure statuses (``cg_breakdown``,
            ``nonpositive_predicted_gain``, ``nonfinite``, ``line_search_failed``,
            ``subproblem_failed``).
        n_inner: inner iterations (CG steps, backtracks, epochs x minibatches, ...).
        message: human-readable detail.
        radius: the trust-region radius ``delta_k`` the step was computed for (STRO eq. 4.6);
            the loop records it on every proposal, so an acceptance rule can check
            ``D_hat <= delta_k`` (``nan`` until then).
        step_state: the step solver's state after this proposal (e.g. Adam moments, a BFGS
            Hessian), carried by the loop in ``LoopState.step_state`` and handed to the next
            ``propose``; None for stateless solvers (components hold no state themselves).
        at_boundary: whether the step reached the trust-region boundary ``||p|| = delta_k``
            (Nocedal & Wright 2006, Alg. 4.1: only then may the radius grow); True when the
            solver does not tell (every step counts as a boundary step).
    """

    theta: np.ndarray
    predicted_gain: float
    distance: float = float("nan")
    kl: float = float("nan")
    status: str = STEP_OK
    n_inner: int = 0
    message: str = ""
    radius: float = float("nan")
    step_state: Any = None
    at_boundary: bool = True

    def __post_init__(self):
        object.__setattr__(self, "theta", readonly(np.array(self.theta, dtype=np.float64)))


#: Decision actions: what the loop does next.
ACCEPT = "accept"            # theta_{k+1} = theta_tilde
REJECT = "reject"            # theta_{k+1} = theta_k, fresh batch at theta_k
REJECT_MERGE = "reject_merge"  # theta_{k+1} = theta_k, B_{k+1} = SAMPLE(theta_k) U B_k (STRO 4.15)
FORCE_BEST = "force_best"    # mandatory acceptance of the best rejected trial (STRO 4.13)


@dataclass(frozen=True, kw_only=True)
class Decision:
    """Verdict of an acceptance rule.

    Attributes:
        action: ``"accept"``, ``"reject"``, ``"reject_merge"`` or ``"force_best"``.
        rho: the ratio ``r_k`` (STRO eq. 3.2 / 4.14), ``nan`` where not computed.
    """

    action: str
    rho: float = float("nan")

    @property
    def accepted(self) -> bool:
        return self.action in (ACCEPT, FORCE_BEST)


@dataclass(frozen=True, kw_only=True)
class Record:
    """One iteration ``k`` of the loop (the per-iteration diagnostics).

    Attributes:
        iteration: ``k`` (0-based).
        eta: ``eta_hat(theta_k)`` of the model batch (exact ``eta`` in exact mode).
        eta_std: ``sigma_hat_eta(theta_k)`` (STRO eq. 4.2; 0 in exact mode).
        eta_trial: ``eta_hat(theta_tilde)`` when the acceptance rule sampled the trial point.
        accepted: whether ``theta_{k+1} != theta_k`` was adopted (incl. mandatory acceptance).
        action: the decision's action (see :class:`Decision`).
        rho: the ratio ``r_k`` (``nan`` if the acceptance rule computes none).
        radius: the trust-region radius ``delta_k`` used by the step (``nan`` if none).
        radius_param: the radius rule's state (``delta_k``, or ``mu_k`` for STRO eq. 4.16).
        grad_norm: ``||g_hat_k||_2`` of the surrogate gradient at ``theta_k``.
        predicted_gain: ``L_hat(theta_tilde) - L_hat(theta_k)``.
        actual_gain: ``eta_hat(theta_tilde) - eta_hat(theta_k)`` when the trial was sampled.
        kl: mean KL between ``pi_k`` and the trial policy on the model batch.
        distance: the method's distance ``D_hat(theta_k, theta_tilde)``.
        n_samples: environment steps used by the batches consumed in this iteration.
        n_samples_total: cumulative environment steps.
        status: the proposal's status (``"ok"``; ``"stationary"`` or a failure, then the iterate
            is kept).
        n_inner: the step solver's inner iteration count.
        message: detail.
        exact: whether the model batch was exact (noise-free expectations).
    """

    iteration: int
    eta: float
    eta_std: float
    eta_trial: float
    accepted: bool
    action: str
    rho: float
    radius: float
    radius_param: float
    grad_norm: float
    predicted_gain: float
    actual_gain: float
    kl: float
    distance: float
    n_samples: int
    n_samples_total: int
    status: str
    n_inner: int
    message: str = ""
    exact: bool = False

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, kw_only=True, eq=False)
class Result:
    """Outcome of :func:`trustopt.run`.

    Attributes:
        theta: ``(d,)`` final parameters (read-only).
        policy: ``(S, A)`` action probabilities for tabular problems, a
            :class:`trustopt.lqr.LQRPolicy` for LQR problems, else ``None``.
        eta: ``eta`` of the final iterate (exact in exact mode, else ``eta_hat``).
        history: list of :class:`Record`, one per iteration.
        status: ``"max_iter"``, ``"callback"`` or, in exact mode, ``"converged"`` (the gradient at the
            iterate is zero to the step solver's tolerance: a stationary point of eta).
        message: human-readable summary (counts of rejections, of numerical failures and of steps without a predicted gain).
        n_samples: total environment steps.
        method: the composed method that ran.
    """

    theta: np.ndarray
    policy: np.ndarray | None
    eta: float
    history: list = field(default_factory=list)
    status: str = "max_iter"
    message: str = ""
    n_samples: int = 0
    method: Any = None

    def column(self, name: str) -> np.ndarray:
        """One diagnostic over iterations, e.g. ``res.column("eta")`` -> ``(n_iter,)``."""
        return np.array([getattr(r, name) for r in self.history])
