"""The fallback: any Gymnasium environment with a Box action space, through its own ``step``."""

from __future__ import annotations

import numpy as np

from trustopt._validation import ValidationError
from trustopt.envs._base import RolloutEnv
from trustopt.envs._registry import SURVIVAL_BONUS_FAMILIES, family


class GymnasiumEnv(RolloutEnv):
    """Wraps ``gymnasium.make(env_id, max_episode_steps=..., **kwargs)``; same interface as the fast path.

    The survival bonus of a step is the ``info["reward_survive"]`` Gymnasium reports (0 when absent).
    """

    fast = False

    def __init__(self, env_id: str, kwargs: dict, gym_env, max_episode_steps: int):
        from gymnasium import spaces

        if not isinstance(gym_env.action_space, spaces.Box) or len(gym_env.action_space.shape) != 1:
            raise ValidationError(
                f"env_id: {env_id!r} has action space {gym_env.action_space}; linear policies need a 1-D Box"
            )
        if not isinstance(gym_env.observation_space, spaces.Box) or len(gym_env.observation_space.shape) != 1:
            raise ValidationError(
                f"env_id: {env_id!r} has observation space {gym_env.observation_space}; linear policies need a 1-D Box"
            )
        self.env_id = env_id
        self.kwargs = dict(kwargs)
        self.removes_survival_bonus = family(env_id) in SURVIVAL_BONUS_FAMILIES
        self._env = gym_env
        self.max_episode_steps = int(max_episode_steps)
        self.action_low = gym_env.action_space.low.astype(np.float64)
        self.action_high = gym_env.action_space.high.astype(np.float64)
        self.act_dim = int(gym_env.action_space.shape[0])
        self.obs_dim = int(gym_env.observation_space.shape[0])
        self._action_buf = np.zeros(self.act_dim)
        super().__init__()

    @property
    def gym_env(self):
        """The underlying Gymnasium environment."""
        return self._env

    def close(self) -> None:
        self._env.close()

    def _reset_obs(self, seed) -> None:
        obs, _ = self._env.reset(seed=None if seed is None else int(seed))
        self._obs[:] = obs

    def _advance_buf(self):
        return self._advance(self._action_buf)

    def _advance(self, action):
        obs, reward, terminated, _, info = self._env.step(action)
        self._obs[:] = obs
        return float(reward), float(info.get("reward_survive", 0.0)), bool(terminated)
