"""The fast paths of the Hermite-series activations against independent references.

- :func:`mehler_sums` (several series, shared powers, parity rows skipped, per-pair
  stopping) against the plain Horner sum of all terms;
- :func:`hermite_table` (half nodes by symmetry; Stein's lemma for σ, σ', σ″ from
  σ‴) against the direct Gauss–Hermite projection :func:`hermite_coefficients`;
- Price-theorem gradients (:mod:`nngpbayes.activations._series_grad`) against
  central finite differences of the dual maps, against forward-mode dual numbers
  through the series (the previous path, still used by an ``Elementwise`` without
  σ‴), and the kernels' hyperparameter gradients against finite differences.
"""

import warnings

import numpy as np
import pytest

from nngpbayes import NNGPKernel, NTKKernel
from nngpbayes import activations as A
from nngpbayes._dual import Dual, LazyDual
from nngpbayes._mehler import mehler_sums
from nngpbayes._quadrature import hermite_coefficients, hermite_table, mehler_sum

SERIES = [A.Tanh(), A.Sigmoid(), A.Softplus(), A.Swish()]


@pytest.mark.parametrize("act", SERIES, ids=repr)
@pytest.mark.parametrize("near_one", [False, True])
def test_mehler_sums_equal_full_horner_sums(act, near_one):
    rng = np.random.default_rng(3)
    q1, q2 = rng.uniform(0.05, 2.5, 23), rng.uniform(0.05, 2.5, 17)
    fns = [act, act.derivative, act.second_derivative, act.third_derivative]
    n = 512
    (c1, t1), (c2, t2) = (hermite_table(fns, q, n, chain=2) for q in (q1, q2))
    from nngpbayes._quadrature import tail_sums

    r1 = [tail_sums(a, t) for a, t in zip(c1, t1, strict=True)]
    r2 = [tail_sums(a, t) for a, t in zip(c2, t2, strict=True)]
    f = [(a[:, :, None], r[:, :, None]) for a, r in zip(c1, r1, strict=True)]
    g = [(a[:, None, :], r[:, None, :]) for a, r in zip(c2, r2, strict=True)]
    c = rng.uniform(-1.0, 1.0, (23, 17))
    if near_one:
        c = np.sign(c) * (1.0 - rng.uniform(0.0, 1e-3, c.shape))
    pairs = [(0, 0), (1, 1), (2, 0), (0, 2), (3, 1)]  # shared g arrays included
    series = [(f[i][0], g[j][0], f[i][1], g[j][1]) for i, j in pairs]
    got = mehler_sums(series, c, 1e-15)
    for (i, j), value in zip(pairs, got, strict=True):
        want = mehler_sum(f[i][0], g[j][0], c)
        scale = np.sqrt(r1[i][0][:, None] * r2[j][0][None, :])
        np.testing.assert_array_less(np.abs(value - want), 1e-13 * scale + 1e-300)


@pytest.mark.parametrize("act", SERIES, ids=repr)
def test_hermite_table_matches_direct_projection(act):
    q = np.array([0.0, 1e-3, 0.2, 0.7, 1.4])
    fns = [act, act.derivative, act.second_derivative, act.third_derivative]
    derivs = fns[1:] + [act.third_derivative]
    # tails are E[f²] − Σ f_n², at the round-off of the sums (~1e-14 per 1e-16)
    for chain, rtol, tail_tol in (
        (0, 4e-15, 1e-13),  # a few ulps (numpy 1.24 rounds one entry 1 ulp off)
        (2, 2e-13, 5e-13),
        (4, 2e-13, 5e-13),
    ):
        coefs, tails = hermite_table(fns, q, 256, chain=chain)
        for a, t, fn, dfn in zip(coefs, tails, fns, derivs, strict=True):
            ref, ref_tail = hermite_coefficients(fn, dfn, q, 256)
            scale = np.abs(ref).max()
            np.testing.assert_allclose(a, ref, rtol=0, atol=rtol * scale + 1e-300)
            np.testing.assert_allclose(t, ref_tail, rtol=0, atol=tail_tol)
    if isinstance(act, A.Tanh):  # odd σ: exact zeros in the even rows
        coefs, _ = hermite_table(fns, q, 64, chain=2)
        assert not np.any(coefs[0][0::2]) and not np.any(coefs[1][1::2])


