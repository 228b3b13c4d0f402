r"""Exact directional derivatives of one network along its own NTK directions.

Everything here is for one member and one output unit (:ref:`theory-5`). With
J_p = ∇_θ φ(x_p) and the directions v_q = λ J_q, define

.. math::

    H(p, q)       &= J_p^T λ J_q                                  \
    S(p; q, r)    &= D^2 φ_p[v_q, v_r] = J_r^T λ\, \mathrm{Hess}_p\, λ J_q   \
    T(p; q, r, s) &= D^3 φ_p[v_q, v_r, v_s]                                \
    G(p, q; r, s) &= ⟨\mathrm{Hess}_p v_q, \mathrm{Hess}_r v_s⟩_λ

(S symmetric in q, r; T in q, r, s). They are computed without forming any
parameter-space vector: a direction v_q moves layer ℓ's weights by
(λ_W/n_(ℓ−1)) h_q ⊗ g_q and its biases by λ_b g_q (h the layer input, g = ∂φ/∂z the
backward signal), so first- and second-order perturbations of the forward
activations (δh, δ²h) and of the backward signals (δg, δ²g) follow from inner
products, and S, T, G are sums over layers of products of inner products, e.g.

.. math::

    S(p; q, s) = Σ_ℓ \frac{λ_W}{n}\big[(δh_p[q]·h_s)(g_p·g_s)
                 + (h_p·h_s)(δg_p[q]·g_s)\big] + λ_b\, δg_p[q]·g_s .

Points are indexed over a set Z whose first ``n`` rows are the training inputs;
directions in second order run over those ``n``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MemberState", "member_state", "kernel", "s_block", "t_block", "g_block"]


class MemberState:
    """Forward/backward quantities and first-order perturbations of one member.

    Every attribute is a list over layers ℓ = 0..L−1 (layer ℓ maps ``h[ℓ]`` to
    ``z[ℓ]``); N points, n_ℓ units.

    Attributes
    ----------
    h : list of ndarray (N, n_(ℓ−1))
        Layer inputs (h[0] = the inputs).
    g : list of ndarray (N, n_ℓ)
        Backward signals ∂φ/∂z^(ℓ) (one-hot at the output for the readout).
    lw, lb : list of float
        λ_W/n_(ℓ−1) and λ_b.
    dh : list of ndarray (N, N, n_(ℓ−1)) or None
        δh_p[q], the layer input moved along λJ_q (None for ℓ = 0).
    dg : list of ndarray (N, N, n_ℓ) or None
        δg_p[q] (None for the readout).
    dz, du, u, d1, d2, d3 : lists over hidden layers
        δz_p[q], δu_p[q], u = g^(ℓ+1) W^(ℓ+1)ᵀ, and σ', σ″, σ‴ at z^(ℓ).
    """


def member_state(weights, biases, Z, arch, output=0, first_order=True, n_train=None):
    """Quantities of one member on the points Z.

    Parameters
    ----------
    weights, biases : lists of ndarray
        Per layer ℓ, shapes (n_(ℓ−1), n_ℓ) and (n_ℓ,).
    Z : ndarray of shape (N, n_features)
    arch : Architecture
    output : int, default=0
    first_order : bool, default=True
        Without it only the forward and backward passes (enough for :func:`kernel`).
    n_train : int, optional
        The first ``n_train`` rows of Z are the training inputs (default: all).
        First-order perturbations δ_p[q] are computed only where the tensors need
        them: every point along training directions, and training points along the
        other directions; the rest stays zero.

    Returns
    -------
    MemberState
    """
    st = _forward_backward(weights, biases, Z, arch, output)
    if not first_order:
        return st
    act, hidden = arch.activation, len(weights) - 1
    st.d2 = [act.second_derivative(st.z[k]) for k in range(hidden)]
    st.d3 = [act.third_derivative(st.z[k]) for k in range(hidden)]
    N = len(Z)
    n = N if n_train is None else n_train
    need = np.zeros((N, N), dtype=bool)
    need[:, :n] = True
    need[:n, :] = True
    pp, qq = np.nonzero(need)
    dh, dz = _first_order_forward(st, pp, qq)
    dg, du = _first_order_backward(st, pp, qq, dz)
    st.dh, st.dz, st.dg, st.du = (
        [_scatter(x, pp, qq, N) for x in layers] for layers in (dh, dz, dg, du)
    )
    return st


def _forward_backward(weights, biases, Z, arch, output):
    """Return a :class:`MemberState` with the forward and backward passes.

    The forward pass (h, z, σ') and the backward signals g, u of one output unit
    (:ref:`theory-5`).
    """
    act = arch.activation
    n_layers = len(weights)
    hidden = n_layers - 1
    st = MemberState()
    st.W = weights
    st.lw = [arch.weight_lr[k] / weights[k].shape[0] for k in range(n_layers)]
    st.lb = [float(arch.bias_lr[k]) for k in range(n_layers)]
    h, z = [Z], []
    for k in range(n_layers):
        zk = h[k] @ weights[k] + biases[k]
        z.append(zk)
        if k < hidden:
            h.append(act(zk))
    st.h, st.z = h, z
    st.d1 = [act.derivative(z[k]) for k in range(hidden)]
    g = [None] * n_layers
    g[-1] = np.zeros((len(Z), weights[-1].shape[1]))
    g[-1][:, output] = 1.0
    u = [None] * hidden
    for k in range(hidden - 1, -1, -1):
        u[k] = g[k + 1] @ weights[k + 1].T
        g[k] = st.d1[k] * u[k]
    st.g, st.u = g, u
    return st


def _first_order_forward(st, pp, qq):
    """δh_p[q], δz_p[q] for the pairs (pp, qq), each (P, width) per layer.

    δz_p[q] = δh_p[q] W + Θ̂_pq g_q, δh^(ℓ+1)_p[q] = σ'(z_p) δz_p[q].
    """
    hidden = len(st.W) - 1
    dh, dz = [None] * len(st.W), [None] * hidden
    for k in range(hidden):
        theta = st.lb[k] + st.lw[k] * np.einsum("pw,pw->p", st.h[k][pp], st.h[k][qq])
        dzk = theta[:, None] * st.g[k][qq]
        if dh[k] is not None:
            dzk += dh[k] @ st.W[k]
        dz[k] = dzk
        dh[k + 1] = st.d1[k][pp] * dzk
    return dh, dz


def _first_order_backward(st, pp, qq, dz):
    """δg_p[q], δu_p[q] for the pairs (pp, qq), each (P, width) per layer.

    δu_p[q] = δg^(ℓ+1)_p[q] W^(ℓ+1)ᵀ + (λ_W/n)(g_p·g_q) h^(ℓ+1)_q,
    δg_p[q] = σ''(z_p) δz_p[q] u_p + σ'(z_p) δu_p[q].
    """
    hidden = len(st.W) - 1
    dg, du = [None] * len(st.W), [None] * hidden
    for k in range(hidden - 1, -1, -1):
        gg = np.einsum("pw,pw->p", st.g[k + 1][pp], st.g[k + 1][qq])
        duk = st.lw[k + 1] * gg[:, None] * st.h[k + 1][qq]
        if dg[k + 1] is not None:
            duk += dg[k + 1] @ st.W[k + 1].T
        du[k] = duk
        dg[k] = st.d2[k][pp] * dz[k] * st.u[k][pp] + st.d1[k][pp] * duk
    return dg, du


def _scatter(pairs, pp, qq, N):
    """Values on the pairs (pp, qq) as a full (N, N, width) array, zero elsewhere."""
    if pairs is None:
        return None
    out = np.zeros((N, N, pairs.shape[-1]))
    out[pp, qq] = pairs
    return out


def kernel(st):
    """H(p, q) over all points, shape (N, N)."""
    total = 0.0
    for k in range(len(st.W)):
        gg = st.g[k] @ st.g[k].T
        total = total + gg * _coef(st, k, st.h[k] @ st.h[k].T)
    return total


def _mm(a, w):
    """Compute a @ w for a stack a (..., n_in) as one 2-D product.

    One large GEMM, not a batch of thin ones that would re-read w for every slice.
    """
    return (a.reshape(-1, a.shape[-1]) @ w).reshape(a.shape[:-1] + (w.shape[1],))


def _coef(st, k, hh):
    """(λ_W/n)(h·h') + λ_b: the weight-and-bias factor of a layer's g-products."""
    return st.lw[k] * hh + st.lb[k]


def s_block(st, n):
    """S(p; q, s) for every point p, q < n (training directions), every s: (N, n, N)."""
    N = len(st.h[0])
    total = np.zeros((N, n, N))
    for k in range(len(st.W)):
        h, g = st.h[k], st.g[k]
        if st.dh[k] is not None:  # (λ_W/n)(δh_p[q]·h_s)(g_p·g_s)
            total = total + st.lw[k] * (st.dh[k][:, :n] @ h.T) * (g @ g.T)[:, None, :]
        if st.dg[k] is not None:  # ((λ_W/n)(h_p·h_s) + λ_b)(δg_p[q]·g_s)
            dgg = st.dg[k][:, :n] @ g.T
            total = total + _coef(st, k, h @ h.T)[:, None, :] * dgg
    return total


def g_block(st, pairs_p, pairs_q, n):
    """G(p, q; r, s) for the pairs (p, q) given and r, s < n: (P, n, n).

    ``pairs_p``, ``pairs_q`` : int arrays of shape (P,), indices into the points.
    """
    total = np.zeros((len(pairs_p), n, n))
    for k in range(len(st.W)):
        h, g = st.h[k], st.g[k]
        lw = st.lw[k]
        dh, dg = st.dh[k], st.dg[k]
        hp, gp = h[pairs_p], g[pairs_p]  # (P, w)
        hx, gx = h[:n], g[:n]
        if dh is not None:
            a = dh[pairs_p, pairs_q]  # (P, w): δh_p[q]
            # (δh_p[q]·δh_r[s])(g_p·g_r)
            total = (
                total
                + lw * (dh[:n, :n] @ a.T).transpose(2, 0, 1) * (gp @ gx.T)[:, :, None]
            )
        if dg is not None:
            c = dg[pairs_p, pairs_q]  # (P, w): δg_p[q]
            # ((λ_W/n)(h_p·h_r) + λ_b)(δg_p[q]·δg_r[s])
            total = (
                total
                + (dg[:n, :n] @ c.T).transpose(2, 0, 1)
                * _coef(st, k, hp @ hx.T)[:, :, None]
            )
        if dh is not None and dg is not None:
            # (δh_p[q]·h_r)(g_p·δg_r[s]) + (h_p·δh_r[s])(δg_p[q]·g_r)
            x = (a @ hx.T)[:, :, None] * np.einsum("pw,rsw->prs", gp, dg[:n, :n])
            x += np.einsum("pw,rsw->prs", hp, dh[:n, :n]) * (c @ gx.T)[:, :, None]
            total = total + lw * x
    return total


def t_block(st, n, chunk=None):
    """T(p; q, r, s) for every point p, q, r < n, every s: (N, n, n, N).

    Second-order perturbations δ²h_p[q, r], δ²g_p[q, r] are symmetric in (q, r):
    they are formed for the pairs q ≤ r only, for a chunk of points at a time
    (memory ~ chunk·n²/2·width per layer).
    """
    N = len(st.h[0])
    qi, ri = np.triu_indices(n)
    widest = max(w.shape[1] for w in st.W)
    if chunk is None:
        chunk = max(1, int(2**22 // max(1, len(qi) * widest)))
    out = np.empty((N, n, n, N))
    for start in range(0, N, chunk):
        idx = np.arange(start, min(N, start + chunk))
        pairs = _t_chunk(st, idx, n, qi, ri)  # (P, n_pairs, N)
        block = np.empty((len(idx), n, n, N))
        block[:, qi, ri] = pairs
        block[:, ri, qi] = pairs
        out[idx] = block
    return out


def _pair_sym(a, b, qi, ri):
    """x[p, k, :] = a[p, q, r] b[r, :] + a[p, r, q] b[q, :] for the pairs k = (q, r)."""
    return a[:, qi, ri][..., None] * b[ri][None] + a[:, ri, qi][..., None] * b[qi][None]


def _t_chunk(st, idx, n, qi, ri):
    """Compute T(p; q, r, s) for the points p in ``idx``, pairs (q, r) = (qi, ri).

    Shape (P, n_pairs, N): second-order forward, then backward layer by layer.
    """
    L = len(st.W)
    d2h, d2z = _second_order_forward(st, idx, n, qi, ri)
    out = np.zeros((len(idx), len(qi), len(st.h[0])))
    d2g_next = None
    for k in range(L - 1, -1, -1):
        d2g = None
        if k < L - 1:
            d2g = _second_order_signal(st, k, idx, n, qi, ri, d2z[k], d2g_next)
        out += _t_layer(st, k, idx, n, d2h[k], d2g, qi, ri)
        d2g_next = d2g
    return out


def _second_order_forward(st, idx, n, qi, ri):
    """δ²h (layer inputs) and δ²z of the points ``idx`` for the pairs (q, r).

    δ²z_p[q,r] = δ²h_p[q,r] W + (λ_W/n)[(δh_p[q]·h_r) g_r + (δh_p[r]·h_q) g_q],
    δ²h^(ℓ+1)_p[q,r] = σ″(z_p) δz_p[q] δz_p[r] + σ'(z_p) δ²z_p[q,r];
    each (P, n_pairs, width) or None where it vanishes.
    """
    hidden = len(st.W) - 1
    d2h = [None] * len(st.W)
    d2z = [None] * hidden
    for k in range(hidden):
        d2zk = None
        if st.dh[k] is not None:
            a = st.dh[k][idx][:, :n] @ st.h[k][:n].T  # (P, n, n): δh_p[q]·h_r
            d2zk = st.lw[k] * _pair_sym(a, st.g[k][:n], qi, ri)
            if d2h[k] is not None:
                d2zk += _mm(d2h[k], st.W[k])
        dzq = st.dz[k][idx][:, :n]  # (P, n, w)
        quad = st.d2[k][idx][:, None, :] * dzq[:, qi] * dzq[:, ri]
        if d2zk is None:
            d2h[k + 1] = quad
        else:
            d2h[k + 1] = quad + st.d1[k][idx][:, None, :] * d2zk
        d2z[k] = d2zk
    return d2h, d2z


def _second_order_signal(st, k, idx, n, qi, ri, d2z, d2g_next):
    """δ²g at hidden layer k for the points ``idx`` and pairs (q, r).

    δ²u_p[q,r] = δ²g^(k+1) Wᵀ + (λ_W/n)[(δg_p[q]·g_r) h_r + (δg_p[r]·g_q) h_q],
    δ²g = σ‴ δz δz u + σ″ (δ²z u + δz[q] δu[r] + δz[r] δu[q]) + σ' δ²u.
    """
    d2u = None
    if st.dg[k + 1] is not None:
        b = st.dg[k + 1][idx][:, :n] @ st.g[k + 1][:n].T
        d2u = st.lw[k + 1] * _pair_sym(b, st.h[k + 1][:n], qi, ri)
        if d2g_next is not None:
            d2u += _mm(d2g_next, st.W[k + 1].T)
    up = st.u[k][idx][:, None, :]  # (P, 1, w)
    dzq = st.dz[k][idx][:, :n]
    duq = st.du[k][idx][:, :n]
    d1, d2, d3 = (d[idx][:, None, :] for d in (st.d1[k], st.d2[k], st.d3[k]))
    d2g = d3 * up * dzq[:, qi] * dzq[:, ri]
    cross = dzq[:, qi] * duq[:, ri] + dzq[:, ri] * duq[:, qi]
    if d2z is not None:
        cross += d2z * up
    d2g += d2 * cross
    if d2u is not None:
        d2g += d1 * d2u
    return d2g


def _t_layer(st, k, idx, n, d2h, d2g, qi, ri):
    """Layer k's part of T(p; q, r, s) for p in idx and the pairs (q, r)."""
    h, g = st.h[k], st.g[k]
    lw = st.lw[k]
    gp, hp = g[idx], h[idx]
    term = np.zeros((len(idx), len(qi), len(h)))
    if d2h is not None:  # (λ_W/n)(δ²h_p[qr]·h_s)(g_p·g_s)
        term += lw * _mm(d2h, h.T) * (gp @ g.T)[:, None, :]
    if d2g is not None:  # ((λ_W/n)(h_p·h_s) + λ_b)(δ²g_p[qr]·g_s)
        term += _mm(d2g, g.T) * _coef(st, k, hp @ h.T)[:, None, :]
    dh, dg = st.dh[k], st.dg[k]
    if dh is not None and dg is not None:
        # (λ_W/n)[(δh_p[q]·h_s)(δg_p[r]·g_s) + (q ↔ r)]
        a = _mm(dh[idx][:, :n], h.T)  # (P, n, N)
        b = _mm(dg[idx][:, :n], g.T)
        term += lw * (a[:, qi] * b[:, ri] + a[:, ri] * b[:, qi])
    return term
