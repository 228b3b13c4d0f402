"""The linear forward map F: xT3 on an x grid at Q0 -> BCDMS Y (private).

References
----------
.. [1] NNPDF collaboration, arXiv:2109.02653 (NNPDF4.0 theory settings and FK
   tables, which include target-mass corrections).
.. [2] H. Georgi, H. D. Politzer, Phys. Rev. D14 (1976) 1829; I. Schienbein et
   al., arXiv:0709.1775 (target-mass corrections).
"""

from __future__ import annotations

import functools

import numpy as np
from tqdm.auto import tqdm

from .._validation import check_int, check_positive
from ._basis import check_x_grid, lagrange_basis
from ._cache import cache_dir as _cache_dir
from ._cache import cache_key, load_array, save_array
from ._hoppet import ORDERS, TheorySettings, import_hoppet, structure_function_y

__all__ = ["basis_functions", "forward_map"]

_FORMAT = "bcdms-t3-fk-v1"


def basis_functions(x_grid, order: int = 3) -> list:
    """Return the interpolation basis of ``x_grid`` as callables ``B_j(x)``.

    Each maps float -> float.

    Rows of :func:`lagrange_basis` are memoised per x, so evolving all columns
    costs one basis evaluation per HOPPET grid point.
    """
    grid = check_x_grid(x_grid)

    @functools.cache
    def row(x: float) -> np.ndarray:
        return lagrange_basis(np.array([x]), grid, order)[0]

    return [
        functools.partial(lambda j, x: float(row(x)[j]), j) for j in range(grid.size)
    ]


def _check_settings(q0, order, alphas_mz, fixed_nf):
    q0 = check_positive(q0, "q0")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {sorted(ORDERS)}, got {order!r}")
    alphas_mz = check_positive(alphas_mz, "alphas_mz")
    if fixed_nf is not None:
        fixed_nf = check_int(fixed_nf, "fixed_nf", min_val=3, max_val=6)
    return q0, alphas_mz, fixed_nf


