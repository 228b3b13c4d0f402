"""Finite width: the NTK hierarchy (O_3, O_4) and the first-order 1/n dynamics.

THEORY.md §5. :func:`ntk_hierarchy` gives the exact tensors of every member of an
:class:`~nngpbayes.MLPEnsemble`; :class:`FiniteWidthFlow` predicts how those members
train, at order 0 (each network's own frozen NTK) or order 1 (the NTK moving under
O_3 and O_4).
"""

from ._flow import FiniteWidthFlow
from ._hierarchy import NTKHierarchy, ntk_hierarchy

__all__ = ["FiniteWidthFlow", "NTKHierarchy", "ntk_hierarchy"]
