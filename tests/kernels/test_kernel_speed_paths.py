"""The fused plain-array path of the kernels (ReLU family and erf) against the
general recursion it replaces, on inputs that exercise its refinement of nearly
parallel and opposite pairs (:ref:`theory-3`)."""

import numpy as np
import pytest

try:
    import mpmath
except ImportError:  # not a declared test dependency
    mpmath = None

from nngpbayes import Architecture, NNGPKernel, NTKKernel
from nngpbayes._dual import Dual
from nngpbayes.activations import ABReLU, Abs, LeakyReLU
from nngpbayes.kernels import _nngp_ntk, nngp_ntk
from nngpbayes.kernels._cosine import has_fused

FUSED = ["relu", "erf", Abs(), LeakyReLU(0.2), ABReLU(-0.5, 1.3), ABReLU(-1.2, 1.2)]


def tricky_inputs(n=40, d=3, seed=0):
    """Random rows plus duplicates, opposites, rescalings, near copies, a zero row."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[1], X[2], X[3] = X[0], -X[0], 2.5 * X[0]
    X[4] = X[0] * (1 + 1e-12)
    X[5] = X[0] + 1e-9 * rng.normal(size=d)
    X[6] = -X[0] + 1e-7 * rng.normal(size=d)
    X[7] = 0.0
    return X


def general_path(monkeypatch, *args, **kwargs):
    """``nngp_ntk`` by the general (Dual-capable) recursion."""
    with monkeypatch.context() as m:
        m.setattr(_nngp_ntk, "has_fused", lambda *a: False)
        return nngp_ntk(*args, **kwargs)


def assert_same(fast, slow, rtol=1e-12):
    """Equal to rounding: relative, with an absolute floor at the matrix's scale
    (entries that cancel to ~0 in C_b + C_W T carry rounding of the scale)."""
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-14 * np.abs(b).max())


def arch(act, depth=3, bias=0.1):
    cw = [1.3, 1.9, 1.4, 0.8, 1.1][: depth + 1]
    cb = [bias, 0.5 * bias, bias, 0.2 * bias, bias][: depth + 1]
    lw = [0.7, 1.1, 2.0, 0.4, 1.0][: depth + 1]
    return Architecture(depth, act, cw, cb, lw, [0.2, 0.1, 0.3, 0.05, 0.1][: depth + 1])


def kinked_reference(X, Y, a, act):
    """K and Θ of ABReLU pair by pair in 40-digit arithmetic (:ref:`theory-3`).

    The textbook recursion with θ = arccos(Σ12/√(Σ11Σ22)), exact at this
    precision (no cancellation concerns), as an independent oracle. Needs mpmath
    (not a declared test dependency: skipped without it, e.g. in the floors job).
    """
    if mpmath is None:
        pytest.skip("needs mpmath")
    mpmath.mp.dps = 40
    sa, sb = mpmath.mpf(act.a), mpmath.mpf(act.b)
    even, odd = (sa**2 + sb**2) / 2, (sa - sb) ** 2 / (2 * mpmath.pi)
    hp = [[mpmath.mpf(float(v)) for v in h] for h in _hp(a)]
    out = np.empty((2, len(X), len(Y)))
    for i, x in enumerate(X):
        for j, y in enumerate(Y):
            out[:, i, j] = _reference_pair(x, y, hp, even, odd)
    return out


def _hp(a):
    return a.weight_variance, a.bias_variance, a.weight_lr, a.bias_lr


def _reference_pair(x, y, hp, even, odd):
    cw, cb, lw, lb = hp
    dot = [
        mpmath.fsum(
            mpmath.mpf(float(u)) * mpmath.mpf(float(v))
            for u, v in zip(p, r, strict=True)
        )
        / len(x)
        for p, r in ((x, x), (y, y), (x, y))
    ]
    q1, q2, k = (cb[0] + cw[0] * d for d in dot)
    th = lb[0] + lw[0] * dot[2]
    for layer in range(1, len(cw)):
        norm = mpmath.sqrt(q1 * q2)
        c = k / norm if norm else mpmath.mpf(1)
        theta = mpmath.acos(max(-1, min(1, c)))
        t = even * k + odd * (norm * mpmath.sin(theta) - theta * k)
        th = lb[layer] + lw[layer] * t + cw[layer] * (even - odd * theta) * th
        k = cb[layer] + cw[layer] * t
        q1, q2 = (cb[layer] + cw[layer] * even * q for q in (q1, q2))
    return float(k), float(th)


@pytest.mark.parametrize("act", FUSED, ids=str)
@pytest.mark.parametrize("bias", [0.0, 0.1])
def test_fused_matches_general_recursion(monkeypatch, act, bias):
    X = tricky_inputs()
    a = arch(act, bias=bias)
    assert has_fused(a.activation, (a.weight_variance,) * 4)
    # ABReLU(a, -a) maps opposite inputs to identical ones, where the general
    # path's gap G₋ = even g₋ − odd(S − θΣ12) cancels (the fused path does not:
    # see the high-precision test below); compare elsewhere.
    keep = slice(None) if a.activation.name == "erf" or _sum(act) else slice(7, None)
    X = X[keep]
    for Y in (None, 1.3 * X[::2]):  # symmetric (mirrored) and rectangular
        fast = nngp_ntk(X, Y, architecture=a, block_size=7)
        assert_same(fast, general_path(monkeypatch, X, Y, architecture=a))


def _sum(act):
    """a + b of an ABReLU (nonzero for erf)."""
    return (
        getattr(act, "a", 0.0) + getattr(act, "b", 1.0)
        if not isinstance(act, str)
        else 1.0
    )


@pytest.mark.parametrize("act", [a for a in FUSED if a != "erf"], ids=str)
@pytest.mark.parametrize("bias", [0.0, 0.3])
def test_kinked_matches_high_precision_reference(act, bias):
    """Against 40-digit arithmetic, on inputs whose pairs are all parallel or
    opposite (1-D), and on duplicated, opposite and nearly so rows."""
    a = arch(act, depth=3, bias=bias)
    for X in (np.linspace(-2.0, 2.0, 13)[:, None], tricky_inputs(n=12)):
        k, th = nngp_ntk(X, architecture=a, block_size=5)
        ref = kinked_reference(X, X, a, a.activation)
        off = ~np.eye(len(X), dtype=bool)  # the diagonal is the diagonal recursion's
        for got, want in ((k, ref[0]), (th, ref[1])):
            np.testing.assert_allclose(
                got[off], want[off], rtol=1e-12, atol=1e-14 * np.abs(want).max()
            )
        np.testing.assert_array_equal(k, k.T)


@pytest.mark.parametrize("act", ["relu", "erf"])
@pytest.mark.parametrize("depth", [0, 1])
def test_shallow_and_nngp_only(monkeypatch, act, depth):
    X = tricky_inputs(n=15)
    a = arch(act, depth=depth)
    assert_same(
        nngp_ntk(X, architecture=a), general_path(monkeypatch, X, architecture=a)
    )
    k, th = nngp_ntk(X, architecture=arch(act), ntk=False)
    assert th is None
    k_ref, _ = general_path(monkeypatch, X, architecture=arch(act), ntk=False)
    np.testing.assert_allclose(k, k_ref, rtol=1e-12, atol=1e-14 * np.abs(k_ref).max())


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_threads_and_block_sizes_do_not_change_the_result(act):
    X = tricky_inputs(n=50)
    a = arch(act)
    ref = nngp_ntk(X, architecture=a, block_size=7)
    for n_jobs in (2, -1):  # bit for bit across threads (per-thread workspaces)
        out = nngp_ntk(X, architecture=a, block_size=7, n_jobs=n_jobs)
        np.testing.assert_array_equal(out.nngp, ref.nngp)
        np.testing.assert_array_equal(out.ntk, ref.ntk)
    for block_size in (13, 50):  # to rounding (BLAS sums x·x' per block shape)
        assert_same(nngp_ntk(X, architecture=a, block_size=block_size), ref, 1e-14)


def test_dispatch():
    cw = np.ones(3)
    plain = (cw, cw, cw, cw)
    dual = (Dual(cw, np.ones((1, 3))), cw, cw, cw)
    for act in ("relu", "erf", "abs"):
        a = Architecture(2, act)
        assert has_fused(a.activation, plain)
        assert not has_fused(a.activation, dual)
    for act in ("identity", "tanh", "gelu", "sin"):
        assert not has_fused(Architecture(2, act).activation, plain)


@pytest.mark.parametrize("act", ["relu", "erf"])
@pytest.mark.parametrize("cls", [NNGPKernel, NTKKernel])
def test_gradient_path_agrees_with_fused_values(act, cls):
    """``eval_gradient=True`` (Duals, general path) returns the fused path's K."""
    X = tricky_inputs(n=20)
    k = cls(depth=3, activation=act, weight_variance=1.7, bias_variance=0.2)
    K = k(X)
    K_grad, dK = k(X, eval_gradient=True)
    np.testing.assert_allclose(K_grad, K, rtol=1e-12, atol=1e-14 * np.abs(K).max())
    assert dK.shape == (20, 20, 2) and np.all(np.isfinite(dK))


def test_blocks_beyond_the_cached_workspace():
    """A block larger than the per-thread cache gets fresh buffers, same result."""
    X = np.random.default_rng(3).normal(size=(520, 2))
    a = arch("relu", depth=2)
    big = nngp_ntk(X, architecture=a, block_size=520)
    assert_same(big, nngp_ntk(X, architecture=a, block_size=64), 1e-14)
