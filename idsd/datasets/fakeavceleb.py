"""FakeAVCeleb adapter (audio track of the videos, decoded with ffmpeg).

Published layout::

    FakeAVCeleb_v1.2/meta_data.csv
    FakeAVCeleb_v1.2/{RealVideo-RealAudio,RealVideo-FakeAudio,FakeVideo-RealAudio,FakeVideo-FakeAudio}/
        <ethnicity>/<men|women>/id00076/00109.mp4

As upstream, real = RealVideo-RealAudio and fake = RealVideo-FakeAudio (SV2TTS voice cloning);
``include_fake_video=True`` adds FakeVideo-FakeAudio to the fakes and FakeVideo-RealAudio to the
reals. The corpus is evaluation-only in the paper, so every file goes to ``eval``. Upstream also
strips silence with ffmpeg ``silenceremove``; this adapter keeps the audio as published.
"""

from __future__ import annotations

import logging
import os

import pandas as pd

from idsd.audio import iter_audio_files
from idsd.datasets.common import Entry

log = logging.getLogger(__name__)

CATEGORIES = {"RealVideo-RealAudio": "real", "RealVideo-FakeAudio": "fake",
              "FakeVideo-RealAudio": "real", "FakeVideo-FakeAudio": "fake"}
DEFAULT = ("RealVideo-RealAudio", "RealVideo-FakeAudio")


def _base(root: str) -> str:
    if any(os.path.isdir(os.path.join(root, c)) for c in CATEGORIES):
        return root
    for d in sorted(os.listdir(root)):
        p = os.path.join(root, d)
        if os.path.isdir(p) and any(os.path.isdir(os.path.join(p, c)) for c in CATEGORIES):
            return p
    raise FileNotFoundError(f"{root}: no RealVideo-RealAudio / RealVideo-FakeAudio folders (FakeAVCeleb layout)")


def looks_like(root: str) -> bool:
    try:
        _base(root)
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False


def _methods(base: str) -> dict[str, str]:
    """file name relative to the base -> generation method, from meta_data.csv when readable."""
    path = os.path.join(base, "meta_data.csv")
    if not os.path.isfile(path):
        return {}
    try:
        meta = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        log.warning("%s unreadable (%s): sources default to the category", path, exc)
        return {}
    cols = {c.lower().strip(): c for c in meta.columns}
    name_col = next((c for c in meta.columns if meta[c].str.lower().str.endswith(".mp4").any()), None)
    if "method" not in cols or "path" not in cols or name_col is None:
        return {}
    out = {}
    for folder, name, method in zip(meta[cols["path"]], meta[name_col], meta[cols["method"]]):
        parts = folder.replace("\\", "/").split("/")
        rel = "/".join(p for p in parts if p and not p.lower().startswith("fakeavceleb")) + "/" + name
        out[rel] = method
    return out


def list_entries(root: str, include_fake_video: bool = False) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries of FakeAVCeleb (all ``eval``); speaker = the ``idNNNNN`` folder."""
    base = _base(root)
    methods = _methods(base)
    cats = CATEGORIES if include_fake_video else {c: CATEGORIES[c] for c in DEFAULT}
    entries, rejected = [], []
    for cat, label in cats.items():
        d = os.path.join(base, cat)
        if not os.path.isdir(d):
            continue
        for path in iter_audio_files(d, rejected, reason="not an audio/video file name"):
            rel = os.path.relpath(path, base).replace(os.sep, "/")
            speaker = next((p for p in rel.split("/") if p.startswith("id")), "unknown")
            source = "bonafide" if label == "real" else methods.get(rel, cat)
            entries.append(Entry(path, "eval", label, source=source, speaker=speaker))
    return entries, rejected
