"""Matplotlib figures of the NTK diagnostics.

Each function takes a result of :mod:`nngpbayes.diagnostics` and an optional
``ax`` (a new figure is made when it is None), draws on it, labels the axes and
returns the Axes. :mod:`matplotlib.pyplot` is imported only when a figure is
drawn; the backend is left to the user.
"""

from __future__ import annotations

import numpy as np

from ._ntk import DriftScaling, NTKDrift
from ._spectrum import NTKAlignment, NTKSpectrum

__all__ = [
    "plot_ntk_drift",
    "plot_drift_scaling",
    "plot_ntk_spectrum",
    "plot_ntk_rank",
    "plot_ntk_alignment",
]

_DRIFT_LABEL = r"$\delta\Theta_t = \|\Theta_t - \Theta_0\|_F / \|\Theta_0\|_F$"


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


def _check(result, kind, name="result"):
    if not isinstance(result, kind):
        raise TypeError(
            f"{name} must be a {kind.__name__}, got {type(result).__name__}"
        )


def _time_indices(all_times, times):
    """Find the recorded times nearest to ``times`` (default first, last); indices."""
    if times is None:
        return sorted({0, len(all_times) - 1})
    wanted = np.atleast_1d(np.asarray(times, dtype=float))
    if wanted.ndim != 1 or not np.isfinite(wanted).all():
        raise ValueError(f"times must be finite numbers, got times={times!r}")
    return [int(np.argmin(np.abs(all_times - t))) for t in wanted]


def plot_ntk_drift(drift, ax=None, *, band="std", members=False, label=None):
    """δΘ_t against training time: ensemble mean and a band.

    Parameters
    ----------
    drift : NTKDrift
    ax : matplotlib Axes, optional
    band : {"std", "quantile", None}, default="std"
        mean ± std over members, or the 16–84% quantiles, or no band.
    members : bool, default=False
        Also draw every member's curve (thin lines).
    label : str, optional
        Legend label; default "width n" when the width is known.

    Returns
    -------
    matplotlib Axes
    """
    _check(drift, NTKDrift, "drift")
    if band not in ("std", "quantile", None):
        raise ValueError(f"band must be 'std', 'quantile' or None, got {band!r}")
    ax = _axes(ax)
    if label is None and drift.width is not None:
        label = f"width {drift.width}"
    (line,) = ax.plot(drift.times, drift.mean, label=label)
    if band == "std":
        lo, hi = drift.mean - drift.std, drift.mean + drift.std
    elif band == "quantile":
        lo, hi = drift.lower, drift.upper
    if band is not None:
        ax.fill_between(drift.times, lo, hi, color=line.get_color(), alpha=0.25)
    if members:
        ax.plot(drift.times, drift.members, color=line.get_color(), lw=0.5, alpha=0.4)
    ax.set_xlabel("training time t")
    ax.set_ylabel(_DRIFT_LABEL)
    if label is not None:
        ax.legend()
    return ax


