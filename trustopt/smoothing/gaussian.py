"""Product of per-dimension Gaussians ``N(theta_i, sigma_i^2)``: exact TRES quantities.

Setting: TRES eq. 1/3, ``X ~ N(theta, diag(sigma^2))`` (the paper has one ``sigma`` for all
dimensions; here ``sigma`` may differ per dimension and is fixed: only the means move).

Exactness:
- ``F`` a :class:`Quadratic` (``F(x) = 1/2 x'Hx + g'x + c``): every quantity is in closed form.
- ``F`` any vectorized callable: expectations use tensor Gauss-Hermite quadrature of
  ``order`` nodes per integrated dimension (probabilists' nodes, ``numpy.polynomial.hermite_e``).
  It is EXACT when ``F`` is a polynomial of degree ``<= 2 order - 1`` in each variable
  (``<= 2 order - 2`` for the gradients, which integrate ``F(X) (X_j - theta_j)``). For smooth ``F``
  the one-dimensional error is ``n!/(2n)! sigma^{2n} F^{(2n)}(zeta)`` for some ``zeta``
  (``n = order``; Gauss-Hermite remainder for the weight ``exp(-x^2/2)``, rescaled to the
  standard normal); the tensor rule's error is at most the sum of the per-dimension errors.
  Cost ``order^(#integrated dims)`` evaluations per point: meant for small ``d`` (``order^d <= 2e6``).

Identity used throughout (product distributions): the ``i``-th term of eq. 13 integrates ``F``
with coordinate ``i+1`` drawn from ``thetat`` and all others from ``theta``, so
``L_theta(thetat) = J(theta) + sum_j [J(theta with theta_j <- thetat_j) - J(theta)]``; similarly the
``i``-th term of eq. 12 is ``J(thetat^{1..i+1}, theta^{i+2..d}) - J(thetat^{1..i}, theta^{i+1..d})``.
The tests check both against the literal nested integrals of ``V_theta`` / ``A_theta``.

Shapes: ``theta (*batch, d)``; results ``(*batch,)`` or ``(*batch, d)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import erf

from trustopt._validation import ValidationError, as_float_array, check_int, readonly
from trustopt.smoothing._common import (
    check_baseline,
    check_lambda,
    clip_active_unclipped,
    clip_terms,
    is_terms,
)

MAX_GRID = 2_000_000


@dataclass(frozen=True, init=False, eq=False)
class Quadratic:
    """``F(x) = 1/2 x' H x + g' x + c`` with ``H (d, d)`` symmetric, ``g (d,)``, ``c`` a float.

    ``H`` is checked symmetric (``|H - H'| <= 1e-10 (1 + max|H|)``) and stored symmetrized."""

    H: np.ndarray
    g: np.ndarray
    c: float

    def __init__(self, *, H, g, c=0.0):
        H = as_float_array(H, "H", ndim=2)
        d = H.shape[0]
        if H.shape != (d, d) or d < 1:
            raise ValidationError(f"H: expected a square (d, d) matrix, got shape {H.shape}")
        if np.max(np.abs(H - H.T)) > 1e-10 * (1.0 + np.max(np.abs(H))):
            raise ValidationError("H: must be symmetric")
        g = as_float_array(g, "g", ndim=1)
        if g.shape != (d,):
            raise ValidationError(f"g: expected shape ({d},), got {g.shape}")
        c = float(as_float_array(c, "c", ndim=0))
        object.__setattr__(self, "H", readonly(0.5 * (H + H.T)))
        object.__setattr__(self, "g", readonly(g.copy()))
        object.__setattr__(self, "c", c)

    @property
    def d(self) -> int:
        return self.g.shape[0]

    def __call__(self, x) -> np.ndarray:
        """``F(x)`` for ``x (..., d)`` -> ``(...)``."""
        x = np.asarray(x, dtype=np.float64)
        return 0.5 * np.einsum("...i,ij,...j->...", x, self.H, x) + x @ self.g + self.c

    def gradient(self, x) -> np.ndarray:
        """``grad F(x) = H x + g``, ``(..., d)``."""
        return np.asarray(x, dtype=np.float64) @ self.H + self.g


def check_objective(F, d):
    """``F``: a :class:`Quadratic` (its dimension, which ``d`` must match) or a vectorized callable;
    returns the dimension known so far (``d`` for a callable, possibly None)."""
    if isinstance(F, Quadratic):
        if d is not None and d != F.d:
            raise ValidationError(f"d: {d} disagrees with the Quadratic's dimension {F.d}")
        return F.d
    if not callable(F):
        raise ValidationError(f"F: expected a Quadratic or a callable, got {type(F).__name__}")
    return d


def check_order(F, order, d: int) -> int:
    """The quadrature order ``>= 1``, with at most ``MAX_GRID`` points for a callable ``F``."""
    check_int(order, "order", 1)
    if not isinstance(F, Quadratic) and float(order) ** d > MAX_GRID:
        raise ValidationError(f"order: order^d = {order}^{d} exceeds {MAX_GRID} quadrature points; lower it")
    return int(order)


@dataclass(frozen=True, init=False, eq=False)
class GaussianProduct:
    """Gaussian smoothing of ``F`` with ``X ~ N(theta, diag(sigma^2))`` (TRES eq. 1, 3, 9-17, 23-25).

    Args (keyword-only):
        F: a :class:`Quadratic` (closed forms) or a callable mapping points ``(M, d)`` to ``(M,)``
           (Gauss-Hermite quadrature; see the module docstring for the error).
        sigma: standard deviation, a float or per-dimension ``(d,)``, all ``> 0``.
        d: dimension; needed only if ``F`` is a callable and ``sigma`` a float.
        order: Gauss-Hermite nodes per dimension (``>= 1``; default 20), used only for callables.
    """

    F: object
    sigma: np.ndarray
    d: int
    order: int

    def __init__(self, *, F, sigma, d: int | None = None, order: int = 20):
        d = check_objective(F, d)
        sig = as_float_array(sigma, "sigma", ndim=(0, 1))
        if sig.ndim == 1:
            if d is not None and sig.shape != (d,):
                raise ValidationError(f"sigma: expected shape ({d},), got {sig.shape}")
            d = sig.shape[0]
        if d is None:
            raise ValidationError("d: give the dimension d (or a per-dimension sigma, or a Quadratic F)")
        d = check_int(d, "d", 1)
        sig = np.broadcast_to(sig, (d,)).copy()
        if np.any(sig <= 0.0):
            raise ValidationError(f"sigma: must be > 0, got {sig}")
        check_order(F, order, d)
        object.__setattr__(self, "F", F)
        object.__setattr__(self, "sigma", readonly(sig))
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "order", int(order))

    @property
    def exact(self) -> bool:
        """True when ``F`` is a :class:`Quadratic` (closed forms, no quadrature)."""
        return isinstance(self.F, Quadratic)

    # ---------------------------------------------------------------- kernels
    def _theta(self, theta, name="theta"):
        t = as_float_array(theta, name)
        if t.ndim < 1 or t.shape[-1] != self.d:
            raise ValidationError(f"{name}: expected shape (*batch, {self.d}), got {t.shape}")
        return t

    def _eval(self, pts: np.ndarray) -> np.ndarray:
        flat = pts.reshape(-1, self.d)
        vals = np.asarray(self.F(flat), dtype=np.float64)
        if vals.shape != (flat.shape[0],):
            raise ValidationError(f"F: must map points (M, {self.d}) to values (M,), got {vals.shape}")
        if not np.all(np.isfinite(vals)):
            raise ValidationError("F: returned a non-finite value")
        return vals.reshape(pts.shape[:-1])

    def _expect(self, means: np.ndarray, free: list[int], score: int | None = None) -> np.ndarray:
        """``E[F(Y)]`` with ``Y_j = means_j`` fixed for ``j`` not in ``free`` and ``Y_j ~ N(means_j, sigma_j^2)``
        for ``j`` in ``free``; with ``score = j`` (in ``free``): ``E[F(Y) (Y_j - means_j)] / sigma_j^2``.
        ``means (*b, d)`` -> ``(*b,)``. Closed form for a Quadratic, else Gauss-Hermite."""
        if self.exact:
            Fq = self.F
            if score is None:
                var = np.zeros(self.d)
                var[free] = self.sigma[free] ** 2
                return Fq(means) + 0.5 * np.dot(np.diag(Fq.H), var)
            # Stein: E[F(Y)(Y_j - m_j)]/sigma_j^2 = E[dF/dy_j] = (H m + g)_j for a quadratic
            return Fq.gradient(means)[..., score]
        nodes, w = hermegauss(self.order)
        w = w / np.sqrt(2.0 * np.pi)
        f = len(free)
        if f == 0:
            return self._eval(means)
        grid = np.stack(np.meshgrid(*([nodes] * f), indexing="ij"), axis=-1).reshape(-1, f)
        wt = np.prod(np.stack(np.meshgrid(*([w] * f), indexing="ij"), axis=-1).reshape(-1, f), axis=-1)
        pts = np.repeat(means[..., None, :], grid.shape[0], axis=-2)
        pts[..., free] += grid * self.sigma[free]
        vals = self._eval(pts)
        if score is not None:
            vals = vals * grid[:, free.index(score)] / self.sigma[score]
        return vals @ wt

    def _J_at(self, means):
        return self._expect(means, list(range(self.d)))

    def _mix(self, theta, thetat, mask):
        return np.where(mask, thetat, theta)

    # ---------------------------------------------------------------- exact quantities
    def J(self, theta) -> np.ndarray:
        """``J(theta) = E_{X ~ N(theta, sigma^2)}[F(X)]`` (TRES eq. 1/3), ``(*batch,)``.
        Quadratic: ``F(theta) + 1/2 sum_j H_jj sigma_j^2``."""
        return self._J_at(self._theta(theta))

    def value(self, theta, x) -> np.ndarray:
        """``V_theta(x^{1..i}) = E_{X^{i+1..d} ~ theta}[F(X) | X^{1..i} = x^{1..i}]`` (TRES, after eq. 9),
        where ``i = x.shape[-1]`` (``0..d``); ``x (..., i)`` broadcast with ``theta (*batch, d)``."""
        t = self._theta(theta)
        x = as_float_array(x, "x")
        if x.ndim < 1 or x.shape[-1] > self.d:
            raise ValidationError(f"x: expected shape (..., i) with i <= {self.d}, got {x.shape}")
        i = x.shape[-1]
        b = np.broadcast_shapes(x.shape[:-1], t.shape[:-1])
        means = np.concatenate([np.broadcast_to(x, (*b, i)), np.broadcast_to(t[..., i:], (*b, self.d - i))], axis=-1)
        return self._expect(means, list(range(i, self.d)))

    def advantage(self, theta, x) -> np.ndarray:
        """``A_theta(x^{1..j}) = V_theta(x^{1..j}) - V_theta(x^{1..j-1})``, ``j = x.shape[-1] >= 1``
        (TRES, after eq. 9; the paper's ``A_theta(x^{1..i+1})`` with ``j = i+1``)."""
        x = as_float_array(x, "x")
        if x.ndim < 1 or not 1 <= x.shape[-1] <= self.d:
            raise ValidationError(f"x: expected shape (..., j) with 1 <= j <= {self.d}, got {x.shape}")
        return self.value(theta, x) - self.value(theta, x[..., :-1])

    def decomposition_terms(self, theta, thetat) -> np.ndarray:
        """Terms of TRES eq. 12, ``(*batch, d)``: ``T_i = E_{X ~ thetat}[A_theta(X^{1..i+1})]
        = J(thetat^{1..i+1}, theta^{i+2..d}) - J(thetat^{1..i}, theta^{i+1..d})``; ``J(thetat) = J(theta) + sum_i T_i``."""
        t, tt = self._theta(theta), self._theta(thetat, "thetat")
        idx = np.arange(self.d)
        Js = [self._J_at(self._mix(t, tt, idx < i)) for i in range(self.d + 1)]
        return np.stack([Js[i + 1] - Js[i] for i in range(self.d)], axis=-1)

    def surrogate_terms(self, theta, thetat) -> np.ndarray:
        """Terms of TRES eq. 13, ``(*batch, d)``: ``S_i = E_{X^{1..i} ~ theta, X^{i+1} ~ thetat}[A_theta(X^{1..i+1})]
        = J(theta with theta_{i+1} <- thetat_{i+1}) - J(theta)`` (first ``i`` coordinates from the OLD
        ``theta``, coordinate ``i+1`` from the NEW ``thetat``, the rest under ``theta`` inside ``V_theta``)."""
        t, tt = self._theta(theta), self._theta(thetat, "thetat")
        J0 = self._J_at(np.broadcast_to(t, np.broadcast_shapes(t.shape, tt.shape)))
        idx = np.arange(self.d)
        return np.stack([self._J_at(self._mix(t, tt, idx == i)) - J0 for i in range(self.d)], axis=-1)

    def surrogate(self, theta, thetat) -> np.ndarray:
        """``L_theta(thetat) = J(theta) + sum_i S_i`` (TRES eq. 13), ``(*batch,)``."""
        return self.J(theta) + self.surrogate_terms(theta, thetat).sum(axis=-1)

    # ---------------------------------------------------------------- divergences
    def tv(self, theta, thetat) -> np.ndarray:
        """``D_TV(N(theta_i, sigma_i^2), N(thetat_i, sigma_i^2)) = erf(|thetat_i - theta_i| / (2 sqrt(2) sigma_i))``
        (= ``2 Phi(|delta| / (2 sigma)) - 1``; TRES eq. 15), ``(*batch, d)``."""
        t, tt = self._theta(theta), self._theta(thetat, "thetat")
        return erf(np.abs(tt - t) / (2.0 * np.sqrt(2.0) * self.sigma))

    def kl(self, theta, thetat, *, reverse: bool = False) -> np.ndarray:
        """``KL(N(theta_i, sigma_i^2) || N(thetat_i, sigma_i^2)) = (thetat_i - theta_i)^2 / (2 sigma_i^2)``
        (TRES eq. 17), ``(*batch, d)``; symmetric, so ``reverse`` changes nothing (kept for API parity)."""
        t, tt = self._theta(theta), self._theta(thetat, "thetat")
        return (tt - t) ** 2 / (2.0 * self.sigma**2)

    def alpha(self, theta, thetat) -> np.ndarray:
        """``alpha = max_i D_TV`` (TRES eq. 15, Thm. 1), ``(*batch,)``."""
        return self.tv(theta, thetat).max(axis=-1)

    def eps(self, theta) -> np.ndarray:
        """``eps = sup_{x, j} |A_theta(x^{1..j})|`` (TRES Thm. 1), ``(*batch,)``, for a :class:`Quadratic`:
        ``A_theta(x^{1..j})`` is a polynomial in ``x_j`` that vanishes identically only if row ``j`` of ``H``
        and ``g_j`` are zero, so ``eps = 0`` for a constant ``F`` and ``+inf`` otherwise (Theorem 1 is
        vacuous for unbounded objectives). For a callable ``F`` the supremum cannot be computed: error."""
        t = self._theta(theta)
        if not self.exact:
            raise ValidationError("F: eps = sup |A_theta| is not computable for a general callable F")
        const = not (np.any(self.F.H != 0.0) or np.any(self.F.g != 0.0))
        return np.full(t.shape[:-1], 0.0 if const else np.inf)

    # ---------------------------------------------------------------- gradients
    def grad_J(self, theta) -> np.ndarray:
        """``grad J(theta) = E[F(X) (X - theta)] / sigma^2`` (TRES eq. 4), ``(*batch, d)``; ``H theta + g`` for a Quadratic."""
        t = self._theta(theta)
        allf = list(range(self.d))
        return np.stack([self._expect(t, allf, score=j) for j in range(self.d)], axis=-1)

    def grad_surrogate(self, theta, thetat) -> np.ndarray:
        """``grad_thetat L_theta(thetat)`` (TRES eq. 29), ``(*batch, d)``: component ``j`` is
        ``d/dthetat_j J(theta with theta_j <- thetat_j)``. Equals :meth:`grad_J` at ``thetat = theta`` (Lemma 1)."""
        t, tt = self._theta(theta), self._theta(thetat, "thetat")
        idx = np.arange(self.d)
        allf = list(range(self.d))
        return np.stack([self._expect(self._mix(t, tt, idx == j), allf, score=j) for j in range(self.d)], axis=-1)

    # ---------------------------------------------------------------- sample-based surrogates
    def sample(self, theta, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws ``X = theta + sigma * N(0, I)``, shape ``(*batch, n, d)``."""
        check_int(n, "n", 1)
        if not isinstance(rng, np.random.Generator):
            raise ValidationError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        t = self._theta(theta)
        return t[..., None, :] + self.sigma * rng.standard_normal((*t.shape[:-1], int(n), self.d))

    def _is_setup(self, theta, thetat, samples, baseline, weights):
        check_baseline(baseline)
        t, tt = self._theta(theta), self._theta(thetat, "thetat")
        x = as_float_array(samples, "samples")
        if x.ndim < 2 or x.shape[-1] != self.d or x.shape[-2] == 0:
            raise ValidationError(f"samples: expected shape (*batch, N >= 1, {self.d}), got {x.shape}")
        s2 = self.sigma**2
        logr = ((x - t[..., None, :]) ** 2 - (x - tt[..., None, :]) ** 2) / (2.0 * s2)
        r = np.exp(logr)
        if weights is not None:
            w = as_float_array(weights, "weights")
            if w.shape[-2:] != x.shape[-2:]:
                raise ValidationError(f"weights: expected shape (*batch, {x.shape[-2]}, {self.d}), got {w.shape}")
        else:
            tb = t[..., None, :]
            vals = [self.value(tb, x[..., :i]) for i in range(self.d + 1)]
            if baseline == "value":
                w = np.stack(vals[1:], axis=-1)
            else:
                w = np.stack([vals[i] - vals[i - 1] for i in range(1, self.d + 1)], axis=-1)
        dr = r * (x - tt[..., None, :]) / s2  # d r_i / d thetat_i
        return r, w, dr

    def surrogate_is(self, theta, thetat, samples, *, baseline: str = "value", weights=None) -> np.ndarray:
        """``L_IS = 1/N sum_n sum_i r_i(x_n) W_i(x_n)`` (TRES eq. 23-24), ``(*batch,)``, with
        ``r_i = N(x_i; thetat_i, sigma_i^2) / N(x_i; theta_i, sigma_i^2)`` and ``W_i = V_theta(x^{1..i})``
        (``"value"``) or ``A_theta(x^{1..i})`` (``"advantage"``), or the given ``weights (*batch, N, d)``."""
        r, w, _ = self._is_setup(theta, thetat, samples, baseline, weights)
        return is_terms(r, w).sum(axis=-1).mean(axis=-1)

    def surrogate_clip(self, theta, thetat, samples, lambda_, *, baseline: str = "value", weights=None) -> np.ndarray:
        """``L_CLIP = 1/N sum_n sum_i min(r_i W_i, clip(r_i, 1-lambda_, 1+lambda_) W_i)`` (TRES eq. 25), ``(*batch,)``."""
        lam = check_lambda(lambda_)
        r, w, _ = self._is_setup(theta, thetat, samples, baseline, weights)
        return clip_terms(r, w, lam).sum(axis=-1).mean(axis=-1)

    def grad_surrogate_is(self, theta, thetat, samples, *, baseline: str = "value", weights=None) -> np.ndarray:
        """Gradient of :meth:`surrogate_is` w.r.t. ``thetat``: ``1/N sum_n W_i r_i (x_i - thetat_i)/sigma_i^2``, ``(*batch, d)``."""
        _, w, dr = self._is_setup(theta, thetat, samples, baseline, weights)
        return (w * dr).mean(axis=-2)

    def grad_surrogate_clip(self, theta, thetat, samples, lambda_, *, baseline: str = "value",
                            weights=None) -> np.ndarray:
        """Gradient of :meth:`surrogate_clip` w.r.t. ``thetat``, ``(*batch, d)``: the unclipped term's gradient
        where it attains the min (ties count as unclipped), else 0."""
        lam = check_lambda(lambda_)
        r, w, dr = self._is_setup(theta, thetat, samples, baseline, weights)
        return np.where(clip_active_unclipped(r, w, lam), w * dr, 0.0).mean(axis=-2)

    def surrogate_is_exact(self, theta, thetat, *, baseline: str = "value") -> np.ndarray:
        """``sum_i E_{X ~ theta}[r_i(X) W_i(X^{1..i})]`` exactly, ``(*batch,)``. The ratio moves coordinate ``i`` to
        ``thetat`` (change of measure), so with ``"value"`` this is ``sum_i J(theta with theta_i <- thetat_i)``
        and with ``"advantage"`` it is ``L_theta(thetat) - J(theta)``: they differ by ``d J(theta)``, a
        constant in ``thetat`` (claim ``tres.value-baseline``)."""
        check_baseline(baseline)
        terms = self.surrogate_terms(theta, thetat)
        if baseline == "advantage":
            return terms.sum(axis=-1)
        return terms.sum(axis=-1) + self.d * self.J(np.broadcast_to(self._theta(theta), np.broadcast_shapes(
            self._theta(theta).shape, self._theta(thetat, "thetat").shape)))
