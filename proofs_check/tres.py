"""Claims of TRES (Liu et al. 2019, ``papers/tres-trust-region-evolution-strategies.txt``).

Exact quantities come from :class:`trustopt.smoothing.CategoricalProduct`: ``d`` independent
categorical coordinates with ``K`` support points each (logits ``theta (d, K)``) and an
arbitrary objective table ``F`` -- TRES's sums over ``x^{1..i}`` (eq. 12-13) are then finite
and everything is exact by enumeration. (For Gaussian search distributions ``eps = sup |A|`` is
infinite for unbounded ``F``, so Theorem 1 is vacuous there; the library says so.)

Index convention: the paper's ``A_theta(x^{1..i+1})``, ``i = 0..d-1``, is the library's
``advantage(theta, j)`` with ``j = i + 1`` (a table with ``j`` trailing axes of size ``K``).
"""

from __future__ import annotations

import numpy as np

from trustopt import smoothing
from trustopt.estimators import antithetic_gradient, vanilla_gradient
from proofs_check import _rational as R, draws
from proofs_check._exact import H_COMPLEX, softmax
from proofs_check.registry import Claim, Field, Outcome, register

SRC = "tres-trust-region-evolution-strategies.txt"
SIZES = ((1, 3), (2, 2), (2, 3), (3, 2), (3, 3), (4, 2), (4, 3))
_LET = "abcdefgh"


def _draw(rng, n, *, sizes=SIZES):
    """Instances ``F (n, K..K)``, ``theta``, ``thetat`` (logits ``(n, d, K)``); ``thetat`` is a
    Gaussian logit step of log-uniform size from ``theta``. Edge cases are mixed in, as the
    tabular draws do: a third of the tables take values in ``{-1, 0, 1}`` (sign patterns such as
    parities, where the advantages of all coordinates interact), a third of the ``theta`` are
    uniform distributions (``0``), and a third of the steps move every coordinate the same way."""
    out = []
    for (d, K), m in draws.split_sizes(rng, n, sizes):
        F = rng.uniform(-1, 1, (m,) + (K,) * d) * rng.choice([1.0, 10.0])
        signs = rng.random(m) < 1 / 3
        F[signs] = rng.integers(-1, 2, (int(signs.sum()),) + (K,) * d)
        theta = rng.choice([0.3, 1.0, 3.0]) * rng.standard_normal((m, d, K))
        theta[rng.random(m) < 1 / 3] = 0.0
        step = np.exp(rng.uniform(np.log(1e-3), np.log(3.0), m))[:, None, None]
        z = rng.standard_normal((m, d, K))
        same = rng.random(m) < 1 / 3
        z[same] = z[same, :1, :]
        out.append({"F": F, "theta": theta, "thetat": theta + step * z})
    return out


SCHEMA = {"F": Field(kind="real"), "theta": Field(kind="real"), "thetat": Field(kind="real")}

#: Largest table ``K^d`` the size moves of :func:`resize_d` create.
MAX_TABLE = 81


def resize_d(inst, rng=None):
    """Size moves for the adversarial search (``Claim.resize``): ``d -> d + 1`` (``F`` gains a last
    axis it does not depend on, the new coordinate has ``thetat = theta``: ``J``, ``L``, ``alpha``
    and ``eps`` are unchanged, only ``d`` grows) where ``K^(d+1) <= MAX_TABLE``, and ``d -> d - 1``
    (``F`` at the last coordinate's first value, that coordinate dropped)."""
    F, th, tt = (np.asarray(inst[k], float) for k in ("F", "theta", "thetat"))
    d, K = th.shape
    out = []
    if K ** (d + 1) <= MAX_TABLE:
        out.append({"F": np.repeat(F[..., None], K, axis=-1), "theta": np.vstack([th, th[-1:]]),
                    "thetat": np.vstack([tt, th[-1:]])})
    if d > 1:
        out.append({"F": F[..., 0], "theta": th[:-1], "thetat": tt[:-1]})
    return out


