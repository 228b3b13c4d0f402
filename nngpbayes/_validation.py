"""Input checks shared by the package (private). Errors name the argument."""

from __future__ import annotations

import numbers
import os

import numpy as np

__all__ = ["check_inputs", "check_pair", "check_positive", "resolve_n_jobs"]


def check_inputs(X, name: str = "X") -> np.ndarray:
    """``X`` as a finite float64 array of shape (n_samples, n_features).

    Raises
    ------
    ValueError
        If ``X`` is not numeric, not 2-D, empty, or holds NaN or inf.
    """
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be a numeric array, got {type(X).__name__}"
        ) from exc
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_features), got ndim={arr.ndim} "
            f"(reshape a single feature with {name}.reshape(-1, 1))"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return arr


def check_pair(X1, X2=None):
    """Validate ``X1`` and, if given, ``X2`` with the same number of features."""
    X1 = check_inputs(X1, "X1")
    if X2 is None:
        return X1, None
    X2 = check_inputs(X2, "X2")
    if X2.shape[1] != X1.shape[1]:
        raise ValueError(
            f"X2 has {X2.shape[1]} features but X1 has {X1.shape[1]}; "
            "both must have the same n_features"
        )
    return X1, X2


def resolve_n_jobs(n_jobs, n_tasks: int) -> int:
    """Number of worker threads: ``None`` → all cores, negative as in joblib."""
    if n_jobs is None:
        n = os.cpu_count() or 1
    elif isinstance(n_jobs, numbers.Integral) and n_jobs != 0:
        n = (
            int(n_jobs)
            if n_jobs > 0
            else max((os.cpu_count() or 1) + 1 + int(n_jobs), 1)
        )
    else:
        raise ValueError(f"n_jobs must be None or a non-zero integer, got {n_jobs!r}")
    return max(1, min(n, n_tasks))


def check_positive(value, name: str) -> float:
    """``value`` as a float after checking it is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or (not np.isfinite(value) or value <= 0)
    ):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)
