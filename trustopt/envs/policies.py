"""Linear policies for MuJoCo rollouts, with observation normalization.

Both act on the normalized observation (TRES sec. "Experiments", "state normalization";
ARS, Mania, Guy and Recht 2018, Algorithm 2 "V2"):

    z_t = (s_t - mean) / std                       s_t, mean, std: (obs_dim,)

* :class:`LinearPolicy` (ES family: ES, ARS, TRES): ``a_t = W z_t``, ``W: (act_dim, obs_dim)``.
* :class:`GaussianLinearPolicy` (policy-gradient family: VPG, NPG, TRPO, PPO, STRO):
  ``a_t ~ N(W z_t + b, diag(sigma^2))`` with ``sigma = exp(log_std)``, sampled as
  ``a_t = (W z_t + b) + sigma * eps_t``, ``eps_t ~ N(0, I)`` (STRO sec. 5, Gaussian policy
  with state-independent standard deviation; TRPO sec. 8 "a Gaussian distribution ... with
  a state-independent standard deviation").

The environment receives ``clip(a_t, action_low, action_high)`` (ARS clips actions to the action
space's bounds); a Gaussian rollout records the unclipped sample ``a_t`` so that its
log-likelihood is the Gaussian's. ``mean`` and ``std`` are the running observation statistics
the caller keeps (``std`` strictly positive: the caller applies its own floor, e.g. ARS's
``std + 1e-8`` or "std = 1 where the variance is 0"); they are saved with the policy.

``policy.predict(obs, deterministic=True)`` is the one way to act with either policy outside a
rollout (what :func:`trustopt.train.load_policy` returns for both families): a single
observation ``(obs_dim,)`` gives ``(act_dim,)``, a batch ``(n, obs_dim)`` gives ``(n, act_dim)``,
normalized inside and clipped to ``[action_low, action_high]`` when the policy carries the
action space's bounds (a loaded policy does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustopt._validation import ValidationError, as_float_array, readonly


def _normalizer(mean, std, obs_dim: int) -> tuple[np.ndarray, np.ndarray]:
    if mean is None:
        mean = np.zeros(obs_dim)
    if std is None:
        std = np.ones(obs_dim)
    mean = as_float_array(mean, "mean", ndim=1)
    std = as_float_array(std, "std", ndim=1)
    for name, arr in (("mean", mean), ("std", std)):
        if arr.shape != (obs_dim,):
            raise ValidationError(f"{name}: expected shape ({obs_dim},) to match W's columns, got {arr.shape}")
    if np.any(std <= 0.0):
        i = int(np.argmin(std))
        raise ValidationError(f"std: must be > 0 everywhere, got {std[i]!r} at index {i}")
    return readonly(mean.copy()), readonly(std.copy())


def _bound(x, name: str, act_dim: int) -> np.ndarray:
    """An action bound ``(act_dim,)``: float, not NaN (an infinite side is an unbounded one)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name}: cannot be converted to a float array ({exc})") from None
    if arr.shape != (act_dim,):
        raise ValidationError(f"{name}: expected shape ({act_dim},) to match W's rows, got {arr.shape}")
    if np.any(np.isnan(arr)):
        raise ValidationError(f"{name}: contains NaN")
    return arr


@dataclass(frozen=True, kw_only=True)
class _NormalizedLinear:
    """Shared by both policies: ``W (act_dim, obs_dim)`` acting on ``z = (s - mean) / std``.

    Fields: ``W (act_dim, obs_dim)``; ``mean (obs_dim,)`` default 0; ``std (obs_dim,)`` > 0,
    default 1; ``action_low``/``action_high (act_dim,)`` the action space's bounds that
    :meth:`predict` clips to (None: no clipping; rollouts clip with the environment's own bounds).
    Arrays are copied and made read-only.
    """

    W: np.ndarray
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    action_low: np.ndarray | None = None
    action_high: np.ndarray | None = None

    def __post_init__(self):
        W = as_float_array(self.W, "W", ndim=2)
        object.__setattr__(self, "W", readonly(np.ascontiguousarray(W).copy()))
        mean, std = _normalizer(self.mean, self.std, W.shape[1])
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        if (self.action_low is None) != (self.action_high is None):
            raise ValidationError("action_low, action_high: give both bounds or neither")
        if self.action_low is not None:
            m = W.shape[0]
            low, high = _bound(self.action_low, "action_low", m), _bound(self.action_high, "action_high", m)
            if np.any(low > high):
                i = int(np.argmax(low > high))
                raise ValidationError(f"action_low: must be <= action_high, got {low[i]!r} > {high[i]!r} at index {i}")
            object.__setattr__(self, "action_low", readonly(low.copy()))
            object.__setattr__(self, "action_high", readonly(high.copy()))

    @property
    def obs_dim(self) -> int:
        return self.W.shape[1]

    @property
    def act_dim(self) -> int:
        return self.W.shape[0]

    def _linear(self, obs) -> np.ndarray:
        """``W ((obs - mean) / std)``: obs ``(obs_dim,)`` -> ``(act_dim,)``."""
        return self.W @ ((np.asarray(obs, dtype=np.float64) - self.mean) / self.std)

    def _batch(self, obs) -> tuple[np.ndarray, bool]:
        """``obs`` as ``(n, obs_dim)`` float64, and whether it was a single observation."""
        x = np.asarray(obs, dtype=np.float64)
        if x.ndim not in (1, 2) or x.shape[-1] != self.obs_dim:
            raise ValidationError(f"obs: expected shape ({self.obs_dim},) or (n, {self.obs_dim}), got {x.shape}")
        if not np.isfinite(x).all():  # a NaN action would reach the environment without a word
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise ValidationError(f"obs: not finite at index {where[0] if x.ndim == 1 else where}: "
                                  f"{float(x[where])}")
        return np.atleast_2d(x), x.ndim == 1

    def _clip_to_space(self, a: np.ndarray) -> np.ndarray:
        if self.action_low is None:
            return a
        return np.clip(a, self.action_low, self.action_high)


