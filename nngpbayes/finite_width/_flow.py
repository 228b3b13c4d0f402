"""FiniteWidthFlow: predicted training of a finite ensemble (THEORY.md §5)."""

from __future__ import annotations

import copy
import warnings

import numpy as np
from scipy.linalg import solve_triangular

from .._numerics import as_covariance, cholesky_psd
from .._validation import (
    InvalidParameterError,
    check_inputs,
    check_int,
    check_positive,
)
from ..networks import StabilityWarning, forward
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
    """How each member of a finite ensemble trains, to order 0 or 1 in 1/width.

    Every member starts from its own initialisation and is trained on (X, y) by
    gradient flow dθ/dt = −η λ ∇L with L = ½(φ(X) − y)ᵀC⁻¹(φ(X) − y) (THEORY.md §2),
    or by gradient descent with steps of Δt = ``dt``. Order 0 freezes each network's own
    empirical NTK H_0; order 1 lets it move under the truncated hierarchy
    (THEORY.md §5):

    .. math::

        \\frac{dφ}{dτ} = −H ε,\\quad \\frac{dH}{dτ} = −O_3 ε,\\quad
        \\frac{dO_3}{dτ} = −O_4 ε,\\quad O_4\\ \\text{frozen},\\quad τ = η t.

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
    y : array-like of shape (n,) or (n_members, n)
        Targets, shared or each member's own (e.g. level-2 replicas).
    order : {0, 1}, default=1
    learning_rate : float, default=1.0
        η.
    dt : float or None, default=None
        Time per gradient-descent step (``MLPEnsemble.fit(time=t, n_steps=k)`` uses
        dt = t/k); None: continuous gradient flow.
    method : {"closed_form", "ode"}, default="closed_form"
    y_cov : float, array-like of shape (n,) or (n, n), optional
        C of the loss ½(φ − y)ᵀC⁻¹(φ − y) (as ``MLPEnsemble.fit``); default I. With
        C = LLᵀ every slot over the training inputs is whitened by L⁻¹, which
        turns the problem into the F = C = I one of THEORY.md §5.
    training : {"full", "readout"}, default="full"
        As ``MLPEnsemble.fit``: train every layer, or only the readout (then φ is
        linear in the trained parameters, O_3 = O_4 = 0 and order 0 is exact).

    Attributes
    ----------
    hierarchy_ : NTKHierarchy or None
        H, O_3, O_4 (and the step tensors) of the initial members on X (None at
        order 0, which needs only H).
    eigenvalues_ : ndarray of shape (n_members, n)
        Eigenvalues of each member's initial L⁻¹ H_0 L⁻ᵀ on X (H_0 without y_cov).

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
    ):
        self.order, self.learning_rate, self.dt, self.method, training = (
            _check_settings(order, learning_rate, dt, method, training)
        )
        X = check_inputs(X, "X")
        self._ensemble = _initial_copy(ensemble, X)
        self.X = X
        self.y = _check_targets(y, len(X), len(self._ensemble.weights_[0]))
        # C = L Lᵀ: the loss ½ eᵀC⁻¹e becomes ½‖L⁻¹e‖², i.e. F = C = I after L⁻¹
        # acts on every slot that runs over training inputs (THEORY.md §2, §5)
        self._chol = (
            None
            if y_cov is None
            else cholesky_psd(as_covariance(y_cov, len(X), "y_cov"), "y_cov")
        )
        _, _, arch, self._params, _ = _prepare(
            self._ensemble, X, None, 0, derivatives=self.order == 1
        )
        self._arch = _readout_only(arch) if training == "readout" else arch
        # the long work: each member's tensors on the training inputs
        steps = self.dt is not None
        members = [
            _member_tensors(w, b, X, None, self._arch, 0, steps, self.order == 0)
            for w, b in self._members()
        ]
        self.hierarchy_ = None if self.order == 0 else _stack_hierarchy(members)
        self._set_problems(members)
        if self.dt is not None:
            self._warn_if_unstable()

    def _set_problems(self, members):
        """Whitened φ_0, targets and tensors; one :class:`MemberProblem` per member."""
        phi0 = forward(self._params, self.X, self._arch.activation)[..., 0]
        targets = np.broadcast_to(self.y, phi0.shape[:2])
        self._phi0 = self._whiten(phi0.T).T  # (M, n), whitened
        self._y = self._whiten(targets.T).T
        self._train = [self._whiten_tensors(t, first=True) for t in members]
        self._problems = [
            MemberProblem(t, p - yy)
            for t, p, yy in zip(self._train, self._phi0, self._y, strict=True)
        ]
        self.eigenvalues_ = np.stack([p.s for p in self._problems])

    def _warn_if_unstable(self):
        top = self.learning_rate * self.dt * self.eigenvalues_.max()
        if top >= 2.0:
            warnings.warn(
                f"learning_rate·dt·max eig(H_0 C⁻¹) = {top:.3g} >= 2: gradient "
                "descent diverges; the predictions describe that divergence",
                StabilityWarning,
                stacklevel=3,
            )

    def _whiten(self, a, axis=0):
        """L⁻¹ applied along ``axis`` (a slot over training inputs)."""
        if self._chol is None:
            return a
        moved = np.moveaxis(a, axis, 0)
        shape = moved.shape
        out = solve_triangular(self._chol, moved.reshape(shape[0], -1), lower=True)
        return np.moveaxis(out.reshape(shape), 0, axis)

    def _whiten_tensors(self, tensors, first):
        """Whiten every training slot (and the first slot of training rows)."""
        if self._chol is None:
            return tensors
        out = {}
        for key, t in tensors.items():
            for axis in range(0 if first else 1, t.ndim):
                t = self._whiten(t, axis)
            out[key] = t
        return out

    def _unwhiten(self, a, axis):
        """L applied along ``axis`` (undoes :meth:`_whiten`)."""
        if self._chol is None:
            return a
        return np.moveaxis(
            np.tensordot(self._chol, np.moveaxis(a, axis, 0), axes=([1], [0])), 0, axis
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

    def _rows(self, X_new):
        """Per member, tensors of the prediction rows (chunked) and φ_0(X_new).

        ``X_new`` already checked (:meth:`_check_new`).
        """
        phi0 = forward(self._params, X_new, self._arch.activation)[..., 0]
        steps = self.dt is not None
        for start in range(0, len(X_new), _ROW_CHUNK):
            part = X_new[start : start + _ROW_CHUNK]
            sl = slice(start, start + len(part))
            for m, (w, b) in enumerate(self._members()):
                rows = _member_tensors(
                    w, b, self.X, part, self._arch, 0, steps, self.order == 0
                )
                rows = self._whiten_tensors(rows, first=False)
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

        Parameters
        ----------
        time : float or array-like of shape (T,)
        X_new : array-like of shape (n_new, n_features), default=X

        Returns
        -------
        ndarray of shape (n_members, n_new, n), or (T, n_members, n_new, n).
        """
        times, scalar = self._times(time)
        if X_new is None:
            rows_iter = ((slice(None), m, t) for m, t in enumerate(self._train))
            n_new = len(self.X)
        else:
            X_new = self._check_new(X_new)
            n_new = len(X_new)
            rows_iter = ((sl, m, r) for sl, m, r, _ in self._rows(X_new))
        out = np.empty((len(times), len(self._problems), n_new, len(self.X)))
        step = None if self.dt is None else self.learning_rate * self.dt
        with np.errstate(over="ignore", invalid="ignore"):
            for sl, m, rows in rows_iter:
                if self.order == 0:
                    out[:, m, sl] = rows["ntk"]
                elif self.method == "closed_form":
                    prob = self._problems[m]
                    rows = rotate_rows(prob, rows)  # once for all times
                    for it, t in enumerate(times):
                        out[it, m, sl] = closed_form_ntk(prob, rows, t, step)
                else:
                    phi0 = np.zeros(len(rows["ntk"]))
                    ntk = self._numeric(m, rows, phi0, times)[1]
                    out[:, m, sl] = ntk[:, len(self.X) :]
        _check_finite(out, "NTK predictions")
        out = self._unwhiten(out, 3)  # the training slot
        if X_new is None:
            out = self._unwhiten(out, 2)  # the rows are training inputs too
        return out[0] if scalar else out

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


def _check_targets(y, n, n_members):
    """y as (n,) or (n_members, n) (each member's own targets, e.g. replicas)."""
    y = np.asarray(y, dtype=float)
    if y.ndim == 2 and y.shape[1] == 1 and n != 1:
        y = y[:, 0]
    if y.shape not in ((n,), (n_members, n)):
        raise ValueError(
            f"y must have shape ({n},) or (n_members, {n}) = ({n_members}, {n}), got "
            f"{y.shape}"
        )
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    return y


def _check_settings(order, learning_rate, dt, method, training):
    """The scalar arguments of :class:`FiniteWidthFlow`, checked."""
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
    """An :class:`NTKHierarchy` from the per-member tensor dicts."""
    return NTKHierarchy(**{k: np.stack([m[k] for m in members]) for k in members[0]})


def _initial_copy(ensemble, X):
    """A shallow copy of ``ensemble`` holding its members' initial parameters."""
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
