"""Infinite-width kernels vs Monte Carlo over random finite-width networks.

The oracle is ``_reference_networks.py``, an independent NumPy implementation of
the :ref:`theory-1` networks and of their empirical NTK (explicit backpropagation).
For each architecture we draw ``N_NETWORKS`` networks of width ``WIDTH`` and
compare

* the NNGP ``K(x, x') = E[phi(x) phi(x')]`` (uncentred: the prior mean is 0),
* the NTK ``Theta(x, x') = E[H(x, x')]``,

with ``nngpbayes.kernels.nngp_ntk`` entry by entry. Tolerances come from the
sample (see :func:`_check`): ``z`` standard errors plus a finite-width allowance.

The default run covers a fast subset; ``pytest -m slow`` runs the rest of the
grid (every activation at depths 1-4, plus per-layer hyperparameter arrays).
"""

from __future__ import annotations

import importlib.util
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest


def _load_reference():
    """Import ``_reference_networks`` by path (works with any pytest import mode)."""
    name = "_nngpbayes_reference_networks"
    if name not in sys.modules:
        path = Path(__file__).with_name("_reference_networks.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


ref = _load_reference()

WIDTH = 1024
N_NETWORKS = 256
# Readout units per network averaged for the NNGP estimate (cheap: n_out*width
# draws against width**2 per hidden layer). The NTK uses output 0 only: its
# fluctuation per network is already O(1/sqrt(width)) (docs/theory §5).
N_OUTPUTS = 128
# Z standard errors per entry. The SE is estimated from the same n = N_NETWORKS = 256
# samples, so |estimate - A| / SE is Student-t with n - 1 = 255 degrees of freedom
# (close to Gaussian: the SE estimate is off by ~1/sqrt(2n) = 4%): its two-sided
# tail beyond 4.5 is 1.0e-5 per entry. Each case compares 2 kernels x (25 + 8)
# entries = 66, so the fast run (17 cases, 1122 entries) expects 0.012 false
# alarms and the full grid (58 cases, 3828 entries) 0.04. (Entries within a case
# are correlated, which only lowers the chance of any alarm.)
Z = 4.5
# Finite-width shift allowance per hidden layer after the first, in units of
# 1/WIDTH: derived and measured in the Notes of _check.
FINITE_WIDTH_COEFF = 2.0

# Five points in d = 4: norms from 0.4 to 2.8, generic angles, one pair at an
# angle near pi (x_0 and x_4, cosine -0.9992) and one short vector (x_2).
X = np.array(
    [
        [1.0, 0.5, -0.3, 0.8],
        [-0.4, 1.2, 0.9, 0.1],
        [0.3, 0.2, 0.1, -0.2],
        [2.0, -1.0, 0.5, 1.5],
        [-0.7, -0.35, 0.25, -0.56],
    ]
)


@dataclass(frozen=True)
class Case:
    """One architecture of the grid."""

    activation: str  # a package activation name, or a key of _PIECEWISE
    depth: int
    weight_variance: float | tuple[float, ...] = 1.5
    bias_variance: float | tuple[float, ...] = 0.1
    weight_lr: float | tuple[float, ...] | None = None
    bias_lr: float | tuple[float, ...] | None = None
    label: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.activation}-depth{self.depth}{self.label}"

    @property
    def seed(self) -> int:
        """A fixed seed of its own, so that the cases are independent checks."""
        return zlib.crc32(str(self).encode())


# Piecewise-linear activations given as package objects:
# id -> (class in nngpbayes.activations, its arguments, (a, b)) for the
# reference a min(x, 0) + b max(x, 0).
_PIECEWISE = {
    "LeakyReLU(0.2)": ("LeakyReLU", (0.2,), (0.2, 1.0)),
    "ABReLU(-0.5,1.3)": ("ABReLU", (-0.5, 1.3), (-0.5, 1.3)),
}
ACTIVATION_NAMES = [
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
]
ALL_ACTIVATIONS = ACTIVATION_NAMES + list(_PIECEWISE)

