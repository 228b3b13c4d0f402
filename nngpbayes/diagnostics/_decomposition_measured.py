r"""The U/V decomposition measured on a trained ensemble (see :mod:`._decomposition`).

Two copies of the same ensemble (identical initialisations f_0, from the same int
``random_state``) are trained through F: one on zero targets, one on the data.

- The zero-target run (always without replicas) ends at U(t) f_0 for every member:
  exactly for linearised networks, up to O(1/n) at width n.
- The data run ends at U(t) f_0 + V(t)(y + ε_m) (ε_m = 0 without replicas); the
  difference of the two runs is the V part V(t)(y + ε_m), whose spread over members
  is V C Vᵀ with replicas (and O(1/n), from the members' own NTKs, without).

Zero targets are trained without replica noise so that the U part is the pure
initialisation term of :func:`frozen_ntk_decomposition` and the replica noise lands
in the V part, as in :meth:`~nngpbayes.dynamics.LinearFlow.predict`'s "prior" and
"data" parts. Over the M members (unbiased estimators; v̄, s_v², s_u² the member
mean and ddof = 1 variances per grid point, bars over the grid):

.. math::

    \widehat{\text{bias}^2} = \overline{(\bar v - f^*)^2 - s_v^2/M},\qquad
    \widehat{\text{var}}_U = \overline{s_u^2},\qquad
    \widehat{\text{var}}_V = \overline{s_v^2},

the squared bias corrected for the noise s_v²/M of the member mean. Standard errors
are delete-one jackknife errors over members (Efron and Stein, 1981), which keep the
correlations between grid points.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from .._validation import check_forward_map, check_inputs
from ..networks._inputs import check_schedule
from ._decomposition_analytic import _check_vector

__all__ = ["MeasuredDecomposition", "measured_decomposition"]

_STATS = ("bias", "bias_sq", "variance_u", "variance_v", "cross", "mse")


@dataclass
class MeasuredDecomposition:
    """The U/V bias–variance decomposition measured on a trained ensemble.

    Attributes
    ----------
    time : ndarray of shape (n_times,)
        The recorded flow times (``history_["time"]``).
    steps : ndarray of shape (n_times,)
        The same as gradient-descent step counts: compare with
        ``frozen_ntk_decomposition(..., time=steps, learning_rate=step_size,
        discrete=True)``.
    step_size : float
        η·Δt of the fits (``MLPEnsemble.step_size_``).
    replicas : bool
    u_part, v_part : ndarray of shape (n_times, n_members, n_grid)
        Every member's U part (zero-target run) and V part (data run minus it).
    f_true : ndarray of shape (n_grid,)
    stats : dict of str to ndarray of shape (n_times, n_grid)
        Per grid point: ``"bias"`` (v̄ − f*), ``"bias_sq"``, ``"variance_u"``,
        ``"variance_v"``, ``"cross"`` (the member covariance of the U and V parts,
        0 in expectation) and ``"mse"`` (mean over members of (f_t − f*)²).
    errors : dict of str to ndarray of shape (n_times, n_grid)
        Their jackknife standard errors.
    replicates : dict of str to ndarray of shape (n_members, n_times, n_grid)
        The delete-one jackknife replicates of ``stats``.
    """

    time: np.ndarray
    steps: np.ndarray
    step_size: float
    replicas: bool
    u_part: np.ndarray
    v_part: np.ndarray
    f_true: np.ndarray
    stats: dict
    errors: dict
    replicates: dict

    def grid_mean(self, name):
        """Mean over the grid of a statistic and its jackknife error.

        Parameters
        ----------
        name : {"bias_sq", "variance_u", "variance_v", "cross", "mse"}

        Returns
        -------
        value, error : ndarray of shape (n_times,)
        """
        if name not in _STATS:
            raise ValueError(f"name must be one of {_STATS}, got {name!r}")
        reps = self.replicates[name].mean(axis=-1)  # (M, T)
        return self.stats[name].mean(axis=-1), _jackknife_error(reps)

    @property
    def bias_sq(self):
        """Mean over the grid of the squared bias, shape (n_times,)."""
        return self.grid_mean("bias_sq")[0]

    @property
    def var_u(self):
        """Mean over the grid of the U part's variance, shape (n_times,)."""
        return self.grid_mean("variance_u")[0]

    @property
    def var_v(self):
        """Mean over the grid of the V part's variance, shape (n_times,)."""
        return self.grid_mean("variance_v")[0]


