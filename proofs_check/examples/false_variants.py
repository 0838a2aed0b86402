# A battery of subtly FALSE variants of the catalogue's claims (expected "violated") and of TRUE
# variants that are tight or nearly so (expected "holds"), registered exactly as a user's --extra
# file registers claims:
#
#   python -m proofs_check --extra proofs_check/examples/false_variants.py --claim variant.
#
# exits 0 when every false variant is caught and every true one is left alone. Each variant is
# the catalogue claim's own check with ONE thing changed; the comment above it proves that the
# changed statement is false (a witness) or true (a derivation). Inequalities are rescaled
# versions of the catalogue's check: with the check's gap X and bound B (slack = B - X), the
# variant's bound is B * factor, so it is checked on exactly the catalogue's quantities.
from __future__ import annotations

import functools

import numpy as np

from trustopt import estimators, smoothing, tabular
from proofs_check import Claim, Outcome, draws, get, register
from proofs_check import _rational as R
from proofs_check import igo, kakade_langford, slides, stro, trefree, trpo, tres


def rescaled(claim_id: str, factor, exact_factor=None):
    """The catalogue claim ``claim_id`` with its bound ``B`` replaced by ``B * factor(batch)``
    (gap unchanged): ``slack = B factor - X``. With ``exact_factor(rational instance)`` the
    variant also gets an exact certificate from the catalogue claim's (same gap, bound rescaled)."""
    base = get(claim_id)

    def check(b):
        out = base.check(b)
        with np.errstate(invalid="ignore"):
            gap = out.bound - out.slack if out.gap is None else out.gap
            bound = out.bound * np.asarray(factor(b), float)
            # an infinite bound (an infinite KL) stays infinite: the variant holds there
            slack = np.where(np.isposinf(bound), np.inf, bound - gap)
        return Outcome(slack=slack, scale=out.scale, bound=bound, valid=out.valid, rtol=out.rtol, atol=out.atol)

    def exact(inst):
        cert = base.exact(inst)
        return R.inequality(cert.gap, cert.bound * exact_factor(cert.instance), cert.instance)

    check.exact = exact if (exact_factor is not None and base.exact is not None) else None
    return check


def variant(vid: str, base_id: str, statement: str, check, *, expected: str = "violated", draw=None, exact=None,
            search_budget=None):
    base = get(base_id)
    return register(Claim(id=f"variant.{vid}", source=f"false-variant battery (of {base_id})" if expected == "violated"
                          else f"true-variant battery (of {base_id})", statement=statement, kind=base.kind,
                          draw=draw or base.draw, check=check, schema=base.schema, expected=expected,
                          max_instances=base.max_instances, search_budget=search_budget or base.search_budget, search=base.search,
                          exact=exact or getattr(check, "exact", None)))


HALF, QUARTER = R.Q(1, 2), R.Q(1, 4)


def _g(b):
    return np.asarray(b["gamma"], float)


def _alpha(b):
    return tabular.max_tv(b["pi"], b["pi_new"])


# ============================================================ identities

# PDL with the OLD policy's visitation: the right side is then L_pi(pit), and L_pi(pit) != eta(pit)
# in general. Witness: 2 states, s0 -a0-> s0 (r 0), s0 -a1-> s1 (r 0), s1 absorbing with r 1;
# gamma 1/2, rho0 = e_s0, pi = a0, pit = a1: eta(pit) = 1/2 but rho_pi(s1) = 0 so L = eta(pi) = 0.
variant("pdl.old-visitation", "pdl.kakade-langford", "eta(pit) = eta(pi) + sum_s rho_pi(s) sum_a pit A_pi",
        functools.partial(kakade_langford.check_pdl, visitation="old"),
        exact=functools.partial(kakade_langford.exact_pdl, visitation="old"))

# PDL with the NORMALIZED visitation dbar_pit = (1-gamma) rho_pit: the right side is
# eta(pi) + (1-gamma)(eta(pit) - eta(pi)), wrong whenever gamma > 0 and eta(pit) != eta(pi)
# (the witness above: 1/4 != 1/2).
variant("pdl.normalized-visitation", "pdl.kakade-langford", "eta(pit) = eta(pi) + sum_s dbar_pit(s) sum_a pit A_pi",
        functools.partial(kakade_langford.check_pdl, visitation="normalized"),
        exact=functools.partial(kakade_langford.exact_pdl, visitation="normalized"))


