"""Timesteps to the papers' reward thresholds for linear policies on MuJoCo v5, many seeds.

What it measures. For every (environment, method, seed) one ``trustopt.train`` run with the
library's defaults (``trustopt/train/config.py``; ``--set KEY=VALUE`` overrides, e.g. a setting
under study) is evaluated after the first iteration at or past every multiple of
``--eval-steps`` training timesteps (``TrainConfig.eval_steps``: the same grain for every method,
whatever its batch size; and after the iteration that spends the budget, since 2026-12-07: the
committed results before it end at their last multiple), ``--eval-episodes`` episodes of the
mean policy with the environment's own return, and stops at the highest threshold of its
environment or at ``--budget``. A run's
figure for a threshold is the training timesteps (and episodes) at its first evaluation at or
above it.

Thresholds and the papers' figures (:data:`THRESHOLDS`): TRES paper Table 1 (Liu et al. 2019:
timesteps averaged over 6 seeds, -v1 environments) and ARS paper Table 1 (Mania et al. 2018:
episodes; for ``ars`` its ARS V2-t column, as quoted by this repository's issue tracker; for
``npg`` its NG-lin column, the natural gradient with linear policies of Rajeswaran, Lowrey, Todorov
& Kakade 2017, "Towards generalization and simplicity in continuous control": Swimmer 1450,
Hopper 13920, HalfCheetah 11250, Walker2d 36840, Ant 39240 episodes; the ARS paper is not in
``shared/papers`` and these were not checked against a second copy). Both papers used the -v1
environments (mujoco-py, other model files and reward details), so comparisons are indicative.

Statistics per (environment, method, threshold), over seeds: how many reached it; the median and
the interquartile mean (IQM, the mean of the middle half; Agarwal et al. 2021) of the timesteps to
it, an unreached run counting as infinitely many (so the median is finite when more than half
reached it); 95% percentile bootstrap confidence intervals (10,000 resamples of the seeds; a bound
is ``inf`` when resamples with too many unreached runs reach it). The same for the return of the
final evaluation. ``--plot`` draws, per environment, the IQM learning curve of each method with
its bootstrap band (a run that stopped at the highest threshold holds its last evaluation).

Runs are independent: ``--procs N`` runs N of them at a time in local processes (one core each;
``--workers`` rollout processes inside each run), ``--backend ray`` as Ray tasks on a cluster
(``--ray-address``). The raw per-run results (curves included) go to ``--json``; the run folders
stay under ``--runs-dir`` for ``trustopt plot``.

    python benchmarks/bench_thresholds.py --envs Swimmer-v5 --seeds 0 1 2 3 4 5 6 7 8 9 --budget 1000000 --procs 2
    python benchmarks/bench_thresholds.py --envs HalfCheetah-v5 --algos tres --set n_directions=8 --label tres-N8
    python benchmarks/bench_thresholds.py --load benchmarks/results/thresholds_*.json --plot curves.png
    python benchmarks/bench_thresholds.py --summarize runs/thresholds/*      # existing run folders
    python benchmarks/bench_thresholds.py --quick      # Swimmer, tres + ars, 2 seeds, 3e5 timesteps
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import shutil
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _provenance import code_version  # noqa: E402


@dataclass(frozen=True)
class Threshold:
    """A reward threshold, where it comes from, and that paper's figure per method (``unit``:
    timesteps or episodes)."""

    value: float
    source: str
    paper: dict = field(default_factory=dict)
    unit: str = "timesteps"


TRES_T1 = "TRES paper Table 1"
ARS_T1 = "ARS paper Table 1"
GYM_THRESHOLD = "Gymnasium's reward_threshold"
#: env -> thresholds (lowest first; a run stops at the last).
THRESHOLDS: dict[str, tuple[Threshold, ...]] = {
    "Swimmer-v5": (Threshold(128, TRES_T1, {"trpo": 4.6e6, "ppo": 4.4e5, "es": 4.5e5, "tres": 2.4e5}),
                   Threshold(325, ARS_T1, {"ars": 427, "npg": 1450}, "episodes")),
    "Hopper-v5": (Threshold(3120, ARS_T1, {"ars": 1973, "npg": 13920}, "episodes"),),
    "HalfCheetah-v5": (Threshold(2385, TRES_T1, {"trpo": 2.6e6, "ppo": 1.2e6, "es": 1.7e6, "tres": 9.8e5}),
                       Threshold(3430, ARS_T1, {"ars": 1707, "npg": 11250}, "episodes")),
    "Walker2d-v5": (Threshold(2872, TRES_T1, {"trpo": 2.9e6, "ppo": 1.9e6, "es": 1.2e7, "tres": 3.6e6}),
                    Threshold(4390, ARS_T1, {"ars": 24000, "npg": 36840}, "episodes")),
    "Ant-v5": (Threshold(3000, TRES_T1, {"ppo": 1.0e7, "es": 1.5e7, "tres": 1.3e7}),
               Threshold(3580, ARS_T1, {"ars": 20800, "npg": 39240}, "episodes")),
    # the ARS paper's Humanoid threshold (its Table 1); that table's episode counts for Humanoid
    # are not quoted here: no copy of the paper to check them against
    "Humanoid-v5": (Threshold(6000, ARS_T1),),
    # Gymnasium's reward_threshold for the task, then the most an episode can return (1000 steps)
    "InvertedPendulum-v5": (Threshold(950, GYM_THRESHOLD), Threshold(1000, "the maximum return")),
    "InvertedDoublePendulum-v5": (Threshold(9104, TRES_T1, {"trpo": 4.4e6, "ppo": 1.9e6, "es": 8.8e5,
                                                             "tres": 6e5}),),
}
LABEL_FILE = "bench_label.txt"


# ------------------------------------------------------------------------------ one run


def run_one(task: dict) -> dict:
    """Train one run (``task``: env_id, algo, seed, label, overrides, budget, eval_steps,
    eval_episodes, workers, runs_dir) and return :func:`result_of_run`."""
    from trustopt.train import train

    out = os.path.join(task["runs_dir"], f"{task['env_id']}-{task['label']}-seed{task['seed']}")
    if os.path.exists(out):
        shutil.rmtree(out)
    cfg = config_of(task)
    os.makedirs(out)
    with open(os.path.join(out, LABEL_FILE), "w") as f:  # first: an interrupted run keeps its label
        f.write(task["label"])
    t0 = time.perf_counter()
    train(cfg, out, workers=task["workers"], progress=False)
    return result_of_run(out, wall=time.perf_counter() - t0)


def config_of(task: dict):
    """The ``TrainConfig`` of one task (raises ``ValidationError`` for an override its algorithm rejects)."""
    from trustopt.train import TrainConfig

    return TrainConfig(env_id=task["env_id"], algo=task["algo"], timesteps=task["budget"], seed=task["seed"],
                       eval_steps=task["eval_steps"], eval_episodes=task["eval_episodes"],
                       target=float(THRESHOLDS[task["env_id"]][-1].value), **task["overrides"])


def run_label(out: str, default: str) -> str:
    """The label :func:`run_one` wrote into the run folder ``out`` (``LABEL_FILE``), else ``default``."""
    try:
        with open(os.path.join(out, LABEL_FILE)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return default


def result_of_run(out: str, wall: float | None = None) -> dict:
    """A finished (or interrupted) run folder as a result: its evaluation curve, the timesteps and
    episodes at the first evaluation at or above each threshold (None: not reached), the final
    and best evaluations."""
    from trustopt.train import ES_ALGOS, read_progress
    from trustopt.train.plot import restart_rows

    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    label = run_label(out, default=cfg["algo"])
    p = read_progress(out)
    begun = restart_rows(p)
    ev = p["eval_mean"]
    rows = np.flatnonzero(~np.isnan(ev))
    hits = {}
    for th in THRESHOLDS[cfg["env_id"]]:
        hit = rows[ev[rows] >= th.value]
        hits[str(th.value)] = None if not hit.size else {"timesteps": int(p["timesteps"][hit[0]]),
                                                         "episodes": int(p["episodes"][hit[0]])}
    return {"env_id": cfg["env_id"], "algo": cfg["algo"], "label": label, "seed": cfg["seed"], "hits": hits,
            "budget": cfg["timesteps"], "eval_steps": cfg.get("eval_steps"),
            "timesteps_used": int(p["timesteps"][-1]) if len(p["timesteps"]) else 0,
            "final_eval": float(ev[rows[-1]]) if rows.size else math.nan,
            "best_eval": float(np.max(ev[rows])) if rows.size else math.nan,
            "curve": {"timesteps": p["timesteps"][rows].astype(int).tolist(), "eval": ev[rows].tolist()},
            "wall_s": float(p["wall_s"][-1]) if wall is None else wall, "run": out,
            "restarts": len(begun),
            "walk": mean_path(out, p, int(p["iteration"][begun[-1]]) if begun.size else 1)
            if cfg["algo"] in ES_ALGOS else None}


def mean_path(out: str, p: dict, first: int = 1) -> dict | None:
    """How the mean of an ES-family run moved from its start ``theta_0 = 0`` (at iteration
    ``first``: after restarts, the last start's first) to the saved policy (None when the run has
    no steps or no policy yet): ``norm`` ``||theta_k||``, ``rss``
    ``(sum_i ||dtheta_i||^2)^(1/2)`` and ``sum`` ``sum_i ||dtheta_i||`` over its ``k`` steps (the progress column ``step_norm``). Steps that
    are independent noise give ``norm ~ rss`` (a random walk); steps along one direction give
    ``norm ~ sum`` (a drift). ``step_over_scale``: the median step over ``sigma sqrt(d)``, the
    length of a perturbation."""
    path = os.path.join(out, "policy.npz")
    if "step_norm" not in p or not os.path.exists(path):
        return None
    with np.load(path) as z:
        W, k = z["W"], int(z["iteration"])
    steps = p["step_norm"][(p["iteration"] >= first) & (p["iteration"] <= k) & np.isfinite(p["step_norm"])]
    if not steps.size:
        return None
    return {"iterations": k, "norm": float(np.linalg.norm(W)), "rss": float(np.sqrt(np.sum(steps * steps))),
            "sum": float(np.sum(steps)),
            "step_over_scale": float(np.median(steps) / (p["sigma"][0] * math.sqrt(W.size)))}


# ------------------------------------------------------------------------------ many runs


def run_all(tasks: list[dict], procs: int, backend: str, ray_address: str | None) -> list[dict]:
    """Every task, ``procs`` at a time (local processes) or as Ray tasks; results in task order."""
    results: list = [None] * len(tasks)
    if backend == "ray":
        import ray

        ray.init(address=ray_address, ignore_reinit_error=True)
        remote = ray.remote(num_cpus=1)(run_one)
        pending = {remote.remote(t): i for i, t in enumerate(tasks)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done[0])
            results[i] = ray.get(done[0])
            _report(results[i])
    elif procs == 1:
        for i, t in enumerate(tasks):
            results[i] = run_one(t)
            _report(results[i])
    else:
        from trustopt.workers import exit_with_parent  # a killed benchmark takes its runs with it

        with ProcessPoolExecutor(procs, mp_context=get_context("spawn"), initializer=exit_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = {pool.submit(run_one, t): i for i, t in enumerate(tasks)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                _report(results[futures[fut]])
    return results


def _report(r: dict) -> None:
    hits = ", ".join(f"{k}: {'-' if v is None else v['timesteps']}" for k, v in r["hits"].items())
    print(f"{r['env_id']} {r['label']} seed {r['seed']}: {hits}; final {r['final_eval']:.0f}, best "
          f"{r['best_eval']:.0f}, {r['timesteps_used']} timesteps, {r['wall_s']:.0f} s"
          + ("" if not r.get("walk") else f"; mean path: norm {r['walk']['norm']:.3g}, root sum of squared steps "
             f"{r['walk']['rss']:.3g}, sum {r['walk']['sum']:.3g}"), flush=True)


# ------------------------------------------------------------------------------ statistics


def iqm(v: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean along ``axis``: the mean of the sorted middle half (a quarter trimmed at
    each end, ``floor(n / 4)`` entries; Agarwal et al. 2021)."""
    v = np.sort(v, axis=axis)
    n = v.shape[axis]
    k = n // 4
    return np.mean(np.take(v, np.arange(k, n - k), axis=axis), axis=axis)


