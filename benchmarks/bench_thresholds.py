"""Timesteps to the TRES paper's reward thresholds (Table 1) for TRES, ES and ARS on MuJoCo v5.

For each (environment, algorithm, seed) a run is trained with the library's defaults
(trustopt/train/config.py: TRES lambda = 14, K = 15, sigma = 0.02; ES as OpenAI's starter
code; ARS as Mania et al. 2018 Table 9) until an evaluation (every ``--eval-every``
iterations, ``--eval-episodes`` episodes of the current mean policy, the environment's own
return) reaches the threshold, or until ``--budget`` training timesteps. Reported per
(environment, algorithm): how many seeds reached the threshold, the mean and median of the
training timesteps at the first evaluation that reached it (over the seeds that did), and
the TRES paper's Table 1 figure for comparison -- measured there on the -v1 environments
(mujoco-py, different model files and reward details), averaged over 6 seeds, so the
comparison is indicative only.

    python benchmarks/bench_thresholds.py --envs Swimmer-v5 --seeds 0 1 2 --budget 2000000 --workers 2
    python benchmarks/bench_thresholds.py --quick        # Swimmer, TRES + ARS, 1 seed, 300k budget
    python benchmarks/bench_thresholds.py --json results.json --runs-dir runs/thresholds
    python benchmarks/bench_thresholds.py --summarize runs/thresholds/*    # table of existing runs

Each run writes a normal run folder under ``--runs-dir`` (progress.csv, config.json,
policy.npz), so the curves can be plotted with ``trustopt plot``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np

#: TRES paper, Table 1 (-v1 environments): threshold and timesteps for TRPO, PPO, ES, TRES.
TABLE1 = {
    "Swimmer-v5": (128, {"trpo": 4.6e6, "ppo": 4.4e5, "es": 4.5e5, "tres": 2.4e5}),
    "HalfCheetah-v5": (2385, {"trpo": 2.6e6, "ppo": 1.2e6, "es": 1.7e6, "tres": 9.8e5}),
    "Walker2d-v5": (2872, {"trpo": 2.9e6, "ppo": 1.9e6, "es": 1.2e7, "tres": 3.6e6}),
    "Ant-v5": (3000, {"trpo": math.nan, "ppo": 1.0e7, "es": 1.5e7, "tres": 1.3e7}),
    "InvertedDoublePendulum-v5": (9104, {"trpo": 4.4e6, "ppo": 1.9e6, "es": 8.8e5, "tres": 6e5}),
}


def result_of_run(out, wall=None, timesteps_used=None):
    """The per-run result of a finished (or interrupted) run folder: the training timesteps at
    the first evaluation that reached the env's threshold, and the best evaluation."""
    from trustopt.train import read_progress

    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    env_id, algo, seed = cfg["env_id"], cfg["algo"], cfg["seed"]
    threshold = TABLE1[env_id][0]
    p = read_progress(out)
    ev = p["eval_mean"]
    hit = np.flatnonzero(~np.isnan(ev) & (ev >= threshold))
    steps = int(p["timesteps"][hit[0]]) if hit.size else None
    best = float(np.nanmax(ev)) if np.any(~np.isnan(ev)) else math.nan
    return {"env_id": env_id, "algo": algo, "seed": seed, "reached": steps is not None, "timesteps": steps,
            "timesteps_used": int(p["timesteps"][-1]) if timesteps_used is None else timesteps_used,
            "best_eval": best, "wall_s": float(p["wall_s"][-1]) if wall is None else wall, "run": out}


def run_one(env_id, algo, seed, *, budget, workers, eval_every, eval_episodes, runs_dir):
    from trustopt.train import TrainConfig, train

    threshold = TABLE1[env_id][0]
    out = os.path.join(runs_dir, f"{env_id}-{algo}-seed{seed}")
    if os.path.exists(out):
        shutil.rmtree(out)
    cfg = TrainConfig(env_id=env_id, algo=algo, timesteps=budget, seed=seed, eval_every=eval_every,
                      eval_episodes=eval_episodes, target=float(threshold))
    t0 = time.perf_counter()
    res = train(cfg, out, workers=workers, progress=False)
    return result_of_run(out, wall=time.perf_counter() - t0, timesteps_used=res.timesteps)


