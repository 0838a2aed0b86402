"""Fixed variables: half of BBOB's coordinates held at their optimal values, searched by trustopt's
ask/tell class on the free coordinates only (bounds with ``lo == hi``), by the same class's method
built on all ``d`` coordinates (how ``lo == hi`` was searched before: the fixed coordinates kept in the
search's dimension), and by pycma with ``fixed_variables``, in the same run.

Protocol: BBOB f1 (sphere), f8 (Rosenbrock), f10 (rotated ellipsoid, condition 1e6), f15 (rotated
Rastrigin) of the ``ioh`` package, d = 20, instances 1-10, one seed each. The odd coordinates
(1, 3, ..., 19) are fixed at the instance's optimum, so the best value over the 10 free ones is
``f_opt``. Every solver starts at the same point drawn uniformly from [-4, 4]^d (its fixed
coordinates set to their values) with ``sigma0 = 2``, target ``f - f_opt <= 1e-8``, budget
``1e4 x 10`` evaluations (10 free coordinates), no restarts; trustopt's method is the default,
``trust-region-cma``. Recorded per run: reached or not, evaluations to the target (or the last
one), the best ``f - f_opt``, and whether a fixed coordinate ever left its value (must not).

    python benchmarks/bench_fixed.py --out benchmarks/results/fixed_bbob_d20.json   # the committed runs
    python benchmarks/bench_fixed.py --instances 1 --functions 1 10                # prints only

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
from trustopt.algorithms import get
from trustopt.asktell import AskTell, TrustRegionCMA
from trustopt.bounds import as_box

ioh = cma = None  # the benchmark extras, imported by main (_extras)
SOLVERS = ("trustopt", "trustopt-all-d", "cma")


class FixedProblem(Recorder):
    """``f(x) - f_opt`` of a BBOB instance, recording its run and checking the fixed coordinates."""

    def __init__(self, fid, instance, d):
        super().__init__()
        self.f = ioh.get_problem(fid, instance, d, ioh.ProblemClass.BBOB)
        self.xopt, self.fopt = np.asarray(self.f.optimum.x), self.f.optimum.y
        self.fixed = np.arange(d) % 2 == 1
        self.moved = False

    def __call__(self, x):
        x = np.asarray(x, dtype=float)
        self.moved |= bool(np.any(x[self.fixed] != self.xopt[self.fixed]))
        return self.record(float(self.f(x)) - self.fopt)


def _ask_tell(opt, p, budget):
    while not opt.stop() and p.hit is None and p.nfev + opt.popsize <= budget:
        X = opt.ask()
        opt.tell(X, [p(x) for x in X])


def run(solver, fid, instance, d):
    p, seed = FixedProblem(fid, instance, d), instance
    x0 = np.random.default_rng(seed).uniform(-4, 4, d)
    x0[p.fixed] = p.xopt[p.fixed]
    bounds = [(v, v) if fixed else (None, None) for v, fixed in zip(p.xopt, p.fixed)]
    budget = 10_000 * int(np.count_nonzero(~p.fixed))
    t0 = time.perf_counter()
    if solver == "trustopt":  # the ask/tell class: the free coordinates only
        _ask_tell(TrustRegionCMA(x0, 2.0, seed=seed, bounds=bounds, maxfev=budget, ftarget=1e-8), p, budget)
    elif solver == "trustopt-all-d":  # the same method built on all d coordinates of the same box
        method = get("trust-region-cma")(None, theta0=x0, sigma0=2.0)
        _ask_tell(AskTell(method, seed=seed, bounds=as_box(bounds, d), maxfev=budget, ftarget=1e-8), p, budget)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fixed = {int(i): float(p.xopt[i]) for i in np.flatnonzero(p.fixed)}
            cma.fmin2(p, x0, 2.0, options={"fixed_variables": fixed, "maxfevals": budget, "ftarget": 1e-8,
                                             "verbose": -9, "seed": seed + 1})
    return p.row(solver=solver, fid=fid, instance=instance, d=d, seed=seed) | {
        "fixed_moved": p.moved, "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    args = arguments(argv, __doc__, functions=[1, 8, 10, 15], dim=20,
                     dim_help="dimension d (every odd coordinate fixed)", committed="benchmarks/results/fixed_bbob_d20.json")
    global ioh, cma
    ioh, cma = import_extras("bench_fixed", "ioh", "cma")
    rows = run_grid(run, args, SOLVERS, width=15, extra=lambda r: f" fixed_moved={r['fixed_moved']}")
    print_evals_table(rows, args.functions, SOLVERS, "cma")
    if args.out:
        write_runs(args.out, rows, __doc__.split("\n\n")[1])
    return 0

if __name__ == "__main__":
    sys.exit(main())
