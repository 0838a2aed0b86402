"""Claims of TREFree (Sun et al., ``papers/trefree-trust-region-free-policy-optimization.txt``)."""

from __future__ import annotations

import numpy as np

from trustopt import tabular
from proofs_check import _rational as R, draws
from proofs_check.registry import Claim, Field, Outcome, register

SRC = "trefree-trust-region-free-policy-optimization.txt"


def state_action_function(b):
    """Definition 3.1: ``A_f(s, a) = r(s, a) + gamma sum_s' P(s'|s,a) f(s') - f(s)``, ``(n, S, A)``."""
    g = np.asarray(b["gamma"], float)[:, None, None]
    return b["r"] + g * np.einsum("nsat,nt->nsa", b["P"], b["f"]) - b["f"][..., None]


def check_generalized_pdl(b) -> Outcome:
    """TREFree Prop. 3.2 (eq. 5): for any ``f: S -> R``,
    ``eta(pit) - eta(pi) = sum_s rho_pit(s) sum_a pit A_f - sum_s rho_pi(s) sum_a pi A_f``
    (``rho`` unnormalized, TREFree's ``d_pi``)."""
    M = draws.mdp(b)
    ev = tabular.evaluate(M, b["pi"])
    evt = tabular.evaluate(M, b["pi_new"])
    Af = state_action_function(b)
    rhs = np.einsum("ns,nsa,nsa->n", evt.rho, b["pi_new"], Af) - np.einsum("ns,nsa,nsa->n", ev.rho, b["pi"], Af)
    scale = draws.value_scale(b) + np.abs(b["f"]).max(axis=1)
    return Outcome(slack=-np.abs(evt.eta - ev.eta - rhs), scale=scale)


def _draw_f(rng, n, *, full_support=False):
    out = []
    for b in draws.tabular(rng, n):
        m, S, A = b["pi"].shape
        if full_support:  # the ratio pit/pi needs pit << pi: keep pi > 0, pit by logit steps
            b["pi"] = 0.98 * b["pi"] + 0.02 / A
            from trustopt import testing
            step = np.exp(rng.uniform(np.log(1e-3), np.log(2.0), size=m))
            b["pi_new"] = testing.nearby_policies(rng, b["pi"], step)
        vscale = draws.value_scale(b)
        kind = rng.integers(0, 3, size=m)
        f_rand = vscale[:, None] * rng.uniform(-1, 1, size=(m, S))
        V = np.array(tabular.evaluate(draws.mdp(b), b["pi"]).V)
        f = np.where((kind == 0)[:, None], V, np.where((kind == 1)[:, None], f_rand, 0.0 * V))
        b["f"] = f
        out.append(b)
    return out


def _exact_Af(M, f, *, gamma=True):
    g = M.gamma if gamma else R.Q(1)
    return [[M.r[s][a] + g * sum(M.P[s][a][t] * f[t] for t in range(M.S)) - f[s] for a in range(M.A)] for s in range(M.S)]


def exact_generalized_pdl(inst, *, gamma=True):
    """Certificate of Prop. 3.2 (``gamma=False``: the variant ``A_f = r + P f - f``)."""
    M, pol, shown = R.tabular_instance(inst, "pi", "pi_new", reals=("f",))
    pi, pit, f = pol["pi"], pol["pi_new"], shown["f"]
    ev, evt = R.evaluate(M, pi), R.evaluate(M, pit)
    Af = _exact_Af(M, f, gamma=gamma)
    rhs = sum(evt.rho[s] * pit[s][a] * Af[s][a] - ev.rho[s] * pi[s][a] * Af[s][a] for s in range(M.S) for a in range(M.A))
    return R.identity(evt.eta - ev.eta, rhs, shown)


register(Claim(
    id="pdl.generalized",
    source=f"{SRC} Prop. 3.2, eq. 5, Definition 3.1",
    statement="for any f: S -> R, A_f = r + gamma P f - f: eta(pit) - eta(pi) = sum rho_pit pit A_f - sum rho_pi pi A_f",
    kind="identity",
    draw=_draw_f,
    check=check_generalized_pdl,
    schema=draws.schema("pi", "pi_new", f=Field(kind="real", axes=("S",))),
    exact=exact_generalized_pdl,
))


