"""A closure result as ArviZ data (DataTree on ArviZ 1.x, InferenceData on 0.x).

Groups: ``observed_data`` (the level-1 data and the truth of every fit),
``posterior_predictive`` (function draws at the test inputs: from the hyperparameter
-marginalised predictive when emcee inference ran, else from the fixed-prior GP
posterior of the first fit), ``posterior`` and ``sample_stats`` (hyperparameter
samples, when inference ran), ``trained_ensemble`` (the analytic ensemble's mean and
std against time, and the finite ensembles' members, for the first fit) and
``metrics`` (the estimators per method and per fit).
"""

from __future__ import annotations

import numpy as np

from .._linalg import draw_gaussian
from .._validation import check_generator, check_int
from ._arviz import to_arviz

__all__ = ["result_to_arviz"]

#: Axis names of every variable (after chain/draw in the sample groups).
DIMS = {
    "y": ["fit", "data"],
    "truth_train": ["fit", "train"],
    "truth_test": ["fit", "test"],
    "x_train": ["train", "feature"],
    "x_test": ["test", "feature"],
    "f_test": ["test"],
    "flow_mean": ["time", "test"],
    "flow_std": ["time", "test"],
    "posterior_mean": ["test"],
    "posterior_std": ["test"],
    "r_bv": ["method"],
    "xi_1sigma": ["method"],
    "bias": ["method"],
    "variance": ["method"],
    "delta_chi2": ["method"],
    "r_bv_error": ["method"],
    "xi_1sigma_error": ["method"],
    "fit_bias": ["method", "fit"],
    "fit_variance": ["method", "fit"],
    "fit_inside_1sigma": ["method", "fit"],
}
#: Multi-closure estimators stored per method, and those stored with an error.
METRICS = ("r_bv", "xi_1sigma", "bias", "variance", "delta_chi2")
WITH_ERRORS = ("r_bv", "xi_1sigma")


def result_to_arviz(result, n_draws=200, random_state=None):
    """Build the ArviZ data of a :class:`~nngpbayes.closure.ClosureResult`.

    Parameters
    ----------
    result : ClosureResult
    n_draws : int, default=200
        Draws of the first fit's GP posterior in ``posterior_predictive`` (when
        no hyperparameter inference ran).
    random_state : int, numpy.random.Generator or None, default=None
        Seeds those draws.

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
    """
    n_draws = check_int(n_draws, "n_draws", min_val=1)
    rng = check_generator(random_state)
    coords, dims = _coords(result), dict(DIMS)
    groups = {
        "observed_data": _observed(result),
        "posterior_predictive": {"f_test": _predictive_draws(result, n_draws, rng)},
    }
    if result.inference is not None:
        groups["posterior"] = dict(result.inference.samples)
        groups["sample_stats"] = {"lp": result.inference.log_prob}
    groups["trained_ensemble"] = _trained_ensemble(result, coords, dims)
    groups["metrics"] = _metrics(result)
    return to_arviz(groups, coords=coords, dims=dims)


def _coords(result):
    """Coordinates of every named axis of :data:`DIMS`."""
    return {
        "fit": np.arange(len(result.data)),
        "time": np.asarray(result.times, dtype=float),
        "method": np.array(list(result.metrics)),
        "test": np.arange(len(result.X_test)),
        "train": np.arange(result.truth_train.shape[1]),
        "data": np.arange(result.data.shape[1]),
        "feature": np.arange(result.X_train.shape[1]),
    }


def _observed(result):
    """Return the data, truths and inputs of every fit."""
    return {
        "y": result.data,
        "truth_train": result.truth_train,
        "truth_test": result.truth_test,
        "x_train": result.X_train,
        "x_test": result.X_test,
    }


def _predictive_draws(result, n_draws, rng):
    """Return function draws at the test inputs, shape (1, n_draws, n_test).

    These are the marginalised predictive's samples, else draws of the first fit's
    posterior.
    """
    if result.predictive is not None:
        return result.predictive["samples"][None]
    post = result.first_fits["posterior"]
    draws = draw_gaussian(
        post.mean, post.cov, rng, size=n_draws, name="the posterior covariance"
    )
    return draws[None]


def _trained_ensemble(result, coords, dims):
    """Return the first fit's analytic ensemble against time and the finite members.

    Adds the ``member`` axis (of the finite ensembles' members) to ``coords`` and
    ``dims``.
    """
    fits, post = result.first_fits, result.first_fits["posterior"]
    group = {
        "flow_mean": np.array([fits[k].mean for k in result.flow_labels]),
        "flow_std": np.array([fits[k].std for k in result.flow_labels]),
        "posterior_mean": post.mean,
        "posterior_std": post.std,
    }
    for width, fit in zip(result.config["widths"], result.ensemble_fits, strict=True):
        group[f"ensemble_{width}"] = fit.members
        dims[f"ensemble_{width}"] = ["member", "test"]
        coords["member"] = np.arange(len(fit.members))
    return group


def _metrics(result):
    """Return the estimators per method (with bootstrap errors) and per fit."""
    methods, per_fit = list(result.metrics.values()), list(result.per_fit.values())
    group = {k: [getattr(m, k) for m in methods] for k in METRICS}
    for k in WITH_ERRORS:
        group[f"{k}_error"] = [m.errors.get(k, 0.0) for m in methods]
    group["fit_bias"] = [[f.bias for f in fits] for fits in per_fit]
    group["fit_variance"] = [[f.variance for f in fits] for fits in per_fit]
    group["fit_inside_1sigma"] = [
        [np.mean(f.inside_1sigma) for f in fits] for fits in per_fit
    ]
    return {k: np.asarray(v, dtype=float) for k, v in group.items()}
