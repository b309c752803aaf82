"""Shared machinery of the corpus adapters: file entries -> checked 2-s fragment rows.

An adapter lists the files of a corpus as :class:`Entry` objects (path, split, label, source,
speaker) plus the files it already refuses (unknown label, missing protocol entry, ...).
:func:`expand` then decodes every file, applies the upstream fragmentation rule and returns one
manifest row per 2-s fragment, and ``(file, reason)`` rows for every file it had to skip.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd

from idsd import CLIP_SAMPLES, SAMPLE_RATE
from idsd.audio import audio_info, check_audio, format_notes, load_audio, n_fragments
from idsd.errors import AudioError
from idsd.progress import tqdm

log = logging.getLogger(__name__)

MANIFEST_COLUMNS: tuple[str, ...] = (
    "path", "dataset", "split", "label", "target", "source", "speaker", "fragment", "duration", "condition",
)
"""Columns of a manifest, one row per 2-s fragment (see docs/architecture.md)."""

REJECTED_COLUMNS: tuple[str, ...] = ("file", "reason")

SPLITS = ("train", "dev", "eval")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".wma", ".opus", ".mp4", ".webm", ".aiff",
                    ".aif", ".au", ".g722")


@dataclass
class Entry:
    """One audio file of a corpus before decoding."""

    path: str
    split: str
    label: str  # "real" | "fake"
    source: str = "unknown"
    speaker: str = "unknown"
    condition: str = "clean"


def is_audio_name(name: str) -> bool:
    """True for file names whose extension is an audio/video container we try to decode."""
    return name.lower().endswith(AUDIO_EXTENSIONS)


def walk_files(root: str | os.PathLike) -> list[str]:
    """All regular files under ``root`` (sorted, hidden files and folders skipped)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out.extend(os.path.join(dirpath, f) for f in sorted(filenames) if not f.startswith("."))
    return out


def audio_files(root: str | os.PathLike, rejected: list[tuple[str, str]],
                reason: str = "not an audio file name"):
    """Yield the audio files under ``root`` (:func:`walk_files` order); list the others in ``rejected``.

    Parameters
    ----------
    root : str or PathLike
    rejected : list of (file, reason)
        Files whose name is not an audio/video container are appended here with ``reason``.
    """
    for path in walk_files(root):
        if is_audio_name(path):
            yield path
        else:
            rejected.append((path, reason))


def _check_one(entry: Entry, pad: bool, verify: bool) -> tuple[Entry, int, float, list[str]]:
    """Decode (or read the header of) one file; return (entry, n_fragments, duration, notes)."""
    notes: list[str] = []
    if not verify:
        try:
            info = audio_info(entry.path)
        except AudioError:
            info = None  # container only ffmpeg reads: decode it below
        if info is not None:
            notes = format_notes(info)
            n = int(round(info["frames"] * SAMPLE_RATE / info["samplerate"])) if info["samplerate"] else 0
            if n == 0:
                raise AudioError(entry.path, "no audio samples")
            if not pad and n < CLIP_SAMPLES:
                raise AudioError(entry.path, f"shorter than 2 s ({n / SAMPLE_RATE:.2f} s)")
            return entry, n_fragments(n, pad=pad), n / SAMPLE_RATE, notes
    try:
        notes = format_notes(audio_info(entry.path))
    except AudioError:
        notes = []
    y = load_audio(entry.path)
    k = check_audio(y, entry.path, pad=pad)
    return entry, k, len(y) / SAMPLE_RATE, notes


def expand(entries: Iterable[Entry], dataset: str, pad: bool = False, verify: bool = True,
           workers: int | None = None, progress: bool = True,
           rejected: list[tuple[str, str]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decode every entry and expand it to one manifest row per 2-s fragment.

    Parameters
    ----------
    entries : iterable of Entry
    dataset : str
        Value of the ``dataset`` column.
    pad : bool
        Keep files shorter than 2 s and the last partial window, zero-padded (upstream: drop).
    verify : bool
        Decode every file (catches corrupt, silent and non-audio files). ``False`` trusts the
        header of libsndfile formats, which is much faster on very large corpora.
    workers : int, optional
        Decoding threads (libsndfile and soxr release the GIL); default ``min(4, cpu count)``.
    progress : bool
        Show a progress bar.
    rejected : list of (file, reason), optional
        Files the adapter already refused; they are prepended to the rejected table.

    Returns
    -------
    manifest : pandas.DataFrame
        Columns :data:`MANIFEST_COLUMNS`, one row per fragment, sorted by split, label, path.
    rejected : pandas.DataFrame
        Columns ``file, reason``.
    """
    entries = list(entries)
    bad = list(rejected or [])
    rows = []
    converted = 0
    workers = workers or min(4, os.cpu_count() or 1)

    def job(e):
        try:
            return _check_one(e, pad, verify)
        except AudioError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - one bad file must never stop the run
            return AudioError(e.path, f"unexpected error: {type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(job, entries)
        for res in tqdm(results, total=len(entries), desc=f"manifest {dataset}", disable=not progress,
                        unit="file"):
            if isinstance(res, AudioError):
                bad.append((res.path, res.reason))
                continue
            e, k, duration, notes = res
            converted += bool(notes)
            for i in range(k):
                rows.append((os.path.abspath(e.path), dataset, e.split, e.label, int(e.label == "real"),
                             e.source, e.speaker, i, round(duration, 4), e.condition))
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    if len(manifest):
        manifest = manifest.sort_values(["split", "label", "path", "fragment"], kind="stable").reset_index(drop=True)
    manifest = manifest.astype({"target": "int64", "fragment": "int64", "duration": "float64"})
    rej = pd.DataFrame(bad, columns=list(REJECTED_COLUMNS))
    if converted:
        log.info("%s: %d files converted on load (channels / sample rate / bit depth)", dataset, converted)
    if len(rej):
        log.warning("%s: %d files skipped (see rejected.csv); first: %s: %s", dataset, len(rej),
                    rej.file.iloc[0], rej.reason.iloc[0])
    log.info("%s: %d files -> %d fragments", dataset, len(entries) - (len(rej) - len(rejected or [])), len(manifest))
    return manifest, rej


def stable_fraction(key: str, salt: str = "") -> float:
    """A deterministic number in [0, 1) from a string (for hash-based, reproducible splits)."""
    import hashlib

    h = hashlib.sha256(f"{salt}|{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def hash_split(key: str, fractions=(0.7, 0.1, 0.2), salt: str = "") -> str:
    """Assign ``train`` / ``dev`` / ``eval`` from a key with the given fractions (70/10/20 upstream)."""
    u = stable_fraction(key, salt)
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "dev"
    return "eval"
