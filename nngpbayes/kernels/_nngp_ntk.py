"""Block-wise, multi-threaded evaluation of the NNGP and NTK Gram matrices."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from .._dual import Dual
from .._numerics import empty_large
from .._validation import InvalidParameterError, check_int, check_pair, resolve_n_jobs
from ..architecture import Architecture
from ._cosine import fused_recursion, fused_side, has_fused, slice_side
from ._recursion import cosine_gaps, diag_recursion, pair_recursion, series_lengths

__all__ = ["nngp_ntk", "KernelPair", "evaluate"]

#: Target number of array elements per tile (intermediates stay in the L2 cache).
_TILE_ELEMENTS = 192 * 192


class KernelPair(NamedTuple):
    """The NNGP kernel and the NTK of one architecture, unpackable as a tuple."""

    nngp: np.ndarray
    ntk: np.ndarray | None


def nngp_ntk(
    X1,
    X2=None,
    architecture: Architecture | None = None,
    diag: bool = False,
    *,
    ntk: bool = True,
    n_jobs: int | None = None,
    block_size: int | None = None,
) -> KernelPair:
    r"""Compute the NNGP kernel K and the NTK Θ in one pass (:ref:`theory-3`).

    .. math::

        K^{(ℓ+1)} = C_b^{(ℓ+1)} + C_W^{(ℓ+1)} T[K^{(ℓ)}],\qquad
        Θ^{(ℓ+1)} = λ_b^{(ℓ+1)} + λ_W^{(ℓ+1)} T[K^{(ℓ)}]
            + C_W^{(ℓ+1)} \dot T[K^{(ℓ)}] ⊙ Θ^{(ℓ)},

    starting from K^(1) = C_b + C_W x·x'/n_0 and Θ^(1) = λ_b + λ_W x·x'/n_0.

    Parameters
    ----------
    X1 : array-like of shape (n1, n_features)
    X2 : array-like of shape (n2, n_features), default=None
        ``None`` computes the symmetric Gram matrix of ``X1`` (one triangle is
        computed and mirrored).
    architecture : Architecture, default=Architecture()
    diag : bool, default=False
        Return only the diagonals ``K(x, x)`` and ``Θ(x, x)`` of shape (n1,)
        (``X2`` must be None).
    ntk : bool, default=True
        Also compute the NTK (``False`` returns ``KernelPair(nngp, None)``, cheaper).
    n_jobs : int, default=None
        Worker threads over blocks, following joblib: ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context; ``-1`` means all cores. Results do
        not depend on it.
    block_size : int, default=None
        Rows and columns per block (>= 1); ``None`` picks one that keeps
        intermediates in cache. Results do not depend on it.

    Returns
    -------
    KernelPair
        ``(nngp, ntk)``, each of shape (n1, n2) (or (n1,) with ``diag=True``).

    Raises
    ------
    ValueError
        Inputs that are not finite 2-D arrays, feature counts that differ, ``X2``
        with ``diag=True``, and bad ``n_jobs`` or ``block_size`` (errors name the
        argument and the value).

    Notes
    -----
    Inputs of zero norm are allowed: their pre-activations are exactly C_b, so
    without bias the kernels are the exact, finite values the recursion gives at
    zero variance (0 for σ(0) = 0, e.g. ReLU; C_W σ(0)² for σ(0) ≠ 0).

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes import Architecture
    >>> from nngpbayes.kernels import nngp_ntk
    >>> X = np.random.default_rng(0).normal(size=(5, 3))
    >>> K, Theta = nngp_ntk(X, architecture=Architecture(depth=2))
    >>> K.shape, Theta.shape
    ((5, 5), (5, 5))
    """
    arch = Architecture() if architecture is None else architecture
    if not isinstance(arch, Architecture):
        raise TypeError(
            f"architecture must be an nngpbayes.Architecture, got {type(arch).__name__}"
        )
    for name, flag in (("diag", diag), ("ntk", ntk)):
        if not isinstance(flag, bool | np.bool_):
            raise InvalidParameterError(f"{name} must be True or False, got {flag!r}")
    hp = (arch.weight_variance, arch.bias_variance, arch.weight_lr, arch.bias_lr)
    nngp, theta = evaluate(
        X1,
        X2,
        hp,
        arch.activation,
        want_ntk=ntk,
        diag=diag,
        n_jobs=n_jobs,
        block_size=block_size,
    )
    return KernelPair(nngp, theta)


def evaluate(
    X1, X2, hp, activation, *, want_ntk, diag=False, n_jobs=None, block_size=None
):
    """Kernels for per-layer hyperparameters ``hp`` (arrays or Duals).

    With Dual hyperparameters the results are Duals whose tangents (leading axis P)
    are the derivatives along the hyperparameter directions. Arguments are checked
    before any kernel work (``n_jobs`` as in :func:`nngp_ntk`).
    """
    X1, X2 = check_pair(X1, X2)
    if diag and X2 is not None:
        raise ValueError("diag=True computes K(x, x) for X1 only; pass X2=None")
    resolve_n_jobs(n_jobs)
    if block_size is not None:
        block_size = check_int(block_size, "block_size")
    sides = _sides(X1, X2, hp, activation, want_ntk)
    if diag:
        return sides[0][0][-1], sides[2]
    symmetric = X2 is None
    X2 = X1 if symmetric else X2
    size = block_size or _default_block(activation, hp)
    blocks = _blocks(X1.shape[0], X2.shape[0], int(size), symmetric)
    out = _Output(X1.shape[0], X2.shape[0], hp, want_ntk)
    data = (X1, X2, sides[3], sides[4], sides[0], sides[1], None, None)
    if has_fused(activation, hp):  # per-input factors of the fused hot path
        hp = tuple(np.asarray(h, dtype=float) for h in hp)
        fside1 = fused_side(sides[0], sides[3])
        fside2 = fside1 if symmetric else fused_side(sides[1], sides[4])
        data = data[:6] + (fside1, fside2)

    def work(block):
        (i0, i1), (j0, j1) = block
        k, th = _tile(data, i0, i1, j0, j1, hp, activation, want_ntk)
        on_diagonal = symmetric and i0 == j0
        out.write(k, th, i0, i1, j0, j1, symmetric and not on_diagonal, on_diagonal)

    _run(work, blocks, resolve_n_jobs(n_jobs, len(blocks)))
    if symmetric:  # K(x, x) from the diagonal recursion: diag() matches bit for bit
        out.set_diagonal(sides[0][0][-1], sides[2])
    return out.result()


def _sides(X1, X2, hp, activation, want_ntk):
    """Run the diagonal recursions of both input sets, with one series truncation.

    Returns
    -------
    side1, side2 : tuple
        :func:`diag_recursion` data of ``X1`` and ``X2`` (``side2 is side1`` when
        ``X2`` is None).
    ntk_diag : array of shape (n1,) or None
        Θ(x, x) of ``X1``.
    sq1, sq2 : ndarray of shape (n1,), (n2,)
        ``|x|² / n_0``.
    """
    n0 = X1.shape[1]
    sq1 = np.einsum("ij,ij->i", X1, X1) / n0
    side1, th1 = diag_recursion(sq1, hp, activation, want_ntk)
    if X2 is None:
        return side1, side1, th1, sq1, sq1
    sq2 = np.einsum("ij,ij->i", X2, X2) / n0
    side2, _ = diag_recursion(sq2, hp, activation, False)
    len1, len2 = series_lengths(side1[2]), series_lengths(side2[2])
    if len1 != len2:  # one truncation for both sets (adaptive series)
        most = [max(a, b) for a, b in zip(len1, len2, strict=True)]
        if most != len1:
            side1, _ = diag_recursion(sq1, hp, activation, False, most)
        if most != len2:
            side2, _ = diag_recursion(sq2, hp, activation, False, most)
    return side1, side2, th1, sq1, sq2


def _run(work, blocks, n_workers):
    """``work(block)`` for every block: serially, or on ``n_workers`` threads.

    The tiles write into shared output arrays, so the threads share memory
    (``require="sharedmem"`` keeps them on threads whatever joblib backend is
    configured); BLAS is limited to one thread inside each worker.
    """
    if n_workers == 1:
        for block in blocks:
            work(block)
        return
    with threadpool_limits(1, user_api="blas"):
        Parallel(n_jobs=n_workers, prefer="threads", require="sharedmem")(
            delayed(work)(b) for b in blocks
        )


def _default_block(activation, hp):
    """Block side so that one tile's intermediates fit in cache."""
    n_dir = hp[0].n_directions + 1 if isinstance(hp[0], Dual) else 1
    return max(8, int(np.sqrt(_TILE_ELEMENTS / n_dir)) // 8 * 8)


def _blocks(n1, n2, size, symmetric):
    """(row range, column range) pairs; the upper triangle only when symmetric."""
    rows = [(i, min(i + size, n1)) for i in range(0, n1, size)]
    cols = [(j, min(j + size, n2)) for j in range(0, n2, size)]
    if symmetric:
        return [(r, c) for a, r in enumerate(rows) for c in cols[a:]]
    return [(r, c) for r in rows for c in cols]


def _tile(data, i0, i1, j0, j1, hp, activation, want_ntk):
    X1, X2, sq1, sq2, side1, side2, fside1, fside2 = data
    x1, x2 = X1[i0:i1], X2[j0:j1]
    if fside1 is not None:  # plain hyperparameters, ReLU-like or erf: fused path
        b1, b2 = slice_side(fside1, slice(i0, i1)), slice_side(fside2, slice(j0, j1))
        return fused_recursion(x1, x2, b1, b2, hp, activation, want_ntk)
    n0 = X1.shape[1]
    gram = (x1 @ x2.T) / n0
    gap = None
    if activation.exact_angle:
        gap = cosine_gaps(x1, x2, sq1[i0:i1], sq2[j0:j1], gram, n0)
    rows, cols = (slice(i0, i1), None), (None, slice(j0, j1))
    return pair_recursion(
        gram,
        gap,
        _slice(side1, rows),
        _slice(side2, cols),
        hp,
        activation,
        want_ntk,
    )


def _slice(side, idx):
    """:func:`diag_recursion` data of one block (inputs on the last axis)."""
    variances, pre, aux = side
    return (
        [v[idx] for v in variances],
        [p[idx] for p in pre],
        [None if a is None else tuple(x[(Ellipsis,) + idx] for x in a) for a in aux],
    )


class _Output:
    """Output arrays (values, and tangents for Dual hyperparameters) filled by tiles."""

    def __init__(self, n1, n2, hp, want_ntk):
        self.n_dir = hp[0].n_directions if isinstance(hp[0], Dual) else 0
        shape = (n1, n2)
        self.k = empty_large(shape)
        self.th = empty_large(shape) if want_ntk else None
        if self.n_dir:
            self.dk = empty_large((self.n_dir,) + shape)
            self.dth = empty_large((self.n_dir,) + shape) if want_ntk else None

    def write(self, k, th, i0, i1, j0, j1, mirror, on_diagonal=False):
        pairs = [(self.k, self.dk if self.n_dir else None, k)]
        if th is not None:
            pairs.append((self.th, self.dth if self.n_dir else None, th))
        for val, tan, tile in pairs:
            v = tile.v if isinstance(tile, Dual) else tile
            val[i0:i1, j0:j1] = _upper_mirrored(v) if on_diagonal else v
            if mirror:
                val[j0:j1, i0:i1] = v.T
            if tan is not None:
                t = _tangent(tile, self.n_dir, v.shape)
                tan[:, i0:i1, j0:j1] = _upper_mirrored(t) if on_diagonal else t
                if mirror:
                    tan[:, j0:j1, i0:i1] = t.transpose(0, 2, 1)

    def set_diagonal(self, k, th):
        idx = np.arange(self.k.shape[0])
        pairs = [(self.k, self.dk if self.n_dir else None, k)]
        if th is not None and self.th is not None:
            pairs.append((self.th, self.dth if self.n_dir else None, th))
        for val, tan, diag in pairs:
            val[idx, idx] = diag.v if isinstance(diag, Dual) else diag
            if tan is not None:
                tan[:, idx, idx] = _tangent(diag, self.n_dir, idx.shape)

    def result(self):
        if not self.n_dir:
            return self.k, self.th
        th = Dual(self.th, self.dth) if self.th is not None else None
        return Dual(self.k, self.dk), th


def _upper_mirrored(a):
    """Make a square block (last two axes) exactly symmetric from its upper triangle."""
    upper = np.triu(a)
    return upper + np.swapaxes(np.triu(a, 1), -1, -2)


def _tangent(tile, n_dir, shape):
    if isinstance(tile, Dual):
        return tile.full_tangent()
    return np.zeros((n_dir,) + shape)
