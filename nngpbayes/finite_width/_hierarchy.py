"""The NTK hierarchy of finite networks: H, O_3, O_4 (:ref:`theory-5`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._jobs import run_tasks
from .._validation import check_inputs, resolve_n_jobs
from . import _perturb

__all__ = ["NTKHierarchy", "ntk_hierarchy"]


@dataclass(frozen=True)
class NTKHierarchy:
    r"""The tensors O_2 = H, O_3, O_4 of every member at given inputs.

    With J_a = ∇_θ φ(x_a) and the learning-rate tensor λ (:ref:`theory-5`):

    .. math::

        H(a, b) = J_a^T λ J_b,\qquad
        O_3(a, b, c) = Σ_{μν} λ_{μν}\, ∂_μ H(a, b)\, ∂_ν φ(x_c),\qquad
        O_4(a, b, c, d) = Σ_{μν} λ_{μν}\, ∂_μ O_3(a, b, c)\, ∂_ν φ(x_d).

    O_3 is symmetric in its first two slots, and so is O_4; O_4 is not symmetric in
    (c, d): O_4(a,b,c,d) − O_4(a,b,d,c) = DH(a,b)[λ(Hess_c λJ_d − Hess_d λJ_c)].

    Attributes
    ----------
    ntk : ndarray of shape (n_members, n_rows, n)
    o3 : ndarray of shape (n_members, n_rows, n, n)
    o4 : ndarray of shape (n_members, n_rows, n, n, n)
    d2phi : ndarray of shape (n_members, n_rows, n, n)
        S(a; b, c) = D²φ(x_a)[λJ_b, λJ_c] (so O_3(a,b,c) = S(a;b,c) + S(b;a,c)).
    d3phi : ndarray of shape (n_members, n_rows, n, n, n)
        T(a; b, c, d) = D³φ(x_a)[λJ_b, λJ_c, λJ_d], symmetric in b, c, d.
    ntk_hessian : ndarray of shape (n_members, n_rows, n, n, n) or None
        D²H(a, b)[λJ_c, λJ_d] along fixed directions (symmetric in c, d); with
        ``steps=True`` only (the discrete-step expansion needs it).
    d2phi_flow : ndarray of shape (n_members, n_rows, n, n, n) or None
        Σ_μ λ_μ ∂_μ S(a; b, c) J_d,μ (how S moves); with ``steps=True`` only.

    Rows run over the training inputs ``X`` (then n_rows = n) or over ``X_rows``.
    """

    ntk: np.ndarray
    o3: np.ndarray
    o4: np.ndarray
    d2phi: np.ndarray
    d3phi: np.ndarray
    ntk_hessian: np.ndarray | None = None
    d2phi_flow: np.ndarray | None = None


def ntk_hierarchy(ensemble, X, X_rows=None, output=0, steps=False, n_jobs=None):
    """H, O_3 and O_4 of every member of an :class:`~nngpbayes.MLPEnsemble`.

    Exact (forward- and backward-mode directional derivatives through each
    network, to round-off), at the members' current parameters.

    Parameters
    ----------
    ensemble : MLPEnsemble
        Initialised or trained; an uninitialised one is initialised for ``X``.
    X : array-like of shape (n, n_features)
        The inputs of every slot after the first (the training inputs).
    X_rows : array-like of shape (n_rows, n_features), optional
        Inputs of the first slot (e.g. test inputs); default ``X``.
    output : int, default=0
        Output unit.
    steps : bool, default=False
        Also compute ``ntk_hessian`` and ``d2phi_flow`` (discrete-step expansion).
    n_jobs : int or None, default=None
        Workers, one member per task through joblib (a
        :func:`joblib.parallel_config` context, e.g. Dask, chooses where): None → 1
        unless such a context says otherwise, −1 → all cores. Results do not
        depend on it.

    Returns
    -------
    NTKHierarchy

    Notes
    -----
    Cost per member, with N = n + n_rows points and width w: O(N n² w²) per hidden
    layer for the second-order perturbations plus O(N² n² w) for the contractions;
    memory O(N n² w) per layer (chunked over points). See the README.

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes import MLPEnsemble
    >>> from nngpbayes.finite_width import ntk_hierarchy
    >>> X = np.linspace(-1, 1, 4)[:, None]
    >>> ens = MLPEnsemble(depth=2, width=64, activation="tanh", n_members=2,
    ...                   random_state=0)
    >>> h = ntk_hierarchy(ens, X)
    >>> h.ntk.shape, h.o3.shape, h.o4.shape
    ((2, 4, 4), (2, 4, 4, 4), (2, 4, 4, 4, 4))
    """
    resolve_n_jobs(n_jobs)
    X, R, arch, params, output = _prepare(ensemble, X, X_rows, output)
    tasks = [
        (
            [w[m] for w in params[0]],
            [b[m] for b in params[1]],
            X,
            R,
            arch,
            output,
            steps,
        )
        for m in range(len(params[0][0]))
    ]
    parts = list(run_tasks(_member_tensors, tasks, n_jobs))
    stacked = {key: np.stack([p[key] for p in parts]) for key in parts[0]}
    return NTKHierarchy(**stacked)


def _prepare(ensemble, X, X_rows, output, derivatives=True):
    """Validate the ensemble and inputs (before any long work).

    Returns
    -------
    X, X_rows : ndarray of shape (n, n_features), (n_rows, n_features) or None
    arch : Architecture
    params : (weights, biases), per layer (n_members, n_(ℓ−1), n_ℓ), (n_members, n_ℓ)
    output : int
    """
    check_ensemble(ensemble)
    X = ensemble.ensure_initialized(X, "X")  # also checks X's number of features
    R = None if X_rows is None else check_inputs(X_rows, "X_rows")
    if R is not None and R.shape[1] != ensemble.n_features_in_:
        raise ValueError(
            f"X_rows has {R.shape[1]} features, but the ensemble was built for "
            f"{ensemble.n_features_in_}"
        )
    output = ensemble.check_output(output)
    params = (ensemble.weights_, ensemble.biases_)
    check_finite_params(params)
    arch = ensemble.architecture_
    for which in ("second_derivative", "third_derivative") if derivatives else ():
        try:
            getattr(arch.activation, which)(np.zeros(1))
        except NotImplementedError as exc:
            raise ValueError(
                f"activation {arch.activation!r} cannot be used in the 1/n expansion: "
                f"{exc}"
            ) from exc
    return X, R, arch, params, output


def check_ensemble(ensemble):
    """Raise TypeError unless ``ensemble`` answers the expansion's interface.

    That is, the :class:`~nngpbayes.MLPEnsemble` interface the expansion uses.
    """
    needed = ("initialize", "ensure_initialized", "check_output", "initial_parameters")
    if not all(hasattr(ensemble, name) for name in needed):
        raise TypeError(
            f"ensemble must be an MLPEnsemble, got {type(ensemble).__name__}"
        )


def check_finite_params(params):
    """ValueError if any weight or bias of any member is NaN or infinite."""
    for layer, (w, b) in enumerate(zip(*params, strict=True)):
        if not (np.isfinite(w).all() and np.isfinite(b).all()):
            bad = np.unique(
                np.nonzero(~np.isfinite(w).reshape(len(w), -1).all(1))[0].tolist()
                + np.nonzero(~np.isfinite(b).all(1))[0].tolist()
            )
            raise ValueError(
                f"the ensemble has non-finite parameters (layer {layer}, members "
                f"{bad.tolist()}); was it trained with too large a learning rate?"
            )


def _member_tensors(weights, biases, X, R, arch, output, steps, ntk_only=False):
    """All tensors of one member; rows over X (R is None) or over R."""
    n = len(X)
    Z = X if R is None else np.vstack([X, R])
    rows = np.arange(n) if R is None else np.arange(n, len(Z))
    m = len(rows)
    st = _perturb.member_state(weights, biases, Z, arch, output, not ntk_only, n)
    H = _perturb.kernel(st)
    if ntk_only:
        return {"ntk": H[rows][:, :n]}
    S2 = _perturb.s_block(st, n)  # S2[p, q, s] = S(p; q, s)
    T2 = _perturb.t_block(st, n)  # T2[p, q, r, s] = T(p; q, r, s)
    pp, qq = np.repeat(rows, n), np.tile(np.arange(n), m)
    G_rx = _perturb.g_block(st, pp, qq, n).reshape(m, n, n, n)  # G(a, q; r, s)
    if R is None:
        G_xr = G_rx.transpose(1, 0, 2, 3)  # [a, b, c, d] = G(b, a; c, d)
    else:
        pp, qq = np.repeat(np.arange(n), m), np.tile(rows, n)
        G_xr = _perturb.g_block(st, pp, qq, n).reshape(n, m, n, n)
        G_xr = G_xr.transpose(1, 0, 2, 3)  # [a, b, c, d] = G(b, a; c, d)
    s_a = S2[rows][:, :, :n]  # S(a; b, c)
    s_b = S2[:n][:, :, rows].transpose(2, 0, 1)  # S(b; c, a) = S(b; a, c)
    t_a = T2[rows][..., :n]  # T(a; b, c, d)
    t_b = T2[:n][..., rows].transpose(3, 0, 1, 2)  # T(b; c, d, a) = T(b; a, c, d)
    g_acbd = np.einsum("acbd->abcd", G_rx)  # G(a, c; b, d)
    g_adbc = np.einsum("adbc->abcd", G_rx)  # G(a, d; b, c) = G(b, c; a, d)
    out = {
        "ntk": H[rows][:, :n],
        "o3": s_a + s_b,
        "o4": t_a + t_b + G_rx + g_acbd + G_xr + g_adbc,
        "d2phi": s_a,
        "d3phi": t_a,
    }
    if steps:
        out["ntk_hessian"] = t_a + t_b + g_acbd + g_adbc
        out["d2phi_flow"] = t_a + g_acbd + G_rx
    return out
