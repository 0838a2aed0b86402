"""Policy gradients, GAE and the natural gradient
(``papers/slides-policy-gradients-gae-npg-trpo.txt``; TRPO App. C for the Fisher-vector product;
Achiam et al. 2017 for the mean-divergence bound quoted on the slide "TRPO: Problem")."""

from __future__ import annotations

import itertools

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from trustopt import estimators, linalg, policies, tabular
from proofs_check import _rational as R, draws
from proofs_check._exact import H_COMPLEX, grad_eta_complex_step, softmax
from proofs_check.registry import Claim, Field, Outcome, register

SRC = "slides-policy-gradients-gae-npg-trpo.txt"


def _with_theta(rng, n, sizes=draws.SIZES, **kw):
    out = []
    for b in draws.tabular(rng, n, policies=(), sizes=sizes, **kw):
        m, S, A = b["r"].shape
        b["theta"] = rng.choice([0.3, 1.0, 3.0, 8.0]) * rng.standard_normal((m, S, A))
        out.append(b)
    return out


THETA_SCHEMA = {**draws.TABULAR_SCHEMA, "theta": Field(kind="real", axes=("S", "A"))}

# ------------------------------------------------------------------------- pg.theorem


def check_pg_theorem(b) -> Outcome:
    """STRO eq. 2.6 / slides: ``grad eta = sum_s rho(s) sum_a grad pi(a|s) A(s, a)`` with the
    softmax Jacobian ``d pi(a|s)/d theta[s,b] = pi(a|s) (1[a=b] - pi(b|s))``, ``rho`` UNNORMALIZED,
    against the complex-step derivative of an independent evaluator; the library's
    :func:`tabular.grad_eta_softmax` is held to the same reference."""
    theta = np.asarray(b["theta"], float)
    M = draws.mdp(b)
    pi = tabular.softmax_policy(theta)
    ev = tabular.evaluate(M, pi)
    jac = pi[..., :, None] * (np.eye(pi.shape[-1]) - pi[..., None, :])  # [n, s, a, b] = d pi(a|s)/d theta[s,b]
    formula = np.einsum("ns,nsab,nsa->nsb", ev.rho, jac, ev.A)
    ref = grad_eta_complex_step(b["P"], b["r"], b["rho0"], b["gamma"], theta)
    lib = tabular.grad_eta_softmax(M, theta, ev=ev)
    n = len(theta)
    err = np.maximum(np.abs(formula - ref).reshape(n, -1).max(1), np.abs(lib - ref).reshape(n, -1).max(1))
    return Outcome(slack=-err, scale=draws.value_scale(b))


register(Claim(
    id="pg.theorem",
    source="stro-stochastic-trust-region-framework.txt eq. 2.6; " + SRC + " 'Policy Gradient Derivation'",
    statement="grad eta(theta) = sum_s rho_theta(s) sum_a grad pi_theta(a|s) A_theta(s,a) (exact derivative by complex step)",
    kind="identity",
    draw=_with_theta,
    check=check_pg_theorem,
    schema=THETA_SCHEMA,
))

# --------------------------------------------------------------- pg.score-function


def _gauss_moments(mu, sigma, degree):
    """``E[X^k]``, ``k = 0..degree`` for ``X ~ N(mu, sigma^2)`` (complex-safe recursion
    ``m_k = mu m_{k-1} + (k-1) sigma^2 m_{k-2}``)."""
    m = [np.ones_like(mu), mu]
    for k in range(2, degree + 1):
        m.append(mu * m[-1] + (k - 1) * sigma**2 * m[-2])
    return np.stack(m[: degree + 1], axis=-1)


