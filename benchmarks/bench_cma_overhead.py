"""The optimizer's own time per evaluation: trustopt.TrustRegionCMA against pycma's CMA-ES.

What is timed: only ``ask()`` and ``tell()`` (the objective is excluded: it is the trivial
sphere ``f(x) = ||x||^2``, evaluated as one vectorized ``(n, d)`` batch outside the timed
part). Each solver runs the same number of iterations from ``x0 = 1``, ``sigma0 = 1``, with its
default population size (``4 + floor(3 ln d)`` for both) and never stops early (its stopping
tests are not consulted). One repeat = one fresh optimizer; the reported figure is the median
over repeats of (ask + tell seconds) / evaluations, and the ratios are against pycma.

Solvers:
    tr-cma        trustopt.TrustRegionCMA(x0, 1.0, seed=s), its defaults (orthogonal sampling in
                  batches of at most d samples, and in every batch up to d = 10; full covariance up
                  to d = 100: orthogonal at the default population of both dimensions here)
    tr-cma-orth   the same with orthogonal=True
    tr-cma-iid    the same with orthogonal=False
    pycma         cma.CMAEvolutionStrategy(x0, 1.0, {"seed": s + 1, "verbose": -9, "verb_log": 0,
                  "verb_disp": 0}) (no data files written: their I/O is not the algorithm's)

One BLAS thread (``OPENBLAS_NUM_THREADS=1``, set below unless already set). Default (what
``make bench`` runs, about a minute): d = 10 and 100, 2000 and 1000 iterations, 5 repeats::

    python benchmarks/bench_cma_overhead.py [--dims 10 100] [--iterations 2000 1000] [--repeats 5]
        [--json benchmarks/results/cma_overhead.json]
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import platform
import time
import warnings

import numpy as np

import trustopt
from _extras import import_extras
from _provenance import code_version

cma = None  # a benchmark extra, imported by main (_extras)


def sphere(X):
    return np.einsum("ij,ij->i", X, X)


def time_trustopt(d, iterations, seed, orthogonal):
    es = trustopt.TrustRegionCMA(np.ones(d), 1.0, seed=seed, orthogonal=orthogonal)
    spent, nfev = 0.0, 0
    for _ in range(iterations):
        t = time.perf_counter()
        X = es.ask()
        spent += time.perf_counter() - t
        v = sphere(X)
        t = time.perf_counter()
        es.tell(X, v)
        spent += time.perf_counter() - t
        nfev += len(v)
    return spent, nfev, es.popsize


def time_pycma(d, iterations, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        es = cma.CMAEvolutionStrategy(np.ones(d), 1.0, {"seed": seed + 1, "verbose": -9, "verb_log": 0,
                                                        "verb_disp": 0})
        spent, nfev = 0.0, 0
        for _ in range(iterations):
            t = time.perf_counter()
            X = es.ask()
            spent += time.perf_counter() - t
            v = sphere(np.asarray(X))
            t = time.perf_counter()
            es.tell(X, v.tolist())
            spent += time.perf_counter() - t
            nfev += len(v)
    return spent, nfev, es.popsize


SOLVERS = {"tr-cma": lambda d, it, s: time_trustopt(d, it, s, None),
           "tr-cma-orth": lambda d, it, s: time_trustopt(d, it, s, True),
           "tr-cma-iid": lambda d, it, s: time_trustopt(d, it, s, False),
           "pycma": time_pycma}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--iterations", type=int, nargs="+", default=[2000, 1000],
                    help="iterations per run, one per dimension")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None, help="write the results to this file")
    a = ap.parse_args(argv)
    global cma
    (cma,) = import_extras("bench_cma_overhead", "cma")
    if len(a.iterations) != len(a.dims):
        ap.error("--iterations: one per dimension")
    print(f"cma overhead: ask+tell seconds per evaluation (objective excluded), median of {a.repeats} repeats; "
          f"trustopt {trustopt.__version__}, cma {cma.__version__}, numpy {np.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}", flush=True)
    out = {"protocol": {"dims": a.dims, "iterations": a.iterations, "repeats": a.repeats, "objective": "sphere",
                        "x0": "ones", "sigma0": 1.0, "trustopt": trustopt.__version__, "code": code_version(), "cma": cma.__version__,
                        "numpy": np.__version__, "python": platform.python_version(),
                        "machine": platform.machine(), "cpus": os.cpu_count(),
                        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
           "results": {}}
    for d, iterations in zip(a.dims, a.iterations):
        res = {}
        for name, fn in SOLVERS.items():
            per_eval, pops = [], set()
            for r in range(a.repeats):
                spent, nfev, lam = fn(d, iterations, r)
                per_eval.append(spent / nfev)
                pops.add(lam)
            res[name] = {"popsize": sorted(pops), "iterations": iterations, "per_eval_s": per_eval,
                         "median_per_eval_s": float(np.median(per_eval))}
        ref = res["pycma"]["median_per_eval_s"]
        for name, e in res.items():
            e["ratio_to_pycma"] = e["median_per_eval_s"] / ref
            print(f"d={d:4d} {name:12s} popsize {e['popsize']}  {1e6 * e['median_per_eval_s']:9.1f} us/eval "
                  f"(repeats {', '.join(f'{1e6 * v:.1f}' for v in e['per_eval_s'])})   "
                  f"ratio to pycma {e['ratio_to_pycma']:.2f}", flush=True)
        out["results"][str(d)] = res
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
