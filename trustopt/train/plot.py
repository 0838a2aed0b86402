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


def _label(run: str) -> str:
    try:
        with open(os.path.join(run, "config.json")) as f:
            c = json.load(f)
        return f"{c.get('algo')} {c.get('env_id')} seed {c.get('seed')} ({os.path.basename(os.path.normpath(run))})"
    except (OSError, ValueError):
        return os.path.basename(os.path.normpath(run))


def plot_runs(runs, output, *, target: float | None = None, title: str | None = None) -> str:
    """Plot evaluation mean +- std (or, for runs without evaluations, the mean training return)
    against training timesteps for each run folder; write ``output`` (PNG/PDF/SVG by suffix).
    ``target`` draws a horizontal threshold line. Returns ``output``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [os.fspath(r) for r in runs]
    if not runs:
        raise ValidationError("runs: give at least one run folder")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in runs:
        p = read_progress(run)
        t = p.get("timesteps", np.array([]))
        ev = p.get("eval_mean", np.full(t.shape, math.nan))
        ok = ~np.isnan(ev)
        if ok.any():
            sd = p.get("eval_std", np.zeros_like(ev))[ok]
            line, = ax.plot(t[ok], ev[ok], label=_label(run))
            ax.fill_between(t[ok], ev[ok] - sd, ev[ok] + sd, alpha=0.2, color=line.get_color())
        elif t.size:
            ax.plot(t, p["train_return_mean"], label=_label(run) + " (training return)")
    if target is not None:
        ax.axhline(target, color="k", linestyle="--", linewidth=1, label=f"threshold {target:g}")
    ax.set_xlabel("training timesteps")
    ax.set_ylabel("return (evaluation mean ± std)")
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
