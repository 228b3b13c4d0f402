"""
Bayesian regression with the NNGP prior
=======================================

The infinite-width prior of a deep network (NNGP) as a scikit-learn kernel. Fits a
noisy 1-D function with ``GaussianProcessRegressor(NNGPKernel + WhiteKernel)``,
tunes the weight and bias variances and the noise level by maximising the marginal
likelihood (through the kernel's analytic gradient), prints the learned
hyperparameters and saves a plot of the posterior band.

Run: python examples/gp_regression.py [--out gp_regression.png]
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.gaussian_process import GaussianProcessRegressor  # noqa: E402
from sklearn.gaussian_process.kernels import WhiteKernel  # noqa: E402

from nngpbayes import NNGPKernel  # noqa: E402


def truth(x):
    return np.sin(3 * x) + 0.5 * x


def main(out="gp_regression.png"):
    rng = np.random.default_rng(0)
    X = np.sort(rng.uniform(-2, 2, size=40))[:, None]
    y = truth(X[:, 0]) + 0.15 * rng.normal(size=len(X))

    prior = NNGPKernel(
        depth=3, activation="relu", weight_variance=1.0, bias_variance=0.1
    )
    gp = GaussianProcessRegressor(
        prior + WhiteKernel(0.1), n_restarts_optimizer=3, random_state=0
    ).fit(X, y)

    learned = gp.kernel_.k1
    print("learned hyperparameters (depth-3 ReLU NNGP):")
    print(f"  weight variance C_W = {learned.weight_variance:.4g}")
    print(f"  bias variance   C_b = {learned.bias_variance:.4g}")
    print(f"  noise variance      = {gp.kernel_.k2.noise_level:.4g}  (truth 0.0225)")
    print(f"  log marginal likelihood = {gp.log_marginal_likelihood_value_:.3f}")

    grid = np.linspace(-3, 3, 300)[:, None]
    mean, std = gp.predict(grid, return_std=True)
    noise = gp.kernel_.k2.noise_level
    fn_std = np.sqrt(np.maximum(std**2 - noise, 0.0))  # the function, without noise
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(
        grid[:, 0],
        mean - 2 * fn_std,
        mean + 2 * fn_std,
        alpha=0.3,
        label="posterior ±2σ (function)",
    )
    ax.plot(grid[:, 0], mean, label="posterior mean")
    ax.plot(grid[:, 0], truth(grid[:, 0]), "k--", label="truth")
    ax.plot(X[:, 0], y, "o", ms=4, label="data")
    ax.set(xlabel="x", ylabel="y", title="NNGP posterior, depth-3 ReLU network prior")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"saved {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="gp_regression.png")
    main(parser.parse_args().out)
