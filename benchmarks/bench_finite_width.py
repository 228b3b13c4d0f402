"""Finite-width expansion: accuracy against real training, and cost.

Prints, for each activation and depth, the geometric-mean error (over networks)
of the order-0 and order-1 predictions against real gradient-descent training at
each width, the fitted log-log slopes, the predicted vs measured NTK drift, and
the time to compute O_4 for 32 inputs on a width-512 depth-2 network.

    python benchmarks/bench_finite_width.py [--quick]
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="widths 128..1024, 6 nets")
    args = parser.parse_args()
    cost()
    widths = [128, 256, 512, 1024] if args.quick else [256, 512, 1024, 2048, 4096]
    n_networks = 6 if args.quick else 12
    for activation in ("tanh", "erf"):
        for depth in (1, 2):
            scan(activation, depth, widths, n_networks)
    scan("relu", 1, widths, n_networks)


if __name__ == "__main__":
    main()
