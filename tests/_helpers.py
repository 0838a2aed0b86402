"""Helpers shared by several test modules (imported as ``from _helpers import ...``; pytest puts
this folder on ``sys.path``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import contextmanager

import numpy as np

from trustopt.core.types import Model
from trustopt.envs import EnvSpec
from trustopt.noise import NoiseTable
from trustopt.envs.es_sampler import RolloutJob, RolloutTask

#: The checkout under test.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def repo_env() -> dict:
    """``os.environ`` with :data:`REPO` first on ``PYTHONPATH``: a script run in a subprocess
    imports this checkout's trustopt."""
    return dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))


@contextmanager
def trustopt_process(*args: str):
    """``python -m trustopt ARGS`` of this checkout in a session of its own (stdout and stderr
    piped, as text), started with SIGINT's default disposition, as from a terminal (a suite run in
    the background, under ``nohup`` or ``&`` without job control, ignores SIGINT, and a child
    inherits an ignored signal across exec); on leaving, a process group still running is killed,
    so a failing test leaves no process behind."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a handler resets to default on exec
    try:
        proc = subprocess.Popen([sys.executable, "-m", "trustopt", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=repo_env(), cwd=REPO, start_new_session=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def fd_grad(f, x, h=1e-6):
    """Central finite differences ``g[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)`` for every entry
    ``i`` of ``x`` (any shape), ``g`` shaped like ``x``. Error ``<= h^2/6 max|f'''| + eps |f| / h``."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def bits(a) -> bytes:
    """The float64 bytes of ``a``: equal bytes mean equal bit for bit."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes()


def rollout_job(env_id="InvertedPendulum-v5", sigma=0.3, max_steps=60) -> RolloutJob:
    """A seeded ES rollout job on ``env_id`` (random linear policy and observation normalizer)."""
    spec = EnvSpec(env_id=env_id)
    env = spec.make()
    obs_dim, act_dim = env.obs_dim, env.act_dim
    rng = np.random.default_rng(1)
    return RolloutJob(env=spec, theta=rng.normal(scale=0.2, size=obs_dim * act_dim), sigma=sigma,
                      obs_mean=rng.normal(scale=0.1, size=obs_dim), obs_std=np.exp(rng.normal(scale=0.2, size=obs_dim)),
                      act_dim=act_dim, obs_dim=obs_dim, max_steps=max_steps)


def rollout_tasks(table: NoiseTable, n, d, seed=3) -> list[RolloutTask]:
    """``n`` tasks with offsets into ``table`` for ``d`` parameters and signs +1, -1, 0 in turn."""
    rng = np.random.default_rng(seed)
    idx = table.sample_index(rng, d, n)
    return [RolloutTask(index=int(idx[j]), sign=(1.0, -1.0, 0.0)[j % 3], seed=int(rng.integers(0, 2**31)))
            for j in range(n)]


def assert_same_rollouts(a, b):
    """Two lists of rollout results are equal bit for bit, in order."""
    assert len(a) == len(b)
    for r, s in zip(a, b):
        assert (r.train_return, r.env_return, r.length, r.obs_stats.count) == (s.train_return, s.env_return, s.length,
                                                                               s.obs_stats.count)
        assert bits(r.obs_stats.mean) == bits(s.obs_stats.mean) and bits(r.obs_stats.M2) == bits(s.obs_stats.M2)


def nan_equal(records_a, records_b) -> bool:
    """Two record sequences are equal field by field (every field of ``as_dict()``, not only the
    floats), with NaN equal to NaN, and have the same length."""
    records_a, records_b = list(records_a), list(records_b)
    if len(records_a) != len(records_b):
        return False
    for ra, rb in zip(records_a, records_b):
        da, db = ra.as_dict(), rb.as_dict()
        if da.keys() != db.keys():
            return False
        for k, v in da.items():
            w = db[k]
            if isinstance(v, float) and isinstance(w, float) and np.isnan(v) and np.isnan(w):
                continue
            if v != w:
                return False
    return True


def subproblem(policy, theta_k, batch, surrogate, distance, L0, g0) -> Model:
    """The :class:`~trustopt.core.types.Model` a step solver receives (positional, for short test calls)."""
    return Model(policy=policy, theta_k=theta_k, batch=batch, surrogate=surrogate, distance=distance, L0=L0, g0=g0)
