"""Dual maps T, Ṫ of every activation against independent references (:ref:`theory-3`).

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


# -- contract suite over every activation ------------------------------------------
#
# Each entry: an activation and B[k] >= sup |σ^(k)| over [-6.1, 6.1], k = 0..5. The
# smooth bounds were computed once symbolically (sympy derivatives, maximised over a
# grid of step 0.005) and rounded up by ~5%; they enter only the tolerances below.
# The kinked ones are exact: |σ| <= max(|a|, |b|)·6.1, |σ'| <= max(|a|, |b|), and
# σ'' = σ''' = 0 away from the kink.
CONTRACT = [
    (A.Erf(), (1.0, 1.2, 1.0, 2.4, 4.7, 14.3)),
    (A.GELU(), (6.5, 1.2, 0.85, 0.85, 1.7, 3.0)),
    (A.Sin(), (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)),
    (A.Cos(), (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)),
    (A.Tanh(), (1.0, 1.0, 0.81, 2.1, 4.3, 16.8)),
    (A.Sigmoid(), (1.0, 0.27, 0.11, 0.14, 0.14, 0.27)),
    (A.Softplus(), (6.5, 1.0, 0.27, 0.11, 0.14, 0.14)),
    (A.Swish(), (6.5, 1.2, 0.53, 0.33, 0.53, 0.7)),
    (
        A.Elementwise(
            np.tanh,
            lambda x: 1.0 / np.cosh(x) ** 2,
            lambda x: -2.0 * np.tanh(x) / np.cosh(x) ** 2,
            lambda x: (4.0 * np.cosh(x) ** 2 - 6.0) / np.cosh(x) ** 4,
            name="user_tanh",
        ),
        (1.0, 1.0, 0.81, 2.1, 4.3, 16.8),
    ),
    (A.ReLU(), (6.1, 1.0, 0.0, 0.0, 0.0, 0.0)),
    (A.LeakyReLU(0.2), (6.1, 1.0, 0.0, 0.0, 0.0, 0.0)),
    (A.Abs(), (6.1, 1.0, 0.0, 0.0, 0.0, 0.0)),
    (A.Identity(), (6.1, 1.0, 0.0, 0.0, 0.0, 0.0)),
    (A.ABReLU(-0.5, 1.3), (8.0, 1.3, 0.0, 0.0, 0.0, 0.0)),
]
CONTRACT_IDS = [repr(act) for act, _ in CONTRACT]
EPS = np.finfo(np.float64).eps
# Step of the central differences: a power of two, and the grid points are
# multiples of 1/64 in [-6, 6], so x ± H is exact in float64 (no rounding of the
# argument). H ~ (3 c eps B0 / B3)^(1/3) balances the two error terms below.
H = 2.0**-16
X_GRID = np.arange(-384, 385) / 64.0
X_GRID = X_GRID[np.abs(X_GRID) > 2 * H]  # away from the kink at 0


def _derivatives(act):
    return (act, act.derivative, act.second_derivative, act.third_derivative)


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("act, bound", CONTRACT, ids=CONTRACT_IDS)
def test_derivatives_match_central_differences(act, bound, order):
    """σ^(k) against (σ^(k−1)(x + h) − σ^(k−1)(x − h)) / 2h for k = 1, 2, 3."""
    f, df = _derivatives(act)[order - 1], _derivatives(act)[order]
    fd = (f(X_GRID + H) - f(X_GRID - H)) / (2.0 * H)
    # Tolerance: the central difference of f = σ^(k−1) is f' + (h²/6) f'''(ξ), so
    # truncation <= h²/6 · B[k+2]; each value of f carries a rounding error of at
    # most ~16 eps · B[k−1] (a few operations of a few ulps each), which the
    # difference divides by 2h: <= 16 eps B[k−1] / h. With h = 2^-16 the bound is
    # ~4e-11 B[k+2] + 2.3e-10 B[k−1], against values of size B[k].
    tol = H**2 / 6.0 * bound[order + 2] + 16.0 * EPS * bound[order - 1] / H
    np.testing.assert_allclose(df(X_GRID), fd, rtol=0, atol=tol)


def _sech(x):
    return 1.0 / np.cosh(x)


# Higher derivatives in closed form, written independently of the package (in
# hyperbolic functions of x/2 rather than the logistic function): σ'', σ'''.
def _logistic_derivatives(x):
    """s', s'', s''' of the logistic s(x) = 1 / (1 + e^{−x})."""
    c, s = np.cosh(x / 2), np.sinh(x / 2)
    return 0.25 / c**2, -0.25 * s / c**3, 0.125 * (2.0 * s**2 - 1.0) / c**4


CLOSED_FORMS = {
    "cos": lambda x: (-np.cos(x), np.sin(x)),
    "sin": lambda x: (-np.sin(x), -np.cos(x)),
    "tanh": lambda x: (
        -2.0 * np.tanh(x) * _sech(x) ** 2,
        (4.0 * np.cosh(x) ** 2 - 6.0) * _sech(x) ** 4,
    ),
    "sigmoid": lambda x: _logistic_derivatives(x)[1:],
    "softplus": lambda x: _logistic_derivatives(x)[:2],
    # (x s)'' = 2 s' + x s'',  (x s)''' = 3 s'' + x s'''
    "swish": lambda x: (
        2.0 * _logistic_derivatives(x)[0] + x * _logistic_derivatives(x)[1],
        3.0 * _logistic_derivatives(x)[1] + x * _logistic_derivatives(x)[2],
    ),
    "erf": lambda x: (
        -4.0 * x * np.exp(-(x**2)) / np.sqrt(np.pi),
        (8.0 * x**2 - 4.0) * np.exp(-(x**2)) / np.sqrt(np.pi),
    ),
    # GELU = x Φ(x): σ'' = (2 − x²) φ(x), σ''' = x (x² − 4) φ(x) (φ the normal pdf)
    "gelu": lambda x: (
        (2.0 - x**2) * np.exp(-(x**2) / 2) / np.sqrt(2 * np.pi),
        (x**3 - 4.0 * x) * np.exp(-(x**2) / 2) / np.sqrt(2 * np.pi),
    ),
}


@pytest.mark.parametrize(
    "act, bound",
    [(a, b) for a, b in CONTRACT if a.name in CLOSED_FORMS],
    ids=[a.name for a, _ in CONTRACT if a.name in CLOSED_FORMS],
)
def test_higher_derivatives_match_closed_forms(act, bound):
    want2, want3 = CLOSED_FORMS[act.name](X_GRID)
    # Two float64 evaluations of the same function by different formulas: each
    # within ~16 eps of the size B[k] of the terms it adds.
    for k, got, want in (
        (2, act.second_derivative, want2),
        (3, act.third_derivative, want3),
    ):
        np.testing.assert_allclose(got(X_GRID), want, rtol=0, atol=32 * EPS * bound[k])


@pytest.mark.parametrize("act, bound", CONTRACT, ids=CONTRACT_IDS)
def test_elementwise_shapes_and_dtype(act, bound):
    x = X_GRID[:12].reshape(3, 4)
    for f in _derivatives(act):
        out = f(x)
        assert out.shape == x.shape and out.dtype == np.float64
        assert np.isfinite(out).all()
        np.testing.assert_array_equal(out[1], f(x[1]))  # elementwise, no mixing


@pytest.mark.parametrize("act, bound", CONTRACT, ids=CONTRACT_IDS)
def test_dual_symmetry_and_cauchy_schwarz(act, bound):
    """T and Ṫ are symmetric in the two inputs, and |T12| <= √(T11 T22) (a Gram
    matrix of E[σ(u)σ(v)]); exactly, up to round-off."""
    q1, q2, k = 0.7, 1.6, -0.5
    t12, tdot12, _ = evaluate(act, q1, q2, k)
    t21, tdot21, _ = evaluate(act, q2, q1, k)
    assert t12 == pytest.approx(t21, rel=1e-13, abs=1e-15)
    assert tdot12 == pytest.approx(tdot21, rel=1e-13, abs=1e-15)
    (t11, tdot11), (t22, tdot22) = (
        (float(v[0]) for v in act.dual_diag(np.array([q]), act.prepare(np.array([q]))))
        for q in (q1, q2)
    )
    assert abs(t12) <= np.sqrt(t11 * t22) * (1 + 1e-13)
    assert abs(tdot12) <= np.sqrt(tdot11 * tdot22) * (1 + 1e-13)


@pytest.mark.parametrize("act, bound", CONTRACT, ids=CONTRACT_IDS)
def test_equality_hash_and_registry(act, bound):
    assert act == act and hash(act) == hash(act)
    assert act != A.Identity() or isinstance(act, A.Identity)
    assert isinstance(act, A.Activation)
    if act.name in A.ACTIVATIONS:
        by_name = A.get_activation(act.name)
        assert type(by_name) is type(act)
        assert A.get_activation(act) is act


def test_package_exports():
    import nngpbayes.activations as pkg

    assert sorted(pkg.__all__) == sorted(set(pkg.__all__))
    for name in pkg.__all__:
        assert hasattr(pkg, name)
    registered = {type(a) for a, _ in CONTRACT if a.name in A.ACTIVATIONS}
    assert registered <= set(A.ACTIVATIONS.values())
