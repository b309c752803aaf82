"""One validation layer for everything the package reads.

Every entry point (``idsd manifest``, ``idsd features``, ``idsd detect``, ``idsd train`` /
``eval``, :func:`idsd.datasets.build_manifest`, :func:`idsd.cache.load_feature_set`, the model
record, score file and study index readers) checks its input here: each field for type, range and
consistency. Every problem raises an :class:`idsd.errors.IDSDError` naming the file and the
problem (:class:`~idsd.errors.AudioError` for audio, :class:`~idsd.errors.InputError` for the
rest); the command line prints it as one line and exits non-zero.

File names are data, never syntax:

- :func:`ffmpeg_input` gives ffmpeg ``file:/absolute/path`` (a file named ``pipe:x.m4a`` or
  ``-y.wav`` is read as that file, never as a protocol or an option);
- manifests are written and read with :data:`CSV_ENCODING` / :data:`CSV_ERRORS`
  (``surrogateescape``): a name holding bytes that are not UTF-8 round-trips byte for byte, and
  quoting keeps names with commas, quotes or newlines intact;
- messages show names through :func:`idsd.errors.show_path` (one line whatever the name).
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from idsd import CLIP_SAMPLES, SAMPLE_RATE
from idsd.errors import AudioError, InputError, MissingInputError, show_path
from idsd.files import CSV_ENCODING, CSV_ERRORS  # re-exported: the manifests' CSV encoding lives there

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "eval")
LABELS = ("real", "fake")
MAX_FRAGMENT = 10**7
"""Largest fragment index accepted (2e7 s, 230 days of audio in one file)."""

MAX_ABS_SAMPLE = 8.0
"""Decoded samples beyond +-8 (+18 dBFS) are not normalised audio: the file is refused."""

CLIP_S = CLIP_SAMPLES / SAMPLE_RATE


# --------------------------------------------------------------------------- paths


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def file_problem(path: str | os.PathLike, allow_empty: bool = False) -> str | None:
    """Why ``path`` cannot be read as a regular file, or ``None`` when it can.

    Never opens anything but regular files (a FIFO would block). Reasons: ``file not found``,
    ``broken symlink``, ``symlink loop``, ``is a folder, not a file``, ``not a regular file (a
    FIFO (named pipe))``, ``unreadable (permission denied)``, ``empty file``.
    """
    p = os.fspath(path)
    try:
        lst = os.lstat(p)
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:
        return f"cannot be examined ({exc.strerror})"
    try:
        st = os.stat(p)
    except OSError as exc:
        if stat.S_ISLNK(lst.st_mode):
            return "symlink loop" if exc.errno == 40 else "broken symlink"
        return f"cannot be examined ({exc.strerror})"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(st.st_mode):
        return f"not a regular file ({_kind(st.st_mode)})"
    if not os.access(p, os.R_OK):
        return "unreadable (permission denied)"
    if st.st_size == 0 and not allow_empty:
        return "empty file"
    return None


def input_file(path: str | os.PathLike, what: str = "file") -> str:
    """``path`` as a string when it is a readable, non-empty regular file; InputError otherwise."""
    p = os.fspath(path)
    problem = file_problem(p)
    if problem == "file not found":
        raise MissingInputError(p, f"{what} not found")
    if problem:
        raise InputError(p, problem if what == "file" else f"{what}: {problem}")
    return p


def input_dir(path: str | os.PathLike, what: str = "folder") -> str:
    """``path`` as a string when it is an existing folder; InputError otherwise."""
    p = os.fspath(path)
    if not os.path.lexists(p):
        raise MissingInputError(p, f"{what} not found")
    if not os.path.isdir(p):
        problem = file_problem(p, allow_empty=True)
        raise InputError(p, f"{what} expected, but it is {'a file' if problem is None else problem}")
    if not os.access(p, os.R_OK | os.X_OK):
        raise InputError(p, f"{what} unreadable (permission denied)")
    return p


def _blocking_ancestor(path: str) -> str | None:
    """The first existing ancestor of ``path`` that is not a folder (mkdir would fail there)."""
    cur = os.path.abspath(path)
    while True:
        if os.path.lexists(cur):
            return None if os.path.isdir(cur) else cur
        parent = os.path.dirname(cur)
        if parent == cur:
            return None
        cur = parent


def output_dir(path: str | os.PathLike, what: str = "output folder", create: bool = True) -> str:
    """Check (and create) a folder to write into; InputError when a file is in the way."""
    p = os.fspath(path)
    if os.path.lexists(p) and not os.path.isdir(p):
        raise InputError(p, f"{what} is a file, not a folder")
    block = _blocking_ancestor(p)
    if block is not None:
        raise InputError(p, f"{what} cannot be created: {block} is a file, not a folder")
    if create:
        try:
            os.makedirs(p, exist_ok=True)
        except OSError as exc:
            raise InputError(p, f"{what} cannot be created ({exc.strerror})") from None
        if not os.access(p, os.W_OK | os.X_OK):
            raise InputError(p, f"{what} is not writable")
    return p


def output_file(path: str | os.PathLike, what: str = "output file") -> str:
    """Check that a file can be written at ``path`` (before any long work); creates its folder."""
    p = os.fspath(path)
    if not p or p.endswith(os.sep):
        raise InputError(p or "''", f"{what} must be a file name")
    if os.path.isdir(p):
        raise InputError(p, f"{what} is a folder; give a file name")
    if os.path.lexists(p) and not os.path.isfile(p):
        raise InputError(p, f"{what} exists and is {file_problem(p) or 'not a regular file'}")
    output_dir(os.path.dirname(os.path.abspath(p)), f"folder of the {what}")
    return p


def ffmpeg_input(path: str | os.PathLike) -> str:
    """The argument that makes ffmpeg read exactly this file: ``file:`` + absolute path.

    ``pipe:x.m4a``, ``-y.wav``, ``concat:a|b``, ``http:...`` are all plain local file names here.
    """
    return "file:" + os.path.abspath(os.fspath(path))


def safe_positional(path: str | os.PathLike) -> str:
    """A path for a tool that has no ``--`` (sox): absolute, so it never starts with ``-``."""
    return os.path.abspath(os.fspath(path))


# --------------------------------------------------------------------------- audio samples


def check_samples(y: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """Refuse decoded audio far outside [-1, 1]; warn when it is slightly outside.

    Parameters
    ----------
    y : numpy.ndarray, shape (n_samples,), float32
        Finite samples (NaN/inf already replaced).
    path : str or PathLike
        Named in the error.

    Raises
    ------
    AudioError
        Peak above :data:`MAX_ABS_SAMPLE` (float files with unnormalised values).
    """
    if y.size == 0:
        return y
    peak = float(np.max(np.abs(y)))
    if peak > MAX_ABS_SAMPLE:
        raise AudioError(path, f"samples far outside [-1, 1] (peak {peak:.3g}): not normalised audio")
    if peak > 1.0 + 1e-6:
        log.warning("%s: samples outside [-1, 1] (peak %.3g), used as they are", path, peak)
    return y


# --------------------------------------------------------------------------- manifests


def _int_column(df: pd.DataFrame, col: str, source: str, lo: int, hi: int) -> np.ndarray:
    raw = df[col].astype(str).str.strip()
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() | ~np.isfinite(num.astype(float)) | (num.astype(float) % 1 != 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(source, f"row {i + 1}: column {col}: {raw.iloc[i][:40]!r} is not an integer")
    vals = num.astype(float).to_numpy()
    out = (vals < lo) | (vals > hi)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise InputError(source, f"row {i + 1}: column {col}: {raw.iloc[i][:40]} outside [{lo}, {hi}]")
    return vals.astype(np.int64)


def check_manifest(df: pd.DataFrame, source: str | os.PathLike = "<manifest>",
                   required: Sequence[str] = ("path", "fragment")) -> pd.DataFrame:
    """Validate manifest rows and return them with their types restored.

    Checks, for the columns present: ``path`` non-empty; ``fragment`` an integer in
    [0, :data:`MAX_FRAGMENT`]; ``target`` 0 or 1; ``label`` real/fake and consistent with
    ``target``; ``split`` one of train/dev/eval; ``duration`` finite, > 0 and long enough for the
    row's fragment (``fragment * 2 s < duration``); no two rows for the same (path, fragment,
    condition).

    Parameters
    ----------
    df : pandas.DataFrame
    source : str or PathLike
        File named in the errors.
    required : sequence of str
        Columns that must be present.

    Returns
    -------
    pandas.DataFrame
        A copy, ``fragment``/``target`` int64, ``duration`` float64.

    Raises
    ------
    InputError
    """
    source = os.fspath(source)
    if not isinstance(df, pd.DataFrame):
        raise InputError(source, f"manifest must be a DataFrame, got {type(df).__name__}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        has = ", ".join(show_path(str(c))[:40] for c in df.columns[:12]) or "none"
        raise InputError(source, f"not a manifest: missing column(s) {', '.join(missing)} (has: {has})")
    df = df.copy()
    if "path" in df:
        paths = df["path"].astype(str)
        empty = paths.str.len() == 0
        if empty.any():
            raise InputError(source, f"row {int(np.flatnonzero(empty.to_numpy())[0]) + 1}: empty path")
        df["path"] = paths
    if "fragment" in df:
        df["fragment"] = _int_column(df, "fragment", source, 0, MAX_FRAGMENT)
    if "target" in df:
        df["target"] = _int_column(df, "target", source, 0, 1)
    if "label" in df:
        lab = df["label"].astype(str)
        bad = ~lab.isin(LABELS)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(source, f"row {i + 1}: column label: {lab.iloc[i][:40]!r} is not real or fake")
        if "target" in df:
            clash = (lab == "real").astype(int).to_numpy() != df["target"].to_numpy()
            if clash.any():
                i = int(np.flatnonzero(clash)[0])
                raise InputError(source, f"row {i + 1}: label {lab.iloc[i]!r} contradicts target "
                                         f"{int(df['target'].iloc[i])} (1 = real, 0 = fake)")
    if "split" in df:
        sp = df["split"].astype(str)
        bad = ~sp.isin(SPLITS)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(source, f"row {i + 1}: column split: {sp.iloc[i][:40]!r} is not one of "
                                     f"{', '.join(SPLITS)}")
    if "duration" in df:
        raw = df["duration"].astype(str).str.strip()
        dur = pd.to_numeric(raw, errors="coerce").astype(float).to_numpy()
        bad = ~np.isfinite(dur) | (dur <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(source, f"row {i + 1}: column duration: {raw.iloc[i][:40]!r} is not a "
                                     "positive number of seconds")
        df["duration"] = dur
        if "fragment" in df:
            # fragment k starts at 2k s; with padding the last one may be partial (1 ms slack)
            beyond = df["fragment"].to_numpy() * CLIP_S >= dur - 1e-3
            if beyond.any():
                i = int(np.flatnonzero(beyond)[0])
                raise InputError(source, f"row {i + 1}: no fragment {int(df['fragment'].iloc[i])} in a "
                                         f"{dur[i]:g}-s file (fragments start every {CLIP_S:g} s)")
    if "path" in df and "fragment" in df:
        key = ["path", "fragment"] + (["condition"] if "condition" in df else [])
        dup = df.duplicated(key, keep="first").to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise InputError(source, f"row {i + 1}: duplicate row for fragment {int(df['fragment'].iloc[i])} "
                                     "of the same file")
    return df


def read_manifest(path: str | os.PathLike, required: Sequence[str] = ("path", "fragment")) -> pd.DataFrame:
    """Read and validate a manifest CSV (see :func:`check_manifest`).

    Raises
    ------
    InputError
        Missing, not a regular file, binary, not CSV, missing columns, bad values.
    """
    p = input_file(path, "manifest")
    with open(p, "rb") as fh:
        head = fh.read(8192)
    if b"\x00" in head:
        raise InputError(p, "binary file, not a CSV manifest")
    try:
        df = pd.read_csv(p, keep_default_na=False, dtype=str, encoding=CSV_ENCODING,
                         encoding_errors=CSV_ERRORS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(p, f"not a readable CSV manifest ({msg})") from None
    return check_manifest(df, p, required)


# --------------------------------------------------------------------------- JSON documents


def _reject_constant(name: str):
    raise ValueError(f"non-finite number {name} (JSON allows none)")


def read_json(path: str | os.PathLike, what: str = "JSON file") -> object:
    """Parse a JSON file strictly (UTF-8, no NaN/Infinity); InputError otherwise."""
    p = input_file(path, what)
    try:
        with open(p, encoding="utf-8") as fh:
            return json.load(fh, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise InputError(p, f"unreadable {what}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputError(p, f"unreadable {what}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except ValueError as exc:
        raise InputError(p, f"unreadable {what}: {exc}") from None


def _number(record: Mapping, key: str, source: str, lo: float, hi: float) -> float | None:
    v = record.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InputError(source, f"{key} must be a number, got {v!r}")
    if not math.isfinite(v):
        raise InputError(source, f"{key} must be finite, got {v!r}")
    if not lo <= v <= hi:
        raise InputError(source, f"{key} {v!r} outside [{lo:g}, {hi:g}]")
    return float(v)


def check_model_record(record: object, source: str | os.PathLike = "<model record>") -> dict:
    """Validate a model record (``idsd.detect``): feature, mode, threshold, dev_eer, overrides, shape.

    Returns
    -------
    dict
        The record, ``threshold``/``dev_eer`` as float or None, ``mode`` defaulted to ``array``.

    Raises
    ------
    InputError
    """
    from idsd.features import FEATURES, MODES

    source = os.fspath(source)
    if not isinstance(record, dict):
        raise InputError(source, f"model record must be a JSON object, got {type(record).__name__}")
    record = dict(record)
    feature = record.get("feature")
    if not isinstance(feature, str):
        raise InputError(source, "model record without a 'feature' field")
    if feature not in FEATURES:
        raise InputError(source, f"unknown feature {feature!r} (one of {', '.join(FEATURES)})")
    mode = record.get("mode", "array")
    if mode is None:
        mode = "array"
    if mode not in MODES:
        raise InputError(source, f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    record["mode"] = mode
    record["threshold"] = _number(record, "threshold", source, 0.0, 1.0)
    record["dev_eer"] = _number(record, "dev_eer", source, 0.0, 1.0)
    ov = record.get("overrides") or {}
    if not isinstance(ov, dict) or not all(isinstance(k, str) for k in ov):
        raise InputError(source, f"overrides must be an object of named parameters, got {ov!r}")
    record["overrides"] = ov
    shape = record.get("input_shape")
    if shape is not None and (not isinstance(shape, list) or len(shape) != 2
                              or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0
                                         for n in shape)):
        raise InputError(source, f"input_shape must be two positive integers, got {shape!r}")
    src = record.get("threshold_source")
    if src is not None and not isinstance(src, str):
        raise InputError(source, f"threshold_source must be text, got {src!r}")
    return record


# --------------------------------------------------------------------------- score files


def check_scores(scores: Iterable, source: str | os.PathLike = "<scores>") -> np.ndarray:
    """Scores P(real) as float64; InputError for non-numbers, NaN/inf or values outside [0, 1]."""
    source = os.fspath(source)
    raw = pd.Series(list(scores), dtype=object).astype(str).str.strip()
    s = pd.to_numeric(raw, errors="coerce").astype(float).to_numpy()
    bad = ~np.isfinite(s)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(source, f"score {i + 1}: {raw.iloc[i][:40]!r} is not a finite number")
    out = (s < 0) | (s > 1)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise InputError(source, f"score {i + 1}: {s[i]:g} outside [0, 1] (scores are P(real))")
    return s


def read_score_file(path: str | os.PathLike) -> pd.DataFrame | np.ndarray:
    """Read and validate a score file.

    ``*.txt``: the upstream per-class format, one score per line -> numpy array (n,).
    ``*.csv``: a score frame (:func:`idsd.scores.read_scores`) -> DataFrame, with its manifest
    columns checked (:func:`check_manifest`) and ``score`` in [0, 1].

    Raises
    ------
    InputError
    """
    p = input_file(path, "score file")
    with open(p, "rb") as fh:
        data = fh.read()
    if b"\x00" in data[:8192]:
        raise InputError(p, "binary file, not a score file")
    if p.lower().endswith(".txt"):
        lines = [ln for ln in data.decode("utf-8", errors="replace").splitlines() if ln.strip()]
        return check_scores(lines, p)
    try:
        df = pd.read_csv(p, keep_default_na=False, dtype=str, encoding=CSV_ENCODING,
                         encoding_errors=CSV_ERRORS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(p, f"not a readable score CSV ({str(exc).strip().splitlines()[0]})") from None
    from idsd.scores import SCORE_COLUMNS

    missing = [c for c in SCORE_COLUMNS if c not in df]
    if missing:
        raise InputError(p, f"not a score file: missing column(s) {', '.join(missing)}")
    df = check_manifest(df, p, required=("path", "fragment", "target"))
    df["score"] = check_scores(df["score"], p)
    return df


# --------------------------------------------------------------------------- the study index


def read_study(path: str | os.PathLike):
    """Read and validate a study index (``<outputs>/manifests/study.json``) into a Study.

    Checks: a JSON object; ``source`` text; ``corpora`` a non-empty list of objects with a
    unique non-empty ``name`` and a relative ``manifest`` path without ``..``; ``train`` boolean;
    ``modified_manifest`` / ``modified_base`` / ``learning_curve_corpus`` text or null, the latter
    two naming corpora of the study; no unknown fields.

    Raises
    ------
    InputError
    """
    from dataclasses import fields

    from idsd.study import CorpusEntry, Study

    p = os.fspath(path)
    raw = read_json(p, "study index")
    if not isinstance(raw, dict):
        raise InputError(p, f"study index must be a JSON object, got {type(raw).__name__}")
    known = {f.name for f in fields(Study)}
    extra = sorted(set(raw) - known)
    if extra:
        raise InputError(p, f"unknown field(s) {', '.join(extra)} (known: {', '.join(sorted(known))})")
    if not isinstance(raw.get("source"), str):
        raise InputError(p, "field source must be text")
    corpora = raw.get("corpora")
    if not isinstance(corpora, list) or not corpora:
        raise InputError(p, "field corpora must be a non-empty list")
    entry_fields = {f.name for f in fields(CorpusEntry)}
    names, entries = set(), []
    for i, c in enumerate(corpora):
        where = f"corpora[{i}]"
        if not isinstance(c, dict):
            raise InputError(p, f"{where} must be an object")
        extra = sorted(set(c) - entry_fields)
        if extra:
            raise InputError(p, f"{where}: unknown field(s) {', '.join(extra)}")
        name, man = c.get("name"), c.get("manifest")
        if not isinstance(name, str) or not name:
            raise InputError(p, f"{where}: name must be non-empty text")
        if name in names:
            raise InputError(p, f"{where}: corpus {name!r} listed twice")
        names.add(name)
        if not isinstance(man, str) or not man or os.path.isabs(man) or ".." in man.split("/"):
            raise InputError(p, f"{where}: manifest must be a path relative to the outputs folder, got {man!r}")
        if not isinstance(c.get("train", True), bool):
            raise InputError(p, f"{where}: train must be true or false")
        if not isinstance(c.get("paper_name", ""), str):
            raise InputError(p, f"{where}: paper_name must be text")
        entries.append(CorpusEntry(**c))
    for key in ("modified_manifest", "modified_base", "learning_curve_corpus"):
        v = raw.get(key)
        if v is not None and not isinstance(v, str):
            raise InputError(p, f"field {key} must be text or null")
    for key in ("modified_base", "learning_curve_corpus"):
        v = raw.get(key)
        if v and v not in names:
            raise InputError(p, f"field {key}: {v!r} is not a corpus of the study ({', '.join(sorted(names))})")
    if not isinstance(raw.get("quick", False), bool):
        raise InputError(p, "field quick must be true or false")
    return Study(**{**raw, "corpora": entries})


# --------------------------------------------------------------------------- CLI arguments


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    import argparse

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def probability(text: str) -> float:
    """argparse type: a finite number in [0, 1] (a threshold on P(real))."""
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text}")
    return v
