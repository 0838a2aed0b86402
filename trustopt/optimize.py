"""``trustopt.minimize``: black-box minimization in the manner of ``scipy.optimize.minimize``.

A thin driver on top of the ask/tell classes of :mod:`trustopt.asktell`: it builds the method,
evaluates each asked batch (in this process, on a map-like callable, or on worker processes of
:class:`trustopt.workers.ProcessBackend`), tells the values, restarts when asked to (BIPOP,
Hansen 2009, by default; IPOP, Auger & Hansen 2005), and returns a ``scipy.optimize.OptimizeResult``.
"""

from __future__ import annotations

import csv
import inspect
import math
import numbers
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Callable

import numpy as np
from scipy.optimize import OptimizeResult

from trustopt._callbacks import Callback
from trustopt._io import check_writable, image_path
from trustopt._validation import (NOISE_IS_A_TABLE, ValidationError, as_float_array, check_bool, check_choice,
                                  check_count, check_int, check_nonnegative, check_positive, did_you_mean, pycma_hint)
from trustopt.algorithms.ars import ARSOptions
from trustopt.algorithms.es import ESOptions
from trustopt.algorithms.tres import TRESOptions
from trustopt.algorithms.trust_region_cma import TrustRegionCMAOptions
from trustopt.algorithms.trust_region_es import TrustRegionESOptions
from trustopt.asktell import (DEFAULT_METHOD, HISTORY_COLUMNS, MAXFEV_PER_DIM, METHODS, STATUS_MESSAGES, AskTell,
                              BoundsWarning, all_failed_message, as_seed, checked_maxfev, clipped_into_box,
                              History, search_space, status_of)
from trustopt.bounds import Box, default_sigma0
from trustopt.components.uncertainty import n_reevaluations
from trustopt.components.search import PerturbationSampler
from trustopt.noise import NoiseTable, perturb
from trustopt.workers import ProcessBackend, resident

__all__ = ["minimize", "MinimizeOptions", "plot_minimize", "default_sigma0", "EvaluationWarning", "HISTORY_COLUMNS",
           "MAXFEV_PER_DIM"]


# ---------------------------------------------------------------------------------- evaluation


class EvaluationWarning(UserWarning):
    """Some evaluations of the objective raised an exception and were imputed (``on_error="impute"``)."""


@dataclass(frozen=True)
class _WithArgs:
    """``x -> fun(x, *args)`` (picklable whenever ``fun`` and ``args`` are)."""

    fun: Callable
    args: tuple

    def __call__(self, x):
        return self.fun(x, *self.args)


def _check_bare_args(fun: Callable, args) -> None:
    """scipy reads a third positional argument that is not a tuple as ``args = (value,)``; pycma's
    third is ``sigma0``. A number there that ``fun`` cannot take is that mistake: say so before
    the first evaluation rather than let ``fun``'s ``TypeError`` speak."""
    if isinstance(args, (bool, np.bool_)) or not isinstance(args, numbers.Real):
        return
    try:
        signature = inspect.signature(fun, follow_wrapped=False)  # a functools.wraps wrapper's own parameters
    except (TypeError, ValueError):  # a builtin or a C function without a signature: fun decides
        return
    try:
        signature.bind(None, args)
    except TypeError:
        value = float(args)  # (np.int64(2) would print as such)
        raise ValidationError(f"args: fun would be called as fun(x, {value!r}), which its signature does not "
                              "accept; minimize's third argument is scipy's args (extra arguments of fun), "
                              f"not pycma's sigma0: write sigma0={value!r}") from None


def _scalar(value) -> float:
    """An objective value as a float: a real number or a size-1 array of one, as scipy.optimize
    accepts; anything else (None from a forgotten ``return``, a string, a complex number, an
    array of several values) is a TypeError naming ``fun``."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf" or a.size != 1:
        what = (f"an array of shape {a.shape}" if a.dtype.kind in "biuf"
                else f"{type(value).__name__} {value!r}"[:80])
        raise TypeError(f"fun must return a real number (or an array holding one); it returned {what}")
    return float(a.reshape(()))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class _Evaluation:
    """``fun`` on the points ``X (n, d)`` -> ``(values (n,), n_exceptions, first exception or None)``.

    ``impute=False``: an exception of ``fun`` propagates (scipy's and pycma's behaviour);
    ``impute=True``: its value is NaN (the ask/tell class then imputes the worst value of the
    batch) and it is counted. ``box``: samples rebuilt in a worker are internal points and are
    mapped into the box first (:mod:`trustopt.bounds`), as the driver's ask does."""

    fun: Callable
    vectorized: bool
    impute: bool
    box: Box | None

    def __call__(self, X) -> tuple[np.ndarray, int, str | None]:
        # fun gets copies (as scipy's): one that changes its argument in place changes nothing here
        n = X.shape[0]
        if self.vectorized:
            try:
                v = np.asarray(self.fun(X.copy()), dtype=np.float64)
            except Exception as exc:
                if not self.impute:
                    raise
                return np.full(n, np.nan), n, _describe(exc)
            if v.size != n:  # ((n, 1) and (1, n) are read as (n,))
                raise ValidationError(f"fun: vectorized, it takes the points as rows, X of shape ({n}, {X.shape[1]}) "
                                      f"(scipy's differential_evolution passes columns), and returns ({n},) values; "
                                      f"it returned shape {v.shape}")
            v = v.reshape(-1)
            return v, 0, None
        out, errors, first = np.empty(n), 0, None
        for i in range(n):
            try:
                out[i] = _scalar(self.fun(X[i].copy()))
            except Exception as exc:
                if not self.impute:
                    raise
                out[i], errors, first = np.nan, errors + 1, first or _describe(exc)
        return out, errors, first

    def row(self, x) -> tuple[float, int, str | None]:
        """One point ``x (d,)``, for a map-like ``workers`` callable."""
        v, e, first = self(np.asarray(x, dtype=np.float64)[None, :])
        return float(v[0]), e, first

    def internal(self, Y) -> tuple[np.ndarray, int, str | None]:
        return self(Y if self.box is None else self.box.to_box(Y))


def _eval_indices(shared, item, noise):
    """In a worker: rebuild the samples ``(index, sign)`` of ``theta + sigma * sign * eps`` with the
    driver's :func:`trustopt.noise.perturb` (same bits) and evaluate the worker's resident objective."""
    (theta, sigma), (index, sign) = shared, item
    return resident().internal(perturb(noise, theta, sigma, index, sign))


def _eval_rows(shared, X, noise):
    """In a worker: points sent as rows (orthogonalized directions are not rebuilt in the workers)."""
    return resident()(X)


