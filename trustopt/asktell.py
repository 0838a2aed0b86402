"""Ask/tell for the evolution-strategy family: one adapter, :class:`AskTell`, for every registered
ES method, and the named classes :class:`ES`, :class:`ARS`, :class:`TRES`, :class:`TrustRegionES`,
:class:`TrustRegionCMA`.

Where to read: :mod:`trustopt.core.loop` (THE loop, STRO Alg. 3.1 / 4.3, written as ask/tell);
:mod:`trustopt.components.search` (the batch layout, how samples are drawn); the factories in
:mod:`trustopt.algorithms` (each method's components and defaults). ``trustopt.minimize``
(:mod:`trustopt.optimize`) drives these classes the way ``scipy.optimize.minimize`` is called.

The adapter (1) turns the loop's request "a batch at ``theta``" into a :class:`Draw` of the
method's :class:`~trustopt.components.search.PerturbationSampler` (``x = theta +- sigma_k eps``),
(2) turns the told values into a loop :class:`~trustopt.core.types.Batch` and (3) calls
:func:`trustopt.core.loop.tell`. It owns only what the loop does not: ``sigma_k`` (a function of
the loop's radius parameter), the evaluation counters, the best point and the stopping tests::

    opt = TRES(x0, sigma0, seed=0)          # = AskTell(algorithms.get("tres")(theta0=x0, sigma0=sigma0), seed=0)
    while not opt.stop():
        X = opt.ask()                       # (n_asked, d): popsize points (and noise_handling's repeats)
        opt.tell(X, [f(x) for x in X])      # values to MINIMIZE
    opt.result                              # scipy.optimize.OptimizeResult

Conventions:

* MINIMIZATION: ``tell(X, values)`` takes ``f(x)``; the loop maximizes ``F = -f`` (its ``eta`` is
  ``-mean f``). To maximize a reward ``R``, tell ``-R``.
* Bounds (``bounds=``, scipy's forms): the samples live in an unbounded internal space and
  ``ask`` returns their images in the box (:mod:`trustopt.bounds`); ``mean`` is in the box too.
* NaN / inf (and, in ``minimize`` with ``on_error="impute"``, exceptions told as NaN) get the
  WORST finite value of their batch (:func:`~trustopt.components.search.impute_nonfinite`), so
  they never pull the iterate; a batch with no finite value gives a zero model and the loop keeps
  the iterate. They are counted (``n_nonfinite``, ``n_exceptions``) and never become ``result.x``;
  when every evaluation failed the result says so (``status`` 3, ``fun = inf``, ``x`` the start).
* Noisy objectives (``noise_handling=True``, ``trust-region-cma`` only): each ask appends
  ``m = 2 + floor(popsize / 20)`` rows that repeat the batch's first ``m`` points; their rank
  changes measure the noise and ``sigma`` grows while it decides the ranking
  (:mod:`trustopt.components.uncertainty`, Hansen et al. 2009). The update uses the mean of a
  repeated point's two values.
* Reproducibility: all randomness comes from one ``np.random.Generator`` seeded by ``seed`` and
  the noise table; evaluation happens outside the state, so the result is the same for any
  number of worker processes, and a pickled optimizer resumes the same trajectory.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Callable, ClassVar

import numpy as np
from scipy.optimize import OptimizeResult

from trustopt._validation import (ValidationError, as_float_array, check_bool, check_count, check_int,
                                  check_nonnegative, check_positive, did_you_mean)
from trustopt.algorithms import ES_FAMILY, get
from trustopt.algorithms.ars import ARSOptions
from trustopt.algorithms.es import ESOptions
from trustopt.algorithms.trust_region_cma import TrustRegionCMAOptions
from trustopt.algorithms.tres import TRESOptions
from trustopt.algorithms.trust_region_es import TrustRegionESOptions
from trustopt.bounds import Box, as_box, default_sigma0
from trustopt.components import integers, uncertainty
from trustopt.components.gaussian import GaussianSampler, cma_constants, flat_batch
from trustopt.components.search import Draw, PerturbationSampler, impute_nonfinite, make_batch, tolfun_window
from trustopt.core import loop as core
from trustopt.core.loop import Method
from trustopt.core.types import FAILURE_STATUSES

__all__ = ["AskTell", "HISTORY_COLUMNS", "History", "is_search_method", "ES", "ARS", "TRES", "TrustRegionES", "TrustRegionCMA", "METHODS", "DEFAULT_METHOD", "BoundsWarning",
           "status_of", "as_seed", "all_failed_message", "STATUS_MESSAGES", "MAXFEV_PER_DIM", "checked_maxfev"]

#: The budget when ``maxfev`` is None, as in :func:`trustopt.minimize`: ``maxfev =
#: MAXFEV_PER_DIM * d`` (BBOB's standard budget, 1e4 d; a run usually stops earlier on tolx /
#: tolfun), so that pycma's loop ``while not opt.stop()`` ends on any objective, one unbounded
#: below included. ``maxfev=math.inf``: no budget.
MAXFEV_PER_DIM = 10_000


def checked_maxfev(maxfev, d: int) -> float:
    """The evaluation budget: ``MAXFEV_PER_DIM * d`` for None, ``math.inf`` (pycma's default
    ``maxfevals``: no budget) or a count ``>= 1`` (``1e4`` will do)."""
    if maxfev is None:
        return MAXFEV_PER_DIM * d
    return math.inf if maxfev == math.inf else check_count(maxfev, "maxfev", 1)

#: The layout of a pickled :class:`AskTell`; another layout is refused with a clear message.
_PICKLE_FORMAT = 3
_HISTORY = 20000


#: Columns of a run's per-batch history (``result.history``, ``minimize``'s ``log`` CSV file): the
#: evaluations and iterations so far, the restart (0 in ask/tell), the best f so far, the batch's
#: median f, the sigma it was drawn with, the radius after it, the ratio and KL of the iteration it
#: finished (NaN when it finished none), and ``noise_handling``'s smoothed rank-change measure after
#: the batch (positive while the noise decides the ranking; NaN without it).
HISTORY_COLUMNS = ("nfev", "nit", "restart", "f_best", "f_median", "sigma", "radius", "ratio", "kl", "noise")


class History:
    """Rows of :data:`HISTORY_COLUMNS`, one per batch, kept in column buffers that double when full:
    :meth:`append` is O(1) amortized and :meth:`columns` returns read-only views, O(1), so reading
    ``opt.result`` after every batch stays cheap (building the arrays from a list of rows on every
    read made a 5,000-batch loop 3.4 times slower). A view never changes: later rows are written
    past its end, and a full buffer is copied into a new one."""

    def __init__(self):
        self.n = 0
        self.buffers = {name: np.empty(16, dtype=np.int64 if name in ("nfev", "nit", "restart") else np.float64)
                        for name in HISTORY_COLUMNS}

    def append(self, row: tuple) -> None:
        if self.n == len(self.buffers["nfev"]):
            self.buffers = {name: np.concatenate([b, np.empty_like(b)]) for name, b in self.buffers.items()}
        for b, v in zip(self.buffers.values(), row):
            b[self.n] = v
        self.n += 1

    def columns(self) -> dict:
        """``{column: (n,) array}`` of the rows so far (read-only views)."""
        out = {name: b[: self.n] for name, b in self.buffers.items()}
        for v in out.values():
            v.flags.writeable = False
        return out

    def __len__(self) -> int:
        return self.n


def batch_median(values: np.ndarray) -> float:
    """``np.median`` of a non-empty 1-d float array without NaN, bit for bit (an even size: the
    two middle values' sum halved, as ``np.mean`` of them), without its overhead (about 30 us,
    measured: a tenth of the optimizer's own time per iteration at d = 10)."""
    v = np.sort(values)
    k = v.size // 2
    return float(v[k]) if v.size % 2 else float((v[k - 1] + v[k]) / 2)


class _Recent:
    """The last ``size`` values of a stream of floats, ``values`` oldest first. Appending is O(1)
    amortized (a buffer of up to twice the size, shifted down when full); a list sliced to the
    window after each append copies the whole window each time (measured: 90 us per iteration
    with 20,000 values, a fifth of the optimizer's own time in a long run at d = 1000)."""

    def __init__(self, size: int):
        self.size, self.buffer, self.end = size, np.empty(min(16, 2 * size)), 0

    def append(self, value: float) -> None:
        if self.end == self.buffer.size:
            if self.buffer.size < 2 * self.size:  # grow (doubling) up to twice the window
                grown = np.empty(min(2 * self.buffer.size, 2 * self.size))
                grown[:self.end] = self.buffer
                self.buffer = grown
            else:  # full: keep the newest size - 1 values at the front
                self.buffer[:self.size - 1] = self.buffer[self.end - self.size + 1:self.end]
                self.end = self.size - 1
        self.buffer[self.end] = value
        self.end += 1

    @property
    def values(self) -> np.ndarray:
        """The last ``min(len, size)`` values, oldest first (a view: copy to keep)."""
        return self.buffer[max(0, self.end - self.size):self.end]

    def __len__(self) -> int:
        return min(self.end, self.size)


#: The stopping reasons that count as convergence (``status`` 0, ``success``).
CONVERGED = ("ftarget", "tolx", "tolfun", "tolfunhist", "tolflatfitness", "noeffectaxis", "noeffectcoord")

STATUS_MESSAGES = {0: "converged", 1: "maximum number of function evaluations or iterations reached",
                   2: "stopped by the callback", 3: "every function evaluation failed", 4: "stopped", -1: "running"}


class BoundsWarning(UserWarning):
    """A starting point outside the bounds was clipped into the box, or ``sigma0`` is wider than it."""


def clipped_into_box(box, x0: np.ndarray, stacklevel: int, name: str = "x0") -> np.ndarray:
    """``x0`` clipped into ``box`` (None: no box), with a :class:`BoundsWarning` naming the first
    coordinate outside it (``name``: what the message calls ``x0``)."""
    if box is None:
        return x0
    lo, hi = box.t_lower, box.t_upper  # an integer coordinate: within half a unit of its integers rounds into them
    outside = (x0 < lo) | (x0 > hi)
    if not outside.any():
        return x0
    i = int(np.flatnonzero(outside)[0])
    what = (f"fixed at {box.lower[i]:g}" if box.lower[i] == box.upper[i] else
            f"bounded by [{box.lower[i]:g}, {box.upper[i]:g}]"
            + (" (an integer coordinate)" if box.integer is not None and box.integer[i] else ""))
    warnings.warn(f"{name} is outside the bounds: {name}[{i}] = {x0[i]:g}, {what}; clipped into the box",
                  BoundsWarning, stacklevel=stacklevel + 1)
    return np.clip(x0, lo, hi)


def checked_sigma0(sigma0, d: int, box=None):
    """``sigma0`` as a float ``> 0``, or as a ``(d,)`` array of them: one initial standard deviation
    per coordinate (pycma's ``sigma0`` times ``CMA_stds``), which :func:`search_space` turns into
    the scale of the box. The entry of a coordinate that ``box`` fixes is not read (it becomes 1)."""
    try:
        scalar = np.ndim(sigma0) == 0
    except ValueError:  # a ragged sequence
        raise ValidationError("sigma0: expected a number or one number per coordinate") from None
    if scalar:
        return check_positive(sigma0, "sigma0")
    stds = np.array(as_float_array(sigma0, "sigma0", ndim=1))
    if stds.size != d:
        raise ValidationError(f"sigma0: {stds.size} standard deviations for x0 of {d} coordinates (give one number "
                              f"or one per coordinate)")
    if box is not None:
        stds[~box.free] = 1.0
    bad = np.flatnonzero(~((stds > 0) & np.isfinite(stds)))
    if bad.size:
        raise ValidationError(f"sigma0: every standard deviation must be finite and > 0, got sigma0[{int(bad[0])}] = "
                              f"{float(stds[bad[0]])!r}")
    return stds


def checked_integrality(integrality, d: int) -> np.ndarray | None:
    """``integrality`` (scipy's ``differential_evolution`` argument: ``d`` booleans, True for an
    integer coordinate) as a ``(d,)`` bool array, or None (None or all False). Integers are refused,
    0/1 included: pycma's index list ``integer_variables=[0, 1]`` would read as two flags."""
    if integrality is None:
        return None
    flags = np.asarray(integrality)
    if flags.dtype != bool or flags.ndim != 1 or flags.size != d:  # 0/1 too would read pycma's [0, 1] as flags
        raise ValidationError(f"integrality: expected {d} True/False values, one per coordinate of x0 (scipy's "
                              f"integrality), got {integrality!r}"[:240] + "; pycma's integer_variables=[i, ...] "
                              "is integrality=[True at each i, False elsewhere]")
    return flags if flags.any() else None


def search_space(bounds, sigma0, d: int, stacklevel: int, integrality=None):
    """``(box, sigma0)`` of a search over ``d`` coordinates, as :func:`trustopt.minimize` and the
    ask/tell classes read their arguments: ``bounds`` in scipy's forms (:func:`as_box`); ``sigma0``
    None (:func:`default_sigma0`), a number, or one per coordinate, which becomes the box's scale
    (the internal coordinates ``x_i / sigma0_i``, :mod:`trustopt.bounds`) with ``sigma0 = 1``, for
    every method; ``integrality`` (:func:`checked_integrality`), the box's integer coordinates. A
    ``sigma0`` wider than the box warns; a box that fixes every coordinate is an error."""
    box = as_box(bounds, d, integer=checked_integrality(integrality, d))
    if box is not None and box.n_free == 0:
        raise ValidationError("bounds: every coordinate is fixed (lower = upper): nothing to search")
    if sigma0 is None:
        sigma0 = default_sigma0(box)
        if np.ndim(sigma0) == 0:
            return box, sigma0
    sigma0 = checked_sigma0(sigma0, d, box)
    warn_if_sigma0_exceeds_box(box, sigma0, stacklevel=stacklevel + 1)
    if np.ndim(sigma0) == 0:
        return box, sigma0
    return as_box(box, d, scale=sigma0), 1.0


def warn_if_sigma0_exceeds_box(box, sigma0, stacklevel: int) -> None:
    """A :class:`BoundsWarning` when ``sigma0`` (a number, or one per coordinate) exceeds the finite
    width of ``box`` in a coordinate (the narrowest such): the first samples then spread over the
    whole box and fold back at its faces, and the search spends its first iterations shrinking
    (pycma warns likewise; the default is a quarter of each width)."""
    if box is None:
        return
    stds = np.broadcast_to(sigma0 if box.scale is None else sigma0 * box.scale, box.width.shape)  # in x's units
    finite = np.isfinite(box.width) & (box.width > 0)
    over = np.flatnonzero(finite & (stds > box.width))
    if over.size:
        i = int(over[np.argmin(box.width[over])])
        value = float(stds[i])
        warnings.warn(f"sigma0 = {value:g} exceeds the width {box.width[i]:g} of the bounds in coordinate {i}: "
                      f"the search starts spread over the whole box (the default is a quarter of the width, "
                      f"{0.25 * box.width[i]:g})", BoundsWarning, stacklevel=stacklevel + 1)


def as_seed(seed) -> int:
    """``seed`` as an integer ``>= 0``: given, drawn from a ``np.random.Generator`` or a legacy
    ``np.random.RandomState`` (scipy takes both), or, for None, fresh entropy
    (``np.random.SeedSequence().entropy``), recorded (``opt.seed``, ``result.seed``) so the run can
    be repeated exactly."""
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    if isinstance(seed, np.random.RandomState):
        return int(seed.randint(0, 2**63 - 1, dtype=np.int64))
    return check_int(seed, "seed", 0)


def status_of(reasons: dict, nfev: int, best_f: float) -> int:
    """The ``OptimizeResult.status`` of a run that stopped for ``reasons``: 0 converged (ftarget,
    tolx, tolfun; tolfunhist of the Gaussian search and the trust-region ES; the Gaussian
    search's tolflatfitness, noeffectaxis, noeffectcoord), 1 budget (maxfev, maxiter), 2 stopped
    by the callback, 3 every evaluation failed (``nfev > 0`` and no finite value, whatever else
    stopped it: the constant imputed values would otherwise read as ``tolfun`` convergence), 4
    otherwise (tolstagnation, conditioncov, tolupsigma, iterations, tolxnoise, tolxfailed,
    plateau: the search stopped without converging); -1 running (no reason yet: an intermediate result)."""
    if nfev > 0 and not math.isfinite(best_f):
        return 3
    if not reasons:
        return -1
    if "callback" in reasons:
        return 2
    if any(k in reasons for k in CONVERGED):
        return 0
    return 1 if ("maxfev" in reasons or "maxiter" in reasons) else 4


def all_failed_message(nfev: int, n_exceptions: int, n_nonfinite: int, first_exception: str | None = None) -> str:
    """The message of a run none of whose ``nfev`` evaluations gave a finite value."""
    first = f"; the first exception: {first_exception}" if first_exception else ""
    return (f"{nfev} evaluation(s): {n_exceptions} raised an exception, {n_nonfinite} returned a non-finite "
            f"value{first}; x is the starting point")


def is_search_method(method) -> bool:
    """Whether ``method`` is an ES-family :class:`Method` (its batches are asked and told)."""
    return isinstance(method, Method) and isinstance(method.sampler, (PerturbationSampler, GaussianSampler))


class AskTell:
    """Ask/tell driver of a composed ES :class:`~trustopt.core.loop.Method` (see the module docstring).

    ``AskTell(method, *, seed=None, bounds=None, tolx=1e-11, tolfun=1e-11, ftarget=-inf,
    maxfev=None, maxiter=None, keep_history=True, noise_handling=False)``: ``method`` from a factory of the ES family
    (its sampler a :class:`~trustopt.components.search.SearchSampler`; ``method.theta0`` the
    start, clipped into ``bounds`` with a :class:`BoundsWarning`); ``seed`` as :func:`as_seed`;
    the stopping tests of :meth:`stop` (``maxfev``: None is :data:`MAXFEV_PER_DIM` ``* d``,
    ``math.inf`` no budget); ``keep_history=False`` keeps only :attr:`last_record`;
    ``noise_handling=True`` (a method with a Gaussian search distribution, ``trust-region-cma``):
    uncertainty handling for a noisy ``f`` (module docstring).

    ``d`` is the number of searched coordinates. Bounds that fix coordinates (``lower = upper``):
    a method built on all of them searches them all (the fixed ones map to their value); one built
    on the free ones only, with the bounds given as a :class:`~trustopt.bounds.Box`, searches those,
    and :meth:`ask`, :attr:`mean` and the results complete its points with the fixed values (the
    named classes below do this).
    """

    def __init__(self, method: Method, *, seed=None, bounds=None, tolx: float = 1e-11, tolfun: float = 1e-11,
                 ftarget: float = -math.inf, maxfev: float | None = None, maxiter: int | None = None,
                 keep_history: bool = True, noise_handling: bool = False):
        if not is_search_method(method):
            raise ValidationError("method: expected a Method of the ES family (a factory of "
                                  f"{', '.join(ES_FAMILY)}), got {type(method).__name__}")
        self.method, self.name, self.sampler = method, method.name, method.sampler
        x0 = np.array(method.theta0)
        self.d, self.popsize, self.noise = x0.size, self.sampler.popsize, self.sampler.noise  # d: searched coordinates
        if isinstance(bounds, Box) and bounds.d != x0.size and bounds.n_free == x0.size:
            self.box, x0 = bounds, bounds.embed(x0)  # the method searches the free coordinates of the box
        else:
            self.box = as_box(bounds, self.d)
        x0 = clipped_into_box(self.box, x0, stacklevel=2)
        self.seed = as_seed(seed)
        self.tolx, self.tolfun = check_nonnegative(tolx, "tolx"), check_nonnegative(tolfun, "tolfun")
        self.ftarget = float(ftarget)
        self.maxfev = checked_maxfev(maxfev, self.d)
        self.maxiter = None if maxiter is None else check_count(maxiter, "maxiter", 1)
        self.keep_history = check_bool(keep_history, "keep_history")
        if check_bool(noise_handling, "noise_handling") and not isinstance(self.sampler, GaussianSampler):
            raise ValidationError(f"noise_handling: only for method 'trust-region-cma' (got {self.name!r})")
        self.n_again = uncertainty.n_reevaluations(self.popsize) if noise_handling else 0  # m repeated points
        self.s_bar = 0.0                 # the smoothed rank-change measure (noise_handling)
        self.state = core.start(method, None if self.box is None else self.box.start(x0)[self._searched])
        self.std_floor = self._integer_std_floor()  # (d,) internal units, 0 off the integer coordinates; or None
        if self.std_floor is not None:  # sigma0 below the bound: the first batch already meets it
            initial = self.sampler.state(None, self.d)
            if (g := integers.floored(initial, self.std_floor)) is not initial:
                self.state = replace(self.state, step_state=g)
        self.param0 = self.state.param
        self.rng = np.random.default_rng(np.random.SeedSequence(self.seed))
        self.format, self.pending, self.frame, self.last_step = _PICKLE_FORMAT, None, None, math.inf
        self.nfev = self.n_nonfinite = self.n_exceptions = self.n_failures = 0
        self.best_x, self.best_f = x0, math.inf
        self.history: list = []          # the loop's Records, one per finished iteration (if keep_history)
        self.last_row: tuple | None = None  # the last batch's row of HISTORY_COLUMNS
        self.rows = History()            # every batch's row (if keep_history): result.history, plot_minimize
        self.last_record = None          # the Record of the last finished iteration
        self.recent_f = _Recent(self._tolfun_window())    # mean f of the last model batches (for tolfun)
        self.clean_batches = 0                            # told batches since the last one with a NaN/inf value
        self.flat_batches = 0                             # flat batches in a row (tolflatfitness with integers)
        self.best_history = _Recent(_HISTORY)             # best f of each told batch (for tolstagnation)
        self.median_history = _Recent(_HISTORY)           # median f of each told batch, likewise
        self.last_f = None               # the values of the last told batch
        self.first_range = None          # (range of f, spread) of the first batch whose values differ (tolx on noise)

    def _integer_std_floor(self) -> np.ndarray | None:
        """The lower bound on the standard deviations of the box's integer coordinates among the
        searched ones (:func:`trustopt.components.integers.std_floor`, divided by the box's scale:
        the internal units), 0 elsewhere; None without integer coordinates."""
        integer = None if self.box is None or self.box.integer is None else self.box.integer[self._searched]
        if integer is None or not integer.any():
            return None
        if not isinstance(self.sampler, GaussianSampler):
            raise ValidationError(f"integrality: only for method 'trust-region-cma' (got {self.name!r}), whose "
                                  "standard deviations per coordinate can be bounded")
        floor = integers.std_floor(self.d, self.popsize, int(integer.sum()), diagonal=self.sampler.diagonal)
        scale = 1.0 if self.box.scale is None else self.box.scale[self._searched]
        return np.where(integer, floor / scale, 0.0)

    def _integer_centered(self, draw: Draw, F: np.ndarray) -> np.ndarray:
        """The batch's internal samples after integer centering (:func:`~trustopt.components.integers.centered`),
        read in the box's units ``scale * y``, where the integers are."""
        searched = self._searched
        scale = 1.0 if self.box.scale is None else self.box.scale[searched]
        lo, hi = (bound[searched] for bound in self.box.identity_interval())
        mu = cma_constants(self.d, self.popsize, diagonal=self.sampler.diagonal).mu
        U0 = draw.Y * scale
        U = integers.centered(U0, F, np.asarray(draw.theta) * scale, mu, self.std_floor > 0, lo, hi)
        Y = np.array(draw.Y)
        moved = U != U0  # the others keep their bits (scale * y / scale may round)
        Y[moved] = (U / scale)[moved] if np.ndim(scale) == 0 else (U / scale[None, :])[moved]
        return Y

    # ------------------------------------------------------------------ the search distribution
    @property
    def _searched(self):
        """The coordinates of the box the method searches: the free ones, or all of them (a method built on
        all ``d`` coordinates of a box that fixes some)."""
        return slice(None) if self.box is None or self.box.d == self.d else self.box.free

    @property
    def mean(self) -> np.ndarray:
        """``theta_k``, the mean of the search distribution (with bounds: its image in the box)."""
        return np.array(self.state.theta) if self.box is None else self.box.to_box(self.state.theta)

    @property
    def n_asked(self) -> int:
        """Rows per :meth:`ask`: ``popsize``, plus the repeated points of ``noise_handling``."""
        return self.popsize + self.n_again

    @property
    def sigma0(self) -> float:
        """The method's initial ``sigma``: ``sigma0`` as given, or 1 when it was given per coordinate
        (the values are then ``box.scale``, the units of the search's coordinates)."""
        return self.sampler.sigma0

    @property
    def nit(self) -> int:
        return self.state.k

    def __setattr__(self, name, value):
        if name == "sigma":  # pycma's es.sigma = ...: here it would shadow the method and break ask()
            raise AttributeError(f"sigma: read-only, opt.sigma() is the step size {type(self).__name__}'s rule sets; "
                                 "start another optimizer with sigma0 for another one")
        super().__setattr__(name, value)

    def sigma(self) -> float:
        """The standard deviation of the next batch: ``sigma_k`` of the sampler's rule, except that
        a trial batch uses its model batch's (the ratio test compares ``J_sigma`` at one ``sigma``)."""
        if self.state.phase == core.NEED_TRIAL:
            return float(self.state.batch.states[0, 0])
        return self.sampler.sigma(self.state.param, self.param0, self.d, self.last_step, self.state.step_state)

    # ------------------------------------------------------------------ ask / tell
    def ask(self) -> np.ndarray:
        """The next :attr:`n_asked` points to evaluate, ``(n, d)`` (:attr:`asked` describes them:
        its rows past ``popsize`` repeat the first ones, for ``noise_handling``); calling ``ask``
        again before ``tell`` returns the same points."""
        if self.pending is None:
            trial = self.state.phase == core.NEED_TRIAL
            self.pending_sigma = self.sigma()  # the batch's sigma, for its history row
            draw, frame = self.sampler.draw(core.ask(self.state), self.pending_sigma, self.rng,
                                            self.frame if trial else None, self.state.step_state)
            self.frame = frame
            if self.box is not None or self.n_again:
                X = draw.Y if self.box is None else self.box.to_box(draw.Y)
                draw = Draw(theta=draw.theta, sigma=draw.sigma, index=draw.index, sign=draw.sign, Y=draw.Y,
                            X=np.concatenate([X, X[: self.n_again]]))
            self.pending = draw
        return np.array(self.pending.X)

    @property
    def asked(self) -> Draw | None:
        """The pending batch of the last :meth:`ask` (None when none is pending)."""
        return self.pending

    def tell(self, X, values, *, n_exceptions: int = 0, repaired: bool = False) -> None:
        """Report ``values[j] = f(X[j])`` (to MINIMIZE; NaN/inf allowed) for the points of the last
        :meth:`ask`. ``n_exceptions``: how many of the NaN values stand for evaluations that raised.

        ``repaired=True``: ``X`` is the asked points after the caller changed them (rounded to a
        grid, projected onto constraints of its own, ...), inside the bounds if any; the update is
        that of the asked points, the best point reported the repaired one. Without it ``X`` must
        be exactly the asked array (a guard against telling the wrong batch). With
        ``noise_handling`` the rows past ``popsize`` repeat the first ones: repair a repeat as its
        original, or the noise measure compares two different points."""
        X, f = self._checked(X, values, repaired)
        draw, self.pending = self.pending, None
        self.nfev += f.size
        finite = np.isfinite(f)
        if finite.any():
            j = int(np.argmin(np.where(finite, f, np.inf)))
            if f[j] < self.best_f:
                self.best_f, self.best_x = float(f[j]), np.array(X[j])
        n_bad = int(np.count_nonzero(~finite))
        n_exceptions = check_int(n_exceptions, "n_exceptions", 0)
        if n_exceptions > n_bad:
            raise ValidationError(f"n_exceptions: {n_exceptions} exceptions but only {n_bad} non-finite values")
        self.n_nonfinite += n_bad - n_exceptions
        self.n_exceptions += n_exceptions
        self.clean_batches = 0 if n_bad else self.clean_batches + 1
        if self.n_again:  # measure the noise; a repeated point's value is the mean of its two
            f, again = np.array(f[: self.popsize]), f[self.popsize:]
            s = uncertainty.rank_change(f, again)
            self.s_bar = (1.0 - uncertainty.C_S) * self.s_bar + uncertainty.C_S * s
            first = f[: self.n_again]  # the mean of two finite values (exact when equal), else the finite one
            both = np.isfinite(first) & np.isfinite(again)
            f[: self.n_again] = np.where(both, np.where(first == again, first, 0.5 * first + 0.5 * again),
                                         np.where(np.isfinite(first), first, again))
            finite = np.isfinite(f)
        F, _ = impute_nonfinite(-f, maximize=True)
        self.last_f = f
        if self.first_range is None and finite.sum() >= 2 and np.ptp(f[finite]) > 0:  # before the tell: its spread
            spread = self.sampler.spread(self.sigma(), self.d, self.state.step_state)
            self.first_range = (float(np.ptp(f[finite])), spread)
        if self.std_floor is not None:  # integer coordinates: tolflatfitness counts flat batches in a row
            self.flat_batches = self.flat_batches + 1 if flat_batch(f, self.popsize) else 0
        self.best_history.append(float(np.min(np.where(finite, f, np.inf))))
        self.median_history.append(batch_median(np.where(finite, f, np.inf)))
        Y = draw.Y if self.std_floor is None else self._integer_centered(draw, F)
        record = self.last_record  # the last iteration before this batch
        self._loop_tell(make_batch(draw.theta, draw.sigma, Y, F, center=self.sampler.center))
        while core.ask(self.state) is None:  # READY: a model batch is at hand, propose at once
            self._loop_tell(None)
        record = self.last_record if self.last_record is not record else None
        if n_bad or self.n_again:  # the median of the finite values as evaluated (repeats not averaged)
            told = np.asarray(values, dtype=np.float64).reshape(-1)
            median = batch_median(told[np.isfinite(told)]) if np.isfinite(told).any() else math.nan
        else:  # the batch's median, above
            median = float(self.median_history.values[-1])
        self.last_row = (self.nfev, self.nit, 0, self.best_f, median, self.pending_sigma,
                         float(self.state.param), math.nan if record is None else float(record.rho),
                         math.nan if record is None else float(record.kl), self.s_bar if self.n_again else math.nan)
        if self.keep_history:
            self.rows.append(self.last_row)
        if self.n_again and self.s_bar > 0:  # the noise decides the ranking: a wider distribution
            g = uncertainty.widened(self.sampler.state(self.state.step_state, self.d), self.sampler.sigma0)
            self.state = replace(self.state, step_state=g)
        if self.std_floor is not None and self.state.step_state is not None:  # integer coordinates keep moving
            self.state = replace(self.state, step_state=integers.floored(self.state.step_state, self.std_floor))

    def optimize(self, fun: Callable, *, iterations: int | None = None, args: tuple = (),
                 callback: Callable | None = None):
        """pycma's ``optimize`` (its options by keyword; pycma's second positional is ``maxfun``):
        ask, evaluate ``fun(x, *args)`` point by point, tell, until
        :meth:`stop` has a reason or ``iterations`` more iterations have run (None: no limit);
        ``callback(self)`` after each tell. An exception of ``fun`` propagates with the batch still
        asked (the next :meth:`ask` returns it). Returns ``self`` (``opt.optimize(f).result``). The same points and
        bits as the loop written out; :func:`trustopt.minimize` adds workers, restarts and logs."""
        if not callable(fun):
            raise ValidationError("fun: must be callable")
        if callback is not None and not callable(callback):
            raise ValidationError("callback: must be callable or None")
        limit = None if iterations is None else self.nit + check_count(iterations, "iterations", 0)
        args = args if isinstance(args, tuple) else (args,)
        while not self.stop() and (limit is None or self.nit < limit):
            X = self.ask()
            self.tell(X, [fun(x, *args) for x in X])
            if callback is not None:
                callback(self)
        return self

    def _checked(self, X, values, repaired) -> tuple[np.ndarray, np.ndarray]:
        if self.pending is None:
            raise ValidationError("X: tell() called without a pending ask()")
        X = np.asarray(X, dtype=np.float64)
        asked = self.pending.X
        if X.shape != asked.shape:
            repeats = (f" (with noise_handling its last {self.n_again} rows repeat the first ones: tell every row)"
                       if self.n_again else "")
            raise ValidationError(f"X: must be the {asked.shape} array returned by the last ask(), got shape "
                                  f"{X.shape}{repeats}")
        if not check_bool(repaired, "repaired"):
            if not np.array_equal(X, asked):
                raise ValidationError("X: must be the array returned by the last ask() (pass repaired=True for "
                                      "points you changed)")
        elif not np.all(np.isfinite(X)):
            raise ValidationError("X: repaired points must be finite")
        elif self.box is not None and self.box.integer is not None and (
                bad := np.argwhere(self.box.integer & (X != np.round(X)))).size:
            j, i = (int(k) for k in bad[0])
            raise ValidationError(f"X: repaired points must be integers in the integer coordinates; X[{j}, {i}] = "
                                  f"{X[j, i]:g}")
        elif self.box is not None and not self.box.contains(X):
            j, i = (int(k[0]) for k in np.nonzero((X < self.box.lower) | (X > self.box.upper)))
            lo, hi = self.box.lower[i], self.box.upper[i]
            raise ValidationError(f"X: repaired points must be inside the bounds; X[{j}, {i}] = {X[j, i]:g} is outside "
                                  + (f"its fixed value {lo:g}" if lo == hi else f"[{lo:g}, {hi:g}]"))
        if not isinstance(values, np.ndarray) or values.dtype.kind in "OUS":  # NumPy reads None as NaN, "1.5" as 1.5
            for j, v in enumerate(np.asarray(values, dtype=object).reshape(-1)):
                if v is None:
                    raise ValidationError(f"values: values[{j}] is None (a function that forgot to return?); "
                                          "a failed evaluation is NaN")
                if isinstance(v, (str, bytes)) or (isinstance(v, np.ndarray) and v.dtype.kind in "US"):
                    text = v.item() if isinstance(v, np.ndarray) else v
                    raise ValidationError(f"values: values[{j}] is the string {str(text)!r}, not a number")
        try:
            f = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"values: cannot be converted to a float array ({exc})") from None
        if f.shape != (X.shape[0],):
            raise ValidationError(f"values: expected {X.shape[0]} values, got shape {np.shape(values)}")
        return X, f

    def _loop_tell(self, batch) -> None:
        proposes = self.state.phase in (core.NEED_MODEL, core.READY)
        model_batch = batch if self.state.phase == core.NEED_MODEL else self.state.batch
        self.state, record = core.tell(self.method, self.state, batch, self.rng)
        if proposes:
            self.recent_f.append(-float(model_batch.eta))
        if self.state.phase == core.NEED_TRIAL:  # a sound proposal is pending: its length (tie_to_step)
            self.last_step = float(self.state.proposal.distance)
        if record is not None:
            self.last_record = record
            if self.keep_history:
                self.history.append(record)
            if record.status in FAILURE_STATUSES:
                self.n_failures += 1

    # ------------------------------------------------------------------ termination and result
    def _tolfun_window(self) -> int:
        return tolfun_window(self.d, self.popsize)

    def stop(self) -> dict:
        """Termination reasons met now, ``{name: message}`` (empty: keep going).

        ``ftarget`` (best f <= ftarget), ``maxfev`` (the next batch would exceed it), ``maxiter``,
        ``tolx`` (the sampler's ``spread`` is below ``tolx``: the search has collapsed; ``sigma_k
        sqrt(d)`` for the perturbation methods, for the Gaussian search every coordinate's standard
        deviation and evolution-path step, as pycma's ``tolx``), ``tolxnoise`` in its place when the
        search collapsed while the values of the last batch still spread as noise does
        (:meth:`_collapsed_on_noise`: a stall, not convergence), ``tolxfailed`` in its place when
        every step so far was a numerical failure (the radius rule shrank ``sigma_k`` on failures
        alone), ``plateau`` in place of ``tolflatfitness``, ``tolfun``, ``tolfunhist`` and ``tolx``
        while no batch has had two different values (a flat start shows no minimum), ``tolfun`` (over the last
        ``10 + ceil(30 d / n)`` model batches, the range of their mean f and of the current batch's
        values is below ``tolfun``, and none of the last batches had a NaN/inf value or an
        exception: imputed constants would fake a flat objective)."""
        out = {}
        if self.best_f <= self.ftarget:
            out["ftarget"] = f"best f {self.best_f:.6g} <= ftarget {self.ftarget:.6g}"
        if self.nfev + self.n_asked > self.maxfev:
            out["maxfev"] = f"{self.nfev} evaluations; the next batch would exceed maxfev = {self.maxfev}"
        if self.maxiter is not None and self.nit >= self.maxiter:
            out["maxiter"] = f"{self.nit} iterations"
        spread = self.sampler.spread(self.sigma(), self.d, self.state.step_state)
        if spread < self.tolx and self.nfev:  # sigma0 below tolx: one batch first, so x and fun are evaluated
            if why := self._collapsed_on_failures(spread):
                out["tolxfailed"] = why
            elif why := self._collapsed_on_noise(spread):
                out["tolxnoise"] = why
            else:
                out["tolx"] = f"spread of the search {spread:.3g} < tolx = {self.tolx:g}"
        if len(self.recent_f) >= self._tolfun_window() and self.clean_batches >= self._tolfun_window():
            b, recent = self.state.batch, self.recent_f.values
            hi, lo = float(recent.max()), float(recent.min())
            if b is not None:
                hi, lo = max(hi, -float(b.returns.min())), min(lo, -float(b.returns.max()))
            if hi - lo < self.tolfun:
                out["tolfun"] = f"range of recent f values {hi - lo:.3g} < tolfun = {self.tolfun:g}"
        if self.std_floor is None:
            histories = (self.best_history.values, self.median_history.values)
            out |= self.sampler.stop(self.state.step_state, self.state.theta, self.sigma0, histories, self.last_f)
        else:
            out |= self.sampler.stop(self.state.step_state, self.state.theta, self.sigma0,
                                     (self.best_history.values,), self.last_f)  # tolstagnation on the best values
            out = integers.stopping(out, self.flat_batches, self.d, int(np.count_nonzero(self.std_floor)))
        flat = [k for k in ("tolflatfitness", "tolfun", "tolfunhist", "tolx") if k in out]
        if flat and self.first_range is None:  # no batch has had two different values: no sign of a minimum
            for k in flat:
                del out[k]
            out["plateau"] = (f"every value so far was equal ({self.nfev} evaluations): a plateau around the start, "
                              f"no sign of a minimum; a larger sigma0 or another x0 may leave it")
        return out

    def _collapsed_on_failures(self, spread: float) -> str | None:
        """Why a search that collapsed (``spread < tolx``) did not converge, or None: every iteration
        so far was a numerical failure (e.g. values of 1e300 whose differences overflow), so the
        radius rule shrank ``sigma_k`` without a step ever being taken."""
        if not self.nit or self.n_failures < self.nit:
            return None
        last = self.last_record.message if self.last_record is not None else ""
        return (f"the search collapsed (spread {spread:.3g} < tolx = {self.tolx:g}) after {self.nit} iterations "
                f"whose steps all failed numerically (last: {last}): no step was taken, this is no minimum")

    def _collapsed_on_noise(self, spread: float) -> str | None:
        """Why a search that collapsed (``spread < tolx``) did not converge, or None: the values of the
        last batch (its finite ones) still range over more than ``tolfun`` and more than the first batch's range times
        ``(spread / spread_first)^(1/3)``. A deterministic objective's values over a batch shrink with
        its spread, as ``spread^alpha`` for a Hoelder exponent ``alpha`` (1 on a slope, 2 at a smooth
        minimum, 1/2 for ``sqrt|x|``); a range that shrank as ``spread^(1/3)`` or less is noise (a
        stochastic simulation, a Monte-Carlo estimate), on which the ratio-test methods shrink
        ``sigma_k`` until ``tolx`` fires: that is a stall (status 4), not convergence. Measured, d = 5:
        noise-free runs stop at a range below ``1e-9`` times the first one; the sphere with additive
        noise of sd 1 collapses with a range of 2-4 against 20."""
        finite = None if self.last_f is None else self.last_f[np.isfinite(self.last_f)]
        if self.first_range is None or finite is None or finite.size < 2:
            return None
        (range0, spread0), now = self.first_range, float(np.ptp(finite))
        if now <= self.tolfun or now <= range0 * (spread / spread0) ** (1 / 3):
            return None
        return (f"the search collapsed (spread {spread:.3g} < tolx = {self.tolx:g}) but the values of the last batch "
                f"still range over {now:.3g} (the first batch: {range0:.3g} at spread {spread0:.3g}): f is noisy "
                f"(or discontinuous) at this scale, so this is no minimum; x is the lowest value drawn, "
                f"xmean the last mean")

    @property
    def result(self) -> OptimizeResult:
        """``scipy.optimize.OptimizeResult``: ``x`` (best evaluated point), ``fun`` (its value: on a
        noisy objective the lowest draw, optimistic, and ``x`` the point that drew it), ``nfev``,
        ``nit``, ``success`` (stopped by one of :data:`CONVERGED`), ``status``, ``message``, plus
        ``xmean`` (``theta_k``, :attr:`mean`: pycma's ``xfavorite``, the estimate of the optimum on a
        noisy objective), ``sigma``, ``radius``, ``n_nonfinite``, ``n_exceptions``,
        ``n_failures`` (iterations whose step failed numerically or had no predicted gain, as on
        tied values: a flat objective counts every iteration), ``stop`` (reasons; None
        while running), ``method``, ``seed``, and ``history``: one entry per batch of
        :data:`HISTORY_COLUMNS` (as :func:`trustopt.minimize`'s; empty with ``keep_history=False``),
        which :func:`trustopt.plot_minimize` draws."""
        reasons = self.stop()
        status = status_of(reasons, self.nfev, self.best_f)
        message = "; ".join(f"{k}: {v}" for k, v in reasons.items()) or "running"
        if status == 3:
            message = (f"{STATUS_MESSAGES[3]}: {all_failed_message(self.nfev, self.n_exceptions, self.n_nonfinite)}; "
                       + message)
        return OptimizeResult(
            x=np.array(self.best_x), fun=self.best_f, nfev=self.nfev, nit=self.nit, success=status == 0,
            status=status, message=message, xmean=self.mean, sigma=self.sigma(), radius=self.state.param,
            n_nonfinite=self.n_nonfinite, n_exceptions=self.n_exceptions, n_failures=self.n_failures,
            stop=reasons or None, method=self.name, seed=self.seed, history=self.rows.columns(),
        )

    def __setstate__(self, state):
        if state.get("format") != _PICKLE_FORMAT:
            raise ValidationError(f"pickle: this {type(self).__name__} was pickled by another version of trustopt "
                                  f"(layout {state.get('format', 1)}, this version reads {_PICKLE_FORMAT}); "
                                  "resume it with the version that wrote it, or start a new run")
        state.setdefault("first_range", None)  # pickled before the noise test of tolx: it never flags
        state.setdefault("n_again", 0)  # pickled before noise_handling
        state.setdefault("s_bar", 0.0)
        state.setdefault("std_floor", None)  # pickled before integer coordinates
        state.setdefault("flat_batches", 0)
        state.setdefault("last_row", None)  # pickled before the per-batch history
        state.setdefault("rows", History())
        if state.get("maxfev", 0) is None:  # pickled when None meant no budget
            state["maxfev"] = math.inf
        self.__dict__.update(state)
        if self.pending is not None and "pending_sigma" not in state:  # pickled between ask and tell, before it
            self.pending_sigma = self.sigma()


