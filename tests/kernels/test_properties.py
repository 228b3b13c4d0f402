"""Property tests (hypothesis): every Gram matrix is symmetric and positive
semi-definite, over architectures and inputs (duplicates and tiny/huge scales too)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nngpbayes import Architecture
from nngpbayes.activations import ABReLU, LeakyReLU
from nngpbayes.kernels import nngp_ntk

ACTIVATIONS = [
    "relu",
    "erf",
    "tanh",
    "sin",
    "cos",
    "identity",
    "abs",
    "sigmoid",
    "softplus",
    "swish",
    LeakyReLU(0.2),
    ABReLU(-0.4, 1.1),
]

variance = st.floats(0.05, 3.0)


@st.composite
def architectures(draw):
    depth = draw(st.integers(0, 4))
    act = draw(st.sampled_from(ACTIVATIONS))
    per_layer = draw(st.booleans())
    n = depth + 1
    cw = (
        draw(st.lists(variance, min_size=n, max_size=n))
        if per_layer
        else draw(variance)
    )
    cb = draw(st.sampled_from([0.0, 0.01, 0.5]))
    lw = draw(st.one_of(st.none(), variance))
    return Architecture(depth, act, cw, cb, weight_lr=lw)


@st.composite
def inputs(draw):
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from([1e-3, 1.0, 3.0]))
    rng = np.random.default_rng(seed)
    X = scale * rng.normal(size=(n, d))
    if n > 2 and draw(st.booleans()):
        X[1] = X[0]  # an exact duplicate
        X[2] = X[0] * (1 + 1e-12)  # and a near one
    return X


def assert_psd(M, condition=1.0):
    """Symmetric, and PSD to round-off: λ_min ≥ −n · 4 eps · κ · λ_max.

    κ is the condition number of the dual maps: the exponential maps of sin and cos
    take differences of pre-activation variances q, so an entry carries an absolute
    error of about eps · q even where it is O(1) (q ≈ 18 gave −2.3e-15 at n = 4).
    """
    np.testing.assert_array_equal(M, M.T)
    eig = np.linalg.eigvalsh(M)
    tol = len(M) * 4e-16 * condition * max(eig.max(), 1e-300)
    assert eig.min() >= -tol, eig.min() / eig.max()


def _first_layer_variance(arch, X):
    """max_x q¹(x) = C_W⁰ |x|² / d + C_b⁰, the largest first-layer variance."""
    cw = np.atleast_1d(arch.weight_variance)[0]
    cb = np.atleast_1d(arch.bias_variance)[0]
    return float(cw * np.max(np.sum(X**2, axis=1)) / X.shape[1] + cb)


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples in every run (deterministic suite)
    suppress_health_check=[HealthCheck.too_slow],
)
@given(arch=architectures(), X=inputs())
def test_gram_matrices_are_symmetric_psd(arch, X):
    k, th = nngp_ntk(X, architecture=arch)
    assert np.all(np.isfinite(k)) and np.all(np.isfinite(th))
    condition = max(1.0, _first_layer_variance(arch, X))
    assert_psd(k, condition)
    assert_psd(th, condition)
    kd, thd = nngp_ntk(X, architecture=arch, diag=True)
    np.testing.assert_allclose(np.diag(k), kd, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(np.diag(th), thd, rtol=1e-14, atol=1e-300)
