"""Score any audio file with a trained detector (``idsd detect``).

What a score means
------------------
Every score is **P(real)**: the model's probability that the speech is bona fide (genuine),
between 0 and 1, higher = more genuine (the ASVspoof direction used throughout the workbook).
A file is cut into non-overlapping 2-s windows after decoding to 16 kHz mono
(:func:`idsd.audio.load_audio`, :func:`idsd.audio.fragments` with ``pad=True``: the last partial
window, or a clip shorter than 2 s, is zero-padded so no audio is dropped). Each window gets a
score; the file's score is the **mean of its window scores weighted by the seconds of audio in
each window** (the zero padding of the last window counts for nothing; with whole windows this is
the plain mean), and the minimum and maximum window scores are reported beside it. The decision is
``"real"`` when ``score > threshold`` and ``"fake"`` otherwise, where the threshold is the one
stored with the model (its development-set EER threshold), or 0.5 when none is stored.

Windows the detector cannot judge
---------------------------------
A window is **flagged** and not scored (its score is NaN, it is left out of the file score, min
and max) when, measured on its audio samples (the 16 kHz mono signal the model would see, zero
padding excluded; decoding neither clips nor normalises, so floats above 1 reach this test as
they are in the file):

``silent``
    RMS below :data:`SILENCE_DBFS` (-60 dBFS, i.e. RMS < 0.001 of full scale 1.0): digital
    silence or no speech energy; the models were never trained on it.
``clipped``
    at least :data:`CLIP_FRACTION` (1 %) of its samples have ``|x| >= CLIP_LEVEL`` (0.999).
``out_of_range``
    a sample beyond :data:`OUT_OF_RANGE_LEVEL` (``|x| > 2``, +6 dBFS): a float file that is not
    normalised audio (resamplers and lossy decoders overshoot full scale a little on loud
    material, so only peaks far above 1 count).

A window may have several reasons (``clipped+out_of_range``). A file without a judged window gets
the decision ``"undetermined"`` and no score. Files are decoded and scored as a stream
(:class:`idsd.audio.AudioStream`): memory does not grow with the length of a file.

Models and their records
------------------------
A model is a ``.keras`` file with its record ``<run name>.record.json`` beside it
(:mod:`idsd.artifact`), written when the model is trained: feature, input mode, feature overrides,
pooling, training corpus, the development EER and its threshold, protocol and versions. A model
without a record (one trained elsewhere) needs the feature (``feature=``), or it is taken from the
run name ``<feature>_<pooling>_<setting>``; the mode defaults to the parent folder name when it is
a mode (``models/<corpus>/<mode>/...``), else ``array``.

The authors' published keras-tcn models (``<feature>_<pooling>_<setting>.h5``, e.g.
``mel_avg_10.h5``) load too (:func:`idsd.upstream.load_upstream`): they have no record, so the
feature comes from ``feature=`` or the file name, the mode from the weights (``image`` for the
640x480 models of the upstream main branch, else ``array``), and the threshold is 0.5 (upstream's
``eval_model.py`` decision) unless one is given.

The default model of ``idsd detect`` is the newest ``.keras`` file in
:func:`default_model_dir` (``<outputs>/models/detect/``), which the study installs
(:func:`idsd.study.install_detector`, notebook 04) after evaluating the grid.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from idsd import CLIP_SAMPLES, SAMPLE_RATE
from idsd.artifact import SCORE_MEANING, ModelRecordError, newest_model, read_record, record_path
from idsd.audio import AUDIO_EXTENSIONS, STREAM_BLOCK_S, AudioStream, fragments
from idsd.errors import AudioError, IDSDError, show_path
from idsd.paths import OUTPUTS, Outputs, resolve
from idsd.progress import tqdm

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
"""Decision threshold used when the model record stores none (not calibrated)."""


AGGREGATION = ("file score = mean of the judged 2-s window scores weighted by the seconds of audio in "
               "each window (the zero padding of the last window counts for nothing); min/max over the "
               "judged windows; flagged windows (silent, clipped, out_of_range) are not scored; a file "
               "without a judged window is undetermined")

SILENCE_DBFS = -60.0
"""A window whose RMS (over its audio samples, re full scale 1.0) is below this is ``silent``."""
CLIP_LEVEL = 0.999
"""A sample with ``|x| >= CLIP_LEVEL`` is at full scale."""
CLIP_FRACTION = 0.01
"""A window with at least this fraction of its samples at full scale is ``clipped``."""
OUT_OF_RANGE_LEVEL = 2.0
"""A window with a sample ``|x| > OUT_OF_RANGE_LEVEL`` (+6 dBFS) is ``out_of_range``."""
FLAG_REASONS = ("silent", "clipped", "out_of_range")
FLAG_RULES = {
    "silent": f"RMS of the window's audio below {SILENCE_DBFS:g} dBFS (full scale 1.0)",
    "clipped": f">= {100 * CLIP_FRACTION:g} % of the window's samples with |x| >= {CLIP_LEVEL:g}",
    "out_of_range": f"a sample with |x| > {OUT_OF_RANGE_LEVEL:g} (float audio that is not normalised)",
}
"""The rule behind each flag, for reports (measured on the decoded 16 kHz mono samples)."""
UNDETERMINED = "undetermined"
"""Decision of a file (or window) the detector cannot judge."""
LONG_FILE_S = 60.0
"""Files longer than this get their own progress bar over windows."""

RESULT_COLUMNS = ("file", "duration_s", "windows", "score", "score_min", "score_max", "decision",
                  "threshold", "window_scores", "judged_windows", "flagged", "window_flags")
ERROR_COLUMNS = ("file", "reason")
WINDOW_COLUMNS = ("file", "window", "start_s", "audio_s", "padded", "score", "decision", "flag")


class ModelNotFoundError(IDSDError, FileNotFoundError):
    """No detector model where one was looked for.

    Parameters
    ----------
    path : str or PathLike
        The file or folder that was searched.
    hint : str
        How to get a model (printed by ``idsd detect``).
    """

    def __init__(self, path: str | os.PathLike, hint: str = ""):
        self.path = os.fspath(path)
        self.hint = hint
        super().__init__(f"no detector model at {self.path}" + (f"\n{hint}" if hint else ""))


class DetectorConfigError(IDSDError, ValueError):
    """A model that cannot be used as asked: unknown feature, feature/model mismatch, bad record."""


# --------------------------------------------------------------------------- model lookup


def default_model_dir(outputs: str | os.PathLike | Outputs = OUTPUTS) -> Path:
    """Folder of the default detect model: ``<outputs>/models/detect/``."""
    out = outputs if isinstance(outputs, Outputs) else Outputs(outputs)
    return out.detector_dir


def no_model_hint(outputs: str | os.PathLike | Outputs = OUTPUTS) -> str:
    """How to get a detector model, for messages (names the default folder)."""
    out = outputs if isinstance(outputs, Outputs) else Outputs(outputs)
    lines = [
        f"The default detect model is looked for in {default_model_dir(out)}/.",
        "To get one:",
        "  ./run_all.sh            trains it on the embedded offline corpus (the whole study),",
        "  ./run_all.sh --quick    a small one, in <outputs>/quick (then pass --outputs outputs/quick),",
        f"  idsd train -i CORPUS --feature mel --profile cpu --models {default_model_dir(out)}",
        "                          trains one on your own corpus folder (real/ and fake/) or manifest,",
        "  or pass any trained model with --model PATH.keras (--feature F if it has no model record).",
    ]
    quick = default_model_dir(Outputs(out.base / "quick"))
    if quick.is_dir() and any(quick.glob("*.keras")):
        lines.append(f"A quick-mode model exists: use --outputs {out.base / 'quick'} or --model {quick}/...")
    return "\n".join(lines)


def find_model(model: str | os.PathLike | None = None,
               outputs: str | os.PathLike | Outputs = OUTPUTS) -> Path:
    """Resolve the model file to use.

    Parameters
    ----------
    model : str or PathLike, optional
        A ``.keras`` file, or a folder holding some (the newest is taken). ``None``: the default
        folder :func:`default_model_dir`.
    outputs : str, PathLike or Outputs
        Outputs directory for the default folder.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ModelNotFoundError
        Nothing usable there; the message carries :func:`no_model_hint`.
    """
    where = default_model_dir(outputs) if model is None else resolve(model)
    if where.is_file():
        return where
    if os.path.lexists(where) and not where.is_dir():
        from idsd.validate import file_problem

        raise DetectorConfigError(f"{show_path(where)}: {file_problem(where) or 'not a model file'}")
    if where.is_dir():
        newest = newest_model(where)
        if newest is not None:
            return newest
    raise ModelNotFoundError(where, no_model_hint(outputs))


# --------------------------------------------------------------------------- input files


def collect_audio_files(paths: Iterable[str | os.PathLike], skipped: list[tuple[str, str]] | None = None
                        ) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files and folders into the list of files to score.

    Folders are walked recursively (sorted) for files whose extension is in
    :data:`AUDIO_EXTENSIONS`; files named explicitly are kept whatever their extension (a
    non-audio one is then reported when decoding fails). Duplicates are dropped.

    Parameters
    ----------
    paths : iterable of str or PathLike
    skipped : list of (path, reason), optional
        Receives every entry of a walked folder that is not scored, with the reason: hidden
        file/folder, unsupported extension, symlink to a folder (not followed), unreadable folder,
        broken symlink, FIFO or other non-regular file.

    Returns
    -------
    files : list of pathlib.Path
    problems : list of (path, reason)
        Named paths that do not exist or are not regular files (``broken symlink``, ``not a
        regular file (a FIFO (named pipe))``...) and folders without audio files.
    """
    from idsd.audio import iter_audio_files
    from idsd.validate import file_problem

    skipped = skipped if skipped is not None else []
    files, problems, seen = [], [], set()

    def add(p: Path) -> None:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            files.append(p)

    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            found = [Path(f) for f in iter_audio_files(
                p, skipped, reason="not an audio file name (extension not in the audio list)")]
            if not found:
                problems.append((str(p), "folder without audio files ("
                                 + ", ".join(sorted(AUDIO_EXTENSIONS)) + ")"))
            for f in found:
                add(f)
        else:
            problem = file_problem(p, allow_empty=True)
            if problem is None:
                add(p)
            else:
                problems.append((str(p), problem))
    return files, problems


