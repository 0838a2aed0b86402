"""Claims of TRPO (Schulman et al. 2015, ``papers/trpo-trust-region-policy-optimization.txt``).

Every quantity comes from the exact tabular oracle (:mod:`trustopt.tabular`); gradients are
checked against complex-step derivatives of an independent evaluator (:mod:`._exact`).
"""

from __future__ import annotations

import numpy as np

from trustopt import tabular
from proofs_check import _rational as R, draws
from proofs_check._exact import grad_eta_complex_step, state_distributions, transition_matrix
from proofs_check.registry import Claim, Field, Outcome, register

SRC = "trpo-trust-region-policy-optimization.txt"


def _pair(b):
    """Exact quantities of an instance pair ``(pi, pi_new)``."""
    M = draws.mdp(b)
    pi, pit = b["pi"], b["pi_new"]
    ev = tabular.evaluate(M, pi)
    evt = tabular.evaluate(M, pit)
    L = tabular.surrogate(M, pi, pit, ev=ev)
    g = np.asarray(b["gamma"], float)
    eps = np.abs(ev.A).reshape(len(g), -1).max(axis=1)
    return M, ev, evt, np.asarray(L, float), g, eps


def _exact_pair(inst):
    """Exact ``(M, pi, pit, ev, evt, L, eps, alpha, shown)`` of an instance made rational."""
    M, pol, shown = R.tabular_instance(inst, "pi", "pi_new")
    pi, pit = pol["pi"], pol["pi_new"]
    ev, evt = R.evaluate(M, pi), R.evaluate(M, pit)
    return M, pi, pit, ev, evt, R.surrogate(M, ev, pit), R.max_abs(ev.A), R.max_tv(pi, pit), shown


def exact_trpo_tv(inst, *, constant=4):
    """Certificate of Theorem 1: ``gap = L_pi(pit) - eta(pit)``, ``bound = 4 eps gamma alpha^2/(1-gamma)^2``."""
    M, pi, pit, ev, evt, L, eps, alpha, shown = _exact_pair(inst)
    g = M.gamma
    bound = R.Q(constant) * eps * g * alpha**2 / (1 - g) ** 2
    return R.inequality(L - evt.eta, bound, shown, L=L, eta_new=evt.eta, eps=eps, alpha=alpha)


def exact_trpo_kl(inst, *, constant=4, reverse=False):
    """Certificate of eq. 9 (the KL enclosed by rational intervals)."""
    M, pi, pit, ev, evt, L, eps, alpha, shown = _exact_pair(inst)
    g = M.gamma
    kl = R.imax(R.kl(b, a) if reverse else R.kl(a, b) for a, b in zip(pi, pit))
    bound = R.Q(constant) * eps * g / (1 - g) ** 2 * kl
    return R.inequality(L - evt.eta, bound, shown, L=L, eta_new=evt.eta, eps=eps, max_kl=kl)


def _exact_abar(M, pit, ev):
    return [sum(pit[s][a] * ev.A[s][a] for a in range(M.A)) for s in range(M.S)]


def exact_lemma2(inst):
    M, pi, pit, ev, evt, L, eps, alpha, shown = _exact_pair(inst)
    abar = _exact_abar(M, pit, ev)
    return R.inequality(max(abs(x) for x in abar), 2 * alpha * eps, shown, alpha=alpha, eps=eps)


def _exact_lemma3(inst, bound_t):
    """The tightest ``t < T_LEMMA3`` of ``X_t <= B_t``, ``X_t = |E_{s_t~pit} Abar - E_{s_t~pi} Abar|``."""
    M, pi, pit, ev, evt, L, eps, alpha, shown = _exact_pair(inst)
    abar = _exact_abar(M, pit, ev)
    d_pi = R.state_distributions(M, pi, T_LEMMA3)
    d_pt = R.state_distributions(M, pit, T_LEMMA3)
    pairs = [(abs(sum((d_pt[t][s] - d_pi[t][s]) * abar[s] for s in range(M.S))), bound_t(t, alpha, eps, abar))
             for t in range(T_LEMMA3)]
    X, B = R.tightest(pairs)
    return R.inequality(X, B, shown, t=pairs.index((X, B)), alpha=alpha, eps=eps)


