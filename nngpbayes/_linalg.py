"""The shared numerical core (private): Cholesky, PSD root, sampler, GP posterior.

One jittered Cholesky, one PSD root and correlated-Gaussian sampler, one GP
posterior through an optional forward map.

Every subpackage calls these; none writes its own. Guards that change a result
warn with :class:`~nngpbayes._numerics.IllConditionedWarning`; inputs that cannot
be repaired raise a ``ValueError`` naming the argument.

References
----------
[1] C. E. Rasmussen and C. K. I. Williams, *Gaussian Processes for Machine
    Learning*, MIT Press (2006), Algorithm 2.1.
[2] :ref:`theory-4`: the posterior through a linear forward map F.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from ._numerics import IllConditionedWarning, eigh_ascending

__all__ = [
    "GPPosterior",
    "draw_gaussian",
    "gp_posterior",
    "jittered_cholesky",
    "psd_root",
]

_EPS = np.finfo(float).eps

#: Relative ridges (of the mean diagonal) tried in turn by :func:`jittered_cholesky`.
JITTER_STEPS = tuple(np.geomspace(1e-10, 1e-6, 5))


def jittered_cholesky(a, name, *, warn=True):
    """Lower Cholesky factor of a symmetric positive-definite ``a``, with jitter.

    ``a`` is positive definite in exact arithmetic wherever this is called (a
    kernel plus a positive-definite data covariance); a failed factorisation is
    round-off when the data part is tiny beside a low-rank kernel. A ridge
    ``r · mean(diag a) · I`` with r = 1e-10, 1e-9, …, 1e-6 is then added until the
    factorisation succeeds [1, §A.4].

    Parameters
    ----------
    a : ndarray of shape (n, n)
    name : str
        What ``a`` is, for the warning and the error.
    warn : bool, default=True
        Warn (:class:`IllConditionedWarning`) when a ridge was added. Callers that
        factorise many matrices (a sampler) count jitter and warn once themselves.

    Returns
    -------
    chol : ndarray of shape (n, n)
        Lower-triangular L with L Lᵀ = a + jitter · mean(diag a) · I.
    jitter : float
        The relative ridge added (0.0 when none was needed).

    Raises
    ------
    ValueError
        If ``a`` holds NaN or inf, or is not positive definite even with a ridge of
        1e-6 of its mean diagonal.

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes._linalg import jittered_cholesky
    >>> L, rel_jitter = jittered_cholesky(np.array([[4.0, 2.0], [2.0, 2.0]]), "a")
    >>> L
    array([[2., 0.],
           [1., 1.]])
    >>> rel_jitter  # no jitter was needed
    0.0
    """
    a = np.asarray(a, dtype=float)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    try:
        return np.linalg.cholesky(a), 0.0
    except np.linalg.LinAlgError:
        pass
    scale = float(np.mean(np.diag(a)))
    eye = np.eye(len(a))
    for rel in JITTER_STEPS if scale > 0 else ():
        try:
            chol = np.linalg.cholesky(a + rel * scale * eye)
        except np.linalg.LinAlgError:
            continue
        if warn:
            warnings.warn(
                f"{name} is not positive definite to working precision; a ridge of "
                f"{rel:.1e} × its mean diagonal was added to factorise it",
                IllConditionedWarning,
                stacklevel=2,
            )
        return chol, float(rel)
    smallest = float(np.linalg.eigvalsh(0.5 * (a + a.T))[0])
    raise ValueError(
        f"{name} is not positive definite (smallest eigenvalue {smallest:.3g}), even "
        f"with a ridge of {JITTER_STEPS[-1]:.0e} × its mean diagonal; check the "
        "kernel hyperparameters and the data covariance"
    )


def psd_root(cov, name, *, scale=None):
    """Return R with R Rᵀ = ``cov`` for a symmetric positive semi-definite ``cov``.

    R = U diag(√s) from the eigendecomposition (works for singular ``cov``, where a
    Cholesky factor does not exist). Negative eigenvalues within
    ``10 · n · eps · scale`` of zero are round-off and are clipped to 0 silently;
    more negative ones are clipped with an :class:`IllConditionedWarning` (the
    matrix is then not PSD to working precision).

    Parameters
    ----------
    cov : ndarray of shape (n, n)
    name : str
        What ``cov`` is, for the warning.
    scale : float, optional
        The magnitude of the round-off in ``cov``. A covariance formed as a
        difference (K** − VᵀV) carries round-off of the size of the prior
        variance, not of its own largest eigenvalue: pass that. Default
        max(eigenvalues).

    Returns
    -------
    root : ndarray of shape (n, n)
    """
    cov = np.asarray(cov, dtype=float)
    s, u = eigh_ascending(0.5 * (cov + cov.T))
    top = max(float(s[-1]), 0.0) if scale is None else float(scale)
    tol = 10 * len(s) * _EPS * max(top, np.finfo(float).tiny)
    if s[0] < -tol:
        warnings.warn(
            f"{name} has an eigenvalue {s[0]:.3g} below the round-off level "
            f"{-tol:.3g}: it is not positive semi-definite to working precision; "
            "negative eigenvalues were clipped to 0",
            IllConditionedWarning,
            stacklevel=2,
        )
    return u * np.sqrt(np.clip(s, 0.0, None))


def draw_gaussian(mean, cov, rng, size=None, *, name="the covariance", scale=None):
    """Draws of N(``mean``, ``cov``) through :func:`psd_root`.

    Parameters
    ----------
    mean : ndarray of shape (n,)
    cov : ndarray of shape (n, n)
        Positive semi-definite (may be singular).
    rng : numpy.random.Generator
    size : int, optional
        Number of draws; None draws one.
    name, scale
        As in :func:`psd_root`.

    Returns
    -------
    ndarray of shape (n,) or (size, n)
    """
    root = psd_root(cov, name, scale=scale)
    n = root.shape[0]
    if size is None:
        return np.asarray(mean) + root @ rng.standard_normal(n)
    return np.asarray(mean) + rng.standard_normal((size, n)) @ root.T


@dataclass
class GPPosterior:
    """The Gaussian-process posterior returned by :func:`gp_posterior`.

    Attributes
    ----------
    mean : ndarray of shape (n_test,) or (n_test, n_sets)
        Posterior mean at the test inputs (one column per data set of ``y``).
    cov : ndarray of shape (n_test, n_test) or None
        Posterior covariance at the test inputs (None if not requested).
    train_mean : ndarray of shape (n_data,) or (n_data, n_sets)
        Posterior mean of the observables, F K Fᵀ (F K Fᵀ + C)⁻¹ y.
    chol : ndarray of shape (n_data, n_data)
        Lower Cholesky factor of F K Fᵀ + C (jittered if ``jitter`` > 0).
    alpha : ndarray of shape (n_data,) or (n_data, n_sets)
        (F K Fᵀ + C)⁻¹ y.
    jitter : float
        The relative ridge :func:`jittered_cholesky` added (0.0 if none).
    """

    mean: np.ndarray
    cov: np.ndarray | None
    train_mean: np.ndarray
    chol: np.ndarray
    alpha: np.ndarray
    jitter: float

    def log_marginal_likelihood(self, y):
        """Return log N(y; 0, F K Fᵀ + C) of the data the posterior conditions on."""
        y = np.asarray(y, dtype=float)
        n = self.chol.shape[0]
        quad = np.einsum("i...,i...->...", y, self.alpha)
        logdet = 2.0 * np.log(np.diag(self.chol)).sum()
        return -0.5 * (quad + logdet + n * np.log(2.0 * np.pi))


def gp_posterior(
    k_grid,
    k_test_grid,
    k_test,
    y,
    data_cov,
    forward_map=None,
    *,
    return_cov=True,
    name="F K Fᵀ + C",
    warn=True,
):
    r"""Compute the posterior of a GP prior f ~ N(0, K) seen through y = F f(X) + ε.

    .. math::

        A = F K_{gg} F^T + C, \qquad
        \mu_* = K_{*g} F^T A^{-1} y, \qquad
        \Sigma_* = K_{**} - K_{*g} F^T A^{-1} F K_{g*},

    with ε ~ N(0, C) (:ref:`theory-4`; [1], Alg. 2.1 with F = I).

    Parameters
    ----------
    k_grid : ndarray of shape (n_grid, n_grid)
        Prior covariance K_gg on the grid inputs.
    k_test_grid : ndarray of shape (n_test, n_grid)
        Prior covariance K_*g between test and grid inputs.
    k_test : ndarray of shape (n_test, n_test) or None
        Prior covariance K_** of the test inputs (needed only for ``return_cov``).
    y : ndarray of shape (n_data,) or (n_data, n_sets)
        Observations; several data sets share one factorisation.
    data_cov : ndarray of shape (n_data, n_data)
        Data covariance C.
    forward_map : ndarray of shape (n_data, n_grid), optional
        The linear forward map F (an FK table); None is the identity.
    return_cov : bool, default=True
    name : str
        Name of A in errors and warnings.
    warn : bool, default=True
        Passed to :func:`jittered_cholesky`.

    Returns
    -------
    GPPosterior

    Examples
    --------
    A nearly noise-free posterior reproduces the data at the data inputs:

    >>> import numpy as np
    >>> from nngpbayes import NNGPKernel
    >>> from nngpbayes._linalg import gp_posterior
    >>> X = np.linspace(-1, 1, 6)[:, None]
    >>> y = np.sin(3 * X[:, 0])
    >>> K = NNGPKernel(depth=1, bias_variance=0.1)(X)
    >>> post = gp_posterior(K, K, K, y, 1e-10 * np.eye(6))
    >>> bool(np.allclose(post.mean, y, atol=1e-6)), post.cov.shape
    (True, (6, 6))
    """
    k_grid = np.asarray(k_grid, dtype=float)
    k_test_grid = np.asarray(k_test_grid, dtype=float)
    if forward_map is None:
        kfg, ks = k_grid, k_test_grid  # F = I
    else:
        F = np.asarray(forward_map, dtype=float)
        kfg, ks = F @ k_grid, k_test_grid @ F.T  # F K_gg, K_*g Fᵀ
    kff = kfg if forward_map is None else kfg @ F.T
    a = kff + data_cov  # docs/theory §4: A = F K Fᵀ + C
    chol, jitter = jittered_cholesky(0.5 * (a + a.T), name, warn=warn)
    alpha = sla.cho_solve((chol, True), y)  # [1], Alg. 2.1, line 3
    mean = ks @ alpha
    cov = None
    if return_cov:
        v = sla.solve_triangular(chol, ks.T, lower=True)  # [1], Alg. 2.1, line 5
        cov = np.asarray(k_test, dtype=float) - v.T @ v
        cov = 0.5 * (cov + cov.T)
    return GPPosterior(mean, cov, kff @ alpha, chol, alpha, jitter)
