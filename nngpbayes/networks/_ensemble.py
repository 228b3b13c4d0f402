"""MLPEnsemble: finite-width networks in the parametrisation of THEORY.md §1."""

from __future__ import annotations

import numbers
import sys
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from .._numerics import as_covariance, cholesky_psd
from .._validation import check_inputs, check_positive, resolve_n_jobs
from ..architecture import architecture_from
from . import _mlp
from ._training import train

__all__ = ["MLPEnsemble", "StabilityWarning"]

_TRAINING = ("full", "readout")


class StabilityWarning(UserWarning):
    """A gradient-descent step is above the stability limit 2 / max eig(η H C⁻¹)."""


class MLPEnsemble(BaseEstimator):
    """An ensemble of finite-width fully-connected networks, trained by full-batch
    gradient descent, in exactly the parametrisation of the kernels (THEORY.md §1).

    The parameters of all members are stored stacked on a leading member axis and
    updated with batched matrix products. As the width grows the ensemble at
    initialisation tends to the NNGP (:class:`~nngpbayes.NNGPKernel`), the empirical
    NTK to :class:`~nngpbayes.NTKKernel`, and training to
    :class:`~nngpbayes.GradientFlowRegressor`.

    Parameters
    ----------
    depth, activation, weight_variance, bias_variance, weight_lr, bias_lr
        The network (see :class:`~nngpbayes.Architecture`).
    width : int or sequence of int, default=512
        Hidden widths (one value for every hidden layer, or ``depth`` values).
    n_members : int, default=32
        Networks in the ensemble.
    random_state : int, Generator, or None, default=None
        Seeds the members: member ``i`` draws its initialisation (and replica noise)
        from its own child of ``numpy.random.SeedSequence(random_state)``, so results
        do not depend on ``n_jobs``.
    n_jobs : int, default=None
        Members are split among workers for training: ``None`` uses one thread per
        core in this process; an integer uses that many joblib worker processes
        (``-1``: all cores). Results do not depend on it.
    progress : bool or None, default=None
        Progress bar over gradient-descent steps; ``None`` shows it on a terminal.

    Attributes
    ----------
    architecture_ : Architecture
    weights_, biases_ : lists of ndarray
        Per layer, shapes (n_members, n_(ℓ−1), n_ℓ) and (n_members, n_ℓ).
    n_features_in_, n_outputs_ : int
    history_ : dict
        After ``fit`` with ``record_times``: ``"time"`` (T,), ``"predictions"``
        (T, n_members, n_record[, n_outputs]) and optionally ``"ntk"``
        (T, n_members, n_record, n_record).
    step_size_, n_steps_ : float, int
        The gradient-descent step η·Δt and the number of steps of the last ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes import MLPEnsemble
    >>> X = np.linspace(-1, 1, 8)[:, None]
    >>> ens = MLPEnsemble(depth=1, width=256, n_members=4, random_state=0)
    >>> ens.predict(X).shape
    (4, 8)
    >>> _ = ens.fit(X, np.sin(3 * X[:, 0]), time=2.0, n_steps=200, progress=False)
    """

    def __init__(
        self,
        depth=1,
        width=512,
        activation="relu",
        weight_variance=1.0,
        bias_variance=0.0,
        weight_lr=None,
        bias_lr=None,
        n_members=32,
        random_state=None,
        n_jobs=None,
        progress=None,
    ):
        self.depth = depth
        self.width = width
        self.activation = activation
        self.weight_variance = weight_variance
        self.bias_variance = bias_variance
        self.weight_lr = weight_lr
        self.bias_lr = bias_lr
        self.n_members = n_members
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    # -- set-up --------------------------------------------------------------------
    @classmethod
    def from_architecture(cls, architecture, **kwargs):
        """An ensemble of ``architecture`` (other parameters as keywords)."""
        a = architecture
        return cls(
            depth=a.depth,
            activation=a.activation,
            weight_variance=a.weight_variance,
            bias_variance=a.bias_variance,
            weight_lr=a.weight_lr,
            bias_lr=a.bias_lr,
            **kwargs,
        )

    def _hidden_widths(self, depth):
        w = np.atleast_1d(np.asarray(self.width))
        if w.ndim != 1 or (w.size not in (1, depth) and depth > 0):
            raise ValueError(
                f"width must be an integer or {depth} integers (one per hidden "
                f"layer), got {self.width!r}"
            )
        if not all(isinstance(x, numbers.Integral) or float(x).is_integer() for x in w):
            raise ValueError(f"width must hold integers, got {self.width!r}")
        if np.any(w < 1):
            raise ValueError(f"width must be >= 1, got {self.width!r}")
        return [int(x) for x in np.broadcast_to(w, (depth,))] if depth else []

    def initialize(self, n_features, n_outputs=1):
        """Draw the initial parameters (called by ``fit`` and on first use).

        Parameters
        ----------
        n_features : int
        n_outputs : int, default=1

        Returns
        -------
        self
        """
        if not isinstance(self.n_members, numbers.Integral) or self.n_members < 1:
            raise ValueError(
                f"n_members must be an integer >= 1, got {self.n_members!r}"
            )
        arch = architecture_from(self)
        self.architecture_ = arch
        self.sizes_ = (
            [int(n_features)] + self._hidden_widths(arch.depth) + [int(n_outputs)]
        )
        self.n_features_in_, self.n_outputs_ = int(n_features), int(n_outputs)
        self._seeds = _member_seeds(self.random_state, self.n_members)
        gens = [np.random.default_rng(s) for s in self._seeds]
        self.weights_, self.biases_ = _mlp.init_params(arch, self.sizes_, gens)
        self._replica_gens = gens  # continue the member streams for replica noise
        return self

    def _ensure_initialized(self, X):
        if not hasattr(self, "weights_"):
            self.initialize(X.shape[1])
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but the ensemble was built for "
                f"{self.n_features_in_}"
            )

    # -- training --------------------------------------------------------------------
    def fit(
        self,
        X,
        y,
        time=None,
        learning_rate=1.0,
        n_steps=None,
        y_cov=None,
        replicas=False,
        training="full",
        record_times=None,
        record_X=None,
        record_ntk=False,
    ):
        """Train every member by full-batch gradient descent (THEORY.md §2).

        ``n_steps`` steps of size Δt = ``time / n_steps`` follow the gradient flow
        dθ/dt = −η λ ∇L to ``time``; with ``n_steps`` alone they are plain gradient
        descent with step η (Δt = 1, so ``time = n_steps``); with ``time`` alone
        the number of steps is chosen so that η Δt · max eig(H C⁻¹) <= 0.05.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        time : float, optional
            Flow time to train to.
        learning_rate : float, default=1.0
            η.
        n_steps : int, optional
        y_cov : float, array-like of shape (n_samples,) or (n_samples, n_samples)
            C of the loss ½(φ − y)ᵀC⁻¹(φ − y) and of the replicas (default I).
        replicas : bool, default=False
            Each member trains on its own level-2 replica y + ε, ε ~ N(0, C).
        training : {"full", "readout"}, default="full"
            Train every layer, or only the readout weights and bias.
        record_times : array-like of float, optional
            Flow times (0 allowed) at which to store predictions in ``history_``.
        record_X : array-like of shape (n_record, n_features), default=X
            Inputs for the recorded predictions.
        record_ntk : bool, default=False
            Also record the empirical NTK on ``record_X``.

        Returns
        -------
        self
        """
        X = check_inputs(X)
        y = _check_targets(y, len(X))
        if training not in _TRAINING:
            raise ValueError(f"training must be one of {_TRAINING}, got {training!r}")
        check_positive(learning_rate, "learning_rate")
        self.initialize(X.shape[1], y.shape[1])
        chol = (
            None
            if y_cov is None
            else cholesky_psd(as_covariance(y_cov, len(X), "y_cov"), "y_cov")
        )
        cinv = None if chol is None else _inverse_from_cholesky(chol)
        dt, n_steps = self._schedule(X, time, learning_rate, n_steps, cinv)
        targets = np.broadcast_to(y, (self.n_members,) + y.shape).copy()
        if replicas:
            noise = np.stack([g.standard_normal(y.shape) for g in self._replica_gens])
            targets += noise if chol is None else np.matmul(chol, noise)
        trainable = [
            training == "full" or layer == self.architecture_.depth
            for layer in range(self.architecture_.n_layers)
        ]
        record = self._record_plan(record_times, record_X, record_ntk, dt, n_steps, X)
        history = self._train(
            X, targets, cinv, learning_rate * dt, n_steps, trainable, record
        )
        self.step_size_, self.n_steps_ = learning_rate * dt, n_steps
        self.history_ = {"time": record["times"]} if record else {}
        for key, value in history.items():
            value = np.concatenate(value, axis=1)
            self.history_[key] = (
                value[..., 0]
                if key == "predictions" and (self.n_outputs_ == 1)
                else value
            )
        return self

    def _schedule(self, X, time, learning_rate, n_steps, cinv):
        """Δt and the number of steps; warns above the stability limit."""
        if time is None and n_steps is None:
            raise ValueError("give time, n_steps or both")
        if n_steps is not None and (
            not isinstance(n_steps, numbers.Integral) or n_steps < 0
        ):
            raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}")
        if time is not None and (
            not isinstance(time, numbers.Real) or not np.isfinite(time) or time < 0
        ):
            raise ValueError(f"time must be a finite number >= 0, got {time!r}")
        s_max = self._max_flow_eigenvalue(X, cinv)
        if n_steps is None:
            n_steps = max(1, int(np.ceil(time * learning_rate * s_max / 0.05)))
        dt = 1.0 if time is None else (time / n_steps if n_steps else 0.0)
        if learning_rate * dt * s_max >= 2.0:
            limit = 2.0 / (dt * s_max)
            warnings.warn(
                f"learning_rate={learning_rate:.4g} with time step {dt:.4g} is above "
                "the stability limit of gradient descent: learning_rate * dt must "
                f"stay below 2 / max eig(H C⁻¹) = {2.0 / s_max:.4g} (the largest "
                f"eigenvalue of the members' empirical NTK is {s_max:.4g}), i.e. "
                f"learning_rate < {limit:.4g}; training will diverge",
                StabilityWarning,
                stacklevel=3,
            )
        return dt, int(n_steps)

    def _max_flow_eigenvalue(self, X, cinv):
        h = _mlp.empirical_ntk(
            self._params(), X, None, self.architecture_.activation, self.architecture_
        )
        if cinv is None:
            return float(np.max(np.linalg.eigvalsh(h)))
        # eig(H C⁻¹) = eig(L⁻¹ H L⁻ᵀ): symmetric, real (C = L Lᵀ)
        return float(np.max(np.abs(np.linalg.eigvals(np.matmul(h, cinv)))))

    def max_flow_eigenvalue(self, X, y_cov=None):
        """Largest eigenvalue of H C⁻¹ over members (H the empirical NTK at ``X``).

        Gradient descent with step η·Δt is stable below 2 / this value.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y_cov : float, array-like of shape (n_samples,) or (n_samples, n_samples)
            C (default the identity).
        """
        X = check_inputs(X)
        self._ensure_initialized(X)
        chol = (
            None
            if y_cov is None
            else cholesky_psd(as_covariance(y_cov, len(X), "y_cov"), "y_cov")
        )
        cinv = None if chol is None else _inverse_from_cholesky(chol)
        return self._max_flow_eigenvalue(X, cinv)

    def _record_plan(self, record_times, record_X, record_ntk, dt, n_steps, X):
        if record_times is None:
            return None
        times = np.atleast_1d(np.asarray(record_times, dtype=float))
        total = dt * n_steps
        if (
            times.ndim != 1
            or np.any(~np.isfinite(times))
            or np.any(times < 0)
            or (np.any(times > total * (1 + 1e-12)))
        ):
            raise ValueError(
                f"record_times must be finite times in [0, {total:.6g}] (the training "
                f"time), got {record_times!r}"
            )
        steps = (
            np.round(times / dt).astype(int) if dt > 0 else np.zeros(len(times), int)
        )
        rec_X = X if record_X is None else check_inputs(record_X, "record_X")
        if rec_X.shape[1] != X.shape[1]:
            raise ValueError("record_X must have the same n_features as X")
        order = np.argsort(steps, kind="stable")
        return {
            "steps": steps[order],
            "times": steps[order] * dt,
            "X": rec_X,
            "ntk": bool(record_ntk),
        }

    def _train(self, X, targets, cinv, step, n_steps, trainable, record):
        """Train member chunks side by side: threads in this process by default
        (NumPy releases the GIL in the matrix products), worker processes when
        ``n_jobs`` is given. Members are independent, so the split changes nothing.
        """
        threads = self.n_jobs is None
        n_workers = resolve_n_jobs(self.n_jobs, self.n_members)
        bounds = np.linspace(0, self.n_members, n_workers + 1).round().astype(int)
        chunks = [
            slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a
        ]
        show = _show_progress(self.progress)
        # contiguous member slices: views that threads update in place
        jobs = [
            delayed(_train_chunk)(
                [w[c] for w in self.weights_],
                [b[c] for b in self.biases_],
                X,
                targets[c],
                cinv,
                self.architecture_,
                step,
                n_steps,
                trainable,
                record,
                show and i == 0 and (threads or len(chunks) == 1),
            )
            for i, c in enumerate(chunks)
        ]
        if len(jobs) == 1:
            results = [jobs[0][0](*jobs[0][1], **jobs[0][2])]
        elif threads:
            with threadpool_limits(1, user_api="blas"):
                results = Parallel(n_jobs=len(jobs), backend="threading")(jobs)
        else:
            results = Parallel(n_jobs=len(jobs))(jobs)
        if not threads and len(jobs) > 1:  # worker processes trained copies
            for c, (weights, biases, _) in zip(chunks, results, strict=True):
                for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
                    self.weights_[layer][c] = w
                    self.biases_[layer][c] = b
        keys = results[0][2].keys()
        return {key: [r[2][key] for r in results] for key in keys}

    # -- evaluation ------------------------------------------------------------------
    def predict(self, X):
        """Outputs of every member.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_members, n_samples), or (n_members, n_samples,
        n_outputs) when there are several outputs.
        """
        X = check_inputs(X)
        self._ensure_initialized(X)
        out = _mlp.forward(self._params(), X, self.architecture_.activation)
        return out[..., 0] if self.n_outputs_ == 1 else out

    def empirical_ntk(self, X1, X2=None, output=0):
        """The empirical NTK H(x, x') = Σ_μ λ_μ ∂_μφ(x) ∂_μφ(x') of every member.

        Computed layer by layer from forward activations and backward signals,
        without forming the Jacobian (THEORY.md §1, §5).

        Parameters
        ----------
        X1 : array-like of shape (n1, n_features)
        X2 : array-like of shape (n2, n_features), default=None (X1)
        output : int, default=0
            Which output unit.

        Returns
        -------
        ndarray of shape (n_members, n1, n2)
        """
        X1 = check_inputs(X1, "X1")
        self._ensure_initialized(X1)
        X2 = None if X2 is None else check_inputs(X2, "X2")
        if X2 is not None:
            self._ensure_initialized(X2)
        self._check_output(output)
        return _mlp.empirical_ntk(
            self._params(),
            X1,
            X2,
            self.architecture_.activation,
            self.architecture_,
            output,
        )

    def empirical_nngp(self, X1, X2=None):
        """Covariance over members of the outputs, shape (n1, n2).

        The sample covariance (about the ensemble mean, ``n_members − 1`` in the
        denominator), averaged over output units; at initialisation it estimates
        the NNGP kernel.
        """
        f1 = self._outputs(X1)
        f2 = f1 if X2 is None else self._outputs(X2)
        if self.n_members < 2:
            raise ValueError("empirical_nngp needs n_members >= 2")
        d1, d2 = f1 - f1.mean(0), f2 - f2.mean(0)
        return np.einsum("mio,mjo->ij", d1, d2) / ((self.n_members - 1) * d1.shape[-1])

    def jacobian(self, X, output=0):
        """∂φ(x)/∂θ of every member, shape (n_members, n_samples, n_parameters).

        For small networks. :meth:`parameter_lr` gives λ in the same order, so
        ``J @ (λ[:, None] * J.T)`` is the empirical NTK.
        """
        X = check_inputs(X)
        self._ensure_initialized(X)
        self._check_output(output)
        return _mlp.jacobian(self._params(), X, self.architecture_.activation, output)

    def parameter_lr(self):
        """λ per parameter in the order of :meth:`jacobian`, shape (n_parameters,)."""
        return _mlp.lr_vector(self.architecture_, self.sizes_)

    def _outputs(self, X):
        out = self.predict(X)
        return out[..., None] if out.ndim == 2 else out

    def _params(self):
        return self.weights_, self.biases_

    def _check_output(self, output):
        if (
            not isinstance(output, numbers.Integral)
            or not 0 <= output < self.n_outputs_
        ):
            raise ValueError(
                f"output must be an integer in [0, {self.n_outputs_}), got {output!r}"
            )


