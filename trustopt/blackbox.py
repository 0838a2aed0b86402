"""Black-box minimization with evolution strategies: the ask/tell classes (``trustopt.minimize``,
built on them, is in :mod:`trustopt.optimize`).

The ES family is driven by THE loop of :mod:`trustopt.core.loop` (STRO Alg. 3.1 / 4.3):
each ask/tell class here is a thin adapter that (1) turns the loop's request "a batch at
``theta``" into antithetic samples ``x = theta +- sigma_k eps`` read from the shared noise
table (:mod:`trustopt.noise`), (2) turns the told values into a loop
:class:`~trustopt.core.types.Batch` and (3) calls :func:`trustopt.core.loop.tell`. It owns
only what the loop does not: ``sigma_k`` (a function of the loop's radius parameter), the
evaluation counters and the best point seen (the step solvers' state -- OpenAI-ES's Adam
moments, the BFGS matrix of the trust-region ES -- travels in the loop's ``step_state``).

Public API:

* ``trustopt.minimize`` (:mod:`trustopt.optimize`) drives these classes the way
  ``scipy.optimize.minimize`` is called.
* Ask/tell optimizers :class:`ES`, :class:`ARS`, :class:`TRES`, :class:`TrustRegionES`::

      opt = TRES(x0, sigma0, *, seed, popsize=None, noise=None, tolx=1e-12, tolfun=1e-12,
                 ftarget=-inf, maxfev=None, maxiter=None, bounds=None, options=None, **hyperparameters)
      X = opt.ask(); opt.tell(X, values); opt.stop(); opt.result; opt.mean; opt.sigma()

  The hyperparameters are given either as ``options=`` an instance of the class's options
  dataclass or as keywords with the same names (not both); an unknown keyword is a
  :class:`~trustopt.ValidationError` naming it and listing the valid ones.
* Options dataclasses (frozen, keyword-only, validated on construction; every field, its
  default and its source in the class docstring): :class:`ESOptions`, :class:`ARSOptions`,
  :class:`TRESOptions`, :class:`TrustRegionESOptions` (the methods' hyperparameters) and
  :class:`MinimizeOptions` (popsize, IPOP restarts, evaluation, stopping tolerances). A field
  whose default depends on the mode (``ES``'s ``lr``, ``optimizer``, ``l2``; ``ARS``'s ``alpha``)
  or on the dimension (``TrustRegionES``'s ``rotate``) defaults to ``None``, and the class
  says what ``None`` means (``ADAPTIVE_DEFAULTS`` / ``PAPER_DEFAULTS``, :meth:`ESOptions.value`).

Conventions:

* MINIMIZATION: ``tell(X, values)`` takes ``f(x)`` to minimize; internally the loop maximizes
  ``F = -f`` (its ``eta`` is ``-mean f``). To maximize a reward ``R`` (reinforcement learning),
  tell ``-R``.
* Bounds (``bounds=``, scipy's forms): the samples live in an unbounded internal space and
  ``ask`` returns their images in the box (:mod:`trustopt.bounds`); ``mean`` is in the box too.
* NaN / inf / exceptions: a non-finite value (and, in ``minimize`` with ``on_error="impute"``,
  an exception raised by ``fun``, told as NaN) is replaced by the WORST finite value of its batch before the
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
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import ClassVar

import numpy as np
from scipy.optimize import OptimizeResult

from trustopt._validation import ValidationError, as_float_array, check_int, check_nonnegative, check_positive
from trustopt.algorithms.ars import ARSStep
from trustopt.algorithms.es import ESGradientStep, GaussianSearch, antithetic_pairs, impute_nonfinite, make_batch
from trustopt.algorithms.tres import TRESStep
from trustopt.algorithms.trust_region_es import FreshRatioTest, QuadraticModelStep, TrustRegionStep
from trustopt.components.acceptance import AlwaysAccept
from trustopt.components.distances import Euclidean
from trustopt.components.radius import ConstantRadius, RatioRadius
from trustopt.components.surrogates import ImportanceSampled
from trustopt.core import loop as core
from trustopt.bounds import as_box, default_sigma0
from trustopt.components.search import Draw
from trustopt.noise import NoiseTable, orthogonal_directions

__all__ = ["ES", "ARS", "TRES", "TrustRegionES", "ESOptions", "ARSOptions",
           "TRESOptions", "TrustRegionESOptions", "METHODS", "DEFAULT_METHOD"]


class BoundsWarning(UserWarning):
    """A starting point outside the bounds was clipped into the box."""


class _AskTellSampler:
    """Placeholder sampler: in ask/tell mode batches come from :meth:`_ESBase.tell`."""

    def sample(self, policy, theta, rng, baseline=None):  # pragma: no cover - never called
        raise RuntimeError("ask/tell optimizers receive their batches through tell()")


# ---------------------------------------------------------------------------------- options


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValidationError(f"{name}: must be True or False, got {value!r}")
    return bool(value)


def _check_choice(value, name: str, choices: tuple) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(f"{name}: must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _field_defaults(cls) -> dict:
    return {f.name: f.default for f in fields(cls)}


@dataclass(frozen=True, kw_only=True)
class _RatioTestOptions:
    """The ratio test and the scale rule of the adaptive optimizers (fields of every ``*Options``).

    Adaptive mode: the trial point of each iteration is accepted iff
    ``r_k = actual / predicted gain >= beta0`` on a fresh batch at the trial point
    (:class:`~trustopt.algorithms.trust_region_es.FreshRatioTest`; STRO eq. 3.2-3.3), and the
    scale ``s_k`` (the trust-region radius of :class:`TrustRegionES`, the multiplier of
    ``sigma`` and the step of :class:`ES` / :class:`ARS` / :class:`TRES`) follows STRO eq. 3.4::

        s_{k+1} = gamma1 s_k  if r_k >= beta1;   gamma2 s_k  if beta0 <= r_k < beta1;   gamma3 s_k  otherwise,

    clipped to ``[1e-100, 1e3] * s_0``.

    Fields:
        beta0: acceptance threshold, ``0 < beta0 < beta1``. Default 0.1: a tenth of the
            predicted gain must be realized (Nocedal & Wright 2006, Alg. 4.1 takes
            ``eta in [0, 1/4)``).
        beta1: "very successful" threshold of STRO eq. 3.4. Default 0.5.
        gamma1: enlarging factor, ``> 1``. Default 2.0.
        gamma2: factor after an accepted, not very successful step, ``gamma3 < gamma2 <= 1``.
            Default 1.0 (keep the scale).
        gamma3: shrinking factor after a rejection, ``0 < gamma3 < gamma2``. Default 0.5.
            (gamma1..3 = 2, 1, 1/2: the double / keep / halve rule chosen here; STRO sec. 5.1
            uses 2, 0.8, 0.6 with its gradient-norm radius.)
        use_std: add the sample standard deviation of the model batch's values to the
            denominator of ``r_k`` (STRO eq. 4.14 with eq. 4.2). Default False (for a
            deterministic objective that spread is not noise); True for noisy objectives.
    """

    beta0: float = 0.1
    beta1: float = 0.5
    gamma1: float = 2.0
    gamma2: float = 1.0
    gamma3: float = 0.5
    use_std: bool = False

    #: The fields only the adaptive mode uses (with ``adapt=False`` they must keep their defaults).
    ADAPTIVE_ONLY: ClassVar[tuple[str, ...]] = ("beta0", "beta1", "gamma1", "gamma2", "gamma3", "use_std")

    def __post_init__(self):
        # the rule the optimizer builds; its validation names the field (STRO eq. 3.4's constraints)
        RatioRadius(beta0=self.beta0, beta1=self.beta1, gamma1=self.gamma1, gamma2=self.gamma2, gamma3=self.gamma3)
        _check_bool(self.use_std, "use_std")


@dataclass(frozen=True, kw_only=True)
class _ModeOptions(_RatioTestOptions):
    """``adapt`` (the black-box mode with the ratio test, or the paper's fixed-``sigma`` algorithm)
    and the :class:`_RatioTestOptions` fields, which only ``adapt=True`` uses."""

    adapt: bool = True

    #: Values of the fields left ``None``, by mode (``adapt=True`` / ``adapt=False``).
    ADAPTIVE_DEFAULTS: ClassVar[Mapping] = MappingProxyType({})
    PAPER_DEFAULTS: ClassVar[Mapping] = MappingProxyType({})

    def __post_init__(self):
        super().__post_init__()
        _check_bool(self.adapt, "adapt")
        if not self.adapt:
            defaults = _field_defaults(_RatioTestOptions)
            for name in self.ADAPTIVE_ONLY:
                if getattr(self, name) != defaults[name]:
                    raise ValidationError(
                        f"{name}: only used with adapt=True (the ratio test and STRO eq. 3.4); adapt=False is the "
                        f"paper's algorithm with a fixed sigma, got {name}={getattr(self, name)!r}")

    def value(self, name: str):
        """The value the optimizer uses for field ``name``: the field, or when it is ``None``
        its entry in :attr:`ADAPTIVE_DEFAULTS` / :attr:`PAPER_DEFAULTS` (by ``adapt``)."""
        v = getattr(self, name)
        if v is None:
            table = self.ADAPTIVE_DEFAULTS if self.adapt else self.PAPER_DEFAULTS
            v = table.get(name)
        return v


@dataclass(frozen=True, kw_only=True)
class ESOptions(_ModeOptions):
    """Hyperparameters of :class:`ES` (OpenAI evolution strategies, Salimans et al. 2017).

    Fields (``None``: the value of the mode, :attr:`ADAPTIVE_DEFAULTS` for ``adapt=True``,
    :attr:`PAPER_DEFAULTS` for ``adapt=False``; see :meth:`value`):
        adapt: True (default): black-box mode, ``sigma`` and the step scaled by ``s_k`` of the
            ratio test (:class:`_RatioTestOptions`); False: the paper's algorithm (fixed
            ``sigma``, every step accepted).
        lr: step size ``> 0``. Default None: 10.0 with ``adapt`` (SGD on the natural gradient,
            ``step = lr sigma^2 g``; measured best of {1, 3, 10, 30} on the 10-D sphere and a
            condition-100 ellipsoid, see :class:`ES`), 0.01 without (OpenAI ES starter code,
            MuJoCo configs).
        optimizer: ``"sgd"`` or ``"adam"`` (Adam with ``beta1 = 0.9, beta2 = 0.999, eps = 1e-8``,
            Kingma & Ba 2015). Default None: ``"sgd"`` with ``adapt``, ``"adam"`` without
            (starter code).
        l2: weight decay ``>= 0`` (``g - l2 theta``). Default None: 0.0 with ``adapt``, 0.005
            without (starter code).
        shaping: ``"centered_ranks"`` (default; Salimans et al. 2017's fitness shaping, ranks
            mapped to ``[-1/2, 1/2]``, :func:`trustopt.estimators.centered_ranks`) or ``"none"``
            (the values minus their mean).
        beta0, beta1, gamma1, gamma2, gamma3, use_std: the ratio test and STRO eq. 3.4 (defaults
            0.1, 0.5, 2.0, 1.0, 0.5, False; :class:`_RatioTestOptions`); ``adapt=True`` only.
    """

    lr: float | None = None
    optimizer: str | None = None
    l2: float | None = None
    shaping: str = "centered_ranks"

    ADAPTIVE_DEFAULTS: ClassVar[Mapping] = MappingProxyType({"lr": 10.0, "optimizer": "sgd", "l2": 0.0})
    PAPER_DEFAULTS: ClassVar[Mapping] = MappingProxyType({"lr": 0.01, "optimizer": "adam", "l2": 0.005})

    def __post_init__(self):
        super().__post_init__()
        if self.lr is not None:
            check_positive(self.lr, "lr")
        if self.optimizer is not None:
            _check_choice(self.optimizer, "optimizer", ("sgd", "adam"))
        if self.l2 is not None:
            check_nonnegative(self.l2, "l2")
        _check_choice(self.shaping, "shaping", ("centered_ranks", "none"))


@dataclass(frozen=True, kw_only=True)
class ARSOptions(_ModeOptions):
    """Hyperparameters of :class:`ARS` (Augmented Random Search V1-t, Mania, Guy & Recht 2018, Alg. 1).

    Fields:
        adapt: as in :class:`ESOptions` (default True).
        alpha: step size ``> 0`` (the paper's ``alpha``). Default None: ``sigma0`` with
            ``adapt`` (the top-``b`` direction sum has norm about ``sqrt(d)``, so a step moves
            about as far as a sample; scaled by ``s_k`` like ``nu``), 0.02 without
            (:attr:`PAPER_DEFAULTS`; Mania et al. Table 9 use 0.01-0.03 on MuJoCo).
        top_fraction: ``b / N`` in ``(0, 1]``, the fraction of the ``N`` antithetic pairs whose
            directions make the step (``b = max(1, round(top_fraction N))``). Default 0.5
            (Mania et al. tuned ``b / N`` over 0.125-1).
        beta0, beta1, gamma1, gamma2, gamma3, use_std: as in :class:`ESOptions` (``adapt=True`` only).

    ``sigma0`` of :class:`ARS` is the paper's ``nu``.
    """

    alpha: float | None = None
    top_fraction: float = 0.5

    PAPER_DEFAULTS: ClassVar[Mapping] = MappingProxyType({"alpha": 0.02})

    def __post_init__(self):
        super().__post_init__()
        if self.alpha is not None:
            check_positive(self.alpha, "alpha")
        top = as_float_array(self.top_fraction, "top_fraction", ndim=0)
        if not 0.0 < top <= 1.0:
            raise ValidationError(f"top_fraction: must lie in (0, 1], got {self.top_fraction!r}")


@dataclass(frozen=True, kw_only=True)
class TRESOptions(_ModeOptions):
    """Hyperparameters of :class:`TRES` (Trust Region Evolution Strategies, Liu et al. 2019, Alg. 1).

    Fields:
        adapt: as in :class:`ESOptions` (default True).
        lambda_: clip factor of the surrogate (TRES eq. 25: ratios clipped to
            ``[1/(1 + lambda_), 1 + lambda_]``), ``> 0``. Default 14.0 (TRES Fig. 3: best of [8, 20]).
        K: epochs of ascent on the surrogate per iteration, an integer ``>= 1``. Default 15
            (TRES Fig. 4).
        lr: per-epoch step ``lr * sigma^2 * grad L_CLIP`` (the paper's ``alpha = lr sigma^2``),
            ``> 0``. Default 1.0 (chosen here; the paper states none: see
            :class:`~trustopt.algorithms.tres.TRESStep`).
        shaping: as in :class:`ESOptions` (default ``"centered_ranks"``).
        beta0, beta1, gamma1, gamma2, gamma3, use_std: as in :class:`ESOptions` (``adapt=True`` only).
    """

    lambda_: float = 14.0
    K: int = 15
    lr: float = 1.0
    shaping: str = "centered_ranks"

    def __post_init__(self):
        super().__post_init__()
        check_positive(self.lambda_, "lambda_")
        check_int(self.K, "K", 1)
        check_positive(self.lr, "lr")
        _check_choice(self.shaping, "shaping", ("centered_ranks", "none"))


@dataclass(frozen=True, kw_only=True)
class TrustRegionESOptions(_RatioTestOptions):
    """Hyperparameters of :class:`TrustRegionES` (STRO Alg. 3.1 on the smoothed objective).

    Always adaptive (the radius is the method), so there is no ``adapt``.

    Fields:
        model: ``"quadratic"`` (default: dogleg step on the BFGS quadratic model, orthogonal
            directions plus the center point; Nocedal & Wright 2006 Alg. 4.1 and eq. 6.19) or
            ``"linear"`` (the Cauchy step ``delta_k g / ||g||`` on antithetic Gaussian samples).
        kappa: ``sigma_k = kappa delta_k / sqrt(d)``, ``> 0`` (Conn, Scheinberg & Vicente 2009,
            ch. 10: sample radius tied to the trust radius). Default 1.0.
        rotate: ``model="quadratic"`` only. True: a Haar-random orthonormal frame of directions
            for each model batch (Choromanski et al. 2018); False: randomly signed coordinate
            directions (:func:`trustopt.noise.orthogonal_directions`). Default None: ``d <= 256``
            (the frame's QR costs ``O(d^3)`` per model batch, the coordinate directions ``O(d^2)``).
        tie_to_step: ``model="quadratic"`` only. True: ``sigma_k = kappa min(delta_k, ||p_{k-1}||)
            / sqrt(d)`` with ``p_{k-1}`` the last proposed step. Default False.
        beta0, beta1, gamma1, gamma2, gamma3, use_std: the ratio test and STRO eq. 3.4 on
            ``delta_k`` (defaults 0.1, 0.5, 2.0, 1.0, 0.5, False; :class:`_RatioTestOptions`);
            with the quadratic model an interior step keeps ``delta_k`` (N&W Alg. 4.1).
    """

    model: str = "quadratic"
    kappa: float = 1.0
    rotate: bool | None = None
    tie_to_step: bool = False

    def __post_init__(self):
        super().__post_init__()
        _check_choice(self.model, "model", ("quadratic", "linear"))
        check_positive(self.kappa, "kappa")
        if self.rotate is not None:
            _check_bool(self.rotate, "rotate")
        _check_bool(self.tie_to_step, "tie_to_step")
        if self.model == "linear":
            for name, unused in (("rotate", self.rotate is not None), ("tie_to_step", bool(self.tie_to_step))):
                if unused:
                    raise ValidationError(f"{name}: only used with model='quadratic', got model='linear'")


def _resolve_options(cls, options, hyperparameters: dict, owner: str):
    """``options`` (an instance of ``cls``) or ``cls(**hyperparameters)``: one or the other; an
    unknown keyword is an error naming it and listing the valid ones."""
    if options is not None:
        if not isinstance(options, cls):
            raise ValidationError(f"options: {owner} takes {cls.__name__}, got {type(options).__name__}")
        if hyperparameters:
            raise ValidationError(f"options: give either options={cls.__name__}(...) or keyword hyperparameters, "
                                  f"not both (got options and {', '.join(sorted(hyperparameters))})")
        return options
    valid = sorted(f.name for f in fields(cls))
    unknown = sorted(set(hyperparameters) - set(valid))
    if unknown:
        raise ValidationError(f"{', '.join(unknown)}: unknown hyperparameter{'s' if len(unknown) > 1 else ''} "
                              f"of {owner}; valid: {', '.join(valid)}")
    return cls(**hyperparameters)


class _ESBase:
    """Common ask/tell machinery (see the module docstring). Subclasses set :attr:`options_class`
    and define :meth:`_components`."""

    name = "es-base"
    options_class: type = _RatioTestOptions
    orthogonal = False
    center = False
    rotate = True

    def __init__(self, x0, sigma0=None, *, seed=None, popsize: int | None = None, noise: NoiseTable | None = None,
                 tolx: float = 1e-12, tolfun: float = 1e-12, ftarget: float = -math.inf,
                 maxfev: int | None = None, maxiter: int | None = None, bounds=None, options=None,
                 keep_history: bool = True, **hyperparameters):
        self.options = _resolve_options(self.options_class, options, hyperparameters, type(self).__name__)
        x0 = as_float_array(x0, "x0", ndim=(0, 1)).reshape(-1)  # a scalar is a 1-d problem, as in scipy
        if x0.size == 0:
            raise ValidationError("x0: empty")
        self.box = as_box(bounds, x0.size)
        if self.box is not None and not self.box.contains(x0):
            warnings.warn("x0 is outside the bounds: clipped into the box", BoundsWarning, stacklevel=2)
            x0 = np.clip(x0, self.box.lower, self.box.upper)
        sigma0 = default_sigma0(self.box) if sigma0 is None else check_positive(sigma0, "sigma0")
        seed = as_seed(seed)
        d = x0.shape[0]
        self.adapt = bool(getattr(self.options, "adapt", True))
        self._configure(d)
        if popsize is None:
            popsize = self._default_popsize(d)
        popsize = check_int(popsize, "popsize", 2)
        self.m = popsize // 2  # antithetic pairs (+ the center point when self.center)
        popsize = 2 * self.m + (1 if self.center else 0)
        self.d, self.sigma0, self.seed, self.popsize = d, sigma0, seed, popsize
        self.tolx = check_positive(tolx, "tolx")
        self.tolfun = check_positive(tolfun, "tolfun")
        self.ftarget = float(ftarget)
        self.maxfev = None if maxfev is None else check_int(maxfev, "maxfev", 1)
        self.maxiter = None if maxiter is None else check_int(maxiter, "maxiter", 0)
        self.noise = noise if noise is not None else NoiseTable()
        if not isinstance(self.noise, NoiseTable):
            raise ValidationError(f"noise: expected a NoiseTable, got {type(self.noise).__name__}")
        step, acceptance, radius_rule = self._components(d)
        self.method = core.Method(
            name=self.name, policy=GaussianSearch(n_params=d), sampler=_AskTellSampler(),
            surrogate=ImportanceSampled(), distance=Euclidean(), step=step, acceptance=acceptance,
            radius_rule=radius_rule, theta0=x0 if self.box is None else self.box.start(x0),
            hyperparameters=_option_values(self.options),
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
        self.keep_history = _check_bool(keep_history, "keep_history")
        self.history: list = []          # the loop's Records, one per finished iteration (if keep_history)
        self.last_record = None          # the Record of the last finished iteration
        self.recent_f: list = []         # mean f of the last model batches (for tolfun)
        self.recent_bad: list = []       # non-finite values in each of the last told batches (for tolfun)

    # ------------------------------------------------------------------ subclass hooks
    def _configure(self, d: int) -> None:
        """Set what depends on the options before the population is sized (TrustRegionES)."""

    def _default_popsize(self, d: int) -> int:
        """``4 + floor(3 ln d)`` (CMA-ES's default population, Hansen 2016)."""
        return 4 + int(3 * math.log(d))

    def _components(self, d: int):
        """``(step, acceptance, radius_rule)`` from :attr:`options`."""
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
        """``theta_k``, the current iterate (the mean of the search distribution); with bounds,
        its image in the box (:mod:`trustopt.bounds`)."""
        return np.array(self.state.theta) if self.box is None else self.box.to_box(self.state.theta)

    def ask(self) -> np.ndarray:
        """The next ``popsize`` points to evaluate, ``(n, d)``: antithetic pairs (rows ``j`` and
        ``j + n/2``) around the point the loop needs a batch at; with bounds, their images in the
        box (the samples themselves live in the unbounded internal space, :mod:`trustopt.bounds`).
        Calling ``ask`` again before ``tell`` returns the same points."""
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
            rows = not (self.orthogonal or self.center)
            self.pending = Draw(theta=theta, sigma=sigma, index=index if rows else None, sign=sign if rows else None,
                                Y=X, X=X if self.box is None else self.box.to_box(X))
        return np.array(self.pending.X)

    @property
    def asked(self) -> Draw | None:
        """The pending batch of the last :meth:`ask` (None when none is pending)."""
        return self.pending

    def tell(self, X, values, *, n_exceptions: int = 0, repaired: bool = False) -> None:
        """Report ``values[j] = f(X[j])`` (to MINIMIZE; NaN/inf allowed, see module docstring)
        for the points of the last :meth:`ask`. ``n_exceptions``: how many of the NaN values
        stand for evaluations that raised an exception (counted in ``n_exceptions``, not in
        ``n_nonfinite``).

        ``repaired=True``: ``X`` is the asked points after the caller changed them (rounded to a
        grid, projected onto constraints of its own, ...), row ``j`` for asked row ``j``, and
        inside the bounds if there are bounds; the values are attributed to the samples that
        were asked (the update is that of the asked points), and the best point reported is the
        repaired one. Without it ``X`` must be exactly the asked array (a guard against telling
        the wrong batch)."""
        if self.pending is None:
            raise ValidationError("X: tell() called without a pending ask()")
        X = np.asarray(X, dtype=np.float64)
        asked = self.pending.X
        if X.shape != asked.shape:
            raise ValidationError(f"X: must be the {asked.shape} array returned by the last ask(), got shape {X.shape}")
        if not _check_bool(repaired, "repaired"):
            if not np.array_equal(X, asked):
                raise ValidationError("X: must be the array returned by the last ask() (pass repaired=True for "
                                      "points you changed)")
        elif not np.all(np.isfinite(X)) or (self.box is not None and not self.box.contains(X)):
            raise ValidationError("X: repaired points must be finite and inside the bounds")
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
        n_exceptions = check_int(n_exceptions, "n_exceptions", 0)
        if n_exceptions > n_bad:
            raise ValidationError(f"n_exceptions: {n_exceptions} exceptions but only {n_bad} non-finite values")
        self.n_nonfinite += n_bad - n_exceptions
        self.n_exceptions += n_exceptions
        self.recent_bad.append(n_bad)
        del self.recent_bad[:-self._tolfun_window()]
        batch = make_batch(pend.theta, pend.sigma, pend.Y, F, center=self.center)
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
            self.last_record = record
            if self.keep_history:
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
        ``tolfun``, and none of the last batches had a NaN/inf value or an exception)."""
        out = {}
        if self.best_f <= self.ftarget:
            out["ftarget"] = f"best f {self.best_f:.6g} <= ftarget {self.ftarget:.6g}"
        if self.maxfev is not None and self.nfev + self.popsize > self.maxfev:
            out["maxfev"] = f"{self.nfev} evaluations; the next batch would exceed maxfev = {self.maxfev}"
        if self.maxiter is not None and self.nit >= self.maxiter:
            out["maxiter"] = f"{self.nit} iterations"
        if self.sigma() * math.sqrt(self.d) < self.tolx:
            out["tolx"] = f"sigma * sqrt(d) = {self.sigma() * math.sqrt(self.d):.3g} < tolx = {self.tolx:g}"
        # imputed values are constants that would fake a flat objective: no tolfun while recent batches had any
        if len(self.recent_f) >= self._tolfun_window() and not any(self.recent_bad):
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
        status = status_of(reasons, self.nfev, self.best_f)
        message = "; ".join(f"{k}: {v}" for k, v in reasons.items()) or "running"
        if status == 3:
            message = (f"{_STATUS_MESSAGES[3]}: {_all_failed(self.nfev, self.n_exceptions, self.n_nonfinite)}; "
                       + message)
        return OptimizeResult(
            x=np.array(self.best_x), fun=self.best_f, nfev=self.nfev, nit=self.nit, success=status == 0,
            status=status, message=message, xmean=self.mean, sigma=self.sigma(), radius=self.state.param,
            n_nonfinite=self.n_nonfinite, n_exceptions=self.n_exceptions, n_failures=self.n_failures,
            stop=reasons, method=self.name, seed=self.seed,
        )

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, state):
        state.setdefault("box", None)  # optimizers pickled before bounds existed
        state.setdefault("recent_bad", [])
        state.setdefault("keep_history", True)
        state.setdefault("last_record", state["history"][-1] if state.get("history") else None)
        self.__dict__.update(state)


def _adaptive_rule(o: _RatioTestOptions, delta0: float) -> RatioRadius:
    """STRO eq. 3.4 on the scale parameter with ``o``'s thresholds and factors (defaults gamma1 = 2,
    gamma2 = 1, gamma3 = 1/2, beta0 = 0.1, beta1 = 1/2), clipped to ``[1e-100, 1e3] * delta0``: the
    search never grows beyond 1000 times its initial size (a guard against the smoothing
    feedback described in FreshRatioTest, which otherwise diverges)."""
    return RatioRadius(delta0=delta0, beta0=o.beta0, beta1=o.beta1, gamma1=o.gamma1, gamma2=o.gamma2,
                       gamma3=o.gamma3, delta_min=delta0 * 1e-100, delta_max=delta0 * 1e3)


def _option_values(o) -> dict:
    """``{field: value}`` of an options dataclass (recorded in the loop's ``Method.hyperparameters``)."""
    return {f.name: getattr(o, f.name) for f in fields(o)}


class ES(_ESBase):
    """OpenAI evolution strategies (Salimans et al. 2017; TRES eq. 6 with centered ranks).

    ``ES(x0, sigma0, *, seed, popsize=None, ..., options=ESOptions(...))`` or the same
    hyperparameters as keywords, ``ES(x0, sigma0, *, seed, adapt=True, lr=..., optimizer=...,
    l2=..., shaping=..., beta0=..., ...)`` (fields, defaults and sources: :class:`ESOptions`).
    With ``adapt=False`` it is the paper's algorithm (fixed ``sigma``, always accept,
    :class:`~trustopt.algorithms.es.ESGradientStep` defaults lr 0.01, Adam, l2 0.005). With
    ``adapt=True`` (black-box default) ``sigma`` and the step are multiplied by a scale ``s_k``
    driven by the ratio test and STRO eq. 3.4 (accept iff ``r_k >= 0.1``), and the defaults are
    SGD on the natural gradient (``step = lr sigma^2 g_s = lr sum_n w_n u_n (x_n - theta)``) with
    ``lr = 10`` -- measured best of {1, 3, 10, 30} on the 10-D sphere and a condition-100
    ellipsoid (evaluations to 1e-8: about 9000 / fail, 1600 / fail, 900 / 23000, 930 / 24000) --
    and no weight decay.
    """

    name = "es"
    options_class = ESOptions

    def _components(self, d):
        o = self.options
        step = ESGradientStep(lr=o.value("lr"), optimizer=o.value("optimizer"), l2=o.value("l2"), shaping=o.shaping,
                              **(dict(gain="raw", natural=True) if self.adapt else dict(gain="shaped")))
        if self.adapt:
            rule = _adaptive_rule(o, 1.0)
            return step, FreshRatioTest(beta0=rule.beta0, use_std=o.use_std), rule
        return step, AlwaysAccept(), ConstantRadius(delta=1.0)


class ARS(_ESBase):
    """Augmented Random Search V1-t (Mania et al. 2018, Alg. 1) on antithetic noise-table samples.

    ``ARS(x0, sigma0, *, seed, popsize=None, ..., options=ARSOptions(...))`` or the keywords
    ``adapt=True, alpha=None, top_fraction=0.5, beta0=..., ...`` (:class:`ARSOptions`);
    ``sigma0`` is ARS's ``nu``. ``adapt=False``: the paper's fixed ``nu`` and ``alpha`` (default
    0.02). ``adapt=True``: ``nu`` and ``alpha`` are both multiplied by the scale ``s_k`` of the
    ratio test / STRO eq. 3.4 (as in :class:`ES`), with ``alpha`` defaulting to ``sigma0``
    (the ``top-b`` direction sum has norm about ``sqrt(d)``, so a step moves about as far as a
    sample). V2's observation normalization belongs to the RL rollout sampler.
    """

    name = "ars"
    options_class = ARSOptions

    def _components(self, d):
        o = self.options
        if self.adapt:
            # alpha in units of sigma0 * sqrt(d): the unit-variance direction sum has norm ~ sqrt(d).
            alpha = o.alpha if o.alpha is not None else self.sigma0
            step = ARSStep(alpha=alpha, top_fraction=o.top_fraction, gain="raw")
            rule = _adaptive_rule(o, 1.0)
            return step, FreshRatioTest(beta0=rule.beta0, use_std=o.use_std), rule
        step = ARSStep(alpha=o.value("alpha"), top_fraction=o.top_fraction, gain="shaped")
        return step, AlwaysAccept(), ConstantRadius(delta=1.0)


class TRES(_ESBase):
    """Trust Region Evolution Strategies (Liu et al. 2019, Alg. 1; surrogate eq. 25).

    ``TRES(x0, sigma0, *, seed, popsize=None, ..., options=TRESOptions(...))`` or the keywords
    ``adapt=True, lambda_=14, K=15, lr=1.0, shaping="centered_ranks", beta0=..., ...``
    (:class:`TRESOptions`; see :class:`~trustopt.algorithms.tres.TRESStep` for the defaults and
    why). ``adapt`` as in :class:`ES`.
    """

    name = "tres"
    options_class = TRESOptions

    def _components(self, d):
        o = self.options
        step = TRESStep(lambda_=o.lambda_, K=o.K, lr=o.lr, shaping=o.shaping, gain="raw" if self.adapt else "shaped")
        if self.adapt:
            rule = _adaptive_rule(o, 1.0)
            return step, FreshRatioTest(beta0=rule.beta0, use_std=o.use_std), rule
        return step, AlwaysAccept(), ConstantRadius(delta=1.0)


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

    ``TrustRegionES(x0, sigma0, *, seed, popsize=None, ..., options=TrustRegionESOptions(...))`` or
    the keywords ``model="quadratic", kappa=1.0, rotate=None (d <= 256), tie_to_step=False, beta0,
    beta1, gamma1, gamma2, gamma3, use_std=False`` (:class:`TrustRegionESOptions`). Always
    adaptive: there is no ``adapt``.
    """

    name = "trust-region-es"
    options_class = TrustRegionESOptions

    def _configure(self, d):
        o = self.options
        self.model = o.model
        self.orthogonal = self.center = o.model == "quadratic"
        self.last_step = math.inf
        self.tie_to_step = bool(o.tie_to_step)
        self.rotate = bool(d <= 256 if o.rotate is None else o.rotate)

    def _default_popsize(self, d):
        """``2 d + 1`` with the quadratic model (``d`` orthogonal pairs and the center), else the base default."""
        return 2 * d + 1 if self.orthogonal else super()._default_popsize(d)

    def _components(self, d):
        o = self.options
        self.kappa = check_positive(o.kappa, "kappa")
        rule = _adaptive_rule(o, self.sigma0 * math.sqrt(d) / self.kappa)
        acc = FreshRatioTest(beta0=rule.beta0, use_std=o.use_std, center=self.center)
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


# ---------------------------------------------------------------------------------- minimize


_STATUS_MESSAGES = {0: "converged", 1: "maximum number of function evaluations or iterations reached",
                    2: "stopped by the callback", 3: "every function evaluation failed", 4: "stopped"}


def as_seed(seed) -> int:
    """``seed`` as an integer ``>= 0``: given, drawn from a ``np.random.Generator``, or, for None, fresh
    entropy (``np.random.SeedSequence().entropy``), recorded (``opt.seed``, ``result.seed``) so the
    run can be repeated exactly."""
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63 - 1))
    return check_int(seed, "seed", 0)


def status_of(reasons: dict, nfev: int, best_f: float) -> int:
    """The ``OptimizeResult.status`` of a run that stopped for ``reasons``: 0 converged (ftarget,
    tolx, tolfun), 1 budget (maxfev, maxiter), 2 stopped by the callback, 3 every evaluation
    failed (``nfev > 0`` and no finite value, whatever else stopped it: the constant imputed
    values would otherwise read as ``tolfun`` convergence), 4 otherwise."""
    if nfev > 0 and not math.isfinite(best_f):
        return 3
    if "callback" in reasons:
        return 2
    if any(k in reasons for k in ("ftarget", "tolx", "tolfun")):
        return 0
    return 1 if ("maxfev" in reasons or "maxiter" in reasons) else 4


def _all_failed(nfev: int, n_exceptions: int, n_nonfinite: int, first_exception: str | None = None) -> str:
    """The message of a run none of whose ``nfev`` evaluations gave a finite value
    (``n_exceptions`` raised, ``n_nonfinite`` returned NaN or inf)."""
    first = f"; the first exception: {first_exception}" if first_exception else ""
    return (f"{nfev} evaluation(s): {n_exceptions} raised an exception, {n_nonfinite} returned a non-finite "
            f"value{first}; x is the starting point")
