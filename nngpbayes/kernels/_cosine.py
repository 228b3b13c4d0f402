r"""Fused, cosine-form layer recursion for plain arrays (the hot path of big Grams).

The recursion of :func:`~nngpbayes.kernels._recursion.pair_recursion`
(:ref:`theory-3`) specialised to plain (non-Dual) hyperparameters and to the closed
forms of the kinked family (ABReLU with a ≠ b) and of erf: the dual map is fused
into the layer update, so that a layer is a few in-place passes over the block,
with per-input factors (norms, 1/norms) computed once per input, not per pair.

Kinked activations take the angle from the cosine c = Σ12/√(Σ11Σ22) as
θ = arccos(c) and sin θ = √(1 − c²), exact to rounding (absolute error of θ below
~1e-13) wherever |c| ≤ 1 − τ (τ = ``_REFINE``, as in
:func:`~nngpbayes.kernels._recursion.cosine_gaps`). The few pairs beyond (nearly
identical or opposite inputs, and zero norms) take S = √(g₋g₊) and
θ = atan2(S, Σ12) from the cosine gaps g∓ = √(Σ11Σ22) ∓ Σ12, carried for them
alone without cancellation exactly as the general path carries them for all pairs
(no "arccos trap", :ref:`theory-3`):

.. math::

    T = \sqrt{Σ_{11}Σ_{22}}\Big(\frac{a^2+b^2}{2}c
        + \frac{(a-b)^2}{2π}(\sin θ - θ c)\Big),\qquad
    \dot T = \frac{a^2+b^2}{2} - \frac{(a-b)^2}{2π}θ.
"""

from __future__ import annotations

import threading

import numpy as np

from .._dual import Dual
from ..activations._kinked import ABReLU
from ..activations._smooth import Erf
from ._recursion import _REFINE, _layer_gaps

__all__ = ["has_fused", "fused_side", "slice_side", "fused_recursion"]

_EMPTY = np.zeros(0, dtype=np.intp)
_local = threading.local()
#: Largest block (elements) whose work buffers a thread keeps between calls.
_CACHED_ELEMENTS = 512 * 512


def has_fused(activation, hp):
    """Whether :func:`fused_recursion` handles ``activation`` with ``hp``.

    Plain (non-Dual) hyperparameters with ABReLU (and its special cases) for
    a ≠ b, or erf; everything else (Duals, series, the identity) takes the
    general path.
    """
    if any(isinstance(h, Dual) for h in hp):
        return False
    if type(activation) is Erf:
        return True
    return isinstance(activation, ABReLU) and activation.a != activation.b


def fused_side(side, sq):
    """Per-input data of one input set for :func:`fused_recursion`.

    Parameters
    ----------
    side : tuple (variances, pre, aux)
        :func:`~nngpbayes.kernels._recursion.diag_recursion` data.
    sq : ndarray of shape (n,)
        ``|x|² / n_0``.

    Returns
    -------
    tuple (sq, var, pre, root, inv, erf, zero)
        Lists over layers of arrays of shape (n,): the variances q, ``pre``, √q,
        1/√q (0 where q = 0), 1/√(1 + 2q); ``zero`` lists whether any q is 0.
    """
    var, pre = list(side[0]), list(side[1])
    root = [np.sqrt(q) for q in var]
    inv = [np.divide(1.0, r, out=np.zeros_like(r), where=r > 0) for r in root]
    erf = [1.0 / np.sqrt(1.0 + 2.0 * q) for q in var]
    zero = [bool(np.any(r == 0)) for r in root]
    return sq, var, pre, root, inv, erf, zero


def slice_side(fside, rows):
    """:func:`fused_side` data of the inputs ``rows`` (a slice)."""
    sq, *lists, zero = fside
    return (sq[rows], *([v[rows] for v in vs] for vs in lists), zero)


def _workspace(shape, count):
    """``count`` float buffers of ``shape``, reused by the calls of one thread.

    Blocks above ``_CACHED_ELEMENTS`` get fresh buffers (nothing large is kept).
    """
    size = shape[0] * shape[1]
    if size > _CACHED_ELEMENTS:
        return [np.empty(shape) for _ in range(count)]
    flat = getattr(_local, "buffers", [])
    if len(flat) < count or flat[0].size < size:
        flat = [np.empty(size) for _ in range(count)]
        _local.buffers = flat
    return [b[:size].reshape(shape) for b in flat[:count]]


