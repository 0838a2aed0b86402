"""The stochastic trust-region core: protocols, value types and the one loop."""

from trustopt.core.loop import LoopState, Method, ask, drive, start, tell
from trustopt.core.protocols import Acceptance, Distance, Policy, RadiusRule, Sampler, StepSolver, Surrogate
from trustopt.core.types import Batch, Decision, Proposal, Record, Result, merge_batches

__all__ = [
    "Method", "LoopState", "start", "ask", "tell", "drive",
    "Policy", "Sampler", "Surrogate", "Distance", "StepSolver", "Acceptance", "RadiusRule",
    "Batch", "Decision", "Proposal", "Record", "Result", "merge_batches",
]
