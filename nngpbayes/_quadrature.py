r"""Gaussian dual maps of smooth activations by Hermite expansion (private).

For standard normals (z1, z2) with correlation c, Mehler's formula gives

.. math::

    E[f(z_1) g(z_2)] = \sum_{n\ge 0} c^n f_n g_n,\qquad
    f_n = E[f(z) h_n(z)],\quad h_n = He_n / \sqrt{n!},

with He_n the probabilists' Hermite polynomials. With
f(z) = σ(√Σ11 z), g(z) = σ(√Σ22 z) and c = Σ12/√(Σ11Σ22) this is T (:ref:`theory-3`);
with σ' it is Ṫ. The coefficients f_n of every input are computed once per layer
by Gauss–Hermite quadrature, so a kernel entry costs one Horner evaluation of
``n_terms`` terms instead of a 2-D quadrature. Truncating the series keeps every
Gram matrix symmetric and positive semi-definite (each term is the Hadamard product
of the PSD matrices [c_ij^n] and [f_n(x_i) f_n(x_j)]); the truncation error is
largest at c = ±1 and equals the tail Σ_{n≥N} f_n², which is monitored.

References
----------
.. [1] Mehler (1866); see e.g. O'Donnell, "Analysis of Boolean Functions", §11.
.. [2] Golub & Welsch, Math. Comp. 23 (1969): Gauss rules from the Jacobi matrix.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import scipy.special as sc

from ._dual import apply, value_of

__all__ = [
    "hermite_rule",
    "hermite_coefficients",
    "hermite_table",
    "mehler_sum",
    "mehler_sum_adaptive",
    "tail_sums",
    "warn_tail",
    "QuadratureWarning",
]

#: A monitored series tail above this fraction of E[σ²] triggers a warning.
TAIL_TOLERANCE = 1e-10


class QuadratureWarning(UserWarning):
    """The truncated Hermite series misses more than ``TAIL_TOLERANCE`` of E[σ²]."""


@lru_cache(maxsize=32)
def hermite_rule(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``degree``-point rule for ``E[f(z)]``, z ~ N(0, 1).

    Returns
    -------
    nodes, weights : ndarray of shape (degree,)
        ``weights.sum() == 1`` up to round-off.
    """
    z, w = sc.roots_hermitenorm(degree)  # stable at high degree (asymptotics)
    w = w / w.sum()
    z.setflags(write=False)
    w.setflags(write=False)
    return z, w


@lru_cache(maxsize=16)
def _weighted_hermite(n_terms: int, n_nodes: int) -> np.ndarray:
    """``w_k h_n(z_k)``, shape (n_nodes, n_terms).

    Computed as √w_k ψ_n(z_k) with the Hermite functions ψ_n = √w h_n from their
    stable recurrence ψ_(n+1) = (z ψ_n − √n ψ_(n−1)) / √(n+1), which never
    overflows (h_n alone does at high degree far out).
    """
    z, w = hermite_rule(n_nodes)
    root_w = np.sqrt(w)
    psi = np.empty((n_terms, n_nodes))
    psi[0] = root_w
    if n_terms > 1:
        psi[1] = z * root_w
    for n in range(1, n_terms - 1):
        psi[n + 1] = (z * psi[n] - np.sqrt(n) * psi[n - 1]) / np.sqrt(n + 1)
    out = (psi * root_w).T.copy()
    out.setflags(write=False)
    return out


def n_nodes_for(n_terms: int) -> int:
    """Quadrature nodes used for ``n_terms`` coefficients."""
    return 2 * n_terms + 32


def hermite_coefficients(fn, dfn, q, n_terms: int):
    """Coefficients ``E[fn(√q z) h_n(z)]`` for n < ``n_terms``, shape (n_terms, len(q)).

    Parameters
    ----------
    fn, dfn : callable
        The function and its derivative (the derivative is used only for the
        tangents of a :class:`~nngpbayes._dual.Dual` ``q``).
    q : ndarray or Dual of shape (n,)
        Variances (> 0).
    n_terms : int
        Number of coefficients; the quadrature uses ``2 * n_terms + 32`` nodes.

    Returns
    -------
    coef : ndarray or Dual of shape (n_terms, n)
    tail : ndarray of shape (n,)
        The fraction of E[fn²] that the truncation drops (by the discrete Parseval
        identity of the Gauss rule: Σ_k w_k f_k² is the sum of all ``n_nodes``
        squared coefficients).
    """
    n_nodes = n_nodes_for(n_terms)
    z, w = hermite_rule(n_nodes)
    u = np.sqrt(q)[..., None] * z  # (n, n_nodes)
    f = apply(fn, dfn, u)
    coef = f @ _weighted_hermite(n_terms, n_nodes)  # (n, n_terms)
    fv, cv = value_of(f), value_of(coef)
    total = (fv * fv) @ w
    tail = (total - (cv * cv).sum(axis=-1)) / np.maximum(total, np.finfo(float).tiny)
    return _swap(coef), tail


