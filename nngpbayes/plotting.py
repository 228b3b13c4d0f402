"""Figures of closure tests (matplotlib, PNG). Imported lazily by the CLI only."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_fit", "plot_bias_variance", "plot_spectrum", "save_all"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _flow_index(times):
    """Return the time shown by :func:`plot_fit`: t = ∞ if present, else the last."""
    infinite = np.flatnonzero(np.isinf(times))
    return int(infinite[0]) if infinite.size else len(times) - 1


def _band(ax, x, mean, std, alpha=0.2, **kwargs):
    """Draw a ±1σ band in the order of ``x``."""
    order = np.argsort(x)
    ax.fill_between(
        x[order], (mean - std)[order], (mean + std)[order], alpha=alpha, **kwargs
    )


def _plot_networks(ax, result, x):
    """Draw the finite-width ensembles of the first fit: member mean ± std."""
    order = np.argsort(x)
    widths = zip(result.config["widths"], result.ensemble_fits, strict=True)
    for i, (width, fit) in enumerate(widths):
        mm, ms = fit.members.mean(0), fit.members.std(0, ddof=1)
        ax.errorbar(
            x[order],
            mm[order],
            ms[order],
            fmt=".",
            ms=3,
            capsize=2,
            color=f"C{i + 1}",
            label=f"width-{width} networks ±1σ",
        )


def _plot_data(ax, result, x):
    """Draw the truth at the test inputs and the level-1 data (if they are f(X))."""
    order = np.argsort(x)
    ax.plot(x[order], result.truth_test[0][order], "k--", label="truth")
    if result.data.shape[1] == len(result.X_train):  # no forward map
        ax.plot(result.X_train[:, 0], result.data[0], "k.", ms=4, label="level-1 data")


def plot_fit(result, path):
    """Truth, Bayesian posterior band and trained-ensemble bands of the first fit.

    Parameters
    ----------
    result : ClosureResult
    path : str or os.PathLike
        PNG file to write.
    """
    plt = _plt()
    x, fits = result.X_test[:, 0], result.first_fits
    fig, ax = plt.subplots(figsize=(7, 4.5))
    post = fits["posterior"]
    label = "Bayesian posterior ±1σ"
    _band(ax, x, post.mean, post.std, alpha=0.35, color="grey", label=label)
    idx = _flow_index(result.times)
    flow = fits[result.flow_labels[idx]]
    order = np.argsort(x)
    label = f"trained ensemble, t={result.times[idx]:g}"
    ax.plot(x[order], flow.mean[order], color="C0", label=label)
    _band(ax, x, flow.mean, flow.std, color="C0")
    _plot_networks(ax, result, x)
    _plot_data(ax, result, x)
    ax.set(xlabel="x", ylabel="f(x)", title="closure test: first fit")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_bias_variance(result, path):
    """Mean bias and variance over fits of the analytic ensemble against time."""
    plt = _plt()
    finite = np.isfinite(result.times)
    t = np.where(finite, result.times, np.nan)
    tmax = np.nanmax(t) * 10 if finite.any() else 1.0
    t = np.where(finite, t, tmax)
    order = np.argsort(t)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(t[order], result.flow_bias[order], "o-", label="bias")
    ax.loglog(t[order], result.flow_variance[order], "s-", label="variance")
    post = result.metrics["posterior"]
    ax.axhline(post.bias, color="grey", ls="--", lw=1, label="posterior bias")
    ax.axhline(post.variance, color="grey", ls=":", lw=1, label="posterior variance")
    ax.set(
        xlabel="training time t (rightmost point: t = ∞)",
        title="bias and variance of the trained ensemble",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_spectrum(result, path):
    """Eigenvalues of the whitened NTK, their time scales and the data on each mode."""
    plt = _plt()
    spectrum = result.spectrum
    s = spectrum.eigenvalues
    k = np.arange(1, len(s) + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    keep = s > 0
    ax.loglog(k[keep], s[keep], "o-", ms=3, label="eigenvalue s_k")
    ax.loglog(
        k[keep],
        1 / (spectrum.learning_rate * s[keep]),
        "s-",
        ms=3,
        label="time scale 1/(η s_k)",
    )
    ax.loglog(k, np.abs(spectrum.data_projection), ".", label="|data on mode k|")
    ax.set(xlabel="mode k", title="flow spectrum (first fit)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_all(result, out_dir, data=None):
    """Write every figure of ``result`` into ``out_dir``; returns the paths.

    With hyperparameter inference, ``hyperparameters_trace.png`` is ArviZ's trace
    plot of ``data`` (``result.to_arviz()`` when not given).
    """
    from pathlib import Path

    out = Path(out_dir)
    paths = [out / "fit.png", out / "bias_variance.png", out / "spectrum.png"]
    plot_fit(result, paths[0])
    plot_bias_variance(result, paths[1])
    plot_spectrum(result, paths[2])
    if result.inference is not None:
        from .closure import plot_hyperparameter_trace

        paths.append(out / "hyperparameters_trace.png")
        plot_hyperparameter_trace(
            result.to_arviz() if data is None else data,
            paths[-1],
            var_names=list(result.inference.samples),
        )
    return paths
