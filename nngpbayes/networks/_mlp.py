r"""Stacked finite-width networks as pure array functions.

See :ref:`theory-1` and :ref:`theory-2`.

Every member of an ensemble has the same layer sizes; parameters are stored stacked
on a leading member axis, ``W[ℓ]`` of shape (M, n_(ℓ−1), n_ℓ) and ``b[ℓ]`` of shape
(M, n_ℓ), so one batched matrix product serves all members:

.. math::

    z^{(1)} = x W^{(1)} + b^{(1)},\qquad z^{(ℓ+1)} = σ(z^{(ℓ)}) W^{(ℓ+1)} + b^{(ℓ+1)},
    \qquad φ(x) = z^{(L)},

with W ~ N(0, C_W/n_(ℓ−1)) and b ~ N(0, C_b) at initialisation, and the
learning-rate tensor λ_W/n_(ℓ−1) for weights, λ_b for biases.
"""

from __future__ import annotations

import numpy as np

__all__ = ["init_params", "forward", "backward", "empirical_ntk", "jacobian"]


def init_params(arch, sizes, generators):
    """Draw initial parameters of ``len(generators)`` members (one generator each).

    Parameters
    ----------
    arch : Architecture
    sizes : list of int
        ``[n_0, n_1, ..., n_L]``: input size, hidden widths, outputs.
    generators : list of numpy.random.Generator
        One per member, so a member's draws do not depend on how members are split
        among workers.

    Returns
    -------
    weights, biases : lists of L arrays of shapes (M, n_(ℓ−1), n_ℓ) and (M, n_ℓ)
    """
    m = len(generators)
    weights, biases = [], []
    for layer in range(arch.n_layers):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        w = np.empty((m, n_in, n_out))
        b = np.zeros((m, n_out))
        w_std = np.sqrt(arch.weight_variance[layer] / n_in)
        b_std = np.sqrt(arch.bias_variance[layer])
        for i, rng in enumerate(generators):  # initialisation only, not the hot path
            w[i] = w_std * rng.standard_normal((n_in, n_out))
            if b_std > 0:
                b[i] = b_std * rng.standard_normal(n_out)
        weights.append(w)
        biases.append(b)
    return weights, biases


def forward(params, X, activation, keep=False):
    """Compute outputs φ(X) for every member, shape (M, n, n_out).

    With ``keep`` also returns the pre-activations z^(ℓ) and layer inputs h^(ℓ−1)
    (h^(0) = X) needed by :func:`backward` and :func:`empirical_ntk`.
    """
    weights, biases = params
    h, last = X, len(weights) - 1
    pre, inputs = [], []
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        inputs.append(h)
        z = np.matmul(h, w)
        z += b[:, None, :]
        pre.append(z)
        if layer < last:
            h = activation(z)
    if keep:
        return z, pre, inputs
    return z


def backward(params, pre, inputs, eps, activation, lr_scales, trainable, buffers=None):
    """λ-preconditioned gradient steps ``λ ∇L`` for every member (:ref:`theory-2`).

    Parameters
    ----------
    params : (weights, biases)
    pre, inputs : from :func:`forward` with ``keep=True``
    eps : ndarray of shape (M, n, n_out)
        ∂L/∂φ at the training inputs.
    activation : Activation
    lr_scales : list of (float, float)
        Per layer (λ_W / n_(ℓ−1), λ_b).
    trainable : list of bool
        Per layer: whether its parameters move.
    buffers : list of ndarray, optional
        Per layer, arrays of the weights' shape that receive dW (reused across
        steps, so large gradients are not allocated afresh every step).

    Returns
    -------
    list of (dW, db) per layer (None for frozen layers), already multiplied by λ.
    """
    weights, _ = params
    delta = eps
    out = [None] * len(weights)
    for layer in range(len(weights) - 1, -1, -1):
        if trainable[layer]:
            lw, lb = lr_scales[layer]
            # hᵀ as a transposed view (BLAS takes it with its transpose flag, no
            # copy); λ scales the small signal, not the (M, n_(ℓ−1), n_ℓ) product
            ht = np.swapaxes(inputs[layer], -1, -2)
            buf = None if buffers is None else buffers[layer]
            dw = np.matmul(ht, lw * delta, out=buf)
            out[layer] = (dw, lb * delta.sum(axis=-2))
        if layer > 0 and any(trainable[:layer]):
            delta = np.matmul(delta, np.swapaxes(weights[layer], -1, -2))
            delta *= activation.derivative(pre[layer - 1])
    return out


