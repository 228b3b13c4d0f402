"""init_statistics and critical_initialization against exact results.

References (INIT_STATISTICS.md §4 of the team notes, restated here):
- deep linear network: K = c^(d+1) G, V = d c^(2d+2) S[G], Θ = (d+1) λ c^d G,
  A = c_A λ² c^(2d) S[G], B = c_A λ² c^(2d) G⊗G, D = c_D λ c^(2d+1) S[G],
  F = c_D λ c^(2d+1) G⊗G, K1 = H1 = 0 (c_A = d(d+1)(2d+1)/6, c_D = d(d+1)/2);
- homogeneous σ on one input without bias: E[z⁴]/(3E[z²]²) = Π(1 + c/n) exactly, so
  V = c d K², K1 = H1 = 0 with c = E[σ⁴]/E[σ²]² − 1 (ReLU 5, |x| 2, leaky ReLU
  6(1+α⁴)/(1+α²)² − 1); ReLU with C_W = 2, λ_W = 2θ: A = θ²K² Σ(7ℓ² + ℓ),
  B = θ²K² d(d+1)(2d+1)/3, D = 3θ d(d+1) K², F = θ d(d+1) K²;
- one hidden layer (exact at 1/n): V = C_W² Cov(S, S), A = Cov(ω̄, ω̄),
  D = C_W Cov(ω̄, S), B = C_W² ⟨P P⟩ ΘΘ, F = C_W² ⟨Q Q⟩ Θ, evaluated here by an
  independent 2-D trapezoidal rule (h = 0.05 on |u| ≤ 9, error ~1e-15 for tanh).
"""

import numpy as np
import pytest

from nngpbayes import Architecture
from nngpbayes.activations import ACTIVATIONS
from nngpbayes.finite_width import (
    InitStatistics,
    _init_statistics,
    critical_initialization,
    init_statistics,
)


def _sym(g):
    return np.einsum("ac,bd->abcd", g, g) + np.einsum("ad,bc->abcd", g, g)


def _outer(g):  # (G⊗G)[a1, a3, a2, a4] = G_a1a2 G_a3a4
    return np.einsum("pr,qs->pqrs", g, g)


def _close(a, b, tol):
    scale = max(1.0, float(np.max(np.abs(b))))
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * scale)


@pytest.mark.parametrize("d", [1, 3])
def test_deep_linear_closed_forms(d):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 5))
    G = X @ X.T / 5
    c, lam = 1.3, 0.7
    arch = Architecture(
        depth=d, activation="identity", weight_variance=c, weight_lr=lam
    )
    st = init_statistics(X, arch, width=10)
    c_a, c_d = d * (d + 1) * (2 * d + 1) / 6, d * (d + 1) / 2
    (A, B), (D, F) = st.ntk_fluctuation, st.ntk_preactivation
    _close(st.nngp, c ** (d + 1) * G, 1e-12)
    _close(st.nngp_correction, 0 * G, 1e-10)
    _close(st.four_point, d * c ** (2 * d + 2) * _sym(G), 1e-10)
    _close(st.ntk, (d + 1) * lam * c**d * G, 1e-12)
    _close(st.ntk_correction, 0 * G, 1e-10)
    _close(A, c_a * lam**2 * c ** (2 * d) * _sym(G), 1e-10)
    _close(B, c_a * lam**2 * c ** (2 * d) * _outer(G), 1e-10)
    _close(D, c_d * lam * c ** (2 * d + 1) * _sym(G), 1e-10)
    _close(F, c_d * lam * c ** (2 * d + 1) * _outer(G), 1e-10)


@pytest.mark.parametrize(
    "activation, c",
    [("relu", 5.0), ("abs", 2.0), ("identity", 2.0)],
)
@pytest.mark.parametrize("d", [1, 2, 4])
def test_homogeneous_single_input(activation, c, d):
    x = np.array([[0.7, -1.2, 0.4]])
    cw = np.linspace(1.5, 2.5, d + 1)  # per-layer C_W: the ratio does not care
    st = init_statistics(
        x, Architecture(depth=d, activation=activation, weight_variance=cw), width=7
    )
    K = st.nngp[0, 0]
    _close(st.four_point[0, 0, 0, 0], c * d * K**2, 1e-10)
    _close(st.nngp_correction, np.zeros((1, 1)), 1e-10)
    _close(st.ntk_correction, np.zeros((1, 1)), 1e-10)
    # E[z⁴]/(3E[z²]²) = 1 + c d/n + O(1/n²): kurtosis 3 V/(n K²) = 3 c d / n
    _close(st.kurtosis, np.array([3 * c * d / 7]), 1e-10)


