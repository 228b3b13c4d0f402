"""What a closure test measured: :class:`ClosureResult` (:ref:`theory-6`)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ._methods import FlowSpectrum, MethodFit

__all__ = ["ClosureResult"]


@dataclass
class ClosureResult:
    """What a closure test measured.

    See :meth:`table`, :meth:`summary`, :meth:`to_arviz`.

    Attributes
    ----------
    config : dict
        The test's settings (JSON-ready), with the finite ensembles' training time
        ``ensemble_time`` and step ``ensemble_step``.
    metrics : dict of {str: ClosureMetrics}
        Multi-closure estimators per method label (``"posterior"``,
        ``"flow t=<t>"``, ``"flow t=ens"``, ``"ensemble n=<width>"``).
    per_fit : dict of {str: list of FitMetrics}
        The estimators of every fit, per method label.
    times : ndarray of shape (n_times,)
        Training times of the analytic ensemble (with the finite ensembles'
        time last when widths were trained).
    flow_bias, flow_variance : ndarray of shape (n_times,)
        Mean bias and variance over fits of the analytic ensemble, per time.
    X_train : ndarray of shape (n_grid, n_features)
    X_test : ndarray of shape (n_test, n_features)
    data : ndarray of shape (n_fits, n_data)
        The level-1 (level-0 at level 0) data of every fit.
    truth_train : ndarray of shape (n_fits, n_grid)
    truth_test : ndarray of shape (n_fits, n_test)
    first_fits : dict of {str: MethodFit}
        Every method's predictions on the first fit's data, for figures.
    spectrum : FlowSpectrum or None
        The whitened-NTK spectrum on the first fit's data.
    inference : HyperparameterPosterior or None
        emcee samples of (C_W, C_b, s) on the first fit's data, if requested.
    predictive : dict or None
        The hyperparameter-marginalised predictive (see
        :func:`~nngpbayes.closure.posterior_predictive`).
    random_state : int, numpy.random.Generator or None
        The test's ``random_state``; seeds the draws of :meth:`to_arviz`.
    """

    config: dict
    metrics: dict
    per_fit: dict
    times: np.ndarray
    flow_bias: np.ndarray
    flow_variance: np.ndarray
    X_train: np.ndarray
    X_test: np.ndarray
    data: np.ndarray
    truth_train: np.ndarray
    truth_test: np.ndarray
    first_fits: dict[str, MethodFit] = field(default_factory=dict)
    spectrum: FlowSpectrum | None = None
    inference: object = None
    predictive: dict | None = None
    random_state: object = None

    @property
    def flow_labels(self):
        """Labels of the analytic ensemble, one per entry of :attr:`times`."""
        return [k for k in self.metrics if k.startswith("flow t=")]

    @property
    def ensemble_fits(self):
        """The finite-width ensembles' first fits, one per width in ``config``."""
        return [self.first_fits[f"ensemble n={w}"] for w in self.config["widths"]]

    @property
    def first_fit(self):
        """The first fit's arrays under their former keys.

        Kept for compatibility; :attr:`first_fits` and :attr:`spectrum` hold the same
        data.

        Keys: ``posterior_mean`` (n_test,), ``posterior_cov`` (n_test, n_test),
        ``flow_mean`` and ``flow_std`` (n_times, n_test), ``ensembles`` (list of
        (n_members, n_test), one per width), ``eigenvalues``, ``data_projection``
        (n_data,) and ``learning_rate``.
        """
        if not self.first_fits:
            return {}
        post, flows = self.first_fits["posterior"], self.flow_labels
        out = {
            "posterior_mean": post.mean,
            "posterior_cov": post.cov,
            "flow_mean": np.array([self.first_fits[k].mean for k in flows]),
            "flow_std": np.array([self.first_fits[k].std for k in flows]),
            "ensembles": [fit.members for fit in self.ensemble_fits],
        }
        if self.spectrum is not None:
            s = self.spectrum
            out.update(
                eigenvalues=s.eigenvalues,
                data_projection=s.data_projection,
                learning_rate=s.learning_rate,
            )
        return out

    def table(self, legend=False):
        """Return the metrics per method as a text table.

        Columns: R_bv, ξ_1σ, bias, variance, Δχ² (bootstrap errors after ±).

        Parameters
        ----------
        legend : bool, default=False
            Append what each row and column is.
        """
        head = (
            f"{'method':<22}{'R_bv':>14}{'xi_1sigma':>16}{'bias':>10}"
            f"{'variance':>10}{'dchi2':>9}"
        )
        lines = [head, "-" * len(head)]
        for name, m in self.metrics.items():
            e = m.errors
            lines.append(
                f"{name:<22}{m.r_bv:>8.3f} ±{e.get('r_bv', np.nan):<5.2f}"
                f"{m.xi_1sigma:>9.3f} ±{e.get('xi_1sigma', np.nan):<5.2f}"
                f"{m.bias:>10.3g}{m.variance:>10.3g}{m.delta_chi2:>9.3f}"
            )
        return "\n".join(lines + (self._legend() if legend else []))

    def _legend(self):
        c = self.config
        rows = [
            "posterior       the Bayesian posterior of the NNGP prior",
            "flow t=T        the analytic ensemble of infinitely wide networks "
            "trained for flow time T"
            + (" (each on its own replica)" if c["level"] == 2 else ""),
        ]
        if c["widths"]:
            rows += [
                "flow t=ens      the same at the networks' training time "
                f"t_ens = {c['ensemble_time']:.3g}",
                f"ensemble n=W    {c['n_replicas']} networks of width W trained "
                "by gradient descent to t_ens",
            ]
        wrap = partial(textwrap.wrap, width=88, subsequent_indent=" " * 18)
        columns = (
            "columns: R_bv = sqrt(bias / variance) (1: the spread matches the "
            "error); xi_1sigma = fraction of test points whose truth lies in the "
            "1-sigma band (0.68 ideal); bias and variance in units of the test "
            "covariance; dchi2 = chi2(fit) - chi2(truth) per data point; "
            "± = bootstrap error over fits"
        )
        return [
            "",
            f"rows ({c['n_fits'] if c['level'] else 1} fits):",
            *(line for r in rows for line in wrap("  " + r)),
            *textwrap.wrap(columns, width=88, subsequent_indent="  "),
        ]

    def summary(self):
        """JSON-ready dict: configuration and metrics."""
        return {
            "config": self.config,
            "metrics": {k: v.as_dict() for k, v in self.metrics.items()},
            "flow_vs_time": {
                "time": [float(t) for t in self.times],
                "bias": self.flow_bias.tolist(),
                "variance": self.flow_variance.tolist(),
            },
        }

    def to_arviz(self):
        """ArviZ data (DataTree on ArviZ 1.x, InferenceData on 0.x).

        Without hyperparameter inference the ``posterior_predictive`` draws come
        from the first fit's posterior, seeded by :attr:`random_state`.
        """
        from ._export import result_to_arviz

        return result_to_arviz(self, random_state=self.random_state)
