"""Integer variables for the CMA-ES search: a lower bound on their standard deviations, and
integer centering of the selected samples.

Where to read: Hansen 2011, "A CMA-ES for Mixed-Integer Nonlinear Optimization" (INRIA research
report RR-7751), and Marty, Semet, Auger, Hansen & Hamano 2024, "LB+IC-CMA-ES: Two Simple
Modifications of CMA-ES to Handle Mixed-Integer Problems" (PPSN 2024), whose LB+IC this is; pycma
(``integer_variables``) implements both and documents the bound's constants (below).

The search runs on continuous coordinates and :meth:`trustopt.bounds.Box.to_box` rounds the integer
ones before ``f`` sees them, so ``f`` is piecewise constant along them. Once the standard deviation
``sigma_i = sigma sqrt(C_ii)`` of an integer coordinate falls well below 1/2, nearly every sample
rounds to the integer of the mean: the coordinate stops moving, the ranking no longer says where
its better integers lie, and the run stalls on a plateau that may not hold the optimum. The bound
keeps ``sigma_i >= sigma_min``, so that a fixed share of the samples still tries a neighbouring
integer::

    sigma_min = min(0.2, mu_eff / d, (1/2) / |Phi^-1(p / 2)|),   p = 2 / (2 + d + d_int)

(``d`` the searched coordinates, ``d_int`` the integer ones among them, ``Phi^-1`` the standard
normal quantile; with the mean centered on an integer, ``p`` is about the probability that a sample
leaves that integer, about ``1/d``, so about 1 - 1/e of the samples keep it). The bound is met
between iterations by a per-coordinate scaling ``v`` outside ``C`` (the distribution is
``N(m, sigma^2 V C V)``; pycma's ``sigma_vec``), raised by ``sigma_min / sigma_i`` where needed: a
stretch of the distribution along the integer axes only. Putting it into ``C`` instead (``C <- S C
S``) was tried first: ``C``'s condition number then grows as the continuous coordinates converge
under the fixed integer spread, and ``conditioncov`` (1e14) ended runs at ``f ~ 1e-9`` (a separable
ellipsoid, d = 10, five integer coordinates).

The other half of LB+IC, integer centering (:func:`centered`), acts on the selected samples before
each update: a selected sample that reached another integer counts as that integer's center, and
the shift this gives the mean is taken back from the selected samples that stayed in the mean's
integer, towards its center. The mean then moves into a better integer at once and otherwise
stays near the center of its own, where fewer samples leave it by chance (without it, on BBOB's
separable ellipsoid f2 with 10 integer coordinates in d = 20, the mean's integer coordinates sat up
to 0.4 from their integers, and a sample that jumps there ranks by that jump). The population
(:func:`default_popsize`) is pycma's for integer variables too.

The stopping tests change (:func:`stopping`, applied by :class:`trustopt.asktell.AskTell`), and
``tolx`` no longer fires: the integer coordinates' standard deviations stay at the bound, and
``opt.sigma()``, the largest of them all, with them.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from scipy.special import ndtri

from trustopt.components.gaussian import GaussianState, cma_constants

__all__ = ["centered", "default_popsize", "flat_batches", "floored", "std_floor", "stopping"]


def default_popsize(d: int, d_int: int) -> int:
    """``lambda = floor(6 + 3 (ln d + ln d_int))`` for ``d`` searched coordinates of which ``d_int >= 1``
    are integer (pycma's default with ``integer_variables``), where the continuous default is
    ``4 + floor(3 ln d)``: samples that leave the mean's integers in several coordinates at once
    rank by those jumps, and a larger batch keeps enough of them that rank by the continuous
    coordinates. Measured (``benchmarks/bench_integer.py``, BBOB f2 with its 10 even coordinates
    integer, d = 20, instances 1-6): 6 of 6 runs reach the target with 21, 3 of 6 with the
    continuous default 12 (0 of 6 without integer centering)."""
    return int(6 + 3 * (math.log(d) + math.log(d_int)))


def flat_batches(d: int, d_int: int) -> int:
    """How many consecutive flat batches (:func:`~trustopt.components.gaussian.flat_batch`) end a run
    with integer coordinates: ``ceil(3 + 30 d_int / d)`` (pycma's ``tolflatfitness`` with
    ``integer_variables``), where one ends a continuous run. Samples that keep the mean's integers
    tie wherever the continuous coordinates do not separate them; every coordinate integer, about
    1 - 1/e of a batch does (the bound's ``p``), and one flat batch says little."""
    return math.ceil(3 + 30 * d_int / d)


def stopping(out: dict, flat_in_a_row: int, d: int, d_int: int) -> dict:
    """The stopping tests of a run with ``d_int`` integer coordinates among its ``d``, from ``out``,
    those a continuous run would report (its ``tolstagnation`` read on the batches' best values
    alone: their medians stay high where a sample that leaves its integer is expensive):

    - ``tolflatfitness`` only after :func:`flat_batches` flat batches in a row
      (``flat_in_a_row``): samples that keep the mean's integers tie, and one flat batch is no
      plateau;
    - with every coordinate integer, no ``tolfun`` and no ``tolfunhist``: ``f`` only changes when
      a sample leaves the mean's integers, which at the bound's spread takes more batches than
      their windows (pycma turns both off there too)."""
    out = dict(out)
    if out.pop("tolflatfitness", None) and flat_in_a_row >= flat_batches(d, d_int):
        out["tolflatfitness"] = (f"the best and the lambda/4-th best value were equal in the last "
                                 f"{flat_in_a_row} batches")
    if d_int == d:
        out.pop("tolfun", None)
        out.pop("tolfunhist", None)
    return out


def std_floor(d: int, popsize: int, d_int: int, *, diagonal: bool = False) -> float:
    """``sigma_min`` of the module docstring for ``d`` searched coordinates of which ``d_int`` are
    integer, at ``lambda = popsize`` (pycma's ``integer_std_lower_bound``: the same three terms)."""
    mu_eff = cma_constants(d, popsize, diagonal=diagonal).mu_eff
    p = 2.0 / (2.0 + d + d_int)
    return float(min(0.2, mu_eff / d, 0.5 / -ndtri(p / 2.0)))


def floored(state: GaussianState, floor: np.ndarray) -> GaussianState:
    """``state`` with every standard deviation ``sigma v_i sqrt(C_ii)`` below ``floor (d,)`` raised to
    it (0 where a coordinate has no bound), by ``v_i <- v_i floor_i / sigma_i``: the scaling outside
    ``C`` (:class:`~trustopt.components.gaussian.GaussianState`), so that ``C``, its paths and its
    condition number stay those of the coordinates ``x / v``. ``state`` itself when no coordinate
    is below its bound."""
    s = np.maximum(1.0, floor / state.std())
    if np.all(s == 1.0):
        return state
    return replace(state, v=s if state.v is None else state.v * s)


def centered(U: np.ndarray, F: np.ndarray, u_m: np.ndarray, mu: int, integer: np.ndarray,
             lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integer centering of the selected samples (the module docstring's "IC"), before the update.

    ``U (lambda, d)`` the batch's samples and ``u_m (d,)`` the mean, in coordinates where an integer
    coordinate's value is ``round(u)`` on ``[lo_i, hi_i]`` (where the box's map is the identity);
    ``F (lambda,)`` the values (to maximize); ``mu`` the number CMA's update selects (its positive
    recombination weights); ``integer (d,)`` bool. Returns a copy of ``U`` in
    which, for each integer coordinate ``i`` whose mean's integer ``k_m = round(u_m,i)`` lies in
    ``[lo_i, hi_i]``, among the selected samples there:

        a sample in another integer's cell moves to its center:   u_ji <- k_j = round(u_ji)
        b = sum_j (k_j - u_ji) over those moves (the shift they add)
        a = sum_j (k_m - u_ji) over the samples in the mean's cell
        if a b < 0, those samples move towards k_m:               u_ji <- u_ji + min(1, -b / a) (k_m - u_ji)

    so that a sample which reached another integer pulls the mean into that integer's cell as a
    sample at its center would, and the shift that adds is taken back, as far as it goes, from the
    samples that stayed, towards their center (Marty et al. 2024, as pycma's ``IntegerCentering``
    describes it). No move changes a sample's ``round(u)``: the values ``F`` stay those of the
    samples. The sums are plain ones over the selected samples, as pycma's: weighted by the
    recombination weights (the shift of the weighted mean exactly), measured on
    ``benchmarks/bench_integer.py``, instances 1-10, Rosenbrock f8 at d = 20 ended at a median
    ``f - f_opt`` of 91 against 18.9 and the rotated ellipsoid f10 at 1.6e4 against 1.1e4, with
    f2 level (14,606 against 14,385 evaluations to the target)."""
    U = np.array(U)
    selected = np.argsort(-np.asarray(F), kind="stable")[:mu]
    for i in np.flatnonzero(integer):
        k_m = np.round(u_m[i])
        if not lo[i] <= k_m <= hi[i]:
            continue
        u = U[selected, i]
        k = np.round(u)
        usable = (lo[i] <= u) & (u <= hi[i]) & (lo[i] <= k) & (k <= hi[i])
        away, home = usable & (k != k_m), usable & (k == k_m)
        new = np.where(away, k, u)
        b = float(np.sum(new - u))
        a = float(np.sum(np.where(home, k_m - u, 0.0)))
        if a * b < 0:
            new = np.where(home, u + min(1.0, -b / a) * (k_m - u), new)
        U[selected, i] = new
    return U
