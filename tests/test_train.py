"""Training driver: bit-identical across worker counts, the normalizer equals a single pass over
the observations, the ES rollout sampler against direct rollouts, checkpoints/resume (and the
refusal of another version's), target stop, configuration validation and defaults, no import
circle among the driver's modules."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np
import pytest

from trustopt._validation import ValidationError
from trustopt.algorithms import get
from trustopt.envs import EnvSpec, LinearPolicy, rollout
from trustopt.estimators import RunningMeanStd
from trustopt.noise import NoiseTable
from trustopt.train import (
    PROGRESS_COLUMNS,
    CheckpointError,
    TrainConfig,
    load_policy,
    normalizer_arrays,
    read_progress,
    resolve_config,
    train,
)
from trustopt.train.checkpoint import MAGIC, load_checkpoint, save_checkpoint
from trustopt.train.config import config_from_dict, es_sigma, tres_epochs, tres_lr, tres_sigma
from trustopt.train.trainer import _make_optimizer

TINY = dict(env_id="Swimmer-v5", timesteps=4000, max_episode_steps=100, n_directions=4, eval_every=2,
            eval_episodes=2, noise_table_size=100_000)


def _policy_arrays(run):
    _, _, data = load_policy(run)
    return {k: data[k] for k in ("W", "obs_mean", "obs_std", "obs_count", "obs_M2")}


def _assert_same_bits(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), k


def _progress_without_wall(run):
    with open(os.path.join(run, "progress.csv")) as f:
        rows = list(csv.reader(f))
    i = rows[0].index("wall_s")
    return [r[:i] + r[i + 1:] for r in rows]


@pytest.mark.parametrize("every, expected", [(dict(eval_every=3), [3, 5]), (dict(eval_steps=1500), [2, 4, 5]),
                                             (dict(eval_every=0), [])])
def test_the_iteration_that_spends_the_budget_is_evaluated(tmp_path, every, expected):
    """Five iterations of 800 timesteps: evaluated on the grain (3; past 1,500 and 3,000) and after the
    fifth, whose policy is the one saved: the summary's last evaluation is the saved policy's."""
    res = train(TrainConfig(algo="tres", seed=1, **dict(TINY, **every)), tmp_path / "r", progress=False)
    assert (res.iterations, res.timesteps, res.stop_reason) == (5, 4000, "timesteps")
    evaluated = np.flatnonzero(~np.isnan(read_progress(tmp_path / "r")["eval_mean"])) + 1
    assert evaluated.tolist() == expected
    saved = load_policy(tmp_path / "r")[2]
    if expected:
        assert res.last_eval_iteration == 5 and float(saved["eval_mean"]) == res.last_eval[0]
    else:
        assert res.last_eval is None and np.isnan(saved["eval_mean"])


def test_the_budgets_last_evaluation_does_not_stop_at_the_target(tmp_path):
    """The evaluation of a budget's last iteration is off the grain: a run that reaches its target
    there stops by its budget, and a larger budget continues it as if it had been the budget from
    the start (it once stopped at the target there, and --resume then ran nothing)."""
    settings = dict(TINY, eval_every=100, target=-1e9)  # every evaluation reaches the target
    small = train(TrainConfig(algo="tres", seed=2, **dict(settings, timesteps=1500)), tmp_path / "r", progress=False)
    assert small.stop_reason == "timesteps" and small.last_eval_iteration == small.iterations == 2
    ref = train(TrainConfig(algo="tres", seed=2, **settings), tmp_path / "ref", progress=False)
    grown = train(TrainConfig(algo="tres", seed=2, **settings), tmp_path / "r", resume=True, progress=False)
    assert (grown.iterations, grown.iterations_run, grown.stop_reason) == (ref.iterations, 3, "timesteps")
    _assert_same_bits(_policy_arrays(tmp_path / "ref"), _policy_arrays(tmp_path / "r"))


@pytest.mark.parametrize("algo", ["tres", "ars", "es"])
def test_same_bits_with_one_and_two_workers(tmp_path, algo):
    cfg = TrainConfig(algo=algo, seed=3, **TINY)
    r1 = train(cfg, tmp_path / "w1", workers=1, progress=False)
    r2 = train(cfg, tmp_path / "w2", workers=2, progress=False)
    assert r1.iterations == r2.iterations == 5 and r1.timesteps == 4000
    a, b = _policy_arrays(tmp_path / "w1"), _policy_arrays(tmp_path / "w2")
    _assert_same_bits(a, b)
    assert np.any(a["W"] != 0.0)  # it moved (the comparison is not between two zero matrices)
    assert _progress_without_wall(tmp_path / "w1") == _progress_without_wall(tmp_path / "w2")
    p = read_progress(tmp_path / "w1")
    assert tuple(p) == PROGRESS_COLUMNS
    assert np.isnan(p["eval_mean"][0]) and not np.isnan(p["eval_mean"][1])  # eval every 2 iterations


def test_normalizer_equals_single_pass_over_all_observations(tmp_path):
    """Independent reference: rebuild the first iteration's 2N policies from the optimizer's own
    ask() (NoiseTable.perturb), record every rollout, and compute mean/M2 in one pass."""
    cfg = TrainConfig(algo="tres", seed=5, **{**TINY, "timesteps": 1, "eval_every": 0})
    train(cfg, tmp_path / "r", workers=2, progress=False)
    got = _policy_arrays(tmp_path / "r")

    c = resolve_config(cfg)
    spec = EnvSpec(env_id=c.env_id, max_episode_steps=c.max_episode_steps)
    env = spec.make()
    opt = _make_optimizer(c, env.obs_dim * env.act_dim)  # the trainer's optimizer, asked once
    X = opt.ask()
    seeds = np.random.SeedSequence([c.seed, 0, 0]).generate_state(c.n_directions, dtype=np.uint32)
    obs = []
    for j, x in enumerate(X):
        pol = LinearPolicy(W=x.reshape(env.act_dim, env.obs_dim))  # first iteration: mean 0, std 1
        res = rollout(spec, pol, seed=int(seeds[j % c.n_directions]), record=True)
        obs.append(np.array(res.trajectory.obs))
    ref = RunningMeanStd.from_batch(np.concatenate(obs))
    assert int(got["obs_count"]) == ref.count == 2 * c.n_directions * 100
    # pairwise merges vs one pass: equal up to round-off, |error| <~ n * eps * scale
    scale = np.abs(ref.mean) + np.sqrt(ref.var)
    np.testing.assert_allclose(got["obs_mean"], ref.mean, rtol=0, atol=1e-12 * scale.max())
    np.testing.assert_allclose(got["obs_M2"], ref.M2, rtol=1e-10)
    np.testing.assert_allclose(got["obs_std"], np.sqrt(ref.var), rtol=1e-10)


def test_normalizer_arrays_floor_and_disabled():
    rms = RunningMeanStd.from_batch(np.array([[1.0, 2.0], [3.0, 2.0]]))
    mean, std = normalizer_arrays(rms)
    assert mean.tolist() == [2.0, 2.0] and std.tolist() == [1.0, 1.0]  # second: variance 0 -> 1
    mean, std = normalizer_arrays(rms, enabled=False)
    assert mean.tolist() == [0.0, 0.0] and std.tolist() == [1.0, 1.0]
    mean, std = normalizer_arrays(RunningMeanStd.empty(3))
    assert mean.tolist() == [0.0] * 3 and std.tolist() == [1.0] * 3


def test_resume_in_process_equals_uninterrupted(tmp_path):
    """Resume from an intermediate checkpoint (saved copy) reproduces the uninterrupted run."""
    cfg = TrainConfig(algo="tres", seed=1, **TINY)
    ref = tmp_path / "ref"
    snapshots = []

    def grab(intermediate_result):  # trustopt's callback convention: the progress row and x
        if intermediate_result["iteration"] == 2:
            snapshots.append(open(ref / "checkpoint.pkl", "rb").read())
            snapshots.append(open(ref / "progress.csv", "rb").read())

    train(cfg, ref, workers=1, progress=False, callback=grab)
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    (crashed / "checkpoint.pkl").write_bytes(snapshots[0])
    (crashed / "progress.csv").write_bytes(snapshots[1] + b"3,999,garbage row written after the checkpoint\n")
    res = train(cfg, crashed, workers=2, resume=True, progress=False)
    assert res.iterations == 5
    _assert_same_bits(_policy_arrays(ref), _policy_arrays(crashed))
    assert _progress_without_wall(ref) == _progress_without_wall(crashed)
    # resuming a finished run changes nothing
    train(cfg, crashed, workers=1, resume=True, progress=False)
    _assert_same_bits(_policy_arrays(ref), _policy_arrays(crashed))


def test_checkpoint_errors(tmp_path):
    cfg = TrainConfig(algo="ars", seed=0, **{**TINY, "timesteps": 500})
    run = tmp_path / "r"
    train(cfg, run, progress=False)
    with pytest.raises(CheckpointError, match="already holds a run"):
        train(cfg, run, progress=False)
    with pytest.raises(CheckpointError, match="different configuration.*seed"):
        train(TrainConfig(algo="ars", seed=1, **{**TINY, "timesteps": 500}), run, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="does not exist"):
        train(cfg, tmp_path / "nothing", resume=True, progress=False)
    ck = run / "checkpoint.pkl"
    data = ck.read_bytes()
    ck.write_bytes(data[:-10])  # truncated
    with pytest.raises(CheckpointError, match="corrupt"):
        train(cfg, run, resume=True, progress=False)
    ck.write_bytes(b"not a checkpoint at all, no header")
    with pytest.raises(CheckpointError, match="bad header"):
        load_checkpoint(ck)
    flipped = bytearray(data)
    flipped[-1] ^= 0xFF
    ck.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(ck)
    save_checkpoint(ck, {"config": {}, "state": 1})
    assert ck.read_bytes().startswith(MAGIC) and load_checkpoint(ck)["state"] == 1
    assert not [p for p in os.listdir(run) if p.startswith(".tmp-")]  # no temp files left behind


def test_target_stops_at_first_evaluation_reaching_it(tmp_path):
    cfg = TrainConfig(algo="tres", seed=0, **{**TINY, "eval_every": 3}, target=-1e9)
    res = train(cfg, tmp_path / "r", progress=False)
    assert res.stop_reason == "target" and res.iterations == 3 and res.last_eval is not None
    with pytest.raises(ValidationError, match="^target: a run stops at its target after an evaluation"):
        TrainConfig(algo="tres", seed=0, **{**TINY, "eval_every": 0}, target=-1e9)  # it could never stop there


def test_config_validation_and_paper_defaults():
    with pytest.raises(ValidationError, match="env_id: unknown environment 'Swimer-v5'.*Swimmer-v5"):
        TrainConfig(env_id="Swimer-v5")
    with pytest.raises(ValidationError, match="sigma: a hyperparameter of the ES family"):
        TrainConfig(env_id="Swimmer-v5", algo="trpo", sigma=0.1)
    with pytest.raises(ValidationError, match="algo: unknown"):
        TrainConfig(env_id="Swimmer-v5", algo="cma")
    for algo, bad in [("tres", dict(sigma=-1.0)), ("tres", dict(sigma=float("nan"))), ("tres", dict(lr=0)),
                      ("tres", dict(timesteps=0)), ("tres", dict(seed=-1)), ("tres", dict(n_directions=0)),
                      ("ars", dict(top_directions=5, n_directions=4)), ("es", dict(optimizer="rmsprop")),
                      ("tres", dict(eval_every=-1)), ("tres", dict(obs_norm=1)), ("es", dict(l2=-0.1)),
                      ("tres", dict(K=True)), ("tres", dict(target=True)), ("tres", dict(target=float("inf"))),
                      ("es", dict(n_directions=10**20)), ("trpo", dict(gamma=1.5)), ("ppo", dict(lambda_=-0.1)),
                      ("trpo", dict(delta=0.0)), ("ppo", dict(epsilon=float("nan"))), ("trpo", dict(cg_damping=-1.0)),
                      ("trpo", dict(init_log_std=float("-inf"))), ("trpo", dict(gamma=False))]:
        with pytest.raises(ValidationError, match=f"^{next(iter(bad))}: (expected|must)"):
            TrainConfig(env_id="Swimmer-v5", algo=algo, **bad)
    with pytest.raises(ValidationError, match=r"^n_directions: expected an integer in \[1, 1000000\], got 1000000000$"):
        TrainConfig(env_id="Swimmer-v5", n_directions=10**9)  # would exhaust the memory, not fail in NumPy
    with pytest.raises(ValidationError, match=r"^target: expected a finite number, got 1000"):
        TrainConfig(env_id="Swimmer-v5", target=10**400)  # beyond any float
    # NumPy numbers are the Python numbers they hold, so that config.json is JSON
    numpy_made = TrainConfig(env_id="Swimmer-v5", sigma=np.float32(0.5), n_directions=np.int64(3), target=np.int64(30),
                             obs_norm=np.bool_(False))
    assert numpy_made.to_dict() == TrainConfig(env_id="Swimmer-v5", sigma=0.5, n_directions=3, target=30,
                                               obs_norm=False).to_dict()
    json.dumps(numpy_made.to_dict())
    ars = resolve_config(TrainConfig(env_id="HalfCheetah-v5", algo="ars"))
    assert (ars.lr, ars.sigma, ars.n_directions, ars.top_directions) == (0.02, 0.03, 32, 4)  # Mania et al. Table 9
    tres = resolve_config(TrainConfig(env_id="HalfCheetah-v5", algo="tres"))
    assert (tres.lambda_, tres.K, tres.sigma) == (14.0, 15, 0.03)  # TRES Fig. 3-4; sigma measured (TRES_SIGMA)
    es = resolve_config(TrainConfig(env_id="Ant-v5", algo="es"))
    assert (es.lr, es.l2, es.optimizer, es.n_directions) == (0.01, 0.005, "adam", 16)
    # TRES and ES: one configuration for every task (no per-task table), the factories' paper mode;
    # TRES's epochs, sigma and lr by one rule each on the policy's size (tres_epochs, tres_sigma, tres_lr)
    envs = ("Swimmer-v5", "Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5",
            "InvertedDoublePendulum-v5", "InvertedPendulum-v5")
    for algo in ("tres", "es"):
        resolved = [resolve_config(TrainConfig(env_id=env, algo=algo)) for env in envs]
        names = ("n_directions", "lambda_", "l2", "optimizer") + (() if algo == "tres" else ("lr",))
        settings = {tuple(getattr(c, f) for f in names) for c in resolved}
        assert len(settings) == 1
        assert 2 * settings.pop()[0] == get(algo)(None, theta0=np.zeros(5), sigma0=0.02, adapt=False).sampler.popsize
    assert {env: resolve_config(TrainConfig(env_id=env, algo="es")).sigma for env in envs} == {  # es_sigma
        "Swimmer-v5": 0.029, "Hopper-v5": 0.025, "HalfCheetah-v5": 0.02, "Walker2d-v5": 0.02, "Ant-v5": 0.02,
        "Humanoid-v5": 0.02, "InvertedDoublePendulum-v5": 0.027, "InvertedPendulum-v5": 0.12}
    tres_runs = {env: resolve_config(TrainConfig(env_id=env, algo="tres")) for env in envs}
    assert {env: c.K for env, c in tres_runs.items()} == {**dict.fromkeys(envs, 15), "Ant-v5": 1, "Humanoid-v5": 1}
    assert {env: c.sigma for env, c in tres_runs.items()} == {  # tres_sigma: the observation's size, the action's range
        "Swimmer-v5": 0.044, "Hopper-v5": 0.037, "HalfCheetah-v5": 0.03, "Walker2d-v5": 0.03, "Ant-v5": 0.012,
        "Humanoid-v5": 0.0027, "InvertedDoublePendulum-v5": 0.041, "InvertedPendulum-v5": 0.19}
    assert {env: c.lr for env, c in tres_runs.items()} == {**dict.fromkeys(envs, 1.0), "Ant-v5": 2.5,
                                                           "Humanoid-v5": 4.5}
    assert resolve_config(TrainConfig(env_id="Ant-v5", algo="tres", K=15)).K == 15  # the paper's, when asked
    user = resolve_config(TrainConfig(env_id="Swimmer-v5", algo="tres", sigma=0.05, n_directions=3))
    assert (user.sigma, user.n_directions) == (0.05, 3)


@pytest.mark.parametrize("rule, sigma_17, floor", [(tres_sigma, 0.03, 0.0), (es_sigma, 0.02, 0.02)])
def test_sigma_rules(rule, sigma_17, floor):
    # the same perturbation of each action, relative to its range, as sigma_17 on 17 entries in
    # [-1, 1]: sigma sqrt(obs_dim) / action_scale = sigma_17 sqrt(17), to two significant digits;
    # ES never below OpenAI's 0.02 (its Adam step does not shrink with sigma)
    for n in (1, 4, 8, 9, 11, 17, 18, 27, 105, 348, 10_000):
        for h in (0.4, 1.0, 3.0):
            assert rule(n, h) == pytest.approx(max(h * sigma_17 * math.sqrt(17 / n), floor), rel=0.05)
            assert rule(n, h) == float(f"{rule(n, h):.2g}")
    assert rule(17) == sigma_17
    with pytest.raises(ValidationError, match="obs_dim"):
        rule(0)
    with pytest.raises(ValidationError, match="action_scale"):
        rule(4, 0.0)


def test_tres_sigma_rule():
    assert [tres_sigma(n) for n in (8, 9, 11, 17, 105, 348)] == [0.044, 0.041, 0.037, 0.03, 0.012, 0.0066]
    assert (tres_sigma(4, 3.0), tres_sigma(348, 0.4)) == (0.19, 0.0027)
    # the observation is the run's: Ant without its contact forces has 27 entries; a sigma given wins
    c = resolve_config(TrainConfig(env_id="Ant-v5", algo="tres", env_kwargs={"include_cfrc_ext_in_observation": False}))
    assert c.sigma == tres_sigma(27) == 0.024
    assert resolve_config(TrainConfig(env_id="Ant-v5", algo="tres", sigma=0.03)).sigma == 0.03


def test_tres_lr_rule():
    # lr sigma = 0.03 for the default sigma (2 significant digits): the step of sigma = 0.03, with the
    # samples of tres_sigma; 1 up to 17 entries, where the larger sigma brings its own longer step
    assert [tres_lr(n) for n in (1, 4, 11, 17)] == [1.0] * 4
    for n in (18, 27, 105, 348, 10_000):
        assert tres_lr(n) == float(f"{tres_lr(n):.2g}") == pytest.approx(0.03 / tres_sigma(n), rel=0.05)
    assert (tres_lr(105), tres_lr(348)) == (2.5, 4.5)
    with pytest.raises(ValidationError, match="obs_dim"):
        tres_lr(0)
    # with the default sigma only: a sigma given keeps lr = 1 (runs from before the rule rerun as they
    # ran), and an lr given wins
    ant = dict(env_id="Ant-v5", algo="tres")
    assert (resolve_config(TrainConfig(**ant)).lr, resolve_config(TrainConfig(**ant, sigma=0.012)).lr) == (2.5, 1.0)
    assert resolve_config(TrainConfig(**ant, lr=0.5)).lr == 0.5
    assert resolve_config(TrainConfig(**ant, env_kwargs={"include_cfrc_ext_in_observation": False})).lr == 1.2


def test_tres_epochs_rule():
    # the paper's 15 up to the reference size (HalfCheetah's and Walker2d's policies), 1 above
    assert [tres_epochs(d) for d in (1, 16, 33, 102)] == [15, 15, 15, 15]
    assert [tres_epochs(d) for d in (103, 216, 840, 5916)] == [1, 1, 1, 1]
    with pytest.raises(ValidationError, match="d"):
        tres_epochs(0)
    # the size is the run's policy: Ant's observation without its contact forces has 27 entries;
    # the number of pairs does not change it
    c = resolve_config(TrainConfig(env_id="Ant-v5", algo="tres", env_kwargs={"include_cfrc_ext_in_observation": False}))
    assert c.K == tres_epochs(27 * 8) == 1
    assert resolve_config(TrainConfig(env_id="HalfCheetah-v5", algo="tres", n_directions=8)).K == 15


def test_eval_steps_evaluates_on_a_grain_of_timesteps(tmp_path):
    # 8 Swimmer episodes of 100 steps per iteration: 800, 1600, 2400, 3200, 4000 timesteps; an
    # evaluation after the first iteration past each multiple of 1000 (eval_every is not used)
    cfg = TrainConfig(algo="tres", seed=0, **{**TINY, "eval_every": 1}, eval_steps=1000)
    train(cfg, tmp_path / "r", progress=False)
    p = read_progress(tmp_path / "r")
    assert p["timesteps"].tolist() == [800, 1600, 2400, 3200, 4000]
    assert np.isnan(p["eval_mean"]).tolist() == [True, False, False, False, False]
    with pytest.raises(ValidationError, match="eval_steps"):
        TrainConfig(env_id="Swimmer-v5", eval_steps=0)


@pytest.mark.parametrize("algo", ["tres", "ars"])
def test_training_improves_inverted_pendulum(tmp_path, algo):
    """The driver climbs: a sign error in the objective (telling +R to the minimizer) or in the
    perturbation pairing would leave the return at the zero policy's level (about 20-30; TRES's
    sigma for this task, 0.19, may be there after its first iteration)."""
    cfg = TrainConfig(env_id="InvertedPendulum-v5", algo=algo, timesteps=8000, seed=0, eval_every=1,
                      eval_episodes=3, noise_table_size=100_000)
    train(cfg, tmp_path / "r", progress=False)
    ev = read_progress(tmp_path / "r")["eval_mean"]
    assert np.max(ev[-3:]) > 2.5 * 30, ev


@pytest.mark.parametrize("algo", ["tres", "trpo"])
def test_progress_bar_shows_the_real_timestep_count(tmp_path, capsys, algo):
    """The last whole iteration may pass the budget: the bar ends at the run's real count, not at the total."""
    from tqdm import tqdm

    if algo == "trpo":
        cfg = TrainConfig(env_id="InvertedPendulum-v5", algo="trpo", timesteps=1500, batch_steps=1000, eval_every=0,
                          max_episode_steps=200)
    else:
        cfg = TrainConfig(algo="tres", **dict(TINY, timesteps=1500, eval_every=0))
    res = train(cfg, tmp_path / "run", progress=True)
    assert res.timesteps > cfg.timesteps  # this budget is overrun (whole iterations)
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    # a full bar at the real count (tqdm would drop the percentage past the total); the budget stays in the description
    n = tqdm.format_sizeof(res.timesteps)
    assert f"(budget {tqdm.format_sizeof(cfg.timesteps)} steps): 100%" in last and f" {n}/{n} [" in last, last