def check_score_function(b) -> Outcome:
    """Slides "Score Function Estimator": ``d/dtheta E_{p_theta}[f] = E[f d/dtheta log p_theta]``.

    Categorical (``logits (K,)``, values ``f (K,)``): left side by complex step of
    ``sum_k softmax(theta)_k f_k``, right side ``sum_k p_k f_k (e_k - p)``.
    Gaussian ``N(mu, exp(2 log_sigma))`` and polynomial ``f`` (degree 5): left side by complex step
    of the closed-form moments, right side by Gauss-Hermite quadrature (10 nodes: exact for degree
    ``<= 19``) of ``f(x) ((x - mu)/sigma^2, ((x-mu)/sigma)^2 - 1)``."""
    if "logits" in b:
        th = np.asarray(b["logits"], float)
        f = np.asarray(b["f"], float)
        n, K = th.shape
        E = np.eye(K)
        lhs = (softmax(th[:, None, :] + 1j * H_COMPLEX * E[None]) @ f[..., None].astype(complex))[..., 0].imag / H_COMPLEX
        p = softmax(th)
        rhs = np.einsum("nk,nk,nkj->nj", p, f, E[None] - p[:, None, :])
        scale = np.abs(f).max(axis=1)
        return Outcome(slack=-np.abs(lhs - rhs).max(axis=1), scale=scale)
    mu, ls, c = np.asarray(b["mu"], float), np.asarray(b["log_sigma"], float), np.asarray(b["coef"], float)
    deg = c.shape[1] - 1

    def expect(mu_, ls_):
        return np.einsum("nk,nk->n", _gauss_moments(mu_, np.exp(ls_), deg), c)

    d_mu = expect(mu + 1j * H_COMPLEX, ls.astype(complex)).imag / H_COMPLEX
    d_ls = expect(mu.astype(complex), ls + 1j * H_COMPLEX).imag / H_COMPLEX
    z, w = hermegauss(10)
    w = w / w.sum()
    sigma = np.exp(ls)
    x = mu[:, None] + sigma[:, None] * z[None]
    fx = sum(c[:, k, None] * x**k for k in range(deg + 1))
    r_mu = (fx * (x - mu[:, None]) / sigma[:, None] ** 2) @ w
    r_ls = (fx * (z[None] ** 2 - 1)) @ w
    scale = np.abs(c).sum(axis=1) * (1 + np.abs(mu) + sigma) ** deg
    err = np.maximum(np.abs(d_mu - r_mu), np.abs(d_ls - r_ls))
    return Outcome(slack=-err, scale=scale)


def _draw_score(rng, n):
    K = 4
    m = n // 2
    cat = {"logits": rng.choice([0.5, 2.0, 6.0]) * rng.standard_normal((m, K)), "f": rng.uniform(-1, 1, (m, K))}
    g = {"mu": rng.normal(0, 1, n - m), "log_sigma": rng.uniform(-1.5, 1.0, n - m), "coef": rng.uniform(-1, 1, (n - m, 6))}
    return [cat, g]


register(Claim(
    id="pg.score-function",
    source=SRC + " 'Score Function Estimator'",
    statement="d/dtheta E_{x~p_theta}[f(x)] = E[f(x) d/dtheta log p_theta(x)], categorical (softmax logits) and Gaussian (mean, log-std)",
    kind="identity",
    draw=_draw_score,
    check=check_score_function,
    schema={"logits": Field(kind="real", axes=(None,)), "f": Field(kind="real", axes=(None,)),
            "mu": Field(kind="real"), "log_sigma": Field(kind="real"), "coef": Field(kind="real", axes=(None,))},
))

# ------------------------------------------------------- pg.causality / pg.baseline

HORIZON = 3


def _trajectories(S, A, H):
    """All ``(S A)^H`` state/action sequences: arrays ``(N, H)``."""
    combos = np.array(list(itertools.product(range(S), range(A), repeat=H)), dtype=np.int64)
    return combos[:, 0::2], combos[:, 1::2]


def _trajectory_terms(b):
    """Exact trajectory distribution of a finite-horizon MDP (horizon 3) under ``softmax(theta)``:
    probabilities ``(n, N)``, per-step scores ``(n, N, H, S, A)`` and rewards ``(n, N, H)``."""
    theta = np.asarray(b["theta"], float)
    n, S, A = theta.shape
    s, a = _trajectories(S, A, HORIZON)
    pi = softmax(theta)
    prob = b["rho0"][:, s[:, 0]]
    for t in range(HORIZON):
        prob = prob * pi[:, s[:, t], a[:, t]]
        if t + 1 < HORIZON:
            prob = prob * b["P"][:, s[:, t], a[:, t], s[:, t + 1]]
    score = np.zeros((n, len(s), HORIZON, S, A))
    for t in range(HORIZON):
        # d log pi(a_t|s_t) / d theta[s, b] = 1[s = s_t] (1[b = a_t] - pi(b|s_t))
        onehot_a = np.eye(A)[a[:, t]][None] - pi[:, s[:, t], :]
        score[:, np.arange(len(s)), t, s[:, t], :] = onehot_a
    rew = b["r"][:, s, a]  # (n, N, H)
    return prob, score, rew, s


