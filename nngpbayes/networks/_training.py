r"""Full-batch gradient descent of stacked networks (:ref:`theory-2`), pure functions.

One step, for every member of a block at once (λ the learning-rate tensor, η the
learning rate, Δt the time per step):

.. math::

    θ ← θ − η Δt\, λ ∇_θ L,\qquad
    L = ½ (Fφ(X) − y)^T C^{-1} (Fφ(X) − y),

with F the forward map (the identity by default; otherwise ∂L/∂φ = Fᵀ C⁻¹ F φ −
Fᵀ C⁻¹ y = P φ − b with P and b computed once before training), so ``n_steps``
steps of Δt follow the gradient flow to time n_steps·Δt (and with Δt = 1 they are
plain gradient descent with step η, :ref:`theory-2`).
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from . import _mlp

__all__ = ["NonFiniteStep", "member_blocks", "train"]

#: Working-set budget of a block of members (bytes): a few MiB, so that a block's
#: weights and activations stay in cache (L2/L3) while all its steps run through
#: them (larger members are trained one at a time). Measured on 2-core AMD EPYC:
#: width 512 at 64 points went from 50 % to 68 % of one core's dgemm rate.
BLOCK_BYTES = 4 * 2**20


class NonFiniteStep(FloatingPointError):
    """The predictions at step ``args[0]`` are not finite.

    Wrapped by the caller into a :class:`~nngpbayes.networks.DivergenceError` with
    the stability limit.
    """

    @property
    def step(self):
        return self.args[0]


def train(
    params, X, targets, cinv, arch, step, n_steps, trainable, record, progress=False
):
    """Run ``n_steps`` gradient-descent steps in place on ``params``.

    Members are trained in blocks small enough for their weights and activations
    to stay in the processor's cache (:func:`member_blocks`): every step of one
    block, then the next block. Members are independent, so this changes no
    result; it only saves streaming all the members' weights through memory at
    every step.

    Parameters
    ----------
    params : (weights, biases)
        Stacked parameters (modified in place).
    X : ndarray of shape (n, n_features)
    targets : ndarray of shape (M, n, n_outputs)
        Each member's own targets (replicas), or b = Fᵀ C⁻¹ y with a forward map.
    cinv : ndarray of shape (n, n), None, or ("mapped", P)
        C⁻¹ (``None``: the identity); with a forward map, ``("mapped", P)`` with
        P = Fᵀ C⁻¹ F on the grid, and ``targets`` are then b = Fᵀ C⁻¹ y (so that
        ∂L/∂φ = P φ − b).
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
        Show a progress bar (of member-block steps).

    Returns
    -------
    dict with "predictions" (T, M, n_record, n_outputs) and possibly "ntk"
    (T, M, n_record, n_record); empty without ``record``.

    Raises
    ------
    NonFiniteStep
        At the first step whose predictions at ``X`` are NaN or infinite for some
        member (checked every step on the residuals, which cost nothing extra);
        once a block has failed, the next ones train no further than that step.
    """
    weights, biases = params
    sizes = [X.shape[1]] + [w.shape[-1] for w in weights]
    scales = [
        (arch.weight_lr[i] / sizes[i], arch.bias_lr[i]) for i in range(len(sizes) - 1)
    ]
    blocks = member_blocks(sizes, len(X), targets.shape[0])
    problem = (X, cinv, arch, step, scales, trainable, record)
    histories, failed = [], None
    with tqdm(
        total=n_steps * len(blocks),
        disable=not progress,
        desc="gradient descent",
        unit="step",
    ) as bar:
        for block in blocks:
            sub = ([w[block] for w in weights], [b[block] for b in biases])
            limit = n_steps if failed is None else failed
            try:
                histories.append(_train_block(sub, targets[block], problem, limit, bar))
            except NonFiniteStep as exc:
                failed = exc.step if failed is None else min(failed, exc.step)
    if failed is not None:
        raise NonFiniteStep(failed)
    return {
        key: np.concatenate([h[key] for h in histories], axis=1) for key in histories[0]
    }


def member_blocks(sizes, n_points, n_members, budget=None):
    """Split members into contiguous blocks whose working set fits in ``budget``.

    The working set of one member is its weights, their gradients and four
    (n_points, n_ℓ) arrays per layer (z, σ(z), δ, σ'(z)), in float64.

    Parameters
    ----------
    sizes : list of int
        ``[n_0, n_1, ..., n_L]``.
    n_points : int
    n_members : int
    budget : int, optional
        Bytes; default :data:`BLOCK_BYTES`.

    Returns
    -------
    list of slice
    """
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    member = 8 * (2 * weights + 4 * n_points * sum(sizes[1:]))
    budget = BLOCK_BYTES if budget is None else budget
    size = max(1, min(n_members, budget // member))
    return [slice(a, min(a + size, n_members)) for a in range(0, n_members, size)]


def _train_block(params, targets, problem, n_steps, bar):
    """Train one block of members for ``n_steps`` steps; returns its history."""
    X, cinv, arch, step, scales, trainable, record = problem
    act = arch.activation
    buffers = [np.empty_like(w) for w in params[0]]  # gradients, reused every step
    history = {"predictions": [], "ntk": []}
    marks = list(record["steps"]) if record else []
    for k in range(n_steps + 1):
        while marks and marks[0] == k:
            marks.pop(0)
            _record(params, record, act, arch, history)
        if k == n_steps:
            _check_final(params, X, act, n_steps)
            break
        with np.errstate(over="ignore", invalid="ignore"):  # caught just below
            _step(params, X, targets, cinv, act, step, scales, trainable, buffers, k)
        bar.update()
    return {key: np.stack(v) for key, v in history.items() if v}


def _step(params, X, targets, cinv, act, step, scales, trainable, buffers, k):
    """One step θ ← θ − η Δt λ ∇L in place; NonFiniteStep(k) on non-finite φ."""
    weights, biases = params
    out, pre, inputs = _mlp.forward(params, X, act, keep=True)
    if isinstance(cinv, tuple):  # a forward map: ∂L/∂φ = Fᵀ C⁻¹ F φ − Fᵀ C⁻¹ y
        eps = np.matmul(cinv[1], out) - targets
        cinv = None
    else:
        eps = out - targets  # ∂L/∂φ = C⁻¹(φ − y)
    if not np.isfinite(eps).all():
        raise NonFiniteStep(k)
    if cinv is not None:
        eps = np.matmul(cinv, eps)
    eps *= step
    for layer, grad in enumerate(
        _mlp.backward(params, pre, inputs, eps, act, scales, trainable, buffers)
    ):
        if grad is not None:
            weights[layer] -= grad[0]
            biases[layer] -= grad[1]


def _check_final(params, X, act, n_steps):
    """NonFiniteStep(n_steps) if the trained members' outputs are not finite."""
    if n_steps == 0:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(_mlp.forward(params, X, act)).all():
            raise NonFiniteStep(n_steps)


def _record(params, record, act, arch, history):
    history["predictions"].append(_mlp.forward(params, record["X"], act))
    if record.get("ntk"):
        history["ntk"].append(_mlp.empirical_ntk(params, record["X"], None, act, arch))
