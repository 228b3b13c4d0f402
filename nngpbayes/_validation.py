"""Input checks shared by the package (private). Errors name the argument and value.

Scalars go through scikit-learn's :func:`~sklearn.utils.check_scalar`, arrays
through :func:`check_inputs`; randomness through :func:`check_generator`; worker
counts through :func:`resolve_n_jobs` (joblib's convention: ``None`` means 1 unless
a :func:`joblib.parallel_config` context says otherwise, ``-1`` all cores).
"""

from __future__ import annotations

import numbers

import joblib
import numpy as np
from sklearn.utils import check_scalar

__all__ = [
    "InvalidParameterError",
    "check_forward_map",
    "check_generator",
    "check_inputs",
    "check_int",
    "check_pair",
    "check_positive",
    "check_real",
    "resolve_n_jobs",
]


class InvalidParameterError(ValueError, TypeError):
    """A parameter has the wrong type or value.

    It is a ``ValueError`` and a ``TypeError``, as scikit-learn's own
    ``InvalidParameterError``.
    """


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


def _scalar(value, name, target_type, min_val, max_val, include_boundaries):
    """:func:`sklearn.utils.check_scalar`, with the received value in the message."""
    if isinstance(value, bool | np.bool_):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}")
    try:
        check_scalar(
            value,
            name,
            target_type,
            min_val=min_val,
            max_val=max_val,
            include_boundaries=include_boundaries,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{exc} Got {name}={value!r}.") from None
    return value


def check_int(value, name: str, min_val: int | None = 1, max_val=None) -> int:
    """``value`` as an ``int`` after checking it is an integer in [min_val, max_val].

    Booleans and integral floats (``2.0``) are refused: a width or a step count
    given as ``2.5`` or ``"64"`` is a mistake, not something to round.

    Raises
    ------
    InvalidParameterError
        (a ``ValueError`` and ``TypeError``) naming ``name`` and the value.
    """
    _scalar(value, name, numbers.Integral, min_val, max_val, "both")
    return int(value)


def check_real(
    value, name: str, min_val=None, max_val=None, include_boundaries="both"
) -> float:
    """Return ``value`` as a finite ``float`` in the given range.

    See :func:`sklearn.utils.check_scalar` for ``include_boundaries``.
    """
    _scalar(value, name, numbers.Real, min_val, max_val, include_boundaries)
    if not np.isfinite(value):
        raise InvalidParameterError(f"{name} must be finite, got {name}={value!r}.")
    return float(value)


def check_positive(value, name: str) -> float:
    """``value`` as a float after checking it is a finite number > 0."""
    return check_real(value, name, min_val=0.0, include_boundaries="neither")


def check_generator(random_state, name: str = "random_state") -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` from ``random_state``.

    The one way the package turns ``random_state`` into randomness. Like
    :func:`sklearn.utils.check_random_state`, but returning a ``Generator``:
    ``None`` → fresh OS entropy, an int → ``default_rng(int)``, a ``Generator`` →
    itself (shared, so successive calls continue its stream), a legacy
    ``RandomState`` → a ``Generator`` seeded from it.

    Raises
    ------
    InvalidParameterError
        For anything else (floats, strings, booleans, negative ints).
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool | np.bool_
    ):
        if random_state < 0:
            raise InvalidParameterError(
                f"{name} must be a non-negative int, got {random_state!r}"
            )
        return np.random.default_rng(int(random_state))
    raise InvalidParameterError(
        f"{name} must be None, a non-negative int, a numpy Generator or RandomState, "
        f"got {random_state!r}"
    )


def resolve_n_jobs(n_jobs, n_tasks: int | None = None) -> int:
    """Return the number of workers, following joblib (:func:`joblib.effective_n_jobs`).

    ``None`` → 1 (or the ``n_jobs`` of an enclosing ``joblib.parallel_config``),
    ``-1`` → all cores, ``-2`` → all but one, a positive int → that many; never more
    than ``n_tasks``.

    Raises
    ------
    InvalidParameterError
        For 0, booleans, floats and other types.
    """
    if n_jobs is not None:
        if isinstance(n_jobs, bool | np.bool_) or not isinstance(
            n_jobs, numbers.Integral
        ):
            raise InvalidParameterError(
                f"n_jobs must be None or a non-zero integer, got {n_jobs!r}"
            )
        if n_jobs == 0:
            raise InvalidParameterError("n_jobs must be non-zero, got n_jobs=0")
        n_jobs = int(n_jobs)
    n = int(joblib.effective_n_jobs(n_jobs))
    return max(1, n if n_tasks is None else min(n, n_tasks))


def check_forward_map(forward_map, n_grid, name="forward_map"):
    """F as a finite float64 array of shape (n_data, n_grid), or ``None``.

    The linear forward map of y = F f(X_grid) (an FK table): one row per datum, one
    column per grid input.

    Parameters
    ----------
    forward_map : array-like of shape (n_data, n_grid) or None
        ``None`` (the identity) is returned as is.
    n_grid : int
        The number of grid inputs (rows of X).
    name : str, default="forward_map"
        The argument's name in error messages.

    Returns
    -------
    ndarray of shape (n_data, n_grid) or None

    Raises
    ------
    InvalidParameterError
        (a ``ValueError``) naming ``name``, for a non-numeric, non-2-D, empty or
        non-finite array, or one whose column count is not ``n_grid``.
    """
    if forward_map is None:
        return None
    try:
        F = np.asarray(forward_map, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"{name} must be a numeric matrix, got {type(forward_map).__name__}"
        ) from exc
    if F.ndim != 2 or F.shape[1] != n_grid or F.shape[0] == 0:
        raise InvalidParameterError(
            f"{name} must have shape (n_data, {n_grid}) (one column per grid input "
            f"X row), got shape {F.shape}"
        )
    if not np.isfinite(F).all():
        raise InvalidParameterError(f"{name} contains NaN or infinite values")
    return F
