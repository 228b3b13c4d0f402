"""Benchmark: kernels of Hermite-series activations with gradients (issue 15).

Prints, for ``k(X, eval_gradient=True)`` of NNGPKernel and NTKKernel (depth 2, bias
variance 0.1), the time of erf (closed form, the baseline measured in the same
run) and of each series activation (tanh, sigmoid, softplus, swish), with their
ratio (target: series <= 5x erf at N = 1000), on

- N = 1000 inputs drawn from a standard normal in d = 3 (the target case),
- N = 353 points of a 1-D regression grid, uniform on [-2, 2] (the "new user"
  case of the issue; the series need up to 1024 terms there, since the layer
  variances reach 4),

and the time of one GaussianProcessRegressor fit (NNGP + WhiteKernel, no restarts)
with tanh against erf on the 1-D case. Times are the minimum (and median) of
``--repeats`` calls, measured back to back; the ratio of minima is the figure.

Run: python benchmarks/bench_series_gradients.py [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import WhiteKernel

from nngpbayes import NNGPKernel, NTKKernel

SERIES = ("tanh", "sigmoid", "softplus", "swish")


def timed(fn, repeats):
    """(min, median) wall time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def kernel_table(X, label, repeats, depth=2):
    """Print erf vs each series activation, k(X, eval_gradient=True)."""
    print(f"\n{label}: N = {X.shape[0]}, d = {X.shape[1]}, depth {depth}")
    print(f"{'kernel':<6} {'activation':<9} {'min [s]':>9} {'median':>9} {'/ erf':>7}")
    for cls in (NNGPKernel, NTKKernel):
        name = "NNGP" if cls is NNGPKernel else "NTK"
        base = None
        for act in ("erf",) + SERIES:
            k = cls(depth=depth, activation=act, bias_variance=0.1)
            best, med = timed(lambda k=k: k(X, eval_gradient=True), repeats)
            base = best if act == "erf" else base
            ratio = "" if act == "erf" else f"{best / base:6.1f}x"
            print(f"{name:<6} {act:<9} {best:9.3f} {med:9.3f} {ratio:>7}")


def gp_fit(X, y, activation):
    kernel = NNGPKernel(depth=2, activation=activation, bias_variance=0.1)
    gp = GaussianProcessRegressor(kernel + WhiteKernel(0.01), random_state=0)
    return gp.fit(X, y)


def gp_table(X, y, repeats):
    print(f"\nGaussianProcessRegressor.fit, NNGP depth 2 + WhiteKernel, N = {len(X)}")
    base = None
    for act in ("erf", "tanh"):
        best, med = timed(lambda act=act: gp_fit(X, y, act), repeats)
        base = best if act == "erf" else base
        ratio = "" if act == "erf" else f"  ({best / base:.1f}x erf)"
        print(f"  {act:<5} min {best:7.2f} s  median {med:7.2f} s{ratio}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="N = 1000 table only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # QuadratureWarning on the 1-D grid (q up to 4)
    rng = np.random.default_rng(0)
    kernel_table(rng.normal(size=(1000, 3)), "standard normal inputs", args.repeats)
    if args.quick:
        return
    x = np.sort(rng.uniform(-2.0, 2.0, size=353))
    X1 = x[:, None]
    kernel_table(X1, "1-D regression grid", args.repeats)
    y = np.sin(3.0 * x) + 0.5 * x + 0.1 * rng.normal(size=x.size)
    gp_table(X1, y, max(1, args.repeats - 2))


if __name__ == "__main__":
    main()
