r"""``nngpbayes closure-test --problem bcdms-t3`` (private).

A multi-closure test (:ref:`theory-6`) on the real BCDMS problem: the experimental
covariance :math:`C`, the HOPPET map with the preprocessing folded in,
:math:`F\,\mathrm{diag}(p)`, and the Les Houches toy as the truth in network
space, :math:`f^\ast(x) = xT_3^{\rm toy}(x) / p(x)`, on the grid inputs
:math:`(x, \ln x)`; the fits are scored on the grid.
"""

from __future__ import annotations

import numpy as np

from .._presets import ARCHITECTURE_KEYS, BCDMS_CLOSURE_DEFAULTS

__all__ = ["CLOSURE_DEFAULTS", "ToyTruth", "bcdms_closure_test"]

CLOSURE_DEFAULTS = BCDMS_CLOSURE_DEFAULTS  # the command line shows the same


class ToyTruth:
    r"""The Les Houches toy in network space.

    :math:`f^\ast(X) = xT_3^{\rm toy}(x) / (x^\alpha (1-x)^\beta)`, x = ``X[:, 0]``.

    Parameters
    ----------
    alpha, beta : float
        Preprocessing exponents of the problem.
    """

    def __init__(self, alpha, beta):
        self.alpha, self.beta = float(alpha), float(beta)

    def __call__(self, X):
        """Evaluate as an ndarray (n,) at inputs X of shape (n, 2) = [x, ln x]."""
        from ._problem import preprocessing_factor
        from ._toy import toy_t3

        x = np.asarray(X, dtype=np.float64)[:, 0]
        return toy_t3(x) / preprocessing_factor(x, self.alpha, self.beta)

    def __repr__(self):
        return f"ToyTruth(alpha={self.alpha}, beta={self.beta})"


def bcdms_closure_test(
    *, n_grid=50, cache_dir=None, progress=None, architecture=None, **kwargs
):
    """Build the :class:`~nngpbayes.closure.ClosureTest` of the BCDMS xT3 problem.

    Parameters
    ----------
    n_grid : int, default=50
        Grid points (uniform in ln x), inputs (x, ln x).
    cache_dir : str or os.PathLike, optional
        Forward-map cache.
    progress : bool or None, default=None
        Progress bars of the closure test (``None``: on a terminal) and of a
        cold forward-map build (shown unless False).
    architecture : Architecture, optional
        Default: depth 2, erf, C_W = 1, C_b = 0.1 (:data:`CLOSURE_DEFAULTS`).
    **kwargs
        Other :class:`~nngpbayes.closure.ClosureTest` arguments (``truth``,
        ``X_train``, ``X_test``, ``forward_map`` and ``data_cov`` are fixed);
        those not given take the problem's defaults, :data:`CLOSURE_DEFAULTS`
        (the same as ``closure-test --problem bcdms-t3``).

    Returns
    -------
    ClosureTest
    """
    from ..architecture import Architecture
    from ..closure import ClosureTest
    from . import bcdms_problem

    fixed = {"truth", "X_train", "X_test", "forward_map", "data_cov"}
    if fixed & set(kwargs):
        raise ValueError(
            f"{sorted(fixed & set(kwargs))} are set by the bcdms-t3 problem"
        )
    d = CLOSURE_DEFAULTS
    if architecture is None:
        architecture = Architecture(*(d[k] for k in ARCHITECTURE_KEYS))
    kwargs = {
        **{k: v for k, v in d.items() if k not in ARCHITECTURE_KEYS},
        **kwargs,
    }
    prob = bcdms_problem(n_grid, cache_dir=cache_dir, progress=progress is not False)
    return ClosureTest(
        truth=ToyTruth(prob.alpha, prob.beta),
        architecture=architecture,
        X_train=prob.X,
        X_test=prob.X,
        forward_map=prob.forward_map,
        data_cov=prob.cov,
        progress=progress,
        **kwargs,
    )
