"""Argument checks of the flow (private to :mod:`nngpbayes.dynamics`).

Shared by :class:`~nngpbayes.dynamics.LinearFlow` and
:class:`~nngpbayes.dynamics.GradientFlowRegressor`, so that the estimator checks
times and covariance parts before it computes any kernel.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PARTS", "check_arrays", "check_part", "check_test_kernels", "check_times"]

#: The parts of the ensemble covariance (docs/theory §4).
PARTS = ("total", "prior", "data")


def check_times(time, discrete):
    """Return times as a 1-D float array and whether a scalar was given.

    Parameters
    ----------
    time : float or array-like of shape (n_times,)
        Flow times (``np.inf`` allowed), or step counts when ``discrete``.
    discrete : bool

    Returns
    -------
    times : ndarray of shape (n_times,)
    scalar : bool

    Raises
    ------
    ValueError
        Negative or NaN times, or non-integer step counts for discrete descent.
    """
    arr = np.asarray(time, dtype=float)
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(f"time must be a scalar or a 1-D array, got shape {arr.shape}")
    if np.isnan(arr).any() or (arr < 0).any():
        raise ValueError(f"time must be >= 0 (np.inf allowed), got {time!r}")
    if discrete and not np.all(np.isinf(arr) | (arr == np.round(arr))):
        raise ValueError(
            f"with discrete gradient descent time counts steps and must be a "
            f"non-negative integer (or np.inf), got {time!r}"
        )
    return np.atleast_1d(arr), arr.ndim == 0


def check_part(part):
    """Raise a ``ValueError`` unless ``part`` is one of :data:`PARTS`."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")


def check_arrays(ntk, nngp, y, forward_map):
    """Θ, K, F and y as finite float arrays of consistent shapes.

    Parameters
    ----------
    ntk, nngp : array-like of shape (n_grid, n_grid)
    y : array-like of shape (n_data,) or (n_data, n_outputs)
    forward_map : array-like of shape (n_data, n_grid) or None
        ``None`` is the identity.

    Returns
    -------
    ntk, nngp, forward_map, y : ndarray

    Raises
    ------
    ValueError
        Naming the array whose shape or values are wrong.
    """
    ntk, nngp = np.asarray(ntk, dtype=float), np.asarray(nngp, dtype=float)
    n_grid = ntk.shape[0] if ntk.ndim else 0
    if ntk.shape != (n_grid, n_grid) or nngp.shape != ntk.shape:
        raise ValueError(
            f"ntk and nngp must be square of the same shape, got {ntk.shape} and "
            f"{nngp.shape}"
        )
    if not (np.isfinite(ntk).all() and np.isfinite(nngp).all()):
        raise ValueError("ntk and nngp must be finite; they contain NaN or inf")
    F = np.eye(n_grid) if forward_map is None else np.asarray(forward_map, float)
    if F.ndim != 2 or F.shape[1] != n_grid:
        raise ValueError(
            f"forward_map must have shape (n_data, {n_grid}), got {F.shape}"
        )
    if not np.isfinite(F).all():
        raise ValueError("forward_map contains NaN or infinite values")
    y = np.asarray(y, dtype=float)
    if y.ndim not in (1, 2) or y.shape[0] != F.shape[0]:
        raise ValueError(
            f"y must have shape ({F.shape[0]},) or ({F.shape[0]}, n_outputs), "
            f"got {y.shape}"
        )
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    return ntk, nngp, F, y


def check_test_kernels(n_grid, ntk_star, nngp_star, nngp_star_star, want):
    """Check the test-point kernels: finite float arrays of consistent shapes.

    Parameters
    ----------
    n_grid : int
    ntk_star : array-like of shape (n_test, n_grid)
    nngp_star : array-like of shape (n_test, n_grid) or None
    nngp_star_star : array-like of shape (n_test, n_test) or (n_test,), or None
    want : {None, "std", "cov", "sample"}
        What is computed: the mean only, or also the std (the diagonal of
        ``nngp_star_star`` suffices), the covariance or draws (the full matrix).

    Returns
    -------
    ntk_star, nngp_star, nngp_star_star : ndarray (the last two None if not needed)

    Raises
    ------
    ValueError
        Naming the array that is missing, of the wrong shape or not finite.
    """
    ntk_star = _finite(ntk_star, "ntk_star")
    if ntk_star.ndim != 2 or ntk_star.shape[1] != n_grid:
        raise ValueError(
            f"ntk_star must have shape (n_test, {n_grid}), got {ntk_star.shape}"
        )
    if want is None:
        return ntk_star, None, None
    if nngp_star is None or nngp_star_star is None:
        raise ValueError(f"{want} needs nngp_star and nngp_star_star")
    n_test = ntk_star.shape[0]
    nngp_star = _finite(nngp_star, "nngp_star")
    if nngp_star.shape != (n_test, n_grid):
        raise ValueError(
            f"nngp_star must have shape ({n_test}, {n_grid}), got {nngp_star.shape}"
        )
    kss = _finite(nngp_star_star, "nngp_star_star")
    shapes = [(n_test, n_test)] + ([(n_test,)] if want == "std" else [])
    if kss.shape not in shapes:
        raise ValueError(
            f"nngp_star_star must have shape {' or '.join(map(str, shapes))}, got "
            f"{kss.shape}"
        )
    return ntk_star, nngp_star, kss


def _finite(a, name):
    a = np.asarray(a, dtype=float)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a