def fused_recursion(x1, x2, side1, side2, hp, activation, want_ntk):
    """NNGP and NTK of one block by the fused recursion.

    Parameters
    ----------
    x1, x2 : ndarray of shape (n1, d), (n2, d)
        The block's inputs.
    side1, side2 : tuple
        :func:`fused_side` data sliced to the block (:func:`slice_side`).
    hp : tuple (cw, cb, lw, lb) of float ndarrays of shape (L,)
        Per-layer hyperparameters (plain, not Dual).
    activation : ABReLU or Erf
        Accepted by :func:`has_fused`.
    want_ntk : bool

    Returns
    -------
    nngp, ntk : ndarray of shape (n1, n2) (``ntk`` is None unless ``want_ntk``)
        Views of a per-thread workspace, valid until the thread's next call:
        copy them out before calling again.
    """
    cw, cb, lw, lb = hp
    k, th, gram, *work = _workspace((x1.shape[0], x2.shape[0]), 6)
    np.matmul(x1, x2.T, out=gram)
    gram /= x1.shape[1]
    if want_ntk:  # Θ^(1) = λ_b + λ_W x·x'/n_0
        np.multiply(gram, lw[0], out=th)
        th += lb[0]
    else:
        th = None
    np.multiply(gram, cw[0], out=k)  # K^(1) = C_b + C_W x·x'/n_0
    k += cb[0]
    if len(cw) == 1:
        return k, th
    if isinstance(activation, Erf):
        return _erf_layers(k, th, side1, side2, hp, activation, work[:2])
    gaps = _input_gaps(x1, x2, side1[0], side2[0], gram)
    return _kinked_layers(k, th, gaps, side1, side2, hp, activation, [gram, *work])


def _erf_layers(k, th, side1, side2, hp, activation, bufs):
    r"""Hidden layers of erf (Williams 1997; :ref:`theory-3`), fused and in place.

    With a = 1 + 2Σ and z = 2Σ12/√(a1 a2): T = (2/π) arcsin z and
    Ṫ = (4/π)/√(a1 a2 − 4Σ12²) = (4/π)/(√(a1 a2)·√(1 − z²)). Pairs with
    |c| > 1 − τ take :meth:`Erf.dual` itself, so that duplicated inputs match the
    diagonal recursion to the last bits.
    """
    cw, cb, lw, lb = hp
    w, work = bufs
    for layer in range(1, len(cw)):
        q1, q2 = side1[1][layer - 1], side2[1][layer - 1]
        idx = _erf_refined(k, side1[4][layer - 1], side2[4][layer - 1], work)
        exact = _erf_exact(k, th, q1, q2, idx, activation, hp, layer)
        a1, a2 = side1[5][layer - 1], side2[5][layer - 1]
        k *= (2.0 * a1)[:, None]  # z = 2Σ12/√(a1 a2), in the buffer of K
        k *= a2
        if th is not None:  # Θ' = λ_b + λ_W T + C_W Ṫ Θ
            np.square(k, out=w)
            np.subtract(1.0, w, out=w)
            np.sqrt(w, out=w)
            th /= w
            th *= (cw[layer] * (4.0 / np.pi) * a1)[:, None]
            th *= a2
        np.arcsin(k, out=k)  # (π/2) T
        if th is not None:
            np.multiply(k, lw[layer] * (2.0 / np.pi), out=w)
            th += w
            th += lb[layer]
        k *= cw[layer] * (2.0 / np.pi)  # K' = C_b + C_W T
        k += cb[layer]
        if idx.size:
            k.reshape(-1)[idx] = exact[0]
            if th is not None:
                th.reshape(-1)[idx] = exact[1]
    return k, th


def _erf_refined(k, inv1, inv2, work):
    """Flat indices of the pairs with |Σ12| > (1 − τ)√(Σ11Σ22) (sorted)."""
    np.multiply(k, inv1[:, None], out=work)
    work *= inv2
    np.abs(work, out=work)
    return np.flatnonzero(work > 1.0 - _REFINE)


