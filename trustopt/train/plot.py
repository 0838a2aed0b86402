"""Learning curves from run folders (``progress.csv``): evaluation return against timesteps.

A run folder (one holding ``progress.csv``) is drawn alone: its evaluation mean +- the standard
deviation over that evaluation's episodes. A folder of run folders, at any depth (``trustopt
train --seeds`` writes ``OUT/seed-0``, ``OUT/seed-1``, ...), is drawn as one curve per configuration
(the runs whose settings differ only by seed), named by the subfolder that holds its runs and,
where two would share a name, by the settings they differ in (and where those are the same, e.g.
one configuration run twice into two subfolders, by their subfolders): the IQM (or
mean) over seeds with a percentile-bootstrap confidence band over seeds (:func:`aggregate`,
rliable's practice: Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice").
With fewer than :data:`BAND_MIN_SEEDS` = 4 seeds that band says nothing the seeds do not: the IQM
of ``n <= 3`` values is their mean, and a bootstrap mean made of the lowest seed alone has
probability ``n^-n >= 1/27 > 2.5%``, so the 95% band is the seeds' range by construction. Those
curves are drawn as the mean with each seed beside it as a thin line instead.

Common grid: the seeds' evaluations fall at different timesteps (iterations use whole episodes),
so each seed's curve is linearly interpolated (``np.interp``) at ``G`` evenly spaced timesteps from
the latest first evaluation to the latest last evaluation, ``G`` the largest number of
evaluations of a seed. Past its last evaluation a seed keeps its last value (a run that stopped
early, e.g. at ``--target``, keeps its final policy); no seed is extrapolated backwards.
"""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

from trustopt._io import check_writable, image_path, writing
from trustopt._validation import ValidationError

__all__ = ["read_progress", "plot_runs", "aggregate", "iqm", "common_grid", "BAND_MIN_SEEDS"]

#: The fewest seeds a curve gets a bootstrap band for (module docstring: below, it is their range).
BAND_MIN_SEEDS = 4


def read_progress(run) -> dict[str, np.ndarray]:
    """The columns of ``run/progress.csv`` as float arrays (empty cells are NaN; ``status`` as str)."""
    run = os.fspath(run)
    if not os.path.exists(run):
        raise ValidationError(f"run: {run} does not exist")
    if not os.path.isdir(run):
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
    missing = [name for name in ("iteration", "timesteps") if name not in header]
    if missing:
        raise ValidationError(f"run: {path} has no {' or '.join(map(repr, missing))} column; the file was modified "
                              "or is not a trustopt progress.csv")
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


def _plottable(run: str) -> dict[str, np.ndarray]:
    """:func:`read_progress` of a run that has at least one row to draw."""
    p = read_progress(run)
    if p["timesteps"].size == 0:
        raise ValidationError(f"run: {os.path.join(run, 'progress.csv')} has no rows: the run has not completed an "
                              "iteration")
    return p


def _config(run: str) -> dict:
    try:
        with open(os.path.join(run, "config.json")) as f:
            c = json.load(f)
        return c if isinstance(c, dict) else {}
    except (OSError, ValueError):
        return {}


def _head(c: dict) -> str:
    """The algorithm and environment that begin a legend entry (``tres Swimmer-v5``)."""
    algo = f"{c.get('algo')} (vine)" if c.get("vine") else c.get("algo")
    return f"{algo} {c.get('env_id')}"


def _label(run: str, c: dict) -> str:
    name = os.path.basename(os.path.normpath(run))
    if not c:
        return name
    return f"{_head(c)} seed {c.get('seed')} ({name})"


def _train_quantity(c: dict) -> str:
    """What ``train_return_mean`` is: the mean return of the training batch (ES: perturbed
    policies; PG: the stochastic policy), survival bonus removed where the run removed it."""
    from trustopt.envs._registry import SURVIVAL_BONUS_FAMILIES, family

    removed = c.get("remove_survival_bonus", True) and family(str(c.get("env_id", ""))) in SURVIVAL_BONUS_FAMILIES
    return "training batch mean" + (", survival bonus removed" if removed else "")


