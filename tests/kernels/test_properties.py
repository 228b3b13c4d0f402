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


def assert_psd(M):
    np.testing.assert_array_equal(M, M.T)
    eig = np.linalg.eigvalsh(M)
    # round-off level: n · eps · largest eigenvalue
    assert eig.min() >= -len(M) * 4e-16 * max(eig.max(), 1e-300), eig.min() / eig.max()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arch=architectures(), X=inputs())
def test_gram_matrices_are_symmetric_psd(arch, X):
    k, th = nngp_ntk(X, architecture=arch)
    assert np.all(np.isfinite(k)) and np.all(np.isfinite(th))
    assert_psd(k)
    assert_psd(th)
    kd, thd = nngp_ntk(X, architecture=arch, diag=True)
    np.testing.assert_allclose(np.diag(k), kd, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(np.diag(th), thd, rtol=1e-14, atol=1e-300)
