"""How far apart the legs move under the Walker2d-v5 policies of these runs (with mirror.patch applied).

For each run folder's ``policy.npz`` (the unprojected ``W`` the trainer saves), act as the patched
rollouts do: with ``TRES_MIRROR=1`` the projection ``W <- (W + P_a W M) / 2`` and the
mirror-symmetric normalizer, with ``TRES_CLOCK=P`` the clock among the observations. Three
episodes of the mean policy (reset seeds 0, 1, 2); printed: length, return, and the mean of
``|thigh_right - thigh_left|`` over the episode (radians; observations 2 and 5). An alternating
gait needs the two thighs apart for most of a stride; a mean near 0 is a walker moving both
legs as one.

    git apply benchmarks/results/thresholds_tres/mirror/mirror.patch
    TRES_MIRROR=1 python benchmarks/results/thresholds_tres/mirror/gait.py runs/mirror/*/policy.npz
    TRES_MIRROR=1 TRES_CLOCK=100 python benchmarks/results/thresholds_tres/mirror/gait.py runs/clock/*mirror*/policy.npz
"""

import sys

import numpy as np

from trustopt.envs import LinearPolicy, rollout
from trustopt.envs import es_sampler as es  # the patched module: its mirror maps

for path in sys.argv[1:]:
    z = np.load(path)
    W, m, sd = z["W"], z["obs_mean"], z["obs_std"]
    if es._MIRROR:
        ps, sign = es._WALKER_PS[: W.shape[1]], es._WALKER_SIGN[: W.shape[1]]
        W = 0.5 * (W + W[es._WALKER_PA][:, ps] * sign[ps])
        m, sd = 0.5 * (m + sign * m[ps]), np.sqrt(0.5 * (sd ** 2 + sd[ps] ** 2))
    for seed in range(3):
        res = rollout("Walker2d-v5", LinearPolicy(W=W, mean=m, std=sd), seed=seed, record=True)
        obs = res.trajectory.obs
        print(f"{path}: reset {seed}: {res.length} steps, return {res.env_return:.0f}, "
              f"mean |thigh_r - thigh_l| {np.mean(np.abs(obs[:, 2] - obs[:, 5])):.3f} rad")
