"""The shared numerical core (nngpbayes._linalg) against independent references."""

import warnings

import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF

from nngpbayes._linalg import (
    JITTER_STEPS,
    draw_gaussian,
    gp_posterior,
    jittered_cholesky,
    psd_root,
)
from nngpbayes._numerics import IllConditionedWarning


def _spd(n, rng, rank=None):
    a = rng.normal(size=(n, rank or n))
    return a @ a.T + (0 if rank else 1e-3 * np.eye(n))


# -- jittered Cholesky --------------------------------------------------------------
def test_cholesky_exact_when_positive_definite():
    a = _spd(6, np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chol, jitter = jittered_cholesky(a, "A")
    assert jitter == 0.0
    np.testing.assert_allclose(chol @ chol.T, a, rtol=1e-13, atol=1e-13)
    assert np.allclose(chol, np.tril(chol))


def test_cholesky_adds_the_smallest_ridge_and_warns():
    rng = np.random.default_rng(1)
    a = _spd(8, rng, rank=3)  # singular: Cholesky fails in floating point
    a -= 1e-14 * np.trace(a) * np.eye(8)  # slightly indefinite (round-off size)
    with pytest.warns(IllConditionedWarning, match="ridge"):
        chol, jitter = jittered_cholesky(a, "A")
    assert jitter > 0
    scale = np.mean(np.diag(a))
    np.testing.assert_allclose(
        chol @ chol.T, a + jitter * scale * np.eye(8), rtol=1e-12, atol=1e-12 * scale
    )
    # it is the first ridge of the documented ladder that factorises
    first = next(r for r in JITTER_STEPS if _factorises(a + r * scale * np.eye(8)))
    assert jitter == first


def _factorises(a):
    try:
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return False
    return True


def test_cholesky_silent_when_asked_and_errors_name_the_matrix():
    a = _spd(5, np.random.default_rng(2), rank=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, jitter = jittered_cholesky(a, "A", warn=False)
    assert jitter > 0
    with pytest.raises(ValueError, match="the kernel matrix.*NaN"):
        jittered_cholesky(np.full((2, 2), np.nan), "the kernel matrix")
    with pytest.raises(ValueError, match="K plus C is not positive definite"):
        jittered_cholesky(-np.eye(3), "K plus C")


# -- PSD root and Gaussian draws -----------------------------------------------------
def test_psd_root_reproduces_singular_covariance():
    cov = _spd(7, np.random.default_rng(3), rank=2)
    root = psd_root(cov, "cov")
    np.testing.assert_allclose(root @ root.T, cov, atol=1e-12 * np.abs(cov).max())


def test_psd_root_warns_only_beyond_round_off():
    cov = np.diag([1.0, 0.5, -1e-17])  # round-off negative: clipped silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        psd_root(cov, "cov")
    with pytest.warns(IllConditionedWarning, match="cov has an eigenvalue"):
        root = psd_root(np.diag([1.0, -0.1]), "cov")
    np.testing.assert_allclose(root @ root.T, np.diag([1.0, 0.0]), atol=1e-15)
    with pytest.warns(IllConditionedWarning):  # the given scale sets the level
        psd_root(np.diag([1e-3, -1e-15]), "cov", scale=1e-3)


def test_psd_root_one_by_one():  # SciPy 1.10's dsyevd fails on 1 × 1 matrices
    np.testing.assert_allclose(psd_root(np.array([[4.0]]), "cov"), [[2.0]])


def test_draw_gaussian_moments():
    rng = np.random.default_rng(4)
    cov = _spd(3, rng)
    mean = np.array([1.0, -2.0, 0.5])
    n = 200_000
    x = draw_gaussian(mean, cov, np.random.default_rng(5), size=n)
    assert x.shape == (n, 3)
    # the sample mean has SE sqrt(diag cov / n); 5 SE
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(x.mean(0) - mean) < 5 * se)
    # a sample covariance entry has SE sqrt((c_ii c_jj + c_ij²) / n) (Gaussian); 5 SE
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(np.cov(x.T) - cov) < 5 * se_cov)
    one = draw_gaussian(mean, cov, np.random.default_rng(6))
    assert one.shape == (3,)


# -- GP posterior --------------------------------------------------------------------
def test_gp_posterior_equals_sklearn_for_identity_map():
    rng = np.random.default_rng(7)
    X, Xs = rng.uniform(-2, 2, (12, 1)), rng.uniform(-2, 2, (5, 1))
    y = np.sin(2 * X[:, 0])
    kernel, noise = RBF(0.7), 0.05
    gpr = GaussianProcessRegressor(kernel, alpha=noise, optimizer=None).fit(X, y)
    mu_ref, cov_ref = gpr.predict(Xs, return_cov=True)
    post = gp_posterior(kernel(X), kernel(Xs, X), kernel(Xs), y, noise * np.eye(len(y)))
    np.testing.assert_allclose(post.mean, mu_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(post.cov, cov_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        post.log_marginal_likelihood(y), gpr.log_marginal_likelihood_value_, rtol=1e-12
    )


def test_gp_posterior_through_a_forward_map_equals_joint_gaussian_conditioning():
    """y = F f(X_grid) + ε: condition the joint Gaussian of (y, f(X_test)) directly."""
    rng = np.random.default_rng(8)
    n_grid, n_test, n_data = 9, 4, 6
    k = _spd(n_grid + n_test, rng)
    F = rng.normal(size=(n_data, n_grid))
    C = _spd(n_data, rng) * 0.1
    y = rng.normal(size=(n_data, 2))  # two data sets, one factorisation
    kgg, ksg, kss = k[:n_grid, :n_grid], k[n_grid:, :n_grid], k[n_grid:, n_grid:]
    post = gp_posterior(kgg, ksg, kss, y, C, forward_map=F)
    cov_yy = F @ kgg @ F.T + C
    cov_sy = ksg @ F.T
    ref_mean = cov_sy @ np.linalg.solve(cov_yy, y)
    ref_cov = kss - cov_sy @ np.linalg.solve(cov_yy, cov_sy.T)
    np.testing.assert_allclose(post.mean, ref_mean, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(post.cov, ref_cov, rtol=1e-9, atol=1e-11)
    ref_train = F @ kgg @ F.T @ np.linalg.solve(cov_yy, y)
    np.testing.assert_allclose(post.train_mean, ref_train, rtol=1e-9, atol=1e-11)
    assert post.jitter == 0.0
    assert gp_posterior(kgg, ksg, None, y, C, F, return_cov=False).cov is None
