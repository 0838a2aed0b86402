"""Claims of information-geometric optimization (IGO) on the Gaussian family, the theory of CMA-ES and of
the library's ``trust-region-cma`` method.

Sources (not in ``papers/``; cited by section): Akimoto, Nagata, Ono & Kobayashi, "Bidirectional
relation between CMA evolution strategies and natural evolution strategies", PPSN XI 2010, Sec. 3;
Ollivier, Arnold, Auger & Hansen, "Information-geometric optimization algorithms: a unifying picture
via invariance principles", JMLR 18, 2017, Sec. 4.2 (Gaussian IGO); Abdolmaleki et al., "Model-based
relative entropy stochastic search" (MORE), NeurIPS 2015, and "Deriving and improving CMA-ES with
information geometric trust regions", GECCO 2017 (the KL-bounded step); Hansen 2016, "The CMA
evolution strategy: a tutorial", arXiv:1604.00772.

The exact side is :mod:`trustopt.smoothing.full_gaussian` (closed forms for quadratic ``F``, the
Fisher matrix, the KL through relative eigenvalues), which does not import the code it checks:
:func:`trustopt.components.gaussian.gaussian_kl` and the ask/tell class :class:`trustopt.TrustRegionCMA`.

Instances: ``m (d,)``, a factor ``A (d, d)`` with ``S = A A'`` (so every perturbation of the adversarial
search keeps ``S`` positive semidefinite; instances with ``cond(S) > KAPPA_MAX`` are not counted),
``H (d, d)`` (symmetrized), ``g (d,)``; ``d`` from 1 to 5. Edge cases are mixed in: ``S`` a multiple of
the identity or diagonal, condition numbers up to ``1e4``, scales from ``1e-2`` to ``1e2``, ``H = 0``
(linear ``F``), ``g = 0``.
"""

from __future__ import annotations

import math

import numpy as np

import trustopt
from trustopt import smoothing
from trustopt.components.gaussian import gaussian_kl as library_kl
from proofs_check import _rational as R, draws
from proofs_check.registry import Claim, Field, Outcome, register

SRC_IGO = "Akimoto et al. PPSN 2010, Sec. 3; Ollivier et al. JMLR 2017, Sec. 4.2"
SRC_TR = "Abdolmaleki et al. NeurIPS 2015 (MORE) and GECCO 2017; Ollivier et al. JMLR 2017, Sec. 4.2"
SIZES = (1, 2, 3, 4, 5)
#: Instances whose covariance has a larger condition number are not counted (the Fisher route of the
#: natural gradient solves a system of condition ``~ cond(S)^2``).
KAPPA_MAX = 1e6
EPS = np.finfo(float).eps


# ----------------------------------------------------------------------------- draws


def _factor(rng, m, d):
    """Factors ``A (m, d, d)`` of ``S = A A'``: a third multiples of the identity, a third diagonal, a
    third general (a rotation times singular values spread over up to 4 decades of ``S``); overall
    scale log-uniform in ``[1e-2, 1e2]`` (standard deviations ``1e-1 .. 1e1``)."""
    kind = rng.integers(0, 3, m)
    scale = np.exp(rng.uniform(np.log(0.1), np.log(10.0), m))[:, None, None]
    spread = np.exp(rng.uniform(-1, 1, (m, d)) * rng.uniform(0, np.log(10.0), (m, 1)))
    Q, _ = np.linalg.qr(rng.standard_normal((m, d, d)))
    A = np.where((kind == 0)[:, None, None], np.eye(d), 0.0)
    A = A + np.where((kind == 1)[:, None, None], spread[:, :, None] * np.eye(d), 0.0)
    A = A + np.where((kind == 2)[:, None, None], Q * spread[:, None, :] @ np.swapaxes(Q, 1, 2)
                     + 0.3 * rng.standard_normal((m, d, d)), 0.0)
    return scale * A


def _draw_quadratic(rng, n, *, sizes=SIZES):
    """``m, A, H, g`` per instance; a sixth of the ``H`` are zero (linear ``F``), a sixth of the ``g``."""
    out = []
    for d, m in draws.split_sizes(rng, n, sizes):
        H = rng.normal(0, 1, (m, d, d)) * rng.choice([0.1, 1.0, 10.0], (m, 1, 1))
        H[rng.random(m) < 1 / 6] = 0.0
        g = rng.normal(0, 1, (m, d)) * rng.choice([0.1, 1.0, 10.0], (m, 1))
        g[rng.random(m) < 1 / 6] = 0.0
        out.append({"m": rng.normal(0, 2, (m, d)), "A": _factor(rng, m, d), "H": H, "g": g})
    return out


