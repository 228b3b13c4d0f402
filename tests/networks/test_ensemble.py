"""MLPEnsemble: empirical kernels against independent references, initialisation
statistics, training against the linearised and infinite-width flows, errors."""

import numpy as np
import pytest

from nngpbayes import GradientFlowRegressor, MLPEnsemble, NNGPKernel, NTKKernel
from nngpbayes.networks import StabilityWarning

ARCH = dict(depth=2, activation="tanh", weight_variance=1.6, bias_variance=0.2)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(5, 3))


def finite_difference_ntk(ens, X, h=1e-6):
    """J λ Jᵀ with J from central differences of the outputs in every parameter."""
    params = [(w, b) for w, b in zip(ens.weights_, ens.biases_, strict=True)]
    cols = []
    for w, b in params:
        for arr in (w, b):
            flat = arr.reshape(arr.shape[0], -1)
            for j in range(flat.shape[1]):
                old = flat[:, j].copy()
                flat[:, j] = old + h
                up = ens.predict(X)
                flat[:, j] = old - h
                down = ens.predict(X)
                flat[:, j] = old
                cols.append((up - down) / (2 * h))
    J = np.stack(cols, axis=-1)  # (M, n, P)
    return np.einsum("mip,p,mjp->mij", J, ens.parameter_lr(), J)


@pytest.mark.parametrize("activation", ["tanh", "relu", "erf"])
def test_empirical_ntk_matches_finite_difference_jacobian(X, activation):
    ens = MLPEnsemble(
        depth=2,
        width=[7, 5],
        activation=activation,
        weight_variance=1.3,
        bias_variance=0.3,
        weight_lr=[0.5, 2.0, 1.0],
        n_members=3,
        random_state=1,
    )
    ens.initialize(3)
    H = ens.empirical_ntk(X)
    np.testing.assert_allclose(H, finite_difference_ntk(ens, X), rtol=1e-6, atol=1e-9)
    J = ens.jacobian(X)
    np.testing.assert_allclose(
        np.einsum("mip,p,mjp->mij", J, ens.parameter_lr(), J), H, rtol=1e-12
    )
    Y = X[:2] + 0.1
    cross = np.einsum("mip,p,mjp->mij", J, ens.parameter_lr(), ens.jacobian(Y))
    np.testing.assert_allclose(ens.empirical_ntk(X, Y), cross, rtol=1e-12)


@pytest.mark.parametrize("activation,depth", [("relu", 1), ("erf", 2), ("tanh", 1)])
def test_initial_ensemble_matches_infinite_width_kernels(X, activation, depth):
    """Monte Carlo over members; tolerance from the sample (z = 5) plus O(1/n)."""
    m, width = 400, 512
    arch = dict(
        depth=depth, activation=activation, weight_variance=1.5, bias_variance=0.1
    )
    ens = MLPEnsemble(**arch, width=width, n_members=m, random_state=2)
    f = ens.predict(X)  # (M, n)
    K = NNGPKernel(**arch)(X)
    prod = f[:, :, None] * f[:, None, :]
    # 5 standard errors, SE = sd over members / sqrt(m) with m = 400, plus the
    # O(1/width) finite-width bias of the deeper layers (width = 512)
    se = prod.std(0) / np.sqrt(m)
    bias = (depth - 1) * 2.0 / width * np.sqrt(np.outer(np.diag(K), np.diag(K)))
    assert np.all(np.abs(prod.mean(0) - K) <= 5 * se + bias)
    H = ens.empirical_ntk(X)
    T = NTKKernel(**arch)(X)
    se_h = H.std(0) / np.sqrt(m)
    bias_h = 2.0 * depth / width * np.sqrt(np.outer(np.diag(T), np.diag(T)))
    assert np.all(np.abs(H.mean(0) - T) <= 5 * se_h + bias_h)
    emp = ens.empirical_nngp(X)
    np.testing.assert_allclose(np.diag(emp), f.var(0, ddof=1), rtol=1e-12)


