"""MAP estimate, Laplace covariance and the walkers' starting positions, with and
without a forward map (y = F f(X) + ε: the log posterior carries F)."""

import numpy as np
import pytest
from hyperparameter_models import PRIOR_MEAN, PRIOR_STD, forward_map_data, model_data

from nngpbayes.closure._hyperposterior import LogPosterior
from nngpbayes.closure._laplace import (
    initial_positions,
    laplace_covariance,
    map_estimate,
)


def _logpost(through_map=False):
    if through_map:
        X, y, C, F = forward_map_data(seed=1)
    else:
        (X, y, C), F = model_data(n=25, seed=1), None
    return LogPosterior(X, y, C, 1, "relu", PRIOR_MEAN, PRIOR_STD, forward_map=F)


through_map = pytest.mark.parametrize("through_map", [False, True])


@through_map
def test_map_is_a_stationary_point_above_every_start(through_map):
    logpost = _logpost(through_map)
    starts = [PRIOR_MEAN, PRIOR_MEAN + PRIOR_STD, PRIOR_MEAN - PRIOR_STD]
    u_map = map_estimate(logpost, starts)
    value, grad = logpost.evaluate(u_map, gradient=True)
    # L-BFGS-B stops at a projected gradient of 1e-5 (scipy's default pgtol)
    np.testing.assert_allclose(grad, 0.0, atol=1e-4)
    assert all(value >= logpost(u0) for u0 in starts)


@through_map
def test_laplace_covariance_inverts_the_hessian_of_the_values(through_map):
    """The covariance (from differences of the analytic gradient) against second
    differences of the log posterior itself: O(h²) truncation + O(eps |f| / h²)."""
    logpost = _logpost(through_map)
    u_map = map_estimate(logpost, [PRIOR_MEAN])
    cov = laplace_covariance(logpost, u_map)
    h = 1e-3
    E = h * np.eye(3)
    f = logpost
    H = np.array(
        [
            [
                (f(u_map + a + b) - f(u_map + a - b) - f(u_map - a + b)
                 + f(u_map - a - b)) / (4 * h * h)
                for b in E
            ]
            for a in E
        ]
    )  # fmt: skip
    np.testing.assert_allclose(cov, np.linalg.inv(-H), rtol=1e-3, atol=1e-6)
    assert np.all(np.linalg.eigvalsh(cov) > 0)


@through_map
def test_laplace_covariance_is_none_away_from_a_maximum(through_map):
    logpost = _logpost(through_map)
    # at a prior draw far from the mode the Hessian need not be negative definite;
    # at the truncation edge the gradient is missing: either way None, never NaN
    edge = PRIOR_MEAN + 10.0 * PRIOR_STD * np.array([1.0, 0.0, 0.0])
    assert laplace_covariance(logpost, edge) is None


@through_map
def test_initial_positions_have_finite_density_and_are_reproducible(through_map):
    logpost = _logpost(through_map)
    p0 = initial_positions(logpost, np.random.default_rng(3), 10)
    assert p0.shape == (10, 3)
    assert all(np.isfinite(logpost(p)) for p in p0)
    again = initial_positions(logpost, np.random.default_rng(3), 10)
    np.testing.assert_array_equal(p0, again)
    assert np.linalg.matrix_rank(p0 - p0.mean(axis=0)) == 3