class _Named(AskTell):
    """An :class:`AskTell` on the registered method :attr:`algorithm`, called like pycma's
    ``CMAEvolutionStrategy``: ``Cls(x0, sigma0=None, options=None, *, seed=None, popsize=None,
    noise=None, tolx=1e-11, tolfun=1e-11, ftarget=-inf, maxfev=None, maxiter=None, bounds=None,
    keep_history=True, noise_handling=False, integrality=None, **hyperparameters)``. The
    hyperparameters are either
    ``options`` an instance of :attr:`options_class` (or a dict of its fields, as ``minimize``
    takes; the third argument, where pycma takes its ``inopts``) or keywords with the same names
    (not both); a key of pycma's ``inopts`` that is a keyword here is an error that says so.
    ``sigma0`` may be omitted with finite bounds (:func:`trustopt.bounds.default_sigma0`), or be a
    ``(d,)`` array, one standard deviation per coordinate (:func:`search_space`); ``integrality``
    ``d`` booleans, True for an integer coordinate (:func:`checked_integrality`; the method
    ``trust-region-cma`` only)."""

    algorithm: ClassVar[str]
    options_class: ClassVar[type]

    def __init__(self, x0, sigma0=None, options=None, *, seed=None, popsize: int | None = None, noise=None,
                 tolx: float = 1e-11, tolfun: float = 1e-11, ftarget: float = -math.inf, maxfev: float | None = None,
                 maxiter: int | None = None, bounds=None, keep_history: bool = True,
                 noise_handling: bool = False, integrality=None, **hyperparameters):
        x0 = as_float_array(x0, "x0", ndim=(0, 1)).reshape(-1)  # a scalar is a 1-d problem, as in scipy
        if x0.size == 0:
            raise ValidationError("x0: empty")
        own = [n for n in inspect.signature(_Named.__init__).parameters if n not in ("self", "hyperparameters")]
        for key in hyperparameters:  # a misspelt keyword of this constructor, not a hyperparameter
            hint = did_you_mean(key, own, cutoff=0.8)
            if hint and key not in {f.name for f in fields(self.options_class)}:
                raise ValidationError(f"{key}: unknown keyword of {type(self).__name__}{hint}")
        for key in (options if isinstance(options, Mapping) else ()):  # pycma's habit: {'popsize': 10}
            if key in own:
                raise ValidationError(f"options: {key} is a keyword of {type(self).__name__}, not a hyperparameter: "
                                      f"{type(self).__name__}(x0, sigma0, {key}=...)")
        box, sigma0 = search_space(bounds, sigma0, x0.size, stacklevel=2, integrality=integrality)
        n_int = 0 if box is None or box.integer is None else int(np.count_nonzero(box.integer & box.free))
        if "n_integer" in hyperparameters:
            raise ValidationError("n_integer: set by integrality=[True for each integer coordinate, ...], which "
                                  "also rounds them")
        if n_int and self.options_class is TrustRegionCMAOptions:  # (other methods: refused by AskTell)
            hyperparameters["n_integer"] = n_int
        if box is not None and box.n_free < box.d:  # fixed coordinates (lower = upper): search the free ones
            x0 = clipped_into_box(box, x0, stacklevel=2)[box.free]
        method = get(self.algorithm)(None, theta0=x0, sigma0=sigma0, popsize=popsize, noise=noise, options=options,
                                     **hyperparameters)
        super().__init__(method, seed=seed, bounds=box, tolx=tolx, tolfun=tolfun, ftarget=ftarget, maxfev=maxfev,
                         maxiter=maxiter, keep_history=keep_history, noise_handling=noise_handling)
        self.options = method_options(method, self.options_class)