def plot_drift_scaling(scaling, ax=None):
    """Mean δΘ_t ± standard error against width (log-log) with the fitted line.

    Parameters
    ----------
    scaling : DriftScaling
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    _check(scaling, DriftScaling, "scaling")
    ax = _axes(ax)
    ax.errorbar(scaling.widths, scaling.mean, scaling.stderr, fmt="o", capsize=3)
    grid = np.geomspace(scaling.widths.min(), scaling.widths.max(), 50)
    ax.plot(
        grid,
        scaling.predict(grid),
        "--",
        label=f"slope {scaling.slope:.3f} ± {scaling.slope_stderr:.3f}",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("hidden width n")
    ax.set_ylabel(rf"mean $\delta\Theta_t$ at t = {scaling.time:.3g}")
    ax.legend()
    return ax


def plot_ntk_spectrum(spectrum, ax=None, *, times=None):
    """Eigenvalues of the NTK (mean over members, 16–84% band) against their index.

    Parameters
    ----------
    spectrum : NTKSpectrum
    ax : matplotlib Axes, optional
    times : array-like of float, optional
        Flow times to show (the nearest recorded ones); default the first and
        the last record.

    Returns
    -------
    matplotlib Axes
    """
    _check(spectrum, NTKSpectrum, "spectrum")
    ax = _axes(ax)
    index = np.arange(1, spectrum.eigenvalues.shape[-1] + 1)
    for j in _time_indices(spectrum.times, times):
        (line,) = ax.plot(
            index, spectrum.mean[j], marker=".", label=f"t = {spectrum.times[j]:.3g}"
        )
        ax.fill_between(
            index,
            spectrum.lower[j],
            spectrum.upper[j],
            color=line.get_color(),
            alpha=0.25,
        )
    top = spectrum.mean[:, 0].max()
    ax.axhline(spectrum.rtol * top, color="k", ls=":", lw=1, label="ε · λ_max")
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue index i")
    ax.set_ylabel(r"NTK eigenvalue $\lambda_i$")
    ax.legend()
    return ax


def plot_ntk_rank(spectrum, ax=None):
    """Numerical rank of the NTK against training time: mean and min–max band.

    Parameters
    ----------
    spectrum : NTKSpectrum
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    _check(spectrum, NTKSpectrum, "spectrum")
    ax = _axes(ax)
    (line,) = ax.plot(spectrum.times, spectrum.rank_mean, marker=".", label="mean")
    ax.fill_between(
        spectrum.times,
        spectrum.rank_min,
        spectrum.rank_max,
        color=line.get_color(),
        alpha=0.25,
        label="min–max over members",
    )
    ax.set_xlabel("training time t")
    ax.set_ylabel(rf"numerical rank ($\lambda_i > {spectrum.rtol:.2g}\,\lambda_1$)")
    ax.legend()
    return ax


def plot_ntk_alignment(alignment, ax=None, *, x="time", indices=None, times=None):
    """Alignment ‖P_m v_i‖² (mean over members ± std) against time or index.

    Parameters
    ----------
    alignment : NTKAlignment
    ax : matplotlib Axes, optional
    x : {"time", "index"}, default="time"
        "time": one curve per eigenvector against training time; "index": one
        curve per recorded time against the eigenvector index i.
    indices : sequence of int, optional
        Eigenvectors (0-based) shown with ``x="time"``; default the first 5.
    times : array-like of float, optional
        Times shown with ``x="index"`` (nearest records); default first and last.

    Returns
    -------
    matplotlib Axes
    """
    _check(alignment, NTKAlignment, "alignment")
    if x not in ("time", "index"):
        raise ValueError(f"x must be 'time' or 'index', got {x!r}")
    ax = _axes(ax)
    mean, std = alignment.mean, alignment.std
    if x == "time":
        k = mean.shape[1]
        idx = range(min(k, 5)) if indices is None else indices
        for i in idx:
            i = int(i)
            if not 0 <= i < k:
                raise ValueError(f"indices must lie in [0, {k}), got {indices!r}")
            (line,) = ax.plot(alignment.times, mean[:, i], label=f"$v_{{{i + 1}}}$")
            band = (mean[:, i] - std[:, i], mean[:, i] + std[:, i])
            ax.fill_between(alignment.times, *band, color=line.get_color(), alpha=0.2)
        ax.set_xlabel("training time t")
    else:
        index = np.arange(1, mean.shape[1] + 1)
        for j in _time_indices(alignment.times, times):
            ax.errorbar(
                index, mean[j], std[j], fmt=".-", label=f"t = {alignment.times[j]:.3g}"
            )
        ax.set_xlabel("NTK eigenvector index i")
    ax.set_ylabel(
        rf"$\|P_m v_i\|^2$ (m = {alignment.n_leading} leading eigenvectors of "
        r"$F^T C^{-1} F$)"
    )
    ax.set_ylim(-0.05, 1.05)
    ax.legend()
    return ax
