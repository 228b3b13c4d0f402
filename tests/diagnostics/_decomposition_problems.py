"""Shared problems of the decomposition tests (imported by test modules)."""

import numpy as np

from nngpbayes.architecture import Architecture
from nngpbayes.kernels import nngp_ntk

ARCH = Architecture(depth=1, activation="erf", weight_variance=2.0, bias_variance=0.1)


def smoothing_problem(n_grid=30, n_data=15, seed=0, noise=0.01):
    """A PDF-like problem: a Gaussian smoothing F, a correlated C, a smooth truth
    and level-1 data y = F f* + η, η ~ N(0, C)."""
    rng = np.random.default_rng(seed)
    X = np.linspace(-1, 1, n_grid)[:, None]
    centres = np.linspace(-0.9, 0.9, n_data)
    F = np.exp(-((centres[:, None] - X[:, 0]) ** 2) / 0.05)
    F /= F.sum(1, keepdims=True)
    A = rng.standard_normal((n_data, n_data))
    C = noise * (A @ A.T / n_data + np.eye(n_data))
    f_true = np.sin(3 * X[:, 0])
    y = F @ f_true + np.linalg.cholesky(C) @ rng.standard_normal(n_data)
    return X, F, C, f_true, y


def stable_rate(th, F, C, fraction=0.5):
    """fraction × 2 / max eig(F Θ Fᵀ C⁻¹): a stable gradient-descent step."""
    g = np.linalg.solve(np.linalg.cholesky(C), F)  # L⁻¹F
    return fraction * 2 / np.linalg.eigvalsh(g @ th @ g.T).max()


def kernels(X, arch=ARCH):
    k, th = nngp_ntk(X, architecture=arch)
    return th, k
