"""Black-box minimization with evolution strategies: ``trustopt.minimize`` and ask/tell classes.

The ES family is driven by THE loop of :mod:`trustopt.core.loop` (STRO Alg. 3.1 / 4.3):
each ask/tell class here is a thin adapter that (1) turns the loop's request "a batch at
``theta``" into antithetic samples ``x = theta +- sigma_k eps`` read from the shared noise
table (:mod:`trustopt.noise`), (2) turns the told values into a loop
:class:`~trustopt.core.types.Batch` and (3) calls :func:`trustopt.core.loop.tell`. It owns
only what the loop does not: ``sigma_k`` (a function of the loop's radius parameter), the
evaluation counters and the best point seen (the step solvers' state -- OpenAI-ES's Adam
moments, the BFGS matrix of the trust-region ES -- travels in the loop's ``step_state``).

Conventions:

* MINIMIZATION: ``tell(X, values)`` takes ``f(x)`` to minimize; internally the loop maximizes
  ``F = -f`` (its ``eta`` is ``-mean f``). To maximize a reward ``R`` (reinforcement learning),
  tell ``-R``.
* NaN / inf / exceptions: a non-finite value (and, in :func:`minimize`, an exception raised
  by ``fun``, recorded as NaN) is replaced by the WORST finite value of its batch before the
  batch reaches the loop, so it gets the worst rank and never pulls the iterate toward it;
  a batch with no finite value gives a zero model and the loop keeps the iterate (a
  numerical failure). They are counted (``result.n_nonfinite``, ``result.n_exceptions``) and
  never become ``result.x``. When EVERY evaluation failed, the result says so: ``success``
  False, ``status`` 3, ``message`` starting with "every function evaluation failed" and giving
  both counts, ``fun`` = inf and ``x`` = the starting point (never evaluated to a finite value),
  whatever stopped the run (the constant imputed values would otherwise read as ``tolfun``
  convergence).
* Reproducibility: all randomness comes from one ``np.random.Generator`` seeded by ``seed``
  and the noise table; evaluation happens outside the state, so the result is the same for
  any number of worker processes, and a pickled optimizer resumes the same trajectory.
"""

from __future__ import annotations

import math
import multiprocessing
from dataclasses import replace
from typing import Callable

import numpy as np
from scipy.optimize import OptimizeResult

from trustopt._validation import ValidationError, as_float_array, check_positive
from trustopt.algorithms.ars import ARSStep
from trustopt.algorithms.es import ESGradientStep, GaussianSearch, antithetic_pairs, impute_nonfinite, make_batch
from trustopt.algorithms.tres import TRESStep
from trustopt.algorithms.trust_region_es import FreshRatioTest, QuadraticModelStep, TrustRegionStep
from trustopt.components.acceptance import AlwaysAccept
from trustopt.components.distances import Euclidean
from trustopt.components.radius import ConstantRadius, RatioRadius
from trustopt.components.surrogates import ImportanceSampled
from trustopt.core import loop as core
from trustopt.noise import NoiseTable, orthogonal_directions

__all__ = ["minimize", "ES", "ARS", "TRES", "TrustRegionES", "METHODS", "DEFAULT_METHOD"]


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValidationError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


class _AskTellSampler:
    """Placeholder sampler: in ask/tell mode batches come from :meth:`_ESBase.tell`."""

    def sample(self, policy, theta, rng, baseline=None):  # pragma: no cover - never called
        raise RuntimeError("ask/tell optimizers receive their batches through tell()")


