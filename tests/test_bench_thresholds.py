"""benchmarks/bench_thresholds.py: the statistics and bookkeeping behind the README's MuJoCo tables.

The figures in the README come from this script's ``--json``, ``--load`` and ``--summarize``; a
wrong median, a run counted twice or a run folder read differently from the run that wrote it
would change them silently. Checked against hand computations and against itself (a run's result
and the same run read back from its folder).
"""

import json
import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import bench_thresholds as bt  # noqa: E402


def _run(seed, hits_at, final, env_id="Swimmer-v5", label="m", timesteps_used=10**6, curve=None):
    """A result as :func:`bt.result_of_run` writes it; ``hits_at``: threshold value -> timesteps or None."""
    hits = {str(th.value): None if hits_at.get(th.value) is None else
            {"timesteps": hits_at[th.value], "episodes": hits_at[th.value] // 1000}
            for th in bt.THRESHOLDS[env_id]}
    return {"env_id": env_id, "algo": "tres", "label": label, "seed": seed, "hits": hits, "budget": 10**6,
            "eval_steps": 50_000, "timesteps_used": timesteps_used, "final_eval": final, "best_eval": final,
            "curve": curve or {"timesteps": [], "eval": []}, "wall_s": 1.0, "run": "", "walk": None}


def test_iqm_is_the_mean_of_the_middle_half():
    assert bt.iqm(np.array([1.0, 2, 3, 4, 5, 6, 7, 100])) == pytest.approx(np.mean([3, 4, 5, 6]))
    assert bt.iqm(np.array([5.0, 1, 3])) == pytest.approx(3.0)  # n // 4 = 0: nothing trimmed
    assert bt.iqm(np.array([1.0, 2, 3, 4, 5, math.inf])) == pytest.approx(3.5)  # an unreached run is trimmed


def test_bootstrap_point_estimates_intervals_and_unreached_runs():
    rng = np.random.default_rng(0)
    v = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0]
    out = bt.bootstrap(v, rng, n_boot=2000)
    assert out["median"] == np.median(v)
    assert out["median_ci"][0] <= out["median"] <= out["median_ci"][1]
    assert out["iqm_ci"][0] <= out["iqm"] <= out["iqm_ci"][1]
    assert set(out["median_ci"]) <= set(v)  # order statistics, not interpolations
    # more than half unreached: the median is infinite, and so is its upper bound
    out = bt.bootstrap([1.0, math.inf, math.inf], np.random.default_rng(1), n_boot=500)
    assert math.isinf(out["median"]) and math.isinf(out["median_ci"][1])


def test_the_default_column_holds_the_runs_of_todays_default_whatever_set_made_them():
    """A run is shown as ``tres (default)`` when the --set its label names resolves, on its task, to
    the hyperparameters of no --set: sigma = 0.03 is the default on HalfCheetah (17 entries) but
    not on Swimmer (8: 0.044); a --label and other algorithms keep their labels; the raw label
    keeps the cell's bootstrap resamples."""
    runs = [_run(0, {}, 1.0, env_id="HalfCheetah-v5", label="tres-sigma=0.03"),
            _run(0, {}, 1.0, label="tres-sigma=0.03"), _run(0, {}, 1.0, label="tres-sigma=0.044"),
            _run(1, {}, 1.0, label="tres-sigma=0.044-lr=2"), _run(0, {}, 1.0, label="tres-N8"),
            {**_run(0, {}, 1.0, label="ars"), "algo": "ars"}, _run(0, {}, 1.0, label="mine"),
            _run(0, {}, 1.0, label="tres-sigma=0.044-max_episode_steps=500")]
    shown = bt.shown_as_default(runs)
    assert [r["label"] for r in shown] == [bt.DEFAULT_TRES, "tres-sigma=0.03", bt.DEFAULT_TRES,
                                           "tres-sigma=0.044-lr=2", "tres-N8", "ars", "mine",
                                           "tres-sigma=0.044-max_episode_steps=500"]
    # ES alike (es_sigma: 0.029 on Swimmer, OpenAI's 0.02 on HalfCheetah); a TRES and an ES run of one seed
    es = [{**_run(0, {}, 1.0, label=label, env_id=env), "algo": "es"} for label, env in
          [("es-sigma=0.02", "HalfCheetah-v5"), ("es-sigma=0.02", "Swimmer-v5"), ("es-sigma=0.029", "Swimmer-v5"),
           ("es", "Hopper-v5"), ("es-sigma=0.029-lr=0.02", "Swimmer-v5")]]
    assert [r["label"] for r in bt.shown_as_default([runs[2], *es])] == [
        bt.DEFAULT_TRES, "es (default)", "es-sigma=0.02", "es (default)", "es (default)", "es-sigma=0.029-lr=0.02"]
    with pytest.raises(SystemExit, match="Swimmer-v5 seed 0: the default's run twice, as tres-sigma=0.044 and tres"):
        bt.shown_as_default([runs[2], _run(0, {}, 1.0, label="tres")])
    assert shown[0]["raw_label"] == "tres-sigma=0.03" and "raw_label" not in shown[1]
    by_raw = bt.summarize([runs[2], _run(1, {128: 2e5}, 1.0, label="tres-sigma=0.044")])
    by_default = bt.summarize(bt.shown_as_default([runs[2], _run(1, {128: 2e5}, 1.0, label="tres-sigma=0.044")]))
    assert [r["timesteps"] for r in by_raw] == [r["timesteps"] for r in by_default]


