"""Scaling of the rollout backends with the number of workers: local processes vs Ray actors.

One ES batch as ``trustopt train`` runs it (TRES/ES/ARS: ``2 N`` antithetic rollouts of a linear
policy ``theta +- sigma * table[index : index + d]``, common reset seeds per pair, observation
statistics returned) is evaluated by

* ``serial``      the calling process (the baseline, measured in the same run),
* ``process xW``  :class:`trustopt.workers.ProcessBackend` with W local processes (shared-memory noise table),
* ``ray xW``      :class:`trustopt.workers_ray.RayBackend` with W actors of a local Ray instance
                  (noise table in the object store),

for W in ``--workers`` (default 1 2), interleaved over ``--repeats`` rounds; the best round of
each is reported (filters out interference from other processes on a shared machine), as
env-steps/s, rollouts/s and the speed-up over ``serial``. Start-up times (pool, Ray instance,
actors) are reported separately: they are paid once per run, not per batch. Every backend's
results are checked to be bit-identical to the serial ones.

    python benchmarks/bench_ray_scaling.py                       # HalfCheetah-v5, 2 x 16 rollouts x 1000 steps
    python benchmarks/bench_ray_scaling.py --quick               # 2 x 8 rollouts x 300 steps
    python benchmarks/bench_ray_scaling.py --env Swimmer-v5 --workers 1 2 4

Needs Ray (``pip install "trustopt[ray]"``); without it only the process backends are measured.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def _batch(env_id: str, n_directions: int, max_steps: int, seed: int = 0):
    from trustopt.envs import EnvSpec
    from trustopt.noise import NoiseTable
    from trustopt.envs.es_sampler import RolloutJob, RolloutTask

    spec = EnvSpec(env_id=env_id)
    env = spec.make()
    obs_dim, act_dim = env.obs_dim, env.act_dim
    env.close()
    d = obs_dim * act_dim
    table = NoiseTable()
    rng = np.random.default_rng(seed)
    theta = rng.normal(scale=0.3 / np.sqrt(obs_dim), size=d)
    job = RolloutJob(env=spec, theta=theta, sigma=0.02, obs_mean=np.zeros(obs_dim), obs_std=np.ones(obs_dim),
                     act_dim=act_dim, obs_dim=obs_dim, remove_survival_bonus=True, max_steps=max_steps)
    index = table.sample_index(rng, d, n_directions)
    seeds = rng.integers(0, 2**31, size=n_directions)
    tasks = [RolloutTask(index=int(index[j % n_directions]), sign=1.0 if j < n_directions else -1.0,
                         seed=int(seeds[j % n_directions])) for j in range(2 * n_directions)]
    return table, job, tasks


def _key(results):
    return [(r.train_return, r.length, r.obs_stats.mean.tobytes(), r.obs_stats.M2.tobytes()) for r in results]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--env", default="HalfCheetah-v5")
    ap.add_argument("--directions", type=int, default=16, help="antithetic pairs per batch (2N rollouts)")
    ap.add_argument("--steps", type=int, default=1000, help="max steps per rollout")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="8 pairs x 300 steps, 2 repeats")
    args = ap.parse_args(argv)
    if args.quick:
        args.directions, args.steps, args.repeats = 8, 300, 2
    warnings.filterwarnings("ignore", message="MuJoCo: compiler attribute")

    from trustopt.envs.es_sampler import run_rollouts
    from trustopt.workers import ProcessBackend, SerialBackend

    table, job, tasks = _batch(args.env, args.directions, args.steps)
    _ = table.noise  # build the table before timing anything
    backends: dict = {"serial": SerialBackend(table)}
    startup: dict = {}
    for w in args.workers:
        t0 = time.perf_counter()
        bk = ProcessBackend(n_workers=w, noise=table)
        bk.worker_pids()  # start the pool
        startup[f"process x{w}"] = time.perf_counter() - t0
        backends[f"process x{w}"] = bk
    try:
        from trustopt.workers_ray import RayBackend, init_ray

        t0 = time.perf_counter()
        init_ray(None, num_cpus=sum(args.workers))  # every configuration's actors alive at once
        startup["ray instance (ray.init)"] = time.perf_counter() - t0
        for w in args.workers:
            t0 = time.perf_counter()
            backends[f"ray x{w}"] = RayBackend(w, table)
            startup[f"ray x{w}"] = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - Ray missing: measure what can be measured
        print(f"(Ray backends skipped: {exc})")

    ref = None
    best = {name: np.inf for name in backends}
    steps = None
    try:
        for name, bk in backends.items():  # warm-up: every worker builds its environment once
            out = run_rollouts(bk, job, tasks)
            if ref is None:
                ref, steps = _key(out), sum(r.length for r in out)
            assert _key(out) == ref, f"{name}: results differ from serial"
        for _ in range(args.repeats):
            for name, bk in backends.items():
                t0 = time.perf_counter()
                out = run_rollouts(bk, job, tasks)
                best[name] = min(best[name], time.perf_counter() - t0)
                assert _key(out) == ref, f"{name}: results differ from serial"
    finally:
        for bk in backends.values():
            bk.close()
        try:
            import ray

            ray.shutdown()
        except ImportError:
            pass

    n = len(tasks)
    print(f"{args.env}: one batch = {n} rollouts ({args.directions} antithetic pairs), {steps} env-steps; "
          f"best of {args.repeats} rounds; all backends bit-identical to serial")
    print(f"{'backend':<14} {'batch s':>8} {'env-steps/s':>12} {'rollouts/s':>11} {'vs serial':>10}")
    for name, t in best.items():
        print(f"{name:<14} {t:8.3f} {steps / t:12.0f} {n / t:11.1f} {best['serial'] / t:9.2f}x")
    print(f"{os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.1f} (other processes share the CPUs)")
    print("start-up (once per run): " + ", ".join(f"{k} {v:.1f} s" for k, v in startup.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