def check_causality(b, *, lag: int = 1) -> Outcome:
    """Slides "Reducing Variance: Temporal Structure": ``E[grad log pi(a_t|s_t) r_t'] = 0`` for
    every ``t' < t`` (``t' <= t - lag``), by enumerating all trajectories of horizon 3.
    ``lag=0`` (including ``t' = t``) is a deliberately false variant for the tests."""
    prob, score, rew, _ = _trajectory_terms(b)
    worst = np.zeros(prob.shape[0])
    for t in range(HORIZON):
        for tp in range(0, t - lag + 1):
            e = np.einsum("nk,nksa,nk->nsa", prob, score[:, :, t], rew[:, :, tp])
            worst = np.maximum(worst, np.abs(e).reshape(len(worst), -1).max(axis=1))
    scale = np.abs(b["r"]).reshape(len(worst), -1).max(axis=1)
    return Outcome(slack=-worst, scale=scale)


def check_baseline(b) -> Outcome:
    """Slides "Adding a Baseline": ``E[grad log pi(a_t|s_t) b(s_t)] = 0`` for every ``t`` and any
    ``b: S -> R`` (enumeration of all trajectories of horizon 3)."""
    prob, score, rew, s = _trajectory_terms(b)
    base = b["baseline"][np.arange(len(prob))[:, None, None], s[None]]  # (n, N, H)
    e = np.einsum("nk,nktsa,nkt->ntsa", prob, score, base)
    worst = np.abs(e).reshape(len(prob), -1).max(axis=1)
    scale = np.abs(b["baseline"]).max(axis=1)
    return Outcome(slack=-worst, scale=scale)


def _draw_traj(rng, n):
    out = _with_theta(rng, n, sizes=((1, 2), (2, 2), (3, 2), (2, 3)), size_weights=[1, 2, 2, 2])
    for b in out:
        b["baseline"] = rng.uniform(-5, 5, size=b["rho0"].shape)
    return out


register(Claim(
    id="pg.causality",
    source=SRC + " 'Reducing Variance: Temporal Structure'",
    statement="E_tau[grad log pi(a_t|s_t) r(s_t', a_t')] = 0 for t' < t (all trajectories of a horizon-3 MDP enumerated)",
    kind="identity",
    draw=_draw_traj,
    check=check_causality,
    schema={**THETA_SCHEMA, "baseline": Field(kind="real", axes=("S",))},
))

register(Claim(
    id="pg.baseline",
    source=SRC + " 'Reducing Variance: Adding a Baseline'",
    statement="E_tau[grad log pi(a_t|s_t) b(s_t)] = 0 for every t and every b: S -> R (enumeration)",
    kind="identity",
    draw=_draw_traj,
    check=check_baseline,
    schema={**THETA_SCHEMA, "baseline": Field(kind="real", axes=("S",))},
))

# --------------------------------------------------------------------- pg.td-advantage


def check_td_advantage(b) -> Outcome:
    """Slides "Discounting" / "Bootstrapping": ``A_pi(s, a) = E[r_t + gamma V(s_{t+1}) - V(s_t)]`` and
    the n-step forms ``E[r_t + gamma r_{t+1} + ... + gamma^n V(s_{t+n}) - V(s_t)]`` (n = 1, 2, 3),
    computed here from ``P``, ``r``, ``pi`` and the library's ``V``, against the library's ``A``."""
    M = draws.mdp(b)
    pi = b["pi"]
    ev = tabular.evaluate(M, pi)
    g = np.asarray(b["gamma"], float)
    P_pi = np.einsum("nsa,nsat->nst", pi, b["P"])
    r_pi = np.einsum("nsa,nsa->ns", pi, b["r"])
    err = np.zeros(len(g))
    for nstep in (1, 2, 3):
        # after (s, a): reward r(s, a), then states distributed as P(s, a, .) P_pi^k
        tail = ev.V
        for _ in range(nstep - 1):
            tail = r_pi + g[:, None] * np.einsum("nst,nt->ns", P_pi, tail)
        est = b["r"] + g[:, None, None] * np.einsum("nsat,nt->nsa", b["P"], tail) - ev.V[..., None]
        err = np.maximum(err, np.abs(est - ev.A).reshape(len(g), -1).max(axis=1))
    return Outcome(slack=-err, scale=draws.value_scale(b))


