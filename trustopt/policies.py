"""Parameterized policies with analytic scores, KL divergences and Fisher-vector products.

Policies are stateless, frozen descriptions: the parameter ``theta`` is always passed in
(first argument of every method) and never stored; no random generator is held
(``rng: np.random.Generator`` is passed to ``sample``). No autodiff: every derivative is
written out and checked against finite differences in the tests.

* :class:`TabularSoftmax` -- ``pi(a|s) = exp(theta[s, a]) / sum_b exp(theta[s, b])``,
  ``theta`` of shape ``(S, A)``.
* :class:`LinearGaussian` -- ``pi(.|s) = N(W s + b, diag(exp(log_std))**2)`` with a
  state-independent ``log_std``; ``theta`` is a flat vector ``[vec(W), b, log_std]``.

KL divergences are ``KL(pi_old(.|s) || pi_new(.|s))`` (old first, as TRPO eq. 11-12 and
the slides' ``Dbar_KL(theta_k || theta)``). The Fisher matrix is the Hessian of the mean
KL in its second argument at ``theta_new = theta_old`` (slides "NPG"; TRPO App. C.1).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

import numpy as np

from trustopt._validation import ValidationError, as_float_array, check_int
from trustopt.tabular import softmax_policy

__all__ = ["TabularSoftmax", "LinearGaussian"]

_LOG_2PI = float(np.log(2.0 * np.pi))


# ============================================================================= tabular


@dataclass(frozen=True)
class TabularSoftmax:
    """Tabular softmax policy ``pi_theta(a|s) = exp(theta[s,a]) / sum_b exp(theta[s,b])``.

    ``theta`` has shape ``(S, A)`` (``n_params = S * A``); gradients and Fisher-vector
    products are returned in that same shape. Score (slides "Score Function Estimator")::

        d log pi(a|s) / d theta[s', b] = 1[s' = s] (1[b = a] - pi(b|s))

    Attributes:
        n_states: ``S >= 1``; n_actions: ``A >= 1``.
    """

    n_states: int
    n_actions: int

    def __post_init__(self):
        check_int(self.n_states, "n_states", 1)
        check_int(self.n_actions, "n_actions", 1)

    @property
    def n_params(self) -> int:
        return self.n_states * self.n_actions

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of ``theta``: ``(S, A)``."""
        return (self.n_states, self.n_actions)

    def init_theta(self) -> np.ndarray:
        """Zeros ``(S, A)``: the uniform policy."""
        return np.zeros(self.shape)

    def _theta(self, theta, name="theta") -> np.ndarray:
        theta = as_float_array(theta, name)
        if theta.shape != self.shape:
            if theta.shape == (self.n_params,):
                return theta.reshape(self.shape)
            raise ValidationError(f"{name}: shape {theta.shape}, expected {self.shape} (or ({self.n_params},))")
        return theta

    def _states(self, s) -> np.ndarray:
        s = np.asarray(s)
        if not np.issubdtype(s.dtype, np.integer) or np.any(s < 0) or np.any(s >= self.n_states):
            raise ValidationError(f"states: must be integers in [0, {self.n_states})")
        return s

    def _actions(self, a) -> np.ndarray:
        a = np.asarray(a)
        if not np.issubdtype(a.dtype, np.integer) or np.any(a < 0) or np.any(a >= self.n_actions):
            raise ValidationError(f"actions: must be integers in [0, {self.n_actions})")
        return a

    def probs(self, theta) -> np.ndarray:
        """``pi[s, a]``, shape ``(S, A)`` (max-shifted softmax, rows sum to 1;
        :func:`trustopt.tabular.softmax_policy`)."""
        return softmax_policy(self._theta(theta))

    def log_probs(self, theta) -> np.ndarray:
        """``log pi[s, a]``, shape ``(S, A)`` (log-sum-exp, stable)."""
        theta = self._theta(theta)
        m = theta.max(axis=-1, keepdims=True)
        return theta - m - np.log(np.exp(theta - m).sum(axis=-1, keepdims=True))

    def log_prob(self, theta, states, actions) -> np.ndarray:
        """``log pi(a_i|s_i)`` for integer arrays ``states``, ``actions`` of equal shape."""
        s, a = self._states(states), self._actions(actions)
        if s.shape != a.shape:
            raise ValidationError(f"actions: shape {a.shape} differs from states' {s.shape}")
        return self.log_probs(theta)[s, a]

    def grad_log_prob(self, theta, states, actions) -> np.ndarray:
        """Scores ``d log pi(a_i|s_i) / d theta``, shape ``(N, S, A)`` for ``N`` pairs (1-D inputs)."""
        s, a = self._states(states), self._actions(actions)
        if s.ndim != 1 or s.shape != a.shape:
            raise ValidationError(f"states, actions: expected equal 1-D shapes, got {s.shape} and {a.shape}")
        pi = self.probs(theta)
        N = s.shape[0]
        g = np.zeros((N, self.n_states, self.n_actions))
        rows = np.arange(N)
        g[rows, s, :] = -pi[s]
        g[rows, s, a] += 1.0
        return g

    def score_vector_product(self, theta, states, actions, c) -> np.ndarray:
        """``sum_i c_i d log pi(a_i|s_i) / d theta`` = ``sum_i c_i (e_{s_i a_i} - e_{s_i} pi(.|s_i)')``,
        shape ``(S, A)``, without forming the ``(N, S, A)`` scores (1-D ``states``, ``actions``, ``c``)."""
        s, a = self._states(states), self._actions(actions)
        c = as_float_array(c, "c", ndim=1)
        if s.ndim != 1 or s.shape != a.shape or c.shape != s.shape:
            raise ValidationError(f"states, actions, c: expected equal 1-D shapes, got {s.shape}, {a.shape}, {c.shape}")
        out = np.zeros(self.shape)
        np.add.at(out, (s, a), c)
        out -= np.bincount(s, weights=c, minlength=self.n_states)[:, None] * self.probs(theta)
        return out

    def sample(self, theta, states, rng: np.random.Generator) -> np.ndarray:
        """``a_i ~ pi(.|s_i)`` by inverse CDF with one uniform draw per state; int64, shape of ``states``."""
        s = self._states(states)
        cdf = np.cumsum(self.probs(theta)[s], axis=-1)
        u = rng.random(s.shape)[..., None]
        a = (u >= cdf).sum(axis=-1)
        return np.minimum(a, self.n_actions - 1).astype(np.int64)

    def kl(self, theta_old, theta_new) -> np.ndarray:
        """``KL(pi_old(.|s) || pi_new(.|s)) = sum_a pi_old (log pi_old - log pi_new)``, shape ``(S,)``."""
        lo, ln = self.log_probs(theta_old), self.log_probs(self._theta(theta_new, "theta_new"))
        return np.sum(np.exp(lo) * (lo - ln), axis=-1)

    def entropy(self, theta) -> np.ndarray:
        """``H(pi(.|s)) = -sum_a pi log pi``, shape ``(S,)``."""
        lp = self.log_probs(theta)
        return -np.sum(np.exp(lp) * lp, axis=-1)

    def _weights(self, state_weights) -> np.ndarray:
        w = as_float_array(state_weights, "state_weights", ndim=1)
        if w.shape != (self.n_states,):
            raise ValidationError(f"state_weights: shape {w.shape}, expected ({self.n_states},)")
        if np.any(w < 0.0):
            raise ValidationError("state_weights: must be >= 0")
        return w

    def fisher_vector_product(self, theta, v, state_weights, *, damping: float = 0.0) -> np.ndarray:
        """``F v + damping v`` with the state-weighted Fisher matrix (slides "NPG"; TRPO App. C.1).

        ``F = sum_s w(s) E_{a~pi(.|s)}[score score'] = sum_s w(s) Hess_{theta'} KL_s(theta || theta')``
        at ``theta' = theta``; per state the block is ``diag(pi_s) - pi_s pi_s'``, so::

            (F v)[s, a] = w(s) pi(a|s) (v[s, a] - sum_b pi(b|s) v[s, b])

        Args:
            theta, v: shape ``(S, A)`` (or flat ``(S*A,)``; the result has ``v``'s shape).
            state_weights: ``w(s) >= 0``, shape ``(S,)``: e.g. the unnormalized visitation
                ``rho_pi`` (TRPO's ``sum_s rho(s) KL_s``) or the normalized ``dbar_pi``
                for a mean KL; the caller chooses and says which.
            damping: ``>= 0`` added times ``v`` (Tikhonov damping for CG).
        """
        pi = self.probs(theta)
        vv = as_float_array(v, "v")
        v2 = self._theta(vv, "v")
        w = self._weights(state_weights)
        Fv = w[:, None] * pi * (v2 - np.sum(pi * v2, axis=-1, keepdims=True))
        if damping:
            Fv = Fv + float(damping) * v2
        return Fv.reshape(vv.shape)

    def fisher_matrix(self, theta, state_weights) -> np.ndarray:
        """Dense ``F``, shape ``(S*A, S*A)`` (row-major flattening of ``(S, A)``); small problems only."""
        pi = self.probs(theta)
        w = self._weights(state_weights)
        S, A = self.shape
        F = np.zeros((S, A, S, A))
        for s in range(S):
            F[s, :, s, :] = w[s] * (np.diag(pi[s]) - np.outer(pi[s], pi[s]))
        return F.reshape(S * A, S * A)


