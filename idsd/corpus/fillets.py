"""Second real source of the embedded suite: the Czech voice cast of the game Fish Fillets NG.

Debian packages ``fillets-ng-data-cs`` (audio: ``<root>/sound/<level>/cs/<line id>.ogg``, Ogg
Vorbis, 22.05 or 44.1 kHz) and ``fillets-ng-data`` (transcripts: ``<root>/script/<level>/
dialogs_cs.lua`` and, for the briefcase intro, ``brief_dialogs_cs.lua``, entries
``dialogId("<line id>", "<font>", "<English text>")`` followed by ``dialogStr("<Czech text>")``).
Licence: GPL-2+ (Fish Fillets NG data, Altar Interactive / the Fish Fillets NG project); the audio
is read from the installed package and never redistributed. ``IDSD_FILLETS_ROOT`` overrides
``/usr/share/games/fillets-ng``.

The font field names the role: ``font_small`` and ``font_big`` are the two fish (most lines), the
others are the game's many side characters; the speaker id is ``cs-<role>`` (``cs-small``,
``cs-big``, ``cs-statue``, ...). A sound file is used when its name is exactly a line id of the
same level with a non-empty Czech text (a handful of files have no transcript and are skipped,
as are the shared shouts under ``sound/share``). Byte-identical files (content hash) and repeated
texts (case and punctuation folded) are kept once, the first in (level, line id) order, so the
same clip or sentence cannot land in two splits.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import io
import logging
import os
import re
import unicodedata

import numpy as np
import soundfile as sf
import soxr

from idsd.corpus.sources import Prompt

log = logging.getLogger(__name__)

LANG = "cs"
KEY_PREFIX = "fillets/"
VORBIS_RATE = 22050  # the rate of most of the game's recordings
_ENTRY = re.compile(r'dialogId\(\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*,\s*"(?:[^"\\]|\\.)*"\s*\)'
                    r'\s*dialogStr\(\s*"((?:[^"\\]|\\.)*)"\s*\)', re.S)


def root_dir() -> str:
    return os.environ.get("IDSD_FILLETS_ROOT", "/usr/share/games/fillets-ng")


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def parse_dialogs(text: str) -> dict[str, tuple[str, str]]:
    """``line id -> (font, Czech text)`` from the text of a ``dialogs_cs.lua`` file.

    Entries without a ``dialogStr`` (sound effects) are ignored; escaped quotes are unescaped.

    Examples
    --------
    >>> parse_dialogs('dialogId("a-1", "font_big", "Hi \\\\"x\\\\"")\\ndialogStr("Ahoj \\\\"x\\\\"")')
    {'a-1': ('font_big', 'Ahoj "x"')}
    """
    return {_unescape(i): (_unescape(font), _unescape(cs).strip()) for i, font, cs in _ENTRY.findall(text)}


def transcripts(root: str | None = None) -> dict[tuple[str, str], tuple[str, str]]:
    """``(level, line id) -> (font, Czech text)`` over every level's Czech dialogue scripts."""
    root = root or root_dir()
    out: dict[tuple[str, str], tuple[str, str]] = {}
    files = sorted(glob.glob(os.path.join(root, "script", "*", "dialogs_cs.lua")) +
                   glob.glob(os.path.join(root, "script", "*", "brief_dialogs_cs.lua")))
    for path in files:
        level = os.path.basename(os.path.dirname(path))
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line_id, entry in parse_dialogs(fh.read()).items():
                out.setdefault((level, line_id), entry)
    return out


def speaker_of(font: str) -> str:
    """``font_small`` -> ``cs-small``; an empty font -> ``cs-unknown``."""
    role = font[5:] if font.startswith("font_") else font
    return f"cs-{_safe_role(role) or 'unknown'}"


def _safe_role(s: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in s).strip("-")


def _text_key(text: str) -> str:
    t = unicodedata.normalize("NFC", text).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", t).split())


@functools.lru_cache(maxsize=4)
def _list(root: str) -> tuple[Prompt, ...]:
    texts = transcripts(root)
    seen_hash: set[str] = set()
    seen_text: set[str] = set()
    out = []
    n_files = n_untranscribed = n_dup_file = n_dup_text = 0
    for path in sorted(glob.glob(os.path.join(root, "sound", "*", LANG, "*.ogg"))):
        n_files += 1
        level = os.path.basename(os.path.dirname(os.path.dirname(path)))
        line_id = os.path.basename(path)[:-4]
        entry = texts.get((level, line_id))
        if entry is None or not _text_key(entry[1]):
            n_untranscribed += 1
            continue
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        tkey = _text_key(entry[1])
        if digest in seen_hash:
            n_dup_file += 1
            continue
        if tkey in seen_text:
            n_dup_text += 1
            continue
        seen_hash.add(digest)
        seen_text.add(tkey)
        out.append(Prompt(LANG, f"{KEY_PREFIX}{level}/{line_id}", entry[1], path, speaker_of(entry[0])))
    log.info("fillets: %d Czech files, %d without transcript, %d duplicate files, %d duplicate texts, %d kept",
             n_files, n_untranscribed, n_dup_file, n_dup_text, len(out))
    return tuple(out)


def list_prompts(root: str | None = None) -> list[Prompt]:
    """Every usable Czech line (deduplicated), sorted by level and line id; key ``fillets/<level>/<id>``."""
    return list(_list(os.path.abspath(root or root_dir())))


def available(root: str | None = None) -> bool:
    root = root or root_dir()
    return bool(glob.glob(os.path.join(root, "sound", "*", LANG, "*.ogg"))) and bool(
        glob.glob(os.path.join(root, "script", "*", "dialogs_cs.lua")))


def decode(path: str) -> tuple[np.ndarray, int]:
    """Decode one Ogg Vorbis file with soundfile (downmixed). Returns (y (n,), sr)."""
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    return y.mean(axis=1).astype(np.float32), int(sr)


def vorbis_roundtrip(y: np.ndarray, sr: int = 16000, quality: float = 0.6) -> np.ndarray:
    """Ogg Vorbis encode + decode at :data:`VORBIS_RATE` (the Czech reals' own codec), in memory.

    Used on every Czech fake so that the codec is no cue. ``quality`` is libsndfile's
    compression level (0 = best, 1 = smallest); 0.6 gives ~55 kbit/s at 22.05 kHz, the median of
    the game's files.

    Returns
    -------
    numpy.ndarray, shape (n,), float32, at ``sr``
    """
    y = np.asarray(y, dtype=np.float32)
    z = soxr.resample(y, sr, VORBIS_RATE, quality="HQ") if sr != VORBIS_RATE else y
    buf = io.BytesIO()
    sf.write(buf, np.clip(z, -1, 1), VORBIS_RATE, format="OGG", subtype="VORBIS", compression_level=quality)
    buf.seek(0)
    w, _ = sf.read(buf, dtype="float32")
    w = soxr.resample(w, VORBIS_RATE, sr, quality="HQ") if sr != VORBIS_RATE else w
    w = np.asarray(w, dtype=np.float32)
    return w[: len(y)] if len(w) >= len(y) else np.pad(w, (0, len(y) - len(w)))