class _ESBase:
    """Common ask/tell machinery (see the module docstring). Subclasses define :meth:`_components`."""

    name = "es-base"
    orthogonal = False
    center = False
    rotate = True

    def __init__(self, x0, sigma0, *, seed, popsize: int | None = None, adapt: bool = True,
                 noise: NoiseTable | None = None, tolx: float = 1e-12, tolfun: float = 1e-12,
                 ftarget: float = -math.inf, maxfev: int | None = None, maxiter: int | None = None,
                 **hyperparameters):
        x0 = as_float_array(x0, "x0", ndim=1)
        if x0.size == 0:
            raise ValidationError("x0: empty")
        sigma0 = check_positive(sigma0, "sigma0")
        seed = _check_int(seed, "seed", 0)
        d = x0.shape[0]
        if popsize is None:
            popsize = 4 + int(3 * math.log(d))
        popsize = _check_int(popsize, "popsize", 2)
        self.m = popsize // 2  # antithetic pairs (+ the center point when self.center)
        popsize = 2 * self.m + (1 if self.center else 0)
        self.d, self.sigma0, self.seed, self.popsize = d, sigma0, seed, popsize
        self.adapt = bool(adapt)
        self.tolx = check_positive(tolx, "tolx")
        self.tolfun = check_positive(tolfun, "tolfun")
        self.ftarget = float(ftarget)
        self.maxfev = None if maxfev is None else _check_int(maxfev, "maxfev", 1)
        self.maxiter = None if maxiter is None else _check_int(maxiter, "maxiter", 0)
        self.noise = noise if noise is not None else NoiseTable()
        if not isinstance(self.noise, NoiseTable):
            raise ValidationError(f"noise: expected a NoiseTable, got {type(self.noise).__name__}")
        step, acceptance, radius_rule = self._components(d, hyperparameters)
        self.method = core.Method(
            name=self.name, policy=GaussianSearch(n_params=d), sampler=_AskTellSampler(),
            surrogate=ImportanceSampled(), distance=Euclidean(), step=step, acceptance=acceptance,
            radius_rule=radius_rule, theta0=x0, hyperparameters=dict(hyperparameters),
        )
        self.state = core.start(self.method)
        self.param0 = self.state.param
        self.rng = np.random.default_rng(np.random.SeedSequence(seed))
        self.frame = None
        self.pending = None
        self.nfev = 0
        self.n_nonfinite = 0
        self.n_exceptions = 0
        self.n_failures = 0
        self.best_x = np.array(x0)
        self.best_f = math.inf
        self.history: list = []          # the loop's Records, one per finished iteration
        self.recent_f: list = []         # mean f of the last model batches (for tolfun)

    # ------------------------------------------------------------------ subclass hooks
    def _components(self, d: int, hp: dict):
        raise NotImplementedError

    def sigma(self) -> float:
        """The sampling standard deviation of the next batch: ``sigma_k`` of the rule
        (:meth:`_sigma_rule`), except that a trial batch uses its model batch's ``sigma``
        (the ratio test compares ``J_sigma`` at the same ``sigma``)."""
        if self.state.phase == core.NEED_TRIAL:
            return float(self.state.batch.states[0, 0])
        return self._sigma_rule()

    def _sigma_rule(self) -> float:
        """``sigma_k = sigma0 * s_k / s_0`` with ``s_k`` the loop's radius parameter."""
        return self.sigma0 * self.state.param / self.param0

    # ------------------------------------------------------------------ ask / tell
    @property
    def mean(self) -> np.ndarray:
        """``theta_k``, the current iterate (the mean of the search distribution)."""
        return np.array(self.state.theta)

    def ask(self) -> np.ndarray:
        """The next ``popsize`` points to evaluate, ``(n, d)``: antithetic pairs (rows ``j`` and
        ``j + n/2``) around the point the loop needs a batch at. Calling ``ask`` again before
        ``tell`` returns the same points."""
        if self.pending is None:
            theta = core.ask(self.state)
            sigma = self.sigma()
            m = self.m
            index, sign = antithetic_pairs(self.noise, self.rng, self.d, m)
            if self.orthogonal:
                if self.state.phase == core.NEED_TRIAL and self.frame is not None:
                    E = self.frame  # common directions for the trial batch (see TrustRegionES)
                else:
                    E = orthogonal_directions(self.noise.get(index[:m], self.d), rotate=self.rotate)
                    self.frame = E
                X = np.asarray(theta)[None, :] + sigma * np.concatenate([E, -E])
            else:
                X = self.noise.perturb(theta, sigma, index, sign)
            if self.center:
                X = np.concatenate([X, np.asarray(theta)[None, :]])
            self.pending = {"theta": np.array(theta), "sigma": sigma, "index": index, "sign": sign, "X": X,
                            "orthogonal": self.orthogonal}
        return np.array(self.pending["X"])

    def tell(self, X, values) -> None:
        """Report ``values[j] = f(X[j])`` (to MINIMIZE; NaN/inf allowed, see module docstring)
        for the points of the last :meth:`ask`."""
        if self.pending is None:
            raise ValidationError("X: tell() called without a pending ask()")
        X = np.asarray(X, dtype=np.float64)
        if X.shape != self.pending["X"].shape or not np.array_equal(X, self.pending["X"]):
            raise ValidationError(f"X: must be the {self.pending['X'].shape} array returned by the last ask()")
        try:
            f = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"values: cannot be converted to a float array ({exc})") from None
        if f.shape != (X.shape[0],):
            raise ValidationError(f"values: expected {X.shape[0]} values, got shape {np.shape(values)}")
        pend = self.pending
        self.pending = None
        self.nfev += f.size
        finite = np.isfinite(f)
        if finite.any():
            j = int(np.argmin(np.where(finite, f, np.inf)))
            if f[j] < self.best_f:
                self.best_f, self.best_x = float(f[j]), np.array(X[j])
        F, n_bad = impute_nonfinite(-f, maximize=True)
        self.n_nonfinite += n_bad
        batch = make_batch(pend["theta"], pend["sigma"], X, F, center=self.center)
        self._core_tell(batch)
        while core.ask(self.state) is None:  # READY: a model batch is at hand, propose at once
            self._core_tell(None)

    def _core_tell(self, batch) -> None:
        state = self.state
        proposes = state.phase in (core.NEED_MODEL, core.READY)
        model_batch = batch if state.phase == core.NEED_MODEL else state.batch
        self.state, record = core.tell(self.method, state, batch, self.rng)
        if proposes:
            self.recent_f.append(-float(model_batch.eta))
            del self.recent_f[:-self._tolfun_window()]
        if record is not None:
            self.history.append(record)
            if record.status != "ok":
                self.n_failures += 1

    # ------------------------------------------------------------------ termination and result
    def _tolfun_window(self) -> int:
        return 10 + int(math.ceil(30 * self.d / self.popsize))

    @property
    def nit(self) -> int:
        return self.state.k

    def stop(self) -> dict:
        """Termination reasons met now, ``{name: message}`` (empty: keep going).

        ``ftarget`` (best f <= ftarget), ``maxfev``, ``maxiter``, ``tolx`` (``sigma_k sqrt(d) <
        tolx``: the search has collapsed), ``tolfun`` (over the last ``10 + ceil(30 d / n)``
        model batches, the range of their mean f and of the current batch's values is below
        ``tolfun``)."""
        out = {}
        if self.best_f <= self.ftarget:
            out["ftarget"] = f"best f {self.best_f:.6g} <= ftarget {self.ftarget:.6g}"
        if self.maxfev is not None and self.nfev + self.popsize > self.maxfev:
            out["maxfev"] = f"{self.nfev} evaluations; the next batch would exceed maxfev = {self.maxfev}"
        if self.maxiter is not None and self.nit >= self.maxiter:
            out["maxiter"] = f"{self.nit} iterations"
        if self.sigma() * math.sqrt(self.d) < self.tolx:
            out["tolx"] = f"sigma * sqrt(d) = {self.sigma() * math.sqrt(self.d):.3g} < tolx = {self.tolx:g}"
        if len(self.recent_f) >= self._tolfun_window():
            b = self.state.batch
            vals = [-float(b.returns.min()), -float(b.returns.max())] if b is not None else []
            span = max(self.recent_f + vals) - min(self.recent_f + vals)
            if span < self.tolfun:
                out["tolfun"] = f"range of recent f values {span:.3g} < tolfun = {self.tolfun:g}"
        return out

    @property
    def result(self) -> OptimizeResult:
        """``scipy.optimize.OptimizeResult``: ``x`` (best evaluated point), ``fun``, ``nfev``,
        ``nit``, ``success`` (stopped by ftarget/tolx/tolfun), ``status``, ``message``, plus
        ``xmean`` (``theta_k``), ``sigma``, ``radius``, ``n_nonfinite``, ``n_exceptions``,
        ``n_failures`` (iterations whose step was a numerical failure), ``stop`` (reasons).
        After evaluations none of which was finite: ``success`` False, ``status`` 3 (see the
        module docstring)."""
        reasons = self.stop()
        success = any(k in reasons for k in ("ftarget", "tolx", "tolfun"))
        status = 0 if success else (1 if ("maxfev" in reasons or "maxiter" in reasons) else 4)
        message = "; ".join(f"{k}: {v}" for k, v in reasons.items()) or "running"
        if self.nfev > 0 and not math.isfinite(self.best_f):
            success, status = False, 3
            message = (f"{_STATUS_MESSAGES[3]}: {_all_failed(self.nfev, self.n_exceptions, self.n_nonfinite)}; "
                       + message)
        return OptimizeResult(
            x=np.array(self.best_x), fun=self.best_f, nfev=self.nfev, nit=self.nit, success=success,
            status=status, message=message, xmean=self.mean, sigma=self.sigma(), radius=self.state.param,
            n_nonfinite=self.n_nonfinite, n_exceptions=self.n_exceptions, n_failures=self.n_failures,
            stop=reasons, method=self.name,
        )

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)


