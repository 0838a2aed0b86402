"""Env-steps/s of an ES batch (and of a policy-gradient batch) through the rollout backends:
1 worker (in-process) vs N processes.

The batch is what the trainer sends each iteration (trustopt.train): 2N antithetic noise-table
perturbations of a linear policy, one episode each, rebuilt by the workers from
``(index, sign)`` (trustopt.workers). For each environment the same batch is run, interleaved
over ``--repeats`` rounds, on ``SerialBackend`` (the baseline, measured in the same run) and on
``ProcessBackend(n)`` for each ``--workers`` n; the best round is reported with the speed-up
over 1 worker. The results are also checked to be identical across backends (same bits).
Process start-up is excluded (the pool is warmed up once, as in a training run).

``--pg-steps S`` (default 10000; 0 skips it) also times one policy-gradient batch per
environment: :class:`trustopt.envs.pg_sampler.MujocoEpisodeSampler` collecting whole episodes
of a Gaussian linear policy until S steps, with GAE and the baseline fit in the driver, in
process and with ``backend=ProcessBackend(n)`` (same bits checked). Trajectories travel back
from the workers, so this batch gains less than the ES batch, which returns only scalars.

    python benchmarks/bench_workers.py                       # Swimmer, HalfCheetah, Hopper; 2 workers
    python benchmarks/bench_workers.py --envs Ant-v5 --workers 2 4 --directions 32
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def main(argv=None) -> int:
    from trustopt.envs import EnvSpec
    from trustopt.noise import NoiseTable
    from trustopt.envs.es_sampler import RolloutJob, RolloutTask, run_rollouts
    from trustopt.workers import ProcessBackend, SerialBackend

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", nargs="+", default=["Swimmer-v5", "HalfCheetah-v5", "Hopper-v5"])
    ap.add_argument("--workers", nargs="+", type=int, default=[2])
    ap.add_argument("--directions", type=int, default=8, help="antithetic pairs per batch (2N episodes)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pg-steps", type=int, default=10000, help="steps of the policy-gradient batch (0: skip)")
    ap.add_argument("--quick", action="store_true", help="Swimmer only, 4 directions, 1 round")
    args = ap.parse_args(argv)
    if args.quick:
        args.envs, args.directions, args.repeats = ["Swimmer-v5"], 4, 1
    warnings.filterwarnings("ignore", category=UserWarning)
    noise = NoiseTable()
    backends = [("1 (in-process)", SerialBackend(noise))]
    backends += [(str(n), ProcessBackend(n_workers=n, noise=noise)) for n in args.workers]
    print(f"ES batch of {2 * args.directions} episodes; best of {args.repeats} interleaved rounds; env steps per second")
    print(f"{'env':<18}{'workers':>16}{'steps':>8}{'steps/s':>10}{'speed-up':>10}")
    try:
        for env_id in args.envs:
            spec = EnvSpec(env_id=env_id)
            env = spec.make()
            rng = np.random.default_rng(0)
            d = env.obs_dim * env.act_dim
            job = RolloutJob(env=spec, theta=rng.normal(scale=0.05, size=d), sigma=0.02,
                             obs_mean=np.zeros(env.obs_dim), obs_std=np.ones(env.obs_dim), act_dim=env.act_dim,
                             obs_dim=env.obs_dim, remove_survival_bonus=True)
            idx = noise.sample_index(rng, d, args.directions)
            tasks = [RolloutTask(index=int(i), sign=s, seed=int(k)) for s in (1.0, -1.0)
                     for k, i in enumerate(idx)]
            for _, bk in backends:  # warm up: env construction, pool start
                run_rollouts(bk, job, tasks[:2])
            best = {name: np.inf for name, _ in backends}
            results = {}
            for _ in range(args.repeats):
                for name, bk in backends:
                    t0 = time.perf_counter()
                    res = run_rollouts(bk, job, tasks)
                    best[name] = min(best[name], time.perf_counter() - t0)
                    results[name] = [(r.train_return, r.length) for r in res]
            ref = results[backends[0][0]]
            assert all(v == ref for v in results.values()), "backends disagree"
            steps = sum(n for _, n in ref)
            base = steps / best[backends[0][0]]
            for name, _ in backends:
                sps = steps / best[name]
                print(f"{env_id:<18}{name:>16}{steps:>8}{sps:>10.0f}{sps / base:>10.2f}", flush=True)
            if args.pg_steps:
                _pg_batch(spec, backends, args.pg_steps, args.repeats)
            env.close()
    finally:
        for _, bk in backends:
            bk.close()
    return 0


def _pg_batch(spec, backends, steps, repeats) -> None:
    """One TRPO-style batch of ``steps`` steps per backend, best of ``repeats`` interleaved rounds."""
    from trustopt.algorithms import get
    from trustopt.envs.pg_sampler import MujocoEpisodeSampler

    method = get("trpo")(spec, batch_steps=steps)
    theta = method.theta0 + np.random.default_rng(1).normal(scale=0.05, size=method.theta0.size)
    samplers = [(name, MujocoEpisodeSampler(env=spec, batch_steps=steps, backend=bk)) for name, bk in backends]
    for _, smp in samplers:  # warm up, untimed: the first batch compiles the GAE and baseline kernels
        smp.sample(method.policy, theta, np.random.default_rng(2), None)
    best, batches = {name: np.inf for name, _ in samplers}, {}
    for _ in range(repeats):
        for name, smp in samplers:
            t0 = time.perf_counter()
            batches[name] = smp.sample(method.policy, theta, np.random.default_rng(2), None)
            best[name] = min(best[name], time.perf_counter() - t0)
    ref = batches[samplers[0][0]]
    assert all(b.adv.tobytes() == ref.adv.tobytes() for b in batches.values()), "backends disagree"
    base = ref.n_samples / best[samplers[0][0]]
    for name, _ in samplers:
        sps = ref.n_samples / best[name]
        print(f"{spec.env_id + ' (PG)':<18}{name:>16}{ref.n_samples:>8}{sps:>10.0f}{sps / base:>10.2f}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