def test_same_random_state_same_results_for_any_n_jobs(X):
    y = np.sin(X[:, 0])
    kw = dict(
        depth=1, width=32, activation="erf", n_members=5, random_state=7, progress=False
    )
    fits = [
        MLPEnsemble(**kw, n_jobs=n).fit(
            X, y, time=1.0, n_steps=20, replicas=True, y_cov=0.1
        )
        for n in (None, 2)
    ]
    np.testing.assert_array_equal(fits[0].predict(X), fits[1].predict(X))
    again = MLPEnsemble(**kw).fit(X, y, time=1.0, n_steps=20, replicas=True, y_cov=0.1)
    np.testing.assert_array_equal(again.predict(X), fits[0].predict(X))
    # members are seeded individually: the first 3 of 5 equal an ensemble of 3
    three = MLPEnsemble(**dict(kw, n_members=3))
    np.testing.assert_array_equal(three.predict(X), MLPEnsemble(**kw).predict(X)[:3])


def test_small_steps_follow_each_members_linearisation(X):
    """At width 2048 the trained member equals its frozen-NTK solution closely."""
    y = np.sin(2 * X[:, 0])
    ens = MLPEnsemble(**ARCH, width=1024, n_members=4, random_state=3, progress=False)
    ens.initialize(3)
    f0, H0 = ens.predict(X), ens.empirical_ntk(X)
    t = 2.0
    ens.fit(X, y, time=t, n_steps=400)
    lin = []
    for f, h in zip(f0, H0, strict=True):
        s, u = np.linalg.eigh(h)
        lin.append(f + u @ ((1 - np.exp(-s * t)) * (u.T @ (y - f))))
    err = np.abs(ens.predict(X) - np.array(lin)).max()
    # not statistical: each member departs from its own linearisation by O(1/n),
    # ~1e-3 of |y| at n = 1024; 0.02 leaves a factor ~20 for the constant
    assert err < 0.02 * np.abs(y).max()


@pytest.mark.parametrize("mode", ["steps", "time"])
def test_linear_model_descent_is_exactly_the_discrete_flow(X, mode):
    """Depth 0 (a linear model) is its own linearisation: n_steps of gradient
    descent equal the discrete filter (1 − (1 − ηs)^k)/s of :ref:`theory-4` applied
    from each member's own initial outputs, with the NTK λ_b + λ_W x·x'/n_0."""
    from nngpbayes.dynamics import LinearFlow

    y = np.cos(X[:, 1])
    kw = dict(
        depth=0,
        activation="identity",
        weight_variance=1.3,
        bias_variance=0.4,
        weight_lr=0.7,
        n_members=3,
        random_state=4,
        progress=False,
    )
    ens = MLPEnsemble(width=1, **kw)
    f0 = ens.predict(X)
    k, eta = 40, 0.05
    if mode == "steps":
        ens.fit(X, y, learning_rate=eta, n_steps=k)
    else:  # time t in k steps with rate η' is k steps of size η' t / k
        ens.fit(X, y, learning_rate=2 * eta, time=k / 2, n_steps=k)
    theta = 0.4 + 0.7 * X @ X.T / 3
    np.testing.assert_allclose(
        ens.empirical_ntk(X), np.broadcast_to(theta, (3, 5, 5)), rtol=1e-13
    )
    for f, got in zip(f0, ens.predict(X), strict=True):
        flow = LinearFlow(theta, theta, y - f, learning_rate=eta, discrete=True)
        np.testing.assert_allclose(
            got, f + flow.predict(theta, time=k), rtol=1e-11, atol=1e-12
        )
    assert ens.step_size_ == pytest.approx(eta) and ens.n_steps_ == k


