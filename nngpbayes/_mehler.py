r"""Several Mehler series over a block of input pairs at once (private).

For S coefficient pairs :math:`(f^s, g^s)` and the correlations :math:`c_{ij}` of a
block of input pairs this evaluates

.. math::

    M^s_{ij} = \sum_{n \ge 0} c_{ij}^n\, f^s_n(x_i)\, g^s_n(x_j),
    \qquad s = 1, \dots, S

(Mehler's formula, :ref:`theory-3`): T and Ṫ, and for hyperparameter gradients
the series of σ″ and σ‴ that Price's theorem gives for their derivatives
(:mod:`nngpbayes.activations._series`). The work is shared between the series:

- the powers :math:`c^n` are computed once, a few rows at a time, for all S
  series, and each series adds its rows in one ``einsum`` (no broadcast
  temporaries);
- rows n whose coefficients vanish for every input of the block are skipped
  (parity: tanh is odd and σ' = sech² even, so half the rows of each series are
  zero);
- each pair stops once the remainder bound :math:`|c|^n \sqrt{R_f[n] R_g[n]}` of
  every series is below ``tol`` times :math:`\sqrt{R_f[0] R_g[0]}` (R are the tail
  sums of :func:`nngpbayes._quadrature.tail_sums`); the block is summed whole while
  most of its pairs go on, then only the pairs still running (mostly nearly
  parallel inputs, :math:`|c| \approx 1`).

The result equals the full truncated sums to within the bound.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mehler_sums"]

#: Terms summed for every pair before the first convergence test.
_DENSE_TERMS = 24
#: Rows per power block of the whole-block phase (8 blocks of 104² fit in L2).
_ROWS = 8
#: Terms between convergence tests.
_CHUNK = 16
#: Terms per step of the phase on the running pairs only.
_SPARSE_CHUNK = 32
#: Go on summing the whole block while at least this fraction of it is running.
_DENSE_FRACTION = 0.4
#: Row patterns (which rows of a chunk are active), shared by all blocks.
_ROW_PATTERNS = {}
#: A row whose largest coefficient product is below this fraction of the series'
#: scale is structurally zero (parity); round-off leaves ~1e-32 there.
_ZERO_ROW = 1e-28


def mehler_sums(series, c, tol):
    """Σ_n c^n f[n] g[n] for every (f, g) in ``series``, stopping per pair at ``tol``.

    Parameters
    ----------
    series : sequence of tuples (f, g, rf, rg)
        ``f`` of shape (n_terms, n1, 1) and ``g`` of shape (n_terms, 1, n2): the
        coefficients of the two inputs of each pair; ``rf``, ``rg`` of shape
        (n_terms + 1, n1, 1) and (n_terms + 1, 1, n2): their :func:`tail_sums`.
        All series have the same ``n_terms``.
    c : ndarray of shape (n1, n2)
        Correlations in [−1, 1].
    tol : float
        Relative remainder at which a pair stops.

    Returns
    -------
    list of ndarray of shape (n1, n2)
        One sum per series, in the order given.
    """
    c = np.ascontiguousarray(c, dtype=float)
    n_terms = series[0][0].shape[0]
    plan = _Plan(series, tol)
    acc = [np.zeros(c.shape) for _ in series]
    power = np.ones(c.shape)
    n = 0
    while True:
        stop = min(_DENSE_TERMS if n == 0 else n + _CHUNK, n_terms)
        power = _dense_terms(plan, acc, power, c, n, stop)
        n = stop
        if n == n_terms:
            return acc
        live = plan.running(np.square(power), n)
        if not live.any():
            return acc
        if live.mean() < _DENSE_FRACTION:
            _sparse_terms(plan, acc, power, c, np.nonzero(live), n)
            return acc


class _Plan:
    """Per-series coefficient views, active rows and the combined relative tails."""

    def __init__(self, series, tol):
        views = {}  # one view per distinct array: shared arrays are gathered once
        for s in series:
            views.setdefault((0, id(s[0])), s[0][..., 0])  # (n_terms, n1)
            views.setdefault((1, id(s[1])), s[1][:, 0, :])  # (n_terms, n2)
        self.f = [views[0, id(s[0])] for s in series]
        self.g = [views[1, id(s[1])] for s in series]
        self.active = np.array([_active_rows(s) for s in series])  # (S, n_terms)
        self._tails = ([s[2][..., 0] for s in series], [s[3][:, 0, :] for s in series])
        self.tol2 = tol * tol
        self._transposed, self._rho = {}, {}

    def rho(self, side, n):
        """Return max over series of R[n] / R[0] for one side's inputs (cached)."""
        key = (side, n)
        if key not in self._rho:
            out = None
            for r in self._tails[side]:
                rel = np.divide(r[n], r[0], out=np.zeros_like(r[0]), where=r[0] > 0)
                out = rel if out is None else np.maximum(out, rel, out=out)
            self._rho[key] = out
        return self._rho[key]

    def running(self, power2, n):
        """Pairs whose bound after ``n`` terms still exceeds the tolerance."""
        bound = power2 * self.rho(0, n)[:, None]
        bound *= self.rho(1, n)[None, :]
        return bound > self.tol2

    def rows(self, s, lo, hi):
        """Active rows of series ``s`` in ``lo:hi``, relative to ``lo``.

        A slice when they are regularly spaced (all rows, or every other one for
        an odd or even σ), else an index array; None when there are none.
        """
        mask = self.active[s, lo:hi]
        key = mask.tobytes()
        pattern = _ROW_PATTERNS.get(key, mask)  # thread-safe: never a KeyError
        if pattern is mask:
            if len(_ROW_PATTERNS) > 4096:
                _ROW_PATTERNS.clear()
            pattern = _ROW_PATTERNS[key] = _row_pattern(mask)
        return pattern

    def transposed(self, a):
        """``a.T`` as a C-contiguous array (cached): rows of inputs for gathers."""
        key = id(a)
        if key not in self._transposed:
            self._transposed[key] = np.ascontiguousarray(a.T)
        return self._transposed[key]


