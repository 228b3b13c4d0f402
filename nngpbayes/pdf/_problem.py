"""The BCDMS xT3 problem as arrays for the toolkit's fitters (private)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .._validation import check_int, check_real
from ._data import BCDMSData, load_bcdms
from ._fk import forward_map
from ._toy import toy_t3

__all__ = ["BCDMSProblem", "bcdms_problem", "preprocessing_factor"]


@dataclasses.dataclass(frozen=True, eq=False)
class BCDMSProblem:
    r"""Everything a fit of :math:`xT_3` to BCDMS needs, on one x grid.

    The network models :math:`f(x)` with
    :math:`xT_3(x, Q_0) = x^{\alpha}(1-x)^{\beta} f(x)`; the preprocessing is
    folded into the forward map, so data :math:`y \approx F f(X)` with an
    ordinary MLP :math:`f`.

    Attributes
    ----------
    X : ndarray of shape (n_grid, 2)
        Network inputs on the grid: columns :math:`x` and :math:`\ln x`.
    x_grid : ndarray of shape (n_grid,)
    forward_map : ndarray of shape (n_data, n_grid)
        :math:`F\,\mathrm{diag}(p)`, with :math:`p_j = x_j^\alpha (1-x_j)^\beta`.
    fk : ndarray of shape (n_data, n_grid)
        :math:`F` alone (acts on :math:`xT_3` at the grid points).
    preprocessing : ndarray of shape (n_grid,)
        :math:`p_j`; :math:`xT_3(x_j) = p_j f(x_j)`.
    y : ndarray of shape (n_data,)
        Measured :math:`F_2^p - F_2^d`.
    cov : ndarray of shape (n_data, n_data)
        Experimental covariance.
    truth : ndarray of shape (n_grid,)
        Network-space truth :math:`f^\ast_j = xT_3^{\rm toy}(x_j)/p_j` (the Les
        Houches toy), so ``forward_map @ truth == fk @ toy_t3(x_grid)``.
    truth_t3 : ndarray of shape (n_grid,)
        :math:`xT_3^{\rm toy}(x_j)`.
    alpha, beta : float
        Preprocessing exponents.
    data : BCDMSData
        Kinematics table and the rest of the loaded data.
    """

    X: np.ndarray
    x_grid: np.ndarray
    forward_map: np.ndarray
    fk: np.ndarray
    preprocessing: np.ndarray
    y: np.ndarray
    cov: np.ndarray
    truth: np.ndarray
    truth_t3: np.ndarray
    alpha: float
    beta: float
    data: BCDMSData


def preprocessing_factor(x, alpha: float, beta: float) -> np.ndarray:
    r""":math:`p(x) = x^{\alpha}(1-x)^{\beta}`, ndarray of the shape of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    return x**alpha * (1.0 - x) ** beta


def bcdms_problem(
    n_grid: int = 50,
    *,
    x_min: float = 0.01,
    x_max: float = 0.95,
    preprocessing: tuple = (0.5, 3.0),
    q0: float = 1.65,
    order: str = "NNLO",
    cache_dir=None,
    progress: bool = True,
) -> BCDMSProblem:
    r"""Build the BCDMS :math:`xT_3` problem of Chiefa, Del Debbio and Kenway.

    The grid is uniform in :math:`\ln x` on [``x_min``, ``x_max``]; the data lie
    at :math:`0.07 \le x \le 0.75`, so the grid points below 0.07 are fixed by the
    prior only (the non-singlet evolution at x uses the input at x' >= x). 50
    points reproduce the exact evolution of the toy to 0.1 % (tests). The forward
    map comes from :func:`forward_map` (cached on disk).

    Default preprocessing :math:`(\alpha, \beta) = (0.5, 3)`: :math:`xT_3 \sim
    x^{1-\alpha_\rho}` with the Regge intercept :math:`\alpha_\rho \approx 0.5`
    at small x, and quark counting rules give :math:`(1-x)^3` at large x. The
    network then models a function of order one that stays finite at both ends
    (for the toy, :math:`f^\ast` rises from 0.46 at x = 0.01 to 4.9 at x = 0.95). The
    exponents come from this physics, not from the toy (whose small-x power is
    0.8), so a closure test does not get its answer from the preprocessing.

    Parameters
    ----------
    n_grid : int, default=50
    x_min, x_max : float, default=0.01, 0.95
        Grid range, ``0 < x_min < 0.07`` and ``0.75 < x_max < 1``.
    preprocessing : (float, float), default=(0.5, 3.0)
        :math:`(\alpha, \beta)`.
    q0 : float, default=1.65
    order : {"NNLO", "NLO", "LO"}, default="NNLO"
    cache_dir : str or os.PathLike, optional
        Forward-map cache (see :func:`forward_map`).
    progress : bool, default=True

    Returns
    -------
    BCDMSProblem
    """
    n_grid = check_int(n_grid, "n_grid", min_val=4)
    x_min = check_real(x_min, "x_min", 0.0, 0.07, include_boundaries="neither")
    x_max = check_real(x_max, "x_max", 0.75, 1.0, include_boundaries="neither")
    alpha, beta = _check_preprocessing(preprocessing)
    data = load_bcdms()
    grid = np.geomspace(x_min, x_max, n_grid)
    fk = forward_map(
        data, grid, q0, order=order, cache_dir=cache_dir, progress=progress
    )
    pre = preprocessing_factor(grid, alpha, beta)
    truth_t3 = toy_t3(grid)
    return BCDMSProblem(
        X=np.column_stack([grid, np.log(grid)]),
        x_grid=grid,
        forward_map=fk * pre[None, :],  # F diag(p)
        fk=fk,
        preprocessing=pre,
        y=data.y,
        cov=data.cov,
        truth=truth_t3 / pre,
        truth_t3=truth_t3,
        alpha=alpha,
        beta=beta,
        data=data,
    )


def _check_preprocessing(preprocessing):
    """(alpha, beta) as floats; alpha, beta > -1 keep the map integrable."""
    try:
        alpha, beta = preprocessing
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"preprocessing must be a pair (alpha, beta), got {preprocessing!r}"
        ) from exc
    alpha = check_real(alpha, "preprocessing[0] (alpha)", min_val=-1.0)
    beta = check_real(beta, "preprocessing[1] (beta)", min_val=-1.0)
    return alpha, beta