def bootstrap(v, rng, n_boot: int = 10_000) -> dict:
    """Median and IQM of ``v`` (per-seed values; ``inf`` allowed) with percentile bootstrap 95%
    CIs over the seeds. Bounds are order statistics of the resampled statistics (no interpolation,
    so an infinite resample gives an infinite bound instead of nan)."""
    v = np.asarray(v, dtype=float)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    out = {}
    for name, stat in (("median", lambda a: np.median(a, axis=-1)), ("iqm", iqm)):
        boot = stat(v[idx])
        out[name] = float(stat(v[None, :])[0])
        out[name + "_ci"] = [float(np.percentile(boot, 2.5, method="lower")),
                             float(np.percentile(boot, 97.5, method="higher"))]
    return out


#: The tables' and the plot's column of the runs of today's default, per algorithm (:func:`shown_as_default`).
DEFAULT_LABELS = {"tres": "tres (default)", "es": "es (default)"}
DEFAULT_TRES = DEFAULT_LABELS["tres"]
#: The hyperparameters that make a run one of its algorithm's default on its task.
_DEFAULT_KEYS = {"tres": ("sigma", "lr", "K", "n_directions", "lambda_"),
                 "es": ("sigma", "lr", "n_directions", "l2", "optimizer")}


def shown_as_default(results: list[dict]) -> list[dict]:
    """``results`` with each TRES or ES run whose settings are today's default on its task
    labelled :data:`DEFAULT_LABELS` (its own label kept as ``raw_label``): the ``--set`` its label
    names (``tres-sigma=0.044``: ``--set sigma=0.044``), resolved by ``trustopt.train`` for its
    task, gives the hyperparameters of a run without ``--set``. So the default's runs form one
    column whichever ``--set`` produced them, and a run of an earlier default keeps its own label
    (a run labelled ``es`` is one of today's default: those of the former 0.02 on every task are
    labelled ``es-sigma=0.02``). The ``--json`` files keep every run's own label."""
    from trustopt._validation import ValidationError
    from trustopt.train import TrainConfig
    from trustopt.train.config import resolve_config

    def settings(env_id: str, algo: str, overrides: dict):
        c = resolve_config(TrainConfig(env_id=env_id, algo=algo, **overrides))
        return tuple(getattr(c, k) for k in _DEFAULT_KEYS[algo])

    defaults, out, seen = {}, [], {}
    for r in results:
        algo = r["algo"]
        overrides = _label_overrides(r["label"], algo) if algo in DEFAULT_LABELS else None
        if overrides is not None and set(overrides) <= set(_DEFAULT_KEYS[algo]):  # other keys: another setting
            key = (r["env_id"], algo)
            if key not in defaults:
                defaults[key] = settings(r["env_id"], algo, {})
            try:
                same = settings(r["env_id"], algo, overrides) == defaults[key]
            except (ValidationError, TypeError):  # a value this version refuses
                same = False
            if same:
                r = {**r, "label": DEFAULT_LABELS[algo], "raw_label": r["label"]}
                run = (r["env_id"], algo, r["seed"])
                if run in seen:
                    raise SystemExit(f"{r['env_id']} seed {r['seed']}: the default's run twice, as {seen[run]} and "
                                     f"{r['raw_label']}; load one of them")
                seen[run] = r["raw_label"]
        out.append(r)
    return out


