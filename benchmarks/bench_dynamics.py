"""Benchmark: GradientFlowRegressor (issue: training dynamics; issue 15, speed).

1. Flow prediction: N = 1000 training points, 500 test points, 20 times, mean and
   full covariance, kernels included; depth-3 ReLU network (C_W = 2, C_b = 0.1).
   Printed (``--naive``) beside a straightforward NumPy version that redoes the
   eigendecomposition for every time, and, with ``--nt-python``, beside
   neural-tangents 0.6.5's ``gradient_descent_mse_ensemble(kernel_fn, x, y,
   diag_reg=0)`` + ``predict_fn(t=times, x_test=..., get='ntk', compute_cov=True)``
   with the jitted kernel of ``stax.serial(Dense(512), Relu(), ..., Dense(1))``
   (benchmarks/_nt_flow.py), in float64 (jax x64) and float32 (target: ours <= 0.5×
   neural-tangents). Time convention (docs/theory/neural_tangents.rst): NT's time
   t at learning rate 1 is nngpbayes' t / N. ``--one-thread`` runs both on one
   thread (BLAS and kernels; XLA's intra-op pool), which a loaded machine
   disturbs less.
2. Small problems and BLAS threads: a 353-point fit + predict with the package's
   default (one BLAS thread below ``nngpbayes._threads.SMALL_WORK``), with the
   limit switched off (all BLAS threads), and a 1000-point one (above the
   threshold, unchanged).
3. N = 2000, 1000 test points, 100 times: seconds per extra time point (full
   covariance, and std only) beside the time of a general n_test × N × N plus
   n_test × N × n_test product at this machine's dgemm rate (same run), and a
   check that the per-time cost does not grow with the number of times.

Kernels are computed on all cores (``n_jobs=-1``; the default, ``None``, is one
thread, as in joblib), for the regressor and for the baselines alike. The machine
may be shared: figures are minima (and medians) of repeats, ratios measured in the
same run.

Run: python benchmarks/bench_dynamics.py [--nt-python PATH] [--repeats 3]
     [--one-thread] [--naive] [--skip-per-time]
(``--nt-python`` defaults to $NNGPBAYES_NT_PYTHON; without it neural-tangents is
skipped.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nngpbayes._threads as threads
from nngpbayes import Architecture, GradientFlowRegressor
from nngpbayes.kernels import nngp_ntk

ARCH = dict(depth=3, activation="relu", weight_variance=2.0, bias_variance=0.1)


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


def timed(fn, repeats=3):
    """(min, median) wall time of ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times)), out


def flow_problem(seed=0, n=1000, n_test=500, n_times=20):
    rng = np.random.default_rng(seed)
    X, Xs = rng.normal(size=(n, 5)), rng.normal(size=(n_test, 5))
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=n)
    return X, y, Xs, np.logspace(-1, 3, n_times)


