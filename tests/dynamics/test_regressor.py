"""GradientFlowRegressor: exact limits, sklearn contract, ill-conditioning, errors."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from nngpbayes import Architecture, GradientFlowRegressor, NNGPKernel
from nngpbayes._numerics import IllConditionedWarning
from nngpbayes.kernels import nngp_ntk


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(25, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    Xs = rng.uniform(-1.5, 1.5, size=(9, 2))
    return X, y, Xs


ARCH = dict(depth=2, activation="erf", weight_variance=1.5, bias_variance=0.2)


@parametrize_with_checks(
    [
        GradientFlowRegressor(),
        GradientFlowRegressor(depth=2, activation="erf", training="readout", time=5.0),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IllConditionedWarning)
        check(estimator)


def test_time_zero_is_the_prior(data):
    X, y, Xs = data
    reg = GradientFlowRegressor(**ARCH).fit(X, y)
    mean, cov = reg.predict(Xs, time=0.0, return_cov=True)
    np.testing.assert_array_equal(mean, 0.0)
    k = nngp_ntk(Xs, architecture=Architecture(**ARCH)).nngp
    np.testing.assert_allclose(cov, k, rtol=1e-13, atol=1e-15)


def test_readout_at_infinity_is_the_gp_posterior(data):
    X, y, Xs = data
    reg = GradientFlowRegressor(**ARCH, training="readout").fit(X, y)
    mean, cov = reg.predict(Xs, return_cov=True)
    kernel = NNGPKernel(
        depth=2, activation="erf", weight_variance=1.5, bias_variance=0.2
    )
    gp = GaussianProcessRegressor(kernel, alpha=1e-300, optimizer=None).fit(X, y)
    gm, gc = gp.predict(Xs, return_cov=True)
    np.testing.assert_allclose(mean, gm, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(cov, gc, rtol=1e-10, atol=1e-10)


def test_full_training_interpolates_with_zero_covariance(data):
    X, y, _ = data
    reg = GradientFlowRegressor(**ARCH).fit(X, y)
    mean, cov = reg.predict(X, return_cov=True)
    np.testing.assert_allclose(mean, y, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(cov, 0.0, atol=1e-9)
    assert reg.score(X, y) == pytest.approx(1.0, abs=1e-12)


def test_spectral_attributes(data):
    X, y, _ = data
    reg = GradientFlowRegressor(**ARCH, learning_rate=0.5).fit(X, y)
    s = reg.eigenvalues_
    assert np.all(np.diff(s) <= 0) and s[-1] >= 0
    th = nngp_ntk(X, architecture=Architecture(**ARCH)).ntk
    np.testing.assert_allclose(s, np.linalg.eigvalsh(th)[::-1], rtol=1e-10)
    np.testing.assert_allclose(reg.timescales_, 1 / (0.5 * s))
    assert reg.max_stable_learning_rate_ == pytest.approx(2 / s[0])
    np.testing.assert_allclose(reg.data_projection_, reg.eigenvectors_.T @ y)
    np.testing.assert_allclose(
        reg.eigenvectors_.T @ reg.eigenvectors_, np.eye(25), atol=1e-12
    )


def test_multi_output_and_time_axis(data):
    X, y, Xs = data
    Y = np.c_[y, 2 * y + 1]
    reg = GradientFlowRegressor(**ARCH).fit(X, Y)
    times = [0.5, 2.0, np.inf]
    mean, std = reg.predict(Xs, time=times, return_std=True)
    assert mean.shape == (3, 9, 2) and std.shape == (3, 9, 2)
    single = GradientFlowRegressor(**ARCH).fit(X, y)
    m1, s1 = single.predict(Xs, time=times, return_std=True)
    np.testing.assert_allclose(mean[..., 0], m1, rtol=1e-12)
    np.testing.assert_allclose(std[..., 1], s1, rtol=1e-12)
    _, cov = reg.predict(Xs, time=2.0, return_cov=True)
    assert cov.shape == (9, 9, 2)
    draws = reg.sample_y(Xs, n_samples=4, time=times, random_state=0)
    assert draws.shape == (3, 9, 2, 4)


def test_sample_y_statistics_and_determinism(data):
    X, y, Xs = data
    reg = GradientFlowRegressor(**ARCH, replicas=True).fit(X, y, y_cov=0.05)
    n = 20_000
    draws = reg.sample_y(Xs, n_samples=n, time=1.0, random_state=3)
    mean, cov = reg.predict(Xs, time=1.0, return_cov=True)
    # 5 standard errors with n = 20 000 draws: SE of a mean = sqrt(var / n), of a
    # sample covariance entry sqrt((c_ij² + c_ii c_jj) / n) (Gaussian draws); the
    # two-sided tail beyond 5 SE is 5.7e-7 per entry, 3e-5 over the 9 + 45 checked
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(draws.mean(-1) - mean) < 5 * se)
    se_cov = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / n)
    assert np.all(np.abs(np.cov(draws) - cov) < 5 * se_cov)
    again = reg.sample_y(Xs, n_samples=n, time=1.0, random_state=3)
    np.testing.assert_array_equal(draws, again)


def test_loss_curves(data):
    X, y, Xs = data
    rng = np.random.default_rng(1)
    y_noisy = y + 0.3 * rng.normal(size=len(y))
    reg = GradientFlowRegressor(**ARCH).fit(X, y_noisy)
    times = np.logspace(-2, 4, 13)
    curves = reg.loss_curve(times, Xs, np.sin(2 * Xs[:, 0]) + Xs[:, 1] ** 2)
    assert np.all(np.diff(curves["train"]) <= 1e-12)  # training loss falls
    # expected training loss from the prediction on the training inputs
    for t in (0.1, 10.0):
        m, c = reg.predict(X, time=t, return_cov=True)
        ref = 0.5 * (((m - y_noisy) ** 2).sum() + np.trace(c))
        got = reg.loss_curve([t])["train"][0]
        assert got == pytest.approx(ref, rel=1e-9)
    assert curves["validation"].shape == (13,)


def test_grid_search_and_pipeline(data):
    X, y, Xs = data
    pipe = make_pipeline(StandardScaler(), GradientFlowRegressor(depth=1))
    pipe.fit(X, y)
    assert pipe.predict(Xs).shape == (9,)
    search = GridSearchCV(
        GradientFlowRegressor(depth=1, activation="erf"),
        {"time": [0.5, 5.0, np.inf], "weight_variance": [0.5, 2.0]},
        cv=3,
    ).fit(X, y)
    assert search.best_params_["time"] in (0.5, 5.0, np.inf)


def test_pickle_round_trip(data):
    X, y, Xs = data
    reg = GradientFlowRegressor(**ARCH, time=3.0).fit(X, y)
    again = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(again.predict(Xs), reg.predict(Xs))


def _near_duplicates(delta, offset, n_pairs):
    rng = np.random.default_rng(5)
    base = rng.uniform(-1, 1, size=(n_pairs, 2))
    f = np.sin(3 * base[:, 0])
    X = np.r_[base, base + delta]
    return X, np.r_[f, f + offset], rng.uniform(-1, 1, size=(5, 2))


@pytest.mark.parametrize(
    "n_pairs",
    [200, pytest.param(1000, marks=pytest.mark.slow)],
    ids=["N=400", "N=2000"],
)
@pytest.mark.parametrize(
    "offset, time",
    [(0.0, np.inf), (0.1, 50.0)],
    ids=["same-data-t=inf", "conflicting-data-t=50"],
)
def test_near_duplicates_no_nan_warning_and_continuity(offset, time, n_pairs):
    """N = 2 n_pairs with near-duplicate pairs; results continuous as they separate.

    At t = inf with conflicting data at the two copies the exact flow has no limit
    (it interpolates both values 1e-9 apart); at any finite t it is bounded.
    """
    results = []
    for delta in (1e-9, 2e-9, 4e-9):
        X, y, Xs = _near_duplicates(delta, offset, n_pairs)
        reg = GradientFlowRegressor(depth=1, bias_variance=0.1, time=time)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reg.fit(X, y)
            mean, std = reg.predict(Xs, return_std=True)
        if np.isinf(time):
            assert any(issubclass(w.category, IllConditionedWarning) for w in caught)
        assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
        results.append(np.r_[mean, std])
    change = [np.max(np.abs(r - results[0])) for r in results[1:]]
    assert max(change) < 1e-5 * np.max(np.abs(results[0]))


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(training="hidden"), "training must be one of"),
        (dict(learning_rate=0.0), r"learning_rate.*Got learning_rate=0\.0"),
        (dict(learning_rate=-1.0), r"learning_rate.*Got learning_rate=-1\.0"),
        (dict(rcond=-1e-3), r"rcond.*Got rcond=-0\.001"),
        (dict(n_jobs=0), "n_jobs must be non-zero, got n_jobs=0"),
        (dict(n_jobs=1.5), "n_jobs must be None or a non-zero integer, got 1.5"),
        (dict(discrete="yes"), "discrete must be True or False, got 'yes'"),
        (dict(replicas=1), "replicas must be True or False, got 1"),
        (dict(depth=-1), r"depth.*Got depth=-1"),
        (dict(activation="relu6"), "activation must be one of"),
        (dict(time=-1.0), "time must be >= 0"),
        (dict(time=np.nan), "time must be >= 0"),
        (dict(weight_variance=-1.0), "weight_variance must be finite"),
    ],
)
def test_bad_parameters(data, params, match):
    X, y, _ = data
    with pytest.raises(ValueError, match=match):
        GradientFlowRegressor(**params).fit(X, y)


def test_bad_fit_and_predict_arguments(data):
    X, y, Xs = data
    with pytest.raises(ValueError, match="y_cov has 3 variances"):
        GradientFlowRegressor().fit(X, y, y_cov=np.ones(3))
    with pytest.raises(ValueError, match="y_cov must be positive definite"):
        GradientFlowRegressor().fit(X, y, y_cov=-np.eye(len(y)))
    reg = GradientFlowRegressor().fit(X, y)
    with pytest.raises(ValueError, match="time must be >= 0"):
        reg.predict(Xs, time=[1.0, -2.0])
    with pytest.raises(ValueError, match="at most one"):
        reg.predict(Xs, return_std=True, return_cov=True)
    with pytest.raises(ValueError, match="part must be one of"):
        reg.predict(Xs, return_std=True, part="noise")
    with pytest.raises(ValueError, match=r"n_samples.*Got n_samples=0"):
        reg.sample_y(Xs, n_samples=0)
    with pytest.raises(ValueError, match=r"n_samples.*Got n_samples=2\.5"):
        reg.sample_y(Xs, n_samples=2.5)
    with pytest.raises(ValueError, match="random_state must be"):
        reg.sample_y(Xs, random_state="seed")
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        reg.loss_curve([1.0], X_val=Xs)


@pytest.mark.parametrize("training", ["full", "readout"])
def test_all_zero_inputs_without_bias_are_a_clear_error(training):
    """Θ ≡ 0 on all-zero inputs with bias_variance=0: nothing can train."""
    X, y = np.zeros((6, 2)), np.arange(6.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning or NaN first
        with pytest.raises(ValueError, match="identically zero.*bias_variance"):
            GradientFlowRegressor(training=training).fit(X, y)
        with pytest.raises(ValueError, match="bias_lr=0 give no trained"):
            GradientFlowRegressor(weight_lr=0.0, bias_lr=0.0).fit(X + 1.0, y)


def test_zero_inputs_with_bias_or_nonzero_sigma0_fit():
    """With a bias, or σ(0) ≠ 0 (cos), zero inputs are a constant network: the
    flow fits the mean of y there, with finite results."""
    X, y = np.zeros((4, 2)), np.array([1.0, 2.0, 3.0, 6.0])
    for params in (dict(bias_variance=0.5), dict(activation="cos")):
        reg = GradientFlowRegressor(**params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IllConditionedWarning)  # rank one
            reg.fit(X, y)
            mean, std = reg.predict(X[:1], return_std=True)
        np.testing.assert_allclose(mean, y.mean(), rtol=1e-10)
        assert np.all(np.isfinite(std))


def test_n_jobs_follows_joblib_and_does_not_change_results(monkeypatch):
    """None → 1 thread (or a joblib.parallel_config's n_jobs), −1 → all cores."""
    import joblib

    from nngpbayes.kernels import _nngp_ntk

    seen, run = [], _nngp_ntk._run

    def spy(work, blocks, n_workers):
        seen.append(n_workers)
        return run(work, blocks, n_workers)

    monkeypatch.setattr(_nngp_ntk, "_run", spy)
    rng = np.random.default_rng(9)
    X = rng.uniform(-1, 1, size=(400, 2))  # 6 blocks of the default 192 rows
    y = np.sin(3 * X[:, 0])
    base = GradientFlowRegressor(bias_variance=0.1, time=2.0)
    serial = base.fit(X, y).predict(X[:5])
    with joblib.parallel_config(n_jobs=2):
        configured = clone(base).fit(X, y).predict(X[:5])
    every = clone(base).set_params(n_jobs=-1).fit(X, y).predict(X[:5])
    assert seen[0] == 1 and 2 in seen and joblib.cpu_count() in seen
    np.testing.assert_allclose(configured, serial, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(every, serial, rtol=1e-12, atol=1e-12)
