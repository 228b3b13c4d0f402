r"""The Gaussian moments of one layer that the 1/n recursions need (private).

For one neuron z ~ N(0, K) over the N inputs, with S_ab = σ_a σ_b, P_ab = σ'_a σ'_b
and Q_ac = σ'_a σ_c:

- four-point moments ⟨S_ab S_cd⟩, ⟨P_ab P_cd⟩, ⟨P_ab S_cd⟩ (N⁴ arrays; each
  distinct multiset of inputs is integrated once, all patterns on one grid);
- derivative moments by Gaussian integration by parts (Stein), restricted to the
  inputs the function depends on (no σ″ needed, so kinks are fine):

  .. math::

      E_1[f]_e = ⟨f y_e⟩,\quad E_2[f]_{ef} = ⟨f y_e y_f⟩ - K^{ef}⟨f⟩,\quad
      E_4[f]_{efgh} = ⟨f\,\mathrm{He}_4(y)_{efgh}⟩,\qquad y = K^{-1} z,

  with He_4(y)_{efgh} = y_e y_f y_g y_h − Σ_6 K^{ef} y_g y_h + Σ_3 K^{ef} K^{gh}.

Derivative tensors are stored on *slots*: for a pair (a, b), slot 0 is input a and
slot 1 input b, so ``E2S[a, b, s, t]`` is ⟨∂_{i_s} ∂_{i_t} S_ab⟩ with i_0 = a,
i_1 = b; for a = b everything sits in slot 0 (the other slots are 0), so sums
over slots count every input once.
"""

from __future__ import annotations

from itertools import combinations, product

import numpy as np

from ._init_gauss import gaussian_products

__all__ = ["four_point_moments", "derivative_moments", "slot_index"]


def slot_index(n):
    """``I`` of shape (2, n, n): ``I[0][a, b] = a``, ``I[1][a, b] = b``."""
    return np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))


def four_point_moments(K, activation, n_workers=1):
    """⟨S_ab S_cd⟩, ⟨P_ab P_cd⟩ and ⟨P_ab S_cd⟩ at z ~ N(0, K).

    Parameters
    ----------
    K : ndarray of shape (N, N)
    activation : Activation
    n_workers : int, default=1
        Threads for the quadrature.

    Returns
    -------
    ss, pp, ps : ndarray of shape (N, N, N, N)
        ``ps[a, b, c, d] = E[σ'_a σ'_b σ_c σ_d]``.
    """
    n = K.shape[0]
    ss, pp, ps = (np.empty((n,) * 4) for _ in range(3))
    for k in range(1, 5):
        sets = np.array(list(combinations(range(n), k)), dtype=int).reshape(-1, k)
        if sets.size == 0:
            continue
        tuples, keys = _covering_tuples(k)
        patterns = np.array(
            [[(0, s, p) for s, p in zip(*key, strict=True)] for key in keys]
        )
        cov = K[sets[:, :, None], sets[:, None, :]]
        vals = gaussian_products(cov, patterns, activation, n_workers)
        for kind, t, f in tuples:
            g = [sets[:, i] for i in t]
            target = (ss, pp, ps)[kind]
            target[g[0], g[1], g[2], g[3]] = vals[:, f]
    return ss, pp, ps


def _covering_tuples(k):
    """Local 4-tuples over k inputs that use every input, and their patterns.

    Returns ``tuples`` [(kind, tuple, pattern index)] with kind 0 (σσσσ),
    1 (σ'σ'σ'σ'), 2 (σ'σ'σσ) and ``keys`` [(σ multiplicities, σ' multiplicities)].
    """
    keys, index, tuples = [], {}, []
    for t in product(range(k), repeat=4):
        if len(set(t)) != k:
            continue
        for kind in range(3):
            n_prime = (0, 4, 2)[kind]
            mp = tuple(t[:n_prime].count(i) for i in range(k))
            ms = tuple(t[n_prime:].count(i) for i in range(k))
            key = (ms, mp)
            if key not in index:
                index[key] = len(keys)
                keys.append(key)
            tuples.append((kind, t, index[key]))
    return tuples, keys


def _pair_patterns():
    """Return exponent patterns on a pair (z_a, z_b).

    S, P with z_a^i z_b^j (i + j ≤ 4), Q_ab = σ'_a σ_b and Q_ba = σ_a σ'_b with
    degree ≤ 1.
    """
    pats, where = [], {}
    for name, (fa, fb) in (
        ("S", (1, 1)),
        ("P", (2, 2)),
        ("Qab", (2, 1)),
        ("Qba", (1, 2)),
    ):
        top = 4 if name in ("S", "P") else 1
        for i in range(top + 1):
            for j in range(top + 1 - i):
                where[(name, i, j)] = len(pats)
                pats.append([_row(i, fa), _row(j, fb)])
    return np.array(pats), where


def _row(power, kind):
    """(e0, e1, e2) for z^power σ (kind 1) or z^power σ' (kind 2)."""
    return (power, 1, 0) if kind == 1 else (power, 0, 1)


