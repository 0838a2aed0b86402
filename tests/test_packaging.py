"""What every user meets first: the licence, type information, ``trustopt --version``, a README
set-up that names the venv's commands, and plots that leave Matplotlib's backend alone."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import trustopt
from trustopt.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(name):
    with open(os.path.join(REPO, name)) as f:
        return f.read()


def _pyproject():
    try:
        import tomllib  # novermin: 3.11+, falls back to tomli below
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on Python 3.10 needs tomli")
    return tomllib.loads(_read("pyproject.toml"))


def test_license_matches_pyproject_and_py_typed_ships():
    text = _read("LICENSE")
    assert text.startswith("MIT License") and "Copyright (c) 2026 the trustopt developers" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text
    proj = _pyproject()
    assert proj["project"]["license"] == "MIT" and proj["project"]["license-files"] == ["LICENSE"]
    assert os.path.isfile(os.path.join(REPO, "trustopt", "py.typed"))
    assert "py.typed" in proj["tool"]["setuptools"]["package-data"]["trustopt"]
    assert proj["project"]["version"] == trustopt.__version__
    extras = proj["project"]["optional-dependencies"]
    assert {"tensorboard", "video"} <= set(extras) and all(re.search(r">=", d) for d in extras["tensorboard"] +
                                                           extras["video"])


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out == f"trustopt {trustopt.__version__}\n"


def test_readme_setup_uses_the_venv_and_installs_from_the_clone():
    text = _read("README.md")
    for command in (".venv/bin/trustopt ", ".venv/bin/python -m proofs_check", "source .venv/bin/activate"):
        assert command in text
    assert not re.search(r'pip install ["\']?trustopt\[', text)  # not on an index: installed from the clone
    assert 'pip install -e ".[ray]"' in text
    assert re.search(r"!\[[^\]]*\]\(docs/swimmer-tres-3-seeds\.png\)", text)
    assert os.path.isfile(os.path.join(REPO, "docs", "swimmer-tres-3-seeds.png"))


def test_plot_runs_leaves_matplotlibs_backend_alone(tmp_path):
    """A notebook's backend stays: plot_runs draws on its own Figure (it used to call matplotlib.use("Agg"))."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "progress.csv").write_text("iteration,timesteps,eval_mean,eval_std,train_return_mean\n"
                                      "1,100,1.0,0.5,0.9\n2,200,2.0,0.5,1.8\n")
    code = ("import matplotlib, sys; matplotlib.use('svg'); from trustopt.train import plot_runs; "
            f"plot_runs([{str(run)!r}], {str(tmp_path / 'c.png')!r}); "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=REPO))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["svg", "False"]
    with open(tmp_path / "c.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
