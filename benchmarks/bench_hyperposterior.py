"""Per-call cost of the emcee log posterior of (C_W, C_b, s) beyond kernel and Cholesky.

One evaluation of log p(u | y) (nngpbayes.closure._hyperposterior.LogPosterior,
what emcee calls; with ``gradient=True`` what L-BFGS-B calls for the MAP) costs a
kernel evaluation K_{C_W, C_b}(X, X), one Cholesky factorisation of
A = F K Fᵀ + sC, and everything else: the *overhead*. For n = 50 data (depth-2 ReLU
and erf; without a forward map, and through a 50 × 50 smoothing map F) the script
times, per call, min and median over repeats:

- total: one log-posterior evaluation;
- kernel: the kernel call it makes, alone (``logpost._gram``: the layer recursion);
- Cholesky: LAPACK ``dpotrf`` of the same n × n matrix, alone (what it calls;
  scipy.linalg.cho_factor, with its input checks, is printed for reference);
- overhead = total − kernel − Cholesky (from the minima);
- stubbed: the overhead measured directly, one evaluation with the kernel call
  replaced by copies of its result, minus ``dpotrf`` (the difference from the
  column before is the kernel running slower inside the evaluation than alone, in
  a tight loop, with its arrays hot in cache).

The baseline, measured in the same run, is the pre-0.2 implementation, kept below
as ``NaiveLogPosterior``: an ``NNGPKernel`` object built and called per evaluation,
the checking Cholesky wrapper with jitter, ``cho_solve``, the log prior with NumPy
on 3-vectors and, for the gradient, A⁻¹ from ``cho_solve`` with the identity. Its
overhead is given against its own kernel call (the ``NNGPKernel`` object) and
against the same recursion and ``dpotrf`` as ours ("vs raw").

    python benchmarks/bench_hyperposterior.py [--n 50 200] [--repeats 60]
        [--blas-threads one|default]

Last, a short emcee run through ``sample_hyperparameters`` (given starting
positions), ours against the same run with the baseline patched in: time per step.

The machine may be shared: ratios are from back-to-back measurements, figures are
minima of the repeats.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import warnings

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

from nngpbayes import NNGPKernel
from nngpbayes._linalg import jittered_cholesky
from nngpbayes._threads import one_blas_thread
from nngpbayes.closure import _sampler
from nngpbayes.closure._hyperposterior import PRIOR_MEAN, PRIOR_STD, LogPosterior

_LOG_2PI = np.log(2.0 * np.pi)


class NaiveLogPosterior:
    """The log posterior as it was before (nngpbayes 0.1), for the baseline."""

    def __init__(self, X, y, C, depth, activation, mu, sigma, forward_map=None):
        self.X, self.y, self.C, self.F = X, y, C, forward_map
        self.depth, self.activation = depth, activation
        self.mu, self.sigma = np.asarray(mu), np.asarray(sigma)
        self.n_calls = self.n_jittered = 0  # what the sampler reads
        self.matrix_name = "A"

    def evaluate(self, u, gradient=False):
        return self(u, gradient)

    def kernel(self, theta):
        return NNGPKernel(
            self.depth,
            self.activation,
            weight_variance=theta[0],
            bias_variance=theta[1],
        )

    def __call__(self, u, gradient=False):
        self.n_calls += 1
        u = np.asarray(u, dtype=float)
        z = (u - self.mu) / self.sigma
        if not np.all(np.abs(z) <= 10.0):
            return -np.inf
        lp = float(np.sum(-0.5 * z**2 - np.log(self.sigma) - 0.5 * _LOG_2PI))
        theta = np.exp(u)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self.kernel(theta)(self.X, eval_gradient=gradient)
        K, dK = out if gradient else (out, None)
        if self.F is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                K = self.F @ K @ self.F.T
                K = 0.5 * (K + K.T)
                if dK is not None:
                    dK = np.stack(
                        [self.F @ dK[..., k] @ self.F.T for k in range(2)], axis=-1
                    )
        L, _ = jittered_cholesky(K + theta[2] * self.C, "A", warn=False)
        alpha = sla.cho_solve((L, True), self.y)
        value = lp + (
            -0.5 * self.y @ alpha
            - np.log(np.diag(L)).sum()
            - 0.5 * len(self.y) * _LOG_2PI
        )
        if not gradient:
            return float(value)
        # sklearn's order of the kernel's free hyperparameters: C_b, C_W
        dA = np.stack([dK[..., 1], dK[..., 0], theta[2] * self.C])
        A_inv = sla.cho_solve((L, True), np.eye(len(L)))
        grad = 0.5 * np.einsum("i,kij,j->k", alpha, dA, alpha)
        grad -= 0.5 * np.einsum("ij,kji->k", A_inv, dA)
        return float(value), grad - (u - self.mu) / self.sigma**2


def problem(n, forward_map, seed=0):
    """Inputs (n, 3), a correlated C, data from the model; F: 50 bumps on the grid."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 3))
    C = np.diag((0.1 * (1.0 + rng.uniform(size=n))) ** 2) + 0.05**2
    K = NNGPKernel(2, "relu", weight_variance=1.5, bias_variance=0.3)(X)
    F = None
    if forward_map:
        x = np.linspace(-1.0, 1.0, n)
        centres = rng.uniform(-0.9, 0.9, n)
        F = np.exp(-0.5 * ((x - centres[:, None]) / 0.2) ** 2)
        F /= F.sum(axis=1, keepdims=True)
        X = np.column_stack([x, 0.5 * x**2, np.ones(n)])
        K = NNGPKernel(2, "relu", weight_variance=1.5, bias_variance=0.3)(X)
        K = F @ K @ F.T
    y = rng.multivariate_normal(np.zeros(n), K + C, method="eigh")
    return X, y, C, F