def test_the_worker_pool_forks_with_no_thread_the_trainer_started(tmp_path, monkeypatch):
    """A fork while another thread holds a lock can leave the child blocked for ever: the progress
    bar runs without tqdm's monitor thread, so the trainer's process is single-threaded when its
    pool forks (here: with the bar on, 2 workers)."""
    import threading

    from trustopt.workers import ProcessBackend

    before, seen = set(threading.enumerate()), []
    get_pool = ProcessBackend._get_pool

    def spy(self):
        if self._pool is None:
            seen.append(sorted(t.name for t in set(threading.enumerate()) - before))
        return get_pool(self)

    monkeypatch.setattr(ProcessBackend, "_get_pool", spy)
    train(TrainConfig(algo="tres", **dict(TINY, timesteps=1500, eval_every=0)), tmp_path / "run", workers=2,
          progress=True)
    assert seen == [[]]


def test_resume_with_a_larger_budget_equals_an_uninterrupted_run(tmp_path):
    """A finished run resumed with a larger ``timesteps`` (and other evaluation settings, which never
    change the trajectory) gives the policy and training rows of a run with that budget from the start."""
    big = TrainConfig(algo="tres", seed=2, **dict(TINY, timesteps=4000))
    ref = train(big, tmp_path / "ref", progress=False)
    small = TrainConfig(algo="tres", seed=2, **dict(TINY, timesteps=1500, eval_every=1, eval_episodes=1))
    first = train(small, tmp_path / "grown", progress=False)
    assert first.stop_reason == "timesteps" and 0 < first.iterations < ref.iterations
    res = train(big, tmp_path / "grown", resume=True, progress=False)
    assert (res.iterations, res.timesteps, res.stop_reason) == (ref.iterations, ref.timesteps, "timesteps")
    _assert_same_bits(_policy_arrays(tmp_path / "ref"), _policy_arrays(tmp_path / "grown"))
    a, b = read_progress(tmp_path / "ref"), read_progress(tmp_path / "grown")
    for col in ("timesteps", "train_return_mean", "step_norm"):
        np.testing.assert_array_equal(a[col], b[col])
    # what decides the trajectory must still match
    with pytest.raises(CheckpointError, match=r"sigma.*only timesteps, eval_every, eval_steps, eval_episodes, target may change"):
        train(TrainConfig(algo="tres", seed=2, sigma=0.05, **dict(TINY, timesteps=8000)), tmp_path / "grown",
              resume=True, progress=False)


