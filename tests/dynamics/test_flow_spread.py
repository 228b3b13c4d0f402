"""The covariance kernels of the flow (nngpbayes/dynamics/_spread.py).

The factored form (triangular factor of M, learned modes accumulated once) against
the direct form cov_t = K** + sym((A M − 2Q) Aᵀ) it replaced, which the Lee et al.
references of test_linear_flow.py check, and against an extended-precision
evaluation of the same formula.
"""

import numpy as np
import pytest

from nngpbayes import Architecture
from nngpbayes.dynamics import LinearFlow
from nngpbayes.dynamics import _spread as spread_mod
from nngpbayes.kernels import nngp_ntk

EPS = np.finfo(float).eps


@pytest.fixture(scope="module")
def flow_problem():
    """N = 90 > 2 blocks of modes, 25 test points, ReLU depth 3."""
    rng = np.random.default_rng(3)
    X, Xs = rng.normal(size=(90, 3)), rng.normal(size=(25, 3))
    arch = Architecture(3, "relu", 2.0, 0.1)
    kg, tg = nngp_ntk(X, architecture=arch)
    ks, ts = nngp_ntk(Xs, X, architecture=arch)
    kss = nngp_ntk(Xs, architecture=arch).nngp
    F = rng.uniform(0, 1, size=(70, 90)) / 90
    A = rng.normal(size=(70, 70))
    C = 0.01 * (A @ A.T / 70 + np.eye(70))
    y = np.sin(X[:, 0])
    return dict(kg=kg, tg=tg, ks=ks, ts=ts, kss=kss, F=F, C=C, y=y, yF=F @ y)


def _predict(flow, p, times, direct=False, **kw):
    """flow.predict with the factored form, or with the direct form forced."""
    if direct:
        m, _ = flow._prior_moments()
        flow._prior = (m, None)
    try:
        return flow.predict(p["ts"], p["ks"], p["kss"], times, **kw)
    finally:
        flow._prior = None


TIMES = np.r_[0.0, np.geomspace(1e-3, 1e4, 9), np.inf]


@pytest.mark.parametrize("mapped", [False, True], ids=["F=C=I", "F,C"])
@pytest.mark.parametrize("replicas", [False, True])
@pytest.mark.parametrize("part", ["total", "prior", "data"])
@pytest.mark.parametrize("want", ["return_cov", "return_std"])
def test_factored_form_equals_direct_form(flow_problem, mapped, replicas, part, want):
    p = flow_problem
    args = (p["tg"], p["kg"], p["yF"] if mapped else p["y"])
    maps = dict(forward_map=p["F"], data_cov=p["C"]) if mapped else {}
    flow = LinearFlow(*args, **maps)
    kw = {want: True, "replicas": replicas, "part": part}
    mean, spread = _predict(flow, p, TIMES, **kw)
    mean_d, spread_d = _predict(flow, p, TIMES, direct=True, **kw)
    scale = np.abs(p["kss"]).max()
    np.testing.assert_array_equal(mean, mean_d)
    if want == "return_std":  # std = sqrt(var): compare variances
        spread, spread_d = spread**2, spread_d**2
    np.testing.assert_allclose(spread, spread_d, rtol=0, atol=1e3 * EPS * scale)
    if want == "return_cov":
        np.testing.assert_array_equal(spread, np.swapaxes(spread, 1, 2))


def test_factored_form_against_extended_precision(flow_problem):
    """cov_t from the same W, s, K in long double: the factored error is round-off."""
    p = flow_problem
    flow = LinearFlow(p["tg"], p["kg"], p["y"])
    times = np.array([0.05, 3.0, 1e3])
    _, cov = flow.predict(p["ts"], p["ks"], p["kss"], times, return_cov=True)
    ld = np.longdouble
    w = flow._w.astype(ld)
    m = w.T @ (p["kg"].astype(ld) @ w)
    q = w.T @ p["ks"].T.astype(ld)
    for t, c in zip(times, cov, strict=True):
        a = (p["ts"].astype(ld) @ w) * flow.filters(t).astype(ld)
        ref = p["kss"].astype(ld) - a @ q - (a @ q).T + a @ m @ a.T
        err = np.abs(c - ref).max() / np.abs(p["kss"]).max()
        assert err < 100 * EPS


