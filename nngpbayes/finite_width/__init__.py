"""Finite width.

The NTK hierarchy (O_3, O_4), the first-order 1/n dynamics and the 1/n statistics of
the initial ensemble.

:ref:`theory-5`. :func:`ntk_hierarchy` gives the exact tensors of every member of an
:class:`~nngpbayes.MLPEnsemble`; :class:`FiniteWidthFlow` predicts how those members
train, at order 0 (each network's own frozen NTK) or order 1 (the NTK moving under
O_3 and O_4). :func:`init_statistics` gives the O(1/n) statistics of the ensemble at
initialisation (four-point vertex, NLO kernel, NTK mean, fluctuations and their
correlation with the outputs; PDLT ch. 4 and 8) from the layer recursions, and
:func:`critical_initialization` the (C_W, C_b) at which χ_∥ = χ_⊥ = 1.
"""

from ._critical import critical_initialization
from ._flow import FiniteWidthFlow
from ._hierarchy import NTKHierarchy, ntk_hierarchy
from ._init_statistics import InitStatistics, init_statistics

__all__ = [
    "FiniteWidthFlow",
    "InitStatistics",
    "NTKHierarchy",
    "critical_initialization",
    "init_statistics",
    "ntk_hierarchy",
]
