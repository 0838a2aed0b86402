"""Wall time of several seeds on C cores: one after the other with ``--workers C`` against
``--procs C`` (each seed in its own process, one worker each).

Both arms run the same command, ``trustopt train --seeds S1 S2 ... --timesteps T``, as a user
would (process start-up, evaluations and checkpoints included), interleaved over ``--repeats``
rounds (A B, then B A, ...) so that a drift of the machine's speed hits both; the median wall
time of each arm and their ratio are reported, and every seed's policy is checked to be the
same bits in both arms. Workers synchronize once per iteration (the batch waits for its longest
episode), seeds side by side never do, so the ratio is what ``--procs`` saves on that task.

    python benchmarks/bench_seeds_procs.py                                  # Hopper-v5, TRES, 4 seeds, 2 cores
    python benchmarks/bench_seeds_procs.py --env Swimmer-v5 --timesteps 300000 --json seeds_procs.json
    python benchmarks/bench_seeds_procs.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from _provenance import code_version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_arm(flags: list[str], common: list[str], out: str) -> float:
    """Wall seconds of ``trustopt train COMMON FLAGS --out OUT`` (an error if it fails)."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "trustopt", "train", *common, *flags, "--out", out],
                       capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"bench_seeds_procs: {' '.join(flags)} failed (exit {r.returncode}): {r.stderr.strip()}")
    return wall


def policy_bits(out: str, seed: int) -> bytes:
    with np.load(os.path.join(out, f"seed-{seed}", "policy.npz")) as z:
        return b"".join(np.ascontiguousarray(z[k]).tobytes() for k in sorted(z.files))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="Hopper-v5")
    ap.add_argument("--algo", default="tres")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    ap.add_argument("--timesteps", type=int, default=200_000, help="per seed (default 200000)")
    ap.add_argument("--cores", type=int, default=2, help="C: --workers C in sequence against --procs C (default 2)")
    ap.add_argument("--repeats", type=int, default=2, help="rounds of both arms, interleaved (default 2)")
    ap.add_argument("--json", help="write the wall times and the ratio here")
    ap.add_argument("--quick", action="store_true", help="Swimmer-v5, 2 seeds, 64000 timesteps, 1 round")
    args = ap.parse_args(argv)
    if args.quick:
        args.env, args.seeds, args.timesteps, args.repeats = "Swimmer-v5", [0, 1], 64_000, 1
    common = ["--env", args.env, "--algo", args.algo, "--seeds", *map(str, args.seeds), "--timesteps",
              str(args.timesteps), "--eval-every", "2", "--no-progress"]
    arms = {"sequential": ["--workers", str(args.cores)], "procs": ["--procs", str(args.cores), "--workers", "1"]}
    walls: dict[str, list[float]] = {name: [] for name in arms}
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            order = list(arms) if r % 2 == 0 else list(arms)[::-1]
            outs = {}
            for name in order:
                outs[name] = os.path.join(tmp, f"{r}-{name}")
                walls[name].append(run_arm(arms[name], common, outs[name]))
                print(f"round {r}: {name:<10} {' '.join(arms[name]):<22} {walls[name][-1]:7.1f} s", flush=True)
            same &= all(policy_bits(outs["sequential"], s) == policy_bits(outs["procs"], s) for s in args.seeds)
    med = {name: statistics.median(w) for name, w in walls.items()}
    ratio = med["sequential"] / med["procs"]
    print(f"{args.env}, {args.algo}, {len(args.seeds)} seeds x {args.timesteps} timesteps on {args.cores} cores: "
          f"--workers {args.cores} in sequence {med['sequential']:.1f} s, --procs {args.cores} {med['procs']:.1f} s "
          f"(median of {args.repeats}); --procs is {ratio:.2f}x as fast; same policies: {same}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "walls_s": walls, "median_s": med, "ratio_sequential_over_procs": ratio,
                       "same_policies": same, "cpus": os.cpu_count(), "code": code_version()}, f, indent=1)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
