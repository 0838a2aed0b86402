"""Ray backend: the same bits as the serial/process backends (task order, any number of actors),
the noise table held by the actors from the object store, dead actors replaced and their chunks
re-run with the result unchanged, task errors propagated, ``trustopt train --backend ray`` (also
connecting to a running cluster with ``--ray-address``) and ``minimize(workers=RayMap(n))``
equal to their local runs bit for bit.

One local Ray instance (2 CPUs) serves the whole module; skipped when Ray is not installed
(``pip install -e ".[ray]"``; the install hint itself is tested in test_ray_missing.py).
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from trustopt.optimize import minimize  # noqa: E402
from trustopt.noise import NoiseTable  # noqa: E402
from trustopt.train import TrainConfig, load_policy, train  # noqa: E402
from trustopt.envs.es_sampler import run_rollouts  # noqa: E402
from trustopt.workers import SerialBackend, WorkerError  # noqa: E402
from trustopt import workers_ray  # noqa: E402
from trustopt.workers_ray import RayBackend, RayMap, init_ray  # noqa: E402

from _helpers import REPO, assert_same_rollouts, bits, repo_env, rollout_job, rollout_tasks  # noqa: E402

SMALL_TABLE = NoiseTable(seed=7, size=50_000)
TINY = dict(env_id="Swimmer-v5", timesteps=2400, max_episode_steps=100, n_directions=4, eval_every=2,
            eval_episodes=2, noise_table_size=100_000)


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    """One local Ray instance for the module (started by the library's own init_ray)."""
    if ray.is_initialized():  # pragma: no cover - another module left one running
        ray.shutdown()
    # Functions defined in this test module run inside the actors: send them by value (the
    # actors cannot import a test module by name).
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    assert init_ray(None, num_cpus=2) is True
    assert init_ray(None, num_cpus=2) is False  # already connected: reused, not restarted
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_rollouts_equal_serial_in_task_order_for_1_and_2_actors():
    job = rollout_job()
    tasks = rollout_tasks(SMALL_TABLE, 13, job.theta.size)  # 13: uneven chunks
    ref = run_rollouts(SerialBackend(SMALL_TABLE), job, tasks)
    assert len({r.train_return for r in ref}) > 3  # the tasks really differ (the test can fail)
    for n in (2, 1):
        with RayBackend(n, SMALL_TABLE, chunks_per_worker=3) as bk:
            assert_same_rollouts(run_rollouts(bk, job, tasks), ref)
            assert_same_rollouts(run_rollouts(bk, job, tasks[::-1]), ref[::-1])  # order follows the tasks
            assert bk.n_restarts == 0
        assert bk._actors == []
    assert ray.is_initialized()  # the backends did not shut down the instance they did not start


def _probe(shared, item, noise):
    return os.getpid(), bool(noise.flags.writeable), noise.shape, float(noise[item]), shared


def test_actors_hold_the_noise_table_from_the_object_store():
    with RayBackend(2, SMALL_TABLE) as bk:
        pids = set(bk.actor_pids())
        out = bk.map(_probe, "shared", list(range(0, 50_000, 5_000)))
    assert len(pids) == 2 and os.getpid() not in pids
    assert {o[0] for o in out} <= pids
    # read-only view of the object store (zero-copy), the same numbers as the table, in order
    assert all(o[1] is False and o[2] == (SMALL_TABLE.size,) and o[4] == "shared" for o in out)
    assert [o[3] for o in out] == [float(SMALL_TABLE.noise[i]) for i in range(0, 50_000, 5_000)]


def _die_once(marker, item, noise):
    """The actor's process exits abruptly (as if killed) the first time item 5 runs."""
    if item == 5 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return float(noise[item]) * 2.0 + item


def _expected(items):
    return [float(SMALL_TABLE.noise[i]) * 2.0 + i for i in items]


def test_actor_dying_mid_batch_is_replaced_and_its_chunks_rerun(tmp_path):
    marker = str(tmp_path / "died")
    items = list(range(12))
    with RayBackend(2, SMALL_TABLE, chunks_per_worker=3) as bk:
        before = set(bk.actor_pids())
        got = bk.map(_die_once, marker, items)
        assert os.path.exists(marker)  # an actor really died
        assert bk.n_restarts == 1
        assert got == _expected(items)
        after = set(bk.actor_pids())
        assert len(after) == 2 and len(after & before) == 1  # one actor is new
        # killed from outside between batches (ray.kill): replaced at the next batch, same result
        victim = bk._actors[0]
        ray.kill(victim, no_restart=True)
        with pytest.raises(ray.exceptions.RayActorError):  # wait until it is really gone (kill is asynchronous)
            for _ in range(600):
                ray.get(victim.ready.remote(), timeout=60)
                time.sleep(0.05)
        assert bk.map(_die_once, marker, items) == _expected(items)
        assert bk.n_restarts == 2


def _always_die(shared, item, noise):
    os._exit(1)


def _raise(shared, item, noise):
    if item == 2:
        raise KeyError("task failed")
    return item


def test_actors_that_keep_dying_raise_worker_error_and_task_errors_propagate():
    with RayBackend(1, SMALL_TABLE, max_restarts=1) as bk:
        with pytest.raises(KeyError, match="task failed"):  # not retried: the task's own error
            bk.map(_raise, None, [0, 1, 2, 3])
        assert bk.n_restarts == 0
        with pytest.raises(WorkerError, match="died 2 times"):
            bk.map(_always_die, None, [0, 1, 2])
        assert bk.n_restarts == 2  # the last dead actor was replaced too: the backend is still usable
        assert bk.map(_raise, None, [0, 1]) == [0, 1]


class _ActorDyingAtStart(workers_ray._Actor):
    def ready(self):
        os._exit(1)


def test_actor_dying_at_start_gives_a_clear_error(monkeypatch):
    """E.g. a cluster node with another version of trustopt/ray, or another authentication mode."""
    monkeypatch.setattr(workers_ray, "_Actor", _ActorDyingAtStart)
    with pytest.raises(WorkerError, match="died while starting.*same Python, ray, trustopt and mujoco versions"):
        RayBackend(1, None)


def _policy_arrays(run):
    _, _, data = load_policy(run)
    return {k: data[k] for k in ("W", "obs_mean", "obs_std", "obs_count", "obs_M2")}


def _progress_without_wall(run):
    rows = open(os.path.join(run, "progress.csv")).read().splitlines()
    i = rows[0].split(",").index("wall_s")
    return [r.split(",")[:i] + r.split(",")[i + 1:] for r in rows]


def _assert_same_run(a, b):
    pa, pb = _policy_arrays(a), _policy_arrays(b)
    for k in pa:
        assert pa[k].dtype == pb[k].dtype and pa[k].tobytes() == pb[k].tobytes(), k
    assert np.any(pa["W"] != 0.0)  # it moved: not a comparison of two zero matrices
    assert _progress_without_wall(a) == _progress_without_wall(b)


def test_train_with_ray_equals_the_process_backend_bit_for_bit(tmp_path):
    """(Worker-count invariance of the process backend itself is tested in test_train.py.)"""
    cfg = TrainConfig(algo="tres", seed=3, **TINY)
    r_loc = train(cfg, tmp_path / "process", workers=1, progress=False)
    r_ray = train(cfg, tmp_path / "ray", workers=2, backend="ray", progress=False)
    assert r_loc.iterations == r_ray.iterations == 3 and r_ray.timesteps == 2400
    _assert_same_run(tmp_path / "process", tmp_path / "ray")


def test_policy_gradient_training_on_ray_equals_in_process(tmp_path):
    """TRPO's episodes on 2 Ray actors: the same batches, hence the same policy, as in process."""
    cfg = TrainConfig(env_id="InvertedPendulum-v5", algo="trpo", seed=2, timesteps=2000, batch_steps=1000,
                      max_episode_steps=200, eval_every=2, eval_episodes=2)
    train(cfg, tmp_path / "process", workers=1, progress=False)
    train(cfg, tmp_path / "ray", workers=2, backend="ray", progress=False)
    _assert_same_run(tmp_path / "process", tmp_path / "ray")


def test_cli_connects_to_a_running_cluster_with_ray_address(tmp_path, ray_cluster):
    """A second driver process joins this module's cluster by address; same policy as in-process."""
    args = ["--env", "Swimmer-v5", "--algo", "tres", "--timesteps", "1600", "--seed", "4", "--set",
            "max_episode_steps=100", "--set", "n_directions=4", "--set", "noise_table_size=100000",
            "--eval-every", "0", "--no-progress"]
    proc = subprocess.run([sys.executable, "-m", "trustopt", "train", *args, "--workers", "2", "--backend", "ray",
                           "--ray-address", ray_cluster, "--out", str(tmp_path / "cli")],
                          capture_output=True, text=True, timeout=300, env=repo_env(), cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = TrainConfig(env_id="Swimmer-v5", algo="tres", timesteps=1600, seed=4, max_episode_steps=100, n_directions=4,
                      noise_table_size=100_000, eval_every=0)
    train(cfg, tmp_path / "local", workers=1, progress=False)
    _assert_same_run(tmp_path / "local", tmp_path / "cli")
    assert ray.is_initialized()  # the other driver did not shut this cluster down


def _sphere_shifted(x):
    return float(np.sum((x - 0.3) ** 2) + 0.1 * np.sum(np.sin(5 * x)))


def test_minimize_with_ray_map_equals_serial():
    kw = dict(method="trust-region-es", sigma0=0.5, maxfev=240, seed=11)
    ref = minimize(_sphere_shifted, np.ones(6), workers=1, **kw)
    with RayMap(2) as pmap:
        assert pmap(lambda v: v * v, range(7)) == [v * v for v in range(7)]  # closures travel by value
        got = minimize(_sphere_shifted, np.ones(6), workers=pmap, **kw)
        with pytest.raises(RuntimeError, match="pickled RayMap"):  # a copy (as captured by closures) is inert
            pickle.loads(pickle.dumps(pmap))(abs, [1])
    assert got.nfev == ref.nfev and got.nit == ref.nit
    assert bits(got.x) == bits(ref.x) and got.fun == ref.fun
    assert ref.fun < _sphere_shifted(np.ones(6))  # it optimized (the comparison is not of two no-ops)
