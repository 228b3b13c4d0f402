"""The fitting methods of a closure test, as array functions.

See :ref:`theory-4` and :ref:`theory-6`.

Each method maps one level-1 dataset y₁ to the mean and covariance of its
predictions at the test inputs (and its mean on the training observables, for Δχ²):

- :func:`gp_posterior`: the Bayesian posterior with the NNGP prior (:ref:`theory-4`),
  mean = K_*g Fᵀ(F K Fᵀ + C)⁻¹ y, cov = K_** − K_*g Fᵀ(F K Fᵀ + C)⁻¹ F K_g*;
- :func:`flow_predictions`: the analytic ensemble of infinitely wide networks
  trained to time t, each on its own level-2 replica
  (:class:`~nngpbayes.dynamics.LinearFlow`);
- :func:`ensemble_predictions`: real finite-width networks
  (:class:`~nngpbayes.MLPEnsemble`) trained by gradient descent on level-2
  replicas; mean and covariance over members.

:mod:`._methods` wraps them into the runner's table of methods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _linalg
from ..architecture import Architecture
from ..dynamics import LinearFlow
from ..kernels import nngp_ntk

__all__ = [
    "Kernels",
    "gp_posterior",
    "linear_flow",
    "flow_predictions",
    "ensemble_predictions",
]


@dataclass
class Kernels:
    """NNGP (K) and NTK (Θ) on the grid (g) and test (s) inputs, computed once.

    Attributes
    ----------
    k_gg, t_gg : ndarray of shape (n_grid, n_grid)
    k_sg, t_sg : ndarray of shape (n_test, n_grid)
    k_ss : ndarray of shape (n_test, n_test)
    """

    k_gg: np.ndarray
    t_gg: np.ndarray
    k_sg: np.ndarray
    t_sg: np.ndarray
    k_ss: np.ndarray

    @classmethod
    def compute(cls, arch: Architecture, X_grid, X_test):
        """Both kernels of ``arch`` on the stacked inputs, in one pass."""
        X = np.vstack([X_grid, X_test])
        k, t = nngp_ntk(X, architecture=arch)
        g = len(X_grid)
        return cls(k[:g, :g], t[:g, :g], k[g:, :g], t[g:, :g], k[g:, g:])


def gp_posterior(kern: Kernels, y, cov, F=None):
    """Bayesian posterior of the NNGP prior through the shared core.

    Parameters
    ----------
    kern : Kernels
    y : ndarray of shape (n_data,)
    cov : ndarray of shape (n_data, n_data)
        The data covariance C.
    F : ndarray of shape (n_data, n_grid), optional
        The forward map (None: the identity).

    Returns
    -------
    mean : ndarray of shape (n_test,)
    cov : ndarray of shape (n_test, n_test)
    train_mean : ndarray of shape (n_data,)
        F K Fᵀ (F K Fᵀ + C)⁻¹ y, the posterior mean of the observables.
    """
    # docs/theory §4: the posterior through F (nngpbayes._linalg.gp_posterior)
    post = _linalg.gp_posterior(kern.k_gg, kern.k_sg, kern.k_ss, y, cov, F)
    return post.mean, post.cov, post.train_mean


def linear_flow(kern: Kernels, y, cov, F=None, learning_rate=1.0):
    """Return the :class:`~nngpbayes.dynamics.LinearFlow` of ``y`` (:ref:`theory-4`)."""
    return LinearFlow(
        kern.t_gg,
        kern.k_gg,
        y,
        forward_map=F,
        data_cov=cov,
        learning_rate=learning_rate,
    )


def flow_predictions(
    kern: Kernels, y, cov, times, F=None, learning_rate=1.0, replicas=True
):
    """Return the trained ensemble at ``times``.

    Returns
    -------
    mean : ndarray of shape (n_times, n_test)
    cov : ndarray of shape (n_times, n_test, n_test)
    train_mean : ndarray of shape (n_times, n_data)
    flow : LinearFlow
    """
    flow = linear_flow(kern, y, cov, F, learning_rate)
    mean, c = flow.predict(
        kern.t_sg, kern.k_sg, kern.k_ss, times, return_cov=True, replicas=replicas
    )
    grid_mean = flow.predict(kern.t_gg, time=times)
    train = grid_mean if F is None else grid_mean @ F.T
    return mean, c, train, flow


def ensemble_predictions(
    arch,
    width,
    n_members,
    X_grid,
    X_test,
    y,
    cov,
    step,
    n_steps,
    F=None,
    random_state=None,
    progress=False,
    n_jobs=None,
):
    """Train finite-width networks on level-2 replicas by gradient descent.

    They are trained to time t = ``n_steps · step`` (flow time of :ref:`theory-2`,
    η = 1).

    The step is ``step`` unless the members' own empirical NTK is stiffer (narrow
    networks fluctuate above the infinite-width spectrum): then it is
    1 / max eig(F H Fᵀ C⁻¹) of the members, with proportionally more steps, so
    every width trains to the same time. The loss is ½(Fφ(X_grid) − y)ᵀC⁻¹(Fφ(X_grid)
    − y) (:meth:`~nngpbayes.MLPEnsemble.fit` with ``forward_map``). ``n_jobs`` workers
    train the members (joblib's convention: None → 1 unless inside a
    :func:`joblib.parallel_config`, −1 → all cores).

    Returns
    -------
    mean : ndarray of shape (n_test,)
    cov : ndarray of shape (n_test, n_test)
    train_mean : ndarray of shape (n_data,)
        F times the members' mean on the grid.
    members : ndarray of shape (n_members, n_test)
        The members' test predictions.
    """
    from ..networks import MLPEnsemble

    ens = MLPEnsemble.from_architecture(
        arch,
        width=width,
        n_members=n_members,
        random_state=random_state,
        progress=progress,
        n_jobs=n_jobs,
    ).initialize(X_grid.shape[1])
    s_emp = ens.max_flow_eigenvalue(X_grid, cov, F)
    total = n_steps * step
    k = max(n_steps, int(np.ceil(total * s_emp)))
    ens.fit(X_grid, y, time=total, n_steps=k, y_cov=cov, replicas=True, forward_map=F)
    f = ens.predict(X_test)
    if not np.isfinite(f).all():
        raise RuntimeError(
            f"the width-{width} ensemble diverged during training ({k} steps to "
            f"t = {total:.3g}); check the data covariance"
        )
    grid_mean = ens.predict(X_grid).mean(0)
    return f.mean(0), np.cov(f.T), grid_mean if F is None else F @ grid_mean, f
