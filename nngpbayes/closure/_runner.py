"""The multi-closure test runner (THEORY.md §6): fake data from a known truth,
fitted by the Bayesian posterior, the analytic trained ensemble and real networks."""

from __future__ import annotations

import numbers
import sys
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .._validation import check_inputs
from ..architecture import Architecture
from ._data import ClosureData, experimental_covariance
from ._metrics import fit_metrics, multi_closure
from ._models import Kernels, ensemble_predictions, flow_predictions, gp_posterior
from ._truths import as_truth, evaluate_truth

__all__ = ["ClosureTest", "ClosureResult"]


@dataclass
class ClosureResult:
    """What a closure test measured; see :meth:`table`, :meth:`to_arviz`."""

    config: dict
    metrics: dict  # method -> ClosureMetrics
    per_fit: dict  # method -> list of FitMetrics
    times: np.ndarray
    flow_bias: np.ndarray  # (T,) mean over fits, per time
    flow_variance: np.ndarray
    X_train: np.ndarray
    X_test: np.ndarray
    data: np.ndarray  # (n_fits, n_data) the level-1 data
    truth_train: np.ndarray  # (n_fits, n_grid)
    truth_test: np.ndarray  # (n_fits, n_test)
    first_fit: dict = field(default_factory=dict)  # arrays of fit 0 for plots
    inference: object = None
    predictive: dict | None = None

    def table(self):
        """The metrics per method as a text table (R_bv, ξ_1σ, bias, variance, Δχ²)."""
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
        return "\n".join(lines)

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
        """ArviZ data (DataTree on ArviZ 1.x, InferenceData on 0.x)."""
        from ._export import result_to_arviz

        return result_to_arviz(self)


