"""The NNGP kernel and the NTK as scikit-learn kernels (:ref:`theory-3`)."""

from __future__ import annotations

import numpy as np
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel

from .._dual import Dual
from ..architecture import Architecture, architecture_from
from ._nngp_ntk import evaluate

__all__ = ["NNGPKernel", "NTKKernel"]

_PER_LAYER = ("weight_variance", "bias_variance", "weight_lr", "bias_lr")


class _NetworkKernel(Kernel):
    """Shared machinery: architecture from parameters, values, gradients, diagonal."""

    _ntk = False

    # -- hyperparameters ---------------------------------------------------------
    def _hyperparameter(self, name):
        value = getattr(self, name)
        bounds = getattr(self, f"{name}_bounds")
        n_el = np.size(value) if value is not None else 1
        # A hyperparameter with a zero entry (no bias) or no value (λ = C) cannot be
        # tuned in log space: it is fixed whatever its bounds.
        if value is None or np.any(np.asarray(value, dtype=float) == 0):
            bounds = "fixed"
        return Hyperparameter(name, "numeric", bounds, n_el)

    @property
    def hyperparameter_weight_variance(self):
        return self._hyperparameter("weight_variance")

    @property
    def hyperparameter_bias_variance(self):
        return self._hyperparameter("bias_variance")

    def architecture(self) -> Architecture:
        """Return the :class:`~nngpbayes.Architecture` these parameters describe."""
        return architecture_from(self)

    # -- evaluation --------------------------------------------------------------
    def __call__(self, X, Y=None, eval_gradient=False):
        """Kernel matrix k(X, Y), optionally with its gradient.

        Parameters
        ----------
        X : ndarray of shape (n_samples_X, n_features)
        Y : ndarray of shape (n_samples_Y, n_features), default=None
            ``None`` evaluates k(X, X).
        eval_gradient : bool, default=False
            Also return the gradient with respect to the log of each non-fixed
            hyperparameter (only when ``Y`` is None).

        Returns
        -------
        K : ndarray of shape (n_samples_X, n_samples_Y)
        K_gradient : ndarray of shape (n_samples_X, n_samples_X, n_dims), optional
            Columns in the order of ``self.hyperparameters`` (alphabetical).
        """
        if eval_gradient and Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        arch = self.architecture()
        self._check_tunable()
        hp = tuple(getattr(arch, name) for name in _PER_LAYER)
        if eval_gradient:
            hp = self._dual_hyperparameters(arch)
        k, th = evaluate(
            X, Y, hp, arch.activation, want_ntk=self._ntk, n_jobs=self.n_jobs
        )
        out = th if self._ntk else k
        if not eval_gradient:
            return out
        return out.v, np.moveaxis(out.t, 0, -1)

    def diag(self, X):
        """Return the diagonal k(x, x), shape (n_samples_X,), without the matrix."""
        arch = self.architecture()
        hp = tuple(getattr(arch, name) for name in _PER_LAYER)
        k, th = evaluate(X, None, hp, arch.activation, want_ntk=self._ntk, diag=True)
        return th if self._ntk else k

    def is_stationary(self):
        return False

    @property
    def requires_vector_input(self):
        return True

    def _check_tunable(self):
        for name in ("weight_lr", "bias_lr"):
            bounds = getattr(self, f"{name}_bounds", "fixed")
            if getattr(self, name, 0.0) is None and not _is_fixed(bounds):
                raise ValueError(
                    f"{name}_bounds={bounds!r} asks to tune {name}, but {name}=None "
                    f"(λ = C); give {name} a value to tune it"
                )

    def _dual_hyperparameters(self, arch):
        """Per-layer hyperparameters as Duals along the log of each free one."""
        free = [h for h in self.hyperparameters if not h.fixed]
        n_dir = sum(h.n_elements for h in free)
        n_layers = arch.n_layers
        tangents = {name: np.zeros((n_dir, n_layers)) for name in _PER_LAYER}
        col = 0
        for h in free:
            values = getattr(arch, h.name)
            if h.n_elements == 1:  # one value shared by every layer
                tangents[h.name][col] = values
            else:
                tangents[h.name][col + np.arange(n_layers), np.arange(n_layers)] = (
                    values
                )
            col += h.n_elements
        # λ = C when no learning rate is given: its tangent follows C's.
        follows = {"weight_lr": "weight_variance", "bias_lr": "bias_variance"}
        for lr, var in follows.items():
            if getattr(self, lr, None) is None:
                tangents[lr] = tangents[var]
        return tuple(Dual(getattr(arch, name), tangents[name]) for name in _PER_LAYER)

    def __repr__(self):
        args = ", ".join(
            f"{name}={_fmt(getattr(self, name))}"
            for name in ("depth", "activation") + _PER_LAYER
            if hasattr(self, name)
        )
        return f"{type(self).__name__}({args})"


def _is_fixed(bounds):
    return isinstance(bounds, str) and bounds == "fixed"


def _fmt(value):
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    if isinstance(value, np.ndarray | list | tuple):
        return "[" + ", ".join(f"{v:.4g}" for v in np.ravel(value)) + "]"
    return repr(value)


