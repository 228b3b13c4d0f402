"""The multi-closure test runner (:ref:`theory-6`).

Fake data from a known truth, fitted by the Bayesian posterior, the analytic trained
ensemble and real networks.

:class:`ClosureTest` validates its settings, then :meth:`ClosureTest.run` loops over
the level-1 datasets and, for each, over the table of methods of :mod:`._methods`;
every method's fit is scored once, by :func:`._methods.score`.
"""

from __future__ import annotations

import numbers
import sys

import numpy as np
from tqdm.auto import tqdm

from .._files import check_writable_dir
from .._jobs import run_tasks
from .._validation import (
    InvalidParameterError,
    check_forward_map,
    check_generator,
    check_int,
    resolve_n_jobs,
)
from ..architecture import Architecture
from ._checkpoint import CheckpointStore, FitRecord, fingerprint
from ._data import ClosureData, experimental_covariance
from ._methods import Dataset, Ensemble, Flow, FlowSpectrum, Posterior, score
from ._metrics import multi_closure
from ._models import Kernels, linear_flow
from ._result import ClosureResult
from ._settings import (
    DEFAULT_ARCHITECTURE,
    check_architecture,
    check_flag,
    check_grids,
    check_times,
    check_widths,
)
from ._truths import as_truth, evaluate_truth

__all__ = ["ClosureTest", "ClosureResult"]

#: Fewest emcee steps: a quarter is burn-in, and split-R̂ needs ≥ 4 draws per walker.
MIN_INFERENCE_STEPS = 5
#: Fewest emcee walkers: twice the number of hyperparameters (C_W, C_b, s).
MIN_INFERENCE_WALKERS = 6


