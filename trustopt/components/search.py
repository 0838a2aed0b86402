"""The search distribution of the evolution-strategy family, and how its batches are drawn.

Where to read: TRES sec. "Background" (eq. 1-6) for the search distribution and the ES
gradients; Salimans et al. 2017 sec. 2.1 for antithetic noise-table sampling; STRO Alg. 3.1 for
the ratio test that :class:`PerturbationSampler`'s ``sigma_k`` follows.

The ES "policy" is ``p_theta = N(theta, diag(sigma^2))`` over the parameters ``x``
(:class:`GaussianSearch`, TRES eq. 3). A loop :class:`~trustopt.core.types.Batch` of ``N``
samples (:func:`make_batch`) is laid out as:

    ===========  ==========================================================================
    ``actions``  ``x_n (N, d)``, the samples
    ``states``   ``sigma_n``, ``(N, 1)`` (isotropic) or ``(N, d)``: the standard deviation
                 sample ``n`` was drawn with (batches drawn with different ``sigma`` stay
                 well defined)
    ``returns``  ``F(x_n) (N,)``, the values to MAXIMIZE
    ``weights``  ``1/N`` (``0`` for the center row ``x_N = theta``, if any)
    ``eta``      ``eta_hat = mean_n F(x_n)``, the estimate of ``J(theta) = E F(X)`` (TRES eq. 3)
    ``adv``      ``F(x_n) - eta_hat``
    ===========  ==========================================================================

With it the loop's importance-sampled surrogate (:class:`~trustopt.components.surrogates.
ImportanceSampled`, TRES eq. 23-24) has the gradient ``g0 = sum_n w_n adv_n (x_n - theta_k) /
sigma_n^2`` at ``theta_k``: TRES eq. 5 with the baseline ``eta_hat``, and on antithetic pairs
exactly TRES eq. 6.

An ES method's batches are drawn and told by :class:`trustopt.asktell.AskTell` (ask/tell,
``minimize``, ``trustopt.run``, ``trustopt train``): :class:`PerturbationSampler` says how
(``sigma_k``, pairs, orthogonal frames, the center point), :class:`Draw` is one asked batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from trustopt._validation import NOISE_IS_A_TABLE, ValidationError, check_bool, check_int, check_positive, readonly
from trustopt.core.types import Batch
from trustopt.noise import NoiseTable, orthogonal_directions

__all__ = ["GaussianSearch", "make_batch", "antithetic_pairs", "impute_nonfinite", "Draw", "SearchSampler",
           "PerturbationSampler", "tolfun_window"]

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True, kw_only=True)
class GaussianSearch:
    """``p_theta(x) = prod_i N(x_i; theta_i, sigma_i^2)`` (TRES eq. 3) as a loop policy.

    ``states`` are the per-sample standard deviations ``(N, d)`` (or ``(N, 1)``), ``actions``
    the samples ``x (N, d)``. Attributes: ``n_params = d``.
    """

    n_params: int

    def __post_init__(self):
        check_int(self.n_params, "n_params", 1)

    def log_prob_dims(self, theta, states, actions) -> np.ndarray:
        """``log N(x_ni; theta_i, sigma_ni^2)``, ``(N, d)`` (the per-dimension factors of TRES eq. 25)."""
        z = (actions - theta) / states
        return -0.5 * z * z - np.log(states) - 0.5 * _LOG_2PI

    def log_prob(self, theta, states, actions) -> np.ndarray:
        """``log p_theta(x_n)``, ``(N,)``."""
        if np.shape(states)[1] == 1:  # isotropic: O(N d) with one pass over the samples
            diff = actions - theta
            s = states[:, 0]
            return (-0.5 * np.einsum("ij,ij->i", diff, diff) / (s * s)
                    - self.n_params * (np.log(s) + 0.5 * _LOG_2PI))
        return self.log_prob_dims(theta, states, actions).sum(axis=1)

    def grad_log_prob(self, theta, states, actions) -> np.ndarray:
        """``grad_theta log p_theta(x_n) = (x_n - theta) / sigma_n^2``, ``(N, d)`` (TRES eq. 4)."""
        return (actions - theta) / (states * states)

    def score_vector_product(self, theta, states, actions, c) -> np.ndarray:
        """``sum_n c_n (x_n - theta) / sigma_n^2``, ``(d,)``."""
        c = np.asarray(c, dtype=np.float64)
        if np.shape(states)[1] == 1:  # isotropic: X^T (c / s^2) - theta sum(c / s^2), no (N, d) temporary
            w = c / (states[:, 0] * states[:, 0])
            return actions.T @ w - np.asarray(theta) * w.sum()
        return self.grad_log_prob(theta, states, actions).T @ c

    def kl_dims(self, theta_old, theta, states) -> np.ndarray:
        """``KL(N(theta_old_i, s^2) || N(theta_i, s^2)) = (theta_i - theta_old_i)^2 / (2 s^2)``, ``(N, d)``."""
        diff = np.asarray(theta, dtype=np.float64) - np.asarray(theta_old, dtype=np.float64)
        return np.broadcast_to(0.5 * diff * diff / (states * states), (np.shape(states)[0], self.n_params))

    def kl(self, theta_old, theta, states) -> np.ndarray:
        """Sum over dimensions of :meth:`kl_dims`, ``(N,)``."""
        return self.kl_dims(theta_old, theta, states).sum(axis=1)

    def entropy(self, theta, states) -> np.ndarray:
        """``sum_i log sigma_i + d/2 (1 + log 2 pi)``, ``(N,)``."""
        s = np.broadcast_to(states, (np.shape(states)[0], self.n_params))
        return np.log(s).sum(axis=1) + 0.5 * self.n_params * (1.0 + _LOG_2PI)

    def fisher_vector_product(self, theta, states, weights, v) -> np.ndarray:
        """``F v = sum_n w_n v / sigma_n^2`` (the Fisher matrix of the mean is ``diag(1/sigma^2)``)."""
        w = np.asarray(weights, dtype=np.float64)
        inv = np.broadcast_to(1.0 / (states * states), (w.shape[0], self.n_params))
        return (w @ inv) / max(w.sum(), 1e-300) * v


def make_batch(theta, sigma, X, values_max, *, center: bool = False) -> Batch:
    """The loop's :class:`~trustopt.core.types.Batch` for samples ``X (N, d)`` drawn at ``theta``
    with standard deviation ``sigma`` (scalar or ``(d,)``) and FINITE values ``F(x_n)`` to maximize.

    ``weights = 1/N``, ``eta = mean F`` (estimate of TRES eq. 3), ``adv = F - eta``,
    ``eta_std`` the sample standard deviation (STRO eq. 4.2), ``n_samples = N`` evaluations.
    ``states`` is ``(N, 1)`` for a scalar ``sigma`` (broadcast by :class:`GaussianSearch`), else ``(N, d)``.
    ``center=True``: the last row is ``theta`` itself; it gets weight 0 (the others ``1/(N-1)``)
    so the surrogate gradient is still exactly TRES eq. 6 on the pairs.
    """
    theta = np.asarray(theta, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    F = np.asarray(values_max, dtype=np.float64)
    N, d = X.shape
    sigma = np.asarray(sigma, dtype=np.float64)
    states = np.full((N, 1), float(sigma)) if sigma.ndim == 0 else np.broadcast_to(sigma, (N, d)).copy()
    eta = float(np.mean(F))
    policy = GaussianSearch(n_params=d)
    return Batch(
        theta=theta, states=states, actions=X,
        weights=np.append(np.full(N - 1, 1.0 / (N - 1)), 0.0) if center else np.full(N, 1.0 / N), adv=F - eta,
        logp_old=policy.log_prob(theta, states, X), returns=F, eta=eta,
        eta_std=float(np.std(F, ddof=1)) if N > 1 else 0.0, n_samples=N,
    )


def antithetic_pairs(noise: NoiseTable, rng, d: int, n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise-table offsets and signs of ``n_pairs`` antithetic pairs (Salimans et al. 2017
    sec. 2.1 "mirrored sampling"; TRES Alg. 1 lines 2-6): ``n_pairs`` offsets drawn from
    ``rng`` (:meth:`NoiseTable.sample_index`), then ``index = [o, o]`` and
    ``sign = [+1] * n_pairs + [-1] * n_pairs``, both ``(2 n_pairs,)``: sample ``j`` is
    ``theta + sign_j sigma table[index_j : index_j + d]``, rows ``j`` and ``j + n_pairs`` a pair."""
    index = noise.sample_index(rng, d, n_pairs)
    return np.concatenate([index, index]), np.concatenate([np.ones(n_pairs), -np.ones(n_pairs)])


