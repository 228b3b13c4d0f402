r"""Closed-form Gaussian dual maps of the exact GELU, σ(x) = x Φ(x) (private).

With :math:`(u, v) \sim N(0, [[Σ_{11}, Σ_{12}], [Σ_{12}, Σ_{22}]])` (:ref:`theory-3`),
:func:`gelu_dual` returns :math:`T = E[σ(u)σ(v)]` and
:math:`\dot T = E[σ'(u)σ'(v)]`, :math:`σ'(x) = Φ(x) + xφ(x)`, in the closed form of
Tsuchida et al. [1]_; :func:`gelu_dual_diag` returns the same at
:math:`Σ_{11} = Σ_{22} = Σ_{12} = q`.

Both are written with arithmetic operators and the ufuncs ``np.sqrt`` and
``np.arctan2`` only (no comparisons, no ``np.where``), so evaluating them on the
forward-mode :class:`nngpbayes._dual.Dual` numbers gives exact hyperparameter
derivatives.

Numerical form
--------------
The published form (see :func:`gelu_dual`) is exact but, for anti-correlated inputs
with large variances (:math:`Σ_{12} \to -\sqrt{Σ_{11}Σ_{22}}`), it is a difference of
terms of size :math:`O(Σ)` whose result is :math:`O(Σ^{-1/2})`: it loses about
:math:`\log_{10} Σ` digits. The code uses an algebraically identical arrangement in
which the cancelling parts are gathered into

.. math::

    F(α) = \sin α - α\cos α, \qquad E(α) = α - \sin α\cos α,

two non-negative functions of :math:`α \in (0, π)` that are :math:`O(α^3)` at small
:math:`α`; each is a blend of its Taylor series and the direct difference, accurate to
~5e-16 relative on the whole interval (:func:`_f_and_e`). The angle is
:math:`α = \operatorname{atan2}(\sqrt D, -Σ_{12})` with
:math:`D = 1 + Σ_{11} + Σ_{22} + (Σ_{11}Σ_{22} - Σ_{12}^2) \ge 1`, so no square root
ever sees zero and no arccos/arcsin is taken near ±1, also for identical or opposite
inputs (:ref:`theory-3`, "numerical care").

What is left is the conditioning of the map itself: near
:math:`Σ_{12} = -\sqrt{Σ_{11}Σ_{22}}` with large variances, a relative change ε of an
input changes :math:`T` by up to ~Σε and :math:`\dot T` by more (it changes sign
there). Against a 50-digit evaluation at 6000 random points (variances log-uniform in
[1e-8, 1e4], c in [-1, 1] including ±1 and ±0.999999) the relative error was at most
2κε, κ the condition number with respect to the inputs: median 1e-16, 99th
percentile 7e-16 (T) and 6e-14 (Ṫ), largest 3.5e-14 (T) and 1.7e-11 (Ṫ), both at
c ≈ -1 with variances ~1e3-1e4.

References
----------
.. [1] R. Tsuchida, T. Pearce, C. van der Heide, F. Roosta, M. Gallagher, "Avoiding
   kernel fixed points: computing with ELU and GELU infinite networks", AAAI 2021,
   arXiv:2002.08517.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gelu_dual", "gelu_dual_diag"]

_TWO_PI = 2.0 * np.pi


def _factorial(n: int) -> int:
    out = 1
    for j in range(2, n + 1):
        out *= j
    return out


# Taylor coefficients, alpha**3 * sum_k c_k alpha**(2k) (k = 0, 1, ...):
#   F(a) = sin a - a cos a = sum_{k>=1} (-1)^(k+1) 2k a^(2k+1) / (2k+1)!
#   E(a) = a - sin a cos a = sum_{k>=1} (-1)^(k+1) 4^k a^(2k+1) / (2k+1)!
# The first omitted term at a = pi is below 1e-19 (F, 16 terms) and 1e-18 (E, 20
# terms) of the function's value. Near pi the alternating sums lose ~1 digit, but
# there _f_and_e weights them by cos^2(a/2) -> 0.
_F_COEF = tuple((-1) ** (k + 1) * 2 * k / _factorial(2 * k + 1) for k in range(1, 17))
_E_COEF = tuple((-1) ** (k + 1) * 4**k / _factorial(2 * k + 1) for k in range(1, 21))


def _odd_series(coef, alpha):
    """``alpha**3 * sum_k coef[k] * alpha**(2k)`` by Horner's rule."""
    x = alpha * alpha
    acc = coef[-1]
    for c in coef[-2::-1]:
        acc = acc * x + c
    return acc * x * alpha


def _f_and_e(alpha, sin_a, cos_a):
    """``F = sin α - α cos α`` and ``E = α - sin α cos α`` to ~5e-16 relative on (0, π).

    Each is the blend ``cos²(α/2) * series + sin²(α/2) * direct``: the Taylor series
    is exact in relative terms at small α, where the direct difference cancels; the
    direct form has no cancellation for α ≥ π/2, where the alternating series loses
    ~1 digit. The weights, ``(1 ± cos α)/2``, damp each form's error where it grows.
    """
    w_series = 0.5 * (1.0 + cos_a)
    w_direct = 0.5 * (1.0 - cos_a)
    f = w_series * _odd_series(_F_COEF, alpha) + w_direct * (sin_a - alpha * cos_a)
    e = w_series * _odd_series(_E_COEF, alpha) + w_direct * (alpha - sin_a * cos_a)
    return f, e