def per_call(fns, repeats, budget=0.0005):
    """Min and median seconds per call of each ``fn()``, timed round-robin.

    Each repeat times one short batch (about ``budget`` seconds, at least one
    call) of every function in turn, so that a changing load on the machine hits
    all of them alike; batches this short are rarely preempted, so the minima
    are the undisturbed costs.
    """
    numbers = {}
    for name, fn in fns.items():
        fn()
        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < 0.005:
            fn()
            calls += 1
        numbers[name] = max(1, round(calls * budget / 0.005))
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(numbers[name]):
                fn()
            times[name].append((time.perf_counter() - start) / numbers[name])
    return {k: (min(v), float(np.median(v))) for k, v in times.items()}


class _Precomputed:
    """Stands in for ``LogPosterior._gram``: copies of a precomputed K (and ∂K)."""

    def __init__(self, K, dK):
        self.K, self.dK = K, dK

    def __call__(self, c_w, c_b):
        return self.K.copy()

    def with_gradient(self, c_w, c_b):
        return self.K.copy(), self.dK.copy()


def measure(n, activation, forward_map, gradient, repeats):
    """Timings (µs: min, median) of ours and the baseline for one case."""
    X, y, C, F = problem(n, forward_map)
    args = (X, y, C, 2, activation, PRIOR_MEAN, PRIOR_STD)
    ours = LogPosterior(*args, forward_map=F)
    stubbed = LogPosterior(*args, forward_map=F)
    naive = NaiveLogPosterior(*args, forward_map=F)
    u = np.array([0.4, -1.2, 0.0])
    c_w, c_b, s = np.exp(u)
    v_ours, v_naive = ours.evaluate(u, gradient), naive(u, gradient)
    check = np.ravel(v_ours[1] if gradient else v_ours)
    expect = np.ravel(v_naive[1] if gradient else v_naive)
    rel = float(np.max(np.abs(check - expect) / np.abs(expect)))
    gram = ours._gram.with_gradient if gradient else ours._gram
    K, dK = ours._gram.with_gradient(c_w, c_b)
    stubbed._gram = _Precomputed(ours._gram(c_w, c_b), dK)
    A = (K if F is None else F @ K @ F.T) + s * C
    kernel_obj = naive.kernel(np.exp(u))
    t = per_call(
        {
            "total": lambda: ours.evaluate(u, gradient),
            "kernel": lambda: gram(c_w, c_b),
            "dpotrf": lambda: lapack.dpotrf(A, lower=1),
            "cho_factor": lambda: sla.cho_factor(A, lower=True),
            "stubbed": lambda: stubbed.evaluate(u, gradient),
            "naive": lambda: naive(u, gradient),
            "naive_kernel": lambda: kernel_obj(X, eval_gradient=gradient),
            "np_cholesky": lambda: np.linalg.cholesky(A),
        },
        repeats,
    )
    return {k: (1e6 * a, 1e6 * b) for k, (a, b) in t.items()}, rel


