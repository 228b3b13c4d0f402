"""Posterior of the NNGP hyperparameters by MCMC: the emcee driver (package-internal).

The ensemble sampler of Goodman & Weare [1] as implemented by emcee [2] draws from
p(u | y), u = (log C_W, log C_b, log s) (see :mod:`._hyperposterior` for the model).
Convergence is judged by emcee's integrated autocorrelation time [2, 3] and by
ArviZ's rank-normalised split-R̂ and bulk effective sample size [4], computed on the
returned draws through :mod:`._arviz`.

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
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

import emcee
import numpy as np

from .._threads import blas_threads_for
from .._validation import check_generator, check_int
from . import _arviz
from ._hyperposterior import (
    N_PARAMETERS,
    PARAMETER_NAMES,
    PRIOR_MEAN,
    PRIOR_STD,
    LogPosterior,
    check_data,
    check_prior,
    warn_jitter,
)
from ._laplace import check_initial, initial_positions

__all__ = ["HyperparameterPosterior", "chain_diagnostics", "sample_hyperparameters"]

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
        ArviZ's rank-normalised split-R̂ [4] of ``samples`` per parameter
        (``arviz.rhat`` of :meth:`to_arviz`); NaN for a constant chain.
    ess : dict of str to float
        ArviZ's bulk effective sample size [4] of ``samples`` per parameter
        (``arviz.ess(..., method="bulk")`` of :meth:`to_arviz`).
    converged : bool
        True when, for every parameter, R̂ < 1.01, the post-burn-in chain is longer
        than 50 autocorrelation times (emcee's own criterion; ``n_steps - burn >
        50 τ``) and the bulk ESS exceeds 400.
    forward_map : ndarray of shape (n_data, n_grid) or None, default=None
        The forward map F of the model y = F f(X) + ε the draws belong to (None:
        sampled without one, or not recorded). :func:`posterior_predictive` checks
        that it is given the same F.
    """

    samples: dict
    log_prob: np.ndarray
    acceptance: np.ndarray
    autocorr_time: np.ndarray
    rhat: dict
    ess: dict
    converged: bool
    forward_map: np.ndarray | None = None

    def log_samples(self) -> np.ndarray:
        """Return the draws of u = log(C_W, C_b, s), shape (n_chains, n_draws, 3)."""
        return np.log(np.stack([self.samples[n] for n in PARAMETER_NAMES], axis=-1))

    def to_arviz(self):
        """Return the draws as ArviZ data.

        The groups are ``posterior`` (``samples``) and ``sample_stats`` (``lp`` =
        ``log_prob``), each variable of shape (chain, draw); with a forward map, also
        ``constant_data`` holding ``forward_map`` of dims (``datum``, ``grid_point``).

        Returns
        -------
        arviz.InferenceData or xarray.DataTree
            As :func:`nngpbayes.closure._arviz.to_arviz` (by the ArviZ line).
        """
        groups = {
            "posterior": dict(self.samples),
            "sample_stats": {"lp": self.log_prob},
        }
        if self.forward_map is None:
            return _arviz.to_arviz(groups)
        groups["constant_data"] = {"forward_map": np.asarray(self.forward_map)}
        return _arviz.to_arviz(groups, dims={"forward_map": ["datum", "grid_point"]})

    def summary(self) -> dict:
        """Per parameter: posterior mean and std of its log, R̂, ESS and τ."""
        u = self.log_samples().reshape(-1, N_PARAMETERS)
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


def chain_diagnostics(samples):
    """ArviZ's R̂ and bulk ESS of each parameter's chains.

    Parameters
    ----------
    samples : dict of str to ndarray of shape (n_chains, n_draws)

    Returns
    -------
    rhat, ess : dict of str to float
        As :func:`nngpbayes.closure._arviz.rhat` and :func:`~._arviz.ess` (bulk).
    """
    data = _arviz.to_arviz({"posterior": samples})
    return _arviz.rhat(data), _arviz.ess(data)


def _check_chain_settings(n_walkers, n_steps, burn, thin):
    """Return the four chain settings as ints, checked together."""
    n_walkers = check_int(n_walkers, "n_walkers", 2 * N_PARAMETERS)
    n_steps = check_int(n_steps, "n_steps", 1)
    burn = check_int(burn, "burn", 0)
    thin = check_int(thin, "thin", 1)
    if burn >= n_steps:
        raise ValueError(f"burn must be < n_steps={n_steps}, got burn={burn}")
    if (n_steps - burn) // thin < 4:
        raise ValueError(
            f"(n_steps - burn) // thin = {(n_steps - burn) // thin} draws per walker "
            f"(n_steps={n_steps}, burn={burn}, thin={thin}) are too few for split-"
            "R-hat; at least 4 are needed"
        )
    return n_walkers, n_steps, burn, thin


def _autocorr_time(sampler, burn, thin):
    """Return emcee's τ in steps: (τ, ok), ok False when emcee finds the chain short."""
    chain = sampler.get_chain(discard=burn, thin=thin)
    try:
        tau, ok = emcee.autocorr.integrated_time(chain, c=5, tol=_TAU_FACTOR), True
    except emcee.autocorr.AutocorrError as err:
        tau, ok = np.asarray(err.tau, dtype=float), False
    with np.errstate(invalid="ignore"):
        tau = thin * np.asarray(tau, dtype=float)
    # A constant chain (every proposal rejected) has 0/0 autocorrelation.
    return np.where(np.isnan(tau), np.inf, tau), ok


