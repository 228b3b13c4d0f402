"""Each closure fit's result on disk, so that a killed run can be resumed.

A run writes under its directory ``run.json`` (what the run is: the settings and a
fingerprint of its arrays) and one file per completed fit, ``fits/fit-00007.npz``.
Every file is written to a temporary name in the same directory, flushed to disk
and renamed: a rename is atomic, so a reader sees a complete file or none, whenever
the writer is killed (SIGKILL included). A file that cannot be read back whole
(truncated or corrupt, e.g. copied half-way) is reported and its fit redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._files import check_writable_dir
from ._methods import MethodFit
from ._metrics import FitMetrics

__all__ = ["FitRecord", "CheckpointStore", "fingerprint"]

#: The layout version of the files; a different one is never resumed.
FORMAT = 1


@dataclass(frozen=True)
class FitRecord:
    """Everything a closure run keeps of one fit.

    Attributes
    ----------
    index : int
        The fit's number (0 is the first dataset).
    y : ndarray of shape (n_data,)
        The fitted data.
    truth_train : ndarray of shape (n_grid,)
        f_in on the grid.
    truth_test : ndarray of shape (n_test,)
        f_in at the test inputs.
    scores : dict of {str: FitMetrics}
        Per method label, the closure estimators.
    fits : dict of {str: MethodFit}
        Per method label, the predictions (kept for fit 0 only, else empty).
    """

    index: int
    y: np.ndarray
    truth_train: np.ndarray
    truth_test: np.ndarray
    scores: dict
    fits: dict


def _atomic_write(path, write):
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fingerprint(config, arrays):
    """Return a SHA-256 of the run's settings and the bytes of its arrays."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for a in arrays:
        a = None if a is None else np.ascontiguousarray(a, dtype=float)
        h.update(b"none" if a is None else repr(a.shape).encode() + a.tobytes())
    return h.hexdigest()


class CheckpointStore:
    """The directory of one closure run: its description and one file per fit.

    Parameters
    ----------
    path : str or os.PathLike
        Created if needed; must be writable.
    manifest : dict
        JSON-ready description of the run (settings and a ``fingerprint``).
    labels : sequence of str
        The method labels, in the order the records store them.
    resume : bool
        Keep the fits already in ``path`` (which must belong to the same run);
        otherwise they are deleted first.

    Raises
    ------
    ValueError
        If ``path`` is not a writable directory, or ``resume`` is asked of a
        directory that holds another run.
    """

    def __init__(self, path, manifest, labels, resume):
        self.path = check_writable_dir(path)
        self.fits_dir = self.path / "fits"
        self.fits_dir.mkdir(exist_ok=True)
        self.labels = tuple(labels)
        manifest = dict(manifest, format=FORMAT, labels=list(self.labels))
        run = self.path / "run.json"
        if resume and run.exists():
            self._check_same_run(run, manifest)
        else:
            for old in self.fits_dir.glob("fit-*.npz"):
                old.unlink()
        for tmp in self.fits_dir.glob(".fit-*.tmp"):  # left by a killed writer
            tmp.unlink(missing_ok=True)
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
        _atomic_write(run, lambda f: f.write(text.encode()))

    def _check_same_run(self, run, manifest):
        try:
            old = json.loads(run.read_text())
        except (OSError, ValueError):
            old = {}
        new = json.loads(json.dumps(manifest, default=str))
        if old.get("fingerprint") != new["fingerprint"]:
            differ = [
                k for k in sorted(new) if k != "fingerprint" and old.get(k) != new[k]
            ]
            raise ValueError(
                f"cannot resume: {str(self.path)!r} holds the fits of a different "
                f"closure run (differing: {', '.join(differ) or 'the arrays'}); run "
                "without resume to start over there, or choose another directory"
            )

    def _file(self, index):
        return self.fits_dir / f"fit-{index:05d}.npz"

    def save(self, record: FitRecord):
        """Write one fit's record atomically."""
        arrays = _record_arrays(record, self.labels)
        _atomic_write(self._file(record.index), lambda f: np.savez(f, **arrays))

    def load(self, index, keep_fits):
        """Return the record of fit ``index``, or None if absent or unreadable."""
        path = self._file(index)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return _record_from(dict(z.items()), index, self.labels, keep_fits)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            warnings.warn(
                f"{path} is incomplete or corrupt ({type(exc).__name__}); that fit is "
                "redone",
                RuntimeWarning,
                stacklevel=2,
            )
            path.unlink(missing_ok=True)
            return None


def _record_arrays(record, labels):
    s = [record.scores[k] for k in labels]
    arrays = dict(
        index=np.array(record.index),
        y=record.y,
        truth_train=record.truth_train,
        truth_test=record.truth_test,
        bias=np.array([m.bias for m in s]),
        variance=np.array([m.variance for m in s]),
        delta_chi2=np.array([m.delta_chi2 for m in s]),
        inside_1sigma=np.array([m.inside_1sigma for m in s]),
    )
    if record.fits:
        fits = [record.fits[k] for k in labels]
        arrays.update(
            mean=np.array([f.mean for f in fits]),
            cov=np.array([f.cov for f in fits]),
            train_mean=np.array([f.train_mean for f in fits]),
        )
        for k, f in enumerate(fits):
            if f.members is not None:
                arrays[f"members_{k}"] = f.members
    return arrays


def _record_from(z, index, labels, keep_fits):
    if int(z["index"]) != index or len(z["bias"]) != len(labels):
        raise ValueError("the file does not hold this fit")
    scores = {
        k: FitMetrics(
            float(z["bias"][i]),
            float(z["variance"][i]),
            z["inside_1sigma"][i],
            float(z["delta_chi2"][i]),
        )
        for i, k in enumerate(labels)
    }
    fits = {}
    if keep_fits:
        fits = {
            k: MethodFit(
                z["mean"][i], z["cov"][i], z["train_mean"][i], z.get(f"members_{i}")
            )
            for i, k in enumerate(labels)
        }
    return FitRecord(index, z["y"], z["truth_train"], z["truth_test"], scores, fits)
