"""The BCDMS non-singlet structure function Y = F2p - F2d from nnpdf-data (private).

The data are read at runtime from the installed ``nnpdf-data`` package (GPL-3.0):
nothing of it is copied into nngpbayes.

References
----------
.. [1] BCDMS collaboration, Phys. Lett. B223 (1989) 485 (proton) and B237 (1990)
   592 (deuteron).
.. [2] NNPDF collaboration, "The path to proton structure at 1% accuracy",
   arXiv:2109.02653 (NNPDF4.0: the DIS cuts W^2 > 12.5 GeV^2, Q^2 > 3.49 GeV^2).
.. [3] M. N. Chiefa, L. Del Debbio, R. Kenway, arXiv:2512.24116 (this problem).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from .._validation import check_real
from ._cache import cache_dir as _cache_dir
from ._cache import cache_key, load_arrays, save_arrays
from ._covariance import difference_covariance

__all__ = ["BCDMSData", "load_bcdms", "raw_commondata"]

# Nominal muon beam energies (GeV); the proton file has all four, the deuteron's
# has no 100 GeV points.
BEAM_ENERGIES = np.array([100.0, 120.0, 200.0, 280.0])
PROTON_MASS = 0.938272  # GeV, only used to recover the beam energy from y
VARIANT = "legacy_dw"
_COLUMNS = ["x", "q2", "beam_energy", "w2", "y_p", "y_d", "f2p", "f2d"]
_COLUMNS += ["index_p", "index_d"]


@dataclasses.dataclass(frozen=True, eq=False)
class BCDMSData:
    """BCDMS :math:`Y = F_2^p - F_2^d` (per nucleon) at paired kinematics.

    Attributes
    ----------
    x, q2 : ndarray of shape (n,)
        Bjorken x and :math:`Q^2` (GeV²).
    y : ndarray of shape (n,)
        :math:`F_2^p - F_2^d` central values.
    cov : ndarray of shape (n, n)
        Experimental covariance (statistical + systematic, P/D correlated).
    kinematics : pandas.DataFrame of shape (n, 10)
        Columns ``x``, ``q2``, ``beam_energy``, ``w2``, ``y_p``/``y_d``
        (inelasticities), ``f2p``, ``f2d``, ``index_p``/``index_d`` (0-based rows
        in the ``legacy_dw`` commondata tables).
    """

    x: np.ndarray
    q2: np.ndarray
    y: np.ndarray
    cov: np.ndarray
    kinematics: pd.DataFrame

    @property
    def n_data(self) -> int:
        """Number of points."""
        return int(self.y.shape[0])


def raw_commondata(target: str):
    """nnpdf-data's ``CommonData`` of ``BCDMS_NC_NOTFIXED_<target>`` (``legacy_dw``).

    Parameters
    ----------
    target : {"P", "D"}

    Returns
    -------
    nnpdf_data.coredata.CommonData
    """
    import nnpdf_data
    from nnpdf_data.commondataparser import load_commondata, parse_new_metadata

    if target not in ("P", "D"):
        raise ValueError(f"target must be 'P' or 'D', got {target!r}")
    root = Path(nnpdf_data.__file__).parent / "commondata"
    meta = root / f"BCDMS_NC_NOTFIXED_{target}" / "metadata.yaml"
    return load_commondata(parse_new_metadata(meta, "EM-F2", variant=VARIANT))


def _table(cd) -> pd.DataFrame:
    """x, Q², inelasticity and nominal beam energy of one commondata, file order."""
    kin = cd.kinematics.to_numpy(dtype=np.float64)
    x, q2, y = kin[:, 0], kin[:, 1], kin[:, 2]
    energy = q2 / (2.0 * PROTON_MASS * x * y)  # y = Q^2 / (2 M E x)
    nominal = BEAM_ENERGIES[np.argmin(np.abs(energy[:, None] - BEAM_ENERGIES), 1)]
    if np.max(np.abs(energy / nominal - 1.0)) > 0.05:  # y is rounded to 4 digits
        raise RuntimeError("BCDMS beam energies not recognised; nnpdf-data changed?")
    return pd.DataFrame({"x": x, "q2": q2, "beam_energy": nominal, "y": y})


def pair_points(cd_p, cd_d) -> pd.DataFrame:
    """Proton/deuteron pairs on equal (x, Q², beam energy), proton-file order.

    Returns
    -------
    DataFrame of shape (n_pairs, 7)
        ``x``, ``q2``, ``beam_energy``, ``y_p``, ``y_d``, ``index_p``, ``index_d``.
    """
    tp, td = _table(cd_p), _table(cd_d)
    tp["index_p"], td["index_d"] = np.arange(len(tp)), np.arange(len(td))
    keys = ["x", "q2", "beam_energy"]
    merged = tp.merge(td, on=keys, how="inner", suffixes=("_p", "_d"), validate="1:1")
    return merged.sort_values("index_p", kind="stable").reset_index(drop=True)


def load_bcdms(
    *,
    cuts: bool = True,
    w2_min: float = 12.5,
    q2_min: float = 3.49,
    cache: bool = True,
    cache_dir=None,
):
    r"""BCDMS :math:`Y = F_2^p - F_2^d` with its full experimental covariance.

    Construction (issue 13; [3]_): both targets' ``EM-F2`` data in nnpdf-data's
    ``legacy_dw`` variant (the deuteron's carries 100 nuclear-uncertainty columns
    ``DEUTERON0..99``; the proton's names its systematics as the deuteron's do).
    Points are paired on equal (x, Q², beam energy), 254 pairs, in the proton
    file's order; NNPDF4.0's DIS cuts [2]_

    .. math:: W^2 = Q^2 (1 - x)/x > w2\_min, \qquad Q^2 > q2\_min

    leave 248. Additive uncertainties are used as given, multiplicative ones
    relative to the data central values; systematics of the same name are fully
    correlated between P and D, so the covariance of :math:`Y` is
    :math:`C_{pp} + C_{dd} - C_{pd} - C_{dp}` (``CORR`` columns stay within their
    target).

    Parameters
    ----------
    cuts : bool, default=True
        Apply the kinematic cuts; False keeps all 254 pairs.
    w2_min, q2_min : float, default=12.5, 3.49
        Cut values in GeV².
    cache : bool, default=True
        Keep the assembled arrays in the on-disk cache (see :mod:`nngpbayes.pdf`):
        nnpdf-data's pure-Python YAML reader takes several seconds.
    cache_dir : str or os.PathLike, optional
        Overrides ``NNGPBAYES_CACHE_DIR`` / ``XDG_CACHE_HOME``.

    Returns
    -------
    BCDMSData

    Raises
    ------
    ImportError
        Without ``nnpdf-data`` (``pip install "nngpbayes[pdf]"``).
    """
    w2_min = check_real(w2_min, "w2_min")
    q2_min = check_real(q2_min, "q2_min")
    path = _data_cache_path(bool(cuts), w2_min, q2_min, cache_dir)
    if cache and (arrays := load_arrays(path)) is not None:
        return _from_arrays(arrays)
    arrays = _assemble(bool(cuts), w2_min, q2_min)
    if cache:
        save_arrays(path, arrays)
    return _from_arrays(arrays)


def _assemble(cuts: bool, w2_min: float, q2_min: float) -> dict:
    """Pair, cut and build the covariance from nnpdf-data (see :func:`load_bcdms`)."""
    cd_p, cd_d = raw_commondata("P"), raw_commondata("D")
    pairs = pair_points(cd_p, cd_d)
    pairs["w2"] = pairs["q2"] * (1.0 - pairs["x"]) / pairs["x"]
    if cuts:
        keep = (pairs["w2"] > w2_min) & (pairs["q2"] > q2_min)
        pairs = pairs[keep].reset_index(drop=True)
    ip, id_ = pairs["index_p"].to_numpy(), pairs["index_d"].to_numpy()
    pairs["f2p"], pairs["f2d"] = cd_p.get_cv()[ip], cd_d.get_cv()[id_]
    cov = difference_covariance(
        cd_p.stat_errors.to_numpy()[ip],
        cd_p.systematic_errors().iloc[ip].reset_index(drop=True),
        cd_d.stat_errors.to_numpy()[id_],
        cd_d.systematic_errors().iloc[id_].reset_index(drop=True),
    )
    arrays = {name: pairs[name].to_numpy(dtype=np.float64) for name in _COLUMNS}
    arrays["cov"] = cov
    return arrays


def _from_arrays(arrays: dict) -> BCDMSData:
    """BCDMSData from the cached/assembled arrays."""
    kin = pd.DataFrame({name: arrays[name] for name in _COLUMNS})
    kin[["index_p", "index_d"]] = kin[["index_p", "index_d"]].astype(np.int64)
    return BCDMSData(
        x=kin["x"].to_numpy(dtype=np.float64),
        q2=kin["q2"].to_numpy(dtype=np.float64),
        y=arrays["f2p"] - arrays["f2d"],
        cov=np.asarray(arrays["cov"], dtype=np.float64),
        kinematics=kin,
    )


def _data_cache_path(cuts, w2_min, q2_min, cache_dir):
    """Cache file of the assembled data for these options and nnpdf-data version."""
    import nnpdf_data

    version = getattr(nnpdf_data, "__version__", "unknown")
    meta = {"format": "bcdms-y-v1", "nnpdf_data": version, "variant": VARIANT}
    meta.update(cuts=cuts, w2_min=w2_min, q2_min=q2_min)
    return _cache_dir(cache_dir) / f"bcdms_data_{cache_key(meta)}.npz"
