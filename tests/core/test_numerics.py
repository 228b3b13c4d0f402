"""Numerical guards (nngpbayes._numerics)."""

import warnings

import numpy as np
import pytest

from nngpbayes._numerics import (
    IllConditionedWarning,
    as_covariance,
    cholesky_psd,
    eigh_ascending,
    empty_large,
    symmetric_eigh,
)


def test_as_covariance_from_scalar_vector_matrix():
    np.testing.assert_array_equal(as_covariance(2.0, 3, "C"), 2.0 * np.eye(3))
    np.testing.assert_array_equal(as_covariance([1, 2], 2, "C"), np.diag([1.0, 2.0]))
    m = np.array([[2.0, 0.5], [0.5, 1.0]])
    np.testing.assert_array_equal(as_covariance(m, 2, "C"), m)
    with pytest.raises(ValueError, match="y_cov has 3 variances, expected 2"):
        as_covariance([1, 2, 3], 2, "y_cov")
    with pytest.raises(ValueError, match="y_cov must be symmetric"):
        as_covariance([[1.0, 0.2], [0.0, 1.0]], 2, "y_cov")
    with pytest.raises(ValueError, match="y_cov contains NaN"):
        as_covariance([np.nan, 1.0], 2, "y_cov")


def test_cholesky_psd_names_the_matrix_and_its_smallest_eigenvalue():
    np.testing.assert_allclose(cholesky_psd(np.diag([4.0, 9.0]), "C"), np.diag([2, 3]))
    with pytest.raises(ValueError, match=r"y_cov must be positive definite.*-1"):
        cholesky_psd(np.diag([1.0, -1.0]), "y_cov")


def test_symmetric_eigh_descending_clipped_and_warns_beyond_round_off():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 3))
    k = a @ a.T  # rank 3: two eigenvalues are round-off
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, u = symmetric_eigh(k, "K")
    assert np.all(np.diff(s) <= 0) and np.all(s >= 0)
    np.testing.assert_allclose((u * s) @ u.T, k, atol=1e-12 * s[0])
    with pytest.warns(IllConditionedWarning, match="K has negative eigenvalues"):
        s, _ = symmetric_eigh(np.diag([1.0, -0.5]), "K")
    np.testing.assert_array_equal(s, [1.0, 0.0])


def test_eigh_one_by_one_and_general():
    s, u = eigh_ascending(np.array([[3.0]]))
    np.testing.assert_array_equal(s, [3.0])
    np.testing.assert_array_equal(u, [[1.0]])
    s, u = eigh_ascending(np.array([[2.0, 1.0], [1.0, 2.0]]))
    np.testing.assert_allclose(s, [1.0, 3.0])


def test_empty_large_is_a_writable_float_array():
    for shape in [(3, 4), (2100, 1100)]:  # below and above the huge-page threshold
        a = empty_large(shape)
        assert a.shape == shape and a.dtype == np.float64
        a[...] = 1.0
        assert a.sum() == np.prod(shape)
