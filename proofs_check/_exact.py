"""Independent references used by the checks (not the library's code paths).

- :func:`eta_complex`: ``eta`` of a finite MDP for a *complex* policy by one complex linear
  solve. With it, :func:`grad_eta_complex_step` differentiates ``eta`` in softmax logits by
  the complex-step method, ``d eta / d theta_k = Im eta(theta + i h e_k) / h`` (Squire &
  Trapp 1998), which has no subtractive cancellation: with ``h = 1e-30`` its error is
  ``O(h^2)``, i.e. exact to float64 round-off. It is an independent reference for every
  gradient identity (policy-gradient theorem, first-order matching of the surrogate).
- :func:`state_distributions`: ``P(s_t = s)`` for ``t = 0..T-1`` by repeated products.
"""

from __future__ import annotations

import numpy as np

H_COMPLEX = 1e-30


def softmax(theta):
    z = np.exp(theta - np.real(theta).max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def transition_matrix(P, pi):
    """``P_pi[s, s'] = sum_a pi(a|s) P[s, a, s']``; shapes ``(..., S, A, S)``, ``(..., S, A)``."""
    return np.einsum("...sa,...sat->...st", pi, P)


def eta_complex(P, r, rho0, gamma, pi):
    """``eta(pi) = rho0 . (I - gamma P_pi)^{-1} r_pi`` for a possibly complex ``pi``.
    Shapes: ``P (..., S, A, S)``, ``r (..., S, A)``, ``rho0 (..., S)``, ``gamma (...)``."""
    S = P.shape[-1]
    P_pi = np.einsum("...sa,...sat->...st", pi, P)
    r_pi = np.einsum("...sa,...sa->...s", pi, r)
    M = np.eye(S) - np.asarray(gamma)[..., None, None] * P_pi
    V = np.linalg.solve(M, r_pi[..., None])[..., 0]
    return np.einsum("...s,...s->...", rho0, V)


def grad_eta_complex_step(P, r, rho0, gamma, theta):
    """``grad_theta eta(softmax(theta))``, shape ``(n, S, A)``, by complex steps (one
    batched solve of shape ``(n, S*A, S, S)``)."""
    n, S, A = theta.shape
    E = np.eye(S * A).reshape(S * A, S, A)
    th = theta[:, None].astype(complex) + 1j * H_COMPLEX * E[None]
    pi = softmax(th)
    val = eta_complex(P[:, None], r[:, None], rho0[:, None], np.asarray(gamma)[:, None], pi)
    return (val.imag / H_COMPLEX).reshape(n, S, A)


def state_distributions(P_pi, rho0, T):
    """``d[t, ..., s] = P(s_t = s)`` for ``t < T`` under ``P_pi (..., S, S)``."""
    out = [np.asarray(rho0, float)]
    for _ in range(T - 1):
        out.append(np.einsum("...s,...st->...t", out[-1], P_pi))
    return np.stack(out)
