r"""The NNGP Gram matrix of fixed inputs at varying (C_W, C_b) (package-internal).

The hyperparameter posterior evaluates K_{C_W, C_b}(X, X) at thousands of
(C_W, C_b) for the same inputs X. Everything that depends on X alone, the input
norms |x|²/n_0, the Gram matrix x·x'/n_0 and the cosine gaps of :ref:`theory-3`,
is computed once here; each evaluation is then only the layer recursion
(:func:`nngpbayes.kernels._recursion.diag_recursion` and
:func:`~nngpbayes.kernels._recursion.pair_recursion`, the same functions and the
same arithmetic as :class:`~nngpbayes.NNGPKernel`), with C_W and C_b shared by
every layer:

.. math::

    K^{(1)} = C_b + C_W \frac{x\cdot x'}{n_0},\qquad
    K^{(ℓ+1)} = C_b + C_W\, T[K^{(ℓ)}],

and, for the gradient, forward-mode tangents along (log C_W, log C_b).
"""

from __future__ import annotations

import numpy as np

from .._dual import Dual
from ..architecture import Architecture
from ..kernels._nngp_ntk import _slice, evaluate
from ..kernels._recursion import cosine_gaps, diag_recursion, pair_recursion

__all__ = ["GramRecursion"]

#: Up to this many inputs the whole Gram matrix is one block with its input-only
#: parts kept (three n × n arrays, in cache); beyond it the tiled, cache-blocked
#: evaluation of :func:`nngpbayes.kernels._nngp_ntk.evaluate` runs (its per-call
#: checks are then negligible beside the kernel itself: at n = 200 a depth-2 ReLU
#: Gram matrix takes milliseconds, and the tiles are faster than one block).
DIRECT_MAX = 128


class GramRecursion:
    r"""K_{C_W, C_b}(X, X) of one architecture at varying (C_W, C_b).

    Parameters
    ----------
    X : ndarray of shape (n, n_features)
        Finite inputs (validated by the caller).
    depth : int
        Hidden layers (validated here, once).
    activation : str or Activation
        Validated here, once.

    Attributes
    ----------
    activation : Activation
    n_layers : int
        ``depth + 1``.
    direct : bool
        Whether the input-only parts are kept (n <= :data:`DIRECT_MAX`).
    """

    def __init__(self, X, depth, activation):
        arch = Architecture(depth, activation)  # raises for a bad depth/activation
        self.activation, self.n_layers = arch.activation, arch.n_layers
        self.X = np.ascontiguousarray(X, dtype=float)
        n, n0 = self.X.shape
        self.direct = n <= DIRECT_MAX
        if not self.direct:
            return
        # the expressions of nngpbayes.kernels._nngp_ntk (_sides, _tile)
        self.sqnorm = np.einsum("ij,ij->i", self.X, self.X) / n0
        self.gram = (self.X @ self.X.T) / n0
        self.gaps = None
        if self.activation.exact_angle:
            sq = self.sqnorm
            self.gaps = cosine_gaps(self.X, self.X, sq, sq, self.gram, n0)

    def __call__(self, weight_variance, bias_variance):
        """Return K of shape (n, n) at (C_W, C_b) = (weight_variance, bias_variance).

        The diagonal is the one of the diagonal recursion (as in
        :class:`~nngpbayes.NNGPKernel`); the lower triangle may differ from the
        upper one by rounding (factorisations read one triangle).
        """
        hp = self._per_layer(weight_variance, bias_variance)
        if not self.direct:
            return evaluate(self.X, None, hp, self.activation, want_ntk=False)[0]
        k, diagonal = self._recursion(hp)
        k.flat[:: k.shape[0] + 1] = diagonal
        return k

    def with_gradient(self, weight_variance, bias_variance):
        """Return K and its derivatives along (log C_W, log C_b).

        Returns
        -------
        K : ndarray of shape (n, n)
        dK : ndarray of shape (2, n, n)
            ∂K/∂log C_W and ∂K/∂log C_b.
        """
        cw, cb = self._per_layer(weight_variance, bias_variance)[:2]
        zero = np.zeros(self.n_layers)
        cw = Dual(cw, np.stack([cw, zero]))  # ∂C_W/∂log C_W = C_W
        cb = Dual(cb, np.stack([zero, cb]))  # ∂C_b/∂log C_b = C_b
        hp = (cw, cb, cw, cb)  # λ = C (the NNGP does not use λ)
        if not self.direct:
            k = evaluate(self.X, None, hp, self.activation, want_ntk=False)[0]
            return k.v, np.ascontiguousarray(k.full_tangent())
        k, diagonal = self._recursion(hp)
        K, dK, n = k.v, k.t, k.v.shape[0]
        if dK.shape != (2, n, n) or not (dK.flags.c_contiguous and dK.flags.writeable):
            dK = np.array(k.full_tangent())  # a fresh, writable (2, n, n) array
        K.flat[:: n + 1] = diagonal.v
        dK.reshape(2, n * n)[:, :: n + 1] = diagonal.full_tangent()
        return K, dK

    def _per_layer(self, weight_variance, bias_variance):
        """(cw, cb, lw, lb) per layer: the shared values, λ = C."""
        cw = np.full(self.n_layers, weight_variance, dtype=float)
        cb = np.full(self.n_layers, bias_variance, dtype=float)
        return cw, cb, cw, cb

    def _recursion(self, hp):
        """Off-diagonal K (value or Dual) and the diagonal K(x, x), one block.

        The input-only arrays are passed as copies: the recursion may work in place
        on its block buffers.
        """
        side, _ = diag_recursion(self.sqnorm.copy(), hp, self.activation, False)
        gaps = None if self.gaps is None else (self.gaps[0].copy(), self.gaps[1].copy())
        rows, cols = (slice(None), None), (None, slice(None))
        k, _ = pair_recursion(
            self.gram.copy(),
            gaps,
            _slice(side, rows),
            _slice(side, cols),
            hp,
            self.activation,
            False,
        )
        return k, side[0][-1]
