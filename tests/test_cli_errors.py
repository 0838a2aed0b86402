"""Bad command-line input and faults while writing: one line on stderr (``trustopt: error: ...``
naming the argument), exit code 2, no traceback, and nothing left that blocks the corrected rerun;
SIGTERM takes the Ctrl-C path (exit 143, checkpoint intact, ``--resume`` continues)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from trustopt.cli import main

from _helpers import REPO, repo_env, trustopt_process

SMALL = ["--seed", "0", "--eval-every", "0", "--no-progress", "--set", "max_episode_steps=50",
         "--set", "n_directions=4"]  # Swimmer-v5, 8 rollouts x 50 steps per iteration
TINY = ["--env", "Swimmer-v5", "--timesteps", "1200", *SMALL, "--set", "noise_table_size=100000"]
INSTALL = 'pip install -e ".[mujoco]"'


def _error_line(capsys) -> str:
    """The one line a failed command printed on stderr (and nothing else there)."""
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("trustopt: error: ") and "Traceback" not in err, err
    return lines[0]


def _fails(argv, capsys) -> str:
    assert main(argv) == 2
    return _error_line(capsys)


def _train_refused(tmp_path, capsys, flags, message) -> None:
    """``train`` with ``flags`` fails on one line starting with ``message`` and leaves no run folder."""
    out = str(tmp_path / "run")
    line = _fails(["train", "--out", out, *flags], capsys)
    assert line.startswith(f"trustopt: error: {message}"), line
    assert not os.path.exists(out)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("finished") / "run")
    assert main(["train", "--out", out, *TINY]) == 0
    return out


def _arrays(run):
    with np.load(os.path.join(run, "policy.npz")) as z:
        return {k: z[k] for k in z.files}


def _assert_same_policy(a, b):
    pa, pb = _arrays(a), _arrays(b)
    assert pa.keys() == pb.keys()
    for k in pa:
        assert pa[k].tobytes() == pb[k].tobytes(), k


# ------------------------------------------------------------------------------ output paths


def test_out_is_an_existing_file_or_lies_under_one(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    line = _fails(["train", "--out", str(afile), *TINY], capsys)
    assert line == f"trustopt: error: --out: {afile} exists and is not a folder; choose another --out"
    line = _fails(["train", "--out", str(afile / "sub" / "run"), *TINY], capsys)
    assert line == f"trustopt: error: --out: cannot create {afile}/sub/run: {afile} exists and is not a folder"
    assert afile.read_text() == "not a folder"


@pytest.mark.parametrize("env,kwarg,named", [
    ("Swimmer-v5", "ctrl_cost_weight=abc", "--env-kwargs: ctrl_cost_weight: expected a finite number"),
    ("Swimmer-v5", "ctrl_cost_weight=[1,2]", "--env-kwargs: ctrl_cost_weight: expected a finite number"),
    ("Swimmer-v5", "reset_noise_scale=-1", "--env-kwargs: reset_noise_scale: expected a finite number >= 0"),
    ("Swimmer-v5", "frame_skip=0", "--env-kwargs: frame_skip: expected an integer >= 1"),
    ("Swimmer-v5", "frame_skip=-2", "--env-kwargs: frame_skip: expected an integer >= 1"),
    ("Swimmer-v5", "frame_skip=1.5", "--env-kwargs: frame_skip: expected an integer >= 1"),
    ("Swimmer-v5", "exclude_current_positions_from_observation=1", "--env-kwargs: exclude_current_positions"),
    ("Swimmer-v5", "xml_file=no-such-model.xml", "--env-kwargs: Swimmer-v5 cannot be built"),
    ("Hopper-v5", "healthy_z_range=5", "--env-kwargs: healthy_z_range: expected an interval [lo, hi]"),
    ("Hopper-v5", "healthy_z_range=[2,1]", "--env-kwargs: healthy_z_range: expected an interval [lo, hi]"),
    # rendering is trustopt's to set: "human" needs a display in every worker process (GLFW aborts without one)
    ("Hopper-v5", 'render_mode="human"', "--env-kwargs: render_mode is trustopt's to set"),
])
def test_env_kwargs_of_the_wrong_kind_are_one_line_and_leave_no_folder(tmp_path, capsys, env, kwarg, named):
    # Gymnasium takes these unchecked and fails on the first step (a TypeError deep in the reward),
    # while building (frame_skip=0 divides by zero) or never (frame_skip=-2 steps back in time)
    _train_refused(tmp_path, capsys, [*TINY, "--env", env, "--env-kwargs", kwarg], named)


@pytest.mark.parametrize("flags,message", [
    (["--env", "Swimer-v5", "--timesteps", "1200"], "--env: unknown environment 'Swimer-v5'"),
    ([*TINY, "--restart-below", "50"], "--restart-below: needs restart_after too"),
    ([*TINY, "--restart-after", "5e4", "--restart-below", "50", "--eval-every", "0"],
     "--restart-below: restarts are judged on evaluations"),
    (["--env", "Swimmer-v5", "--env-module", "no_such_module_xyz"], "--env-module: cannot import"),
])
def test_train_errors_name_the_flag_not_the_config_field(tmp_path, capsys, flags, message):
    # the library names TrainConfig's field (env_id, env_module) for its Python callers
    _train_refused(tmp_path, capsys, flags, message)


def test_env_kwargs_with_infinite_interval_ends_train(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--out", out, *TINY, "--env", "Hopper-v5", "--env-kwargs", "healthy_z_range=[0.7,Infinity]"]) == 0


@pytest.mark.parametrize("setting,message", [
    ("env_id=Hopper-v5", "--set: env_id has a flag of its own; use --env"),
    ("algo=ars", "--set: algo has a flag of its own; use --algo"),
    ("timesteps=5", "--set: timesteps has a flag of its own; use --timesteps"),
    ("env_kwargs={}", "--set: env_kwargs has a flag of its own; use --env-kwargs"),
    ("sigmaa=0.1", "--set: unknown hyperparameter 'sigmaa' (did you mean 'sigma'?); tres's keys: K, lambda_, lr, "
                   "max_episode_steps, n_directions, noise_table_size, obs_norm, remove_survival_bonus, sigma"),
    # the names Stable-Baselines3, sb3-contrib and the ARS code give them: here they say ours (TINY trains tres)
    ("clip_range=0.2", "--set: unknown hyperparameter 'clip_range' (Stable-Baselines3's PPO name; here: epsilon, which tres does not use)"),
    ("n_steps=2048", "--set: unknown hyperparameter 'n_steps' (Stable-Baselines3's name; here: batch_steps, which tres does not use)"),
    ("n_delta=8", "--set: unknown hyperparameter 'n_delta' (sb3-contrib's ARS name; here: n_directions)"),
    ("deltas_used=4", "--set: unknown hyperparameter 'deltas_used' (the ARS code's name; here: top_directions, which tres does not use)"),
])
def test_set_takes_hyperparameters_only(tmp_path, capsys, setting, message):
    _train_refused(tmp_path, capsys, [*TINY, "--set", setting], message)


@pytest.mark.parametrize("setting,message", [
    # sb3's PPO has target_kl (an early stop); here it is TRPO's bound, which PPO does not have
    ("target_kl=0.02", "'target_kl' (sb3-contrib's TRPO (its KL bound) name; here: delta, which ppo does not use); "
                       "ppo's keys: K, batch_steps, epsilon, gamma, init_log_std, lambda_, lr, max_episode_steps, "
                       "minibatch_size, obs_norm, remove_survival_bonus"),
    ("ent_coef=0.01", "'ent_coef' (Stable-Baselines3's entropy bonus; none here: exploration is the Gaussian "
                      "policy's log std, learned from init_log_std); ppo's keys: K, "),
    ("vf_coef=0.5", "'vf_coef' (Stable-Baselines3's value-loss weight; none here: "),
])
def test_sb3_ppo_names_without_a_counterpart_say_why(tmp_path, capsys, setting, message):
    _train_refused(tmp_path, capsys, ["--env", "InvertedPendulum-v5", "--algo", "ppo", "--set", setting],
                   "--set: unknown hyperparameter " + message)


@pytest.mark.parametrize("algo,setting,message", [
    ("stro", "lr=5.0", "lr: 'stro' does not use it (a hyperparameter of tres, es, ars, vpg, ppo, trefree)"),
    ("trpo", "lr=5.0", "lr: 'trpo' does not use it"),
    ("es", "K=3", "K: 'es' does not use it (a hyperparameter of tres, ppo, trefree); es's own: l2, lr,"),
    ("ppo", "cg_damping=0.1", "cg_damping: 'ppo' does not use it (a hyperparameter of npg, trpo)"),
    ("stro", "delta=10", "delta: 'stro' does not use it"),
])
def test_a_hyperparameter_the_algorithm_does_not_read_is_named_not_ignored(tmp_path, capsys, algo, setting, message):
    # it used to train with the setting silently dropped and record it in config.json as if used
    _train_refused(tmp_path, capsys, ["--env", "InvertedPendulum-v5", "--timesteps", "1200", "--no-progress",
                                      "--algo", algo, "--set", setting], message)


def test_plot_and_eval_json_under_a_file_or_on_a_folder(tmp_path, capsys, finished_run):
    afile = tmp_path / "afile"
    afile.write_text("x")
    line = _fails(["plot", finished_run, "-o", str(afile / "c.png")], capsys)
    assert line == f"trustopt: error: --output: cannot create {afile}/c.png: {afile} exists and is not a folder"
    line = _fails(["plot", finished_run, "-o", str(tmp_path)], capsys)
    assert line == f"trustopt: error: --output: {tmp_path} is a folder; give a file name"
    line = _fails(["eval", finished_run, "--episodes", "1", "--json", str(afile / "e.json")], capsys)
    assert line == f"trustopt: error: --json: cannot create {afile}/e.json: {afile} exists and is not a folder"
    line = _fails(["eval", finished_run, "--episodes", "1", "--json", str(tmp_path)], capsys)
    assert line == f"trustopt: error: --json: {tmp_path} is a folder; give a file name"
    # a name ending with a separator names a folder before one exists: Matplotlib would write a hidden
    # 'plots/.png', and eval would run its episodes before failing to write
    line = _fails(["plot", finished_run, "-o", f"{tmp_path}/plots/"], capsys)
    assert line == f"trustopt: error: --output: {tmp_path}/plots/ is a folder; give a file name"
    line = _fails(["eval", finished_run, "--episodes", "1", "--json", f"{tmp_path}/jdir/"], capsys)
    assert line == f"trustopt: error: --json: {tmp_path}/jdir/ is a folder; give a file name"
    assert sorted(os.listdir(tmp_path)) == ["afile"]


def _can_create_in(folder: str) -> bool:
    probe = os.path.join(folder, f"trustopt-probe-{os.getpid()}")
    try:
        os.mkdir(probe)
    except OSError:
        return False
    os.rmdir(probe)
    return True


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder in which this process may not create files: a 0o555 folder, or for root (whom file
    modes do not stop) /sys, where no one may create files."""
    if os.geteuid() == 0:
        if _can_create_in("/sys"):
            pytest.skip("running as root and /sys accepts new folders here: no folder refuses root's writes")
        yield "/sys"
        return
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    yield str(ro)
    ro.chmod(0o755)


