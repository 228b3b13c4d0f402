"""
xT3 from the BCDMS data
=======================

The real-data problem of Chiefa, Del Debbio and Kenway (arXiv:2512.24116): BCDMS
measured F2 on proton and deuteron targets, and at leading twist their
difference Y = F2p − F2d sees only the non-singlet xT3 = x(u + ū − d − đ), so
Y = F · xT3(x_grid, Q0 = 1.65 GeV) with one linear map F (HOPPET's NNLO
evolution and structure functions). The 248 data points (after NNPDF's DIS cuts)
and their full covariance come from the ``nnpdf-data`` package. The network
models f = xT3 / (x^0.5 (1 − x)^3); the preprocessing is folded into the map.

1. The NNGP posterior of xT3 (depth-2 erf prior) with its hyperparameters
   (C_W, C_b, s) marginalised by emcee, against a trained ensemble of [28, 20]
   tanh networks on (x, ln x), one replica per member, and the Les Houches toy.
2. The data against both fits, with pulls.

The same fit, with NTK diagnostics and the netCDF, is one command:
``nngpbayes fit --problem bcdms-t3 --out DIR``. About a minute on 2 cores (the
first run also builds the forward map, under a minute, and caches it).

Needs: pip install "nngpbayes[pdf]".

Run: python examples/bcdms_t3.py [--out bcdms_t3.png]
"""

import argparse
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nngpbayes import MLPEnsemble  # noqa: E402
from nngpbayes.closure import posterior_predictive, sample_hyperparameters  # noqa: E402
from nngpbayes.pdf import bcdms_problem, preprocessing_factor, toy_t3  # noqa: E402


def chi2(prob, f_grid):
    """χ²/N of the network-space grid values ``f_grid`` against the data."""
    r = prob.forward_map @ f_grid - prob.y
    return r @ np.linalg.solve(prob.cov, r) / len(r)


def posterior(prob, X_plot):
    """Marginal NNGP posterior of f on the grid and on X_plot (emcee over θ)."""
    kw = dict(depth=2, activation="erf", forward_map=prob.forward_map)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # short chains
        post = sample_hyperparameters(
            prob.X, prob.y, prob.cov, n_walkers=16, n_steps=800, burn=300,
            random_state=0, **kw,
        )  # fmt: skip
    pp = posterior_predictive(
        post, prob.X, prob.y, np.vstack([prob.X, X_plot]), prob.cov,
        n_draws=60, random_state=1, **kw,
    )  # fmt: skip
    n = len(prob.X)
    return pp["marginal_mean"][:n], pp["marginal_mean"][n:], pp["marginal_cov"][n:, n:]


def ensemble(prob, X_plot):
    """A [28, 20] tanh ensemble trained on replicas through F diag(p)."""
    ens = MLPEnsemble(
        depth=2, width=[28, 20], activation="tanh", weight_variance=1.0,
        bias_variance=0.1, n_members=50, random_state=0, n_jobs=-1, progress=False,
    )  # fmt: skip
    ens.fit(prob.X, prob.y, time=1.0, y_cov=prob.cov, forward_map=prob.forward_map,
            replicas=True)  # fmt: skip
    return ens.predict(prob.X).mean(axis=0), ens.predict(X_plot)


def main(out):
    prob = bcdms_problem(50)
    x = np.geomspace(prob.x_grid[0], prob.x_grid[-1], 100)
    X_plot = np.column_stack([x, np.log(x)])
    p = preprocessing_factor(x, prob.alpha, prob.beta)  # xT3 = p f
    f_grid, f_mean, f_cov = posterior(prob, X_plot)
    e_grid, e_plot = ensemble(prob, X_plot)
    print(f"chi2/N: posterior {chi2(prob, f_grid):.3f}, ensemble mean "
          f"{chi2(prob, e_grid):.3f}, toy {chi2(prob, prob.truth):.3f}")  # fmt: skip

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    sd = p * np.sqrt(np.diag(f_cov))
    ax.fill_between(x, p * f_mean - sd, p * f_mean + sd, alpha=0.3, color="C0")
    ax.plot(x, p * f_mean, color="C0", label="NNGP posterior (1σ)")
    e = p * e_plot
    ax.fill_between(x, e.mean(0) - e.std(0), e.mean(0) + e.std(0), alpha=0.3,
                    color="C1")  # fmt: skip
    ax.plot(x, e.mean(0), color="C1", label="[28, 20] tanh ensemble (1σ)")
    ax.plot(x, toy_t3(x), "k--", label="Les Houches toy")
    ax.set(xscale="log", xlabel="x", ylabel="xT3(x, Q0 = 1.65 GeV)")
    ax.legend()
    sigma = np.sqrt(np.diag(prob.cov))
    for label, f, c in (("posterior", f_grid, "C0"), ("ensemble", e_grid, "C1")):
        bx.plot((prob.y - prob.forward_map @ f) / sigma, ".", color=c, label=label)
    bx.set(xlabel="data point", ylabel="pull (y − F f) / σ")
    bx.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="bcdms_t3.png")
    main(parser.parse_args().out)
