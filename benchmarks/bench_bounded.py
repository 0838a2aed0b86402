"""Bounded BBOB: the optimum moved to a corner of [-5, 5]^d, trustopt.minimize(bounds=...) against pycma's
bounds (its BoundTransform), in the same run.

Protocol: BBOB f1 (sphere), f8 (Rosenbrock), f10 (rotated ellipsoid, condition 1e6, oscillations),
f15 (rotated Rastrigin) of the ``ioh`` package, d = 10, instances 1-5. Each function is shifted so
that its optimum is the corner (5, ..., 5): ``g(x) = f(x - (5, ..., 5) + x_opt)``, so the optimum
of the box problem lies ON the boundary (every coordinate at its upper bound). Both solvers start
at a point drawn uniformly from [-4, 4]^d (seeded) with the box [-5, 5]^d, ``sigma0`` the
documented default of trustopt (a quarter of the width: 2.5) for both, target ``g - f_opt <=
1e-8``, budget ``1e4 d`` evaluations, no restarts. Recorded per run: reached or not, evaluations
to the target (or the budget), the best ``g - f_opt``, and the number of evaluated points outside
the box (must be 0 for both).

    python benchmarks/bench_bounded.py --out benchmarks/results/bounded_bbob_d10.json   # the committed runs
    python benchmarks/bench_bounded.py --instances 1 --functions 1 10                   # prints only
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import sys
import time
import warnings
from importlib.metadata import version as _version

import numpy as np

from _extras import import_extras
from trustopt.optimize import minimize

ioh = cma = None  # the benchmark extras, imported by main (_extras)
LO, HI = -5.0, 5.0


class CornerProblem:
    """``g(x) = f(x - corner + x_opt) - f_opt`` with a count of evaluations outside the box."""

    def __init__(self, fid, instance, d):
        self.f = ioh.get_problem(fid, instance, d, ioh.ProblemClass.BBOB)
        self.shift = np.asarray(self.f.optimum.x) - HI
        self.fopt = self.f.optimum.y
        self.nfev = self.outside = 0
        self.best = np.inf
        self.hit = None

    def __call__(self, x):
        x = np.asarray(x, dtype=float)
        self.nfev += 1
        if np.any(x < LO) or np.any(x > HI):
            self.outside += 1
        v = float(self.f(x + self.shift)) - self.fopt
        self.best = min(self.best, v)
        if self.hit is None and v <= 1e-8:
            self.hit = self.nfev
        return v


def run(solver, fid, instance, d, seed):
    p = CornerProblem(fid, instance, d)
    x0 = np.random.default_rng(seed).uniform(-4, 4, d)
    budget = 10_000 * d
    t0 = time.perf_counter()
    if solver == "trustopt":
        minimize(p, x0, bounds=[(LO, HI)] * d, sigma0=2.5, maxfev=budget, seed=seed, options={"ftarget": 1e-8})
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cma.fmin2(p, x0, 2.5, options={"bounds": [LO, HI], "maxfevals": budget, "ftarget": 1e-8,
                                             "verbose": -9, "seed": seed + 1})
    return {"solver": solver, "fid": fid, "instance": instance, "d": d, "seed": seed, "reached": p.hit is not None,
            "evals": p.hit if p.hit is not None else p.nfev, "best": p.best, "outside": p.outside,
            "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--functions", type=int, nargs="+", default=[1, 8, 10, 15], help="BBOB function ids")
    ap.add_argument("--instances", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="BBOB instances (and seeds)")
    ap.add_argument("--dim", type=int, default=10, help="dimension d (budget 1e4 d evaluations per run)")
    ap.add_argument("--out", default=None, help="write the raw runs here as JSON (none: print only; the "
                    "committed runs are benchmarks/results/bounded_bbob_d10.json)")
    args = ap.parse_args(argv)
    global ioh, cma
    ioh, cma = import_extras("bench_bounded", "ioh", "cma")
    rows = []
    for fid in args.functions:
        for inst in args.instances:
            for solver in ("trustopt", "cma"):
                r = run(solver, fid, inst, args.dim, seed=inst)
                rows.append(r)
                print(f"f{fid:<2d} i{inst} {solver:8s} reached={r['reached']!s:5s} evals={r['evals']:6d} "
                      f"best={r['best']:.2e} outside={r['outside']} {r['seconds']:.1f}s", flush=True)
    print("\nfunction  solver    reached  median evals (reached runs)  points outside")
    for fid in args.functions:
        for solver in ("trustopt", "cma"):
            rs = [r for r in rows if r["fid"] == fid and r["solver"] == solver]
            ok = [r["evals"] for r in rs if r["reached"]]
            med = f"{np.median(ok):.0f}" if ok else "-"
            print(f"f{fid:<8d} {solver:9s} {len(ok)}/{len(rs)}      {med:>12s}                {sum(r['outside'] for r in rs)}")
    if args.out:
        meta = {"ioh": _version("ioh"), "cma": _version("cma"), "trustopt": _version("trustopt"),
                "protocol": __doc__.split("\n\n")[1]}
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "runs": rows}, f, indent=1)
        print(f"raw results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
