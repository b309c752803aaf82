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

    # ---- named artefacts: every module asks for these paths here instead of spelling file names

    def score_file(self, train_corpus: str, eval_corpus: str, mode: str, run: str) -> Path:
        """``scores/<train_corpus>/<eval_corpus>/<mode>/<run>.csv`` (:mod:`idsd.scores`)."""
        return self.scores / train_corpus / eval_corpus / mode / f"{run}.csv"

    def model_file(self, train_corpus: str, mode: str, run: str) -> Path:
        """``models/<train_corpus>/<mode>/<run>.keras`` (:mod:`idsd.artifact`)."""
        return self.models / train_corpus / mode / f"{run}.keras"

    def learning_curve_model_file(self, corpus: str, mode: str, subset: int, n_subsets: int, run: str) -> Path:
        """``models/learning_curve/<corpus>/<mode>/<k>of<n>/<run>.keras``."""
        return self.models / "learning_curve" / corpus / mode / f"{subset}of{n_subsets}" / f"{run}.keras"

    def learning_curve_score_file(self, corpus: str, mode: str, subset: int, n_subsets: int, run: str) -> Path:
        """``scores/learning_curve/<corpus>/<mode>/<k>of<n>/<run>.csv``."""
        return self.scores / "learning_curve" / corpus / mode / f"{subset}of{n_subsets}" / f"{run}.csv"

    @property
    def detector_dir(self) -> Path:
        """``models/detect/``: the installed default ``idsd detect`` model."""
        return self.models / "detect"

    @property
    def learning_curve_table(self) -> Path:
        """``metrics/learning_curve.csv``: one row per (representation, subset) (notebook 06)."""
        return self.metrics / "learning_curve.csv"

    @property
    def features_hardware(self) -> Path:
        """``metrics/features_hardware.csv``: the features benchmark (notebook 02, :mod:`idsd.hardware`)."""
        return self.metrics / "features_hardware.csv"

    @property
    def features_cache_summary(self) -> Path:
        """``metrics/features_cache.csv``: rows and sizes per corpus and representation (notebook 02)."""
        return self.metrics / "features_cache.csv"

    @property
    def runs_table(self) -> Path:
        """``metrics/runs.csv``: one row per training run of the grid (notebook 03)."""
        return self.metrics / "runs.csv"

    def table(self, name: str, ext: str = "csv") -> Path:
        """``tables/<name>.<ext>`` (csv, md or tex; :func:`idsd.reports.write_table`)."""
        return self.tables / f"{name}.{ext}"

    def figure(self, name: str, ext: str = "png") -> Path:
        """``figures/<name>.<ext>`` (png or pdf; :func:`idsd.reports.save_figure`)."""
        return self.figures / f"{name}.{ext}"
