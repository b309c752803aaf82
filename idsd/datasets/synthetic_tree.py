"""A synthetic stand-in for the real corpora, written in their published layouts.

:func:`make_real_corpora_tree` writes six small corpora, each in the exact folder layout its
adapter reads (docs/data_layouts.md), under one root that :func:`idsd.corpus.prepare.find_corpora`
scans::

    ROOT/for-2seconds/{training,validation,testing}/{real,fake}/*.wav          -> for-2sec
    ROOT/for-rerecorded/{training,validation,testing}/{real,fake}/*.wav        -> for-rerec
    ROOT/ASVspoof2019/LA/ASVspoof2019_LA_cm_protocols/*.txt + LA/ASVspoof2019_LA_{train,dev,eval}/flac/
                                                                               -> asvspoof2019
    ROOT/WaveFake/{generated_audio/<vocoder>/, LJSpeech-1.1/wavs/, jsut_ver1.1/basic5000/wav/}
                                                                               -> wavefake
    ROOT/release_in_the_wild/{meta.csv, 0.wav, 1.wav, ...}                     -> inthewild (eval only)
    ROOT/ASVspoof5/{ASVspoof5_protocols/*.tsv, flac_T/, flac_D/, flac_E_eval/} -> asvspoof5

ASVspoof 2019 and WaveFake sit one folder below the root (``ASVspoof2019/LA``, ``WaveFake/``)
because their adapters also accept the parent of ``LA/`` and of ``generated_audio/``: placed
directly in the root they would make the root itself pass for that one corpus.

The audio is 2.5 s at 16 kHz (one 2-s fragment per file). Bona fide files are harmonic "voiced"
signals: a wandering f0 (per speaker), harmonics shaped by three formants and limited to about
4 kHz, a syllable-rate envelope and a little breath noise. A fake is the same kind of signal plus
the artefact a classifier can learn: strong, overly periodic harmonics continued into a high
band whose centre depends on the corpus (so the corpora differ as real ones do). The
``for-rerecorded`` files of both classes go through a playback channel (short reverberation,
low-pass tilt, room noise). Everything is drawn from ``seed`` (zlib CRC keys, independent of
``PYTHONHASHSEED``): the same seed writes byte-identical files. Writing the default tree
(8 files per split and class, about 250 files) takes a few seconds.
"""

from __future__ import annotations

import csv
import os
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from idsd import SAMPLE_RATE
from idsd.datasets import wavefake
from idsd.datasets.common import hash_split

SECONDS = 2.5
"""Length of every synthetic file (one 2-s fragment; the remainder is dropped as upstream)."""

ARTEFACT_HZ = {"for-2sec": 5000.0, "for-rerec": 5500.0, "asvspoof2019": 6000.0, "wavefake": 6500.0,
               "inthewild": 5200.0, "asvspoof5": 5800.0}
"""Centre (Hz) of the fake-only high harmonic band, per corpus."""

CORPUS_DIRS = {"for-2sec": "for-2seconds", "for-rerec": "for-rerecorded", "asvspoof2019": "ASVspoof2019",
               "wavefake": "WaveFake", "inthewild": "release_in_the_wild", "asvspoof5": "ASVspoof5"}
"""Corpus name (as the adapters return it) -> folder below the tree root."""

_SPLITS = ("train", "dev", "eval")
_TABLE = 8192  # wavetable length (samples per f0 period); the highest harmonic used is below 80


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *(zlib.crc32(k.encode()) for k in keys)])


