"""Replace citations of the old theory notes file by references to the theory pages.

Usage::

    python3 docs/tools/replace_theory_citations.py FILE_OR_DIR [...] [--check]

Rewrites, in Python files (``.py``) and in text files (``.md``, ``.rst``), every

- ``<notes> §n``, where ``<notes>`` is the old file's name (``THEORY`` followed by
  ``.md``; spelled in pieces here so that this file cites nothing itself), also
  ``§n–m``, ``§n, §m``, ``§n and §m`` and any whitespace, even a line break,
  before ``§``: in docstrings and ``.rst`` files to the Sphinx reference
  ``:ref:`theory-n```; in Markdown to ``docs/theory [§n](docs/theory/<page>.rst)``;
  in comments and other strings to ``docs/theory §n``;
- the file's name alone (also with a relative path to the shared folder before it)
  to the theory index: in docstrings and ``.rst`` ``:ref:`theory```; in Markdown
  ``docs/theory/index.rst``; elsewhere ``docs/theory``.

Sections keep their numbers: §1 network and parametrisation, §2 loss and time, §3
kernels, §4 training dynamics, §5 finite width, §6 closure tests, §7 neural-tangents
(labels ``theory-1`` … ``theory-7``, pages under ``docs/theory/``). Only citations
are rewritten, nothing else; running the script twice changes nothing the second
time. ``--check`` only lists the files that would change (exit status 1 if any).
"""

from __future__ import annotations

import argparse
import ast
import bisect
import re
import sys
from pathlib import Path

# The old file's name, optionally after a relative path to the shared folder,
# then optional "§..."
_NAME = "THEORY" + r"\.md"
_SECTIONS = r"§\d(?:(?:–|-)\d|(?:,\s*|\s+and\s+)§\d)*"
_CITATION = re.compile(
    r"(?:(?:\.\./)?shared/)?" + _NAME + r"(?:(\s+)(" + _SECTIONS + r"))?"
)
_NUMBER = re.compile(r"§?(\d)")


def _sections_ref(sections: str) -> str:
    """``§3, §4`` -> ``:ref:`theory-3`, :ref:`theory-4```."""
    return _NUMBER.sub(lambda m: f":ref:`theory-{m.group(1)}`", sections)


#: The page of every section, under docs/theory/.
PAGES = {
    "1": "network",
    "2": "training",
    "3": "kernels",
    "4": "dynamics",
    "5": "finite_width",
    "6": "closure",
    "7": "neural_tangents",
}


def _markdown(sections: str) -> str:
    """``§3, §4`` -> ``[§3](docs/theory/kernels.rst), [§4](...)``."""
    return "docs/theory " + _NUMBER.sub(
        lambda m: f"[§{m.group(1)}](docs/theory/{PAGES[m.group(1)]}.rst)", sections
    )


def _replace(text: str, rst: bool, markdown: bool = False) -> str:
    """Rewrite every citation in ``text`` (reST references when ``rst``)."""

    def repl(match: re.Match) -> str:
        space, sections = match.group(1), match.group(2)
        if sections is None:
            if rst:
                return ":ref:`theory`"
            return "docs/theory/index.rst" if markdown else "docs/theory"
        if rst:  # a line break before "§" is kept, so lines do not grow
            return (space if "\n" in space else "") + _sections_ref(sections)
        if markdown:
            return _markdown(sections)
        plain = space if "\n" in space else " "
        return "docs/theory" + plain + sections

    return _CITATION.sub(repl, text)


def _docstring_lines(source: str) -> set[int]:
    """Line numbers (1-based) covered by the docstrings of ``source``."""
    lines = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if not isinstance(body, list) or not body:
            continue
        first = body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            if isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def rewrite_python(source: str) -> str:
    """Rewrite the citations of a Python source (docstrings get references)."""
    doc_lines = _docstring_lines(source)
    starts = [0] + [m.end() for m in re.finditer("\n", source)]

    def repl(match: re.Match) -> str:
        line = bisect.bisect_right(starts, match.start())
        return _replace(match.group(0), rst=line in doc_lines)

    return _CITATION.sub(repl, source)


def rewrite_file(path: Path) -> bool:
    """Rewrite ``path`` in place; returns whether it changed."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        new = rewrite_python(text)
    else:
        new = _replace(text, path.suffix == ".rst", path.suffix == ".md")
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


def _files(paths):
    for p in map(Path, paths):
        if p.is_dir():
            for ext in ("*.py", "*.md", "*.rst"):
                yield from sorted(p.rglob(ext))
        else:
            yield p


def main(argv=None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    changed = []
    for path in _files(args.paths):
        text = path.read_text(encoding="utf-8")
        if args.check:
            if path.suffix == ".py":
                new = rewrite_python(text)
            else:
                new = _replace(text, path.suffix == ".rst", path.suffix == ".md")
            if new != text:
                changed.append(path)
        elif rewrite_file(path):
            changed.append(path)
    for path in changed:
        print(path)
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