def summarize(results):
    rows = []
    keys = sorted({(r["env_id"], r["algo"]) for r in results})
    for env_id, algo in keys:
        rs = [r for r in results if r["env_id"] == env_id and r["algo"] == algo]
        ok = [r["timesteps"] for r in rs if r["reached"]]
        rows.append({
            "env_id": env_id, "algo": algo, "threshold": TABLE1[env_id][0], "seeds": len(rs), "reached": len(ok),
            "mean": float(np.mean(ok)) if ok else math.nan, "median": float(np.median(ok)) if ok else math.nan,
            "paper_v1": TABLE1[env_id][1].get(algo, math.nan),
            "best_eval_unreached": [round(r["best_eval"], 1) for r in rs if not r["reached"]],
            "wall_s": float(np.sum([r["wall_s"] for r in rs])),
        })
    return rows


def print_table(rows, budget):
    print(f"\n| env | algo | threshold | reached / seeds (budget {budget:.1e}) | mean timesteps | median | "
          "TRES paper Table 1 (-v1) | wall (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        extra = f" (best of the others: {r['best_eval_unreached']})" if r["best_eval_unreached"] else ""
        print(f"| {r['env_id']} | {r['algo']} | {r['threshold']} | {r['reached']} / {r['seeds']}{extra} | "
              f"{r['mean']:.3g} | {r['median']:.3g} | {r['paper_v1']:.2g} | {r['wall_s']:.0f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", nargs="+", default=["Swimmer-v5"], choices=sorted(TABLE1))
    p.add_argument("--algos", nargs="+", default=["tres", "es", "ars"], choices=["tres", "es", "ars"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--budget", type=float, default=2e6, help="training timesteps per run")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--eval-every", type=int, default=2, help="iterations between evaluations")
    p.add_argument("--eval-steps", type=int, default=None,
                   help="instead of --eval-every: evaluate about every this many training timesteps "
                        "(eval_every = round(steps / (2 N x 1000)) per algorithm, so that methods with "
                        "small batches are not checked more often)")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--runs-dir", default="runs/thresholds")
    p.add_argument("--json", default=None, help="write the per-run results and the summary here")
    p.add_argument("--quick", action="store_true", help="Swimmer, tres + ars, seed 0, budget 3e5")
    p.add_argument("--summarize", nargs="+", metavar="RUN", default=None,
                   help="train nothing: summarize these existing run folders (e.g. runs/thresholds/*)")
    args = p.parse_args(argv)
    if args.summarize:
        results = [result_of_run(out) for out in args.summarize]
        rows = summarize(results)
        print_table(rows, max(r["timesteps_used"] for r in results))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "runs": results, "summary": rows}, f, indent=1)
        return 0
    if args.quick:
        args.envs, args.algos, args.seeds, args.budget = ["Swimmer-v5"], ["tres", "ars"], [0], 3e5
    results = []
    for env_id in args.envs:
        for algo in args.algos:
            for seed in args.seeds:
                eval_every = args.eval_every
                if args.eval_steps:
                    from trustopt.train import TrainConfig, resolve_config

                    n = resolve_config(TrainConfig(env_id=env_id, algo=algo)).n_directions
                    eval_every = max(1, round(args.eval_steps / (2 * n * 1000)))
                r = run_one(env_id, algo, seed, budget=int(args.budget), workers=args.workers,
                            eval_every=eval_every, eval_episodes=args.eval_episodes, runs_dir=args.runs_dir)
                results.append(r)
                status = f"reached at {r['timesteps']}" if r["reached"] else f"not reached (best {r['best_eval']:.1f})"
                print(f"{env_id} {algo} seed {seed}: {status}, {r['timesteps_used']} timesteps, {r['wall_s']:.0f} s",
                      flush=True)
    rows = summarize(results)
    print_table(rows, args.budget)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": results, "summary": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
