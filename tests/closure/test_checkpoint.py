"""Checkpointed closure runs: per-fit files, atomic writes, resume, parallel fits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nngpbayes.closure import ClosureTest

SMALL = dict(
    n_fits=4,
    n_replicas=3,
    widths=[32],
    ensemble_steps=10,
    times=(0.1, np.inf),
    X_train=np.linspace(0.05, 0.95, 10)[:, None],
    X_test=np.linspace(0.1, 0.9, 6)[:, None],
    random_state=3,
    progress=False,
)


def _same(a, b, rtol=1e-10):
    """Every fit's scores, data and the first fit's predictions agree."""
    assert a.per_fit.keys() == b.per_fit.keys()
    for label in a.per_fit:
        for fa, fb in zip(a.per_fit[label], b.per_fit[label], strict=True):
            np.testing.assert_allclose(
                [fa.bias, fa.variance, fa.delta_chi2],
                [fb.bias, fb.variance, fb.delta_chi2],
                rtol=rtol,
            )
            np.testing.assert_array_equal(fa.inside_1sigma, fb.inside_1sigma)
        np.testing.assert_allclose(
            a.first_fits[label].mean, b.first_fits[label].mean, rtol=rtol, atol=1e-12
        )
    np.testing.assert_allclose(a.data, b.data, rtol=rtol)
    np.testing.assert_allclose(a.truth_test, b.truth_test, rtol=rtol)
    ma, mb = a.summary()["metrics"], b.summary()["metrics"]
    assert ma.keys() == mb.keys()
    for label in ma:
        assert ma[label] == pytest.approx(mb[label], rel=rtol, abs=1e-12)


@pytest.fixture(scope="module")
def serial():
    return ClosureTest(**SMALL).run()


def test_fits_in_parallel_processes_equal_the_serial_run(serial):
    # every fit draws from its own stream spawned from random_state: workers and
    # completion order change nothing
    _same(ClosureTest(**SMALL, n_jobs=2).run(), serial)


def test_a_second_run_of_the_same_test_is_identical(serial):
    test = ClosureTest(**SMALL)
    test.run()
    _same(test.run(), serial)


def test_each_fit_is_written_and_a_resumed_run_reads_it(tmp_path, serial):
    result = ClosureTest(**SMALL).run(checkpoint_dir=tmp_path / "run")
    _same(result, serial)
    files = sorted(p.name for p in (tmp_path / "run" / "fits").iterdir())
    assert files == [f"fit-0000{i}.npz" for i in range(4)]
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["n_fits"] == 4 and len(manifest["fingerprint"]) == 64
    # resumed with every fit on disk: nothing is computed, the same result
    with np.errstate(all="raise"):
        again = ClosureTest(**SMALL).run(checkpoint_dir=tmp_path / "run", resume=True)
    _same(again, serial)


def test_missing_corrupt_and_half_written_fits_are_redone(tmp_path, serial):
    run = tmp_path / "run"
    ClosureTest(**SMALL).run(checkpoint_dir=run)
    fits = run / "fits"
    (fits / "fit-00001.npz").unlink()  # killed before this fit completed
    data = (fits / "fit-00002.npz").read_bytes()
    (fits / "fit-00002.npz").write_bytes(data[: len(data) // 2])  # truncated copy
    (fits / ".fit-00003.npz.abc.tmp").write_bytes(b"half")  # a killed writer's
    with pytest.warns(RuntimeWarning, match="fit-00002.npz is incomplete or corrupt"):
        result = ClosureTest(**SMALL).run(checkpoint_dir=run, resume=True)
    _same(result, serial)
    assert not list(fits.glob("*.tmp"))
    assert len(list(fits.glob("fit-*.npz"))) == 4


def test_resume_refuses_the_fits_of_another_run(tmp_path):
    ClosureTest(**SMALL).run(checkpoint_dir=tmp_path)
    other = dict(SMALL, random_state=4)
    with pytest.raises(ValueError, match="different closure run .*random_state"):
        ClosureTest(**other).run(checkpoint_dir=tmp_path, resume=True)
    # without resume the old fits are replaced
    ClosureTest(**other).run(checkpoint_dir=tmp_path)
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["random_state"] == 4


def test_checkpoint_dir_is_checked_before_any_work(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("")
    test = ClosureTest(**SMALL)
    with pytest.raises(ValueError, match="is an existing file"):
        test.run(checkpoint_dir=target)
    with pytest.raises(ValueError, match="resume=True needs a checkpoint_dir"):
        test.run(resume=True)
    with pytest.raises(ValueError, match="integer random_state"):
        ClosureTest(**dict(SMALL, random_state=None)).run(checkpoint_dir=tmp_path)