D_FIELD = Field(kind="real", axes=("d",))
DD_FIELD = Field(kind="real", axes=("d", "d"))
QUAD_SCHEMA = {"m": D_FIELD, "A": DD_FIELD, "H": DD_FIELD, "g": D_FIELD}


def _spd(A, kappa_max=KAPPA_MAX):
    """``(S, valid, kappa)``: ``S = A A'`` (symmetrized), where it is positive definite with
    ``cond(S) <= kappa_max`` (elsewhere the identity, not counted)."""
    A = np.asarray(A, float)
    S = A @ np.swapaxes(A, -1, -2)
    S = 0.5 * (S + np.swapaxes(S, -1, -2))
    ev = np.linalg.eigvalsh(S)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = ev[..., -1] / ev[..., 0]
    valid = np.isfinite(kappa) & (ev[..., 0] > 0) & (kappa <= kappa_max)
    d = S.shape[-1]
    return np.where(valid[:, None, None], S, np.eye(d)), valid, np.where(valid, kappa, 1.0)


def _sym(H):
    H = np.asarray(H, float)
    return 0.5 * (H + np.swapaxes(H, -1, -2))


# ----------------------------------------------------------------------------- natural gradient


def _routes(m, S, H, g, order):
    """The natural gradient of ``J`` for ``F = 1/2 x'Hx + g'x`` by three routes: the closed form of the
    expectation form, ``Fisher^{-1}`` times the Euclidean gradient, and Gauss-Hermite quadrature of the
    expectations ``E[F (X - m)]``, ``E[F ((X - m)(X - m)' - S)]`` (exact for a quadratic, ``order >= 3``)."""
    q = smoothing.Quadratic(H=H, g=g, c=0.0)
    closed = smoothing.FullGaussian(F=q)
    quad = smoothing.FullGaussian(F=q, d=len(g), order=order)
    return closed.natural_gradient(m, S), closed.natural_gradient_fisher(m, S), quad.natural_gradient(m, S)


def check_natural_gradient(b, *, order: int = 3, s_factor: float = 1.0) -> Outcome:
    """IGO (Akimoto et al. 2010, Sec. 3; Ollivier et al. 2017, Sec. 4.2): for ``X ~ N(m, S)`` and a
    quadratic ``F``, the natural gradient of ``J(m, S) = E F(X)`` under the Fisher metric,
    ``Fisher^{-1} grad J`` in the coordinates ``(m, vech S)``, equals the expectation form
    ``(E[F(X)(X - m)], E[F(X)((X - m)(X - m)' - S)]) = (S (H m + g), S H S)``. Three routes
    (:func:`_routes`) must agree; ``s_factor`` scales the closed form's covariance part (a variant).

    Slack: minus the largest disagreement, relative to the size of the compared quantities
    (``F_scale sqrt||S||`` for the mean part, ``F_scale ||S||`` for the covariance part, ``F_scale`` the
    size of ``F - F(m)`` over the typical set). Tolerance ``1e-9 + 100 eps cond(S)^2`` (the round-off of
    a solve with the Fisher matrix, whose condition number is ``~ cond(S)^2``; measured: at most
    ``1.5 eps cond(S)^2``); instances with ``cond(S) > 1e5`` are not counted."""
    n = len(b["m"])
    S, valid, kappa = _spd(b["A"], kappa_max=1e5)
    H, g, m = _sym(b["H"]), np.asarray(b["g"], float), np.asarray(b["m"], float)
    err = np.zeros(n)
    for i in range(n):
        if not valid[i]:
            continue
        routes = _routes(m[i], S[i], H[i], g[i], order)
        nS = np.linalg.norm(S[i], 2)
        f_scale = np.linalg.norm(H[i] @ m[i] + g[i]) * math.sqrt(nS) + np.linalg.norm(H[i], 2) * nS + 1e-300
        ref_m, ref_S = routes[0][0], s_factor * routes[0][1]
        for r_m, r_S in routes[1:]:
            err[i] = max(err[i], np.abs(r_m - ref_m).max() / (f_scale * math.sqrt(nS)),
                         np.abs(r_S - ref_S).max() / (f_scale * nS))
    return Outcome(slack=-err, scale=1.0 + 100 * EPS * kappa**2 / 1e-9, valid=valid)


