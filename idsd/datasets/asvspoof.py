"""ASVspoof adapters: 2019 LA (protocol files + flac) and 2021 DF (trial metadata + flac).

ASVspoof 2019 LA, as distributed::

    LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
    LA/ASVspoof2019_LA_{train,dev,eval}/flac/LA_T_1138215.flac

protocol line: ``LA_0079 LA_T_1138215 - - bonafide`` (speaker, file, -, attack id or ``-``, key).

ASVspoof 2021 DF (evaluation only), as distributed::

    ASVspoof2021_DF_eval/flac/DF_E_2000011.flac       (possibly in several *_part0N folders)
    DF-keys-full/keys/DF/CM/trial_metadata.txt

trial line: ``LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder ...``
(speaker, trial, codec, source corpus, attack, key, trim, subset, vocoder type, ...).
"""

from __future__ import annotations

import glob
import logging
import os

from idsd.audio import walk_files
from idsd.datasets.common import Entry, listed_file_problem

log = logging.getLogger(__name__)

LA19_PROTOCOLS = {"train": "ASVspoof2019.LA.cm.train.trn.txt", "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
                  "eval": "ASVspoof2019.LA.cm.eval.trl.txt"}


def _la_root(root: str) -> str:
    if os.path.isdir(os.path.join(root, "ASVspoof2019_LA_cm_protocols")):
        return root
    if os.path.isdir(os.path.join(root, "LA", "ASVspoof2019_LA_cm_protocols")):
        return os.path.join(root, "LA")
    raise FileNotFoundError(f"{root}: no ASVspoof2019_LA_cm_protocols folder (expected LA/ or its parent)")


def looks_like_2019(root: str) -> bool:
    try:
        _la_root(root)
        return True
    except FileNotFoundError:
        return False


def _key_label(key: str) -> str | None:
    return {"bonafide": "real", "spoof": "fake"}.get(key.strip().lower())


def list_entries_2019(root: str) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries of ASVspoof 2019 LA from its CM protocols (train / dev / eval)."""
    la = _la_root(root)
    entries, rejected = [], []
    for split, proto in LA19_PROTOCOLS.items():
        ppath = os.path.join(la, "ASVspoof2019_LA_cm_protocols", proto)
        if not os.path.isfile(ppath):
            log.warning("%s missing: split %s skipped", ppath, split)
            continue
        audio_dir = os.path.join(la, f"ASVspoof2019_LA_{split}", "flac")
        with open(ppath, encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) < 5 or _key_label(parts[4]) is None:
                    rejected.append((f"{ppath}:{n}", f"malformed protocol line: {line.strip()[:80]!r}"))
                    continue
                speaker, utt, attack, key = parts[0], parts[1], parts[3], parts[4]
                label = _key_label(key)
                path = os.path.join(audio_dir, utt + ".flac")
                problem = listed_file_problem(path, "the protocol")
                if problem:
                    rejected.append((path, problem))
                    continue
                source = "bonafide" if label == "real" else (attack if attack != "-" else "spoof")
                entries.append(Entry(path, split, label, source=source, speaker=speaker))
    return entries, rejected


def _find_2021_metadata(root: str) -> str:
    hits = sorted(glob.glob(os.path.join(root, "**", "trial_metadata.txt"), recursive=True))
    hits = [h for h in hits if os.sep + "CM" + os.sep in h or "DF" in h] or hits
    if not hits:
        raise FileNotFoundError(f"{root}: no trial_metadata.txt (DF-keys-full/keys/DF/CM/trial_metadata.txt)")
    return hits[0]


def _holds_2021(root: str) -> bool:
    return bool(glob.glob(os.path.join(root, "**", "trial_metadata.txt"), recursive=True)) and \
        bool(glob.glob(os.path.join(root, "*DF*")))


def looks_like_2021(root: str) -> bool:
    """ASVspoof 2021 DF, but not a folder that merely holds an ASVspoof 2021 DF corpus folder.

    The metadata search covers the whole tree, so a data folder with ``ASVspoof2021_DF/`` beside
    other corpora would pass for that one corpus; the corpus root is the folder whose own
    subfolders are the ``ASVspoof2021_DF_eval*`` parts.
    """
    if not _holds_2021(root):
        return False
    try:
        children = [os.path.join(root, d) for d in sorted(os.listdir(root))
                    if not d.startswith(".") and os.path.isdir(os.path.join(root, d))]
    except OSError:
        return True
    for child in children:
        try:
            holds_parts = any(n.startswith("ASVspoof2021_DF_eval") for n in os.listdir(child))
        except OSError:
            continue
        if holds_parts and _holds_2021(child):
            return False
    return True


def list_entries_2021(root: str) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries of ASVspoof 2021 DF from ``trial_metadata.txt``; every trial goes to ``eval``.

    ``source`` is the attack id (``A14``, ``Task1-team20``, ...) and ``condition`` keeps
    ``clean`` (the codec of each trial is the corpus's own channel, not a modification).
    """
    meta = _find_2021_metadata(root)
    audio = {}
    entries, rejected = [], []
    for path in walk_files(root, rejected):
        if path.lower().endswith(".flac"):
            audio.setdefault(os.path.splitext(os.path.basename(path))[0], path)
        elif os.path.abspath(path) != os.path.abspath(meta) and not path.lower().endswith(".txt"):
            rejected.append((path, "not a .flac file"))
    listed = set()
    with open(meta, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 6 or _key_label(parts[5]) is None:
                rejected.append((f"{meta}:{n}", f"malformed trial line: {line.strip()[:80]!r}"))
                continue
            speaker, trial, attack, key = parts[0], parts[1], parts[4], parts[5]
            label = _key_label(key)
            path = audio.get(trial)
            listed.add(trial)
            if path is None:
                rejected.append((trial + ".flac", "listed in trial_metadata.txt but missing"))
                continue
            source = "bonafide" if label == "real" else attack
            entries.append(Entry(path, "eval", label, source=source, speaker=speaker))
    rejected.extend((path, "not listed in trial_metadata.txt") for trial, path in sorted(audio.items())
                    if trial not in listed)
    return entries, rejected