class ClosureTest:
    """A (multi-)closure test of network fits against a known truth.

    Parameters
    ----------
    truth : str or callable, default="prior"
        "prior" (a draw from the NNGP prior of the architecture, so the Bayesian
        model is exactly right), "pdf" (x^a (1 − x)^b), "oscillating", "teacher"
        (a random finite network), or any callable ``f(X) -> (n,)``.
    architecture : Architecture, default=Architecture(depth=2, weight_variance=2.0,
        bias_variance=0.1)
        The prior of the fits (and of "prior"/"teacher" truths unless
        ``truth_architecture`` is given).
    X_train, X_test : ndarray of shape (n, n_features), optional
        Grid of the data and test inputs (default: 40 and 25 points in (0, 1)).
    forward_map : ndarray of shape (n_data, n_train), optional
        F: the data are F f_in(X_train) (default the identity).
    data_cov : ndarray of shape (n_data, n_data), optional
        C (default :func:`experimental_covariance` of the level-0 data: 5 % and an
        absolute floor uncorrelated, 3 % fully correlated).
    level : {0, 1, 2}, default=2
        Closure level (THEORY.md §6); level 2 trains ensembles on replicas.
    n_fits : int, default=20
        Level-1 datasets (a multi-closure test); level 0 uses one.
    n_replicas : int, default=50
        Members of the finite-width ensembles (≥ 2).
    times : sequence of float, default=(0.01, 0.1, 1, 10, 100, inf)
        Training times of the analytic ensemble.
    widths : sequence of int, default=()
        Widths of finite-width ensembles to train (empty: none).
    ensemble_steps : int, default=1000
        Gradient-descent steps of the finite ensembles, each of size
        η = 1 / max(s) (half the stability limit; s the eigenvalues of the whitened
        NTK C^(−1/2) Θ C^(−1/2)), so they train to t_ens = ensemble_steps / max(s);
        the analytic ensemble is also reported at t_ens ("flow t=ens").
    redraw_truth : bool, optional
        Draw a new "prior"/"teacher" truth for every fit (default: True for those).
    truth_architecture : Architecture, optional
        Architecture of "prior"/"teacher" truths (a misspecified prior differs).
    inference : bool, default=False
        Also sample the posterior of (C_W, C_b, noise scale) with emcee on the first
        fit's data (needs ``forward_map=None``) and the predictive marginalised over
        it (:func:`~nngpbayes.closure.sample_hyperparameters`).
    inference_steps, inference_walkers : int, default=3000, 16
    random_state : int, default=0
    progress : bool or None
        A progress bar over fits (None: on a terminal).
    """

    def __init__(
        self,
        truth="prior",
        architecture=None,
        X_train=None,
        X_test=None,
        forward_map=None,
        data_cov=None,
        level=2,
        n_fits=20,
        n_replicas=50,
        times=(0.01, 0.1, 1.0, 10.0, 100.0, np.inf),
        widths=(),
        ensemble_steps=1000,
        redraw_truth=None,
        truth_architecture=None,
        inference=False,
        inference_steps=3000,
        inference_walkers=16,
        random_state=0,
        progress=None,
    ):
        if level not in (0, 1, 2) or isinstance(level, bool):
            raise ValueError(f"level must be 0, 1 or 2, got {level!r}")
        for name, val, low in (("n_fits", n_fits, 1), ("n_replicas", n_replicas, 2)):
            if not isinstance(val, numbers.Integral) or val < low:
                raise ValueError(
                    f"{name} must be an integer >= {low}, got {val!r}"
                    + (" (a variance needs at least 2 replicas)" if low == 2 else "")
                )
        self.architecture = architecture or Architecture(2, "relu", 2.0, 0.1)
        self.truth_architecture = truth_architecture or self.architecture
        self.truth_spec = truth
        self.X_train = check_inputs(
            np.linspace(0.02, 0.98, 40)[:, None] if X_train is None else X_train,
            "X_train",
        )
        self.X_test = check_inputs(
            np.linspace(0.05, 0.95, 25)[:, None] if X_test is None else X_test, "X_test"
        )
        self.forward_map = forward_map
        self.data_cov = data_cov
        self.level, self.n_fits, self.n_replicas = level, int(n_fits), int(n_replicas)
        self.times = np.asarray(times, dtype=float)
        self.widths = [int(w) for w in widths]
        if not isinstance(ensemble_steps, numbers.Integral) or ensemble_steps < 1:
            raise ValueError(
                f"ensemble_steps must be an integer >= 1, got {ensemble_steps!r}"
            )
        self.ensemble_steps = int(ensemble_steps)
        self.redraw_truth = (
            (truth in ("prior", "teacher"))
            if redraw_truth is None
            else (bool(redraw_truth))
        )
        self.random_state = random_state
        self.progress = progress
        if self.widths and forward_map is not None:
            raise ValueError(
                "finite-width ensembles (widths) need forward_map=None: MLPEnsemble "
                "trains on function values"
            )
        if inference and forward_map is not None:
            raise ValueError("inference needs forward_map=None (data are f(X_train))")
        self.inference = bool(inference)
        self.inference_steps, self.inference_walkers = (
            inference_steps,
            inference_walkers,
        )
        # everything that can fail is checked now, before any long computation
        self._rng = np.random.default_rng(random_state)
        self._truth = as_truth(truth, self.truth_architecture, self._rng)
        self._first = self._setup(self._truth)

    def _setup(self, truth):
        f_train = evaluate_truth(truth, self.X_train)
        f_test = evaluate_truth(truth, self.X_test)
        F = None if self.forward_map is None else np.asarray(self.forward_map, float)
        if F is not None and F.shape[1] != len(self.X_train):
            raise ValueError(f"forward_map must have {len(self.X_train)} columns")
        y0 = f_train if F is None else F @ f_train
        cov = experimental_covariance(y0) if self.data_cov is None else self.data_cov
        if not hasattr(self, "_cov"):
            self._cov = cov  # fixed across fits, also when the truth is redrawn
            self._test_cov = experimental_covariance(f_test, sys=0.0)
        return ClosureData(self.X_train, f_train, self._cov, F), f_test

    def _fit_truth(self, i):
        if i == 0 or not self.redraw_truth or not isinstance(self.truth_spec, str):
            return self._first  # a fixed truth (a user's callable is never redrawn)
        truth = as_truth(self.truth_spec, self.truth_architecture, self._rng)
        return self._setup(truth)

    def run(self) -> ClosureResult:
        """Run every fit and method; returns a :class:`ClosureResult`."""
        kern = Kernels.compute(self.architecture, self.X_train, self.X_test)
        n_fits = 1 if self.level == 0 else self.n_fits
        replicas = self.level == 2
        cdata0 = self._first[0]
        s_max = flow_predictions(
            kern, cdata0.level0, cdata0.cov, [0.0], cdata0.forward_map
        )[3].eigenvalues[0]
        step = 1.0 / s_max  # half the stability limit of gradient descent
        t_ens = self.ensemble_steps * step
        times = self.times if not self.widths else np.r_[self.times, t_ens]
        labels = [f"flow t={t:g}" for t in self.times] + (
            ["flow t=ens"] if self.widths else []
        )
        names = ["posterior"] + labels + [f"ensemble n={w}" for w in self.widths]
        per_fit = {name: [] for name in names}
        data, truths_g, truths_s, first = [], [], [], {}
        show = sys.stderr.isatty() if self.progress is None else bool(self.progress)
        for i in tqdm(range(n_fits), disable=not show, desc="closure fits"):
            cdata, f_test = self._fit_truth(i)
            y = cdata.level0 if self.level == 0 else cdata.level1(self._rng)
            chi_truth = cdata.chi2(cdata.level0, y)
            data.append(y)
            truths_g.append(cdata.truth_values)
            truths_s.append(f_test)
            m, c, train = gp_posterior(kern, y, cdata.cov, cdata.forward_map)
            per_fit["posterior"].append(
                fit_metrics(
                    m, c, f_test, self._test_cov, cdata.chi2(train, y) - chi_truth
                )
            )
            fm, fc, ftrain, flow = flow_predictions(
                kern, y, cdata.cov, times, cdata.forward_map, replicas=replicas
            )
            for label, a, b, tr in zip(labels, fm, fc, ftrain, strict=True):
                per_fit[label].append(
                    fit_metrics(
                        a, b, f_test, self._test_cov, cdata.chi2(tr, y) - chi_truth
                    )
                )
            ens = []
            for w in self.widths:
                em, ec, etrain, members = ensemble_predictions(
                    self.architecture,
                    w,
                    self.n_replicas,
                    self.X_train,
                    self.X_test,
                    y,
                    cdata.cov,
                    step,
                    self.ensemble_steps,
                    cdata.forward_map,
                    random_state=self._rng.integers(2**31),
                )
                per_fit[f"ensemble n={w}"].append(
                    fit_metrics(
                        em,
                        ec,
                        f_test,
                        self._test_cov,
                        cdata.chi2(etrain, y) - chi_truth,
                    )
                )
                ens.append(members)
            if i == 0:
                first = {
                    "posterior_mean": m,
                    "posterior_cov": c,
                    "flow_mean": fm,
                    "flow_std": np.sqrt(
                        np.maximum(np.diagonal(fc, axis1=1, axis2=2), 0)
                    ),
                    "ensembles": ens,
                    "eigenvalues": flow.eigenvalues,
                    "data_projection": flow.data_projection,
                    "learning_rate": flow.learning_rate,
                }
        metrics = {
            k: multi_closure(v, random_state=self.random_state)
            for k, v in per_fit.items()
        }
        flow = [metrics[label] for label in labels]
        config = dict(
            self._config(), ensemble_time=float(t_ens), ensemble_step=float(step)
        )
        posterior, predictive = (
            self._infer(data[0], show) if self.inference else (None, None)
        )
        return ClosureResult(
            config=config,
            metrics=metrics,
            per_fit=per_fit,
            times=times,
            flow_bias=np.array([f.bias for f in flow]),
            flow_variance=np.array([f.variance for f in flow]),
            X_train=self.X_train,
            X_test=self.X_test,
            data=np.array(data),
            truth_train=np.array(truths_g),
            truth_test=np.array(truths_s),
            first_fit=first,
            inference=posterior,
            predictive=predictive,
        )

    def _infer(self, y, progress):
        """emcee on the first fit's data; the predictive marginalised over it."""
        from ._inference import posterior_predictive, sample_hyperparameters

        arch = self.architecture
        kw = dict(data_cov=self._cov, depth=arch.depth, activation=arch.activation)
        post = sample_hyperparameters(
            self.X_train,
            y,
            n_walkers=self.inference_walkers,
            n_steps=self.inference_steps,
            burn=self.inference_steps // 4,
            random_state=self.random_state,
            progress=progress,
            **kw,
        )
        pred = posterior_predictive(
            post,
            self.X_train,
            y,
            self.X_test,
            n_draws=200,
            random_state=self.random_state,
            **kw,
        )
        return post, pred

    def _config(self):
        a = self.architecture
        return {
            "truth": repr(self._truth)
            if not isinstance(self.truth_spec, str)
            else self.truth_spec,
            "architecture": repr(a),
            "level": self.level,
            "n_fits": self.n_fits,
            "n_replicas": self.n_replicas,
            "times": [float(t) for t in self.times],
            "widths": self.widths,
            "redraw_truth": self.redraw_truth,
            "n_train": len(self.X_train),
            "n_test": len(self.X_test),
            "random_state": self.random_state,
        }
