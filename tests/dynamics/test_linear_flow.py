"""LinearFlow (:ref:`theory-4`) against independent references: matrix exponentials
(Lee et al. 2019), explicit gradient-descent steps, Monte Carlo over linear models."""

import numpy as np
import pytest
import scipy.linalg as sla

from nngpbayes import Architecture
from nngpbayes._numerics import IllConditionedWarning
from nngpbayes.dynamics import LinearFlow
from nngpbayes.kernels import nngp_ntk


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    grid = np.linspace(-1, 1, 9)[:, None]
    test = np.array([[-0.7], [0.05], [0.4], [1.3]])
    arch = Architecture(2, "erf", 1.6, 0.2)
    kg, tg = nngp_ntk(grid, architecture=arch)
    ks, ts = nngp_ntk(test, grid, architecture=arch)
    kss = nngp_ntk(test, architecture=arch).nngp
    F = rng.uniform(0, 1, size=(6, 9)) / 9  # 6 observables, linear in φ on the grid
    A = rng.normal(size=(6, 6))
    C = 0.01 * (A @ A.T / 6 + np.eye(6))  # correlated data covariance
    y = rng.normal(size=6)
    return dict(kg=kg, tg=tg, ks=ks, ts=ts, kss=kss, F=F, C=C, y=y)


def lee_reference(p, t, eta, F=None, C=None, replicas=False):
    """mean/cov from B_t = Θ_*X Fᵀ (FΘFᵀ)⁻¹ (I − e^(−η C⁻¹ F Θ Fᵀ t))... via expm.

    B_t = Θ_*g Fᵀ C⁻¹ ∫_0^t e^(−η FΘFᵀC⁻¹ τ) dτ η — evaluated as
    Θ_*g Fᵀ (F Θ Fᵀ)⁻¹ (I − e^(−η F Θ Fᵀ C⁻¹ t)).
    """
    n = p["tg"].shape[0]
    F = np.eye(n) if F is None else F
    C = np.eye(F.shape[0]) if C is None else C
    H = F @ p["tg"] @ F.T
    E = sla.expm(-eta * H @ np.linalg.inv(C) * t)
    B = p["ts"] @ F.T @ np.linalg.solve(H, np.eye(len(H)) - E)
    mean = B @ p["y"] if len(p["y"]) == len(H) else None
    FK = F @ p["ks"].T
    cov = p["kss"] - B @ FK - FK.T @ B.T + B @ F @ p["kg"] @ F.T @ B.T
    if replicas:
        cov = cov + B @ C @ B.T
    return B, mean, cov


