r"""The log posterior of the NNGP hyperparameters (package-internal).

The model (:ref:`theory-3`, :ref:`theory-4`): data y observed through a linear
forward map F
(an FK table; the identity when absent) of a function on the grid inputs X, with a
known data covariance C, are Gaussian with the NNGP prior plus scaled noise,

.. math::

    y = F f(X) + ε,\quad f \sim GP(0, K_{C_W, C_b}),\quad ε \sim N(0, sC)
    \quad\Longrightarrow\quad
    y \sim N\big(0,\; F K_{C_W, C_b}(X, X) F^T + s\, C\big),

with three hyperparameters, sampled in log space u = (log C_W, log C_b, log s)
under independent normal priors u_i ~ N(μ_i, σ_i²), truncated at ±10 σ_i.

References
----------
.. [1] C. E. Rasmussen, C. K. I. Williams, "Gaussian Processes for Machine
   Learning" (MIT Press, 2006), Algorithm 2.1 and eq. (5.9).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.linalg import lapack as _lapack

from .._linalg import jittered_cholesky
from .._numerics import IllConditionedWarning, as_covariance, cholesky_psd
from .._validation import check_forward_map, check_inputs
from ..kernels import NNGPKernel
from ._hypergram import GramRecursion

__all__ = [
    "N_PARAMETERS",
    "PARAMETER_NAMES",
    "PRIOR_MEAN",
    "PRIOR_STD",
    "PRIOR_TRUNCATION",
    "LogPosterior",
    "check_data",
    "check_prior",
    "nngp_kernel",
    "warn_jitter",
]

#: Names of the sampled hyperparameters, in the order of the log-space vector u.
PARAMETER_NAMES = ("weight_variance", "bias_variance", "noise_scale")
N_PARAMETERS = len(PARAMETER_NAMES)
#: Default prior means μ of u = (log C_W, log C_b, log s): C_W ≈ 1, C_b ≈ 0.14, s ≈ 1.
PRIOR_MEAN = (0.0, -2.0, 0.0)
#: Default prior standard deviations σ of u: a factor e for C_W and s, e² for C_b.
PRIOR_STD = (1.0, 2.0, 1.0)
#: The normal priors are truncated at ±10 prior standard deviations: the mass cut
#: away (1.5e-23) is invisible at float64 precision, and the sampler can never wander
#: to hyperparameters (e.g. C_W = e^700) whose kernel overflows.
PRIOR_TRUNCATION = 10.0
_LOG_2PI = np.log(2.0 * np.pi)


def nngp_kernel(depth, activation, theta):
    """Return the NNGP kernel at θ = (C_W, C_b, s) (s is not a kernel parameter).

    Parameters
    ----------
    depth : int
    activation : str or Activation
    theta : ndarray of shape (3,)
        (C_W, C_b, s) in natural units.

    Returns
    -------
    NNGPKernel
    """
    return NNGPKernel(
        depth, activation, weight_variance=theta[0], bias_variance=theta[1]
    )


class LogPosterior:
    r"""log p(u | y) up to the evidence, with a count of jittered factorisations.

    .. math::

        \log p(u \mid y) = -\tfrac12 y^T A^{-1} y - \tfrac12 \log\det A
            - \tfrac{n}{2}\log 2π + \sum_i \log N(u_i; μ_i, σ_i^2),
        \qquad A = F K_{C_W, C_b}(X, X) F^T + s C

    (F = I without a forward map). A is positive definite in exact arithmetic
    (s > 0, C > 0); when round-off makes its Cholesky factorisation fail, a ridge of
    1e-10 to 1e-6 of the mean diagonal is added
    (:func:`nngpbayes._linalg.jittered_cholesky`) and counted in ``n_jittered``;
    where even that fails the density is zero.

    Everything that does not depend on u is prepared once, at construction: the
    architecture is validated, the input-only parts of the kernel recursion are
    kept (:class:`~nngpbayes.closure._hypergram.GramRecursion`) and the prior's
    normalisation is summed. An evaluation is then the kernel recursion, one LAPACK
    Cholesky factorisation (``dpotrf``) and one solve (``dpotrs``).

    Parameters
    ----------
    X : ndarray of shape (n_grid, n_features)
        The inputs of f (the data inputs themselves when ``forward_map`` is None).
    y : ndarray of shape (n_data,)
    data_cov : ndarray of shape (n_data, n_data)
        The data covariance C (validated by :func:`check_data`).
    depth : int
    activation : str or Activation
    prior_mean, prior_std : ndarray of shape (3,)
        μ and σ of the normal priors on u (validated by :func:`check_prior`).
    forward_map : ndarray of shape (n_data, n_grid) or None, default=None
        The linear forward map F (validated by :func:`check_data`); None is the
        identity (n_data = n_grid).

    Attributes
    ----------
    n_calls : int
        Evaluations so far.
    n_jittered : int
        Evaluations whose A needed a ridge to be factorised.
    matrix_name : str
        "K + sC", or "F K Fᵀ + sC" with a forward map (for messages).

    Raises
    ------
    ValueError
        For a bad ``depth`` or ``activation`` (at construction).
    """

    def __init__(
        self,
        X,
        y,
        data_cov,
        depth,
        activation,
        prior_mean,
        prior_std,
        *,
        forward_map=None,
    ):
        self.X, self.y, self.C, self.F = X, y, data_cov, forward_map
        self.matrix_name = "K + sC" if forward_map is None else "F K Fᵀ + sC"
        self.depth, self.activation = depth, activation
        self.mu, self.sigma = prior_mean, prior_std
        self.n_calls = self.n_jittered = 0
        self._prepare()

    def _prepare(self):
        """Validate the architecture and precompute everything u does not change."""
        self._gram = GramRecursion(self.X, self.depth, self.activation)
        self._y = np.ascontiguousarray(self.y, dtype=float)
        self._C = np.ascontiguousarray(self.C, dtype=float)
        self._F = None if self.F is None else np.ascontiguousarray(self.F, dtype=float)
        mu = np.asarray(self.mu, dtype=float)
        sigma = np.asarray(self.sigma, dtype=float)
        self._mu, self._sigma = mu.tolist(), sigma.tolist()
        self._var = (sigma**2).tolist()
        # Σ_i log N(u_i; μ_i, σ_i²) = -½ Σ z_i² + this
        self._prior_norm = float(-np.log(sigma).sum() - 0.5 * len(mu) * _LOG_2PI)
        self._lik_norm = -0.5 * len(self._y) * _LOG_2PI

    def kernel(self, theta):
        """Return the NNGP kernel object at θ = (C_W, C_b, s)."""
        return nngp_kernel(self.depth, self.activation, theta)

    def log_prior(self, u):
        """Σ_i log N(u_i; μ_i, σ_i²) inside the ±10 σ_i truncation, else -inf."""
        z = (np.asarray(u, dtype=float) - self.mu) / self.sigma
        if not np.all(np.abs(z) <= PRIOR_TRUNCATION):  # also catches NaN
            return -np.inf
        return float(np.sum(-0.5 * z**2 - np.log(self.sigma) - 0.5 * _LOG_2PI))

    def __call__(self, u):
        """Return log p(u | y) at u of shape (3,) (what emcee calls)."""
        return self.evaluate(u, gradient=False)

    def evaluate(self, u, gradient=False):
        """Log posterior at u of shape (3,); with ``gradient``, also ∂/∂u (or None).

        Returns -inf (and a None gradient) outside the support, never NaN; raises
        a ValueError for u of another shape.
        """
        self.n_calls += 1
        outside = (-np.inf, None) if gradient else -np.inf
        point = self._point(u)
        if point is None:
            return outside
        lp, _, c_w, c_b, s = point
        with np.errstate(over="ignore", invalid="ignore"):
            if gradient:
                K, dK = self._gram.with_gradient(c_w, c_b)
            else:
                K, dK = self._gram(c_w, c_b), None
            if self._F is not None:  # docs/theory §4: the prior covariance of F f(X)
                K = self._F @ K @ self._F.T
            chol = self._factor(K, s)
            if chol is None:
                return outside
            alpha = _lapack.dpotrs(chol, self._y, lower=1)[0]  # Ref. [1], Alg. 2.1
            half_logdet = np.log(chol.diagonal()).sum()
            value = lp + (-0.5 * (self._y @ alpha) - half_logdet + self._lik_norm)
            if not math.isfinite(value):
                return outside
            if not gradient:
                return float(value)
            return float(value), self._gradient(point, chol, alpha, dK)

    def _point(self, u):
        """(log prior, u, C_W, C_b, s) at u, or None outside the support.

        The prior in closed form on Python floats:
        Σ_i log N(u_i; μ_i, σ_i²) = -½ Σ_i z_i² - Σ_i log σ_i - (3/2) log 2π.
        """
        u = np.asarray(u, dtype=float)
        if u.shape != (N_PARAMETERS,):
            raise ValueError(
                f"u must have shape ({N_PARAMETERS},) (log C_W, log C_b, log s), got "
                f"shape {u.shape}"
            )
        u = u.tolist()
        z2 = 0.0
        for u_i, mu_i, sigma_i in zip(u, self._mu, self._sigma, strict=True):
            z = (u_i - mu_i) / sigma_i
            if not abs(z) <= PRIOR_TRUNCATION:  # also catches NaN
                return None
            z2 += z * z
        try:
            c_w, c_b, s = (math.exp(u_i) for u_i in u)
        except OverflowError:  # a prior reaching e^710: no finite kernel there
            return None
        return self._prior_norm - 0.5 * z2, u, c_w, c_b, s

    def _factor(self, K, s):
        """Lower Cholesky factor of A = K + sC (jittered if needed, counted), or None.

        LAPACK's ``dpotrf`` on A's memory read as Fortran order (Aᵀ: it reads the
        upper triangle of K + sC); with a failure (or NaN/inf) the factorisation is
        redone by :func:`~nngpbayes._linalg.jittered_cholesky` on the symmetrised A.
        """
        if not np.isfinite(K).all():
            return None
        A = K + s * self._C  # docs/theory §4: F K_XX Fᵀ + C with C -> sC
        chol, info = _lapack.dpotrf(A.T, lower=1, overwrite_a=1)
        if info == 0:
            return chol
        A = K + s * self._C
        try:
            chol, jitter = jittered_cholesky(
                0.5 * (A + A.T), self.matrix_name, warn=False
            )
        except ValueError:  # not PD even with the largest ridge
            return None
        self.n_jittered += jitter > 0
        return chol

    def _gradient(self, point, chol, alpha, dK):
        """Return ∂ log p / ∂u: ½ αᵀ ∂A α − ½ tr(A⁻¹ ∂A) per direction [1, eq. 5.9].

        With G = ααᵀ − A⁻¹ both terms are ½ Σ_ij G_ij ∂A_ij: ∂A = F (∂K/∂u_k) Fᵀ for
        the kernel parameters, so ½ Σ (Fᵀ G F) ∘ ∂K/∂u_k on the grid, and s C for
        log s.
        """
        _, u, _, _, s = point
        # L⁻¹: dtrtri keeps the upper part of ``chol``, zeros (dpotrf's clean=1)
        inv_chol = _lapack.dtrtri(chol, lower=1)[0]
        G = np.outer(alpha, alpha)
        G -= inv_chol.T @ inv_chol  # A⁻¹ = L⁻ᵀ L⁻¹
        noise = 0.5 * s * np.vdot(G, self._C)
        if self._F is not None:
            G = self._F.T @ G @ self._F
        n = G.size
        kernel = 0.5 * (dK.reshape(2, n) @ G.reshape(n))
        prior = [
            (u_i - m) / v for u_i, m, v in zip(u, self._mu, self._var, strict=True)
        ]
        return np.array([kernel[0] - prior[0], kernel[1] - prior[1], noise - prior[2]])


def check_data(X, y, data_cov, forward_map=None):
    """Return validated (X, y, C, F) for the hyperparameter model.

    Parameters
    ----------
    X : array-like of shape (n_grid, n_features)
        The inputs of f: the data inputs when ``forward_map`` is None.
    y : array-like of shape (n_data,)
    data_cov : None, float, array-like of shape (n_data,) or (n_data, n_data)
        ``None`` is the identity.
    forward_map : array-like of shape (n_data, n_grid) or None, default=None
        The linear forward map F of y = F f(X) + ε; None is the identity
        (n_data = n_grid).

    Returns
    -------
    X : ndarray of shape (n_grid, n_features)
    y : ndarray of shape (n_data,)
    C : ndarray of shape (n_data, n_data)
        Symmetric positive definite.
    F : ndarray of shape (n_data, n_grid) or None

    Raises
    ------
    ValueError
        Naming ``X``, ``y``, ``data_cov`` or ``forward_map`` for NaN/inf, shape
        mismatches and a data covariance that is not positive definite.
    """
    X = check_inputs(X, "X")
    F = check_forward_map(forward_map, X.shape[0])
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ValueError(
            f"y must be 1-D of shape (n_samples,), got shape {y.shape} (use y.ravel() "
            "for a single output)"
        )
    if F is None and y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y has {y.shape[0]} values but X has {X.shape[0]} rows; they must match"
        )
    if F is not None and y.shape[0] != F.shape[0]:
        raise ValueError(
            f"y has {y.shape[0]} values but forward_map has {F.shape[0]} rows (one "
            "per datum); they must match"
        )
    if not np.isfinite(y).all():
        raise ValueError(f"y contains {int((~np.isfinite(y)).sum())} NaN or inf values")
    n = len(y)
    C = np.eye(n) if data_cov is None else as_covariance(data_cov, n, "data_cov")
    cholesky_psd(C, "data_cov")  # raises a ValueError naming data_cov
    return X, y, C, F


def check_prior(prior_mean, prior_std):
    """Return validated μ and σ of the priors on u = (log C_W, log C_b, log s).

    Returns
    -------
    mu, sigma : ndarray of shape (3,)
        Finite; σ > 0.

    Raises
    ------
    ValueError
        Naming ``prior_mean`` or ``prior_std`` and the value received.
    """
    return _vector(prior_mean, "prior_mean"), _vector(prior_std, "prior_std", True)


def _vector(value, name, positive=False):
    try:
        v = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        v = np.full(1, np.nan)  # not numbers: reported below
    ok = v.shape == (N_PARAMETERS,) and np.isfinite(v).all()
    if not ok or (positive and np.any(v <= 0)):
        what = "positive finite" if positive else "finite"
        raise ValueError(
            f"{name} must be {N_PARAMETERS} {what} numbers for (log C_W, log C_b, "
            f"log s), got {value!r}"
        )
    return v


def warn_jitter(n_jittered, n_calls, stacklevel=3, name="K + sC"):
    """Issue one :class:`IllConditionedWarning` if a factorisation needed a ridge.

    That is, if any of ``n_calls`` factorisations of ``name`` (K + sC, or
    F K Fᵀ + sC through a forward map) needed a ridge.
    """
    if n_jittered:
        warnings.warn(
            f"{n_jittered} of {n_calls} factorisations of {name} needed a diagonal "
            "jitter (numerically singular); the results there carry a noise floor "
            "of up to 1e-6 of the kernel's diagonal",
            IllConditionedWarning,
            stacklevel=stacklevel,
        )
