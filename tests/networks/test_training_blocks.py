"""Training in cache-sized blocks of members changes no result.

The reference is the batched path, every member in one block (a budget larger
than the ensemble), against one member per block (a budget of one byte): members
are independent, so predictions, recorded history and the step of a divergence
are bitwise equal.
"""

import warnings

import numpy as np
import pytest

from nngpbayes import MLPEnsemble
from nngpbayes.networks import DivergenceError, _training

ONE_BLOCK, ONE_MEMBER = 10**15, 1


@pytest.mark.parametrize(
    ("sizes", "n_points", "n_members"),
    [([10, 512, 512, 1], 64, 64), ([3, 16, 1], 20, 7), ([2, 64, 64, 2], 500, 5)],
)
def test_member_blocks_cover_the_members_in_order(sizes, n_points, n_members):
    budget = 2**20
    blocks = _training.member_blocks(sizes, n_points, n_members, budget)
    covered = np.concatenate([np.arange(n_members)[b] for b in blocks])
    np.testing.assert_array_equal(covered, np.arange(n_members))
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    member = 8 * (2 * weights + 4 * n_points * sum(sizes[1:]))
    for b in blocks:  # within budget, or a single member that alone exceeds it
        assert (b.stop - b.start) * member <= budget or b.stop - b.start == 1
    assert len(blocks) == -(-n_members // blocks[0].stop)  # equal blocks, then rest


def _fit_with_budget(monkeypatch, budget, kw, X, y, **fit):
    monkeypatch.setattr(_training, "BLOCK_BYTES", budget)
    return MLPEnsemble(**kw).fit(X, y, **fit)


@pytest.mark.parametrize("training", ["full", "readout"])
def test_one_member_per_block_equals_one_block(monkeypatch, training):
    rng = np.random.default_rng(3)
    X, grid = rng.normal(size=(9, 2)), rng.normal(size=(4, 2))
    F = rng.normal(size=(6, 9))  # a forward map with a full data covariance
    cov = np.eye(6) + 0.2
    kw = dict(
        depth=2,
        width=24,
        activation="erf",
        n_members=5,
        random_state=11,
        progress=False,
    )
    fit = dict(
        y=np.sin(F @ X[:, 0]),
        time=0.5,
        n_steps=30,
        replicas=True,
        y_cov=cov,
        forward_map=F,
        training=training,
        record_times=[0.0, 0.25, 0.5],
        record_X=grid,
        record_ntk=True,
    )
    fits = [
        _fit_with_budget(monkeypatch, budget, kw, X, **fit)
        for budget in (ONE_BLOCK, ONE_MEMBER)
    ]
    for attr in ("weights_", "biases_"):
        for a, b in zip(getattr(fits[0], attr), getattr(fits[1], attr), strict=True):
            np.testing.assert_array_equal(a, b)
    for key in ("predictions", "ntk", "time"):
        np.testing.assert_array_equal(fits[0].history_[key], fits[1].history_[key])
    assert fits[0].history_["ntk"].shape == (3, 5, 4, 4)


def test_divergence_reports_the_first_step_over_all_blocks(monkeypatch):
    """Member 0 diverges at a later step than member 1: with one member per
    block, block 0 fails first and block 1 must still report its earlier step."""
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.sin(X[:, 0])
    kw = dict(depth=1, width=64, random_state=0, progress=False)
    limit = 2.0 / MLPEnsemble(**kw, n_members=2).max_flow_eigenvalue(X)
    fit = dict(n_steps=10**5, learning_rate=3 * limit)
    steps = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the StabilityWarning, on purpose
        for n_members, budget in ((1, ONE_BLOCK), (2, ONE_BLOCK), (2, ONE_MEMBER)):
            members = dict(kw, n_members=n_members)
            with pytest.raises(DivergenceError) as info:
                _fit_with_budget(monkeypatch, budget, members, X, y, **fit)
            steps[n_members, budget] = info.value.step
    assert steps[1, ONE_BLOCK] > steps[2, ONE_BLOCK]  # member 1 diverges first
    assert steps[2, ONE_MEMBER] == steps[2, ONE_BLOCK]
