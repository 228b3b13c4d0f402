"""Benchmark: GradientFlowRegressor (issue: training dynamics).

1. N = 1000 training points, 500 test points, 20 times, mean and full covariance,
   kernels included (target <= 1 s). Printed beside a straightforward NumPy version
   that redoes the eigendecomposition for every time (same run).
2. N = 2000, 1000 test points, 100 times: seconds per extra time point (full
   covariance, and std only) beside the time of the matrix products a time point
   needs, n_test × N × N and n_test × N × n_test, at this machine's dgemm rate
   measured in the same run (target within 1.5×), and a check that the per-time
   cost does not grow with the number of times.

Kernels are computed on all cores (``n_jobs=-1``; the default, ``None``, is one
thread, as in joblib), for the regressor and for the baseline alike.

Run: python benchmarks/bench_dynamics.py
"""

from __future__ import annotations

import time

import numpy as np

from nngpbayes import Architecture, GradientFlowRegressor
from nngpbayes.kernels import nngp_ntk


def naive(X, y, Xs, times, arch):
    """Per time: eigendecomposition of Θ and the Lee et al. formulas."""
    k, th = nngp_ntk(X, architecture=arch, n_jobs=-1)
    ks, ts = nngp_ntk(Xs, X, architecture=arch, n_jobs=-1)
    kss = nngp_ntk(Xs, architecture=arch, ntk=False, n_jobs=-1).nngp
    out = []
    for t in times:
        s, u = np.linalg.eigh(th)
        g = -np.expm1(-s * t) / s
        b = ts @ (u * g) @ u.T
        cov = kss - b @ ks.T - ks @ b.T + b @ k @ b.T
        out.append((b @ y, cov))
    return out


def best_of(fn, repeats=3):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    rng = np.random.default_rng(0)
    arch = dict(depth=2, activation="relu", weight_variance=2.0, bias_variance=0.1)
    X, Xs = rng.normal(size=(1000, 5)), rng.normal(size=(500, 5))
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=1000)
    times = np.logspace(-1, 3, 20)

    def run():
        reg = GradientFlowRegressor(**arch, n_jobs=-1).fit(X, y)
        return reg.predict(Xs, time=times, return_cov=True)

    ours = best_of(run)
    base = best_of(lambda: naive(X, y, Xs, times, Architecture(**arch)), 1)
    print("N=1000 train, 500 test, 20 times, mean + full covariance, kernels included")
    print(f"  GradientFlowRegressor: {ours:.3f} s   target <= 1 s")
    print(f"  naive per-time eigh:   {base:.3f} s   (x{base / ours:.1f})")

    n, n_test = 2000, 1000
    X, Xs = rng.normal(size=(n, 5)), rng.normal(size=(n_test, 5))
    y = np.sin(X[:, 0])
    reg = GradientFlowRegressor(**arch, n_jobs=-1).fit(X, y)
    a, b = rng.normal(size=(n_test, n)), rng.normal(size=(n, n))
    c = rng.normal(size=(n, n_test))
    t_nnn = best_of(lambda: a @ b, 5)
    t_nnt = best_of(lambda: a @ c, 5)
    gflops = 2 * n_test * n * n / t_nnn / 1e9
    print(f"N={n}, {n_test} test points; dgemm {gflops:.0f} GFLOP/s in this run")
    print(
        f"  products per time point: {t_nnn * 1e3:.1f} ms (n_test×N×N) + "
        f"{t_nnt * 1e3:.1f} ms (n_test×N×n_test) = {(t_nnn + t_nnt) * 1e3:.1f} ms"
    )
    for label, kwargs in (
        ("full covariance", dict(return_cov=True)),
        ("std only", dict(return_std=True)),
    ):
        per = []
        for n_times in (10, 100):
            ts = np.logspace(-1, 3, n_times)
            one = best_of(
                lambda ts=ts, kw=kwargs: reg.predict(Xs, time=ts[:1], **kw), 2
            )
            many = best_of(lambda ts=ts, kw=kwargs: reg.predict(Xs, time=ts, **kw), 1)
            per.append((many - one) / (n_times - 1))
        ratio = per[1] / (t_nnn + t_nnt)
        print(
            f"  {label}: {per[1] * 1e3:.1f} ms per extra time point over 100 times "
            f"({per[0] * 1e3:.1f} ms over 10) = x{ratio:.2f} the products"
            + ("   target <= 1.5" if label == "full covariance" else "")
        )


if __name__ == "__main__":
    main()