# ------------------------------------------------------------------------------ restarts


def _statuses(run):
    with open(os.path.join(run, "progress.csv")) as f:
        return [row["status"] for row in csv.DictReader(f)]


def test_a_restart_rule_that_every_start_passes_changes_nothing(tmp_path):
    plain = train(TrainConfig(algo="tres", seed=1, **TINY), tmp_path / "plain", progress=False)
    judged = train(TrainConfig(algo="tres", seed=1, restart_below=-1e9, restart_after=1, **TINY), tmp_path / "judged",
                   progress=False)
    assert judged.restarts == 0 and judged.iterations == plain.iterations
    _assert_same_bits(_policy_arrays(tmp_path / "plain"), _policy_arrays(tmp_path / "judged"))
    assert _progress_without_wall(tmp_path / "plain") == _progress_without_wall(tmp_path / "judged")


@pytest.mark.parametrize("algo, settings", [("tres", TINY), ("trpo", dict(env_id="Swimmer-v5", timesteps=3000,
                                                                          batch_steps=1000, max_episode_steps=200))])
def test_a_start_below_the_bar_is_replaced_by_a_fresh_one(tmp_path, algo, settings):
    """``restart_below`` above any return, judged at the first evaluation (``restart_after = 1``):
    every evaluated iteration but the budget's last is followed by a restart (its row says so),
    and the new start is the initial state: its observation statistics count only its own
    iteration's observations."""
    cfg = TrainConfig(algo=algo, seed=0, restart_below=1e9, restart_after=1, **dict(settings, eval_every=2,
                                                                                      eval_episodes=1))
    res = train(cfg, tmp_path / "r", progress=False)
    rows, statuses = read_progress(tmp_path / "r"), _statuses(tmp_path / "r")
    evaluated = [i for i, e in enumerate(rows["eval_mean"]) if not math.isnan(e)]
    restarted = [i for i, s in enumerate(statuses) if s.startswith("restart")]
    assert restarted == [i + 1 for i in evaluated if i + 1 < len(statuses)] and res.restarts == len(restarted) >= 1
    # a budget that ends at the iteration of a restart: that iteration's normalizer is all the policy has seen
    last = restarted[-1]
    cut = TrainConfig(**{**cfg.to_dict(), "timesteps": int(rows["timesteps"][last - 1]) + 1})
    train(cut, tmp_path / "cut", progress=False)
    cut_rows = read_progress(tmp_path / "cut")
    assert len(cut_rows["timesteps"]) == last + 1 and _statuses(tmp_path / "cut")[-1].startswith("restart")
    steps = int(cut_rows["timesteps"][-1] - cut_rows["timesteps"][-2])
    assert int(_policy_arrays(tmp_path / "cut")["obs_count"]) == steps


