r"""Spectral filters g_t(s) of the linearised gradient flow (:ref:`theory-4`).

.. math::

    g_t(s) = \frac{1 - e^{-η s t}}{s}\ (\text{flow}),\qquad
    g_k(s) = \frac{1 - (1 - η s)^k}{s}\ (k \text{ steps of gradient descent}),

with g = η t at s = 0. At t = ∞ the flow has g = 1/s on s > 0; this module uses the
continuous filtered inverse g_∞(s) = s³ / (s⁴ + s_c⁴), equal to 1/s to a relative
(s_c/s)⁴ and tending to 0 as s³ on the null space (directions that never move), so
that results stay continuous as a kernel becomes singular (near-duplicate training
inputs) instead of jumping where a hard cutoff would drop a mode, and eigenvalues
at the round-off level (s ≲ s_c) are not amplified. A mode with s = 0 exactly (an
NTK that vanishes in that direction) never moves: g = 0 there at every t = ∞.
"""

from __future__ import annotations

import numpy as np

__all__ = ["flow_filter"]


def flow_filter(s, time, learning_rate, discrete, cutoff):
    """g_t(s) for eigenvalues ``s`` (>= 0) at one time (``np.inf`` allowed).

    Parameters
    ----------
    s : ndarray of shape (n,)
        Eigenvalues of the whitened NTK S (:ref:`theory-4`), clipped at 0.
    time : float
        Flow time t, or the number of steps k when ``discrete``.
    learning_rate : float
        η.
    discrete : bool
        Gradient descent with ``time`` steps instead of the continuous flow.
    cutoff : float
        s_c > 0 of the t = ∞ filter.

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    g_t(s) = (1 − e^(−ηst))/s is ηt at s = 0; two gradient-descent steps give
    (1 − (1 − ηs)²)/s:

    >>> import numpy as np
    >>> from nngpbayes.dynamics._filters import flow_filter
    >>> flow_filter(np.array([0.0, 1.0]), 1.0, 1.0, False, 1e-12)
    array([1.        , 0.63212056])
    >>> flow_filter(np.array([0.0, 0.5]), 2, 1.0, True, 1e-12)
    array([2. , 1.5])
    """
    if np.isinf(time):
        return _filtered_inverse(s, cutoff)
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


def _filtered_inverse(s, cutoff):
    """g_∞(s) = s³/(s⁴ + s_c⁴), in a form that neither overflows nor divides 0 by 0.

    For s >= s_c it is 1/(s + s_c (s_c/s)³), for s < s_c it is x³/(s_c (1 + x⁴))
    with x = s/s_c (both equal to s³/(s⁴ + s_c⁴) up to round-off), so that
    s_c⁴ may underflow (a kernel of tiny scale) without turning g into 0/0.
    """
    g = np.zeros_like(s)
    big = s >= cutoff
    sb = s[big]
    g[big] = 1.0 / (sb + cutoff * (cutoff / sb) ** 3)
    x = s[~big] / cutoff
    g[~big] = x**3 / (cutoff * (1.0 + x**4))
    return g
