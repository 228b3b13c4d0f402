"""Training the members of an ensemble side by side through joblib.

Members are independent networks, so they are split into contiguous chunks, one
per worker, and each chunk is trained by :func:`~._training.train`. Workers are
run by :class:`joblib.Parallel` with ``prefer="threads"`` (NumPy releases the GIL
in the matrix products): a :func:`joblib.parallel_config` context may choose
processes, Dask or Ray instead. Each member's initial parameters and replica noise
come from its own random stream and its updates involve no other member, so the
split changes nothing: results are bitwise identical for any ``n_jobs``.
"""

from __future__ import annotations

import sys

import numpy as np

from .._jobs import run_tasks
from .._validation import resolve_n_jobs
from ._training import train

__all__ = ["member_chunks", "show_progress", "train_members"]


def member_chunks(n_members, n_jobs):
    """Return contiguous member slices, one per worker.

    Joblib's ``n_jobs`` convention: None → 1 unless a ``joblib.parallel_config``
    says otherwise, −1 → all cores.
    """
    n_workers = resolve_n_jobs(n_jobs, n_members)
    bounds = np.linspace(0, n_members, n_workers + 1).round().astype(int)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def train_members(params, X, targets, settings, *, n_jobs=None, progress=False):
    """Train every member in place on ``params``, chunks of members in parallel.

    Parameters
    ----------
    params : (weights, biases)
        Stacked parameters of all members, updated in place.
    X : ndarray of shape (n, n_features)
    targets : ndarray of shape (M, n, n_outputs)
    settings : tuple
        ``(cinv, arch, step, n_steps, trainable, record)``, as
        :func:`~._training.train`.
    n_jobs : int or None, default=None
        Workers, following joblib (None → 1 unless inside
        ``joblib.parallel_config``, −1 → all cores).
    progress : bool, default=False
        Show a progress bar (for the first chunk).

    Returns
    -------
    dict of lists
        Per recorded quantity, one array per chunk (member axis 1), in member
        order.
    """
    weights, biases = params
    chunks = member_chunks(targets.shape[0], n_jobs)
    tasks = [
        (
            ([w[c] for w in weights], [b[c] for b in biases]),
            X,
            targets[c],
            settings,
            progress and i == 0,
        )
        for i, c in enumerate(chunks)
    ]
    # threads with one BLAS thread each (the workers already fill the cores)
    results = list(run_tasks(_train_chunk, tasks, n_jobs=len(tasks)))
    for c, ((w_chunk, b_chunk), _) in zip(chunks, results, strict=True):
        for layer, (w, b) in enumerate(zip(w_chunk, b_chunk, strict=True)):
            weights[layer][c] = w  # worker processes trained copies
            biases[layer][c] = b
    keys = results[0][1].keys()
    return {key: [r[1][key] for r in results] for key in keys}


def _train_chunk(params, X, targets, settings, progress):
    """Train one chunk of members; returns its parameters and its history."""
    cinv, arch, step, n_steps, trainable, record = settings
    history = train(
        params, X, targets, cinv, arch, step, n_steps, trainable, record, progress
    )
    return params, history


def show_progress(progress):
    """Whether to show a progress bar: ``None`` means only on a terminal."""
    if progress is None:
        return sys.stderr.isatty()
    return bool(progress)