def test_each_restart_draws_its_own_perturbations():
    c = resolve_config(TrainConfig(algo="tres", seed=3, **TINY))
    first, again, other = (_make_optimizer(c, 16, r).ask() for r in (1, 1, 2))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, _make_optimizer(c, 16, 0).ask()) and not np.array_equal(first, other)


@pytest.mark.parametrize("small", [1000, 2500, 4000])
def test_resume_on_the_timestep_grain_equals_an_uninterrupted_run_with_restarts(tmp_path, small):
    """With ``eval_steps`` the budget's last iteration is evaluated off the grain: that evaluation
    decides nothing, so the run resumed from each budget restarts where the uninterrupted one does."""
    cfg = TrainConfig(env_id="InvertedPendulum-v5", seed=1, timesteps=6000, max_episode_steps=50, n_directions=4,
                      eval_steps=700, eval_episodes=1, noise_table_size=100_000, restart_below=48.0,
                      restart_after=1000)
    ref = train(cfg, tmp_path / "ref", progress=False)
    assert ref.restarts >= 1
    train(TrainConfig(**{**cfg.to_dict(), "timesteps": small}), tmp_path / "grown", progress=False)
    res = train(cfg, tmp_path / "grown", resume=True, progress=False)
    assert (res.iterations, res.timesteps, res.restarts) == (ref.iterations, ref.timesteps, ref.restarts)
    _assert_same_bits(_policy_arrays(tmp_path / "ref"), _policy_arrays(tmp_path / "grown"))
    a, b = read_progress(tmp_path / "ref"), read_progress(tmp_path / "grown")
    for col in ("timesteps", "train_return_mean", "step_norm"):
        np.testing.assert_array_equal(a[col], b[col])
    assert _statuses(tmp_path / "ref") == _statuses(tmp_path / "grown")