def forward_map(
    data,
    x_grid,
    q0: float = 1.65,
    *,
    order: str = "NNLO",
    alphas_mz: float = 0.118,
    fixed_nf: int | None = None,
    cache: bool = True,
    cache_dir=None,
    progress: bool = True,
) -> np.ndarray:
    r"""Compute the linear map :math:`F`.

    It gives :math:`Y_i \approx \sum_j F_{ij}\, xT_3(x_j)`.

    Column :math:`j` is the DGLAP evolution (HOPPET [3]_) from ``q0`` of the
    interpolation basis function :math:`B_j` (cubic Lagrange in :math:`\ln x` on
    ``x_grid``, zero at :math:`x = 1`) taken as :math:`xT_3`, converted into
    :math:`F_2^p - F_2^d` at each data point's :math:`(x, Q^2)`:

    .. math::

        F_{ij} = Y[xT_3 = B_j](x_i, Q_i^2), \qquad
        Y = F_2^p - F_2^d = \sum_q e_q^2\, C_{2,q} \otimes (x q^p - x q^d),

    where :math:`xu = x\bar u = xT_3/4 = -xd = -x\bar d` and the per-nucleon
    deuteron is isoscalar (no nuclear corrections). Settings follow NNPDF4.0 [1]_:
    :math:`\alpha_s(M_Z) = 0.118`, pole masses :math:`m_c = 1.51`,
    :math:`m_b = 4.92` GeV, variable flavour number (zero-mass coefficient
    functions), :math:`\mu_R = \mu_F = Q`, same order for evolution, running
    coupling and coefficient functions.

    Caveat: NNPDF's own FK tables include target-mass corrections [2]_ and are a
    few per cent above this map at :math:`x \gtrsim 0.65` (BCDMS reaches
    :math:`x = 0.75` at :math:`Q^2 \gtrsim 20` GeV², where
    :math:`4 x^2 M^2/Q^2 \approx 0.1`); below :math:`x = 0.65` the two agree to
    better than 1.5 %. Choices that matter: NLO instead of NNLO moves predictions
    by about 2 %, :math:`Q_0 = \sqrt 2` instead of 1.65 GeV by about 5 %, and an
    :math:`\alpha_s` run with a fixed :math:`n_f` (``fixed_nf=4``) by about 4 %
    (see ``benchmarks/bench_pdf.py``).

    The result is cached on disk per (data kinematics, grid, settings): see
    :mod:`nngpbayes.pdf` for the location; a cold build shows a progress bar.

    Parameters
    ----------
    data : BCDMSData or object with ``x`` and ``q2`` arrays of shape (n_data,)
        Kinematics of the predictions (Q² in GeV²).
    x_grid : array_like of shape (n_grid,)
        Strictly increasing in (0, 1), starting below ``min(data.x)``; dense in
        :math:`\ln x` (about 50 points give 1 % accuracy, see the tests).
    q0 : float, default=1.65
        Input scale (GeV): NNPDF4.0's parametrisation scale.
    order : {"NNLO", "NLO", "LO"}, default="NNLO"
    alphas_mz : float, default=0.118
    fixed_nf : int or None, default=None
        None: variable flavour number; an int for checks only.
    cache : bool, default=True
        Read and write the on-disk cache.
    cache_dir : str or os.PathLike, optional
        Overrides ``NNGPBAYES_CACHE_DIR`` / ``XDG_CACHE_HOME``.
    progress : bool, default=True
        Progress bar on a cold build (silent on non-interactive streams).

    Returns
    -------
    ndarray of shape (n_data, n_grid)

    References
    ----------
    .. [3] G. P. Salam, J. Rojo, arXiv:0804.3755; A. Karlberg et al.,
       arXiv:2510.09310.
    """
    q0, alphas_mz, fixed_nf = _check_settings(q0, order, alphas_mz, fixed_nf)
    grid = check_x_grid(x_grid)
    x, q2 = _kinematics(data)
    if grid[0] >= x.min():
        raise ValueError(
            f"x_grid must start below the smallest data x = {x.min()}, "
            f"got x_grid[0] = {grid[0]}"
        )
    settings = TheorySettings(
        q0=q0, order=order, alphas_mz=alphas_mz, fixed_nf=fixed_nf
    )
    path = _cache_dir(cache_dir) / f"{_cache_name(settings, grid, x, q2)}.npz"
    if cache and (cached := load_array(path)) is not None:
        if cached.shape == (x.size, grid.size):
            return cached
    bar = functools.partial(
        tqdm, desc="HOPPET forward map", unit="col", disable=None if progress else True
    )
    fk = structure_function_y(basis_functions(grid), x, q2, settings, progress=bar)
    if not np.isfinite(fk).all():
        raise RuntimeError("HOPPET returned non-finite values; check the settings")
    if cache:
        save_array(path, fk)
    return fk


def _kinematics(data):
    """(x, q2) float64 arrays of ``data``, validated."""
    try:
        x = np.asarray(data.x, dtype=np.float64).ravel()
        q2 = np.asarray(data.q2, dtype=np.float64).ravel()
    except AttributeError as exc:
        raise TypeError(
            f"data must have x and q2 arrays (a BCDMSData), got {type(data).__name__}"
        ) from exc
    ok = np.isfinite(x).all() and np.isfinite(q2).all() and x.size == q2.size
    if not ok or x.size == 0 or np.any((x <= 0) | (x >= 1)) or np.any(q2 <= 0):
        raise ValueError("data.x must lie in (0, 1) and data.q2 be positive and finite")
    return x, q2


def _cache_name(settings, grid, x, q2) -> str:
    """File stem naming the map: format, HOPPET version and a digest of inputs."""
    meta = {
        "format": _FORMAT,
        "hoppet": getattr(import_hoppet(), "__version__", "?"),
        **settings.as_dict(),
    }
    return f"bcdms_t3_{settings.order}_{cache_key(meta, grid, x, q2)}"