@pytest.mark.parametrize("t", [0.0, 0.3, 2.0, 25.0])
def test_identity_map_matches_lee_et_al(problem, t):
    p = dict(problem, y=np.sin(np.linspace(-1, 1, 9)))
    flow = LinearFlow(p["tg"], p["kg"], p["y"], learning_rate=0.7)
    mean, cov = flow.predict(p["ts"], p["ks"], p["kss"], t, return_cov=True)
    _, m_ref, c_ref = lee_reference(p, t, 0.7)
    np.testing.assert_allclose(mean, m_ref, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(cov, c_ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("replicas", [False, True])
@pytest.mark.parametrize("t", [0.5, 40.0])
def test_forward_map_and_correlated_covariance(problem, t, replicas):
    p = problem
    flow = LinearFlow(
        p["tg"], p["kg"], p["y"], forward_map=p["F"], data_cov=p["C"], learning_rate=1.3
    )
    mean, cov = flow.predict(
        p["ts"], p["ks"], p["kss"], t, return_cov=True, replicas=replicas
    )
    B, _, c_ref = lee_reference(p, t, 1.3, p["F"], p["C"], replicas)
    # with F and C: B_t = Θ_*g Fᵀ H⁻¹ (I − e^(−η H C⁻¹ t)) with H = FΘFᵀ
    np.testing.assert_allclose(mean, B @ p["y"], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(cov, c_ref, rtol=1e-8, atol=1e-11)
    _, std = flow.predict(
        p["ts"], p["ks"], p["kss"], t, return_std=True, replicas=replicas
    )
    np.testing.assert_allclose(std, np.sqrt(np.diag(c_ref)), rtol=1e-8)


def test_prior_and_data_parts_add_up(problem):
    p = problem
    flow = LinearFlow(p["tg"], p["kg"], p["y"], forward_map=p["F"], data_cov=p["C"])
    args = (p["ts"], p["ks"], p["kss"], 3.0)
    total = flow.predict(*args, return_cov=True, replicas=True)[1]
    prior = flow.predict(*args, return_cov=True, replicas=True, part="prior")[1]
    data = flow.predict(*args, return_cov=True, replicas=True, part="data")[1]
    np.testing.assert_allclose(total, prior + data, rtol=1e-12, atol=1e-15)
    B, _, _ = lee_reference(p, 3.0, 1.0, p["F"], p["C"])
    np.testing.assert_allclose(data, B @ p["C"] @ B.T, rtol=1e-8, atol=1e-14)
    no_rep = flow.predict(*args, return_cov=True, part="data")[1]
    np.testing.assert_array_equal(no_rep, 0.0)


def test_discrete_steps_match_explicit_linearised_updates(problem):
    p = problem
    eta, k = 0.02, 17
    flow = LinearFlow(
        p["tg"],
        p["kg"],
        p["y"],
        forward_map=p["F"],
        data_cov=p["C"],
        learning_rate=eta,
        discrete=True,
    )
    assert eta < flow.max_stable_learning_rate
    Cinv = np.linalg.inv(p["C"])
    f_grid, f_test = np.zeros(9), np.zeros(4)  # the mean network starts at 0
    for _ in range(k):  # φ ← φ − η Θ Fᵀ C⁻¹ (F φ − y)
        eps = p["F"].T @ Cinv @ (p["F"] @ f_grid - p["y"])
        f_grid, f_test = f_grid - eta * p["tg"] @ eps, f_test - eta * p["ts"] @ eps
    np.testing.assert_allclose(flow.predict(p["ts"], time=k), f_test, rtol=1e-10)
    np.testing.assert_allclose(flow.predict(p["tg"], time=k), f_grid, rtol=1e-10)


def test_time_arrays_equal_scalar_calls(problem):
    p = problem
    flow = LinearFlow(p["tg"], p["kg"], p["y"], forward_map=p["F"], data_cov=p["C"])
    times = np.array([0.0, 0.1, 3.0, np.inf])
    mean, cov = flow.predict(p["ts"], p["ks"], p["kss"], times, return_cov=True)
    assert mean.shape == (4, 4) and cov.shape == (4, 4, 4)
    for i, t in enumerate(times):
        m1, c1 = flow.predict(p["ts"], p["ks"], p["kss"], t, return_cov=True)
        np.testing.assert_array_equal(mean[i], m1)
        np.testing.assert_array_equal(cov[i], c1)


def test_replica_ensemble_matches_monte_carlo(problem):
    """Level 2: 10^4 linear models, each with its own φ_0 and replica y + ε."""
    p = problem
    rng = np.random.default_rng(42)
    t, eta, n = 2.0, 1.0, 10_000
    flow = LinearFlow(
        p["tg"], p["kg"], p["y"], forward_map=p["F"], data_cov=p["C"], learning_rate=eta
    )
    mean, cov = flow.predict(
        p["ts"], p["ks"], p["kss"], t, return_cov=True, replicas=True
    )
    B, _, _ = lee_reference(p, t, eta, p["F"], p["C"])
    joint = np.block([[p["kg"], p["ks"].T], [p["ks"], p["kss"]]])
    phi0 = rng.multivariate_normal(np.zeros(13), joint, size=n, method="eigh")
    eps = rng.multivariate_normal(np.zeros(6), p["C"], size=n)
    phi_t = phi0[:, 9:] + (p["y"] + eps - phi0[:, :9] @ p["F"].T) @ B.T
    mc_mean, mc_cov = phi_t.mean(0), np.cov(phi_t.T)
    # 5 standard errors with n = 10 000 samples (SE of a mean sqrt(var / n)): the
    # two-sided Gaussian tail beyond 5 SE is 5.7e-7 per entry, 3e-5 over the
    # 4 x (4 means + 10 distinct covariances) entries compared below
    se_mean = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(mc_mean - mean) < 5 * se_mean)
    # standard error of a sample covariance entry: sqrt((c_ij² + c_ii c_jj) / n)
    se_cov = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / n)
    assert np.all(np.abs(mc_cov - cov) < 5 * se_cov)
    # and the package's own sampler agrees with the same statistics
    draws = flow.sample(p["ts"], p["ks"], p["kss"], t, n, rng, replicas=True)
    assert np.all(np.abs(draws.mean(1) - mean) < 5 * se_mean)
    assert np.all(np.abs(np.cov(draws) - cov) < 5 * se_cov)


def test_singular_kernel_warns_and_stays_finite():
    x = np.array([[0.1], [0.1], [0.5]])
    arch = Architecture(1, "relu", 2.0, 0.1)
    k, th = nngp_ntk(x, architecture=arch)
    flow = LinearFlow(th, k, np.array([1.0, 2.0, 0.0]))
    with pytest.warns(IllConditionedWarning, match="ill-conditioned"):
        mean, std = flow.predict(th, k, np.diag(k), np.inf, return_std=True)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    # duplicated inputs with different data: the flow fits their average, up to
    # round-off amplified by the filter. The null mode's computed eigenvalue s_r is
    # LAPACK round-off (0 on some builds, 4e-17 on others); the filter gives it
    # g = s_r³/(s_r⁴ + s_c⁴), and the eps-sized round-off of its eigenvector then
    # reaches the other points with weight about g · s_max · eps · max|y|.
    s_r, s_c = max(flow.eigenvalues[-1], 0.0), flow.cutoff
    g = s_r**3 / (s_r**4 + s_c**4)
    amplified = g * flow.eigenvalues[0] * np.finfo(float).eps * 2.0
    np.testing.assert_allclose(mean[:2], 1.5, rtol=1e-8, atol=amplified)
    assert s_r < 0.2 * s_c  # the null mode stays well below the cutoff


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(learning_rate=0.0), r"learning_rate.*Got learning_rate=0\.0"),
        (dict(learning_rate=np.nan), "learning_rate must be"),
        (dict(rcond=0.0), r"rcond.*Got rcond=0\.0"),
        (dict(ntk=np.full((3, 3), np.nan)), "ntk and nngp must be finite"),
        (dict(y=np.float64(1.0)), "y must have shape"),
        (dict(data_cov=np.ones(2)), "data_cov has 2 variances, expected 3"),
        (dict(data_cov=-np.eye(3)), "data_cov must be positive definite"),
        (
            dict(data_cov=[[1, 2, 0], [0, 1, 0], [0, 0, 1]]),
            "data_cov must be symmetric",
        ),
        (dict(forward_map=np.ones((3, 2))), "forward_map must have shape"),
        (dict(y=np.array([1.0, np.nan, 0.0])), "y contains NaN"),
    ],
)
def test_bad_input(kwargs, match):
    th = np.eye(3) + 0.1
    args = dict(ntk=th, nngp=th, y=np.zeros(3))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        LinearFlow(**args)


