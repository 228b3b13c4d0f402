"""FiniteWidthFlow through a forward map y = F φ(X_grid) with a correlated C."""

import itertools

import numpy as np
import pytest
from scipy.linalg import expm

from nngpbayes import MLPEnsemble
from nngpbayes._validation import InvalidParameterError
from nngpbayes.finite_width import FiniteWidthFlow, _forward
from nngpbayes.networks import StabilityWarning


def smoothing_problem(n_grid=7, n_data=5, seed=0):
    """A Gaussian smoothing F (n_data × n_grid), a correlated C, data near F sin."""
    rng = np.random.default_rng(seed)
    X = np.linspace(-1.2, 1.2, n_grid)[:, None]
    X_test = np.array([[-0.9], [0.1], [0.7]])
    centres = np.linspace(-1.0, 1.0, n_data)
    F = np.exp(-((centres[:, None] - X[:, 0]) ** 2) / 0.2)
    F /= F.sum(1, keepdims=True)
    A = rng.standard_normal((n_data, n_data))
    C = 0.5 * (A @ A.T / n_data + np.eye(n_data))
    y = F @ np.sin(2 * X[:, 0]) + 0.1 * rng.standard_normal(n_data)
    return X, X_test, F, C, y


def _ens(width=32, depth=1, activation="tanh", n_members=3, seed=0):
    return MLPEnsemble(
        depth=depth,
        width=width,
        activation=activation,
        bias_variance=0.1,
        n_members=n_members,
        random_state=seed,
        progress=False,
    )


@pytest.mark.parametrize(
    "order, method, dt",
    list(itertools.product([0, 1], ["closed_form", "ode"], [None, 0.1])),
)
def test_identity_map_is_no_map(order, method, dt):
    """F = I (with and without C): the same predictions and NTKs (the NTK through
    the other code path: rows on the inputs, slots after the second mapped)."""
    X, X_test, _, _, _ = smoothing_problem(n_grid=5)
    y = np.sin(2 * X[:, 0])
    C = np.diag(np.linspace(0.5, 1.5, 5)) + 0.2
    ens = _ens(width=16)
    times = [0.0, 0.4, 1.0]
    for cov in (None, C):
        kw = dict(order=order, method=method, dt=dt, y_cov=cov)
        a = FiniteWidthFlow(ens, X, y, **kw)
        b = FiniteWidthFlow(ens, X, y, forward_map=np.eye(5), **kw)
        np.testing.assert_allclose(
            b.predict(X_test, times), a.predict(X_test, times), rtol=0, atol=1e-10
        )
        np.testing.assert_allclose(b.eigenvalues_, a.eigenvalues_, atol=1e-10)
        for rows in (None, X_test):
            np.testing.assert_allclose(
                b.predict_ntk(times, X_new=rows),
                a.predict_ntk(times, X_new=rows),
                rtol=0,
                atol=1e-10,
            )