def _exact_fisher_route(S, gm, G):
    """``Fisher^{-1} (grad_m, vech(G (2 - I)))`` in exact rationals: ``(nat_m, nat_S)`` (lists)."""
    d = len(S)
    Si = list(zip(*[R.solve(S, [R.Q(int(i == j)) for i in range(d)]) for j in range(d)]))  # columns of S^-1
    pairs = [(i, j) for i in range(d) for j in range(i + 1)]                                 # vech order

    def basis(i, j):
        return [(i, j)] if i == j else [(i, j), (j, i)]

    def iss(a, b):  # 1/2 tr(S^-1 E_a S^-1 E_b), E_ij = e_i e_j': tr(S^-1 E_ij S^-1 E_kl) = S^-1[l][i] S^-1[j][k]
        return sum(Si[l][i] * Si[j][k] for i, j in basis(*a) for k, l in basis(*b)) / 2

    q = len(pairs)
    M = [[R.Q(0)] * (d + q) for _ in range(d + q)]
    for i in range(d):
        for j in range(d):
            M[i][j] = Si[i][j]
    for a in range(q):
        for b in range(q):
            M[d + a][d + b] = iss(pairs[a], pairs[b])
    rhs = list(gm) + [G[i][j] * (1 if i == j else 2) for i, j in pairs]
    x = R.solve(M, rhs)
    nat_S = [[R.Q(0)] * d for _ in range(d)]
    for a, (i, j) in enumerate(pairs):
        nat_S[i][j] = nat_S[j][i] = x[d + a]
    return x[:d], nat_S


def exact_natural_gradient(inst, *, s_factor=1):
    """Certificate of :func:`check_natural_gradient` (closed form against the Fisher route, both in exact
    rationals; ``S = A A'``, ``H`` symmetrized): slack ``-max |closed - Fisher solve|`` over the entries."""
    A, H0, g, m = (R.rational_array(inst[k]) for k in ("A", "H", "g", "m"))
    d = len(g)
    S = [[sum(A[i][k] * A[j][k] for k in range(d)) for j in range(d)] for i in range(d)]
    H = [[(H0[i][j] + H0[j][i]) / 2 for j in range(d)] for i in range(d)]
    gm = [sum(H[i][k] * m[k] for k in range(d)) + g[i] for i in range(d)]
    mat = lambda X, Y: [[sum(X[i][k] * Y[k][j] for k in range(d)) for j in range(d)] for i in range(d)]  # noqa: E731
    closed_m = [sum(S[i][k] * gm[k] for k in range(d)) for i in range(d)]
    closed_S = [[R.Q(s_factor) * v for v in row] for row in mat(mat(S, H), S)]
    fm, fS = _exact_fisher_route(S, gm, [[H[i][j] / 2 for j in range(d)] for i in range(d)])
    diff = max([abs(a - b) for a, b in zip(closed_m, fm)] + [abs(closed_S[i][j] - fS[i][j])
                                                              for i in range(d) for j in range(d)])
    shown = {"m": m, "A": A, "H": H0, "g": g}
    return R.certificate(-diff, shown, {"closed_S": closed_S, "fisher_S": fS})


register(Claim(
    id="igo.natural-gradient",
    source=f"{SRC_IGO}; Fisher metric dm' S^-1 dm + 1/2 tr(S^-1 dS S^-1 dS)",
    statement="X ~ N(m, S), F(x) = 1/2 x'Hx + g'x: Fisher^{-1} grad_(m, vech S) E F(X) = "
              "(E[F(X)(X - m)], E[F(X)((X - m)(X - m)' - S)]) = (S (H m + g), S H S) "
              "(closed form = Fisher solve = Gauss-Hermite quadrature)",
    kind="identity", draw=_draw_quadratic, check=check_natural_gradient, schema=QUAD_SCHEMA,
    max_instances=3000, exact=exact_natural_gradient,
    notes="The closed form is Stein's lemma (mean part) and Isserlis' theorem (E[Y'HY YY'] = tr(HS) S + 2 SHS "
          "for Y ~ N(0, S)); the Fisher route builds the metric in (m, vech S) coordinates and solves with it; "
          "quadrature runs in the eigenbasis of S with 3 nodes per axis (exact for degree <= 5).",
))


# ----------------------------------------------------------------------------- KL: the library against the oracle