def _train_chunk(
    weights, biases, X, targets, cinv, arch, step, n_steps, trainable, record, progress
):
    history = train(
        (weights, biases),
        X,
        targets,
        cinv,
        arch,
        step,
        n_steps,
        trainable,
        record,
        progress,
    )
    return weights, biases, history


def _member_seeds(random_state, n_members):
    """One independent SeedSequence per member."""
    if isinstance(random_state, np.random.Generator):
        entropy = int(random_state.integers(0, 2**63 - 1))
    elif isinstance(random_state, np.random.RandomState):
        entropy = int(random_state.randint(0, 2**31 - 1))
    elif random_state is None or isinstance(random_state, numbers.Integral):
        entropy = random_state
    else:
        raise ValueError(
            f"random_state must be None, an int or a numpy Generator, got "
            f"{random_state!r}"
        )
    return np.random.SeedSequence(entropy).spawn(n_members)


def _check_targets(y, n):
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) or ({n}, n_outputs), got {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    return y


def _inverse_from_cholesky(chol):
    eye = np.eye(len(chol))
    inv = np.linalg.solve(chol.T, np.linalg.solve(chol, eye))
    return 0.5 * (inv + inv.T)


def _show_progress(progress):
    if progress is None:
        return sys.stderr.isatty()
    return bool(progress)
