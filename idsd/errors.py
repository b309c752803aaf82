"""Errors that name the offending file and the problem (the bad-input contract of docs/reliability.md).

Every error the workbook raises about its input is an :class:`IDSDError`; the command line
prints it as one line (``idsd <command>: <file>: <problem>``) and exits non-zero, never with a
traceback (``idsd --debug ...`` shows it). File names are shown with :func:`show_path`, so a name
holding a newline or bytes that are not UTF-8 still prints as one readable line.
"""

from __future__ import annotations

import os


def show_path(path: str | os.PathLike | bytes) -> str:
    """A file name for one-line messages: control characters and undecodable bytes escaped.

    ``"a\\nb.wav"`` -> ``"a\\\\nb.wav"``; a name with the byte 0xff (read from the file system as
    the surrogate ``"\\udcff"``) -> ``"\\\\xff"``. Printable names are returned unchanged.
    """
    p = os.fsdecode(path) if isinstance(path, bytes) else os.fspath(path)
    if p.isprintable():
        try:
            p.encode("utf-8")
            return p
        except UnicodeEncodeError:
            pass
    out = []
    for ch in p:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:  # surrogateescape: the raw byte o - 0xDC00
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        elif not ch.isprintable():
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


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
        super().__init__(f"{show_path(self.path)}: {reason}")


class InputError(IDSDError, ValueError):
    """An input file, folder or argument that cannot be used (manifest, model record, score file,
    study index, ``--out`` ...), with the thing concerned and the problem.

    Parameters
    ----------
    path : str or PathLike
        The file, folder or argument name concerned.
    problem : str
        What is wrong, e.g. ``"line 3: column fragment: 'x' is not an integer"``.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        self.reason = problem
        super().__init__(f"{show_path(self.path)}: {problem}")


class MissingInputError(InputError, FileNotFoundError):
    """An input that does not exist (also a :class:`FileNotFoundError`)."""


class TrainingError(IDSDError, ValueError):
    """Training or scoring input that would give a wrong or meaningless result (empty or one-class
    data, labels not in {0, 1}, NaN/inf features, a shape the model was not built for), or a
    diverged run."""
