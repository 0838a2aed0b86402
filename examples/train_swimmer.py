"""Train TRES on Swimmer-v5 until it reaches the TRES paper's threshold (128), then plot.

    python examples/train_swimmer.py                       # the `make demo` experiment
    python examples/train_swimmer.py --timesteps 2000 --max-episode-steps 100 --target 1e9 --out runs/tiny  # quick check

A linear policy ``a = W (s - mean) / std`` (W initialized at zero, state normalization,
antithetic sampling, centered ranks, clip factor lambda = 14, K = 15 epochs: TRES, Liu et al.
2019, sec. "Experimental Settings"; see trustopt/train/config.py for every default and its
source) is trained with 2 worker processes until an evaluation (after every iteration of 32
episodes, 10 episodes of the mean policy, the environment's own return) reaches 128 -- TRES Table 1's threshold for Swimmer,
which the paper reached in 2.4e5 timesteps on Swimmer-v1 -- or the budget runs out. The run
folder holds config.json, progress.csv, the checkpoint and policy.npz; the learning curve is
written next to it. The same experiment from the command line:

    trustopt train --env Swimmer-v5 --algo tres --timesteps 1000000 --seed 0 --workers 2 \
        --out runs/swimmer-tres --eval-every 1 --target 128
    trustopt plot runs/swimmer-tres -o runs/swimmer-tres.png
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from trustopt.train import TrainConfig, plot_runs, train

THRESHOLD = 128.0  # TRES Table 1, Swimmer


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/demo-swimmer-tres")
    p.add_argument("--timesteps", type=int, default=2_000_000, help="budget if the target is not reached")
    p.add_argument("--target", type=float, default=THRESHOLD)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--plot", default=None, help="image path (default: <out>.png)")
    p.add_argument("--max-episode-steps", type=int, default=None, help="shorter episodes (quick checks only)")
    args = p.parse_args(argv)

    if os.path.exists(args.out):  # the demo always starts afresh
        shutil.rmtree(args.out)
    config = TrainConfig(env_id="Swimmer-v5", algo="tres", timesteps=args.timesteps, seed=args.seed,
                         eval_every=args.eval_every, eval_episodes=args.eval_episodes, target=args.target,
                         max_episode_steps=args.max_episode_steps)
    t0 = time.perf_counter()
    res = train(config, args.out, workers=args.workers)  # a progress bar on a terminal, none in a log file
    wall = time.perf_counter() - t0
    c = res.config
    print(f"TRES on Swimmer-v5 (N = {c.n_directions} directions, sigma = {c.sigma}, lr = {c.lr}, "
          f"lambda = {c.lambda_}, K = {c.K}), seed {c.seed}, {args.workers} workers")
    if res.stop_reason == "target":
        print(f"reached {res.last_eval[0]:.1f} >= {args.target:g} after {res.timesteps} timesteps "
              f"({res.iterations} iterations) in {wall:.1f} s")
    else:
        last = "no evaluation" if res.last_eval is None else f"last evaluation {res.last_eval[0]:.1f}"
        print(f"budget of {args.timesteps} timesteps used ({last}) in {wall:.1f} s")
    png = plot_runs([args.out], args.plot or args.out.rstrip("/") + ".png", target=args.target,
                    title="TRES on Swimmer-v5 (linear policy)")
    print(f"learning curve: {png}")
    return 0 if res.stop_reason == "target" or args.target > 1e8 else 1


if __name__ == "__main__":
    sys.exit(main())
