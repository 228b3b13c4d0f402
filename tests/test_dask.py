"""Scale-out on Dask through joblib: the same results as the serial run.

Needs the ``[dask]`` extra (dask + distributed); skipped without it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

from nngpbayes import MLPEnsemble  # noqa: E402
from nngpbayes.cli import main  # noqa: E402
from nngpbayes.closure import ClosureTest  # noqa: E402
from nngpbayes.finite_width import FiniteWidthFlow, ntk_hierarchy  # noqa: E402

SMALL = dict(
    n_fits=4,
    n_replicas=3,
    widths=[32],
    ensemble_steps=10,
    times=(0.1, np.inf),
    X_train=np.linspace(0.05, 0.95, 10)[:, None],
    X_test=np.linspace(0.1, 0.9, 6)[:, None],
    random_state=5,
    progress=False,
)


@pytest.fixture(scope="module")
def client():
    """A LocalCluster with two worker processes (one thread each)."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def _on_dask(client, fn):
    """Run ``fn()`` with joblib on the cluster; return (result, tasks run there)."""
    with distributed.get_task_stream(client) as ts:
        with joblib.parallel_config(backend="dask"):
            out = fn()
    workers = {t["worker"] for t in ts.data}
    return out, ts.data, workers


def test_closure_run_on_the_cluster_equals_the_serial_run(client):
    serial = ClosureTest(**SMALL).run()
    result, tasks, workers = _on_dask(
        client, lambda: ClosureTest(**SMALL, n_jobs=-1).run()
    )
    assert tasks and len(workers) == 2  # the fits ran on both workers
    for label, fits in serial.per_fit.items():
        got = result.per_fit[label]
        np.testing.assert_allclose(
            [[f.bias, f.variance, f.delta_chi2] for f in got],
            [[f.bias, f.variance, f.delta_chi2] for f in fits],
            rtol=1e-10,
        )
        np.testing.assert_allclose(
            result.first_fits[label].mean, serial.first_fits[label].mean, rtol=1e-10
        )
    np.testing.assert_allclose(result.data, serial.data, rtol=1e-10)


def _ensemble():
    return MLPEnsemble(
        depth=2, width=32, activation="tanh", n_members=6, random_state=2
    )


def test_ensemble_fit_on_the_cluster_equals_the_serial_fit(client):
    X = np.linspace(-1, 1, 12)[:, None]
    y = np.sin(3 * X[:, 0])
    serial = _ensemble().fit(X, y, n_steps=50).predict(X)
    ens, tasks, workers = _on_dask(
        client, lambda: _ensemble().set_params(n_jobs=-1).fit(X, y, n_steps=50)
    )
    assert tasks and workers
    np.testing.assert_allclose(ens.predict(X), serial, rtol=1e-10, atol=1e-12)


def test_finite_width_solves_on_the_cluster_equal_the_serial_ones(client):
    X = np.linspace(-1, 1, 5)[:, None]
    y = np.cos(2 * X[:, 0])
    ens = _ensemble()
    serial = FiniteWidthFlow(ens, X, y).predict(X, time=[0.5, 2.0])
    h_serial = ntk_hierarchy(ens, X)
    (flow, h), tasks, workers = _on_dask(
        client,
        lambda: (
            FiniteWidthFlow(ens, X, y, n_jobs=-1),
            ntk_hierarchy(ens, X, n_jobs=-1),
        ),
    )
    assert tasks and workers  # (joblib may batch members into fewer tasks)
    np.testing.assert_allclose(
        flow.predict(X, time=[0.5, 2.0]), serial, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(h.o4, h_serial.o4, rtol=1e-10, atol=1e-12)


def test_cli_scheduler_runs_the_fits_on_the_cluster(client, tmp_path, capsys):
    args = [
        "closure-test",
        "--n-fits",
        "3",
        "--n-replicas",
        "3",
        "--widths",
        "16",
        "--ensemble-steps",
        "10",
        "--n-train",
        "10",
        "--n-test",
        "6",
        "--no-inference",
        "--no-progress",
    ]
    with distributed.get_task_stream(client) as ts:
        code = main(
            [
                *args,
                "--scheduler",
                client.scheduler.address,
                "--out",
                str(tmp_path / "d"),
            ]
        )
    assert code == 0 and ts.data
    assert "Dask scheduler" in capsys.readouterr().out
    assert main([*args, "--n-jobs", "1", "--out", str(tmp_path / "s")]) == 0
    ma, mb = (
        json.loads((tmp_path / d / "summary.json").read_text())["metrics"] for d in "ds"
    )
    for label in ma:  # bootstrap errors are differences: rounding grows to ~1e-10
        assert ma[label] == pytest.approx(mb[label], rel=1e-8, abs=1e-12)


def test_cli_scheduler_that_does_not_answer_is_a_clear_error(tmp_path, capsys):
    code = main(
        ["closure-test", "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path)]
    )
    assert code == 2
    assert "--scheduler tcp://127.0.0.1:9: cannot connect" in capsys.readouterr().err
