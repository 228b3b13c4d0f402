"""O_3 and O_4 against finite differences along their directions (:ref:`theory-5`)."""

import copy

import numpy as np
import pytest

from nngpbayes import MLPEnsemble
from nngpbayes.activations import Elementwise
from nngpbayes.finite_width import ntk_hierarchy

CASES = [
    # activation, depth, bias variance, weight lr, bias lr
    ("tanh", 1, 0.0, None, None),
    ("tanh", 2, 0.3, 0.7, 2.0),
    ("erf", 3, 0.1, None, None),
    ("gelu", 2, 0.2, 1.3, 0.4),
    ("sin", 2, 0.1, None, None),
    ("relu", 2, 0.2, None, None),
]


def _ensemble(activation, depth, bias_variance, weight_lr, bias_lr, width=12, seed=1):
    ens = MLPEnsemble(
        depth=depth,
        width=width,
        activation=activation,
        weight_variance=1.5,
        bias_variance=bias_variance,
        weight_lr=weight_lr,
        bias_lr=bias_lr,
        n_members=2,
        random_state=seed,
    )
    return ens.initialize(3)


def _flat(ens, m):
    return np.concatenate(
        [
            np.concatenate([w[m].ravel(), b[m]])
            for w, b in zip(ens.weights_, ens.biases_, strict=True)
        ]
    )


def _moved(ens, m, theta):
    """A copy of ``ens`` whose member m has the flat parameters ``theta``."""
    out = copy.deepcopy(ens)
    off = 0
    for layer in range(len(out.weights_)):
        shape = out.weights_[layer][m].shape
        size = shape[0] * shape[1]
        out.weights_[layer][m] = theta[off : off + size].reshape(shape)
        off += size
        nb = out.biases_[layer].shape[1]
        out.biases_[layer][m] = theta[off : off + nb]
        off += nb
    return out


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).standard_normal((4, 3))


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-d{c[1]}" for c in CASES])
def test_o3_o4_match_finite_differences(case, X):
    """O_3(a,b,c) = d/ds H(a,b; θ + s λJ_c), O_4(a,b,c,d) = d/ds O_3(a,b,c; θ + s λJ_d).

    Central differences with step h have error O(h²) ≈ 1e-8 relative here.
    """
    ens = _ensemble(*case)
    hier = ntk_hierarchy(ens, X)
    np.testing.assert_allclose(hier.ntk, ens.empirical_ntk(X), rtol=1e-13, atol=1e-14)
    lam = ens.parameter_lr()
    J = ens.jacobian(X)
    h = 1e-4
    for m in range(2):
        theta = _flat(ens, m)
        o3_fd = np.empty_like(hier.o3[m])
        o4_fd = np.empty_like(hier.o4[m])
        for c in range(len(X)):
            v = lam * J[m, c]
            up, down = _moved(ens, m, theta + h * v), _moved(ens, m, theta - h * v)
            o3_fd[..., c] = (up.empirical_ntk(X)[m] - down.empirical_ntk(X)[m]) / (
                2 * h
            )
            o4_fd[..., c] = (
                ntk_hierarchy(up, X).o3[m] - ntk_hierarchy(down, X).o3[m]
            ) / (2 * h)
        scale3, scale4 = np.abs(hier.o3[m]).max(), np.abs(hier.o4[m]).max()
        assert np.abs(o3_fd - hier.o3[m]).max() <= 1e-6 * scale3
        assert np.abs(o4_fd - hier.o4[m]).max() <= 1e-6 * scale4


def test_o3_against_explicit_hessian(X):
    """O_3(a,b,c) = J_cᵀλ Hess_a λJ_b + J_cᵀλ Hess_b λJ_a, Hessian-vector products
    from central differences of the explicit Jacobian."""
    ens = _ensemble("tanh", 2, 0.2, None, None)
    hier = ntk_hierarchy(ens, X)
    lam, m, h = ens.parameter_lr(), 1, 1e-5
    J = ens.jacobian(X)[m]
    theta = _flat(ens, m)
    hv = np.empty((len(X), len(X), len(theta)))  # hv[a, b] = Hess_a λJ_b
    for b in range(len(X)):
        v = lam * J[b]
        hv[:, b] = (
            _moved(ens, m, theta + h * v).jacobian(X)[m]
            - _moved(ens, m, theta - h * v).jacobian(X)[m]
        ) / (2 * h)
    s = np.einsum("abp,p,cp->abc", hv, lam, J)  # J_cᵀ λ Hess_a λ J_b
    np.testing.assert_allclose(hier.d2phi[m], s, atol=1e-8 * np.abs(s).max())
    o3 = s + s.transpose(1, 0, 2)
    np.testing.assert_allclose(hier.o3[m], o3, atol=1e-8 * np.abs(o3).max())


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_symmetries(depth, X):
    ens = _ensemble("erf", depth, 0.1, None, None)
    h = ntk_hierarchy(ens, X, steps=True)
    tol = 1e-13 * np.abs(h.o4).max()
    np.testing.assert_allclose(h.o3, h.o3.transpose(0, 2, 1, 3), atol=1e-14)
    np.testing.assert_allclose(h.o4, h.o4.transpose(0, 2, 1, 3, 4), atol=tol)
    np.testing.assert_allclose(h.d2phi, h.d2phi.transpose(0, 1, 3, 2), atol=1e-14)
    for perm in [(0, 1, 3, 2, 4), (0, 1, 4, 3, 2), (0, 1, 2, 4, 3)]:
        np.testing.assert_allclose(h.d3phi, h.d3phi.transpose(perm), atol=tol)
    np.testing.assert_allclose(
        h.ntk_hessian, h.ntk_hessian.transpose(0, 1, 2, 4, 3), atol=tol
    )
    # the parts add up: O_3 = S(a;b,c) + S(b;a,c); O_4 = DS(a;b,c,d) + DS(b;a,c,d)
    np.testing.assert_allclose(
        h.o3, h.d2phi + h.d2phi.transpose(0, 2, 1, 3), atol=1e-14
    )
    np.testing.assert_allclose(
        h.o4, h.d2phi_flow + h.d2phi_flow.transpose(0, 2, 1, 3, 4), atol=tol
    )