def test_leaky_relu_single_input():
    alpha, d, cw = 0.3, 3, 1.7
    x = np.array([[1.1, 0.2]])
    from nngpbayes.activations import LeakyReLU

    st = init_statistics(
        x,
        Architecture(depth=d, activation=LeakyReLU(alpha), weight_variance=cw),
        width=5,
    )
    c = 6 * (1 + alpha**4) / (1 + alpha**2) ** 2 - 1
    K = cw ** (d + 1) * ((1 + alpha**2) / 2) ** d * (x @ x.T)[0, 0] / 2
    _close(st.nngp[0, 0], K, 1e-12)
    _close(st.four_point[0, 0, 0, 0], c * d * K**2, 1e-10)
    _close(st.nngp_correction, np.zeros((1, 1)), 1e-10)
    _close(st.ntk_correction, np.zeros((1, 1)), 1e-10)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_relu_critical_single_input_ntk_tensors(d):
    theta = 1.5
    x = np.array([[0.7, -1.2, 0.4]])
    arch = Architecture(
        depth=d, activation="relu", weight_variance=2.0, weight_lr=2.0 * theta
    )
    st = init_statistics(x, arch, width=11)
    K = 2.0 * (x @ x.T)[0, 0] / 3
    (A, B), (D, F) = st.ntk_fluctuation, st.ntk_preactivation
    ells = np.arange(1, d + 1)
    _close(st.ntk[0, 0], (d + 1) * theta * K, 1e-12)
    _close(A[0, 0, 0, 0], theta**2 * K**2 * np.sum(7 * ells**2 + ells), 1e-10)
    _close(B[0, 0, 0, 0], theta**2 * K**2 * d * (d + 1) * (2 * d + 1) / 3, 1e-10)
    _close(D[0, 0, 0, 0], 3 * theta * d * (d + 1) * K**2, 1e-10)
    _close(F[0, 0, 0, 0], theta * d * (d + 1) * K**2, 1e-10)
    # relative NTK variance at θ = 1 scaling: d(11d + 7)/(3(d + 1) n)
    _close(
        st.ntk_relative_variance,
        np.array([d * (11 * d + 7) / (3 * (d + 1) * 11)]),
        1e-10,
    )


def _trapezoid_one_layer(M, act, cw, lw, theta):
    """One-hidden-layer tensors with z = u M^T, u ~ N(0, I_2), on a 2-D grid."""
    h = 0.05
    g = np.arange(-9.0, 9.0 + h / 2, h)
    w1 = h * np.exp(-0.5 * g * g) / np.sqrt(2 * np.pi)
    u = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    w = np.outer(w1, w1).ravel()
    z = u @ M.T
    s, p = act(z), act.derivative(z)

    def mean(*fs):
        spec = ",".join("p" + "abcd"[i] for i in range(len(fs)))
        return np.einsum(f"p,{spec}->{'abcd'[: len(fs)]}", w, *fs)

    T, Td = mean(s, s), mean(p, p)
    ss, pp, ps = mean(s, s, s, s), mean(p, p, p, p), mean(p, p, s, s)
    css = ss - np.einsum("ab,cd->abcd", T, T)
    cps = ps - np.einsum("ab,cd->abcd", Td, T)
    cpp = pp - np.einsum("ab,cd->abcd", Td, Td)
    th = theta[:, :, None, None]
    tcd = theta[None, None]
    V = cw**2 * css
    cov_ws = lw * css + cw * th * cps
    cov_ww = (
        lw**2 * css
        + lw * cw * (th * cps + (th * cps).transpose(2, 3, 0, 1))
        + cw**2 * th * tcd * cpp
    )
    B = cw**2 * pp * np.einsum("pr,qs->pqrs", theta, theta)
    F = cw**2 * ps.transpose(0, 2, 1, 3) * theta[:, None, :, None]
    return V, cov_ww, cw * cov_ws, B, F


