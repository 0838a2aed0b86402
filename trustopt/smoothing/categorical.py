"""Product of per-dimension categorical search distributions: exact TRES quantities by enumeration.

Setting (TRES sec. "Local Approximation of Gaussian Smoothing", with the Gaussian replaced by
a categorical per dimension, as the paper's sums ``sum_{x^{1..i}}`` in eq. 12-13 suggest):
``X = (X^1, ..., X^d)`` with independent coordinates, ``X^i`` taking the support value
``z[i, k]`` with probability ``p_theta^i[k]``, ``k = 0..K-1``. The objective is given by its
table ``F[k_1, ..., k_d] = F(z[0, k_1], ..., z[d-1, k_d])`` (build it from a function with
:meth:`CategoricalProduct.from_function`).

Parameters ``theta`` are LOGITS of shape ``(*batch, d, K)``, ``p_theta^i = softmax(theta[..., i, :])``
(:func:`softmax`); every method also accepts probabilities with ``param="probs"``.
Gradients are always with respect to the logits (for ``param="probs"``: at the logits
``log p``; the formula ``dJ/dtheta_ik = p_ik (dJ/dp_ik - sum_k' p_ik' dJ/dp_ik')`` is used, so zero
probabilities are allowed). All supports have the same size ``K`` (pad with zero-probability
points and ``param="probs"`` for smaller ones).

Everything is exact (finite sums over the ``K^d`` product support, evaluated with einsum)
and broadcasts over leading batch dimensions of ``F`` and of the parameters, so that many
instances (``F`` of shape ``(n, K, ..., K)``) or many parameter pairs are handled in one call.

Index convention. The paper writes ``A_theta(x^{1..i+1})`` for ``i = 0..d-1``; here
``advantage(theta, j)`` is ``A_theta(x^{1..j}) = V_theta(x^{1..j}) - V_theta(x^{1..j-1})`` for
``j = 1..d`` (``j = i + 1``), a table of shape ``(*batch, K^j)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from trustopt._validation import ValidationError, as_float_array, check_distribution, check_int, readonly
from trustopt.smoothing._common import (
    check_baseline,
    check_lambda,
    clip_active_unclipped,
    clip_terms,
    is_terms,
)

_LETTERS = "abcdefghijklmnopqrstuvw"
MAX_DIM = len(_LETTERS)


def softmax(theta) -> np.ndarray:
    """``p^i = softmax(theta^i)`` along the last axis, shape ``(*batch, d, K)``; stable (max subtracted)."""
    theta = as_float_array(theta, "theta")
    if theta.ndim < 2:
        raise ValidationError(f"theta: expected shape (*batch, d, K), got {theta.shape}")
    e = np.exp(theta - theta.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def logits(p) -> np.ndarray:
    """Logits ``theta = log p - mean_k log p`` (centered) with ``softmax(theta) = p``; ``p > 0`` required."""
    p = as_float_array(p, "p")
    if p.ndim < 2:
        raise ValidationError(f"p: expected shape (*batch, d, K), got {p.shape}")
    p = check_distribution(p, "p")
    if np.any(p <= 0.0):
        raise ValidationError("p: logits need strictly positive probabilities")
    lp = np.log(p)
    return lp - lp.mean(axis=-1, keepdims=True)


def _contract(T: np.ndarray, n: int, rows: dict[int, np.ndarray]) -> np.ndarray:
    """Contract table axes of ``T (*b, K^n)`` given in ``rows`` (axis -> ``(*b', K)`` weights);
    keep the other axes in order. Batch dimensions broadcast."""
    letters = _LETTERS[:n]
    subs = ["..." + letters]
    ops = [T]
    for ax, q in rows.items():
        subs.append("..." + letters[ax])
        ops.append(q)
    out = "..." + "".join(letters[a] for a in range(n) if a not in rows)
    return np.einsum(",".join(subs) + "->" + out, *ops)


def _grad_logits(p: np.ndarray, g_p: np.ndarray) -> np.ndarray:
    """Chain rule through the softmax: ``p (g_p - <p, g_p>)`` per dimension."""
    return p * (g_p - np.sum(p * g_p, axis=-1, keepdims=True))


@dataclass(frozen=True, init=False, eq=False)
class CategoricalProduct:
    """Objective table ``F`` on a product of ``d`` categorical supports of size ``K`` (TRES eq. 3, 9-13).

    Args (keyword-only):
        F: table ``F[*batch, k_1, ..., k_d]``, shape ``(*batch, K, ..., K)`` (``d`` trailing axes).
        d: number of dimensions; inferred from ``z`` when ``z`` is given.
        z: optional support points, shape ``(d, K)`` (``z[i, k]`` is the value of ``X^{i+1}`` for
           index ``k``); needed only by :meth:`points`. Must be given if ``d`` is not.

    Validation: ``F`` finite, ``1 <= d <= 23``, the trailing ``d`` axes of ``F`` all of size
    ``K >= 1``, ``z`` of shape ``(d, K)`` and finite. Arrays are stored read-only.
    """

    F: np.ndarray
    d: int
    K: int
    z: np.ndarray | None

    def __init__(self, *, F, d: int | None = None, z=None):
        if z is not None:
            z = as_float_array(z, "z", ndim=2)
            if d is not None and z.shape[0] != d:
                raise ValidationError(f"z: expected {d} rows (one per dimension), got shape {z.shape}")
            d = z.shape[0]
        if d is None:
            raise ValidationError("d: give the number of dimensions d (or the support z)")
        d = check_int(d, "d", 1, maximum=MAX_DIM)
        F = as_float_array(F, "F")
        if F.ndim < d:
            raise ValidationError(f"F: expected shape (*batch, K, ..., K) with {d} table axes, got {F.shape}")
        table = F.shape[F.ndim - d:]
        K = table[0]
        if K < 1 or any(k != K for k in table):
            raise ValidationError(f"F: the last {d} axes must all have the same size K >= 1, got {table}")
        if z is not None and z.shape != (d, K):
            raise ValidationError(f"z: expected shape {(d, K)}, got {z.shape}")
        object.__setattr__(self, "F", readonly(F.copy()))
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "K", int(K))
        object.__setattr__(self, "z", None if z is None else readonly(z.copy()))

    @classmethod
    def from_function(cls, f, z) -> "CategoricalProduct":
        """Tabulate ``F[k_1..k_d] = f(x)`` at ``x = (z[0, k_1], ..., z[d-1, k_d])``.

        ``f`` maps points of shape ``(M, d)`` to values ``(M,)`` (vectorized) or ``(M, *batch)``
        for a batch of objectives."""
        z = as_float_array(z, "z", ndim=2)
        d, K = z.shape
        grid = np.stack(np.meshgrid(*z, indexing="ij"), axis=-1).reshape(-1, d)
        vals = np.asarray(f(grid), dtype=np.float64)
        if vals.ndim < 1 or vals.shape[0] != K**d:
            raise ValidationError(f"f: must return shape (M,) or (M, *batch) for M={K**d} points, got {vals.shape}")
        vals = np.moveaxis(vals, 0, -1).reshape(*vals.shape[1:], *([K] * d))
        return cls(F=vals, z=z)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.F.shape[: self.F.ndim - self.d]

    # ---------------------------------------------------------------- parameters
    def probs(self, theta, *, param: str = "logits", name: str = "theta") -> np.ndarray:
        """Validated probabilities ``p_theta`` of shape ``(*batch, d, K)``."""
        if param not in ("logits", "probs"):
            raise ValidationError(f"param: must be 'logits' or 'probs', got {param!r}")
        arr = as_float_array(theta, name)
        if arr.ndim < 2 or arr.shape[-2:] != (self.d, self.K):
            raise ValidationError(f"{name}: expected shape (*batch, {self.d}, {self.K}), got {arr.shape}")
        if param == "probs":
            return check_distribution(arr, name, what="dimension")
        e = np.exp(arr - arr.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def _pair(self, theta, thetat, param):
        return self.probs(theta, param=param), self.probs(thetat, param=param, name="thetat")

    # ---------------------------------------------------------------- exact quantities
    def _values(self, p: np.ndarray) -> list[np.ndarray]:
        """``[V_0, ..., V_d]``, ``V_i`` of shape ``(*batch, K^i)`` (kernel)."""
        d = self.d
        out = [None] * (d + 1)
        V = self.F
        out[d] = V
        for i in range(d - 1, -1, -1):  # V_i = sum_k V_{i+1}(x^{1..i}, k) p^{i+1}[k]
            V = _contract(V, i + 1, {i: p[..., i, :]})
            out[i] = V
        return out

    def J(self, theta, *, param: str = "logits") -> np.ndarray:
        """``J(theta) = E_{X ~ p_theta}[F(X)] = sum_x prod_i p^i[x_i] F[x]`` (TRES eq. 3), shape ``(*batch,)``."""
        p = self.probs(theta, param=param)
        return _contract(self.F, self.d, {i: p[..., i, :] for i in range(self.d)})

    def value(self, theta, i: int, *, param: str = "logits") -> np.ndarray:
        """``V_theta(x^{1..i}) = E_{X^{i+1..d} ~ theta}[F(X) | X^{1..i} = x^{1..i}]`` (TRES, after eq. 9),
        ``i = 0..d``: table of shape ``(*batch, K^i)``; ``V_0 = J(theta)``, ``V_d = F``."""
        i = self._check_index(i, 0, "i")
        return self._values(self.probs(theta, param=param))[i]

    def values(self, theta, *, param: str = "logits") -> tuple[np.ndarray, ...]:
        """All ``(V_0, ..., V_d)`` at once (see :meth:`value`)."""
        return tuple(self._values(self.probs(theta, param=param)))

    def advantage(self, theta, j: int, *, param: str = "logits") -> np.ndarray:
        """``A_theta(x^{1..j}) = V_theta(x^{1..j}) - V_theta(x^{1..j-1})`` for ``j = 1..d`` (TRES, after eq. 9;
        the paper's ``A_theta(x^{1..i+1})`` with ``j = i+1``), table of shape ``(*batch, K^j)``."""
        j = self._check_index(j, 1, "j")
        V = self._values(self.probs(theta, param=param))
        return V[j] - V[j - 1][..., None]

    def _check_index(self, i, lo, name):
        return check_int(i, name, lo, maximum=self.d)

    def decomposition_terms(self, theta, thetat, *, param: str = "logits") -> np.ndarray:
        """Terms of TRES eq. 12, shape ``(*batch, d)``:
        ``T_i = sum_{x^{1..i+1}} p_thetat(x^{1..i+1}) A_theta(x^{1..i+1})``, ``i = 0..d-1``, so that
        ``J(thetat) = J(theta) + sum_i T_i`` exactly (eq. 11-12; claim ``tres.decomposition``)."""
        p, pt = self._pair(theta, thetat, param)
        V = self._values(p)
        E = [_contract(V[i], i, {a: pt[..., a, :] for a in range(i)}) for i in range(self.d + 1)]
        return np.stack([E[i + 1] - E[i] for i in range(self.d)], axis=-1)

    def surrogate_terms(self, theta, thetat, *, param: str = "logits") -> np.ndarray:
        """Terms of TRES eq. 13, shape ``(*batch, d)``:
        ``S_i = sum_{x^{1..i}} p_theta(x^{1..i}) sum_{x^{i+1}} p_thetat(x^{i+1}) A_theta(x^{1..i+1})``:
        the first ``i`` coordinates are drawn from ``theta`` (OLD), coordinate ``i+1`` from ``thetat``
        (NEW), and the rest are integrated under ``theta`` inside ``V_theta``."""
        p, pt = self._pair(theta, thetat, param)
        V = self._values(p)
        out = []
        for i in range(self.d):
            rows = {a: p[..., a, :] for a in range(i)}
            new = _contract(V[i + 1], i + 1, {**rows, i: pt[..., i, :]})
            old = _contract(V[i], i, rows)
            out.append(new - old)
        return np.stack(out, axis=-1)

    def surrogate(self, theta, thetat, *, param: str = "logits") -> np.ndarray:
        """``L_theta(thetat) = J(theta) + sum_{i=0}^{d-1} S_i`` (TRES eq. 13), shape ``(*batch,)``.
        ``L_theta(theta) = J(theta)`` and ``grad L = grad J`` at ``thetat = theta`` (Lemma 1, eq. 14/26)."""
        return self.J(theta, param=param) + self.surrogate_terms(theta, thetat, param=param).sum(axis=-1)

    # ---------------------------------------------------------------- divergences and constants
    def tv(self, theta, thetat, *, param: str = "logits") -> np.ndarray:
        """Per-dimension ``D_TV(p_theta^i, p_thetat^i) = 1/2 sum_k |p^i_k - pt^i_k|`` (TRES eq. 15), ``(*batch, d)``."""
        p, pt = self._pair(theta, thetat, param)
        return 0.5 * np.abs(p - pt).sum(axis=-1)

    def kl(self, theta, thetat, *, param: str = "logits", reverse: bool = False) -> np.ndarray:
        """Per-dimension ``KL(p_theta^i || p_thetat^i) = sum_k p log(p / pt)`` (TRES eq. 17), ``(*batch, d)``;
        ``reverse=True`` gives ``KL(p_thetat^i || p_theta^i)``. ``0 log 0 = 0``; ``+inf`` where the
        first distribution puts mass where the second has none."""
        p, pt = self._pair(theta, thetat, param)
        if reverse:
            p, pt = pt, p
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0.0, p * (np.log(p) - np.log(pt)), 0.0)
        return terms.sum(axis=-1)

    def alpha(self, theta, thetat, *, param: str = "logits") -> np.ndarray:
        """``alpha = D_TV^max(theta, thetat) = max_i D_TV(p_theta^i, p_thetat^i)`` (TRES eq. 15, Thm. 1), ``(*batch,)``."""
        return self.tv(theta, thetat, param=param).max(axis=-1)

    def eps(self, theta, *, param: str = "logits") -> np.ndarray:
        """``eps = max_{1 <= j <= d} max_{x^{1..j}} |A_theta(x^{1..j})|`` (TRES Thm. 1, eq. 16), ``(*batch,)``.
        The max runs over the whole product support (including zero-probability points, which
        can only make ``eps`` larger, so bounds using it stay valid)."""
        p = self.probs(theta, param=param)
        V = self._values(p)
        m = [np.abs(V[j] - V[j - 1][..., None]).reshape(*V[j].shape[: V[j].ndim - j], -1).max(axis=-1)
             for j in range(1, self.d + 1)]
        return np.max(np.stack(np.broadcast_arrays(*m), axis=-1), axis=-1)

    # ---------------------------------------------------------------- exact gradients (w.r.t. logits)
    def grad_J(self, theta, *, param: str = "logits") -> np.ndarray:
        """``grad_theta J(theta)`` w.r.t. the logits, shape ``(*batch, d, K)`` (TRES eq. 28 at any point):
        ``dJ/dp^i_k = E_{X^{-i} ~ theta}[F(X) | X^i = k]``, then the softmax chain rule."""
        p = self.probs(theta, param=param)
        d = self.d
        g_p = np.stack(
            np.broadcast_arrays(*[_contract(self.F, d, {a: p[..., a, :] for a in range(d) if a != i})
                                  for i in range(d)]),
            axis=-2,
        )
        return _grad_logits(p, g_p)

    def grad_surrogate(self, theta, thetat, *, param: str = "logits") -> np.ndarray:
        """``grad_thetat L_theta(thetat)`` w.r.t. the logits ``thetat``, shape ``(*batch, d, K)`` (TRES eq. 29):
        ``dL/dpt^{i+1}_k = sum_{x^{1..i}} p_theta(x^{1..i}) A_theta(x^{1..i}, k)``, then the softmax chain rule
        at ``pt`` (the ``- V_theta(x^{1..i})`` part of ``A`` is removed by the chain rule)."""
        p, pt = self._pair(theta, thetat, param)
        V = self._values(p)
        g = [_contract(V[i + 1], i + 1, {a: p[..., a, :] for a in range(i)}) for i in range(self.d)]
        g_p = np.stack(np.broadcast_arrays(*g), axis=-2)
        return _grad_logits(pt, g_p)

    # ---------------------------------------------------------------- sample-based surrogates
    def sample(self, theta, n: int, rng: np.random.Generator, *, param: str = "logits") -> np.ndarray:
        """``n`` i.i.d. draws ``X ~ p_theta`` as support INDICES, shape ``(*batch, n, d)`` (int64)."""
        check_int(n, "n", 1)
        if not isinstance(rng, np.random.Generator):
            raise ValidationError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        p = self.probs(theta, param=param)
        cdf = np.cumsum(p, axis=-1)
        cdf = cdf / cdf[..., -1:]
        u = rng.random((*p.shape[:-2], int(n), self.d))
        return np.argmax(u[..., None] < cdf[..., None, :, :], axis=-1).astype(np.int64)

    def points(self, samples) -> np.ndarray:
        """Support values ``z[i, k_i]`` of index samples ``(..., d)`` -> ``(..., d)``."""
        if self.z is None:
            raise ValidationError("z: this CategoricalProduct has no support points (pass z=...)")
        k = self._check_samples(samples)
        return self.z[np.arange(self.d), k]

    def _check_samples(self, samples) -> np.ndarray:
        s = np.asarray(samples)
        if s.dtype.kind not in "iu":
            raise ValidationError(f"samples: expected integer support indices, got dtype {s.dtype}")
        if s.ndim < 2 or s.shape[-1] != self.d:
            raise ValidationError(f"samples: expected shape (*batch, N, {self.d}), got {s.shape}")
        if s.shape[-2] == 0:
            raise ValidationError("samples: need at least one sample (N >= 1)")
        if np.any(s < 0) or np.any(s >= self.K):
            raise ValidationError(f"samples: indices must lie in [0, {self.K})")
        return s.astype(np.int64)

    def _sample_weights(self, p, s, baseline, weights):
        """``W[..., n, i-1] = V_theta(x_n^{1..i})`` (baseline 'value') or ``A_theta(x_n^{1..i})``, ``i = 1..d``."""
        if weights is not None:
            w = as_float_array(weights, "weights")
            if w.shape[-2:] != s.shape[-2:]:
                raise ValidationError(f"weights: expected shape (*batch, {s.shape[-2]}, {self.d}), got {w.shape}")
            return w
        V = self._values(p)
        cols = []
        for i in range(1, self.d + 1):
            T = V[i] if baseline == "value" else V[i] - V[i - 1][..., None]
            flat = T.reshape(*T.shape[: T.ndim - i], -1)
            idx = np.ravel_multi_index(tuple(np.moveaxis(s[..., :i], -1, 0)), (self.K,) * i)
            b = np.broadcast_shapes(flat.shape[:-1], idx.shape[:-1])
            cols.append(np.take_along_axis(np.broadcast_to(flat, (*b, flat.shape[-1])),
                                           np.broadcast_to(idx, (*b, idx.shape[-1])), axis=-1))
        return np.stack(cols, axis=-1)

    def _ratio(self, p, pt, s):
        """``r_i(x_n) = pt^i[k_{n,i}] / p^i[k_{n,i}]``, shape ``(*batch, N, d)``."""
        idx = s[..., None]

        def gather(q):
            q = q[..., None, :, :]
            nd = max(q.ndim, idx.ndim)
            return np.take_along_axis(q.reshape((1,) * (nd - q.ndim) + q.shape),
                                      idx.reshape((1,) * (nd - idx.ndim) + idx.shape), axis=-1)[..., 0]

        pk = gather(p)
        if np.any(pk <= 0.0):
            raise ValidationError("samples: a sample has zero probability under theta (importance ratio undefined)")
        return gather(pt) / pk

    def _is_setup(self, theta, thetat, samples, baseline, weights, param):
        check_baseline(baseline)
        p, pt = self._pair(theta, thetat, param)
        s = self._check_samples(samples)
        r = self._ratio(p, pt, s)
        w = self._sample_weights(p, s, baseline, weights)
        return pt, s, r, w

    def surrogate_is(self, theta, thetat, samples, *, baseline: str = "value", weights=None,
                     param: str = "logits") -> np.ndarray:
        """Importance-sampled surrogate on a sample set ``x_1..x_N ~ theta`` (TRES eq. 23-24), ``(*batch,)``:

            L_IS(thetat) = 1/N sum_n sum_{i=1}^d r_i(x_n) W_i(x_n),   r_i = p_thetat(x^i) / p_theta(x^i)

        ``W_i = V_theta(x^{1..i})`` (``baseline="value"``, eq. 24/25) or ``A_theta(x^{1..i})``
        (``"advantage"``, eq. 23), exact; or given ``weights (*batch, N, d)`` (e.g. estimates).
        ``samples``: support indices ``(*batch, N, d)``."""
        _, _, r, w = self._is_setup(theta, thetat, samples, baseline, weights, param)
        return is_terms(r, w).sum(axis=-1).mean(axis=-1)

    def surrogate_clip(self, theta, thetat, samples, lambda_, *, baseline: str = "value", weights=None,
                       param: str = "logits") -> np.ndarray:
        """Clipped surrogate (TRES eq. 25), ``(*batch,)``:
        ``L_CLIP = 1/N sum_n sum_i min(r_i W_i, clip(r_i, 1 - lambda_, 1 + lambda_) W_i)``
        with the same ``W_i`` as :meth:`surrogate_is`. ``L_CLIP <= L_IS`` termwise; equal at ``thetat = theta``."""
        lam = check_lambda(lambda_)
        _, _, r, w = self._is_setup(theta, thetat, samples, baseline, weights, param)
        return clip_terms(r, w, lam).sum(axis=-1).mean(axis=-1)

    def _grad_from_coeff(self, pt, s, c):
        """``1/N sum_n c_{n,i} d r_i / d thetat^i``  with ``d r_i/d thetat^i_k = r_i (1[k = k_i] - pt^i_k)``
        (``c`` already contains the factor ``r_i``)."""
        onehot = s[..., None] == np.arange(self.K)
        return (c[..., None] * onehot).mean(axis=-3) - c.mean(axis=-2)[..., None] * pt

    def grad_surrogate_is(self, theta, thetat, samples, *, baseline: str = "value", weights=None,
                          param: str = "logits") -> np.ndarray:
        """Exact gradient of :meth:`surrogate_is` w.r.t. the logits ``thetat``, shape ``(*batch, d, K)``."""
        pt, s, r, w = self._is_setup(theta, thetat, samples, baseline, weights, param)
        return self._grad_from_coeff(pt, s, r * w)

    def grad_surrogate_clip(self, theta, thetat, samples, lambda_, *, baseline: str = "value", weights=None,
                            param: str = "logits") -> np.ndarray:
        """Gradient of :meth:`surrogate_clip` w.r.t. the logits ``thetat``, shape ``(*batch, d, K)``.
        Per term: ``W_i grad r_i`` where the unclipped branch attains the min (ties, and
        ``r_i = 1 +- lambda_``, count as unclipped), else 0 (the clipped branch is constant)."""
        lam = check_lambda(lambda_)
        pt, s, r, w = self._is_setup(theta, thetat, samples, baseline, weights, param)
        mask = clip_active_unclipped(r, w, lam)
        return self._grad_from_coeff(pt, s, np.where(mask, r * w, 0.0))

    def surrogate_is_exact(self, theta, thetat, *, baseline: str = "value", param: str = "logits") -> np.ndarray:
        """Expectation over ``X ~ theta`` of :meth:`surrogate_is` (exact, by enumeration), ``(*batch,)``:
        ``sum_{i=1}^d E_{X ~ theta}[r_i(X) W_i(X^{1..i})]``. With ``"advantage"`` it equals
        ``L_theta(thetat) - J(theta)`` (eq. 23 = eq. 21); with ``"value"`` it differs from that by the
        constant ``d J(theta)`` (claim ``tres.value-baseline``), provided ``p_theta > 0`` wherever
        ``p_thetat > 0`` (otherwise importance sampling misses that mass)."""
        check_baseline(baseline)
        p, pt = self._pair(theta, thetat, param)
        V = self._values(p)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(p > 0.0, pt / p, 0.0)
        total = 0.0
        for i in range(1, self.d + 1):
            W = V[i] if baseline == "value" else V[i] - V[i - 1][..., None]
            rows = {a: p[..., a, :] for a in range(i - 1)}
            rows[i - 1] = p[..., i - 1, :] * r[..., i - 1, :]
            total = total + _contract(W, i, rows)
        return total


def enumerate_support(d: int, K: int) -> np.ndarray:
    """All ``K^d`` index tuples in row-major (table) order, shape ``(K^d, d)``."""
    return np.array(list(itertools.product(range(K), repeat=d)), dtype=np.int64).reshape(-1, d)
