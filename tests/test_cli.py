"""The ``nngpbayes`` command line: help, and bad arguments stopped before any fit."""

import json

import numpy as np
import pytest

from nngpbayes.cli import main


def test_help_lists_the_closure_test_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["closure-test", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--widths" in out and "--times" in out and "--out" in out


@pytest.mark.parametrize(
    "argv, shown",
    [
        (["--widths", "0"], "argument --widths: must be at least 1, got 0"),
        (["--widths", "-5"], "argument --widths: must be at least 1, got -5"),
        (["--n-fits", "0"], "argument --n-fits: must be at least 1, got 0"),
        (["--times", "-1"], "argument --times: must be >= 0 (or inf), got -1"),
        (["--n-train", "1"], "argument --n-train: must be at least 2, got 1"),
        (["--n-replicas", "1"], "argument --n-replicas: must be at least 2, got 1"),
        (["--n-jobs", "0"], "argument --n-jobs: must be a positive number"),
        (["--weight-variance", "0"], "argument --weight-variance: must be positive"),
        (["--activation", "nope"], "argument --activation: invalid choice: 'nope'"),
    ],
)
def test_bad_settings_exit_with_code_2_naming_the_option(tmp_path, capsys, argv, shown):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["closure-test", *argv, "--out", str(out), "--no-progress"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "nngpbayes closure-test: error:" in err and shown in err
    assert "[" not in err.split("error:")[1]  # no internal arrays or lists leak
    assert not out.exists()  # nothing was run or written


def test_a_setting_the_closure_test_rejects_leaves_no_output(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["closure-test", "--bias-variance", "-1", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "nngpbayes closure-test: error:" in err and "bias_variance" in err
    assert not out.exists()


def test_a_time_that_is_not_a_number_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["closure-test", "--times", "soon"])
    assert exit_info.value.code == 2
    assert "expected a number or 'inf', got 'soon'" in capsys.readouterr().err


def _fk_files(tmp_path, n_data=5, n_grid=20):
    F = np.tril(np.ones((n_grid, n_grid)))[n_grid // n_data - 1 :: n_grid // n_data]
    F = F[:n_data] / n_grid
    f_path, c_path = tmp_path / "fk.npy", tmp_path / "cov.npy"
    np.save(f_path, F)
    np.save(c_path, np.diag(np.full(n_data, 1e-4)) + 2e-5)
    return F, f_path, c_path


@pytest.mark.parametrize(
    "extra, shown",
    [
        (["--n-train", "7"], "needs one column per grid point, (n_data, 7)"),
        (["--data-cov", "BAD_COV"], "must be (5, 5) or (5,)"),
        (["--data-cov", "MISSING"], "--data-cov"),
    ],
)
def test_forward_map_files_are_checked_before_any_fit(tmp_path, capsys, extra, shown):
    _, f_path, _ = _fk_files(tmp_path)
    np.save(tmp_path / "bad.npy", np.eye(4))
    extra = [
        str(tmp_path / "bad.npy")
        if a == "BAD_COV"
        else str(tmp_path / "none.npy")
        if a == "MISSING"
        else a
        for a in extra
    ]
    out = tmp_path / "out"
    argv = ["closure-test", "--forward-map", str(f_path), *extra, "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "nngpbayes closure-test: error:" in err and shown in err
    assert not out.exists()


def test_closure_test_through_a_forward_map_from_files(tmp_path, capsys):
    """The grid size follows the map's columns; every method runs through F."""
    _, f_path, c_path = _fk_files(tmp_path)
    out = tmp_path / "out"
    argv = ["closure-test", "--forward-map", str(f_path), "--data-cov", str(c_path)]
    argv += ["--truth", "pdf", "--n-fits", "2", "--n-replicas", "4", "--widths", "16"]
    argv += ["--ensemble-steps", "20", "--times", "inf", "--depth", "1"]
    argv += ["--inference-steps", "20", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["n_train"] == 20
    table = capsys.readouterr().out
    assert "ensemble n=16" in table and "posterior" in table


def test_fit_help_needs_no_extra_and_names_it(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--problem" in out and "--n-members" in out and "nngpbayes[pdf]" in out


def test_fit_without_the_pdf_extra_exits_2_naming_it(monkeypatch, tmp_path, capsys):
    import importlib.util
    import sys

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "hoppet" else real_find_spec(name, *args, **kwargs)

    for name in [m for m in sys.modules if m.startswith("nngpbayes.pdf")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    out = tmp_path / "out"
    assert main(["fit", "--problem", "bcdms-t3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nngpbayes fit: error:" in err and 'pip install "nngpbayes[pdf]"' in err
    assert not out.exists()
