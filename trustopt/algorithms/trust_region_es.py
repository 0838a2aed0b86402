"""A trust-region evolution strategy in STRO's sense (STRO Alg. 3.1 / 4.3 with ES samples).

One iteration on the smoothed objective ``J_sigma(theta) = E F(theta + sigma eps)`` (TRES eq. 1):

1. model at ``theta_k`` from the antithetic batch ``B_k``: ``J_hat_k = mean F``,
   ``g_k`` = TRES eq. 6 (the loop's importance-sampled surrogate gradient at ``theta_k``);
2. trial point: the maximizer of the linear model ``J_hat_k + g_k . p`` over the ball
   ``||p||_2 <= delta_k`` (the Cauchy step)::

       theta_tilde = theta_k + delta_k g_k / ||g_k||,     predicted gain  delta_k ||g_k||

3. a fresh antithetic batch ``T`` at ``theta_tilde`` with the SAME ``sigma_k``; the ratio
   (STRO eq. 4.14, eq. 3.2 when ``use_std=False``)::

       r_k = (J_hat(theta_tilde) - J_hat_k) / ([sigma_hat_k +] delta_k ||g_k||)

   accept if ``r_k >= beta0`` (``B_{k+1} = T``: no extra evaluation), else keep ``theta_k``
   and draw a fresh batch there;
4. ``delta_{k+1}`` by STRO eq. 3.4 (:class:`trustopt.components.radius.RatioRadius`).

The smoothing scale follows the radius: ``sigma_k = kappa delta_k / sqrt(d)`` (perturbations of
length ``||sigma eps|| ~ kappa delta_k``), the coupling of model radius and trust-region radius
of derivative-free trust-region methods (Conn, Scheinberg & Vicente 2009, "Introduction to
Derivative-Free Optimization", ch. 10: the sample set lies in the trust region, whose radius
goes to zero). As ``delta_k -> 0`` the antithetic model becomes a central-difference model
with vanishing bias, which is what lets the method reach high precision on smooth objectives.
"""


from __future__ import annotations

import math
from dataclasses import dataclass, replace

from trustopt._validation import ValidationError, check_bool, check_choice, check_positive
from trustopt.algorithms._search import (RatioTestOptions, default_popsize, n_pairs, ratio_radius, resolve_options,
                                         search_method, search_start)
from trustopt.components.acceptance import FreshRatioTest
from trustopt.components.es_steps import QuadraticModelStep, TrustRegionStep
from trustopt.components.search import PerturbationSampler
from trustopt.noise import NoiseTable

__all__ = ["TrustRegionESOptions", "trust_region_es"]


@dataclass(frozen=True, kw_only=True)
class TrustRegionESOptions(RatioTestOptions):
    """Hyperparameters of the trust-region ES. Always adaptive (the radius is the method): no ``adapt``.

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
            ``delta_k`` (defaults 0.1, 0.5, 2.0, 1.0, 0.5, False); with the quadratic model an
            interior step keeps ``delta_k`` (N&W Alg. 4.1).
    """

    model: str = "quadratic"
    kappa: float = 1.0
    rotate: bool | None = None
    tie_to_step: bool = False

    def __post_init__(self):
        super().__post_init__()
        check_choice(self.model, "model", ("quadratic", "linear"))
        check_positive(self.kappa, "kappa")
        if self.rotate is not None:
            check_bool(self.rotate, "rotate")
        check_bool(self.tie_to_step, "tie_to_step")
        if self.model == "linear":
            for name, unused in (("rotate", self.rotate is not None), ("tie_to_step", bool(self.tie_to_step))):
                if unused:
                    raise ValidationError(f"{name}: only used with model='quadratic', got model='linear'")


def trust_region_es(problem=None, *, exact: bool = False, theta0=None, sigma0: float | None = None,
                    popsize: int | None = None, noise: NoiseTable | None = None,
                    options: TrustRegionESOptions | None = None, **hyperparameters):
    """The trust-region ES composed for the loop (the library's recommended black-box method).

    Arguments as :func:`trustopt.algorithms.es.es`; hyperparameters :class:`TrustRegionESOptions`.
    With ``model="quadratic"`` the ``popsize // 2`` directions are orthogonalized and ``popsize``
    defaults to ``2 d + 1`` (the pairs and the center ``theta_k``), so that the gradient estimate
    is the central-difference gradient in an orthonormal basis (exact for quadratics); the trial
    batch reuses the model batch's directions (common random numbers), so the BFGS pair
    ``(theta_tilde - theta_k, g(theta_tilde) - g(theta_k))`` is not swamped by a change of
    directions, and the actual gain of the ratio test is taken between the two center
    evaluations. ``delta_0 = sigma0 sqrt(d) / kappa``.
    """
    o = resolve_options(TrustRegionESOptions, options, hyperparameters, "trust-region-es", factory=trust_region_es)
    theta0, sigma0 = search_start("trust-region-es", problem, exact, theta0, sigma0)
    d = theta0.size
    quadratic = o.model == "quadratic"
    sampler = PerturbationSampler(
        sigma0=sigma0, n_pairs=n_pairs(popsize, 2 * d + 1 if quadratic else default_popsize(d), center=quadratic),
        noise=NoiseTable() if noise is None else noise, orthogonal=quadratic,
        rotate=bool(d <= 256 if o.rotate is None else o.rotate), center=quadratic, kappa=o.kappa,
        tie_to_step=bool(o.tie_to_step), stop_tolfunhist=quadratic)
    rule = ratio_radius(o, sigma0 * math.sqrt(d) / o.kappa)
    acceptance = FreshRatioTest(beta0=rule.beta0, use_std=o.use_std, center=quadratic)
    if quadratic:  # N&W 2006 Alg. 4.1: an interior (Newton) step keeps delta_k
        step, rule = QuadraticModelStep(), replace(rule, enlarge_at_boundary_only=True)
    else:
        step = TrustRegionStep()
    return search_method("trust-region-es", problem, o, theta0=theta0, sampler=sampler, step=step,
                         acceptance=acceptance, radius_rule=rule)