@lru_cache(maxsize=16)
def _half_weighted_hermite(n_terms: int, n_nodes: int):
    """``w_k h_n(z_k)`` on the positive nodes, even and odd n apart.

    Returns
    -------
    even, odd : ndarray of shape (n_nodes // 2, ceil(n_terms / 2)), (…, n_terms // 2)
    """
    positive = _weighted_hermite(n_terms, n_nodes)[n_nodes // 2 :]
    even, odd = (np.ascontiguousarray(positive[:, k::2]) for k in (0, 1))
    for a in (even, odd):
        a.setflags(write=False)
    return even, odd


def hermite_table(fns, q, n_terms: int, chain: int = 0):
    r"""Coefficients ``E[fn(√q z) h_n(z)]`` of several functions, plain variances.

    The same numbers as :func:`hermite_coefficients` (to round-off) at half its
    cost: the Gauss rule is symmetric (z_k = −z_(n−1−k)) and h_n(−z) = (−1)^n h_n(z),
    so even n come from the even part f(z) + f(−z) on the positive nodes and odd n
    from the odd part. An odd or even σ then gets exact zeros in the other rows.

    With ``chain=m`` the functions are successive derivatives σ, σ', σ'', … and
    only the last of each group of ``m`` is projected; the others follow from
    Stein's lemma
    E[g'(z) h_n(z)] = √(n+1) E[g(z) h_(n+1)(z)] with g = σ^(j)(√q ·):

    .. math::

        f^{(j)}_{n+1} = \sqrt{q/(n+1)}\, f^{(j+1)}_n,
        \qquad f^{(j)}_0 = E[σ^{(j)}(\sqrt q z)].

    Parameters
    ----------
    fns : sequence of callables, or callable
        Functions, vectorised over NumPy arrays; or one callable that returns the
        list of their values at an array (sharing work between them).
    q : ndarray of shape (n,)
        Variances (>= 0).
    n_terms : int
    chain : int, default=0
        Length of the groups of successive derivatives (0: project every
        function).

    Returns
    -------
    coefs : list of ndarray of shape (n_terms, n)
        One per function, in Fortran order (each input's coefficients contiguous).
    tails : list of ndarray of shape (n,)
        The dropped fraction of E[fn²], as in :func:`hermite_coefficients`.
    """
    n_nodes = n_nodes_for(n_terms)
    z, w = hermite_rule(n_nodes)
    zp, wp = z[n_nodes // 2 :], w[n_nodes // 2 :]
    even, odd = _half_weighted_hermite(n_terms, n_nodes)
    q = np.asarray(q, dtype=float)
    u = np.sqrt(q)[:, None] * zp  # (n, n_nodes / 2)
    evaluate = fns if callable(fns) else (lambda x: [fn(x) for fn in fns])
    plus, minus = evaluate(u), evaluate(-u)
    n_fns = len(plus)
    coefs, totals = [None] * n_fns, [None] * n_fns
    for j in range(n_fns - 1, -1, -1):
        fp, fm = plus[j], minus[j]
        totals[j] = (fp * fp + fm * fm) @ wp
        coef_t = np.empty((u.shape[0], n_terms))  # transposed: (n, n_terms)
        # Stein: f_(n+1) = √(q/(n+1)) f'_n from the next derivative of the group
        if chain and (j + 1) % chain and j + 1 < n_fns:
            coef_t[:, 0] = (fp + fm) @ wp
            scale = np.sqrt(q[:, None] / np.arange(1, n_terms))
            np.multiply(coefs[j + 1].T[:, :-1], scale, out=coef_t[:, 1:])
        else:
            coef_t[:, 0::2] = (fp + fm) @ even
            coef_t[:, 1::2] = (fp - fm) @ odd
        coefs[j] = coef_t.T
    tails = []
    for a, total in zip(coefs, totals, strict=True):
        kept = np.einsum("ji,ji->i", a, a)
        tails.append((total - kept) / np.maximum(total, np.finfo(float).tiny))
    return coefs, tails


def warn_tail(name, degree, tail, q):
    """Warn when the series keeps less than 1 − ``TAIL_TOLERANCE`` of E[σ²]."""
    worst = float(np.max(tail)) if np.size(tail) else 0.0
    if worst > TAIL_TOLERANCE:
        warnings.warn(
            f"the Hermite series of {name} truncated at {degree} terms misses up to "
            f"{worst:.1e} of E[σ²] (layer variances up to {float(np.max(q)):.3g}); "
            "the kernel is accurate to about that; raise the activation's degree",
            QuadratureWarning,
            stacklevel=2,
        )


def _swap(coef):
    """(n, n_terms) → (n_terms, n), also for Duals."""
    if value_of(coef) is coef:
        return np.ascontiguousarray(coef.T)
    from ._dual import Dual

    t = coef.full_tangent()
    return Dual(coef.v.T.copy(), np.swapaxes(t, -1, -2).copy())


def mehler_sum(coef1, coef2, c):
    """Σ_n c^n coef1[n] coef2[n] by Horner's rule.

    Parameters
    ----------
    coef1, coef2 : arrays (or Duals) of shape (n_terms, ...) broadcastable with ``c``
    c : array (or Dual)
        Correlations in [−1, 1].
    """
    n_terms = value_of(coef1).shape[0]
    acc = coef1[n_terms - 1] * coef2[n_terms - 1]
    for n in range(n_terms - 2, -1, -1):
        acc = acc * c + coef1[n] * coef2[n]
    return acc


def tail_sums(coef, tail_fraction):
    """R[n] = Σ_{m≥n} coef[m]², shape (n_terms + 1, n), including the dropped tail.

    ``R[0]`` is E[f²] and ``R[n_terms]`` the part the truncation drops; they bound
    the rest of a Mehler series: |Σ_{m≥n} c^m f_m g_m| ≤ |c|^n √(R_f[n] R_g[n]).
    """
    sq = np.square(value_of(coef))
    out = np.empty((sq.shape[0] + 1,) + sq.shape[1:])
    out[:-1] = np.cumsum(sq[::-1], axis=0)[::-1]
    out[-1] = 0.0
    total = out[0] / np.clip(1.0 - tail_fraction, 0.5, 1.0)
    out += total - out[0]  # the dropped tail, in every partial sum
    return out


#: Terms summed for every pair before the per-pair convergence test.
_DENSE_TERMS = 24
_CHUNK = 16


def mehler_sum_adaptive(coef1, coef2, r1, r2, c, tol):
    """Σ_n c^n coef1[n] coef2[n] (plain arrays), stopping per pair at ``tol``.

    Every pair gets the first ``_DENSE_TERMS`` terms; pairs whose remainder bound
    |c|^n √(R1[n] R2[n]) still exceeds ``tol·√(R1[0] R2[0])`` continue, in chunks,
    on a shrinking list (mostly nearly parallel inputs, |c| ≈ 1), up to all terms.
    The result equals the full sum to within the bound.

    Parameters
    ----------
    coef1, coef2 : ndarray of shape (n_terms, n1, 1) and (n_terms, 1, n2)
    r1, r2 : ndarray of shape (n_terms + 1, n1, 1) and (n_terms + 1, 1, n2)
        :func:`tail_sums` of the coefficients.
    c : ndarray of shape (n1, n2)
    tol : float
    """
    n_terms = coef1.shape[0]
    dense = min(_DENSE_TERMS, n_terms)
    acc = coef1[0] * coef2[0]
    power = np.broadcast_to(c, acc.shape).copy()
    term = np.empty_like(acc)
    for n in range(1, dense):
        np.multiply(coef1[n], coef2[n], out=term)
        term *= power
        acc += term
        power *= c
    if dense == n_terms:
        return acc
    bound = np.abs(power) * np.sqrt(r1[dense] * r2[dense])
    rows, cols = np.nonzero(bound > tol * np.sqrt(r1[0] * r2[0]))
    if rows.size == 0:
        return acc
    a1, a2 = coef1[:, :, 0], coef2[:, 0, :]  # (n_terms, n1), (n_terms, n2)
    s1, s2 = r1[:, :, 0], r2[:, 0, :]
    cc, pw = c[rows, cols], power[rows, cols]
    part = np.zeros(rows.size)
    live = np.arange(rows.size)
    for start in range(dense, n_terms, _CHUNK):
        stop = min(start + _CHUNK, n_terms)
        i, j = rows[live], cols[live]
        sub, p, x = np.zeros(live.size), pw[live], cc[live]
        for n in range(start, stop):
            sub += p * a1[n, i] * a2[n, j]
            p = p * x
        part[live] += sub
        pw[live] = p
        keep = np.abs(p) * np.sqrt(s1[stop, i] * s2[stop, j]) > tol * np.sqrt(
            s1[0, i] * s2[0, j]
        )
        live = live[keep]
        if live.size == 0:
            break
    acc[rows, cols] += part
    return acc
