"""Finite-width expansion: accuracy against real training, and cost.

Prints, for each activation and depth, the geometric-mean error (over networks)
of the order-0 and order-1 predictions against real gradient-descent training at
each width, the fitted log-log slopes, the predicted vs measured NTK drift, and
the time to compute O_4 for 32 inputs on a width-512 depth-2 network.

The forward-map section does the same through y = F φ(X_grid): a Gaussian smoothing
F from 20 grid points to 12 data, a correlated C, erf networks trained by gradient
descent on ½(Fφ − y)ᵀC⁻¹(Fφ − y) (``MLPEnsemble.fit(..., forward_map=F,
y_cov=C)``), errors of the network on the grid; it also prints the ratio of the
order-1 to the order-0 error at width 256 (issue 12: at most 0.5).

    python benchmarks/bench_finite_width.py [--quick] [--forward-map-only]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nngpbayes import MLPEnsemble
from nngpbayes.finite_width import FiniteWidthFlow, ntk_hierarchy


def problem():
    """8 training inputs in 2-D, 8 test inputs, a smooth target."""
    rng = np.random.default_rng(7)
    X = rng.uniform(-1.5, 1.5, (8, 2))
    X_test = rng.uniform(-1.5, 1.5, (8, 2))
    y = np.sin(2.0 * X[:, 0]) + 0.5 * X[:, 1]
    return X, X_test, y


def errors(activation, depth, width, n_networks, t=2.0, n_steps=40, seed=0):
    """Per-network RMS errors of order 0 and 1, and NTK drifts (measured, predicted)."""
    X, X_test, y = problem()
    Z = np.vstack([X, X_test])
    ens = MLPEnsemble(
        depth=depth,
        width=width,
        activation=activation,
        bias_variance=0.1,
        n_members=n_networks,
        random_state=seed,
        progress=False,
    )
    ens.initialize(X.shape[1])
    h0 = ens.empirical_ntk(X)
    ens.fit(X, y, time=t, n_steps=n_steps)
    real = ens.predict(Z)
    dt = t / n_steps
    out = {}
    for order in (0, 1):
        flow = FiniteWidthFlow(ens, X, y, order=order, dt=dt)
        pred = flow.predict(Z, t)
        out[order] = np.sqrt(np.mean((pred - real) ** 2, axis=1))
    drift_meas = ens.empirical_ntk(X) - h0
    drift_pred = flow.predict_ntk(t) - h0
    norm = np.linalg.norm(h0, axis=(1, 2))
    out["drift"] = np.linalg.norm(drift_meas, axis=(1, 2)) / norm
    out["drift_pred"] = np.linalg.norm(drift_pred, axis=(1, 2)) / norm
    out["drift_err"] = np.linalg.norm(drift_pred - drift_meas, axis=(1, 2)) / (
        np.linalg.norm(drift_meas, axis=(1, 2))
    )
    return out


def geo(x):
    return float(np.exp(np.mean(np.log(x))))


def slope(widths, values):
    return float(np.polyfit(np.log(widths), np.log(values), 1)[0])


def scan(activation, depth, widths, n_networks):
    rows = []
    for w in widths:
        t0 = time.perf_counter()
        e = errors(activation, depth, w, n_networks)
        rows.append(
            (
                w,
                geo(e[0]),
                geo(e[1]),
                geo(e["drift"]),
                geo(e["drift_pred"]),
                geo(e["drift_err"]),
                time.perf_counter() - t0,
            )
        )
    print(f"\n{activation}, depth {depth}, {n_networks} networks per width")
    print(
        "  width   err order0   err order1   drift meas   drift pred   drift rel.err  s"
    )
    for r in rows:
        print(
            f"  {r[0]:5d}   {r[1]:.3e}    {r[2]:.3e}    {r[3]:.3e}    {r[4]:.3e}"
            f"    {r[5]:.3e}      {r[6]:.1f}"
        )
    w = [r[0] for r in rows]
    s0, s1 = slope(w, [r[1] for r in rows]), slope(w, [r[2] for r in rows])
    sd = slope(w, [r[5] for r in rows])
    print(f"  slopes: order 0 {s0:+.2f}, order 1 {s1:+.2f}, drift error {sd:+.2f}")
    return s0, s1


def cost():
    X = np.random.default_rng(0).standard_normal((32, 4))
    ens = MLPEnsemble(
        depth=2, width=512, activation="tanh", n_members=1, random_state=0
    )
    ens.initialize(4)
    t0 = time.perf_counter()
    h = ntk_hierarchy(ens, X)
    dt = time.perf_counter() - t0
    print(
        f"\nO_4 for 32 inputs, width 512, depth 2: {dt:.2f} s (target < 30 s), "
        f"shape {h.o4.shape}"
    )


def mapped_problem(n_grid=20, n_data=12, seed=0):
    """A PDF-like problem: Gaussian smoothing F (n_data × n_grid), correlated C."""
    rng = np.random.default_rng(seed)
    X = np.linspace(-1.0, 1.0, n_grid)[:, None]
    centres = np.linspace(-0.9, 0.9, n_data)
    F = np.exp(-((centres[:, None] - X[:, 0]) ** 2) / 0.02)
    F /= F.sum(1, keepdims=True)
    A = rng.standard_normal((n_data, n_data))
    C = 0.1 * (A @ A.T / n_data + np.eye(n_data))
    y = F @ np.sin(3.0 * X[:, 0]) + np.linalg.cholesky(C) @ rng.standard_normal(n_data)
    return X, F, C, y


def mapped_errors(width, n_networks, t=2.0, n_steps=80, seed=0):
    """Per-network RMS errors (on the grid) of order 0 and 1 through F, NTK drifts."""
    X, F, C, y = mapped_problem()
    ens = MLPEnsemble(
        depth=1,
        width=width,
        activation="erf",
        bias_variance=0.1,
        n_members=n_networks,
        random_state=seed,
        progress=False,
    )
    h0 = ens.initialize(X.shape[1]).empirical_ntk(X)
    ens.fit(X, y, time=t, n_steps=n_steps, forward_map=F, y_cov=C)
    real = ens.predict(X)
    out = {}
    for order in (0, 1):
        flow = FiniteWidthFlow(
            ens, X, y, order=order, dt=t / n_steps, forward_map=F, y_cov=C
        )
        out[order] = np.sqrt(np.mean((flow.predict(X, t) - real) ** 2, axis=1))
    drift_meas = ens.empirical_ntk(X) - h0
    drift_pred = flow.predict_ntk(t) - h0  # H on the grid inputs
    out["drift"] = np.linalg.norm(drift_meas, axis=(1, 2)) / np.linalg.norm(
        h0, axis=(1, 2)
    )
    out["drift_err"] = np.linalg.norm(drift_pred - drift_meas, axis=(1, 2)) / (
        np.linalg.norm(drift_meas, axis=(1, 2))
    )
    out["step"] = t / n_steps * flow.eigenvalues_.max()
    return out


def scan_forward_map(widths=(64, 128, 256, 512, 1024), n_networks=6):
    """Order 0 and 1 against real training through F, over widths."""
    print(
        f"\nforward map: smoothing F (12 data x 20 grid), correlated C, erf depth 1, "
        f"t = 2 in 80 GD steps, {n_networks} networks per width (same seeds)"
    )
    print("  width   err order0   err order1   ratio   drift meas   drift rel.err  s")
    rows = []
    for w in widths:
        t0 = time.perf_counter()
        e = mapped_errors(w, n_networks)
        g0, g1 = geo(e[0]), geo(e[1])
        rows.append((w, g0, g1, geo(e["drift_err"])))
        print(
            f"  {w:5d}   {g0:.3e}    {g1:.3e}    {g1 / g0:.3f}   {geo(e['drift']):.3e}"
            f"    {geo(e['drift_err']):.3e}      {time.perf_counter() - t0:.1f}"
            f"   (eta dt max eig = {e['step']:.2f})"
        )
    w = [r[0] for r in rows]
    s0, s1 = slope(w, [r[1] for r in rows]), slope(w, [r[2] for r in rows])
    sd = slope(w, [r[3] for r in rows])
    print(f"  slopes: order 0 {s0:+.2f}, order 1 {s1:+.2f}, drift error {sd:+.2f}")
    if 256 in w:
        r = rows[w.index(256)]
        print(f"  order1/order0 at width 256: {r[2] / r[1]:.3f} (acceptance: <= 0.5)")
    return s0, s1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="widths 128..1024, 6 nets")
    parser.add_argument(
        "--forward-map-only", action="store_true", help="only the forward-map section"
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    scan_forward_map()
    print(f"  (forward-map section: {time.perf_counter() - t0:.0f} s)")
    if args.forward_map_only:
        return
    cost()
    widths = [128, 256, 512, 1024] if args.quick else [256, 512, 1024, 2048, 4096]
    n_networks = 6 if args.quick else 12
    for activation in ("tanh", "erf"):
        for depth in (1, 2):
            scan(activation, depth, widths, n_networks)
    scan("relu", 1, widths, n_networks)


if __name__ == "__main__":
    main()
