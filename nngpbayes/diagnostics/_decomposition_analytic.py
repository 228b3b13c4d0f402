r"""The frozen-NTK decomposition f_t = U(t) f_0 + V(t) y and its bias–variance split.

Networks trained by gradient flow (or gradient descent) with a frozen NTK Θ on the
grid X, through a forward map F with data covariance C (the loss
½(Fφ − y)ᵀC⁻¹(Fφ − y), :ref:`theory-4`), obey on the grid

.. math::

    f_t = U(t) f_0 + V(t) y,\qquad V(t) = B_t = Θ F^T C^{-1/2} g_t(S) C^{-1/2},
    \qquad U(t) = I - V(t) F,

with S = C^(−1/2) F Θ Fᵀ C^(−1/2) and g_t the flow filter (:ref:`theory-4`; with
C = L Lᵀ any factor gives the same V). Against a known truth f* (closure tests,
:ref:`theory-6`, y = F f* [+ level-1 noise]) with f_0 ~ N(0, K) the initial networks,
the error f_t − f* splits into

- the U part U f_0: mean 0, covariance U K Uᵀ (a pure variance, from the random
  initialisation);
- the V part V y − f*: the bias, and, when every network trains on its own replica
  y + ε_m, ε_m ~ N(0, C) (level 2), the variance V C Vᵀ of V ε_m.

U K Uᵀ and V C Vᵀ are the "prior" and "data" parts of
:meth:`~nngpbayes.dynamics.LinearFlow.predict`'s covariance, V y its mean. The two
parts are independent, so the mean squared error over networks is

.. math::

    \mathrm{MSE}_t = \overline{(V y - f^*)^2} + \overline{\operatorname{diag}
    (U K U^T)} + [\overline{\operatorname{diag}(V C V^T)}],

bars the mean over grid points, the bracket with replicas. Averaged over level-1
noise y = F f* + η, η ~ N(0, C), the squared bias is (U f*)² + diag(V C Vᵀ): the
systematic bias −U f* = V F f* − f* plus the noise the fit absorbs.

References
----------
.. [1] A. Chiefa, L. Del Debbio and R. Kenway, arXiv:2512.24116 (the NTK of
   networks trained through an FK table; the U/V decomposition).
.. [2] Lee et al., "Wide neural networks of any depth evolve as linear models under
   gradient descent", arXiv:1902.06720.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from .._numerics import (
    IllConditionedWarning,
    as_covariance,
    cholesky_psd,
    symmetric_eigh,
)
from .._validation import check_forward_map, check_positive
from ..dynamics._checks import check_times
from ..dynamics._filters import flow_filter

__all__ = ["FrozenNTKDecomposition", "frozen_ntk_decomposition"]


@dataclass
class FrozenNTKDecomposition:
    """The analytic U/V bias–variance decomposition over training time.

    Per-point arrays have shape (n_times, n_grid); the grid means (the "summed"
    contributions) have shape (n_times,).

    Attributes
    ----------
    time : ndarray of shape (n_times,)
        Flow times, or step counts when ``discrete``.
    learning_rate : float
        η (the step η·Δt of gradient descent when ``discrete``).
    discrete : bool
    bias : ndarray of shape (n_times, n_grid)
        V(t) y − f*, the mean error of the trained networks.
    systematic_bias : ndarray of shape (n_times, n_grid)
        V(t) F f* − f* = −U(t) f*, the bias without level-1 noise.
    variance_u : ndarray of shape (n_times, n_grid)
        diag(U K Uᵀ), the variance of the U part.
    variance_v : ndarray of shape (n_times, n_grid)
        diag(V C Vᵀ), the variance of the V part with replicas.
    U : ndarray of shape (n_times, n_grid, n_grid) or None
        U(t) = I − V(t) F (``None`` unless ``return_matrices``).
    V : ndarray of shape (n_times, n_grid, n_data) or None
        V(t) = B_t (``None`` unless ``return_matrices``).
    """

    time: np.ndarray
    learning_rate: float
    discrete: bool
    bias: np.ndarray
    systematic_bias: np.ndarray
    variance_u: np.ndarray
    variance_v: np.ndarray
    U: np.ndarray | None = None
    V: np.ndarray | None = None

    @property
    def bias_sq(self):
        """Mean over the grid of (V y − f*)², shape (n_times,)."""
        return np.mean(self.bias**2, axis=1)

    @property
    def var_u(self):
        """Mean over the grid of diag(U K Uᵀ), shape (n_times,)."""
        return self.variance_u.mean(axis=1)

    @property
    def var_v(self):
        """Mean over the grid of diag(V C Vᵀ), shape (n_times,)."""
        return self.variance_v.mean(axis=1)

    def mse(self, replicas=False):
        """Mean over networks and grid of (f_t − f*)², shape (n_times,).

        bias_sq + var_u, plus var_v when every network trains on its own replica.
        """
        return self.bias_sq + self.var_u + (self.var_v if replicas else 0.0)


def frozen_ntk_decomposition(
    ntk,
    nngp,
    f_true,
    y=None,
    forward_map=None,
    y_cov=None,
    time=np.inf,
    learning_rate=1.0,
    discrete=False,
    rcond=None,
    return_matrices=True,
):
    r"""U(t), V(t) and the bias–variance split of the error against a known truth.

    With C = L Lᵀ, S = L⁻¹ F Θ Fᵀ L⁻ᵀ = Q diag(s) Qᵀ, W = (L⁻¹F)ᵀQ and
    A_t = Θ W g_t(diag s) (:ref:`theory-4`):

    .. math::

        V(t) = A_t Q^T L^{-1},\quad U(t) = I - A_t W^T,\quad
        \text{bias}_t = A_t Q^T L^{-1} y - f^*,

        \operatorname{diag}(U K U^T),\qquad
        \operatorname{diag}(V C V^T) = \operatorname{diag}(A_t A_t^T),

    g_t(s) = (1 − e^(−ηst))/s (flow) or (1 − (1 − ηs)^k)/s (k steps of gradient
    descent), and at t = ∞ the filtered inverse of :class:`~nngpbayes.dynamics.
    LinearFlow` (the same ``rcond``). See the module docstring for the meaning of
    the parts.

    Parameters
    ----------
    ntk : array-like of shape (n_grid, n_grid)
        Θ on the grid inputs.
    nngp : array-like of shape (n_grid, n_grid)
        K on the grid inputs, the covariance of the initial networks f_0.
    f_true : array-like of shape (n_grid,)
        The truth f* on the grid.
    y : array-like of shape (n_data,), default=None
        The (central) data; ``None`` is level 0, y = F f*.
    forward_map : array-like of shape (n_data, n_grid), default=None
        F; ``None`` is the identity.
    y_cov : float, array-like of shape (n_data,) or (n_data, n_data), default=None
        C of the loss and of the replicas; ``None`` is the identity.
    time : float or array-like of shape (n_times,), default=np.inf
        Flow times (>= 0, ``np.inf`` allowed), or step counts when ``discrete``.
    learning_rate : float, default=1.0
        η; with ``discrete`` the gradient-descent step (``MLPEnsemble.step_size_``).
    discrete : bool, default=False
        Gradient descent: ``time`` counts steps.
    rcond : float, default=None
        Relative cutoff of the t = ∞ filter (as :class:`LinearFlow`); ``None`` is
        n_data · machine epsilon.
    return_matrices : bool, default=True
        Store U(t) and V(t) (n_times · n_grid · (n_grid + n_data) numbers).

    Returns
    -------
    FrozenNTKDecomposition

    Raises
    ------
    ValueError
        Naming the argument whose shape or value is wrong; for discrete descent
        at t = ∞ with η above the stability limit 2 / max(s).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.linspace(-1, 1, 6)[:, None]
    >>> K = np.exp(-((X - X.T) ** 2)) + 1e-6 * np.eye(6)
    >>> dec = frozen_ntk_decomposition(2 * K, K, np.sin(X[:, 0]), time=[0, 1.0])
    >>> dec.bias_sq.shape, float(dec.var_u[0]) == float(np.diag(K).mean())
    ((2,), True)
    """
    ntk, nngp, f_true = _check_grid(ntk, nngp, f_true)
    n_grid = len(f_true)
    F = check_forward_map(forward_map, n_grid)
    F = np.eye(n_grid) if F is None else F
    y = F @ f_true if y is None else _check_vector(y, len(F), "y", "n_data")
    cov = np.eye(len(F)) if y_cov is None else as_covariance(y_cov, len(F), "y_cov")
    learning_rate = check_positive(learning_rate, "learning_rate")
    times, _ = check_times(time, bool(discrete))
    if rcond is not None:
        check_positive(rcond, "rcond")
    spec = _spectrum(ntk, F, cov, rcond)
    _check_stable(spec["s"], times, learning_rate, bool(discrete), spec["cutoff"])
    arrays = (ntk, nngp, F, y, f_true)
    out = _propagate(spec, arrays, times, learning_rate, discrete, return_matrices)
    return FrozenNTKDecomposition(
        time=times, learning_rate=learning_rate, discrete=bool(discrete), **out
    )


def _spectrum(ntk, F, cov, rcond):
    """s, Q, W = (L⁻¹F)ᵀQ, R = Qᵀ L⁻¹ and the t = ∞ cutoff (:ref:`theory-4`)."""
    chol = cholesky_psd(cov, "y_cov")
    g = sla.solve_triangular(chol, F, lower=True)  # L⁻¹F
    s, q = symmetric_eigh(g @ ntk @ g.T, "the whitened NTK L⁻¹FΘFᵀL⁻ᵀ")
    r = sla.solve_triangular(chol, q, lower=True, trans="T").T  # Qᵀ L⁻¹
    rc = len(s) * np.finfo(float).eps if rcond is None else float(rcond)
    tiny = np.finfo(float).tiny
    cutoff = max(rc * max(float(s[0]), tiny), tiny)  # as LinearFlow
    return {"s": s, "w": g.T @ q, "r": r, "cutoff": cutoff}


def _propagate(spec, arrays, times, learning_rate, discrete, keep):
    """Per time: the bias, the two variances and (``keep``) U and V."""
    ntk, nngp, F, y, f_true = arrays
    n_times, n_grid, n_data = len(times), F.shape[1], F.shape[0]
    p = ntk @ spec["w"]  # Θ W, (n_grid, n_data)
    y_white = spec["r"] @ y  # Qᵀ L⁻¹ y
    wk = spec["w"].T @ nngp  # Wᵀ K, (n_data, n_grid)
    names = ("bias", "systematic_bias", "variance_u", "variance_v")
    out = {k: np.empty((n_times, n_grid)) for k in names}
    out["U"] = np.empty((n_times, n_grid, n_grid)) if keep else None
    out["V"] = np.empty((n_times, n_grid, n_data)) if keep else None
    for i, t in enumerate(times):
        g = flow_filter(spec["s"], t, learning_rate, discrete, spec["cutoff"])
        a = p * g  # A_t = Θ W g_t(s)
        u = np.eye(n_grid) - a @ spec["w"].T  # U = I − V F = I − A Wᵀ
        if keep:
            out["U"][i], out["V"][i] = u, a @ spec["r"]  # V = A Qᵀ L⁻¹
        out["bias"][i] = a @ y_white - f_true  # V y − f*
        out["systematic_bias"][i] = -u @ f_true  # V F f* − f* = −U f*
        uk = nngp - a @ wk  # U K
        # diag(U K Uᵀ) >= 0: a negative value is round-off of a PSD matrix
        out["variance_u"][i] = np.maximum(np.einsum("ij,ij->i", uk, u), 0.0)
        out["variance_v"][i] = np.einsum("ij,ij->i", a, a)  # V C Vᵀ = A Aᵀ
    return out


def _check_stable(s, times, learning_rate, discrete, cutoff):
    """Warn when t = ∞ filters modes (as LinearFlow).

    Discrete descent diverges for η ≥ 2 / max(s): raise at t = ∞, else warn.
    """
    if discrete and learning_rate * s[0] >= 2.0:
        _unstable(times, learning_rate, s)
    damped = int(np.sum(s < 1e2 * cutoff))  # (s_c/s)⁴ > 1e-8: g differs from 1/s
    if np.isinf(times).any() and damped:
        warnings.warn(
            f"at t = inf {damped} mode(s) of the whitened NTK with s < "
            f"{1e2 * cutoff:.3g} (largest {s[0]:.3g}) are damped by the filter "
            f"s³/(s⁴ + s_c⁴), s_c = {cutoff:.3g} (see rcond): they are not learned",
            IllConditionedWarning,
            stacklevel=3,
        )


def _unstable(times, learning_rate, s):
    msg = (
        f"learning_rate={learning_rate:.6g} is at or above the stability limit "
        f"2/max(s)={2.0 / s[0]:.6g} of discrete gradient descent: it diverges"
    )
    if np.isinf(times).any():
        raise ValueError(msg)
    warnings.warn(msg, RuntimeWarning, stacklevel=4)


def _check_grid(ntk, nngp, f_true):
    """Θ and K as finite (n_grid, n_grid) arrays, f* as a finite (n_grid,) one."""
    ntk = _finite(ntk, "ntk")
    n_grid = ntk.shape[0] if ntk.ndim == 2 else -1
    if ntk.ndim != 2 or ntk.shape != (n_grid, n_grid) or n_grid == 0:
        raise ValueError(
            f"ntk must be a square (n_grid, n_grid) matrix, got {ntk.shape}"
        )
    nngp = _finite(nngp, "nngp")
    if nngp.shape != ntk.shape:
        raise ValueError(
            f"nngp must have the shape of ntk {ntk.shape}, got {nngp.shape}"
        )
    return ntk, nngp, _check_vector(f_true, n_grid, "f_true", "n_grid")


def _check_vector(v, n, name, what):
    v = _finite(v, name)
    if v.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) ({what}), got {v.shape}")
    return v


def _finite(a, name):
    try:
        a = np.asarray(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(a).__name__}") from exc
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a
