"""Closure-test data: levels 0, 1 and 2 (:ref:`theory-6`).

Level 0: y₀ = F f_in (no noise). Level 1: y₁ = y₀ + η, η ~ N(0, C), one draw per fit,
shared by all its replicas. Level 2: each replica k fits y₁ + ε_k, ε_k ~ N(0, C).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._numerics import as_covariance, cholesky_psd
from .._validation import check_generator, check_int, check_real

__all__ = ["experimental_covariance", "ClosureData"]


def experimental_covariance(
    central, stat=0.05, sys=0.03, floor=0.01, n_sys=1, random_state=None
):
    r"""Build a data covariance with uncorrelated and fully correlated uncertainties.

    .. math::

        C = \operatorname{diag}(σ_i^2) + \sum_k β_k β_k^T,\qquad
        σ_i = \text{stat}\,|y_i| + \text{floor},

        β_{k,i} = \text{sys}\,|y_i|\,u_{k,i}

    with u₁ = 1 (a normalisation uncertainty) and further systematics ``u_k`` smooth
    random shapes in [−1, 1] (fixed by ``random_state``).

    Parameters
    ----------
    central : ndarray of shape (n,)
        The level-0 data the relative errors refer to.
    stat, sys, floor : float
        Relative uncorrelated, relative correlated and absolute uncorrelated errors.
    n_sys : int, default=1
        Number of correlated systematics (0 gives a diagonal covariance).
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the shapes of the systematics beyond the first.

    Returns
    -------
    ndarray of shape (n, n)
    """
    y = np.abs(np.asarray(central, dtype=float))
    if y.ndim != 1 or not np.isfinite(y).all():
        raise ValueError(
            f"central must be a finite 1-D array, got shape {y.shape} with "
            f"{int((~np.isfinite(y)).sum())} NaN or infinite value(s)"
        )
    stat, sys, floor = (
        check_real(v, name, min_val=0.0)
        for v, name in ((stat, "stat"), (sys, "sys"), (floor, "floor"))
    )
    if stat + floor <= 0:
        raise ValueError(
            f"stat + floor must be > 0 (uncorrelated errors keep C positive "
            f"definite), got stat={stat!r}, floor={floor!r}"
        )
    n_sys = check_int(n_sys, "n_sys", min_val=0)
    cov = np.diag((stat * y + floor) ** 2)
    rng = check_generator(random_state)
    grid = np.linspace(0, 1, len(y))
    for k in range(n_sys):
        shape = (
            np.ones_like(y) if k == 0 else np.cos(np.pi * (k * grid + rng.uniform()))
        )
        beta = sys * y * shape
        cov += np.outer(beta, beta)
    return cov


@dataclass
class ClosureData:
    """The fixed part of a closure test: inputs, forward map, covariance, truth.

    Parameters
    ----------
    X : ndarray of shape (n_grid, n_features)
        Inputs where the function is evaluated (the grid of F).
    truth_values : ndarray of shape (n_grid,)
        f_in(X).
    cov : ndarray of shape (n_data, n_data)
        C.
    forward_map : ndarray of shape (n_data, n_grid) or None
        F (None: the identity).
    """

    X: np.ndarray
    truth_values: np.ndarray
    cov: np.ndarray
    forward_map: np.ndarray | None = None

    def __post_init__(self):
        n_data = (
            len(self.truth_values)
            if self.forward_map is None
            else len(self.forward_map)
        )
        self.cov = as_covariance(self.cov, n_data, "data covariance")
        self._chol = cholesky_psd(self.cov, "data covariance")

    @property
    def level0(self):
        """y₀ = F f_in, shape (n_data,)."""
        f = self.truth_values
        return f if self.forward_map is None else self.forward_map @ f

    def noise(self, rng, size=None):
        """Draws of N(0, C): shape (n_data,) or (size, n_data)."""
        shape = (len(self.cov),) if size is None else (size, len(self.cov))
        z = rng.standard_normal(shape)
        return z @ self._chol.T

    def level1(self, rng):
        """y₁ = y₀ + η, η ~ N(0, C)."""
        return self.level0 + self.noise(rng)

    def chi2(self, prediction, data):
        """(Fφ − y)ᵀ C⁻¹ (Fφ − y) / n_data for observables ``prediction``."""
        r = np.linalg.solve(self._chol, np.asarray(prediction) - data)
        return float(r @ r) / len(r)
