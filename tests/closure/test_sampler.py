"""The emcee posterior of (C_W, C_b, s): recovery, reproducibility, ArviZ diagnostics.

References used as oracles: scipy.stats (Gaussian log densities), ArviZ (R-hat and
bulk ESS, called directly on the returned draws), and data drawn from the model
itself with known hyperparameters.
"""

import warnings

import arviz as az
import numpy as np
import pytest
from hyperparameter_models import (
    CHAIN,
    PRIOR_MEAN,
    PRIOR_STD,
    TRUE,
    model_data,
    recovery_run,
    reference_log_posterior,
)

from nngpbayes._numerics import IllConditionedWarning
from nngpbayes.closure import _arviz
from nngpbayes.closure._hyperposterior import PARAMETER_NAMES
from nngpbayes.closure._sampler import (
    HyperparameterPosterior,
    chain_diagnostics,
    sample_hyperparameters,
)


@pytest.fixture(scope="module")
def recovery():
    return recovery_run()


# -- (1) recovery of the true hyperparameters ---------------------------------------
def test_posterior_recovers_true_hyperparameters(recovery):
    """The data are drawn from the model at TRUE, so each true value is, for a
    calibrated posterior, a draw from it: |z| < 2 with probability ≈ 0.95 each. The
    Monte Carlo error of the posterior mean, sd/√ESS with ESS > 400, is < 0.05 sd."""
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
        # the convergence criteria themselves (thresholds of `converged`)
        assert post.rhat[name] < 1.01
        assert post.ess[name] > 400
    assert post.log_prob.shape == (n_walkers, n_draws)
    assert post.acceptance.shape == (n_walkers,)
    # each walker's acceptance over 3000 steps has binomial SE ≤ 0.5/√3000 ≈ 0.01:
    # the band (0.1, 0.9) tests a working sampler, not the noise
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


def test_summary_reports_the_draws_and_diagnostics(recovery):
    *_, post = recovery
    table = post.summary()
    u = post.log_samples()
    for i, name in enumerate(PARAMETER_NAMES):
        row = table[name]
        np.testing.assert_allclose(row["mean_log"], u[..., i].mean(), rtol=1e-12)
        np.testing.assert_allclose(row["std_log"], u[..., i].std(ddof=1), rtol=1e-12)
        assert row["rhat"] == post.rhat[name] and row["ess"] == post.ess[name]
        assert row["autocorr_time"] == post.autocorr_time[i]


@pytest.mark.slow
@pytest.mark.parametrize("depth", [2, 3])
def test_recovery_deeper_networks(depth):
    """As test_posterior_recovers_true_hyperparameters: 2 posterior sds, a 95%
    event per parameter for a calibrated posterior."""
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


# -- (2) the diagnostics are ArviZ's ------------------------------------------------
def test_reported_diagnostics_are_arviz_on_the_returned_draws(recovery):
    *_, post = recovery
    data = post.to_arviz()
    assert sorted(_arviz.group_names(data)) == ["posterior", "sample_stats"]
    rhat = az.rhat(data, method="rank")
    ess = az.ess(data, method="bulk")
    for name in PARAMETER_NAMES:
        assert post.rhat[name] == float(rhat[name])
        assert post.ess[name] == float(ess[name])
        # the same from the bare (chain, draw) array of the returned samples
        assert post.rhat[name] == float(np.asarray(az.rhat(post.samples[name])))
    np.testing.assert_array_equal(
        _arviz.get_group(data, "sample_stats")["lp"], post.log_prob
    )


def test_rhat_flags_chains_that_did_not_mix():
    """Half the walkers stuck 1 posterior sd above the others: the variance of the
    chain means is 1/4 of the within-chain variance, so R̂ ≈ √(1 + 1/4) ≈ 1.1, far
    above 1.01. Mixed chains (16 split chains of n = 250 independent draws) have
    R̂ − 1 ≈ √(2/15)/(2n) ≈ 0.001."""
    rng = np.random.default_rng(4)
    mixed = {n: np.exp(rng.normal(0.0, 0.1, (8, 500))) for n in PARAMETER_NAMES}
    rhat, ess = chain_diagnostics(mixed)
    assert all(r < 1.01 for r in rhat.values())
    # independent draws: ESS ≈ N = 4000, relative SE √(2(2M + 1)/N) with a window
    # M ≈ 1 (Sokal); 5 SE
    rel_se = np.sqrt(2 * (2 * 1 + 1) / 4000)
    assert all(abs(e / 4000 - 1) < 5 * rel_se for e in ess.values())
    stuck = {n: v.copy() for n, v in mixed.items()}
    stuck["bias_variance"][:4] *= np.exp(0.1)  # half the walkers one sd higher
    rhat, _ = chain_diagnostics(stuck)
    assert rhat["bias_variance"] > 1.05
    assert rhat["weight_variance"] == chain_diagnostics(mixed)[0]["weight_variance"]


