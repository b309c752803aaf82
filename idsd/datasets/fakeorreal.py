"""FoR (Fake-or-Real) adapter: ``{training,validation,testing}/{real,fake}/*.wav``.

All four published versions share this layout (``for-original``, ``for-norm``, ``for-2seconds``,
``for-rerecorded``; the rerecorded version may hold the authors' ``real_fixed``/``fake_fixed``
copies). As upstream, ``training`` trains, ``testing`` monitors training (``dev``) and
``validation`` is the held-out evaluation split (``eval``). The embedded corpus suite uses the
same layout plus a ``metadata.csv`` (path, split, label, source, speaker, ...), which fills the
source and speaker columns when present.
"""

from __future__ import annotations

import logging
import os

import pandas as pd

from idsd.audio import iter_audio_files
from idsd.datasets.common import Entry, list_unused

log = logging.getLogger(__name__)

SPLIT_MAP = {"training": "train", "testing": "dev", "validation": "eval"}
"""FoR folder -> canonical split (upstream: validation is the held-out evaluation split)."""

LABEL_DIRS = {"real": "real", "fake": "fake", "real_fixed": "real", "fake_fixed": "fake"}

VERSION_NAMES = {"for-original": "for-original", "for-norm": "for-norm", "for-2seconds": "for-2sec",
                 "for-2sec": "for-2sec", "for-rerecorded": "for-rerec", "for-rerec": "for-rerec"}


def looks_like(root: str) -> bool:
    """True when ``root`` has at least one FoR split folder with a real/ or fake/ subfolder."""
    return any(os.path.isdir(os.path.join(root, s, d)) for s in SPLIT_MAP for d in LABEL_DIRS)


def dataset_name(root: str) -> str:
    """Canonical corpus name from the folder name (``for-2seconds`` -> ``for-2sec``)."""
    base = os.path.basename(os.path.normpath(root))
    return VERSION_NAMES.get(base.lower(), base)


def _metadata(root: str) -> dict[str, dict]:
    path = os.path.join(root, "metadata.csv")
    if not os.path.isfile(path):
        return {}
    meta = pd.read_csv(path, keep_default_na=False, dtype=str)
    if "path" not in meta.columns:
        log.warning("%s: no 'path' column, ignored", path)
        return {}
    return {os.path.normpath(os.path.join(root, p)): row for p, row in zip(meta["path"], meta.to_dict("records"))}


def list_entries(root: str) -> tuple[list[Entry], list[tuple[str, str]]]:
    """List the audio files of one FoR version (or an embedded corpus) under ``root``.

    Returns
    -------
    entries : list of Entry
    rejected : list of (file, reason)
        Files that are not audio by name, or sit outside a real/fake folder.
    """
    if not looks_like(root):
        versions = [d for d in sorted(os.listdir(root)) if d.lower() in VERSION_NAMES]
        hint = f" (it holds {versions}: point at one of them)" if versions else ""
        raise FileNotFoundError(f"{root}: no FoR layout {{training,validation,testing}}/{{real,fake}}{hint}")
    meta = _metadata(root)
    entries, rejected = [], []
    outside = "outside the FoR layout {training,validation,testing}/{real,fake} (not used)"
    list_unused(root, [*SPLIT_MAP, "metadata.csv"], rejected, outside)
    for folder, split in SPLIT_MAP.items():
        if os.path.isdir(os.path.join(root, folder)):
            list_unused(os.path.join(root, folder), LABEL_DIRS, rejected, outside)
        for label_dir, label in LABEL_DIRS.items():
            d = os.path.join(root, folder, label_dir)
            if not os.path.isdir(d):
                continue
            for path in iter_audio_files(d, rejected):
                m = meta.get(os.path.normpath(path), {})
                source = m.get("source") or ("bonafide" if label == "real" else "for-tts")
                entries.append(Entry(path, split, label, source=source, speaker=m.get("speaker") or "unknown"))
    return entries, rejected
