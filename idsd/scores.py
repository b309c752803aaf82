"""Score files: their schema, their place in the outputs tree, reading and collecting them.

Scores are P(real) (higher = more bona fide) everywhere; see :mod:`idsd.metrics`.

One CSV per (training corpus, evaluation corpus, input mode, model), one line per 2-s fragment,
columns :data:`SCORE_COLUMNS`, at ``<outputs>/scores/<train_corpus>/<eval_corpus>/<mode>/<run>.csv``
(:meth:`idsd.paths.Outputs.score_file`). In-domain files (evaluation corpus = training corpus) hold
the ``dev`` and the ``eval`` split (the dev rows give the decision threshold); cross-dataset files
hold the ``eval`` split of the other corpus; the modified-speech set is evaluation corpus
:data:`MODIFIED`; the baselines use the mode folder :data:`BASELINE_MODE`. Learning-curve scores
live under ``<outputs>/scores/learning_curve/<corpus>/<mode>/<k>of<n>/<run>.csv``
(:meth:`idsd.paths.Outputs.learning_curve_score_file`), so they never mix with the main grid.

Writers: :mod:`idsd.scoring` (models and baselines) and :mod:`idsd.learning_curve`; readers:
:mod:`idsd.results`, :mod:`idsd.evidence`, :mod:`idsd.reports`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from idsd.artifact import LEARNING_CURVE
from idsd.files import atomic_write
from idsd.model import parse_run_name
from idsd.paths import Outputs

SCORE_COLUMNS = ("path", "fragment", "dataset", "split", "label", "target", "source", "speaker",
                 "condition", "score")
"""Columns of a score file, in order."""

KEY_COLUMNS = ("train_corpus", "eval_corpus", "mode", "run", "feature", "pooling", "seed")
"""Columns :func:`collect_scores` adds from the score file's location."""

MODIFIED = "modified"
"""Evaluation-corpus name of the modified-speech set in score paths."""

BASELINE_MODE = "baseline"
"""``mode`` level of the baselines' score files: ``scores/<train>/<eval>/baseline/<name>.csv``."""


def score_frame(rows: pd.DataFrame, scores) -> pd.DataFrame:
    """Score-file rows: the manifest columns of the scored fragments plus their score.

    Parameters
    ----------
    rows : DataFrame, n rows
        Manifest rows aligned with the scores (e.g. ``FeatureSet.rows``). ``path`` and
        ``label`` or ``target`` are required; missing ``fragment`` -> 0, ``speaker`` ->
        ``unknown``, ``condition`` -> ``clean``, ``source`` -> ``bonafide``/``unknown``,
        ``dataset``/``split`` -> ``""``.
    scores : array-like, shape (n,)
        P(real).

    Returns
    -------
    DataFrame, n rows, columns :data:`SCORE_COLUMNS`
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(rows) != scores.size:
        raise ValueError(f"{len(rows)} rows but {scores.size} scores: they must be aligned")
    if "path" not in rows:
        raise ValueError("rows need a 'path' column")
    df = pd.DataFrame({"path": rows["path"].astype(str).to_numpy()})
    if "target" in rows:
        target = rows["target"].astype(int).to_numpy()
    elif "label" in rows:
        lab = rows["label"].astype(str).to_numpy()
        if not np.isin(lab, ("real", "fake")).all():
            raise ValueError("label must be 'real' or 'fake'")
        target = (lab == "real").astype(int)
    else:
        raise ValueError("rows need a 'label' or 'target' column")
    if not np.isin(target, (0, 1)).all():
        raise ValueError("target must be 1 (real) or 0 (fake)")
    df["fragment"] = rows["fragment"].astype(int).to_numpy() if "fragment" in rows else 0
    for col, default in (("dataset", ""), ("split", "")):
        df[col] = rows[col].astype(str).to_numpy() if col in rows else default
    df["label"] = np.where(target == 1, "real", "fake")
    df["target"] = target
    if "source" in rows:
        df["source"] = rows["source"].astype(str).to_numpy()
    else:
        df["source"] = np.where(target == 1, "bonafide", "unknown")
    df["speaker"] = rows["speaker"].astype(str).to_numpy() if "speaker" in rows else "unknown"
    df["condition"] = rows["condition"].astype(str).to_numpy() if "condition" in rows else "clean"
    df["score"] = scores
    return df[list(SCORE_COLUMNS)]


def score_path(out: Outputs, train_corpus: str, eval_corpus: str, mode: str, run: str) -> Path:
    """``<outputs>/scores/<train_corpus>/<eval_corpus>/<mode>/<run>.csv``."""
    return out.score_file(train_corpus, eval_corpus, mode, run)


def write_scores(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a score frame atomically (scores with 9 significant digits: float32 round-trips).

    Parameters
    ----------
    df : DataFrame with columns :data:`SCORE_COLUMNS`
    path : str or Path

    Returns
    -------
    Path
    """
    missing = [c for c in SCORE_COLUMNS if c not in df]
    if missing:
        raise ValueError(f"score frame lacks columns {missing}")
    if not np.isfinite(df["score"].to_numpy(dtype=float)).all():
        raise ValueError(f"{path}: NaN or infinite scores")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: df[list(SCORE_COLUMNS)].to_csv(tmp, index=False, float_format="%.9g"))