def _label_overrides(label: str, algo: str) -> dict | None:
    """The ``--set`` of a label that :func:`main` made for ``algo`` (``algo`` or ``algo-key=value-...``),
    or None (a ``--label``, or a value with a ``-`` in it)."""
    if label != algo and not label.startswith(algo + "-"):
        return None
    items = [_set_item(item) for item in label.split("-")[1:]]
    return None if None in items else dict(items)


def _set_item(item: str) -> tuple[str, object] | None:
    """``KEY=VALUE`` as ``(key, value)``, the value read as JSON where it is JSON; None without ``=``."""
    key, sep, value = item.partition("=")
    if not sep:
        return None
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def summarize(results: list[dict], seed: int = 0) -> list[dict]:
    """Rows per (environment, label, threshold): reached / runs, the timesteps-to-threshold
    statistics of :func:`bootstrap` (unreached = inf), the final-evaluation statistics and the
    paper's figure."""
    rows = []
    for env_id, label in sorted({(r["env_id"], r["label"]) for r in results}):
        rs = [r for r in results if r["env_id"] == env_id and r["label"] == label]
        # resamples depend only on the cell (its runs' own label), not on what else is summarized with it
        rng = np.random.default_rng([seed, zlib.crc32(f"{env_id}|{rs[0].get('raw_label', label)}".encode())])
        final = bootstrap([r["final_eval"] for r in rs], rng)
        for th in THRESHOLDS[env_id]:
            hits = [r["hits"][str(th.value)] for r in rs]
            t, e = ([math.inf if h is None else h[unit] for h in hits] for unit in ("timesteps", "episodes"))
            rows.append({"env_id": env_id, "label": label, "algo": rs[0]["algo"], "threshold": th.value,
                         "source": th.source, "runs": len(rs), "reached": sum(h is not None for h in hits),
                         "budget": max(r["budget"] for r in rs), "timesteps": bootstrap(t, rng),
                         "episodes": bootstrap(e, rng),
                         "final_eval": final, "paper": th.paper.get(rs[0]["algo"]), "paper_unit": th.unit,
                         "wall_s": float(sum(r["wall_s"] for r in rs))})
    return rows


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.2g}" if abs(x) >= 1e4 else f"{x:.0f}"


