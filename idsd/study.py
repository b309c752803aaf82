"""The study index: which corpora a run uses, written by notebook 01, read by the others.

``<outputs>/manifests/study.json`` records, for every corpus of the study, its manifest (one row
per 2-s fragment, see ``docs/architecture.md``) and its role, plus the modified-speech manifest
and the corpus used for the learning curve. Later notebooks never guess paths: they read this.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from idsd.files import CSV_ENCODING, CSV_ERRORS, write_json
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
        return pd.read_csv(outputs.base / self.corpus(name).manifest, keep_default_na=False, encoding=CSV_ENCODING,
                           encoding_errors=CSV_ERRORS)

    def modified(self, outputs: Outputs) -> pd.DataFrame | None:
        """Load the modified-speech manifest, or None when the study has none."""
        if not self.modified_manifest:
            return None
        return pd.read_csv(outputs.base / self.modified_manifest, keep_default_na=False, encoding=CSV_ENCODING,
                           encoding_errors=CSV_ERRORS)

    def save(self, outputs: Outputs) -> Path:
        """Write the index atomically to ``<outputs>/manifests/study.json``."""
        path = outputs.manifests / STUDY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_json(path, asdict(self))

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


def install_detector(outputs: Outputs, pair_metrics: pd.DataFrame, models: pd.DataFrame) -> Path:
    """Choose the study's default ``idsd detect`` model and install it in ``<outputs>/models/detect/``.

    The chosen model is the (training corpus, representation) whose mean EER over *every*
    evaluation corpus of the study (in-domain and cross-dataset) is lowest: a detector for
    arbitrary files should generalise, not just win in-domain. The model is copied with its record
    (:mod:`idsd.artifact`), to which the choice is added: ``selection``, ``source_model`` and
    ``evaluation`` (``mean_eer_all_corpora``, ``in_domain_eval_eer``, ``eer_per_corpus``). The
    decision threshold stays the one training stored (its own development split's EER threshold).

    Parameters
    ----------
    outputs : Outputs
    pair_metrics : DataFrame
        :func:`idsd.results.pair_metrics` rows of the detectors (``train_corpus, eval_corpus, run,
        eer``), one per trained model and evaluation corpus.
    models : DataFrame
        :func:`idsd.artifact.find_models` rows (``train_corpus, run, path``).

    Returns
    -------
    Path
        The installed ``.keras`` file.
    """
    import logging
    import shutil

    from idsd.artifact import read_record, sidecars, write_record

    if pair_metrics.empty or models.empty:
        raise ValueError("no evaluated models to choose a default detect model from")
    mean_eer = pair_metrics.groupby(["train_corpus", "run"])["eer"].mean().sort_values(kind="stable")
    train_corpus, run = mean_eer.index[0]
    mine = pair_metrics[(pair_metrics["train_corpus"] == train_corpus) & (pair_metrics["run"] == run)]
    own = mine[mine["eval_corpus"] == train_corpus]
    src = Path(models[(models["train_corpus"] == train_corpus) & (models["run"] == run)].iloc[0]["path"])
    dest_dir = outputs.detector_dir
    dest_dir.mkdir(parents=True, exist_ok=True)
    for old in dest_dir.iterdir():
        if old.is_file():
            old.unlink()
    dest = dest_dir / src.name
    shutil.copy2(src, dest)
    os.utime(dest)  # newest in the folder
    record = dict(read_record(src) or {})
    record.update(
        source_model=str(src),
        selection="lowest mean EER over every evaluation corpus of the study",
        evaluation={"mean_eer_all_corpora": float(mean_eer.iloc[0]),
                    "in_domain_eval_eer": float(own["eer"].iloc[0]) if len(own) else None,
                    "eer_per_corpus": {str(k): float(v) for k, v in zip(mine["eval_corpus"], mine["eer"])}},
    )
    record["paths"] = {k: str(v) for k, v in sidecars(dest).items() if k != "history"}
    write_record(dest, record)
    logging.getLogger(__name__).info(
        "default detect model: %s (trained on %s, mean EER %.3f over %d corpora)", dest.name, train_corpus,
        mean_eer.iloc[0], pair_metrics["eval_corpus"].nunique())
    return dest