def run_nt(python, X, y, Xs, times, pairs, x64, repeats, one_thread):
    """neural-tangents' figures from benchmarks/_nt_flow.py, or None on failure."""
    script = Path(__file__).with_name("_nt_flow.py")
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        # NT's time at learning rate 1 is nngpbayes' time × N (theory §7)
        arrays = dict(x=X, y=y, xs=Xs, times=times * len(X), pairs=pairs)
        for name, value in arrays.items():
            files[name] = os.path.join(tmp, f"{name}.npy")
            np.save(files[name], value)
        cmd = [python, str(script), "--repeats", str(repeats)]
        cmd += [a for name in arrays for a in (f"--{name}", files[name])]
        cmd += ["--x64"] if x64 else []
        cmd += ["--one-thread"] if one_thread else []
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(f"  neural-tangents failed:\n{proc.stderr[-2000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_flow(nt_python, repeats, one_thread, with_naive):
    X, y, Xs, times = flow_problem()
    pairs = np.array([[0, 0], [1, 2], [10, 400], [250, 251], [499, 499]])
    n_jobs = 1 if one_thread else -1

    def ours():
        limit = threads.one_blas_thread() if one_thread else contextlib.nullcontext()
        with limit:
            reg = GradientFlowRegressor(**ARCH, n_jobs=n_jobs).fit(X, y)
            return reg.predict(Xs, time=times, return_cov=True)

    print("1. N=1000 train, 500 test, 20 times, mean + full covariance, kernels")
    print(
        "   included; depth-3 ReLU; "
        + ("one thread (BLAS, kernels, XLA)" if one_thread else "all cores")
    )
    best, med, (mean, cov) = timed(ours, repeats)
    print(f"  GradientFlowRegressor:  min {best:.3f} s  median {med:.3f} s")
    if with_naive:
        arch = Architecture(**ARCH)
        base, _, _ = timed(lambda: naive(X, y, Xs, times, arch), 1)
        print(f"  naive per-time eigh:    {base:.3f} s   (x{base / best:.1f} ours)")
    if nt_python is None:
        print("  neural-tangents: skipped (--nt-python or NNGPBAYES_NT_PYTHON unset)")
        return
    for x64 in (True, False):
        nt = run_nt(nt_python, X, y, Xs, times, pairs, x64, repeats, one_thread)
        if nt is None:
            continue
        again, med2, _ = timed(ours, repeats)  # ours again, right after NT
        best, med = min(best, again), min(med, med2)
        nt_best, nt_med = min(nt["times"]), float(np.median(nt["times"]))
        i, j = pairs.T
        err_m = np.max(np.abs(np.array(nt["mean"]) - mean[:, i]))
        err_c = np.max(np.abs(np.array(nt["cov"]) - cov[:, i, j]))
        print(
            f"  neural-tangents {nt['dtype']} (jax {nt['jax']}): min {nt_best:.3f} s "
            f"median {nt_med:.3f} s (first call {nt['first_call']:.1f} s)\n"
            f"    ours (min over both runs) {best:.3f} s; ratio ours/NT: "
            f"min {best / nt_best:.2f}  median {med / nt_med:.2f}   target <= 0.5\n"
            f"    agreement with ours at sampled entries: mean {err_m:.1e}, "
            f"cov {err_c:.1e}"
        )


def bench_threads(repeats):
    """A 353-point fit + predict: the package's thread limit on and off."""
    print("2. Small problems: fit + predict (std, 3 times), depth 2, default n_jobs")
    rng = np.random.default_rng(1)
    for n in (353, 1000):
        X, Xs = rng.normal(size=(n, 3)), rng.normal(size=(n // 2, 3))
        y = np.sin(X[:, 0])

        def run(X=X, y=y, Xs=Xs):
            reg = GradientFlowRegressor(depth=2, bias_variance=0.1).fit(X, y)
            return reg.predict(Xs, time=[1.0, 10.0, np.inf], return_std=True)

        limited, lim_med, _ = timed(run, repeats)
        saved, threads.SMALL_WORK = threads.SMALL_WORK, 0  # the limit off
        try:
            free, free_med, _ = timed(run, repeats)
        finally:
            threads.SMALL_WORK = saved
        state = "one BLAS thread" if n**3 < saved else "threads untouched"
        print(
            f"  N={n} ({state} by default): default {limited:.3f} s "
            f"(median {lim_med:.3f}), limit off {free:.3f} s (median {free_med:.3f})"
            f"  -> x{free / limited:.1f}"
        )
    print(f"  threshold: work n^3 < SMALL_WORK = 512^3 = {threads.SMALL_WORK:.2e}")


def bench_per_time():
    n, n_test = 2000, 1000
    rng = np.random.default_rng(2)
    X, Xs = rng.normal(size=(n, 5)), rng.normal(size=(n_test, 5))
    reg = GradientFlowRegressor(**ARCH, n_jobs=-1).fit(X, np.sin(X[:, 0]))
    a, b = rng.normal(size=(n_test, n)), rng.normal(size=(n, n))
    c = rng.normal(size=(n, n_test))
    t_nnn, _, _ = timed(lambda: a @ b, 5)
    t_nnt, _, _ = timed(lambda: a @ c, 5)
    gflops = 2 * n_test * n * n / t_nnn / 1e9
    print(f"3. N={n}, {n_test} test points; dgemm {gflops:.0f} GFLOP/s in this run")
    print(
        f"  general products per time point: {t_nnn * 1e3:.1f} ms (n_test×N×N) + "
        f"{t_nnt * 1e3:.1f} ms (n_test×N×n_test) = {(t_nnn + t_nnt) * 1e3:.1f} ms"
    )
    for label, kwargs in (
        ("full covariance", dict(return_cov=True)),
        ("std only", dict(return_std=True)),
    ):
        per = []
        for n_times in (10, 100):
            ts = np.logspace(-1, 3, n_times)
            one, _, _ = timed(lambda ts=ts, kw=kwargs: reg.predict(Xs, ts[:1], **kw), 2)
            many, _, _ = timed(lambda ts=ts, kw=kwargs: reg.predict(Xs, ts, **kw), 1)
            per.append((many - one) / (n_times - 1))
        ratio = per[1] / (t_nnn + t_nnt)
        print(
            f"  {label}: {per[1] * 1e3:.1f} ms per extra time point over 100 times "
            f"({per[0] * 1e3:.1f} ms over 10) = x{ratio:.2f} the products"
            + ("   target <= 1.5" if label == "full covariance" else "")
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--nt-python",
        default=os.environ.get("NNGPBAYES_NT_PYTHON"),
        help="python of a venv with neural-tangents 0.6.5 (default: "
        "$NNGPBAYES_NT_PYTHON; unset skips the neural-tangents baseline)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="default: 3")
    parser.add_argument(
        "--skip-per-time", action="store_true", help="skip section 3 (N = 2000)"
    )
    parser.add_argument(
        "--one-thread",
        action="store_true",
        help="section 1 on one thread for both (less sensitive to a loaded machine)",
    )
    parser.add_argument(
        "--naive", action="store_true", help="also time the per-time eigh baseline"
    )
    args = parser.parse_args()
    bench_flow(args.nt_python, args.repeats, args.one_thread, args.naive)
    bench_threads(max(args.repeats, 5))
    if not args.skip_per_time:
        bench_per_time()


if __name__ == "__main__":
    sys.exit(main())
