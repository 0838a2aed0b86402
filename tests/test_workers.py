"""Rollout backends: rebuilt perturbations equal the noise table's, results in task order for any
number of workers, a dead worker is replaced and its tasks re-run, shared memory is released."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from multiprocessing import shared_memory

import numpy as np
import pytest

import trustopt
from trustopt._validation import ValidationError
from trustopt.envs import LinearPolicy, rollout
from trustopt.noise import NoiseTable, perturb
from trustopt.envs.es_sampler import RolloutJob, rollout_task, run_rollouts
from trustopt.workers import ProcessBackend, SerialBackend, WorkerError, make_backend, resident

from _helpers import assert_same_rollouts, bits, repo_env, rollout_job, rollout_tasks

SMALL_TABLE = NoiseTable(seed=7, size=50_000)


def test_a_sample_rebuilt_alone_equals_its_row_of_the_batch_bit_for_bit():
    """A worker rebuilds x_j from (index_j, sign_j) alone; the driver built the whole batch."""
    rng = np.random.default_rng(0)
    d = 17
    theta = rng.normal(size=d)
    index = SMALL_TABLE.sample_index(rng, d, 20)
    sign = rng.choice([-1.0, 1.0], size=20)
    for sigma in (0.02, 0.3, 1.7, rng.uniform(0.1, 2.0, size=d)):
        X = SMALL_TABLE.perturb(theta, sigma, index, sign)
        for j in range(20):
            x = perturb(SMALL_TABLE.noise, theta, sigma, [index[j]], [sign[j]])[0]
            assert bits(x) == bits(X[j])
        eps = SMALL_TABLE.noise[index[3]:index[3] + d].astype(np.float64)  # the formula, written out
        assert bits(X[3]) == bits(theta + sigma * (sign[3] * eps))


def test_rollout_task_matches_direct_rollout():
    """Independent reference: the policy built from NoiseTable.perturb, run by envs.rollout."""
    job = rollout_job()
    for t in rollout_tasks(SMALL_TABLE, 4, job.theta.size):
        got = rollout_task(job, t, SMALL_TABLE.noise)
        x = SMALL_TABLE.perturb(job.theta, job.sigma, [t.index], [t.sign])[0] if t.sign else job.theta
        pol = LinearPolicy(W=x.reshape(job.act_dim, job.obs_dim), mean=job.obs_mean, std=job.obs_std)
        ref = rollout(job.env, pol, seed=t.seed, max_steps=job.max_steps, remove_survival_bonus=True)
        assert got.train_return == ref.train_return and got.length == ref.length
        assert bits(got.obs_stats.mean) == bits(ref.obs_stats.mean) and bits(got.obs_stats.M2) == bits(ref.obs_stats.M2)


def test_process_backend_equals_serial_in_task_order():
    job = rollout_job()
    tasks = rollout_tasks(SMALL_TABLE, 13, job.theta.size)  # 13: uneven chunks
    ref = run_rollouts(SerialBackend(SMALL_TABLE), job, tasks)
    assert len({r.train_return for r in ref}) > 3  # the tasks really differ (the test can fail)
    with ProcessBackend(n_workers=2, noise=SMALL_TABLE, chunks_per_worker=3) as bk:
        got = run_rollouts(bk, job, tasks)
        assert_same_rollouts(got, ref)
        assert_same_rollouts(run_rollouts(bk, job, tasks[::-1]), ref[::-1])  # order follows the tasks
        assert bk.n_restarts == 0
    assert bk._shm is None


def _die_once(marker, item, noise):
    """Kill the worker process (SIGKILL, as the OOM killer would) the first time item 5 runs."""
    if item == 5 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return float(noise[item]) * 2.0 + item


def _always_die(shared, item, noise):
    os.kill(os.getpid(), signal.SIGKILL)


def test_dead_worker_is_replaced_and_its_tasks_rerun(tmp_path):
    marker = str(tmp_path / "died")
    items = list(range(12))
    expected = SerialBackend(SMALL_TABLE).map(lambda s, i, nz: float(nz[i]) * 2.0 + i, None, items)
    with ProcessBackend(n_workers=2, noise=SMALL_TABLE, chunks_per_worker=2) as bk:
        got = bk.map(_die_once, marker, items)
        assert os.path.exists(marker)  # a worker really died
        assert bk.n_restarts >= 1
        assert got == expected
        assert bk.map(_die_once, marker, items) == expected  # the replacement pool keeps working


def test_workers_that_keep_dying_raise_worker_error():
    with ProcessBackend(n_workers=2, noise=SMALL_TABLE, max_restarts=1) as bk:
        with pytest.raises(WorkerError, match="died 2 times"):
            bk.map(_always_die, None, [0, 1, 2])


def _table_checksum(shared, item, noise):
    return float(np.sum(noise, dtype=np.float64)), noise.flags.writeable


def _shm_segments():
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def test_fork_workers_inherit_the_table_and_name_no_segment():
    before = _shm_segments()
    with ProcessBackend(n_workers=2, noise=SMALL_TABLE, start_method="fork") as bk:
        got = bk.map(_table_checksum, None, range(4))
        assert _shm_segments() == before  # nothing named in /dev/shm that a kill could leave behind
    assert got == [(float(np.sum(SMALL_TABLE.noise, dtype=np.float64)), False)] * 4


def test_spawned_workers_read_a_shared_segment_that_close_releases():
    bk = ProcessBackend(n_workers=2, noise=SMALL_TABLE, start_method="spawn")
    name = bk._shm.name
    view = shared_memory.SharedMemory(name=name)
    try:
        arr = np.ndarray((SMALL_TABLE.size,), dtype=np.float32, buffer=view.buf)
        assert np.array_equal(arr, SMALL_TABLE.noise)
        del arr
    finally:
        view.close()
    try:
        assert bk.map(_table_checksum, None, range(2)) == [(float(np.sum(SMALL_TABLE.noise, dtype=np.float64)), False)] * 2
    finally:
        bk.close()
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name=name)


def _call_resident(shared, item, noise):
    return resident()(item)


def test_resident_object_reaches_every_worker_without_pickling():
    offset = 0.5
    with ProcessBackend(n_workers=2, noise=SMALL_TABLE, resident=lambda v: v * 2 + offset) as bk:  # a closure
        assert bk.map(_call_resident, None, range(7)) == [v * 2 + offset for v in range(7)]


@pytest.mark.skipif(sys.platform == "darwin" or "forkserver" not in multiprocessing.get_all_start_methods(),
                    reason="fork is asked for on POSIX but macOS")
def test_a_closure_reaches_the_workers_under_python_3_14s_default_start_method():
    """Python 3.14 made ``forkserver`` Linux's default; the pool asks for ``fork`` by name, so
    a lambda objective still works with workers (here the global default is set to forkserver,
    as 3.14's is)."""
    before = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("forkserver", force=True)
    try:
        offset = 0.5
        with ProcessBackend(n_workers=2, noise=SMALL_TABLE, resident=lambda v: v * 2 + offset) as bk:
            assert bk.map(_call_resident, None, range(5)) == [v * 2 + offset for v in range(5)]
        runs = [trustopt.minimize(lambda x: float(x @ x), np.ones(3), method="es", maxfev=200, seed=0, workers=w)
                for w in (1, 2)]
        assert bits(runs[1].x) == bits(runs[0].x) and runs[1].nfev == runs[0].nfev > 100
    finally:
        multiprocessing.set_start_method(before, force=True)


def test_a_worker_killed_while_the_pool_is_idle_is_replaced():
    items = list(range(6))
    expected = [float(SMALL_TABLE.noise[i]) * 2.0 + i for i in items]
    with ProcessBackend(n_workers=2, noise=SMALL_TABLE) as bk:
        assert bk.map(_scaled_noise, None, items) == expected
        victim = bk.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        _wait_gone(victim)
        assert bk.map(_scaled_noise, None, items) == expected
        assert bk.n_restarts == 1 and victim not in bk.worker_pids()


def _scaled_noise(shared, item, noise):
    return float(noise[item]) * 2.0 + item


def _wait_gone(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # our own child: reap it so that it does not linger as a zombie
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


def test_backend_factory_and_validation():
    assert isinstance(make_backend("process", 1, SMALL_TABLE), SerialBackend)
    bk = make_backend("process", 2, SMALL_TABLE)
    try:
        assert isinstance(bk, ProcessBackend) and bk.n_workers == 2
    finally:
        bk.close()
    with pytest.raises(ValidationError, match="backend: unknown 'mpi'"):
        make_backend("mpi", 2)
    with pytest.raises(ValidationError, match="only apply to the 'ray' backend"):
        make_backend("process", 2, address="auto")
    with pytest.raises(ValidationError, match="workers"):
        make_backend("process", 0)
    with pytest.raises(ValidationError, match="theta"):
        RolloutJob(env=None, theta=np.zeros(3), sigma=1.0, obs_mean=np.zeros(2), obs_std=np.ones(2), act_dim=1,
                   obs_dim=2)


def test_an_unpicklable_resident_is_refused_up_front_where_workers_are_not_forked():
    with pytest.raises(ValidationError, match="'spawn' receive the objective pickled, so it must be picklable"):
        ProcessBackend(n_workers=2, noise=SMALL_TABLE, resident=lambda x: x, start_method="spawn")


_ORPHAN_SCRIPT = """
import os, signal, sys, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from trustopt.workers import exit_with_parent

if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=exit_with_parent,
                               initargs=(os.getpid(),))
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 60)  # the worker is busy when its parent dies
    time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_exit_with_parent_ends_a_busy_pool_worker_when_its_parent_is_killed(tmp_path):
    """A ProcessPoolExecutor worker, busy with a 60 s task, would outlive a SIGKILLed parent;
    with ``exit_with_parent`` as its initializer it exits within seconds."""
    import subprocess
    import sys

    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN_SCRIPT)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=repo_env(), timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    worker = int(proc.stdout.split()[0])

    def running() -> bool:  # a zombie (exited, not yet reaped by init) counts as gone
        try:
            with open(f"/proc/{worker}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and running():
        time.sleep(0.05)
    alive = running()
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the pool worker outlived its parent"


_STUCK_WORKER_SCRIPT = """
import multiprocessing, os, signal, sys, time
import trustopt.workers as w
from trustopt.noise import NoiseTable

real_init, ctx = w._init_worker, multiprocessing.get_context("fork")
stuck = ctx.Value("i", 0)  # the pid of the one worker that hangs


def init_one_stuck(parent_pid, table, resident):
    # The first worker hangs before its initializer, as one blocked in C on a lock held at fork
    # time; SIGTERM ignored, as when its Python handler (the trainer's) cannot run.
    with stuck.get_lock():
        hang = stuck.value == 0
        if hang:
            stuck.value = os.getpid()
    if hang:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(3600)
    real_init(parent_pid, table, resident)


def add_one(shared, item, noise):
    return item + 1


def die(shared, item, noise):
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    w._init_worker = init_one_stuck
    w.SHUTDOWN_GRACE = 0.5
    bk = w.ProcessBackend(n_workers=2, noise=NoiseTable(seed=7, size=50_000), start_method="fork",
                          max_restarts=1)
    if sys.argv[1] == "close":  # the healthy worker does every task; close must not wait for the stuck one
        assert bk.map(add_one, None, range(6)) == [1, 2, 3, 4, 5, 6]
    else:  # the healthy worker dies: the broken pool's stuck worker must not block its replacement
        try:
            bk.map(die, None, range(3))
        except w.WorkerError as exc:
            print("WorkerError", exc, flush=True)
    t0 = time.monotonic()
    bk.close()
    print("closed", round(time.monotonic() - t0, 1), stuck.value, flush=True)
"""


@pytest.mark.parametrize("case", ["close", "broken"])
def test_a_worker_stuck_before_its_initializer_never_hangs_the_pool(tmp_path, case):
    """A worker that hangs before its initializer and ignores SIGTERM (seen once in this suite:
    a forked worker blocked in a futex) used to make ``ProcessPoolExecutor.shutdown(wait=True)``
    -- on close, or when a broken pool is replaced -- wait forever; now it is killed."""
    import subprocess
    import sys

    script = tmp_path / "stuck.py"
    script.write_text(_STUCK_WORKER_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), case], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=repo_env(), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and its stuck worker
        proc.communicate()
        pytest.fail(f"the backend hung ({case})")
    assert proc.returncode == 0, err
    lines = out.splitlines()
    if case == "broken":
        assert lines[0] == "WorkerError worker processes died 2 times in a row; 3 of 3 tasks could not be completed"
    closed, seconds, pid = lines[-1].split()
    assert closed == "closed" and float(seconds) < 10
    assert int(pid) > 0 and _wait_gone(int(pid), timeout=5.0)  # the stuck worker was really there, and is gone
