"""``nngpbayes closure-test``: build the ClosureTest, run it, write its outputs.

Private to :mod:`nngpbayes.cli`; the options are in :mod:`._cli_options`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

__all__ = ["closure_test", "run_options"]


def _architectures(args):
    """Return the fits' architecture and the truth's (None: the same)."""
    from .architecture import Architecture

    arch = Architecture(
        args.depth, args.activation, args.weight_variance, args.bias_variance
    )
    if args.truth_weight_variance is None:
        return arch, None
    return arch, arch.replace(weight_variance=args.truth_weight_variance)


def _load_array(path, option):
    """Return the array stored in the .npy file ``path`` (``None`` for no file).

    Raises
    ------
    ValueError
        Naming the option and the file, if it cannot be read as a numeric array.
    """
    if path is None:
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{option} {path}: cannot read a .npy array ({exc})") from None
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{option} {path}: expected a numeric array, got {arr.dtype}")
    return np.asarray(arr, dtype=float)


def _grid(args, F):
    """Return the grid inputs X_train from --grid, --n-train and the forward map."""
    X = _load_array(args.grid, "--grid")
    n_grid = None if F is None or F.ndim != 2 else F.shape[1]
    if X is not None:
        X = X[:, None] if X.ndim == 1 else X
        if args.n_train is not None and args.n_train != len(X):
            raise ValueError(
                f"--n-train {args.n_train} but --grid {args.grid} has {len(X)} points"
            )
    else:
        from .closure._settings import DEFAULT_N_TRAIN

        n = args.n_train if args.n_train is not None else n_grid or DEFAULT_N_TRAIN
        X = np.linspace(0.02, 0.98, n)[:, None]
    if F is not None and (F.ndim != 2 or F.shape[1] != len(X)):
        raise ValueError(
            f"--forward-map {args.forward_map}: the matrix has shape {F.shape}; it "
            f"needs one column per grid point, (n_data, {len(X)}) (the grid has "
            f"{len(X)} points: match --n-train or --grid to the map)"
        )
    return X


def _data_cov(args, F, n_grid):
    """Return the data covariance from --data-cov, checked against the data count."""
    C = _load_array(args.data_cov, "--data-cov")
    n_data = n_grid if F is None else len(F)
    if C is not None and C.shape not in ((n_data,), (n_data, n_data)):
        raise ValueError(
            f"--data-cov {args.data_cov}: the array has shape {C.shape}; the data "
            f"have {n_data} points, so it must be ({n_data}, {n_data}) or "
            f"({n_data},) (a diagonal)"
        )
    return np.diag(C) if C is not None and C.ndim == 1 else C


def _closure_test(args):
    """Return the :class:`~nngpbayes.closure.ClosureTest` the arguments describe."""
    from .closure import ClosureTest

    arch, truth_arch = _architectures(args)
    F = _load_array(args.forward_map, "--forward-map")
    X_train = _grid(args, F)
    return ClosureTest(
        truth=args.truth,
        architecture=arch,
        truth_architecture=truth_arch,
        X_train=X_train,
        X_test=X_train
        if args.grid is not None
        else np.linspace(0.05, 0.95, args.n_test)[:, None],
        forward_map=F,
        data_cov=_data_cov(args, F, len(X_train)),
        **run_options(args),
    )


def run_options(args):
    """Return the ClosureTest settings shared by every problem."""
    return dict(
        level=args.level,
        n_fits=args.n_fits,
        n_replicas=args.n_replicas,
        times=args.times,
        widths=args.widths,
        ensemble_steps=args.ensemble_steps,
        inference=args.inference,
        inference_steps=args.inference_steps,
        inference_walkers=args.inference_walkers,
        random_state=args.seed,
        n_jobs=args.n_jobs,
        progress=False if args.no_progress else None,
    )


def _bcdms_closure_test(args):
    """Return the ClosureTest of ``--problem bcdms-t3`` (exit 2 without the extra)."""
    for option in ("grid", "forward_map", "data_cov"):
        if getattr(args, option) is not None:
            raise ValueError(
                f"--{option.replace('_', '-')} cannot be combined with --problem "
                f"{args.problem} (the problem sets it)"
            )
    try:
        from .pdf._fit_closure import bcdms_closure_test
    except ImportError as exc:
        raise ValueError(str(exc)) from None
    arch, _ = _architectures(args)
    return bcdms_closure_test(
        n_grid=50 if args.n_train is None else args.n_train,
        architecture=arch,
        **run_options(args),
    )


def _dask(scheduler):
    """Return a context running joblib's tasks on the Dask scheduler ``scheduler``."""
    if scheduler is None:
        return contextlib.nullcontext()
    try:
        import joblib
        from distributed import Client
    except ImportError:
        raise ValueError(
            '--scheduler needs Dask: pip install "nngpbayes[dask]"'
        ) from None
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(
            f"--scheduler {scheduler}: cannot connect to a Dask scheduler ({exc})"
        ) from None
    stack = contextlib.ExitStack()
    stack.enter_context(client)
    stack.enter_context(joblib.parallel_config(backend="dask"))
    n = len(client.scheduler_info()["workers"])
    print(f"Dask scheduler {scheduler}: {n} workers", flush=True)
    return stack


def closure_test(args):
    """Run ``nngpbayes closure-test`` with parsed ``args``; returns the exit code."""
    from ._files import check_writable_dir

    start = time.perf_counter()
    existed = Path(args.out).exists()
    out = check_writable_dir(args.out, "--out")  # before any work
    try:
        test = _bcdms_closure_test(args) if args.problem else _closure_test(args)
    except ValueError:
        if not existed:  # leave nothing behind for a bad setting
            shutil.rmtree(out, ignore_errors=True)
        raise
    truth = f"{args.problem} toy" if args.problem else args.truth
    print(
        f"closure test: truth={truth}, level {args.level}, {args.n_fits} fits, "
        f"{test.architecture}",
        flush=True,
    )
    with _dask(args.scheduler):
        result = test.run(checkpoint_dir=out, resume=args.resume)
    print()
    print(result.table(legend=True))
    paths = _write_outputs(result, out)
    print(
        f"\nwrote {paths[0]}, {paths[1]} and {len(paths) - 2} figures to {out} "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return 0


def _inference_summary(post):
    """JSON-ready convergence figures and posterior means of the emcee run."""
    return {
        "converged": bool(post.converged),
        "rhat": {k: float(v) for k, v in post.rhat.items()},
        "ess": {k: float(v) for k, v in post.ess.items()},
        "autocorr_time": [float(t) for t in np.ravel(post.autocorr_time)],
        "posterior_mean_log": {
            k: float(np.log(v).mean()) for k, v in post.samples.items()
        },
    }


def _write_outputs(result, out):
    """Write closure.nc, summary.json and the figures to ``out``.

    Also print the hyperparameter table. Returns the paths written.
    """
    from .closure import hyperparameter_summary, to_netcdf
    from .plotting import save_all

    data = result.to_arviz()
    nc = to_netcdf(data, Path(out) / "closure.nc")
    summary = result.summary()
    if result.inference is not None:
        summary["inference"] = _inference_summary(result.inference)
        print("\nhyperparameter posterior (emcee):")
        print(hyperparameter_summary(data).to_string())
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return [nc, out / "summary.json", *save_all(result, out, data)]