def method_options(method: Method, cls: type):
    """The options dataclass ``cls`` a method was built with (from ``method.hyperparameters``)."""
    return cls(**{f.name: method.hyperparameters[f.name] for f in fields(cls)})


class ES(_Named):
    """OpenAI evolution strategies (:func:`trustopt.algorithms.es.es`; options :class:`ESOptions`)."""

    algorithm, options_class = "es", ESOptions


class ARS(_Named):
    """Augmented Random Search V1-t (:func:`trustopt.algorithms.ars.ars`; options :class:`ARSOptions`;
    ``sigma0`` is ARS's ``nu``)."""

    algorithm, options_class = "ars", ARSOptions


class TRES(_Named):
    """Trust Region Evolution Strategies (:func:`trustopt.algorithms.tres.tres`; options :class:`TRESOptions`)."""

    algorithm, options_class = "tres", TRESOptions


class TrustRegionES(_Named):
    """The trust-region ES: an isotropic ES whose step is STRO's trust-region step on the batch's
    model, with ``sigma`` tied to the radius (:func:`trustopt.algorithms.trust_region_es.trust_region_es`; options
    :class:`TrustRegionESOptions`). The recommended black-box method is :class:`TrustRegionCMA`
    (``minimize``'s default)."""

    algorithm, options_class = "trust-region-es", TrustRegionESOptions


