"""Which restart rule, and would it bring a task to most seeds? A resampling answer from committed runs.

A restart rule "start afresh when the best evaluation after ``T`` timesteps of a run is below
``c``" is simulated on the learning curves already measured (``bench_thresholds.py`` raw
results, one pool of seeds per configuration): a simulated run draws a measured curve at random;
if the curve's best evaluation up to ``T`` is below ``c`` the run spends ``T`` timesteps and draws
again, otherwise it follows the curve to the end of the budget. A run succeeds when a curve it
follows reaches the threshold within the budget left. Every draw is a whole measured run, so the
simulation assumes only that seeds are exchangeable (a restart is a new seed); a curve that ends
before the budget left counts as not reaching the threshold after its end (conservative). The
trainer's rule (``trustopt train --restart-below c --restart-after T``) differs in two details: it
also counts the first evaluation at or past ``T``, and a restart costs the timesteps actually
spent to that evaluation; on the committed pools this changes one decision, under a rule not
chosen (Hopper's seed 10 under "below 1000 by 0.5M").

    python benchmarks/restart_sim.py                       # the README's table
    python benchmarks/restart_sim.py --draws 20000 --json restart_sim.json

Output: per pool and rule, the share of simulated runs that reach the threshold within the
budget (95% interval over bootstrap resamples of the pool's seeds) and the mean number of
restarts; the rule ``T = 0`` is no restart (the pool's own share).

The pools: Walker2d (does any rule bring 2872 to most seeds? no), and the default's 20 seeds on
InvertedPendulum and Hopper, on which the rules of ``trustopt train --restart-below R
--restart-after T`` measured in docs/mujoco-tres-experiments.md ("Restarts") were chosen.
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from bench_thresholds import load

RESULTS = Path(__file__).resolve().parent / "results"

#: (T, c): restart when the best evaluation of the first T timesteps of a run is below c.
RULES = ((0, 0.0), (200_000, 5.0), (500_000, 800.0), (500_000, 1000.0), (1_000_000, 1000.0), (1_000_000, 1500.0),
         (1_500_000, 2000.0))
IP_RULES = ((0, 0.0), (30_000, 500.0), (50_000, 500.0), (50_000, 900.0))
HOPPER_RULES = ((0, 0.0), (500_000, 1000.0), (500_000, 1500.0), (1_000_000, 1500.0), (1_000_000, 2500.0),
                (1_500_000, 2500.0))


class Pool(NamedTuple):
    """Glob patterns of raw results under benchmarks/results, the budget in timesteps, the
    threshold, the rules to simulate, and the label of the runs to read (None: every run)."""

    patterns: tuple
    budget: int
    threshold: str
    rules: tuple
    label: str | None = None


_WALKER = ("2872", RULES)
POOLS = {
    "Walker2d-v5, default (K = 15), 10 seeds": Pool(
        ("thresholds_Walker2d-v5_tres_sigma0.03.json",), 3_000_000, *_WALKER),
    "Walker2d-v5, K = 5, 10 seeds": Pool(
        ("thresholds_tres/thresholds_Walker2d-v5_tres_K5.json", "thresholds_tres/thresholds_Walker2d-v5_tres_K5_s5-9.json"),
        3_000_000, *_WALKER),
    "Walker2d-v5 with v4's model, 16 seeds": Pool(
        ("thresholds_tres/thresholds_Walker2d-v5_tres_v4-model.json",), 3_600_000, *_WALKER),
    "Walker2d-v5, K = 5, orthogonal, 16 seeds": Pool(
        ("thresholds_tres/orthogonal/thresholds_Walker2d-v5_tres_K5_orthogonal*.json",), 3_600_000, *_WALKER),
    "Walker2d-v5, K = 5, orthogonal, lr 2 from 2M, 16 seeds": Pool(
        ("thresholds_tres/sigma_switch/thresholds_Walker2d-v5_tres_K5_orthogonal_lr2_from_2M_s*.json",), 3_600_000,
        *_WALKER),
    "InvertedPendulum-v5, default, 20 seeds": Pool(
        ("thresholds_InvertedPendulum-v5_tres_sigma0.19*.json",), 200_000, "1000", IP_RULES),
    "Hopper-v5, default, 20 seeds": Pool(
        ("thresholds_Hopper-v5_tres_sigma0.037*.json",), 3_000_000, "3120", HOPPER_RULES),
    "Hopper-v5, ARS's table, 20 seeds": Pool(
        ("thresholds_Hopper-v5.json", "thresholds_Hopper-v5_es_ars_s5-9.json", "thresholds_Hopper-v5_ars_s10-19.json"),
        3_000_000, "3120", HOPPER_RULES, label="ars"),
}


def load_curves(patterns, threshold: str = "2872", label: str | None = None):
    """``[(timesteps (n,), evaluations (n,), hit timestep or inf)]`` of every run in the files
    (read by :func:`bench_thresholds.load`, which refuses a run that two files both hold), or of
    those labelled ``label``."""
    curves = []
    for run in load([str(RESULTS / pattern) for pattern in patterns]):
        if label is not None and run["label"] != label:
            continue
        hit = run["hits"].get(threshold)
        t, e = (np.asarray(run["curve"][k], dtype=float) for k in ("timesteps", "eval"))
        curves.append((t, e, float(hit["timesteps"]) if hit else np.inf))
    return curves


def simulate(curves, budget: float, T: float, c: float, rng: np.random.Generator, draws: int):
    """``(share reaching the threshold, mean restarts)`` of ``draws`` simulated runs."""
    best_by_T = np.array([e[t <= T].max(initial=-np.inf) for t, e, _ in curves]) if T > 0 else None
    hits = np.array([h for _, _, h in curves])
    reached = restarts = 0
    for _ in range(draws):
        left = budget
        while True:
            j = rng.integers(len(curves))
            if T > 0 and left > T and best_by_T[j] < c:
                left -= T
                restarts += 1
                continue
            reached += hits[j] <= left
            break
    return reached / draws, restarts / draws


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=20000, help="simulated runs per pool and rule")
    ap.add_argument("--boot", type=int, default=200, help="bootstrap resamples of each pool's seeds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the table here")
    args = ap.parse_args(argv)
    rows = []
    for name, (patterns, budget, threshold, rules, label) in POOLS.items():
        curves = load_curves(patterns, threshold, label)
        for T, c in rules:
            # one random stream per (pool, rule), keyed by their content: adding a pool or a rule
            # leaves every other row's figures as they were
            rng = np.random.default_rng([args.seed, zlib.crc32(f"{name}|{T}|{c:g}".encode())])
            share, n_restarts = simulate(curves, budget, T, c, rng, args.draws)
            boot = [simulate([curves[i] for i in rng.integers(len(curves), size=len(curves))], budget, T, c, rng,
                             max(1, args.draws // 20))[0] for _ in range(args.boot)]
            lo, hi = np.percentile(boot, [2.5, 97.5])
            rule = "no restart" if T == 0 else f"best < {c:g} by {T / 1e6:g}M"
            rows.append(dict(pool=name, budget=budget, threshold=threshold, rule=rule, T=T, c=c, share=share,
                             ci=[lo, hi], restarts=n_restarts))
            print(f"{name:54s} {rule:22s} share {share:.3f} [{lo:.2f}, {hi:.2f}]  restarts {n_restarts:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(args=vars(args), rows=rows), indent=1))


if __name__ == "__main__":
    main()
