"""Single runs of one BBOB function at a fixed population, trustopt's default method against pycma.

Where :mod:`bench_bbob` measures whole BIPOP runs, this isolates one restart: ``--runs`` starts
uniform in [-4, 4]^d (start ``k`` on instance ``1 + k mod 5``, seed ``k`` for both solvers),
``sigma0 = 2``, ``popsize`` as given, no restarts, a budget of ``1e4 d`` evaluations and the target
``f_opt + 1e-8``; printed and saved (``--json``): how many runs reach the target, the median
evaluations of those that do, and the median final precision ``f - f_opt``.

    python benchmarks/bench_bbob_single.py --fid 13 --dim 20 --popsize 24 --runs 20

(the defaults: the sharp ridge f13 at the size of BIPOP's first large restart in d = 20, about a
minute; ``benchmarks/results/bbob_single_f13_d20_lambda24.json``).
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import sys
import warnings

import numpy as np

from _extras import import_extras
from _provenance import code_version

ioh = cma = None  # the benchmark extras, imported by main (_extras)
from trustopt.optimize import minimize


#: trustopt's solvers: the default method with the library's sampling rule, or with orthogonal / i.i.d.
#: samples spelled out.
TRUSTOPT = {"trustopt": {}, "trustopt-orth": {"orthogonal": True}, "trustopt-iid": {"orthogonal": False}}
SOLVERS = (*TRUSTOPT, "cma")


def one_run(solver: str, fid: int, d: int, popsize: int, k: int) -> dict:
    problem = ioh.get_problem(fid, instance=1 + k % 5, dimension=d, problem_class=ioh.ProblemClass.BBOB)
    x0, fopt, budget = np.random.default_rng(k).uniform(-4, 4, d), problem.optimum.y, 10_000 * d
    if solver in TRUSTOPT:
        minimize(problem, x0, sigma0=2.0, maxfev=budget, seed=k,
                 options={"popsize": popsize, "ftarget": fopt + 1e-8, **TRUSTOPT[solver]})
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            es = cma.CMAEvolutionStrategy(x0, 2.0, {"popsize": popsize, "seed": k + 1, "ftarget": fopt + 1e-8,
                                                    "maxfevals": budget, "verbose": -9})
            while not es.stop():
                X = es.ask()
                es.tell(X, [problem(x) for x in X])
    precision = max(problem.state.current_best.y - fopt, 0.0)
    return {"solver": solver, "run": k, "iid": 1 + k % 5, "evals": int(problem.state.evaluations),
            "precision": precision, "reached": bool(precision <= 1e-8)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--fid", type=int, default=13, help="BBOB function id")
    ap.add_argument("--dim", type=int, default=20, help="dimension d (budget 1e4 d evaluations per run)")
    ap.add_argument("--popsize", type=int, default=24, help="population size of both solvers")
    ap.add_argument("--runs", type=int, default=20,
                    help="runs per solver: run k on instance 1 + k mod 5, seed k, its own uniform start")
    ap.add_argument("--solvers", nargs="+", choices=SOLVERS, default=["trustopt", "cma"],
                    help="trustopt (the default method as the library sets it), trustopt-orth / trustopt-iid "
                         "(orthogonal / i.i.d. samples), cma (pycma)")
    ap.add_argument("--json", help="write the per-run records here")
    a = ap.parse_args(argv)
    global ioh, cma
    ioh, cma = import_extras("bench_bbob_single", "ioh", "cma")
    records = [one_run(s, a.fid, a.dim, a.popsize, k) for k in range(a.runs) for s in a.solvers]
    for s in a.solvers:
        rs = [r for r in records if r["solver"] == s]
        ok = [r["evals"] for r in rs if r["reached"]]
        median = f"{np.median(ok):,.0f}" if ok else "-"
        print(f"f{a.fid} d = {a.dim} lambda = {a.popsize} {s:13s}: 1e-8 on {len(ok)} of {len(rs)} runs, "
              f"median evaluations of those {median}, median final precision "
              f"{np.median([r['precision'] for r in rs]):.2g}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"code_version": code_version(), "args": vars(a), "cma": cma.__version__,
                       "records": records}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
