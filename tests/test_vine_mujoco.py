"""TRPO's vine sampling on MuJoCo (TRPO sec. 5.2; trustopt.envs.vine_sampler.MujocoVineSampler).

References used here, independent of the sampler's code: the environment's own reset/step loop
(replaying recorded actions, computing the Gaussian actions and the discounted sums by hand), the
single-path sampler's policy gradient (a second estimator of the same expectation), and the
documented seed derivation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import trustopt
from trustopt import tabular
from trustopt._validation import ValidationError
from trustopt.algorithms import trpo
from trustopt.components.flat_policies import FlatLinearGaussian
from trustopt.components.surrogates import ImportanceSampled
from trustopt.envs import EnvSpec, GaussianLinearPolicy, LinearPolicy, make_env
from trustopt.envs.pg_sampler import MujocoEpisodeSampler, PGCarry
from trustopt.envs.vine_sampler import MujocoVineSampler, branch_returns
from trustopt.estimators import RunningMeanStd
from trustopt.policies import LinearGaussian

IP = "InvertedPendulum-v5"


def _gaussian(env, rng, scale=0.3, log_std=-1.0):
    W = rng.normal(scale=scale / np.sqrt(env.obs_dim), size=(env.act_dim, env.obs_dim))
    return GaussianLinearPolicy(W=W, b=rng.normal(scale=0.1, size=env.act_dim), log_std=log_std)


# ----------------------------------------------------------------------------- simulator snapshots


@pytest.mark.parametrize("env_id", ["Hopper-v5", "HalfCheetah-v5"])
def test_snapshot_mid_episode_reproduces_the_continuation_and_the_time_limit(env_id):
    """Restore a get_state() snapshot taken at step k: the same actions give the same observations,
    rewards and flags bit for bit, including the TimeLimit truncation exactly max_episode_steps - k
    steps later (the step count travels with the snapshot), even after other episodes disturbed the
    simulator; a rollout from the snapshot is the tail of the full rollout."""
    T, k = 12, 5
    env = make_env(env_id, max_episode_steps=T)
    pol = _gaussian(env, np.random.default_rng(1))
    full = env.rollout(pol, seed=0, rng=np.random.default_rng(2), record=True)
    assert full.length == T and full.truncated and not full.terminated  # the time limit ends it
    acts = np.clip(full.trajectory.actions, env.action_low, env.action_high)
    obs = env.reset(seed=0)
    for t in range(k):  # the vine's replay: reset seed + recorded actions give the recorded states
        assert np.array_equal(obs, full.trajectory.obs[t])
        obs, *_ = env.step(acts[t])
    snap = env.get_state()
    assert snap.elapsed == k and np.array_equal(snap.obs, full.trajectory.obs[k])

    def continuation():
        return [env.step(a) for a in acts[k:]]

    first = continuation()
    flags = [(te, tr) for _, _, te, tr in first]
    assert flags == [(False, False)] * (T - k - 1) + [(False, True)]  # truncated exactly at step T
    assert np.array_equal(np.array([o for o, *_ in first[:-1]]), full.trajectory.obs[k + 1:])
    assert np.array_equal(first[-1][0], full.trajectory.final_obs)
    assert np.array_equal(np.array([r for _, r, *_ in first]), full.trajectory.env_rewards[k:])
    env.reset(seed=7)  # disturb: another episode, other actions
    for a in np.random.default_rng(3).uniform(env.action_low, env.action_high, size=(9, env.act_dim)):
        env.step(a)
    assert np.array_equal(env.set_state(snap), snap.obs)
    second = continuation()
    for (o1, r1, te1, tr1), (o2, r2, te2, tr2) in zip(first, second):
        assert o1.tobytes() == o2.tobytes() and (r1, te1, tr1) == (r2, te2, tr2)
    det = LinearPolicy(W=pol.W)
    whole = env.rollout(det, seed=0, record=True)
    env.reset(seed=0)
    for t in range(k):
        env.step(np.clip(det(whole.trajectory.obs[t]), env.action_low, env.action_high))
    tail = env.rollout(det, seed=None, start=env.get_state(), record=True)
    assert tail.length == T - k and tail.truncated  # the time limit counts from the snapshot's step
    assert np.array_equal(tail.trajectory.obs, whole.trajectory.obs[k:])
    assert np.array_equal(tail.trajectory.env_rewards, whole.trajectory.env_rewards[k:])


def test_branches_use_common_random_numbers():
    """K identical first actions give K identical branches (bit for bit): the continuation noise is
    common. Another continuation seed gives another return; so does another first action."""
    env = make_env("Hopper-v5", max_episode_steps=200)
    pol = _gaussian(env, np.random.default_rng(4), log_std=-0.5)
    env.reset(seed=1)
    for _ in range(3):
        env.step(np.zeros(env.act_dim))
    snap = env.get_state()
    a = np.random.default_rng(5).normal(size=env.act_dim)
    kw = dict(horizon=25, gamma=0.99, remove_survival_bonus=True)
    Q, L = branch_returns(env, pol, snap, np.tile(a, (3, 1)), seed=11, **kw)
    assert Q[0] == Q[1] == Q[2] and L[0] == L[1] == L[2] and L[0] > 1
    Q2, _ = branch_returns(env, pol, snap, a[None, :], seed=12, **kw)
    assert Q2[0] != Q[0]
    Q3, _ = branch_returns(env, pol, snap, np.stack([a, a + 0.3]), seed=11, **kw)
    assert Q3[0] == Q[0] and Q3[1] != Q[0]  # branch 0 does not depend on the other branches


# ----------------------------------------------------------------------------- the batch


def _reference_episode(env, pol, reset_seed, noise_seed):
    """A trunk episode by hand: a_t = (W z_t + b) + sigma * eps_t, eps the (T, m) block of the noise seed."""
    eps = np.random.default_rng(noise_seed).standard_normal((env.max_episode_steps, env.act_dim))
    obs = env.reset(seed=reset_seed)
    O, A = [], []
    while True:
        a = pol(obs, eps[len(A)])
        O.append(obs), A.append(a)
        obs, _, term, trunc = env.step(np.clip(a, env.action_low, env.action_high))
        if term or trunc:
            return np.array(O), np.array(A)


def _bonus_free(env_id, reward, terminated):
    """Hopper-v5 pays healthy_reward = 1 at every step that ends healthy, i.e. not terminated
    (terminate_when_unhealthy); InvertedPendulum pays no survival bonus to remove."""
    return reward - (1.0 if env_id == "Hopper-v5" and not terminated else 0.0)


@pytest.mark.parametrize("env_id,T,H", [(IP, 6, 40), ("Hopper-v5", 30, 4)])  # see the `ends` check
def test_vine_batch_against_an_independent_resimulation(env_id, T, H):
    """Every field of the batch recomputed from the documented seeds on a separate environment
    with reset/step only: the trunk episodes, the rollout states (replayed from the reset seed),
    the first actions, each branch's Q_hat = sum_l gamma^l r'_l (survival bonus removed; cut by
    termination, the time limit T or the horizon H), the leave-one-out advantages, the weights
    (N / tau) / (n K), logp_old, eta, n_samples and the merged normalizer."""
    spec = EnvSpec(env_id=env_id, max_episode_steps=T)
    tau, n, K, gamma = 3, 7, 3, 0.9
    s = MujocoVineSampler(env=spec, n_trunk_episodes=tau, n_rollout_states=n, n_actions_per_state=K,
                          rollout_horizon=H, gamma=gamma)
    env = make_env(env_id, max_episode_steps=T)  # not the sampler's cached instance
    d, m = env.obs_dim, env.act_dim
    policy = FlatLinearGaussian(LinearGaussian(d, m))
    rng = np.random.default_rng(8)
    theta = rng.normal(scale=0.3, size=policy.n_params)
    theta[-m:] = -0.7
    mean, std = rng.normal(scale=0.1, size=d), np.exp(rng.normal(scale=0.3, size=d))
    carry = PGCarry(obs_rms=RunningMeanStd(count=10, mean=mean, M2=std**2 * 10))
    batch = s.sample(policy, theta, np.random.default_rng(9), carry)
    key = int(np.random.default_rng(9).integers(0, 2**63 - 1))
    pol = GaussianLinearPolicy(W=theta[:m * d].reshape(m, d), b=theta[m * d:m * d + m], log_std=theta[-m:],
                               mean=mean, std=std)

    trunk = []
    for j in range(tau):
        rs, ns = np.random.SeedSequence([key, j]).generate_state(2, dtype=np.uint32)
        trunk.append((int(rs),) + _reference_episode(env, pol, int(rs), int(ns)))
    pairs = [(j, t) for j, (_, O, _) in enumerate(trunk) for t in range(len(O))]
    N = len(pairs)
    chosen = np.random.default_rng(np.random.SeedSequence(key, spawn_key=(1,))).integers(0, N, n)
    Q = np.zeros((n, K))
    lengths = np.zeros((n, K), dtype=int)
    first = np.zeros((n, K, m))
    ends = set()  # how branches ended: "terminated", "time limit", "horizon"
    for i, p in enumerate(chosen):
        j, t = pairs[p]
        rs, O, A = trunk[j]
        eps0 = np.random.default_rng(np.random.SeedSequence(key, spawn_key=(2, i))).standard_normal((K, m))
        c = int(np.random.SeedSequence(key, spawn_key=(3, i)).generate_state(1)[0])
        for k in range(K):
            env.reset(seed=rs)
            for u in range(t):
                obs, *_ = env.step(np.clip(A[u], env.action_low, env.action_high))
            obs = O[t]
            first[i, k] = pol(obs, eps0[k])
            eps = np.random.default_rng(c).standard_normal((T, m))
            a, total, disc, steps = first[i, k], 0.0, 1.0, 0
            while True:
                obs, r, term, trunc = env.step(np.clip(a, env.action_low, env.action_high))
                total += disc * _bonus_free(env_id, r, term)
                disc *= gamma
                steps += 1
                if term or trunc or steps == H:
                    ends.add("terminated" if term else "time limit" if trunc else "horizon")
                    break
                a = pol(obs, eps[steps - 1])
            Q[i, k], lengths[i, k] = total, steps
    replay = sum(max(pairs[p][1] for p in chosen if pairs[p][0] == j) for j in {pairs[p][0] for p in chosen})

    np.testing.assert_allclose(batch.actions, first.reshape(n * K, m), rtol=1e-13, atol=1e-13)
    z = (np.array([trunk[pairs[p][0]][1][pairs[p][1]] for p in chosen]) - mean) / std
    # (the hand-computed actions W @ z + b may differ from the rollout loop's in the last bit)
    np.testing.assert_allclose(batch.states, np.repeat(z, K, axis=0), rtol=1e-12, atol=1e-12)
    loo = np.array([[Q[i, k] - np.mean(np.delete(Q[i], k)) for k in range(K)] for i in range(n)])
    np.testing.assert_allclose(batch.adv, loo.ravel(), rtol=1e-10, atol=1e-10)
    v = s.vine(theta, np.random.default_rng(9), carry)
    np.testing.assert_allclose(v.q, Q, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(v.lengths, lengths)
    # every way a branch ends is exercised: IP by termination and the time limit T, Hopper by the horizon H
    # and termination (and Hopper's survival bonus is removed, IP has none)
    assert ends == ({"terminated", "time limit"} if env_id == IP else {"terminated", "horizon"})
    np.testing.assert_allclose(batch.weights, N / (tau * n * K), rtol=1e-15)
    sig = np.exp(theta[-m:])
    mu = batch.states @ theta[:m * d].reshape(m, d).T + theta[m * d:m * d + m]
    logp = np.sum(-0.5 * ((batch.actions - mu) / sig) ** 2 - theta[-m:] - 0.5 * np.log(2 * np.pi), axis=1)
    np.testing.assert_allclose(batch.logp_old, logp, rtol=1e-12, atol=1e-12)
    returns = []
    for rs, O, A in trunk:  # the trunk's training returns, by hand
        env.reset(seed=rs)
        R = 0.0
        for a in A:
            _, r, term, _ = env.step(np.clip(a, env.action_low, env.action_high))
            R += _bonus_free(env_id, r, term)
        returns.append(R)
    np.testing.assert_allclose(batch.returns, returns, rtol=1e-12, atol=1e-12)
    assert batch.eta == pytest.approx(np.mean(returns), rel=1e-12)
    assert batch.n_samples == N + replay + lengths.sum()
    raw = np.concatenate([O for _, O, _ in trunk])
    np.testing.assert_allclose(batch.baseline.obs_rms.mean, np.concatenate([np.tile(mean, (10, 1)), raw]).mean(0),
                               rtol=1e-12)
    assert batch.baseline.obs_rms.count == 10 + N  # trunk observations only
    assert np.sum(np.reshape(batch.adv, (n, K)), axis=1) == pytest.approx(np.zeros(n), abs=1e-9)


def test_vine_gradient_is_unbiased_against_the_single_path():
    """Both samplers estimate the same policy gradient sum_t E[grad log pi(a_t|s_t) Q^gamma(s_t, a_t)]
    per episode when the branches reach the end of the episode (rollout_horizon >= the time limit)
    and the single path uses GAE(gamma, lambda = 1) without a baseline on one episode per batch
    (the discounted reward-to-go): 200 vine batches against 800 single-path episodes, every
    coordinate within 4 standard errors of the difference (measured: |z| <= 2.4). The test has
    power: the eq.-16-at-theta_old variant, advantages Q - mean_k Q (``(K-1)/K = 1/2`` of these),
    is rejected by it (measured max |z| 6.3)."""
    spec = EnvSpec(env_id=IP, max_episode_steps=20)
    K = 2
    vine = MujocoVineSampler(env=spec, n_trunk_episodes=2, n_rollout_states=8, n_actions_per_state=K,
                             rollout_horizon=20, gamma=0.9, obs_norm=False)
    single = MujocoEpisodeSampler(env=spec, batch_steps=1, gamma=0.9, lambda_=1.0, use_baseline=False,
                                  obs_norm=False)
    policy = FlatLinearGaussian(LinearGaussian(4, 1))
    theta = np.array([0.3, -0.5, 0.2, 0.1, 0.0, -0.3])

    def grads(sampler, M, stream):
        out = [ImportanceSampled().value_and_grad(policy, theta, sampler.sample(
            policy, theta, np.random.default_rng([stream, i])))[1] for i in range(M)]
        return np.mean(out, axis=0), np.std(out, axis=0, ddof=1) / np.sqrt(M)

    (gv, sv), (gs, ss) = grads(vine, 200, 1), grads(single, 800, 2)
    z = (gv - gs) / np.hypot(sv, ss)
    assert np.all(np.abs(z) < 4.0), z
    shrunk = (K - 1) / K
    z_eq16 = (shrunk * gv - gs) / np.hypot(shrunk * sv, ss)
    assert np.max(np.abs(z_eq16)) > 4.0, z_eq16


class _InProcessWorkers:
    """A backend with two 'workers' that runs map in this process (the trunk's parallel path)."""

    n_workers = 2

    def map(self, fn, shared, items):
        return [fn(shared, i, None) for i in items]


def test_same_seed_same_batch_whatever_ran_before_or_where_the_trunk_ran():
    spec = EnvSpec(env_id="Hopper-v5", max_episode_steps=100)
    method = trpo(spec, vine=True, n_trunk_episodes=3, n_rollout_states=6, n_actions_per_state=2,
                  rollout_horizon=10)
    s, pol, th = method.sampler, method.policy, method.theta0
    b1 = s.sample(pol, th, np.random.default_rng(5))
    s.sample(pol, th + 0.1, np.random.default_rng(6))  # other work on the cached simulator
    make_env("Hopper-v5").rollout(LinearPolicy(W=np.ones((3, 11))), seed=3)
    b2 = s.sample(pol, th, np.random.default_rng(5))
    b3 = MujocoVineSampler(env=spec, n_trunk_episodes=3, n_rollout_states=6, n_actions_per_state=2,
                           rollout_horizon=10, backend=_InProcessWorkers()).sample(pol, th, np.random.default_rng(5))
    for b in (b2, b3):
        for name in ("states", "actions", "weights", "adv", "logp_old", "returns"):
            assert getattr(b1, name).tobytes() == getattr(b, name).tobytes(), name
        assert b.n_samples == b1.n_samples and b.eta == b1.eta
    other = s.sample(pol, th, np.random.default_rng(7))
    assert other.adv.tobytes() != b1.adv.tobytes()


def test_a_non_finite_branch_gives_the_empty_batch_and_keeps_the_carry():
    """As the single path: anything non-finite -> no pairs, eta = -inf (the loop rejects the trial point),
    the normalizer not merged."""
    s = MujocoVineSampler(env=IP, n_trunk_episodes=2, n_rollout_states=3, n_actions_per_state=2, rollout_horizon=5)
    policy = FlatLinearGaussian(LinearGaussian(4, 1))
    th = np.zeros(6)
    v = s.vine(th, np.random.default_rng(0))
    good = s.assemble(policy, th, None, v)
    assert good.n_pairs == 6 and np.isfinite(good.eta) and good.baseline.obs_rms.count == v.trunk_steps
    q = v.q.copy()
    q[1, 0] = np.nan
    bad = s.assemble(policy, th, None, dataclasses.replace(v, q=q))
    assert bad.n_pairs == 0 and bad.eta == -np.inf and bad.baseline is None and bad.n_samples == good.n_samples


# ----------------------------------------------------------------------------- TRPO with the vine


def test_trpo_vine_runs_on_hopper_and_is_deterministic():
    kw = dict(max_iter=2, seed=0, vine=True, n_trunk_episodes=2, n_rollout_states=10, n_actions_per_state=2,
              rollout_horizon=10, max_episode_steps=100)
    res = trustopt.run("trpo", "Hopper-v5", **kw)
    assert len(res.history) == 2 and np.all(np.isfinite(res.theta)) and isinstance(res.policy, GaussianLinearPolicy)
    assert trustopt.run("trpo", "Hopper-v5", **kw).theta.tobytes() == res.theta.tobytes()
    assert res.theta.tobytes() != trustopt.run("trpo", "Hopper-v5", **dict(kw, seed=1)).theta.tobytes()


def test_trpo_vine_improves_the_inverted_pendulum():
    """10 iterations (8 trunk episodes, 50 rollout states x 2 actions, horizon 20, time limit 100;
    500-2,000 simulator steps each): on each of three seeds, the mean training return of the last 3
    batches (24 episodes) exceeds the starting policy's expected return (W = 0, b = 0, sigma = 1;
    estimated here on 400 episodes: 7.2, standard error 0.2) by more than 3. Measured: 13.1, 30.7,
    21.1 (standard errors 1.1, 1.5, 2.0); with the advantages' sign flipped the same runs end at
    3.5-3.9."""
    spec = EnvSpec(env_id=IP, max_episode_steps=100)
    start = GaussianLinearPolicy(W=np.zeros((1, 4)))
    ref = np.mean([make_env(IP, max_episode_steps=100).rollout(start, seed=i, rng=np.random.default_rng(i)).train_return
                   for i in range(400)])
    for seed in range(3):
        res = trustopt.run("trpo", spec, max_iter=10, seed=seed, vine=True, n_trunk_episodes=8, n_rollout_states=50,
                           n_actions_per_state=2, rollout_horizon=20)
        eta = [h.eta for h in res.history]
        assert np.mean(eta[-3:]) > ref + 3.0, (seed, ref, eta)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("kw,name", [
    (dict(n_actions_per_state=1), "n_actions_per_state"),
    (dict(rollout_horizon=0), "rollout_horizon"),
    (dict(n_rollout_states=0), "n_rollout_states"),
    (dict(n_trunk_episodes=1), "n_trunk_episodes"),
    (dict(rollout_horizon=2.5), "rollout_horizon"),
    (dict(gamma=1.5), "gamma"),
    (dict(obs_norm=1), "obs_norm"),
    (dict(batch_steps=1000), "batch_steps"),
    (dict(lambda_=0.9), "lambda_"),
    (dict(use_baseline=False), "use_baseline"),
    (dict(n_episodes=5), "n_episodes"),
    (dict(backend="process"), "backend"),
])
def test_bad_vine_options_are_named(kw, name):
    with pytest.raises(ValidationError, match=name):
        trustopt.run("trpo", IP, max_iter=1, seed=0, vine=True, **kw)


def test_vine_needs_trpo_a_mujoco_fast_path_and_vine_true():
    with pytest.raises(ValidationError, match="rollout_horizon"):  # a vine option without vine=True
        trustopt.run("trpo", IP, max_iter=1, seed=0, rollout_horizon=10)
    with pytest.raises(ValidationError, match="vine"):
        trustopt.run("npg", IP, max_iter=1, seed=0, vine=True)
    with pytest.raises(ValidationError, match="env"):  # Gymnasium's own step cannot restore a snapshot
        trpo(EnvSpec(env_id=IP, fast=False), vine=True)
    mdp = tabular.TabularMDP(P=np.full((2, 2, 2), 0.5), r=np.eye(2), rho0=np.array([0.5, 0.5]), gamma=0.9)
    with pytest.raises(ValidationError, match="n_actions_per_state"):
        trustopt.run("trpo", mdp, max_iter=1, seed=0, vine=True, n_actions_per_state=2)


def test_train_config_vine_fields():
    """`trustopt train --set vine=true`: the vine options resolve to the sampler's defaults (TRPO App. E),
    batch_steps / lambda_ stay unset; misuse is named; a config saved before the fields existed
    (no "vine" key) still loads as a single-path run."""
    from trustopt.train import TrainConfig, resolve_config
    from trustopt.train.config import config_from_dict

    c = resolve_config(TrainConfig(env_id=IP, algo="trpo", vine=True))
    assert (c.n_trunk_episodes, c.n_rollout_states, c.n_actions_per_state, c.rollout_horizon) == (16, 125, 4, 100)
    assert c.batch_steps is None and c.lambda_ is None and (c.gamma, c.delta) == (0.99, 0.01)
    assert resolve_config(TrainConfig(env_id=IP, algo="trpo", vine=True, rollout_horizon=20)).rollout_horizon == 20
    for kw, name in [(dict(algo="ppo", vine=True), "vine"), (dict(algo="trpo", vine="yes"), "vine"),
                     (dict(algo="trpo", n_rollout_states=10), "n_rollout_states"),
                     (dict(algo="trpo", vine=True, batch_steps=1000), "batch_steps"),
                     (dict(algo="trpo", vine=True, lambda_=0.9), "lambda_"),
                     (dict(algo="trpo", vine=True, n_actions_per_state=1), "n_actions_per_state"),
                     (dict(algo="tres", n_trunk_episodes=4), "n_trunk_episodes")]:
        with pytest.raises(ValidationError, match=name):
            TrainConfig(env_id=IP, **kw)
    old = {k: v for k, v in TrainConfig(env_id=IP, algo="trpo").to_dict().items()
           if k not in ("vine", "n_trunk_episodes", "n_rollout_states", "n_actions_per_state", "rollout_horizon")}
    c = resolve_config(config_from_dict(old))
    assert c.vine is None and c.batch_steps == 5000 and c.lambda_ == 0.97
