"""A seeded shared noise table (Salimans et al. 2017, sec. 2.1; TRES "Distributed Implementation").

Every process builds the same block of standard normal numbers from the same seed; a
perturbation is then named by an integer offset ``index`` into the table and a sign, so
workers exchange only ``(index, sign)`` pairs and the scalar objective values, never
``d``-dimensional vectors::

    eps_j = sign_j * table[index_j : index_j + d]            # (d,), entries ~ N(0, 1)
    x_j   = theta + sigma * eps_j                            # (d,), TRES eq. 5-6 samples

Distinct offsets give vectors whose entries are i.i.d. standard normal within each vector;
two vectors with overlapping windows share shifted entries, so they are uncorrelated
(``E[eps_j eps_k^T] = 0`` unless the offsets are equal) but not independent -- the same
approximation OpenAI's and TRES's implementations make. The table is stored as float32
(as in the ES starter code) and converted to float64 when a vector is read, so every
process reconstructs the same float64 ``x_j`` bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from functools import lru_cache

import numpy as np

from trustopt._validation import ValidationError, check_int

__all__ = ["NoiseTable", "perturb", "orthogonal_directions", "DEFAULT_TABLE_SIZE", "DEFAULT_TABLE_SEED"]

#: Default table length: 2**23 float32 entries (32 MiB per process). Perturbations are windows of length
#: ``d`` at uniform offsets (:meth:`NoiseTable.sample_index`), so two of them share entries with
#: probability about ``2 d / size``.
DEFAULT_TABLE_SIZE = 2**23
#: Default table seed (the table is a fixed public constant of the library, like OpenAI's seed 123).
DEFAULT_TABLE_SEED = 123


@lru_cache(maxsize=4)
def _table(seed: int, size: int) -> np.ndarray:
    arr = np.random.default_rng(np.random.SeedSequence(seed)).standard_normal(size, dtype=np.float32)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, kw_only=True, eq=True)
class NoiseTable:
    """``size`` standard normal float32 numbers generated from ``seed`` (shared by all processes).

    Pickling sends only ``(seed, size)`` (the instance holds nothing else); the array is
    rebuilt on first use and cached per process by ``(seed, size)``.

    Attributes:
        seed: the table's seed (int >= 0).
        size: number of entries (>= 1).
    """

    seed: int = DEFAULT_TABLE_SEED
    size: int = DEFAULT_TABLE_SIZE

    def __post_init__(self):
        object.__setattr__(self, "seed", check_int(self.seed, "seed", 0))
        object.__setattr__(self, "size", check_int(self.size, "size", 1))

    @property
    def noise(self) -> np.ndarray:
        """The table, ``(size,)`` float32, read-only (cached per process by ``(seed, size)``)."""
        return _table(self.seed, self.size)

    def sample_index(self, rng: np.random.Generator, d: int, n: int) -> np.ndarray:
        """``n`` offsets drawn uniformly from ``{0, ..., size - d}``, ``(n,)`` int64."""
        if d > self.size:
            raise ValidationError(f"d: the noise table has {self.size} entries, fewer than d = {d}")
        return rng.integers(0, self.size - d + 1, size=n, dtype=np.int64)

    def get(self, index, d: int) -> np.ndarray:
        """``eps[j] = table[index[j] : index[j] + d]`` as float64, ``(n, d)`` for ``index (n,)``."""
        return _rows(self.noise, index, d)

    def perturb(self, theta, sigma, index, sign) -> np.ndarray:
        """``x_j = theta + sigma * sign_j * eps_j``, ``(n, d)``: :func:`perturb` on this table."""
        return perturb(self.noise, theta, sigma, index, sign)


def _rows(table: np.ndarray, index, d: int) -> np.ndarray:
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    if index.size and (index.min() < 0 or index.max() > table.shape[0] - d):
        raise ValidationError(f"index: offsets must lie in [0, {table.shape[0] - d}]")
    cols = np.arange(d, dtype=np.int64)
    return table[index[:, None] + cols[None, :]].astype(np.float64)


def perturb(table: np.ndarray, theta, sigma, index, sign) -> np.ndarray:
    """``x_j = theta + sigma * (sign_j * eps_j)``, ``eps_j = float64(table[index_j : index_j + d])``, ``(n, d)``.

    ``table (size,)`` float32 (:attr:`NoiseTable.noise`, or a worker's view of it in shared
    memory), ``theta (d,)``, ``sigma`` scalar or ``(d,)``, ``index (n,)``, ``sign (n,)``. The
    single formula every process uses to rebuild a sample from ``(index, sign)``: the driver
    and the workers call this function, so a worker's ``x_j`` equals the driver's bit for bit
    (element-wise IEEE operations in a fixed order; nothing depends on the batch it is in).
    """
    theta = np.asarray(theta, dtype=np.float64)
    eps = _rows(table, index, theta.shape[0]) * np.asarray(sign, dtype=np.float64).reshape(-1, 1)
    return theta[None, :] + np.asarray(sigma, dtype=np.float64) * eps


def orthogonal_directions(eps: np.ndarray, *, rotate: bool = True) -> np.ndarray:
    """Orthogonal directions of common length ``sqrt(d)`` built from noise rows ``eps (m, d)``, ``(m, d)``.

    ``rotate=True`` (Choromanski et al. 2018, "structured evolution", cited by TRES): the rows
    are orthonormalized in blocks of ``d`` (QR of each block's transpose with a positive
    diagonal, i.e. a Haar-random orthonormal frame) and scaled by ``sqrt(d)``; cost ``O(d^3)``
    per full block. ``rotate=False``: the block's rows are ``sqrt(d) s_j e_{pi_j}`` -- randomly
    signed coordinate directions, ``pi`` the permutation that sorts the block's first row,
    ``s_j`` the sign of ``eps[j, pi_j]``; cost ``O(m d)``.

    With ``m = d`` and antithetic pairs, TRES eq. 6 on either set is the central-difference
    gradient along an orthonormal basis: exact for quadratic objectives.
    """
    eps = np.asarray(eps, dtype=np.float64)
    m, d = eps.shape
    out = np.zeros_like(eps)
    for start in range(0, m, d):
        block = eps[start:start + d]
        k = block.shape[0]
        if rotate:
            q, r = np.linalg.qr(block.T)                    # (d, k)
            q = q * np.where(np.diag(r) < 0, -1.0, 1.0)     # unique QR: positive diagonal of r
            out[start:start + k] = q.T * math.sqrt(d)
        else:
            pi = np.argsort(block[0], kind="stable")[:k]
            signs = np.where(block[np.arange(k), pi] < 0, -1.0, 1.0)
            out[start + np.arange(k), pi] = signs * math.sqrt(d)
    return out
