"""MLAAD adapter (Müller et al. 2024, Multi-Language Audio Anti-Spoofing Dataset) + M-AILABS bona fide.

MLAAD holds the output of many text-to-speech systems in many languages, each generated from
the transcript of one M-AILABS book recording (its ``original_file``); M-AILABS is the bona fide
class. Layout (the MLAAD download and the M-AILABS download in one folder)::

    fake/<language>/<model>/meta.csv     pipe-separated: path|original_file|language|
                                         is_original_language|duration|training_data|model_name|
                                         architecture|transcript[|reference_speaker]
    fake/<language>/<model>/*.wav        e.g. fake/de/tts_models_de_thorsten_vits/...wav
    mailabs/<lang>_<REGION>/by_book/<female|male>/<speaker>/<book>/wavs/*.wav
    mailabs/<lang>_<REGION>/by_book/mix/<book>/wavs/*.wav
                                         (the bona fide folder may also be named m-ailabs/,
                                         M-AILABS/ or bonafide/)

``meta.csv`` line: ``./fake/de/tts_models_de_thorsten_vits/x.wav|de_DE/by_book/female/eva_k/
kleinzaches/wavs/kleinzaches_01_f000001.wav|de|True|4.1|thorsten|tts_models/de/thorsten/vits|
vits|...``. When a model folder has a ``meta.csv`` it lists that folder's files (its ``path``
is relative to the MLAAD root, or just the file name) and its ``model_name`` column is the
``source``; without one every audio file of the folder is taken and the folder name is the
``source``.

Split rule (deterministic, speaker- and utterance-disjoint): every file gets a split key, the
M-AILABS reader it comes from, ``<lang>/<speaker>`` (``<lang>/mix/<book>`` for the ``mix``
recordings, which have no single reader); a fake takes the key of its ``original_file``, so a
bona fide recording and all its synthetic versions share a split and no reader appears in two
splits. The key is hashed (:func:`idsd.datasets.common.hash_split`, 70/10/20, salt
``mlaad``). A fake without a usable ``original_file`` (no ``meta.csv``) is keyed by its own file
name. ``speaker`` is the reader (for fakes: the reader of the original; ``unknown`` when not
known), as the embedded suite and ASVspoof name the speaker a fake imitates or was made from.

Rows of ``meta.csv`` naming a missing file or lacking fields, files not listed in their folder's
``meta.csv``, and non-audio files are returned as rejected with the reason; a missing bona fide
folder is listed too (a fake-only MLAAD tree is still read).
"""

from __future__ import annotations

import csv
import os

from idsd.audio import iter_audio_files, walk_files
from idsd.datasets.common import Entry, hash_split, list_unused, listed_file_problem

REAL_DIRS = ("mailabs", "m-ailabs", "m_ailabs", "bonafide")
"""Accepted names (any case) of the bona fide (M-AILABS) folder beside ``fake/``."""

FRACTIONS = (0.7, 0.1, 0.2)
META = "meta.csv"
FAKE_EXTENSIONS = frozenset({".wav", ".flac", ".mp3"})


def _real_dir(root: str) -> str | None:
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return None
    for name in names:
        if name.lower() in REAL_DIRS and os.path.isdir(os.path.join(root, name)):
            return os.path.join(root, name)
    return None


def _subdirs(d: str) -> list[str]:
    try:
        return [n for n in sorted(os.listdir(d)) if not n.startswith(".") and os.path.isdir(os.path.join(d, n))]
    except OSError:
        return []


def _model_dirs(root: str) -> list[tuple[str, str, str]]:
    fake = os.path.join(root, "fake")
    return [(lang, model, os.path.join(fake, lang, model))
            for lang in _subdirs(fake) for model in _subdirs(os.path.join(fake, lang))]


def looks_like(root: str) -> bool:
    """True for ``fake/<language>/<model>/`` plus an M-AILABS folder or a model ``meta.csv``."""
    models = _model_dirs(root)
    if not models:
        return False
    return _real_dir(root) is not None or any(os.path.isfile(os.path.join(d, META)) for _, _, d in models)


def reader_key(rel: str) -> tuple[str, str]:
    """(speaker, split key) of an M-AILABS path relative to its root (``/`` or OS separators).

    ``de_DE/by_book/female/eva_k/kleinzaches/wavs/x.wav`` -> ``("eva_k", "de_DE/eva_k")``;
    ``en_UK/by_book/mix/<book>/wavs/x.wav`` -> ``("mix", "en_UK/mix/<book>")``; a path without
    ``by_book`` -> ``("unknown", <file stem>)``.
    """
    parts = [p for p in rel.replace("\\", "/").split("/") if p and p != "."]
    stem = os.path.splitext(parts[-1])[0] if parts else rel
    if "by_book" in parts:
        i = parts.index("by_book")
        lang = parts[i - 1] if i > 0 else "unknown"
        rest = parts[i + 1:-1]  # folders between by_book and the file
        if len(rest) >= 2 and rest[0].lower() == "mix":
            return "mix", f"{lang}/mix/{rest[1]}"
        if len(rest) >= 2:
            return rest[1], f"{lang}/{rest[1]}"
    return "unknown", stem


