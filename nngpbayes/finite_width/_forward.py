r"""Forward map and data covariance on the slots of the NTK hierarchy (:ref:`theory-5`).

With a forward map F (n_data × n_grid) and a data covariance C = L Lᵀ the loss
½(Fφ(X) − y)ᵀC⁻¹(Fφ(X) − y) is ½‖ε‖² with the data-space residual

.. math::

    ε = G φ(X) − L^{-1} y,\qquad G = L^{-1} F,

and the gradient flow moves every observable along Gᵀε: dO_s/dτ = −O_(s+1)[Gᵀε]
(:ref:`theory-5` with F = C = I: the directions of the update run over the grid,
weighted by Gᵀε). Mapping by G every slot of a tensor that is contracted with the
residual (and the row slot of the training rows, which *are* ε up to the shift
L⁻¹y) turns the problem into the F = C = I one of :ref:`theory-5` in data space:
dε/dτ = −G H Gᵀ ε, dH̃/dτ = −Õ_3 ε, ... with H̃ = G H Gᵀ, Õ_3 = O_3 ×_(all slots) G.
Without F, G = L⁻¹ (the whitening of the loss).

The NTK of the network's own inputs, H(a, b) with a and b grid or test inputs, moves
as dH(a, b)/dτ = −Σ_c O_3(a, b, c)(Gᵀε)_c: only the slots after the second are
mapped. :func:`ntk_as_rows` writes those rows as prediction rows of the truncated
solvers (their "output" is H(a, b)).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

__all__ = ["SlotMap", "ntk_as_rows", "NTK_KEYS"]

# the tensors that move H(a, b) (the others move φ only)
NTK_KEYS = ("ntk", "o3", "o4", "ntk_hessian")
_PAIR_ELEMENTS = 2**21  # elements of one chunk's zero (pairs, n, n, n) tensors


class SlotMap:
    """G = L⁻¹F applied to the slots over the training (grid) inputs.

    Parameters
    ----------
    chol : ndarray of shape (n_data, n_data) or None
        L, the lower Cholesky factor of C (None: C = I).
    forward_map : ndarray of shape (n_data, n_grid) or None
        F (None: the identity, n_data = n_grid).
    """

    def __init__(self, chol, forward_map):
        self.chol = chol
        self.forward_map = forward_map
        if forward_map is None:
            self.G = None
        elif chol is None:
            self.G = forward_map
        else:
            self.G = solve_triangular(chol, forward_map, lower=True)

    def data(self, a, axis=0):
        """L⁻¹ applied along ``axis`` (a data-space slot, e.g. the targets)."""
        if self.chol is None:
            return a
        moved = np.moveaxis(a, axis, 0)
        shape = moved.shape
        out = solve_triangular(self.chol, moved.reshape(shape[0], -1), lower=True)
        return np.moveaxis(out.reshape(shape), 0, axis)

    def slot(self, a, axis=0):
        """G = L⁻¹F applied along ``axis`` (a grid slot, length n_grid → n_data)."""
        if self.G is None:
            return self.data(a, axis)
        return np.moveaxis(np.tensordot(self.G, a, axes=([1], [axis])), 0, axis)

    def tensors(self, tensors, start):
        """Every slot from ``start`` on of each tensor mapped by G (a new dict).

        ``start`` = 0 for the training rows (in data space), 1 for prediction rows
        (φ(x*) moves along Gᵀε), 2 for NTK rows H(a, b) (a, b network inputs).
        """
        if self.G is None and self.chol is None:
            return tensors
        out = {}
        for key, t in tensors.items():
            for axis in range(start, t.ndim):
                t = self.slot(t, axis)
            out[key] = t
        return out

    def unwhiten(self, a, axis):
        """L applied along ``axis`` (undoes :meth:`data`; no forward map only)."""
        if self.chol is None:
            return a
        return np.moveaxis(
            np.tensordot(self.chol, np.moveaxis(a, axis, 0), axes=([1], [0])), 0, axis
        )


def ntk_as_rows(rows, steps, chunk=None):
    """NTK rows H(a, b) as prediction rows of the truncated solvers, in chunks.

    For a pair p = (a, b) the truncated hierarchy dH(a,b)/dτ = −Õ_3(a,b,·)ε,
    dÕ_3(a,b,·)/dτ = −Õ_4(a,b,·,·)ε (Õ: slots after the second mapped by G) is the
    prediction-row system dφ_p/dτ = −h_p ε, dh_p/dτ = −o_p ε, o_p frozen, with
    φ_p := H(a, b), h_p := Õ_3(a, b, ·), o_p := Õ_4(a, b, ·, ·) and a zero O_4.
    For steps, H ← H − ηÕ_3[ε] + ½η² D²H̃[ε, ε] and Õ_3 ← Õ_3 − ηÕ_4[ε] are the
    row map with S_p := D²H̃(a, b) (frozen) and every other tensor zero.

    Parameters
    ----------
    rows : dict
        ``ntk`` (R, N), ``o3`` (R, N, n), ``o4`` (R, N, n, n) and, for steps,
        ``ntk_hessian`` (R, N, n, n); N network inputs b, n data-space slots.
    steps : bool
    chunk : int, optional
        Pairs per chunk (default: 2²¹ / n³, bounding the zero tensors' memory).

    Yields
    ------
    pairs : slice
        Into the flattened (R·N) pairs.
    pseudo : dict
        Row tensors for :func:`integrate_flow` / :func:`iterate_steps`.
    phi0 : ndarray of shape (n_pairs,)
        H(a, b) at τ = 0.
    """
    R, N, n = rows["o3"].shape
    total = R * N
    chunk = max(1, _PAIR_ELEMENTS // n**3) if chunk is None else chunk
    flat = {
        k: rows[k].reshape((total,) + rows[k].shape[2:]) for k in NTK_KEYS if k in rows
    }
    for start in range(0, total, chunk):
        sl = slice(start, min(total, start + chunk))
        zeros = np.zeros((sl.stop - start, n, n, n))
        pseudo = {"ntk": flat["o3"][sl], "o3": flat["o4"][sl], "o4": zeros}
        if steps:
            pseudo.update(
                d2phi=flat["ntk_hessian"][sl],
                d3phi=zeros,
                ntk_hessian=zeros,
                d2phi_flow=zeros,
            )
        yield sl, pseudo, flat["ntk"][sl]