def _generalized_pdl_no_gamma(b):
    # TREFree Prop. 3.2 with A_f = r + P f - f (gamma dropped). Witness: 2 states, gamma = 0,
    # rho0 = (1, 0), r = 0, f = (0, 1); at s0 action a0 goes to s1 and a1 stays; pi = a1, pit = a0.
    # Left side eta(pit) - eta(pi) = 0 (no reward); right side (gamma = 0: rho = rho0 for both)
    # A_f(s0, a0) - A_f(s0, a1) = (f(s1) - f(s0)) - (f(s0) - f(s0)) = 1.
    M = draws.mdp(b)
    ev, evt = tabular.evaluate(M, b["pi"]), tabular.evaluate(M, b["pi_new"])
    Af = b["r"] + np.einsum("nsat,nt->nsa", b["P"], b["f"]) - b["f"][..., None]
    rhs = np.einsum("ns,nsa,nsa->n", evt.rho, b["pi_new"], Af) - np.einsum("ns,nsa,nsa->n", ev.rho, b["pi"], Af)
    return Outcome(slack=-np.abs(evt.eta - ev.eta - rhs), scale=draws.value_scale(b) + np.abs(b["f"]).max(axis=1))


variant("pdl-generalized.no-gamma", "pdl.generalized", "A_f = r + P f - f (gamma dropped)", _generalized_pdl_no_gamma,
        exact=functools.partial(trefree.exact_generalized_pdl, gamma=False))


def _pg_normalized(b):
    # Policy-gradient theorem with dbar = (1-gamma) rho in place of rho: the right side is (1-gamma)
    # grad eta, wrong whenever gamma > 0 and grad eta != 0 (1 state, 2 actions, r = (1, 0),
    # gamma = 1/2, theta = 0: grad eta = (1/4, -1/4)/(1/2) = (1/2, -1/2) vs (1/4, -1/4)).
    theta = np.asarray(b["theta"], float)
    M = draws.mdp(b)
    pi = tabular.softmax_policy(theta)
    ev = tabular.evaluate(M, pi)
    jac = pi[..., :, None] * (np.eye(pi.shape[-1]) - pi[..., None, :])
    dbar = tabular.normalized_visitation(M, ev)
    formula = np.einsum("ns,nsab,nsa->nsb", dbar, jac, ev.A)
    ref = tabular.grad_eta_softmax(M, theta, ev=ev)
    return Outcome(slack=-np.abs(formula - ref).reshape(len(theta), -1).max(1), scale=draws.value_scale(b))


def _pg_normalized_exact(inst):
    # exact: pi = softmax(theta) made rational (a strictly positive policy is softmax(log pi)); the
    # true gradient by implicit differentiation of V, against sum_s dbar(s) sum_a dpi/dtheta A
    th = np.asarray(inst["theta"], float)
    z = np.exp(th - th.max(axis=-1, keepdims=True))
    M = R.MDP.from_instance(inst)
    pi = R.rational_dist(z / z.sum(axis=-1, keepdims=True))
    ev = R.evaluate(M, pi)
    true = R.grad_eta_softmax(M, pi)
    worst = R.Q(0)
    for s in range(M.S):
        for b in range(M.A):
            f = (1 - M.gamma) * ev.rho[s] * sum(pi[s][a] * ((1 if a == b else 0) - pi[s][b]) * ev.A[s][a] for a in range(M.A))
            worst = max(worst, abs(f - true[s][b]))
    return R.certificate(-worst, {"P": M.P, "r": M.r, "rho0": M.rho0, "gamma": M.gamma, "pi": pi})


_pg_normalized.exact = _pg_normalized_exact

variant("pg.normalized-visitation", "pg.theorem", "grad eta = sum_s dbar(s) sum_a grad pi A", _pg_normalized)