def exact_lemma3(inst):
    return _exact_lemma3(inst, lambda t, alpha, eps, abar: 4 * alpha * (1 - (1 - alpha) ** t) * eps)


def exact_lemma3_middle(inst):
    return _exact_lemma3(inst, lambda t, alpha, eps, abar: 2 * alpha * max(abar))


def _exact_perturbation(inst, *, with_reward_term):
    """TRPO eq. 50: ``gamma v Delta rho_pi`` (``Delta = P_pit^T - P_pi^T``, ``v = V_pi``) against
    ``L_pi(pit) - L_pi(pi)``; with ``with_reward_term`` the corrected left side."""
    M, pi, pit, ev, evt, L, eps, alpha, shown = _exact_pair(inst)
    Ppi, Ppt = M.P_pi(pi), M.P_pi(pit)
    first = M.gamma * sum(ev.rho[t] * (Ppt[t][s] - Ppi[t][s]) * ev.V[s] for t in range(M.S) for s in range(M.S))
    if with_reward_term:
        first += sum(ev.rho[s] * (pit[s][a] - pi[s][a]) * M.r[s][a] for s in range(M.S) for a in range(M.A))
    dL = L - R.surrogate(M, ev, pi)
    return R.identity(first, dL, shown)


# ------------------------------------------------------------------ surrogate.first-order


def check_first_order(b) -> Outcome:
    """``L_{pi_theta0}(pi_theta0) = eta(theta0)`` and ``grad L = grad eta`` at ``theta0``
    (TRPO eq. 4): the library's :func:`tabular.grad_surrogate_softmax` against a complex-step
    derivative of an independent evaluator of ``eta``."""
    theta = np.asarray(b["theta"], float)
    M = draws.mdp(b)
    pi = tabular.softmax_policy(theta)
    ev = tabular.evaluate(M, pi)
    L0 = np.asarray(tabular.surrogate(M, pi, pi, ev=ev), float)
    gL = tabular.grad_surrogate_softmax(M, pi, theta, ev=ev)
    g_ref = grad_eta_complex_step(b["P"], b["r"], b["rho0"], b["gamma"], theta)
    scale = draws.value_scale(b)
    err = np.maximum(np.abs(L0 - ev.eta), np.abs(gL - g_ref).reshape(len(scale), -1).max(axis=1))
    return Outcome(slack=-err, scale=scale)


def _draw_theta(rng, n):
    out = []
    for b in draws.tabular(rng, n, policies=()):
        m, S, A = b["r"].shape
        scale = rng.choice([0.3, 1.0, 3.0, 8.0])
        b["theta"] = scale * rng.standard_normal((m, S, A))
        out.append(b)
    return out


register(Claim(
    id="surrogate.first-order",
    source=f"{SRC} eq. 4; STRO eq. 2.7",
    statement="softmax pi_theta: L_{pi_theta0}(pi_theta0) = eta(theta0) and grad_theta L_{pi_theta0}(pi_theta)|theta0 = grad eta(theta0)",
    kind="identity",
    draw=_draw_theta,
    check=check_first_order,
    schema={**draws.TABULAR_SCHEMA, "theta": Field(kind="real", axes=("S", "A"))},
))


# ------------------------------------------------------------ identity.trpo-perturbation


def _perturbation_parts(b):
    """TRPO App. B in the density (column) convention: ``G = (I - gamma P_pi^T)^{-1}``
    maps ``rho0`` to ``rho_pi``; ``Delta = P_pit^T - P_pi^T``; ``v = V_pi``."""
    M, ev, evt, L, g, eps = _pair(b)
    S = M.n_states
    Ppi = transition_matrix(b["P"], b["pi"])
    Ppt = transition_matrix(b["P"], b["pi_new"])
    I = np.eye(S)
    G = np.linalg.inv(I - g[:, None, None] * np.swapaxes(Ppi, -1, -2))
    Gt = np.linalg.inv(I - g[:, None, None] * np.swapaxes(Ppt, -1, -2))
    Delta = np.swapaxes(Ppt - Ppi, -1, -2)
    resolvent = np.abs(Gt - G - g[:, None, None] * G @ Delta @ Gt).reshape(len(g), -1).max(axis=1)
    first = g * np.einsum("ns,nst,nt->n", ev.V, Delta, ev.rho)
    L_old = np.asarray(tabular.surrogate(M, b["pi"], b["pi"], ev=ev), float)
    return resolvent, first, L - L_old, ev, g


