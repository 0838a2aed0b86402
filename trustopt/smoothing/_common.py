"""Kernels shared by the categorical and Gaussian product families (valid input assumed)."""

from __future__ import annotations

import numpy as np

from trustopt._validation import ValidationError, as_float_array

BASELINES = ("value", "advantage")


def check_baseline(baseline: str) -> str:
    if baseline not in BASELINES:
        raise ValidationError(f"baseline: must be one of {BASELINES}, got {baseline!r}")
    return baseline


def check_lambda(lambda_) -> float:
    lam = as_float_array(lambda_, "lambda_", ndim=0)
    if not lam > 0.0:
        raise ValidationError(f"lambda_: the clip factor must be > 0, got {float(lam)!r}")
    return float(lam)


def is_terms(ratio: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-sample, per-dimension importance-sampled terms ``r_i W_i`` (TRES eq. 23-24)."""
    return ratio * weights


def clip_terms(ratio: np.ndarray, weights: np.ndarray, lambda_: float) -> np.ndarray:
    """``min(r_i W_i, clip(r_i, 1 - lambda, 1 + lambda) W_i)`` (TRES eq. 25)."""
    clipped = np.clip(ratio, 1.0 - lambda_, 1.0 + lambda_)
    return np.minimum(ratio * weights, clipped * weights)


def clip_active_unclipped(ratio: np.ndarray, weights: np.ndarray, lambda_: float) -> np.ndarray:
    """Where the minimum of eq. 25 is attained by the unclipped branch ``r_i W_i``
    (ties go to the unclipped branch), i.e. where ``d term / d r_i = W_i``; elsewhere the
    clipped branch is constant in ``r_i`` and the derivative is 0."""
    clipped = np.clip(ratio, 1.0 - lambda_, 1.0 + lambda_)
    return ratio * weights <= clipped * weights
