"""One step ℓ → ℓ+1 of the 1/n recursions of the initial ensemble (private).

The formulas (PDLT ch. 4 and 8 in :ref:`theory`'s parametrisation, equal widths so
r = n_ℓ/n_(ℓ−1) = 1), with ⟨·⟩ over one neuron z ~ N(0, K^(ℓ)),
S_ab = σ_a σ_b, P_ab = σ'_a σ'_b, Q_ac = σ'_a σ_c and
ω̄_ab = λ_W S_ab + C_W Θ_ab P_ab (C, λ of layer ℓ+1):

.. code-block:: text

    V'_abcd = C_W² Cov(S_ab, S_cd) + (C_W²/4) Σ V_efgh E2[S_ab]_ef E2[S_cd]_gh
    K1'_ab  = C_W [½ Σ K1_ef E2[S_ab]_ef + ⅛ Σ V_efgh E4[S_ab]_efgh]
    H1'_ab  = λ_W [same bracket] + C_W [⟨P_ab⟩ H1_ab
              + Θ_ab (½ Σ K1 E2[P_ab] + ⅛ Σ V E4[P_ab])
              + ½ Σ_ef (D_abef + F_aebf + F_afbe) E2[P_ab]_ef]
    D'_abcd = C_W Cov(ω̄_ab, S_cd) + C_W [¼ Σ V E2[ω̄_ab] E2[S_cd]
              + ½ C_W ⟨P_ab⟩ Σ_ef D_abef E2[S_cd]_ef]
    A'_abcd = Cov(ω̄_ab, ω̄_cd) + ¼ Σ V E2[ω̄_ab] E2[ω̄_cd]
              + ½ C_W ⟨P_ab⟩ Σ D_abef E2[ω̄_cd]_ef + ½ C_W ⟨P_cd⟩ Σ D_cdef E2[ω̄_ab]_ef
              + C_W² ⟨P_ab⟩⟨P_cd⟩ A_abcd
    B'_{a1a3a2a4} = C_W² ⟨P_a1a2 P_a3a4⟩ Θ_a1a2 Θ_a3a4
                    + C_W² ⟨P_a1a3⟩⟨P_a2a4⟩ B_{a1a3a2a4}
    F'_{a1a3a2a4} = C_W² ⟨Q_a1a3 Q_a2a4⟩ Θ_a1a2
                    + C_W² Σ_ef F_{a1 e a2 f} E1[Q_a1a3]_e E1[Q_a2a4]_f

(E1, E2, E4: :mod:`._init_moments`). B and F are stored in PDLT's index order:
``B[p, q, r, s]`` = B_{a1=p, a3=q, a2=r, a4=s}.
"""

from __future__ import annotations

import numpy as np

from ._init_moments import derivative_moments, four_point_moments, slot_index

__all__ = ["init_state", "layer_step"]

_KEYS = ("K1", "V", "H1", "A", "B", "D", "F")


def init_state(n):
    """Return the 1/n tensors of the first layer (all zero: it is exactly Gaussian)."""
    return {k: np.zeros((n, n) if k in ("K1", "H1") else (n,) * 4) for k in _KEYS}


def layer_step(state, K, theta, T, Tdot, hp, activation, n_workers=1):
    """Compute the 1/n tensors of layer ℓ+1 from those of layer ℓ.

    Parameters
    ----------
    state : dict
        ``K1``, ``H1`` (N, N) and ``V``, ``A``, ``B``, ``D``, ``F`` (N, N, N, N) of
        layer ℓ.
    K, theta : ndarray of shape (N, N)
        K^(ℓ) and Θ^(ℓ).
    T, Tdot : ndarray of shape (N, N)
        ⟨S⟩ and ⟨P⟩ at K^(ℓ) (the kernels' dual maps).
    hp : tuple of float
        (C_W, λ_W) of layer ℓ+1 (biases are deterministic shifts and do not enter).
    activation : Activation
    n_workers : int, default=1
        Threads for the four-point quadrature.

    Returns
    -------
    dict
        The same keys for layer ℓ+1.
    """
    cw, lw = hp
    n = K.shape[0]
    idx = slot_index(n)
    ss, pp, ps = four_point_moments(K, activation, n_workers)
    der = derivative_moments(K, activation)
    css = ss - T[:, :, None, None] * T[None, None]
    cpp = pp - Tdot[:, :, None, None] * Tdot[None, None]
    cps = ps - Tdot[:, :, None, None] * T[None, None]  # Cov(P_ab, S_cd)
    th = theta[:, :, None, None]
    e2w = lw * der["E2S"] + cw * theta[:, :, None, None] * der["E2P"]  # E2[ω̄]
    V, D, A = state["V"], state["D"], state["A"]
    v_s = _right(V, der["E2S"], idx)  # Σ_gh V_efgh E2[S_cd]_gh
    v_w = _right(V, e2w, idx)
    d_s, d_w = _right(D, der["E2S"], idx), _right(D, e2w, idx)
    p_ab = Tdot[:, :, None, None]
    new = {}
    new["V"] = cw**2 * css + 0.25 * cw**2 * _left(der["E2S"], v_s, idx)
    cov_ws = lw * css + cw * th * cps
    new["D"] = cw * cov_ws + cw * (0.25 * _left(e2w, v_s, idx) + 0.5 * cw * p_ab * d_s)
    cov_ww = (
        lw**2 * css
        + lw * cw * (th * cps + _swap(th * cps))
        + cw**2 * th * _swap(th) * cpp
    )
    new["A"] = (
        cov_ww
        + 0.25 * _left(e2w, v_w, idx)
        + 0.5 * cw * p_ab * d_w
        + _swap(0.5 * cw * p_ab * d_w)
        + cw**2 * p_ab * _swap(p_ab) * A
    )
    new["K1"], new["H1"] = _means(state, theta, Tdot, der, (cw, lw), idx)
    new["B"], new["F"] = _pdlt_order(state, theta, Tdot, pp, ps, der, cw)
    return new


