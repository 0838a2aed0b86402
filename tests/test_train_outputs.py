"""What a run writes and takes besides its policy: policy.npz at every evaluation and
best_policy.npz at the best one, environment keyword arguments and modules, TensorBoard scalars,
videos, library versions (resume warns on a change), and the callback convention of ``train``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from trustopt._validation import ValidationError
from trustopt.cli import main
from trustopt.train import TrainConfig, evaluate_policy, load_policy, read_progress, train
from trustopt.train.run_folder import STREAM_POLICY_EVAL, VERSIONED, library_versions, reset_seeds

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(env_id="Swimmer-v5", timesteps=4000, max_episode_steps=100, n_directions=4, eval_every=1,
            eval_episodes=2, noise_table_size=100_000)
CLI_TINY = ["--timesteps", "2000", "--eval-every", "2", "--eval-episodes", "2", "--no-progress",
            "--set", "max_episode_steps=100", "--set", "noise_table_size=100000", "--set", "n_directions=8"]


def _npz(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_policy_at_every_evaluation_and_best_policy_at_the_best(tmp_path):
    out = tmp_path / "run"
    seen = []

    def check(intermediate_result):  # called after each saved iteration
        p = _npz(out / "policy.npz")
        seen.append((int(p["iteration"]), float(p["eval_mean"]), intermediate_result.iteration))
        np.testing.assert_array_equal(p["W"].ravel(), intermediate_result.x)

    res = train(TrainConfig(algo="tres", seed=3, **TINY), out, progress=False, callback=check)
    assert [s[0] for s in seen] == [s[2] for s in seen] == list(range(1, res.iterations + 1))
    ev = read_progress(out)["eval_mean"]
    assert [s[1] for s in seen] == list(ev)
    best = _npz(out / "best_policy.npz")
    k = int(np.argmax(ev))  # the first of equal maxima
    assert best["eval_mean"] == ev[k] and int(best["iteration"]) == k + 1
    assert len(set(ev)) > 1 and k + 1 != res.iterations or best["eval_mean"] == ev[-1]
    policy, env_id, _ = load_policy(out / "best_policy.npz")
    assert env_id == "Swimmer-v5" and policy.W.shape == (2, 8)


def test_train_callback_convention_legacy_x_and_stop(tmp_path):
    xs = []

    def legacy(xk):
        xs.append(np.array(xk))
        if len(xs) == 2:
            raise StopIteration

    res = train(TrainConfig(algo="tres", seed=0, **TINY), tmp_path / "a", progress=False, callback=legacy)
    assert res.stop_reason == "callback" and res.iterations == 2
    np.testing.assert_array_equal(xs[-1], res.W.ravel())
    # the stopped run resumes to the run that was never stopped
    cont = train(TrainConfig(algo="tres", seed=0, **TINY), tmp_path / "a", progress=False, resume=True)
    ref = train(TrainConfig(algo="tres", seed=0, **TINY), tmp_path / "b", progress=False,
                callback=lambda xk: False)
    assert cont.iterations == ref.iterations and cont.W.tobytes() == ref.W.tobytes()
    with pytest.raises(ValidationError, match="callback"):
        train(TrainConfig(algo="tres", seed=0, **TINY), tmp_path / "c", progress=False, callback="no")
    assert not os.path.exists(tmp_path / "c")


def test_env_kwargs_reach_training_and_evaluation(tmp_path, capsys):
    import gymnasium

    out = str(tmp_path / "run")
    assert main(["train", "--env", "Swimmer-v5", "--algo", "tres", "--out", out, *CLI_TINY,
                 "--env-kwargs", "ctrl_cost_weight=0", "forward_reward_weight=2.5"]) == 0
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["env_kwargs"] == {"ctrl_cost_weight": 0, "forward_reward_weight": 2.5}
    policy, env_id, data = load_policy(out)
    assert json.loads(str(data["env_kwargs"])) == {"ctrl_cost_weight": 0, "forward_reward_weight": 2.5}
    G = evaluate_policy(out, episodes=2, seed=7, max_episode_steps=100)

    env = gymnasium.make(env_id, max_episode_steps=100, ctrl_cost_weight=0, forward_reward_weight=2.5)
    by_hand = []
    for s in reset_seeds(7, STREAM_POLICY_EVAL, 0, 2):  # evaluate_policy's reset seeds, played through Gymnasium and predict
        obs, _ = env.reset(seed=s)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(policy.predict(obs))
            total += r
            done = term or trunc
        by_hand.append(total)
    np.testing.assert_allclose(G, by_hand, rtol=1e-9, atol=1e-9)
    # a misspelt key is named, before any folder exists
    bad = str(tmp_path / "bad")
    assert main(["train", "--env", "Swimmer-v5", "--out", bad, *CLI_TINY, "--env-kwargs", "ctrl_cost_weigth=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trustopt: error: --env-kwargs: Swimmer-v5 does not take 'ctrl_cost_weigth' (did you mean "
                          "'ctrl_cost_weight'?)") and "\n" not in err
    assert not os.path.exists(bad)
    assert main(["train", "--env", "Swimmer-v5", "--out", bad, *CLI_TINY, "--env-kwargs", "novalue"]) == 2
    assert "--env-kwargs: expected KEY=VALUE" in capsys.readouterr().err


def test_eval_uses_the_runs_episode_limit(tmp_path, capsys):
    """A run trained with ``--set max_episode_steps=100`` evaluated its policy on 100-step episodes;
    ``trustopt eval`` of its folder must run the same episodes, not the environment's 1000."""
    out = str(tmp_path / "run")
    assert main(["train", "--env", "Swimmer-v5", "--algo", "tres", "--out", out, *CLI_TINY]) == 0
    _, _, data = load_policy(out)
    assert int(data["max_episode_steps"]) == 100
    G = evaluate_policy(out, episodes=2, seed=7)
    np.testing.assert_array_equal(G, evaluate_policy(out, episodes=2, seed=7, max_episode_steps=100))
    assert not np.array_equal(G, evaluate_policy(out, episodes=2, seed=7, max_episode_steps=1000))
    capsys.readouterr()
    assert main(["eval", out, "--episodes", "2", "--seed", "7"]) == 0
    assert f"return {G.mean():.2f} +- {G.std():.2f} over 2 episodes" in capsys.readouterr().out


