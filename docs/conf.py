"""Sphinx configuration of the nngpbayes documentation.

Build the site with ``sphinx-build -W -b html docs build/html`` (after
``pip install ".[docs]"``). The gallery executes the scripts of ``examples/``;
``NNGPBAYES_DOCS_OUT`` sets where they write their files (default: a temporary
directory), so that a build never writes into the source tree.
"""

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "sphinxext"))

import nngpbayes  # noqa: E402

project = "nngpbayes"
author = "the nngpbayes developers"
copyright = "the nngpbayes developers"  # noqa: A001
release = nngpbayes.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "build", "guide_examples", "**.ipynb", "**.codeobj.json"]
templates_path = ["_templates"]
root_doc = "index"
language = "en"

# -- API reference ----------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc gives the types, with shapes
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# Cross-references to other projects are resolved only where their inventories
# can be fetched; the build has no network in CI, so none are required.
intersphinx_mapping = {}

# The pages of docs/api/modules/ are written here, at every build, from the
# ``__all__`` of each public module, so the reference lists whatever the package
# exports (a module that is not importable gets a page saying so).
API_MODULES = {
    "nngpbayes": "Top level",
    "nngpbayes.kernels": "Kernels",
    "nngpbayes.activations": "Activations",
    "nngpbayes.dynamics": "Training dynamics",
    "nngpbayes.networks": "Finite-width networks",
    "nngpbayes.finite_width": "The 1/n expansion",
    "nngpbayes.closure": "Closure tests and inference",
    "nngpbayes.diagnostics": "Training diagnostics",
    "nngpbayes.pdf": "Real data: parton distributions",
    "nngpbayes.plotting": "Figures",
}


def _public_names(module):
    """Public callables and classes of ``module`` not documented at the top level."""
    names = []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name, None)
        if name.startswith("_") or not callable(obj):
            continue
        if module.__name__ != "nngpbayes" and getattr(nngpbayes, name, None) is obj:
            continue  # documented once, under nngpbayes.<name>
        names.append(name)
    return names


def _data_names(module):
    """Public constants of ``module`` (documented with ``autodata``)."""
    return [
        name
        for name in getattr(module, "__all__", [])
        if not name.startswith("_") and not callable(getattr(module, name, None))
    ]


def _api_page(modname, title):
    """reST of the reference page of ``modname``."""
    head = f"{modname}: {title}"
    lines = [f".. _api-{modname}:", "", head, "=" * len(head), ""]
    try:
        module = importlib.import_module(modname)
    except ImportError:
        lines += [f"``{modname}`` is not part of this version of nngpbayes.", ""]
        return "\n".join(lines)
    lines += [f".. automodule:: {modname}", "   :no-members:", ""]
    names = _public_names(module)
    if names:
        lines += [".. currentmodule:: " + modname, "", ".. autosummary::"]
        lines += ["   :toctree: ../generated", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in names] + [""]
    data = [n for n in _data_names(module) if n != "__version__"]
    if data:
        lines += ["Constants", "---------", ""]
        for name in data:
            lines += [f".. autodata:: {modname}.{name}", "   :no-value:", ""]
    return "\n".join(lines)


def _write_if_changed(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _cli_help():
    """The text of ``nngpbayes closure-test --help``."""
    import contextlib
    import io

    try:
        from nngpbayes import cli
    except ImportError as exc:  # keep the site buildable; say why the text is missing
        return f"(nngpbayes.cli could not be imported: {exc})\n"
    buf, columns = io.StringIO(), os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal width
    with contextlib.redirect_stdout(buf), contextlib.suppress(SystemExit):
        cli.main(["closure-test", "--help"])
    if columns is None:
        del os.environ["COLUMNS"]
    else:
        os.environ["COLUMNS"] = columns
    return buf.getvalue()


for _mod, _title in API_MODULES.items():
    _write_if_changed(DOCS / "api" / "modules" / f"{_mod}.rst", _api_page(_mod, _title))
_write_if_changed(DOCS / "api" / "modules" / "cli_help.txt", _cli_help())

_SKLEARN_ROUTING = re.compile(r"^set_\w+_request$")
_CODE = re.compile(r"(``.*?``|`[^`]*`)")
_BARS = re.compile(r"(?<![\\|])\|(\w[^|`]*)\|")
_CITATION_DEF = re.compile(r"^\s*\.\. \[([\w-]+)\]")
_CITATION_USE = re.compile(r"\[([\w-]+)\]_")
_TRAILING = re.compile(r"(?<![\w`*\\])([A-Za-z]\w*_)(?=[\s,.;:)]|$)")


def _skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated metadata-routing methods."""
    if _SKLEARN_ROUTING.match(name):
        return True
    return None


def _escape_prose(line):
    """Escape ``|x|`` and ``name_`` in the prose (not code) parts of a line."""
    parts = _CODE.split(line)
    for i in range(0, len(parts), 2):
        parts[i] = _BARS.sub(r"\\|\1\\|", parts[i])
        parts[i] = _TRAILING.sub(r"``\1``", parts[i])
    return "".join(parts)


def _literal_prose(app, what, name, obj, options, lines):
    """Read docstrings as plain prose where reST would misread them.

    Docstrings use ``|x|`` for absolute values and fitted attribute names such as
    ``n_outputs_`` in running text; reST reads those as substitutions and link
    targets. Outside code, math roles and directive blocks they are escaped. A
    citation ``[1]_`` whose reference list is in another docstring (the module's)
    becomes plain ``[1]``.
    """
    defined = {m.group(1) for m in map(_CITATION_DEF.match, lines) if m}
    block_indent = None
    for i, line in enumerate(lines):
        # "[1]_" citing a reference list of another docstring (e.g. the module's)
        lines[i] = line = _CITATION_USE.sub(
            lambda m: m.group(0) if m.group(1) in defined else f"[{m.group(1)}]", line
        )
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if line.strip() and indent <= block_indent:
                block_indent = None
            else:
                continue
        if line.lstrip().startswith(".. "):
            block_indent = indent
            continue
        if line.rstrip().endswith("::"):
            block_indent = indent
        lines[i] = _escape_prose(line)


def setup(app):
    """Connect the docstring hooks."""
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _literal_prose, priority=600)


# -- Math --------------------------------------------------------------------
# MathJax (sphinx.ext.mathjax, the default renderer) typesets the formulas of the
# theory pages and of the docstrings.

# -- Gallery -----------------------------------------------------------------
# The gallery runs the lighter setting of the slowest example (see its header);
# NNGPBAYES_GALLERY_QUICK=0 runs every example exactly as written.
os.environ.setdefault("NNGPBAYES_GALLERY_QUICK", "1")

# Examples shown in the gallery but not executed, with the reason; remove an entry
# once the script runs under sphinx-gallery (which sets ``__doc__`` to "").
NOT_EXECUTED = {}
if not all(importlib.util.find_spec(m) for m in ("nnpdf_data", "hoppet")):
    NOT_EXECUTED["bcdms_t3.py"] = "needs the [pdf] extra (nnpdf-data, hoppet)"
_EXECUTED = r"^(?!.*[/\\](?:" + "|".join(map(re.escape, NOT_EXECUTED)) + r")$).*\.py$"

sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples"), str(DOCS / "guide_examples")],
    "gallery_dirs": ["auto_examples", "auto_guide_examples"],
    "filename_pattern": _EXECUTED if NOT_EXECUTED else r"\.py$",
    "ignore_pattern": r"__init__\.py",
    "reset_argv": "gallery_argv.reset_argv",
    "download_all_examples": False,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    "min_reported_time": 1,
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"nngpbayes {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
html_context = {"default_mode": "light"}