def _draw_pairs(rng, n, *, sizes=SIZES):
    """Two Gaussians ``(m0, A0), (m1, A1)``: a quarter equal means, a quarter equal covariances, a
    quarter nearby (relative perturbations of log-uniform size ``1e-6 .. 1``), the rest independent."""
    out = []
    for d, m in draws.split_sizes(rng, n, sizes):
        m0, A0 = rng.normal(0, 2, (m, d)), _factor(rng, m, d)
        m1, A1 = rng.normal(0, 2, (m, d)), _factor(rng, m, d)
        kind = rng.integers(0, 4, m)
        step = np.exp(rng.uniform(np.log(1e-6), 0.0, m))
        near_m = m0 + step[:, None] * rng.normal(0, 1, (m, d)) * np.abs(A0).max(axis=(1, 2))[:, None]
        near_A = A0 * (1 + step[:, None, None] * rng.normal(0, 1, (m, d, d)))
        m1 = np.where((kind == 0)[:, None], m0, np.where((kind == 2)[:, None], near_m, m1))
        A1 = np.where((kind == 1)[:, None, None], A0, np.where((kind == 2)[:, None, None], near_A, A1))
        out.append({"m0": m0, "A0": A0, "m1": m1, "A1": A1})
    return out


PAIR_SCHEMA = {"m0": D_FIELD, "A0": DD_FIELD, "m1": D_FIELD, "A1": DD_FIELD}


def _kl_size(m0, S0, m1, S1):
    """The size of the terms a textbook KL sums (``tr(S1^-1 S0)``, the Mahalanobis term, ``d``, both log
    determinants): its round-off scale."""
    lam = smoothing.relative_eigenvalues(S0, S1)
    ld = np.linalg.slogdet(S0)[1], np.linalg.slogdet(S1)[1]
    maha = 2 * smoothing.gaussian_kl(m0, S1, m1, S1)
    return lam.sum(-1) + maha + lam.shape[-1] + np.abs(ld[0]) + np.abs(ld[1])


def check_kl(b) -> Outcome:
    """``trustopt.components.gaussian.gaussian_kl`` (trace, Cholesky and log-determinants) equals the
    oracle's KL (:func:`trustopt.smoothing.gaussian_kl`: relative eigenvalues, no cancellation) for full
    covariances and for their diagonals given as vectors, and is 0 for equal arguments. Slack ``-max |diff|``;
    scale: the size of the library's summed terms times ``cond(S1)`` (its Cholesky solve)."""
    S0, v0, k0 = _spd(b["A0"])
    S1, v1, k1 = _spd(b["A1"])
    m0, m1 = np.asarray(b["m0"], float), np.asarray(b["m1"], float)
    n = len(m0)
    oracle = smoothing.gaussian_kl(m0, S0, m1, S1)
    D0, D1 = np.diagonal(S0, axis1=1, axis2=2), np.diagonal(S1, axis1=1, axis2=2)
    oracle_diag = smoothing.gaussian_kl(m0, D0, m1, D1)
    diff = np.zeros(n)
    for i in range(n):
        diff[i] = max(abs(library_kl(m0[i], S0[i], m1[i], S1[i]) - oracle[i]),
                      abs(library_kl(m0[i], D0[i], m1[i], D1[i]) - oracle_diag[i]),
                      abs(library_kl(m0[i], S0[i], m0[i], S0[i])), abs(library_kl(m0[i], D0[i], m0[i], D0[i])))
    scale = (_kl_size(m0, S0, m1, S1) + _kl_size(m0, D0[..., None] * np.eye(D0.shape[-1]), m1,
                                                 D1[..., None] * np.eye(D1.shape[-1]))) * np.maximum(k0, k1)
    return Outcome(slack=-diff, scale=scale, valid=v0 & v1)


register(Claim(
    id="igo.kl",
    source="trustopt.components.gaussian.gaussian_kl against the oracle trustopt.smoothing.gaussian_kl",
    statement="KL(N(m0,S0) || N(m1,S1)) = 1/2 [tr(S1^-1 S0) + (m1-m0)' S1^-1 (m1-m0) - d + ln det S1 - ln det S0] "
              "(library, full and diagonal covariances) = 1/2 [(m1-m0)' S1^-1 (m1-m0) + sum_i (lambda_i - 1 - ln lambda_i)], "
              "lambda = eig(S1^-1 S0) (oracle); KL(p || p) = 0",
    kind="identity", draw=_draw_pairs, check=check_kl, schema=PAIR_SCHEMA, max_instances=5000,
))