def check_trefree(b, *, visitation: str = "rho", constant: float = 2.0) -> Outcome:
    """TREFree Thm. 3.3: ``eta(pit) - eta(pi) >= G_pi(pit) - 2 gamma (delta + eps) / (1 - gamma)`` with
    ``G = sum_s rho_pi(s) sum_a pi (pit/pi - 1) A_f``, ``delta = max_{s,a} |(pit/pi - 1) A_f|``,
    ``eps = max_s |sum_a pi A_f|``. Requires ``pit << pi`` (else ``delta = inf``: not counted).
    ``visitation="dbar"`` (normalized) is a deliberately wrong variant for the tests."""
    M = draws.mdp(b)
    ev = tabular.evaluate(M, b["pi"])
    evt = tabular.evaluate(M, b["pi_new"])
    Af = state_action_function(b)
    pi, pit = b["pi"], b["pi_new"]
    support_ok = np.all((pi > 0) | (pit <= 0), axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = np.where(pi > 0, (pit / np.where(pi > 0, pi, 1.0) - 1.0) * Af, 0.0)
    rho = ev.rho if visitation == "rho" else tabular.normalized_visitation(M, ev)
    G = np.einsum("ns,nsa,nsa->n", rho, pi, dev)
    delta = np.abs(dev).reshape(len(G), -1).max(axis=1)
    eps = np.abs(np.einsum("nsa,nsa->ns", pi, Af)).max(axis=1)
    g = np.asarray(b["gamma"], float)
    bound = constant * g * (delta + eps) / (1 - g)
    gap = G - (evt.eta - ev.eta)
    scale = draws.value_scale(b) + np.abs(b["f"]).max(axis=1)
    return Outcome(slack=bound - gap, scale=scale, bound=bound, valid=support_ok)


def exact_trefree(inst, *, constant=2):
    """Certificate of Thm. 3.3 (requires ``pit << pi``)."""
    M, pol, shown = R.tabular_instance(inst, "pi", "pi_new", reals=("f",))
    pi, pit, f = pol["pi"], pol["pi_new"], shown["f"]
    if any(pi[s][a] == 0 and pit[s][a] > 0 for s in range(M.S) for a in range(M.A)):
        raise ValueError("pit is not absolutely continuous w.r.t. pi (delta = inf)")
    ev, evt = R.evaluate(M, pi), R.evaluate(M, pit)
    Af = _exact_Af(M, f)
    dev = [[(pit[s][a] / pi[s][a] - 1) * Af[s][a] if pi[s][a] > 0 else R.Q(0) for a in range(M.A)] for s in range(M.S)]
    G = sum(ev.rho[s] * pi[s][a] * dev[s][a] for s in range(M.S) for a in range(M.A))
    delta = R.max_abs(dev)
    eps = max(abs(sum(pi[s][a] * Af[s][a] for a in range(M.A))) for s in range(M.S))
    bound = R.Q(constant) * M.gamma * (delta + eps) / (1 - M.gamma)
    return R.inequality(G - (evt.eta - ev.eta), bound, shown, G=G, delta=delta, eps=eps)


register(Claim(
    id="bound.trefree",
    source=f"{SRC} Thm. 3.3, eq. 6",
    statement="eta(pit) - eta(pi) >= G_pi(pit) - 2 gamma (delta + eps)/(1-gamma), G = sum_s rho_pi sum_a pi (pit/pi - 1) A_f, "
              "delta = max |(pit/pi - 1) A_f|, eps = max_s |sum_a pi A_f|",
    kind="inequality",
    draw=lambda rng, n: _draw_f(rng, n, full_support=True),
    check=check_trefree,
    schema=draws.schema("pi", "pi_new", f=Field(kind="real", axes=("S",))),
    notes="Proof sketch (exact): eta(pit) - eta(pi) - G = sum_s (rho_pit - rho_pi)(s) sum_a pit A_f, "
          "|sum_a pit A_f| <= delta + eps and ||rho_pit - rho_pi||_1 <= 2 gamma / (1 - gamma) (the t = 0 "
          "terms cancel). The paper's eps (no max over s) must be read as max_s.",
    exact=exact_trefree,
))
