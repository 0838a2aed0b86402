"""How deep a run fell into Walker2d's first trap, falling at once, from its ``progress.csv``.

With the survival bonus removed (TRES sec. "Experimental Settings"; Mania et al. 2018) a policy
that falls within a few steps beats the zero policy, which falls backwards after 100-180 steps
(``docs/mujoco-tres-experiments.md``, "Local optima on Walker2d and Ant"). The trap has a
shallow part, training episodes of 15-20 steps where the sampled policies still differ and the
ranks still carry a gradient back out, and a floor, episodes of about 10 steps (the quickest
fall) where every sampled policy falls alike and the ranks are noise. Per run folder of
``trustopt train`` this prints:

* ``step``: the median ``||theta_{k+1} - theta_k||`` over the first 10 iterations;
* ``enter``: the first iteration whose training episodes average under ``--short`` steps (20),
  and ``dist``, the length of the path of the mean up to it (the sum of the steps);
* ``floor``: the shortest mean episode length over any ``--window`` iterations (10);
* ``end``: the mean episode length and training return of the last window;
* ``final``: the last evaluation (environment return, mean action); under 20 is *fallen*.

and per label (``bench_label.txt`` of ``bench_thresholds.py``, else the folder name without its
seed) how many runs entered the trap, how many reached its floor (a window under ``--floor``
steps, 12) and how many end fallen.

    python benchmarks/trap_depth.py RUNS_DIR/Walker2d-v5-* [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections import defaultdict

import numpy as np

from _provenance import code_version
from bench_thresholds import run_label
from episode_ends import training_windows
from trustopt.train import read_progress


def trap_depth(run: str, *, short: float, window: int) -> dict:
    """The per-run figures of the module docstring for the run folder ``run``."""
    p = read_progress(run)
    lengths = np.array([w["mean_length"] for w in training_windows(run, 1)])  # per iteration
    steps = np.nan_to_num(p["step_norm"])
    enter = next((int(i) for i in np.flatnonzero(lengths < short)), None)
    windows = training_windows(run, window)
    evals = p["eval_mean"][np.isfinite(p["eval_mean"])]
    return {"run": os.path.basename(os.path.normpath(run)), "iterations": int(lengths.size),
            "step": float(np.median(steps[:10])), "enter": enter,
            "dist": None if enter is None else float(np.sum(steps[:enter])),
            "floor": min(w["mean_length"] for w in windows), "end_length": windows[-1]["mean_length"],
            "end_return": windows[-1]["train_return"], "final": float(evals[-1]) if evals.size else None}


def label_and_seed(run: str) -> tuple[str, int | None]:
    """The run's label (``bench_label.txt``, else its folder name without ``-seedN``) and seed (from
    the name, else the run's ``config.json``)."""
    name = os.path.basename(os.path.normpath(run))
    m = re.search(r"-seed(\d+)$", name)
    seed = int(m.group(1)) if m else None
    if seed is None:
        try:
            with open(os.path.join(run, "config.json")) as f:
                seed = json.load(f).get("seed")
        except (OSError, ValueError):
            pass
    return run_label(run, default=name[:m.start()] if m else name), seed


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders of trustopt train")
    ap.add_argument("--short", type=float, default=20.0, help="mean episode length that enters the trap (20)")
    ap.add_argument("--floor", type=float, default=12.0, help="window mean length that counts as its floor (12)")
    ap.add_argument("--window", type=int, default=10, help="iterations per window (10)")
    ap.add_argument("--json", help="write the per-run figures here")
    a = ap.parse_args(argv)
    by_label = defaultdict(list)
    for run in a.runs:
        label, seed = label_and_seed(run)
        by_label[label].append({"seed": seed, **trap_depth(run, short=a.short, window=a.window)})
    for label, rows in by_label.items():
        rows.sort(key=lambda r: (r["seed"] is None, r["seed"]))
        print(label)
        for r in rows:
            dist = "-" if r["dist"] is None else f"{r['dist']:.2f}"
            final = "-" if r["final"] is None else f"{r['final']:.0f}"
            print(f"  seed {r['seed']}: step {r['step']:.3f}  enter {r['enter'] if r['enter'] is not None else '-'}"
                  f" (dist {dist})  floor {r['floor']:.1f}  end {r['end_length']:.1f} steps,"
                  f" return {r['end_return']:.1f}  final {final}")
        entered = sum(r["enter"] is not None for r in rows)
        floor = sum(r["floor"] < a.floor for r in rows)
        fallen = sum(r["final"] is not None and r["final"] < 20 for r in rows)
        print(f"  {len(rows)} runs: entered {entered}, reached the floor {floor}, fallen at the end {fallen};"
              f" median step {np.median([r['step'] for r in rows]):.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"code_version": code_version(), "args": vars(a), "runs": by_label}, f, indent=1)


if __name__ == "__main__":
    main()
