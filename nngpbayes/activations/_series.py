"""Smooth activations whose dual maps come from a Hermite series (:ref:`theory-3`).

T and Ṫ are Mehler series in the correlation with Gauss–Hermite coefficients
(:mod:`nngpbayes._quadrature`): :class:`Tanh`, :class:`Sigmoid`,
:class:`Softplus`, :class:`Swish` and a user's :class:`Elementwise`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.special as sc

from .._dual import value_of
from .._quadrature import (
    hermite_coefficients,
    mehler_sum,
    mehler_sum_adaptive,
    tail_sums,
    warn_tail,
)
from .._validation import check_int, check_real
from ._base import Activation

__all__ = [
    "DEFAULT_QUADRATURE_DEGREE",
    "QuadratureActivation",
    "Tanh",
    "Sigmoid",
    "Softplus",
    "Swish",
    "Elementwise",
]

#: Default number of Hermite-series terms for quadrature activations (None: adaptive).
DEFAULT_QUADRATURE_DEGREE = None


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
        self.degree = None if degree is None else check_int(degree, "degree", 2)
        self.tol = check_real(tol, "tol", 0.0, 1.0, include_boundaries="neither")

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
    """Pick a few variances to size the series on: largest, smallest, spread."""
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
        finite difference of ``derivative`` (step 1e-5·max(1, abs(x)), accuracy ~1e-10).
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
