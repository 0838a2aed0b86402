"""The environment interface shared by the fast path and the Gymnasium fallback, and the rollout loop."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trustopt._validation import ValidationError, check_int, readonly
from trustopt.envs.policies import GaussianLinearPolicy, LinearPolicy
from trustopt.estimators import RunningMeanStd

try:  # the ufunc behind np.clip: one call instead of np.clip's two Python wrappers
    from numpy._core.umath import clip as _clip
except ImportError:  # pragma: no cover - numpy layout without it

    def _clip(x, lo, hi, out):
        np.maximum(x, lo, out=out)
        return np.minimum(out, hi, out=out)


@dataclass(frozen=True, kw_only=True)
class Trajectory:
    """What a recorded rollout saw, for the policy-gradient estimators.

    ``obs (T, obs_dim)``: s_0..s_{T-1}, the states acted on; ``actions (T, act_dim)``: the
    policy's actions (unclipped samples for a Gaussian policy; the env received their clip to
    the action bounds); ``rewards (T,)``: training rewards (survival bonus removed when asked);
    ``env_rewards (T,)``: the environment's own rewards; ``final_obs (obs_dim,)``: s_T, the
    observation after the last step (bootstrap it when ``truncated``); ``terminated`` /
    ``truncated``: the flags of the last step.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    env_rewards: np.ndarray
    final_obs: np.ndarray
    terminated: bool
    truncated: bool


@dataclass(frozen=True, kw_only=True)
class EnvState:
    """A snapshot from ``env.get_state()`` (fast path only): ``data`` a copy of the ``MjData``,
    ``obs`` the observation, ``elapsed`` the steps since reset (the TimeLimit counter)."""

    env_id: str
    data: object
    obs: np.ndarray
    elapsed: int


@dataclass(frozen=True, kw_only=True)
class RolloutResult:
    """One episode of a linear policy.

    ``train_return = sum_t r'_t`` with ``r'_t = r_t - survive_t`` when the survival bonus is
    removed (else ``r'_t = r_t``); ``env_return = sum_t r_t`` the environment's own return (what
    evaluation reports). Both sums are exactly rounded (``math.fsum``), so they do not depend on
    summation order. ``length`` T; ``terminated`` (the env's termination) / ``truncated``
    (stopped by the time limit or ``max_steps``); ``obs_stats``: the
    :class:`~trustopt.estimators.RunningMeanStd` of s_0..s_{T-1} (``count = T``, ``mean``, ``M2``;
    two passes over the recorded observations), to merge into the running normalizer;
    ``trajectory`` when recorded.
    """

    train_return: float
    env_return: float
    length: int
    terminated: bool
    truncated: bool
    obs_stats: RunningMeanStd
    trajectory: Trajectory | None = None


