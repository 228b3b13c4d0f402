"""The emcee posterior of (C_W, C_b, s) and its marginalised posterior predictive.

References used as oracles: scipy.stats (Gaussian log densities), scikit-learn's
GaussianProcessRegressor (GP posterior at fixed hyperparameters), ArviZ (R-hat and
bulk ESS), and data drawn from the model itself with known hyperparameters.
"""

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.gaussian_process import GaussianProcessRegressor

from nngpbayes import NNGPKernel
from nngpbayes._numerics import IllConditionedWarning
from nngpbayes.closure._inference import (
    PARAMETER_NAMES,
    HyperparameterPosterior,
    _jittered_cholesky,
    _LogPosterior,
    bulk_ess,
    posterior_predictive,
    sample_hyperparameters,
    split_rhat,
)

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


def reference_log_posterior(u, X, y, C, depth, mu=PRIOR_MEAN, sd=PRIOR_STD):
    """scipy: log N(y; 0, K + sC) + Σ log N(u_i; μ_i, σ_i²), written independently."""
    c_w, c_b, s = np.exp(u)
    K = NNGPKernel(depth, "relu", weight_variance=c_w, bias_variance=c_b)(X)
    lik = stats.multivariate_normal(mean=np.zeros(len(y)), cov=K + s * C).logpdf(y)
    return lik + stats.norm(mu, sd).logpdf(u).sum()


@pytest.fixture(scope="module")
def recovery():
    X, y, C = model_data()
    post = sample_hyperparameters(X, y, data_cov=C, random_state=0, **CHAIN)
    return X, y, C, post


# -- (1) recovery of the true hyperparameters ---------------------------------------
def test_posterior_recovers_true_hyperparameters(recovery):
    *_, post = recovery
    for name in PARAMETER_NAMES:
        log_draws = np.log(post.samples[name])
        z = (log_draws.mean() - np.log(TRUE[name])) / log_draws.std()
        assert abs(z) < 2.0, f"{name}: true value {z:.2f} posterior stds away"


def test_recovery_run_converges(recovery):
    *_, post = recovery
    n_walkers, n_draws = CHAIN["n_walkers"], CHAIN["n_steps"] - CHAIN["burn"]
    assert post.converged
    for name in PARAMETER_NAMES:
        assert post.samples[name].shape == (n_walkers, n_draws)
        assert post.rhat[name] < 1.01
        assert post.ess[name] > 400
    assert post.log_prob.shape == (n_walkers, n_draws)
    assert post.acceptance.shape == (n_walkers,)
    assert np.all((post.acceptance > 0.1) & (post.acceptance < 0.9))
    assert post.autocorr_time.shape == (3,)
    assert np.all(np.isfinite(post.autocorr_time))
    assert np.all(n_draws > 50 * post.autocorr_time)