@pytest.mark.parametrize("command", ["train", "plot", "eval"])
def test_output_in_a_folder_that_refuses_writes(capsys, finished_run, unwritable_folder, command):
    ro = unwritable_folder
    target = os.path.join(ro, f"trustopt-test-{os.getpid()}" + {"train": "", "plot": ".png", "eval": ".json"}[command])
    argv = {"train": ["train", "--out", target, *TINY], "plot": ["plot", finished_run, "-o", target],
            "eval": ["eval", finished_run, "--episodes", "1", "--json", target]}[command]
    line = _fails(argv, capsys)
    what = {"train": "--out: cannot create", "plot": "--output: cannot write", "eval": "--json: cannot write"}[command]
    assert line.startswith(f"trustopt: error: {what} {target} ("), line
    assert line.endswith(("(Permission denied)", "(Operation not permitted)", "(Read-only file system)")), line
    assert not os.path.lexists(target)


def test_plot_unknown_format_lists_the_known_ones(tmp_path, capsys, finished_run):
    out = tmp_path / "x.xyz"
    line = _fails(["plot", finished_run, "-o", str(out)], capsys)
    assert line.startswith(f"trustopt: error: --output: unknown image format 'xyz' ({out}); known: ")
    known = line.split("known: ", 1)[1].split(", ")
    assert {"png", "pdf", "svg"} <= set(known) and known == sorted(known)
    assert not out.exists()


