"""The architecture of a deep fully-connected network (:ref:`theory-1`).

One source of truth for depth, activation and the per-layer hyperparameters
C_W, C_b (initialisation variances) and λ_W, λ_b (learning rates), shared by the
kernels, the training dynamics and the finite networks.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from ._validation import InvalidParameterError, check_int
from .activations import Activation, get_activation

__all__ = ["Architecture", "per_layer", "architecture_from"]


def per_layer(value, n_layers: int, name: str, *, allow_zero: bool) -> np.ndarray:
    """Validate a scalar or per-layer sequence and return it as ``(n_layers,)`` floats.

    Parameters
    ----------
    value : float or sequence of float
        A scalar ("the same in every layer") or one value per layer, index 0 the first
        layer and index ``n_layers - 1`` the readout (:ref:`theory-1`).
    n_layers : int
        ``depth + 1``.
    name : str
        The argument's name, for error messages.
    allow_zero : bool
        Whether 0 is allowed (bias variances and learning rates) or the values must be
        strictly positive (weight variances).

    Raises
    ------
    InvalidParameterError
        (a ``ValueError`` and ``TypeError``) for a wrong length, non-numeric,
        non-finite, negative (or zero when not allowed) values, naming ``name`` and
        the value. Sequences are checked element-wise here, since
        :func:`sklearn.utils.check_scalar` takes scalars only.
    """
    arr = np.asarray(value, dtype=float) if _is_numeric(value) else None
    if arr is None or arr.ndim > 1:
        raise InvalidParameterError(
            f"{name} must be a positive number or a sequence of {n_layers} numbers "
            f"(one per layer), got {value!r}"
        )
    if arr.ndim == 1 and arr.shape[0] != n_layers:
        raise InvalidParameterError(
            f"{name} has {arr.shape[0]} values but the network has {n_layers} layers "
            f"(depth + 1, readout included); pass a scalar or {n_layers} values"
        )
    arr = np.broadcast_to(arr, (n_layers,)).astype(float)
    bad = ~np.isfinite(arr) | (arr < 0) | ((arr == 0) & (not allow_zero))
    if bad.any():
        need = "non-negative" if allow_zero else "strictly positive"
        raise InvalidParameterError(f"{name} must be finite and {need}, got {value!r}")
    arr.setflags(write=False)
    return arr


def _is_numeric(value) -> bool:
    if isinstance(value, bool | np.bool_):  # True is not a variance
        return False
    if isinstance(value, numbers.Real):
        return True
    try:
        return np.asarray(value).dtype.kind in "iuf"
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True, eq=False)
class Architecture:
    """A fully-connected network: ``depth`` hidden layers and a linear readout.

    Parameters
    ----------
    depth : int, default=1
        Number of hidden layers (0 gives the linear model x ↦ b + W x).
    activation : str or Activation, default="relu"
        See :mod:`nngpbayes.activations`.
    weight_variance : float or sequence of float, default=1.0
        C_W per layer (> 0): W^(ℓ) ~ N(0, C_W^(ℓ) / n_(ℓ−1)).
    bias_variance : float or sequence of float, default=0.0
        C_b per layer (>= 0; 0 means no bias).
    weight_lr, bias_lr : float, sequence of float or None, default=None
        λ_W and λ_b per layer (>= 0); ``None`` means λ = C (neural-tangents'
        ``parameterization='ntk'``).

    Attributes
    ----------
    n_layers : int
        ``depth + 1``.
    weight_variance, bias_variance, weight_lr, bias_lr : ndarray of shape (n_layers,)
        The per-layer values (learning rates resolved), read-only.

    Raises
    ------
    InvalidParameterError
        (a ``ValueError`` and ``TypeError``) naming the argument and the value: a
        ``depth`` that is not a non-negative int, per-layer values of the wrong
        length, non-finite, negative or (weight variances) zero; ``ValueError``
        for an unknown activation name.

    Notes
    -----
    Conventions: :ref:`theory-1` (parametrisation) and §3 (kernels).

    Examples
    --------
    >>> from nngpbayes import Architecture
    >>> arch = Architecture(depth=2, weight_variance=[1.0, 2.0, 1.5], bias_variance=0.1)
    >>> arch.n_layers
    3
    >>> arch.weight_variance  # one value per layer, the readout last
    array([1. , 2. , 1.5])
    >>> arch.weight_lr  # λ = C by default
    array([1. , 2. , 1.5])
    """

    depth: int = 1
    activation: Activation = field(default="relu")
    weight_variance: np.ndarray = 1.0
    bias_variance: np.ndarray = 0.0
    weight_lr: np.ndarray | None = None
    bias_lr: np.ndarray | None = None

    def __post_init__(self):
        """Validate every field and store per-layer values as arrays."""
        depth = check_int(self.depth, "depth", min_val=0)
        n = depth + 1
        set_ = object.__setattr__
        set_(self, "depth", depth)
        set_(self, "activation", get_activation(self.activation))
        # Remember whether λ follows C, so that replace() keeps following it.
        set_(self, "_lr_follows", (self.weight_lr is None, self.bias_lr is None))
        cw = per_layer(self.weight_variance, n, "weight_variance", allow_zero=False)
        cb = per_layer(self.bias_variance, n, "bias_variance", allow_zero=True)
        lw = (
            cw
            if self.weight_lr is None
            else per_layer(self.weight_lr, n, "weight_lr", allow_zero=True)
        )
        lb = (
            cb
            if self.bias_lr is None
            else per_layer(self.bias_lr, n, "bias_lr", allow_zero=True)
        )
        for name, val in (
            ("weight_variance", cw),
            ("bias_variance", cb),
            ("weight_lr", lw),
            ("bias_lr", lb),
        ):
            set_(self, name, val)

    @property
    def n_layers(self) -> int:
        """Number of layers L = depth + 1 (hidden layers and the readout)."""
        return self.depth + 1

    def replace(self, **changes) -> Architecture:
        """Return a copy with some fields changed (validated again).

        Examples
        --------
        >>> from nngpbayes import Architecture
        >>> arch = Architecture(depth=2, bias_variance=0.1).replace(weight_variance=2.0)
        >>> arch.weight_variance, arch.weight_lr  # λ still follows C
        (array([2., 2., 2.]), array([2., 2., 2.]))
        """
        fields = dict(
            depth=self.depth,
            activation=self.activation,
            weight_variance=self.weight_variance,
            bias_variance=self.bias_variance,
            weight_lr=None if self._lr_follows[0] else self.weight_lr,
            bias_lr=None if self._lr_follows[1] else self.bias_lr,
        )
        fields.update(changes)
        return Architecture(**fields)

    def __eq__(self, other):
        """Return whether two architectures have the same depth, σ and values."""
        if not isinstance(other, Architecture):
            return NotImplemented
        same = self.depth == other.depth and self.activation == other.activation
        return same and all(
            np.array_equal(getattr(self, f), getattr(other, f))
            for f in ("weight_variance", "bias_variance", "weight_lr", "bias_lr")
        )

    __hash__ = None

    def __repr__(self):
        """Return the constructor call, per-layer values collapsed when equal."""

        def fmt(a):
            return repr(float(a[0])) if np.all(a == a[0]) else repr(a.tolist())

        return (
            f"Architecture(depth={self.depth}, activation={self.activation!r}, "
            f"weight_variance={fmt(self.weight_variance)}, "
            f"bias_variance={fmt(self.bias_variance)}, "
            f"weight_lr={fmt(self.weight_lr)}, bias_lr={fmt(self.bias_lr)})"
        )


def architecture_from(obj) -> Architecture:
    """Return the :class:`Architecture` described by an object's parameters.

    Reads ``depth``, ``activation``, ``weight_variance``, ``bias_variance`` and (if
    present) ``weight_lr``, ``bias_lr``: the parameters every nngpbayes estimator
    and kernel shares.
    """
    return Architecture(
        depth=obj.depth,
        activation=obj.activation,
        weight_variance=obj.weight_variance,
        bias_variance=obj.bias_variance,
        weight_lr=getattr(obj, "weight_lr", None),
        bias_lr=getattr(obj, "bias_lr", None),
    )
