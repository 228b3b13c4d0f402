"""Argument checks of the closure runner and its helpers: every bad argument fails
at construction, before any fit, with an error naming the argument and the value."""

import numpy as np
import pytest

import nngpbayes.closure as closure
from nngpbayes import Architecture
from nngpbayes._validation import InvalidParameterError
from nngpbayes.closure import (
    ClosureTest,
    Oscillating,
    PDFLike,
    PriorDraw,
    experimental_covariance,
    fit_metrics,
    multi_closure,
)


@pytest.mark.parametrize(
    "widths, shown",
    [
        ([0], r"widths\[0\]=0"),
        ([-5], r"widths\[0\]=-5"),
        ([2.5], r"widths\[0\]=2\.5"),
        (["64"], r"widths\[0\]='64'"),
        ([16, 0], r"widths\[1\]=0"),
        ([True], r"widths\[0\]"),
        ("64", r"widths='64'"),
        (64, r"widths=64"),
        ([8, 8], r"widths must be distinct"),
    ],
)
def test_bad_widths_fail_at_construction(widths, shown):
    with pytest.raises(InvalidParameterError, match=shown):
        ClosureTest(widths=widths)


def _truth_never_called(X):
    raise AssertionError("the truth was evaluated before the arguments were checked")


@pytest.mark.parametrize(
    "kwargs, shown",
    [
        (dict(level=-1), "level=-1"),
        (dict(level=1.0), "level=1.0"),
        (dict(level=True), "level"),
        (dict(n_fits=2.5), "n_fits=2.5"),
        (dict(n_fits="3"), "n_fits='3'"),
        (dict(n_replicas=np.float64(4)), "n_replicas"),
        (dict(ensemble_steps=0), "ensemble_steps=0"),
        (dict(inference_steps=4), "inference_steps=4"),
        (dict(inference_walkers=5), "inference_walkers=5"),
        (dict(times=[]), r"times=\[\]"),
        (dict(times=[1.0, -1.0]), "times="),
        (dict(times=[np.nan]), "times="),
        (dict(times="abc"), "times='abc'"),
        (dict(times=[1, 1.0]), "times must be distinct"),
        (dict(random_state=-1), "random_state"),
        (dict(random_state=1.5), "random_state"),
        (dict(progress="yes"), "progress='yes'"),
        (dict(n_jobs=0), "n_jobs=0"),
        (dict(n_jobs=1.5), "n_jobs"),
        (dict(inference="yes"), "inference='yes'"),
        (dict(redraw_truth=1), "redraw_truth=1"),
        (dict(architecture="relu"), "architecture='relu'"),
        (dict(truth_architecture=3), "truth_architecture=3"),
        (dict(X_test=np.zeros((3, 2))), "X_test has 2 features"),
        (
            dict(forward_map=np.ones((4, 7))),
            r"forward_map must have shape \(n_data, 40\)",
        ),
        (dict(forward_map=np.full((4, 40), np.nan)), "forward_map contains NaN"),
    ],
)
def test_bad_arguments_fail_before_the_truth_is_evaluated(kwargs, shown):
    with pytest.raises(InvalidParameterError, match=shown):
        ClosureTest(truth=_truth_never_called, **kwargs)


def test_good_arguments_are_stored_as_plain_values():
    test = ClosureTest(
        truth="pdf",
        widths=np.array([8, 16]),
        times=2.0,
        n_fits=np.int64(3),
        redraw_truth=np.bool_(False),
    )
    assert test.widths == [8, 16] and all(type(w) is int for w in test.widths)
    np.testing.assert_array_equal(test.times, [2.0])
    assert test.n_fits == 3 and type(test.n_fits) is int
    assert test.redraw_truth is False
    assert test.architecture == Architecture(2, "relu", 2.0, 0.1)


@pytest.mark.parametrize(
    "call, shown",
    [
        (lambda: experimental_covariance(np.ones(3), stat=-0.1), "stat=-0.1"),
        (lambda: experimental_covariance(np.ones(3), sys="a"), "sys='a'"),
        (lambda: experimental_covariance(np.ones(3), floor=np.inf), "floor=inf"),
        (lambda: experimental_covariance(np.ones(3), n_sys=1.5), "n_sys=1.5"),
        (lambda: experimental_covariance(np.ones(3), random_state="x"), "random_s"),
        (lambda: PDFLike(a=-1.0), "a=-1.0"),
        (lambda: PDFLike(b=0.0), "b=0.0"),
        (lambda: PDFLike(norm=np.nan), "norm=nan"),
        (lambda: Oscillating(frequency="fast"), "frequency='fast'"),
        (lambda: PriorDraw(random_state=-3), "random_state"),
    ],
)
def test_helpers_name_the_bad_argument(call, shown):
    with pytest.raises(InvalidParameterError, match=shown):
        call()


def test_experimental_covariance_rejects_non_finite_data_and_zero_errors():
    with pytest.raises(ValueError, match="central must be a finite 1-D array"):
        experimental_covariance(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="stat \\+ floor must be > 0"):
        experimental_covariance(np.ones(3), stat=0.0, floor=0.0)


def test_multi_closure_checks_bootstrap_settings():
    fits = [fit_metrics(np.zeros(1), np.eye(1), np.ones(1), np.eye(1))] * 2
    with pytest.raises(InvalidParameterError, match="n_bootstrap=-1"):
        multi_closure(fits, n_bootstrap=-1)
    with pytest.raises(InvalidParameterError, match="random_state"):
        multi_closure(fits, random_state="seed")
    with pytest.raises(ValueError, match="at least one fit"):
        multi_closure([])


def test_multi_closure_bootstrap_follows_random_state():
    rng = np.random.default_rng(5)
    fits = [
        fit_metrics(rng.standard_normal(2), np.eye(2), np.zeros(2), np.eye(2))
        for _ in range(10)
    ]
    a = multi_closure(fits, n_bootstrap=50, random_state=1).errors
    b = multi_closure(fits, n_bootstrap=50, random_state=np.random.default_rng(1))
    c = multi_closure(fits, n_bootstrap=50, random_state=2).errors
    # an int seeds default_rng, as a Generator would (Δχ² is NaN here: not stored)
    assert (a["r_bv"], a["bias"]) == (b.errors["r_bv"], b.errors["bias"])
    assert a["r_bv"] != c["r_bv"]


def test_closure_exports_only_the_public_api():
    for private in (
        "Kernels",
        "gp_posterior",
        "flow_predictions",
        "ensemble_predictions",
    ):
        assert private not in closure.__all__
        assert not hasattr(closure, private)
    for name in closure.__all__:
        assert getattr(closure, name).__module__.startswith("nngpbayes.closure")
