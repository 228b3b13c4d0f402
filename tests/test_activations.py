"""Dual maps T, Ṫ of every activation against independent references (THEORY.md §3).

References:
- kinked (ABReLU family): a 1-D adaptive quadrature (scipy.integrate.quad, split at
  the kink) of the conditional expectation E[σ(v) | u], which is closed form for a
  piecewise-linear σ of a Gaussian;
- smooth σ: a 2-D tensor Gauss–Hermite rule of high degree in whitened coordinates
  (a different method from the package's Mehler series).
"""

import numpy as np
import pytest
from scipy import integrate
from scipy.special import ndtr

from nngpbayes import activations as A

# (Σ11, Σ22, c): moderate variances, correlations from anti-parallel to parallel.
CASES = [
    (1.0, 1.0, 0.3),
    (0.7, 1.3, -0.6),
    (2.0, 0.5, 0.95),
    (0.4, 0.9, 0.0),
    (1.1, 0.6, -0.999),
    (0.8, 0.8, 1.0),
    (0.5, 1.5, 1.0),
]

SMOOTH = [
    A.Erf(),
    A.GELU(),
    A.Sin(),
    A.Cos(),
    A.Tanh(),
    A.Sigmoid(),
    A.Softplus(),
    A.Swish(),
]
KINKED = [
    A.ReLU(),
    A.LeakyReLU(0.2),
    A.Abs(),
    A.ABReLU(-0.5, 1.3),
    A.Identity(),
    A.ABReLU(0.7, 0.7),
]


def evaluate(act, q1, q2, k):
    q1, q2, k = (np.atleast_1d(np.float64(x)) for x in (q1, q2, k))
    aux1, aux2 = act.prepare(q1), act.prepare(q2)
    if aux1 is not None:
        n = max(aux1[0].shape[0], aux2[0].shape[0])
        aux1, aux2 = act.prepare(q1, n), act.prepare(q2, n)
        aux1 = tuple(x[:, :, None] for x in aux1)
        aux2 = tuple(x[:, None, :] for x in aux2)
        q1, q2, k = q1[:, None], q2[None, :], k[:, None]
    gaps = (np.sqrt(q1 * q2) - k, np.sqrt(q1 * q2) + k)
    t, tdot, e = act.dual(q1, q2, k, gaps, aux1, aux2)
    return float(np.ravel(t)[0]), float(np.ravel(tdot)[0]), e


def hermite_2d(f, g, q1, q2, c, degree=220):
    z, w = np.polynomial.hermite_e.hermegauss(degree)
    w = w / w.sum()
    u = np.sqrt(q1) * z[:, None]
    v = np.sqrt(q2) * (c * z[:, None] + np.sqrt(max(1 - c * c, 0.0)) * z[None, :])
    return float(w @ (f(u) * g(v)) @ w)


def piecewise_conditional(a, b, m, s):
    """E[a min(X, 0) + b max(X, 0)] and E[σ'(X)] for X ~ N(m, s²)."""
    if s == 0:
        return a * min(m, 0) + b * max(m, 0), (b if m > 0 else a)
    r = m / s
    phi = np.exp(-0.5 * r * r) / np.sqrt(2 * np.pi)
    pos = m * ndtr(r) + s * phi  # E[max(X, 0)]
    neg = m - pos  # E[min(X, 0)]
    return a * neg + b * pos, a + (b - a) * ndtr(r)


def kinked_reference(act, q1, q2, c):
    r1, r2 = np.sqrt(q1), np.sqrt(q2)
    s = r2 * np.sqrt(max(1 - c * c, 0.0))

    def integrand(z, which):
        cond = piecewise_conditional(act.a, act.b, r2 * c * z, s)
        u = r1 * z
        outer = act(u) if which == 0 else act.derivative(u)
        return outer * cond[which] * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)

    # smooth on each side of the kink at z = 0; the Gaussian tail beyond 12 is
    # below 1e-32
    def integral(which):
        kw = dict(args=(which,), epsabs=1e-16, epsrel=1e-13, limit=200)
        return sum(
            integrate.quad(integrand, a, b, **kw)[0]
            for a, b in ((-12.0, 0.0), (0.0, 12.0))
        )

    return integral(0), integral(1)


@pytest.mark.parametrize("act", KINKED, ids=repr)
@pytest.mark.parametrize("q1,q2,c", CASES)
def test_kinked_closed_forms_match_quadrature(act, q1, q2, c):
    k = c * np.sqrt(q1 * q2)
    t, tdot, _ = evaluate(act, q1, q2, k)
    t_ref, tdot_ref = kinked_reference(act, q1, q2, c)
    assert t == pytest.approx(t_ref, rel=1e-11, abs=1e-13)
    assert tdot == pytest.approx(tdot_ref, rel=1e-11, abs=1e-13)