@pytest.mark.parametrize(
    "activation", ["tanh", "gelu", "erf", "sin", "sigmoid", "softplus", "swish"]
)
def test_one_hidden_layer_two_inputs(activation):
    X = np.array([[0.9, -0.3, 0.5], [-0.2, 1.1, 0.4]])
    cw, cb, lw, lb = [1.3, 1.7], [0.2, 0.1], [0.6, 2.1], [0.5, 0.3]
    arch = Architecture(
        depth=1,
        activation=activation,
        weight_variance=cw,
        bias_variance=cb,
        weight_lr=lw,
        bias_lr=lb,
    )
    st = init_statistics(X, arch, width=3)
    K1 = cb[0] + cw[0] * X @ X.T / 3
    th1 = lb[0] + lw[0] * X @ X.T / 3
    ref = _trapezoid_one_layer(
        np.linalg.cholesky(K1), arch.activation, cw[1], lw[1], th1
    )
    (A, B), (D, F) = st.ntk_fluctuation, st.ntk_preactivation
    for got, want in zip((st.four_point, A, D, B, F), ref, strict=True):
        _close(got, want, 1e-7)
    _close(st.nngp_correction, np.zeros((2, 2)), 1e-12)
    _close(st.ntk_correction, np.zeros((2, 2)), 1e-12)


def test_one_hidden_layer_rank_deficient_four_inputs():
    """Scalar inputs with a bias: K^(1) has rank 2, so four inputs are a 2-D
    integral (z_a = √C_b u_1 + √C_W x_a u_2): exercises the pivoted factor."""
    x = np.array([[-1.0], [-0.3], [0.4], [1.2]])
    cw, cb = 1.4, 0.3
    arch = Architecture(
        depth=1, activation="tanh", weight_variance=cw, bias_variance=cb
    )
    st = init_statistics(x, arch, width=3)
    M = np.column_stack([np.full(4, np.sqrt(cb)), np.sqrt(cw) * x[:, 0]])
    ref = _trapezoid_one_layer(M, arch.activation, cw, cw, cb + cw * x @ x.T)
    (A, B), (D, F) = st.ntk_fluctuation, st.ntk_preactivation
    for got, want in zip((st.four_point, A, D, B, F), ref, strict=True):
        _close(got, want, 1e-7)


def test_relu_two_inputs_arc_cosine():
    """ReLU, one hidden layer: E[relu(u)²relu(v)²] = σ1²σ2² J_2(θ)/(2π) with
    J_2 = 3 sinθ cosθ + (π − θ)(1 + 2cos²θ) (Cho & Saul 2009), and
    E[step(u) step(v)] = (π − θ)/(2π)."""
    X = np.array([[1.0, 0.2], [0.3, -0.9]])
    cw, cb = 2.0, 0.4
    st = init_statistics(
        X, Architecture(depth=1, weight_variance=cw, bias_variance=cb), width=3
    )
    K = cb + cw * X @ X.T / 2
    theta = np.arccos(K[0, 1] / np.sqrt(K[0, 0] * K[1, 1]))
    j2 = 3 * np.sin(theta) * np.cos(theta) + (np.pi - theta) * (
        1 + 2 * np.cos(theta) ** 2
    )
    ssss = K[0, 0] * K[1, 1] * j2 / (2 * np.pi)
    V = cw**2 * (ssss - K[0, 0] / 2 * K[1, 1] / 2)
    _close(st.four_point[0, 0, 1, 1], V, 1e-10)
    th1 = cb + cw * X @ X.T / 2
    B = cw**2 * (np.pi - theta) / (2 * np.pi) * th1[0, 1] ** 2
    _close(st.ntk_fluctuation[1][0, 0, 1, 1], B, 1e-10)


