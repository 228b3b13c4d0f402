"""
The 1/n statistics of the initial ensemble: prediction vs networks
==================================================================

At infinite width the outputs of randomly initialised networks are Gaussian and
their NTK is deterministic. At width n both deviate by O(1/n), and at criticality
the deviation grows with depth: it is controlled by L/n (PDLT ch. 5 and 8).

This script takes tanh networks at their critical initialisation
(:func:`nngpbayes.finite_width.critical_initialization`: C_W = 1, C_b = 0), one
input, depths 1, 2, 4, 8 and widths 16 … 512, and compares

- the excess kurtosis of the output, E[z⁴]/E[z²]² − 3 = 3V/(nK²) + O(1/n²), and
- the relative NTK variance Var(Ĥ)/E[Ĥ]² = (A + 2B)/(nΘ²) + O(1/n²),

predicted by :func:`nngpbayes.finite_width.init_statistics` with those measured
over :class:`nngpbayes.MLPEnsemble` members (the kurtosis through the exact
conditional identity E[z⁴] = 3E[Ĝ²], Ĝ = C_b + (C_W/n)Σσ², which needs no
readout sampling). The third panel plots n × (each statistic) against the depth:
the predicted points fall on straight lines, the L/n scaling.

Run: python examples/finite_width_statistics.py [--out finite_width_statistics.png]
(about a minute; ``--networks`` trades time for error bars).
"""

import argparse

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nngpbayes import Architecture, MLPEnsemble  # noqa: E402
from nngpbayes.finite_width import (  # noqa: E402
    critical_initialization,
    init_statistics,
)

WIDTHS = [16, 32, 64, 128, 256, 512]
DEPTHS = [1, 2, 4, 8]
X = np.array([[1.0, -1.0, 1.0, 1.0]])  # |x|²/n_0 = 1
CHUNK = 16  # members per ensemble (memory: CHUNK × depth × width² floats)


def architecture(depth):
    cw, cb = critical_initialization("tanh")
    return Architecture(
        depth=depth, activation="tanh", weight_variance=cw, bias_variance=cb
    )


def measure(arch, width, n_networks, seed):
    """Excess kurtosis and relative NTK variance over networks, with errors
    from 8 independent batches (standard deviation of the batch values / √8)."""
    ghat, ntk = [], []
    for i, start in enumerate(range(0, n_networks, CHUNK)):
        ens = MLPEnsemble.from_architecture(
            arch,
            width=width,
            n_members=min(CHUNK, n_networks - start),
            random_state=seed + i,
            progress=False,
        )
        ens.initialize(X.shape[1])
        h = X
        for w, b in zip(ens.weights_[:-1], ens.biases_[:-1], strict=True):
            h = arch.activation(np.matmul(h, w) + b[:, None, :])
        cw, cb = arch.weight_variance[-1], arch.bias_variance[-1]
        ghat.append(cb + cw / width * np.sum(h[:, 0, :] ** 2, axis=-1))
        ntk.append(ens.empirical_ntk(X)[:, 0, 0])
    ghat, ntk = np.concatenate(ghat), np.concatenate(ntk)
    kurt = [3 * np.var(g) / np.mean(g) ** 2 for g in np.array_split(ghat, 8)]
    rvar = [np.var(t) / np.mean(t) ** 2 for t in np.array_split(ntk, 8)]
    return [(np.mean(v), np.std(v, ddof=1) / np.sqrt(8)) for v in (kurt, rvar)]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="finite_width_statistics.png")
    parser.add_argument("--networks", type=int, default=320)
    args = parser.parse_args()
    pred = {}
    meas = {}
    for depth in DEPTHS:
        arch = architecture(depth)
        st = init_statistics(X, arch, width=1)  # coefficients of 1/n
        pred[depth] = (float(st.kurtosis[0]), float(st.ntk_relative_variance[0]))
        for width in WIDTHS:
            meas[depth, width] = measure(arch, width, args.networks, 1000 * depth)
        print(
            f"depth {depth}: n·kurtosis {pred[depth][0]:.3f}, "
            f"n·Var(H)/H² {pred[depth][1]:.3f} (predicted); measured at n = 512: "
            f"{512 * meas[depth, 512][0][0]:.3f}, {512 * meas[depth, 512][1][0]:.3f}"
        )
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    n = np.array(WIDTHS, dtype=float)
    for i, label in enumerate(["excess kurtosis of z", "Var(Ĥ) / E[Ĥ]²"]):
        ax = axes[i]
        for depth in DEPTHS:
            m = np.array([meas[depth, w][i] for w in WIDTHS])
            line = ax.plot(n, pred[depth][i] / n, label=f"depth {depth} (L/n theory)")
            ax.errorbar(n, m[:, 0], m[:, 1], fmt="o", color=line[0].get_color())
        ax.set(xscale="log", yscale="log", xlabel="width n", ylabel=label)
        ax.set_xticks(WIDTHS, [str(w) for w in WIDTHS])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.legend(fontsize=8)
    ax = axes[2]
    L = np.array(DEPTHS) + 1
    for i, label in enumerate(["n × kurtosis", "n × Var(Ĥ)/E[Ĥ]²"]):
        line = ax.plot(L, [pred[d][i] for d in DEPTHS], "-", label=label + " (theory)")
        m = np.array([meas[d, 256][i] for d in DEPTHS]) * 256
        ax.errorbar(
            L,
            m[:, 0],
            m[:, 1],
            fmt="s",
            color=line[0].get_color(),
            label=label + " (n = 256)",
        )
    ax.set(xlabel="layers L", ylabel="n × statistic", title="the L/n scaling")
    ax.legend(fontsize=8)
    fig.suptitle("tanh at criticality (C_W, C_b) = (1, 0): 1/n statistics at init")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
