# A user claim: "eta(pi_new) >= L_pi(pi_new)" (FALSE). Run it with
#   python -m proofs_check --extra proofs_check/examples/eta_above_surrogate.py --claim user.
from trustopt import tabular
from proofs_check import Claim, Outcome, draws, register

def check(b):  # b: a batch of instances, a dict of arrays with a leading batch axis
    mdp = draws.mdp(b)
    eta_new = tabular.evaluate(mdp, b["pi_new"]).eta
    L = tabular.surrogate(mdp, b["pi"], b["pi_new"])
    return Outcome(slack=eta_new - L, scale=draws.value_scale(b))

register(Claim(id="user.eta-above-surrogate", source="my notes", kind="inequality",
               statement="eta(pi_new) >= L_pi(pi_new)", draw=draws.tabular, check=check,
               schema=draws.schema("pi", "pi_new")))
