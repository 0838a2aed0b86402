"""Components of the trust-region loop (see :mod:`trustopt.core.protocols`): the parts every
algorithm of :mod:`trustopt.algorithms` is composed of, policy-gradient and search (ES) alike."""

from trustopt.components.acceptance import (AlwaysAccept, FreshRatioTest, ImprovementWithinRadius, RankRatioTest, RatioTest,
                                           stro_ratio)
from trustopt.components.distances import Euclidean, MaxKL, MeanKL, MeanTV
from trustopt.components.es_steps import ARSStep, ESGradientStep, QuadraticModelStep, TRESStep, TrustRegionStep
from trustopt.components.flat_policies import FlatLinearGaussian, FlatTabularSoftmax
from trustopt.components.gaussian import GaussianNaturalStep, GaussianSampler
from trustopt.components.lqr_samplers import ExactLQRSampler, LQREpisodeSampler
from trustopt.components.radius import ConstantRadius, GradientNormRadius, RatioRadius
from trustopt.components.search import GaussianSearch, PerturbationSampler
from trustopt.components.tabular_samplers import ExactTabularSampler, TabularEpisodeSampler, TabularVineSampler
from trustopt.components.steps import ClippedAscent, ExactTabularStep, GradientStep, NaturalGradientStep, StroInnerSolver
from trustopt.components.surrogates import ClippedObjective, ClippedRatio, ImportanceSampled

__all__ = [
    "AlwaysAccept", "FreshRatioTest", "ImprovementWithinRadius", "RankRatioTest", "RatioTest", "stro_ratio",
    "Euclidean", "MaxKL", "MeanKL", "MeanTV",
    "ARSStep", "ESGradientStep", "QuadraticModelStep", "TRESStep", "TrustRegionStep",
    "FlatLinearGaussian", "FlatTabularSoftmax",
    "GaussianNaturalStep", "GaussianSampler",
    "ExactLQRSampler", "LQREpisodeSampler",
    "GaussianSearch", "PerturbationSampler",
    "ConstantRadius", "GradientNormRadius", "RatioRadius",
    "ExactTabularSampler", "TabularEpisodeSampler", "TabularVineSampler",
    "ClippedAscent", "ExactTabularStep", "GradientStep", "NaturalGradientStep", "StroInnerSolver",
    "ClippedObjective", "ClippedRatio", "ImportanceSampled",
]
