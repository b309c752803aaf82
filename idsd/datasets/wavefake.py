"""WaveFake adapter: vocoded fakes plus LJSpeech and JSUT as the real class.

Published layout (one root holding the three downloads)::

    generated_audio/<source>/LJ001-0001_gen.wav     e.g. ljspeech_melgan, ljspeech_hifiGAN,
                                                    jsut_multi_band_melgan, jsut_parallel_wavegan
    LJSpeech-1.1/wavs/LJ001-0001.wav  (+ metadata.csv)
    jsut_ver1.1/basic5000/wav/BASIC5000_0001.wav

Upstream splits every source 70/30 and the 30 again 2:1 (train 70 / eval 20 / dev 10) with an
unseeded ``train_test_split``. Here the split is a hash of the utterance id (``LJ001-0001``), so
it is reproducible and the real clip and all its vocoded versions share a split (no leakage).
"""

from __future__ import annotations

import os
import re

from idsd.audio import iter_audio_files
from idsd.datasets.common import Entry, hash_split

FRACTIONS = (0.7, 0.1, 0.2)


def _find_dir(root: str, names: tuple[str, ...], depth: int = 2) -> str | None:
    base_depth = os.path.normpath(root).count(os.sep)
    for dirpath, dirnames, _ in os.walk(root):
        if dirpath.count(os.sep) - base_depth >= depth:
            dirnames[:] = []
        for d in sorted(dirnames):
            if d.lower() in names or any(d.lower().startswith(n) for n in names if n.endswith("_")):
                return os.path.join(dirpath, d)
    return None


def looks_like(root: str) -> bool:
    return os.path.isdir(os.path.join(root, "generated_audio"))


def utterance_id(path: str) -> str:
    """``LJ001-0001_gen.wav`` / ``LJ001-0001.wav`` -> ``LJ001-0001`` (the split key)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"(_gen|_generated)$", "", stem)


def _speaker(source: str, utt: str) -> str:
    return "jsut" if source.startswith("jsut") or utt.upper().startswith("BASIC") else "LJ"


def list_entries(root: str) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries of WaveFake with LJSpeech / JSUT reals found under ``root``."""
    gen = os.path.join(root, "generated_audio")
    if not os.path.isdir(gen):
        raise FileNotFoundError(f"{root}: no generated_audio/ folder (WaveFake layout)")
    entries, rejected = [], []
    for source in sorted(os.listdir(gen)):
        d = os.path.join(gen, source)
        if not os.path.isdir(d):
            continue
        for path in iter_audio_files(d, rejected):
            utt = utterance_id(path)
            entries.append(Entry(path, hash_split(utt, FRACTIONS, "wavefake"), "fake", source=source,
                                 speaker=_speaker(source, utt)))
    reals = {"ljspeech": _find_dir(root, ("ljspeech-1.1", "ljspeech")),
             "jsut": _find_dir(root, ("jsut_ver1.1", "jsut"))}
    for name, d in reals.items():
        if d is None:
            rejected.append((os.path.join(root, name), "real corpus folder not found (fake-only WaveFake)"))
            continue
        for path in iter_audio_files(d, rejected, extensions={".wav"}, reason="not a .wav file (real corpus folder)"):
            if name == "jsut" and f"{os.sep}basic5000{os.sep}" not in path.lower():
                rejected.append((path, "JSUT outside basic5000 (upstream uses basic5000 only)"))
                continue
            utt = utterance_id(path)
            entries.append(Entry(path, hash_split(utt, FRACTIONS, "wavefake"), "real", source="bonafide",
                                 speaker="jsut" if name == "jsut" else "LJ"))
    return entries, rejected