def exact_td_advantage(inst, *, gamma=True):
    """Certificate of the one-step form ``A(s, a) = r + gamma E V(s') - V(s)`` (``gamma=False``:
    the variant without gamma): the largest exact discrepancy over ``(s, a)``."""
    M, pol, shown = R.tabular_instance(inst, "pi")
    ev = R.evaluate(M, pol["pi"])
    g = M.gamma if gamma else R.Q(1)
    worst = max((abs(M.r[s][a] + g * sum(M.P[s][a][t] * ev.V[t] for t in range(M.S)) - ev.V[s] - ev.A[s][a]), s, a)
                for s in range(M.S) for a in range(M.A))
    return R.certificate(-worst[0], shown, {"state": worst[1], "action": worst[2]})


register(Claim(
    id="pg.td-advantage",
    source=SRC + " 'Reducing Variance: Discounting', 'Bootstrapping'",
    statement="A_pi(s,a) = E[r_t + gamma V(s_{t+1}) - V(s_t) | s_t=s, a_t=a] (and the 2- and 3-step residuals)",
    kind="identity",
    draw=lambda rng, n: draws.tabular(rng, n, policies=("pi",)),
    check=check_td_advantage,
    schema=draws.schema("pi"),
    exact=exact_td_advantage,
))

# ------------------------------------------------------------------------- gae.limits


def check_gae(b) -> Outcome:
    """Slides "GAE", "GAE: Limiting Cases" on one terminated episode of length T (``V(s_T) = 0``):
    :func:`trustopt.estimators.gae` with ``lambda = 0`` equals the TD residual ``delta_t``; with
    ``lambda = 1`` it equals ``R_t^gamma - V(s_t)``; for the drawn ``lambda`` it equals both
    ``sum_l (gamma lambda)^l delta_{t+l}`` and the lambda-weighted n-step sum of the slide
    ``(1-lambda) sum_{n=1}^{T-t-1} lambda^{n-1} A_t^{(n)} + lambda^{T-t-1} A_t^{(T-t)}``
    (all references computed here by direct sums)."""
    r, V = np.asarray(b["rewards"], float), np.asarray(b["values"], float)
    g, lam = np.asarray(b["gamma"], float), np.asarray(b["lambda_"], float)
    n, T = r.shape
    err = np.zeros(n)
    for i in range(n):
        term = np.zeros(T, bool)
        term[-1] = True
        Vn = np.append(V[i, 1:], 0.0)
        delta = r[i] + g[i] * Vn - V[i]
        ret = np.array([sum(g[i] ** l * r[i, t + l] for l in range(T - t)) for t in range(T)])
        nstep = lambda t, k: sum(g[i] ** l * r[i, t + l] for l in range(k)) + g[i] ** k * (V[i, t + k] if t + k < T else 0.0) - V[i, t]
        lam_sum = np.array([sum((g[i] * lam[i]) ** l * delta[t + l] for l in range(T - t)) for t in range(T)])
        weighted = np.array([
            sum((1 - lam[i]) * lam[i] ** (k - 1) * nstep(t, k) for k in range(1, T - t)) + lam[i] ** (T - t - 1) * nstep(t, T - t)
            for t in range(T)])
        a0 = estimators.gae(r[i], V[i], term, gamma=float(g[i]), lambda_=0.0)
        a1 = estimators.gae(r[i], V[i], term, gamma=float(g[i]), lambda_=1.0)
        al = estimators.gae(r[i], V[i], term, gamma=float(g[i]), lambda_=float(lam[i]))
        err[i] = max(np.abs(a0 - delta).max(), np.abs(a1 - (ret - V[i])).max(), np.abs(al - lam_sum).max(),
                     np.abs(al - weighted).max())
    scale = (np.abs(r).max(axis=1) + np.abs(V).max(axis=1)) * T
    return Outcome(slack=-err, scale=scale)


