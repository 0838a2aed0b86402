"""One policy API for both families: ``policy.predict(obs, deterministic=True)`` on one observation
or a batch, normalized inside, clipped to the action space; ``load_policy`` returns it for an ES run
and a policy-gradient run alike; the README's example runs as written."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import trustopt
from trustopt._validation import ValidationError
from trustopt.cli import main
from trustopt.envs import GaussianLinearPolicy, LinearPolicy
from trustopt.train import evaluate_policy, load_policy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(0)
W = RNG.standard_normal((2, 3))
MEAN, STD = RNG.standard_normal(3), RNG.uniform(0.5, 2.0, 3)
LOW, HIGH = np.array([-0.5, -1.0]), np.array([0.5, 2.0])


def test_linear_predict_is_the_clipped_normalized_product_one_or_a_batch():
    p = LinearPolicy(W=W, mean=MEAN, std=STD, action_low=LOW, action_high=HIGH)
    obs = RNG.standard_normal((50, 3)) * 3
    batch = p.predict(obs)
    assert batch.shape == (50, 2)
    for o, a in zip(obs, batch):
        raw = sum(W[:, j] * (o[j] - MEAN[j]) / STD[j] for j in range(3))  # written out, not W @ z
        np.testing.assert_allclose(a, np.minimum(np.maximum(raw, LOW), HIGH), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(p.predict(o), a, rtol=1e-12, atol=1e-15)  # one row or a batch: same action
        np.testing.assert_array_equal(p.predict(o, deterministic=False), p.predict(o))  # a deterministic policy
    assert np.any(batch == LOW) and np.any(batch == HIGH)  # the clip was exercised
    np.testing.assert_allclose(LinearPolicy(W=W, mean=MEAN, std=STD).predict(obs[0]), p(obs[0]), rtol=1e-12)
    with pytest.raises(ValidationError, match=r"obs: expected shape \(3,\) or \(n, 3\)"):
        p.predict(np.zeros(4))
    with pytest.raises(ValidationError, match=r"^obs: not finite at index 1: nan$"):  # not a NaN action
        p.predict([0.0, np.nan, 1.0])
    with pytest.raises(ValidationError, match=r"^obs: not finite at index \(2, 0\): -inf$"):
        GaussianLinearPolicy(W=W).predict(np.vstack([obs[:2], [-np.inf, 0.0, 0.0]]))
    with pytest.raises(ValidationError, match="action_low: must be <= action_high"):
        LinearPolicy(W=W, action_low=HIGH, action_high=LOW)
    with pytest.raises(ValidationError, match="give both bounds or neither"):
        LinearPolicy(W=W, action_low=LOW)


def test_gaussian_predict_mean_or_sample_clipped():
    b, log_std = np.array([0.1, -0.2]), np.array([-1.0, 0.5])
    p = GaussianLinearPolicy(W=W, b=b, log_std=log_std, mean=MEAN, std=STD, action_low=LOW, action_high=HIGH)
    obs = RNG.standard_normal((40, 3))
    det = p.predict(obs)
    np.testing.assert_allclose(det, np.clip([p.mean_action(o) for o in obs], LOW, HIGH), rtol=1e-12, atol=1e-12)
    s1 = p.predict(obs, deterministic=False, rng=7)
    np.testing.assert_array_equal(s1, p.predict(obs, deterministic=False, rng=np.random.default_rng(7)))
    assert np.all((s1 >= LOW) & (s1 <= HIGH)) and not np.array_equal(s1, det)
    # unbounded: samples are mean + sigma * eps, so (a - mean) / sigma is standard normal
    free = GaussianLinearPolicy(W=W, b=b, log_std=log_std, mean=MEAN, std=STD)
    o = obs[0]
    z = (free.predict(np.tile(o, (20000, 1)), deterministic=False, rng=1) - free.mean_action(o)) / np.exp(log_std)
    assert np.all(np.abs(z.mean(axis=0)) < 4 / np.sqrt(20000))  # 4 standard errors
    assert np.all(np.abs(z.std(axis=0) - 1) < 0.03)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("policies")
    tiny = ["--timesteps", "1500", "--eval-every", "1", "--eval-episodes", "1", "--no-progress",
            "--set", "max_episode_steps=100"]
    out = {}
    for algo in ("ars", "trpo"):
        out[algo] = str(root / algo)
        extra = ["--set", "noise_table_size=100000"] if algo == "ars" else ["--set", "batch_steps=500"]
        assert main(["train", "--env", "InvertedPendulum-v5", "--algo", algo, "--out", out[algo], *tiny, *extra]) == 0
    return out


@pytest.mark.parametrize("algo,kind", [("ars", LinearPolicy), ("trpo", GaussianLinearPolicy)])
def test_loaded_policy_of_either_family_acts_in_gymnasium_as_evaluation_does(runs, algo, kind):
    from trustopt.train import load_env
    from trustopt.train.run_folder import STREAM_POLICY_EVAL, reset_seeds

    policy, env_id, _ = load_policy(runs[algo])
    assert isinstance(policy, kind)
    env = load_env(runs[algo])  # the run's env: its episode limit (100), not the registered 1000
    assert env.spec.id == env_id and env.spec.max_episode_steps == 100
    np.testing.assert_array_equal(policy.action_low, env.action_space.low)
    np.testing.assert_array_equal(policy.action_high, env.action_space.high)
    returns = []
    for s in reset_seeds(5, STREAM_POLICY_EVAL, 0, 2):
        obs, _ = env.reset(seed=s)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(policy.predict(obs, deterministic=True))
            total += r
            done = term or trunc
        returns.append(total)
    np.testing.assert_allclose(evaluate_policy(runs[algo], episodes=2, seed=5), returns, rtol=1e-12)


def test_readme_policy_example_runs_as_written(runs, monkeypatch):
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    m = re.search(r"<!-- policy-example -->\s*```python\n(.*?)```", readme, re.S)
    assert m, "README: the policy example (marked <!-- policy-example -->) is missing"
    code = m.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 9
    path = re.search(r'load_policy\("([^"]+)"\)', code).group(1)
    seen = {}
    monkeypatch.chdir(os.path.dirname(runs["trpo"]))
    exec(compile(code.replace(path, runs["trpo"]), "README.md", "exec"), seen)  # noqa: S102
    assert isinstance(seen["policy"], GaussianLinearPolicy) and seen["env_id"] == "InvertedPendulum-v5"
    assert seen["obs"].shape == (4,) and seen["t"] >= 1  # it stepped


def test_the_policy_trustopt_run_returns_clips_as_the_environment_does():
    # InvertedPendulum's actions lie in [-3, 3]: the returned policy carries those bounds, as a
    # loaded one does, so predict() gives what the environment would receive
    res = trustopt.run("trpo", "InvertedPendulum-v5", max_iter=1, seed=0)
    np.testing.assert_array_equal(res.policy.action_low, [-3.0])
    np.testing.assert_array_equal(res.policy.action_high, [3.0])
    far = np.full(res.policy.obs_dim, 1e6)
    assert np.all(np.abs(res.policy.predict(np.stack([far, -far]))) <= 3.0)
