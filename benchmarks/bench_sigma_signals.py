"""What a rule adapting TRES's sigma on MuJoCo could read: three signals along fixed-sigma runs.

The threshold benchmark (``bench_thresholds.py``) shows that no fixed ``sigma`` is best on every
task (0.03 ahead of 0.02 on HalfCheetah and Swimmer, behind on Hopper). A rule that sets
``sigma`` from the batches needs a statistic that says which way to go. This script observes the
model batch of every iteration of ``trustopt train``'s TRES (the paper mode, ``sigma`` fixed) and
records, with ``eps_n = (x_n - theta_k) / sigma`` the ``N`` directions (``N/2`` antithetic pairs
``j``), ``V_n`` the centered ranks of the returns and ``dV_j = V_j+ - V_j-``:

* ``G = mean_n V_n (||eps_n||^2 / d - 1)``: the natural gradient of the ranked expected return
  in ``log sigma`` (IGO, Ollivier, Arnold, Auger & Hansen 2017; xNES's sigma update, Glasmachers
  et al. 2010). ``G > 0``: a larger ``sigma`` ranks better.
* ``rho = ||g||^2 / (d sum_j dV_j^2)`` with ``g = sum_j dV_j eps_j+``: 1 in expectation when the
  ranks are independent of the directions (pure noise), ``rho - 1`` the squared signal-to-noise
  ratio of the rank-weighted gradient.
* ``cos``: the cosine of successive ``g``, the correlation that cumulative step-size adaptation's
  path length measures (Hansen & Ostermeier 2001); about ``+-1/sqrt(d)`` under pure noise.

    python benchmarks/bench_sigma_signals.py --envs HalfCheetah-v5 Hopper-v5 --sigmas 0.02 0.03 --seeds 1 \
        --budget 1000000 --json benchmarks/results/sigma_signals.json

Each run prints the mean of each signal over the first, middle and last third of its iterations.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import numpy as np

from trustopt.components import es_steps
from trustopt.components.es_steps import shaped_utilities
from trustopt.train.config import TrainConfig
from trustopt.train.trainer import train

SIGNALS = ("G", "rho", "cos", "train_return")


def signals(batch, theta_k, shaping: str, g_prev):
    """The signals of one model batch (rows j and j + N/2 an antithetic pair) and its ``g``."""
    V = shaped_utilities(batch, shaping)
    eps = (batch.actions - theta_k) / batch.states
    half, d = V.size // 2, eps.shape[1]
    dV = V[:half] - V[half:]
    g = dV @ eps[:half]
    cos = float(g @ g_prev / (np.linalg.norm(g) * np.linalg.norm(g_prev))) if g_prev is not None else float("nan")
    return dict(G=float(np.mean(V * ((eps * eps).sum(axis=1) / d - 1.0))), rho=float(g @ g / (d * (dV @ dV))),
                cos=cos, train_return=float(batch.eta)), g


def observed_run(env_id: str, sigma: float, seed: int, budget: int) -> list[dict]:
    """One ``trustopt train`` TRES run whose step reports the signals of every model batch."""
    log, last_g = [], [None]
    propose = es_steps.TRESStep.propose

    def observing(self, model, radius, rng, step_state=None):
        row, last_g[0] = signals(model.batch, np.asarray(model.theta_k), self.shaping, last_g[0])
        log.append(row)
        return propose(self, model, radius, rng, step_state)

    es_steps.TRESStep.propose = observing
    try:
        with tempfile.TemporaryDirectory() as out:
            train(TrainConfig(env_id=env_id, algo="tres", timesteps=budget, seed=seed, sigma=sigma, eval_every=0),
                  os.path.join(out, "run"), workers=1, backend="serial", progress=False)
    finally:
        es_steps.TRESStep.propose = propose
    return log


def thirds(log: list[dict], key: str) -> list[float]:
    x = np.array([r[key] for r in log])
    return [float(np.nanmean(part)) for part in np.array_split(x, 3)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["HalfCheetah-v5", "Hopper-v5"])
    p.add_argument("--sigmas", nargs="+", type=float, default=[0.02, 0.03])
    p.add_argument("--seeds", nargs="+", type=int, default=[1])
    p.add_argument("--budget", type=int, default=1_000_000)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    runs = []
    for env_id in a.envs:
        for sigma in a.sigmas:
            for seed in a.seeds:
                log = observed_run(env_id, sigma, seed, a.budget)
                runs.append(dict(env=env_id, sigma=sigma, seed=seed, budget=a.budget, iterations=log))
                print(f"{env_id} sigma={sigma} seed {seed}, {len(log)} iterations; mean over thirds: "
                      + "; ".join(f"{k} " + " ".join(f"{v:.3g}" for v in thirds(log, k)) for k in SIGNALS),
                      flush=True)
                if a.json:
                    with open(a.json, "w") as fh:
                        json.dump(dict(args=vars(a), runs=runs), fh, indent=1)


if __name__ == "__main__":
    main()