class TrustRegionCMA(_Named):
    """The KL trust-region method on a Gaussian with a full covariance (a diagonal one above 100
    dimensions): CMA-ES's update as a natural-gradient trust-region step;
    :func:`trustopt.algorithms.trust_region_cma.trust_region_cma`; options
    :class:`TrustRegionCMAOptions`.

    ``TrustRegionCMA(x0, sigma0=None, options=None, *, seed=None, popsize=None, bounds=None, maxfev=None,
    noise_handling=False, integrality=None, ...)`` (the keywords of :class:`_Named`): ``sigma0`` a
    number or one per coordinate (pycma's ``sigma0`` times ``CMA_stds``); ``bounds`` in scipy's
    forms, a coordinate with ``lo == hi`` fixed and not searched (pycma's ``fixed_variables``);
    ``noise_handling=True`` for a noisy ``f`` (pycma's noise handling: :class:`AskTell`);
    ``integrality`` the integer coordinates (pycma's ``integer_variables``; ``ask`` returns their
    nearest integers, and their standard deviations keep a lower bound:
    :mod:`trustopt.components.integers`)."""

    algorithm, options_class = "trust-region-cma", TrustRegionCMAOptions


METHODS = {cls.algorithm: cls for cls in (ES, ARS, TRES, TrustRegionES, TrustRegionCMA)}
#: The method ``minimize(method=None)`` uses (the best of the family on the benchmarks, see README).
DEFAULT_METHOD = "trust-region-cma"