def iqm(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean along ``axis``: sort, drop ``floor(n / 4)`` values at each end, average the
    rest (``scipy.stats.trim_mean(x, 0.25)``, rliable's IQM; for ``n < 4`` the plain mean)."""
    x = np.sort(np.asarray(x, dtype=np.float64), axis=axis)
    n = x.shape[axis]
    k = n // 4
    return np.take(x, np.arange(k, n - k), axis=axis).mean(axis=axis)


def aggregate(values, agg: str = "iqm", *, n_boot: int = 2000, level: float = 0.95,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(point, low, high)``, each ``(G,)``, for ``values (n_seeds, G)``.

    ``point`` = ``agg`` over seeds (``"iqm"``: :func:`iqm`; ``"mean"``). The band is the
    percentile bootstrap over seeds: ``n_boot`` resamples of ``n_seeds`` seeds drawn with
    replacement (the same resample at every grid point), the statistic of each, and its
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles. ``seed`` fixes the resamples, so a plot
    is reproducible. One seed gives a band of zero width."""
    if agg not in ("iqm", "mean"):
        raise ValidationError(f"agg: expected 'iqm' or 'mean', got {agg!r}")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 1:
        raise ValidationError(f"values: expected shape (n_seeds, G) with n_seeds >= 1, got {v.shape}")
    stat = iqm if agg == "iqm" else (lambda x, axis: np.mean(x, axis=axis))
    point = stat(v, axis=0)
    idx = np.random.default_rng(seed).integers(0, v.shape[0], size=(n_boot, v.shape[0]))
    boot = stat(v[idx], axis=1)  # (n_boot, G)
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return point, lo, hi


def common_grid(curves) -> tuple[np.ndarray, np.ndarray]:
    """``(grid (G,), values (n, G))`` for ``curves = [(t_i, y_i), ...]`` (each ``t_i`` increasing):
    the interpolation described in the module docstring."""
    curves = [(np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)) for t, y in curves]
    if not curves or any(t.size == 0 for t, _ in curves):
        raise ValidationError("curves: every seed needs at least one point")
    lo = max(t[0] for t, _ in curves)
    hi = max(t[-1] for t, _ in curves)
    n = max(t.size for t, _ in curves)
    grid = np.linspace(lo, hi, n) if hi > lo else np.array([lo])
    return grid, np.stack([np.interp(grid, t, y) for t, y in curves])


def _runs_of(path: str) -> list[str]:
    """The run folders under ``path``, at any depth (folders holding progress.csv; the inside of a
    run folder is not searched), sorted by seed then path."""
    if not os.path.isdir(path):
        return []
    runs = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        if root != path and "progress.csv" in files:
            runs.append(root)
            dirs[:] = []
    return sorted(runs, key=lambda r: (_config(r).get("seed", math.inf), r))


def _settings(c: dict) -> dict:
    """A run's settings apart from its seed and where or with what it ran."""
    return {k: v for k, v in c.items() if k not in ("seed", "runtime", "versions")}


def _group_key(c: dict) -> str:
    """Runs that differ only by seed (and where or with what they ran) belong to one curve."""
    return json.dumps(_settings(c), sort_keys=True)


def _curve(p: dict) -> tuple[np.ndarray, np.ndarray, str]:
    t = p.get("timesteps", np.array([]))
    ev = p.get("eval_mean", np.full(t.shape, math.nan))
    ok = ~np.isnan(ev)
    if ok.any():
        return t[ok], ev[ok], "evaluation"
    return t, p.get("train_return_mean", np.full(t.shape, math.nan)), "training"


def _read_items(runs: list[str]) -> list[tuple]:
    """Every run read before drawing: ``("run", path, progress, config)`` for a run folder,
    ``("seeds", name, [(path, progress, config), ...])`` per group of runs that differ only by seed
    (:func:`_group_names` names them)."""
    items = []
    for path in runs:
        seeds = [] if os.path.isfile(os.path.join(path, "progress.csv")) else _runs_of(path)
        if not seeds:
            items.append(("run", path, _plottable(path), _config(path)))
            continue
        groups: dict[str, list] = {}
        for r in seeds:
            c = _config(r)
            groups.setdefault(_group_key(c), []).append((r, _plottable(r), c))
        members = [part for m in groups.values() for part in _split_repeated_seeds(m)]
        items.extend(("seeds", name, m) for name, m in zip(_group_names(path, members), members))
    return items


def _configs(items: list) -> list[dict]:
    """The config of every run among :func:`_read_items`'s items."""
    configs = []
    for item in items:
        configs.extend([item[3]] if item[0] == "run" else [c for _, _, c in item[2]])
    return configs


def _split_repeated_seeds(members: list) -> list[list]:
    """A group whose runs repeat a seed (the same settings run twice, in different subfolders) is
    not several seeds: split it by subfolder, and where a seed still repeats, into single runs."""
    def repeats(ms):
        seeds = [c.get("seed") for _, _, c in ms]
        return len(set(map(json.dumps, seeds))) < len(seeds)

    if not repeats(members):
        return [members]
    by_parent: dict[str, list] = {}
    for m in members:
        by_parent.setdefault(os.path.dirname(m[0]), []).append(m)
    return [part for ms in by_parent.values() for part in ([[m] for m in ms] if repeats(ms) else [ms])]


#: Settings every legend entry of a folder's curve names in its head (``tres Swimmer-v5 (runs)``).
_HEAD_KEYS = ("algo", "vine", "env_id")


def _group_names(folder: str, groups: list[list]) -> list[str]:
    """A legend name per group of runs found under ``folder``: the folder's name, joined with the
    subfolder that holds all of the group's runs (``runs/swimmer-seeds``); groups of one algorithm and
    environment that would share a name get the settings in which their configurations differ (``runs;
    timesteps=1000``; the algorithm and environment begin every entry, so groups that differ in them
    read apart without settings), and groups whose settings are the same
    (the same configuration run twice into different subfolders) get their runs' subfolders
    (``runs; timesteps=1000; x2``), so that no two entries read the same."""
    base = os.path.basename(os.path.normpath(folder))
    names = []
    for members in groups:
        rel = [os.path.relpath(r, folder) for r, _, _ in members]
        parent = os.path.commonpath([os.path.dirname(x) for x in rel])  # "" when directly in folder
        names.append(os.path.join(base, parent) if parent else base)
    # the legend entry begins with the algorithm and environment: only groups alike in both and in
    # the name would read the same (a tres and a trpo curve in one folder need no settings)
    entries = [(name, _head(members[0][2])) for name, members in zip(names, groups)]
    for name, head in set(entries):
        same = [i for i, e in enumerate(entries) if e == (name, head)]
        if len(same) < 2:
            continue
        configs = {i: _settings(groups[i][0][2]) for i in same}
        keys = sorted(k for k in set().union(*configs.values())
                      if k not in _HEAD_KEYS and len({json.dumps(c.get(k)) for c in configs.values()}) > 1)
        extra = {i: ", ".join(f"{k}={configs[i].get(k)}" for k in keys) for i in same}
        shown = dict(extra)  # what the legend entries read after the algorithm and environment
        for i in same:
            if sum(shown[j] == shown[i] for j in same) > 1:  # nothing in the configuration tells them apart
                folders = ", ".join(os.path.relpath(r, folder) for r, _, _ in groups[i])
                extra[i] = f"{extra[i]}; {folders}" if extra[i] else folders
            if extra[i]:
                names[i] = f"{name}; {extra[i]}"
    return names


def _marker(t) -> dict:
    """A curve of one point is a marker (a line through one point draws nothing)."""
    return {"marker": "o", "markersize": 4} if np.size(t) == 1 else {}


def _draw_run(ax, run: str, p: dict, c: dict) -> str:
    """One run's curve: evaluation mean +- std, or the training return (dashed), broken where each
    of its restarts began, with a dotted vertical line there; returns its kind."""
    t, y, kind = _curve(p)
    starts = restart_timesteps(p)
    cut = np.searchsorted(t, starts, side="right")  # a NaN there: no line across a restart
    line = None
    if kind == "evaluation":
        ok = ~np.isnan(p["eval_mean"])
        sd = p.get("eval_std", np.zeros(ok.shape))[ok]
        t, y, sd = np.insert(t, cut, starts), np.insert(y, cut, np.nan), np.insert(sd, cut, np.nan)
        line, = ax.plot(t, y, marker="o", markersize=3, label=_label(run, c) + ": evaluation mean ± std")
        ax.fill_between(t, y - sd, y + sd, alpha=0.2, color=line.get_color())
    elif t.size:
        t, y = np.insert(t, cut, starts), np.insert(y, cut, np.nan)
        line, = ax.plot(t, y, linestyle="--", label=f"{_label(run, c)}: {_train_quantity(c)}", **_marker(t))
    for i, t0 in enumerate(starts):
        ax.axvline(t0, color=None if line is None else line.get_color(), linestyle=":", linewidth=1,
                   label=f"{_label(run, c)}: restart" if i == 0 else None)
    return kind


def restart_rows(p: dict) -> np.ndarray:
    """The rows of ``progress.csv`` (columns ``p``) that are a new start's first iteration: their
    ``status`` says ``restart`` (``TrainConfig.restart_below``)."""
    rows = np.flatnonzero([str(s).startswith("restart") for s in p.get("status", ())])
    return rows[rows > 0]  # (a run's first row begins its first start, never a restart)


def restart_timesteps(p: dict) -> np.ndarray:
    """The training timesteps at which a run's restarts began: where the row before each
    :func:`restart_rows` row ended."""
    return p["timesteps"][restart_rows(p) - 1]


def _draw_seeds(ax, name: str, members: list, agg: str) -> str:
    """One curve over seeds: ``agg`` on a common grid with a 95% bootstrap band (below
    :data:`BAND_MIN_SEEDS` seeds: the mean, each seed a thin line beside it); returns its kind."""
    curves = [_curve(p) for _, p, _ in members]
    kind = "evaluation" if all(k == "evaluation" for _, _, k in curves) else "training"
    if kind == "training":  # one quantity per curve: the training return when a seed has no evaluation
        curves = [(p["timesteps"], p["train_return_mean"], "training") for _, p, _ in members]
    grid, values = common_grid([(t, y) for t, y, _ in curves])
    n = len(members)
    banded = n >= BAND_MIN_SEEDS
    point, lo, hi = aggregate(values, agg) if banded else (values.mean(axis=0), None, None)
    c = members[0][2]
    what = "evaluation return" if kind == "evaluation" else _train_quantity(c)
    stat = "IQM" if agg == "iqm" and banded else "mean"  # the IQM of n <= 3 values is their mean
    head = f"{_head(c)} ({name}): {what}, "
    if n == 1:
        label = head + "1 seed"
    else:
        label = head + f"{stat} of {n} seeds, " + ("95% bootstrap CI" if banded else "thin lines: each seed")
    style = "-" if kind == "evaluation" else "--"
    line, = ax.plot(grid, point, linestyle=style, label=label, **_marker(grid))
    if banded:
        ax.fill_between(grid, lo, hi, alpha=0.25, color=line.get_color())
    elif n > 1:  # each thin line named at its end
        for y, (_, _, cs) in zip(values, members):
            ax.plot(grid, y, linestyle=style, linewidth=0.8, alpha=0.45, color=line.get_color())
            ax.annotate(f"seed {cs.get('seed')}", (grid[-1], y[-1]), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7, color=line.get_color())
    return kind


def plot_runs(runs, output, *, target: float | None = None, title: str | None = None, agg: str = "iqm") -> str:
    """Draw learning curves against training timesteps and write ``output`` (PNG/PDF/SVG by suffix;
    an unknown suffix or a path that cannot be written is a ValidationError before any run is read).

    Each path in ``runs`` is a run folder (drawn alone: evaluation mean +- std over its evaluation
    episodes, or for a run without evaluations the mean training return, dashed; a dotted vertical
    line where each of its restarts began) or a folder of run
    folders (``trustopt train --seeds``): the runs that differ only by seed are one curve, ``agg``
    (``"iqm"`` or ``"mean"``) over seeds on a common grid with a 95% bootstrap band over seeds (below
    :data:`BAND_MIN_SEEDS` seeds: their mean, and each seed as a thin line), the number of seeds in
    its legend entry (module docstring). The legend is below the axes (the figure grows to
    hold it, in height and, for long entries, in width). Each legend entry says which quantity
    its curve is; the y label names the quantity when all curves share it; the seeds' thin lines
    are named at their ends. ``target`` draws a horizontal threshold line (None: the runs'
    ``--target``, when every run has the same one). Draws on its own ``matplotlib.figure.Figure``
    (Matplotlib's global backend, e.g. a notebook's, is left alone). Returns the path written: ``output``, with ``.png``
    appended when it has no suffix (as Matplotlib does)."""
    if agg not in ("iqm", "mean"):
        raise ValidationError(f"agg: expected 'iqm' or 'mean', got {agg!r}")
    runs = [os.fspath(r) for r in ([runs] if isinstance(runs, (str, os.PathLike)) else runs)]
    if not runs:
        raise ValidationError("runs: give at least one run folder")
    firsts: dict = {}  # a folder given twice (under any spelling) is one curve, where it first came
    for r in runs:
        firsts.setdefault(os.path.realpath(r), r)
    runs = list(firsts.values())
    out = image_path("output", output)  # without a suffix, the .png Matplotlib adds: the file that is written
    check_writable("output", out)
    fig = _figure(_read_items(runs), target=target, title=title, agg=agg)
    with writing("output", out):
        fig.savefig(out, dpi=120)
    return out


#: Colours of Matplotlib's default cycle ("tab10"); more curves than this get one hue each.
_DEFAULT_COLOURS = 10
#: The figure size in inches before the legend is added below the axes (see :func:`_figure`).
_FIGSIZE = (7.0, 4.5)


def _figure(items: list, *, target: float | None, title: str | None, agg: str):
    """The figure of :func:`plot_runs` for the runs :func:`_read_items` read: one axes, and the
    legend below it, outside the axes, the figure grown so that neither is squeezed or cut off."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    fig = Figure(figsize=_FIGSIZE, layout="constrained")
    FigureCanvasAgg(fig)  # a renderer to measure the legend with (this figure's only: no global backend)
    ax = fig.subplots()
    if len(items) > _DEFAULT_COLOURS:  # Matplotlib's cycle repeats after ten: one hue per curve instead
        from matplotlib import colormaps

        ax.set_prop_cycle(color=colormaps["turbo"](np.linspace(0.05, 0.95, len(items))))
    kinds = {_draw_run(ax, *item[1:]) if item[0] == "run" else _draw_seeds(ax, *item[1:], agg) for item in items}
    if target is None:  # the runs' own --target, when they share one
        targets = {c.get("target") for c in _configs(items)}
        target = targets.pop() if len(targets) == 1 else None
    if target is not None:
        ax.axhline(target, color="k", linestyle="--", linewidth=1, label=f"threshold {target:g}")
    ax.set_xlabel("training timesteps")
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 400k, 1.5M
    if kinds == {"evaluation"}:
        single = all(item[0] == "run" for item in items)
        ax.set_ylabel("evaluation return (mean ± std)" if single else "evaluation return")
    elif kinds == {"training"}:
        ax.set_ylabel("training return (batch mean)")
    else:
        ax.set_ylabel("return: evaluation (solid), training batch mean (dashed)")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        legend = fig.legend(handles, labels, loc="outside lower center", fontsize=8)
        box = legend.get_window_extent(fig.canvas.get_renderer())
        width, height = box.width / fig.dpi, box.height / fig.dpi
        fig.set_size_inches(max(_FIGSIZE[0], width + 0.2), _FIGSIZE[1] + height + 0.1)
    return fig