@pytest.mark.parametrize("act", SMOOTH, ids=repr)
@pytest.mark.parametrize("q1,q2,c", CASES)
def test_smooth_dual_maps_match_2d_hermite(act, q1, q2, c):
    k = c * np.sqrt(q1 * q2)
    t, tdot, _ = evaluate(act, q1, q2, k)
    t_ref = hermite_2d(act, act, q1, q2, c)
    tdot_ref = hermite_2d(act.derivative, act.derivative, q1, q2, c)
    assert t == pytest.approx(t_ref, rel=1e-11, abs=1e-13)
    assert tdot == pytest.approx(tdot_ref, rel=1e-11, abs=1e-13)


@pytest.mark.parametrize("act", SMOOTH + KINKED, ids=repr)
@pytest.mark.parametrize("q", [1e-3, 0.3, 1.0, 2.5])
def test_diagonal_form_equals_pair_form(act, q):
    t, tdot, _ = evaluate(act, q, q, q)
    q_arr = np.array([q])
    td, tdotd = act.dual_diag(q_arr, act.prepare(q_arr))
    assert td[0] == pytest.approx(t, rel=1e-14)
    assert tdotd[0] == pytest.approx(tdot, rel=1e-14)


@pytest.mark.parametrize("act", KINKED, ids=repr)
def test_gap_map_is_cosine_gap_one_layer_up(act):
    q1, q2, c = 0.7, 1.3, 0.4
    k = c * np.sqrt(q1 * q2)
    t, _, g = evaluate(act, q1, q2, k)
    t1, t2 = act.dual_diag(np.array(q1))[0], act.dual_diag(np.array(q2))[0]
    assert float(np.ravel(g)[0]) == pytest.approx(
        float(np.sqrt(t1 * t2) - t), rel=1e-13
    )


def test_abrelu_identities():
    q1, q2 = np.array([[0.7], [1.1]]), np.array([[1.3, 0.4]])
    k = np.array([[0.2, -0.3], [0.9, 0.1]])
    gaps = (np.sqrt(q1 * q2) - k, np.sqrt(q1 * q2) + k)
    relu = A.ReLU().dual(q1, q2, k, gaps)
    ab = A.ABReLU(0.0, 1.0).dual(q1, q2, k, gaps)
    leaky = A.LeakyReLU(0.3).dual(q1, q2, k, gaps)
    ab_leaky = A.ABReLU(0.3, 1.0).dual(q1, q2, k, gaps)
    for x, y in zip(relu[:2] + leaky[:2], ab[:2] + ab_leaky[:2], strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=0)
    a = -1.7
    t, tdot, _ = A.ABReLU(a, a).dual(q1, q2, k, gaps)
    ti, tdoti, _ = A.Identity().dual(q1, q2, k, gaps)
    np.testing.assert_allclose(t, a * a * ti, rtol=1e-13)
    np.testing.assert_allclose(tdot, a * a * tdoti, rtol=1e-13)
    np.testing.assert_array_equal(ti, k)


def test_elementwise_matches_builtin():
    tanh = A.Tanh()
    user = A.Elementwise(np.tanh, lambda x: 1 - np.tanh(x) ** 2, name="mytanh")
    got, want = evaluate(user, 0.8, 1.2, 0.5)[:2], evaluate(tanh, 0.8, 1.2, 0.5)[:2]
    assert got == pytest.approx(want, rel=1e-14)
    num = user.second_derivative(np.array([0.3, -1.2]))
    np.testing.assert_allclose(
        num, tanh.second_derivative(np.array([0.3, -1.2])), rtol=1e-8
    )


def test_fixed_degree_and_truncation_warning():
    from nngpbayes._quadrature import QuadratureWarning

    coarse = A.Tanh(degree=8)
    with pytest.warns(QuadratureWarning, match="degree|terms"):
        coarse.prepare(np.array([3.0]))
    a, _, _, _ = A.Tanh(degree=40).prepare(np.array([0.01]))
    assert a.shape == (40, 1)


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda: A.get_activation("relu6"), "activation must be one of"),
        (lambda: A.Tanh(degree=1), "degree"),
        (lambda: A.Tanh(tol=0), "tol"),
        (lambda: A.ABReLU(np.nan, 1.0), "slope a"),
    ],
)
def test_bad_activation_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_get_activation_types():
    assert isinstance(A.get_activation("ReLU"), A.ReLU)
    assert A.get_activation("leaky_relu") == A.LeakyReLU()
    with pytest.raises(TypeError, match="activation must be a string"):
        A.get_activation(3.0)
