"""Full-covariance Gaussian ``X ~ N(m, S)``: the exact expected fitness, its gradients, the natural
gradient of the Gaussian family, and the KL divergence (an oracle for Gaussian search distributions
such as CMA-ES and the library's ``trust-region-cma``).

Setting (information-geometric optimization, IGO): ``J(m, S) = E_{X ~ N(m, S)}[F(X)]`` is maximized
over the family of Gaussians ``N(m, S)``, ``m (d,)``, ``S (d, d)`` symmetric positive definite. The
Fisher metric of the family in the coordinates ``(m, S)`` is (e.g. Akimoto, Nagata, Ono & Kobayashi,
PPSN 2010, "Bidirectional relation between CMA evolution strategies and natural evolution
strategies", Sec. 3; Ollivier, Arnold, Auger & Hansen, JMLR 18, 2017, "Information-geometric
optimization algorithms", Sec. 4.2, Gaussian IGO)::

    ds^2 = dm' S^{-1} dm + 1/2 tr(S^{-1} dS S^{-1} dS)

and the natural gradient of ``J`` (``Fisher^{-1}`` times the Euclidean gradient) is the expectation of
``F`` times the natural gradient of ``ln p``, ``(x - m, (x - m)(x - m)' - S)``::

    natgrad_m J = E[F(X) (X - m)],   natgrad_S J = E[F(X) ((X - m)(X - m)' - S)]

(Akimoto et al. 2010, Sec. 3; Ollivier et al. 2017, Sec. 4.2: the IGO flow of Gaussians; CMA-ES's
rank-mu update of ``(m, C)`` is this expectation estimated with rank-based weights).

Exactness:
- ``F`` a :class:`~trustopt.smoothing.Quadratic` (``F(x) = 1/2 x'Hx + g'x + c``): closed forms,
  ``J = F(m) + 1/2 tr(H S)``, ``grad_m J = H m + g``, ``grad_S J = H / 2``,
  ``natgrad = (S (H m + g), S H S)`` (Isserlis: ``E[Y'HY YY'] = tr(HS) S + 2 S H S`` for ``Y ~ N(0, S)``).
- ``F`` any vectorized callable: tensor Gauss-Hermite quadrature with ``order`` nodes per axis in the
  eigenbasis of ``S`` (``X = m + U diag(sqrt(lambda)) z``, ``z`` on the probabilists' nodes of
  :func:`numpy.polynomial.hermite_e.hermegauss`). The rule integrates every polynomial of degree
  ``<= 2 order - 1`` in ``z`` exactly, so ``J`` is exact for polynomial ``F`` of degree ``<= 2 order - 1``
  and the natural gradient (which multiplies ``F`` by a polynomial of degree 2) for degree
  ``<= 2 order - 3``; e.g. every quadratic with ``order >= 3``. Cost ``order^d`` evaluations per
  distribution: small ``d`` only (``order^d <= 2e6``).

Nothing here imports :mod:`trustopt.components` (whose ``gaussian_kl`` and natural-gradient step this
module checks) nor the algorithms or estimators.

Shapes: ``m (*batch, d)``, ``S (*batch, d, d)``; results ``(*batch,)``, ``(*batch, d)`` or
``(*batch, d, d)``. The Fisher matrix uses the coordinates ``theta = (m, vech S)``, ``vech`` the
lower triangle ``S_ij, i >= j`` in the order of :func:`numpy.tril_indices` (:func:`vech`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from trustopt._validation import ValidationError, as_float_array, check_int
from trustopt.smoothing.gaussian import Quadratic, check_objective, check_order

__all__ = ["FullGaussian", "gaussian_kl", "relative_eigenvalues", "fisher_information", "vech", "unvech",
           "kl_linear_step"]

MAX_GRID = 2_000_000
#: Symmetry tolerance of a covariance: ``|S - S'| <= SYMMETRY_TOL (1 + max|S|)``.
SYMMETRY_TOL = 1e-10


# ----------------------------------------------------------------------------- validation


def _mean(m, name="m", d=None) -> np.ndarray:
    m = as_float_array(m, name)
    if m.ndim < 1 or (d is not None and m.shape[-1] != d):
        raise ValidationError(f"{name}: expected shape (*batch, {d if d is not None else 'd'}), got {m.shape}")
    return m


def _cov(S, name: str, d: int) -> np.ndarray:
    """A batch of symmetric positive definite ``(d, d)`` matrices, symmetrized."""
    S = as_float_array(S, name)
    if S.ndim < 2 or S.shape[-2:] != (d, d):
        raise ValidationError(f"{name}: expected shape (*batch, {d}, {d}), got {S.shape}")
    if np.any(np.abs(S - np.swapaxes(S, -1, -2)) > SYMMETRY_TOL * (1.0 + np.abs(S).max())):
        raise ValidationError(f"{name}: must be symmetric")
    S = 0.5 * (S + np.swapaxes(S, -1, -2))
    if np.any(np.linalg.eigvalsh(S)[..., 0] <= 0.0):
        raise ValidationError(f"{name}: must be positive definite")
    return S


def _cov_or_diag(S, name: str, m: np.ndarray) -> np.ndarray:
    """A covariance ``(*b, d, d)``, or a diagonal ``(*b, d)`` (same ndim as the mean) made one."""
    S = as_float_array(S, name)
    d = m.shape[-1]
    if S.ndim == m.ndim:
        if S.shape[-1] != d or np.any(S <= 0.0):
            raise ValidationError(f"{name}: a diagonal covariance must have shape (*batch, {d}) and be > 0")
        S = S[..., :, None] * np.eye(d)
    return _cov(S, name, d)


# ----------------------------------------------------------------------------- coordinates and metric


def vech(S) -> np.ndarray:
    """The lower triangle of ``S (*b, d, d)`` as ``(*b, d (d + 1) / 2)``, ``S_ij`` for ``i >= j`` in the
    order of :func:`numpy.tril_indices`."""
    S = np.asarray(S, dtype=np.float64)
    i, j = np.tril_indices(S.shape[-1])
    return S[..., i, j]


def unvech(v, d: int) -> np.ndarray:
    """The symmetric ``(*b, d, d)`` matrix whose lower triangle is ``v (*b, d (d + 1) / 2)``."""
    v = np.asarray(v, dtype=np.float64)
    i, j = np.tril_indices(d)
    out = np.zeros(v.shape[:-1] + (d, d))
    out[..., i, j] = v
    out[..., j, i] = v
    return out


def _sym_basis(d: int) -> np.ndarray:
    """``E (q, d, d)``: ``E_a = e_i e_j' + e_j e_i'`` for ``a = (i, j)``, ``i > j``; ``e_i e_i'`` for ``i = j``
    (``dS = sum_a dtheta_a E_a`` for ``dtheta = vech(dS)``)."""
    i, j = np.tril_indices(d)
    E = np.zeros((i.size, d, d))
    E[np.arange(i.size), i, j] = 1.0
    E[np.arange(i.size), j, i] = 1.0
    return E


def fisher_information(S) -> np.ndarray:
    """The Fisher information of ``N(m, S)`` in the coordinates ``theta = (m, vech S)``,
    ``(*b, p, p)`` with ``p = d + d (d + 1) / 2`` (it does not depend on ``m``)::

        I_mm = S^{-1},   I_m,vech = 0,   I_ab = 1/2 tr(S^{-1} E_a S^{-1} E_b)

    (``E_a`` the symmetric basis matrix of coordinate ``a`` of ``vech S``; Akimoto et al. 2010, Sec. 3;
    Ollivier et al. 2017, Sec. 4.2 -- the metric ``dm' S^{-1} dm + 1/2 tr(S^{-1} dS S^{-1} dS)``, which is
    also the Hessian of ``KL(N(m, S) || N(m', S'))`` at ``(m', S') = (m, S)``)."""
    S = as_float_array(S, "S")
    d = S.shape[-1]
    S = _cov(S, "S", d)
    Si = np.linalg.inv(S)
    E = _sym_basis(d)
    P = np.einsum("...ik,akl->...ail", Si, E)             # S^{-1} E_a
    Iss = 0.5 * np.einsum("...aij,...bji->...ab", P, P)   # 1/2 tr(S^{-1} E_a S^{-1} E_b)
    q = E.shape[0]
    out = np.zeros(S.shape[:-2] + (d + q, d + q))
    out[..., :d, :d] = Si
    out[..., d:, d:] = Iss
    return out


# ----------------------------------------------------------------------------- KL divergence


def _h(x: np.ndarray) -> np.ndarray:
    """``x - ln(1 + x) >= 0`` (``= lambda - 1 - ln lambda`` for ``x = lambda - 1``), by its series
    ``x^2/2 - x^3/3 + ...`` where ``|x| < 1e-3`` (no cancellation)."""
    small = np.abs(x) < 1e-3
    xs = np.where(small, x, 0.0)
    series = xs * xs * (0.5 - xs * (1 / 3 - xs * (0.25 - xs * (0.2 - xs / 6))))
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = x - np.log1p(np.where(small, 0.0, x))
    return np.where(small, series, direct)


def relative_eigenvalues(S0, S1) -> np.ndarray:
    """The eigenvalues ``lambda_1 <= ... <= lambda_d`` of ``S1^{-1} S0`` (those of the symmetric
    ``S1^{-1/2} S0 S1^{-1/2}``; ``S1^{-1/2}`` from the eigendecomposition of ``S1``), ``(*b, d)``."""
    S1 = as_float_array(S1, "S1")
    d = S1.shape[-1]
    S0, S1 = _cov(S0, "S0", d), _cov(S1, "S1", d)
    mu, V = np.linalg.eigh(S1)
    W = (V / np.sqrt(mu)[..., None, :]) @ np.swapaxes(V, -1, -2)
    return np.linalg.eigvalsh(W @ S0 @ W)


def gaussian_kl(m0, S0, m1, S1) -> np.ndarray:
    """``KL(N(m0, S0) || N(m1, S1))`` written through the relative eigenvalues
    ``lambda = eig(S1^{-1} S0)`` (:func:`relative_eigenvalues`)::

        KL = 1/2 [ (m1 - m0)' S1^{-1} (m1 - m0) + sum_i (lambda_i - 1 - ln lambda_i) ]

    which is the textbook ``1/2 [tr(S1^{-1} S0) + (m1 - m0)' S1^{-1} (m1 - m0) - d + ln det S1 - ln det S0]``
    (``tr = sum lambda``, ``ln det S0 - ln det S1 = sum ln lambda``) computed without its cancellation:
    every term is ``>= 0``, and ``KL = 0`` iff ``m0 = m1`` and ``S0 = S1``. ``m (*b, d)``; ``S (*b, d, d)``
    or diagonals ``(*b, d)``; returns ``(*b,)``."""
    m0, m1 = _mean(m0, "m0"), _mean(m1, "m1")
    S0, S1 = _cov_or_diag(S0, "S0", m0), _cov_or_diag(S1, "S1", m1)
    lam = relative_eigenvalues(S0, S1)
    mu, V = np.linalg.eigh(S1)
    z = np.einsum("...ji,...j->...i", V, m1 - m0) / np.sqrt(mu)
    return 0.5 * (np.sum(z * z, axis=-1) + np.sum(_h(lam - 1.0), axis=-1))


def kl_linear_step(m, S, g, delta):
    """The KL-constrained step of a linear model (the natural-gradient step, TRPO/NPG for search
    distributions)::

        max_{m'} g'(m' - m)   s.t.   KL(N(m, S) || N(m', S)) = 1/2 (m' - m)' S^{-1} (m' - m) <= delta

    is attained at ``m* = m + sqrt(2 delta / (g'Sg)) S g`` with value ``sqrt(2 delta g'Sg)`` (Cauchy-
    Schwarz in the metric ``S^{-1}``: ``g'v = (S^{1/2} g)'(S^{-1/2} v) <= sqrt(g'Sg) sqrt(2 delta)``, equality
    iff ``v`` is a nonnegative multiple of ``S g``; ``m* = m`` when ``g = 0``). Returns ``(m* (*b, d),
    value (*b,))``."""
    m = _mean(m)
    d = m.shape[-1]
    S, g = _cov(S, "S", d), _mean(g, "g", d)
    delta = as_float_array(delta, "delta")
    if np.any(delta <= 0):
        raise ValidationError("delta: must be > 0")
    v = np.einsum("...ij,...j->...i", S, g)
    q = np.einsum("...i,...i->...", g, v)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(q > 0, np.sqrt(2.0 * delta / np.where(q > 0, q, 1.0)), 0.0)
    return m + t[..., None] * v, np.sqrt(2.0 * delta * q)


# ----------------------------------------------------------------------------- the oracle


@dataclass(frozen=True, init=False, eq=False)
class FullGaussian:
    """Gaussian smoothing of ``F`` with ``X ~ N(m, S)``, ``S`` a full covariance (see the module
    docstring for the formulas and sources).

    Args (keyword-only):
        F: a :class:`~trustopt.smoothing.Quadratic` (closed forms) or a callable mapping points
           ``(M, d)`` to ``(M,)`` (Gauss-Hermite quadrature in the eigenbasis of ``S``).
        d: dimension; needed only if ``F`` is a callable.
        order: Gauss-Hermite nodes per axis (``>= 1``; default 5: exact for polynomial ``F`` of degree
           ``<= 9`` in ``J``, ``<= 7`` in the gradients), used only for callables.
    """

    F: object
    d: int
    order: int

    def __init__(self, *, F, d: int | None = None, order: int = 5):
        d = check_objective(F, d)
        if d is None:
            raise ValidationError("d: give the dimension d of a callable F")
        d = check_int(d, "d", 1)
        check_order(F, order, d)
        object.__setattr__(self, "F", F)
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "order", int(order))

    @property
    def exact(self) -> bool:
        """True when ``F`` is a :class:`~trustopt.smoothing.Quadratic` (closed forms, no quadrature)."""
        return isinstance(self.F, Quadratic)

    def _args(self, m, S):
        m = _mean(m, "m", self.d)
        return m, _cov(S, "S", self.d)

    def moments(self, m, S):
        """``(E[F(X)], E[F(X) Y], E[F(X) Y Y'])`` with ``Y = X - m``, shapes ``(*b,)``, ``(*b, d)``,
        ``(*b, d, d)``, by Gauss-Hermite quadrature in the eigenbasis of ``S`` (for any ``F``; exact for
        polynomials of degree ``<= 2 order - 3``)."""
        m, S = self._args(m, S)
        lam, U = np.linalg.eigh(S)
        A = U * np.sqrt(lam)[..., None, :]                      # S = A A'
        nodes, w = hermegauss(self.order)
        w = w / np.sqrt(2.0 * np.pi)
        z = np.stack(np.meshgrid(*([nodes] * self.d), indexing="ij"), axis=-1).reshape(-1, self.d)
        wt = np.prod(np.stack(np.meshgrid(*([w] * self.d), indexing="ij"), axis=-1).reshape(-1, self.d), axis=-1)
        Y = np.einsum("gj,...ij->...gi", z, A)                  # (*b, G, d)
        X = m[..., None, :] + Y
        flat = X.reshape(-1, self.d)
        vals = np.asarray(self.F(flat), dtype=np.float64)
        if vals.shape != (flat.shape[0],):
            raise ValidationError(f"F: must map points (M, {self.d}) to values (M,), got {vals.shape}")
        if not np.all(np.isfinite(vals)):
            raise ValidationError("F: returned a non-finite value")
        fw = vals.reshape(X.shape[:-1]) * wt
        return fw.sum(axis=-1), np.einsum("...g,...gi->...i", fw, Y), np.einsum("...g,...gi,...gj->...ij", fw, Y, Y)

    def J(self, m, S) -> np.ndarray:
        """``J(m, S) = E_{X ~ N(m, S)}[F(X)]``, ``(*b,)``. Quadratic: ``F(m) + 1/2 tr(H S)``."""
        m, S = self._args(m, S)
        if self.exact:
            return self.F(m) + 0.5 * np.einsum("ij,...ji->...", self.F.H, S)
        return self.moments(m, S)[0]

    def grad_J(self, m, S):
        """The Euclidean gradient ``(grad_m J (*b, d), grad_S J (*b, d, d))``, ``grad_S J`` the symmetric
        matrix ``G`` with ``dJ = <G, dS>`` for symmetric ``dS``. Quadratic: ``(H m + g, H / 2)``. Otherwise
        from the score function (the log-likelihood gradients of ``N(m, S)``)::

            grad_m J = S^{-1} E[F Y],   grad_S J = 1/2 S^{-1} (E[F Y Y'] - E[F] S) S^{-1}"""
        m, S = self._args(m, S)
        if self.exact:
            return self.F.gradient(m), np.broadcast_to(0.5 * self.F.H, S.shape).copy()
        f0, f1, f2 = self.moments(m, S)
        Si = np.linalg.inv(S)
        gS = 0.5 * Si @ (f2 - f0[..., None, None] * S) @ Si
        return np.einsum("...ij,...j->...i", Si, f1), 0.5 * (gS + np.swapaxes(gS, -1, -2))

    def natural_gradient(self, m, S):
        """The natural gradient of ``J`` in the expectation form (Akimoto et al. 2010, Sec. 3;
        Ollivier et al. 2017, Sec. 4.2)::

            (E[F(X) (X - m)],  E[F(X) ((X - m)(X - m)' - S)])        shapes (*b, d), (*b, d, d)

        Quadratic: ``(S (H m + g), S H S)`` (Stein's lemma and Isserlis' theorem); otherwise the
        quadrature of :meth:`moments`."""
        m, S = self._args(m, S)
        if self.exact:
            H = self.F.H
            return np.einsum("...ij,...j->...i", S, self.F.gradient(m)), S @ H @ S
        f0, f1, f2 = self.moments(m, S)
        return f1, f2 - f0[..., None, None] * S

    def natural_gradient_fisher(self, m, S):
        """The natural gradient computed as ``Fisher^{-1} grad J`` in the coordinates ``(m, vech S)``
        (:func:`fisher_information`; the Euclidean gradient in those coordinates is
        ``(grad_m J, vech(G (2 - I)))``: an off-diagonal ``S_ij, i > j`` moves ``S_ij`` and ``S_ji``), by a
        linear solve, returned as ``(*b, d)`` and the symmetric ``(*b, d, d)``. Equal to
        :meth:`natural_gradient` (``= (S grad_m J, 2 S G S)``), which does not solve with the Fisher
        matrix: two independent routes."""
        m, S = self._args(m, S)
        gm, G = self.grad_J(m, S)
        d = self.d
        rhs = np.concatenate([gm, vech(G * (2.0 - np.eye(d)))], axis=-1)
        x = np.linalg.solve(fisher_information(S), rhs[..., None])[..., 0]
        return x[..., :d], unvech(x[..., d:], d)
