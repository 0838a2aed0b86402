"""trustopt.envs: the fast path equals Gymnasium step by step; rollouts equal an independent loop.

The reference everywhere is Gymnasium itself (``gymnasium.make(env_id)``, its wrappers, its
``step``), driven by code written here, not by trustopt. Equality is exact (``==`` on float64,
``np.array_equal`` on observations): the fast path performs the same floating-point operations
in the same order, so any difference, even one ulp, is a bug. The one tolerance in this file is
for observation statistics, which the reference computes with a different formula
(``np.var``): there the bound is the summation round-off, ``T * eps * max|s|^2``.
"""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")
pytest.importorskip("mujoco")

from trustopt import ValidationError  # noqa: E402
from trustopt.envs import (  # noqa: E402
    SUPPORTED_ENV_IDS,
    EnvSpec,
    GaussianLinearPolicy,
    LinearPolicy,
    make_env,
    rollout,
)
from trustopt.envs import _mujoco_warnings_as_python_warnings  # noqa: E402
from trustopt.envs._registry import V5_DEFAULTS  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def _gym(env_id, **kwargs):
    with warnings.catch_warnings(), _mujoco_warnings_as_python_warnings(env_id):  # no MUJOCO_LOG.TXT
        warnings.simplefilter("ignore")
        return gymnasium.make(env_id, **kwargs)


def _lockstep(env_id, n_steps, *, seed, max_episode_steps, **kwargs):
    """Drive trustopt's env and Gymnasium's with the same seeds and actions; assert exact equality.

    Actions are uniform on 1.2x the action box (out-of-range actions exercise the control cost
    of the unclipped action). After an episode ends both are reset with ``seed=None``, which
    continues each one's generator: the reset noise stream must match too. Returns the number
    of terminations and truncations seen (so a caller can check the test was not vacuous).
    """
    ours = make_env(env_id, max_episode_steps=max_episode_steps, **kwargs)
    ref = _gym(env_id, max_episode_steps=max_episode_steps, **kwargs)
    rng = np.random.default_rng(seed)
    obs = ours.reset(seed=seed)
    ref_obs, _ = ref.reset(seed=seed)
    assert obs.dtype == np.float64 and np.array_equal(obs, ref_obs)
    n_term = n_trunc = 0
    for t in range(n_steps):
        a = rng.uniform(1.2 * ours.action_low, 1.2 * ours.action_high)
        obs, r, term, trunc = ours.step(a)
        ref_obs, ref_r, ref_term, ref_trunc, _ = ref.step(a)
        assert np.array_equal(obs, ref_obs), (env_id, t, np.max(np.abs(obs - ref_obs)))
        assert r == float(ref_r), (env_id, t, r, ref_r)
        assert (term, trunc) == (bool(ref_term), bool(ref_trunc)), (env_id, t)
        if term or trunc:
            n_term += term
            n_trunc += trunc
            obs = ours.reset()
            ref_obs, _ = ref.reset()
            assert np.array_equal(obs, ref_obs), (env_id, "reset", t)
    ours.close()
    ref.close()
    return ours, n_term, n_trunc


@pytest.mark.parametrize("env_id", SUPPORTED_ENV_IDS)
def test_fast_path_equals_gymnasium_step_by_step_default_kwargs(env_id):
    env, n_term, n_trunc = _lockstep(env_id, 160, seed=7, max_episode_steps=40)
    assert env.fast
    assert n_term + n_trunc >= 2  # episodes ended (and resets compared) at least twice
    if env_id in ("Swimmer-v5", "HalfCheetah-v5"):
        assert n_trunc >= 3 and n_term == 0  # these never terminate; the TimeLimit truncates
    if env_id in ("Hopper-v5", "Walker2d-v5", "Humanoid-v5", "InvertedPendulum-v5", "InvertedDoublePendulum-v5"):
        assert n_term >= 1  # random actions make them fall: the healthy checks were exercised


