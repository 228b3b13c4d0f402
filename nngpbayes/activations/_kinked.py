"""The kinked family σ(x) = a·min(x, 0) + b·max(x, 0) (:ref:`theory-3`).

Closed-form dual maps (arc-cosine kernels) with the angle taken from cosine gaps
carried without cancellation, so that identical, nearly identical and opposite
inputs are exact ("the arccos trap" of :ref:`theory-3`). :class:`ReLU`,
:class:`LeakyReLU`, :class:`Abs` and :class:`Identity` are special cases of
:class:`ABReLU`.

References
----------
.. [1] Cho & Saul, "Kernel methods for deep learning", NeurIPS 2009 (arc-cosine).
.. [2] Novak et al., neural-tangents, arXiv:1912.02803 (ABReLU family).
"""

from __future__ import annotations

import numbers

import numpy as np

from ._base import Activation

__all__ = ["ABReLU", "ReLU", "LeakyReLU", "Abs", "Identity"]


class ABReLU(Activation):
    r"""σ(x) = a·min(x, 0) + b·max(x, 0).

    .. math::

        T = \frac{(a-b)^2}{2π}\sqrt{Σ_{11}Σ_{22} - Σ_{12}^2}
            + \Big(\frac{a^2+b^2}{2} - \frac{(a-b)^2 θ}{2π}\Big) Σ_{12},\qquad
        \dot T = \frac{a^2+b^2}{2} - \frac{(a-b)^2 θ}{2π}

    (:ref:`theory-3`). The angle θ = atan2(S, Σ12) uses the sine part
    S = sqrt(g₋ g₊) with the cosine gaps g∓ = √(Σ11Σ22) ∓ Σ12 carried without
    cancellation, so θ is exact for identical, nearly identical, parallel and
    opposite inputs: no arccos of a correlation that rounds to ±1. The next gaps
    are G∓ = ((a²+b²)/2)·g∓ ∓ ((a−b)²/2π)(S − θΣ12), where S − θΣ12 >= 0 is O(θ³)
    at θ → 0.

    Parameters
    ----------
    a, b : float
        Slopes for negative and positive inputs.

    Examples
    --------
    ReLU at two orthogonal unit-variance inputs: T = 1/(2π) and Ṫ = 1/4.

    >>> import numpy as np
    >>> from nngpbayes.activations import ReLU
    >>> T, Tdot, _ = ReLU().dual(1.0, 1.0, 0.0, gaps=(1.0, 1.0))
    >>> bool(np.isclose(T, 1 / (2 * np.pi))), float(Tdot)
    (True, 0.25)
    >>> ReLU().dual_diag(2.0)  # E[relu(u)²] = q/2 and E[relu'(u)²] = 1/2
    (1.0, 0.5)
    """

    exact_angle = True
    name = "abrelu"

    def __init__(self, a: float = 0.0, b: float = 1.0):
        for label, val in (("a", a), ("b", b)):
            if not isinstance(val, numbers.Real) or not np.isfinite(val):
                raise ValueError(
                    f"ABReLU slope {label} must be a finite real, got {val!r}"
                )
        self.a, self.b = float(a), float(b)

    def _params(self):
        return (self.a, self.b)

    def __call__(self, x):
        out = np.maximum(x, 0.0)
        if self.b != 1.0:
            out *= self.b
        if self.a != 0.0:
            out += self.a * np.minimum(x, 0.0)
        return out

    def derivative(self, x):
        out = np.greater(x, 0.0).astype(float)  # σ' = a + (b − a)·1[x > 0]
        if self.b - self.a != 1.0:
            out *= self.b - self.a
        if self.a != 0.0:
            out += self.a
        return out

    def second_derivative(self, x):
        """0 away from the kink (the kink lies outside any Taylor expansion)."""
        return np.zeros(np.shape(x))

    def third_derivative(self, x):
        return np.zeros(np.shape(x))

    def dual(self, q1, q2, k12, gaps=None, aux1=None, aux2=None):
        a, b = self.a, self.b
        even = 0.5 * (a * a + b * b)
        minus, plus = gaps
        if a == b:  # linear: T = a^2 Σ12, no angle needed
            return even * k12, even + 0.0 * k12, (even * minus, even * plus)
        odd = (a - b) ** 2 / (2.0 * np.pi)
        if all(isinstance(x, np.ndarray) for x in (q1, q2, k12, minus, plus)):
            return _abrelu_inplace(even, odd, k12, minus, plus)
        # docs/theory §3 (arccos trap): S^2 = (√(Σ11Σ22) − Σ12)(√(Σ11Σ22) + Σ12).
        sine = np.sqrt(np.maximum(minus, 0.0) * np.maximum(plus, 0.0))
        theta = np.arctan2(sine, k12)
        tdot = even - odd * theta
        t = odd * sine + tdot * k12
        bend = odd * (sine - theta * k12)  # >= 0, O(θ³) at θ → 0
        return t, tdot, (np.maximum(even * minus - bend, 0.0), even * plus + bend)

    def dual_diag(self, q, aux=None):
        even = 0.5 * (self.a**2 + self.b**2)
        return even * q, even + 0.0 * q


def _abrelu_inplace(even, odd, k12, minus, plus):
    """Evaluate :meth:`ABReLU.dual` for plain arrays, in place.

    The same formulas with in-place operations on block-sized buffers (the hot path
    of large Gram matrices).
    """
    sine = np.maximum(minus, 0.0)
    np.multiply(sine, np.maximum(plus, 0.0), out=sine)
    np.sqrt(sine, out=sine)
    theta = np.arctan2(sine, k12)
    bend = np.multiply(theta, k12)
    np.subtract(sine, bend, out=bend)
    np.multiply(bend, odd, out=bend)  # odd (S − θΣ12)
    g_minus = np.multiply(minus, even)
    np.subtract(g_minus, bend, out=g_minus)
    np.maximum(g_minus, 0.0, out=g_minus)
    g_plus = np.multiply(plus, even)
    np.add(g_plus, bend, out=g_plus)
    tdot = np.multiply(theta, -odd, out=theta)
    np.add(tdot, even, out=tdot)
    t = np.multiply(sine, odd, out=sine)
    np.multiply(tdot, k12, out=bend)
    np.add(t, bend, out=t)
    return t, tdot, (g_minus, g_plus)


class ReLU(ABReLU):
    """σ(x) = max(x, 0) (arc-cosine kernel of degree 1, Cho & Saul 2009)."""

    name = "relu"

    def __init__(self):
        super().__init__(0.0, 1.0)

    def _params(self):
        return ()


class LeakyReLU(ABReLU):
    """σ(x) = max(x, 0) + α·min(x, 0) (= ABReLU(α, 1)).

    Parameters
    ----------
    negative_slope : float, default=0.01
        α, the slope for negative inputs.
    """

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01):
        super().__init__(negative_slope, 1.0)
        self.negative_slope = self.a

    def _params(self):
        return (self.negative_slope,)


class Abs(ABReLU):
    """σ(x) = abs(x) (= ABReLU(−1, 1))."""

    name = "abs"

    def __init__(self):
        super().__init__(-1.0, 1.0)

    def _params(self):
        return ()


class Identity(ABReLU):
    """σ(x) = x: T = Σ12, Ṫ = 1 (the network is linear; :ref:`theory-3`)."""

    name = "identity"

    def __init__(self):
        super().__init__(1.0, 1.0)

    def _params(self):
        return ()

    def __call__(self, x):
        return np.asarray(x, dtype=float) * 1.0

    def derivative(self, x):
        return np.ones_like(np.asarray(x, dtype=float))