class _Evaluator:
    """An :class:`_Evaluation` of each asked batch: in this process, through a map-like callable, or
    on ``workers`` processes of a :class:`trustopt.workers.ProcessBackend` (the library's one
    pool: after a worker died the pool is replaced and the unfinished rows re-evaluated). The workers get the evaluation
    once, when they start, and per batch either the noise indices and signs (only scalars
    travel) or, for orthogonalized samples, the rows; each evaluates one contiguous block of
    rows, in order, so the values are those of the in-process evaluation."""

    def __init__(self, evaluation: _Evaluation, workers, noise):
        self.evaluation, self.backend, self.map = evaluation, None, None
        if callable(workers):
            self.map = workers
            return
        if workers == -1 and not isinstance(workers, bool):  # scipy's "one per CPU"
            workers = os.cpu_count() or 1
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ValidationError(f"workers: expected an integer >= 1, -1 (one per CPU) or a map-like callable, "
                                  f"got {workers!r}")
        if workers > 1:
            self.backend = ProcessBackend(n_workers=int(workers), noise=noise, resident=evaluation,
                                          chunks_per_worker=1)

    def __call__(self, opt: AskTell, X: np.ndarray) -> tuple[np.ndarray, int, str | None]:
        if self.backend is not None:
            blocks = [c for c in np.array_split(np.arange(X.shape[0]), self.backend.n_workers) if c.size]
            p = opt.asked
            if not p.noise_rows:
                parts = self.backend.map(_eval_rows, None, [X[c] for c in blocks])
            else:
                parts = self.backend.map(_eval_indices, (p.theta, p.sigma), [(p.index[c], p.sign[c]) for c in blocks])
        elif self.map is not None:
            parts = [(np.array([v]), e, first) for v, e, first in self.map(self.evaluation.row, list(X))]
        else:
            return self.evaluation(X)
        firsts = [first for _, _, first in parts if first is not None]
        return (np.concatenate([v for v, _, _ in parts]), sum(e for _, e, _ in parts),
                firsts[0] if firsts else None)

    def close(self):
        if self.backend is not None:
            self.backend.close()


# ---------------------------------------------------------------------------------- minimize


#: The options classes of the methods (the ``method_options`` :class:`MinimizeOptions` accepts).
_METHOD_OPTION_CLASSES = tuple(cls.options_class for cls in METHODS.values())


@dataclass(frozen=True, kw_only=True)
class MinimizeOptions:
    """Options of :func:`minimize` (the run, the restarts, the evaluation) and the method's hyperparameters.

    Fields:
        popsize: evaluations per batch, an integer ``>= 2`` (for the noise-table methods
            rounded down to antithetic pairs, plus the center point for the quadratic
            trust-region ES; ``trust-region-cma`` takes it as it is). Default None: the
            method's default (``4 + floor(3 ln d)``, CMA-ES's default, Hansen 2016;
            ``2 d + 1`` for ``trust-region-es`` with the quadratic model).
        restarts: restarts with a larger population, an integer ``>= 0`` (IPOP, Auger & Hansen
            2005): after a run stops by converging (any reason but ``ftarget``, ``maxfev``,
            ``maxiter``), a fresh run with the population multiplied by ``incpopsize``. Default 0.
        incpopsize: population factor per restart, ``> 0``. Default 2.0 (Auger & Hansen 2005).
        regime: ``"bipop"`` (default; Hansen 2009, BIPOP, with the budget accounting of pycma's
            ``fmin``): between the large-population restarts above,
            runs with a small population ``floor(lambda_0 (lambda_large / lambda_0)^(U_1^2))``
            and initial step ``sigma0 10^(-2 U_2)`` (``U_1, U_2`` uniform on [0, 1]), each limited
            to half the evaluations of the large regime so far; the regime with fewer evaluations
            runs next (the first run counts as small, so the first restart is a large one); only
            the large restarts count in ``restarts``. ``"ipop"``: the large restarts only.
        restart_x0: callable ``rng -> x0`` giving the starting point of each restart (``rng`` a
            ``np.random.Generator`` seeded from ``seed``; a point outside ``bounds`` is clipped
            into them with a ``BoundsWarning``, as ``x0`` is), or None (default): restart at ``x0``.
        vectorized: False (default): ``fun(x)`` with ``x (d,)``; True: ``fun(X)`` with
            ``X (n, d)`` returns ``(n,)``: one point per row (scipy's ``differential_evolution``
            passes ``(d, n)``). With ``workers``, ``fun`` gets blocks of the batch (a map-like
            callable: one row at a time), so runs with different ``workers`` are the same bits
            only if row ``i`` of the result depends on ``X[i]`` alone, to the last bit
            (elementwise arithmetic and row reductions; not a matrix product ``X @ A``, whose
            BLAS kernel depends on the number of rows).
        noise: the :class:`~trustopt.noise.NoiseTable` the samples are read from (the ES
            perturbations; for a noisy objective see ``noise_handling``). Default None:
            ``NoiseTable()`` (its documented default size and seed).
        noise_handling: True: uncertainty handling for a noisy ``fun`` (``trust-region-cma``
            only; pycma's ``noise_handling``): each batch also re-evaluates ``2 + floor(popsize /
            20)`` of its points, their rank changes measure the noise, and ``sigma`` grows while
            the noise decides the ranking (by this rule never past a largest coordinate standard
            deviation of ``sigma0``; :mod:`trustopt.components.uncertainty`, Hansen et al. 2009).
            Default False.
        integrality: ``d`` booleans, True for an integer coordinate (scipy's
            ``differential_evolution`` argument; pycma's ``integer_variables``; ``trust-region-cma``
            only), or None (default): ``fun`` sees the nearest integer in ``ceil(lo) .. floor(hi)``
            there, and the search keeps those coordinates' standard deviations above a lower bound
            so that they keep moving and centers the selected samples on their integers
            (:mod:`trustopt.components.integers`: Marty et al. 2024's LB+IC, as pycma's).
        ftarget: stop once the best value is ``<= ftarget``. Default ``-inf`` (never). It compares
            single evaluations: on a noisy ``fun`` one lucky draw stops the run as converged.
        tolx: stop once the search has collapsed below ``tolx`` (``>= 0``; 0 turns the test off):
            for ``trust-region-cma`` every coordinate's standard deviation ``sigma sqrt(C_ii)`` and
            evolution-path step ``sigma |p_c,i|`` (pycma's ``tolx``), for the other methods
            ``sigma_k sqrt(d)``. Default 1e-11 (pycma's).
        tolfun: stop once the range of the mean values of the last ``10 + ceil(30 d / n)`` model
            batches and of the current batch's values is ``< tolfun`` (``>= 0``; 0 turns the test off).
            Default 1e-11 (pycma's).
        maxiter: iterations per run, an integer ``>= 1``, or None (default: no limit).
        method_options: the method's hyperparameters, an instance of its options class
            (:class:`TrustRegionCMAOptions`, :class:`TrustRegionESOptions`, :class:`ESOptions`,
            :class:`ARSOptions`, :class:`TRESOptions`), or None (default): that class's defaults.
        on_error: ``"raise"`` (default): an exception raised by ``fun`` propagates, as in
            scipy and pycma; ``"impute"``: its value counts as the worst of its batch, the run
            goes on, and the result (``n_exceptions``, ``first_exception``) and an
            :class:`EvaluationWarning` report it.
        verbose: 0 (default): silent; ``k >= 1``: one line every ``k`` batches and the final
            message, as pycma's ``verb_disp``: evaluations, iterations, restart, best and median f,
            sigma, the radius parameter, the ratio ``r_k`` and the KL of the iteration the batch
            finished (the ratio is nan for ``trust-region-cma``, which has no ratio test, and
            when the batch finished no iteration: the trust-region ES evaluates a model batch at
            ``theta_k`` and a trial batch at the proposal, two batches per iteration).
        log: a path, or None (default): the CSV file written during the run, one row per batch
            (the columns of ``result.history``); :func:`plot_minimize` plots it.
    """

    popsize: int | None = None
    restarts: int = 0
    incpopsize: float = 2.0
    regime: str = "bipop"
    restart_x0: Callable | None = field(default=None, compare=False)
    vectorized: bool = False
    noise: NoiseTable | None = field(default=None, compare=False)
    noise_handling: bool = False
    integrality: object = field(default=None, compare=False)
    ftarget: float = -math.inf
    tolx: float = 1e-11
    tolfun: float = 1e-11
    maxiter: int | None = None
    method_options: TrustRegionCMAOptions | TrustRegionESOptions | ESOptions | ARSOptions | TRESOptions | None = None
    on_error: str = "raise"
    verbose: int = 0
    log: str | None = None

    def __post_init__(self):
        check_choice(self.on_error, "on_error", ("raise", "impute"))
        if isinstance(self.verbose, bool):  # pycma's verbose is a level, scipy's disp a flag: say which this is
            raise ValidationError(f"verbose: expected an integer k >= 0, a line every k batches, got {self.verbose} "
                                  "(verbose=1: every batch; disp=True: every 100, as scipy's disp)")
        check_int(self.verbose, "verbose", 0)
        if self.log is not None and not isinstance(self.log, (str, os.PathLike)):
            raise ValidationError(f"log: expected a file path or None, got {type(self.log).__name__}")
        if self.popsize is not None:
            check_int(self.popsize, "popsize", 2)
        check_int(self.restarts, "restarts", 0)
        check_positive(self.incpopsize, "incpopsize")
        check_choice(self.regime, "regime", ("ipop", "bipop"))
        if self.restart_x0 is not None and not callable(self.restart_x0):
            raise ValidationError(f"restart_x0: must be callable (rng -> x0) or None, "
                                  f"got {type(self.restart_x0).__name__}")
        check_bool(self.vectorized, "vectorized")
        check_bool(self.noise_handling, "noise_handling")
        if self.noise is not None and not isinstance(self.noise, NoiseTable):
            raise ValidationError(f"noise: expected a NoiseTable, got {type(self.noise).__name__} ({NOISE_IS_A_TABLE})")
        if isinstance(self.ftarget, bool) or not isinstance(self.ftarget, (int, float, np.integer, np.floating)) \
                or math.isnan(self.ftarget) or self.ftarget == math.inf:
            raise ValidationError(f"ftarget: expected a number < inf (-inf: no target), got {self.ftarget!r}")
        check_nonnegative(self.tolx, "tolx")
        check_nonnegative(self.tolfun, "tolfun")
        if self.maxiter is not None:
            check_count(self.maxiter, "maxiter", 1)  # as maxfev: a result of nothing evaluated is no result
        if self.method_options is not None and not isinstance(self.method_options, _METHOD_OPTION_CLASSES):
            names = ", ".join(c.__name__ for c in _METHOD_OPTION_CLASSES)
            raise ValidationError(f"method_options: expected one of {names} or None, "
                                  f"got {type(self.method_options).__name__}")