def check_kl_lower_bound(b, *, constant: float = 0.25) -> Outcome:
    """``KL(N(m0, S0) || N(m1, S1)) >= 1/2 (m1 - m0)' S1^{-1} (m1 - m0) + c sum_i (lambda_i - 1)^2 / max(1, lambda_i)``
    with ``c = 1/4`` (``constant``), ``lambda = eig(S1^{-1} S0)``, the left side the LIBRARY's
    ``gaussian_kl``: so ``KL >= 0``, and ``KL = 0`` only if ``m0 = m1`` and every ``lambda_i = 1``
    (``S0 = S1``). Reported as ``lower bound / KL`` (1: attained, e.g. whenever ``S0 = S1``)."""
    S0, v0, _ = _spd(b["A0"])
    S1, v1, k1 = _spd(b["A1"])
    m0, m1 = np.asarray(b["m0"], float), np.asarray(b["m1"], float)
    lam = smoothing.relative_eigenvalues(S0, S1)
    maha = 2 * smoothing.gaussian_kl(m0, S1, m1, S1)
    lower = 0.5 * maha + constant * np.sum((lam - 1) ** 2 / np.maximum(1.0, lam), axis=-1)
    kl = np.array([library_kl(m0[i], S0[i], m1[i], S1[i]) for i in range(len(m0))])
    scale = _kl_size(m0, S0, m1, S1) * k1
    return Outcome(slack=kl - lower, scale=scale, bound=kl, gap=lower, valid=v0 & v1)


register(Claim(
    id="igo.kl-lower-bound",
    source="KL between Gaussians (library gaussian_kl); the bound is proved in the notes",
    statement="KL(N(m0,S0) || N(m1,S1)) >= 1/2 (m1-m0)' S1^-1 (m1-m0) + 1/4 sum_i (lambda_i - 1)^2 / max(1, lambda_i) "
              ">= 0, lambda = eig(S1^-1 S0): KL >= 0 with equality iff (m0, S0) = (m1, S1)",
    kind="inequality", draw=_draw_pairs, check=check_kl_lower_bound, schema=PAIR_SCHEMA, max_instances=5000,
    search_budget=3000,
    notes="Proof: KL = 1/2 maha + 1/2 sum_i h(lambda_i), h(l) = l - 1 - ln l. For l <= 1, "
          "h(l) - (l-1)^2/2 has derivative -(l-1)^2/l <= 0 and vanishes at 1; for l >= 1, h(l) - (l-1)^2/(2l) has "
          "derivative (l-1)^2/(2 l^2) >= 0 and vanishes at 1. So h(l) >= (l-1)^2 / (2 max(1, l)). The ratio "
          "bound / KL is 1 whenever S0 = S1 and tends to 1 as S1 -> S0.",
))


# ----------------------------------------------------------------------------- the KL-constrained linear step


def _draw_step(rng, n, *, sizes=SIZES):
    """``m, A, g``, ``delta`` (log-uniform ``1e-4 .. 10``), a competitor direction ``u`` and a fraction
    ``r`` of the KL ball's boundary: a third ``u = S g`` exactly (the maximizer's direction), a third
    ``S g`` plus noise of log-uniform relative size ``1e-6 .. 1``, a third random; half the ``r`` are 1."""
    out = []
    for b in _draw_quadratic(rng, n, sizes=sizes):
        m, d = b["g"].shape
        g = np.where(np.all(b["g"] == 0, axis=1, keepdims=True), rng.normal(0, 1, (m, d)), b["g"])
        S = b["A"] @ np.swapaxes(b["A"], 1, 2)
        Sg = np.einsum("nij,nj->ni", S, g)
        noise = np.exp(rng.uniform(np.log(1e-6), 0.0, (m, 1))) * np.linalg.norm(Sg, axis=1, keepdims=True)
        kind = rng.integers(0, 3, m)[:, None]
        u = np.where(kind == 0, Sg, np.where(kind == 1, Sg + noise * rng.normal(0, 1, (m, d)),
                                             rng.normal(0, 1, (m, d))))
        r = np.where(rng.random(m) < 0.5, 1.0, rng.random(m))
        delta = np.exp(rng.uniform(np.log(1e-4), np.log(10.0), m))
        out.append({"m": b["m"], "A": b["A"], "g": g, "u": u, "r": r, "delta": delta})
    return out


