"""The 1/n statistics of the network ensemble at initialisation, from the recursions.

:func:`init_statistics` returns the leading finite-width coefficients of one output
component of a network with ``depth`` hidden layers of equal width n, in
:ref:`theory-1`'s parametrisation (W ~ N(0, C_W/n_(ℓ−1)), b ~ N(0, C_b), learning rates
λ_W/n_(ℓ−1) and λ_b). The recursions and their derivation are in
:mod:`nngpbayes.finite_width._init_recursion`.

References
----------
.. [1] Roberts, Yaida, Hanin, "The Principles of Deep Learning Theory" (PDLT),
   arXiv:2106.10165, ch. 4 (four-point vertex, NLO metric) and ch. 8 (NTK mean,
   D/F and A/B tensors).
.. [2] Guillen, Misof, Gerken, "Finite-width NTKs from Feynman diagrams",
   arXiv:2508.11522.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import (
    InvalidParameterError,
    check_inputs,
    check_int,
    resolve_n_jobs,
)
from ..architecture import Architecture
from ..kernels import nngp_ntk
from ._init_recursion import init_state, layer_step

__all__ = ["InitStatistics", "init_statistics"]

#: 1 − ρ² below which two inputs count as indistinguishable at some layer.
_SINGULAR = 1e-10


@dataclass(frozen=True, eq=False)
class InitStatistics:
    """Leading-order 1/n statistics of one output component at initialisation.

    With n the (equal) hidden width and ΔĤ = Ĥ − E[Ĥ]:

    .. code-block:: text

        E[z_i z_j]              = K_ij + K1_ij / n
        E[z_i z_j z_k z_l]_conn = (V[i,j,k,l] + V[i,k,j,l] + V[i,l,j,k]) / n
        E[Ĥ_ij]                 = Θ_ij + H1_ij / n
        Cov(Ĥ_ij, Ĥ_kl)         = (A[i,j,k,l] + B[i,k,j,l] + B[i,l,j,k]) / n
        Cov(Ĥ_ij, z_k z_l)      = (D[i,j,k,l] + F[i,k,j,l] + F[i,l,j,k]) / n

    all up to O(1/n²). B and F are stored in PDLT's index order
    ``B[a1, a3, a2, a4]`` (first two slots: the first index of each NTK).
    The coefficients do not depend on n (equal widths).

    Attributes
    ----------
    nngp, nngp_correction : ndarray of shape (N, N)
        K and K1.
    four_point : ndarray of shape (N, N, N, N)
        V, symmetric within each pair and under exchange of the pairs.
    ntk, ntk_correction : ndarray of shape (N, N)
        Θ and H1.
    ntk_fluctuation : tuple (A, B) of ndarray of shape (N, N, N, N)
    ntk_preactivation : tuple (D, F) of ndarray of shape (N, N, N, N)
    width : int
    architecture : Architecture
    """

    nngp: np.ndarray
    nngp_correction: np.ndarray
    four_point: np.ndarray
    ntk: np.ndarray
    ntk_correction: np.ndarray
    ntk_fluctuation: tuple
    ntk_preactivation: tuple
    width: int
    architecture: Architecture

    @property
    def depth_to_width(self) -> float:
        """L/n with L = depth + 1 layers: the size of the corrections at criticality."""
        return self.architecture.n_layers / self.width

    @property
    def kurtosis(self) -> np.ndarray:
        """Excess kurtosis E[z⁴]/E[z²]² − 3 = 3 V_aaaa / (n K_aa²) per input, (N,).

        At criticality it grows like (L/n) times a constant (PDLT ch. 5): the
        per-input measure of the distance from the Gaussian limit.
        """
        v = np.einsum("aaaa->a", self.four_point)
        return 3.0 * v / (self.width * np.diag(self.nngp) ** 2)

    @property
    def ntk_relative_variance(self) -> np.ndarray:
        """Var(Ĥ_aa) / Θ_aa² = (A_aaaa + 2 B_aaaa) / (n Θ_aa²) per input, (N,)."""
        a, b = self.ntk_fluctuation
        var = np.einsum("aaaa->a", a) + 2.0 * np.einsum("aaaa->a", b)
        return var / (self.width * np.diag(self.ntk) ** 2)

    def output_covariance(self) -> np.ndarray:
        """E[z_i z_j] = K + K1/n, shape (N, N)."""
        return self.nngp + self.nngp_correction / self.width

    def connected_four_point(self) -> np.ndarray:
        """E[z_i z_j z_k z_l] − (Wick terms of E[zz]), shape (N, N, N, N)."""
        v = self.four_point
        return (v + v.transpose(0, 2, 1, 3) + v.transpose(0, 2, 3, 1)) / self.width

    def ntk_covariance(self) -> np.ndarray:
        """Cov(Ĥ_ij, Ĥ_kl), shape (N, N, N, N)."""
        a, b = self.ntk_fluctuation
        return (a + b.transpose(0, 2, 1, 3) + b.transpose(0, 2, 3, 1)) / self.width

    def ntk_output_covariance(self) -> np.ndarray:
        """Cov(Ĥ_ij, z_k z_l), shape (N, N, N, N)."""
        d, f = self.ntk_preactivation
        return (d + f.transpose(0, 2, 1, 3) + f.transpose(0, 2, 3, 1)) / self.width


def init_statistics(X, architecture=None, width=512, *, n_jobs=None) -> InitStatistics:
    """Compute the 1/n statistics of the initial network ensemble by layer recursions.

    For one output component of a network with ``depth`` hidden layers of equal
    width n (see :class:`InitStatistics` for the definitions):

    .. code-block:: text

        E[z_i z_j]              = K_ij + K1_ij / n
        E[z_i z_j z_k z_l]_conn = (V_(ij)(kl) + V_(ik)(jl) + V_(il)(jk)) / n
        E[Ĥ_ij]                 = Θ_ij + H1_ij / n
        Cov(Ĥ_ab, Ĥ_cd)         = (A[a,b,c,d] + B[a,c,b,d] + B[a,d,b,c]) / n
        Cov(Ĥ_ab, z_c z_d)      = (D[a,b,c,d] + F[a,c,b,d] + F[a,d,b,c]) / n

    The first layer is exactly Gaussian (all tensors zero); each hidden layer adds
    one step of the recursions (PDLT ch. 4 and 8, written out in
    :mod:`nngpbayes.finite_width._init_recursion`):

    .. code-block:: text

        V'  = C_W² Cov(S_ab, S_cd) + (C_W²/4) Σ V E2[S_ab] E2[S_cd]
        K1' = C_W [½ Σ K1 E2[S_ab] + ⅛ Σ V E4[S_ab]]
        B'_{a1a3a2a4} = C_W² ⟨P_a1a2 P_a3a4⟩ Θ_a1a2 Θ_a3a4 + C_W² ⟨P_a1a3⟩⟨P_a2a4⟩ B
        (and likewise H1', A', D', F')

    with S = σσ, P = σ'σ' over one neuron z ~ N(0, K^(ℓ)) and the Gaussian
    derivative moments E2[f]_ef = ⟨∂_e∂_f f⟩, E4 (by integration by parts, no σ″).
    K and Θ are the kernels' own (:func:`~nngpbayes.kernels.nngp_ntk`); the other
    Gaussian expectations use closed forms at kinks (ABReLU family: the innermost
    integral in closed form, the others split at the kinks) and a nested
    trapezoidal rule, refined with the layer variance, for smooth σ; ⟨σσ⟩ and
    ⟨σ'σ'⟩ are the activation's own dual maps, as in the kernels.

    Parameters
    ----------
    X : array-like of shape (N, n_features)
        Inputs; two of them must not be indistinguishable at any layer (|corr| = 1,
        e.g. duplicates, or x and 2x for a homogeneous σ without bias).
    architecture : Architecture, default=Architecture()
        Any activation the kernels support, per-layer C_W, C_b, λ_W, λ_b; C_b = 0
        makes a layer bias-free.
    width : int, default=512
        The hidden width n. The coefficients do not depend on it; it sets the
        derived per-input quantities (``kurtosis``, ``depth_to_width``, ...).
    n_jobs : int, default=None
        Threads for the four-point quadrature, following joblib (``None`` means 1
        unless in a :func:`joblib.parallel_config` context, ``-1`` all cores).
        Results do not depend on it.

    Returns
    -------
    InitStatistics
        ``nngp``, ``nngp_correction`` (N, N), ``four_point`` (N, N, N, N), ``ntk``,
        ``ntk_correction`` (N, N), ``ntk_fluctuation`` = (A, B) and
        ``ntk_preactivation`` = (D, F), each (N, N, N, N).

    Raises
    ------
    InvalidParameterError
        For a bad ``width``, an ``architecture`` that is not an Architecture, or
        inputs that are indistinguishable at some layer (naming the pair).
    ValueError
        For ``X`` that is not a finite 2-D array.

    Notes
    -----
    Cost per hidden layer: the four-point moments integrate each set of up to four
    distinct inputs once, all patterns (σσσσ, σ'σ'σ'σ', σ'σ'σσ) on one grid: C(N, 4)
    four-dimensional nested quadratures of about 31⁴–43⁴ points for smooth σ
    (60³ with the innermost level in closed form for kinked σ), plus C(N, 3)
    three-dimensional and O(N²) small ones. Time therefore grows like N⁴/24 (N = 8
    at depth 4: 15–35 s on 2 loaded cores, ``benchmarks/bench_init_statistics.py``;
    N = 12 at depth 1: ~40 s for tanh) and memory like N⁴ (each returned tensor is
    8 N⁴ bytes, plus a few N⁴ scratch arrays and ~16 MB of quadrature chunks).
    Accuracy: round-off for the identity and for kinked σ on one input; ~1e-10 on
    one or two inputs; on four distinct inputs ~1e-9 (ReLU), ~1e-10 (GELU), and for
    tanh ~1e-10 at layer variances ≲ 1, ~1e-7 at 2 and ~1e-5 at 4.

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes import Architecture
    >>> from nngpbayes.finite_width import init_statistics
    >>> X = np.array([[1.0, 0.0], [0.6, 0.8]])
    >>> st = init_statistics(X, Architecture(depth=2, weight_variance=2.0), width=64)
    >>> st.four_point.shape
    (2, 2, 2, 2)
    """
    X = check_inputs(X, "X")
    arch = Architecture() if architecture is None else architecture
    if not isinstance(arch, Architecture):
        raise InvalidParameterError(
            f"architecture must be an nngpbayes.Architecture, got {architecture!r}"
        )
    width = check_int(width, "width", min_val=1)
    n_workers = resolve_n_jobs(n_jobs)
    kernels = _layer_kernels(X, arch)
    _check_distinguishable(kernels, arch.depth)
    state = init_state(X.shape[0])
    for layer in range(arch.depth):  # PDLT layer ℓ = layer + 1 → ℓ + 1
        K, theta = kernels[layer]
        T, Tdot = _duals(K, arch.activation)
        hp = (arch.weight_variance[layer + 1], arch.weight_lr[layer + 1])
        state = layer_step(state, K, theta, T, Tdot, hp, arch.activation, n_workers)
    K, theta = kernels[-1]
    return InitStatistics(
        nngp=K,
        nngp_correction=state["K1"],
        four_point=state["V"],
        ntk=theta,
        ntk_correction=state["H1"],
        ntk_fluctuation=(state["A"], state["B"]),
        ntk_preactivation=(state["D"], state["F"]),
        width=width,
        architecture=arch,
    )


def _layer_kernels(X, arch):
    """[(K^(ℓ), Θ^(ℓ)) for ℓ = 1..L], each (N, N), by the kernels' recursion."""
    out = []
    for layer in range(arch.n_layers):
        sub = Architecture(
            depth=layer,
            activation=arch.activation,
            weight_variance=arch.weight_variance[: layer + 1],
            bias_variance=arch.bias_variance[: layer + 1],
            weight_lr=arch.weight_lr[: layer + 1],
            bias_lr=arch.bias_lr[: layer + 1],
        )
        K, theta = nngp_ntk(X, architecture=sub)
        out.append((0.5 * (K + K.T), 0.5 * (theta + theta.T)))
    return out


