"""FiniteWidthFlow: closed forms against independent solutions and real training."""

import warnings

import numpy as np
import pytest
from scipy.linalg import expm

from nngpbayes import MLPEnsemble
from nngpbayes.finite_width import FiniteWidthFlow, _solve, ntk_hierarchy
from nngpbayes.networks import StabilityWarning

HIGHER = ("o3", "o4", "d2phi", "d3phi", "ntk_hessian", "d2phi_flow")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1.5, 1.5, (6, 2))
    X_test = rng.uniform(-1.5, 1.5, (4, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    return X, X_test, y


def _ens(width=32, depth=2, activation="tanh", n_members=3, seed=0):
    return MLPEnsemble(
        depth=depth,
        width=width,
        activation=activation,
        bias_variance=0.1,
        n_members=n_members,
        random_state=seed,
        progress=False,
    )


def _member_problem(data, width=16, depth=2, delta=1.0):
    """Tensors of one real member, the higher ones scaled by ``delta``."""
    X, X_test, y = data
    ens = _ens(width, depth).initialize(2)
    tr = ntk_hierarchy(ens, X, steps=True)
    rw = ntk_hierarchy(ens, X, X_rows=X_test, steps=True)
    phi_tr, phi_rw = ens.predict(X)[0], ens.predict(X_test)[0]

    def pick(h):
        return {
            k: getattr(h, k)[0] * (delta if k in HIGHER else 1.0)
            for k in ("ntk",) + HIGHER
        }

    return pick(tr), pick(rw), phi_tr, phi_rw, y


def test_order0_is_the_linearised_network(data):
    """φ(x*) = φ_0(x*) − H_0(x*,X) H_0⁻¹ (I − e^(−η t H_0)) ε_0 (continuous) and the
    iterated map (I − η dt H_0)^k (discrete), per member."""
    X, X_test, y = data
    ens = _ens()
    t, eta = 1.7, 0.8
    flow = FiniteWidthFlow(ens, X, y, order=0, learning_rate=eta)
    h_xx = ens.initialize(2).empirical_ntk(X)
    h_tx = ens.empirical_ntk(X_test, X)
    eps0 = ens.predict(X) - y
    pred = flow.predict(X_test, t)
    for m in range(3):
        decay = np.eye(len(X)) - expm(-eta * t * h_xx[m])
        ref = ens.predict(X_test)[m] - h_tx[m] @ np.linalg.solve(
            h_xx[m], decay @ eps0[m]
        )
        np.testing.assert_allclose(pred[m], ref, rtol=1e-9, atol=1e-12)
    dt, k = 0.1, 17
    flow = FiniteWidthFlow(ens, X, y, order=0, learning_rate=eta, dt=dt)
    pred = flow.predict(X_test, k * dt)
    for m in range(3):
        eps, phi = eps0[m].copy(), ens.predict(X_test)[m].copy()
        for _ in range(k):
            phi -= eta * dt * h_tx[m] @ eps
            eps -= eta * dt * h_xx[m] @ eps
        np.testing.assert_allclose(pred[m], phi, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("step", [None, 0.15])
def test_closed_form_is_the_first_order_of_the_numerical_solution(data, step):
    """Closed form = φ⁰ + δ φ¹ exactly when the O(1/n) tensors are scaled by δ; the
    numerical (nonlinear truncated) solution is φ⁰ + δ φ¹ + O(δ²): its central
    difference in δ must equal φ¹ to O(δ²)."""
    time = 1.3 if step is None else 9
    sol = {}
    for delta in (1.0, 1e-3, -1e-3):
        tr, rw, phi_tr, phi_rw, y = _member_problem(data, delta=delta)
        prob = _solve.MemberProblem(tr, phi_tr - y)
        rot = _solve.rotate_rows(prob, rw)
        closed = _solve.closed_form(prob, rot, phi_rw, time, step, order=1)
        closed0 = _solve.closed_form(prob, rot, phi_rw, time, step, order=0)
        ntk = _solve.closed_form_ntk(prob, rot, time, step)
        if step is None:
            num, num_ntk = _solve.integrate_flow(tr, rw, y, phi_tr, phi_rw, [time])
        else:
            num, num_ntk = _solve.iterate_steps(tr, rw, y, phi_tr, phi_rw, [time], step)
        sol[delta] = (closed, closed0, ntk, num[0], num_ntk[0, len(phi_tr) :])
    first = sol[1.0][0] - sol[1.0][1]
    first_num = (sol[1e-3][3] - sol[-1e-3][3]) / 2e-3
    # central difference: O(δ²) = 1e-6 relative; plus the integrator's error
    # (rtol 1e-11 of φ = O(1)) divided by 2δ: 5e-9 absolute, doubled for safety
    np.testing.assert_allclose(first, first_num, rtol=1e-6, atol=1e-8)
    h0 = 0.5 * (sol[1e-3][2] + sol[-1e-3][2])
    h1 = sol[1.0][2] - h0
    h1_num = (sol[1e-3][4] - sol[-1e-3][4]) / 2e-3
    np.testing.assert_allclose(h1, h1_num, rtol=1e-6, atol=1e-9 * np.abs(h1).max())
    # and the order-1 correction is not negligible here
    assert np.abs(first).max() > 1e-3 * np.abs(sol[1.0][1]).max()


def test_steps_tend_to_the_flow(data):
    """Closed form for k steps of η/k → the continuous closed form, error O(1/k)."""
    tr, rw, phi_tr, phi_rw, y = _member_problem(data)
    prob = _solve.MemberProblem(tr, phi_tr - y)
    rw = _solve.rotate_rows(prob, rw)
    tau = 1.2
    flow = _solve.closed_form(prob, rw, phi_rw, tau)
    errs = [
        np.abs(_solve.closed_form(prob, rw, phi_rw, k, tau / k) - flow).max()
        for k in (200, 800)
    ]
    assert errs[1] < errs[0] / 3.0 and errs[1] < 1e-3 * np.abs(flow).max()


def test_real_training_order1_beats_order0():
    """Width 512, tanh, 6 networks trained by 30 GD steps: the order-1 prediction is
    ≥ 10× closer to real training than order 0 (geometric mean), and the predicted
    NTK drift matches the measured one within 10% (geometric mean; the errors are
    heavy-tailed, :ref:`theory-5`)."""
    rng = np.random.default_rng(7)
    X = rng.uniform(-1.5, 1.5, (8, 2))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    ens = _ens(width=512, depth=1, n_members=6, seed=11)
    h0 = ens.initialize(2).empirical_ntk(X)
    t, k = 2.0, 30
    ens.fit(X, y, time=t, n_steps=k)
    err = {}
    for order in (0, 1):
        flow = FiniteWidthFlow(ens, X, y, order=order, dt=t / k)
        err[order] = np.sqrt(
            np.mean((flow.predict(X, t) - ens.predict(X)) ** 2, axis=1)
        )
    geo = {o: np.exp(np.mean(np.log(e))) for o, e in err.items()}
    assert geo[1] < 0.1 * geo[0], geo
    measured = ens.empirical_ntk(X) - h0
    predicted = flow.predict_ntk(t) - h0
    rel = np.linalg.norm(predicted - measured, axis=(1, 2)) / np.linalg.norm(
        measured, axis=(1, 2)
    )
    assert np.exp(np.mean(np.log(rel))) < 0.1 and rel.max() < 0.3, rel


def test_shapes_and_times(data):
    X, X_test, y = data
    flow = FiniteWidthFlow(_ens(), X, y)
    assert flow.predict(X_test, 1.0).shape == (3, 4)
    many = flow.predict(X_test, [0.0, 0.5, 1.0])
    assert many.shape == (3, 3, 4)
    np.testing.assert_allclose(many[2], flow.predict(X_test, 1.0), rtol=1e-14)
    np.testing.assert_allclose(many[0], _ens().predict(X_test), rtol=1e-12, atol=1e-14)
    assert flow.predict_ntk(1.0).shape == (3, 6, 6)
    assert flow.predict_ntk([0.0, 1.0], X_new=X_test).shape == (2, 3, 4, 6)
    np.testing.assert_allclose(flow.predict_ntk(0.0), flow.hierarchy_.ntk, atol=1e-14)
    mean, cov = flow.predict_moments(X_test, 1.0)
    f = flow.predict(X_test, 1.0)
    np.testing.assert_allclose(mean, f.mean(0), rtol=1e-14)
    np.testing.assert_allclose(cov, np.cov(f.T), rtol=1e-12, atol=1e-15)
    assert flow.predict_moments(X_test, [0.5, 1.0])[1].shape == (2, 4, 4)


def test_ode_method_matches_closed_form_to_higher_order(data):
    X, X_test, y = data
    ens = _ens(width=256)
    for dt in (None, 0.1):
        a = FiniteWidthFlow(ens, X, y, dt=dt).predict(X_test, 1.0)
        b = FiniteWidthFlow(ens, X, y, dt=dt, method="ode").predict(X_test, 1.0)
        c = FiniteWidthFlow(ens, X, y, dt=dt, order=0).predict(X_test, 1.0)
        assert np.abs(a - b).max() < 0.05 * np.abs(a - c).max()
        na = FiniteWidthFlow(ens, X, y, dt=dt).predict_ntk(1.0)
        nb = FiniteWidthFlow(ens, X, y, dt=dt, method="ode").predict_ntk(1.0)
        assert np.abs(na - nb).max() < 0.05 * np.abs(na - flow_ntk0(ens, X)).max()


def flow_ntk0(ens, X):
    return ens.initialize(2).empirical_ntk(X)


def test_uses_the_initial_members_of_a_trained_ensemble(data):
    X, X_test, y = data
    fresh = FiniteWidthFlow(_ens(), X, y).predict(X_test, 1.0)
    trained = _ens().fit(X, y, time=1.0, n_steps=10)
    again = FiniteWidthFlow(trained, X, y).predict(X_test, 1.0)
    np.testing.assert_array_equal(fresh, again)


def test_bad_input(data):
    X, X_test, y = data
    ens = _ens()
    for order in (2, -1, 0.5, True):
        with pytest.raises(ValueError, match="order must be 0 or 1"):
            FiniteWidthFlow(ens, X, y, order=order)
    with pytest.raises(ValueError, match="method"):
        FiniteWidthFlow(ens, X, y, method="euler")
    with pytest.raises(ValueError, match="y must have shape"):
        FiniteWidthFlow(ens, X, y[:-1])
    ens.initialize(2)
    with pytest.raises(ValueError, match="X has 3 features"):
        FiniteWidthFlow(ens, np.hstack([X, X[:, :1]]), y)
    flow = FiniteWidthFlow(ens, X, y, dt=0.1)
    with pytest.raises(ValueError, match="X_new has 1 features"):
        flow.predict(X_test[:, :1], 1.0)
    with pytest.raises(ValueError, match="whole number of steps"):
        flow.predict(X_test, 0.25)
    with pytest.raises(ValueError, match="time must be finite"):
        flow.predict(X_test, -1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        FiniteWidthFlow(ens, X, y, learning_rate=0.0)
    bad = _ens().initialize(2)
    # the flow re-draws the initial parameters from the member seeds, so a
    # diverged (trained) ensemble still has a finite starting point ...
    bad.weights_[0][0, 0, 0] = np.nan
    FiniteWidthFlow(bad, X, y)
    with pytest.raises(ValueError, match="non-finite parameters"):
        ntk_hierarchy(bad, X)  # ... while the hierarchy at the current θ refuses
    two = MLPEnsemble(depth=1, width=8, n_members=2).initialize(2, n_outputs=2)
    with pytest.raises(ValueError, match="single-output"):
        FiniteWidthFlow(two, X, y)


def test_unstable_steps_warn(data):
    X, _, y = data
    with pytest.warns(StabilityWarning, match="diverges"):
        FiniteWidthFlow(_ens(), X, y, dt=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FiniteWidthFlow(_ens(), X, y, dt=0.1)


@pytest.mark.parametrize("dt", [None, 0.1])
def test_order0_numerical_equals_closed_form(data, dt):
    X, X_test, y = data
    ens = _ens()
    a = FiniteWidthFlow(ens, X, y, order=0, dt=dt).predict(X_test, [0.5, 1.0])
    b = FiniteWidthFlow(ens, X, y, order=0, dt=dt, method="ode").predict(
        X_test, [0.5, 1.0]
    )
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    flow = FiniteWidthFlow(ens, X, y, order=0, dt=dt)
    assert flow.hierarchy_ is None
    np.testing.assert_allclose(
        flow.predict_ntk(1.0), ens.initialize(2).empirical_ntk(X), rtol=1e-13
    )


def test_scalar_covariance_is_a_slower_learning_rate(data):
    """C = c·I scales the gradient by 1/c: identical to η/c (exact)."""
    X, X_test, y = data
    ens = _ens()
    for dt in (None, 0.1):
        a = FiniteWidthFlow(ens, X, y, y_cov=2.0, dt=dt)
        b = FiniteWidthFlow(ens, X, y, learning_rate=0.5, dt=dt)
        np.testing.assert_allclose(
            a.predict(X_test, [0.5, 2.0]), b.predict(X_test, [0.5, 2.0]), rtol=1e-11
        )
        np.testing.assert_allclose(a.predict_ntk(2.0), b.predict_ntk(2.0), rtol=1e-11)


def test_correlated_covariance(data):
    """Order 0 with a full C against the augmented linear system solved by expm;
    the NTK comes back unwhitened; order 1 tracks real training with the same C."""
    X, X_test, y = data
    rng = np.random.default_rng(4)
    A = rng.standard_normal((len(X), len(X)))
    C = 0.5 * A @ A.T / len(X) + 0.3 * np.eye(len(X))
    ens = _ens(width=512, depth=1, n_members=4, seed=2)
    t = 1.5
    flow0 = FiniteWidthFlow(ens, X, y, order=0, y_cov=C)
    h_xx = ens.initialize(2).empirical_ntk(X)
    h_tx = ens.empirical_ntk(X_test, X)
    cinv = np.linalg.inv(C)
    pred = flow0.predict(X_test, t)
    n, m = len(X), len(X_test)
    for k in range(4):
        block = np.zeros((n + m, n + m))
        block[:n, :n] = -h_xx[k] @ cinv
        block[n:, :n] = -h_tx[k] @ cinv
        start = np.concatenate([ens.predict(X)[k] - y, ens.predict(X_test)[k]])
        ref = (expm(t * block) @ start)[n:]
        np.testing.assert_allclose(pred[k], ref, rtol=1e-9, atol=1e-12)
    flow1 = FiniteWidthFlow(ens, X, y, y_cov=C, dt=0.05)
    np.testing.assert_allclose(flow1.predict_ntk(0.0), h_xx, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        flow1.predict_ntk(0.0, X_new=X_test), h_tx, rtol=1e-12, atol=1e-14
    )
    ens.fit(X, y, time=t, n_steps=30, y_cov=C)
    real = ens.predict(X_test)
    err0 = np.abs(
        FiniteWidthFlow(ens, X, y, order=0, y_cov=C, dt=0.05).predict(X_test, t) - real
    ).max()
    err1 = np.abs(flow1.predict(X_test, t) - real).max()
    assert err1 < 0.2 * err0, (err0, err1)
    # the NTK drift, whitened internally, comes back in the original basis
    for rows, h_start in ((None, h_xx), (X_test, h_tx)):
        measured = ens.empirical_ntk(X if rows is None else X_test, X) - h_start
        predicted = flow1.predict_ntk(t, X_new=rows) - h_start
        rel = np.linalg.norm(predicted - measured, axis=(1, 2))
        rel /= np.linalg.norm(measured, axis=(1, 2))
        assert np.exp(np.mean(np.log(rel))) < 0.1, rel


def test_per_member_targets(data):
    X, X_test, y = data
    ens = _ens()
    noise = np.random.default_rng(9).standard_normal((3, len(X)))
    targets = y + 0.1 * noise
    both = FiniteWidthFlow(ens, X, targets, dt=0.1).predict(X_test, 1.0)
    for m in range(3):
        one = FiniteWidthFlow(ens, X, targets[m], dt=0.1).predict(X_test, 1.0)
        np.testing.assert_allclose(both[m], one[m], rtol=1e-13)
    with pytest.raises(
        ValueError, match=r"y must have shape \(6,\) or \(n_members, 6\)"
    ):
        FiniteWidthFlow(ens, X, targets[:2])


def test_many_prediction_inputs_are_chunked_consistently(data):
    X, _, y = data
    X_new = np.random.default_rng(1).uniform(-1.5, 1.5, (70, 2))
    flow = FiniteWidthFlow(_ens(width=16), X, y, dt=0.1)
    full = flow.predict(X_new, [0.5, 1.0])
    np.testing.assert_allclose(full[..., 65:], flow.predict(X_new[65:], [0.5, 1.0]))
    np.testing.assert_allclose(full[..., :3], flow.predict(X_new[:3], [0.5, 1.0]))


def test_readout_training_is_exact_at_order0(data):
    """Readout-only training is linear in the trained parameters: the discrete
    order-0 prediction is gradient descent itself, and O_3 = O_4 = 0."""
    X, X_test, y = data
    ens = _ens(width=64)
    flow = FiniteWidthFlow(ens, X, y, dt=0.1, training="readout")
    assert np.all(flow.hierarchy_.o3 == 0) and np.all(flow.hierarchy_.o4 == 0)
    pred = flow.predict(X_test, 2.0)
    ens.fit(X, y, time=2.0, n_steps=20, training="readout")
    np.testing.assert_allclose(pred, ens.predict(X_test), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="training must be one of"):
        FiniteWidthFlow(ens, X, y, training="last")


def test_divergent_steps_raise_instead_of_returning_nan(data):
    X, _, y = data
    with pytest.warns(StabilityWarning):
        flow = FiniteWidthFlow(_ens(), X, y, dt=10.0)
    with pytest.raises(FloatingPointError, match="diverges"):
        flow.predict(X, 10.0 * 5000)
    with pytest.raises(FloatingPointError, match="diverges"):
        flow.predict_ntk(10.0 * 5000)


def test_long_times_converge_to_the_data(data):
    """Order 1 at t → ∞ still interpolates the training targets (ε → 0)."""
    X, _, y = data
    flow = FiniteWidthFlow(_ens(width=256), X, y)
    np.testing.assert_allclose(
        flow.predict(X, 1e7), np.broadcast_to(y, (3, 6)), atol=1e-6
    )


@pytest.mark.parametrize("method", ["closed_form", "ode"])
@pytest.mark.parametrize("dt", [None, 0.1])
def test_unsorted_repeated_and_zero_times(data, method, dt):
    X, X_test, y = data
    ens = _ens(width=16)
    flow = FiniteWidthFlow(ens, X, y, method=method, dt=dt)
    out = flow.predict(X_test, [0.3, 0.0, 0.3, 0.1])
    np.testing.assert_allclose(out[0], out[2], rtol=1e-14)
    np.testing.assert_allclose(out[1], ens.predict(X_test), rtol=1e-14)
    np.testing.assert_allclose(out[3], flow.predict(X_test, 0.1), rtol=1e-9)
    ntk = flow.predict_ntk([0.2, 0.0])
    np.testing.assert_allclose(ntk[1], ens.empirical_ntk(X), rtol=1e-12, atol=1e-14)
