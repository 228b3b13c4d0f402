"""Posterior predictive of the NNGP model, marginalised over sampled hyperparameters.

Package-internal.

For each hyperparameter draw the GP posterior of :ref:`theory-4` (through the forward
map F, the identity when absent; data covariance s·C) is computed by
:func:`nngpbayes._linalg.gp_posterior`; the draws are then combined with equal
weights by the law of total variance.

References
----------
.. [1] C. E. Rasmussen, C. K. I. Williams, "Gaussian Processes for Machine
   Learning" (MIT Press, 2006), Algorithm 2.1.
"""

from __future__ import annotations

import numpy as np

from .._linalg import draw_gaussian, gp_posterior
from .._threads import blas_threads_for
from .._validation import check_generator, check_inputs, check_int
from ._hyperposterior import PARAMETER_NAMES, check_data, nngp_kernel, warn_jitter

__all__ = ["posterior_predictive"]

_COV_NAME = "a posterior covariance K** − K*X Fᵀ (F K Fᵀ + sC)⁻¹ F KX*"


def posterior_predictive(
    posterior,
    X,
    y,
    X_test,
    data_cov=None,
    depth=1,
    activation="relu",
    n_draws=200,
    random_state=None,
    *,
    forward_map=None,
) -> dict:
    r"""GP posterior of the noise-free function at X_test, per hyperparameter draw.

    For each drawn (C_W, C_b, s), :ref:`theory-4` (Bayesian posterior of f observed
    through y = F f(X) + ε, ε ~ N(0, sC); F = I without ``forward_map``):

    .. math::

        m = K_{*X} F^T (F K_{XX} F^T + sC)^{-1} y,\qquad
        Σ = K_{**} - K_{*X} F^T (F K_{XX} F^T + sC)^{-1} F K_{X*}

    and over the draws (law of total variance), with equal weights:

    .. math::

        \bar m = \frac1D \sum_d m_d,\qquad
        \bar Σ = \frac1D \sum_d Σ_d
            + \frac1D \sum_d (m_d - \bar m)(m_d - \bar m)^T.

    Parameters
    ----------
    posterior : HyperparameterPosterior
        From :func:`sample_hyperparameters` on the same X, y, data_cov, depth,
        activation and forward_map.
    X : ndarray of shape (n_grid, n_features)
        Inputs of f: the data inputs without ``forward_map``, the grid with it.
    y : ndarray of shape (n_data,)
    X_test : ndarray of shape (n_test, n_features)
    data_cov : float, ndarray of shape (n_data,) or (n_data, n_data), default=None
        The data covariance C (``None``: identity).
    depth : int, default=1
    activation : str or Activation, default="relu"
    n_draws : int, default=200
        Hyperparameter draws, taken uniformly without replacement from all chains;
        if the posterior holds fewer samples, every sample is used once. The result
        has D = min(n_draws, n_chains · n_draws_posterior) rows.
    random_state : int, numpy Generator, RandomState or None, default=None
        Selects the draws and the function samples.
    forward_map : ndarray of shape (n_data, n_grid), default=None
        The linear forward map F of the data; ``None`` is the identity. When the
        posterior recorded a forward map (``posterior.forward_map``), this must be
        the same matrix.

    Returns
    -------
    dict
        ``"mean"`` ndarray of shape (D, n_test); ``"cov"`` (D, n_test, n_test)
        (8·D·n_test² bytes); ``"samples"`` (D, n_test), one function draw per
        hyperparameter draw; ``"marginal_mean"`` (n_test,); ``"marginal_cov"``
        (n_test, n_test); ``"hyperparameters"``: dict of the D drawn values of
        "weight_variance", "bias_variance", "noise_scale".

    Raises
    ------
    ValueError
        Bad X, y, data_cov, forward_map, X_test, n_draws, random_state or posterior
        (checked first); F K Fᵀ + sC that cannot be factorised at a drawn
        hyperparameter set.
    """
    X, y, C, F = check_data(X, y, data_cov, forward_map)
    _check_same_map(posterior, F)
    X_test = check_inputs(X_test, "X_test")
    if X_test.shape[1] != X.shape[1]:
        raise ValueError(
            f"X_test has {X_test.shape[1]} features but X has {X.shape[1]}; they must "
            "match"
        )
    n_draws = check_int(n_draws, "n_draws", 1)
    rng = check_generator(random_state)
    theta = _flat_samples(posterior)
    idx = rng.choice(len(theta), size=min(n_draws, len(theta)), replace=False)
    # one BLAS thread for small problems (:mod:`nngpbayes._threads`): the
    # triangular solves of a few test points gain nothing from a second thread
    # and, on a loaded machine, wait for it (several ms per draw)
    with blas_threads_for(float(max(len(X) + len(X_test), len(y))) ** 3):
        per_draw = [
            _gp_at(X, y, C, X_test, nngp_kernel(depth, activation, t), t[2], F)
            for t in theta[idx]
        ]
    warn_jitter(
        sum(post.jitter > 0 for post, _ in per_draw),
        len(per_draw),
        name=_matrix_name(F),
    )
    means = np.array([post.mean for post, _ in per_draw])
    covs = np.array([post.cov for post, _ in per_draw])
    samples = np.array(
        [
            draw_gaussian(post.mean, post.cov, rng, name=_COV_NAME, scale=scale)
            for post, scale in per_draw
        ]
    )
    marginal_mean = means.mean(axis=0)
    dev = means - marginal_mean
    marginal_cov = covs.mean(axis=0) + dev.T @ dev / len(means)  # total variance
    return {
        "mean": means,
        "cov": covs,
        "samples": samples,
        "marginal_mean": marginal_mean,
        "marginal_cov": marginal_cov,
        "hyperparameters": {n: theta[idx, i] for i, n in enumerate(PARAMETER_NAMES)},
    }


