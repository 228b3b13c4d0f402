"""MLPEnsembleRegressor: sklearn contract, identities with MLPEnsemble, errors."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from nngpbayes import MLPEnsemble, MLPEnsembleRegressor

ARCH = dict(depth=2, activation="tanh", weight_variance=1.6, bias_variance=0.2)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(30, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    Xs = rng.uniform(-1.5, 1.5, size=(7, 2))
    return X, y, Xs


@parametrize_with_checks(
    [
        MLPEnsembleRegressor(),
        MLPEnsembleRegressor(
            depth=2,
            width=[16, 8],
            activation="erf",
            bias_variance=0.1,
            n_members=3,
            n_steps=30,
            y_cov=0.5,
            replicas=True,
            training="readout",
        ),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "settings",
    [
        dict(time=0.7, n_steps=None),
        dict(time=0.7, n_steps=40, learning_rate=0.5),
        dict(n_steps=25),
        dict(n_steps=25, y_cov=0.3, replicas=True, training="readout"),
    ],
)
def test_is_the_mean_of_mlp_ensemble(data, settings):
    """Without normalize_y the regressor is MLPEnsemble.fit, bit for bit."""
    X, y, Xs = data
    reg = MLPEnsembleRegressor(
        **ARCH, width=12, n_members=5, random_state=3, normalize_y=False
    )
    reg.set_params(**settings).fit(X, y)
    ens = MLPEnsemble(**ARCH, width=12, n_members=5, random_state=3, progress=False)
    members = ens.fit(X, y, **settings).predict(Xs)
    mean, std = reg.predict(Xs, return_std=True)
    np.testing.assert_array_equal(reg.ensemble_.predict(Xs), members)
    np.testing.assert_array_equal(mean, members.mean(axis=0))
    np.testing.assert_array_equal(std, members.std(axis=0, ddof=1))
    assert (reg.n_steps_, reg.step_size_) == (ens.n_steps_, ens.step_size_)
    assert reg.learning_rate_ == ens.learning_rate_


@pytest.mark.parametrize(
    "settings",
    [
        dict(time=0.7, n_steps=None),
        dict(time=0.7, n_steps=30, learning_rate=0.5),
        dict(n_steps=25),
    ],
)
def test_y_cov_without_replicas_matches_mlp_ensemble(data, settings):
    """C = σ² I enters only as η / σ² (folded into η): same steps, same numbers up
    to round-off of the product η Δt / σ² (rtol 1e-9 over <= 300 steps)."""
    X, y, Xs = data
    reg = MLPEnsembleRegressor(
        **ARCH, width=12, n_members=3, random_state=4, normalize_y=False, y_cov=0.3
    )
    reg.set_params(**settings).fit(X, y)
    ens = MLPEnsemble(**ARCH, width=12, n_members=3, random_state=4, progress=False)
    ens.fit(X, y, y_cov=0.3, **settings)
    assert reg.n_steps_ == ens.n_steps_
    assert reg.learning_rate_ == pytest.approx(ens.learning_rate_, rel=1e-12)
    assert reg.step_size_ == pytest.approx(ens.step_size_, rel=1e-12)
    members = ens.predict(Xs)
    np.testing.assert_allclose(reg.predict(Xs), members.mean(0), rtol=1e-9)


def test_normalize_y_is_an_affine_map_of_the_members(data):
    """m + s · (members trained on (y − m) / s with C / s²)."""
    X, y, Xs = data
    y = 40.0 * y + 7.0
    reg = MLPEnsembleRegressor(**ARCH, width=12, n_members=4, random_state=1)
    reg.set_params(time=0.5, n_steps=None, y_cov=300.0, replicas=True).fit(X, y)
    m, s = y.mean(), y.std()
    assert reg.y_mean_ == pytest.approx([m], rel=1e-14)
    assert reg.y_scale_ == pytest.approx(s, rel=1e-14)
    ens = MLPEnsemble(**ARCH, width=12, n_members=4, random_state=1, progress=False)
    ens.fit(X, (y - m) / s, time=0.5, y_cov=300.0 / s**2, replicas=True)
    members = ens.predict(Xs)
    mean, std = reg.predict(Xs, return_std=True)
    np.testing.assert_allclose(mean, m + s * members.mean(0), rtol=1e-12)
    np.testing.assert_allclose(std, s * members.std(0, ddof=1), rtol=1e-12)


def test_time_zero_is_the_initial_ensemble(data):
    X, y, Xs = data
    reg = MLPEnsembleRegressor(**ARCH, n_members=6, random_state=5, normalize_y=False)
    reg.set_params(time=0.0).fit(X, y)
    prior = MLPEnsemble(**ARCH, width=64, n_members=6, random_state=5).predict(Xs)
    np.testing.assert_array_equal(reg.predict(Xs), prior.mean(0))


def test_y_cov_rescales_time(data):
    """Without replicas, C = σ² I gives the flow of C = I at time t / σ²
    (:ref:`theory-2`); automatic steps pick the same grid, so only round-off differs."""
    X, y, Xs = data
    base = MLPEnsembleRegressor(**ARCH, width=16, n_members=3, random_state=2)
    a = clone(base).set_params(time=2.0, n_steps=None, y_cov=4.0).fit(X, y)
    b = clone(base).set_params(time=0.5, n_steps=None).fit(X, y)
    assert a.n_steps_ == b.n_steps_
    np.testing.assert_allclose(a.predict(Xs), b.predict(Xs), rtol=1e-9, atol=1e-12)


def test_seeded_fits_are_deterministic(data):
    X, y, Xs = data
    reg = MLPEnsembleRegressor(width=16, n_members=4, random_state=11)
    first = reg.fit(X, y).predict(Xs, return_std=True)
    again = clone(reg).fit(X, y).predict(Xs, return_std=True)
    np.testing.assert_array_equal(first, again)
    other = clone(reg).set_params(random_state=12).fit(X, y).predict(Xs)
    assert not np.allclose(other, first[0])
    threads = clone(reg).set_params(n_jobs=2).fit(X, y).predict(Xs, return_std=True)
    np.testing.assert_array_equal(threads, first)


def test_multi_output_and_column_targets(data):
    X, y, Xs = data
    Y = np.c_[y, 3 * y - 2]
    reg = MLPEnsembleRegressor(width=16, n_members=3, random_state=0).fit(X, Y)
    mean, std = reg.predict(Xs, return_std=True)
    assert mean.shape == std.shape == (7, 2) and reg.n_outputs_ == 2
    members = reg.ensemble_.predict(Xs)  # (M, n, 2)
    m, s = reg.y_mean_, reg.y_scale_
    np.testing.assert_allclose(mean, m + s * members.mean(0), rtol=1e-12)
    column = clone(reg).fit(X, y[:, None])
    assert column.predict(Xs).shape == (7, 1)
    np.testing.assert_array_equal(
        column.predict(Xs)[:, 0], clone(reg).fit(X, y).predict(Xs)
    )


def test_score_is_r2_of_the_mean(data):
    X, y, Xs = data
    reg = MLPEnsembleRegressor(width=16, n_members=4, random_state=0).fit(X, y)
    assert reg.score(X, y) == pytest.approx(r2_score(y, reg.predict(X)), rel=1e-14)


def test_cross_validation_grid_search_and_pipeline(data):
    X, y, Xs = data
    reg = MLPEnsembleRegressor(width=16, n_members=3, random_state=0)
    scores = cross_val_score(reg, X, y, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    search = GridSearchCV(reg, {"width": [8, 16], "time": [0.2, 1.0]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["width"] in (8, 16)
    assert search.best_estimator_.predict(Xs).shape == (7,)
    pipe = make_pipeline(StandardScaler(), clone(reg)).fit(X, y)
    scaled = clone(reg).fit(StandardScaler().fit_transform(X), y)
    Xs_scaled = StandardScaler().fit(X).transform(Xs)
    np.testing.assert_array_equal(pipe.predict(Xs), scaled.predict(Xs_scaled))


def test_pickle_round_trip(data):
    X, y, Xs = data
    reg = MLPEnsembleRegressor(width=16, n_members=3, random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(
        back.predict(Xs, return_std=True), reg.predict(Xs, return_std=True)
    )


@pytest.mark.parametrize(
    "param,value",
    [
        ("time", -1.0),
        ("time", np.nan),
        ("time", "1"),
        ("n_steps", 2.5),
        ("n_steps", -1),
        ("n_members", 0),
        ("learning_rate", 0.0),
        ("y_cov", -0.1),
        ("normalize_y", "yes"),
        ("replicas", 1),
        ("progress", None),
        ("training", "hidden"),
        ("random_state", 1.5),
        ("n_jobs", 0),
        ("width", 0),
        ("depth", -1),
        ("activation", "nope"),
    ],
)
def test_bad_parameters_are_named(data, param, value):
    X, y, _ = data
    reg = MLPEnsembleRegressor().set_params(**{param: value})
    with pytest.raises(ValueError, match=param):
        reg.fit(X, y)


def test_time_and_n_steps_cannot_both_be_none(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="time and n_steps"):
        MLPEnsembleRegressor(n_steps=None).fit(X, y)


def test_return_std_needs_two_members(data):
    X, y, Xs = data
    reg = MLPEnsembleRegressor(n_members=1, random_state=0).fit(X, y)
    assert reg.predict(Xs).shape == (7,)
    with pytest.raises(ValueError, match="n_members=1"):
        reg.predict(Xs, return_std=True)
