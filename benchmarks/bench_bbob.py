"""BBOB benchmark: trustopt's evolution strategies against pycma, measured in the same run.

Protocol (``--full``, the one the README table reports when it says so): the 24 noiseless BBOB
functions of the ``ioh`` package (``pip install "ioh>=0.3.14"``; the functions are NOT
re-implemented here), instances 1-5, d = 10 and 20, budget ``1e4 * d`` evaluations per run.
Score: the share of (function, instance, seed, target) tuples whose target ``f - f_opt <= 10^k``,
``k in {2, 1.8, ..., -8}`` (the 51 COCO targets), is reached within the budget. Every solver
starts at a point drawn uniformly from ``[-4, 4]^d`` (seeded by function and instance only, so
the same for every solver and seed) with ``sigma0 = 2``; restarts draw a new such point.

Seeds (``--seeds S1 S2 ...``, default 0): a seed changes the solver's random generator and the
restarts' starting points, not the problem or the first ``x0``. One run is one (function,
instance, seed).

Anytime data: the objective is wrapped to track the best-so-far precision ``f - f_opt``; each run
records, for every one of the 51 targets, the number of evaluations at which it was first
reached (``hits``, ``null`` if never), besides ``precision``, ``evals``, ``seconds`` and
``reached`` (the number of targets reached at the end).

Summary (printed; ``--summary PATH`` writes it as JSON), per solver and dimension:
    share   the share of (run, target) pairs reached, with a bootstrap 95% CI (percentile, 10000
            resamples of the (function, instance, seed) runs);
    auc     the area under the ECDF of (run, target) pairs against ``log10(evaluations / d)``
            from 2 (``1e2 d``) to 4 (``1e4 d``), normalized to [0, 1] (a pair first reached at
            ``e`` evaluations contributes ``(4 - max(2, log10(e / d))) / 2``, 0 if never or past
            ``1e4 d``); bootstrap CI likewise; ``auc0`` the same from ``1e0 d``;
    diff    where ``cma-bipop`` ran on the same runs: the paired difference of share and auc
            against it, with a paired bootstrap 95% CI;
and a per-function table of the targets reached (of 51 x instances x seeds).
``--plot PATH`` draws the ECDF (one line per solver; one panel per dimension, or one file per
dimension if PATH contains ``{d}``).

Solvers:
    tr-cma         trustopt.minimize(method="trust-region-cma"): Gaussian KL trust region, no restarts,
                   orthogonal=False (i.i.d. Gaussian directions)
    tr-cma-bipop   the same with BIPOP restarts (up to 9 large ones)
    tr-cma-bipop-orth  tr-cma-bipop with orthogonal sampling (orthogonal=True)
    tr-cma-bipop-default  tr-cma-bipop with the library's sampling rule (orthogonal=None:
                   trust_region_cma.default_orthogonal; since commit 49be81d: orthogonal in every
                   batch up to d = 10, in batches of at most d samples with the full covariance
                   (up to d = 100), i.i.d. otherwise), so that its meaning follows the library's;
                   the other names fix the variant
    tr-cma-ipop    tr-cma with IPOP restarts (up to 9)
    tr-es          trustopt.minimize(method="trust-region-es"): trust-region ES, quadratic (BFGS) model
    tr-es-ipop     the same with IPOP restarts (up to 9, population x2 each)
    tr-es-coord    tr-es-ipop with coordinate directions (rotate=False) instead of a Haar frame
    tr-es-linear   trust-region ES with the linear model (Cauchy step), IPOP restarts
    es / ars / tres  the black-box (adaptive sigma) modes of the other trustopt methods, IPOP restarts
The options that select the variant (orthogonal, regime) are passed explicitly, so that a solver
name means the same runs whatever the library's defaults.
    cma            pycma CMA-ES, no restarts
    cma-bipop      pycma CMA-ES with BIPOP restarts (up to 9)

Default (no flag, what ``make bench`` runs): the quick protocol ``--dims 10 --instances 1
--budget-multiplier 1000``. Every option can be overridden, e.g.::

    python benchmarks/bench_bbob.py --full
    python benchmarks/bench_bbob.py --dims 10 --instances 1 2 --budget-multiplier 2000 --solvers tr-es cma
    python benchmarks/bench_bbob.py --dims 10 --instances 1 2 3 4 5 --budget-multiplier 10000 --seeds 0 1 \\
        --solvers tr-cma-bipop cma-bipop --json benchmarks/results/bbob_d10_run.json
    python benchmarks/bench_bbob.py --load benchmarks/results/bbob_d10_i1-5_s*.json --plot docs/bbob-ecdf-d{d}.png

``--load FILE ...`` summarizes (and plots) the records of earlier ``--json`` files instead of
running; records without ``seed`` count as seed 0, those without ``hits`` only in the share.
"""