# Per-layer arrays with lambda != C (a zero bias lr and a zero bias variance too).
_ARRAYS = {
    1: dict(
        weight_variance=(0.9, 2.1),
        bias_variance=(0.3, 0.05),
        weight_lr=(2.0, 0.4),
        bias_lr=(0.0, 1.5),
        label="-arrays",
    ),
    2: dict(
        weight_variance=(1.2, 2.0, 0.8),
        bias_variance=(0.05, 0.2, 0.1),
        weight_lr=(0.5, 1.0, 2.0),
        bias_lr=(0.3, 0.0, 1.0),
        label="-arrays",
    ),
    3: dict(
        weight_variance=(2.0, 1.0, 1.6, 1.3),
        bias_variance=(0.0, 0.3, 0.1, 0.2),
        weight_lr=(1.0, 0.2, 3.0, 0.7),
        bias_lr=(0.5, 1.0, 0.0, 0.4),
        label="-arrays",
    ),
}

# Default run: relu/erf/tanh at depths 1-2 (relu at depth 2 with per-layer
# arrays and lambda != C), every other activation at depth 1.
FAST_CASES = (
    [Case(a, 1) for a in ALL_ACTIVATIONS]
    + [Case("erf", 2), Case("tanh", 2), Case("relu", 2, **_ARRAYS[2])]
    + [Case("erf", 1, **_ARRAYS[1])]
)
_GRID = [Case(a, d) for a in ALL_ACTIVATIONS for d in (1, 2, 3, 4)] + [
    Case(a, d, **_ARRAYS[d])
    for a, d in [
        ("relu", 2),
        ("gelu", 2),
        ("sin", 2),
        ("tanh", 3),
        ("ABReLU(-0.5,1.3)", 3),
        ("swish", 1),
    ]
]
SLOW_CASES = [c for c in _GRID if c not in FAST_CASES]  # fast + slow = full grid


# ---------------------------------------------------------------------------
# Package side (imported lazily: the reference sanity tests need no package)
# ---------------------------------------------------------------------------


def _package_activation(name: str):
    if name in _PIECEWISE:
        from nngpbayes import activations

        cls, args, _ = _PIECEWISE[name]
        return getattr(activations, cls)(*args)
    return name


def _reference_activation(name: str):
    if name in _PIECEWISE:
        return ref.two_slope(*_PIECEWISE[name][2])
    return ref.ACTIVATIONS[name]


def _architecture(case: Case):
    from nngpbayes import Architecture

    return Architecture(
        depth=case.depth,
        activation=_package_activation(case.activation),
        weight_variance=case.weight_variance,
        bias_variance=case.bias_variance,
        weight_lr=case.weight_lr,
        bias_lr=case.bias_lr,
    )


# ---------------------------------------------------------------------------
# The statistical comparison
# ---------------------------------------------------------------------------


def _check(
    what: str,
    samples: np.ndarray,
    analytic: np.ndarray,
    diag_scale: tuple[np.ndarray, np.ndarray],
    depth: int,
) -> float:
    """Assert that the Monte Carlo mean of ``samples`` matches ``analytic``.

    Parameters
    ----------
    what : str
        Name used in the failure message.
    samples : ndarray of shape (n_networks, n1, n2)
        i.i.d. per-network estimates of the kernel.
    analytic : ndarray of shape (n1, n2)
        The package's infinite-width kernel.
    diag_scale : (ndarray of shape (n1,), ndarray of shape (n2,))
        The analytic diagonals ``A(x, x)`` of the two point sets.
    depth : int
        Number of hidden layers.

    Returns
    -------
    float
        The largest ``|estimate - analytic| / SE`` (for the report).

    Notes
    -----
    The bound is ``|mean - A| <= Z * SE + allowance`` with
    ``SE = std(samples) / sqrt(n_networks)`` estimated from the same samples and

        allowance = 2 (depth - 1) / WIDTH * sqrt(A(x, x) A(x', x')).

    Why: at finite width n the mean of either kernel is its infinite-width value
    plus O(1/n) (:ref:`theory-5`; PDLT ch. 4 and 8): each hidden layer after the
    first feeds the next a random kernel with O(1/n) variance, and the
    nonlinear map T turns that variance into an O(1/n) shift, so the shift adds
    up over the ``depth - 1`` such layers. With one hidden layer the
    first-layer preactivations are exactly Gaussian and the readout is linear
    in independent weights, so both means are exact (no allowance). Measured
    at width 64 with 20000 networks on this grid, the shift per layer was at
    most 1.1 / n relative (swish, gelu at depth 4) and typically 0.1-0.3 / n,
    so the coefficient 2 leaves room while still far below formula errors. The
    scale is ``sqrt(A(x,x) A(x',x'))`` rather than ``|A(x,x')|`` because the
    correction to an off-diagonal entry is bounded by the diagonal ones (the
    four-point function obeys Cauchy-Schwarz), and ``A(x,x')`` may be near 0.
    """
    n = samples.shape[0]
    estimate = samples.mean(axis=0)
    sem = samples.std(axis=0, ddof=1) / np.sqrt(n)
    scale = np.sqrt(np.outer(np.abs(diag_scale[0]), np.abs(diag_scale[1])))
    allowance = FINITE_WIDTH_COEFF * (depth - 1) / WIDTH * scale
    deviation = np.abs(estimate - analytic)
    bad = deviation > Z * sem + allowance
    assert not bad.any(), (
        f"{what}: Monte Carlo ({n} networks, width {WIDTH}) disagrees with the "
        f"analytic kernel at entries {np.argwhere(bad).tolist()}\n"
        f"analytic=\n{analytic}\nestimate=\n{estimate}\nSE=\n{sem}\n"
        f"allowance=\n{allowance}"
    )
    return float(np.max(deviation / sem))


