"""``nngpbayes closure-test``'s options (private to :mod:`nngpbayes.cli`).

One source of defaults: every option takes :class:`~nngpbayes.closure.ClosureTest`'s
default (read from its signature), except those in
:data:`~nngpbayes._presets.CLI_CLOSURE_OVERRIDES`, whose help says so.
"""

from __future__ import annotations

import argparse
import inspect
import math

from ._presets import BCDMS_CLOSURE_DEFAULTS, CLI_CLOSURE_OVERRIDES

__all__ = ["add_closure_parser", "closure_defaults"]


def closure_defaults():
    """Return ClosureTest's defaults and the command's (with its overrides)."""
    from .closure import ClosureTest
    from .closure._settings import DEFAULT_ARCHITECTURE, DEFAULT_N_TEST, DEFAULT_N_TRAIN

    sig = inspect.signature(ClosureTest)
    out = {k: p.default for k, p in sig.parameters.items()}
    out.update(
        DEFAULT_ARCHITECTURE,
        n_train=DEFAULT_N_TRAIN,
        n_test=DEFAULT_N_TEST,
        seed=out["random_state"],
    )
    out["times"] = list(out["times"])
    out["widths"] = list(out["widths"])
    return out, dict(out, **CLI_CLOSURE_OVERRIDES)


def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer, got {text!r}"
            ) from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def _n_jobs(text):
    value = _int_at_least(-(2**31))(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be a positive number of workers or -1")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be positive and finite, got {text}")
    return value


def _time(text):
    """One training time from the command line ("inf" allowed)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or 'inf', got {text!r}"
        ) from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (or inf), got {text}")
    return value


def _show(value):
    if isinstance(value, list | tuple):
        return " ".join(_show(v) for v in value) or "none"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return str(value)


def _default(key, cli, lib, fmt=_show):
    """Help text's default: the CLI's, and ClosureTest's where it differs."""
    text = f"default: {fmt(cli[key])}"
    if key in CLI_CLOSURE_OVERRIDES and key in lib:
        text += f"; ClosureTest's: {fmt(lib[key])}"
    return f"({text})"


def add_closure_parser(sub):
    """Add the ``closure-test`` subcommand to the subparsers ``sub``."""
    from .activations import ACTIVATIONS

    lib, cli = closure_defaults()
    d = lambda key: _default(key, cli, lib)  # noqa: E731
    c = sub.add_parser(
        "closure-test",
        help="run a multi-closure test (default: NNGP-prior truth, depth-2 ReLU)",
        description="Fake data from a known truth fitted by the Bayesian posterior, "
        "the analytic trained ensemble and finite-width networks; prints R_bv, "
        "xi_1sigma, bias, variance and Delta chi2 per method. Defaults are "
        "ClosureTest's unless stated.",
    )
    c.set_defaults(**{k: v for k, v in cli.items() if k in _DESTS})
    c.add_argument(
        "--truth",
        choices=["prior", "pdf", "oscillating", "teacher"],
        help=f"the known truth {d('truth')}",
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
            f"--{k.replace('_', '-')} {_show(v)}"
            for k, v in BCDMS_CLOSURE_DEFAULTS.items()
        )
        + ', inference on (needs: pip install "nngpbayes[pdf]") (default: none)',
    )
    c.add_argument(
        "--level",
        type=int,
        choices=[0, 1, 2],
        help="closure level: 0 fits the truth's data without noise, 1 a noisy "
        "dataset per fit, 2 also trains every network on its own replica "
        f"{d('level')}",
    )
    c.add_argument(
        "--n-fits",
        type=_int_at_least(1),
        help=f"level-1 datasets, one fit each {d('n_fits')}",
    )
    c.add_argument(
        "--n-replicas",
        type=_int_at_least(2),
        help=f"members of each finite-width ensemble {d('n_replicas')}",
    )
    c.add_argument(
        "--n-train",
        type=_int_at_least(2),
        default=None,
        help=f"grid points of the fits (default: {cli['n_train']}, or the forward "
        "map's columns)",
    )
    _add_files(c)
    c.add_argument("--n-test", type=_int_at_least(1), help=f"test inputs {d('n_test')}")
    c.add_argument("--depth", type=_int_at_least(1), help=f"hidden layers {d('depth')}")
    c.add_argument(
        "--activation",
        choices=sorted(ACTIVATIONS),
        metavar="NAME",
        help=f"activation function, one of {', '.join(sorted(ACTIVATIONS))} "
        f"{d('activation')}",
    )
    c.add_argument(
        "--weight-variance", type=_positive_float, help=f"C_W {d('weight_variance')}"
    )
    c.add_argument(
        "--bias-variance", type=float, help=f"C_b (>= 0) {d('bias_variance')}"
    )
    c.add_argument(
        "--truth-weight-variance",
        type=_positive_float,
        default=None,
        help="C_W of a prior/teacher truth, a misspecified prior (default: the "
        "fits' C_W)",
    )
    _add_training(c, d)
    _add_run(c, d)
    return c


def _add_files(c):
    c.add_argument(
        "--forward-map",
        metavar="FILE",
        default=None,
        help="a .npy matrix F (n_data, n_grid): the data are F f(grid), e.g. an "
        "FK table (default: none, the data are f on the grid)",
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


def _add_training(c, d):
    c.add_argument(
        "--widths",
        type=_int_at_least(1),
        nargs="*",
        help=f"widths of the finite-width ensembles to train {d('widths')}",
    )
    c.add_argument(
        "--ensemble-steps",
        type=_int_at_least(1),
        help=f"gradient-descent steps of the ensembles {d('ensemble_steps')}",
    )
    c.add_argument(
        "--times",
        type=_time,
        nargs="+",
        help=f"training times of the analytic ensemble {d('times')}",
    )
    c.add_argument(
        "--no-inference",
        dest="inference",
        action="store_false",
        help="skip the emcee hyperparameter posterior (default: run it; "
        "ClosureTest's: skip)",
    )
    c.add_argument(
        "--inference-steps",
        type=_int_at_least(5),
        help=f"emcee steps per walker {d('inference_steps')}",
    )
    c.add_argument(
        "--inference-walkers",
        type=_int_at_least(6),
        help=f"emcee walkers {d('inference_walkers')}",
    )


def _add_run(c, d):
    c.add_argument(
        "--seed", type=_int_at_least(0), help=f"seeds the whole run {d('seed')}"
    )
    c.add_argument(
        "--n-jobs",
        type=_n_jobs,
        help="workers running the fits in parallel (one ensemble's members when "
        f"there is one fit); -1 = all cores or all Dask workers {d('n_jobs')}",
    )
    c.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run the fits on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 "
        '(needs: pip install "nngpbayes[dask]") (default: none, this machine)',
    )
    c.add_argument(
        "--out",
        default="./closure-output",
        help="output directory: created and checked writable before any work; "
        "each fit is saved in OUT/fits as soon as it completes "
        "(default: ./closure-output)",
    )
    c.add_argument(
        "--resume",
        action="store_true",
        help="keep the fits of the same run already in OUT (e.g. after the run "
        "was killed) and compute only the others (default: start over)",
    )
    c.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (default: shown on a terminal)",
    )


#: The options whose default the parser takes from :func:`closure_defaults`.
_DESTS = (
    "truth",
    "level",
    "n_fits",
    "n_replicas",
    "n_test",
    "depth",
    "activation",
    "weight_variance",
    "bias_variance",
    "widths",
    "ensemble_steps",
    "times",
    "inference",
    "inference_steps",
    "inference_walkers",
    "seed",
    "n_jobs",
)
