"""The ``trustopt`` command line (also ``python -m trustopt``).

    trustopt train --env Swimmer-v5 --algo tres --timesteps 1000000 --seed 0 --workers 2 --out runs/x
        [--seeds S1 S2 ... [--procs P]] [--eval-every K | --eval-steps T] [--eval-episodes M] [--backend process|serial|ray]
        [--ray-address HOST:PORT] [--resume] [--config FILE] [--target R] [--set KEY=VALUE ...]
        [--restart-below R --restart-after T] [--env-kwargs KEY=VALUE ...] [--env-module MOD]
        [--tensorboard] [--no-progress]
    trustopt train --env Swimmer-v5 --algo tres --show-config        (the settings, resolved; trains nothing)
    trustopt eval runs/x --episodes 100 [--workers N] [--video DIR [--video-episodes N]]
    trustopt plot runs/x runs/y -o curves.png [--target R] [--agg iqm|mean]
    trustopt --version

``--seeds 0 1 2``: one run per seed, in sequence (each with ``--workers`` processes), in
``OUT/seed-0``, ``OUT/seed-1``, ...; with ``--procs P``, ``P`` of them at a time, each in its own
process (the same runs, bit for bit); ``trustopt plot OUT`` then draws them as one curve, the IQM
(or mean) over seeds with a bootstrap confidence band; below 4 seeds the mean and each seed
(:func:`trustopt.train.plot_runs`).
``--env-kwargs ctrl_cost_weight=0``: keyword arguments of ``gymnasium.make`` (JSON values),
checked against the environment's constructor. ``--env-module MOD``: imported before the
environment is looked up (a module that registers custom environments; recorded in the run).

``--config FILE``: a JSON object with :class:`trustopt.train.TrainConfig` fields (``env_id``,
``algo``, ``n_directions``, ``sigma``, ``lr``, ...; a run's own ``config.json`` works, its
``runtime`` entry ignored); flags given on the command line override it. ``--eval-every``
counts iterations (0 disables evaluation); ``--eval-steps T`` replaces it by a grain of training
timesteps (an evaluation after the first iteration at or past each multiple of ``T``). ``--resume`` continues the run in ``--out`` from its
last checkpoint (the settings must be those of the run, except ``--timesteps``,
``--eval-every``, ``--eval-steps``, ``--eval-episodes`` and ``--target``: ``--resume --timesteps 2000000`` trains
a finished run further, to the same policy as an uninterrupted run with that budget; with
restarts only ``--timesteps`` and ``--target`` may change; with
``--resume`` alone the run's own ``config.json`` is used). ``--restart-below R
--restart-after T``: restarts, off by default; a start whose evaluations have not reached ``R``
by its first evaluation ``T`` timesteps in is replaced by a new one (``trustopt.train.trainer``).

Exit codes: 0 success; 1 worker processes kept dying (one line); 2 bad usage, unknown environment, invalid settings, missing, corrupt
or mismatched checkpoint, a missing optional extra, a file that cannot be read or written
(full disk, read-only folder, a path under a file), not enough memory for a setting (a
one-line message on stderr, no traceback); 130 interrupted by Ctrl-C, 143 terminated by
SIGTERM (``train``: the last checkpoint stays valid: rerun with ``--resume``). With ``--procs``, a
seed that fails prints its own line; the command exits with the first failure's code once the
seeds still running have ended, and starts no other seed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import warnings
from contextlib import contextmanager

__all__ = ["main", "build_parser"]

_TRAIN_USAGE = """trustopt train --env ENV_ID --out OUT [--algo ALGO] [--timesteps N] [--seed S | --seeds S ... [--procs P]]
                      [--workers N] [--eval-every K | --eval-steps T] [--eval-episodes M]
                      [--backend {process,serial,ray}]
                      [--ray-address HOST:PORT] [--target R] [--set KEY=VALUE ...]
                      [--restart-below R --restart-after T] [--env-kwargs KEY=VALUE ...] [--env-module MOD]
                      [--tensorboard] [--no-progress]
       trustopt train --config FILE --out OUT [flags above]     (env_id from FILE)
       trustopt train --resume --out OUT [flags above]          (settings from OUT/config.json)
       trustopt train --env ENV_ID [flags above] --show-config  (print the settings it would run; no --out)"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: one line, exit 2 (the usage is for -h)
        self.exit(2, f"trustopt: error: {' '.join(message.split())} (see '{self.prog} -h')\n")


def _int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``, with a one-line error otherwise."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {v}")
        return v

    return parse


_positive_int = _int_at_least(1)
_nonneg_int = _int_at_least(0)