def _adaptive_rule(hp: dict, delta0: float):
    """STRO eq. 3.4 on the scale parameter (gamma1 = 2, gamma2 = 1, gamma3 = 1/2, beta1 = 1/2), clipped to
    ``[1e-100, 1e3] * delta0``: the search never grows beyond 1000 times its initial size (a guard
    against the smoothing feedback described in FreshRatioTest, which otherwise diverges)."""
    return RatioRadius(delta0=delta0, beta0=hp.pop("beta0", 0.1), beta1=hp.pop("beta1", 0.5),
                       gamma1=hp.pop("gamma1", 2.0), gamma2=hp.pop("gamma2", 1.0),
                       gamma3=hp.pop("gamma3", 0.5), delta_min=delta0 * 1e-100, delta_max=delta0 * 1e3)


def _leftover(hp: dict, cls: str):
    if hp:
        raise ValidationError(f"options: unknown hyperparameter(s) for {cls}: {', '.join(sorted(hp))}")


class ES(_ESBase):
    """OpenAI evolution strategies (Salimans et al. 2017; TRES eq. 6 with centered ranks).

    ``ES(x0, sigma0, *, seed, popsize=None, adapt=True, lr=..., optimizer="adam"|"sgd",
    l2=..., shaping="centered_ranks"|"none")``. With ``adapt=False`` it is the paper's
    algorithm (fixed ``sigma``, always accept, :class:`~trustopt.algorithms.es.ESGradientStep`
    defaults lr 0.01, Adam, l2 0.005). With ``adapt=True`` (black-box default) ``sigma`` and
    the step are multiplied by a scale ``s_k`` driven by the ratio test and STRO eq. 3.4
    (accept iff ``r_k >= 0.1``), and the defaults are SGD on the natural gradient
    (``step = lr sigma^2 g_s = lr sum_n w_n u_n (x_n - theta)``) with ``lr = 10`` -- measured best
    of {1, 3, 10, 30} on the 10-D sphere and a condition-100 ellipsoid (evaluations to 1e-8:
    about 9000 / fail, 1600 / fail, 900 / 23000, 930 / 24000) -- and no weight decay.
    """

    name = "es"

    def _components(self, d, hp):
        if self.adapt:
            step = ESGradientStep(lr=hp.pop("lr", 10.0), optimizer=hp.pop("optimizer", "sgd"),
                                  l2=hp.pop("l2", 0.0), shaping=hp.pop("shaping", "centered_ranks"),
                                  gain="raw", natural=True)
            rule = _adaptive_rule(hp, 1.0)
            acc = FreshRatioTest(beta0=rule.beta0, use_std=hp.pop("use_std", False))
        else:
            step = ESGradientStep(lr=hp.pop("lr", 0.01), optimizer=hp.pop("optimizer", "adam"),
                                  l2=hp.pop("l2", 0.005), shaping=hp.pop("shaping", "centered_ranks"), gain="shaped")
            rule, acc = ConstantRadius(delta=1.0), AlwaysAccept()
        _leftover(hp, "ES")
        return step, acc, rule