MODULE = '''
import gymnasium
gymnasium.register(id="TrustoptTestPendulum-v0",
                   entry_point="gymnasium.envs.mujoco.inverted_pendulum_v5:InvertedPendulumEnv",
                   max_episode_steps=60)
'''


def test_env_module_registers_a_custom_environment_for_train_workers_and_eval(tmp_path, capsys):
    (tmp_path / "my_test_envs.py").write_text(MODULE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, str(tmp_path)]))
    out = str(tmp_path / "run")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "trustopt", *args], capture_output=True, text=True, env=env,
                              cwd=str(tmp_path), timeout=120)

    r = cli("train", "--env", "TrustoptTestPendulum-v0", "--env-module", "my_test_envs", "--algo", "ars",
            "--out", out, "--workers", "2", *CLI_TINY)
    assert r.returncode == 0, r.stderr
    r = cli("eval", out, "--episodes", "2")  # the module recorded in policy.npz is imported again
    assert r.returncode == 0 and "TrustoptTestPendulum-v0: return" in r.stdout, r.stderr

    assert main(["train", "--env", "TrustoptTestPendulum-v1", "--out", str(tmp_path / "x"), *CLI_TINY]) == 2
    assert "unknown environment 'TrustoptTestPendulum-v1'" in capsys.readouterr().err  # unregistered without it
    assert main(["train", "--env", "Swimmer-v5", "--env-module", "no_such_module_xyz", "--out", str(tmp_path / "x"),
                 *CLI_TINY]) == 2
    assert capsys.readouterr().err == (
        "trustopt: error: --env-module: cannot import 'no_such_module_xyz' (ModuleNotFoundError: No module named "
        "'no_such_module_xyz'); Python looks for it in the working directory and on PYTHONPATH=/its/folder\n")


def test_env_module_in_the_working_directory_under_the_console_script(tmp_path):
    """README: ``trustopt train --env-module my_envs`` with ``my_envs.py`` in the working directory.
    The console script's sys.path[0] is its bin folder, not the working directory (``python -m``
    has it): the module was 'not found'. Emulated by removing the working directory from sys.path."""
    (tmp_path / "my_cwd_envs.py").write_text(MODULE)
    script = "import sys; sys.path.remove(''); from trustopt.cli import main; sys.exit(main(sys.argv[1:]))"
    out = str(tmp_path / "run")

    def cli(*args):
        return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=REPO), cwd=str(tmp_path), timeout=120)

    r = cli("train", "--env", "TrustoptTestPendulum-v0", "--env-module", "my_cwd_envs", "--algo", "ars",
            "--out", out, "--workers", "2", *CLI_TINY)
    assert r.returncode == 0, r.stderr
    r = cli("eval", out, "--episodes", "2", "--workers", "2")
    assert r.returncode == 0 and "TrustoptTestPendulum-v0: return" in r.stdout, r.stderr
    # seeds side by side: each spawned seed finds the module too (spawn passes on sys.path)
    r = cli("train", "--env", "TrustoptTestPendulum-v0", "--env-module", "my_cwd_envs", "--algo", "ars",
            "--out", str(tmp_path / "seeds"), "--seeds", "0", "1", "--procs", "2", *CLI_TINY)
    assert r.returncode == 0 and r.stdout.count("stopped (") == 2, r.stderr


