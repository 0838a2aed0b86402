"""Training configuration for linear-policy MuJoCo experiments, with the papers' defaults.

:class:`TrainConfig` holds everything that determines the trained policy (two runs with equal
configs produce the same policy bit for bit, whatever ``workers`` or ``backend``).
:func:`resolve_config` fills the hyperparameters left as ``None`` from the tables below.

Sources of the defaults
-----------------------
* ARS (Mania, Guy & Recht 2018, "Simple random search provides a competitive approach to
  reinforcement learning", arXiv:1803.07055, Table 9, ARS V2-t): step size ``alpha`` (here
  ``lr``), noise ``nu`` (here ``sigma``), number of directions ``N`` (``n_directions``) and top
  directions ``b`` (``top_directions``) per task, in :data:`ARS_TABLE` (alpha, nu, N, b):
  Swimmer 0.02, 0.01, 1, 1; Hopper 0.01, 0.025, 8, 4; HalfCheetah 0.02, 0.03, 32, 4;
  Walker2d 0.03, 0.025, 40, 30; Ant 0.015, 0.025, 60, 20; Humanoid 0.02, 0.0075, 230, 230.
  The paper is not in ``shared/papers`` and its Table 9 could not be read directly; the rows
  were checked against restatements of it: the authors' repository (modestyachts/ARS: the
  Humanoid run parameters ``trained_policies/Humanoid-v1/*/params.json`` = 0.02, 0.0075, 230,
  230; issue #2, a user following Table 9: Swimmer N = b = 1, Walker2d N = 40, b = 30),
  rl-baselines3-zoo ``hyperparams/ars.yml`` ("params closest to original paper"; all six rows
  as above except Humanoid, where the zoo uses N = b = 256) and a research fork's run script
  with the authors' ``ars.py`` (all six rows as above).
* TRES and ES: the papers' algorithms as composed in :mod:`trustopt.algorithms` (``adapt=False``),
  whose options classes hold every default and its source -- TRES (Liu et al. 2019):
  :class:`~trustopt.algorithms.tres.TRESOptions` (clip ``lambda_ = 14``, ``K = 15`` epochs, step
  ``lr * sigma^2`` with ``lr = 1``); ES (Salimans et al. 2017, OpenAI's starter code):
  :class:`~trustopt.algorithms.es.ESOptions` (Adam, step 0.01, L2 0.005) -- and the paper mode's
  population :data:`~trustopt.algorithms.PAPER_POPSIZE` (``N = 16`` antithetic pairs on
  every task: measured, see there). Linear policies initialized at zero, antithetic sampling,
  survival-bonus removal, centered ranks and state normalization (TRES sec. "Experimental
  Settings"). ES: ``sigma`` by :func:`tres_sigma`'s rule on OpenAI's 0.02 (its ES starter
  code's MuJoCo configs), never below it (:func:`es_sigma`: 0.12 on InvertedPendulum, 0.02 from
  HalfCheetah's 17 entries on; measured, see there). TRES: ``sigma`` by one rule on the
  observation's size and the action's range, :func:`tres_sigma` (as much perturbation of each
  action, relative to its range, as 0.03, :data:`TRES_SIGMA`, on HalfCheetah's 17 entries: 0.19
  on InvertedPendulum, 0.044 on Swimmer, 0.012 on Ant; the paper builds on OpenAI's code and
  states none; measured, see there) with, above 17 entries, the step of 0.03 kept by ``lr``,
  :func:`tres_lr` (2.5 on Ant; measured, see there), and the epochs ``K`` by one rule on the
  policy's size, :func:`tres_epochs` (the paper's 15 up to HalfCheetah's 102 parameters, 1
  above; measured, see there; ``K = 15`` for the paper's algorithm everywhere). No per-task entry: one configuration for every task, unlike ARS, whose
  per-task table above is part of that paper's method.

Policy-gradient family (linear Gaussian policy ``N(W z + b, diag(exp(2 log_std)))`` on the
normalized observation ``z``, initialized at ``W = 0, b = 0, log_std = init_log_std`` (0; -0.5
for NPG, -0.25 for TRPO and VPG); whole episodes sampled by :class:`trustopt.envs.pg_sampler.MujocoEpisodeSampler`),
:data:`PG_DEFAULTS`:

* NPG with linear policies (Rajeswaran, Lowrey, Todorov & Kakade 2017, "Towards generalization and
  simplicity in continuous control", NG-lin in the ARS paper's Table 1): their step and batch, from
  the authors' mjrl code (``examples/example_configs/hopper_npg.txt``, ``algos/npg_cg.py``):
  normalized step 0.05 (mjrl's ``normalized_step_size``, twice the KL: ``delta = 0.025``), batches of
  ``batch_steps = 10000`` steps on every task, CG damping ``1e-4`` and 10 iterations, GAE
  ``lambda_ = 0.97``; measured here (:data:`NPG_MEASURED`): ``gamma = 0.9999`` (their 0.995 leaves
  Swimmer at a return of about 40) and ``init_log_std = -0.5`` (0 flips HalfCheetah onto its back).
  Not for every task: on InvertedDoublePendulum these settings reach 9104 on 0 of 10 seeds within
  2M timesteps, where TRPO's defaults reach it on 10 of 10 (README).
* TRPO: max KL ``delta = 0.01`` (TRPO paper, App. E Table 2), CG iterations 10 (TRPO App. C), CG
  damping 0.1 (rllab's / modular_rl's ``cg_damping``; the paper states none), GAE ``lambda_ =
  0.97`` (GAE paper's locomotion setting; slides "GAE(0.99, 0.97)"); measured here, one setting for
  every task (:data:`TRPO_SAMPLING`): ``gamma = 0.999``, ``batch_steps = 5000`` (rllab's batch for the
  inverted pendulums, Duan et al. 2016, on every task) and ``init_log_std = -0.25``. TRPO's own
  gamma 0.99 leaves Swimmer at a return of about 40 (0 of 10 seeds); NPG's linear-policy settings
  fail InvertedDoublePendulum (1 of 10). The vine (below) keeps TRPO App. E's ``gamma = 0.99`` and
  ``init_log_std = 0``.
* VPG: TRPO's sampling (:data:`TRPO_SAMPLING`, so that the two differ only in the step), ``lr =
  1.0`` with the KL cap ``delta = 0.01`` (the library's VPG factory); measured (README): Swimmer 10 of 10,
  InvertedDoublePendulum 10 of 10, HalfCheetah 3 of 4.
* PPO (Schulman et al. 2017, Table 3, MuJoCo): horizon 2048 steps (``batch_steps``), Adam step
  size ``lr = 3e-4``, ``K = 10`` epochs, minibatch 64 (``minibatch_size``), clip ``epsilon = 0.2``,
  ``gamma = 0.99``, GAE ``lambda_ = 0.95``.
* TREFree (TREFree sec. 5: ``delta = 0.01``, the PPO implementation's other settings): as PPO.
* STRO (STRO sec. 5.1: ``N = 2048`` samples per iteration, ``mu0 = 0.05``, ``gamma1..3 = 2, 0.8,
  0.6``, ``mu in [0.01, 0.1]``, 4 rejections; the factory's defaults) with PPO's ``gamma``/``lambda_``.
* TRPO vine (``vine = true``; TRPO sec. 5.2, :class:`trustopt.envs.vine_sampler.MujocoVineSampler`):
  ``n_trunk_episodes``, ``n_rollout_states``, ``n_actions_per_state``, ``rollout_horizon`` default to
  the sampler's (TRPO App. E Table 2, vine column: 16 trunk rollouts, 4 rollouts per state of
  length 100, 500 Q-values per batch); ``batch_steps`` and ``lambda_`` do not apply.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass

import numpy as np

from trustopt._validation import (ValidationError, as_count, check_choice, check_int, check_positive, check_real,
                                  did_you_mean)
from trustopt.algorithms import PAPER_POPSIZE
from trustopt.algorithms.es import ESOptions
from trustopt.algorithms.tres import TRESOptions
from trustopt.components.es_steps import OPTIMIZERS

__all__ = ["TrainConfig", "IdleSettingWarning", "resolve_config", "ES_ALGOS", "PG_ALGOS", "ARS_TABLE", "ES_SIGMA",
           "TRES_SIGMA", "tres_sigma", "es_sigma", "tres_lr", "tres_epochs", "PG_DEFAULTS", "config_from_dict"]

#: Algorithms ``trustopt train`` runs (the ES family: parameter-space perturbations).
ES_ALGOS = ("tres", "es", "ars")
#: Policy-gradient algorithms (linear Gaussian policies; :mod:`trustopt.train.trainer`'s second family).
PG_ALGOS = ("vpg", "npg", "trpo", "ppo", "trefree", "stro")
#: Options of TRPO's vine sampler (``vine = true``) with their smallest values.
VINE_FIELDS = {"n_trunk_episodes": 2, "n_rollout_states": 1, "n_actions_per_state": 2, "rollout_horizon": 1}
#: The hyperparameters each algorithm reads (:mod:`trustopt.train.trainer`: ``_ESFamily`` and
#: :func:`~trustopt.train.trainer.make_method`); one it does not read is an error, not ignored
#: (named as the other family's when no algorithm of its own family reads it).
_PG_SAMPLING = {"gamma", "init_log_std", "batch_steps", "lambda_"}
USED_FIELDS: dict[str, frozenset] = {
    "tres": frozenset({"n_directions", "sigma", "lr", "lambda_", "K"}),
    "es": frozenset({"n_directions", "sigma", "lr", "l2", "optimizer"}),
    "ars": frozenset({"n_directions", "sigma", "lr", "top_directions"}),
    "trpo": frozenset(_PG_SAMPLING | {"delta", "cg_iters", "cg_damping", *VINE_FIELDS}),
    "npg": frozenset(_PG_SAMPLING | {"delta", "cg_iters", "cg_damping"}),
    "vpg": frozenset(_PG_SAMPLING | {"lr", "delta"}),
    "ppo": frozenset(_PG_SAMPLING | {"K", "minibatch_size", "lr", "epsilon"}),
    "trefree": frozenset(_PG_SAMPLING | {"K", "minibatch_size", "lr", "delta"}),
    "stro": frozenset(_PG_SAMPLING),
}
HYPERPARAMETERS = frozenset().union(*USED_FIELDS.values())
#: The names other tools give these hyperparameters, ``name -> (ours, whose)``, for the error on an
#: unknown key: Stable-Baselines3's PPO (``n_steps`` is per environment, one environment here),
#: sb3-contrib's TRPO (``target_kl`` is its KL bound, our ``delta``; OpenAI Baselines' ``max_kl``)
#: and ARS, and the ARS authors' code (``deltas_used`` is its b). Names without a counterpart here
#: are in :data:`NO_COUNTERPART`.
OTHER_NAMES: dict[str, tuple[str, str]] = {
    "learning_rate": ("lr", "Stable-Baselines3's"),
    "n_steps": ("batch_steps", "Stable-Baselines3's"),
    "batch_size": ("minibatch_size", "Stable-Baselines3's PPO"),
    "n_epochs": ("K", "Stable-Baselines3's PPO"),
    "gae_lambda": ("lambda_", "Stable-Baselines3's"),
    "clip_range": ("epsilon", "Stable-Baselines3's PPO"),
    "cg_max_steps": ("cg_iters", "sb3-contrib's TRPO"),
    "target_kl": ("delta", "sb3-contrib's TRPO (its KL bound)"),
    "max_kl": ("delta", "OpenAI Baselines' TRPO (its KL bound)"),
    "n_delta": ("n_directions", "sb3-contrib's ARS"),
    "n_top": ("top_directions", "sb3-contrib's ARS"),
    "delta_std": ("sigma", "ARS's"),
    "deltas_used": ("top_directions", "the ARS code's"),
    "step_size": ("lr", "the ARS code's"),
    "rollout_length": ("max_episode_steps", "the ARS code's"),
}


#: Stable-Baselines3's PPO settings that have no counterpart here, and why.
NO_COUNTERPART: dict[str, str] = {
    "ent_coef": "Stable-Baselines3's entropy bonus; none here: exploration is the Gaussian policy's log std, "
                "learned from init_log_std",
    "vf_coef": "Stable-Baselines3's value-loss weight; none here: the value baseline is a separate linear "
               "least-squares fit on the previous batch",
}


def other_name_hint(key: str, algo: str | None = None) -> str:
    """`` (Stable-Baselines3's PPO name; here: epsilon)`` for a key that another tool uses, else
    ``""``; with ``algo``, a counterpart ``algo`` does not use is said so (PPO has no KL bound)."""
    if key in NO_COUNTERPART:  # the reasons are about the policy-gradient family's Gaussian policy
        return f" (a Stable-Baselines3 PPO setting; {algo} has none like it)" if algo in ES_ALGOS else (
            f" ({NO_COUNTERPART[key]})")
    if key not in OTHER_NAMES:
        return ""
    ours, whose = OTHER_NAMES[key]
    if algo in USED_FIELDS and ours in HYPERPARAMETERS and ours not in USED_FIELDS[algo]:
        return f" ({whose} name; here: {ours}, which {algo} does not use)"
    return f" ({whose} name; here: {ours})"


def settable_keys(algo: str) -> list[str]:
    """The keys ``--set`` takes for ``algo``: its hyperparameters and the settings of every run
    of its family (the noise table: ES; the vine sampler: TRPO)."""
    keys = set(USED_FIELDS[algo]) | {"obs_norm", "remove_survival_bonus", "max_episode_steps"}
    keys |= {"noise_table_size"} if algo in ES_ALGOS else set()
    keys |= {"vine"} if algo == "trpo" else set()
    return sorted(keys)
#: NPG's discount and initial log standard deviation, measured on MuJoCo-v5 with NG-lin's step and
#: batch (``benchmarks/bench_thresholds.py``; docs/policy-gradient-linear.md).
#: Swimmer's 325 (10 seeds): gamma 0.995 / 0.9999 at log_std 0: 3 / 8 of 10 seeds; at 0.9999 with
#: log_std -0.5 / -1: 8 / 3. HalfCheetah's 3430: log_std 0: 5 of 10 (gamma 0.995; three others run
#: on their backs), 3 of 6 (0.9999; upright, slow); log_std -1: 10 of 10 (0.995, median 1.0e6), 6 of 6
#: (0.9999); log_std -0.5 with gamma 0.9999 (the default): 10 of 10 (median 1.5e6). Hopper: docs/policy-gradient-linear.md.
NPG_MEASURED = dict(gamma=0.9999, init_log_std=-0.5)
#: TRPO's sampling (VPG's too), measured on MuJoCo-v5 (``benchmarks/bench_thresholds.py``, 10 seeds each,
#: ``benchmarks/results/thresholds_trpo/``; docs/policy-gradient-linear.md):
#: Swimmer's 325 / HalfCheetah's 3430 / InvertedDoublePendulum's 9104 on 10 / 9 / 10 of 10 seeds with
#: log std -0.25; -0.5: 9 / 7 / 8 (HalfCheetah faster: median 1.8M against 3.1M timesteps); 0: 10 / 7 / 9
#: (HalfCheetah 5.4M). gamma 0.99 (TRPO App. E): Swimmer 0 of 10.
TRPO_SAMPLING = dict(gamma=0.999, lambda_=0.97, batch_steps=5000, init_log_std=-0.25)
#: TRPO's step (TRPO App. C and E; CG damping: rllab's), with either sampling.
TRPO_STEP = dict(delta=0.01, cg_iters=10, cg_damping=0.1)
#: The vine's sampling as TRPO App. E ran it (Table 2: gamma 0.99), initial std 1; its trunk and
#: branches are the sampler's options (:data:`VINE_FIELDS`), not ``batch_steps`` or GAE's ``lambda_``.
TRPO_VINE_SAMPLING = dict(gamma=0.99, init_log_std=0.0)
#: Defaults of the policy-gradient family (module docstring for the sources).
PG_DEFAULTS: dict[str, dict] = {
    "trpo": dict(**TRPO_STEP, **TRPO_SAMPLING),
    "npg": dict(lambda_=0.97, delta=0.025, cg_iters=10, cg_damping=1e-4, batch_steps=10000, **NPG_MEASURED),
    "vpg": dict(delta=0.01, lr=1.0, **TRPO_SAMPLING),
    "ppo": dict(batch_steps=2048, gamma=0.99, lambda_=0.95, epsilon=0.2, K=10, minibatch_size=64, lr=3e-4),
    "trefree": dict(batch_steps=2048, gamma=0.99, lambda_=0.95, delta=0.01, K=10, minibatch_size=64, lr=3e-4),
    "stro": dict(batch_steps=2048, gamma=0.99, lambda_=0.95),
}

#: Mania et al. 2018, Table 9 (ARS V2-t, the -v1 tasks): env -> (alpha, nu, N, b); how the rows
#: were checked: module docstring.
ARS_TABLE: dict[str, tuple[float, float, int, int]] = {
    "Swimmer-v5": (0.02, 0.01, 1, 1),
    "Hopper-v5": (0.01, 0.025, 8, 4),
    "HalfCheetah-v5": (0.02, 0.03, 32, 4),
    "Walker2d-v5": (0.03, 0.025, 40, 30),
    "Ant-v5": (0.015, 0.025, 60, 20),
    "Humanoid-v5": (0.02, 0.0075, 230, 230),
}
#: Fallback for tasks ARS did not tune (InvertedPendulum, InvertedDoublePendulum, others).
ARS_FALLBACK = (0.02, 0.02, 8, 8)

#: The most antithetic pairs per iteration ``trustopt train`` accepts: an iteration runs ``2 N``
#: episodes and holds their returns and noise keys in memory, so a mistyped ``N`` (``1e9``) would
#: exhaust the machine's memory before its first episode; 10^6 pairs is far beyond any published
#: setting (ARS's largest, Humanoid: 230; Mania et al. 2018, Table 9).
MAX_DIRECTIONS = 10**6

#: The perturbation standard deviation of ES at :data:`TRES_SIGMA_OBS_DIM` observation entries and
#: actions in [-1, 1] (OpenAI's ES starter code, its MuJoCo configs; :func:`es_sigma` scales it to
#: the others).
ES_SIGMA = 0.02

#: The perturbation standard deviation of TRES at :data:`TRES_SIGMA_OBS_DIM` observation entries
#: and actions in [-1, 1] (:func:`tres_sigma` scales it to the others). Measured against 0.02
#: (OpenAI's value, the earlier default) with ``benchmarks/bench_thresholds.py`` on MuJoCo-v5 (10
#: seeds, 5 on Walker2d; README "Timesteps to the papers' thresholds"): HalfCheetah's 2385 on 10 /
#: 8 of 10 seeds in a median 6.9e5 / 1.8e6 timesteps (the paper: 9.8e5) and 3430 on 7 / 2;
#: Walker2d's 2872 on 1 / 0 of 5. 0.05 on Walker2d: 2872 on 0 of 5 (two seeds learn to fall within
#: 10 steps, an environment return of 1-2; ``benchmarks/results/thresholds_tres/``).
TRES_SIGMA = 0.03

#: The observation size at which TRES takes :data:`TRES_SIGMA` (:func:`tres_sigma`):
#: HalfCheetah-v5's and Walker2d-v5's 17 entries, where 0.03 was measured.
TRES_SIGMA_OBS_DIM = 17


def tres_sigma(obs_dim: int, action_scale: float = 1.0) -> float:
    """TRES's perturbation ``sigma`` in ``trustopt train`` for a linear policy of ``obs_dim``
    normalized observation entries and actions of half-range ``action_scale`` (the mean of
    ``(high - low) / 2`` over the action's entries; 1 for actions in [-1, 1]): the ``sigma`` that
    perturbs each action, relative to its range, as much as 0.03 does on HalfCheetah's 17 entries
    in [-1, 1], to two significant digits: ``action_scale 0.03 sqrt(17 / obs_dim)``
    (InvertedPendulum-v5, 4 entries in [-3, 3]: 0.19; Swimmer-v5, 8: 0.044; the double pendulum,
    9: 0.041; Hopper-v5, 11: 0.037; HalfCheetah and Walker2d, 17: 0.03; Ant-v5, 105: 0.012;
    Humanoid-v5, 348 in [-0.4, 0.4]: 0.0027).

    Why: a perturbation ``sigma E`` of ``W`` moves action ``i`` by ``sigma E_i . z``, a normal of
    standard deviation ``sigma |z|``, and ``|z|`` is about ``sqrt(obs_dim)`` for a unit-variance
    normalized observation ``z``; so at a fixed ``sigma`` the perturbations of the actions grow
    with the observation (``0.03 sqrt(105) = 0.31`` on Ant against 0.12 on HalfCheetah) and shrink
    against a wider action range (0.06 on InvertedPendulum's range of 6). Measured with
    ``benchmarks/bench_thresholds.py`` (README "Timesteps to the papers' thresholds",
    ``docs/mujoco-tres-experiments.md``; 10 seeds unless stated):

    - InvertedPendulum-v5 (1000 within 2e5 timesteps): 0.03 reaches it on 1 of 10 seeds (the
      pole falls after 30-125 steps: perturbations of 1% of the range barely change an episode),
      the rule's 0.19 on 8 of 10 in a median 1.3e4 timesteps; 0.15 and 0.3: 8 and 9 of 10.
    - Swimmer-v5: 0.044 reaches 128 on 10 of 10 seeds in a median 1.6e5 timesteps and 325 on 10
      in 4.2e5, against 0.03's 9 in 2.4e5 and 8 in 5.1e5.
    - Hopper-v5: 0.037 reaches 3120 on 7 of 10 in a median 1.0e6, 0.03 on 7 in 2.1e6 (0.02: 9 in
      1.1e6).
    - InvertedDoublePendulum-v5: 0.041 reaches 9104 in a median 1.1e5 timesteps, as 0.03 (30
      seeds); 0.06: 8.1e4, 0.1: 2.2e5.
    - Ant-v5 (``benchmarks/episode_ends.py``): at 0.03 the policies the training samples move
      less and spend more on control than the mean policy (2.7M timesteps: forward reward 0.13
      against 0.58 per step, control cost 0.26 against 0.07), their steps are worth less than
      nothing once the survival bonus is removed, and the training learns to end episodes early:
      the evaluations dip on every seed between 2.5M and 3.5M timesteps (to 190-640 from
      1200-1300). At 0.012 (seeds 0-2) the sampled policies' training return is positive from
      0.3-0.5M timesteps on and the evaluations rise without a dip: ahead of 0.03 up to about 1e7
      timesteps, behind after it (shorter steps climb more slowly; :func:`tres_lr` keeps the step).
    - Humanoid-v5 (seeds 1 and 2, 3M timesteps, ``lr = 4.5``): 0.0066 (the rule before the
      action's range entered it) 666 and 714; 0.0026 673 and 579 (ahead at every evaluation on
      seed 1, behind from 1M on seed 2): two seeds do not settle it (0.03 with ``lr = 1``: 576 and
      546)."""
    return _scaled_sigma(TRES_SIGMA, obs_dim, action_scale)


def es_sigma(obs_dim: int, action_scale: float = 1.0) -> float:
    """ES's perturbation ``sigma`` in ``trustopt train``: :func:`tres_sigma`'s rule on OpenAI's
    0.02 (:data:`ES_SIGMA`) instead of 0.03, ``action_scale 0.02 sqrt(17 / obs_dim)`` to two
    significant digits, and never below 0.02 (InvertedPendulum-v5 0.12, Swimmer-v5 0.029,
    InvertedDoublePendulum-v5 0.027, Hopper-v5 0.025; HalfCheetah, Walker2d, Ant and Humanoid 0.02,
    OpenAI's): the same perturbation of each action, relative to its range, as 0.02 on HalfCheetah,
    or more.

    Why the floor: ES's step is Adam's, about ``lr`` = 0.01 per coordinate whatever ``sigma`` is,
    so a ``sigma`` below 0.02 makes each step longer than the perturbations that estimated it
    (TRES's step shrinks with its ``sigma`` and :func:`tres_lr` restores it; ES's does not shrink).

    Measured with ``benchmarks/bench_thresholds.py`` against 0.02 (README "Timesteps to the papers'
    thresholds", ``docs/mujoco-tres-experiments.md`` "ES's sigma by the same rule"; raw runs
    ``benchmarks/results/thresholds_*-v5_es_sigma*.json``, 10 seeds unless stated):

    - InvertedPendulum-v5 (1000 within 2e5 timesteps): 0.02 on 0 of 10 seeds, 0.12 on 11 of 20
      (median 1.7e5 timesteps); the range alone (0.06) on 1 of 10, 0.13 on 8 and 0.19 on 9 of 10.
    - Swimmer-v5: 0.029 reaches 128 on 9 of 10 seeds (median 5.9e5 timesteps), 0.02 on 5.
    - InvertedDoublePendulum-v5 and Hopper-v5: level (9104 in a median 2.1e5 against 1.7e5
      timesteps, sooner on 4 of 10 paired seeds; 3120 on 5 of 10 each).
    - Humanoid-v5 (the rule without the floor: 0.0018; seeds 1 and 2, 3M timesteps): final
      evaluations 72 and 58 against 427 and 367 at 0.02: the episodes end within about 15 steps.
    - Ant-v5 (the rule without the floor: 0.008; seeds 0 and 1, 3M timesteps): at 0.008 and at
      0.02 alike the evaluations fall below 0 from 0.5M timesteps on, the episodes ended early
      (finals -46 and -22 against -12 and -16): ES does not walk on Ant at either."""
    return max(_scaled_sigma(ES_SIGMA, obs_dim, action_scale), ES_SIGMA)


def _scaled_sigma(sigma_17: float, obs_dim: int, action_scale: float) -> float:
    """``action_scale sigma_17 sqrt(17 / obs_dim)`` to two significant digits: the ``sigma`` that
    perturbs each action, relative to its range, as much as ``sigma_17`` on 17 entries in [-1, 1]
    (:func:`tres_sigma`, :func:`es_sigma`)."""
    n = check_int(obs_dim, "obs_dim", 1)
    h = check_positive(action_scale, "action_scale")
    return float(f"{h * sigma_17 * math.sqrt(TRES_SIGMA_OBS_DIM / n):.2g}")


def tres_lr(obs_dim: int) -> float:
    """TRES's ``lr`` in ``trustopt train`` when ``sigma`` is also the default: 1 up to
    :data:`TRES_SIGMA_OBS_DIM` = 17 observation entries; above, ``TRES_SIGMA / tres_sigma(obs_dim)``
    (for actions in [-1, 1]) to two significant digits (Ant-v5 2.5, Humanoid-v5 4.5), so that the
    step is as long, relative to the action's range, as with ``sigma = 0.03`` at 17 entries. (Below
    17 entries the larger ``sigma`` of :func:`tres_sigma` comes with its own, longer step: ``lr = 1``
    is what was measured there.)

    Why: TRES's step is ``lr sigma^2 grad L_CLIP`` per epoch (TRES Alg. 1 with ``alpha = lr
    sigma^2``), and at ``theta_k``, where every ratio is 1, ``sigma^2 grad L_CLIP = sigma
    mean_n V_n eps_n``: with ``K = 1`` (every policy above 102 parameters, :func:`tres_epochs`) the
    step is ``lr sigma`` times the rank-weighted mean of the directions. :func:`tres_sigma` makes
    ``sigma`` smaller on the larger observations to keep the sampled policies' actions close to the
    mean's; with ``lr = 1`` it also shortened each step by the same factor, and the step length is
    what limits the climb once the policy walks (``docs/mujoco-tres-experiments.md``).
    ``sigma`` sets how far the samples go, ``lr`` how far the mean goes: ARS's ``nu`` and ``alpha``.
    Measured with ``benchmarks/bench_thresholds.py`` (``docs/mujoco-tres-experiments.md``,
    "The step apart from sigma"; raw runs in ``benchmarks/results/thresholds_tres/``): on Ant-v5
    (sigma = 0.012) lr = 2.5 is ahead of lr = 1 and of sigma = 0.03 at every evaluation from 0.5M
    timesteps on but one (seeds 1 and 2), and reaches 3000 on 3 of 5 seeds by 1.3e7 timesteps
    (median 1.2e7; the TRES paper: 1.3e7). On Humanoid-v5 (sigma = 0.0066, 3M timesteps) lr = 4.5
    is ahead of lr = 1 up to 2M and level at 3M. Longer steps, not kept: lr = 4 on Ant reaches 3000
    sooner but 3580 on none of 3 seeds and ends no higher, its evaluations swinging more; lr = 9.7
    on Humanoid is behind 4.5 at every evaluation."""
    n = check_int(obs_dim, "obs_dim", 1)
    return 1.0 if n <= TRES_SIGMA_OBS_DIM else float(f"{TRES_SIGMA / tres_sigma(n):.2g}")


#: Up to this many parameters TRES takes the paper's epochs (:class:`TRESOptions`' ``K = 15``;
#: :func:`tres_epochs`), one epoch above: HalfCheetah-v5's and Walker2d-v5's linear policy (TRES
#: Fig. 4's task), the largest measured to work with 15 (16 antithetic pairs).
TRES_FULL_EPOCHS_UP_TO = 102


def tres_epochs(d: int) -> int:
    """TRES's epochs per batch in ``trustopt train`` for a policy of ``d`` parameters: the paper's
    ``K = 15`` up to :data:`TRES_FULL_EPOCHS_UP_TO` = 102 parameters (every task measured here
    but the Ant and Humanoid ones: Swimmer 16, Hopper 33, HalfCheetah and Walker2d 102 parameters,
    the inverted pendulums 4 and 9), ``K = 1`` above it.

    Measured with ``benchmarks/bench_thresholds.py`` (``docs/mujoco-tres-experiments.md``),
    on every policy above 102 parameters tried, only K = 1 keeps its episodes from ending early:
    Ant-v5 (840 parameters, sigma = 0.03) K = 1 stays upright and moves forward on 3 of 3 seeds
    (evaluations 1277, 1232 and 1327 at 2M timesteps; 2150, 2288 and 2231 at 1e7, where ARS with
    its table has 1803 on one seed; none reaches 3000), while K = 2, 3, 5 and 15 end their episodes
    early within 1-2M (one seed each; 15 on two); Ant without its contact forces (216 parameters)
    K = 1 stays upright where K = 7 and 15 end early (one seed each); Humanoid-v5 (5,916) K = 1 rises on
    3 of 3 seeds (528-576 at 3M timesteps) where 15 ends at 53-470. K = 1 is no rule for every
    task: on HalfCheetah it leaves 5 of 5 seeds at 551-1002 after 2M where 15 reaches 2385 on 10
    of 10. Up to 102 parameters no other K does better on every task: K = 5 reaches Walker2d's
    2872 on 2 of 10 seeds (15: 1 of 10) but is slower on HalfCheetah (2385 on 3 of 5 against 5 of
    5), InvertedDoublePendulum (9104 in a median 1.8e5 against 1.1e5 timesteps, 30 seeds) and
    Hopper (3120 on 6 against 7 of 10); K = 10 is level with 15. Why (an explanation, not a
    measurement): each step of 15 epochs is about ``0.75 sigma sqrt(d)`` long on every task and
    the steps add up as a random walk, which on the larger policies saturates the actions before
    the gradient adds up, and with Ant's control cost saturated actions make ending the episode
    pay. A step at 102 is a threshold between measured sizes (no size between 102 and 216 was
    run); the rule does not change with ``n_directions``."""
    return TRESOptions.K if check_int(d, "d", 1) <= TRES_FULL_EPOCHS_UP_TO else 1


class IdleSettingWarning(UserWarning):
    """A setting that is valid but cannot act within the run's budget (``restart_after`` at or past
    ``timesteps``): the run goes on without it (:func:`trustopt.train.train` warns when it starts or
    resumes such a run)."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything that determines a training run's result.

    Fields (``None``: resolved from the tables of this module by :func:`resolve_config`):
    ``env_id`` (a Gymnasium id), ``algo`` (``tres``, ``es``, ``ars``; or the policy-gradient
    family ``trpo npg vpg ppo trefree stro``), ``timesteps`` (training
    env steps budget: iterations start while fewer have been used), ``seed`` (>= 0);
    ``n_directions`` N (antithetic pairs per iteration: 2N rollouts), ``sigma`` (perturbation
    standard deviation, ARS's nu), ``lr`` (TRES: per-epoch ``lr * sigma^2``, by default
    :func:`tres_lr` with the default ``sigma`` and 1 with a ``sigma`` given; ES: Adam step
    size; ARS: alpha), ``lambda_`` and ``K`` (TRES eq. 25 clip and epochs), ``top_directions``
    (ARS b), ``l2`` (ES weight decay), ``optimizer`` (ES: ``adam``/``sgd``); ``obs_norm``
    (state normalization, ARS V2), ``remove_survival_bonus``, ``max_episode_steps`` (None:
    the env's limit); ``eval_every`` (iterations between evaluations; 0: none),
    ``eval_steps`` (when set, replaces ``eval_every``: evaluate after the first iteration at or past
    each multiple of ``eval_steps`` training timesteps, the same grain for methods whose
    iterations differ in size; with either, the last iteration of the budget is evaluated too),
    ``eval_episodes``, ``target`` (stop once an evaluation's mean return reaches it),
    ``restart_below`` and ``restart_after`` (restarts, off by default: a start -- the policy and
    the observation statistics from zero, the optimizer afresh -- none of whose evaluations up to
    its first one ``restart_after`` training timesteps in reaches ``restart_below`` is replaced by a new
    start with its own random stream, as often as the budget allows; the timesteps of every start
    count against ``timesteps``; ``trustopt.train.trainer``), ``noise_table_size`` (entries of
    the shared noise table, seed 123); ``env_kwargs`` (keyword arguments of ``gymnasium.make``,
    e.g. ``{"ctrl_cost_weight": 0.0}``, each checked against the environment's constructor) and
    ``env_module`` (a module imported first, registering custom environments; the zoo's
    ``--gym-packages``).

    Policy-gradient family: ``lambda_`` is GAE's lambda in [0, 1], ``lr`` the step size (PPO,
    TREFree: Adam; VPG: gradient step), ``K`` the epochs (PPO, TREFree); only they take
    ``batch_steps`` (minimum env steps per batch, whole episodes), ``gamma`` (advantage
    discount), ``delta`` (TRPO/NPG/VPG max mean KL; TREFree's margin), ``cg_iters``,
    ``cg_damping`` (TRPO, NPG), ``epsilon`` (PPO clip), ``minibatch_size`` (PPO, TREFree:
    ``batch_steps // minibatch_size`` minibatches, at least one: a ``minibatch_size`` of
    ``batch_steps`` or more is the whole batch), ``init_log_std`` (initial log standard
    deviation; default 0, NPG -0.5, TRPO and VPG -0.25). The ES-only fields (``n_directions``,
    ``sigma``, ``top_directions``, ``l2``, ``optimizer``) are errors for them, and vice versa.

    TRPO's vine sampling (TRPO sec. 5.2): ``vine`` True (None, the default, or False: single path;
    None so that configurations saved before the field existed resume unchanged), with
    ``n_trunk_episodes`` (>= 2), ``n_rollout_states`` (>= 1), ``n_actions_per_state`` (>= 2) and
    ``rollout_horizon`` (>= 1), which are errors without it; ``batch_steps`` and ``lambda_`` are
    errors with it (the trunk is ``n_trunk_episodes`` whole episodes; no GAE).
    """

    env_id: str
    algo: str = "tres"
    timesteps: int = 1_000_000
    seed: int = 0
    n_directions: int | None = None
    sigma: float | None = None
    lr: float | None = None
    lambda_: float | None = None
    K: int | None = None
    top_directions: int | None = None
    l2: float | None = None
    optimizer: str | None = None
    obs_norm: bool = True
    remove_survival_bonus: bool = True
    max_episode_steps: int | None = None
    eval_every: int = 10
    eval_steps: int | None = None
    eval_episodes: int = 10
    target: float | None = None
    restart_below: float | None = None
    restart_after: int | None = None
    noise_table_size: int = 2**23
    batch_steps: int | None = None
    gamma: float | None = None
    delta: float | None = None
    cg_iters: int | None = None
    cg_damping: float | None = None
    epsilon: float | None = None
    minibatch_size: int | None = None
    init_log_std: float | None = None
    vine: bool | None = None
    n_trunk_episodes: int | None = None
    n_rollout_states: int | None = None
    n_actions_per_state: int | None = None
    rollout_horizon: int | None = None
    env_kwargs: dict | None = None
    env_module: str | None = None

    def __post_init__(self):
        from trustopt.envs._registry import check_env_id, check_env_kwargs, import_env_module

        for f in dataclasses.fields(self):  # a NumPy number as the Python number it holds (config.json is JSON)
            if isinstance(getattr(self, f.name), np.generic):
                object.__setattr__(self, f.name, getattr(self, f.name).item())
        import_env_module(self.env_module)
        check_env_id(self.env_id)
        if self.env_kwargs is not None:
            object.__setattr__(self, "env_kwargs", check_env_kwargs(self.env_id, self.env_kwargs) or None)
        if self.algo not in ES_ALGOS + PG_ALGOS:
            raise ValidationError(f"algo: unknown {self.algo!r}; choose one of {', '.join(ES_ALGOS + PG_ALGOS)}")
        pg = self.algo in PG_ALGOS
        family = frozenset().union(*(USED_FIELDS[a] for a in (PG_ALGOS if pg else ES_ALGOS)))
        unused = sorted((n in family, n) for n in HYPERPARAMETERS - USED_FIELDS[self.algo]
                        if getattr(self, n) is not None)  # the other family's first
        if unused:
            in_family, name = unused[0]
            if not in_family:
                other = "the ES family (tres, es, ars)" if pg else "the policy-gradient family"
                raise ValidationError(f"{name}: a hyperparameter of {other}, not of {self.algo!r}")
            users = [a for a in ES_ALGOS + PG_ALGOS if name in USED_FIELDS[a]]
            raise ValidationError(f"{name}: {self.algo!r} does not use it (a hyperparameter of "
                                  f"{', '.join(users)}); {self.algo}'s own: {', '.join(sorted(USED_FIELDS[self.algo]))}")
        if pg:
            self._check_pg_numbers()
        self._check_vine()
        self._check_common()

    def _check_pg_numbers(self) -> None:
        """The policy-gradient family's counts and numbers (those that are set)."""
        for name in ("batch_steps", "cg_iters", "minibatch_size"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, 1)
        bounds = dict(gamma=dict(lo=0, hi=1), lambda_=dict(lo=0, hi=1), delta=dict(positive=True),
                      epsilon=dict(positive=True), cg_damping=dict(lo=0), init_log_std={})
        for name, bound in bounds.items():
            if getattr(self, name) is not None:
                check_real(getattr(self, name), name, **bound)

    def _check_vine(self) -> None:
        """``vine`` (TRPO only) and the options of the vine sampler (only with ``vine``)."""
        if self.vine is not None and not isinstance(self.vine, bool):
            raise ValidationError(f"vine: expected true or false, got {self.vine!r}")
        if self.vine and self.algo != "trpo":
            raise ValidationError(f"vine: TRPO's vine sampling (TRPO sec. 5.2); algo {self.algo!r} has none")
        for name, minimum in VINE_FIELDS.items():
            if getattr(self, name) is not None:
                if not self.vine:
                    raise ValidationError(f"{name}: an option of TRPO's vine sampling; set vine=true")
                check_int(getattr(self, name), name, minimum)
        if self.vine:
            for name in ("batch_steps", "lambda_"):
                if getattr(self, name) is not None:
                    raise ValidationError(f"{name}: not an option of TRPO's vine sampling (its trunk is "
                                          "n_trunk_episodes whole episodes; Q-values from branch rollouts)")

    def _check_common(self) -> None:
        """The budget, seeds, evaluation and the ES family's numbers (those that are set)."""
        check_int(self.timesteps, "timesteps", 1)
        check_int(self.seed, "seed", 0)
        check_int(self.eval_every, "eval_every", 0)
        if self.eval_steps is not None:
            check_int(self.eval_steps, "eval_steps", 1)
        check_int(self.eval_episodes, "eval_episodes", 1)
        check_int(self.noise_table_size, "noise_table_size", 1)
        for name in ("n_directions", "K", "top_directions", "max_episode_steps"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, 1, maximum=MAX_DIRECTIONS if name == "n_directions" else None)
        for name in ("sigma", "lr", "lambda_"):
            if getattr(self, name) is not None:
                check_real(getattr(self, name), name, positive=True)
        if self.l2 is not None:
            check_real(self.l2, "l2", lo=0)
        if self.optimizer is not None:
            check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        if (self.top_directions is not None and self.n_directions is not None
                and self.top_directions > self.n_directions):
            raise ValidationError(
                f"top_directions: must be <= n_directions = {self.n_directions}, got {self.top_directions}"
            )
        if self.target is not None:
            check_real(self.target, "target")
        if self.target is not None and self.eval_every == 0 and self.eval_steps is None:
            raise ValidationError("target: a run stops at its target after an evaluation, and eval_every = 0 "
                                  "disables them; give --eval-every K or --eval-steps T")
        self._check_restarts()
        for name in ("obs_norm", "remove_survival_bonus"):
            if not isinstance(getattr(self, name), bool):
                raise ValidationError(f"{name}: expected true or false, got {getattr(self, name)!r}")

    def _check_restarts(self) -> None:
        """``restart_below`` and ``restart_after``: both or neither, on a run that evaluates."""
        below, after = self.restart_below, self.restart_after
        if below is None and after is None:
            return
        if below is None or after is None:
            given, missing = ("restart_below", "restart_after") if after is None else ("restart_after", "restart_below")
            raise ValidationError(f"{given}: needs {missing} too (a start is restarted when none of its "
                                  "evaluations up to its first one restart_after timesteps in reaches restart_below)")
        check_real(below, "restart_below")
        check_int(after, "restart_after", 1)
        if self.eval_every == 0 and self.eval_steps is None:
            raise ValidationError("restart_below: restarts are judged on evaluations, and eval_every = 0 disables "
                                  "them; give --eval-every K or --eval-steps T")

    def evaluates(self, iteration: int, timesteps_before: int, timesteps: int) -> bool:
        """Whether the run evaluates its policy after ``iteration`` (counted from 1), which took the
        training timesteps from ``timesteps_before`` to ``timesteps``, on the grain of ``eval_every``
        or ``eval_steps`` (the trainer also evaluates the iteration that spends the budget, without
        testing ``target`` there: :meth:`evaluates_last`)."""
        if self.eval_steps is not None:
            return timesteps // self.eval_steps > timesteps_before // self.eval_steps
        return bool(self.eval_every) and iteration % self.eval_every == 0

    def evaluates_last(self, timesteps: int) -> bool:
        """Whether an iteration that ends at ``timesteps`` is evaluated as the budget's last (when the
        run evaluates at all): the policy a run saves last is the one its summary and curve end with.
        Its evaluation does not test ``target``, so that a larger budget continues the run as if it
        had been the budget from the start."""
        return timesteps >= self.timesteps and (self.eval_steps is not None or bool(self.eval_every))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def env_spec(self):
        """The :class:`~trustopt.envs.EnvSpec` the run trains on."""
        from trustopt.envs import EnvSpec

        return EnvSpec(env_id=self.env_id, kwargs=dict(self.env_kwargs or {}),
                       max_episode_steps=self.max_episode_steps, module=self.env_module)


def config_from_dict(d: dict) -> TrainConfig:
    """A :class:`TrainConfig` from a dict (e.g. a ``--config`` JSON file); unknown keys are errors."""
    if not isinstance(d, dict):
        raise ValidationError(f"config: expected a JSON object, got {type(d).__name__}")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(d) - fields)
    if unknown:
        hint = other_name_hint(unknown[0]) or did_you_mean(unknown[0], fields)
        raise ValidationError(f"config: unknown key(s) {', '.join(unknown)}{hint}; known: {', '.join(sorted(fields))}")
    if "env_id" not in d:
        raise ValidationError("config: env_id is required")
    # a count written 1e6 (JSON reads it as a float), as --timesteps 1e6 and minimize's maxfev=1e4 take it
    counts = {k for k, t in typing.get_type_hints(TrainConfig).items() if t is int or int in typing.get_args(t)}
    d = {k: as_count(v) if k in counts else v for k, v in d.items()}
    return TrainConfig(**d)


def _policy_space(config: TrainConfig) -> tuple[int, int, float]:
    """``(obs_dim, act_dim, action_scale)`` of the run's linear policy (builds the environment):
    ``action_scale`` the mean of the actions' finite half-ranges ``(high - low) / 2`` (1 without
    one; every MuJoCo task's actions share one range)."""
    from trustopt.envs import cached_env

    env = cached_env(config.env_spec())
    half = (env.action_high - env.action_low) / 2.0
    half = half[np.isfinite(half) & (half > 0)]
    return env.obs_dim, env.act_dim, float(np.mean(half)) if half.size else 1.0


def resolve_config(config: TrainConfig) -> TrainConfig:
    """``config`` with every ``None`` hyperparameter replaced by the default of its algorithm
    and task (see the module docstring for the sources)."""
    alpha, nu, N, b = ARS_TABLE.get(config.env_id, ARS_FALLBACK)
    c = config
    if c.algo in PG_ALGOS and c.vine:
        from trustopt.envs.vine_sampler import MujocoVineSampler

        defaults = {f.name: f.default for f in dataclasses.fields(MujocoVineSampler)}
        fill = dict(**TRPO_STEP, **TRPO_VINE_SAMPLING, **{name: defaults[name] for name in VINE_FIELDS})
    elif c.algo in PG_ALGOS:
        fill = {"init_log_std": 0.0, **PG_DEFAULTS[c.algo]}
    elif c.algo == "ars":
        n = c.n_directions or N
        fill = dict(n_directions=n, sigma=nu, lr=alpha, top_directions=min(b, n))
    elif c.algo == "tres":
        o = TRESOptions(adapt=False)
        fill = dict(n_directions=PAPER_POPSIZE // 2, lr=o.lr, lambda_=o.lambda_)
        if c.K is None or c.sigma is None:
            obs_dim, act_dim, action_scale = _policy_space(c)
            fill.update(K=tres_epochs(obs_dim * act_dim), sigma=tres_sigma(obs_dim, action_scale))
            if c.sigma is None:  # the default sigma comes with its step (a sigma given keeps lr = 1)
                fill.update(lr=tres_lr(obs_dim))
    else:  # es
        o = ESOptions(adapt=False)
        fill = dict(n_directions=PAPER_POPSIZE // 2, lr=o.value("lr"), l2=o.value("l2"), optimizer=o.value("optimizer"))
        if c.sigma is None:
            obs_dim, _, action_scale = _policy_space(c)
            fill.update(sigma=es_sigma(obs_dim, action_scale))
    updates = {k: v for k, v in fill.items() if getattr(c, k) is None}
    return dataclasses.replace(c, **updates)
