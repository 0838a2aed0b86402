"""Rollout backends: rebuilt perturbations equal the noise table's, results in task order for any
number of workers, a dead worker is replaced and its tasks re-run, shared memory is released."""

from __future__ import annotations

import os
import signal
from multiprocessing import shared_memory

import numpy as np
import pytest

from trustopt._validation import ValidationError
from trustopt.envs import LinearPolicy, rollout
from trustopt.noise import NoiseTable
from trustopt.workers import (
    ProcessBackend,
    RolloutJob,
    SerialBackend,
    WorkerError,
    make_backend,
    perturbed_params,
    rollout_task,
    run_rollouts,
)

from _helpers import assert_same_rollouts, bits, rollout_job, rollout_tasks

SMALL_TABLE = NoiseTable(seed=7, size=50_000)


def test_perturbed_params_equal_noise_table_perturb_bit_for_bit():
    rng = np.random.default_rng(0)
    d = 17
    theta = rng.normal(size=d)
    index = SMALL_TABLE.sample_index(rng, d, 20)
    sign = rng.choice([-1.0, 1.0], size=20)
    for sigma in (0.02, 0.3, 1.7):
        X = SMALL_TABLE.perturb(theta, sigma, index, sign)
        for j in range(20):
            x = perturbed_params(SMALL_TABLE.noise, theta, sigma, int(index[j]), float(sign[j]))
            assert bits(x) == bits(X[j])
    assert bits(perturbed_params(SMALL_TABLE.noise, theta, 0.5, 3, 0.0)) == bits(theta)


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


def test_shared_memory_holds_the_table_and_is_released():
    bk = ProcessBackend(n_workers=2, noise=SMALL_TABLE)
    name = bk._shm.name
    view = shared_memory.SharedMemory(name=name)
    try:
        arr = np.ndarray((SMALL_TABLE.size,), dtype=np.float32, buffer=view.buf)
        assert np.array_equal(arr, SMALL_TABLE.noise)
        del arr
    finally:
        view.close()
    bk.close()
    with pytest.raises(FileNotFoundError):
        shared_memory.SharedMemory(name=name)


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