def test_tensorboard_scalars_are_the_progress_rows(tmp_path):
    pytest.importorskip("tensorboard", reason="the optional tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = str(tmp_path / "run")
    assert main(["train", "--env", "Swimmer-v5", "--algo", "tres", "--out", out, "--tensorboard", *CLI_TINY]) == 0
    acc = EventAccumulator(os.path.join(out, "tb"))
    acc.Reload()
    p = read_progress(out)
    ok = ~np.isnan(p["eval_mean"])
    ev = acc.Scalars("trustopt/eval_mean")
    assert [e.step for e in ev] == list(p["timesteps"][ok].astype(int))
    np.testing.assert_allclose([e.value for e in ev], p["eval_mean"][ok], rtol=1e-6)  # stored as float32
    assert len(acc.Scalars("trustopt/train_return_mean")) == len(p["iteration"])
    assert b"\r" not in open(os.path.join(out, "progress.csv"), "rb").read()  # "ok\r" in awk's last column
    # resumed with a larger budget and without --tensorboard: it goes on logging into OUT/tb
    more = [a if a != CLI_TINY[CLI_TINY.index("--timesteps") + 1] else str(2 * int(a)) for a in CLI_TINY]
    assert main(["train", "--out", out, "--resume", *more]) == 0
    acc = EventAccumulator(os.path.join(out, "tb"))
    acc.Reload()
    assert len(acc.Scalars("trustopt/train_return_mean")) == len(read_progress(out)["iteration"]) > len(p["iteration"])
    # a run without it, resumed with --tensorboard: its curves start at step 0, not at the resume
    plain = str(tmp_path / "plain")
    assert main(["train", "--env", "Swimmer-v5", "--algo", "tres", "--out", plain, *CLI_TINY]) == 0
    assert main(["train", "--out", plain, "--resume", "--tensorboard", *more]) == 0
    acc = EventAccumulator(os.path.join(plain, "tb"))
    acc.Reload()
    p = read_progress(plain)
    rows = acc.Scalars("trustopt/train_return_mean")
    assert [e.step for e in rows] == list(p["timesteps"].astype(int))
    np.testing.assert_allclose([e.value for e in rows], p["train_return_mean"], rtol=1e-6)


def _hide(monkeypatch, package: str) -> None:
    """``import package`` (and its submodules, also those already imported) raises ImportError."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")] + [package]:
        monkeypatch.setitem(sys.modules, name, None)


def test_tensorboard_missing_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    _hide(monkeypatch, "tensorboard")
    out = str(tmp_path / "run")
    assert main(["train", "--env", "Swimmer-v5", "--out", out, "--tensorboard", *CLI_TINY]) == 2
    err = capsys.readouterr().err
    assert err.startswith('trustopt: error: --tensorboard: the tensorboard package is not installed; install the '
                          'tensorboard extra: pip install -e ".[tensorboard]"') and err.count("\n") == 1
    assert not os.path.exists(out)


def _can_render() -> bool:
    code = ("import os; os.environ.setdefault('MUJOCO_GL', 'egl'); import gymnasium as g; "
            "e = g.make('InvertedPendulum-v5', render_mode='rgb_array'); e.reset(seed=0); assert e.render().any()")
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture(scope="module")
def ars_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("video") / "run")
    assert main(["train", "--env", "InvertedPendulum-v5", "--algo", "ars", "--out", out, *CLI_TINY]) == 0
    return out


def test_eval_video_writes_an_mp4_per_episode(ars_run, tmp_path, capsys):
    pytest.importorskip("moviepy", reason="the optional video extra (moviepy) is not installed")
    if not _can_render():
        pytest.skip("MuJoCo cannot render offscreen here (MUJOCO_GL=egl failed); the error path is tested below")
    vids = str(tmp_path / "videos")
    r = subprocess.run([sys.executable, "-m", "trustopt", "eval", ars_run, "--episodes", "2", "--video", vids,
                        "--video-episodes", "2"], capture_output=True, text=True, timeout=120, cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=REPO))
    assert r.returncode == 0, r.stderr
    files = sorted(os.listdir(vids))
    assert len(files) == 2 and all(f.endswith(".mp4") and os.path.getsize(os.path.join(vids, f)) > 1000 for f in files)
    assert "2 videos in" in r.stdout and f"recording 2 episodes into {vids} (offscreen rendering;" in r.stdout
    assert "Overwriting" not in r.stderr  # the folder is new: Gymnasium's warning would be false
    r = subprocess.run([sys.executable, "-m", "trustopt", "eval", ars_run, "--episodes", "1", "--video", vids],
                       capture_output=True, text=True, timeout=120, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))
    # RecordVideo would overwrite some of them and leave the others: one folder, two policies' episodes
    assert r.stdout == "" and r.returncode == 2 and r.stderr == (f"trustopt: error: --video: {vids} already holds videos "
                                              "(policy-episode-0.mp4, policy-episode-1.mp4); choose another folder "
                                              "or remove them\n"), r.stderr


def test_eval_video_without_moviepy_or_renderer_is_one_line(ars_run, tmp_path, capsys, monkeypatch):
    with monkeypatch.context() as m:
        _hide(m, "moviepy")
        assert main(["eval", ars_run, "--episodes", "1", "--video", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trustopt: error: --video: recording needs moviepy, which is not installed; install the "
                          'video extra: pip install -e ".[video]"') and err.count("\n") == 1
    pytest.importorskip("moviepy", reason="the renderer error needs moviepy to get that far")

    def video_with(gl):
        return subprocess.run([sys.executable, "-m", "trustopt", "eval", ars_run, "--episodes", "1", "--video",
                               str(tmp_path / "v")], capture_output=True, text=True, timeout=120, cwd=REPO,
                              env=dict(os.environ, PYTHONPATH=REPO, MUJOCO_GL=gl))

    r = video_with("no-such-backend")  # MuJoCo's own import refuses it
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "MUJOCO_GL (now 'no-such-backend')" in r.stderr, r.stderr
    import ctypes.util

    if ctypes.util.find_library("OSMesa"):
        pytest.skip("OSMesa is installed here, so MUJOCO_GL=osmesa renders: no missing renderer to report")
    r = video_with("osmesa")  # MuJoCo loads the renderer named by MUJOCO_GL on import; its library is missing
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "libosmesa6" in r.stderr, r.stderr


def test_a_recording_that_fails_leaves_no_empty_folder_behind(ars_run, tmp_path, capsys, monkeypatch):
    pytest.importorskip("moviepy", reason="recording needs moviepy to get that far")
    from trustopt.envs import EnvSpec

    def no_renderer(self, video_dir, *, name_prefix):
        raise RuntimeError("no renderer here")

    monkeypatch.setattr(EnvSpec, "recording_env", no_renderer)
    (tmp_path / "kept").mkdir()
    for video_dir in (tmp_path / "new" / "deep" / "v", tmp_path / "kept" / "v"):
        assert main(["eval", ars_run, "--episodes", "1", "--video", str(video_dir)]) == 2
        assert "--video: cannot build InvertedPendulum-v5 with rendering (RuntimeError: no renderer here)" in \
            capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["kept"] and os.listdir(tmp_path / "kept") == []  # what existed stays


def test_versions_recorded_and_resume_warns_on_a_change(tmp_path, capsys):
    out = str(tmp_path / "run")
    args = ["train", "--env", "Swimmer-v5", "--algo", "tres", "--out", out, *CLI_TINY]
    assert main(args) == 0
    path = os.path.join(out, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    assert set(cfg["versions"]) == set(VERSIONED) and cfg["versions"]["numpy"] == np.__version__
    assert cfg["versions"] == library_versions()
    capsys.readouterr()
    assert main(args[:-len(CLI_TINY)] + ["--resume", "--no-progress"]) == 0
    assert "warning" not in capsys.readouterr().err  # same versions: nothing to say
    cfg["versions"]["numpy"] = "0.0.1"
    with open(path, "w") as f:
        json.dump(cfg, f)
    assert main(["train", "--out", out, "--resume", "--timesteps", "3000", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"trustopt: warning: resuming {out} under other versions than it "
                                                   f"started with (numpy 0.0.1 -> {np.__version__})")
    with open(path) as f:
        assert json.load(f)["versions"]["numpy"] == np.__version__  # the run now records what it ran under
