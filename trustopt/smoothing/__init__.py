"""Exact oracle for product search distributions (TRES: Liu et al. 2019, eq. 3, 9-17, 23-25).

Two families over ``d`` independent coordinates:

    from trustopt import smoothing
    cat = smoothing.CategoricalProduct(F=table, d=2)          # F[k1, k2], per-dim categorical, logits theta (d, K)
    cat = smoothing.CategoricalProduct.from_function(f, z)    # z (d, K) support points
    gau = smoothing.GaussianProduct(F=smoothing.Quadratic(H=H, g=g, c=0.0), sigma=0.5)   # closed forms
    gau = smoothing.GaussianProduct(F=callable, sigma=[0.5, 1.0], order=20)              # Gauss-Hermite

Both expose (``theta`` old, ``thetat`` new parameters): ``J``, ``value`` (``V_theta``),
``advantage`` (``A_theta``), ``surrogate`` (``L_theta(thetat)``, eq. 13), ``surrogate_terms``,
``decomposition_terms`` (eq. 12), ``tv``, ``kl`` (``KL(p_theta^i || p_thetat^i)``, ``reverse=True``
for the other direction), ``alpha``, ``eps``, ``grad_J``, ``grad_surrogate`` (w.r.t. ``thetat``),
``sample``, ``surrogate_is`` / ``surrogate_clip`` (eq. 23-25 on a sample set) and their
gradients, ``surrogate_is_exact``.

A full-covariance Gaussian ``N(m, S)`` (:mod:`trustopt.smoothing.full_gaussian`; IGO, CMA-ES):

    fg = smoothing.FullGaussian(F=smoothing.Quadratic(H=H, g=g, c=0.0))   # or F=callable, d=..., order=5
    fg.J(m, S); fg.grad_J(m, S); fg.natural_gradient(m, S); fg.natural_gradient_fisher(m, S)
    smoothing.gaussian_kl(m0, S0, m1, S1); smoothing.fisher_information(S); smoothing.kl_linear_step(m, S, g, delta)
"""

from trustopt.smoothing.categorical import CategoricalProduct, enumerate_support, logits, softmax
from trustopt.smoothing.full_gaussian import (
    FullGaussian,
    fisher_information,
    gaussian_kl,
    kl_linear_step,
    relative_eigenvalues,
    unvech,
    vech,
)
from trustopt.smoothing.gaussian import GaussianProduct, Quadratic

__all__ = [
    "CategoricalProduct",
    "FullGaussian",
    "GaussianProduct",
    "Quadratic",
    "enumerate_support",
    "fisher_information",
    "gaussian_kl",
    "kl_linear_step",
    "logits",
    "relative_eigenvalues",
    "softmax",
    "unvech",
    "vech",
]
