"""neural-tangents baseline of ``bench_dynamics.py`` (run by the NT venv's interpreter).

Times ``nt.predict.gradient_descent_mse_ensemble(kernel_fn, x_train, y_train,
diag_reg=r)`` followed by ``predict_fn(t=times, x_test=x_test, get='ntk',
compute_cov=True)``: the kernels (train-train NNGP and NTK, test-train NNGP and NTK,
test-test NNGP), the eigendecomposition of the training NTK and the mean and full
covariance at every time. ``kernel_fn`` is the jitted kernel of
``stax.serial(Dense(512, W_std, b_std), Relu(), ..., Dense(1, W_std, b_std))`` in
``parameterization='ntk'`` (``W_std**2 = C_W``, ``b_std**2 = C_b``;
docs/theory/neural_tangents.rst). Every timed call builds a fresh
``predict_fn``, so nothing is reused from the previous one (the first call, which
compiles, is not timed).

Prints one JSON object on stdout: the call times and the mean and covariance at a
few sampled entries, for the check against nngpbayes (at time t and learning rate
lr, neural-tangents equals nngpbayes at time t · lr / N, :ref:`theory-7`).

Run (inside the neural-tangents venv):
python _nt_flow.py --x X.npy --y Y.npy --xs XS.npy --times T.npy --pairs P.npy [--x64]
[--one-thread]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def build(activation, depth, cw, cb, width):
    """Jitted ``kernel_fn`` of ``depth`` hidden layers and a scalar readout."""
    import jax
    from _nt_kernels import build as kernel  # the same network as the kernels'

    return jax.jit(kernel(activation, depth, cw, cb, width), static_argnames="get")


def run(kernel_fn, x, y, xs, times, diag_reg):
    """One complete prediction: kernels, eigendecomposition, mean and covariance."""
    import jax
    import neural_tangents as nt

    predict_fn = nt.predict.gradient_descent_mse_ensemble(
        kernel_fn, x, y, diag_reg=diag_reg
    )
    out = predict_fn(t=times, x_test=xs, get="ntk", compute_cov=True)
    return jax.block_until_ready((out.mean, out.covariance))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("x", "y", "xs", "times", "pairs"):
        parser.add_argument(f"--{name}", required=True, help=f"{name}, .npy")
    parser.add_argument("--x64", action="store_true", help="enable jax float64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--activation", default="relu", choices=["relu", "erf"])
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--cw", type=float, default=2.0)
    parser.add_argument("--cb", type=float, default=0.1)
    parser.add_argument("--diag-reg", type=float, default=0.0)
    parser.add_argument(
        "--one-thread", action="store_true", help="XLA on one thread (load-robust)"
    )
    args = parser.parse_args()
    if args.one_thread:  # before jax is imported
        os.environ["XLA_FLAGS"] = (
            "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )

    import jax

    jax.config.update("jax_enable_x64", bool(args.x64))
    import jax.numpy as jnp

    dtype = jnp.float64 if args.x64 else jnp.float32
    x, xs = (jnp.asarray(np.load(p), dtype=dtype) for p in (args.x, args.xs))
    y = jnp.asarray(np.load(args.y), dtype=dtype).reshape(len(x), 1)
    times = jnp.asarray(np.load(args.times), dtype=dtype)
    kernel_fn = build(args.activation, args.depth, args.cw, args.cb, args.width)
    t0 = time.perf_counter()
    run(kernel_fn, x, y, xs, times, args.diag_reg)
    first = time.perf_counter() - t0
    call_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        mean, cov = run(kernel_fn, x, y, xs, times, args.diag_reg)
        call_times.append(time.perf_counter() - t0)
    mean = np.asarray(mean, dtype=np.float64)[..., 0]  # (n_times, n_test)
    cov = np.asarray(cov, dtype=np.float64)  # (n_times, n_test, n_test)
    i, j = np.load(args.pairs).T
    result = {
        "jax": jax.__version__,
        "x64": bool(args.x64),
        "dtype": str(x.dtype),
        "first_call": first,
        "times": call_times,
        "mean": mean[:, i].tolist(),
        "cov": cov[:, i, j].tolist(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
