"""The MuJoCo training example runs end to end with a tiny budget (run folder + learning curve)."""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from trustopt.train import read_progress

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "examples", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_swimmer_example_tiny_budget(tmp_path, capsys):
    ex = _load("train_swimmer")
    out = str(tmp_path / "demo")
    rc = ex.main(["--out", out, "--timesteps", "2000", "--max-episode-steps", "100", "--target", "1e9",
                  "--workers", "2", "--eval-every", "1", "--eval-episodes", "2"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "budget of 2000 timesteps used" in text and "learning curve" in text
    with open(out + ".png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    p = read_progress(out)
    assert p["timesteps"][-1] >= 2000 and not np.isnan(p["eval_mean"]).any()
    # an unreachable target within the budget is reported as a failure (exit code 1)
    rc = ex.main(["--out", out, "--timesteps", "100", "--max-episode-steps", "50", "--target", "1e6",
                  "--workers", "1", "--eval-every", "1", "--eval-episodes", "1"])
    assert rc == 1
