"""Claims of STRO (Zhao, Li, Wen, ``papers/stro-stochastic-trust-region-framework.txt``).

Tabular claims use the exact TV subproblem :func:`trustopt.tabular.solve_tv_subproblem`
(``max L s.t. sum_s rho_pi(s) TV_s <= delta``, unnormalized ``rho``, STRO eq. 3.6) and
:func:`trustopt.tabular.policy_iteration` for ``eta*``; ``stro.gaussian`` uses the exact LQR
oracle :mod:`trustopt.lqr` (the LQR generalization, ``stro.gaussian-lqr``), and ``stro.gaussian`` (Lemma 3.6) and ``stro.gaussian.lemma3.7`` the
lemma's own setting (finite S, free per-state Gaussian means) with exact rational certificates. All need ``rho0 > 0`` (STRO eq. 3.5), which the draws ensure.
"""

from __future__ import annotations

import numpy as np

from trustopt import lqr, tabular, testing
from proofs_check import _rational as R, draws
from proofs_check.registry import Claim, Field, Outcome, register

SRC = "stro-stochastic-trust-region-framework.txt"


def _one(b, j):
    return tabular.TabularMDP(b["P"][j], b["r"][j], b["rho0"][j], float(b["gamma"][j]))


def _draw_stro(rng, n, sizes=((1, 2), (2, 2), (3, 2), (3, 3), (4, 3), (5, 2))):
    out = []
    for b in draws.tabular(rng, n, policies=("pi",), sizes=sizes, size_weights=np.ones(len(sizes)), rho0_positive=True):
        m = len(b["gamma"])
        b["delta"] = np.exp(rng.uniform(np.log(1e-3), np.log(20.0), m))
        out.append(b)
    return out


STRO_SCHEMA = draws.schema("pi", delta=Field(kind="positive"))

# ----------------------------------------------------------------- optimality.advantage


def check_optimality(b) -> Outcome:
    """STRO Lemma 3.2 (``rho0 > 0``): ``pi`` is optimal iff ``A*_pi = sum_s rho_pi(s) max_a A_pi(s,a) = 0``,
    checked in the quantitative form (derived here) that implies both directions:

        p0 (1-gamma) (eta* - eta(pi)) <= A*_pi <= (eta* - eta(pi)) / (p0 (1-gamma)),  p0 = min_s rho0(s).

    Left: ``eta* - eta = sum_s rho_pi*(s) sum_a pi*(a|s) A_pi(s,a) <= sum_s rho_pi*(s) max_a A_pi(s,a)``
    and ``rho_pi* <= 1/(1-gamma) <= rho_pi / (p0 (1-gamma))`` (``max_a A_pi >= 0``). Right: switching
    ``pi`` to the greedy action at one state ``s'`` gains ``rho(s') max_a A_pi(s', a) >= p0 max_a A_pi(s',a)``
    (STRO's proof of necessity), and ``A*_pi <= max_{s,a} A_pi(s,a) / (1-gamma)``. ``eta*`` from
    :func:`tabular.policy_iteration`; half of the instances evaluate the optimal policy itself."""
    n = len(b["gamma"])
    M = draws.mdp(b)
    pi = np.asarray(b["pi"], float)
    eta_star = np.array([tabular.policy_iteration(_one(b, j)).eta for j in range(n)])
    ev = tabular.evaluate(M, pi)
    Astar = np.asarray(tabular.optimal_advantage(M, pi, ev=ev), float)
    g = np.asarray(b["gamma"], float)
    c = np.asarray(b["rho0"], float).min(axis=1) * (1 - g)
    gap_eta = eta_star - ev.eta
    with np.errstate(divide="ignore", invalid="ignore"):  # p0 = 0 only off the claim's hypothesis (rho0 > 0)
        lo, hi = c * gap_eta, gap_eta / c
    slack = np.minimum(Astar - lo, hi - Astar)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_lo = np.where(Astar > 0, lo / Astar, 0.0)
        t_hi = np.where(hi > 0, Astar / hi, 0.0)
    use_lo = t_lo >= t_hi
    return Outcome(slack=slack, scale=draws.value_scale(b), bound=np.where(use_lo, Astar, hi),
                   gap=np.where(use_lo, lo, Astar))


def _draw_optimality(rng, n):
    out = []
    for b in _draw_stro(rng, n):
        m = len(b["gamma"])
        opt = np.stack([tabular.policy_iteration(_one(b, j)).pi for j in range(m)])
        use = rng.random(m) < 0.3
        b["pi"] = np.where(use[:, None, None], opt, b["pi"])
        del b["delta"]
        out.append(b)
    return out


register(Claim(
    id="optimality.advantage",
    source=f"{SRC} Lemma 3.2, eq. 3.5, 3.7-3.8",
    statement="rho0 > 0: pi optimal iff A*_pi = sum_s rho_pi(s) max_a A_pi(s,a) = 0; checked as "
              "p0 (1-gamma)(eta* - eta) <= A*_pi <= (eta* - eta)/(p0 (1-gamma))",
    kind="inequality",
    draw=_draw_optimality,
    check=check_optimality,
    schema=draws.schema("pi"),
    max_instances=4000,
    search_budget=800,
    notes="The assumption rho0 > 0 (eq. 3.5) is necessary for 'A* = 0 implies optimal': with rho0(s) = 0 "
          "a policy greedy on the states it visits has A* = 0 but can miss a better region that only "
          "another first action reaches (its value is judged with pi's poor behaviour there).",
))

def check_optimality_zero_start_mass(b) -> Outcome:
    """Lemma 3.2's sufficiency ("A*_pi = 0 implies pi optimal") WITHOUT the assumption rho0 > 0:
    slack ``-(eta* - eta(pi))`` on the instances with ``A*_pi = 0`` (others are not counted)."""
    n = len(b["gamma"])
    M = draws.mdp(b)
    ev = tabular.evaluate(M, b["pi"])
    Astar = np.asarray(tabular.optimal_advantage(M, b["pi"], ev=ev), float)
    eta_star = np.array([tabular.policy_iteration(_one(b, j)).eta for j in range(n)])
    scale = draws.value_scale(b)
    return Outcome(slack=-(eta_star - ev.eta), scale=scale, valid=Astar <= 1e-12 * scale)


def _draw_zero_start_mass(rng, n):
    """Three states, start in s0 only. s0: action 0 -> absorbing s2 (reward 0), action 1 -> s1.
    s1 (absorbing): action 0 costs ``c``, action 1 earns ``w``. pi plays 0 everywhere: it never visits
    s1, so A*_pi = 0, yet going to s1 and playing 1 there is better. Random ``gamma, c, w`` and a small
    random perturbation of the transitions out of s0 keep the family generic."""
    m = min(n, 500)
    g = rng.uniform(0.3, 0.95, m)
    c, w = rng.uniform(0.5, 2.0, m), rng.uniform(0.5, 2.0, m)
    P = np.zeros((m, 3, 2, 3))
    P[:, 0, 0, 2] = 1.0
    P[:, 0, 1, 1] = 1.0
    P[:, 1, :, 1] = 1.0
    P[:, 2, :, 2] = 1.0
    r = np.zeros((m, 3, 2))
    r[:, 1, 0], r[:, 1, 1] = -c, w
    pi = np.zeros((m, 3, 2))
    pi[..., 0] = 1.0
    return [{"P": P, "r": r, "rho0": np.tile([1.0, 0.0, 0.0], (m, 1)), "gamma": g, "pi": pi}]


def exact_zero_start_mass(inst):
    """Certificate: ``A*_pi = 0`` exactly and ``eta* - eta(pi) > 0`` exactly (``eta*`` by enumerating
    the deterministic policies)."""
    M, pol, shown = R.tabular_instance(inst, "pi")
    ev = R.evaluate(M, pol["pi"])
    Astar = sum(ev.rho[s] * max(ev.A[s]) for s in range(M.S))
    if Astar != 0:
        raise ValueError(f"A*_pi = {Astar} != 0: the premise fails on the rational instance")
    eta_star = R.optimal_eta(M)
    return R.certificate(-(eta_star - ev.eta), shown, {"A_star": Astar, "eta_star": eta_star, "eta": ev.eta})


