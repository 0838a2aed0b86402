"""What a rule adapting TRES's sigma or step on MuJoCo could read: four signals along fixed runs.

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
* ``step_cos``: the cosine of ``g`` with the step ``theta_k - theta_{k-1}`` that led to
  ``theta_k``: the sign of the directional derivative along the last step, which two-point
  step-size adaptation reads (Hansen 2008, "CMA-ES with two-point step-size adaptation"):
  ``> 0`` when going further along the step still gains (steps too short), ``< 0`` when it
  overshot (too long) -- or, measured on Walker2d, when the mean wanders around a local optimum,
  whatever the step (``benchmarks/results/thresholds_tres/step_cos_rule/``).

    python benchmarks/bench_sigma_signals.py --envs HalfCheetah-v5 Hopper-v5 --sigmas 0.02 0.03 --seeds 1 \\
        --budget 1000000 --json benchmarks/results/sigma_signals.json

    python benchmarks/bench_sigma_signals.py --envs Walker2d-v5 --sigmas 0.03 --K 15 5 --seeds 0 1 2 --budget 1000000
    python benchmarks/bench_sigma_signals.py --envs HalfCheetah-v5 --sigmas 0.03 --K 15 5 --seeds 0 1 --budget 1000000

(raw results of these two: ``benchmarks/results/step_signals_K.json``)

``--progress RUN ...`` trains nothing and reads what STRO's ratio test (eq. 4.14, radius rule eq.
3.4 / 4.16) would see along finished runs (their run folders' ``progress.csv``): the actual gain
of each iteration, ``eta_hat_{k+1} - eta_hat_k`` (the mean training return of the next batch
minus this one's, the numerator of ``r_k``), and its ``z``, the gain over its standard error
``sqrt(s_k^2 / n_k + s_{k+1}^2 / n_{k+1})`` (``s`` a batch's standard deviation of returns, eq.
4.2; ``n`` its episodes); per quarter of the run, the mean ``z``, the share of iterations with a
non-negative gain (where eq. 4.16 with STRO sec. 5.1's ``beta0 = beta1 = 0`` enlarges the
radius) and with ``|z| > 2`` (4.6% under pure noise); over the run also the share of significant
falls, ``z < -2`` (2.3% under pure noise). Raw output for the run
folders of the README's threshold runs (``--runs-dir`` of ``bench_thresholds.py``):
``benchmarks/results/ratio_signal.json``.

    python benchmarks/bench_sigma_signals.py --progress RUNS/Ant-v5-tres-sigma=0.012-lr=2.5-seed* \\
        RUNS/Walker2d-v5-tres-sigma=0.03-seed* --json ratio_signal.json

Each run prints the mean of each signal over the first, middle and last third of its iterations,
then over the whole run with its standard error.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile

import numpy as np

from trustopt.components import es_steps
from trustopt.components.es_steps import shaped_utilities
from trustopt.train import read_progress
from trustopt.train.config import TrainConfig
from trustopt.train.trainer import train

SIGNALS = ("G", "rho", "cos", "step_cos", "train_return")


def signals(batch, theta_k, shaping: str, g_prev, step_prev):
    """The signals of one model batch (rows j and j + N/2 an antithetic pair; ``step_prev`` the
    step that led to ``theta_k``, None at the start) and its ``g``."""
    V = shaped_utilities(batch, shaping)
    eps = (batch.actions - theta_k) / batch.states
    half, d = V.size // 2, eps.shape[1]
    dV = V[:half] - V[half:]
    g = dV @ eps[:half]
    return dict(G=float(np.mean(V * ((eps * eps).sum(axis=1) / d - 1.0))), rho=float(g @ g / (d * (dV @ dV))),
                cos=_cos(g, g_prev), step_cos=_cos(g, step_prev), train_return=float(batch.eta)), g


def _cos(u, v) -> float:
    """The cosine of two vectors; nan when one is missing or zero."""
    if v is None:
        return float("nan")
    n = float(np.linalg.norm(u) * np.linalg.norm(v))
    return float(u @ v) / n if n > 0 else float("nan")


def observed_run(env_id: str, sigma: float, seed: int, budget: int, K: int | None = None) -> list[dict]:
    """One ``trustopt train`` TRES run whose step reports the signals of every model batch
    (``K``: TRES's epochs; None: the trainer's default, :func:`trustopt.train.config.tres_epochs`)."""
    log, last_g, last_theta = [], [None], [None]
    propose = es_steps.TRESStep.propose

    def observing(self, model, radius, rng, step_state=None):
        theta_k = np.asarray(model.theta_k, dtype=np.float64)
        step_prev = None if last_theta[0] is None else theta_k - last_theta[0]
        row, last_g[0] = signals(model.batch, theta_k, self.shaping, last_g[0], step_prev)
        last_theta[0] = theta_k.copy()
        log.append(row)
        return propose(self, model, radius, rng, step_state)

    es_steps.TRESStep.propose = observing
    try:
        with tempfile.TemporaryDirectory() as out:
            train(TrainConfig(env_id=env_id, algo="tres", timesteps=budget, seed=seed, sigma=sigma, K=K, eval_every=0),
                  os.path.join(out, "run"), workers=1, backend="serial", progress=False)
    finally:
        es_steps.TRESStep.propose = propose
    return log


def thirds(log: list[dict], key: str) -> list[float]:
    x = np.array([r[key] for r in log])
    return [float(np.nanmean(part)) for part in np.array_split(x, 3)]


def run_mean(log: list[dict], key: str) -> tuple[float, float]:
    """The mean of one signal over a run's iterations and its standard error, the iterations
    taken as independent (successive gradients' cosines are within 0.05 of 0 on every run
    measured, ``cos``)."""
    x = np.array([r[key] for r in log])
    x = x[np.isfinite(x)]
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


def ratio_signal(run_dir: str) -> dict:
    """What STRO's eq. 4.14 ratio sees along a finished run (module docstring, ``--progress``)."""
    p = read_progress(run_dir)
    eta, s = p["train_return_mean"], p["train_return_std"]
    episodes = np.diff(p["episodes"], prepend=0.0)
    gain = np.diff(eta)
    se = np.sqrt(s[:-1] ** 2 / episodes[:-1] + s[1:] ** 2 / episodes[1:])
    z = np.divide(gain, se, out=np.zeros_like(gain), where=se > 0)  # equal constant batches: no signal
    parts = min(4, gain.size)
    quarters = [dict(iterations=int(q.size), mean_z=float(zq.mean()), share_nonnegative=float((q >= 0).mean()),
                     share_abs_z_above_2=float((np.abs(zq) > 2).mean()))
                for q, zq in zip(np.array_split(gain, parts), np.array_split(z, parts))]
    return dict(run=os.path.basename(os.path.normpath(run_dir)), iterations=int(gain.size),
                timesteps=int(p["timesteps"][-1]), mean_gain=float(gain.mean()),
                median_se=float(np.median(se)), mean_z=float(z.mean()), sd_z=float(z.std(ddof=1)),
                share_nonnegative=float((gain >= 0).mean()), share_abs_z_above_2=float((np.abs(z) > 2).mean()),
                share_z_below_minus_2=float((z < -2).mean()), quarters=quarters)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["HalfCheetah-v5", "Hopper-v5"])
    p.add_argument("--sigmas", nargs="+", type=float, default=[0.02, 0.03])
    p.add_argument("--seeds", nargs="+", type=int, default=[1])
    p.add_argument("--budget", type=int, default=1_000_000)
    p.add_argument("--K", nargs="+", type=int, default=[None], help="TRES's epochs (default: the trainer's rule)")
    p.add_argument("--json", default=None)
    p.add_argument("--progress", nargs="+", metavar="RUN", help="train nothing: read these run folders (above)")
    a = p.parse_args(argv)
    if a.progress:
        out = [ratio_signal(run) for run in a.progress]
        for r in out:
            print(f"{r['run']}: {r['iterations']} iterations, gain {r['mean_gain']:.3g} per iteration (median standard "
                  f"error {r['median_se']:.3g}), z {r['mean_z']:.3f} +- {r['sd_z']:.2f}, gain >= 0 in "
                  f"{r['share_nonnegative']:.3f}, |z| > 2 in {r['share_abs_z_above_2']:.3f} (z < -2 in "
                  f"{r['share_z_below_minus_2']:.3f}); by quarter: "
                  + ", ".join(f"z {q['mean_z']:.3f} / >= 0 {q['share_nonnegative']:.2f}" for q in r["quarters"]))
        if a.json:
            with open(a.json, "w") as fh:
                json.dump(dict(args=vars(a), runs=out), fh, indent=1)
        return
    runs = []
    for env_id in a.envs:
        for sigma, K, seed in itertools.product(a.sigmas, a.K, a.seeds):
            log = observed_run(env_id, sigma, seed, a.budget, K)
            runs.append(dict(env=env_id, sigma=sigma, K=K, seed=seed, budget=a.budget, iterations=log))
            print(f"{env_id} sigma={sigma} K={K} seed {seed}, {len(log)} iterations; mean over thirds: "
                  + "; ".join(f"{k} " + " ".join(f"{v:.3g}" for v in thirds(log, k))
                              + " (run {:.3g} +- {:.2g})".format(*run_mean(log, k)) for k in SIGNALS),
                  flush=True)
            if a.json:
                with open(a.json, "w") as fh:
                    json.dump(dict(args=vars(a), runs=runs), fh, indent=1)


if __name__ == "__main__":
    main()
