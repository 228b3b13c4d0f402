"""neural-tangents baseline of ``bench_kernels.py`` (run by the NT venv's interpreter).

Times the jitted ``kernel_fn(x, None, ('nngp', 'ntk'))`` of
``stax.serial(Dense(512, W_std, b_std), act, ..., Dense(1, W_std, b_std))`` in
neural-tangents' ``parameterization='ntk'`` (``W_std**2 = C_W``, ``b_std**2 = C_b``;
docs/theory/neural_tangents.rst) and prints one JSON object on stdout: per
activation the warm-call wall and process-CPU times (compile first,
``block_until_ready``) and the
kernels at a few sampled entries, for the sanity check against nngpbayes.

Run (inside the neural-tangents venv):
python _nt_kernels.py --x X.npy --pairs P.npy [--x64] [--repeats 3] relu erf
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def build(activation, depth, cw, cb, width):
    """``kernel_fn`` of ``depth`` hidden layers and a scalar readout."""
    from neural_tangents import stax

    act = {"relu": stax.Relu, "erf": stax.Erf}[activation]
    w_std, b_std = float(np.sqrt(cw)), float(np.sqrt(cb))
    layers = []
    for _ in range(depth):
        layers += [stax.Dense(width, W_std=w_std, b_std=b_std), act()]
    layers.append(stax.Dense(1, W_std=w_std, b_std=b_std))
    return stax.serial(*layers)[2]


def measure(kernel_fn, x, repeats):
    """Compile time, warm-call wall and CPU (all threads) times, and the kernels."""
    import jax

    fn = jax.jit(kernel_fn, static_argnames="get")
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(x, None, ("nngp", "ntk")))
    first = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = jax.block_until_ready(fn(x, None, ("nngp", "ntk")))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return first, times, cpu, out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("activations", nargs="+", choices=["relu", "erf"])
    parser.add_argument("--x", required=True, help="inputs, .npy of shape (n, d)")
    parser.add_argument("--pairs", required=True, help="(i, j) rows to sample, .npy")
    parser.add_argument("--x64", action="store_true", help="enable jax float64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--cw", type=float, default=2.0)
    parser.add_argument("--cb", type=float, default=0.1)
    args = parser.parse_args()

    import jax

    jax.config.update("jax_enable_x64", bool(args.x64))
    import jax.numpy as jnp

    dtype = jnp.float64 if args.x64 else jnp.float32
    x = jnp.asarray(np.load(args.x), dtype=dtype)
    i, j = np.load(args.pairs).T
    result = {"jax": jax.__version__, "x64": bool(args.x64), "dtype": str(x.dtype)}
    for name in args.activations:
        kernel_fn = build(name, args.depth, args.cw, args.cb, args.width)
        first, times, cpu, (k, th) = measure(kernel_fn, x, args.repeats)
        k, th = np.asarray(k, dtype=np.float64), np.asarray(th, dtype=np.float64)
        result[name] = {
            "first_call": first,
            "times": times,
            "cpu_times": cpu,
            "nngp": k[i, j].tolist(),
            "ntk": th[i, j].tolist(),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
