"""Finite-width networks in the parametrisation of the kernels (THEORY.md §1).

:class:`MLPEnsemble` holds an ensemble of networks with stacked parameters, trains
them by full-batch gradient descent and computes their empirical kernels.
"""

from ._ensemble import MLPEnsemble, StabilityWarning

__all__ = ["MLPEnsemble", "StabilityWarning"]