def _model(b):
    F = np.asarray(b["F"], float)
    d = np.asarray(b["theta"]).shape[-2]
    return smoothing.CategoricalProduct(F=F, d=d), d


def _scale(b):
    return np.abs(np.asarray(b["F"], float)).reshape(len(b["theta"]), -1).max(axis=1) + 1e-300


def _contract(T, rows):
    """``sum_x T[n, x_1..x_j] prod_a rows[a][n, x_a]`` (``T`` with ``j = len(rows)`` trailing axes)."""
    j = len(rows)
    if j == 0:
        return T
    spec = "n" + _LET[:j] + "," + ",".join("n" + _LET[a] for a in range(j)) + "->n"
    return np.einsum(spec, T, *rows)


def _probs(theta):
    return softmax(np.asarray(theta, float))


# ------------------------------------------------------------------ identities


def check_decomposition(b) -> Outcome:
    """TRES eq. 9-12: ``J(thetat) = J(theta) + E_{X~thetat}[sum_{i=0}^{d-1} A_theta(X^{1..i+1})]``,
    the expectation contracted here from the library's advantage tables and ``p_thetat``; the
    library's :meth:`decomposition_terms` is held to the same identity."""
    cat, d = _model(b)
    pt = _probs(b["thetat"])
    total = cat.J(b["theta"])
    for j in range(1, d + 1):
        total = total + _contract(cat.advantage(b["theta"], j), [pt[:, a] for a in range(j)])
    lib = cat.J(b["theta"]) + cat.decomposition_terms(b["theta"], b["thetat"]).sum(axis=-1)
    Jt = cat.J(b["thetat"])
    return Outcome(slack=-np.maximum(np.abs(Jt - total), np.abs(Jt - lib)), scale=_scale(b))


def exact_decomposition(inst, *, expectation: str = "new"):
    """Certificate of eq. 9-12 (``expectation="old"``: the variant with ``X ~ p_theta``)."""
    cat, pt, shown = R.categorical_instance(inst)
    q = pt if expectation == "new" else cat.p
    rhs = cat.J() + sum(cat.prob(q, x) * cat.A(x) for j in range(1, cat.d + 1) for x in cat.prefixes(j))
    return R.identity(cat.J(pt), rhs, shown)


register(Claim(
    id="tres.decomposition",
    source=f"{SRC} eq. 9-12",
    statement="J(thetat) = J(theta) + E_{X~thetat}[sum_{i=0}^{d-1} A_theta(X^{1..i+1})] (categorical product, exact)",
    kind="identity", draw=_draw, check=check_decomposition, schema=SCHEMA,
    exact=exact_decomposition,
))


def _J_complex(F, theta):
    p = softmax(theta)
    d = theta.shape[-2]
    return _contract(F.astype(complex), [p[:, a] for a in range(d)])


def check_first_order(b) -> Outcome:
    """TRES Lemma 1 (eq. 14, 26-30): ``L_theta(theta) = J(theta)`` and ``grad_thetat L_theta(thetat)``
    at ``thetat = theta`` equals ``grad J(theta)``: the library's ``grad_surrogate`` and ``grad_J``
    against a complex-step derivative of ``J`` (independent einsum of ``F`` with the softmax rows)."""
    cat, d = _model(b)
    theta = np.asarray(b["theta"], float)
    n, _, K = theta.shape
    F = np.asarray(b["F"], float)
    ref = np.empty((n, d, K))
    for i in range(d):
        for k in range(K):
            e = np.zeros((d, K), complex)
            e[i, k] = 1j * H_COMPLEX
            ref[:, i, k] = _J_complex(F, theta + e).imag / H_COMPLEX
    gL = cat.grad_surrogate(theta, theta)
    gJ = cat.grad_J(theta)
    err = np.maximum.reduce([np.abs(cat.surrogate(theta, theta) - cat.J(theta)),
                             np.abs(gL - ref).reshape(n, -1).max(1), np.abs(gJ - ref).reshape(n, -1).max(1)])
    return Outcome(slack=-err, scale=_scale(b))