class ARS(_ESBase):
    """Augmented Random Search V1-t (Mania et al. 2018, Alg. 1) on antithetic noise-table samples.

    ``ARS(x0, sigma0, *, seed, popsize=None, adapt=True, alpha=None, top_fraction=0.5)``;
    ``sigma0`` is ARS's ``nu``. ``adapt=False``: the paper's fixed ``nu`` and ``alpha`` (default
    0.02). ``adapt=True``: ``nu`` and ``alpha`` are both multiplied by the scale ``s_k`` of the
    ratio test / STRO eq. 3.4 (as in :class:`ES`), with ``alpha`` defaulting to ``sigma0``
    (the ``top-b`` direction sum has norm about ``sqrt(d)``, so a step moves about as far as a
    sample). V2's observation normalization belongs to the RL rollout sampler.
    """

    name = "ars"

    def _components(self, d, hp):
        alpha = hp.pop("alpha", None)
        top = hp.pop("top_fraction", 0.5)
        if self.adapt:
            # alpha in units of sigma0 * sqrt(d): the unit-variance direction sum has norm ~ sqrt(d).
            step = ARSStep(alpha=alpha if alpha is not None else self.sigma0, top_fraction=top, gain="raw")
            rule = _adaptive_rule(hp, 1.0)
            acc = FreshRatioTest(beta0=rule.beta0, use_std=hp.pop("use_std", False))
        else:
            step = ARSStep(alpha=alpha if alpha is not None else 0.02, top_fraction=top, gain="shaped")
            rule, acc = ConstantRadius(delta=1.0), AlwaysAccept()
        _leftover(hp, "ARS")
        return step, acc, rule


