"""Smooth activations whose dual maps come from a Hermite series (:ref:`theory-3`).

T and Ṫ are Mehler series in the correlation with Gauss–Hermite coefficients
(:mod:`nngpbayes._quadrature`): :class:`Tanh`, :class:`Sigmoid`,
:class:`Softplus`, :class:`Swish` and a user's :class:`Elementwise`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import scipy.special as sc

from .._dual import Dual, value_of
from .._mehler import mehler_sums
from .._quadrature import (
    hermite_coefficients,
    hermite_table,
    mehler_sum,
    tail_sums,
    warn_tail,
)
from .._validation import check_int, check_real
from ._base import Activation
from ._series_grad import N_GRADIENT_AUX, price_dual, price_dual_diag

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
    ``degree=None`` the number of terms doubles from 64 until the tail of every
    input is below ``tol`` of E[σ²] and E[σ'²] (up to 1024 terms); a
    :class:`~nngpbayes._quadrature.QuadratureWarning` says when the final tail
    exceeds 1e-10 (large layer variances, nearly kinked σ). Hyperparameter gradients
    use Price's theorem (:mod:`nngpbayes.activations._series_grad`) with σ″ and σ‴
    (:meth:`second_derivative`, :meth:`third_derivative`): the truncated series of
    the exact derivatives. Without σ‴, or at a fixed ``degree`` whose tail exceeds
    ``tol``, they are pushed through the truncated series as dual numbers (slower;
    the exact derivatives of the kernel that truncation gives).

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
    min_degree = 64

    def __init__(self, degree: int | None = DEFAULT_QUADRATURE_DEGREE, tol=1e-13):
        self.degree = None if degree is None else check_int(degree, "degree", 2)
        self.tol = check_real(tol, "tol", 0.0, 1.0, include_boundaries="neither")

    def _params(self):
        return (self.degree, self.tol)

    def prepare(self, q, min_terms=0):
        """Hermite coefficients of σ(√q z) and σ'(√q z), and their tail sums.

        Returns ``(a, b, R_a, R_b)``: ``a``, ``b`` of shape (n_terms, len(q)) and
        ``R`` of shape (n_terms + 1, len(q)) (:func:`tail_sums`). For a
        :class:`~nngpbayes._dual.Dual` ``q`` (hyperparameter gradients) the same
        four follow for σ″ and σ‴ (eight arrays, :func:`price_dual`).
        ``min_terms`` makes two input sets share one length (cross kernels).
        """
        qv = value_of(q)
        gradients = isinstance(q, Dual)
        if gradients and not self._price_gradients():
            return self._prepare_forward(q, min_terms)
        n_fns = 4 if gradients else 2
        coefs, tails = self._table(np.ravel(qv), n_fns, min_terms)
        worst = np.maximum(tails[0], tails[1])
        if gradients and self.degree and worst.size and worst.max() > self.tol:
            # truncated above tol at a fixed degree: differentiate the truncated
            # series itself, so that the gradients match the kernel it gives
            return self._prepare_forward(q, min_terms)
        warn_tail(self.name, coefs[0].shape[0], worst, qv)
        out = []
        for pair in ((0, 1), (2, 3))[: n_fns // 2]:
            out += [coefs[k] for k in pair]
            out += [tail_sums(coefs[k], tails[k]) for k in pair]
        return tuple(out)

    #: σ' and σ‴ are exact derivatives of σ and σ″: the coefficients of σ and σ″
    #: then follow from those of σ' and σ‴ by Stein's lemma (half the projections;
    #: values are the same with and without gradients).
    _exact = True

    def _price_gradients(self):
        """Whether σ‴ is available for Price-theorem gradients."""
        return True

    def _chain(self):
        """Stein chains of 2 (σ from σ', σ″ from σ‴) when the series converge."""
        return 2 if self._exact and self.degree is None else 0

    def derivatives(self, x, n=4):
        """[σ(x), σ'(x), σ″(x), σ‴(x)][:n], elementwise (subclasses share work)."""
        fns = (self.__call__, self.derivative)
        fns += (self.second_derivative, self.third_derivative)
        return [fn(x) for fn in fns[:n]]

    def _table(self, q, n_fns, min_terms):
        """Coefficients (Fortran order) and tails of σ, σ', …, one length for all q.

        One length for every input keeps the truncation error of each pair below
        ``tol`` (Cauchy–Schwarz on the two tails at the same length). It is found on
        a few probe variances first, then checked on all (distinct) variances.
        """
        unique, inverse = np.unique(q, return_inverse=True)
        n_terms = max(self.degree or self.min_degree, min_terms)
        if self.degree is None:
            n_terms = self._series_length(_probe(unique), n_terms)
        fns = partial(self.derivatives, n=n_fns)
        while True:
            coefs, tails = hermite_table(fns, unique, n_terms, self._chain())
            worst = max(tails[0].max(), tails[1].max()) if unique.size else 0.0
            if self.degree or worst <= self.tol or n_terms >= self.max_degree:
                break
            n_terms = min(2 * n_terms, self.max_degree)
        return [a.T[inverse].T for a in coefs], [t[inverse] for t in tails]

    def _series_length(self, q, n_terms):
        """Smallest doubling of ``n_terms`` whose tail is below ``tol`` for ``q``."""
        fns = partial(self.derivatives, n=2)
        while n_terms < self.max_degree:
            _, tails = hermite_table(fns, q, n_terms, self._chain())
            if max(tails[0].max(), tails[1].max()) <= self.tol:
                break
            n_terms = min(2 * n_terms, self.max_degree)
        return n_terms

    def _prepare_forward(self, q, min_terms):
        """Dual coefficients (forward mode through the series), at one length."""
        n_terms = self.prepare(value_of(q), min_terms)[0].shape[0]
        a, tail_a = hermite_coefficients(self, self.derivative, q, n_terms)
        b, tail_b = hermite_coefficients(
            self.derivative, self.second_derivative, q, n_terms
        )
        return a, b, tail_sums(a, tail_a), tail_sums(b, tail_b)

    def dual(self, q1, q2, k12, gaps=None, aux1=None, aux2=None):
        tol = 0.1 * self.tol  # per-pair stopping, below the truncation target
        if len(aux1) == N_GRADIENT_AUX:
            t, tdot = price_dual(q1, q2, k12, aux1, aux2, tol)
            return t, tdot, None
        # A zero variance (zero input, no bias) has Σ12 = 0: any c gives T = f_0 g_0.
        c = k12 / np.sqrt(np.maximum(q1 * q2, np.finfo(float).tiny))
        c = np.minimum(np.maximum(c, -1.0), 1.0)  # round-off only
        (a1, b1, ra1, rb1), (a2, b2, ra2, rb2) = aux1, aux2
        if all(isinstance(x, np.ndarray) for x in (c, a1, a2)):
            c = np.broadcast_to(c, (a1.shape[1], a2.shape[2]))
            t, tdot = mehler_sums([(a1, a2, ra1, ra2), (b1, b2, rb1, rb2)], c, tol)
            return t, tdot, None
        return mehler_sum(a1, a2, c), mehler_sum(b1, b2, c), None

    def dual_diag(self, q, aux=None):
        aux = self.prepare(q) if aux is None else aux
        if len(aux) == N_GRADIENT_AUX:
            return price_dual_diag(q, aux)
        a, b = aux[:2]
        return (a * a).sum(axis=0), (b * b).sum(axis=0)


def _probe(q, n=8):
    """Pick a few variances to size the series on: largest, smallest, spread."""
    if q.size == 0:
        return q
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

    def derivatives(self, x, n=4):
        t, d1 = np.tanh(x), self.derivative(x)
        return [t, d1, -2.0 * t * d1, -2.0 * d1 * (1.0 - 3.0 * t * t)][:n]


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

    def derivatives(self, x, n=4):
        s = sc.expit(x)
        d1 = s * (1.0 - s)
        return [s, d1, d1 * (1.0 - 2.0 * s), d1 * (1.0 - 6.0 * d1)][:n]


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

    def derivatives(self, x, n=4):
        s = sc.expit(x)
        d2 = s * (1.0 - s)
        return [np.logaddexp(0.0, x), s, d2, d2 * (1.0 - 2.0 * s)][:n]


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

    def derivatives(self, x, n=4):
        s = sc.expit(x)
        d1 = s * (1.0 - s)
        return [
            x * s,
            s * (1.0 + x * (1.0 - s)),
            d1 * (2.0 + x * (1.0 - 2.0 * s)),
            d1 * (3.0 * (1.0 - 2.0 * s) + x * (1.0 - 6.0 * d1)),
        ][:n]


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
        self._exact = False  # a user's σ' may be approximate: project each

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

    def _price_gradients(self):
        return self.fn_third_derivative is not None

    def third_derivative(self, x):
        if self.fn_third_derivative is None:
            raise NotImplementedError(
                f"Elementwise({self.name!r}) was built without third_derivative "
                "(the 1/n expansion needs σ″ and σ‴ given exactly)"
            )
        return np.asarray(self.fn_third_derivative(x), dtype=float)

    def __repr__(self):
        return f"Elementwise({self.name!r}, degree={self.degree})"