@pytest.mark.parametrize("n_data", [5, 9])
def test_order0_is_the_linearised_network_through_F(n_data):
    """Order 0 against each member's frozen-NTK linear model on the grid:
    dφ(Z)/dt = −η H(Z, X) Fᵀ C⁻¹ (F φ(X) − y), solved by the matrix exponential
    of the affine system (continuous) and by iterating the steps (discrete).
    n_data = 9 > n_grid = 7: G H Gᵀ is singular (zero rates)."""
    X, X_test, F, C, y = smoothing_problem(n_data=n_data)
    ens = _ens().initialize(1)
    Z = np.vstack([X, X_test])
    h_zx = ens.empirical_ntk(Z, X)  # (M, n_grid + 3, n_grid)
    phi0 = ens.predict(Z)
    P = F.T @ np.linalg.solve(C, F)
    b = F.T @ np.linalg.solve(C, y)
    n, eta, t = len(X), 0.7, 1.6
    flow = FiniteWidthFlow(
        ens, X, y, order=0, learning_rate=eta, forward_map=F, y_cov=C
    )
    pred = flow.predict(Z, [0.0, t])
    for m in range(3):
        # augmented state (φ(Z), 1): the affine flow as one linear system
        A = np.zeros((len(Z) + 1, len(Z) + 1))
        A[:-1, :n] = -eta * h_zx[m] @ P
        A[:-1, -1] = eta * h_zx[m] @ b
        ref = (expm(t * A) @ np.r_[phi0[m], 1.0])[:-1]
        np.testing.assert_allclose(pred[1, m], ref, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(pred[0, m], phi0[m], rtol=1e-14, atol=1e-14)
    dt, k = 0.1, 13
    flow = FiniteWidthFlow(
        ens, X, y, order=0, learning_rate=eta, dt=dt, forward_map=F, y_cov=C
    )
    pred = flow.predict(Z, k * dt)
    for m in range(3):
        phi = phi0[m].copy()
        for _ in range(k):
            phi -= eta * dt * h_zx[m] @ (P @ phi[:n] - b)
        np.testing.assert_allclose(pred[m], phi, rtol=1e-11, atol=1e-13)
    # the NTK on the network's inputs is frozen at order 0
    np.testing.assert_allclose(flow.predict_ntk(1.0), h_zx[:, :n], rtol=1e-12)
    np.testing.assert_allclose(
        flow.predict_ntk(1.0, X_new=X_test), h_zx[:, n:], rtol=1e-12, atol=1e-14
    )


def test_eigenvalues_are_those_of_the_mapped_ntk():
    """eigenvalues_ = eig(F H Fᵀ C⁻¹) (similar to G H Gᵀ); their max is the
    ensemble's max_flow_eigenvalue, and too large steps warn."""
    X, _, F, C, y = smoothing_problem()
    ens = _ens().initialize(1)
    flow = FiniteWidthFlow(ens, X, y, order=0, forward_map=F, y_cov=C)
    H = ens.empirical_ntk(X)
    for m in range(3):
        ref = np.sort(np.linalg.eigvals(F @ H[m] @ F.T @ np.linalg.inv(C)).real)
        np.testing.assert_allclose(flow.eigenvalues_[m], ref, rtol=1e-10, atol=1e-12)
    top = ens.max_flow_eigenvalue(X, y_cov=C, forward_map=F)
    np.testing.assert_allclose(flow.eigenvalues_.max(), top, rtol=1e-10)
    with pytest.warns(StabilityWarning, match="diverges"):
        FiniteWidthFlow(ens, X, y, dt=2.5 / top, forward_map=F, y_cov=C)


def test_readout_training_through_F_is_exact_at_order0():
    """Readout-only training is linear in its parameters: order 0 with steps is
    MLPEnsemble.fit(training="readout", forward_map=F, y_cov=C) itself."""
    X, X_test, F, C, y = smoothing_problem()
    ens = _ens(width=64)
    flow = FiniteWidthFlow(
        ens, X, y, dt=0.1, training="readout", forward_map=F, y_cov=C
    )
    assert np.all(flow.hierarchy_.o3 == 0) and np.all(flow.hierarchy_.o4 == 0)
    pred = flow.predict(X_test, 2.0)
    ens.fit(X, y, time=2.0, n_steps=20, training="readout", forward_map=F, y_cov=C)
    np.testing.assert_allclose(pred, ens.predict(X_test), rtol=1e-10, atol=1e-12)


def test_per_member_targets_through_F():
    X, X_test, F, C, y = smoothing_problem()
    ens = _ens()
    targets = y + 0.1 * np.random.default_rng(9).standard_normal((3, len(y)))
    kw = dict(dt=0.1, forward_map=F, y_cov=C)
    both = FiniteWidthFlow(ens, X, targets, **kw).predict(X_test, 1.0)
    for m in range(3):
        one = FiniteWidthFlow(ens, X, targets[m], **kw).predict(X_test, 1.0)
        np.testing.assert_allclose(both[m], one[m], rtol=1e-13)


@pytest.mark.parametrize("dt", [None, 0.1])
def test_ode_matches_closed_form_to_higher_order_through_F(dt):
    """Both solve the truncated hierarchy through F, exact to O(1/n): at width 256
    their difference (O(1/n²)) is < 5% of the order-1 correction (O(1/n)), for
    the predictions and for the NTK's drift on the grid and on test inputs."""
    X, X_test, F, C, y = smoothing_problem()
    ens = _ens(width=256)
    kw = dict(dt=dt, forward_map=F, y_cov=C)
    a = FiniteWidthFlow(ens, X, y, **kw)
    b = FiniteWidthFlow(ens, X, y, method="ode", **kw)
    c = FiniteWidthFlow(ens, X, y, order=0, **kw)
    t = 2.0
    pa, pb, pc = (f.predict(X_test, t) for f in (a, b, c))
    assert np.abs(pa - pb).max() < 0.05 * np.abs(pa - pc).max()
    for rows in (None, X_test):
        na, nb, nc = (f.predict_ntk(t, X_new=rows) for f in (a, b, c))
        assert np.abs(na - nb).max() < 0.05 * np.abs(na - nc).max()


def test_ode_ntk_rows_are_chunked_consistently(monkeypatch):
    X, X_test, F, C, y = smoothing_problem()
    for dt in (None, 0.1):
        flow = FiniteWidthFlow(_ens(), X, y, method="ode", dt=dt, forward_map=F)
        whole = flow.predict_ntk([0.5, 1.0], X_new=X_test)
        monkeypatch.setattr(_forward, "_PAIR_ELEMENTS", 4 * 5**3)  # 4 pairs a chunk
        np.testing.assert_allclose(
            flow.predict_ntk([0.5, 1.0], X_new=X_test), whole, rtol=1e-9, atol=1e-12
        )
        monkeypatch.undo()


def test_real_training_through_F_order1_beats_order0():
    """Width 256, erf, 4 networks trained by 30 GD steps through F with a
    correlated C: the order-1 prediction is ≥ 4× closer to real training than
    order 0 (geometric mean; at this width the ratio is ~ 1/10, :ref:`theory-5`), and
    the predicted NTK drift on the grid matches the measured one within 25%."""
    X, X_test, F, C, y = smoothing_problem()
    ens = _ens(width=256, activation="erf", n_members=4, seed=5)
    h0 = ens.initialize(1).empirical_ntk(X)
    t, k = 2.0, 30
    ens.fit(X, y, time=t, n_steps=k, forward_map=F, y_cov=C)
    Z = np.vstack([X, X_test])
    real = ens.predict(Z)
    err = {}
    for order in (0, 1):
        flow = FiniteWidthFlow(ens, X, y, order=order, dt=t / k, forward_map=F, y_cov=C)
        err[order] = np.sqrt(np.mean((flow.predict(Z, t) - real) ** 2, axis=1))
    geo = {o: np.exp(np.mean(np.log(e))) for o, e in err.items()}
    assert geo[1] < 0.25 * geo[0], geo
    measured = ens.empirical_ntk(X) - h0
    predicted = flow.predict_ntk(t) - h0
    rel = np.linalg.norm(predicted - measured, axis=(1, 2)) / np.linalg.norm(
        measured, axis=(1, 2)
    )
    assert np.exp(np.mean(np.log(rel))) < 0.25, rel


def test_bad_forward_map_and_shapes():
    X, X_test, F, C, y = smoothing_problem()
    ens = _ens()
    with pytest.raises(InvalidParameterError, match=r"forward_map must have shape"):
        FiniteWidthFlow(ens, X, y, forward_map=F[:, :-1])
    with pytest.raises(InvalidParameterError, match=r"forward_map must have shape"):
        FiniteWidthFlow(ens, X, y, forward_map=F[0])
    bad = F.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidParameterError, match="forward_map contains NaN"):
        FiniteWidthFlow(ens, X, y, forward_map=bad)
    with pytest.raises(ValueError, match=r"y must have shape \(5,\).*forward_map"):
        FiniteWidthFlow(ens, X, np.zeros(len(X)), forward_map=F)
    with pytest.raises(ValueError, match=r"y must have shape \(5,\)"):
        FiniteWidthFlow(ens, X, np.zeros((2, 5)), forward_map=F)
    with pytest.raises(ValueError, match="y_cov"):
        FiniteWidthFlow(ens, X, y, forward_map=F, y_cov=np.eye(len(X)))
    with pytest.raises(ValueError, match="y_cov has 7 variances, expected 5"):
        FiniteWidthFlow(ens, X, y, forward_map=F, y_cov=np.ones(len(X)))
