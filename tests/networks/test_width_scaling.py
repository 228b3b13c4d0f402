"""How finite networks approach the infinite-width theory (:ref:`theory-5`), slow.

- The relative spread of the empirical NTK over members falls as n^(−1/2).
- A member trained by gradient descent stays within O(1/n) of its own linearisation
  (its empirical NTK frozen at t = 0) and within O(n^(−1/2)) of the infinite-width
  flow started at its own initial outputs.

Slopes are fitted on log-log scales to geometric means over members (the errors are
heavy-tailed). Both linearised references use the discrete filter
(1 − (1 − ηs)^k)/s, so the step size adds no error of its own.
"""

import numpy as np
import pytest

from nngpbayes import MLPEnsemble, NTKKernel

pytestmark = pytest.mark.slow

WIDTHS = [64, 128, 256, 512, 1024, 2048]


def slope(widths, values):
    return np.polyfit(np.log(widths), np.log(values), 1)[0]


def geometric_mean(x):
    return float(np.exp(np.mean(np.log(x))))


@pytest.mark.parametrize("activation,depth", [("tanh", 1), ("erf", 2), ("relu", 2)])
def test_ntk_spread_falls_as_inverse_sqrt_width(activation, depth):
    X = np.random.default_rng(0).normal(size=(6, 3))
    arch = dict(
        depth=depth, activation=activation, weight_variance=1.5, bias_variance=0.1
    )
    theta = NTKKernel(**arch)(X)
    spread = []
    widths = WIDTHS if depth == 1 else WIDTHS[:-1]
    for width in widths:
        ens = MLPEnsemble(
            **arch, width=width, n_members=48, random_state=width, n_jobs=-1
        )
        H = ens.empirical_ntk(X)
        spread.append(np.linalg.norm(H.std(0)) / np.linalg.norm(theta))
    assert slope(widths, spread) == pytest.approx(-0.5, abs=0.1)


def discrete_flow(f0, h, y, step, k):
    s, u = np.linalg.eigh(h)
    return f0 + u @ ((1 - (1 - step * s) ** k) * (u.T @ (y - f0)))


@pytest.mark.parametrize("activation,depth", [("tanh", 1), ("erf", 1), ("tanh", 2)])
def test_training_follows_linearisation_to_order_one_over_width(activation, depth):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(8, 3)), rng.normal(size=8)
    arch = dict(
        depth=depth, activation=activation, weight_variance=1.5, bias_variance=0.1
    )
    theta = NTKKernel(**arch)(X)
    t, k = 2.0, 200
    widths = WIDTHS if depth == 1 else WIDTHS[:-1]
    lin_err, inf_err = [], []
    for width in widths:
        ens = MLPEnsemble(
            **arch,
            width=width,
            n_members=16,
            random_state=width,
            progress=False,
            n_jobs=-1,
        )
        ens.initialize(3)
        f0, H0 = ens.predict(X), ens.empirical_ntk(X)
        ens.fit(X, y, time=t, n_steps=k)
        f = ens.predict(X)
        step = ens.step_size_
        lin = np.array(
            [discrete_flow(a, h, y, step, k) for a, h in zip(f0, H0, strict=True)]
        )
        inf = np.array([discrete_flow(a, theta, y, step, k) for a in f0])
        lin_err.append(geometric_mean(np.linalg.norm(f - lin, axis=1)))
        inf_err.append(geometric_mean(np.linalg.norm(f - inf, axis=1)))
    assert slope(widths, lin_err) <= -0.75, lin_err
    assert slope(widths, inf_err) == pytest.approx(-0.5, abs=0.15), inf_err


@pytest.mark.parametrize(
    "activation,depth",
    [("relu", 2), ("relu", 3), ("erf", 1), ("erf", 3), ("tanh", 2), ("tanh", 3)],
)
def test_initialisation_grid_matches_kernels(activation, depth):
    """The remaining (activation, depth) pairs of relu/erf/tanh × depths 1–3."""
    from nngpbayes import NNGPKernel

    X = np.random.default_rng(2).normal(size=(5, 3))
    m, width = 300, 512
    arch = dict(
        depth=depth, activation=activation, weight_variance=1.5, bias_variance=0.1
    )
    ens = MLPEnsemble(**arch, width=width, n_members=m, random_state=depth, n_jobs=-1)
    f = ens.predict(X)
    K, T = NNGPKernel(**arch)(X), NTKKernel(**arch)(X)
    prod = f[:, :, None] * f[:, None, :]
    bias = (depth - 1) * 2.0 / width * np.sqrt(np.outer(np.diag(K), np.diag(K)))
    assert np.all(np.abs(prod.mean(0) - K) <= 5 * prod.std(0) / np.sqrt(m) + bias)
    H = ens.empirical_ntk(X)
    bias = 2.0 * depth / width * np.sqrt(np.outer(np.diag(T), np.diag(T)))
    assert np.all(np.abs(H.mean(0) - T) <= 5 * H.std(0) / np.sqrt(m) + bias)