def measured_decomposition(
    ensemble,
    X,
    f_true,
    y=None,
    *,
    time=None,
    n_steps=None,
    learning_rate=None,
    forward_map=None,
    y_cov=None,
    replicas=False,
    training="full",
    record_times=None,
):
    """Train two copies of ``ensemble`` through F and split their error.

    The error is split into the U and V parts (module docstring).

    ``ensemble`` itself is not changed: it is cloned twice (one copy at a time is
    kept in memory). The training arguments are those of
    :meth:`~nngpbayes.MLPEnsemble.fit`.

    Parameters
    ----------
    ensemble : MLPEnsemble
        Unfitted or fitted; its ``random_state`` must be an int, so that both
        copies start from the same networks.
    X : array-like of shape (n_grid, n_features)
        The grid inputs.
    f_true : array-like of shape (n_grid,)
        The truth f* on the grid.
    y : array-like of shape (n_data,), default=None
        The (central) data; ``None`` is level 0, y = F f*.
    time, n_steps, learning_rate, y_cov, training
        As in :meth:`MLPEnsemble.fit`.
    forward_map : array-like of shape (n_data, n_grid), default=None
        F; ``None`` is the identity.
    replicas : bool, default=False
        The data run trains each member on its own replica y + ε_m, ε_m ~ N(0, C).
    record_times : array-like of shape (n_times,), default=None
        Flow times at which the parts are measured; ``None`` is 11 times evenly
        spaced from 0 to the training time.

    Returns
    -------
    MeasuredDecomposition

    Raises
    ------
    ValueError
        Naming the argument whose value is wrong, before any training.
    TypeError
        If ``ensemble`` is not an estimator.
    """
    _check_ensemble(ensemble)
    X = check_inputs(X, "X")
    f_true = _check_vector(f_true, len(X), "f_true", "n_grid")
    F = check_forward_map(forward_map, len(X))
    n_data = len(X) if F is None else len(F)
    y = (f_true if F is None else F @ f_true) if y is None else y
    y = _check_vector(y, n_data, "y", "n_data")
    if not isinstance(replicas, bool | np.bool_):
        raise ValueError(f"replicas must be a bool, got {replicas!r}")
    time, learning_rate, n_steps = check_schedule(time, learning_rate, n_steps)
    if record_times is None:
        record_times = np.linspace(0.0, time if time is not None else n_steps, 11)
    fit = {
        "time": time,
        "n_steps": n_steps,
        "learning_rate": learning_rate,
        "forward_map": F,
        "y_cov": y_cov,
        "training": training,
        "record_times": record_times,
    }
    # an int random_state: both clones draw the same initial networks
    zero = clone(ensemble).fit(X, np.zeros(n_data), replicas=False, **fit)
    u_part, hist_t = zero.history_["predictions"], zero.history_["time"]
    step, dt = zero.step_size_, zero.step_size_ / zero.learning_rate_
    del zero  # one trained copy in memory at a time
    data = clone(ensemble).fit(X, y, replicas=bool(replicas), **fit)
    total = data.history_["predictions"]
    steps = np.round(hist_t / dt).astype(int) if dt > 0 else np.zeros(len(hist_t), int)
    return _summarise(hist_t, steps, step, bool(replicas), u_part, total, f_true)


def _summarise(time, steps, step, replicas, u_part, total, f_true):
    """Return the statistics of the parts and their jackknife replicates."""
    v_part = total - u_part
    stats = _statistics(u_part, v_part, f_true)
    n_members = u_part.shape[1]
    keep = np.ones(n_members, dtype=bool)
    reps = {k: [] for k in _STATS}
    for m in range(n_members):  # delete-one jackknife over members
        keep[m] = False
        for k, val in _statistics(u_part[:, keep], v_part[:, keep], f_true).items():
            reps[k].append(val)
        keep[m] = True
    reps = {k: np.stack(v) for k, v in reps.items()}  # (M, T, n_grid)
    errors = {k: _jackknife_error(v) for k, v in reps.items()}
    return MeasuredDecomposition(
        time=time,
        steps=steps,
        step_size=float(step),
        replicas=replicas,
        u_part=u_part,
        v_part=v_part,
        f_true=f_true,
        stats=stats,
        errors=errors,
        replicates=reps,
    )


def _statistics(u, v, f_true):
    """Per time and grid point, from (n_times, M, n_grid) parts (module docstring)."""
    n = u.shape[1]
    v_bar = v.mean(axis=1)
    du, dv = u - u.mean(axis=1, keepdims=True), v - v_bar[:, None]
    var_v = np.einsum("tmi,tmi->ti", dv, dv) / (n - 1)
    bias = v_bar - f_true
    return {
        "bias": bias,
        "bias_sq": bias**2 - var_v / n,  # E[(v̄ − f*)²] = bias² + σ_v²/M
        "variance_u": np.einsum("tmi,tmi->ti", du, du) / (n - 1),
        "variance_v": var_v,
        "cross": np.einsum("tmi,tmi->ti", du, dv) / (n - 1),
        "mse": np.mean((u + v - f_true) ** 2, axis=1),
    }


def _jackknife_error(replicates):
    """sqrt((M − 1)/M Σ_m (θ_(m) − θ̄)²) over the leading (member) axis."""
    m = replicates.shape[0]
    dev = replicates - replicates.mean(axis=0)
    return np.sqrt((m - 1) / m * np.sum(dev**2, axis=0))


def _check_ensemble(ensemble):
    """Check for an estimator with ``fit`` and an int ``random_state``."""
    if not (hasattr(ensemble, "fit") and hasattr(ensemble, "get_params")):
        raise TypeError(
            f"ensemble must be an MLPEnsemble, got {type(ensemble).__name__}"
        )
    params = ensemble.get_params()
    n_members = params.get("n_members")
    if not isinstance(n_members, numbers.Integral) or n_members < 3:
        raise ValueError(
            "ensemble.n_members must be an int >= 3 (variances and their "
            f"jackknife errors), got n_members={n_members!r}"
        )
    seed = params.get("random_state")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool | np.bool_):
        raise ValueError(
            "ensemble.random_state must be an int, so that both trained copies "
            f"start from the same networks, got random_state={seed!r}"
        )
