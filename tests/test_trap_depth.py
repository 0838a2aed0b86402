"""benchmarks/trap_depth.py: how deep a Walker2d run fell into falling at once, read from
``progress.csv``. The counts in benchmarks/results/thresholds_tres/fall_at_once/README.md (and
docs/mujoco-tres-experiments.md after it) rest on these readings, checked here on hand-made files
whose answers are known."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import trap_depth as td  # noqa: E402

HEADER = "iteration,timesteps,episodes,eval_mean,train_return_mean,step_norm"


def write_run(folder, rows, label=None):
    folder.mkdir(parents=True)
    (folder / "progress.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    if label is not None:
        (folder / "bench_label.txt").write_text(label + "\n")
    return str(folder)


def test_a_run_that_enters_reaches_the_floor_and_stays(tmp_path):
    # mean episode lengths per iteration: 40, 30, 15 (enters at iteration 2), 10, 10, 10
    run = write_run(tmp_path / "fallen-seed3", [
        "1,400,10,,-20,0.25", "2,700,20,,-15,0.25", "3,850,30,,-8,0.5",
        "4,950,40,,-7,0.25", "5,1050,50,,-7,0.25", "6,1150,60,3.5,-7,0.25"])
    r = td.trap_depth(run, short=20, window=3)
    assert r["enter"] == 2 and r["dist"] == 0.5  # the two steps taken before iteration 2's batch
    assert r["step"] == 0.25 and r["iterations"] == 6
    assert r["floor"] == 10.0 and r["end_length"] == 10.0 and r["end_return"] == -7.0
    assert r["final"] == 3.5
    assert td.label_and_seed(run) == ("fallen", 3)


def test_a_run_that_never_enters(tmp_path):
    run = write_run(tmp_path / "x-seed0", ["1,500,10,,-20,0.1", "2,1100,20,250,-10,0.1"], label="tres-lr=0.2")
    r = td.trap_depth(run, short=20, window=10)
    assert r["enter"] is None and r["dist"] is None
    assert r["floor"] == 55.0 and r["final"] == 250.0
    assert td.label_and_seed(run) == ("tres-lr=0.2", 0)


def test_main_counts_per_label_and_writes_json(tmp_path, capsys):
    a = write_run(tmp_path / "a-seed0", ["1,100,10,,-7,0.2", "2,200,20,1,-7,0.2"], label="L")
    b = write_run(tmp_path / "a-seed1", ["1,500,10,,-20,0.2", "2,1000,20,300,-5,0.2"], label="L")
    out = tmp_path / "depth.json"
    td.main([a, b, "--json", str(out)])
    text = capsys.readouterr().out
    assert "2 runs: entered 1, reached the floor 1, fallen at the end 1" in text
    saved = json.loads(out.read_text())
    assert [r["seed"] for r in saved["runs"]["L"]] == [0, 1]
