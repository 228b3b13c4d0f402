"""Figures of ``nngpbayes fit --problem bcdms-t3`` (private)."""

from __future__ import annotations

import numpy as np

__all__ = ["save_figures"]


def save_figures(out, summary, prob, pred, ens_fit):
    """Write xt3.png, data.png and ntk.png to ``out``; returns their names.

    Parameters
    ----------
    out : pathlib.Path
    summary : dict
        From :func:`nngpbayes.pdf._fit._summary` (x, mean, std, toy, ensemble).
    prob : BCDMSProblem
    pred : dict
        Posterior ``f_grid`` (n_grid,) in network space.
    ens_fit : (MLPEnsemble, dict)
        The trained ensemble (NTK recorded) and its ``f_grid`` (n_grid,).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    for name, draw in (
        ("xt3.png", lambda fig: _xt3(fig, summary)),
        ("data.png", lambda fig: _data(fig, prob, pred, ens_fit[1])),
        ("ntk.png", lambda fig: _ntk(fig, prob, ens_fit[0])),
    ):
        fig = plt.figure(figsize=(10, 4.5))
        draw(fig)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        names.append(name)
    return names


def _xt3(fig, s):
    """xT3(x, Q0): posterior and ensemble 1σ bands vs the Les Houches toy."""
    x = np.asarray(s["x"])
    ax = fig.add_subplot()
    for label, m, sd, colour in (
        ("NNGP posterior", s["mean"], s["std"], "C0"),
        ("trained ensemble", s["ensemble"]["mean"], s["ensemble"]["std"], "C1"),
    ):
        m, sd = np.asarray(m), np.asarray(sd)
        ax.fill_between(x, m - sd, m + sd, color=colour, alpha=0.3)
        ax.plot(x, m, color=colour, label=f"{label} (1σ)")
    ax.plot(x, s["toy"], "k--", label="Les Houches toy")
    ax.axvspan(0.07, 0.75, color="0.9", zorder=-1, label="data range")
    ax.set_xscale("log")
    ax.set_xlabel("x")
    ax.set_ylabel("xT3(x, Q0 = 1.65 GeV)")
    ax.legend()


def _data(fig, prob, pred, epred):
    """F2p − F2d data vs the predictions, and pulls (y − Fm)/σ."""
    sigma = np.sqrt(np.diag(prob.cov))
    idx = np.arange(len(prob.y))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    top.errorbar(idx, prob.y, sigma, fmt=".", color="k", ms=3, label="BCDMS")
    for label, f, colour in (
        ("NNGP posterior", pred["f_grid"], "C0"),
        ("ensemble mean", epred["f_grid"], "C1"),
    ):
        fy = prob.forward_map @ f
        top.plot(idx, fy, ".", color=colour, ms=3, label=label)
        bottom.plot(idx, (prob.y - fy) / sigma, ".", color=colour, ms=3)
    top.set_ylabel("F2p − F2d")
    top.legend()
    bottom.axhline(0, color="k", lw=0.5)
    bottom.set_ylabel("pull (y − Ff)/σ_diag")
    bottom.set_xlabel("data point")


def _ntk(fig, prob, ens):
    """δΘ_t and the alignment of the NTK's eigenvectors with Fᵀ C⁻¹ F."""
    from ..diagnostics import (
        ntk_alignment,
        ntk_drift,
        plot_ntk_alignment,
        plot_ntk_drift,
    )

    left, right = fig.subplots(1, 2)
    drift = ntk_drift(ens)
    plot_ntk_drift(drift, ax=left)
    align = ntk_alignment(ens, forward_map=prob.forward_map, y_cov=prob.cov)
    plot_ntk_alignment(align, ax=right)
    positive = drift.times[drift.times > 0]
    for ax in (left, right):  # records are geometric in t after t = 0
        if len(positive):
            ax.set_xscale("symlog", linthresh=positive.min())
            ax.set_xlim(0.0, positive.max())
