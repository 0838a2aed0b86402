"""Softmax-parameterized tabular policies and their exact gradients.

``pi_theta(a|s) = exp(theta[s, a]) / sum_b exp(theta[s, b])``, ``theta`` of shape ``(..., S, A)``.
The gradients are the policy-gradient theorem (STRO eq. 2.6; slides "Policy Gradient
Theorem") evaluated with the exact ``rho`` and ``A`` of :func:`trustopt.tabular.evaluate`:
``d pi(b|s) / d theta[s, a] = pi(b|s) (1[a=b] - pi(a|s))``, hence

    d eta / d theta[s, a] = rho_pi(s) pi(a|s) A_pi(s, a)                       (sum_b pi A = 0)
    d L_pi(pi_theta') / d theta'[s, a] = rho_pi(s) pi'(a|s) (A_pi(s, a) - sum_b pi'(b|s) A_pi(s, b))
"""

from __future__ import annotations

import numpy as np

from trustopt._validation import ValidationError, as_float_array
from trustopt.tabular.evaluation import Evaluation, evaluate
from trustopt.tabular.mdp import TabularMDP


def softmax_policy(theta) -> np.ndarray:
    """``pi_theta = softmax(theta)`` along the action axis; ``theta (..., S, A)`` -> ``(..., S, A)``.
    Computed stably (max subtracted)."""
    theta = as_float_array(theta, "theta")
    if theta.ndim < 2:
        raise ValidationError(f"theta: expected shape (*batch, S, A), got {theta.shape}")
    z = np.exp(theta - theta.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _check_theta(mdp: TabularMDP, theta, name: str) -> np.ndarray:
    theta = as_float_array(theta, name)
    if theta.ndim < 2 or theta.shape[-2:] != (mdp.n_states, mdp.n_actions):
        raise ValidationError(f"{name}: expected shape (*batch, {mdp.n_states}, {mdp.n_actions}), got {theta.shape}")
    return theta


def grad_eta_softmax(mdp: TabularMDP, theta, *, ev: Evaluation | None = None) -> np.ndarray:
    """Exact ``grad_theta eta(pi_theta)``, shape ``(..., S, A)`` (policy-gradient theorem,
    STRO eq. 2.6): ``rho_pi(s) pi(a|s) A_pi(s, a)`` with the unnormalized ``rho_pi``."""
    pi = softmax_policy(_check_theta(mdp, theta, "theta"))
    if ev is None:
        ev = evaluate(mdp, pi)
    return ev.rho[..., None] * pi * ev.A


def grad_surrogate_softmax(mdp: TabularMDP, pi, theta_new, *, ev: Evaluation | None = None) -> np.ndarray:
    """Exact gradient of ``L_pi(pi_theta_new)`` (TRPO eq. 3) with respect to ``theta_new``,
    shape ``(..., S, A)``: ``rho_pi(s) pi'(a|s) (A_pi(s,a) - sum_b pi'(b|s) A_pi(s,b))``.
    At ``pi_theta_new = pi`` it equals :func:`grad_eta_softmax` (TRPO eq. 4; STRO eq. 2.7)."""
    pi_new = softmax_policy(_check_theta(mdp, theta_new, "theta_new"))
    if ev is None:
        ev = evaluate(mdp, pi)
    centered = ev.A - np.einsum("...sa,...sa->...s", pi_new, ev.A)[..., None]
    return ev.rho[..., None] * pi_new * centered
