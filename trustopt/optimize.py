"""``trustopt.minimize``: black-box minimization in the manner of ``scipy.optimize.minimize``.

A thin driver on top of the ask/tell classes of :mod:`trustopt.blackbox`: it builds the method,
evaluates each asked batch (in this process, on a map-like callable, or on worker processes of
:class:`trustopt.workers.ProcessBackend`), tells the values, restarts with a larger population
(IPOP, Auger & Hansen 2005) when asked to, and returns a ``scipy.optimize.OptimizeResult``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Callable

import numpy as np
from scipy.optimize import OptimizeResult

from trustopt._validation import ValidationError, as_float_array, check_positive
from trustopt.blackbox import (DEFAULT_METHOD, METHODS, _STATUS_MESSAGES, ARSOptions, ESOptions, TRESOptions,
                               TrustRegionESOptions, _all_failed, _check_bool, _check_int, _ESBase)
from trustopt.noise import NoiseTable, perturb
from trustopt.workers import ProcessBackend, resident

__all__ = ["minimize", "MinimizeOptions"]


# ---------------------------------------------------------------------------------- evaluation


def _eval_indices(shared, item, noise):
    """In a worker: rebuild the samples ``(index, sign)`` of ``theta + sigma * sign * eps`` with the
    driver's :func:`trustopt.noise.perturb` (same bits) and evaluate the worker's resident objective."""
    (theta, sigma), (index, sign) = shared, item
    fun, vectorized = resident()
    return _evaluate(fun, perturb(noise, theta, sigma, index, sign), vectorized)


def _eval_rows(shared, X, noise):
    """In a worker: samples sent as rows (orthogonalized directions are not rebuilt in the workers)."""
    fun, vectorized = resident()
    return _evaluate(fun, X, vectorized)


def _evaluate(fun, X, vectorized) -> tuple[np.ndarray, int]:
    """``(values (n,), n_exceptions)``; an exception or a malformed value gives NaN."""
    n = X.shape[0]
    if vectorized:
        try:
            v = np.asarray(fun(X), dtype=np.float64).reshape(-1)
            if v.shape != (n,):
                raise ValueError(f"vectorized fun returned shape {v.shape}, expected ({n},)")
            return v, 0
        except Exception:  # noqa: BLE001 - the documented policy: count, never propagate
            return np.full(n, np.nan), n
    out = np.empty(n)
    errors = 0
    for i in range(n):
        try:
            out[i] = float(fun(X[i]))
        except Exception:  # noqa: BLE001
            out[i] = np.nan
            errors += 1
    return out, errors


class _RowEvaluator:
    """Picklable ``x -> (f(x) or NaN, n_exceptions)`` for a map-like ``workers`` callable."""

    def __init__(self, fun):
        self.fun = fun

    def __call__(self, x):
        v, e = _evaluate(self.fun, np.asarray(x)[None, :], False)
        return float(v[0]), e


class _Evaluator:
    """``fun`` on a batch ``X (n, d)`` -> ``(values (n,), n_exceptions)``: in this process, through a
    map-like callable, or on ``workers`` processes of a :class:`trustopt.workers.ProcessBackend`
    (the library's one pool: a dead worker is replaced and its rows re-evaluated). The workers get
    ``(fun, vectorized)`` once, when they start, and per batch either the noise indices and
    signs (only scalars travel) or, for orthogonalized samples, the rows; each evaluates one
    contiguous block of rows, in order, so the values are those of the in-process evaluation."""

    def __init__(self, fun, workers, noise, vectorized):
        self.fun, self.vectorized, self.backend, self.map = fun, vectorized, None, None
        if callable(workers):
            self.map = workers
        elif _check_int(workers, "workers", 1) > 1:
            self.backend = ProcessBackend(n_workers=int(workers), noise=noise, resident=(fun, vectorized),
                                          chunks_per_worker=1)

    def __call__(self, opt: _ESBase, X: np.ndarray):
        if self.backend is not None:
            blocks = [c for c in np.array_split(np.arange(X.shape[0]), self.backend.n_workers) if c.size]
            p = opt.pending
            if p.get("orthogonal") or opt.center:
                parts = self.backend.map(_eval_rows, None, [X[c] for c in blocks])
            else:
                parts = self.backend.map(_eval_indices, (p["theta"], p["sigma"]),
                                         [(p["index"][c], p["sign"][c]) for c in blocks])
            return np.concatenate([v for v, _ in parts]), sum(e for _, e in parts)
        if self.map is not None:
            out = list(self.map(_RowEvaluator(self.fun), list(X)))
            return np.array([v for v, _ in out], dtype=np.float64), sum(e for _, e in out)
        return _evaluate(self.fun, X, self.vectorized)

    def close(self):
        if self.backend is not None:
            self.backend.close()


# ---------------------------------------------------------------------------------- minimize


#: The options classes of the methods (the ``method_options`` :class:`MinimizeOptions` accepts).
_METHOD_OPTION_CLASSES = (ESOptions, ARSOptions, TRESOptions, TrustRegionESOptions)


@dataclass(frozen=True, kw_only=True)
class MinimizeOptions:
    """Options of :func:`minimize` (the run, the restarts, the evaluation) and the method's hyperparameters.

    Fields:
        popsize: evaluations per batch, an integer ``>= 2`` (rounded down to antithetic pairs,
            plus the center point for the quadratic trust-region ES). Default None: the
            method's default (``4 + floor(3 ln d)``, CMA-ES's default, Hansen 2016;
            ``2 d + 1`` for ``trust-region-es`` with the quadratic model).
        restarts: IPOP restarts, an integer ``>= 0`` (Auger & Hansen 2005): after a ``tolx`` /
            ``tolfun`` stop, a fresh run with the population multiplied by ``incpopsize``.
            Default 0.
        incpopsize: population factor per restart, ``> 0``. Default 2.0 (Auger & Hansen 2005).
        restart_x0: callable ``rng -> x0`` giving the starting point of each restart (``rng`` a
            ``np.random.Generator`` seeded from ``seed``), or None (default): restart at ``x0``.
        vectorized: False (default): ``fun(x)`` with ``x (d,)``; True: ``fun(X)`` with
            ``X (n, d)`` returns ``(n,)``.
        noise: the :class:`~trustopt.noise.NoiseTable` the samples are read from. Default None:
            ``NoiseTable()`` (its documented default size and seed).
        ftarget: stop once the best value is ``<= ftarget``. Default ``-inf`` (never).
        tolx: stop once ``sigma_k sqrt(d) < tolx`` (``> 0``). Default 1e-12.
        tolfun: stop once the range of the mean values of the last ``10 + ceil(30 d / n)`` model
            batches and of the current batch's values is ``< tolfun`` (``> 0``). Default 1e-12.
        maxiter: iterations per run, an integer ``>= 0``, or None (default: no limit).
        method_options: the method's hyperparameters, an instance of its options class
            (:class:`ESOptions`, :class:`ARSOptions`, :class:`TRESOptions`,
            :class:`TrustRegionESOptions`), or None (default): that class's defaults.
    """

    popsize: int | None = None
    restarts: int = 0
    incpopsize: float = 2.0
    restart_x0: Callable | None = field(default=None, compare=False)
    vectorized: bool = False
    noise: NoiseTable | None = field(default=None, compare=False)
    ftarget: float = -math.inf
    tolx: float = 1e-12
    tolfun: float = 1e-12
    maxiter: int | None = None
    method_options: ESOptions | ARSOptions | TRESOptions | TrustRegionESOptions | None = None

    def __post_init__(self):
        if self.popsize is not None:
            _check_int(self.popsize, "popsize", 2)
        _check_int(self.restarts, "restarts", 0)
        check_positive(self.incpopsize, "incpopsize")
        if self.restart_x0 is not None and not callable(self.restart_x0):
            raise ValidationError(f"restart_x0: must be callable (rng -> x0) or None, "
                                  f"got {type(self.restart_x0).__name__}")
        _check_bool(self.vectorized, "vectorized")
        if self.noise is not None and not isinstance(self.noise, NoiseTable):
            raise ValidationError(f"noise: expected a NoiseTable, got {type(self.noise).__name__}")
        if isinstance(self.ftarget, bool) or not isinstance(self.ftarget, (int, float, np.integer, np.floating)) \
                or math.isnan(self.ftarget) or self.ftarget == math.inf:
            raise ValidationError(f"ftarget: expected a number < inf (-inf: no target), got {self.ftarget!r}")
        check_positive(self.tolx, "tolx")
        check_positive(self.tolfun, "tolfun")
        if self.maxiter is not None:
            _check_int(self.maxiter, "maxiter", 0)
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
        raise ValidationError(f"options: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for method "
                              f"{method!r}; valid: {', '.join(sorted(own))} (minimize) and "
                              f"{', '.join(sorted(hp_names))} ({hp_cls.__name__})")
    return MinimizeOptions(**{k: v for k, v in options.items() if k in own},
                           method_options=hp_cls(**{k: v for k, v in options.items() if k in hp_names}))


def minimize(fun: Callable, x0, method: str | None = None, *, sigma0: float, maxfev: int, seed: int,
             workers: int | Callable = 1, callback: Callable | None = None,
             options: dict | MinimizeOptions | ESOptions | ARSOptions | TRESOptions | TrustRegionESOptions | None = None
             ) -> OptimizeResult:
    """Minimize ``fun: R^d -> R`` with an evolution strategy driven by the trust-region loop.

    Args:
        fun: the objective; ``fun(x)`` with ``x (d,)`` -> float, or with the option ``vectorized``
            ``fun(X)`` with ``X (n, d)`` -> ``(n,)``. NaN/inf/exceptions: see the module docstring.
        x0: ``(d,)`` finite starting point (the initial mean).
        method: ``"trust-region-es"`` (``None``: the recommended :data:`DEFAULT_METHOD`),
            ``"es"``, ``"ars"`` or ``"tres"``.
        sigma0: initial sampling standard deviation ``> 0`` (about a quarter of the search range).
        maxfev: evaluation budget (``nfev <= maxfev``; a batch that would exceed it is not asked).
        seed: integer >= 0; the same seed gives the same result (on one machine: see the
            README's "What is bit-identical") for any ``workers``.
        workers: number of processes (each rebuilds the samples from noise-table indices,
            TRES "Distributed Implementation"; ``fun`` reaches them once, at their start:
            under the ``fork`` start method any callable, otherwise a picklable one; a worker
            that dies is replaced and its evaluations redone, :class:`trustopt.workers.WorkerError`
            after repeated deaths) or a map-like callable ``workers(f, iterable)``.
        callback: ``callback(intermediate_result)`` after every batch, with an
            ``OptimizeResult`` (as scipy's); raising ``StopIteration`` stops cleanly.
        options: a :class:`MinimizeOptions` (``popsize``, ``restarts`` (IPOP), ``incpopsize``,
            ``restart_x0``, ``vectorized``, ``noise``, ``ftarget``, ``tolx``, ``tolfun``,
            ``maxiter``, and ``method_options``: the method's hyperparameters, an instance of its
            options class); or just the method's options (e.g. a :class:`TRESOptions` for
            ``"tres"``); or a dict of the same names, :class:`MinimizeOptions` fields and method
            hyperparameters mixed (``{"restarts": 2, "model": "linear"}``); None: every default.
            An unknown name is a ValidationError listing the valid ones.

    Returns:
        ``scipy.optimize.OptimizeResult`` with ``x, fun, nfev, nit, success, status, message``
        (and ``n_nonfinite, n_exceptions, n_restarts, popsize`` (of the last run), ``xmean, sigma``).
        ``status``: 0 converged (ftarget/tolx/tolfun), 1 maxfev/maxiter, 2 callback, 3 every
        evaluation failed (``success`` False, ``x = x0``, ``fun = inf``; the message gives
        ``n_exceptions`` and the non-finite count), 4 otherwise.
    """
    if not callable(fun):
        raise ValidationError("fun: must be callable")
    name = DEFAULT_METHOD if method is None else method
    if not isinstance(name, str) or name.lower() not in METHODS:
        raise ValidationError(f"method: unknown {method!r}; choose one of {', '.join(sorted(METHODS))}")
    cls = METHODS[name.lower()]
    x0 = as_float_array(x0, "x0", ndim=1)
    check_positive(sigma0, "sigma0")
    maxfev = _check_int(maxfev, "maxfev", 1)
    seed = _check_int(seed, "seed", 0)
    if callback is not None and not callable(callback):
        raise ValidationError("callback: must be callable or None")
    o = _minimize_options(options, cls, name.lower())
    restarts = o.restarts
    incpopsize = check_positive(o.incpopsize, "incpopsize")
    restart_x0 = o.restart_x0
    vectorized = bool(o.vectorized)
    noise = o.noise if o.noise is not None else NoiseTable()
    seeds = np.random.SeedSequence(seed).spawn(restarts + 2)
    restart_rng = np.random.default_rng(seeds[-1])

    def make(x_start, pop, run):
        child_seed = int(seeds[run].generate_state(1)[0])
        return cls(x_start, sigma0, seed=child_seed, popsize=pop, noise=noise, ftarget=o.ftarget, tolx=o.tolx,
                   tolfun=o.tolfun, maxiter=o.maxiter, options=o.method_options)

    opt = make(x0, o.popsize, 0)
    evaluator = _Evaluator(fun, workers, noise, vectorized)
    nfev = nit = n_nonfinite = n_exceptions = 0
    best_x, best_f = np.array(x0), math.inf
    run, status, reasons = 0, None, {}
    try:
        while True:
            reasons = opt.stop()
            budget_left = maxfev - nfev - opt.nfev
            if not reasons and budget_left < opt.popsize:
                reasons = {"maxfev": f"the next batch ({opt.popsize}) would exceed maxfev = {maxfev}"}
            if reasons:
                nfev, nit = nfev + opt.nfev, nit + opt.nit
                n_nonfinite, n_exceptions = n_nonfinite + opt.n_nonfinite, n_exceptions + opt.n_exceptions
                if opt.best_f < best_f:
                    best_x, best_f = np.array(opt.best_x), opt.best_f
                restartable = ("tolx" in reasons or "tolfun" in reasons) and run < restarts
                next_pop = int(math.ceil(opt.popsize * incpopsize))
                if not restartable or maxfev - nfev < next_pop:
                    break
                run += 1
                x_start = x0 if restart_x0 is None else as_float_array(restart_x0(restart_rng), "restart_x0", ndim=1)
                opt = make(x_start, next_pop, run)
                continue
            X = opt.ask()
            values, errors = evaluator(opt, X)
            opt.n_exceptions += errors
            opt.tell(X, values)
            if callback is not None:
                inter = opt.result
                inter.nfev, inter.nit = nfev + opt.nfev, nit + opt.nit
                if best_f < inter.fun:
                    inter.x, inter.fun = np.array(best_x), best_f
                try:
                    callback(inter)
                except StopIteration:
                    status = 2
                    nfev, nit = nfev + opt.nfev, nit + opt.nit
                    n_nonfinite, n_exceptions = n_nonfinite + opt.n_nonfinite, n_exceptions + opt.n_exceptions
                    if opt.best_f < best_f:
                        best_x, best_f = np.array(opt.best_x), opt.best_f
                    reasons = {"callback": "StopIteration raised by the callback"}
                    break
    finally:
        evaluator.close()
    if status is None:
        status = 0 if any(k in reasons for k in ("ftarget", "tolx", "tolfun")) else (
            1 if ("maxfev" in reasons or "maxiter" in reasons) else 4)
    if nfev > 0 and not math.isfinite(best_f):  # not one finite value: neither converged nor a budget stop
        status = 3
        reasons = {"evaluations": _all_failed(nfev, n_exceptions, n_nonfinite), **reasons}
    message = _STATUS_MESSAGES[status] + ": " + "; ".join(f"{k}: {v}" for k, v in reasons.items())
    return OptimizeResult(x=best_x, fun=best_f, nfev=nfev, nit=nit, success=status == 0, status=status,
                          message=message, n_nonfinite=n_nonfinite, n_exceptions=n_exceptions,
                          n_restarts=run, popsize=opt.popsize, xmean=opt.mean, sigma=opt.sigma(), method=name.lower())
