"""The table of methods a closure test compares (:ref:`theory-6`).

Every method answers one small interface: ``labels`` (the names it reports under)
and ``fit(dataset) -> tuple of MethodFit`` (one per label). The runner loops over
the table and scores every :class:`MethodFit` in one place, :func:`score`.

- :class:`Posterior`: the Bayesian posterior of the NNGP prior (:ref:`theory-4`);
- :class:`Flow`: the analytic trained ensemble at several training times, one
  label per time (``"flow t=1"``, and ``"flow t=ens"`` for the finite ensembles'
  training time);
- :class:`Ensemble`: real finite-width networks of one width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._data import ClosureData
from ._metrics import FitMetrics, fit_metrics
from ._models import (
    Kernels,
    ensemble_predictions,
    flow_predictions,
    gp_posterior,
    linear_flow,
)

__all__ = [
    "MethodFit",
    "FlowSpectrum",
    "Dataset",
    "Posterior",
    "Flow",
    "Ensemble",
    "score",
]


@dataclass(frozen=True)
class MethodFit:
    """One method's predictions for one dataset.

    Attributes
    ----------
    mean : ndarray of shape (n_test,)
        Mean of the predictions at the test inputs.
    cov : ndarray of shape (n_test, n_test)
        Their covariance (posterior or over replicas).
    train_mean : ndarray of shape (n_data,)
        Mean prediction of the training observables (for Δχ²).
    members : ndarray of shape (n_members, n_test) or None
        The individual networks' test predictions (finite-width ensembles only).
    """

    mean: np.ndarray
    cov: np.ndarray
    train_mean: np.ndarray
    members: np.ndarray | None = None

    @property
    def std(self):
        """√diag(cov), negative round-off clipped to 0; shape (n_test,)."""
        return np.sqrt(np.maximum(np.diagonal(self.cov), 0.0))


@dataclass(frozen=True)
class FlowSpectrum:
    """The spectrum of the whitened NTK on one dataset (:ref:`theory-4`).

    Attributes
    ----------
    eigenvalues : ndarray of shape (n_data,)
        s, descending.
    data_projection : ndarray of shape (n_data,)
        ỹ = Uᵀ L⁻¹ y, the data on each mode.
    learning_rate : float
        η; mode k trains on the time scale 1 / (η s_k).
    """

    eigenvalues: np.ndarray
    data_projection: np.ndarray
    learning_rate: float

    @classmethod
    def of(cls, kern: Kernels, data: ClosureData, y):
        """Return the spectrum of the flow of ``y`` on the closure data ``data``."""
        flow = linear_flow(kern, y, data.cov, data.forward_map)
        return cls(flow.eigenvalues, flow.data_projection, flow.learning_rate)


@dataclass(frozen=True)
class Dataset:
    """One (level-0 or level-1) dataset of a closure test with its truth.

    Attributes
    ----------
    closure : ClosureData
        Inputs, truth on the grid, covariance C and forward map.
    y : ndarray of shape (n_data,)
        The data the methods fit.
    truth_test : ndarray of shape (n_test,)
        f_in at the test inputs.
    seed : int, default=0
        Seeds the networks fitted to these data (finite-width ensembles).
    """

    closure: ClosureData
    y: np.ndarray
    truth_test: np.ndarray
    seed: int = 0

    def delta_chi2(self, train_mean):
        """Δχ² = χ²(prediction, y) − χ²(truth, y), per data point (:ref:`theory-6`)."""
        c = self.closure
        return c.chi2(train_mean, self.y) - c.chi2(c.level0, self.y)


def score(fit: MethodFit, data: Dataset, test_cov) -> FitMetrics:
    """Return the closure estimators of one method on one dataset.

    See :func:`fit_metrics`.
    """
    delta = data.delta_chi2(fit.train_mean)
    return fit_metrics(fit.mean, fit.cov, data.truth_test, test_cov, delta)


class Posterior:
    """The Bayesian posterior of the NNGP prior (:ref:`theory-4`).

    Parameters
    ----------
    kern : Kernels
    """

    def __init__(self, kern: Kernels):
        self.kern = kern
        self.labels = ("posterior",)

    def fit(self, data: Dataset) -> tuple[MethodFit]:
        c = data.closure
        return (MethodFit(*gp_posterior(self.kern, data.y, c.cov, c.forward_map)),)


class Flow:
    """The analytic ensemble of infinitely wide networks at several times.

    Parameters
    ----------
    kern : Kernels
    times : ndarray of shape (n_times,)
        Training times (``np.inf`` allowed).
    labels : sequence of str of length n_times
    replicas : bool
        Each network trains on its own level-2 replica (:ref:`theory-6`).
    """

    def __init__(self, kern: Kernels, times, labels, replicas):
        self.kern, self.times, self.replicas = kern, times, replicas
        self.labels = tuple(labels)

    def fit(self, data: Dataset) -> tuple[MethodFit, ...]:
        c = data.closure
        mean, cov, train, _ = flow_predictions(
            self.kern, data.y, c.cov, self.times, c.forward_map, replicas=self.replicas
        )
        return tuple(map(MethodFit, mean, cov, train))


class Ensemble:
    """Finite-width networks of one width trained on level-2 replicas.

    Parameters
    ----------
    architecture : Architecture
    width : int
    n_members : int
    X_grid : ndarray of shape (n_grid, n_features)
    X_test : ndarray of shape (n_test, n_features)
    step : float
        Gradient-descent step (see :func:`ensemble_predictions`).
    n_steps : int
    n_jobs : int or None, default=None
        Workers training the members (joblib: None → 1 unless inside a
        :func:`joblib.parallel_config`, −1 → all cores).
    """

    def __init__(
        self,
        architecture,
        width,
        n_members,
        X_grid,
        X_test,
        step,
        n_steps,
        n_jobs=None,
    ):
        self.architecture, self.width, self.n_members = architecture, width, n_members
        self.X_grid, self.X_test = X_grid, X_test
        self.step, self.n_steps = step, n_steps
        self.n_jobs = n_jobs
        self.labels = (f"ensemble n={width}",)

    def fit(self, data: Dataset) -> tuple[MethodFit]:
        """Train the ensemble on ``data`` (networks seeded by ``data.seed``, width)."""
        c = data.closure
        *moments, members = ensemble_predictions(
            self.architecture,
            self.width,
            self.n_members,
            self.X_grid,
            self.X_test,
            data.y,
            c.cov,
            self.step,
            self.n_steps,
            c.forward_map,
            random_state=np.random.default_rng([data.seed, self.width]),
            n_jobs=self.n_jobs,
        )
        return (MethodFit(*moments, members=members),)
