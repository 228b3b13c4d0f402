"""The runner's table of methods: each method's fit, scored once, and the result
built from them (:ref:`theory-4`, :ref:`theory-6`)."""

import json

import numpy as np
import pytest

from nngpbayes import Architecture
from nngpbayes.closure import (
    ClosureData,
    ClosureTest,
    MethodFit,
    experimental_covariance,
    fit_metrics,
    get_group,
)
from nngpbayes.closure._models import Kernels, gp_posterior


@pytest.fixture(scope="module")
def small_result():
    return ClosureTest(
        truth="oscillating",
        X_train=np.linspace(0.02, 0.98, 10)[:, None],
        X_test=np.linspace(0.05, 0.95, 6)[:, None],
        n_fits=3,
        n_replicas=3,
        widths=[8],
        ensemble_steps=10,
        times=[1.0, np.inf],
        progress=False,
        random_state=4,
    ).run()


def test_posterior_through_a_forward_map_is_the_closed_form():
    """mean = K_*g Fᵀ A⁻¹ y, cov = K_** − K_*g Fᵀ A⁻¹ F K_g*, A = F K Fᵀ + C."""
    x = np.linspace(0.05, 0.95, 9)[:, None]
    kern = Kernels.compute(Architecture(1, "erf", 1.5, 0.2), x, x[::3] + 0.01)
    F = np.tril(np.ones((9, 9)))[1::2] / 9
    C = np.diag(np.linspace(0.01, 0.02, 4))
    y = np.array([0.1, -0.2, 0.3, 0.05])
    mean, cov, train = gp_posterior(kern, y, C, F)
    a_inv = np.linalg.inv(F @ kern.k_gg @ F.T + C)
    ks = kern.k_sg @ F.T
    np.testing.assert_allclose(mean, ks @ a_inv @ y, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(cov, kern.k_ss - ks @ a_inv @ ks.T, atol=1e-12)
    np.testing.assert_allclose(train, F @ kern.k_gg @ F.T @ a_inv @ y, rtol=1e-10)


def test_every_method_reports_under_its_labels_in_table_order(small_result):
    r = small_result
    labels = ["posterior", "flow t=1", "flow t=inf", "flow t=ens", "ensemble n=8"]
    assert list(r.metrics) == labels
    assert list(r.per_fit) == labels
    assert list(r.first_fits) == labels
    assert r.flow_labels == labels[1:4]
    assert all(len(fits) == 3 for fits in r.per_fit.values())
    assert r.times[-1] == pytest.approx(r.config["ensemble_time"])
    members = r.first_fits["ensemble n=8"].members
    assert members.shape == (3, 6)
    assert all(r.first_fits[k].members is None for k in labels[:4])
    np.testing.assert_array_equal(r.flow_bias, [r.metrics[k].bias for k in labels[1:4]])


def test_first_fit_metrics_are_the_scores_of_the_first_fits(small_result):
    """Recompute fit 0's estimators from the stored fits and data (:ref:`theory-6`)."""
    r = small_result
    truth, y = r.truth_test[0], r.data[0]
    closure = ClosureData(
        r.X_train,
        r.truth_train[0],
        experimental_covariance(r.truth_train[0]),
    )
    test_cov = experimental_covariance(truth, sys=0.0)
    for label, fit in r.first_fits.items():
        delta = closure.chi2(fit.train_mean, y) - closure.chi2(closure.level0, y)
        expected = fit_metrics(fit.mean, fit.cov, truth, test_cov, delta)
        got = r.per_fit[label][0]
        assert got.bias == expected.bias and got.variance == expected.variance
        assert got.delta_chi2 == expected.delta_chi2
        np.testing.assert_array_equal(got.inside_1sigma, expected.inside_1sigma)


def test_legacy_first_fit_dict_matches_the_method_fits(small_result):
    r = small_result
    legacy, fits = r.first_fit, r.first_fits
    np.testing.assert_array_equal(legacy["posterior_mean"], fits["posterior"].mean)
    np.testing.assert_array_equal(legacy["posterior_cov"], fits["posterior"].cov)
    np.testing.assert_array_equal(legacy["flow_std"][1], fits["flow t=inf"].std)
    np.testing.assert_array_equal(legacy["ensembles"][0], fits["ensemble n=8"].members)
    assert legacy["flow_mean"].shape == (len(r.times), 6)
    np.testing.assert_array_equal(legacy["eigenvalues"], r.spectrum.eigenvalues)


def test_method_fit_std_clips_round_off():
    fit = MethodFit(np.zeros(2), np.diag([4.0, -1e-18]), np.zeros(2))
    np.testing.assert_array_equal(fit.std, [2.0, 0.0])


def _draws(result):
    return np.asarray(get_group(result.to_arviz(), "posterior_predictive")["f_test"])


def test_arviz_draws_follow_random_state_and_the_posterior(small_result):
    draws = _draws(small_result)[0]
    np.testing.assert_array_equal(_draws(small_result)[0], draws)  # seeded: 4
    post = small_result.first_fits["posterior"]
    # each test point's draw mean is within 5 standard errors of the posterior
    # mean, SE = σ/√n with n = 200 draws (6 points: P(any |z| > 5) ≈ 3e-6)
    se = post.std / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(0) - post.mean) < 5 * se)
    other = ClosureTest(
        truth="oscillating",
        X_train=small_result.X_train,
        X_test=small_result.X_test,
        n_fits=3,
        times=[1.0, np.inf],
        progress=False,
        random_state=5,
    ).run()
    assert not np.allclose(_draws(other)[0], draws)


def test_a_generator_random_state_reproduces_the_int_seed():
    kw = dict(truth="prior", n_fits=2, times=[np.inf], progress=False)
    seeded = ClosureTest(random_state=7, **kw).run()
    gen = ClosureTest(random_state=np.random.default_rng(7), **kw).run()
    np.testing.assert_array_equal(seeded.data, gen.data)
    np.testing.assert_array_equal(seeded.truth_test, gen.truth_test)
    assert seeded.per_fit["posterior"][1].bias == gen.per_fit["posterior"][1].bias
    json.dumps(gen.summary())  # the Generator is stored as its repr
    assert gen.config["random_state"].startswith("Generator")
