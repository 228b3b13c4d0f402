"""Full-batch gradient descent of stacked networks (THEORY.md §2), pure functions.

One step, for every member at once (λ the learning-rate tensor, η the learning
rate, Δt the time per step):

.. math::

    θ ← θ − η Δt\\, λ ∇_θ L,\\qquad
    L = ½ (φ(X) − y)^T C^{-1} (φ(X) − y),

so ``n_steps`` steps of Δt follow the gradient flow to time n_steps·Δt (and with
Δt = 1 they are plain gradient descent with step η, THEORY.md §2).
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from . import _mlp

__all__ = ["train"]


def train(
    params, X, targets, cinv, arch, step, n_steps, trainable, record, progress=False
):
    """Run ``n_steps`` gradient-descent steps in place on ``params``.

    Parameters
    ----------
    params : (weights, biases)
        Stacked parameters (modified in place).
    X : ndarray of shape (n, n_features)
    targets : ndarray of shape (M, n, n_outputs)
        Each member's own targets (replicas).
    cinv : ndarray of shape (n, n) or None
        C⁻¹ (``None``: the identity).
    arch : Architecture
    step : float
        η·Δt.
    n_steps : int
    trainable : list of bool
        Per layer.
    record : dict or None
        ``{"steps": sorted step indices, "X": inputs, "ntk": bool}``; predictions
        (and empirical NTKs) are stored at those steps (0 = before training).
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict with "predictions" (T, M, n_record, n_outputs) and possibly "ntk"
    (T, M, n_record, n_record); empty without ``record``.
    """
    act = arch.activation
    sizes = [X.shape[1]] + [w.shape[-1] for w in params[0]]
    scales = [
        (arch.weight_lr[i] / sizes[i], arch.bias_lr[i]) for i in range(len(sizes) - 1)
    ]
    weights, biases = params
    buffers = [np.empty_like(w) for w in weights]  # gradients, reused every step
    history = {"predictions": [], "ntk": []}
    marks = list(record["steps"]) if record else []
    for k in tqdm(
        range(n_steps + 1), disable=not progress, desc="gradient descent", unit="step"
    ):
        while marks and marks[0] == k:
            marks.pop(0)
            _record(params, record, act, arch, history)
        if k == n_steps:
            break
        out, pre, inputs = _mlp.forward(params, X, act, keep=True)
        eps = out - targets  # ∂L/∂φ = C⁻¹(φ − y)
        if cinv is not None:
            eps = np.matmul(cinv, eps)
        eps *= step
        for layer, grad in enumerate(
            _mlp.backward(params, pre, inputs, eps, act, scales, trainable, buffers)
        ):
            if grad is not None:
                weights[layer] -= grad[0]
                biases[layer] -= grad[1]
    return {key: np.stack(v) for key, v in history.items() if v}


def _record(params, record, act, arch, history):
    history["predictions"].append(_mlp.forward(params, record["X"], act))
    if record.get("ntk"):
        history["ntk"].append(_mlp.empirical_ntk(params, record["X"], None, act, arch))
