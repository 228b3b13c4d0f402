r"""Gradients of the series dual maps by Price's theorem (:ref:`theory-3`).

For :math:`(u, v) \sim N(0, [[Σ_{11}, Σ_{12}], [Σ_{12}, Σ_{22}]])` and a smooth σ,

.. math::

    \frac{∂\mathcal T}{∂Σ_{12}} = \dot{\mathcal T},\qquad
    \frac{∂\mathcal T}{∂Σ_{11}} = \tfrac12\, E[σ''(u)\,σ(v)],\qquad
    \frac{∂\dot{\mathcal T}}{∂Σ_{12}} = E[σ''(u)\,σ''(v)],\qquad
    \frac{∂\dot{\mathcal T}}{∂Σ_{11}} = \tfrac12\, E[σ'''(u)\,σ'(v)]

(Price's theorem [1]_; the same with 1 ↔ 2), and each right-hand side is again a
Mehler series, of the Hermite coefficients of σ'' and σ''' computed beside those
of σ and σ' (:mod:`nngpbayes._quadrature`). The tangents of T and Ṫ along the
hyperparameters then follow from those of (Σ11, Σ22, Σ12) by the chain rule,
without pushing dual numbers through the series: a kernel entry costs four series
for T and three more for Ṫ (only when the NTK needs them), however many
hyperparameters are tuned. On the diagonal (Σ11 = Σ22 = Σ12 = q) the same
identities give dT/dq = Σ_n f'_n{}^2 + Σ_n f''_n f_n.

References
----------
.. [1] R. Price, "A useful theorem for nonlinear devices having Gaussian inputs",
   IRE Trans. Inf. Theory 4 (1958) 69–72.
"""

from __future__ import annotations

import numpy as np

from .._dual import Dual, LazyDual, value_of
from .._mehler import mehler_sums

__all__ = ["N_GRADIENT_AUX", "price_dual", "price_dual_diag"]

#: Length of the per-input data prepared for gradients: the coefficients of σ, σ'
#: and their tail sums, then the same for σ'' and σ'''.
N_GRADIENT_AUX = 8


def _split(aux):
    """(coefficients of σ, σ', σ'', σ'''), (their tail sums)."""
    a0, a1, r0, r1, a2, a3, r2, r3 = aux
    return (a0, a1, a2, a3), (r0, r1, r2, r3)


def price_dual(q1, q2, k12, aux1, aux2, tol):
    """T and Ṫ with their tangents for a block of pairs (Duals in, Duals out).

    Parameters
    ----------
    q1, q2 : ndarray or Dual of shape (n1, 1) and (1, n2)
        Variances Σ11, Σ22.
    k12 : ndarray or Dual of shape (n1, n2)
        Covariances Σ12.
    aux1, aux2 : tuples of 8 ndarrays
        ``prepare`` of a Dual variance, sliced to the block: shapes
        (n_terms, n1, 1) and (n_terms, 1, n2) (tail sums n_terms + 1).
    tol : float
        Per-pair relative remainder of every series (:func:`mehler_sums`).

    Returns
    -------
    T, Tdot : Dual (ndarray when no input is a Dual) of shape (n1, n2)
        The tangents of ``Tdot`` are computed when first read.
    """
    (f0, f1, f2, f3), (s0, s1, s2, s3) = _split(aux1)
    (g0, g1, g2, g3), (u0, u1, u2, u3) = _split(aux2)
    c = _correlation(q1, q2, k12, (f0.shape[1], g0.shape[2]))
    dq1, dq2, dk = (_tangent(x) for x in (q1, q2, k12))
    base = [(f0, g0, s0, u0), (f1, g1, s1, u1)]
    if dq1 is None and dq2 is None and dk is None:
        t, tdot = mehler_sums(base, c, tol)
        return t, tdot
    t, tdot, t_q1, t_q2 = mehler_sums(
        base + [(f2, g0, s2, u0), (f0, g2, s0, u2)], c, tol
    )
    # Price: dT = Ṫ dΣ12 + ½E[σ''σ] dΣ11 + ½E[σσ''] dΣ22
    t_dual = Dual(t, _chain((tdot, dk), (0.5 * t_q1, dq1), (0.5 * t_q2, dq2)))

    def tdot_tangent():
        tdd, td_q1, td_q2 = mehler_sums(
            [(f2, g2, s2, u2), (f3, g1, s3, u1), (f1, g3, s1, u3)], c, tol
        )
        # Price: dṪ = E[σ''σ''] dΣ12 + ½E[σ'''σ'] dΣ11 + ½E[σ'σ'''] dΣ22
        return _chain((tdd, dk), (0.5 * td_q1, dq1), (0.5 * td_q2, dq2))

    return t_dual, LazyDual(tdot, tdot_tangent)


def price_dual_diag(q, aux):
    """T(q, q, q) and Ṫ(q, q, q), with tangents when ``q`` is a Dual.

    Parameters
    ----------
    q : ndarray or Dual of shape (n,)
    aux : tuple of 8 ndarrays of shape (n_terms, n) (tail sums n_terms + 1)

    Returns
    -------
    T, Tdot : ndarray or Dual of shape (n,)
    """
    (a0, a1, a2, a3), _ = _split(aux)
    t, tdot = (a0 * a0).sum(axis=0), (a1 * a1).sum(axis=0)
    dq = _tangent(q)
    if dq is None:
        return t, tdot
    dt = tdot + (a2 * a0).sum(axis=0)  # ∂/∂Σ12 + ∂/∂Σ11 + ∂/∂Σ22 at c = 1
    dtdot = (a2 * a2).sum(axis=0) + (a3 * a1).sum(axis=0)
    return Dual(t, dq * dt), Dual(tdot, dq * dtdot)


def _correlation(q1, q2, k12, shape):
    """Return c = Σ12 / √(Σ11 Σ22) in [−1, 1], shape ``shape`` (0: zero variance)."""
    q1, q2, k12 = value_of(q1), value_of(q2), value_of(k12)
    c = k12 / np.sqrt(np.maximum(q1 * q2, np.finfo(float).tiny))
    return np.broadcast_to(np.clip(c, -1.0, 1.0), shape)


def _tangent(x):
    """Tangents of ``x`` with the value's axes (leading P), or None."""
    if not isinstance(x, Dual):
        return None
    t = x.t
    missing = np.ndim(x.v) - (t.ndim - 1)
    return t.reshape(t.shape[:1] + (1,) * missing + t.shape[1:]) if missing > 0 else t


def _chain(*terms):
    """Σ tangent · partial over the terms whose tangent is not None."""
    out = None
    for partial, t in terms:
        if t is None:
            continue
        if out is None:
            out = t * partial
        else:
            out += t * partial
    return out