def _means(state, theta, Tdot, der, hp, idx):
    """K1' and H1' (the Edgeworth corrections of the means)."""
    cw, lw = hp
    K1, V = state["K1"], state["V"]
    br_s = 0.5 * _pair2(K1, der["E2S"], idx) + 0.125 * _pair4(V, der["E4S"], idx)
    br_p = 0.5 * _pair2(K1, der["E2P"], idx) + 0.125 * _pair4(V, der["E4P"], idx)
    D, F = state["D"], state["F"]
    a, b = idx
    df = 0.0
    for s in (0, 1):
        for t in (0, 1):
            g = (
                D[a, b, idx[s], idx[t]]
                + F[a, idx[s], b, idx[t]]
                + F[a, idx[t], b, idx[s]]
            )
            df = df + g * der["E2P"][:, :, s, t]
    k1 = cw * br_s
    h1 = lw * br_s + cw * (Tdot * state["H1"] + theta * br_p + 0.5 * df)
    return k1, h1


def _pdlt_order(state, theta, Tdot, pp, ps, der, cw):
    """B' and F', stored as [a1, a3, a2, a4]."""
    n = theta.shape[0]
    p, q, r, s = np.indices((n,) * 4, sparse=True)
    B, F, e1 = state["B"], state["F"], der["E1Q"]
    new_b = cw**2 * pp * theta[p, r] * theta[q, s] + cw**2 * Tdot[p, q] * Tdot[r, s] * B
    prop = 0.0
    for u in (0, 1):
        for v in (0, 1):
            e = q if u else p
            f = s if v else r
            prop = prop + F[p, e, r, f] * e1[p, q, u] * e1[r, s, v]
    # ⟨Q_pq Q_rs⟩ = E[σ'_p σ'_r σ_q σ_s] = ps[p, r, q, s]
    new_f = cw**2 * ps[p, r, q, s] * theta[p, r] + cw**2 * prop
    return new_b, new_f


def _swap(t):
    """t[c, d, a, b] as [a, b, c, d] (exchange of the two pairs)."""
    return np.transpose(t, (2, 3, 0, 1))


def _right(T, E, idx):
    """R[p, q, c, d] = Σ_{u,v} T[p, q, i_u, i_v] E[c, d, u, v] (slots of (c, d))."""
    out = 0.0
    for u in (0, 1):
        for v in (0, 1):
            out = out + T[:, :, idx[u], idx[v]] * E[None, None, :, :, u, v]
    return out


def _left(E, T, idx):
    """R[a, b, c, d] = Σ_{s,t} E[a, b, s, t] T[i_s, i_t, c, d] (slots of (a, b))."""
    out = 0.0
    for s in (0, 1):
        for t in (0, 1):
            out = out + E[:, :, s, t, None, None] * T[idx[s], idx[t]]
    return out


def _pair2(M, E, idx):
    """Σ_ef M_ef E_ab,ef over the slots of (a, b), shape (N, N)."""
    return sum(M[idx[s], idx[t]] * E[:, :, s, t] for s in (0, 1) for t in (0, 1))


def _pair4(V, E, idx):
    """Σ_efgh V_efgh E_ab,efgh over the slots of (a, b), shape (N, N)."""
    out = 0.0
    for s in (0, 1):
        for t in (0, 1):
            for u in (0, 1):
                for v in (0, 1):
                    g = V[idx[s], idx[t], idx[u], idx[v]]
                    out = out + g * E[:, :, s, t, u, v]
    return out
