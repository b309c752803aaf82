"""ASVspoof 5 adapter (2024; Track 1: stand-alone bona fide vs spoof detection).

Published layout (Zenodo record 14498691; the tarballs unpacked in one folder)::

    ASVspoof5_protocols/ASVspoof5.train.tsv          protocol files, from ASVspoof5_protocols.tar.gz
    ASVspoof5_protocols/ASVspoof5.dev.track_1.tsv    (also accepted directly in the root, or in
    ASVspoof5_protocols/ASVspoof5.eval.track_1.tsv   another subfolder whose name has "protocol")
    flac_T/T_0000000000.flac                         training set (flac_T_a?.tar)
    flac_D/D_0000000000.flac                         development set (flac_D_a?.tar)
    flac_E_eval/E_0000000000.flac                    evaluation set (flac_E_a?.tar; flac_E/ accepted)

A protocol line is whitespace-separated despite the ``.tsv`` name, ten columns::

    SPEAKER_ID FLAC_FILE_NAME SPEAKER_GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY TMP
    T_4850 T_0000000000 F - - - AC3 A05 spoof -

The files of the 2024 challenge phases, ``ASVspoof5.train.metadata.txt`` and
``ASVspoof5.dev.metadata.txt``, are read too; their lines have six columns
``SPEAKER_ID FLAC_FILE_NAME GENDER CODEC ATTACK KEY`` (``T_4850 T_0000000000 F - A05 spoof``).

The split is the protocol's (train / dev / eval); ``KEY`` gives the label, ``ATTACK_LABEL``
(``A01`` ... ``A32``) the ``source`` (``bonafide`` for the reals) and ``SPEAKER_ID`` the
``speaker``. The codec columns are not copied into ``condition``: they are the corpus's own
channel conditions, not a modification made by this study (as for ASVspoof 2021 DF). A protocol
line naming a file that is not on disk and a line that cannot be parsed are returned as rejected,
with the reason; a split whose protocol file is absent is skipped with a warning.
"""

from __future__ import annotations

import logging
import os

from idsd.datasets.common import Entry, listed_file_problem

log = logging.getLogger(__name__)

PROTOCOLS = {"train": ("ASVspoof5.train.tsv", "ASVspoof5.train.metadata.txt"),
             "dev": ("ASVspoof5.dev.track_1.tsv", "ASVspoof5.dev.metadata.txt"),
             "eval": ("ASVspoof5.eval.track_1.tsv", "ASVspoof5.eval.metadata.txt")}
"""Protocol file names per split, the final release first, then the challenge-phase name."""

AUDIO_DIRS = {"train": ("flac_T",), "dev": ("flac_D",), "eval": ("flac_E_eval", "flac_E")}

KEYS = {"bonafide": "real", "spoof": "fake"}


def _protocol_dirs(root: str) -> list[str]:
    dirs = [root]
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return dirs
    dirs += [os.path.join(root, d) for d in names
             if "protocol" in d.lower() and os.path.isdir(os.path.join(root, d))]
    return dirs


def _protocol(root: str, split: str) -> str | None:
    for d in _protocol_dirs(root):
        for name in PROTOCOLS[split]:
            p = os.path.join(d, name)
            if os.path.isfile(p):
                return p
    return None


def looks_like(root: str) -> bool:
    """True when ``root`` (or its ``*protocol*`` subfolder) holds an ASVspoof 5 protocol file."""
    return any(_protocol(root, s) is not None for s in PROTOCOLS)


def _audio_dir(root: str, split: str) -> str:
    for name in AUDIO_DIRS[split]:
        d = os.path.join(root, name)
        if os.path.isdir(d):
            inner = os.path.join(d, name)  # a tarball unpacked into a folder of its own name
            return inner if os.path.isdir(inner) else d
    return os.path.join(root, AUDIO_DIRS[split][0])


def parse_line(parts: list[str]) -> tuple[str, str, str, str] | None:
    """(speaker, file name, attack, label) of one protocol line split on whitespace, or ``None``.

    Ten-column lines (final release) carry the key in column 9 and the attack in column 8;
    six-column lines (challenge phase) carry them in columns 6 and 5.
    """
    if len(parts) >= 9:
        attack, key = parts[7], parts[8]
    elif len(parts) == 6:
        attack, key = parts[4], parts[5]
    else:
        return None
    label = KEYS.get(key.lower())
    if label is None or not parts[1]:
        return None
    return parts[0], parts[1], attack, label


def list_entries(root: str) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries of ASVspoof 5 from its protocol files (train / dev / eval).

    Returns
    -------
    entries : list of Entry
    rejected : list of (file, reason)
        Unparseable protocol lines (``<protocol>:<line>``) and listed files missing on disk.
    """
    if not looks_like(root):
        raise FileNotFoundError(f"{root}: no ASVspoof5.*.tsv protocol file (ASVspoof 5 layout)")
    entries, rejected = [], []
    for split in PROTOCOLS:
        ppath = _protocol(root, split)
        if ppath is None:
            log.warning("%s: no %s protocol (%s): split %s skipped", root, split, PROTOCOLS[split][0], split)
            continue
        audio_dir = _audio_dir(root, split)
        with open(ppath, encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                parts = line.split()
                if not parts or parts[0].upper() == "SPEAKER_ID":
                    continue  # blank line or a header
                parsed = parse_line(parts)
                if parsed is None:
                    rejected.append((f"{ppath}:{n}", f"malformed protocol line: {line.strip()[:80]!r}"))
                    continue
                speaker, name, attack, label = parsed
                path = os.path.join(audio_dir, name if name.lower().endswith(".flac") else name + ".flac")
                problem = listed_file_problem(path, "the protocol")
                if problem:
                    rejected.append((path, problem))
                    continue
                source = "bonafide" if label == "real" else (attack if attack not in ("-", "bonafide") else "spoof")
                entries.append(Entry(path, split, label, source=source, speaker=speaker))
    return entries, rejected
