"""Activation functions and their Gaussian dual maps (THEORY.md §3).

Every activation σ answers the same small interface:

- ``act(x)``, ``act.derivative(x)``: σ and σ' (vectorised);
- ``act.dual(q1, q2, k12, gaps)`` → ``(T, Tdot, G)``, elementwise over broadcast
  arrays, with (u, v) ~ N(0, [[q1, k12], [k12, q2]]):

  .. math::

      T = E[σ(u)σ(v)],\\quad \\dot T = E[σ'(u)σ'(v)],\\quad
      G_∓ = \\sqrt{T(q_1,q_1,q_1)\\,T(q_2,q_2,q_2)} ∓ T;

  the "cosine gaps" ``gaps = (sqrt(q1 q2) - k12, sqrt(q1 q2) + k12)`` and ``G``
  (the same pair one layer up) are used only by activations with
  ``exact_angle = True`` (the kinked ABReLU family): they need the angle between
  nearly identical or opposite inputs to full precision (the "arccos trap" of
  THEORY.md §3), and gaps carried along without cancellation give it. Others
  return ``G = None`` and ignore ``gaps``;
- ``act.prepare(q)`` → per-input data ``aux`` for one layer (``None`` for closed
  forms; Hermite coefficients for quadrature), passed to ``dual`` as ``aux1, aux2``;
- ``act.dual_diag(q, aux)`` → ``(T, Tdot)`` at ``q1 = q2 = k12 = q``.

Closed forms: :class:`ABReLU` (with :class:`ReLU`, :class:`LeakyReLU`, :class:`Abs`,
:class:`Identity`), :class:`Erf`, :class:`GELU`, :class:`Sin`, :class:`Cos`. By 2-D
Hermite expansion with Gauss–Hermite coefficients (``degree`` terms, the accuracy knob):
:class:`Tanh`, :class:`Sigmoid`, :class:`Softplus`, :class:`Swish` and a user's
:class:`Elementwise`. Dual maps are written with NumPy ufuncs only, so the same code
gives hyperparameter gradients through :mod:`nngpbayes._dual`.

References
----------
.. [1] Cho & Saul, "Kernel methods for deep learning", NeurIPS 2009 (arc-cosine).
.. [2] Williams, "Computing with infinite networks", NeurIPS 1997 (erf).
.. [3] Tsuchida et al., arXiv:2002.08517 (GELU).
.. [4] Novak et al., neural-tangents, arXiv:1912.02803 (ABReLU family).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np
import scipy.special as sc

from ._dual import value_of
from ._gelu_dual import gelu_dual, gelu_dual_diag
from ._quadrature import (
    hermite_coefficients,
    mehler_sum,
    mehler_sum_adaptive,
    tail_sums,
    warn_tail,
)

__all__ = [
    "Activation",
    "ABReLU",
    "ReLU",
    "LeakyReLU",
    "Abs",
    "Identity",
    "Erf",
    "GELU",
    "Sin",
    "Cos",
    "QuadratureActivation",
    "Tanh",
    "Sigmoid",
    "Softplus",
    "Swish",
    "Elementwise",
    "get_activation",
    "ACTIVATIONS",
    "DEFAULT_QUADRATURE_DEGREE",
]

#: Default number of Hermite-series terms for quadrature activations (None: adaptive).
DEFAULT_QUADRATURE_DEGREE = None


class Activation:
    """Base class: σ, σ' and the dual maps (see the module docstring)."""

    #: Whether :meth:`dual` consumes ``gaps`` and returns ``G`` (kinked activations).
    exact_angle = False
    name = "activation"

    def __call__(self, x):
        raise NotImplementedError

    def derivative(self, x):
        raise NotImplementedError

    def second_derivative(self, x):
        """σ″(x) (hyperparameter gradients and the 1/n expansion)."""
        raise NotImplementedError(f"{type(self).__name__} has no second derivative")

    def third_derivative(self, x):
        """σ‴(x) (the 1/n expansion, :mod:`nngpbayes.finite_width`)."""
        raise NotImplementedError(f"{type(self).__name__} has no third derivative")

    def prepare(self, q, min_terms=0):
        """Per-input data for :meth:`dual` at one layer (``None`` for closed forms)."""
        return None

    def dual(self, q1, q2, k12, gaps=None, aux1=None, aux2=None):
        raise NotImplementedError

    def dual_diag(self, q, aux=None):
        raise NotImplementedError

    def _params(self):
        return ()

    def __eq__(self, other):
        return type(self) is type(other) and self._params() == other._params()

    def __hash__(self):
        return hash((type(self).__name__, self._params()))

    def __repr__(self):
        args = ", ".join(repr(p) for p in self._params())
        return f"{type(self).__name__}({args})"


