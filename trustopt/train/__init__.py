"""Linear-policy MuJoCo experiments: configuration, the training driver, evaluation, plots.

    from trustopt.train import TrainConfig, train, evaluate_policy, plot_runs
    res = train(TrainConfig(env_id="Swimmer-v5", algo="tres", timesteps=200_000, seed=0,
                            target=128.0), "runs/x", workers=2)
    returns = evaluate_policy("runs/x", episodes=100)
    plot_runs(["runs/x"], "curves.png")

The command line ``trustopt train|eval|plot`` (:mod:`trustopt.cli`) wraps these.
"""

from trustopt.train.checkpoint import CheckpointError
from trustopt.train.config import ES_ALGOS, PG_ALGOS, IdleSettingWarning, TrainConfig, config_from_dict, resolve_config
from trustopt.train.plot import plot_runs, read_progress
from trustopt.train.run_folder import (VersionMismatchWarning, evaluate_policy, library_versions, load_env,
                                       load_policy)
from trustopt.train.trainer import PG_PROGRESS_COLUMNS, PROGRESS_COLUMNS, TrainResult, normalizer_arrays, train

__all__ = [
    "CheckpointError",
    "ES_ALGOS",
    "IdleSettingWarning",
    "PG_ALGOS",
    "PG_PROGRESS_COLUMNS",
    "PROGRESS_COLUMNS",
    "TrainConfig",
    "TrainResult",
    "VersionMismatchWarning",
    "config_from_dict",
    "evaluate_policy",
    "library_versions",
    "load_env",
    "load_policy",
    "normalizer_arrays",
    "plot_runs",
    "read_progress",
    "resolve_config",
    "train",
]