def test_replicas_readout_and_record(X):
    y = np.c_[np.sin(X[:, 0]), X[:, 1]]
    ens = MLPEnsemble(depth=1, width=64, n_members=6, random_state=5, progress=False)
    ens.fit(
        X,
        y,
        time=1.0,
        n_steps=50,
        training="readout",
        replicas=True,
        y_cov=0.05,
        record_times=[0.0, 0.5, 1.0],
        record_ntk=True,
    )
    assert ens.predict(X).shape == (6, 5, 2)
    assert ens.history_["predictions"].shape == (3, 6, 5, 2)
    assert ens.history_["ntk"].shape == (3, 6, 5, 5)
    np.testing.assert_allclose(ens.history_["time"], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(ens.history_["predictions"][-1], ens.predict(X))
    # readout training leaves the hidden layer untouched
    first = MLPEnsemble(depth=1, width=64, n_members=6, random_state=5).initialize(3, 2)
    np.testing.assert_array_equal(first.weights_[0], ens.weights_[0])
    np.testing.assert_array_equal(first.biases_[0], ens.biases_[0])
    assert not np.array_equal(first.weights_[1], ens.weights_[1])


def test_ensemble_trained_on_replicas_matches_gradient_flow(X):
    """Mean and covariance of 256 members of width 1024 vs the analytic ensemble."""
    y = np.sin(2 * X[:, 0])
    arch = dict(depth=1, activation="erf", weight_variance=1.5, bias_variance=0.1)
    m, t = 256, 1.5
    ens = MLPEnsemble(**arch, width=1024, n_members=m, random_state=6, progress=False)
    ens.fit(X, y, time=t, n_steps=400, replicas=True, y_cov=0.02)
    reg = GradientFlowRegressor(**arch, replicas=True).fit(X, y, y_cov=0.02)
    Xs = np.vstack([X, X[:2] + 0.5])
    mean, cov = reg.predict(Xs, time=t, return_cov=True)
    f = ens.predict(Xs)
    # 4 standard errors: SE of the mean = sqrt(var / m), of a Gaussian sample
    # variance sqrt(2 / (m - 1)) var, with m = 256 members; plus 5 % for the
    # O(1/n) finite-width bias at width n = 1024
    z_mean = (f.mean(0) - mean) / np.sqrt(np.diag(cov) / m)
    assert np.all(np.abs(z_mean) < 4)
    se_var = np.sqrt(2.0 / (m - 1)) * np.diag(cov)
    assert np.all(
        np.abs(f.var(0, ddof=1) - np.diag(cov)) < 4 * se_var + 0.05 * np.diag(cov)
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(width=0), "width must be >= 1"),
        (dict(width=[4, 4]), "width must be an integer or 1 integers"),
        (dict(n_members=0), r"n_members == 0, must be >= 1"),
        (dict(random_state="seed"), "random_state must be"),
        (dict(weight_variance=-1.0), "weight_variance must be"),
    ],
)
def test_bad_constructor_arguments(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLPEnsemble(**kwargs).predict(X)


def test_bad_fit_arguments(X):
    ens = MLPEnsemble(depth=1, width=16, n_members=2, random_state=0, progress=False)
    y = np.sin(X[:, 0])
    with pytest.raises(ValueError, match="y contains NaN"):
        ens.fit(X, np.r_[y[:-1], np.nan], n_steps=3)
    with pytest.raises(ValueError, match=r"time == -1.0, must be >= 0"):
        ens.fit(X, y, time=-1.0)
    with pytest.raises(ValueError, match="give time, n_steps or both"):
        ens.fit(X, y)
    with pytest.raises(ValueError, match=r"learning_rate == 0.0, must be > 0"):
        ens.fit(X, y, n_steps=3, learning_rate=0.0)
    with pytest.raises(ValueError, match="training must be one of"):
        ens.fit(X, y, n_steps=3, training="hidden")
    with pytest.raises(ValueError, match="record_times must be"):
        ens.fit(X, y, time=1.0, n_steps=3, record_times=[2.0])
    with pytest.raises(ValueError, match="X has 2 features"):
        ens.predict(X[:, :2])
    with pytest.warns(StabilityWarning, match="stability limit"):
        ens.fit(X, y, learning_rate=100.0, n_steps=2)
