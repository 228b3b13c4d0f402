r"""The gradient-descent schedule and its stability limit.

See :ref:`theory-2` and :ref:`theory-4`.

Gradient descent on the loss ½(Fφ − y)ᵀC⁻¹(Fφ − y) with step η·Δt is, near its
linearisation, the discrete filter (1 − η Δt s)^k on each eigenvalue s of
F H Fᵀ C⁻¹ (H the empirical NTK, F the forward map, the identity by default), so
it is stable only while

.. math::

    η\,Δt\,s_{\max} < 2,\qquad
    s_{\max} = \max \operatorname{eig}(F H F^T C^{-1}),

taken over all members. :func:`schedule` picks the steps inside this limit (or
warns when the user's choice is outside it); :class:`DivergenceError` is what
training raises when it diverges anyway.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _mlp

__all__ = [
    "AUTO_STEP",
    "DEFAULT_FRACTION",
    "DivergenceError",
    "StabilityWarning",
    "divergence_error",
    "max_flow_eigenvalue",
    "schedule",
]

AUTO_STEP = 0.05
"""With ``time`` alone, the steps satisfy η Δt s_max <= AUTO_STEP."""

DEFAULT_FRACTION = 0.5
"""With ``n_steps`` alone and ``learning_rate=None``: η = this × 2 / s_max."""


class StabilityWarning(UserWarning):
    """A gradient-descent step is above the stability limit 2 / max eig(ηF H FᵀC⁻¹)."""


class DivergenceError(FloatingPointError):
    """Training diverged: a prediction became NaN or infinite.

    A :class:`FloatingPointError` raised by :meth:`MLPEnsemble.fit` at the first
    step whose predictions are not finite, before any further work. The members'
    parameters are then not usable: refit with a smaller ``learning_rate``.

    Attributes
    ----------
    step : int
        The gradient-descent step (0 = before training) whose predictions were
        not finite.
    limit : float
        The stability limit of ``learning_rate`` for the fit's time step.
    """

    def __init__(self, message, step, limit):
        super().__init__(message)
        self.step, self.limit = step, limit


def max_flow_eigenvalue(params, X, arch, cinv, forward_map=None):
    """Return the max over members of eig(F H Fᵀ C⁻¹), H the empirical NTK at ``X``.

    The same as the largest eigenvalue of C^(−1/2) F H Fᵀ C^(−1/2), the rate of
    the fastest mode of the linearised flow of ½(Fφ − y)ᵀC⁻¹(Fφ − y).

    Parameters
    ----------
    params : (weights, biases)
    X : ndarray of shape (n_grid, n_features)
    arch : Architecture
    cinv : ndarray of shape (n_data, n_data) or None
        C⁻¹ (None: the identity).
    forward_map : ndarray of shape (n_data, n_grid) or None
        F (None: the identity).

    Returns
    -------
    float
    """
    h = _mlp.empirical_ntk(params, X, None, arch.activation, arch)
    if forward_map is not None:
        h = forward_map @ h @ forward_map.T
    if cinv is None:
        return float(np.max(np.linalg.eigvalsh(h)))
    # eig(H C⁻¹) = eig(Rᵀ H R) with C⁻¹ = R Rᵀ: a symmetric PSD problem (real
    # eigenvalues >= 0), ~100× faster than the general eig of H C⁻¹
    r = np.linalg.cholesky(cinv)
    return float(np.max(np.linalg.eigvalsh(np.swapaxes(r, -1, -2) @ h @ r)))


def schedule(s_max, time, learning_rate, n_steps):
    """η, Δt and the number of steps; warns above the stability limit.

    - ``time`` and ``n_steps``: Δt = time / n_steps; η = ``learning_rate`` (1.0
      if None).
    - ``time`` alone: η = ``learning_rate`` (1.0 if None) and the fewest steps
      with η Δt s_max <= :data:`AUTO_STEP`.
    - ``n_steps`` alone: Δt = 1 (plain gradient descent with step η, time =
      n_steps); η = ``learning_rate``, or if None :data:`DEFAULT_FRACTION` of the
      stability limit, η = 1 / s_max.

    Parameters
    ----------
    s_max : float
        max eig(F H Fᵀ C⁻¹) over members (:func:`max_flow_eigenvalue`).
    time : float or None
    learning_rate : float or None
    n_steps : int or None

    Returns
    -------
    learning_rate, dt : float
    n_steps : int
    """
    if learning_rate is None:  # (nothing trains when H = 0: any η is stable)
        automatic = time is None and s_max > 0
        learning_rate = DEFAULT_FRACTION * 2.0 / s_max if automatic else 1.0
    s_max = max(s_max, np.finfo(float).tiny)
    if n_steps is None:
        n_steps = max(1, int(np.ceil(time * learning_rate * s_max / AUTO_STEP)))
    dt = 1.0 if time is None else (time / n_steps if n_steps else 0.0)
    if learning_rate * dt * s_max >= 2.0:
        warnings.warn(
            f"learning_rate={learning_rate:.4g} with time step {dt:.4g} is above "
            "the stability limit of gradient descent: learning_rate * dt must "
            f"stay below 2 / max eig(F H Fᵀ C⁻¹) = {2.0 / s_max:.4g} (the largest "
            f"eigenvalue, over members, of the empirical NTK H seen through the "
            f"forward map F and data covariance C is {s_max:.4g}), i.e. "
            f"learning_rate < {2.0 / (dt * s_max):.4g}; training will diverge",
            StabilityWarning,
            stacklevel=3,
        )
    return float(learning_rate), float(dt), int(n_steps)


def divergence_error(step, n_steps, learning_rate, dt, s_max):
    """Return the :class:`DivergenceError` for non-finite predictions at ``step``."""
    limit = 2.0 / (dt * s_max) if dt * s_max > 0 else np.inf
    return DivergenceError(
        f"training diverged: the predictions became NaN or infinite at "
        f"gradient-descent step {step} of {n_steps}. The step learning_rate * dt = "
        f"{learning_rate:.4g} * {dt:.4g} must stay below the stability limit "
        f"2 / max eig(F H Fᵀ C⁻¹) = {2.0 / s_max:.4g} (at initialisation), i.e. "
        f"learning_rate < {limit:.4g}. Fix: a smaller learning_rate (or "
        "learning_rate=None, which picks a stable one), or give time without "
        "n_steps so that the steps are chosen automatically.",
        step,
        limit,
    )
