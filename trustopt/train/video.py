"""Videos of a saved policy: ``trustopt eval RUN --video DIR`` (Gymnasium's ``RecordVideo``).

The episodes are played in this process by ``policy.predict(obs, deterministic=True)`` on the
run's environment rendering ``rgb_array`` frames, wrapped in Gymnasium's ``RecordVideo``
(:meth:`trustopt.envs.EnvSpec.recording_env`), one MP4 per episode in ``DIR`` (``<name>-episode-<i>.mp4``),
reset with the first of the evaluation seeds, so the first video shows the first evaluated episode.

Needs ``moviepy`` (the ``video`` extra) and an OpenGL renderer for MuJoCo: with no display and
``MUJOCO_GL`` unset, EGL is chosen (``MUJOCO_GL=egl``; Mesa's software EGL works without a GPU);
set ``MUJOCO_GL=osmesa`` for OSMesa. A missing package or renderer is a ValidationError saying
what to install or set.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np

from trustopt._validation import ValidationError

__all__ = ["check_video_dir", "record_video", "VIDEO_HINT"]

VIDEO_HINT = 'install the video extra: pip install -e ".[video]"'


def _check_moviepy() -> None:
    import importlib

    try:
        importlib.import_module("moviepy")
    except ImportError as exc:
        raise ValidationError(f"--video: recording needs moviepy, which is not installed; {VIDEO_HINT} "
                              f"(import failed: {exc})") from None


def record_video(path, video_dir, *, episodes: int = 1, seeds=None, name_prefix: str = "policy") -> list[str]:
    """Play ``episodes`` episodes of the saved policy of ``path`` (a run folder or a policy file)
    with rendering and write one MP4 per episode into ``video_dir``; return the files written.

    ``seeds``: the reset seeds (None: 0, 1, ...). The episodes follow the run's time limit (its
    ``max_episode_steps``, else the environment's own) and ``env_kwargs``; the policy acts by its mean
    action (``deterministic=True``)."""
    from trustopt._io import make_folder
    from trustopt.train.run_folder import load_policy, saved_env_spec

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValidationError(f"episodes: expected an integer >= 1, got {episodes!r}")
    seeds = list(range(episodes)) if seeds is None else [int(s) for s in seeds][:episodes]
    policy, env_id, data = load_policy(path)
    _check_moviepy()
    if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "egl"  # read when the first renderer is created; glfw needs a display
    spec = saved_env_spec(data)
    video_dir = os.fspath(video_dir)
    check_video_dir(video_dir, name_prefix)
    names = [f"{name_prefix}-episode-{i}.mp4" for i in range(len(seeds))]
    top = os.path.abspath(video_dir)  # the outermost folder this call makes, removed again if nothing is written
    while not os.path.exists(os.path.dirname(top)):
        top = os.path.dirname(top)
    made = not os.path.exists(top)
    make_folder("--video", video_dir)
    try:
        try:
            with warnings.catch_warnings():  # RecordVideo warns of overwriting whenever the folder exists
                warnings.filterwarnings("ignore", message=".*Overwriting existing videos")
                env = spec.recording_env(video_dir, name_prefix=name_prefix)
        except Exception as exc:  # noqa: BLE001 - a model or renderer that cannot be built
            raise ValidationError(f"--video: cannot build {env_id} with rendering "
                                  f"({type(exc).__name__}: {exc})") from None
        try:
            _play(env, policy, seeds, env_id, spec.is_mujoco())
        finally:
            try:
                with warnings.catch_warnings():  # after a failure: "zero frames to save", said by the error below
                    warnings.simplefilter("ignore")
                    env.close()
            except Exception:  # noqa: BLE001, S110 - closing a renderer that never started
                pass
    except BaseException:
        if made and not os.listdir(video_dir):  # the folders this call made, left empty
            folder = os.path.abspath(video_dir)
            with contextlib.suppress(OSError):  # (one that is no longer empty stays: the failure is the news)
                while True:
                    os.rmdir(folder)
                    if folder == top:
                        break
                    folder = os.path.dirname(folder)
        raise
    return [os.path.join(video_dir, f) for f in names if os.path.exists(os.path.join(video_dir, f))]


def check_video_dir(video_dir, name_prefix: str = "policy") -> None:
    """``video_dir`` must not hold videos of ``name_prefix`` already: ``RecordVideo`` would
    overwrite some and leave the others, and one folder would mix two policies' episodes."""
    video_dir = os.fspath(video_dir)
    if os.path.isdir(video_dir) and (old := sorted(f for f in os.listdir(video_dir)
                                                   if f.startswith(f"{name_prefix}-episode-") and f.endswith(".mp4"))):
        raise ValidationError(f"--video: {video_dir} already holds videos ({', '.join(old[:3])}"
                              f"{', ...' if len(old) > 3 else ''}); choose another folder or remove them")


def _play(env, policy, seeds, env_id: str, mujoco: bool) -> None:
    """The episodes of ``seeds`` on the recording ``env``, each action the policy's mean."""
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            done = False
            while not done:
                obs, _, terminated, truncated, _ = env.step(policy.predict(obs).astype(np.float32))
                done = terminated or truncated
    except ValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 - MuJoCo's renderer fails with several exception types
        hint = (f"; MuJoCo renders offscreen with MUJOCO_GL=egl (now {os.environ.get('MUJOCO_GL')!r}) or "
                "MUJOCO_GL=osmesa (apt-get install libosmesa6)" if mujoco else "")
        raise ValidationError(f"--video: rendering {env_id} failed ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:200]}){hint}") from None
