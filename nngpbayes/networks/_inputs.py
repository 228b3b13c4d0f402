"""Checks of :class:`MLPEnsemble`'s arguments and the per-member random streams.

Every check here runs at the public entry point, before any long work; scalar
checks go through :mod:`nngpbayes._validation` (scikit-learn's ``check_scalar``),
randomness through :func:`~nngpbayes._validation.check_generator`.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._numerics import as_covariance, cholesky_psd
from .._validation import check_generator, check_inputs, check_int, check_real

__all__ = [
    "TRAINING",
    "check_schedule",
    "check_targets",
    "data_precision",
    "hidden_widths",
    "member_seeds",
    "record_plan",
]

TRAINING = ("full", "readout")


def hidden_widths(width, depth):
    """Return the hidden widths ``[n_1, ..., n_depth]`` from an int or ``depth`` ints.

    Raises
    ------
    ValueError
        Naming ``width`` and its value, for a wrong length, non-integers or
        widths below 1.
    """
    w = np.atleast_1d(np.asarray(width, dtype=object))
    if w.ndim != 1 or (w.size not in (1, depth) and depth > 0):
        raise ValueError(
            f"width must be an integer or {depth} integers (one per hidden "
            f"layer), got {width!r}"
        )
    if not all(
        isinstance(x, numbers.Integral) and not isinstance(x, bool | np.bool_)
        for x in w
    ):
        raise ValueError(f"width must hold integers, got {width!r}")
    if any(x < 1 for x in w):
        raise ValueError(f"width must be >= 1, got {width!r}")
    return [int(x) for x in np.broadcast_to(w, (depth,))] if depth else []


def member_seeds(random_state, n_members):
    """One independent :class:`numpy.random.SeedSequence` per member.

    The children of the seed sequence of ``check_generator(random_state)``: for an
    int seed ``s`` they are ``SeedSequence(s).spawn(n_members)``, so member ``i``
    has the same stream whatever ``n_members`` and ``n_jobs`` are. A shared
    ``Generator`` spawns new children on every call (its stream moves on).

    Returns
    -------
    list of numpy.random.SeedSequence, length n_members
    """
    rng = check_generator(random_state)  # validates random_state
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.SeedSequence(random_state).spawn(n_members)
    # NumPy >= 1.25 names it seed_seq, older versions _seed_seq
    bits = rng.bit_generator
    seq = getattr(bits, "seed_seq", getattr(bits, "_seed_seq", None))
    if isinstance(seq, np.random.SeedSequence):
        return seq.spawn(n_members)
    entropy = int(rng.integers(0, 2**63 - 1))  # seeded without a SeedSequence
    return np.random.SeedSequence(entropy).spawn(n_members)


def check_targets(y, n):
    """``y`` as a finite float64 array of shape (n, n_outputs)."""
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) or ({n}, n_outputs), got {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    return y


def check_schedule(time, learning_rate, n_steps):
    """Validate the arguments that set the gradient-descent schedule.

    Returns
    -------
    time : float or None
    learning_rate : float or None
    n_steps : int or None
    """
    if time is None and n_steps is None:
        raise ValueError(
            "give time, n_steps or both: fit needs a training length (e.g. "
            "n_steps=100, or time=1.0 with automatic steps); MLPEnsembleRegressor "
            "is the scikit-learn regressor with defaults for every setting"
        )
    if n_steps is not None:
        n_steps = check_int(n_steps, "n_steps", min_val=0)
    if time is not None:
        time = check_real(time, "time", min_val=0.0)
    if learning_rate is not None:
        learning_rate = check_real(
            learning_rate, "learning_rate", min_val=0.0, include_boundaries="neither"
        )
    return time, learning_rate, n_steps


def data_precision(y_cov, n):
    """(L, C⁻¹) of the data covariance C = L Lᵀ, or (None, None) for C = I."""
    if y_cov is None:
        return None, None
    chol = cholesky_psd(as_covariance(y_cov, n, "y_cov"), "y_cov")
    inv = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(n)))
    return chol, 0.5 * (inv + inv.T)


def record_plan(record_times, record_X, record_ntk, X, dt, n_steps):
    """Plan the steps at which ``fit`` records predictions (None without record_times).

    Returns
    -------
    dict or None
        ``{"steps": sorted step indices, "times": their flow times, "X": inputs,
        "ntk": bool}``.
    """
    if record_times is None:
        return None
    times = np.atleast_1d(np.asarray(record_times, dtype=float))
    total = dt * n_steps
    if (
        times.ndim != 1
        or np.any(~np.isfinite(times))
        or np.any(times < 0)
        or (np.any(times > total * (1 + 1e-12)))
    ):
        raise ValueError(
            f"record_times must be finite times in [0, {total:.6g}] (the training "
            f"time), got {record_times!r}"
        )
    steps = np.round(times / dt).astype(int) if dt > 0 else np.zeros(len(times), int)
    rec_X = X if record_X is None else check_inputs(record_X, "record_X")
    if rec_X.shape[1] != X.shape[1]:
        raise ValueError(
            f"record_X has {rec_X.shape[1]} features but X has {X.shape[1]}; "
            "both must have the same n_features"
        )
    order = np.argsort(steps, kind="stable")
    return {
        "steps": steps[order],
        "times": steps[order] * dt,
        "X": rec_X,
        "ntk": bool(record_ntk),
    }
