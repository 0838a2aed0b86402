"""Random and adversarial instances for tests and for :mod:`proofs_check` (public).

Two kinds of generators:

- hypothesis strategies (:func:`mdps`, :func:`policies`, :func:`policy_pairs`,
  :func:`mdp_and_policy`, :func:`mdp_and_policy_pair`) that deliberately cover edge
  cases: ``gamma = 0``, one state, one action, deterministic and near-deterministic
  policies, absorbing states, deterministic transitions, rewards of mixed sign, and
  start distributions with zeros;
- hypothesis strategies for the other exact oracles: :func:`lqrs` / :func:`lqr_and_policy`
  (discounted LQR with a stable linear Gaussian policy, :mod:`trustopt.lqr`) and
  :func:`categorical_products` / :func:`gaussian_products` (TRES's product search
  distributions with an objective, :mod:`trustopt.smoothing`);
- NumPy batch generators (:func:`random_mdps`, :func:`random_policies`,
  :func:`nearby_policies`) drawing many instances at once from a passed
  ``np.random.Generator`` (for checks that run millions of instances).

Sizes (``n_states``, ``n_actions``, ``d``, ...) accept an int or a strategy of ints, as
``hypothesis.extra.numpy`` does for shapes. Every strategy shrinks toward simple instances:
few states and actions, ``gamma = 0`` (then 0.5), uniform or one-hot or round probabilities
(multiples of 1/4), zero or round rewards -- a failing example is reported in its simplest form.
:func:`load_profile` loads the deterministic CI profile (``"ci"``) or the long exploration one
(``"explore"``).

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
    "load_profile",
    "PROFILES",
    "probability_vectors",
    "mdps",
    "policies",
    "policy_pairs",
    "mdp_and_policy",
    "mdp_and_policy_pair",
    "lqrs",
    "lqr_and_policy",
    "categorical_products",
    "gaussian_products",
    "random_mdps",
    "random_policies",
    "nearby_policies",
]

# ------------------------------------------------------------------ profiles

#: The hypothesis profiles :func:`load_profile` knows: ``ci`` is deterministic (derandomized:
#: the same examples on every run, so CI is reproducible) with a modest example count; ``explore``
#: is random with many examples, for hunting counterexamples locally.
PROFILES = {
    "ci": dict(derandomize=True, deadline=None, max_examples=60, print_blob=True),
    "explore": dict(derandomize=False, deadline=None, max_examples=2000, print_blob=True),
}


def load_profile(name: str = "ci") -> None:
    """Register (once) and load the hypothesis profile ``name`` (``"ci"`` or ``"explore"``), e.g.
    in a user's ``conftest.py``: ``testing.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))``."""
    from hypothesis import HealthCheck, settings

    if name not in PROFILES:
        raise ValueError(f"load_profile: unknown profile {name!r}; known: {', '.join(PROFILES)}")
    settings.register_profile(name, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                              **PROFILES[name])
    settings.load_profile(name)