def exact_gae(inst, *, shift: int = 0, power_offset: int = 0):
    """Certificate of ``GAE_t = sum_l (gamma lambda)^l delta_{t+l}`` against the slide's
    lambda-weighted n-step sum (both exact); ``shift``/``power_offset`` give the variants
    ``delta_{t+l+shift}`` and ``(gamma lambda)^(l+power_offset)``."""
    r, V = R.rational_array(inst["rewards"]), R.rational_array(inst["values"])
    g, lam = R.rational(np.asarray(inst["gamma"]).reshape(())), R.rational(np.asarray(inst["lambda_"]).reshape(()))
    T = len(r)
    Vn = V[1:] + [R.Q(0)]
    delta = [r[t] + g * Vn[t] - V[t] for t in range(T)]

    def nstep(t, k):
        return sum(g**l * r[t + l] for l in range(k)) + g**k * (V[t + k] if t + k < T else 0) - V[t]

    worst = R.Q(0)
    for t in range(T):
        weighted = sum((1 - lam) * lam ** (k - 1) * nstep(t, k) for k in range(1, T - t)) + lam ** (T - t - 1) * nstep(t, T - t)
        claimed = sum((g * lam) ** (l + power_offset) * delta[t + l + shift] for l in range(T - t - shift))
        worst = max(worst, abs(weighted - claimed))
    return R.certificate(-worst, {"rewards": r, "values": V, "gamma": g, "lambda_": lam})


def _draw_gae(rng, n):
    out = []
    for T, m in draws.per_size((1, 2, 5, 12), n):
        out.append({"rewards": rng.normal(0, 1, (m, T)), "values": rng.normal(0, 3, (m, T)),
                    "gamma": rng.choice([0.0, 0.5, 0.9, 0.99, 1.0], m), "lambda_": rng.uniform(0, 1, m)})
    return out


register(Claim(
    id="gae.limits",
    source=SRC + " 'Generalized Advantage Estimation', 'GAE: Limiting Cases'",
    statement="GAE(gamma,0) = delta_t; GAE(gamma,1) = R_t^gamma - V(s_t); lambda-weighted n-step sum = sum_l (gamma lambda)^l delta_{t+l}",
    kind="identity",
    draw=_draw_gae,
    check=check_gae,
    max_instances=2000,
    schema={"rewards": Field(kind="real", axes=(None,)), "values": Field(kind="real", axes=(None,)),
            "gamma": Field(kind="unit"), "lambda_": Field(kind="unit")},
    exact=exact_gae,
))

# --------------------------------------------------------------------------- npg.step


def check_npg_step(b) -> Outcome:
    """Slides "Natural Policy Gradient: Solution"; TRPO App. C: with ``x = F^{-1} g`` computed by
    :func:`trustopt.linalg.conjugate_gradient` (matrix-vector products only),
    ``d = sqrt(2 delta / g'x) x`` is feasible (``1/2 d'Fd = delta``) and optimal: ``g'd`` equals the
    maximum ``sqrt(2 delta g'F^{-1}g)`` of ``g'd`` over the ellipsoid, computed independently from
    the eigendecomposition of ``F`` (Cauchy-Schwarz in the ``F`` metric)."""
    F, g, delta = np.asarray(b["F"], float), np.asarray(b["g"], float), np.asarray(b["delta"], float)
    n, k = g.shape
    err = np.zeros(n)
    for i in range(n):
        res = linalg.conjugate_gradient(lambda v, F=F[i]: F @ v, g[i], max_iter=4 * k, residual_tol=1e-28)
        x = np.asarray(res.x)
        d = np.sqrt(2 * delta[i] / (g[i] @ x)) * x
        w, U = np.linalg.eigh(F[i])
        best = np.sqrt(2 * delta[i] * np.sum((U.T @ g[i]) ** 2 / w))
        err[i] = max(abs(0.5 * d @ F[i] @ d - delta[i]) / delta[i] * best, abs(g[i] @ d - best))
    scale = np.sqrt(2 * delta * np.einsum("ni,ni->n", g, g) / np.array([np.linalg.eigvalsh(f).min() for f in F]))
    return Outcome(slack=-err, scale=scale, rtol=1e-7)


def _draw_npg(rng, n):
    out = []
    for k, m in draws.per_size((1, 2, 4, 8), n):
        X = rng.normal(size=(m, k, k + 2))
        F = X @ np.swapaxes(X, 1, 2) / (k + 2) + 1e-2 * np.eye(k)
        out.append({"F": F, "g": rng.normal(size=(m, k)), "delta": np.exp(rng.uniform(-6, 0, m))})
    return out


register(Claim(
    id="npg.step",
    source=SRC + " 'Natural Policy Gradient: Solution'; trpo App. C",
    statement="d = sqrt(2 delta / g'F^{-1}g) F^{-1} g solves max g'd s.t. 1/2 d'Fd <= delta (F^{-1}g by conjugate gradient)",
    kind="identity",
    draw=_draw_npg,
    check=check_npg_step,
    max_instances=3000,
    schema={"F": Field(kind="fixed"), "g": Field(kind="real", axes=(None,)), "delta": Field(kind="positive")},
    notes="Tolerance 1e-7 of sqrt(2 delta |g|^2 / lambda_min(F)): CG on matrices with condition number up to ~1e4.",
))

