"""Exact policy evaluation: eta, V, Q, A, the discounted visitation and the surrogate.

All quantities come from two linear solves per policy (never an inverse, never an
iteration): with ``P_pi[s, s'] = sum_a pi(a|s) P[s, a, s']`` and ``r_pi[s] = sum_a pi(a|s) r[s, a]``,

    (I - gamma P_pi) V = r_pi                      (Bellman equation)
    (I - gamma P_pi)^T rho = rho0                  (rho_pi(s) = sum_t gamma^t P(s_t = s))

so ``rho`` is the UNNORMALIZED discounted visitation of TRPO sec. 2 / STRO eq. 2.3
(``sum_s rho(s) = 1/(1-gamma)``); the normalized one is ``dbar = (1-gamma) rho``.
Everything broadcasts over leading batch dimensions of the MDP and of the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustopt._validation import readonly
from trustopt.tabular.mdp import TabularMDP, check_policy


@dataclass(frozen=True)
class Evaluation:
    """Exact quantities of a policy ``pi`` (arrays are read-only).

    Attributes (``...`` is the broadcast batch shape):
        V:   ``(..., S)``     state value ``V_pi(s)``
        Q:   ``(..., S, A)``  ``Q_pi(s, a) = r(s, a) + gamma sum_s' P[s, a, s'] V(s')``
        A:   ``(..., S, A)``  advantage ``A_pi = Q_pi - V_pi``
        rho: ``(..., S)``     unnormalized discounted visitation (sums to ``1/(1-gamma)``)
        eta: ``(...)``        ``eta(pi) = sum_s rho0(s) V(s)``; a float when unbatched
    """

    V: np.ndarray
    Q: np.ndarray
    A: np.ndarray
    rho: np.ndarray
    eta: float | np.ndarray

    @property
    def dbar(self) -> np.ndarray:
        """The normalized discounted visitation ``(1-gamma) rho`` is not stored: use
        :func:`normalized_visitation`. (Kept as an explicit error to avoid mixing them.)"""
        raise AttributeError("use tabular.normalized_visitation(mdp, ev) for dbar = (1-gamma) rho")


def _gamma(mdp: TabularMDP) -> np.ndarray:
    return np.asarray(mdp.gamma, dtype=np.float64)


def _evaluate(P, r, rho0, gamma, pi):
    """Kernel on plain arrays (valid input assumed). Shapes broadcast over ``...``."""
    S = P.shape[-1]
    P_pi = np.einsum("...sa,...sat->...st", pi, P)
    r_pi = np.einsum("...sa,...sa->...s", pi, r)
    g = gamma[..., None, None]
    M = np.eye(S) - g * P_pi
    V = np.linalg.solve(M, r_pi[..., None])[..., 0]
    rho = np.linalg.solve(np.swapaxes(M, -1, -2), np.broadcast_to(rho0, V.shape)[..., None])[..., 0]
    Q = r + g * np.einsum("...sat,...t->...sa", P, V)
    A = Q - V[..., None]
    eta = np.einsum("...s,...s->...", rho0, V)
    return V, Q, A, rho, eta


def evaluate(mdp: TabularMDP, pi) -> Evaluation:
    """Exact evaluation of a stochastic policy (TRPO sec. 2; STRO eq. 2.1-2.3).

    Args:
        mdp: a :class:`TabularMDP` (possibly batched).
        pi: policy ``pi[..., s, a]``, shape ``(*batch, S, A)``; its batch shape must
            broadcast with ``mdp.batch_shape``. Validated (rows are distributions).

    Returns:
        :class:`Evaluation` with ``V, Q, A, rho, eta`` (see there for shapes).
    """
    pi = check_policy(mdp, pi)
    V, Q, A, rho, eta = _evaluate(mdp.P, mdp.r, mdp.rho0, _gamma(mdp), pi)
    eta = float(eta) if np.ndim(eta) == 0 else readonly(eta)
    return Evaluation(V=readonly(V), Q=readonly(Q), A=readonly(A), rho=readonly(rho), eta=eta)


def normalized_visitation(mdp: TabularMDP, ev: Evaluation) -> np.ndarray:
    """``dbar_pi = (1 - gamma) rho_pi``, a probability distribution over states."""
    return (1.0 - _gamma(mdp))[..., None] * ev.rho


def surrogate(mdp: TabularMDP, pi, pi_new, *, ev: Evaluation | None = None):
    """The local approximation ``L_pi(pi_new)`` of TRPO eq. 3 (STRO eq. 2.4)::

        L_pi(pi_new) = eta(pi) + sum_s rho_pi(s) sum_a pi_new(a|s) A_pi(s, a)

    with ``rho_pi`` the UNNORMALIZED visitation of the OLD policy ``pi``.

    Args:
        mdp: the MDP (possibly batched).
        pi: the current policy ``(*batch, S, A)``.
        pi_new: the candidate policy ``(*batch, S, A)``.
        ev: ``evaluate(mdp, pi)`` if already computed (saves the two solves).

    Returns:
        a float (or an array of the broadcast batch shape).
    """
    pi_new = check_policy(mdp, pi_new, "pi_new")
    if ev is None:
        ev = evaluate(mdp, pi)
    L = ev.eta + np.einsum("...s,...sa,...sa->...", ev.rho, pi_new, ev.A)
    return float(L) if np.ndim(L) == 0 else L


def policy_advantage(mdp: TabularMDP, pi, pi_new, *, ev: Evaluation | None = None):
    """``A_pi(pi_new) = sum_s rho_pi(s) sum_a pi_new(a|s) A_pi(s, a) = L_pi(pi_new) - eta(pi)``
    (STRO Definition 3.1)."""
    if ev is None:
        ev = evaluate(mdp, pi)
    return surrogate(mdp, pi, pi_new, ev=ev) - ev.eta


def optimal_advantage(mdp: TabularMDP, pi, *, ev: Evaluation | None = None):
    """``A*_pi = sum_s rho_pi(s) max_a A_pi(s, a)`` (STRO Lemma 3.2, eq. 3.7); zero iff
    ``pi`` is optimal when ``rho0 > 0``."""
    if ev is None:
        ev = evaluate(mdp, pi)
    val = np.einsum("...s,...s->...", ev.rho, ev.A.max(axis=-1))
    return float(val) if np.ndim(val) == 0 else val
