"""NTK drift δΘ_t against width for networks trained through a forward map.

A PDF-like problem: a smooth truth on 30 grid points, seen through a Gaussian
smoothing map F (15 observables × 30 grid points) with a correlated data
covariance C. Ensembles of one-hidden-layer networks are trained by gradient
descent on ½(Fφ − y)ᵀC⁻¹(Fφ − y) to a fixed flow time t; the script prints the
mean δΘ_t = ‖Θ_t − Θ_0‖_F / ‖Θ_0‖_F ± its standard error per width, the local
slopes between neighbouring widths, and the weighted log-log fit with its
standard error (nngpbayes.diagnostics.drift_width_scaling), plus the spectrum
and alignment diagnostics of the widest ensemble and the time they took.

    python benchmarks/bench_diagnostics.py [--quick]

erf (smooth, 24 members per width, widths 64…4096) gives the main slope; ReLU
(16 members, widths 64…2048) is shown for comparison (its kink changes σ' by O(1)
for the units whose pre-activation crosses 0).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nngpbayes import MLPEnsemble
from nngpbayes.diagnostics import (
    drift_width_scaling,
    ntk_alignment,
    ntk_drift,
    ntk_spectrum,
)


def problem(n_grid=30, n_data=15):
    """Grid X, smoothing F, correlated C and data y = F f_true (no noise)."""
    x = np.linspace(-1.0, 1.0, n_grid)
    centres = np.linspace(-0.9, 0.9, n_data)
    F = np.exp(-0.5 * ((centres[:, None] - x[None, :]) / 0.15) ** 2)
    F /= F.sum(axis=1, keepdims=True)
    idx = np.arange(n_data)
    C = 0.05 * np.exp(-np.abs(idx[:, None] - idx[None, :]) / 3.0)
    y = F @ (np.sin(2.5 * x) + 0.3 * x)
    return x[:, None], F, C, y


def drift_at(width, activation, n_members, t, n_steps, seed=0):
    """NTKDrift of an ensemble trained through F to time t (records at 0, t/2, t)."""
    X, F, C, y = problem()
    ens = MLPEnsemble(
        depth=1,
        width=width,
        activation=activation,
        bias_variance=0.1,
        n_members=n_members,
        random_state=seed,
        progress=False,
    )
    ens.fit(
        X,
        y,
        forward_map=F,
        y_cov=C,
        time=t,
        n_steps=n_steps,
        record_times=[0.0, t / 2, t],
        record_ntk=True,
    )
    return ens, ntk_drift(ens)


def run(activation, widths, n_members, t, n_steps):
    print(f"\n{activation}, depth 1, {n_members} members per width, t = {t}, ")
    print(f"{n_steps} gradient-descent steps; 30 grid points -> 15 observables")
    print(f"{'width':>6} {'mean dTheta_t':>14} {'SE':>10} {'std':>10} {'s':>6}")
    results = []
    for width in widths:
        start = time.perf_counter()
        ens, drift = drift_at(width, activation, n_members, t, n_steps)
        results.append(drift)
        print(
            f"{width:>6} {drift.mean[-1]:>14.4e} {drift.stderr[-1]:>10.2e} "
            f"{drift.std[-1]:>10.2e} {time.perf_counter() - start:>6.1f}",
            flush=True,
        )
    means = np.array([r.mean[-1] for r in results])
    local = np.diff(np.log(means)) / np.diff(np.log(widths))
    print("local slopes:", " ".join(f"{s:+.3f}" for s in local))
    fit = drift_width_scaling(results, time=t)
    print(
        f"fitted slope {fit.slope:+.3f} ± {fit.slope_stderr:.3f} "
        f"(chi2 {fit.chi2:.1f} / {fit.dof} dof)"
    )
    half = drift_width_scaling(results, time=t / 2)
    print(f"at t/2: slope {half.slope:+.3f} ± {half.slope_stderr:.3f}")
    return ens


def diagnostics(ens):
    """Spectrum and alignment of the widest ensemble, and their cost."""
    _, F, C, _ = problem()
    start = time.perf_counter()
    spec = ntk_spectrum(ens, rtol=1e-6)
    align = ntk_alignment(ens, forward_map=F, y_cov=C, n_eigenvectors=5)
    elapsed = time.perf_counter() - start
    print(f"widest ensemble: rank (eps=1e-6) mean {spec.rank_mean} over t")
    print(f"alignment of v_1..v_5 with span(FᵀC⁻¹F) (m = {align.n_leading}):")
    for j, t in enumerate(align.times):
        print(f"  t = {t:.3g}: " + " ".join(f"{a:.4f}" for a in align.mean[j]))
    print(f"spectrum + alignment: {elapsed * 1e3:.1f} ms")


#: activation -> (widths, members per width)
CONFIG = {
    "erf": ([64, 128, 256, 512, 1024, 2048, 4096], 24),
    "relu": ([64, 128, 256, 512, 1024, 2048], 16),
}
QUICK = {"erf": ([64, 256, 1024], 8)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer widths/members")
    args = parser.parse_args()
    start = time.perf_counter()
    for activation, (widths, n_members) in (QUICK if args.quick else CONFIG).items():
        ens = run(activation, np.array(widths), n_members, t=0.5, n_steps=100)
        if activation == "erf":
            diagnostics(ens)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
