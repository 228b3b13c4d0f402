"""The :class:`Activation` interface every activation answers (:ref:`theory-3`).

See :mod:`nngpbayes.activations` for what each method returns.
"""

from __future__ import annotations

__all__ = ["Activation"]


class Activation:
    """Base class: σ, σ' and the dual maps (see :mod:`nngpbayes.activations`).

    Subclasses implement ``__call__`` (σ), :meth:`derivative` (σ'), :meth:`dual`
    and :meth:`dual_diag`; :meth:`second_derivative` and :meth:`third_derivative`
    where the hyperparameter gradients and the 1/n expansion need them.
    """

    #: Whether :meth:`dual` consumes ``gaps`` and returns ``G`` (kinked activations).
    exact_angle = False
    name = "activation"

    def __call__(self, x):
        """σ(x), elementwise: same shape as ``x``."""
        raise NotImplementedError

    def derivative(self, x):
        """σ'(x), elementwise: same shape as ``x``."""
        raise NotImplementedError

    def second_derivative(self, x):
        """σ″(x) (hyperparameter gradients and the 1/n expansion)."""
        raise NotImplementedError(f"{type(self).__name__} has no second derivative")

    def third_derivative(self, x):
        """σ‴(x) (the 1/n expansion, :mod:`nngpbayes.finite_width`)."""
        raise NotImplementedError(f"{type(self).__name__} has no third derivative")

    def prepare(self, q, min_terms=0):
        """Per-input data for :meth:`dual` at one layer (``None`` for closed forms)."""
        return None

    def dual(self, q1, q2, k12, gaps=None, aux1=None, aux2=None):
        """``(T, Tdot, G)`` elementwise over the broadcast arrays ``q1, q2, k12``.

        ``G`` is the pair of cosine gaps one layer up for ``exact_angle``
        activations, ``None`` otherwise.
        """
        raise NotImplementedError

    def dual_diag(self, q, aux=None):
        """``(T, Tdot)`` at ``q1 = q2 = k12 = q``, each of the shape of ``q``."""
        raise NotImplementedError

    def _params(self):
        return ()

    def __eq__(self, other):
        return type(self) is type(other) and self._params() == other._params()

    def __hash__(self):
        return hash((type(self).__name__, self._params()))

    def __repr__(self):
        args = ", ".join(repr(p) for p in self._params())
        return f"{type(self).__name__}({args})"
