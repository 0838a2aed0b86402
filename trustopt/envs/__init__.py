"""MuJoCo environments for linear-policy experiments (the only code that imports gymnasium/mujoco).

    env = make_env("Hopper-v5")                  # fast path: MuJoCo stepped directly
    obs = env.reset(seed=0)                      # same initial state as gymnasium's reset(seed=0)
    obs, reward, terminated, truncated = env.step(action)    # = gymnasium's step, bit for bit
    res = env.rollout(LinearPolicy(W=W, mean=mu, std=sd), seed=0, remove_survival_bonus=True)
    res.train_return, res.env_return, res.length, res.obs_stats

    spec = EnvSpec(env_id="Hopper-v5")           # picklable; what a worker process receives
    res = rollout(spec, policy, seed=0)          # module-level: one cached env per spec per process

Fast path (:data:`SUPPORTED_ENV_IDS` with their v5 keywords): the observation, reward terms,
termination (healthy checks), TimeLimit truncation and reset noise of Gymnasium's v5
environments, computed on the environment's own ``MjModel``/``MjData`` with
``mujoco.mj_step(model, data, nstep=frame_skip)``. Any other Gymnasium id (or keyword, e.g.
``render_mode`` or ``xml_file``) runs through Gymnasium's own ``step`` behind the same interface
(``env.fast`` says which).

Survival bonus (TRES sec. "Experiments", ARS): ``remove_survival_bonus=True`` subtracts, from
the training reward, the bonus the environment paid at that step (``healthy_reward`` while
healthy: 1 for Hopper/Walker2d/Ant-v5, 5 for Humanoid-v5); ``env_return`` keeps the
environment's own reward for evaluation.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

from trustopt._validation import ValidationError, check_int
from trustopt.envs._base import EnvState, RolloutEnv, RolloutResult, Trajectory
from trustopt.envs._registry import (
    PASSTHROUGH_KWARGS,
    SUPPORTED_ENV_IDS,
    SURVIVAL_BONUS_FAMILIES,
    V5_DEFAULTS,
    check_env_id,
    check_env_kwarg_values,
    import_env_module,
    is_mujoco_env,
)
from trustopt.envs.policies import GaussianLinearPolicy, LinearPolicy

__all__ = [
    "EnvSpec",
    "EnvState",
    "GaussianLinearPolicy",
    "LinearPolicy",
    "MujocoWarning",
    "RolloutEnv",
    "RolloutResult",
    "SUPPORTED_ENV_IDS",
    "SURVIVAL_BONUS_FAMILIES",
    "Trajectory",
    "cached_env",
    "make_env",
    "rollout",
]


def _gymnasium_make(env_id: str, max_episode_steps: int | None, kwargs: dict, **make_kwargs):
    """``gymnasium.make(env_id, max_episode_steps=..., **kwargs, **make_kwargs)`` with MuJoCo's
    warnings as Python warnings and a failure as a ValidationError naming the argument at fault."""
    from trustopt.envs._registry import import_gymnasium

    gymnasium = import_gymnasium()
    try:
        with _mujoco_warnings_as_python_warnings(env_id):
            return gymnasium.make(env_id, max_episode_steps=max_episode_steps, **kwargs, **make_kwargs)
    except TypeError as exc:
        names = sorted(kwargs) + sorted(make_kwargs)  # render_mode too: an environment that cannot render
        raise ValidationError(f"kwargs: {env_id} does not accept {names} ({exc})") from None
    except (OSError, ValueError, ArithmeticError) as exc:  # e.g. xml_file not found, a value the env rejects
        raise ValidationError(f"kwargs: {env_id} cannot be built with {kwargs!r} ({exc})") from None
    except (ImportError, gymnasium.error.Error) as exc:
        raise ValidationError(
            f"env_id: {env_id!r} cannot be built here ({exc}); supported (fast path): {', '.join(SUPPORTED_ENV_IDS)}"
        ) from None


def make_env(env_id: str, *, max_episode_steps: int | None = None, fast: bool = True, **kwargs) -> RolloutEnv:
    """An environment with ``reset(seed=)``, ``step(action)``, ``rollout(policy, ...)``.

    ``env_id``: a Gymnasium id (``ValidationError`` listing :data:`SUPPORTED_ENV_IDS` if
    unknown). ``max_episode_steps``: the TimeLimit (default: the registered one, 1000 for the
    v5 MuJoCo tasks). ``fast=False`` forces Gymnasium's own ``step``. ``kwargs`` go to
    ``gymnasium.make`` (e.g. ``ctrl_cost_weight=0.0``); the fast path is used when every
    keyword is one it reproduces (see ``trustopt.envs._registry.V5_DEFAULTS``).
    """
    env_id = check_env_id(env_id)
    if max_episode_steps is not None:
        max_episode_steps = check_int(max_episode_steps, "max_episode_steps", 1)
    check_env_kwarg_values(env_id, kwargs, "kwargs")
    gym_env = _gymnasium_make(env_id, max_episode_steps, kwargs)
    horizon = max_episode_steps if max_episode_steps is not None else gym_env.spec.max_episode_steps
    if horizon is None:
        gym_env.close()
        raise ValidationError(f"max_episode_steps: {env_id} has no registered time limit; pass one "
                              "(max_episode_steps=N; trustopt train: --set max_episode_steps=N)")
    defaults = V5_DEFAULTS.get(env_id)
    if fast and defaults is not None and set(kwargs) <= set(defaults) | PASSTHROUGH_KWARGS:
        from trustopt.envs._fast import FAST_CLASSES

        params = {**defaults, **{k: v for k, v in kwargs.items() if k in defaults}}
        return FAST_CLASSES[env_id](env_id, kwargs, params, gym_env, horizon)
    from trustopt.envs._gym import GymnasiumEnv

    try:
        return GymnasiumEnv(env_id, kwargs, gym_env, horizon)
    except ValidationError:
        gym_env.close()
        raise


class MujocoWarning(UserWarning):
    """A warning MuJoCo printed while compiling a model (e.g. a deprecated XML attribute)."""


@contextlib.contextmanager
def _mujoco_warnings_as_python_warnings(env_id: str):
    """While building ``env_id``'s model, route MuJoCo's warnings to :class:`MujocoWarning`.

    MuJoCo's default handler appends them to ``MUJOCO_LOG.TXT`` in the working directory
    (Gymnasium's half_cheetah.xml uses the deprecated ``settotalmass``); the previous handler
    is restored afterwards.
    """
    try:
        import mujoco
    except ImportError:  # pragma: no cover - gymnasium[mujoco] installs it
        yield
        return
    messages: list[str] = []
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(messages.append)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)
        for msg in dict.fromkeys(messages):
            warnings.warn(f"MuJoCo, compiling {env_id}'s model: {msg}", MujocoWarning, stacklevel=4)


@dataclass(frozen=True, kw_only=True)
class EnvSpec:
    """What to build: ``make_env(env_id, max_episode_steps=..., fast=..., **kwargs)``.

    Picklable and JSON-friendly (send it to worker processes, save it in ``config.json``);
    ``env_id`` is validated on construction. ``module``: a module imported before the id is
    looked up, here and in every worker process that builds the environment (one that registers
    custom environments with Gymnasium).
    """

    env_id: str
    kwargs: dict = field(default_factory=dict)
    max_episode_steps: int | None = None
    fast: bool = True
    module: str | None = None

    def __post_init__(self):
        import_env_module(self.module)
        check_env_id(self.env_id)
        if not isinstance(self.kwargs, dict) or not all(isinstance(k, str) for k in self.kwargs):
            raise ValidationError(f"kwargs: expected a dict with string keys, got {self.kwargs!r}")
        object.__setattr__(self, "kwargs", dict(self.kwargs))

    def make(self) -> RolloutEnv:
        import_env_module(self.module)  # a worker unpickles the spec without running __post_init__
        return make_env(self.env_id, max_episode_steps=self.max_episode_steps, fast=self.fast, **self.kwargs)

    def gymnasium_env(self, **make_kwargs):
        """The plain Gymnasium environment of this spec (``gymnasium.make`` with its id, kwargs and
        ``max_episode_steps``; ``make_kwargs`` such as ``render_mode="human"`` added): for playing a
        policy by hand, as ``gymnasium.make`` users do, where :meth:`make` gives the rollout adapter."""
        import_env_module(self.module)
        return _gymnasium_make(self.env_id, self.max_episode_steps, self.kwargs, **make_kwargs)

    def recording_env(self, video_dir: str, *, name_prefix: str):
        """:meth:`gymnasium_env` rendering ``rgb_array`` frames, wrapped in Gymnasium's ``RecordVideo``
        so that every episode is written to ``video_dir`` as ``{name_prefix}-episode-{i}.mp4`` (needs
        moviepy and MuJoCo's offscreen rendering)."""
        from gymnasium.wrappers import RecordVideo

        env = self.gymnasium_env(render_mode="rgb_array")
        return RecordVideo(env, video_dir, episode_trigger=lambda i: True, name_prefix=name_prefix,
                           disable_logger=True)

    def is_mujoco(self) -> bool:
        """Whether this is a MuJoCo environment (rendering offscreen needs ``MUJOCO_GL``)."""
        import_env_module(self.module)
        return is_mujoco_env(self.env_id)

    def key(self) -> str:
        return repr((self.env_id, sorted(self.kwargs.items()), self.max_episode_steps, self.fast, self.module))


_ENV_CACHE: dict[str, RolloutEnv] = {}


def cached_env(env_spec: EnvSpec | str) -> RolloutEnv:
    """The environment of ``env_spec`` (an :class:`EnvSpec` or an env id), built once per process
    and spec, then reused (workers keep theirs between batches). Every use starts from
    ``reset(seed=)`` or a snapshot, so sharing it changes no result."""
    spec = env_spec if isinstance(env_spec, EnvSpec) else EnvSpec(env_id=env_spec)
    key = spec.key()
    env = _ENV_CACHE.get(key)
    if env is None:
        env = _ENV_CACHE[key] = spec.make()
    return env


def rollout(
    env_spec: EnvSpec | str,
    policy: LinearPolicy | GaussianLinearPolicy,
    *,
    seed: int | None,
    max_steps: int | None = None,
    rng=None,
    remove_survival_bonus: bool = False,
    record: bool | None = None,
    start: EnvState | None = None,
) -> RolloutResult:
    """One episode of ``policy`` on ``env_spec`` (an :class:`EnvSpec` or an env id).

    The environment is built once per process and spec, then reused; the result depends only
    on the arguments (reset(seed) fixes the initial state), so any worker computes the same
    result. See :meth:`RolloutEnv.rollout` for the policy, clipping, survival-bonus and
    recording semantics.
    """
    env = cached_env(env_spec)
    return env.rollout(
        policy, seed=seed, max_steps=max_steps, rng=rng, remove_survival_bonus=remove_survival_bonus, record=record,
        start=start,
    )
