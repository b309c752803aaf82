"""The model artifact: a ``.keras`` file and the one JSON record beside it, and the one model finder.

Every trained detector is two files::

    <folder>/<run name>.keras          the Keras model (Keras 3 format, loaded in safe mode)
    <folder>/<run name>.record.json    its record (format :data:`RECORD_FORMAT`)
    <folder>/<run name>.history.csv    per-epoch training history (when trained here)

The record is written once, by training (:func:`idsd.train.train_model`), and is what every reader
uses: the reuse check of the training grid (``fingerprint``), the run tables and the protocol notes
of the reports, the hardware table (``peak_rss_mb``, ``train_samples_per_s``), ``idsd eval`` and
``idsd detect`` (``feature``, ``mode``, ``overrides``, ``input_shape``, the decision ``threshold``).
It holds:

- data: ``train_corpus``, ``n_train`` (``n_train_real``/``n_train_fake``), ``n_dev``;
- features: ``feature``, ``mode``, ``overrides``, ``input_shape``, ``feature_key`` (the cache key);
- protocol: ``config`` (the resolved :class:`idsd.train.TrainConfig`), ``batch_size``, ``epochs``,
  ``stop_reason``, ``best_epoch``, seeds;
- versions and machine: ``idsd_version``, ``keras``, ``backend``, ``device`` ...;
- the dev decision threshold: ``threshold`` (the EER threshold of the development split, scored
  with the kept weights), ``threshold_source``, ``dev_eer``, ``dev_auc``;
- metrics: ``final`` (last epoch) and ``kept`` (the epoch whose weights were saved);
- for the installed default detector only, ``selection`` and ``evaluation`` (added by
  :func:`idsd.study.install_detector`).

Layout of a study (:meth:`idsd.paths.Outputs.model_file`)::

    <outputs>/models/<train_corpus>/<mode>/<run>.keras              the grid (notebook 03)
    <outputs>/models/learning_curve/<corpus>/<mode>/<k>of<n>/<run>.keras   the learning curve (06)
    <outputs>/models/detect/<run>.keras                             the default ``idsd detect`` model
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from idsd.errors import IDSDError, show_path
from idsd.files import write_text
from idsd.model import parse_run_name

log = logging.getLogger(__name__)

MODEL_SUFFIX = ".keras"
UPSTREAM_SUFFIX = ".h5"
"""The authors' keras-tcn models (Keras 2 HDF5, :mod:`idsd.upstream`); they have no record."""
RECORD_SUFFIX = ".record.json"
HISTORY_SUFFIX = ".history.csv"
RECORD_FORMAT = "idsd-model/1"
SCORE_MEANING = "P(real): probability that the speech is bona fide (0..1, higher = more genuine)"

LEARNING_CURVE = "learning_curve"
"""Folder of the learning-curve models and scores (under ``models/`` and ``scores/``)."""
DETECT = "detect"
"""Folder of the installed default ``idsd detect`` model under ``models/``."""

MODEL_COLUMNS = ("train_corpus", "mode", "run", "feature", "pooling", "seed", "path")
"""Columns of :func:`find_models`."""


class ModelRecordError(IDSDError, ValueError):
    """A model record that cannot be used (unreadable, not strict JSON, a field out of range)."""


def _stem(model_path: str | os.PathLike) -> Path:
    p = Path(model_path)
    return p.with_name(p.name[: -len(MODEL_SUFFIX)]) if p.name.endswith(MODEL_SUFFIX) else p


def sidecars(model_path: str | os.PathLike) -> dict[str, Path]:
    """``{"model", "history", "record"}`` paths of the artifact saved at ``model_path``."""
    s = _stem(model_path)
    return {"model": s.with_name(s.name + MODEL_SUFFIX), "history": s.with_name(s.name + HISTORY_SUFFIX),
            "record": s.with_name(s.name + RECORD_SUFFIX)}


def record_path(model_path: str | os.PathLike) -> Path:
    """``x/mel_avg_10.keras`` -> ``x/mel_avg_10.record.json``."""
    return sidecars(model_path)["record"]


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_record(model_path: str | os.PathLike, record: dict) -> Path:
    """Write the record of the model at ``model_path`` atomically (strict JSON: NaN becomes null).

    Parameters
    ----------
    model_path : str or PathLike
        The ``.keras`` file (it need not exist yet).
    record : dict
        JSON-serialisable fields; ``format`` and ``score`` are added. Keys holding in-memory
        objects (``model``, ``history``) are left out.

    Returns
    -------
    Path
        The record file.
    """
    rec = {k: v for k, v in record.items() if k not in ("model", "history")}
    rec = {"format": RECORD_FORMAT, "score": SCORE_MEANING, **rec}
    text = json.dumps(_finite(rec), indent=2, default=_json_default, allow_nan=False)
    path = record_path(model_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, text + "\n")


def _finite(obj):
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, float | np.floating) and not np.isfinite(obj):
        return None
    return obj


def read_record(model_path: str | os.PathLike) -> dict | None:
    """The validated record beside ``model_path``, or None when the model has none.

    Raises
    ------
    ModelRecordError
        The record exists but is unreadable, not strict JSON, or fails
        :func:`idsd.validate.check_model_record` (unknown feature/mode, threshold or dev_eer not a
        finite number in [0, 1], malformed overrides or input_shape).
    """
    from idsd.validate import check_model_record, read_json

    path = record_path(model_path)
    if not os.path.lexists(path):
        return None
    try:
        return check_model_record(read_json(path, "model record"), path)
    except IDSDError as exc:
        raise ModelRecordError(str(exc)) from None