def test_summarize_counts_reached_runs_and_treats_the_others_as_infinite():
    runs = [_run(0, {128: 100_000, 325: 400_000}, 350.0), _run(1, {128: 300_000}, 200.0),
            _run(2, {}, 50.0), _run(0, {128: 500_000}, 150.0, label="other")]
    rows = {(r["label"], r["threshold"]): r for r in bt.summarize(runs)}
    r = rows[("m", 128)]
    assert (r["reached"], r["runs"]) == (2, 3)
    assert r["timesteps"]["median"] == 300_000  # median of 1e5, 3e5, inf
    assert r["episodes"]["median"] == 300
    assert r["final_eval"]["median"] == 200.0
    assert r["paper"] == 2.4e5  # the TRES paper's Swimmer figure for tres
    assert rows[("m", 325)]["reached"] == 1 and math.isinf(rows[("m", 325)]["timesteps"]["median"])
    assert rows[("other", 128)]["runs"] == 1
    # a cell's resamples do not depend on what else is summarized with it
    alone = {(r["label"], r["threshold"]): r for r in bt.summarize(runs[:3])}
    assert alone[("m", 128)]["timesteps"] == r["timesteps"]


def test_curve_on_grid_holds_a_finished_run_and_ends_a_budgeted_one():
    curve = {"timesteps": [100, 200, 300], "eval": [10.0, 20.0, 400.0]}
    grid = np.array([50, 100, 250, 300, 1000])
    done = _run(0, {128: 300, 325: 300}, 400.0, timesteps_used=300, curve=curve)
    np.testing.assert_array_equal(bt.curve_on_grid(done, grid), [np.nan, 10, 20, 400, 400])
    budgeted = _run(0, {128: 300}, 400.0, timesteps_used=300, curve=curve)  # 325 not reached
    np.testing.assert_array_equal(bt.curve_on_grid(budgeted, grid), [np.nan, 10, 20, 400, np.nan])


def test_plot_grid_shows_the_final_evaluation_of_a_run_that_stopped_at_its_budget():
    """A run of 300,000 timesteps beside one of 320,000: 200 even steps to 320,000 miss 300,000,
    where the first run's last (and best) evaluation is; the grid includes every run's end."""
    short = _run(0, {}, 204.0, timesteps_used=300_000,
                 curve={"timesteps": [250_000, 300_000], "eval": [62.0, 204.0]})
    long = _run(1, {}, 309.0, timesteps_used=320_000,
                curve={"timesteps": [256_000, 320_000], "eval": [290.0, 309.0]})
    grid = bt.plot_grid([short, long])
    assert 300_000 in grid and grid[-1] == 320_000 and np.all(np.diff(grid) > 0)
    y = bt.curve_on_grid(short, grid)
    assert y[grid == 300_000][0] == 204.0 and np.isnan(y[grid > 300_000]).all()


def test_a_setting_an_algorithm_rejects_stops_before_any_run(tmp_path):
    """--set lr=0.5 with trpo (which has no lr): one line naming it, no run folder, no worker traceback."""
    with pytest.raises(SystemExit, match="trpo on Hopper-v5: lr: 'trpo' does not use it"):
        bt.main(["--envs", "Hopper-v5", "--algos", "tres", "trpo", "--seeds", "0", "--set", "lr=0.5", "--budget", "2000",
                 "--procs", "2", "--runs-dir", str(tmp_path / "runs")])
    assert not (tmp_path / "runs").exists()


def _write(path, runs):
    with open(path, "w") as f:
        json.dump({"runs": runs}, f)
    return str(path)