# ---------------------------------------------------------------------- npg.kl-taylor


def check_kl_taylor(b, *, h: float = 1e-4) -> Outcome:
    """Slides "Second-Order Taylor Expansion of KL": at ``theta = theta'`` the gradient of
    ``theta -> KL(p_theta' || p_theta)`` vanishes and its Hessian is the Fisher matrix.

    Categorical (softmax logits, the library's :func:`tabular.kl` on one row): central finite
    differences of the library's KL (error ``<= h^2`` times the third derivative, ``O(1)`` for
    logits; round-off ``~1e-16 / h^2``) against ``F = diag(p) - p p'``. Gaussian ``(mu, log_std)``
    (the library's :meth:`trustopt.policies.LinearGaussian.kl` at a zero observation):
    ``F = diag(1/sigma^2, 2)``."""
    if "logits" in b:
        th = np.asarray(b["logits"], float)
        n, K = th.shape
        p = softmax(th)

        def kl(t):  # t (..., K) -> KL(p || softmax(t)) with the library's function
            return tabular.kl(np.broadcast_to(p, t.shape)[..., None, :], softmax(t)[..., None, :])[..., 0]

        E = np.eye(K)
        grad = np.stack([(kl(th + h * E[j]) - kl(th - h * E[j])) / (2 * h) for j in range(K)], axis=-1)
        hess = np.empty((n, K, K))
        for j in range(K):
            for l in range(K):
                hess[:, j, l] = (kl(th + h * (E[j] + E[l])) - kl(th + h * (E[j] - E[l]))
                                 - kl(th - h * (E[j] - E[l])) + kl(th - h * (E[j] + E[l]))) / (4 * h * h)
        fisher = p[:, :, None] * E[None] - p[:, :, None] * p[:, None, :]
        err = np.maximum(np.abs(grad).max(axis=1), np.abs(hess - fisher).reshape(n, -1).max(axis=1))
        return Outcome(slack=-err, scale=np.ones(n), rtol=1e-5)
    mu, ls = np.asarray(b["mu"], float), np.asarray(b["log_std"], float)
    n = len(mu)
    pol = policies.LinearGaussian(obs_dim=1, act_dim=1)
    err = np.zeros(n)
    for i in range(n):
        th0 = pol.pack(np.zeros((1, 1)), np.array([mu[i]]), np.array([ls[i]]))
        idx = [pol.n_params - 2, pol.n_params - 1]  # b and log_std
        f = lambda t: float(pol.kl(th0, t, np.zeros(1)))
        E = np.eye(pol.n_params)
        grad = np.array([(f(th0 + h * E[j]) - f(th0 - h * E[j])) / (2 * h) for j in idx])
        hess = np.array([[(f(th0 + h * (E[j] + E[l])) - f(th0 + h * (E[j] - E[l])) - f(th0 - h * (E[j] - E[l]))
                           + f(th0 - h * (E[j] + E[l]))) / (4 * h * h) for l in idx] for j in idx])
        fisher = np.diag([np.exp(-2 * ls[i]), 2.0])
        err[i] = max(np.abs(grad).max(), np.abs(hess - fisher).max() / max(1.0, np.exp(-2 * ls[i])))
    return Outcome(slack=-err, scale=np.ones(n), rtol=1e-5)


def _draw_kl_taylor(rng, n):
    m = n // 2
    return [{"logits": rng.choice([0.3, 1.0, 3.0]) * rng.standard_normal((m, 4))},
            {"mu": rng.normal(0, 2, min(n - m, 500)), "log_std": rng.uniform(-1, 1, min(n - m, 500))}]


register(Claim(
    id="npg.kl-taylor",
    source=SRC + " 'Second-Order Taylor Expansion of KL'",
    statement="grad_theta KL(p_theta' || p_theta) at theta = theta' is 0 and its Hessian is the Fisher matrix (categorical, Gaussian)",
    kind="identity",
    draw=_draw_kl_taylor,
    check=check_kl_taylor,
    schema={"logits": Field(kind="real", axes=(None,)), "mu": Field(kind="real"), "log_std": Field(kind="real")},
    notes="Finite differences with h = 1e-4: truncation ~h^2 = 1e-8, round-off ~1e-16/h^2 = 1e-8; tolerance 1e-5.",
))