@dataclass(frozen=True, kw_only=True)
class LinearPolicy(_NormalizedLinear):
    """Deterministic linear policy ``a = W (s - mean) / std`` (ARS V2 / TRES, see module doc).

    Fields: ``W (act_dim, obs_dim)``; ``mean (obs_dim,)`` default 0; ``std (obs_dim,)`` > 0,
    default 1. Arrays are copied and made read-only.
    """

    def __call__(self, obs) -> np.ndarray:
        """``W ((obs - mean) / std)``: obs ``(obs_dim,)`` -> ``(act_dim,)`` (unclipped)."""
        return self._linear(obs)

    def predict(self, obs, deterministic: bool = True, rng=None) -> np.ndarray:
        """``clip(W (obs - mean) / std, action_low, action_high)`` for one observation ``(obs_dim,)``
        -> ``(act_dim,)`` or a batch ``(n, obs_dim)`` -> ``(n, act_dim)``. The policy is
        deterministic, so ``deterministic`` and ``rng`` change nothing (they are accepted so that
        one call serves both families). Returns the action alone (not sb3's ``(action, state)``)."""
        x, single = self._batch(obs)
        a = self._clip_to_space(((x - self.mean) / self.std) @ self.W.T)
        return a[0] if single else a


@dataclass(frozen=True, kw_only=True)
class GaussianLinearPolicy(_NormalizedLinear):
    """Gaussian linear policy ``a ~ N(W z + b, diag(exp(log_std)^2))``, ``z = (s - mean) / std``.

    Fields: ``W (act_dim, obs_dim)``, ``b (act_dim,)`` default 0, ``log_std (act_dim,)``
    (or a scalar, broadcast) default 0, ``mean``/``std (obs_dim,)`` as :class:`LinearPolicy`.
    Sampling: ``a = (W z + b) + sigma * eps``, ``eps ~ N(0, I_act_dim)`` (this order of
    operations is part of the contract: it fixes the bits of a seeded rollout).
    """

    b: np.ndarray | None = None
    log_std: np.ndarray | float = 0.0

    def __post_init__(self):
        super().__post_init__()
        m = self.act_dim
        b = np.zeros(m) if self.b is None else as_float_array(self.b, "b", ndim=1)
        if b.shape != (m,):
            raise ValidationError(f"b: expected shape ({m},) to match W's rows, got {b.shape}")
        log_std = as_float_array(self.log_std, "log_std", ndim=(0, 1))
        if log_std.ndim == 1 and log_std.shape != (m,):
            raise ValidationError(f"log_std: expected a scalar or shape ({m},), got {log_std.shape}")
        log_std = np.broadcast_to(log_std, (m,)).copy()
        sigma = np.exp(log_std)
        if np.any(sigma == 0.0) or not np.all(np.isfinite(sigma)):
            raise ValidationError("log_std: exp(log_std) must be finite and > 0")
        object.__setattr__(self, "b", readonly(b.copy()))
        object.__setattr__(self, "log_std", readonly(log_std))

    @property
    def sigma(self) -> np.ndarray:
        """``exp(log_std)``, ``(act_dim,)`` (read-only)."""
        return readonly(np.exp(self.log_std))

    def mean_action(self, obs) -> np.ndarray:
        """``W ((obs - mean) / std) + b``: ``(obs_dim,) -> (act_dim,)``."""
        return self._linear(obs) + self.b

    def __call__(self, obs, eps) -> np.ndarray:
        """One sample ``(W z + b) + sigma * eps`` for a given standard-normal ``eps (act_dim,)``."""
        return self.mean_action(obs) + self.sigma * np.asarray(eps, dtype=np.float64)

    def predict(self, obs, deterministic: bool = True, rng=None) -> np.ndarray:
        """The action for one observation ``(obs_dim,)`` -> ``(act_dim,)`` or a batch ``(n, obs_dim)``
        -> ``(n, act_dim)``, clipped to ``[action_low, action_high]`` (as the environment receives it).

        ``deterministic=True``: the mean ``W z + b`` (what evaluation runs); False: a sample
        ``(W z + b) + sigma * eps``, ``eps ~ N(0, I)`` drawn from ``rng`` (an ``np.random.Generator``
        or a seed; None: fresh entropy). Returns the action alone (not sb3's ``(action, state)``)."""
        x, single = self._batch(obs)
        a = ((x - self.mean) / self.std) @ self.W.T + self.b
        if not deterministic:
            a = a + self.sigma * np.random.default_rng(rng).standard_normal(a.shape)
        a = self._clip_to_space(a)
        return a[0] if single else a
