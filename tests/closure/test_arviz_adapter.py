"""The ArviZ adapter: same behaviour on ArviZ 0.x (InferenceData) and 1.x (DataTree)."""

import numpy as np
import pytest
import xarray as xr

from nngpbayes.closure import _arviz

N_CHAINS, N_DRAWS, N_X, N_TIMES, N_MEMBERS = 4, 100, 8, 3, 5
PARAMS = ["bias_variance", "weight_variance"]
# Interval columns are the one difference between the two lines' summaries.
CI_COLUMNS = {0: ["hdi_3%", "hdi_97%"], 1: ["eti89_lb", "eti89_ub"]}
COMMON_COLUMNS = ["mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail"]


def _groups(seed=0):
    """Posterior, predictions, data, a trained ensemble and scalar metrics."""
    rng = np.random.default_rng(seed)
    chains = (N_CHAINS, N_DRAWS)
    posterior = {p: rng.normal(1.0, 0.1, size=chains) for p in PARAMS}
    return {
        "posterior": posterior,
        "posterior_predictive": {"y": rng.normal(size=(*chains, N_X))},
        "sample_stats": {"lp": rng.normal(size=chains)},
        "observed_data": {"y": rng.normal(size=N_X)},
        "trained_ensemble": {"f": rng.normal(size=(N_TIMES, N_MEMBERS, N_X))},
        "metrics": {"R_bv": np.float64(1.03), "xi_1sigma": 0.69},
    }


COORDS = {"x": np.linspace(-1.0, 1.0, N_X), "time": [0.0, 1.0, np.inf]}
DIMS = {"y": ["x"], "f": ["time", "member", "x"]}


@pytest.fixture
def data():
    return _arviz.to_arviz(_groups(), coords=COORDS, dims=DIMS)


def test_kind_matches_arviz_line(data):
    import arviz as az

    assert _arviz.arviz_major() in (0, 1)
    kind = xr.DataTree if _arviz.arviz_major() == 1 else az.InferenceData
    assert isinstance(data, kind)
    assert sorted(_arviz.group_names(data)) == sorted(_groups())


def test_groups_hold_the_input_arrays(data):
    for group, variables in _groups().items():
        ds = _arviz.get_group(data, group)
        assert isinstance(ds, xr.Dataset)
        for name, value in variables.items():
            np.testing.assert_array_equal(ds[name].values, value)
    predictive = _arviz.get_group(data, "posterior_predictive")["y"]
    assert predictive.dims == ("chain", "draw", "x")
    np.testing.assert_array_equal(predictive["x"], COORDS["x"])
    ensemble = _arviz.get_group(data, "trained_ensemble")["f"]
    assert ensemble.dims == ("time", "member", "x")
    np.testing.assert_array_equal(ensemble["time"], COORDS["time"])
    assert _arviz.get_group(data, "metrics")["R_bv"].shape == ()


@pytest.mark.filterwarnings("error::UserWarning")
def test_netcdf_round_trip_is_identical(data, tmp_path):
    path = _arviz.to_netcdf(data, tmp_path / "closure.nc")
    assert path == str(tmp_path / "closure.nc")
    loaded = _arviz.from_netcdf(path)
    assert type(loaded) is type(data)
    assert _arviz.group_names(loaded) == _arviz.group_names(data)
    for group in _arviz.group_names(data):
        xr.testing.assert_identical(
            _arviz.get_group(loaded, group), _arviz.get_group(data, group)
        )


def test_same_dim_name_may_differ_in_length_across_groups():
    groups = {"observed_data": {"y": np.zeros(N_X)}, "test_data": {"y": np.ones(2)}}
    data = _arviz.to_arviz(groups, dims={"y": ["x"], "absent": ["z"]})
    assert _arviz.get_group(data, "test_data").sizes["x"] == 2


def test_summary_rows_and_columns(data):
    table = _arviz.summary(data)
    assert sorted(table.index) == PARAMS
    wanted = COMMON_COLUMNS + ["r_hat"] + CI_COLUMNS[_arviz.arviz_major()]
    assert set(wanted) <= set(table.columns)
    draws = _arviz.get_group(data, "posterior")
    for p in PARAMS:  # unrounded: the mean is the plain sample mean
        np.testing.assert_allclose(table.loc[p, "mean"], draws[p].mean(), rtol=1e-12)
    # Independent draws: R-hat - 1 = O(1/n_draws), ESS ~ n_chains * n_draws.
    n_total = N_CHAINS * N_DRAWS
    assert (np.abs(table["r_hat"] - 1) < 10 / N_DRAWS).all()
    assert table["ess_bulk"].between(n_total / 2, 2 * n_total).all()
    assert list(_arviz.summary(data, var_names=PARAMS[:1]).index) == PARAMS[:1]


def test_summary_flags_unmixed_chains():
    groups = _groups()
    groups["posterior"]["bias_variance"][0] += 1.0  # one chain 10 sd away
    table = _arviz.summary(_arviz.to_arviz(groups))
    assert table.loc["bias_variance", "r_hat"] > 1.1