def _td_no_gamma(b):
    # A(s, a) = E[r + V(s') - V(s)] (gamma dropped): the error is (1 - gamma) E[V(s')], nonzero
    # e.g. for 1 state, 1 action, r = 1, gamma = 1/2: V = 2, A = 0, r + V - V = 1.
    M = draws.mdp(b)
    ev = tabular.evaluate(M, b["pi"])
    est = b["r"] + np.einsum("nsat,nt->nsa", b["P"], ev.V) - ev.V[..., None]
    return Outcome(slack=-np.abs(est - ev.A).reshape(len(ev.V), -1).max(1), scale=draws.value_scale(b))


variant("td-advantage.no-gamma", "pg.td-advantage", "A_pi(s,a) = E[r + V(s') - V(s)]", _td_no_gamma,
        exact=functools.partial(slides.exact_td_advantage, gamma=False))


def _gae(b, *, shift: int = 0, power_offset: int = 0):
    r, V = np.asarray(b["rewards"], float), np.asarray(b["values"], float)
    g, lam = np.asarray(b["gamma"], float), np.asarray(b["lambda_"], float)
    n, T = r.shape
    err = np.zeros(n)
    for i in range(n):
        term = np.zeros(T, bool)
        term[-1] = True
        delta = r[i] + g[i] * np.append(V[i, 1:], 0.0) - V[i]
        # the wrong reference: sum_l (gamma lambda)^(l + power_offset) delta_{t + l + shift}
        ref = np.array([sum((g[i] * lam[i]) ** (l + power_offset) * delta[t + l + shift] for l in range(T - t - shift))
                        for t in range(T)])
        al = estimators.gae(r[i], V[i], term, gamma=float(g[i]), lambda_=float(lam[i]))
        err[i] = np.abs(al - ref).max()
    return Outcome(slack=-err, scale=(np.abs(r).max(axis=1) + np.abs(V).max(axis=1)) * T)


# GAE off by one in the residual index: sum_l (gamma lambda)^l delta_{t+l+1}. At T = 1 the true
# value is delta_0 = r_0 - V_0 and the variant gives 0: wrong whenever r_0 != V_0.
variant("gae.delta-off-by-one", "gae.limits", "GAE_t = sum_l (gamma lambda)^l delta_{t+l+1}",
        functools.partial(_gae, shift=1), exact=functools.partial(slides.exact_gae, shift=1))
# GAE off by one in the weights: sum_l (gamma lambda)^(l+1) delta_{t+l}. At T = 1 it gives
# gamma lambda delta_0 != delta_0 unless gamma lambda = 1 or delta_0 = 0.
variant("gae.weights-off-by-one", "gae.limits", "GAE_t = sum_l (gamma lambda)^(l+1) delta_{t+l}",
        functools.partial(_gae, power_offset=1), exact=functools.partial(slides.exact_gae, power_offset=1))


def _npg_no_two(b):
    # NPG step without the 2: d = sqrt(delta / g'F^-1 g) F^-1 g has 1/2 d'Fd = delta/2, so
    # g'd = sqrt(delta g'F^-1g) < sqrt(2 delta g'F^-1g) = the maximum (k = 1, F = 1, g = 1,
    # delta = 1/2: g'd = 1/sqrt(2) < 1).
    F, g, delta = np.asarray(b["F"], float), np.asarray(b["g"], float), np.asarray(b["delta"], float)
    x = np.linalg.solve(F, g[..., None])[..., 0]
    gx = np.einsum("ni,ni->n", g, x)
    with np.errstate(divide="ignore", invalid="ignore"):  # g = 0: both sides 0 (NaN step), not a witness
        d = np.nan_to_num(np.sqrt(delta / gx))[:, None] * x
    best = np.sqrt(2 * delta * gx)
    return Outcome(slack=-np.abs(np.einsum("ni,ni->n", g, d) - best), scale=best, rtol=1e-7)


def _npg_no_two_exact(inst):
    # exact: x = F^-1 g by rational elimination, g'd = sqrt(delta g'x) against sqrt(2 delta g'x)
    F, g, delta = R.rational_array(inst["F"]), R.rational_array(inst["g"]), R.rational(np.asarray(inst["delta"]).reshape(()))
    gx = sum(a * b for a, b in zip(g, R.solve(F, g)))
    return R.identity(R.sqrt(delta * gx), R.sqrt(2 * delta * gx), {"F": F, "g": g, "delta": delta}, gFg=gx)