def _minimize_options(options, cls, method: str) -> MinimizeOptions:
    """:func:`minimize`'s ``options`` as a :class:`MinimizeOptions` whose ``method_options`` is an
    instance of ``cls.options_class``. ``options``: None, a :class:`MinimizeOptions`, the method's
    options instance, or a dict of :class:`MinimizeOptions` fields and method hyperparameters."""
    hp_cls = cls.options_class
    if options is None:
        return MinimizeOptions(method_options=hp_cls())
    if isinstance(options, hp_cls):
        return MinimizeOptions(method_options=options)
    if isinstance(options, MinimizeOptions):
        if options.method_options is None:
            return replace(options, method_options=hp_cls())
        if not isinstance(options.method_options, hp_cls):
            raise ValidationError(f"options: method {method!r} takes method_options of type {hp_cls.__name__}, "
                                  f"got {type(options.method_options).__name__}")
        return options
    if not isinstance(options, Mapping):
        owner = [name for name, c in METHODS.items() if c.options_class is type(options)]
        hint = f" (the options of method={owner[0]!r}: pass that method)" if owner else ""
        raise ValidationError(f"options: method {method!r} takes None, a dict, a MinimizeOptions or its "
                              f"{hp_cls.__name__}, got {type(options).__name__}{hint}")
    own = {f.name for f in fields(MinimizeOptions)} - {"method_options"}
    hp_names = {f.name for f in fields(hp_cls)}
    unknown = sorted(str(k) for k in options if k not in own and k not in hp_names)
    if unknown:
        key, named = unknown[0], own | hp_names | set(_SCIPY_KEYS)
        hint = _other_name_hint(key) or did_you_mean(key, named) + pycma_hint(key)
        raise ValidationError(f"options: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for method "
                              f"{method!r}{hint}; valid: {', '.join(sorted(own | set(_SCIPY_KEYS)))} (minimize) and "
                              f"{', '.join(sorted(hp_names))} ({hp_cls.__name__})")
    return MinimizeOptions(**{k: v for k, v in options.items() if k in own},
                           method_options=hp_cls(**{k: v for k, v in options.items() if k in hp_names}))


#: scipy's option names that :func:`minimize` takes in ``options`` (:func:`_scipy_options`).
_SCIPY_KEYS = ("disp", "maxfev")

#: Other libraries' names of ``minimize``'s options: ``name: (ours, whose)``.
_OTHER_NAMES = {"maxfevals": ("maxfev", "pycma's"), "maxfun": ("maxfev", "scipy's"), "max_nfev": ("maxfev", "scipy's"),
                "maxevals": ("maxfev", ""), "xtol": ("tolx", "scipy's"), "xatol": ("tolx", "scipy's"),
                "ftol": ("tolfun", "scipy's"), "fatol": ("tolfun", "scipy's"), "gtol": ("tolfun", "scipy's"),
                "verb_disp": ("verbose", "pycma's"), "CMA_diagonal": ("diagonal", "pycma's"),
                "bipop": ("regime", "pycma's")}