class ABReLU(Activation):
    """σ(x) = a·min(x, 0) + b·max(x, 0).

    .. math::

        T = \\frac{(a-b)^2}{2π}\\sqrt{Σ_{11}Σ_{22} - Σ_{12}^2}
            + \\Big(\\frac{a^2+b^2}{2} - \\frac{(a-b)^2 θ}{2π}\\Big) Σ_{12},\\qquad
        \\dot T = \\frac{a^2+b^2}{2} - \\frac{(a-b)^2 θ}{2π}

    (THEORY.md §3). The angle θ = atan2(S, Σ12) uses the sine part
    S = sqrt(g₋ g₊) with the cosine gaps g∓ = √(Σ11Σ22) ∓ Σ12 carried without
    cancellation, so θ is exact for identical, nearly identical, parallel and
    opposite inputs: no arccos of a correlation that rounds to ±1. The next gaps
    are G∓ = ((a²+b²)/2)·g∓ ∓ ((a−b)²/2π)(S − θΣ12), where S − θΣ12 >= 0 is O(θ³)
    at θ → 0.

    Parameters
    ----------
    a, b : float
        Slopes for negative and positive inputs.
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
        # THEORY.md §3 (arccos trap): S^2 = (√(Σ11Σ22) − Σ12)(√(Σ11Σ22) + Σ12).
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
    """:meth:`ABReLU.dual` for plain arrays, the same formulas with in-place
    operations on block-sized buffers (the hot path of large Gram matrices)."""
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
    """σ(x) = |x| (= ABReLU(−1, 1))."""

    name = "abs"

    def __init__(self):
        super().__init__(-1.0, 1.0)

    def _params(self):
        return ()


class Identity(ABReLU):
    """σ(x) = x: T = Σ12, Ṫ = 1 (the network is linear; THEORY.md §3)."""

    name = "identity"

    def __init__(self):
        super().__init__(1.0, 1.0)

    def _params(self):
        return ()

    def __call__(self, x):
        return np.asarray(x, dtype=float) * 1.0

    def derivative(self, x):
        return np.ones_like(np.asarray(x, dtype=float))


class Erf(Activation):
    """σ(x) = erf(x) (Williams 1997).

    .. math::

        T = \\frac{2}{π}\\arcsin\\frac{2Σ_{12}}{\\sqrt{(1+2Σ_{11})(1+2Σ_{22})}},\\qquad
        \\dot T = \\frac{4}{π}\\big((1+2Σ_{11})(1+2Σ_{22}) - 4Σ_{12}^2\\big)^{-1/2}
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


