"""Vine sampling (TRPO sec. 5.2) of Gaussian linear policies on MuJoCo, for TRPO.

:class:`MujocoVineSampler` is the MuJoCo counterpart of
:class:`~trustopt.components.tabular_samplers.TabularVineSampler` for the continuous-action case of TRPO
sec. 5.2: the same policy, parameters and observation normalizer as
:class:`~trustopt.envs.pg_sampler.MujocoEpisodeSampler` (``theta = [W.ravel(), b, log_std]``,
``a ~ N(W z + b, diag(exp(2 log_std)))`` on ``z = (s - mean) / std``; the normalizer carried in a
:class:`~trustopt.envs.pg_sampler.PGCarry`, frozen during the batch), and a batch made of

1. the TRUNK: ``n_trunk_episodes`` whole episodes of ``pi_theta`` (episode ``j`` is episode
   ``j`` of the single-path sampler with the same ``key``: reset seed and action noise from
   ``SeedSequence([key, j])``); they give ``eta_hat = mean_j R_j`` and ``sigma_hat`` (STRO eq.
   4.1-4.2, training returns, survival bonus removed as in the single path);
2. the ROLLOUT SET: ``n_rollout_states`` states ``s_n`` drawn uniformly, with replacement, among
   the ``N`` visited trunk steps (TRPO sec. 5.2 "a subset of N states along these trajectories");
3. from each ``s_n`` (the simulator restored to a snapshot of the trunk at that step, TimeLimit
   step count included), ``K = n_actions_per_state`` actions ``a_{n,k} ~ pi_theta(.|s_n)``
   (``q = pi_theta``, which the paper found to work well on locomotion) and one BRANCH per action:
   take ``a_{n,k}``, then follow ``pi_theta`` for up to ``rollout_horizon - 1`` more steps (fewer
   at a termination or at the time limit). The ``K`` branches of a state use COMMON RANDOM
   NUMBERS: the same action-noise sequence ``eps_1, eps_2, ...`` after the first action (the
   dynamics are deterministic given the state), so ``K`` identical first actions give ``K``
   identical branches and the differences ``Q_hat(s_n, a_{n,k}) - Q_hat(s_n, a_{n,j})`` have
   low variance (TRPO sec. 5.2; Ng & Jordan 2000).

Discounting, as the single-path sampler's ``gamma`` (TRPO sec. 5.1 "the discounted sum of future
rewards", App. E ``gamma = 0.99``): with ``r'`` the training rewards along the branch and
``L_{n,k} <= rollout_horizon`` its length::

    Q_hat(s_n, a_{n,k}) = sum_{l=0}^{L_{n,k}-1} gamma^l r'_{t_n + l}

(no bootstrap at the branch's end: the paper's truncated rollouts, App. E "rollout length").
With ``rollout_horizon`` at least the time limit and ``gamma`` equal, ``Q_hat`` has the
expectation of the single path's ``GAE(gamma, lambda=1)`` target without a baseline, the
discounted reward-to-go to the end of the episode.

Surrogate (TRPO eq. 14 with ``q = pi_theta``; eq. 16 is its self-normalized form). The batch
holds the ``n K`` pairs ``(z_n, a_{n,k})`` (``z_n`` the NORMALIZED ``s_n``) with::

    w_{n,k}   = (N / tau) / (n K)
    adv_{n,k} = Q_hat(s_n, a_{n,k}) - 1/(K-1) sum_{j != k} Q_hat(s_n, a_{n,j})
              = K/(K-1) (Q_hat(s_n, a_{n,k}) - mean_j Q_hat(s_n, a_{n,j}))

and ``logp_old`` the Gaussian log-density of ``a_{n,k}`` at ``z_n``. The weights put the pairs on
the single-path sampler's scale (``sum_i w_i f`` estimates ``E[sum_t f(s_t, a_t)]`` per episode,
the undiscounted visitation: ``N / tau`` steps per episode, ``s_n`` uniform over them), so
``sum_i w_i r_i adv_i`` estimates ``E[sum_t E_{a ~ pi_new(.|s_t)} A(s_t, a)]`` as the single path's
does and as :class:`~trustopt.components.tabular_samplers.TabularVineSampler`'s does on its scale. The
baseline of each branch is the mean of the OTHER ``K - 1`` branches of its state (leave one out):
since ``a_{n,k}`` is drawn independently of the other actions and of the common continuation
noise, ``E[adv_{n,k} | s_n, a_{n,k}] = Q(s_n, a_{n,k}) - V(s_n) = A(s_n, a_{n,k})`` (the
``H``-step truncated ``A``), so ``sum_i w_i grad log pi(a_i|s_i) adv_i`` is an unbiased policy
gradient. The paper's self-normalized eq. 16 has, at ``theta_old``, the gradient
``1/K sum_k grad log pi(a_{n,k}|s_n) (Q_hat_{n,k} - mean_j Q_hat_{n,j})``: ``(K-1)/K`` times
this one per state, the same direction (TRPO's step, normalized to the KL radius, is the same);
the leave-one-out form removes the ``(K-1)/K`` shrinkage, so the predicted gain is unbiased too.

Cost (``Batch.n_samples``, every simulator step): trunk steps, REPLAY steps, branch steps. The
simulator cannot take a snapshot in the middle of :meth:`~trustopt.envs.RolloutEnv.rollout`, so
after the trunk each trunk episode that holds rollout states is replayed from its reset seed with
its recorded actions (bit for bit the same states, checked) up to its last rollout state, where
:meth:`~trustopt.envs.RolloutEnv.get_state` snapshots are taken; a replay costs at most the
trunk's steps again.

Determinism: one integer ``key`` is drawn from the ``rng`` the loop passes, and every seed of
the batch derives from it: trunk episode ``j`` from ``SeedSequence([key, j])`` (as the single
path), the rollout set from ``SeedSequence(key, spawn_key=(1,))``, the first-action noises of
state ``n`` from ``SeedSequence(key, spawn_key=(2, n))`` (``(K, act_dim)`` standard normals,
``a_{n,k} = (W z_n + b) + sigma * eps_{n,k}``) and its common continuation noise from
``default_rng(SeedSequence(key, spawn_key=(3, n)).generate_state(1)[0])``. The batch is a pure
function of ``(rng state, theta, carry)``. The trunk may run on a ``backend``'s workers (the
same episodes); the replays and branches run in this process, whose simulator holds the snapshots.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import mujoco
import numpy as np

from trustopt._validation import ValidationError, check_int, readonly
from trustopt.core.types import Batch
from trustopt.envs import EnvState, GaussianLinearPolicy, Trajectory, cached_env
from trustopt.envs.pg_sampler import GaussianEnvSampler, PGCarry, _episode, _EpisodeJob, episode_seeds
from trustopt.estimators import RunningMeanStd

__all__ = ["MujocoVineSampler", "Vine", "branch_returns"]

#: ``spawn_key`` streams of the batch's ``SeedSequence(key, ...)`` (module docstring).
_ROLLOUT_SET, _FIRST_ACTIONS, _CONTINUATION = 1, 2, 3


def _seed_sequence(key: int, *stream: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(key), spawn_key=tuple(int(s) for s in stream))


def _capture(env, into: EnvState, elapsed: int) -> EnvState:
    """``env.get_state()`` with step count ``elapsed``, written into the buffers of the snapshot
    ``into`` (``mj_copyData`` into its ``MjData``, the observation into its ``obs``) instead of a
    fresh ``MjData``, whose allocation costs about as much as ten Hopper steps. The returned
    snapshot shares ``into``'s buffers: it is valid until the next capture into them."""
    mujoco.mj_copyData(into.data, env.model, env.data)
    into.obs[:] = env._obs
    return dataclasses.replace(into, elapsed=int(elapsed))


