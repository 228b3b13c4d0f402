r"""Real data: the BCDMS non-singlet structure function and its forward map.

:math:`Y = F_2^p - F_2^d` measured by BCDMS on proton and deuteron targets
depends at leading twist on the non-singlet :math:`T_3 = u + \bar u - d - \bar d`
alone, so :math:`Y = F\, xT_3(x_{\rm grid}, Q_0)` with one linear forward map
(Chiefa, Del Debbio, Kenway, arXiv:2512.24116).

- :func:`load_bcdms`: the 248 data points and their covariance, read at runtime
  from ``nnpdf-data`` (NNPDF, GPL-3.0; nothing is copied into nngpbayes).
- :func:`forward_map`: :math:`F` from HOPPET's NNLO evolution and structure
  functions (GPL-3.0, called at runtime), cached on disk.
- :func:`toy_t3`: the Les Houches toy :math:`xT_3`, a truth for closure tests.
- :func:`bcdms_problem`: grid inputs, preprocessed forward map, data, covariance
  and truth in one object.
- :func:`fit_bcdms`: the NNGP posterior of xT3 (emcee hyperparameters) and a
  trained [28, 20] tanh ensemble on the real data, with summary, netCDF and
  figures (``nngpbayes fit --problem bcdms-t3``).
- :func:`bcdms_closure_test`: the closure test of this problem with the toy as
  truth (``nngpbayes closure-test --problem bcdms-t3``).

Needs the optional extra: ``pip install "nngpbayes[pdf]"``.

Cache: forward maps are stored as ``.npz`` files in the ``cache_dir`` argument,
else ``$NNGPBAYES_CACHE_DIR``, else ``$XDG_CACHE_HOME/nngpbayes``, else
``~/.cache/nngpbayes``; delete the files to force a rebuild.
"""

import os
from importlib.util import find_spec

_MISSING = [name for name in ("nnpdf_data", "hoppet") if find_spec(name) is None]
if _MISSING:
    raise ImportError(
        "nngpbayes.pdf needs the optional dependencies nnpdf-data and hoppet "
        f"(missing: {', '.join(_MISSING)}); install them with: "
        'pip install "nngpbayes[pdf]"'
    )

# HOPPET's Fortran banner must not outlive the silencing around HOPPET calls:
# unbuffered gfortran units, read once when HOPPET is first imported.
os.environ.setdefault("GFORTRAN_UNBUFFERED_PRECONNECTED", "y")

from ._data import BCDMSData, load_bcdms  # noqa: E402
from ._fit import fit_bcdms  # noqa: E402
from ._fit_closure import bcdms_closure_test  # noqa: E402
from ._fk import forward_map  # noqa: E402
from ._problem import BCDMSProblem, bcdms_problem, preprocessing_factor  # noqa: E402
from ._toy import toy_t3  # noqa: E402

__all__ = [
    "BCDMSData",
    "BCDMSProblem",
    "bcdms_closure_test",
    "bcdms_problem",
    "fit_bcdms",
    "forward_map",
    "load_bcdms",
    "preprocessing_factor",
    "toy_t3",
]
