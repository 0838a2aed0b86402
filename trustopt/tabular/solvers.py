"""Optimal policies of a finite MDP, and conservative policy iteration mixtures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustopt._validation import ValidationError, as_float_array, check_int, check_interval, check_positive, readonly
from trustopt.tabular.evaluation import _evaluate, _gamma, evaluate
from trustopt.tabular.mdp import TabularMDP, check_policy


@dataclass(frozen=True)
class OptimalSolution:
    """An optimal deterministic policy ``pi (S, A)`` (one-hot rows), its values ``V (S,)``
    and ``eta = eta(pi)``, computed exactly; ``iterations`` used by the solver;
    ``converged`` is False when the solver stopped at ``max_iter`` (``pi`` is then the
    last iterate's greedy policy, not certified optimal)."""

    pi: np.ndarray
    V: np.ndarray
    eta: float
    iterations: int
    converged: bool = True


def _single(mdp: TabularMDP) -> None:
    if mdp.batch_shape:
        raise ValidationError(f"mdp: expected one MDP, got batch shape {mdp.batch_shape}")


def _one_hot(actions: np.ndarray, n_actions: int) -> np.ndarray:
    return np.eye(n_actions)[actions]


def policy_iteration(mdp: TabularMDP, *, max_iter: int = 10_000) -> OptimalSolution:
    """Howard's policy iteration with exact evaluation (a linear solve per iteration).

    Improvement takes ``argmax_a Q(s, a)`` and keeps the current action unless another is
    better by more than ``1e-12 * max|Q|`` (a relative threshold, so the result does not
    depend on the scale of the rewards), so it terminates (no cycling among ties).
    Converges in finitely many steps to an optimal policy (Puterman 1994, Thm. 6.4.2).
    """
    _single(mdp)
    max_iter = check_int(max_iter, "max_iter", 1)
    S, A = mdp.n_states, mdp.n_actions
    g = _gamma(mdp)
    actions = np.zeros(S, dtype=np.int64)
    converged = False
    for k in range(1, max_iter + 1):
        V, Q, _, _, _ = _evaluate(mdp.P, mdp.r, mdp.rho0, g, _one_hot(actions, A))
        current = Q[np.arange(S), actions]
        best = Q.argmax(axis=1)
        improve = Q[np.arange(S), best] > current + 1e-12 * np.max(np.abs(Q))
        if not np.any(improve):
            converged = True
            break
        actions = np.where(improve, best, actions)
    pi = _one_hot(actions, A)
    ev = evaluate(mdp, pi)
    return OptimalSolution(readonly(pi), ev.V, ev.eta, k, converged)


def value_iteration(mdp: TabularMDP, *, tol: float = 1e-10, max_iter: int = 1_000_000) -> OptimalSolution:
    """Value iteration ``V <- max_a [r + gamma P V]`` until ``||V_{k+1} - V_k||_inf <
    tol (1 - gamma) / (2 gamma)``, which makes the greedy policy ``tol``-optimal
    (Puterman 1994, Thm. 6.3.1). The returned ``V`` and ``eta`` are the greedy policy's,
    evaluated exactly."""
    _single(mdp)
    tol = check_positive(tol, "tol")
    max_iter = check_int(max_iter, "max_iter", 1)
    g = float(mdp.gamma)
    V = np.zeros(mdp.n_states)
    threshold = tol * (1.0 - g) / (2.0 * g) if g > 0 else np.inf
    for k in range(1, max_iter + 1):
        Q = mdp.r + g * np.einsum("sat,t->sa", mdp.P, V)
        V_new = Q.max(axis=1)
        done = bool(np.max(np.abs(V_new - V)) < threshold)
        V = V_new
        if done:
            break
    Q = mdp.r + g * np.einsum("sat,t->sa", mdp.P, V)
    pi = _one_hot(Q.argmax(axis=1), mdp.n_actions)
    ev = evaluate(mdp, pi)
    return OptimalSolution(readonly(pi), ev.V, ev.eta, k, done)


def cpi_mixture(pi, pi_prime, alpha):
    """Conservative policy iteration update (Kakade & Langford 2002; TRPO eq. 5):
    ``pi_new = (1 - alpha) pi + alpha pi'``, ``alpha in [0, 1]``. Shapes ``(..., S, A)``;
    ``alpha`` may be an array broadcasting against the batch shape."""
    a = np.asarray(check_interval(alpha, "alpha", 0.0, 1.0))
    pi = as_float_array(pi, "pi")
    pi_prime = as_float_array(pi_prime, "pi_prime")
    if pi.shape[-2:] != pi_prime.shape[-2:]:
        raise ValidationError(f"pi_prime: shape {pi_prime.shape} does not match pi's {pi.shape}")
    a = a[..., None, None]
    return (1.0 - a) * pi + a * pi_prime


def greedy_policy(mdp: TabularMDP, pi) -> np.ndarray:
    """The deterministic policy ``argmax_a A_pi(s, a)`` (the ``pi'`` of CPI, TRPO sec. 2)."""
    pi = check_policy(mdp, pi)
    A = evaluate(mdp, pi).A
    return np.eye(mdp.n_actions)[A.argmax(axis=-1)]
