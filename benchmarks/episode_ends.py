"""Why a trained policy's episodes end, and how long the training episodes were along its run.

The locomotion tasks with a survival bonus (Hopper, Walker2d, Ant, Humanoid) end an episode
when the body leaves its healthy range (Gymnasium v5: the torso height ``z`` outside
``healthy_z_range``; Hopper and Walker2d also the torso angle outside ``healthy_angle_range``;
Hopper also any state outside ``healthy_state_range``). TRES, ES and ARS train with the bonus
removed (TRES sec. "Experimental Settings"; Mania et al. 2018), so an episode that ends early
costs the training return nothing but the rewards it no longer collects: where the rest of each
step's reward (forward reward minus control and contact costs) is negative on average, ending
early pays. This script shows it on a run folder of ``trustopt train``:

* from ``progress.csv``, per window of iterations: the training episodes' mean length
  (timesteps over episodes) and the mean training return (bonus removed);
* from the run's policy (``policy.npz``), ``--episodes`` deterministic episodes of the
  environment as Gymnasium runs it (``reset(seed=1000 + j)``): length, environment return,
  the summed reward terms of ``info`` (``reward_forward``, ``reward_ctrl``, ...), and for an
  episode that terminated, which healthy bound it crossed (e.g. ``z > 1.0`` for Ant's torso);
* with ``--sigma 0 S``, the same for ``--episodes`` policies perturbed by ``S`` (``W + S E``,
  ``E`` standard normal, on the same normalized observation): the search distribution whose
  returns the training ranks, which is what its gradient follows.

    python benchmarks/episode_ends.py RUN [RUN ...] [--episodes 10] [--sigma 0 0.03] [--window 10] [--json PATH]

The Ant-v5 dip of TRES with sigma = 0.03 (the default before ``tres_sigma``) between 2.5M and
3.5M timesteps (``docs/mujoco-tres-experiments.md``; ``benchmarks/results/thresholds_tres/ant_dip/``)::

    trustopt train --env Ant-v5 --algo tres --set sigma=0.03 --seed 1 --timesteps 2700000 --out runs/ant-s1 \\
        --no-progress
    cp -r runs/ant-s1 runs/ant-s1-2.7M
    trustopt train --resume --out runs/ant-s1 --timesteps 3250000 --no-progress
    python benchmarks/episode_ends.py runs/ant-s1-2.7M runs/ant-s1 --episodes 20 --sigma 0 0.03 --window 15 \\
        --json benchmarks/results/thresholds_tres/ant_dip/episode_ends_Ant-v5_tres_seed1.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import gymnasium
import numpy as np

from _provenance import code_version
from trustopt.train import load_policy, read_progress
from trustopt.train.run_folder import saved_env_spec


def training_windows(run: str, window: int) -> list[dict]:
    """Per ``window`` iterations of ``run/progress.csv``: timesteps at the window's end, the
    training episodes' mean length and the mean of the iterations' mean training return."""
    p = read_progress(run)
    out, prev_t, prev_e = [], 0, 0
    for i in range(0, p["timesteps"].size, window):
        last = min(i + window, p["timesteps"].size) - 1
        t, e = int(p["timesteps"][last]), int(p["episodes"][last])
        out.append({"timesteps": t, "mean_length": (t - prev_t) / max(1, e - prev_e),
                    "train_return": float(np.mean(p["train_return_mean"][i:last + 1]))})
        prev_t, prev_e = t, e
    return out


def crossed_bound(env) -> str:
    """The healthy bound the unwrapped v5 locomotion env ``env`` is outside of ('' if none)."""
    u = env.unwrapped
    qpos = u.data.qpos
    if hasattr(u, "_healthy_angle_range"):  # Hopper, Walker2d: (x, z, angle, ...)
        checks = [("z", qpos[1], u._healthy_z_range), ("angle", qpos[2], u._healthy_angle_range)]
    else:  # Ant, Humanoid: the free joint's (x, y, z, quaternion, ...)
        checks = [("z", qpos[2], u._healthy_z_range)]
    for name, value, (lo, hi) in checks:
        if value < lo:
            return f"{name} < {lo:g}"
        if value > hi:
            return f"{name} > {hi:g}"
    if hasattr(u, "_healthy_state_range"):  # Hopper: every state but x, z, angle
        lo, hi = u._healthy_state_range
        state = u.state_vector()[2:]
        if np.any(state < lo) or np.any(state > hi):
            return f"a state outside [{lo:g}, {hi:g}]"
    return "not finite" if not np.isfinite(u.state_vector()).all() else ""


def episodes(run: str, n: int, sigma: float = 0.0) -> tuple[str, int, list[dict]]:
    """``n`` deterministic episodes of the run's policy, or with ``sigma > 0`` of ``n`` perturbed
    policies ``W + sigma E`` (``E`` standard normal, from ``default_rng(j)``: the search
    distribution the training samples, on the same normalized observation): see the module docstring."""
    policy, env_id, meta = load_policy(run)
    env = gymnasium.make(env_id, **saved_env_spec(meta).kwargs)
    out = []
    W = np.array(policy.W)
    for j in range(n):
        if sigma > 0:
            policy = dataclasses.replace(policy, W=W + sigma * np.random.default_rng(j).standard_normal(W.shape))
        obs, _ = env.reset(seed=1000 + j)
        ret, terms, terminated, t = 0.0, {}, False, 0
        while True:
            obs, reward, terminated, truncated, info = env.step(policy.predict(obs, deterministic=True))
            ret, t = ret + float(reward), t + 1
            for k, v in info.items():
                if k.startswith("reward_"):
                    terms[k] = terms.get(k, 0.0) + float(v)
            if terminated or truncated:
                break
        out.append({"length": t, "env_return": ret, "ended": crossed_bound(env) if terminated else "time limit",
                    **terms})
    env.close()
    return env_id, int(meta.get("timesteps", -1)), out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders of trustopt train")
    ap.add_argument("--episodes", type=int, default=10, help="deterministic episodes per run (default 10)")
    ap.add_argument("--sigma", type=float, nargs="*", default=[0.0],
                    help="also roll out policies perturbed by sigma (the search distribution); 0: the policy itself")
    ap.add_argument("--window", type=int, default=10, help="iterations per row of the training table (default 10)")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args(argv)
    if a.episodes < 1 or a.window < 1 or any(not sigma >= 0 for sigma in a.sigma):
        sys.exit("episode_ends: --episodes and --window must be >= 1, --sigma >= 0")
    results = []
    for run in a.runs:
        windows = training_windows(run, a.window)
        print(f"{run}: training (bonus removed), per {a.window} iterations: timesteps, mean episode length, "
              "mean return")
        for w in windows:
            print(f"    {w['timesteps']:>10,} {w['mean_length']:7.0f} {w['train_return']:9.1f}")
        for sigma in a.sigma:
            env_id, timesteps, eps = episodes(run, a.episodes, sigma)
            results.append({"run": run, "env_id": env_id, "timesteps": timesteps, "sigma": sigma, "episodes": eps,
                            "training": windows})
            ends: dict[str, int] = {}
            for e in eps:
                ends[e["ended"]] = ends.get(e["ended"], 0) + 1
            what = "the policy" if sigma == 0 else f"policies perturbed by sigma = {sigma:g}"
            print(f"  {env_id} after {timesteps:,} timesteps, {a.episodes} episodes of {what}: median length "
                  f"{np.median([e['length'] for e in eps]):.0f}, median return "
                  f"{np.median([e['env_return'] for e in eps]):.0f}; ended by "
                  + ", ".join(f"{k} ({v})" for k, v in sorted(ends.items())))
            for k in sorted({k for e in eps for k in e if k.startswith("reward_")}):
                print(f"    {k} per step: median {np.median([e[k] / e['length'] for e in eps]):+.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"code_version": code_version(), "args": vars(a), "results": results}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