class TRES(_ESBase):
    """Trust Region Evolution Strategies (Liu et al. 2019, Alg. 1; surrogate eq. 25).

    ``TRES(x0, sigma0, *, seed, popsize=None, adapt=True, lambda_=14, K=15, lr=1.0,
    shaping="centered_ranks")`` (see :class:`~trustopt.algorithms.tres.TRESStep` for the
    defaults and why). ``adapt`` as in :class:`ES`.
    """

    name = "tres"

    def _components(self, d, hp):
        step = TRESStep(lambda_=hp.pop("lambda_", 14.0), K=hp.pop("K", 15), lr=hp.pop("lr", 1.0),
                        shaping=hp.pop("shaping", "centered_ranks"), gain="raw" if self.adapt else "shaped")
        if self.adapt:
            rule = _adaptive_rule(hp, 1.0)
            acc = FreshRatioTest(beta0=rule.beta0, use_std=hp.pop("use_std", False))
        else:
            rule, acc = ConstantRadius(delta=1.0), AlwaysAccept()
        _leftover(hp, "TRES")
        return step, acc, rule


class TrustRegionES(_ESBase):
    """The trust-region ES of :mod:`trustopt.algorithms.trust_region_es` (STRO Alg. 3.1 on the
    smoothed objective ``J_sigma``), the library's recommended black-box method.

    Iteration: model ``J_hat_k, g_k`` (TRES eq. 6) from antithetic samples at ``theta_k``; trial
    point from the model on the ball ``||p|| <= delta_k`` -- ``model="quadratic"`` (default):
    dogleg step on ``J_hat_k + g.p - 1/2 p^T H p`` with ``H`` the BFGS approximation of the
    Hessian of ``f`` built from the gradient estimates at each trial point (accepted or not);
    ``model="linear"``: the Cauchy step ``delta_k g/||g||``; ratio test (STRO eq. 3.2) on a fresh
    antithetic batch at the trial point with the same ``sigma``; radius by STRO eq. 3.4
    (``gamma1 = 2, gamma2 = 1, gamma3 = 1/2, beta0 = 0.1, beta1 = 1/2``); smoothing scale
    tied to the radius, ``sigma_k = kappa delta_k / sqrt(d)`` (``delta_0 = sigma0 sqrt(d) / kappa``,
    ``kappa = 1``; Conn, Scheinberg & Vicente 2009 ch. 10).

    Directions: with ``model="quadratic"`` the ``m = popsize // 2`` directions are orthogonalized
    (:func:`trustopt.noise.orthogonal_directions`; a Haar-random frame for ``d <= 256``, randomly
    signed coordinate directions above, option ``rotate``) and ``popsize`` defaults to ``2 d + 1``
    (the pairs and the center ``theta_k``), so that the gradient estimate is the central-difference
    gradient in an orthonormal basis (exact for quadratics, ``O(sigma^2)`` error for smooth ``f``).
    The trial batch reuses the model batch's directions (common random numbers), so the
    gradient estimates at ``theta_k`` and ``theta_tilde`` are the same smooth function of the
    point and the BFGS pair ``(theta_tilde - theta_k, g(theta_tilde) - g(theta_k))`` is not
    swamped by the change of directions; a new frame is drawn for every fresh model batch.
    The actual gain of the ratio test is taken between the two center evaluations
    (:class:`~trustopt.algorithms.trust_region_es.FreshRatioTest` with ``center=True``).

    ``TrustRegionES(x0, sigma0, *, seed, popsize=None, model="quadratic", kappa=1.0, rotate=d <= 256,
    tie_to_step=False, beta0, beta1, gamma1, gamma2, gamma3, use_std=False)``.
    """

    name = "trust-region-es"

    def __init__(self, x0, sigma0, *, seed, popsize=None, **kw):
        model = kw.pop("model", "quadratic")
        if model not in ("quadratic", "linear"):
            raise ValidationError(f"model: must be 'quadratic' or 'linear', got {model!r}")
        self.model = model
        self.orthogonal = self.center = model == "quadratic"
        self.last_step = math.inf
        self.tie_to_step = bool(kw.pop("tie_to_step", False))
        d = as_float_array(x0, "x0", ndim=1).size
        self.rotate = bool(kw.pop("rotate", d <= 256))
        if popsize is None and self.orthogonal:
            popsize = 2 * d + 1
        super().__init__(x0, sigma0, seed=seed, popsize=popsize, **kw)

    def _components(self, d, hp):
        self.kappa = check_positive(hp.pop("kappa", 1.0), "kappa")
        rule = _adaptive_rule(hp, self.sigma0 * math.sqrt(d) / self.kappa)
        acc = FreshRatioTest(beta0=rule.beta0, use_std=hp.pop("use_std", False), center=self.center)
        _leftover(hp, "TrustRegionES")
        if self.model == "quadratic":  # N&W 2006 Alg. 4.1: an interior (Newton) step keeps delta_k
            return QuadraticModelStep(), acc, replace(rule, enlarge_at_boundary_only=True)
        return TrustRegionStep(), acc, rule

    def _sigma_rule(self) -> float:
        """``sigma_k = kappa delta_k / sqrt(d)``; with the option ``tie_to_step=True`` (quadratic model)
        ``kappa min(delta_k, ||p_{k-1}||) / sqrt(d)``, ``p_{k-1}`` the last proposed step. The
        default does not need the samples to shrink for precision: the center point is evaluated."""
        r = self.state.param if (self.model == "linear" or not self.tie_to_step) else min(self.state.param, self.last_step)
        return self.kappa * r / math.sqrt(self.d)

    def _core_tell(self, batch) -> None:
        super()._core_tell(batch)
        if self.state.phase == core.NEED_TRIAL:  # a sound proposal is pending
            self.last_step = float(self.state.proposal.distance)