def check_perturbation(b) -> Outcome:
    """TRPO App. B eq. 47 (``Gt = G + gamma G Delta Gt``) and eq. 50
    (``gamma v Delta rho_pi = L_pi(pit) - L_pi(pi)``), for rewards ``r(s, a)``."""
    resolvent, first, dL, ev, g = _perturbation_parts(b)
    scale = draws.value_scale(b)
    err = np.maximum(resolvent * (1 - g) * scale, np.abs(first - dL))
    return Outcome(slack=-err, scale=scale)


def check_perturbation_corrected(b) -> Outcome:
    """Corrected eq. 50 for action-dependent rewards:
    ``gamma v Delta rho_pi + sum_s rho_pi(s) sum_a (pit - pi)(a|s) r(s, a) = L_pi(pit) - L_pi(pi)``
    (and eq. 47 unchanged)."""
    resolvent, first, dL, ev, g = _perturbation_parts(b)
    reward_term = np.einsum("ns,nsa,nsa->n", ev.rho, b["pi_new"] - b["pi"], b["r"])
    scale = draws.value_scale(b)
    err = np.maximum(resolvent * (1 - g) * scale, np.abs(first + reward_term - dL))
    return Outcome(slack=-err, scale=scale)


_PERTURBATION_NOTE = (
    "FINDING (a generalization beyond the paper's assumptions fails; not a paper error): TRPO eq. 50 uses a "
    "state reward r(s) (TRPO sec. 2 defines r: S -> R, and the proof writes r(s)). Under the "
    "catalogue's convention r[s, a] the first-order term gamma v Delta rho_pi misses "
    "sum_s rho_pi(s) sum_a (pit - pi)(a|s) r(s, a), because sum_a (pit - pi) r(s, a) no longer "
    "vanishes. Corrected statement (claim identity.trpo-perturbation.corrected): "
    "gamma v Delta rho_pi + sum_s rho_pi(s) sum_a (pit(a|s) - pi(a|s)) r(s, a) = L_pi(pit) - L_pi(pi); "
    "the resolvent identity Gt = G + gamma G Delta Gt (eq. 47) holds as stated. In TRPO's own setting, state "
    "rewards r(s), the original statement holds (claim identity.trpo-perturbation.state-reward)."
)

register(Claim(
    id="identity.trpo-perturbation",
    source=f"{SRC} App. B eq. 47-50",
    statement="Gt = G + gamma G Delta Gt; first-order term gamma v Delta rho_pi = L_pi(pit) - L_pi(pi) (rewards r(s, a))",
    kind="identity",
    draw=draws.tabular,
    check=check_perturbation,
    schema=draws.schema("pi", "pi_new"),
    expected="violated",
    notes=_PERTURBATION_NOTE,
    exact=lambda inst: _exact_perturbation(inst, with_reward_term=False),
))

register(Claim(
    id="identity.trpo-perturbation.corrected",
    source=f"{SRC} App. B eq. 47-50 (corrected for r(s, a); this library)",
    statement="Gt = G + gamma G Delta Gt; gamma v Delta rho_pi + sum_s rho_pi sum_a (pit - pi) r = L_pi(pit) - L_pi(pi)",
    kind="identity",
    draw=draws.tabular,
    check=check_perturbation_corrected,
    schema=draws.schema("pi", "pi_new"),
    notes="The original eq. 50 (without the reward term) is checked on state rewards r(s) by "
          "identity.trpo-perturbation.state-reward.",
    exact=lambda inst: _exact_perturbation(inst, with_reward_term=True),
))