def _bad(group, name, value):
    groups = _groups()
    groups[group][name] = value
    return groups


@pytest.mark.parametrize(
    ("groups", "kwargs", "match"),
    [
        (_bad("posterior", "bias_variance", np.ones(N_DRAWS)), {}, r"\(chain, draw"),
        (_bad("sample_stats", "lp", 1.0), {}, r"'sample_stats'.*\(chain, draw"),
        (_bad("posterior", "bias_variance", np.ones((3, 100))), {}, "'posterior'"),
        (_bad("metrics", "R_bv", np.nan), {}, "finite"),
        (_groups(), {"dims": {"y": ["x", "extra"]}}, r"dims\['y'\]"),
        (_groups(), {"dims": DIMS, "coords": {"x": [0.0, 1.0]}}, r"coords\['x'\]"),
        (_groups(), {"coords": {"x": [np.nan]}}, r"coords\['x'\]"),
        ({}, {}, "groups"),
    ],
)
def test_bad_input_names_the_argument(groups, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _arviz.to_arviz(groups, **kwargs)


def test_missing_groups_raise(data):
    with pytest.raises(KeyError, match="no group 'prior'"):
        _arviz.get_group(data, "prior")
    no_posterior = _arviz.to_arviz({"observed_data": {"y": np.zeros(3)}})
    with pytest.raises(ValueError, match="'posterior'"):
        _arviz.summary(no_posterior)


# -- R-hat and ESS ------------------------------------------------------------------
def _ar1(phi, shape, seed):
    """Stationary AR(1) chains x_t = φ x_{t-1} + e_t, shape (n_chains, n_draws)."""
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(shape)
    x = np.empty(shape)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.6, 0.95, -0.4])
def test_rhat_and_ess_are_arviz_on_the_chains(phi):
    """The adapter hands ArviZ the (chain, draw) axes unchanged: the same numbers
    as ArviZ on the bare array, on both lines (no error is tolerated)."""
    import arviz as az

    x = _ar1(phi, (6, 801), seed=int(10 * abs(phi)))
    x[0] += 0.2  # a slightly displaced chain
    data = _arviz.to_arviz({"posterior": {"x": x, "minus_x": -x}})
    rhat, ess = _arviz.rhat(data), _arviz.ess(data)
    assert sorted(rhat) == sorted(ess) == ["minus_x", "x"]
    np.testing.assert_allclose(rhat["x"], float(np.asarray(az.rhat(x))), rtol=1e-12)
    ref_ess = float(np.asarray(az.ess(x, method="bulk")))
    np.testing.assert_allclose(ess["x"], ref_ess, rtol=1e-12)
    # rank-based: invariant under x -> -x up to ties (none in continuous draws)
    np.testing.assert_allclose(rhat["minus_x"], rhat["x"], rtol=1e-12)
    assert list(_arviz.rhat(data, var_names=["x"])) == ["x"]


def test_ess_of_ar1_reference():
    """AR(1): τ = (1 + φ)/(1 − φ) = 9. The relative SE of an estimated τ is
    √(2(2M + 1)/N) (Sokal) for N = 32000 draws and a window M ≈ 3τ = 27: 5.9%;
    15% is 2.5 SE."""
    phi = 0.8
    x = _ar1(phi, (8, 4000), seed=3)
    tau = (1 + phi) / (1 - phi)
    data = _arviz.to_arviz({"posterior": {"x": x}})
    np.testing.assert_allclose(_arviz.ess(data)["x"], x.size / tau, rtol=0.15)
    # mixed chains: R̂ − 1 ≈ √(2/(m − 1)) τ/(2n) ≈ 0.001 for m = 16 split chains of
    # n = 2000 draws; 0.01 is the convergence threshold itself
    assert abs(_arviz.rhat(data)["x"] - 1.0) < 0.01


def test_rhat_flags_a_displaced_chain():
    """One of 6 chains (of sd 1) moved by 2: the variance of the chain means is
    ≈ 4·5/36 ≈ 0.56 of the within-chain variance, R̂ ≈ √1.56 ≈ 1.25 ≫ 1.01."""
    x = _ar1(0.0, (6, 801), seed=1)
    data = _arviz.to_arviz({"posterior": {"x": x}})
    assert _arviz.rhat(data)["x"] < 1.01  # 12 split chains of 400: R̂ − 1 ≈ 0.001
    x[0] += 2.0
    assert _arviz.rhat(_arviz.to_arviz({"posterior": {"x": x}}))["x"] > 1.1


def test_diagnostics_of_constant_chains():
    data = _arviz.to_arviz({"posterior": {"x": np.ones((4, 10))}})
    assert np.isnan(_arviz.rhat(data)["x"])
    assert _arviz.ess(data)["x"] == 40.0


def test_diagnostics_need_a_posterior():
    no_posterior = _arviz.to_arviz({"observed_data": {"y": np.zeros(3)}})
    for diagnostic in (_arviz.rhat, _arviz.ess):
        with pytest.raises(ValueError, match="'posterior'"):
            diagnostic(no_posterior)