def report(n, repeats):
    """Print the table of one n (every case: value and gradient, ReLU/erf, ± F)."""
    print(f"\nn = {n}, depth 2: µs per call, min (median) of {repeats} repeats")
    print(
        f"{'case':<14}{'total':>14}{'kernel':>14}{'dpotrf':>7}{'cho_f':>6}"
        f"{'overhead':>9}{'stubbed':>8} |{'before':>14}{'kernel':>14}"
        f"{'overhead':>9}{'vs raw':>8}{'speed-up':>9}{'rel diff':>9}"
    )
    for gradient in (False, True):
        for activation in ("relu", "erf"):
            for fmap in (False, True):
                t, rel = measure(n, activation, fmap, gradient, repeats)
                low = {k: v[0] for k, v in t.items()}
                over = low["total"] - low["kernel"] - low["dpotrf"]
                rest = low["stubbed"] - low["dpotrf"]
                before = low["naive"] - low["naive_kernel"] - low["np_cholesky"]
                raw = low["naive"] - low["kernel"] - low["dpotrf"]
                name = (
                    f"{activation}{' F' if fmap else ''}{' grad' if gradient else ''}"
                )
                print(
                    f"{name:<14}{_fmt(t['total'])}{_fmt(t['kernel'])}"
                    f"{low['dpotrf']:7.1f}{low['cho_factor']:6.1f}{over:9.1f}"
                    f"{rest:8.1f} |{_fmt(t['naive'])}{_fmt(t['naive_kernel'])}"
                    f"{before:9.1f}{raw:8.1f}{low['naive'] / low['total']:8.2f}x"
                    f"{rel:9.1e}"
                )


def _fmt(pair):
    return f"{pair[0]:7.1f} ({pair[1]:4.0f})"


def sampler_run(n, repeats, n_steps=100, n_walkers=16):
    """Seconds per emcee step of sample_hyperparameters, ours and the baseline.

    Depth-2 ReLU, no forward map, given starting positions (no MAP search); the
    baseline is the same run with ``NaiveLogPosterior`` patched in.
    """
    X, y, C, _ = problem(n, False)
    rng = np.random.default_rng(1)
    initial = np.array([0.4, -1.2, 0.0]) + 0.05 * rng.standard_normal((n_walkers, 3))
    kwargs = dict(
        data_cov=C,
        depth=2,
        n_walkers=n_walkers,
        n_steps=n_steps,
        burn=n_steps // 2,
        initial=initial,
        random_state=0,
    )
    original = _sampler.LogPosterior
    times = {"ours": [], "naive": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # short chains: not converged
        for _ in range(repeats):
            for name, cls in (("ours", original), ("naive", NaiveLogPosterior)):
                _sampler.LogPosterior = cls
                start = time.perf_counter()
                try:
                    _sampler.sample_hyperparameters(X, y, **kwargs)
                finally:
                    _sampler.LogPosterior = original
                times[name].append((time.perf_counter() - start) / n_steps)
    ours, naive = min(times["ours"]), min(times["naive"])
    print(
        f"\nsample_hyperparameters, n = {n}, {n_walkers} walkers, {n_steps} steps: "
        f"{1e3 * ours:.2f} ms per step (ours) vs {1e3 * naive:.2f} (before), "
        f"{naive / ours:.2f}x (min of {repeats})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument(
        "--blas-threads",
        choices=["one", "default"],
        default="one",
        help="BLAS threads for the per-call timings: one (as sample_hyperparameters "
        "runs problems of this size) or the library default (default: one)",
    )
    args = parser.parse_args()
    print(
        "overhead = total - kernel - dpotrf; stubbed = an evaluation with the "
        "kernel call replaced by a copy of its result, - dpotrf; before: the "
        "pre-0.2 implementation (overhead against its NNGPKernel call and numpy's "
        "cholesky; 'vs raw': against our kernel recursion and dpotrf); F: through "
        "a 50 x 50 forward map; grad: with the gradient; target: overhead < 100 µs "
        f"at n = 50; BLAS threads: {args.blas_threads}"
    )
    limit = (
        one_blas_thread() if args.blas_threads == "one" else contextlib.nullcontext()
    )
    with limit:
        for n in args.n:
            report(n, args.repeats)
    sampler_run(args.n[0], 3)


if __name__ == "__main__":
    main()
