r"""The layer recursion of the NNGP and NTK (:ref:`theory-3`), as pure array functions.

Hyperparameters enter as four per-layer sequences ``(cw, cb, lw, lb)`` of length L;
each may be a NumPy array or a :class:`~nngpbayes._dual.Dual` (for gradients).

.. math::

    K^{(1)} = C_b^{(1)} + C_W^{(1)} \frac{x\cdot x'}{n_0},\qquad
    Θ^{(1)} = λ_b^{(1)} + λ_W^{(1)} \frac{x\cdot x'}{n_0}

    K^{(ℓ+1)} = C_b^{(ℓ+1)} + C_W^{(ℓ+1)} T[K^{(ℓ)}],\qquad
    Θ^{(ℓ+1)} = λ_b^{(ℓ+1)} + λ_W^{(ℓ+1)} T[K^{(ℓ)}]
        + C_W^{(ℓ+1)} \dot T[K^{(ℓ)}]\, Θ^{(ℓ)}

For activations with ``exact_angle`` the cosine gaps
g∓^{(ℓ)} = √(K_{11}K_{22}) ∓ K_{12} ≥ 0 are carried along as well, computed without
cancellation at every layer (at the first from the distance between the normalised
inputs), so that the angle between nearly identical or opposite inputs stays exact
(:ref:`theory-3`).

These functions serve every activation and Dual (gradient) hyperparameters. Large
Gram matrices of plain hyperparameters with the kinked family or erf take the fused,
cosine-form version of the same recursion in :mod:`nngpbayes.kernels._cosine`.
"""

from __future__ import annotations

import numpy as np

from .._dual import Dual, value_of

__all__ = ["diag_recursion", "pair_recursion", "cosine_gaps", "series_lengths"]


def diag_recursion(sqnorm, hp, activation, want_ntk, min_terms=None):
    """Per-layer variances K^(ℓ)(x, x) and the NTK diagonal.

    Parameters
    ----------
    sqnorm : ndarray of shape (n,)
        ``|x|² / n_0`` for each input.
    hp : tuple (cw, cb, lw, lb)
        Per-layer hyperparameters, each of length L.
    activation : Activation
    want_ntk : bool
    min_terms : list of int, optional
        Per hidden layer, passed to ``activation.prepare`` (series activations).

    Returns
    -------
    side : tuple (variances, pre, aux)
        ``variances[ℓ]`` (shape (n,)) is the diagonal of K^(ℓ+1), so the last is the
        NNGP diagonal; ``pre[ℓ]`` is what layer ℓ+1 scales, ``variances[ℓ] =
        cb[ℓ] + cw[ℓ] · pre[ℓ]`` (``|x|²/n_0``, then T(q, q, q)); ``aux[ℓ]`` is
        ``activation.prepare(variances[ℓ])`` for the hidden layers.
    ntk : array of shape (n,) or None
        The NTK diagonal Θ^(L)(x, x).
    """
    cw, cb, lw, lb = hp
    q = cb[0] + cw[0] * sqnorm
    th = lb[0] + lw[0] * sqnorm if want_ntk else None
    variances, pre, aux = [q], [sqnorm], []
    for layer in range(1, len(value_of(cw))):
        aux.append(activation.prepare(q, min_terms[layer - 1] if min_terms else 0))
        t, tdot = activation.dual_diag(q, aux[-1])
        if want_ntk:
            th = lb[layer] + lw[layer] * t + cw[layer] * tdot * th
        q = cb[layer] + cw[layer] * t
        variances.append(q)
        pre.append(t)
    return (variances, pre, aux), th


def pair_recursion(gram, gaps, side1, side2, hp, activation, want_ntk):
    """NNGP and NTK for a block of input pairs.

    Parameters
    ----------
    gram : ndarray of shape (n1, n2)
        ``x·x' / n_0``.
    gaps : pair of ndarrays of shape (n1, n2), or None
        ``(|x||x'| ∓ x·x') / n_0``, accurate for (nearly) parallel and opposite
        pairs (see :func:`cosine_gaps`); needed only when ``activation.exact_angle``.
    side1, side2 : tuple (variances, pre, aux)
        :func:`diag_recursion` for the two sets, sliced to the block (inputs on the
        last axis, shaped (n1, 1) and (1, n2)).
    hp, activation, want_ntk
        As in :func:`diag_recursion`.

    Returns
    -------
    nngp, ntk : arrays of shape (n1, n2) (``ntk`` is None unless ``want_ntk``)
    """
    cw, cb, lw, lb = hp
    (var1, pre1, aux1), (var2, pre2, aux2) = side1, side2
    plain = not isinstance(cw, Dual)  # in-place arithmetic on block buffers
    k = cb[0] + cw[0] * gram
    th = lb[0] + lw[0] * gram if want_ntk else None
    if activation.exact_angle:
        gaps = _layer_gaps(var1[0], var2[0], pre1[0], pre2[0], gaps, cb[0], cw[0])
    for layer in range(1, len(var1)):
        i = layer - 1
        t, tdot, g = activation.dual(var1[i], var2[i], k, gaps, aux1[i], aux2[i])
        if want_ntk:  # docs/theory §3: Θ' = λ_b + λ_W T + C_W Ṫ Θ
            th = _ntk_step(th, t, tdot, cw[layer], lw[layer], lb[layer], plain)
        if plain:  # K' = C_b + C_W T, in the buffer of T
            k = np.multiply(t, cw[layer], out=t)
            k += cb[layer]
        else:
            k = cb[layer] + cw[layer] * t
        if activation.exact_angle:
            v1, v2, p1, p2 = var1[layer], var2[layer], pre1[layer], pre2[layer]
            gaps = _layer_gaps(v1, v2, p1, p2, g, cb[layer], cw[layer])
    return k, th


