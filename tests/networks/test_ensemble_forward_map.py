"""MLPEnsemble trained through a forward map y = F φ(X_grid) (docs theory §4)."""

import numpy as np
import pytest

from nngpbayes import MLPEnsemble
from nngpbayes.architecture import Architecture
from nngpbayes.dynamics import LinearFlow
from nngpbayes.kernels import nngp_ntk


def smoothing_problem(n_grid=30, n_data=15, seed=0):
    """A PDF-like problem: a Gaussian smoothing F, a correlated C, a smooth truth."""
    rng = np.random.default_rng(seed)
    X = np.linspace(-1, 1, n_grid)[:, None]
    centres = np.linspace(-0.9, 0.9, n_data)
    F = np.exp(-((centres[:, None] - X[:, 0]) ** 2) / 0.05)
    F /= F.sum(1, keepdims=True)
    A = rng.standard_normal((n_data, n_data))
    C = 0.01 * (A @ A.T / n_data + np.eye(n_data))
    y = F @ np.sin(3 * X[:, 0]) + np.linalg.cholesky(C) @ rng.standard_normal(n_data)
    return X, F, C, y


ARCH = Architecture(depth=1, activation="erf", weight_variance=2.0, bias_variance=0.1)


def ensemble(width=64, n_members=4, arch=ARCH, **kw):
    return MLPEnsemble.from_architecture(
        arch, width=width, n_members=n_members, random_state=3, **kw
    )


@pytest.mark.parametrize("training", ["full", "readout"])
@pytest.mark.parametrize("replicas", [False, True])
def test_identity_map_gives_the_same_members(training, replicas):
    X, _, C, _ = smoothing_problem(n_data=30)
    y = np.sin(3 * X[:, 0])
    kw = dict(n_steps=40, y_cov=C, replicas=replicas, training=training)
    kw.update(record_times=[0.0, 20.0, 40.0], record_ntk=True)
    arch = Architecture(depth=2, activation="tanh")
    a = ensemble(arch=arch).fit(X, y, **kw)
    b = ensemble(arch=arch).fit(X, y, forward_map=np.eye(len(X)), **kw)
    np.testing.assert_allclose(b.predict(X), a.predict(X), rtol=0, atol=1e-10)
    for key in ("predictions", "ntk"):
        np.testing.assert_allclose(b.history_[key], a.history_[key], rtol=0, atol=1e-10)
    assert (a.step_size_, a.n_steps_) == (b.step_size_, b.n_steps_)


def test_one_small_step_moves_along_the_mapped_gradient():
    """Δφ = −η Δt H Fᵀ C⁻¹ (Fφ − y) + O(step²): a step of 1e-6 against the
    empirical NTK (the O(step) remainder is far below the 1e-4 tolerance)."""
    X, F, C, y = smoothing_problem()
    ens = ensemble().initialize(1)
    phi0, H = ens.predict(X), ens.empirical_ntk(X)
    step = 1e-6
    ens.fit(X, y, time=step, n_steps=1, forward_map=F, y_cov=C)
    resid = np.linalg.solve(C, (phi0 @ F.T - y).T).T  # (M, n_data)
    expected = -step * np.einsum("mij,mj->mi", H, resid @ F)
    np.testing.assert_allclose(ens.predict(X) - phi0, expected, rtol=1e-4, atol=0)


def test_schedule_uses_the_whitened_mapped_ntk():
    X, F, C, y = smoothing_problem()
    ens = ensemble().initialize(1)
    H = ens.empirical_ntk(X)
    L = np.linalg.cholesky(C)
    G = np.linalg.solve(L, F)
    direct = max(np.linalg.eigvalsh(G @ h @ G.T).max() for h in H)
    s_max = ens.max_flow_eigenvalue(X, y_cov=C, forward_map=F)
    np.testing.assert_allclose(s_max, direct, rtol=1e-10)
    ens.fit(X, y, n_steps=5, forward_map=F, y_cov=C)  # learning_rate=None
    np.testing.assert_allclose(ens.learning_rate_, 1.0 / direct, rtol=1e-10)


def test_history_is_on_the_grid():
    X, F, C, y = smoothing_problem()
    ens = ensemble().fit(X, y, n_steps=20, forward_map=F, y_cov=C, record_times=[0, 20])
    assert ens.history_["predictions"].shape == (2, 4, len(X))
    np.testing.assert_array_equal(ens.history_["predictions"][-1], ens.predict(X))


@pytest.mark.parametrize("replicas", [False, True])
def test_wide_ensemble_matches_the_linear_flow_through_f(replicas):
    """64 width-1024 networks vs LinearFlow with the same F, C, step and steps.

    Mean: |mean_ens − mean_flow| < 5 SE + 2% of max|mean_flow| (SE = sd/√64; the
    2% allows for the O(1/n) shift of finite width). Std: within 15% (the sample
    std of 64 members has relative SE 1/√126 ≈ 9%, plus O(1/n)); we check the
    median ratio within 10% and every point within 30% (3.3 SE).
    """
    X, F, C, y = smoothing_problem()
    ens = ensemble(width=1024, n_members=64, n_jobs=-1)
    ens.fit(X, y, n_steps=300, forward_map=F, y_cov=C, replicas=replicas)
    k, th = nngp_ntk(X, architecture=ARCH)
    flow = LinearFlow(
        th,
        k,
        y,
        forward_map=F,
        data_cov=C,
        learning_rate=ens.step_size_,
        discrete=True,
    )
    mean, cov = flow.predict(th, k, k, time=300, return_cov=True, replicas=replicas)
    sd = np.sqrt(np.diag(cov))
    f = ens.predict(X)
    se = sd / np.sqrt(64)
    assert np.all(np.abs(f.mean(0) - mean) < 5 * se + 0.02 * np.abs(mean).max())
    ratio = f.std(0, ddof=1) / sd
    assert abs(np.median(ratio) - 1) < 0.15
    assert np.all(np.abs(ratio - 1) < 0.3)


def test_bad_forward_map_and_shapes_are_named():
    X, F, C, y = smoothing_problem()
    ens = ensemble()
    with pytest.raises(ValueError, match="forward_map must have shape"):
        ens.fit(X, y, n_steps=2, forward_map=F[:, :-1])
    with pytest.raises(ValueError, match="forward_map contains NaN"):
        ens.fit(X, y, n_steps=2, forward_map=np.full_like(F, np.nan))
    with pytest.raises(ValueError, match=r"y must have shape \(15,\)"):
        ens.fit(X, np.zeros(len(X)), n_steps=2, forward_map=F)
    with pytest.raises(ValueError, match="y_cov"):
        ens.fit(X, y, n_steps=2, forward_map=F, y_cov=np.eye(len(X)))
