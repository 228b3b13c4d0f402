"""NTK drift, spectrum and alignment (nngpbayes.diagnostics) against closed forms.

References: hand-built NTK sequences with known Frobenius ratios, matrices with
known eigenvalues Q diag(λ) Qᵀ, subspaces built by construction (alignment 1
inside span(FᵀC⁻¹F), 0 outside, cos²θ in between), and direct eigendecompositions
of FᵀC⁻¹F; real ensembles for the width dependence.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nngpbayes import MLPEnsemble  # noqa: E402
from nngpbayes._numerics import IllConditionedWarning  # noqa: E402
from nngpbayes.diagnostics import (  # noqa: E402
    DriftScaling,
    NTKDrift,
    drift_width_scaling,
    ntk_alignment,
    ntk_drift,
    ntk_spectrum,
    plot_drift_scaling,
    plot_ntk_alignment,
    plot_ntk_drift,
    plot_ntk_rank,
    plot_ntk_spectrum,
)


def orthogonal(n, seed):
    """A random orthogonal matrix (QR of a Gaussian matrix)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def psd_from(q, lam):
    """Q diag(λ) Qᵀ."""
    return (q * lam) @ q.T


def drift_sequence():
    """Θ_t^(m) = a_m I + c_t E^(m), ‖E‖_F = 1, E ⟂ I (traceless): δΘ = c_t/(a_m √n)."""
    n, times, c = 6, np.array([0.0, 0.5, 1.0, 2.0]), np.array([0.0, 0.1, 0.3, 0.2])
    a = np.array([1.0, 2.0, 4.0])
    rng = np.random.default_rng(0)
    ntk = np.empty((len(times), len(a), n, n))
    for m in range(len(a)):
        e = rng.standard_normal((n, n))
        e = e + e.T
        e -= np.trace(e) / n * np.eye(n)
        e /= np.linalg.norm(e)
        ntk[:, m] = a[m] * np.eye(n) + c[:, None, None] * e
    expected = c[:, None] / (a[None, :] * np.sqrt(n))
    return times, ntk, expected


def small_ensemble(width, n_members=4, forward=False, record=(0.0, 0.5, 1.0)):
    """A depth-1 erf ensemble on 10 grid points, trained to t = 1 in 40 steps."""
    X = np.linspace(-1, 1, 10)[:, None]
    F = np.exp(-0.5 * ((np.linspace(-1, 1, 6)[:, None] - X[:, 0]) / 0.3) ** 2)
    F /= F.sum(axis=1, keepdims=True)  # max eig(F H Fᵀ C⁻¹) ≈ 30: 40 steps are stable
    y = np.sin(2 * X[:, 0])
    ens = MLPEnsemble(
        width=width,
        activation="erf",
        bias_variance=0.1,
        n_members=n_members,
        random_state=3,
        progress=False,
    )
    kwargs = {"forward_map": F, "y_cov": 0.1 * np.eye(6)} if forward else {}
    target = F @ y if forward else y
    ens.fit(
        X, target, time=1.0, n_steps=40, record_times=record, record_ntk=True, **kwargs
    )
    return ens, F


