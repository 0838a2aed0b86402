"""Step solvers: approximately solve ``max_theta L_hat(theta) s.t. D_hat(theta_k, theta) <= delta_k``
(STRO eq. 4.6; TRPO eq. 12-14) and return a :class:`~trustopt.core.types.Proposal`.

* :class:`GradientStep` -- ``theta_k + alpha g`` (REINFORCE / VPG; slides "Vanilla Policy Gradient").
* :class:`NaturalGradientStep` -- ``d = F^{-1} g`` by conjugate gradient, scaled to the
  boundary ``sqrt(2 delta / d'Fd) d`` (slides "NPG"; TRPO App. C), then (TRPO) the
  backtracking line search of App. C; with ``max_backtracks=0`` the plain NPG step.
* :class:`ClippedAscent` -- K epochs of minibatch gradient ascent (Adam or SGD) on a
  clipped surrogate (PPO; TREFree Alg. 1). The radius is not used: clipping is the
  trust region.
* :class:`StroInnerSolver` -- STRO Alg. 4.2 (sequential CG directions with the sufficient
  increase and constraint conditions 4.8 and the termination test 4.9), optionally with the
  alternating mean / log-std update of eq. 4.11-4.12 for Gaussian policies.
* :class:`ExactTabularStep` -- the exact KL/TV subproblem of :mod:`trustopt.tabular` on an
  exact batch (STRO Alg. 3.1 / eq. 3.6).

A step solver never raises on numerical trouble: it returns a proposal whose ``status``
names the failure and whose ``theta`` is ``theta_k``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trustopt._validation import ValidationError, check_bool, check_int, check_nonnegative, check_positive
from trustopt.components.distances import MeanKL
from trustopt.components.surrogates import advantage_stats
from trustopt.core.protocols import StepSolver
from trustopt.core.types import (
    CG_BREAKDOWN,
    LINE_SEARCH_FAILED,
    NONFINITE,
    NONPOSITIVE_GAIN,
    STATIONARY,
    STEP_OK,
    SUBPROBLEM_FAILED,
    Proposal,
)
from trustopt.linalg import adam, backtracking_line_search, conjugate_gradient

__all__ = ["GradientStep", "NaturalGradientStep", "ClippedAscent", "StroInnerSolver", "ExactTabularStep", "mean_kl", "gain_scale"]


def _open_unit(value, name):
    v = float(value)
    if not 0.0 < v < 1.0:
        raise ValidationError(f"{name}: must lie in (0, 1), got {value!r}")
    return v


def mean_kl(policy, theta_k, theta, batch) -> float:
    """``sum_i wbar_i KL(pi_{theta_k}(.|s_i) || pi_theta(.|s_i))`` (TRPO eq. 12) with normalized
    pair weights ``wbar = w / sum(w)`` (uniform when every weight is zero): :class:`MeanKL` of
    :mod:`~trustopt.components.distances`; ``nan`` for a policy without ``kl``. Reported as
    ``Proposal.kl`` whatever distance the method constrains."""
    if not hasattr(policy, "kl"):
        return float("nan")
    return MeanKL()(policy, theta_k, theta, batch)


def gain_scale(surrogate, batch) -> float:
    """``s`` of :func:`~trustopt.components.surrogates.advantage_stats` when ``surrogate`` normalizes
    advantages, else 1: the factor that brings a gain of the surrogate back to the scale of ``eta``.

    A proposal's ``predicted_gain`` is always ``gain_scale * (L_hat(theta_tilde) - L_hat(theta_k))``,
    on the scale of ``eta``, so that STRO's ratio (eq. 3.2 / 4.14) compares it with the change of
    ``eta_hat``; the step solvers themselves (line searches, eq. 4.8) work on the normalized surrogate.
    """
    if getattr(surrogate, "normalize_advantages", False):
        return advantage_stats(batch)[1]
    return 1.0


def _proposal(model, theta, n_inner, message="", status=STEP_OK):
    """The proposal of ``theta`` for ``model``: its predicted gain (on the scale of ``eta``, see
    :func:`gain_scale`), distance and mean KL; ``theta_k`` itself when ``status`` is a failure or
    ``theta`` is not finite."""
    theta_k = model.theta_k
    if status != STEP_OK:
        return Proposal(theta=theta_k, predicted_gain=float("nan"), status=status, n_inner=n_inner, message=message)
    if not np.all(np.isfinite(theta)):
        return Proposal(theta=theta_k, predicted_gain=float("nan"), status=NONFINITE, n_inner=n_inner,
                        message="non-finite trial point")
    gain = (model.value(theta) - model.L0) * gain_scale(model.surrogate, model.batch)
    return Proposal(theta=theta, predicted_gain=float(gain), distance=model.distance_to(theta),
                    kl=mean_kl(model.policy, theta_k, theta, model.batch), n_inner=n_inner, message=message)


@dataclass(frozen=True, kw_only=True)
class GradientStep(StepSolver):
    """``theta_tilde = theta_k + alpha g_hat_k`` (slides "Vanilla Policy Gradient"; the
    REINFORCE update), optionally with the step length capped by the trust-region radius.

    ``alpha = learning_rate`` when ``cap_kl`` is False (plain VPG). With ``cap_kl = True`` the
    step is also kept inside the quadratic model of the distance ball of radius ``delta_k``
    (the step-length rule of TRPO App. C, ``beta = sqrt(2 delta / s'As)``, applied to the
    vanilla direction ``s = g``; ``F`` the distance's metric, e.g. the Fisher matrix)::

        alpha = min(learning_rate, sqrt(2 delta_k / g'Fg))        (g: (d,), F: (d, d))

    A fixed ``alpha`` cannot suit every problem: on a softmax policy over tabular logits
    ``alpha = 1`` takes steps of a few hundredths of a nat, while on an LQR (gradient norm
    ~1e3, surrogate curvature ~1e2-1e3) the same ``alpha`` jumps tens of nats and destabilizes
    the policy. The cap is invariant to the reward scale and to the size of the gradient.

    Hyperparameters:
        learning_rate: ``alpha > 0`` (the cap's upper bound when ``cap_kl``).
        cap_kl: cap the step by the radius (default False; needs a distance with a
            metric-vector product).
    """

    learning_rate: float
    cap_kl: bool = False

    def __post_init__(self):
        check_positive(self.learning_rate, "learning_rate")
        check_bool(self.cap_kl, "cap_kl")

    @property
    def uses_radius(self) -> bool:
        return self.cap_kl

    def propose(self, model, radius, rng, step_state=None):
        theta_k, g0 = model.theta_k, model.g0
        alpha = self.learning_rate
        if self.cap_kl:
            mvp, why = _metric_product(model)
            if mvp is None:
                return _proposal(model, theta_k, 0, why, SUBPROBLEM_FAILED)
            gFg = float(np.dot(g0, mvp(g0)))
            if math.isfinite(gFg) and gFg > 0.0:
                alpha = min(alpha, math.sqrt(2.0 * radius / gFg))
        return _proposal(model, theta_k + alpha * g0, 1, f"gradient step, alpha = {alpha:.3g}")


def _metric_product(model):
    """``(v -> F v, None)``: the distance's metric-vector product at ``theta_k``, or ``(None, why)``
    when the distance has none (the step then fails and keeps the iterate)."""
    mvp = model.metric_vp()
    if mvp is None:
        return None, f"{type(model.distance).__name__} has no metric-vector product"
    return mvp, None


def _natural_direction(mvp, g, cg_iters, damping):
    """``(d, d'Fd, cg_result)`` with ``d ~ (F + damping I)^{-1} g``; ``d = None`` on breakdown."""
    Fv = (lambda v: mvp(v) + damping * v) if damping else mvp
    cg = conjugate_gradient(Fv, g, max_iter=cg_iters)
    if cg.breakdown:
        return None, float("nan"), cg
    d = np.array(cg.x)
    dFd = float(np.dot(d, Fv(d)))
    if not (math.isfinite(dFd) and dFd > 0.0):
        return None, dFd, cg
    return d, dFd, cg


@dataclass(frozen=True, kw_only=True)
class NaturalGradientStep(StepSolver):
    """Natural-gradient step to the trust-region boundary, with optional backtracking (TRPO App. C).

    ``d = (F + damping I)^{-1} g`` by ``cg_iters`` steps of conjugate gradient, with ``F`` the
    distance's metric (the Fisher matrix for :class:`~trustopt.components.distances.MeanKL`);
    full step ``beta d`` with ``beta = sqrt(2 delta / d'Fd)``, which solves
    ``max g'x s.t. 1/2 x'Fx <= delta`` (slides "NPG"; claim ``npg.step``). With
    ``max_backtracks = 0`` this is the NPG step. Otherwise the line search of TRPO App. C
    shrinks it by ``shrink`` until the surrogate improves and ``D_hat <= delta``
    (:func:`trustopt.linalg.backtracking_line_search`); if no candidate passes, the
    proposal has status ``line_search_failed`` and ``theta = theta_k``.

    Hyperparameters:
        cg_iters: CG iterations (default 10, TRPO App. C: "k = 10 ... quite effective").
        cg_damping: Tikhonov term ``>= 0`` added to ``F`` (default 1e-3; TRPO states none;
            the tabular Fisher is singular along per-state constant shifts, to which the
            gradient is orthogonal).
        max_backtracks: ``>= 0`` (default 10); 0 disables the line search (NPG).
        shrink: backtracking factor in (0, 1) (default 0.5).
    """

    cg_iters: int = 10
    cg_damping: float = 1e-3
    max_backtracks: int = 10
    shrink: float = 0.5

    def __post_init__(self):
        check_int(self.cg_iters, "cg_iters", 1)
        check_nonnegative(self.cg_damping, "cg_damping")
        check_int(self.max_backtracks, "max_backtracks", 0)
        _open_unit(self.shrink, "shrink")

    def propose(self, model, radius, rng, step_state=None):
        theta_k, g0 = model.theta_k, model.g0
        mvp, why = _metric_product(model)
        if mvp is None:
            return _proposal(model, theta_k, 0, why, SUBPROBLEM_FAILED)
        d, dFd, cg = _natural_direction(mvp, g0, self.cg_iters, self.cg_damping)
        if d is None and not cg.breakdown and cg.iterations == 0:
            return _proposal(model, theta_k, 0,
                             f"gradient below the CG tolerance (||g|| = {cg.residual_norm:.3g}): stationary point",
                             STATIONARY)
        if d is None:
            return _proposal(model, theta_k, cg.iterations, f"CG: {cg.message}; d'Fd = {dFd!r}", CG_BREAKDOWN)
        full_step = math.sqrt(2.0 * radius / dFd) * d
        if self.max_backtracks == 0:
            return _proposal(model, theta_k + full_step, cg.iterations, "natural-gradient step (no line search)")

        def evaluate(theta):
            return model.value(theta) - model.L0, model.distance_to(theta)

        ls = backtracking_line_search(evaluate, theta_k, full_step, max_kl=radius, shrink=self.shrink,
                                      max_backtracks=self.max_backtracks)
        if not ls.accepted:
            return _proposal(model, theta_k, ls.n_backtracks, ls.message, LINE_SEARCH_FAILED)
        return _proposal(model, np.array(ls.theta), ls.n_backtracks, ls.message)


@dataclass(frozen=True, kw_only=True)
class ClippedAscent(StepSolver):
    """K epochs of minibatch gradient ascent on the surrogate (PPO; TREFree Alg. 1)::

        for epoch in 1..epochs:  for each of n_minibatches disjoint random minibatches b:
            theta <- theta + update(grad L_hat(theta, b))        (Adam, or SGD: lr * grad)

    Minibatch weights are rescaled (``Batch.subset``) so each minibatch surrogate is an
    unbiased estimate of the full one. With ``n_minibatches = 1`` the full batch is used
    in its order (no shuffling). The predicted gain is ``L_hat(theta_tilde, B) - L_hat(theta_k, B)``.
    With ``normalize_advantages``, a sampled minibatch is normalized by its own ``(m, s)`` (as
    OpenAI Baselines' PPO); the minibatches of an EXACT batch by the full batch's (``Batch.whole``).

    Hyperparameters:
        epochs: ``K >= 1`` (default 10, PPO paper's MuJoCo setting).
        n_minibatches: ``>= 1`` (default 4).
        learning_rate: ``> 0`` (default 0.05: PPO/TREFree use 3e-4 for neural networks;
            tabular logits and linear policies need larger steps).
        optimizer: ``"adam"`` (default, PPO; :func:`trustopt.linalg.adam`, Kingma & Ba 2015
            Alg. 1, with beta1=0.9, beta2=0.999, eps=1e-8) or ``"sgd"``.
    """

    epochs: int = 10
    n_minibatches: int = 4
    learning_rate: float = 0.05
    optimizer: str = "adam"
    beta1: float = 0.9
    beta2: float = 0.999
    adam_eps: float = 1e-8

    uses_radius = False  # the clipping is the trust region

    def __post_init__(self):
        check_int(self.epochs, "epochs", 1)
        check_int(self.n_minibatches, "n_minibatches", 1)
        check_positive(self.learning_rate, "learning_rate")
        if self.optimizer not in ("adam", "sgd"):
            raise ValidationError(f"optimizer: must be 'adam' or 'sgd', got {self.optimizer!r}")
        _open_unit(self.beta1, "beta1")
        _open_unit(self.beta2, "beta2")
        check_positive(self.adam_eps, "adam_eps")

    def propose(self, model, radius, rng, step_state=None):
        policy, theta_k, batch, surrogate = model.policy, model.theta_k, model.batch, model.surrogate
        theta = np.array(theta_k, dtype=np.float64)  # minibatches: the surrogate on a subset, not model.value
        moments = None
        t = 0
        N = batch.n_pairs
        for _ in range(self.epochs):
            if self.n_minibatches == 1:
                parts = [None]
            else:
                parts = np.array_split(rng.permutation(N), min(self.n_minibatches, N))
            for idx in parts:
                mb = batch if idx is None else batch.subset(idx)
                _, g = surrogate.value_and_grad(policy, theta, mb)
                t += 1
                if self.optimizer == "sgd":
                    theta = theta + self.learning_rate * g
                else:
                    dirn, moments = adam(moments, g, beta1=self.beta1, beta2=self.beta2, epsilon=self.adam_eps)
                    theta = theta + self.learning_rate * dirn
                if not np.all(np.isfinite(theta)):
                    return _proposal(model, theta_k, t, "non-finite parameters during ascent", NONFINITE)
        return _proposal(model, theta, t, f"{self.epochs} epoch(s) x {len(parts)} minibatch(es)")


def _restricted_metric(mvp, mask):
    """``v -> M H (M v) + (I - M) v`` with ``M = diag(mask)``: the metric on the masked block and the
    identity on the rest, so CG on ``M g`` moves only the masked coordinates (STRO eq. 4.11)."""
    return lambda v: mask * mvp(mask * v) + (1.0 - mask) * v


def _mean_entropy(policy, theta, batch) -> float:
    w = batch.weights
    return float(np.sum(w * policy.entropy(theta, batch.states)) / np.sum(w))


@dataclass(frozen=True, kw_only=True)
class StroInnerSolver(StepSolver):
    """STRO Algorithm 4.2 (InnerSolu), optionally alternating mean / log-std (eq. 4.11-4.12).

    From ``theta_{k,1} = theta_k``, for ``l = 1, 2, ..., max_inner``:

    1. ``b_l``: a random subset of ``B`` of ``subsample`` times its size (all of ``B`` when 1);
    2. ``d_l = (H_k(b_l) + damping I)^{-1} g_k(theta_{k,l}, b_l)`` by CG, with ``H_k(b_l)`` the
       distance's metric at ``theta_k`` on ``b_l`` (the Hessian of ``D_hat_k``);
    3. ``theta_{k,l+1} = theta_{k,l} + alpha d_l`` with ``alpha = alpha_0 shrink^j`` the first
       step length that satisfies (4.8)::

           L_hat(theta_{k,l+1}, b_l) >= L_hat(theta_{k,l}, b_l) + tau alpha d_l'g_k(theta_{k,l}, b_l)
           D_hat_k(theta_{k,l+1}, B) <= delta_k

       (the sufficient increase in Armijo form, i.e. (4.8) scaled by ``alpha``), starting
       from the boundary step ``alpha_0 = sqrt(2 delta_k / d_l'H d_l)``; if none of
       ``max_backtracks + 1`` lengths passes, the inner loop stops;
    4. every ``check_every`` (``l_0``) iterations, stop if (4.9)::

           |L_hat(theta_{k,l+1}, B) - L_hat(theta_{k,l}, B)| / (1 + |L_hat(theta_{k,l}, B)|) <= epsilon
           or |Ent(theta_{k,l+1}, B) - Ent(theta_k, B)| / (1 + |Ent(theta_k, B)|) >= epsilon.

    With ``alternating=True`` (Gaussian policies exposing ``mean_index``/``log_std_index``),
    steps 1-4 act on the mean parameters only (eq. 4.11: gradient and metric restricted to
    them), then the log-std is updated by ``log_std_steps`` steps of projected gradient
    ascent on ``L_hat`` inside ``||theta^sigma - theta^sigma_k||_inf <= log_std_bound``
    (eq. 4.12; the paper ties the bound to the entropy, here it is a constant).

    Hyperparameters (STRO leaves most unspecified; the defaults are ours):
        max_inner: ``>= 1`` inner iterations (default 5); check_every: ``l_0 >= 1`` (default 1);
        epsilon: ``> 0`` of (4.9) (default 0.01); tau: (4.8) in (0, 1) (default 0.1);
        shrink, max_backtracks: step-length search (0.5, 10); subsample: fraction in (0, 1]
        of ``B`` per inner iteration (default 1.0); cg_iters (10), cg_damping (1e-3);
        alternating (False); log_std_bound (default 0.1), log_std_steps (5), log_std_lr (0.05).
    """

    max_inner: int = 5
    check_every: int = 1
    epsilon: float = 0.01
    tau: float = 0.1
    shrink: float = 0.5
    max_backtracks: int = 10
    subsample: float = 1.0
    cg_iters: int = 10
    cg_damping: float = 1e-3
    alternating: bool = False
    log_std_bound: float = 0.1
    log_std_steps: int = 5
    log_std_lr: float = 0.05

    def __post_init__(self):
        check_int(self.max_inner, "max_inner", 1)
        check_int(self.check_every, "check_every", 1)
        check_positive(self.epsilon, "epsilon")
        _open_unit(self.tau, "tau")
        _open_unit(self.shrink, "shrink")
        check_int(self.max_backtracks, "max_backtracks", 0)
        if not 0.0 < float(self.subsample) <= 1.0:
            raise ValidationError(f"subsample: must lie in (0, 1], got {self.subsample!r}")
        check_int(self.cg_iters, "cg_iters", 1)
        check_nonnegative(self.cg_damping, "cg_damping")
        check_bool(self.alternating, "alternating")
        check_positive(self.log_std_bound, "log_std_bound")
        check_int(self.log_std_steps, "log_std_steps", 0)
        check_positive(self.log_std_lr, "log_std_lr")

    def propose(self, model, radius, rng, step_state=None):
        policy, theta_k, batch = model.policy, model.theta_k, model.batch
        mask = None
        if self.alternating:
            if not hasattr(policy, "mean_index"):
                return _proposal(model, theta_k, 0, "alternating update needs a Gaussian policy with mean/log-std "
                                 "blocks", SUBPROBLEM_FAILED)
            mask = np.zeros(policy.n_params)
            mask[policy.mean_index] = 1.0
        theta = np.array(theta_k, dtype=np.float64)
        L_full = model.L0
        ent0 = _mean_entropy(policy, theta_k, batch)
        n_steps, message = 0, "max_inner reached"
        for l in range(1, self.max_inner + 1):
            b = self._inner_batch(batch, rng)  # step 1
            L_b, g_b = model.surrogate.value_and_grad(policy, theta, b)
            mvp = model.distance.metric_vector_product(policy, theta_k, b)  # on the subsample
            if mvp is None:
                return _proposal(model, theta_k, 0,
                                 f"{type(model.distance).__name__} has no metric-vector product", SUBPROBLEM_FAILED)
            if mask is not None:  # eq. 4.11: the mean block only
                g_b, mvp = g_b * mask, _restricted_metric(mvp, mask)
            d, dHd, cg = _natural_direction(mvp, g_b, self.cg_iters, self.cg_damping)  # step 2
            if d is None:
                flat = not cg.breakdown and cg.iterations == 0  # the gradient is below the CG tolerance
                if n_steps == 0 and flat:
                    return _proposal(model, theta_k, 0,
                                     f"gradient below the CG tolerance (||g|| = {cg.residual_norm:.3g})",
                                     STATIONARY)
                if n_steps == 0:
                    return _proposal(model, theta_k, l, f"CG: {cg.message}", CG_BREAKDOWN)
                message = "gradient below the CG tolerance: stopped" if flat else "CG breakdown: stopped"
                break
            new = self._sufficient_increase_step(model, theta, d, dHd, g_b, L_b, b, radius)  # step 3
            if new is None:
                message = f"no step satisfies (4.8) at inner iteration {l}"
                break
            n_steps += 1
            theta, L_prev, L_full = new, L_full, model.value(new)
            stop = self._stopping_test(policy, theta, batch, L_prev, L_full, ent0, l)  # step 4
            if stop:
                message = stop
                break
        if n_steps == 0 and not self.alternating:
            return _proposal(model, theta_k, 0, message, LINE_SEARCH_FAILED)
        if self.alternating:
            theta = self._log_std_update(policy, theta_k, theta, batch, model.surrogate)
        return _proposal(model, theta, n_steps, message)

    def _inner_batch(self, batch, rng):
        """``b_l``: ``round(subsample N)`` (at least 1) of the ``N`` pairs of ``B`` without replacement,
        in their original order; ``B`` itself when ``subsample = 1`` (no draw from ``rng``)."""
        if self.subsample >= 1.0:
            return batch
        N = batch.n_pairs
        return batch.subset(np.sort(rng.choice(N, max(1, int(round(self.subsample * N))), replace=False)))

    def _sufficient_increase_step(self, model, theta, d, dHd, g_b, L_b, b, radius):
        """``theta + alpha d`` for the first ``alpha = alpha_0 shrink^j`` (``j <= max_backtracks``,
        ``alpha_0 = sqrt(2 delta_k / d'H d)``) that satisfies (4.8), or None."""
        policy, surrogate = model.policy, model.surrogate
        slope = float(np.dot(d, g_b))
        alpha = math.sqrt(2.0 * radius / dHd)
        for _ in range(self.max_backtracks + 1):
            cand = theta + alpha * d
            if (surrogate.value(policy, cand, b) >= L_b + self.tau * alpha * slope
                    and model.distance_to(cand) <= radius):
                return cand
            alpha *= self.shrink
        return None

    def _stopping_test(self, policy, theta, batch, L_prev, L_full, ent0, l) -> str:
        """(4.9) every ``check_every`` inner iterations: why the inner loop stops at ``l``, or ``""``."""
        if l % self.check_every != 0:
            return ""
        if abs(L_full - L_prev) / (1.0 + abs(L_prev)) <= self.epsilon:
            return f"(4.9): surrogate change below epsilon at l = {l}"
        ent = _mean_entropy(policy, theta, batch)
        if abs(ent - ent0) / (1.0 + abs(ent0)) >= self.epsilon:
            return f"(4.9): entropy change reached epsilon at l = {l}"
        return ""

    def _log_std_update(self, policy, theta_k, theta, batch, surrogate):
        """Eq. 4.12 by projected gradient ascent on the box around ``theta^sigma_k``; a step is
        kept only if it does not decrease ``L_hat``."""
        idx = policy.log_std_index
        lo, hi = theta_k[idx] - self.log_std_bound, theta_k[idx] + self.log_std_bound
        L_cur, g = surrogate.value_and_grad(policy, theta, batch)
        for _ in range(self.log_std_steps):
            cand = np.array(theta)
            cand[idx] = np.clip(theta[idx] + self.log_std_lr * g[idx], lo, hi)
            L_c, g_c = surrogate.value_and_grad(policy, cand, batch)
            if not L_c >= L_cur:
                break
            theta, L_cur, g = cand, L_c, g_c
        return theta


@dataclass(frozen=True, kw_only=True)
class ExactTabularStep(StepSolver):
    """The exact trust-region subproblem on an exact tabular batch (STRO Alg. 3.1, eq. 3.6)::

        pi_tilde = argmax_pi' L_pi(pi') s.t. sum_s dbar_pi(s) D(pi_s, pi'_s) <= delta

    by :func:`trustopt.tabular.solve_kl_subproblem` / :func:`~trustopt.tabular.solve_tv_subproblem`
    with the batch's normalized state weights (``dbar_pi``, consistent with
    :class:`~trustopt.components.distances.MeanKL` / ``MeanTV``); the softmax parameters are
    ``theta = log max(pi_tilde, tiny)`` (zero probabilities become ``exp(-700)``).

    Hyperparameters:
        divergence: ``"kl"`` (default) or ``"tv"``.
    """

    divergence: str = "kl"

    def __post_init__(self):
        if self.divergence not in ("kl", "tv"):
            raise ValidationError(f"divergence: must be 'kl' or 'tv', got {self.divergence!r}")

    def propose(self, model, radius, rng, step_state=None):
        from trustopt import tabular

        policy, theta_k, batch = model.policy, model.theta_k, model.batch
        if not batch.exact or not isinstance(batch.oracle, tabular.TabularMDP):
            return _proposal(model, theta_k, 0, "ExactTabularStep needs an exact tabular batch", SUBPROBLEM_FAILED)
        mdp = batch.oracle
        pi = policy.probs(theta_k)
        w = np.bincount(batch.states, weights=batch.weights, minlength=mdp.n_states)
        w = w / w.sum()
        solve = tabular.solve_kl_subproblem if self.divergence == "kl" else tabular.solve_tv_subproblem
        sol = solve(mdp, pi, radius, weights=w)
        if not sol.success:
            return _proposal(model, theta_k, 1, sol.message, SUBPROBLEM_FAILED)
        theta = np.log(np.maximum(np.asarray(sol.pi), np.exp(-700.0))).ravel()
        return _proposal(model, theta, 1, "exact subproblem")
