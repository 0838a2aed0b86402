"""Uncertainty handling for a noisy objective: re-evaluate a few samples of each batch, measure how
much their ranks change, and raise ``sigma`` while the noise decides the ranking.

Where to read: Hansen, Niederberger, Guzzella & Koumoutsakos 2009, "A Method for Handling
Uncertainty in Evolutionary Optimization With an Application to Feedback Control of Combustion"
(IEEE TEC 13(1)), sec. III (the measurement) and sec. IV (the treatment by ``sigma``); pycma's
``NoiseHandler`` documents the constants it uses (below). The ask/tell driver
(:class:`trustopt.asktell.AskTell`, ``noise_handling=True``) asks the ``m`` re-evaluations with
each batch and applies the treatment between iterations.

The measurement, for a batch of ``lambda`` values ``f_1..f_lambda`` of which the first ``m`` are
evaluated again, ``f'_1..f'_m`` (the samples are i.i.d., so the first ``m`` are a random subset)::

    L      = (f_1, ..., f_lambda, f'_1, ..., f'_m)          ranks 1..N in L, N = lambda + m
    Delta_i = |rank(f'_i) - rank(f_i)| - 1                 values of L strictly between the two
    lim(R) = the theta-quantile of |j - R| - 1 over j != R  (Delta of a value placed at random)
    s      = mean_i (2 Delta_i - lim(rank f_i) - lim(rank f'_i))

Without noise ``f'_i = f_i`` (ties rank the first evaluation first), ``Delta_i = 0`` and ``s < 0``;
the more the noise moves ``f'_i`` away from ``f_i`` in the batch, the larger ``Delta_i``; with
``theta = 0.5`` (below) ``s`` is just above 0 on average when ``f'_i`` falls anywhere at random
(0.7 for ``lambda = 10``, ``m = 2``), and a noise a tenth of the true values' spread reads about -4. The treatment smooths ``s`` over
iterations, ``s_bar <- (1 - c_s) s_bar + c_s s``, and multiplies ``sigma`` by ``alpha_sigma`` while
``s_bar > 0``: the wider distribution puts the samples' true differences above the noise, where
CMA-ES's step-size rules, reading random selection as convergence, would shrink ``sigma`` further.
"""

from __future__ import annotations

import numpy as np

__all__ = ["THETA", "C_S", "n_reevaluations", "alpha_sigma", "rank_change"]

#: ``theta``: the quantile of random rank changes a measured one is compared with: pycma's 0.5, where
#: ``s > 0`` once the rank changes are about those of a random placement. Hansen et al. 2009's 0.2
#: raises ``sigma`` already when the noise is about a third of the spread of the true values: on the
#: sphere with multiplicative noise ``f (1 + 0.5 N(0, 1))`` (d = 5, 5 seeds) it drove ``sigma`` up for
#: good (median true f of the final mean 2.5e3, against 2e-14 with 0.5 and 1.7e-13 without handling;
#: ``benchmarks/bench_noise.py``), and it was behind 0.5 on Rosenbrock with additive noise (README,
#: "Noisy objectives").
THETA = 0.5

#: ``c_s``: the smoothing of ``s`` over iterations (pycma's value: with ``m = 2`` re-evaluations one
#: iteration's ``s`` is too noisy to act on; the paper's 1 acts on each).
C_S = 0.3


def n_reevaluations(popsize: int) -> int:
    """``m``, the samples of each batch evaluated again: ``2 + floor(lambda / 20)`` (pycma's
    ``2 + lambda / 20``, rounded down; the measurement needs at least two)."""
    return 2 + popsize // 20


def alpha_sigma(d: int) -> float:
    """``alpha_sigma = 1 + 2 / (d + 10)``, the factor on ``sigma`` per iteration while ``s_bar > 0``
    (Hansen et al. 2009; pycma's ``alphasigma``)."""
    return 1.0 + 2.0 / (d + 10.0)


def rank_change(f: np.ndarray, f_again: np.ndarray, theta: float | None = None) -> float:
    """``s`` of the module docstring for the batch values ``f (lambda,)`` and the re-evaluations
    ``f_again (m,)`` of its first ``m`` samples. Non-finite values rank last (the driver's
    imputation); ties keep ``L``'s order (a deterministic ``f`` measures ``s < 0``)."""
    theta = THETA if theta is None else theta
    f, f_again = np.asarray(f, dtype=float), np.asarray(f_again, dtype=float)
    m, n = f_again.size, f.size + f_again.size
    values = np.where(np.isfinite(all_ := np.concatenate([f, f_again])), all_, np.inf)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(values, kind="stable")] = np.arange(1, n + 1)
    r_first, r_again = rank[:m], rank[f.size:]
    delta = np.abs(r_again - r_first) - 1
    j = np.arange(1, n + 1)

    def lim(r):  # the theta-quantile of a random placement's Delta, for a value at rank r
        return np.quantile(np.abs(j[j != r] - r) - 1, theta)

    return float(np.mean([2 * delta[i] - lim(r_first[i]) - lim(r_again[i]) for i in range(m)]))
