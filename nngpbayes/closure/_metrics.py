r"""Closure-test estimators as NNPDF defines them (:ref:`theory-6`).

For one fit with prediction mean m = E_ε[F'f] and covariance Σ over replicas (or
the posterior) on N' test observables with covariance C', and the truth t = F'f_in:

.. math::

    \text{variance} = \frac{1}{N'} \operatorname{tr}(C'^{-1} Σ),\qquad
    \text{bias} = \frac{1}{N'} (m - t)^T C'^{-1} (m - t),

    R_{bv} = \sqrt{\frac{\langle \text{bias} \rangle_{\text{fits}}}
                         {\langle \text{variance} \rangle_{\text{fits}}}},\qquad
    ξ_{1σ} = \langle 1[|m_i - t_i| \le \sqrt{Σ_{ii}}] \rangle_{i,\text{fits}}.

Faithful uncertainties give R_bv = 1 and ξ_1σ = 0.683 (ξ_1σ ≈ erf(1/(√2 R_bv)) for
Gaussian errors). Uncertainties of the multi-closure estimators come from a
bootstrap over fits.

References
----------
.. [1] NNPDF Collaboration, arXiv:2109.02653 (NNPDF4.0), closure tests.
.. [2] Del Debbio et al., arXiv:2111.05787 (bias–variance estimators).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_generator, check_int

__all__ = ["FitMetrics", "fit_metrics", "ClosureMetrics", "multi_closure"]


@dataclass
class FitMetrics:
    """Estimators of one fit."""

    bias: float
    variance: float
    inside_1sigma: np.ndarray  # (N',) booleans
    delta_chi2: float = np.nan


def fit_metrics(mean, cov, truth, test_cov, delta_chi2=np.nan):
    """Bias, variance and the 1σ indicators of one fit.

    Parameters
    ----------
    mean : ndarray of shape (n_test,)
    cov : ndarray of shape (n_test, n_test)
        Covariance of the fit's predictions (replicas or posterior).
    truth : ndarray of shape (n_test,)
    test_cov : ndarray of shape (n_test, n_test)
        C'.
    delta_chi2 : float, optional
        Δχ² on the training data, stored alongside.
    """
    chol = np.linalg.cholesky(test_cov)
    r = np.linalg.solve(chol, mean - truth)
    white = np.linalg.solve(chol, np.linalg.solve(chol, cov).T)  # L⁻¹ Σ L⁻ᵀ
    n = len(truth)
    std = np.sqrt(np.maximum(np.diag(cov), 0.0))
    return FitMetrics(
        bias=float(r @ r) / n,
        variance=float(np.trace(white)) / n,
        inside_1sigma=np.abs(mean - truth) <= std,
        delta_chi2=float(delta_chi2),
    )


@dataclass
class ClosureMetrics:
    """Multi-closure estimators with bootstrap standard errors."""

    n_fits: int
    bias: float
    variance: float
    r_bv: float
    xi_1sigma: float
    delta_chi2: float
    errors: dict = field(default_factory=dict)

    def as_dict(self):
        out = {
            k: getattr(self, k)
            for k in ("n_fits", "bias", "variance", "r_bv", "xi_1sigma", "delta_chi2")
        }
        out.update({f"{k}_error": v for k, v in self.errors.items()})
        return out


def multi_closure(fits, n_bootstrap=1000, random_state=0):
    """R_bv, ξ_1σ, mean bias, variance and Δχ² over fits, bootstrapped over fits.

    Parameters
    ----------
    fits : list of FitMetrics
        One per level-1 dataset (at least one; bootstrap errors need two).
    n_bootstrap : int, default=1000
        Bootstrap resamples of the fits (0: no errors).
    random_state : int, numpy.random.Generator or None, default=0
        Seeds the bootstrap.

    Returns
    -------
    ClosureMetrics
    """
    if not fits:
        raise ValueError("multi_closure needs at least one fit, got fits=[]")
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", min_val=0)
    rng = check_generator(random_state)
    bias = np.array([f.bias for f in fits])
    var = np.array([f.variance for f in fits])
    inside = np.array([np.mean(f.inside_1sigma) for f in fits])
    dchi = np.array([f.delta_chi2 for f in fits])

    def estimate(idx):
        return (
            bias[idx].mean(),
            var[idx].mean(),
            np.sqrt(bias[idx].mean() / var[idx].mean()),
            inside[idx].mean(),
            dchi[idx].mean(),
        )

    point = estimate(np.arange(len(fits)))
    errors = {}
    if len(fits) > 1 and n_bootstrap > 0:
        draws = np.array(
            [
                estimate(rng.integers(0, len(fits), len(fits)))
                for _ in range(n_bootstrap)
            ]
        )
        names = ("bias", "variance", "r_bv", "xi_1sigma", "delta_chi2")
        errors = {k: float(s) for k, s in zip(names, draws.std(0, ddof=1), strict=True)}
    return ClosureMetrics(len(fits), *map(float, point), errors=errors)