def test_o4_not_symmetric_in_last_slots(X):
    """O_4(a,b,c,d) ≠ O_4(a,b,d,c) in general (the directions λJ_c move)."""
    h = ntk_hierarchy(_ensemble("tanh", 2, 0.1, None, None), X)
    asym = np.abs(h.o4 - h.o4.transpose(0, 1, 2, 4, 3)).max()
    assert asym > 1e-3 * np.abs(h.o4).max()


def test_rows_are_the_slices_of_the_union(X):
    ens = _ensemble("tanh", 2, 0.1, 0.5, 1.5)
    X_rows = np.random.default_rng(5).standard_normal((3, 3))
    part = ntk_hierarchy(ens, X, X_rows=X_rows, steps=True)
    full = ntk_hierarchy(ens, np.vstack([X, X_rows]), steps=True)
    n = len(X)
    for name in ("ntk", "o3", "o4", "d2phi", "d3phi", "ntk_hessian", "d2phi_flow"):
        a = getattr(part, name)
        b = getattr(full, name)[:, n:]
        b = b[(slice(None), slice(None)) + (slice(0, n),) * (b.ndim - 2)]
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg=name)


def test_linear_model_has_no_higher_tensors(X):
    """depth 0: φ is linear in θ, so O_3 = O_4 = 0 exactly."""
    ens = _ensemble("tanh", 0, 0.5, None, None)
    h = ntk_hierarchy(ens, X)
    assert np.all(h.o3 == 0) and np.all(h.o4 == 0)
    np.testing.assert_allclose(h.ntk, ens.empirical_ntk(X), rtol=1e-14)


def test_tensors_scale_like_one_over_width():
    """Per network O_3 and O_4 are O(1/n) (:ref:`theory-5`): width × RMS over 16
    networks stays within a factor 2 from width 256 to 4096."""
    X = np.random.default_rng(2).standard_normal((3, 2))
    scaled = {}
    for width in (256, 4096):
        ens = MLPEnsemble(
            depth=1, width=width, activation="tanh", n_members=16, random_state=3
        ).initialize(2)
        h = ntk_hierarchy(ens, X)
        scaled[width] = width * np.array(
            [np.sqrt(np.mean(h.o3**2)), np.sqrt(np.mean(h.o4**2))]
        )
    ratio = scaled[4096] / scaled[256]
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio


def test_bad_input(X):
    ens = _ensemble("tanh", 1, 0.0, None, None)
    with pytest.raises(ValueError, match="X has 2 features"):
        ntk_hierarchy(ens, X[:, :2])
    with pytest.raises(ValueError, match="X_rows has 2 features"):
        ntk_hierarchy(ens, X, X_rows=X[:, :2])
    with pytest.raises(ValueError, match="X contains"):
        ntk_hierarchy(ens, np.where(X > 1, np.nan, X))
    bad = copy.deepcopy(ens)
    bad.weights_[0][1, 0, 0] = np.inf
    with pytest.raises(
        ValueError, match=r"non-finite parameters \(layer 0, members \[1\]"
    ):
        ntk_hierarchy(bad, X)
    with pytest.raises(ValueError, match="output"):
        ntk_hierarchy(ens, X, output=3)
    with pytest.raises(TypeError, match="MLPEnsemble"):
        ntk_hierarchy("network", X)
    user = MLPEnsemble(
        depth=1, width=4, activation=Elementwise(np.tanh, lambda x: 1 - np.tanh(x) ** 2)
    )
    with pytest.raises(ValueError, match="third_derivative"):
        ntk_hierarchy(user, X)


def test_elementwise_with_derivatives_matches_builtin(X):
    def d1(x):
        return 1 - np.tanh(x) ** 2

    def d2(x):
        return -2 * np.tanh(x) * d1(x)

    def d3(x):
        t2 = np.tanh(x) ** 2
        return -2 * (1 - t2) * (1 - 3 * t2)

    act = Elementwise(np.tanh, d1, d2, d3)
    kw = dict(depth=2, width=8, n_members=2, random_state=4, bias_variance=0.1)
    a = ntk_hierarchy(MLPEnsemble(activation=act, **kw), X)
    b = ntk_hierarchy(MLPEnsemble(activation="tanh", **kw), X)
    np.testing.assert_allclose(a.o4, b.o4, rtol=1e-12, atol=1e-15)
