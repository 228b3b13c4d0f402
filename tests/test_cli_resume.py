"""The closure-test command with an hour of compute: --out checked first, --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nngpbayes import __version__
from nngpbayes.cli import main

# small enough for seconds, long enough (8 fits) to be killed in the middle
ARGS = [
    "closure-test",
    "--n-fits",
    "8",
    "--n-replicas",
    "3",
    "--widths",
    "32",
    "--ensemble-steps",
    "300",
    "--n-train",
    "12",
    "--n-test",
    "8",
    "--no-inference",
    "--n-jobs",
    "1",
    "--no-progress",
]


def _run(out, *extra):
    return subprocess.run(
        [sys.executable, "-m", "nngpbayes.cli", *ARGS, "--out", str(out), *extra],
        capture_output=True,
        text=True,
        check=True,
    )


def _metrics(out):
    return json.loads((Path(out) / "summary.json").read_text())["metrics"]


def test_sigkill_in_the_middle_then_resume_gives_the_uninterrupted_summary(tmp_path):
    whole = tmp_path / "whole"
    _run(whole)
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "nngpbayes.cli", *ARGS, "--out", str(killed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fits = killed / "fits"
    deadline = time.monotonic() + 120
    while not (fits / "fit-00002.npz").exists():  # a few fits done, more to come
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(fits.glob("fit-*.npz"))
    assert 3 <= len(done) < 8  # killed in the middle of the run
    assert not (killed / "summary.json").exists()
    resumed = _run(killed, "--resume")
    assert resumed.returncode == 0
    got, expected = _metrics(killed), _metrics(whole)
    assert got.keys() == expected.keys()
    for label in got:  # equal to rounding (bootstrap errors are differences)
        assert got[label] == pytest.approx(expected[label], rel=1e-8, abs=1e-12)
    assert len(list(fits.glob("fit-*.npz"))) == 8


def _fails_fast(argv, capsys):
    start = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - start < 1.0  # before any computation
    return capsys.readouterr().err


def test_out_that_is_an_existing_file_fails_at_once(tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    err = _fails_fast([*ARGS, "--out", str(target)], capsys)
    assert f"--out '{target}' is an existing file, not a directory" in err
    assert target.read_text() == "keep me"


def _writable(path):
    try:
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


@pytest.mark.skipif(
    not os.path.isdir("/sys") or _writable("/sys"),
    reason="needs /sys, a directory read-only even for root",
)
def test_out_on_a_read_only_directory_fails_at_once(capsys):
    err = _fails_fast([*ARGS, "--out", "/sys/nngpbayes-out"], capsys)
    assert "--out '/sys/nngpbayes-out' is not a writable directory" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into mode-555 directories")
def test_out_in_a_mode_555_directory_fails_at_once(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    err = _fails_fast([*ARGS, "--out", str(ro)], capsys)
    assert "is not a writable directory" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"nngpbayes {__version__}"


def test_every_option_states_its_default():
    from nngpbayes.cli import _parser

    sub = _parser()._subparsers._group_actions[0].choices["closure-test"]
    options = {a.option_strings[-1]: a.help for a in sub._actions if a.option_strings}
    assert "--scheduler" in options and "--resume" in options
    for option, text in options.items():
        if option != "--help":
            assert text and "default" in text, f"{option} states no default"


def test_the_defaults_are_closure_tests_unless_overridden():
    """One source: ClosureTest's signature, then the CLI's named overrides."""
    import inspect

    from nngpbayes._cli_options import closure_defaults
    from nngpbayes._presets import CLI_CLOSURE_OVERRIDES
    from nngpbayes.cli import _parser
    from nngpbayes.closure import ClosureTest

    lib, cli = closure_defaults()
    args = _parser().parse_args(["closure-test"])
    sig = inspect.signature(ClosureTest).parameters
    for name in ("level", "n_fits", "n_replicas", "ensemble_steps", "truth"):
        expected = CLI_CLOSURE_OVERRIDES.get(name, sig[name].default)
        assert getattr(args, name) == expected == cli[name]
    assert args.times == list(CLI_CLOSURE_OVERRIDES["times"])
    assert args.seed == sig["random_state"].default
    assert args.inference_steps == sig["inference_steps"].default
    assert args.inference_walkers == sig["inference_walkers"].default
    assert lib["n_replicas"] == sig["n_replicas"].default != cli["n_replicas"]
