"""Forward-mode dual numbers over NumPy arrays (private).

A :class:`Dual` carries a value ``v`` and its tangents ``t`` with respect to ``P``
directions, stored with a leading axis: ``t.shape == (P,) + v.shape`` (after
broadcasting). The kernel recursion and the dual maps of the activations are written
once with NumPy ufuncs; evaluated on plain arrays they give kernel values, evaluated
on :class:`Dual` arrays (through ``__array_ufunc__``) they also give the exact
derivatives with respect to the hyperparameters (``eval_gradient=True``).

Only the ufuncs the package uses are supported; any other raises ``TypeError`` so
that a missing rule can never silently drop a derivative.

Numerical guard (documented, as in neural-tangents' ``_sqrt``): the derivative of
``sqrt`` at exactly 0 is taken as 0. It is met where a quantity is 0 for every value of
the hyperparameters (the sine of the angle between identical inputs), so its true
derivative is 0 too.
"""

from __future__ import annotations

import numpy as np
import scipy.special as sc

__all__ = ["Dual", "LazyDual", "apply", "value_of"]


def _pad(t, ndim):
    """Reshape tangent ``t`` (leading P axis) so its value part has ``ndim`` axes."""
    missing = ndim - (t.ndim - 1)
    if missing <= 0:
        return t
    return t.reshape((t.shape[0],) + (1,) * missing + t.shape[1:])


def value_of(x):
    """Value part of ``x`` (``x`` itself if it is not a :class:`Dual`)."""
    return x.v if isinstance(x, Dual) else x


def _parts(x, ndim):
    if isinstance(x, Dual):
        return x.v, _pad(x.t, ndim)
    return x, None


def _lin(*terms):
    """Sum of tangent products ``coef * t`` skipping absent tangents."""
    out = None
    for coef, t in terms:
        if t is None:
            continue
        term = t * coef
        out = term if out is None else out + term
    return out


# d f(x) / dx as a function of (x, f(x)) for one-argument ufuncs.
_UNARY = {
    np.negative: lambda x, y: -1.0,
    np.positive: lambda x, y: 1.0,
    np.exp: lambda x, y: y,
    np.expm1: lambda x, y: y + 1.0,
    np.log: lambda x, y: 1.0 / x,
    np.log1p: lambda x, y: 1.0 / (1.0 + x),
    np.sin: lambda x, y: np.cos(x),
    np.cos: lambda x, y: -np.sin(x),
    np.sinh: lambda x, y: np.cosh(x),
    np.cosh: lambda x, y: np.sinh(x),
    np.tanh: lambda x, y: 1.0 - y * y,
    np.arctan: lambda x, y: 1.0 / (1.0 + x * x),
    np.arcsin: lambda x, y: 1.0 / np.sqrt(1.0 - x * x),
    np.square: lambda x, y: 2.0 * x,
    np.reciprocal: lambda x, y: -y * y,
    np.absolute: lambda x, y: np.sign(x),
    np.sign: lambda x, y: 0.0,
    # docs/theory §3 guard: d sqrt(x) at x == 0 is taken as 0 (see module docstring).
    np.sqrt: lambda x, y: np.divide(0.5, y, out=np.zeros_like(y), where=y > 0),
    sc.erf: lambda x, y: (2.0 / np.sqrt(np.pi)) * np.exp(-x * x),
    sc.ndtr: lambda x, y: np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi),
}

_COMPARE = {
    np.greater,
    np.greater_equal,
    np.less,
    np.less_equal,
    np.equal,
    np.not_equal,
    np.isfinite,
    np.isnan,
}


class Dual:
    """An array value with forward-mode tangents along ``P`` directions.

    Parameters
    ----------
    v : ndarray
        The value.
    t : ndarray of shape (P,) + shape broadcastable to ``v.shape``
        The tangents, one per direction.
    """

    __array_priority__ = 100

    def __init__(self, v, t):
        self.v = np.asarray(v, dtype=float)
        self.t = np.asarray(t, dtype=float)

    # -- array protocol ------------------------------------------------------------
    @property
    def shape(self):
        return self.v.shape

    @property
    def ndim(self):
        return self.v.ndim

    @property
    def n_directions(self):
        return self.t.shape[0]

    def full_tangent(self):
        """Tangent broadcast to shape ``(P,) + v.shape``."""
        t = _pad(self.t, self.v.ndim)
        return np.broadcast_to(t, (t.shape[0],) + self.v.shape)

    def __getitem__(self, idx):
        t = np.broadcast_to(
            _pad(self.t, self.v.ndim), (self.t.shape[0],) + self.v.shape
        )
        idx = idx if isinstance(idx, tuple) else (idx,)
        return Dual(self.v[idx], t[(slice(None),) + idx])

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        if ufunc in _COMPARE:
            return ufunc(*[value_of(x) for x in inputs], **kwargs)
        if ufunc in _UNARY:
            (x,) = inputs
            y = ufunc(x.v)
            return Dual(y, _pad(x.t, y.ndim) * _UNARY[ufunc](x.v, y))
        if ufunc in _BINARY:
            return _BINARY[ufunc](*inputs)
        if ufunc is np.matmul:
            return _matmul(*inputs)
        raise TypeError(f"Dual does not support the ufunc {ufunc.__name__!r}")

    # -- operators ---------------------------------------------------------------
    def __add__(self, o):
        return np.add(self, o)

    __radd__ = __add__

    def __sub__(self, o):
        return np.subtract(self, o)

    def __rsub__(self, o):
        return np.subtract(o, self)

    def __mul__(self, o):
        return np.multiply(self, o)

    __rmul__ = __mul__

    def __truediv__(self, o):
        return np.true_divide(self, o)

    def __rtruediv__(self, o):
        return np.true_divide(o, self)

    def __neg__(self):
        return np.negative(self)

    def __pow__(self, p):
        if isinstance(p, Dual):
            raise TypeError("Dual ** Dual is not supported")
        if p == 2:
            return np.square(self)
        if p == 0.5:
            return np.sqrt(self)
        y = self.v**p
        return Dual(y, _pad(self.t, y.ndim) * (p * self.v ** (p - 1)))

    def __matmul__(self, o):
        return np.matmul(self, o)

    def __rmatmul__(self, o):
        return np.matmul(o, self)

    def sum(self, axis=None):
        """Sum over ``axis`` (an int or a tuple of value axes)."""
        axes = axis if isinstance(axis, tuple) else (axis,)
        t = _pad(self.t, self.v.ndim)
        t_axes = tuple(a + 1 if a >= 0 else a for a in axes)
        return Dual(self.v.sum(axis=axis), _sum_broadcast(t, self.v.shape, t_axes))

    def __repr__(self):
        return f"Dual(v={self.v!r}, t={self.t!r})"