def impute_nonfinite(values, *, maximize: bool) -> tuple[np.ndarray, int]:
    """The library's policy for NaN/inf objective values: each is replaced by the WORST
    finite value of the same batch (the minimum when maximizing, the maximum when
    minimizing), so it gets the worst rank and never a better-than-observed value;
    ``(values, n_replaced)``. A batch with no finite value becomes all zeros (no
    information: the step's predicted gain is 0 and the loop keeps the iterate)."""
    v = np.array(values, dtype=np.float64)
    bad = ~np.isfinite(v)
    n_bad = int(bad.sum())
    if n_bad:
        if n_bad == v.size:
            v[:] = 0.0
        else:
            v[bad] = np.min(v[~bad]) if maximize else np.max(v[~bad])
    return v, n_bad


@dataclass(frozen=True, kw_only=True, eq=False)
class Draw:
    """One batch of search points asked by an ask/tell optimizer (arrays read-only).

    Attributes:
        theta: ``(d,)`` the point the loop needs a batch at (``theta_k``, or the trial point),
            in the optimizer's internal (unbounded) space.
        sigma: the standard deviation the batch is drawn with.
        index, sign: ``(n,)`` noise-table offsets and signs when every row is
            ``theta + sign_j sigma table[index_j : index_j + d]`` (:func:`trustopt.noise.perturb`;
            rows ``j`` and ``j + n/2`` an antithetic pair); None when the rows are not (orthogonal
            frames, the center point), and then only ``Y``/``X`` describe them.
        Y: ``(n, d)`` the samples in the internal space (``d`` the searched coordinates: with
            bounds that fix some, the free ones).
        X: the points to evaluate, ``Y``'s images in the box (``Y`` itself without bounds), one
            row per sample and all the problem's coordinates; with ``noise_handling`` followed by
            repeats of its first rows (:class:`trustopt.asktell.AskTell`).
    """

    theta: np.ndarray
    sigma: float
    index: np.ndarray | None
    sign: np.ndarray | None
    Y: np.ndarray
    X: np.ndarray

    def __post_init__(self):
        for name in ("theta", "index", "sign", "Y", "X"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, readonly(np.array(v)))
        object.__setattr__(self, "sigma", float(self.sigma))

    @property
    def noise_rows(self) -> bool:
        """True when the rows are rebuilt from ``(index, sign)`` (only scalars need to travel to workers)."""
        return self.index is not None


