"""BLAS threads for small problems (private): one thread below a work threshold.

A multi-threaded BLAS splits every call among its threads and waits for all of
them. Small calls (the level-2 steps of an eigendecomposition, products of a few
hundred rows) gain little from a second thread on an idle machine, and on a loaded
one every call waits for a thread that is not scheduled: a 353-point
:class:`~nngpbayes.GradientFlowRegressor` fit took 2.6 s with the default threads
and 0.04 s with one. :func:`blas_threads_for` runs such work on one BLAS thread.

The threshold :data:`SMALL_WORK` is the work of an eigendecomposition of a
512 × 512 matrix (512³ ≈ 1.3e8 multiply-adds). Below it the whole problem takes
at most ~0.1 s on one thread (benchmarks/bench_dynamics.py), so one thread costs at
most that much on an idle machine, while default threads cost 5–60× on a loaded one;
above it the BLAS calls are large enough for the threads to pay.

Above the threshold one more thing matters: NumPy and SciPy wheels each bundle
their own OpenBLAS. When both run multi-threaded, the threads of one spin while the
other works (OpenBLAS threads busy-wait after a call), and on two cores every call
of one library waits for the other's spinning threads: the 1000-point flow
prediction of ``benchmarks/bench_dynamics.py`` took 0.84 s that way and 0.52 s with
NumPy's copy on one thread. So above the threshold, when several BLAS libraries
are loaded, every one but SciPy's (the one LAPACK, ``eigh``, ``dsyrk`` and
``dtrmm`` run in) gets one thread.

Limits are process-wide (threadpoolctl sets the BLAS libraries' global thread
count), as they are for joblib and threadpoolctl themselves.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from threadpoolctl import ThreadpoolController

__all__ = ["SMALL_WORK", "blas_threads_for", "one_blas_runtime", "one_blas_thread"]

#: Work (multiply-adds, about n³ for an n × n eigendecomposition) below which BLAS
#: runs on one thread.
SMALL_WORK = 512**3

_CONTROLLER = None


def _controller():
    """One :class:`threadpoolctl.ThreadpoolController`, made on first use.

    Building one inspects the loaded libraries (~1 ms); ``limit`` on a built one
    costs ~10 µs, less than the smallest fit.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, to be seen)

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def one_blas_thread():
    """Return a context manager that runs BLAS on one thread and then restores it."""
    return _controller().limit(limits=1, user_api="blas")


def blas_threads_for(work):
    """One BLAS thread when ``work`` < :data:`SMALL_WORK`, else leave BLAS alone.

    Parameters
    ----------
    work : float
        The problem's size in multiply-adds (e.g. n³ for n training points).

    Returns
    -------
    context manager
    """
    if work < SMALL_WORK:
        return one_blas_thread()
    return one_blas_runtime()


def one_blas_runtime():
    """Run every BLAS library but SciPy's on one thread, if there are several.

    Returns
    -------
    context manager
        A no-op with a single BLAS library (e.g. MKL or a shared OpenBLAS).
    """
    blas = [c for c in _controller().lib_controllers if c.user_api == "blas"]
    others = [c for c in blas if not Path(c.filepath).parent.name.startswith("scipy")]
    if len(blas) < 2 or len(others) == len(blas):
        return contextlib.nullcontext()
    return _controller().select(filepath=[c.filepath for c in others]).limit(limits=1)
