"""In-the-Wild adapter (Müller et al. 2022, "Does audio deepfake detection generalize?").

Published layout (``release_in_the_wild.zip``)::

    release_in_the_wild/meta.csv        columns file,speaker,label
    release_in_the_wild/0.wav
    release_in_the_wild/1.wav ...

``meta.csv`` line: ``0.wav,Alec Guinness,spoof`` (label ``bona-fide`` or ``spoof``). The corpus
is evaluation-only (collected from public recordings of 58 celebrities and politicians), so
every file goes to split ``eval``; ``speaker`` is the speaker column, ``source`` is
``bonafide`` for the reals and ``inthewild`` for the fakes (the generators are not published).

The root is the folder holding ``meta.csv`` itself (not its parent), so a data folder that
contains ``release_in_the_wild/`` next to other corpora is not mistaken for this corpus.
Rows naming a file that is not there, rows with a missing field or an unknown label, and
audio files present but not listed in ``meta.csv`` are returned as rejected with the reason.
"""

from __future__ import annotations

import csv
import os

from idsd.audio import walk_files
from idsd.datasets.common import Entry, listed_file_problem

META = "meta.csv"
COLUMNS = ("file", "speaker", "label")
LABELS = {"bona-fide": "real", "bonafide": "real", "bona fide": "real", "spoof": "fake"}
SOURCE = "inthewild"


def _header(path: str) -> list[str] | None:
    if not os.path.isfile(path):  # never open a FIFO or a folder
        return None
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            return [c.strip().lower() for c in next(csv.reader(fh), [])]
    except (OSError, csv.Error):
        return None


def looks_like(root: str) -> bool:
    """True when ``root`` holds a ``meta.csv`` whose header has ``file``, ``speaker`` and ``label``."""
    head = _header(os.path.join(root, META))
    return head is not None and all(c in head for c in COLUMNS)


def list_entries(root: str) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries of In-the-Wild from its ``meta.csv``; every file goes to ``eval``.

    Returns
    -------
    entries : list of Entry
    rejected : list of (file, reason)
        Malformed ``meta.csv`` rows (``meta.csv:<line>``), listed files missing on disk, and
        files on disk that ``meta.csv`` does not list.
    """
    meta = os.path.join(root, META)
    head = _header(meta)
    if head is None or not all(c in head for c in COLUMNS):
        raise FileNotFoundError(f"{meta}: missing or without the columns file,speaker,label (In-the-Wild layout)")
    col = {c: head.index(c) for c in COLUMNS}
    entries, rejected = [], []
    listed: set[str] = set()
    with open(meta, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for n, row in enumerate(reader, 2):
            if not row or not any(c.strip() for c in row):
                continue
            fields = {c: row[i].strip() if i < len(row) else "" for c, i in col.items()}
            label = LABELS.get(fields["label"].lower())
            if len(row) < len(head) or not fields["file"] or label is None:
                rejected.append((f"{meta}:{n}", f"malformed meta.csv row (want file,speaker,label with label "
                                 f"bona-fide or spoof): {','.join(row)[:80]!r}"))
                continue
            name = fields["file"]
            path = os.path.join(root, name)
            listed.add(os.path.normpath(path))
            problem = listed_file_problem(path, "meta.csv")
            if problem:
                rejected.append((path, problem))
                continue
            entries.append(Entry(path, "eval", label, source="bonafide" if label == "real" else SOURCE,
                                 speaker=fields["speaker"] or "unknown"))
    for path in walk_files(root, rejected):
        if os.path.normpath(path) not in listed and os.path.abspath(path) != os.path.abspath(meta):
            rejected.append((path, "not listed in meta.csv"))
    return entries, rejected
