"""Spectral filters g_t(s) of the linearised gradient flow (THEORY.md §4).

.. math::

    g_t(s) = \\frac{1 - e^{-η s t}}{s}\\ (\\text{flow}),\\qquad
    g_k(s) = \\frac{1 - (1 - η s)^k}{s}\\ (k \\text{ steps of gradient descent}),

with g = η t at s = 0. At t = ∞ the flow has g = 1/s on s > 0; this module uses the
continuous filtered inverse g_∞(s) = s³ / (s⁴ + s_c⁴), equal to 1/s to a relative
(s_c/s)⁴ and tending to 0 as s³ on the null space (directions that never move), so
that results stay continuous as a kernel becomes singular (near-duplicate training
inputs) instead of jumping where a hard cutoff would drop a mode, and eigenvalues
at the round-off level (s ≲ s_c) are not amplified.
"""

from __future__ import annotations

import numpy as np

__all__ = ["flow_filter"]


def flow_filter(s, time, learning_rate, discrete, cutoff):
    """g_t(s) for eigenvalues ``s`` (>= 0) at one time (``np.inf`` allowed).

    Parameters
    ----------
    s : ndarray of shape (n,)
        Eigenvalues of the whitened NTK S (THEORY.md §4), clipped at 0.
    time : float
        Flow time t, or the number of steps k when ``discrete``.
    learning_rate : float
        η.
    discrete : bool
        Gradient descent with ``time`` steps instead of the continuous flow.
    cutoff : float
        s_c of the t = ∞ filter.

    Returns
    -------
    ndarray of shape (n,)
    """
    if np.isinf(time):
        s2, c2 = s * s, cutoff * cutoff
        return s * s2 / (s2 * s2 + c2 * c2)
    x = learning_rate * s
    if discrete:
        # 1 - (1 - ηs)^k = -expm1(k log1p(-ηs)): exact also for tiny ηs
        shrink = np.empty_like(x)
        small = x < 1.0
        shrink[small] = -np.expm1(time * np.log1p(-x[small]))
        shrink[~small] = 1.0 - np.power(1.0 - x[~small], time)
    else:
        shrink = -np.expm1(-x * time)
    positive = s > 0
    return np.where(positive, shrink / np.where(positive, s, 1.0), learning_rate * time)