METHODS = {"es": ES, "ars": ARS, "tres": TRES, "trust-region-es": TrustRegionES}
#: The method ``minimize(method=None)`` uses (the best of the family on the benchmarks, see README).
DEFAULT_METHOD = "trust-region-es"


# ---------------------------------------------------------------------------------- evaluation


_WORKER: dict = {}


def _worker_init(fun, noise, vectorized):
    _WORKER["fun"], _WORKER["noise"], _WORKER["vectorized"] = fun, noise, vectorized


def _worker_eval(task):
    """Rebuild the samples from ``(theta, sigma, index, sign)`` (noise table) and evaluate them."""
    theta, sigma, index, sign = task
    X = _WORKER["noise"].perturb(theta, sigma, index, sign)
    return _evaluate(_WORKER["fun"], X, _WORKER["vectorized"])


def _worker_eval_rows(X):
    """Orthogonalized samples are sent as rows (their QR is not rebuilt in the workers)."""
    return _evaluate(_WORKER["fun"], X, _WORKER["vectorized"])


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
    def __init__(self, fun, workers, noise, vectorized):
        self.fun, self.vectorized, self.pool, self.map = fun, vectorized, None, None
        self.n = 1
        if callable(workers):
            self.map = workers
        else:
            n = _check_int(workers, "workers", 1)
            self.n = n
            if n > 1:
                self.pool = multiprocessing.get_context().Pool(n, initializer=_worker_init,
                                                               initargs=(fun, noise, vectorized))

    def __call__(self, opt: _ESBase, X: np.ndarray):
        if self.pool is not None and (opt.pending.get("orthogonal") or opt.center):
            chunks = [c for c in np.array_split(np.arange(X.shape[0]), self.n) if c.size]
            parts = self.pool.map(_worker_eval_rows, [X[c] for c in chunks])
            return np.concatenate([v for v, _ in parts]), sum(e for _, e in parts)
        if self.pool is not None:
            p = opt.pending
            chunks = np.array_split(np.arange(X.shape[0]), self.n)
            tasks = [(p["theta"], p["sigma"], p["index"][c], p["sign"][c]) for c in chunks if c.size]
            parts = self.pool.map(_worker_eval, tasks)
            return np.concatenate([v for v, _ in parts]), sum(e for _, e in parts)
        if self.map is not None:
            out = list(self.map(_RowEvaluator(self.fun), list(X)))
            return np.array([v for v, _ in out], dtype=np.float64), sum(e for _, e in out)
        return _evaluate(self.fun, X, self.vectorized)

    def close(self):
        if self.pool is not None:
            self.pool.close()
            self.pool.join()


