"""Search distributions of the evolution-strategy family and how their samples are drawn.

Placeholder module being filled: :class:`Draw` is the public description of an asked batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustopt._validation import readonly

__all__ = ["Draw"]


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
        Y: ``(n, d)`` the samples in the internal space.
        X: ``(n, d)`` the points to evaluate (``Y``'s images in the box; ``Y`` itself without bounds).
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
