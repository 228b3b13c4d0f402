"""Benchmark: NNGP and NTK Gram matrices (issue: kernels).

Prints median wall time and peak extra memory for
- ReLU, depth 3, d = 10, 4000 × 4000, NNGP and NTK together (target <= 1.0 s),
- tanh (Hermite series), depth 3, 2000 × 2000 (target <= 5 s),
beside a straightforward NumPy implementation of the same recursion measured in the
same run (the baseline the blocked, threaded version is compared with). The
"all cores" figures pass ``n_jobs=-1`` (the default, ``None``, is one thread, as in
joblib); ``n_jobs=1`` is printed beside them.

Run: python benchmarks/bench_kernels.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from nngpbayes import Architecture
from nngpbayes.kernels import nngp_ntk


def naive_relu(X, depth, cw=2.0, cb=0.1):
    """Straightforward full-matrix NumPy recursion with arccos (the baseline)."""
    n0 = X.shape[1]
    k = cb + cw * (X @ X.T) / n0
    th = k.copy()
    for _ in range(depth):
        d = np.sqrt(np.diag(k))
        c = np.clip(k / np.outer(d, d), -1, 1)
        theta = np.arccos(c)
        t = np.outer(d, d) * (np.sin(theta) + (np.pi - theta) * c) / (2 * np.pi)
        tdot = (np.pi - theta) / (2 * np.pi)
        th = cb + cw * t + cw * tdot * th
        k = cb + cw * t
    return k, th


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), min(times)


def peak_memory_child():
    """Peak resident-memory increase of one 4000 × 4000 call (all cores), in a
    fresh process.

    Measured with the kernel's peak RSS (VmHWM) so that every allocation counts,
    NumPy's and the memory-mapped outputs alike.
    """
    code = (
        "import numpy as np, resource;"
        "from nngpbayes import Architecture; from nngpbayes.kernels import nngp_ntk;"
        "X = np.random.default_rng(0).normal(size=(4000, 10));"
        "a = Architecture(depth=3, activation='relu', weight_variance=2.0,"
        " bias_variance=0.1);"
        "nngp_ntk(X[:300], architecture=a, n_jobs=-1);"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "k, t = nngp_ntk(X, architecture=a, n_jobs=-1);"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[-1]) * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    X = rng.normal(size=(4000, 10))
    relu = Architecture(
        depth=3, activation="relu", weight_variance=2.0, bias_variance=0.1
    )
    med, best = timed(lambda: nngp_ntk(X, architecture=relu, n_jobs=-1), args.repeats)
    base, _ = timed(lambda: naive_relu(X, 3), max(1, args.repeats // 2))
    outputs = 2 * X.shape[0] ** 2 * 8
    peak = peak_memory_child()
    serial, _ = timed(lambda: nngp_ntk(X, architecture=relu, n_jobs=1), 3)
    print("ReLU depth 3, 4000 x 4000, NNGP + NTK")
    print(
        f"  nngpbayes (all cores): median {med:.3f} s (best {best:.3f} s)"
        "  target <= 1.0 s"
    )
    print(f"  nngpbayes (n_jobs=1):  median {serial:.3f} s")
    print(
        f"  naive NumPy baseline:  median {base:.3f} s  -> speed-up x{base / med:.2f}"
    )
    print(
        f"  peak RSS increase {peak / 2**20:.0f} MiB = {peak / outputs:.2f} x the two "
        f"outputs ({outputs / 2**20:.0f} MiB); extra beyond them "
        f"{(peak - outputs) / outputs:.2f} x  target <= 3 x"
    )

    X2 = rng.normal(size=(2000, 10))
    tanh = Architecture(
        depth=3, activation="tanh", weight_variance=1.5, bias_variance=0.1
    )
    med, best = timed(
        lambda: nngp_ntk(X2, architecture=tanh, n_jobs=-1), max(1, args.repeats // 2)
    )
    print("tanh depth 3, 2000 x 2000, NNGP + NTK (adaptive Hermite series)")
    print(
        f"  nngpbayes (all cores): median {med:.3f} s (best {best:.3f} s)"
        "  target <= 5 s"
    )


if __name__ == "__main__":
    main()
