"""Flat-parameter views of :mod:`trustopt.policies` implementing the loop's ``Policy`` protocol.

The loop works with one flat vector ``theta (d,)`` and with per-pair weights (see
:class:`trustopt.core.types.Batch`). These adapters translate to the policies' own
layouts; they add no new mathematics except the pair-weighted Fisher-vector product (per-state aggregation of the pair weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trustopt import tabular
from trustopt.policies import LinearGaussian, TabularSoftmax

__all__ = ["FlatTabularSoftmax", "FlatLinearGaussian"]


@dataclass(frozen=True)
class FlatTabularSoftmax:
    """:class:`trustopt.policies.TabularSoftmax` with ``theta`` flattened to ``(S*A,)`` (row-major).

    States and actions are integer arrays ``(N,)``.
    """

    base: TabularSoftmax

    @property
    def n_params(self) -> int:
        return self.base.n_params

    @property
    def n_states(self) -> int:
        return self.base.n_states

    @property
    def n_actions(self) -> int:
        return self.base.n_actions

    def probs(self, theta) -> np.ndarray:
        """``pi[s, a]``, ``(S, A)``."""
        return self.base.probs(np.reshape(theta, self.base.shape))

    def log_prob(self, theta, states, actions) -> np.ndarray:
        return self.base.log_probs(np.reshape(theta, self.base.shape))[states, actions]

    def grad_log_prob(self, theta, states, actions) -> np.ndarray:
        """Scores ``(N, S*A)``."""
        g = self.base.grad_log_prob(np.reshape(theta, self.base.shape), states, actions)
        return g.reshape(g.shape[0], -1)

    def score_vector_product(self, theta, states, actions, c) -> np.ndarray:
        """``sum_i c_i grad_theta log pi(a_i|s_i)``, ``(S*A,)`` (the policy's own contraction)."""
        return self.base.score_vector_product(np.reshape(theta, self.base.shape), states, actions, c).ravel()

    def kl(self, theta_old, theta, states) -> np.ndarray:
        """``KL(pi_old(.|s_i) || pi_theta(.|s_i))``, ``(N,)``."""
        return self.base.kl(np.reshape(theta_old, self.base.shape), np.reshape(theta, self.base.shape))[states]

    def tv(self, theta_old, theta, states) -> np.ndarray:
        """``TV_s = 1/2 sum_a |pi_old(a|s) - pi(a|s)|`` (STRO eq. 3.6) at ``s_i``, ``(N,)``:
        :func:`trustopt.tabular.tv` of the two ``(S, A)`` tables, read at ``states``."""
        return tabular.tv(self.probs(theta_old), self.probs(theta))[states]

    def entropy(self, theta, states) -> np.ndarray:
        return self.base.entropy(np.reshape(theta, self.base.shape))[states]

    def fisher_vector_product(self, theta, states, weights, v) -> np.ndarray:
        """``sum_i w_i Hess KL_{s_i} v``: the per-pair weights aggregated per state."""
        sw = np.bincount(states, weights=weights, minlength=self.base.n_states)
        return self.base.fisher_vector_product(np.reshape(theta, self.base.shape), np.reshape(v, self.base.shape), sw).ravel()

    def sample(self, theta, states, rng) -> np.ndarray:
        return self.base.sample(np.reshape(theta, self.base.shape), states, rng)


@dataclass(frozen=True)
class FlatLinearGaussian:
    """:class:`trustopt.policies.LinearGaussian` (already flat) in the loop's protocol.

    States ``(N, obs_dim)``, actions ``(N, act_dim)``. The Fisher-vector product is the
    policy's pair-weighted ``sum_i w_i J_i' M J_i v`` (TRPO App. C.1).
    """

    base: LinearGaussian

    @property
    def n_params(self) -> int:
        return self.base.n_params

    @property
    def mean_index(self) -> np.ndarray:
        """Indices of the mean parameters ``theta^mu = (W, b)`` (STRO eq. 4.11)."""
        sl = self.base.slices["mean"]
        return np.arange(sl.start, sl.stop)

    @property
    def log_std_index(self) -> np.ndarray:
        """Indices of the log-standard deviations ``theta^sigma`` (STRO eq. 4.12)."""
        sl = self.base.slices["log_std"]
        return np.arange(sl.start, sl.stop)

    def log_prob(self, theta, states, actions) -> np.ndarray:
        return self.base.log_prob(theta, states, actions)

    def grad_log_prob(self, theta, states, actions) -> np.ndarray:
        return self.base.grad_log_prob(theta, states, actions)

    def score_vector_product(self, theta, states, actions, c) -> np.ndarray:
        return self.base.score_vector_product(theta, states, actions, c)

    def kl(self, theta_old, theta, states) -> np.ndarray:
        return self.base.kl(theta_old, theta, states)

    def entropy(self, theta, states) -> np.ndarray:
        return np.full(np.shape(states)[0], self.base.entropy(theta))

    def fisher_vector_product(self, theta, states, weights, v) -> np.ndarray:
        """``sum_i w_i Hess KL_{s_i} v`` (``weights (N,)`` used as given; the loop passes normalized ones)."""
        return self.base.fisher_vector_product(theta, states, v, weights=weights)

    def sample(self, theta, states, rng) -> np.ndarray:
        return self.base.sample(theta, states, rng)