NON_DEFAULT_KWARGS = [
    ("Swimmer-v5", dict(exclude_current_positions_from_observation=False, reset_noise_scale=0.5,
                        ctrl_cost_weight=0.3, forward_reward_weight=2.0)),
    ("HalfCheetah-v5", dict(frame_skip=3, ctrl_cost_weight=0.0, exclude_current_positions_from_observation=False)),
    ("Hopper-v5", dict(terminate_when_unhealthy=False, healthy_reward=2.0, ctrl_cost_weight=0.05,
                       exclude_current_positions_from_observation=False, healthy_state_range=(-1.5, 1.5))),
    ("Hopper-v5", dict(healthy_z_range=(0.9, 1.5), healthy_angle_range=(-0.05, 0.05), reset_noise_scale=0.02)),
    ("Walker2d-v5", dict(healthy_z_range=(1.1, 2.0), forward_reward_weight=2.0, terminate_when_unhealthy=False)),
    ("Walker2d-v5", dict(xml_file="walker2d.xml")),  # v4's model: the feet's frictions 0.9 and 1.9
    ("Ant-v5", dict(include_cfrc_ext_in_observation=False, main_body="torso", contact_force_range=(-0.3, 0.2),
                    healthy_z_range=(0.45, 1.0), contact_cost_weight=0.1, ctrl_cost_weight=0.1)),
    ("Ant-v5", dict(exclude_current_positions_from_observation=False, terminate_when_unhealthy=False,
                    healthy_reward=3.0, healthy_z_range=(0.5, 1.0))),
    ("Humanoid-v5", dict(include_cinert_in_observation=False, include_cvel_in_observation=False,
                         contact_cost_range=(0.0, 1e-6), contact_cost_weight=1e-3,
                         exclude_current_positions_from_observation=False)),
    ("Humanoid-v5", dict(include_qfrc_actuator_in_observation=False, include_cfrc_ext_in_observation=False,
                         terminate_when_unhealthy=False, healthy_reward=1.0, forward_reward_weight=3.0)),
    ("InvertedPendulum-v5", dict(reset_noise_scale=0.1)),
    ("InvertedDoublePendulum-v5", dict(healthy_reward=3.0, reset_noise_scale=0.3)),
]


@pytest.mark.parametrize("env_id, kwargs", NON_DEFAULT_KWARGS)
def test_fast_path_equals_gymnasium_with_non_default_kwargs(env_id, kwargs):
    env, n_term, n_trunc = _lockstep(env_id, 80, seed=3, max_episode_steps=25, **kwargs)
    assert env.fast
    assert n_term + n_trunc >= 1


@pytest.mark.parametrize("env_id", SUPPORTED_ENV_IDS)
def test_v5_defaults_and_time_limit_are_gymnasiums(env_id):
    """The defaults the fast path assumes are the ones Gymnasium's constructor stored."""
    ref = _gym(env_id)
    u = ref.unwrapped
    for name, value in V5_DEFAULTS[env_id].items():
        assert getattr(u, "_" + name) == value, (env_id, name)
    env = make_env(env_id)
    assert env.max_episode_steps == ref.spec.max_episode_steps == 1000
    assert env.obs_dim == ref.observation_space.shape[0]
    assert np.array_equal(env.action_low, ref.action_space.low) and np.array_equal(env.action_high, ref.action_space.high)


def _reference_rollout(env_id, policy, *, seed, horizon, rng=None, remove_bonus=False, **kwargs):
    """An independent implementation: Gymnasium's env and the policy formula written out plainly."""
    env = _gym(env_id, max_episode_steps=horizon, **kwargs)
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    obs, _ = env.reset(seed=seed)
    eps = rng.standard_normal((horizon, len(low))) if rng is not None else None
    seen, actions, rewards, env_rewards = [], [], [], []
    for t in range(horizon):
        seen.append(obs)
        z = (obs - policy.mean) / policy.std
        if eps is None:
            a = policy.W @ z
        else:
            a = (policy.W @ z + policy.b) + policy.sigma * eps[t]
        actions.append(a)
        obs, r, term, trunc, info = env.step(np.clip(a, low, high))
        env_rewards.append(float(r))
        rewards.append(float(r) - info.get("reward_survive", 0.0) if remove_bonus else float(r))
        if term or trunc:
            break
    env.close()
    return dict(obs=np.array(seen), actions=np.array(actions), rewards=np.array(rewards),
                env_rewards=np.array(env_rewards), final_obs=obs, terminated=bool(term), truncated=bool(trunc))


def _random_linear(env, rng, scale=1.0):
    W = rng.normal(scale=scale / np.sqrt(env.obs_dim), size=(env.act_dim, env.obs_dim))
    mean = rng.normal(scale=0.1, size=env.obs_dim)
    std = np.exp(rng.normal(scale=0.3, size=env.obs_dim))
    return W, mean, std


