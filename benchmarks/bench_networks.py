"""Benchmark: MLPEnsemble training (issue: finite-width networks).

64 members, width 512, depth 2, 64 training points (d = 10), 300 full-batch
gradient-descent steps, with ``n_jobs=None`` (one worker) and ``n_jobs=-1`` (a
thread per core). Prints the achieved floating-point rate of the training loop as
a fraction of this machine's dgemm peak (a 2000 × 2000 product measured in
the same run; target >= 40 %), and the peak working memory of training (resident
set increase in a fresh process) against the stacked parameters (target
<= 3 × parameters + activations).

Run: python benchmarks/bench_networks.py
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

M, WIDTH, DEPTH, N, D, STEPS = 64, 512, 2, 64, 10, 300


def flops_per_step(sizes, m, n):
    """Multiply-adds × 2 of forward, weight gradients and back-propagated signals."""
    total = 0
    for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        total += 2 * m * n * a * b  # forward z = h W
        total += 2 * m * n * a * b  # gradient hᵀ δ
        if layer > 0:
            total += 2 * m * n * a * b  # δ Wᵀ
    return total


def dgemm_peak():
    a = np.random.default_rng(0).normal(size=(2000, 2000))
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t0)
    return 2 * 2000**3 / best


def memory_child():
    code = f"""
import numpy as np, resource
from nngpbayes import MLPEnsemble
rng = np.random.default_rng(0)
X, y = rng.normal(size=({N}, {D})), rng.normal(size={N})
small = MLPEnsemble(depth={DEPTH}, width=8, n_members=2, progress=False)
small.fit(X, y, n_steps=2, learning_rate=1e-3)  # imports and caches warmed up
ens = MLPEnsemble(depth={DEPTH}, width={WIDTH}, n_members={M}, random_state=0,
                  progress=False).initialize({D})
params = sum(w.nbytes + b.nbytes for w, b in zip(ens.weights_, ens.biases_))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - params
ens.fit(X, y, n_steps=5, learning_rate=1e-3)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(peak - base - params, params)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    extra, params = map(int, out.stdout.split())
    return extra, params


def timed_fit(n_jobs):
    """Seconds for STEPS steps of the benchmark ensemble with ``n_jobs`` workers."""
    from nngpbayes import MLPEnsemble

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(N, D)), np.sin(rng.normal(size=N))
    ens = MLPEnsemble(
        depth=DEPTH,
        width=WIDTH,
        activation="relu",
        weight_variance=2.0,
        n_members=M,
        random_state=0,
        n_jobs=n_jobs,
        progress=False,
    )
    ens.fit(X, y, n_steps=2, learning_rate=1e-3)  # warm-up
    t0 = time.perf_counter()
    ens.fit(X, y, n_steps=STEPS, learning_rate=1e-3)
    return time.perf_counter() - t0, ens


def main():
    peak = dgemm_peak()
    print(
        f"MLPEnsemble: {M} members, width {WIDTH}, depth {DEPTH}, {N} points, "
        f"{STEPS} steps"
    )
    print(f"  dgemm peak (2000 x 2000) in this run: {peak / 1e9:.1f} GFLOP/s")
    # n_jobs follows joblib: None is one worker (BLAS threads inside it), -1 is
    # one thread per core (one BLAS thread each)
    for n_jobs in (None, -1):
        elapsed, ens = timed_fit(n_jobs)
        flops = flops_per_step(ens.sizes_, M, N) * STEPS
        print(
            f"  n_jobs={n_jobs}: training time {elapsed:.2f} s, "
            f"{flops / 1e12:.2f} TFLOP -> {flops / elapsed / 1e9:.1f} GFLOP/s, "
            f"fraction of peak {flops / elapsed / peak:.0%}   target >= 40%"
        )
    extra, params = memory_child()
    acts = 4 * M * N * sum(ens.sizes_[1:]) * 8  # z, σ(z), δ and σ' per layer
    print(
        f"  working memory of training beyond the parameters: {extra / 2**20:.0f} MiB"
        f" = {extra / params:.2f} x the stacked parameters ({params / 2**20:.0f} MiB)"
        f"; activations ~{acts / 2**20:.0f} MiB   target <= 3 x parameters + "
        "activations"
    )


if __name__ == "__main__":
    main()
