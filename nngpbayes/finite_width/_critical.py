r"""Criticality.

The (C_W, C_b) at which the kernel of a deep network neither grows nor decays.

For one input the kernel recursion K' = C_b + C_W ⟨σ²⟩_K has a fixed point K*, and
its two susceptibilities there (PDLT ch. 5) are

.. math::

    χ_⊥ = C_W ⟨σ'^2⟩_{K^*},\qquad
    χ_∥ = C_W \frac{∂⟨σ^2⟩_K}{∂K}\Big|_{K^*} = C_W ⟨σ'^2 + σσ''⟩_{K^*}.

Criticality is χ_∥ = χ_⊥ = 1: C_W = 1/⟨σ'²⟩_{K*} with ⟨σσ''⟩_{K*} = 0 and
C_b = K* − C_W⟨σ²⟩_{K*} ≥ 0. ⟨σσ''⟩ comes from integration by parts,
⟨σσ''⟩ = ½ ⟨σ²(z² − K)⟩/K² − ⟨σ'²⟩, so kinks need no care.

- Scale-invariant σ (ReLU, leaky ReLU, |x|, linear): ⟨σσ''⟩ ≡ 0, every K* is
  critical with C_b = 0 and C_W = 2/(a² + b²) (ReLU: (2, 0)).
- σ with a root K* > 0 of ⟨σσ''⟩ and C_b ≥ 0 there (GELU ≈ (1.98305826,
  0.17292239), SiLU, ...): that point.
- Otherwise, σ(0) = 0 and σ'(0) ≠ 0 (the K* = 0 class: tanh, erf, sin): the
  limit K* → 0, C_W = 1/σ'(0)², C_b = 0 (tanh: (1, 0)).

References
----------
.. [1] Roberts, Yaida, Hanin, arXiv:2106.10165 (PDLT), ch. 5.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from ..activations import ABReLU, get_activation
from ._init_gauss import gaussian_products

__all__ = ["critical_initialization"]

#: Variances scanned for a sign change of ⟨σσ''⟩_K.
_GRID = np.geomspace(1e-4, 1e2, 241)


def critical_initialization(activation) -> tuple[float, float]:
    """Return the critical initialisation (C_W, C_b) of an activation: χ_∥ = χ_⊥ = 1.

    Parameters
    ----------
    activation : str or Activation
        Any activation of :mod:`nngpbayes.activations`.

    Returns
    -------
    weight_variance, bias_variance : float
        C_W and C_b (module docstring: the three cases and the formulas).

    Raises
    ------
    ValueError
        If the activation has no critical point (no root of ⟨σσ''⟩ with C_b ≥ 0,
        and σ(0) ≠ 0 or σ'(0) = 0).

    Examples
    --------
    >>> from nngpbayes.finite_width import critical_initialization
    >>> critical_initialization("relu")
    (2.0, 0.0)
    >>> critical_initialization("tanh")
    (1.0, 0.0)
    """
    act = get_activation(activation)
    if isinstance(act, ABReLU):
        return 2.0 / (act.a**2 + act.b**2), 0.0
    values = np.array([_curvature(act, k) for k in _GRID])
    signs = np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[0]
    for i in signs:
        k_star = brentq(
            lambda k: _curvature(act, k), _GRID[i], _GRID[i + 1], xtol=1e-15, rtol=1e-15
        )
        sig2, dsig2, _ = _moments(act, k_star)
        cw = 1.0 / dsig2
        cb = k_star - cw * sig2
        if cb >= 0:
            return float(cw), float(cb)
    s0, d0 = float(act(np.zeros(1))[0]), float(act.derivative(np.zeros(1))[0])
    if s0 == 0.0 and d0 != 0.0:
        return 1.0 / d0**2, 0.0
    raise ValueError(
        f"activation {act!r} has no critical point: ⟨σσ''⟩ has no root with "
        f"C_b >= 0 for K in [{_GRID[0]:g}, {_GRID[-1]:g}], and σ(0) = {s0:g}, "
        f"σ'(0) = {d0:g} (the K* = 0 class needs σ(0) = 0, σ'(0) ≠ 0)"
    )


def _moments(act, k):
    """⟨σ²⟩, ⟨σ'²⟩ and ⟨σ² z²⟩ at z ~ N(0, k)."""
    pats = np.array([[[0, 2, 0]], [[0, 0, 2]], [[2, 2, 0]]])
    vals = gaussian_products(np.array([[[k]]]), pats, act)[0]
    return vals[0], vals[1], vals[2]


def _curvature(act, k):
    """⟨σσ''⟩_K / ⟨σ'²⟩_K = (½⟨σ²(z² − K)⟩/K² − ⟨σ'²⟩) / ⟨σ'²⟩."""
    sig2, dsig2, sig2z2 = _moments(act, k)
    return (0.5 * (sig2z2 - k * sig2) / k**2 - dsig2) / dsig2