def test_a_nan_evaluation_is_no_best(tmp_path, monkeypatch):
    """An evaluation that is NaN neither keeps a start from its restart nor becomes best_policy.npz."""
    from trustopt.train.trainer import _ESFamily

    evaluate, calls = _ESFamily.evaluate, []

    def nan_twice(self, state, seeds):
        calls.append(1)
        G = evaluate(self, state, seeds)
        return np.full_like(G, np.nan) if len(calls) <= 2 else G

    monkeypatch.setattr(_ESFamily, "evaluate", nan_twice)
    res = train(TrainConfig(algo="tres", seed=0, restart_below=-1e9, restart_after=1, **dict(TINY, eval_every=1)),
                tmp_path / "r", progress=False)
    ev = read_progress(tmp_path / "r")["eval_mean"]
    assert np.isnan(ev[:2]).all() and res.restarts == 2 and res.best_eval == np.nanmax(ev)
    _, _, best = load_policy(tmp_path / "r" / "best_policy.npz")
    assert float(best["eval_mean"]) == res.best_eval


def test_resume_with_a_larger_budget_equals_an_uninterrupted_run_with_restarts(tmp_path):
    """A restart decided at the budget's last evaluation is made by the resumed run, as by the
    uninterrupted one; the evaluation settings that decide restarts may not change on resume."""
    rule = dict(restart_below=1e9, restart_after=1)
    big = TrainConfig(algo="tres", seed=2, **rule, **dict(TINY, eval_every=1))
    ref = train(big, tmp_path / "ref", progress=False)
    first = train(TrainConfig(**{**big.to_dict(), "timesteps": 1500}), tmp_path / "grown", progress=False)
    assert first.stop_reason == "timesteps" and 0 < first.iterations < ref.iterations
    res = train(big, tmp_path / "grown", resume=True, progress=False)
    assert (res.iterations, res.timesteps, res.restarts) == (ref.iterations, ref.timesteps, ref.restarts)
    assert ref.restarts == ref.iterations - 1
    _assert_same_bits(_policy_arrays(tmp_path / "ref"), _policy_arrays(tmp_path / "grown"))
    assert _progress_without_wall(tmp_path / "ref") == _progress_without_wall(tmp_path / "grown")
    with pytest.raises(CheckpointError, match=r"eval_every.*only timesteps, target may change"):
        train(TrainConfig(**{**big.to_dict(), "eval_every": 2, "timesteps": 8000}), tmp_path / "grown",
              resume=True, progress=False)


