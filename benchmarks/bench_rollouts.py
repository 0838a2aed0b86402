"""Env-steps per second of linear-policy rollouts: trustopt's fast path vs Gymnasium vs raw physics.

For each environment, the same deterministic linear policy ``a = clip(W (s - mean) / std)``
is run from the same reset seeds in three ways, in the same process. The episodes are cut into
chunks of about ``--chunk`` steps (whole episodes); each chunk is timed with the three methods
back to back, over ``--repeats`` rounds, and each method's time is the sum over chunks of its best
round on that chunk. The three see the same load at a fine grain, so their ratios stay steady on a
shared machine even when the absolute rates do not:

* ``raw``:  the physics limit. The actions and initial states recorded from the fast path are
  replayed with ``data.ctrl[:] = a; mujoco.mj_step(model, data, nstep=frame_skip)`` and nothing
  else (no observation, reward, policy or reset noise): the identical trajectories, physics only.
* ``fast``: ``trustopt.envs`` ``env.rollout(policy, seed=s)`` (policy, step, observation,
  reward, termination, observation statistics, in one loop).
* ``gym``:  the plain loop over ``gymnasium.make(env_id)``: ``obs, _ = env.reset(seed=s)``;
  ``a = np.clip(W @ ((obs - mean) / std), low, high)``; ``env.step(a)``; the return and the
  visited observations (for the normalizer) accumulated.

The fast path is exact, so all three visit the same states. Single process, single core.

    python benchmarks/bench_rollouts.py            # ~1-2 minutes
    python benchmarks/bench_rollouts.py --quick    # 1500-2000 steps per environment, ~3 s each
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def _policy(env, rng):
    from trustopt.envs import LinearPolicy

    W = rng.normal(scale=0.5 / np.sqrt(env.obs_dim), size=(env.act_dim, env.obs_dim))
    mean = rng.normal(scale=0.1, size=env.obs_dim)
    std = np.exp(rng.normal(scale=0.1, size=env.obs_dim))
    return LinearPolicy(W=W, mean=mean, std=std)


def _seeds_for(env, policy, budget):
    """Reset seeds whose episodes add up to at least ``budget`` steps, with their recorded actions."""
    episodes, total, seed = [], 0, 0
    while total < budget:
        res = env.rollout(policy, seed=seed, record=True)
        env.reset(seed=seed)  # recover the initial physics state of that episode
        qpos, qvel = env.data.qpos.copy(), env.data.qvel.copy()
        actions = np.clip(res.trajectory.actions, env.action_low, env.action_high)
        episodes.append((seed, qpos, qvel, actions))
        total += res.length
        seed += 1
    return episodes, total


def run_raw(env, episodes):
    import mujoco

    m, d, fs = env.model, env.data, env.frame_skip
    step, reset, forward = mujoco.mj_step, mujoco.mj_resetData, mujoco.mj_forward
    ctrl = d.ctrl
    t0 = time.perf_counter()
    for _, qpos, qvel, actions in episodes:
        reset(m, d)
        d.qpos[:] = qpos
        d.qvel[:] = qvel
        forward(m, d)
        for a in actions:
            ctrl[:] = a
            step(m, d, nstep=fs)
    return time.perf_counter() - t0


def run_fast(env, episodes, policy):
    t0 = time.perf_counter()
    for seed, *_ in episodes:
        env.rollout(policy, seed=seed)
    return time.perf_counter() - t0


def run_gym(gym_env, episodes, policy):
    W, mean, std = policy.W, policy.mean, policy.std
    low = gym_env.action_space.low.astype(np.float64)
    high = gym_env.action_space.high.astype(np.float64)
    t0 = time.perf_counter()
    for seed, *_ in episodes:
        obs, _ = gym_env.reset(seed=seed)
        ret, seen = 0.0, []
        while True:
            seen.append(obs)
            a = np.clip(W @ ((obs - mean) / std), low, high)
            obs, r, terminated, truncated, _ = gym_env.step(a)
            ret += r
            if terminated or truncated:
                break
        X = np.array(seen)
        X.mean(axis=0), X.var(axis=0)
    return time.perf_counter() - t0


def main(argv=None):
    import gymnasium

    from trustopt.envs import SUPPORTED_ENV_IDS, _mujoco_warnings_as_python_warnings, make_env

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run (CI smoke test)")
    ap.add_argument("--steps", type=int, default=None, help="env steps per environment and method per round")
    ap.add_argument("--repeats", type=int, default=None, help="rounds (the best per chunk is kept)")
    ap.add_argument("--chunk", type=int, default=200, help="steps per interleaved chunk (whole episodes)")
    ap.add_argument("--envs", nargs="*", default=list(SUPPORTED_ENV_IDS))
    ap.add_argument("--json", help="also write the rates and the versions that produced them here")
    args = ap.parse_args(argv)
    budget = args.steps or (1500 if args.quick else 10000)
    repeats = args.repeats or 3  # the best of 3 per chunk filters out other jobs' bursts
    warnings.filterwarnings("ignore", category=UserWarning)

    header = (f"{'env':<26}{'fs':>3}{'steps':>7}{'ep len':>8}{'raw/s':>9}{'fast/s':>9}{'gym/s':>9}"
              f"{'fast/gym':>10}{'fast/raw':>10}")
    print(f"linear-policy rollouts, 1 process; chunks of ~{args.chunk} steps interleaved, best of {repeats} "
          "rounds per chunk; env steps per second")
    print(header)
    print("-" * len(header))
    rows = []
    for env_id in args.envs:
        env = make_env(env_id)
        assert env.fast, env_id
        with _mujoco_warnings_as_python_warnings():
            gym_env = gymnasium.make(env_id)
        policy = _policy(env, np.random.default_rng(0))
        episodes, total = _seeds_for(env, policy, budget)
        run_fast(env, episodes[:1], policy)  # warm caches and buffers
        chunks, cur, n = [], [], 0
        for ep in episodes:
            cur.append(ep)
            n += len(ep[3])
            if n >= args.chunk:
                chunks.append(cur)
                cur, n = [], 0
        if cur:
            chunks.append(cur)
        best = {k: np.full(len(chunks), np.inf) for k in ("raw", "fast", "gym")}
        for _ in range(repeats):
            for i, chunk in enumerate(chunks):
                best["raw"][i] = min(best["raw"][i], run_raw(env, chunk))
                best["fast"][i] = min(best["fast"][i], run_fast(env, chunk, policy))
                best["gym"][i] = min(best["gym"][i], run_gym(gym_env, chunk, policy))
        sps = {k: total / v.sum() for k, v in best.items()}
        rows.append((env_id, sps, total / len(episodes)))
        print(f"{env_id:<26}{env.frame_skip:>3}{total:>7}{total / len(episodes):>8.0f}{sps['raw']:>9.0f}"
              f"{sps['fast']:>9.0f}{sps['gym']:>9.0f}{sps['fast'] / sps['gym']:>10.2f}{sps['fast'] / sps['raw']:>10.2f}",
              flush=True)
        env.close()
        gym_env.close()
    ratios = np.array([s["fast"] / s["gym"] for _, s, _ in rows])
    limit = np.array([s["fast"] / s["raw"] for _, s, _ in rows])
    gm_gym, gm_raw = float(np.exp(np.log(ratios).mean())), float(np.exp(np.log(limit).mean()))
    print(f"geometric mean: fast/gym {gm_gym:.2f}x, fast/raw {gm_raw:.2f}")
    if args.json:
        import json
        import platform
        from importlib.metadata import version

        from _provenance import code_version

        meta = {k: version(k) for k in ("mujoco", "gymnasium", "numpy")}
        meta.update(code=code_version(), python=platform.python_version(), machine=platform.machine(),
                    args=vars(args))
        out = [{"env_id": e, "mean_episode_length": L, "steps_per_s": s, "fast_over_gym": float(g),
                "fast_over_raw": float(r)} for (e, s, L), g, r in zip(rows, ratios, limit)]
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": out, "geomean_fast_over_gym": gm_gym, "geomean_fast_over_raw": gm_raw},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
