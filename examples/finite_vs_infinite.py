"""
Real networks against the infinite-width theory
===============================================

As the width grows: ensembles of one-hidden-layer erf networks (widths 64 … 2048)
are trained by gradient descent on the same data, in the parametrisation of the
kernels. The script prints and plots how they approach the analytic ensemble of
``GradientFlowRegressor``:

- the ensemble mean and standard deviation (their distance falls until the Monte
  Carlo error of a finite ensemble takes over);
- per network, the distance from its own linearisation (its empirical NTK frozen at
  t = 0; ∝ 1/n) and from the infinite-width flow started at its own initial
  outputs (∝ n^(−1/2)), with fitted log-log slopes.

Run: python examples/finite_vs_infinite.py [--out finite_vs_infinite.png]
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nngpbayes import GradientFlowRegressor, MLPEnsemble, NTKKernel  # noqa: E402

ARCH = dict(depth=1, activation="erf", weight_variance=2.0, bias_variance=0.2)
WIDTHS = [64, 128, 256, 512, 1024, 2048]
MEMBERS, TIME, STEPS = 128, 2.0, 200
if os.environ.get("NNGPBAYES_GALLERY_QUICK") == "1":
    # The documentation gallery (docs/conf.py sets this) runs a lighter setting:
    # widths up to 1024 and 48 networks each. Run as a script, nothing changes.
    WIDTHS, MEMBERS = WIDTHS[:-1], 48


def discrete_flow(f0, h, y, step, k):
    """f0 + U (1 − (1 − step s)^k) Uᵀ (y − f0): the linear model after k steps."""
    s, u = np.linalg.eigh(h)
    return f0 + u @ ((1 - (1 - step * s) ** k) * (u.T @ (y - f0)))


def main(out="finite_vs_infinite.png"):
    rng = np.random.default_rng(0)
    X = np.sort(rng.uniform(-2, 2, size=12))[:, None]
    y = np.sin(2 * X[:, 0])
    grid = np.linspace(-3, 3, 60)[:, None]
    reg = GradientFlowRegressor(**ARCH).fit(X, y)
    mean_inf, std_inf = reg.predict(grid, time=TIME, return_std=True)
    theta = NTKKernel(**ARCH)(X)

    rows, means = [], {}
    for width in WIDTHS:
        ens = MLPEnsemble(
            **ARCH, width=width, n_members=MEMBERS, random_state=width, progress=False
        ).initialize(1)
        f0, h0 = ens.predict(X), ens.empirical_ntk(X)
        ens.fit(X, y, time=TIME, n_steps=STEPS)
        f, step = ens.predict(X), ens.step_size_
        lin = np.array(
            [discrete_flow(a, h, y, step, STEPS) for a, h in zip(f0, h0, strict=True)]
        )
        inf = np.array([discrete_flow(a, theta, y, step, STEPS) for a in f0])
        g = ens.predict(grid)
        means[width] = g.mean(0)
        rows.append(
            (
                width,
                np.abs(g.mean(0) - mean_inf).max(),
                np.abs(g.std(0, ddof=1) - std_inf).max(),
                np.exp(np.mean(np.log(np.linalg.norm(f - lin, axis=1)))),
                np.exp(np.mean(np.log(np.linalg.norm(f - inf, axis=1)))),
            )
        )
    rows = np.array(rows)
    mc_floor = std_inf.max() / np.sqrt(MEMBERS)

    print(
        f"{'width':>6} {'|mean-mean_inf|':>16} {'|std-std_inf|':>14} "
        f"{'vs own linearisation':>21} {'vs own infinite flow':>21}"
    )
    for w, dm, ds, el, ei in rows:
        print(f"{int(w):6d} {dm:16.4f} {ds:14.4f} {el:21.3e} {ei:21.3e}")
    print(f"(Monte Carlo error of a {MEMBERS}-member mean: about {mc_floor:.3f})")
    slope_lin = np.polyfit(np.log(rows[:, 0]), np.log(rows[:, 3]), 1)[0]
    slope_inf = np.polyfit(np.log(rows[:, 0]), np.log(rows[:, 4]), 1)[0]
    print(
        f"fitted slopes: own linearisation {slope_lin:.2f} (theory -1), "
        f"own infinite-width flow {slope_inf:.2f} (theory -0.5)"
    )

    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.5))
    a0.fill_between(
        grid[:, 0],
        mean_inf - 2 * std_inf,
        mean_inf + 2 * std_inf,
        color="grey",
        alpha=0.3,
        label="infinite width ±2σ",
    )
    for width in (WIDTHS[0], WIDTHS[2], WIDTHS[-1]):
        a0.plot(grid[:, 0], means[width], label=f"ensemble mean, width {width}")
    a0.plot(X[:, 0], y, "k.", label="data")
    a0.set(title=f"trained ensembles at t = {TIME:g}", xlabel="x")
    a0.legend(fontsize=8)
    a1.loglog(
        rows[:, 0],
        rows[:, 3],
        "o-",
        label=f"vs own linearisation (slope {slope_lin:.2f})",
    )
    a1.loglog(
        rows[:, 0],
        rows[:, 4],
        "s-",
        label=f"vs own ∞-width flow (slope {slope_inf:.2f})",
    )
    a1.set(
        xlabel="width n",
        ylabel="distance at the training inputs (geo. mean)",
        title="finite-width departures",
    )
    a1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"saved {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="finite_vs_infinite.png")
    main(parser.parse_args().out)