def test_plot_of_a_modified_progress_file(tmp_path, capsys, finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    rows = (run / "progress.csv").read_text().splitlines()
    rows[2] = "two," + rows[2].split(",", 1)[1]
    (run / "progress.csv").write_text("\n".join(rows) + "\n")
    line = _fails(["plot", str(run), "-o", str(tmp_path / "c.png")], capsys)
    assert line == (f"trustopt: error: run: {run}/progress.csv line 3, column 'iteration': not a number; the file "
                    "was modified or is not a trustopt progress.csv")


def test_plot_of_a_progress_file_without_rows_or_its_columns(tmp_path, capsys, finished_run):
    """A foreign header, or a run killed in its first iteration (header only), was an empty figure
    with exit code 0; in a folder of seeds the error named no run."""
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    header = (run / "progress.csv").read_text().splitlines()[0]
    (run / "progress.csv").write_text("a,b\n1,2\n")
    line = _fails(["plot", str(run), "-o", str(tmp_path / "c.png")], capsys)
    assert line == (f"trustopt: error: run: {run}/progress.csv has no 'iteration' or 'timesteps' column; the file "
                    "was modified or is not a trustopt progress.csv")
    (run / "progress.csv").write_text(header + "\n")
    line = _fails(["plot", str(run), "-o", str(tmp_path / "c.png")], capsys)
    assert line == f"trustopt: error: run: {run}/progress.csv has no rows: the run has not completed an iteration"
    seeds = tmp_path / "seeds"
    shutil.copytree(finished_run, seeds / "seed-0")
    shutil.copytree(run, seeds / "seed-1")
    line = _fails(["plot", str(seeds), "-o", str(tmp_path / "c.png")], capsys)
    assert line == (f"trustopt: error: run: {seeds}/seed-1/progress.csv has no rows: the run has not completed an "
                    "iteration")
    assert not (tmp_path / "c.png").exists()


def test_eval_video_episodes_without_video(capsys, finished_run):
    """It was ignored: 100 episodes evaluated, no video, exit 0 (as --ray-address without --backend ray)."""
    line = _fails(["eval", finished_run, "--video-episodes", "2"], capsys)
    assert line == "trustopt: error: --video-episodes: only applies with --video DIR"


def test_config_that_is_a_folder(tmp_path, capsys):
    line = _fails(["train", "--config", str(tmp_path), "--out", str(tmp_path / "run")], capsys)
    assert line == f"trustopt: error: --config: cannot read {tmp_path} (Is a directory)"


def test_config_file_settings_are_read_as_the_flags_and_their_errors_name_the_file(tmp_path, capsys):
    def config(**settings):
        path = tmp_path / "c.json"
        path.write_text(json.dumps({"env_id": "Swimmer-v5", **settings}))
        return str(path)

    out = tmp_path / "run"
    # JSON reads 1e3 as a float: a count in a file is read as the flag reads --timesteps 1e3
    assert main(["train", "--config", config(timesteps=1e3), "--out", str(out), *SMALL, "--no-progress"]) == 0
    assert json.loads((out / "config.json").read_text())["timesteps"] == 1000
    line = _fails(["train", "--config", config(timesteps=1.5), "--out", str(tmp_path / "r2")], capsys)
    assert line == f"trustopt: error: --config: {tmp_path}/c.json: timesteps: expected an integer >= 1, got 1.5"
    line = _fails(["train", "--config", config(sigma=-1), "--set", "sigma=-2", "--out", str(tmp_path / "r2")], capsys)
    assert line == "trustopt: error: sigma: expected a finite number > 0, got -2"  # the command line's value
    line = _fails(["train", "--config", config(sigmaa=0.1), "--out", str(tmp_path / "r2")], capsys)
    assert line.startswith(f"trustopt: error: --config: {tmp_path}/c.json: unknown key(s) sigmaa (did you mean "
                           "'sigma'?); known: K, ")
    # the same in the config.json that --resume reads
    saved = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**saved, "eval_episodes": 0}))
    line = _fails(["train", "--resume", "--out", str(out)], capsys)
    assert line == f"trustopt: error: --resume: {out}/config.json: eval_episodes: expected an integer >= 1, got 0"