register(Claim(
    id="tres.first-order",
    source=f"{SRC} Lemma 1, eq. 14, 26-30",
    statement="L_theta(theta) = J(theta) and grad_thetat L_theta(thetat)|_{thetat=theta} = grad J(theta)",
    kind="identity", draw=_draw, check=check_first_order, schema=SCHEMA,
))


def check_value_baseline(b) -> Outcome:
    """TRES eq. 23-24: in the (exact expectation of the) importance-sampled surrogate, replacing
    ``A_theta`` by ``V_theta`` changes it by a constant in ``thetat``: the difference equals
    ``d J(theta)`` at ``thetat`` and at ``thetat = theta``."""
    cat, d = _model(b)
    th, tt = b["theta"], b["thetat"]
    diff = cat.surrogate_is_exact(th, tt, baseline="value") - cat.surrogate_is_exact(th, tt, baseline="advantage")
    diff0 = cat.surrogate_is_exact(th, th, baseline="value") - cat.surrogate_is_exact(th, th, baseline="advantage")
    J = cat.J(th)
    err = np.maximum(np.abs(diff - diff0), np.abs(diff - d * J))
    return Outcome(slack=-err, scale=_scale(b) * d)


register(Claim(
    id="tres.value-baseline",
    source=f"{SRC} eq. 23-24",
    statement="E_{X~theta}[sum_i r_{i+1}(thetat) V_theta(X^{1..i+1})] - E[sum_i r_{i+1}(thetat) A_theta(X^{1..i+1})] = d J(theta), constant in thetat",
    kind="identity", draw=_draw, check=check_value_baseline, schema=SCHEMA,
))


# ------------------------------------------------------------------ Theorem 1 and its lemmas


def check_thm1(b, *, factor: str = "d(d+1)", constant: float = 2.0) -> Outcome:
    """TRES Theorem 1 (eq. 16): ``|J(thetat) - L_theta(thetat)| <= 2 eps d (d+1) alpha^2``,
    ``alpha = max_i TV(p_theta^i, p_thetat^i)``, ``eps = max_{j, x^{1..j}} |A_theta(x^{1..j})|``."""
    cat, d = _model(b)
    th, tt = b["theta"], b["thetat"]
    X = np.abs(cat.J(tt) - cat.surrogate(th, tt))
    # "d" is a deliberately false variant (false for d >= 3 only) used by the tests of the search
    c = {"d(d+1)": d * (d + 1), "d(d-1)": d * (d - 1), "d": d}[factor]
    B = constant * cat.eps(th) * c * cat.alpha(th, tt) ** 2
    return Outcome(slack=B - X, scale=_scale(b), bound=B)


def exact_thm1(inst, *, factor: str = "d(d+1)", constant=2):
    """Certificate of Theorem 1 on the instance's distributions made rational:
    ``gap = |J(thetat) - L_theta(thetat)|``, ``bound = 2 eps c(d) alpha^2``."""
    cat, pt, shown = R.categorical_instance(inst)
    d = cat.d
    c = {"d(d+1)": d * (d + 1), "d(d-1)": d * (d - 1)}[factor]
    alpha = max(R.tv(a, b) for a, b in zip(cat.p, pt))
    eps = cat.eps()
    J_new, L = cat.J(pt), cat.surrogate(pt)
    return R.inequality(abs(J_new - L), R.Q(constant) * eps * c * alpha**2, shown, J_new=J_new, L=L, eps=eps, alpha=alpha)


register(Claim(
    id="tres.thm1",
    source=f"{SRC} Theorem 1, eq. 16, proof eq. 45-47",
    statement="|J(thetat) - L_theta(thetat)| <= 2 eps d (d+1) alpha^2",
    kind="inequality", draw=_draw, check=check_thm1, schema=SCHEMA, resize=resize_d,
    exact=exact_thm1,
))


