"""Reading recorded NTKs: from a fitted MLPEnsemble, its history, or an array.

Every NTK diagnostic takes the same ``source``: an :class:`~nngpbayes.MLPEnsemble`
fitted with ``record_ntk=True`` (its ``history_``), that ``history_`` dict itself,
or an array of shape (T, n_members, n_record, n_record) with its flow times
(:ref:`theory-2`: t counts flow time, k gradient-descent steps of size Δt give
t = k Δt).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["recorded_ntk", "RECORD_HINT"]

#: How to record what the diagnostics need, quoted in error messages.
RECORD_HINT = (
    "fit the ensemble with record_ntk=True and record_times including 0 (e.g. "
    "ens.fit(X, y, time=t, record_times=np.linspace(0, t, 11), record_ntk=True))"
)


def recorded_ntk(source, times=None, *, caller, need_initial=False):
    """Return the recorded NTKs, their times and the hidden width of ``source``.

    Parameters
    ----------
    source : MLPEnsemble, dict or array-like of shape (T, n_members, n, n)
        A fitted ensemble (its ``history_`` is read), a ``history_`` dict with
        ``"time"`` and ``"ntk"``, or the NTKs themselves.
    times : array-like of shape (T,), optional
        The flow times of an array ``source`` (required then, refused otherwise:
        a history carries its own times).
    caller : str
        The public function's name, for error messages.
    need_initial : bool, default=False
        Require the first record to be at t = 0 (Θ_0, the NTK at initialisation).

    Returns
    -------
    times : ndarray of shape (T,)
        Non-decreasing, >= 0.
    ntk : ndarray of shape (T, n_members, n, n)
    width : int or None
        The hidden width of an ensemble (None for arrays and mixed widths).

    Raises
    ------
    ValueError
        For a source without a recorded NTK (with advice on how to record it),
        malformed arrays or times, or a missing t = 0 record when required.
    """
    history = getattr(source, "history_", None)
    if history is None and hasattr(source, "fit"):
        raise ValueError(
            f"{caller} needs an ensemble with a recorded training history, got an "
            f"unfitted {type(source).__name__}: {RECORD_HINT}"
        )
    if history is None and isinstance(source, Mapping):
        history = source
    if history is not None:
        if "ntk" not in history or "time" not in history:
            raise ValueError(
                f"{caller} needs the NTK recorded during training, but the history "
                f"holds only {sorted(history)}: {RECORD_HINT}"
            )
        if times is not None:
            raise ValueError(
                "times must be None when source is an ensemble or its history "
                f"(the history carries its own times), got times={times!r}"
            )
        ntk, times = history["ntk"], history["time"]
    elif times is None:
        raise ValueError(
            f"{caller} needs the flow times of an NTK array: pass times of shape "
            "(T,) (or pass the fitted MLPEnsemble itself)"
        )
    else:
        ntk = source
    ntk = _check_ntk(ntk)
    times = _check_times(times, len(ntk), caller, need_initial)
    return times, ntk, _width(source)


def _check_ntk(ntk):
    """``ntk`` as a finite float64 array of shape (T, n_members, n, n)."""
    try:
        arr = np.asarray(ntk, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"ntk must be a numeric array, got {type(ntk).__name__}"
        ) from exc
    if arr.ndim != 4 or arr.shape[-1] != arr.shape[-2] or 0 in arr.shape:
        raise ValueError(
            "ntk must have shape (T, n_members, n, n) (recorded times, members, "
            f"square NTK matrices; one network is ntk[:, None]), got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"ntk contains {bad} NaN or infinite value(s)")
    return arr


def _check_times(times, n_times, caller, need_initial):
    """Flow times: 1-D, one per record, finite, >= 0, non-decreasing."""
    try:
        t = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"times must be numeric, got {type(times).__name__}") from exc
    if t.ndim != 1 or len(t) != n_times:
        raise ValueError(
            f"times must have shape ({n_times},) (one per recorded NTK), got shape "
            f"{t.shape}"
        )
    if not np.isfinite(t).all() or np.any(t < 0) or np.any(np.diff(t) < 0):
        raise ValueError(
            f"times must be finite, >= 0 and non-decreasing, got times={t!r}"
        )
    if need_initial and t[0] != 0.0:
        raise ValueError(
            f"{caller} measures the NTK against its value at initialisation, but "
            f"the first record is at t={t[0]:.6g}, not 0: {RECORD_HINT}"
        )
    return t


def _width(source):
    """Return the common hidden width of an ensemble, else None."""
    width = getattr(source, "width", None)
    if width is None or isinstance(width, bool):
        return None
    widths = np.atleast_1d(np.asarray(width))
    if widths.ndim != 1 or widths.dtype.kind not in "iu" or len(set(widths)) != 1:
        return None
    return int(widths[0])