class ClosureTest:
    """A (multi-)closure test of network fits against a known truth.

    Every argument is checked at construction (and the first truth evaluated), so a
    bad setting fails at once, not after minutes of fits.

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
        F: the data are F f_in(X_train) (default the identity), an FK table.
        Every method fits through it: the posterior and the analytic ensemble
        (:ref:`theory-4`), the finite-width ensembles (trained on
        ½(Fφ(X_train) − y)ᵀC⁻¹(Fφ(X_train) − y)) and the hyperparameter
        inference (y = F f + ε).
    data_cov : ndarray of shape (n_data, n_data), optional
        C (default :func:`experimental_covariance` of the level-0 data: 5 % and an
        absolute floor uncorrelated, 3 % fully correlated).
    level : {0, 1, 2}, default=2
        Closure level (:ref:`theory-6`); level 2 trains ensembles on replicas.
    n_fits : int, default=20
        Level-1 datasets (a multi-closure test); level 0 uses one.
    n_replicas : int, default=50
        Members of the finite-width ensembles (≥ 2).
    times : sequence of float, default=(0.01, 0.1, 1, 10, 100, inf)
        Distinct non-negative training times of the analytic ensemble.
    widths : sequence of int, default=()
        Distinct positive widths of finite-width ensembles to train (empty: none).
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
        fit's data (through ``forward_map``) and the predictive marginalised over
        it (:func:`~nngpbayes.closure.sample_hyperparameters`).
    inference_steps : int, default=3000
        emcee steps per walker (≥ 5; the first quarter is burn-in).
    inference_walkers : int, default=16
        emcee walkers (≥ 6).
    random_state : int, numpy.random.Generator or None, default=0
        Seeds the truths, the level-1 noise, the networks, the bootstrap, the
        sampler and the draws of :meth:`ClosureResult.to_arviz`.
    progress : bool or None, default=None
        A progress bar over fits (None: on a terminal).
    n_jobs : int or None, default=None
        Workers running the fits in parallel (joblib tasks, worker processes by
        default; a :func:`joblib.parallel_config` context, e.g. Dask, chooses
        where), or, when there is one fit, training the members of its ensembles.
        joblib's convention: None → 1 unless such a context says otherwise, −1 →
        all cores. Results do not depend on it (every fit has its own random
        stream).

    Raises
    ------
    InvalidParameterError
        (a ``ValueError`` and ``TypeError``) naming the argument and its value.
    ValueError
        If the truth returns non-finite values or ``data_cov`` is not a positive
        definite covariance of the data.
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
        n_jobs=None,
    ):
        self.level = check_int(level, "level", min_val=0, max_val=2)
        self.n_fits = check_int(n_fits, "n_fits", min_val=1)
        self.n_replicas = check_int(n_replicas, "n_replicas", min_val=2)
        self.times, self.widths = check_times(times), check_widths(widths)
        self.ensemble_steps = check_int(ensemble_steps, "ensemble_steps", min_val=1)
        self.inference = check_flag(inference, "inference")
        self.inference_steps = check_int(
            inference_steps, "inference_steps", min_val=MIN_INFERENCE_STEPS
        )
        self.inference_walkers = check_int(
            inference_walkers, "inference_walkers", min_val=MIN_INFERENCE_WALKERS
        )
        self.progress = check_flag(progress, "progress", allow_none=True)
        resolve_n_jobs(n_jobs)  # checks n_jobs; resolved when the networks train
        self.n_jobs = n_jobs
        self.architecture = check_architecture(architecture, "architecture") or (
            Architecture(**DEFAULT_ARCHITECTURE)
        )
        self.truth_architecture = (
            check_architecture(truth_architecture, "truth_architecture")
            or self.architecture
        )
        self.X_train, self.X_test = check_grids(X_train, X_test)
        self.forward_map = check_forward_map(forward_map, len(self.X_train))
        self.redraw_truth = check_flag(redraw_truth, "redraw_truth", allow_none=True)
        if self.redraw_truth is None:
            self.redraw_truth = truth in ("prior", "teacher")
        self.truth_spec, self.data_cov, self.random_state = (
            truth,
            data_cov,
            random_state,
        )
        self._rng = check_generator(random_state)
        self._truth = as_truth(truth, self.truth_architecture, self._rng)
        self._first = self._first_data(data_cov)
        # every fit draws from its own stream, spawned from random_state alone, so
        # a fit's result depends neither on the worker that runs it nor on order
        self._fit_seeds = np.random.SeedSequence(int(self._rng.integers(2**63))).spawn(
            self.n_fits
        )

    # -- data ----------------------------------------------------------------------
    def _truth_values(self, truth):
        """Return f_in on the grid and at the test inputs, in this order.

        The order matters: a prior draw is extended call by call.
        """
        return evaluate_truth(truth, self.X_train), evaluate_truth(truth, self.X_test)

    def _first_data(self, data_cov):
        """Return the first truth's closure data; fixes C and the test covariance C'."""
        f_train, f_test = self._truth_values(self._truth)
        F = self.forward_map
        y0 = f_train if F is None else F @ f_train
        # C is fixed across fits, also when the truth is redrawn
        self._cov = experimental_covariance(y0) if data_cov is None else data_cov
        self._test_cov = experimental_covariance(f_test, sys=0.0)
        closure = ClosureData(self.X_train, f_train, self._cov, F)
        self._cov = closure.cov  # checked, as an (n_data, n_data) matrix
        return closure, f_test

    def _truth_data(self, i, rng):
        """Closure data and test truth of fit ``i`` (a redrawn or the fixed truth)."""
        if i == 0 or not self.redraw_truth or not isinstance(self.truth_spec, str):
            return self._first  # a fixed truth (a user's callable is never redrawn)
        truth = as_truth(self.truth_spec, self.truth_architecture, rng)
        f_train, f_test = self._truth_values(truth)
        return ClosureData(self.X_train, f_train, self._cov, self.forward_map), f_test

    def _dataset(self, i) -> Dataset:
        """Return the data of fit ``i``, drawn from its own random stream.

        y₀ at level 0, else y₁ = y₀ + η (:ref:`theory-6`); the seed of its
        networks comes from the same stream.
        """
        rng = np.random.default_rng(self._fit_seeds[i])
        closure, f_test = self._truth_data(i, rng)
        y = closure.level0 if self.level == 0 else closure.level1(rng)
        return Dataset(closure, y, f_test, seed=int(rng.integers(2**31)))

    # -- the table of methods ------------------------------------------------------
    def _ensemble_step(self, kern):
        """η = 1 / max(s): half the stability limit of gradient descent."""
        closure = self._first[0]
        flow = linear_flow(kern, closure.level0, closure.cov, closure.forward_map)
        return 1.0 / flow.eigenvalues[0]

    def _method_table(self, kern, step, n_jobs):
        """Posterior, the analytic ensemble at every time, one ensemble per width.

        ``n_jobs``: workers of each ensemble's members (1 when fits run in parallel).
        """
        times, labels = self.times, [f"flow t={t:g}" for t in self.times]
        if self.widths:  # the analytic ensemble also at the networks' time
            times = np.r_[times, self.ensemble_steps * step]
            labels.append("flow t=ens")
        table = [Posterior(kern), Flow(kern, times, labels, self.level == 2)]
        for w in self.widths:
            table.append(
                Ensemble(
                    self.architecture,
                    w,
                    self.n_replicas,
                    self.X_train,
                    self.X_test,
                    step,
                    self.ensemble_steps,
                    n_jobs,
                )
            )
        return table

    def _show_progress(self):
        return sys.stderr.isatty() if self.progress is None else self.progress

    def run(self, checkpoint_dir=None, *, resume=False) -> ClosureResult:
        """Fit every dataset with every method; returns a :class:`ClosureResult`.

        The fits are independent tasks run through joblib with ``n_jobs`` workers
        (processes by default; a :func:`joblib.parallel_config` context, e.g.
        ``backend="dask"``, runs them elsewhere). The result does not depend on
        the workers: every fit draws from its own stream spawned from
        ``random_state``.

        Parameters
        ----------
        checkpoint_dir : str or os.PathLike, optional
            Write each fit's result there (``fits/fit-00007.npz``) as soon as it
            completes, atomically (written to a temporary name, then renamed), with
            ``run.json`` describing the run. Created if needed; checked writable
            before any work.
        resume : bool, default=False
            Keep the fits already in ``checkpoint_dir`` (they must belong to this
            very run: same settings, arrays and ``random_state``) and run only the
            others; a run killed at any moment and resumed gives the result of an
            uninterrupted run. Without it, fits found there are deleted first.

        Returns
        -------
        ClosureResult

        Raises
        ------
        ValueError
            If ``checkpoint_dir`` is not a writable directory, or ``resume`` finds
            the fits of a different run there.
        """
        if checkpoint_dir is not None:  # before any work
            check_writable_dir(checkpoint_dir, "checkpoint_dir")
        elif resume:
            raise InvalidParameterError("resume=True needs a checkpoint_dir")
        n_fits = 1 if self.level == 0 else self.n_fits
        kern = Kernels.compute(self.architecture, self.X_train, self.X_test)
        step = self._ensemble_step(kern)
        fit_jobs = resolve_n_jobs(self.n_jobs, n_fits)
        methods = self._method_table(kern, step, 1 if fit_jobs > 1 else self.n_jobs)
        labels = [label for m in methods for label in m.labels]
        store = None
        if checkpoint_dir is not None:
            store = CheckpointStore(checkpoint_dir, self._manifest(), labels, resume)
        records = self._run_fits(methods, n_fits, store)
        return self._result(kern, step, methods[1], records)

    def _run_fits(self, methods, n_fits, store):
        """Return every fit's :class:`FitRecord`, in order (loaded or computed)."""
        records = [
            None if store is None else store.load(i, i == 0) for i in range(n_fits)
        ]
        todo = [i for i, r in enumerate(records) if r is None]
        bar = tqdm(
            total=n_fits,
            initial=n_fits - len(todo),
            disable=not self._show_progress(),
            desc="closure fits",
        )
        tasks = [(self, methods, i) for i in todo]
        with bar:
            for record in run_tasks(
                _fit_task, tasks, self.n_jobs, prefer="processes", ordered=False
            ):
                if store is not None:
                    store.save(record)
                records[record.index] = record
                bar.update()
        return records

    def _manifest(self):
        """Return what identifies this run: settings and a fingerprint of its arrays."""
        from .. import __version__

        config = dict(self._config(), nngpbayes=__version__)
        seed = self.random_state
        if seed is None or not isinstance(seed, numbers.Integral):
            raise InvalidParameterError(
                "a checkpointed run needs an integer random_state (to be resumed "
                f"as the same run), got {seed!r}"
            )
        arrays = (self.X_train, self.X_test, self.forward_map, self._cov)
        config.update(
            ensemble_steps=self.ensemble_steps,
            inference=self.inference,
            inference_steps=self.inference_steps,
            inference_walkers=self.inference_walkers,
        )
        return dict(config, fingerprint=fingerprint(config, arrays))

    # -- the result ----------------------------------------------------------------
    def _result(self, kern, step, flow, records):
        per_fit = {
            label: [r.scores[label] for r in records] for label in records[0].scores
        }
        metrics = {
            k: multi_closure(v, random_state=self.random_state)
            for k, v in per_fit.items()
        }
        flow_metrics = [metrics[label] for label in flow.labels]
        config = dict(
            self._config(),
            ensemble_time=float(self.ensemble_steps * step),
            ensemble_step=float(step),
        )
        y0 = records[0].y
        posterior, predictive = self._infer(y0) if self.inference else (None, None)
        return ClosureResult(
            config=config,
            metrics=metrics,
            per_fit=per_fit,
            times=flow.times,
            flow_bias=np.array([m.bias for m in flow_metrics]),
            flow_variance=np.array([m.variance for m in flow_metrics]),
            X_train=self.X_train,
            X_test=self.X_test,
            data=np.array([r.y for r in records]),
            truth_train=np.array([r.truth_train for r in records]),
            truth_test=np.array([r.truth_test for r in records]),
            first_fits=records[0].fits,
            spectrum=FlowSpectrum.of(kern, self._first[0], y0),
            inference=posterior,
            predictive=predictive,
            random_state=self.random_state,
        )

    def _infer(self, y):
        """Run emcee on the first fit's data; the predictive marginalised over it."""
        from . import posterior_predictive, sample_hyperparameters

        arch = self.architecture
        kw = dict(
            data_cov=self._cov,
            depth=arch.depth,
            activation=arch.activation,
            forward_map=self.forward_map,
        )
        post = sample_hyperparameters(
            self.X_train,
            y,
            n_walkers=self.inference_walkers,
            n_steps=self.inference_steps,
            burn=self.inference_steps // 4,
            random_state=self.random_state,
            progress=self._show_progress(),
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
        seed = self.random_state
        if isinstance(seed, numbers.Integral):
            seed = int(seed)
        return {
            "truth": self.truth_spec
            if isinstance(self.truth_spec, str)
            else repr(self._truth),
            "architecture": repr(self.architecture),
            "level": self.level,
            "n_fits": self.n_fits,
            "n_replicas": self.n_replicas,
            "times": [float(t) for t in self.times],
            "widths": self.widths,
            "redraw_truth": self.redraw_truth,
            "n_train": len(self.X_train),
            "n_test": len(self.X_test),
            "random_state": seed
            if seed is None or isinstance(seed, int)
            else repr(seed),
        }


def _fit_task(test, methods, i):
    """Fit dataset ``i`` with every method; a task of :meth:`ClosureTest.run`.

    Returns
    -------
    FitRecord
        The scores; the predictions too for fit 0 (the result's ``first_fits``).
    """
    data = test._dataset(i)
    fits = {
        label: fit
        for m in methods
        for label, fit in zip(m.labels, m.fit(data), strict=True)
    }
    scores = {label: score(fit, data, test._test_cov) for label, fit in fits.items()}
    return FitRecord(
        i,
        data.y,
        data.closure.truth_values,
        data.truth_test,
        scores,
        fits if i == 0 else {},
    )
