"""Arguments of FiniteWidthFlow and ntk_hierarchy: every bad one is refused with an
error naming it and the value received, before any tensor is computed."""

import numpy as np
import pytest

from nngpbayes import MLPEnsemble
from nngpbayes.finite_width import FiniteWidthFlow, _flow, _hierarchy, ntk_hierarchy

X = np.linspace(-1.0, 1.0, 8).reshape(4, 2)
Y = np.sin(X[:, 0])


def _ens():
    return MLPEnsemble(depth=1, width=8, activation="tanh", n_members=2, random_state=0)


@pytest.fixture
def no_long_work(monkeypatch):
    """Make the per-member tensors (the long work) fail if they are ever reached."""

    def forbidden(*args, **kwargs):
        raise AssertionError("tensors computed before the arguments were checked")

    monkeypatch.setattr(_flow, "_member_tensors", forbidden)
    monkeypatch.setattr(_hierarchy, "_member_tensors", forbidden)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"order": 2}, "order must be 0 or 1, got 2"),
        ({"order": 1.0}, "order must be 0 or 1, got 1.0"),
        ({"order": "1"}, "order must be 0 or 1, got '1'"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": np.inf}, "learning_rate"),
        ({"learning_rate": "1"}, "learning_rate"),
        ({"dt": -0.1}, "dt"),
        ({"dt": np.nan}, "dt"),
        ({"method": "euler"}, "method must be one of"),
        ({"training": "last"}, "training must be one of"),
        ({"y_cov": -np.eye(4)}, "y_cov"),
        ({"y_cov": np.eye(3)}, "y_cov"),
    ],
)
def test_flow_rejects_bad_arguments_before_long_work(no_long_work, kwargs, match):
    with pytest.raises(ValueError, match=match):
        FiniteWidthFlow(_ens(), X, Y, **kwargs)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.where(X > 0.5, np.nan, X), Y), "X contains"),
        ((X, Y[:-1]), "y must have shape"),
        ((X, np.where(Y > 0.5, np.inf, Y)), "y contains NaN"),
    ],
)
def test_flow_rejects_bad_data_before_long_work(no_long_work, args, match):
    with pytest.raises(ValueError, match=match):
        FiniteWidthFlow(_ens(), *args)


def test_flow_rejects_a_non_ensemble(no_long_work):
    with pytest.raises(TypeError, match="ensemble must be an MLPEnsemble, got str"):
        FiniteWidthFlow("network", X, Y)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"output": 1}, "output"),
        ({"output": 0.0}, "output"),
        ({"X_rows": X[:, :1]}, "X_rows has 1 features"),
        ({"X_rows": np.full((2, 2), np.nan)}, "X_rows contains"),
    ],
)
def test_hierarchy_rejects_bad_arguments_before_long_work(no_long_work, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ntk_hierarchy(_ens(), X, **kwargs)


def test_the_guard_sees_the_long_work(no_long_work):
    """The fixture does catch a call that gets as far as the tensors."""
    with pytest.raises(AssertionError, match="before the arguments were checked"):
        ntk_hierarchy(_ens(), X)
