"""benchmarks/episode_ends.py: why episodes end, checked against Gymnasium's own health test.

The explanation of the Ant dip in docs/mujoco-tres-experiments.md rests on this script's two
readings: the training episodes' mean length from ``progress.csv`` and the healthy bound an
episode crossed. The first is checked by hand on a small file, the second against
``env.unwrapped.is_healthy`` on random states of the four locomotion tasks with a survival bonus;
and the whole script on a short Hopper run, where each episode's return must be the sum of the
reward terms it reports.
"""

import json
import os
import sys

import gymnasium
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import episode_ends as ee  # noqa: E402

from trustopt.train import TrainConfig, train  # noqa: E402


def test_training_windows_divide_timesteps_by_episodes(tmp_path):
    rows = ["iteration,timesteps,episodes,train_return_mean",
            "1,1000,4,-10", "2,1800,8,-20", "3,2400,12,30", "4,3000,16,50"]
    (tmp_path / "progress.csv").write_text("\n".join(rows) + "\n")
    w = ee.training_windows(str(tmp_path), 2)
    assert [x["timesteps"] for x in w] == [1800, 3000]
    assert [x["mean_length"] for x in w] == [1800 / 8, 1200 / 8]
    assert [x["train_return"] for x in w] == [-15.0, 40.0]


@pytest.mark.parametrize("env_id", ["Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5"])
def test_crossed_bound_agrees_with_gymnasium_is_healthy(env_id):
    env = gymnasium.make(env_id)
    env.reset(seed=0)
    u = env.unwrapped
    rng = np.random.default_rng(0)
    qpos0, qvel0 = u.init_qpos.copy(), u.init_qvel.copy()
    seen = set()
    for _ in range(300):  # states around the initial one, wide enough to cross every bound
        qpos = qpos0 + rng.normal(0.0, 0.6, qpos0.shape)
        qvel = qvel0 + rng.normal(0.0, 60.0 if env_id == "Hopper-v5" else 1.0, qvel0.shape)
        u.set_state(qpos, qvel)
        reason = ee.crossed_bound(env)
        assert (reason == "") == bool(u.is_healthy), (reason, qpos[:3])
        seen.add(reason.split(" ")[0] if reason else "healthy")
    expected = {"healthy", "z"} | ({"angle"} if env_id in ("Hopper-v5", "Walker2d-v5") else set()) \
        | ({"a"} if env_id == "Hopper-v5" else set())  # Hopper: "a state outside [-100, 100]"
    assert expected <= seen
    env.close()


def test_main_reads_a_run_folder_and_its_perturbed_policies(tmp_path):
    run = tmp_path / "hopper"
    train(TrainConfig(env_id="Hopper-v5", algo="tres", seed=0, timesteps=3000, n_directions=4, eval_every=0,
                      noise_table_size=100_000), run, progress=False)
    out = tmp_path / "ends.json"
    ee.main([str(run), "--episodes", "3", "--sigma", "0", "0.5", "--window", "2", "--json", str(out)])
    results = json.loads(out.read_text())["results"]
    assert [r["sigma"] for r in results] == [0.0, 0.5]
    for r in results:
        assert r["env_id"] == "Hopper-v5" and len(r["episodes"]) == 3 and r["timesteps"] >= 3000
        for e in r["episodes"]:
            assert e["ended"] == "time limit" if e["length"] == 1000 else e["ended"].split(" ")[0] in ("z", "angle", "a")
            # the environment's return is the sum of its reward terms
            assert e["env_return"] == pytest.approx(sum(v for k, v in e.items() if k.startswith("reward_")))
    assert results[0]["episodes"] != results[1]["episodes"]  # the perturbed policies act otherwise
    assert results[0]["training"][-1]["timesteps"] >= 3000
