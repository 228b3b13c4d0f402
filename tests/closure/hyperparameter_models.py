"""Shared data and references for the hyperparameter-inference tests
(test_hyperposterior, test_laplace, test_sampler, test_predictive,
test_inference_forward_map)."""

import functools

import numpy as np
from scipy import stats

from nngpbayes import NNGPKernel
from nngpbayes.closure._hyperposterior import PARAMETER_NAMES
from nngpbayes.closure._sampler import HyperparameterPosterior, sample_hyperparameters

TRUE = {"weight_variance": 1.5, "bias_variance": 0.3, "noise_scale": 1.0}
PRIOR_MEAN = np.array([0.0, -2.0, 0.0])
PRIOR_STD = np.array([1.0, 2.0, 1.0])
# Chains of the recovery run: 12 walkers x 2500 post-burn-in steps keeps R-hat
# (≈ 1 + τ/n per walker with τ ≈ 12) safely below 1.01 in about 15 s.
CHAIN = {"n_walkers": 12, "n_steps": 3000, "burn": 500}


def model_data(n=40, depth=1, seed=0, theta=TRUE, correlated=True):
    """X (n, 2), y ~ N(0, K + sC) and C: diagonal errors plus, if ``correlated``,
    a fully correlated 5% systematic (a full-matrix data covariance)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    sigma = 0.1 * (1.0 + rng.uniform(size=n))
    C = np.diag(sigma**2)
    if correlated:
        C += 0.05**2 * np.ones((n, n))
    kernel = NNGPKernel(
        depth,
        "relu",
        weight_variance=theta["weight_variance"],
        bias_variance=theta["bias_variance"],
    )
    y = rng.multivariate_normal(np.zeros(n), kernel(X) + theta["noise_scale"] * C)
    return X, y, C


def forward_map_data(n_grid=25, n_data=15, depth=1, seed=0, theta=TRUE):
    """A PDF-like problem: grid X (n_grid, 1) on [-1, 1], a smoothing forward map
    F (n_data, n_grid) whose rows are normalised Gaussian bumps of random centres
    and widths, C with diagonal errors and a correlated 5% systematic, and
    y = F f(X) + ε, f ~ GP(0, K), ε ~ N(0, sC) at the hyperparameters ``theta``.

    Returns
    -------
    X, y, C, F
    """
    rng = np.random.default_rng(seed)
    X = np.linspace(-1.0, 1.0, n_grid)[:, None]
    centres = rng.uniform(-0.9, 0.9, n_data)
    widths = rng.uniform(0.05, 0.3, n_data)
    F = np.exp(-0.5 * ((X[:, 0] - centres[:, None]) / widths[:, None]) ** 2)
    F /= F.sum(axis=1, keepdims=True)
    sigma = 0.1 * (1.0 + rng.uniform(size=n_data))
    C = np.diag(sigma**2) + 0.05**2 * np.ones((n_data, n_data))
    kernel = NNGPKernel(
        depth,
        "relu",
        weight_variance=theta["weight_variance"],
        bias_variance=theta["bias_variance"],
    )
    f = rng.multivariate_normal(np.zeros(n_grid), kernel(X), method="eigh")
    eps = rng.multivariate_normal(np.zeros(n_data), theta["noise_scale"] * C)
    return X, F @ f + eps, C, F


def reference_log_posterior(
    u, X, y, C, depth, mu=PRIOR_MEAN, sd=PRIOR_STD, forward_map=None
):
    """scipy: log N(y; 0, F K Fᵀ + sC) + Σ log N(u_i; μ_i, σ_i²), written
    independently (F = I when ``forward_map`` is None)."""
    c_w, c_b, s = np.exp(u)
    K = NNGPKernel(depth, "relu", weight_variance=c_w, bias_variance=c_b)(X)
    if forward_map is not None:
        K = forward_map @ K @ forward_map.T
    lik = stats.multivariate_normal(mean=np.zeros(len(y)), cov=K + s * C).logpdf(y)
    return lik + stats.norm(mu, sd).logpdf(u).sum()


@functools.cache
def recovery_run():
    """(X, y, C, posterior) of the recovery run, sampled once per test session."""
    X, y, C = model_data()
    post = sample_hyperparameters(X, y, data_cov=C, random_state=0, **CHAIN)
    return X, y, C, post


def fixed_posterior(theta, forward_map=None):
    """A 'posterior' holding one hyperparameter set (one chain, one draw)."""
    return HyperparameterPosterior(
        samples={n: np.array([[theta[n]]]) for n in PARAMETER_NAMES},
        log_prob=np.zeros((1, 1)),
        acceptance=np.ones(1),
        autocorr_time=np.ones(3),
        rhat={n: 1.0 for n in PARAMETER_NAMES},
        ess={n: 1.0 for n in PARAMETER_NAMES},
        converged=True,
        forward_map=forward_map,
    )


def ar1(phi, shape, seed):
    """Stationary AR(1) chains x_t = φ x_{t-1} + e_t, shape (n_chains, n_draws)."""
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(shape)
    x = np.empty(shape)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x
