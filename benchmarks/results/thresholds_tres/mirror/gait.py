"""How far apart the legs move under a mirror-equivariant Walker2d-v5 policy (mirror.patch).

For each run folder's ``policy.npz`` (the unprojected ``W`` the trainer saves), apply the same
projection as the patch, ``W <- (W + P_a W P_s) / 2`` with a mirror-symmetric normalizer, run three
episodes of the mean policy (reset seeds 0, 1, 2) and print the episode's length, return and
forward distance and the mean of ``|thigh_right - thigh_left|`` (radians; observations 2 and 5).
An alternating gait needs the two thighs apart for most of a stride; a mean near 0 is a walker
moving both legs as one.

    python benchmarks/results/thresholds_tres/mirror/gait.py runs/mirror/*/policy.npz
"""

import sys

import gymnasium as gym
import numpy as np

PS = np.array([0, 1, 5, 6, 7, 2, 3, 4, 8, 9, 10, 14, 15, 16, 11, 12, 13])  # observation mirror
PA = np.array([3, 4, 5, 0, 1, 2])                                           # action mirror

for path in sys.argv[1:]:
    z = np.load(path)
    W, m, sd = z["W"], z["obs_mean"], z["obs_std"]
    W = 0.5 * (W + W[PA][:, PS])
    m, sd = 0.5 * (m + m[PS]), np.sqrt(0.5 * (sd ** 2 + sd[PS] ** 2))
    env = gym.make("Walker2d-v5")
    for seed in range(3):
        s, _ = env.reset(seed=seed)
        x0, ret, gap = env.unwrapped.data.qpos[0], 0.0, []
        for t in range(1000):
            s, r, term, trunc, _ = env.step(np.clip(W @ ((s - m) / sd), -1, 1))
            ret += r
            gap.append(abs(s[2] - s[5]))
            if term or trunc:
                break
        print(f"{path}: reset {seed}: {t + 1} steps, return {ret:.0f}, {env.unwrapped.data.qpos[0] - x0:.1f} m, "
              f"mean |thigh_r - thigh_l| {np.mean(gap):.3f} rad")
