"""
Training dynamics of the infinite-width ensemble
================================================

The trained ensemble of infinitely wide networks, at several training times. A
depth-2 ReLU network is trained by gradient flow on noisy data. The ensemble over
random initialisations is Gaussian at every time t (:ref:`theory-4`); this script plots
its mean and ±2σ band at a few times against the Bayesian posterior of the NNGP
prior, then the spectrum of the flow operator with the time scale 1/(η s) of each
mode and the expected training and validation losses against t.

Run: python examples/training_dynamics.py [--out training_dynamics.png]
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.gaussian_process import GaussianProcessRegressor  # noqa: E402

from nngpbayes import GradientFlowRegressor, NNGPKernel  # noqa: E402

ARCH = dict(depth=2, activation="relu", weight_variance=2.0, bias_variance=0.2)
NOISE = 0.2


def truth(x):
    return np.sin(3 * x) + 0.3 * x


def plot_ensembles(axes, grid, times, mean, std, gp, X, y):
    """The trained ensemble (mean ± 2σ) at each time beside the GP posterior."""
    gp_mean, gp_std = gp.predict(grid, return_std=True)
    for ax, t, m, s in zip(axes, times, mean, std, strict=True):
        ax.fill_between(
            grid[:, 0],
            gp_mean - 2 * gp_std,
            gp_mean + 2 * gp_std,
            color="grey",
            alpha=0.3,
            label="Bayesian posterior ±2σ",
        )
        ax.fill_between(
            grid[:, 0], m - 2 * s, m + 2 * s, alpha=0.4, label="trained ensemble ±2σ"
        )
        ax.plot(grid[:, 0], m, label="ensemble mean")
        ax.plot(grid[:, 0], truth(grid[:, 0]), "k--", lw=1, label="truth")
        ax.plot(X[:, 0], y, "k.", ms=4)
        ax.set(title=f"t = {t:g}", ylim=(-4, 4))
    axes[0].legend(fontsize=7, loc="lower left")


def plot_spectrum(ax, reg):
    """Eigenvalues s_k, time scales 1/(η s_k) and the data on each mode."""
    k = np.arange(1, len(reg.eigenvalues_) + 1)
    ax.loglog(k, reg.eigenvalues_, "o-", ms=3, label="eigenvalue s_k")
    ax.loglog(k, reg.timescales_, "s-", ms=3, label="time scale 1/(η s_k)")
    ax.loglog(k, np.abs(reg.data_projection_), ".", label="|data on mode k|")
    ax.set(xlabel="mode k", title="spectrum of the flow operator")
    ax.legend(fontsize=7)


def plot_losses(ax, ts, curves):
    """Expected training and validation losses against t; returns the best t."""
    ax.loglog(ts, curves["train"], label="training loss (vs data)")
    ax.loglog(ts, curves["validation"], label="validation loss (vs truth)")
    best = ts[np.argmin(curves["validation"])]
    ax.axvline(best, color="grey", ls=":", label=f"best t ≈ {best:.2g}")
    ax.set(xlabel="training time t", title="expected losses of the ensemble")
    ax.legend(fontsize=7)
    return best


def report(reg, curves, best):
    print("mode  eigenvalue   timescale   data on mode")
    for i in range(6):
        print(
            f"{i:4d}  {reg.eigenvalues_[i]:10.4g}  {reg.timescales_[i]:10.4g}  "
            f"{reg.data_projection_[i]:12.4g}"
        )
    print(
        f"largest stable learning rate for gradient descent: "
        f"{reg.max_stable_learning_rate_:.4g}"
    )
    print(
        f"validation loss is lowest at t ≈ {best:.3g} "
        f"({curves['validation'].min():.3g}; at t = 1e4: "
        f"{curves['validation'][-1]:.3g})"
    )


def main(out="training_dynamics.png"):
    rng = np.random.default_rng(1)
    X = np.sort(rng.uniform(-2, 2, size=30))[:, None]
    y = truth(X[:, 0]) + NOISE * rng.normal(size=len(X))
    X_val = np.linspace(-2, 2, 50)[:, None]
    grid = np.linspace(-3, 3, 200)[:, None]

    # Each network trains on its own replica y + ε, ε ~ N(0, NOISE²) (level 2).
    reg = GradientFlowRegressor(**ARCH, replicas=True).fit(X, y, y_cov=NOISE**2)
    times = [0.01, 0.1, 1.0, np.inf]
    mean, std = reg.predict(grid, time=times, return_std=True)
    gp = GaussianProcessRegressor(
        NNGPKernel(**ARCH), alpha=NOISE**2, optimizer=None
    ).fit(X, y)

    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    plot_ensembles(axes.flat[:4], grid, times, mean, std, gp, X, y)
    plot_spectrum(axes.flat[4], reg)
    ts = np.logspace(-3, 4, 60)
    curves = reg.loss_curve(ts, X_val, truth(X_val[:, 0]), y_val_cov=NOISE**2)
    best = plot_losses(axes.flat[5], ts, curves)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    report(reg, curves, best)
    print(f"saved {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="training_dynamics.png")
    main(parser.parse_args().out)
