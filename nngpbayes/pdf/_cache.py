"""On-disk cache of forward maps (private).

Location, first match wins: the ``cache_dir`` argument; the environment variable
``NNGPBAYES_CACHE_DIR``; ``$XDG_CACHE_HOME/nngpbayes``; ``~/.cache/nngpbayes``
(the XDG base-directory convention; no extra dependency). Files are ``.npz``
archives named by a SHA-256 digest of everything the map depends on, written to a
temporary file in the same directory and renamed (atomic on POSIX and Windows), so
a crash or a concurrent writer never leaves a truncated file under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "cache_dir",
    "cache_key",
    "load_array",
    "load_arrays",
    "save_array",
    "save_arrays",
]


def cache_dir(path=None) -> Path:
    """Return the directory holding cached forward maps (not created here).

    Parameters
    ----------
    path : str or os.PathLike, optional
        Explicit directory; overrides the environment.

    Returns
    -------
    Path
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get("NNGPBAYES_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "nngpbayes"


def cache_key(settings: dict, *arrays: np.ndarray) -> str:
    """SHA-256 digest of JSON ``settings`` and the bytes of float64 ``arrays``."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for arr in arrays:
        a = np.ascontiguousarray(arr, dtype=np.float64)
        digest.update(str(a.shape).encode())
        digest.update(a.tobytes())
    return digest.hexdigest()[:32]


def load_arrays(path: Path) -> dict | None:
    """Load the arrays stored in ``path`` by :func:`save_arrays`; None if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: np.array(archive[k], dtype=np.float64) for k in archive.files}
    except (OSError, KeyError, ValueError, EOFError):
        return None


def load_array(path: Path) -> np.ndarray | None:
    """Return the array stored by :func:`save_array` (key ``"F"``), or None."""
    arrays = load_arrays(path)
    return None if arrays is None or "F" not in arrays else arrays["F"]


def save_arrays(path: Path, arrays: dict) -> None:
    """Write float64 ``arrays`` to ``path`` atomically.

    Via a temporary file, then ``os.replace`` in the same directory.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(
                handle, **{k: np.asarray(v, np.float64) for k, v in arrays.items()}
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_array(path: Path, array: np.ndarray) -> None:
    """Write one array (key ``"F"``) atomically, see :func:`save_arrays`."""
    save_arrays(path, {"F": array})