class QuadratureActivation(Activation):
    """An activation whose dual maps come from its Hermite expansion.

    T and Ṫ are Mehler series in the correlation c (see :mod:`nngpbayes._quadrature`)
    whose coefficients are computed per input and layer by Gauss–Hermite quadrature;
    every Gram matrix stays symmetric and positive semi-definite at any truncation.
    The truncation drops a tail of the series that is monitored per input: with
    ``degree=None`` the number of terms doubles from 64 until the tail is below
    ``tol`` of E[σ²] (up to 1024 terms); a
    :class:`~nngpbayes._quadrature.QuadratureWarning` says when the final tail
    exceeds 1e-10 (large layer variances, nearly kinked σ). Hyperparameter gradients
    need σ'', given by :meth:`second_derivative`.

    Parameters
    ----------
    degree : int or None, default=None
        Terms of the Hermite series (the quadrature uses ``2 * degree + 32`` nodes
        per input); a kernel entry costs about ``6 * degree`` flops per layer.
        ``None`` chooses it per layer from ``tol``.
    tol : float, default=1e-13
        Target for the dropped fraction of E[σ²] and E[σ'²] when ``degree=None``.
    """

    name = "quadrature"
    max_degree = 1024

    def __init__(self, degree: int | None = DEFAULT_QUADRATURE_DEGREE, tol=1e-13):
        if degree is not None and (
            isinstance(degree, bool)
            or not isinstance(degree, numbers.Integral)
            or degree < 2
        ):
            raise ValueError(f"degree must be None or an integer >= 2, got {degree!r}")
        if not (isinstance(tol, numbers.Real) and 0 < tol < 1):
            raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
        self.degree = None if degree is None else int(degree)
        self.tol = float(tol)

    def _params(self):
        return (self.degree, self.tol)

    def prepare(self, q, min_terms=0):
        """Hermite coefficients of σ(√q z) and σ'(√q z), each (n_terms, len(q)).

        ``min_terms`` makes two input sets share one truncation (cross kernels).
        """
        n_terms = max(self.degree or 64, min_terms)
        if self.degree is None:  # choose the length on the hardest inputs first
            n_terms = self._series_length(_probe(value_of(q)), n_terms)
        while True:
            (a, tail_a), (b, tail_b) = self._coefficients(q, n_terms)
            tail = np.maximum(tail_a, tail_b)
            done = self.degree or tail.max() <= self.tol
            if done or n_terms >= self.max_degree:
                break
            n_terms = min(2 * n_terms, self.max_degree)
        warn_tail(self.name, n_terms, tail, value_of(q))
        return a, b, tail_sums(a, tail_a), tail_sums(b, tail_b)

    def _coefficients(self, q, n_terms):
        f, df, ddf = self.__call__, self.derivative, self.second_derivative
        return (
            hermite_coefficients(f, df, q, n_terms),
            hermite_coefficients(df, ddf, q, n_terms),
        )

    def _series_length(self, q, n_terms):
        """Smallest doubling of ``n_terms`` whose tail is below ``tol`` for ``q``."""
        while n_terms < self.max_degree:
            (_, tail_a), (_, tail_b) = self._coefficients(q, n_terms)
            if max(tail_a.max(), tail_b.max()) <= self.tol:
                break
            n_terms = min(2 * n_terms, self.max_degree)
        return n_terms

    def dual(self, q1, q2, k12, gaps=None, aux1=None, aux2=None):
        # A zero variance (zero input, no bias) has Σ12 = 0: any c gives T = f_0 g_0.
        c = k12 / np.sqrt(np.maximum(q1 * q2, np.finfo(float).tiny))
        c = np.minimum(np.maximum(c, -1.0), 1.0)  # round-off only
        (a1, b1, ra1, rb1), (a2, b2, ra2, rb2) = aux1, aux2
        if all(isinstance(x, np.ndarray) for x in (c, a1, a2)):
            tol = 0.1 * self.tol  # per-pair stopping, below the truncation target
            return (
                mehler_sum_adaptive(a1, a2, ra1, ra2, c, tol),
                mehler_sum_adaptive(b1, b2, rb1, rb2, c, tol),
                None,
            )
        return mehler_sum(a1, a2, c), mehler_sum(b1, b2, c), None

    def dual_diag(self, q, aux=None):
        a, b = (self.prepare(q) if aux is None else aux)[:2]
        return (a * a).sum(axis=0), (b * b).sum(axis=0)


def _probe(q, n=8):
    """A few variances to size the series on: the largest, the smallest, spread."""
    q = np.unique(np.ravel(q))
    return q[np.unique(np.linspace(0, q.size - 1, n).round().astype(int))]


class Tanh(QuadratureActivation):
    """σ(x) = tanh(x), by quadrature."""

    name = "tanh"

    def __call__(self, x):
        return np.tanh(x)

    def derivative(self, x):
        e = np.exp(
            -2.0 * np.abs(x)
        )  # sech²x = 4e^{-2|x|}/(1 + e^{-2|x|})², no overflow
        return 4.0 * e / (1.0 + e) ** 2

    def second_derivative(self, x):
        t = np.tanh(x)
        return -2.0 * t * (1.0 - t * t)

    def third_derivative(self, x):
        t2 = np.square(np.tanh(x))
        return -2.0 * (1.0 - t2) * (1.0 - 3.0 * t2)


class Sigmoid(QuadratureActivation):
    """σ(x) = 1 / (1 + e^{−x}), by quadrature."""

    name = "sigmoid"

    def __call__(self, x):
        return sc.expit(x)

    def derivative(self, x):
        s = sc.expit(x)
        return s * (1.0 - s)

    def second_derivative(self, x):
        s = sc.expit(x)
        return s * (1.0 - s) * (1.0 - 2.0 * s)

    def third_derivative(self, x):
        s = sc.expit(x)
        return s * (1.0 - s) * (1.0 - 6.0 * s * (1.0 - s))


class Softplus(QuadratureActivation):
    """σ(x) = log(1 + e^x), by quadrature."""

    name = "softplus"

    def __call__(self, x):
        return np.logaddexp(0.0, x)

    def derivative(self, x):
        return sc.expit(x)

    def second_derivative(self, x):
        s = sc.expit(x)
        return s * (1.0 - s)

    def third_derivative(self, x):
        s = sc.expit(x)
        return s * (1.0 - s) * (1.0 - 2.0 * s)