def _read_meta(path: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and numbered rows of a model ``meta.csv`` (``|``-separated, or ``,``)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    first = text.split("\n", 1)[0]
    delim = "|" if first.count("|") >= first.count(",") else ","
    rows = list(csv.reader(text.splitlines(), delimiter=delim))
    if not rows:
        return [], []
    head = [c.strip().lower() for c in rows[0]]
    return head, [(n, r) for n, r in enumerate(rows[1:], 2) if r and any(c.strip() for c in r)]


def _fakes_from_meta(root: str, mdir: str, meta: str, folder_source: str,
                     rejected: list[tuple[str, str]]) -> list[Entry]:
    head, rows = _read_meta(meta)
    if "path" not in head:
        rejected.append((meta, "meta.csv without a 'path' column: the folder's files are taken as they are"))
        return [Entry(p, hash_split(os.path.basename(p), FRACTIONS, "mlaad"), "fake", source=folder_source)
                for p in iter_audio_files(mdir, rejected, FAKE_EXTENSIONS, "not an audio file (MLAAD model folder)")
                if os.path.basename(p) != META]
    col = {c: i for i, c in enumerate(head)}
    out, listed = [], set()
    for n, row in rows:
        field = {c: (row[i].strip() if i < len(row) else "") for c, i in col.items()}
        if len(row) < len(head) or not field["path"]:
            rejected.append((f"{meta}:{n}", f"malformed meta.csv row: {'|'.join(row)[:80]!r}"))
            continue
        rel = field["path"]
        cand = os.path.normpath(os.path.join(root, rel))
        path = cand if os.path.exists(cand) else os.path.join(mdir, os.path.basename(rel))
        listed.add(os.path.normpath(path))
        problem = listed_file_problem(path, "meta.csv")
        if problem:
            rejected.append((path, problem))
            continue
        original = field.get("original_file", "")
        speaker, key = reader_key(original) if original else ("unknown", os.path.basename(path))
        out.append(Entry(path, hash_split(key, FRACTIONS, "mlaad"), "fake",
                         source=field.get("model_name") or folder_source, speaker=speaker))
    for p in walk_files(mdir, rejected):
        if os.path.normpath(p) not in listed and os.path.abspath(p) != os.path.abspath(meta):
            rejected.append((p, "not listed in meta.csv"))
    return out


def list_entries(root: str) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries of MLAAD (fake) and M-AILABS (real), split by M-AILABS reader (see the module doc).

    Returns
    -------
    entries : list of Entry
    rejected : list of (file, reason)
    """
    models = _model_dirs(root)
    if not models:
        raise FileNotFoundError(f"{root}: no fake/<language>/<model>/ folders (MLAAD layout)")
    entries: list[Entry] = []
    rejected: list[tuple[str, str]] = []
    fake = os.path.join(root, "fake")
    outside = "outside fake/<language>/<model>/ (not used)"
    list_unused(fake, _subdirs(fake), rejected, outside)
    for lang in _subdirs(fake):
        list_unused(os.path.join(fake, lang), _subdirs(os.path.join(fake, lang)), rejected, outside)
    for _lang, model, mdir in models:
        meta = os.path.join(mdir, META)
        if os.path.isfile(meta):
            entries += _fakes_from_meta(root, mdir, meta, model, rejected)
            continue
        for path in iter_audio_files(mdir, rejected, FAKE_EXTENSIONS, "not an audio file (MLAAD model folder)"):
            entries.append(Entry(path, hash_split(os.path.basename(path), FRACTIONS, "mlaad"), "fake", source=model))
    real = _real_dir(root)
    if real is None:
        rejected.append((os.path.join(root, "mailabs"), "M-AILABS folder not found (fake-only MLAAD)"))
        return entries, rejected
    for path in iter_audio_files(real, rejected, {".wav"}, "not a .wav file (M-AILABS folder)"):
        speaker, key = reader_key(os.path.relpath(path, real))
        entries.append(Entry(path, hash_split(key, FRACTIONS, "mlaad"), "real", source="bonafide", speaker=speaker))
    return entries, rejected
