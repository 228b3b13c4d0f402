"""Command line of the gallery scripts (sphinx-gallery's ``reset_argv``).

The scripts of ``examples/`` take ``--out PATH``; the gallery sends their files to
``$NNGPBAYES_DOCS_OUT`` (default: a temporary directory), never into the
repository. A class named by a string keeps Sphinx's configuration picklable.
"""

import os
import tempfile
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class ResetArgv:
    """``sys.argv[1:]`` for one gallery script."""

    def __init__(self):
        out = os.environ.get("NNGPBAYES_DOCS_OUT")
        self.out = Path(out) if out else Path(tempfile.mkdtemp(prefix="nngpdoc"))

    def __repr__(self):
        return "ResetArgv"

    def __call__(self, gallery_conf, script_vars):
        """``--out`` for the scripts of ``examples/``; nothing for the others."""
        src = Path(script_vars["src_file"])
        if src.parent != EXAMPLES:
            return []
        suffix = "" if src.stem == "closure_test" else ".png"
        return ["--out", str(self.out / f"{src.stem}{suffix}")]


#: The instance ``docs/conf.py`` names in ``sphinx_gallery_conf["reset_argv"]``.
reset_argv = ResetArgv()