# -------------------------------------------------------------------------- npg.fvp


def check_fvp(b, *, h: float = 1e-4) -> Outcome:
    """TRPO App. C.1 eq. 56-57: the library's Fisher-vector product ``J'MJ v`` of a linear Gaussian
    policy (:meth:`trustopt.policies.LinearGaussian.fisher_vector_product`) equals the
    Hessian-vector product of the mean KL ``theta -> Dbar_KL(theta_old || theta)`` at
    ``theta = theta_old``, computed here by central differences of the library's ``mean_kl``
    along ``v`` (second differences of a smooth function: error ``O(h^2)``)."""
    n = len(b["theta"])
    err = np.zeros(n)
    scale = np.zeros(n)
    for i in range(n):
        k, m = int(b["obs_dim"][i]), int(b["act_dim"][i])
        pol = policies.LinearGaussian(obs_dim=k, act_dim=m)
        th = b["theta"][i][: pol.n_params]
        v = b["v"][i][: pol.n_params]
        obs = b["obs"][i][:, :k]
        fvp = pol.fisher_vector_product(th, obs, v)
        f = lambda t: pol.mean_kl(th, t, obs)
        # directional second differences give v' H e_j; use d/dt grad along v via polarization
        E = np.eye(pol.n_params)
        hv = np.array([(f(th + h * (v + E[j])) - f(th + h * (v - E[j])) - f(th - h * (v - E[j])) + f(th - h * (v + E[j])))
                       / (4 * h * h) for j in range(pol.n_params)])
        err[i] = np.abs(fvp - hv).max()
        scale[i] = np.abs(fvp).max() + np.abs(v).max()
    return Outcome(slack=-err, scale=scale, rtol=1e-5)


def _draw_fvp(rng, n):
    m = min(n, 300)
    kmax, amax = 3, 2
    P = amax * kmax + 2 * amax
    obs_dim = rng.integers(1, kmax + 1, m)
    act_dim = rng.integers(1, amax + 1, m)
    theta = rng.normal(0, 0.5, (m, P))
    theta[:, -2 * amax:] = rng.uniform(-1, 0.5, (m, 2 * amax))
    return [{"theta": theta, "v": rng.normal(0, 1, (m, P)), "obs": rng.normal(0, 1, (m, 6, kmax)),
             "obs_dim": obs_dim.astype(float), "act_dim": act_dim.astype(float)}]


register(Claim(
    id="npg.fvp",
    source="trpo-trust-region-policy-optimization.txt App. C.1 eq. 56-57; " + SRC + " 'Computing the Natural Gradient'",
    statement="J'MJ v (library Fisher-vector product) = Hessian-vector product of the mean KL of a linear Gaussian policy",
    kind="identity",
    draw=_draw_fvp,
    check=check_fvp,
    max_instances=300,
    schema={"theta": Field(kind="fixed"), "v": Field(kind="fixed"), "obs": Field(kind="fixed"),
            "obs_dim": Field(kind="fixed"), "act_dim": Field(kind="fixed")},
    notes="Hessian-vector product by central second differences (h = 1e-4, error ~1e-8 relative); tolerance 1e-5.",
))

# ----------------------------------------------------------------------- bound.mean-kl