register(Claim(
    id="identity.trpo-perturbation.state-reward",
    source=f"{SRC} App. B eq. 47-50 (TRPO's own setting r = r(s))",
    statement="with state rewards r(s): Gt = G + gamma G Delta Gt and gamma v Delta rho_pi = L_pi(pit) - L_pi(pi)",
    kind="identity",
    draw=lambda rng, n: draws.tabular(rng, n, state_reward=True),
    check=check_perturbation,
    schema=draws.schema("pi", "pi_new", r=Field(kind="fixed", axes=("S", "A"))),
    exact=lambda inst: _exact_perturbation(inst, with_reward_term=False),
))


# ---------------------------------------------------------------------- bound.trpo-tv / kl


def check_trpo_tv(b, *, constant=4.0) -> Outcome:
    """TRPO Theorem 1: ``L_pi(pit) - eta(pit) <= 4 eps gamma alpha^2 / (1-gamma)^2``,
    ``alpha = max_s TV_s``, ``eps = max_{s,a} |A_pi|``."""
    M, ev, evt, L, g, eps = _pair(b)
    alpha = tabular.max_tv(b["pi"], b["pi_new"])
    bound = constant * eps * g * alpha**2 / (1 - g) ** 2
    gap = L - evt.eta
    return Outcome(slack=bound - gap, scale=draws.value_scale(b), bound=bound)


register(Claim(
    id="bound.trpo-tv",
    source=f"{SRC} Theorem 1 (eq. 8), proofs App. A and B",
    statement="eta(pit) >= L_pi(pit) - 4 eps gamma alpha^2 / (1-gamma)^2, alpha = max_s TV(pi(.|s), pit(.|s)), eps = max_{s,a} |A_pi(s,a)|",
    kind="inequality",
    draw=draws.tabular,
    check=check_trpo_tv,
    schema=draws.schema("pi", "pi_new"),
    exact=exact_trpo_tv,
))


def check_trpo_kl(b, *, reverse=False, constant=4.0) -> Outcome:
    """TRPO eq. 9: ``L_pi(pit) - eta(pit) <= C max_s KL(pi_s || pit_s)``, ``C = 4 eps gamma/(1-gamma)^2``."""
    M, ev, evt, L, g, eps = _pair(b)
    kl = tabular.max_kl(b["pi_new"], b["pi"]) if reverse else tabular.max_kl(b["pi"], b["pi_new"])
    C = constant * eps * g / (1 - g) ** 2
    with np.errstate(invalid="ignore"):
        bound = np.where(C > 0, C * kl, 0.0)
    gap = L - evt.eta
    return Outcome(slack=bound - gap, scale=draws.value_scale(b), bound=bound)


register(Claim(
    id="bound.trpo-kl",
    source=f"{SRC} eq. 9",
    statement="eta(pit) >= L_pi(pit) - C max_s KL(pi(.|s) || pit(.|s)), C = 4 eps gamma / (1-gamma)^2",
    kind="inequality",
    draw=draws.tabular,
    check=check_trpo_kl,
    schema=draws.schema("pi", "pi_new"),
    notes="Follows from Theorem 1 and TV^2 <= KL/2 <= KL, so it holds with the KL in either "
          "direction (Pinsker holds for both); with TV^2 <= KL/2 the constant C could be halved.",
    exact=exact_trpo_kl,
))


# ------------------------------------------------------------------------ ineq.pinsker


def check_pinsker_categorical(b) -> Outcome:
    """Per state ``TV_s^2 <= KL_s / 2`` for both ``KL(pi || pit)`` and ``KL(pit || pi)``
    (:func:`tabular.tv`, :func:`tabular.kl`)."""
    tv2 = tabular.tv(b["pi"], b["pi_new"]) ** 2
    kl = np.minimum(tabular.kl(b["pi"], b["pi_new"]), tabular.kl(b["pi_new"], b["pi"]))
    with np.errstate(invalid="ignore"):
        slack_s = kl / 2 - tv2
    i = np.argmin(slack_s, axis=-1)
    take = lambda x: np.take_along_axis(x, i[:, None], axis=-1)[:, 0]
    # tightness is reported at the state of largest TV^2 / (KL/2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(kl > 0, tv2 / (kl / 2), 0.0)
    j = np.argmax(ratio, axis=-1)
    take_j = lambda x: np.take_along_axis(x, j[:, None], axis=-1)[:, 0]
    slack = take(slack_s)
    bound = np.where(slack < 0, take(kl) / 2, take_j(kl) / 2)
    slack = np.where(slack < 0, slack, take_j(slack_s))
    return Outcome(slack=slack, scale=np.ones_like(slack), bound=bound, rtol=1e-10)


