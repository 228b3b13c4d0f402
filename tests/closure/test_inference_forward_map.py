"""Hyperparameter inference through a forward map: y = F f(X) + ε, ε ~ N(0, sC).

Independent references: scipy's Gaussian log density of y under F K Fᵀ + sC;
finite differences of the log posterior; the joint Gaussian of (f(X_test), y)
conditioned in the test with numpy; a brute-force quadrature of the posterior over
the three hyperparameters (in the whitened eigenbasis, so the noise-scale axis is
vectorised).
"""

import warnings

import emcee
import numpy as np
import pytest
import scipy.linalg as sla
from hyperparameter_models import (
    PRIOR_MEAN,
    PRIOR_STD,
    TRUE,
    fixed_posterior,
    forward_map_data,
    model_data,
    reference_log_posterior,
)

from nngpbayes import NNGPKernel
from nngpbayes.closure import _arviz, _sampler
from nngpbayes.closure._hyperposterior import PARAMETER_NAMES, LogPosterior
from nngpbayes.closure._predictive import posterior_predictive
from nngpbayes.closure._sampler import sample_hyperparameters

X_TEST = np.array([[-0.8], [0.0], [0.55], [1.3]])  # inside and beyond the grid


def _logpost(X, y, C, F, depth=1):
    return LogPosterior(X, y, C, depth, "relu", PRIOR_MEAN, PRIOR_STD, forward_map=F)


# -- the log posterior and its gradient ---------------------------------------------
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("n_grid, n_data", [(25, 15), (8, 20)])
def test_log_posterior_through_forward_map_matches_scipy(depth, n_grid, n_data):
    """(8, 20): more data than grid points, F K Fᵀ of rank 8 made PD by sC."""
    X, y, C, F = forward_map_data(n_grid=n_grid, n_data=n_data, depth=depth, seed=1)
    logpost = _logpost(X, y, C, F, depth)
    rng = np.random.default_rng(2)
    for u in PRIOR_MEAN + PRIOR_STD * rng.standard_normal((5, 3)):
        expected = reference_log_posterior(u, X, y, C, depth, forward_map=F)
        np.testing.assert_allclose(logpost(u), expected, rtol=1e-10)
    assert logpost.n_jittered == 0


@pytest.mark.parametrize("depth", [1, 2])
def test_gradient_through_forward_map_matches_finite_differences(depth):
    X, y, C, F = forward_map_data(depth=depth, seed=1)
    logpost = _logpost(X, y, C, F, depth)
    h = 1e-5
    for u in ([0.3, -1.0, 0.2], [-0.5, -3.0, 0.8], [1.2, 0.5, -0.7]):
        u = np.array(u)
        _, grad = logpost.evaluate(u, gradient=True)
        numeric = [
            (logpost(u + h * e) - logpost(u - h * e)) / (2 * h) for e in np.eye(3)
        ]
        # central differences: error O(h² f''') plus round-off O(eps |f| / h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_identity_forward_map_equals_no_map():
    X, y, C = model_data(n=20, seed=3)
    with_map, without = _logpost(X, y, C, np.eye(20)), _logpost(X, y, C, None)
    for u in ([0.1, -1.0, 0.3], [-0.4, -2.5, -0.2]):
        value, grad = with_map.evaluate(np.array(u), gradient=True)
        ref_value, ref_grad = without.evaluate(np.array(u), gradient=True)
        np.testing.assert_allclose(value, ref_value, rtol=1e-13)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-11, atol=1e-13)
    chain = dict(n_walkers=8, n_steps=60, burn=20, random_state=5)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "the hyperparameter chains did not pass")
        a = sample_hyperparameters(X, y, data_cov=C, forward_map=np.eye(20), **chain)
        b = sample_hyperparameters(X, y, data_cov=C, **chain)
    for name in PARAMETER_NAMES:
        np.testing.assert_allclose(a.samples[name], b.samples[name], rtol=1e-12)
    assert b.forward_map is None
    np.testing.assert_array_equal(a.forward_map, np.eye(20))


