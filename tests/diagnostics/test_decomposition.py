"""The frozen-NTK decomposition f_t = U(t) f_0 + V(t) y (docs/theory §4) and its
bias–variance split, analytic and measured on trained ensembles."""

import numpy as np
import pytest
import scipy.linalg as sla
from _decomposition_problems import kernels, smoothing_problem, stable_rate
from matplotlib.figure import Figure

from nngpbayes import MLPEnsemble
from nngpbayes.architecture import Architecture
from nngpbayes.diagnostics._decomposition import (
    FrozenNTKDecomposition,
    MeasuredDecomposition,
    frozen_ntk_decomposition,
    measured_decomposition,
    plot_decomposition,
)
from nngpbayes.dynamics import LinearFlow


def reference_maps(ntk, F, C, t, lr, discrete):
    """U(t), V(t) from the flow df/dt = −η Θ Fᵀ C⁻¹ (F f − y) directly: the matrix
    exponential of the augmented system (continuous) or k explicit steps."""
    cinv = np.linalg.inv(C)
    a, b = lr * ntk @ F.T @ cinv @ F, lr * ntk @ F.T @ cinv
    n, m = b.shape
    if not discrete:  # expm([[−A, B], [0, 0]] t) = [[e^(−At), ∫_0^t e^(−As) ds B], ...]
        aug = np.zeros((n + m, n + m))
        aug[:n, :n], aug[:n, n:] = -a, b
        e = sla.expm(aug * t)
        return e[:n, :n], e[:n, n:]
    u, v = np.eye(n), np.zeros((n, m))
    for _ in range(int(t)):  # f ← f − η Θ Fᵀ C⁻¹ (F f − y)
        u, v = u - a @ u, v - a @ v + b
    return u, v


@pytest.mark.parametrize("discrete", [False, True])
def test_maps_solve_the_flow(discrete):
    X, F, C, f_true, y = smoothing_problem(n_grid=12, n_data=7)
    th, k = kernels(X)
    lr = stable_rate(th, F, C, 0.25)
    times = [0, 3, 40] if discrete else [0.0, 0.7, 25.0]
    dec = frozen_ntk_decomposition(
        th, k, f_true, y, F, C, time=times, learning_rate=lr, discrete=discrete
    )
    for i, t in enumerate(times):
        u_ref, v_ref = reference_maps(th, F, C, t, lr, discrete)
        np.testing.assert_allclose(dec.U[i], u_ref, atol=1e-9)
        np.testing.assert_allclose(dec.V[i], v_ref, atol=1e-9 * np.abs(v_ref).max())


@pytest.mark.parametrize("discrete", [False, True])
def test_identities(discrete):
    """U + V F = I at every t; U = I, V = 0 at t = 0 (bias −f*, var_U = diag K)."""
    X, F, C, f_true, y = smoothing_problem()
    th, k = kernels(X)
    times = [0, 1, 10, 100]
    lr = stable_rate(th, F, C) if discrete else 1.0
    dec = frozen_ntk_decomposition(
        th, k, f_true, y, F, C, time=times, learning_rate=lr, discrete=discrete
    )
    for u, v in zip(dec.U, dec.V, strict=True):
        np.testing.assert_allclose(u + v @ F, np.eye(len(X)), atol=1e-12)
    np.testing.assert_array_equal(dec.U[0], np.eye(len(X)))
    np.testing.assert_array_equal(dec.V[0], 0.0)
    np.testing.assert_allclose(dec.bias[0], -f_true, atol=1e-15)
    np.testing.assert_allclose(dec.variance_u[0], np.diag(k), rtol=1e-14)
    np.testing.assert_array_equal(dec.variance_v[0], 0.0)
    # with y = F f* + η: bias = systematic bias + V η
    np.testing.assert_allclose(
        dec.bias, dec.systematic_bias + dec.V @ (y - F @ f_true), atol=1e-12
    )


def test_invertible_map_learns_everything():
    """F square and invertible: V F → I at t = ∞ (any C), and at large finite t
    when C is small (every mode has η s t ≫ 1); then bias → V η and var_U → 0."""
    X = np.linspace(-1, 1, 8)[:, None]
    th, k = kernels(X)
    F = np.eye(8) + 0.3 * np.diag(np.ones(7), 1)  # invertible, condition ~2
    f_true = np.cos(2 * X[:, 0])
    C = 1e-6 * (
        np.eye(8) + 0.5 * np.diag(np.ones(7), 1) + 0.5 * np.diag(np.ones(7), -1)
    )
    dec = frozen_ntk_decomposition(th, k, f_true, None, F, C, time=[1e3, np.inf])
    g = np.linalg.solve(np.linalg.cholesky(C), F)
    s_min = np.linalg.eigvalsh(g @ th @ g.T).min()
    assert s_min * 1e3 > 40  # e^(−s t) < 1e-17 on the slowest mode
    for v in dec.V:
        np.testing.assert_allclose(v @ F, np.eye(8), atol=1e-7)
    np.testing.assert_allclose(dec.bias, 0.0, atol=1e-7)  # level 0: y = F f*
    np.testing.assert_allclose(dec.variance_u, 0.0, atol=1e-12)


