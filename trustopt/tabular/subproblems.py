"""Exact trust-region subproblems over unparameterized tabular policies.

With ``c(s, a) = rho_pi(s) A_pi(s, a)`` the surrogate is linear in the new policy:
``L_pi(pit) = eta(pi) + sum_{s,a} c(s, a) pit(a|s)`` (TRPO eq. 3), so each subproblem
maximizes a linear function over a product of simplices under a convex constraint.

- :func:`solve_tv_subproblem`: ``max L s.t. sum_s w(s) TV_s <= delta`` (STRO eq. 3.6), a
  linear program, solved in closed form (a fractional knapsack) or by HiGHS.
- :func:`solve_kl_subproblem`: ``max L s.t. sum_s w(s) KL_s <= delta``, ``KL_s = KL(pi_s || pit_s)``,
  solved by Lagrangian duality. For a multiplier ``beta_s = lambda w(s)`` the per-state
  problem ``max c_s . pit_s - beta_s KL_s`` has the stationarity condition
  ``c_a + beta_s pi_a / pit_a = nu_s``, hence ``pit_a = beta_s pi_a / (nu_s - c_a)`` on
  ``pi``'s support, with the scalar ``nu_s`` fixed by normalization (one root). If an
  action outside ``pi``'s support has a larger ``c`` than every supported action, the
  leftover mass ``1 - sum_supp pit`` goes there and ``nu_s`` equals that ``c`` (closed form).
  A scalar search on ``lambda`` then makes the constraint tight.
- :func:`solve_kl_penalty`: ``max L - C max_s KL_s`` (TRPO Algorithm 1 / eq. 10), by
  the same per-state solutions: at the optimum every state whose constraint binds has
  ``KL_s = kappa`` and the per-state multipliers sum to ``C`` (KKT of
  ``max L - C t s.t. KL_s <= t``); ``kappa`` is found by a scalar search.

All three take a single (unbatched) MDP and return a :class:`SubproblemSolution`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.sparse

from trustopt._validation import ValidationError, as_float_array, check_positive, readonly
from trustopt.tabular.divergences import kl, tv, visitation_weighted
from trustopt.tabular.evaluation import Evaluation, evaluate
from trustopt.tabular.mdp import TabularMDP, check_policy

_BISECTION_STEPS = 70  # halvings: brackets of width <= 2^10 reach float resolution (2^-52 relative)
_TINY = np.finfo(float).tiny  # smallest normal float64, ~2.2e-308


def _floor_support(pi, pit):
    """Where the exact optimum puts mass ``exp(-kappa)`` that underflows to 0 on ``pi``'s
    support (``kappa`` beyond ~708), the nearest representable point raises it to the
    smallest normal float: ``KL`` becomes finite (``<= 708 pi(a|s)`` per entry) and the
    surrogate changes by less than ``1e-307``."""
    return np.where((pi > 0) & (pit < _TINY), _TINY, pit)


@dataclass(frozen=True)
class SubproblemSolution:
    """Solution of an exact trust-region subproblem.

    Attributes:
        pi: the maximizer ``pit``, shape ``(S, A)`` (read-only).
        surrogate: ``L_pi(pit)``.
        constraint: the constraint's value at ``pit``: ``sum_s w(s) TV_s`` or
            ``sum_s w(s) KL_s``; for :func:`solve_kl_penalty`, ``max_s KL_s``.
        multiplier: the Lagrange multiplier of the constraint (0 when it is slack); for
            :func:`solve_kl_penalty`, the per-state multipliers' sum, which equals ``C``.
        success: False only if the solver reports a failure (see ``message``).
        message: the solver's message.
    """

    pi: np.ndarray
    surrogate: float
    constraint: float
    multiplier: float
    success: bool = True
    message: str = "optimal"


def _prepare(mdp: TabularMDP, pi, weights):
    if mdp.batch_shape:
        raise ValidationError(f"mdp: the subproblem solvers take one MDP, got batch shape {mdp.batch_shape}")
    pi = check_policy(mdp, pi)
    if pi.ndim != 2:
        raise ValidationError(f"pi: expected shape ({mdp.n_states}, {mdp.n_actions}), got {pi.shape}")
    ev = evaluate(mdp, pi)
    if weights is None:
        w = np.array(ev.rho)
    else:
        w = as_float_array(weights, "weights", ndim=1)
        if w.shape != (mdp.n_states,):
            raise ValidationError(f"weights: expected shape ({mdp.n_states},), got {w.shape}")
        if np.any(w < 0):
            raise ValidationError("weights: must be non-negative")
    c = ev.rho[:, None] * ev.A
    # The maximizers are invariant to a positive scaling of c (the multipliers scale with
    # it): work with c / max|c| so that solver and tie tolerances are relative.
    scale = float(np.max(np.abs(c)))
    return pi, ev, w, c / scale if scale > 0 else c, scale


def _solution(mdp, pi, ev: Evaluation, pit, constraint, multiplier, success=True, message="optimal"):
    pit = np.clip(pit, 0.0, None)
    pit = pit / pit.sum(axis=1, keepdims=True)
    L = float(ev.eta + np.sum(ev.rho[:, None] * pit * ev.A))
    return SubproblemSolution(readonly(pit), L, float(constraint(pit)), float(multiplier), success, message)


# ----------------------------------------------------------------------------- TV (LP)


def solve_tv_subproblem(mdp: TabularMDP, pi, delta, weights=None, *, method: str = "exact") -> SubproblemSolution:
    """Exact solution of STRO eq. 3.6, ``max_pit L_pi(pit) s.t. sum_s w(s) TV_s(pi, pit) <= delta``.

    Args:
        mdp: one :class:`TabularMDP`.
        pi: current policy ``(S, A)``.
        delta: radius ``> 0``.
        weights: ``w (S,)``, non-negative; ``None`` means the UNNORMALIZED visitation
            ``rho_pi`` (STRO's convention, ``E_{s~rho_pi}`` in eq. 3.6).
        method: ``"exact"`` (default) or ``"highs"``.

    It is a linear program (variables ``pit (S, A)`` and ``t >= |pit - pi|``). Its optimum
    has a closed form, a fractional knapsack: moving mass ``m`` from action ``a`` to a best
    action ``a*_s = argmax_b c(s, b)`` gains ``m (c(s, a*_s) - c(s, a))`` and costs
    ``w(s) m`` of the budget (it raises ``TV_s`` by ``m``; moving to any other action gains
    less for the same cost). ``method="exact"`` takes the moves in decreasing order of
    gain per unit of budget, moves of zero cost first, until ``delta`` is spent: exact up
    to round-off, whatever the scales of ``rho``. ``method="highs"`` solves the LP with
    HiGHS (``scipy.optimize.linprog``); its tolerances are absolute after scaling by
    ``max|c|``, so it can miss gains below ``~1e-7 max|c|`` when ``rho`` spans many orders
    of magnitude. The multiplier is the value of a unit of budget at the optimum.
    """
    pi, ev, w, c, scale = _prepare(mdp, pi, weights)
    delta = check_positive(delta, "delta")
    constraint = lambda p: float(visitation_weighted(tv(pi, p), rho=w))
    if method not in ("exact", "highs"):
        raise ValidationError(f"method: expected 'exact' or 'highs', got {method!r}")
    if scale == 0:  # A_pi = 0 wherever rho_pi > 0: every policy has L = eta; keep pi
        return _solution(mdp, pi, ev, pi.copy(), constraint, 0.0)
    if method == "highs":
        return _solve_tv_highs(mdp, pi, ev, w, c, scale, delta, constraint)

    S, A = pi.shape
    best = c.argmax(axis=1)
    gain = c[np.arange(S), best][:, None] - c  # per unit of mass moved from a to a*_s, >= 0
    movable = (gain > 0) & (pi > 0)
    cost = np.broadcast_to(w[:, None], (S, A))
    moved = np.zeros((S, A))
    free = movable & (cost == 0)
    moved[free] = pi[free]
    paid = np.flatnonzero(movable & (cost > 0))
    lam = 0.0
    if paid.size:
        ratio = gain.ravel()[paid] / cost.ravel()[paid]
        order = paid[np.argsort(-ratio, kind="stable")]
        need = pi.ravel()[order] * cost.ravel()[order]  # budget to move all of each item
        spent_before = np.concatenate([[0.0], np.cumsum(need)[:-1]])
        take = np.clip((delta - spent_before) / need, 0.0, 1.0)
        moved.ravel()[order] = take * pi.ravel()[order]
        partial = np.flatnonzero(take < 1.0)
        if partial.size:  # the budget binds: a unit of it is worth the marginal item's ratio
            lam = float(gain.ravel()[order[partial[0]]] / cost.ravel()[order[partial[0]]]) * scale
    pit = pi - moved
    pit[np.arange(S), best] += moved.sum(axis=1)
    return _solution(mdp, pi, ev, pit, constraint, lam)


def _solve_tv_highs(mdp, pi, ev, w, c, scale, delta, constraint) -> SubproblemSolution:
    S, A = pi.shape
    n = S * A
    eye = scipy.sparse.identity(n, format="csr")
    tv_row = scipy.sparse.hstack([scipy.sparse.csr_matrix((1, n)), scipy.sparse.csr_matrix(0.5 * np.repeat(w, A)[None, :])])
    A_ub = scipy.sparse.vstack([scipy.sparse.hstack([eye, -eye]), scipy.sparse.hstack([-eye, -eye]), tv_row], format="csr")
    b_ub = np.concatenate([pi.ravel(), -pi.ravel(), [delta]])
    rows = scipy.sparse.kron(scipy.sparse.identity(S), np.ones((1, A)))
    A_eq = scipy.sparse.hstack([rows, scipy.sparse.csr_matrix((S, n))], format="csr")
    cost = np.concatenate([-c.ravel(), np.zeros(n)])
    res = scipy.optimize.linprog(
        cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=np.ones(S),
        bounds=[(0.0, 1.0)] * n + [(0.0, None)] * n, method="highs",
    )
    if res.status != 0:
        return _solution(mdp, pi, ev, pi.copy(), constraint, np.nan, False, res.message)
    lam = -float(res.ineqlin.marginals[-1]) * scale if res.ineqlin is not None else np.nan
    return _solution(mdp, pi, ev, res.x[:n].reshape(S, A), constraint, lam)


# ------------------------------------------------------------ per-state KL solutions


@dataclass(frozen=True)
class _StatePaths:
    """Per-state quantities describing the path of solutions of ``max c.pit - beta KL(pi||pit)``.

    ``cin``: max c on pi's support; ``cout``: max c off the support (-inf if none);
    regime B (mass leaving the support) exists where ``cout > cin``; ``beta_crit`` ends it.
    """

    pi: np.ndarray
    c: np.ndarray
    supp: np.ndarray
    cin: np.ndarray
    cout: np.ndarray
    out_top: np.ndarray  # (S, A) weights of the leftover mass on the off-support argmax set
    has_b: np.ndarray
    beta_crit: np.ndarray
    log_gap_b: np.ndarray  # sum_supp pi log(cout - c), where has_b
    trivial: np.ndarray  # every supported action ties at cin and no regime B: pit = pi for all beta
    pi_top: np.ndarray  # pi's mass on the supported actions with c = cin (> 0)
    log_spread: np.ndarray  # log(cin - min_supp c), the scale of the regime-A parameter u


def _state_paths(pi, c) -> _StatePaths:
    scale = max(1.0, float(np.max(np.abs(c))))
    tie = 1e-13 * scale
    supp = pi > 0
    cin = np.where(supp, c, -np.inf).max(axis=1)
    cout = np.where(~supp, c, -np.inf).max(axis=1)
    has_b = cout > cin + tie
    top = (~supp) & (c >= cout[:, None] - tie) & has_b[:, None]
    out_top = top / np.maximum(top.sum(axis=1, keepdims=True), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap_b = np.where(supp & has_b[:, None], cout[:, None] - c, 1.0)
        beta_crit = np.where(has_b, 1.0 / np.where(supp, pi / gap_b, 0.0).sum(axis=1), np.inf)
        log_gap_b = np.where(supp, pi * np.log(gap_b), 0.0).sum(axis=1)
    trivial = ~has_b & np.all(~supp | (c >= cin[:, None] - tie), axis=1)
    pi_top = np.where(supp & (c >= cin[:, None] - tie), pi, 0.0).sum(axis=1)
    log_spread = np.log(np.ptp(np.where(supp, c, cin[:, None]), axis=1) + 1e-300)
    return _StatePaths(pi, c, supp, cin, cout, out_top, has_b, beta_crit, log_gap_b, trivial, pi_top, log_spread)


_LOG_TINY = float(np.log(_TINY))


def _bisect_log_u(paths: _StatePaths, log_lo, log_hi, above):
    """Vectorized bisection on ``log u`` per state: ``above(pit, KL, beta)`` is True where
    the root lies above the midpoint. Brackets are in log space because ``u`` can need to
    be as small as ``pi_top * spread`` (a best action with mass 1e-39 needs u ~ 1e-39)."""
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (log_lo + log_hi)
        if np.all((mid == log_lo) | (mid == log_hi)):
            break
        go_up = above(*_regime_a(paths, np.exp(mid)))
        log_lo = np.where(go_up, mid, log_lo)
        log_hi = np.where(go_up, log_hi, mid)
    return log_lo, log_hi


def _regime_a(paths: _StatePaths, u):
    """Policy and KL on the path ``pit = pi / d / sum(pi / d)``, ``d = u + cin - c`` (``u > 0``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = u[:, None] + np.where(paths.supp, paths.cin[:, None] - paths.c, 1.0)
        q = np.where(paths.supp, paths.pi / d, 0.0)
        z = q.sum(axis=1)
        pit = q / z[:, None]
        kl_s = np.where(paths.supp, paths.pi * np.log(d), 0.0).sum(axis=1) + np.log(z)
    return pit, np.maximum(kl_s, 0.0), 1.0 / z  # (pit, KL_s, beta)


def _regime_b(paths: _StatePaths, beta):
    """Policy on regime B: ``pit_supp = beta pi / (cout - c)``, leftover mass off the support."""
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(paths.supp, paths.cout[:, None] - paths.c, 1.0)
        inside = np.where(paths.supp, beta[:, None] * paths.pi / gap, 0.0)
    left = np.clip(1.0 - inside.sum(axis=1), 0.0, 1.0)
    return inside + left[:, None] * paths.out_top


def _greedy(paths: _StatePaths):
    """``beta = 0``: all mass on argmax_a c; ties split in proportion to pi (least KL), else evenly."""
    scale = max(1.0, float(np.max(np.abs(paths.c))))
    top = paths.c >= paths.c.max(axis=1, keepdims=True) - 1e-13 * scale
    w = np.where(top, paths.pi, 0.0)
    even = top / top.sum(axis=1, keepdims=True)
    mass = w.sum(axis=1, keepdims=True)
    return np.where(mass > 0, w / np.where(mass > 0, mass, 1.0), even)


def _policy_for_beta(paths: _StatePaths, beta):
    """Per-state maximizer of ``c.pit - beta_s KL(pi_s || pit_s)`` for ``beta (S,) >= 0``."""
    pit = _greedy(paths)
    pos = beta > 0
    in_b = pos & paths.has_b & (beta <= paths.beta_crit)
    if np.any(in_b):
        pit[in_b] = _regime_b(paths, np.where(in_b, beta, 0.0))[in_b]
    in_a = pos & ~in_b
    if np.any(in_a):
        # solve sum_supp pi / (u + cin - c) = 1/beta for u in [max(u_out, beta pi_top), beta]
        u_out = np.where(paths.has_b, paths.cout - paths.cin, 0.0)
        b = np.where(in_a, beta, 1.0)
        lo = np.maximum(np.maximum(u_out, b * paths.pi_top), _TINY)
        log_lo, log_hi = np.log(lo), np.log(np.maximum(b, lo))
        log_lo, log_hi = _bisect_log_u(paths, log_lo, log_hi, lambda _p, _k, beta_u: beta_u < b)  # beta(u) increases
        pa, _, _ = _regime_a(paths, np.exp(0.5 * (log_lo + log_hi)))
        pit[in_a] = pa[in_a]
    pit[paths.trivial] = paths.pi[paths.trivial]
    return pit


def _beta_for_kappa(paths: _StatePaths, kappa: float):
    """Per-state multiplier making ``KL_s = kappa`` where the greedy policy exceeds it, else 0."""
    S = paths.pi.shape[0]
    beta = np.zeros(S)
    active = ~paths.trivial
    if not np.any(active):
        return beta
    kl_crit = np.where(paths.has_b, paths.log_gap_b - np.log(np.where(paths.has_b, paths.beta_crit, 1.0)), np.inf)
    closed = active & paths.has_b & (kappa >= kl_crit)
    beta[closed] = np.exp(paths.log_gap_b[closed] - kappa)
    search = active & ~closed
    if np.any(search):
        u_out = np.where(paths.has_b, paths.cout - paths.cin, 0.0)
        log_lo = np.where(u_out > 0, np.log(np.maximum(u_out, _TINY)),
                          np.maximum(paths.log_spread + np.log(paths.pi_top) - 60.0, _LOG_TINY))
        log_hi = np.maximum(paths.log_spread + 1.0, log_lo + 1.0)
        for _ in range(200):  # grow hi until KL_A(hi) < kappa
            _, k_hi, _ = _regime_a(paths, np.exp(log_hi))
            grow = search & (k_hi >= kappa)
            if not np.any(grow):
                break
            log_hi = np.where(grow, log_hi + 2.0, log_hi)
        log_lo, log_hi = _bisect_log_u(paths, log_lo, log_hi, lambda _p, k_u, _b: k_u > kappa)  # KL decreases
        _, _, b = _regime_a(paths, np.exp(log_hi))
        beta[search] = b[search]
    return beta


def _bracket_log_root(f, x0: float = 0.0, step: float = 2.0, max_steps: int = 200):
    """Find ``a < b`` with ``f(a) > 0 >= f(b)`` for a decreasing function of ``x``."""
    a = b = x0
    fa = fb = f(x0)
    if fa > 0:
        for _ in range(max_steps):
            b += step
            fb = f(b)
            if fb <= 0:
                return b - step, b
        raise RuntimeError("could not bracket the multiplier")
    for _ in range(max_steps):
        a -= step
        fa = f(a)
        if fa > 0:
            return a, a + step
    return None  # f <= 0 down to exp(-400): the constraint is (numerically) never active


def solve_kl_subproblem(mdp: TabularMDP, pi, delta, weights=None) -> SubproblemSolution:
    """Exact solution of ``max_pit L_pi(pit) s.t. sum_s w(s) KL(pi_s || pit_s) <= delta``
    (STRO eq. 3.1 with the KL distance; TRPO eq. 11-12 over unparameterized policies).

    Args and conventions as :func:`solve_tv_subproblem` (``weights=None`` is ``rho_pi``,
    unnormalized). Solved by duality: per state the maximizer for a multiplier ``beta_s``
    is in closed form up to one scalar root (see the module docstring), and the
    multiplier ``lambda`` (``beta_s = lambda w(s)``) is the root of the decreasing
    function ``lambda -> sum_s w(s) KL_s - delta``, found by Brent's method on ``log lambda``.
    The returned policy is feasible up to a relative ``1e-9`` of ``delta``.
    """
    pi, ev, w, c, scale = _prepare(mdp, pi, weights)
    delta = check_positive(delta, "delta")
    paths = _state_paths(pi, c)
    constraint = lambda p: float(visitation_weighted(kl(pi, p), rho=w))

    greedy = _policy_for_beta(paths, np.zeros(len(w)))
    if constraint(greedy) <= delta:
        return _solution(mdp, pi, ev, greedy, constraint, 0.0)

    def excess(log_lam):
        return constraint(_policy_for_beta(paths, np.exp(log_lam) * w)) - delta

    x0 = float(np.log(max(np.max(np.abs(c)), 1e-300)))
    bracket = _bracket_log_root(excess, x0)
    if bracket is None:
        # feasible down to lambda = exp(x0 - 400): the root lies below, where the optimum's
        # mass on pi's support underflows; the smallest multiplier tried is feasible
        log_lam = x0 - 400.0
    else:
        log_lam = scipy.optimize.brentq(excess, *bracket, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500)
        for _ in range(60):  # step to the feasible side of the root
            if excess(log_lam) <= 1e-9 * delta:
                break
            log_lam += 1e-12 * max(1.0, abs(log_lam))
    pit = _floor_support(pi, _policy_for_beta(paths, np.exp(log_lam) * w))
    if not constraint(pit) <= delta * (1 + 1e-9):
        return _solution(mdp, pi, ev, pit, constraint, np.exp(log_lam) * scale, False,
                         "the optimum is not representable in float64 (constraint infeasible after rounding)")
    return _solution(mdp, pi, ev, pit, constraint, np.exp(log_lam) * scale)


def solve_kl_penalty(mdp: TabularMDP, pi, C) -> SubproblemSolution:
    """Exact maximizer of ``M(pit) = L_pi(pit) - C max_s KL(pi_s || pit_s)``: one step of
    TRPO Algorithm 1 (eq. 10), the minorization-maximization step that makes ``eta``
    nondecreasing when ``C = 4 eps gamma / (1 - gamma)^2`` (TRPO Theorem 1, eq. 9).

    Args:
        mdp: one :class:`TabularMDP`; pi: current policy ``(S, A)``; C: penalty ``> 0``.

    Returns a :class:`SubproblemSolution` whose ``constraint`` is ``max_s KL_s`` and whose
    ``multiplier`` is the sum of the per-state multipliers (``= C`` when some state moves).
    """
    if mdp.batch_shape:
        raise ValidationError(f"mdp: the subproblem solvers take one MDP, got batch shape {mdp.batch_shape}")
    pi, ev, _, c, scale = _prepare(mdp, pi, None)
    C = check_positive(C, "C")
    paths = _state_paths(pi, c)
    C_scaled = C / scale if scale > 0 else np.inf
    constraint = lambda p: float(np.max(kl(pi, p)))
    if np.all(paths.trivial):
        return _solution(mdp, pi, ev, pi.copy(), constraint, 0.0)

    def excess(log_kappa):  # decreasing in kappa
        return float(np.sum(_beta_for_kappa(paths, np.exp(log_kappa)))) - C_scaled

    bracket = _bracket_log_root(excess, 0.0)
    if bracket is None:
        return _solution(mdp, pi, ev, pi.copy(), constraint, 0.0)
    log_kappa = scipy.optimize.brentq(excess, *bracket, xtol=1e-13, rtol=4 * np.finfo(float).eps, maxiter=500)
    beta = _beta_for_kappa(paths, np.exp(log_kappa))
    pit = _floor_support(pi, _policy_for_beta(paths, beta))
    return _solution(mdp, pi, ev, pit, constraint, float(np.sum(beta)) * scale)