def check_thm1_sharp(b) -> Outcome:
    """Sharper Theorem 1: ``|J(thetat) - L_theta(thetat)| <= 2 eps d (d-1) alpha^2``.

    Proof. By eq. 33-34, ``J(thetat) - L_theta(thetat) = sum_{i=0}^{d-1} (E_{X~thetat} - E_{X~theta})
    [Abar(X^{1..i})]`` with ``Abar(x^{1..i}) = E_{X^{i+1}~thetat} A_theta(x^{1..i}, X^{i+1})``. For
    ``i = 0``, ``Abar`` is a constant (it depends on no coordinate), so its two expectations are
    equal and the term VANISHES. For ``i >= 1``, Lemma 3 (eq. 37) and ``1 - (1-alpha)^i <= i alpha``
    give ``|term_i| <= 4 alpha^2 i eps``. Summing ``i = 1..d-1``: ``4 alpha^2 eps d(d-1)/2 =
    2 eps d (d-1) alpha^2``. (The paper's proof, eq. 46, sums ``i = 1..d`` -- an index shift
    that drops the vanishing ``i = 0`` term and adds a nonexistent ``i = d`` one, giving
    ``d(d+1)``.) In particular ``L = J`` exactly when ``d = 1``."""
    return check_thm1(b, factor="d(d-1)")


register(Claim(
    id="tres.thm1-sharp",
    source=f"{SRC} Theorem 1 (this library: the i = 0 term of the sum vanishes)",
    statement="|J(thetat) - L_theta(thetat)| <= 2 eps d (d-1) alpha^2",
    kind="inequality", draw=_draw, check=check_thm1_sharp, schema=SCHEMA, resize=resize_d,
    notes="Proof in check_thm1_sharp's docstring: the i = 0 term of eq. 33-34 is a constant's "
          "expectation under two distributions, hence 0; Lemma 3 bounds the others.",
    exact=lambda inst: exact_thm1(inst, factor="d(d-1)"),
))


def check_tres_kl(b, *, reverse: bool = False, constant: float = 2.0) -> Outcome:
    """TRES eq. 17: ``J(thetat) >= L_theta(thetat) - 2 eps d (d+1) max_i KL(p_theta^i || p_thetat^i)``."""
    cat, d = _model(b)
    th, tt = b["theta"], b["thetat"]
    gap = cat.surrogate(th, tt) - cat.J(tt)
    kl = np.maximum(cat.kl(th, tt, reverse=reverse), 0.0).max(axis=-1)
    B = constant * cat.eps(th) * d * (d + 1) * kl
    return Outcome(slack=B - gap, scale=_scale(b), bound=B)


register(Claim(
    id="tres.kl",
    source=f"{SRC} eq. 17",
    statement="J(thetat) >= L_theta(thetat) - 2 eps d (d+1) max_i KL(p_theta^i || p_thetat^i)",
    kind="inequality", draw=_draw, check=check_tres_kl, schema=SCHEMA, resize=resize_d,
    notes="Follows from Thm. 1 and TV^2 <= KL/2 (so it holds with c = eps d (d+1), and with the KL "
          "in either direction).",
))


def _abar_tables(cat, d, th, tt):
    """``Abar_i(x^{1..i}) = sum_k pt^{i+1}_k A_theta(x^{1..i}, k)`` and ``max_k |A_theta(x^{1..i}, k)|``,
    tables with ``i`` trailing axes, ``i = 0..d-1``."""
    pt = _probs(tt)
    out = []
    for i in range(d):
        A = cat.advantage(th, i + 1)  # (n, K^(i+1) axes)
        abar = np.einsum("n...k,nk->n...", A, pt[:, i])
        out.append((abar, np.abs(A).max(axis=-1), np.abs(A).reshape(len(A), -1).max(axis=1)))
    return out


