"""Figure of the U/V bias–variance decomposition over training time (matplotlib)."""

from __future__ import annotations

import numpy as np

from ._decomposition_analytic import FrozenNTKDecomposition
from ._decomposition_measured import MeasuredDecomposition

__all__ = ["plot_decomposition"]

#: (statistic of MeasuredDecomposition.grid_mean, attribute of the analytic result,
#: label, colour)
_CURVES = (
    ("bias_sq", "bias_sq", "bias²", "C0"),
    ("variance_u", "var_u", "var U f₀", "C1"),
    ("variance_v", "var_v", "var V ε", "C2"),
    ("mse", "mse", "total", "C3"),
)


def plot_decomposition(
    analytic=None, measured=None, *, ax=None, replicas=None, total=True, n_sigma=1.0
):
    """Bias² and the U/V variances (grid means) against training time.

    The analytic decomposition (:func:`frozen_ntk_decomposition`) is drawn as lines,
    the measured one (:func:`measured_decomposition`) as points with ``n_sigma``
    jackknife error bars, in matching colours (t = ∞ is left out of the lines).
    Measured results are placed at their step counts when ``analytic.discrete``
    and at their flow times otherwise.

    Parameters
    ----------
    analytic : FrozenNTKDecomposition, optional
    measured : MeasuredDecomposition, optional
        At least one of the two.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure's axes by default.
    replicas : bool, optional
        Whether the V part carries replica noise (the analytic var V and total
        include diag(V C Vᵀ)); default ``measured.replicas``, or True.
    total : bool, default=True
        Also draw the mean squared error bias² + var U [+ var V].
    n_sigma : float, default=1.0
        Half-length of the error bars in standard errors.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If neither result is given.
    TypeError
        If a result is of the wrong type.
    """
    if analytic is None and measured is None:
        raise ValueError("give analytic, measured or both; got neither")
    if analytic is not None and not isinstance(analytic, FrozenNTKDecomposition):
        raise TypeError(
            f"analytic must be a FrozenNTKDecomposition, got {type(analytic).__name__}"
        )
    if measured is not None and not isinstance(measured, MeasuredDecomposition):
        raise TypeError(
            f"measured must be a MeasuredDecomposition, got {type(measured).__name__}"
        )
    if replicas is None:
        replicas = True if measured is None else measured.replicas
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    curves = _CURVES if total else _CURVES[:-1]
    if analytic is not None:
        _draw_analytic(ax, analytic, curves, bool(replicas))
    discrete = analytic is not None and analytic.discrete
    if measured is not None:
        _draw_measured(ax, measured, curves, discrete, float(n_sigma), analytic)
    ax.set_xlabel("gradient-descent steps" if discrete else "flow time t")
    ax.set_ylabel("mean over the grid")
    ax.legend()
    return ax


def _draw_analytic(ax, result, curves, replicas):
    t = result.time
    finite = np.isfinite(t)
    for _, attr, label, colour in curves:
        values = result.mse(replicas) if attr == "mse" else getattr(result, attr)
        if attr == "var_v" and not replicas:
            continue
        ax.plot(t[finite], values[finite], color=colour, label=label)


def _draw_measured(ax, result, curves, steps, n_sigma, analytic):
    """Draw points with error bars.

    One legend entry beside the analytic lines, one per quantity on their own.
    """
    x = result.steps if steps else result.time
    for i, (name, _, label, colour) in enumerate(curves):
        if analytic is not None:
            label = f"ensemble (± {n_sigma:g} SE)" if i == 0 else None
        value, error = result.grid_mean(name)
        ax.errorbar(
            x,
            value,
            yerr=n_sigma * error,
            fmt="o",
            color=colour,
            capsize=2,
            label=label,
        )
