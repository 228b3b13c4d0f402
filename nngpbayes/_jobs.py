"""Independent units of work through joblib: the one way the package runs in parallel.

Closure fits, chunks of ensemble members and per-member finite-width solves are
independent tasks. They go through :class:`joblib.Parallel`, so a
:func:`joblib.parallel_config` context chooses where they run: threads, processes,
or a Dask cluster (``backend="dask"`` with a ``distributed.Client``) without any
change here. Each task must carry its own seed (drawn from ``random_state`` before
any task runs), never depend on worker order, so results equal the serial ones.
"""

from __future__ import annotations

from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from ._validation import resolve_n_jobs

__all__ = ["run_tasks"]


def run_tasks(fn, tasks, n_jobs=None, *, prefer="threads", ordered=True):
    """Yield ``fn(*task)`` for every task, running them through joblib.

    Parameters
    ----------
    fn : callable
        A picklable (module-level) function.
    tasks : sequence of tuple
        The arguments of each call.
    n_jobs : int or None, default=None
        Workers (joblib's convention). With one worker the tasks run here, one
        after the other, without joblib.
    prefer : {"threads", "processes"}, default="threads"
        joblib's soft hint; a :func:`joblib.parallel_config` backend overrides it.
        With threads each worker gets one BLAS thread (the workers already fill
        the cores).
    ordered : bool, default=True
        Yield in task order; else as the tasks complete (results are then best
        paired with an index the task returns).

    Yields
    ------
    object
        The results of ``fn``.
    """
    tasks = list(tasks)
    n = resolve_n_jobs(n_jobs, len(tasks))
    if n == 1 or len(tasks) <= 1:
        for task in tasks:
            yield fn(*task)
        return
    parallel = Parallel(
        n_jobs=n,
        prefer=prefer,
        return_as="generator" if ordered else "generator_unordered",
    )
    limit = threadpool_limits(1, user_api="blas") if prefer == "threads" else None
    try:
        yield from parallel(delayed(fn)(*task) for task in tasks)
    finally:
        if limit is not None:
            limit.restore_original_limits()
