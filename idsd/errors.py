"""Errors that name the offending file and the problem (the SPEC's bad-input contract)."""

from __future__ import annotations

import os


class IDSDError(Exception):
    """Base class of the workbook's own errors."""


class AudioError(IDSDError, ValueError):
    """An audio file that cannot be used, with the file and the reason.

    Parameters
    ----------
    path : str or PathLike
        The file concerned.
    reason : str
        A short human-readable reason, e.g. ``"empty file"`` or ``"shorter than 2 s"``.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
