"""Paths resolved from the package root, never from the current directory.

``ROOT`` is the repository root (the folder above ``idsd/``), overridable with the
``IDSD_ROOT`` environment variable. :class:`Outputs` creates and names the subfolders of an
outputs directory (``outputs/`` for the full study, ``outputs/quick/`` for smoke runs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(os.environ.get("IDSD_ROOT", Path(__file__).resolve().parents[1])).resolve()
NOTEBOOKS = ROOT / "notebooks"
OUTPUTS = ROOT / "outputs"
DOCS = ROOT / "docs"


def resolve(path: str | os.PathLike) -> Path:
    """Return ``path`` as an absolute path; relative paths are taken from :data:`ROOT`."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (ROOT / p).resolve()


@dataclass(frozen=True)
class Outputs:
    """The layout of one outputs directory.

    Parameters
    ----------
    base : str or Path
        The outputs directory; relative paths resolve from :data:`ROOT`.

    Examples
    --------
    >>> out = Outputs("outputs/quick")
    >>> out.tables.name
    'tables'
    """

    base: Path

    SUBDIRS = (
        "tables", "figures", "metrics", "notebooks", "models", "scores", "cache",
        "logs", "data", "manifests",
    )

    def __init__(self, base: str | os.PathLike = OUTPUTS):
        object.__setattr__(self, "base", resolve(base))

    def __getattr__(self, name: str) -> Path:
        if name in type(self).SUBDIRS:
            return self.base / name
        raise AttributeError(name)

    def make(self) -> Outputs:
        """Create every subfolder (idempotent) and return ``self``."""
        for sub in self.SUBDIRS:
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        return self