from __future__ import annotations

import os

# One BLAS thread: on a shared 2-core machine OpenBLAS's default threading made a 200x200 QR
# 100x slower (measured 1.4 s vs 0.011 s); the comparison is of the algorithms, single-threaded.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import math
import sys
import time
import warnings

import numpy as np
from importlib.metadata import version as _version

from trustopt.algorithms.trust_region_cma import ORTHOGONAL_UP_TO
from trustopt.optimize import minimize
from _extras import import_extras

# ioh and cma (the benchmark's extras) are imported where runs are made, so that the summaries and
# tables of committed results (``--load``) need neither.
ioh = cma = None


def _import_runners():
    global ioh, cma
    ioh, cma = import_extras("bench_bbob", "ioh", "cma")

TARGETS = 10.0 ** np.arange(2.0, -8.0 - 1e-9, -0.2)  # 51 COCO targets, decreasing
SOLVERS = ["tr-cma", "tr-cma-bipop", "tr-cma-bipop-orth", "tr-cma-bipop-default", "tr-cma-bipop-kl-ratio",
           "tr-cma-bipop-kl-0.15d", "tr-cma-ipop", "tr-es", "tr-es-ipop", "tr-es-coord", "tr-es-linear", "es", "ars",
           "tres", "cma", "cma-bipop"]
REFERENCE = "cma-bipop"   # the solver the paired differences are taken against (--reference)
AUC_RANGE = (2.0, 4.0)    # log10(evaluations / d) range of the ECDF area
N_BOOT = 10_000


class Tracked:
    """The objective ``problem(x)`` with the anytime record: the evaluation count, the best-so-far
    precision ``f - f_opt`` and, per target (decreasing), the evaluation at which it was first reached."""

    def __init__(self, problem):
        self.problem, self.fopt = problem, problem.optimum.y
        self.n, self.best, self.next = 0, math.inf, 0
        self.hits: list = [None] * len(TARGETS)

    def __call__(self, x):
        y = self.problem(x)
        self.n += 1
        p = y - self.fopt
        if p < self.best:
            self.best = p
            while self.next < len(TARGETS) and p <= TARGETS[self.next]:
                self.hits[self.next] = self.n
                self.next += 1
        return y


def run_trustopt(f, problem, x0, budget, seed, method, restarts, extra):
    rng = np.random.default_rng(seed + 1)
    fopt, d = problem.optimum.y, problem.meta_data.n_variables
    extra = {k: v(d) if callable(v) else v for k, v in extra.items()}  # options that depend on d
    opts = {"ftarget": fopt + 1e-8, "restarts": restarts, "restart_x0": lambda r: rng.uniform(-4, 4, d), **extra}
    minimize(f, x0, method=method, sigma0=2.0, maxfev=budget, seed=seed, options=opts)


def run_cma(f, problem, x0, budget, seed, restarts, bipop):
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
        cma.fmin2(f, x0_callable, 2.0, restarts=restarts, bipop=bipop,
                  options={"maxfevals": budget, "ftarget": problem.optimum.y + 1e-8, "verbose": -9,
                           "seed": seed + 1})


