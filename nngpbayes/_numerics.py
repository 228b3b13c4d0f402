"""Numerical guards in one place (private): PSD factorisations, eigenvalue clipping.

Every guard that changes a result says so with a categorised warning; inputs that
cannot be repaired raise a ``ValueError`` naming the argument.
"""

from __future__ import annotations

import mmap
import warnings

import numpy as np
import scipy.linalg as sla

__all__ = [
    "IllConditionedWarning",
    "cholesky_psd",
    "symmetric_eigh",
    "eigh_ascending",
    "as_covariance",
    "empty_large",
]

_EPS = np.finfo(float).eps


class IllConditionedWarning(UserWarning):
    """A kernel or covariance is (nearly) singular; the result was regularised."""


def as_covariance(cov, n, name):
    """Return a data covariance as an (n, n) array from a scalar, vector or matrix.

    Raises
    ------
    ValueError
        Wrong shape, non-finite entries, asymmetric, or not positive definite.

    Examples
    --------
    >>> from nngpbayes._numerics import as_covariance
    >>> as_covariance([1.0, 2.0], 2, "y_cov")
    array([[1., 0.],
           [0., 2.]])
    """
    c = np.asarray(cov, dtype=float)
    if c.ndim == 0:
        c = np.full(n, float(c))
    if c.ndim == 1:
        if c.shape != (n,):
            raise ValueError(f"{name} has {c.shape[0]} variances, expected {n}")
        c = np.diag(c)
    if c.shape != (n, n):
        raise ValueError(
            f"{name} must be a scalar, a vector of {n} variances or an ({n}, {n}) "
            f"matrix, got shape {c.shape}"
        )
    if not np.isfinite(c).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-14 * np.abs(c).max()):
        raise ValueError(f"{name} must be symmetric")
    return 0.5 * (c + c.T)


def cholesky_psd(c, name):
    """Lower Cholesky factor of a positive-definite matrix, with a clear error.

    Raises
    ------
    ValueError
        If ``c`` is not positive definite (its smallest eigenvalue is reported).
    """
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(c)[0])
        raise ValueError(
            f"{name} must be positive definite; its smallest eigenvalue is "
            f"{smallest:.3g}. Add a small diagonal term or fix the correlations."
        ) from None


def eigh_ascending(a):
    """``scipy.linalg.eigh(a, driver="evd")``: eigenvalues ascending, eigenvectors.

    The divide-and-conquer driver is the fastest for full spectra. SciPy 1.10
    (a supported floor) computes a wrong workspace size for 1 × 1 matrices
    (``dsyevd: lwork``), so those are answered directly.
    """
    a = np.asarray(a, dtype=float)
    if a.shape == (1, 1):
        return a[0].copy(), np.ones((1, 1))
    return sla.eigh(a, driver="evd")


def symmetric_eigh(s, name):
    """Eigen-decomposition of a symmetric PSD matrix, eigenvalues descending.

    Negative eigenvalues are round-off for a PSD kernel: they are clipped to 0, with
    an :class:`IllConditionedWarning` when they exceed n·eps·max(s) (then the matrix
    is not PSD to working precision).

    Returns
    -------
    s : ndarray of shape (n,)
        Eigenvalues >= 0, descending.
    u : ndarray of shape (n, n)
        Orthonormal eigenvectors in the columns.
    """
    s_val, u = eigh_ascending(0.5 * (s + s.T))
    s_val, u = s_val[::-1], u[:, ::-1]
    top = max(float(s_val[0]), np.finfo(float).tiny)
    tol = len(s_val) * _EPS * top
    if s_val[-1] < -tol:
        warnings.warn(
            f"{name} has negative eigenvalues down to {s_val[-1]:.3g} (largest "
            f"{top:.3g}): it is not positive semi-definite to working precision; they "
            "were clipped to 0",
            IllConditionedWarning,
            stacklevel=3,
        )
    return np.maximum(s_val, 0.0), u


#: Arrays at least this large are allocated on transparent huge pages where possible.
_HUGE_BYTES = 1 << 24


def empty_large(shape):
    """``np.empty(shape)`` (float64), on transparent huge pages when large.

    Writing a fresh multi-megabyte array costs a page fault per 4 KiB page, which
    for a 4000 × 4000 Gram matrix is a third of a second on some machines; with
    ``madvise(MADV_HUGEPAGE)`` it is a page fault per 2 MiB. Falls back to
    ``np.empty`` where anonymous mappings or huge pages are unavailable.
    """
    nbytes = int(np.prod(shape)) * 8
    if nbytes < _HUGE_BYTES or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.empty(shape)
    try:
        buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        buf.madvise(mmap.MADV_HUGEPAGE)
    except (OSError, ValueError, AttributeError):
        return np.empty(shape)
    return np.frombuffer(buf, dtype=np.float64).reshape(shape)
