"""Which environments the fast path covers, their v5 defaults, and env-id validation.

The defaults below are those of Gymnasium's MuJoCo v5 environments (``gymnasium/envs/mujoco/*_v5.py``,
Gymnasium 1.x). They are restated here, not read from Gymnasium's private attributes, and the
tests check every one of them against the Gymnasium environment step by step
(``tests/test_envs.py``): a default that drifted in a new Gymnasium release makes those tests fail.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math

from trustopt._validation import ValidationError, check_bool, check_int, did_you_mean

#: Environment ids that the fast path steps directly (every other registered id with a box
#: action space falls back to Gymnasium's own ``step``).
SUPPORTED_ENV_IDS: tuple[str, ...] = (
    "Swimmer-v5",
    "Hopper-v5",
    "HalfCheetah-v5",
    "Walker2d-v5",
    "Ant-v5",
    "Humanoid-v5",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
)

_INF = math.inf

#: v5 keyword defaults that change observation, reward, termination or reset noise.
#: ``frame_skip`` is handled by Gymnasium itself (the fast path reads ``env.frame_skip``).
V5_DEFAULTS: dict[str, dict[str, object]] = {
    "Swimmer-v5": dict(
        forward_reward_weight=1.0,
        ctrl_cost_weight=1e-4,
        reset_noise_scale=0.1,
        exclude_current_positions_from_observation=True,
    ),
    "HalfCheetah-v5": dict(
        forward_reward_weight=1.0,
        ctrl_cost_weight=0.1,
        reset_noise_scale=0.1,
        exclude_current_positions_from_observation=True,
    ),
    "Hopper-v5": dict(
        forward_reward_weight=1.0,
        ctrl_cost_weight=1e-3,
        healthy_reward=1.0,
        terminate_when_unhealthy=True,
        healthy_state_range=(-100.0, 100.0),
        healthy_z_range=(0.7, _INF),
        healthy_angle_range=(-0.2, 0.2),
        reset_noise_scale=5e-3,
        exclude_current_positions_from_observation=True,
    ),
    "Walker2d-v5": dict(
        forward_reward_weight=1.0,
        ctrl_cost_weight=1e-3,
        healthy_reward=1.0,
        terminate_when_unhealthy=True,
        healthy_z_range=(0.8, 2.0),
        healthy_angle_range=(-1.0, 1.0),
        reset_noise_scale=5e-3,
        exclude_current_positions_from_observation=True,
    ),
    "Ant-v5": dict(
        forward_reward_weight=1.0,
        ctrl_cost_weight=0.5,
        contact_cost_weight=5e-4,
        healthy_reward=1.0,
        main_body=1,
        terminate_when_unhealthy=True,
        healthy_z_range=(0.2, 1.0),
        contact_force_range=(-1.0, 1.0),
        reset_noise_scale=0.1,
        exclude_current_positions_from_observation=True,
        include_cfrc_ext_in_observation=True,
    ),
    "Humanoid-v5": dict(
        forward_reward_weight=1.25,
        ctrl_cost_weight=0.1,
        contact_cost_weight=5e-7,
        contact_cost_range=(-_INF, 10.0),
        healthy_reward=5.0,
        terminate_when_unhealthy=True,
        healthy_z_range=(1.0, 2.0),
        reset_noise_scale=1e-2,
        exclude_current_positions_from_observation=True,
        include_cinert_in_observation=True,
        include_cvel_in_observation=True,
        include_qfrc_actuator_in_observation=True,
        include_cfrc_ext_in_observation=True,
    ),
    "InvertedPendulum-v5": dict(reset_noise_scale=0.01),
    "InvertedDoublePendulum-v5": dict(healthy_reward=10.0, reset_noise_scale=0.1),
}

#: Keywords Gymnasium accepts that the fast path also honours without changing anything it computes:
#: the fast path steps the model Gymnasium loaded (``xml_file``, e.g. ``"walker2d.xml"``, Walker2d-v4's
#: model with its feet's frictions 0.9 and 1.9, where v5's has 1.9 on both) at the frame skip it read.
PASSTHROUGH_KWARGS = frozenset({"frame_skip", "xml_file"})

#: Environments whose survival bonus ("reward_survive", paid while healthy) is removed from the
#: TRAINING reward when a rollout asks for it, as TRES (sec. "Experiments": "we subtract the
#: survival bonus from the rewards outputted as in (Mania, Guy, and Recht 2018)") and ARS do:
#: Hopper, Walker2d, Ant (1 per step) and Humanoid (5 per step) with v5 defaults.
#: InvertedPendulum and InvertedDoublePendulum keep theirs: there the bonus is the task.
SURVIVAL_BONUS_FAMILIES = frozenset({"Hopper", "Walker2d", "Ant", "Humanoid"})


def family(env_id: str) -> str:
    """``"Hopper-v5" -> "Hopper"``."""
    return env_id.rsplit("-v", 1)[0]


#: How to install what the environments need (Gymnasium and MuJoCo: trustopt's ``mujoco`` extra).
MUJOCO_INSTALL_HINT = 'install the mujoco extra: pip install -e ".[mujoco]"'


def import_gymnasium():
    """The ``gymnasium`` module, or a :class:`~trustopt.ValidationError` saying how to install it."""
    try:
        import gymnasium
    except ImportError as exc:
        raise ValidationError(f"env_id: environments need Gymnasium and MuJoCo, which are not installed; "
                              f"{MUJOCO_INSTALL_HINT} (import failed: {exc})") from None
    return gymnasium


def is_mujoco_env(env_id: str, entry_point=None) -> bool:
    """Whether ``env_id`` is a MuJoCo environment: a supported id, or one registered with an entry
    point in a ``mujoco`` module (``entry_point``: the registered one, looked up when None)."""
    if env_id in SUPPORTED_ENV_IDS:
        return True
    if entry_point is None:
        spec = import_gymnasium().envs.registry.get(env_id)
        entry_point = None if spec is None else spec.entry_point
    return ".mujoco" in str(entry_point)


def _require_mujoco(env_id: str, entry_point) -> None:
    """A MuJoCo environment (:func:`is_mujoco_env`) needs the ``mujoco`` package: say so here
    rather than in a traceback from a worker."""
    if not is_mujoco_env(env_id, entry_point):
        return
    try:
        importlib.import_module("mujoco")
    except ImportError as exc:
        _raise_interrupt(exc)
        raise ValidationError(f"env_id: {env_id!r} is a MuJoCo environment and MuJoCo is not installed; "
                              f"{MUJOCO_INSTALL_HINT} (import failed: {exc})") from None
    except Exception as exc:  # noqa: BLE001 - installed, but its import fails: MuJoCo >= 3.2 loads the OpenGL
        # backend named by MUJOCO_GL on import (an unknown name, or osmesa without libOSMesa)
        _raise_interrupt(exc)
        import os

        raise ValidationError(
            f"env_id: {env_id!r} needs MuJoCo, whose import failed here ({type(exc).__name__}: {exc}); check "
            f"MUJOCO_GL (now {os.environ.get('MUJOCO_GL')!r}): unset, egl, or osmesa with libOSMesa installed "
            "(apt-get install libosmesa6)") from None


def _raise_interrupt(exc: BaseException) -> None:
    """Ctrl-C during an import that wraps it (``import mujoco`` raises ``ImportError("initialization
    failed")`` caused by the KeyboardInterrupt) is the interrupt, not a missing package."""
    seen = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            raise KeyboardInterrupt from exc
        seen = seen.__cause__ or seen.__context__


def registered_ids() -> list[str]:
    return sorted(import_gymnasium().envs.registry.keys())


def suggest_env_ids(env_id: str, known, n: int = 3) -> list[str]:
    """Up to ``n`` distinct ids close to ``env_id`` (difflib ratio >= 0.6): supported ids first;
    other registered ids only when no supported id of their family was suggested (so a typo of
    ``Hopper-v5`` suggests ``Hopper-v5``, not also the older ``Hopper-v4``)."""
    supported = difflib.get_close_matches(env_id, list(SUPPORTED_ENV_IDS), n=n, cutoff=0.6)
    families = {family(c) for c in supported}
    others = [k for k in dict.fromkeys(known) if k not in SUPPORTED_ENV_IDS and family(k) not in families]
    rest = difflib.get_close_matches(env_id, others, n=n, cutoff=0.6)
    return list(dict.fromkeys(supported + rest))[:n]


def check_env_id(env_id) -> str:
    """``env_id`` if Gymnasium knows it (and, for a MuJoCo environment, MuJoCo is installed), else a
    ValidationError listing the supported ids (or saying what to install)."""
    if not isinstance(env_id, str) or not env_id:
        raise ValidationError(f"env_id: expected a non-empty string such as 'Hopper-v5', got {env_id!r}")
    known = registered_ids()
    if env_id in known:
        _require_mujoco(env_id, import_gymnasium().envs.registry[env_id].entry_point)
        return env_id
    close = suggest_env_ids(env_id, known)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValidationError(
        f"env_id: unknown environment {env_id!r}.{hint} Supported (fast path): "
        f"{', '.join(SUPPORTED_ENV_IDS)}; any other Gymnasium id with a Box action space "
        "runs through Gymnasium's own step."
    )


def import_env_module(module) -> str | None:
    """Import ``module`` (a dotted name, or None) so that the environments it registers with
    Gymnasium exist before an id is looked up (the zoo's ``--gym-packages``); returns it."""
    if module is None:
        return None
    if not isinstance(module, str) or not module:
        raise ValidationError(f"env_module: expected a module name such as 'my_envs', got {module!r}")
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's module is reported the same way
        # a run records the module's name only: from another folder Python finds it on PYTHONPATH
        missing = isinstance(exc, ModuleNotFoundError) and exc.name == module.split(".")[0]
        where = "; Python looks for it in the working directory and on PYTHONPATH=/its/folder" if missing else ""
        raise ValidationError(f"env_module: cannot import {module!r} ({type(exc).__name__}: {exc}){where}") from None
    return module


def env_constructor_params(env_id: str) -> set[str] | None:
    """The keyword arguments ``gymnasium.make(env_id, **kwargs)`` can pass to the environment's
    constructor: the named parameters of its ``__init__`` and, while an ``__init__`` forwards
    ``**kwargs``, of its base classes' (Gymnasium's MuJoCo v5 classes forward to ``MujocoEnv``).
    None when the chain ends in ``**kwargs`` that go nowhere checkable (any key may be valid)."""
    from gymnasium.envs.registration import load_env_creator

    spec = import_gymnasium().envs.registry[env_id]
    creator = spec.entry_point if callable(spec.entry_point) else load_env_creator(spec.entry_point)
    chain = [c.__init__ for c in inspect.getmro(creator) if "__init__" in vars(c)] if inspect.isclass(creator) \
        else [creator]
    names: set[str] = set()
    for fn in chain:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names
    return None


def check_env_kwargs(env_id: str, kwargs) -> dict:
    """``kwargs`` for ``gymnasium.make(env_id, **kwargs)`` (a dict with string keys), each key a
    parameter of the environment's constructor (:func:`env_constructor_params`); otherwise a
    ValidationError naming the key and listing the ones it takes."""
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise ValidationError(f"env_kwargs: expected a mapping of names to values, got {kwargs!r}")
    if "max_episode_steps" in kwargs:
        raise ValidationError("env_kwargs: max_episode_steps is a setting of its own (--set max_episode_steps=N)")
    if "render_mode" in kwargs:  # training renders nothing; a window would also need a display in every worker
        raise ValidationError("env_kwargs: render_mode is trustopt's to set: training renders nothing, and "
                              "trustopt eval RUN --video DIR renders the saved policy")
    known = env_constructor_params(env_id)
    if known is not None:
        unknown = sorted(set(kwargs) - known)
        if unknown:
            hint = did_you_mean(unknown[0], sorted(known))
            raise ValidationError(f"env_kwargs: {env_id} does not take {', '.join(repr(k) for k in unknown)}{hint}; "
                                  f"it takes {', '.join(sorted(known))}")
    check_env_kwarg_values(env_id, kwargs, "env_kwargs")
    return dict(kwargs)


def _is_real(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and not math.isnan(x)


def check_env_kwarg_values(env_id: str, kwargs: dict, name: str) -> None:
    """The values of the keywords whose meaning trustopt knows, checked before Gymnasium sees
    them (Gymnasium's MuJoCo classes take them unchecked and fail later, on the first step or
    never: ``frame_skip=-2`` steps backwards in time): ``frame_skip`` an integer >= 1,
    ``xml_file`` a path, and each keyword of :data:`V5_DEFAULTS` of the kind of its default -- a
    finite number (``reset_noise_scale`` >= 0), True/False, an interval ``[lo, hi]`` with
    ``lo < hi`` (infinite ends allowed) or, for Ant's ``main_body``, a body index or name.
    Errors name ``name`` and the keyword."""
    defaults = V5_DEFAULTS.get(env_id, {})
    for key, value in kwargs.items():
        where = f"{name}: {key}"
        if key == "frame_skip":
            check_int(value, where, 1)
        elif key == "xml_file":
            if not isinstance(value, str) or not value:
                raise ValidationError(f"{where}: expected the path of a MuJoCo model file, got {value!r}")
        elif key not in defaults:
            continue
        elif isinstance(defaults[key], bool):
            check_bool(value, where)
        elif isinstance(defaults[key], tuple):
            if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_is_real, value))
                    and value[0] < value[1]):
                raise ValidationError(f"{where}: expected an interval [lo, hi] with lo < hi "
                                      f"(the default is {list(defaults[key])}), got {value!r}")
        elif key == "main_body":
            if not (isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))):
                raise ValidationError(f"{where}: expected a body index or name, got {value!r}")
        elif not (_is_real(value) and math.isfinite(value)) or (key == "reset_noise_scale" and value < 0):
            lower = " >= 0" if key == "reset_noise_scale" else ""
            raise ValidationError(f"{where}: expected a finite number{lower} (the default is {defaults[key]!r}), "
                                  f"got {value!r}")