def gaussian_tv(mu1, s1, mu2, s2):
    """Exact ``TV(N(mu1, s1^2), N(mu2, s2^2))`` (independent closed form): ``p > q`` on the interval
    between the two crossing points of the densities (or a half line when ``s1 = s2``)."""
    from scipy.stats import norm

    mu1, s1, mu2, s2 = np.broadcast_arrays(*(np.asarray(x, float) for x in (mu1, s1, mu2, s2)))
    out = np.empty(mu1.shape)
    eq = np.isclose(s1, s2, rtol=1e-12, atol=0)
    out[eq] = 2 * norm.cdf(np.abs(mu1[eq] - mu2[eq]) / (2 * s1[eq])) - 1
    m1, v1, m2, v2 = mu1[~eq], s1[~eq], mu2[~eq], s2[~eq]
    # log p - log q = a x^2 + b x + c with a = 1/(2 v2^2) - 1/(2 v1^2)
    a = 0.5 / v2**2 - 0.5 / v1**2
    b = m1 / v1**2 - m2 / v2**2
    c = 0.5 * m2**2 / v2**2 - 0.5 * m1**2 / v1**2 + np.log(v2 / v1)
    disc = np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))
    r1, r2 = np.sort(np.stack([(-b - disc) / (2 * a), (-b + disc) / (2 * a)]), axis=0)
    mass = lambda m, v: norm.cdf((r2 - m) / v) - norm.cdf((r1 - m) / v)
    # a < 0 (s1 < s2): p > q inside (r1, r2); a > 0: q > p inside
    out[~eq] = np.abs(mass(m1, v1) - mass(m2, v2))
    return out


def check_pinsker(b) -> Outcome:
    """TRPO sec. 3 / TREFree sec. 2: ``TV^2 <= KL/2`` for KL in both directions. Categorical rows via
    :func:`tabular.tv` / :func:`tabular.kl`; Gaussians ``N(mu, sigma^2)`` with possibly different
    variances: KL from :meth:`trustopt.policies.LinearGaussian.kl` (a policy with zero gain, bias
    ``mu``), TV by :func:`gaussian_tv`; equal-variance pairs also through
    :class:`trustopt.smoothing.GaussianProduct` (``tv``, ``kl``)."""
    if "pi" in b:
        return check_pinsker_categorical(b)
    from trustopt import policies, smoothing

    mu1, ls1, mu2, ls2 = (np.asarray(b[k], float) for k in ("mu1", "log_sigma1", "mu2", "log_sigma2"))
    n = len(mu1)
    pol = policies.LinearGaussian(obs_dim=1, act_dim=1)
    th1 = np.stack([np.zeros(n), mu1, ls1], axis=1)
    th2 = np.stack([np.zeros(n), mu2, ls2], axis=1)
    kl12 = np.array([pol.kl(th1[i], th2[i], np.zeros(1)) for i in range(n)], float)
    kl21 = np.array([pol.kl(th2[i], th1[i], np.zeros(1)) for i in range(n)], float)
    tv = gaussian_tv(mu1, np.exp(ls1), mu2, np.exp(ls2))
    kl = np.maximum(np.minimum(kl12, kl21), 0.0)
    slack = kl / 2 - tv**2
    # equal-variance pairs: the smoothing oracle's closed forms must satisfy it too
    gp = smoothing.GaussianProduct(F=smoothing.Quadratic(H=np.zeros((1, 1)), g=np.zeros(1)), sigma=1.0)
    s_tv = gp.tv(mu1[:, None] / np.exp(ls1[:, None]), mu2[:, None] / np.exp(ls1[:, None]))[:, 0]
    s_kl = gp.kl(mu1[:, None] / np.exp(ls1[:, None]), mu2[:, None] / np.exp(ls1[:, None]))[:, 0]
    slack = np.minimum(slack, s_kl / 2 - s_tv**2)
    return Outcome(slack=slack, scale=np.ones(n), bound=kl / 2, gap=tv**2, rtol=1e-10)


