"""The grid the BBOB comparisons with pycma run (``bench_fixed``, ``bench_scaled``,
``bench_integer``): every function x instance x solver, one run each, target ``f - f_opt <= 1e-8``
(imported by the scripts in this folder, which run as ``python benchmarks/<script>.py`` with this
folder on ``sys.path``)."""

from __future__ import annotations

import argparse

import numpy as np

#: ``f - f_opt`` at which a run has reached the optimum.
TARGET = 1e-8


class Recorder:
    """What a run of a problem recorded: ``nfev``, the best ``f - f_opt`` and the evaluation that
    first reached :data:`TARGET` (``hit``, None before). A problem calls :meth:`record` on each value."""

    def __init__(self):
        self.nfev, self.best, self.hit = 0, np.inf, None

    def record(self, v: float) -> float:
        self.nfev += 1
        self.best = min(self.best, v)
        if self.hit is None and v <= TARGET:
            self.hit = self.nfev
        return v

    def row(self, **fields) -> dict:
        """One raw result: ``fields`` (solver, fid, instance, ...), then reached, evals (to the target,
        or the last one) and best."""
        return {**fields, "reached": self.hit is not None, "evals": self.hit if self.hit is not None else self.nfev,
                "best": self.best}


def arguments(argv, doc: str, *, functions, dim: int, dim_help: str, committed: str) -> argparse.Namespace:
    """``--functions``, ``--instances`` (1-10; each also the run's seed), ``--dim`` and ``--out``, with
    the script's defaults (``committed``: where its committed raw runs are)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--functions", type=int, nargs="+", default=list(functions), help="BBOB function ids")
    ap.add_argument("--instances", type=int, nargs="+", default=list(range(1, 11)), help="BBOB instances (and seeds)")
    ap.add_argument("--dim", type=int, default=dim, help=dim_help)
    ap.add_argument("--out", default=None,
                    help=f"write the raw runs here as JSON (none: print only; the committed runs are {committed})")
    return ap.parse_args(argv)


def run_grid(run, args: argparse.Namespace, solvers, width: int = 20, extra=lambda r: "") -> list:
    """``run(solver, fid, instance, d)`` for every function, instance and solver of ``args``, each
    printed as it ends (``extra(row)``: what the script adds to the line); the rows."""
    rows = []
    for fid in args.functions:
        for inst in args.instances:
            for solver in solvers:
                r = run(solver, fid, inst, args.dim)
                rows.append(r)
                print(f"f{fid:<2d} i{inst:<2d} {solver:{width}s} reached={r['reached']!s:5s} evals={r['evals']:6d} "
                      f"best={r['best']:.2e}{extra(r)} {r['seconds']:.1f}s", flush=True)
    return rows
