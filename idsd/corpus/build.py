"""Build the embedded offline corpus suite: four corpora that mirror the paper's training sets.

``build_suite(out_dir, preset)`` writes, in the FoR layout (``{training,testing,validation}/
{real,fake}/*.wav`` + ``metadata.csv``; training -> train, testing -> dev, validation -> eval):

Real speech: the Asterisk IVR prompts (:mod:`idsd.corpus.sources`; en, es, fr, it, ru, G.722) and
the Czech voice cast of Fish Fillets NG (:mod:`idsd.corpus.fillets`; ~26 roles, Ogg Vorbis),
the Czech windows capped at ``cs_share`` of each split of each corpus.

``mini-for``
    Real prompts vs TTS of the same transcripts (espeak-ng variants, flite, festival, piper; Czech:
    espeak-ng variants), the espeak share of the other languages capped; balanced per prompt (as
    FoR for-2sec).
``mini-rerec``
    The ``mini-for`` clips, both classes passed through a simulated loudspeaker-room-microphone
    channel (as FoR for-rerec).
``mini-wavefake``
    Real windows vs their vocoder resynthesis: WORLD, Griffin-Lim, LPC (as WaveFake).
``mini-asvspoof``
    Bona fide minority (~20 % in train, ~1/3 in dev and eval) vs TTS attacks A01-A04 and
    voice-conversion-style attacks A05-A07 (as ASVspoof 2019 LA).

Splits are sentence-disjoint: a prompt key (the same key in every Asterisk language; Czech keys
``fillets/<level>/<line id>``) belongs to one split in every corpus (42/14/44 % of the keys in
``default``); every non-overlapping 2-s window after trimming is used (the remainder is dropped),
and each split of each corpus is capped (``*_caps``) by a seeded draw of whole prompts, so train
stays small while eval is large. Both classes share the resampling chain (through 22.05 kHz), a
G.722 round trip, the loudness normalisation (-23 dBFS +- 6 dB) and the noise floor (35-50 dB
SNR); Czech fakes also go through the Czech reals' Ogg Vorbis round trip. Everything is
deterministic for a given seed: an engine call that fails is retried and then stops the build
(never drops items), and ``suite.json`` lists the few texts an engine deterministically refuses.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from idsd import CLIP_SAMPLES, __version__
from idsd.audio import iter_audio_files, write_audio
from idsd.corpus import dsp, fillets, tts, vocoders
from idsd.corpus.sources import LANGS, Prompt, available_languages, decode_g722, list_prompts
from idsd.files import write_csv, write_text
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

    Window counts are 2-s clips per class (``mini-for``, ``mini-rerec``, ``mini-wavefake``: real
    and fake alike) or in all (``mini-asvspoof``); a cap of ``None`` keeps every available one.

    Attributes
    ----------
    langs : languages of the Asterisk prompts used.
    prompts_per_lang : usable Asterisk prompts (>= 2 s after trimming) drawn per language (None: all).
    cs_prompts : usable Czech Fish Fillets NG lines drawn (None: all; 0: no Czech).
    cs_share : largest share of Czech windows in each split of each corpus.
    max_windows : 2-s windows per prompt (None: every non-overlapping window after trimming).
    for_caps : (train, dev, eval) windows per class in ``mini-for`` (and so ``mini-rerec``).
    wavefake_caps : (train, dev, eval) windows per class in ``mini-wavefake``.
    asv_caps : (train, dev, eval) windows in all in ``mini-asvspoof``.
    bonafide_share : (train, dev, eval) share of ``mini-asvspoof`` windows kept bona fide.
    espeak_cap : largest share of espeak-ng among the non-Czech ``mini-for`` fakes.
    gl_iter : Griffin-Lim iterations.
    split : fractions of prompt keys in train / dev / eval.
    """

    name: str
    langs: tuple[str, ...] = LANGS
    prompts_per_lang: int | None = None
    cs_prompts: int | None = None
    cs_share: float = 0.45
    max_windows: int | None = None
    for_caps: tuple[int | None, int | None, int | None] = (220, 150, 480)
    wavefake_caps: tuple[int | None, int | None, int | None] = (220, 120, 450)
    asv_caps: tuple[int | None, int | None, int | None] = (400, 360, 1300)
    bonafide_share: tuple[float, float, float] = (0.2, 0.34, 0.34)
    espeak_cap: float = 0.35
    gl_iter: int = 32
    split: tuple[float, float, float] = (0.42, 0.14, 0.44)


