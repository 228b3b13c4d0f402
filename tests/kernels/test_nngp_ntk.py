"""The layer recursion: identities, exactness at (near-)duplicates, blocking, errors."""

import warnings

import joblib
import numpy as np
import pytest

from nngpbayes import Architecture, NNGPKernel, NTKKernel
from nngpbayes.activations import ABReLU, Identity, LeakyReLU
from nngpbayes.kernels import _nngp_ntk, nngp_ntk

ALL = [
    "relu",
    "erf",
    "gelu",
    "tanh",
    "sin",
    "cos",
    "identity",
    "abs",
    "sigmoid",
    "softplus",
    "swish",
    LeakyReLU(0.2),
    ABReLU(-0.5, 1.3),
]


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(7, 3))


def arch(act="relu", depth=2, **kw):
    kw.setdefault("weight_variance", [1.3, 1.7, 0.9, 1.1, 1.5][: depth + 1])
    kw.setdefault("bias_variance", 0.1)
    return Architecture(depth=depth, activation=act, **kw)


def linear_reference(X, Y, cw, cb, lw, lb):
    """Identity activation: K and Θ by hand (:ref:`theory-3` with T = Σ12, Ṫ = 1)."""
    g = X @ Y.T / X.shape[1]
    k, th = cb[0] + cw[0] * g, lb[0] + lw[0] * g
    for layer in range(1, len(cw)):
        th = lb[layer] + lw[layer] * k + cw[layer] * th
        k = cb[layer] + cw[layer] * k
    return k, th


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_identity_gives_the_linear_kernel(X, depth):
    cw, cb = np.linspace(0.8, 1.6, depth + 1), np.linspace(0.05, 0.3, depth + 1)
    lw, lb = 2 * cw, 0.5 * cb
    a = Architecture(depth, "identity", cw, cb, lw, lb)
    Y = X[:4] * 1.7
    k, th = nngp_ntk(X, Y, architecture=a)
    k_ref, th_ref = linear_reference(X, Y, cw, cb, lw, lb)
    np.testing.assert_allclose(k, k_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(th, th_ref, rtol=1e-13, atol=1e-15)


def test_abrelu_identities(X):
    relu = nngp_ntk(X, architecture=arch("relu", 3))
    ab = nngp_ntk(X, architecture=arch(ABReLU(0.0, 1.0), 3))
    np.testing.assert_allclose(relu.nngp, ab.nngp, rtol=1e-13)
    np.testing.assert_allclose(relu.ntk, ab.ntk, rtol=1e-13)
    leaky = nngp_ntk(X, architecture=arch(LeakyReLU(0.3), 3))
    ab = nngp_ntk(X, architecture=arch(ABReLU(0.3, 1.0), 3))
    np.testing.assert_allclose(leaky.nngp, ab.nngp, rtol=1e-13)
    np.testing.assert_allclose(leaky.ntk, ab.ntk, rtol=1e-13)
    # ABReLU(a, a) is a times the identity: C_W (and λ_W) of later layers times a².
    a, cw = -1.7, np.array([1.3, 1.7, 0.9, 1.1])
    scaled = cw * np.r_[1.0, [a * a] * 3]
    k1, th1 = nngp_ntk(X, architecture=Architecture(3, ABReLU(a, a), cw, 0.1, cw, 0.1))
    k2, th2 = nngp_ntk(
        X, architecture=Architecture(3, Identity(), cw, 0.1, scaled, 0.1)
    )
    k3, _ = nngp_ntk(X, architecture=Architecture(3, Identity(), scaled, 0.1))
    np.testing.assert_allclose(k1, k3, rtol=1e-13)
    # Θ' = λ_b + λ_W a² K + C_W a² Θ: the identity with λ_W → a²λ_W, C_W → a²C_W.
    th_ref = linear_reference(X, X, scaled, [0.1] * 4, scaled, [0.1] * 4)[1]
    np.testing.assert_allclose(th1, th_ref, rtol=1e-13)
    assert k2.shape == th2.shape


@pytest.mark.parametrize("act", ALL, ids=str)
def test_depth_zero_ntk_equals_nngp(X, act):
    k, th = nngp_ntk(X, architecture=Architecture(0, act, 1.3, 0.2))
    np.testing.assert_allclose(th, k, rtol=1e-15)


@pytest.mark.parametrize("act", ALL, ids=str)
def test_diag_equals_diagonal_of_gram(X, act):
    a = arch(act, 3)
    k, th = nngp_ntk(X, architecture=a)
    kd, thd = nngp_ntk(X, architecture=a, diag=True)
    np.testing.assert_allclose(np.diag(k), kd, rtol=1e-14, atol=0)
    np.testing.assert_allclose(np.diag(th), thd, rtol=1e-14, atol=0)


@pytest.mark.parametrize("act", ALL, ids=str)
@pytest.mark.parametrize("bias", [0.0, 0.1])
def test_duplicates_and_near_duplicates_are_exact(act, bias):
    """The arccos trap (:ref:`theory-3`): a rounded angle would err by ~1e-8."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 4))
    X = np.vstack([x, x, x * (1 + 1e-13), x + 1e-12 * rng.normal(size=(1, 4)), 2.5 * x])
    a = Architecture(3, act, [1.2, 1.9, 1.4, 0.8], bias)
    k, th = nngp_ntk(X, architecture=a)
    kd, thd = nngp_ntk(X, architecture=a, diag=True)
    # identical rows: the diagonal entries (to an ulp or two for closed forms; a
    # Hermite series at c = 1 − ulp moves by dT/dc · ulp, ~1e-14 at large variances)
    rtol = 2e-14 if hasattr(a.activation, "degree") else 5e-16
    np.testing.assert_allclose(k[0, 1], k[0, 0], rtol=rtol)
    np.testing.assert_allclose(th[0, 1], th[0, 0], rtol=rtol)
    # near-identical rows: the kernels are Lipschitz, so a 1e-12 relative move
    # changes them by ~1e-12, far below the 1e-8 a rounded angle would cost
    for j in (2, 3):
        assert abs(k[0, j] - kd[0]) <= 1e-11 * kd[0]
        assert abs(th[0, j] - thd[0]) <= 1e-11 * thd[0]
    # a parallel input of another norm: compare with the same pair computed alone
    k_pair, th_pair = nngp_ntk(X[[0]], X[[4]], architecture=a)
    np.testing.assert_allclose(k[0, 4], k_pair[0, 0], rtol=1e-14)
    np.testing.assert_allclose(th[0, 4], th_pair[0, 0], rtol=1e-14)


def test_parallel_inputs_with_relu_no_bias_match_closed_form():
    """x and λx with C_b = 0: θ = 0 at every layer, so K = Π C_W/2 · λ|x|²/n_0."""
    x = np.array([[0.3, -1.2, 0.7]])
    X = np.vstack([x, 3.0 * x])
    cw = np.array([1.5, 2.0, 1.8])
    k, th = nngp_ntk(X, architecture=Architecture(2, "relu", cw, 0.0))
    s = (x @ x.T).item() / 3
    k_ref = cw[0] * cw[1] * cw[2] / 4 * 3.0 * s
    assert k[0, 1] == pytest.approx(k_ref, rel=1e-15)
    # NTK: Θ^(1) = C_W s, Θ' = C_W T + C_W Ṫ Θ with T = K/2, Ṫ = 1/2 at θ = 0
    th_ref = cw[0] * 3 * s
    kk = cw[0] * 3 * s
    for layer in (1, 2):
        th_ref = cw[layer] * kk / 2 + cw[layer] * 0.5 * th_ref
        kk = cw[layer] * kk / 2
    assert th[0, 1] == pytest.approx(th_ref, rel=1e-15)


@pytest.mark.parametrize("act", ["relu", "tanh", "erf"])
def test_results_do_not_depend_on_blocks_or_threads(act):
    X = np.random.default_rng(2).normal(size=(61, 4))
    Y = np.random.default_rng(3).normal(size=(23, 4))
    a = arch(act, 2)
    ref = nngp_ntk(X, architecture=a, n_jobs=1, block_size=64)
    for n_jobs, block in [(2, 8), (1, 16), (-1, 24)]:
        got = nngp_ntk(X, architecture=a, n_jobs=n_jobs, block_size=block)
        np.testing.assert_allclose(got.nngp, ref.nngp, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(got.ntk, ref.ntk, rtol=1e-14, atol=1e-15)
    full = nngp_ntk(np.vstack([X, Y]), architecture=a)
    cross = nngp_ntk(X, Y, architecture=a, block_size=8)
    np.testing.assert_allclose(cross.nngp, full.nngp[:61, 61:], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(cross.ntk, full.ntk[:61, 61:], rtol=1e-13, atol=1e-15)


def _record_workers(monkeypatch):
    """Record the number of workers each ``nngp_ntk`` call runs its blocks on."""
    seen, run = [], _nngp_ntk._run

    def spy(work, blocks, n_workers):
        seen.append(n_workers)
        return run(work, blocks, n_workers)

    monkeypatch.setattr(_nngp_ntk, "_run", spy)
    return seen


def test_n_jobs_follows_joblib(monkeypatch):
    """None → 1 worker unless a joblib.parallel_config sets n_jobs; −1 → all cores."""
    X = np.random.default_rng(6).normal(size=(40, 3))
    a = arch("erf", 2)
    seen = _record_workers(monkeypatch)
    serial = nngp_ntk(X, architecture=a, block_size=8)
    with joblib.parallel_config(n_jobs=2):
        configured = nngp_ntk(X, architecture=a, block_size=8)
    with joblib.parallel_config(backend="loky", n_jobs=2):  # tiles need threads
        loky = nngp_ntk(X, architecture=a, block_size=8)
    every = nngp_ntk(X, architecture=a, block_size=8, n_jobs=-1)
    assert seen == [1, 2, 2, joblib.cpu_count()]
    for got in (configured, loky, every):
        np.testing.assert_allclose(got.nngp, serial.nngp, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(got.ntk, serial.ntk, rtol=1e-14, atol=1e-15)


def test_sklearn_kernels_pass_n_jobs(monkeypatch):
    X = np.random.default_rng(7).normal(size=(400, 2))  # 6 blocks of 192
    seen = _record_workers(monkeypatch)
    NNGPKernel()(X)
    NTKKernel(n_jobs=2)(X)
    with joblib.parallel_config(n_jobs=2):
        NNGPKernel()(X)
    assert seen == [1, 2, 2]


@pytest.mark.parametrize("act", ALL, ids=str)
@pytest.mark.parametrize("depth", [1, 3])
def test_zero_inputs_give_the_exact_finite_kernel(act, depth):
    """Zero-norm inputs without bias: every pre-activation is exactly 0.

    Then K^(1) = Θ^(1) = 0 and, layer by layer, K^(ℓ+1) = C_W σ(0)² and
    Θ^(ℓ+1) = λ_W σ(0)² + C_W Ṫ Θ^(ℓ) (:ref:`theory-3`): the kernels are the exact
    finite numbers of a constant network, zero when σ(0) = 0 (ReLU and the kinked
    family included, whose dual maps use the angle between inputs, undefined at
    zero norm). Mixed with non-zero inputs, the other entries are unchanged.
    """
    a = arch(act, depth, bias_variance=0.0)
    sigma0 = float(a.activation(np.zeros(1))[0])
    X = np.r_[np.zeros((2, 3)), np.random.default_rng(8).normal(size=(3, 3))]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no 0/0 on the way
        k, th = nngp_ntk(X, architecture=a)
        kd, thd = nngp_ntk(X, architecture=a, diag=True)
    assert np.isfinite(k).all() and np.isfinite(th).all()
    np.testing.assert_array_equal(np.diag(k), kd)
    np.testing.assert_array_equal(np.diag(th), thd)
    rest = nngp_ntk(X[2:], architecture=a)
    np.testing.assert_allclose(k[2:, 2:], rest.nngp, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(th[2:, 2:], rest.ntk, rtol=1e-14, atol=1e-15)
    if sigma0 == 0.0:
        np.testing.assert_array_equal(k[:2], 0.0)
        np.testing.assert_array_equal(th[:2], 0.0)
    if depth == 1:  # K = C_W σ(0)², Θ = λ_W σ(0)² (Θ^(1) = 0) between zeros
        cw = a.weight_variance[1]
        np.testing.assert_allclose(k[:2, :2], cw * sigma0**2, rtol=1e-12)
        np.testing.assert_allclose(th[:2, :2], cw * sigma0**2, rtol=1e-12)


@pytest.mark.parametrize("cls", [NNGPKernel, NTKKernel])
def test_zero_inputs_have_finite_gradients(cls):
    X = np.r_[np.zeros((2, 2)), [[0.5, -1.0]]]
    kernel = cls(depth=2, activation="relu", bias_variance=0.0)
    k, grad = kernel(X, eval_gradient=True)
    assert np.isfinite(k).all() and np.isfinite(grad).all()
    np.testing.assert_array_equal(k[:2], 0.0)


def test_symmetric_output_is_exactly_symmetric():
    X = np.random.default_rng(4).normal(size=(40, 3))
    k, th = nngp_ntk(X, architecture=arch("tanh", 2), block_size=16)
    np.testing.assert_array_equal(k, k.T)
    np.testing.assert_array_equal(th, th.T)


def test_nngp_only(X):
    k, th = nngp_ntk(X, architecture=arch(), ntk=False)
    assert th is None
    np.testing.assert_array_equal(k, nngp_ntk(X, architecture=arch()).nngp)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(X1=[[np.nan, 1.0]]), "X1 contains 1 NaN"),
        (dict(X1=[[np.inf, 1.0]]), "X1 contains 1 NaN or infinite"),
        (dict(X1=[[1.0, 2.0]], X2=[[1.0, 2.0, 3.0]]), "X2 has 3 features but X1 has 2"),
        (dict(X1=[1.0, 2.0]), "must be 2-D"),
        (dict(X1=np.zeros((0, 2))), "non-empty"),
        (dict(X1=[[1.0]], X2=[[1.0]], diag=True), "diag=True"),
        (dict(X1=[[1.0]], n_jobs=0), "n_jobs"),
        (dict(X1=[[1.0]], n_jobs=2.0), "n_jobs must be None or a non-zero integer"),
        (dict(X1=[[1.0]], block_size=0), r"block_size.*Got block_size=0"),
        (dict(X1=[[1.0]], block_size=8.0), r"block_size.*Got block_size=8\.0"),
        (dict(X1=[[1.0]], diag="yes"), "diag must be True or False, got 'yes'"),
        (dict(X1=[[1.0]], ntk=None), "ntk must be True or False, got None"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nngp_ntk(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depth=-1), r"depth.*>= 0.*Got depth=-1"),
        (dict(depth=1.5), r"depth.*int.*Got depth=1\.5"),
        (dict(weight_variance=0.0), "weight_variance must be finite and strictly"),
        (dict(weight_variance=-1.0), "weight_variance must be finite and strictly"),
        (dict(bias_variance=-0.1), "bias_variance must be finite and non-negative"),
        (dict(weight_lr=np.nan), "weight_lr must be finite"),
        (
            dict(depth=2, weight_variance=[1.0, 2.0]),
            "has 2 values but the network has 3",
        ),
        (dict(depth=1, bias_variance=[[1.0, 2.0]]), "bias_variance must be"),
        (dict(activation="relu6"), "activation must be one of"),
        (dict(weight_variance="big"), "weight_variance must be"),
    ],
)
def test_bad_architecture(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Architecture(**kwargs)


def test_architecture_repr_equality_and_replace():
    a = Architecture(2, "erf", [1.0, 2.0, 3.0], 0.1)
    assert a == Architecture(2, "erf", [1.0, 2.0, 3.0], 0.1)
    assert a != Architecture(2, "erf", [1.0, 2.0, 3.0], 0.2)
    b = a.replace(weight_variance=2.0)
    np.testing.assert_array_equal(b.weight_lr, [2.0] * 3)  # λ = C keeps following
    assert "Erf" in repr(a) and "depth=2" in repr(a)
    with pytest.raises(TypeError, match="architecture must be"):
        nngp_ntk([[1.0]], architecture="relu")