def print_table(rows: list[dict]) -> None:
    print("\n| env (threshold, source) | method | reached | median timesteps [95% CI] | IQM [95% CI] | "
          "median episodes | final return, median [CI] | paper (TRES: mean of 6 seeds; ARS table: mean) | "
          "wall (s, all seeds) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t, f = r["timesteps"], r["final_eval"]
        paper = "" if r["paper"] is None else f"{_fmt(r['paper'])} {r['paper_unit']}"
        print(f"| {r['env_id']} ({r['threshold']:g}, {r['source']}) | {r['label']} | {r['reached']}/{r['runs']} "
              f"(budget {r['budget']:.1e}) | {_fmt(t['median'])} [{_fmt(t['median_ci'][0])}, "
              f"{_fmt(t['median_ci'][1])}] | {_fmt(t['iqm'])} [{_fmt(t['iqm_ci'][0])}, {_fmt(t['iqm_ci'][1])}] | "
              f"{_fmt(r['episodes']['median'])} | {f['median']:.0f} [{f['median_ci'][0]:.0f}, "
              f"{f['median_ci'][1]:.0f}] | {paper} | {r['wall_s']:.0f} |")


def print_compact(rows: list[dict]) -> None:
    """The README's table: a row per (environment, threshold), a column per method; a cell is
    ``reached/runs, median timesteps [95% CI]`` (``-``: not reached by half the runs / unbounded)."""
    labels = sorted({r["label"] for r in rows})
    cells = {(r["env_id"], r["threshold"], r["label"]): r for r in rows}
    print("\n| env (threshold, source, budget) | " + " | ".join(labels) + " | paper |")
    print("|---" * (len(labels) + 2) + "|")
    for env_id, th in sorted({(r["env_id"], r["threshold"]) for r in rows}):
        row = [r for r in rows if r["env_id"] == env_id and r["threshold"] == th]
        budgets = sorted({r["budget"] for r in row})  # methods of one row may have run to other budgets
        budget = f"{budgets[0]:.3g}" + (f" to {budgets[-1]:.3g}" if len(budgets) > 1 else "")
        out = []
        for label in labels:
            r = cells.get((env_id, th, label))
            if r is None:
                out.append("")
                continue
            t = r["timesteps"]
            ci = "[" + ", ".join("-" if math.isinf(x) else f"{x:.2g}" for x in t["median_ci"]) + "]"
            out.append(f"{r['reached']}/{r['runs']}, " + ("-" if math.isinf(t["median"]) else f"{t['median']:.2g} {ci}"))
        spec = next(x for x in THRESHOLDS[env_id] if x.value == th)
        algos = {r["algo"] for r in rows}
        paper = ", ".join(f"{a} {_fmt(v)}" for a, v in spec.paper.items() if a in algos)
        paper += " episodes" if paper and spec.unit == "episodes" else ""
        print(f"| {env_id} ({th:g}, {row[0]['source'].split(' (')[0]}, {budget}) | " + " | ".join(out)
              + f" | {paper} |")


# ------------------------------------------------------------------------------ curves


def curve_on_grid(r: dict, grid: np.ndarray) -> np.ndarray:
    """The run's evaluation return at each grid timestep: its last evaluation at or before it
    (nan before the first; a run that stopped at its task's highest threshold holds its last value,
    one that stopped at its budget has no value past its last timestep)."""
    ts, ev = np.asarray(r["curve"]["timesteps"]), np.asarray(r["curve"]["eval"])
    i = np.searchsorted(ts, grid, side="right") - 1
    y = np.where(i >= 0, ev[np.maximum(i, 0)] if ev.size else np.nan, np.nan)
    if r["hits"].get(str(THRESHOLDS[r["env_id"]][-1].value)) is None:
        y[grid > r["timesteps_used"]] = np.nan
    return y


def plot_grid(runs: list[dict], n: int = 200) -> np.ndarray:
    """The timesteps one panel's curves are drawn at: ``n`` even steps up to the longest run, and the
    last timestep of every run, so that a run that stopped at its budget shows its final evaluation
    (past its end it has no value, :func:`curve_on_grid`)."""
    ends = [r["timesteps_used"] for r in runs]
    return np.unique(np.concatenate([np.linspace(0, max(ends), n), ends]))


def plot_curves(results: list[dict], path: str, n_boot: int = 2000) -> None:
    """One panel per environment: the IQM over seeds of each method's evaluation return against
    training timesteps, with a 95% bootstrap band, and the thresholds as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({r["env_id"] for r in results})
    ncols = min(3, len(envs))
    nrows = -(-len(envs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.8 * nrows), squeeze=False)
    for ax in axes.flat[len(envs):]:
        ax.set_visible(False)
    rng = np.random.default_rng(0)
    # one colour per method in every panel, so that a legend reads the same across tasks; past
    # Matplotlib's ten, tab20's twenty (past those, a hue each from turbo)
    labels = sorted({r["label"] for r in results})
    palette = ([f"C{i}" for i in range(10)] if len(labels) <= 10 else
               list(plt.get_cmap("tab20").colors) if len(labels) <= 20 else
               list(plt.get_cmap("turbo")(np.linspace(0.05, 0.95, len(labels)))))
    colors = dict(zip(labels, palette))
    for ax, env_id in zip(axes.flat, envs):
        rs_env = [r for r in results if r["env_id"] == env_id]
        grid = plot_grid(rs_env)
        for label in sorted({r["label"] for r in rs_env}):
            Y = np.array([curve_on_grid(r, grid) for r in rs_env if r["label"] == label])
            ok = ~np.isnan(Y).any(axis=0)
            idx = rng.integers(0, len(Y), size=(n_boot, len(Y)))
            boot = iqm(Y[:, ok][idx], axis=1)
            seeds = f"{len(Y)} seed" + ("s" if len(Y) > 1 else "")
            ax.plot(grid[ok], iqm(Y[:, ok], axis=0), color=colors[label], label=f"{label} ({seeds})")
            ax.fill_between(grid[ok], *np.percentile(boot, [2.5, 97.5], axis=0), color=colors[label], alpha=0.2)
        for th in THRESHOLDS[env_id]:
            ax.axhline(th.value, color="gray", ls="--", lw=0.8)
            ax.annotate(f"{th.value:g} ({th.source.split(' (')[0]})", (0, th.value), xycoords=("axes fraction", "data"),
                        xytext=(2, 2), textcoords="offset points", fontsize=7, color="gray")
        ax.set(title=env_id, xlabel="training timesteps", ylabel="evaluation return (IQM, 95% CI)")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------ command line


def load(patterns: list[str]) -> list[dict]:
    """The per-run results of the ``--json`` files matching ``patterns`` (a file matched by two
    patterns is read once; the same run -- environment, label, seed -- in two files is an error,
    as it would count twice in the medians). A summary that ``--load --json`` wrote holds no runs: it
    is skipped with a note (``results/thresholds_*.json`` matches ``thresholds_summary.json``), and
    refused when nothing else was given."""
    files = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise SystemExit(f"--load: no file matches {pattern}")
        files += [f for f in matched if f not in files]
    runs, where, summaries = [], {}, []
    for path in files:
        with open(path) as f:
            data = json.load(f)
        if isinstance(data, dict) and "summary" in data and "runs" not in data:
            summaries.append(path)
            continue
        if not all(isinstance(r, dict) and "label" in r and "hits" in r for r in data.get("runs", [None])):
            raise SystemExit(f"--load: {path} is not a result of this version of bench_thresholds.py")
        for r in data["runs"]:
            key = (r["env_id"], r["label"], r["seed"])
            if key in where:
                raise SystemExit(f"--load: {r['label']} on {r['env_id']} seed {r['seed']} is in both "
                                 f"{where[key]} and {path}")
            where[key] = path
        runs += data["runs"]
    if summaries and not runs:
        raise SystemExit(f"--load: {summaries[0]} is not a result of this version of bench_thresholds.py "
                         "(a summary written by --load: it holds no runs; load the files it lists)")
    for path in summaries:
        print(f"--load: skipped {path}: a summary written by --load, no runs", file=sys.stderr)
    return runs


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        parsed = _set_item(item)
        if parsed is None:
            raise SystemExit(f"--set: expected KEY=VALUE, got {item!r}")
        out[parsed[0]] = parsed[1]
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", nargs="+", default=["Swimmer-v5"], choices=sorted(THRESHOLDS))
    p.add_argument("--algos", nargs="+", default=["tres", "es", "ars"],
                   choices=["tres", "es", "ars", "trpo", "npg", "ppo", "vpg", "trefree", "stro"])
    p.add_argument("--seeds", nargs="+", type=int, default=list(range(10)))
    p.add_argument("--budget", type=float, default=1e6, help="training timesteps per run (default 1e6)")
    p.add_argument("--eval-steps", type=int, default=50_000, help="evaluation grain in training timesteps")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="TrainConfig overrides (JSON values)")
    p.add_argument("--label", default=None, help="name of the method in the tables (default: algo + --set)")
    p.add_argument("--procs", type=int, default=None, help="runs at a time in local processes (default 1; --quick: 2)")
    p.add_argument("--workers", type=int, default=1, help="rollout worker processes inside each run")
    p.add_argument("--backend", choices=("process", "ray"), default="process")
    p.add_argument("--ray-address", default=None)
    p.add_argument("--runs-dir", default="runs/thresholds")
    p.add_argument("--json", default=None, help="write the per-run results and the summary here")
    p.add_argument("--load", nargs="+", action="extend", default=None,
                   help="train nothing: summarize these --json files (glob patterns)")
    p.add_argument("--summarize", nargs="+", metavar="RUN", default=None, help="train nothing: these run folders")
    p.add_argument("--plot", default=None, help="PNG of the IQM learning curves")
    p.add_argument("--quick", action="store_true", help="Swimmer, tres and ars, seeds 0 1, budget 3e5, 2 processes")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.quick:
        a.envs, a.algos, a.seeds, a.budget = ["Swimmer-v5"], ["tres", "ars"], [0, 1], 3e5
        a.procs = 2 if a.procs is None else a.procs
    a.procs = 1 if a.procs is None else a.procs
    if a.load:
        results = load(a.load)
    elif a.summarize:
        missing = [out for out in a.summarize if not os.path.isfile(os.path.join(out, "progress.csv"))]
        if missing:
            raise SystemExit(f"--summarize: not a run folder (no progress.csv): {', '.join(missing)}")
        results = [result_of_run(out) for out in a.summarize]
    else:
        overrides = _overrides(a.set)
        tasks = [dict(env_id=env_id, algo=algo, seed=seed, overrides=overrides, budget=int(a.budget),
                      label=a.label or "-".join([algo] + [f"{k}={v}" for k, v in overrides.items()]),
                      eval_steps=a.eval_steps, eval_episodes=a.eval_episodes, workers=a.workers,
                      runs_dir=a.runs_dir)
                 for env_id in a.envs for algo in a.algos for seed in a.seeds]
        from trustopt._validation import ValidationError

        for task in tasks:  # a --set that an algorithm rejects: one line now, not a traceback from a worker later
            try:
                config_of(task)
            except (ValidationError, TypeError) as exc:
                raise SystemExit(f"bench_thresholds: {task['algo']} on {task['env_id']}: {exc}") from None
        results = run_all(tasks, a.procs, a.backend, a.ray_address)
    shown = shown_as_default(results)
    rows = summarize(shown)
    print_table(rows)
    print_compact(rows)
    if a.json:  # with --load: the summary of those files (their runs stay there)
        args = vars(a)
        if a.load or a.summarize:  # nothing trained here: the training options would be argparse's defaults
            args = {k: args[k] for k in ("load", "summarize", "json", "plot")}
        out = {"code_version": code_version(), "args": args, "summary": rows}
        with open(a.json, "w") as f:
            json.dump(out if a.load else {**out, "runs": results}, f, indent=1)
    if a.plot:
        plot_curves(shown, a.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
