"""benchmarks/restart_sim.py and ``bench_sigma_signals.py --progress``: the two readings of
committed runs that the Walker2d and Ant paragraphs of docs/mujoco-tres-experiments.md rest on,
checked on cases whose answer is known in closed form."""

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import bench_sigma_signals as bss  # noqa: E402
import restart_sim as rs  # noqa: E402


def _curves():
    """A run that is at 1500 after 0.5M timesteps and reaches 2872 at 1M, and one that never rises."""
    t = np.arange(1, 31) * 100_000.0
    good = (t, np.where(t >= 1_000_000, 3000.0, 1500.0), 1_000_000.0)
    bad = (t, np.full(t.size, 500.0), np.inf)
    return [good, bad]


def test_restart_sim_matches_the_geometric_series():
    rng = np.random.default_rng(0)
    share, restarts = rs.simulate(_curves(), 3_000_000, 0, 0.0, rng, 20000)
    assert share == pytest.approx(0.5, abs=0.015) and restarts == 0.0
    # restart at 0.5M whenever the bad curve is drawn: success iff the good one comes while at least
    # 1M timesteps are left, i.e. within the first 5 draws: 1 - 2^-5; restarts: sum_k<5 2^-(k+1)
    share, restarts = rs.simulate(_curves(), 3_000_000, 500_000, 1000.0, rng, 20000)
    assert share == pytest.approx(1 - 2 ** -5, abs=0.01)
    assert restarts == pytest.approx(sum(k * 2 ** -(k + 1) for k in range(5)) + 5 * 2 ** -5, abs=0.05)


def test_restart_sim_loads_the_committed_pools():
    for pool in rs.POOLS.values():
        curves = rs.load_curves(pool.patterns, pool.threshold, pool.label)
        assert len(curves) >= 10 and all(t.shape == e.shape for t, e, _ in curves)


def test_ratio_signal_reads_gains_and_their_standard_errors(tmp_path):
    rows = ["iteration,timesteps,episodes,train_return_mean,train_return_std",
            "1,1000,4,10,2", "2,2000,8,14,2", "3,3000,12,6,2", "4,4000,16,6,2"]
    (tmp_path / "progress.csv").write_text("\n".join(rows) + "\n")
    r = bss.ratio_signal(str(tmp_path))
    se = np.sqrt((4 + 4) / 4)  # 4 episodes per batch, standard deviation 2 in both batches
    z = np.array([4.0, -8.0, 0.0]) / se
    assert r["iterations"] == 3 and r["mean_gain"] == pytest.approx(-4 / 3)
    assert r["mean_z"] == pytest.approx(z.mean()) and r["sd_z"] == pytest.approx(z.std(ddof=1))
    assert r["share_nonnegative"] == pytest.approx(2 / 3) and r["share_z_below_minus_2"] == pytest.approx(1 / 3)
    assert r["share_abs_z_above_2"] == pytest.approx(2 / 3)
    assert json.dumps(r)  # the --json output is plain data


def test_ratio_signal_reads_constant_batches_as_no_signal(tmp_path):
    rows = ["iteration,timesteps,episodes,train_return_mean,train_return_std",
            "1,10,4,-7,0", "2,20,8,-7,0", "3,30,12,-7,0"]
    (tmp_path / "progress.csv").write_text("\n".join(rows) + "\n")
    r = bss.ratio_signal(str(tmp_path))
    assert r["mean_z"] == 0.0 and r["share_z_below_minus_2"] == 0.0 and r["share_nonnegative"] == 1.0
