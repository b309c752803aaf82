"""The study index: which corpora a run uses, written by notebook 01, read by the others.

``<outputs>/manifests/study.json`` records, for every corpus of the study, its manifest (one row
per 2-s fragment, see ``docs/architecture.md``) and its role, plus the modified-speech manifest
and the corpus used for the learning curve. Later notebooks never guess paths: they read this.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from idsd.paths import Outputs

STUDY_FILE = "study.json"


@dataclass
class CorpusEntry:
    """One corpus of the study.

    Attributes
    ----------
    name : str
        Corpus name, used as ``dataset`` in manifests and in table rows.
    manifest : str
        Manifest CSV path, relative to the outputs directory.
    train : bool
        Whether detectors are trained on it (in-domain row of the results); eval-only corpora
        (FakeAVCeleb, ASVspoof 2021 DF) only appear as cross-dataset columns.
    paper_name : str
        The paper's abbreviation of the corpus this one stands for (F2S, FREC, AS19, WF, ...).
    """

    name: str
    manifest: str
    train: bool = True
    paper_name: str = ""


@dataclass
class Study:
    """The index of a study's corpora (``<outputs>/manifests/study.json``)."""

    source: str  # "embedded" or "real"
    corpora: list[CorpusEntry] = field(default_factory=list)
    modified_manifest: str | None = None  # modified-speech set, relative to outputs
    modified_base: str | None = None  # corpus whose eval split was modified
    learning_curve_corpus: str | None = None
    quick: bool = False

    def corpus(self, name: str) -> CorpusEntry:
        for c in self.corpora:
            if c.name == name:
                return c
        raise KeyError(f"corpus {name!r} not in the study ({[c.name for c in self.corpora]})")

    @property
    def train_corpora(self) -> list[str]:
        return [c.name for c in self.corpora if c.train]

    @property
    def eval_corpora(self) -> list[str]:
        return [c.name for c in self.corpora]

    def manifest(self, outputs: Outputs, name: str) -> pd.DataFrame:
        """Load the manifest of corpus ``name`` as a DataFrame."""
        from idsd.validate import CSV_ENCODING, CSV_ERRORS

        return pd.read_csv(outputs.base / self.corpus(name).manifest, keep_default_na=False, encoding=CSV_ENCODING,
                           encoding_errors=CSV_ERRORS)

    def modified(self, outputs: Outputs) -> pd.DataFrame | None:
        """Load the modified-speech manifest, or None when the study has none."""
        if not self.modified_manifest:
            return None
        from idsd.validate import CSV_ENCODING, CSV_ERRORS

        return pd.read_csv(outputs.base / self.modified_manifest, keep_default_na=False, encoding=CSV_ENCODING,
                           encoding_errors=CSV_ERRORS)

    def save(self, outputs: Outputs) -> Path:
        """Write the index atomically to ``<outputs>/manifests/study.json``."""
        path = outputs.manifests / STUDY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, outputs: Outputs) -> Study:
        """Read ``<outputs>/manifests/study.json``; a clear error says to run notebook 01 first."""
        path = outputs.manifests / STUDY_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: run notebooks/01_data_prep.ipynb (or ./run_all.sh --only 01) first"
            )
        from idsd.validate import read_study

        return read_study(path)  # every field checked: one-line InputError naming the file and the field