def _erf_exact(k, th, q1, q2, idx, activation, hp, layer):
    """K and Θ one layer up at the pairs ``idx`` by the general path's formulas."""
    if not idx.size:
        return None
    cw, cb, lw, lb = (h[layer] for h in hp)
    rows, cols = np.divmod(idx, k.shape[1])
    t, tdot, _ = activation.dual(q1[rows], q2[cols], k.reshape(-1)[idx])
    k_next = t * cw + cb
    if th is None:
        return k_next, None
    return k_next, th.reshape(-1)[idx] * tdot * cw + lw * t + lb


def _input_gaps(x1, x2, sq1, sq2, gram):
    """``(|x||x'| ∓ x·x') / n_0`` at chosen pairs, accurate for (anti)parallel ones.

    Returns a callable ``gaps(idx) -> (minus, plus)`` over flat pair indices: the
    refinement of :func:`~nngpbayes.kernels._recursion.cosine_gaps` on a subset.
    """
    n0, n2 = x1.shape[1], x2.shape[0]

    def gaps(idx):
        rows, cols = np.divmod(idx, n2)
        norms = np.sqrt(sq1[rows]) * np.sqrt(sq2[cols])
        g = gram.reshape(-1)[idx]
        out = []
        for sign in (-1.0, 1.0):
            gap = norms + sign * g
            sel = np.flatnonzero((gap <= _REFINE * norms) & (norms > 0))
            if sel.size:
                r, c = rows[sel], cols[sel]
                u1 = x1[r] / np.sqrt(sq1[r] * n0)[:, None]
                u2 = x2[c] / np.sqrt(sq2[c] * n0)[:, None]
                diff = u1 + sign * u2
                gap[sel] = 0.5 * norms[sel] * np.einsum("ij,ij->i", diff, diff)
            out.append(np.maximum(gap, 0.0))
        return tuple(out)

    return gaps


def _kinked_layers(k, th, input_gaps, side1, side2, hp, activation, bufs):
    """Hidden layers of ABReLU (a ≠ b) in cosine form, in place (module docstring).

    ``bufs`` are four work buffers; the first holds x·x'/n_0 on entry, read by
    ``input_gaps`` for the first layer's refined pairs.
    """
    cw, cb, lw, lb = hp
    even = 0.5 * (activation.a**2 + activation.b**2)
    odd = (activation.a - activation.b) ** 2 / (2.0 * np.pi)
    work, c, w, angle = bufs
    idx = _cosine(k, side1, side2, 0, c, w)
    gaps = _refined_gaps(idx, input_gaps, side1, side2, 0, cb[0], cw[0])
    for layer in range(1, len(cw)):
        root1, root2 = side1[3][layer - 1], side2[3][layer - 1]
        _angle(
            k, c, w, angle, work, idx, gaps, side1[4][layer - 1], side2[4][layer - 1]
        )
        if th is not None:  # Θ' = λ_b + λ_W T + C_W Ṫ Θ with Ṫ = even − odd θ
            angle *= -cw[layer] * odd
            angle += cw[layer] * even
            th *= angle
        np.multiply(w, (odd * root1)[:, None], out=work)  # odd √(Σ11Σ22) b
        work *= root2
        k *= even  # T = even Σ12 + odd √(Σ11Σ22) b
        k += work
        if th is not None:
            np.multiply(k, lw[layer], out=work)
            th += work
            th += lb[layer]
        k *= cw[layer]  # K' = C_b + C_W T
        k += cb[layer]
        if layer == len(cw) - 1:
            break
        new_idx = _cosine(k, side1, side2, layer, angle, work)
        if idx.size or new_idx.size:
            consts = (even, odd, 0.5 * (activation.a + activation.b) ** 2)
            before = _gaps_before(new_idx, idx, gaps, c, w, (root1, root2), consts)
            gaps = _refined_gaps(
                new_idx, before, side1, side2, layer, cb[layer], cw[layer]
            )
        c, angle, w, work = angle, c, work, w
        idx = new_idx
    return k, th


def _refined_gaps(idx, before, side1, side2, layer, cb, cw):
    """Gaps of layer ``layer`` at the refined pairs from the gaps ``before`` it.

    ``before`` is a pair of arrays over ``idx`` or a callable giving them.
    """
    if not idx.size:
        return _EMPTY, _EMPTY
    if callable(before):
        before = before(idx)
    rows, cols = np.divmod(idx, side2[1][layer].shape[0])
    q1, q2 = side1[1][layer][rows], side2[1][layer][cols]
    t1, t2 = side1[2][layer][rows], side2[2][layer][cols]
    return _layer_gaps(q1, q2, t1, t2, before, cb, cw)