def backward_signals(params, pre, activation, output):
    """∂φ_output/∂z^(ℓ) for every layer, shapes (M, n, n_ℓ) (the last is ones)."""
    weights, _ = params
    m, n = pre[-1].shape[:2]
    g = np.zeros(pre[-1].shape)
    g[..., output] = 1.0
    signals = [g]
    for layer in range(len(weights) - 1, 0, -1):
        g = np.matmul(g, np.swapaxes(weights[layer], -1, -2))
        g *= activation.derivative(pre[layer - 1])
        signals.append(g)
    return signals[::-1]


def empirical_ntk(params, X1, X2, activation, arch, output=0):
    """H(x, x') = Σ_μ λ_μ ∂_μφ(x) ∂_μφ(x') per member, shape (M, n1, n2).

    Layer by layer, from forward inputs h^(ℓ−1) and backward signals g^(ℓ),
    without forming the Jacobian:
    H = Σ_ℓ [λ_b^(ℓ) g^(ℓ)·g^(ℓ)'
             + (λ_W^(ℓ)/n_(ℓ−1)) (g^(ℓ)·g^(ℓ)') (h^(ℓ−1)·h^(ℓ−1)')].
    """
    same = X2 is None
    side = []
    for X in (X1,) if same else (X1, X2):
        _, pre, inputs = forward(params, X, activation, keep=True)
        side.append((inputs, backward_signals(params, pre, activation, output)))
    (h1, g1), (h2, g2) = side[0], side[-1]
    total = 0.0
    for layer in range(arch.n_layers):
        gg = np.matmul(g1[layer], np.swapaxes(g2[layer], -1, -2))
        a, b = _as_stack(h1[layer]), _as_stack(h2[layer])
        hh = np.matmul(a, np.swapaxes(b, -1, -2))
        n_in = h1[layer].shape[-1]
        total = total + gg * (arch.bias_lr[layer] + arch.weight_lr[layer] / n_in * hh)
    return total


def _as_stack(h):
    return h if h.ndim == 3 else h[None]


def jacobian(params, X, activation, output=0):
    """∂φ_output(x)/∂θ for every member, shape (M, n, P), and λ per parameter.

    Parameters are flattened layer by layer, each layer's weights (row-major over
    (n_(ℓ−1), n_ℓ)) then its biases. Meant for small networks (checks, teaching).
    """
    weights, _ = params
    _, pre, inputs = forward(params, X, activation, keep=True)
    signals = backward_signals(params, pre, activation, output)
    blocks = []
    for layer in range(len(weights)):
        h = np.broadcast_to(
            _as_stack(inputs[layer]),
            signals[layer].shape[:2] + inputs[layer].shape[-1:],
        )
        g = signals[layer]
        blocks.append((h[..., :, None] * g[..., None, :]).reshape(g.shape[:2] + (-1,)))
        blocks.append(g)
    return np.concatenate(blocks, axis=-1)


def lr_vector(arch, sizes):
    """λ per flattened parameter (the order of :func:`jacobian`), shape (P,)."""
    parts = []
    for layer in range(arch.n_layers):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        parts.append(np.full(n_in * n_out, arch.weight_lr[layer] / n_in))
        parts.append(np.full(n_out, arch.bias_lr[layer]))
    return np.concatenate(parts)