def test_progress_bar_shows_the_current_starts_evaluation_only():
    from types import SimpleNamespace

    from trustopt.train.run_folder import RunProgress
    from trustopt.train.trainer import _judge_start, _restart, _show_progress

    class Bar:
        total, n = 10**6, 0

        def set_postfix(self, post, refresh):
            self.post = post

        def update(self, k):
            self.n += k

    bar, run = Bar(), RunProgress(state=None)
    config = TrainConfig(env_id="Swimmer-v5", restart_below=100.0, restart_after=1)
    run.iteration, run.timesteps, run.last_eval = 3, 3000, (42.0, 1.0)
    _judge_start(config, run, 42.0)
    _show_progress(bar, run, 40.0, 1000.0)
    assert bar.post["eval"] == "42.0" and "restarts" not in bar.post
    _restart(SimpleNamespace(new_state=lambda restart: None), run)  # 42 < 100: a new start, not yet evaluated
    _show_progress(bar, run, 5.0, 1000.0)
    assert "eval" not in bar.post and bar.post["restarts"] == 1
    _judge_start(config, run, 7.0)
    run.last_eval = (7.0, 0.5)
    _show_progress(bar, run, 5.0, 1000.0)
    assert bar.post["eval"] == "7.0" and bar.n == 3000


def test_restart_after_past_the_budget_warns_once(tmp_path):
    import warnings

    from trustopt.train import IdleSettingWarning

    idle = TrainConfig(algo="tres", **{**TINY, "timesteps": 1000}, restart_below=1e9, restart_after=1000)
    with pytest.warns(IdleSettingWarning, match=r"^restart_after: 1000 is not below timesteps = 1000, so no start") \
            as seen:
        res = train(idle, tmp_path / "idle", progress=False)
    assert len(seen) == 1 and res.restarts == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # below the budget: not warned (whether a start is judged in time
        # depends on the lengths of its iterations)
        train(TrainConfig(**{**idle.to_dict(), "restart_after": 999}), tmp_path / "acts", progress=False)


