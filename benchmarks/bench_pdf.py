"""BCDMS xT3 forward map: build and cache times, chi^2/N of the toy, convergence.

Run: ``python3 benchmarks/bench_pdf.py`` (needs ``pip install "nngpbayes[pdf]"``).
Uses a fresh temporary cache directory, so every build is cold.
"""

import tempfile
import time

import numpy as np

from nngpbayes.pdf import forward_map, load_bcdms, toy_t3
from nngpbayes.pdf._hoppet import TheorySettings, structure_function_y


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def chi2_per_point(data, prediction):
    r = np.linalg.solve(np.linalg.cholesky(data.cov), data.y - prediction)
    return float(r @ r) / data.n_data


def exact_toy(data, **settings):
    toy = lambda x: float(toy_t3(x))  # noqa: E731
    return structure_function_y([toy], data.x, data.q2, TheorySettings(**settings))[
        :, 0
    ]


def bench_data(cache):
    data, cold = timed(load_bcdms, cache_dir=cache)
    _, warm = timed(load_bcdms, cache_dir=cache)
    eig = np.linalg.eigvalsh(data.cov)
    print(f"load_bcdms: {data.n_data} points, cold {cold:.1f} s, cached {warm:.3f} s")
    print(
        f"covariance: eigenvalues [{eig[0]:.3e}, {eig[-1]:.3e}], "
        f"condition number {eig[-1] / eig[0]:.3e}"
    )
    return data


def bench_map(data, cache, reference):
    grids = {n: np.geomspace(0.01, 0.95, n) for n in (30, 50, 80)}
    preds = {}
    for n, grid in grids.items():
        fk, cold = timed(forward_map, data, grid, cache_dir=cache, progress=False)
        _, warm = timed(forward_map, data, grid, cache_dir=cache, progress=False)
        preds[n] = fk @ toy_t3(grid)
        dev = np.max(np.abs(preds[n] / reference - 1))
        print(
            f"n_grid={n}: cold build {cold:.1f} s, cached call {warm:.3f} s, "
            f"chi2/N(toy) {chi2_per_point(data, preds[n]):.4f}, "
            f"max |F@toy / exact - 1| {dev:.2e}"
        )
    conv = np.max(np.abs(preds[50] / preds[80] - 1))
    print(f"grid convergence, max |Y50/Y80 - 1|: {conv:.2e}")


def bench_choices(data, reference):
    below = data.x < 0.65
    choices = {
        "NLO": {"order": "NLO"},
        "Q0 = sqrt(2)": {"q0": 2**0.5},
        "alphas with fixed nf=4": {"fixed_nf": 4},
        "alphas with fixed nf=5": {"fixed_nf": 5},
        "alphas(MZ) = 0.120": {"alphas_mz": 0.120},
    }
    print(f"exact toy, NNLO: chi2/N {chi2_per_point(data, reference):.4f}")
    for name, kwargs in choices.items():
        shift = np.abs(exact_toy(data, **kwargs) / reference - 1)[below]
        print(
            f"{name:24s} |dY/Y| at x<0.65: median {np.median(shift):.2%}, "
            f"max {shift.max():.2%}"
        )


def bench_tmc_scope(data):
    m2 = 0.938272**2
    large = data.x >= 0.65
    rho = 4 * data.x**2 * m2 / data.q2
    print(
        f"points at x >= 0.65 (target-mass corrections matter): {int(large.sum())}; "
        f"4x^2M^2/Q^2 there in [{rho[large].min():.3f}, {rho[large].max():.3f}]"
    )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as cache:
        data = bench_data(cache)
        reference = exact_toy(data)
        bench_map(data, cache, reference)
        bench_choices(data, reference)
        bench_tmc_scope(data)
