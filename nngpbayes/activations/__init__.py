r"""Activation functions and their Gaussian dual maps (:ref:`theory-3`).

Every activation σ answers the same small interface:

- ``act(x)``, ``act.derivative(x)``: σ and σ' (vectorised);
- ``act.dual(q1, q2, k12, gaps)`` → ``(T, Tdot, G)``, elementwise over broadcast
  arrays, with (u, v) ~ N(0, [[q1, k12], [k12, q2]]):

  .. math::

      T = E[σ(u)σ(v)],\quad \dot T = E[σ'(u)σ'(v)],\quad
      G_∓ = \sqrt{T(q_1,q_1,q_1)\,T(q_2,q_2,q_2)} ∓ T;

  the "cosine gaps" ``gaps = (sqrt(q1 q2) - k12, sqrt(q1 q2) + k12)`` and ``G``
  (the same pair one layer up) are used only by activations with
  ``exact_angle = True`` (the kinked ABReLU family): they need the angle between
  nearly identical or opposite inputs to full precision (the "arccos trap" of
  :ref:`theory-3`), and gaps carried along without cancellation give it. Others
  return ``G = None`` and ignore ``gaps``;
- ``act.prepare(q)`` → per-input data ``aux`` for one layer (``None`` for closed
  forms; Hermite coefficients for quadrature), passed to ``dual`` as ``aux1, aux2``;
- ``act.dual_diag(q, aux)`` → ``(T, Tdot)`` at ``q1 = q2 = k12 = q``.

Closed forms: :class:`ABReLU` (arc-cosine kernels [1]_, in neural-tangents' ABReLU
form [4]_; with :class:`ReLU`, :class:`LeakyReLU`, :class:`Abs`, :class:`Identity`),
:class:`Erf` [2]_, :class:`GELU` [3]_, :class:`Sin`, :class:`Cos`. By 2-D
Hermite expansion with Gauss–Hermite coefficients (``degree`` terms, the accuracy knob):
:class:`Tanh`, :class:`Sigmoid`, :class:`Softplus`, :class:`Swish` and a user's
:class:`Elementwise`. Dual maps are written with NumPy ufuncs only, so the same code
gives hyperparameter gradients through :mod:`nngpbayes._dual`.

Modules, by concept: ``_base`` (the interface), ``_kinked`` (the ABReLU family),
``_smooth`` (erf, GELU, sin, cos), ``_series`` (Hermite-series activations),
``_registry`` (names → classes). Import every name from here.

References
----------
.. [1] Cho & Saul, "Kernel methods for deep learning", NeurIPS 2009 (arc-cosine).
.. [2] Williams, "Computing with infinite networks", NeurIPS 1997 (erf).
.. [3] Tsuchida et al., arXiv:2002.08517 (GELU).
.. [4] Novak et al., neural-tangents, arXiv:1912.02803 (ABReLU family).
"""

from ._base import Activation
from ._kinked import ABReLU, Abs, Identity, LeakyReLU, ReLU
from ._registry import ACTIVATIONS, get_activation
from ._series import (
    DEFAULT_QUADRATURE_DEGREE,
    Elementwise,
    QuadratureActivation,
    Sigmoid,
    Softplus,
    Swish,
    Tanh,
)
from ._smooth import GELU, Cos, Erf, Sin

__all__ = [
    "Activation",
    "ABReLU",
    "ReLU",
    "LeakyReLU",
    "Abs",
    "Identity",
    "Erf",
    "GELU",
    "Sin",
    "Cos",
    "QuadratureActivation",
    "Tanh",
    "Sigmoid",
    "Softplus",
    "Swish",
    "Elementwise",
    "get_activation",
    "ACTIVATIONS",
    "DEFAULT_QUADRATURE_DEGREE",
]
