r"""Gaussian expectations of products over up to four correlated inputs (private).

The 1/n recursions (:mod:`nngpbayes.finite_width._init_statistics`) need

.. math::

    E\Big[\prod_{j=1}^{k} g_j(z_j)\Big],\qquad z \sim N(0, Σ),\quad
    g_j(x) = x^{e_0}\, σ(x)^{e_1}\, σ'(x)^{e_2},\quad k \le 4,

for many exponent patterns at once. With a pivoted Cholesky factor z = L u
(u standard normal, L lower-trapezoidal of the numerical rank r of Σ) the integral
is nested, u_1 outermost: each z_j is *finalised* at the last level whose
coefficient L_jc is non-zero, and its factor g_j enters there. Every level is a
one-dimensional Gaussian integral of a function that is smooth except at the
kinks of the factors finalised at that level:

- smooth σ: the trapezoidal rule per level, step ``_SMOOTH_STEP[r]`` on
  [−U, U] (exponentially accurate for σ analytic in a strip: error
  ~exp(−2πd/h) with d = π/(2ℓ) for tanh, ℓ = |L_jc| the scale of the level's
  factor), the step refined by up to ``_REFINE_CAP[r]`` factors √2 as ℓ grows
  beyond ``_ELL0``;
- kinked σ (the :class:`~nngpbayes.activations.ABReLU` family, kinks at 0):
  the level is split at the kinks (and at 0) and each piece of [−U, U]
  (U = 8.3, Φ(−U) < 1e-16) gets a Gauss–Legendre rule, so the kinks cost no
  accuracy; the innermost level, when one factor is finalised there, is done in
  closed form with the truncated Gaussian moments
  E[(s + τu)^p 1{s + τu > 0}] (exact).

Rank-deficient Σ (inputs that are linearly dependent in the layer's feature space,
e.g. scalar inputs with a bias at the first layer) is handled exactly by the
pivoting: dependent inputs have no variable of their own.

Cost: a tuple of rank r costs about m_r^r evaluations of σ and σ' (m_r nodes per
level: 2U/h for smooth σ, about 31–43 at r = 4 and 67–95 at r = 3; 3 pieces ×
``_PIECE_NODES[r]`` for kinked σ over r − 1 levels), for all exponent patterns
together. Accuracy (benchmarks/bench_init_statistics.py: four distinct inputs, layer
variances 0.1–4, default rule against one with twice the nodes per level): for tanh
~1e-10 at layer variances ≲ 1, ~1e-7 at 2 and ~1e-5 at 4 (σ' varies on a scale
1/√K in u and the four-dimensional rule is capped for cost), ~1e-10 for GELU,
~1e-9 for ReLU;
one and two inputs to ~1e-10 or better (the identity and kinked σ on one input to
round-off).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.special as sc
from joblib import Parallel, delayed
from numpy.polynomial.legendre import leggauss

from ..activations import ABReLU

__all__ = ["gaussian_products", "is_kinked"]

#: Trapezoidal step per rank for smooth σ (error ~ exp(−2πd/h) for σ analytic in a
#: strip |Im z| < d of the integration variable, d = π/(2|L_jc|) for tanh).
_SMOOTH_STEP = {1: 0.05, 2: 0.1, 3: 0.25, 4: 0.5}
#: Largest refinement (in halvings by √2) of that step, per rank (cost ∝ 2^(r·k/2)).
_REFINE_CAP = {1: 6, 2: 4, 3: 2, 4: 1}
#: Factor scale ℓ above which the step is refined.
_ELL0 = 0.7
_PIECE_NODES = {1: 48, 2: 48, 3: 32, 4: 20}
_U = 8.3
#: Relative size of a residual variance below which an input is dependent.
_RANK_TOL = 1e-13
#: Target number of array elements per chunk of tuples.
_CHUNK = 2_000_000


def is_kinked(activation) -> bool:
    """Whether σ is piecewise linear with a kink at 0 (ABReLU family, a ≠ b)."""
    return isinstance(activation, ABReLU) and activation.a != activation.b


def gaussian_products(cov, patterns, activation, n_workers=1):
    """E[Π_j z_j^e0 σ(z_j)^e1 σ'(z_j)^e2] for a batch of covariances.

    Parameters
    ----------
    cov : ndarray of shape (B, k, k)
        Covariances of k jointly Gaussian inputs (positive semi-definite, with a
        positive diagonal).
    patterns : ndarray of int of shape (F, k, 3)
        Exponents (e0, e1, e2) of each input's factor, per pattern.
    activation : Activation
    n_workers : int, default=1
        Threads over chunks of tuples (NumPy releases the GIL in the hot loops).

    Returns
    -------
    ndarray of shape (B, F)
    """
    cov = np.asarray(cov, dtype=float)
    patterns = np.asarray(patterns, dtype=int)
    out = np.empty((cov.shape[0], patterns.shape[0]))
    if cov.shape[0] == 0:
        return out
    chol = _pivoted_cholesky(cov)
    scale = np.sqrt(np.einsum("bjj->bj", cov))[..., None]
    nonzero = np.abs(chol) > 1e-12 * scale  # (B, k, r_max)
    rank = nonzero.any(axis=1).sum(axis=1)
    # finalising level of each input: its last non-zero Cholesky coefficient
    last = nonzero.shape[2] - 1 - np.argmax(nonzero[..., ::-1], axis=2)
    keys = np.concatenate([rank[:, None], np.sort(last, axis=1)], axis=1)
    for key in np.unique(keys, axis=0):
        rows = np.nonzero((keys == key).all(axis=1))[0]
        r = int(key[0])
        order = np.argsort(last[rows], axis=1, kind="stable")
        lk = np.take_along_axis(chol[rows, :, :r], order[..., None], axis=1)
        pats = np.take_along_axis(
            np.broadcast_to(patterns, (rows.size,) + patterns.shape),
            order[:, None, :, None],
            axis=2,
        )
        levels = np.sort(last[rows[0]])
        out[rows] = _integrate(lk, pats, levels, activation, n_workers)
    return out


def _pivoted_cholesky(cov):
    """L (B, k, k) with cov = L Lᵀ, columns in pivot order, zero after the rank."""
    b, k, _ = cov.shape
    res = cov.copy()
    chol = np.zeros((b, k, k))
    done = np.zeros((b, k), dtype=bool)
    top = np.einsum("bjj->bj", cov).max(axis=1)
    rows = np.arange(b)
    for c in range(k):
        d = np.where(done, -np.inf, np.einsum("bjj->bj", res))
        piv = np.argmax(d, axis=1)
        dp = d[rows, piv]
        ok = dp > _RANK_TOL * top
        col = res[rows, :, piv] / np.sqrt(np.where(ok, dp, 1.0))[:, None]
        col[~ok] = 0.0
        col[done] = 0.0
        col[rows, piv] = np.where(ok, np.sqrt(np.where(ok, dp, 1.0)), 0.0)
        chol[:, :, c] = col
        res -= col[:, :, None] * col[:, None, :]
        done[rows, piv] = True
    return chol


def _integrate(chol, pats, levels, activation, n_workers=1):
    """Nested quadrature for tuples sharing rank and finalising levels.

    ``chol`` (B, k, r) with inputs sorted by finalising level ``levels`` (k,);
    ``pats`` (B, F, k, 3) in the same input order. Tuples are further grouped by
    their per-level trapezoidal steps (smooth σ).
    """
    b, k, r = chol.shape
    kinked = is_kinked(activation)
    n_quad = r - 1 if kinked and int(np.sum(levels == r - 1)) == 1 else r
    refine = np.zeros((b, n_quad), dtype=int)
    if not kinked:
        refine = _refinement(chol, levels, r, n_quad)
    out = np.empty((b, pats.shape[1]))
    for key in np.unique(refine, axis=0):
        rows = np.nonzero((refine == key).all(axis=1))[0]
        steps = tuple(_SMOOTH_STEP[r] * 2.0 ** (-0.5 * key))
        out[rows] = _run_chunks(
            chol[rows], pats[rows], levels, activation, steps, n_quad, n_workers
        )
    return out


def _refinement(chol, levels, r, n_quad):
    """Halvings (in steps of √2) of the trapezoidal step per tuple and level.

    The step shrinks like 1/ℓ with ℓ = max |L_jc| of the inputs finalised at level
    c (the width of σ's features in u is 1/ℓ), up to ``_REFINE_CAP[r]``.
    """
    out = np.zeros((chol.shape[0], n_quad), dtype=int)
    for c in range(n_quad):
        fin = np.nonzero(levels == c)[0]
        ell = np.max(np.abs(chol[:, fin, c]), axis=1)
        out[:, c] = np.ceil(2.0 * np.log2(np.maximum(ell / _ELL0, 1.0)) - 1e-9)
    return np.minimum(out, _REFINE_CAP[r])


def _run_chunks(chol, pats, levels, activation, steps, n_quad, n_workers):
    b, r = chol.shape[0], chol.shape[2]
    kinked = is_kinked(activation)
    per_point = pats.shape[1]
    for c in range(n_quad):
        if kinked:
            per_point *= (int(np.sum(levels == c)) + 2) * _PIECE_NODES[r]
        else:
            per_point *= _trapezoid(steps[c])[0].size
    step = max(1, min(_CHUNK // per_point, -(-b // n_workers)))
    slices = [slice(i0, min(b, i0 + step)) for i0 in range(0, b, step)]

    def work(sl):
        return _integrate_chunk(chol[sl], pats[sl], levels, activation, steps, n_quad)

    if n_workers > 1 and len(slices) > 1:
        parts = Parallel(n_jobs=n_workers, prefer="threads")(
            delayed(work)(sl) for sl in slices
        )
    else:
        parts = [work(sl) for sl in slices]
    return np.concatenate(parts, axis=0)


def _integrate_chunk(chol, pats, levels, activation, steps, n_quad):
    b, k, r = chol.shape
    kinked = is_kinked(activation)
    s = np.zeros((b, 1, k))  # partial arguments Σ_{c'<c} L_jc' u_c'
    w = np.ones((b, 1, pats.shape[1]))  # weights × finalised factors, per pattern
    for c in range(n_quad):
        fin = np.nonzero(levels == c)[0]
        if kinked:
            u, wu = _piece_rule(s[:, :, fin], chol[:, None, fin, c], _PIECE_NODES[r])
        else:
            z, wz = _trapezoid(steps[c])
            u = np.broadcast_to(z, s.shape[:2] + z.shape)
            wu = np.broadcast_to(wz, u.shape)
        if c == r - 1 and fin.size == 1:  # innermost: reduce over u first
            j = fin[0]
            x = s[:, :, j, None] + u * chol[:, None, j, c, None]
            table, inv = _factor_table(x, pats[:, :, j], activation)
            inner = np.einsum("bpq,bpqe->bpe", wu, table)
            return np.einsum("bpf,bpf->bf", w, _gather(inner, inv))
        s = s[:, :, None, :] + u[..., None] * chol[:, None, None, :, c]
        s = s.reshape(b, -1, k)
        w = (w[:, :, None, :] * wu[..., None]).reshape(b, -1, w.shape[-1])
        for j in fin:
            table, inv = _factor_table(s[:, :, j], pats[:, :, j], activation)
            w = w * _gather(table, inv)
    if n_quad < r:  # one kinked factor left: its Gaussian average in closed form
        j = k - 1
        tau = chol[:, None, j, r - 1]
        table, inv = _factor_table(s[:, :, j], pats[:, :, j], activation, tau)
        w = w * _gather(table, inv)
    return w.sum(axis=1)


def _factor_table(x, pat, activation, tau=None):
    """Factors for the distinct exponent rows of one input.

    ``x`` (B, ...) points, ``pat`` (B, F, 3). Returns ``table`` (B, ..., E) and
    ``inv`` (B, F) with the factor of pattern f at ``table[..., inv[b, f]]``;
    with ``tau`` the factors are the closed-form Gaussian averages over τu.
    """
    codes = (pat[..., 0] * 32 + pat[..., 1]) * 32 + pat[..., 2]
    uniq, inv = np.unique(codes, return_inverse=True)
    rows = np.stack([uniq // 1024, (uniq // 32) % 32, uniq % 32], axis=-1)
    if tau is None:
        table = _factor(x.reshape(x.shape[0], -1), rows, activation)
    else:
        table = _smoothed_factor(x, tau, rows[None], activation)
    return table.reshape(x.shape + (uniq.size,)), inv.reshape(codes.shape)


def _gather(table, inv):
    """``table[b, ..., inv[b, f]]`` → (B, ..., F)."""
    idx = inv.reshape((inv.shape[0],) + (1,) * (table.ndim - 2) + (inv.shape[1],))
    idx = np.broadcast_to(idx, table.shape[:-1] + (inv.shape[1],))
    return np.take_along_axis(table, idx, axis=-1)


@lru_cache(maxsize=16)
def _trapezoid(h):
    """Nodes and weights of the trapezoidal rule for E[f(u)], u ~ N(0, 1)."""
    half = 10.0 if h < 0.2 else (_U if h < 0.3 else 7.5)  # e^{-U²/2} below the error
    u = np.arange(-half, half + h / 2, h)
    w = h * np.exp(-0.5 * u * u) / np.sqrt(2.0 * np.pi)
    return u, w


@lru_cache(maxsize=16)
def _legendre(m):
    return leggauss(m)


def _piece_rule(s, coef, m):
    """Nodes and weights (B, P, q) of ∫ φ(u) · du split at 0 and at the kinks.

    ``s`` (B, P, f) and ``coef`` (B, 1, f): kinks at u = −s/coef.
    """
    x, wx = _legendre(m)
    kinks = -s / coef
    zero = np.zeros(s.shape[:2] + (1,))
    edges = np.concatenate([zero - _U, np.clip(kinks, -_U, _U), zero, zero + _U], -1)
    edges = np.sort(edges, axis=-1)
    lo, hi = edges[..., :-1], edges[..., 1:]
    half, mid = 0.5 * (hi - lo), 0.5 * (hi + lo)
    u = mid[..., None] + half[..., None] * x
    wu = half[..., None] * wx * np.exp(-0.5 * u * u) / np.sqrt(2.0 * np.pi)
    shape = s.shape[:2] + (-1,)
    return u.reshape(shape), wu.reshape(shape)


def _factor(x, rows, activation):
    """x^e0 σ(x)^e1 σ'(x)^e2 at points x (B, P) for exponent rows (E, 3) → (B, P, E)."""
    sig = activation(x) if np.any(rows[:, 1]) else None
    dsig = activation.derivative(x) if np.any(rows[:, 2]) else None
    cols = []
    for e0, e1, e2 in rows:
        val = None
        for base, e in ((x, e0), (sig, e1), (dsig, e2)):
            for _ in range(int(e)):
                val = base if val is None else val * base
        cols.append(np.ones_like(x) if val is None else val)
    return np.stack(cols, axis=-1)


def _smoothed_factor(s, tau, pat, activation):
    """E_u[g(s + τu)] for g = x^e0 σ^e1 σ'^e2 of the ABReLU σ, in closed form.

    On x > 0, g = b^(e1+e2) x^(e0+e1); on x < 0, g = a^(e1+e2) x^(e0+e1), and
    E[(s + τu)^p 1{±(s + τu) > 0}] = Σ_i C(p, i) s^(p−i) τ^i E[u^i 1{±u > ∓s/τ}].
    """
    a, bslope = activation.a, activation.b
    e0, e1, e2 = (pat[:, None, :, i] for i in range(3))
    power, slope = e0 + e1, e1 + e2
    t = (-s / tau)[..., None]  # kink of the argument in u
    sx, tx = s[..., None], np.broadcast_to(tau, s.shape)[..., None]
    pos, neg = _moments(t, sx, tx, int(np.max(power)))
    out = np.zeros(np.broadcast_shapes(sx.shape, power.shape))
    for p in range(int(np.max(power)) + 1):
        sel = power == p
        if np.any(sel):
            val = np.power(float(bslope), slope) * pos[p]  # 0.0**0 == 1
            val = val + np.power(float(a), slope) * neg[p]
            out = np.where(sel, val, out)
    return out


def _moments(t, s, tau, pmax):
    """E[(s + τu)^p 1{u > t}] and E[(s + τu)^p 1{u < t}] for p ≤ pmax."""
    phi = np.exp(-0.5 * t * t) / np.sqrt(2.0 * np.pi)
    up = [sc.ndtr(-t), phi]  # J_i(t) = E[u^i 1{u > t}]
    lo = [sc.ndtr(t), -phi]  # E[u^i 1{u < t}] = (−1)^i J_i(−t)
    for i in range(2, pmax + 1):
        up.append(t ** (i - 1) * phi + (i - 1) * up[i - 2])
        lo.append(-(t ** (i - 1)) * phi + (i - 1) * lo[i - 2])
    pos, neg = [], []
    for p in range(pmax + 1):
        acc_p = acc_n = 0.0
        for i in range(p + 1):
            c = sc.comb(p, i) * s ** (p - i) * tau**i
            acc_p = acc_p + c * up[i]
            acc_n = acc_n + c * lo[i]
        pos.append(acc_p)
        neg.append(acc_n)
    return pos, neg