# solver -> (trustopt method, restarts, method/minimize options), or ("cma", restarts, bipop)
_TRUSTOPT = {  # every option that a library default could change is spelled out
    "tr-cma": ("trust-region-cma", 0, {"orthogonal": False}),
    "tr-cma-bipop": ("trust-region-cma", 9, {"regime": "bipop", "orthogonal": False}),
    "tr-cma-bipop-orth": ("trust-region-cma", 9, {"regime": "bipop", "orthogonal": True}),
    "tr-cma-bipop-default": ("trust-region-cma", 9, {"regime": "bipop"}),  # the library's sampling rule
    "tr-cma-ipop": ("trust-region-cma", 9, {"regime": "ipop", "orthogonal": False}),
    # the KL radius's alternatives (orthogonal sampling as the d <= 10 default): STRO eq. 3.4 on a
    # ratio test in ranks, and a constant radius that binds on the largest steps (a regular step's KL is about 0.12 d)
    "tr-cma-bipop-kl-ratio": ("trust-region-cma", 9, {"regime": "bipop", "orthogonal": True, "radius_rule": "ratio"}),
    "tr-cma-bipop-kl-0.15d": ("trust-region-cma", 9, {"regime": "bipop", "orthogonal": True,
                                                      "kl_radius": lambda d: 0.15 * d}),
    "tr-es": ("trust-region-es", 0, {}),
    "tr-es-ipop": ("trust-region-es", 9, {"regime": "ipop"}),
    "tr-es-coord": ("trust-region-es", 9, {"regime": "ipop", "rotate": False}),
    "tr-es-linear": ("trust-region-es", 9, {"regime": "ipop", "model": "linear"}),
    "es": ("es", 9, {"regime": "ipop"}), "ars": ("ars", 9, {"regime": "ipop"}), "tres": ("tres", 9, {"regime": "ipop"}),
}
_CMA = {"cma": (0, False), "cma-bipop": (9, True)}


def one_run(solver, fid, iid, d, budget, seed):
    problem = ioh.get_problem(fid, instance=iid, dimension=d, problem_class=ioh.ProblemClass.BBOB)
    x0 = np.random.default_rng(1000 * fid + iid).uniform(-4, 4, d)
    f = Tracked(problem)
    t = time.perf_counter()
    if solver in _TRUSTOPT:
        method, restarts, extra = _TRUSTOPT[solver]
        run_trustopt(f, problem, x0, budget, seed, method, restarts, extra)
    elif solver in _CMA:
        run_cma(f, problem, x0, budget, seed, *_CMA[solver])
    else:
        raise ValueError(solver)
    precision = max(problem.state.current_best.y - problem.optimum.y, 0.0)
    rec = {"solver": solver, "fid": fid, "iid": iid, "d": d, "precision": precision,
           "evals": int(problem.state.evaluations), "seconds": time.perf_counter() - t,
           "reached": int(np.sum(precision <= TARGETS)), "seed": seed, "budget": budget, "hits": f.hits}
    if sum(h is not None for h in f.hits) != rec["reached"] or f.n != rec["evals"]:
        raise RuntimeError(f"anytime record disagrees with ioh's: {rec}")
    return rec


# ----------------------------------------------------------------------------- summary


def _key(r):
    return r["fid"], r["iid"], r.get("seed", 0)


def _auc_pairs(r, lo, hi):
    """Each target's contribution to the normalized area of the ECDF over [lo, hi] (log10(evals/d))."""
    h = np.array([np.nan if e is None else e for e in r["hits"]], dtype=float)
    x = np.log10(h / r["d"])
    return np.where(np.isnan(x), 0.0, np.clip((hi - np.maximum(x, lo)) / (hi - lo), 0.0, 1.0))


def _per_run(rs, what):
    if what == "share":
        return np.array([r["reached"] / len(TARGETS) for r in rs])
    lo = AUC_RANGE[0] if what == "auc" else 0.0
    return np.array([_auc_pairs(r, lo, AUC_RANGE[1]).mean() for r in rs])


