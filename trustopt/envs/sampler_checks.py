"""The checks every MuJoCo sampler of :mod:`trustopt.envs` makes on construction.

A sampler names its environment (an :class:`~trustopt.envs.EnvSpec` or a Gymnasium id), whether
it normalizes observations and removes the survival bonus (booleans), and where its episodes run
(None: this process, or a :mod:`trustopt.workers` backend with ``map`` and ``n_workers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trustopt._validation import ValidationError
from trustopt.envs import EnvSpec, cached_env

__all__ = ["EnvDims", "check_env_sampler"]


@dataclass(frozen=True)
class EnvDims:
    """``spec`` (the EnvSpec), ``obs_dim``, ``act_dim`` and ``horizon`` (the time limit) of a sampler's environment."""

    spec: EnvSpec
    obs_dim: int
    act_dim: int
    horizon: int


def check_env_sampler(env, *, obs_norm, remove_survival_bonus, backend: Any) -> EnvDims:
    """Validate a sampler's ``env``, ``obs_norm``, ``remove_survival_bonus`` and ``backend``
    (a ValidationError naming the field otherwise); the environment's dimensions."""
    spec = EnvSpec(env_id=env) if isinstance(env, str) else env
    if not isinstance(spec, EnvSpec):
        raise ValidationError(f"env: expected an EnvSpec or a Gymnasium id, got {type(env).__name__}")
    for name, value in (("obs_norm", obs_norm), ("remove_survival_bonus", remove_survival_bonus)):
        if not isinstance(value, bool):
            raise ValidationError(f"{name}: expected True or False, got {value!r}")
    if backend is not None and not (hasattr(backend, "map") and hasattr(backend, "n_workers")):
        raise ValidationError(f"backend: expected None or a trustopt.workers backend (with map and n_workers), "
                              f"got {type(backend).__name__}")
    e = cached_env(spec)
    return EnvDims(spec=spec, obs_dim=int(e.obs_dim), act_dim=int(e.act_dim), horizon=int(e.max_episode_steps))