STEP_SCHEMA = {"m": D_FIELD, "A": DD_FIELD, "g": D_FIELD, "u": D_FIELD, "r": Field(kind="unit"),
               "delta": Field(kind="positive")}


def check_kl_step(b) -> Outcome:
    """The closed form of :func:`trustopt.smoothing.kl_linear_step`, ``m* = m + sqrt(2 delta / g'Sg) S g``:
    (i) it is on the boundary, ``KL(N(m, S) || N(m*, S)) = delta`` by the oracle's KL and by the
    library's ``gaussian_kl``; (ii) its value ``g'(m* - m) = sqrt(2 delta g'Sg)``; (iii) KKT: ``g = nu
    grad_{m'} KL = nu S^{-1}(m* - m)`` with ``nu = sqrt(g'Sg / (2 delta)) >= 0`` -- with a linear objective
    and a convex constraint, (i) and (iii) make ``m*`` a global maximizer. Slack: minus the largest
    relative error (scale ``cond(S) (1 + |ln delta|)``, the round-off of the solve with ``S``, plus
    ``|m| / |m* - m|``, that of the difference of means inside the KL)."""
    S, valid, kappa = _spd(b["A"])
    m, g, delta = np.asarray(b["m"], float), np.asarray(b["g"], float), np.asarray(b["delta"], float)
    valid = valid & np.any(g != 0, axis=1)
    ms, value = smoothing.kl_linear_step(m, S, g, delta)
    q = np.einsum("ni,nij,nj->n", g, S, g)
    kl_oracle = smoothing.gaussian_kl(m, S, ms, S)
    kl_lib = np.array([library_kl(m[i], S[i], ms[i], S[i]) for i in range(len(m))])
    nu = np.sqrt(q / (2 * delta))
    grad_kl = np.linalg.solve(S, (ms - m)[..., None])[..., 0]
    err = np.maximum.reduce([np.abs(kl_oracle - delta) / delta, np.abs(kl_lib - delta) / delta,
                             np.abs(np.einsum("ni,ni->n", g, ms - m) - value) / np.maximum(value, 1e-300),
                             np.abs(value - np.sqrt(2 * delta * q)) / np.maximum(value, 1e-300),
                             np.abs(g - nu[:, None] * grad_kl).max(axis=1) / np.abs(g).max(axis=1)])
    step = np.maximum(np.abs(ms - m).max(axis=1), 1e-300)
    return Outcome(slack=-err, scale=kappa * (1 + np.abs(np.log(delta))) + np.abs(m).max(axis=1) / step, valid=valid)


register(Claim(
    id="igo.kl-linear-step",
    source=f"{SRC_TR}: the natural-gradient step as the KL trust-region step of a linear model",
    statement="max g'(m'-m) s.t. KL(N(m,S) || N(m',S)) <= delta is attained at m* = m + sqrt(2 delta / g'Sg) S g: "
              "KL(m*) = delta (oracle and library), g'(m*-m) = sqrt(2 delta g'Sg), g = nu S^-1 (m*-m), nu >= 0 (KKT)",
    kind="identity", draw=_draw_step, check=check_kl_step, schema=STEP_SCHEMA, max_instances=5000,
))


def _competitor(b):
    """``(S, valid, X, B)``: the competitor ``m' = m + r t u`` with ``t`` putting ``m + t u`` on the KL
    ball's boundary (``t^2 = delta / KL(N(m, S) || N(m + u, S))``, the KL homogeneous of degree 2 in
    ``u`` for equal covariances), its gain ``X = g'(m' - m)`` and the bound ``B = sqrt(2 delta g'Sg)``.
    ``u`` is first replaced by ``(m + u) - m``, the step the oracle's KL of ``(m, m + u)`` measures
    (otherwise a tiny ``u`` beside a large ``m`` puts a round-off of ``eps |m| / |u|`` into the KL)."""
    S, valid, _ = _spd(b["A"])
    m, g, u = (np.asarray(b[k], float) for k in ("m", "g", "u"))
    r, delta = np.asarray(b["r"], float), np.asarray(b["delta"], float)
    u = (m + u) - m  # the difference of means the oracle's KL sees (exact in floating point)
    valid = valid & np.any(u != 0, axis=1)
    u = np.where(valid[:, None], u, 1.0)
    kl_u = smoothing.gaussian_kl(m, S, m + u, S)
    v = (r * np.sqrt(delta / kl_u))[:, None] * u
    feasible = smoothing.gaussian_kl(m, S, m + v, S) <= delta * (1 + 1e-12)
    return S, valid & feasible, np.einsum("ni,ni->n", g, v), np.sqrt(2 * delta * np.einsum("ni,nij,nj->n", g, S, g))


