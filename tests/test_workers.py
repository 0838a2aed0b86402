"""Rollout backends: rebuilt perturbations equal the noise table's, results in task order for any
number of workers, a dead worker is replaced and its tasks re-run, shared memory is released."""

from __future__ import annotations

import os
import signal
from multiprocessing import shared_memory

import numpy as np
import pytest

from trustopt._validation import ValidationError
from trustopt.envs import EnvSpec, LinearPolicy, rollout
from trustopt.noise import NoiseTable
from trustopt.workers import (
    ProcessBackend,
    RolloutJob,
    RolloutTask,
    SerialBackend,
    WorkerError,
    make_backend,
    perturbed_params,
    rollout_task,
    run_rollouts,
)

SMALL_TABLE = NoiseTable(seed=7, size=50_000)


def _bits(a) -> bytes:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes()


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
            assert _bits(x) == _bits(X[j])
    assert _bits(perturbed_params(SMALL_TABLE.noise, theta, 0.5, 3, 0.0)) == _bits(theta)


def _job(env_id="InvertedPendulum-v5", sigma=0.3, max_steps=60):
    spec = EnvSpec(env_id=env_id)
    env = spec.make()
    obs_dim, act_dim = env.obs_dim, env.act_dim
    rng = np.random.default_rng(1)
    return RolloutJob(env=spec, theta=rng.normal(scale=0.2, size=obs_dim * act_dim), sigma=sigma,
                      obs_mean=rng.normal(scale=0.1, size=obs_dim), obs_std=np.exp(rng.normal(scale=0.2, size=obs_dim)),
                      act_dim=act_dim, obs_dim=obs_dim, max_steps=max_steps)


def _tasks(n, d, seed=3):
    rng = np.random.default_rng(seed)
    idx = SMALL_TABLE.sample_index(rng, d, n)
    return [RolloutTask(index=int(idx[j]), sign=(1.0, -1.0, 0.0)[j % 3], seed=int(rng.integers(0, 2**31)))
            for j in range(n)]


def test_rollout_task_matches_direct_rollout():
    """Independent reference: the policy built from NoiseTable.perturb, run by envs.rollout."""
    job = _job()
    for t in _tasks(4, job.theta.size):
        got = rollout_task(job, t, SMALL_TABLE.noise)
        x = SMALL_TABLE.perturb(job.theta, job.sigma, [t.index], [t.sign])[0] if t.sign else job.theta
        pol = LinearPolicy(W=x.reshape(job.act_dim, job.obs_dim), mean=job.obs_mean, std=job.obs_std)
        ref = rollout(job.env, pol, seed=t.seed, max_steps=job.max_steps, remove_survival_bonus=True)
        assert got.train_return == ref.train_return and got.length == ref.length
        assert _bits(got.obs_mean) == _bits(ref.obs_stats.mean) and _bits(got.obs_m2) == _bits(ref.obs_stats.m2)


def _same(a, b):
    assert len(a) == len(b)
    for r, s in zip(a, b):
        assert (r.train_return, r.env_return, r.length, r.obs_count) == (s.train_return, s.env_return, s.length,
                                                                         s.obs_count)
        assert _bits(r.obs_mean) == _bits(s.obs_mean) and _bits(r.obs_m2) == _bits(s.obs_m2)


def test_process_backend_equals_serial_in_task_order():
    job = _job()
    tasks = _tasks(13, job.theta.size)  # 13: uneven chunks
    ref = run_rollouts(SerialBackend(SMALL_TABLE), job, tasks)
    assert len({r.train_return for r in ref}) > 3  # the tasks really differ (the test can fail)
    with ProcessBackend(n_workers=2, noise=SMALL_TABLE, chunks_per_worker=3) as bk:
        got = run_rollouts(bk, job, tasks)
        _same(got, ref)
        _same(run_rollouts(bk, job, tasks[::-1]), ref[::-1])  # order follows the tasks
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
