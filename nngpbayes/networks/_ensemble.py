"""MLPEnsemble: finite-width networks in the parametrisation of :ref:`theory-1`."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from .._validation import (
    check_forward_map,
    check_inputs,
    check_int,
    resolve_n_jobs,
)
from ..architecture import architecture_from
from . import _mlp
from ._inputs import (
    TRAINING,
    check_schedule,
    check_targets,
    data_precision,
    hidden_widths,
    member_seeds,
    record_plan,
)
from ._parallel import show_progress, train_members
from ._schedule import (
    DivergenceError,
    StabilityWarning,
    divergence_error,
    max_flow_eigenvalue,
    schedule,
)
from ._training import NonFiniteStep

__all__ = ["DivergenceError", "MLPEnsemble", "StabilityWarning"]


class MLPEnsemble(BaseEstimator):
    """An ensemble of finite-width fully-connected networks.

    Trained by full-batch gradient descent, in exactly the parametrisation of the
    kernels (:ref:`theory-1`).

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
    random_state : int, Generator, RandomState or None, default=None
        Seeds the members: member ``i`` draws its initialisation (and replica noise)
        from its own child of the seed sequence of ``random_state`` (for an int,
        ``numpy.random.SeedSequence(random_state).spawn(n_members)[i]``), so
        results do not depend on ``n_jobs`` and the first members of a larger
        ensemble equal a smaller one.
    n_jobs : int or None, default=None
        Workers that train chunks of members side by side, following joblib:
        ``None`` means 1 (unless inside a :func:`joblib.parallel_config` context),
        ``-1`` all cores. Workers are threads by default (``prefer="threads"``);
        ``joblib.parallel_config(backend=...)`` may choose processes, Dask or Ray.
        Results are bitwise identical for any ``n_jobs``.
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
    learning_rate_, step_size_, n_steps_ : float, float, int
        The learning rate η actually used (see ``fit``'s ``learning_rate=None``),
        the gradient-descent step η·Δt and the number of steps of the last ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes import MLPEnsemble
    >>> X = np.linspace(-1, 1, 8)[:, None]
    >>> ens = MLPEnsemble(depth=1, width=256, n_members=4, random_state=0)
    >>> ens.predict(X).shape
    (4, 8)
    >>> _ = ens.fit(X, np.sin(3 * X[:, 0]), time=2.0, n_steps=200)
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
        """Build an ensemble of ``architecture`` (other parameters as keywords)."""
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

    def initialize(self, n_features, n_outputs=1):
        """Draw the initial parameters (called by ``fit`` and on first use).

        Member ``i`` draws from its own child of the seed sequence of
        ``random_state`` (see :func:`~nngpbayes._validation.check_generator`).

        Parameters
        ----------
        n_features : int
        n_outputs : int, default=1

        Returns
        -------
        self
        """
        n_features = check_int(n_features, "n_features")
        n_outputs = check_int(n_outputs, "n_outputs")
        n_members = check_int(self.n_members, "n_members")
        arch = architecture_from(self)
        widths = hidden_widths(self.width, arch.depth)
        seeds = member_seeds(self.random_state, n_members)
        self.architecture_ = arch
        self.sizes_ = [n_features] + widths + [n_outputs]
        self.n_features_in_, self.n_outputs_ = n_features, n_outputs
        self._seeds = seeds
        gens = [np.random.default_rng(s) for s in seeds]
        self.weights_, self.biases_ = _mlp.init_params(arch, self.sizes_, gens)
        self._replica_gens = gens  # continue the member streams for replica noise
        return self

    def ensure_initialized(self, X, name="X"):
        """Initialise for ``X``'s number of features if not yet done; validate ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        name : str, default="X"
            The argument's name in error messages.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            ``X`` as a validated float64 array.

        Raises
        ------
        ValueError
            If ``X`` is not a finite 2-D array, or its number of features differs
            from the one the ensemble was built for.
        """
        X = check_inputs(X, name)
        if not hasattr(self, "weights_"):
            self.initialize(X.shape[1])
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but the ensemble was built for "
                f"{self.n_features_in_}"
            )
        return X

    def initial_parameters(self):
        """Return the members' initial parameters, re-drawn from their per-member seeds.

        Returns
        -------
        weights, biases : lists of ndarray
            Per layer, shapes (n_members, n_(ℓ−1), n_ℓ) and (n_members, n_ℓ): the
            parameters :meth:`initialize` drew (whatever training did since).

        Raises
        ------
        AttributeError
            If the ensemble has not been initialised.
        """
        if not hasattr(self, "weights_"):
            raise AttributeError(
                "the ensemble is not initialised: call initialize, fit or predict"
            )
        gens = [np.random.default_rng(s) for s in self._seeds]
        return _mlp.init_params(self.architecture_, self.sizes_, gens)

    # -- training --------------------------------------------------------------------
    def fit(
        self,
        X,
        y,
        time=None,
        learning_rate=None,
        n_steps=None,
        y_cov=None,
        replicas=False,
        training="full",
        record_times=None,
        record_X=None,
        record_ntk=False,
        forward_map=None,
    ):
        """Train every member by full-batch gradient descent (:ref:`theory-2`).

        The loss is ½(Fφ(X) − y)ᵀC⁻¹(Fφ(X) − y): the networks are evaluated on the
        grid inputs ``X`` and seen through the linear forward map F (an FK table,
        ``forward_map``; the identity by default), the data y and their covariance
        C live in data space.

        ``n_steps`` steps of size Δt = ``time / n_steps`` follow the gradient flow
        dθ/dt = −η λ ∇L to ``time``; with ``n_steps`` alone they are plain gradient
        descent with step η (Δt = 1, so ``time = n_steps``); with ``time`` alone
        the number of steps is chosen so that η Δt · max eig(F H Fᵀ C⁻¹) <= 0.05.

        Gradient descent is stable only while η Δt · max eig(F H Fᵀ C⁻¹) < 2 (H
        the members' empirical NTK on ``X`` at initialisation, max over members,
        the largest eigenvalue of C^(−1/2) F H Fᵀ C^(−1/2)): a step above
        this limit warns (:class:`StabilityWarning`), and training that reaches
        NaN or infinite predictions stops at once with a :class:`DivergenceError`
        (a ``FloatingPointError``) naming the step, the limit and the fix.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The inputs the networks are evaluated on (the grid, with a forward map).
        y : array-like of shape (n_data,) or (n_data, n_outputs)
            The data; n_data = n_samples without a forward map.
        time : float, optional
            Flow time to train to.
        learning_rate : float or None, default=None
            η. ``None``: 1.0 when ``time`` is given (the flow's own time units);
            with ``n_steps`` alone, half the stability limit, η = 1 / max eig(F H
            Fᵀ C⁻¹), so the default never diverges at initialisation.
        n_steps : int, optional
        y_cov : float, array-like of shape (n_data,) or (n_data, n_data)
            C of the loss ½(Fφ − y)ᵀC⁻¹(Fφ − y) and of the replicas (default I).
        replicas : bool, default=False
            Each member trains on its own level-2 replica y + L z, z ~ N(0, I)
            drawn from the member's own stream (C = L Lᵀ).
        training : {"full", "readout"}, default="full"
            Train every layer, or only the readout weights and bias.
        record_times : array-like of float, optional
            Flow times (0 allowed) at which to store predictions in ``history_``.
        record_X : array-like of shape (n_record, n_features), default=X
            Inputs for the recorded predictions.
        record_ntk : bool, default=False
            Also record the empirical NTK on ``record_X``.
        forward_map : array-like of shape (n_data, n_samples), default=None
            F of y = F φ(X); ``None`` is the identity (and trains exactly as
            without the argument). Predictions and recorded history stay on the
            network's inputs (``X``, ``record_X``); the targets, replicas and
            ``y_cov`` are in data space.

        Returns
        -------
        self

        Raises
        ------
        DivergenceError
            If the predictions become NaN or infinite during training.
        """
        X = check_inputs(X)
        F = check_forward_map(forward_map, len(X))
        n_data = len(X) if F is None else len(F)
        y = check_targets(y, n_data)
        if training not in TRAINING:
            raise ValueError(f"training must be one of {TRAINING}, got {training!r}")
        time, learning_rate, n_steps = check_schedule(time, learning_rate, n_steps)
        resolve_n_jobs(self.n_jobs)  # checks n_jobs before any work
        chol, cinv = data_precision(y_cov, n_data)
        self.initialize(X.shape[1], y.shape[1])
        s_max = max_flow_eigenvalue(self._params(), X, self.architecture_, cinv, F)
        lr, dt, n_steps = schedule(s_max, time, learning_rate, n_steps)
        record = record_plan(record_times, record_X, record_ntk, X, dt, n_steps)
        targets = self._targets(y, chol, replicas)
        loss = cinv
        if F is not None:  # ∂L/∂φ = P φ − b, P = Fᵀ C⁻¹ F, b = Fᵀ C⁻¹ y
            ft_cinv = F.T if cinv is None else F.T @ cinv
            precision = ft_cinv @ F
            loss = ("mapped", 0.5 * (precision + precision.T))
            targets = np.matmul(ft_cinv, targets)
        depth = self.architecture_.depth
        trainable = [training == "full" or layer == depth for layer in range(depth + 1)]
        settings = (loss, self.architecture_, lr * dt, n_steps, trainable, record)
        try:
            history = train_members(
                self._params(),
                X,
                targets,
                settings,
                n_jobs=self.n_jobs,
                progress=show_progress(self.progress),
            )
        except NonFiniteStep as exc:
            raise divergence_error(exc.step, n_steps, lr, dt, s_max) from None
        self.learning_rate_, self.step_size_, self.n_steps_ = lr, lr * dt, n_steps
        self.history_ = self._history(record, history)
        return self

    def _targets(self, y, chol, replicas):
        """Return each member's targets (M, n, n_outputs).

        These are y, or y + L z with the member's own z ~ N(0, I) (streams continue
        those of the initialisation).
        """
        targets = np.broadcast_to(y, (self.n_members,) + y.shape).copy()
        if replicas:
            noise = np.stack([g.standard_normal(y.shape) for g in self._replica_gens])
            targets += noise if chol is None else np.matmul(chol, noise)
        return targets

    def _history(self, record, history):
        out = {"time": record["times"]} if record else {}
        for key, value in history.items():
            value = np.concatenate(value, axis=1)
            single = key == "predictions" and self.n_outputs_ == 1
            out[key] = value[..., 0] if single else value
        return out

    def max_flow_eigenvalue(self, X, y_cov=None, forward_map=None):
        """Return the largest eigenvalue of F H Fᵀ C⁻¹ over members.

        H is the empirical NTK at ``X``; this is also the largest eigenvalue of
        C^(−1/2) F H Fᵀ C^(−1/2).

        Gradient descent with step η·Δt is stable below 2 / this value.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y_cov : float, array-like of shape (n_data,) or (n_data, n_data)
            C (default the identity).
        forward_map : array-like of shape (n_data, n_samples), default=None
            F (default the identity).

        Returns
        -------
        float
        """
        X = self.ensure_initialized(X)
        F = check_forward_map(forward_map, len(X))
        _, cinv = data_precision(y_cov, len(X) if F is None else len(F))
        return max_flow_eigenvalue(self._params(), X, self.architecture_, cinv, F)

    # -- evaluation ------------------------------------------------------------------
    def predict(self, X):
        """Return the outputs of every member.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_members, n_samples), or (n_members, n_samples,
        n_outputs) when there are several outputs.
        """
        X = self.ensure_initialized(X)
        out = _mlp.forward(self._params(), X, self.architecture_.activation)
        return out[..., 0] if self.n_outputs_ == 1 else out

    def empirical_ntk(self, X1, X2=None, output=0):
        """Compute every member's empirical NTK H(x, x') = Σ_μ λ_μ ∂_μφ(x) ∂_μφ(x').

        Computed layer by layer from forward activations and backward signals,
        without forming the Jacobian (:ref:`theory-1`, :ref:`theory-5`).

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
        X1 = self.ensure_initialized(X1, "X1")
        X2 = None if X2 is None else self.ensure_initialized(X2, "X2")
        output = self.check_output(output)
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
        X = self.ensure_initialized(X)
        output = self.check_output(output)
        return _mlp.jacobian(self._params(), X, self.architecture_.activation, output)

    def parameter_lr(self):
        """λ per parameter in the order of :meth:`jacobian`, shape (n_parameters,)."""
        return _mlp.lr_vector(self.architecture_, self.sizes_)

    def _outputs(self, X):
        out = self.predict(X)
        return out[..., None] if out.ndim == 2 else out

    def _params(self):
        return self.weights_, self.biases_

    def check_output(self, output):
        """``output`` as an int after checking it indexes an output unit.

        Raises
        ------
        InvalidParameterError
            (a ``ValueError``) unless ``output`` is an integer in [0, n_outputs_).
        """
        return check_int(output, "output", min_val=0, max_val=self.n_outputs_ - 1)
