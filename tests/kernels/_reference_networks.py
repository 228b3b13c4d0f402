"""Independent plain-NumPy reference for random finite-width networks.

This module is the Monte Carlo oracle of ``test_monte_carlo.py``. It deliberately
imports nothing from ``nngpbayes``: the activations, their derivatives, the
initialisation and the backpropagation are all written out again here, so that
an error in the package cannot be hidden by sharing code with its test.

Parametrisation (:ref:`theory-1`). With ``L = depth + 1`` layers and widths
``n_0 (input), n_1 .. n_depth (hidden), n_L (outputs)``::

    z^(1)   = b^(1) + W^(1) x
    z^(l+1) = b^(l+1) + W^(l+1) sigma(z^(l))            phi(x) = z^(L)(x)
    W^(l)_ij ~ N(0, C_W^(l) / n_(l-1)),    b^(l)_i ~ N(0, C_b^(l))

Empirical NTK (:ref:`theory-1`-:ref:`theory-2`), with the diagonal learning-rate tensor
``lambda_b^(l)`` for biases and ``lambda_W^(l) / n_(l-1)`` for weights::

    H(x_a, x_b) = sum_l [ lambda_b^(l) g_a^(l).g_b^(l)
                          + lambda_W^(l) / n_(l-1) (g_a^(l).g_b^(l))
                                                   (h_a^(l-1).h_b^(l-1)) ]

where ``g^(l) = d phi / d z^(l)`` is the backward signal (``g^(L) = e_i`` for
output ``i``, ``g^(l) = (W^(l+1)^T g^(l+1)) * sigma'(z^(l))``) and ``h^(l-1)`` is
the input of layer ``l`` (``h^(0) = x``, ``h^(l) = sigma(z^(l))``). The weight
term is ``sum_ij (g_a,i h_a,j)(g_b,i h_b,j)``: the gradient of ``phi`` with
respect to ``W^(l)`` is the outer product ``g^(l) (h^(l-1))^T``.

Many networks are handled at once: every parameter array carries a leading
network axis and the layers are applied with batched ``np.matmul``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

try:  # a dependency of scikit-learn; optional here
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover

    def threadpool_limits(limits=None):
        return contextlib.nullcontext()


ArrayFn = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------
# Activations: name -> (sigma, sigma'), written independently of the package.
# ---------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return special.expit(x)


def _gelu(x: np.ndarray) -> np.ndarray:
    # exact GELU x * Phi(x), Phi the standard normal CDF
    return x * special.ndtr(x)


def _gelu_prime(x: np.ndarray) -> np.ndarray:
    return special.ndtr(x) + x * np.exp(-0.5 * x**2) / np.sqrt(2.0 * np.pi)


def _swish(x: np.ndarray) -> np.ndarray:
    # swish / SiLU with beta = 1: x * sigmoid(x)
    return x * special.expit(x)


def _swish_prime(x: np.ndarray) -> np.ndarray:
    s = special.expit(x)
    return s + x * s * (1.0 - s)


def two_slope(a: float, b: float) -> tuple[ArrayFn, ArrayFn]:
    """Piecewise-linear activation ``a min(x, 0) + b max(x, 0)``.

    Parameters
    ----------
    a, b : float
        Slopes for negative and positive arguments. ``(0, 1)`` is ReLU,
        ``(alpha, 1)`` leaky ReLU, ``(-1, 1)`` the absolute value.

    Returns
    -------
    sigma, sigma_prime : callable
        The activation and its derivative (``b`` at 0, a measure-zero choice).
    """

    def sigma(x: np.ndarray) -> np.ndarray:
        return a * np.minimum(x, 0.0) + b * np.maximum(x, 0.0)

    def sigma_prime(x: np.ndarray) -> np.ndarray:
        return np.where(x < 0.0, a, b).astype(np.result_type(x, float))

    return sigma, sigma_prime


ACTIVATIONS: dict[str, tuple[ArrayFn, ArrayFn]] = {
    "relu": two_slope(0.0, 1.0),
    "abs": two_slope(-1.0, 1.0),
    "identity": (lambda x: x, np.ones_like),
    "erf": (
        special.erf,
        lambda x: 2.0 / np.sqrt(np.pi) * np.exp(-(x**2)),
    ),
    "tanh": (np.tanh, lambda x: 1.0 / np.cosh(x) ** 2),
    "sin": (np.sin, np.cos),
    "cos": (np.cos, lambda x: -np.sin(x)),
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * (1.0 - _sigmoid(x))),
    "softplus": (lambda x: np.logaddexp(0.0, x), _sigmoid),
    "swish": (_swish, _swish_prime),
    "gelu": (_gelu, _gelu_prime),
}
"""Reference activations by name: ``name -> (sigma, sigma')``."""


def get_activation(spec: str | tuple[ArrayFn, ArrayFn]) -> tuple[ArrayFn, ArrayFn]:
    """Return ``(sigma, sigma')`` for a name of :data:`ACTIVATIONS` or a pair."""
    if isinstance(spec, str):
        return ACTIVATIONS[spec]
    sigma, sigma_prime = spec
    return sigma, sigma_prime


# ---------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------


def per_layer(value: float | Sequence[float], n_layers: int) -> np.ndarray:
    """Broadcast a scalar or a length-``n_layers`` sequence to a float array."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full(n_layers, float(arr))
    if arr.shape != (n_layers,):
        raise ValueError(f"expected a scalar or {n_layers} values, got {arr.shape}")
    return arr.copy()


@dataclass
class Networks:
    """A stack of fully-connected networks sharing one architecture.

    Attributes
    ----------
    weights : list of ndarray
        ``weights[l]`` has shape ``(n_networks, n_(l+1), n_l)`` (layer ``l+1``).
    biases : list of ndarray
        ``biases[l]`` has shape ``(n_networks, n_(l+1))``.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @property
    def n_networks(self) -> int:
        """Number of stacked networks."""
        return self.weights[0].shape[0]


def sample_networks(
    rng: np.random.Generator,
    n_networks: int,
    layer_widths: Sequence[int],
    weight_variance: np.ndarray,
    bias_variance: np.ndarray,
) -> Networks:
    """Draw networks at initialisation (:ref:`theory-1`).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n_networks : int
        Number of independent networks, stacked on a leading axis.
    layer_widths : sequence of int
        ``(n_0, n_1, ..., n_L)``: input dimension, hidden widths, outputs.
    weight_variance, bias_variance : ndarray of shape (L,)
        ``C_W^(l)`` and ``C_b^(l)``; ``W ~ N(0, C_W / n_(l-1))``,
        ``b ~ N(0, C_b)``.

    Returns
    -------
    Networks
    """
    weights, biases = [], []
    shapes = zip(layer_widths[:-1], layer_widths[1:], strict=True)
    for layer, (n_in, n_out) in enumerate(shapes):
        w = rng.standard_normal((n_networks, n_out, n_in))
        w *= np.sqrt(weight_variance[layer] / n_in)
        b = rng.standard_normal((n_networks, n_out))
        b *= np.sqrt(bias_variance[layer])
        weights.append(w)
        biases.append(b)
    return Networks(weights, biases)


def forward(
    nets: Networks, x: np.ndarray, sigma: ArrayFn
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Forward pass of every network on a batch of inputs.

    Parameters
    ----------
    nets : Networks
        ``n_networks`` stacked networks.
    x : ndarray of shape (n_points, n_0)
        Inputs (shared by all networks).
    sigma : callable
        The activation.

    Returns
    -------
    phi : ndarray of shape (n_networks, n_points, n_L)
        The outputs ``z^(L)``.
    preactivations : list of ndarray
        ``z^(l)`` for ``l = 1..L``, each ``(n_networks, n_points, n_l)``.
    layer_inputs : list of ndarray
        ``h^(l-1)`` for ``l = 1..L``: ``x`` (shape ``(n_points, n_0)``) and then
        ``sigma(z^(l))`` (shape ``(n_networks, n_points, n_l)``).
    """
    h = np.asarray(x, dtype=float)
    preactivations, layer_inputs = [], []
    n_layers = len(nets.weights)
    for layer, (w, b) in enumerate(zip(nets.weights, nets.biases, strict=True)):
        layer_inputs.append(h)
        z = np.matmul(h, np.swapaxes(w, -1, -2)) + b[:, None, :]
        preactivations.append(z)
        if layer < n_layers - 1:
            h = sigma(z)
    return preactivations[-1], preactivations, layer_inputs


def empirical_ntk(
    nets: Networks,
    x: np.ndarray,
    activation: str | tuple[ArrayFn, ArrayFn],
    weight_lr: np.ndarray,
    bias_lr: np.ndarray,
    outputs: Sequence[int] = (0,),
) -> tuple[np.ndarray, np.ndarray]:
    """Empirical NTK of each network by explicit backpropagation.

    ``H_i(x_a, x_b) = sum_mu lambda_mu d phi_i(x_a)/d theta_mu d phi_i(x_b)/d
    theta_mu`` for each selected output ``i`` (see the module docstring).

    Parameters
    ----------
    nets : Networks
        ``n_networks`` stacked networks.
    x : ndarray of shape (n_points, n_0)
        Inputs.
    activation : str or (callable, callable)
        A name of :data:`ACTIVATIONS` or a pair ``(sigma, sigma')``.
    weight_lr, bias_lr : ndarray of shape (L,)
        ``lambda_W^(l)`` and ``lambda_b^(l)``; the weight learning rate of layer
        ``l`` is ``lambda_W^(l) / n_(l-1)``.
    outputs : sequence of int, default (0,)
        Output units whose NTK is computed.

    Returns
    -------
    phi : ndarray of shape (n_networks, n_points, n_L)
        Network outputs.
    ntk : ndarray of shape (n_networks, len(outputs), n_points, n_points)
        The empirical NTK of each selected output.
    """
    sigma, sigma_prime = get_activation(activation)
    phi, zs, hs = forward(nets, x, sigma)
    n_networks, n_points, n_last = phi.shape
    n_sel = len(outputs)
    # g^(L) for output i is the unit vector e_i at every input point
    g = np.zeros((n_networks, n_sel, n_points, n_last))
    g[:, np.arange(n_sel), :, list(outputs)] = 1.0
    ntk = np.zeros((n_networks, n_sel, n_points, n_points))
    for layer in range(len(nets.weights) - 1, -1, -1):
        h = hs[layer]
        n_in = h.shape[-1]
        gg = np.matmul(g, np.swapaxes(g, -1, -2))  # g_a . g_b
        hh = np.matmul(h, np.swapaxes(h, -1, -2))  # h_a . h_b
        hh = hh[None, None] if hh.ndim == 2 else hh[:, None]
        ntk += bias_lr[layer] * gg + weight_lr[layer] / n_in * gg * hh
        if layer > 0:  # g^(l-1) = (W^(l)^T g^(l)) * sigma'(z^(l-1))
            w = nets.weights[layer]
            back = np.matmul(g.reshape(n_networks, n_sel * n_points, -1), w)
            back = back.reshape(n_networks, n_sel, n_points, -1)
            g = back * sigma_prime(zs[layer - 1])[:, None]
    return phi, ntk


@dataclass
class KernelSamples:
    """Per-network Monte Carlo samples of the two kernels.

    Attributes
    ----------
    nngp : ndarray of shape (n_networks, n_points, n_points)
        ``mean_i phi_i(x_a) phi_i(x_b)`` over the output units of each network
        (the uncentred second moment; the prior mean is zero).
    ntk : ndarray of shape (n_networks, n_points, n_points)
        The empirical NTK averaged over the selected output units.
    """

    nngp: np.ndarray
    ntk: np.ndarray

    @staticmethod
    def mean_and_sem(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sample mean over networks and its standard error."""
        n = samples.shape[0]
        return samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(n)


def kernel_samples(
    x: np.ndarray,
    depth: int,
    activation: str | tuple[ArrayFn, ArrayFn],
    weight_variance: float | Sequence[float],
    bias_variance: float | Sequence[float],
    weight_lr: float | Sequence[float] | None = None,
    bias_lr: float | Sequence[float] | None = None,
    *,
    width: int = 1024,
    n_networks: int = 256,
    n_outputs: int = 128,
    ntk_outputs: int = 1,
    chunk: int = 16,
    seed: int = 0,
) -> KernelSamples:
    """Monte Carlo samples of the NNGP and the NTK over random networks.

    Networks are independent of each other, so the per-network statistics are
    i.i.d. and their standard error is ``std / sqrt(n_networks)``. The outputs
    of one network share its hidden layers (uncorrelated, not independent), so
    they are averaged inside each network before any statistics are taken.

    Parameters
    ----------
    x : ndarray of shape (n_points, n_features)
        Inputs.
    depth : int
        Number of hidden layers, each of width ``width``.
    activation : str or (callable, callable)
        Name of :data:`ACTIVATIONS` or ``(sigma, sigma')``.
    weight_variance, bias_variance : float or sequence of float
        ``C_W`` and ``C_b``, scalars or ``depth + 1`` values.
    weight_lr, bias_lr : float or sequence of float or None
        ``lambda_W`` and ``lambda_b``; ``None`` means ``lambda = C``.
    width : int, default 1024
        Hidden width.
    n_networks : int, default 256
        Number of independent networks.
    n_outputs : int, default 128
        Output units per network used for the NNGP estimate.
    ntk_outputs : int, default 1
        Output units per network whose empirical NTK is computed.
    chunk : int, default 16
        Networks processed together (memory ~ ``chunk * depth * width**2``).
    seed : int, default 0
        Seed of the generator (deterministic results).

    Returns
    -------
    KernelSamples
    """
    n_layers = depth + 1
    c_w = per_layer(weight_variance, n_layers)
    c_b = per_layer(bias_variance, n_layers)
    l_w = c_w if weight_lr is None else per_layer(weight_lr, n_layers)
    l_b = c_b if bias_lr is None else per_layer(bias_lr, n_layers)
    x = np.asarray(x, dtype=float)
    widths = [x.shape[1]] + [width] * depth + [n_outputs]
    rng = np.random.Generator(np.random.SFC64(seed))  # fast normal sampling
    nngp, ntk = [], []
    # The products here are thin (a few points times width**2), memory-bound
    # BLAS calls: threading them gains nothing and, on a busy machine, made them
    # ten times slower. The cost is in drawing the weights anyway.
    with threadpool_limits(limits=1):
        for start in range(0, n_networks, chunk):
            m = min(chunk, n_networks - start)
            nets = sample_networks(rng, m, widths, c_w, c_b)
            phi, h = empirical_ntk(nets, x, activation, l_w, l_b, range(ntk_outputs))
            nngp.append(np.matmul(phi, np.swapaxes(phi, -1, -2)) / n_outputs)
            ntk.append(h.mean(axis=1))
    return KernelSamples(np.concatenate(nngp), np.concatenate(ntk))
