"""Exact oracle: discounted LQR with linear Gaussian policies (STRO sec. 3.2.2, Lemma 3.6-3.7, Thm. 3.8).

Model (all expectations exact, via discrete Lyapunov equations)::

    s_0 ~ N(mu0, Sigma0),   a_t ~ pi(.|s_t) = N(K s_t + b, Sigma),   Sigma = diag(exp(2 log_std))
    s_{t+1} = A s_t + B a_t + w_t,   w_t ~ N(0, W)       (W = 0 allowed)
    r(s, a) = -(s' Q s + a' R a)                          (a COST turned into a reward)
    eta(pi) = E[sum_t gamma^t r(s_t, a_t)]                (a return to MAXIMIZE; eta <= 0)

Shapes: state ``n``, action ``m``; ``K (m, n)``, ``b (m,)``, ``log_std (m,)``.

Method. With the augmented state ``x = [s; 1]`` the policy mean is ``Kx x``, ``Kx = [K, b]``, and
everything is a quadratic form in ``x``: ``V(s) = -x' P x - c``, ``Q(s, a) = -[x; a]' H [x; a] - q0``.
With ``Acl = Ax + Bx Kx`` (closed loop) and ``N = Bx Sigma Bx' + Wx`` (per-step noise covariance):

    P   = Qx + Kx' R Kx + gamma Acl' P Acl                         (Lyapunov, value)
    c   = (tr(R Sigma) + gamma tr(P N)) / (1 - gamma)
    M   = sum_t gamma^t E[x_t x_t'] = M0 + gamma Acl M Acl' + gamma/(1-gamma) N   (Lyapunov, visitation)
    eta = -tr(P M0) - c

``M`` is the second moment of the UNNORMALIZED discounted visitation ``rho_pi`` (mass
``1/(1-gamma)``, STRO eq. 2.3 / TRPO convention; ``M[:n, n]`` is ``sum_t gamma^t E[s_t]``);
the normalized one is ``(1-gamma) M``. Both Lyapunov equations are solved by
``scipy.linalg.solve_discrete_lyapunov`` on the ``sqrt(gamma)``-scaled closed loop; they have a
(PSD) solution iff the spectral radius of ``sqrt(gamma) (A + B K)`` is ``< 1`` ("stable in the
discounted sense"). Otherwise :func:`eta` returns ``-inf`` and the functions that need ``P`` or
``M`` of ``pi`` raise :class:`UnstableError`.

Policy parameters follow the layout of ``trustopt.policies.LinearGaussian``:
``theta = [K.ravel() (row-major), b, log_std]`` (:meth:`LQRPolicy.theta`,
:meth:`LQRPolicy.from_theta`), and gradients are returned in the same layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from trustopt._validation import ValidationError, as_float_array, check_gamma, check_int, readonly

#: Tolerance for symmetry and positive semi-definiteness checks: ``|M - M'| <= tol (1 + max|M|)``
#: and ``min eig(M) >= -tol (1 + max|M|)``.
PSD_TOLERANCE = 1e-10


__all__ = ["LQR", "LQRPolicy", "UnstableError", "Evaluation", "Visitation", "spectral_radius", "is_stable", "evaluate",
           "eta", "value", "q_value", "advantage", "visitation", "surrogate", "mean_kl", "grad_eta", "grad_surrogate",
           "hessian_surrogate_mean", "hessian_mean_kl_mean", "optimal_gain", "optimal_policy", "optimal_eta",
           "random_lqr", "random_policy"]

class UnstableError(ValidationError):
    """The closed loop ``sqrt(gamma) (A + B K)`` has spectral radius ``>= 1``: ``eta = -inf``."""


def _sym(M: np.ndarray, name: str, *, definite: bool = False) -> np.ndarray:
    scale = 1.0 + np.max(np.abs(M)) if M.size else 1.0
    if np.max(np.abs(M - M.T), initial=0.0) > PSD_TOLERANCE * scale:
        raise ValidationError(f"{name}: must be symmetric")
    M = 0.5 * (M + M.T)
    ev = np.linalg.eigvalsh(M)
    if definite and not ev.min() > PSD_TOLERANCE * scale:
        raise ValidationError(f"{name}: must be positive definite (smallest eigenvalue {ev.min():.3g})")
    if ev.min() < -PSD_TOLERANCE * scale:
        raise ValidationError(f"{name}: must be positive semi-definite (smallest eigenvalue {ev.min():.3g})")
    return M


def _square(M, name, n):
    M = as_float_array(M, name, ndim=2)
    if M.shape != (n, n):
        raise ValidationError(f"{name}: expected shape {(n, n)}, got {M.shape}")
    return M


@dataclass(frozen=True, init=False, eq=False)
class LQR:
    """A discounted linear-quadratic regulator (see the module docstring for the model).

    Args (keyword-only): ``A (n, n)``, ``B (n, m)``, ``Q (n, n)`` symmetric PSD, ``R (m, m)``
    symmetric positive definite, ``gamma`` in ``[0, 1)``, ``W (n, n)`` symmetric PSD (default 0),
    ``mu0 (n,)`` (default 0), ``Sigma0 (n, n)`` symmetric PSD (default the identity).
    All finite; symmetric matrices are stored symmetrized, read-only (tolerance :data:`PSD_TOLERANCE`).
    """

    A: np.ndarray
    B: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    W: np.ndarray
    mu0: np.ndarray
    Sigma0: np.ndarray
    gamma: float

    def __init__(self, *, A, B, Q, R, gamma, W=None, mu0=None, Sigma0=None):
        A = as_float_array(A, "A", ndim=2)
        n = A.shape[0]
        if A.shape != (n, n) or n < 1:
            raise ValidationError(f"A: expected a square (n, n) matrix with n >= 1, got shape {A.shape}")
        B = as_float_array(B, "B", ndim=2)
        if B.shape[0] != n or B.shape[1] < 1:
            raise ValidationError(f"B: expected shape ({n}, m) with m >= 1, got {B.shape}")
        m = B.shape[1]
        Q = _sym(_square(Q, "Q", n), "Q")
        R = _sym(_square(R, "R", m), "R", definite=True)
        W = np.zeros((n, n)) if W is None else _sym(_square(W, "W", n), "W")
        mu0 = np.zeros(n) if mu0 is None else as_float_array(mu0, "mu0", ndim=1)
        if mu0.shape != (n,):
            raise ValidationError(f"mu0: expected shape ({n},), got {mu0.shape}")
        Sigma0 = np.eye(n) if Sigma0 is None else _sym(_square(Sigma0, "Sigma0", n), "Sigma0")
        gamma = check_gamma(gamma)
        if not isinstance(gamma, float):
            raise ValidationError("gamma: must be a scalar")
        for name, v in dict(A=A, B=B, Q=Q, R=R, W=W, mu0=mu0, Sigma0=Sigma0).items():
            object.__setattr__(self, name, readonly(np.array(v, dtype=np.float64)))
        object.__setattr__(self, "gamma", gamma)

    @property
    def n(self) -> int:
        """State dimension."""
        return self.A.shape[0]

    @property
    def m(self) -> int:
        """Action dimension."""
        return self.B.shape[1]

    def __repr__(self) -> str:
        return f"LQR(n={self.n}, m={self.m}, gamma={self.gamma})"


@dataclass(frozen=True, init=False, eq=False)
class LQRPolicy:
    """Linear Gaussian policy ``pi(.|s) = N(K s + b, diag(exp(2 log_std)))`` (STRO Assumption 1).

    Args (keyword-only): ``K (m, n)``, ``log_std (m,)`` (or a scalar, broadcast), ``b (m,)``
    (default 0). Finite; stored read-only. Also used to hold gradients (same shapes)."""

    K: np.ndarray
    b: np.ndarray
    log_std: np.ndarray

    def __init__(self, *, K, log_std, b=None):
        K = as_float_array(K, "K", ndim=2)
        m = K.shape[0]
        ls = as_float_array(log_std, "log_std", ndim=(0, 1))
        if ls.ndim == 1 and ls.shape != (m,):
            raise ValidationError(f"log_std: expected shape ({m},), got {ls.shape}")
        b = np.zeros(m) if b is None else as_float_array(b, "b", ndim=1)
        if b.shape != (m,):
            raise ValidationError(f"b: expected shape ({m},), got {b.shape}")
        object.__setattr__(self, "K", readonly(K.copy()))
        object.__setattr__(self, "b", readonly(b.copy()))
        object.__setattr__(self, "log_std", readonly(np.broadcast_to(ls, (m,)).copy()))

    @property
    def std(self) -> np.ndarray:
        return np.exp(self.log_std)

    @property
    def Sigma(self) -> np.ndarray:
        """``diag(exp(2 log_std))``, ``(m, m)``."""
        return np.diag(np.exp(2.0 * self.log_std))

    @property
    def theta(self) -> np.ndarray:
        """Flat parameters ``[K.ravel(), b, log_std]`` (layout of ``trustopt.policies.LinearGaussian``)."""
        return np.concatenate([self.K.ravel(), self.b, self.log_std])

    @classmethod
    def from_theta(cls, theta, *, obs_dim: int, act_dim: int) -> "LQRPolicy":
        """Inverse of :attr:`theta`."""
        theta = as_float_array(theta, "theta", ndim=1)
        n, m = check_int(obs_dim, "obs_dim", 1), check_int(act_dim, "act_dim", 1)
        if theta.shape != (m * (n + 2),):
            raise ValidationError(f"theta: expected length {m * (n + 2)} = act_dim * (obs_dim + 2), got {theta.shape}")
        return cls(K=theta[: m * n].reshape(m, n), b=theta[m * n: m * n + m], log_std=theta[m * n + m:])

    def mean(self, s) -> np.ndarray:
        """``K s + b`` for ``s (..., n)``."""
        return np.asarray(s, dtype=np.float64) @ self.K.T + self.b


def _check_lqr(lqr) -> LQR:
    if not isinstance(lqr, LQR):
        raise ValidationError(f"lqr: expected an LQR (trustopt.lqr.LQR or random_lqr), got {type(lqr).__name__}")
    return lqr


def _check_policy(lqr: LQR, pi, name: str = "pi") -> LQRPolicy:
    _check_lqr(lqr)
    if not isinstance(pi, LQRPolicy):
        raise ValidationError(f"{name}: expected a LQRPolicy, got {type(pi).__name__}")
    if pi.K.shape != (lqr.m, lqr.n):
        raise ValidationError(f"{name}: K must have shape {(lqr.m, lqr.n)}, got {pi.K.shape}")
    return pi


# ----------------------------------------------------------------------------- augmented model
def _aug(lqr: LQR):
    n, m = lqr.n, lqr.m
    Ax = np.zeros((n + 1, n + 1))
    Ax[:n, :n] = lqr.A
    Ax[n, n] = 1.0
    Bx = np.zeros((n + 1, m))
    Bx[:n] = lqr.B
    Qx = np.zeros((n + 1, n + 1))
    Qx[:n, :n] = lqr.Q
    Wx = np.zeros((n + 1, n + 1))
    Wx[:n, :n] = lqr.W
    M0 = np.zeros((n + 1, n + 1))
    M0[:n, :n] = lqr.Sigma0 + np.outer(lqr.mu0, lqr.mu0)
    M0[:n, n] = M0[n, :n] = lqr.mu0
    M0[n, n] = 1.0
    return Ax, Bx, Qx, Wx, M0


def _Kx(pi: LQRPolicy) -> np.ndarray:
    return np.concatenate([pi.K, pi.b[:, None]], axis=1)


def spectral_radius(lqr: LQR, pi: LQRPolicy) -> float:
    """Spectral radius of ``sqrt(gamma) (A + B K)``; ``< 1`` iff ``pi`` is stable in the discounted sense."""
    pi = _check_policy(lqr, pi)
    return float(np.max(np.abs(np.linalg.eigvals(np.sqrt(lqr.gamma) * (lqr.A + lqr.B @ pi.K)))))


def is_stable(lqr: LQR, pi: LQRPolicy) -> bool:
    return spectral_radius(lqr, pi) < 1.0


@dataclass(frozen=True)
class Evaluation:
    """Exact quantities of a linear Gaussian policy ``pi`` on an :class:`LQR` (arrays read-only).

    Attributes (``x = [s; 1]``, ``n+1`` augmented coordinates):
        eta: float, expected discounted return (STRO eq. 2.1).
        P: ``(n+1, n+1)`` and c: float, with ``V(s) = -x' P x - c``.
        H: ``(n+1+m, n+1+m)`` and q0: float, with ``Q(s, a) = -[x; a]' H [x; a] - q0``.
        M: ``(n+1, n+1)`` ``sum_t gamma^t E[x_t x_t']`` (unnormalized visitation: ``M[n, n] = 1/(1-gamma)``).
        radius: spectral radius of ``sqrt(gamma)(A + B K)`` (``< 1``).
    """

    eta: float
    P: np.ndarray
    c: float
    H: np.ndarray
    q0: float
    M: np.ndarray
    radius: float


def evaluate(lqr: LQR, pi: LQRPolicy) -> Evaluation:
    """Exact evaluation of ``pi`` (module docstring: Lyapunov equations for ``P`` and ``M``).
    Raises :class:`UnstableError` if ``spectral_radius >= 1``."""
    pi = _check_policy(lqr, pi)
    rad = spectral_radius(lqr, pi)
    if not rad < 1.0:
        raise UnstableError(f"pi: closed loop not stable in the discounted sense: "
                            f"spectral radius of sqrt(gamma)(A + B K) is {rad:.6g} >= 1")
    g = lqr.gamma
    Ax, Bx, Qx, Wx, M0 = _aug(lqr)
    Kx, Sig = _Kx(pi), pi.Sigma
    Acl = Ax + Bx @ Kx
    N = Bx @ Sig @ Bx.T + Wx
    sg = np.sqrt(g)
    P = linalg.solve_discrete_lyapunov(sg * Acl.T, Qx + Kx.T @ lqr.R @ Kx)
    P = 0.5 * (P + P.T)
    M = linalg.solve_discrete_lyapunov(sg * Acl, M0 + g / (1.0 - g) * N)
    M = 0.5 * (M + M.T)
    c = (np.trace(lqr.R @ Sig) + g * np.trace(P @ N)) / (1.0 - g)
    eta = -np.trace(P @ M0) - c
    n1 = lqr.n + 1
    H = np.zeros((n1 + lqr.m, n1 + lqr.m))
    H[:n1, :n1] = Qx + g * Ax.T @ P @ Ax
    H[:n1, n1:] = g * Ax.T @ P @ Bx
    H[n1:, :n1] = H[:n1, n1:].T
    H[n1:, n1:] = lqr.R + g * Bx.T @ P @ Bx
    q0 = g * (np.trace(P @ Wx) + c)
    return Evaluation(eta=float(eta), P=readonly(P), c=float(c), H=readonly(H), q0=float(q0), M=readonly(M),
                      radius=rad)


def eta(lqr: LQR, pi: LQRPolicy) -> float:
    """``eta(pi) = E[sum_t gamma^t r(s_t, a_t)] = -tr(P M0) - c`` (STRO eq. 2.1); ``-inf`` if not stable
    (the convention for spectral radius ``>= 1``; the acceptance tests of the library then reject)."""
    pi = _check_policy(lqr, pi)
    if not spectral_radius(lqr, pi) < 1.0:
        return -np.inf
    return evaluate(lqr, pi).eta


def _xa(lqr, s, a=None):
    s = as_float_array(s, "s")
    if s.ndim < 1 or s.shape[-1] != lqr.n:
        raise ValidationError(f"s: expected shape (..., {lqr.n}), got {s.shape}")
    x = np.concatenate([s, np.ones(s.shape[:-1] + (1,))], axis=-1)
    if a is None:
        return x
    a = as_float_array(a, "a")
    if a.ndim < 1 or a.shape[-1] != lqr.m:
        raise ValidationError(f"a: expected shape (..., {lqr.m}), got {a.shape}")
    b = np.broadcast_shapes(x.shape[:-1], a.shape[:-1])
    return np.concatenate([np.broadcast_to(x, b + x.shape[-1:]), np.broadcast_to(a, b + a.shape[-1:])], axis=-1)


def value(lqr: LQR, pi: LQRPolicy, s, *, ev: Evaluation | None = None) -> np.ndarray:
    """``V_pi(s) = -x' P x - c``, ``x = [s; 1]``; ``s (..., n)`` -> ``(...)``."""
    ev = evaluate(lqr, pi) if ev is None else ev
    x = _xa(lqr, s)
    return -np.einsum("...i,ij,...j->...", x, ev.P, x) - ev.c


def q_value(lqr: LQR, pi: LQRPolicy, s, a, *, ev: Evaluation | None = None) -> np.ndarray:
    """``Q_pi(s, a) = r(s, a) + gamma E[V_pi(A s + B a + w)] = -[x; a]' H [x; a] - q0``; ``(...)``."""
    ev = evaluate(lqr, pi) if ev is None else ev
    y = _xa(lqr, s, a)
    return -np.einsum("...i,ij,...j->...", y, ev.H, y) - ev.q0


def advantage(lqr: LQR, pi: LQRPolicy, s, a, *, ev: Evaluation | None = None) -> np.ndarray:
    """``A_pi(s, a) = Q_pi(s, a) - V_pi(s)``, ``(...)``."""
    ev = evaluate(lqr, pi) if ev is None else ev
    return q_value(lqr, pi, s, a, ev=ev) - value(lqr, pi, s, ev=ev)


@dataclass(frozen=True)
class Visitation:
    """Moments of the UNNORMALIZED discounted state visitation ``rho_pi(s) = sum_t gamma^t p(s_t = s)``.

    mass = ``1/(1-gamma)``; first = ``sum_t gamma^t E[s_t]`` ``(n,)``; second = ``sum_t gamma^t E[s_t s_t']``
    ``(n, n)``. The normalized visitation ``dbar = (1-gamma) rho`` has moments ``(1-gamma)`` times these."""

    mass: float
    first: np.ndarray
    second: np.ndarray


def visitation(lqr: LQR, pi: LQRPolicy, *, ev: Evaluation | None = None) -> Visitation:
    """Moments of ``rho_pi`` (unnormalized; see :class:`Visitation`)."""
    ev = evaluate(lqr, pi) if ev is None else ev
    n = lqr.n
    return Visitation(mass=float(ev.M[n, n]), first=readonly(ev.M[:n, n].copy()),
                      second=readonly(ev.M[:n, :n].copy()))


def surrogate(lqr: LQR, pi: LQRPolicy, pit: LQRPolicy, *, ev: Evaluation | None = None) -> float:
    """``L_pi(pit) = eta(pi) + E_{s ~ rho_pi, a ~ pit(.|s)}[A_pi(s, a)]`` (STRO eq. 2.4; unnormalized ``rho_pi``).

    Exact: with ``Gt = [I; Kt_x]``, ``E_{a ~ pit}[A_pi(s, a)] = -x'(Gt' H Gt - P) x - tr(H_aa (Sigma_t - Sigma))``,
    so ``L = eta - tr((Gt' H Gt - P) M) - tr(H_aa (Sigma_t - Sigma)) / (1 - gamma)``. ``pit`` need not be stable."""
    pi, pit = _check_policy(lqr, pi), _check_policy(lqr, pit, "pit")
    ev = evaluate(lqr, pi) if ev is None else ev
    n1 = lqr.n + 1
    Gt = np.concatenate([np.eye(n1), _Kx(pit)], axis=0)
    Haa = ev.H[n1:, n1:]
    D = Gt.T @ ev.H @ Gt - ev.P
    return float(ev.eta - np.sum(D * ev.M) - np.trace(Haa @ (pit.Sigma - pi.Sigma)) / (1.0 - lqr.gamma))


def mean_kl(lqr: LQR, pi: LQRPolicy, pit: LQRPolicy, *, visitation: str = "unnormalized",
            reverse: bool = False, ev: Evaluation | None = None) -> float:
    """``E_{s ~ rho_pi}[KL(pi(.|s) || pit(.|s))]`` exactly (STRO eq. 3.11; the constraint of TRPO eq. 12).

    Per state (diagonal Gaussians): ``sum_j [log(sigt_j/sig_j) + sig_j^2 / (2 sigt_j^2) - 1/2]
    + 1/2 (dmu' Sigma_t^{-1} dmu)``, ``dmu = (Kt - K) s + (bt - b)``; its expectation uses ``M``.
    ``visitation="unnormalized"`` weights by ``rho_pi`` (mass ``1/(1-gamma)``, STRO's convention),
    ``"normalized"`` by ``dbar_pi = (1-gamma) rho_pi``. ``reverse=True``: ``KL(pit(.|s) || pi(.|s))``
    (still under ``rho_pi``)."""
    if visitation not in ("unnormalized", "normalized"):
        raise ValidationError(f"visitation: must be 'unnormalized' or 'normalized', got {visitation!r}")
    pi, pit = _check_policy(lqr, pi), _check_policy(lqr, pit, "pit")
    ev = evaluate(lqr, pi) if ev is None else ev
    p, q = (pit, pi) if reverse else (pi, pit)
    var_p, var_q = np.exp(2 * p.log_std), np.exp(2 * q.log_std)
    const = np.sum(q.log_std - p.log_std + var_p / (2 * var_q) - 0.5)
    dK = _Kx(pit) - _Kx(pi)
    quad = 0.5 * np.sum((dK @ ev.M @ dK.T) * np.diag(1.0 / var_q))
    total = const / (1.0 - lqr.gamma) + quad
    return float(total * (1.0 - lqr.gamma) if visitation == "normalized" else total)


# ----------------------------------------------------------------------------- gradients
def _grad(lqr, ev, pol_for_K, pol_for_std):
    n1 = lqr.n + 1
    Haa, Hax = ev.H[n1:, n1:], ev.H[n1:, :n1]
    gKx = -2.0 * (Haa @ _Kx(pol_for_K) + Hax) @ ev.M
    gls = -2.0 * np.diag(Haa) * np.exp(2 * pol_for_std.log_std) / (1.0 - lqr.gamma)
    return LQRPolicy(K=gKx[:, :-1], b=gKx[:, -1], log_std=gls)


def grad_eta(lqr: LQR, pi: LQRPolicy, *, ev: Evaluation | None = None) -> LQRPolicy:
    """Exact ``grad eta`` w.r.t. ``(K, b, log_std)``, returned as a :class:`LQRPolicy` of gradients
    (``.theta`` gives the flat layout):

        d eta / d[K, b]    = -2 (H_aa [K, b] + H_ax) M          (H_ax = gamma Bx' P Ax)
        d eta / d log_std  = -2 diag(H_aa) exp(2 log_std) / (1 - gamma)

    (policy gradient of STRO eq. 2.6 in closed form; checked against finite differences)."""
    pi = _check_policy(lqr, pi)
    ev = evaluate(lqr, pi) if ev is None else ev
    return _grad(lqr, ev, pi, pi)


def grad_surrogate(lqr: LQR, pi: LQRPolicy, pit: LQRPolicy, *, ev: Evaluation | None = None) -> LQRPolicy:
    """Exact ``grad_pit L_pi(pit)`` w.r.t. ``pit``'s ``(K, b, log_std)``: the formulas of :func:`grad_eta` with
    ``pit``'s parameters and ``pi``'s ``H``, ``M``. Equals ``grad eta(pi)`` at ``pit = pi`` (STRO eq. 2.7)."""
    pi, pit = _check_policy(lqr, pi), _check_policy(lqr, pit, "pit")
    ev = evaluate(lqr, pi) if ev is None else ev
    return _grad(lqr, ev, pit, pit)


def _mean_perm(m: int, n: int) -> np.ndarray:
    """Positions of the row-major entries of ``[K, b] (m, n+1)`` in the flat layout ``[K.ravel(), b]``."""
    idx = np.empty((m, n + 1), dtype=np.int64)
    idx[:, :n] = np.arange(m * n).reshape(m, n)
    idx[:, n] = m * n + np.arange(m)
    return idx.ravel()


def _to_flat_mean(Hx: np.ndarray, m: int, n: int) -> np.ndarray:
    perm = _mean_perm(m, n)
    out = np.empty_like(Hx)
    out[np.ix_(perm, perm)] = Hx
    return out


def hessian_surrogate_mean(lqr: LQR, pi: LQRPolicy, *, ev: Evaluation | None = None) -> np.ndarray:
    """Hessian of ``L_pi(pit)`` w.r.t. ``pit``'s mean parameters ``[Kt.ravel(), bt]`` (constant: ``L`` is quadratic
    in them), shape ``(m(n+1), m(n+1))``: ``-2 kron(H_aa, M)`` reordered to the flat layout. Its norm is the
    ``h_k - 1`` of STRO Assumption 2 / Lemma 3.6 for this parameterization."""
    pi = _check_policy(lqr, pi)
    ev = evaluate(lqr, pi) if ev is None else ev
    n1 = lqr.n + 1
    return _to_flat_mean(-2.0 * np.kron(ev.H[n1:, n1:], ev.M), lqr.m, lqr.n)


def hessian_mean_kl_mean(lqr: LQR, pi: LQRPolicy, *, visitation: str = "unnormalized",
                         ev: Evaluation | None = None) -> np.ndarray:
    """Hessian of :func:`mean_kl` (same ``log_std``) w.r.t. ``[Kt.ravel(), bt]``: ``kron(Sigma^{-1}, M)``
    (times ``1-gamma`` for the normalized visitation), flat layout; the Fisher matrix of the mean parameters."""
    if visitation not in ("unnormalized", "normalized"):
        raise ValidationError(f"visitation: must be 'unnormalized' or 'normalized', got {visitation!r}")
    pi = _check_policy(lqr, pi)
    ev = evaluate(lqr, pi) if ev is None else ev
    F = np.kron(np.diag(np.exp(-2 * pi.log_std)), ev.M)
    if visitation == "normalized":
        F = F * (1.0 - lqr.gamma)
    return _to_flat_mean(F, lqr.m, lqr.n)


# ----------------------------------------------------------------------------- optimum
def optimal_gain(lqr: LQR) -> np.ndarray:
    """``K* = -gamma (R + gamma B' P* B)^{-1} B' P* A`` with ``P*`` the stabilizing solution of the discounted
    Riccati equation ``P = Q + gamma A'PA - gamma^2 A'PB (R + gamma B'PB)^{-1} B'PA``
    (``scipy.linalg.solve_discrete_are`` on ``(sqrt(gamma) A, sqrt(gamma) B)``). Shape ``(m, n)``.

    ``K*`` (with ``b* = 0``) maximizes ``eta`` for EVERY exploration covariance: ``eta = -tr(P_K Y) - const``
    with ``Y = M0 + gamma/(1-gamma) (B Sigma B' + W)`` and a constant independent of ``K``.
    Raises :class:`ValidationError` if the Riccati equation has no stabilizing solution."""
    g = _check_lqr(lqr).gamma
    sg = np.sqrt(g)
    try:
        P = linalg.solve_discrete_are(sg * lqr.A, sg * lqr.B, lqr.Q, lqr.R)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise ValidationError(f"lqr: the discounted Riccati equation has no stabilizing solution ({exc})") from None
    return -g * np.linalg.solve(lqr.R + g * lqr.B.T @ P @ lqr.B, lqr.B.T @ P @ lqr.A)


def optimal_policy(lqr: LQR, log_std) -> LQRPolicy:
    """``N(K* s, diag(exp(2 log_std)))``: the best linear Gaussian policy for that exploration."""
    return LQRPolicy(K=optimal_gain(lqr), log_std=log_std)  # a scalar or (m,); LQRPolicy checks the shape


def optimal_eta(lqr: LQR, log_std) -> float:
    """``eta* = eta(K*, b=0, log_std) = max_{K, b} eta`` for the given exploration ``log_std``."""
    return eta(lqr, optimal_policy(lqr, log_std))


# ----------------------------------------------------------------------------- random instances
def random_lqr(rng: np.random.Generator, n: int, m: int, *, gamma: float = 0.9, open_loop_radius=(0.5, 1.3),
               noise: bool = True, margin: float = 0.25) -> LQR:
    """A random instance: ``A`` with spectral radius drawn from ``open_loop_radius`` (possibly unstable),
    Gaussian ``B``, ``Q = L L'/n + 0.1 I``, ``R = L L'/m + 0.1 I``, ``W = 0.1 L L'/n`` (or 0 when
    ``noise=False``), ``mu0 ~ N(0, I)``, ``Sigma0 = L L'/n + 0.01 I``. Redrawn (at most 100 times)
    until the discounted Riccati equation has a stabilizing solution ``K*`` with spectral radius of
    ``sqrt(gamma)(A + B K*)`` at most ``1 - margin`` (so that :func:`random_policy` with a margin up to
    that value succeeds)."""
    if not isinstance(rng, np.random.Generator):
        raise ValidationError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    n, m = check_int(n, "n", 1), check_int(m, "m", 1)
    for _ in range(100):
        A = rng.normal(size=(n, n))
        A *= rng.uniform(*open_loop_radius) / np.max(np.abs(np.linalg.eigvals(A)))
        B = rng.normal(size=(n, m))

        def psd(k, scale, ridge):
            L = rng.normal(size=(k, k))
            return scale * L @ L.T / k + ridge * np.eye(k)

        lqr = LQR(A=A, B=B, Q=psd(n, 1.0, 0.1), R=psd(m, 1.0, 0.1), gamma=gamma,
                  W=psd(n, 0.1, 0.0) if noise else np.zeros((n, n)), mu0=rng.normal(size=n),
                  Sigma0=psd(n, 1.0, 0.01))
        try:
            K = optimal_gain(lqr)
        except ValidationError:
            continue
        if spectral_radius(lqr, LQRPolicy(K=K, log_std=np.zeros(m))) <= 1.0 - margin:
            return lqr
    raise ValidationError("rng: could not draw a stabilizable instance in 100 attempts")


def random_policy(rng: np.random.Generator, lqr: LQR, *, margin: float = 0.1, scale: float = 1.0,
                  log_std=(-1.0, 0.0), bias: bool = True, center=None) -> LQRPolicy:
    """A random stable policy: ``K = center + scale * N(0, 1)`` pulled toward ``center`` (halving the
    perturbation) until the spectral radius of ``sqrt(gamma)(A + B K)`` is ``<= 1 - margin``;
    ``b ~ N(0, scale^2)`` if ``bias``; ``log_std ~ U(log_std)``. ``center`` defaults to ``K*``
    (:func:`optimal_gain`; pass it to avoid recomputing the Riccati solution)."""
    if not isinstance(rng, np.random.Generator):
        raise ValidationError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    _check_lqr(lqr)
    Ks = optimal_gain(lqr) if center is None else as_float_array(center, "center", ndim=2)
    if Ks.shape != (lqr.m, lqr.n):
        raise ValidationError(f"center: expected shape {(lqr.m, lqr.n)}, got {Ks.shape}")
    D = scale * rng.normal(size=Ks.shape)
    b = scale * rng.normal(size=lqr.m) if bias else np.zeros(lqr.m)
    ls = rng.uniform(*log_std, size=lqr.m)
    for _ in range(60):
        pi = LQRPolicy(K=Ks + D, b=b, log_std=ls)
        if spectral_radius(lqr, pi) <= 1.0 - margin:
            return pi
        D = 0.5 * D
    pi = LQRPolicy(K=Ks, b=b, log_std=ls)
    if spectral_radius(lqr, pi) > 1.0 - margin:
        raise ValidationError(f"margin: the center gain itself has spectral radius {spectral_radius(lqr, pi):.4g} > 1 - margin")
    return pi