def test_bad_times_and_unstable_discrete_descent():
    th = np.eye(3) + 0.1
    flow = LinearFlow(th, th, np.ones(3))
    for bad in (-1.0, np.nan, [[1.0]]):
        with pytest.raises(ValueError, match="time must"):
            flow.predict(th, time=bad)
    gd = LinearFlow(th, th, np.ones(3), learning_rate=5.0, discrete=True)
    with pytest.raises(ValueError, match="stability limit"):
        gd.predict(th, time=np.inf)
    with pytest.warns(RuntimeWarning, match="diverges"):
        gd.predict(th, time=3)
    with pytest.raises(ValueError, match="counts steps"):
        gd.predict(th, time=2.5)


def test_training_loss_at_zero_and_infinite_time(problem):
    """At t = 0 the ensemble is the prior: ½(yᵀC⁻¹y + tr(C⁻¹FKFᵀ)); at t = ∞ a
    full-rank flow fits y exactly (replicas: each of the n_data modes keeps one
    unit of whitened noise, ½ n_data)."""
    p = problem
    F, C, y = p["F"], p["C"], p["y"]
    flow = LinearFlow(p["tg"], p["kg"], y, forward_map=F, data_cov=C)
    c_inv = np.linalg.inv(C)
    prior = 0.5 * (y @ c_inv @ y + np.trace(c_inv @ F @ p["kg"] @ F.T))
    assert flow.training_loss(0.0) == pytest.approx(prior, rel=1e-10)
    np.testing.assert_allclose(
        flow.prior_mode_variances.sum(), np.trace(c_inv @ F @ p["kg"] @ F.T), rtol=1e-10
    )
    losses = flow.training_loss([0.0, 1.0, np.inf], replicas=True)
    assert losses.shape == (3,) and np.all(np.diff(losses) < 0)
    assert losses[-1] == pytest.approx(0.5 * len(y), rel=1e-8)
    assert flow.training_loss(np.inf) == pytest.approx(0.0, abs=1e-8 * prior)


