"""Several seeds in one command (``trustopt train --seeds``) and their aggregate plot: IQM / mean
over seeds with a percentile-bootstrap band (below 4 seeds the mean and each seed), the seeds put
on a common grid of timesteps; ``--procs`` runs the seeds side by side (same bits, signals, failures)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import matplotlib
import numpy as np
import pytest
from scipy import stats

from trustopt._validation import ValidationError
from trustopt.cli import main
from trustopt.train import load_policy
from trustopt.train.checkpoint import load_checkpoint
from trustopt.train.plot import aggregate, common_grid, iqm

from _helpers import REPO, repo_env, trustopt_process
from test_cli_errors import SMALL, _alive, _assert_same_policy, _children

TINY = ["--env", "InvertedPendulum-v5", "--algo", "ars", "--timesteps", "1500", "--eval-every", "2",
        "--eval-episodes", "2", "--no-progress", "--set", "max_episode_steps=100", "--set", "noise_table_size=100000"]


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("seeds") / "ars")
    assert main(["train", *TINY, "--seeds", "0", "1", "2", "--out", out]) == 0
    return out


def test_seeds_write_one_run_per_seed_equal_to_single_runs(seeds_run, tmp_path, capsys):
    assert sorted(os.listdir(seeds_run)) == ["seed-0", "seed-1", "seed-2"]
    policies = {s: load_policy(os.path.join(seeds_run, f"seed-{s}"))[2] for s in range(3)}
    assert not np.array_equal(policies[0]["W"], policies[1]["W"])  # the seed reached each run
    single = str(tmp_path / "one")
    assert main(["train", *TINY, "--seed", "1", "--out", single]) == 0
    assert load_policy(single)[2]["W"].tobytes() == policies[1]["W"].tobytes()


def test_seeds_closing_line_says_what_the_seeds_reached(tmp_path, capsys):
    """The last line of ``--seeds``: the seeds' last evaluations, how many reached ``--target`` and
    when, and their restarts, each checked against the seeds' progress.csv read here with csv."""
    import csv

    out = str(tmp_path / "s")
    assert main(["train", *TINY, "--seeds", "0", "1", "2", "3", "--target", "30", "--restart-below", "40",
                 "--restart-after", "300", "--out", out]) == 0
    last, hits, restarts = [], [], {}
    for s in range(4):
        with open(os.path.join(out, f"seed-{s}", "progress.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        evals = [(int(r["timesteps"]), float(r["eval_mean"])) for r in rows if r["eval_mean"] not in ("", "nan")]
        last.append(evals[-1][1])
        hits += [t for t, e in evals if e >= 30][:1]
        n = sum(r["status"].startswith("restart") for r in rows[1:])
        if n:
            restarts[s] = n
    assert 0 < len(hits) < 4 and len(restarts) > 1  # the line has every part to say, in the plural
    line = capsys.readouterr().out.splitlines()[-1]
    lo, hi, med = min(last), max(last), float(np.median(last))
    assert line == (f"trustopt: 4 seeds in {out}: last evaluations {lo:.2f} to {hi:.2f} (median {med:.2f}); "
                    f"--target 30 reached by {len(hits)} of 4 seeds (at {min(hits):,} to {max(hits):,} timesteps); "
                    f"{sum(restarts.values())} restarts (seeds {', '.join(map(str, restarts))}); "
                    f"draw them with: trustopt plot {out} -o curves.png")


def test_seeds_closing_line_says_how_many_seeds_it_summarizes(tmp_path):
    """A seed without an evaluation is named as missing from the last evaluations, not dropped silently."""
    from types import SimpleNamespace

    from trustopt.cli import _seeds_said

    rows = {0: ["1,100,,", "2,200,50.0,1.0"], 1: ["1,120,,"], 2: ["1,90,,", "2,210,120.0,2.0"]}
    runs = []
    for seed, body in rows.items():
        os.makedirs(tmp_path / str(seed))
        (tmp_path / str(seed) / "progress.csv").write_text("iteration,timesteps,eval_mean,eval_std\n" + "\n".join(body))
        runs.append((SimpleNamespace(out=str(tmp_path / str(seed)), seed=seed), SimpleNamespace(target=100.0)))
    assert _seeds_said(runs) == (": last evaluations 50.00 to 120.00 (median 85.00) (of the 2 seeds with one); "
                                 "--target 100 reached by 1 of 3 seeds (at 210 timesteps)")


def test_eval_of_a_seeds_folder_names_its_runs(seeds_run, capsys):
    assert main(["eval", seeds_run, "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"trustopt: error: run: {seeds_run} is a folder of runs (seed-0, seed-1, seed-2): give one "
                          f"of them, e.g. {os.path.join(seeds_run, 'seed-0')}") and err.count("\n") == 1, err


def test_a_single_run_and_the_seeds_of_another_never_share_a_folder(seeds_run, tmp_path, capsys):
    """`trustopt plot` draws a folder's own run in place of the seeds inside it: neither order is taken."""
    assert main(["train", *TINY, "--seed", "0", "--out", seeds_run]) == 2
    err = capsys.readouterr().err
    assert err == f"trustopt: error: --out: {seeds_run} holds the runs of --seeds (seed-0, seed-1, seed-2); " \
                  "choose another --out\n", err
    single = str(tmp_path / "one")
    assert main(["train", *TINY, "--seed", "0", "--out", single, "--timesteps", "300"]) == 0
    capsys.readouterr()
    assert main(["train", *TINY, "--seeds", "0", "1", "--out", single]) == 2
    err = capsys.readouterr().err
    assert err == f"trustopt: error: --out: {single} holds a single run (checkpoint.pkl), and the seeds would go " \
                  "in seed-S folders inside it; choose another --out\n", err
    assert sorted(os.listdir(single)) == sorted(os.listdir(seeds_run + "/seed-0"))  # nothing written into it


def test_show_config_of_a_seeds_folder_is_its_first_seeds(seeds_run, tmp_path, capsys):
    assert main(["train", "--resume", "--out", seeds_run, "--seeds", "1", "2", "--show-config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["algo"], shown["seed"], shown["env_id"]) == ("ars", 1, "InvertedPendulum-v5")
    for flags, message in ((["--seed", "3", "--seeds", "0", "1"], "--seeds: give either --seed S or --seeds"),
                           (["--seeds", "0", "0"], "--seeds: seed 0 is given twice")):
        assert main(["train", "--env", "Swimmer-v5", *flags, "--show-config"]) == 2
        assert capsys.readouterr().err.startswith(f"trustopt: error: {message}")
    bad = tmp_path / "bad.json"  # a --set key checked against an algorithm that is not a name
    bad.write_text(json.dumps({"env_id": "Swimmer-v5", "algo": ["tres"]}))
    assert main(["train", "--config", str(bad), "--show-config", "--set", "foo=1"]) == 2
    assert capsys.readouterr().err.startswith("trustopt: error: --set: unknown hyperparameter 'foo'; known: ")


def test_resume_of_a_seeds_folder_without_seeds_says_how(seeds_run, capsys):
    assert main(["train", "--resume", "--out", seeds_run, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"out: {seeds_run} has no config.json to resume from (it holds the runs seed-0, seed-1, seed-2: resume " \
           "them with --seeds, or give one as --out)" in err, err


def test_seed_and_seeds_conflict_or_repeat_are_one_line_errors(tmp_path, capsys):
    out = str(tmp_path / "x")
    assert main(["train", *TINY, "--seed", "0", "--seeds", "1", "2", "--out", out]) == 2
    assert capsys.readouterr().err.strip() == ("trustopt: error: --seeds: give either --seed S or --seeds S1 S2 ..., "
                                               "not both")
    assert main(["train", *TINY, "--seeds", "1", "1", "--out", out]) == 2
    assert "seed 1 is given twice" in capsys.readouterr().err
    assert not os.path.exists(out)


def _svg_text(tmp_path, *args) -> str:
    """The SVG ``trustopt plot ARGS`` writes, text kept as text (the legend entries searchable)."""
    svg = str(tmp_path / "p.svg")
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        assert main(["plot", *args, "-o", svg]) == 0
    with open(svg) as f:
        return f.read()


def _copy_run(src, dst, **settings):
    shutil.copytree(src, dst)
    with open(os.path.join(dst, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump({**config, **settings}, f)


def test_plot_of_a_seeds_folder_is_one_aggregate_curve(seeds_run, tmp_path, capsys):
    text = _svg_text(tmp_path, seeds_run)
    # 3 seeds: their mean (the IQM of 3 values) and each seed thin, not a band that is their range
    assert "ars InvertedPendulum-v5 (ars): evaluation return, mean of 3 seeds, thin lines: each seed" in text
    assert "seed 0 (" not in text and "bootstrap" not in text  # one legend entry, not three
    assert all(text.count(f">seed {k}</text>") == 1 for k in range(3))  # each thin line named at its end
    assert "mean of 3 seeds, thin lines: each seed" in _svg_text(tmp_path, seeds_run, "--agg", "mean")
    both = _svg_text(tmp_path, seeds_run, os.path.join(seeds_run, "seed-0"))  # a folder of seeds next to a single run
    assert "mean of 3 seeds" in both and "seed 0 (seed-0): evaluation mean ± std" in both
    four = tmp_path / "four"  # a fourth seed: now the IQM with its bootstrap band
    shutil.copytree(seeds_run, four)
    shutil.copytree(four / "seed-2", four / "seed-3")
    with open(four / "seed-3" / "config.json") as f:
        config = json.load(f)
    with open(four / "seed-3" / "config.json", "w") as f:
        json.dump({**config, "seed": 3}, f)
    text = _svg_text(tmp_path, str(four))
    assert "ars InvertedPendulum-v5 (four): evaluation return, IQM of 4 seeds, 95% bootstrap CI" in text
    assert "mean of 4 seeds, 95% bootstrap CI" in _svg_text(tmp_path, str(four), "--agg", "mean")
    one = tmp_path / "one"
    shutil.copytree(four / "seed-0", one / "seed-0")
    assert "ars InvertedPendulum-v5 (one): evaluation return, 1 seed<" in _svg_text(tmp_path, str(one))
    png = str(tmp_path / "c.png")
    assert main(["plot", seeds_run, "-o", png]) == 0
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["plot", str(empty), "-o", png]) == 2
    assert "progress.csv" in capsys.readouterr().err


def test_plot_draws_the_runs_own_target_when_they_share_one(seeds_run, tmp_path):
    for name, target in (("a", 950.0), ("b", 950.0), ("c", 20.0)):
        _copy_run(os.path.join(seeds_run, "seed-0"), tmp_path / name, target=target)
    a, b, c = (str(tmp_path / n) for n in "abc")
    assert "threshold 950<" in _svg_text(tmp_path, a, b)
    assert "threshold" not in _svg_text(tmp_path, a, c)  # two targets: neither is the figure's
    assert "threshold 5<" in _svg_text(tmp_path, a, c, "--target", "5")
    assert "threshold" not in _svg_text(tmp_path, seeds_run)  # runs without a target


def test_plot_of_a_folder_of_runs_and_seed_folders_names_each_curve(seeds_run, tmp_path):
    # runs/ holds two single runs whose settings differ and, one level down, a folder of seeds:
    # every run is drawn, the seeds as one curve, and no two legend entries read the same
    runs = tmp_path / "runs"
    shutil.copytree(seeds_run, runs / "more" / "ars-seeds")
    for name, timesteps in (("a", 1500), ("b", 3000)):
        _copy_run(os.path.join(seeds_run, "seed-0"), runs / name, timesteps=timesteps)
    text = _svg_text(tmp_path, str(runs))
    assert "(runs/more/ars-seeds): evaluation return, mean of 3 seeds" in text
    assert "(runs; timesteps=1500): evaluation return, 1 seed" in text
    assert "(runs; timesteps=3000): evaluation return, 1 seed" in text


def test_iqm_is_scipys_trimmed_mean():
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4, 5, 8, 11):
        x = rng.standard_normal((n, 6))
        np.testing.assert_allclose(iqm(x, axis=0), stats.trim_mean(x, 0.25, axis=0), rtol=0, atol=1e-14)


def test_bootstrap_band_is_the_exact_bootstrap_quantiles():
    """Two seeds a < b: the bootstrap mean is a, (a+b)/2, b with probabilities 1/4, 1/2, 1/4, so its
    2.5% and 97.5% quantiles are a and b exactly. Three seeds: the smallest bootstrap mean (all
    draws the minimum) has probability 1/27 > 2.5%, so the band's low end is the minimum."""
    v = np.array([[1.0, -3.0], [2.0, 5.0]])
    point, lo, hi = aggregate(v, "mean")
    np.testing.assert_array_equal(point, [1.5, 1.0])
    np.testing.assert_array_equal(lo, [1.0, -3.0])
    np.testing.assert_array_equal(hi, [2.0, 5.0])
    v3 = np.array([[0.0], [4.0], [10.0]])
    point, lo, hi = aggregate(v3, "iqm")
    assert point[0] == pytest.approx(14 / 3) and lo[0] == 0.0 and hi[0] == 10.0
    same = np.ones((4, 3))  # seeds that agree: no uncertainty
    for agg in ("iqm", "mean"):
        p, lo, hi = aggregate(same, agg)
        np.testing.assert_array_equal(lo, p)
        np.testing.assert_array_equal(hi, p)
    with pytest.raises(ValidationError, match="agg"):
        aggregate(v, "median")


def test_common_grid_interpolates_and_holds_the_last_value():
    a = ([0.0, 10.0, 20.0], [0.0, 10.0, 20.0])
    b = ([5.0, 15.0], [100.0, 200.0])  # evaluated at other timesteps, and stopped earlier
    grid, values = common_grid([a, b])
    np.testing.assert_array_equal(grid, [5.0, 12.5, 20.0])  # latest first to latest last, 3 points
    np.testing.assert_array_equal(values[0], [5.0, 12.5, 20.0])
    np.testing.assert_array_equal(values[1], [100.0, 175.0, 200.0])  # 200 held after its last evaluation


def test_resume_of_seeds_continues_the_started_and_starts_the_rest(seeds_run, tmp_path, capsys):
    out = str(tmp_path / "partial")
    assert main(["train", *TINY, "--seeds", "0", "--out", out]) == 0  # as if stopped before seed 1 began
    assert main(["train", "--resume", "--seeds", "0", "1", "--out", out, "--no-progress"]) == 0
    for s in (0, 1):  # seed 1 took seed 0's settings and equals the seed-1 run of the full command
        a = load_policy(os.path.join(out, f"seed-{s}"))[2]["W"]
        assert a.tobytes() == load_policy(os.path.join(seeds_run, f"seed-{s}"))[2]["W"].tobytes()
    capsys.readouterr()
    assert main(["train", "--resume", "--seeds", "5", "6", "--out", out, "--no-progress"]) == 2
    assert "holds no run of seeds 5, 6" in capsys.readouterr().err


def test_plot_names_the_same_settings_run_twice_by_their_folders(seeds_run, tmp_path):
    # x and x2: the same settings and seed in two folders (two curves, not two seeds); t: other timesteps.
    # The entries list what differs (timesteps, not the algorithm or environment, already in each
    # entry), and where nothing in the configuration does, the runs' folders: no two read the same.
    runs = tmp_path / "runs"
    for name, timesteps in (("x", 1500), ("x2", 1500), ("t", 3000)):
        _copy_run(os.path.join(seeds_run, "seed-0"), runs / name, timesteps=timesteps)
    text = _svg_text(tmp_path, str(runs))
    assert "ars InvertedPendulum-v5 (runs; timesteps=1500; x): evaluation return, 1 seed<" in text
    assert "ars InvertedPendulum-v5 (runs; timesteps=1500; x2): evaluation return, 1 seed<" in text
    assert "ars InvertedPendulum-v5 (runs; timesteps=3000): evaluation return, 1 seed<" in text
    assert "env_id=" not in text and "algo=" not in text
    for name in ("x", "t"):  # nothing but the folders differs: the folders alone
        shutil.rmtree(runs / name)
    _copy_run(os.path.join(seeds_run, "seed-0"), runs / "y", timesteps=1500)
    text = _svg_text(tmp_path, str(runs))
    assert "(runs; x2): evaluation return, 1 seed<" in text and "(runs; y): evaluation return, 1 seed<" in text


def test_plot_lists_settings_only_between_curves_of_one_algorithm_and_environment(seeds_run, tmp_path):
    # a folder of runs of two algorithms (README: `trustopt plot runs ...` after runs of the README's
    # commands): their entries differ by the algorithm already; each used to list every setting in
    # which any two runs of the folder differed ("runs; K=None, batch_steps=None, ..., timesteps=..."),
    # a legend wider than the figure. Two runs of one algorithm still get what tells them apart.
    runs = tmp_path / "runs"
    _copy_run(os.path.join(seeds_run, "seed-0"), runs / "a", timesteps=1500)
    _copy_run(os.path.join(seeds_run, "seed-0"), runs / "b", algo="es", timesteps=3000, sigma=0.02)
    text = _svg_text(tmp_path, str(runs))
    assert "ars InvertedPendulum-v5 (runs): evaluation return, 1 seed<" in text
    assert "es InvertedPendulum-v5 (runs): evaluation return, 1 seed<" in text
    assert "timesteps=" not in text and "sigma=" not in text
    _copy_run(os.path.join(seeds_run, "seed-0"), runs / "c", algo="es", timesteps=6000, sigma=0.02)
    text = _svg_text(tmp_path, str(runs))
    assert "ars InvertedPendulum-v5 (runs): evaluation return, 1 seed<" in text
    assert "es InvertedPendulum-v5 (runs; timesteps=3000): evaluation return, 1 seed<" in text
    assert "es InvertedPendulum-v5 (runs; timesteps=6000): evaluation return, 1 seed<" in text


def test_plot_legend_is_outside_the_axes_and_inside_the_figure(seeds_run, tmp_path, monkeypatch):
    # many curves with long legend entries: the legend covers neither the axes nor their labels,
    # and nothing of it or of the labels is cut off at the figure's edges (it used to sit inside the
    # axes, wider than the figure)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from trustopt.train import plot_runs

    runs = tmp_path / "runs"
    for i in range(9):
        _copy_run(os.path.join(seeds_run, "seed-0"), runs / f"run-{i}", timesteps=1500 + i,
                  env_kwargs={"a_rather_long_environment_argument_name": "and a long value " * 2})
    saved = []
    savefig = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (saved.append(fig), savefig(fig, *a, **k))[1])
    plot_runs([str(runs)], str(tmp_path / "p.png"), target=0.0, title="a title")
    (fig,) = saved
    written = plot_runs([str(runs)], str(tmp_path / "noext"))  # no suffix: the PNG Matplotlib writes is reported
    assert written == str(tmp_path / "noext.png") and os.path.getsize(written) > 0 and len(saved) == 2
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)  # the layout as saved
    (ax,) = fig.axes
    (legend,) = fig.legends + [a.get_legend() for a in fig.axes if a.get_legend() is not None]
    assert len(legend.get_texts()) == 10
    box, frame, axes = legend.get_window_extent(renderer), fig.bbox, ax.get_window_extent(renderer)
    labels = [ax.yaxis.label.get_window_extent(renderer), ax.xaxis.label.get_window_extent(renderer)]
    for part in (box, axes, *labels):
        assert frame.x0 - 1 <= part.x0 and part.x1 <= frame.x1 + 1 and frame.y0 - 1 <= part.y0 \
            and part.y1 <= frame.y1 + 1, (part, frame)
    assert not any(box.overlaps(part) for part in (axes, *labels))
    assert axes.height > 0.6 * 4.5 * fig.dpi and axes.width > 0.8 * 7 * fig.dpi  # not squeezed by it


def test_plot_gives_each_of_more_than_ten_curves_its_own_colour(seeds_run, tmp_path, monkeypatch):
    from matplotlib.colors import to_hex
    from matplotlib.figure import Figure

    from trustopt.train import plot_runs

    runs = tmp_path / "runs"
    for i in range(12):
        _copy_run(os.path.join(seeds_run, "seed-0"), runs / f"run-{i}", timesteps=1500 + i)
    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: saved.append(fig))
    plot_runs([str(runs)], str(tmp_path / "p.png"))
    (ax,) = saved[0].axes
    assert len({to_hex(line.get_color()) for line in ax.get_lines()}) == 12


def test_plot_breaks_a_run_where_it_restarted(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from trustopt.train import TrainConfig, plot_runs, read_progress, train
    from trustopt.train.plot import restart_timesteps

    run = tmp_path / "run"
    cfg = TrainConfig(env_id="InvertedPendulum-v5", seed=3, timesteps=2500, max_episode_steps=50, n_directions=4,
                      eval_every=2, eval_episodes=1, noise_table_size=100_000, restart_below=1e9, restart_after=1)
    assert train(cfg, run, progress=False).restarts >= 1
    p = read_progress(run)
    begun = restart_timesteps(p)
    assert len(begun) >= 1 and set(begun) <= set(p["timesteps"][~np.isnan(p["eval_mean"])])  # after an evaluation
    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: saved.append(fig))
    plot_runs([str(run)], str(tmp_path / "p.png"))
    (ax,) = saved[0].axes
    vertical = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert vertical == list(begun) and any(t.endswith(": restart") for t in ax.get_legend_handles_labels()[1])
    (curve,) = [line for line in ax.get_lines() if line.get_linestyle() == "-"]  # broken once per restart
    assert np.isnan(curve.get_ydata()).sum() == len(begun) and list(curve.get_xdata()[np.isnan(curve.get_ydata())]) \
        == list(begun)


# ------------------------------------------------------------------------------ --procs


def test_procs_runs_the_seeds_side_by_side_with_the_same_bits(seeds_run, tmp_path, capfd):
    out = str(tmp_path / "side")
    assert main(["train", *TINY, "--seeds", "0", "1", "2", "--procs", "2", "--out", out]) == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[0].startswith("trustopt: 3 seeds, 2 at a time in their own processes"), lines
    assert sorted(line.split(" seed ")[1][0] for line in lines if ": stopped (timesteps)" in line) == ["0", "1", "2"]
    for s in range(3):  # each seed is the run it is in sequence, bit for bit
        side, seq = load_policy(os.path.join(out, f"seed-{s}"))[2], load_policy(os.path.join(seeds_run, f"seed-{s}"))[2]
        assert side["W"].tobytes() == seq["W"].tobytes()


@pytest.mark.parametrize("args, message", [
    (["--seed", "0", "--procs", "2"], "--procs: runs seeds side by side; give --seeds S1 S2 ... (or --procs 1)"),
    (["--seeds", "0", "1", "--procs", "2", "--backend", "ray"],
     "--procs: not with --backend ray (each run would start its own Ray instance); run the seeds one after the "
     "other, each with --workers actors"),
    (["--seeds", "0", "1", "--procs", "100000", "--workers", "2"], "--procs: 100000 runs x 2 workers = 200000 local "
     "processes, more than the"),
])
def test_procs_that_do_not_fit_are_one_line_errors(tmp_path, capsys, args, message):
    out = str(tmp_path / "x")
    assert main(["train", *TINY, *args, "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"trustopt: error: {message}") and err.count("\n") == 1, err
    assert not os.path.exists(out)


def test_procs_a_failing_seed_is_named_and_no_other_starts(tmp_path, capfd):
    out = tmp_path / "x"
    out.mkdir()
    (out / "seed-0").write_text("")  # a file where seed 0's folder goes: that seed fails as it starts
    assert main(["train", *TINY, "--seeds", "0", "1", "2", "--procs", "1", "--out", str(out)]) == 2  # sequential
    # as --procs says it: which seed failed, and which never started
    assert capfd.readouterr().err == (f"trustopt: seed 0: error: --out: {out}/seed-0 exists and is not a folder; "
                                      "choose another --out; not started: seeds 1, 2\n")
    assert main(["train", *TINY, "--seeds", "0", "1", "2", "--procs", "2", "--out", str(out)]) == 2
    err = capfd.readouterr().err.splitlines()
    assert err[0] == f"trustopt: seed 0: error: --out: {out}/seed-0 exists and is not a folder; choose another --out"
    assert err[-1].startswith("trustopt: error: seed 0 failed (exit code 2)"), err
    assert len(err) == 2
    started = sorted(p.name for p in out.iterdir())
    # seed 1 started beside seed 0; seed 2 starts only if seed 1 ended before seed 0's failure was seen
    assert started[:2] == ["seed-0", "seed-1"]
    assert ("seed-2" in started) == ("not started" not in err[-1])


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_procs_ctrl_c_or_sigterm_stops_every_seed_with_its_checkpoint(tmp_path, sig):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM to the command
    alone: every running seed stops with a valid checkpoint, no process outlives the command, and
    --resume finishes each seed as an uninterrupted run would."""
    out = str(tmp_path / "runs")
    assert SMALL[:2] == ["--seed", "0"]
    args = ["--env", "Swimmer-v5", *SMALL[2:], "--set", "noise_table_size=100000"]
    with trustopt_process("train", "--seeds", "0", "1", "--procs", "2", "--workers", "2", "--out", out,
                          "--timesteps", "1000000", *args) as proc:
        progs, deadline = [os.path.join(out, f"seed-{s}", "progress.csv") for s in (0, 1)], time.monotonic() + 120

        def rows(path):
            if not os.path.exists(path):
                return 0
            with open(path) as f:
                return sum(1 for _ in f) - 1

        while time.monotonic() < deadline and proc.poll() is None and min(map(rows, progs)) < 3:
            time.sleep(0.02)
        assert proc.poll() is None and min(map(rows, progs)) >= 3, "the runs ended or never started"
        seeds = _children(proc.pid)
        everyone = seeds | {w for p in seeds for w in _children(p)}
        assert len(everyone) >= 2 + 2 * 2  # two seeds, each with two workers
        if sig == "SIGINT":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
    how, code = ("interrupted", 130) if sig == "SIGINT" else ("terminated (SIGTERM)", 143)
    assert proc.returncode == code, err
    assert err.splitlines() == [f"trustopt: {how}; the last checkpoint is intact (rerun with --resume)"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in everyone):
        time.sleep(0.05)
    assert not [p for p in everyone if _alive(p)], "a seed or a worker outlived the command"
    done = [load_checkpoint(os.path.join(out, f"seed-{s}", "checkpoint.pkl"))["state"].timesteps for s in (0, 1)]
    budget = str(max(done) + 800)  # at least two more iterations for each seed
    r = subprocess.run([sys.executable, "-m", "trustopt", "train", "--out", out, "--seeds", "0", "1", "--procs", "2",
                        "--resume", "--timesteps", budget], capture_output=True, text=True, env=repo_env(), cwd=REPO,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.count("stopped (timesteps)") == 2, r.stderr
    for s in (0, 1):
        ref = str(tmp_path / f"ref-{s}")
        assert main(["train", "--out", ref, "--seed", str(s), "--timesteps", budget, *args]) == 0
        _assert_same_policy(os.path.join(out, f"seed-{s}"), ref)


@pytest.mark.slow
def test_procs_a_seed_killed_from_outside_is_reported_and_the_others_finish(tmp_path):
    """A seed process killed by a signal (the OOM killer's SIGKILL): the command names that seed,
    the seed beside it runs to its end, and the exit code is 1."""
    def seed_processes(pid):  # the spawned seeds (not multiprocessing's resource tracker)
        found = []
        for p in _children(pid):
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
            if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
                found.append(p)
        return found

    out = str(tmp_path / "runs")
    with trustopt_process("train", "--seeds", "0", "1", "--procs", "2", "--out", out, "--timesteps", "40000",
                          "--env", "Swimmer-v5", *SMALL[2:], "--set", "noise_table_size=100000") as proc:
        progs, deadline = [os.path.join(out, f"seed-{s}", "progress.csv") for s in (0, 1)], time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not all(map(os.path.exists, progs)):
            time.sleep(0.02)
        seeds = seed_processes(proc.pid)
        assert proc.poll() is None and len(seeds) == 2, seeds
        os.kill(seeds[0], signal.SIGKILL)
        stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0] in {f"trustopt: error: seed {s} failed (killed by SIGKILL)" for s in (0, 1)}
    other = 1 - int(lines[0].split("seed ")[1][0])
    assert f"seed {other}: stopped (timesteps)" in stdout, stdout
