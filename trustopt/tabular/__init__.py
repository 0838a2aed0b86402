"""Exact oracle for finite discounted MDPs.

Public interface (see ../DESIGN.md):

    mdp = TabularMDP(P, r, rho0, gamma)          # validated model, optional batch dims
    ev  = evaluate(mdp, pi)                      # ev.V, ev.Q, ev.A, ev.rho (unnormalized), ev.eta
    surrogate(mdp, pi, pi_new)                   # L_pi(pi_new), TRPO eq. 3
    tv(pi, pi_new), kl(pi, pi_new)               # per-state divergences, kl = KL(pi || pi_new)
    solve_tv_subproblem(mdp, pi, delta, weights=None)
    solve_kl_subproblem(mdp, pi, delta, weights=None)
    solve_kl_penalty(mdp, pi, C)                 # argmax L - C max_s KL_s (TRPO Algorithm 1)
    policy_iteration(mdp), value_iteration(mdp)  # .pi, .V, .eta (the optimum)
"""

from trustopt.tabular.mdp import TabularMDP, check_policy, stack
from trustopt.tabular.evaluation import (
    Evaluation,
    evaluate,
    normalized_visitation,
    optimal_advantage,
    policy_advantage,
    surrogate,
)
from trustopt.tabular.divergences import kl, max_kl, max_tv, tv, visitation_weighted
from trustopt.tabular.softmax import grad_eta_softmax, grad_surrogate_softmax, softmax_policy
from trustopt.tabular.subproblems import (
    SubproblemSolution,
    solve_kl_penalty,
    solve_kl_subproblem,
    solve_tv_subproblem,
)
from trustopt.tabular.solvers import OptimalSolution, cpi_mixture, greedy_policy, policy_iteration, value_iteration

__all__ = [
    "tv",
    "kl",
    "max_tv",
    "max_kl",
    "visitation_weighted",
    "softmax_policy",
    "grad_eta_softmax",
    "grad_surrogate_softmax",
    "SubproblemSolution",
    "solve_tv_subproblem",
    "solve_kl_subproblem",
    "solve_kl_penalty",
    "OptimalSolution",
    "policy_iteration",
    "value_iteration",
    "cpi_mixture",
    "greedy_policy",
    "TabularMDP",
    "stack",
    "check_policy",
    "Evaluation",
    "evaluate",
    "normalized_visitation",
    "surrogate",
    "policy_advantage",
    "optimal_advantage",
]
