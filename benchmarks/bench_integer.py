"""Integer variables: half of BBOB's coordinates integer, searched by trustopt's ask/tell class with
``integrality`` (rounding and the lower bound on their standard deviations), by the same class
with the rounding inside ``f`` only (what a user without integer support writes), and by pycma
with ``integer_variables`` (its LB+IC, Marty et al. 2024), in the same run.

Protocol: BBOB f1 (sphere), f2 (separable ellipsoid, condition 1e6), f8 (Rosenbrock) and f10
(rotated ellipsoid, condition 1e6) of the ``ioh`` package, d = 10, 20, 40 or 60, instances 1-10, one seed
each. The even coordinates (0, 2, ...) are integer: ``f`` reads their nearest integers, and the
instance is moved by less than 1/2 along them, ``g(x) = f(x + delta)`` with ``delta_i = x*_i -
round(x*_i)``, so that its optimum has integer values there and ``g`` reaches ``f_opt``. Every
solver starts at the same point drawn uniformly from [-4, 4]^d with ``sigma0 = 2``, no bounds,
target ``g - f_opt <= 1e-8``, budget ``1e4 d`` evaluations, no restarts; trustopt's method is the
default, ``trust-region-cma``. Recorded per run: reached or not, evaluations to the target (or the
last one), and the best ``g - f_opt``.

    python benchmarks/bench_integer.py --out benchmarks/results/integer_bbob_d10.json            # committed
    python benchmarks/bench_integer.py --dim 20 --out benchmarks/results/integer_bbob_d20.json   # committed
    python benchmarks/bench_integer.py --dim 40 --out benchmarks/results/integer_bbob_d40.json   # committed
    python benchmarks/bench_integer.py --dim 60 --functions 1 2 --out benchmarks/results/integer_bbob_d60.json
    python benchmarks/bench_integer.py --instances 1 2 --functions 2                           # prints only

The summaries: ``_tables.print_evals_table`` and ``_tables.print_best_table`` (the best value of
runs that stop short of the target), with pycma's runs as the reference of the ratios.
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
from _tables import print_best_table, print_evals_table
from trustopt.asktell import TrustRegionCMA

ioh = cma = None  # the benchmark extras, imported by main (_extras)
SOLVERS = ("trustopt", "trustopt-round-in-f", "cma")


class MixedIntegerProblem(Recorder):
    """``g(x) - f_opt`` of a BBOB instance whose even coordinates are integer (module docstring),
    recording its run."""

    def __init__(self, fid, instance, d):
        super().__init__()
        self.f = ioh.get_problem(fid, instance, d, ioh.ProblemClass.BBOB)
        xopt, self.fopt = np.asarray(self.f.optimum.x), self.f.optimum.y
        self.integer = np.arange(d) % 2 == 0
        self.delta = np.where(self.integer, xopt - np.round(xopt), 0.0)

    def __call__(self, x):
        x = np.where(self.integer, np.round(np.asarray(x, dtype=float)), x)
        return self.record(float(self.f(x + self.delta)) - self.fopt)


def run(solver, fid, instance, d):
    p, seed = MixedIntegerProblem(fid, instance, d), instance
    x0 = np.random.default_rng(seed).uniform(-4, 4, d)
    budget = 10_000 * d
    t0 = time.perf_counter()
    if solver.startswith("trustopt"):
        integrality = p.integer if solver == "trustopt" else None
        opt = TrustRegionCMA(x0, 2.0, seed=seed, maxfev=budget, ftarget=1e-8, integrality=integrality)
        while not opt.stop() and p.hit is None:
            X = opt.ask()
            opt.tell(X, [p(x) for x in X])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cma.fmin2(p, x0, 2.0, options={"integer_variables": [int(i) for i in np.flatnonzero(p.integer)],
                                            "maxfevals": budget, "ftarget": 1e-8, "verbose": -9, "seed": seed + 1})
    return p.row(solver=solver, fid=fid, instance=instance, d=d, seed=seed) | {"seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    args = arguments(argv, __doc__, functions=[1, 2, 8, 10], dim=10,
                     dim_help="dimension d (every even coordinate integer)", committed="benchmarks/results/integer_bbob_d{10,20,40,60}.json")
    global ioh, cma
    ioh, cma = import_extras("bench_integer", "ioh", "cma")
    rows = run_grid(run, args, SOLVERS)
    print_evals_table(rows, args.functions, SOLVERS, "cma")
    print_best_table(rows, args.functions, SOLVERS, "cma")
    if args.out:
        write_runs(args.out, rows, __doc__.split("\n\n")[1])
    return 0

if __name__ == "__main__":
    sys.exit(main())
