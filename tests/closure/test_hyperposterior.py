"""The log posterior of (C_W, C_b, s), against scipy's Gaussian log densities."""

import numpy as np
import pytest
from hyperparameter_models import (
    PRIOR_MEAN,
    PRIOR_STD,
    model_data,
    reference_log_posterior,
)

from nngpbayes._linalg import jittered_cholesky
from nngpbayes.closure import _hyperposterior
from nngpbayes.closure._hyperposterior import (
    PARAMETER_NAMES,
    LogPosterior,
    check_data,
    check_prior,
)


def test_default_prior_is_the_documented_one():
    assert PARAMETER_NAMES == ("weight_variance", "bias_variance", "noise_scale")
    np.testing.assert_array_equal(_hyperposterior.PRIOR_MEAN, PRIOR_MEAN)
    np.testing.assert_array_equal(_hyperposterior.PRIOR_STD, PRIOR_STD)


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("correlated", [False, True])
def test_log_posterior_matches_scipy(depth, correlated):
    X, y, C = model_data(n=25, depth=depth, seed=1, correlated=correlated)
    logpost = LogPosterior(X, y, C, depth, "relu", PRIOR_MEAN, PRIOR_STD)
    rng = np.random.default_rng(2)
    for u in PRIOR_MEAN + PRIOR_STD * rng.standard_normal((4, 3)):
        expected = reference_log_posterior(u, X, y, C, depth)
        np.testing.assert_allclose(logpost(u), expected, rtol=1e-10)
    assert logpost.n_calls == 4 and logpost.n_jittered == 0


def test_log_posterior_gradient_matches_finite_differences():
    X, y, C = model_data(n=25, depth=2, seed=1)
    logpost = LogPosterior(X, y, C, 2, "relu", PRIOR_MEAN, PRIOR_STD)
    u = np.array([0.3, -1.0, 0.2])
    _, grad = logpost.evaluate(u, gradient=True)
    h = 1e-5
    numeric = [(logpost(u + h * e) - logpost(u - h * e)) / (2 * h) for e in np.eye(3)]
    # central differences: error O(h² f''') plus round-off O(eps |f| / h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_log_posterior_is_minus_infinity_outside_support_never_nan():
    X, y, C = model_data(n=15, seed=1)
    logpost = LogPosterior(X, y, C, 1, "relu", PRIOR_MEAN, PRIOR_STD)
    for u in ([np.nan, 0.0, 0.0], [0.0, 0.0, np.inf], [11.0, -2.0, 0.0]):
        assert logpost(np.array(u)) == -np.inf  # beyond the ±10σ prior truncation
        assert logpost.evaluate(np.array(u), gradient=True) == (-np.inf, None)
    assert logpost(np.array([9.9, -2.0, 0.0])) > -np.inf


def _duplicated_inputs():
    """Duplicated inputs make K exactly rank-deficient, and sC (≈ 1e-16 K at
    s = e^-9.5) is below round-off: the plain Cholesky of K + sC fails."""
    X = np.repeat(np.linspace(-1, 1, 6)[:, None], 3, axis=0)
    y = np.repeat(np.sin(np.linspace(-1, 1, 6)), 3)
    return X, y, 1e-12 * np.eye(len(y))


def test_near_singular_covariance_is_jittered():
    X, y, C = _duplicated_inputs()
    logpost = LogPosterior(X, y, C, 1, "relu", PRIOR_MEAN, PRIOR_STD)
    u = np.column_stack(
        [np.linspace(-1, 1, 5), np.linspace(-3, 0, 5), np.full(5, -9.5)]
    )
    values = [logpost(ui) for ui in u]
    assert np.all(np.isfinite(values))
    assert logpost.n_jittered >= 1


def test_jittered_cholesky_as_the_log_posterior_uses_it():
    """The shared factorisation: a ridge for round-off, ValueError (-> -inf) for
    matrices that are not positive definite or not finite."""
    B = np.random.default_rng(0).standard_normal((10, 2))
    A = B @ B.T - 1e-13 * np.eye(10)  # PSD up to round-off, not numerically PD
    L, jitter = jittered_cholesky(A, "A", warn=False)
    assert jitter > 0
    scale = np.mean(np.diag(A))
    np.testing.assert_allclose(L @ L.T, A, atol=1e-6 * scale)
    for bad in (-np.eye(3), np.full((2, 2), np.nan)):
        with pytest.raises(ValueError, match="A"):
            jittered_cholesky(bad, "A", warn=False)
    L, jitter = jittered_cholesky(np.eye(3), "A", warn=False)
    assert jitter == 0.0 and np.array_equal(L, np.eye(3))


def test_unfactorisable_covariance_gives_minus_infinity():
    X, y, C = model_data(n=6, seed=1)
    logpost = LogPosterior(X, y, -C, 1, "relu", PRIOR_MEAN, PRIOR_STD)
    # K − 400 C is indefinite: no ridge up to 1e-6 of its diagonal repairs it
    u = np.array([0.0, -2.0, np.log(400.0)])
    assert logpost(u) == -np.inf
    assert logpost.evaluate(u, gradient=True) == (-np.inf, None)
    assert logpost.n_jittered == 0


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"y": np.r_[np.nan, np.zeros(11)]}, "y contains"),
        ({"y": np.zeros(11)}, "y has 11"),
        ({"y": np.zeros((12, 1))}, "y must be 1-D"),
        ({"X": np.full((12, 2), np.inf)}, "X contains"),
        ({"X": np.zeros(12)}, "X must be 2-D"),
        ({"data_cov": -np.eye(12)}, "data_cov must be positive definite"),
        ({"data_cov": np.eye(11)}, "data_cov"),
        ({"data_cov": np.triu(np.ones((12, 12)))}, "data_cov must be symmetric"),
    ],
)
def test_check_data_names_the_argument(changes, match):
    X, y, C = model_data(n=12, seed=2)
    kwargs = {"X": X, "y": y, "data_cov": C, **changes}
    with pytest.raises(ValueError, match=match):
        check_data(**kwargs)


def test_check_data_defaults_to_the_identity():
    X, y, _ = model_data(n=5, seed=2)
    _, _, C, F = check_data(X, y, None)
    np.testing.assert_array_equal(C, np.eye(5))
    assert F is None


@pytest.mark.parametrize(
    "mean, std, match",
    [
        ((0.0, 0.0), (1.0, 1.0, 1.0), "prior_mean"),
        ((0.0, np.nan, 0.0), (1.0, 1.0, 1.0), "prior_mean"),
        ((0.0, 0.0, 0.0), (1.0, 0.0, 1.0), "prior_std"),
        ((0.0, 0.0, 0.0), "abc", "prior_std"),
    ],
)
def test_check_prior_names_the_argument(mean, std, match):
    with pytest.raises(ValueError, match=match):
        check_prior(mean, std)
