"""Faults leave nothing behind and never hang, with real processes killed as the OOM killer or a
job scheduler would: a worker that dies inside ``minimize``; a worker of a running trainer killed
at any moment (mid-batch or idle between iterations); the trainer itself killed alone. Each test
checks that no process of ours lives on and no shared-memory segment is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from trustopt import minimize
from trustopt.workers import WorkerError

from _helpers import REPO, repo_env


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (from /proc; zombies excluded)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(name))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def shm_segments() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("psm_")} if os.path.isdir("/dev/shm") else set()


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process tables from /proc (Linux)")


# ------------------------------------------------------------------------------------ minimize


class DieOnce:
    """A deterministic objective whose evaluation kills the worker process (``os._exit``) the first
    time it runs in a process other than ``parent`` (the marker file records that it happened)."""

    def __init__(self, marker: str, parent: int):
        self.marker, self.parent = marker, parent

    def __call__(self, x):
        if os.getpid() != self.parent and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(3)
        return float(np.sum((x - 0.5) ** 2))


def always_die(x):
    os._exit(3)


def test_minimize_redoes_the_evaluations_of_a_worker_that_died(tmp_path):
    marker = str(tmp_path / "died")
    f = DieOnce(marker, os.getpid())
    kw = dict(sigma0=0.5, maxfev=600, seed=3)
    before = set(children(os.getpid()))
    for method in ("tres", None):  # noise indices travel / orthogonal rows travel
        if os.path.exists(marker):
            os.remove(marker)
        r2 = minimize(f, np.zeros(5), method=method, workers=2, **kw)
        assert os.path.exists(marker)  # a worker really died
        r1 = minimize(f, np.zeros(5), method=method, workers=1, **kw)
        assert np.array_equal(r1.x, r2.x) and r1.fun == r2.fun and r1.nfev == r2.nfev and r1.nit == r2.nit
        assert r2.n_exceptions == 0 and r2.n_nonfinite == 0
    assert wait_until(lambda: set(children(os.getpid())) <= before, 10)  # the pool is gone


def test_minimize_with_workers_that_keep_dying_fails_clearly_and_leaves_no_process():
    before = set(children(os.getpid()))
    t0 = time.monotonic()
    with pytest.raises(WorkerError, match="died 4 times in a row"):
        minimize(always_die, np.zeros(3), sigma0=0.5, maxfev=200, seed=0, workers=2)
    assert time.monotonic() - t0 < 60
    assert wait_until(lambda: set(children(os.getpid())) <= before, 10)


# ------------------------------------------------------------------------------------ trainer

TRAIN = ["train", "--env", "Swimmer-v5", "--algo", "tres", "--seed", "1", "--eval-every", "0", "--no-progress",
         "--set", "max_episode_steps=50", "--set", "n_directions=4", "--set", "noise_table_size=100000"]


def _start(out, timesteps, workers=2):
    return subprocess.Popen([sys.executable, "-m", "trustopt", *TRAIN, "--timesteps", str(timesteps),
                             "--workers", str(workers), "--out", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=repo_env(), cwd=REPO,
                            start_new_session=True)


def _rows(out) -> int:
    try:
        with open(os.path.join(out, "progress.csv")) as f:
            return sum(1 for _ in f) - 1
    except OSError:
        return 0


def _policy(out) -> dict:
    with np.load(os.path.join(out, "policy.npz")) as z:
        return {k: z[k].tobytes() for k in z.files}


def test_a_worker_killed_during_training_is_replaced_and_the_policy_is_unchanged(tmp_path):
    """Workers are killed one after another while the trainer runs (mid-batch or idle between
    iterations, whichever comes): the run finishes with the policy of an undisturbed run."""
    killed, ref = str(tmp_path / "killed"), str(tmp_path / "ref")
    proc = _start(killed, 16000)
    victims = []
    try:
        assert wait_until(lambda: _rows(killed) >= 2 or proc.poll() is not None, 120)
        for _ in range(3):
            workers = [p for p in children(proc.pid) if p not in victims]
            workers = [p for p in workers if "resource_tracker" not in open(f"/proc/{p}/cmdline").read()]
            if proc.poll() is not None or not workers:
                break
            os.kill(workers[0], signal.SIGKILL)
            victims.append(workers[0])
            time.sleep(0.3)
        assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert victims, "the run finished before a worker could be killed; raise --timesteps"
    ref_proc = _start(ref, 16000)
    assert ref_proc.wait(timeout=300) == 0, ref_proc.stderr.read().decode()
    assert _policy(killed) == _policy(ref)


@pytest.mark.parametrize("sig", [signal.SIGKILL])
def test_workers_exit_when_the_trainer_is_killed_alone(tmp_path, sig):
    """SIGKILL to the trainer only (not its process group), as the OOM killer does: its workers
    and helper processes exit by themselves and no shared-memory segment is left."""
    shm_before = shm_segments()
    out = str(tmp_path / "run")
    proc = _start(out, 10_000_000)
    try:
        assert wait_until(lambda: _rows(out) >= 1 or proc.poll() is not None, 120)
        assert proc.poll() is None
        kids = children(proc.pid)
        assert len(kids) >= 2  # the two workers (and possibly multiprocessing's resource tracker)
        os.kill(proc.pid, sig)
        proc.wait()
        assert wait_until(lambda: not any(alive(p) for p in kids), 15), [p for p in kids if alive(p)]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert shm_segments() <= shm_before


OWNER = """
import sys, time
from trustopt.noise import NoiseTable
from trustopt.workers import ProcessBackend
bk = ProcessBackend(n_workers=2, noise=NoiseTable(seed=1, size=1000), start_method=sys.argv[1])
print(" ".join(map(str, bk.worker_pids())), flush=True)
time.sleep(600)
"""


def in_session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the owner, its workers, multiprocessing's helpers)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, session, ...
            if int(fields[3]) == sid and fields[0] != "Z":
                out.append(int(name))
    return out


def shm_entries() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
def test_workers_of_every_start_method_exit_when_their_owner_is_killed(start_method):
    """SIGKILL to the owner of a pool: its workers, and multiprocessing's resource tracker and fork
    server, all exit by themselves, and the tracker removes the segment and the semaphores."""
    before = shm_entries()
    proc = subprocess.Popen([sys.executable, "-c", OWNER, start_method], stdout=subprocess.PIPE, text=True,
                            env=repo_env(), cwd=REPO, start_new_session=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        time.sleep(2 * 0.25)  # longer than the workers' check period: they stay while the owner lives
        assert all(alive(p) for p in pids)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert wait_until(lambda: not any(alive(p) for p in pids), 15), [p for p in pids if alive(p)]
        assert wait_until(lambda: not in_session(proc.pid), 15), in_session(proc.pid)
        assert shm_entries() <= before
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_trainer_workers_that_keep_dying_end_train_with_one_line(monkeypatch, capsys, tmp_path):
    from trustopt import workers
    from trustopt.cli import main

    def always_broken(self, fn, shared, items):
        raise WorkerError("worker processes died 4 times in a row; 8 of 8 tasks could not be completed")

    monkeypatch.setattr(workers.ProcessBackend, "map", always_broken)
    out = str(tmp_path / "run")
    assert main(["train", "--env", "Swimmer-v5", "--workers", "2", "--out", out, "--timesteps", "2000", "--no-progress",
                 "--set", "max_episode_steps=50", "--set", "noise_table_size=100000"]) == 1
    # the new run failed at its first iteration: no folder is left, so no --resume is suggested
    assert capsys.readouterr().err == ("trustopt: error: worker processes died 4 times in a row; 8 of 8 tasks could "
                                       "not be completed\n")
    assert not os.path.exists(out)
