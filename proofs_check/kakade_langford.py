"""Kakade & Langford (2002) as restated by TRPO sec. 2 and App. A
(``papers/trpo-trust-region-policy-optimization.txt``): the performance-difference lemma,
policy improvement, and the conservative-policy-iteration bound."""

from __future__ import annotations

import numpy as np

from trustopt import tabular
from proofs_check import _rational as R, draws
from proofs_check.registry import Claim, Field, Outcome, register

SRC = "trpo-trust-region-policy-optimization.txt"


def check_pdl(b, *, visitation: str = "new") -> Outcome:
    """TRPO eq. 1-2 / App. A Lemma 1 (STRO eq. 2.3):
    ``eta(pit) = eta(pi) + sum_s rho_pit(s) sum_a pit(a|s) A_pi(s, a)``, ``rho_pit`` UNNORMALIZED.
    ``visitation="old"`` (``rho_pi``, i.e. the surrogate) or ``"normalized"`` (``dbar_pit``)
    are deliberately wrong variants used by the tests of the checker."""
    M = draws.mdp(b)
    ev = tabular.evaluate(M, b["pi"])
    evt = tabular.evaluate(M, b["pi_new"])
    rho = {"new": evt.rho, "old": ev.rho, "normalized": tabular.normalized_visitation(M, evt)}[visitation]
    rhs = ev.eta + np.einsum("ns,nsa,nsa->n", rho, b["pi_new"], ev.A)
    return Outcome(slack=-np.abs(evt.eta - rhs), scale=draws.value_scale(b))


def exact_pdl(inst, *, visitation: str = "new"):
    """Certificate of the performance-difference identity on the instance made rational."""
    M, pol, shown = R.tabular_instance(inst, "pi", "pi_new")
    pi, pit = pol["pi"], pol["pi_new"]
    ev, evt = R.evaluate(M, pi), R.evaluate(M, pit)
    rho = {"new": evt.rho, "old": ev.rho, "normalized": [(1 - M.gamma) * x for x in evt.rho]}[visitation]
    rhs = ev.eta + sum(rho[s] * pit[s][a] * ev.A[s][a] for s in range(M.S) for a in range(M.A))
    return R.identity(evt.eta, rhs, shown)


register(Claim(
    id="pdl.kakade-langford",
    source=f"{SRC} eq. 1-2, App. A Lemma 1 (eq. 19-24); STRO eq. 2.3",
    statement="eta(pit) = eta(pi) + sum_s rho_pit(s) sum_a pit(a|s) A_pi(s,a) (rho unnormalized)",
    kind="identity",
    draw=draws.tabular,
    check=check_pdl,
    schema=draws.schema("pi", "pi_new"),
    exact=exact_pdl,
))


def improving_policy(b):
    """``pit = (1 - w_s) pi + w_s q_s`` with ``q_s`` restricted to ``{a : A_pi(s, a) >= 0}``, so
    that ``sum_a pit(a|s) A_pi(s, a) >= 0`` at every state (the premise of the claim) whatever
    the primitives ``pi, q, w`` are (so the adversarial search cannot leave the premise)."""
    M = draws.mdp(b)
    ev = tabular.evaluate(M, b["pi"])
    ok = (ev.A >= 0.0) | (ev.A == ev.A.max(axis=-1, keepdims=True))  # never empty
    q = np.where(ok, b["q"] + 1e-12, 0.0)
    q = q / q.sum(axis=-1, keepdims=True)
    w = np.asarray(b["w"], float)[..., None]
    return M, ev, (1 - w) * b["pi"] + w * q


def check_improvement(b) -> Outcome:
    """TRPO sec. 2 (after eq. 2): ``sum_a pit(a|s) A_pi(s,a) >= 0`` for all ``s`` implies
    ``eta(pit) >= eta(pi)``. Slack ``eta(pit) - eta(pi)`` (no bound: no tightness)."""
    M, ev, pit = improving_policy(b)
    evt = tabular.evaluate(M, pit)
    premise = np.einsum("nsa,nsa->ns", pit, ev.A).min(axis=1) >= -1e-12 * draws.value_scale(b)
    return Outcome(slack=evt.eta - ev.eta, scale=draws.value_scale(b), valid=premise)