class LazyDual(Dual):
    """A :class:`Dual` whose tangents are computed on first use.

    For values that are returned alongside others but often not differentiated
    (Ṫ when only the NNGP kernel is wanted): the work is done only if ``t`` is read.

    Parameters
    ----------
    v : ndarray
        The value.
    tangent : callable
        ``tangent()`` returns the tangents, shape (P,) + shape broadcastable to
        ``v.shape``.
    """

    def __init__(self, v, tangent):
        self.v = np.asarray(v, dtype=float)
        self._tangent, self._t = tangent, None

    @property
    def t(self):
        if self._t is None:
            self._t = np.asarray(self._tangent(), dtype=float)
            self._tangent = None
        return self._t


def _sum_broadcast(t, shape, t_axes):
    full = np.broadcast_to(t, (t.shape[0],) + shape)
    return full.sum(axis=t_axes)


def _add(a, b):
    nd = max(np.ndim(value_of(a)), np.ndim(value_of(b)))
    (av, at), (bv, bt) = _parts(a, nd), _parts(b, nd)
    return Dual(av + bv, _lin((1.0, at), (1.0, bt)))


def _sub(a, b):
    nd = max(np.ndim(value_of(a)), np.ndim(value_of(b)))
    (av, at), (bv, bt) = _parts(a, nd), _parts(b, nd)
    return Dual(av - bv, _lin((1.0, at), (-1.0, bt)))


def _mul(a, b):
    nd = max(np.ndim(value_of(a)), np.ndim(value_of(b)))
    (av, at), (bv, bt) = _parts(a, nd), _parts(b, nd)
    return Dual(av * bv, _lin((bv, at), (av, bt)))


def _div(a, b):
    nd = max(np.ndim(value_of(a)), np.ndim(value_of(b)))
    (av, at), (bv, bt) = _parts(a, nd), _parts(b, nd)
    y = av / bv
    return Dual(y, _lin((1.0 / bv, at), (-y / bv, bt)))


def _arctan2(a, b):
    # d atan2(a, b) = (b da - a db) / (a^2 + b^2); 0 where both vanish.
    nd = max(np.ndim(value_of(a)), np.ndim(value_of(b)))
    (av, at), (bv, bt) = _parts(a, nd), _parts(b, nd)
    r2 = av * av + bv * bv
    inv = np.divide(1.0, r2, out=np.zeros_like(r2 * 1.0), where=r2 > 0)
    return Dual(np.arctan2(av, bv), _lin((bv * inv, at), (-av * inv, bt)))


def _select(a, b, pick_a):
    nd = max(np.ndim(value_of(a)), np.ndim(value_of(b)))
    (av, at), (bv, bt) = _parts(a, nd), _parts(b, nd)
    mask = pick_a(av, bv)
    return Dual(np.where(mask, av, bv), _lin((mask * 1.0, at), (1.0 - mask, bt)))


_BINARY = {
    np.add: _add,
    np.subtract: _sub,
    np.multiply: _mul,
    np.true_divide: _div,
    np.arctan2: _arctan2,
    np.maximum: lambda a, b: _select(a, b, np.greater_equal),
    np.minimum: lambda a, b: _select(a, b, np.less_equal),
}


def _matmul(a, b):
    av, bv = value_of(a), value_of(b)
    y = av @ bv
    terms = []
    if isinstance(a, Dual):
        terms.append(_pad(a.t, np.ndim(av)) @ bv)
    if isinstance(b, Dual):
        terms.append(av @ _pad(b.t, np.ndim(bv)))
    return Dual(y, sum(terms[1:], terms[0]))


def apply(fn, dfn, x):
    """``fn(x)``, with tangent ``dfn(x) * dx`` when ``x`` is a :class:`Dual`."""
    if isinstance(x, Dual):
        return Dual(fn(x.v), _pad(x.t, x.v.ndim) * dfn(x.v))
    return fn(x)