@pytest.mark.parametrize("bad, message", [
    (dict(restart_below=500.0), "^restart_below: needs restart_after too"),
    (dict(restart_after=1000), "^restart_after: needs restart_below too"),
    (dict(restart_below=float("nan"), restart_after=1000), "^restart_below: expected a finite number"),
    (dict(restart_below=True, restart_after=1000), "^restart_below: expected a finite number"),
    (dict(restart_below=500, restart_after=0), "^restart_after"),
    (dict(restart_below=500, restart_after=1000, eval_every=0), "^restart_below: restarts are judged on evaluations"),
])
def test_restart_settings_are_checked(bad, message):
    with pytest.raises(ValidationError, match=message):
        TrainConfig(env_id="Swimmer-v5", **bad)


# ------------------------------------------------------------------------------ the ES rollout sampler


def test_es_sampler_batch_against_direct_serial_rollouts():
    """Independent reference: each row rebuilt with NoiseTable.perturb and run by envs.rollout, pair
    j and j + N with reset seed j, the statistics merged one episode after the other; the sampler on
    two worker processes gives the same bits; evaluation is theta's own episodes with the env's reward."""
    from types import SimpleNamespace

    from trustopt.envs.es_sampler import MujocoPerturbationSampler
    from trustopt.workers import ProcessBackend

    table = NoiseTable(seed=11, size=20_000)
    spec = EnvSpec(env_id="Hopper-v5", max_episode_steps=40)  # survival bonus: train and env returns differ
    env = spec.make()
    obs_dim, act_dim = env.obs_dim, env.act_dim
    rng = np.random.default_rng(4)
    n_pairs, sigma = 3, 0.3
    theta = rng.normal(scale=0.2, size=obs_dim * act_dim)
    idx = table.sample_index(rng, theta.size, n_pairs)
    draw = SimpleNamespace(theta=theta, sigma=sigma, index=np.concatenate([idx, idx]),
                           sign=np.repeat([1.0, -1.0], n_pairs))
    rms0 = RunningMeanStd.from_batch(rng.normal(size=(5, obs_dim)))
    seeds = [101, 202, 303]
    std0 = np.sqrt(rms0.var)

    ref_R, rms = [], rms0
    for j in range(2 * n_pairs):
        x = table.perturb(theta, sigma, [draw.index[j]], [draw.sign[j]])[0]
        pol = LinearPolicy(W=x.reshape(act_dim, obs_dim), mean=rms0.mean, std=std0)
        res = rollout(spec, pol, seed=seeds[j % n_pairs], remove_survival_bonus=True)
        ref_R.append(res.train_return)
        rms = rms.merge(res.obs_stats)

    serial = MujocoPerturbationSampler(env=spec, noise=table)
    got = serial.sample(draw, rms0, seeds)
    assert got.returns.tolist() == ref_R and len(set(ref_R)) == 2 * n_pairs
    assert got.n_samples == got.lengths.sum() == rms.count - rms0.count
    assert got.obs_rms.mean.tobytes() == rms.mean.tobytes() and got.obs_rms.M2.tobytes() == rms.M2.tobytes()
    with ProcessBackend(n_workers=2, noise=table, chunks_per_worker=1) as bk:
        parallel = MujocoPerturbationSampler(env=spec, noise=table, backend=bk)
        two = parallel.sample(draw, rms0, seeds)
        assert two.returns.tobytes() == got.returns.tobytes()
        assert two.obs_rms.M2.tobytes() == got.obs_rms.M2.tobytes()
        G = parallel.evaluate(theta, rms0, seeds[:2])
    pol = LinearPolicy(W=theta.reshape(act_dim, obs_dim), mean=rms0.mean, std=std0)
    assert G.tolist() == [rollout(spec, pol, seed=s).env_return for s in seeds[:2]]
    assert G.tolist() != [rollout(spec, pol, seed=s, remove_survival_bonus=True).train_return for s in seeds[:2]]
    with pytest.raises(ValidationError, match="reset_seeds: expected one per antithetic pair"):
        serial.sample(draw, rms0, seeds[:2])
    with pytest.raises(ValidationError, match="draw: expected noise-table rows"):
        serial.sample(SimpleNamespace(theta=theta, sigma=sigma, index=None, sign=None), rms0, seeds)
    for bad, field in ((dict(env=3), "env"), (dict(noise=None), "noise"), (dict(obs_norm=1), "obs_norm"),
                       (dict(backend=object()), "backend")):
        with pytest.raises(ValidationError, match=f"^{field}: "):
            MujocoPerturbationSampler(**{"env": spec, "noise": table, **bad})


