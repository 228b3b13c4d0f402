"""Experimental covariance of a difference of two correlated data sets (private).

NNPDF's convention (nnpdf-data's ``CommonData``): each systematic has a treatment
(``ADD``: absolute; ``MULT``: relative to the central value) and a name. ``UNCORR``
and ``THEORYUNCORR`` are uncorrelated between points; ``CORR`` and ``THEORYCORR``
are fully correlated within their data set only; any other name (``BCDMSNORM1``,
``DEUTERON7``, ...) is fully correlated between every point, in every data set,
that carries it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["difference_covariance", "systematics_matrix"]

_UNCORRELATED = ("UNCORR", "THEORYUNCORR")
_INTRA = ("CORR", "THEORYCORR")


def systematics_matrix(stat, systematics: pd.DataFrame, sign: float, tag: str):
    r"""Split one data set's uncertainties into a diagonal and named columns.

    Parameters
    ----------
    stat : array_like of shape (n,)
        Statistical uncertainties (absolute).
    systematics : DataFrame of shape (n, n_sys)
        Absolute systematic shifts (``MULT`` ones already multiplied by the
        central values), columns named by systematic type.
    sign : float
        +1 or -1: the sign with which the data set enters the difference.
    tag : str
        Prefix making the data set's ``CORR`` columns private to it.

    Returns
    -------
    variance : ndarray of shape (n,)
        :math:`\sigma_{\rm stat}^2` plus the uncorrelated systematics squared.
    columns : DataFrame of shape (n, n_cols)
        ``sign`` times the correlated shifts; intra-set columns renamed
        ``"<tag>:<name>:<k>"``, shared names kept as they are.
    """
    values = systematics.to_numpy(dtype=np.float64)
    names = list(systematics.columns)
    uncorr = np.array([n in _UNCORRELATED for n in names], dtype=bool)
    variance = np.asarray(stat, dtype=np.float64) ** 2
    variance = variance + (values[:, uncorr] ** 2).sum(axis=1)
    labels = [f"{tag}:{n}:{k}" if n in _INTRA else n for k, n in enumerate(names)]
    kept = [k for k in range(len(names)) if not uncorr[k]]
    shared = [labels[k] for k in kept]
    if len(set(shared)) != len(shared):
        raise ValueError(f"systematic names repeat within data set {tag}: {shared}")
    return variance, pd.DataFrame(
        sign * values[:, kept], columns=[labels[k] for k in kept]
    )


def difference_covariance(stat_a, sys_a, stat_b, sys_b) -> np.ndarray:
    r"""Covariance of :math:`Y = A - B` for two point-by-point paired data sets.

    .. math::

        C_Y = C_{AA} + C_{BB} - C_{AB} - C_{BA}, \qquad
        C_Y = \mathrm{diag}(\sigma^2_{A} + \sigma^2_{B}) + S S^\top ,

    where each column of :math:`S` is one correlated systematic: :math:`s^A_k -
    s^B_k` for a name shared by both sets (fully correlated between them),
    :math:`s^A_k` or :math:`-s^B_k` for one carried by a single set.

    Parameters
    ----------
    stat_a, stat_b : array_like of shape (n,)
        Statistical uncertainties of the paired points.
    sys_a, sys_b : DataFrame of shape (n, n_sys_a), (n, n_sys_b)
        Absolute systematic shifts with NNPDF names as columns.

    Returns
    -------
    ndarray of shape (n, n)
        Symmetric positive semi-definite covariance of :math:`Y`.
    """
    var_a, cols_a = systematics_matrix(stat_a, sys_a, +1.0, "A")
    var_b, cols_b = systematics_matrix(stat_b, sys_b, -1.0, "B")
    # Same-named columns add: s^A_k + (-s^B_k) is the shift of Y = A - B.
    combined = cols_a.add(cols_b, fill_value=0.0).to_numpy(dtype=np.float64)
    cov = combined @ combined.T
    cov[np.diag_indices_from(cov)] += var_a + var_b
    return 0.5 * (cov + cov.T)
