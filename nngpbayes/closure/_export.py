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

from ._arviz import to_arviz

__all__ = ["result_to_arviz"]


def result_to_arviz(result, n_draws=200):
    """Build the ArviZ data of a :class:`~nngpbayes.closure.ClosureResult`."""
    rng = np.random.default_rng(0)
    first = result.first_fit
    groups = {
        "observed_data": {
            "y": result.data,
            "truth_train": result.truth_train,
            "truth_test": result.truth_test,
            "x_train": result.X_train,
            "x_test": result.X_test,
        }
    }
    coords = {
        "fit": np.arange(len(result.data)),
        "time": np.asarray(result.times, dtype=float),
        "method": np.array(list(result.metrics)),
        "test": np.arange(len(result.X_test)),
        "train": np.arange(result.truth_train.shape[1]),
        "data": np.arange(result.data.shape[1]),
        "feature": np.arange(result.X_train.shape[1]),
    }
    dims = {
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
    if result.predictive is not None:
        draws = result.predictive["samples"][None]
    else:
        cov = first["posterior_cov"]
        s, u = np.linalg.eigh(0.5 * (cov + cov.T))
        z = rng.standard_normal((n_draws, len(s)))
        draws = (first["posterior_mean"] + (z * np.sqrt(np.maximum(s, 0))) @ u.T)[None]
    groups["posterior_predictive"] = {"f_test": draws}
    if result.inference is not None:
        groups["posterior"] = dict(result.inference.samples)
        groups["sample_stats"] = {"lp": result.inference.log_prob}
    ensemble = {
        "flow_mean": first["flow_mean"],
        "flow_std": first["flow_std"],
        "posterior_mean": first["posterior_mean"],
        "posterior_std": np.sqrt(np.maximum(np.diag(first["posterior_cov"]), 0)),
    }
    for width, members in zip(result.config["widths"], first["ensembles"], strict=True):
        name = f"ensemble_{width}"
        ensemble[name] = members
        dims[name] = ["member", "test"]
        coords["member"] = np.arange(len(members))
    groups["trained_ensemble"] = ensemble
    metrics = {
        k: []
        for k in (
            "r_bv",
            "xi_1sigma",
            "bias",
            "variance",
            "delta_chi2",
            "r_bv_error",
            "xi_1sigma_error",
        )
    }
    for m in result.metrics.values():
        for key in metrics:
            base, _, err = key.partition("_error")
            value = (
                m.errors.get(base, 0.0) if key.endswith("_error") else getattr(m, key)
            )
            metrics[key].append(value)
    per_fit = result.per_fit.values()
    metrics["fit_bias"] = [[f.bias for f in fits] for fits in per_fit]
    metrics["fit_variance"] = [[f.variance for f in fits] for fits in per_fit]
    metrics["fit_inside_1sigma"] = [
        [np.mean(f.inside_1sigma) for f in fits] for fits in per_fit
    ]
    groups["metrics"] = {k: np.asarray(v, dtype=float) for k, v in metrics.items()}
    return to_arviz(groups, coords=coords, dims=dims)
