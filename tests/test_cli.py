"""The ``nngpbayes`` command line: help, and bad arguments stopped before any fit."""

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
        (["--widths", "0"], "widths[0]"),
        (["--widths", "-5"], "widths[0]"),
        (["--n-fits", "0"], "n_fits"),
        (["--times", "-1"], "times"),
        (["--n-train", "0"], "X_train"),
    ],
)
def test_bad_settings_exit_with_code_2_naming_the_argument(
    tmp_path, capsys, argv, shown
):
    out = tmp_path / "out"
    assert main(["closure-test", *argv, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "nngpbayes closure-test: error:" in err and shown in err
    assert not out.exists()  # nothing was run or written


def test_a_time_that_is_not_a_number_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["closure-test", "--times", "soon"])
    assert exit_info.value.code == 2
    assert "expected a number or 'inf', got 'soon'" in capsys.readouterr().err