# the smoothing map makes the whitened NTK singular to round-off (condition ~1e-14):
# at t = ∞ the result hangs on that mode's rounding (LAPACK versions differ by
# ~1e-3 there), so the flow is compared at a late finite time instead, when the
# learnable modes are learned and the round-off mode is untouched
@pytest.mark.filterwarnings("ignore::nngpbayes._numerics.IllConditionedWarning")
@pytest.mark.parametrize("discrete", [False, True])
def test_against_linear_flow(discrete):
    """Mean V y, "prior" covariance U K Uᵀ, "data" covariance V C Vᵀ."""
    X, F, C, f_true, y = smoothing_problem()
    th, k = kernels(X)
    lr = stable_rate(th, F, C) if discrete else 0.01
    times = [0, 5, 50, 500] if discrete else [0.0, 2.0, 30.0, 1e5]
    dec = frozen_ntk_decomposition(
        th, k, f_true, y, F, C, time=times, learning_rate=lr, discrete=discrete
    )
    flow = LinearFlow(th, k, y, F, C, learning_rate=lr, discrete=discrete)
    mean, prior = flow.predict(th, k, k, time=times, return_cov=True, part="prior")
    _, data = flow.predict(
        th, k, k, time=times, return_cov=True, part="data", replicas=True
    )
    _, total = flow.predict(th, k, k, time=times, return_std=True, replicas=True)
    scale = np.abs(k).max()
    np.testing.assert_allclose(dec.bias + f_true, mean, atol=1e-10)
    u_k_ut = dec.U @ k @ np.swapaxes(dec.U, 1, 2)
    np.testing.assert_allclose(u_k_ut, prior, atol=1e-10 * scale)
    v_c_vt = dec.V @ C @ np.swapaxes(dec.V, 1, 2)
    np.testing.assert_allclose(v_c_vt, data, atol=1e-10 * scale)
    np.testing.assert_allclose(dec.variance_u, np.einsum("tii->ti", prior), atol=1e-10)
    np.testing.assert_allclose(dec.variance_v, np.einsum("tii->ti", data), atol=1e-10)
    # the two parts are independent: mean squared error = bias² + var_U + var_V
    mse = np.mean((mean - f_true) ** 2 + total**2, axis=1)
    np.testing.assert_allclose(dec.mse(replicas=True), mse, rtol=1e-9)


def test_grid_means_and_options():
    X, F, C, f_true, y = smoothing_problem()
    th, k = kernels(X)
    dec = frozen_ntk_decomposition(th, k, f_true, y, F, C, time=[0.5, 3.0])
    np.testing.assert_allclose(dec.bias_sq, np.mean(dec.bias**2, axis=1))
    np.testing.assert_allclose(dec.var_u, dec.variance_u.mean(1))
    np.testing.assert_allclose(dec.mse(), dec.bias_sq + dec.var_u)
    np.testing.assert_allclose(dec.mse(True), dec.bias_sq + dec.var_u + dec.var_v)
    slim = frozen_ntk_decomposition(
        th, k, f_true, y, F, C, time=[0.5, 3.0], return_matrices=False
    )
    assert slim.U is None and slim.V is None
    np.testing.assert_array_equal(slim.variance_u, dec.variance_u)
    one = frozen_ntk_decomposition(th, k, f_true, y, F, C, time=3.0)
    assert one.bias.shape == (1, len(X))
    np.testing.assert_array_equal(one.bias[0], dec.bias[1])
    level0 = frozen_ntk_decomposition(th, k, f_true, None, F, C, time=3.0)
    np.testing.assert_allclose(level0.bias, level0.systematic_bias, atol=1e-15)


def test_bad_inputs_are_named():
    X, F, C, f_true, y = smoothing_problem()
    th, k = kernels(X)

    def call(**kw):
        args = dict(ntk=th, nngp=k, f_true=f_true, y=y, forward_map=F, y_cov=C)
        args["time"] = 1.0
        args.update(kw)
        return frozen_ntk_decomposition(**args)

    cases = [
        (dict(ntk=th[:, :-1]), "ntk must be a square"),
        (dict(nngp=k[:-1, :-1]), "nngp must have the shape"),
        (dict(ntk=np.full_like(th, np.nan)), "ntk contains NaN"),
        (dict(f_true=f_true[:-1]), r"f_true must have shape \(30,\)"),
        (dict(y=y[:-1]), r"y must have shape \(15,\)"),
        (dict(forward_map=F[:, :-1]), "forward_map must have shape"),
        (dict(y_cov=-C), "y_cov must be positive definite"),
        (dict(time=-1.0), "time must be >= 0"),
        (dict(learning_rate=0.0), "learning_rate"),
    ]
    for kw, match in cases:
        with pytest.raises(ValueError, match=match):
            call(**kw)
    with pytest.raises(ValueError, match="non-negative integer"):
        frozen_ntk_decomposition(th, k, f_true, time=1.5, discrete=True)
    with pytest.raises(ValueError, match="stability limit"):
        frozen_ntk_decomposition(
            th, k, f_true, time=np.inf, discrete=True, learning_rate=1e3
        )


