"""Without the [pdf] extra, importing nngpbayes.pdf names the extra to install.

Runs with or without the extra: the missing packages are simulated by making
``importlib.util.find_spec`` report them absent.
"""

import importlib
import importlib.util
import sys

import pytest

import nngpbayes


@pytest.mark.parametrize("missing", ["hoppet", "nnpdf_data"])
def test_import_without_extra_names_it(monkeypatch, missing):
    real = importlib.util.find_spec

    def fake(name, *args, **kwargs):
        return None if name == missing else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    for name in [m for m in sys.modules if m.startswith("nngpbayes.pdf")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delattr(nngpbayes, "pdf", raising=False)
    with pytest.raises(ImportError, match=r'pip install "nngpbayes\[pdf\]"') as err:
        importlib.import_module("nngpbayes.pdf")
    assert missing in str(err.value)
