r"""Cubic Lagrange interpolation basis in ln x (private).

A function tabulated on a grid, :math:`f_j = f(x_j)`, is represented at any
:math:`x` as :math:`f(x) \approx \sum_j B_j(x) f_j`, where :math:`B_j` are the
local Lagrange polynomials (in :math:`t = \ln x`) of the ``order + 1`` nodes
nearest to :math:`x`. Since :math:`xT_3(1) = 0`, a node at :math:`x = 1` with the
value 0 is implied when the grid ends below 1, so the basis reaches the end point
without extrapolation; below the first grid point the basis is zero.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_x_grid", "lagrange_basis"]


def check_x_grid(x_grid, name: str = "x_grid") -> np.ndarray:
    """``x_grid`` as a strictly increasing float64 array in (0, 1], length >= 4."""
    try:
        grid = np.asarray(x_grid, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D numeric array, got {x_grid!r}") from exc
    if grid.ndim != 1 or grid.shape[0] < 4:
        raise ValueError(
            f"{name} must be 1-D with at least 4 points, got shape {grid.shape}"
        )
    if not np.isfinite(grid).all() or grid[0] <= 0.0 or grid[-1] > 1.0:
        raise ValueError(
            f"{name} must lie in (0, 1], got range [{grid.min()}, {grid.max()}]"
        )
    if np.any(np.diff(grid) <= 0.0):
        raise ValueError(f"{name} must be strictly increasing")
    return grid


def lagrange_basis(x, x_grid, order: int = 3) -> np.ndarray:
    r"""Values :math:`B_j(x)` of the local Lagrange basis in :math:`\ln x`.

    .. math::

        B_j(x) = \prod_{m \in S(x),\, m \neq j} \frac{\ln x - \ln x_m}
        {\ln x_j - \ln x_m}, \quad j \in S(x),

    with :math:`S(x)` the ``order + 1`` consecutive nodes around :math:`x` (shifted
    inwards at the ends) and :math:`B_j(x) = 0` for :math:`j \notin S(x)`.

    Parameters
    ----------
    x : array_like of shape (n,)
        Evaluation points in (0, 1].
    x_grid : array_like of shape (n_grid,)
        Strictly increasing nodes in (0, 1].
    order : int, default=3
        Polynomial degree (3: cubic).

    Returns
    -------
    ndarray of shape (n, n_grid)
        Rows sum to 1 inside the grid (partition of unity) except next to the
        implied zero node at :math:`x = 1`.
    """
    grid = check_x_grid(x_grid)
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    nodes = np.log(grid)
    implied = grid[-1] < 1.0
    if implied:
        nodes = np.append(nodes, 0.0)  # x = 1, where xT3 vanishes
    n_nodes, t = nodes.shape[0], np.log(np.clip(x, 1e-300, 1.0))
    k = np.clip(np.searchsorted(nodes, t, side="right") - 1, 0, n_nodes - 2)
    start = np.clip(k - (order - 1) // 2, 0, n_nodes - order - 1)
    out = np.zeros((x.shape[0], n_nodes))
    rows = np.arange(x.shape[0])
    for a in range(order + 1):
        weight = np.ones_like(t)
        for b in range(order + 1):
            if b != a:
                ta, tb = nodes[start + a], nodes[start + b]
                weight *= (t - tb) / (ta - tb)
        out[rows, start + a] += weight
    out[t < nodes[0]] = 0.0
    return out[:, : grid.shape[0]] if implied else out
