"""Solutions of the truncated NTK hierarchy for one member (:ref:`theory-5`).

Continuous flow (τ = η t, F = C = I): dφ/dτ = −H ε, dH/dτ = −O_3·ε,
dO_3/dτ = −O_4·ε, O_4 frozen, ε = φ(X) − y.

Discrete steps of size η (Taylor expansion of one update θ → θ − η Σ_b ε_b λJ_b,
kept to O(1/n)):

    φ ← φ − η H ε + ½η² S[ε, ε] − ⅙η³ T[ε, ε, ε]
    H ← H − η O_3[ε] + ½η² D²H[ε, ε]
    O_3 ← O_3 − η O_4[ε]
    S ← S − η DS[ε]

Two solutions of each: numerical (:func:`integrate_flow`, :func:`iterate_steps`:
the nonlinear truncated system) and the first-order perturbative closed form
(:func:`closed_form`: everything linear in the O(1/n) tensors, around the
member's own frozen-NTK solution ε⁰ = e^(−H_0 τ) ε_0). In the eigenbasis
H_0 = U diag(s) Uᵀ, α = Uᵀ ε_0, every term of the closed form is a divided
difference of e^(xτ) at nodes x = −s (or of x^K at nodes r = 1 − η s):

    ε¹_i = Σ_jl Õ_3(i,j,l) α_j α_l f[x_i, x_j, x_j + x_l]
         − Σ_jml Õ_4(i,j,m,l) α_j α_m α_l f[x_i, x_j, x_j + x_m, x_j + x_m + x_l]

and a test input x* (no restoring force: node 0) collects
φ*¹ = (the same with x_i → 0) − Σ_i H_0(x*, u_i) ∫ε¹_i.

For K steps the nodes are r = 1 − ηs, they combine by products instead of sums,
f(x) = x^K, and every O(1/n) tensor of the discrete map contributes (``_TERMS``):
e.g. the O_3 term becomes η² Σ_jl Õ_3 α_j α_l r_j f[r_i, r_j, r_j r_l] and the
S term ½η² Σ_jm S̃ α_j α_m f[r_i, r_j r_m]. As η → 0 at fixed ηK the extra terms
vanish and the flow's closed form is recovered.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from ._divdiff import divided_difference

__all__ = [
    "MemberProblem",
    "closed_form",
    "integrated_first_order",
    "closed_form_ntk",
    "rotate_rows",
    "integrate_flow",
    "iterate_steps",
]


class MemberProblem:
    """One member's training data in the eigenbasis of its initial NTK.

    Parameters
    ----------
    train : dict
        Tensors on the training rows (``ntk``, ``o3``, ``o4`` and, for steps,
        ``d2phi``, ``d3phi``, ``ntk_hessian``, ``d2phi_flow``).
    eps0 : ndarray of shape (n,)
        φ_0(X) − y.
    """

    def __init__(self, train, eps0):
        h0 = 0.5 * (train["ntk"] + train["ntk"].T)
        s, U = np.linalg.eigh(h0)
        self.s = np.clip(s, 0.0, None)  # a Gram matrix: negatives are round-off
        self.U = U
        self.alpha = U.T @ eps0
        self.rotated = {k: _rotate(v, U, 0) for k, v in train.items()}


def rotate_rows(problem, rows, start=1):
    """Prediction-row tensors, every slot from ``start`` on in the eigenbasis of H_0.

    Done once per member and set of rows; :func:`closed_form` and
    :func:`closed_form_ntk` take the result for any number of times. ``start=2``
    leaves the second slot as it is (NTK rows H(a, b) on the network's inputs
    under a forward map, :func:`closed_form_ntk` with ``back=False``).
    """
    return {k: _rotate(v, problem.U, start) for k, v in rows.items()}


def _rotate(t, U, start):
    """Every slot from ``start`` on contracted with U (into the eigenbasis)."""
    out = t
    for axis in range(start, t.ndim):
        out = np.moveaxis(np.tensordot(out, U, axes=([axis], [0])), -1, axis)
    return out


# The first-order terms. Each is Σ_slots tensor(row, j, m, l) α_j α_m α_l · factor ·
# f[prefix, nodes], with y the per-eigendirection nodes (x = −s for the flow,
# r = 1 − ηs for steps) combined by + (flow) or × (steps), "∘" below. Slots: O_3
# (j, l); S (j, m); the others (j, m, l).
#   name          nodes                           sign   η-power  factor (steps)
_TERMS = {
    "o3": (("j", "jl"), 1.0, 2, "j"),
    "o4": (("j", "jm", "jml"), -1.0, 3, "jjm"),
    "ntk_hessian": (("j", "jml"), -0.5, 3, "j"),
    "d2phi": (("jm",), 0.5, 2, ""),
    "d2phi_flow": (("jm", "jml"), -0.5, 3, "jm"),
    "d3phi": (("jml",), -1.0 / 6.0, 3, ""),
}
_FLOW_TERMS = ("o3", "o4")  # the others are O(η) per unit time: they vanish as dt → 0


def _slot_nodes(name, y, steps):
    """Nodes (n,)*k + (p,) and the steps factor of one term, k its number of slots."""
    labels, _, _, factor = _TERMS[name]
    slots = "jl" if name == "o3" else "jm" if name == "d2phi" else "jml"
    k = len(slots)
    axes = {
        c: y.reshape([-1 if i == slots.index(c) else 1 for i in range(k)])
        for c in slots
    }
    op = np.multiply if steps else np.add
    full = (len(y),) * k

    def combine(word):
        out = axes[word[0]]
        for c in word[1:]:
            out = op(out, axes[c])
        return np.broadcast_to(out, full)

    nodes = np.stack([combine(w) for w in labels], -1)
    fac = np.ones(full)
    if steps:
        for c in factor:
            fac = fac * axes[c]
    return nodes, fac


def _first_order_sum(tensors, alpha, y, prefix, kind, t, eta):
    """Σ over the terms of Σ_slots tensor · α… · factor · f[prefix, nodes], per row.

    tensors : dict of arrays (R, n, ...) with the slots after the row rotated.
    prefix : ndarray of shape (R, q), per-row leading nodes.
    """
    steps = kind == "power"
    total = 0.0
    for name in _TERMS if steps else _FLOW_TERMS:
        tens = tensors[name]
        _, sign, power, _ = _TERMS[name]
        nodes, fac = _slot_nodes(name, y, steps)
        k = nodes.ndim - 1
        R = tens.shape[0]
        lead = np.broadcast_to(
            prefix.reshape((R,) + (1,) * k + (-1,)),
            (R,) + nodes.shape[:-1] + (prefix.shape[1],),
        )
        dd = divided_difference(
            np.concatenate([lead, np.broadcast_to(nodes, (R,) + nodes.shape)], -1),
            kind,
            t,
        )
        coef = fac
        for axis in range(k):
            coef = coef * alpha.reshape([-1 if i == axis else 1 for i in range(k)])
        scale = sign * eta ** (power if steps else 0)
        total = total + scale * np.einsum(
            "r...,...,r...->r", tens, coef, dd, optimize=True
        )
    return total


def _setting(problem, time, step):
    """(kind, t, nodes y, unit node, η) of the flow or of the steps."""
    if step is None:
        return "exp", float(time), -problem.s, 0.0, 1.0
    eta = float(step)
    return "power", int(time), 1.0 - eta * problem.s, 1.0, eta


def integrated_first_order(problem, time, step=None):
    """∫_0^τ ε¹ (or Σ_(k<K) ε¹_k) in the eigenbasis of H_0, shape (n,).

    It is what a prediction input collects from the training residual's
    first-order part (prefix nodes [unit, y_i]); shared by all prediction inputs.
    """
    kind, t, y, unit, eta = _setting(problem, time, step)
    prefix = np.stack([np.full(len(y), unit), y], -1)
    return _first_order_sum(problem.rotated, problem.alpha, y, prefix, kind, t, eta)


def closed_form(problem, rows, phi0_rows, time, step=None, order=1, integrated=None):
    """φ(x*) at ``time`` for the rows' tensors (first-order perturbation theory).

    Parameters
    ----------
    problem : MemberProblem
    rows : dict of (R, n, ...) tensors of the prediction inputs, from
        :func:`rotate_rows`.
    phi0_rows : ndarray of shape (R,)
    time : float
        Flow time τ = η t (continuous), or the number of steps K (``step`` given).
    step : float or None
        η·Δt of one gradient-descent step; None for the continuous flow.
    order : {0, 1}
    integrated : ndarray of shape (n,), optional
        :func:`integrated_first_order` for this member and time, if already known.

    Returns
    -------
    ndarray of shape (R,)
    """
    kind, t, y, unit, eta = _setting(problem, time, step)
    alpha = problem.alpha
    h_rot = rows["ntk"]  # H_0(x*, u_i)
    e0 = alpha * divided_difference(np.stack([np.full(len(y), unit), y], -1), kind, t)
    out = phi0_rows - eta * (h_rot @ e0)
    if order == 0:
        return out
    direct = _first_order_sum(
        rows, alpha, y, np.full((len(phi0_rows), 1), unit), kind, t, eta
    )
    if integrated is None:
        integrated = integrated_first_order(problem, time, step)
    return out + direct - eta * (h_rot @ integrated)


def closed_form_ntk(problem, rows, time, step=None, back=True):
    """H(x_a, X) at ``time`` to first order, shape (R, n).

    ``rows`` from :func:`rotate_rows`; the result is back in the input basis. The
    second slot only passes through: with ``back=False`` it is left as given
    (rows from ``rotate_rows(..., start=2)``, any length, e.g. grid inputs).
    """
    s, alpha, U = problem.s, problem.alpha, problem.U
    n = len(s)
    aa = np.outer(alpha, alpha)
    if step is None:
        x = -s
        d1 = divided_difference(np.stack([np.zeros(n), x], -1), "exp", time)
        mm = x[:, None] + 0 * x[None, :]
        d2 = divided_difference(
            np.stack([np.zeros((n, n)), mm, x[:, None] + x[None, :]], -1), "exp", time
        )
        moved = rows["ntk"] - np.einsum("ajl,l->aj", rows["o3"], alpha * d1)
        moved += np.einsum("ajml,ml->aj", rows["o4"], aa * d2)
        return moved @ U.T if back else moved
    eta, K = float(step), int(time)
    r = 1.0 - eta * s
    d1 = divided_difference(np.stack([np.ones(n), r], -1), "power", K)
    rm = r[:, None] + 0 * r[None, :]
    rml = r[:, None] * r[None, :]
    d2 = divided_difference(np.stack([np.ones((n, n)), rm, rml], -1), "power", K)
    d3 = divided_difference(np.stack([np.ones((n, n)), rml], -1), "power", K)
    moved = rows["ntk"] - eta * np.einsum("ajl,l->aj", rows["o3"], alpha * d1)
    moved += eta**2 * np.einsum("ajml,ml->aj", rows["o4"], aa * rm * d2)
    moved += 0.5 * eta**2 * np.einsum("ajml,ml->aj", rows["ntk_hessian"], aa * d3)
    return moved @ U.T if back else moved


def integrate_flow(train, rows, y, phi0_train, phi0_rows, times, order=1):
    """Numerical solution of the truncated continuous hierarchy (τ = η t).

    Train and prediction rows are integrated together (DOP853, rtol 1e-11).

    Returns
    -------
    phi : ndarray of shape (len(times), R)
    ntk : ndarray of shape (len(times), n + R, n)  (training rows first)
    """
    n, R = len(phi0_train), len(phi0_rows)
    H = np.concatenate([train["ntk"], rows["ntk"]])
    O3 = np.concatenate([train["o3"], rows["o3"]]) if order else np.zeros((n + R, n, n))
    O4 = np.concatenate([train["o4"], rows["o4"]]) if order else None
    sizes = [n + R, (n + R) * n, (n + R) * n * n]

    def rhs(_, state):
        phi = state[: sizes[0]]
        h = state[sizes[0] : sizes[0] + sizes[1]].reshape(n + R, n)
        o3 = state[sizes[0] + sizes[1] :].reshape(n + R, n, n)
        eps = phi[:n] - y
        d_o3 = -(O4 @ eps) if O4 is not None else np.zeros_like(o3)
        return np.concatenate([-(h @ eps), -(o3 @ eps).ravel(), d_o3.ravel()])

    state0 = np.concatenate([phi0_train, phi0_rows, H.ravel(), O3.ravel()])
    times = np.asarray(times, dtype=float)
    unique, where = np.unique(times, return_inverse=True)
    states = np.empty((len(unique), len(state0)))
    start = 0
    if unique[0] == 0.0:
        states[0], start = state0, 1
    if start < len(unique):
        sol = solve_ivp(
            rhs,
            (0.0, float(unique[-1])),
            state0,
            method="DOP853",
            t_eval=unique[start:],
            rtol=1e-11,
            atol=1e-13,
        )
        if not sol.success:  # pragma: no cover - DOP853 on a polynomial field
            raise RuntimeError(f"the hierarchy ODE failed: {sol.message}")
        states[start:] = sol.y.T
    ys = states[where]
    phi = ys[:, n : n + R]
    ntk = ys[:, sizes[0] : sizes[0] + sizes[1]].reshape(len(times), n + R, n)
    return phi, ntk


def iterate_steps(train, rows, y, phi0_train, phi0_rows, n_steps, step, order=1):
    """Iterate the truncated discrete map step by step (see the module docstring).

    Parameters
    ----------
    n_steps : array-like of int
        Step counts at which to record.
    step : float
        η·Δt.

    Returns
    -------
    phi : ndarray of shape (len(n_steps), R)
    ntk : ndarray of shape (len(n_steps), n + R, n)
    """
    n = len(phi0_train)
    cat = {
        k: np.concatenate([train[k], rows[k]]) for k in (train if order else ["ntk"])
    }
    phi = np.concatenate([phi0_train, phi0_rows])
    H = cat["ntk"].copy()
    if order:
        O3, S = cat["o3"].copy(), cat["d2phi"].copy()
    eta = float(step)
    n_steps = np.asarray(n_steps, dtype=int)
    out_phi = np.empty((len(n_steps), len(phi0_rows)))
    out_ntk = np.empty((len(n_steps),) + H.shape)
    for k in range(int(n_steps.max()) + 1):
        for idx in np.nonzero(n_steps == k)[0]:
            out_phi[idx], out_ntk[idx] = phi[n:], H
        if k == n_steps.max():
            break
        eps = phi[:n] - y
        dphi = -eta * (H @ eps)
        if order:
            dphi += 0.5 * eta**2 * ((S @ eps) @ eps)
            dphi -= eta**3 / 6.0 * (((cat["d3phi"] @ eps) @ eps) @ eps)
            H = H - eta * (O3 @ eps) + 0.5 * eta**2 * ((cat["ntk_hessian"] @ eps) @ eps)
            O3 = O3 - eta * (cat["o4"] @ eps)
            S = S - eta * (cat["d2phi_flow"] @ eps)
        phi = phi + dphi
    return out_phi, out_ntk