# -- measured on ensembles -------------------------------------------------------------
def linear_problem(n_grid=10, n_data=6, n_features=4, seed=1):
    """Inputs in 4-D for depth-0 networks φ = b + W x (linear in every parameter,
    so training is exactly the frozen-NTK flow with Θ = K, docs/theory §3)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_grid, n_features))
    F = np.abs(rng.standard_normal((n_data, n_grid)))
    F /= F.sum(1, keepdims=True)
    A = rng.standard_normal((n_data, n_data))
    C = 0.05 * (A @ A.T / n_data + np.eye(n_data))
    f_true = np.tanh(X[:, 0])
    return X, F, C, f_true, F @ f_true + np.linalg.cholesky(C) @ rng.standard_normal(6)


LINEAR = Architecture(depth=0, activation="erf", weight_variance=1.5, bias_variance=0.3)


def linear_ensemble(n_members=8, random_state=5):
    return MLPEnsemble.from_architecture(
        LINEAR, n_members=n_members, random_state=random_state
    )


@pytest.mark.parametrize("replicas", [False, True])
def test_linear_networks_split_exactly(replicas):
    """Depth-0 networks: every member obeys f_t = U f_0 + V(y + ε_m) exactly, with
    the analytic U, V of Θ = K; the user's ensemble is left untouched."""
    X, F, C, f_true, y = linear_problem()
    ens = linear_ensemble()
    f0 = ens.predict(X)  # initialises the ensemble
    before = [w.copy() for w in ens.weights_]
    times = [0, 3, 10, 40]
    meas = measured_decomposition(
        ens,
        X,
        f_true,
        y,
        n_steps=40,
        forward_map=F,
        y_cov=C,
        replicas=replicas,
        record_times=times,
    )
    assert isinstance(meas, MeasuredDecomposition)
    for w, w0 in zip(ens.weights_, before, strict=True):
        np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(meas.steps, times)
    th, k = kernels(X, LINEAR)
    dec = frozen_ntk_decomposition(
        th,
        k,
        f_true,
        y,
        F,
        C,
        time=times,
        learning_rate=meas.step_size,
        discrete=True,
    )
    np.testing.assert_allclose(
        meas.u_part, np.einsum("tij,mj->tmi", dec.U, f0), atol=1e-10
    )
    v_y = dec.V @ y  # (T, n_grid)
    if not replicas:
        np.testing.assert_allclose(
            meas.v_part, np.broadcast_to(v_y[:, None], meas.v_part.shape), atol=1e-10
        )
        np.testing.assert_allclose(meas.stats["variance_v"], 0.0, atol=1e-20)
    else:  # V ε_m with ε_m = L z_m: the same z_m solves every time
        eps = np.linalg.lstsq(dec.V[-1], (meas.v_part[-1] - v_y[-1]).T, rcond=None)[0]
        np.testing.assert_allclose(
            meas.v_part,
            v_y[:, None] + np.einsum("tij,jm->tmi", dec.V, eps),
            atol=1e-9,
        )