def load_model(path: str | os.PathLike, **upstream):
    """Load a saved detector without its optimizer.

    Parameters
    ----------
    path : str or PathLike
        A ``.keras`` file (Keras safe mode, any backend's file), or an authors' keras-tcn ``.h5``
        (``<feature>_<pooling>_<setting>.h5``, :func:`idsd.upstream.load_upstream`: such a file
        has no model record, so no decision threshold: 0.5 applies).
    **upstream
        ``feature``, ``pooling``, ``input_shape`` for an ``.h5`` whose name does not tell them
        (ignored for ``.keras``).

    Returns
    -------
    keras.Model
        Input (batch, n_bins, n_frames) -> output (batch, 1) P(real).

    Raises
    ------
    FileNotFoundError
        No such file.
    idsd.errors.InputError
        An ``.h5`` that does not hold the upstream model's weights (one line: file and problem).
    """
    import keras

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{show_path(p)}: no such model file")
    if p.name.lower().endswith(UPSTREAM_SUFFIX):
        from idsd.upstream import load_upstream

        return load_upstream(p, **upstream)
    return keras.saving.load_model(p, compile=False, safe_mode=True)


def _upstream_mode(path: Path) -> str:
    """Input mode of an authors' ``.h5`` (``image`` for the 640x480 models), ``array`` when it cannot be told."""
    from idsd.upstream import upstream_info

    try:
        return upstream_info(path).mode
    except IDSDError as exc:  # the error is raised again, in full, when the model is loaded
        log.debug("%s: mode not told from the weights (%s); array", path, exc)
        return "array"


def find_models(root: str | os.PathLike, train_corpora=None, mode: str | None = None, features=None,
                run: str | None = None, layout: str = "grid") -> pd.DataFrame:
    """The trained models under a models folder: the one finder of the package.

    Parameters
    ----------
    root : str or PathLike
        ``<outputs>/models`` (or any folder of ``.keras`` files with ``layout="any"``).
    train_corpora, mode, features : optional
        Keep only these training corpora / this input mode / these representations.
    run : str, optional
        Keep only the models of this run name (e.g. ``mel_avg_10``).
    layout : {"grid", "any"}
        ``grid``: the study layout ``<root>/<train_corpus>/<mode>/<run>.keras`` (the learning
        curve's and the installed detector's folders are not part of it). ``any``: every
        ``.keras`` file below ``root``, and every authors' keras-tcn ``<run>.h5``
        (:mod:`idsd.upstream`); corpus, mode and feature come from the record, else from the
        file name (``<feature>_<pooling>_<setting>``) and, for an ``.h5``, the mode from its
        weights (``image`` for a 640x480 input, else ``array``; corpus ``upstream``).

    Returns
    -------
    DataFrame
        Columns :data:`MODEL_COLUMNS`, sorted by path.
    """
    root = Path(root)
    rows = []
    if layout == "grid":
        paths = sorted(root.glob(f"*/*/*{MODEL_SUFFIX}"))
        paths = [p for p in paths if p.parts[-3] not in (LEARNING_CURVE, DETECT)]
    elif layout == "any":
        paths = sorted(p for p in root.rglob("*")
                       if (p.name.endswith(MODEL_SUFFIX) or p.name.lower().endswith(UPSTREAM_SUFFIX)) and p.is_file())
    else:
        raise ValueError(f"layout must be 'grid' or 'any', got {layout!r}")
    for p in paths:
        info = parse_run_name(p.stem)
        row = {"train_corpus": p.parts[-3] if len(p.parts) >= 3 else "", "mode": p.parts[-2],
               "run": p.stem, "feature": info["feature"], "pooling": info["pooling"], "seed": info["seed"],
               "path": str(p)}
        if p.name.lower().endswith(UPSTREAM_SUFFIX):
            row.update(train_corpus="upstream", mode=_upstream_mode(p))
        elif layout == "any":
            rec = read_record(p) or {}
            row["train_corpus"] = rec.get("train_corpus") or "unknown"
            row["mode"] = rec.get("mode") or "array"
            row["feature"] = rec.get("feature") or info["feature"]
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(MODEL_COLUMNS))
    if train_corpora is not None:
        df = df[df["train_corpus"].isin(list(train_corpora))]
    if mode is not None:
        df = df[df["mode"] == mode]
    if features is not None:
        df = df[df["feature"].isin(list(features))]
    if run is not None:
        df = df[df["run"] == run]
    return df.reset_index(drop=True)


def newest_model(folder: str | os.PathLike) -> Path | None:
    """The most recently written ``.keras`` file directly in ``folder``, or None."""
    candidates = sorted(Path(folder).glob(f"*{MODEL_SUFFIX}"), key=lambda p: (p.stat().st_mtime, p.name))
    if len(candidates) > 1:
        log.info("%d models in %s; using the newest, %s", len(candidates), folder, candidates[-1].name)
    return candidates[-1] if candidates else None


def records_under(root: str | os.PathLike, learning_curve: bool = False) -> list[dict]:
    """Every readable model record of the grid under ``root`` (``<outputs>/models``), sorted by path.

    Parameters
    ----------
    learning_curve : bool
        Also the learning curve's records (``models/learning_curve/...``). The installed detector's
        copy (``models/detect``) is never included: it duplicates a grid record.
    """
    root = Path(root)
    out = []
    for p in sorted(root.rglob(f"*{RECORD_SUFFIX}")):
        top = p.relative_to(root).parts[0]
        if top == DETECT or (top == LEARNING_CURVE and not learning_curve):
            continue
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError) as exc:
            log.warning("model record %s unreadable: %s", p, exc)
    return out
