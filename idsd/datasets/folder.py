"""Generic adapter: any folder with ``real/`` and ``fake/`` (optionally under split folders).

Accepted layouts::

    ROOT/{real,fake}/**/*.wav                      -> every file in ``unsplit`` (default eval)
    ROOT/<split>/{real,fake}/**/*.wav              split names: train/training, dev/val/valid,
                                                   eval/test/evaluation; FoR's testing -> dev and
                                                   validation -> eval

A subfolder directly below ``fake/`` (``fake/<engine>/x.wav``) names the ``source``; below
``real/`` it names the ``speaker``.
"""

from __future__ import annotations

import os

from idsd.audio import iter_audio_files
from idsd.datasets.common import Entry, hash_split, list_unused

SPLIT_NAMES = {"train": "train", "training": "train", "dev": "dev", "val": "dev", "valid": "dev",
               "development": "dev", "testing": "dev", "eval": "eval", "test": "eval", "evaluation": "eval",
               "validation": "eval"}
LABELS = ("real", "fake")


def _split_dirs(root: str) -> dict[str, str]:
    out = {}
    for d in sorted(os.listdir(root)):
        if d.lower() in SPLIT_NAMES and any(os.path.isdir(os.path.join(root, d, lab)) for lab in LABELS):
            out[os.path.join(root, d)] = SPLIT_NAMES[d.lower()]
    return out


def looks_like(root: str) -> bool:
    return any(os.path.isdir(os.path.join(root, lab)) for lab in LABELS) or bool(_split_dirs(root))


def list_entries(root: str, unsplit: str = "eval") -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries of a real/fake folder tree.

    Parameters
    ----------
    root : str
    unsplit : str
        Split of files when there are no split folders: ``train``/``dev``/``eval``, or ``hash``
        for a reproducible 70/10/20 split by file name.
    """
    splits = _split_dirs(root) or {root: unsplit}
    if not looks_like(root):
        raise FileNotFoundError(f"{root}: no real/ or fake/ folder (optionally below train/dev/eval)")
    entries, rejected = [], []
    outside = "outside real/ and fake/ (not used)"
    if root in splits:
        list_unused(root, LABELS, rejected, outside)
    else:
        list_unused(root, [os.path.basename(b) for b in splits], rejected, outside)
        for base in splits:
            list_unused(base, LABELS, rejected, outside)
    for base, split in splits.items():
        for label in LABELS:
            d = os.path.join(base, label)
            if not os.path.isdir(d):
                continue
            for path in iter_audio_files(d, rejected):
                rel = os.path.relpath(path, d).split(os.sep)
                sub = rel[0] if len(rel) > 1 else None
                s = hash_split(os.path.basename(path)) if split == "hash" else split
                entries.append(Entry(path, s, label,
                                     source="bonafide" if label == "real" else (sub or "unknown"),
                                     speaker=(sub if label == "real" and sub else "unknown")))
    return entries, rejected