PRESETS = {
    "tiny": Preset("tiny", langs=("en", "it"), prompts_per_lang=16, cs_prompts=10, max_windows=1,
                   for_caps=(None, None, None), wavefake_caps=(None, None, None), asv_caps=(None, None, None),
                   bonafide_share=(0.2, 0.3, 0.3), espeak_cap=0.5, gl_iter=4, split=(0.5, 0.2, 0.3)),
    "default": Preset("default"),
    "large": Preset("large", for_caps=(None, None, None), wavefake_caps=(None, None, None),
                    asv_caps=(None, None, None)),
}
"""``tiny`` builds in seconds (tests, quick mode; a few Czech lines included); ``default`` is
sized for the 60-minute CPU study (large eval splits; train capped at ~220 per class, because
training on 2 cores is the budget); ``large`` uses every usable window of every prompt."""

SPLITS = ("train", "dev", "eval")


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
        write_csv(meta, self.root / "metadata.csv")
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


def _load_audio(p: Prompt) -> np.ndarray:
    """Decode a real prompt, resample (the fakes' chain) and trim: 16 kHz float32, shape (n,)."""
    if p.lang == fillets.LANG:
        y, sr = fillets.decode(p.path)
    else:
        y, sr = decode_g722(p.path), 16000
    return dsp.trim(dsp.to_16k(y, sr))


def _draw(prompts: list[Prompt], n: int | None, seed: int, bar) -> list[tuple[Prompt, np.ndarray]]:
    """The first ``n`` usable (>= 2 s after trimming) prompts in a seeded order (all when None)."""
    out = []
    for p in sorted(prompts, key=lambda p: _frac(seed, "order", p.uid)):
        if n is not None and len(out) >= n:
            break
        y = _load_audio(p)
        bar.update(1)
        if len(y) >= CLIP_SAMPLES:
            out.append((p, y))
    return out


def _load_reals(preset: Preset, seed: int, progress: bool) -> list[_Utt]:
    langs = [lang for lang in preset.langs if lang in available_languages()]
    if not langs:
        raise RuntimeError("no Asterisk prompts found: install asterisk-core-sounds-{en,es,fr,it,ru} and their "
                           "-g722 variants (Debian), see README")
    missing = sorted(set(preset.langs) - set(langs))
    if missing:
        raise RuntimeError(f"Asterisk prompts of {missing} not installed: the build would differ from other "
                           "machines (install them, or pick the languages with preset_with(..., langs=...))")
    bar = tqdm(desc="real prompts", disable=not progress, unit="prompt")
    by_lang: dict[str, list[Prompt]] = {}
    for p in list_prompts(langs):
        by_lang.setdefault(p.lang, []).append(p)
    utts: list[tuple[Prompt, np.ndarray]] = []
    for lang in sorted(by_lang):
        utts += _draw(by_lang[lang], preset.prompts_per_lang, seed, bar)
    if preset.cs_prompts != 0:
        if not fillets.available():
            raise RuntimeError(f"Fish Fillets NG Czech voices not found under {fillets.root_dir()}: install "
                               "fillets-ng-data and fillets-ng-data-cs (Debian), or use cs_prompts=0")
        utts += _draw(fillets.list_prompts(), preset.cs_prompts, seed, bar)
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


TTS_TRIES = 3
"""Attempts per engine call; an engine that still fails stops the build (nothing is dropped silently)."""