@pytest.mark.parametrize("act", SERIES, ids=repr)
def test_price_tangents_match_finite_differences(act):
    q1, q2, k = 0.8, 1.3, 0.6  # c = 0.588
    p = np.array([q1, q2, k])

    def maps(x, with_tangents):
        """T, Ṫ at (Σ11, Σ22, Σ12) = x, with tangents along the three if asked."""
        eye = np.eye(3)
        args = []
        for d in range(3):
            v = np.array([[x[d]]])
            args.append(Dual(v, eye[:, d, None, None]) if with_tangents else v)
        q1, q2, kk = args
        n = 1024  # one length for both inputs and every step
        flat = [Dual(q.v[0], q.t[:, 0]) if with_tangents else q[0] for q in (q1, q2)]
        a1 = tuple(a[:, :, None] for a in act.prepare(flat[0], n))
        a2 = tuple(a[:, None, :] for a in act.prepare(flat[1], n))
        return act.dual(q1, q2, kk, None, a1, a2)[:2]

    t, tdot = maps(p, True)
    h = 1e-5
    for d in range(3):
        step = np.zeros(3)
        step[d] = h
        plus = [float(np.ravel(v)[0]) for v in maps(p + step, False)]
        minus = [float(np.ravel(v)[0]) for v in maps(p - step, False)]
        for dual_map, hi, lo in zip((t, tdot), plus, minus, strict=True):
            fd = (hi - lo) / (2 * h)
            assert float(dual_map.t[d].ravel()[0]) == pytest.approx(fd, rel=1e-7)


def test_price_gradients_match_forward_mode_dual_numbers():
    """Elementwise without σ‴ takes the forward-mode path: same kernels, same grads."""
    tanh = A.Tanh()
    forward = A.Elementwise(
        np.tanh, tanh.derivative, tanh.second_derivative, name="tanh-forward"
    )
    X = np.random.default_rng(5).normal(size=(15, 2))
    for cls in (NNGPKernel, NTKKernel):
        k_fast, g_fast = cls(depth=2, activation="tanh", bias_variance=0.2)(
            X, eval_gradient=True
        )
        k_old, g_old = cls(depth=2, activation=forward, bias_variance=0.2)(
            X, eval_gradient=True
        )
        np.testing.assert_allclose(k_fast, k_old, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g_fast, g_old, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "softplus", "swish"])
@pytest.mark.parametrize("cls", [NNGPKernel, NTKKernel])
def test_kernel_gradients_match_finite_differences(act, cls):
    X = np.random.default_rng(7).normal(size=(9, 3))
    kernel = cls(depth=2, activation=act, weight_variance=1.3, bias_variance=0.15)
    K, grad = kernel(X, eval_gradient=True)
    np.testing.assert_allclose(K, kernel(X), rtol=1e-13, atol=1e-15)
    theta, h = kernel.theta, 1e-5
    for d in range(theta.size):
        step = np.zeros_like(theta)
        step[d] = h
        up = kernel.clone_with_theta(theta + step)(X)
        down = kernel.clone_with_theta(theta - step)(X)
        np.testing.assert_allclose(
            grad[..., d], (up - down) / (2 * h), rtol=1e-7, atol=1e-9
        )


def test_lazy_dual_computes_tangents_once_and_only_when_read():
    calls = []

    def tangent():
        calls.append(1)
        return np.ones((2, 3))

    x = LazyDual(np.arange(3.0), tangent)
    assert calls == [] and isinstance(x, Dual)
    y = 2.0 * x
    np.testing.assert_array_equal(y.t, 2.0 * np.ones((2, 3)))
    _ = x + x
    assert calls == [1]


def test_nngp_gradient_does_not_evaluate_tdot_tangents(monkeypatch):
    """NNGP gradients need three series fewer than the NTK's (lazy Ṫ tangents)."""
    import nngpbayes.activations._series_grad as grad

    counted = []
    real = grad.mehler_sums

    def spy(series, c, tol):
        counted.append(len(series))
        return real(series, c, tol)

    monkeypatch.setattr(grad, "mehler_sums", spy)
    X = np.random.default_rng(2).normal(size=(6, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NNGPKernel(depth=2, activation="tanh", bias_variance=0.1)(X, eval_gradient=True)
    assert counted and set(counted) == {4}
    counted.clear()
    NTKKernel(depth=2, activation="tanh", bias_variance=0.1)(X, eval_gradient=True)
    assert sorted(set(counted)) == [3, 4]


def test_grossly_truncated_fixed_degree_gradients_match_its_kernel():
    """degree=40 misses ~1e-4 of E[σ²]: gradients are those of that kernel."""
    X = np.random.default_rng(4).normal(size=(8, 2))
    kernel = NTKKernel(depth=2, activation=A.Tanh(degree=40), bias_variance=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # QuadratureWarning: the point of the test
        K, grad = kernel(X, eval_gradient=True)
        theta, h = kernel.theta, 1e-5
        for d in range(theta.size):
            step = np.zeros_like(theta)
            step[d] = h
            up = kernel.clone_with_theta(theta + step)(X)
            down = kernel.clone_with_theta(theta - step)(X)
            np.testing.assert_allclose(
                grad[..., d], (up - down) / (2 * h), rtol=1e-7, atol=1e-9
            )
        np.testing.assert_allclose(K, kernel(X), rtol=1e-13, atol=1e-15)
