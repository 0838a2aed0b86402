"""The exact trust-region method of STRO (Algorithm 3.1) on a random finite MDP.

Each iteration solves the TV subproblem (STRO eq. 3.6) exactly with HiGHS, computes the
ratio r_k = (eta(pit) - eta(pi_k)) / (L(pit) - L(pi_k)) (eq. 3.2) with exact values,
accepts when r_k >= beta0 (eq. 3.3) and updates the radius by eq. 3.4. STRO Theorem 3.5
says eta increases monotonically to the optimum eta*, which policy iteration computes.

    .venv/bin/python examples/exact_trust_region.py [--states 6] [--actions 3] [--gamma 0.9] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from trustopt import tabular, testing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Exact trust-region policy optimization on a random MDP")
    parser.add_argument("--states", type=int, default=6)
    parser.add_argument("--actions", type=int, default=3)
    parser.add_argument("--gamma", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=40)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    mdp = testing.random_mdps(rng, 1, args.states, args.actions, gamma=args.gamma, rho0_positive=True)[0]
    eta_star = tabular.policy_iteration(mdp).eta
    pi = np.full((args.states, args.actions), 1.0 / args.actions)
    delta, beta0, beta1, gamma1, gamma2, gamma3 = 0.5, 0.1, 0.75, 2.0, 1.0, 0.25  # STRO eq. 3.3-3.4

    eta = tabular.evaluate(mdp, pi).eta
    print(f"random MDP: S={args.states}, A={args.actions}, gamma={args.gamma}; optimum eta* = {eta_star:.6f}")
    print(f"{'k':>3} {'eta':>11} {'eta*-eta':>10} {'radius':>8} {'ratio':>7}  step")
    print(f"{0:>3} {eta:>11.6f} {eta_star - eta:>10.2e} {delta:>8.3f} {'':>7}")
    for k in range(1, args.max_iter + 1):
        sol = tabular.solve_tv_subproblem(mdp, pi, delta)
        predicted = sol.surrogate - eta
        if predicted <= 1e-13 * (1 + abs(eta)):
            print(f"stop: predicted gain {predicted:.1e} <= 0, pi is optimal (STRO Lemma 3.2)")
            break
        eta_trial = tabular.evaluate(mdp, sol.pi).eta
        ratio = (eta_trial - eta) / predicted
        accepted = ratio >= beta0
        if accepted:
            pi, eta = np.array(sol.pi), eta_trial
        delta *= gamma1 if ratio >= beta1 else (gamma2 if accepted else gamma3)
        print(f"{k:>3} {eta:>11.6f} {eta_star - eta:>10.2e} {delta:>8.3f} {ratio:>7.3f}  "
              f"{'accepted' if accepted else 'rejected'}")
        if eta_star - eta <= 1e-10 * (1 + abs(eta_star)):
            print(f"reached eta* to 1e-10 in {k} iterations")
            break
    return 0 if eta_star - eta <= 1e-6 * (1 + abs(eta_star)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
