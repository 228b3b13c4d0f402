"""The fitting methods on trial in a closure test (THEORY.md §4, §6).

Each method maps one level-1 dataset y₁ to the mean and covariance of its
predictions at the test observables (and its mean on the training observables, for
Δχ²):

- ``posterior``: the Bayesian posterior with the NNGP prior (THEORY.md §4),
  mean = K_*g Fᵀ(F K Fᵀ + C)⁻¹ y, cov = K_** − K_*g Fᵀ(F K Fᵀ + C)⁻¹ F K_g*;
- ``flow``: the analytic ensemble of infinitely wide networks trained to time t,
  each on its own level-2 replica (:class:`~nngpbayes.dynamics.LinearFlow`);
- ``ensemble``: real finite-width networks (:class:`~nngpbayes.MLPEnsemble`) trained
  by gradient descent on level-2 replicas; mean and covariance over members.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..architecture import Architecture
from ..dynamics import LinearFlow
from ..kernels import nngp_ntk

__all__ = ["Kernels", "gp_posterior", "flow_predictions", "ensemble_predictions"]


@dataclass
class Kernels:
    """NNGP (K) and NTK (Θ) on the grid (g) and test (s) inputs, computed once."""

    k_gg: np.ndarray
    t_gg: np.ndarray
    k_sg: np.ndarray
    t_sg: np.ndarray
    k_ss: np.ndarray

    @classmethod
    def compute(cls, arch: Architecture, X_grid, X_test):
        X = np.vstack([X_grid, X_test])
        k, t = nngp_ntk(X, architecture=arch)
        g = len(X_grid)
        return cls(k[:g, :g], t[:g, :g], k[g:, :g], t[g:, :g], k[g:, g:])


def _forward(F, n):
    return np.eye(n) if F is None else F


def gp_posterior(kern: Kernels, y, cov, F=None):
    """Bayesian posterior of the NNGP prior: test mean, test cov, training-obs mean."""
    F = _forward(F, len(kern.k_gg))
    kfg = F @ kern.k_gg
    a = F @ kfg.T + cov  # F K Fᵀ + C
    chol = np.linalg.cholesky(0.5 * (a + a.T))
    solve = lambda b: np.linalg.solve(chol.T, np.linalg.solve(chol, b))  # noqa: E731
    ks = kern.k_sg @ F.T  # K_*g Fᵀ
    mean = ks @ solve(y)
    cov_s = kern.k_ss - ks @ solve(ks.T)
    train = kfg @ F.T @ solve(y)
    return mean, 0.5 * (cov_s + cov_s.T), train


def flow_predictions(
    kern: Kernels, y, cov, times, F=None, learning_rate=1.0, replicas=True
):
    """The trained ensemble at ``times``: test means (T, n), covs (T, n, n) and
    training-observable means (T, n_data)."""
    flow = LinearFlow(
        kern.t_gg,
        kern.k_gg,
        y,
        forward_map=F,
        data_cov=cov,
        learning_rate=learning_rate,
    )
    mean, c = flow.predict(
        kern.t_sg, kern.k_sg, kern.k_ss, times, return_cov=True, replicas=replicas
    )
    grid_mean = flow.predict(kern.t_gg, time=times)
    train = grid_mean @ _forward(F, len(kern.k_gg)).T
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
):
    """Finite-width networks trained on level-2 replicas by gradient descent to
    time t = ``n_steps · step`` (flow time of THEORY.md §2, η = 1).

    The step is ``step`` unless the members' own empirical NTK is stiffer (narrow
    networks fluctuate above the infinite-width spectrum): then it is
    1 / max eig(H C⁻¹) of the members, with proportionally more steps, so every
    width trains to the same time. The loss through F is not supported by
    :class:`~nngpbayes.MLPEnsemble`: F must be the identity.

    Returns test mean (n,), test covariance (n, n), training mean (n_data,) and
    the members' test predictions (n_members, n).
    """
    from ..networks import MLPEnsemble

    if F is not None:
        raise ValueError(
            "finite-width ensembles in closure tests need forward_map=None"
        )
    ens = MLPEnsemble.from_architecture(
        arch,
        width=width,
        n_members=n_members,
        random_state=random_state,
        progress=progress,
    ).initialize(X_grid.shape[1])
    s_emp = ens.max_flow_eigenvalue(X_grid, cov)
    total = n_steps * step
    k = max(n_steps, int(np.ceil(total * s_emp)))
    ens.fit(X_grid, y, time=total, n_steps=k, y_cov=cov, replicas=True)
    f = ens.predict(X_test)
    if not np.isfinite(f).all():
        raise RuntimeError(
            f"the width-{width} ensemble diverged during training ({k} steps to "
            f"t = {total:.3g}); check the data covariance"
        )
    return f.mean(0), np.cov(f.T), ens.predict(X_grid).mean(0), f