# -- δΘ -------------------------------------------------------------------------------
def test_drift_equals_known_frobenius_ratios():
    times, ntk, expected = drift_sequence()
    drift = ntk_drift(ntk, times)
    np.testing.assert_allclose(drift.members, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(drift.mean, expected.mean(1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        drift.stderr, expected.std(1, ddof=1) / np.sqrt(3), rtol=1e-12, atol=1e-15
    )
    assert np.all(drift.lower <= drift.mean + 1e-15)
    assert np.all(drift.upper >= drift.lower)
    assert drift.n_members == 3 and drift.width is None


def test_drift_from_ensemble_history_and_array_agree():
    ens, _ = small_ensemble(64)
    from_ens = ntk_drift(ens)
    from_dict = ntk_drift(ens.history_)
    from_array = ntk_drift(ens.history_["ntk"], ens.history_["time"])
    np.testing.assert_array_equal(from_ens.members, from_dict.members)
    np.testing.assert_array_equal(from_ens.members, from_array.members)
    assert from_ens.width == 64 and from_array.width is None
    assert np.all(from_ens.members[0] == 0.0)  # exactly: Θ_0 − Θ_0
    # an independent evaluation of one member's ratio
    h = ens.history_["ntk"]
    ref = np.sqrt(np.sum((h[2, 1] - h[0, 1]) ** 2) / np.sum(h[0, 1] ** 2))
    assert abs(from_ens.members[2, 1] - ref) <= 1e-12 * ref


def test_real_ensembles_drift_less_at_large_width():
    """δΘ_t at width 64 vs 1024 (through F): O(1/n) theory predicts a ratio ≈ 16,
    even the 1/√n bound 4; with 4 members the relative spread is about 0.5, so
    the means are within ~50% of their values and a ratio > 2 is safe."""
    small = ntk_drift(small_ensemble(64, forward=True)[0])
    large = ntk_drift(small_ensemble(1024, forward=True)[0])
    assert np.all(small.members[0] == 0.0) and np.all(large.members[0] == 0.0)
    assert np.all(small.members[1:] > 0)
    assert small.mean[-1] > 2 * large.mean[-1]
    scaling = drift_width_scaling([small, large])
    assert scaling.slope < -0.25
    np.testing.assert_array_equal(scaling.widths, [64, 1024])


def test_drift_errors_name_the_fix():
    times, ntk, _ = drift_sequence()
    with pytest.raises(ValueError, match="record_ntk=True and record_times including"):
        ntk_drift(ntk[1:], times[1:])
    with pytest.raises(ValueError, match="times"):
        ntk_drift(ntk)
    with pytest.raises(ValueError, match=r"shape \(T, n_members, n, n\)"):
        ntk_drift(ntk[:, 0], times)
    with pytest.raises(ValueError, match=r"times must have shape \(4,\)"):
        ntk_drift(ntk, times[:3])
    with pytest.raises(ValueError, match="non-decreasing"):
        ntk_drift(ntk, times[::-1])
    bad = ntk.copy()
    bad[2, 0, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ntk_drift(bad, times)
    zero = ntk.copy()
    zero[:, 1] = 0.0
    with pytest.raises(ValueError, match=r"zero for member\(s\) \[1\]"):
        ntk_drift(zero, times)


def test_drift_errors_for_ensembles_without_ntk():
    X = np.linspace(-1, 1, 5)[:, None]
    ens = MLPEnsemble(width=8, n_members=2, random_state=0, progress=False)
    with pytest.raises(ValueError, match="unfitted MLPEnsemble.*record_ntk=True"):
        ntk_drift(ens)
    ens.fit(X, X[:, 0], n_steps=2, record_times=[0, 1])
    with pytest.raises(ValueError, match="holds only.*record_ntk=True"):
        ntk_drift(ens)
    ens.fit(X, X[:, 0], n_steps=2, record_times=[1, 2], record_ntk=True)
    with pytest.raises(ValueError, match="not 0.*record_times including 0"):
        ntk_drift(ens)
    with pytest.raises(ValueError, match="times must be None"):
        ntk_spectrum(ens, times=[1, 2])


# -- width scaling --
def fake_drift(width, mean, stderr, times=(0.0, 1.0)):
    """An NTKDrift with the given mean and standard error at the last time."""
    t = len(times)
    z = np.zeros(t)
    m = np.r_[z[:-1], mean]
    s = np.r_[z[:-1], stderr]
    members = np.zeros((t, 4))
    return NTKDrift(np.asarray(times), members, m, 2 * s, s, m, m, width)


def test_scaling_recovers_exact_power_law():
    widths = np.array([64, 256, 1024, 4096])
    results = [fake_drift(w, 3.0 * w**-0.75, 0.1 * 3.0 * w**-0.75) for w in widths]
    fit = drift_width_scaling(results)
    assert isinstance(fit, DriftScaling)
    assert abs(fit.slope + 0.75) < 1e-12 and abs(fit.intercept - np.log(3)) < 1e-12
    assert fit.chi2 < 1e-20 and fit.dof == 2
    np.testing.assert_allclose(fit.predict(widths), fit.mean, rtol=1e-12)
    # equal relative errors σ: Var(slope) = σ² / Σ (log w − mean log w)²
    lw = np.log(widths)
    assert abs(fit.slope_stderr - 0.1 / np.sqrt(np.sum((lw - lw.mean()) ** 2))) < 1e-12


def test_scaling_two_widths_closed_form():
    r1, r2 = fake_drift(100, 0.02, 0.002), fake_drift(400, 0.004, 0.001)
    fit = drift_width_scaling([r1, r2])
    dl = np.log(4.0)
    assert abs(fit.slope - np.log(0.004 / 0.02) / dl) < 1e-12
    assert abs(fit.slope_stderr - np.hypot(0.1, 0.25) / dl) < 1e-12


def test_scaling_errors():
    r1, r2 = fake_drift(100, 0.02, 0.002), fake_drift(400, 0.004, 0.001)
    with pytest.raises(ValueError, match="at least 2"):
        drift_width_scaling([r1])
    with pytest.raises(ValueError, match="sequence of NTKDrift"):
        drift_width_scaling(r1)
    with pytest.raises(ValueError, match="widths must be given"):
        drift_width_scaling([r1, fake_drift(None, 0.004, 0.001)])
    with pytest.raises(ValueError, match="positive"):
        drift_width_scaling([r1, r2], widths=[100, -1])
    with pytest.raises(ValueError, match="not among the recorded times"):
        drift_width_scaling([r1, r2], time=0.7)
    with pytest.raises(ValueError, match="time"):
        drift_width_scaling([r1, r2], time=0.0)
    times, ntk, _ = drift_sequence()
    one = ntk_drift(ntk[:, :1], times)
    with pytest.raises(ValueError, match="single member"):
        drift_width_scaling([one, one], widths=[1, 2])


# -- spectrum --
def test_spectrum_and_rank_of_known_matrices():
    n = 8
    lam = np.array(
        [[4.0, 2, 1, 0.5, 1e-3, 1e-9, 1e-17, 0], [9, 3, 1, 1e-4, 0, 0, 0, 0]]
    )
    ntk = np.stack([[psd_from(orthogonal(n, s), lam[s]) for s in range(2)]] * 3)
    spec = ntk_spectrum(ntk, [0.0, 1.0, 2.0])
    np.testing.assert_allclose(spec.eigenvalues[1], lam, atol=1e-14 * 9)
    # default ε = n·eps ≈ 1.8e-15: λ = 1e-17 and the zeros are round-off
    np.testing.assert_array_equal(spec.rank, [[6, 4]] * 3)
    np.testing.assert_array_equal(
        ntk_spectrum(ntk, [0, 1, 2], rtol=1e-6).rank[0], [5, 4]
    )
    np.testing.assert_allclose(spec.rank_mean, 5.0)
    np.testing.assert_array_equal(spec.rank_min, 4)
    np.testing.assert_allclose(spec.mean[0], lam.mean(0), atol=1e-13)
    assert np.all(spec.eigenvalues >= 0)


def test_spectrum_errors_and_warnings():
    q = orthogonal(4, 0)
    good = psd_from(q, [3.0, 2, 1, 0])[None, None]
    with pytest.raises(ValueError, match="rtol"):
        ntk_spectrum(good, [0.0], rtol=1.0)
    asym = good.copy()
    asym[0, 0, 0, 1] += 0.1
    with pytest.raises(ValueError, match="symmetric"):
        ntk_spectrum(asym, [0.0])
    with pytest.warns(IllConditionedWarning, match="negative eigenvalues"):
        spec = ntk_spectrum(psd_from(q, [3.0, 2, 1, -0.1])[None, None], [0.0])
    assert spec.eigenvalues[0, 0, -1] == 0.0


# -- alignment --
def aligned_problem(n=7, m=3, seed=0):
    """NTK eigenvectors q_i (λ descending); F with row space span(q_1..q_m)."""
    q = orthogonal(n, seed)
    lam = np.array([5.0, 4, 3, 2, 1, 0.5, 0.25])[:n]
    b = np.random.default_rng(seed + 1).standard_normal((m, m)) + 3 * np.eye(m)
    F = b @ q[:, :m].T
    return q, lam, F


def test_alignment_one_inside_span_zero_outside():
    q, lam, F = aligned_problem()
    ntk = psd_from(q, lam)[None, None]
    C = np.diag([0.5, 1.0, 2.0])
    res = ntk_alignment(ntk, [0.0], forward_map=F, y_cov=C)
    assert res.n_leading == 3
    np.testing.assert_allclose(res.alignment[0, 0], [1, 1, 1, 0, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(res.ntk_eigenvalues[0, 0], lam, rtol=1e-12)
    # M's eigenvalues against a direct eigendecomposition of Fᵀ C⁻¹ F
    direct = np.linalg.eigvalsh(F.T @ np.linalg.solve(C, F))[::-1]
    np.testing.assert_allclose(res.data_eigenvalues, direct, atol=1e-12 * direct[0])


def test_alignment_of_mixed_eigenvector_is_cos_squared():
    q, lam, F = aligned_problem()
    theta = 0.3
    v = q.copy()
    v[:, 0] = np.cos(theta) * q[:, 0] + np.sin(theta) * q[:, 5]  # in/out of span
    v[:, 5] = -np.sin(theta) * q[:, 0] + np.cos(theta) * q[:, 5]
    res = ntk_alignment(psd_from(v, lam)[None, None], [0.0], forward_map=F)
    assert abs(res.alignment[0, 0, 0] - np.cos(theta) ** 2) < 1e-12
    assert abs(res.alignment[0, 0, 5] - np.sin(theta) ** 2) < 1e-12
    assert abs(res.alignment.sum() - 3) < 1e-12  # Σ_i ‖P_m v_i‖² = m


def test_alignment_against_direct_projector_and_rotation_invariance():
    n, rng = 9, np.random.default_rng(5)
    a = rng.standard_normal((2, 3, n, n))
    ntk = a @ np.swapaxes(a, -1, -2) + 0.1 * np.eye(n)
    F = rng.standard_normal((4, n))
    L = rng.standard_normal((4, 4))
    C = L @ L.T + np.eye(4)
    res = ntk_alignment(ntk, [0.0, 1.0], forward_map=F, y_cov=C, n_eigenvectors=5)
    # reference: the projector on the range of Fᵀ C⁻¹ F from a direct eigh
    mu, qm = np.linalg.eigh(F.T @ np.linalg.solve(C, F))
    P = qm[:, -4:] @ qm[:, -4:].T
    _, vec = np.linalg.eigh(ntk)
    v = vec[..., ::-1][..., :5]
    ref = np.einsum("tmia,ij,tmja->tma", v, P, v)
    np.testing.assert_allclose(res.alignment, ref, atol=1e-10)
    np.testing.assert_allclose(res.mean, ref.mean(1), atol=1e-10)
    R = orthogonal(n, 11)
    rot = ntk_alignment(R @ ntk @ R.T, [0.0, 1.0], forward_map=F @ R.T, y_cov=C)
    np.testing.assert_allclose(rot.alignment[..., :5], res.alignment, atol=1e-10)


def test_alignment_identity_map_and_degenerate_subspace():
    q, lam, _ = aligned_problem()
    ntk = np.stack([psd_from(q, lam), psd_from(q, lam[::-1])])[:, None]
    C = np.diag([0.1, 0.2, 0.5, 1, 2, 4, 8])
    a = ntk_alignment(ntk, [0.0, 1.0], y_cov=C, n_leading=3)
    b = ntk_alignment(ntk, [0.0, 1.0], forward_map=np.eye(7), y_cov=C, n_leading=3)
    np.testing.assert_allclose(a.alignment, b.alignment, atol=1e-13)
    # the leading 3 eigenvectors of M = C⁻¹ are e_1, e_2, e_3: a_i = Σ_{j<3} q_ji²
    np.testing.assert_allclose(a.alignment[0, 0], np.sum(q[:3] ** 2, 0), atol=1e-12)
    full = ntk_alignment(ntk, [0.0, 1.0])
    assert full.n_leading == 7
    np.testing.assert_allclose(full.alignment, 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="degenerate eigenvalue of M"):
        ntk_alignment(ntk, [0.0, 1.0], n_leading=3)


def test_alignment_errors():
    q, lam, F = aligned_problem()
    ntk = psd_from(q, lam)[None, None]
    with pytest.raises(ValueError, match=r"forward_map must have shape \(n_data, 7\)"):
        ntk_alignment(ntk, [0.0], forward_map=F[:, :5])
    with pytest.raises(ValueError, match="n_eigenvectors must be <= 7"):
        ntk_alignment(ntk, [0.0], n_eigenvectors=8)
    with pytest.raises(ValueError, match="n_leading"):
        ntk_alignment(ntk, [0.0], forward_map=F, n_leading=0)
    with pytest.raises(ValueError, match="y_cov"):
        ntk_alignment(ntk, [0.0], forward_map=F, y_cov=-np.eye(3))
    with pytest.raises(ValueError, match="forward_map is zero"):
        ntk_alignment(ntk, [0.0], forward_map=0 * F)


def test_real_ensemble_spectrum_and_alignment_through_forward_map():
    ens, F = small_ensemble(256, forward=True)
    spec = ntk_spectrum(ens)
    assert spec.eigenvalues.shape == (3, 4, 10)
    assert np.all(np.diff(spec.eigenvalues, axis=-1) <= 0)
    # the recorded NTK at t = 0 equals the ensemble's empirical NTK before training
    res = ntk_alignment(ens, forward_map=F, y_cov=0.1 * np.eye(6))
    assert res.n_leading == 6 and res.alignment.shape == (3, 4, 10)
    np.testing.assert_allclose(res.alignment.sum(-1), 6.0, atol=1e-9)
    assert np.all((res.alignment > -1e-12) & (res.alignment < 1 + 1e-12))


# -- plots --
def test_plots_draw_the_results_on_labelled_axes():
    times, ntk, _ = drift_sequence()
    drift = ntk_drift(ntk, times)
    fig, axes = plt.subplots(2, 3)
    ax = plot_ntk_drift(drift, axes[0, 0], band="quantile", members=True)
    assert ax is axes[0, 0] and "Theta" in ax.get_ylabel() and ax.get_xlabel()
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), drift.mean)
    scaling = drift_width_scaling(
        [fake_drift(64, 0.02, 0.002), fake_drift(256, 0.005, 0.001)]
    )
    ax = plot_drift_scaling(scaling, axes[0, 1])
    assert ax.get_xscale() == "log" and "width" in ax.get_xlabel()
    spec = ntk_spectrum(ntk, times)
    ax = plot_ntk_spectrum(spec, axes[0, 2], times=[2.0])
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), spec.mean[-1])
    ax = plot_ntk_rank(spec, axes[1, 0])
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), spec.rank_mean)
    align = ntk_alignment(ntk, times, n_leading=6)
    ax = plot_ntk_alignment(align, axes[1, 1], indices=[0, 2])
    assert len(ax.lines) == 2 and "P_m" in ax.get_ylabel()
    ax = plot_ntk_alignment(align, axes[1, 2], x="index")
    assert "index" in ax.get_xlabel()
    assert plot_ntk_drift(drift).figure is not fig  # a new figure without ax
    with pytest.raises(ValueError, match="band"):
        plot_ntk_drift(drift, band="minmax")
    with pytest.raises(TypeError, match="NTKSpectrum"):
        plot_ntk_rank(drift)
    with pytest.raises(ValueError, match="indices"):
        plot_ntk_alignment(align, indices=[9])
    plt.close("all")
