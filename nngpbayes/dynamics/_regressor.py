"""GradientFlowRegressor: the analytic ensemble of trained infinite-width networks."""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._numerics import as_covariance, cholesky_psd
from .._threads import blas_threads_for
from .._validation import (
    InvalidParameterError,
    check_generator,
    check_int,
    check_positive,
    resolve_n_jobs,
)
from ..architecture import architecture_from
from ..kernels import nngp_ntk
from ._checks import check_part, check_times
from ._linear_flow import LinearFlow

__all__ = ["GradientFlowRegressor"]

_TRAINING = ("full", "readout")


class GradientFlowRegressor(RegressorMixin, BaseEstimator):
    r"""The ensemble of infinitely wide networks trained by gradient descent, at time t.

    At infinite width every network evolves as its linearisation,
    φ_t = φ_0 + B_t (y − φ_0(X)), so the ensemble over initialisations is Gaussian at
    every training time (:ref:`theory-4`, Lee et al. 2019):

    .. math::

        \text{mean}_t(x) = Θ_{xX} Θ^{-1}(I - e^{-ηΘt}) y,\qquad
        \text{cov}_t = K_{**} - B_t K_{X*} - K_{*X} B_t^T + B_t K B_t^T

    (with the data covariance C of the loss, ½(φ − y)ᵀC⁻¹(φ − y), in the general
    form of :ref:`theory-4`).

    Parameters
    ----------
    depth, activation, weight_variance, bias_variance, weight_lr, bias_lr
        The network (see :class:`~nngpbayes.Architecture`).
    learning_rate : float, default=1.0
        η of the flow dθ/dt = −η λ ∇L (:ref:`theory-2`).
    time : float, default=np.inf
        Training time used when ``predict`` gets no ``time``; with ``discrete`` it
        counts gradient-descent steps.
    training : {"full", "readout"}, default="full"
        Train every layer (NTK Θ) or only the readout (Θ_ro = λ_b + λ_W T[K^(L−1)],
        which is the NNGP kernel when λ = C).
    discrete : bool, default=False
        Full-batch gradient descent with step η instead of the continuous flow.
    replicas : bool, default=False
        Each network trains on its own Monte Carlo replica y + ε, ε ~ N(0, y_cov):
        the covariance gains B C Bᵀ (the "data" part).
    rcond : float, default=None
        Regularisation (> 0) of the t = ∞ filter for singular kernels (see
        :class:`~nngpbayes.dynamics.LinearFlow`).
    n_jobs : int, default=None
        Threads for the kernels, following joblib: ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context; ``-1`` means all cores. Results
        do not depend on it. Independently of it, small problems (fewer than
        about 512 training points; see :mod:`nngpbayes._threads`) run their
        linear algebra on one BLAS thread, which idle threads would only slow
        down.

    Attributes
    ----------
    architecture_ : Architecture
    flow_ : LinearFlow
        The spectral solution, reusable at any time.
    eigenvalues_ : ndarray of shape (n_samples,)
        Eigenvalues s of the whitened flow operator C^(−1/2) Θ C^(−1/2), descending.
    eigenvectors_ : ndarray of shape (n_samples, n_samples)
    timescales_ : ndarray of shape (n_samples,)
        1/(η s): the time after which each mode is learned to 1/e.
    data_projection_ : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        The whitened data on each mode.
    max_stable_learning_rate_ : float
        2 / max(s), the largest stable η for discrete gradient descent.
    X_train_ : ndarray of shape (n_samples, n_features)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from nngpbayes import GradientFlowRegressor
    >>> X = np.linspace(-1, 1, 20)[:, None]
    >>> y = np.sin(3 * X[:, 0])
    >>> reg = GradientFlowRegressor(depth=2, bias_variance=0.1).fit(X, y)
    >>> mean, std = reg.predict(X, time=[1.0, 10.0, np.inf], return_std=True)
    >>> mean.shape
    (3, 20)
    """

    def __init__(
        self,
        depth=1,
        activation="relu",
        weight_variance=1.0,
        bias_variance=0.0,
        weight_lr=None,
        bias_lr=None,
        learning_rate=1.0,
        time=np.inf,
        training="full",
        discrete=False,
        replicas=False,
        rcond=None,
        n_jobs=None,
    ):
        self.depth = depth
        self.activation = activation
        self.weight_variance = weight_variance
        self.bias_variance = bias_variance
        self.weight_lr = weight_lr
        self.bias_lr = bias_lr
        self.learning_rate = learning_rate
        self.time = time
        self.training = training
        self.discrete = discrete
        self.replicas = replicas
        self.rcond = rcond
        self.n_jobs = n_jobs

    # -- fitting -------------------------------------------------------------------
    def fit(self, X, y, y_cov=None):
        """Compute the kernels and the eigendecomposition of the flow operator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        y_cov : float, array-like of shape (n_samples,) or (n_samples, n_samples)
            The data covariance C in the loss (and of the replicas); ``None`` is the
            identity (:ref:`theory-2`).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Bad parameters or data (naming the argument and the value, checked
            before the kernels are computed), a ``y_cov`` that is not positive
            definite, or an NTK that is identically zero on ``X`` (all-zero inputs
            with ``bias_variance=0``: nothing can train).
        """
        X, y = validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=np.float64
        )
        self._check_params()
        arch = architecture_from(self)
        if y_cov is not None:  # shape and symmetry now, before the kernels
            y_cov = as_covariance(y_cov, len(X), "y_cov")
        with blas_threads_for(float(len(X)) ** 3):
            # one pass gives K and the NTK of the trained parameters (K ignores λ)
            k, th = nngp_ntk(X, architecture=self._trained(arch), n_jobs=self.n_jobs)
            if not np.any(th):
                raise ValueError(_zero_ntk_message(X, arch))
            self.architecture_ = arch
            self.X_train_ = X
            self.flow_ = LinearFlow(
                th,
                k,
                y,
                data_cov=y_cov,
                learning_rate=self.learning_rate,
                discrete=self.discrete,
                rcond=self.rcond,
                cov_name="y_cov",
            )
        self.eigenvalues_ = self.flow_.eigenvalues
        self.eigenvectors_ = self.flow_.eigenvectors
        self.data_projection_ = self.flow_.data_projection
        self.timescales_ = self.flow_.timescales
        self.max_stable_learning_rate_ = self.flow_.max_stable_learning_rate
        return self

    def _check_params(self):
        """Every constructor argument, before any kernel is computed."""
        if self.training not in _TRAINING:
            raise InvalidParameterError(
                f"training must be one of {_TRAINING}, got {self.training!r}"
            )
        check_positive(self.learning_rate, "learning_rate")
        check_times(self.time, self.discrete)
        for name in ("discrete", "replicas"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise InvalidParameterError(
                    f"{name} must be True or False, got {getattr(self, name)!r}"
                )
        if self.rcond is not None:
            check_positive(self.rcond, "rcond")
        resolve_n_jobs(self.n_jobs)

    def _trained(self, arch):
        """Return the architecture whose NTK drives training.

        For ``"readout"`` every hidden learning rate is 0, so Θ = Θ_ro
        (:ref:`theory-3`); K is unchanged.
        """
        if self.training == "full":
            return arch
        lw, lb = np.zeros(arch.n_layers), np.zeros(arch.n_layers)
        lw[-1], lb[-1] = arch.weight_lr[-1], arch.bias_lr[-1]
        return arch.replace(weight_lr=lw, bias_lr=lb)

    def _blas_threads(self, n_test):
        """One BLAS thread for a small prediction (:mod:`nngpbayes._threads`).

        The work is that of the largest product, n_test · n · max(n, n_test).
        """
        n = len(self.X_train_)
        return blas_threads_for(float(n_test) * n * max(n, n_test))

    def _test_kernels(self, X, want):
        """Θ(X, X_train), K(X, X_train) and K(X, X) (diagonal for std)."""
        arch = self.architecture_
        k_cross, th_cross = nngp_ntk(
            X, self.X_train_, architecture=self._trained(arch), n_jobs=self.n_jobs
        )
        k_self = None
        if want == "cov":
            k_self = nngp_ntk(X, architecture=arch, ntk=False, n_jobs=self.n_jobs).nngp
        elif want == "std":
            k_self = nngp_ntk(X, architecture=arch, diag=True, ntk=False).nngp
        return th_cross, k_cross, k_self

    # -- predictions ---------------------------------------------------------------
    def predict(self, X, time=None, return_std=False, return_cov=False, part="total"):
        """Mean (and std or covariance) of the trained ensemble at ``time``.

        Parameters
        ----------
        X : array-like of shape (n_test, n_features)
        time : float or array-like of shape (n_times,), default=None
            ``None`` uses the ``time`` parameter; ``np.inf`` allowed. An array gives
            results with a leading time axis, from the one eigendecomposition.
        return_std, return_cov : bool, default=False
            Also return the standard deviation or the covariance over networks.
        part : {"total", "prior", "data"}, default="total"
            The whole covariance, the part propagated from the random
            initialisation, or the part from the replica noise (:ref:`theory-4`).

        Returns
        -------
        mean : ndarray of shape ([n_times,] n_test[, n_outputs])
        std : ndarray of shape ([n_times,] n_test[, n_outputs]), optional
        cov : ndarray of shape ([n_times,] n_test, n_test[, n_outputs]), optional
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        time = self.time if time is None else time
        check_times(time, self.discrete)
        want = "cov" if return_cov else "std" if return_std else None
        if return_std and return_cov:
            raise ValueError("at most one of return_std and return_cov can be True")
        check_part(part)
        with self._blas_threads(len(X)):
            th, k, kss = self._test_kernels(X, want)
            out = self.flow_.predict(
                th,
                k,
                kss,
                time,
                return_std=return_std,
                return_cov=return_cov,
                replicas=self.replicas,
                part=part,
            )
        if not want:
            return out
        mean, spread = out
        if np.ndim(self.data_projection_) == 2:  # outputs share the covariance
            n_out = self.data_projection_.shape[1]
            spread = np.repeat(spread[..., None], n_out, axis=-1)
        return mean, spread

    def sample_y(self, X, n_samples=1, time=None, random_state=0):
        """Draw trained networks (their outputs at ``X``) from the ensemble.

        Each draw is one network: an initial function from the NNGP prior (and a
        replica of the data when ``replicas``) propagated by the linearised flow, so
        draws at several times are the same networks along their trajectories.

        Parameters
        ----------
        X : array-like of shape (n_test, n_features)
        n_samples : int, default=1
        time : float or array-like, default=None
        random_state : int, Generator, RandomState or None, default=0
            Through :func:`~nngpbayes._validation.check_generator`: an int seeds
            ``numpy.random.default_rng``.

        Returns
        -------
        ndarray of shape ([n_times,] n_test[, n_outputs], n_samples)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        n_samples = check_int(n_samples, "n_samples")
        rng = check_generator(random_state)
        time = self.time if time is None else time
        check_times(time, self.discrete)
        with self._blas_threads(len(X)):
            th, k, kss = self._test_kernels(X, "cov")
            return self.flow_.sample(
                th, k, kss, time, n_samples, rng, replicas=self.replicas
            )

    # -- spectral tools --------------------------------------------------------------
    def loss_curve(self, time, X_val=None, y_val=None, y_val_cov=None):
        """Compute the expected training (and validation) loss against time.

        Training loss: ½ E[(φ_t(X) − y)ᵀ C⁻¹ (φ_t(X) − y)] over networks, against
        the central data y, computed mode by mode:
        ½ Σ_k [e_k² (ỹ_k² + M_kk) + (1 − e_k)² (replicas)], e_k = 1 − s_k g_t(s_k).
        Validation loss: ½[(m_t − y_val)ᵀ C_val⁻¹ (m_t − y_val) + tr(C_val⁻¹ Σ_t)].
        A validation loss that falls and then rises is over-fitting.

        Parameters
        ----------
        time : array-like of shape (n_times,)
        X_val, y_val : validation inputs and data, optional
        y_val_cov : float, array-like of shape (n_val,) or (n_val, n_val), optional
            C_val (default the identity).

        Returns
        -------
        dict with "time", "train" and (if validation data are given) "validation",
        each of shape (n_times,) (losses summed over outputs).
        """
        check_is_fitted(self)
        times, _ = check_times(time, self.discrete)
        if (X_val is None) != (y_val is None):
            raise ValueError(
                "X_val and y_val must be given together, got "
                f"X_val={'None' if X_val is None else 'an array'} and "
                f"y_val={'None' if y_val is None else 'an array'}"
            )
        train = self.flow_.training_loss(times, replicas=self.replicas)
        n_out = int(np.prod(self.data_projection_.shape[1:]))
        result = {"time": times, "train": train}
        if X_val is None:
            return result
        result["validation"] = self._validation_loss(
            times, X_val, y_val, y_val_cov, n_out
        )
        return result

    def _validation_loss(self, times, X_val, y_val, y_val_cov, n_out):
        X_val = validate_data(self, X_val, reset=False, dtype=np.float64)
        y_val = np.asarray(y_val, dtype=float).reshape(len(X_val), -1)
        if y_val.shape[1] != n_out or not np.isfinite(y_val).all():
            raise ValueError(
                f"y_val must be finite with shape ({len(X_val)},) or ({len(X_val)}, "
                f"{n_out}), got {np.shape(y_val)}"
            )
        c = (
            np.eye(len(X_val))
            if y_val_cov is None
            else as_covariance(y_val_cov, len(X_val), "y_val_cov")
        )
        chol = cholesky_psd(c, "y_val_cov")
        mean, cov = self.predict(X_val, time=times, return_cov=True)
        mean = mean.reshape(len(times), len(X_val), -1)
        cov = cov[..., 0] if cov.ndim == 4 else cov
        out = []
        for m, s in zip(mean, cov, strict=True):
            r = sla.solve_triangular(chol, m - y_val, lower=True)  # L⁻¹(m − y)
            c_inv_s = sla.cho_solve((chol, True), s)  # C⁻¹Σ
            out.append(0.5 * ((r**2).sum() + n_out * np.trace(c_inv_s)))
        return np.array(out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def _zero_ntk_message(X, arch):
    """Why the NTK that drives training vanishes on X, and what to change."""
    if not np.any(X) and not np.any(arch.bias_variance):
        cause = (
            "every input in X is zero and bias_variance=0, so every pre-activation "
            "is exactly 0"
        )
    else:
        cause = (
            f"the learning rates weight_lr={_fmt(arch.weight_lr)} and "
            f"bias_lr={_fmt(arch.bias_lr)} give no trained parameter a gradient "
            "on these inputs"
        )
    return (
        f"the NTK that drives training is identically zero on X: {cause}. Gradient "
        "descent cannot move the networks (every mode has eigenvalue 0), so there "
        "is nothing to fit. Use a non-zero bias_variance or non-zero inputs (or "
        "non-zero learning rates)."
    )


def _fmt(values):
    """Return a per-layer array as a scalar when every layer has the same value."""
    values = np.asarray(values)
    return f"{values[0]:g}" if np.all(values == values[0]) else str(values.tolist())
