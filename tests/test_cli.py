"""Command line: smoke runs with tiny budgets (1 and 2 workers), eval and plot, SIGKILL + --resume
equals an uninterrupted run bit for bit, and clean exit-2 errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from trustopt.cli import main
from trustopt.train import load_env, load_policy, read_progress

from _helpers import REPO, repo_env

TINY = ["--timesteps", "2000", "--seed", "0", "--eval-every", "2", "--eval-episodes", "2", "--no-progress",
        "--set", "max_episode_steps=100", "noise_table_size=100000"]


def _run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "trustopt", *args], capture_output=True, text=True, timeout=timeout,
                          env=repo_env(), cwd=REPO)


def _arrays(run):
    with np.load(os.path.join(run, "policy.npz")) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("workers,env_id,algo", [(1, "Swimmer-v5", "tres"), (2, "InvertedPendulum-v5", "ars")])
def test_train_eval_plot_smoke(tmp_path, capsys, monkeypatch, workers, env_id, algo):
    out = str(tmp_path / "run")
    rc = main(["train", "--env", env_id, "--algo", algo, "--workers", str(workers), "--out", out, *TINY,
               "--set", "n_directions=8"])
    assert rc == 0
    assert sorted(os.listdir(out)) == ["best_policy.npz", "checkpoint.pkl", "config.json", "policy.npz",
                                       "progress.csv"]
    with open(os.path.join(out, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["env_id"] == env_id and cfg["algo"] == algo and cfg["runtime"]["workers"] == workers
    assert cfg["sigma"] is not None and cfg["n_directions"] is not None  # resolved defaults are recorded
    p = read_progress(out)
    for col in ("iteration", "timesteps", "episodes", "wall_s", "eval_mean", "eval_std"):
        assert col in p
    assert p["timesteps"][-1] >= 2000 and np.all(np.diff(p["timesteps"]) > 0)
    assert "stopped (timesteps)" in capsys.readouterr().out
    assert main(["eval", out, "--episodes", "3", "--json", str(tmp_path / "e.json")]) == 0
    text = capsys.readouterr().out
    assert env_id in text and "over 3 episodes" in text
    with open(tmp_path / "e.json") as f:
        evaluated = json.load(f)
    assert len(evaluated["returns"]) == len(evaluated["reset_seeds"]) == 3
    policy, _, _ = load_policy(out)  # the reset seeds replay the episodes in a loop of one's own
    env = load_env(out)
    obs, _ = env.reset(seed=evaluated["reset_seeds"][2])
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy.predict(obs))
        total, done = total + reward, terminated or truncated
    assert total == pytest.approx(evaluated["returns"][2], rel=1e-9, abs=1e-9)
    monkeypatch.chdir(tmp_path)  # --json -: the JSON alone on stdout (for a pipe), the summary on stderr
    assert main(["eval", out, "--episodes", "3", "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == evaluated and "over 3 episodes" in captured.err and not os.path.exists("-")
    png = str(tmp_path / "curves.png")
    assert main(["plot", out, out, "-o", png, "--target", "10"]) == 0
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    args = ["--env", "Swimmer-v5", "--algo", "tres", "--timesteps", "12000", "--seed", "2", "--eval-every", "3",
            "--eval-episodes", "2", "--no-progress", "--set", "max_episode_steps=50", "--set", "n_directions=4",
            "--set", "noise_table_size=100000"]  # 30 iterations of 8 rollouts x 50 steps
    killed = str(tmp_path / "killed")
    proc = subprocess.Popen([sys.executable, "-m", "trustopt", "train", "--workers", "2", "--out", killed, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=repo_env(), cwd=REPO,
                            start_new_session=True)
    prog = os.path.join(killed, "progress.csv")
    deadline = time.monotonic() + 90
    rows = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(prog):
            with open(prog) as f:
                rows = sum(1 for _ in f) - 1
            if rows >= 3:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; raise --timesteps"
    os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its workers, mid-run
    proc.wait()
    with np.load(os.path.join(killed, "policy.npz")) as z:  # written at every evaluation (every 3rd iteration)
        assert int(z["iteration"]) >= 3 and int(z["iteration"]) % 3 == 0
    r = _run_cli("train", "--workers", "1", "--out", killed, "--resume", *args)
    assert r.returncode == 0, r.stderr
    ref = str(tmp_path / "ref")
    assert main(["train", "--workers", "1", "--out", ref, *args]) == 0
    a, b = _arrays(killed), _arrays(ref)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k
    pk, pr = read_progress(killed), read_progress(ref)
    assert len(pk["iteration"]) == len(pr["iteration"]) == 30
    for col in pr:
        if col not in ("wall_s", "status"):
            np.testing.assert_array_equal(pk[col], pr[col])


def test_eval_steps_flag(tmp_path, capsys):
    out = str(tmp_path / "run")
    i = TINY.index("--eval-every")
    flags = TINY[:i] + TINY[i + 2:]
    assert main(["train", "--env", "Swimmer-v5", "--out", out, "--eval-steps", "1000", *flags]) == 0
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["eval_steps"] == 1000
    p = read_progress(out)  # 16 pairs of 100 steps per iteration: an evaluation after each
    assert p["timesteps"].tolist() == [3200] and not np.isnan(p["eval_mean"]).any()
    # --eval-every on resume switches the run back to a grain of iterations; both at once is an error
    assert main(["train", "--out", out, "--resume", "--timesteps", "16000", "--eval-every", "2", "--no-progress"]) == 0
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["eval_steps"] is None
    # iterations 2 and 4 of the grain, and 5, the last of the budget
    assert np.isnan(read_progress(out)["eval_mean"]).tolist() == [False, False, True, False, False]
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["train", "--env", "Swimmer-v5", "--out", str(tmp_path / "b"), "--eval-every", "1", "--eval-steps", "9"])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_show_config_prints_the_resolved_settings_of_the_algorithm_and_runs_nothing(tmp_path, capsys):
    assert main(["train", "--env", "Ant-v5", "--show-config", "--seeds", "3", "4", "--set", "K=2"]) == 0
    shown = json.loads(capsys.readouterr().out)
    # TRES on Ant: sigma and lr of its observation size; no other algorithm's keys
    assert (shown["algo"], shown["seed"], shown["K"], shown["sigma"], shown["lr"]) == ("tres", 3, 2, 0.012, 2.5)
    assert "epsilon" not in shown and "batch_steps" not in shown and "vine" not in shown
    assert main(["train", "--env", "InvertedPendulum-v5", "--algo", "ppo", "--show-config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["epsilon"] == 0.2 and "noise_table_size" not in shown and "sigma" not in shown
    path = tmp_path / "ppo.json"  # what it prints is a --config file
    path.write_text(json.dumps({**shown, "timesteps": 600, "max_episode_steps": 50, "batch_steps": 300}))
    out = str(tmp_path / "run")
    assert main(["train", "--config", str(path), "--out", out, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["train", "--out", out, "--resume", "--show-config", "--timesteps", "900"]) == 0
    assert json.loads(capsys.readouterr().out) == {**shown, "timesteps": 900, "max_episode_steps": 50,
                                                   "batch_steps": 300}
    assert read_progress(out)["timesteps"][-1] < 900  # shown, not trained


def test_resume_alone_uses_the_runs_config(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--env", "InvertedPendulum-v5", "--algo", "ars", "--out", out, *TINY]) == 0
    capsys.readouterr()
    assert main(["train", "--out", out, "--resume", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "stopped (timesteps)" in text
    assert text.endswith(f"trustopt: {out} had stopped there: nothing to resume (a larger --timesteps "
                         "continues it)\n"), text
    assert main(["train", "--out", out, "--resume", "--no-progress", "--target=-1e9", "--eval-every", "1",
                 "--timesteps", "2400"]) == 0  # an evaluation on the grain reaches it: a target stop
    capsys.readouterr()
    assert main(["train", "--out", out, "--resume", "--no-progress", "--timesteps", "9000"]) == 0
    text = capsys.readouterr().out
    assert "stopped (target)" in text and text.endswith("nothing to resume (a higher --target continues it)\n"), text


def test_the_summary_says_which_iteration_its_last_evaluation_scored(tmp_path, capsys):
    """The last iteration of a run's budget is evaluated; a run extended without evaluations
    (--eval-every 0) reports its last evaluation with the iteration it scored."""
    out = str(tmp_path / "run")
    assert main(["train", "--env", "InvertedPendulum-v5", "--algo", "ars", "--out", out, *TINY]) == 0
    line = capsys.readouterr().out
    assert "last evaluation" in line and "(of iteration" not in line
    first = int(read_progress(out)["iteration"][-1])
    assert main(["train", "--out", out, "--resume", "--timesteps", "2400", "--eval-every", "0", "--no-progress"]) == 0
    line = capsys.readouterr().out
    assert f"(of iteration {first}; `trustopt eval {out}` scores the saved one)" in line, line
    assert "nothing to resume" not in line


def test_resume_starts_from_the_runs_config_and_names_a_flag_that_would_change_it(tmp_path, capsys):
    """--resume with some of the original flags (or all of them) continues the run; a flag that
    contradicts the saved settings is named, with the saved value, before anything runs."""
    out = str(tmp_path / "run")
    first = ["train", "--env", "InvertedPendulum-v5", "--algo", "ars", "--out", out, *TINY]  # seed 0
    assert main(first) == 0
    capsys.readouterr()
    assert main(["train", "--out", out, "--resume", "--env", "InvertedPendulum-v5", "--seed", "0",
                 "--timesteps", "2400", "--no-progress"]) == 0  # a subset of the flags, and a larger budget
    assert "stopped (timesteps)" in capsys.readouterr().out
    assert main([*first, "--resume", "--timesteps", "2400"]) == 0  # the whole original command again
    capsys.readouterr()
    for flags, name in ((["--algo", "tres"], "algo='ars', not algo='tres'"),
                        (["--set", "sigma=0.5"], "sigma="),
                        (["--env", "Swimmer-v5"], "env_id='InvertedPendulum-v5'")):
        assert main(["train", "--out", out, "--resume", "--no-progress", *flags]) == 2
        err = capsys.readouterr().err
        assert name in err and "only timesteps" in err and "Traceback" not in err, err
    assert main(["train", "--out", out, "--resume", "--no-progress", "--set", "sigmaa=1"]) == 2
    assert "--set: unknown hyperparameter 'sigmaa' (did you mean 'sigma'?)" in capsys.readouterr().err


def _usage_error(args, capsys, match):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_bad_flags_exit_2_with_a_message(tmp_path, capsys):
    out = str(tmp_path / "x")
    _usage_error(["train", "--env", "Swimmer-v5", "--out", out, "--workers", "0"], capsys, "--workers")
    _usage_error(["train", "--env", "Swimmer-v5", "--out", out, "--timesteps", "lots"], capsys, "--timesteps")
    _usage_error(["train", "--env", "Swimmer-v5", "--out", out, "--frobnicate"], capsys, "unrecognized arguments")
    _usage_error(["train", "--env", "Swimmer-v5", "--out", out, "--algo", "dqn"], capsys, "--algo")
    assert main(["train", "--env", "Swimmer-v5"]) == 2  # no --out (only --show-config goes without)
    assert capsys.readouterr().err == "trustopt: error: --out: required (the run folder)\n"
    assert main(["train"]) == 2  # neither: both named, not --out alone
    assert capsys.readouterr().err == ("trustopt: error: --env and --out: required (e.g. --env Swimmer-v5 --out "
                                       "runs/swimmer)\n")
    _usage_error(["fly"], capsys, "invalid choice")
    _usage_error([], capsys, "required")


@pytest.mark.parametrize("args,match", [
    (["--env", "Swimmer-v3000"], "unknown environment 'Swimmer-v3000'"),
    (["--env", "Swimmer-v5", "--algo", "trpo", "--set", "n_directions=4"], "n_directions: a hyperparameter of the ES family"),
    (["--env", "Swimmer-v5", "--set", "sigmaa=0.1"], "--set: unknown hyperparameter 'sigmaa'"),
    (["--env", "Swimmer-v5", "--set", "sigma=-1"], "sigma: expected a finite number > 0"),
    (["--env", "Swimmer-v5", "--set", "nonsense"], "KEY=VALUE"),
    (["--env", "Swimmer-v5", "--ray-address", "auto"], "--ray-address: only applies to --backend ray"),
    (["--env", "Swimmer-v5", "--config", "/nonexistent/c.json"], "does not exist"),
    (["--resume"], "no config.json"),
    (["--algo", "tres"], "--env: required"),
])
def test_invalid_settings_exit_2_without_traceback(tmp_path, capsys, args, match):
    rc = main(["train", "--out", str(tmp_path / "x"), "--no-progress", *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert match in err and err.startswith("trustopt: error:")


def test_config_file_and_checkpoint_errors(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"env_id": "InvertedPendulum-v5", "algo": "ars", "n_directions": 2}))
    out = str(tmp_path / "run")
    assert main(["train", "--config", str(cfg), "--out", out, *TINY]) == 0
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["n_directions"] == 2
    assert main(["train", "--config", str(cfg), "--out", out, *TINY]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--config", str(cfg), "--out", out, "--resume", *TINY[:-4], "--seed", "9"]) == 2
    assert "different configuration" in capsys.readouterr().err
    with open(os.path.join(out, "checkpoint.pkl"), "r+b") as f:
        f.seek(100)
        f.write(b"\x00garbage\x00")
    assert main(["train", "--config", str(cfg), "--out", out, "--resume", *TINY]) == 2
    assert "corrupt" in capsys.readouterr().err
    cfg.write_text("{not json")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "y")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nope"), "-o", str(tmp_path / "p.png")]) == 2


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, capsys):
    # a log file gets the summary line, not tqdm's carriage-return redraws
    flags = [f for f in TINY if f != "--no-progress"]
    assert main(["train", "--env", "Swimmer-v5", "--out", str(tmp_path / "run"), *flags]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and "stopped (timesteps)" in cap.out


def test_module_and_console_script_entry_points():
    r = _run_cli("--help")
    assert r.returncode == 0 and "train" in r.stdout and "eval" in r.stdout and "plot" in r.stdout
    r = _run_cli("train", "--env", "NoSuchEnv-v0", "--out", "/tmp/never-created-trustopt")
    assert r.returncode == 2 and "unknown environment" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("typo,want", [("Swimer-v5", "Swimmer-v5"), ("Hoper-v5", "Hopper-v5"), ("Hopper", "Hopper-v5")])
def test_typo_hint_suggests_each_id_once_and_the_supported_version(tmp_path, capsys, typo, want):
    from trustopt._validation import ValidationError
    from trustopt.envs import make_env

    assert main(["train", "--env", typo, "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    with pytest.raises(ValidationError) as exc:
        make_env(typo)
    for text in (err, str(exc.value)):
        hint = text.split("Did you mean ", 1)[1].split("?", 1)[0]
        assert hint == repr(want)  # once, and not the deprecated Hopper-v4 / Swimmer-v4 next to it


def test_set_takes_several_pairs_like_env_kwargs():
    from trustopt.cli import build_parser

    base = ["train", "--env", "Swimmer-v5", "--out", "x"]
    one = build_parser().parse_args([*base, "--set", "sigma=0.03", "n_directions=16", "--seed", "1"])
    two = build_parser().parse_args([*base, "--set", "sigma=0.03", "--set", "n_directions=16", "--seed", "1"])
    assert one.set == two.set == ["sigma=0.03", "n_directions=16"] and one.seed == two.seed == 1


def test_env_shown_required_and_unknown_flags_point_to_the_subcommands_usage(tmp_path, capsys):
    from trustopt.cli import build_parser

    usage = build_parser().subcommands["train"].format_usage()
    assert "--env ENV_ID --out OUT" in usage and "[--env " not in usage and "[--env]" not in usage
    out = str(tmp_path / "x")
    train = ["train", "--env", "Swimmer-v5", "--out", out]
    cases = [([*train, "--wrokers", "2"], "trustopt train", "--wrokers 2 (did you mean '--workers'?)"),
             ([*train, "--worker", "2"], "trustopt train", "--worker 2 (did you mean '--workers'?)"),
             (["eval", out, "--episode", "5"], "trustopt eval", "--episode 5 (did you mean '--episodes'?)"),
             (["plot", out, "-o", "p.png", "--targ", "1"], "trustopt plot", "--targ 1 (did you mean '--target'?)"),
             ([*train, "--frobnicate"], "trustopt train", "--frobnicate"),
             # the rl-baselines3-zoo's names of the same settings
             ([*train, "-n", "1000"], "trustopt train", "-n 1000 (the zoo's -n is --timesteps here)"),
             ([*train, "--gym-packages", "m"], "trustopt train", "--gym-packages m (the zoo's --gym-packages is "
                                                                 "--env-module here)")]
    for argv, prog, extra in cases:  # no prefix matching; the subcommand's usage, not the top-level one
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err  # one line that points to the subcommand's usage, not the top-level one
        assert err == f"trustopt: error: unrecognized arguments: {extra} (see '{prog} -h')\n"
    assert not os.path.exists(out)


def test_plot_labels_say_which_return_each_curve_is(tmp_path, capsys):
    import matplotlib

    runs = {}
    for name, every in (("ev", "1"), ("noev", "0")):
        runs[name] = str(tmp_path / name)
        assert main(["train", "--env", "Hopper-v5", "--algo", "ars", "--out", runs[name], "--timesteps", "1200",
                     "--eval-every", every, "--eval-episodes", "1", "--no-progress",
                     "--set", "max_episode_steps=100"]) == 0

    def texts(*names):
        svg = str(tmp_path / "p.svg")
        with matplotlib.rc_context({"svg.fonttype": "none"}):  # keep the text as text in the SVG
            assert main(["plot", *[runs[n] for n in names], "-o", svg]) == 0
        with open(svg) as f:
            return f.read()

    mixed = texts("ev", "noev")
    assert "(ev): evaluation mean ± std" in mixed
    assert "(noev): training batch mean, survival bonus removed" in mixed
    assert ">return: evaluation (solid), training batch mean (dashed)<" in mixed  # one axis, two quantities
    assert "training return (batch mean)" in texts("noev") and "evaluation mean ± std" not in texts("noev")
    assert "evaluation return (mean ± std)" in texts("ev")
    twice = runs["ev"] + os.sep  # the same folder given twice, spelt two ways: one legend entry, not two
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        assert main(["plot", runs["ev"], twice, "-o", str(tmp_path / "twice.svg")]) == 0
    assert (tmp_path / "twice.svg").read_text().count("(ev): evaluation mean ± std") == 1


def test_restarts_from_the_command_line(tmp_path, capsys):
    """``--restart-below R --restart-after T`` reach the run (config.json, the rows that restart) and
    its closing line; a resumed run may not change the evaluation grain its restarts were decided on."""
    out = str(tmp_path / "run")
    assert main(["train", "--env", "Swimmer-v5", "--out", out, *TINY, "--restart-below", "1e9", "--restart-after", "1",
                 "--eval-every", "1", "--timesteps", "6000"]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    with open(os.path.join(out, "config.json")) as f:
        saved = json.load(f)
    assert (saved["restart_below"], saved["restart_after"]) == (1e9, 1)
    with open(os.path.join(out, "progress.csv")) as f:
        n = sum(row.endswith(",restart\n") for row in f)
    assert n >= 1 and f", {n} restart" in line and ", best evaluation " in line and " in best_policy.npz;" in line
    best = float(line.split(", best evaluation ")[1].split()[0])
    assert best == pytest.approx(np.nanmax(read_progress(out)["eval_mean"]), abs=0.005)
    assert main(["train", "--resume", "--out", out, "--eval-every", "2", "--timesteps", "9000"]) == 2
    assert "only timesteps, target may change" in capsys.readouterr().err