def test_learned_modes_match_the_plain_triangular_product(flow_problem, monkeypatch):
    """Y_m accumulated in blocks equals A R with every mode multiplied each time."""
    p = flow_problem
    flow = LinearFlow(p["tg"], p["kg"], p["y"])
    times = np.geomspace(0.1, 1e5, 12)
    counts = spread_mod._Learned(p["ts"] @ flow._w, flow.eigenvalues, None).counts(
        np.array([flow.filters(t) for t in times])
    )
    n = len(flow.eigenvalues)
    assert counts.min() < spread_mod._BLOCK < n // 2 < counts.max() == n
    _, cov = flow.predict(p["ts"], p["ks"], p["kss"], times, return_cov=True)
    monkeypatch.setattr(
        spread_mod._Learned, "counts", lambda self, g: np.zeros(len(g), int)
    )
    _, plain = flow.predict(p["ts"], p["ks"], p["kss"], times, return_cov=True)
    scale = np.abs(p["kss"]).max()
    np.testing.assert_allclose(cov, plain, rtol=0, atol=100 * EPS * scale)


def test_time_arrays_equal_scalar_calls_bit_for_bit(flow_problem):
    """Learned blocks in a fixed order: a time alone or in any array, same bits."""
    p = flow_problem
    flow = LinearFlow(p["tg"], p["kg"], p["y"])
    times = np.array([1e5, 0.3, 40.0, np.inf, 2e5, 7.0])  # unsorted, all learned
    mean, cov = flow.predict(p["ts"], p["ks"], p["kss"], times, return_cov=True)
    _, std = flow.predict(p["ts"], p["ks"], p["kss"], times, return_std=True)
    for i, t in enumerate(times):
        m1, c1 = flow.predict(p["ts"], p["ks"], p["kss"], t, return_cov=True)
        _, s1 = flow.predict(p["ts"], p["ks"], p["kss"], t, return_std=True)
        np.testing.assert_array_equal(mean[i], m1)
        np.testing.assert_array_equal(cov[i], c1)
        np.testing.assert_array_equal(std[i], s1)


def test_prior_root_is_an_upper_factor_or_none():
    rng = np.random.default_rng(0)
    b = rng.normal(size=(6, 6))
    m = b @ b.T + 0.1 * np.eye(6)
    r = spread_mod.prior_root(m)
    np.testing.assert_array_equal(r, np.triu(r))
    np.testing.assert_allclose(r @ r.T, m, rtol=1e-13, atol=1e-13)
    singular = b[:, :3] @ b[:, :3].T
    assert spread_mod.prior_root(singular) is None


def test_duplicated_inputs_agree_with_the_direct_form():
    """Exactly duplicated grid inputs: M is singular to round-off and its factor has
    a pivot at the round-off level, yet Q vanishes along that mode too, so the
    factored form stays at round-off distance from the direct one."""
    x = np.array([[0.1], [0.1], [0.5], [-0.3]])
    xs = np.array([[0.1], [0.2], [0.7]])
    arch = Architecture(1, "relu", 2.0, 0.1)
    k, th = nngp_ntk(x, architecture=arch)
    ks, ts = nngp_ntk(xs, x, architecture=arch)
    kss = nngp_ntk(xs, architecture=arch).nngp
    flow = LinearFlow(th, k, np.array([1.0, 1.0, 0.0, 2.0]))
    p = dict(ts=ts, ks=ks, kss=kss)
    times = [0.0, 1.0, 5.0, 1e3]
    _, cov = _predict(flow, p, times, return_cov=True)
    _, cov_d = _predict(flow, p, times, direct=True, return_cov=True)
    np.testing.assert_allclose(cov, cov_d, rtol=0, atol=100 * EPS * kss.max())


def test_zero_prior_falls_back_to_the_direct_form():
    """K = 0 on the grid: no factor of M = 0; the covariance is K** at every t."""
    x = np.linspace(-1, 1, 5)[:, None]
    th = nngp_ntk(x, architecture=Architecture(1, "relu", 2.0, 0.1)).ntk
    flow = LinearFlow(th, np.zeros_like(th), np.sin(x[:, 0]))
    assert flow._prior_moments()[1] is None
    kss = np.eye(3) + 0.5
    mean, cov = flow.predict(th[:3], np.zeros((3, 5)), kss, [0.0, 2.0], return_cov=True)
    np.testing.assert_array_equal(cov, [kss, kss])
    assert np.all(np.isfinite(mean))
