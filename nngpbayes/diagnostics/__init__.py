"""Training diagnostics.

NTK drift, spectrum, alignment with FᵀC⁻¹F, and the frozen-NTK bias–variance
decomposition.

The diagnostics of Chiefa, Del Debbio and Kenway (arXiv:2512.24116) for networks
trained through a forward map: the NTK ones read an :class:`~nngpbayes.MLPEnsemble`
fitted with ``record_ntk=True``; the decomposition f_t = U(t) f_0 + V(t) y is given
analytically (:func:`frozen_ntk_decomposition`) and measured on trained networks
(:func:`measured_decomposition`) (conventions of :ref:`theory-2` and
:ref:`theory-4`). Each
function returns a small result object; each ``plot_*`` function draws one.
"""

from ._decomposition import (
    FrozenNTKDecomposition,
    MeasuredDecomposition,
    frozen_ntk_decomposition,
    measured_decomposition,
    plot_decomposition,
)
from ._ntk import DriftScaling, NTKDrift, drift_width_scaling, ntk_drift
from ._ntk_plots import (
    plot_drift_scaling,
    plot_ntk_alignment,
    plot_ntk_drift,
    plot_ntk_rank,
    plot_ntk_spectrum,
)
from ._spectrum import NTKAlignment, NTKSpectrum, ntk_alignment, ntk_spectrum

__all__ = [
    "DriftScaling",
    "FrozenNTKDecomposition",
    "MeasuredDecomposition",
    "NTKAlignment",
    "NTKDrift",
    "NTKSpectrum",
    "drift_width_scaling",
    "frozen_ntk_decomposition",
    "measured_decomposition",
    "ntk_alignment",
    "ntk_drift",
    "ntk_spectrum",
    "plot_decomposition",
    "plot_drift_scaling",
    "plot_ntk_alignment",
    "plot_ntk_drift",
    "plot_ntk_rank",
    "plot_ntk_spectrum",
]