def test_a_file_where_a_run_or_policy_belongs(tmp_path, capsys, finished_run):
    cfg = os.path.join(finished_run, "config.json")
    line = _fails(["eval", cfg], capsys)
    assert line == (f"trustopt: error: run: {cfg} is not a policy file (not an .npz archive); expected a run folder "
                    "or its policy.npz")
    line = _fails(["plot", cfg, "-o", str(tmp_path / "c.png")], capsys)
    assert line == f"trustopt: error: run: {cfg} is a file, not a run folder (one holding progress.csv)"


def test_a_runs_own_config_json_serves_as_config(tmp_path, capsys, finished_run):
    """The file trustopt writes (settings plus where it ran) is accepted back as --config."""
    out = tmp_path / "again"
    cfg = os.path.join(finished_run, "config.json")
    assert main(["train", "--config", cfg, "--out", str(out), "--no-progress"]) == 0
    assert "stopped (timesteps)" in capsys.readouterr().out
    _assert_same_policy(out, finished_run)
    # its hyperparameters are resolved for tres on Swimmer: not a template for another task or method
    for flags, named in ((["--env", "Hopper-v5"], "--env"), (["--algo", "es"], "--algo")):
        line = _fails(["train", "--config", cfg, "--out", str(tmp_path / "other"), *flags], capsys)
        assert line.startswith(f"trustopt: error: --config: {cfg} is the config.json of a tres run on Swimmer-v5") \
            and f"with another {named}" in line, line
    assert main(["train", "--config", cfg, "--out", str(tmp_path / "seed3"), "--seed", "3", "--no-progress"]) == 0