# ------------------------------------------------------------------------------ checkpoints of another version


def _refusal(tmp_path, payload_state, fmt=None):
    """Resume a run whose checkpoint holds ``payload_state`` (and ``format`` ``fmt``): the error line."""
    cfg = TrainConfig(algo="ars", seed=0, **{**TINY, "timesteps": 500})
    run = tmp_path / "r"
    train(cfg, run, progress=False)
    payload = load_checkpoint(run / "checkpoint.pkl")
    payload["state"] = payload_state
    if fmt is None:
        del payload["format"]
    else:
        payload["format"] = fmt
    save_checkpoint(run / "checkpoint.pkl", payload)
    before = {p: (run / p).read_bytes() for p in os.listdir(run)}
    with pytest.raises(CheckpointError) as info:
        train(TrainConfig(algo="ars", seed=0, **{**TINY, "timesteps": 1000}), run, resume=True, progress=False)
    assert {p: (run / p).read_bytes() for p in os.listdir(run)} == before  # the folder is left as it was
    msg = str(info.value)
    assert "\n" not in msg and str(run / "checkpoint.pkl") in msg
    return msg


def test_a_checkpoint_of_another_version_is_refused_in_one_line(tmp_path, monkeypatch):
    """The previous layout (no ``format``; its state a pickled ``trainer._Run`` holding the ask/tell
    optimizer, or a ``pg_trainer._PGRun``) cannot be resumed: a one-line CheckpointError says so."""
    import sys
    import types

    from trustopt.train.run_folder import CHECKPOINT_FORMAT, RunProgress

    msg = _refusal(tmp_path / "a", RunProgress(state=None))  # readable, but of the previous layout
    assert f"was written by another version of trustopt (checkpoint format 1, this version reads {CHECKPOINT_FORMAT})" in msg
    old = types.ModuleType("trustopt.train.pg_trainer")  # a class this version no longer has

    class _PGRun:
        pass

    _PGRun.__module__, _PGRun.__qualname__ = old.__name__, "_PGRun"
    old._PGRun = _PGRun
    monkeypatch.setitem(sys.modules, old.__name__, old)
    ck = tmp_path / "b"
    ck.mkdir()
    save_checkpoint(ck / "c.pkl", {"config": {}, "state": _PGRun()})
    monkeypatch.delitem(sys.modules, old.__name__)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(ck / "c.pkl")
    msg = str(info.value)
    assert msg.startswith(f"checkpoint: {ck / 'c.pkl'} was written by another version of trustopt and cannot be "
                          "read by this one (ModuleNotFoundError") and "\n" not in msg


# ------------------------------------------------------------------------------ structure


def test_no_import_circle_among_the_training_driver_and_the_backends():
    """Every import (also inside functions) of the driver's, the backends' and the ES sampler's
    modules: no circle among them, and the pool imports nothing from envs or train."""
    import ast
    import pathlib

    import trustopt

    root = pathlib.Path(trustopt.__file__).parent
    files = [*sorted((root / "train").glob("*.py")), root / "workers.py", root / "workers_ray.py",
             root / "_backends.py", root / "envs" / "es_sampler.py"]

    def name_of(path):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def is_module(name):
        p = root.parent.joinpath(*name.split("."))
        return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()

    mods = {name_of(p): p for p in files}
    graph = {}
    for mod, path in mods.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                edges |= {f"{node.module}.{a.name}" if is_module(f"{node.module}.{a.name}") else node.module
                          for a in node.names}
        graph[mod] = {e for e in edges if e in mods}
        if mod in ("trustopt.workers", "trustopt.workers_ray", "trustopt._backends"):
            assert not {e for e in edges if e.startswith(("trustopt.envs", "trustopt.train"))}, (mod, edges)

    def reaches(a, b, seen=()):
        return any(n == b or (n not in seen and reaches(n, b, (*seen, n))) for n in graph[a])

    circles = [m for m in graph if reaches(m, m)]
    assert not circles, {m: graph[m] for m in circles}
    assert "trustopt.workers_ray" in graph["trustopt.workers"]  # the walk sees lazy imports (the test can fail)


def test_other_tools_names_point_to_ours():
    """The hint for Stable-Baselines3's, sb3-contrib's and the ARS code's names (``OTHER_NAMES``)
    names a real field, never one of ours, and reaches ``--config`` files too."""
    import dataclasses

    from trustopt.train.config import OTHER_NAMES

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for theirs, (ours, _) in OTHER_NAMES.items():
        assert ours in fields and theirs not in fields, theirs
    with pytest.raises(ValidationError, match=r"unknown key\(s\) gae_lambda \(Stable-Baselines3's name; here: lambda_\)"):
        config_from_dict({"env_id": "Swimmer-v5", "algo": "ppo", "gae_lambda": 0.9})
