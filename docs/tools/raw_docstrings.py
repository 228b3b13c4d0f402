r"""Make docstrings whose only escapes are ``\\`` raw strings (ruff D301).

Usage::

    python3 docs/tools/raw_docstrings.py FILE [...]

A docstring holding ``\\frac`` becomes a raw docstring holding ``\frac``: the same
value. Docstrings with any other escape (``\n``, a backslash-newline line
continuation, ...) are left alone and listed, to be fixed by hand.
"""

import ast
import io
import sys
import tokenize
from pathlib import Path


def _docstring_lines(source):
    """First lines of the docstrings of ``source``."""
    lines = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                lines.add(body[0].lineno)
    return lines


def rewrite(path):
    """Rewrite the docstrings of ``path``; returns the number changed."""
    src = Path(path).read_text(encoding="utf-8")
    doc_lines = _docstring_lines(src)
    offsets = [0]
    for line in src.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    edits = []
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        text = tok.string
        if tok.type != tokenize.STRING or tok.start[0] not in doc_lines:
            continue
        if not text.startswith('"""') or "\\" not in text:
            continue
        body = text[3:-3]
        new = body.replace("\\\\", "\\")
        if "\\" in body.replace("\\\\", "") or new.endswith("\\") or '"""' in new:
            print(f"{path}:{tok.start[0]}: other escapes, left alone")
            continue
        start = offsets[tok.start[0] - 1] + tok.start[1]
        end = offsets[tok.end[0] - 1] + tok.end[1]
        edits.append((start, end, 'r"""' + new + '"""'))
    for start, end, new in reversed(edits):
        src = src[:start] + new + src[end:]
    if edits:
        Path(path).write_text(src, encoding="utf-8")
    return len(edits)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        if n := rewrite(name):
            print(name, n)