def _boot(v, rng):
    """Mean of ``v`` and its percentile bootstrap 95% CI over the entries (the runs)."""
    idx = rng.integers(0, v.size, (N_BOOT, v.size))
    means = v[idx].mean(axis=1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarize(records, reference=REFERENCE):
    """Per dimension and solver: share, auc, auc0 with CIs, the paired difference against
    ``reference`` (``vs_<reference>``), and the per-function counts; a JSON-ready dict."""
    out = {}
    dims = sorted({r["d"] for r in records})
    for d in dims:
        rd = [r for r in records if r["d"] == d]
        solvers = [s for s in SOLVERS if any(r["solver"] == s for r in rd)]
        by = {s: {_key(r): r for r in rd if r["solver"] == s} for s in solvers}
        sd = {"instances": sorted({r["iid"] for r in rd}), "seeds": sorted({r.get("seed", 0) for r in rd}),
              "functions": sorted({r["fid"] for r in rd}), "solvers": {}}
        for s in solvers:
            rs = [by[s][k] for k in sorted(by[s])]
            rng = np.random.default_rng(0)
            e = {"runs": len(rs), "pairs": len(rs) * len(TARGETS)}
            e["share"] = _boot(_per_run(rs, "share"), rng)
            anytime = all("hits" in r for r in rs)
            if anytime:
                e["auc"] = _boot(_per_run(rs, "auc"), rng)
                e["auc0"] = _boot(_per_run(rs, "auc0"), rng)
            if s != reference and reference in by:
                common = sorted(set(by[s]) & set(by[reference]))
                if common:
                    a = [by[s][k] for k in common]
                    b = [by[reference][k] for k in common]
                    e["vs_" + reference] = {"runs": len(common),
                                            "share_diff": _boot(_per_run(a, "share") - _per_run(b, "share"), rng)}
                    if anytime and all("hits" in r for r in b):
                        diff = _per_run(a, "auc") - _per_run(b, "auc")
                        e["vs_" + reference]["auc_diff"] = _boot(diff, rng)
                        fids = np.array([k[0] for k in common])
                        e["vs_" + reference]["per_function_auc_diff"] = {
                            str(fid): _boot(diff[fids == fid], rng) for fid in sd["functions"] if np.any(fids == fid)}
            e["per_function"] = {str(fid): {"reached": int(sum(r["reached"] for r in rs if r["fid"] == fid)),
                                            "of": len(TARGETS) * sum(r["fid"] == fid for r in rs)}
                                 for fid in sd["functions"]}
            if anytime:
                for fid in sd["functions"]:
                    runs_f = [r for r in rs if r["fid"] == fid]
                    e["per_function"][str(fid)]["auc"] = float(_per_run(runs_f, "auc").mean())
            e["seconds"] = float(sum(r["seconds"] for r in rs))
            sd["solvers"][s] = e
        out[str(d)] = sd
    return out


def _ci(t):
    return f"{t[0]:6.3f} [{t[1]:.3f}, {t[2]:.3f}]"


def print_summary(summary):
    for d, sd in summary.items():
        print(f"\nd = {d}: instances {sd['instances']}, seeds {sd['seeds']}, {len(sd['functions'])} functions"
              f" -- mean [bootstrap 95% CI over runs]")
        print(f"  {'solver':21s} {'runs':>5s}  {'share of targets reached':>26s}  "
              f"{'ECDF area 1e2..1e4 d':>26s}  {'ECDF area 1e0..1e4 d':>26s}  {'wall s':>7s}")
        for s, e in sd["solvers"].items():
            auc = _ci(e["auc"]) if "auc" in e else "-"
            auc0 = _ci(e["auc0"]) if "auc0" in e else "-"
            print(f"  {s:21s} {e['runs']:5d}  {_ci(e['share']):>26s}  {auc:>26s}  {auc0:>26s}  {e['seconds']:7.0f}")
        for s, e in sd["solvers"].items():
            for key, v in ((k, e[k]) for k in e if k.startswith("vs_")):
                line = f"  {s:21s} - {key[3:]} (paired, {v['runs']} runs): share {_ci(v['share_diff'])}"
                if "auc_diff" in v:
                    line += f"   area {_ci(v['auc_diff'])}"
                print(line)
        solvers = list(sd["solvers"])
        first = next(iter(sd["solvers"].values()))
        of = first["per_function"][str(sd["functions"][0])]["of"]
        print(f"  targets reached per function (of {of})")
        print("    f  " + " ".join(f"{s:>21s}" for s in solvers))
        for fid in sd["functions"]:
            row = [sd["solvers"][s]["per_function"][str(fid)]["reached"] for s in solvers]
            print(f"  {fid:3d}  " + " ".join(f"{v:21d}" for v in row))


#: The 24 noiseless BBOB functions (Hansen, Finck, Ros & Auger 2009, "Real-parameter black-box
#: optimization benchmarking 2009: noiseless functions definitions", INRIA RR-6829).
BBOB_NAMES = {1: "sphere", 2: "separable ellipsoid", 3: "Rastrigin", 4: "Bueche-Rastrigin", 5: "linear slope",
              6: "attractive sector", 7: "step ellipsoid", 8: "Rosenbrock", 9: "rotated Rosenbrock",
              10: "ellipsoid", 11: "discus", 12: "bent cigar", 13: "sharp ridge", 14: "different powers",
              15: "rotated Rastrigin", 16: "Weierstrass", 17: "Schaffer F7", 18: "Schaffer F7, cond. 1e3",
              19: "Griewank-Rosenbrock", 20: "Schwefel", 21: "Gallagher 101 peaks", 22: "Gallagher 21 peaks",
              23: "Katsuura", 24: "Lunacek bi-Rastrigin"}


def default_solver(d: int) -> str:
    """The solver whose runs are ``minimize``'s default at dimension ``d`` (with BIPOP restarts):
    ``tr-cma-bipop-orth`` up to ``ORTHOGONAL_UP_TO`` dimensions, where the library samples every
    batch orthogonally (the same runs, bit for bit), ``tr-cma-bipop-default`` above."""
    return "tr-cma-bipop-orth" if d <= ORTHOGONAL_UP_TO else "tr-cma-bipop-default"


def per_function_table(summary, solver_of_dim, reference=REFERENCE):
    """A Markdown table: one row per function, one column per dimension of ``summary``, each cell
    the paired difference of the ECDF area (``solver_of_dim(d)`` minus ``reference``, mean over the
    function's runs) and the targets reached by each, ``diff (ours / reference)``; a difference
    whose 95% bootstrap interval excludes 0 is bold, with its interval. Dimensions where either
    solver or the paired per-function data is missing are left out. A reference other than
    :data:`REFERENCE` is named in each column's heading (``ours - reference``); the default's is
    not (the committed ``bbob_per_function.md``)."""
    cols = []
    for d, sd in summary.items():
        s = solver_of_dim(int(d))
        e = sd["solvers"].get(s, {})
        vs = e.get("vs_" + reference, {})
        if "per_function_auc_diff" in vs and reference in sd["solvers"]:
            cols.append((d, s, e, sd["solvers"][reference], vs))
    if not cols:  # an empty table would read as a table
        need = ", ".join(f"d = {d}: {solver_of_dim(int(d))}" for d in summary)
        raise ValueError(f"no dimension has both the library's default ({need}) and {reference} on the same runs")
    against = "" if reference == REFERENCE else f" - {reference}"
    head = "| function | " + " | ".join(
        f"d = {d}: {s}{against}, {_runs_text(summary[d]['seeds'], 'seeds')}" for d, s, *_ in cols) + " |"
    lines = [head, "|---|" + "---:|" * len(cols)]
    fids = sorted({int(f) for *_, vs in cols for f in vs["per_function_auc_diff"]})
    for fid in fids:
        cells = []
        for d, s, e, ref, vs in cols:
            t = vs["per_function_auc_diff"].get(str(fid))
            if t is None:
                cells.append("")
                continue
            ours, theirs = e["per_function"][str(fid)]["reached"], ref["per_function"][str(fid)]["reached"]
            diff = f"**{t[0]:+.3f}** [{t[1]:+.3f}, {t[2]:+.3f}]" if t[1] > 0 or t[2] < 0 else f"{t[0]:+.3f}"
            cells.append(f"{diff} ({ours} / {theirs})")
        lines.append(f"| f{fid} {BBOB_NAMES.get(fid, '')} | " + " | ".join(cells) + " |")
    cells = []
    for d, s, e, ref, vs in cols:
        t = vs["auc_diff"]
        cells.append(f"{t[0]:+.3f} [{t[1]:+.3f}, {t[2]:+.3f}] ({sum(v['reached'] for v in e['per_function'].values())}"
                     f" / {sum(v['reached'] for v in ref['per_function'].values())})")
    lines.append("| all | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _runs_text(values, what):
    values = list(values)
    if len(values) == 1:
        return f"{what[:-1]} {values[0]}"
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{what} {values[0]}-{values[-1]}"
    return f"{what} " + ",".join(str(v) for v in values)


def plot_ecdf(records, summary, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = [int(d) for d in summary]
    per_file = "{d}" in path
    groups = [[d] for d in dims] if per_file else [dims]
    for group in groups:
        fig, axes = plt.subplots(1, len(group), figsize=(7.5 * len(group), 5.2), squeeze=False)
        for ax, d in zip(axes[0], group):
            sd = summary[str(d)]
            x = np.logspace(0, 4, 801)
            # the default colour cycle has 10 colours: with more solvers (the default run has 16) two
            # solid lines would share one
            cmap = plt.get_cmap("tab10" if len(sd["solvers"]) <= 10 else "tab20")
            for i, (s, e) in enumerate(sd["solvers"].items()):
                rs = [r for r in records if r["d"] == d and r["solver"] == s and "hits" in r]
                if not rs:
                    continue
                h = np.array([[np.inf if v is None else v for v in r["hits"]] for r in rs], dtype=float).ravel() / d
                y = np.searchsorted(np.sort(h), x, side="right") / h.size
                label = f"{s}: share {e['share'][0]:.3f}, area {e['auc'][0]:.3f}"
                style = "--" if s.startswith("cma") else "-"
                ax.step(x, y, where="post", linestyle=style, linewidth=1.8, label=label, color=cmap(i % cmap.N))
            ax.axvline(100, color="0.6", linestyle=":", linewidth=1)
            ax.set_xscale("log")
            ax.set_xlim(1, 1e4)
            ax.set_ylim(0, 1)
            ax.set_xlabel("evaluations / d")
            ax.set_ylabel("share of (function, instance, seed, target) reached")
            budgets = {r["budget"] / d for r in records if r["d"] == d and "budget" in r}
            b = max(budgets) if budgets else None
            budget = "" if b is None else f", budget 1e{math.log10(b):g} d" if math.log10(b).is_integer() else f", budget {b:g} d"
            ax.set_title(f"BBOB d = {d}: {len(sd['functions'])} functions, {_runs_text(sd['instances'], 'instances')}, "
                         f"{_runs_text(sd['seeds'], 'seeds')}\n51 targets 1e2..1e-8{budget} "
                         f"(area: ECDF over 1e2..1e4 d, normalized)", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(loc="upper left", fontsize=9)
        fig.tight_layout()
        out = path.format(d=group[0]) if per_file else path
        fig.savefig(out, dpi=120)
        plt.close(fig)
        print(f"wrote {out}")


def load(paths):
    records, seen = [], {}
    for p in paths:
        with open(p) as fh:
            data = json.load(fh)
        for r in (data["records"] if isinstance(data, dict) else data):
            k = (r["solver"], r["d"]) + _key(r)
            if k in seen:
                print(f"warning: {k} in {seen[k]} and {p}: the later one kept", file=sys.stderr)
                records = [q for q in records if (q["solver"], q["d"]) + _key(q) != k]
            seen[k] = p
            records.append(r)
    return records


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="24 functions x 5 instances, d = 10 and 20, 1e4*d")
    ap.add_argument("--dims", type=int, nargs="+", default=None)
    ap.add_argument("--functions", type=int, nargs="+", default=None)
    ap.add_argument("--instances", type=int, nargs="+", default=None)
    ap.add_argument("--budget-multiplier", type=float, default=None)
    ap.add_argument("--solvers", nargs="+", default=SOLVERS, choices=SOLVERS)
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="solver seeds (default 0)")
    ap.add_argument("--seed", type=int, default=None, help="one seed (the same as --seeds SEED)")
    ap.add_argument("--json", default=None, help="write every run's record to this file")
    ap.add_argument("--load", nargs="+", default=None, metavar="FILE",
                    help="summarize the records of these --json files instead of running")
    ap.add_argument("--summary", default=None, help="write the summary to this JSON file")
    ap.add_argument("--plot", default=None, help="ECDF plot (PNG); '{d}' in the name: one file per dimension")
    ap.add_argument("--table", default=None, metavar="PATH",
                    help="write the per-function table (Markdown) of the library's default against --reference")
    ap.add_argument("--reference", default=REFERENCE, choices=SOLVERS,
                    help=f"the solver paired differences are taken against (default {REFERENCE})")
    a = ap.parse_args(argv)
    if a.load:
        records = load(a.load)
    else:
        records = run(a)
    summary = summarize(records, a.reference)
    print_summary(summary)
    if a.summary:
        with open(a.summary, "w") as fh:
            json.dump(summary, fh, indent=1)
    if a.plot:
        plot_ecdf(records, summary, a.plot)
    if a.table:
        try:
            table = per_function_table(summary, default_solver, a.reference)
        except ValueError as exc:
            sys.exit(f"--table: {exc}")
        with open(a.table, "w") as fh:
            fh.write(table)
        print(f"wrote {a.table}")


def run(a):
    _import_runners()
    seeds = a.seeds if a.seeds is not None else [0 if a.seed is None else a.seed]
    dims = a.dims or ([10, 20] if a.full else [10])
    fids = a.functions or list(range(1, 25))
    iids = a.instances or ([1, 2, 3, 4, 5] if a.full else [1])
    mult = a.budget_multiplier or (1e4 if a.full else 1e3)
    print(f"bbob: dims {dims}, functions {fids[0]}..{fids[-1]} ({len(fids)}), instances {iids}, seeds {seeds}, "
          f"budget {mult:g}*d, {len(TARGETS)} targets 1e2..1e-8, ioh {_version('ioh')}, cma {cma.__version__}",
          flush=True)
    records = []
    for d in dims:
        budget = int(mult * d)
        for solver in a.solvers:
            for seed in seeds:
                t = time.perf_counter()
                rs = []
                for fid in fids:
                    for iid in iids:
                        rs.append(one_run(solver, fid, iid, d, budget, seed))
                        if a.json:  # after every run: a long run leaves its finished part
                            with open(a.json, "w") as fh:
                                json.dump(records + rs, fh, indent=1)
                records += rs
                share = sum(r["reached"] for r in rs) / (len(rs) * len(TARGETS))
                solved = sum(r["precision"] <= 1e-8 for r in rs)
                print(f"d={d:3d} {solver:17s} seed {seed:3d}  share of (f, inst, target) reached {share:6.3f}   "
                      f"runs to 1e-8: {solved:3d}/{len(rs)}   {time.perf_counter() - t:7.1f} s", flush=True)
    return records


if __name__ == "__main__":
    main()
