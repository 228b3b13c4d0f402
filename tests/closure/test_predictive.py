"""The posterior predictive marginalised over the hyperparameter draws.

Oracles: scikit-learn's GaussianProcessRegressor (GP posterior at fixed
hyperparameters) and the law of total variance written out in the test.
"""

import numpy as np
import pytest
from hyperparameter_models import TRUE, fixed_posterior, model_data, recovery_run
from sklearn.gaussian_process import GaussianProcessRegressor

from nngpbayes import NNGPKernel
from nngpbayes.closure._hyperposterior import PARAMETER_NAMES
from nngpbayes.closure._predictive import posterior_predictive


@pytest.fixture(scope="module")
def recovery():
    return recovery_run()


@pytest.mark.parametrize("depth", [1, 2])
def test_fixed_hyperparameters_match_sklearn_gpr(depth):
    X, y, C = model_data(n=30, depth=depth, seed=4, correlated=False)
    X_test = np.random.default_rng(5).uniform(-1.2, 1.2, (17, 2))
    theta = {"weight_variance": 1.7, "bias_variance": 0.2, "noise_scale": 0.8}
    out = posterior_predictive(
        fixed_posterior(theta), X, y, X_test, data_cov=np.diag(C), depth=depth
    )
    kernel = NNGPKernel(depth, "relu", weight_variance=1.7, bias_variance=0.2)
    gpr = GaussianProcessRegressor(kernel, alpha=0.8 * np.diag(C), optimizer=None)
    mean, cov = gpr.fit(X, y).predict(X_test, return_cov=True)
    assert out["mean"].shape == (1, 17) and out["cov"].shape == (1, 17, 17)
    np.testing.assert_allclose(out["mean"][0], mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["cov"][0], cov, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(out["marginal_mean"], mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["marginal_cov"], cov, rtol=1e-8, atol=1e-12)


def test_marginal_is_the_law_of_total_variance(recovery):
    X, y, C, post = recovery
    X_test = np.random.default_rng(6).uniform(-1, 1, (9, 2))
    out = posterior_predictive(
        post, X, y, X_test, data_cov=C, n_draws=60, random_state=1
    )
    means, covs = out["mean"], out["cov"]
    assert means.shape == (60, 9) and covs.shape == (60, 9, 9)
    assert out["samples"].shape == (60, 9)
    np.testing.assert_allclose(out["marginal_mean"], means.mean(axis=0), rtol=1e-12)
    total = covs.mean(axis=0) + np.cov(means.T, bias=True)
    np.testing.assert_allclose(out["marginal_cov"], total, rtol=1e-10, atol=1e-14)
    # the per-draw covariance is the GP posterior at that draw's hyperparameters
    i = 17
    hp = {n: out["hyperparameters"][n][i] for n in PARAMETER_NAMES}
    single = posterior_predictive(fixed_posterior(hp), X, y, X_test, data_cov=C)
    np.testing.assert_allclose(single["mean"][0], means[i], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(single["cov"][0], covs[i], rtol=1e-10, atol=1e-13)


def test_function_samples_follow_the_mixture(recovery):
    """Mean of D = 2000 draws from the mixture: within 5 standard errors
    √(Σ̄_ii / D) of the marginal mean."""
    X, y, C, post = recovery
    X_test = np.random.default_rng(7).uniform(-1, 1, (5, 2))
    out = posterior_predictive(
        post, X, y, X_test, data_cov=C, n_draws=2000, random_state=2
    )
    err = np.sqrt(np.diag(out["marginal_cov"]) / 2000)
    assert np.all(np.abs(out["samples"].mean(axis=0) - out["marginal_mean"]) < 5 * err)
    again = posterior_predictive(
        post, X, y, X_test, data_cov=C, n_draws=2000, random_state=2
    )
    np.testing.assert_array_equal(out["samples"], again["samples"])


def test_n_draws_is_capped_by_the_number_of_samples():
    theta = dict(TRUE)
    X, y, C = model_data(n=10, seed=3)
    out = posterior_predictive(fixed_posterior(theta), X, y, X[:4], data_cov=C)
    assert out["mean"].shape == (1, 4)


def test_hyperparameters_whose_kernel_overflows_raise():
    X, y, C = model_data(n=10, seed=3)
    # depth 2: K ∝ C_W² = 1e400 overflows to inf; an error, never NaN output
    theta = {"weight_variance": 1e200, "bias_variance": 0.1, "noise_scale": 1.0}
    with pytest.raises(ValueError, match="K \\+ sC cannot be factorised"):
        posterior_predictive(fixed_posterior(theta), X, y, X[:3], data_cov=C, depth=2)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"X_test": np.zeros((3, 5))}, "X_test has 5 features"),
        ({"X_test": np.full((3, 2), np.nan)}, "X_test contains"),
        ({"posterior": {"weight_variance": 1.0}}, "posterior must be"),
        ({"n_draws": 0}, "n_draws == 0, must be >= 1"),
        ({"n_draws": 2.5}, "n_draws must be an instance of int"),
        ({"random_state": "seed"}, "random_state"),
        ({"y": np.r_[np.nan, np.zeros(11)]}, "y contains"),
    ],
)
def test_predictive_rejects_bad_input(changes, match):
    X, y, C = model_data(n=12, seed=2)
    kwargs = {
        "posterior": fixed_posterior(TRUE),
        "X": X,
        "y": y,
        "X_test": X[:3],
        "data_cov": C,
    }
    kwargs.update(changes)
    with pytest.raises(ValueError, match=match):
        posterior_predictive(**kwargs)