def _draw_pinsker(rng, n):
    m = n // 2
    cat = draws.tabular(rng, m, sizes=((1, 2), (2, 3), (3, 4), (4, 6)), size_weights=[1, 1, 1, 1])
    k = n - m
    ls1 = rng.uniform(-1, 1, k)
    same = rng.random(k) < 0.4
    g = {"mu1": rng.normal(0, 1, k), "log_sigma1": ls1,
         "mu2": rng.normal(0, 1, k) * np.exp(rng.uniform(-6, 1, k)),
         "log_sigma2": np.where(same, ls1, ls1 + rng.normal(0, 0.5, k) * np.exp(rng.uniform(-5, 0, k)))}
    g["mu2"] = g["mu1"] + g["mu2"]
    return [*(({"pi": c["pi"], "pi_new": c["pi_new"]}) for c in cat), g]


def exact_pinsker(inst):
    """Certificate for categorical rows (KL enclosed by rational intervals): the smallest
    ``KL/2 - TV^2`` over the states and both KL directions. Gaussian instances are not covered
    (their TV is an erf): their verdicts stay floating-point ones."""
    if "pi" not in inst:
        raise ValueError("no exact evaluator for Gaussian Pinsker instances (TV is an erf)")
    pi, pit = R.rational_dist(inst["pi"]), R.rational_dist(inst["pi_new"])
    pairs = []
    for p, q in zip(pi, pit):
        tv2 = R.tv(p, q) ** 2
        for a, b in ((p, q), (q, p)):
            if not R.kl_is_infinite(a, b):  # an infinite KL bounds anything
                pairs.append((tv2, R.kl(a, b) / 2))
    if not pairs:
        return R.certificate(R.Q(1), {"pi": pi, "pi_new": pit}, {"kl": "inf in every state and direction"})
    X, B = min(pairs, key=lambda pr: R.lo(pr[1] - pr[0]))
    return R.certificate(B - X, {"pi": pi, "pi_new": pit}, {"tv2": X, "kl_half": B}, gap=X, bound=B)


register(Claim(
    id="ineq.pinsker",
    source=f"{SRC} sec. 3 (Pollard 2000); TREFree sec. 2",
    statement="TV(p, q)^2 <= KL(p || q) / 2 (hence TV^2 <= KL), for KL in both directions; categorical rows and Gaussians",
    kind="inequality",
    draw=_draw_pinsker,
    check=check_pinsker,
    schema={"pi": draws.policy_field(), "pi_new": draws.policy_field(), "mu1": Field(kind="real"),
            "log_sigma1": Field(kind="real"), "mu2": Field(kind="real"), "log_sigma2": Field(kind="real")},
    max_instances=4000,
    notes="TRPO states TV^2 <= KL; Pinsker gives the sharper TV^2 <= KL/2 (checked), so TRPO's C could be halved.",
    exact=exact_pinsker,
))


# ------------------------------------------------------------------ lemma 2 and lemma 3


def _abar(b, ev):
    """``Abar(s) = sum_a pit(a|s) A_pi(s, a)`` (TRPO eq. 25), shape ``(n, S)``."""
    return np.einsum("nsa,nsa->ns", b["pi_new"], ev.A)


def check_lemma2(b) -> Outcome:
    """TRPO App. A Lemma 2 (eq. 28): ``|Abar(s)| <= 2 alpha eps`` for every ``s``."""
    M, ev, evt, L, g, eps = _pair(b)
    alpha = tabular.max_tv(b["pi"], b["pi_new"])
    gap = np.abs(_abar(b, ev)).max(axis=1)
    bound = 2 * alpha * eps
    return Outcome(slack=bound - gap, scale=draws.value_scale(b), bound=bound)