@pytest.mark.parametrize("env_id", SUPPORTED_ENV_IDS)
def test_deterministic_rollout_equals_independent_gymnasium_loop(env_id):
    env = make_env(env_id, max_episode_steps=60)
    W, mean, std = _random_linear(env, np.random.default_rng(11))
    policy = LinearPolicy(W=W, mean=mean, std=std)
    remove = env_id in ("Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5")
    res = env.rollout(policy, seed=5, remove_survival_bonus=True, record=True)
    ref = _reference_rollout(env_id, policy, seed=5, horizon=60, remove_bonus=remove)
    T = len(ref["env_rewards"])
    assert res.length == T and res.trajectory.obs.shape == (T, env.obs_dim)
    assert (res.terminated, res.truncated) == (ref["terminated"], ref["truncated"])
    assert res.terminated or res.truncated
    assert np.array_equal(res.trajectory.obs, ref["obs"])
    assert np.array_equal(res.trajectory.actions, ref["actions"])
    assert np.array_equal(res.trajectory.env_rewards, ref["env_rewards"])
    assert np.array_equal(res.trajectory.rewards, ref["rewards"])
    assert np.array_equal(res.trajectory.final_obs, ref["final_obs"])
    assert res.env_return == math.fsum(ref["env_rewards"])
    assert res.train_return == math.fsum(ref["rewards"])
    # observation statistics of s_0..s_{T-1}: against numpy's mean / var (different algorithm),
    # to the summation round-off T * eps * max|s|^2
    X = ref["obs"]
    tol = 4 * T * np.finfo(float).eps * (1.0 + np.max(np.abs(X))) ** 2
    assert res.obs_stats.count == T
    np.testing.assert_allclose(res.obs_stats.mean, X.mean(axis=0), rtol=0, atol=tol)
    np.testing.assert_allclose(res.obs_stats.var, X.var(axis=0), rtol=0, atol=tol)


@pytest.mark.parametrize("env_id", ["Hopper-v5", "HalfCheetah-v5", "Reacher-v5"])
def test_gaussian_rollout_equals_independent_gymnasium_loop(env_id):
    env = make_env(env_id, max_episode_steps=50)
    W, mean, std = _random_linear(env, np.random.default_rng(2), scale=0.3)
    log_std = np.random.default_rng(3).normal(scale=0.5, size=env.act_dim) - 0.5
    policy = GaussianLinearPolicy(W=W, b=np.full(env.act_dim, 0.1), log_std=log_std, mean=mean, std=std)
    res = env.rollout(policy, seed=9, rng=np.random.default_rng(4))
    ref = _reference_rollout(env_id, policy, seed=9, horizon=50, rng=np.random.default_rng(4))
    assert res.trajectory is not None  # recorded by default for a Gaussian policy
    assert np.array_equal(res.trajectory.actions, ref["actions"])
    assert np.array_equal(res.trajectory.obs, ref["obs"])
    assert np.array_equal(res.trajectory.env_rewards, ref["env_rewards"])
    assert (res.terminated, res.truncated) == (ref["terminated"], ref["truncated"])
    # the unclipped samples were recorded: some fall outside the box (sigma is large enough)
    assert np.any(np.abs(res.trajectory.actions) > env.action_high)


def test_unsupported_ids_and_kwargs_fall_back_to_gymnasium_with_the_same_results():
    reacher = make_env("Reacher-v5", max_episode_steps=30)
    assert not reacher.fast
    _lockstep("Reacher-v5", 70, seed=1, max_episode_steps=30)
    # a keyword the fast path does not reproduce -> fallback, same interface and results
    hop = make_env("Hopper-v5", render_mode=None, max_episode_steps=40)
    assert not hop.fast
    # the fallback is a second implementation: fast and forced-Gymnasium rollouts agree exactly
    for env_id in ("Hopper-v5", "Ant-v5"):
        fast, slow = make_env(env_id, max_episode_steps=40), make_env(env_id, max_episode_steps=40, fast=False)
        assert fast.fast and not slow.fast
        W, mean, std = _random_linear(fast, np.random.default_rng(0))
        pol = LinearPolicy(W=W, mean=mean, std=std)
        for seed in (0, 1):
            a = fast.rollout(pol, seed=seed, remove_survival_bonus=True, record=True)
            b = slow.rollout(pol, seed=seed, remove_survival_bonus=True, record=True)
            assert (a.train_return, a.env_return, a.length, a.terminated, a.truncated) == (
                b.train_return, b.env_return, b.length, b.terminated, b.truncated)
            assert np.array_equal(a.trajectory.rewards, b.trajectory.rewards)
            assert np.array_equal(a.obs_stats.M2, b.obs_stats.M2)