def check_mean_kl(b, *, visitation: str = "dbar") -> Outcome:
    """Slides "TRPO: Problem" (Achiam et al. 2017, Cor. 1-3 with Pinsker):
    ``|eta(pit) - L_pi(pit)| <= 2 gamma epst/(1-gamma)^2 E_{s~dbar_pi}[TV_s]
    <= 2 gamma epst/(1-gamma)^2 sqrt(E_{dbar_pi}[KL_s]/2)``, ``epst = max_s |sum_a pit A_pi|``,
    ``dbar_pi = (1-gamma) rho_pi`` NORMALIZED. Both chains are checked for the KL in BOTH
    directions (catalogue: ``KL(pit||pi)``; slides: ``KL(pi_k || pi)``), both hold (Pinsker is
    direction-free). Tightness is reported for the first (TV) inequality.
    ``visitation="rho"`` (unnormalized) is a deliberately wrong variant for the tests."""
    M = draws.mdp(b)
    ev = tabular.evaluate(M, b["pi"])
    evt = tabular.evaluate(M, b["pi_new"])
    L = np.asarray(tabular.surrogate(M, b["pi"], b["pi_new"], ev=ev), float)
    g = np.asarray(b["gamma"], float)
    w = tabular.normalized_visitation(M, ev) if visitation == "dbar" else ev.rho
    epst = np.abs(np.einsum("nsa,nsa->ns", b["pi_new"], ev.A)).max(axis=1)
    C = 2 * g * epst / (1 - g) ** 2
    B1 = C * tabular.visitation_weighted(tabular.tv(b["pi"], b["pi_new"]), dbar=w)
    # KL >= 0; the library may return -1e-16 for rows equal up to round-off
    kl_new_old = tabular.visitation_weighted(np.maximum(tabular.kl(b["pi_new"], b["pi"]), 0.0), dbar=w)
    kl_old_new = tabular.visitation_weighted(np.maximum(tabular.kl(b["pi"], b["pi_new"]), 0.0), dbar=w)
    with np.errstate(invalid="ignore"):
        B2a = np.where(C > 0, C * np.sqrt(kl_new_old / 2), 0.0)
        B2b = np.where(C > 0, C * np.sqrt(kl_old_new / 2), 0.0)
    X = np.abs(evt.eta - L)
    scale = draws.value_scale(b)
    slack = np.minimum(B1 - X, np.minimum(B2a - B1, B2b - B1))
    return Outcome(slack=slack, scale=scale, bound=B1, gap=X)


def exact_mean_kl(inst, *, visitation: str = "dbar"):
    """Certificate of both chains of :func:`check_mean_kl` on the instance made rational (KL and
    square roots enclosed by rational intervals); ``gap``/``bound`` are the first inequality's."""
    M, pol, shown = R.tabular_instance(inst, "pi", "pi_new")
    pi, pit = pol["pi"], pol["pi_new"]
    ev, evt = R.evaluate(M, pi), R.evaluate(M, pit)
    L = R.surrogate(M, ev, pit)
    g = M.gamma
    w = [(1 - g) * x for x in ev.rho] if visitation == "dbar" else ev.rho
    epst = max(abs(sum(pit[s][a] * ev.A[s][a] for a in range(M.A))) for s in range(M.S))
    C = 2 * g * epst / (1 - g) ** 2
    B1 = C * sum(w[s] * R.tv(pi[s], pit[s]) for s in range(M.S))
    X = abs(evt.eta - L)
    slacks = [B1 - X]
    if C > 0:
        for p_, q_ in ((pit, pi), (pi, pit)):
            if any(w[s] > 0 and R.kl_is_infinite(p_[s], q_[s]) for s in range(M.S)):
                continue  # an infinite mean KL: that chain's bound is +inf
            mean = sum((w[s] * R.kl(p_[s], q_[s]) for s in range(M.S) if w[s] > 0), R.Interval(0))
            mean = R.Interval(max(mean.lo, R.Q(0)), max(mean.hi, R.Q(0)))
            slacks.append(C * R.sqrt(mean / 2) - B1)
    return R.certificate(R.imin(slacks), shown, {"gap": X, "bound_tv": B1, "C": C}, gap=X, bound=B1)


register(Claim(
    id="bound.mean-kl",
    source=SRC + " 'TRPO: Problem' (Achiam et al. 2017, Constrained Policy Optimization, Cor. 3)",
    statement="|eta(pit) - L_pi(pit)| <= 2 gamma epst/(1-gamma)^2 E_{dbar_pi}[TV_s] <= 2 gamma epst/(1-gamma)^2 sqrt(E_{dbar_pi}[KL(pit||pi)]/2), "
              "epst = max_s |E_{pit} A_pi|; also with KL(pi||pit)",
    kind="inequality",
    draw=draws.tabular,
    check=check_mean_kl,
    schema=draws.schema("pi", "pi_new"),
    notes="The KL direction does not matter here: TV is symmetric and Pinsker's inequality holds for "
          "KL(p||q) and KL(q||p), and sqrt is concave (Jensen) -- both directions are checked. "
          "The expectations must be under the NORMALIZED dbar_pi: Jensen's step E[sqrt(KL/2)] <= "
          "sqrt(E[KL]/2) needs a probability measure, and with the unnormalized rho_pi the sqrt form fails "
          "(a false variant in the tests).",
    exact=exact_mean_kl))
