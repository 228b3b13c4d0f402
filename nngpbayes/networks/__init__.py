"""Finite-width networks in the parametrisation of the kernels (:ref:`theory-1`).

:class:`MLPEnsemble` holds an ensemble of networks with stacked parameters, trains
them by full-batch gradient descent and computes their empirical kernels;
:class:`MLPEnsembleRegressor` is a scikit-learn regressor over a trained ensemble;
:class:`DivergenceError` is what a diverging ``fit`` raises.

Package-internal (for :mod:`nngpbayes.finite_width`, not exported by top-level
:mod:`nngpbayes`): :func:`forward`, the forward pass of stacked parameters,
``forward((weights, biases), X, activation, keep=False)`` → φ(X) of shape
(n_members, n_samples, n_outputs).
"""

from ._ensemble import DivergenceError, MLPEnsemble, StabilityWarning
from ._mlp import forward
from ._regressor import MLPEnsembleRegressor

__all__ = [
    "DivergenceError",
    "MLPEnsemble",
    "MLPEnsembleRegressor",
    "StabilityWarning",
    "forward",
]