def tolfun_window(d: int, popsize: int) -> int:
    """Batches that ``tolfun`` and ``tolfunhist`` look back over: ``10 + ceil(30 d / popsize)``
    (pycma's history length for both tests)."""
    return 10 + math.ceil(30 * d / popsize)


#: ``tolfunhist``'s threshold on the range of the recent best values (pycma's default).
TOLFUNHIST = 1e-12


def tolfunhist(best, d: int, popsize: int) -> dict:
    """pycma's ``tolfunhist``: ``{"tolfunhist": message}`` when the best values of the last
    :func:`tolfun_window` batches (``best``, at least 10 of them) lie within :data:`TOLFUNHIST`
    (a run whose best value no longer moves while its batches still spread), else ``{}``."""
    recent = np.asarray(best)[-tolfun_window(d, popsize):]
    if len(best) >= 10 and np.isfinite(recent).all() and recent.max() - recent.min() < TOLFUNHIST:
        return {"tolfunhist": f"the best values of the last {len(recent)} batches lie within {TOLFUNHIST:g}"}
    return {}


class SearchSampler(Protocol):
    """What :class:`trustopt.asktell.AskTell` uses of an ES method's sampler
    (:class:`PerturbationSampler`; :class:`trustopt.components.gaussian.GaussianSampler`).

    ``sigma0``, ``popsize``; ``center`` (the batch ends with ``theta``, weight 0 in the model);
    ``noise`` (the noise table rows are read from, or None); ``sigma(p_k, p_0, d, last_step,
    step_state)`` (the standard deviation of the next model batch); ``spread(sigma, d,
    step_state)`` (the scale that the ``tolx`` test bounds); ``draw(theta, sigma, rng, frame,
    step_state) -> (Draw, frame)``; ``stop(step_state, theta, sigma0, histories, last_f) ->
    {reason: message}`` (the sampler's own stopping tests)."""

    sigma0: float
    popsize: int
    center: bool
    noise: NoiseTable | None

    def sigma(self, p_k: float, p_0: float, d: int, last_step: float, step_state) -> float: ...

    def spread(self, sigma: float, d: int, step_state) -> float: ...

    def draw(self, theta, sigma: float, rng: np.random.Generator, frame, step_state) -> tuple: ...

    def stop(self, step_state, theta, sigma0: float, histories: tuple, last_f) -> dict: ...


