"""Is a HalfCheetah policy running on its back? The root's pitch along one episode of a run's mean policy.

HalfCheetah-v5's ``qpos[2]`` is the torso's pitch (rad, 0 upright); a cheetah that flipped during
training and learned to run upside down keeps ``|pitch mod 2 pi| > pi / 2`` for most of the
episode, at returns near 1500-2000. Used to explain runs that stall below the thresholds of
``bench_thresholds.py`` (docs/policy-gradient-linear.md).

    python benchmarks/halfcheetah_pitch.py runs/thresholds/HalfCheetah-v5-npg-seed*
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def pitch_stats(run: str, seed: int = 5) -> tuple[float, float, float]:
    """``(return, median pitch, share of steps with |pitch| > pi/2)`` of one mean-policy episode."""
    import warnings

    import gymnasium as gym

    from trustopt.envs import _mujoco_warnings_as_python_warnings
    from trustopt.train.run_folder import load_policy, saved_env_spec

    policy, env_id, meta = load_policy(run)
    if not env_id.startswith("HalfCheetah"):  # qpos[2] is the pitch of HalfCheetah only (Ant's is a height)
        raise SystemExit(f"halfcheetah_pitch: {run} is a run of {env_id}, not of HalfCheetah")
    with warnings.catch_warnings(), _mujoco_warnings_as_python_warnings():
        warnings.simplefilter("ignore")  # half_cheetah.xml's deprecated settotalmass, once per make
        env = gym.make(env_id, **saved_env_spec(meta).kwargs)  # the run's environment, its kwargs included
    obs, _ = env.reset(seed=seed)
    ret, pitch = 0.0, []
    while True:
        obs, r, terminated, truncated, _ = env.step(policy.predict(obs, deterministic=True))
        ret += float(r)
        pitch.append(float(env.unwrapped.data.qpos[2]))
        if terminated or truncated:
            break
    wrapped = np.mod(np.asarray(pitch) + np.pi, 2 * np.pi) - np.pi
    return ret, float(np.median(wrapped)), float(np.mean(np.abs(wrapped) > np.pi / 2))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run folders (or policy files) of HalfCheetah")
    p.add_argument("--seed", type=int, default=5, help="the episode's reset seed")
    a = p.parse_args(argv)
    print("| run | return | median pitch (rad) | steps upside down |\n|---|---|---|---|")
    from trustopt._validation import ValidationError

    for run in a.runs:
        try:
            ret, med, share = pitch_stats(run, a.seed)
        except ValidationError as exc:  # not a run folder or policy file
            raise SystemExit(f"halfcheetah_pitch: {exc}") from None
        print(f"| {run} | {ret:.0f} | {med:+.2f} | {share:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
