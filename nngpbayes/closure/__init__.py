"""Closure tests (THEORY.md §6): fake data from a known truth, fitted by the Bayesian
posterior, the analytic trained ensemble and real finite-width ensembles, with the
NNPDF estimators (bias, variance, R_bv, ξ_1σ, Δχ²), emcee hyperparameter posteriors
and ArviZ results.
"""

from ._data import ClosureData, experimental_covariance
from ._inference import (
    HyperparameterPosterior,
    posterior_predictive,
    sample_hyperparameters,
)
from ._metrics import ClosureMetrics, FitMetrics, fit_metrics, multi_closure
from ._models import Kernels, ensemble_predictions, flow_predictions, gp_posterior
from ._runner import ClosureResult, ClosureTest
from ._truths import Oscillating, PDFLike, PriorDraw, Teacher, as_truth

__all__ = [
    "ClosureTest",
    "ClosureResult",
    "ClosureData",
    "experimental_covariance",
    "FitMetrics",
    "ClosureMetrics",
    "fit_metrics",
    "multi_closure",
    "Kernels",
    "gp_posterior",
    "flow_predictions",
    "ensemble_predictions",
    "PDFLike",
    "Oscillating",
    "PriorDraw",
    "Teacher",
    "as_truth",
    "sample_hyperparameters",
    "posterior_predictive",
    "HyperparameterPosterior",
]
