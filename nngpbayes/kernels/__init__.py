"""Infinite-width kernels: the NNGP and the NTK (:ref:`theory-3`).

Pure array functions (:func:`nngp_ntk`) and scikit-learn kernel objects
(:class:`NNGPKernel`, :class:`NTKKernel`).
"""

from ._nngp_ntk import KernelPair, nngp_ntk
from ._sklearn import NNGPKernel, NTKKernel

__all__ = ["nngp_ntk", "KernelPair", "NNGPKernel", "NTKKernel"]