class RolloutEnv:
    """An environment for linear-policy rollouts: ``reset``, ``step``, ``rollout``.

    Created by :func:`trustopt.envs.make_env`. Attributes: ``env_id``, ``kwargs``, ``obs_dim``,
    ``act_dim``, ``action_low``/``action_high`` ``(act_dim,)``, ``max_episode_steps``,
    ``fast`` (True when MuJoCo is stepped directly), ``removes_survival_bonus`` (True for Hopper,
    Walker2d, Ant, Humanoid). Subclasses implement ``_reset_obs(seed)`` and ``_advance(action)``,
    both writing the observation into ``self._obs``.
    """

    env_id: str
    kwargs: dict
    fast: bool
    removes_survival_bonus: bool
    obs_dim: int
    act_dim: int
    max_episode_steps: int

    def __init__(self):
        self._obs = np.zeros(self.obs_dim)
        self._elapsed = None
        self._buffers = None

    # --- primitives (subclasses) -------------------------------------------------------------
    def _reset_obs(self, seed) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _advance(self, action: np.ndarray) -> tuple[float, float, bool]:  # pragma: no cover
        """Step with ``action`` (float64, (act_dim,)); return (reward, survive, terminated)."""
        raise NotImplementedError

    def _advance_buf(self) -> tuple[float, float, bool]:  # pragma: no cover
        """``_advance(self._action_buf)``, where the rollout loop wrote the (clipped) action."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def get_state(self) -> EnvState:
        raise NotImplementedError(f"state save/restore needs the fast path; {self.env_id} runs through Gymnasium")

    def set_state(self, state: EnvState) -> np.ndarray:
        raise NotImplementedError(f"state save/restore needs the fast path; {self.env_id} runs through Gymnasium")

    def _restore(self, state: EnvState) -> None:
        raise NotImplementedError(f"state save/restore needs the fast path; {self.env_id} runs through Gymnasium")

    # --- gymnasium-like interface ------------------------------------------------------------
    def reset(self, *, seed: int | None = None) -> np.ndarray:
        """Reset; same ``seed`` gives the same initial state as Gymnasium's ``reset(seed=seed)``.

        ``seed=None`` continues the environment's generator (Gymnasium's semantics). Returns the
        observation ``(obs_dim,)`` (a copy).
        """
        _check_seed(seed)
        self._reset_obs(seed)
        self._elapsed = 0
        return self._obs.copy()

    def step(self, action) -> tuple[np.ndarray, float, bool, bool]:
        """``(obs, reward, terminated, truncated)`` as Gymnasium's ``step`` (no info dict).

        The action is used as given (not clipped; MuJoCo clamps controls to ``ctrlrange`` but
        the control cost is that of the given action, as in Gymnasium), as float64.
        ``truncated`` is the TimeLimit flag: ``steps since reset >= max_episode_steps``.
        """
        if self._elapsed is None:
            raise RuntimeError("step() called before reset()")
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (self.act_dim,):
            raise ValidationError(f"action: expected shape ({self.act_dim},), got {a.shape}")
        reward, _, terminated = self._advance(a)
        self._elapsed += 1
        return self._obs.copy(), float(reward), bool(terminated), self._elapsed >= self.max_episode_steps

    # --- rollouts --------------------------------------------------------------------------
    def _get_buffers(self, n_steps: int):
        b = self._buffers
        if b is None or b["obs"].shape[0] < n_steps:
            b = self._buffers = dict(
                obs=np.zeros((n_steps, self.obs_dim)),
                act=np.zeros((n_steps, self.act_dim)),
                rew=np.zeros(n_steps),
                survive=np.zeros(n_steps),
                dev=np.zeros((n_steps, self.obs_dim)),
                z=np.zeros(self.obs_dim),
                mu=np.zeros(self.act_dim),
            )
        return b

    def rollout(
        self,
        policy: LinearPolicy | GaussianLinearPolicy,
        *,
        seed: int | None,
        max_steps: int | None = None,
        rng: np.random.Generator | None = None,
        remove_survival_bonus: bool = False,
        record: bool | None = None,
        start: EnvState | None = None,
    ) -> RolloutResult:
        """Run one episode of ``policy`` from ``reset(seed=seed)``.

        Each step: ``z_t = (s_t - mean) / std``; ``a_t = W z_t`` (:class:`LinearPolicy`) or
        ``a_t = (W z_t + b) + sigma * eps_t`` (:class:`GaussianLinearPolicy`, ``eps_t`` drawn
        from ``rng`` as one ``standard_normal((max_steps, act_dim))`` block at the start);
        the env receives ``clip(a_t, action_low, action_high)``. The episode ends at
        termination or after ``max_steps`` (default ``max_episode_steps``; at most that).
        ``remove_survival_bonus``: subtract the survival bonus the env paid at each step from
        the training reward (only for Hopper, Walker2d, Ant, Humanoid; see
        :data:`trustopt.envs.SURVIVAL_BONUS_FAMILIES`). ``record`` (default: True for a
        Gaussian policy) returns the :class:`Trajectory`. ``start``: begin from a
        :meth:`get_state` snapshot instead of ``reset(seed=seed)`` (pass ``seed=None``); the
        time limit counts from the snapshot's step (TRPO's vine rollouts, TRPO sec. 5.2).
        """
        gaussian = self._check_policy(policy, rng)
        horizon = self._horizon(seed, start, max_steps)
        if record is None:
            record = gaussian
        remove = bool(remove_survival_bonus) and self.removes_survival_bonus
        buf = self._get_buffers(horizon)
        # the policy's noise for the whole episode: one block, drawn before the reset
        eps = rng.standard_normal((horizon, self.act_dim)) if gaussian else None
        if start is None:
            self._reset_obs(seed)
        else:
            self._restore(start)
        self._elapsed = None  # a rollout leaves the env needing a reset before step()
        T, terminated = self._run_episode(policy, eps, horizon, buf)
        truncated = not terminated and T >= horizon
        return self._episode_result(buf, T, terminated, truncated, remove=remove, record=record)

    def _check_policy(self, policy, rng) -> bool:
        """Whether ``policy`` is Gaussian (then ``rng`` must be a Generator); ``W`` must fit the env."""
        if isinstance(policy, GaussianLinearPolicy):
            gaussian = True
            if not isinstance(rng, np.random.Generator):
                raise ValidationError("rng: a GaussianLinearPolicy rollout needs an np.random.Generator")
        elif isinstance(policy, LinearPolicy):
            gaussian = False
        else:
            raise ValidationError(
                f"policy: expected LinearPolicy or GaussianLinearPolicy, got {type(policy).__name__}"
            )
        if policy.W.shape != (self.act_dim, self.obs_dim):
            raise ValidationError(
                f"policy: W has shape {policy.W.shape}, {self.env_id} needs ({self.act_dim}, {self.obs_dim})"
            )
        return gaussian

    def _horizon(self, seed, start: EnvState | None, max_steps) -> int:
        """The steps the episode may take: the time limit left (from reset, or from the snapshot
        ``start``), capped by ``max_steps``; checks ``seed`` against ``start``."""
        if start is None:
            _check_seed(seed, allow_none=False)
            horizon = self.max_episode_steps
        else:
            if seed is not None:
                raise ValidationError("seed: pass seed=None with start= (the snapshot fixes the state)")
            if not isinstance(start, EnvState):
                raise ValidationError(f"start: expected an EnvState from get_state(), got {type(start).__name__}")
            horizon = self.max_episode_steps - start.elapsed
            if horizon < 1:
                raise ValidationError("start: the snapshot is at the time limit; no step is left")
        if max_steps is not None:
            horizon = min(check_int(max_steps, "max_steps", 1), horizon)
        return horizon

    def _run_episode(self, policy, eps: np.ndarray | None, horizon: int, buf: dict) -> tuple[int, bool]:
        """The episode loop, from the state the env is in: ``(T, terminated)``.

        Each step records ``s_t`` into ``buf["obs"]``, acts (``a_t`` into ``buf["act"]``; the
        Gaussian policy adds ``sigma * eps[t]``), clips ``a_t`` into the env's action buffer,
        steps the env and records ``r_t`` and the survival bonus; it stops at termination or
        after ``horizon`` steps. The hot loop of every rollout: NumPy's functions are bound to
        locals and write into preallocated buffers (``out=``).
        """
        gaussian = eps is not None
        obs_rec, act_rec, rew_rec, surv_rec = buf["obs"], buf["act"], buf["rew"], buf["survive"]
        z, mu = buf["z"], buf["mu"]
        a = self._action_buf
        W, mean, std = policy.W, policy.mean, policy.std
        low, high = self.action_low, self.action_high
        if gaussian:
            b, sigma = policy.b, policy.sigma
        obs = self._obs
        advance = self._advance_buf
        subtract, divide, dot, clip, add, multiply = np.subtract, np.divide, np.dot, _clip, np.add, np.multiply
        terminated = False
        t = 0
        while t < horizon:
            obs_rec[t] = obs  # record s_t
            subtract(obs, mean, out=z)  # act: z_t = (s_t - mean) / std, a_t
            divide(z, std, out=z)
            if gaussian:
                dot(W, z, out=mu)
                add(mu, b, out=mu)
                act = act_rec[t]
                multiply(sigma, eps[t], out=act)
                add(mu, act, out=act)
            else:
                act = act_rec[t]
                dot(W, z, out=act)
            clip(act, low, high, out=a)  # = minimum(maximum(act, low), high), NaN kept
            reward, survive, terminated = advance()  # step: writes s_{t+1} into obs
            rew_rec[t] = reward  # record r_t
            surv_rec[t] = survive
            t += 1
            if terminated:
                break
        return t, terminated

    def _episode_result(self, buf: dict, T: int, terminated: bool, truncated: bool, *, remove: bool,
                        record: bool) -> RolloutResult:
        """The returns, the observation statistics and (``record``) the trajectory of the episode
        the buffers hold (its first ``T`` steps)."""
        env_rewards = buf["rew"][:T]
        train_rewards = env_rewards - buf["survive"][:T] if remove else env_rewards
        X = buf["obs"][:T]
        stats = _observation_stats(X, buf["dev"][:T])
        traj = None
        if record:
            traj = Trajectory(
                obs=readonly(X.copy()),
                actions=readonly(buf["act"][:T].copy()),
                rewards=readonly(np.array(train_rewards)),
                env_rewards=readonly(env_rewards.copy()),
                final_obs=readonly(self._obs.copy()),
                terminated=bool(terminated),
                truncated=bool(truncated),
            )
        return RolloutResult(
            train_return=math.fsum(train_rewards.tolist()),
            env_return=math.fsum(env_rewards.tolist()),
            length=T,
            terminated=bool(terminated),
            truncated=bool(truncated),
            obs_stats=stats,
            trajectory=traj,
        )


def _observation_stats(X: np.ndarray, dev: np.ndarray) -> RunningMeanStd:
    """:class:`RunningMeanStd` of the rows of ``X (T, obs_dim)``, by two passes: the bits of
    ``X.mean(axis=0)`` and ``np.square(X - mean).sum(axis=0)`` (np.mean is add.reduce then a
    division by the count), without temporaries (``dev``, ``(T, obs_dim)``, is overwritten)."""
    T = X.shape[0]
    mean_s = np.add.reduce(X, axis=0)
    mean_s /= T
    D = np.subtract(X, mean_s, out=dev)
    m2 = np.add.reduce(np.square(D, out=D), axis=0)
    return RunningMeanStd(count=T, mean=mean_s, M2=m2)


def _check_seed(seed, *, allow_none: bool = True) -> None:
    if seed is None and allow_none:
        return
    check_int(seed, "seed", 0)
