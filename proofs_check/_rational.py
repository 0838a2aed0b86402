"""Exact arithmetic for certificates: rational instances, an exact tabular oracle, and outward
intervals with rational endpoints for the few transcendental quantities (``log`` in a KL,
``sqrt`` in a square-root bound, ``exp`` in a softmax).

Independent of :mod:`trustopt` (a certificate must not be the code under test checking itself):
every quantity is recomputed here from the instance, by Gauss-Jordan elimination over
:class:`fractions.Fraction`. Sizes are those of shrunk counterexamples (a handful of states).

- :func:`rational` / :func:`rational_dist`: a float as the decimal it prints as (``0.1 -> 1/10``;
  the shrinker leaves rounded decimals), probability rows renormalized exactly to sum to 1.
- :class:`Interval`: ``[lo, hi]`` with rational endpoints, closed under ``+ - *`` and division by
  an interval not containing 0; :func:`log`, :func:`sqrt`, :func:`exp` enclose the true value
  (series with rational remainder bounds), so a sign decided on an interval is a proof.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

Q = Fraction


# ----------------------------------------------------------------------------- conversion


def rational(x) -> Fraction:
    """The decimal that ``repr`` prints for a float, exactly (``0.1 -> 1/10``, ``1e-12 -> 1/10**12``)."""
    if isinstance(x, Fraction):
        return x
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"cannot certify a non-finite value {x!r}")
    return Fraction(repr(x))


def rational_array(a):
    """Nested lists of :class:`Fraction` (the shape of ``a``)."""
    a = np.asarray(a, float)
    if a.ndim == 0:
        return rational(a)
    return [rational_array(x) for x in a]


def rational_dist(a):
    """Probability vectors along the last axis as exact rationals summing to 1 (each row is
    divided by its exact sum; negative round-off entries are set to 0 first)."""
    a = np.asarray(a, float)
    if a.ndim == 1:
        row = [max(rational(x), Q(0)) for x in a]
        s = sum(row)
        if s <= 0:
            raise ValueError("a probability row with no mass")
        return [x / s for x in row]
    return [rational_dist(x) for x in a]


_MAX_DIGITS = 400


def as_text(x):
    """A nested structure of rationals / intervals as JSON-friendly strings (``"p/q"``); a rational
    longer than 400 digits is shown as ``"~<float> (<n>-digit rational)"`` -- it stays exact in the
    computation, and ``--certify`` recomputes it."""
    if isinstance(x, Fraction):
        n = x.numerator.bit_length() + x.denominator.bit_length()
        if n * 0.302 > _MAX_DIGITS:
            return f"~{float(x):.17g} ({int(n * 0.302)}-digit rational)"
        return str(x)
    if isinstance(x, Interval):
        return [str(x.lo), str(x.hi)]
    if isinstance(x, (list, tuple)):
        return [as_text(v) for v in x]
    if isinstance(x, dict):
        return {k: as_text(v) for k, v in x.items()}
    return x


def parse(x):
    """Inverse of :func:`as_text` for rationals (strings ``"p/q"`` back to :class:`Fraction`)."""
    if isinstance(x, str):
        return Fraction(x)
    if isinstance(x, list):
        return [parse(v) for v in x]
    if isinstance(x, dict):
        return {k: parse(v) for k, v in x.items()}
    if isinstance(x, (int, float)):
        return rational(x)
    return x


# ----------------------------------------------------------------------------- intervals


_GRID = 2**320  # interval endpoints with longer denominators are rounded OUTWARD to multiples of 1/_GRID


def _down(x: Fraction) -> Fraction:
    return x if x.denominator <= _GRID else Fraction(math.floor(x * _GRID), _GRID)


def _up(x: Fraction) -> Fraction:
    return x if x.denominator <= _GRID else Fraction(math.ceil(x * _GRID), _GRID)


class Interval:
    """A closed interval ``[lo, hi]`` with rational endpoints containing the true value."""

    __slots__ = ("lo", "hi")

    def __init__(self, lo, hi=None):
        self.lo = _down(Q(lo))
        self.hi = _up(Q(lo if hi is None else hi))
        if self.lo > self.hi:
            raise ValueError("empty interval")

    @staticmethod
    def of(x) -> "Interval":
        return x if isinstance(x, Interval) else Interval(x, x)

    def __add__(self, o):
        o = Interval.of(o)
        return Interval(self.lo + o.lo, self.hi + o.hi)

    __radd__ = __add__

    def __neg__(self):
        return Interval(-self.hi, -self.lo)

    def __sub__(self, o):
        return self + (-Interval.of(o))

    def __rsub__(self, o):
        return Interval.of(o) - self

    def __mul__(self, o):
        o = Interval.of(o)
        c = [self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi]
        return Interval(min(c), max(c))

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = Interval.of(o)
        if o.lo <= 0 <= o.hi:
            raise ZeroDivisionError("interval division by an interval containing 0")
        return self * Interval(1 / o.hi, 1 / o.lo)

    def __rtruediv__(self, o):
        return Interval.of(o) / self

    def __repr__(self):
        return f"[{float(self.lo):.17g}, {float(self.hi):.17g}]"


def lo(x) -> Fraction:
    return x.lo if isinstance(x, Interval) else Q(x)


def hi(x) -> Fraction:
    return x.hi if isinstance(x, Interval) else Q(x)


def iabs(x):
    if not isinstance(x, Interval):
        return abs(Q(x))
    if x.lo >= 0:
        return x
    if x.hi <= 0:
        return -x
    return Interval(0, max(-x.lo, x.hi))


def imax(xs):
    """``max`` of rationals / intervals (an interval when any is)."""
    xs = list(xs)
    if not any(isinstance(x, Interval) for x in xs):
        return max(Q(x) for x in xs)
    return Interval(max(lo(x) for x in xs), max(hi(x) for x in xs))


def imin(xs):
    xs = list(xs)
    if not any(isinstance(x, Interval) for x in xs):
        return min(Q(x) for x in xs)
    return Interval(min(lo(x) for x in xs), min(hi(x) for x in xs))


_TERMS = 60  # series terms: remainders below 2^-60 relative for the reduced arguments used


def _log_reduced(x: Fraction) -> Interval:
    """``log x`` for ``x`` in ``[1/2, 2]``: ``log x = 2 artanh(z)``, ``z = (x-1)/(x+1)``, ``|z| <= 1/3``;
    partial sum ``2 sum_{k<N} z^(2k+1)/(2k+1)`` with remainder ``|R| <= 2 |z|^(2N+1) / ((2N+1)(1-z^2))``."""
    z = (x - 1) / (x + 1)
    s, p = Q(0), z
    for k in range(_TERMS):
        s += p / (2 * k + 1)
        p *= z * z
    s *= 2
    rem = 2 * abs(p) / ((2 * _TERMS + 1) * (1 - z * z))
    return Interval(s - rem, s + rem)


_LOG2 = _log_reduced(Q(2))


def log(x) -> Interval:
    """An interval containing ``log x`` (``x > 0`` rational or an interval of positives)."""
    if isinstance(x, Interval):
        if x.lo <= 0:
            raise ValueError("log of an interval reaching 0")
        a, b = log(x.lo), log(x.hi)
        return Interval(a.lo, b.hi)
    x = Q(x)
    if x <= 0:
        raise ValueError("log of a nonpositive number")
    k = 0
    while x > 2:
        x /= 2
        k += 1
    while x < Q(1, 2):
        x *= 2
        k -= 1
    return _log_reduced(x) + _LOG2 * k


def sqrt(x) -> Interval:
    """An interval containing ``sqrt x`` (``x >= 0``), endpoints exact to ``2^-64`` relative."""
    if isinstance(x, Interval):
        a, b = sqrt(max(x.lo, Q(0))), sqrt(x.hi)
        return Interval(a.lo, b.hi)
    x = Q(x)
    if x < 0:
        raise ValueError("sqrt of a negative number")
    scale = 2**64
    n = x.numerator * scale**2 // x.denominator  # floor(x * scale^2)
    r = math.isqrt(n)  # r^2 <= x scale^2 < (r+2)^2
    return Interval(Q(r, scale), Q(r + 2, scale))


def _exp_series(f: Fraction) -> Interval:
    """``exp f`` for ``|f| <= 1``: ``sum_{n<N} f^n/n!`` with remainder ``<= 3 |f|^N / N!`` (``e^|f| <= 3``)."""
    s, t = Q(0), Q(1)
    for n in range(1, 40):
        s += t
        t = t * f / n
    return Interval(s - 3 * abs(t), s + 3 * abs(t))


_E = _exp_series(Q(1))


def exp(x) -> Interval:
    """An interval containing ``exp x``: ``x = k + f``, integer ``k``, ``|f| <= 1/2``,
    ``exp x = exp(f) e^k`` with both factors enclosed."""
    if isinstance(x, Interval):
        return Interval(exp(x.lo).lo, exp(x.hi).hi)
    x = Q(x)
    k = math.floor(x + Q(1, 2))
    out = _exp_series(x - k)
    base = _E if k > 0 else Interval(1) / _E
    for _ in range(abs(k)):
        out = out * base
    return out


# ----------------------------------------------------------------------------- linear algebra


def solve(M, b):
    """``M x = b`` exactly (Gauss-Jordan over rationals); ``M`` square, nonsingular."""
    n = len(M)
    A = [list(M[i]) + [b[i]] for i in range(n)]
    for c in range(n):
        p = next((r for r in range(c, n) if A[r][c] != 0), None)
        if p is None:
            raise ZeroDivisionError("singular system")
        A[c], A[p] = A[p], A[c]
        piv = A[c][c]
        A[c] = [v / piv for v in A[c]]
        for r in range(n):
            if r != c and A[r][c] != 0:
                f = A[r][c]
                A[r] = [vr - f * vc for vr, vc in zip(A[r], A[c])]
    return [A[i][n] for i in range(n)]


# ----------------------------------------------------------------------------- tabular MDPs


class MDP:
    """An exact finite MDP: ``P[s][a][s']``, ``r[s][a]``, ``rho0[s]``, ``gamma`` (rationals)."""

    def __init__(self, P, r, rho0, gamma):
        self.P, self.r, self.rho0, self.gamma = P, r, rho0, Q(gamma)
        self.S, self.A = len(r), len(r[0])

    @classmethod
    def from_instance(cls, inst, *, r_key="r"):
        return cls(rational_dist(inst["P"]), rational_array(inst[r_key]), rational_dist(inst["rho0"]),
                   rational(np.asarray(inst["gamma"]).reshape(())))

    def P_pi(self, pi):
        S, A = self.S, self.A
        return [[sum(pi[s][a] * self.P[s][a][t] for a in range(A)) for t in range(S)] for s in range(S)]


class Evaluation:
    """``V, Q, A`` (lists), ``rho`` (UNNORMALIZED visitation, sums to ``1/(1-gamma)``), ``eta``."""

    def __init__(self, V, Qsa, Adv, rho, eta):
        self.V, self.Q, self.A, self.rho, self.eta = V, Qsa, Adv, rho, eta


def evaluate(M: MDP, pi) -> Evaluation:
    """``V = (I - gamma P_pi)^{-1} r_pi``, ``Q = r + gamma P V``, ``A = Q - V``,
    ``rho = (I - gamma P_pi^T)^{-1} rho0``, ``eta = rho0 . V``, all exact."""
    S, A, g = M.S, M.A, M.gamma
    Pp = M.P_pi(pi)
    r_pi = [sum(pi[s][a] * M.r[s][a] for a in range(A)) for s in range(S)]
    I_g = [[(1 if s == t else 0) - g * Pp[s][t] for t in range(S)] for s in range(S)]
    V = solve(I_g, r_pi)
    I_gT = [[I_g[t][s] for t in range(S)] for s in range(S)]
    rho = solve(I_gT, M.rho0)
    Qsa = [[M.r[s][a] + g * sum(M.P[s][a][t] * V[t] for t in range(S)) for a in range(A)] for s in range(S)]
    Adv = [[Qsa[s][a] - V[s] for a in range(A)] for s in range(S)]
    eta = sum(M.rho0[s] * V[s] for s in range(S))
    return Evaluation(V, Qsa, Adv, rho, eta)


def surrogate(M: MDP, ev: Evaluation, pit) -> Fraction:
    """``L_pi(pit) = eta(pi) + sum_s rho_pi(s) sum_a pit(a|s) A_pi(s, a)``."""
    return ev.eta + sum(ev.rho[s] * sum(pit[s][a] * ev.A[s][a] for a in range(M.A)) for s in range(M.S))


def tv(p, q) -> Fraction:
    return sum(abs(x - y) for x, y in zip(p, q)) / 2


def max_tv(pi, pit) -> Fraction:
    return max(tv(p, q) for p, q in zip(pi, pit))


def kl_is_infinite(p, q) -> bool:
    """``KL(p || q) = inf``: some ``p_a > 0`` with ``q_a = 0``."""
    return any(x > 0 and y == 0 for x, y in zip(p, q))


def kl(p, q):
    """``KL(p || q) = sum_a p_a log(p_a / q_a)`` as an interval (``inf`` raises: test
    :func:`kl_is_infinite` first where an infinite KL is meaningful)."""
    total = Interval(0)
    for x, y in zip(p, q):
        if x == 0:
            continue
        if y == 0:
            raise ValueError("KL is infinite")
        total = total + x * log(x / y)
    return total


def optimal_eta(M: MDP) -> Fraction:
    """``eta* = max over deterministic policies`` (exact enumeration; ``A^S`` policies)."""
    import itertools

    best = None
    for choice in itertools.product(range(M.A), repeat=M.S):
        pi = [[Q(int(a == choice[s])) for a in range(M.A)] for s in range(M.S)]
        e = evaluate(M, pi).eta
        best = e if best is None or e > best else best
    return best


def state_distributions(M: MDP, pi, T):
    """``d[t][s] = P(s_t = s)``, ``t < T``."""
    Pp = M.P_pi(pi)
    out = [list(M.rho0)]
    for _ in range(T - 1):
        d = out[-1]
        out.append([sum(d[s] * Pp[s][t] for s in range(M.S)) for t in range(M.S)])
    return out


# ----------------------------------------------------------------------------- certificates


def certificate(slack, instance, sides=None, *, gap=None, bound=None):
    """A :class:`proofs_check.Certificate` for an exact (or enclosed) slack."""
    from proofs_check.registry import Certificate

    return Certificate(upper=hi(slack), lower=lo(slack), instance=instance, sides=dict(sides or {}), gap=gap,
                       bound=bound)


def tabular_instance(inst, *policies, reals=()):
    """``(M, {policy: rational rows}, rational instance)`` of a tabular instance (arrays without
    the batch axis); ``reals`` are further real fields made rational as they print."""
    M = MDP.from_instance(inst)
    pols = {k: rational_dist(inst[k]) for k in policies}
    shown = {"P": M.P, "r": M.r, "rho0": M.rho0, "gamma": M.gamma, **pols}
    for k in reals:
        shown[k] = rational_array(inst[k])
    return M, pols, shown


def inequality(gap, bound, shown, **sides):
    """Certificate of ``gap <= bound`` (slack ``bound - gap``)."""
    return certificate(bound - gap, shown, {"gap": gap, "bound": bound, **sides}, gap=gap, bound=bound)


def identity(lhs, rhs, shown, **sides):
    """Certificate of ``lhs = rhs`` (slack ``-|lhs - rhs|``: negative iff they differ)."""
    return certificate(-iabs(lhs - rhs), shown, {"lhs": lhs, "rhs": rhs, **sides})


def tightest(pairs):
    """The ``(gap, bound)`` pair of largest ``gap / bound`` (a pair with ``bound <= 0 < gap``, or
    ``bound < 0``, first: violated whatever the scale). For a family of inequalities
    ``gap_t <= bound_t`` this is the member that any rescaling ``bound_t * c`` breaks first, and it
    is violated iff some member is."""
    pairs = list(pairs)
    bad = [(X, B) for X, B in pairs if (B <= 0 and X > B)]
    if bad:
        return min(bad, key=lambda p: p[1] - p[0])
    return max(pairs, key=lambda p: (p[0] / p[1]) if p[1] > 0 else Q(-1))


def max_abs(rows):
    return max(abs(x) for row in rows for x in row)


# ----------------------------------------------------------------------------- product distributions


class CategoricalProduct:
    """Exact TRES quantities (eq. 9-13) for ``d`` independent categorical coordinates with rational
    probabilities ``p[i][k]`` and a table ``F`` (nested lists, ``d`` axes of size ``K``)."""

    def __init__(self, F, p):
        import itertools

        self.F, self.p, self.d, self.K = F, p, len(p), len(p[0])
        self.points = list(itertools.product(range(self.K), repeat=self.d))

    def f(self, x):
        v = self.F
        for k in x:
            v = v[k]
        return v

    def V(self, prefix):
        """``V(x^{1..i}) = E[F(X) | X^{1..i} = prefix]`` under ``p``."""
        import itertools

        i = len(prefix)
        total = Q(0)
        for rest in itertools.product(range(self.K), repeat=self.d - i):
            w = Q(1)
            for j, k in enumerate(rest):
                w *= self.p[i + j][k]
            total += w * self.f(tuple(prefix) + rest)
        return total

    def A(self, prefix):
        """``A(x^{1..i+1}) = V(x^{1..i+1}) - V(x^{1..i})`` for ``prefix = x^{1..i+1}``."""
        return self.V(prefix) - self.V(prefix[:-1])

    def prefixes(self, length):
        import itertools

        return list(itertools.product(range(self.K), repeat=length))

    def prob(self, q, prefix):
        w = Q(1)
        for j, k in enumerate(prefix):
            w *= q[j][k]
        return w

    def J(self, q=None):
        q = self.p if q is None else q
        return sum(self.prob(q, x) * self.f(x) for x in self.points)

    def eps(self):
        return max(abs(self.A(x)) for j in range(1, self.d + 1) for x in self.prefixes(j))

    def surrogate(self, pt):
        """TRES eq. 13: ``J(theta) + sum_i sum_{x^{1..i}} p(x^{1..i}) sum_k pt^{i+1}_k A(x^{1..i}, k)``."""
        total = self.J()
        for i in range(self.d):
            for x in self.prefixes(i):
                total += self.prob(self.p, x) * sum(pt[i][k] * self.A(x + (k,)) for k in range(self.K))
        return total


def categorical_instance(inst):
    """``(model, pt, shown)`` of a TRES instance: the logits ``theta``, ``thetat`` are replaced by
    their (float) softmax probabilities made rational and renormalized -- strictly positive
    distributions, i.e. ``softmax(log p)``, so the certified instance is an instance of the claim."""
    th, tt = np.asarray(inst["theta"], float), np.asarray(inst["thetat"], float)
    sm = lambda t: np.exp(t - t.max(axis=-1, keepdims=True)) / np.exp(t - t.max(axis=-1, keepdims=True)).sum(-1, keepdims=True)
    p = rational_dist(np.maximum(sm(th), 1e-300))
    pt = rational_dist(np.maximum(sm(tt), 1e-300))
    if any(x <= 0 for row in p + pt for x in row):
        raise ValueError("a probability underflowed to 0")
    F = rational_array(inst["F"])
    return CategoricalProduct(F, p), pt, {"F": F, "p_theta": p, "p_thetat": pt}


def grad_eta_softmax(M: MDP, pi):
    """``d eta / d theta[s, b]`` for the softmax policy with probabilities ``pi`` (any logits with
    ``softmax(theta) = pi``), by implicit differentiation of ``V = (I - gamma P_pi)^{-1} r_pi``:
    ``d pi(a|s)/d theta[s,b] = pi(a|s) (1[a=b] - pi(b|s))``, ``dV = (I - gamma P_pi)^{-1}(d r_pi +
    gamma dP_pi V)``, ``d eta = rho0 . dV`` -- exact, and independent of the policy-gradient theorem."""
    S, A, g = M.S, M.A, M.gamma
    Pp = M.P_pi(pi)
    ev = evaluate(M, pi)
    I_g = [[(1 if s == t else 0) - g * Pp[s][t] for t in range(S)] for s in range(S)]
    out = [[Q(0)] * A for _ in range(S)]
    for s0 in range(S):
        for b in range(A):
            dpi = [pi[s0][a] * ((1 if a == b else 0) - pi[s0][b]) for a in range(A)]
            rhs = [Q(0)] * S
            rhs[s0] = sum(dpi[a] * (M.r[s0][a] + g * sum(M.P[s0][a][t] * ev.V[t] for t in range(S))) for a in range(A))
            dV = solve(I_g, rhs)
            out[s0][b] = sum(M.rho0[s] * dV[s] for s in range(S))
    return out


# ----------------------------------------------------------------------------- small matrices


def matmul(X, Y):
    return [[sum(X[i][k] * Y[k][j] for k in range(len(Y))) for j in range(len(Y[0]))] for i in range(len(X))]


def transpose(X):
    return [list(r) for r in zip(*X)]


def lyapunov(Acl, C, gamma):
    """The solution ``X`` of ``X = C + gamma Acl X Acl'`` (a linear system in the entries; unique when
    ``sqrt(gamma) Acl`` is stable), exactly."""
    k = len(C)
    idx = [(i, j) for i in range(k) for j in range(k)]
    rows, rhs = [], []
    for i, j in idx:
        row = []
        for a, b in idx:  # coefficient of X[a][b] in X[i][j] - gamma sum Acl[i][a] X[a][b] Acl[j][b]
            row.append((1 if (i, j) == (a, b) else 0) - gamma * Acl[i][a] * Acl[j][b])
        rows.append(row)
        rhs.append(C[i][j])
    x = solve(rows, rhs)
    return [[x[i * k + j] for j in range(k)] for i in range(k)]


def lambda_max_upper(S):
    """An upper bound on the largest eigenvalue of a symmetric rational matrix: exact (as an
    interval) for sizes 1 and 2, the Frobenius norm (an interval) beyond."""
    k = len(S)
    if k == 1:
        return Interval(S[0][0])
    if k == 2:
        tr, det = S[0][0] + S[1][1], S[0][0] * S[1][1] - S[0][1] * S[1][0]
        return (tr + sqrt(tr * tr - 4 * det)) / 2
    return sqrt(sum(x * x for row in S for x in row))


# ----------------------------------------------------------------------------- cos / sin


def _cos_sin_point(x: Fraction):
    """``(cos x, sin x)`` for rational ``x``: Taylor partial sums to a term below ``2^-200`` (and past
    ``|x|``, where the terms decrease), remainder bounded by the first omitted term's size times 2."""
    x = Q(x)
    c, s, t, n = Q(0), Q(0), Q(1), 0  # t = x^n / n!
    tiny = Q(1, 2**200)
    while True:
        if n % 4 == 0:
            c += t
        elif n % 4 == 1:
            s += t
        elif n % 4 == 2:
            c -= t
        else:
            s -= t
        n += 1
        t = t * x / n
        if n > abs(x) + 2 and abs(t) < tiny:
            break
    rem = 2 * abs(t)  # alternating tails after the terms decrease: |tail| <= first term; x2 for both parities
    return Interval(c - rem, c + rem), Interval(s - rem, s + rem)


def cos_sin(x):
    """Intervals containing ``(cos x, sin x)`` for a rational or an interval ``x`` (an interval
    ``[m - w, m + w]`` is enclosed by ``cos m +- w``: both functions are 1-Lipschitz)."""
    if not isinstance(x, Interval):
        return _cos_sin_point(Q(x))
    m, w = (x.lo + x.hi) / 2, (x.hi - x.lo) / 2
    c, s = _cos_sin_point(m)
    clip = lambda v: Interval(max(v.lo - w, Q(-1)), min(v.hi + w, Q(1)))
    return clip(c), clip(s)