class Swish(QuadratureActivation):
    """σ(x) = x / (1 + e^{−x}) (SiLU), by quadrature."""

    name = "swish"

    def __call__(self, x):
        return x * sc.expit(x)

    def derivative(self, x):
        s = sc.expit(x)
        return s * (1.0 + x * (1.0 - s))

    def second_derivative(self, x):
        s = sc.expit(x)
        return s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s))

    def third_derivative(self, x):
        s = sc.expit(x)
        d1 = s * (1.0 - s)
        return d1 * (3.0 * (1.0 - 2.0 * s) + x * (1.0 - 6.0 * d1))


class Elementwise(QuadratureActivation):
    """A user's activation σ with its derivative, dual maps by quadrature.

    Parameters
    ----------
    fn : callable
        σ, vectorised over NumPy arrays.
    derivative : callable
        σ', vectorised.
    second_derivative : callable, optional
        σ'', used for hyperparameter gradients; if omitted it is a central
        finite difference of ``derivative`` (step 1e-5·max(1, |x|), accuracy ~1e-10).
        The 1/n expansion (:mod:`nngpbayes.finite_width`) needs it given exactly.
    third_derivative : callable, optional
        σ‴, needed only by the 1/n expansion (no finite-difference fallback).
    degree, tol
        As in :class:`QuadratureActivation`.
    name : str, default="elementwise"

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes.activations import Elementwise
    >>> act = Elementwise(np.tanh, lambda x: 1 - np.tanh(x) ** 2)
    """

    def __init__(
        self,
        fn: Callable,
        derivative: Callable,
        second_derivative: Callable | None = None,
        third_derivative: Callable | None = None,
        degree: int | None = DEFAULT_QUADRATURE_DEGREE,
        tol: float = 1e-13,
        name: str = "elementwise",
    ):
        super().__init__(degree, tol)
        for label, f in (("fn", fn), ("derivative", derivative)):
            if not callable(f):
                raise TypeError(f"Elementwise {label} must be callable, got {f!r}")
        for label, f in (
            ("second_derivative", second_derivative),
            ("third_derivative", third_derivative),
        ):
            if f is not None and not callable(f):
                raise TypeError(
                    f"Elementwise {label} must be callable or None, got {f!r}"
                )
        self.fn, self.fn_derivative = fn, derivative
        self.fn_second_derivative = second_derivative
        self.fn_third_derivative = third_derivative
        self.name = name

    def _params(self):
        return (
            self.fn,
            self.fn_derivative,
            self.fn_second_derivative,
            self.fn_third_derivative,
            self.degree,
            self.tol,
        )

    def __call__(self, x):
        return np.asarray(self.fn(x), dtype=float)

    def derivative(self, x):
        return np.asarray(self.fn_derivative(x), dtype=float)

    def second_derivative(self, x):
        if self.fn_second_derivative is not None:
            return np.asarray(self.fn_second_derivative(x), dtype=float)
        h = 1e-5 * np.maximum(1.0, np.abs(x))
        return (self.derivative(x + h) - self.derivative(x - h)) / (2.0 * h)

    def third_derivative(self, x):
        if self.fn_third_derivative is None:
            raise NotImplementedError(
                f"Elementwise({self.name!r}) was built without third_derivative "
                "(the 1/n expansion needs σ″ and σ‴ given exactly)"
            )
        return np.asarray(self.fn_third_derivative(x), dtype=float)

    def __repr__(self):
        return f"Elementwise({self.name!r}, degree={self.degree})"


#: Activations available by name.
ACTIVATIONS = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "abs": Abs,
    "identity": Identity,
    "linear": Identity,
    "erf": Erf,
    "gelu": GELU,
    "sin": Sin,
    "cos": Cos,
    "tanh": Tanh,
    "sigmoid": Sigmoid,
    "softplus": Softplus,
    "swish": Swish,
    "silu": Swish,
}


def get_activation(activation) -> Activation:
    """An :class:`Activation` from a name (see ``ACTIVATIONS``) or an instance.

    Raises
    ------
    ValueError
        For an unknown name.
    TypeError
        For anything that is neither a string nor an :class:`Activation`.
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        key = activation.strip().lower()
        if key not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)} or an Activation "
                f"object, got {activation!r}"
            )
        return ACTIVATIONS[key]()
    raise TypeError(
        f"activation must be a string or an nngpbayes.activations.Activation, "
        f"got {type(activation).__name__}"
    )
