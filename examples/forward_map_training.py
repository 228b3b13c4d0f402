"""
Training through a forward map
==============================

A PDF-like problem seen only through a linear forward map, as in a parton fit:
the function f(x) lives on a grid of 50 inputs, the 30 data are smoothed
integrals of it, y = F f(X_grid) + noise, with a correlated data covariance C
(5 % uncorrelated and 3 % fully correlated uncertainties).

1. A multi-closure test through F compares the Bayesian posterior, the analytic
   trained ensemble and real networks of widths 64, 256 and 1024 (every method
   trains or conditions on ½(Fφ − y)ᵀC⁻¹(Fφ − y)).
2. The training diagnostics of Chiefa, Del Debbio and Kenway (arXiv:2512.24116):
   the relative NTK change δΘ_t along training and how it falls with the width,
   the NTK spectrum and numerical rank, the alignment of the NTK's leading
   eigenvectors with M = Fᵀ C⁻¹ F, and the frozen-NTK split of the error,
   f_t = U(t) f_0 + V(t) y, into bias and the variances of the U and V parts,
   analytic (lines) against real width-1024 networks (points).

Gradient descent on a stiff χ² is slow: at half the stability limit, the 2000
steps reach flow time t ≈ 0.016, early in training, where the networks still
underfit; compare them with the analytic ensemble at the same time ("flow t=ens"),
and the analytic ensemble at later times with the posterior. The NTK's change
falls like 1/n with the width n (erf is smooth: dΘ/dt = −O_3 ε with O_3 = O(1/n)).
About 3 minutes on 2 cores.

Run: python examples/forward_map_training.py [--out forward_map_training.png]
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nngpbayes import Architecture, MLPEnsemble  # noqa: E402
from nngpbayes.closure import ClosureTest, experimental_covariance  # noqa: E402
from nngpbayes.diagnostics import (  # noqa: E402
    drift_width_scaling,
    frozen_ntk_decomposition,
    measured_decomposition,
    ntk_alignment,
    ntk_drift,
    ntk_spectrum,
    plot_decomposition,
    plot_drift_scaling,
    plot_ntk_alignment,
    plot_ntk_drift,
    plot_ntk_spectrum,
)
from nngpbayes.dynamics import LinearFlow  # noqa: E402
from nngpbayes.kernels import nngp_ntk  # noqa: E402

ARCH = Architecture(depth=1, activation="erf", weight_variance=2.0, bias_variance=0.1)
WIDTHS = [64, 256, 1024]
N_STEPS = 2000
N_FITS, N_REPLICAS = 5, 24
if os.environ.get("NNGPBAYES_GALLERY_QUICK") == "1":
    # The documentation gallery (docs/conf.py sets this) runs a lighter setting:
    # fewer steps, fits and replicas. Run as a script, nothing changes.
    N_STEPS, N_FITS, N_REPLICAS = 600, 2, 12


def truth(X):
    """A valence-like shape, x^0.5 (1 − x)^3 scaled to order one."""
    x = X[:, 0]
    return 6.0 * np.sqrt(x) * (1 - x) ** 3


def smoothing_map(x_grid, n_data=30, width=0.06):
    """F (n_data, n_grid): Gaussian-weighted integrals of f over the grid."""
    centres = np.linspace(0.05, 0.9, n_data)
    w = np.exp(-0.5 * ((centres[:, None] - x_grid[None, :]) / width) ** 2)
    return w / w.sum(axis=1, keepdims=True)


def closure(X, F, C):
    test = ClosureTest(
        truth=truth,
        architecture=ARCH,
        X_train=X,
        X_test=X[1::2],
        forward_map=F,
        data_cov=C,
        level=2,
        n_fits=N_FITS,
        n_replicas=N_REPLICAS,
        times=[0.1, 1.0, 10.0, np.inf],
        widths=WIDTHS,
        ensemble_steps=N_STEPS,
        random_state=0,
        progress=False,
        n_jobs=-1,
    )
    result = test.run()
    print(result.table())
    return result


def trained(width, X, y, F, C, step, n_members=16):
    """An ensemble trained through F with steps of η·Δt = ``step``, its NTK
    recorded along the way (the same times for every width)."""
    ens = MLPEnsemble.from_architecture(
        ARCH,
        width=width,
        n_members=n_members,
        random_state=width,
        n_jobs=-1,
        progress=False,
    )
    total = N_STEPS * step
    return ens.fit(
        X,
        y,
        time=total,
        n_steps=N_STEPS,
        forward_map=F,
        y_cov=C,
        record_times=np.linspace(0.0, total, 7),
        record_ntk=True,
    )


def main(out="forward_map_training.png"):
    X = np.linspace(0.02, 0.98, 50)[:, None]
    F = smoothing_map(X[:, 0])
    f_true = truth(X)
    y0 = F @ f_true
    C = experimental_covariance(y0)
    rng = np.random.default_rng(1)
    y = y0 + np.linalg.cholesky(C) @ rng.standard_normal(len(y0))

    result = closure(X, F, C)
    K, theta = nngp_ntk(X, architecture=ARCH)
    # η·Δt at half the stability limit of the infinite-width flow through F
    step = 1.0 / LinearFlow(theta, K, y, forward_map=F, data_cov=C).eigenvalues[0]

    ensembles = {w: trained(w, X, y, F, C, step) for w in WIDTHS}
    drifts = {w: ntk_drift(ens) for w, ens in ensembles.items()}
    scaling = drift_width_scaling(list(drifts.values()), widths=WIDTHS)
    print(
        "\nrelative NTK change at the end of training: "
        + ", ".join(f"n={w}: {d.mean[-1]:.2e}" for w, d in drifts.items())
        + f"; fitted slope {scaling.slope:.2f} ± {scaling.slope_stderr:.2f}"
    )
    wide = ensembles[WIDTHS[-1]]
    spectrum = ntk_spectrum(wide)
    alignment = ntk_alignment(
        wide, forward_map=F, y_cov=C, n_leading=5, n_eigenvectors=5
    )
    print(
        f"numerical rank of the NTK (n={WIDTHS[-1]}): {spectrum.rank_mean[0]:.1f}; "
        "alignment of its 5 leading eigenvectors with the 5 leading ones of FᵀC⁻¹F: "
        + ", ".join(f"{a:.3f}" for a in alignment.mean[-1])
    )

    measured = measured_decomposition(
        MLPEnsemble.from_architecture(
            ARCH,
            width=WIDTHS[-1],
            n_members=32,
            random_state=0,
            n_jobs=-1,
            progress=False,
        ),
        X,
        f_true,
        y,
        n_steps=N_STEPS,
        forward_map=F,
        y_cov=C,
        replicas=True,
    )
    analytic = frozen_ntk_decomposition(
        theta,
        K,
        f_true,
        y,
        forward_map=F,
        y_cov=C,
        time=np.unique(np.r_[np.geomspace(1, N_STEPS, 40).round(), measured.steps]),
        learning_rate=measured.step_size,
        discrete=True,
        return_matrices=False,
    )

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    ax = axes[0, 0]
    xs = X[1::2, 0]
    ax.plot(X[:, 0], f_true, "k-", label="truth")
    for name, style in [("posterior", "C0"), ("flow t=ens", "C1")]:
        fit = result.first_fits[name]
        sd = np.sqrt(np.diag(fit.cov))
        ax.plot(xs, fit.mean, color=style, label=name)
        ax.fill_between(xs, fit.mean - sd, fit.mean + sd, color=style, alpha=0.2)
    fit = result.first_fits[f"ensemble n={WIDTHS[-1]}"]
    ax.errorbar(
        xs,
        fit.mean,
        np.sqrt(np.diag(fit.cov)),
        fmt=".",
        color="C2",
        label=f"networks n={WIDTHS[-1]}",
    )
    ax.set(xlabel="x", ylabel="f(x)", title="first closure fit (1σ bands)")
    ax.legend(fontsize=8)
    for w, d in drifts.items():
        plot_ntk_drift(d, ax=axes[0, 1], label=f"n={w}")
    axes[0, 1].set_yscale("log")
    axes[0, 1].legend(fontsize=8)
    plot_drift_scaling(scaling, ax=axes[0, 2])
    plot_ntk_spectrum(spectrum, ax=axes[1, 0])
    plot_ntk_alignment(alignment, ax=axes[1, 1])
    plot_decomposition(analytic, measured, ax=axes[1, 2])
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="forward_map_training.png")
    main(parser.parse_args().out)