def test_more_local_workers_than_the_machine_can_run(tmp_path, capsys, finished_run):
    from trustopt.workers import max_local_workers

    n = max_local_workers() + 1
    want = (f"trustopt: error: --workers: at most {n - 1} local processes here (4 per CPU, at least 16; this machine "
            f"has {os.cpu_count()} CPUs), got {n}; for more, use --backend ray on a cluster")
    out = tmp_path / "run"
    assert _fails(["train", "--out", str(out), "--workers", str(n), *TINY], capsys) == want
    assert not out.exists()
    # eval has no --backend: its line ends at the limit
    assert _fails(["eval", finished_run, "--episodes", "1", "--workers", str(n)], capsys) == want.split("; for more")[0]
    # a local Ray instance (no --ray-address) runs its actors on this machine too: --workers 100000
    # started a Ray instance with 100000 CPUs and as many actor processes
    want = (f"trustopt: error: --workers: at most {n - 1} actors in a local Ray instance here (4 per CPU, at least 16; "
            f"this machine has {os.cpu_count()} CPUs), got {n}; for more, give --ray-address of a Ray cluster")
    assert _fails(["train", "--out", str(out), "--workers", str(n), "--backend", "ray", *TINY], capsys) == want
    assert not out.exists()


# ------------------------------------------------------------------------------ resume


def test_resume_without_progress_csv_or_with_a_truncated_one(tmp_path, capsys, finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    prog = run / "progress.csv"
    data = prog.read_bytes()
    prog.write_bytes(data[:40])
    line = _fails(["train", "--out", str(run), "--resume", "--timesteps", "2000", "--no-progress"], capsys)
    assert line.startswith(f"trustopt: error: --out: {prog} has 40 bytes, fewer than the ")
    assert line.endswith("the checkpoint counted: the run's progress rows are lost, so it cannot be resumed; "
                         "choose another --out")
    assert prog.read_bytes() == data[:40]  # not padded with NUL bytes up to the checkpoint's length
    prog.unlink()
    line = _fails(["train", "--out", str(run), "--resume", "--timesteps", "2000", "--no-progress"], capsys)
    assert line == (f"trustopt: error: --out: {prog} is missing: the run's progress rows are lost, so it cannot be "
                    "resumed; choose another --out")


# ------------------------------------------------------------------------------ runs that cannot start


def test_noise_table_too_small_or_too_large_leaves_no_folder_and_the_rerun_works(tmp_path, capsys):
    out = tmp_path / "run"
    line = _fails(["train", "--out", str(out), *TINY, "--set", "noise_table_size=1"], capsys)
    assert line == ("trustopt: error: noise_table_size: must be at least the number of policy parameters, "
                    "obs_dim * act_dim = 16 on Swimmer-v5, got 1")
    assert not out.exists()
    line = _fails(["train", "--out", str(out), *TINY, "--set", "noise_table_size=1000000000000"], capsys)
    assert line == ("trustopt: error: noise_table_size: 1000000000000 float32 entries (3725.3 GiB) do not fit in "
                    "memory here; the default is 2**23 (32 MiB)")
    assert not out.exists()
    assert main(["train", "--out", str(out), *TINY]) == 0  # the corrected command, same --out


def test_a_run_failing_in_its_first_iteration_is_removed(tmp_path, monkeypatch):
    """Whatever fails before the first checkpoint of an iteration: the new run's files go, the user's
    own folder and files stay, and a folder that already held a run is never touched."""
    import trustopt.envs.es_sampler as es_sampler
    from trustopt.train import CheckpointError, TrainConfig, train

    def broken(*args, **kwargs):
        raise RuntimeError("rollouts failed")

    monkeypatch.setattr(es_sampler, "run_rollouts", broken)
    cfg = TrainConfig(env_id="Swimmer-v5", timesteps=1200, max_episode_steps=50, n_directions=4, eval_every=0,
                      noise_table_size=100_000)
    with pytest.raises(RuntimeError, match="rollouts failed"):
        train(cfg, tmp_path / "new", progress=False)
    assert not (tmp_path / "new").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(RuntimeError):
        train(cfg, mine, progress=False)
    assert os.listdir(mine) == ["notes.txt"]
    monkeypatch.undo()
    train(cfg, tmp_path / "done", progress=False)
    before = {p: (tmp_path / "done" / p).read_bytes() for p in os.listdir(tmp_path / "done")}
    monkeypatch.setattr(es_sampler, "run_rollouts", broken)
    with pytest.raises(CheckpointError, match="already holds a run"):
        train(cfg, tmp_path / "done", progress=False)
    assert {p: (tmp_path / "done" / p).read_bytes() for p in os.listdir(tmp_path / "done")} == before


# ------------------------------------------------------------------------------ full disk


def _disk_full_on(monkeypatch, name: str, nth: int):
    """``os.fsync`` fails with ENOSPC on the ``nth`` fsync (1-based) of a file named ``name`` (or of
    the atomic writer's temporary file for it): the write path of a full disk, in this process."""
    real, seen = os.fsync, []

    def fsync(fd):
        target = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if target == name or (target.startswith(".tmp-") and target.endswith("-" + name)):
            seen.append(target)
            if len(seen) == nth:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("reference") / "run")
    assert main(["train", "--out", out, *TINY]) == 0
    return out


