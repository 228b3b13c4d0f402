"""The frozen-NTK decomposition f_t = U(t) f_0 + V(t) y.

The decomposition of Chiefa, Del Debbio and Kenway (arXiv:2512.24116), analytic and
measured, and its figure.

- :func:`frozen_ntk_decomposition` (:class:`FrozenNTKDecomposition`): U(t), V(t)
  and the bias and U/V variance contributions from the kernels on the grid
  (:ref:`theory-4`; formulas in :mod:`._decomposition_analytic`);
- :func:`measured_decomposition` (:class:`MeasuredDecomposition`): the same split
  measured on a trained :class:`~nngpbayes.MLPEnsemble` (zero-target and data runs
  from identical initialisations), with jackknife errors;
- :func:`plot_decomposition`: bias² and the U/V variances against training time.
"""

from ._decomposition_analytic import FrozenNTKDecomposition, frozen_ntk_decomposition
from ._decomposition_measured import MeasuredDecomposition, measured_decomposition
from ._decomposition_plot import plot_decomposition

__all__ = [
    "FrozenNTKDecomposition",
    "MeasuredDecomposition",
    "frozen_ntk_decomposition",
    "measured_decomposition",
    "plot_decomposition",
]
