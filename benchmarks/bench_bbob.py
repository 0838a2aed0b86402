"""BBOB benchmark: trustopt's evolution strategies against pycma, measured in the same run.

Protocol (``--full``, the one the README table reports when it says so): the 24 noiseless BBOB
functions of the ``ioh`` package (``pip install "ioh>=0.3.14"``; the functions are NOT
re-implemented here), instances 1-5, d = 10 and 20, budget ``1e4 * d`` evaluations per run.
Score: the share of (function, instance, target) triples whose target ``f - f_opt <= 10^k``,
``k in {2, 1.8, ..., -8}`` (the 51 COCO targets), is reached within the budget. Every solver
starts at a point drawn uniformly from ``[-4, 4]^d`` (seeded) with ``sigma0 = 2``; restarts
draw a new such point.

Solvers:
    tr-cma         trustopt.minimize(method="trust-region-cma"): Gaussian KL trust region, no restarts
    tr-cma-bipop   the same with BIPOP restarts (up to 9 large ones)
    tr-cma-ipop    the same with IPOP restarts (up to 9)
    tr-es          trustopt.minimize(method="trust-region-es"): trust-region ES, quadratic (BFGS) model
    tr-es-ipop     the same with IPOP restarts (up to 9, population x2 each)
    tr-es-coord    tr-es-ipop with coordinate directions (rotate=False) instead of a Haar frame
    tr-es-linear   trust-region ES with the linear model (Cauchy step), IPOP restarts
    es / ars / tres  the black-box (adaptive sigma) modes of the other trustopt methods
    cma            pycma CMA-ES, no restarts
    cma-bipop      pycma CMA-ES with BIPOP restarts (up to 9)

Default (no flag, what ``make bench`` runs): the quick protocol ``--dims 10 --instances 1
--budget-multiplier 1000``. Every option can be overridden, e.g.::

    python benchmarks/bench_bbob.py --full
    python benchmarks/bench_bbob.py --dims 10 --instances 1 2 --budget-multiplier 2000 --solvers tr-es cma
"""

from __future__ import annotations

import os

# One BLAS thread: on a shared 2-core machine OpenBLAS's default threading made a 200x200 QR
# 100x slower (measured 1.4 s vs 0.011 s); the comparison is of the algorithms, single-threaded.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import sys
import time
import warnings

import numpy as np
from importlib.metadata import version as _version

try:
    import ioh
except ImportError:  # pragma: no cover
    sys.exit("bench_bbob: needs the ioh package: .venv/bin/pip install 'ioh>=0.3.14'")
import cma

from trustopt.optimize import minimize

TARGETS = 10.0 ** np.arange(2.0, -8.0 - 1e-9, -0.2)  # 51 COCO targets
SOLVERS = ["tr-cma", "tr-cma-bipop", "tr-cma-bipop-orth", "tr-cma-ipop", "tr-es", "tr-es-ipop", "tr-es-coord", "tr-es-linear", "es", "ars", "tres", "cma", "cma-bipop"]


def run_trustopt(problem, x0, budget, seed, method, restarts, extra):
    rng = np.random.default_rng(seed + 1)
    fopt = problem.optimum.y
    opts = {"ftarget": fopt + 1e-8, "restarts": restarts,
            "restart_x0": lambda r: rng.uniform(-4, 4, problem.meta_data.n_variables), **extra}
    minimize(lambda x: problem(x), x0, method=method, sigma0=2.0, maxfev=budget, seed=seed, options=opts)


def run_cma(problem, x0, budget, seed, restarts, bipop):
    rng = np.random.default_rng(seed + 1)
    d = problem.meta_data.n_variables
    state = {"first": True}

    def x0_callable():  # the common x0 first, then fresh uniform points for the restarts
        if state["first"]:
            state["first"] = False
            return x0
        return rng.uniform(-4, 4, d)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cma.fmin2(lambda x: problem(x), x0_callable, 2.0, restarts=restarts, bipop=bipop,
                  options={"maxfevals": budget, "ftarget": problem.optimum.y + 1e-8, "verbose": -9,
                           "seed": seed + 1})


