"""Uncertainty handling for a noisy objective: re-evaluate a few samples of each batch, measure how
much their ranks change, and raise ``sigma`` while the noise decides the ranking.

Where to read: Hansen, Niederberger, Guzzella & Koumoutsakos 2009, "A Method for Handling
Uncertainty in Evolutionary Optimization With an Application to Feedback Control of Combustion"
(IEEE TEC 13(1)), sec. III (the measurement) and sec. IV (the treatment by ``sigma``); pycma's
``NoiseHandler`` documents the constants it uses (below). The ask/tell driver
(:class:`trustopt.asktell.AskTell`, ``noise_handling=True``) asks the ``m`` re-evaluations with
each batch and applies the treatment between iterations.

The measurement, for a batch of ``lambda`` values ``f_1..f_lambda`` of which the first ``m`` are
evaluated again, ``f'_1..f'_m`` (the first ``m`` rows; with i.i.d. samples a random subset)::

    L       = (f_1, ..., f_lambda, f'_1, ..., f'_m)         N = lambda + m values, ranks 1..N
    Delta_i = #{v in L : min(f_i, f'_i) < v < max(f_i, f'_i)}   the values strictly between the two
    lim(R)  = the (50 theta)-th percentile of |j - R| - 1 over j != R  (Delta of a value placed at
              random, for a value at rank R; the paper's Delta_theta^lim)
    s       = mean_i (2 Delta_i - lim(rank f_i) - lim(rank f'_i))

Without noise ``f'_i = f_i``: nothing lies strictly between them, ``Delta_i = 0`` and ``s < 0``,
also where other values tie with them (a plateau, or failed evaluations, all imputed alike). The
more the noise moves ``f'_i`` away from ``f_i`` among the batch's values, the larger ``Delta_i``.
The treatment smooths ``s`` over iterations, ``s_bar <- (1 - c_s) s_bar + c_s s``, and multiplies
``sigma`` by ``alpha_sigma`` while ``s_bar > 0``, but not past the point where the largest
coordinate standard deviation is ``sigma0`` (the user's initial scale; CMA-ES's own step-size
rule may still go beyond): the wider distribution puts the samples' true differences above the
noise, where CMA-ES's step-size rules, reading random selection as convergence, would shrink
``sigma`` further. Without that bound, BBOB's severe multiplicative noise drove ``sigma`` up for
good (README, "Noisy objectives").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from trustopt.components.gaussian import GaussianState

__all__ = ["THETA", "C_S", "n_reevaluations", "alpha_sigma", "rank_change", "widened"]

#: ``theta`` in the paper's notation (``lim`` at the ``50 theta``-th percentile): 1, the median of a
#: random placement's ``Delta``, so that ``sigma`` grows once the rank changes are about those of
#: random values. Hansen et al. 2009 use 0.2 and pycma 0.5, which raise it already at a moderate
#: noise. Measured with ``benchmarks/bench_noise.py`` (median true f of the final mean; theta 0.2 /
#: 0.5 / 1): Rosenbrock d = 10 + N(0, 1), 5 seeds, 7.6 / 1.3 / 0.99; the sphere d = 5 + N(0, 1), 8
#: seeds, 0.56 / 0.30 / 0.35; the sphere d = 5 times (1 + 0.5 N(0, 1)), 5 seeds, 1.3 / 3.5e-3 /
#: 1.6e-14 (without handling 1.7e-13): the smaller values keep ``sigma`` too wide there.
THETA = 1.0

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


def widened(state: GaussianState, sigma0: float) -> GaussianState:
    """The treatment of one iteration with ``s_bar > 0``: ``state`` with ``sigma`` times
    ``alpha_sigma(d)``, but not past the point where its largest coordinate standard deviation is
    ``sigma0`` (and never narrower). The bound reads ``sigma sqrt(C_ii)``, without the scaling
    ``v`` that keeps integer coordinates at their lower bound (which may exceed ``sigma0``)."""
    factor = min(alpha_sigma(state.D.size), max(1.0, sigma0 / replace(state, v=None).max_std()))
    return replace(state, sigma=state.sigma * factor)


def rank_change(f: np.ndarray, f_again: np.ndarray, theta: float | None = None) -> float:
    """``s`` of the module docstring for the batch values ``f (lambda,)`` and the re-evaluations
    ``f_again (m,)`` of its first ``m`` samples (``theta``: default :data:`THETA`). Non-finite values
    count as ``+inf``, the worst (the driver's imputation)."""
    theta = THETA if theta is None else theta
    f, f_again = np.asarray(f, dtype=float), np.asarray(f_again, dtype=float)
    m, n = f_again.size, f.size + f_again.size
    L = np.concatenate([f, f_again])
    L = np.where(np.isfinite(L), L, np.inf)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(L, kind="stable")] = np.arange(1, n + 1)
    j = np.arange(1, n + 1)

    def lim(r):  # Delta's (50 theta)-th percentile for a value at rank r, the other placed at random
        return np.percentile(np.abs(j[j != r] - r) - 1, 50.0 * theta)

    s = 0.0
    for i in range(m):
        a, b = L[i], L[f.size + i]
        delta = np.count_nonzero((L > min(a, b)) & (L < max(a, b)))
        s += 2 * delta - lim(rank[i]) - lim(rank[f.size + i])
    return s / m