class NNGPKernel(_NetworkKernel):
    r"""The infinite-width prior (NNGP) of a deep fully-connected network.

    .. math::

        K^{(1)} = C_b + C_W \frac{x\cdot x'}{n_0},\qquad
        K^{(ℓ+1)} = C_b + C_W\, E_{(u,v)\sim N(0, K^{(ℓ)})}[σ(u)σ(v)],
        \qquad k(x, x') = K^{(L)}(x, x')

    (:ref:`theory-3`). The hyperparameters are the weight and bias variances, tuned in
    log space by :class:`~sklearn.gaussian_process.GaussianProcessRegressor`.

    Parameters
    ----------
    depth : int, default=1
        Hidden layers.
    activation : str or Activation, default="relu"
        See :mod:`nngpbayes.activations`.
    weight_variance : float or array-like of shape (depth + 1,), default=1.0
        C_W (> 0); a scalar is shared by all layers (one hyperparameter), a sequence
        gives one hyperparameter per layer.
    bias_variance : float or array-like of shape (depth + 1,), default=0.0
        C_b (>= 0). A zero entry means "no bias" and makes the hyperparameter fixed.
    weight_variance_bounds, bias_variance_bounds : pair of floats or "fixed"
        Bounds for the optimiser, default (1e-3, 1e3).
    n_jobs : int, default=None
        Threads for large Gram matrices, following joblib: ``None`` means 1 unless
        in a :func:`joblib.parallel_config` context; ``-1`` means all cores.
        Results do not depend on it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process import GaussianProcessRegressor
    >>> from sklearn.gaussian_process.kernels import WhiteKernel
    >>> from nngpbayes import NNGPKernel
    >>> X = np.linspace(-1, 1, 20)[:, None]
    >>> y = np.sin(3 * X[:, 0]) + 0.1 * np.random.default_rng(0).normal(size=20)
    >>> gp = GaussianProcessRegressor(NNGPKernel(depth=2, bias_variance=0.1)
    ...                               + WhiteKernel(1e-2)).fit(X, y)
    >>> mean, std = gp.predict(X[:3], return_std=True)
    >>> mean.shape, std.shape
    ((3,), (3,))
    """

    def __init__(
        self,
        depth=1,
        activation="relu",
        weight_variance=1.0,
        bias_variance=0.0,
        weight_variance_bounds=(1e-3, 1e3),
        bias_variance_bounds=(1e-3, 1e3),
        n_jobs=None,
    ):
        self.depth = depth
        self.activation = activation
        self.weight_variance = weight_variance
        self.bias_variance = bias_variance
        self.weight_variance_bounds = weight_variance_bounds
        self.bias_variance_bounds = bias_variance_bounds
        self.n_jobs = n_jobs


class NTKKernel(_NetworkKernel):
    r"""The neural tangent kernel Θ of a deep fully-connected network.

    .. math::

        Θ^{(1)} = λ_b + λ_W \frac{x\cdot x'}{n_0},\qquad
        Θ^{(ℓ+1)} = λ_b + λ_W T[K^{(ℓ)}] + C_W \dot T[K^{(ℓ)}]\, Θ^{(ℓ)}

    (:ref:`theory-3`), with learning rates λ (per layer) that default to λ = C.

    Parameters
    ----------
    depth, activation, weight_variance, bias_variance
        As in :class:`NNGPKernel`.
    weight_variance_bounds, bias_variance_bounds
        As in :class:`NNGPKernel`.
    weight_lr, bias_lr : float, array-like of shape (depth + 1,) or None
        λ_W and λ_b; ``None`` means λ = C (and the gradient with respect to C then
        includes the dependence through λ).
    weight_lr_bounds, bias_lr_bounds : pair of floats or "fixed", default="fixed"
        Learning rates are fixed unless bounds are given.
    n_jobs : int, default=None
        Threads for large Gram matrices, following joblib: ``None`` means 1 unless
        in a :func:`joblib.parallel_config` context; ``-1`` means all cores.
        Results do not depend on it.

    Examples
    --------
    Without hidden layers (a linear model) and with λ = C, the NTK is the NNGP kernel:

    >>> import numpy as np
    >>> from nngpbayes import NNGPKernel, NTKKernel
    >>> X = np.linspace(-1, 1, 5)[:, None]
    >>> ntk = NTKKernel(depth=0, bias_variance=0.1)
    >>> bool(np.allclose(ntk(X), NNGPKernel(depth=0, bias_variance=0.1)(X)))
    True
    >>> K, dK = ntk(X, eval_gradient=True)  # d/d log C_b and d/d log C_W
    >>> dK.shape
    (5, 5, 2)
    """

    _ntk = True

    def __init__(
        self,
        depth=1,
        activation="relu",
        weight_variance=1.0,
        bias_variance=0.0,
        weight_lr=None,
        bias_lr=None,
        weight_variance_bounds=(1e-3, 1e3),
        bias_variance_bounds=(1e-3, 1e3),
        weight_lr_bounds="fixed",
        bias_lr_bounds="fixed",
        n_jobs=None,
    ):
        self.depth = depth
        self.activation = activation
        self.weight_variance = weight_variance
        self.bias_variance = bias_variance
        self.weight_lr = weight_lr
        self.bias_lr = bias_lr
        self.weight_variance_bounds = weight_variance_bounds
        self.bias_variance_bounds = bias_variance_bounds
        self.weight_lr_bounds = weight_lr_bounds
        self.bias_lr_bounds = bias_lr_bounds
        self.n_jobs = n_jobs

    @property
    def hyperparameter_weight_lr(self):
        return self._hyperparameter("weight_lr")

    @property
    def hyperparameter_bias_lr(self):
        return self._hyperparameter("bias_lr")
