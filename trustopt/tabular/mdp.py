"""The validated finite-MDP model object."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustopt._validation import (
    ValidationError,
    as_float_array,
    check_distribution,
    check_gamma,
    readonly,
)


@dataclass(frozen=True, init=False, eq=False)
class TabularMDP:
    """A finite, discounted MDP (TRPO sec. 2; STRO sec. 2.1).

    Args:
        P: transition probabilities ``P[s, a, s']``, shape ``(*batch, S, A, S)``.
        r: reward ``r[s, a]``, shape ``(*batch, S, A)``, or a state reward ``r[s]``,
           shape ``(*batch, S)`` (broadcast over actions).
        rho0: start-state distribution, shape ``(*batch, S)``.
        gamma: discount in ``[0, 1)``; a float, or an array of shape ``batch``.

    The optional leading ``batch`` dimensions describe many MDPs of one size at
    once; every function of :mod:`trustopt.tabular` that takes an MDP broadcasts
    over them (the subproblem solvers and policy/value iteration take one MDP).

    Validated once, here: shapes agree, values are finite, each ``P[s, a, :]`` and
    ``rho0`` is a probability vector (entries ``>= -1e-8``, sums within ``1e-8`` of 1;
    see :data:`trustopt.PROBABILITY_TOLERANCE`), ``0 <= gamma < 1``. Errors are
    :class:`trustopt.ValidationError` naming the argument. Arrays are stored
    read-only as float64; ``r`` is always stored with shape ``(*batch, S, A)``.
    """

    P: np.ndarray
    r: np.ndarray
    rho0: np.ndarray
    gamma: float | np.ndarray

    def __init__(self, P, r, rho0, gamma):
        P = as_float_array(P, "P")
        if P.ndim < 3 or P.shape[-1] != P.shape[-3]:
            raise ValidationError(f"P: expected shape (*batch, S, A, S), got {P.shape}")
        if P.shape[-2] == 0 or P.shape[-1] == 0:
            raise ValidationError(f"P: needs at least one state and one action, got shape {P.shape}")
        P = check_distribution(P, "P", what="(state, action)")
        batch, S, A = P.shape[:-3], P.shape[-3], P.shape[-2]

        r = as_float_array(r, "r")
        if r.shape == (*batch, S):
            r = np.broadcast_to(r[..., None], (*batch, S, A)).copy()
        elif r.shape == (*batch, S, A):
            r = r.copy()  # never alias (and freeze) the caller's array
        else:
            raise ValidationError(
                f"r: expected shape {(*batch, S, A)} (r[s, a]) or {(*batch, S)} (r[s]), got {r.shape}"
            )

        rho0 = as_float_array(rho0, "rho0")
        if rho0.shape != (*batch, S):
            raise ValidationError(f"rho0: expected shape {(*batch, S)}, got {rho0.shape}")
        rho0 = check_distribution(rho0, "rho0")

        gamma = check_gamma(gamma)
        if isinstance(gamma, np.ndarray):
            if gamma.shape != batch:
                raise ValidationError(f"gamma: expected a float or shape {batch}, got shape {gamma.shape}")
            gamma = readonly(gamma.copy())

        object.__setattr__(self, "P", readonly(P))
        object.__setattr__(self, "r", readonly(r))
        object.__setattr__(self, "rho0", readonly(rho0))
        object.__setattr__(self, "gamma", gamma)

    @property
    def n_states(self) -> int:
        return self.P.shape[-3]

    @property
    def n_actions(self) -> int:
        return self.P.shape[-2]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.P.shape[:-3]

    def __getitem__(self, index) -> "TabularMDP":
        """One MDP (or a sub-batch) of a batched MDP."""
        if not self.batch_shape:
            raise TypeError("an unbatched TabularMDP cannot be indexed")
        g = self.gamma[index] if isinstance(self.gamma, np.ndarray) else self.gamma
        return TabularMDP(self.P[index], self.r[index], self.rho0[index], g)

    def __repr__(self) -> str:
        b = f"batch={self.batch_shape}, " if self.batch_shape else ""
        g = self.gamma if isinstance(self.gamma, float) else f"array{self.gamma.shape}"
        return f"TabularMDP({b}S={self.n_states}, A={self.n_actions}, gamma={g})"


def stack(mdps) -> TabularMDP:
    """Stack MDPs of one size into a batched :class:`TabularMDP` (batch shape ``(n,)``)."""
    mdps = list(mdps)
    if not mdps:
        raise ValidationError("mdps: need at least one MDP")
    shapes = {(m.n_states, m.n_actions, m.batch_shape) for m in mdps}
    if len(shapes) != 1:
        raise ValidationError(f"mdps: all MDPs must have the same (S, A, batch shape); got {sorted(shapes)}")
    return TabularMDP(
        np.stack([m.P for m in mdps]),
        np.stack([m.r for m in mdps]),
        np.stack([m.rho0 for m in mdps]),
        np.stack([np.broadcast_to(np.asarray(m.gamma, float), m.batch_shape) for m in mdps]),
    )


def check_policy(mdp: TabularMDP, pi, name: str = "pi") -> np.ndarray:
    """Validate a stochastic policy ``pi[..., s, a]`` for ``mdp``; returns float64 array."""
    arr = as_float_array(pi, name)
    S, A = mdp.n_states, mdp.n_actions
    if arr.ndim < 2 or arr.shape[-2:] != (S, A):
        raise ValidationError(f"{name}: expected shape (*batch, {S}, {A}), got {arr.shape}")
    try:
        np.broadcast_shapes(arr.shape[:-2], mdp.batch_shape)
    except ValueError:
        raise ValidationError(
            f"{name}: batch shape {arr.shape[:-2]} does not broadcast with the MDP's {mdp.batch_shape}"
        ) from None
    return check_distribution(arr, name, what="state")