# -- (3) reproducibility ------------------------------------------------------------
def _short_run(random_state, **kwargs):
    X, y, C = model_data(n=20, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # too short to converge
        return sample_hyperparameters(
            X, y, data_cov=C, n_steps=60, burn=20, random_state=random_state, **kwargs
        )


def _assert_same_run(a, b):
    """The same chains up to rounding.

    OpenBLAS's small-matrix kernels (numpy 1.24's 0.3.21 among them) may round
    differently with the memory alignment of their operands, so two runs of the same
    seed can differ in the last bit of a Cholesky; the chains must agree to rounding.
    """
    for name in PARAMETER_NAMES:
        np.testing.assert_allclose(a.samples[name], b.samples[name], rtol=1e-12, atol=0)
    np.testing.assert_allclose(a.log_prob, b.log_prob, rtol=1e-12, atol=1e-12)


def test_same_random_state_gives_identical_samples():
    # emcee defaults to its own unseeded RandomState; NumPy's legacy global state
    # must be neither used nor advanced.
    before = np.random.get_state()  # noqa: NPY002
    a = _short_run(7)
    after = np.random.get_state()  # noqa: NPY002
    assert all(np.array_equal(p, q) for p, q in zip(before, after, strict=True))
    b = _short_run(7)
    c = _short_run(np.random.default_rng(7))
    _assert_same_run(a, b)
    _assert_same_run(a, c)
    d = _short_run(8)
    assert not np.array_equal(
        a.samples["weight_variance"], d.samples["weight_variance"]
    )


def test_given_initial_positions_and_thinning():
    initial = PRIOR_MEAN + 0.1 * np.random.default_rng(0).standard_normal((8, 3))
    a = _short_run(3, n_walkers=8, initial=initial, thin=4)
    b = _short_run(3, n_walkers=8, initial=initial, thin=4)
    assert a.samples["noise_scale"].shape == (8, 10)
    _assert_same_run(a, b)


def test_short_run_is_flagged_not_converged():
    X, y, C = model_data(n=20, seed=5)
    with pytest.warns(UserWarning, match="convergence"):
        post = sample_hyperparameters(
            X, y, data_cov=C, n_steps=60, burn=20, random_state=0
        )
    assert not post.converged
    # emcee's AutocorrError estimate is kept: finite, never NaN.
    assert np.all(np.isfinite(post.autocorr_time)) and np.all(post.autocorr_time > 0)
    assert isinstance(post, HyperparameterPosterior)


# -- (4) bad inputs -----------------------------------------------------------------
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
        ({"n_walkers": 4}, "n_walkers == 4, must be >= 6"),
        ({"n_walkers": 8.0}, "n_walkers must be an instance of int"),
        ({"n_steps": "50"}, "n_steps must be an instance of int"),
        ({"burn": 50}, "burn must be < n_steps"),
        ({"burn": -1}, "burn == -1, must be >= 0"),
        ({"thin": 0}, "thin == 0, must be >= 1"),
        ({"thin": 20}, "too few"),
        ({"prior_std": (1.0, 0.0, 1.0)}, "prior_std"),
        ({"prior_mean": (0.0, 0.0)}, "prior_mean"),
        ({"random_state": 0.5}, "random_state"),
        ({"random_state": "seed"}, "random_state"),
        ({"initial": np.zeros((16, 2))}, "initial must be"),
        ({"initial": np.zeros((16, 3))}, "initial walkers must span"),
        ({"initial": np.full((16, 3), 30.0)}, "initial walkers .* zero posterior"),
    ],
)
def test_sampler_rejects_bad_input(changes, match):
    with pytest.raises(ValueError, match=match):
        sample_hyperparameters(**_bad(**changes))


def test_legacy_random_state_is_accepted_and_reproducible():
    """A numpy RandomState seeds the run as in scikit-learn's check_random_state."""
    a = _short_run(np.random.RandomState(0))
    b = _short_run(np.random.RandomState(0))
    _assert_same_run(a, b)


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
