"""Components of the trust-region loop (see :mod:`trustopt.core.protocols`)."""

from trustopt.components.acceptance import AlwaysAccept, ImprovementWithinRadius, RatioTest, stro_ratio
from trustopt.components.distances import Euclidean, MaxKL, MeanKL, MeanTV
from trustopt.components.flat_policies import FlatLinearGaussian, FlatTabularSoftmax
from trustopt.components.radius import ConstantRadius, GradientNormRadius, RatioRadius
from trustopt.components.tabular_samplers import ExactTabularSampler, TabularEpisodeSampler, TabularVineSampler
from trustopt.components.steps import ClippedAscent, ExactTabularStep, GradientStep, NaturalGradientStep, StroInnerSolver
from trustopt.components.surrogates import ClippedObjective, ClippedRatio, ImportanceSampled

__all__ = [
    "AlwaysAccept", "ImprovementWithinRadius", "RatioTest", "stro_ratio",
    "Euclidean", "MaxKL", "MeanKL", "MeanTV",
    "FlatLinearGaussian", "FlatTabularSoftmax",
    "ConstantRadius", "GradientNormRadius", "RatioRadius",
    "ExactTabularSampler", "TabularEpisodeSampler", "TabularVineSampler",
    "ClippedAscent", "ExactTabularStep", "GradientStep", "NaturalGradientStep", "StroInnerSolver",
    "ClippedObjective", "ClippedRatio", "ImportanceSampled",
]