def _flat_samples(posterior):
    """(n_chains · n_draws, 3) natural-unit samples from a posterior object."""
    samples = getattr(posterior, "samples", None)
    if not isinstance(samples, dict) or any(n not in samples for n in PARAMETER_NAMES):
        raise ValueError(
            "posterior must be a HyperparameterPosterior with samples of "
            f"{PARAMETER_NAMES}, got {type(posterior).__name__}"
        )
    theta = np.stack([np.ravel(samples[n]) for n in PARAMETER_NAMES], axis=-1)
    if len(theta) == 0 or not np.all(np.isfinite(theta) & (theta > 0)):
        raise ValueError("posterior samples must be non-empty, finite and positive")
    return theta


def _check_same_map(posterior, F):
    """ValueError naming forward_map if the posterior recorded a different F."""
    recorded = getattr(posterior, "forward_map", None)
    if recorded is None:
        return
    recorded = np.asarray(recorded)
    if F is None or F.shape != recorded.shape or not np.array_equal(F, recorded):
        got = "None" if F is None else f"a matrix of shape {F.shape}"
        raise ValueError(
            "forward_map must be the forward map the posterior was sampled with "
            f"(shape {recorded.shape}, posterior.forward_map), got {got}"
        )


def _matrix_name(F):
    return "K + sC" if F is None else "F K Fᵀ + sC"


def _gp_at(X, y, C, X_test, kernel, s, F=None):
    """Return the GP posterior at one hyperparameter set and the largest prior variance.

    :ref:`theory-4` with forward map F (None: the identity) and data covariance sC;
    Ref. [1], Alg. 2.1. The prior variance max diag K** is the scale of the
    round-off in Σ = K** − VᵀV, used to tell round-off from a genuinely non-PSD
    covariance when drawing.

    Returns
    -------
    post : GPPosterior
        ``mean`` (n_test,), ``cov`` (n_test, n_test), ``jitter``.
    prior_scale : float
    """
    n, name = len(X), _matrix_name(F)
    with np.errstate(over="ignore", invalid="ignore"):
        K = kernel(np.vstack([X, X_test]))
    try:
        post = gp_posterior(
            K[:n, :n], K[n:, :n], K[n:, n:], y, s * C, F, name=name, warn=False
        )
    except ValueError as err:
        raise ValueError(
            f"{name} cannot be factorised at {kernel!r}, s = {s:.4g}; the posterior "
            "does not belong to these data (X, data_cov, depth, activation, "
            "forward_map)"
        ) from err
    return post, float(np.diag(K[n:, n:]).max())
