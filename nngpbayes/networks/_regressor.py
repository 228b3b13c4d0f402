"""MLPEnsembleRegressor: a scikit-learn regressor over a trained MLPEnsemble."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import (
    InvalidParameterError,
    check_generator,
    check_int,
    check_positive,
    check_real,
    resolve_n_jobs,
)
from ._ensemble import MLPEnsemble

__all__ = ["MLPEnsembleRegressor"]

_TRAINING = ("full", "readout")

# The architecture parameters handed to MLPEnsemble unchanged.
_ENSEMBLE_PARAMS = (
    "depth",
    "width",
    "activation",
    "weight_variance",
    "bias_variance",
    "weight_lr",
    "bias_lr",
    "n_members",
    "random_state",
    "n_jobs",
    "progress",
)


class MLPEnsembleRegressor(RegressorMixin, BaseEstimator):
    r"""The mean of an ensemble of finite-width networks trained by gradient descent.

    ``fit`` builds an :class:`~nngpbayes.MLPEnsemble` from the architecture
    parameters and trains every member by full-batch gradient descent on
    ``(X, y)``; ``predict`` returns the ensemble mean and, on request, the spread
    across members (m and s are the target mean and scale of ``normalize_y``;
    m = 0, s = 1 without it):

    .. math::

        \bar f(x) = m + \frac{s}{M} \sum_{i=1}^{M} φ_t^{(i)}(x),\qquad
        σ(x)^2 = \frac{s^2}{M - 1} \sum_{i=1}^{M} \Big(φ_t^{(i)}(x)
        - \frac{1}{M} \sum_{j=1}^{M} φ_t^{(j)}(x)\Big)^2.

    Each member φ^(i) starts from its own random initialisation (:ref:`theory-1`)
    and follows dθ/dt = −η λ ∇_θ L, L = ½ (f(X) − y)ᵀ C⁻¹ (f(X) − y) with
    C = ``y_cov`` · I, up to the flow time t (:ref:`theory-2`: t = k after k plain
    gradient-descent steps of step η). By default it takes ``n_steps=100`` steps
    at half the stability limit of gradient descent, a fixed cost whatever the
    scale of the data; give ``time`` to train to a flow time in the units of
    :ref:`theory-2`. As the width grows, mean and std tend to those of
    :class:`~nngpbayes.GradientFlowRegressor` at the same time.

    Parameters
    ----------
    depth, activation, weight_variance, bias_variance, weight_lr, bias_lr
        The network (see :class:`~nngpbayes.Architecture`).
    width : int or sequence of int, default=64
        Hidden widths (one value for every hidden layer, or ``depth`` values).
        Smaller than :class:`~nngpbayes.MLPEnsemble`'s 512 so that a default fit
        takes a fraction of a second on a few hundred samples (cross-validation,
        grid searches and scikit-learn's estimator checks fit many times); raise
        it to approach the infinite-width limit.
    n_members : int, default=8
        Networks in the ensemble (more members: a less noisy mean and std).
    time : float or None, default=None
        Flow time t to train to, in the units of :ref:`theory-2` (t = k after k
        plain gradient-descent steps of step η). With ``n_steps=None`` the number
        of steps is chosen by :meth:`MLPEnsemble.fit` so that every step is far
        inside the stability limit; their number grows with the largest
        eigenvalue of H C⁻¹ (H the empirical NTK), i.e. with the number and the
        scale of the inputs (and with s² / σ², see ``normalize_y``).
        ``None``: plain gradient descent, Δt = 1 (needs ``n_steps``).
    n_steps : int or None, default=100
        Gradient-descent steps, of Δt = ``time / n_steps`` each when ``time`` is
        given; ``None`` chooses them from ``time``. The default (with ``time`` and
        ``learning_rate`` left at ``None``) fixes the cost of a fit and trains
        for a flow time 100 / s_max, whatever the scale of the data.
    learning_rate : float or None, default=None
        η of the flow dθ/dt = −η λ ∇L. ``None``: 1.0 when ``time`` is given;
        otherwise half the stability limit of gradient descent, η = 1 / s_max,
        with s_max the largest eigenvalue of H C⁻¹ (H the empirical NTK of the
        members at initialisation), so the default never diverges at the start.
    y_cov : float or None, default=None
        The data variance σ² (in the units of ``y``) of the loss, C = σ² I
        (``None``: C = I), and of the replica noise. Without replicas, σ² only
        rescales time: t → t / σ².
    normalize_y : bool, default=True
        Model the targets as m + s φ(x), with m the mean of ``y`` (per output)
        and s the standard deviation of the centred targets (one scale for all
        outputs; 1 if it is 0): the networks train on (y − m) / s with the data
        covariance C / s², so the loss is the same L in the units of ``y``.
        Networks start at an O(1) scale, so targets far from it would otherwise
        push finite-width training far from its linearisation (and can make it
        diverge). ``False`` gives exactly the ensemble of
        :meth:`MLPEnsemble.fit`.
    replicas : bool, default=False
        Each member trains on its own replica y + ε, ε ~ N(0, C).
    training : {"full", "readout"}, default="full"
        Train every layer, or only the readout weights and bias.
    random_state : int, Generator, RandomState or None, default=None
        Seeds the initialisation and the replicas of the members (as in
        :class:`~nngpbayes.MLPEnsemble`); an int makes ``fit`` deterministic.
    n_jobs : int or None, default=None
        Workers over members during training, following joblib: ``None`` means 1
        (unless inside a :func:`joblib.parallel_config` context), ``-1`` all
        cores. Results do not depend on it.
    progress : bool, default=False
        Show a progress bar over gradient-descent steps.

    Attributes
    ----------
    ensemble_ : MLPEnsemble
        The trained ensemble.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when ``X`` had string column names.
    n_outputs_ : int
        Number of targets (1 for 1-D ``y``).
    y_mean_ : ndarray of shape (n_outputs_,)
        m (zeros without ``normalize_y``).
    y_scale_ : float
        s (1.0 without ``normalize_y``).
    learning_rate_ : float
        The learning rate η used.
    n_steps_ : int
        Gradient-descent steps taken.
    step_size_ : float
        The step η·Δt of each of them.

    See Also
    --------
    nngpbayes.MLPEnsemble : the ensemble itself (full covariances, empirical
        kernels, recorded training histories).
    nngpbayes.GradientFlowRegressor : the same ensemble at infinite width.

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes import MLPEnsembleRegressor
    >>> X = np.linspace(-1, 1, 20)[:, None]
    >>> y = np.sin(3 * X[:, 0])
    >>> reg = MLPEnsembleRegressor(bias_variance=0.1, random_state=0).fit(X, y)
    >>> mean, std = reg.predict(X, return_std=True)
    >>> mean.shape, std.shape
    ((20,), (20,))
    >>> reg.ensemble_.predict(X).shape  # every member, before m + s · (...)
    (8, 20)
    >>> reg.n_steps_
    100

    Training to a flow time t = 10 of :ref:`theory-2`, with the steps chosen inside
    the stability limit:

    >>> reg = MLPEnsembleRegressor(time=10.0, n_steps=None, random_state=0)
    >>> reg = reg.fit(X, y)
    >>> round(reg.n_steps_ * reg.step_size_ / reg.learning_rate_, 9)  # k Δt = t
    10.0
    """

    def __init__(
        self,
        depth=1,
        width=64,
        activation="relu",
        weight_variance=1.0,
        bias_variance=0.0,
        weight_lr=None,
        bias_lr=None,
        n_members=8,
        time=None,
        n_steps=100,
        learning_rate=None,
        y_cov=None,
        normalize_y=True,
        replicas=False,
        training="full",
        random_state=None,
        n_jobs=None,
        progress=False,
    ):
        self.depth = depth
        self.width = width
        self.activation = activation
        self.weight_variance = weight_variance
        self.bias_variance = bias_variance
        self.weight_lr = weight_lr
        self.bias_lr = bias_lr
        self.n_members = n_members
        self.time = time
        self.n_steps = n_steps
        self.learning_rate = learning_rate
        self.y_cov = y_cov
        self.normalize_y = normalize_y
        self.replicas = replicas
        self.training = training
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.progress = progress

    def fit(self, X, y):
        """Train a fresh ensemble on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For a bad parameter (naming it and its value), before any training.
        DivergenceError
            If training diverges (see :meth:`MLPEnsemble.fit`).
        """
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=np.float64
        )
        schedule = self._check_params()
        self._y_2d = y.ndim == 2
        self.y_mean_, self.y_scale_ = _target_scaling(y, self.normalize_y)
        settings, factor = self._loss_settings(schedule)
        ensemble = MLPEnsemble(**{p: getattr(self, p) for p in _ENSEMBLE_PARAMS})
        ensemble.fit(X, (y - self.y_mean_) / self.y_scale_, **settings)
        self.ensemble_ = ensemble
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        # η and η·Δt of the loss with C (undo the folding of C into η)
        self.learning_rate_ = factor * ensemble.learning_rate_
        self.step_size_ = factor * ensemble.step_size_
        self.n_steps_ = ensemble.n_steps_
        return self

    def _loss_settings(self, schedule):
        """Keywords of :meth:`MLPEnsemble.fit` for the scaled targets, and c.

        The networks see (y − m) / s, so the data covariance becomes C' = c I with
        c = σ² / s². Without replicas C' = c I only enters as η C'⁻¹ = (η / c) I
        (:ref:`theory-2`), so it is folded into the learning rate and the ensemble
        trains with C = I (symmetric eigenproblem, no Cholesky); with replicas it
        is passed on, as it also sets the replica noise.
        """
        c = (1.0 if self.y_cov is None else self.y_cov) / self.y_scale_**2
        settings = dict(schedule, replicas=self.replicas, training=self.training)
        if self.replicas or (self.y_cov is None and c == 1.0):
            return dict(settings, y_cov=None if c == 1.0 else c), 1.0
        lr = schedule["learning_rate"]
        if lr is None and schedule["time"] is not None:
            lr = 1.0  # MLPEnsemble's η when time is given
        # (lr None with n_steps alone: η = 1 / max eig(H C'⁻¹) is scale-free)
        return dict(settings, learning_rate=None if lr is None else lr / c), c

    def _check_params(self):
        """Validate the parameters this class owns.

        :class:`MLPEnsemble` checks the architecture before any training; returns
        the schedule for its ``fit``.
        """
        if self.time is None and self.n_steps is None:
            raise ValueError(
                "time and n_steps cannot both be None: give the flow time, the "
                "number of gradient-descent steps, or both"
            )
        schedule = {
            "time": _optional(self.time, check_real, "time", 0.0),
            "n_steps": _optional(self.n_steps, check_int, "n_steps", 0),
            "learning_rate": _optional(
                self.learning_rate, check_positive, "learning_rate"
            ),
        }
        check_int(self.n_members, "n_members")
        _optional(self.y_cov, check_positive, "y_cov")
        for name in ("normalize_y", "replicas", "progress"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise InvalidParameterError(
                    f"{name} must be True or False, got {getattr(self, name)!r}"
                )
        if self.training not in _TRAINING:
            raise InvalidParameterError(
                f"training must be one of {_TRAINING}, got {self.training!r}"
            )
        if not isinstance(
            self.random_state, np.random.Generator | np.random.RandomState
        ):
            check_generator(self.random_state)  # never draws from a caller's stream
        resolve_n_jobs(self.n_jobs)
        return schedule

    def predict(self, X, return_std=False):
        """Ensemble mean (and std across members) of the trained networks.

        Parameters
        ----------
        X : array-like of shape (n_test, n_features)
        return_std : bool, default=False
            Also return the sample standard deviation across members (``M − 1``
            in the denominator; needs ``n_members >= 2``).

        Returns
        -------
        mean : ndarray of shape (n_test,) or (n_test, n_outputs)
        std : ndarray of the same shape
            Only with ``return_std=True``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        members = self.ensemble_.predict(X)  # (M, n_test[, n_outputs])
        if self._y_2d and members.ndim == 2:
            members = members[..., None]
        mean = self.y_mean_.reshape(members.shape[2:]) + self.y_scale_ * members.mean(0)
        if not return_std:
            return mean
        if self.ensemble_.n_members < 2:
            raise ValueError(
                "return_std needs an ensemble of at least 2 networks, got "
                f"n_members={self.ensemble_.n_members}"
            )
        return mean, self.y_scale_ * members.std(axis=0, ddof=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def _optional(value, check, name, *args):
    """``None``, or ``value`` passed through ``check(value, name, *args)``."""
    return None if value is None else check(value, name, *args)


def _target_scaling(y, normalize):
    """Return m (per output) and s (one scale) of ``normalize_y``; (0, 1) without it."""
    n_outputs = 1 if y.ndim == 1 else y.shape[1]
    if not normalize:
        return np.zeros(n_outputs), 1.0
    mean = y.mean(axis=0).reshape(n_outputs)
    scale = float(np.sqrt(np.mean((y - y.mean(axis=0)) ** 2)))
    # a constant target has nothing to scale: s = 1 (as sklearn's scalers do)
    return mean, scale if scale > 0 else 1.0
