"""One BLAS thread for small flow problems (nngpbayes/_threads.py).

The limit is seen from inside the work (threadpoolctl's ``threadpool_info`` in a
patched kernel call), lifted afterwards, absent above the threshold, and results
do not depend on it.
"""

from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import nngpbayes._threads as threads
from nngpbayes import GradientFlowRegressor
from nngpbayes.dynamics import _regressor


def blas_threads():
    """The thread counts of every loaded BLAS library."""
    return [
        lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"
    ]


def large_work_threads():
    """What large work should see: SciPy's BLAS keeps 2 threads; when several BLAS
    libraries are loaded (NumPy's and SciPy's OpenBLAS) the others get 1."""
    libs = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    scipy_own = [Path(lib["filepath"]).parent.name.startswith("scipy") for lib in libs]
    if len(libs) < 2 or not any(scipy_own):
        return {2}
    return {2, 1} if not all(scipy_own) else {2}


def threads_by_kind():
    """{True: threads of SciPy's BLAS libraries, False: of the others}."""
    out = {True: set(), False: set()}
    for lib in threadpool_info():
        if lib["user_api"] == "blas":
            out[Path(lib["filepath"]).parent.name.startswith("scipy")].add(
                lib["num_threads"]
            )
    return out


@pytest.fixture
def two_threads():
    """Start from two BLAS threads, so that a limit to one is visible."""
    with threadpool_limits(2, user_api="blas"):
        if set(blas_threads()) != {2}:
            pytest.skip("BLAS does not accept two threads here")
        yield


@pytest.fixture
def seen(monkeypatch):
    """Record the BLAS thread counts inside every kernel call of the regressor."""
    calls = []
    original = _regressor.nngp_ntk

    def recording(*args, **kwargs):
        calls.append(set(blas_threads()))
        return original(*args, **kwargs)

    monkeypatch.setattr(_regressor, "nngp_ntk", recording)
    return calls


def _data(n):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    return X, np.sin(X[:, 0]), rng.normal(size=(7, 2))


def test_blas_threads_for_limits_small_work_and_restores(two_threads):
    with threads.blas_threads_for(threads.SMALL_WORK - 1):
        assert set(blas_threads()) == {1}
    assert set(blas_threads()) == {2}
    with threads.blas_threads_for(threads.SMALL_WORK):
        assert set(blas_threads()) == large_work_threads()
        kinds = threads_by_kind()
        assert kinds[True] <= {2} and (not kinds[True] or kinds[False] <= {1})
    with pytest.raises(RuntimeError), threads.blas_threads_for(0):
        raise RuntimeError  # restored on errors too
    assert set(blas_threads()) == {2}


def test_small_fit_and_predict_run_on_one_thread(two_threads, seen):
    X, y, Xs = _data(40)
    reg = GradientFlowRegressor(depth=2, bias_variance=0.1).fit(X, y)
    reg.predict(Xs, time=[1.0, 10.0], return_cov=True)
    reg.sample_y(Xs, n_samples=2, time=1.0)
    assert seen and all(s == {1} for s in seen)
    assert set(blas_threads()) == {2}


def test_large_work_keeps_the_threads(two_threads, seen, monkeypatch):
    monkeypatch.setattr(threads, "SMALL_WORK", 0)  # every problem counts as large
    X, y, Xs = _data(40)
    GradientFlowRegressor(depth=2).fit(X, y).predict(Xs, return_std=True)
    assert seen and all(s == large_work_threads() for s in seen)


def test_results_do_not_depend_on_the_limit(two_threads, monkeypatch):
    X, y, Xs = _data(60)

    def run():
        reg = GradientFlowRegressor(depth=2, bias_variance=0.1).fit(X, y)
        return reg.predict(Xs, time=[0.5, np.inf], return_cov=True)

    mean, cov = run()
    monkeypatch.setattr(threads, "SMALL_WORK", 0)
    mean_free, cov_free = run()
    np.testing.assert_allclose(mean, mean_free, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cov, cov_free, rtol=1e-12, atol=1e-14)