register(Claim(
    id="optimality.advantage.rho0-zeros",
    source=f"{SRC} Lemma 3.2 without eq. 3.5 (rho0 > 0)",
    statement="A*_pi = 0 implies pi optimal, for start distributions with zeros",
    kind="inequality",
    draw=_draw_zero_start_mass,
    check=check_optimality_zero_start_mass,
    schema=draws.schema("pi"),
    expected="violated",
    search=False,
    max_instances=500,
    notes="FINDING (a generalization beyond the paper's assumptions fails; not a paper error): Lemma 3.2 is "
          "stated under rho0(s) > 0 for every s (STRO sec. 3.2, eq. 3.5), and this claim drops that assumption "
          "to show it is necessary. A policy "
          "that never visits a state is not judged there (rho_pi(s) = 0), while the advantage of the action "
          "leading there is computed with pi's own poor behaviour in it. Corrected statement: as in STRO, "
          "assume rho0 > 0 (or require max_a A_pi(s, a) <= 0 at every state, visited or not).",
    exact=exact_zero_start_mass,
))


# ----------------------------------------------------------------- Lemma 3.3 / 3.4


def _tv_steps(b):
    """Exact TV subproblem per instance: ``(eta, eta_new, L_new - L_old, A*, Abar_max, p0)``."""
    n = len(b["gamma"])
    res = np.zeros((n, 6))
    ok = np.ones(n, bool)
    for j in range(n):
        M = _one(b, j)
        pi = np.asarray(b["pi"][j], float)
        ev = tabular.evaluate(M, pi)
        sol = tabular.solve_tv_subproblem(M, pi, float(b["delta"][j]))
        if not sol.success:
            ok[j] = False
            continue
        eta_new = tabular.evaluate(M, sol.pi).eta
        res[j] = (ev.eta, eta_new, sol.surrogate - ev.eta, tabular.optimal_advantage(M, pi, ev=ev),
                  np.abs(ev.A).max(), np.min(b["rho0"][j]))
    return res.T, ok


def check_lemma33(b) -> Outcome:
    """STRO Lemma 3.3: the exact TV step satisfies ``L(pi_{k+1}) - L(pi_k) >= min(1, (1-gamma) delta) A*``.
    Tightness reported as ``min(1, (1-gamma) delta) A* / (L(pi_{k+1}) - L(pi_k))``."""
    (eta, eta_new, dL, Astar, Abar, p0), ok = _tv_steps(b)
    g = np.asarray(b["gamma"], float)
    B = np.minimum(1.0, (1 - g) * b["delta"]) * Astar
    return Outcome(slack=dL - B, scale=draws.value_scale(b), bound=dL, gap=B, valid=ok, rtol=1e-8)


register(Claim(
    id="stro.lemma3.3",
    source=f"{SRC} Lemma 3.3, eq. 3.6",
    statement="exact TV subproblem (sum_s rho_pi(s) TV_s <= delta): L(pi_{k+1}) - L(pi_k) >= min(1, (1-gamma) delta) A*_{pi_k}",
    kind="inequality",
    draw=_draw_stro,
    check=check_lemma33,
    schema=STRO_SCHEMA,
    max_instances=1500,
    search_budget=300,
    notes="The LP is solved by HiGHS (relative feasibility/optimality 1e-9 after the library's scaling); tolerance 1e-8.",
))