def test_symmetries_and_width_independence():
    X = np.array([[0.9, -0.3], [-0.2, 1.1], [0.5, 0.5]])
    arch = Architecture(
        depth=2,
        activation="tanh",
        weight_variance=1.2,
        bias_variance=0.1,
        weight_lr=0.8,
    )
    st = init_statistics(X, arch, width=16)
    (A, B), (D, F) = st.ntk_fluctuation, st.ntk_preactivation
    for t in (st.four_point, A):
        _close(t, t.transpose(1, 0, 2, 3), 1e-12)
        _close(t, t.transpose(2, 3, 0, 1), 1e-12)
    _close(D, D.transpose(1, 0, 2, 3), 1e-12)
    _close(D, D.transpose(0, 1, 3, 2), 1e-12)
    for t in (B, F):
        _close(t, t.transpose(2, 3, 0, 1), 1e-12)
    _close(B, B.transpose(1, 0, 3, 2), 1e-12)
    for t in (st.nngp_correction, st.ntk_correction):
        _close(t, t.T, 1e-12)
    other = init_statistics(X, arch, width=64)
    np.testing.assert_array_equal(other.four_point, st.four_point)
    _close(other.kurtosis * 64, st.kurtosis * 16, 1e-12)
    assert st.depth_to_width == 3 / 16
    assert isinstance(st, InitStatistics)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_runs_and_is_symmetric(activation):
    """Every activation the kernels support: finite, symmetric tensors at depth 2."""
    X = np.array([[0.9, -0.3], [-0.2, 1.1]])
    arch = Architecture(depth=2, activation=activation, bias_variance=0.2)
    st = init_statistics(X, arch, width=32)
    (A, B), (D, F) = st.ntk_fluctuation, st.ntk_preactivation
    for t in (st.four_point, A, B, D, F, st.nngp_correction, st.ntk_correction):
        assert np.all(np.isfinite(t))
    _close(st.four_point, st.four_point.transpose(2, 3, 0, 1), 1e-12)
    _close(B, B.transpose(1, 0, 3, 2), 1e-12)


def test_user_activation_matches_builtin():
    """An Elementwise tanh (σ, σ' only) gives the built-in tanh's statistics."""
    from nngpbayes.activations import Elementwise

    user = Elementwise(np.tanh, lambda x: 1.0 / np.cosh(x) ** 2)
    X = np.array([[0.9, -0.3], [-0.2, 1.1], [0.4, 0.4]])
    got = init_statistics(X, Architecture(depth=2, activation=user), width=8)
    want = init_statistics(X, Architecture(depth=2, activation="tanh"), width=8)
    _close(got.four_point, want.four_point, 1e-10)
    _close(got.ntk_fluctuation[0], want.ntk_fluctuation[0], 1e-10)


def test_depth_zero_has_no_corrections():
    X = np.array([[0.9, -0.3], [-0.2, 1.1]])
    st = init_statistics(X, Architecture(depth=0, bias_variance=0.5), width=4)
    for t in (st.four_point, *st.ntk_fluctuation, *st.ntk_preactivation):
        assert np.all(t == 0)
    assert np.all(st.nngp_correction == 0) and np.all(st.ntk_correction == 0)


def test_critical_points():
    assert critical_initialization("relu") == (2.0, 0.0)
    assert critical_initialization("tanh") == (1.0, 0.0)
    cw, cb = critical_initialization("gelu")
    assert abs(cw - 1.98305826) < 1e-8 and abs(cb - 0.17292239) < 1e-8


def test_gelu_critical_point_is_a_fixed_point_with_unit_susceptibilities():
    """Independent check: at (C_W, C_b), K* = C_b + C_W⟨σ²⟩ and χ_⊥ = χ_∥ = 1,
    with ⟨·⟩ by a 1-D trapezoidal rule and χ_∥ = C_W ∂_K ⟨σ²⟩ by differences."""
    from nngpbayes.activations import GELU

    cw, cb = critical_initialization("gelu")
    act = GELU()
    h = 0.01
    u = np.arange(-12, 12 + h / 2, h)
    w = h * np.exp(-0.5 * u * u) / np.sqrt(2 * np.pi)

    def mean(f, k):
        return np.sum(w * f(np.sqrt(k) * u))

    def chi_perp(k):
        return cw * mean(lambda z: act.derivative(z) ** 2, k)

    from scipy.optimize import brentq

    # χ_⊥ grows monotonically with K here: its unit crossing is K* (well
    # conditioned, unlike the double root of K = C_b + C_W⟨σ²⟩ at criticality)
    k_star = brentq(lambda k: chi_perp(k) - 1.0, 0.5, 20.0, xtol=1e-14)
    residual = cb + cw * mean(lambda z: act(z) ** 2, k_star) - k_star
    eps = 1e-4
    chi_par = (
        cw
        * (
            mean(lambda z: act(z) ** 2, k_star + eps)
            - mean(lambda z: act(z) ** 2, k_star - eps)
        )
        / (2 * eps)
    )
    assert abs(residual) < 1e-9
    assert abs(chi_par - 1) < 1e-7