#: ``minimize``'s own arguments, which pycma's ``fmin2`` users put in ``options``.
_ARGUMENTS = ("x0", "sigma0", "seed", "bounds", "callback", "workers", "args", "rng", "tol", "method")


def _other_name_hint(key: str) -> str:
    """``"; ..."``: where ``options[key]`` goes when ``key`` is another library's name of an option, or
    an argument of :func:`minimize`; ``""`` otherwise."""
    if key in _OTHER_NAMES:
        ours, whose = _OTHER_NAMES[key]
        return f"; the closest here to {whose + ' ' if whose else ''}{key} is {ours}"
    if key in ("x0", "args", "method"):
        return f"; {key} is an argument of minimize: minimize(fun, x0, args=(), method=None, ...)"
    if key in _ARGUMENTS:
        return f"; {key} is an argument of minimize: minimize(fun, x0, ..., {key}=...)"
    if key in ("tolfunhist", "tolstagnation", "tolflatfitness", "tolconditioncov", "tolupsigma", "noeffectaxis",
               "noeffectcoord"):
        return f"; pycma's {key} test is always on here, at pycma's default (only tolx, tolfun and ftarget are set)"
    return ""


#: ``options={"disp": True}``: a line every this many batches (:func:`_scipy_options`).
DISP_EVERY = 100


def _as_custom_method(options, jac, hess, hessp, constraints, keywords: dict):
    """``options`` with the keywords of ``scipy.optimize.minimize``'s call of a custom method,
    ``method(fun, x0, args=..., jac=..., hess=..., hessp=..., bounds=..., constraints=...,
    callback=..., **options)``: derivatives and constraints refused, ``keywords`` (scipy's
    ``options``) merged into a dict of ``options``."""
    for name, value in (("jac", jac), ("hess", hess), ("hessp", hessp)):
        if value is not None and value is not False:
            raise ValidationError(f"{name}: trustopt.minimize uses no derivatives; leave {name} unset")
    if constraints is not None and not (isinstance(constraints, (tuple, list, dict)) and len(constraints) == 0):
        raise ValidationError("constraints: not supported (bounds are); a constraint can be a penalty, e.g. "
                              "fun returning inf where it is violated")
    if not keywords:
        return options
    if options is not None and not isinstance(options, Mapping):
        raise ValidationError(f"options: give the options as keywords or as options=, not both "
                              f"({', '.join(sorted(keywords))} as keywords)")
    both = sorted(set(keywords) & set(options or {}))
    if both:
        raise ValidationError(f"options: {', '.join(both)} given both as a keyword and in options; give it once")
    return {**(options or {}), **keywords}


def _scipy_options(options, maxfev, tol):
    """scipy's spellings in :func:`minimize`: ``options={"disp": True}`` (or any truthy integer) is
    ``verbose`` :data:`DISP_EVERY`: a line every 100 batches and the final message (pycma's
    ``verb_disp`` default; scipy's methods print a summary at the end, and a line per batch would
    fill a terminal with thousands),
    ``options={"maxfev": n}`` the ``maxfev`` argument (not both), ``tol`` both ``tolx`` and
    ``tolfun`` unless a dict of options names them. Returns ``(options, maxfev)``."""
    if tol is not None:
        tol = check_nonnegative(tol, "tol")
    if isinstance(options, Mapping) and ("disp" in options or "maxfev" in options):
        options = dict(options)
        if "disp" in options:
            if "verbose" in options:
                raise ValidationError("options: give 'disp' (scipy's name) or 'verbose', not both")
            disp = options.pop("disp")
            if not isinstance(disp, (bool, int, np.integer)):
                raise ValidationError(f"options['disp']: expected True or False, got {disp!r}")
            options["verbose"] = DISP_EVERY if disp else 0
        if "maxfev" in options:
            if maxfev is not None:
                raise ValidationError("maxfev: given both as an argument and in options; give it once")
            maxfev = options.pop("maxfev")
    if tol is not None:
        if options is None or isinstance(options, Mapping):
            options = {"tolx": tol, "tolfun": tol, **(options or {})}
        elif isinstance(options, MinimizeOptions):
            options = replace(options, tolx=tol, tolfun=tol)
        else:  # the method's options alone
            options = MinimizeOptions(method_options=options, tolx=tol, tolfun=tol)
    return options, maxfev


class _Log:
    """The per-batch record of a run: kept (``result.history``), printed (``verbose``), written (``log``)."""

    def __init__(self, verbose: int, path, noise_handling: bool = False):
        self.verbose, self.rows, self.file, self.writer = verbose, History(), None, None
        self.noise_handling = noise_handling  # the printed lines show the noise column
        if path is not None:
            try:
                self.file = open(path, "w", newline="")
            except OSError as exc:
                raise ValidationError(f"log: cannot write {os.fspath(path)!r} ({exc.strerror or exc})") from None
            self.writer = csv.writer(self.file, lineterminator="\n")
            self.writer.writerow(HISTORY_COLUMNS)

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if self.writer is not None:
            self.writer.writerow([repr(float(v)) if isinstance(v, float) else v for v in row])
            self.file.flush()
        if self.verbose and (len(self.rows) - 1) % self.verbose == 0:
            if (len(self.rows) - 1) % (20 * self.verbose) == 0:
                print(" nfev    nit restart          f_best      f_median     sigma    radius   ratio        kl"
                      + ("   noise" if self.noise_handling else ""))
            nfev, nit, restart, f_best, f_median, sigma, radius, ratio, kl, noise = row
            print(f"{nfev:5d} {nit:6d} {restart:7d} {f_best:15.8e} {f_median:13.6e} {sigma:9.3e} {radius:9.3e} "
                  f"{ratio:7.3f} {kl:9.3e}" + (f" {noise:7.2f}" if self.noise_handling else ""))

    def add_batch(self, totals: "_Totals", run: int, opt: AskTell):
        """The row of a batch just told (:attr:`AskTell.last_row`) with the counts and the best f of
        the whole call, and its restart."""
        self.add((totals.nfev, totals.nit, run, totals.best_f) + opt.last_row[4:])

    def history(self) -> dict:
        return self.rows.columns()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class _Totals:
    """Counts and the best point over the finished runs (restarts); :meth:`with_run` adds the live one."""

    def __init__(self, x0):
        self.nfev = self.nit = self.n_nonfinite = self.n_exceptions = 0
        self.best_x, self.best_f = np.array(x0), math.inf
        self.first_exception: str | None = None

    def with_run(self, opt: AskTell) -> "_Totals":
        out = _Totals(self.best_x)
        out.best_f, out.first_exception = self.best_f, self.first_exception
        out.nfev, out.nit = self.nfev + opt.nfev, self.nit + opt.nit
        out.n_nonfinite, out.n_exceptions = self.n_nonfinite + opt.n_nonfinite, self.n_exceptions + opt.n_exceptions
        if opt.best_f < out.best_f:
            out.best_x, out.best_f = np.array(opt.best_x), opt.best_f
        return out


