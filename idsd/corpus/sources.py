"""Real speech of the embedded suite: the Asterisk IVR prompts (Debian, CC-BY-SA-3.0).

Audio: ``asterisk-core-sounds-{en,es,fr,it,ru}-g722`` (16 kHz wideband G.722, decoded with the
PyPI ``G722`` package). Transcripts: the base packages ``asterisk-core-sounds-{en,es,fr,it,ru}``
(``/usr/share/doc/asterisk-core-sounds-XX/core-sounds-XX.txt.gz``, lines ``key: text``).
Sound recordings by Allison Smith, June Wallack, Carlo and IvrvoiceRU for Digium / Sangoma.
``IDSD_ASTERISK_SOUNDS`` and ``IDSD_ASTERISK_DOC`` override the two Debian folders.
"""

from __future__ import annotations

import gzip
import logging
import os
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

VOICES = {  # lang -> (sound folder, speaker id)
    "en": ("en_US_f_Allison", "allison"),
    "es": ("es_MX_f_Allison", "allison"),
    "fr": ("fr_CA_f_June", "june"),
    "it": ("it_IT_m_Carlo", "carlo"),
    "ru": ("ru_RU_f_IvrvoiceRU", "ivrvoiceru"),
}
LANGS = tuple(VOICES)


def sounds_dir() -> str:
    return os.environ.get("IDSD_ASTERISK_SOUNDS", "/usr/share/asterisk/sounds")


def doc_dir() -> str:
    return os.environ.get("IDSD_ASTERISK_DOC", "/usr/share/doc")


@dataclass(frozen=True)
class Prompt:
    """One recorded prompt with its transcript."""

    lang: str
    key: str  # e.g. "agent-pass" or "digits/5"
    text: str
    path: str  # .g722 file
    speaker: str

    @property
    def uid(self) -> str:
        return f"{self.lang}:{self.key}"


def transcripts(lang: str) -> dict[str, str]:
    """``key -> text`` for one language (tones ``[...]`` and ``silence/`` keys skipped)."""
    path = os.path.join(doc_dir(), f"asterisk-core-sounds-{lang}", f"core-sounds-{lang}.txt.gz")
    if not os.path.isfile(path):
        return {}
    out = {}
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if ":" not in line or line.startswith(";"):
                continue
            key, text = (s.strip() for s in line.split(":", 1))
            if text.startswith(key + ":"):  # one Russian line repeats its key
                text = text.split(":", 1)[1].strip()
            if key and text and "[" not in text and not key.startswith("silence/"):
                out[key] = text
    return out


def list_prompts(langs=LANGS) -> list[Prompt]:
    """Every prompt that has both a G.722 recording and a transcript, sorted by language and key."""
    prompts = []
    for lang in langs:
        folder, speaker = VOICES[lang]
        base = os.path.join(sounds_dir(), folder)
        texts = transcripts(lang)
        if not texts or not os.path.isdir(base):
            log.warning("language %s unavailable (install asterisk-core-sounds-%s and -%s-g722)", lang, lang, lang)
            continue
        for key, text in sorted(texts.items()):
            path = os.path.join(base, key + ".g722")
            if os.path.isfile(path):
                prompts.append(Prompt(lang, key, text, path, speaker))
    return prompts


def available_languages() -> list[str]:
    """Languages whose recordings and transcripts are installed."""
    return [lang for lang in LANGS
            if transcripts(lang) and os.path.isdir(os.path.join(sounds_dir(), VOICES[lang][0]))]


def decode_g722(path: str) -> np.ndarray:
    """Decode a raw G.722 (64 kbit/s) file to 16 kHz float32, shape (n,)."""
    import G722

    with open(path, "rb") as fh:
        data = fh.read()
    return np.asarray(G722.G722(16000, 64000).decode(data), dtype=np.float32) / 32768.0
