"""nngpbayes: Bayesian inference with infinite-width neural networks.

Conventions (parametrisation, loss, time units): the theory pages of the documentation
(docs/theory; cited in docstrings as THEORY.md §n).
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
