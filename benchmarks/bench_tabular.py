"""Throughput of the batched exact oracle on the claims checker's inner loop.

One instance = draw an MDP, a policy pi and a nearby pi_new; evaluate both exactly;
check TRPO Theorem 1: eta(pi_new) >= L_pi(pi_new) - 4 eps gamma alpha^2 / (1 - gamma)^2.

Compared, in the same process, with a plain per-instance NumPy loop doing the same
arithmetic (two linear solves per policy, no validation). The figure is the ratio.

    .venv/bin/python benchmarks/bench_tabular.py [--instances N] [--repeats R]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from trustopt import tabular, testing


def draw(rng, n, S, A):
    mdp = testing.random_mdps(rng, n, S, A)
    pi = testing.random_policies(rng, n, S, A)
    pi_new = testing.nearby_policies(rng, pi, rng.uniform(0.0, 0.5, size=n))
    return mdp, pi, pi_new


def batched(mdp, pi, pi_new):
    ev = tabular.evaluate(mdp, pi)
    eta_new = tabular.evaluate(mdp, pi_new).eta
    L = tabular.surrogate(mdp, pi, pi_new, ev=ev)
    eps = np.abs(ev.A).max(axis=(-2, -1))
    alpha = tabular.max_tv(pi, pi_new)
    g = mdp.gamma
    bound = L - 4.0 * eps * g * alpha**2 / (1.0 - g) ** 2
    return eta_new - bound  # slack, >= 0 when the theorem holds


def per_instance(P, r, rho0, gamma, pi, pi_new):
    """The naive reference: one instance at a time, plain NumPy."""
    S = P.shape[0]
    def ev(p):
        P_pi = np.einsum("sa,sat->st", p, P)
        M = np.eye(S) - gamma * P_pi
        V = np.linalg.solve(M, (p * r).sum(1))
        rho = np.linalg.solve(M.T, rho0)
        A = r + gamma * P @ V - V[:, None]
        return V, A, rho, rho0 @ V
    _, A, rho, eta = ev(pi)
    eta_new = ev(pi_new)[3]
    L = eta + np.sum(rho[:, None] * pi_new * A)
    alpha = 0.5 * np.abs(pi - pi_new).sum(1).max()
    return eta_new - (L - 4.0 * np.abs(A).max() * gamma * alpha**2 / (1.0 - gamma) ** 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--instances", type=int, default=20_000,
                        help="instances per (S, A) batched; the loop runs a tenth of them (at least 200, at most all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds, the best kept")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"{'S':>3} {'A':>3} {'batched inst/s':>15} {'loop inst/s':>12} {'ratio':>7}  max |diff|")
    for S in (2, 4, 8):
        for A in (2, 4):
            mdp, pi, pi_new = draw(rng, args.instances, S, A)
            t_b = min(_time(lambda: batched(mdp, pi, pi_new)) for _ in range(args.repeats))
            slack_b = batched(mdp, pi, pi_new)
            n_loop = min(args.instances, max(args.instances // 10, 200))  # the loop is slow: a tenth, at least 200
            loop = lambda: [per_instance(mdp.P[i], mdp.r[i], mdp.rho0[i], mdp.gamma[i], pi[i], pi_new[i])
                            for i in range(n_loop)]
            t_l = min(_time(loop) for _ in range(args.repeats))
            slack_l = np.array(loop())
            diff = np.max(np.abs(slack_l - slack_b[:n_loop]))
            rb, rl = args.instances / t_b, n_loop / t_l
            print(f"{S:>3} {A:>3} {rb:>15,.0f} {rl:>12,.0f} {rb / rl:>6.1f}x  {diff:.1e}")
            assert np.all(slack_b >= -1e-9 * (1 + np.abs(slack_b))), "TRPO Theorem 1 violated?"


def _time(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
