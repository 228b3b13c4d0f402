"""nngpbayes: Bayesian inference with infinite-width neural networks.

Conventions (parametrisation, loss, time units) are fixed by the theory pages of the
documentation (:ref:`theory`, sources in ``docs/theory/``), cited in docstrings by
section: :ref:`theory-1` to :ref:`theory-7`.
"""

import importlib

__version__ = "0.1.0.dev0"

# The public names, imported on first use (PEP 562): ``import nngpbayes.cli`` (the
# console script) then starts without scikit-learn and SciPy, so the command line
# answers ``--version`` or rejects a bad ``--out`` at once.
_LAZY = {
    "Architecture": ".architecture",
    "GradientFlowRegressor": ".dynamics",
    "NNGPKernel": ".kernels",
    "NTKKernel": ".kernels",
    "nngp_ntk": ".kernels",
    "DivergenceError": ".networks",
    "MLPEnsemble": ".networks",
    "MLPEnsembleRegressor": ".networks",
}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


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
