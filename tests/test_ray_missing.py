"""Without Ray (an optional extra), asking for it gives a clear error with the install command,
before anything is written; importing trustopt never imports Ray."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from trustopt._validation import ValidationError
from trustopt.train import TrainConfig, train
from trustopt.workers import make_backend

HINT = re.escape('pip install -e ".[ray]"')


@pytest.fixture
def no_ray(monkeypatch):
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError


def test_ray_backend_without_ray_says_how_to_install(no_ray, tmp_path):
    from trustopt.workers_ray import RayMap, import_ray

    with pytest.raises(ValidationError, match=HINT):
        import_ray()
    with pytest.raises(ValidationError, match=HINT):
        make_backend("ray", 2)
    with pytest.raises(ValidationError, match=HINT):
        RayMap(2)
    cfg = TrainConfig(env_id="Swimmer-v5", timesteps=100, noise_table_size=1000)
    with pytest.raises(ValidationError, match=HINT):
        train(cfg, tmp_path / "run", backend="ray", progress=False)
    assert not (tmp_path / "run").exists()  # failed before creating the run folder


def test_cli_without_ray_exits_2_with_the_hint(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from trustopt.cli import main; "
            f"sys.exit(main(['train', '--env', 'Swimmer-v5', '--backend', 'ray', '--out', {str(tmp_path / 'r')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and 'pip install -e ".[ray]"' in proc.stderr and "Traceback" not in proc.stderr


def test_importing_trustopt_does_not_import_ray():
    code = ("import sys, trustopt, trustopt.workers, trustopt.workers_ray, trustopt.train, trustopt.cli; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_ray_address_only_with_the_ray_backend(tmp_path):
    from trustopt.cli import main

    assert main(["train", "--env", "Swimmer-v5", "--ray-address", "auto", "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()