@dataclass(frozen=True, kw_only=True)
class PerturbationSampler:
    """How an ES method draws its batches: ``n_pairs`` antithetic pairs ``theta +- sigma_k eps_j``
    (TRES Alg. 1 lines 2-6; Salimans et al. 2017 sec. 2.1), optionally along an orthogonal frame
    and with the center ``theta`` as one more row.

    Fields:
        sigma0: the initial standard deviation ``sigma_0 > 0``.
        n_pairs: antithetic pairs per batch, ``>= 1`` (``popsize = 2 n_pairs [+ 1]``).
        noise: the :class:`~trustopt.noise.NoiseTable` the directions are read from.
        orthogonal: the ``n_pairs`` directions are orthogonalized
            (:func:`~trustopt.noise.orthogonal_directions`; ``rotate``: a Haar frame, else
            signed coordinate directions), and a trial batch reuses its model batch's frame
            (common random numbers). False: table rows ``eps_j = table[index_j : index_j + d]``.
        rotate: see ``orthogonal``.
        center: the batch ends with ``theta`` itself (weight 0 in the model: :func:`make_batch`).
        kappa: None: ``sigma_k = sigma_0 p_k / p_0`` with ``p_k`` the loop's radius parameter (a
            constant ``sigma`` under a constant radius); a number: the smoothing scale follows the
            trust region, ``sigma_k = kappa r_k / sqrt(d)`` (Conn, Scheinberg & Vicente 2009 ch. 10),
            ``r_k = p_k``, or ``min(p_k, ||p_{k-1}||)`` (the last step) with ``tie_to_step``.
        stop_tolfunhist: :meth:`stop` applies pycma's ``tolfunhist`` (:func:`tolfunhist`). Meant
            for a batch that holds the center: its best value is the iterate's, which stalls once
            an exact model has reached the optimum while the radius, and ``sigma_k`` with it,
            shrinks only as fast as failed ratio tests cut it.
    """

    sigma0: float
    n_pairs: int
    noise: NoiseTable = field(default_factory=NoiseTable)
    orthogonal: bool = False
    rotate: bool = True
    center: bool = False
    kappa: float | None = None
    tie_to_step: bool = False
    stop_tolfunhist: bool = False

    def __post_init__(self):
        check_positive(self.sigma0, "sigma0")
        check_int(self.n_pairs, "n_pairs", 1)
        if not isinstance(self.noise, NoiseTable):
            raise ValidationError(f"noise: expected a NoiseTable, got {type(self.noise).__name__} ({NOISE_IS_A_TABLE})")
        if self.kappa is not None:
            check_positive(self.kappa, "kappa")
        for flag in ("orthogonal", "rotate", "center", "tie_to_step", "stop_tolfunhist"):
            check_bool(getattr(self, flag), flag)

    @property
    def popsize(self) -> int:
        """Evaluations per batch: ``2 n_pairs`` (+ 1 with ``center``)."""
        return 2 * self.n_pairs + (1 if self.center else 0)

    def sigma(self, p_k: float, p_0: float, d: int, last_step: float = math.inf, step_state=None) -> float:
        """``sigma_k`` of the next model batch (see the class docstring; ``step_state`` is not used)."""
        if self.kappa is None:
            return self.sigma0 * p_k / p_0
        r = min(p_k, last_step) if self.tie_to_step else p_k
        return self.kappa * r / math.sqrt(d)

    def spread(self, sigma: float, d: int, step_state=None) -> float:
        """What ``tolx`` bounds: ``sigma sqrt(d)``, the length of a typical perturbation."""
        return sigma * math.sqrt(d)

    def draw(self, theta, sigma: float, rng: np.random.Generator, frame=None,
             step_state=None) -> tuple[Draw, np.ndarray | None]:
        """One batch at ``theta`` with standard deviation ``sigma``: ``(Draw, frame)``.

        The offsets of ``n_pairs`` table rows are drawn from ``rng`` in every case (so the
        generator advances the same way whatever the options). ``frame``: the orthogonal
        directions to reuse (a trial batch), None to build a new frame from those rows."""
        theta = np.asarray(theta, dtype=np.float64)
        d, m = theta.shape[0], self.n_pairs
        index, sign = antithetic_pairs(self.noise, rng, d, m)
        if self.orthogonal:
            if frame is None:
                frame = orthogonal_directions(self.noise.get(index[:m], d), rotate=self.rotate)
            Y = theta[None, :] + sigma * np.concatenate([frame, -frame])
        else:
            Y = self.noise.perturb(theta, sigma, index, sign)
        if self.center:
            Y = np.concatenate([Y, theta[None, :]])
        rows = not (self.orthogonal or self.center)
        return Draw(theta=theta, sigma=sigma, index=index if rows else None, sign=sign if rows else None,
                    Y=Y, X=Y), frame

    def stop(self, step_state, theta, sigma0: float, histories: tuple, last_f) -> dict:
        """``tolfunhist`` with ``stop_tolfunhist`` (``histories[0]``: the best value of each batch),
        else no test of its own (the adapter's ``tolx`` on :meth:`spread` covers the rest)."""
        return tolfunhist(histories[0], np.asarray(theta).size, self.popsize) if self.stop_tolfunhist else {}

    def sample(self, policy, theta, rng, baseline=None):
        raise ValidationError("sampler: an ES method's batches are asked and told by trustopt.asktell.AskTell "
                              "(trustopt.run, minimize and trustopt train drive it), not sampled by the loop")