# ============================================================================= linear Gaussian


@dataclass(frozen=True)
class LinearGaussian:
    """Linear Gaussian policy ``pi_theta(.|s) = N(mu(s), diag(sigma**2))``, ``mu(s) = W s + b``,
    ``sigma = exp(log_std)`` independent of the state.

    ``theta`` is the flat vector ``[W.ravel() (act_dim*obs_dim, row-major), b (act_dim),
    log_std (act_dim)]`` of length ``n_params = act_dim * (obs_dim + 2)``; use
    :meth:`pack`, :meth:`unpack` and :attr:`slices`. With ``z = (a - mu(s)) / sigma`` the
    score is (differentiating ``log pi = -1/2 sum z**2 - sum log_std - k/2 log 2 pi``)::

        d log pi / d mu = z / sigma ;  d/dW = (z / sigma) s' ;  d/db = z / sigma
        d log pi / d log_std = z**2 - 1

    Attributes:
        obs_dim: dimension of ``s`` (``>= 1``); act_dim: dimension of ``a`` (``>= 1``).
        init_log_std: ``log_std`` of :meth:`init_theta` (scalar or ``(act_dim,)``).
    """

    obs_dim: int
    act_dim: int
    _: KW_ONLY
    init_log_std: float | tuple = 0.0

    def __post_init__(self):
        check_int(self.obs_dim, "obs_dim", 1)
        check_int(self.act_dim, "act_dim", 1)
        ls = as_float_array(self.init_log_std, "init_log_std", ndim=(0, 1))
        if ls.ndim == 1:
            if ls.shape != (self.act_dim,):
                raise ValidationError(f"init_log_std: shape {ls.shape}, expected () or ({self.act_dim},)")
            object.__setattr__(self, "init_log_std", tuple(float(x) for x in ls))
        else:
            object.__setattr__(self, "init_log_std", float(ls))

    # ---------------------------------------------------------------- parameter layout
    @property
    def n_params(self) -> int:
        return self.act_dim * self.obs_dim + 2 * self.act_dim

    @property
    def slices(self) -> dict[str, slice]:
        """Slices of ``theta`` for ``"W"``, ``"b"``, ``"log_std"`` and ``"mean"`` (``W`` and ``b``)."""
        nW = self.act_dim * self.obs_dim
        k = self.act_dim
        return {
            "W": slice(0, nW),
            "b": slice(nW, nW + k),
            "log_std": slice(nW + k, nW + 2 * k),
            "mean": slice(0, nW + k),
        }

    def pack(self, W, b, log_std) -> np.ndarray:
        """``theta = [W.ravel(), b, log_std]`` from ``W (act_dim, obs_dim)``, ``b (act_dim,)``, ``log_std (act_dim,)``."""
        W = as_float_array(W, "W", ndim=2)
        if W.shape != (self.act_dim, self.obs_dim):
            raise ValidationError(f"W: shape {W.shape}, expected {(self.act_dim, self.obs_dim)}")
        b = np.broadcast_to(as_float_array(b, "b", ndim=(0, 1)), (self.act_dim,))
        ls = np.broadcast_to(as_float_array(log_std, "log_std", ndim=(0, 1)), (self.act_dim,))
        return np.concatenate([W.ravel(), b, ls])

    def unpack(self, theta) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(W (act_dim, obs_dim), b (act_dim,), log_std (act_dim,))`` from a validated ``theta``."""
        theta = self._theta(theta)
        sl = self.slices
        return (
            theta[sl["W"]].reshape(self.act_dim, self.obs_dim),
            theta[sl["b"]],
            theta[sl["log_std"]],
        )

    def init_theta(self, W=None, b=None) -> np.ndarray:
        """``theta`` with ``W`` (default 0), ``b`` (default 0) and ``log_std = init_log_std``."""
        W = np.zeros((self.act_dim, self.obs_dim)) if W is None else W
        b = np.zeros(self.act_dim) if b is None else b
        return self.pack(W, b, np.asarray(self.init_log_std, dtype=np.float64))

    def _theta(self, theta, name="theta") -> np.ndarray:
        theta = as_float_array(theta, name, ndim=1)
        if theta.shape != (self.n_params,):
            raise ValidationError(f"{name}: shape {theta.shape}, expected ({self.n_params},)")
        return theta

    def _obs(self, obs, *, batch: bool = False) -> np.ndarray:
        obs = as_float_array(obs, "obs")
        if obs.ndim == 0 or obs.shape[-1] != self.obs_dim or (batch and obs.ndim != 2):
            want = "(N, obs_dim)" if batch else "(..., obs_dim)"
            raise ValidationError(f"obs: shape {obs.shape}, expected {want} with obs_dim={self.obs_dim}")
        return obs

    def _act(self, act, lead) -> np.ndarray:
        act = as_float_array(act, "act")
        if act.shape != lead + (self.act_dim,):
            raise ValidationError(f"act: shape {act.shape}, expected {lead + (self.act_dim,)}")
        return act

    # ---------------------------------------------------------------- distribution
    def mean(self, theta, obs) -> np.ndarray:
        """``mu(s) = W s + b``: ``obs (..., obs_dim) -> (..., act_dim)``."""
        W, b, _ = self.unpack(theta)
        return self._obs(obs) @ W.T + b

    def std(self, theta) -> np.ndarray:
        """``sigma = exp(log_std)``, shape ``(act_dim,)``."""
        return np.exp(self.unpack(theta)[2])

    def log_prob(self, theta, obs, act) -> np.ndarray:
        """``log pi(a|s) = -1/2 sum_j z_j**2 - sum_j log_std_j - act_dim/2 log(2 pi)``, ``z = (a - mu) / sigma``.

        ``obs (..., obs_dim)``, ``act (..., act_dim)`` -> ``(...)``.
        """
        W, b, ls = self.unpack(theta)
        obs = self._obs(obs)
        act = self._act(act, obs.shape[:-1])
        z = (act - (obs @ W.T + b)) * np.exp(-ls)
        return -0.5 * np.sum(z**2, axis=-1) - np.sum(ls) - 0.5 * self.act_dim * _LOG_2PI

    def grad_log_prob(self, theta, obs, act) -> np.ndarray:
        """Scores ``d log pi(a_i|s_i) / d theta`` for a batch: ``obs (N, obs_dim)``, ``act (N, act_dim)``
        -> ``(N, n_params)`` in :attr:`slices` layout (formulas in the class docstring)."""
        W, b, ls = self.unpack(theta)
        obs = self._obs(obs, batch=True)
        act = self._act(act, obs.shape[:1])
        inv_sigma = np.exp(-ls)
        z = (act - (obs @ W.T + b)) * inv_sigma
        g_mu = z * inv_sigma  # (N, k)
        N = obs.shape[0]
        gW = (g_mu[:, :, None] * obs[:, None, :]).reshape(N, -1)
        return np.concatenate([gW, g_mu, z**2 - 1.0], axis=1)

    def score_vector_product(self, theta, obs, act, c) -> np.ndarray:
        """``sum_i c_i d log pi(a_i|s_i) / d theta`` without forming the ``(N, n_params)`` scores:
        ``[ (c z / sigma)' S ,  sum_i c_i z_i / sigma ,  sum_i c_i (z_i**2 - 1) ]`` with ``S = obs``.

        ``obs (N, obs_dim)``, ``act (N, act_dim)``, ``c (N,)`` -> ``(n_params,)``. This is the
        policy-gradient estimate ``sum_i c_i grad log pi`` with ``c_i = adv_i / N`` (slides "VPG")."""
        W, b, ls = self.unpack(theta)
        obs = self._obs(obs, batch=True)
        act = self._act(act, obs.shape[:1])
        c = as_float_array(c, "c", ndim=1)
        if c.shape != (obs.shape[0],):
            raise ValidationError(f"c: shape {c.shape}, expected ({obs.shape[0]},)")
        inv_sigma = np.exp(-ls)
        z = (act - (obs @ W.T + b)) * inv_sigma
        cg = c[:, None] * z * inv_sigma  # (N, k)
        return np.concatenate([(cg.T @ obs).ravel(), cg.sum(axis=0), c @ (z**2 - 1.0)])

    def sample(self, theta, obs, rng: np.random.Generator) -> np.ndarray:
        """``a = mu(s) + sigma * xi``, ``xi ~ N(0, I)`` from ``rng``: ``obs (..., obs_dim) -> (..., act_dim)``."""
        mu = self.mean(theta, obs)
        return mu + self.std(theta) * rng.standard_normal(mu.shape)

    def entropy(self, theta) -> float:
        """``H = sum_j log_std_j + act_dim/2 (1 + log 2 pi)`` (state-independent)."""
        return float(np.sum(self.unpack(theta)[2]) + 0.5 * self.act_dim * (1.0 + _LOG_2PI))

    # ---------------------------------------------------------------- divergences, Fisher
    def kl(self, theta_old, theta_new, obs) -> np.ndarray:
        """Per-state ``KL(pi_old(.|s) || pi_new(.|s))`` of diagonal Gaussians (closed form)::

            sum_j [ log(sigma_new_j / sigma_old_j)
                    + (sigma_old_j**2 + (mu_old_j - mu_new_j)**2) / (2 sigma_new_j**2) - 1/2 ]

        ``obs (..., obs_dim) -> (...)``.
        """
        W0, b0, ls0 = self.unpack(theta_old)
        W1, b1, ls1 = self.unpack(self._theta(theta_new, "theta_new"))
        obs = self._obs(obs)
        dmu = obs @ (W0 - W1).T + (b0 - b1)
        var_ratio = np.exp(2.0 * (ls0 - ls1))
        per_dim = (ls1 - ls0) + 0.5 * (var_ratio + dmu**2 * np.exp(-2.0 * ls1)) - 0.5
        return np.sum(per_dim, axis=-1)

    def _pair_weights(self, weights, N: int) -> np.ndarray:
        if weights is None:
            return np.full(N, 1.0 / N)
        w = as_float_array(weights, "weights", ndim=1)
        if w.shape != (N,):
            raise ValidationError(f"weights: shape {w.shape}, expected ({N},) (one per state in obs)")
        if np.any(w < 0.0):
            raise ValidationError("weights: must be >= 0")
        return w

    def mean_kl(self, theta_old, theta_new, obs, *, weights=None) -> float:
        """``Dbar_KL(theta_old || theta_new) = sum_i w_i KL(pi_old(.|s_i) || pi_new(.|s_i))`` over
        ``obs (N, obs_dim)``; by default ``w_i = 1/N``, the sample average of TRPO eq. 12 / sec. 5.
        ``weights (N,) >= 0`` are used as given (not renormalized)."""
        obs = self._obs(obs, batch=True)
        w = self._pair_weights(weights, obs.shape[0])
        return float(w @ self.kl(theta_old, theta_new, obs))

    def fisher_vector_product(self, theta, obs, v, *, weights=None, damping: float = 0.0) -> np.ndarray:
        """``F v + damping v``, ``F = sum_i w_i J_i' M J_i`` (``w_i = 1/N`` by default) = Hessian of :meth:`mean_kl` in
        ``theta_new`` at ``theta_new = theta_old = theta`` (TRPO App. C.1, eq. 56-57).

        ``J_i = d(mu(s_i), log_std) / d theta`` is the Jacobian of the distribution
        parameters; for a diagonal Gaussian ``M = kl''`` is diagonal: ``1 / sigma_j**2`` on
        ``mu_j`` and ``2`` on ``log_std_j``. With ``dmu_i = dW s_i + db`` (``v`` split as
        ``(dW, db, dlog_std)``)::

            F v = [ sum_i w_i (dmu_i / sigma**2) s_i' ,  sum_i w_i dmu_i / sigma**2 ,  (sum_i w_i) 2 dlog_std ]

        Args:
            theta: ``(n_params,)``; obs: ``(N, obs_dim)``; v: ``(n_params,)``.
            weights: ``(N,) >= 0`` state weights (as in :meth:`mean_kl`), default ``1/N``.
            damping: ``>= 0``, adds ``damping * v``.
        Returns:
            ``(n_params,)``.
        """
        _, _, ls = self.unpack(theta)
        obs = self._obs(obs, batch=True)
        v = as_float_array(v, "v", ndim=1)
        if v.shape != (self.n_params,):
            raise ValidationError(f"v: shape {v.shape}, expected ({self.n_params},)")
        dW, db, dls = self.unpack(v)
        w = self._pair_weights(weights, obs.shape[0])
        inv_var = np.exp(-2.0 * ls)
        dmu = (obs @ dW.T + db) * inv_var * w[:, None]  # w_i M J_i v on the mean block, (N, k)
        FW = dmu.T @ obs
        Fb = dmu.sum(axis=0)
        Fls = 2.0 * w.sum() * dls
        out = np.concatenate([FW.ravel(), Fb, Fls])
        if damping:
            out = out + float(damping) * v
        return out

    def fisher_matrix(self, theta, obs, *, weights=None) -> np.ndarray:
        """Dense ``F = sum_i w_i J_i' M J_i`` (``w_i = 1/N`` by default), shape ``(n_params, n_params)``;
        small problems only."""
        _, _, ls = self.unpack(theta)
        obs = self._obs(obs, batch=True)
        k, d = self.act_dim, self.obs_dim
        N = obs.shape[0]
        w = self._pair_weights(weights, N)
        inv_var = np.exp(-2.0 * ls)
        x = np.hstack([obs, np.ones((N, 1))])  # features of (W row j, b_j)
        XtX = (x.T * w) @ x  # (d+1, d+1)
        F = np.zeros((self.n_params, self.n_params))
        sl = self.slices
        iW, ib = sl["W"].start, sl["b"].start
        for j in range(k):
            idx = np.concatenate([iW + j * d + np.arange(d), [ib + j]])
            F[np.ix_(idx, idx)] = inv_var[j] * XtX
        ils = np.arange(sl["log_std"].start, sl["log_std"].stop)
        F[ils, ils] = 2.0 * w.sum()
        return F
