"""trustopt: verified stochastic trust-region policy search.

Submodules:
    tabular   exact oracle for finite MDPs (eta, V, Q, A, rho, surrogate, divergences,
              exact trust-region subproblems, policy/value iteration)
    testing   hypothesis strategies and random generators of MDPs and policies
"""

from trustopt._validation import PROBABILITY_TOLERANCE, ValidationError

__version__ = "0.1.0"

__all__ = ["ValidationError", "PROBABILITY_TOLERANCE", "__version__"]