def _cosine(k, side1, side2, layer, c, w):
    """Write c = Σ12/√(Σ11Σ22) into ``c``, c² into ``w``; return the refined pairs.

    The refined pairs (sorted flat indices) are those with |c| > 1 − τ and those
    with a zero norm.
    """
    np.multiply(k, side1[4][layer][:, None], out=c)
    c *= side2[4][layer]
    np.square(c, out=w)
    idx = np.flatnonzero(w > (1.0 - _REFINE) ** 2)
    if side1[6][layer] or side2[6][layer]:
        n1, n2 = k.shape
        zero1 = np.flatnonzero(side1[3][layer] == 0)
        zero2 = np.flatnonzero(side2[3][layer] == 0)
        rows = (zero1[:, None] * n2 + np.arange(n2)).ravel()
        cols = (np.arange(n1)[:, None] * n2 + zero2).ravel()
        idx = np.union1d(idx, np.concatenate([rows, cols]))
    return idx


def _angle(k, c, w, angle, work, idx, gaps, inv1, inv2):
    """θ into ``angle`` and b = sin θ − θ c into ``w`` (``w`` holds c² on entry).

    θ = arccos(c) and sin θ = √(1 − c²) away from |c| = 1; the refined pairs
    ``idx`` take S = √(g₋ g₊) and θ = atan2(S, Σ12) from their exact ``gaps``.
    """
    flat_c, flat_w, flat_a = c.reshape(-1), w.reshape(-1), angle.reshape(-1)
    if idx.size:
        flat_c[idx] = 0.0
        flat_w[idx] = 0.0
    np.arccos(c, out=angle)
    np.subtract(1.0, w, out=w)
    np.sqrt(w, out=w)
    if idx.size:
        rows, cols = np.divmod(idx, k.shape[1])
        sine, k12 = np.sqrt(gaps[0] * gaps[1]), k.reshape(-1)[idx]
        inv = inv1[rows] * inv2[cols]
        flat_a[idx] = np.arctan2(sine, k12)
        flat_w[idx] = sine * inv
        flat_c[idx] = k12 * inv
    np.multiply(angle, c, out=work)
    w -= work


def _gaps_before(idx, prev_idx, prev_gaps, c, b, roots, consts):
    """Gaps G∓ after the activation, at the pairs ``idx``, before the next layer.

    G∓ = even g∓ ∓ odd (S − θ Σ12) (:class:`~nngpbayes.activations.ABReLU`), with
    g∓ = √(Σ11Σ22)(1 ∓ c) away from |c| = 1 and the exact gaps at ``prev_idx``.
    Nearly opposite refined pairs (Σ12 < 0) use the same G₋ written without
    cancellation at θ → π (φ = π − θ = atan2(S, −Σ12)):
    G₋ = ((a+b)²/2)(−Σ12) + even g₊ − odd (S − φ(−Σ12)), each part >= 0.
    """
    even, odd, plain = consts
    rows, cols = np.divmod(idx, c.shape[1])
    size = roots[0][rows] * roots[1][cols]
    cos = c.reshape(-1)[idx]
    minus, plus = size * (1.0 - cos), size * (1.0 + cos)
    bend = odd * size * b.reshape(-1)[idx]  # odd (S − θ Σ12) >= 0, O(θ³)
    hit = np.zeros(idx.shape, dtype=bool)
    if prev_idx.size and idx.size:
        pos = np.minimum(np.searchsorted(prev_idx, idx), prev_idx.size - 1)
        hit = prev_idx[pos] == idx
        minus[hit], plus[hit] = prev_gaps[0][pos[hit]], prev_gaps[1][pos[hit]]
    new_minus = even * minus - bend
    flip = np.flatnonzero(hit & (cos < 0))
    if flip.size:  # θ → π: no cancellation in G₋ (docstring)
        neg_k12, g_plus = -cos[flip] * size[flip], plus[flip]
        sine = np.sqrt(minus[flip] * g_plus)
        phi = np.arctan2(sine, neg_k12)
        new_minus[flip] = plain * neg_k12 + even * g_plus - odd * (sine - phi * neg_k12)
    plus *= even
    plus += bend
    return np.maximum(new_minus, 0.0), plus