def _row_pattern(mask):
    """Slice (regular spacing) or index array of the True rows; None if none."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None
    step = idx[1] - idx[0] if idx.size > 1 else 1
    if np.all(np.diff(idx) == step):
        return slice(int(idx[0]), int(idx[-1]) + 1, int(step))
    return idx


def _active_rows(s):
    """Rows n where f[n] g[n] is not structurally zero, shape (n_terms,)."""
    f, g, rf, rg = s
    fmax = np.abs(f).max(axis=(1, 2))
    gmax = np.abs(g).max(axis=(1, 2))
    scale = np.sqrt(rf[0].max() * rg[0].max())
    return fmax * gmax > _ZERO_ROW * scale


def _dense_terms(plan, acc, power, c, start, stop):
    """Add rows ``start:stop`` to every pair; ``power`` is c^start, returns c^stop."""
    out = np.empty(c.shape)
    for lo in range(start, stop, _ROWS):
        hi = min(lo + _ROWS, stop)
        pw = np.empty((hi - lo,) + c.shape)
        pw[0] = power
        for k in range(1, hi - lo):
            np.multiply(pw[k - 1], c, out=pw[k])
        power = np.multiply(pw[-1], c)
        for s, a in enumerate(acc):
            sel = plan.rows(s, lo, hi)
            if sel is None:
                continue
            f, g = plan.f[s][lo:hi][sel], plan.g[s][lo:hi][sel]
            a += np.einsum("mij,mj,mi->ij", pw[sel], g, f, out=out)
    return power


def _sparse_terms(plan, acc, power, c, pairs, start):
    """Rows ``start:`` for the listed pairs only, dropping each when it converges."""
    rows, cols = pairs
    n_terms = plan.active.shape[1]
    pw, x = power[rows, cols], c[rows, cols]
    part = [np.zeros(rows.size) for _ in acc]
    live = np.arange(rows.size)
    for lo in range(start, n_terms, _SPARSE_CHUNK):
        hi = min(lo + _SPARSE_CHUNK, n_terms)
        i, j = rows[live], cols[live]
        p = _powers(pw[live], x[live], hi - lo)  # (m, L)
        f = _gather(plan, plan.f, lo, hi, i)  # (L, m) each
        g = _gather(plan, plan.g, lo, hi, j)
        for s, v in enumerate(part):
            sel = plan.rows(s, lo, hi)
            if sel is not None:
                v[live] += np.einsum("ml,lm,lm->l", p[sel], f[s][:, sel], g[s][:, sel])
        pw[live] = p[-1] * x[live]
        bound = np.square(pw[live]) * plan.rho(0, hi)[i] * plan.rho(1, hi)[j]
        keep = bound > plan.tol2
        live = live[keep]
        if live.size == 0:
            break
    for a, v in zip(acc, part, strict=True):
        a[rows, cols] += v


def _powers(p0, x, m):
    """p0 x^k for k < m, shape (m, len(x))."""
    p = np.empty((m, x.size))
    p[0] = p0
    for k in range(1, m):
        np.multiply(p[k - 1], x, out=p[k])
    return p


def _gather(plan, coefs, lo, hi, idx):
    """``coef[lo:hi, idx].T`` for each series, gathering each distinct array once."""
    seen, out = {}, []
    for a in coefs:
        if id(a) not in seen:
            rows = np.ascontiguousarray(plan.transposed(a)[:, lo:hi])  # small
            seen[id(a)] = np.take(rows, idx, axis=0)
        out.append(seen[id(a)])
    return out