def check_lemma2(b) -> Outcome:
    """TRES Lemma 2 (eq. 35): ``|Abar(x^{1..i})| <= 2 alpha max_{x^{i+1}} |A_theta(x^{1..i+1})|`` for all
    ``x^{1..i}``, ``0 <= i <= d-1`` (``alpha = max_i TV``)."""
    cat, d = _model(b)
    th, tt = b["theta"], b["thetat"]
    alpha = cat.alpha(th, tt)
    n = len(alpha)
    slack = np.full(n, np.inf)
    gap = np.zeros(n)
    bound = np.zeros(n)
    best = np.full(n, -np.inf)
    for abar, mA, _ in _abar_tables(cat, d, th, tt):
        B = 2 * alpha.reshape((n,) + (1,) * (abar.ndim - 1)) * mA
        s = (B - np.abs(abar)).reshape(n, -1)
        slack = np.minimum(slack, s.min(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(B > 0, np.abs(abar) / B, -np.inf).reshape(n, -1)
        j = ratio.argmax(axis=1)
        better = ratio[np.arange(n), j] > best
        best = np.where(better, ratio[np.arange(n), j], best)
        gap = np.where(better, np.abs(abar).reshape(n, -1)[np.arange(n), j], gap)
        bound = np.where(better, B.reshape(n, -1)[np.arange(n), j], bound)
    return Outcome(slack=slack, scale=_scale(b), bound=bound, gap=gap)


def _exact_abar(cat, pt, i):
    """``{x^{1..i}: (Abar(x^{1..i}), max_k |A(x^{1..i}, k)|)}``."""
    return {x: (sum(pt[i][k] * cat.A(x + (k,)) for k in range(cat.K)), max(abs(cat.A(x + (k,))) for k in range(cat.K)))
            for x in cat.prefixes(i)}


def exact_lemma2(inst):
    """Certificate of Lemma 2 at its tightest prefix ``x``: ``|Abar(x)| <= 2 alpha max_k |A(x, k)|``."""
    cat, pt, shown = R.categorical_instance(inst)
    alpha = max(R.tv(a, b) for a, b in zip(cat.p, pt))
    X, B = R.tightest((abs(ab), 2 * alpha * m) for i in range(cat.d) for ab, m in _exact_abar(cat, pt, i).values())
    return R.inequality(X, B, shown, alpha=alpha)


register(Claim(
    id="tres.lemma2",
    source=f"{SRC} Lemma 2, eq. 35-36",
    statement="|Abar(x^{1..i})| <= 2 alpha max_{x^{i+1}} |A_theta(x^{1..i+1})| for all x^{1..i}, 0 <= i <= d-1",
    kind="inequality", draw=_draw, check=check_lemma2, schema=SCHEMA, resize=resize_d,
    exact=exact_lemma2,
))


def check_lemma3(b) -> Outcome:
    """TRES Lemma 3 (eq. 37): ``|E_{X^{1..i}~thetat} Abar(X^{1..i}) - E_{X^{1..i}~theta} Abar(X^{1..i})|
    <= 4 alpha (1 - (1-alpha)^i) max_{x^{1..i+1}} |A_theta(x^{1..i+1})|`` for ``0 <= i <= d-1``."""
    cat, d = _model(b)
    th, tt = b["theta"], b["thetat"]
    alpha = cat.alpha(th, tt)
    p, pt = _probs(th), _probs(tt)
    n = len(alpha)
    slack = np.full(n, np.inf)
    gap, bound, best = np.zeros(n), np.zeros(n), np.full(n, -np.inf)
    for i, (abar, _, mA) in enumerate(_abar_tables(cat, d, th, tt)):
        X = np.abs(_contract(abar, [pt[:, a] for a in range(i)]) - _contract(abar, [p[:, a] for a in range(i)]))
        B = 4 * alpha * (1 - (1 - alpha) ** i) * mA
        slack = np.minimum(slack, B - X)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(B > 0, X / B, -np.inf)
        better = ratio > best
        best = np.where(better, ratio, best)
        gap, bound = np.where(better, X, gap), np.where(better, B, bound)
    return Outcome(slack=slack, scale=_scale(b), bound=bound, gap=gap)


def exact_lemma3(inst):
    """Certificate of Lemma 3 at its tightest ``i = 0..d-1``."""
    cat, pt, shown = R.categorical_instance(inst)
    alpha = max(R.tv(a, b) for a, b in zip(cat.p, pt))
    pairs = []
    for i in range(cat.d):
        ab = _exact_abar(cat, pt, i)
        X = abs(sum((cat.prob(pt, x) - cat.prob(cat.p, x)) * v[0] for x, v in ab.items()))
        mA = max(abs(cat.A(x)) for x in cat.prefixes(i + 1))
        pairs.append((X, 4 * alpha * (1 - (1 - alpha) ** i) * mA))
    X, B = R.tightest(pairs)
    return R.inequality(X, B, shown, alpha=alpha)


register(Claim(
    id="tres.lemma3",
    source=f"{SRC} Lemma 3, eq. 37-44",
    statement="|E_{X^{1..i}~thetat} Abar(X^{1..i}) - E_{X^{1..i}~theta} Abar(X^{1..i})| <= 4 alpha (1-(1-alpha)^i) max |A_theta(x^{1..i+1})|",
    kind="inequality", draw=_draw, check=check_lemma3, schema=SCHEMA, resize=resize_d,
    notes="Holds as printed for i = 0..d-1 (i = 0: both sides vanish), and the constant 4 cannot be lowered: "
          "for i = 1 the left side is |sum_x (pt - p)(x) Abar(x)| <= alpha (max Abar - min Abar) <= alpha 4 alpha max|A|, "
          "attained when Abar changes sign with x (the adversarial search reaches tightness ~0.999).",
    exact=exact_lemma3,))


# ------------------------------------------------------------------ clipped surrogate


def check_clip(b) -> Outcome:
    """TRES eq. 25: ``L_CLIP(thetat) <= L_IS(thetat)`` on every sample set (the library's
    ``surrogate_clip`` / ``surrogate_is`` with the value baseline), and at ``thetat = theta`` they
    are equal with equal gradients (``grad_surrogate_clip`` / ``grad_surrogate_is``)."""
    cat, d = _model(b)
    th, tt = b["theta"], b["thetat"]
    s = np.asarray(b["samples"]).astype(np.int64)
    lam = np.asarray(b["lambda_"], float)
    n = len(lam)
    out = np.empty(n)
    for i in range(n):  # lambda_ is a scalar argument
        c1 = smoothing.CategoricalProduct(F=np.asarray(b["F"][i], float), d=d)
        is_ = c1.surrogate_is(th[i], tt[i], s[i])
        clip = c1.surrogate_clip(th[i], tt[i], s[i], lam[i])
        eq = abs(c1.surrogate_clip(th[i], th[i], s[i], lam[i]) - c1.surrogate_is(th[i], th[i], s[i]))
        geq = np.abs(c1.grad_surrogate_clip(th[i], th[i], s[i], lam[i]) - c1.grad_surrogate_is(th[i], th[i], s[i])).max()
        out[i] = min(is_ - clip, -eq, -geq)
    return Outcome(slack=out, scale=_scale(b) * d)


def _draw_clip(rng, n):
    out = []
    for b in _draw(rng, min(n, 1000)):
        m, d, K = b["theta"].shape
        N = int(rng.choice([1, 4, 16]))
        cat = smoothing.CategoricalProduct(F=b["F"], d=d)
        b["samples"] = cat.sample(b["theta"], N, rng).astype(float)
        b["lambda_"] = rng.uniform(0.01, 1.0, m)
        out.append(b)
    return out


register(Claim(
    id="tres.clip-lower-bound",
    source=f"{SRC} eq. 25",
    statement="L_CLIP(thetat) <= L_IS(thetat) for every sample set; equal, with equal gradient, at thetat = theta",
    kind="inequality", draw=_draw_clip, check=check_clip, search_budget=200,
    schema={**SCHEMA, "samples": Field(kind="fixed"), "lambda_": Field(kind="positive")},
    max_instances=1000,
))


# ------------------------------------------------------------------ ES estimators (statistical)

Z_CRIT = 5.0  # two-sided normal tail 5.7e-7 per test
REPLICATES = 400  # independent estimates, each from N * CHUNK samples
CHUNK = 25


def check_es_unbiased(b, *, estimator_factor: float = 1.0) -> Outcome:
    """TRES eq. 4-6: the vanilla and antithetic estimators of :mod:`trustopt.estimators` are
    unbiased for ``grad J(theta) = H theta + g`` (quadratic ``F``, TRES eq. 4 in closed form).
    STATISTICAL: ``REPLICATES`` independent estimates (``N`` samples each, seed stored in the
    instance); slack ``Z_CRIT - max_j |z_j|`` with ``z_j`` the standardized mean error per
    coordinate and estimator. False-alarm rate per instance ``<= 2 d P(|Z| > 5) <= 1e-5`` (CLT,
    ``d <= 4``), so ``<= 1e-3`` over the 60 instances checked."""
    n = len(b["seed"])
    out = np.empty(n)
    for i in range(n):
        d = int(b["d"][i])
        H = np.asarray(b["H"][i], float)[:d, :d]
        H = 0.5 * (H + H.T)
        g, th, sig = np.asarray(b["g"][i], float)[:d], np.asarray(b["theta"][i], float)[:d], float(b["sigma"][i])
        N = int(b["N"][i]) * CHUNK
        rng = np.random.default_rng(int(b["seed"][i]))
        F = smoothing.Quadratic(H=H, g=g, c=0.0)
        true = H @ th + g
        zmax = 0.0
        for kind in ("vanilla", "antithetic"):
            est = np.empty((REPLICATES, d))
            X = th + sig * rng.standard_normal((REPLICATES, N, d))
            for k in range(REPLICATES):
                if kind == "vanilla":
                    est[k] = vanilla_gradient(F(X[k]), X[k], th, sig)
                else:
                    est[k] = antithetic_gradient(F(X[k]), F(2 * th - X[k]), X[k], th, sig)
            est = est * estimator_factor
            se = est.std(axis=0, ddof=1) / np.sqrt(REPLICATES)
            z = np.abs(est.mean(axis=0) - true) / np.maximum(se, 1e-300)
            zmax = max(zmax, float(z.max()))
        out[i] = Z_CRIT - zmax
    return Outcome(slack=out, scale=np.full(n, Z_CRIT), rtol=1e-12)


def _draw_es(rng, n):
    m = min(n, 60)
    dmax = 4
    return [{"H": rng.normal(0, 1, (m, dmax, dmax)), "g": rng.normal(0, 1, (m, dmax)), "theta": rng.normal(0, 1, (m, dmax)),
             "sigma": np.exp(rng.uniform(np.log(0.05), np.log(2.0), m)), "d": rng.integers(1, dmax + 1, m).astype(float),
             "N": rng.choice([1, 5, 20], m).astype(float), "seed": rng.integers(0, 2**31, m).astype(float)}]


register(Claim(
    id="es.estimators-unbiased",
    source=f"{SRC} eq. 4-6",
    statement="E[vanilla ES gradient] = E[antithetic ES gradient] = grad J(theta) (quadratic F: H theta + g); "
              "statistical z-test, |z| <= 5 per coordinate",
    kind="statistical", draw=_draw_es, check=check_es_unbiased, max_instances=60,
    schema={k: Field(kind="fixed") for k in ("H", "g", "theta", "sigma", "d", "N", "seed")},
    notes="Per-instance false-alarm rate <= 1e-5 (Bonferroni over <= 8 coordinates, normal approximation "
          "of the mean of 400 replicates of N*25 samples each); the power is checked by the tests with a biased estimator.",
))
