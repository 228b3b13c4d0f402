"""Benchmark: MLPEnsemble training against this machine's dgemm rate.

64 members, width 512, depth 2, 64 training points (d = 10), 300 full-batch
gradient-descent steps, with ``n_jobs=-1`` (a worker thread per core, one BLAS
thread each: the figure of the target) and, with ``--n-jobs -1 None``, also
``n_jobs=None`` (one worker, BLAS threads inside it: slow on a loaded machine,
where each small product waits for a BLAS thread that is not scheduled). The
achieved floating-point rate counts only the products the algorithm needs
(forward z = h W, weight gradients hᵀ δ, back-propagated signals δ Wᵀ;
elementwise work is free) and is divided by the dgemm peak measured in the
same run, just before each timed fit: the best of 3 products of two 2000 × 2000
matrices on all cores (target >= 55 %). The machine may be shared: each repeat
measures the peak and then the fit back to back, the fractions are per repeat
(best and median printed). Also prints the peak working memory of training
(resident set increase in a fresh process) against the stacked parameters (target
<= 3 × parameters + activations).

Run: python benchmarks/bench_networks.py [--steps 300] [--repeats 3]
[--n-jobs -1 None]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

M, WIDTH, DEPTH, N, D = 64, 512, 2, 64, 10
TARGET = 0.55


def flops_per_step(sizes, m, n):
    """Multiply-adds × 2 of forward, weight gradients and back-propagated signals."""
    total = 0
    for layer, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        total += 2 * m * n * a * b  # forward z = h W
        total += 2 * m * n * a * b  # gradient hᵀ δ
        if layer > 0:
            total += 2 * m * n * a * b  # δ Wᵀ
    return total


def dgemm_peak(size=2000, repeats=3):
    """FLOP/s of the best of ``repeats`` square products on all cores."""
    a = np.random.default_rng(0).normal(size=(size, size))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best


def memory_child():
    code = f"""
import numpy as np
from nngpbayes import MLPEnsemble

def status(key):  # kB -> bytes, from /proc/self/status
    text = open("/proc/self/status").read()
    return int(text.split(key + ":")[1].split()[0]) * 1024

rng = np.random.default_rng(0)
X, y = rng.normal(size=({N}, {D})), rng.normal(size={N})
small = MLPEnsemble(depth={DEPTH}, width=8, n_members=2, progress=False)
small.fit(X, y, n_steps=2, learning_rate=1e-3)  # imports and caches warmed up
ens = MLPEnsemble(depth={DEPTH}, width={WIDTH}, n_members={M}, random_state=0,
                  progress=False).initialize({D})
params = sum(w.nbytes + b.nbytes for w, b in zip(ens.weights_, ens.biases_))
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to now
    f.write("5")
base = status("VmRSS")  # the parameters included
ens.fit(X, y, n_steps=5, learning_rate=1e-3)
print(status("VmHWM") - base, params)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    extra, params = map(int, out.stdout.split())
    return extra, params


def make_ensemble(n_jobs):
    """The benchmark ensemble and its data, warmed up by a 2-step fit."""
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
    ens.fit(X, y, n_steps=2, learning_rate=1e-3)
    return ens, X, y


def measure(n_jobs, steps, repeats):
    """Per repeat: (dgemm peak FLOP/s, training seconds), measured back to back."""
    ens, X, y = make_ensemble(n_jobs)
    runs = []
    for _ in range(repeats):
        peak = dgemm_peak()
        t0 = time.perf_counter()
        ens.fit(X, y, n_steps=steps, learning_rate=1e-3)
        runs.append((peak, time.perf_counter() - t0))
    return runs, ens


def report(n_jobs, runs, flops):
    peaks, times = np.array(runs).T
    fractions = flops / times / peaks
    print(
        f"  n_jobs={n_jobs}: training {times.min():.2f} s min, "
        f"{np.median(times):.2f} s median -> {flops / times.min() / 1e9:.1f} GFLOP/s"
        f" best; dgemm peak {peaks.max() / 1e9:.1f} GFLOP/s best, "
        f"{np.median(peaks) / 1e9:.1f} median"
    )
    print(
        f"    fraction of the peak measured just before: {fractions.max():.0%} best, "
        f"{np.median(fractions):.0%} median"
        + (f"   target >= {TARGET:.0%}" if n_jobs == -1 else "")
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="default: 300")
    parser.add_argument("--repeats", type=int, default=3, help="default: 3")
    parser.add_argument(
        "--n-jobs",
        nargs="+",
        default=["-1"],
        help="n_jobs values to time, integers or None (default: -1)",
    )
    args = parser.parse_args(argv)
    all_n_jobs = [None if v == "None" else int(v) for v in args.n_jobs]
    print(
        f"MLPEnsemble: {M} members, width {WIDTH}, depth {DEPTH}, {N} points, "
        f"{args.steps} steps, {args.repeats} repeats"
    )
    # n_jobs follows joblib: -1 is one thread per core (one BLAS thread each),
    # None is one worker (BLAS threads inside it)
    for n_jobs in all_n_jobs:
        runs, ens = measure(n_jobs, args.steps, args.repeats)
        report(n_jobs, runs, flops_per_step(ens.sizes_, M, N) * args.steps)
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
