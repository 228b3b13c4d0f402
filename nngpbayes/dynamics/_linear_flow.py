r"""The analytic trained ensemble for a general linear forward map (:ref:`theory-4`).

Observables are linear functionals of the network on a grid of inputs, y = F φ(X_grid)
(as in PDF fits), with data covariance C in the loss. With L the Cholesky factor of
C (C = L Lᵀ), the whitened NTK is S = L⁻¹ F Θ Fᵀ L⁻ᵀ = U diag(s) Uᵀ (any factor of
C gives the same B_t, since C^(−1/2) g(C^(−1/2) A C^(−1/2)) C^(−1/2) = g(C⁻¹A) C⁻¹),
and with W = (L⁻¹F)ᵀU, P = Θ_*g W, G_t = diag(g_t(s)), A_t = P G_t:

.. math::

    B_t = A_t U^T L^{-1},\qquad \text{mean}_t = A_t \tilde y,\
    \tilde y = U^T L^{-1} y,

    \text{cov}_t = K_{**} - A_t Q - Q^T A_t^T + A_t M A_t^T\ [+ A_t A_t^T],

with Q = Wᵀ K_g* and M = Wᵀ K_gg W; the bracket (B C Bᵀ) is present when every
network trains on its own replica y + ε, ε ~ N(0, C). The first four terms are the
"prior" part (initialisation propagated by I − B F), the bracket the "data" part.

The covariance at many times is computed in a factored form (M = R Rᵀ with R
triangular, one triangular product and one symmetric update per time, the modes a
time has finished learning reused across times); see ``_spread.py``.

References
----------
.. [1] Lee et al., "Wide neural networks of any depth evolve as linear models under
   gradient descent", arXiv:1902.06720 (ensemble mean and covariance).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg as sla

from .._linalg import psd_root
from .._numerics import (
    IllConditionedWarning,
    as_covariance,
    cholesky_psd,
    symmetric_eigh,
)
from .._threads import blas_threads_for
from .._validation import check_generator, check_int, check_positive
from ._checks import check_arrays, check_part, check_test_kernels, check_times
from ._filters import flow_filter
from ._spread import Spread, prior_moments

__all__ = ["LinearFlow"]


class LinearFlow:
    """The Gaussian ensemble of linearised networks trained on y = F φ(X_grid).

    Parameters
    ----------
    ntk : ndarray of shape (n_grid, n_grid)
        Θ on the grid inputs.
    nngp : ndarray of shape (n_grid, n_grid)
        K on the grid inputs (the prior covariance of the initial networks).
    y : ndarray of shape (n_data,) or (n_data, n_outputs)
        The data; outputs share the kernels (:ref:`theory-3`).
    forward_map : ndarray of shape (n_data, n_grid), default=None
        F; ``None`` is the identity (n_data == n_grid).
    data_cov : float, ndarray of shape (n_data,) or (n_data, n_data), default=None
        C in the loss ½(Fφ − y)ᵀC⁻¹(Fφ − y); ``None`` is the identity.
    learning_rate : float, default=1.0
        η (:ref:`theory-2`).
    discrete : bool, default=False
        Full-batch gradient descent: times count steps, g_k(s) = (1 − (1 − ηs)^k)/s.
    rcond : float, default=None
        The t = ∞ filter s³/(s⁴ + s_c⁴) uses s_c = rcond · max(s); ``None`` means
        n_data · machine epsilon.
    cov_name : str, default="data_cov"
        The covariance's name in error messages (estimators pass their own).

    Attributes
    ----------
    eigenvalues : ndarray of shape (n_data,)
        s, descending (:ref:`theory-4`).
    eigenvectors : ndarray of shape (n_data, n_data)
        U, in the whitened data space.
    data_projection : ndarray of shape (n_data,) or (n_data, n_outputs)
        ỹ = Uᵀ L⁻¹ y, the data in the eigenbasis.
    prior_mode_variances : ndarray of shape (n_data,)
        The initial networks' variance on each mode (diagonal of M = Wᵀ K W).
    cutoff : float
        s_c of the t = ∞ filter (> 0).

    Examples
    --------
    With F = C = I the trained ensemble starts at the prior mean 0 and, at t = ∞,
    interpolates the training data:

    >>> import numpy as np
    >>> from nngpbayes import Architecture
    >>> from nngpbayes.dynamics import LinearFlow
    >>> from nngpbayes.kernels import nngp_ntk
    >>> X = np.linspace(-1, 1, 6)[:, None]
    >>> y = np.sin(3 * X[:, 0])
    >>> K, Theta = nngp_ntk(X, architecture=Architecture(depth=1, bias_variance=0.1))
    >>> flow = LinearFlow(Theta, K, y)
    >>> flow.predict(Theta, time=0.0)
    array([0., 0., 0., 0., 0., 0.])
    >>> bool(np.allclose(flow.predict(Theta, time=np.inf), y))
    True
    """

    def __init__(
        self,
        ntk,
        nngp,
        y,
        forward_map=None,
        data_cov=None,
        learning_rate=1.0,
        discrete=False,
        rcond=None,
        *,
        cov_name="data_cov",
    ):
        ntk, nngp, F, y = check_arrays(ntk, nngp, y, forward_map)
        check_positive(learning_rate, "learning_rate")
        if rcond is not None:
            check_positive(rcond, "rcond")
        n = F.shape[0]
        self.learning_rate, self.discrete = float(learning_rate), bool(discrete)
        cov = None if data_cov is None else as_covariance(data_cov, n, cov_name)
        with blas_threads_for(float(max(F.shape)) ** 3):
            if forward_map is None and (cov is None or _is_diagonal(cov)):
                self._whiten_diagonal(ntk, y, cov, cov_name)
            else:
                self._whiten_general(ntk, F, y, cov, cov_name)
        self._data_cov = cov
        rc = n * np.finfo(float).eps if rcond is None else float(rcond)
        tiny = np.finfo(float).tiny  # s_c > 0 even for an identically zero NTK
        self.cutoff = max(rc * max(float(self.eigenvalues[0]), tiny), tiny)
        self._nngp_grid = nngp
        self._prior = None  # (M, R), computed when first needed

    def _whiten_diagonal(self, ntk, y, cov, cov_name):
        """F = I and a diagonal C = D⁻²: S = D Θ D, W = D U, ỹ = Uᵀ D y.

        With C = I every scaling is by 1.0, so the results equal the general path's
        bit for bit, without its n × n triangular solves and products.
        """
        d = None
        if cov is not None:
            c = np.diag(cov)
            if not np.all(c > 0):
                cholesky_psd(cov, cov_name)  # raises with the smallest eigenvalue
            d = 1.0 / np.sqrt(c)
        s = ntk if d is None else d[:, None] * ntk * d
        # docs/theory §4: S = C^(−1/2) Θ C^(−1/2) = U diag(s) Uᵀ
        self.eigenvalues, u = symmetric_eigh(s, "the whitened NTK L⁻¹FΘFᵀL⁻ᵀ")
        self.eigenvectors = np.ascontiguousarray(u)  # row-major: faster products
        self._w = self.eigenvectors if d is None else d[:, None] * self.eigenvectors
        y_white = y if d is None else (d if y.ndim == 1 else d[:, None]) * y
        self.data_projection = self.eigenvectors.T @ y_white

    def _whiten_general(self, ntk, F, y, cov, cov_name):
        """S = L⁻¹ F Θ Fᵀ L⁻ᵀ with C = L Lᵀ, W = (L⁻¹F)ᵀU, ỹ = Uᵀ L⁻¹ y."""
        chol = np.eye(F.shape[0]) if cov is None else cholesky_psd(cov, cov_name)
        # docs/theory §4: S = L⁻¹ F Θ Fᵀ L⁻ᵀ = U diag(s) Uᵀ
        f_white = _solve_lower(chol, F)
        self.eigenvalues, self.eigenvectors = symmetric_eigh(
            f_white @ ntk @ f_white.T, "the whitened NTK L⁻¹FΘFᵀL⁻ᵀ"
        )
        self._w = f_white.T @ self.eigenvectors  # W = (L⁻¹F)ᵀU, (n_grid, n_data)
        self.data_projection = self.eigenvectors.T @ _solve_lower(chol, y)

    @property
    def data_cov(self):
        """C, the data covariance of the loss, shape (n_data, n_data)."""
        n = len(self.eigenvalues)
        return np.eye(n) if self._data_cov is None else self._data_cov

    def _prior_moments(self):
        """(M, R): M = Wᵀ K W and its triangular factor R (None if M is singular)."""
        if self._prior is None:  # M = Wᵀ K W
            self._prior = prior_moments(self._w, self._nngp_grid)
        return self._prior

    # -- spectral quantities -------------------------------------------------------
    @property
    def timescales(self):
        """1/(η s) per mode (inf for the null space), shape (n_data,)."""
        with np.errstate(divide="ignore"):
            return 1.0 / (self.learning_rate * self.eigenvalues)

    @property
    def prior_mode_variances(self):
        """M_kk = Var[w_kᵀ φ_0(X_grid)]: the initial networks' spread on each mode.

        The diagonal of M = Wᵀ K W (:ref:`theory-4`), the prior variance of the whitened
        residual on each eigenvector, shape (n_data,).
        """
        return np.diag(self._prior_moments()[0]).copy()

    @property
    def max_stable_learning_rate(self):
        """2 / max(s): discrete gradient descent converges for η below it."""
        return 2.0 / max(float(self.eigenvalues[0]), np.finfo(float).tiny)

    def filters(self, time):
        """g_t(s) for one time, shape (n_data,) (:ref:`theory-4`)."""
        if self.discrete and self.learning_rate >= self.max_stable_learning_rate:
            self._unstable(time)
        if np.isinf(time):
            self._warn_filtered()
        return flow_filter(
            self.eigenvalues, time, self.learning_rate, self.discrete, self.cutoff
        )

    def residual_factors(self, time):
        """1 − s g_t(s): how much of each mode is still unlearned (e^(−ηst))."""
        return 1.0 - self.eigenvalues * self.filters(time)

    def training_loss(self, time, replicas=False):
        r"""Compute the expected training loss of the ensemble against the data y.

        .. math::

            \bar L_t = ½ E[(Fφ_t − y)^T C^{-1} (Fφ_t − y)]
                = ½ \sum_k e_k^2 (\tilde y_k^2 + M_{kk})\ [+ (1 − e_k)^2],

        with e_k = 1 − s_k g_t(s_k) (:meth:`residual_factors`) and M_kk
        (:attr:`prior_mode_variances`); the bracket is the replica noise
        (:ref:`theory-4`).

        Parameters
        ----------
        time : float or ndarray of shape (n_times,)
            Flow time (steps when ``discrete``); ``np.inf`` allowed.
        replicas : bool, default=False
            Each network trains on its own replica y + ε, ε ~ N(0, C).

        Returns
        -------
        float or ndarray of shape (n_times,)
            Summed over outputs.
        """
        times, scalar = check_times(time, self.discrete)
        y_t = self.data_projection.reshape(len(self.eigenvalues), -1)
        m_diag = self.prior_mode_variances[:, None]
        loss = np.empty(len(times))
        for i, t in enumerate(times):
            e = self.residual_factors(t)
            per_mode = (e**2)[:, None] * (y_t**2 + m_diag)
            if replicas:
                per_mode = per_mode + ((1 - e) ** 2)[:, None]
            loss[i] = 0.5 * per_mode.sum()
        return float(loss[0]) if scalar else loss

    def _unstable(self, time):
        msg = (
            f"learning_rate={self.learning_rate:.6g} is at or above the stability "
            f"limit 2/max(s)={self.max_stable_learning_rate:.6g} of discrete "
            "gradient descent: the iteration diverges"
        )
        if np.isinf(time):
            raise ValueError(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=4)

    def _warn_filtered(self):
        s = self.eigenvalues
        damped = s < 1e2 * self.cutoff  # (s_c/s)^4 > 1e-8: g differs from 1/s
        if damped.any():
            ratio = s[-1] / s[0] if s[0] > 0 else 0.0
            warnings.warn(
                f"the whitened NTK is ill-conditioned (smallest/largest eigenvalue "
                f"{ratio:.3g}): at t = inf "
                f"{int(damped.sum())} mode(s) with s < {1e2 * self.cutoff:.3g} are "
                f"damped by the filter s³/(s⁴ + s_c⁴), s_c = {self.cutoff:.3g} (see "
                "rcond); near-duplicate inputs or a too small data covariance "
                "cause this",
                IllConditionedWarning,
                stacklevel=4,
            )

    # -- predictions ---------------------------------------------------------------
    def predict(
        self,
        ntk_star,
        nngp_star=None,
        nngp_star_star=None,
        time=np.inf,
        return_std=False,
        return_cov=False,
        replicas=False,
        part="total",
    ):
        """Ensemble mean (and std or covariance) at test inputs and times.

        Parameters
        ----------
        ntk_star : ndarray of shape (n_test, n_grid)
            Θ(x*, X_grid).
        nngp_star : ndarray of shape (n_test, n_grid), optional
            K(x*, X_grid); needed for std or covariance.
        nngp_star_star : ndarray of shape (n_test, n_test) or (n_test,), optional
            K(x*, x*) (its diagonal suffices for std).
        time : float or ndarray of shape (n_times,)
            Flow time (steps when ``discrete``); ``np.inf`` allowed.
        return_std, return_cov : bool
        replicas : bool, default=False
            Each network trains on its own replica y + ε, ε ~ N(0, C): adds B C Bᵀ.
        part : {"total", "prior", "data"}
            Which part of the covariance (:ref:`theory-4`).

        Returns
        -------
        mean : ndarray of shape ([n_times,] n_test[, n_outputs])
        std or cov : ndarray of shape ([n_times,] n_test) or ([n_times,] n_test,
            n_test), when asked (shared by all outputs).
        """
        times, scalar = check_times(time, self.discrete)
        if return_std and return_cov:
            raise ValueError("at most one of return_std and return_cov can be True")
        check_part(part)
        want = "cov" if return_cov else "std" if return_std else None
        ntk_star, nngp_star, kss = check_test_kernels(
            self._w.shape[0], ntk_star, nngp_star, nngp_star_star, want
        )
        n_test, (n_grid, n_data) = ntk_star.shape[0], self._w.shape
        g = np.empty((len(times), n_data))  # g_t(s), one row per time
        for i, t in enumerate(times):  # here, so that warnings point to the caller
            g[i] = self.filters(t)
        with blas_threads_for(float(n_test) * n_data * max(n_data, n_test, n_grid)):
            mean, spread = self._predict(
                ntk_star, nngp_star, kss, g, want, replicas, part
            )
        if scalar:
            mean, spread = mean[0], None if spread is None else spread[0]
        return (mean, spread) if want else mean

    def _predict(self, ntk_star, nngp_star, kss, g, want, replicas, part):
        """Return the mean and spread (or None) at every time.

        From the filters ``g`` (n_times, n_data); ``want`` is None, "std" or "cov".
        """
        p = ntk_star @ self._w  # P = Θ_*g W, (n_test, n_data)
        n_test, n_times = p.shape[0], len(g)
        y_t = self.data_projection
        mean = np.empty((n_times, n_test) + y_t.shape[1:])
        for i, g_i in enumerate(g):  # mean_t = A_t ỹ = P (g_t ỹ)
            np.matmul(p, g_i * y_t if y_t.ndim == 1 else g_i[:, None] * y_t, mean[i])
        if not want:
            return mean, None
        m, root = self._prior_moments() if part != "data" else (None, None)
        spread = Spread(want, part, replicas, self._w, m, root, nngp_star, kss)
        out = np.empty((n_times, n_test) + ((n_test,) if want == "cov" else ()))
        spread.fill(p, g, self.eigenvalues, out)
        return mean, out

    def sample(
        self, ntk_star, nngp_star, nngp_star_star, time, n_samples, rng, replicas=False
    ):
        """Trained networks: φ_t(x*) = φ_0(x*) + B_t (y [+ ε] − F φ_0(X_grid)).

        The initial functions φ_0 are drawn jointly on grid and test inputs from the
        NNGP prior; the same draws are propagated to every requested time.

        Parameters
        ----------
        ntk_star, nngp_star : ndarray of shape (n_test, n_grid)
            Θ(x*, X_grid) and K(x*, X_grid).
        nngp_star_star : ndarray of shape (n_test, n_test)
            K(x*, x*).
        time : float or ndarray of shape (n_times,)
        n_samples : int
            Number of networks (>= 1).
        rng : int, numpy.random.Generator or None
            Through :func:`~nngpbayes._validation.check_generator`.
        replicas : bool, default=False
            Each network trains on its own replica y + ε, ε ~ N(0, C).

        Returns
        -------
        ndarray of shape ([n_times,] n_test[, n_outputs], n_samples)
        """
        times, scalar = check_times(time, self.discrete)
        n_samples = check_int(n_samples, "n_samples")
        rng = check_generator(rng, "rng")
        n_grid = self._w.shape[0]
        ntk_star, nngp_star, kss = check_test_kernels(
            n_grid, ntk_star, nngp_star, nngp_star_star, "sample"
        )
        y_tilde = self.data_projection
        n_out = 1 if y_tilde.ndim == 1 else y_tilde.shape[1]
        n_test = ntk_star.shape[0]
        joint = np.block([[self._nngp_grid, nngp_star.T], [nngp_star, kss]])
        # columns in descending eigenvalue order: a seed gives the same draws as
        # before the shared core took over the root
        with blas_threads_for(float(len(joint)) ** 3):
            root = psd_root(joint, "the joint NNGP prior")[:, ::-1]
        draws = root @ rng.standard_normal((n_grid + n_test, n_out * n_samples))
        phi_grid, phi_star = draws[:n_grid], draws[n_grid:]
        target = np.repeat(y_tilde.reshape(len(y_tilde), n_out), n_samples, axis=1)
        if replicas:  # whitened replica noise L⁻¹ε ~ N(0, I)
            target = target + rng.standard_normal(target.shape)
        z = target - self._w.T @ phi_grid  # Uᵀ L⁻¹ (y + ε − F φ_0)
        p = ntk_star @ self._w
        out = []
        for t in times:
            f = phi_star + (p * self.filters(t)) @ z  # (n_test, n_out * n_samples)
            f = f.reshape(n_test, n_out, n_samples)
            out.append(f[:, 0, :] if y_tilde.ndim == 1 else f)
        return out[0] if scalar else np.stack(out)


def _is_diagonal(c):
    """Return whether the square matrix ``c`` has no non-zero off-diagonal entry."""
    return not np.any(c - np.diag(np.diag(c)))


def _solve_lower(chol, b):
    return sla.solve_triangular(chol, b, lower=True)