@pytest.fixture
def no_long_work(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("recursion reached before the arguments were checked")

    monkeypatch.setattr(_init_statistics, "layer_step", forbidden)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(width=0), "width"),
        (dict(width=2.5), "width"),
        (dict(architecture="relu"), "architecture"),
        (dict(X=np.array([[1.0, 0.0], [1.0, 0.0]])), r"X\[0\] and X\[1\]"),
        (dict(X=np.array([[1.0, 0.0], [2.0, 0.0]])), "indistinguishable"),
        (dict(X=np.array([[0.0, 0.0], [1.0, 0.0]])), "zero variance"),
        (dict(X=np.array([1.0, 2.0])), "2-D"),
    ],
)
def test_bad_arguments_are_refused_first(no_long_work, kwargs, match):
    args = dict(
        X=np.array([[1.0, 0.0], [0.0, 1.0]]),
        architecture=Architecture(depth=2),
        width=8,
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        init_statistics(args.pop("X"), **args)


def test_no_critical_point_is_an_error():
    with pytest.raises(ValueError, match="no critical point"):
        critical_initialization("sigmoid")


def _truncated(arch, depth):
    return Architecture(
        depth=depth,
        activation=arch.activation,
        weight_variance=arch.weight_variance[: depth + 1],
        bias_variance=arch.bias_variance[: depth + 1],
        weight_lr=arch.weight_lr[: depth + 1],
        bias_lr=arch.bias_lr[: depth + 1],
    )


def _dual_derivatives(K, act, a, b, h=1e-4):
    """∂f/∂x and ∂²f/∂x∂y of f = (⟨σ_aσ_b⟩, ⟨σ'_aσ'_b⟩) over x ∈ {K_aa, K_bb, K_ab}
    by central differences of the activation's dual maps (error ~h² + ε/h²)."""
    idx = [(a, a), (b, b), (a, b)] if a != b else [(a, a)]

    def f(shift):
        k = K.copy()
        for (i, j), s in zip(idx, shift, strict=True):
            k[i, j] += s
            if i != j:
                k[j, i] += s
        T, Td = _init_statistics._duals(k, act)
        return np.array([T[a, b], Td[a, b]])

    m = len(idx)
    e = np.eye(m) * h
    grad = np.array([(f(e[i]) - f(-e[i])) / (2 * h) for i in range(m)])
    hess = np.empty((m, m, 2))
    for i in range(m):
        for j in range(m):
            hess[i, j] = (
                f(e[i] + e[j]) - f(e[i] - e[j]) - f(-e[i] + e[j]) + f(-e[i] - e[j])
            ) / (4 * h * h)
    return idx, grad, hess


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_mean_corrections_are_the_taylor_expansion_of_the_dual_maps(activation):
    """K1 and H1 at depth 3 against an independent form of their recursion: the
    second-order Taylor expansion E[f(Ĝ)] = f(K) + Σ_x ∂f/∂x K1_x/n
    + ½ Σ_xy ∂²f/∂x∂y V_xy/n of the dual maps f = T, Ṫ (x over the entries of
    the pair's 2 × 2 kernel block, derivatives by finite differences), i.e.
    K1' = C_W [Σ ∂T K1 + ½ Σ ∂²T V] and
    H1' = λ_W [same] + C_W [Ṫ H1 + Θ (Σ ∂Ṫ K1 + ½ Σ ∂²Ṫ V) + Σ_x ∂Ṫ/∂x c_x] with
    c_(e,f) = (D_abef + F_aebf + F_afbe) for e = f and the mean of the two orders
    for e ≠ f. Tolerance 1e-6 of the scale: finite-difference error ~1e-8."""
    X = np.array([[0.9, -0.4], [-0.3, 1.0]])
    arch = Architecture(
        depth=3,
        activation=activation,
        weight_variance=[1.3, 1.6, 1.2, 1.4],
        bias_variance=0.15,
        weight_lr=[0.7, 2.0, 1.1, 0.5],
        bias_lr=0.4,
    )
    prev = init_statistics(X, _truncated(arch, 2), width=8)
    got = init_statistics(X, arch, width=8)
    K, theta = prev.nngp, prev.ntk
    D, F = prev.ntk_preactivation
    cw, lw = arch.weight_variance[3], arch.weight_lr[3]
    _, Td = _init_statistics._duals(K, arch.activation)
    for a in range(2):
        for b in range(2):
            idx, grad, hess = _dual_derivatives(K, arch.activation, a, b)
            k1 = np.array([prev.nngp_correction[x] for x in idx])
            v = np.array([[prev.four_point[x + y] for y in idx] for x in idx])
            c = np.array(
                [
                    0.5 * (D[a, b, e, f] + F[a, e, b, f] + F[a, f, b, e])
                    + 0.5 * (D[a, b, f, e] + F[a, f, b, e] + F[a, e, b, f])
                    for e, f in idx
                ]
            )
            br = grad.T @ k1 + 0.5 * np.einsum("xyk,xy->k", hess, v)
            k1_ref = cw * br[0]
            h1 = prev.ntk_correction[a, b]
            h1_ref = lw * br[0] + cw * (
                Td[a, b] * h1 + theta[a, b] * br[1] + grad[:, 1] @ c
            )
            _close(got.nngp_correction[a, b], k1_ref, 1e-6)
            _close(got.ntk_correction[a, b], h1_ref, 1e-6)


def _polar_one_layer(M, act, cw, lw, theta):
    """One-hidden-layer tensors for a homogeneous (kinked) σ with z = M u.

    u ~ N(0, I_2); polar coordinates: E[g(u)] = E|u|^p (1/2π)∮ g(ω) dθ for g of
    degree p, the angle integral split at every kink (m_a·ω = 0), 24-node
    Gauss–Legendre per arc (a trigonometric polynomial there: exact to round-off).
    """
    from numpy.polynomial.legendre import leggauss
    from scipy.special import gamma

    kinks = np.arctan2(-M[:, 0], M[:, 1]) % np.pi
    edges = np.unique(np.concatenate([kinks, kinks + np.pi, [0.0, 2 * np.pi]]))
    x, wx = leggauss(24)
    lo, hi = edges[:-1], edges[1:]
    th = ((hi + lo)[:, None] + (hi - lo)[:, None] * x) / 2
    w = ((hi - lo)[:, None] * wx / 2).ravel() / (2 * np.pi)
    om = np.stack([np.cos(th.ravel()), np.sin(th.ravel())], -1)
    z = om @ M.T
    s, d = act(z), act.derivative(z)

    def mean(p, *fs):
        spec = ",".join("q" + "abcd"[i] for i in range(len(fs)))
        ang = np.einsum(f"q,{spec}->{'abcd'[: len(fs)]}", w, *fs)
        return ang * 2 ** (p / 2) * gamma(p / 2 + 1)

    T, Td = mean(2, s, s), mean(0, d, d)
    ss, pp, ps = mean(4, s, s, s, s), mean(0, d, d, d, d), mean(2, d, d, s, s)
    css = ss - np.einsum("ab,cd->abcd", T, T)
    cps = ps - np.einsum("ab,cd->abcd", Td, T)
    cpp = pp - np.einsum("ab,cd->abcd", Td, Td)
    t4 = theta[:, :, None, None]
    V = cw**2 * css
    cov_ws = lw * css + cw * t4 * cps
    cov_ww = (
        lw**2 * css
        + lw * cw * (t4 * cps + (t4 * cps).transpose(2, 3, 0, 1))
        + cw**2 * t4 * theta[None, None] * cpp
    )
    B = cw**2 * pp * np.einsum("pr,qs->pqrs", theta, theta)
    F = cw**2 * ps.transpose(0, 2, 1, 3) * theta[:, None, :, None]
    return V, cov_ww, cw * cov_ws, B, F


@pytest.mark.parametrize("activation", ["relu", "abs", "leaky_relu"])
def test_kinked_rank_deficient_four_inputs(activation):
    """Scalar inputs with a bias (K^(1) of rank 2) and kinked σ: the nested rule must
    split at the kinks of several inputs finalised at one level; polar reference."""
    x = np.array([[-1.0], [-0.3], [0.4], [1.2]])
    cw, cb, lw = 1.7, 0.3, 0.9
    arch = Architecture(
        depth=1,
        activation=activation,
        weight_variance=cw,
        bias_variance=cb,
        weight_lr=lw,
    )
    st = init_statistics(x, arch, width=3)
    M = np.column_stack([np.full(4, np.sqrt(cb)), np.sqrt(cw) * x[:, 0]])
    theta = cb + lw * x @ x.T
    ref = _polar_one_layer(M, arch.activation, cw, lw, theta)
    (A, B), (D, F) = st.ntk_fluctuation, st.ntk_preactivation
    for got, want in zip((st.four_point, A, D, B, F), ref, strict=True):
        _close(got, want, 1e-10)