@pytest.mark.parametrize("env_id, bonus", [("Hopper-v5", 1.0), ("Walker2d-v5", 1.0), ("Ant-v5", 1.0),
                                           ("Humanoid-v5", 5.0)])
def test_survival_bonus_removed_only_from_the_training_reward(env_id, bonus):
    env = make_env(env_id, max_episode_steps=40)
    pol = LinearPolicy(W=np.zeros((env.act_dim, env.obs_dim)))
    kept = env.rollout(pol, seed=0, record=True)
    removed = env.rollout(pol, seed=0, remove_survival_bonus=True, record=True)
    assert kept.env_return == removed.env_return == kept.train_return
    # v5 pays the bonus while healthy: every step but a terminating one
    paid = removed.length - int(removed.terminated)
    assert paid >= 1
    np.testing.assert_array_equal(kept.trajectory.rewards - removed.trajectory.rewards,
                                  [bonus] * paid + [0.0] * (removed.length - paid))


@pytest.mark.parametrize("env_id", ["Swimmer-v5", "InvertedDoublePendulum-v5"])
def test_survival_bonus_kept_where_it_is_the_task_or_absent(env_id):
    env = make_env(env_id, max_episode_steps=30)
    pol = LinearPolicy(W=np.zeros((env.act_dim, env.obs_dim)))
    a = env.rollout(pol, seed=0)
    b = env.rollout(pol, seed=0, remove_survival_bonus=True)
    assert a.train_return == b.train_return == b.env_return


def test_reset_seeding_truncation_and_spec():
    env = make_env("HalfCheetah-v5")
    o1, o2, o3 = env.reset(seed=4), env.reset(seed=4), env.reset(seed=5)
    assert np.array_equal(o1, o2) and not np.array_equal(o1, o3)
    pol = LinearPolicy(W=np.random.default_rng(0).normal(size=(env.act_dim, env.obs_dim)) * 0.1)
    r = env.rollout(pol, seed=1, max_steps=25)
    assert (r.length, r.terminated, r.truncated, r.trajectory) == (25, False, True, None)
    again = env.rollout(pol, seed=1, max_steps=25)
    assert (again.train_return, again.length) == (r.train_return, r.length)
    assert np.array_equal(again.obs_stats.mean, r.obs_stats.mean)
    spec = EnvSpec(env_id="HalfCheetah-v5", kwargs={"ctrl_cost_weight": 0.2}, max_episode_steps=30)
    spec2 = pickle.loads(pickle.dumps(spec))
    assert spec2 == spec
    via_module = rollout(spec2, pol, seed=1)
    direct = spec.make().rollout(pol, seed=1)
    assert via_module.length == 30 and via_module.truncated
    assert via_module.train_return == direct.train_return
    assert np.array_equal(via_module.obs_stats.M2, direct.obs_stats.M2)
    assert via_module.train_return != r.train_return  # the kwargs reached the environment


