"""Posterior of the NNGP hyperparameters by MCMC, and its posterior predictive.

The model (THEORY.md §3, §4 with F = I): data y at inputs X with a known data
covariance C are a Gaussian process with the NNGP prior plus scaled noise,

.. math::

    y \\sim N\\big(0,\\; K_{C_W, C_b}(X, X) + s\\, C\\big),

with three hyperparameters, sampled in log space u = (log C_W, log C_b, log s) under
independent normal priors u_i ~ N(μ_i, σ_i²). The ensemble sampler of Goodman & Weare
[1] as implemented by emcee [2] draws from p(u | y); convergence is judged by emcee's
integrated autocorrelation time [2, 3] and by the rank-normalised split-R̂ and the
bulk effective sample size of Vehtari et al. [4]. :func:`posterior_predictive`
then marginalises the GP posterior of THEORY.md §4 over the sampled
hyperparameters (law of total variance).

References
----------
.. [1] J. Goodman, J. Weare, "Ensemble samplers with affine invariance",
   Comm. App. Math. Comp. Sci. 5, 65 (2010).
.. [2] D. Foreman-Mackey, D. W. Hogg, D. Lang, J. Goodman, "emcee: the MCMC
   hammer", PASP 125, 306 (2013), arXiv:1202.3665.
.. [3] A. D. Sokal, "Monte Carlo methods in statistical mechanics: foundations and
   new algorithms" (1996 Cargèse lectures); automatic windowing with c = 5.
.. [4] A. Vehtari, A. Gelman, D. Simpson, B. Carpenter, P.-C. Bürkner,
   "Rank-normalization, folding, and localization: an improved R̂ for assessing
   convergence of MCMC", Bayesian Analysis 16, 667 (2021), arXiv:1903.08008.
.. [5] C. J. Geyer, "Practical Markov chain Monte Carlo", Stat. Sci. 7, 473 (1992).
.. [6] C. E. Rasmussen, C. K. I. Williams, "Gaussian Processes for Machine
   Learning" (MIT Press, 2006), Algorithm 2.1.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from dataclasses import dataclass

import emcee
import numpy as np
import scipy.linalg as sla
from scipy import optimize, stats

from .._numerics import IllConditionedWarning, as_covariance, cholesky_psd
from .._validation import check_inputs
from ..kernels import NNGPKernel

__all__ = [
    "PARAMETER_NAMES",
    "HyperparameterPosterior",
    "sample_hyperparameters",
    "posterior_predictive",
    "split_rhat",
    "bulk_ess",
]

#: Names of the sampled hyperparameters, in the order of the log-space vector u.
PARAMETER_NAMES = ("weight_variance", "bias_variance", "noise_scale")
_NDIM = len(PARAMETER_NAMES)
_LOG_2PI = np.log(2.0 * np.pi)
#: The normal priors are truncated at ±10 prior standard deviations: the mass cut
#: away (1.5e-23) is invisible at float64 precision, and the sampler can never wander
#: to hyperparameters (e.g. C_W = e^700) whose kernel overflows.
_PRIOR_TRUNCATION = 10.0
#: Jitter for near-singular K + sC: from 1e-10 to 1e-6 of the mean diagonal.
_JITTER_RANGE = (1e-10, 1e-6)
# Convergence thresholds (see HyperparameterPosterior).
_RHAT_MAX, _TAU_FACTOR, _ESS_MIN = 1.01, 50.0, 400.0


@dataclass
class HyperparameterPosterior:
    """MCMC samples of (C_W, C_b, s) and their convergence diagnostics.

    Every walker of the ensemble is treated as a chain. Walkers of an ensemble sampler
    are *not* independent chains (each move uses the positions of the others), so
    R̂ and ESS across walkers are indicative; emcee's integrated autocorrelation time
    is the primary criterion.

    Attributes
    ----------
    samples : dict of str to ndarray of shape (n_chains, n_draws)
        Draws of "weight_variance" (C_W), "bias_variance" (C_b) and "noise_scale"
        (s), in natural units (not logs), after burn-in and thinning.
    log_prob : ndarray of shape (n_chains, n_draws)
        The (normalised) log posterior density of u = log(C_W, C_b, s) at each draw.
    acceptance : ndarray of shape (n_chains,)
        Acceptance fraction of each walker over all steps (burn-in included).
    autocorr_time : ndarray of shape (3,)
        emcee's integrated autocorrelation time per parameter, in steps (thinning
        undone), from the post-burn-in chain. When emcee finds the chain too short
        (``AutocorrError``) its estimate is kept; a constant chain gives ``inf``.
    rhat : dict of str to float
        Rank-normalised split-R̂ [4] per parameter (see :func:`split_rhat`).
    ess : dict of str to float
        Bulk effective sample size [4] per parameter (see :func:`bulk_ess`).
    converged : bool
        True when, for every parameter, R̂ < 1.01, the post-burn-in chain is longer
        than 50 autocorrelation times (emcee's own criterion; ``n_steps - burn >
        50 τ``) and the bulk ESS exceeds 400.
    """

    samples: dict
    log_prob: np.ndarray
    acceptance: np.ndarray
    autocorr_time: np.ndarray
    rhat: dict
    ess: dict
    converged: bool

    def log_samples(self) -> np.ndarray:
        """The draws of u = log(C_W, C_b, s), shape (n_chains, n_draws, 3)."""
        return np.log(np.stack([self.samples[n] for n in PARAMETER_NAMES], axis=-1))

    def summary(self) -> dict:
        """Per parameter: posterior mean and std of its log, R̂, ESS and τ."""
        u = self.log_samples().reshape(-1, _NDIM)
        return {
            name: {
                "mean_log": float(u[:, i].mean()),
                "std_log": float(u[:, i].std(ddof=1)) if len(u) > 1 else 0.0,
                "rhat": float(self.rhat[name]),
                "ess": float(self.ess[name]),
                "autocorr_time": float(self.autocorr_time[i]),
            }
            for i, name in enumerate(PARAMETER_NAMES)
        }


def _kernel(depth, activation, theta):
    """The NNGP kernel at θ = (C_W, C_b, s) (s is not a kernel parameter)."""
    return NNGPKernel(
        depth, activation, weight_variance=theta[0], bias_variance=theta[1]
    )


def _jittered_cholesky(A):
    """(L, jittered): lower Cholesky factor of A, or None if A cannot be factorised.

    A = K + sC is positive definite in exact arithmetic (s > 0, C > 0); a failure is
    round-off when sC is tiny next to a low-rank K. A ridge growing from 1e-10 to
    1e-6 of the mean diagonal is then added.
    """
    if not np.isfinite(A).all():
        return None, False
    try:
        return np.linalg.cholesky(A), False
    except np.linalg.LinAlgError:
        pass
    scale = float(np.mean(np.diag(A)))
    for rel in np.geomspace(*_JITTER_RANGE, 5):
        try:
            return np.linalg.cholesky(A + rel * scale * np.eye(len(A))), True
        except np.linalg.LinAlgError:
            continue
    return None, False


# -- the log posterior ------------------------------------------------------------
class _LogPosterior:
    """log p(u | y) up to the evidence, with a count of jittered factorisations.

    .. math::

        \\log p(u \\mid y) = -\\tfrac12 y^T A^{-1} y - \\tfrac12 \\log\\det A
            - \\tfrac{n}{2}\\log 2π + \\sum_i \\log N(u_i; μ_i, σ_i^2),
        \\qquad A = K_{C_W, C_b}(X, X) + s C.
    """

    def __init__(self, X, y, data_cov, depth, activation, prior_mean, prior_std):
        self.X, self.y, self.C = X, y, data_cov
        self.depth, self.activation = depth, activation
        self.mu, self.sigma = prior_mean, prior_std
        self.n_calls = self.n_jittered = 0

    def kernel(self, theta):
        """The NNGP kernel object at θ = (C_W, C_b, s)."""
        return _kernel(self.depth, self.activation, theta)

    def log_prior(self, u):
        z = (u - self.mu) / self.sigma
        if not np.all(np.abs(z) <= _PRIOR_TRUNCATION):  # also catches NaN
            return -np.inf
        return float(np.sum(-0.5 * z**2 - np.log(self.sigma) - 0.5 * _LOG_2PI))

    def __call__(self, u):
        return self.evaluate(u, gradient=False)

    def evaluate(self, u, gradient=False):
        """Log posterior at u; with ``gradient``, also its gradient (or None)."""
        self.n_calls += 1
        u = np.asarray(u, dtype=float)
        lp = self.log_prior(u)
        if not np.isfinite(lp):
            return (-np.inf, None) if gradient else -np.inf
        theta = np.exp(u)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self.kernel(theta)(self.X, eval_gradient=gradient)
        K, dK = out if gradient else (out, None)
        A = K + theta[2] * self.C  # THEORY.md §4: F K_XX Fᵀ + C with F = I, C -> sC
        L = self._factor(A)
        if L is None:
            return (-np.inf, None) if gradient else -np.inf
        alpha = sla.cho_solve((L, True), self.y)  # Ref. [6], Alg. 2.1, line 3
        value = lp + (
            -0.5 * self.y @ alpha
            - np.log(np.diag(L)).sum()
            - 0.5 * len(self.y) * _LOG_2PI
        )
        if not np.isfinite(value):
            return (-np.inf, None) if gradient else -np.inf
        if not gradient:
            return float(value)
        return float(value), self._gradient(u, theta, L, alpha, dK)

    def _factor(self, A):
        L, jittered = _jittered_cholesky(A)
        self.n_jittered += jittered
        return L

    def _gradient(self, u, theta, L, alpha, dK):
        """∂ log p / ∂u: ½ αᵀ ∂A α − ½ tr(A⁻¹ ∂A) per direction [6, eq. 5.9]."""
        names = [h.name for h in self.kernel(theta).hyperparameters if not h.fixed]
        dA = np.stack(
            [
                dK[..., names.index("weight_variance")],
                dK[..., names.index("bias_variance")],
                theta[2] * self.C,
            ]
        )
        A_inv = sla.cho_solve((L, True), np.eye(len(L)))
        grad = 0.5 * np.einsum("i,kij,j->k", alpha, dA, alpha)
        grad -= 0.5 * np.einsum("ij,kji->k", A_inv, dA)
        return grad - (u - self.mu) / self.sigma**2


# -- validation -------------------------------------------------------------------
def _check_data(X, y, data_cov):
    X = check_inputs(X, "X")
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ValueError(
            f"y must be 1-D of shape (n_samples,), got shape {y.shape} (use y.ravel() "
            "for a single output)"
        )
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y has {y.shape[0]} values but X has {X.shape[0]} rows; they must match"
        )
    if not np.isfinite(y).all():
        raise ValueError(f"y contains {int((~np.isfinite(y)).sum())} NaN or inf values")
    n = len(y)
    C = np.eye(n) if data_cov is None else as_covariance(data_cov, n, "data_cov")
    cholesky_psd(C, "data_cov")  # raises a ValueError naming data_cov
    return X, y, C


def _check_vector(value, name, positive=False):
    v = np.asarray(value, dtype=float)
    if v.shape != (_NDIM,) or not np.isfinite(v).all() or (positive and np.any(v <= 0)):
        what = "positive finite" if positive else "finite"
        raise ValueError(
            f"{name} must be {_NDIM} {what} numbers for (log C_W, log C_b, log s), "
            f"got {value!r}"
        )
    return v


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _as_generator(random_state):
    if random_state is None or isinstance(
        random_state, numbers.Integral | np.random.Generator
    ):
        return np.random.default_rng(random_state)
    raise ValueError(
        f"random_state must be None, an int or a numpy Generator, got "
        f"{type(random_state).__name__}"
    )


def _check_chain_settings(n_walkers, n_steps, burn, thin):
    n_walkers = _check_int(n_walkers, "n_walkers", 2 * _NDIM)
    n_steps = _check_int(n_steps, "n_steps", 1)
    burn = _check_int(burn, "burn", 0)
    thin = _check_int(thin, "thin", 1)
    if burn >= n_steps:
        raise ValueError(f"burn must be < n_steps={n_steps}, got burn={burn}")
    if (n_steps - burn) // thin < 4:
        raise ValueError(
            f"(n_steps - burn) // thin = {(n_steps - burn) // thin} draws per walker "
            "are too few for split-R-hat; at least 4 are needed"
        )
    return n_walkers, n_steps, burn, thin


# -- starting points --------------------------------------------------------------
def _map_estimate(logpost, starts):
    """The highest of the local maxima of log p(u | y) found from ``starts``."""

    def negative(u):
        value, grad = logpost.evaluate(u, gradient=True)
        if grad is None:  # outside the support: a large finite wall for L-BFGS
            return 1e300, np.zeros(_NDIM)
        return -value, -grad

    half = _PRIOR_TRUNCATION * logpost.sigma * (1 - 1e-9)
    bounds = list(zip(logpost.mu - half, logpost.mu + half, strict=True))
    best = None
    for u0 in starts:
        res = optimize.minimize(
            negative, u0, jac=True, method="L-BFGS-B", bounds=bounds
        )
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    return None if best is None or best.fun >= 1e300 else best.x


def _laplace_covariance(logpost, u_map, step=1e-4):
    """(−∇² log p)⁻¹ at the mode by central differences of the analytic gradient."""
    grads = []
    for i in range(_NDIM):
        e = np.zeros(_NDIM)
        e[i] = step
        g_plus = logpost.evaluate(u_map + e, gradient=True)[1]
        g_minus = logpost.evaluate(u_map - e, gradient=True)[1]
        if g_plus is None or g_minus is None:
            return None
        grads.append((g_plus - g_minus) / (2 * step))
    H = -0.5 * (np.array(grads) + np.array(grads).T)
    w, v = np.linalg.eigh(H)
    if not np.all(np.isfinite(w)) or w[0] <= 0:
        return None
    return (v / w) @ v.T


def _initial_positions(logpost, rng, n_walkers):
    """Walkers drawn from the Laplace approximation around the MAP.

    Local optimisation (L-BFGS-B with the analytic gradient) from the prior mean and
    four prior draws; walkers ~ N(u_MAP, (−∇² log p)⁻¹). If the Hessian is not
    negative definite, a ball of 0.1 prior standard deviations is used instead.
    """
    starts = [logpost.mu] + list(
        logpost.mu + logpost.sigma * rng.standard_normal((4, 3))
    )
    u_map = _map_estimate(logpost, starts)
    if u_map is None:
        raise ValueError(
            "the log posterior is -inf everywhere the optimiser looked; check y, "
            "data_cov and the prior (prior_mean, prior_std)"
        )
    cov = _laplace_covariance(logpost, u_map)
    if cov is None:
        cov = np.diag((0.1 * logpost.sigma) ** 2)
    L = np.linalg.cholesky(cov)
    p0 = u_map + rng.standard_normal((n_walkers, _NDIM)) @ L.T
    for i in range(n_walkers):  # redraw, closer to the mode, walkers that land
        for k in range(1, 40):  # where the density is zero (2^-40 ≈ at the mode)
            if np.isfinite(logpost(p0[i])):
                break
            p0[i] = u_map + 0.5**k * L @ rng.standard_normal(_NDIM)
    return p0


def _check_initial(initial, logpost, n_walkers):
    p0 = np.array(initial, dtype=float)
    if p0.shape != (n_walkers, _NDIM) or not np.isfinite(p0).all():
        raise ValueError(
            f"initial must be finite log-space positions of shape ({n_walkers}, "
            f"{_NDIM}) (n_walkers, [log C_W, log C_b, log s]), got shape {p0.shape}"
        )
    bad = [i for i in range(n_walkers) if not np.isfinite(logpost(p0[i]))]
    if bad:
        raise ValueError(
            f"initial walkers {bad} have zero posterior density (outside the prior "
            "truncation or a singular covariance); move them"
        )
    if np.linalg.matrix_rank(p0 - p0.mean(axis=0)) < _NDIM:
        raise ValueError(
            "initial walkers must span all 3 dimensions (they lie in a lower-"
            "dimensional subspace, e.g. identical walkers); add a small random spread"
        )
    return p0


# -- diagnostics ------------------------------------------------------------------
def _split(chains):
    """(m, n) chains -> (2m, n // 2): first and last halves as separate chains."""
    half = chains.shape[1] // 2
    return np.concatenate([chains[:, :half], chains[:, -half:]])


def _rank_normalise(chains):
    """Rank normalisation z = Φ⁻¹((r − 3/8) / (S + 1/4)) [4], as in ArviZ.

    r is the rank among all S pooled draws (ties averaged); 3/8 is Blom's offset.
    """
    r = stats.rankdata(chains, method="average").reshape(chains.shape)
    return stats.norm.ppf((r - 0.375) / (chains.size + 0.25))


def _rhat(chains):
    """Classic R̂ = √(((n−1)/n W + B/n) / W) of (m, n) chains [4]."""
    n = chains.shape[1]
    between = n * np.var(chains.mean(axis=1), ddof=1)
    within = np.mean(np.var(chains, axis=1, ddof=1))
    return float(np.sqrt((between / within + n - 1) / n))


def split_rhat(chains) -> float:
    """Rank-normalised split-R̂ of Vehtari et al. [4] (ArviZ's default ``rhat``).

    .. math::

        \\hat R = \\max\\big(\\hat R(z(\\text{split}(θ))),\\;
            \\hat R(z(|\\text{split}(θ) - \\text{median}|))\\big)

    with z the rank normalisation and R̂ the classic between/within formula.

    Parameters
    ----------
    chains : ndarray of shape (n_chains, n_draws)
        n_chains >= 1 and n_draws >= 4.

    Returns
    -------
    float
        1 for perfectly mixed chains; > 1.01 signals poor mixing. NaN for constant
        chains.
    """
    split = _split(np.asarray(chains, dtype=float))
    if np.ptp(split) == 0:
        return np.nan
    folded = np.abs(split - np.median(split))
    return max(_rhat(_rank_normalise(split)), _rhat(_rank_normalise(folded)))


def _autocovariance(chains):
    """Biased autocovariance of each chain at every lag, by FFT: shape (m, n)."""
    n = chains.shape[1]
    x = chains - chains.mean(axis=1, keepdims=True)
    f = np.fft.rfft(x, n=2 * n, axis=1)
    return np.fft.irfft(f * np.conj(f), n=2 * n, axis=1)[:, :n] / n


def _geyer_time(rho):
    """τ = −1 + 2 Σ ρ_t by Geyer's initial monotone sequence [5] (as in Stan)."""
    n = rho.size
    r = np.zeros(n)
    r[:2] = 1.0, rho[1]
    even, odd, t = 1.0, rho[1], 1
    while t < n - 3 and even + odd > 0:  # initial positive sequence of pair sums
        even, odd = rho[t + 1], rho[t + 2]
        if even + odd >= 0:
            r[t + 1], r[t + 2] = even, odd
        t += 2
    max_t = t - 2
    if even > 0:  # improves the estimate for antithetic chains
        r[max_t + 1] = even
    for t in range(1, max_t - 1, 2):  # made monotone
        if r[t + 1] + r[t + 2] > r[t - 1] + r[t]:
            r[t + 1] = r[t + 2] = (r[t - 1] + r[t]) / 2
    return -1.0 + 2.0 * r[: max_t + 1].sum() + r[max_t + 1 : max_t + 2].sum()


def bulk_ess(chains) -> float:
    """Bulk effective sample size of Vehtari et al. [4] (ArviZ's ``ess``, "bulk").

    .. math::

        \\text{ESS} = \\frac{m n}{τ},\\qquad
        τ = -1 + 2\\sum_t \\hat ρ_t,\\qquad
        \\hat ρ_t = 1 - \\frac{W - \\overline{\\text{acov}_t}}{\\widehat{\\text{var}}^+}

    on the rank-normalised split chains, with the sum truncated by Geyer's initial
    monotone sequence [5].

    Parameters
    ----------
    chains : ndarray of shape (n_chains, n_draws)
        n_draws >= 4.

    Returns
    -------
    float
        The total ESS over all chains; m·n for constant chains.
    """
    z = np.asarray(chains, dtype=float)
    if np.ptp(z) == 0:
        return float(z.size)
    z = _rank_normalise(_split(z))
    m, n = z.shape
    acov = _autocovariance(z)
    within = acov[:, 0].mean() * n / (n - 1)
    var_plus = acov[:, 0].mean() + (np.var(z.mean(axis=1), ddof=1) if m > 1 else 0.0)
    rho = 1.0 - (within - acov.mean(axis=0)) / var_plus  # [4]: combined over chains
    tau = max(_geyer_time(rho), 1.0 / np.log10(m * n))
    return float(m * n / tau)


def _autocorr_time(sampler, burn, thin):
    """emcee's τ in steps; (τ, ok) with ok False when emcee finds the chain short."""
    chain = sampler.get_chain(discard=burn, thin=thin)
    try:
        tau, ok = emcee.autocorr.integrated_time(chain, c=5, tol=_TAU_FACTOR), True
    except emcee.autocorr.AutocorrError as err:
        tau, ok = np.asarray(err.tau, dtype=float), False
    with np.errstate(invalid="ignore"):
        tau = thin * np.asarray(tau, dtype=float)
    # A constant chain (every proposal rejected) has 0/0 autocorrelation.
    return np.where(np.isnan(tau), np.inf, tau), ok


# -- the sampler ------------------------------------------------------------------
def sample_hyperparameters(
    X,
    y,
    data_cov=None,
    depth=1,
    activation="relu",
    prior_mean=(0.0, -2.0, 0.0),
    prior_std=(1.0, 2.0, 1.0),
    n_walkers=16,
    n_steps=2000,
    burn=500,
    thin=1,
    random_state=None,
    progress=False,
    initial=None,
    *,
    moves=None,
) -> HyperparameterPosterior:
    """Sample p(C_W, C_b, s | y) for the NNGP model with emcee.

    .. math::

        y \\sim N\\big(0,\\; K_{C_W, C_b}(X, X) + s\\, C\\big),\\qquad
        u = (\\log C_W, \\log C_b, \\log s),\\quad u_i \\sim N(μ_i, σ_i^2)

    (THEORY.md §3 for K, §4 for the GP posterior). The priors are truncated at
    ±10 σ_i (negligible mass; keeps the kernel finite). K + sC is factorised by
    Cholesky; if round-off makes it fail, a ridge of 1e-10 to 1e-6 of the mean
    diagonal is added (an :class:`IllConditionedWarning` at the end reports how
    often), and where even that fails the density is zero.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Inputs.
    y : ndarray of shape (n_samples,)
        Data.
    data_cov : float, ndarray of shape (n_samples,) or (n_samples, n_samples), \
default=None
        The known data covariance C (positive definite); ``None`` is the identity.
        The noise covariance of the model is s·C, so s = 1 means "C is right".
    depth : int, default=1
        Hidden layers of the network whose NNGP is the prior.
    activation : str or Activation, default="relu"
        See :mod:`nngpbayes.activations`.
    prior_mean : sequence of 3 floats, default=(0.0, -2.0, 0.0)
        μ for (log C_W, log C_b, log s): C_W ≈ 1 (the critical ReLU value is 2),
        a small bias C_b ≈ 0.14, and s ≈ 1 (the stated errors are right).
    prior_std : sequence of 3 positive floats, default=(1.0, 2.0, 1.0)
        σ for (log C_W, log C_b, log s): a factor e ≈ 2.7 for C_W and s, e² ≈ 7.4
        for the poorly constrained C_b.
    n_walkers : int, default=16
        Walkers of the ensemble (>= 6 = 2 × the number of parameters).
    n_steps : int, default=2000
        Steps per walker, burn-in included.
    burn : int, default=500
        Steps discarded at the start of every walker (< n_steps).
    thin : int, default=1
        Keep every ``thin``-th step after burn-in.
    random_state : int, numpy Generator or None, default=None
        Seeds the starting positions and emcee's own generator: equal seeds give
        identical samples.
    progress : bool or None, default=False
        emcee's progress bar; ``None`` shows it on an interactive terminal only.
    initial : ndarray of shape (n_walkers, 3), default=None
        Starting positions in log space. ``None``: draws from the Laplace
        approximation around the posterior mode (found by L-BFGS-B with the
        analytic gradient from the prior mean and four prior draws).
    moves : emcee move or list of (move, weight), default=None
        Passed to :class:`emcee.EnsembleSampler`. ``None``: differential evolution
        (``DEMove``, weight 0.8) mixed with its snooker variant (``DESnookerMove``,
        0.2); on these three-parameter posteriors that gives autocorrelation times
        about three times shorter than emcee's default stretch move.

    Returns
    -------
    HyperparameterPosterior
        Samples (chain = walker), log posterior, acceptance, emcee's τ, R̂, ESS and
        the ``converged`` flag; a :class:`UserWarning` is issued when not converged.

    Raises
    ------
    ValueError
        NaN/inf or mismatched shapes in X, y, data_cov; non-positive-definite
        data_cov; bad prior, chain settings or initial positions.
    """
    X, y, C = _check_data(X, y, data_cov)
    mu = _check_vector(prior_mean, "prior_mean")
    sigma = _check_vector(prior_std, "prior_std", positive=True)
    n_walkers, n_steps, burn, thin = _check_chain_settings(
        n_walkers, n_steps, burn, thin
    )
    rng = _as_generator(random_state)
    logpost = _LogPosterior(X, y, C, depth, activation, mu, sigma)
    if initial is None:
        p0 = _initial_positions(logpost, rng, n_walkers)
    else:
        p0 = _check_initial(initial, logpost, n_walkers)
    # emcee's sampler owns a RandomState seeded from OS entropy (not NumPy's global
    # state, so np.random.seed does not help); seeding it through the initial State
    # is emcee's documented route (it replaced rstate0) and covers every move.
    emcee_rng = np.random.RandomState(rng.integers(2**32, dtype=np.uint64))
    start = emcee.State(p0, random_state=emcee_rng.get_state())
    if moves is None:
        moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    sampler = emcee.EnsembleSampler(n_walkers, _NDIM, logpost, moves=moves)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    n_calls_before, n_jitter_before = logpost.n_calls, logpost.n_jittered
    sampler.run_mcmc(start, n_steps, progress=show)
    _warn_jitter(logpost.n_jittered - n_jitter_before, logpost.n_calls - n_calls_before)
    return _collect(sampler, burn, thin)


def _warn_jitter(n_jittered, n_calls):
    if n_jittered:
        warnings.warn(
            f"{n_jittered} of {n_calls} factorisations of K + sC needed a diagonal "
            "jitter (numerically singular); the results there carry a noise floor "
            "of up to 1e-6 of the kernel's diagonal",
            IllConditionedWarning,
            stacklevel=3,
        )


def _collect(sampler, burn, thin):
    """The post-burn-in chains as (walker, draw) arrays with their diagnostics."""
    u = np.swapaxes(sampler.get_chain(discard=burn, thin=thin), 0, 1)
    tau, tau_ok = _autocorr_time(sampler, burn, thin)
    rhat = {n: split_rhat(u[..., i]) for i, n in enumerate(PARAMETER_NAMES)}
    ess = {n: bulk_ess(u[..., i]) for i, n in enumerate(PARAMETER_NAMES)}
    n_after = sampler.iteration - burn
    converged = bool(
        tau_ok
        and all(r < _RHAT_MAX for r in rhat.values())  # NaN R-hat fails too
        and np.all(n_after > _TAU_FACTOR * tau)
        and all(e > _ESS_MIN for e in ess.values())
    )
    if not converged:
        warnings.warn(
            "the hyperparameter chains did not pass the convergence checks (R-hat "
            f"{_fmt(rhat)}, ESS {_fmt(ess)}, autocorrelation time "
            f"{np.array2string(tau, precision=1)} vs {n_after} post-burn-in steps); "
            "run longer (n_steps) or with more walkers",
            UserWarning,
            stacklevel=3,
        )
    return HyperparameterPosterior(
        samples={n: np.exp(u[..., i]) for i, n in enumerate(PARAMETER_NAMES)},
        log_prob=np.swapaxes(sampler.get_log_prob(discard=burn, thin=thin), 0, 1),
        acceptance=np.asarray(sampler.acceptance_fraction, dtype=float),
        autocorr_time=tau,
        rhat=rhat,
        ess=ess,
        converged=converged,
    )


def _fmt(values):
    return "{" + ", ".join(f"{k}: {v:.3g}" for k, v in values.items()) + "}"


# -- the posterior predictive -----------------------------------------------------
def posterior_predictive(
    posterior,
    X,
    y,
    X_test,
    data_cov=None,
    depth=1,
    activation="relu",
    n_draws=200,
    random_state=None,
) -> dict:
    """GP posterior of the noise-free function at X_test, per hyperparameter draw.

    For each drawn (C_W, C_b, s), THEORY.md §4 (Bayesian posterior, F = I, data
    covariance s·C):

    .. math::

        m = K_{*X} (K_{XX} + sC)^{-1} y,\\qquad
        Σ = K_{**} - K_{*X} (K_{XX} + sC)^{-1} K_{X*}

    and over the draws (law of total variance), with equal weights:

    .. math::

        \\bar m = \\frac1D \\sum_d m_d,\\qquad
        \\bar Σ = \\frac1D \\sum_d Σ_d
            + \\frac1D \\sum_d (m_d - \\bar m)(m_d - \\bar m)^T.

    Parameters
    ----------
    posterior : HyperparameterPosterior
        From :func:`sample_hyperparameters` on the same X, y, data_cov, depth and
        activation.
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    X_test : ndarray of shape (n_test, n_features)
    data_cov : float, ndarray of shape (n_samples,) or (n_samples, n_samples), \
default=None
        The data covariance C (``None``: identity).
    depth : int, default=1
    activation : str or Activation, default="relu"
    n_draws : int, default=200
        Hyperparameter draws, taken uniformly without replacement from all chains;
        if the posterior holds fewer samples, every sample is used once. The result
        has D = min(n_draws, n_chains · n_draws_posterior) rows.
    random_state : int, numpy Generator or None, default=None
        Selects the draws and the function samples.

    Returns
    -------
    dict
        ``"mean"`` ndarray of shape (D, n_test); ``"cov"`` (D, n_test, n_test)
        (8·D·n_test² bytes); ``"samples"`` (D, n_test), one function draw per
        hyperparameter draw; ``"marginal_mean"`` (n_test,); ``"marginal_cov"``
        (n_test, n_test); ``"hyperparameters"``: dict of the D drawn values of
        "weight_variance", "bias_variance", "noise_scale".
    """
    X, y, C = _check_data(X, y, data_cov)
    X_test = check_inputs(X_test, "X_test")
    if X_test.shape[1] != X.shape[1]:
        raise ValueError(
            f"X_test has {X_test.shape[1]} features but X has {X.shape[1]}; they must "
            "match"
        )
    n_draws = _check_int(n_draws, "n_draws", 1)
    rng = _as_generator(random_state)
    theta = _flat_samples(posterior)
    idx = rng.choice(len(theta), size=min(n_draws, len(theta)), replace=False)
    per_draw = [
        _gp_posterior(X, y, C, X_test, _kernel(depth, activation, t), t[2])
        for t in theta[idx]
    ]
    _warn_jitter(sum(j for *_, j in per_draw), len(per_draw))
    means = np.array([m for m, *_ in per_draw])
    covs = np.array([c for _, c, *_ in per_draw])
    samples = np.array([_draw_gaussian(m, c, k, rng) for m, c, k, _ in per_draw])
    marginal_mean = means.mean(axis=0)
    dev = means - marginal_mean
    marginal_cov = covs.mean(axis=0) + dev.T @ dev / len(means)  # total variance
    return {
        "mean": means,
        "cov": covs,
        "samples": samples,
        "marginal_mean": marginal_mean,
        "marginal_cov": marginal_cov,
        "hyperparameters": {n: theta[idx, i] for i, n in enumerate(PARAMETER_NAMES)},
    }


def _flat_samples(posterior):
    """(n_chains · n_draws, 3) natural-unit samples from a posterior object."""
    samples = getattr(posterior, "samples", None)
    if not isinstance(samples, dict) or any(n not in samples for n in PARAMETER_NAMES):
        raise ValueError(
            "posterior must be a HyperparameterPosterior with samples of "
            f"{PARAMETER_NAMES}, got {type(posterior).__name__}"
        )
    theta = np.stack([np.ravel(samples[n]) for n in PARAMETER_NAMES], axis=-1)
    if len(theta) == 0 or not np.all(np.isfinite(theta) & (theta > 0)):
        raise ValueError("posterior samples must be non-empty, finite and positive")
    return theta


def _gp_posterior(X, y, C, X_test, kernel, s):
    """Mean (n_test,), covariance (n_test, n_test), max prior variance, jittered.

    THEORY.md §4 with F = I and data covariance sC; Ref. [6], Alg. 2.1.
    """
    n = len(y)
    with np.errstate(over="ignore", invalid="ignore"):
        K = kernel(np.vstack([X, X_test]))
    L, jittered = _jittered_cholesky(K[:n, :n] + s * C)
    if L is None:
        raise ValueError(
            f"K + sC cannot be factorised at {kernel!r}, s = {s:.4g}; the posterior "
            "does not belong to these data (X, data_cov, depth, activation)"
        )
    alpha = sla.cho_solve((L, True), y)
    V = sla.solve_triangular(L, K[:n, n:], lower=True)
    cov = K[n:, n:] - V.T @ V  # THEORY.md §4: K_** − K_*X (K_XX + sC)⁻¹ K_X*
    prior_scale = float(np.diag(K[n:, n:]).max())
    return K[n:, :n] @ alpha, 0.5 * (cov + cov.T), prior_scale, jittered


def _draw_gaussian(mean, cov, prior_scale, rng):
    """One draw of N(mean, cov) through an eigen-decomposition of the PSD cov.

    The subtraction K_** − VᵀV leaves round-off of order eps·max(diag K_**) in
    every entry, so eigenvalues down to −10·n·eps·``prior_scale`` are noise and are
    clipped to 0; more negative ones mean the covariance is not PSD and are reported.
    """
    w, v = np.linalg.eigh(cov)
    tol = 10 * len(w) * np.finfo(float).eps * prior_scale
    if w[0] < -tol:
        warnings.warn(
            f"a posterior covariance has an eigenvalue {w[0]:.3g} below the round-off "
            f"level {-tol:.3g}; it was clipped to 0 for the function draw",
            IllConditionedWarning,
            stacklevel=4,
        )
    return mean + v @ (np.sqrt(np.clip(w, 0.0, None)) * rng.standard_normal(len(w)))