def read_scores(path: str | os.PathLike) -> pd.DataFrame:
    """Read a score file written by :func:`write_scores` (types restored, strings kept as-is)."""
    df = pd.read_csv(path, keep_default_na=False, dtype={c: str for c in (
        "path", "dataset", "split", "label", "source", "speaker", "condition")})
    missing = [c for c in SCORE_COLUMNS if c not in df]
    if missing:
        raise ValueError(f"{path}: not a score file (missing {missing})")
    df["score"] = pd.to_numeric(df["score"], errors="raise").astype(float)
    df["target"] = df["target"].astype(int)
    df["fragment"] = df["fragment"].astype(int)
    return df


def collect_scores(out: Outputs, include_modified: bool = True) -> pd.DataFrame:
    """Every score file of the main grid in one frame.

    Parameters
    ----------
    out : Outputs
    include_modified : bool
        Include the modified-speech files (``eval_corpus == MODIFIED``).

    Returns
    -------
    DataFrame
        :data:`KEY_COLUMNS` + :data:`SCORE_COLUMNS`; empty (with those columns) when none exist.
    """
    frames = []
    for path in sorted(out.scores.glob("*/*/*/*.csv")):
        train, ev, mode = path.parts[-4], path.parts[-3], path.parts[-2]
        if train == LEARNING_CURVE or (ev == MODIFIED and not include_modified):
            continue
        df = read_scores(path)
        info = parse_run_name(path.stem)
        for k, v in (("train_corpus", train), ("eval_corpus", ev), ("mode", mode), ("run", path.stem),
                     ("feature", info["feature"]), ("pooling", info["pooling"]), ("seed", info["seed"])):
            df.insert(0, k, v)
        frames.append(df)
    cols = list(KEY_COLUMNS) + list(SCORE_COLUMNS)
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


def select(scores: pd.DataFrame, mode: str | None = None, pooling: str | None = None,
           features: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows of one input mode / pooling / feature subset (None keeps all)."""
    keep = np.ones(len(scores), bool)
    if mode is not None:
        keep &= scores["mode"].to_numpy() == mode
    if pooling is not None:
        keep &= scores["pooling"].to_numpy() == pooling
    if features is not None:
        keep &= scores["feature"].isin(list(features)).to_numpy()
    return scores[keep]


def choose_pooling(pooling: str | None, available: Iterable[str]) -> str:
    """The pooling to report: ``pooling`` when given, else the only one available, else ``avg``.

    Raises
    ------
    ValueError
        When ``pooling`` is given but no model uses it.
    """
    avail = sorted(set(available))
    if pooling:
        if avail and pooling not in avail:
            raise ValueError(f"no model with pooling {pooling!r} (available: {avail})")
        return pooling
    if len(avail) == 1:
        return avail[0]
    return "avg" if "avg" in avail or not avail else avail[0]


def trained_corpora(study, table: pd.DataFrame) -> list[str]:
    """The study's training corpora that have a trained detector in ``table``, in the study's order.

    Parameters
    ----------
    study : idsd.study.Study
    table : DataFrame
        Models (:func:`find_models`) or scores (:func:`collect_scores`), with ``train_corpus`` and,
        for scores, ``mode`` (the baselines' rows, ``mode == "baseline"``, do not count).

    Returns
    -------
    list of str
    """
    if table.empty:
        return []
    rows = table[table["mode"] != BASELINE_MODE] if "mode" in table else table
    have = set(rows["train_corpus"])
    return [c for c in study.train_corpora if c in have]