_npg_no_two.exact = _npg_no_two_exact

variant("npg.step-without-2", "npg.step", "d = sqrt(delta / g'F^-1g) F^-1 g solves max g'd s.t. 1/2 d'Fd <= delta",
        _npg_no_two)


def _tres_decomposition_old(b):
    # TRES eq. 9-12 with X ~ p_theta (old) instead of p_thetat: then every advantage term has
    # expectation 0 (E_theta[A_theta(X^{1..i+1}) | X^{1..i}] = 0), so the right side is J(theta),
    # wrong whenever J(thetat) != J(theta) (d = 1, K = 2, F = (1, 0), p = (1/2, 1/2), pt = (1, 0)).
    F = np.asarray(b["F"], float)
    theta = np.asarray(b["theta"], float)
    n, d, K = theta.shape
    cat = smoothing.CategoricalProduct(F=F, d=d)
    p = smoothing.softmax(theta)
    total = cat.J(theta)
    for j in range(1, d + 1):  # E_{X^{1..j} ~ p_theta}[A_theta(X^{1..j})], contracting the table's j axes
        T = cat.advantage(theta, j)
        for a in range(j):
            T = np.einsum("nk...,nk->n...", T, p[:, a])
        total = total + T
    scale = np.abs(F).reshape(n, -1).max(axis=1) + 1e-300
    return Outcome(slack=-np.abs(cat.J(b["thetat"]) - total), scale=scale)


variant("tres.decomposition-old-distribution", "tres.decomposition",
        "J(thetat) = J(theta) + E_{X~theta}[sum_i A_theta(X^{1..i+1})]", _tres_decomposition_old,
        exact=functools.partial(tres.exact_decomposition, expectation="old"))

# ============================================================ inequalities: TRPO / Kakade-Langford

# TRPO Thm. 1 with constant 2: gamma -> 0 instances reach gap/bound -> 1 for the constant 4 (the
# adversarial search finds > 0.95), so with 2 the ratio exceeds 1. Witness (gamma -> 0 limit):
# gap ~ gamma sum_s' (d1_pi - d1_pit)(s') Abar(s') can reach 4 gamma alpha^2 eps.
variant("trpo-tv.constant-2", "bound.trpo-tv", "eta(pit) >= L_pi(pit) - 2 eps gamma alpha^2/(1-gamma)^2",
        rescaled("bound.trpo-tv", lambda b: 0.5, lambda q: HALF))
# (1-gamma) for (1-gamma)^2: the bound shrinks by (1-gamma), so for gamma near 0.99 it is 100
# times smaller; the gap of tight gamma = 0.9 instances exceeds it.
variant("trpo-tv.one-minus-gamma", "bound.trpo-tv", "eta(pit) >= L_pi(pit) - 4 eps gamma alpha^2/(1-gamma)",
        rescaled("bound.trpo-tv", lambda b: 1 - _g(b), lambda q: 1 - q["gamma"]))
# alpha^3 for alpha^2: bound * alpha; tight instances with alpha < 1 (tightness t > alpha) break it.
variant("trpo-tv.alpha-cubed", "bound.trpo-tv", "eta(pit) >= L_pi(pit) - 4 eps gamma alpha^3/(1-gamma)^2",
        rescaled("bound.trpo-tv", _alpha, lambda q: R.max_tv(q["pi"], q["pi_new"])))
# KL bound with constant 1: C KL >= 2 C TV^2 makes the constant-1 bound half of Thm. 1's with
# constant 2... i.e. (1/4) KL-bound >= (1/2) TV-bound only; with small steps KL ~ 2 TV^2 and the
# TV tightness > 1/2 exceeds it.
variant("trpo-kl.constant-1", "bound.trpo-kl", "eta(pit) >= L_pi(pit) - eps gamma max KL/(1-gamma)^2",
        rescaled("bound.trpo-kl", lambda b: 0.25, lambda q: QUARTER))
# Lemma 2 without the 2: 1 state, pi = (1/2, 1/2), A = (1, -1) (eps = 1), pit = (1, 0):
# alpha = 1/2, Abar = 1 > alpha eps = 1/2.
variant("trpo-lemma2.no-2", "bound.trpo-lemma2", "|Abar(s)| <= alpha eps",
        rescaled("bound.trpo-lemma2", lambda b: 0.5, lambda q: HALF))