def check_kl_step_bound(b, *, constant: float = 2.0) -> Outcome:
    """Cauchy-Schwarz in the metric ``S^{-1}``: every ``m'`` with ``KL(N(m, S) || N(m', S)) <= delta`` has
    ``g'(m' - m) <= sqrt(constant delta g'Sg)``, ``constant = 2``; tightness ``g'(m' - m) / bound``
    (1 at ``m' = m*``)."""
    S, valid, X, B = _competitor(b)
    if constant != 2.0:
        B = B * math.sqrt(constant / 2.0)
    return Outcome(slack=B - X, scale=B + np.abs(X), bound=B, valid=valid)


def _exact_quadratic_forms(inst):
    """Rational ``shown``, ``g'u``, ``u'S^{-1}u``, ``g'Sg`` of a step instance (``S = A A'`` exactly)."""
    A, m, g, u = (R.rational_array(inst[k]) for k in ("A", "m", "g", "u"))
    r, delta = R.rational(inst["r"]), R.rational(inst["delta"])
    d = len(g)
    S = [[sum(A[i][k] * A[j][k] for k in range(d)) for j in range(d)] for i in range(d)]
    w = R.solve(S, u)
    quad = lambda x, y: sum(x[i] * y[i] for i in range(d))  # noqa: E731
    gSg = sum(g[i] * S[i][j] * g[j] for i in range(d) for j in range(d))
    shown = {"m": m, "A": A, "g": g, "u": u, "r": r, "delta": delta}
    return shown, quad(g, u), quad(u, w), gSg


def exact_kl_step_bound(inst, *, constant=2):
    """Certificate of :func:`check_kl_step_bound`: ``X = r sqrt(2 delta / u'S^{-1}u) g'u`` and
    ``B = sqrt(constant delta g'Sg)`` enclosed by rational intervals."""
    shown, gu, uSu, gSg = _exact_quadratic_forms(inst)
    r, delta = shown["r"], shown["delta"]
    X = R.sqrt(2 * delta / uSu) * (r * gu)
    B = R.sqrt(R.Q(constant) * delta * gSg)
    return R.inequality(X, B, shown, gSg=gSg, uSu=uSu)


register(Claim(
    id="igo.kl-linear-step-bound",
    source=f"{SRC_TR}: Cauchy-Schwarz in the Fisher metric of the mean",
    statement="KL(N(m,S) || N(m',S)) <= delta  =>  g'(m'-m) <= sqrt(2 delta g'Sg) (attained at m* = m + sqrt(2 delta/g'Sg) S g)",
    kind="inequality", draw=_draw_step, check=check_kl_step_bound, schema=STEP_SCHEMA, max_instances=5000,
    search_budget=3000,
    exact=exact_kl_step_bound,
    notes="g'v = (S^1/2 g)'(S^-1/2 v) <= ||S^1/2 g|| ||S^-1/2 v|| = sqrt(g'Sg) sqrt(2 KL) <= sqrt(2 delta g'Sg).",
))


# ----------------------------------------------------------------------------- the library's step honours its cap

TRCMA_ITERATIONS = 6


def _draw_trcma(rng, n, *, sizes=(2, 3, 5)):
    """A quadratic objective ``1/2 x'Hx + g'x`` to MINIMIZE (``H = Q diag(e) Q'`` with eigenvalues of
    log-uniform spread up to ``1e3``, a quarter indefinite), a start ``x0``, ``sigma0`` log-uniform in
    ``[1e-2, 10]``, a cap ``delta`` log-uniform in ``[1e-4, 3]`` and a seed."""
    out = []
    for d, m in draws.split_sizes(rng, n, sizes):
        Q, _ = np.linalg.qr(rng.standard_normal((m, d, d)))
        e = np.exp(rng.uniform(0, np.log(1e3), (m, d)))
        e = np.where(rng.random((m, 1)) < 0.25, e * rng.choice([-1.0, 1.0], (m, d)), e)
        H = Q * e[:, None, :] @ np.swapaxes(Q, 1, 2)
        out.append({"H": H, "g": rng.normal(0, 1, (m, d)), "x0": rng.normal(0, 3, (m, d)),
                    "sigma0": np.exp(rng.uniform(np.log(1e-2), np.log(10.0), m)),
                    "delta": np.exp(rng.uniform(np.log(1e-4), np.log(3.0), m)),
                    "seed": rng.integers(0, 2**31, m).astype(float)})
    return out