def sample_hyperparameters(
    X,
    y,
    data_cov=None,
    depth=1,
    activation="relu",
    prior_mean=PRIOR_MEAN,
    prior_std=PRIOR_STD,
    n_walkers=16,
    n_steps=2000,
    burn=500,
    thin=1,
    random_state=None,
    progress=False,
    initial=None,
    *,
    moves=None,
    forward_map=None,
) -> HyperparameterPosterior:
    r"""Sample p(C_W, C_b, s | y) for the NNGP model with emcee.

    .. math::

        y = F f(X) + ε,\quad f \sim GP(0, K_{C_W, C_b}),\quad ε \sim N(0, sC):
        \qquad y \sim N\big(0,\; F K_{C_W, C_b}(X, X) F^T + s\, C\big),

        u = (\log C_W, \log C_b, \log s),\quad u_i \sim N(μ_i, σ_i^2)

    (:ref:`theory-3` for K, §4 for the GP posterior; F = I without ``forward_map``).
    The priors are truncated at ±10 σ_i (negligible mass; keeps the kernel finite).
    F K Fᵀ + sC is factorised by Cholesky; if round-off makes it fail, a ridge of
    1e-10 to 1e-6 of the mean diagonal is added (an :class:`IllConditionedWarning`
    at the end reports how often), and where even that fails the density is zero.
    Problems of up to 512 data (or grid) points are sampled with BLAS on one thread
    (a second thread only waits at these sizes); results change by rounding only.

    Parameters
    ----------
    X : ndarray of shape (n_grid, n_features)
        Inputs of f: the data inputs (n_grid = n_data) without ``forward_map``,
        the grid inputs with it.
    y : ndarray of shape (n_data,)
        Data.
    data_cov : float, ndarray of shape (n_data,) or (n_data, n_data), default=None
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
        Keep every ``thin``-th step after burn-in; at least 4 draws per walker
        must remain.
    random_state : int, numpy Generator, RandomState or None, default=None
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
        (``DEMove``); on these three-parameter posteriors it gives autocorrelation
        times about three times shorter than emcee's default stretch move. Avoid
        emcee's ``DESnookerMove`` (up to 3.1.6 at least): it scales its direction
        by ‖z − s‖^(−1/2) instead of normalising it, so its acceptance ratio is
        wrong and it samples too narrow a posterior (standard deviation 0.90 on a
        3-D standard normal).
    forward_map : ndarray of shape (n_data, n_grid), default=None
        The linear forward map F (an FK table) of y = F f(X) + ε; ``None`` is the
        identity (bit for bit the model without a map). Recorded on the result.

    Returns
    -------
    HyperparameterPosterior
        Samples (chain = walker), log posterior, acceptance, emcee's τ, ArviZ's R̂
        and ESS and the ``converged`` flag; a :class:`UserWarning` is issued when
        not converged.

    Raises
    ------
    ValueError
        NaN/inf or mismatched shapes in X, y, data_cov, forward_map;
        non-positive-definite data_cov; bad prior, chain settings, random_state or
        initial positions (all checked before sampling).
    """
    X, y, C, F = check_data(X, y, data_cov, forward_map)
    mu, sigma = check_prior(prior_mean, prior_std)
    n_walkers, n_steps, burn, thin = _check_chain_settings(
        n_walkers, n_steps, burn, thin
    )
    rng = check_generator(random_state)
    logpost = LogPosterior(X, y, C, depth, activation, mu, sigma, forward_map=F)
    # Small factorisations on one BLAS thread (:mod:`nngpbayes._threads`): a
    # second thread gains nothing at n ~ 100 and, on a loaded machine, makes every
    # call wait for it (10x per call measured at n = 200).
    with blas_threads_for(float(max(X.shape[0], len(y))) ** 3):
        if initial is None:
            p0 = initial_positions(logpost, rng, n_walkers)
        else:
            p0 = check_initial(initial, logpost, n_walkers)
        n_calls_before, n_jitter_before = logpost.n_calls, logpost.n_jittered
        sampler = _run_emcee(logpost, p0, rng, n_steps, moves, progress)
    warn_jitter(
        logpost.n_jittered - n_jitter_before,
        logpost.n_calls - n_calls_before,
        name=logpost.matrix_name,
    )
    return _collect(sampler, burn, thin, F)


def _run_emcee(logpost, p0, rng, n_steps, moves, progress):
    """Run an :class:`emcee.EnsembleSampler` from ``p0`` for ``n_steps`` steps."""
    # emcee's sampler owns a RandomState seeded from OS entropy (not NumPy's global
    # state, so np.random.seed does not help); seeding it through the initial State
    # is emcee's documented route (it replaced rstate0) and covers every move.
    emcee_rng = np.random.RandomState(rng.integers(2**32, dtype=np.uint64))
    start = emcee.State(p0, random_state=emcee_rng.get_state())
    if moves is None:
        moves = emcee.moves.DEMove()
    sampler = emcee.EnsembleSampler(len(p0), N_PARAMETERS, logpost, moves=moves)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    sampler.run_mcmc(start, n_steps, progress=show)
    return sampler


def _collect(sampler, burn, thin, forward_map=None):
    """Collect the post-burn-in chains as (walker, draw) arrays, with diagnostics."""
    u = np.swapaxes(sampler.get_chain(discard=burn, thin=thin), 0, 1)
    samples = {n: np.exp(u[..., i]) for i, n in enumerate(PARAMETER_NAMES)}
    tau, tau_ok = _autocorr_time(sampler, burn, thin)
    rhat, ess = chain_diagnostics(samples)
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
        samples=samples,
        log_prob=np.swapaxes(sampler.get_log_prob(discard=burn, thin=thin), 0, 1),
        acceptance=np.asarray(sampler.acceptance_fraction, dtype=float),
        autocorr_time=tau,
        rhat=rhat,
        ess=ess,
        converged=converged,
        forward_map=forward_map,
    )


def _fmt(values):
    return "{" + ", ".join(f"{k}: {v:.3g}" for k, v in values.items()) + "}"