def _timesteps(text: str) -> int:
    try:
        v = float(text)  # accepts 1e6
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of timesteps, got {text!r}") from None
    if not v.is_integer() or v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(v)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    from trustopt import __version__
    from trustopt.train.config import ES_ALGOS, PG_ALGOS

    p = _Parser(prog="trustopt", description="Trust-region policy search: linear-policy MuJoCo experiments.",
                allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"trustopt {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{train,eval,plot}", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("train", help="train a linear policy (TRES, ES, ARS; TRPO, NPG, VPG, PPO, TREFree, STRO) "
                                     "on a MuJoCo environment", usage=_TRAIN_USAGE, allow_abbrev=False)
    req = t.add_argument_group("required (--env may come from --config FILE or, with --resume, the run's config.json)")
    req.add_argument("--env", dest="env_id", metavar="ENV_ID", help="Gymnasium id, e.g. Swimmer-v5")
    t.add_argument("--algo", choices=ES_ALGOS + PG_ALGOS, help="algorithm (default tres)")
    t.add_argument("--timesteps", type=_timesteps, help="training env-steps budget (default 1000000); an iteration starts while fewer steps have been "
                        "used and always completes, so a run may exceed the budget by up to one batch")
    t.add_argument("--seed", type=_nonneg_int, help="seed (default 0)")
    t.add_argument("--seeds", type=_nonneg_int, nargs="+", metavar="S",
                   help="several seeds, one run each in OUT/seed-S, one after the other (each with --workers; "
                        "--procs runs several at a time); plot them together with: trustopt plot OUT")
    t.add_argument("--procs", type=_positive_int, default=1, metavar="P",
                   help="with --seeds: runs at a time, each in its own process (default 1); each still starts "
                        "--workers rollout workers, so P seeds use about P x --workers cores. Progress bars are "
                        "off; each seed prints its line when it ends")
    t.add_argument("--workers", type=_positive_int, default=1, help="rollout worker processes (default 1)")
    req.add_argument("--out", help="run folder (not needed with --show-config)")
    every = t.add_mutually_exclusive_group()
    every.add_argument("--eval-every", type=_nonneg_int, help="iterations between evaluations; 0 disables (default 10)")
    every.add_argument("--eval-steps", type=_positive_int, help="instead of --eval-every: evaluate after the first "
                       "iteration at or past every multiple of this many training timesteps (the same grain for "
                       "methods with different batch sizes); either way the last iteration is evaluated too")
    t.add_argument("--eval-episodes", type=_positive_int, help="episodes per evaluation (default 10)")
    t.add_argument("--backend", default="process", choices=("process", "serial", "ray"),
                   help="rollout backend: local processes (default), in-process, or Ray actors (pip install -e "
                        "'.[ray]')")
    t.add_argument("--ray-address", help="--backend ray: address of a running Ray cluster (e.g. HEAD_IP:6379 or "
                                         "auto); default: start a local Ray instance with --workers CPUs")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint; everything that determines the "
                        "trajectory must match the run, but --timesteps (e.g. a larger budget to train a finished "
                        "run further), --eval-every, --eval-steps, --eval-episodes and --target may change "
                        "(with restarts only --timesteps and --target)")
    t.add_argument("--config", help="JSON file with TrainConfig fields (flags override it)")
    t.add_argument("--target", type=_float, help="stop once an evaluation's mean return reaches this")
    t.add_argument("--restart-below", type=_float, metavar="R",
                   help="with --restart-after: start afresh (zero policy, new random stream) when a start's "
                        "evaluations have not reached R by its first evaluation T timesteps in; the budget "
                        "counts every start (default: no restarts)")
    t.add_argument("--restart-after", type=_timesteps, metavar="T",
                   help="with --restart-below: the timesteps a start has to reach R, e.g. 5e4")
    t.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override hyperparameters (JSON values), e.g. --set sigma=0.03 n_directions=16")
    t.add_argument("--env-kwargs", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="keyword arguments of gymnasium.make (JSON values), e.g. --env-kwargs ctrl_cost_weight=0; "
                        "checked against the environment's constructor")
    t.add_argument("--env-module", metavar="MOD",
                   help="module imported before the environment is looked up (one that registers custom "
                        "environments with Gymnasium); recorded in the run")
    t.add_argument("--tensorboard", action="store_true",
                   help="also log the progress rows as TensorBoard scalars in OUT/tb (pip install -e \".[tensorboard]\")")
    t.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none either when stderr is not a terminal, e.g. redirected to a log)")
    t.add_argument("--show-config", action="store_true",
                   help="print every setting the command would train with (its algorithm's defaults for its task "
                        "filled in; with --seeds, the first seed's) as JSON, and exit without training")

    e = sub.add_parser("eval", help="evaluate a run's final policy (environment return)", allow_abbrev=False)
    e.add_argument("run", help="run folder (or policy.npz)")
    e.add_argument("--episodes", type=_positive_int, default=100, help="number of evaluation episodes (default 100)")
    e.add_argument("--workers", type=_positive_int, default=1,
                   help="worker processes for the episodes (the returns do not depend on it)")
    e.add_argument("--seed", type=_nonneg_int, default=1_000_003, help="seed of the evaluation episodes")
    e.add_argument("--json", dest="json_path", help="also write the returns to this JSON file ('-': to stdout, "
                   "with the other lines on stderr, e.g. for | jq .mean)")
    e.add_argument("--video", metavar="DIR", help="also record MP4 videos of episodes into DIR (Gymnasium's "
                   "RecordVideo; needs moviepy, pip install -e \".[video]\", and MuJoCo offscreen rendering: "
                   "MUJOCO_GL=egl or osmesa)")
    e.add_argument("--video-episodes", type=_positive_int,
                   help="--video: number of episodes recorded (default 1; seeded as the first evaluation episodes)")

    pl = sub.add_parser("plot", help="learning curves of runs", allow_abbrev=False)
    pl.add_argument("runs", nargs="+", help="run folders, or folders of runs (e.g. the OUT of train --seeds), "
                                            "whose seeds are drawn as one curve with a confidence band "
                                            "(below 4 seeds: their mean, each seed drawn thin)")
    pl.add_argument("-o", "--output", required=True, help="image file (png, pdf, svg)")
    pl.add_argument("--target", type=_float,
                    help="draw a threshold line (default: the runs' own --target, when they share one)")
    pl.add_argument("--title")
    pl.add_argument("--agg", choices=("iqm", "mean"), default="iqm",
                    help="aggregate over the seeds of a folder: interquartile mean (default) or mean, with a 95%% "
                         "percentile-bootstrap band over seeds")
    p.subcommands = {"train": t, "eval": e, "plot": pl}
    return p