def one_run(solver, fid, iid, d, budget, seed):
    problem = ioh.get_problem(fid, instance=iid, dimension=d, problem_class=ioh.ProblemClass.BBOB)
    x0 = np.random.default_rng(1000 * fid + iid).uniform(-4, 4, d)
    t = time.perf_counter()
    if solver == "tr-cma":
        run_trustopt(problem, x0, budget, seed, "trust-region-cma", 0, {})
    elif solver == "tr-cma-bipop":
        run_trustopt(problem, x0, budget, seed, "trust-region-cma", 9, {"regime": "bipop"})
    elif solver == "tr-cma-bipop-orth":
        run_trustopt(problem, x0, budget, seed, "trust-region-cma", 9, {"regime": "bipop", "orthogonal": True})
    elif solver == "tr-cma-ipop":
        run_trustopt(problem, x0, budget, seed, "trust-region-cma", 9, {})
    elif solver == "tr-es":
        run_trustopt(problem, x0, budget, seed, "trust-region-es", 0, {})
    elif solver == "tr-es-ipop":
        run_trustopt(problem, x0, budget, seed, "trust-region-es", 9, {})
    elif solver == "tr-es-coord":
        run_trustopt(problem, x0, budget, seed, "trust-region-es", 9, {"rotate": False})
    elif solver == "tr-es-linear":
        run_trustopt(problem, x0, budget, seed, "trust-region-es", 9, {"model": "linear"})
    elif solver in ("es", "ars", "tres"):
        run_trustopt(problem, x0, budget, seed, solver, 9, {})
    elif solver == "cma":
        run_cma(problem, x0, budget, seed, 0, False)
    elif solver == "cma-bipop":
        run_cma(problem, x0, budget, seed, 9, True)
    else:
        raise ValueError(solver)
    precision = max(problem.state.current_best.y - problem.optimum.y, 0.0)
    return {"solver": solver, "fid": fid, "iid": iid, "d": d, "precision": precision,
            "evals": int(problem.state.evaluations), "seconds": time.perf_counter() - t,
            "reached": int(np.sum(precision <= TARGETS))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="24 functions x 5 instances, d = 10 and 20, 1e4*d")
    ap.add_argument("--dims", type=int, nargs="+", default=None)
    ap.add_argument("--functions", type=int, nargs="+", default=None)
    ap.add_argument("--instances", type=int, nargs="+", default=None)
    ap.add_argument("--budget-multiplier", type=float, default=None)
    ap.add_argument("--solvers", nargs="+", default=SOLVERS, choices=SOLVERS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write every run's record to this file")
    a = ap.parse_args(argv)
    dims = a.dims or ([10, 20] if a.full else [10])
    fids = a.functions or list(range(1, 25))
    iids = a.instances or ([1, 2, 3, 4, 5] if a.full else [1])
    mult = a.budget_multiplier or (1e4 if a.full else 1e3)
    print(f"bbob: dims {dims}, functions {fids[0]}..{fids[-1]} ({len(fids)}), instances {iids}, "
          f"budget {mult:g}*d, {len(TARGETS)} targets 1e2..1e-8, ioh {_version('ioh')}, cma {cma.__version__}",
          flush=True)
    records = []
    for d in dims:
        budget = int(mult * d)
        for solver in a.solvers:
            t = time.perf_counter()
            for fid in fids:
                for iid in iids:
                    records.append(one_run(solver, fid, iid, d, budget, a.seed))
            rs = [r for r in records if r["solver"] == solver and r["d"] == d]
            share = sum(r["reached"] for r in rs) / (len(rs) * len(TARGETS))
            solved = sum(r["precision"] <= 1e-8 for r in rs)
            print(f"d={d:3d} {solver:13s} share of (f, inst, target) reached {share:6.3f}   "
                  f"runs to 1e-8: {solved:3d}/{len(rs)}   {time.perf_counter() - t:7.1f} s", flush=True)
    # per-function table: targets reached (out of 51 x instances) per solver
    for d in dims:
        print(f"\nd = {d}: targets reached per function (of {len(TARGETS) * len(iids)})")
        print("  f  " + " ".join(f"{s:>12s}" for s in a.solvers))
        for fid in fids:
            row = [sum(r["reached"] for r in records if r["solver"] == s and r["d"] == d and r["fid"] == fid)
                   for s in a.solvers]
            print(f"{fid:3d}  " + " ".join(f"{v:12d}" for v in row))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(records, fh, indent=1)


if __name__ == "__main__":
    main()
