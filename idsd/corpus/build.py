"""Build the embedded offline corpus suite: four corpora that mirror the paper's training sets.

``build_suite(out_dir, preset)`` writes, in the FoR layout (``{training,testing,validation}/
{real,fake}/*.wav`` + ``metadata.csv``; training -> train, testing -> dev, validation -> eval):

``mini-for``
    Asterisk prompts (real) vs TTS of the same transcripts (espeak-ng variants, flite, festival,
    piper), the espeak share capped; balanced per prompt (as FoR for-2sec).
``mini-rerec``
    The ``mini-for`` clips, both classes passed through a simulated loudspeaker-room-microphone
    channel (as FoR for-rerec).
``mini-wavefake``
    Real windows vs their vocoder resynthesis: WORLD, Griffin-Lim, LPC (as WaveFake).
``mini-asvspoof``
    Bona fide minority (~15 %) vs TTS attacks A01-A04 and voice-conversion-style attacks
    A05-A07 (as ASVspoof 2019 LA).

Splits are sentence-disjoint: a prompt key (the same key in every language) belongs to one split
in every corpus. Both classes share the resampling chain (through 22.05 kHz), a G.722 round trip,
the loudness normalisation (-23 dBFS +- 6 dB) and the noise floor (35-50 dB SNR). Everything is
deterministic for a given seed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from idsd import CLIP_SAMPLES, __version__
from idsd.audio import write_audio
from idsd.corpus import dsp, tts, vocoders
from idsd.corpus.sources import LANGS, Prompt, available_languages, decode_g722, list_prompts
from idsd.progress import tqdm

log = logging.getLogger(__name__)

CORPORA = ("mini-for", "mini-rerec", "mini-wavefake", "mini-asvspoof")
PAPER_NAMES = {"mini-for": "F2S", "mini-rerec": "FREC", "mini-wavefake": "WF", "mini-asvspoof": "AS19"}
SPLIT_DIRS = {"train": "training", "dev": "testing", "eval": "validation"}
METADATA_COLUMNS = ("path", "split", "label", "source", "speaker", "lang", "prompt", "text", "window")
ASV_ATTACKS = {"piper": "A01", "festival": "A02", "flite": "A03", "espeak": "A04", "world-vc-up": "A05",
               "world-vc-down": "A06", "pitch-shift": "A07"}
SUITE_FILE = "suite.json"


@dataclass(frozen=True)
class Preset:
    """Size knobs of a suite build.

    Attributes
    ----------
    langs : languages of the real prompts used.
    prompts_per_lang : usable prompts (>= 2 s after trimming) drawn per language (None: all).
    max_windows : 2-s windows per prompt.
    n_for : prompts in ``mini-for`` (and so in ``mini-rerec``).
    n_wavefake : real windows vocoded in ``mini-wavefake``.
    n_asvspoof : prompts in ``mini-asvspoof``.
    bonafide_share : share of ``mini-asvspoof`` prompts kept bona fide.
    espeak_cap : largest share of espeak-ng among the ``mini-for`` fakes.
    gl_iter : Griffin-Lim iterations.
    split : fractions of prompt keys in train / dev / eval.
    """

    name: str
    langs: tuple[str, ...] = LANGS
    prompts_per_lang: int | None = None
    max_windows: int = 1
    n_for: int = 500
    n_wavefake: int = 500
    n_asvspoof: int = 900
    bonafide_share: float = 0.15
    espeak_cap: float = 0.35
    gl_iter: int = 32
    split: tuple[float, float, float] = (0.7, 0.15, 0.15)


PRESETS = {
    "tiny": Preset("tiny", langs=("en", "it"), prompts_per_lang=16, n_for=20, n_wavefake=16, n_asvspoof=24,
                   bonafide_share=0.2, espeak_cap=0.5, gl_iter=4),
    "default": Preset("default"),
    "large": Preset("large", max_windows=2, n_for=100000, n_wavefake=100000, n_asvspoof=100000),
}
"""``tiny`` builds in seconds (tests, quick mode); ``default`` is sized for the 45-minute CPU
study; ``large`` uses every usable prompt and up to two windows per prompt."""


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([int(seed)] + [zlib.crc32(str(k).encode()) for k in keys])


def _frac(seed: int, *keys: str) -> float:
    return float(_rng(seed, *keys).random())


def _safe(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in s)


@dataclass
class _Utt:
    prompt: Prompt
    real: np.ndarray  # trimmed real utterance, 16 kHz
    split: str
    voice: tts.Voice | None = None
    fake: np.ndarray | None = None  # trimmed TTS utterance after the common chain


class _Writer:
    """Writes one corpus in the FoR layout and collects its metadata rows.

    Clips are held until :meth:`close`, which first equalises every fake source (TTS voice,
    vocoder, attack) towards the long-term spectrum of the real clips of the same language
    (a smoothed curve, at most +-15 dB, one curve per source and language: the attacker's
    channel matching), then applies :func:`dsp.finish` to both classes alike and writes.
    """

    def __init__(self, root: Path, name: str, seed: int, match: bool = True):
        self.root, self.name, self.seed, self.match = root / name, name, seed, match
        self.rows: list[dict] = []
        self.clips: list[np.ndarray] = []
        if self.root.exists():
            shutil.rmtree(self.root)

    def add(self, y: np.ndarray, split: str, label: str, source: str, speaker: str, p: Prompt, window: int) -> None:
        rel = f"{SPLIT_DIRS[split]}/{label}/{p.lang}_{_safe(p.key)}__{_safe(source)}__w{window}.wav"
        self.clips.append(np.asarray(y, dtype=np.float32))
        self.rows.append(dict(path=rel, split=split, label=label, source=source, speaker=speaker, lang=p.lang,
                              prompt=p.key, text=p.text, window=window))

    def _curves(self) -> dict[tuple[str, str], np.ndarray]:
        """(source, lang) -> gain curve, estimated on the training split only."""
        spectra = [dsp.long_term_spectrum(y) if r["split"] == "train" else None for y, r in zip(self.clips, self.rows)]
        groups: dict[tuple[str, str], list[np.ndarray]] = {}
        for s, r in zip(spectra, self.rows):
            if s is not None:
                groups.setdefault(("real" if r["label"] == "real" else r["source"], r["lang"]), []).append(s)
        real_all = [s for (src, _), ss in groups.items() if src == "real" for s in ss]
        if not real_all:
            return {}
        curves, by_source = {}, {}
        for (src, lang), ss in groups.items():
            if src == "real":
                continue
            target = np.mean(groups.get(("real", lang), real_all), axis=0)
            curves[(src, lang)] = dsp.matching_curve(target, np.mean(ss, axis=0))
            by_source.setdefault(src, []).append(curves[(src, lang)])
        for r in self.rows:  # a source/language pair absent from training: the source's mean curve
            key = (r["source"], r["lang"])
            if r["label"] == "fake" and key not in curves and r["source"] in by_source:
                curves[key] = np.mean(by_source[r["source"]], axis=0)
        return curves

    def close(self) -> Path:
        curves = self._curves() if self.match else {}
        for y, r in zip(self.clips, self.rows):
            if r["label"] == "fake" and (r["source"], r["lang"]) in curves:
                y = dsp.apply_curve(y, curves[(r["source"], r["lang"])])
            write_audio(self.root / r["path"], dsp.finish(y, _rng(self.seed, self.name, r["path"], "finish")))
        self.clips = []
        meta = pd.DataFrame(self.rows, columns=list(METADATA_COLUMNS))
        self.root.mkdir(parents=True, exist_ok=True)
        meta.to_csv(self.root / "metadata.csv", index=False)
        return self.root


def _split_keys(keys: list[str], seed: int, fractions) -> dict[str, str]:
    """Rank-based split of prompt keys (exact proportions, every split non-empty when possible)."""
    order = sorted(set(keys), key=lambda k: _frac(seed, "split", k))
    n = len(order)
    n_train = int(round(fractions[0] * n))
    n_dev = max(1, int(round(fractions[1] * n))) if n >= 3 else 0
    n_train = min(n_train, n - n_dev - (1 if n >= 3 else 0))
    out = {}
    for i, k in enumerate(order):
        out[k] = "train" if i < n_train else ("dev" if i < n_train + n_dev else "eval")
    return out


def _load_reals(preset: Preset, seed: int, progress: bool) -> list[_Utt]:
    langs = [lang for lang in preset.langs if lang in available_languages()]
    if not langs:
        raise RuntimeError("no Asterisk prompts found: install asterisk-core-sounds-{en,es,fr,it,ru} and their "
                           "-g722 variants (Debian), see README")
    utts: list[tuple[Prompt, np.ndarray]] = []
    prompts = list_prompts(langs)
    by_lang: dict[str, list[Prompt]] = {}
    for p in prompts:
        by_lang.setdefault(p.lang, []).append(p)
    bar = tqdm(total=len(prompts) if preset.prompts_per_lang is None else preset.prompts_per_lang * len(by_lang),
               desc="real prompts", disable=not progress, unit="prompt")
    for ps in by_lang.values():
        ps = sorted(ps, key=lambda p: _frac(seed, "order", p.uid))
        kept = 0
        for p in ps:
            if preset.prompts_per_lang is not None and kept >= preset.prompts_per_lang:
                break
            if preset.prompts_per_lang is None:
                bar.update(1)
            y = dsp.trim(dsp.to_16k(decode_g722(p.path), 16000))  # same chain as the fakes
            if len(y) >= CLIP_SAMPLES:
                utts.append((p, y))
                kept += 1
                if preset.prompts_per_lang is not None:
                    bar.update(1)
    bar.close()
    split = _split_keys([p.key for p, _ in utts], seed, preset.split)
    return [_Utt(p, y, split[p.key]) for p, y in utts]


def _assign_voices(utts: list[_Utt], seed: int, avail: dict[str, list[tts.Voice]]) -> None:
    """Round robin over each language's voices: non-espeak engines weighted up, espeak variants
    rotated so that one language uses several."""
    by_lang: dict[str, list[_Utt]] = {}
    for u in utts:
        by_lang.setdefault(u.prompt.lang, []).append(u)
    for lang, us in by_lang.items():
        voices = avail.get(lang, [])
        if not voices:
            continue
        others = [v for v in voices if v.engine != "espeak"]
        esp = [v for v in voices if v.engine == "espeak"]
        wheel = others + [v for v in others if v.engine == "piper"]  # piper (neural) twice
        n_esp = max(1, len(wheel) // 4) if wheel else 1
        us = sorted(us, key=lambda u: _frac(seed, "voice", u.prompt.uid))
        for i, u in enumerate(us):
            slot = i % (len(wheel) + n_esp)
            u.voice = wheel[slot] if slot < len(wheel) else esp[(i // (len(wheel) + n_esp)) % len(esp)] if esp else None
            if u.voice is None and wheel:
                u.voice = wheel[i % len(wheel)]


def _synthesize(utts: list[_Utt], seed: int, progress: bool) -> None:
    """Run every engine once over its utterances (festival batched per voice), then the common chain."""
    jobs: dict[tts.Voice, list[_Utt]] = {}
    for u in utts:
        if u.voice is not None and u.fake is None:
            jobs.setdefault(u.voice, []).append(u)
    piper = None
    bar = tqdm(total=sum(len(v) for v in jobs.values()), desc="tts", disable=not progress, unit="utt")
    for voice, us in sorted(jobs.items(), key=lambda kv: kv[0].id):
        outs: list = []
        try:
            if voice.engine == "festival":
                outs = tts.festival_batch(voice.name, [u.prompt.text for u in us])
            else:
                for u in us:
                    r = _rng(seed, "tts", u.prompt.uid)
                    if voice.engine == "espeak":
                        outs.append(tts.espeak(voice.name, u.prompt.text, rate=int(r.integers(140, 191)),
                                               pitch=int(r.integers(35, 66))))
                    elif voice.engine == "flite":
                        outs.append(tts.flite(voice.name, u.prompt.text))
                    elif voice.engine == "piper":
                        piper = piper or tts.Piper()
                        outs.append(piper(u.prompt.text, length_scale=float(r.uniform(0.9, 1.25))))
        except (OSError, RuntimeError, ValueError) as exc:  # an engine that fails drops its items only
            log.warning("%s failed (%s): %d utterances without a fake", voice.id, exc, len(us))
            outs = [None] * len(us)
        for u, out in zip(us, outs):
            if out is not None and len(out[0]):
                u.fake = dsp.trim(dsp.to_16k(*out))
            bar.update(1)
    bar.close()


def _take(items: list, n: int, seed: int, tag: str) -> list:
    """A seeded sample of ``n`` items, stratified by split (each non-empty split keeps at least one)."""
    by_split: dict[str, list] = {}
    for u in sorted(items, key=lambda u: _frac(seed, tag, u.prompt.uid)):
        by_split.setdefault(u.split, []).append(u)
    total = max(1, len(items))
    out = []
    for us in by_split.values():
        out += us[: max(1, int(round(n * len(us) / total)))]
    return out


def _roles(items: list, share: float, seed: int) -> dict[str, str]:
    """mini-asvspoof roles per prompt: ``bona`` (``share`` of each split, at least one), then
    ``tts`` and ``vc`` alternating in a seeded order (``tts`` only where a voice exists; only one
    in three espeak-ng prompts stays ``tts``, so espeak does not dominate the TTS attacks)."""
    roles = {}
    by_split: dict[str, list] = {}
    for u in sorted(items, key=lambda u: _frac(seed, "role", u.prompt.uid)):
        by_split.setdefault(u.split, []).append(u)
    for us in by_split.values():
        n_bona = max(1, int(round(share * len(us))))
        n_esp = 0
        for i, u in enumerate(us):
            role = "bona" if i < n_bona else ("tts" if (i - n_bona) % 2 == 0 and u.voice else "vc")
            if role == "tts" and u.voice.engine == "espeak":  # cap espeak-only languages' TTS attacks
                n_esp += 1
                role = "tts" if n_esp % 3 == 1 else "vc"
            roles[u.prompt.uid] = role
    return roles


def _espeak_capped(utts: list[_Utt], cap: float, seed: int) -> list[_Utt]:
    """Drop espeak items (last in a seeded order) until espeak is at most ``cap`` of the items."""
    esp = sorted([u for u in utts if u.voice.engine == "espeak"], key=lambda u: _frac(seed, "cap", u.prompt.uid))
    other = [u for u in utts if u.voice.engine != "espeak"]
    keep = int(cap / (1 - cap) * len(other)) if cap < 1 else len(esp)
    return other + esp[:keep]


def build_suite(out_dir: str | os.PathLike, preset: str | Preset = "tiny", seed: int = 0, progress: bool = True,
                force: bool = False, corpora=CORPORA) -> dict[str, Path]:
    """Build (or reuse) the embedded corpus suite.

    Parameters
    ----------
    out_dir : str or PathLike
        Receives one folder per corpus plus ``suite.json`` (parameters, counts, timings).
    preset : str or Preset
        ``tiny`` (seconds; tests), ``default`` (the CPU study), ``large``; see :data:`PRESETS`.
    seed : int
        Every random choice derives from it; the same seed rebuilds the same files.
    progress : bool
    force : bool
        Rebuild even when ``suite.json`` says the same preset and seed were built already.
    corpora : iterable of str
        Subset of :data:`CORPORA` to write.

    Returns
    -------
    dict
        corpus name -> FoR-layout root.
    """
    p = PRESETS[preset] if isinstance(preset, str) else preset
    out = Path(out_dir)
    corpora = tuple(c for c in CORPORA if c in set(corpora))
    stamp = out / SUITE_FILE
    params = dict(preset=asdict(p), seed=seed, corpora=list(corpora), version=__version__)
    if not force and stamp.is_file():
        old = json.loads(stamp.read_text())
        if old.get("params") == json.loads(json.dumps(params)) and all(
                (out / c / "metadata.csv").is_file() for c in corpora):
            log.info("embedded suite %s already built in %s (force=True rebuilds)", p.name, out)
            return {c: out / c for c in corpora}
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    out.mkdir(parents=True, exist_ok=True)
    utts = _load_reals(p, seed, progress)
    timings["reals"] = time.perf_counter() - t0
    avail = {lang: tts.voices_for(lang) for lang in p.langs}
    _assign_voices(utts, seed, avail)
    with_voice = [u for u in utts if u.voice is not None]
    for_pool = _espeak_capped(with_voice, p.espeak_cap, seed)
    for_utts = _take(for_pool, p.n_for, seed, "for") if "mini-for" in corpora or "mini-rerec" in corpora else []
    asv = _take(utts, p.n_asvspoof, seed, "asv") if "mini-asvspoof" in corpora else []
    asv_roles = _roles(asv, p.bonafide_share, seed)
    t1 = time.perf_counter()
    _synthesize(for_utts + [u for u in asv if asv_roles[u.prompt.uid] == "tts"], seed, progress)
    timings["tts"] = time.perf_counter() - t1
    roots: dict[str, Path] = {}

    # mini-for and mini-rerec: the same prompts, real vs TTS, balanced per prompt
    if for_utts:
        t = time.perf_counter()
        w_for, w_rec = _Writer(out, "mini-for", seed), _Writer(out, "mini-rerec", seed)
        for u in tqdm(for_utts, desc="mini-for/-rerec", disable=not progress, unit="prompt"):
            if u.fake is None:
                continue
            k = min(dsp.n_windows(len(u.real), p.max_windows), dsp.n_windows(len(u.fake), p.max_windows))
            if k == 0:
                continue
            reals = dsp.windows(dsp.g722_roundtrip(u.real), k, _rng(seed, "win", u.prompt.uid, "real"))
            fakes = dsp.windows(dsp.g722_roundtrip(u.fake), k, _rng(seed, "win", u.prompt.uid, "fake"))
            for i, (yr, yf) in enumerate(zip(reals, fakes)):
                for label, y, src, spk in (("real", yr, "bonafide", u.prompt.speaker),
                                           ("fake", yf, u.voice.id, u.voice.id)):
                    if "mini-for" in corpora:
                        w_for.add(y, u.split, label, src, spk, u.prompt, i)
                    if "mini-rerec" in corpora:
                        ch = dsp.playback_channel(y, _rng(seed, "rerec", u.prompt.uid, label, str(i)))
                        w_rec.add(ch, u.split, label, src, spk, u.prompt, i)
        if "mini-for" in corpora:
            roots["mini-for"] = w_for.close()
        if "mini-rerec" in corpora:
            roots["mini-rerec"] = w_rec.close()
        timings["mini-for+rerec"] = time.perf_counter() - t

    # mini-wavefake: every real window and one vocoded version of it (round robin over vocoders)
    if "mini-wavefake" in corpora:
        t = time.perf_counter()
        w = _Writer(out, "mini-wavefake", seed)
        wf = _take(utts, p.n_wavefake, seed, "wavefake")
        for j, u in enumerate(tqdm(wf, desc="mini-wavefake", disable=not progress, unit="prompt")):
            k = dsp.n_windows(len(u.real), p.max_windows)
            for i, yr in enumerate(dsp.windows(u.real, k, _rng(seed, "win", u.prompt.uid, "real"))):
                name = vocoders.VOCODERS[(j + i) % len(vocoders.VOCODERS)]
                r = _rng(seed, "vocode", u.prompt.uid, str(i))
                kw = {"n_iter": p.gl_iter} if name == "griffinlim" else {}
                yf = vocoders.VOCODER_FUNCS[name](yr, r, **kw)
                w.add(dsp.g722_roundtrip(yr), u.split, "real", "bonafide", u.prompt.speaker, u.prompt, i)
                w.add(dsp.g722_roundtrip(yf), u.split, "fake", name, u.prompt.speaker, u.prompt, i)
        roots["mini-wavefake"] = w.close()
        timings["mini-wavefake"] = time.perf_counter() - t

    # mini-asvspoof: bona fide minority, TTS attacks A01-A04, conversion attacks A05-A07
    if "mini-asvspoof" in corpora:
        t = time.perf_counter()
        w = _Writer(out, "mini-asvspoof", seed)
        vc_names = ("world-vc-up", "world-vc-down", "pitch-shift")
        for j, u in enumerate(tqdm(asv, desc="mini-asvspoof", disable=not progress, unit="prompt")):
            role = asv_roles[u.prompt.uid]
            if role == "tts" and u.fake is None:
                continue
            src_y = u.fake if role == "tts" else u.real
            k = dsp.n_windows(len(src_y), p.max_windows)
            for i, y in enumerate(dsp.windows(src_y, k, _rng(seed, "win", u.prompt.uid, role))):
                if role == "bona":
                    w.add(dsp.g722_roundtrip(y), u.split, "real", "bonafide", u.prompt.speaker, u.prompt, i)
                elif role == "tts":
                    w.add(dsp.g722_roundtrip(y), u.split, "fake", ASV_ATTACKS[u.voice.engine], u.voice.id,
                          u.prompt, i)
                else:
                    name = vc_names[(j + i) % len(vc_names)]
                    r = _rng(seed, "vc", u.prompt.uid, str(i))
                    yf = (vocoders.pitch_shift(y, r) if name == "pitch-shift" else
                          vocoders.world_vc(y, r, "up" if name.endswith("up") else "down"))
                    w.add(dsp.g722_roundtrip(yf), u.split, "fake", ASV_ATTACKS[name], u.prompt.speaker, u.prompt, i)
        roots["mini-asvspoof"] = w.close()
        timings["mini-asvspoof"] = time.perf_counter() - t

    timings["total"] = time.perf_counter() - t0
    summary = {}
    for name, root in roots.items():
        meta = pd.read_csv(root / "metadata.csv", keep_default_na=False)
        summary[name] = {
            "clips": int(len(meta)),
            "by_split_label": {f"{s}/{lab}": int(n) for (s, lab), n in meta.groupby(["split", "label"]).size().items()},
            "sources": dict(Counter(meta["source"])),
            "bytes": int(sum(f.stat().st_size for f in root.rglob("*.wav"))),
        }
    stamp.write_text(json.dumps({"params": params, "timings_s": {k: round(v, 2) for k, v in timings.items()},
                                 "corpora": summary}, indent=2))
    log.info("embedded suite %s built in %.1f s: %s", p.name, timings["total"],
             {k: v["clips"] for k, v in summary.items()})
    return roots


def suite_summary(out_dir: str | os.PathLike) -> dict:
    """The ``suite.json`` of a built suite (parameters, timings, counts, sizes)."""
    return json.loads((Path(out_dir) / SUITE_FILE).read_text())


def preset_with(name: str, **changes) -> Preset:
    """A preset with some fields changed, e.g. ``preset_with("default", n_for=200)``."""
    return replace(PRESETS[name], **changes)
