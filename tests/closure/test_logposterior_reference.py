"""The fast log posterior of (C_W, C_b, s) against the straightforward formula.

The reference (``ReferenceLogPosterior``) is the textbook evaluation written out
independently: an ``NNGPKernel`` object per call (and its sklearn gradient), F K Fᵀ
and F ∂K Fᵀ formed explicitly, scipy's ``cho_factor``/``cho_solve``, A⁻¹ from
``cho_solve`` with the identity, scipy.stats' normal log densities for the prior
[Rasmussen & Williams, Alg. 2.1 and eq. (5.9)]. The fast path precomputes the
input-only parts of the kernel recursion and calls LAPACK directly; the results
must agree to rounding: relative 1e-12 for these well-conditioned problems (A's
condition number ≲ 1e4, so rounding of A moves log p by ≲ 1e-12 relative).
"""

import warnings

import numpy as np
import pytest
import scipy.linalg as sla
from hyperparameter_models import (
    PRIOR_MEAN,
    PRIOR_STD,
    forward_map_data,
    model_data,
)
from scipy import stats

from nngpbayes import NNGPKernel
from nngpbayes._linalg import jittered_cholesky
from nngpbayes.closure import _hypergram, _sampler
from nngpbayes.closure._hypergram import GramRecursion
from nngpbayes.closure._hyperposterior import PARAMETER_NAMES, LogPosterior

RTOL = 1e-12


class ReferenceLogPosterior:
    """log p(u | y) and its gradient by the straightforward formula (the oracle)."""

    def __init__(self, X, y, C, depth, activation, mu, sigma, *, forward_map=None):
        self.X, self.y, self.C, self.F = X, y, C, forward_map
        self.depth, self.activation = depth, activation
        self.mu, self.sigma = np.asarray(mu), np.asarray(sigma)
        self.matrix_name = "A"
        self.n_calls = self.n_jittered = 0

    def __call__(self, u):
        return self.evaluate(u)

    def evaluate(self, u, gradient=False):
        self.n_calls += 1
        u = np.asarray(u, dtype=float)
        outside = (-np.inf, None) if gradient else -np.inf
        if not np.all(np.abs(u - self.mu) <= 10.0 * self.sigma):
            return outside
        c_w, c_b, s = np.exp(u)
        kernel = NNGPKernel(
            self.depth, self.activation, weight_variance=c_w, bias_variance=c_b
        )
        K, dK = kernel(self.X, eval_gradient=True)  # columns: log C_b, log C_W
        dK = [dK[..., 1], dK[..., 0]]
        if self.F is not None:
            K = self.F @ K @ self.F.T
            dK = [self.F @ d @ self.F.T for d in dK]
        A = K + s * self.C
        try:
            chol, jitter = jittered_cholesky(0.5 * (A + A.T), "A", warn=False)
        except ValueError:
            return outside
        self.n_jittered += jitter > 0
        alpha = sla.cho_solve((chol, True), self.y)
        prior = stats.norm(self.mu, self.sigma)
        value = (
            -0.5 * self.y @ alpha
            - np.log(np.diag(chol)).sum()
            - 0.5 * len(self.y) * np.log(2.0 * np.pi)
            + prior.logpdf(u).sum()
        )
        if not gradient:
            return float(value)
        A_inv = sla.cho_solve((chol, True), np.eye(len(A)))
        grad = [
            0.5 * alpha @ d @ alpha - 0.5 * np.trace(A_inv @ d)
            for d in dK + [s * self.C]
        ]
        return float(value), np.array(grad) - (u - self.mu) / self.sigma**2


def _problems():
    X, y, C = model_data(n=30, depth=2, seed=1)
    yield "data", X, y, C, None
    X, y, C, F = forward_map_data(n_grid=25, n_data=15, depth=2, seed=1)
    yield "map", X, y, C, F


PROBLEMS = list(_problems())
CASES = [
    pytest.param(p, act, depth, id=f"{p[0]}-{act}-{depth}")
    for p in PROBLEMS
    for act in ("relu", "erf", "leaky_relu", "gelu")
    for depth in (0, 1, 2)
]


def _points(n=4, seed=2):
    rng = np.random.default_rng(seed)
    return PRIOR_MEAN + 0.7 * PRIOR_STD * rng.standard_normal((n, 3))


def _both(problem, activation, depth):
    _, X, y, C, F = problem
    args = (X, y, C, depth, activation, PRIOR_MEAN, PRIOR_STD)
    return LogPosterior(*args, forward_map=F), ReferenceLogPosterior(
        *args, forward_map=F
    )


def _grad_atol(reference, u):
    """Rounding of the two terms ½αᵀ∂Aα and ½tr(A⁻¹∂A) (which may cancel)."""
    step = 1e-3
    scale = max(
        abs(reference(u + step * e) - reference(u - step * e)) / step for e in np.eye(3)
    )
    return RTOL * max(scale, abs(reference(u)))


@pytest.mark.parametrize("problem, activation, depth", CASES)
def test_value_and_gradient_match_the_straightforward_formula(
    problem, activation, depth
):
    fast, reference = _both(problem, activation, depth)
    for u in _points():
        expected, expected_grad = reference.evaluate(u, gradient=True)
        np.testing.assert_allclose(fast(u), expected, rtol=RTOL)
        value, grad = fast.evaluate(u, gradient=True)
        np.testing.assert_allclose(value, expected, rtol=RTOL)
        atol = _grad_atol(reference, u)
        np.testing.assert_allclose(grad, expected_grad, rtol=RTOL, atol=atol)
    assert fast.n_calls == 8 and fast.n_jittered == 0