def test_statistics_are_the_unbiased_estimators():
    """The per-point statistics against direct formulas, and the jackknife error
    of a mean against s/√M (the two agree exactly for a linear statistic)."""
    X, F, C, f_true, y = linear_problem()
    meas = measured_decomposition(
        linear_ensemble(n_members=6),
        X,
        f_true,
        y,
        n_steps=10,
        forward_map=F,
        y_cov=C,
        replicas=True,
        record_times=[0, 5, 10],
    )
    u, v = meas.u_part, meas.v_part
    m = u.shape[1]
    s_v2 = v.var(1, ddof=1)
    bias = v.mean(1) - f_true
    np.testing.assert_allclose(meas.stats["bias"], bias, atol=1e-14)
    np.testing.assert_allclose(meas.stats["bias_sq"], bias**2 - s_v2 / m, atol=1e-14)
    np.testing.assert_allclose(meas.stats["variance_u"], u.var(1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(meas.stats["variance_v"], s_v2, rtol=1e-12)
    np.testing.assert_allclose(
        meas.errors["bias"], np.sqrt(s_v2 / m), rtol=1e-10, atol=1e-15
    )
    # mean over members of (u + v − f*)²
    # = (ū + v̄ − f*)² + (M − 1)/M (s_u² + s_v² + 2 c_uv)
    st = meas.stats
    spread = st["variance_u"] + st["variance_v"] + 2 * st["cross"]
    mse = (u.mean(1) + v.mean(1) - f_true) ** 2 + (m - 1) / m * spread
    np.testing.assert_allclose(st["mse"], mse, rtol=1e-12)
    value, error = meas.grid_mean("variance_u")
    np.testing.assert_allclose(value, meas.var_u)
    np.testing.assert_allclose(value, st["variance_u"].mean(1))
    assert error.shape == (3,) and np.all(error[1:] > 0)


def test_default_record_times_and_flow_time():
    """``record_times=None``: 11 times from 0 to the end; with ``time`` and
    ``n_steps`` the steps are time / Δt and the step size η Δt."""
    X, F, C, f_true, y = linear_problem()
    meas = measured_decomposition(
        linear_ensemble(), X, f_true, y, n_steps=10, forward_map=F, y_cov=C
    )
    np.testing.assert_array_equal(meas.steps, np.arange(11))
    np.testing.assert_allclose(meas.time, np.arange(11))
    meas = measured_decomposition(
        linear_ensemble(),
        X,
        f_true,
        None,
        time=0.5,
        n_steps=20,
        forward_map=F,
        y_cov=C,
        learning_rate=0.1,
        record_times=[0.5, 0.25],
    )
    np.testing.assert_array_equal(meas.steps, [10, 20])
    np.testing.assert_allclose(meas.time, [0.25, 0.5])
    np.testing.assert_allclose(meas.step_size, 0.1 * 0.5 / 20)
    np.testing.assert_allclose(meas.stats["bias"] + f_true, meas.v_part.mean(1))


def test_measured_bad_inputs_fail_before_training():
    X, F, C, f_true, y = linear_problem()
    ens = linear_ensemble()
    kw = dict(n_steps=5, forward_map=F, y_cov=C)
    cases = [
        (dict(ensemble=linear_ensemble(random_state=None)), "ensemble.random_state"),
        (
            dict(ensemble=linear_ensemble(random_state=np.random.default_rng(0))),
            "ensemble.random_state",
        ),
        (dict(ensemble=linear_ensemble(n_members=2)), "ensemble.n_members"),
        (dict(X=X[:, :, None]), "X must be 2-D"),
        (dict(f_true=f_true[:-1]), r"f_true must have shape \(10,\)"),
        (dict(y=y[:-1]), r"y must have shape \(6,\)"),
        (dict(forward_map=F[:, :-1]), "forward_map must have shape"),
        (dict(replicas="yes"), "replicas must be a bool"),
        (dict(n_steps=None), "give time, n_steps or both"),
        (dict(n_steps=-1), "n_steps"),
        (dict(y_cov=-C), "y_cov must be positive definite"),
        (dict(record_times=[0, 100]), "record_times must be finite times"),
    ]
    for bad, match in cases:
        args = dict(ensemble=ens, X=X, f_true=f_true, y=y, **kw)
        args.update(bad)
        with pytest.raises(ValueError, match=match):
            measured_decomposition(**args)
    with pytest.raises(TypeError, match="ensemble must be an MLPEnsemble, got str"):
        measured_decomposition("net", X, f_true, y, **kw)


def test_plot_draws_lines_and_points():
    X, F, C, f_true, y = linear_problem()
    meas = measured_decomposition(
        linear_ensemble(),
        X,
        f_true,
        y,
        n_steps=20,
        forward_map=F,
        y_cov=C,
        replicas=True,
        record_times=[0, 5, 20],
    )
    th, k = kernels(X, LINEAR)
    dec = frozen_ntk_decomposition(
        th,
        k,
        f_true,
        y,
        F,
        C,
        time=np.arange(21),
        learning_rate=meas.step_size,
        discrete=True,
    )
    ax = Figure().subplots()
    assert plot_decomposition(dec, meas, ax=ax) is ax
    assert len(ax.lines) >= 4 and len(ax.containers) == 4  # 4 curves, 4 errorbars
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(21))
    np.testing.assert_allclose(ax.lines[0].get_ydata(), dec.bias_sq)
    assert ax.get_xlabel() == "gradient-descent steps"
    ax2 = Figure().subplots()
    plot_decomposition(dec, ax=ax2, total=False, replicas=False)
    assert len(ax2.lines) == 2  # bias² and var U
    assert isinstance(dec, FrozenNTKDecomposition)
    with pytest.raises(ValueError, match="give analytic, measured or both"):
        plot_decomposition(ax=ax)
    with pytest.raises(TypeError, match="measured must be a MeasuredDecomposition"):
        plot_decomposition(dec, dec, ax=ax)
