"""Learning curves from run folders (``progress.csv``): evaluation return against timesteps."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

from trustopt._io import check_writable, writing
from trustopt._validation import ValidationError

__all__ = ["read_progress", "plot_runs"]


def read_progress(run) -> dict[str, np.ndarray]:
    """The columns of ``run/progress.csv`` as float arrays (empty cells are NaN; ``status`` as str)."""
    run = os.fspath(run)
    if os.path.exists(run) and not os.path.isdir(run):
        raise ValidationError(f"run: {run} is a file, not a run folder (one holding progress.csv)")
    path = os.path.join(run, "progress.csv")
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise ValidationError(f"run: {path} does not exist (not a trustopt run folder?)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValidationError(f"run: cannot read {path} ({getattr(exc, 'strerror', None) or exc})") from None
    if not rows:
        raise ValidationError(f"run: {path} is empty")
    header, body = rows[0], rows[1:]
    cols: dict[str, np.ndarray] = {}
    for i, name in enumerate(header):
        vals = [r[i] if i < len(r) else "" for r in body]
        if name == "status":
            cols[name] = np.array(vals, dtype=object)
            continue
        try:
            cols[name] = np.array([float(v) if v != "" else math.nan for v in vals], dtype=np.float64)
        except ValueError:
            line = 2 + next(j for j, v in enumerate(vals) if v != "" and not _is_number(v))
            raise ValidationError(f"run: {path} line {line}, column {name!r}: not a number; the file was "
                                  "modified or is not a trustopt progress.csv") from None
    return cols


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _image_format(output: str) -> None:
    """``output``'s suffix must be a format Matplotlib writes (no suffix: PNG)."""
    from matplotlib.backend_bases import FigureCanvasBase

    suffix = os.path.splitext(output)[1][1:].lower()
    known = sorted(FigureCanvasBase.get_supported_filetypes())
    if suffix and suffix not in known:
        raise ValidationError(f"output: unknown image format {suffix!r} ({output}); known: {', '.join(known)}")


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
    suffix; an unknown suffix or a path that cannot be written is a ValidationError before any
    run is read). Each legend entry says which quantity its curve is; the y label names the quantity
    when all curves share it and reads "return" when they do not. ``target`` draws a horizontal
    threshold line. Returns ``output``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [os.fspath(r) for r in runs]
    if not runs:
        raise ValidationError("runs: give at least one run folder")
    out = os.fspath(output)
    _image_format(out)
    check_writable("output", out)
    curves = [(run, read_progress(run), _config(run)) for run in runs]  # every run readable before drawing
    fig, ax = plt.subplots(figsize=(7, 4.5))
    kinds = set()
    for run, p, c in curves:
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
    try:
        with writing("output", out):
            fig.savefig(out, dpi=120)
    finally:
        plt.close(fig)
    return out
