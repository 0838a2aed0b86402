"""Random and adversarial instances for tests and for :mod:`proofs_check` (public).

Two kinds of generators:

- hypothesis strategies (:func:`mdps`, :func:`policies`, :func:`policy_pairs`,
  :func:`mdp_and_policy`, :func:`mdp_and_policy_pair`) that deliberately cover edge
  cases: ``gamma = 0``, one state, one action, deterministic and near-deterministic
  policies, absorbing states, deterministic transitions, rewards of mixed sign, and
  start distributions with zeros;
- NumPy batch generators (:func:`random_mdps`, :func:`random_policies`,
  :func:`nearby_policies`) drawing many instances at once from a passed
  ``np.random.Generator`` (for checks that run millions of instances).

Example::

    from hypothesis import given
    from trustopt import tabular, testing

    @given(testing.mdp_and_policy_pair())
    def test_surrogate_matches_eta_at_pi(case):
        mdp, pi, pi_new = case
        assert abs(tabular.surrogate(mdp, pi, pi) - tabular.evaluate(mdp, pi).eta) < 1e-8
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from trustopt._validation import check_int, check_interval, check_positive
from trustopt.tabular import TabularMDP

__all__ = [
    "probability_vectors",
    "mdps",
    "policies",
    "policy_pairs",
    "mdp_and_policy",
    "mdp_and_policy_pair",
    "random_mdps",
    "random_policies",
    "nearby_policies",
]

# ------------------------------------------------------------------ hypothesis strategies

_weights = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-3, max_value=1.0, allow_nan=False),
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
)


@st.composite
def probability_vectors(draw, n: int, *, allow_zeros: bool = True, min_entry: float = 0.0):
    """A probability vector of length ``n``: one-hot, near-one-hot, uniform, or random
    weights (with zeros when ``allow_zeros``), each entry ``>= min_entry`` if given."""
    kind = draw(st.sampled_from(["random", "one-hot", "near-one-hot", "uniform"]))
    if kind == "uniform" or n == 1:
        p = np.full(n, 1.0 / n)
    elif kind == "one-hot" and allow_zeros and min_entry == 0.0:
        p = np.eye(n)[draw(st.integers(0, n - 1))]
    elif kind in ("one-hot", "near-one-hot"):
        eps = draw(st.sampled_from([1e-6, 1e-3, 0.05]))
        p = np.full(n, eps / n)
        p[draw(st.integers(0, n - 1))] += 1.0 - eps
    else:
        w = np.array(draw(st.lists(_weights if allow_zeros else _weights.filter(lambda x: x > 0),
                                   min_size=n, max_size=n)), dtype=float)
        if w.sum() <= 0:
            w[draw(st.integers(0, n - 1))] = 1.0
        p = w / w.sum()
    if min_entry > 0:
        p = (1.0 - n * min_entry) * p + min_entry
    return p / p.sum()


@st.composite
def mdps(
    draw,
    *,
    min_states: int = 1,
    max_states: int = 4,
    min_actions: int = 1,
    max_actions: int = 3,
    gamma=None,
    rho0_positive: bool = False,
    reward_scale: float = 1.0,
):
    """A :class:`TabularMDP` with sizes in the given ranges.

    ``gamma``: a float, a strategy, or None for ``{0, 0.5, 0.9, 0.99}`` or a float in
    ``[0, 0.99]``. ``rho0_positive=True`` gives ``rho0(s) > 0`` for every s (STRO eq. 3.5).
    Transition rows are random, one-hot (deterministic), or absorbing (``P[s, a, s] = 1``).
    Rewards are of mixed sign, possibly state-only, possibly all zero.
    """
    S = draw(st.integers(min_states, max_states))
    A = draw(st.integers(min_actions, max_actions))
    if gamma is None:
        g = draw(st.one_of(st.sampled_from([0.0, 0.5, 0.9, 0.99]), st.floats(0.0, 0.99)))
    elif isinstance(gamma, st.SearchStrategy):
        g = draw(gamma)
    else:
        g = float(gamma)
    absorbing = draw(st.lists(st.booleans(), min_size=S, max_size=S))
    P = np.empty((S, A, S))
    for s in range(S):
        for a in range(A):
            P[s, a] = np.eye(S)[s] if absorbing[s] else draw(probability_vectors(S))
    r_kind = draw(st.sampled_from(["state-action", "state", "zero"]))
    shape = (S, A) if r_kind == "state-action" else (S,)
    if r_kind == "zero":
        r = np.zeros(S)
    else:
        vals = draw(st.lists(st.floats(-1.0, 1.0, allow_nan=False), min_size=int(np.prod(shape)),
                             max_size=int(np.prod(shape))))
        r = reward_scale * np.array(vals).reshape(shape)
    rho0 = draw(probability_vectors(S, allow_zeros=not rho0_positive, min_entry=0.01 / S if rho0_positive else 0.0))
    return TabularMDP(P, r, rho0, g)


@st.composite
def policies(draw, n_states: int, n_actions: int, *, full_support: bool = False):
    """A policy ``(S, A)``: per state one-hot, near-deterministic, uniform or random rows;
    ``full_support=True`` keeps every entry ``>= 1e-3 / A``."""
    rows = [draw(probability_vectors(n_actions, allow_zeros=not full_support,
                                     min_entry=1e-3 / n_actions if full_support else 0.0))
            for _ in range(n_states)]
    return np.array(rows)


@st.composite
def policy_pairs(draw, n_states: int, n_actions: int, *, max_step: float = 1.0, full_support: bool = False):
    """A pair ``(pi, pi_new)`` of nearby policies: ``pi_new`` is a mixture
    ``(1 - t) pi + t q`` with ``t in [0, max_step]`` and ``q`` another policy, or a
    logit perturbation of ``pi`` (support preserved), or ``pi`` itself."""
    pi = draw(policies(n_states, n_actions, full_support=full_support))
    kind = draw(st.sampled_from(["mixture", "logits", "same"]))
    if kind == "same":
        return pi, pi.copy()
    if kind == "mixture":
        q = draw(policies(n_states, n_actions, full_support=full_support))
        t = draw(st.floats(0.0, max_step))
        return pi, (1.0 - t) * pi + t * q
    noise = np.array(draw(st.lists(st.floats(-1.0, 1.0), min_size=n_states * n_actions,
                                   max_size=n_states * n_actions))).reshape(n_states, n_actions)
    with np.errstate(divide="ignore"):
        logits = np.log(pi) + max_step * 3.0 * noise
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return pi, z / z.sum(axis=1, keepdims=True)


@st.composite
def mdp_and_policy(draw, *, full_support: bool = False, **mdp_kwargs):
    """``(mdp, pi)``; keyword arguments go to :func:`mdps`."""
    mdp = draw(mdps(**mdp_kwargs))
    return mdp, draw(policies(mdp.n_states, mdp.n_actions, full_support=full_support))


@st.composite
def mdp_and_policy_pair(draw, *, max_step: float = 1.0, full_support: bool = False, **mdp_kwargs):
    """``(mdp, pi, pi_new)`` with nearby policies; keyword arguments go to :func:`mdps`."""
    mdp = draw(mdps(**mdp_kwargs))
    pi, pi_new = draw(policy_pairs(mdp.n_states, mdp.n_actions, max_step=max_step, full_support=full_support))
    return mdp, pi, pi_new


# ------------------------------------------------------------------ NumPy batch generators


def _check_sizes(n, n_states, n_actions):
    for name, v in (("n", n), ("n_states", n_states), ("n_actions", n_actions)):
        check_int(v, name, 1)


def random_mdps(
    rng: np.random.Generator,
    n: int,
    n_states: int,
    n_actions: int,
    *,
    gamma=None,
    concentration: float = 1.0,
    reward_scale: float = 1.0,
    rho0_positive: bool = False,
) -> TabularMDP:
    """``n`` random MDPs as one batched :class:`TabularMDP` (batch shape ``(n,)``).

    Transition rows ~ Dirichlet(``concentration``) (small values give near-deterministic
    transitions), rewards ``r[s, a] ~ reward_scale * U(-1, 1)``, ``rho0`` ~ Dirichlet(1)
    (bounded away from 0 when ``rho0_positive``), ``gamma`` a float or, when None,
    ``U(0, 0.99)`` per MDP.
    """
    _check_sizes(n, n_states, n_actions)
    concentration = check_positive(concentration, "concentration")
    P = rng.dirichlet(np.full(n_states, concentration), size=(n, n_states, n_actions))
    r = reward_scale * rng.uniform(-1.0, 1.0, size=(n, n_states, n_actions))
    rho0 = rng.dirichlet(np.ones(n_states), size=n)
    if rho0_positive:
        rho0 = 0.9 * rho0 + 0.1 / n_states
    g = rng.uniform(0.0, 0.99, size=n) if gamma is None else np.full(n, float(gamma))
    return TabularMDP(P, r, rho0, g)


def random_policies(
    rng: np.random.Generator,
    n: int,
    n_states: int,
    n_actions: int,
    *,
    concentration: float = 1.0,
    deterministic_fraction: float = 0.0,
) -> np.ndarray:
    """``n`` random policies ``(n, S, A)``: rows ~ Dirichlet(``concentration``); a
    fraction ``deterministic_fraction`` of the rows is replaced by one-hot rows."""
    _check_sizes(n, n_states, n_actions)
    concentration = check_positive(concentration, "concentration")
    deterministic_fraction = check_interval(deterministic_fraction, "deterministic_fraction", 0.0, 1.0)
    pi = rng.dirichlet(np.full(n_actions, concentration), size=(n, n_states))
    if deterministic_fraction > 0:
        hot = rng.random((n, n_states)) < deterministic_fraction
        onehot = np.eye(n_actions)[rng.integers(0, n_actions, size=(n, n_states))]
        pi = np.where(hot[..., None], onehot, pi)
    return pi


def nearby_policies(rng: np.random.Generator, pi, scale) -> np.ndarray:
    """Perturb policies in logit space: ``pi_new = softmax(log pi + scale * N(0, 1))``,
    shapes ``(..., S, A)``; ``scale`` broadcasts against the batch (``(n,)`` gives one
    step size per instance). The support of ``pi`` is preserved."""
    pi = np.asarray(pi, float)
    scale = np.asarray(scale, float)
    scale = scale.reshape(scale.shape + (1, 1)) if scale.ndim else scale
    with np.errstate(divide="ignore"):
        logits = np.log(pi) + scale * rng.standard_normal(pi.shape)
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)
