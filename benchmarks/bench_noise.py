"""Noisy objectives: what trustopt.minimize returns and why it stops (with and without noise_handling),
against pycma (with and without its NoiseHandler) and scipy's Nelder-Mead, in the same run.

Protocol: ``f(x) + noise`` with ``f`` the sphere or Rosenbrock, noise additive ``s N(0, 1)``,
multiplicative ``f s N(0, 1)``, or heavy-tailed ``s Cauchy``, drawn from a generator seeded per
run (the same stream for every solver of a seed). Start ``x0 = 2`` (sphere) or ``0`` (Rosenbrock),
``sigma0 = 1`` (sphere) or ``0.5``, budget ``--budget-per-dim`` times d. Recorded per run: the
TRUE ``f`` of the returned ``x`` and of the mean (``res.xmean``; pycma's ``xfavorite``), the
reported ``fun`` (the lowest noisy draw), evaluations, success and the stopping reason. Printed:
medians over the seeds (and the worst true f of ``x``).

    python benchmarks/bench_noise.py --function sphere --dim 5 --noise add --scale 1 --seeds 8
    python benchmarks/bench_noise.py --function sphere --dim 5 --noise mult --scale 0.5 --seeds 5
    python benchmarks/bench_noise.py --function rosenbrock --dim 10 --noise add --scale 1 --seeds 5 --budget-per-dim 2000
    python benchmarks/bench_noise.py --function rosenbrock --dim 10 --noise add --scale 1 --seeds 15 --budget-per-dim 2000

(the committed runs: ``--json benchmarks/results/noise_{sphere_d5_add1,sphere_d5_mult0.5,rosenbrock_d10_add1,
rosenbrock_d10_add1_s15}.json`` in that order)
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import warnings

import numpy as np

import trustopt
from _extras import import_extras
from _provenance import code_version

cma = None  # a benchmark extra, imported by main (_extras)

FUNCTIONS = {
    "sphere": (lambda x: float(np.sum(x * x)), 2.0, 1.0),
    "rosenbrock": (lambda x: float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)), 0.0, 0.5),
}

#: trustopt's configurations: (label, method, options, evaluations averaged inside fun)
TRUSTOPT = [("trust-region-cma", None, None, 1), ("noise_handling", None, {"noise_handling": True}, 1),
            ("popsize x4", None, "popsize4", 1),
            ("mean of 4 evaluations", None, None, 4), ("restarts=4", None, {"restarts": 4}, 1),
            ("trust-region-es", "trust-region-es", None, 1), ("es", "es", None, 1),
            ("es, fixed sigma", "es", {"adapt": False}, 1)]


def noisy(f, kind: str, scale: float, seed: int, k: int = 1):
    """``f`` plus noise from its own generator (``seed``); ``k`` draws averaged per evaluation."""
    rng = np.random.default_rng(1000 + seed)

    def g(x):
        t = f(np.asarray(x, dtype=float))
        if kind == "add":
            return t + scale * rng.standard_normal(k).mean()
        if kind == "mult":
            return t * (1.0 + scale * rng.standard_normal(k).mean())
        return t + scale * rng.standard_cauchy(k).mean()
    return g


def run(args) -> dict:
    f, start, sigma0 = FUNCTIONS[args.function]
    d, budget = args.dim, args.budget_per_dim * args.dim
    x0, rows = np.full(d, start), {}
    for s in range(args.seeds):
        for label, method, options, k in TRUSTOPT:
            if options == "popsize4":
                options = {"popsize": 4 * (4 + int(3 * np.log(d)))}
            r = trustopt.minimize(noisy(f, args.noise, args.scale, s, k), x0, method=method, sigma0=sigma0,
                                  maxfev=budget // k, seed=s, options=options)
            rows.setdefault(label, []).append(dict(fx=f(r.x), fmean=f(r.xmean), fun=r.fun, nfev=r.nfev * k,
                                                   success=bool(r.success), stop=r.message.split(":")[1].strip()))
        rows_cma(rows, f, x0, sigma0, budget, s, args)
        from scipy.optimize import minimize as scipy_minimize
        r = scipy_minimize(noisy(f, args.noise, args.scale, s), x0, method="Nelder-Mead", options={"maxfev": budget})
        stop = "maxfev" if r.status == 1 else "xatol, fatol" if r.success else r.message  # status 1: maxfev/maxiter
        rows.setdefault("scipy Nelder-Mead", []).append(dict(fx=f(r.x), fmean=np.nan, fun=float(r.fun), nfev=r.nfev,
                                                             success=bool(r.success), stop=stop))
    return rows


def rows_cma(rows, f, x0, sigma0, budget, s, args):
    for label, handler in (("pycma", None), ("pycma NoiseHandler", cma.NoiseHandler(x0.size))):
        opts = {"seed": s + 1, "maxfevals": budget, "verbose": -9}
        if handler is None:
            es = cma.CMAEvolutionStrategy(x0, sigma0, opts).optimize(noisy(f, args.noise, args.scale, s))
        else:  # fmin2 applies the handler (optimize(noise_handler=...) would not)
            es = cma.fmin2(noisy(f, args.noise, args.scale, s), x0, sigma0, opts, noise_handler=handler)[1]
        rows.setdefault(label, []).append(dict(fx=f(es.result.xbest), fmean=f(es.result.xfavorite),
                                               fun=float(es.result.fbest), nfev=int(es.result.evaluations),
                                               success=None, stop=",".join(es.stop())))


def success(rs) -> str:
    """``k/n`` runs with ``success``; ``-`` where the solver reports none (pycma: its stops say more)."""
    if all(r["success"] is None for r in rs):
        return "-" + " " * (len(str(len(rs))) * 2)
    return f"{sum(r['success'] is True for r in rs)}/{len(rs)}"


def main():
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()),
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--function", choices=sorted(FUNCTIONS), default="sphere", help="the noise-free objective")
    p.add_argument("--dim", type=int, default=5, help="dimension d")
    p.add_argument("--noise", choices=("add", "mult", "cauchy"), default="add",
                   help="add: f + s N(0, 1); mult: f (1 + s N(0, 1)); cauchy: f + s Cauchy")
    p.add_argument("--scale", type=float, default=1.0, help="s, the noise's scale")
    p.add_argument("--seeds", type=int, default=5, help="how many seeds (0, 1, ..., SEEDS - 1), not a list")
    p.add_argument("--budget-per-dim", type=int, default=2000, help="evaluations per run over d")
    p.add_argument("--json", default=None, help="write every run's record here")
    args = p.parse_args()
    global cma
    (cma,) = import_extras("bench_noise", "cma")  # before any run: a missing pycma says so at once
    warnings.simplefilter("ignore")
    rows = run(args)
    for label, rs in rows.items():
        fx, fm = np.array([r["fx"] for r in rs]), np.array([r["fmean"] for r in rs])
        print(f"{label:22s} true f(x) {np.median(fx):9.3g} (worst {fx.max():8.3g})  true f(xmean) {np.median(fm):9.3g}  "
              f"fun {np.median([r['fun'] for r in rs]):8.3g}  evaluations {np.median([r['nfev'] for r in rs]):6.0f}  "
              f"success {success(rs)}  stops {sorted({r['stop'] for r in rs})}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "code": code_version(), "runs": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
