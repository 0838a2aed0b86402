"""Per-state divergences between two stochastic policies, and their aggregates.

Conventions (CLAIMS.md): ``TV_s = 1/2 sum_a |pi(a|s) - pit(a|s)|`` and
``KL_s = KL(pi(.|s) || pit(.|s)) = sum_a pi(a|s) log(pi(a|s) / pit(a|s))`` (old || new,
as TRPO sec. 4). ``0 log 0 = 0``; ``KL_s = +inf`` where ``pit`` puts zero mass on an
action that ``pi`` plays. Inputs are arrays ``(..., S, A)`` of probability rows; these
functions check only that the two shapes broadcast (policies are validated by the functions
taking an MDP).
"""

from __future__ import annotations

import numpy as np

from trustopt._validation import ValidationError, as_float_array


def _pair(pi, pi_new) -> tuple[np.ndarray, np.ndarray]:
    p, q = np.asarray(pi, float), np.asarray(pi_new, float)
    try:
        np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise ValidationError(f"pi_new: shape {q.shape} does not match pi's {p.shape}") from None
    return p, q


def tv(pi, pi_new) -> np.ndarray:
    """Per-state total variation ``TV_s = 1/2 sum_a |pi(a|s) - pi_new(a|s)|``, shape ``(..., S)``."""
    p, q = _pair(pi, pi_new)
    return 0.5 * np.abs(p - q).sum(axis=-1)


def kl(pi, pi_new) -> np.ndarray:
    """Per-state ``KL(pi(.|s) || pi_new(.|s))``, shape ``(..., S)``; ``0 log 0 = 0``, ``+inf``
    where ``pi_new`` has zero mass on ``pi``'s support. For the reverse direction
    ``KL(pi_new || pi)`` call ``kl(pi_new, pi)``."""
    p, q = _pair(pi, pi_new)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0.0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(axis=-1)


def max_tv(pi, pi_new):
    """``alpha = max_s TV_s`` (TRPO Theorem 1's ``D_TV^max``)."""
    return tv(pi, pi_new).max(axis=-1)


def max_kl(pi, pi_new):
    """``D_KL^max = max_s KL(pi(.|s) || pi_new(.|s))`` (TRPO eq. 9)."""
    return kl(pi, pi_new).max(axis=-1)


def visitation_weighted(div, *, rho=None, dbar=None):
    """Aggregate a per-state divergence under a visitation; give exactly one of:

    - ``rho``: the UNNORMALIZED visitation (``sum_s rho = 1/(1-gamma)``), returning
      ``sum_s rho(s) div(s)`` -- the left side of STRO eq. 3.6's constraint;
    - ``dbar``: the NORMALIZED visitation ``(1-gamma) rho``, returning the expectation
      ``E_{s~dbar}[div(s)]`` -- TRPO's mean KL (eq. 12) and Achiam et al.'s bound.

    States of zero weight contribute 0 even where ``div`` is ``+inf``. Shapes ``(..., S)``.
    """
    if (rho is None) == (dbar is None):
        raise ValidationError("visitation_weighted: give exactly one of rho= (unnormalized) or dbar= (normalized)")
    w = as_float_array(rho if rho is not None else dbar, "rho" if rho is not None else "dbar")
    if np.any(w < 0):
        raise ValidationError("rho/dbar: visitation weights must be non-negative")
    div = np.asarray(div, float)
    with np.errstate(invalid="ignore"):
        return np.where(w > 0, w * div, 0.0).sum(axis=-1)
