"""Closure tests (:ref:`theory-6`).

Fake data from a known truth, fitted by the Bayesian posterior, the analytic trained
ensemble and real finite-width ensembles, with the NNPDF estimators (bias, variance,
R_bv, ξ_1σ, Δχ²), emcee hyperparameter posteriors and ArviZ results.

ArviZ results (``InferenceData`` on ArviZ 0.x, ``xarray.DataTree`` on 1.x) are
written and read with :func:`to_netcdf` and :func:`from_netcdf`, and inspected
with :func:`group_names`, :func:`get_group`, :func:`hyperparameter_summary`
(``arviz.summary`` of the posterior group) and :func:`plot_hyperparameter_trace`,
which work alike on both ArviZ lines.
"""

from ._arviz import from_netcdf, get_group, group_names, to_netcdf
from ._arviz import plot_trace as plot_hyperparameter_trace
from ._arviz import summary as hyperparameter_summary
from ._data import ClosureData, experimental_covariance
from ._methods import FlowSpectrum, MethodFit
from ._metrics import ClosureMetrics, FitMetrics, fit_metrics, multi_closure
from ._predictive import posterior_predictive
from ._result import ClosureResult
from ._runner import ClosureTest
from ._sampler import HyperparameterPosterior, sample_hyperparameters
from ._truths import Oscillating, PDFLike, PriorDraw, Teacher, as_truth

__all__ = [
    "ClosureTest",
    "ClosureResult",
    "MethodFit",
    "FlowSpectrum",
    "ClosureData",
    "experimental_covariance",
    "FitMetrics",
    "ClosureMetrics",
    "fit_metrics",
    "multi_closure",
    "PDFLike",
    "Oscillating",
    "PriorDraw",
    "Teacher",
    "as_truth",
    "sample_hyperparameters",
    "posterior_predictive",
    "HyperparameterPosterior",
    "to_netcdf",
    "from_netcdf",
    "group_names",
    "get_group",
    "hyperparameter_summary",
    "plot_hyperparameter_trace",
]
