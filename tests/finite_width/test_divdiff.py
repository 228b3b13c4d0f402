"""Divided differences of e^(xt) and x^K against exact references."""

from fractions import Fraction
from itertools import permutations
from math import comb, exp, factorial

import numpy as np
import pytest
from scipy.integrate import quad

from nngpbayes.finite_width._divdiff import divided_difference


def _exact_dd(nodes, f):
    """Newton's recursion in exact rational arithmetic (distinct nodes)."""
    xs = [Fraction(x) for x in nodes]
    table = [f(x) for x in xs]
    for level in range(1, len(xs)):
        table = [
            (table[i + 1] - table[i]) / (xs[i + level] - xs[i])
            for i in range(len(xs) - level)
        ]
    return table[0]


@pytest.mark.parametrize("K", [0, 1, 5, 37, 200])
def test_power_matches_exact_rational_recursion(K):
    rng = np.random.default_rng(K)
    for p in (1, 2, 3, 4, 5):
        nodes = [Fraction(int(v), 97) for v in rng.choice(np.arange(-96, 98), p, False)]
        ref = float(_exact_dd(nodes, lambda x, K=K: x**K))
        got = divided_difference(np.array([float(x) for x in nodes]), "power", K)
        assert got == pytest.approx(ref, rel=1e-12, abs=1e-300)


def test_power_with_repeated_nodes_is_the_complete_homogeneous_sum():
    """x^K at [a, a, b, b, c]: h_(K−4)(a, a, b, b, c), by brute force."""
    a, b, c, K = 0.9, 0.35, -0.6, 12
    xs = [a, a, b, b, c]
    ref = 0.0
    for e in np.ndindex(*(K - 3,) * 4):
        rest = K - 4 - sum(e)
        if rest >= 0:
            ref += np.prod([x**k for x, k in zip(xs[:4], e, strict=True)]) * c**rest
    assert divided_difference(np.array(xs), "power", K) == pytest.approx(ref, rel=1e-13)
    # all nodes equal: f^(p)(a)/p! = C(K, p) a^(K−p)
    assert divided_difference(np.full(4, a), "power", K) == pytest.approx(
        comb(K, 3) * a ** (K - 3), rel=1e-13
    )


def test_exp_matches_recursion_for_separated_nodes_and_derivatives_for_equal():
    t = 1.7
    nodes = np.array([-0.3, -2.1, -4.4, -7.0])
    for p in (2, 3, 4):
        ref = float(
            _exact_dd([Fraction(x) for x in nodes[:p]], lambda x: exp(float(x) * t))
        )
        got = divided_difference(nodes[:p], "exp", t)
        assert got == pytest.approx(ref, rel=1e-12)
    x = -1.3
    for p in (2, 3, 4, 5):
        expected = t ** (p - 1) * np.exp(x * t) / factorial(p - 1)
        got = divided_difference(np.full(p, x), "exp", t)
        assert got == pytest.approx(expected, rel=1e-14)


def test_exp_is_the_iterated_integral():
    """f[x0, x1, x2] = ∫_0^t e^(x0 (t − s)) ∫_0^s e^(x1 (s − u)) e^(x2 u) du ds
    (Hermite–Genocchi), for nodes that are nearly equal and far apart."""
    t = 2.0
    for x0, x1, x2 in [(-1.0, -1.0 - 1e-9, -1.0 + 1e-9), (0.0, -40.0, -1e-3)]:

        def inner(s, x1=x1, x2=x2):
            return quad(lambda u: np.exp(x1 * (s - u) + x2 * u), 0, s, epsabs=0)[0]

        def outer(s, x0=x0, inner=inner):
            return np.exp(x0 * (t - s)) * inner(s)

        ref = quad(outer, 0, t, epsabs=0, limit=200)[0]
        got = divided_difference(np.array([x0, x1, x2]), "exp", t)
        assert got == pytest.approx(ref, rel=1e-10)


def test_symmetric_in_the_nodes_and_vectorised():
    rng = np.random.default_rng(1)
    for kind, arg, nodes in (
        ("exp", 1.3, -rng.uniform(0, 5, 4)),
        ("power", 17, rng.uniform(-0.5, 1.0, 4)),
    ):
        vals = [divided_difference(np.array(p), kind, arg) for p in permutations(nodes)]
        np.testing.assert_allclose(vals, vals[0], rtol=1e-13, err_msg=kind)
    batch = -rng.uniform(0, 5, (3, 2, 4))
    got = divided_difference(batch, "exp", 0.7)
    assert got.shape == (3, 2)
    assert got[1, 0] == pytest.approx(
        divided_difference(batch[1, 0], "exp", 0.7), rel=1e-14
    )
    assert divided_difference(batch, "exp", 0.0).max() == 0.0
    with pytest.raises(ValueError, match="kind"):
        divided_difference(batch, "log", 1.0)
