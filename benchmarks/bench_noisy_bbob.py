"""Noise handling on noisy BBOB functions: trustopt's ``trust-region-cma`` with and without
``noise_handling`` against pycma's CMA-ES with and without its ``NoiseHandler``, in the same run.

Protocol: BBOB f1 (sphere), f2 (separable ellipsoid), f8 (Rosenbrock), f10 (rotated ellipsoid) and
f15 (rotated Rastrigin) of the ``ioh`` package, d = 10, instances 1-10 (one seed each), with noise on
``g = f - f_opt``: ``add``, ``g + N(0, 1)``; ``mult``, ``g exp(N(0, 1))`` (the Gaussian noise model of
BBOB's noisy testbed with beta = 1, its "severe" level: Hansen, Finck, Ros & Auger 2009,
"Real-Parameter Black-Box Optimization Benchmarking 2009: Noisy Functions Definitions"; here without
its 1.01e-8 offset). One noise stream per (instance, noise) shared by the four solvers. Start
uniform in [-4, 4]^d (seeded), ``sigma0 = 2``, budget ``2000 d`` evaluations, no restarts. Recorded
per run: the noise-free ``g`` of the final mean (``res.xmean``; pycma's ``xfavorite``), which is the
estimate a user keeps, the evaluations used and the stopping reason.

    python benchmarks/bench_noisy_bbob.py --out benchmarks/results/noisy_bbob_d10.json   # the committed runs
    python benchmarks/bench_noisy_bbob.py --instances 1 2 --functions 8 --noise add        # prints only

The summary gives, per function and noise, the median ``g`` of the final mean for each solver,
and for trustopt with ``noise_handling`` the median over instances of ``log10`` of its ``g``
over pycma's with its NoiseHandler (paired; negative: trustopt's mean is closer) with a 95%
bootstrap interval (10,000 resamples of the instances).
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import sys
import time
import warnings

import numpy as np

from _extras import import_extras
from _provenance import write_runs
from _tables import median_ci
from trustopt.optimize import minimize

ioh = cma = None  # the benchmark extras, imported by main (_extras)
SOLVERS = ("trustopt", "trustopt noise_handling", "pycma", "pycma NoiseHandler")


class NoisyProblem:
    """``g(x) = f(x) - f_opt`` plus noise (``kind``) from its own generator; ``true(x)`` without it."""

    def __init__(self, fid, instance, d, kind, seed):
        self.f = ioh.get_problem(fid, instance, d, ioh.ProblemClass.BBOB)
        self.fopt, self.kind = self.f.optimum.y, kind
        self.rng = np.random.default_rng(seed)

    def true(self, x):
        return float(self.f(np.asarray(x, dtype=float))) - self.fopt

    def __call__(self, x):
        g = self.true(x)
        return g + self.rng.standard_normal() if self.kind == "add" else g * np.exp(self.rng.standard_normal())


def run(solver, fid, instance, d, kind):
    p = NoisyProblem(fid, instance, d, kind, seed=10_000 * fid + 100 * instance + (kind == "mult"))
    x0 = np.random.default_rng(instance).uniform(-4, 4, d)
    budget = 2000 * d
    t0 = time.perf_counter()
    if solver.startswith("trustopt"):
        r = minimize(p, x0, sigma0=2.0, maxfev=budget, seed=instance,
                     options={"noise_handling": solver.endswith("noise_handling")})
        xmean, nfev, stop = r.xmean, r.nfev, r.message.split(":")[1].strip()
    else:
        opts = {"seed": instance + 1, "maxfevals": budget, "verbose": -9}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if solver == "pycma":
                es = cma.CMAEvolutionStrategy(x0, 2.0, opts).optimize(p)
            else:  # fmin2 applies the handler (optimize(noise_handler=...) would not)
                es = cma.fmin2(p, x0, 2.0, opts, noise_handler=cma.NoiseHandler(d))[1]
        xmean, nfev, stop = es.result.xfavorite, int(es.result.evaluations), ",".join(es.stop())
    return {"solver": solver, "fid": fid, "instance": instance, "d": d, "noise": kind, "g_mean": p.true(xmean),
            "nfev": nfev, "stop": stop, "seconds": time.perf_counter() - t0}


def summary(rows) -> None:
    print(f"\n{'function':9s} {'noise':5s}  " + "  ".join(f"{s:>24s}" for s in SOLVERS)
          + "   log10 ratio, noise_handling / NoiseHandler")
    for fid in sorted({r["fid"] for r in rows}):
        for kind in ("add", "mult"):
            rs = [r for r in rows if r["fid"] == fid and r["noise"] == kind]
            if not rs:
                continue
            med = {s: np.median([r["g_mean"] for r in rs if r["solver"] == s]) for s in SOLVERS}
            ours = {r["instance"]: r["g_mean"] for r in rs if r["solver"] == SOLVERS[1]}
            theirs = {r["instance"]: r["g_mean"] for r in rs if r["solver"] == SOLVERS[3]}
            tiny = 1e-300  # a mean at the optimum to the last bit
            ratio = [np.log10(max(ours[i], tiny) / max(theirs[i], tiny)) for i in sorted(ours)]
            print(f"f{fid:<8d} {kind:5s}  " + "  ".join(f"{med[s]:24.3g}" for s in SOLVERS)
                  + f"   {np.median(ratio):+.2f} {median_ci(ratio, fmt='+.2f')}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--functions", type=int, nargs="+", default=[1, 2, 8, 10, 15], help="BBOB function ids")
    ap.add_argument("--instances", type=int, nargs="+", default=list(range(1, 11)),
                    help="BBOB instances (and seeds)")
    ap.add_argument("--noise", nargs="+", choices=("add", "mult"), default=["add", "mult"])
    ap.add_argument("--dim", type=int, default=10, help="dimension d (budget 2000 d evaluations per run)")
    ap.add_argument("--out", default=None, help="write the raw runs here as JSON (none: print only; the "
                    "committed runs are benchmarks/results/noisy_bbob_d10.json)")
    args = ap.parse_args(argv)
    global ioh, cma
    ioh, cma = import_extras("bench_noisy_bbob", "ioh", "cma")
    rows = []
    for fid in args.functions:
        for kind in args.noise:
            for inst in args.instances:
                for solver in SOLVERS:
                    r = run(solver, fid, inst, args.dim, kind)
                    rows.append(r)
                    print(f"f{fid:<2d} {kind:4s} i{inst:<2d} {solver:24s} g(mean)={r['g_mean']:9.3g} "
                          f"nfev={r['nfev']:6d} stop={r['stop']} {r['seconds']:.1f}s", flush=True)
    summary(rows)
    if args.out:
        write_runs(args.out, rows, __doc__.split("\n\n")[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