# -- the predictive -------------------------------------------------------------------
def _conditioned(X, y, C, F, X_test, theta):
    """f(X_test) | y from the joint Gaussian of (f(X_test), y), written out."""
    kern = NNGPKernel(
        1,
        "relu",
        weight_variance=theta["weight_variance"],
        bias_variance=theta["bias_variance"],
    )
    K = kern(np.vstack([X_test, X]))  # f at (test, grid) jointly
    n = len(X_test)
    T = np.block(
        [[np.eye(n), np.zeros((n, len(X)))], [np.zeros((len(F), n)), F]]
    )  # (f(X_test), y - ε) = T (f(X_test), f(X))
    joint = T @ K @ T.T
    joint[n:, n:] += theta["noise_scale"] * C
    gain = np.linalg.solve(joint[n:, n:], joint[n:, :n]).T
    return gain @ y, joint[:n, :n] - gain @ joint[n:, :n]


def test_predictive_through_forward_map_is_joint_gaussian_conditioning():
    X, y, C, F = forward_map_data(seed=4)
    theta = {"weight_variance": 1.7, "bias_variance": 0.2, "noise_scale": 0.8}
    out = posterior_predictive(
        fixed_posterior(theta, F), X, y, X_TEST, data_cov=C, forward_map=F
    )
    mean, cov = _conditioned(X, y, C, F, X_TEST, theta)
    np.testing.assert_allclose(out["mean"][0], mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["cov"][0], cov, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(out["marginal_mean"], mean, rtol=1e-9, atol=1e-12)


def test_predictive_mixture_through_forward_map():
    """Two hyperparameter sets (one chain, two draws): the mixture's mean and the
    law of total variance, each component conditioned independently."""
    X, y, C, F = forward_map_data(seed=4)
    thetas = [
        {"weight_variance": 1.7, "bias_variance": 0.2, "noise_scale": 0.8},
        {"weight_variance": 0.6, "bias_variance": 1.1, "noise_scale": 1.9},
    ]
    post = fixed_posterior(thetas[0], F)
    post.samples = {n: np.array([[t[n] for t in thetas]]) for n in PARAMETER_NAMES}
    out = posterior_predictive(post, X, y, X_TEST, data_cov=C, forward_map=F)
    parts = [_conditioned(X, y, C, F, X_TEST, t) for t in thetas]
    means = np.array([m for m, _ in parts])
    total = np.mean([c for _, c in parts], axis=0) + np.cov(means.T, bias=True)
    np.testing.assert_allclose(out["marginal_mean"], means.mean(0), rtol=1e-9)
    np.testing.assert_allclose(out["marginal_cov"], total, rtol=1e-8, atol=1e-12)


def test_predictive_needs_the_posteriors_forward_map():
    X, y, C, F = forward_map_data(seed=4)
    post = fixed_posterior(TRUE, F)
    with pytest.raises(ValueError, match="forward_map must be the forward map"):
        posterior_predictive(post, X[:15], y, X_TEST, data_cov=C)
    with pytest.raises(ValueError, match="forward_map must be the forward map"):
        posterior_predictive(post, X, y, X_TEST, data_cov=C, forward_map=2 * F)


# -- validation, before any sampling --------------------------------------------------
def _bad_inputs():
    X, y, C, F = forward_map_data(seed=6)
    return [
        ({"forward_map": F[:, :-1]}, "forward_map must have shape"),
        ({"forward_map": F[0]}, "forward_map must have shape"),
        ({"forward_map": np.where(F > 0.1, np.nan, F)}, "forward_map contains"),
        ({"forward_map": "F"}, "forward_map must be a numeric matrix"),
        ({"y": y[:-1]}, "y has 14 values but forward_map has 15 rows"),
        ({"data_cov": np.eye(25)}, "data_cov"),
        ({"forward_map": None}, "y has 15 values but X has 25 rows"),
    ]


@pytest.mark.parametrize("changes, match", _bad_inputs())
def test_bad_forward_map_inputs_are_named_before_sampling(changes, match, monkeypatch):
    def no_sampling(*args, **kwargs):
        raise AssertionError("validation must come before the log posterior")

    monkeypatch.setattr(_sampler, "LogPosterior", no_sampling)
    X, y, C, F = forward_map_data(seed=6)
    kwargs = {"y": y, "data_cov": C, "forward_map": F, **changes}
    with pytest.raises(ValueError, match=match):
        sample_hyperparameters(X, **kwargs)
    with pytest.raises(ValueError, match=match):
        posterior_predictive(fixed_posterior(TRUE), X, X_test=X_TEST, **kwargs)


def test_to_arviz_records_the_forward_map():
    _, _, _, F = forward_map_data(seed=6)
    data = fixed_posterior(TRUE, F).to_arviz()
    const = _arviz.get_group(data, "constant_data")
    assert const["forward_map"].dims == ("datum", "grid_point")
    np.testing.assert_array_equal(const["forward_map"].values, F)
    posterior = _arviz.get_group(data, "posterior")
    assert set(posterior.data_vars) == set(PARAMETER_NAMES)
    assert "constant_data" not in _arviz.group_names(fixed_posterior(TRUE).to_arviz())


# -- end to end: emcee through F against a brute-force quadrature --------------------
def quadrature_posterior(X, y, C, F, depth, n=(31, 31, 61), width=5.0):
    """Posterior moments of u = log(C_W, C_b, s), and of the predictive mean at
    X_TEST, by the trapezoidal rule on a grid over μ ± 5σ of the prior.

    In the basis that whitens C (C = L Lᵀ, L⁻¹ F K Fᵀ L⁻ᵀ = V diag(λ) Vᵀ, r = Vᵀ L⁻¹ y)
    the likelihood is Π_i N(r_i; 0, λ_i + s), so one eigendecomposition per
    (C_W, C_b) serves every s. The trapezoidal rule is spectrally accurate for these
    smooth, rapidly decaying integrands (refining the grid to (61, 61, 201) moves
    the moments by < 1e-5 σ); the mass on the grid's faces is returned to check
    the box holds the posterior.
    """
    axes = [np.linspace(m - width * s, m + width * s, k) for m, s, k in zip(
        PRIOR_MEAN, PRIOR_STD, n, strict=True)]  # fmt: skip
    s = np.exp(axes[2])
    L = np.linalg.cholesky(C)
    g = len(X)
    logp, pred = np.empty(n), np.empty((n[0], n[1], len(X_TEST), n[2]))
    for i, j in np.ndindex(n[0], n[1]):
        c_w, c_b = np.exp(axes[0][i]), np.exp(axes[1][j])
        kern = NNGPKernel(depth, "relu", weight_variance=c_w, bias_variance=c_b)
        K = kern(np.vstack([X, X_TEST]))
        W = sla.solve_triangular(L, F @ K[:g, :g] @ F.T, lower=True)
        lam, V = np.linalg.eigh(sla.solve_triangular(L, W.T, lower=True))
        r = V.T @ sla.solve_triangular(L, y, lower=True)
        d = lam[:, None] + s
        logp[i, j] = -0.5 * ((r[:, None] ** 2 / d).sum(0) + np.log(d).sum(0))
        P = sla.solve_triangular(L, F @ K[:g, g:], lower=True).T @ V  # K*g Fᵀ L⁻ᵀ V
        pred[i, j] = P @ (r[:, None] / d)  # K*g Fᵀ (F K Fᵀ + sC)⁻¹ y for every s
    U = np.meshgrid(*axes, indexing="ij")
    for u, m, sd in zip(U, PRIOR_MEAN, PRIOR_STD, strict=True):
        logp -= 0.5 * ((u - m) / sd) ** 2
    w = np.exp(logp - logp.max())
    w /= w.sum()
    mean = np.array([(w * u).sum() for u in U])
    var = np.array([(w * (u - m) ** 2).sum() for u, m in zip(U, mean, strict=True)])
    m4 = np.array([(w * (u - m) ** 4).sum() for u, m in zip(U, mean, strict=True)])
    pm = np.einsum("abc,abtc->t", w, pred)
    return {
        "mean": mean,
        "std": np.sqrt(var),
        "kurtosis": m4 / var**2,
        "pred_mean": pm,
        "pred_var": np.einsum("abc,abtc->t", w, pred**2) - pm**2,
        "edge": max(w[[0, -1]].sum(), w[:, [0, -1]].sum(), w[..., [0, -1]].sum()),
    }


def _check_against_quadrature(post, pred, quad, n_predictive):
    """MCMC moments against the quadrature within their Monte Carlo errors.

    The effective sample size is the smaller of ArviZ's bulk ESS and emcee's
    n_walkers · n_draws / τ. The posterior mean of each u_i then carries an error
    σ_i / √ESS; the sample standard deviation a relative error √((κ_i − 1) / 4 ESS)
    (κ_i the kurtosis, from the quadrature); the marginal predictive mean averages
    D = ``n_predictive`` random chain draws, error √(Var_θ[m] (1/D + 1/ESS)).
    Each is asserted within 4 of its errors.
    """
    assert quad["edge"] < 1e-6  # the quadrature box holds the posterior
    u = post.log_samples().reshape(-1, 3)
    n_chain = post.log_prob.size
    ess = np.array(
        [min(post.ess[p], n_chain / tau) for p, tau in
         zip(PARAMETER_NAMES, post.autocorr_time, strict=True)]
    )  # fmt: skip
    err_mean = quad["std"] / np.sqrt(ess)
    np.testing.assert_array_less(np.abs(u.mean(0) - quad["mean"]), 4 * err_mean)
    err_std = np.sqrt((quad["kurtosis"] - 1) / (4 * ess))
    np.testing.assert_array_less(np.abs(u.std(0) / quad["std"] - 1), 4 * err_std)
    err_pred = np.sqrt(quad["pred_var"] * (1 / n_predictive + 1 / ess.min()))
    diff = np.abs(pred["marginal_mean"] - quad["pred_mean"])
    np.testing.assert_array_less(diff, 4 * err_pred)


def _sample_and_predict(X, y, C, F, depth, n_walkers, n_steps, seed):
    # DEMove alone: emcee 3.1.6's DESnookerMove (in the default mixture) draws
    # from a distribution narrower than the target (measured: std 0.90 on a
    # standard normal); these tests check the model through F, not that move.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "the hyperparameter chains did not pass")
        post = sample_hyperparameters(
            X, y, data_cov=C, forward_map=F, depth=depth, n_walkers=n_walkers,
            n_steps=n_steps, burn=n_steps // 6, random_state=seed,
            moves=emcee.moves.DEMove(),
        )  # fmt: skip
    pred = posterior_predictive(
        post, X, y, X_TEST, data_cov=C, forward_map=F, depth=depth, n_draws=200,
        random_state=seed,
    )  # fmt: skip
    return post, pred


def test_sampling_through_forward_map_matches_quadrature():
    """16 walkers × 600 steps on 15 data from a 25-point grid (ESS ≈ 700)."""
    X, y, C, F = forward_map_data(seed=0)
    post, pred = _sample_and_predict(X, y, C, F, 1, 16, 600, seed=3)
    np.testing.assert_array_equal(post.forward_map, F)
    _check_against_quadrature(post, pred, quadrature_posterior(X, y, C, F, 1), 200)


@pytest.mark.slow
def test_long_sampling_through_forward_map_matches_quadrature_depth_2():
    """32 walkers × 3000 steps at depth 2 (ESS ≈ 8000): errors four times smaller."""
    X, y, C, F = forward_map_data(depth=2, seed=7)
    post, pred = _sample_and_predict(X, y, C, F, 2, 32, 3000, seed=8)
    assert post.converged
    _check_against_quadrature(post, pred, quadrature_posterior(X, y, C, F, 2), 200)