# --------------------------------------------------------------------------- results


@dataclass
class DetectionResult:
    """Scores of one file.

    Attributes
    ----------
    file : str
    duration_s : float
        Duration of the decoded audio in seconds.
    window_scores : numpy.ndarray, shape (n_windows,)
        P(real) of each 2-s window, in order; NaN for a flagged window (not scored).
    window_audio_s : numpy.ndarray, shape (n_windows,)
        Seconds of audio (not padding) in each window: 2.0 except possibly the last.
    threshold : float
        Decision threshold on P(real).
    window_flags : list of str, optional
        Why each window is not judged (:data:`FLAG_REASONS` joined by ``+``), ``""`` for a judged
        one; ``None``: every window is judged.
    """

    file: str
    duration_s: float
    window_scores: np.ndarray
    window_audio_s: np.ndarray
    threshold: float = DEFAULT_THRESHOLD
    window_flags: list[str] | None = None

    @property
    def n_windows(self) -> int:
        return int(len(self.window_scores))

    @property
    def flag_list(self) -> list[str]:
        """``window_flags`` with ``""`` for every window when none is given, shape (n_windows,)."""
        return list(self.window_flags) if self.window_flags is not None else [""] * self.n_windows

    @property
    def judged(self) -> np.ndarray:
        """Boolean mask of the windows that count, shape (n_windows,)."""
        scores = np.asarray(self.window_scores, dtype=float)
        return np.array([not f for f in self.flag_list], dtype=bool) & np.isfinite(scores)

    @property
    def judged_windows(self) -> int:
        return int(self.judged.sum())

    @property
    def score(self) -> float:
        """File score: judged window scores averaged with weights = seconds of audio; NaN if none."""
        j = self.judged
        if not j.any():
            return math.nan
        return float(np.average(np.asarray(self.window_scores)[j], weights=np.asarray(self.window_audio_s)[j]))

    @property
    def score_min(self) -> float:
        j = self.judged
        return float(np.min(np.asarray(self.window_scores)[j])) if j.any() else math.nan

    @property
    def score_max(self) -> float:
        j = self.judged
        return float(np.max(np.asarray(self.window_scores)[j])) if j.any() else math.nan

    @property
    def decision(self) -> str:
        return decide(self.score, self.threshold)

    @property
    def flagged(self) -> str:
        """Flagged windows per reason, e.g. ``"silent:3;clipped:1"`` (``""`` when all are judged)."""
        return flag_summary(self.flag_list)

    def as_row(self) -> dict:
        """One row of the results table (``RESULT_COLUMNS``)."""
        return dict(file=self.file, duration_s=float(self.duration_s), windows=self.n_windows,
                    score=self.score, score_min=self.score_min, score_max=self.score_max,
                    decision=self.decision, threshold=self.threshold,
                    window_scores=[float(s) for s in self.window_scores],
                    judged_windows=self.judged_windows, flagged=self.flagged, window_flags=self.flag_list)

    def windows_frame(self) -> pd.DataFrame:
        """One row per window (``WINDOW_COLUMNS``); a flagged window is ``undetermined``."""
        k = self.n_windows
        clip_s = CLIP_SAMPLES / SAMPLE_RATE
        flags = self.flag_list
        scores = np.asarray(self.window_scores, dtype=float)
        return pd.DataFrame({
            "file": [self.file] * k,
            "window": np.arange(k),
            "start_s": np.arange(k) * clip_s,
            "audio_s": np.asarray(self.window_audio_s, dtype=float),
            "padded": np.asarray(self.window_audio_s) < clip_s - 0.5 / SAMPLE_RATE,
            "score": scores,
            "decision": [UNDETERMINED if f else decide(s, self.threshold) for s, f in zip(scores, flags)],
            "flag": flags,
        }, columns=list(WINDOW_COLUMNS))