# Lemma 3 with 2 for 4: the search reaches tightness > 0.95 for the 4, so > 1.9 for the 2.
variant("trpo-lemma3.constant-2", "bound.trpo-lemma3", "|E_pit Abar - E_pi Abar| <= 2 alpha (1-(1-alpha)^t) eps",
        rescaled("bound.trpo-lemma3", lambda b: 0.5, lambda q: HALF))
# CPI bound with a^3 for a^2: the bound attains ~1 at a < 1 (greedy pi', gamma -> 0), so
# multiplying it by a < 1 breaks it.
variant("cpi.a-cubed", "bound.cpi-mixture", "eta(pi_new) >= L(pi_new) - 2 eps' gamma a^3/(1-gamma)^2",
        rescaled("bound.cpi-mixture", lambda b: np.asarray(b["a"], float), lambda q: q["a"]))
# CPI with (1-gamma) for (1-gamma)^2.
variant("cpi.one-minus-gamma", "bound.cpi-mixture", "eta(pi_new) >= L(pi_new) - 2 eps' gamma a^2/(1-gamma)",
        rescaled("bound.cpi-mixture", lambda b: 1 - _g(b), lambda q: 1 - q["gamma"]))
# Pinsker with KL/4: Bernoulli(1/2) vs Bernoulli(1/2 + h): TV^2 = h^2, KL = 2 h^2 + O(h^4), so
# TV^2 / (KL/4) -> 2.
variant("pinsker.quarter", "ineq.pinsker", "TV^2 <= KL/4", rescaled("ineq.pinsker", lambda b: 0.5, lambda q: HALF))
# Mean-KL bound (Achiam et al.) with the constant halved: its first inequality is attained (~1).
variant("mean-kl.constant-1", "bound.mean-kl", "|eta(pit) - L(pit)| <= gamma epst/(1-gamma)^2 E_dbar[TV]",
        rescaled("bound.mean-kl", lambda b: 0.5, lambda q: HALF))
# Mean-KL with rho for dbar: Jensen needs a probability measure (catalogue tests); here as a variant.
variant("mean-kl.unnormalized", "bound.mean-kl", "... sqrt(E_rho[KL]/2) with rho unnormalized",
        functools.partial(slides.check_mean_kl, visitation="rho"),
        exact=functools.partial(slides.exact_mean_kl, visitation="rho"))
# TREFree with gamma for 2 gamma: tightness > 0.95 is reached for the 2.
variant("trefree.constant-1", "bound.trefree", "eta(pit) - eta(pi) >= G - gamma (delta + eps)/(1-gamma)",
        rescaled("bound.trefree", lambda b: 0.5, lambda q: HALF))

# ============================================================ inequalities: TRES

# TRES Thm. 1 with d for d(d+1): false only for d >= 3 (for d = 1 both sides vanish, L = J; for
# d = 2 it is 2 eps 2 alpha^2 <= the true sharp bound 2 eps d(d-1) alpha^2 = 4 eps alpha^2: it
# coincides with the attained sharp bound). A d = 3 instance has gap 177/200 > bound 18/25.
variant("tres-thm1.d", "tres.thm1", "|J(thetat) - L_theta(thetat)| <= 2 eps d alpha^2",
        rescaled("tres.thm1", lambda b: 1.0 / (np.asarray(b["theta"]).shape[-2] + 1), lambda q: R.Q(1, len(q["p_theta"]) + 1)))
# The sharp bound with (d-1)^2 for d(d-1): at d = 2 halves an attained bound.
variant("tres-thm1-sharp.d-minus-1-squared", "tres.thm1-sharp", "|J - L| <= 2 eps (d-1)^2 alpha^2",
        rescaled("tres.thm1-sharp", lambda b: (np.asarray(b["theta"]).shape[-2] - 1) / np.asarray(b["theta"]).shape[-2],
                 lambda q: R.Q(len(q["p_theta"]) - 1, len(q["p_theta"]))))