def _run_case(case: Case) -> dict[str, float]:
    from nngpbayes.kernels import nngp_ntk

    arch = _architecture(case)
    n_layers = case.depth + 1
    c_w = ref.per_layer(case.weight_variance, n_layers)
    c_b = ref.per_layer(case.bias_variance, n_layers)
    # the reference gets the hyperparameters from the Case, not from arch:
    # check that both read them the same way (docs/theory §1: None means lambda = C)
    for attr, expected in [
        ("weight_variance", c_w),
        ("bias_variance", c_b),
        ("weight_lr", c_w if case.weight_lr is None else case.weight_lr),
        ("bias_lr", c_b if case.bias_lr is None else case.bias_lr),
    ]:
        np.testing.assert_allclose(getattr(arch, attr), expected, err_msg=attr)

    samples = ref.kernel_samples(
        X,
        case.depth,
        _reference_activation(case.activation),
        case.weight_variance,
        case.bias_variance,
        case.weight_lr,
        case.bias_lr,
        width=WIDTH,
        n_networks=N_NETWORKS,
        n_outputs=N_OUTPUTS,
        seed=case.seed,
    )
    nngp, ntk = nngp_ntk(X, architecture=arch)
    # a rectangular call (X1 != X2, overlapping) against the same samples
    rows, cols = slice(0, 2), slice(1, 5)
    nngp_12, ntk_12 = nngp_ntk(X[rows], X[cols], architecture=arch)
    z = {}
    for what, mc, full, cross in [
        ("NNGP", samples.nngp, nngp, nngp_12),
        ("NTK", samples.ntk, ntk, ntk_12),
    ]:
        diag = np.diag(full)
        z[what] = _check(f"{case} {what}", mc, full, (diag, diag), case.depth)
        z[what + " X1!=X2"] = _check(
            f"{case} {what}(X1, X2)",
            mc[:, rows, cols],
            cross,
            (diag[rows], diag[cols]),
            case.depth,
        )
    print(f"{case}: max |z| " + ", ".join(f"{k} {v:.2f}" for k, v in z.items()))
    return z


@pytest.mark.parametrize("case", FAST_CASES, ids=str)
def test_kernels_match_monte_carlo(case):
    _run_case(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW_CASES, ids=str)
def test_kernels_match_monte_carlo_full_grid(case):
    _run_case(case)