def check_lemma34(b) -> Outcome:
    """STRO Lemma 3.4: ``r_k = (eta(pi_{k+1}) - eta(pi_k)) / (L(pi_{k+1}) - L(pi_k)) >= 1 - c`` with
    ``c = max(4 Abar gamma delta^2 / (p0^2 (1-gamma)^2 A*), 4 Abar gamma delta / (p0^2 (1-gamma)^3 A*))``
    (the min of the two lower bounds), ``p0 = min rho0``, ``Abar = max |A|``. Requires ``A* > 0``
    (else ``r_k = 0/0``): instances with ``A* <= 1e-9 scale`` are not counted. Checked multiplied out,
    ``eta_new - eta - (1 - c)(L_new - L_old) >= 0`` (``L_new - L_old > 0`` by Lemma 3.3)."""
    (eta, eta_new, dL, Astar, Abar, p0), ok = _tv_steps(b)
    g = np.asarray(b["gamma"], float)
    d = np.asarray(b["delta"], float)
    scale = draws.value_scale(b)
    valid = ok & (Astar > 1e-9 * scale) & (dL > 1e-9 * scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        c1 = 4 * Abar * g * d**2 / (p0**2 * (1 - g) ** 2 * Astar)
        c2 = 4 * Abar * g * d / (p0**2 * (1 - g) ** 3 * Astar)
        c = np.where(valid, np.maximum(c1, c2), 0.0)
        slack = (eta_new - eta) - (1 - c) * dL
        one_minus_r = np.where(valid, 1 - (eta_new - eta) / dL, 0.0)
    return Outcome(slack=slack, scale=scale, bound=c, gap=one_minus_r, valid=valid, rtol=1e-8)


register(Claim(
    id="stro.lemma3.4",
    source=f"{SRC} Lemma 3.4, eq. 3.9",
    statement="r_k >= min(1 - 4 Abar gamma delta^2/(p0^2 (1-gamma)^2 A*), 1 - 4 Abar gamma delta/(p0^2 (1-gamma)^3 A*)), p0 = min rho0 > 0, A* > 0",
    kind="inequality",
    draw=_draw_stro,
    check=check_lemma34,
    schema=STRO_SCHEMA,
    max_instances=1500,
    search_budget=300,
    notes="Needs A*_{pi_k} > 0 (at an optimal pi_k the ratio is 0/0 and the bound divides by 0) and "
          "p0 = min rho0 > 0 (STRO eq. 3.5); instances violating these are reported as invalid, not as "
          "violations. The bound is very loose (the reported tightness is 1 - r_k over c).",
))

# ----------------------------------------------------------------- Theorem 3.5

BETA0, BETA1, GAMMA1, GAMMA2, GAMMA3 = 0.1, 0.75, 2.0, 1.0, 0.5
TR_ITERATIONS = 60


def run_trust_region(M, pi, delta0, iterations=TR_ITERATIONS):
    """STRO Algorithm 3.1 with the exact TV subproblem (eq. 3.6), the ratio (3.2), acceptance (3.3)
    with ``beta0 = 0.1`` and the radius rule (3.4) with ``beta1 = 0.75``, ``gamma1 = 2``,
    ``gamma2 = 1``, ``gamma3 = 0.5``. Returns the sequence of ``eta(pi_k)``."""
    ev = tabular.evaluate(M, pi)
    etas = [ev.eta]
    delta = delta0
    scale = float(np.max(np.abs(M.r))) / (1 - float(M.gamma)) + 1e-300
    for _ in range(iterations):
        if tabular.optimal_advantage(M, pi, ev=ev) <= 1e-13 * scale:
            break
        sol = tabular.solve_tv_subproblem(M, pi, delta)
        dL = sol.surrogate - ev.eta
        if not sol.success or dL <= 0:
            delta *= GAMMA3
            etas.append(ev.eta)
            continue
        ev_new = tabular.evaluate(M, sol.pi)
        r = (ev_new.eta - ev.eta) / dL
        if r >= BETA0:
            pi, ev = np.array(sol.pi), ev_new
        delta *= GAMMA1 if r >= BETA1 else (GAMMA2 if r >= BETA0 else GAMMA3)
        etas.append(ev.eta)
    return np.array(etas)


def check_thm35(b) -> Outcome:
    """STRO Theorem 3.5: the exact trust-region method (Algorithm 3.1) gives nondecreasing ``eta``
    and ``eta(pi_k) -> eta*``: after at most 60 iterations ``eta* - eta(pi_K) <= 1e-6 scale``
    (``eta*`` by :func:`tabular.policy_iteration`). Slack: ``min(min_k (eta_{k+1} - eta_k),
    1e-6 scale - (eta* - eta_K))``."""
    n = len(b["gamma"])
    slack = np.empty(n)
    scale = draws.value_scale(b)
    for j in range(n):
        M = _one(b, j)
        etas = run_trust_region(M, np.asarray(b["pi"][j], float), float(b["delta"][j]))
        eta_star = tabular.policy_iteration(M).eta
        mono = np.min(np.diff(etas)) if len(etas) > 1 else 0.0
        slack[j] = min(mono, 1e-6 * scale[j] - (eta_star - etas[-1]))
    return Outcome(slack=slack, scale=scale, rtol=1e-8)


register(Claim(
    id="stro.thm3.5",
    source=f"{SRC} Theorem 3.5, Algorithm 3.1, eq. 3.2-3.4",
    statement="exact trust-region method (TV subproblem, ratio test, radius rule): eta nondecreasing and eta(pi_k) -> eta* (within 1e-6 of the value scale in 60 iterations)",
    kind="algorithm",
    draw=lambda rng, n: _draw_stro(rng, n, sizes=((2, 2), (3, 2), (3, 3), (4, 2))),
    check=check_thm35,
    schema=STRO_SCHEMA,
    max_instances=150,
    search_budget=64,
    notes="The theorem is asymptotic; the finite check (60 iterations, 1e-6) is what can be executed.",
))

# ----------------------------------------------------------------- stro.gaussian-lqr (LQR generalization)

GAUSS_ITERATIONS = 80


def mean_step(L_model, delta):
    """Exact maximizer of the mean subproblem (STRO eq. 3.12) on LQR: ``max_u g'u + 1/2 u'H u`` s.t.
    ``1/2 u'D u <= delta`` (``H = hessian_surrogate_mean`` negative definite, ``D = hessian_mean_kl_mean``,
    both exact and constant since ``L`` and the mean KL are quadratic in the mean parameters).
    With ``D = C C'``, ``z = C'u``: ``z(lam) = (lam I - Ht)^{-1} gt``, ``lam >= 0`` by bisection on
    ``|z|^2 = 2 delta`` (More-Sorensen; ``Ht`` negative definite, so no hard case)."""
    g, H, D = L_model
    C = np.linalg.cholesky(D)
    gt = np.linalg.solve(C, g)
    Ht = np.linalg.solve(C, np.linalg.solve(C, H).T).T
    w, U = np.linalg.eigh(0.5 * (Ht + Ht.T))
    c = U.T @ gt
    z_of = lambda lam: U @ (c / (lam - w))
    if np.sum((c / -w) ** 2) <= 2 * delta:
        z = z_of(0.0)
    else:
        lo, hi = 0.0, max(1.0, np.linalg.norm(gt) / np.sqrt(2 * delta))
        while np.sum((c / (hi - w)) ** 2) > 2 * delta:
            hi *= 2
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if np.sum((c / (mid - w)) ** 2) > 2 * delta:
                lo = mid
            else:
                hi = mid
        z = z_of(hi)
    return np.linalg.solve(C.T, z)


def _lqr_of(b, j):
    n, m = int(b["n"][j]), int(b["m"][j])
    return lqr.LQR(A=b["A"][j][:n, :n], B=b["B"][j][:n, :m], Q=b["Q"][j][:n, :n], R=b["R"][j][:m, :m],
                   gamma=float(b["gamma"][j]), W=b["W"][j][:n, :n], mu0=b["mu0"][j][:n], Sigma0=b["Sigma0"][j][:n, :n])


def _policy_of(b, j):
    n, m = int(b["n"][j]), int(b["m"][j])
    return lqr.LQRPolicy(K=b["K"][j][:m, :n], b=b["b"][j][:m], log_std=b["log_std"][j][:m])


def _with_mean(pi, u):
    m, n = pi.K.shape
    return lqr.LQRPolicy(K=pi.K + u[: m * n].reshape(m, n), b=pi.b + u[m * n:], log_std=pi.log_std)


def _lemma36(L, pi, delta, *, corrected):
    ev = lqr.evaluate(L, pi)
    m, n = pi.K.shape
    g = lqr.grad_eta(L, pi, ev=ev).theta[: m * (n + 1)]
    H = lqr.hessian_surrogate_mean(L, pi, ev=ev)
    D = lqr.hessian_mean_kl_mean(L, pi, ev=ev)
    u = mean_step((g, H, D), delta)
    new = _with_mean(pi, u)
    dL = lqr.surrogate(L, pi, new, ev=ev) - ev.eta
    h = np.linalg.norm(H, 2) + 1.0
    sigma = float(np.min(pi.std))
    if corrected:  # the Lemma's feasible step needs lambda_max(M) <= 2; in general scale sigma
        sigma = sigma * np.sqrt(min(1.0, 2.0 / np.linalg.eigvalsh(ev.M).max()))
    gn = np.linalg.norm(g)
    bound = gn**2 * min(1 / (2 * h), sigma * np.sqrt(delta) / (2 * gn)) if gn > 0 else 0.0
    return dL, bound, ev, new


def check_gaussian(b, *, corrected: bool = False) -> Outcome:
    """STRO Lemma 3.6 (eq. 3.14) and Theorem 3.8 on discounted LQR with a linear Gaussian policy,
    mean parameters ``(K, b)``, fixed ``log_std`` (exact ``eta``, ``L``, mean KL from :mod:`trustopt.lqr`):

    1. the exact mean step of eq. 3.12 (:func:`mean_step`, KL under the UNNORMALIZED ``rho``) gives
       ``L(mu_{k+1}) - L(mu_k) >= ||g||^2 min(1/(2h), sigma sqrt(delta)/(2||g||))``, ``h = ||grad^2 L|| + 1``;
    2. the trust-region method with that step, the ratio test and the radius rule (Algorithm 3.1)
       has nondecreasing ``eta`` and ``||grad_mu eta|| -> 0`` (Thm. 3.8 with ``sigma_k`` fixed):
       after 80 iterations ``||grad_mu eta|| <= 1e-6 ||grad_mu eta(mu_0)||``.
    Lemma 3.7's ratio bound is VACUOUS here (``Abar = sup |A| = inf`` for quadratic costs, and
    ``p0 = min rho0 = 0`` for a Gaussian start density) and is not checked."""
    n_inst = len(b["gamma"])
    slack, gap, bound, scale = (np.zeros(n_inst) for _ in range(4))
    for j in range(n_inst):
        L, pi, delta = _lqr_of(b, j), _policy_of(b, j), float(b["delta"][j])
        dL, B, ev, _ = _lemma36(L, pi, delta, corrected=corrected)
        s = dL - B
        # Theorem 3.8: the exact trust-region method on the mean
        m_, n_ = pi.K.shape
        g0 = np.linalg.norm(lqr.grad_eta(L, pi, ev=ev).theta[: m_ * (n_ + 1)])
        eta_k, rad, worst_mono = ev.eta, delta, np.inf
        for _ in range(GAUSS_ITERATIONS):
            dLk, _, evk, new = _lemma36(L, pi, rad, corrected=corrected)
            if dLk <= 0:
                break
            eta_new = lqr.eta(L, new)
            r = (eta_new - eta_k) / dLk
            if r >= BETA0:
                worst_mono = min(worst_mono, eta_new - eta_k)
                pi, eta_k = new, eta_new
            rad *= GAMMA1 if r >= BETA1 else (GAMMA2 if r >= BETA0 else GAMMA3)
        gK = np.linalg.norm(lqr.grad_eta(L, pi).theta[: m_ * (n_ + 1)])
        sc = abs(ev.eta) + 1e-300
        conv = (1e-6 * g0 - gK) * sc / max(g0, 1e-300)
        slack[j] = min(s, worst_mono if np.isfinite(worst_mono) else 0.0, conv)
        gap[j], bound[j], scale[j] = B, dL, sc
    return Outcome(slack=slack, scale=scale, bound=bound, gap=gap, rtol=1e-8)


def _draw_gaussian(rng, n):
    m_inst = min(n, 60)
    N, Mx = 3, 2
    keys = {k: [] for k in ("A", "B", "Q", "R", "W", "mu0", "Sigma0", "gamma", "K", "b", "log_std", "delta", "n", "m")}
    for _ in range(m_inst):
        ns, ma = int(rng.integers(1, N + 1)), int(rng.integers(1, Mx + 1))
        gamma = float(rng.choice([0.5, 0.9, 0.95]))
        L = lqr.random_lqr(rng, ns, ma, gamma=gamma)
        pi = lqr.random_policy(rng, L, scale=0.5)
        pad = lambda x, shape: np.pad(np.asarray(x, float), [(0, s - d) for s, d in zip(shape, np.shape(x))])
        for k, v, shp in (("A", L.A, (N, N)), ("B", L.B, (N, Mx)), ("Q", L.Q, (N, N)), ("R", L.R, (Mx, Mx)),
                          ("W", L.W, (N, N)), ("mu0", L.mu0, (N,)), ("Sigma0", L.Sigma0, (N, N)),
                          ("K", pi.K, (Mx, N)), ("b", pi.b, (Mx,)), ("log_std", pi.log_std, (Mx,))):
            keys[k].append(pad(v, shp))
        keys["gamma"].append(gamma)
        keys["delta"].append(float(np.exp(rng.uniform(np.log(1e-3), np.log(1.0)))))
        keys["n"].append(float(ns))
        keys["m"].append(float(ma))
    return [{k: np.array(v) for k, v in keys.items()}]


def exact_gaussian_lqr(inst, *, corrected: bool = False):
    """Certificate of Lemma 3.6's bound (the first part of :func:`check_gaussian`) on the LQR made
    rational (the variances ``exp(2 log_std)`` as printed): ``P`` and ``M`` by exact Lyapunov solves,
    ``g = -2 (H_aa Kx + H_ax) M``, Hessian ``-2 kron(H_aa, M)``, constraint ``kron(Sigma^{-1}, M)``
    (the formulas of the module docstring of :mod:`trustopt.lqr`, recomputed here); weak duality with
    a rational multiplier bounds the maximum gain from above; ``||g||``, ``h`` and ``sigma`` by
    rational intervals (``h`` from an upper bound on ``lambda_max``)."""
    if corrected:
        raise ValueError("the corrected LQR claim has no exact evaluator")
    n, m = int(inst["n"]), int(inst["m"])
    q = lambda k, r, c: [[R.rational(x) for x in row[:c]] for row in np.asarray(inst[k], float)[:r]]
    A, B, Qc, Rc, W, S0 = q("A", n, n), q("B", n, m), q("Q", n, n), q("R", m, m), q("W", n, n), q("Sigma0", n, n)
    mu0 = [R.rational(x) for x in np.asarray(inst["mu0"], float)[:n]]
    K, b = q("K", m, n), [R.rational(x) for x in np.asarray(inst["b"], float)[:m]]
    var = [R.rational(x) for x in np.exp(2 * np.asarray(inst["log_std"], float)[:m])]
    g = R.rational(np.asarray(inst["gamma"]).reshape(()))
    delta = R.rational(np.asarray(inst["delta"]).reshape(()))
    n1, Z = n + 1, R.Q(0)
    Ax = [[A[i][j] if i < n and j < n else R.Q(int(i == j == n)) for j in range(n1)] for i in range(n1)]
    Bx = [[B[i][j] if i < n else Z for j in range(m)] for i in range(n1)]
    Qx = [[Qc[i][j] if i < n and j < n else Z for j in range(n1)] for i in range(n1)]
    Wx = [[W[i][j] if i < n and j < n else Z for j in range(n1)] for i in range(n1)]
    M0 = [[(S0[i][j] + mu0[i] * mu0[j]) if i < n and j < n else (mu0[i] if i < n else (mu0[j] if j < n else R.Q(1)))
           for j in range(n1)] for i in range(n1)]
    Kx = [K[i] + [b[i]] for i in range(m)]
    Acl = [[Ax[i][j] + sum(Bx[i][k] * Kx[k][j] for k in range(m)) for j in range(n1)] for i in range(n1)]
    Sig = [[var[i] if i == j else Z for j in range(m)] for i in range(m)]
    N = [[x + y for x, y in zip(r1, r2)] for r1, r2 in zip(R.matmul(R.matmul(Bx, Sig), R.transpose(Bx)), Wx)]
    KRK = R.matmul(R.matmul(R.transpose(Kx), Rc), Kx)
    P = R.lyapunov(R.transpose(Acl), [[x + y for x, y in zip(r1, r2)] for r1, r2 in zip(Qx, KRK)], g)
    M = R.lyapunov(Acl, [[x + g / (1 - g) * y for x, y in zip(r1, r2)] for r1, r2 in zip(M0, N)], g)
    BtP = R.matmul(R.transpose(Bx), P)
    Haa = [[Rc[i][j] + g * x for j, x in enumerate(row)] for i, row in enumerate(R.matmul(BtP, Bx))]
    Hax = [[g * x for x in row] for row in R.matmul(BtP, Ax)]
    G = R.matmul([[sum(Haa[i][k] * Kx[k][j] for k in range(m)) + Hax[i][j] for j in range(n1)] for i in range(m)], M)
    grad = [-2 * x for row in G for x in row]  # [K, b] row-major: entry (i, j) <-> index i * n1 + j
    grad2 = sum(x * x for x in grad)
    # dual bound: max_u g'u - u' kron(Haa, M) u  s.t.  u' kron(Sigma^-1, M) u / 2 <= delta
    #   <= lam delta + g' (lam kron(Sigma^-1, M) + 2 kron(Haa, M))^{-1} g / 2  for every lam >= 0
    lam_float = _lqr_multiplier(inst)
    idx = [(i, j) for i in range(m) for j in range(n1)]

    def dual(lam):
        Mat = [[(lam * (1 / var[i] if i == k else 0) + 2 * Haa[i][k]) * M[j][l] for (k, l) in idx] for (i, j) in idx]
        return lam * delta + sum(a * c for a, c in zip(grad, R.solve(Mat, grad))) / 2

    lam, dual_value = min(((c, dual(c)) for c in {R.rational(lam_float), R.Q(lam_float).limit_denominator(10**6)} if c >= 0),
                          key=lambda p: p[1])
    h = 2 * R.lambda_max_upper(Haa) * R.lambda_max_upper(M) + 1  # ||-2 kron(Haa, M)|| = 2 lmax(Haa) lmax(M)
    sigma = R.sqrt(min(var))
    gn = R.sqrt(grad2)
    bound = R.imin([grad2 / (2 * h), sigma * R.sqrt(delta) * gn / 2])
    shown = {"A": A, "B": B, "Q": Qc, "R": Rc, "W": W, "mu0": mu0, "Sigma0": S0, "gamma": g, "K": K, "b": b,
             "variance": var, "delta": delta}
    from proofs_check.registry import Certificate

    return Certificate(upper=dual_value - R.lo(bound), instance=shown,
                       sides={"max_gain_upper": dual_value, "bound": bound, "lambda": lam, "M": M})


def _lqr_multiplier(inst):
    """The multiplier of the exact mean step's active constraint (float; :func:`mean_step`'s bisection
    variable in the whitened coordinates equals it)."""
    L, pi, delta = _lqr_of({k: np.asarray(v)[None] for k, v in inst.items()}, 0), \
        _policy_of({k: np.asarray(v)[None] for k, v in inst.items()}, 0), float(np.asarray(inst["delta"]))
    ev = lqr.evaluate(L, pi)
    m, n = pi.K.shape
    g = lqr.grad_eta(L, pi, ev=ev).theta[: m * (n + 1)]
    H = lqr.hessian_surrogate_mean(L, pi, ev=ev)
    D = lqr.hessian_mean_kl_mean(L, pi, ev=ev)
    u = mean_step((g, H, D), delta)
    # stationarity: g + H u = lam D u
    Du = D @ u
    return float(max(0.0, (Du @ (g + H @ u)) / max(Du @ Du, 1e-300)))


_GAUSS_SCHEMA = {k: Field(kind="fixed") for k in ("A", "B", "Q", "R", "W", "mu0", "Sigma0", "gamma", "K", "b", "log_std", "delta", "n", "m")}

_GAUSS_NOTE = (
    "FINDING ABOUT A GENERALIZATION (not a paper error by itself): Lemma 3.6 is stated under Assumption 1 "
    "(finite S, a mean mu(s) free per state); on LQR the means are linear, mu(s) = K s + b, which drops that "
    "assumption. The lemma's feasible "
    "point mu_k + tau g with tau = sigma sqrt(delta)/||g|| has mean KL tau^2 g'(Sigma^-1 (x) M)g/2 <= "
    "delta lambda_max(M)/2 (M = E_rho[x x'], x = [s; 1]), which exceeds delta when lambda_max(M) > 2 -- always "
    "the case with STRO's unnormalized rho (the constant feature alone has mass 1/(1-gamma)). Corrected "
    "statement (claim stro.gaussian-lqr.corrected): replace sigma by sigma sqrt(min(1, 2/lambda_max(M))). "
    "Lemma 3.7 is vacuous on LQR (Abar = inf, p0 = 0)."
)

register(Claim(
    id="stro.gaussian-lqr",
    source=f"{SRC} Lemma 3.6-3.7, Theorem 3.8, eq. 3.11-3.14, generalized to LQR with linear means (outside Assumption 1)",
    statement="LQR, linear Gaussian policy, exact mean step: L(mu_{k+1}) - L(mu_k) >= ||g||^2 min(1/(2h), sigma sqrt(delta)/(2||g||)); "
              "trust-region iterates: eta nondecreasing, ||grad_mu eta|| -> 0",
    kind="algorithm",
    draw=_draw_gaussian,
    check=check_gaussian,
    schema=_GAUSS_SCHEMA,
    max_instances=60,
    search=False,
    expected="violated",
    notes=_GAUSS_NOTE,
    exact=exact_gaussian_lqr,
))

register(Claim(
    id="stro.gaussian-lqr.corrected",
    source=f"{SRC} Lemma 3.6 (corrected for linear means; this library), Theorem 3.8",
    statement="as stro.gaussian-lqr with sigma replaced by sigma sqrt(min(1, 2/lambda_max(E_rho[x x'])))",
    kind="algorithm",
    draw=_draw_gaussian,
    check=lambda b: check_gaussian(b, corrected=True),
    schema=_GAUSS_SCHEMA,
    max_instances=60,
    search=False,
))


# ----------------------------------------------------------------- stro.gaussian (Assumption 1's own setting)
#
# Finite S, actions in R^n, Gaussian policies N(mu(s), diag(sigma^2)) with a mean FREE per state and a
# state-independent sigma (Assumption 1). The family checked: transitions that do not depend on the
# action, P(s'|s), and concave quadratic rewards r(s, a) = -sum_i H[s,i] (a_i - astar[s,i])^2 / 2. Then
# E_{a~N(mu(s), sigma^2)} r(s, a) = -sum_i H[s,i] ((mu[s,i] - astar[s,i])^2 + sigma_i^2) / 2 =: rbar_s(mu),
# rho (unnormalized, STRO sec. 2) does not depend on the policy, and
#   L_{mu_k}(mu) = eta(mu_k) + sum_s rho(s) E_{mu(s)} A_k(s, a) = eta(mu_k) + sum_s rho(s) (rbar_s(mu) - rbar_s(mu_k)),
# a concave quadratic with g = grad_mu L = rho(s) H[s,i] (astar - mu_k)[s,i] and Hessian -diag(rho(s) H[s,i]),
# so h = max_{s,i} rho(s) H[s,i] + 1 (Assumption 2 holds with equality). The constraint of (3.12) is
#   sum_s rho(s) sum_i (mu[s,i] - mu_k[s,i])^2 / (2 sigma_i^2) <= delta,
# and its maximizer is Delta[s,i] = H e / (H + lam / sigma_i^2), e = astar - mu_k, with the multiplier
# lam >= 0 of the active constraint (bisection). The bound (3.14) uses the lower bound sigma_min of
# sigma (Assumption 1); sigma_min = min_i sigma_i is the largest admissible one.


def _gauss_own_parts(b):
    P, rho0, g = (np.asarray(b[k], float) for k in ("P", "rho0", "gamma"))
    H, astar, mu, sigma, delta = (np.asarray(b[k], float) for k in ("H", "astar", "mu", "sigma", "delta"))
    S = P.shape[-1]
    rho = np.linalg.solve(np.eye(S) - g[:, None, None] * np.swapaxes(P, -1, -2), rho0[..., None])[..., 0]
    e = astar - mu
    w = rho[..., None] * H  # (n, S, d): curvature of L per coordinate
    c = rho[..., None] / sigma[:, None, :] ** 2  # (n, S, d): curvature of the constraint (times 2)

    def kl_of(lam):
        D = H * e / (H + lam[:, None, None] / sigma[:, None, :] ** 2)
        return 0.5 * np.sum(c * D**2, axis=(1, 2)), D

    lo = np.zeros(len(g))
    hi = np.ones(len(g))
    for _ in range(80):  # lam <= 2^80 brackets every instance drawn or searched
        hi = np.where(kl_of(hi)[0] > delta, hi * 2, hi)
    for _ in range(120):
        mid = 0.5 * (lo + hi)
        over = kl_of(mid)[0] > delta
        lo, hi = np.where(over, mid, lo), np.where(over, hi, mid)
    free = kl_of(np.zeros(len(g)))[0] <= delta
    lam = np.where(free, 0.0, hi)
    _, D = kl_of(lam)
    gain = 0.5 * np.sum(w * (e**2 - (e - D) ** 2), axis=(1, 2))
    grad = (w * e).reshape(len(g), -1)
    gn = np.linalg.norm(grad, axis=1)
    h = w.reshape(len(g), -1).max(axis=1) + 1.0
    return rho, gain, gn, h, lam, sigma.min(axis=1), delta


def check_gaussian_own(b, *, corrected: bool = False) -> Outcome:
    """STRO Lemma 3.6 (eq. 3.14) in Assumption 1's own setting (see the comment above): the exact
    maximizer of (3.12) gains ``L(mu_{k+1}) - L(mu_k) >= ||g||^2 min(1/(2h), sigma sqrt(delta)/(2||g||))``.
    ``corrected``: ``sigma`` replaced by ``sigma sqrt(2 / max_s rho(s))`` (what the lemma's proof gives
    with the paper's unnormalized ``rho``)."""
    rho, gain, gn, h, lam, sig, delta = _gauss_own_parts(b)
    if corrected:
        sig = sig * np.sqrt(2.0 / rho.max(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(gn > 0, gn**2 * np.minimum(1 / (2 * h), sig * np.sqrt(delta) / (2 * gn)), 0.0)
    scale = gn**2 / h + gn * sig * np.sqrt(delta) + 1e-300
    return Outcome(slack=gain - bound, scale=scale, bound=gain, gap=bound, rtol=1e-8)


def exact_gaussian_own(inst, *, corrected: bool = False):
    """Certificate: weak duality bounds the maximum of (3.12) from above exactly -- for the rational
    multiplier ``lam`` (the float one, made rational) ``max gain <= max_D [gain(D) - lam (KL(D) - delta)]``,
    a separable concave quadratic maximized in closed form -- and the bound (3.14) is enclosed by
    rational intervals (``sqrt``). ``upper = dual bound - lower end of (3.14)``."""
    P, rho0 = R.rational_dist(inst["P"]), R.rational_dist(inst["rho0"])
    g = R.rational(np.asarray(inst["gamma"]).reshape(()))
    H, astar, mu = (R.rational_array(inst[k]) for k in ("H", "astar", "mu"))
    sigma = R.rational_array(inst["sigma"])
    delta = R.rational(np.asarray(inst["delta"]).reshape(()))
    S, n = len(P), len(sigma)
    rho = R.solve([[(1 if s == t else 0) - g * P[t][s] for t in range(S)] for s in range(S)], rho0)
    lam_float = float(_gauss_own_parts({k: np.asarray(v, float)[None] for k, v in inst.items()})[4][0])

    def dual_bound(lam):  # weak duality: valid for every lam >= 0
        total = lam * delta
        for s in range(S):
            for i in range(n):
                e, Hs = astar[s][i] - mu[s][i], H[s][i]
                D = Hs * e / (Hs + lam / sigma[i] ** 2)
                total += rho[s] * Hs * (e**2 - (e - D) ** 2) / 2 - lam * rho[s] * D**2 / (2 * sigma[i] ** 2)
        return total

    # the float multiplier as printed, or a short rational near it (often the exact multiplier)
    lam, dual = min(((q, dual_bound(q)) for q in {R.rational(lam_float), R.Q(lam_float).limit_denominator(10**6)}
                     if q >= 0), key=lambda p: p[1])
    grad2 = sum((rho[s] * H[s][i] * (astar[s][i] - mu[s][i])) ** 2 for s in range(S) for i in range(n))
    hmax = max(rho[s] * H[s][i] for s in range(S) for i in range(n))
    h = hmax + 1
    sig = min(sigma)
    gn = R.sqrt(grad2)
    if corrected:
        sig = sig * R.sqrt(2 / max(rho))
    bound = R.imin([grad2 / (2 * h), R.Interval.of(sig) * R.sqrt(delta) * gn / 2]) if grad2 > 0 else R.Q(0)
    shown = {"P": P, "rho0": rho0, "gamma": g, "H": H, "astar": astar, "mu": mu, "sigma": sigma, "delta": delta}
    from proofs_check.registry import Certificate

    return Certificate(upper=dual - R.lo(bound), instance=shown,
                       sides={"max_gain_upper": dual, "bound": bound, "rho": rho, "lambda": lam, "h": h})


def _draw_gaussian_own(rng, n):
    out = []
    for (S, d), m in draws.split_sizes(rng, min(n, 3000), [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2)]):
        M = testing.random_mdps(rng, m, S, 1, concentration=rng.choice([0.3, 1.0]), rho0_positive=True)
        gamma = np.asarray(M.gamma, float)
        u = rng.random(m)
        gamma = np.where(u < 0.1, 0.0, np.where(u < 0.3, 0.9, np.where(u < 0.45, 0.99, gamma)))
        out.append({"P": np.asarray(M.P)[:, :, 0, :], "rho0": np.asarray(M.rho0), "gamma": gamma,
                    "H": np.exp(rng.uniform(-2, 2, (m, S, d))), "astar": rng.normal(0, 3, (m, S, d)),
                    "mu": rng.normal(0, 1, (m, S, d)), "sigma": np.exp(rng.uniform(-1.5, 1.0, (m, d))),
                    "delta": np.exp(rng.uniform(np.log(1e-3), np.log(1.0), m))})
    return out


_GAUSS_OWN_SCHEMA = {"P": Field(kind="dist", axes=("S", "S")), "rho0": Field(kind="dist", axes=("S",)),
                     "gamma": Field(kind="gamma"), "H": Field(kind="positive", axes=("S", "d")),
                     "astar": Field(kind="real", axes=("S", "d")), "mu": Field(kind="real", axes=("S", "d")),
                     "sigma": Field(kind="positive", axes=("d",)), "delta": Field(kind="positive")}

_GAUSS_OWN_NOTE = (
    "FINDING (false under the paper's assumptions): Lemma 3.6 fails in its own setting -- finite S, "
    "Gaussian policies with a mean free per state and a state-independent sigma (Assumption 1), Assumption 2, "
    "and the paper's unnormalized rho (STRO sec. 2; the constraint of (3.12) weighs the KL by rho, total mass "
    "1/(1-gamma)). Exact witness: one state, one action dimension, gamma = 9/10, r(a) = -(a - 10)^2/2, "
    "mu_k = 0, sigma = 1, delta = 1/5. Then rho = 10, g = 100, h = 11, the trust region is |mu - mu_k| <= "
    "sigma sqrt(2 delta (1-gamma)) = 1/5, the maximizer gains 10 (100 - 9.8^2)/2 = 99/5, and (3.14) asks for "
    "||g|| sigma sqrt(delta)/2 = 10 sqrt(5) > 99/5 (since (99/5)^2 = 392.04 < 500). The proof's feasible point "
    "mu_k + tau g, tau = sigma sqrt(delta)/||g||, has KL tau^2 sum_s rho(s) g_s^2/(2 sigma^2) <= delta max_s rho(s)/2, "
    "which exceeds delta once max_s rho(s) > 2 (one state: gamma > 1/2); the bound itself fails for one state "
    "whenever 2 sqrt(2 (1-gamma)) < 1, i.e. gamma > 7/8. Corrected statement (claim stro.gaussian.corrected, "
    "the proof redone): replace sigma by sigma sqrt(2 / max_s rho(s)); with a normalized weighting "
    "(max rho <= 1) the printed bound holds. Checked family: action-independent transitions and concave "
    "quadratic rewards (exact L, exact maximizer; in it L = eta, so Lemma 3.7 is checked on another family of "
    "the same setting, with action-dependent transitions: claim stro.gaussian.lemma3.7)."
)

register(Claim(
    id="stro.gaussian",
    source=f"{SRC} Lemma 3.6, eq. 3.12-3.14, Assumptions 1-2 (own setting: finite S, free per-state means)",
    statement="finite S, pi(.|s) = N(mu(s), diag sigma^2), exact maximizer of (3.12) with the unnormalized rho: "
              "L(mu_{k+1}) - L(mu_k) >= ||g||^2 min(1/(2h), sigma sqrt(delta)/(2||g||))",
    kind="inequality",
    draw=_draw_gaussian_own,
    check=check_gaussian_own,
    schema=_GAUSS_OWN_SCHEMA,
    expected="violated",
    max_instances=3000,
    notes=_GAUSS_OWN_NOTE,
    exact=exact_gaussian_own,
))

register(Claim(
    id="stro.gaussian.corrected",
    source=f"{SRC} Lemma 3.6 (corrected: sigma -> sigma sqrt(2 / max_s rho(s)); this library)",
    statement="as stro.gaussian with sigma replaced by sigma sqrt(2 / max_s rho(s))",
    kind="inequality",
    draw=_draw_gaussian_own,
    check=lambda b: check_gaussian_own(b, corrected=True),
    schema=_GAUSS_OWN_SCHEMA,
    max_instances=3000,
    notes="Proof: mu_k + tau g is feasible for tau <= sigma sqrt(2 delta / max_s rho(s)) / ||g|| (its KL is "
          "tau^2 sum_s rho(s) g_s^2 / (2 sigma^2) <= tau^2 max_s rho(s) ||g||^2 / (2 sigma^2)); the rest of STRO's "
          "proof (eq. 3.15-3.18) is unchanged.",
    exact=lambda inst: exact_gaussian_own(inst, corrected=True),
))


# ----------------------------------------------------------------- stro.gaussian.lemma3.7 (own setting)
#
# Lemma 3.7 needs transitions that depend on the action (else L = eta and r_k = 1) and a finite
# Abar_k = max_{s,a} |A_k(s, a)| (bounded rewards). The family: finite S, actions a in R, Gaussian
# policies N(mu(s), sigma^2) with a mean free per state and a state-independent sigma (Assumption 1).
# State 0 mixes two rows with the bounded weight w(a) = (1 + cos a)/2:
#   P(.|0, a) = w(a) P[0,0] + (1 - w(a)) P[0,1],   r(0, a) = w(a) r[0,0] + (1 - w(a)) r[0,1];
# every other state s uses P[s,0], r[s,0] whatever the action (its mean is free but irrelevant).
# With E = exp(-sigma^2/2), E_{a~N(mu,sigma^2)} cos a = E cos mu, so the policy acts as the two-action
# policy (w, 1-w), w = (1 + E cos mu)/2, at state 0 (exact evaluation), and
#   A_k(0, a) = -kappa E cos mu_k + kappa cos a,   kappa = (Q_k(0, +) - Q_k(0, -))/2,
#   L_k(mu) - L_k(mu_k) = rho_k(0) kappa E (cos mu - cos mu_k),   g_k = -rho_k(0) kappa E sin mu_k,
#   Abar_k = |kappa| (1 + E |cos mu_k|),   hk = rho_k(0) |kappa| E max_{|m - mu_k| <= R} |cos m| + 1,
# with the paper's unnormalized rho_k and the trust region of (3.12) |mu(0) - mu_k(0)| <= R =
# sigma sqrt(2 delta / rho_k(0)) (the other means stay: they only spend budget). Instances on which
# [mu_k - R, mu_k + R] contains no multiple of pi (kappa cos monotone there) and kappa cos(mu_{k+1}) > 0
# are counted: then the maximizer of (3.12) is the end mu_{k+1} = mu_k + R sign(g_k), and the sigma
# step (3.13) keeps sigma_{k+1} = sigma_k (the mean step spends the whole budget, every smaller sigma
# raises the KL of every state, and L decreases in sigma), so the trial point of (3.2) is exact.


def _lemma37_mdp(b):
    P, r = np.array(b["P"], float), np.array(b["r"], float)
    P[:, 1:, 1, :], r[:, 1:, 1] = P[:, 1:, 0, :], r[:, 1:, 0]  # states >= 1: the action does not matter
    return tabular.TabularMDP(P, r, np.asarray(b["rho0"], float), np.asarray(b["gamma"], float))


def _lemma37_pi(w, S):
    pi = np.zeros((len(w), S, 2))
    pi[:, :, 0] = 1.0
    pi[:, 0, 0], pi[:, 0, 1] = w, 1 - w
    return pi


def check_lemma37(b, *, corrected: bool = False) -> Outcome:
    """STRO Lemma 3.7, eq. 3.19, in Assumption 1's own setting (the family in the comment above):
    the ratio (3.2) of the exact trial point satisfies ``r_k >= 1 - c``,
    ``c = 8 Abar_k gamma delta^2 max(||g_k|| / (sigma_k sqrt(delta)), h_k) / (p0^2 (1-gamma)^2 ||g_k||^2)``,
    ``p0 = min_s rho0(s)``. Checked multiplied out, ``eta(mu_{k+1}) - eta(mu_k) - (1 - c)(L(mu_{k+1}) - L(mu_k)) >= 0``
    (the denominator is > 0). Tightness: ``1 - r_k`` over ``c``. ``corrected``: ``c`` replaced by
    ``4 Abar_k gamma delta max(||g_k|| / (sigma' sqrt(delta)), h_k) / (p0 (1-gamma)^2 ||g_k||^2)``,
    ``sigma' = sigma sqrt(2 / max_s rho_k(s))`` (see the finding's note)."""
    M = _lemma37_mdp(b)
    S = np.asarray(b["P"]).shape[1]
    g_ = np.asarray(b["gamma"], float)
    mu, sig, delta = (np.asarray(b[k], float).reshape(-1) for k in ("mu", "sigma", "delta"))
    E = np.exp(-sig**2 / 2)
    ev = tabular.evaluate(M, _lemma37_pi((1 + E * np.cos(mu)) / 2, S))
    Q = np.asarray(ev.Q, float)
    kappa = (Q[:, 0, 0] - Q[:, 0, 1]) / 2
    rho0k = np.asarray(ev.rho, float)[:, 0]
    grad = -rho0k * kappa * E * np.sin(mu)
    R_ = sig * np.sqrt(2 * delta / rho0k)
    new = mu + R_ * np.sign(grad)
    valid = (np.floor((mu + R_) / np.pi) == np.floor((mu - R_) / np.pi)) & (kappa * np.cos(new) > 0) & (grad != 0)
    dL = rho0k * kappa * E * (np.cos(new) - np.cos(mu))
    eta_new = np.asarray(tabular.evaluate(M, _lemma37_pi((1 + E * np.cos(new)) / 2, S)).eta, float)
    gn = np.abs(grad)
    Abar = np.abs(kappa) * (1 + E * np.abs(np.cos(mu)))
    h = rho0k * np.abs(kappa) * E * np.maximum(np.abs(np.cos(mu - R_)), np.abs(np.cos(mu + R_))) + 1
    p0 = np.asarray(b["rho0"], float).min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if corrected:
            sig_c = sig * np.sqrt(2 / np.asarray(ev.rho, float).max(axis=1))
            c = 4 * Abar * g_ * delta * np.maximum(gn / (sig_c * np.sqrt(delta)), h) / (p0 * (1 - g_) ** 2 * gn**2)
        else:
            c = 8 * Abar * g_ * delta**2 * np.maximum(gn / (sig * np.sqrt(delta)), h) / (p0**2 * (1 - g_) ** 2 * gn**2)
        c = np.where(valid, c, 0.0)
        slack = np.where(valid, (eta_new - ev.eta) - (1 - c) * dL, 0.0)
        # 1 - r_k is reported only where L - eta is above the round-off of eta's difference
        # (value scale times 1e-10): a ratio of two round-off-sized numbers is no tightness
        scale = draws.value_scale(b)
        measurable = valid & (dL - (eta_new - ev.eta) > 1e-10 * scale)
        one_minus_r = np.where(measurable, 1 - (eta_new - ev.eta) / dL, 0.0)
    return Outcome(slack=slack, scale=scale, bound=c, gap=one_minus_r, valid=valid, rtol=1e-8)


def exact_lemma37(inst, *, corrected: bool = False):
    """Certificate for :func:`check_lemma37`: the MDP and ``mu_k, sigma, delta`` as rationals; ``E``,
    ``cos``, ``sin`` and ``sqrt`` enclosed by rational intervals; exact policy evaluation over those
    intervals (:func:`_rational.evaluate`). The case conditions (no multiple of pi in the trust
    region -- checked as: its width is below 3 < pi and ``sin`` has one strict sign at both ends --
    and ``kappa cos(mu_{k+1}) > 0``) are proved on the intervals, else this raises."""
    P, r = R.rational_dist(inst["P"]), R.rational_array(inst["r"])
    rho0 = R.rational_dist(inst["rho0"])
    g = R.rational(np.asarray(inst["gamma"]).reshape(()))
    mu, sig, delta = (R.rational(np.asarray(inst[k]).reshape(())) for k in ("mu", "sigma", "delta"))
    S = len(P)
    for s in range(1, S):
        P[s][1], r[s][1] = P[s][0], r[s][0]
    M = R.MDP(P, r, rho0, g)
    E = R.exp(-sig**2 / 2)

    def policy(cos_mu):
        w = (1 + E * cos_mu) / 2
        return [[w, 1 - w]] + [[R.Q(1), R.Q(0)] for _ in range(1, S)]

    cmu, smu = R.cos_sin(mu)
    ev = R.evaluate(M, policy(cmu))
    kappa = (ev.Q[0][0] - ev.Q[0][1]) / 2
    rho_0 = ev.rho[0]
    grad = -rho_0 * kappa * E * smu
    Rad = sig * R.sqrt(2 * delta / rho_0)
    if R.hi(2 * Rad) >= 3:
        raise ValueError("trust region wider than 3: the case analysis needs it below pi")
    (c_lo, s_lo), (c_hi, s_hi) = R.cos_sin(mu - Rad), R.cos_sin(mu + Rad)
    if not ((s_lo.lo > 0 and s_hi.lo > 0) or (s_lo.hi < 0 and s_hi.hi < 0)):
        raise ValueError("cannot prove that the trust region holds no multiple of pi")
    if R.lo(grad) > 0:
        new, c_new = mu + Rad, c_hi
    elif R.hi(grad) < 0:
        new, c_new = mu - Rad, c_lo
    else:
        raise ValueError("the sign of g_k is not proved")
    if not R.lo(kappa * c_new) > 0:
        raise ValueError("kappa cos(mu_{k+1}) > 0 is not proved (the sigma step may move)")
    dL = rho_0 * kappa * E * (c_new - cmu)
    eta_new = R.evaluate(M, policy(c_new)).eta
    gn = R.iabs(grad)
    Abar = R.iabs(kappa) * (1 + E * R.iabs(cmu))
    h = rho_0 * R.iabs(kappa) * E * R.imax([R.iabs(c_lo), R.iabs(c_hi)]) + 1
    p0 = min(rho0)
    if corrected:
        sig_c = sig * R.sqrt(2 / R.imax(ev.rho))
        c = 4 * Abar * g * delta * R.imax([gn / (sig_c * R.sqrt(delta)), h]) / (p0 * (1 - g) ** 2 * gn * gn)
    else:
        c = 8 * Abar * g * delta**2 * R.imax([gn / (sig * R.sqrt(delta)), h]) / (p0**2 * (1 - g) ** 2 * gn * gn)
    slack = (eta_new - ev.eta) - (1 - c) * dL
    shown = {"P": P, "r": r, "rho0": rho0, "gamma": g, "mu": mu, "sigma": sig, "delta": delta}
    return R.certificate(slack, shown, {"ratio": (eta_new - ev.eta) / dL, "one_minus_c": 1 - c, "kappa": kappa,
                                        "rho_k(0)": rho_0, "g": grad, "h": h, "Abar": Abar, "mu_next": new},
                         gap=1 - (eta_new - ev.eta) / dL, bound=c)


def _draw_lemma37(rng, n):
    out = []
    for S, m in draws.split_sizes(rng, min(n, 3000), [2, 3, 4]):
        M = testing.random_mdps(rng, m, S, 2, concentration=rng.choice([0.3, 1.0]), rho0_positive=True)
        gamma = np.asarray(M.gamma, float)
        u = rng.random(m)
        gamma = np.where(u < 0.1, 0.0, np.where(u < 0.3, 0.9, np.where(u < 0.45, 0.99, gamma)))
        out.append({"P": np.asarray(M.P), "r": np.asarray(M.r), "rho0": np.asarray(M.rho0), "gamma": gamma,
                    "mu": rng.uniform(-np.pi, np.pi, m), "sigma": np.exp(rng.uniform(-1.5, 1.0, m)),
                    "delta": np.exp(rng.uniform(np.log(1e-5), np.log(1.0), m))})
    return out


_LEMMA37_SCHEMA = {"P": Field(kind="dist", axes=("S", None, "S")), "r": Field(kind="real", axes=("S", None)),
                   "rho0": Field(kind="dist", axes=("S",)), "gamma": Field(kind="gamma"), "mu": Field(kind="real"),
                   "sigma": Field(kind="positive"), "delta": Field(kind="positive")}

_LEMMA37_NOTE = (
    "FINDING (false under the paper's assumptions): Lemma 3.7 (eq. 3.19) fails in its own setting -- finite S, "
    "Gaussian policies with a mean free per state and a state-independent sigma (Assumption 1), Assumption 2, "
    "p0 = min rho0 > 0, bounded rewards (Abar finite), the exact maximizer of (3.12) and the paper's unnormalized "
    "rho. Exact witness (certified by --certify stro.gaussian.lemma3.7): S = {0, 1}, gamma = 1/2, rho0 = (1/2, 1/2); "
    "at state 0 the action a moves to state 1 with reward 1 with probability (1 + cos a)/2 and else stays at 0 "
    "with reward 0; state 1 returns to 0 with reward 0; mu_k(0) = 1, sigma = 1, delta = 1/10000. Then "
    "1 - r_k = 0.0012695... > c = 0.00014784... (eq. 3.19's deficit), i.e. r_k = 0.998730... < 1 - c = 0.999852... "
    "Cause: the proof's first inequality (TRPO Theorem 1) needs alpha^2 = max_s TV_s^2 <= max_s KL_s / 2 <= "
    "delta / (2 p0) (Pinsker; rho >= rho0 >= p0), not delta^2 / p0^2: 1 - r_k is of order sqrt(delta) while (3.19) "
    "allows delta^(3/2), so every instance where L over-estimates eta at second order violates it for small delta. "
    "Corrected statement (claim stro.gaussian.lemma3.7.corrected; also using the corrected Lemma 3.6): "
    "r_k >= 1 - 4 Abar gamma delta max(||g|| / (sigma' sqrt(delta)), h) / (p0 (1-gamma)^2 ||g||^2), "
    "sigma' = sigma sqrt(2 / max_s rho(s)). Theorem 3.8 (liminf ||grad_mu eta|| = 0, and lim under Lipschitz "
    "gradients) is asymptotic, not a finite statement, and is not checked; its proof goes through with the "
    "corrected bound (its deficit still tends to 0 as delta -> 0, as delta^(1/2) instead of delta^(3/2))."
)

register(Claim(
    id="stro.gaussian.lemma3.7",
    source=f"{SRC} Lemma 3.7, eq. 3.2, 3.12-3.13, 3.19-3.20, Assumptions 1-2 (own setting: finite S, free per-state means)",
    statement="finite S, pi(.|s) = N(mu(s), sigma^2), bounded rewards, exact trial point of (3.12)-(3.13) with the "
              "unnormalized rho: r_k >= 1 - 8 Abar gamma delta^2 max(||g||/(sigma sqrt(delta)), h) / (p0^2 (1-gamma)^2 ||g||^2)",
    kind="inequality",
    draw=_draw_lemma37,
    check=check_lemma37,
    schema=_LEMMA37_SCHEMA,
    expected="violated",
    max_instances=3000,
    notes=_LEMMA37_NOTE,
    exact=exact_lemma37,
))

register(Claim(
    id="stro.gaussian.lemma3.7.corrected",
    source=f"{SRC} Lemma 3.7 (corrected: delta^2/p0^2 -> delta/(2 p0), sigma -> sigma sqrt(2 / max_s rho(s)); this library)",
    statement="as stro.gaussian.lemma3.7 with the deficit 4 Abar gamma delta max(||g||/(sigma' sqrt(delta)), h) / "
              "(p0 (1-gamma)^2 ||g||^2), sigma' = sigma sqrt(2 / max_s rho(s))",
    kind="inequality",
    draw=_draw_lemma37,
    check=lambda b: check_lemma37(b, corrected=True),
    schema=_LEMMA37_SCHEMA,
    max_instances=3000,
    notes="Proof: TRPO Theorem 1 with alpha^2 = max_s TV_s^2 <= max_s KL_s / 2 <= delta / (2 p0) gives "
          "eta - L >= -2 Abar gamma delta / (p0 (1-gamma)^2), and the corrected Lemma 3.6 (stro.gaussian.corrected) "
          "bounds L(mu_{k+1}) - L(mu_k) below by ||g||^2 / (2 max(h, ||g|| / (sigma' sqrt(delta)))). Very loose "
          "on this family (worst 1 - r_k is below 1% of the deficit).",
    exact=lambda inst: exact_lemma37(inst, corrected=True),
))