# TRES Lemma 2 without the 2: as TRPO Lemma 2 (1 coordinate, p = (1/2, 1/2), A = (1, -1), pt = (1, 0)).
variant("tres-lemma2.no-2", "tres.lemma2", "|Abar(x^{1..i})| <= alpha max |A|", rescaled("tres.lemma2", lambda b: 0.5, lambda q: HALF))
# TRES Lemma 3 with 2 for 4: the constant 4 is attained (claim notes), so 2 breaks.
variant("tres-lemma3.constant-2", "tres.lemma3", "... <= 2 alpha (1-(1-alpha)^i) max |A|",
        rescaled("tres.lemma3", lambda b: 0.5, lambda q: HALF))

# ============================================================ STRO


def _lemma33_doubled(b):
    # Lemma 3.3 with 2 min(1, (1-gamma) delta) A*: for delta >= 1/(1-gamma) the exact TV step is the
    # greedy policy, whose surrogate gain is exactly A* (sum_s rho(s) max_a A(s, a)) < 2 A* when A* > 0.
    out = stro.check_lemma33(b)
    return Outcome(slack=out.bound - 2 * out.gap, scale=out.scale, bound=out.bound, gap=2 * out.gap, valid=out.valid,
                   rtol=out.rtol)


def _lemma33_doubled_exact(inst):
    # the exact TV step's gain is at most A* = sum_s rho(s) max_a A(s, a) (the surrogate is linear
    # in pit and sum_a pit A <= max_a A), so gain - 2 min(1, (1-gamma) delta) A* <= A* (1 - 2 m):
    # an exact upper bound on the slack, negative whenever m = min(1, (1-gamma) delta) > 1/2
    M, pol, shown = R.tabular_instance(inst, "pi", reals=("delta",))
    ev = R.evaluate(M, pol["pi"])
    Astar = sum(ev.rho[s] * max(ev.A[s]) for s in range(M.S))
    m = min(R.Q(1), (1 - M.gamma) * shown["delta"])
    from proofs_check.registry import Certificate
    return Certificate(upper=Astar * (1 - 2 * m), instance=shown, sides={"A_star": Astar, "min_term": m})


_lemma33_doubled.exact = _lemma33_doubled_exact

variant("stro-lemma33.doubled", "stro.lemma3.3", "L(pi_k+1) - L(pi_k) >= 2 min(1, (1-gamma) delta) A*", _lemma33_doubled)


def _optimality_no_p0(b):
    # Lemma 3.2's quantitative lower bound without p0: (1-gamma)(eta* - eta) <= A*. A* weighs the
    # improvable states by pi's visitation, eta* - eta by pi*'s. Witness, also with rho0 > 0: 2 states,
    # rho0 = (1 - p, p), gamma = 1/2; s0 -a0-> s1, s0 -a1-> s0 (rewards 0), s1 absorbing with
    # r(s1, a0) = 0, r(s1, a1) = 1; pi = a1 at s0 (never leaves), a0 at s1. Then V_pi = 0,
    # A(s0, .) = 0, A(s1, a1) = 1, rho_pi(s1) = 2p, so A* = 2p; eta* = (1-p) 1 + p 2 = 1 + p, and
    # (1-gamma)(eta* - eta) = (1+p)/2 > 2p for every 0 < p < 1/3. (Lemma 3.2's p0 = min rho0 = p
    # factor is what keeps the statement true.)
    out = stro.check_optimality(b)
    M = draws.mdp(b)
    p0 = np.asarray(b["rho0"], float).min(axis=1)
    ev = tabular.evaluate(M, b["pi"])
    Astar = np.asarray(tabular.optimal_advantage(M, b["pi"], ev=ev), float)
    eta_star = np.array([tabular.policy_iteration(tabular.TabularMDP(b["P"][j], b["r"][j], b["rho0"][j], float(b["gamma"][j]))).eta
                         for j in range(len(p0))])
    lo = (1 - _g(b)) * (eta_star - ev.eta)
    return Outcome(slack=Astar - lo, scale=out.scale, bound=Astar, gap=lo)


def _optimality_no_p0_exact(inst):
    M, pol, shown = R.tabular_instance(inst, "pi")
    ev = R.evaluate(M, pol["pi"])
    Astar = sum(ev.rho[s] * max(ev.A[s]) for s in range(M.S))
    lo = (1 - M.gamma) * (R.optimal_eta(M) - ev.eta)
    return R.inequality(lo, Astar, shown)


