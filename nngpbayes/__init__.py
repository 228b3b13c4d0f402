"""nngpbayes: Bayesian inference with infinite-width neural networks.

Conventions (parametrisation, loss, time units) are fixed by the theory pages of the
documentation (:ref:`theory`, sources in ``docs/theory/``), cited in docstrings by
section: :ref:`theory-1` to :ref:`theory-7`.
"""

from .architecture import Architecture
from .dynamics import GradientFlowRegressor
from .kernels import NNGPKernel, NTKKernel, nngp_ntk
from .networks import DivergenceError, MLPEnsemble, MLPEnsembleRegressor

__version__ = "0.1.0.dev0"

__all__ = [
    "Architecture",
    "NNGPKernel",
    "NTKKernel",
    "GradientFlowRegressor",
    "MLPEnsemble",
    "MLPEnsembleRegressor",
    "DivergenceError",
    "nngp_ntk",
    "__version__",
]