def minimize(fun: Callable, x0, args: tuple = (), method: str | None = None, *, bounds=None,
             sigma0: float | None = None, maxfev: int | None = None, seed=None, callback: Callable | None = None,
             workers: int | Callable = 1,
             options: dict | MinimizeOptions | ESOptions | ARSOptions | TRESOptions | TrustRegionESOptions | None = None,
             tol: float | None = None, rng=None, jac=None, hess=None, hessp=None, constraints=(),
             **scipy_options) -> OptimizeResult:
    """Minimize ``fun(x, *args)`` over ``x`` in R^d (or a box) with an evolution strategy driven by the
    trust-region loop; the conventions of ``scipy.optimize.minimize``, which also takes it as a
    custom method: ``scipy.optimize.minimize(fun, x0, method=trustopt.minimize, options={...})``.

    Args:
        fun: the objective; ``fun(x, *args)`` with ``x (d,)`` -> a float (or a size-1 array),
            or with the option ``vectorized`` ``fun(X, *args)`` with ``X (n, d)`` -> ``(n,)``.
            NaN/inf: the worst rank (module docstring of :mod:`trustopt.asktell`); an exception
            propagates unless ``options={"on_error": "impute"}``.
        x0: ``(d,)`` finite starting point (the initial mean); clipped into ``bounds`` with a
            :class:`~trustopt.asktell.BoundsWarning` if outside.
        args: extra arguments of ``fun`` (a tuple; anything else is ``(args,)``, as scipy).
        method: ``"trust-region-cma"`` (``None``: the recommended :data:`DEFAULT_METHOD`, the
            Gaussian KL trust region with a full covariance, separable above 100 dimensions),
            ``"trust-region-es"``, ``"es"``, ``"ars"`` or ``"tres"``.
        bounds: None, a ``scipy.optimize.Bounds`` or a sequence of ``(lo, hi)`` pairs (None: an
            open side). Every evaluated point lies in the box: the methods search an unbounded
            space mapped onto the box (:mod:`trustopt.bounds`), so optima on the boundary are
            reached as interior ones are. A coordinate with ``lo == hi`` is fixed and not searched
            (pycma's ``fixed_variables``): ``d`` below counts the free coordinates.
        sigma0: initial sampling standard deviation ``> 0``, or one per coordinate, a ``(d,)``
            array (pycma's ``sigma0`` times ``CMA_stds``; any method: the search runs in the
            coordinates ``x_i / sigma0_i`` with ``sigma0 = 1``, :mod:`trustopt.bounds`, and
            ``tolx`` applies in those units; the entry of a fixed coordinate is not read). Default:
            :func:`default_sigma0` (a quarter of each coordinate's finite non-zero width of
            ``bounds``, one per coordinate when they differ; 1.0 without).
        maxfev: evaluation budget, an integer (``1e4`` will do); ``nfev <= maxfev`` (a batch
            that would exceed it is not asked); ``math.inf``: none (pycma's default), the runs end on
            their stopping tests. Default ``MAXFEV_PER_DIM * d = 10_000 d``.
        seed: an integer ``>= 0``, a ``np.random.Generator`` (one integer is drawn from it), or
            None (default: fresh entropy). ``result.seed`` is the integer used: passing it again
            repeats the run exactly (on one machine, for any ``workers``; with ``vectorized``,
            for a ``fun`` whose rows do not depend on each other: see the README's "What is
            bit-identical").
        callback: ``callback(intermediate_result)`` (a parameter of exactly that name) receives an
            ``OptimizeResult`` after every batch; any other callable is called ``callback(xk)``
            with the best point so far (scipy's rule). Raising ``StopIteration`` or returning a
            truthy value stops the run (``status`` 2).
        workers: number of processes, ``-1`` one per CPU as in scipy (each rebuilds the samples
            from noise-table indices, TRES "Distributed Implementation"; ``fun`` reaches them once,
            at their start: under the ``fork`` start method any callable, otherwise a picklable one; a worker
            that dies is replaced and its evaluations redone, :class:`trustopt.workers.WorkerError`
            after repeated deaths) or a map-like callable ``workers(f, iterable)``.
        options: a :class:`MinimizeOptions` (``popsize``, ``restarts``, ``incpopsize``, ``regime``,
            ``restart_x0``, ``vectorized``, ``noise``, ``noise_handling``, ``integrality``, ``ftarget``,
            ``tolx``, ``tolfun``, ``maxiter``, ``on_error``, ``verbose``, ``log``, and ``method_options``: the method's
            hyperparameters, an instance of its options class); or just the method's options
            (e.g. a :class:`TRESOptions` for ``"tres"``); or a dict of the same names,
            :class:`MinimizeOptions` fields and method hyperparameters mixed
            (``{"restarts": 2, "kl_radius": 1.0}``); None: every default. An unknown name is a
            ValidationError listing the valid ones. scipy's names also work in a dict:
            ``"disp"`` (True: ``verbose`` 100, a line every 100 batches) and ``"maxfev"`` (the
            argument of that name).
        tol: scipy's tolerance for termination: sets both ``tolx`` and ``tolfun`` (a dict of
            ``options`` naming either keeps its own value); ``tol=0`` turns both tests off, so a
            run ends on its budget or on the other stopping tests.
        rng: scipy's newer name for ``seed`` (SPEC 7: an integer, a ``np.random.Generator`` or
            None), read as ``seed``; giving both is a ValidationError.
        jac, hess, hessp, constraints: what ``scipy.optimize.minimize`` passes a custom method; the
            search uses no derivatives and takes no constraints, so anything but None (and ``()``
            for ``constraints``) is a ValidationError (a constraint can be a penalty: NaN or inf
            values rank worst).
        **scipy_options: the ``options`` of ``scipy.optimize.minimize(..., method=trustopt.minimize,
            options=...)``, which scipy passes as keywords; merged into ``options``.

    Returns:
        ``scipy.optimize.OptimizeResult`` with ``x, fun, nfev, nit, success, status, message``
        (``x`` the best point evaluated, ``fun`` its value: on a noisy ``fun`` the lowest of ``nfev``
        draws, an optimistic estimate, and ``x`` the point that drew it; ``xmean``, the last run's
        mean, pycma's ``xfavorite``, is then the estimate of the optimum: README "Noisy objectives"),
        ``n_exceptions`` (evaluations that raised), ``n_nonfinite`` (that returned NaN or inf),
        ``first_exception`` (``"Type: message"`` or None), ``n_restarts``, ``popsize`` (of the
        last run), ``xmean``, ``sigma``, ``seed``, ``method`` and ``history`` (a dict of arrays,
        one entry per batch: :data:`HISTORY_COLUMNS`). ``status`` (:func:`trustopt.asktell.status_of`):
        0 converged (ftarget, tolx, tolfun; tolfunhist for ``trust-region-cma`` and
        ``trust-region-es``; for ``trust-region-cma`` also tolflatfitness, noeffectaxis,
        noeffectcoord), -1 running (a callback's ``intermediate_result``), 1 maxfev/maxiter, 2 callback
        (``message`` says whether it raised ``StopIteration`` or returned a truthy value), 3 every evaluation
        failed (``success`` False, ``x = x0``, ``fun = inf``), 4 otherwise (a stall:
        tolstagnation, which ends ``trust-region-cma`` on noise, tolxnoise, which ends the other
        methods there, tolxfailed, a collapse after steps that all failed numerically, plateau, equal
        values in every batch so far, conditioncov,
        ...).
    """
    if not callable(fun):
        raise ValidationError("fun: must be callable")
    options = _as_custom_method(options, jac, hess, hessp, constraints, scipy_options)
    if not isinstance(args, tuple):
        _check_bare_args(fun, args)
        args = (args,)
    name, cls = _method(method)
    x0 = as_float_array(x0, "x0", ndim=(0, 1)).reshape(-1)  # a scalar is a 1-d problem, as in scipy
    options, maxfev = _scipy_options(options, maxfev, tol)
    o = _minimize_options(options, cls, name)
    box, sigma0 = search_space(bounds, sigma0, x0.size, stacklevel=2, integrality=o.integrality)
    d = x0.size if box is None else box.n_free  # the searched coordinates
    maxfev = checked_maxfev(maxfev, d)
    seed = as_seed(_seed_or_rng(seed, rng))
    stop_requested = Callback(callback)
    noise = o.noise if o.noise is not None else NoiseTable()
    evaluation = _Evaluation(_WithArgs(fun, args) if args else fun, bool(o.vectorized), o.on_error == "impute", box)
    x0 = clipped_into_box(box, x0, stacklevel=2)
    runs = _Restarts(cls=cls, sigma0=sigma0, seed=seed, noise=noise, options=o, box=box, x0=x0)
    opt = runs.first(maxfev, name)
    log = _Log(o.verbose, o.log, o.noise_handling)
    total, run = _Totals(x0), 0
    evaluator = _Evaluator(evaluation, workers, noise)
    try:
        while True:
            reasons = opt.stop()
            if not reasons and maxfev - total.nfev - opt.nfev < opt.n_asked:
                reasons = {"maxfev": f"{total.nfev + opt.nfev} of maxfev = {maxfev} evaluations used; the next batch "
                                     f"({opt.n_asked}) would exceed it"}
            if reasons:  # this run is over: a restart or the end
                total = total.with_run(opt)
                restarted = runs.restart(opt, reasons, maxfev - total.nfev)
                if restarted is None:
                    reasons = runs.final_reasons(reasons, maxfev - total.nfev, maxfev)
                    break
                opt, run = restarted, run + 1
                continue
            now = _batch(opt, evaluator, total, run, log)
            if callback is not None and (why := stop_requested(_result(now, opt, {}, name, seed, run, None),
                                                               np.array(now.best_x))):
                total, reasons = now, {"callback": why}
                break
    finally:
        evaluator.close()
        log.close()
    result = _result(total, opt, reasons, name, seed, run, log)
    if o.verbose:
        print(result.message)
    if total.n_exceptions and result.status != 3:
        warnings.warn(f"{total.n_exceptions} of {total.nfev} evaluations raised an exception and were given the "
                      f"worst value of their batch; the first: {total.first_exception}", EvaluationWarning,
                      stacklevel=2)
    return result


