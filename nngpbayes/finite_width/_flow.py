"""FiniteWidthFlow: predicted training of a finite ensemble (:ref:`theory-5`)."""

from __future__ import annotations

import copy
import warnings

import numpy as np

from .._jobs import run_tasks
from .._numerics import as_covariance, cholesky_psd
from .._validation import (
    InvalidParameterError,
    check_forward_map,
    check_inputs,
    check_int,
    check_positive,
    resolve_n_jobs,
)
from ..networks import StabilityWarning, forward
from ._forward import NTK_KEYS, SlotMap, ntk_as_rows
from ._hierarchy import NTKHierarchy, _member_tensors, _prepare, check_ensemble
from ._solve import (
    MemberProblem,
    closed_form,
    closed_form_ntk,
    integrate_flow,
    integrated_first_order,
    iterate_steps,
    rotate_rows,
)

__all__ = ["FiniteWidthFlow"]

_METHODS = ("closed_form", "ode")
_TRAINING = ("full", "readout")
_ROW_CHUNK = 64


class FiniteWidthFlow:
    r"""How each member of a finite ensemble trains, to order 0 or 1 in 1/width.

    Every member starts from its own initialisation and is trained on (X, y) by
    gradient flow dθ/dt = −η λ ∇L with L = ½(Fφ(X) − y)ᵀC⁻¹(Fφ(X) − y) (
    :ref:`theory-2`; F the forward map, default I), or by gradient descent with steps of
    Δt = ``dt``, exactly as ``MLPEnsemble.fit``. Order 0 freezes each network's own
    empirical NTK H_0; order 1 lets it move under the truncated hierarchy
    (:ref:`theory-5`):

    .. math::

        \frac{dφ}{dτ} = −H ε,\quad \frac{dH}{dτ} = −O_3 ε,\quad
        \frac{dO_3}{dτ} = −O_4 ε,\quad O_4\ \text{frozen},\quad τ = η t.

    ``method="closed_form"`` is the first-order perturbative solution (sums of
    exponentials in the eigenvalues of H_0, exact divided differences);
    ``method="ode"`` integrates the truncated system numerically (for steps: iterates
    the truncated discrete map). Both are exact to O(1/n); they differ at O(1/n²).

    Parameters
    ----------
    ensemble : MLPEnsemble
        Its members as they were initialised are used (re-drawn from the member
        seeds, so a trained ensemble gives the same answer as a fresh one).
    X : array-like of shape (n, n_features)
        The network's training inputs (the grid, with a forward map).
    y : array-like of shape (n_data,) or (n_members, n_data)
        Targets, shared or each member's own (e.g. level-2 replicas); in data space
        (n_data = n without a forward map).
    order : {0, 1}, default=1
    learning_rate : float, default=1.0
        η.
    dt : float or None, default=None
        Time per gradient-descent step (``MLPEnsemble.fit(time=t, n_steps=k)`` uses
        dt = t/k); None: continuous gradient flow.
    method : {"closed_form", "ode"}, default="closed_form"
    y_cov : float, array-like of shape (n_data,) or (n_data, n_data), optional
        C of the loss (as ``MLPEnsemble.fit``); default I.
    training : {"full", "readout"}, default="full"
        As ``MLPEnsemble.fit``: train every layer, or only the readout (then φ is
        linear in the trained parameters, O_3 = O_4 = 0 and order 0 is exact).
    forward_map : array-like of shape (n_data, n), optional
        F of y = F φ(X) (an FK table); None is the identity. With C = LLᵀ and
        G = L⁻¹F every slot of the hierarchy contracted with the residual is
        mapped by G, which turns the problem into the F = C = I one of :ref:`theory-5`
        in data space: ε = Gφ(X) − L⁻¹y, dε/dτ = −G H Gᵀ ε, dH/dτ = −O_3[Gᵀε], ...
        Predictions and NTKs stay on the network's inputs.
    n_jobs : int or None, default=None
        Workers computing the members' tensors (the long work; members are
        independent tasks run through joblib, so a :func:`joblib.parallel_config`
        context, e.g. Dask, chooses where): None → 1 unless such a context says
        otherwise, −1 → all cores. Results do not depend on it.

    Attributes
    ----------
    hierarchy_ : NTKHierarchy or None
        H, O_3, O_4 (and the step tensors) of the initial members on X, not
        mapped by G (None at order 0, which needs only H).
    eigenvalues_ : ndarray of shape (n_members, n_data)
        Eigenvalues of each member's initial G H_0 Gᵀ (G = L⁻¹F; H_0 its NTK on
        X): the rates of the data-space residual, dε/dτ = −G H Gᵀ ε at order 0.

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes import MLPEnsemble
    >>> from nngpbayes.finite_width import FiniteWidthFlow
    >>> X = np.linspace(-1, 1, 6)[:, None]
    >>> ens = MLPEnsemble(depth=1, width=256, activation="tanh", n_members=3,
    ...                   random_state=0)
    >>> flow = FiniteWidthFlow(ens, X, np.sin(3 * X[:, 0]))
    >>> flow.predict(X, time=2.0).shape
    (3, 6)
    >>> flow.predict(X, time=[0.0, 1.0, 2.0]).shape
    (3, 3, 6)
    >>> F = np.kron(np.eye(2), np.full(3, 1 / 3))  # 2 data: means of 3 grid points
    >>> flow = FiniteWidthFlow(ens, X, [0.5, -0.5], forward_map=F, y_cov=0.1)
    >>> flow.predict(X, time=2.0).shape, flow.eigenvalues_.shape
    ((3, 6), (3, 2))
    """

    def __init__(
        self,
        ensemble,
        X,
        y,
        order=1,
        learning_rate=1.0,
        dt=None,
        method="closed_form",
        y_cov=None,
        training="full",
        forward_map=None,
        n_jobs=None,
    ):
        self.order, self.learning_rate, self.dt, self.method, training = (
            _check_settings(order, learning_rate, dt, method, training)
        )
        X = check_inputs(X, "X")
        resolve_n_jobs(n_jobs)  # checked before the long work
        F = check_forward_map(forward_map, len(X))
        n_data = len(X) if F is None else len(F)
        self._ensemble = _initial_copy(ensemble, X)
        self.X = X
        self.y = _check_targets(y, n_data, len(self._ensemble.weights_[0]), F)
        # C = L Lᵀ: the loss ½ eᵀC⁻¹e becomes ½‖L⁻¹e‖², i.e. F = C = I after
        # G = L⁻¹F acts on every slot that runs over training inputs (docs/theory §2,
        # §5; see _forward.py)
        chol = (
            None
            if y_cov is None
            else cholesky_psd(as_covariance(y_cov, n_data, "y_cov"), "y_cov")
        )
        self._map = SlotMap(chol, F)
        _, _, arch, self._params, _ = _prepare(
            self._ensemble, X, None, 0, derivatives=self.order == 1
        )
        self._arch = _readout_only(arch) if training == "readout" else arch
        # the long work: each member's tensors on the training inputs
        steps = self.dt is not None
        tasks = [
            (w, b, X, None, self._arch, 0, steps, self.order == 0)
            for w, b in self._members()
        ]
        members = list(run_tasks(_member_tensors, tasks, n_jobs))
        self.hierarchy_ = None if self.order == 0 else _stack_hierarchy(members)
        self._set_problems(members)
        if self.dt is not None:
            self._warn_if_unstable()

    def _set_problems(self, members):
        """Set mapped φ_0, targets, tensors; one :class:`MemberProblem` per member."""
        phi0 = forward(self._params, self.X, self._arch.activation)[..., 0]
        targets = np.broadcast_to(self.y, (len(phi0), self.y.shape[-1]))
        self._phi0 = self._map.slot(phi0.T).T  # (M, n_data): G φ_0(X)
        self._y = self._map.data(targets.T).T  # L⁻¹ y
        self._train = [self._map.tensors(t, 0) for t in members]
        if self._map.forward_map is not None:  # NTK rows on the grid (predict_ntk)
            self._grid = [
                self._map.tensors({k: t[k] for k in NTK_KEYS if k in t}, 2)
                for t in members
            ]
        self._problems = [
            MemberProblem(t, p - yy)
            for t, p, yy in zip(self._train, self._phi0, self._y, strict=True)
        ]
        self.eigenvalues_ = np.stack([p.s for p in self._problems])

    def _warn_if_unstable(self):
        top = self.learning_rate * self.dt * self.eigenvalues_.max()
        if top >= 2.0:
            warnings.warn(
                f"learning_rate·dt·max eig(F H_0 Fᵀ C⁻¹) = {top:.3g} >= 2: gradient "
                "descent diverges; the predictions describe that divergence",
                StabilityWarning,
                stacklevel=3,
            )

    # -- helpers -------------------------------------------------------------------
    def _members(self):
        weights, biases = self._params
        for m in range(len(weights[0])):
            yield [w[m] for w in weights], [b[m] for b in biases]

    def _times(self, time):
        """(array of τ or step counts, scalar?)."""
        t = np.asarray(time, dtype=float)
        if t.ndim > 1:
            raise ValueError(f"time must be a scalar or 1-D, got shape {t.shape}")
        if not np.isfinite(t).all() or (t < 0).any():
            raise ValueError(f"time must be finite and >= 0, got {time!r}")
        scalar = t.ndim == 0
        t = np.atleast_1d(t)
        if self.dt is None:
            return self.learning_rate * t, scalar
        k = t / self.dt
        if not np.allclose(k, np.round(k), rtol=0, atol=1e-9 * max(1.0, k.max())):
            raise ValueError(
                f"with dt={self.dt}, time must be a whole number of steps, got {time!r}"
            )
        return np.round(k).astype(int), scalar

    def _check_new(self, X_new):
        X_new = check_inputs(X_new, "X_new")
        if X_new.shape[1] != self.X.shape[1]:
            raise ValueError(
                f"X_new has {X_new.shape[1]} features, but X has {self.X.shape[1]}"
            )
        return X_new

    def _rows(self, X_new, start=1):
        """Per member, tensors of the prediction rows (chunked) and φ_0(X_new).

        ``X_new`` already checked (:meth:`_check_new`); slots from ``start`` on
        mapped (2: NTK rows under a forward map).
        """
        phi0 = forward(self._params, X_new, self._arch.activation)[..., 0]
        steps = self.dt is not None
        for first in range(0, len(X_new), _ROW_CHUNK):
            part = X_new[first : first + _ROW_CHUNK]
            sl = slice(first, first + len(part))
            for m, (w, b) in enumerate(self._members()):
                rows = _member_tensors(
                    w, b, self.X, part, self._arch, 0, steps, self.order == 0
                )
                rows = self._map.tensors(rows, start)
                yield sl, m, rows, phi0[m, sl]

    # -- public --------------------------------------------------------------------
    def predict(self, X_new, time):
        """Each member's output at ``time``.

        Parameters
        ----------
        X_new : array-like of shape (n_new, n_features)
        time : float or array-like of shape (T,)
            Training time t (multiples of ``dt`` for discrete steps).

        Returns
        -------
        ndarray of shape (n_members, n_new), or (T, n_members, n_new) for an array.
            The networks on X_new (with a forward map: not mapped; F applied to
            the predictions on the grid gives the data-space ones).
        """
        times, scalar = self._times(time)
        X_new = self._check_new(X_new)
        out = np.empty((len(times), len(self._problems), len(X_new)))
        step = None if self.dt is None else self.learning_rate * self.dt
        cache = {}  # the training part of the first order, per member and time
        with np.errstate(over="ignore", invalid="ignore"):
            self._fill(out, X_new, times, step, cache)
        _check_finite(out, "predictions")
        return out[0] if scalar else out

    def _fill(self, out, X_new, times, step, cache):
        for sl, m, rows, phi0 in self._rows(X_new):
            prob = self._problems[m]
            if self.method == "closed_form":
                rows = rotate_rows(prob, rows)  # once for all times
                for it, t in enumerate(times):
                    if self.order and (m, it) not in cache:
                        cache[m, it] = integrated_first_order(prob, t, step)
                    out[it, m, sl] = closed_form(
                        prob, rows, phi0, t, step, self.order, cache.get((m, it))
                    )
            else:
                out[:, m, sl] = self._numeric(m, rows, phi0, times)[0]

    def _numeric(self, m, rows, phi0, times):
        args = (self._train[m], rows, self._y[m], self._phi0[m], phi0)
        if self.dt is None:
            return integrate_flow(*args, times, self.order)
        return iterate_steps(*args, times, self.learning_rate * self.dt, self.order)

    def predict_ntk(self, time, X_new=None):
        """Each member's NTK H(x, X) at ``time`` (constant at order 0).

        On the network's inputs, also with a forward map: H(X_new, X) with X the
        grid, moving as dH(a, b)/dτ = −Σ_c O_3(a, b, c)(Gᵀε)_c (only the slots
        contracted with the residual are mapped; the data-space kernel is
        G H Gᵀ).

        Parameters
        ----------
        time : float or array-like of shape (T,)
        X_new : array-like of shape (n_new, n_features), default=X

        Returns
        -------
        ndarray of shape (n_members, n_new, n), or (T, n_members, n_new, n).
        """
        times, scalar = self._times(time)
        if X_new is not None:
            X_new = self._check_new(X_new)
        step = None if self.dt is None else self.learning_rate * self.dt
        mapped = self._map.forward_map is not None
        if X_new is None:
            grid = self._grid if mapped else self._train
            rows_iter = ((slice(None), m, t) for m, t in enumerate(grid))
        else:
            rows = self._rows(X_new, start=2 if mapped else 1)
            rows_iter = ((sl, m, r) for sl, m, r, _ in rows)
        n_new = len(self.X) if X_new is None else len(X_new)
        out = np.empty((len(times), len(self._problems), n_new, len(self.X)))
        with np.errstate(over="ignore", invalid="ignore"):
            for sl, m, rows in rows_iter:
                out[:, m, sl] = self._ntk_block(m, rows, times, step, mapped)
        _check_finite(out, "NTK predictions")
        if not mapped:  # whitened by L⁻¹: back to the input basis
            out = self._map.unwhiten(out, 3)  # the training slot
            if X_new is None:
                out = self._map.unwhiten(out, 2)  # the rows are training inputs too
        return out[0] if scalar else out

    def _ntk_block(self, m, rows, times, step, mapped):
        """Member m's NTK rows at ``times``, shape (T, R, n) (or (R, n) at order 0).

        ``mapped``: a forward map, the rows' second slot on the network's inputs
        (slots after it mapped by G, :func:`ntk_as_rows`); otherwise every slot
        after the row whitened.
        """
        if self.order == 0:
            return rows["ntk"]
        prob = self._problems[m]
        if self.method == "closed_form":
            rows = rotate_rows(prob, rows, start=2 if mapped else 1)  # once
            return np.stack(
                [closed_form_ntk(prob, rows, t, step, back=not mapped) for t in times]
            )
        if not mapped:
            ntk = self._numeric(m, rows, np.zeros(len(rows["ntk"])), times)[1]
            return ntk[:, len(self.X) :]
        flat = np.empty((len(times), rows["ntk"].size))
        for pairs, pseudo, h0 in ntk_as_rows(rows, self.dt is not None):
            flat[:, pairs] = self._numeric(m, pseudo, h0, times)[0]
        return flat.reshape((len(times),) + rows["ntk"].shape)

    def predict_moments(self, X_new, time):
        """Ensemble mean and covariance (over members) of the predictions.

        Returns
        -------
        mean : ndarray of shape (n_new,) or (T, n_new)
        cov : ndarray of shape (n_new, n_new) or (T, n_new, n_new)
            Sample covariance (denominator n_members − 1).
        """
        if len(self._problems) < 2:
            raise ValueError("predict_moments needs an ensemble of >= 2 members")
        f = self.predict(X_new, time)
        mean = f.mean(axis=-2)
        d = f - mean[..., None, :]
        cov = np.einsum("...mi,...mj->...ij", d, d) / (f.shape[-2] - 1)
        return mean, cov