def _retry(what: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, retried on engine errors; raises RuntimeError after :data:`TTS_TRIES`."""
    for attempt in range(1, TTS_TRIES + 1):
        try:
            return fn(*args, **kwargs)
        except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
            if attempt == TTS_TRIES:
                raise RuntimeError(f"{what} failed {TTS_TRIES} times ({exc}); the build stops instead of "
                                   "dropping items, which would make it machine- and load-dependent") from exc
            log.warning("%s failed (%s); retry %d of %d", what, exc, attempt, TTS_TRIES - 1)
    raise AssertionError("unreachable")


def _synthesize(utts: list[_Utt], seed: int, progress: bool) -> list[str]:
    """Run every engine once over its utterances (festival batched per voice), then the common chain.

    Czech fakes go through the Czech reals' Ogg Vorbis round trip before resampling. An engine
    call that fails is retried and then stops the build (:func:`_retry`); the only items left
    without a fake are texts an engine deterministically refuses (festival, confirmed in a fresh
    process) or renders as nothing.

    Returns
    -------
    list of str
        ``"<voice id> <prompt uid>"`` of the items left without a fake (recorded in ``suite.json``).
    """
    jobs: dict[tts.Voice, list[_Utt]] = {}
    for u in utts:
        if u.voice is not None and u.fake is None:
            jobs.setdefault(u.voice, []).append(u)
    piper = None
    skipped: list[str] = []
    bar = tqdm(total=sum(len(v) for v in jobs.values()), desc="tts", disable=not progress, unit="utt")
    for voice, us in sorted(jobs.items(), key=lambda kv: kv[0].id):
        us = sorted(us, key=lambda u: u.prompt.uid)
        outs: list = []
        if voice.engine == "festival":
            outs = _retry(f"festival {voice.name}", tts.festival_batch, voice.name, [u.prompt.text for u in us])
        else:
            for u in us:
                r = _rng(seed, "tts", u.prompt.uid)
                what = f"{voice.id} on {u.prompt.uid}"
                if voice.engine == "espeak":
                    outs.append(_retry(what, tts.espeak, voice.name, u.prompt.text, rate=int(r.integers(140, 191)),
                                       pitch=int(r.integers(35, 66))))
                elif voice.engine == "flite":
                    outs.append(_retry(what, tts.flite, voice.name, u.prompt.text))
                elif voice.engine == "piper":
                    piper = piper or tts.Piper()
                    outs.append(_retry(what, piper, u.prompt.text, length_scale=float(r.uniform(0.9, 1.25))))
                else:
                    raise ValueError(f"unknown engine {voice.engine}")
        for u, out in zip(us, outs):
            if out is not None and len(out[0]):
                y, sr = out
                if u.prompt.lang == fillets.LANG:
                    y = fillets.vorbis_roundtrip(y, sr)
                u.fake = dsp.trim(dsp.to_16k(y, sr))
            else:
                skipped.append(f"{voice.id} {u.prompt.uid}")
            bar.update(1)
    bar.close()
    if skipped:
        log.info("%d utterances without a fake (engine refuses the text): %s", len(skipped), skipped[:5])
    return skipped


def _by_split(items: list[_Utt], seed: int, tag: str) -> dict[str, list[_Utt]]:
    """Items per split, each in a seeded order."""
    out: dict[str, list[_Utt]] = {s: [] for s in SPLITS}
    for u in sorted(items, key=lambda u: _frac(seed, tag, u.prompt.uid)):
        out[u.split].append(u)
    return out


def _pick(items: list[_Utt], weight, cap: int | None, cs_share: float) -> list[_Utt]:
    """Items (in their given order) whose windows (``weight(u)``) add up to at most ``cap``, Czech
    windows at most ``cs_share`` of the total; the non-Czech items come first and Czech fills up.

    Returns
    -------
    list of _Utt, a subset of ``items`` (order kept within each language group)
    """
    other = [u for u in items if u.prompt.lang != fillets.LANG]
    czech = [u for u in items if u.prompt.lang == fillets.LANG]
    big = 10**12
    limit = big if cap is None else int(cap)

    def prefix(us: list[_Utt], budget: int) -> tuple[list[_Utt], int]:
        out, tot = [], 0
        for u in us:
            w = weight(u)
            if w > 0 and tot + w <= budget:
                out.append(u)
                tot += w
        return out, tot

    reserve = 0 if cap is None else min(sum(weight(u) for u in czech), int(limit * cs_share))
    o, n_o = prefix(other, limit - reserve)
    cz_budget = limit - n_o if cs_share >= 1 else min(limit - n_o, int(cs_share / (1 - cs_share) * n_o))
    if not other:  # a Czech-only selection (tests): the share cannot apply
        cz_budget = limit
    c, _ = prefix(czech, cz_budget)
    return o + c


def _espeak_capped(utts: list[_Utt], cap: float, seed: int) -> list[_Utt]:
    """Drop espeak items (last in a seeded order) until espeak is at most ``cap`` of the items.

    Czech (espeak-only) is exempt: its share is bounded by ``cs_share`` instead."""
    cz = [u for u in utts if u.prompt.lang == fillets.LANG]
    rest = [u for u in utts if u.prompt.lang != fillets.LANG]
    esp = sorted([u for u in rest if u.voice.engine == "espeak"], key=lambda u: _frac(seed, "cap", u.prompt.uid))
    other = [u for u in rest if u.voice.engine != "espeak"]
    keep = int(cap / (1 - cap) * len(other)) if cap < 1 else len(esp)
    return other + esp[:keep] + cz


def _asv_plan(utts: list[_Utt], p: Preset, seed: int, nw) -> tuple[list[_Utt], dict[str, str]]:
    """mini-asvspoof prompts and roles per split: ``bona`` (``bonafide_share`` of the split's
    windows, at least one prompt), then ``tts`` and ``vc`` alternating in a seeded order (``tts``
    only where a voice exists; only one in three espeak-ng prompts stays ``tts``, so espeak does
    not dominate the TTS attacks), each class capped with the Czech share bound."""
    chosen: list[_Utt] = []
    roles: dict[str, str] = {}
    for i, (_split, us) in enumerate(_by_split(utts, seed, "asv").items()):
        if not us:
            continue
        w_real = lambda u: nw(len(u.real))  # noqa: E731
        cap = p.asv_caps[i]
        total = cap if cap is not None else sum(w_real(u) for u in us)
        n_bona = max(1, int(round(p.bonafide_share[i] * total)))
        bona = _pick(us, w_real, n_bona, p.cs_share) or us[:1]
        ids = {u.prompt.uid for u in bona}
        rest = [u for u in us if u.prompt.uid not in ids]
        n_esp = 0
        for k, u in enumerate(rest):
            role = "tts" if k % 2 == 0 and u.voice else "vc"
            if role == "tts" and u.voice.engine == "espeak":
                n_esp += 1
                role = "tts" if n_esp % 3 == 1 else "vc"
            roles[u.prompt.uid] = role
        spoof = _pick(rest, w_real, None if cap is None else cap - sum(w_real(u) for u in bona), p.cs_share)
        for u in bona:
            roles[u.prompt.uid] = "bona"
        chosen += bona + spoof
    return chosen, roles


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
        Every random choice derives from it; the same seed rebuilds the same files (byte for byte).
    progress : bool
    force : bool
        Rebuild even when ``suite.json`` says the same preset and seed were built already.
    corpora : iterable of str
        Subset of :data:`CORPORA` to write.

    Returns
    -------
    dict
        corpus name -> FoR-layout root.

    Raises
    ------
    RuntimeError
        When a source is missing or a TTS engine keeps failing (nothing is dropped silently).
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

    def nw(n: int) -> int:
        return dsp.n_windows(n, p.max_windows)

    utts = _load_reals(p, seed, progress)
    timings["reals"] = time.perf_counter() - t0
    langs = sorted({u.prompt.lang for u in utts})
    avail = {lang: tts.voices_for(lang) for lang in langs}
    _assign_voices(utts, seed, avail)
    with_voice = [u for u in utts if u.voice is not None]
    for_pool = _espeak_capped(with_voice, p.espeak_cap, seed)
    want_for = "mini-for" in corpora or "mini-rerec" in corpora
    for_split = _by_split(for_pool, seed, "for") if want_for else {s: [] for s in SPLITS}
    # phase 1: candidates by real windows (with a margin, fakes may be shorter); phase 2 below
    for_cand = [u for i, s in enumerate(SPLITS) for u in _pick(
        for_split[s], lambda u: nw(len(u.real)), None if p.for_caps[i] is None else int(1.3 * p.for_caps[i]) + 2,
        p.cs_share)]
    asv, asv_roles = _asv_plan(utts, p, seed, nw) if "mini-asvspoof" in corpora else ([], {})
    t1 = time.perf_counter()
    skipped = _synthesize(for_cand + [u for u in asv if asv_roles[u.prompt.uid] == "tts"], seed, progress)
    timings["tts"] = time.perf_counter() - t1
    roots: dict[str, Path] = {}

    def pairs(u: _Utt) -> int:
        return 0 if u.fake is None else min(nw(len(u.real)), nw(len(u.fake)))

    # mini-for and mini-rerec: the same prompts, real vs TTS, balanced per prompt
    cand_ids = {u.prompt.uid for u in for_cand}
    for_utts = [u for i, s in enumerate(SPLITS) for u in _pick(
        [u for u in for_split[s] if u.prompt.uid in cand_ids], pairs, p.for_caps[i], p.cs_share)]
    if for_utts:
        t = time.perf_counter()
        w_for, w_rec = _Writer(out, "mini-for", seed), _Writer(out, "mini-rerec", seed)
        for u in tqdm(for_utts, desc="mini-for/-rerec", disable=not progress, unit="prompt"):
            k = pairs(u)
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
        wf_split = _by_split(utts, seed, "wavefake")
        wf = [u for i, s in enumerate(SPLITS) for u in _pick(wf_split[s], lambda u: nw(len(u.real)),
                                                             p.wavefake_caps[i], p.cs_share)]
        for j, u in enumerate(tqdm(wf, desc="mini-wavefake", disable=not progress, unit="prompt")):
            k = nw(len(u.real))
            for i, yr in enumerate(dsp.windows(u.real, k, _rng(seed, "win", u.prompt.uid, "real"))):
                name = vocoders.VOCODERS[(j + i) % len(vocoders.VOCODERS)]
                r = _rng(seed, "vocode", u.prompt.uid, str(i))
                kw = {"n_iter": p.gl_iter} if name == "griffinlim" else {}
                yf = vocoders.VOCODER_FUNCS[name](yr, r, **kw)
                if u.prompt.lang == fillets.LANG:
                    yf = fillets.vorbis_roundtrip(yf)
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
            k = nw(len(src_y))
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
                    if u.prompt.lang == fillets.LANG:
                        yf = fillets.vorbis_roundtrip(yf)
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
            "by_split_label_lang": {f"{s}/{lab}/{lg}": int(n) for (s, lab, lg), n in
                                    meta.groupby(["split", "label", "lang"]).size().items()},
            "sources": dict(sorted(Counter(meta["source"]).items())),
            "real_speakers": dict(sorted(Counter(meta[meta.label == "real"]["speaker"]).items())),
            "bytes": int(sum(os.path.getsize(f) for f in iter_audio_files(root, extensions={".wav"}))),
        }
    write_text(stamp, json.dumps({"params": params, "timings_s": {k: round(v, 2) for k, v in timings.items()},
                                  "tts_skipped": skipped, "corpora": summary}, indent=2))
    log.info("embedded suite %s built in %.1f s: %s", p.name, timings["total"],
             {k: v["clips"] for k, v in summary.items()})
    return roots


def suite_summary(out_dir: str | os.PathLike) -> dict:
    """The ``suite.json`` of a built suite (parameters, timings, counts, sizes)."""
    return json.loads((Path(out_dir) / SUITE_FILE).read_text())


def preset_with(name: str, **changes) -> Preset:
    """A preset with some fields changed, e.g. ``preset_with("default", n_for=200)``."""
    return replace(PRESETS[name], **changes)
