"""Instance generators for claims (public; user claims use them too).

A generator returns a list of batches (dicts of arrays with a leading batch axis). The
tabular ones build on :mod:`trustopt.testing`'s NumPy generators and deliberately mix in
edge cases: one state, one action, ``gamma = 0`` and ``gamma = 0.99``, near-deterministic
transitions, deterministic and near-deterministic policies, large and tiny policy steps.

Batch keys of :func:`tabular`: ``P (n,S,A,S)``, ``r (n,S,A)``, ``rho0 (n,S)``,
``gamma (n,)`` and one ``(n,S,A)`` array per policy name. :data:`TABULAR_SCHEMA` and
:func:`policy_field` describe them for the adversarial search and the shrinker; :func:`mdp`
turns a batch back into a (batched) :class:`trustopt.tabular.TabularMDP`.
"""

from __future__ import annotations

import numpy as np

from trustopt import tabular as _tab, testing
from proofs_check.registry import Field

#: (S, A) sizes drawn by :func:`tabular`, with their relative frequencies.
SIZES = ((1, 1), (1, 3), (2, 1), (2, 2), (3, 2), (3, 3), (4, 2), (4, 4), (5, 3), (6, 2), (8, 3))
_SIZE_WEIGHTS = np.array([1, 2, 1, 4, 6, 6, 6, 4, 5, 3, 3], float)

TABULAR_SCHEMA = {
    "P": Field(kind="dist", axes=("S", "A", "S")),
    "r": Field(kind="real", axes=("S", "A")),
    "rho0": Field(kind="dist", axes=("S",)),
    "gamma": Field(kind="gamma"),
}


def policy_field() -> Field:
    """Schema entry of a policy array ``(S, A)``."""
    return Field(kind="dist", axes=("S", "A"))


def schema(*policy_names: str, **extra: Field) -> dict:
    """:data:`TABULAR_SCHEMA` plus one policy field per name plus ``extra`` fields."""
    out = dict(TABULAR_SCHEMA)
    out.update({name: policy_field() for name in policy_names})
    out.update(extra)
    return out


def mdp(batch) -> _tab.TabularMDP:
    """The (batched) MDP of a batch."""
    return _tab.TabularMDP(batch["P"], batch["r"], batch["rho0"], np.asarray(batch["gamma"], float))


def value_scale(batch) -> np.ndarray:
    """``max |r| / (1 - gamma)`` per instance: the size of every value, advantage and eta."""
    r = np.abs(np.asarray(batch["r"], float)).reshape(len(batch["gamma"]), -1).max(axis=1)
    return np.maximum(r, 1e-300) / (1.0 - np.asarray(batch["gamma"], float))


def split_sizes(rng, n, sizes, weights=None) -> list[tuple]:
    """``(size, count)`` pairs, ``counts ~ Multinomial(n, weights / sum(weights))`` (uniform
    weights when None); sizes drawn zero times are left out."""
    weights = np.ones(len(sizes)) if weights is None else np.asarray(weights, float)
    p = weights / weights.sum()
    counts = rng.multinomial(n, p)
    return [(s, c) for s, c in zip(sizes, counts) if c > 0]


def per_size(sizes, n: int) -> list[tuple]:
    """``(size, m)`` for every size, ``m = max(1, n // len(sizes))``: a fixed mix of sizes."""
    m = max(1, n // len(sizes))
    return [(s, m) for s in sizes]


def random_policy_batch(rng, n, S, A):
    """Policies mixing Dirichlet rows of several concentrations with deterministic rows."""
    conc = rng.choice([0.2, 1.0, 5.0])
    det = rng.choice([0.0, 0.0, 0.3])
    return testing.random_policies(rng, n, S, A, concentration=conc, deterministic_fraction=det)


def new_policy_batch(rng, pi):
    """A second policy near (or far from) ``pi``: logit perturbation with log-uniform step
    (support kept), mixture with a random policy, or an independent random policy."""
    n, S, A = pi.shape
    kind = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    step = np.exp(rng.uniform(np.log(1e-3), np.log(3.0), size=n))
    near = testing.nearby_policies(rng, pi, step)
    other = testing.random_policies(rng, n, S, A, concentration=rng.choice([0.3, 1.0]))
    t = rng.uniform(0, 1, size=n)[:, None, None] ** 2
    mix = (1 - t) * pi + t * other
    out = np.where((kind == 0)[:, None, None], near, np.where((kind == 1)[:, None, None], mix, other))
    return out / out.sum(axis=-1, keepdims=True)


def tabular(
    rng: np.random.Generator,
    n: int,
    *,
    policies=("pi", "pi_new"),
    sizes=SIZES,
    size_weights=None,
    rho0_positive: bool = False,
    state_reward: bool = False,
    chunk: int = 4096,
) -> list[dict]:
    """Random tabular instances (see the module docstring); policies after the first are
    drawn near the first by :func:`new_policy_batch`."""
    weights = _SIZE_WEIGHTS[: len(sizes)] if size_weights is None else np.asarray(size_weights, float)
    if len(weights) != len(sizes):
        weights = np.ones(len(sizes))
    out = []
    for (S, A), count in split_sizes(rng, n, list(sizes), weights):
        for start in range(0, count, chunk):
            m = min(chunk, count - start)
            conc = rng.choice([0.1, 1.0])
            M = testing.random_mdps(rng, m, S, A, concentration=conc, rho0_positive=rho0_positive)
            gamma = np.array(M.gamma, float)
            u = rng.random(m)
            gamma = np.where(u < 0.08, 0.0, np.where(u < 0.2, 0.99, gamma))
            r = np.array(M.r)
            if state_reward:
                r = np.repeat(r[:, :, :1], A, axis=2)
            batch = {"P": np.array(M.P), "r": r, "rho0": np.array(M.rho0), "gamma": gamma}
            pi = random_policy_batch(rng, m, S, A)
            for k, name in enumerate(policies):
                batch[name] = pi if k == 0 else new_policy_batch(rng, pi)
            out.append(batch)
    return out
