"""The ``nngpbayes`` command line.

``nngpbayes closure-test`` runs a multi-closure test (:ref:`theory-6`) and writes a
table, figures, a netCDF file (ArviZ) and a JSON summary; ``nngpbayes fit --problem
bcdms-t3`` fits xT3 to the BCDMS data (needs ``pip install "nngpbayes[pdf]"``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ._presets import BCDMS_CLOSURE_DEFAULTS

__all__ = ["main"]


def _time(text):
    """One training time from the command line ("inf" allowed)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or 'inf', got {text!r}"
        ) from None


_BCDMS_CLOSURE_HELP = {
    k: " ".join(map(str, v)) if isinstance(v, list) else v
    for k, v in BCDMS_CLOSURE_DEFAULTS.items()
}


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
    c.add_argument(
        "--problem",
        default=None,
        choices=["bcdms-t3"],
        help="a real problem: bcdms-t3 = the BCDMS covariance and HOPPET map "
        "F diag(x^0.5 (1-x)^3), the Les Houches toy xT3 as truth, grid inputs "
        "(x, ln x) with --n-train points (default 50), scored on the grid; its "
        "defaults: "
        + ", ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in _BCDMS_CLOSURE_HELP.items()
        )
        + ", inference on (needs: pip install "
        '"nngpbayes[pdf]")',
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
    _fit_parser(sub)
    return parser


def _fit_parser(sub):
    """Add the ``fit`` subcommand's options.

    Defaults: nngpbayes.pdf._fit.FIT_DEFAULTS, repeated here so that --help works
    without the [pdf] extra.
    """
    f = sub.add_parser(
        "fit",
        help="fit real data (bcdms-t3: xT3 at Q0 from BCDMS F2p - F2d)",
        description="The NNGP posterior of xT3(x, Q0=1.65 GeV) from the BCDMS "
        "data, hyperparameters marginalised by emcee, and a trained [28, 20] tanh "
        "ensemble on replicas; writes summary.json, hyperparameters.nc and figures "
        '(xt3.png, data.png, ntk.png). Needs: pip install "nngpbayes[pdf]".',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    f.add_argument("--problem", required=True, choices=["bcdms-t3"])
    f.add_argument("--out", default="./fit-output")
    f.add_argument("--n-grid", type=int, default=50, help="fit grid (uniform in ln x)")
    f.add_argument("--n-plot", type=int, default=100, help="points of the output x")
    f.add_argument(
        "--activation", default="erf", help="activation of the depth-2 NNGP prior"
    )
    f.add_argument("--n-walkers", type=int, default=16)
    f.add_argument("--n-steps", type=int, default=3000, help="emcee steps per walker")
    f.add_argument("--burn", type=int, default=1000)
    f.add_argument(
        "--n-draws", type=int, default=100, help="hyperparameter draws averaged over"
    )
    f.add_argument("--n-members", type=int, default=100, help="ensemble replicas")
    f.add_argument(
        "--train-time",
        type=float,
        default=1.0,
        help="flow time of the ensemble (steps: the automatic schedule)",
    )
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--n-jobs", type=int, default=-1)
    f.add_argument("--cache-dir", default=None, help="forward-map cache")
    f.add_argument("--no-progress", action="store_true")


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
        **_run_options(args),
        progress=False if args.no_progress else None,
    )


def _run_options(args):
    """Return the ClosureTest settings shared by every problem."""
    return dict(
        level=args.level,
        n_fits=args.n_fits,
        n_replicas=args.n_replicas,
        times=args.times,
        widths=args.widths,
        ensemble_steps=args.ensemble_steps,
        inference=not args.no_inference,
        inference_steps=args.inference_steps,
        random_state=args.seed,
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
    """Write closure.nc, summary.json and the figures to ``out``.

    Also print the hyperparameter table. Returns the paths written.
    """
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
        progress=False if args.no_progress else None,
        **_run_options(args),
    )


def closure_test(args):
    """Run ``nngpbayes closure-test`` with parsed ``args``; returns the exit code."""
    start = time.perf_counter()
    test = _bcdms_closure_test(args) if args.problem else _closure_test(args)
    truth = f"{args.problem} toy" if args.problem else args.truth
    print(
        f"closure test: truth={truth}, level {args.level}, {args.n_fits} fits, "
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


_FIT_SETTINGS = (
    "n_grid",
    "n_plot",
    "activation",
    "n_walkers",
    "n_steps",
    "burn",
    "n_draws",
    "n_members",
    "train_time",
    "seed",
)


def fit(args):
    """Run ``nngpbayes fit`` with parsed ``args``; returns the exit code."""
    try:
        from .pdf._fit import fit_bcdms
    except ImportError as exc:
        print(f"nngpbayes fit: error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    summary = fit_bcdms(
        args.out,
        cache_dir=args.cache_dir,
        progress=not args.no_progress,
        n_jobs=args.n_jobs,
        **{k: getattr(args, k) for k in _FIT_SETTINGS},
    )
    ens = summary["ensemble"]
    print(
        f"bcdms-t3: {summary['n_data']} points; chi2/N of the posterior mean "
        f"{summary['chi2_per_point']:.3f}, of the ensemble mean "
        f"{ens['chi2_per_point']:.3f} ({ens['n_members']} members, "
        f"{ens['n_steps']} steps), of the toy {summary['chi2_per_point_toy']:.3f}; "
        f"emcee converged: {summary['converged']}\nwrote summary.json, "
        f"hyperparameters.nc and {len(summary['figures'])} figures to {args.out} "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return 0


def main(argv=None):
    """Entry point of the ``nngpbayes`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "closure-test" and args.problem == "bcdms-t3":
        sub = parser._subparsers._group_actions[0].choices["closure-test"]
        sub.set_defaults(**BCDMS_CLOSURE_DEFAULTS)  # explicit options still win
        args = parser.parse_args(argv)
    runners = {"closure-test": closure_test, "fit": fit}
    try:
        return runners[args.command](args)
    except ValueError as exc:
        print(f"nngpbayes {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