def _discounted_sum(rewards, gamma: float) -> float:
    """``sum_l gamma^l r_l`` of ``rewards (L,)``."""
    r = np.asarray(rewards, dtype=np.float64)
    return float(np.dot(float(gamma) ** np.arange(r.shape[0]), r))


def branch_returns(env, policy: GaussianLinearPolicy, state: EnvState, actions, *, seed: int, horizon: int,
                   gamma: float, remove_survival_bonus: bool, scratch: EnvState | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(Q_hat (K,), lengths (K,))`` of the ``K`` branches from the snapshot ``state`` of ``env``
    (a fast-path :class:`~trustopt.envs.RolloutEnv`), one per row of ``actions (K, act_dim)``.

    Branch ``k``: restore ``state``, step with ``clip(actions[k], low, high)``, then (unless that
    step terminated, or reached the time limit, or ``horizon == 1``) run
    ``env.rollout(policy, start=<after the step>, rng=default_rng(seed), max_steps=horizon - 1)``:
    every branch draws the SAME continuation noise (common random numbers). ``Q_hat_k =
    sum_l gamma^l r'_l`` over the branch's ``L_k <= horizon`` training rewards (survival bonus
    removed when asked and the environment pays one). The environment is left needing a
    reset or a restore. ``scratch``: a snapshot of ``env`` (not ``state``) whose buffers may be
    overwritten with the states after the first steps (default: one fresh ``get_state()``).
    """
    actions = np.asarray(actions, dtype=np.float64)
    K = actions.shape[0]
    low, high = env.action_low, env.action_high
    remove = bool(remove_survival_bonus) and env.removes_survival_bonus
    elapsed = state.elapsed + 1
    Q = np.zeros(K)
    lengths = np.ones(K, dtype=np.int64)
    if scratch is None:
        env.set_state(state)
        scratch = env.get_state()
    for k in range(K):
        env.set_state(state)
        # RolloutEnv's step primitive, which also reports the survival bonus paid (step() does not)
        reward, survive, terminated = env._advance(np.clip(actions[k], low, high))
        rewards = [reward - survive if remove else reward]
        if not terminated and horizon > 1 and elapsed < env.max_episode_steps:
            after = _capture(env, scratch, elapsed)
            res = env.rollout(policy, seed=None, start=after, rng=np.random.default_rng(seed), max_steps=horizon - 1,
                              remove_survival_bonus=remove_survival_bonus, record=True)
            rewards.extend(res.trajectory.rewards.tolist())
            lengths[k] += res.length
        Q[k] = _discounted_sum(rewards, gamma)
    return Q, lengths


@dataclass(frozen=True, kw_only=True, eq=False)
class Vine:
    """The simulated vine of one batch (:meth:`MujocoVineSampler.vine`), before assembly.

    Attributes (``tau`` trunk episodes, ``n`` rollout states, ``K`` actions per state):
        key: the integer every seed of the batch derives from (module docstring).
        trunk: the ``tau`` trunk :class:`~trustopt.envs.Trajectory` records.
        trunk_returns: ``(tau,)`` training returns of the trunk episodes.
        episode, step: ``(n,)`` the trunk episode and step of each rollout state ``s_n``.
        obs: ``(n, obs_dim)`` the raw observations ``s_n``.
        actions: ``(n, K, act_dim)`` the sampled (unclipped) first actions ``a_{n,k}``.
        q: ``(n, K)`` ``Q_hat(s_n, a_{n,k})``; lengths: ``(n, K)`` branch lengths.
        replay_steps: simulator steps spent replaying trunk episodes to the rollout states.
    """

    key: int
    trunk: tuple
    trunk_returns: np.ndarray
    episode: np.ndarray
    step: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    q: np.ndarray
    lengths: np.ndarray
    replay_steps: int

    @property
    def trunk_steps(self) -> int:
        return int(sum(tr.obs.shape[0] for tr in self.trunk))

    @property
    def n_samples(self) -> int:
        """Every simulator step of the batch: trunk + replay + branches."""
        return self.trunk_steps + int(self.replay_steps) + int(self.lengths.sum())


def _finite(trajs: list[Trajectory]) -> bool:
    return all(np.all(np.isfinite(tr.obs)) and np.all(np.isfinite(tr.rewards)) for tr in trajs)


@dataclass(frozen=True, kw_only=True, eq=False)
class MujocoVineSampler(GaussianEnvSampler):
    """Vine sampling of a Gaussian linear policy on a MuJoCo environment (TRPO sec. 5.2; module
    docstring for the estimator, its weights and its seeds).

    Hyperparameters (defaults: TRPO App. E Table 2, vine column, where it gives one), with those
    of :class:`~trustopt.envs.pg_sampler.GaussianEnvSampler` (env, on the fast path: state
    save/restore; gamma: discount of ``Q_hat``, 0.99, the single path's; obs_norm: the
    normalizer is merged with the TRUNK observations after the batch; remove_survival_bonus;
    backend: where the TRUNK episodes run, replays and branches always run in this process):
        n_trunk_episodes: trunk episodes per batch (``>= 2``, for ``sigma_hat``; default 16, the
            paper's "num. rollouts for sampling").
        n_rollout_states: rollout states per batch (``>= 1``; default 125: the paper's Swimmer
            "Q-values per batch" 500 over 4 actions; Hopper/Walker used 2500 with neural networks).
        n_actions_per_state: ``K`` actions (branches) per rollout state (``>= 2``, for the
            leave-one-out baseline; default 4, the paper's "rollouts per state").
        rollout_horizon: maximum branch length ``H`` (``>= 1``; default 100, the paper's Hopper and
            Walker "rollout length"; Swimmer 50).
    """

    n_trunk_episodes: int = 16
    n_rollout_states: int = 125
    n_actions_per_state: int = 4
    rollout_horizon: int = 100

    def __post_init__(self):
        super().__post_init__()
        check_int(self.n_trunk_episodes, "n_trunk_episodes", 2)
        check_int(self.n_rollout_states, "n_rollout_states", 1)
        check_int(self.n_actions_per_state, "n_actions_per_state", 2)
        check_int(self.rollout_horizon, "rollout_horizon", 1)
        if not cached_env(self.env).fast:
            from trustopt.envs import SUPPORTED_ENV_IDS

            raise ValidationError(f"env: the vine sampler restores saved simulator states, which needs trustopt's "
                                  f"fast MuJoCo path ({', '.join(SUPPORTED_ENV_IDS)}, with fast=True and v5 "
                                  f"keywords); {self.env.env_id} runs through Gymnasium")

    # --- simulation ------------------------------------------------------------------------------
    def vine(self, theta, rng: np.random.Generator, carry: PGCarry | None = None) -> Vine:
        """Simulate the trunk, the rollout set and the branches at ``theta`` (draws the batch's
        ``key`` from ``rng``, as :meth:`sample` does). Stops after the trunk (no rollout states,
        ``q`` empty) when a trunk observation or reward is not finite."""
        pol = self.policy(theta, carry)
        key = int(rng.integers(0, 2**63 - 1))
        trunk = self._trunk(pol, key)
        returns = np.array([r.train_return for r in trunk])
        trajs = [r.trajectory for r in trunk]
        n, K, m = self.n_rollout_states, self.n_actions_per_state, self.act_dim
        if not _finite(trajs):
            e = np.zeros(0, dtype=np.int64)
            return Vine(key=key, trunk=tuple(trajs), trunk_returns=returns, episode=e, step=e,
                        obs=np.zeros((0, self.obs_dim)), actions=np.zeros((0, K, m)), q=np.zeros((0, K)),
                        lengths=np.zeros((0, K), dtype=np.int64), replay_steps=0)
        lengths = np.array([tr.obs.shape[0] for tr in trajs])
        flat = np.random.default_rng(_seed_sequence(key, _ROLLOUT_SET)).integers(0, int(lengths.sum()), n)
        episode = np.searchsorted(np.cumsum(lengths), flat, side="right")
        step = flat - (np.cumsum(lengths) - lengths)[episode]
        obs = np.stack([trajs[j].obs[t] for j, t in zip(episode, step)])
        actions = np.zeros((n, K, m))
        q = np.zeros((n, K))
        blen = np.zeros((n, K), dtype=np.int64)
        env = cached_env(self.env)
        low, high = env.action_low, env.action_high
        sigma = pol.sigma
        replay = 0
        root = after = None  # snapshot buffers, allocated once per batch (see _capture)
        for j in np.unique(episode):
            tr = trajs[j]
            env.reset(seed=episode_seeds(key, j)[0])
            if root is None:
                root, after = env.get_state(), env.get_state()
            t = 0
            for target in np.unique(step[episode == j]):
                while t < target:
                    env.step(np.clip(tr.actions[t], low, high))
                    t += 1
                    replay += 1
                snap = _capture(env, root, t)
                if not np.array_equal(snap.obs, tr.obs[t]):  # pragma: no cover - a broken simulator contract
                    raise RuntimeError(f"vine: replaying trunk episode {j} did not reproduce step {t} bit for bit")
                for i in np.flatnonzero((episode == j) & (step == target)):
                    eps = np.random.default_rng(_seed_sequence(key, _FIRST_ACTIONS, i)).standard_normal((K, m))
                    actions[i] = pol.mean_action(snap.obs) + sigma * eps
                    seed = int(_seed_sequence(key, _CONTINUATION, i).generate_state(1)[0])
                    q[i], blen[i] = branch_returns(env, pol, snap, actions[i], seed=seed, horizon=self.rollout_horizon,
                                                   gamma=float(self.gamma),
                                                   remove_survival_bonus=self.remove_survival_bonus, scratch=after)
                env.set_state(snap)
        return Vine(key=key, trunk=tuple(trajs), trunk_returns=returns, episode=episode, step=step, obs=obs,
                    actions=actions, q=q, lengths=blen, replay_steps=replay)

    def _trunk(self, pol: GaussianLinearPolicy, key: int) -> list:
        job = _EpisodeJob(env=self.env, policy=pol, key=key, remove_survival_bonus=self.remove_survival_bonus)
        bk = self.backend
        if bk is None or bk.n_workers == 1:
            return [_episode(job, j) for j in range(self.n_trunk_episodes)]
        return list(bk.map(_episode, job, range(self.n_trunk_episodes)))

    # --- the batch -------------------------------------------------------------------------------
    def sample(self, policy, theta, rng: np.random.Generator, baseline: PGCarry | None = None) -> Batch:
        carry = self._check_sample(policy, theta, baseline)
        v = self.vine(theta, rng, carry)
        return self.assemble(policy, theta, carry, v)

    def assemble(self, policy, theta, carry: PGCarry | None, v: Vine) -> Batch:
        """The :class:`~trustopt.core.types.Batch` of the vine ``v`` (module docstring: pairs,
        weights, leave-one-out advantages); an empty batch with ``eta = -inf`` (and the carry
        unchanged) when anything simulated is not finite, as the single path."""
        mean, std = self.normalizer(carry)
        tau = len(v.trunk)
        raw = np.concatenate([tr.obs for tr in v.trunk])
        N = raw.shape[0]
        returns = v.trunk_returns
        n, K = v.q.shape
        finite = bool(_finite(list(v.trunk)) and n == self.n_rollout_states and np.all(np.isfinite(v.q)))
        if not finite:
            return Batch(theta=theta, states=np.zeros((0, self.obs_dim)), actions=np.zeros((0, self.act_dim)),
                         weights=np.zeros(0), adv=np.zeros(0), logp_old=np.zeros(0), returns=returns,
                         eta=-math.inf, eta_std=math.nan, n_samples=v.n_samples, exact=False, baseline=carry)
        rms = RunningMeanStd.empty(self.obs_dim) if carry is None else carry.obs_rms
        new_carry = PGCarry(obs_rms=rms.merge(RunningMeanStd.from_batch(raw)),
                            value=None if carry is None else carry.value)
        z = np.repeat((v.obs - mean) / std, K, axis=0)
        a = v.actions.reshape(n * K, self.act_dim)
        q = v.q
        adv = q - (q.sum(axis=1, keepdims=True) - q) / (K - 1)  # Q_k minus the mean of the other K - 1
        return Batch(
            theta=theta, states=readonly(z), actions=a, weights=np.full(n * K, N / (tau * n * K)), adv=adv.ravel(),
            logp_old=policy.log_prob(theta, z, a), returns=returns, eta=float(np.mean(returns)),
            eta_std=float(np.std(returns, ddof=1)), n_samples=v.n_samples, exact=False, baseline=new_carry,
        )