def _batch(opt: AskTell, evaluator, total, run: int, log) -> "_Totals":
    """One batch: ask, evaluate, tell, log; returns the totals with this run's counts."""
    X = opt.ask()
    values, errors, first = evaluator(opt, X)
    opt.tell(X, values, n_exceptions=errors)
    total.first_exception = total.first_exception or first
    now = total.with_run(opt)
    log.add_batch(now, run, opt)
    return now


def _method(method) -> tuple[str, type]:
    """``(name, ask/tell class)`` of ``method`` (None: :data:`DEFAULT_METHOD`)."""
    name = DEFAULT_METHOD if method is None else method
    if not isinstance(name, str) or name.lower() not in METHODS:
        raise ValidationError(f"method: unknown {method!r}; choose one of {', '.join(sorted(METHODS))}")
    return name.lower(), METHODS[name.lower()]


def _seed_or_rng(seed, rng):
    """``seed``, or ``rng``, scipy's newer name for it (SPEC 7): one of the two."""
    if rng is None:
        return seed
    if seed is not None:
        raise ValidationError("rng: give seed or rng (scipy's newer name for it), not both")
    return rng


class _Restarts:
    """The runs of one :func:`minimize` call, each an ask/tell optimizer with its own seed: the first,
    then the restarts of ``options.regime`` (IPOP, Auger & Hansen 2005; BIPOP, Hansen 2009; see
    :class:`MinimizeOptions`). Seeds: the first run and the large restarts take the children
    ``0..restarts`` of ``SeedSequence(seed)``, the restart draws (``restart_x0``, BIPOP's
    ``U_1, U_2``) child ``restarts + 1``, small run ``j`` the sequence with spawn key
    ``(2**20 + j,)``."""

    def __init__(self, *, cls, sigma0: float, seed: int, noise: NoiseTable, options: MinimizeOptions, box, x0):
        self.cls, self.sigma0, self.seed, self.noise, self.options, self.box, self.x0 = (
            cls, sigma0, seed, noise, options, box, x0)
        self.seeds = np.random.SeedSequence(seed).spawn(options.restarts + 2)
        self.rng = np.random.default_rng(self.seeds[-1])
        self.n_large = self.n_small = 0
        self.used = {"large": 0, "small": 0}  # evaluations per regime (the first run counts as small)
        self.regime = "small"
        self.lam_default = self.lam_large = 0

    def first(self, maxfev: int, name: str) -> AskTell:
        """The first run; a ValidationError when ``maxfev`` cannot pay for one of its batches (no
        batch would be asked, and a result of nothing evaluated is no result)."""
        opt = self._make(self.x0, self.options.popsize, self.sigma0, self.seeds[0])
        if maxfev < opt.n_asked:
            raise ValidationError(f"maxfev: {maxfev} is smaller than one batch of {name!r} ({opt.n_asked} "
                                  f"evaluations); give maxfev >= {opt.n_asked}, or a smaller popsize")
        self.lam_default = self.lam_large = opt.popsize
        # the restarts' sizes are computed, not chosen: a method of antithetic pairs gets the batch
        # it asks for that size, 2 (size // 2) (+ 1 with the center), where a given size must fit
        self.pairs = isinstance(opt.sampler, PerturbationSampler)
        self.center = bool(opt.sampler.center)
        return opt

    def _fit(self, popsize: int) -> int:
        return 2 * (popsize // 2) + self.center if self.pairs else popsize

    def _cost(self, popsize: int) -> int:
        """Evaluations per batch of a run of ``popsize``: with ``noise_handling`` its repeats too."""
        return popsize + (n_reevaluations(popsize) if self.options.noise_handling else 0)

    def _make(self, x_start, popsize, sigma0, seed_sequence, maxfev=math.inf) -> AskTell:
        o = self.options
        with warnings.catch_warnings():  # minimize warned about its own sigma0 once; restarts reuse it
            warnings.simplefilter("ignore", BoundsWarning)
            return self.cls(x_start, sigma0, seed=int(seed_sequence.generate_state(1)[0]), popsize=popsize,
                            noise=self.noise, ftarget=o.ftarget, tolx=o.tolx, tolfun=o.tolfun, maxiter=o.maxiter,
                            maxfev=maxfev, bounds=self.box, options=o.method_options,
                            noise_handling=o.noise_handling)

    def final_reasons(self, reasons: dict, budget: int, maxfev: int) -> dict:
        """Why the whole call ends, after no restart followed a run that stopped for ``reasons``: a
        small run's own evaluation limit is reported as the call's (budget or restarts used up)."""
        if "maxfev" not in reasons or self.regime != "small" or self.n_small == 0:  # (the first run: the call's)
            return reasons
        if budget < self._cost(self.lam_large):
            return {"maxfev": f"{maxfev - budget} of maxfev = {maxfev} evaluations used; a batch of the next run "
                              f"({self._cost(self.lam_large)}) would exceed it"}
        n = self.options.restarts
        return {"restarts": f"the {n} large restart{'' if n == 1 else 's'} {'is' if n == 1 else 'are'} done"}

    def restart(self, opt: AskTell, reasons: dict, budget: int) -> AskTell | None:
        """The next run after ``opt`` stopped for ``reasons`` with ``budget`` evaluations left, or None:
        no restart after ``ftarget``, ``maxiter`` or the end of the budget, after ``restarts`` large
        restarts, or when the next batch would not fit in the budget."""
        self.used[self.regime] += opt.nfev
        ended = any(k in reasons for k in ("ftarget", "maxiter")) or ("maxfev" in reasons and opt.maxfev == math.inf)
        if ended:
            return None
        o = self.options
        x_start = self.x0 if o.restart_x0 is None else as_float_array(o.restart_x0(self.rng), "restart_x0", ndim=1)
        if x_start.shape != self.x0.shape:
            raise ValidationError(f"restart_x0: returned a point of shape {x_start.shape}, x0 has {self.x0.shape}")
        if o.restart_x0 is not None:  # minimize -> restart -> clipped_into_box: the warning points at the caller
            x_start = clipped_into_box(self.box, x_start, stacklevel=3, name="restart_x0(rng)")
        if o.regime == "bipop" and self.used["small"] < self.used["large"]:
            u1, u2 = self.rng.random(2)
            popsize = max(2, int(self.lam_default * (self.lam_large / self.lam_default) ** (u1 * u1)))
            allowed = min(budget, self.used["large"] // 2)
            if allowed >= self._cost(popsize):
                self.regime, self.n_small = "small", self.n_small + 1
                seq = np.random.SeedSequence(self.seed, spawn_key=(2**20 + self.n_small,))
                return self._make(x_start, self._fit(popsize), self.sigma0 * 10.0 ** (-2.0 * u2), seq,
                                  maxfev=allowed)
        popsize = int(math.ceil(self.lam_large * o.incpopsize))
        if self.n_large >= o.restarts or budget < self._cost(popsize):
            return None
        self.regime, self.n_large = "large", self.n_large + 1
        opt = self._make(x_start, self._fit(popsize), self.sigma0, self.seeds[self.n_large])
        self.lam_large = opt.popsize
        return opt


def _result(total: _Totals, opt: AskTell, reasons: dict, name: str, seed: int, run: int,
            log: _Log | None) -> OptimizeResult:
    """The result so far; ``history`` from ``log`` (None for an intermediate result: the callback is
    called after every batch, and copying the history each time would cost O(batches^2))."""
    status = status_of(reasons, total.nfev, total.best_f)
    why = "; ".join(f"{k}: {v}" for k, v in reasons.items())
    if status == 3:
        why = "; ".join(filter(None, (all_failed_message(total.nfev, total.n_exceptions, total.n_nonfinite,
                                                         total.first_exception), why)))
    message = f"{STATUS_MESSAGES[status]}: {why}" if why else STATUS_MESSAGES[status]
    return OptimizeResult(x=np.array(total.best_x), fun=total.best_f, nfev=total.nfev, nit=total.nit,
                          success=status == 0, status=status, message=message, n_nonfinite=total.n_nonfinite,
                          n_exceptions=total.n_exceptions, first_exception=total.first_exception, n_restarts=run,
                          popsize=opt.popsize, xmean=opt.mean, sigma=opt.sigma(), method=name, seed=seed,
                          history=None if log is None else log.history())


def plot_minimize(result_or_log, path=None):
    """The run of :func:`minimize` against evaluations: best and median f; sigma and the radius; the
    ratio of each iteration, or for methods without a ratio test (``trust-region-cma``) the KL of
    each step under its radius; with ``noise_handling``, the noise measure of each batch.

    ``result_or_log``: a result of :func:`minimize` (its ``history``), an ask/tell optimizer or its
    ``result`` (with ``keep_history``, the default), or the path of the CSV written with
    ``options={"log": path}``. Returns a ``matplotlib.figure.Figure`` (no pyplot:
    the global backend is untouched, so notebooks keep theirs); ``path``: also save it there
    (the format from the extension, e.g. ``.png``, ``.pdf``, ``.svg``).
    """
    from matplotlib.figure import Figure

    if path is not None:
        path = image_path("path", path)
        check_writable("path", path)
    if isinstance(result_or_log, AskTell):
        result_or_log = result_or_log.result
    h = _read_history(result_or_log)
    if h["nfev"].size == 0:
        evaluated = getattr(result_or_log, "nfev", 0) > 0  # (an ask/tell result: its rows were not kept)
        raise ValidationError("result_or_log: the ask/tell run kept no history (keep_history=False)" if evaluated
                              else "result_or_log: the run has no evaluated batch to plot")
    noise = h["noise"]
    measured_noise = bool(np.isfinite(noise).any())  # a run with noise_handling gets a fourth panel
    fig = Figure(figsize=(9.0, 9.5 if measured_noise else 7.5), layout="constrained")  # legends right of the panels
    ax_f, ax_s, ax_r, *ax_noise = fig.subplots(4 if measured_noise else 3, 1, sharex=True)
    n = h["nfev"]
    _plot_f(ax_f, n, h["f_best"], h["f_median"])
    title = getattr(result_or_log, "method", None)
    if title is not None:
        caller = "trustopt.minimize" if "n_restarts" in result_or_log else "trustopt ask/tell"
        ax_f.set_title(f"{caller}: {title}, d = {np.asarray(result_or_log.x).size}, {int(n[-1])} evaluations")
    else:  # a log file: its name (the method and d are not in it)
        ax_f.set_title(f"{os.path.basename(os.fspath(result_or_log))}: {int(n[-1])} evaluations")
    _plot_step(ax_s, ax_r, n, h)
    for ax in ax_noise:  # noise_handling's smoothed measure: sigma widens while it is > 0
        ax.plot(n, noise, ".", ms=3)
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_ylabel("noise measure\n(> 0: sigma widened)")
    fig.axes[-1].set_xlabel("function evaluations")
    for ax in fig.axes:
        for k in np.flatnonzero(np.diff(h["restart"]) > 0):
            ax.axvline(n[k + 1], color="0.7", lw=0.8, ls=":")
    if path is not None:
        fig.savefig(path)
    return fig


def _plot_f(ax, n, f_best, f_median) -> None:
    """The top panel: best and median f, or with f <= 0 somewhere their distances to the best
    value seen, on a log scale (as pycma plots ``f - f_min``)."""
    finite = f_best[np.isfinite(f_best)]
    f_min = None
    if finite.size and np.all(finite > 0):
        ax.set_ylabel("f")
    else:
        f_min = finite.min() if finite.size else 0.0
        f_best, f_median = f_best - f_min, f_median - f_min
        ax.set_ylabel("f - min f")
    best_label = "best f" if f_min is None else f"best f (min f = {f_min:.4g})"
    (best_line,) = ax.plot(n, np.where(f_best > 0, f_best, np.nan), label=best_label)
    ax.plot(n, np.where(f_median > 0, f_median, np.nan), ".", ms=2, alpha=0.5, label="median f of the batch")
    ax.set_yscale("log")
    if f_min is not None and np.any(f_best == 0):
        # From the batch that found min f on, f_best - min f = 0 has no place on a log axis: the
        # stretch is drawn along the panel's bottom edge instead of leaving the line to end early.
        at_min = n[np.flatnonzero(f_best == 0)[0]:]
        ax.plot([at_min[0], at_min[-1]], [0.0, 0.0], transform=ax.get_xaxis_transform(), clip_on=False,
                color=best_line.get_color(), lw=3, marker="^", ms=8, markevery=[0], label="best f = min f")
    _legend_beside(ax)


def _plot_step(ax_s, ax_r, n, h) -> None:
    """The middle panels: sigma (and the radius parameter of a ratio test), and the ratio of each
    iteration, or for a KL trust region the KL of each step under its radius."""
    ax_s.plot(n, h["sigma"], label="sigma")
    ok = np.isfinite(h["ratio"])
    if ok.any():  # a ratio test: the radius scales sigma, the ratio drives it
        ax_s.plot(n, h["radius"], "--", label="radius parameter")
        ax_r.plot(n[ok], np.clip(h["ratio"][ok], -1.0, 2.0), ".", ms=3)
        ax_r.axhline(0.0, color="0.6", lw=0.8)
        ax_r.set_ylabel("ratio (clipped to [-1, 2])")
    else:  # a KL trust region: the KL of each step under the radius
        kl = h["kl"]
        ax_r.plot(n, np.where(kl > 0, kl, np.nan), ".", ms=3, label="KL of the step")
        ax_r.plot(n, h["radius"], "--", label="KL radius")
        ax_r.set_yscale("log")
        positive = kl[np.isfinite(kl) & (kl > 0)]
        if positive.size:  # at least a decade, so that steps cut at the radius do not fill the axis
            ax_r.set_ylim(min(positive.min(), 0.1 * np.nanmax(h["radius"])) / 2, 2 * np.nanmax(h["radius"]))
        ax_r.set_ylabel("KL(N_k || N_k+1)")
        _legend_beside(ax_r)
    ax_s.set_yscale("log")
    _legend_beside(ax_s)


def _legend_beside(ax) -> None:
    """The panel's legend right of it, outside the axes: it covers no data wherever the points fall
    (a restart's median f starts high again, where an ``upper right`` legend sat)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _log_row_ok(row, n_columns: int) -> bool:
    """A complete row of a minimize log: one number per column."""
    if len(row) != n_columns:
        return False
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True


def _read_history(result_or_log) -> dict:
    if isinstance(result_or_log, (str, os.PathLike)):
        try:
            with open(result_or_log, newline="") as f:
                rows = list(csv.reader(f))
        except OSError as exc:
            raise ValidationError(f"result_or_log: cannot read {os.fspath(result_or_log)!r} "
                                  f"({exc.strerror or exc})") from None
        name = os.fspath(result_or_log)
        if not rows:
            raise ValidationError(f"result_or_log: {name!r} is empty (a run that has not finished its first batch?)")
        columns = tuple(rows[0])
        if columns not in (HISTORY_COLUMNS, HISTORY_COLUMNS[:-1]):  # a log written before the noise column
            raise ValidationError(f"result_or_log: {name!r} is not a minimize log "
                                  f"(expected the columns {', '.join(HISTORY_COLUMNS)})")
        body = rows[1:]
        if body and not _log_row_ok(body[-1], len(columns)):
            body = body[:-1]  # the row a running (or interrupted) run was writing
        bad = next((i for i, r in enumerate(body) if not _log_row_ok(r, len(columns))), None)
        if bad is not None:
            raise ValidationError(f"result_or_log: {name!r} line {bad + 2} is not a row of numbers in the log's "
                                  f"{len(columns)} columns")
        cols = list(zip(*body)) if body else [()] * len(columns)
        history = {k: np.array(c, dtype=float) for k, c in zip(columns, cols)}
        history.setdefault("noise", np.full(len(body), np.nan))
        return history
    history = getattr(result_or_log, "history", None)
    if not isinstance(history, dict) or set(HISTORY_COLUMNS) - set(history):
        raise ValidationError("result_or_log: expected a result of trustopt.minimize or of an ask/tell optimizer "
                              "(opt.result), an ask/tell optimizer, or the path of a minimize log")
    return history