def test_validation_errors_name_the_argument():
    with pytest.raises(ValidationError, match=r"Hoper-v5.*Did you mean 'Hopper-v5'.*Swimmer-v5"):
        make_env("Hoper-v5")
    with pytest.raises(ValidationError, match="env_id"):
        EnvSpec(env_id="Swimer-v5")
    with pytest.raises(ValidationError, match="kwargs"):
        make_env("Hopper-v5", no_such_keyword=1.0)
    with pytest.raises(ValidationError, match="Box"):
        make_env("CartPole-v1")
    # values Gymnasium would take unchecked and fail on later (or never): named before it sees them
    with pytest.raises(ValidationError, match=r"^kwargs: ctrl_cost_weight: expected a finite number"):
        make_env("Swimmer-v5", ctrl_cost_weight="0.1")
    with pytest.raises(ValidationError, match=r"^kwargs: frame_skip: expected an integer >= 1, got -2"):
        make_env("Swimmer-v5", frame_skip=-2)
    with pytest.raises(ValidationError, match=r"^kwargs: healthy_angle_range: expected an interval"):
        make_env("Walker2d-v5", healthy_angle_range=(1.0, -1.0))
    with pytest.raises(ValidationError, match="env_id.*Hopper-v2.*cannot be built"):
        make_env("Hopper-v2")  # registered, but needs mujoco-py
    with pytest.raises(ValidationError, match="max_episode_steps"):
        make_env("Hopper-v5", max_episode_steps=0)
    import gymnasium

    if "TrustoptTestNoTimeLimit-v0" not in gymnasium.envs.registry:
        gymnasium.register("TrustoptTestNoTimeLimit-v0", entry_point="gymnasium.envs.classic_control:PendulumEnv")
    with pytest.raises(ValidationError, match=r"^max_episode_steps: TrustoptTestNoTimeLimit-v0 has no registered time "
                                              r"limit; pass one \(max_episode_steps=N; trustopt train: --set "):
        make_env("TrustoptTestNoTimeLimit-v0")
    assert make_env("TrustoptTestNoTimeLimit-v0", max_episode_steps=5).max_episode_steps == 5
    env = make_env("Hopper-v5", max_episode_steps=10)
    pol = LinearPolicy(W=np.zeros((env.act_dim, env.obs_dim)))
    with pytest.raises(ValidationError, match="policy"):
        env.rollout(LinearPolicy(W=np.zeros((2, 3))), seed=0)
    with pytest.raises(ValidationError, match="seed"):
        env.rollout(pol, seed=-1)
    with pytest.raises(ValidationError, match="max_steps"):
        env.rollout(pol, seed=0, max_steps=0)
    with pytest.raises(ValidationError, match="rng"):
        env.rollout(GaussianLinearPolicy(W=pol.W), seed=0)
    with pytest.raises(ValidationError, match="std"):
        LinearPolicy(W=np.zeros((1, 2)), std=np.array([1.0, 0.0]))
    with pytest.raises(ValidationError, match="mean"):
        LinearPolicy(W=np.zeros((1, 2)), mean=np.zeros(3))
    with pytest.raises(ValidationError, match="log_std"):
        GaussianLinearPolicy(W=np.zeros((2, 2)), log_std=np.zeros(3))
    fresh = make_env("Hopper-v5")
    with pytest.raises(RuntimeError, match="reset"):
        fresh.step(np.zeros(fresh.act_dim))
    fresh.reset(seed=0)
    with pytest.raises(ValidationError, match="action"):
        fresh.step(np.zeros(fresh.act_dim + 1))


@pytest.mark.parametrize("env_id", ["Hopper-v5", "Ant-v5", "Humanoid-v5", "InvertedDoublePendulum-v5"])
def test_state_snapshot_restores_the_continuation_bit_for_bit(env_id):
    env = make_env(env_id, max_episode_steps=1000, terminate_when_unhealthy=False) if env_id != (
        "InvertedDoublePendulum-v5") else make_env(env_id)
    W, mean, std = _random_linear(env, np.random.default_rng(1), scale=0.3)
    pol = LinearPolicy(W=W, mean=mean, std=std)
    full = env.rollout(pol, seed=2, max_steps=30, record=True)
    k = min(6, full.length - 1)
    obs = env.reset(seed=2)
    for t in range(k):
        obs, *_ = env.step(np.clip(pol(obs), env.action_low, env.action_high))
    snap = env.get_state()
    # a branch from the snapshot is the tail of the full rollout (TRPO vine)
    tail = env.rollout(pol, seed=None, start=snap, max_steps=30 - k, record=True)
    assert tail.length == full.length - k
    assert np.array_equal(tail.trajectory.obs, full.trajectory.obs[k:])
    assert np.array_equal(tail.trajectory.env_rewards, full.trajectory.env_rewards[k:])
    # and again after other steps disturbed the simulator: restore, same actions, same outputs
    rng = np.random.default_rng(0)
    acts = rng.uniform(env.action_low, env.action_high, size=(8, env.act_dim))
    env.set_state(snap)
    first = [env.step(a) for a in acts]
    env.set_state(snap)
    second = [env.step(a) for a in acts]
    for (o1, r1, te1, tr1), (o2, r2, te2, tr2) in zip(first, second):
        assert np.array_equal(o1, o2) and (r1, te1, tr1) == (r2, te2, tr2)
    with pytest.raises(ValidationError, match="seed"):
        env.rollout(pol, seed=0, start=snap)
    other = make_env("Swimmer-v5")
    with pytest.raises(ValidationError, match="state"):
        other.set_state(snap)
