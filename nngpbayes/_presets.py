"""Settings of named problems, importable without optional extras (private).

The command line shows them in ``--help`` before the extra that runs the problem
is imported; the problem's builder applies the same dictionary.
"""

from __future__ import annotations

__all__ = ["BCDMS_CLOSURE_DEFAULTS", "CLI_CLOSURE_OVERRIDES"]

CLI_CLOSURE_OVERRIDES = {
    "n_replicas": 30,
    "widths": [128],
    "ensemble_steps": 400,
    "times": [0.001, 0.01, 0.1, 1.0, float("inf")],
    "inference": True,
    "n_jobs": -1,
}
"""The settings of ``nngpbayes closure-test`` that differ from
:class:`~nngpbayes.closure.ClosureTest`'s defaults (every other option takes
ClosureTest's): a default run that trains one finite-width ensemble (30 networks
of width 128, 400 steps), reports the analytic ensemble from t = 0.001 to inf,
samples the hyperparameter posterior, and uses every core, in about a minute on
two cores."""

BCDMS_CLOSURE_DEFAULTS = {
    "depth": 2,
    "activation": "erf",
    "weight_variance": 1.0,
    "bias_variance": 0.1,
    "widths": [28],
    "n_fits": 10,
    "n_replicas": 30,
    "ensemble_steps": 2000,
    "times": [0.1, 1.0, 10.0, 100.0],
    "inference_steps": 1500,
}
"""Defaults of the BCDMS xT3 closure test (``closure-test --problem bcdms-t3`` and
:func:`nngpbayes.pdf.bcdms_closure_test`) that differ from the synthetic
problem's: a depth-2 erf network (erf ≈ tanh with a closed-form NNGP, so emcee is
fast), C_W = 1, C_b = 0.1, width-28 networks (Chiefa et al.'s first layer), flow
times 0.1 to 100 (t = inf is unregularised below x = 0.07, where no data
constrain the grid), 10 fits of 30 replicas, 2000 gradient-descent steps at half
the stability limit (flow time ≈ 30), emcee with 1500 steps."""

#: The keys of :data:`BCDMS_CLOSURE_DEFAULTS` that build the Architecture.
ARCHITECTURE_KEYS = ("depth", "activation", "weight_variance", "bias_variance")
