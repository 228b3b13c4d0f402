"""Checks of the settings of :class:`~nngpbayes.closure.ClosureTest`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .._validation import InvalidParameterError, check_inputs, check_int
from ..architecture import Architecture

__all__ = [
    "DEFAULT_ARCHITECTURE",
    "DEFAULT_N_TRAIN",
    "DEFAULT_N_TEST",
    "check_flag",
    "check_architecture",
    "check_widths",
    "check_times",
    "check_grids",
]

#: ClosureTest's default architecture (the prior of the fits), as its arguments.
DEFAULT_ARCHITECTURE = {
    "depth": 2,
    "activation": "relu",
    "weight_variance": 2.0,
    "bias_variance": 0.1,
}
#: Grid points (evenly spaced in (0.02, 0.98)) and test inputs (in (0.05, 0.95)).
DEFAULT_N_TRAIN, DEFAULT_N_TEST = 40, 25


def check_flag(value, name, allow_none=False):
    if (value is None and allow_none) or isinstance(value, bool | np.bool_):
        return None if value is None else bool(value)
    expected = "True, False or None" if allow_none else "True or False"
    raise InvalidParameterError(f"{name} must be {expected}, got {name}={value!r}")


def check_architecture(value, name):
    if value is None or isinstance(value, Architecture):
        return value
    raise InvalidParameterError(
        f"{name} must be an nngpbayes.Architecture or None, got {name}={value!r}"
    )


def check_widths(widths):
    """``widths`` as a list of distinct positive Python ints."""
    if isinstance(widths, str | bytes) or not isinstance(widths, Iterable):
        raise InvalidParameterError(
            f"widths must be a sequence of positive integers, got widths={widths!r}"
        )
    out = [check_int(w, f"widths[{i}]", min_val=1) for i, w in enumerate(widths)]
    if len(set(out)) != len(out):
        raise InvalidParameterError(f"widths must be distinct, got widths={out}")
    return out


def check_times(times):
    """Return ``times`` as a 1-D float array of distinct values in [0, inf]."""
    try:
        t = np.atleast_1d(np.asarray(times, dtype=float))
    except (TypeError, ValueError):
        t = None
    if t is None or t.ndim != 1 or t.size == 0 or np.isnan(t).any() or (t < 0).any():
        raise InvalidParameterError(
            "times must be a non-empty sequence of non-negative numbers (np.inf "
            f"allowed), got times={times!r}"
        )
    if len({f"{v:g}" for v in t}) != t.size:
        raise InvalidParameterError(f"times must be distinct, got times={times!r}")
    return t


def check_grids(X_train, X_test):
    X_train = check_inputs(
        np.linspace(0.02, 0.98, DEFAULT_N_TRAIN)[:, None]
        if X_train is None
        else X_train,
        "X_train",
    )
    X_test = check_inputs(
        np.linspace(0.05, 0.95, DEFAULT_N_TEST)[:, None] if X_test is None else X_test,
        "X_test",
    )
    if len(X_train) < 2:
        raise InvalidParameterError(
            f"a closure test needs at least 2 grid points, got X_train with "
            f"{len(X_train)}"
        )
    if X_test.shape[1] != X_train.shape[1]:
        raise InvalidParameterError(
            f"X_test has {X_test.shape[1]} features but X_train has "
            f"{X_train.shape[1]}; both must have the same n_features"
        )
    return X_train, X_test
