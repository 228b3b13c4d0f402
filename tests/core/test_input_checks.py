"""The shared input checks (nngpbayes._validation)."""

import joblib
import numpy as np
import pytest

from nngpbayes._validation import (
    InvalidParameterError,
    check_generator,
    check_inputs,
    check_int,
    check_positive,
    check_real,
    resolve_n_jobs,
)


@pytest.mark.parametrize("bad", [0, -5, 2.5, "64", True, None, np.float64(3.0)])
def test_check_int_refuses_and_names_argument_and_value(bad):
    with pytest.raises(InvalidParameterError, match=r"widths.*" + repr(bad)[:3]):
        check_int(bad, "widths")


def test_check_int_accepts_numpy_integers_and_ranges():
    assert check_int(np.int64(7), "n") == 7
    assert check_int(0, "burn", min_val=0) == 0
    with pytest.raises(ValueError, match="n_fits"):
        check_int(11, "n_fits", max_val=10)
    with pytest.raises(TypeError):  # InvalidParameterError is both
        check_int("1", "n")


def test_check_real_and_positive():
    assert check_real(0.5, "t", min_val=0.0) == 0.5
    for bad in (np.nan, np.inf, -1.0, 0.0, "1", False):
        with pytest.raises(InvalidParameterError, match="learning_rate"):
            check_positive(bad, "learning_rate")
    with pytest.raises(InvalidParameterError, match="level"):
        check_real(3, "level", max_val=2)


def test_check_generator_one_convention():
    g = np.random.default_rng(0)
    assert check_generator(g) is g  # shared: its stream continues
    a, b = check_generator(3).normal(size=4), check_generator(3).normal(size=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, np.random.default_rng(3).normal(size=4))
    assert isinstance(check_generator(None), np.random.Generator)
    assert isinstance(check_generator(np.random.RandomState(1)), np.random.Generator)
    for bad in (1.5, "0", True, -1):
        with pytest.raises(InvalidParameterError, match="random_state"):
            check_generator(bad)


def test_n_jobs_follows_joblib():
    assert resolve_n_jobs(None) == 1
    assert resolve_n_jobs(-1) == joblib.cpu_count()
    assert resolve_n_jobs(-1, n_tasks=1) == 1
    assert resolve_n_jobs(3, n_tasks=10) == 3
    with joblib.parallel_config(n_jobs=2):
        assert resolve_n_jobs(None) == 2
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(InvalidParameterError, match="n_jobs"):
            resolve_n_jobs(bad)


def test_check_inputs():
    np.testing.assert_array_equal(check_inputs([[1, 2]]), [[1.0, 2.0]])
    with pytest.raises(ValueError, match="X_test must be 2-D"):
        check_inputs([1.0, 2.0], "X_test")
    with pytest.raises(ValueError, match="1 NaN"):
        check_inputs([[np.nan, 1.0]])
    with pytest.raises(ValueError, match="non-empty"):
        check_inputs(np.empty((0, 2)))
