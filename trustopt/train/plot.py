"""Learning curves from run folders (``progress.csv``): evaluation return against timesteps."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

from trustopt._validation import ValidationError

__all__ = ["read_progress", "plot_runs"]


def read_progress(run) -> dict[str, np.ndarray]:
    """The columns of ``run/progress.csv`` as float arrays (empty cells are NaN; ``status`` as str)."""
    path = os.path.join(os.fspath(run), "progress.csv")
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise ValidationError(f"run: {path} does not exist (not a trustopt run folder?)") from None
    if not rows:
        raise ValidationError(f"run: {path} is empty")
    header, body = rows[0], rows[1:]
    cols: dict[str, np.ndarray] = {}
    for i, name in enumerate(header):
        vals = [r[i] if i < len(r) else "" for r in body]
        if name == "status":
            cols[name] = np.array(vals, dtype=object)
        else:
            cols[name] = np.array([float(v) if v != "" else math.nan for v in vals], dtype=np.float64)
    return cols


def _config(run: str) -> dict:
    try:
        with open(os.path.join(run, "config.json")) as f:
            c = json.load(f)
        return c if isinstance(c, dict) else {}
    except (OSError, ValueError):
        return {}


def _label(run: str, c: dict) -> str:
    name = os.path.basename(os.path.normpath(run))
    if not c:
        return name
    algo = f"{c.get('algo')} (vine)" if c.get("vine") else c.get("algo")
    return f"{algo} {c.get('env_id')} seed {c.get('seed')} ({name})"


def _train_quantity(c: dict) -> str:
    """What ``train_return_mean`` is: the mean return of the training batch (ES: perturbed
    policies; PG: the stochastic policy), survival bonus removed where the run removed it."""
    from trustopt.envs._registry import SURVIVAL_BONUS_FAMILIES, family

    removed = c.get("remove_survival_bonus", True) and family(str(c.get("env_id", ""))) in SURVIVAL_BONUS_FAMILIES
    return "training batch mean" + (", survival bonus removed" if removed else "")


def plot_runs(runs, output, *, target: float | None = None, title: str | None = None) -> str:
    """Plot evaluation mean +- std (or, for runs without evaluations, the mean training return,
    dashed) against training timesteps for each run folder; write ``output`` (PNG/PDF/SVG by
    suffix). Each legend entry says which quantity its curve is; the y label names the quantity
    when all curves share it and reads "return" when they do not. ``target`` draws a horizontal
    threshold line. Returns ``output``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [os.fspath(r) for r in runs]
    if not runs:
        raise ValidationError("runs: give at least one run folder")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    kinds = set()
    for run in runs:
        p = read_progress(run)
        c = _config(run)
        t = p.get("timesteps", np.array([]))
        ev = p.get("eval_mean", np.full(t.shape, math.nan))
        ok = ~np.isnan(ev)
        if ok.any():
            sd = p.get("eval_std", np.zeros_like(ev))[ok]
            line, = ax.plot(t[ok], ev[ok], marker="o", markersize=3, label=_label(run, c) + ": evaluation mean ± std")
            ax.fill_between(t[ok], ev[ok] - sd, ev[ok] + sd, alpha=0.2, color=line.get_color())
            kinds.add("evaluation")
        elif t.size:
            ax.plot(t, p["train_return_mean"], linestyle="--", label=f"{_label(run, c)}: {_train_quantity(c)}")
            kinds.add("training")
    if target is not None:
        ax.axhline(target, color="k", linestyle="--", linewidth=1, label=f"threshold {target:g}")
    ax.set_xlabel("training timesteps")
    if kinds == {"evaluation"}:
        ax.set_ylabel("evaluation return (mean ± std)")
    elif kinds == {"training"}:
        ax.set_ylabel("training return (batch mean)")
    else:
        ax.set_ylabel("return")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = os.fspath(output)
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
