"""Order-0 and order-1 predictions against real gradient-descent training, over
widths 256 … 4096 (issue acceptance; `pytest -m slow`).

Per network the error of the frozen-NTK prediction falls like 1/n and that of the
first-order prediction like n^(−3/2) or faster (:ref:`theory-5`). 12 networks per
width, geometric means (the errors are heavy-tailed), 8 training and 8 test inputs,
t = 2 in 40 gradient-descent steps, compared with the discrete-step theory.
"""

import numpy as np
import pytest

from nngpbayes import MLPEnsemble
from nngpbayes.finite_width import FiniteWidthFlow

WIDTHS = [256, 512, 1024, 2048, 4096]
NETWORKS, TIME, STEPS = 12, 2.0, 40


def _errors(activation, depth, width):
    rng = np.random.default_rng(7)
    X = rng.uniform(-1.5, 1.5, (8, 2))
    Z = np.vstack([X, rng.uniform(-1.5, 1.5, (8, 2))])
    y = np.sin(2.0 * X[:, 0]) + 0.5 * X[:, 1]
    ens = MLPEnsemble(
        depth=depth,
        width=width,
        activation=activation,
        bias_variance=0.1,
        n_members=NETWORKS,
        random_state=width + depth,
        progress=False,
        n_jobs=-1,  # results do not depend on n_jobs; all cores for speed
    )
    h0 = ens.initialize(2).empirical_ntk(X)
    ens.fit(X, y, time=TIME, n_steps=STEPS)
    real = ens.predict(Z)
    out = []
    for order in (0, 1):
        flow = FiniteWidthFlow(ens, X, y, order=order, dt=TIME / STEPS)
        err = np.sqrt(np.mean((flow.predict(Z, TIME) - real) ** 2, axis=1))
        out.append(np.exp(np.mean(np.log(err))))
    measured = ens.empirical_ntk(X) - h0
    rel = np.linalg.norm(flow.predict_ntk(TIME) - h0 - measured, axis=(1, 2))
    rel /= np.linalg.norm(measured, axis=(1, 2))
    out.append(np.exp(np.mean(np.log(rel))))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("activation", ["tanh", "erf"])
def test_error_slopes(activation, depth):
    errs = np.array([_errors(activation, depth, w) for w in WIDTHS])
    logw = np.log(WIDTHS)
    slope0, slope1, slope_drift = (
        np.polyfit(logw, np.log(errs[:, i]), 1)[0] for i in range(3)
    )
    assert slope0 <= -0.75, (slope0, errs)
    assert slope1 <= -1.3, (slope1, errs)
    # the predicted NTK drift approaches the measured one as the width grows
    assert slope_drift < -0.3, (slope_drift, errs)
    assert np.all(errs[:, 1] < 0.2 * errs[:, 0])
