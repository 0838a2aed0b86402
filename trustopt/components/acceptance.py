"""Acceptance rules: whether the trial point becomes the next iterate (STRO eq. 3.3, 4.13, 4.15).

The loop has already rejected numerical failures (non-finite values, predicted gain <= 0,
CG breakdown, failed line search); a rule sees only sound proposals.

* :class:`AlwaysAccept` -- VPG, NPG, PPO, TREFree.
* :class:`ImprovementWithinRadius` -- TRPO App. C: the line-searched point must improve the
  surrogate and satisfy ``D_hat <= delta`` (the two conditions of the backtracking search).
* :class:`RatioTest` -- STRO: ``r_k`` of eq. 4.14 (eq. 3.2 on an exact batch, where
  ``sigma_hat = 0``), accept if ``r_k >= beta0``; otherwise reject and merge a new batch
  (eq. 4.15), and after ``max_rejections`` consecutive rejections take the best rejected
  trial (mandatory acceptance, eq. 4.13).
* :class:`FreshRatioTest` -- the ratio test of the evolution-strategy family: a fresh batch at
  the trial point decides, and a rejection draws a fresh model batch (STRO Alg. 3.1).
* :class:`RankRatioTest` -- the ratio test in ranks of a rank-based search distribution: the
  trial batch against the model batch (a Mann-Whitney statistic) over the step's predicted
  ranked gain; every step accepted, so only the radius follows ``r_k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustopt._validation import ValidationError, as_float_array, check_bool, check_nonnegative
from trustopt.core.types import ACCEPT, FORCE_BEST, REJECT, REJECT_MERGE, Decision

__all__ = ["AlwaysAccept", "ImprovementWithinRadius", "RatioTest", "FreshRatioTest", "RankRatioTest", "stro_ratio",
           "rank_gain"]


@dataclass(frozen=True, kw_only=True)
class AlwaysAccept:
    """Every sound proposal is accepted (``theta_{k+1} = theta_tilde``). No hyperparameters."""

    needs_trial_batch = False

    def decide(self, proposal, batch, trial_batch, n_rejections):
        return Decision(action=ACCEPT)


@dataclass(frozen=True, kw_only=True)
class ImprovementWithinRadius:
    """TRPO App. C's acceptance: ``L_hat(theta_tilde) - L_hat(theta_k) > 0`` and
    ``D_hat(theta_k, theta_tilde) <= (1 + rtol) delta_k``; otherwise reject (fresh batch).

    Hyperparameters:
        rtol: relative slack on the radius ``>= 0`` (default 1e-9, round-off only).
    """

    rtol: float = 1e-9
    needs_trial_batch = False

    def __post_init__(self):
        check_nonnegative(self.rtol, "rtol")

    def decide(self, proposal, batch, trial_batch, n_rejections):
        """ACCEPT iff ``predicted_gain > 0`` and ``distance <= (1 + rtol) radius`` (both recorded
        in the proposal; a ``nan`` distance or radius fails the check), else REJECT."""
        within = proposal.distance <= (1.0 + self.rtol) * proposal.radius  # False for nan
        ok = proposal.predicted_gain > 0.0 and within
        return Decision(action=ACCEPT if ok else REJECT)


def stro_ratio(eta_trial: float, eta_k: float, sigma_k: float, predicted_gain: float) -> float:
    """STRO eq. 4.14::

        r_k = (eta_hat(theta_tilde) - eta_hat(theta_k)) / (sigma_hat_eta(theta_k) + L_hat(theta_tilde) - L_hat(theta_k))

    With ``sigma_hat = 0`` (exact batch) this is eq. 3.2. ``nan`` if the denominator is not positive.
    """
    denom = sigma_k + predicted_gain
    if not denom > 0.0:
        return float("nan")
    return float((eta_trial - eta_k) / denom)


@dataclass(frozen=True, kw_only=True)
class RatioTest:
    """STRO's acceptance (Alg. 4.3 lines 5-14; eq. 4.13-4.15).

    Samples ``T = SAMPLE(theta_tilde)`` (``needs_trial_batch``), computes ``r_k`` by
    :func:`stro_ratio` and decides::

        r_k >= beta0                                    -> accept; B_{k+1} = T    (line 8)
        r_k <  beta0, n_rejections + 1 <  max_rejections -> reject, B_{k+1} = SAMPLE(theta_k) U B_k (line 10)
        r_k <  beta0, n_rejections + 1 >= max_rejections -> mandatory acceptance of the best
                                                          rejected trial by eta_hat (eq. 4.13)

    Hyperparameters:
        beta0: acceptance threshold (default 0.0: STRO sec. 5.1 accepts "once
            eta(theta_tilde) > eta(theta_k)"; eq. 4.15 allows a small negative value).
        max_rejections: consecutive rejections that trigger the mandatory acceptance
            (default 4, STRO sec. 5.1: "after four consecutive rejections"; the sample set
            then holds ``N_max = 4 N`` pairs), or ``None`` for never (STRO Alg. 3.1: the
            exact method, where merging adds no information).
    """

    beta0: float = 0.0
    max_rejections: int | None = 4
    needs_trial_batch = True

    def __post_init__(self):
        as_float_array(self.beta0, "beta0", ndim=0)
        m = self.max_rejections
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ValidationError(f"max_rejections: must be an integer >= 1 or None, got {m!r}")

    def decide(self, proposal, batch, trial_batch, n_rejections):
        rho = stro_ratio(trial_batch.eta, batch.eta, batch.eta_std, proposal.predicted_gain)
        if rho >= self.beta0:
            return Decision(action=ACCEPT, rho=rho)
        if self.max_rejections is not None and n_rejections + 1 >= self.max_rejections:
            return Decision(action=FORCE_BEST, rho=rho)
        return Decision(action=REJECT_MERGE, rho=rho)


@dataclass(frozen=True, kw_only=True)
class FreshRatioTest:
    """STRO's ratio test (eq. 3.2 / 4.14, acceptance eq. 3.3) with a FRESH batch after a rejection
    (STRO Alg. 3.1) instead of merging (Alg. 4.3 line 10): the ES batches carry their own
    ``sigma``, and merging batches drawn with different ``sigma`` would bias ``J_hat``.

    ``r_k = (eta_trial - eta_k) / ([sigma_hat_eta(theta_k) if use_std] + predicted_gain)``; accept iff
    ``r_k >= beta0``. ``sigma_hat_eta(theta_k)`` is ``batch.eta_std``, the SAMPLE standard deviation
    of the model batch's values (STRO eq. 4.2, ``ddof=1``) exactly as in eq. 4.14 -- not the
    standard error of their mean.

    ``center=True``: the batches end with the unperturbed point (``x_N = theta``), and the
    actual gain is ``F(theta_tilde) - F(theta_k)`` from those two evaluations instead of the
    batch means. For a quadratic ``F`` the two agree exactly when the batches share ``sigma``
    and an orthonormal direction set (``J_sigma = F + sigma^2 tr(H) / 2``, a constant); for
    other ``F`` the center gain is the one that cannot be won by inflating ``sigma`` (with the
    batch means, a large ``sigma`` makes ``J_sigma`` smoother, the model better, the radius
    larger and ``sigma`` larger still: a feedback loop seen on Rosenbrock's function).

    Hyperparameters: ``beta0 = 0.1`` (a fraction of the predicted gain must be realized:
    Nocedal & Wright 2006, Alg. 4.1, eta in [0, 1/4)); ``use_std = False`` (for deterministic
    objectives ``sigma_hat`` measures the spread of ``F`` inside the sample ball, not noise;
    set True for noisy objectives such as RL returns, STRO eq. 4.14).
    """

    beta0: float = 0.1
    use_std: bool = False
    center: bool = False
    needs_trial_batch = True

    def __post_init__(self):
        as_float_array(self.beta0, "beta0", ndim=0)
        check_bool(self.use_std, "use_std")
        check_bool(self.center, "center")

    def decide(self, proposal, batch, trial_batch, n_rejections) -> Decision:
        std = float(batch.eta_std) if self.use_std else 0.0  # STRO eq. 4.14 with eq. 4.2
        if self.center:
            rho = stro_ratio(float(trial_batch.returns[-1]), float(batch.returns[-1]), std, proposal.predicted_gain)
        else:
            rho = stro_ratio(trial_batch.eta, batch.eta, std, proposal.predicted_gain)
        return Decision(action=ACCEPT if rho >= self.beta0 else REJECT, rho=rho)


def rank_gain(F_trial, F_model) -> float:
    """``P(F_trial > F_model) - 1/2`` over every pair of a trial and a model value (ties count
    1/2): the Mann-Whitney statistic of the two batches, centered, in ``[-1/2, 1/2]``. It is
    unchanged by any strictly increasing transformation of ``F``. ``O((n + m) log m)``."""
    a = np.asarray(F_trial, dtype=np.float64)
    b = np.sort(np.asarray(F_model, dtype=np.float64))
    below = np.searchsorted(b, a, side="left")
    at_or_below = np.searchsorted(b, a, side="right")
    return float((below.sum() + 0.5 * (at_or_below - below).sum()) / (a.size * b.size) - 0.5)


@dataclass(frozen=True, kw_only=True)
class RankRatioTest:
    """STRO's ratio (eq. 3.2) in rank units, for a search distribution whose step uses only the
    ranking of ``F`` (:class:`~trustopt.components.gaussian.GaussianNaturalStep`)::

        r_k = rank_gain(F(trial batch), F(model batch)) / predicted_gain

    with the actual gain :func:`rank_gain` (how much the batch drawn from the proposed
    distribution outranks the model batch) and the step's predicted gain in the same units (the
    weighted centered rank of the selected samples, ``c_m t sum_i w_i u_i``). Like the step, the
    ratio is invariant to strictly increasing transformations of ``F``.

    Every step is accepted (``rho`` only feeds the radius rule, e.g. STRO eq. 3.4): the trial
    batch is then the next model batch (STRO Alg. 4.3 line 8), so the test costs no evaluation.
    A non-positive predicted gain gives ``rho = nan`` (the radius rule's "failure" branch).
    No hyperparameters.
    """

    needs_trial_batch = True

    def decide(self, proposal, batch, trial_batch, n_rejections) -> Decision:
        pred = float(proposal.predicted_gain)
        rho = rank_gain(trial_batch.returns, batch.returns) / pred if pred > 0 else float("nan")
        return Decision(action=ACCEPT, rho=rho)