def test_stored_log_prob_matches_scipy(recovery):
    X, y, C, post = recovery
    u = post.log_samples()
    for chain, draw in [(0, 0), (3, 100), (11, -1)]:
        expected = reference_log_posterior(u[chain, draw], X, y, C, depth=1)
        np.testing.assert_allclose(post.log_prob[chain, draw], expected, rtol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("depth", [2, 3])
def test_recovery_deeper_networks(depth):
    X, y, C = model_data(n=60, depth=depth, seed=depth)
    post = sample_hyperparameters(
        X, y, data_cov=C, depth=depth, random_state=depth, **CHAIN
    )
    assert post.converged
    for name in PARAMETER_NAMES:
        log_draws = np.log(post.samples[name])
        assert abs(log_draws.mean() - np.log(TRUE[name])) < 2.0 * log_draws.std()


@pytest.mark.slow
def test_coverage_with_truths_from_the_prior():
    """Truths drawn from the prior: the posterior is calibrated, so each |z| < 2 with
    probability ≈ 0.95 (exactly, for Gaussian posteriors). The bound is the binomial
    3σ lower limit for that rate over the n_fits × 3 checks."""
    n_fits = 16
    rng = np.random.default_rng(11)
    inside = []
    for i in range(n_fits):
        u = PRIOR_MEAN + PRIOR_STD * rng.standard_normal(3)
        theta = dict(zip(PARAMETER_NAMES, np.exp(u), strict=True))
        X, y, C = model_data(seed=100 + i, theta=theta, correlated=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            post = sample_hyperparameters(
                X, y, data_cov=C, n_walkers=12, n_steps=1500, burn=300, random_state=i
            )
        draws = post.log_samples().reshape(-1, 3)
        inside += list(np.abs(draws.mean(0) - u) < 2.0 * draws.std(0))
    n = len(inside)
    assert np.mean(inside) > 0.95 - 3.0 * np.sqrt(0.95 * 0.05 / n)


# -- (2) reproducibility ------------------------------------------------------------
def _short_run(random_state, **kwargs):
    X, y, C = model_data(n=20, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # too short to converge
        return sample_hyperparameters(
            X, y, data_cov=C, n_steps=60, burn=20, random_state=random_state, **kwargs
        )


def test_same_random_state_gives_identical_samples():
    # emcee defaults to its own unseeded RandomState; NumPy's legacy global state
    # must be neither used nor advanced.
    before = np.random.get_state()  # noqa: NPY002
    a = _short_run(7)
    after = np.random.get_state()  # noqa: NPY002
    assert all(np.array_equal(p, q) for p, q in zip(before, after, strict=True))
    b = _short_run(7)
    c = _short_run(np.random.default_rng(7))
    for name in PARAMETER_NAMES:
        np.testing.assert_array_equal(a.samples[name], b.samples[name])
        np.testing.assert_array_equal(a.samples[name], c.samples[name])
    np.testing.assert_array_equal(a.log_prob, b.log_prob)
    d = _short_run(8)
    assert not np.array_equal(
        a.samples["weight_variance"], d.samples["weight_variance"]
    )


def test_given_initial_positions_and_thinning():
    initial = PRIOR_MEAN + 0.1 * np.random.default_rng(0).standard_normal((8, 3))
    a = _short_run(3, n_walkers=8, initial=initial, thin=4)
    b = _short_run(3, n_walkers=8, initial=initial, thin=4)
    assert a.samples["noise_scale"].shape == (8, 10)
    np.testing.assert_array_equal(a.log_prob, b.log_prob)


def test_short_run_is_flagged_not_converged():
    X, y, C = model_data(n=20, seed=5)
    with pytest.warns(UserWarning, match="convergence"):
        post = sample_hyperparameters(
            X, y, data_cov=C, n_steps=60, burn=20, random_state=0
        )
    assert not post.converged
    # emcee's AutocorrError estimate is kept: finite, never NaN.
    assert np.all(np.isfinite(post.autocorr_time)) and np.all(post.autocorr_time > 0)


# -- (3) the log posterior ----------------------------------------------------------
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("correlated", [False, True])
def test_log_posterior_matches_scipy(depth, correlated):
    X, y, C = model_data(n=25, depth=depth, seed=1, correlated=correlated)
    logpost = _LogPosterior(X, y, C, depth, "relu", PRIOR_MEAN, PRIOR_STD)
    rng = np.random.default_rng(2)
    for u in PRIOR_MEAN + PRIOR_STD * rng.standard_normal((4, 3)):
        expected = reference_log_posterior(u, X, y, C, depth)
        np.testing.assert_allclose(logpost(u), expected, rtol=1e-10)


def test_log_posterior_gradient_matches_finite_differences():
    X, y, C = model_data(n=25, depth=2, seed=1)
    logpost = _LogPosterior(X, y, C, 2, "relu", PRIOR_MEAN, PRIOR_STD)
    u = np.array([0.3, -1.0, 0.2])
    _, grad = logpost.evaluate(u, gradient=True)
    h = 1e-5
    numeric = [(logpost(u + h * e) - logpost(u - h * e)) / (2 * h) for e in np.eye(3)]
    # central differences: error O(h² f''') plus round-off O(eps |f| / h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


def test_log_posterior_is_minus_infinity_outside_support_never_nan():
    X, y, C = model_data(n=15, seed=1)
    logpost = _LogPosterior(X, y, C, 1, "relu", PRIOR_MEAN, PRIOR_STD)
    for u in ([np.nan, 0.0, 0.0], [0.0, 0.0, np.inf], [11.0, -2.0, 0.0]):
        assert logpost(np.array(u)) == -np.inf  # beyond the ±10σ prior truncation
    assert logpost(np.array([9.9, -2.0, 0.0])) > -np.inf


def test_near_singular_covariance_is_jittered():
    # Duplicated inputs make K exactly rank-deficient and sC (≈ 1e-16 K) is below
    # round-off: the plain Cholesky fails, the jittered one gives a finite density.
    X = np.repeat(np.linspace(-1, 1, 6)[:, None], 3, axis=0)
    y = np.repeat(np.sin(np.linspace(-1, 1, 6)), 3)
    C = 1e-12 * np.eye(len(y))
    logpost = _LogPosterior(X, y, C, 1, "relu", PRIOR_MEAN, PRIOR_STD)
    u = np.column_stack(
        [np.linspace(-1, 1, 5), np.linspace(-3, 0, 5), np.full(5, -9.5)]
    )
    values = [logpost(ui) for ui in u]
    assert np.all(np.isfinite(values))
    assert logpost.n_jittered >= 1


def test_jittered_cholesky():
    B = np.random.default_rng(0).standard_normal((10, 2))
    A = B @ B.T - 1e-13 * np.eye(10)  # PSD up to round-off, not numerically PD
    L, jittered = _jittered_cholesky(A)
    assert jittered
    scale = np.mean(np.diag(A))
    np.testing.assert_allclose(L @ L.T, A, atol=1e-6 * scale)
    assert _jittered_cholesky(-np.eye(3)) == (None, False)
    assert _jittered_cholesky(np.full((2, 2), np.nan)) == (None, False)
    L, jittered = _jittered_cholesky(np.eye(3))
    assert not jittered and np.array_equal(L, np.eye(3))


# -- (4) the posterior predictive ---------------------------------------------------
def _fixed_posterior(theta):
    """A 'posterior' holding one hyperparameter set (one chain, one draw)."""
    return HyperparameterPosterior(
        samples={n: np.array([[theta[n]]]) for n in PARAMETER_NAMES},
        log_prob=np.zeros((1, 1)),
        acceptance=np.ones(1),
        autocorr_time=np.ones(3),
        rhat={n: 1.0 for n in PARAMETER_NAMES},
        ess={n: 1.0 for n in PARAMETER_NAMES},
        converged=True,
    )


@pytest.mark.parametrize("depth", [1, 2])
def test_fixed_hyperparameters_match_sklearn_gpr(depth):
    X, y, C = model_data(n=30, depth=depth, seed=4, correlated=False)
    X_test = np.random.default_rng(5).uniform(-1.2, 1.2, (17, 2))
    theta = {"weight_variance": 1.7, "bias_variance": 0.2, "noise_scale": 0.8}
    out = posterior_predictive(
        _fixed_posterior(theta), X, y, X_test, data_cov=np.diag(C), depth=depth
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
    single = posterior_predictive(_fixed_posterior(hp), X, y, X_test, data_cov=C)
    np.testing.assert_allclose(single["mean"][0], means[i], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(single["cov"][0], covs[i], rtol=1e-10, atol=1e-13)


def test_function_samples_follow_the_mixture(recovery):
    """Mean of D draws from the mixture: within 5 standard errors √(Σ̄_ii / D)."""
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
    out = posterior_predictive(_fixed_posterior(theta), X, y, X[:4], data_cov=C)
    assert out["mean"].shape == (1, 4)


# -- diagnostics --------------------------------------------------------------------
def _ar1(phi, shape, seed):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(shape)
    x = np.empty(shape)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.6, 0.95, -0.4])
def test_rhat_and_ess_match_arviz(phi):
    az = pytest.importorskip("arviz")
    x = _ar1(phi, (6, 801), seed=int(10 * abs(phi)))
    x[0] += 0.2  # a slightly displaced chain
    try:
        ref_rhat = float(np.asarray(az.rhat(x)))
        ref_ess = float(np.asarray(az.ess(x, method="bulk")))
    except (TypeError, AttributeError, ValueError) as exc:  # another ArviZ API
        pytest.skip(f"this ArviZ version takes other arguments: {exc}")
    np.testing.assert_allclose(split_rhat(x), ref_rhat, rtol=1e-12)
    np.testing.assert_allclose(bulk_ess(x), ref_ess, rtol=1e-10)


def test_ess_of_ar1_reference():
    """AR(1): τ = (1 + φ)/(1 − φ). The relative error of an ESS estimate is about
    √(2τ·(2M)/N) for N draws and Geyer's window M ≈ a few τ: 15% here."""
    phi = 0.8
    x = _ar1(phi, (8, 4000), seed=3)
    tau = (1 + phi) / (1 - phi)
    np.testing.assert_allclose(bulk_ess(x), x.size / tau, rtol=0.15)
    assert abs(split_rhat(x) - 1.0) < 0.01


def test_diagnostics_of_constant_chains():
    assert np.isnan(split_rhat(np.ones((4, 10))))
    assert bulk_ess(np.ones((4, 10))) == 40.0


# -- (5) bad inputs -----------------------------------------------------------------
def _bad(**changes):
    X, y, C = model_data(n=12, seed=2)
    kwargs = {"X": X, "y": y, "data_cov": C, "n_steps": 50, "burn": 10}
    kwargs.update(changes)
    return kwargs


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
        ({"n_walkers": 4}, "n_walkers must be >= 6"),
        ({"n_walkers": 8.0}, "n_walkers must be an integer"),
        ({"burn": 50}, "burn must be < n_steps"),
        ({"thin": 0}, "thin must be >= 1"),
        ({"thin": 20}, "too few"),
        ({"prior_std": (1.0, 0.0, 1.0)}, "prior_std"),
        ({"prior_mean": (0.0, 0.0)}, "prior_mean"),
        ({"random_state": np.random.RandomState(0)}, "random_state"),
        ({"initial": np.zeros((16, 2))}, "initial must be"),
        ({"initial": np.zeros((16, 3))}, "initial walkers must span"),
        ({"initial": np.full((16, 3), 30.0)}, "initial walkers .* zero posterior"),
    ],
)
def test_sampler_rejects_bad_input(changes, match):
    with pytest.raises(ValueError, match=match):
        sample_hyperparameters(**_bad(**changes))


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"X_test": np.zeros((3, 5))}, "X_test has 5 features"),
        ({"X_test": np.full((3, 2), np.nan)}, "X_test contains"),
        ({"posterior": {"weight_variance": 1.0}}, "posterior must be"),
        ({"n_draws": 0}, "n_draws must be >= 1"),
        ({"y": np.r_[np.nan, np.zeros(11)]}, "y contains"),
    ],
)
def test_predictive_rejects_bad_input(changes, match):
    X, y, C = model_data(n=12, seed=2)
    kwargs = {
        "posterior": _fixed_posterior(TRUE),
        "X": X,
        "y": y,
        "X_test": X[:3],
        "data_cov": C,
    }
    kwargs.update(changes)
    with pytest.raises(ValueError, match=match):
        posterior_predictive(**kwargs)


def test_ill_conditioned_sampling_warns():
    X = np.repeat(np.linspace(-1, 1, 6)[:, None], 3, axis=0)
    y = np.repeat(np.sin(np.linspace(-1, 1, 6)), 3)
    rng = np.random.default_rng(0)
    initial = np.array([0.0, -2.0, -9.5]) + 0.05 * rng.standard_normal((8, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("always", IllConditionedWarning)
        with pytest.warns(IllConditionedWarning, match="jitter"):
            post = sample_hyperparameters(
                X,
                y,
                data_cov=1e-12,
                n_walkers=8,
                n_steps=20,
                burn=5,
                initial=initial,
                random_state=0,
            )
    assert np.all(np.isfinite(post.log_prob))
