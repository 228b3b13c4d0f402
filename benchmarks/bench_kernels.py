"""Benchmark: NNGP and NTK Gram matrices (issue: kernels).

Prints median wall time and peak extra memory for
- ReLU, depth 3, d = 10, 4000 × 4000, NNGP and NTK together (target <= 1.0 s),
- tanh (Hermite series), depth 3, 2000 × 2000 (target <= 5 s),
beside a straightforward NumPy implementation of the same recursion measured in the
same run (the baseline the blocked, threaded version is compared with). The
"all cores" figures pass ``n_jobs=-1`` (the default, ``None``, is one thread, as in
joblib); ``n_jobs=1`` is printed beside them.

With ``--nt-python`` (default: $NNGPBAYES_NT_PYTHON; unset skips it), also
- ReLU and erf, depth 3, d = 10, N = 4000, NNGP and NTK together, against
  neural-tangents' jitted ``kernel_fn(x, None, ('nngp', 'ntk'))`` of
  ``stax.serial(Dense(512, W_std, b_std), act, ..., Dense(1, W_std, b_std))``
  (``W_std**2 = C_W = 2``, ``b_std**2 = C_b = 0.1``, its 'ntk' parametrisation:
  docs/theory/neural_tangents.rst), run by that interpreter on
  ``benchmarks/_nt_kernels.py``, in float32 (its default) and float64 (jax x64, the
  like-for-like precision: nngpbayes is float64). Times are warm calls (compile
  first, ``block_until_ready``), min and median of the repeats; ours uses
  ``n_jobs=-1`` and is timed before and after neural-tangents (min over both). A
  few entries of the kernels are compared as a sanity check (target ratio <= 0.7).
  The process CPU times (all threads) are printed too: their ratio is steadier than
  the wall-time ratio on a loaded machine.

Run: python benchmarks/bench_kernels.py [--repeats 5] [--nt-python PATH] [--nt-only]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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

    Measured with the kernel's peak RSS (VmHWM of /proc/self/status) so that every
    allocation counts, NumPy's and the memory-mapped outputs alike (``ru_maxrss``
    would start from the parent's peak, inherited through fork).
    """
    code = (
        "import numpy as np;"
        "from nngpbayes import Architecture; from nngpbayes.kernels import nngp_ntk;"
        "hwm = lambda: int(open('/proc/self/status').read()"
        ".split('VmHWM:')[1].split()[0]);"
        "X = np.random.default_rng(0).normal(size=(4000, 10));"
        "a = Architecture(depth=3, activation='relu', weight_variance=2.0,"
        " bias_variance=0.1);"
        "nngp_ntk(X[:300], architecture=a, n_jobs=-1);"
        "base = hwm();"
        "k, t = nngp_ntk(X, architecture=a, n_jobs=-1);"
        "print(hwm() - base)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[-1]) * 1024


def run_nt(nt_python, X, pairs, x64, repeats):
    """neural-tangents' times and sampled kernels (JSON of ``_nt_kernels.py``)."""
    script = Path(__file__).with_name("_nt_kernels.py")
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp, "x.npy"), X)
        np.save(Path(tmp, "pairs.npy"), pairs)
        cmd = [nt_python, str(script), "relu", "erf", "--x", str(Path(tmp, "x.npy"))]
        cmd += ["--pairs", str(Path(tmp, "pairs.npy")), "--repeats", str(repeats)]
        out = subprocess.run(
            cmd + (["--x64"] if x64 else []), capture_output=True, text=True
        )
    if out.returncode:
        raise RuntimeError(f"neural-tangents baseline failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare_nt(nt_python, n, repeats):
    """ReLU and erf, depth 3, N = n, d = 10: ours (n_jobs=-1) against NT."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 10))
    pairs = np.concatenate(
        [np.stack([np.arange(0, n, n // 8)] * 2, 1), rng.integers(0, n, size=(64, 2))]
    )
    archs = {
        act: Architecture(
            depth=3, activation=act, weight_variance=2.0, bias_variance=0.1
        )
        for act in ("relu", "erf")
    }
    ours = {act: [] for act in archs}
    cpu = {act: [] for act in archs}
    kernels = {}

    def time_ours():
        for act, arch in archs.items():
            kernels[act] = nngp_ntk(X, architecture=arch, n_jobs=-1)  # warm-up
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                nngp_ntk(X, architecture=arch, n_jobs=-1)
                ours[act].append(time.perf_counter() - t0)
                cpu[act].append(time.process_time() - c0)

    time_ours()
    nt = {
        p: run_nt(nt_python, X, pairs, p == "float64", repeats)
        for p in ("float32", "float64")
    }
    time_ours()
    print(
        f"vs neural-tangents (jax {nt['float32']['jax']}), depth 3, N = {n}, "
        "d = 10, NNGP + NTK; ours n_jobs=-1 (float64)"
    )
    for act in archs:
        best, med = min(ours[act]), float(np.median(ours[act]))
        print(
            f"  {act}: nngpbayes min {best:.3f} s (median {med:.3f} s); "
            f"CPU time (all threads) min {min(cpu[act]):.3f} s"
        )
        for prec, res in nt.items():
            t_nt, c_nt = min(res[act]["times"]), min(res[act]["cpu_times"])
            print(
                f"    neural-tangents {prec}: min {t_nt:.3f} s (median "
                f"{float(np.median(res[act]['times'])):.3f} s, compile+first "
                f"{res[act]['first_call']:.1f} s) -> ratio ours/NT "
                f"{best / t_nt:.2f} (target <= 0.7); CPU time {c_nt:.3f} s -> "
                f"CPU ratio {min(cpu[act]) / c_nt:.2f}"
            )
            print(f"      agreement: {_nt_agreement(kernels[act], res[act], pairs)}")


def _nt_agreement(ours, res, pairs):
    """Largest relative differences at the sampled entries (off-diagonal, diagonal)."""
    i, j = pairs.T
    texts = []
    for name, mine in zip(("nngp", "ntk"), ours, strict=True):
        rel = np.abs(mine[i, j] - np.array(res[name])) / np.abs(mine[i, j])
        texts.append(
            f"{name} rel. diff off-diag {rel[i != j].max():.1e}, "
            f"diag {rel[i == j].max():.1e}"
        )
    return "; ".join(texts)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--nt-python",
        default=os.environ.get("NNGPBAYES_NT_PYTHON"),
        help="interpreter of a venv with neural-tangents 0.6.5 (default: "
        "$NNGPBAYES_NT_PYTHON; unset skips the neural-tangents baseline)",
    )
    parser.add_argument("--n", type=int, default=4000, help="inputs for the NT run")
    parser.add_argument(
        "--nt-only", action="store_true", help="only the neural-tangents comparison"
    )
    args = parser.parse_args()
    if args.nt_only and args.nt_python:
        compare_nt(args.nt_python, args.n, max(3, args.repeats))
        return
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
    if args.nt_python:
        compare_nt(args.nt_python, args.n, max(3, args.repeats))
    else:
        print("neural-tangents: skipped (--nt-python or NNGPBAYES_NT_PYTHON unset)")


if __name__ == "__main__":
    main()
