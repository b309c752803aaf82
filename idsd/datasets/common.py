"""Shared machinery of the corpus adapters: file entries -> checked 2-s fragment rows.

An adapter lists the files of a corpus as :class:`Entry` objects (path, split, label, source,
speaker) plus the files it already refuses (unknown label, missing protocol entry, ...).
:func:`expand` then decodes every file, applies the upstream fragmentation rule and returns one
manifest row per 2-s fragment, and ``(file, reason)`` rows for every file it had to skip.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd

from idsd import CLIP_SAMPLES, SAMPLE_RATE
from idsd.audio import audio_info, check_audio, format_notes, load_audio, n_fragments
from idsd.errors import AudioError
from idsd.files import CSV_ENCODING, CSV_ERRORS, atomic_write
from idsd.progress import tqdm
from idsd.validate import file_problem

log = logging.getLogger(__name__)

MANIFEST_COLUMNS: tuple[str, ...] = (
    "path", "dataset", "split", "label", "target", "source", "speaker", "fragment", "duration", "condition",
)
"""Columns of a manifest, one row per 2-s fragment (see docs/architecture.md)."""

REJECTED_COLUMNS: tuple[str, ...] = ("file", "reason")

SPLITS = ("train", "dev", "eval")


@dataclass
class Entry:
    """One audio file of a corpus before decoding."""

    path: str
    split: str
    label: str  # "real" | "fake"
    source: str = "unknown"
    speaker: str = "unknown"
    condition: str = "clean"


def listed_file_problem(path: str, listing: str) -> str | None:
    """Why a file that a protocol or metadata file lists cannot be used, or None when it can.

    ``listing`` names the list (``"the protocol"``, ``"meta.csv"``); an empty file is left to the
    decoder, which refuses it with ``empty file``.
    """
    problem = file_problem(path)
    if problem == "file not found":
        return f"listed in {listing} but missing"
    if problem and problem != "empty file":
        return f"listed in {listing} but {problem}"
    return None


def list_unused(folder: str | os.PathLike, used: Iterable[str], rejected: list[tuple[str, str]],
                reason: str) -> None:
    """List in ``rejected`` every entry of ``folder`` whose name is not in ``used`` (with ``reason``).

    Layout adapters call it for the levels they do not walk (the corpus root, split folders), so
    a stray file or folder there is reported instead of silently ignored.
    """
    used = set(used)
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        rejected.append((os.fspath(folder), f"unreadable folder ({exc.strerror})"))
        return
    for name in names:
        if name not in used:
            full = os.path.join(folder, name)
            rejected.append((full, "hidden " + ("folder" if os.path.isdir(full) else "file")
                             if name.startswith(".") else reason))





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


CHECKPOINT_FIELDS = ("path", "size", "mtime_ns", "status", "fragments", "duration", "converted", "reason",
                     "end")
"""Columns of a manifest checkpoint (one line per file decoded; ``end`` is ``.`` on whole lines)."""


def _identity(path: str) -> tuple[str, str]:
    try:
        st = os.stat(path)
    except OSError:
        return "", ""
    return str(st.st_size), str(st.st_mtime_ns)


def _read_checkpoint(path: str, settings: str) -> dict[str, tuple]:
    """Results saved by an interrupted run: abs path -> (size, mtime_ns, result or AudioError).

    The first line holds the settings (``pad``/``verify``); a checkpoint made with other
    settings, a truncated last line or a malformed line is ignored (that file is decoded again).
    """
    out: dict[str, tuple] = {}
    try:
        fh = open(path, newline="", encoding=CSV_ENCODING, errors=CSV_ERRORS)
    except FileNotFoundError:
        return out
    except OSError as exc:
        log.warning("%s: unreadable checkpoint (%s): starting over", path, exc)
        return out
    with fh:
        reader = csv.reader(fh)
        try:
            head = next(reader)
        except (StopIteration, csv.Error):
            return out
        if head != ["#idsd-manifest-checkpoint", settings]:
            log.warning("%s: checkpoint of other settings (%s): starting over", path, ",".join(head)[:60])
            return out
        try:
            for row in reader:
                if len(row) != len(CHECKPOINT_FIELDS) or row[-1] != ".":
                    continue  # a line cut by a kill
                p, size, mtime, status, k, dur, conv, reason, _ = row
                try:
                    res = ("ok", int(k), float(dur), bool(int(conv))) if status == "ok" else ("bad", reason)
                except ValueError:
                    continue
                out[p] = (size, mtime, res)
        except csv.Error:
            pass
    return out


def expand(entries: Iterable[Entry], dataset: str, pad: bool = False, verify: bool = True,
           workers: int | None = None, progress: bool = True,
           rejected: list[tuple[str, str]] | None = None,
           resume: str | os.PathLike | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    resume : str or PathLike, optional
        Checkpoint file: each file's outcome is appended (and flushed) as soon as it is decoded,
        and the files already recorded there (same size and mtime) are not decoded again. A run
        killed mid-way thus resumes where it stopped; the result is the same as uninterrupted.
        The caller removes the checkpoint once the manifest is written.

    Returns
    -------
    manifest : pandas.DataFrame
        Columns :data:`MANIFEST_COLUMNS`, one row per fragment, sorted by split, label, path.
    rejected : pandas.DataFrame
        Columns ``file, reason``.
    """
    entries = list(entries)
    bad = list(rejected or [])
    workers = workers or min(4, os.cpu_count() or 1)
    results: list = [None] * len(entries)  # (k, duration, converted) or AudioError, per entry

    settings = f"pad={int(bool(pad))};verify={int(bool(verify))}"
    ckpt = None
    todo = list(range(len(entries)))
    if resume is not None:
        resume = os.fspath(resume)
        saved = _read_checkpoint(resume, settings)
        todo = []
        for i, e in enumerate(entries):
            ap = os.path.abspath(e.path)
            hit = saved.get(ap)
            if hit is not None and hit[:2] == _identity(ap):
                res = hit[2]
                results[i] = res[1:] if res[0] == "ok" else AudioError(e.path, res[1])
            else:
                todo.append(i)
        if len(todo) < len(entries):
            log.info("%s: resumed %d files from %s; %d to decode", dataset, len(entries) - len(todo),
                     resume, len(todo))
        # rewrite the checkpoint with its whole lines only, then append to it
        def rewrite(tmp):
            with open(tmp, "w", newline="", encoding=CSV_ENCODING, errors=CSV_ERRORS) as fh:
                w = csv.writer(fh)
                w.writerow(["#idsd-manifest-checkpoint", settings])
                for i, e in enumerate(entries):
                    r = results[i]
                    if r is not None:
                        w.writerow(_checkpoint_row(os.path.abspath(e.path), r))

        atomic_write(resume, rewrite)
        ckpt = open(resume, "a", newline="", encoding=CSV_ENCODING, errors=CSV_ERRORS)

    def job(i):
        e = entries[i]
        try:
            _, k, duration, notes = _check_one(e, pad, verify)
            return k, duration, bool(notes)
        except AudioError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - one bad file must never stop the run
            return AudioError(e.path, f"unexpected error: {type(exc).__name__}: {exc}")

    try:
        writer = csv.writer(ckpt) if ckpt is not None else None
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, res in tqdm(zip(todo, pool.map(job, todo)), total=len(todo), desc=f"manifest {dataset}",
                               disable=not progress, unit="file"):
                results[i] = res
                if writer is not None:
                    writer.writerow(_checkpoint_row(os.path.abspath(entries[i].path), res))
                    ckpt.flush()
    finally:
        if ckpt is not None:
            ckpt.close()

    rows = []
    converted = 0
    for e, res in zip(entries, results):
        if isinstance(res, AudioError):
            bad.append((res.path, res.reason))
            continue
        k, duration, conv = res
        converted += bool(conv)
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


def _checkpoint_row(abspath: str, res) -> list[str]:
    size, mtime = _identity(abspath)
    if isinstance(res, AudioError):
        return [abspath, size, mtime, "bad", "", "", "", res.reason, "."]
    k, duration, conv = res
    return [abspath, size, mtime, "ok", str(k), repr(float(duration)), str(int(bool(conv))), "", "."]


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