def decide(score: float, threshold: float) -> str:
    """``"real"`` when ``score > threshold`` (score = P(real)), else ``"fake"``; NaN: ``"undetermined"``."""
    if score != score:  # NaN: nothing was judged
        return UNDETERMINED
    return "real" if score > threshold else "fake"


def flag_summary(window_flags: Iterable[str]) -> str:
    """Count the flagged windows per reason: ``["", "silent", "clipped+silent"]`` -> ``"silent:2;clipped:1"``."""
    counts: Counter = Counter()
    for f in window_flags:
        if f:
            counts.update(f.split("+"))
    order = [r for r in FLAG_REASONS if r in counts] + sorted(set(counts) - set(FLAG_REASONS))
    return ";".join(f"{r}:{counts[r]}" for r in order)


def window_flags(W: np.ndarray, audio_samples: np.ndarray) -> list[str]:
    """Why each window cannot be judged (see the module docstring), ``""`` when it can.

    Parameters
    ----------
    W : numpy.ndarray, shape (k, 32000)
        16 kHz mono windows; samples past ``audio_samples`` are the zero padding.
    audio_samples : numpy.ndarray, shape (k,), int
        Samples of audio in each window (32000 except possibly the last window of a file).

    Returns
    -------
    list of str, length k
        ``""``, or the reasons of :data:`FLAG_REASONS` that apply, joined by ``+``.
    """
    W = np.asarray(W)
    k = len(W)
    if k == 0:
        return []
    n = np.maximum(np.asarray(audio_samples, dtype=np.float64).reshape(k), 1.0)
    a = np.abs(W)
    # the padding is zeros: sums over the whole window are sums over its audio
    mean_sq = np.einsum("ij,ij->i", W, W, dtype=np.float64) / n
    silent = mean_sq < (10.0 ** (SILENCE_DBFS / 20.0)) ** 2
    clipped = np.count_nonzero(a >= CLIP_LEVEL, axis=1) >= CLIP_FRACTION * n
    out_of_range = ~(a.max(axis=1) <= OUT_OF_RANGE_LEVEL)  # NaN counts as out of range
    rows = np.stack([silent, clipped, out_of_range], axis=1)
    return ["+".join(r for r, on in zip(FLAG_REASONS, row) if on) for row in rows]