def _ntk_step(th, t, tdot, cw, lw, lb, plain):
    """Θ' = λ_b + λ_W T + C_W Ṫ Θ (in place on ``th`` for plain arrays)."""
    if not plain:
        return lb + lw * t + cw * tdot * th
    th *= tdot
    th *= cw
    th += lw * t
    th += lb
    return th


def _layer_gaps(q1, q2, t1, t2, g, cb, cw):
    """√(q1 q2) ∓ K12 after a layer ``q = cb + cw t``, ``K12 = cb + cw T``.

    With ``g = (√(t1 t2) − T, √(t1 t2) + T)`` and the Cauchy–Schwarz gap
    β = √(q1 q2) − cb − cw√(t1 t2) = cb·cw(√t1 − √t2)² / (√(q1 q2) + cb + cw√(t1 t2)):
    √(q1 q2) − K12 = β + cw g₋ and √(q1 q2) + K12 = β + 2 cb + cw g₊, sums of
    non-negative terms (no cancellation).
    """
    if isinstance(cw, Dual) or isinstance(g[0], Dual):
        minus, plus = cw * g[0], cw * g[1]
        if np.any(value_of(cb) != 0):
            r1, r2 = np.sqrt(t1), np.sqrt(t2)
            den = np.sqrt(q1 * q2) + cb + cw * (r1 * r2)
            beta = cb * cw * (r1 - r2) ** 2 / den
            minus, plus = minus + beta, plus + (beta + 2.0 * cb)
        return minus, plus
    minus, plus = g  # fresh block buffers: the same formulas in place
    minus *= cw
    plus *= cw
    if cb != 0:
        r1, r2 = np.sqrt(t1), np.sqrt(t2)
        den = np.multiply(np.sqrt(q1), np.sqrt(q2))
        den += (cw * r1) * r2
        den += cb
        beta = np.subtract(r1, r2)
        np.square(beta, out=beta)
        beta *= cb * cw
        beta /= den
        minus += beta
        plus += beta
        plus += 2.0 * cb
    return minus, plus


def series_lengths(aux):
    """Terms of the per-layer series in ``aux`` (0 for closed forms)."""
    return [0 if a is None else value_of(a[0]).shape[0] for a in aux]


#: Pairs whose |cosine| exceeds 1 − this get their gaps from the normalised inputs
#: (|x||x'| ∓ x·x' loses digits there).
_REFINE = 1e-4


def cosine_gaps(x1, x2, sq1, sq2, gram, n0):
    """Compute ``(|x||x'| − x·x', |x||x'| + x·x') / n_0`` for a block.

    Accurate also for (nearly) parallel and opposite pairs.

    For close directions the first is ½|x||x'|·|x/|x| − x'/|x'||² / n_0, computed
    directly, and likewise the second with x/|x| + x'/|x'| for opposite directions.

    Parameters
    ----------
    x1, x2 : ndarray of shape (n1, d), (n2, d)
    sq1, sq2 : ndarray of shape (n1,), (n2,)
        ``|x|² / n_0``.
    gram : ndarray of shape (n1, n2)
        ``x·x' / n_0``.
    n0 : int
        Input dimension.

    Returns
    -------
    minus, plus : ndarray of shape (n1, n2)
    """
    norms = np.sqrt(sq1)[:, None] * np.sqrt(sq2)[None, :]
    out = []
    for sign in (-1.0, 1.0):
        gap = norms + sign * gram
        rows, cols = np.nonzero((gap <= _REFINE * norms) & (norms > 0))
        if rows.size:
            u1 = x1[rows] / np.sqrt(sq1[rows] * n0)[:, None]
            u2 = x2[cols] / np.sqrt(sq2[cols] * n0)[:, None]
            diff = u1 + sign * u2
            gap[rows, cols] = (
                0.5 * norms[rows, cols] * np.einsum("ij,ij->i", diff, diff)
            )
        out.append(np.maximum(gap, 0.0))
    return tuple(out)
