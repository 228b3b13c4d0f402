"""Truth laws for closure tests (:ref:`theory-6`): the function f_in the data come from.

Every truth is a callable ``truth(X) -> (n,)`` on inputs of shape (n, d). A truth
drawn at random (a draw from the NNGP prior, a teacher network) is one fixed
function: the NNGP draw is extended to new inputs by conditioning on the values it
already has, so repeated calls are consistent.
"""

from __future__ import annotations

import numpy as np

from .._linalg import psd_root
from .._numerics import symmetric_eigh
from .._validation import check_generator, check_inputs, check_positive, check_real
from ..architecture import Architecture
from ..kernels import nngp_ntk

__all__ = [
    "PDFLike",
    "Oscillating",
    "PriorDraw",
    "Teacher",
    "as_truth",
    "evaluate_truth",
]


class PDFLike:
    """A parton-distribution-like law f(x) = A x^a (1 − x)^b on (0, 1) (first input).

    Parameters
    ----------
    a, b : float, default=0.5, 3.0
        Small- and large-x exponents (a > −1, b > 0).
    norm : float, default=1.0
        A.
    """

    def __init__(self, a=0.5, b=3.0, norm=1.0):
        self.a = check_real(a, "a", min_val=-1.0, include_boundaries="neither")
        self.b = check_positive(b, "b")
        self.norm = check_real(norm, "norm")

    def __call__(self, X):
        x = check_inputs(X)[:, 0]
        if np.any((x <= 0) | (x >= 1)):
            raise ValueError("PDFLike is defined for inputs in (0, 1)")
        return self.norm * x**self.a * (1 - x) ** self.b

    def __repr__(self):
        return f"PDFLike(a={self.a}, b={self.b}, norm={self.norm})"


class Oscillating:
    """A smooth oscillating function f(x) = sin(ω x₁) + c x₁ (first input).

    Parameters
    ----------
    frequency : float, default=3.0
        ω.
    slope : float, default=0.3
        c.
    """

    def __init__(self, frequency=3.0, slope=0.3):
        self.frequency = check_real(frequency, "frequency")
        self.slope = check_real(slope, "slope")

    def __call__(self, X):
        x = check_inputs(X)[:, 0]
        return np.sin(self.frequency * x) + self.slope * x

    def __repr__(self):
        return f"Oscillating(frequency={self.frequency}, slope={self.slope})"


class PriorDraw:
    """One function drawn from the NNGP prior of ``architecture``.

    Values at new inputs are drawn from the prior conditioned on the values already
    drawn (exact Gaussian conditioning), so the function is consistent across calls.
    Evaluate all inputs of interest in one call where possible: it is cheaper.

    Parameters
    ----------
    architecture : Architecture, optional
        Default ``Architecture()``.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the draw (a Generator is shared, not copied).
    """

    def __init__(self, architecture=None, random_state=None):
        self.architecture = architecture or Architecture()
        self._rng = check_generator(random_state)
        self._X = None
        self._f = None

    def __call__(self, X):
        X = check_inputs(X)
        if self._X is None:
            self._X, self._f = X[:0], np.zeros(0)
        known = {x.tobytes(): v for x, v in zip(self._X, self._f, strict=True)}
        new = np.array([x.tobytes() not in known for x in X])
        if new.any():
            Xn = np.unique(X[new], axis=0)
            self._extend(Xn)
            known = {x.tobytes(): v for x, v in zip(self._X, self._f, strict=True)}
        return np.array([known[x.tobytes()] for x in X])

    def _extend(self, Xn):
        arch = self.architecture
        k_nn = nngp_ntk(Xn, architecture=arch, ntk=False).nngp
        if len(self._X):
            k_on = nngp_ntk(self._X, Xn, architecture=arch, ntk=False).nngp
            k_oo = nngp_ntk(self._X, architecture=arch, ntk=False).nngp
            s, u = symmetric_eigh(k_oo, "the NNGP kernel of the drawn points")
            keep = s > len(s) * np.finfo(float).eps * s[0]
            proj = (u[:, keep] / s[keep]) @ (u[:, keep].T @ k_on)
            mean = proj.T @ self._f
            cov = k_nn - k_on.T @ proj
        else:
            mean, cov = np.zeros(len(Xn)), k_nn
        # columns in descending-eigenvalue order, as the draws have always used
        root = psd_root(cov, "the conditional NNGP covariance")[:, ::-1]
        draw = mean + root @ self._rng.standard_normal(len(root))
        self._X, self._f = np.vstack([self._X, Xn]), np.r_[self._f, draw]

    def __repr__(self):
        return f"PriorDraw({self.architecture!r})"


class Teacher:
    """A random finite-width network of ``architecture`` (one member, fixed).

    Parameters
    ----------
    architecture : Architecture, optional
        Default ``Architecture()``.
    width : int, default=64
        Hidden width.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the network's weights.
    """

    def __init__(self, architecture=None, width=64, random_state=None):
        from ..networks import MLPEnsemble

        arch = architecture or Architecture()
        self.architecture = arch
        self._net = MLPEnsemble.from_architecture(
            arch, width=width, n_members=1, random_state=random_state
        )

    def __call__(self, X):
        return self._net.predict(check_inputs(X))[0]

    def __repr__(self):
        return f"Teacher({self.architecture!r}, width={self._net.width})"


_NAMED = {
    "pdf": PDFLike,
    "oscillating": Oscillating,
    "prior": PriorDraw,
    "teacher": Teacher,
}


def as_truth(truth, architecture=None, random_state=None):
    """Make a truth from a name ("pdf", "oscillating", "prior", "teacher") or callable.

    Parameters
    ----------
    truth : str or callable
        A name, or any callable ``f(X) -> (n,)`` (returned as is).
    architecture : Architecture, optional
        The prior of "prior" and the network of "teacher".
    random_state : int, numpy.random.Generator or None, default=None
        Seeds "prior" and "teacher" (a Generator is shared).

    Returns
    -------
    callable
    """
    if isinstance(truth, str):
        if truth not in _NAMED:
            raise ValueError(
                f"truth must be one of {sorted(_NAMED)} or a callable, got {truth!r}"
            )
        if truth in ("prior", "teacher"):
            return _NAMED[truth](architecture, random_state=random_state)
        return _NAMED[truth]()
    if not callable(truth):
        raise TypeError(
            f"truth must be a name or a callable, got {type(truth).__name__}"
        )
    return truth


def evaluate_truth(truth, X):
    """``truth(X)`` as a finite (n,) array, with a clear error otherwise."""
    values = np.asarray(truth(X), dtype=float)
    if values.shape != (len(X),):
        raise ValueError(f"the truth must return shape ({len(X)},), got {values.shape}")
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).sum())
        raise ValueError(
            f"the truth returned {bad} NaN or infinite value(s) at the inputs"
        )
    return values
