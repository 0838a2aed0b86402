"""Coordinates of different scales: ``trustopt.minimize`` with one ``sigma0`` per coordinate against
one ``sigma0`` for all, and against pycma's ``CMA_stds``, in the same run.

Protocol: BBOB f1 (sphere), f8 (Rosenbrock) and f10 (rotated ellipsoid, condition 1e6) of the
``ioh`` package, d = 10, instances 1-10, one seed each, read in coordinates of scales
``s_i = 10^(-2 + 4 i / (d - 1))`` (1e-2 to 1e2): ``h(x) = f(x / s) - f_opt``. Every solver starts
at ``x0 = s u``, ``u`` uniform in [-4, 4]^d (seeded); ``sigma0 = 2 s`` (trustopt's per-coordinate
``sigma0``; pycma's ``sigma0 = 2`` with ``CMA_stds = s``) or ``sigma0 = 2`` for every coordinate
(their geometric mean), target ``h <= 1e-8``, budget ``1e4 d`` evaluations, no restarts; trustopt's
method is the default, ``trust-region-cma``. Recorded per run: reached or not, evaluations to the
target (or the last one) and the best ``h``.

    python benchmarks/bench_scaled.py --out benchmarks/results/scaled_bbob_d10.json   # the committed runs
    python benchmarks/bench_scaled.py --instances 1 --functions 1                    # prints only

The summary: ``_tables.print_evals_table``, with pycma's runs as the reference of the ratios.
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys
import time
import warnings

import numpy as np

from _extras import import_extras
from _grid import Recorder, arguments, run_grid
from _provenance import write_runs
from _tables import print_evals_table
from trustopt.optimize import minimize

ioh = cma = None  # the benchmark extras, imported by main (_extras)
SOLVERS = ("trustopt sigma0 per coordinate", "trustopt one sigma0", "pycma CMA_stds")


class ScaledProblem(Recorder):
    """``h(x) = f(x / s) - f_opt`` of a BBOB instance, recording its run."""

    def __init__(self, fid, instance, d):
        super().__init__()
        self.f = ioh.get_problem(fid, instance, d, ioh.ProblemClass.BBOB)
        self.fopt, self.s = self.f.optimum.y, 10.0 ** np.linspace(-2, 2, d)

    def __call__(self, x):
        return self.record(float(self.f(np.asarray(x, dtype=float) / self.s)) - self.fopt)


def run(solver, fid, instance, d):
    p = ScaledProblem(fid, instance, d)
    x0 = p.s * np.random.default_rng(instance).uniform(-4, 4, d)
    budget = 10_000 * d
    t0 = time.perf_counter()
    if solver.startswith("trustopt"):
        sigma0 = 2.0 * p.s if solver.endswith("per coordinate") else 2.0
        minimize(p, x0, sigma0=sigma0, maxfev=budget, seed=instance, options={"ftarget": 1e-8})
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cma.fmin2(p, x0, 2.0, options={"CMA_stds": list(p.s), "maxfevals": budget, "ftarget": 1e-8,
                                             "verbose": -9, "seed": instance + 1})
    return p.row(solver=solver, fid=fid, instance=instance, d=d) | {"seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    args = arguments(argv, __doc__, functions=[1, 8, 10], dim=10, dim_help="dimension d",
                     committed="benchmarks/results/scaled_bbob_d10.json")
    global ioh, cma
    ioh, cma = import_extras("bench_scaled", "ioh", "cma")
    rows = run_grid(run, args, SOLVERS, width=30)
    print_evals_table(rows, args.functions, SOLVERS, SOLVERS[2])
    if args.out:
        write_runs(args.out, rows, __doc__.split("\n\n")[1])
    return 0

if __name__ == "__main__":
    sys.exit(main())
