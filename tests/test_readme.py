"""Every code snippet of the README runs as written, with finite results.

Python blocks run one by one, each in a fresh namespace (a user copies one at a
time) inside a temporary directory; afterwards every array and number the snippet
left behind must be finite. Snippets that run a whole closure test are slow.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

README = Path(__file__).parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")


def _blocks(language):
    """(heading, code) of every fenced block in ``language``, in order."""
    out, heading = [], "top"
    for part in re.split(r"(^#+ [^\n]*$|^```\w*\n.*?^```$)", TEXT, flags=re.M | re.S):
        if part.startswith("#"):
            heading = part.lstrip("# ").strip()
        elif part.startswith(f"```{language}\n"):
            out.append((heading, part[len(language) + 4 : -3]))
    return out


def _params(language, slow_if):
    return [
        pytest.param(
            code,
            id=f"{i}-{re.sub(r'[^a-z0-9]+', '-', heading.lower())[:30]}",
            marks=[pytest.mark.slow] if slow_if in code else [],
        )
        for i, (heading, code) in enumerate(_blocks(language))
    ]


def _numbers(value, depth=0):
    """Every float array or number reachable from ``value`` (through containers and
    the attributes of nngpbayes objects). Entries named after training times are
    left out: ∞ is a valid time (the end of training)."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
        yield value
    elif isinstance(value, float | np.floating):
        yield np.asarray(value)
    elif isinstance(value, tuple | list) and depth < 3:
        for v in value:
            yield from _numbers(v, depth + 1)
    elif depth < 3 and (
        isinstance(value, dict) or type(value).__module__.startswith("nngpbayes")
    ):
        items = value if isinstance(value, dict) else getattr(value, "__dict__", {})
        for name, v in items.items():  # e.g. a ClosureResult and its config
            if "time" not in str(name):
                yield from _numbers(v, depth + 1)


def test_the_readme_has_the_snippets_it_should():
    assert len(_blocks("python")) >= 5
    commands = [c for _, c in _blocks("bash")]
    assert any("nngpbayes closure-test" in c for c in commands)
    assert any("pytest" in c for c in commands)


@pytest.mark.parametrize("code", _params("python", slow_if="ClosureTest"))
def test_python_snippet_runs_with_finite_results(code, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__readme__"}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102
    found = 0
    for name, value in namespace.items():
        for arr in _numbers(value):
            found += 1
            assert np.isfinite(arr).all(), f"{name} holds NaN or inf"
    assert found > 0  # the snippet produced numbers to check


def _closure_commands():
    """The README's ``nngpbayes closure-test`` command lines other than the first
    (the first, the main job, is what CI's install step runs)."""
    out = []
    for _, code in _blocks("bash"):
        for line in code.replace("\\\n", " ").splitlines():
            if "nngpbayes closure-test" in line and "pip install" not in line:
                out.append(shlex.split(line.split("nngpbayes closure-test", 1)[1]))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("args", _closure_commands())
def test_closure_command_runs_as_written(args, tmp_path):
    cmd = [sys.executable, "-m", "nngpbayes.cli", "closure-test", *args]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / args[args.index("--out") + 1]
    assert (out / "closure.nc").exists() and (out / "summary.json").exists()
