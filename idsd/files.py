"""Atomic file writes: the one place that writes a temporary file and moves it into place.

A reader (or a run interrupted half-way) sees either the old file or the complete new one, never a
half-written file: the content goes to ``<name>.tmp<pid>`` in the same folder and ``os.replace``
moves it over the target, which POSIX makes atomic within one file system.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

CSV_ENCODING = "utf-8"
CSV_ERRORS = "surrogateescape"
"""Manifest and table CSVs: UTF-8, with undecodable bytes of file names kept as they are (round trip).

Defined here (and re-exported by :mod:`idsd.validate`) so that this module needs nothing of idsd.
"""


def temporary_path(path: str | os.PathLike) -> Path:
    """``<path>.tmp<pid>``: a sibling of ``path`` that no other process writes."""
    p = Path(path)
    return p.with_name(f"{p.name}.tmp{os.getpid()}")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to produce the file at a temporary path, then move it onto ``path``.

    Parameters
    ----------
    path : str or PathLike
        The target; its folder must exist.
    write : callable
        Receives the temporary path and writes the whole file there.

    Returns
    -------
    Path
        ``path``. When ``write`` raises, the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    tmp = temporary_path(target)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding=encoding))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_json(path: str | os.PathLike, obj, indent: int | None = 2, default=str) -> Path:
    """Write ``obj`` as JSON atomically (``default`` converts what JSON cannot hold)."""
    return write_text(path, json.dumps(obj, indent=indent, default=default) + "\n")


def write_csv(df, path: str | os.PathLike, index: bool = False, **to_csv) -> Path:
    """Write a DataFrame as CSV atomically, in the project's CSV encoding (file names with any bytes)."""
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=index, encoding=CSV_ENCODING,
                                                    errors=CSV_ERRORS, **to_csv))
