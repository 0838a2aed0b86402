"""Summaries printed by the BBOB benchmarks (imported by the scripts in this folder, which run as
``python benchmarks/<script>.py`` with this folder on ``sys.path``)."""

from __future__ import annotations

import numpy as np


def median_ci(values, n_boot: int = 10_000, seed: int = 0, fmt: str = ".2f") -> str:
    """``[lo, hi]``, a 95% percentile-bootstrap interval of the median of ``values``."""
    v = np.asarray(values, dtype=float)
    boot = np.median(np.random.default_rng(seed).choice(v, (n_boot, v.size)), axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return f"[{lo:{fmt}}, {hi:{fmt}}]"


def print_evals_table(rows: list, functions, solvers, reference: str) -> None:
    """Per function and solver: the runs that reach the target (``reached``), the median ``evals``
    of those, and the median over instances of the paired ratio to ``reference``'s evaluations
    (both reached) with a 95% bootstrap interval."""
    width = max(len(s) for s in solvers)
    print(f"\nfunction  {'solver':{width}s} reached  median evals (reached runs)  ratio to {reference} (paired)")
    for fid in functions:
        ref = {r["instance"]: r for r in rows if r["fid"] == fid and r["solver"] == reference}
        for solver in solvers:
            rs = [r for r in rows if r["fid"] == fid and r["solver"] == solver]
            ok = [r["evals"] for r in rs if r["reached"]]
            pairs = [r["evals"] / ref[r["instance"]]["evals"] for r in rs
                     if r["reached"] and r["instance"] in ref and ref[r["instance"]]["reached"]]
            med = f"{np.median(ok):.0f}" if ok else "-"
            ratio = f"{np.median(pairs):.2f} {median_ci(pairs)}" if pairs else "-"
            print(f"f{fid:<8d} {solver:{width}s} {len(ok)}/{len(rs)}    {med:>12s}                 {ratio}")


def print_best_table(rows: list, functions, solvers, reference: str) -> None:
    """Per function where some run stops short of the target, and per solver: the median over
    instances of the best ``f - f_opt`` a run found, and the median paired ``log10`` ratio to
    ``reference``'s with a 95% bootstrap interval (below 0: closer than ``reference``). Functions
    where every run reaches the target are left out: their best values are wherever each run
    happened to pass the target."""
    width = max(len(s) for s in solvers)
    print(f"\nfunction  {'solver':{width}s} median best f - f_opt   log10 ratio to {reference} (paired)")
    for fid in functions:
        if all(r["reached"] for r in rows if r["fid"] == fid):
            continue
        ref = {r["instance"]: r["best"] for r in rows if r["fid"] == fid and r["solver"] == reference}
        for solver in solvers:
            rs = [r for r in rows if r["fid"] == fid and r["solver"] == solver]
            tiny = 1e-300  # a run that reached f_opt exactly
            logs = [np.log10(max(r["best"], tiny) / max(ref[r["instance"]], tiny)) for r in rs if r["instance"] in ref]
            ratio = f"{np.median(logs):+.2f} {median_ci(logs, fmt='+.2f')}" if logs else "-"
            print(f"f{fid:<8d} {solver:{width}s} {np.median([r['best'] for r in rs]):20.3g}   {ratio}")