def voice(rng: np.random.Generator, f0: float, fake: bool = False, artefact_hz: float = 6000.0,
          seconds: float = SECONDS, sr: int = SAMPLE_RATE) -> np.ndarray:
    """One synthetic utterance, float32, peak 0.5.

    Parameters
    ----------
    rng : numpy.random.Generator
    f0 : float
        Mean fundamental frequency (Hz), i.e. the speaker.
    fake : bool
        Add the fake artefact: periodic harmonics in a band around ``artefact_hz``.
    artefact_hz : float
    seconds, sr : float, int
    """
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    f0_t = f0 * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 2 * np.pi))
                 + 0.03 * np.sin(2 * np.pi * rng.uniform(2, 4) * t))
    phase = 2 * np.pi * np.cumsum(f0_t) / sr
    formants = rng.uniform([500, 1200, 2400], [800, 2000, 3000])
    k_max = int(min(7800, artefact_hz + 1200) // f0)
    k = np.arange(1, k_max + 1)
    fk = k * f0
    env = sum(np.exp(-0.5 * ((fk - f) / bw) ** 2) * g for f, bw, g in zip(formants, (120, 180, 250), (1.0, 0.6, 0.3)))
    env = env + 0.25 / k  # glottal tilt
    env = np.where(fk < 4000, env, env * 0.01)  # little natural energy above 4 kHz
    if fake:
        band = np.abs(fk - artefact_hz) < 900
        env = np.where(band, env + 0.08, env)
    jitter = rng.uniform(0, 2 * np.pi, size=k.size)
    # one period of sum_k env_k sin(k theta + jitter_k) as a wavetable, read at the running phase
    spec = np.zeros(_TABLE // 2 + 1, dtype=complex)
    spec[k] = env * np.exp(1j * (jitter - np.pi / 2)) * (_TABLE / 2)
    table = np.fft.irfft(spec, n=_TABLE)
    pos = np.mod(phase / (2 * np.pi), 1.0) * _TABLE
    y = np.interp(pos, np.arange(_TABLE + 1), np.append(table, table[0]))
    rate = rng.uniform(3.0, 5.0)
    am = (0.5 * (1 + np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)))) ** 1.5
    y = y * (0.15 + am) + 0.004 * np.abs(y).max() * rng.standard_normal(n)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def _playback(y: np.ndarray, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A loudspeaker-to-microphone channel: short reverberation, low-pass tilt, room noise."""
    from scipy.signal import fftconvolve, lfilter

    taps = int(0.06 * sr)
    ir = rng.standard_normal(taps) * np.exp(-np.arange(taps) / (0.012 * sr))
    ir[0] = 4.0
    out = fftconvolve(y, ir / np.abs(ir).sum(), mode="full")[: len(y)]
    out = lfilter([0.6], [1, -0.4], out)
    out = out + 0.003 * rng.standard_normal(len(out))
    return (0.5 * out / np.max(np.abs(out))).astype(np.float32)


class _Writer:
    def __init__(self, seed: int, corpus: str):
        self.seed, self.corpus, self.n = seed, corpus, 0

    def clip(self, path: Path, label: str, speaker_f0: float, key: str, channel: bool = False) -> Path:
        rng = _rng(self.seed, self.corpus, key, label)
        y = voice(rng, speaker_f0, fake=label == "fake", artefact_hz=ARTEFACT_HZ[self.corpus])
        if channel:
            y = _playback(y, rng)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y, SAMPLE_RATE, subtype="PCM_16")
        self.n += 1
        return path


def _f0(seed: int, corpus: str, speaker: str) -> float:
    return float(_rng(seed, corpus, "speaker", speaker).uniform(95, 230))


def _for(root: Path, name: str, n: int, seed: int, channel: bool) -> None:
    w = _Writer(seed, name)
    folders = {"train": "training", "dev": "testing", "eval": "validation"}  # FoR convention
    for split, folder in folders.items():
        for label in ("real", "fake"):
            for i in range(n):
                spk = f"spk{i % 4}"
                w.clip(root / folder / label / f"file{i}_{split}.wav", label, _f0(seed, name, spk),
                       f"{split}/{i}", channel)


def _asvspoof2019(root: Path, n: int, seed: int) -> None:
    la = root / "LA"
    proto = la / "ASVspoof2019_LA_cm_protocols"
    proto.mkdir(parents=True, exist_ok=True)
    w = _Writer(seed, "asvspoof2019")
    kinds = {"train": ("T", "trn", ("A01", "A02", "A03", "A04", "A05", "A06")),
             "dev": ("D", "trl", ("A01", "A02", "A03", "A04", "A05", "A06")),
             "eval": ("E", "trl", ("A07", "A08", "A09", "A10", "A11", "A12", "A13"))}
    for s, (split, (letter, kind, attacks)) in enumerate(kinds.items()):
        lines = []
        for label in ("real", "fake"):
            for i in range(n):
                spk = f"LA_{79 + 10 * s + i % 3:04d}"
                utt = f"LA_{letter}_{1000000 + 2 * i + (label == 'fake'):07d}"
                w.clip(la / f"ASVspoof2019_LA_{split}" / "flac" / f"{utt}.flac", label,
                       _f0(seed, "asvspoof2019", spk), utt)
                attack = "-" if label == "real" else attacks[i % len(attacks)]
                lines.append(f"{spk} {utt} - {attack} {'bonafide' if label == 'real' else 'spoof'}\n")
        (proto / f"ASVspoof2019.LA.cm.{split}.{kind}.txt").write_text("".join(lines))


def _ids_by_split(prefix: str, fmt: str, n: int) -> dict[str, list[str]]:
    """``n`` utterance ids per split, chosen so that WaveFake's hash rule puts them there."""
    out: dict[str, list[str]] = {s: [] for s in _SPLITS}
    i = 1
    while any(len(v) < n for v in out.values()):
        utt = prefix + fmt.format(i)
        split = hash_split(utt, wavefake.FRACTIONS, "wavefake")
        if len(out[split]) < n:
            out[split].append(utt)
        i += 1
    return out


def _wavefake(root: Path, n: int, seed: int) -> None:
    w = _Writer(seed, "wavefake")
    n_jsut = max(1, n // 4)
    lj = _ids_by_split("LJ001-", "{:04d}", n - n_jsut if n > 1 else 1)
    js = _ids_by_split("BASIC5000_", "{:04d}", n_jsut if n > 1 else 0) if n > 1 else {s: [] for s in _SPLITS}
    vocoders = ("ljspeech_melgan", "ljspeech_hifiGAN")
    for split in _SPLITS:
        for i, utt in enumerate(lj[split]):
            f0 = _f0(seed, "wavefake", "LJ")
            w.clip(root / "LJSpeech-1.1" / "wavs" / f"{utt}.wav", "real", f0, utt)
            w.clip(root / "generated_audio" / vocoders[i % 2] / f"{utt}_gen.wav", "fake", f0, utt)
        for utt in js[split]:
            f0 = _f0(seed, "wavefake", "jsut")
            w.clip(root / "jsut_ver1.1" / "basic5000" / "wav" / f"{utt}.wav", "real", f0, utt)
            w.clip(root / "generated_audio" / "jsut_parallel_wavegan" / f"{utt}_gen.wav", "fake", f0, utt)
    (root / "jsut_ver1.1" / "basic5000" / "wav").mkdir(parents=True, exist_ok=True)


def _inthewild(root: Path, n: int, seed: int) -> None:
    w = _Writer(seed, "inthewild")
    speakers = ("Alec Guinness", "Barack Obama", "Angela Merkel", "Donald Trump")
    rows = []
    k = 0
    for label in ("real", "fake"):
        for i in range(n):
            spk = speakers[i % len(speakers)]
            w.clip(root / f"{k}.wav", label, _f0(seed, "inthewild", spk), str(k))
            rows.append((f"{k}.wav", spk, "bona-fide" if label == "real" else "spoof"))
            k += 1
    with open(root / "meta.csv", "w", newline="", encoding="utf-8") as fh:
        wr = csv.writer(fh)
        wr.writerow(("file", "speaker", "label"))
        wr.writerows(rows)


def _asvspoof5(root: Path, n: int, seed: int) -> None:
    w = _Writer(seed, "asvspoof5")
    proto = root / "ASVspoof5_protocols"
    proto.mkdir(parents=True, exist_ok=True)
    plan = {"train": ("T", "flac_T", "ASVspoof5.train.tsv", ("A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08")),
            "dev": ("D", "flac_D", "ASVspoof5.dev.track_1.tsv", ("A09", "A10", "A11", "A12", "A13", "A14", "A15", "A16")),
            "eval": ("E", "flac_E_eval", "ASVspoof5.eval.track_1.tsv", ("A17", "A18", "A19", "A20", "A21", "A22",
                                                                         "A23", "A24", "A25", "A26", "A27", "A28"))}
    for s, (split, (letter, folder, pname, attacks)) in enumerate(plan.items()):
        lines = []
        for label in ("real", "fake"):
            for i in range(n):
                spk = f"{letter}_{4850 + 100 * s + i % 3:04d}"
                utt = f"{letter}_{2 * i + (label == 'fake'):010d}"
                w.clip(root / folder / f"{utt}.flac", label, _f0(seed, "asvspoof5", spk), utt)
                codec = ("-", "-", "-") if split != "eval" or i % 2 == 0 else (f"C{1 + i % 11:02d}", "3", f"E_{i:07d}")
                tag, attack = ("bonafide", "bonafide") if label == "real" else (f"AC{1 + i % 3}", attacks[i % len(attacks)])
                key = "bonafide" if label == "real" else "spoof"
                gender = "F" if i % 2 else "M"
                lines.append(" ".join((spk, utt, gender, *codec, tag, attack, key, "-")) + "\n")
        (proto / pname).write_text("".join(lines))


def make_real_corpora_tree(root: str | os.PathLike, files_per_class: int = 8, seed: int = 0) -> dict[str, Path]:
    """Write the six synthetic corpora in their published layouts under ``root``.

    Parameters
    ----------
    root : str or PathLike
        Created if missing; the corpus folders of :data:`CORPUS_DIRS` are written inside (files
        already there with the same names are overwritten).
    files_per_class : int
        Files per split and class (In-the-Wild, evaluation-only: per class). WaveFake's reals
        are split between LJSpeech and JSUT (a quarter JSUT) and each real has one vocoded copy.
    seed : int
        Every signal is drawn from it; the same seed writes identical files.

    Returns
    -------
    dict
        Corpus name as the adapters return it (``for-2sec``, ``for-rerec``, ``asvspoof2019``,
        ``wavefake``, ``inthewild``, ``asvspoof5``) -> its folder.

    Raises
    ------
    ValueError
        ``files_per_class`` below 1.
    """
    n = int(files_per_class)
    if n < 1:
        raise ValueError(f"files_per_class must be at least 1, got {files_per_class!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out = {name: root / d for name, d in CORPUS_DIRS.items()}
    _for(out["for-2sec"], "for-2sec", n, seed, channel=False)
    _for(out["for-rerec"], "for-rerec", n, seed, channel=True)
    _asvspoof2019(out["asvspoof2019"], n, seed)
    _wavefake(out["wavefake"], n, seed)
    _inthewild(out["inthewild"], n, seed)
    _asvspoof5(out["asvspoof5"], n, seed)
    return out
