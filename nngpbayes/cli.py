"""The ``nngpbayes`` command line: ``nngpbayes closure-test`` runs a multi-closure
test (THEORY.md §6) and writes a table, figures, a netCDF file (ArviZ) and a JSON
summary."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main"]


def _time(text):
    """One training time from the command line ("inf" allowed)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or 'inf', got {text!r}"
        ) from None


def _parser():
    parser = argparse.ArgumentParser(prog="nngpbayes", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser(
        "closure-test",
        help="run a multi-closure test (default: NNGP-prior truth, depth-2 ReLU)",
        description="Fake data from a known truth fitted by the Bayesian posterior, "
        "the analytic trained ensemble and finite-width networks; prints R_bv, "
        "xi_1sigma, bias, variance and Delta chi2 per method.",
    )
    c.add_argument(
        "--truth", default="prior", choices=["prior", "pdf", "oscillating", "teacher"]
    )
    c.add_argument("--level", type=int, default=2, choices=[0, 1, 2])
    c.add_argument("--n-fits", type=int, default=20)
    c.add_argument(
        "--n-replicas",
        type=int,
        default=30,
        help="members of each finite-width ensemble",
    )
    c.add_argument(
        "--n-train",
        type=int,
        default=None,
        help="grid points of the fits (default 40, or the forward map's columns)",
    )
    c.add_argument(
        "--forward-map",
        metavar="FILE",
        default=None,
        help="a .npy matrix F (n_data, n_grid): the data are F f(grid), e.g. an "
        "FK table (default: the data are f on the grid)",
    )
    c.add_argument(
        "--data-cov",
        metavar="FILE",
        default=None,
        help="a .npy data covariance C (n_data, n_data), or its diagonal (n_data,) "
        "(default: 5%% uncorrelated with a floor, 3%% fully correlated)",
    )
    c.add_argument(
        "--grid",
        metavar="FILE",
        default=None,
        help="a .npy array of the grid inputs, (n_grid,) or (n_grid, n_features); "
        "the fits are then also scored on it (default: n_train points evenly "
        "spaced in (0.02, 0.98), scored at n_test points)",
    )
    c.add_argument("--n-test", type=int, default=25)
    c.add_argument("--depth", type=int, default=2)
    c.add_argument("--activation", default="relu")
    c.add_argument("--weight-variance", type=float, default=2.0)
    c.add_argument("--bias-variance", type=float, default=0.1)
    c.add_argument(
        "--truth-weight-variance",
        type=float,
        default=None,
        help="C_W of a prior/teacher truth (a misspecified prior differs)",
    )
    c.add_argument("--widths", type=int, nargs="*", default=[128])
    c.add_argument("--ensemble-steps", type=int, default=400)
    c.add_argument(
        "--times", type=_time, nargs="+", default=[0.001, 0.01, 0.1, 1.0, np.inf]
    )
    c.add_argument(
        "--no-inference",
        action="store_true",
        help="skip the emcee hyperparameter posterior",
    )
    c.add_argument("--inference-steps", type=int, default=3000)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="workers training each finite-width ensemble (joblib: -1 = all cores)",
    )
    c.add_argument("--out", default="./closure-output")
    c.add_argument("--no-progress", action="store_true")
    return parser


def _architectures(args):
    """The fits' architecture and the truth's (None: the same)."""
    from .architecture import Architecture

    arch = Architecture(
        args.depth, args.activation, args.weight_variance, args.bias_variance
    )
    if args.truth_weight_variance is None:
        return arch, None
    return arch, arch.replace(weight_variance=args.truth_weight_variance)


def _load_array(path, option):
    """The array stored in the .npy file ``path`` (``None`` for no file).

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
    """The grid inputs X_train from --grid, --n-train and the forward map."""
    X = _load_array(args.grid, "--grid")
    n_grid = None if F is None or F.ndim != 2 else F.shape[1]
    if X is not None:
        X = X[:, None] if X.ndim == 1 else X
        if args.n_train is not None and args.n_train != len(X):
            raise ValueError(
                f"--n-train {args.n_train} but --grid {args.grid} has {len(X)} points"
            )
    else:
        n = args.n_train if args.n_train is not None else n_grid or 40
        X = np.linspace(0.02, 0.98, n)[:, None] if n > 0 else np.zeros((0, 1))
    if F is not None and (F.ndim != 2 or F.shape[1] != len(X)):
        raise ValueError(
            f"--forward-map {args.forward_map}: the matrix has shape {F.shape}; it "
            f"needs one column per grid point, (n_data, {len(X)}) (the grid has "
            f"{len(X)} points: match --n-train or --grid to the map)"
        )
    return X


def _data_cov(args, F, n_grid):
    """The data covariance from --data-cov, checked against the data count."""
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
    """The :class:`~nngpbayes.closure.ClosureTest` the arguments describe."""
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
        level=args.level,
        n_fits=args.n_fits,
        n_replicas=args.n_replicas,
        times=args.times,
        widths=args.widths,
        ensemble_steps=args.ensemble_steps,
        inference=not args.no_inference,
        inference_steps=args.inference_steps,
        random_state=args.seed,
        progress=False if args.no_progress else None,
        n_jobs=args.n_jobs,
    )


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
    """Write closure.nc, summary.json and the figures to ``out``; print the
    hyperparameter table. Returns the paths written."""
    from .closure import hyperparameter_summary, to_netcdf
    from .plotting import save_all

    out.mkdir(parents=True, exist_ok=True)
    data = result.to_arviz()
    nc = to_netcdf(data, out / "closure.nc")
    summary = result.summary()
    if result.inference is not None:
        summary["inference"] = _inference_summary(result.inference)
        print("\nhyperparameter posterior (emcee):")
        print(hyperparameter_summary(data).to_string())
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return [nc, out / "summary.json", *save_all(result, out, data)]


def closure_test(args):
    """Run ``nngpbayes closure-test`` with parsed ``args``; returns the exit code."""
    start = time.perf_counter()
    test = _closure_test(args)
    print(
        f"closure test: truth={args.truth}, level {args.level}, {args.n_fits} fits, "
        f"{test.architecture}",
        flush=True,
    )
    result = test.run()
    print()
    print(result.table())
    out = Path(args.out)
    paths = _write_outputs(result, out)
    print(
        f"\nwrote {paths[0]}, {paths[1]} and {len(paths) - 2} figures to {out} "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return 0


def main(argv=None):
    """Entry point of the ``nngpbayes`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "closure-test":
        try:
            return closure_test(args)
        except ValueError as exc:
            print(f"nngpbayes closure-test: error: {exc}", file=sys.stderr)
            return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