register(Claim(
    id="bound.trpo-lemma2",
    source=f"{SRC} App. A Lemma 2, eq. 28-31",
    statement="|Abar(s)| = |sum_a pit(a|s) A_pi(s,a)| <= 2 alpha eps for all s",
    kind="inequality",
    draw=draws.tabular,
    check=check_lemma2,
    schema=draws.schema("pi", "pi_new"),
    exact=exact_lemma2,
))

T_LEMMA3 = 25


def _lemma3_terms(b):
    M, ev, evt, L, g, eps = _pair(b)
    alpha = tabular.max_tv(b["pi"], b["pi_new"])
    abar = _abar(b, ev)
    d_pi = state_distributions(transition_matrix(b["P"], b["pi"]), b["rho0"], T_LEMMA3)
    d_pt = state_distributions(transition_matrix(b["P"], b["pi_new"]), b["rho0"], T_LEMMA3)
    X = np.abs(np.einsum("tns,ns->tn", d_pt - d_pi, abar))  # (T, n)
    t = np.arange(T_LEMMA3)[:, None]
    return X, alpha, eps, abar, t, draws.value_scale(b)


def _worst_over_t(X, B, scale, rtol=1e-9):
    """Collapse ``(T, n)`` gaps and bounds to one (slack, bound) per instance: the most
    violated ``t`` if any, else the ``t`` of largest ``X / B``."""
    slack_t = B - X
    i_min = slack_t.argmin(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(B > rtol * scale, X / B, -np.inf)
    i_max = ratio.argmax(axis=0)
    cols = np.arange(X.shape[1])
    violated = slack_t[i_min, cols] < -rtol * scale
    i = np.where(violated, i_min, i_max)
    return slack_t[i, cols], B[i, cols]


def check_lemma3(b) -> Outcome:
    """TRPO App. A Lemma 3 (eq. 32, right-hand side): for every ``t >= 0``,
    ``|E_{s_t ~ pit} Abar(s_t) - E_{s_t ~ pi} Abar(s_t)| <= 4 alpha (1 - (1-alpha)^t) eps``
    (``t = 0`` included: both sides vanish since ``s_0 ~ rho0`` for both policies)."""
    X, alpha, eps, abar, t, scale = _lemma3_terms(b)
    B = 4 * alpha * (1 - (1 - alpha) ** t) * eps
    slack, bound = _worst_over_t(X, B, scale)
    return Outcome(slack=slack, scale=scale, bound=bound)


register(Claim(
    id="bound.trpo-lemma3",
    source=f"{SRC} App. A Lemma 3, eq. 32-40",
    statement="for each t >= 0: |E_{s_t~pit} Abar(s_t) - E_{s_t~pi} Abar(s_t)| <= 4 alpha (1-(1-alpha)^t) eps",
    kind="inequality",
    draw=draws.tabular,
    check=check_lemma3,
    schema=draws.schema("pi", "pi_new"),
    notes="Checked for t = 0..24 (t = 0: both sides are 0). The middle expression of eq. 32, "
          "2 alpha max_s Abar(s), is NOT a valid bound (claim bound.trpo-lemma3.middle-term).",
    exact=exact_lemma3,
))


def check_lemma3_middle(b) -> Outcome:
    """The middle expression of TRPO eq. 32: ``|E_{s_t~pit} Abar - E_{s_t~pi} Abar| <= 2 alpha max_s Abar(s)``,
    in TRPO's own setting: state rewards ``r(s)`` (TRPO sec. 2, ``r: S -> R``); instances whose reward
    depends on the action are not counted."""
    X, alpha, eps, abar, t, scale = _lemma3_terms(b)
    B = np.broadcast_to(2 * alpha * abar.max(axis=1), X.shape)
    slack, bound = _worst_over_t(X, B, scale)
    r = np.asarray(b["r"], float)
    state_reward = np.all(r == r[..., :1], axis=(1, 2))
    return Outcome(slack=slack, scale=scale, bound=np.maximum(bound, 0.0), valid=state_reward)


def exact_lemma3_middle_state_reward(inst):
    r = np.asarray(inst["r"], float)
    if not np.all(r == r[..., :1]):
        raise ValueError("the reward depends on the action: outside TRPO's setting r: S -> R")
    return exact_lemma3_middle(inst)


register(Claim(
    id="bound.trpo-lemma3.middle-term",
    source=f"{SRC} App. A Lemma 3, eq. 32 (middle inequality)",
    statement="state rewards r(s) (TRPO's setting): |E_{s_t~pit} Abar(s_t) - E_{s_t~pi} Abar(s_t)| <= 2 alpha max_s Abar(s) for every t",
    kind="inequality",
    draw=lambda rng, n: draws.tabular(rng, n, state_reward=True),
    check=check_lemma3_middle,
    schema=draws.schema("pi", "pi_new", r=Field(kind="fixed", axes=("S", "A"))),
    expected="violated",
    notes="FINDING (false under the paper's assumptions, in an intermediate expression only): the middle "
          "expression of the displayed chain (32), 2 alpha max_s Abar(s), is not a bound, also with TRPO's state "
          "rewards r: S -> R: max_s Abar(s) may be negative (then the right side is negative while the left side "
          "is >= 0), and even with |Abar| the factor must be 2 P(n_t > 0) <= 2 (1-(1-alpha)^t), not 2 alpha. The "
          "lemma's final bound, 4 alpha (1-(1-alpha)^t) max |A|, holds (claim bound.trpo-lemma3) and is what "
          "TRPO's Theorem 1 uses, so no result of the paper is affected. Corrected chain: |...| <= "
          "2 (1-(1-alpha)^t) max_s |Abar(s)| <= 4 alpha (1-(1-alpha)^t) eps.",
    exact=exact_lemma3_middle_state_reward,
))


# ------------------------------------------------------------------ trpo.alg1-monotone

ALG1_ITERATIONS = 3


def check_alg1(b) -> Outcome:
    """TRPO Algorithm 1 with the exact step :func:`tabular.solve_kl_penalty`
    (``pi_{i+1} = argmax L_{pi_i}(pi) - C max_s KL(pi_i || pi)``, ``C = 4 eps_i gamma/(1-gamma)^2``):
    ``eta(pi_{i+1}) >= eta(pi_i)`` for ``i < 3`` (slack: the smallest increase)."""
    n = len(b["gamma"])
    slack = np.empty(n)
    valid = np.ones(n, bool)
    for j in range(n):
        M = tabular.TabularMDP(b["P"][j], b["r"][j], b["rho0"][j], float(b["gamma"][j]))
        pi = np.asarray(b["pi"][j], float)
        ev = tabular.evaluate(M, pi)
        worst = np.inf
        g = float(b["gamma"][j])
        for _ in range(ALG1_ITERATIONS):
            eps = float(np.max(np.abs(ev.A)))
            C = 4 * eps * g / (1 - g) ** 2
            if C <= 0:
                break
            sol = tabular.solve_kl_penalty(M, pi, C)
            if not sol.success:
                valid[j] = False
                break
            ev_new = tabular.evaluate(M, sol.pi)
            worst = min(worst, ev_new.eta - ev.eta)
            pi, ev = np.array(sol.pi), ev_new
        slack[j] = worst if np.isfinite(worst) else 0.0
    return Outcome(slack=slack, scale=draws.value_scale(b), valid=valid, rtol=1e-8)


register(Claim(
    id="trpo.alg1-monotone",
    source=f"{SRC} Algorithm 1, eq. 10",
    statement="the MM iteration pi_{i+1} = argmax_pi L_{pi_i}(pi) - C max_s KL(pi_i || pi) gives eta(pi_0) <= eta(pi_1) <= ...",
    kind="algorithm",
    draw=lambda rng, n: draws.tabular(rng, n, policies=("pi",), sizes=((2, 2), (3, 2), (3, 3), (4, 3), (5, 2))),
    check=check_alg1,
    schema=draws.schema("pi"),
    max_instances=30,
    search_budget=16,
    notes="Exact per-step maximization by solve_kl_penalty (Lagrangian duality, ~0.3 s per call); 3 iterations "
          "per instance; the tolerance is 1e-8 of the value scale (the solver's root finding is "
          "exact to ~1e-12 relative).",
))