def _single_patterns():
    pats, where = [], {}
    for name, row in (("S", (2, 0)), ("P", (0, 2)), ("Q", (1, 1))):
        for i in range(5):
            where[(name, i)] = len(pats)
            pats.append([(i,) + row])
    return np.array(pats), where


def derivative_moments(K, activation):
    """Stein derivative moments of S_ab, P_ab (orders 2 and 4) and Q_ac (order 1).

    Parameters
    ----------
    K : ndarray of shape (N, N)
        Must have non-singular 2 × 2 blocks (checked by the caller).
    activation : Activation

    Returns
    -------
    dict with ``"E2S"``, ``"E2P"`` (N, N, 2, 2), ``"E4S"``, ``"E4P"``
    (N, N, 2, 2, 2, 2) and ``"E1Q"`` (N, N, 2), on slots (see module docstring).
    """
    n = K.shape[0]
    out = {
        "E2S": np.zeros((n, n, 2, 2)),
        "E2P": np.zeros((n, n, 2, 2)),
        "E4S": np.zeros((n, n) + (2,) * 4),
        "E4P": np.zeros((n, n) + (2,) * 4),
        "E1Q": np.zeros((n, n, 2)),
    }
    _single_moments(K, activation, out)
    if n > 1:
        _pair_moments(K, activation, out)
    return out


def _single_moments(K, activation, out):
    q = np.diag(K).copy()
    pats, where = _single_patterns()
    vals = gaussian_products(q[:, None, None], pats, activation)
    idx = np.arange(q.size)
    for name in ("S", "P"):
        m = [vals[:, where[(name, i)]] for i in range(5)]
        e2 = m[2] / q**2 - m[0] / q  # 1-D Stein
        e4 = m[4] / q**4 - 6.0 * m[2] / q**3 + 3.0 * m[0] / q**2
        out["E2" + name][idx, idx, 0, 0] = e2
        out["E4" + name][idx, idx, 0, 0, 0, 0] = e4
    out["E1Q"][idx, idx, 0] = vals[:, where[("Q", 1)]] / q


def _pair_moments(K, activation, out):
    a, b = np.array(list(combinations(range(K.shape[0]), 2))).T
    cov = np.stack(
        [np.stack([K[a, a], K[a, b]], -1), np.stack([K[a, b], K[b, b]], -1)], 1
    )
    pats, where = _pair_patterns()
    vals = gaussian_products(cov, pats, activation)
    kinv = np.linalg.inv(cov)
    for name in ("S", "P"):
        e2, e4 = _stein(vals, where, name, kinv)
        out["E2" + name][a, b] = e2
        out["E2" + name][b, a] = e2[:, ::-1, ::-1]
        out["E4" + name][a, b] = e4
        out["E4" + name][b, a] = e4[:, ::-1, ::-1, ::-1, ::-1]
    for name, (p, c) in (("Qab", (a, b)), ("Qba", (b, a))):
        m1 = np.stack([vals[:, where[(name, 1, 0)]], vals[:, where[(name, 0, 1)]]], -1)
        e1 = np.einsum("bef,bf->be", kinv, m1)  # slots (a, b)
        out["E1Q"][p, c] = e1 if name == "Qab" else e1[:, ::-1]


def _moment_tensor(vals, where, name, order):
    """⟨f z_{i1} … z_{i_order}⟩ on the pair's slots, shape (B,) + (2,) * order."""
    t = np.empty((vals.shape[0],) + (2,) * order)
    for slots in product((0, 1), repeat=order):
        ones = sum(slots)
        t[(slice(None),) + slots] = vals[:, where[(name, order - ones, ones)]]
    return t


def _stein(vals, where, name, kinv):
    """E2 and E4 of f = S or P on pairs from ⟨f z^α⟩ (module docstring)."""
    m0 = vals[:, where[(name, 0, 0)]]
    m2 = _moment_tensor(vals, where, name, 2)
    m4 = _moment_tensor(vals, where, name, 4)
    y2 = np.einsum("bei,bfj,bij->bef", kinv, kinv, m2)
    y4 = np.einsum("bei,bfj,bgk,bhl,bijkl->befgh", kinv, kinv, kinv, kinv, m4)
    e2 = y2 - kinv * m0[:, None, None]
    c6 = (
        np.einsum("bef,bgh->befgh", kinv, y2)
        + np.einsum("beg,bfh->befgh", kinv, y2)
        + np.einsum("beh,bfg->befgh", kinv, y2)
        + np.einsum("bfg,beh->befgh", kinv, y2)
        + np.einsum("bfh,beg->befgh", kinv, y2)
        + np.einsum("bgh,bef->befgh", kinv, y2)
    )
    c3 = (
        np.einsum("bef,bgh->befgh", kinv, kinv)
        + np.einsum("beg,bfh->befgh", kinv, kinv)
        + np.einsum("beh,bfg->befgh", kinv, kinv)
    )
    e4 = y4 - c6 + m0[:, None, None, None, None] * c3
    return e2, e4