def _cov_of(opt, d):
    """``sigma^2 C`` of the ask/tell optimizer's search distribution (``sigma0^2 I`` before the first step;
    a diagonal ``C`` as a matrix)."""
    s = opt.state.step_state
    if s is None:
        return opt.sigma0**2 * np.eye(d)
    C = np.asarray(s.C, float)
    return s.sigma**2 * (np.diag(C) if C.ndim == 1 else C)


def _run_trcma(H, g, x0, sigma0, delta, seed, iterations=TRCMA_ITERATIONS):
    """``[(kl reported, KL oracle, round-off size)]`` of ``iterations`` steps of
    ``trustopt.TrustRegionCMA(x0, sigma0, seed=seed, kl_radius=delta)`` on ``F(x) = 1/2 x'Hx + g'x``."""
    d = len(x0)
    F = smoothing.Quadratic(H=_sym(H), g=g, c=0.0)
    opt = trustopt.TrustRegionCMA(x0, sigma0, seed=int(seed), kl_radius=float(delta))
    out = []
    for _ in range(iterations):
        m0, S0 = np.array(opt.state.theta), _cov_of(opt, d)
        X = opt.ask()
        n_rec = len(opt.history)
        opt.tell(X, F(X))
        if len(opt.history) != n_rec + 1:
            raise RuntimeError("TrustRegionCMA: one tell must finish exactly one iteration")
        m1, S1 = np.array(opt.state.theta), _cov_of(opt, d)
        size = float(_kl_size(m0, S0, m1, S1))
        out.append((float(opt.history[-1].kl), float(smoothing.gaussian_kl(m0, S0, m1, S1)), size))
    return out


def check_trcma_kl(b) -> Outcome:
    """``trustopt.TrustRegionCMA(x0, sigma0, seed, kl_radius=delta)``, ``TRCMA_ITERATIONS`` ask/tell steps
    on a quadratic: every record's ``kl <= delta``, and each record's ``kl`` is the oracle's
    ``KL(N(m_k, sigma_k^2 C_k) || N(m_{k+1}, sigma_{k+1}^2 C_{k+1}))`` of the distributions before and after
    that tell, to ``1e-9`` relative (plus ``1e-13`` of the size of the terms a textbook KL sums, its
    round-off). Slack (in units of ``delta``): ``delta - max kl``, or minus the identity's excess where that
    fails; tightness ``max kl / delta``."""
    n = len(b["seed"])
    slack, worst = np.empty(n), np.empty(n)
    delta = np.asarray(b["delta"], float)
    for i in range(n):
        steps = _run_trcma(b["H"][i], b["g"][i], b["x0"][i], float(b["sigma0"][i]), delta[i], b["seed"][i])
        kl = np.array([s[0] for s in steps])
        excess = max((abs(r - o) - (1e-9 * o + 1e-13 * size)) / max(o, 1e-300) for r, o, size in steps)
        worst[i] = kl.max()
        slack[i] = min(delta[i] - worst[i], -excess * delta[i] if excess > 0 else np.inf)
    return Outcome(slack=slack, scale=delta, bound=delta, gap=worst, rtol=1e-12)


register(Claim(
    id="igo.trcma-kl-cap",
    source="trustopt.TrustRegionCMA (components.gaussian.GaussianNaturalStep); Abdolmaleki et al. GECCO 2017",
    statement="every step of trust-region-cma has KL(N_k || N_k+1) <= kl_radius, and the reported record.kl "
              "equals the oracle's KL between the distributions before and after the tell (1e-9 relative)",
    kind="algorithm", draw=_draw_trcma, check=check_trcma_kl,
    schema={"H": DD_FIELD, "g": D_FIELD, "x0": D_FIELD, "sigma0": Field(kind="positive"),
            "delta": Field(kind="fixed"), "seed": Field(kind="fixed")},
    max_instances=300, search_budget=60,
    notes="delta is drawn in [1e-4, 3] and held fixed by the search. Tiny caps (below the KL of 2^-20 of a "
          "step) and flat batches (the mean stays, sigma and C move) are checked in tests/test_smoothing.py.",
))