def _parse(parser, argv):
    """``parser.parse_args(argv)``, but an unknown argument is reported by the SUBCOMMAND's parser
    (its usage, exit 2), not by the top-level one."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = parser.subcommands[args.command]
        sub.error(f"unrecognized arguments: {' '.join(extra)}{_flag_hint(sub, args.command, extra)}")
    return args


#: The rl-baselines3-zoo's ``train.py`` flags, and what ``trustopt train`` has for each.
ZOO_FLAGS = {
    "--n-timesteps": "is --timesteps here", "-n": "is --timesteps here", "--eval-freq": "is --eval-steps here",
    "--n-eval-episodes": "is --eval-episodes here", "--gym-packages": "is --env-module here",
    "-f": "is --out here", "--log-folder": "is --out here",
    "--hyperparams": "is --set KEY=VALUE here", "-params": "is --set KEY=VALUE here",
    "--tensorboard-log": "is --tensorboard here (into OUT/tb)", "-tb": "is --tensorboard here (into OUT/tb)",
    "--trained-agent": "is --resume --out RUN here", "-i": "is --resume --out RUN here",
    "--n-envs": "is --workers here (processes)", "--vec-env": "has no counterpart: --workers processes",
    "--device": "has no counterpart: linear policies run on the CPU",
    "--verbose": "has no counterpart: --no-progress turns the bar off",
    "--track": "has no counterpart: --tensorboard logs into OUT/tb",
    "-optimize": "has no counterpart: no hyperparameter search", "--optimize-hyperparameters": "has no "
    "counterpart: no hyperparameter search", "--storage": "has no counterpart: no hyperparameter search",
}


def _flag_hint(sub, command: str, extra: list[str]) -> str:
    """`` (the zoo's -n is --timesteps here)`` or `` (did you mean '--timesteps'?)`` for the first
    unknown flag in ``extra``; ``""`` when there is none or nothing is close."""
    from trustopt._validation import did_you_mean

    flag = next((a.split("=", 1)[0] for a in extra if a.startswith("-")), None)
    if flag is None:
        return ""
    if command == "train" and flag in ZOO_FLAGS:
        return f" (the zoo's {flag} {ZOO_FLAGS[flag]})"
    return did_you_mean(flag, [o for a in sub._actions for o in a.option_strings if o.startswith("--")], ignore="-")


def _train_config(args):
    """The run's :class:`~trustopt.train.TrainConfig`: the settings of ``--resume``'s
    ``OUT/config.json`` or of ``--config FILE`` (else none), with the command line's flags over them."""
    from trustopt._validation import ValidationError
    from trustopt.train import config_from_dict

    saved = None  # the run's settings when resuming from OUT/config.json
    if args.resume and args.config is None:
        saved = _saved_settings(args)
        d = dict(saved) if saved is not None else {}
    elif args.config is not None:
        d, of_a_run = _config_file(args.config)
    else:
        d = {}
    given = _flag_settings(args, d)
    if saved is not None:
        _check_resume_keeps(args.out, saved, given)
    elif args.config is not None and of_a_run:
        _check_run_config_keeps_its_task(args.config, d, given)
    d.update(given)
    if "env_id" not in d:
        raise ValidationError("--env: required (e.g. --env Swimmer-v5)")
    try:
        return config_from_dict(d)
    except ValidationError as exc:  # a setting of a file, not of a flag: name the file, not a flag not given
        field, _, rest = str(exc).partition(": ")
        source = (f"--config: {args.config}" if args.config is not None
                  else f"--resume: {os.path.join(args.out, 'config.json')}" if saved is not None else None)
        if source is not None and field == "config":  # an unknown key: flags' keys were checked
            raise ValidationError(f"{source}: {rest}") from None
        if source is not None and field in d and field not in given:
            raise ValidationError(f"{source}: {exc}") from None
        raise


def _read_settings(path: str, label: str) -> tuple[dict, bool]:
    """The JSON object in ``path`` without its ``runtime`` and ``versions`` entries (where a run
    ran is not a setting, so a run's own config.json serves as ``--config``), and whether it is a
    run's config.json (it has ``versions``: every hyperparameter resolved); errors name ``label``.
    A missing file raises ``FileNotFoundError``: the caller says what that means."""
    from trustopt._validation import ValidationError

    try:
        with open(path) as f:
            d = json.load(f)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValidationError(f"{label}: cannot read {path} ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ValidationError(f"{label}: {path} is not valid JSON ({exc})") from None
    if not isinstance(d, dict):
        raise ValidationError(f"{label}: {path} must hold a JSON object")
    d.pop("runtime", None)
    return d, d.pop("versions", None) is not None


def _saved_settings(args) -> dict | None:
    """``--resume`` without ``--config``: the settings in ``OUT/config.json``; None when there is
    none but ``--env`` is given (a run that never started)."""
    from trustopt._validation import ValidationError

    try:
        return _read_settings(os.path.join(args.out, "config.json"), "out")[0]
    except FileNotFoundError:
        if args.env_id is None:
            seeds = sorted(d for d in (os.listdir(args.out) if os.path.isdir(args.out) else [])
                           if os.path.isfile(os.path.join(args.out, d, "config.json")))
            hint = (f" (it holds the runs {', '.join(seeds[:4])}{', ...' if len(seeds) > 4 else ''}: resume them "
                    f"with --seeds, or give one as --out)") if seeds else ""
            raise ValidationError(f"out: {args.out} has no config.json to resume from{hint}") from None
        return None


def _config_file(path: str) -> tuple[dict, bool]:
    """``--config FILE``: the settings in FILE, and whether FILE is a run's config.json."""
    from trustopt._validation import ValidationError

    try:
        return _read_settings(path, "config")
    except FileNotFoundError:
        raise ValidationError(f"config: {path} does not exist") from None


def _flag_settings(args, d: dict) -> dict:
    """The settings the command line gives: the flags, ``--set KEY=VALUE`` (JSON values),
    ``--env-kwargs KEY=VALUE`` (merged over ``d``'s ``env_kwargs``) and ``--env-module``."""
    from trustopt._validation import ValidationError
    from trustopt.train import TrainConfig

    given: dict = {}
    for name in ("env_id", "algo", "timesteps", "seed", "eval_every", "eval_steps", "eval_episodes", "target",
                 "restart_below", "restart_after"):
        v = getattr(args, name)
        if v is not None:
            given[name] = v
    if args.eval_every is not None:  # --eval-every on a run evaluated by --eval-steps switches it back
        given["eval_steps"] = None
    settings = _key_values("--set", args.set)
    for key in settings:
        _check_set_key(key, given.get("algo", d.get("algo", TrainConfig.__dataclass_fields__["algo"].default)))
    given.update(settings)
    if args.env_kwargs:
        given["env_kwargs"] = {**(d.get("env_kwargs") or {}), **_key_values("--env-kwargs", args.env_kwargs)}
    if args.env_module is not None:
        given["env_module"] = args.env_module
    return given


def _key_values(flag: str, items: list[str]) -> dict:
    """``{KEY: value}`` of ``flag``'s ``KEY=VALUE`` items (JSON values, else text); of a key given
    twice the last wins, as of a flag given twice (a base command's ``--set`` can be overridden)."""
    from trustopt._validation import ValidationError

    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationError(f"{flag}: expected KEY=VALUE, got {item!r}")
        out[key] = _json_or_text(value)
    return out


#: TrainConfig fields that have a flag of their own: ``--set`` does not override them (it would
#: silently win over the flag, e.g. ``--env Swimmer-v5 --set env_id=Hopper-v5``).
_OWN_FLAGS = {"env_id": "--env", "algo": "--algo", "timesteps": "--timesteps", "seed": "--seed",
              "eval_every": "--eval-every", "eval_steps": "--eval-steps", "eval_episodes": "--eval-episodes",
              "target": "--target", "restart_below": "--restart-below", "restart_after": "--restart-after",
              "env_kwargs": "--env-kwargs", "env_module": "--env-module"}
#: Per command, the flag of each name its errors may start with (for train: TrainConfig's fields
#: above and train()'s arguments).
_FLAG_OF = {"train": {**_OWN_FLAGS, "config": "--config", "out": "--out", "workers": "--workers",
                      "backend": "--backend", "ray_address": "--ray-address", "kwargs": "--env-kwargs"},
            "eval": {"workers": "--workers", "episodes": "--episodes"},
            "plot": {"output": "--output"}}


def _check_set_key(key: str, algo) -> None:
    """``--set KEY=...``: KEY is a hyperparameter of TrainConfig; a key with a flag of its own, or
    an unknown one (with the nearest of ``algo``'s keys, which the message lists), is an error
    naming ``--set``. (A key of another algorithm is TrainConfig's error, which names its users.)"""
    import dataclasses

    from trustopt._validation import ValidationError, did_you_mean
    from trustopt.train import TrainConfig
    from trustopt.train.config import USED_FIELDS, other_name_hint, settable_keys

    if key in _OWN_FLAGS:
        raise ValidationError(f"--set: {key} has a flag of its own; use {_OWN_FLAGS[key]}")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    if key not in names:
        algo = algo if isinstance(algo, str) and algo in USED_FIELDS else None  # else TrainConfig says why
        known = settable_keys(algo) if algo else sorted(names - set(_OWN_FLAGS))
        hint = other_name_hint(key, algo) or did_you_mean(key, known)
        whose = f"{algo}'s keys" if algo else "known"
        raise ValidationError(f"--set: unknown hyperparameter {key!r}{hint}; {whose}: {', '.join(known)}")


def _check_run_config_keeps_its_task(path: str, d: dict, given: dict) -> None:
    """A run's config.json holds every hyperparameter resolved for its algorithm and task (TRES
    on Swimmer: K = 15, sigma = 0.03, lr = 1; on Ant the defaults are K = 1, sigma = 0.012, lr =
    2.5): as ``--config`` for another ``--algo`` or ``--env`` those would silently replace the new
    defaults, so that is an error naming what to do instead."""
    from trustopt._validation import ValidationError

    changed = [flag for key, flag in (("algo", "--algo"), ("env_id", "--env"))
               if key in given and key in d and given[key] != d[key]]
    if changed:
        raise ValidationError(
            f"--config: {path} is the config.json of a {d.get('algo')} run on {d.get('env_id')}, with every "
            f"hyperparameter resolved for that task; with another {' and '.join(changed)} they would replace "
            f"the new defaults: keep {changed[0]} as it was, or give a config file with only the settings you mean")


def _check_resume_keeps(out: str, saved: dict, given: dict) -> None:
    """A resumed run keeps its settings: a flag that would change one (other than
    :func:`~trustopt.train.run_folder.resumable_fields`) is an error that names it."""
    from trustopt._validation import ValidationError
    from trustopt.train.run_folder import resumable_fields

    free = resumable_fields(saved)
    changed = sorted(k for k, v in given.items() if k in saved and k not in free and saved[k] != v)
    if changed:
        why = ", with restarts, which are decided on the evaluations" if saved.get("restart_below") is not None else ""
        raise ValidationError(
            f"--resume: {out} was trained with " + ", ".join(f"{k}={saved[k]!r}" for k in changed)
            + f", not {', '.join(f'{k}={given[k]!r}' for k in changed)}; a resumed run keeps its settings "
            f"(only {', '.join(free)} may change{why}): drop those flags or choose another --out")


def _json_or_text(value: str):
    """A command-line value: JSON when it parses (``0``, ``true``, ``[1, 2]``), else the text itself."""
    try:
        return json.loads(value)
    except ValueError:
        return value


#: Seconds a seed of ``--procs`` gets to stop after SIGTERM (its own workers are killed within
#: :data:`trustopt.workers.SHUTDOWN_GRACE`) before it is killed.
SEED_STOP_GRACE = 30.0


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, job schedulers), taken down the Ctrl-C path: the trainer's
    ``finally`` blocks close the worker backend and the last checkpoint stays valid."""


@contextmanager
def _stop_signals_as_interrupt():
    """While training: SIGTERM raises :class:`_Terminated` in this process, and the first SIGINT
    (Ctrl-C) raises ``KeyboardInterrupt`` as usual, but both are taken once. From the first on,
    SIGINT is ignored for the rest of the process (where SIGINT is ignored already, as in the seeds
    of ``--procs``, it stays so), so that a Ctrl-C pressed again while the workers
    are closed and the checkpoint kept cannot cut that short, nor interrupt Python's own exit (which
    then waited forever on a half-closed process pool); a second SIGTERM takes the default action.
    Without a stop the previous handlers are restored afterwards. Worker processes forked meanwhile
    inherit the handlers: in any other process SIGTERM takes its default action (the worker ends,
    as before) and SIGINT is ignored, as the workers ignore it."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    owner, stopped = os.getpid(), []

    def on_sigterm(signum, frame):
        # a second SIGTERM takes the default action, also where Python drops the exception raised
        # here (an at-fork hook, a __del__), which would otherwise swallow SIGTERM
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if os.getpid() != owner:
            os.kill(os.getpid(), signal.SIGTERM)
            return
        stopped.append(signum)
        raise _Terminated()

    def on_sigint(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if os.getpid() != owner:
            return
        stopped.append(signum)
        raise KeyboardInterrupt()

    previous = signal.signal(signal.SIGTERM, on_sigterm), signal.getsignal(signal.SIGINT)
    if previous[1] is signal.default_int_handler:  # not where SIGINT is ignored (a seed of --procs)
        signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        if not stopped and signal.getsignal(signal.SIGINT) is on_sigint:
            signal.signal(signal.SIGINT, previous[1])


def _check_seed_flags(args) -> None:
    """``--seeds``: not with ``--seed``, and no seed twice."""
    from trustopt._validation import ValidationError

    if args.seed is not None:
        raise ValidationError("--seeds: give either --seed S or --seeds S1 S2 ..., not both")
    dup = sorted({s for s in args.seeds if args.seeds.count(s) > 1})
    if dup:
        raise ValidationError(f"--seeds: seed {dup[0]} is given twice")


def _seed_runs(args) -> list:
    """``[(args, config), ...]``: one entry per seed of ``--seeds`` (``out`` = ``OUT/seed-S``), or
    ``args`` itself; every configuration is checked before the first run starts. With ``--resume``,
    the seeds that have a checkpoint continue and those that never started start, with the settings
    of a started seed's config.json unless ``--config`` is given."""
    from trustopt._validation import ValidationError
    from trustopt.train.run_folder import CHECKPOINT

    if args.seeds is None:
        return [(args, _train_config(args))]
    _check_seed_flags(args)
    if os.path.exists(os.path.join(args.out, CHECKPOINT)):  # trustopt plot would draw it and not its seeds
        raise ValidationError(f"--out: {args.out} holds a single run (checkpoint.pkl), and the seeds would go in "
                              "seed-S folders inside it; choose another --out")
    outs = {s: os.path.join(args.out, f"seed-{s}") for s in args.seeds}
    started = [s for s in args.seeds if os.path.exists(os.path.join(outs[s], CHECKPOINT))]
    if args.resume and not started:
        raise ValidationError(f"--resume: {args.out} holds no run of seeds {', '.join(map(str, args.seeds))} "
                              "(seed-S folders with a checkpoint) to resume")
    runs = []
    for s in args.seeds:
        one = argparse.Namespace(**{**vars(args), "seed": s, "seeds": None, "out": outs[s]})
        if args.resume and s not in started:  # interrupted before this seed began
            one.resume = False
            if one.config is None:
                one.config = os.path.join(outs[started[0]], "config.json")
        runs.append((one, _train_config(one)))
    return runs


def _cmd_train(args) -> int:
    from trustopt._validation import ValidationError
    from trustopt.train import train

    if args.show_config:
        return _show_config(args)
    if args.out is None:
        neither = args.env_id is None and args.config is None and not args.resume
        raise ValidationError("--env and --out: required (e.g. --env Swimmer-v5 --out runs/swimmer)" if neither
                              else "--out: required (the run folder)")
    if args.ray_address is not None and args.backend != "ray":
        raise ValidationError("--ray-address: only applies to --backend ray")
    if args.backend == "serial" and args.workers > 1:
        raise ValidationError(f"--workers: the serial backend runs every episode in this process; give "
                              f"--backend process (or ray) for {args.workers} workers")
    runs = _seed_runs(args)
    if args.procs > 1:
        _check_procs(args)
        code = _train_side_by_side(runs, args)
        if code:
            return code
    else:
        for i, (one, config) in enumerate(runs):
            try:
                _train_one(one, config, args)
            except Exception as exc:  # (Ctrl-C: main says it, for every seed alike)
                failure = None if args.seeds is None else _seed_failure(exc, one)
                if failure is None:
                    raise
                code, line = failure  # said as --procs says it: which seed, and which never started
                print(line + _not_started([o.seed for o, _ in runs[i + 1:]]), file=sys.stderr)
                return code
    if args.seeds is not None:
        print(f"trustopt: {len(runs)} seeds in {args.out}{_seeds_said(runs)}; draw them with: trustopt plot "
              f"{args.out} -o curves.png")
    return 0


def _seeds_said(runs) -> str:
    """What ``--seeds`` did, from each seed's ``progress.csv``: ``": last evaluations 96.31 to 340.12
    (median 301.20); --target 325 reached by 2 of 3 seeds (at 210,000 to 320,000 timesteps); 2
    restarts (seeds 1, 2)"``, each part only where the runs have it. A seed reached ``--target``
    when one of its evaluations is at or above it (the budget's last included, which a run does
    not stop at)."""
    import numpy as np

    from trustopt.train.plot import read_progress, restart_rows

    last, hits, restarted, parts = [], [], {}, []
    target = runs[0][1].target
    for one, _ in runs:
        p = read_progress(one.out)
        ev = p.get("eval_mean", np.zeros(0))
        done = np.flatnonzero(np.isfinite(ev))
        if done.size:
            last.append(ev[done[-1]])
        reached = done[ev[done] >= target] if target is not None else done[:0]
        if reached.size:
            hits.append(int(p["timesteps"][reached[0]]))
        if (n := restart_rows(p).size):
            restarted[one.seed] = n
    if last:
        lo, hi = min(last), max(last)
        of = "" if len(last) == len(runs) else f" (of the {len(last)} seeds with one)"
        parts.append(f"last evaluation {lo:.2f}{of}" if len(last) == 1 else
                     f"last evaluations all {lo:.2f}{of}" if lo == hi else
                     f"last evaluations {lo:.2f} to {hi:.2f} (median {float(np.median(last)):.2f}){of}")
    if target is not None:
        at = "" if not hits else f" (at {min(hits):,} timesteps)" if len(hits) == 1 else \
            f" (at {min(hits):,} to {max(hits):,} timesteps)"
        parts.append(f"--target {target:g} reached by {len(hits)} of {len(runs)} seeds{at}")
    if restarted:
        n = sum(restarted.values())
        parts.append(f"{n} restart{'s' if n > 1 else ''} (seed{'s' if len(restarted) > 1 else ''} "
                     f"{', '.join(map(str, restarted))})")
    return (": " + "; ".join(parts)) if parts else ""


def _train_one(one, config, args) -> None:
    """One run (one seed of ``--seeds``: ``one.out`` is its folder), then its one-line summary."""
    from trustopt.train import train

    with _stop_signals_as_interrupt():
        res = train(config, one.out, workers=args.workers, backend=args.backend, resume=one.resume,
                    # None: a bar on a terminal only; none for seeds side by side (their bars would interleave)
                    progress=False if args.no_progress or args.procs > 1 else None,
                    ray_address=args.ray_address,
                    # a resumed run that logged to OUT/tb goes on logging there
                    tensorboard=args.tensorboard or (one.resume and os.path.isdir(os.path.join(one.out, "tb"))))
    ev = "" if res.last_eval is None else f", last evaluation {res.last_eval[0]:.2f} +- {res.last_eval[1]:.2f}"
    if res.last_eval is not None and res.last_eval_iteration != res.iterations:  # e.g. extended with --eval-every 0
        ev += f" (of iteration {res.last_eval_iteration}; `trustopt eval {res.out}` scores the saved one)"
    print(f"trustopt: {res.config.algo} on {res.config.env_id} seed {res.config.seed}: stopped ({res.stop_reason}) "
          f"after {res.iterations} iteration{'' if res.iterations == 1 else 's'}, {res.timesteps} timesteps, "
          f"{res.wall_s:.1f} s{ev}{_restarts_said(res)}; policy in {os.path.join(res.out, 'policy.npz')}",
          flush=True)
    if one.resume and res.iterations_run == 0:
        more = {"timesteps": "a larger --timesteps", "target": "a higher --target"}.get(res.stop_reason)
        print(f"trustopt: {res.out} had stopped there: nothing to resume"
              + (f" ({more} continues it)" if more else ""), flush=True)


def _restarts_said(res) -> str:
    """``", 2 restarts, best evaluation 155.80 in best_policy.npz"`` (nothing without restarts)."""
    if res.restarts == 0:
        return ""
    best = "" if res.best_eval is None else f", best evaluation {res.best_eval:.2f} in best_policy.npz"
    return f", {res.restarts} restart{'' if res.restarts == 1 else 's'}{best}"


def _show_config(args) -> int:
    """``--show-config``: the resolved :class:`~trustopt.train.TrainConfig` as JSON on stdout, without
    the keys of other algorithms (usable as ``--config``)."""
    from trustopt._validation import ValidationError
    from trustopt.train import resolve_config
    from trustopt.train.config import USED_FIELDS, settable_keys

    if args.out is not None:  # the first run the command would start or resume, its checks included
        config = resolve_config(_seed_runs(args)[0][1])
    elif args.resume:
        raise ValidationError("--out: required with --resume (the run whose settings to show)")
    else:
        if args.seeds is not None:
            _check_seed_flags(args)
        one = args if args.seeds is None else argparse.Namespace(**{**vars(args), "seed": args.seeds[0],
                                                                   "seeds": None})
        config = resolve_config(_train_config(one))
    others = set().union(*(settable_keys(a) for a in USED_FIELDS)) - set(settable_keys(config.algo))
    print(json.dumps({k: v for k, v in config.to_dict().items() if k not in others}, indent=2, sort_keys=True))
    return 0


def _check_procs(args) -> None:
    """``--procs P`` (P > 1) fits the command: it needs ``--seeds``, the local backends, and P
    runs of ``--workers`` processes each within this machine's cap on local processes."""
    from trustopt._validation import ValidationError
    from trustopt.workers import local_cap_text, max_local_workers

    if args.seeds is None:
        raise ValidationError("--procs: runs seeds side by side; give --seeds S1 S2 ... (or --procs 1)")
    if args.backend == "ray":
        raise ValidationError("--procs: not with --backend ray (each run would start its own Ray instance); "
                              "run the seeds one after the other, each with --workers actors")
    total = args.procs * args.workers
    if total > max_local_workers():
        raise ValidationError(f"--procs: {args.procs} runs x {args.workers} workers = {total} local processes, more than "
                              f"the {max_local_workers()} this machine allows {local_cap_text()}")


def _train_side_by_side(runs, args) -> int:
    """``--procs P``: the seeds' runs, ``P`` at a time, each in a spawned process; the exit code
    of the first seed that failed (0 if none), after the seeds still running have ended.

    Every run is the same as in sequence (its own seed, folder and workers; nothing is shared).
    On Ctrl-C or SIGTERM this process passes SIGTERM on to each running seed, which stops as a
    single run does (checkpoint intact), waits for them, and re-raises. The seeds ignore SIGINT
    (Ctrl-C reaches every process of the terminal's group: one decision, here) and exit when this
    process is gone (``kill -9``)."""
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")
    todo, running, failed = list(runs), {}, None
    print(f"trustopt: {len(runs)} seeds, {min(args.procs, len(runs))} at a time in their own processes (no "
          f"progress bars: each seed's progress is {os.path.join(args.out, 'seed-S', 'progress.csv')})", flush=True)
    try:
        with _stop_signals_as_interrupt():
            while todo or running:
                while todo and failed is None and len(running) < args.procs:
                    one, config = todo.pop(0)
                    proc = ctx.Process(target=_seed_process, args=(one, config, args, os.getpid()),
                                       name=f"trustopt seed {one.seed}")
                    # SIGINT blocked while the seed starts: it inherits the mask (so a Ctrl-C now cannot
                    # kill it half started) and ignores SIGINT before unblocking; here it stays pending
                    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                    try:
                        proc.start()
                    finally:
                        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                    running[one.seed] = proc
                if not running:
                    break
                wait([proc.sentinel for proc in running.values()])
                for seed, proc in list(running.items()):
                    if proc.exitcode is not None:
                        del running[seed]
                        if proc.exitcode != 0 and failed is None:
                            failed = (seed, proc.exitcode)
    except KeyboardInterrupt:
        for proc in running.values():
            if proc.exitcode is None:
                proc.terminate()  # SIGTERM: the seed stops at once, its last checkpoint valid
        for proc in running.values():
            proc.join(SEED_STOP_GRACE)
            if proc.exitcode is None:
                proc.kill()
                proc.join()
        raise
    if failed is None:
        return 0
    seed, code = failed
    how = f"exit code {code}" if code > 0 else f"killed by {signal.Signals(-code).name}"  # e.g. the OOM killer's
    print(f"trustopt: error: seed {seed} failed ({how}){_not_started([one.seed for one, _ in todo])}",
          file=sys.stderr)
    return code if code > 0 else 1


def _not_started(seeds: list[int]) -> str:
    """``"; not started: seeds 3, 4"`` after a failed seed (``""`` when none is left)."""
    return f"; not started: seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds else ""


def _seed_process(one, config, args, parent: int) -> None:
    """``--procs``: one seed's run in its own process (a spawned :class:`multiprocessing.Process`);
    exits with the code ``trustopt train`` would give for that seed alone. SIGINT is ignored (the
    parent decides on Ctrl-C and sends SIGTERM, which the run takes as an interrupt); the process
    exits when ``parent`` is gone."""
    from trustopt.workers import exit_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    exit_with_parent(parent)  # (spawn gives this process the parent's sys.path: --env-module ./my_envs.py is found)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            _train_one(one, config, args)
    except BaseException as exc:
        if isinstance(exc, _Terminated):  # sent by the parent, which says so once for every seed
            sys.exit(143)
        failure = _seed_failure(exc, one)
        if failure is None:
            raise
        code, line = failure
        print(line, file=sys.stderr, flush=True)
        sys.exit(code)


def _seed_failure(exc: BaseException, one) -> tuple[int, str] | None:
    """:func:`_failure` for the run of one seed of ``--seeds``, its line naming the seed."""
    failure = _failure(exc, "train", one.out)
    if failure is None:
        return None
    code, line = failure
    return code, line.replace("trustopt: ", f"trustopt: seed {one.seed}: ", 1)


def _cmd_eval(args) -> int:
    import numpy as np

    from trustopt._validation import ValidationError

    from trustopt._io import atomic_write_bytes, check_writable, writing
    from trustopt.train import evaluate_policy, load_policy
    from trustopt.workers import check_local_workers

    if args.video_episodes is not None and args.video is None:
        raise ValidationError("--video-episodes: only applies with --video DIR")
    check_local_workers(args.workers, "process", more="")  # before a video is recorded; eval has no --backend
    _, env_id, _ = load_policy(args.run)
    to_stdout = args.json_path == "-"
    say = sys.stderr if to_stdout else sys.stdout  # stdout holds the JSON alone
    if args.json_path is not None and not to_stdout:  # before the episodes run, not after
        check_writable("--json", args.json_path)
    from trustopt.train.run_folder import policy_eval_seeds

    if args.video is not None:  # before the episodes: a missing moviepy or renderer is said at once
        from trustopt.train.video import check_video_dir, record_video

        check_video_dir(args.video)  # before saying that it records
        n_videos = 1 if args.video_episodes is None else args.video_episodes
        # software rendering is slow: say what runs (2 HalfCheetah episodes of 1,000 steps took 113 s
        # with Mesa's EGL on a 2-core machine)
        print(f"{env_id}: recording {n_videos} episode{'' if n_videos == 1 else 's'} into {args.video} (offscreen "
              "rendering; on a CPU about a minute per 1,000-step episode)", file=say, flush=True)
        files = record_video(args.run, args.video, episodes=n_videos,
                             seeds=policy_eval_seeds(args.seed, n_videos))
        print(f"{env_id}: {len(files)} video{'' if len(files) == 1 else 's'} in {args.video}", file=say)
    G = evaluate_policy(args.run, episodes=args.episodes, seed=args.seed, workers=args.workers)
    print(f"{env_id}: return {G.mean():.2f} +- {G.std():.2f} over {G.size} episode{'' if G.size == 1 else 's'} "
          f"(min {G.min():.2f}, max {G.max():.2f})", file=say)
    if args.json_path is not None:
        text = json.dumps({"env_id": env_id, "episodes": int(G.size), "mean": float(G.mean()),
                           "std": float(G.std()), "returns": [float(g) for g in np.asarray(G)],
                           # env.reset(seed=s) of each episode: a loop of one's own replays them
                           "reset_seeds": policy_eval_seeds(args.seed, G.size)},
                          indent=1)
        if to_stdout:
            print(text, flush=True)
            return 0
        with writing("--json", args.json_path):
            atomic_write_bytes(args.json_path, (text + "\n").encode())
    return 0


def _cmd_plot(args) -> int:
    from trustopt.train import plot_runs

    print(plot_runs(args.runs, args.output, target=args.target, title=args.title, agg=args.agg))
    return 0


def _one_line(exc: BaseException) -> str:
    """The message of an error the command line reports without a traceback."""
    if isinstance(exc, MemoryError):
        return (f"out of memory ({exc or 'allocation failed'}); a setting asks for more memory than this "
                "machine has (e.g. --set noise_table_size, batch_steps, n_directions or --eval-episodes)")
    if isinstance(exc, OSError) and not isinstance(exc, ValueError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{where}{': ' if where else ''}{exc.strerror}"
    return " ".join(str(exc).split())  # one line even when a message spans several


def _flag_named(message: str, command: str) -> str:
    """An error that starts with a name having a flag of its own in ``command`` (``env_id: ...``,
    ``out: ...``, raised by the library for its Python callers) names the flag instead (``--env: ...``)."""
    field, sep, rest = message.partition(": ")
    flags = _FLAG_OF.get(command, {})
    return f"{flags[field]}{sep}{rest}" if sep and field in flags else message


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """trustopt's own warnings, and MuJoCo's about a model (which the line of trustopt that built it
    would not explain), as one line on stderr (``trustopt: warning: ...``); others as Python shows them."""
    from trustopt.envs import MujocoWarning
    from trustopt.train.config import IdleSettingWarning
    from trustopt.train.run_folder import VersionMismatchWarning

    if issubclass(category, (VersionMismatchWarning, MujocoWarning, IdleSettingWarning)):
        print(f"trustopt: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _working_directory_on_path() -> None:
    """The console script's ``sys.path[0]`` is its own folder, not the working directory that
    ``python -m trustopt`` puts there: append the working directory (after the installed packages,
    so it shadows none), so that ``--env-module my_envs`` finds ``./my_envs.py`` either way (as the
    zoo's ``--gym-packages`` does). Worker processes inherit ``sys.path``."""
    cwd = os.getcwd()
    if not any(os.path.abspath(p or os.curdir) == cwd for p in sys.path):
        sys.path.append(cwd)


def main(argv=None) -> int:
    """Entry point of the ``trustopt`` console script; returns the exit code."""
    try:
        parser = build_parser()  # imports the library's algorithm names (about a second on a busy machine)
        args = _parse(parser, argv)
    except KeyboardInterrupt:  # Ctrl-C while it imports: nothing ran yet
        print("trustopt: interrupted", file=sys.stderr)
        return 130
    _working_directory_on_path()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return {"train": _cmd_train, "eval": _cmd_eval, "plot": _cmd_plot}[args.command](args)
    except BaseException as exc:
        failure = _failure(exc, args.command, getattr(args, "out", None), getattr(args, "seeds", None))
        if failure is None:  # a bug, or SystemExit: Python's own report
            raise
        code, line = failure
        print(line, file=sys.stderr)
        return code


def _failure(exc: BaseException, command: str, out: str | None, seeds=None) -> tuple[int, str] | None:
    """The exit code and the one line on stderr for ``exc``, raised by ``command`` (``out``: the
    run folder of ``train``, ``seeds``: its ``--seeds``), or None for an exception that is not an
    expected failure. An interrupt is judged first: it may have come while a module was being
    imported, which a second import of it could not finish."""
    if isinstance(exc, KeyboardInterrupt):
        how, code = ("terminated (SIGTERM)", 143) if isinstance(exc, _Terminated) else ("interrupted", 130)
        if command != "train":
            return code, f"trustopt: {how}"
        kept = ("the last checkpoint is intact (rerun with --resume)" if _resumable(command, out, seeds)
                else "nothing was saved yet (rerun the same command)")
        return code, f"trustopt: {how}; {kept}"
    from trustopt._validation import ValidationError
    from trustopt.workers import WorkerError

    if isinstance(exc, (ValidationError, OSError, MemoryError)):
        # bad input, a missing extra, a file that cannot be read or written (full disk, read-only
        # folder), not enough memory: the message says what to change; a traceback would not
        message = _one_line(exc)
        return 2, f"trustopt: error: {_flag_named(message, command)}"
    if isinstance(exc, WorkerError):  # a fault, not bad input: exit 1, still one line
        kept = "; the last checkpoint is intact (rerun with --resume)" if _resumable(command, out, seeds) else ""
        return 1, f"trustopt: error: {exc}{kept}"
    return None


def _resumable(command: str, out: str | None, seeds=None) -> bool:
    """Whether ``train --out OUT`` left a checkpoint that ``--resume`` would continue: ``OUT``'s
    own, or with ``--seeds`` one of those seeds' (``OUT/seed-S``; another seed's folder there
    would not make ``--resume --seeds ...`` resume anything)."""
    if command != "train" or not out:
        return False
    from trustopt.train.run_folder import CHECKPOINT  # (imported already: the parser imports trustopt.train)

    folders = [out] if seeds is None else [os.path.join(out, f"seed-{s}") for s in seeds]
    return any(os.path.exists(os.path.join(f, CHECKPOINT)) for f in folders)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
