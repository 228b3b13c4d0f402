"""``nngpbayes fit --problem bcdms-t3``: outputs, their consistency with the
problem's arrays, and bad settings stopped before any work (quick settings)."""

import json

import numpy as np
import pytest

pytest.importorskip("nnpdf_data")
# nngpbayes.pdf checks for hoppet without importing it (its Fortran runtime is
# configured on first use), so it stands in for importorskip("hoppet").
pytest.importorskip("nngpbayes.pdf", exc_type=ImportError)

from nngpbayes.cli import main  # noqa: E402
from nngpbayes.closure import from_netcdf, get_group  # noqa: E402
from nngpbayes.pdf import bcdms_problem, preprocessing_factor, toy_t3  # noqa: E402
from nngpbayes.pdf._fit import chi2_per_point  # noqa: E402

N_GRID = 12
QUICK = [
    "--n-grid", str(N_GRID), "--n-plot", str(N_GRID), "--n-walkers", "6",
    "--n-steps", "30", "--burn", "10", "--n-draws", "8", "--n-members", "4",
    "--train-time", "0.01", "--n-jobs", "1", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Same session cache directory as the other BCDMS tests."""
    path = tmp_path_factory.getbasetemp() / "nngpbayes-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def fitted(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNGPBAYES_CACHE_DIR", str(cache))
        code = main(["fit", "--problem", "bcdms-t3", "--out", str(out), *QUICK])
        prob = bcdms_problem(N_GRID, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    return code, out, summary, prob


def test_chi2_per_point_matches_the_diagonal_closed_form():
    rng = np.random.default_rng(0)
    y, pred, sigma = rng.normal(size=(3, 7))
    expected = np.mean(((pred - y) / sigma) ** 2)
    assert chi2_per_point(pred, y, np.diag(sigma**2)) == pytest.approx(expected)


def test_fit_writes_summary_netcdf_and_figures(fitted):
    code, out, summary, _ = fitted
    assert code == 0
    for name in ("summary.json", "hyperparameters.nc", "xt3.png", "data.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "ntk.png").stat().st_size > 0
    n = len(summary["x"])
    assert n == N_GRID
    for key in ("mean", "std", "toy"):
        assert len(summary[key]) == n and np.all(np.isfinite(summary[key]))
    assert np.all(np.asarray(summary["std"]) > 0)
    assert summary["ensemble"]["n_members"] == 4
    data = from_netcdf(out / "hyperparameters.nc")
    cw = np.asarray(get_group(data, "posterior")["weight_variance"])
    assert cw.shape == (6, 30 - 10)  # walkers x (steps - burn)


def test_posterior_mean_times_preprocessing_reproduces_its_chi2(fitted):
    # n_plot == n_grid puts the output x on the fit grid, so xT3 / p there is
    # the network-space mean whose chi2 the summary reports.
    _, _, summary, prob = fitted
    x = np.asarray(summary["x"])
    np.testing.assert_allclose(x, prob.x_grid, rtol=1e-12)
    f = np.asarray(summary["mean"]) / preprocessing_factor(x, prob.alpha, prob.beta)
    r = prob.forward_map @ f - prob.y
    chi2 = r @ np.linalg.solve(prob.cov, r) / len(r)
    assert summary["chi2_per_point"] == pytest.approx(chi2, rel=1e-8)
    toy = prob.fk @ np.asarray(summary["toy"]) - prob.y
    expected_toy = toy @ np.linalg.solve(prob.cov, toy) / len(toy)
    assert summary["chi2_per_point_toy"] == pytest.approx(expected_toy, rel=1e-8)


@pytest.mark.parametrize(
    "argv, shown",
    [
        (["--n-members", "1"], "n_members"),
        (["--n-steps", "10", "--burn", "10"], "burn"),
        (["--n-walkers", "2"], "n_walkers"),
        (["--train-time", "0"], "train_time"),
        (["--activation", "nope"], "nope"),
    ],
)
def test_bad_fit_settings_exit_2_before_any_work(tmp_path, capsys, argv, shown):
    out = tmp_path / "out"
    argv = ["fit", "--problem", "bcdms-t3", "--out", str(out), *argv]
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "nngpbayes fit: error:" in err and shown in err
    assert not out.exists()


def test_cli_closure_defaults_are_the_modules(cache, monkeypatch):
    """The Python builder applies the defaults the command line shows."""
    from nngpbayes._presets import BCDMS_CLOSURE_DEFAULTS as d
    from nngpbayes.pdf import bcdms_closure_test

    monkeypatch.setenv("NNGPBAYES_CACHE_DIR", str(cache))
    test = bcdms_closure_test(n_grid=N_GRID, progress=False)
    assert test.n_fits == d["n_fits"] and test.n_replicas == d["n_replicas"]
    assert list(test.times) == d["times"] and list(test.widths) == d["widths"]
    assert test.ensemble_steps == d["ensemble_steps"]
    assert test.inference_steps == d["inference_steps"]
    assert test.architecture.depth == d["depth"]
    assert test.architecture.weight_variance[0] == d["weight_variance"]


def test_toy_truth_is_the_toy_over_the_preprocessing(cache, monkeypatch):
    from nngpbayes.pdf._fit_closure import ToyTruth

    monkeypatch.setenv("NNGPBAYES_CACHE_DIR", str(cache))
    prob = bcdms_problem(N_GRID, progress=False)
    truth = ToyTruth(prob.alpha, prob.beta)
    np.testing.assert_allclose(truth(prob.X), prob.truth, rtol=1e-13)
    x = np.array([0.1, 0.5])
    expected = toy_t3(x) / (np.sqrt(x) * (1 - x) ** 3)  # default (0.5, 3)
    np.testing.assert_allclose(truth(np.column_stack([x, np.log(x)])), expected)


def test_closure_test_problem_runs_with_the_real_map(cache, tmp_path, capsys):
    out = tmp_path / "ct"
    argv = [
        "closure-test", "--problem", "bcdms-t3", "--n-train", str(N_GRID),
        "--n-fits", "2", "--n-replicas", "3", "--widths", "8",
        "--ensemble-steps", "20", "--inference-steps", "40", "--n-jobs", "1",
        "--out", str(out), "--no-progress",
    ]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNGPBAYES_CACHE_DIR", str(cache))
        with pytest.warns(UserWarning):  # 40 emcee steps do not converge
            assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["n_train"] == N_GRID
    assert "ToyTruth" in summary["config"]["truth"]
    assert "erf" in summary["config"]["architecture"].lower()
    assert "posterior" in capsys.readouterr().out


def test_closure_test_problem_rejects_a_user_map(tmp_path, capsys):
    path = tmp_path / "F.npy"
    np.save(path, np.eye(3))
    argv = ["closure-test", "--problem", "bcdms-t3", "--forward-map", str(path)]
    assert main([*argv, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "--forward-map cannot be combined" in capsys.readouterr().err
