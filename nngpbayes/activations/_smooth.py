"""Smooth activations with closed-form dual maps: erf, GELU, sin, cos (:ref:`theory-3`).

References
----------
.. [1] Williams, "Computing with infinite networks", NeurIPS 1997 (erf).
.. [2] Tsuchida et al., arXiv:2002.08517 (GELU).
"""

from __future__ import annotations

import numpy as np
import scipy.special as sc

from .._gelu_dual import gelu_dual, gelu_dual_diag
from ._base import Activation

__all__ = ["Erf", "GELU", "Sin", "Cos"]


class Erf(Activation):
    r"""σ(x) = erf(x) (Williams 1997).

    .. math::

        T = \frac{2}{π}\arcsin\frac{2Σ_{12}}{\sqrt{(1+2Σ_{11})(1+2Σ_{22})}},\qquad
        \dot T = \frac{4}{π}\big((1+2Σ_{11})(1+2Σ_{22}) - 4Σ_{12}^2\big)^{-1/2}

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes.activations import Erf
    >>> T, Tdot, _ = Erf().dual(np.array(1.0), np.array(1.0), np.array(1.0))
    >>> bool(np.isclose(T, 2 / np.pi * np.arcsin(2 / 3)))
    True
    """

    name = "erf"

    def __call__(self, x):
        return sc.erf(x)

    def derivative(self, x):
        return (2.0 / np.sqrt(np.pi)) * np.exp(-np.square(x))

    def second_derivative(self, x):
        return -2.0 * x * self.derivative(x)

    def third_derivative(self, x):
        return (4.0 * np.square(x) - 2.0) * self.derivative(x)

    def dual(self, q1, q2, k12, gaps=None, aux1=None, aux2=None):
        a1, a2 = 1.0 + 2.0 * q1, 1.0 + 2.0 * q2
        t = (2.0 / np.pi) * np.arcsin(2.0 * k12 / np.sqrt(a1 * a2))
        # (1+2Σ11)(1+2Σ22) - 4Σ12^2 = 1 + 2(Σ11+Σ22) + 4(Σ11Σ22 - Σ12^2),
        # each term >= 0.
        det = np.maximum(q1 * q2 - k12 * k12, 0.0)
        tdot = (4.0 / np.pi) / np.sqrt(1.0 + 2.0 * (q1 + q2) + 4.0 * det)
        return t, tdot, None

    def dual_diag(self, q, aux=None):
        t = (2.0 / np.pi) * np.arcsin(2.0 * q / (1.0 + 2.0 * q))
        return t, (4.0 / np.pi) / np.sqrt(1.0 + 4.0 * q)


class GELU(Activation):
    """σ(x) = x·Φ(x), the exact GELU (closed form of Tsuchida et al. 2020).

    Reference: arXiv:2002.08517. Ṫ follows from Price's theorem, Ṫ = ∂T/∂Σ12.
    """

    name = "gelu"

    def __call__(self, x):
        return x * sc.ndtr(x)

    def derivative(self, x):
        return sc.ndtr(x) + x * np.exp(-0.5 * np.square(x)) / np.sqrt(2.0 * np.pi)

    def second_derivative(self, x):
        return (2.0 - np.square(x)) * np.exp(-0.5 * np.square(x)) / np.sqrt(2.0 * np.pi)

    def third_derivative(self, x):
        x2 = np.square(x)
        return x * (x2 - 4.0) * np.exp(-0.5 * x2) / np.sqrt(2.0 * np.pi)

    def dual(self, q1, q2, k12, gaps=None, aux1=None, aux2=None):
        t, tdot = gelu_dual(q1, q2, k12)
        return t, tdot, None

    def dual_diag(self, q, aux=None):
        return gelu_dual_diag(q)


def _exp_pair(q1, q2, k12):
    """½e^{−(Σ11+Σ22)/2}(e^{Σ12} − e^{−Σ12}) and the same with +, stably."""
    s = 0.5 * (q1 + q2)
    minus = -0.5 * np.exp(k12 - s) * np.expm1(-2.0 * k12)  # e^{-s} sinh(Σ12)
    plus = 0.5 * (np.exp(k12 - s) + np.exp(-k12 - s))  # e^{-s} cosh(Σ12)
    return minus, plus


class Sin(Activation):
    """σ(x) = sin(x): T = e^{−(Σ11+Σ22)/2} sinh Σ12, Ṫ = e^{−(Σ11+Σ22)/2} cosh Σ12."""

    name = "sin"

    def __call__(self, x):
        return np.sin(x)

    def derivative(self, x):
        return np.cos(x)

    def second_derivative(self, x):
        return -np.sin(x)

    def third_derivative(self, x):
        return -np.cos(x)

    def dual(self, q1, q2, k12, gaps=None, aux1=None, aux2=None):
        minus, plus = _exp_pair(q1, q2, k12)
        return minus, plus, None

    def dual_diag(self, q, aux=None):
        return -0.5 * np.expm1(-2.0 * q), 0.5 * (1.0 + np.exp(-2.0 * q))


class Cos(Activation):
    """σ(x) = cos(x): T = e^{−(Σ11+Σ22)/2} cosh Σ12, Ṫ = e^{−(Σ11+Σ22)/2} sinh Σ12."""

    name = "cos"

    def __call__(self, x):
        return np.cos(x)

    def derivative(self, x):
        return -np.sin(x)

    def second_derivative(self, x):
        return -np.cos(x)

    def third_derivative(self, x):
        return np.sin(x)

    def dual(self, q1, q2, k12, gaps=None, aux1=None, aux2=None):
        minus, plus = _exp_pair(q1, q2, k12)
        return plus, minus, None

    def dual_diag(self, q, aux=None):
        return 0.5 * (1.0 + np.exp(-2.0 * q)), -0.5 * np.expm1(-2.0 * q)