def test_load_refuses_a_run_in_two_files_a_summary_file_and_an_empty_pattern(tmp_path, capsys):
    a = _write(tmp_path / "a.json", [_run(0, {}, 1.0), _run(1, {}, 1.0)])
    b = _write(tmp_path / "b.json", [_run(1, {}, 2.0)])
    c = _write(tmp_path / "c.json", [_run(1, {}, 2.0, label="n")])
    assert len(bt.load([a, str(tmp_path / "a*.json")])) == 2  # a file matched twice is read once
    assert len(bt.load([a, c])) == 3
    with pytest.raises(SystemExit, match="seed 1 is in both .*a.json and .*b.json"):
        bt.load([a, b])
    with open(tmp_path / "summary.json", "w") as f:
        json.dump({"summary": []}, f)
    with pytest.raises(SystemExit, match="summary.json is not a result"):
        bt.load([str(tmp_path / "summary.json")])
    # a glob that also matches a summary (the docstring's results/thresholds_*.json) skips it
    (tmp_path / "g").mkdir()
    _write(tmp_path / "g" / "thresholds_a.json", [_run(0, {}, 1.0), _run(1, {}, 1.0)])
    with open(tmp_path / "g" / "thresholds_summary.json", "w") as f:
        json.dump({"code_version": "x", "args": {"load": ["thresholds_a.json"]}, "summary": []}, f)
    assert len(bt.load([str(tmp_path / "g" / "thresholds_*.json")])) == 2
    assert "skipped" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no file matches"):
        bt.load([str(tmp_path / "nothing*.json")])


def test_a_run_its_folder_and_its_json_give_the_same_figures(tmp_path, capsys):
    """One short TRES run on Swimmer end to end: the result the run returns, the same run read back
    from its folder (``--summarize``) and from the ``--json`` file (``--load``) agree, and
    ``--plot`` draws."""
    out = tmp_path / "r.json"
    assert bt.main(["--envs", "Swimmer-v5", "--algos", "tres", "--seeds", "0", "--budget", "40000",
                    "--eval-steps", "20000", "--eval-episodes", "2", "--runs-dir", str(tmp_path / "runs"),
                    "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    (run,) = data["runs"]
    assert run["label"] == "tres" and run["timesteps_used"] >= 40000
    assert len(run["curve"]["eval"]) >= 2 and run["final_eval"] == run["curve"]["eval"][-1]
    assert run["walk"]["iterations"] >= 1 and run["walk"]["norm"] > 0
    again = bt.result_of_run(run["run"])
    assert {k: again[k] for k in ("hits", "curve", "final_eval", "timesteps_used", "walk")} == \
        {k: run[k] for k in ("hits", "curve", "final_eval", "timesteps_used", "walk")}
    summary = tmp_path / "s.json"
    assert bt.main(["--load", str(out), "--json", str(summary), "--plot", str(tmp_path / "c.png")]) == 0
    assert json.loads(summary.read_text())["summary"] == data["summary"]
    assert json.loads(summary.read_text())["args"]["load"] == [str(out)]
    assert "envs" not in json.loads(summary.read_text())["args"]  # nothing was trained: no training options
    assert (tmp_path / "c.png").stat().st_size > 0
    assert bt.main(["--summarize", run["run"]]) == 0
    assert "| Swimmer-v5 (128, TRES paper Table 1) | tres (default) | " in capsys.readouterr().out
    with pytest.raises(SystemExit, match="not a run folder"):
        bt.main(["--summarize", str(tmp_path)])


def test_a_restarted_run_counts_its_restarts_and_walks_from_its_last_start(tmp_path):
    """A run whose budget ends at the first step of a new start: its mean has moved by that one
    step from zero, so the path's norm, root sum of squares and sum agree (the steps of the
    earlier start are not the saved mean's)."""
    from trustopt.train import TrainConfig, read_progress, train

    cfg = TrainConfig(env_id="InvertedPendulum-v5", seed=3, timesteps=2500, max_episode_steps=50, n_directions=4,
                      eval_every=2, eval_episodes=1, noise_table_size=100_000, restart_below=1e9, restart_after=1)
    train(cfg, tmp_path / "full", progress=False)
    p = read_progress(tmp_path / "full")
    status = list(p["status"])
    first_restart = next(i for i, s in enumerate(status) if s.startswith("restart"))
    cut = TrainConfig(**{**cfg.to_dict(), "timesteps": int(p["timesteps"][first_restart - 1]) + 1})
    train(cut, tmp_path / "cut", progress=False)
    result = bt.result_of_run(str(tmp_path / "cut"))
    assert result["restarts"] == 1 and result["walk"]["iterations"] == first_restart + 1
    walk = result["walk"]
    assert walk["norm"] == pytest.approx(walk["rss"], rel=1e-12)
    assert walk["norm"] == pytest.approx(walk["sum"], rel=1e-12)