@pytest.mark.parametrize("name,nth", [("checkpoint.pkl", 3), ("progress.csv", 3)])
def test_full_disk_mid_run_is_one_line_and_the_run_resumes(tmp_path, capsys, monkeypatch, reference_run,
                                                           name, nth):
    out = tmp_path / "run"
    _disk_full_on(monkeypatch, name, nth)  # the header/first checkpoint, one iteration, then the disk is full
    line = _fails(["train", "--out", str(out), *TINY], capsys)
    assert line == (f"trustopt: error: --out: cannot write {out}/{name} (No space left on device); the run folder "
                    "keeps its last checkpoint: rerun with --resume once this is fixed")
    monkeypatch.undo()
    assert not [p for p in os.listdir(out) if p.startswith(".tmp-")]
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 0
    _assert_same_policy(out, reference_run)  # the same bits as the run the disk never interrupted


def test_full_disk_at_the_first_checkpoint_removes_the_new_run(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    _disk_full_on(monkeypatch, "checkpoint.pkl", 1)
    line = _fails(["train", "--out", str(out), *TINY], capsys)
    assert line == (f"trustopt: error: --out: cannot write {out}/checkpoint.pkl (No space left on device); "
                    "the new run was removed")
    assert not out.exists()
    monkeypatch.undo()
    assert main(["train", "--out", str(out), *TINY]) == 0


# ------------------------------------------------------------------------------ missing extras, wrong problems


def _python(code: str, timeout=120):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=repo_env(), cwd=REPO)


@pytest.mark.parametrize("missing", ["mujoco", "gymnasium"])
def test_train_and_eval_without_the_mujoco_extra(tmp_path, finished_run, missing):
    out = str(tmp_path / "run")
    code = (f"import sys; sys.modules[{missing!r}] = None\n"  # `import mujoco` / `import gymnasium` fail
            "from trustopt.cli import main\n"
            f"rc1 = main(['train', '--env', 'Swimmer-v5', '--out', {out!r}, '--no-progress'])\n"
            f"rc2 = main(['eval', {finished_run!r}, '--episodes', '1'])\n"
            "print(rc1, rc2)")
    r = _python(code)
    assert r.stdout.split() == ["2", "2"], r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and "Traceback" not in r.stderr, r.stderr
    what = ("'Swimmer-v5' is a MuJoCo environment and MuJoCo is not installed" if missing == "mujoco" else
            "environments need Gymnasium and MuJoCo, which are not installed")
    for line, name in zip(lines, ["--env", "env_id"]):  # train names its flag; eval the run's config field
        assert line.startswith(f"trustopt: error: {name}: {what}; install the mujoco extra: {INSTALL}"), line
    assert not os.path.exists(out)


def test_ctrl_c_while_mujoco_is_imported_is_the_interrupt_not_a_missing_package(tmp_path, monkeypatch, capsys):
    import importlib

    import trustopt.envs._registry as registry

    def interrupted_import(name, *args):
        if name != "mujoco":
            return importlib.import_module(name, *args)
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:  # what mujoco's __init__ raises when Ctrl-C cuts its import short
            raise ImportError("initialization failed") from exc

    monkeypatch.setattr(registry.importlib, "import_module", interrupted_import)
    with pytest.raises(KeyboardInterrupt):
        registry._require_mujoco("Swimmer-v5", "gymnasium.envs.mujoco.swimmer_v5:SwimmerEnv")
    assert main(["train", "--env", "Swimmer-v5", "--out", str(tmp_path / "run")]) == 130
    assert capsys.readouterr().err == "trustopt: interrupted; nothing was saved yet (rerun the same command)\n"