def _check_finite(out, what):
    if not np.isfinite(out).all():
        raise FloatingPointError(
            f"the {what} overflow: gradient descent with learning_rate·dt above "
            "the stability limit 2/max eig(H_0) diverges (see the StabilityWarning)"
        )


def _check_targets(y, n, n_members, forward_map=None):
    """Check y as (n,) or (n_members, n) (each member's own targets, e.g. replicas)."""
    y = np.asarray(y, dtype=float)
    if y.ndim == 2 and y.shape[1] == 1 and n != 1:
        y = y[:, 0]
    if y.shape not in ((n,), (n_members, n)):
        where = "" if forward_map is None else " (data space: the rows of forward_map)"
        raise ValueError(
            f"y must have shape ({n},) or (n_members, {n}) = ({n_members}, {n})"
            f"{where}, got {y.shape}"
        )
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    return y


def _check_settings(order, learning_rate, dt, method, training):
    """Check and return the scalar arguments of :class:`FiniteWidthFlow`."""
    try:
        order = check_int(order, "order", min_val=0, max_val=1)
    except InvalidParameterError:
        raise InvalidParameterError(f"order must be 0 or 1, got {order!r}") from None
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if training not in _TRAINING:
        raise ValueError(f"training must be one of {_TRAINING}, got {training!r}")
    learning_rate = check_positive(learning_rate, "learning_rate")
    dt = None if dt is None else check_positive(dt, "dt")
    return order, learning_rate, dt, method, training


def _readout_only(arch):
    """``arch`` with the hidden layers frozen (λ = 0 there)."""
    hidden = arch.depth
    return arch.replace(
        weight_lr=np.r_[np.zeros(hidden), arch.weight_lr[-1]],
        bias_lr=np.r_[np.zeros(hidden), arch.bias_lr[-1]],
    )


def _stack_hierarchy(members):
    """Build an :class:`NTKHierarchy` from the per-member tensor dicts."""
    return NTKHierarchy(**{k: np.stack([m[k] for m in members]) for k in members[0]})


def _initial_copy(ensemble, X):
    """Return a shallow copy of ``ensemble`` holding its members' initial parameters."""
    check_ensemble(ensemble)
    ens = copy.copy(ensemble)
    if hasattr(ensemble, "weights_"):
        if ensemble.n_outputs_ != 1:
            raise ValueError(
                "FiniteWidthFlow needs single-output networks (the outputs of a "
                f"finite network are coupled), got n_outputs={ensemble.n_outputs_}"
            )
        ens.weights_, ens.biases_ = ensemble.initial_parameters()
    else:
        ens.initialize(X.shape[1], 1)
    return ens
