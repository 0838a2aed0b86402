"""Evolution strategies as compositions of the trust-region loop (TRES sec. "Background").

The ES "policy" is the search distribution ``p_theta = N(theta, diag(sigma^2))`` over the
parameters ``x`` (TRES eq. 1/3); a batch holds ``N`` samples ``x_n`` (the "actions"), the
standard deviation each was drawn with (the "states", ``(N, d)``, so batches drawn with
different ``sigma`` stay well defined), and the objective values ``F(x_n)`` to MAXIMIZE
(``Batch.returns``). ``eta_hat = mean_n F(x_n)`` estimates the smoothed objective
``J(theta) = E_{X ~ p_theta} F(X)`` (TRES eq. 3) and ``adv_n = F(x_n) - eta_hat``.

With these, the loop's importance-sampled surrogate (``trustopt.components.surrogates.
ImportanceSampled``, TRES eq. 23-24) has the gradient at ``theta_k``::

    g0 = sum_n w_n adv_n (x_n - theta_k) / sigma_n^2           (d,)   w_n = 1/N

which is the vanilla estimator TRES eq. 5 with the baseline ``eta_hat`` and, on antithetic
pairs ``x = theta +- sigma eps``, exactly the antithetic estimator TRES eq. 6.

Contents: :class:`GaussianSearch` (the policy), :func:`vanilla_gradient`,
:func:`antithetic_gradient`, :func:`make_batch`, :class:`PerturbationSampler` (noise-table
antithetic sampling for :func:`trustopt.core.loop.drive`), :class:`ESGradientStep` (OpenAI
ES's update: centered ranks, SGD or Adam (:func:`trustopt.linalg.adam`), weight decay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from trustopt._validation import ValidationError, check_nonnegative, check_positive
from trustopt.core.protocols import StepSolver
from trustopt.core.types import STEP_OK, Batch, Proposal
from trustopt.estimators import centered_ranks
from trustopt.linalg import adam
from trustopt.noise import NoiseTable

__all__ = [
    "antithetic_pairs",
    "GaussianSearch",
    "vanilla_gradient",
    "antithetic_gradient",
    "make_batch",
    "PerturbationSampler",
    "ESGradientStep",
    "shaped_utilities",
    "impute_nonfinite",
    "perturbation_method",
    "es",
]

_LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- the search distribution


@dataclass(frozen=True, kw_only=True)
class GaussianSearch:
    """``p_theta(x) = prod_i N(x_i; theta_i, sigma_i^2)`` (TRES eq. 3) as a loop policy.

    ``states`` are the per-sample standard deviations ``(N, d)`` (or ``(N, 1)``), ``actions``
    the samples ``x (N, d)``. Attributes: ``n_params = d``.
    """

    n_params: int

    def __post_init__(self):
        if isinstance(self.n_params, bool) or not isinstance(self.n_params, (int, np.integer)) or self.n_params < 1:
            raise ValidationError(f"n_params: must be an integer >= 1, got {self.n_params!r}")

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


# ----------------------------------------------------------------------------- estimators


def vanilla_gradient(values, X, theta, sigma) -> np.ndarray:
    """Vanilla ES gradient estimator, TRES eq. 5::

        grad_hat^V J(theta) = 1/(N sigma^2) sum_n F(x_n) (x_n - theta)

    Shapes: ``values (N,)``, ``X (N, d)``, ``theta (d,)``, ``sigma`` scalar or ``(d,)``
    (per-dimension: the division is elementwise). Returns ``(d,)``. Unbiased for ``grad J``
    of TRES eq. 1 when ``x_n ~ N(theta, sigma^2 I)`` i.i.d. (eq. 4).
    """
    F = np.asarray(values, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    s2 = np.asarray(sigma, dtype=np.float64) ** 2
    return (F @ (X - theta)) / (F.shape[0] * s2)


def antithetic_gradient(values_plus, values_minus, X_plus, theta, sigma) -> np.ndarray:
    """Antithetic ES gradient estimator, TRES eq. 6::

        grad_hat^A J(theta) = 1/(2 N sigma^2) sum_n (F(x_n) - F(2 theta - x_n)) (x_n - theta)

    Shapes: ``values_plus (N,)`` = ``F(x_n)``, ``values_minus (N,)`` = ``F(2 theta - x_n)``,
    ``X_plus (N, d)``, ``theta (d,)``, ``sigma`` scalar or ``(d,)``. Returns ``(d,)``.
    """
    diff = np.asarray(values_plus, dtype=np.float64) - np.asarray(values_minus, dtype=np.float64)
    X = np.asarray(X_plus, dtype=np.float64)
    s2 = np.asarray(sigma, dtype=np.float64) ** 2
    return (diff @ (X - theta)) / (2.0 * diff.shape[0] * s2)


def shaped_utilities(batch: Batch, shaping: str) -> np.ndarray:
    """Per-sample utilities ``u_n`` used in place of ``F(x_n)``, ``(N,)``.

    ``"centered_ranks"``: Salimans et al. 2017 / TRES "fitness shaping" (``u in [-1/2, 1/2]``,
    higher ``F`` -> higher ``u``); ``"none"``: ``adv_n = F(x_n) - eta_hat``.
    """
    if shaping == "centered_ranks":
        return centered_ranks(batch.returns)
    return np.asarray(batch.adv, dtype=np.float64)


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


# ----------------------------------------------------------------------------- sampler


@dataclass(frozen=True, kw_only=True, eq=False)
class PerturbationSampler:
    """Antithetic noise-table sampling (TRES Alg. 1 lines 2-6; Salimans et al. 2017 sec. 2.1).

    ``x = theta +- sigma * table[index : index + d]`` for ``n_pairs`` offsets drawn from the
    generator, then ``F`` evaluated (``fun`` maps ``(n, d) -> (n,)`` values to MAXIMIZE).
    Used by :func:`trustopt.core.loop.drive` (fixed ``sigma``); the ask/tell classes of
    :mod:`trustopt.blackbox` draw with the same :func:`antithetic_pairs` but pick ``sigma``
    themselves so that it can follow the trust-region radius.

    Hyperparameters: ``sigma > 0`` (TRES/OpenAI: 0.02 for MuJoCo linear policies), ``n_pairs``.
    """

    fun: Callable[[np.ndarray], np.ndarray]
    sigma: float
    n_pairs: int
    noise: NoiseTable = field(default_factory=NoiseTable)

    def __post_init__(self):
        check_positive(self.sigma, "sigma")
        if isinstance(self.n_pairs, bool) or not isinstance(self.n_pairs, (int, np.integer)) or self.n_pairs < 1:
            raise ValidationError(f"n_pairs: must be an integer >= 1, got {self.n_pairs!r}")

    def draw(self, theta, sigma, rng) -> np.ndarray:
        """The antithetic samples ``(2 n_pairs, d)``: rows ``j`` and ``j + n_pairs`` are a pair
        (:func:`antithetic_pairs`, then ``x = theta + sign * sigma * table[index : index + d]``)."""
        theta = np.asarray(theta, dtype=np.float64)
        index, sign = antithetic_pairs(self.noise, rng, theta.shape[0], self.n_pairs)
        return self.noise.perturb(theta, sigma, index, sign)

    def sample(self, policy, theta, rng, baseline=None) -> Batch:
        X = self.draw(theta, self.sigma, rng)
        F = np.asarray(self.fun(X), dtype=np.float64).reshape(-1)
        if F.shape != (X.shape[0],):
            raise ValidationError(f"fun: expected {X.shape[0]} values, got shape {F.shape}")
        return make_batch(theta, self.sigma, X, impute_nonfinite(F, maximize=True)[0])


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


# ----------------------------------------------------------------------------- OpenAI ES update


@dataclass(frozen=True, kw_only=True)
class ESGradientStep(StepSolver):
    """OpenAI ES's parameter update (Salimans et al. 2017 Alg. 2 + their starter code) as a step solver.

    With utilities ``u_n`` (:func:`shaped_utilities`) and the radius ``s`` (a dimensionless
    scale, 1 for the paper's constant step)::

        g_s   = sum_n w_n u_n (x_n - theta_k) / sigma_n^2 - l2 * theta_k     (TRES eq. 5/6 on u; weight decay)
        step  = s * lr * g_s                       (optimizer "sgd")
        step  = s * lr * adam_direction(g_s)       (optimizer "adam", moments carried by the caller)
        natural=True:  step = lr * sigma^2 g_s  (sgd)  or  lr * sigma * adam_direction(g_s)  (adam)

    ``natural=True`` (the black-box mode of :class:`trustopt.ES`) makes the step proportional to
    ``sigma`` (``sigma^2 g`` is the natural gradient for the Fisher matrix ``diag(1/sigma^2)``),
    so adapting ``sigma`` adapts the step; the radius is then not used.
        theta_tilde = theta_k + step

    ``predicted_gain``: with ``gain="raw"``, ``g0 . step`` -- the linear model of the
    smoothed objective from the unbiased raw-value gradient ``g0`` (TRES eq. 6), in the
    objective's units, as the ratio test (STRO eq. 3.2) needs; with ``gain="shaped"``,
    ``g_s . step`` (positive for SGD: the paper's always-accepted update).

    Hyperparameters (defaults: OpenAI ES starter code, MuJoCo configs): ``lr = 0.01``,
    ``optimizer = "adam"`` (``beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8``), ``l2 = 0.005``,
    ``shaping = "centered_ranks"``. The Adam state ``(m, v, t)`` is the loop's ``step_state``
    (received by :meth:`propose`, returned in ``Proposal.step_state``; None for SGD).
    """

    lr: float = 0.01
    optimizer: str = "adam"
    l2: float = 0.005
    shaping: str = "centered_ranks"
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    gain: str = "shaped"
    natural: bool = False

    @property
    def uses_radius(self) -> bool:
        """The plain step is ``radius * lr * direction``; the natural one does not use the radius."""
        return not self.natural

    def __post_init__(self):
        check_positive(self.lr, "lr")
        check_nonnegative(self.l2, "l2")
        check_positive(self.epsilon, "epsilon")
        if self.optimizer not in ("sgd", "adam"):
            raise ValidationError(f"optimizer: must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.shaping not in ("centered_ranks", "none"):
            raise ValidationError(f"shaping: must be 'centered_ranks' or 'none', got {self.shaping!r}")
        if self.gain not in ("raw", "shaped"):
            raise ValidationError(f"gain: must be 'raw' or 'shaped', got {self.gain!r}")
        for name in ("beta1", "beta2"):
            b = getattr(self, name)
            if not 0.0 <= b < 1.0:
                raise ValidationError(f"{name}: must lie in [0, 1), got {b!r}")

    def direction(self, policy, theta_k, batch) -> np.ndarray:
        """``g_s`` (before the optimizer), ``(d,)``."""
        u = shaped_utilities(batch, self.shaping)
        g = policy.score_vector_product(theta_k, batch.states, batch.actions, batch.weights * u)
        return g - self.l2 * np.asarray(theta_k)

    def propose(self, model, radius, rng, step_state=None) -> Proposal:
        policy, theta_k, batch, g0 = model.policy, model.theta_k, model.batch, model.g0
        g_s = self.direction(policy, theta_k, batch)
        if self.optimizer == "adam":
            dirn, step_state = adam(step_state, g_s, beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon)
        else:
            dirn, step_state = g_s, None
        if self.natural:
            s2 = np.mean(batch.states * batch.states, axis=0)
            step = self.lr * (s2 * dirn if self.optimizer == "sgd" else np.sqrt(s2) * dirn)
        else:
            step = radius * self.lr * dirn
        gain = float(np.dot(g0 if self.gain == "raw" else g_s, step))
        return Proposal(theta=theta_k + step, predicted_gain=gain, distance=float(np.linalg.norm(step)),
                        status=STEP_OK, n_inner=1, step_state=step_state)


# ----------------------------------------------------------------------------- factory (registry)


def _check_problem(problem, exact):
    if exact:
        raise ValidationError("exact: the ES family has no exact sampler (its samples ARE the method); use exact=False")
    if not callable(problem):
        raise ValidationError(
            f"problem: the ES family needs a callable F mapping (n, d) parameters to (n,) values to MAXIMIZE, "
            f"got {type(problem).__name__}")


def perturbation_method(name, problem, *, theta0, sigma, n_pairs, step, acceptance, radius_rule, noise=None,
                        hyperparameters=None):
    """A :class:`trustopt.core.loop.Method` whose sampler is :class:`PerturbationSampler` on ``problem``."""
    from trustopt.components.distances import Euclidean
    from trustopt.components.surrogates import ImportanceSampled
    from trustopt.core.loop import Method

    theta0 = np.asarray(theta0, dtype=np.float64).ravel()
    sampler = PerturbationSampler(fun=problem, sigma=sigma, n_pairs=n_pairs, noise=noise or NoiseTable())
    return Method(name=name, policy=GaussianSearch(n_params=theta0.shape[0]), sampler=sampler,
                  surrogate=ImportanceSampled(), distance=Euclidean(), step=step, acceptance=acceptance,
                  radius_rule=radius_rule, theta0=theta0, problem=problem,
                  hyperparameters=dict(hyperparameters or {}))


def es(problem, *, exact: bool = False, theta0, sigma: float = 0.02, n_pairs: int = 20, lr: float = 0.01,
       l2: float = 0.005, shaping: str = "centered_ranks", noise: NoiseTable | None = None):
    """OpenAI ES (Salimans et al. 2017; TRES eq. 6 + centered ranks) composed for :func:`trustopt.run`.

    ``problem``: ``F: (n, d) -> (n,)`` to MAXIMIZE (e.g. episode returns of a linear policy).
    Components: :class:`PerturbationSampler` (``sigma``, ``n_pairs``), importance-sampled
    surrogate, :class:`ESGradientStep` with SGD (Adam, whose moments the loop carries as the
    step state, is the default of the ask/tell class ``trustopt.ES(adapt=False)``), always accept,
    constant radius 1. Defaults: OpenAI's MuJoCo settings (sigma 0.02, lr 0.01, l2 0.005).
    """
    from trustopt.components.acceptance import AlwaysAccept
    from trustopt.components.radius import ConstantRadius

    _check_problem(problem, exact)
    step = ESGradientStep(lr=lr, optimizer="sgd", l2=l2, shaping=shaping, gain="shaped")
    return perturbation_method("es", problem, theta0=theta0, sigma=sigma, n_pairs=n_pairs, step=step,
                               acceptance=AlwaysAccept(), radius_rule=ConstantRadius(delta=1.0), noise=noise,
                               hyperparameters=dict(sigma=sigma, n_pairs=n_pairs, lr=lr, l2=l2, shaping=shaping))
