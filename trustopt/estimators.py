"""Estimators on sampled trajectories: returns, GAE, rank shaping, baselines, normalizers.

Trajectory layout (Gymnasium semantics). Arrays are indexed by time on axis 0, shape
``(T,)`` for one stream of concatenated episodes or ``(T, N)`` for ``N`` parallel
streams (a vector environment); streams are independent.

* ``rewards[t]``: the reward received after taking ``a_t`` in ``s_t``. The slides write
  it ``r_{t+1}``; here it is ``rewards[t]`` (index of the state it follows from).
* ``terminated[t]``: ``s_{t+1}`` is terminal, so ``V(s_{t+1}) = 0``: nothing is
  bootstrapped.
* ``truncated[t]``: the episode was cut after step ``t`` (time limit) although
  ``s_{t+1}`` is not terminal: the tail is bootstrapped from ``V(s_{t+1})``.
* The last row ``t = T-1`` always ends the stream; if it is not terminated it is a
  truncation (a rollout cut by the batch size).
* ``values[t] = V(s_t)``; ``next_values[t] = V(s_{t+1})`` (the successor of step ``t``,
  which at an episode boundary is NOT ``values[t+1]``: that is the next episode's start).
  When only ``last_value`` (``V(s_T)``) is given, ``next_values[t] = values[t+1]`` inside
  episodes, and truncations before the last row are an error.
  If ``terminated[t]`` and ``truncated[t]`` are both set, termination wins.

Kernels (``_gae_kernel``, ``_returns_kernel``) are jitted with numba; each has a
pure-NumPy twin (:func:`gae_numpy`, :func:`discounted_returns_numpy`) that the tests
compare with.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from trustopt._blas import one_thread
from trustopt._io import atomic_write_bytes
from trustopt._numba import njit
from trustopt._validation import (
    ValidationError,
    as_float_array,
    check_interval,
    check_nonnegative,
    check_positive,
    readonly,
)

__all__ = [
    "discounted_returns",
    "discounted_returns_numpy",
    "gae",
    "gae_numpy",
    "episode_timesteps",
    "centered_ranks",
    "vanilla_gradient",
    "antithetic_gradient",
    "ridge_regression",
    "LinearValueBaseline",
    "FittedLinearBaseline",
    "gae_with_fitted_baseline",
    "RunningMeanStd",
]


# ----------------------------------------------------------------------------- validation


def _check_discount(value, name: str) -> float:
    return check_interval(as_float_array(value, name, ndim=0), name, 0.0, 1.0)


def _as_flags(x, name: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(x)
    if arr.shape != shape:
        raise ValidationError(f"{name}: shape {arr.shape} differs from rewards' shape {shape}")
    if arr.dtype != np.bool_:
        if not np.issubdtype(arr.dtype, np.number) or not np.all((arr == 0) | (arr == 1)):
            raise ValidationError(f"{name}: must hold booleans (or 0/1), got dtype {arr.dtype}")
        arr = arr.astype(np.bool_)
    return arr


def _prepare(rewards, terminated, truncated, values=None):
    """Validate and reshape to 2-D ``(T, N)``; returns (r, term, done, values, squeeze)."""
    r = as_float_array(rewards, "rewards", ndim=(1, 2))
    if r.shape[0] == 0:
        raise ValidationError("rewards: empty (T = 0)")
    term = _as_flags(terminated, "terminated", r.shape)
    trunc = (
        np.zeros(r.shape, dtype=np.bool_) if truncated is None else _as_flags(truncated, "truncated", r.shape)
    )
    v = None
    if values is not None:
        v = as_float_array(values, "values")
        if v.shape != r.shape:
            raise ValidationError(f"values: shape {v.shape} differs from rewards' shape {r.shape}")
    squeeze = r.ndim == 1
    if squeeze:
        r, term, trunc = r[:, None], term[:, None], trunc[:, None]
        v = None if v is None else v[:, None]
    done = term | trunc
    done[-1, :] = True
    return r, term, done, v, squeeze


def _bootstrap(shape, term, done, values, next_values, last_value, *, required: bool, who: str):
    """``next_v[t, n]`` = V(s_{t+1}) wherever it is read (not terminated); 0 elsewhere."""
    T, N = shape
    cut = done & ~term  # rows whose tail is bootstrapped
    if next_values is not None:
        if last_value is not None:
            raise ValidationError(f"{who}: give next_values or last_value, not both")
        nv = as_float_array(next_values, "next_values")
        if nv.ndim == 1 and N == 1 and nv.shape == (T,):
            nv = nv[:, None]
        if nv.shape != shape:
            raise ValidationError(f"next_values: shape {nv.shape} differs from rewards' shape")
        return np.where(term, 0.0, nv)
    nv = np.zeros(shape)
    if values is not None:
        nv[:-1] = values[1:]
    if last_value is not None:
        lv = as_float_array(last_value, "last_value", ndim=(0, 1))
        if lv.ndim == 1 and lv.shape != (N,):
            raise ValidationError(f"last_value: shape {lv.shape}, expected () or ({N},)")
        nv[-1] = lv
    elif required and np.any(cut[-1]):
        raise ValidationError(
            f"{who}: the last step is not terminated (a truncation): pass last_value = V(s_T) "
            "or next_values (pass 0.0 explicitly to bootstrap with zero)"
        )
    mid_cut = cut[:-1]
    if (required or last_value is not None) and np.any(mid_cut):
        t = int(np.argwhere(mid_cut)[0][0])
        raise ValidationError(
            f"{who}: truncated at t={t} before the last step needs V(s_{{t+1}}) there: pass next_values"
        )
    return np.where(term, 0.0, nv)


# ----------------------------------------------------------------------------- kernels


@njit(nogil=True)
def _returns_kernel(rewards, terminated, done, next_values, gamma, out):  # pragma: no cover - jitted
    T, N = rewards.shape
    for n in range(N):
        acc = 0.0
        for t in range(T - 1, -1, -1):
            if terminated[t, n]:
                acc = rewards[t, n]
            elif done[t, n]:
                acc = rewards[t, n] + gamma * next_values[t, n]
            else:
                acc = rewards[t, n] + gamma * acc
            out[t, n] = acc
    return out


@njit(nogil=True)
def _gae_kernel(rewards, values, next_values, terminated, done, gamma, lambda_, out):  # pragma: no cover
    T, N = rewards.shape
    gl = gamma * lambda_
    for n in range(N):
        acc = 0.0
        for t in range(T - 1, -1, -1):
            nonterminal = 0.0 if terminated[t, n] else 1.0
            delta = rewards[t, n] + gamma * nonterminal * next_values[t, n] - values[t, n]
            if done[t, n]:
                acc = delta
            else:
                acc = delta + gl * acc
            out[t, n] = acc
    return out


def _returns_numpy_2d(rewards, terminated, done, next_values, gamma):
    T = rewards.shape[0]
    out = np.empty_like(rewards)
    acc = np.zeros(rewards.shape[1])
    for t in range(T - 1, -1, -1):
        tail = np.where(terminated[t], 0.0, np.where(done[t], next_values[t], acc))
        acc = rewards[t] + gamma * tail
        out[t] = acc
    return out


def _gae_numpy_2d(rewards, values, next_values, terminated, done, gamma, lambda_):
    delta = rewards + gamma * np.where(terminated, 0.0, next_values) - values
    out = np.empty_like(rewards)
    acc = np.zeros(rewards.shape[1])
    for t in range(rewards.shape[0] - 1, -1, -1):
        acc = delta[t] + gamma * lambda_ * np.where(done[t], 0.0, acc)
        out[t] = acc
    return out


# ----------------------------------------------------------------------------- returns, GAE


def _discounted_returns(rewards, terminated, truncated, gamma, next_values, last_value, backend):
    gamma = _check_discount(gamma, "gamma")
    r, term, done, _, squeeze = _prepare(rewards, terminated, truncated)
    nv = _bootstrap(r.shape, term, done, None, next_values, last_value, required=False, who="discounted_returns")
    if backend == "numba":
        out = _returns_kernel(r, term, done, nv, gamma, np.empty_like(r))
    else:
        out = _returns_numpy_2d(r, term, done, nv, gamma)
    return out[:, 0] if squeeze else out


def discounted_returns(
    rewards, terminated, truncated=None, *, gamma: float, next_values=None, last_value=None
) -> np.ndarray:
    """Discounted reward-to-go ``R_t`` per step, episode-aware (slides "Discounting"; TRPO sec. 2).

    Backward recursion (``r_t = rewards[t]``, the slides' ``r_{t+1}``)::

        R_t = r_t                                  if terminated[t]
        R_t = r_t + gamma * V(s_{t+1})             if the episode is cut after t
                                                   (truncated[t], or t = T-1 not terminated)
        R_t = r_t + gamma * R_{t+1}                otherwise

    i.e. ``R_t = sum_{k=t}^{t_end} gamma^{k-t} r_k + gamma^{t_end-t+1} V(s_{t_end+1})``
    with the bootstrap term absent at termination.

    Args:
        rewards: ``(T,)`` or ``(T, N)``.
        terminated, truncated: boolean flags of the same shape (``truncated`` optional).
        gamma: discount in ``[0, 1]`` (``1`` allowed for finite episodes).
        next_values: ``V(s_{t+1})``, same shape, read only where a non-terminated
            episode is cut. Exclusive with ``last_value``.
        last_value: ``V(s_T)``, scalar or ``(N,)``: bootstrap of the final row only.
            With neither given, nothing is bootstrapped (``V = 0`` at every cut), which
            is the slides' finite-horizon return ``R_t^gamma`` of the observed segment.

    Returns:
        ``R``, same shape as ``rewards``.
    """
    return _discounted_returns(rewards, terminated, truncated, gamma, next_values, last_value, "numba")


def discounted_returns_numpy(
    rewards, terminated, truncated=None, *, gamma: float, next_values=None, last_value=None
) -> np.ndarray:
    """Pure-NumPy twin of :func:`discounted_returns` (same contract, no numba)."""
    return _discounted_returns(rewards, terminated, truncated, gamma, next_values, last_value, "numpy")


def _gae(rewards, values, terminated, truncated, gamma, lambda_, next_values, last_value, backend):
    gamma = _check_discount(gamma, "gamma")
    lambda_ = _check_discount(lambda_, "lambda_")
    r, term, done, v, squeeze = _prepare(rewards, terminated, truncated, values)
    if v is None:
        raise ValidationError("values: required")
    nv = _bootstrap(r.shape, term, done, v, next_values, last_value, required=True, who="gae")
    if backend == "numba":
        out = _gae_kernel(r, v, nv, term, done, gamma, lambda_, np.empty_like(r))
    else:
        out = _gae_numpy_2d(r, v, nv, term, done, gamma, lambda_)
    return out[:, 0] if squeeze else out


def gae(
    rewards,
    values,
    terminated,
    truncated=None,
    *,
    gamma: float,
    lambda_: float,
    next_values=None,
    last_value=None,
) -> np.ndarray:
    """Generalized advantage estimates ``A_t^{GAE(gamma, lambda)}`` (slides "GAE", "Limiting Cases").

    With the TD residual ``delta_t = r_t + gamma V(s_{t+1}) - V(s_t)`` (``V(s_{t+1}) = 0``
    when ``terminated[t]``) and ``t_end`` the last step of ``t``'s episode::

        A_t = sum_{l=0}^{t_end - t} (gamma lambda)^l delta_{t+l}
            = delta_t + gamma lambda A_{t+1}      (A_{t+1} := 0 across an episode end)

    the lambda-weighted sum of the n-step advantages ``(1 - lambda) sum_n lambda^{n-1}
    A_t^{(n)}``. Limiting cases: ``lambda = 0`` gives ``delta_t``; ``lambda = 1`` gives
    ``R_t - V(s_t)`` with ``R_t`` from :func:`discounted_returns` with the same bootstrap.
    The value targets of TD(lambda) are ``A_t + values[t]``.

    Args:
        rewards: ``(T,)`` or ``(T, N)``.
        values: ``V(s_t)``, same shape.
        terminated, truncated: boolean flags, same shape (``truncated`` optional).
        gamma, lambda_: in ``[0, 1]``.
        next_values: ``V(s_{t+1})`` for every step, same shape; needed when an episode
            is truncated before the last row. Exclusive with ``last_value``.
        last_value: ``V(s_T)`` (scalar or ``(N,)``) for the final row; required when
            the final row is not terminated and ``next_values`` is not given (pass
            ``0.0`` to bootstrap with zero deliberately).

    Returns:
        Advantages, same shape as ``rewards``.
    """
    return _gae(rewards, values, terminated, truncated, gamma, lambda_, next_values, last_value, "numba")


def gae_numpy(
    rewards,
    values,
    terminated,
    truncated=None,
    *,
    gamma: float,
    lambda_: float,
    next_values=None,
    last_value=None,
) -> np.ndarray:
    """Pure-NumPy twin of :func:`gae` (same contract, no numba)."""
    return _gae(rewards, values, terminated, truncated, gamma, lambda_, next_values, last_value, "numpy")


def episode_timesteps(terminated, truncated=None, *, first_timestep=0) -> np.ndarray:
    """Time index ``t`` of every step within its episode (for time features of baselines).

    ``t`` is ``first_timestep`` at row 0 (an int, or ``(N,)`` for ``(T, N)`` flags, when the
    segment continues an episode) and restarts at 0 after every ``terminated | truncated``.

    Returns:
        int64 array of the flags' shape.
    """
    term = np.asarray(terminated)
    if term.ndim not in (1, 2) or term.shape[0] == 0:
        raise ValidationError(f"terminated: expected a non-empty (T,) or (T, N) array, got shape {term.shape}")
    term = _as_flags(term, "terminated", term.shape)
    trunc = np.zeros_like(term) if truncated is None else _as_flags(truncated, "truncated", term.shape)
    done = term | trunc
    first = np.broadcast_to(np.asarray(first_timestep, dtype=np.int64), term.shape[1:])
    out = np.empty(term.shape, dtype=np.int64)
    t = first.copy()
    for i in range(term.shape[0]):
        out[i] = t
        t = np.where(done[i], 0, t + 1)
    return out


# ----------------------------------------------------------------------------- rank shaping


def centered_ranks(values) -> np.ndarray:
    """Centered-rank fitness shaping (Salimans et al. 2017 "ES as a scalable alternative";
    TRES sec. "fitness shaping ... rank transformation").

    For ``n`` values with (0-based, ascending) ranks ``rank_i``::

        u_i = rank_i / (n - 1) - 1/2     in [-1/2, 1/2]

    Ties receive the average of the ranks they span, so equal values get equal
    utilities and ``sum_i u_i = 0`` exactly (up to round-off) in every case. ``n = 1``
    gives ``0``. Ranks are taken over all entries (any shape; output has that shape).
    """
    x = as_float_array(values, "values")
    n = x.size
    if n == 0:
        raise ValidationError("values: empty")
    if n == 1:
        return np.zeros_like(x)
    _, inverse, counts = np.unique(x.ravel(), return_inverse=True, return_counts=True)
    start = np.cumsum(counts) - counts
    mean_rank = start + (counts - 1) / 2.0
    ranks = mean_rank[inverse.ravel()].reshape(x.shape)
    return ranks / (n - 1) - 0.5


# ----------------------------------------------------------------------------- value baseline


def ridge_regression(X, y, reg_coeff: float) -> np.ndarray:
    """Ridge regression ``w = argmin ||X w - y||^2 + reg_coeff ||w||^2 = (X'X + reg I)^{-1} X'y``.

    Solved as the least-squares problem on the stacked system ``[X; sqrt(reg) I] w = [y; 0]``
    (no normal equations, so conditioning is that of ``X``, not squared). With
    ``reg_coeff = 0`` this is the minimum-norm least-squares solution.

    Args:
        X: ``(n, p)`` design matrix; y: ``(n,)`` targets; reg_coeff: ``>= 0``.
    Returns:
        ``w`` of shape ``(p,)``.
    """
    X = as_float_array(X, "X", ndim=2)
    y = as_float_array(y, "y", ndim=1)
    if y.shape[0] != X.shape[0]:
        raise ValidationError(f"y: length {y.shape[0]} differs from X's {X.shape[0]} rows")
    reg = check_nonnegative(reg_coeff, "reg_coeff")
    p = X.shape[1]
    A = np.vstack([X, np.sqrt(reg) * np.eye(p)])
    rhs = np.concatenate([y, np.zeros(p)])
    with one_thread():  # the same bits for any BLAS thread count (and faster: trustopt._blas)
        w, *_ = np.linalg.lstsq(A, rhs, rcond=None)
    return w


@dataclass(frozen=True, kw_only=True)
class LinearValueBaseline:
    """Linear state-time value baseline fitted by ridge regression to empirical returns.

    The feature map of rllab's ``LinearFeatureBaseline`` (Duan et al. 2016, "Benchmarking
    Deep RL for Continuous Control", used as the baseline of TRPO/GAE-style experiments),
    re-derived here: for an observation ``s`` (clipped to ``[-obs_clip, obs_clip]``) at
    time ``t`` of its episode, with ``tau = t / time_scale``::

        phi(s, t) = [s, s**2, tau, tau**2, tau**3, 1]          (2 obs_dim + 4 features)
        w = argmin_w ||Phi w - R||^2 + reg_coeff ||w||^2       (slides, VPG+GAE Alg. 1 line 6:
                                                                 minimize ||V_phi(s_t) - R_t||^2)

    The config is frozen; :meth:`fit` returns a :class:`FittedLinearBaseline`.

    Attributes:
        reg_coeff: ridge coefficient ``> 0`` (rllab: 1e-5).
        time_scale: divisor of the time index (rllab: 100).
        obs_clip: observations are clipped to ``[-obs_clip, obs_clip]`` (rllab: 10);
            None disables clipping.
    """

    reg_coeff: float = 1e-5
    time_scale: float = 100.0
    obs_clip: float | None = 10.0

    def __post_init__(self):
        check_nonnegative(self.reg_coeff, "reg_coeff")
        check_positive(self.time_scale, "time_scale")
        if self.obs_clip is not None:
            check_positive(self.obs_clip, "obs_clip")

    def features(self, obs, timesteps) -> np.ndarray:
        """``phi(s_i, t_i)`` for ``obs (n, obs_dim)`` and ``timesteps (n,)``: ``(n, 2 obs_dim + 4)``."""
        obs = as_float_array(obs, "obs", ndim=2)
        t = as_float_array(timesteps, "timesteps", ndim=1)
        if t.shape[0] != obs.shape[0]:
            raise ValidationError(f"timesteps: length {t.shape[0]} differs from obs' {obs.shape[0]} rows")
        s = obs if self.obs_clip is None else np.clip(obs, -self.obs_clip, self.obs_clip)
        tau = (t / self.time_scale)[:, None]
        return np.hstack([s, s**2, tau, tau**2, tau**3, np.ones_like(tau)])

    def fit(self, obs, timesteps, returns) -> "FittedLinearBaseline":
        """Fit ``w`` to ``returns (n,)``; see the class docstring."""
        Phi = self.features(obs, timesteps)
        w = ridge_regression(Phi, returns, self.reg_coeff)
        return FittedLinearBaseline(config=self, coef=readonly(w))

    def unfitted(self, obs_dim: int) -> "FittedLinearBaseline":
        """The zero baseline (``w = 0``) for observations of dimension ``obs_dim``."""
        return FittedLinearBaseline(config=self, coef=readonly(np.zeros(2 * int(obs_dim) + 4)))


@dataclass(frozen=True, kw_only=True)
class FittedLinearBaseline:
    """A fitted :class:`LinearValueBaseline`: ``V(s, t) = phi(s, t)' coef``."""

    config: LinearValueBaseline
    coef: np.ndarray

    def predict(self, obs, timesteps) -> np.ndarray:
        """``V(s_i, t_i)`` for ``obs (n, obs_dim)``, ``timesteps (n,)``: shape ``(n,)``."""
        Phi = self.config.features(obs, timesteps)
        if Phi.shape[1] != self.coef.shape[0]:
            raise ValidationError(
                f"obs: dimension {(Phi.shape[1] - 4) // 2} differs from the fitted {(self.coef.shape[0] - 4) // 2}"
            )
        return Phi @ self.coef


def gae_with_fitted_baseline(
    rewards,
    terminated,
    truncated,
    *,
    gamma: float,
    lambda_: float,
    previous: Any,
    fit: Callable[[np.ndarray], Any],
    predict: Callable[[Any], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, Any]:
    """GAE advantages of one batch with a value baseline fitted on the PREVIOUS batch, and the
    baseline refitted on this batch for the next one (slides "Vanilla Policy Gradient + GAE",
    Alg. 1 lines 4-6; Schulman et al. 2016, "High-Dimensional Continuous Control Using
    Generalized Advantage Estimation"; STRO eq. 4.4).

    With ``V_k = previous`` (the fit of batch ``k-1``)::

        values[t], next_values[t] = predict(V_k)           # V_k(s_t), V_k(s_{t+1})
        A_t     = gae(rewards, values, ..., gamma, lambda_, next_values)
                = sum_l (gamma lambda)^l delta_{t+l},  delta_t = r_t + gamma V_k(s_{t+1}) [not term_t] - V_k(s_t)
        R_t     = discounted_returns(rewards, ..., gamma, next_values)   # V_k(s_T) bootstrapped at a truncation
        V_{k+1} = fit(R_t)                                 # returned, for batch k+1

    so the baseline never sees the returns it is subtracted from (rllab's convention, Duan et
    al. 2016: advantages first, then ``baseline.fit(paths)``), and the bootstrap ``V(s_T)`` of a
    truncated episode in the targets is the previous fit's. On the FIRST batch
    (``previous=None``) there is no previous fit: ``V_k = fit(R^0)`` with ``R^0`` the batch's own
    returns without bootstrap (``next_values = 0``), then as above.

    Everything that differs between samplers is an argument: ``gamma`` (1 on a chain with
    geometric termination, where the discount is the termination; ``< 1`` on MuJoCo), the
    features the baseline sees (captured by ``fit`` and ``predict``), what a fitted baseline is
    (a coefficient vector, a :class:`FittedLinearBaseline`, ...: this function only passes it
    from ``fit`` to ``predict``). Pair weights, states and the batch itself stay with the sampler.
    Note: STRO eq. 4.5 regresses on the TD(lambda) targets ``V + A``; here (as in the slides and
    rllab) the targets are the discounted returns ``R_t``.

    Args:
        rewards, terminated, truncated: ``(T,)``, one stream of concatenated episodes (the
            layout of the module docstring); FINITE (the caller handles a diverged batch:
            :func:`gae` and :func:`discounted_returns` reject non-finite values).
        gamma, lambda_: in ``[0, 1]``.
        previous: the baseline returned for the previous batch, or None on the first batch.
        fit: ``targets (T,) -> fitted baseline`` on this batch's inputs (states, time, ...).
        predict: ``fitted -> (values (T,), next_values (T,))``: ``V(s_t)`` and ``V(s_{t+1})`` of
            each step's successor (at an episode's last step, of its final observation ``s_T``;
            ignored where terminated).

    Returns:
        ``(adv (T,), fit(R))``: the advantages and the baseline for the next batch.
    """
    fitted = previous
    if fitted is None:  # first batch: fit on itself, without bootstrap
        fitted = fit(discounted_returns(rewards, terminated, truncated, gamma=gamma,
                                        next_values=np.zeros(np.shape(rewards))))
    values, next_values = predict(fitted)
    targets = discounted_returns(rewards, terminated, truncated, gamma=gamma, next_values=next_values)
    adv = gae(rewards, values, terminated, truncated, gamma=gamma, lambda_=lambda_, next_values=next_values)
    return adv, fit(targets)


# ----------------------------------------------------------------------------- running moments


@dataclass(frozen=True, kw_only=True)
class RunningMeanStd:
    """Count, mean and sum of squared deviations ``M2`` of a stream of vectors, mergeable.

    Immutable: :meth:`update` and :meth:`merge` return new objects. Merging the
    statistics of two disjoint batches ``a`` and ``b`` uses the parallel algorithm of
    Chan, Golub & LeVeque (1979, "Updating formulae and a pairwise algorithm for
    computing sample variances")::

        n     = n_a + n_b ;  delta = mean_b - mean_a
        mean  = mean_a + delta * n_b / n
        M2    = M2_a + M2_b + delta**2 * n_a * n_b / n

    which equals a single pass over the union exactly in real arithmetic (in floating
    point up to round-off). ``var = M2 / count`` (population variance, as used for
    observation normalization); ``sample_var = M2 / (count - 1)``.

    Attributes:
        count: number of vectors seen (int ``>= 0``).
        mean: ``shape`` array.
        M2: ``shape`` array, ``sum_i (x_i - mean)**2``.
    """

    count: int
    mean: np.ndarray
    M2: np.ndarray

    def __post_init__(self):
        count = self.count
        if isinstance(count, (bool,)) or not float(count).is_integer() or count < 0:
            raise ValidationError(f"count: must be an integer >= 0, got {count!r}")
        mean = as_float_array(self.mean, "mean")
        M2 = as_float_array(self.M2, "M2")
        if M2.shape != mean.shape:
            raise ValidationError(f"M2: shape {M2.shape} differs from mean's {mean.shape}")
        if np.any(M2 < 0.0):
            raise ValidationError("M2: must be >= 0")
        object.__setattr__(self, "count", int(count))
        object.__setattr__(self, "mean", readonly(mean.copy()))
        object.__setattr__(self, "M2", readonly(M2.copy()))

    # constructors
    @classmethod
    def empty(cls, shape: int | Sequence[int] = ()) -> "RunningMeanStd":
        """No data yet: ``count = 0``, zero mean and ``M2``."""
        return cls(count=0, mean=np.zeros(shape), M2=np.zeros(shape))

    @classmethod
    def from_batch(cls, x) -> "RunningMeanStd":
        """Statistics of ``x`` of shape ``(n, *shape)`` (two-pass: mean, then ``M2``)."""
        x = as_float_array(x, "x")
        if x.ndim == 0:
            raise ValidationError("x: expected shape (n, *shape), got a scalar")
        n = x.shape[0]
        if n == 0:
            return cls.empty(x.shape[1:])
        mean = x.mean(axis=0)
        M2 = ((x - mean) ** 2).sum(axis=0)
        return cls(count=n, mean=mean, M2=M2)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.mean.shape

    @property
    def var(self) -> np.ndarray:
        """Population variance ``M2 / count`` (zeros when ``count = 0``)."""
        return self.M2 / self.count if self.count > 0 else np.zeros(self.shape)

    @property
    def sample_var(self) -> np.ndarray:
        """Unbiased variance ``M2 / (count - 1)`` (requires ``count >= 2``)."""
        if self.count < 2:
            raise ValidationError("sample_var: needs count >= 2")
        return self.M2 / (self.count - 1)

    @property
    def std(self) -> np.ndarray:
        """``sqrt(var)``."""
        return np.sqrt(self.var)

    def merge(self, other: "RunningMeanStd") -> "RunningMeanStd":
        """Statistics of the union of the two (disjoint) batches (Chan et al., above)."""
        if not isinstance(other, RunningMeanStd):
            raise ValidationError(f"other: expected a RunningMeanStd, got {type(other).__name__}")
        if other.shape != self.shape:
            raise ValidationError(f"other: shape {other.shape} differs from {self.shape}")
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n_a, n_b = self.count, other.count
        n = n_a + n_b
        delta = other.mean - self.mean
        mean = self.mean + delta * (n_b / n)
        M2 = self.M2 + other.M2 + delta**2 * (n_a * n_b / n)
        return RunningMeanStd(count=n, mean=mean, M2=M2)

    def update(self, x) -> "RunningMeanStd":
        """``self.merge(RunningMeanStd.from_batch(x))`` for ``x`` of shape ``(n, *shape)``."""
        batch = RunningMeanStd.from_batch(x)
        if batch.shape != self.shape:
            raise ValidationError(f"x: rows of shape {batch.shape} differ from {self.shape}")
        return self.merge(batch)

    @staticmethod
    def merge_all(stats: Sequence["RunningMeanStd"]) -> "RunningMeanStd":
        """Left fold of :meth:`merge` over ``stats`` in the given order (deterministic)."""
        stats = list(stats)
        if not stats:
            raise ValidationError("stats: empty sequence")
        out = stats[0]
        for s in stats[1:]:
            out = out.merge(s)
        return out

    def normalize(self, x, *, epsilon: float = 1e-8, clip: float | None = None) -> np.ndarray:
        """``(x - mean) / sqrt(var + epsilon)``, optionally clipped to ``[-clip, clip]``."""
        x = np.asarray(x, dtype=np.float64)
        z = (x - self.mean) / np.sqrt(self.var + epsilon)
        return z if clip is None else np.clip(z, -clip, clip)

    # persistence
    def to_dict(self) -> dict:
        """Arrays ``count, mean, M2`` (for ``np.savez`` or a checkpoint)."""
        return {"count": np.asarray(self.count, dtype=np.int64), "mean": np.array(self.mean), "M2": np.array(self.M2)}

    @classmethod
    def from_dict(cls, d) -> "RunningMeanStd":
        """Inverse of :meth:`to_dict` (accepts an ``np.load`` result)."""
        return cls(count=int(np.asarray(d["count"])), mean=np.asarray(d["mean"]), M2=np.asarray(d["M2"]))

    def save(self, path) -> None:
        """Write an ``.npz`` atomically (:func:`trustopt._io.atomic_write_bytes`)."""
        buf = io.BytesIO()
        np.savez(buf, **self.to_dict())
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path) -> "RunningMeanStd":
        """Read what :meth:`save` wrote."""
        with np.load(os.fspath(path)) as d:
            return cls.from_dict(d)

    def __eq__(self, other):  # arrays make the generated __eq__ ambiguous
        if not isinstance(other, RunningMeanStd):
            return NotImplemented
        return (
            self.count == other.count
            and self.shape == other.shape
            and bool(np.array_equal(self.mean, other.mean))
            and bool(np.array_equal(self.M2, other.M2))
        )

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):  # pickle through the validating constructor (arrays stay read-only)
        return (RunningMeanStd.from_dict, (self.to_dict(),))


# ----------------------------------------------------------------------------- ES gradient estimators


def vanilla_gradient(values, X, theta, sigma) -> np.ndarray:
    """Vanilla ES gradient estimator, TRES eq. 5::

        grad_hat^V J(theta) = 1/(N sigma^2) sum_n F(x_n) (x_n - theta)

    Shapes: ``values (N,)``, ``X (N, d)``, ``theta (d,)``, ``sigma`` scalar or ``(d,)``
    (per-dimension: the division is elementwise). Returns ``(d,)``. Unbiased for ``grad J``
    of TRES eq. 1 when ``x_n ~ N(theta, sigma^2 I)`` i.i.d. (eq. 4).
    """
    F = np.asarray(values, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    s2 = np.asarray(sigma, dtype=np.float64) ** 2
    return (F @ (X - theta)) / (F.shape[0] * s2)


def antithetic_gradient(values_plus, values_minus, X_plus, theta, sigma) -> np.ndarray:
    """Antithetic ES gradient estimator, TRES eq. 6::

        grad_hat^A J(theta) = 1/(2 N sigma^2) sum_n (F(x_n) - F(2 theta - x_n)) (x_n - theta)

    Shapes: ``values_plus (N,)`` = ``F(x_n)``, ``values_minus (N,)`` = ``F(2 theta - x_n)``,
    ``X_plus (N, d)``, ``theta (d,)``, ``sigma`` scalar or ``(d,)``. Returns ``(d,)``.
    """
    diff = np.asarray(values_plus, dtype=np.float64) - np.asarray(values_minus, dtype=np.float64)
    X = np.asarray(X_plus, dtype=np.float64)
    s2 = np.asarray(sigma, dtype=np.float64) ** 2
    return (diff @ (X - theta)) / (2.0 * diff.shape[0] * s2)
