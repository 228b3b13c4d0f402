"""MAP estimate, Laplace covariance and MCMC starting positions (package-internal).

The walkers of the hyperparameter sampler start from the Laplace approximation of
p(u | y) around its mode [1, §3.4]: u ~ N(u_MAP, (−∇² log p(u_MAP | y))⁻¹), the mode
found by L-BFGS-B [2] with the analytic gradient of
:class:`~nngpbayes.closure._hyperposterior.LogPosterior` (through the forward map F
when the log posterior carries one: ∂A/∂u = F (∂K/∂u) Fᵀ).

References
----------
.. [1] C. E. Rasmussen, C. K. I. Williams, "Gaussian Processes for Machine
   Learning" (MIT Press, 2006), §3.4 (Laplace approximation).
.. [2] R. H. Byrd, P. Lu, J. Nocedal, C. Zhu, "A limited memory algorithm for bound
   constrained optimization", SIAM J. Sci. Comput. 16, 1190 (1995).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from ._hyperposterior import N_PARAMETERS, PRIOR_TRUNCATION

__all__ = [
    "check_initial",
    "initial_positions",
    "laplace_covariance",
    "map_estimate",
]

#: L-BFGS-B sees this finite wall where the density is zero.
_WALL = 1e300


def map_estimate(logpost, starts):
    """Return the highest of the local maxima of log p(u | y) found from ``starts``.

    Parameters
    ----------
    logpost : LogPosterior
    starts : sequence of ndarray of shape (3,)
        Starting points of L-BFGS-B, bounded inside the prior truncation.

    Returns
    -------
    u_map : ndarray of shape (3,) or None
        None when the density was zero everywhere the optimiser looked.
    """

    def negative(u):
        value, grad = logpost.evaluate(u, gradient=True)
        if grad is None:  # outside the support: a large finite wall for L-BFGS
            return _WALL, np.zeros(N_PARAMETERS)
        return -value, -grad

    half = PRIOR_TRUNCATION * logpost.sigma * (1 - 1e-9)
    bounds = list(zip(logpost.mu - half, logpost.mu + half, strict=True))
    best = None
    for u0 in starts:
        res = optimize.minimize(
            negative, u0, jac=True, method="L-BFGS-B", bounds=bounds
        )
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    return None if best is None or best.fun >= _WALL else best.x


def laplace_covariance(logpost, u_map, step=1e-4):
    """(−∇² log p)⁻¹ at the mode, by central differences of the analytic gradient.

    Parameters
    ----------
    logpost : LogPosterior
    u_map : ndarray of shape (3,)
    step : float, default=1e-4
        Finite-difference step in log space.

    Returns
    -------
    cov : ndarray of shape (3, 3) or None
        None when the Hessian is not negative definite (or a gradient is missing).
    """
    grads = []
    for e in step * np.eye(N_PARAMETERS):
        g_plus = logpost.evaluate(u_map + e, gradient=True)[1]
        g_minus = logpost.evaluate(u_map - e, gradient=True)[1]
        if g_plus is None or g_minus is None:
            return None
        grads.append((g_plus - g_minus) / (2 * step))
    H = -0.5 * (np.array(grads) + np.array(grads).T)
    w, v = np.linalg.eigh(H)
    if not np.all(np.isfinite(w)) or w[0] <= 0:
        return None
    return (v / w) @ v.T


def initial_positions(logpost, rng, n_walkers):
    """Walkers drawn from the Laplace approximation around the MAP.

    Local optimisation (L-BFGS-B with the analytic gradient) from the prior mean and
    four prior draws; walkers ~ N(u_MAP, (−∇² log p)⁻¹). If the Hessian is not
    negative definite, a ball of 0.1 prior standard deviations is used instead.

    Parameters
    ----------
    logpost : LogPosterior
    rng : numpy.random.Generator
    n_walkers : int

    Returns
    -------
    p0 : ndarray of shape (n_walkers, 3)
        Positions in log space, each with a non-zero density.

    Raises
    ------
    ValueError
        When the density is zero wherever the optimiser looked.
    """
    starts = [logpost.mu] + list(
        logpost.mu + logpost.sigma * rng.standard_normal((4, N_PARAMETERS))
    )
    u_map = map_estimate(logpost, starts)
    if u_map is None:
        raise ValueError(
            "the log posterior is -inf everywhere the optimiser looked; check y, "
            "data_cov, forward_map and the prior (prior_mean, prior_std)"
        )
    cov = laplace_covariance(logpost, u_map)
    if cov is None:
        cov = np.diag((0.1 * logpost.sigma) ** 2)
    L = np.linalg.cholesky(cov)
    p0 = u_map + rng.standard_normal((n_walkers, N_PARAMETERS)) @ L.T
    for i in range(n_walkers):  # redraw, closer to the mode, walkers that land
        for k in range(1, 40):  # where the density is zero (2^-40 ≈ at the mode)
            if np.isfinite(logpost(p0[i])):
                break
            p0[i] = u_map + 0.5**k * L @ rng.standard_normal(N_PARAMETERS)
    return p0


def check_initial(initial, logpost, n_walkers):
    """User-given starting positions, checked.

    Parameters
    ----------
    initial : array-like of shape (n_walkers, 3)
    logpost : LogPosterior
    n_walkers : int

    Returns
    -------
    p0 : ndarray of shape (n_walkers, 3)

    Raises
    ------
    ValueError
        Naming ``initial``: wrong shape, non-finite, zero density, or walkers that
        do not span all three dimensions (emcee's moves could never leave that
        subspace).
    """
    p0 = np.array(initial, dtype=float)
    if p0.shape != (n_walkers, N_PARAMETERS) or not np.isfinite(p0).all():
        raise ValueError(
            f"initial must be finite log-space positions of shape ({n_walkers}, "
            f"{N_PARAMETERS}) (n_walkers, [log C_W, log C_b, log s]), got shape "
            f"{p0.shape}"
        )
    bad = [i for i in range(n_walkers) if not np.isfinite(logpost(p0[i]))]
    if bad:
        raise ValueError(
            f"initial walkers {bad} have zero posterior density (outside the prior "
            "truncation or a singular covariance); move them"
        )
    if np.linalg.matrix_rank(p0 - p0.mean(axis=0)) < N_PARAMETERS:
        raise ValueError(
            "initial walkers must span all 3 dimensions (they lie in a lower-"
            "dimensional subspace, e.g. identical walkers); add a small random spread"
        )
    return p0