def _draw_improvement(rng, n):
    out = []
    for b in draws.tabular(rng, n, policies=("pi", "q")):
        m, S, A = b["pi"].shape
        b["w"] = rng.uniform(0, 1, size=(m, S)) ** rng.choice([0.5, 1.0, 3.0])
        out.append(b)
    return out


register(Claim(
    id="pdl.improvement",
    source=f"{SRC} sec. 2 (after eq. 2)",
    statement="sum_a pit(a|s) A_pi(s,a) >= 0 for all s implies eta(pit) >= eta(pi)",
    kind="inequality",
    draw=_draw_improvement,
    check=check_improvement,
    schema=draws.schema("pi", "q", w=Field(kind="unit", axes=("S",))),
))


def check_cpi(b, *, constant: float = 2.0) -> Outcome:
    """TRPO eq. 6 (Kakade & Langford 2002, Thm. 4.1, simplified by TRPO):
    ``pi_new = (1 - a) pi + a pi'`` gives ``eta(pi_new) >= L_pi(pi_new) - 2 eps' gamma a^2 / (1-gamma)^2``,
    ``eps' = max_s |sum_a pi'(a|s) A_pi(s, a)|``; ``pi'`` arbitrary (the bound does not need
    ``pi' = argmax L``), mixed by :func:`tabular.cpi_mixture`."""
    M = draws.mdp(b)
    a = np.asarray(b["a"], float)
    pit = tabular.cpi_mixture(b["pi"], b["pi_prime"], a)
    ev = tabular.evaluate(M, b["pi"])
    evt = tabular.evaluate(M, pit)
    L = np.asarray(tabular.surrogate(M, b["pi"], pit, ev=ev), float)
    g = np.asarray(b["gamma"], float)
    eps = np.abs(np.einsum("nsa,nsa->ns", b["pi_prime"], ev.A)).max(axis=1)
    bound = constant * eps * g * a**2 / (1 - g) ** 2
    return Outcome(slack=bound - (L - evt.eta), scale=draws.value_scale(b), bound=bound)


def exact_cpi(inst, *, constant=2):
    """Certificate of eq. 6: ``gap = L_pi(pi_new) - eta(pi_new)``, ``bound = 2 eps' gamma a^2/(1-gamma)^2``."""
    M, pol, shown = R.tabular_instance(inst, "pi", "pi_prime")
    a = R.rational(np.asarray(inst["a"]).reshape(()))
    shown["a"] = a
    pi, pp = pol["pi"], pol["pi_prime"]
    pit = [[(1 - a) * x + a * y for x, y in zip(r1, r2)] for r1, r2 in zip(pi, pp)]
    ev, evt = R.evaluate(M, pi), R.evaluate(M, pit)
    L = R.surrogate(M, ev, pit)
    eps = max(abs(sum(pp[s][b] * ev.A[s][b] for b in range(M.A))) for s in range(M.S))
    bound = R.Q(constant) * eps * M.gamma * a**2 / (1 - M.gamma) ** 2
    return R.inequality(L - evt.eta, bound, shown, L=L, eta_new=evt.eta, eps_prime=eps)


def _draw_cpi(rng, n):
    out = []
    for b in draws.tabular(rng, n, policies=("pi", "pi_prime")):
        m = len(b["gamma"])
        # half of the instances use the CPI choice pi' = greedy (argmax_a A_pi), one-hot
        M = draws.mdp(b)
        A = tabular.evaluate(M, b["pi"]).A
        greedy = np.eye(A.shape[-1])[A.argmax(axis=-1)]
        use = rng.random(m) < 0.5
        b["pi_prime"] = np.where(use[:, None, None], greedy, b["pi_prime"])
        b["a"] = rng.uniform(0, 1, size=m) ** rng.choice([1.0, 3.0])
        out.append(b)
    return out


register(Claim(
    id="bound.cpi-mixture",
    source=f"{SRC} eq. 5-6 (Kakade & Langford 2002)",
    statement="pi_new = (1-a) pi_old + a pi': eta(pi_new) >= L_old(pi_new) - 2 eps' gamma a^2/(1-gamma)^2, eps' = max_s |E_{a~pi'} A_old(s,a)|",
    kind="inequality",
    draw=_draw_cpi,
    check=check_cpi,
    schema=draws.schema("pi", "pi_prime", a=Field(kind="unit")),
    exact=exact_cpi,
))
