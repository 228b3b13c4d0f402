"""Checks of output locations (private; imports nothing heavy, for the CLI)."""

from __future__ import annotations

import tempfile
from pathlib import Path

__all__ = ["check_writable_dir"]


def check_writable_dir(path, name="checkpoint_dir", *, create=True):
    """Check that files can be written in the directory ``path``.

    Parameters
    ----------
    path : str or os.PathLike
    name : str, default="checkpoint_dir"
        The argument's name in error messages.
    create : bool, default=True
        Create ``path`` (with its parents). Without it nothing is created: a
        missing ``path`` is checked through its nearest existing parent.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If ``path`` is an existing file, cannot be created, or is not writable
        (a read-only file system or permissions; checked by writing a temporary
        file, which also holds for root).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is an existing file, not a directory")
    probe = path
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        else:
            while not probe.exists():
                probe = probe.parent
            if not probe.is_dir():
                raise NotADirectoryError(20, f"{str(probe)!r} is a file")
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(
            f"{name} {str(path)!r} is not a writable directory ({reason})"
        ) from None
    return path