def _check_distinguishable(kernels, depth):
    """Refuse inputs with zero variance or |corr| = 1 at a hidden layer."""
    for layer in range(depth):
        K = kernels[layer][0]
        q = np.diag(K)
        if np.any(q <= 0):
            bad = int(np.argmin(q))
            raise InvalidParameterError(
                f"X[{bad}] has zero variance at hidden layer {layer + 1} (a zero "
                "input without bias): the 1/n expansion needs K(x, x) > 0"
            )
        gap = 1.0 - K**2 / np.outer(q, q)
        np.fill_diagonal(gap, 1.0)
        if np.any(gap < _SINGULAR):
            i, j = np.unravel_index(np.argmin(gap), gap.shape)
            raise InvalidParameterError(
                f"X[{i}] and X[{j}] are indistinguishable at hidden layer {layer + 1} "
                f"(1 - corr² = {gap[i, j]:.1e}): remove duplicates (or inputs that are "
                "multiples of each other for a homogeneous activation without bias)"
            )


def _duals(K, activation):
    """⟨σ_a σ_b⟩ and ⟨σ'_a σ'_b⟩ at K by the activation's own dual maps, (N, N)."""
    q = np.diag(K).copy()
    aux = activation.prepare(q)
    a1 = a2 = None
    if aux is not None:
        a1 = tuple(x[:, :, None] for x in aux)
        a2 = tuple(x[:, None, :] for x in aux)
    root = np.sqrt(q)
    norms = root[:, None] * root[None, :]
    minus, plus = norms - K, norms + K
    np.fill_diagonal(minus, 0.0)
    np.fill_diagonal(plus, 2.0 * q)
    T, Tdot, _ = activation.dual(q[:, None], q[None, :], K, (minus, plus), a1, a2)
    T, Tdot = 0.5 * (T + T.T), 0.5 * (Tdot + Tdot.T)
    td, tdd = activation.dual_diag(q, aux)
    np.fill_diagonal(T, td)
    np.fill_diagonal(Tdot, tdd)
    return T, Tdot
