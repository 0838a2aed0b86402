"""proofs_check: every theorem, lemma and identity of the papers as an executable claim.

Public API (what the built-in claims use and what ``--extra FILE.py`` files use)::

    from proofs_check import Claim, Field, Outcome, register, draws, run_claim
    register(Claim(id=..., source=..., statement=..., kind="inequality",
                   draw=..., check=..., schema=..., exact=...))   # exact: optional, -> Certificate

See :mod:`proofs_check.registry` for the meaning of each field, :mod:`proofs_check.runner`
for how claims are run (random batches, stored regressions, adversarial search, shrinking),
and ``python -m proofs_check --help`` for the command line.
"""

from proofs_check import draws
from proofs_check.registry import Certificate, Claim, Field, Outcome, all_claims, get, register, unregister
from proofs_check.runner import ClaimResult, run_claim, shrink

__all__ = [
    "Certificate",
    "Claim",
    "Field",
    "Outcome",
    "register",
    "unregister",
    "get",
    "all_claims",
    "run_claim",
    "shrink",
    "ClaimResult",
    "draws",
]
