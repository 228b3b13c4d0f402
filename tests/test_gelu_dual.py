"""Closed-form GELU dual maps (``nngpbayes._gelu_dual``) against independent references.

- a quadrature reference (below): (u, v) ~ N(0, [[s11, s12], [s12, s22]]); given u,
  v is Gaussian, so E[σ(v) | u] and E[σ'(v) | u] are one-line closed forms, and the
  remaining integral over u is done by composite Gauss-Legendre on panels that
  resolve every length scale of the integrand. Var(v | u) is computed in exact
  rational arithmetic from the float inputs, so the reference answers for exactly
  the inputs the closed form sees (this matters near c = -1, see below);
- exact identities: T(s12) - T(-s12) = s12/2 and Tdot(s12) + Tdot(-s12) = 1/2 (from
  σ(x) = x + σ(-x)); the product of means at s12 = 0; symmetry; the diagonal form;
- Price's theorem Tdot = dT/ds12, by finite differences and by forward-mode jets
  that implement only the ufuncs the module is allowed to use (:ref:`theory-3`).

The map is ill-conditioned near s12 = -sqrt(s11 s22) with large variances (relative
sensitivity to s12 ~ the variance for T, more for Tdot), so there the closed form
agrees with the exact-input reference to ~1e-12 rather than ~1e-16.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import special

from nngpbayes._gelu_dual import gelu_dual, gelu_dual_diag

EPS = np.finfo(float).eps
VARIANCES = (1e-8, 1e-3, 0.5, 3.0, 1e2, 1e4)
CORRELATIONS = (-1.0, -0.999999, -0.6, 0.0, 0.4, 0.999999, 1.0)

# ---------------------------------------------------------------- quadrature reference
_GL_X, _GL_W = np.polynomial.legendre.leggauss(40)


def _panel_edges(smallest_scale, zmax=40.0, step=0.25):
    """Edges in z = u/sqrt(s11): geometric towards 0, then uniform up to ``zmax``."""
    kmin = math.floor(math.log2(smallest_scale)) - 4
    pos = np.concatenate([2.0 ** np.arange(kmin, 0), np.arange(1.0, zmax + step, step)])
    return np.concatenate([-pos[::-1], [0.0], pos])


def _best(weights, full, const, rest):
    """sum(w * full) or const + sum(w * rest) (equal in exact arithmetic): the one
    whose rounding bound (sum of absolute values) is smaller."""
    a, a_bound = np.sum(weights * full), np.sum(weights * np.abs(full))
    b, b_bound = (
        const + np.sum(weights * rest),
        abs(const) + np.sum(weights * np.abs(rest)),
    )
    return a if a_bound <= b_bound else b


def _reference(s11, s22, s12):
    """(T, Tdot) by quadrature, as described in the module docstring (s11 > 0)."""
    tau2 = float(Fraction(s22) - Fraction(s12) ** 2 / Fraction(s11))  # Var(v | u)
    g = math.sqrt(1.0 + tau2)
    root = math.sqrt(s11)
    slope = s12 / root  # u = root * z, E[v | u] = slope * z, z ~ N(0, 1)
    scales = [1.0, 1.0 / root] + ([g / abs(slope)] if slope else [])
    edges = _panel_edges(min(scales))
    half = 0.5 * np.diff(edges)
    z = (0.5 * (edges[:-1] + edges[1:]))[:, None] + half[:, None] * _GL_X
    weights = half[:, None] * _GL_W * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    u, m = root * z, slope * z
    w = m / g
    pdf_u = np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
    pdf_w = np.exp(-0.5 * w * w) / math.sqrt(2.0 * math.pi)
    cdf_w = special.ndtr(w)
    odd_u = 0.5 * special.erf(u / math.sqrt(2.0))  # Φ(u) - 1/2
    mean_sigma_v = m * cdf_w + tau2 * pdf_w / g  # E[σ(v) | u]
    mean_dsigma_v = cdf_w + m * pdf_w / g**3  # E[σ'(v) | u]
    # σ(u) = u/2 + u (Φ(u) - 1/2) and σ'(u) = 1/2 + odd(u); by Stein's lemma
    # E[u σ(v)] = s12 E[σ'(v)] = s12/2 and E[σ'(v)] = 1/2 give the second forms.
    t = _best(
        weights, u * special.ndtr(u) * mean_sigma_v, s12 / 4, u * odd_u * mean_sigma_v
    )
    dsigma_odd = odd_u + u * pdf_u
    tdot = _best(
        weights, (0.5 + dsigma_odd) * mean_dsigma_v, 0.25, dsigma_odd * mean_dsigma_v
    )
    return t, tdot


@pytest.mark.parametrize("c", CORRELATIONS)
def test_matches_quadrature_reference(c):
    worst = (0.0, None)
    for s11 in VARIANCES:
        for s22 in VARIANCES:
            s12 = c * math.sqrt(s11 * s22)
            got = np.array(gelu_dual(s11, s22, s12))
            ref = np.array(_reference(s11, s22, s12))
            err = np.max(np.abs(got - ref) / np.abs(ref))
            if err > worst[0]:
                worst = (err, (s11, s22, s12, got, ref))
    assert worst[0] < 1e-11, worst


def test_quadrature_reference_on_known_values():
    # The reference itself, where the answer is known exactly (s12 = 0).
    for s in VARIANCES:
        t, tdot = _reference(s, 2.0, 0.0)  # product of means, s12 = 0
        exact = s * 2.0 / (2.0 * math.pi * math.sqrt((1.0 + s) * 3.0))
        assert abs(t / exact - 1.0) < 1e-13
        assert abs(tdot - 0.25) < 1e-14


# ------------------------------------------------------------------ exact identities
def _grid():
    s11, s22, c = np.meshgrid(VARIANCES, VARIANCES, CORRELATIONS, indexing="ij")
    return s11.ravel(), s22.ravel(), c.ravel() * np.sqrt(s11 * s22).ravel()


def test_symmetric_in_the_variances():
    s11, s22, s12 = _grid()
    for a, b in zip(gelu_dual(s11, s22, s12), gelu_dual(s22, s11, s12), strict=True):
        np.testing.assert_array_equal(a, b)


def test_reflection_identities():
    # σ(x) = x + σ(-x)  =>  T(s12) = s12/2 + T(-s12),  Tdot(s12) + Tdot(-s12) = 1/2.
    s11, s22, s12 = _grid()
    t_p, tdot_p = gelu_dual(s11, s22, s12)
    t_m, tdot_m = gelu_dual(s11, s22, -s12)
    scale = np.abs(t_p) + np.abs(t_m) + np.abs(s12) / 2
    assert np.all(np.abs(t_p - t_m - s12 / 2) <= 4 * EPS * scale)
    assert np.all(np.abs(tdot_p + tdot_m - 0.5) <= 4 * EPS)


def test_independent_inputs_give_product_of_means():
    # E[σ(u)] = s/sqrt(2π(1 + s)) and E[σ'(u)] = 1/2.
    s11, s22 = (np.array(VARIANCES)[:, None], np.array(VARIANCES)[None, :])
    t, tdot = gelu_dual(s11, s22, 0.0 * s11 * s22)
    mean = np.array(VARIANCES) / np.sqrt(2 * np.pi * (1 + np.array(VARIANCES)))
    np.testing.assert_allclose(t, mean[:, None] * mean[None, :], rtol=4 * EPS)
    np.testing.assert_allclose(tdot, 0.25, rtol=4 * EPS)


def test_zero_variance():
    # σ(0) = 0, σ'(0) = 1/2.
    assert gelu_dual(0.0, 0.0, 0.0) == pytest.approx((0.0, 0.25), abs=1e-16)
    assert gelu_dual(0.0, 3.0, 0.0) == pytest.approx((0.0, 0.25), abs=1e-16)
    assert gelu_dual_diag(0.0) == pytest.approx((0.0, 0.25), abs=1e-16)


def test_diagonal_form():
    q = np.concatenate([[0.0], np.logspace(-10, 6, 321)])
    for a, b in zip(gelu_dual(q, q, q), gelu_dual_diag(q), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)
    # q = 1: α = 2π/3, so T = 1/3 + √3/(6π) and Tdot = 1/3 + 2/(3√3 π).
    t, tdot = gelu_dual_diag(1.0)
    assert t == pytest.approx(1 / 3 + math.sqrt(3) / (6 * math.pi), rel=4 * EPS)
    assert tdot == pytest.approx(1 / 3 + 2 / (3 * math.sqrt(3) * math.pi), rel=4 * EPS)


def test_broadcasting():
    t, tdot = gelu_dual(np.ones((3, 1)), np.ones((1, 4)), np.zeros((3, 4)))
    assert t.shape == tdot.shape == (3, 4)


# ------------------------------------------------------------------- Price's theorem
@pytest.mark.parametrize("c", [-0.9, -0.5, 0.0, 0.5, 0.9])
def test_tdot_is_finite_difference_of_t(c):
    s = np.array([1e-3, 0.5, 3.0, 1e2])
    s11, s22 = s[:, None], s[None, :]
    s12 = c * np.sqrt(s11 * s22)
    h = 1e-5 * np.sqrt(s11 * s22)
    fd = (gelu_dual(s11, s22, s12 + h)[0] - gelu_dual(s11, s22, s12 - h)[0]) / (2 * h)
    np.testing.assert_allclose(gelu_dual(s11, s22, s12)[1], fd, rtol=1e-7)


class _Jet:
    """Forward-mode number (value ``v``, one tangent ``d``) supporting arithmetic and
    only the ufuncs the dual maps may use; anything else (np.where, np.clip,
    comparisons, conversion to an array) raises ``TypeError``."""

    __array_priority__ = 100
    _RULES = {
        np.add: lambda x, y, dx, dy: dx + dy,
        np.subtract: lambda x, y, dx, dy: dx - dy,
        np.multiply: lambda x, y, dx, dy: dx * y + x * dy,
        np.true_divide: lambda x, y, dx, dy: (dx - x / y * dy) / y,
        np.negative: lambda x, dx: -dx,
        np.square: lambda x, dx: 2 * x * dx,
        np.sqrt: lambda x, dx: dx / (2 * np.sqrt(x)),
        np.exp: lambda x, dx: np.exp(x) * dx,
        np.log: lambda x, dx: dx / x,
        np.arcsin: lambda x, dx: dx / np.sqrt(1 - x * x),
        np.arctan: lambda x, dx: dx / (1 + x * x),
        np.arctan2: lambda y, x, dy, dx: (x * dy - y * dx) / (x * x + y * y),
    }

    def __init__(self, v, d):
        self.v, self.d = np.asarray(v, dtype=float), np.asarray(d, dtype=float)

    def __array_ufunc__(self, ufunc, method, *args, **kwargs):
        if method != "__call__" or kwargs or ufunc not in self._RULES:
            raise TypeError(f"ufunc {ufunc.__name__} is not allowed")
        vals = [a.v if isinstance(a, _Jet) else a for a in args]
        ders = [a.d if isinstance(a, _Jet) else 0.0 for a in args]
        return _Jet(ufunc(*vals), self._RULES[ufunc](*vals, *ders))

    def __array__(self, *args, **kwargs):
        raise TypeError("a _Jet cannot become an ndarray")

    def __bool__(self):
        raise TypeError("a _Jet has no truth value")

    def __pow__(self, p):
        return _Jet(self.v**p, p * self.v ** (p - 1) * self.d)

    def __add__(self, o):
        return np.add(self, o)

    def __radd__(self, o):
        return np.add(o, self)

    def __sub__(self, o):
        return np.subtract(self, o)

    def __rsub__(self, o):
        return np.subtract(o, self)

    def __mul__(self, o):
        return np.multiply(self, o)

    def __rmul__(self, o):
        return np.multiply(o, self)

    def __truediv__(self, o):
        return np.true_divide(self, o)

    def __rtruediv__(self, o):
        return np.true_divide(o, self)

    def __neg__(self):
        return np.negative(self)


def test_ufunc_only_and_forward_mode_derivatives():
    s11, s22, s12 = _grid()
    one = np.ones_like(s11)
    t, tdot = gelu_dual(s11, s22, s12)
    # d/ds12 through the jets is Tdot (Price's theorem), including c = ±1.
    jt, jtdot = gelu_dual(s11, s22, _Jet(s12, one))
    np.testing.assert_allclose(jt.v, t, rtol=0, atol=0)
    np.testing.assert_allclose(jtdot.v, tdot, rtol=0, atol=0)
    np.testing.assert_allclose(jt.d, tdot, rtol=1e-12, atol=1e-15)
    # d/ds11 against a Richardson-extrapolated central difference (interior points).
    s, c = np.array([1e-3, 0.5, 3.0, 1e2]), np.array([-0.7, 0.0, 0.6])
    a, b, r = (x.ravel() for x in np.meshgrid(s, s, c, indexing="ij"))
    k = r * np.sqrt(a * b)

    def central(h):
        hi, lo = gelu_dual(a + h, b, k), gelu_dual(a - h, b, k)
        return [(p - m) / (2 * h) for p, m in zip(hi, lo, strict=True)]

    fd = [
        (4 * f2 - f1) / 3
        for f1, f2 in zip(central(1e-3 * a), central(5e-4 * a), strict=True)
    ]
    jets = gelu_dual(_Jet(a, np.ones_like(a)), b, k)
    for jet, f in zip(jets, fd, strict=True):
        np.testing.assert_allclose(jet.d, f, rtol=1e-6, atol=1e-12)
    # The diagonal form along q is the general form along (q, q, q).
    q = np.logspace(-8, 4, 25)
    jd = gelu_dual_diag(_Jet(q, np.ones_like(q)))
    jg = gelu_dual(*(_Jet(q, np.ones_like(q)) for _ in range(3)))
    for d, g in zip(jd, jg, strict=True):
        np.testing.assert_allclose(d.d, g.d, rtol=1e-13, atol=1e-16)