def windows_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Explode a results table (with its ``window_scores`` lists) into one row per window.

    Parameters
    ----------
    results : pandas.DataFrame
        As returned by :func:`detect_files`.

    Returns
    -------
    pandas.DataFrame
        Columns ``WINDOW_COLUMNS``; ``audio_s`` is recovered from ``duration_s``.
    """
    frames = []
    clip_s = CLIP_SAMPLES / SAMPLE_RATE
    for row in results.itertuples(index=False):
        scores = np.asarray([math.nan if s is None else s for s in row.window_scores], dtype=float)
        audio = np.clip(row.duration_s - np.arange(len(scores)) * clip_s, 0.0, clip_s)
        flags = getattr(row, "window_flags", None)
        flags = list(flags) if isinstance(flags, list | tuple | np.ndarray) and len(flags) == len(scores) else None
        frames.append(DetectionResult(row.file, row.duration_s, scores, audio,
                                      row.threshold, flags).windows_frame())
    if not frames:
        return pd.DataFrame(columns=list(WINDOW_COLUMNS))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- the detector


class Detector:
    """A loaded model with its feature configuration and decision threshold.

    Parameters
    ----------
    model : keras.Model
        Input (n_bins, n_frames), output (n, 1) P(real).
    feature, mode : str
        Representation fed to the model (:func:`idsd.features.extract_batch`).
    overrides : dict, optional
        Feature overrides (from the model record).
    threshold : float, optional
        Decision threshold on P(real); ``None`` -> :data:`DEFAULT_THRESHOLD`.
    threshold_source : str
        Where the threshold came from, for reports.
    batch_size : int
        Windows per feature-extraction and prediction batch.
    device : {"cpu", "gpu", "auto"}
        Feature extraction device (:func:`idsd.features.extract_batch`); the model runs wherever
        the Keras backend puts it.
    model_path : Path, optional
    record : dict, optional
    """

    def __init__(self, model, feature: str, mode: str = "array", overrides: dict | None = None,
                 threshold: float | None = None, threshold_source: str | None = None,
                 batch_size: int = 64, model_path: Path | None = None, record: dict | None = None,
                 device: str = "cpu"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.feature = feature
        self.mode = mode
        self.overrides = dict(overrides or {})
        if threshold is None:
            self.threshold = DEFAULT_THRESHOLD
            self.threshold_source = threshold_source or "default 0.5 (no threshold stored with the model)"
        else:
            if not math.isfinite(float(threshold)):
                raise DetectorConfigError(f"threshold must be a finite number, got {threshold!r}")
            self.threshold = float(threshold)
            self.threshold_source = threshold_source or "given"
        self.batch_size = int(batch_size)
        self.device = device
        self.model_path = model_path
        self.record = record

    block_s: float = STREAM_BLOCK_S
    """Seconds of source audio decoded per block when files are streamed (:class:`idsd.audio.AudioStream`)."""

    # ---- construction
    @classmethod
    def load(cls, model_path: str | os.PathLike, feature: str | None = None, mode: str | None = None,
             threshold: float | None = None, batch_size: int = 64, device: str = "cpu") -> Detector:
        """Load a model and resolve its feature, mode and threshold.

        Parameters
        ----------
        model_path : str or PathLike
            A ``.keras`` file, an authors' keras-tcn ``.h5`` (no record: mode from its weights,
            threshold 0.5), or a folder (see :func:`find_model`).
        feature, mode : str, optional
            Needed only when the model has no record (they must agree with the record otherwise).
        threshold : float, optional
            Overrides the record's development threshold.
        batch_size : int
        device : {"cpu", "gpu", "auto"}
            Feature extraction device.

        Raises
        ------
        ModelNotFoundError, DetectorConfigError
        """
        from idsd.features import FEATURES, MODES, feature_shape
        from idsd.upstream import is_upstream

        path = find_model(model_path)
        upstream = is_upstream(path)
        try:
            record = read_record(path)
        except ModelRecordError as exc:
            raise DetectorConfigError(str(exc)) from None
        if record is not None:
            if feature is not None and feature != record["feature"]:
                raise DetectorConfigError(
                    f"{path.name} was trained on feature {record['feature']!r} (model record "
                    f"{record_path(path).name}), not {feature!r}: drop --feature")
            if mode is not None and mode != record.get("mode", "array"):
                raise DetectorConfigError(
                    f"{path.name} was trained in mode {record.get('mode', 'array')!r}, not {mode!r}")
            feature, mode = record["feature"], record.get("mode", "array")
            overrides = record.get("overrides") or {}
        else:
            overrides = {}
            if feature is None:
                guess = path.stem.split("_")[0]
                if guess not in FEATURES:
                    raise DetectorConfigError(
                        f"{path}: no model record ({record_path(path).name}) and the feature cannot be "
                        f"told from the file name: pass --feature (one of {', '.join(FEATURES)})")
                feature = guess
            if mode is None and upstream and feature in FEATURES:
                from idsd.upstream import upstream_info

                try:  # the 640x480 image models of the upstream main branch, else array
                    mode = upstream_info(path, feature=feature).mode
                except IDSDError as exc:
                    raise DetectorConfigError(str(exc)) from None
            if mode is None:
                mode = path.parent.name if path.parent.name in MODES else "array"
            if upstream:
                log.warning("%s is an authors' keras-tcn model (no model record): using feature %r, mode %r, "
                            "threshold 0.5 unless given", path.name, feature, mode)
            else:
                log.warning("%s has no model record (%s): using feature %r, mode %r", path.name,
                            record_path(path).name, feature, mode)
        if feature not in FEATURES:
            raise DetectorConfigError(f"unknown feature {feature!r} (one of {', '.join(FEATURES)})")
        if mode not in MODES:
            raise DetectorConfigError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")

        from idsd.artifact import load_model  # Keras: imported only once the record and arguments are checked

        try:
            model = load_model(path, feature=feature) if upstream else load_model(path)
        except IDSDError as exc:  # already names the file and the problem
            raise DetectorConfigError(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - zip, HDF5, safe-mode and Keras errors alike
            raise DetectorConfigError(f"{path}: cannot load the model ({type(exc).__name__}: {exc})") from exc
        expected = tuple(int(n) for n in feature_shape(feature, mode, **overrides))
        got = tuple(model.input_shape[1:])
        if got != expected:
            raise DetectorConfigError(
                f"{path.name} expects input {got} but feature {feature!r} in mode {mode!r} gives "
                f"{expected}: give the feature the model was trained on")

        if threshold is not None:
            source = "given explicitly"
        elif record is not None and record.get("threshold") is not None:
            threshold = float(record["threshold"])
            source = record.get("threshold_source") or "dev EER"
            source = f"{source} threshold stored with the model"
        elif upstream:
            source = ("default 0.5: an authors' .h5 model stores no threshold (upstream eval_model.py "
                      "decides at 0.5; not calibrated here)")
        else:
            source = "default 0.5: no threshold stored with the model (not calibrated on a dev set)"
            log.warning("%s: no decision threshold stored with the model; using 0.5", path.name)
        return cls(model, feature, mode, overrides, threshold, source, batch_size, path, record, device)

    # ---- scoring
    def describe(self) -> dict:
        """Model, feature, threshold and score meaning, for report headers and JSON."""
        record = self.record or {}
        return {
            "model": str(self.model_path) if self.model_path else None,
            "feature": self.feature,
            "mode": self.mode,
            "overrides": self.overrides,
            "train_corpus": record.get("train_corpus"),
            "dev_eer": record.get("dev_eer"),
            "threshold": self.threshold,
            "threshold_source": self.threshold_source,
            "score": SCORE_MEANING,
            "decision": f"real if score > {self.threshold:.4g}, else fake; {UNDETERMINED} when no "
                        "window can be judged",
            "aggregation": AGGREGATION,
            "flag_rules": dict(FLAG_RULES),
            "window_s": CLIP_SAMPLES / SAMPLE_RATE,
            "sample_rate": SAMPLE_RATE,
        }

    def score_windows(self, W: np.ndarray) -> np.ndarray:
        """Score 2-s windows.

        Parameters
        ----------
        W : numpy.ndarray, shape (n, 32000)
            16 kHz mono windows.

        Returns
        -------
        numpy.ndarray, shape (n,), float64
            P(real) per window.
        """
        from idsd.features import extract_batch
        from idsd.scoring import predict_scores

        W = np.asarray(W, dtype=np.float32)
        if W.ndim != 2 or W.shape[1] != CLIP_SAMPLES:
            raise ValueError(f"expected windows of shape (n, {CLIP_SAMPLES}), got {W.shape}")
        out = np.empty(len(W), dtype=np.float64)
        for start in range(0, len(W), self.batch_size):
            X = extract_batch(W[start:start + self.batch_size], self.feature, self.mode,
                              device=self.device, **self.overrides)
            out[start:start + len(X)] = predict_scores(self.model, X, batch_size=len(X))
        return out

    def score_signal(self, y: np.ndarray, name: str = "signal") -> DetectionResult:
        """Score a 16 kHz mono signal of any length (> 0 samples), held in memory.

        Windows are those of :func:`idsd.audio.fragments` (``pad=True``); flagged windows
        (:func:`window_flags`) are not scored. :meth:`detect_files` gives the same result for a
        file without holding it in memory.

        Parameters
        ----------
        y : numpy.ndarray, shape (n_samples,)
        name : str
            Used as ``file`` in the result.
        """
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        if y.size == 0:
            raise AudioError(name, "no audio samples")
        W, audio_s = _windows(y)
        flags = window_flags(W, np.rint(audio_s * SAMPLE_RATE).astype(np.int64))
        judged = np.array([not f for f in flags], dtype=bool)
        scores = np.full(len(W), np.nan)
        if judged.all():
            scores[:] = self.score_windows(W)
        elif judged.any():
            scores[judged] = self.score_windows(W[judged])
        return DetectionResult(name, len(y) / SAMPLE_RATE, scores, audio_s, self.threshold, flags)

    def detect_files(self, paths: Iterable[str | os.PathLike], progress: bool = False
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Score files and folders as streams (bounded memory); see :func:`detect_files`."""
        skipped: list[tuple[str, str]] = []
        files, problems = collect_audio_files(paths, skipped)
        errors: list[tuple[str, str]] = list(problems)
        queue = _WindowQueue(self)  # windows of several files share a batch
        states: list[_FileState] = []
        for path in tqdm(files, desc="detect", unit="file", disable=not progress or len(files) < 2):
            state = _FileState(str(path))
            states.append(state)
            try:
                self._stream_file(path, state, queue, progress)
            except AudioError as exc:
                state.failed = exc.reason
                log.debug("not scored: %s", exc)
        queue.flush()
        done = []
        for state in states:
            if state.failed:
                errors.append((state.name, state.failed))
            else:
                done.append(state.result(self.threshold))

        results = pd.DataFrame([r.as_row() for r in done], columns=list(RESULT_COLUMNS))
        errs = pd.DataFrame(errors, columns=list(ERROR_COLUMNS))
        results.attrs.update(self.describe())
        results.attrs["skipped"] = [{"file": f, "reason": r} for f, r in skipped]
        return results, errs

    def _stream_file(self, path: Path, state: _FileState, queue: _WindowQueue, progress: bool) -> None:
        """Decode one file block by block, cut its windows, flag them, queue the judged ones."""
        windower = _Windower()
        try:
            with AudioStream(path, block_s=self.block_s, max_abs=None) as stream:
                # far-out floats are flagged per window, not refused
                known = stream.duration_s
                for y in stream:
                    self._add_windows(state, *windower.push(y), queue)
                    if (progress and state.bar is None
                            and (known if known is not None else windower.n_samples / SAMPLE_RATE) > LONG_FILE_S):
                        total = None if known is None else math.ceil(known * SAMPLE_RATE / CLIP_SAMPLES)
                        state.bar = tqdm(total=total, initial=len(state.flags), unit="window", leave=False,
                                         desc=show_path(os.path.basename(state.name))[:40])
                self._add_windows(state, *windower.finish(), queue)
            state.n_samples = windower.n_samples
        finally:
            if state.bar is not None:
                state.bar.close()
                state.bar = None

    def _add_windows(self, state: _FileState, W: np.ndarray, n_audio: np.ndarray, queue: _WindowQueue) -> None:
        """Record windows (k, 32000) with their audio samples (k,): flags now, scores when batched."""
        if not len(W):
            return
        flags = window_flags(W, n_audio)
        first = len(state.flags)
        state.flags.extend(flags)
        state.audio_n.extend(int(v) for v in n_audio)
        state.scores.extend([math.nan] * len(W))
        judged = np.flatnonzero([not f for f in flags])
        if len(judged):
            queue.add(state, first + judged, W if len(judged) == len(W) else W[judged])
        if state.bar is not None:
            state.bar.update(len(W))


