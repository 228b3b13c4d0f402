"""The NTK spectrum over training, and its alignment with M = Fᵀ C⁻¹ F.

Conventions of :ref:`theory-2` and :ref:`theory-4`: F (n_data, n_grid) is the
forward map of
y = F φ(X_grid) (default the identity), C (n_data, n_data) the data covariance of
the loss ½(Fφ − y)ᵀC⁻¹(Fφ − y) (default the identity), Θ_t the empirical NTK on the
grid. Training moves the network on the grid by dφ/dt = −η Θ Fᵀ C⁻¹ (Fφ − y), so
the grid directions the data constrain are the range of

.. math::

    M = F^T C^{-1} F,

and the NTK directions that training uses are its leading eigenvectors. The
alignment of the two, read along training by Chiefa, Del Debbio and Kenway [1]_,
says how much of what the NTK learns fastest the data actually see.

References
----------
.. [1] Chiefa, Del Debbio, Kenway, arXiv:2512.24116 (NTK spectrum, rank and
   alignment with FᵀC⁻¹F in fits through an FK table).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from .._numerics import IllConditionedWarning, as_covariance, cholesky_psd
from .._validation import check_forward_map, check_int, check_real
from ._records import recorded_ntk

__all__ = ["NTKSpectrum", "NTKAlignment", "ntk_spectrum", "ntk_alignment"]

_EPS = np.finfo(float).eps
#: The band of the ensemble summaries (the ±1σ quantiles of a Gaussian).
QUANTILES = (0.16, 0.84)


@dataclass(frozen=True, eq=False)
class NTKSpectrum:
    """Eigenvalues and numerical rank of every member's NTK along training.

    Attributes
    ----------
    times : ndarray of shape (T,)
    eigenvalues : ndarray of shape (T, n_members, n)
        λ_1 >= λ_2 >= ... >= 0 of each Θ_t (round-off negatives clipped to 0).
    rank : ndarray of shape (T, n_members), int
        #{i : λ_i > rtol · λ_1}.
    rtol : float
        The relative threshold ε used for ``rank``.
    mean, lower, upper : ndarray of shape (T, n)
        Mean over members of the i-th eigenvalue, and its 16% and 84% quantiles.
    rank_mean : ndarray of shape (T,)
    rank_min, rank_max : ndarray of shape (T,), int
    """

    times: np.ndarray
    eigenvalues: np.ndarray
    rank: np.ndarray
    rtol: float
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rank_mean: np.ndarray
    rank_min: np.ndarray
    rank_max: np.ndarray


def ntk_spectrum(source, times=None, *, rtol=None) -> NTKSpectrum:
    r"""Compute the NTK's eigenvalues and numerical rank at every recorded time.

    .. math::

        \Theta_t^{(m)} = \sum_i \lambda_i v_i v_i^T,\qquad
        \operatorname{rank}_t^{(m)} = \#\{i : \lambda_i > \epsilon\,
        \lambda_1\}.

    Parameters
    ----------
    source : MLPEnsemble, dict or array-like of shape (T, n_members, n, n)
        An ensemble fitted with ``record_ntk=True`` and ``record_times``, its
        ``history_``, or the NTKs themselves.
    times : array-like of shape (T,), optional
        Flow times of an array ``source``.
    rtol : float in [0, 1), default=None
        ε. ``None`` means n · machine epsilon (≈ 2.2e-16 · n), the convention of
        :func:`numpy.linalg.matrix_rank` and of LinearFlow's ``rcond``: a
        backward-stable symmetric eigensolver returns eigenvalues with absolute
        errors of order n · eps · λ_1 (Weyl's inequality), so eigenvalues below
        that are round-off and the count above it is the largest rank float64
        can resolve. NTKs of smooth activations on a grid have eigenvalues that
        fall roughly geometrically, so this rank grows with the grid; pass a
        larger ε (1e-6, say) for an "effective" rank at a chosen resolution.

    Returns
    -------
    NTKSpectrum

    Raises
    ------
    ValueError
        No recorded NTK, malformed arrays or times, rtol outside [0, 1), or
        an NTK that is not symmetric.
    """
    times, ntk, _ = recorded_ntk(source, times, caller="ntk_spectrum")
    n = ntk.shape[-1]
    rtol = _check_rtol(rtol, n)
    _check_symmetric(ntk)
    eig = np.linalg.eigvalsh(0.5 * (ntk + np.swapaxes(ntk, -1, -2)))[..., ::-1]
    eig = _clip_roundoff(eig)
    rank = np.sum(eig > rtol * eig[..., :1], axis=-1)
    lower, upper = np.quantile(eig, QUANTILES, axis=1)
    return NTKSpectrum(
        times=times,
        eigenvalues=eig,
        rank=rank,
        rtol=rtol,
        mean=eig.mean(axis=1),
        lower=lower,
        upper=upper,
        rank_mean=rank.mean(axis=1),
        rank_min=rank.min(axis=1),
        rank_max=rank.max(axis=1),
    )


@dataclass(frozen=True, eq=False)
class NTKAlignment:
    """How much of each leading NTK eigenvector lies in the span of M's leading ones.

    Attributes
    ----------
    times : ndarray of shape (T,)
    alignment : ndarray of shape (T, n_members, n_eigenvectors)
        ‖P_m v_i‖² in [0, 1] for the i-th NTK eigenvector v_i (descending
        eigenvalue) of each member.
    mean, std : ndarray of shape (T, n_eigenvectors)
        Mean over members and standard deviation (ddof=1; 0 for one member).
    ntk_eigenvalues : ndarray of shape (T, n_members, n_eigenvectors)
        The eigenvalues of the v_i.
    data_eigenvalues : ndarray of shape (n_grid,)
        The eigenvalues of M = Fᵀ C⁻¹ F, descending.
    n_leading : int
        m, the number of M's eigenvectors spanning the subspace.
    """

    times: np.ndarray
    alignment: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    ntk_eigenvalues: np.ndarray
    data_eigenvalues: np.ndarray
    n_leading: int


def ntk_alignment(
    source,
    times=None,
    *,
    forward_map=None,
    y_cov=None,
    n_leading=None,
    n_eigenvectors=None,
    rtol=None,
) -> NTKAlignment:
    r"""Alignment of the NTK's leading eigenvectors with M = Fᵀ C⁻¹ F over training.

    With Θ_t = Σ_i λ_i v_i v_iᵀ (λ descending, unit v_i on the grid), M = Fᵀ C⁻¹ F
    = Q diag(μ) Qᵀ (μ descending; :ref:`theory-2`, :ref:`theory-4`) and
    P_m = Q_m Q_mᵀ the
    projector on its leading m eigenvectors:

    .. math::

        a_i(t) = \lVert P_m v_i \rVert^2 = \lVert Q_m^T v_i \rVert^2 \in [0, 1],
        \qquad \sum_{i=1}^{n} a_i = m.

    a_i = 1: v_i lies in the data-constrained subspace; 0: the data do not see
    it. Q and μ come from the SVD of L⁻¹F (C = L Lᵀ), μ its squared singular
    values, which avoids squaring the condition number of F. The value depends
    only on the subspaces, so it is invariant under a rotation R of the grid
    (Θ → RΘRᵀ, F → FRᵀ).

    Parameters
    ----------
    source : MLPEnsemble, dict or array-like of shape (T, n_members, n, n)
        NTKs recorded on the grid (``record_X`` must be the grid X of F; the
        default of ``MLPEnsemble.fit``), a ``history_``, or the NTKs themselves.
    times : array-like of shape (T,), optional
        Flow times of an array ``source``.
    forward_map : array-like of shape (n_data, n), default=None
        F; ``None`` is the identity.
    y_cov : float, array-like of shape (n_data,) or (n_data, n_data), default=None
        C (positive definite); ``None`` is the identity.
    n_leading : int, default=None
        m. ``None``: the numerical rank of L⁻¹F (singular values above ``rtol``
        times the largest), i.e. the whole numerical range of M, which is
        n_data for a full-rank F. An explicit m < n must fall at a gap of M's
        spectrum (otherwise the span is not defined and a ValueError says so).
    n_eigenvectors : int, default=None
        k, how many leading NTK eigenvectors; ``None`` means all n.
    rtol : float in [0, 1), default=None
        Relative threshold of the numerical rank of L⁻¹F; ``None`` means
        max(n_data, n) · machine epsilon (see :func:`ntk_spectrum`).

    Returns
    -------
    NTKAlignment

    Raises
    ------
    ValueError
        No recorded NTK, shapes that do not match (F needs one column per
        recorded input), a non-positive-definite C, or an m inside a
        degenerate eigenvalue of M.
    """
    times, ntk, _ = recorded_ntk(source, times, caller="ntk_alignment")
    n = ntk.shape[-1]
    F = check_forward_map(forward_map, n)
    n_data = n if F is None else F.shape[0]
    k = n if n_eigenvectors is None else check_int(n_eigenvectors, "n_eigenvectors")
    if k > n:
        raise ValueError(
            f"n_eigenvectors must be <= {n} (the NTK's size), got n_eigenvectors={k}"
        )
    rtol = _check_rtol(rtol, max(n_data, n))
    mu, q = _data_eigen(F, y_cov, n, n_data)
    m = _leading(mu, n_leading, rtol, n)
    _check_symmetric(ntk)
    lam, vec = np.linalg.eigh(0.5 * (ntk + np.swapaxes(ntk, -1, -2)))
    lam, vec = lam[..., ::-1][..., :k], vec[..., ::-1][..., :k]
    align = np.sum(np.matmul(q[:, :m].T, vec) ** 2, axis=-2)  # ‖Q_mᵀ v_i‖²
    n_members = align.shape[1]
    std = align.std(axis=1, ddof=1) if n_members > 1 else np.zeros(align[:, 0].shape)
    return NTKAlignment(
        times=times,
        alignment=align,
        mean=align.mean(axis=1),
        std=std,
        ntk_eigenvalues=_clip_roundoff(lam, warn=False),
        data_eigenvalues=mu,
        n_leading=m,
    )


def _data_eigen(F, y_cov, n, n_data):
    """Return eigenvalues μ (n,) descending and eigenvectors Q (n, n) of M = Fᵀ C⁻¹ F.

    From the SVD of W = L⁻¹ F (Wᵀ W = M); singular values are returned squared.
    """
    W = np.eye(n) if F is None else F
    if y_cov is not None:
        chol = cholesky_psd(as_covariance(y_cov, n_data, "y_cov"), "y_cov")
        W = sla.solve_triangular(chol, W, lower=True)  # L⁻¹ F
    _, s, vt = np.linalg.svd(W, full_matrices=True)
    if s[0] == 0:
        raise ValueError("forward_map is zero: M = FᵀC⁻¹F has no leading eigenvectors")
    mu = np.zeros(n)
    mu[: len(s)] = s**2
    return mu, vt.T


def _leading(mu, n_leading, rtol, n):
    """m: the numerical rank of M by default, else a checked explicit value."""
    s = np.sqrt(mu)
    if n_leading is None:
        return max(1, int(np.sum(s > rtol * s[0])))
    m = check_int(n_leading, "n_leading", max_val=n)
    # the span of Q_m is defined (to ~eps/gap) only at a gap of the singular values
    if m < n and s[m - 1] - s[m] <= np.sqrt(_EPS) * s[0]:
        raise ValueError(
            f"n_leading={m} splits a (near-)degenerate eigenvalue of M = FᵀC⁻¹F "
            f"(eigenvalues {m} and {m + 1}: {mu[m - 1]:.6g}, {mu[m]:.6g}), so the "
            "span of its leading eigenvectors is not defined; choose n_leading at a "
            f"gap of its spectrum {np.array2string(mu, precision=3)}, or None"
        )
    return m


def _check_rtol(rtol, n):
    """ε in [0, 1), default n · machine epsilon."""
    if rtol is None:
        return n * _EPS
    return check_real(rtol, "rtol", min_val=0.0, max_val=1.0, include_boundaries="left")


def _check_symmetric(ntk):
    """ValueError unless every Θ_t equals its transpose to round-off."""
    scale = np.abs(ntk).max(axis=(-2, -1), keepdims=True)
    asym = np.abs(ntk - np.swapaxes(ntk, -1, -2)) / np.where(scale > 0, scale, 1.0)
    worst = float(asym.max())
    if worst > 1e-8:
        raise ValueError(
            "ntk must be symmetric (an NTK on one set of inputs): its largest "
            f"relative asymmetry is {worst:.3g}"
        )


def _clip_roundoff(eig, warn=True):
    """Return eigenvalues of PSD kernels with round-off negatives set to 0.

    Descending along the last axis; warns when one is below −n·eps·λ_max (not PSD).
    """
    top = np.maximum(eig.max(axis=-1, keepdims=True), np.finfo(float).tiny)
    tol = eig.shape[-1] * _EPS * top
    if warn and np.any(eig < -tol):
        worst = float(np.min(eig / top))
        warnings.warn(
            "an NTK has negative eigenvalues down to "
            f"{worst:.3g} × its largest: it is not positive semi-definite to "
            "working precision; they were clipped to 0",
            IllConditionedWarning,
            stacklevel=3,
        )
    return np.maximum(eig, 0.0)