def test_identically_zero_ntk_leaves_the_prior_without_nan():
    """Θ = 0: no mode moves, so at every time the ensemble is the prior."""
    k = np.array([[1.0, 0.5], [0.5, 2.0]])
    flow = LinearFlow(np.zeros((2, 2)), k, np.array([1.0, -1.0]))
    with pytest.warns(IllConditionedWarning):
        mean, cov = flow.predict(
            np.zeros((2, 2)), k, k, [0.0, 3.0, np.inf], return_cov=True
        )
    np.testing.assert_array_equal(mean, 0.0)
    np.testing.assert_allclose(cov, np.broadcast_to(k, (3, 2, 2)), rtol=1e-15)
    assert flow.cutoff > 0


def test_kernels_of_tiny_scale_do_not_underflow(problem):
    """Θ and K scaled by 1e-200 (s_c⁴ underflows): the t = ∞ mean is unchanged."""
    p = dict(problem, y=np.sin(np.linspace(-1, 1, 9)))
    ref = LinearFlow(p["tg"], p["kg"], p["y"]).predict(p["ts"], time=np.inf)
    tiny = LinearFlow(1e-200 * p["tg"], 1e-200 * p["kg"], p["y"])
    got = tiny.predict(1e-200 * p["ts"], time=np.inf)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_bad_test_kernels_name_the_argument():
    th = np.eye(3) + 0.1
    flow = LinearFlow(th, th, np.ones(3))
    ks = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"ntk_star must have shape \(n_test, 3\)"):
        flow.predict(np.ones((2, 4)))
    with pytest.raises(ValueError, match="ntk_star contains NaN"):
        flow.predict(np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="std needs nngp_star and nngp_star_star"):
        flow.predict(ks, return_std=True)
    with pytest.raises(ValueError, match=r"nngp_star must have shape \(2, 3\)"):
        flow.predict(ks, np.ones((3, 3)), np.ones(2), return_std=True)
    with pytest.raises(ValueError, match=r"nngp_star_star must have shape \(2, 2\)"):
        flow.predict(ks, ks, np.ones(2), return_cov=True)  # a diagonal: std only
    with pytest.raises(ValueError, match=r"n_samples.*Got n_samples=0"):
        flow.sample(ks, ks, np.eye(2), 1.0, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng must be"):
        flow.sample(ks, ks, np.eye(2), 1.0, 3, "seed")