def test_run_names_the_problems_a_method_takes():
    from trustopt import ValidationError, run
    from trustopt.tabular import TabularMDP

    P = np.array([[[0.9, 0.1], [0.1, 0.9]], [[0.5, 0.5], [0.0, 1.0]]])
    mdp = TabularMDP(P, np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.5, 0.5]), 0.9)
    for name in ("tres", "es", "ars"):
        with pytest.raises(ValidationError) as exc:
            run(name, mdp, max_iter=1, seed=0)
        assert str(exc.value).startswith(f"problem: {name!r}, of the ES family (es, ars, tres, trust-region-es, trust-region-cma), "
                                         "takes a black-box "
                                         "function F mapping (n, d) parameters to (n,) values to maximize")
        assert "got TabularMDP" in str(exc.value) and "policy-gradient family (vpg, npg, trpo" in str(exc.value)
    with pytest.raises(ValidationError, match="theta0: 'tres' needs the starting parameters"):
        run("tres", lambda X: -np.sum(X**2, axis=1), max_iter=1, seed=0)
    with pytest.raises(ValidationError, match=r"got function; a black-box function is a problem of the ES family"):
        run("trpo", lambda X: -np.sum(X**2, axis=1), max_iter=1, seed=0)
    assert run("tres", lambda X: -np.sum(X**2, axis=1), theta0=np.ones(3), sigma0=0.1, max_iter=1, seed=0).theta.shape == (3,)


# ------------------------------------------------------------------------------ SIGTERM


