r"""NTK drift along training and its shrinking with width.

The relative change of each network's empirical NTK Θ_t (:ref:`theory-1`,
:ref:`theory-5`: the
O_2 = H of the hierarchy) from its value at initialisation,

.. math::

    \delta\Theta_t = \frac{\lVert \Theta_t - \Theta_0 \rVert_F}
                            {\lVert \Theta_0 \rVert_F},

measures how far real training is from the frozen-NTK (linearised) dynamics of
:ref:`theory-4`, on which the infinite-width analytic results rest. Chiefa, Del
Debbio and Kenway [1]_ read it along training and across widths.

Width scaling. Lee et al. [2]_ bound the change by O(1/√n). Under the flow
dΘ/dt = −O_3 ε with O_3 = O(1/n) (:ref:`theory-5`; Dyer & Gur-Ari [3]_), so at a
fixed time the change of a smooth-activation network is O(1/n): the fitted slope
of log δΘ_t against log n is ≈ −1 for tanh, erf, ..., not the −1/2 of the bound.
ReLU is between: units whose pre-activation crosses the kink flip σ' by O(1)
(benchmarks/bench_diagnostics.py measured −1.01 ± 0.03 for erf and −0.73 ± 0.03
for ReLU through a smoothing forward map). The 1/√n is the size of the NTK's
fluctuation at initialisation around the infinite-width Θ, not of its change.

References
----------
.. [1] Chiefa, Del Debbio, Kenway, arXiv:2512.24116 (NTK diagnostics of fits
   through an FK table).
.. [2] Lee et al., "Wide neural networks of any depth evolve as linear models
   under gradient descent", arXiv:1902.06720 (the O(1/√n) bound).
.. [3] Dyer, Gur-Ari, "Asymptotics of wide networks from Feynman diagrams",
   arXiv:1909.11304 (dΘ/dt = O(1/n)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import check_real
from ._records import recorded_ntk

__all__ = ["NTKDrift", "DriftScaling", "ntk_drift", "drift_width_scaling"]

#: The band of :class:`NTKDrift` (the ±1σ quantiles of a Gaussian).
QUANTILES = (0.16, 0.84)


@dataclass(frozen=True, eq=False)
class NTKDrift:
    """δΘ_t = ‖Θ_t − Θ_0‖_F / ‖Θ_0‖_F of every member along training.

    Attributes
    ----------
    times : ndarray of shape (T,)
        Flow times of the records; ``times[0] == 0``.
    members : ndarray of shape (T, n_members)
        δΘ_t of each network (``members[0]`` is exactly 0).
    mean, std, stderr : ndarray of shape (T,)
        Mean over members, their standard deviation (ddof=1; 0 for a single
        member, where no spread can be estimated) and the standard error of the
        mean, std / √n_members.
    lower, upper : ndarray of shape (T,)
        The 16% and 84% quantiles over members (the ±1σ band for a Gaussian).
    width : int or None
        The ensemble's hidden width (None when unknown).
    """

    times: np.ndarray
    members: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    stderr: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    width: int | None = None

    @property
    def n_members(self) -> int:
        """Networks in the ensemble."""
        return self.members.shape[1]


def ntk_drift(source, times=None) -> NTKDrift:
    r"""Compute the relative NTK change of every network along training.

    .. math::

        \delta\Theta_t^{(m)} = \lVert \Theta_t^{(m)} - \Theta_0^{(m)}
        \rVert_F \,/\, \lVert \Theta_0^{(m)} \rVert_F

    for member m, with Θ_0 the NTK recorded at t = 0 (:ref:`theory-1`,
    :ref:`theory-5`); the
    first record must be at t = 0, so that δΘ is measured from initialisation
    and not from some later point of training.

    Parameters
    ----------
    source : MLPEnsemble, dict or array-like of shape (T, n_members, n, n)
        An ensemble fitted with ``record_ntk=True`` and ``record_times``
        including 0, its ``history_``, or the NTKs Θ_t themselves.
    times : array-like of shape (T,), optional
        Flow times of an array ``source`` (non-decreasing, ``times[0] == 0``).

    Returns
    -------
    NTKDrift

    Raises
    ------
    ValueError
        If no NTK was recorded, the first record is not at t = 0, the shapes or
        times are malformed, or a member's Θ_0 is zero.

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes import MLPEnsemble
    >>> from nngpbayes.diagnostics import ntk_drift
    >>> X = np.linspace(-1, 1, 8)[:, None]
    >>> ens = MLPEnsemble(width=64, activation="tanh", n_members=4, random_state=0)
    >>> _ = ens.fit(X, np.sin(3 * X[:, 0]), time=1.0, n_steps=50,
    ...             record_times=[0, 0.5, 1.0], record_ntk=True)
    >>> ntk_drift(ens).members.shape
    (3, 4)
    """
    times, ntk, width = recorded_ntk(
        source, times, caller="ntk_drift", need_initial=True
    )
    norm0 = np.linalg.norm(ntk[0], axis=(-2, -1))  # ‖Θ_0‖_F per member
    if np.any(norm0 == 0):
        bad = np.flatnonzero(norm0 == 0).tolist()
        raise ValueError(f"the NTK at t=0 is zero for member(s) {bad}: δΘ undefined")
    members = np.linalg.norm(ntk - ntk[0], axis=(-2, -1)) / norm0
    n_members = members.shape[1]
    std = members.std(axis=1, ddof=1) if n_members > 1 else np.zeros(len(times))
    lower, upper = np.quantile(members, QUANTILES, axis=1)
    return NTKDrift(
        times=times,
        members=members,
        mean=members.mean(axis=1),
        std=std,
        stderr=std / np.sqrt(n_members),
        lower=lower,
        upper=upper,
        width=width,
    )


@dataclass(frozen=True, eq=False)
class DriftScaling:
    """A power law mean δΘ_t ≈ A · width^slope fitted across widths.

    Attributes
    ----------
    widths : ndarray of shape (n_widths,)
    time : float
        The flow time t at which δΘ_t was compared.
    mean, stderr : ndarray of shape (n_widths,)
        Mean δΘ_t over members and its standard error, per width.
    slope, slope_stderr : float
        The fitted exponent and its standard error (propagated from ``stderr``).
    intercept : float
        log A.
    chi2 : float
        Σ (residual / σ)² of the fit in log space (σ = stderr / mean); compare
        with ``dof``: chi2 ≫ dof means the points scatter more than their
        errors (a single power law does not describe them).
    dof : int
        n_widths − 2.
    """

    widths: np.ndarray
    time: float
    mean: np.ndarray
    stderr: np.ndarray
    slope: float
    slope_stderr: float
    intercept: float
    chi2: float
    dof: int

    def predict(self, widths):
        """Return the fitted mean δΘ_t = exp(intercept) · widths^slope."""
        return np.exp(self.intercept) * np.asarray(widths, dtype=float) ** self.slope


def drift_width_scaling(results, widths=None, time=None) -> DriftScaling:
    r"""Fit log mean δΘ_t = intercept + slope · log(width) across ensembles.

    A weighted least-squares line in log-log space, each width weighted by
    1/σ² with σ = stderr / mean (the standard error of log mean δΘ_t to first
    order in stderr / mean):

    .. math::

        (\hat a, \hat b) = \arg\min \sum_w
        \frac{(\log \overline{\delta\Theta}_t(w) - a - b \log w)^2}
        {\sigma_w^2},\qquad
        \operatorname{Var}(\hat a, \hat b) = (A^T \Sigma^{-1} A)^{-1}.

    Expect a slope ≈ −1 for smooth activations at fixed t (the NTK changes at
    O(1/n), :ref:`theory-5`; see this module's notes), about −3/4 for ReLU; Lee et
    al.'s O(1/√n) is an upper bound.

    Parameters
    ----------
    results : sequence of NTKDrift
        One per width, each with at least 2 members (their spread gives the
        weights).
    widths : array-like of shape (n_widths,), optional
        Positive widths; default each result's ``width``.
    time : float, optional
        Flow time t > 0 at which to compare; default the last recorded time of
        the first result. Every result must have a record at t (to 1e-9
        relative).

    Returns
    -------
    DriftScaling

    Raises
    ------
    ValueError
        Fewer than 2 results, unknown or non-positive widths, a time missing
        from a result, fewer than 2 members or a zero mean drift at t.
    """
    results = _check_results(results)
    widths = _check_widths(widths, results)
    if time is None:
        time = float(results[0].times[-1])
    time = check_real(time, "time", min_val=0.0, include_boundaries="neither")
    mean = np.empty(len(results))
    stderr = np.empty(len(results))
    for i, res in enumerate(results):
        j = _time_index(res.times, time, i)
        mean[i], stderr[i] = res.mean[j], res.stderr[j]
    if np.any(mean <= 0) or np.any(stderr <= 0):
        raise ValueError(
            f"mean δΘ and its standard error must be > 0 at time={time:.6g} for a "
            f"log-log fit, got mean={mean!r}, stderr={stderr!r}"
        )
    sigma = stderr / mean  # standard error of log(mean), first order
    design = np.column_stack([np.ones(len(widths)), np.log(widths)])
    weighted = design / sigma[:, None]
    cov = np.linalg.inv(weighted.T @ weighted)  # (Aᵀ Σ⁻¹ A)⁻¹
    coef = cov @ (weighted.T @ (np.log(mean) / sigma))
    chi2 = float(np.sum(((np.log(mean) - design @ coef) / sigma) ** 2))
    return DriftScaling(
        widths=widths,
        time=time,
        mean=mean,
        stderr=stderr,
        slope=float(coef[1]),
        slope_stderr=float(np.sqrt(cov[1, 1])),
        intercept=float(coef[0]),
        chi2=chi2,
        dof=len(widths) - 2,
    )


def _check_results(results):
    """Check for a list of >= 2 NTKDrift, each with >= 2 members."""
    if isinstance(results, NTKDrift) or not isinstance(results, Sequence):
        raise ValueError(
            "results must be a sequence of NTKDrift (one per width), got "
            f"{type(results).__name__}"
        )
    results = list(results)
    bad = [type(r).__name__ for r in results if not isinstance(r, NTKDrift)]
    if bad or len(results) < 2:
        raise ValueError(
            "results must hold at least 2 NTKDrift (from ntk_drift, one per width), "
            f"got {len(results)} item(s) of types {[type(r).__name__ for r in results]}"
        )
    few = [i for i, r in enumerate(results) if r.n_members < 2]
    if few:
        raise ValueError(
            f"results {few} have a single member: the fit weights each width by the "
            "spread over members, so every ensemble needs n_members >= 2"
        )
    return results


def _check_widths(widths, results):
    """Positive float widths, one per result (default: the results' own)."""
    if widths is None:
        known = [r.width for r in results]
        if any(w is None for w in known):
            raise ValueError(
                "widths must be given: some results do not know their width "
                f"(got result widths {known}); pass widths=[...]"
            )
        widths = known
    arr = np.asarray(widths, dtype=float)
    if arr.shape != (len(results),) or not np.isfinite(arr).all() or np.any(arr <= 0):
        raise ValueError(
            f"widths must be {len(results)} positive numbers (one per result), got "
            f"widths={widths!r}"
        )
    if len(np.unique(arr)) < 2:
        raise ValueError(f"widths must hold at least 2 distinct values, got {widths!r}")
    return arr


def _time_index(times, time, i):
    """Return the index of ``time`` among ``times`` (to 1e-9 relative)."""
    hits = np.flatnonzero(np.isclose(times, time, rtol=1e-9, atol=0.0))
    if hits.size == 0:
        raise ValueError(
            f"time={time:.6g} is not among the recorded times of results[{i}] "
            f"({times!r}); record it (record_times) or choose one of those"
        )
    return int(hits[0])