@dataclass
class _FileState:
    """What is known of one file while it is streamed: per-window flags, audio and scores so far."""

    name: str
    scores: list[float] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    audio_n: list[int] = field(default_factory=list)
    n_samples: int = 0
    failed: str | None = None
    bar: object = None

    def assign(self, idx: np.ndarray, scores: np.ndarray) -> None:
        for i, v in zip(idx.tolist(), scores.tolist()):
            self.scores[i] = v

    def result(self, threshold: float) -> DetectionResult:
        return DetectionResult(self.name, self.n_samples / SAMPLE_RATE, np.asarray(self.scores, dtype=np.float64),
                               np.asarray(self.audio_n, dtype=np.float64) / SAMPLE_RATE, threshold, list(self.flags))


class _Windower:
    """Cut a stream of 16 kHz blocks into the windows of :func:`idsd.audio.fragments` (``pad=True``)."""

    def __init__(self):
        self.tail = np.zeros(0, dtype=np.float32)
        self.n_samples = 0

    def push(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whole windows completed by block ``y`` (n,): ``W`` (k, 32000) and samples per window (k,)."""
        self.n_samples += len(y)
        buf = np.concatenate([self.tail, y]) if len(self.tail) else np.asarray(y, dtype=np.float32)
        k = len(buf) // CLIP_SAMPLES
        self.tail = buf[k * CLIP_SAMPLES:].copy()  # a copy: the block itself can go
        return buf[:k * CLIP_SAMPLES].reshape(k, CLIP_SAMPLES), np.full(k, CLIP_SAMPLES, dtype=np.int64)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """The zero-padded last window when audio is left over (shape (1, 32000)), else none."""
        if not len(self.tail):
            return np.zeros((0, CLIP_SAMPLES), dtype=np.float32), np.zeros(0, dtype=np.int64)
        W = np.zeros((1, CLIP_SAMPLES), dtype=np.float32)
        W[0, :len(self.tail)] = self.tail
        n = np.array([len(self.tail)], dtype=np.int64)
        self.tail = self.tail[:0]
        return W, n


class _WindowQueue:
    """Judged windows waiting for a full batch; scores go back to their file's state."""

    def __init__(self, detector: Detector):
        from collections import deque

        self.detector = detector
        self.items: deque = deque()  # (state, window indices (m,), windows (m, 32000))
        self.n = 0

    def add(self, state: _FileState, idx: np.ndarray, W: np.ndarray) -> None:
        self.items.append((state, idx, W))
        self.n += len(idx)
        while self.n >= self.detector.batch_size:  # full batches only: one input shape, warm model
            self._score(self.detector.batch_size)

    def flush(self) -> None:
        if self.n:
            self._score(self.n)

    def _score(self, count: int) -> None:
        take, need = [], count
        while need:
            state, idx, W = self.items[0]
            if len(idx) <= need:
                take.append(self.items.popleft())
                need -= len(idx)
            else:
                take.append((state, idx[:need], W[:need]))
                self.items[0] = (state, idx[need:], W[need:])
                need = 0
        self.n -= count
        take = [t for t in take if not t[0].failed]  # a file that failed to decode meanwhile
        if not take:
            return
        try:
            scores = self.detector.score_windows(np.concatenate([t[2] for t in take]))
        except Exception as exc:  # noqa: BLE001 - retried per file to name the culprit
            log.warning("batch scoring failed (%s); retrying file by file", exc)
            for state, idx, W in take:
                if state.failed:
                    continue
                try:
                    state.assign(idx, self.detector.score_windows(W))
                except Exception as exc1:  # noqa: BLE001 - a bulk operation lists and goes on
                    state.failed = f"scoring failed: {type(exc1).__name__}: {exc1}"
                    log.warning("%s: scoring failed: %s", state.name, exc1)
            return
        i = 0
        for state, idx, _ in take:
            state.assign(idx, scores[i:i + len(idx)])
            i += len(idx)


def _windows(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-s windows of a signal (last one zero-padded) and seconds of audio in each.

    Returns
    -------
    W : numpy.ndarray, shape (k, 32000)
    audio_s : numpy.ndarray, shape (k,)
    """
    W = fragments(y, pad=True)
    n = np.full(len(W), CLIP_SAMPLES, dtype=np.int64)
    if len(W):
        n[-1] = len(y) - (len(W) - 1) * CLIP_SAMPLES
    return W, n / SAMPLE_RATE


def detect_files(paths: Iterable[str | os.PathLike], model_path: str | os.PathLike,
                 feature: str | None = None, threshold: float | None = None, batch_size: int = 64,
                 *, mode: str | None = None, device: str = "cpu", progress: bool = False
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score audio files and folders with a detector.

    Parameters
    ----------
    paths : iterable of str or PathLike
        Files (any format :func:`idsd.audio.load_audio` reads, any length, rate and channel
        count) and folders (walked recursively for :data:`AUDIO_EXTENSIONS`).
    model_path : str or PathLike
        A ``.keras`` model or a folder of them (see :func:`find_model`).
    feature : str, optional
        Feature of a model without a record.
    threshold : float, optional
        Decision threshold on P(real); default: the record's development EER threshold, else 0.5.
    batch_size : int
        2-s windows per feature/prediction batch (windows of several files share a batch).
    mode : str, optional
        Input mode of a model without a record.
    device : {"cpu", "gpu", "auto"}
        Feature extraction device.
    progress : bool
        Show a progress bar over files (when there are several) and one over the windows of each
        file longer than :data:`LONG_FILE_S`.

    Returns
    -------
    results : pandas.DataFrame
        One row per decoded file, columns ``RESULT_COLUMNS``: ``file``, ``duration_s``,
        ``windows`` (number of 2-s windows, the last zero-padded when partial), ``score`` (file
        P(real) over the judged windows, see the module docstring; NaN when none is judged),
        ``score_min``, ``score_max`` (over the judged windows), ``decision``
        (``real``/``fake``/``undetermined``), ``threshold``, ``window_scores`` (list of the
        per-window P(real), NaN for a flagged window), ``judged_windows`` (windows that count),
        ``flagged`` (flagged windows per reason, e.g. ``"silent:3;clipped:1"``, ``""`` when none) and
        ``window_flags`` (list of each window's reasons joined by ``+``, ``""`` when judged);
        ``results.attrs`` describes the model, threshold, score and flag rules
        (:meth:`Detector.describe`). :func:`windows_frame` turns it into one row per window.
    errors : pandas.DataFrame
        One row per file or folder that could not be scored, columns ``file``, ``reason``.
        Entries of walked folders that were not scored on purpose (hidden, not an audio name,
        FIFO, broken symlink...) are in ``results.attrs["skipped"]`` (list of ``{file, reason}``).

    Raises
    ------
    ModelNotFoundError, DetectorConfigError
        No usable model (nothing is scored then).
    """
    detector = Detector.load(model_path, feature=feature, mode=mode, threshold=threshold,
                             batch_size=batch_size, device=device)
    return detector.detect_files(paths, progress=progress)