_optimality_no_p0.exact = _optimality_no_p0_exact

# the catalogue claim's search budget (800: a policy iteration per candidate) is for a bound that holds;
# this variant is false only where pi's visitation of an improvable state is small, which the search
# must reach (rho0 is drawn >= 0.1/S)
variant("optimality.no-p0", "optimality.advantage", "(1-gamma)(eta* - eta) <= A*_pi", _optimality_no_p0,
        search_budget=3000)

# ============================================================ IGO (proofs_check/igo.py)

# The KL-constrained linear step with the KL of equal-covariance Gaussians read as (m'-m)' S^-1 (m'-m)
# (the 1/2 dropped): the claimed value sqrt(delta g'Sg) is beaten by the maximizer m* = m + sqrt(2 delta/g'Sg) S g,
# whose gain is sqrt(2) times it. Witness: d = 1, S = 1, g = 1, delta = 1/2: m' = m + 1 has KL = 1/2, gain 1 > sqrt(1/2).
variant("igo-kl-step.no-half", "igo.kl-linear-step-bound", "KL(N(m,S) || N(m',S)) <= delta => g'(m'-m) <= sqrt(delta g'Sg)",
        functools.partial(igo.check_kl_step_bound, constant=1.0),
        exact=functools.partial(igo.exact_kl_step_bound, constant=1))

# The natural gradient's covariance part as 1/2 S H S (Fisher metric tr(S^-1 dS S^-1 dS), the 1/2 dropped):
# Fisher^-1 grad gives 2 S (H/2) S = S H S. Witness: d = 1, m = 0, S = 1, F(x) = x^2/2:
# E[F(X)(X^2 - 1)] = (3 - 1)/2 = 1, not 1/2.
variant("igo-natural-gradient.half-covariance", "igo.natural-gradient", "natgrad_S E F(X) = 1/2 S H S",
        functools.partial(igo.check_natural_gradient, s_factor=0.5),
        exact=functools.partial(igo.exact_natural_gradient, s_factor=0.5))

# ============================================================ TRUE variants (expected to hold)

# TRPO eq. 9 with C/2: by Pinsker TV^2 <= KL/2, so (C/2) max KL >= C max TV^2 = Thm. 1's bound.
variant("true.trpo-kl.half-constant", "bound.trpo-kl", "eta(pit) >= L - 2 eps gamma max KL/(1-gamma)^2",
        rescaled("bound.trpo-kl", lambda b: 0.5), expected="holds")
# TRPO eq. 9 with KL(pit || pi): Pinsker holds in both directions.
variant("true.trpo-kl.reverse", "bound.trpo-kl", "eta(pit) >= L - C max KL(pit || pi)",
        functools.partial(trpo.check_trpo_kl, reverse=True), expected="holds")
# TRES Thm. 1 with d(d-1): proved in tres.check_thm1_sharp (the i = 0 term vanishes); attained.
variant("true.tres-thm1.d-minus-1", "tres.thm1", "|J - L| <= 2 eps d(d-1) alpha^2",
        rescaled("tres.thm1", lambda b: (np.asarray(b["theta"]).shape[-2] - 1) / (np.asarray(b["theta"]).shape[-2] + 1)),
        expected="holds")
# TRES eq. 17 with eps d(d+1): Thm. 1 and TV^2 <= KL/2.
variant("true.tres-kl.half-constant", "tres.kl", "J >= L - eps d(d+1) max KL", rescaled("tres.kl", lambda b: 0.5),
        expected="holds")
# TRPO Lemma 2 as printed is attained (1 state, pi = (1/2, 1/2), A = (1, -1), pit = (1, 0)): unchanged.
variant("true.trpo-lemma2", "bound.trpo-lemma2", "|Abar(s)| <= 2 alpha eps", get("bound.trpo-lemma2").check,
        expected="holds")
# Pinsker as stated (TV^2 <= KL/2) is attained in the limit of small steps.
variant("true.pinsker", "ineq.pinsker", "TV^2 <= KL/2", get("ineq.pinsker").check, expected="holds")