def _children(pid: int) -> set[int]:
    kids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.add(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _shm_segments(pid: int) -> set[str]:
    try:
        with open(f"/proc/{pid}/maps") as f:
            return {line.split()[-1] for line in f if "/dev/shm/" in line}
    except OSError:
        return set()


def _assert_gone(workers, timeout: float = 10) -> None:
    """Every process of ``workers`` ends within ``timeout`` seconds of the trainer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.05)
    assert not [p for p in workers if _alive(p)], "a worker outlived the trainer"


def _wait_for_iterations(proc, out: str, n: int, timeout: float = 60) -> None:
    """Until the run in ``out`` has written ``n`` rows of progress.csv, while ``proc`` runs."""
    prog, rows, deadline = os.path.join(out, "progress.csv"), 0, time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and rows < n:
        if os.path.exists(prog):
            with open(prog) as f:
                rows = sum(1 for _ in f) - 1
        time.sleep(0.02)
    assert proc.poll() is None and rows >= n, "the run ended or never started"


def test_sigterm_is_ctrl_c_exit_143_checkpoint_intact_and_resume_continues(tmp_path):
    from trustopt.train.checkpoint import load_checkpoint

    out = str(tmp_path / "run")
    args = ["--env", "Swimmer-v5", *SMALL, "--set", "noise_table_size=100000"]
    proc = subprocess.Popen([sys.executable, "-m", "trustopt", "train", "--workers", "2", "--out", out,
                             "--timesteps", "1000000", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=repo_env(), cwd=REPO, start_new_session=True)
    try:
        _wait_for_iterations(proc, out, 3)
        helpers, segments = _children(proc.pid), _shm_segments(proc.pid)
        assert len(helpers) >= 2 and segments  # the two workers (and the resource tracker); the noise table
        proc.send_signal(signal.SIGTERM)  # the trainer alone, as `kill PID` or `timeout` does
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 143, err
    assert err.splitlines() == ["trustopt: terminated (SIGTERM); the last checkpoint is intact (rerun with --resume)"]
    _assert_gone(helpers)
    assert not [s for s in segments if os.path.exists(s)], "the noise table outlived the run"
    state = load_checkpoint(os.path.join(out, "checkpoint.pkl"))["state"]  # intact: magic and checksum hold
    with np.load(os.path.join(out, "policy.npz")) as saved:  # written at the stop, as at a run's end
        assert int(saved["iteration"]) == state.iteration > 0 and int(saved["timesteps"]) == state.timesteps
    budget = str(state.timesteps + 800)  # two more iterations
    r = subprocess.run([sys.executable, "-m", "trustopt", "train", "--out", out, "--resume", "--timesteps", budget,
                        "--no-progress"], capture_output=True, text=True, env=repo_env(), cwd=REPO, timeout=120)
    assert r.returncode == 0 and "stopped (timesteps)" in r.stdout, r.stderr
    ref = str(tmp_path / "ref")
    assert main(["train", "--out", ref, "--timesteps", budget, *args]) == 0
    _assert_same_policy(out, ref)  # SIGTERM + --resume: the bits of an uninterrupted run


def test_mujocos_warnings_become_one_line_naming_the_task(capsys):
    import mujoco

    from trustopt.cli import _show_warning
    from trustopt.envs import MujocoWarning, _mujoco_warnings_as_python_warnings

    with pytest.warns(MujocoWarning, match=r"^MuJoCo, compiling Foo-v0's model: a deprecated thing$"):
        with _mujoco_warnings_as_python_warnings("Foo-v0"):
            mujoco.get_mju_user_warning()("a deprecated thing")  # the handler MuJoCo calls meanwhile
    _show_warning("MuJoCo, compiling Foo-v0's model: a deprecated thing", MujocoWarning, "x.py", 1)
    assert capsys.readouterr().err == "trustopt: warning: MuJoCo, compiling Foo-v0's model: a deprecated thing\n"


def test_mujocos_warning_about_a_model_is_one_line_naming_the_task(tmp_path, capsys, monkeypatch):
    """Gymnasium's half_cheetah.xml uses a deprecated attribute (with MuJoCo releases that warn about
    it): one line, not a warning pointing into trustopt's source, nor MuJoCo's MUJOCO_LOG.TXT."""
    monkeypatch.chdir(tmp_path)
    out = str(tmp_path / "hc")
    assert main(["train", "--env", "HalfCheetah-v5", "--out", out, "--timesteps", "100", "--no-progress",
                 "--eval-every", "0", "--set", "max_episode_steps=5", "n_directions=1"]) == 0
    err = capsys.readouterr().err
    assert not os.path.exists(tmp_path / "MUJOCO_LOG.TXT")  # the warning was routed, whatever it says
    if not err:
        pytest.skip("this MuJoCo compiles Gymnasium's half_cheetah.xml without a warning")
    assert err.startswith("trustopt: warning: MuJoCo, compiling HalfCheetah-v5's model: ") and "settotalmass" in err
    assert err.count("\n") == 1, err


def test_an_interrupt_before_the_first_checkpoint_says_nothing_was_saved(tmp_path):
    from trustopt.cli import _Terminated, _failure

    out = str(tmp_path / "never")
    assert _failure(KeyboardInterrupt(), "train", out) == (
        130, "trustopt: interrupted; nothing was saved yet (rerun the same command)")
    os.makedirs(os.path.join(out, "seed-1"))
    open(os.path.join(out, "seed-1", "checkpoint.pkl"), "wb").close()  # a seed of --seeds started
    assert _failure(_Terminated(), "train", out, [0, 1]) == (
        143, "trustopt: terminated (SIGTERM); the last checkpoint is intact (rerun with --resume)")
    # another command's seed in the same folder: --resume --seeds 2 would have nothing to resume
    assert _failure(KeyboardInterrupt(), "train", out, [2]) == (
        130, "trustopt: interrupted; nothing was saved yet (rerun the same command)")
    assert _failure(KeyboardInterrupt(), "eval", out) == (130, "trustopt: interrupted")


def test_ctrl_c_while_the_library_is_imported_is_one_line(monkeypatch, capsys):
    """The console script imports no NumPy before ``main`` (``import trustopt`` is lazy), and ``main``
    turns an interrupt during its imports (the parser reads the algorithm names) into one line."""
    import trustopt.cli

    code = "import sys, trustopt.cli; print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=repo_env(), check=True)
    assert done.stdout.strip() == "[]", done.stderr

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(trustopt.cli, "build_parser", interrupted)
    assert main(["train", "--env", "Swimmer-v5", "--out", "never"]) == 130
    assert capsys.readouterr().err == "trustopt: interrupted\n"


def test_ctrl_c_pressed_three_times_still_exits_130_with_one_line_and_no_worker_left(tmp_path):
    """A Ctrl-C pressed again while the first one closes the workers (three SIGINTs to the process
    group within 0.15 s) used to interrupt that shutdown and Python's exit, which then waited
    forever on the half-closed process pool with its workers alive: the first one decides now."""
    out = str(tmp_path / "run")
    with trustopt_process("train", "--workers", "2", "--out", out, "--timesteps", "1000000", "--env", "Swimmer-v5",
                          *SMALL) as proc:
        _wait_for_iterations(proc, out, 2)
        helpers = _children(proc.pid)
        for pause in (0.1, 0.05, 0.0):
            os.killpg(proc.pid, signal.SIGINT)  # as a terminal sends Ctrl-C: to the whole group
            time.sleep(pause)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.splitlines() == ["trustopt: interrupted; the last checkpoint is intact (rerun with --resume)"]
    _assert_gone(helpers)
