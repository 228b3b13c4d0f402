"""MLPEnsemble's public interface for other subpackages, its argument checks
(scikit-learn's conventions), joblib's n_jobs, and training that never runs on to
NaN: the default step is inside the stability limit, divergence stops at once."""

import re

import joblib
import numpy as np
import pytest

import nngpbayes.networks._mlp as mlp_module
from nngpbayes import MLPEnsemble
from nngpbayes.networks import DivergenceError, StabilityWarning, forward

SMALL = dict(depth=1, width=16, n_members=3, random_state=0, progress=False)


@pytest.fixture(scope="module")
def readme_data():
    """The README's inputs: 100 standard-normal points in 3 dimensions."""
    X = np.random.default_rng(0).normal(size=(100, 3))
    return X, np.sin(X[:, 0])


def test_public_interface_for_other_subpackages():
    X = np.random.default_rng(1).normal(size=(4, 2))
    ens = MLPEnsemble(**SMALL)
    Xv = ens.ensure_initialized(X.tolist())
    assert Xv.dtype == np.float64 and ens.n_features_in_ == 2
    with pytest.raises(ValueError, match="X_rows has 3 features"):
        ens.ensure_initialized(np.ones((2, 3)), "X_rows")
    assert ens.check_output(0) == 0
    with pytest.raises(ValueError, match="output"):
        ens.check_output(1)
    w0, b0 = ens.initial_parameters()
    ens.fit(X, X[:, 0], n_steps=5)
    assert not np.array_equal(w0[0], ens.weights_[0])  # training moved them
    fresh = MLPEnsemble(**SMALL).initialize(2)
    for a, b in zip(w0 + b0, fresh.weights_ + fresh.biases_, strict=True):
        np.testing.assert_array_equal(a, b)
    phi = forward(ens.initial_parameters(), X, ens.architecture_.activation)
    np.testing.assert_array_equal(phi[..., 0], fresh.predict(X))
    with pytest.raises(AttributeError, match="not initialised"):
        MLPEnsemble().initial_parameters()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_members=2.0), r"n_members must be an instance of"),
        (dict(n_members=True), r"n_members must be a number, got True"),
        (dict(width=2.5), r"width must hold integers, got 2.5"),
        (dict(width="64"), r"width must hold integers, got '64'"),
        (dict(random_state=-1), r"random_state must be a non-negative int, got -1"),
        (dict(n_jobs=0), r"n_jobs must be non-zero, got n_jobs=0"),
        (dict(n_jobs=1.5), r"n_jobs must be None or a non-zero integer, got 1.5"),
    ],
)
def test_bad_constructor_arguments_fail_in_fit_before_work(kwargs, match):
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match=match):
        MLPEnsemble(**{**SMALL, **kwargs}).fit(X, X[:, 0], n_steps=1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_steps=2.0), r"n_steps must be an instance of"),
        (dict(n_steps=-1), r"n_steps == -1, must be >= 0"),
        (dict(time=np.inf), r"time must be finite, got time=inf"),
        (dict(time="1"), r"time must be an instance of"),
        (dict(n_steps=1, learning_rate=-1.0), r"learning_rate == -1.0, must be > 0"),
        (dict(time=1.0, record_times=[np.nan]), r"record_times must be finite"),
    ],
)
def test_bad_fit_arguments_name_the_argument(kwargs, match):
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match=match):
        MLPEnsemble(**SMALL).fit(X, X[:, 0], **kwargs)


def test_generator_random_state_follows_check_generator():
    """An int seed s and default_rng(s) give the same members (the children of
    SeedSequence(s)); a shared Generator moves on between initialisations."""
    a = MLPEnsemble(**SMALL).initialize(2)
    gen = np.random.default_rng(0)
    b = MLPEnsemble(**{**SMALL, "random_state": gen}).initialize(2)
    np.testing.assert_array_equal(a.weights_[0], b.weights_[0])
    b.initialize(2)
    assert not np.array_equal(a.weights_[0], b.weights_[0])
    legacy = MLPEnsemble(**{**SMALL, "random_state": np.random.RandomState(0)})
    assert legacy.initialize(2).weights_[0].shape == (3, 2, 16)


def test_processes_from_parallel_config_give_identical_results():
    """n_jobs=2 under a process backend trains copies that are written back."""
    X = np.random.default_rng(2).normal(size=(6, 2))
    kw = dict(SMALL, n_members=4)
    fit = dict(time=1.0, n_steps=40, replicas=True, y_cov=0.5)
    ref = MLPEnsemble(**kw).fit(X, X[:, 0], **fit).predict(X)
    with joblib.parallel_config(backend="loky"):
        got = MLPEnsemble(**kw, n_jobs=2).fit(X, X[:, 0], **fit).predict(X)
    np.testing.assert_array_equal(got, ref)


def test_default_learning_rate_is_inside_the_stability_limit(readme_data):
    """Every default, n_steps alone, on the README's X: finite, and it learns."""
    X, y = readme_data
    ens = MLPEnsemble(random_state=0, progress=False)
    ens.initialize(3)
    s_max = ens.max_flow_eigenvalue(X)
    assert 1.0 * s_max > 2.0  # the former default learning_rate=1 diverged here
    ens.fit(X, y, n_steps=100)
    assert ens.learning_rate_ == pytest.approx(1.0 / s_max, rel=1e-12)
    f = ens.predict(X)
    assert np.isfinite(f).all()
    # the loss fell: the mean squared residual is below that of the zero function
    assert np.mean((f - y) ** 2) < np.mean(y**2)
    assert MLPEnsemble(**SMALL).fit(X, y, time=1.0).learning_rate_ == 1.0


def test_diverging_fit_stops_within_a_few_steps(readme_data, monkeypatch):
    """η = 100 × the stability limit: the error comes within a few steps of a
    million, having done only those few steps' work (forward passes counted)."""
    X, y = readme_data
    ens = MLPEnsemble(depth=1, width=64, n_members=4, random_state=0, progress=False)
    limit = 2.0 / ens.max_flow_eigenvalue(X)
    calls = []
    real_forward = mlp_module.forward

    def counting_forward(*args, **kwargs):
        calls.append(1)
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(mlp_module, "forward", counting_forward)
    with pytest.warns(StabilityWarning), pytest.raises(DivergenceError) as info:
        ens.fit(X, y, n_steps=10**6, learning_rate=100 * limit)
    message = str(info.value)
    step = int(re.search(r"at gradient-descent step (\d+) of 1000000", message)[1])
    assert 1 <= step <= 20 and info.value.step == step
    assert len(calls) <= step + 5  # the NTK at initialisation + one per step
    assert "learning_rate" in message and f"{limit:.4g}" in message
    assert "time without n_steps" in message
    assert isinstance(info.value, FloatingPointError)


def test_degenerate_inputs_train_to_finite_values():
    """All-zero X without biases: H = 0, nothing moves, nothing is NaN."""
    X = np.zeros((4, 2))
    ens = MLPEnsemble(**SMALL).fit(X, np.ones(4), n_steps=3)
    assert np.isfinite(ens.predict(X)).all() and ens.learning_rate_ == 1.0