@pytest.mark.parametrize(
    "activation, depth",
    [(a, d) for a in ("relu", "erf", "abs", "identity") for d in (0, 2)]
    + [("tanh", 1)],  # a Hermite series (its coefficients sliced per axis)
)
def test_gram_recursion_is_the_nngp_kernel(activation, depth):
    """K and ∂K/∂log(C_W, C_b) against NNGPKernel (sklearn's order: C_b, C_W);
    repeated calls do not alter the kept input-only arrays."""
    X = np.random.default_rng(0).uniform(-1, 1, (12, 3))
    X[3] = 2 * X[1]  # parallel inputs: the exact-angle path of the kinked family
    gram = GramRecursion(X, depth, activation)
    first = gram(1.3, 0.2)
    for c_w, c_b in [(0.7, 0.05), (2.1, 1.5), (1.3, 0.2)]:
        kernel = NNGPKernel(depth, activation, weight_variance=c_w, bias_variance=c_b)
        K_ref, dK_ref = kernel(X, eval_gradient=True)
        K, dK = gram.with_gradient(c_w, c_b)
        np.testing.assert_allclose(gram(c_w, c_b), kernel(X), rtol=1e-13, atol=0)
        np.testing.assert_allclose(K, K_ref, rtol=1e-13, atol=0)
        np.testing.assert_allclose(dK[0], dK_ref[..., 1], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dK[1], dK_ref[..., 0], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(gram(1.3, 0.2), first)


def test_large_inputs_take_the_tiled_kernel(monkeypatch):
    """Beyond DIRECT_MAX the tiled nngp evaluation runs: the same values."""
    _, X, y, C, _ = PROBLEMS[0]
    direct = LogPosterior(X, y, C, 2, "relu", PRIOR_MEAN, PRIOR_STD)
    monkeypatch.setattr(_hypergram, "DIRECT_MAX", 10)
    tiled = LogPosterior(X, y, C, 2, "relu", PRIOR_MEAN, PRIOR_STD)
    assert direct._gram.direct and not tiled._gram.direct
    for u in _points(3):
        np.testing.assert_allclose(tiled(u), direct(u), rtol=RTOL)
        value, grad = tiled.evaluate(u, gradient=True)
        ref_value, ref_grad = direct.evaluate(u, gradient=True)
        np.testing.assert_allclose(value, ref_value, rtol=RTOL)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-10)


def test_jittered_factorisation_matches_the_reference():
    """Duplicated inputs and sC below round-off: LAPACK's factorisation fails and
    the jittered one (the same ridge as the reference's) takes over."""
    X = np.repeat(np.linspace(-1, 1, 6)[:, None], 3, axis=0)
    y = np.repeat(np.sin(np.linspace(-1, 1, 6)), 3)
    C = 1e-12 * np.eye(len(y))
    args = (X, y, C, 1, "relu", PRIOR_MEAN, PRIOR_STD)
    fast, reference = LogPosterior(*args), ReferenceLogPosterior(*args)
    u = np.array([0.3, -1.0, -9.5])
    # the ridge leaves a condition number ~1e10: the quadratic form is good to
    # ~1e-6 relative, not to round-off (OpenBLAS 0.3.21 gives 6e-9 here)
    np.testing.assert_allclose(fast(u), reference(u), rtol=1e-6)
    assert fast.n_jittered == reference.n_jittered == 1


def test_overflow_and_bad_shapes():
    """A prior reaching e^800 (exp overflows) or a kernel that overflows: -inf,
    never an exception or NaN; u of the wrong shape: a ValueError."""
    X, y, C = model_data(n=10, seed=3)
    far = LogPosterior(X, y, C, 1, "relu", [800.0, 0.0, 0.0], PRIOR_STD)
    assert far(np.array([800.0, 0.0, 0.0])) == -np.inf
    big = LogPosterior(X, y, C, 3, "relu", [300.0, 0.0, 0.0], PRIOR_STD)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from the overflow
        assert big(np.array([300.0, 0.0, 0.0])) == -np.inf
        assert big.evaluate(np.array([300.0, 0.0, 0.0]), True) == (-np.inf, None)
    with pytest.raises(ValueError, match="u must have shape"):
        far(np.zeros(4))


@pytest.mark.parametrize("through_map", [False, True])
@pytest.mark.parametrize("given_start", [True, False])
def test_sampler_draws_equal_those_of_the_reference(
    through_map, given_start, monkeypatch
):
    """The whole run with the reference log posterior: the same draws to rounding.

    From given starting positions the emcee chains agree to rounding (1e-12).
    Without them the start is the L-BFGS-B MAP: an optimiser stopping at a
    projected gradient of 1e-5, whose stopping point moves by ~1e-10 when the
    gradient changes by rounding, and the chains inherit that (1e-9).
    """
    if through_map:
        X, y, C, F = forward_map_data(seed=1)
    else:
        (X, y, C), F = model_data(n=20, seed=5), None
    chain = {"n_walkers": 8, "n_steps": 40, "burn": 10, "random_state": 3}
    rtol = 1e-12
    if given_start:
        rng = np.random.default_rng(0)
        chain["initial"] = [0.3, -1.5, 0.1] + 0.1 * rng.standard_normal((8, 3))
    else:
        rtol = 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # too short to converge
        fast = _sampler.sample_hyperparameters(X, y, C, forward_map=F, **chain)
        monkeypatch.setattr(_sampler, "LogPosterior", ReferenceLogPosterior)
        slow = _sampler.sample_hyperparameters(X, y, C, forward_map=F, **chain)
    for name in PARAMETER_NAMES:
        np.testing.assert_allclose(fast.samples[name], slow.samples[name], rtol=rtol)
    np.testing.assert_allclose(fast.log_prob, slow.log_prob, rtol=rtol)
