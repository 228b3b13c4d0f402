"""The 1/n statistics of the initial ensemble (issue 16): cost and accuracy.

Prints the wall and CPU time of ``init_statistics`` for N = 8 inputs at depth 4
(target: under a minute on 2 cores) for tanh, GELU and ReLU, the scaling with N at
depth 1, the accuracy of the quadrature on sets of four distinct inputs (default
rule against one with twice the nodes per level), and the critical points of ReLU,
tanh and GELU.

    python benchmarks/bench_init_statistics.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nngpbayes import Architecture
from nngpbayes.activations import get_activation
from nngpbayes.finite_width import _init_gauss, critical_initialization, init_statistics
from nngpbayes.finite_width._init_moments import four_point_moments


def inputs(n, seed=0):
    """``n`` inputs in 3-D with |x|²/n_0 ≈ 1."""
    return np.random.default_rng(seed).normal(size=(n, 3))


def timing(activation, n, depth, n_jobs):
    arch = Architecture(
        depth=depth, activation=activation, weight_variance=1.5, bias_variance=0.1
    )
    t0, c0 = time.perf_counter(), time.process_time()
    init_statistics(inputs(n), arch, width=64, n_jobs=n_jobs)
    return time.perf_counter() - t0, time.process_time() - c0


def quadrature_accuracy(activation):
    """Max |Δ| of the four-point moments (4 inputs, tanh at C_W = 1.5) between the
    default rule and one with 2× the points per level."""
    activation = get_activation(activation)
    X = inputs(4, seed=3)
    K = 0.1 + 1.5 * X @ X.T / 3
    base = four_point_moments(K, activation)
    saved = dict(_init_gauss._SMOOTH_STEP), dict(_init_gauss._PIECE_NODES)
    try:
        _init_gauss._SMOOTH_STEP.update({r: h / 2 for r, h in saved[0].items()})
        _init_gauss._PIECE_NODES.update({r: 2 * m for r, m in saved[1].items()})
        fine = four_point_moments(K, activation)
    finally:
        _init_gauss._SMOOTH_STEP.update(saved[0])
        _init_gauss._PIECE_NODES.update(saved[1])
    return max(float(np.max(np.abs(a - b))) for a, b in zip(base, fine, strict=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tanh only, no scaling")
    args = parser.parse_args()
    acts = ["tanh"] if args.quick else ["tanh", "gelu", "relu"]
    print("init_statistics, N = 8 inputs, depth 4 (target < 60 s on 2 cores)")
    for act in acts:
        for n_jobs in (1, 2):
            wall, cpu = timing(act, 8, 4, n_jobs)
            print(f"  {act:5s} n_jobs={n_jobs}: {wall:6.1f} s wall, {cpu:6.1f} s CPU")
    if not args.quick:
        print("scaling with N (tanh, depth 1, one thread): time ~ C(N, 4) four-sets")
        for n in (4, 6, 8, 12):
            print(f"  N = {n:2d}: {timing('tanh', n, 1, 1)[0]:6.2f} s")
        print(
            "quadrature accuracy, four distinct inputs (default vs 2x finer per level)"
        )
        for act in acts:
            print(f"  {act:5s}: max |Δ| = {quadrature_accuracy(act):.1e}")
    print("critical points (C_W, C_b)")
    for act in ("relu", "tanh", "gelu"):
        cw, cb = critical_initialization(act)
        print(f"  {act:5s}: ({cw:.8f}, {cb:.8f})")


if __name__ == "__main__":
    main()