def _size(draw, value, name: str, lo: int, hi: int) -> int:
    """An int size from an int or a strategy of ints (``lo``/``hi`` give the default range)."""
    if value is None:
        return draw(st.integers(lo, hi))
    v = draw(value) if isinstance(value, st.SearchStrategy) else value
    return check_int(v, name, 1)


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
    # ordered simplest first: hypothesis shrinks toward the first choice
    kind = draw(st.sampled_from(["uniform", "round", "one-hot", "near-one-hot", "random"]))
    if kind == "uniform" or n == 1:
        p = np.full(n, 1.0 / n)
    elif kind == "round":  # small integer weights w_i in [lo, 4], normalized
        # One integer holds the n weights as base-b digits: a single draw, so this branch is
        # shorter than "near-one-hot" in Hypothesis's shrink order, and a failure shrinks to
        # round weights on every Hypothesis version (n integer draws did not).
        lo = 0 if allow_zeros else 1
        b = 5 - lo
        k = draw(st.integers(0, b**n - 1))
        w = np.array([lo + (k // b**i) % b for i in range(n)], float)
        if w.sum() <= 0:
            w[0] = 1.0
        p = w / w.sum()
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
    n_states=None,
    n_actions=None,
):
    """A :class:`TabularMDP` with sizes in the given ranges.

    ``n_states`` / ``n_actions``: an int or a strategy of ints (then ``min_*``/``max_*`` are
    ignored). ``gamma``: a float, a strategy, or None for ``{0, 0.5, 0.9, 0.99}`` or a float in
    ``[0, 0.99]`` (shrinks to 0). ``rho0_positive=True`` gives ``rho0(s) > 0`` for every s (STRO
    eq. 3.5). Transition rows are random, one-hot (deterministic), or absorbing
    (``P[s, a, s] = 1``). Rewards are of mixed sign, possibly state-only, possibly all zero
    (shrinking: zero, then round values in ``{-1, -1/2, 0, 1/2, 1}``).
    """
    S = _size(draw, n_states, "n_states", min_states, max_states) if n_states is not None else \
        draw(st.integers(min_states, max_states))
    A = _size(draw, n_actions, "n_actions", min_actions, max_actions) if n_actions is not None else \
        draw(st.integers(min_actions, max_actions))
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
    r_kind = draw(st.sampled_from(["zero", "state", "state-action"]))
    shape = (S, A) if r_kind == "state-action" else (S,)
    if r_kind == "zero":
        r = np.zeros(S)
    else:
        value = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 0.5, -0.5]), st.floats(-1.0, 1.0, allow_nan=False))
        vals = draw(st.lists(value, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
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


_round_real = st.one_of(st.sampled_from([0.0, 1.0, -1.0, 0.5, -0.5]), st.floats(-1.0, 1.0, allow_nan=False))


def _matrix(draw, rows: int, cols: int, elements=_round_real) -> np.ndarray:
    return np.array(draw(st.lists(elements, min_size=rows * cols, max_size=rows * cols)), float).reshape(rows, cols)


@st.composite
def lqrs(draw, *, n_states=None, n_actions=None, gamma=None, noise: bool = True):
    """A discounted :class:`trustopt.lqr.LQR` whose open loop is stable under the discount:
    ``A`` (entries in ``[-1, 1]``) is scaled so that ``sqrt(gamma) rho(A) <= 0.9``; ``B``
    entries in ``[-1, 1]``; diagonal ``Q >= 0``, ``R >= 0.1``, ``W >= 0`` (0 when not ``noise``),
    ``Sigma0 >= 0.01``; ``mu0`` in ``[-1, 1]``. Sizes: ints or strategies (default 1..3 states,
    1..2 actions). Shrinks toward one state and action, ``A = B = 0``, ``Q = R = 1``, ``gamma = 0``."""
    from trustopt import lqr as _lqr

    n = _size(draw, n_states, "n_states", 1, 3)
    m = _size(draw, n_actions, "n_actions", 1, 2)
    g = float(draw(gamma) if isinstance(gamma, st.SearchStrategy) else
               (draw(st.one_of(st.sampled_from([0.0, 0.5, 0.9]), st.floats(0.0, 0.95))) if gamma is None else gamma))
    A = _matrix(draw, n, n)
    radius = float(np.max(np.abs(np.linalg.eigvals(A)))) if n else 0.0
    if np.sqrt(g) * radius > 0.9:
        A = A * (0.9 / (np.sqrt(g) * radius))
    B = _matrix(draw, n, m)
    diag = lambda k, lo: np.diag(np.array(draw(st.lists(st.one_of(st.just(1.0), st.floats(lo, 2.0)),
                                                          min_size=k, max_size=k)), float))
    Q, R = diag(n, 0.0), diag(m, 0.1)
    W = diag(n, 0.0) * 0.1 if noise else np.zeros((n, n))
    Sigma0 = diag(n, 0.01)
    mu0 = _matrix(draw, 1, n)[0]
    return _lqr.LQR(A=A, B=B, Q=Q, R=R, gamma=g, W=W, mu0=mu0, Sigma0=Sigma0)


@st.composite
def lqr_and_policy(draw, *, log_std=None, margin: float = 0.05, **lqr_kwargs):
    """``(lqr, pi)``: an :func:`lqrs` instance and a linear Gaussian policy ``N(K s + b, diag e^{2 log_std})``
    that is stable (``sqrt(gamma) rho(A + B K) <= 1 - margin``; ``K`` is halved until it is, and
    ``K = 0`` always is, since the open loop is). ``log_std``: a float, a strategy, or None for
    ``{0, -1}`` or a float in ``[-2, 1]``. Keyword arguments go to :func:`lqrs`."""
    from trustopt import lqr as _lqr

    L = draw(lqrs(**lqr_kwargs))
    K = _matrix(draw, L.m, L.n)
    b = _matrix(draw, 1, L.m)[0]
    if log_std is None:
        ls = draw(st.one_of(st.sampled_from([0.0, -1.0]), st.floats(-2.0, 1.0)))
    else:
        ls = draw(log_std) if isinstance(log_std, st.SearchStrategy) else log_std
    for _ in range(60):
        pi = _lqr.LQRPolicy(K=K, b=b, log_std=ls)
        if _lqr.spectral_radius(L, pi) <= 1 - margin:  # radius of sqrt(gamma) (A + B K)
            break
        K = K / 2
    else:
        pi = _lqr.LQRPolicy(K=np.zeros_like(K), b=b, log_std=ls)
    return L, pi


@st.composite
def categorical_products(draw, *, d=None, k=None, pair: bool = True):
    """TRES's categorical product (``d`` coordinates, ``k`` support points each) with an objective
    table ``F`` of shape ``(k,) * d``: returns ``(model, theta)`` or, with ``pair``, ``(model, theta,
    thetat)`` -- :class:`trustopt.smoothing.CategoricalProduct` and logits ``(d, k)``. Shrinks toward
    ``d = 1``, ``k = 2``, ``F`` in ``{0, 1, -1, 1/2, -1/2}``, uniform distributions (logits 0)."""
    from trustopt import smoothing

    dd = _size(draw, d, "d", 1, 3)
    kk = _size(draw, k, "k", 2, 3)
    if kk < 2:
        raise ValueError("k: need at least 2 support points")
    F = np.array(draw(st.lists(_round_real, min_size=kk**dd, max_size=kk**dd)), float).reshape((kk,) * dd)
    logit = st.one_of(st.just(0.0), st.floats(-3.0, 3.0, allow_nan=False))
    theta = np.array(draw(st.lists(logit, min_size=dd * kk, max_size=dd * kk)), float).reshape(dd, kk)
    model = smoothing.CategoricalProduct(F=F, d=dd)
    if not pair:
        return model, theta
    step = np.array(draw(st.lists(logit, min_size=dd * kk, max_size=dd * kk)), float).reshape(dd, kk)
    return model, theta, theta + step


@st.composite
def gaussian_products(draw, *, d=None, sigma=None, pair: bool = True):
    """TRES's Gaussian search distribution ``N(theta, sigma^2 I)`` over ``d`` dimensions with a
    quadratic objective ``F(x) = x'Hx/2 + g'x + c`` (exact smoothing): returns ``(model, theta)`` or
    ``(model, theta, thetat)`` with :class:`trustopt.smoothing.GaussianProduct`. ``sigma``: a float,
    a strategy, or None for ``{1, 0.1}`` or a float in ``[0.01, 3]``. Shrinks toward ``d = 1``,
    ``H = g = 0``, ``theta = 0``, ``sigma = 1``."""
    from trustopt import smoothing

    dd = _size(draw, d, "d", 1, 3)
    H = _matrix(draw, dd, dd)
    H = (H + H.T) / 2
    g = _matrix(draw, 1, dd)[0]
    c = draw(_round_real)
    if sigma is None:
        sig = draw(st.one_of(st.sampled_from([1.0, 0.1]), st.floats(0.01, 3.0)))
    else:
        sig = draw(sigma) if isinstance(sigma, st.SearchStrategy) else sigma
    model = smoothing.GaussianProduct(F=smoothing.Quadratic(H=H, g=g, c=c), sigma=float(sig))
    theta = _matrix(draw, 1, dd)[0]
    if not pair:
        return model, theta
    return model, theta, theta + _matrix(draw, 1, dd)[0]


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