# ---------------------------------------------------------------------------------- minimize


_STATUS_MESSAGES = {0: "converged", 1: "maximum number of function evaluations or iterations reached",
                    2: "stopped by the callback (StopIteration)", 3: "every function evaluation failed", 4: "stopped"}


def _all_failed(nfev: int, n_exceptions: int, n_nonfinite: int) -> str:
    """The message of a run none of whose ``nfev`` evaluations gave a finite value
    (``n_nonfinite`` counts the exceptions too: each is recorded as NaN)."""
    return (f"{nfev} evaluation(s), {n_exceptions} raised an exception, "
            f"{max(n_nonfinite - n_exceptions, 0)} returned a non-finite value "
            f"(n_exceptions = {n_exceptions}, n_nonfinite = {n_nonfinite}); x is the starting point")


def minimize(fun: Callable, x0, method: str | None = None, *, sigma0: float, maxfev: int, seed: int,
             workers: int | Callable = 1, callback: Callable | None = None, options: dict | None = None
             ) -> OptimizeResult:
    """Minimize ``fun: R^d -> R`` with an evolution strategy driven by the trust-region loop.

    Args:
        fun: the objective; ``fun(x)`` with ``x (d,)`` -> float, or with ``options["vectorized"]``
            ``fun(X)`` with ``X (n, d)`` -> ``(n,)``. NaN/inf/exceptions: see the module docstring.
        x0: ``(d,)`` finite starting point (the initial mean).
        method: ``"trust-region-es"`` (``None``: the recommended :data:`DEFAULT_METHOD`),
            ``"es"``, ``"ars"`` or ``"tres"``.
        sigma0: initial sampling standard deviation ``> 0`` (about a quarter of the search range).
        maxfev: evaluation budget (``nfev <= maxfev``; a batch that would exceed it is not asked).
        seed: integer >= 0; the same seed gives the same result for any ``workers``.
        workers: number of processes (each rebuilds the samples from noise-table indices,
            TRES "Distributed Implementation"; ``fun`` must be picklable when > 1) or a
            map-like callable ``workers(f, iterable)``.
        callback: ``callback(intermediate_result)`` after every batch, with an
            ``OptimizeResult`` (as scipy's); raising ``StopIteration`` stops cleanly.
        options: ``popsize``, ``restarts`` (IPOP: number of restarts, default 0; each after a
            ``tolx``/``tolfun`` stop, with the population multiplied by ``incpopsize`` = 2,
            Auger & Hansen 2005), ``restart_x0`` (callable ``rng -> x0`` for restarts; default
            ``x0``), ``vectorized``, ``ftarget``, ``tolx``, ``tolfun``, ``maxiter``, and the
            method's hyperparameters (see the ask/tell classes).

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
    opts = dict(options or {})
    restarts = _check_int(opts.pop("restarts", 0), "restarts", 0)
    incpopsize = check_positive(opts.pop("incpopsize", 2.0), "incpopsize")
    restart_x0 = opts.pop("restart_x0", None)
    vectorized = bool(opts.pop("vectorized", False))
    popsize = opts.pop("popsize", None)
    noise = opts.pop("noise", None) or NoiseTable()
    seeds = np.random.SeedSequence(seed).spawn(restarts + 2)
    restart_rng = np.random.default_rng(seeds[-1])

    def make(x_start, pop, run):
        child_seed = int(seeds[run].generate_state(1)[0])
        return cls(x_start, sigma0, seed=child_seed, popsize=pop, noise=noise, **opts)

    opt = make(x0, popsize, 0)
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
