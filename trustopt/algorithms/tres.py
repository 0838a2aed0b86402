"""Trust Region Evolution Strategies (Liu et al. 2019, Alg. 1; surrogate eq. 25): its options and
its one factory.

Every entry point builds the method here: ``trustopt.run("tres", F, ...)``, ``trustopt.TRES`` /
``minimize(method="tres")`` and ``trustopt train --algo tres`` (``adapt=False``: the paper's
algorithm with a fixed ``sigma``).
"""

from __future__ import annotations

from dataclasses import dataclass

from trustopt._validation import check_choice, check_int, check_positive
from trustopt.algorithms._search import (RatioTestOptions, default_popsize, n_pairs, resolve_options, search_method,
                                         search_start)
from trustopt.components.es_steps import SHAPINGS, TRESStep
from trustopt.components.search import PerturbationSampler
from trustopt.noise import NoiseTable

__all__ = ["TRESOptions", "tres"]


@dataclass(frozen=True, kw_only=True)
class TRESOptions(RatioTestOptions):
    """Hyperparameters of TRES.

    Fields:
        adapt: True (default): black-box mode (``sigma`` and the step scaled by ``s_k`` of the
            ratio test); False: the paper's algorithm (fixed ``sigma``, every step accepted).
        lambda_: clip factor of the surrogate (TRES eq. 25: ratios clipped to
            ``[1/(1 + lambda_), 1 + lambda_]``), ``> 0``. Default 14.0 (TRES Fig. 3: best of [8, 20]).
        K: epochs of ascent on the surrogate per iteration, an integer ``>= 1``. Default 15
            (TRES Fig. 4). Measured on MuJoCo-v5 linear policies
            (``docs/mujoco-tres-experiments.md``): on Ant K = 15, 5, 3 and 2 learn to end the
            episodes early where K = 1 walks; on HalfCheetah K = 1 is far slower (2385 on 0 of
            5 seeds within 2e6 timesteps). ``trustopt train`` takes K from the policy's size
            (:func:`trustopt.train.config.tres_epochs`: 15 up to 102 parameters, 1 above).
        lr: per-epoch step ``lr * sigma^2 * grad L_CLIP`` (the paper's ``alpha = lr sigma^2``),
            ``> 0``. Default 1.0 (the paper states none: see
            :class:`~trustopt.components.es_steps.TRESStep`). ``trustopt train`` takes ``lr``
            with its ``sigma`` from the observation's size (:func:`trustopt.train.config.tres_lr`:
            ``lr sigma = 0.03`` times the action's half-range above 17 entries, 2.5 on Ant-v5).
        shaping: ``"centered_ranks"`` (default) or ``"none"``.
        beta0, beta1, gamma1, gamma2, gamma3, use_std: the ratio test (``adapt=True`` only).
    """

    adapt: bool = True
    lambda_: float = 14.0
    K: int = 15
    lr: float = 1.0
    shaping: str = "centered_ranks"

    def __post_init__(self):
        super().__post_init__()
        check_positive(self.lambda_, "lambda_")
        check_int(self.K, "K", 1)
        check_positive(self.lr, "lr")
        check_choice(self.shaping, "shaping", SHAPINGS)


def tres(problem=None, *, exact: bool = False, theta0=None, sigma0: float | None = None, popsize: int | None = None,
         noise: NoiseTable | None = None, options: TRESOptions | None = None, **hyperparameters):
    """TRES composed for the loop: antithetic noise-table samples, K epochs of ascent on the
    clipped surrogate (:class:`~trustopt.components.es_steps.TRESStep`). Arguments as
    :func:`trustopt.algorithms.es.es`; hyperparameters :class:`TRESOptions`."""
    o = resolve_options(TRESOptions, options, hyperparameters, "tres", factory=tres)
    theta0, sigma0 = search_start("tres", problem, exact, theta0, sigma0)
    sampler = PerturbationSampler(sigma0=sigma0, n_pairs=n_pairs(popsize, default_popsize(theta0.size, o.adapt)),
                                  noise=NoiseTable() if noise is None else noise)
    step = TRESStep(lambda_=o.lambda_, K=o.K, lr=o.lr, shaping=o.shaping, gain="raw" if o.adapt else "shaped")
    return search_method("tres", problem, o, theta0=theta0, sampler=sampler, step=step)