@pytest.mark.parametrize("name", ALL_ACTIVATIONS)
def test_activation_matches_reference(name):
    """The package's sigma and sigma' are the functions the reference uses."""
    from nngpbayes import Architecture

    act = Architecture(depth=1, activation=_package_activation(name)).activation
    sigma, sigma_prime = _reference_activation(name)
    x = np.linspace(-4.0, 4.0, 81)
    x = x[np.abs(x) > 1e-9]  # the kinks of relu, abs and the like
    np.testing.assert_allclose(act(x), sigma(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        act.derivative(x), sigma_prime(x), rtol=1e-10, atol=1e-12
    )


# ---------------------------------------------------------------------------
# Sanity checks of the reference itself (no package needed)
# ---------------------------------------------------------------------------


def _arccos_relu(k11, k22, k12):
    """Cho & Saul (2009): E[relu(u) relu(v)] and E[relu'(u) relu'(v)]."""
    norm = np.sqrt(k11 * k22)
    theta = np.arccos(np.clip(k12 / norm, -1.0, 1.0))
    t = norm * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
    return t, (np.pi - theta) / (2 * np.pi)


def test_reference_relu_depth1_matches_arccos():
    """One hidden layer, no bias: MC vs the arc-cosine closed form (exact mean)."""
    c_w, l_w = (1.7, 1.3), (0.6, 2.2)
    # n = 512 networks: SE from the sample, Student-t with 511 dof, two-sided tail
    # beyond Z = 4.5 of 8.4e-6 per entry over 2 x 25 entries (4e-4 per run); depth
    # 1 has no finite-width shift, so no allowance (see _check)
    samples = ref.kernel_samples(
        X, 1, "relu", c_w, 0.0, l_w, None, n_networks=512, n_outputs=64, seed=7
    )
    k1 = c_w[0] * X @ X.T / X.shape[1]
    d = np.diag(k1)
    t, t_dot = _arccos_relu(d[:, None], d[None, :], k1)
    nngp = c_w[1] * t
    # docs/theory §3: Theta^(2) = lambda_W^(2) T + C_W^(2) T' Theta^(1), C_b = 0
    ntk = l_w[1] * t + c_w[1] * t_dot * (l_w[0] * X @ X.T / X.shape[1])
    for what, mc, exact in [("NNGP", samples.nngp, nngp), ("NTK", samples.ntk, ntk)]:
        _check(f"reference relu {what}", mc, exact, (np.diag(exact),) * 2, depth=1)


def _flat_parameters(nets):
    return [p for w, b in zip(nets.weights, nets.biases, strict=True) for p in (w, b)]


@pytest.mark.parametrize("activation", ["tanh", "relu", "sin"])
def test_reference_ntk_matches_finite_differences(activation):
    """Backpropagated NTK vs J diag(lambda) J^T with J from central differences."""
    rng = np.random.default_rng(3)
    widths = [3, 8, 8, 2]  # two hidden layers of width 8, two outputs
    c_w, c_b = np.array([1.5, 2.0, 1.0]), np.array([0.2, 0.1, 0.3])
    l_w, l_b = np.array([0.7, 1.9, 0.4]), np.array([1.1, 0.0, 0.5])
    nets = ref.sample_networks(rng, 1, widths, c_w, c_b)
    x = rng.standard_normal((3, widths[0]))
    sigma, _ = ref.ACTIVATIONS[activation]
    phi, ntk = ref.empirical_ntk(nets, x, activation, l_w, l_b, outputs=(0, 1))

    step = 1e-6
    jac, lam = [], []
    for index, param in enumerate(_flat_parameters(nets)):
        layer, is_bias = divmod(index, 2)
        fan_in = widths[layer]
        rate = l_b[layer] if is_bias else l_w[layer] / fan_in
        for flat in range(param.size):
            original = param.flat[flat]
            param.flat[flat] = original + step
            plus = ref.forward(nets, x, sigma)[0][0]
            param.flat[flat] = original - step
            minus = ref.forward(nets, x, sigma)[0][0]
            param.flat[flat] = original
            jac.append((plus - minus) / (2 * step))  # (n_points, n_outputs)
            lam.append(rate)
    jac, lam = np.array(jac), np.array(lam)  # (n_params, n_points, n_outputs)
    assert len(lam) == sum(
        a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True)
    )
    expected = np.einsum("pai,p,pbi->iab", jac, lam, jac)
    # not statistical: central differences with step h = 1e-6 err by O(h²) = 1e-12
    # (truncation) plus O(eps / h) = 2e-10 (round-off) relative, well inside 1e-7
    np.testing.assert_allclose(ntk[0], expected, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(phi, ref.forward(nets, x, sigma)[0])