def gelu_dual(s11, s22, s12):
    r"""Gaussian dual maps :math:`(T, \dot T)` of the exact GELU σ(x) = x Φ(x).

    With :math:`(u, v) \sim N(0, [[Σ_{11}, Σ_{12}], [Σ_{12}, Σ_{22}]])`,
    :math:`T = E[σ(u)σ(v)]` and :math:`\dot T = E[σ'(u)σ'(v)] = ∂T/∂Σ_{12}`
    (:ref:`theory-3`; closed form of Tsuchida et al. [1]_). With
    :math:`A = (1 + Σ_{11})(1 + Σ_{22})`, :math:`δ = Σ_{11}Σ_{22} - Σ_{12}^2`,
    :math:`D = A - Σ_{12}^2 = 1 + Σ_{11} + Σ_{22} + δ` and
    :math:`α = \arccos(-Σ_{12}/\sqrt A) = π/2 + \arcsin(Σ_{12}/\sqrt A)`:

    .. math::

        T = \frac{Σ_{12}}{4} + \frac{Σ_{12}}{2π}\arcsin\frac{Σ_{12}}{\sqrt A}
            + \frac{Σ_{11}Σ_{22} D + Σ_{12}^2}{2π A \sqrt D},

        \dot T = \frac14 + \frac1{2π}\arcsin\frac{Σ_{12}}{\sqrt A}
            + \frac{Σ_{12}\,[(3 + Σ_{11} + Σ_{22}) D + Σ_{12}^2]}{2π A D^{3/2}}.

    They are evaluated in the identical, cancellation-free arrangement

    .. math::

        2πT = \frac{Σ_{11}Σ_{22}}{\sqrt A} F(α) + \frac{Σ_{12}^2}{A\sqrt D}
            + \frac{(1 + Σ_{11} + Σ_{22}) Σ_{12}}{A} α,
        \qquad
        2π\dot T = E(α) + \frac{Σ_{12}\,[(2 - δ) D + Σ_{12}^2]}{A D^{3/2}},

    with :math:`α = \operatorname{atan2}(\sqrt D, -Σ_{12})`,
    :math:`F(α) = \sin α - α\cos α` and :math:`E(α) = α - \sin α\cos α` (see the
    module docstring).

    Parameters
    ----------
    s11, s22 : float or ndarray
        Variances :math:`Σ_{11}, Σ_{22} \ge 0`.
    s12 : float or ndarray
        Covariance, :math:`|Σ_{12}| \le \sqrt{Σ_{11}Σ_{22}}`; the end points (identical
        or opposite inputs) need no special care. ``s11 = s22 = s12 = 0`` gives
        (0, 1/4).

    Returns
    -------
    T, Tdot : ndarray
        Of the broadcast shape of the inputs.

    Notes
    -----
    Uses only arithmetic and ``np.sqrt``/``np.arctan2``, so inputs may be any type
    implementing them through ``__array_ufunc__`` (e.g. :class:`nngpbayes._dual.Dual`).
    Lists are not converted: pass arrays. The result is exactly symmetric in
    (``s11``, ``s22``). Accuracy: relative error a few 1e-16, except where the map is
    ill-conditioned (``s12`` close to ``-sqrt(s11 * s22)`` with large variances; see
    the module docstring).
    """
    p = s11 * s22
    tr = s11 + s22
    a = (1.0 + s11) * (1.0 + s22)
    root_a = np.sqrt(a)
    delta = p - s12 * s12  # >= 0; exactly 0 for identical inputs
    d = 1.0 + tr + delta  # = A - Σ12^2 >= 1 + Σ11 + Σ22 > 0
    root_d = np.sqrt(d)
    alpha = np.arctan2(root_d, -s12)  # arccos(-Σ12/√A), exact near c = ±1
    f, e = _f_and_e(alpha, root_d / root_a, -s12 / root_a)
    # docs/theory §3 / [1]: 2πT and 2πṪ in the cancellation-free arrangement above.
    t = p * f / root_a + s12 * s12 / (a * root_d) + (1.0 + tr) * s12 * alpha / a
    tdot = e + s12 * ((2.0 - delta) * d + s12 * s12) / (a * d * root_d)
    return t / _TWO_PI, tdot / _TWO_PI


def gelu_dual_diag(q):
    r"""Diagonal dual maps of the exact GELU: :func:`gelu_dual` at Σ11 = Σ22 = Σ12 = q.

    :math:`T_d(q) = E[σ(\sqrt q z)^2]`, :math:`\dot T_d(q) = E[σ'(\sqrt q z)^2]`,
    :math:`z \sim N(0, 1)` (:ref:`theory-3`; Tsuchida et al. [1]_). With
    :math:`α = \operatorname{atan2}(\sqrt{1 + 2q}, -q) = π/2 + \arcsin(q/(1 + q))`:

    .. math::

        T_d = \frac{1}{2π}\left[q α + \frac{2q^2}{(1 + q)\sqrt{1 + 2q}}\right],
        \qquad
        \dot T_d = \frac{1}{2π}\left[α + \frac{q(3 + 5q)}{(1 + q)(1 + 2q)^{3/2}}\right].

    All terms are non-negative, so both are accurate to a few 1e-16 relative; they
    agree with ``gelu_dual(q, q, q)`` to that level.

    Parameters
    ----------
    q : float or ndarray
        Variance, ``q >= 0`` (``q = 0`` gives (0, 1/4)).

    Returns
    -------
    T_d, Tdot_d : ndarray
        Of the shape of ``q``.
    """
    d = 1.0 + 2.0 * q
    root_d = np.sqrt(d)
    alpha = np.arctan2(root_d, -q)
    # docs/theory §3 / [1] at Σ11 = Σ22 = Σ12 = q: every term is >= 0.
    t = q * alpha + 2.0 * q * q / ((1.0 + q) * root_d)
    tdot = alpha + q * (3.0 + 5.0 * q) / ((1.0 + q) * d * root_d)
    return t / _TWO_PI, tdot / _TWO_PI
