"""The ``nngpbayes`` command line.

``nngpbayes closure-test`` runs a multi-closure test (:ref:`theory-6`) and writes a
table, figures, a netCDF file (ArviZ) and a JSON summary; ``nngpbayes fit --problem
bcdms-t3`` fits xT3 to the BCDMS data (needs ``pip install "nngpbayes[pdf]"``).
"""

from __future__ import annotations

import argparse
import sys
import time

from ._cli_closure import closure_test
from ._cli_options import add_closure_parser
from ._presets import BCDMS_CLOSURE_DEFAULTS

__all__ = ["main"]


def _parser():
    from . import __version__

    parser = argparse.ArgumentParser(prog="nngpbayes", description=__doc__)
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_closure_parser(sub)
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


def _check_out_first(argv):
    """Fail at once on an unusable ``--out`` of closure-test (before the imports)."""
    from ._files import check_writable_dir

    if "closure-test" not in argv or "-h" in argv or "--help" in argv:
        return
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--out", default="./closure-output")
    known, _ = pre.parse_known_args(argv[argv.index("closure-test") + 1 :])
    check_writable_dir(known.out, "--out", create=False)


def main(argv=None):
    """Entry point of the ``nngpbayes`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        _check_out_first(argv)
    except ValueError as exc:
        print(f"nngpbayes closure-test: error: {exc}", file=sys.stderr)
        return 2
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
