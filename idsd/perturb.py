"""The modified-speech set: the 16 upstream modifications (``main/modify_recordings.py``).

Each modification maps a 16 kHz clip to a clip of the same length (codec padding and delays are
cropped, sample-rate changes are undone with soxr), written as 16-bit PCM at 16 kHz:

=============  ============================================================================
``mp3``        ``sox in -C 9 tmp.mp3`` then back to wav (about 8-9 kbit/s)
``ogg``        ``sox in tmp.ogg`` (default Vorbis quality) then back
``aac``        ``ffmpeg -i in tmp.aac`` then back (ffmpeg defaults)
``wma``        ``ffmpeg -i in tmp.wma`` then back
``m4v``        ``ffmpeg -i in tmp.m4v`` then back
``reduce``     ``sox in out sinc 7.99999k-5k`` (band-reject 5-8 kHz: a 5 kHz low-pass)
``volume``     ``sox -v 0.5`` (x0.5)
``noise``      white noise x0.02 mixed with ``sox -m`` (average): 0.5 in + 0.01 noise
``bitrate``    ``sox in -b 8`` (TPDF dither, 8-bit) then back to 16 bit
``combined``   noise x0.01 mixed with ``-m``, then ``sox -v 0.98 ... sinc 7.99999k-5k``
``street``     ``sox -m in street.wav`` (synthetic traffic background, see below)
``birds``      ``sox -m in birds.wav`` (synthetic bird song background)
``overdrive``  ``sox -v0.92 in out overdrive``
``flanger``    ``sox in out flanger``
``downsample`` ``sox in out downsample`` (factor 2, no anti-alias filter: 8 kHz, aliased)
``reverb``     ``sox in out reverb``
=============  ============================================================================

Upstream's street and birds recordings are not published; :func:`make_backgrounds` synthesises
both offline (traffic rumble with passing vehicles and horns; FM bird chirps over wind), seeded.
Needs the ``sox`` (with ``libsox-fmt-all`` for mp3/ogg) and ``ffmpeg`` binaries; modifications
whose tool is missing are skipped and listed as rejected.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import soxr
from scipy import signal

from idsd import SAMPLE_RATE
from idsd.audio import load_audio, write_audio
from idsd.errors import AudioError
from idsd.progress import tqdm
from idsd.validate import ffmpeg_input

log = logging.getLogger(__name__)

MODIFICATIONS = ("mp3", "ogg", "aac", "wma", "m4v", "reduce", "volume", "noise", "bitrate", "combined",
                 "street", "birds", "overdrive", "flanger", "downsample", "reverb")
TOOLS = {"mp3": "sox", "ogg": "sox", "aac": "ffmpeg", "wma": "ffmpeg", "m4v": "ffmpeg", "reduce": "sox",
         "combined": "sox", "overdrive": "sox", "flanger": "sox", "downsample": "sox", "reverb": "sox"}
BACKGROUND_LEVEL_DB = {"street": -28.0, "birds": -32.0}
SR = SAMPLE_RATE


def tools_available() -> dict[str, bool]:
    """Which modifications can run here (their binary is on PATH)."""
    have = {t: shutil.which(t) is not None for t in ("sox", "ffmpeg")}
    return {m: have.get(TOOLS.get(m, ""), True) for m in MODIFICATIONS}


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"{cmd[0]} failed: {msg[-1] if msg else proc.returncode}")


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def _level(y: np.ndarray, db: float) -> np.ndarray:
    return y * (10 ** (db / 20) / (np.sqrt(np.mean(y**2)) + 1e-12))


def make_backgrounds(seconds: float = 30.0, seed: int = 0) -> dict[str, np.ndarray]:
    """Synthesise the street and birds backgrounds (offline substitutes for upstream's files).

    Returns
    -------
    dict
        ``{"street": (n,), "birds": (n,)}`` float32 at 16 kHz, RMS at :data:`BACKGROUND_LEVEL_DB`.
    """
    rng = np.random.default_rng([seed, 7])
    n = int(seconds * SR)
    t = np.arange(n) / SR
    # street: brown-ish rumble, slow swells of passing vehicles (band-passed noise), two horns
    rumble = np.cumsum(rng.normal(size=n))
    rumble = signal.sosfilt(signal.butter(2, [30, 400], "band", fs=SR, output="sos"), rumble)
    rumble /= np.std(rumble) + 1e-12
    hiss = signal.sosfilt(signal.butter(2, [300, 3000], "band", fs=SR, output="sos"), rng.normal(size=n))
    env = np.zeros(n)
    for c in rng.uniform(0, seconds, size=int(seconds / 4)):
        env += np.exp(-0.5 * ((t - c) / rng.uniform(0.8, 2.0)) ** 2)
    street = rumble * (0.5 + env) + 0.6 * hiss / (np.std(hiss) + 1e-12) * env
    for c in rng.uniform(1, seconds - 1, size=2):
        f = rng.uniform(350, 500)
        mask = (t > c) & (t < c + rng.uniform(0.3, 0.7))
        street[mask] += 2.0 * np.sign(np.sin(2 * np.pi * f * t[mask])) * 0.5
    # birds: FM chirps with two harmonics in 2-6 kHz, in bursts, over soft wind
    birds = 0.3 * signal.sosfilt(signal.butter(2, 800, "low", fs=SR, output="sos"), rng.normal(size=n))
    for c in rng.uniform(0, seconds - 0.3, size=int(seconds * 3)):
        d = rng.uniform(0.04, 0.18)
        m = int(d * SR)
        i0 = int(c * SR)
        tt = np.arange(m) / SR
        f0, f1 = rng.uniform(2000, 6000), rng.uniform(2000, 6000)
        ph = 2 * np.pi * np.cumsum(f0 + (f1 - f0) * tt / d + 300 * np.sin(2 * np.pi * rng.uniform(20, 60) * tt)) / SR
        chirp = (np.sin(ph) + 0.3 * np.sin(2 * ph)) * np.hanning(m) * rng.uniform(0.5, 3.0)
        birds[i0:i0 + m] += chirp[: len(birds[i0:i0 + m])]
    return {"street": _level(street, BACKGROUND_LEVEL_DB["street"]).astype(np.float32),
            "birds": _level(birds, BACKGROUND_LEVEL_DB["birds"]).astype(np.float32)}


# -R: sox seeds its dither (applied whenever it writes 16-bit output after an effect) from the clock
# unless told to repeat; without it the same clip modified twice differs in its last bit.
SOX = ["sox", "-R"]


def _sox_roundtrip(y: np.ndarray, tmp: str, encode: list[str], ext: str) -> np.ndarray:
    src, mid, dst = (os.path.join(tmp, n) for n in ("in.wav", f"mid.{ext}", "out.wav"))
    write_audio(src, y)
    _run([*SOX, src, *encode, mid])
    _run([*SOX, mid, dst])
    return load_audio(dst)


def _ffmpeg_roundtrip(y: np.ndarray, tmp: str, ext: str) -> np.ndarray:
    src, mid, dst = (os.path.join(tmp, n) for n in ("in.wav", f"mid.{ext}", "out.wav"))
    write_audio(src, y)
    # file:/absolute/path: never read as an ffmpeg protocol or option, whatever the folder's name
    _run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", ffmpeg_input(src), ffmpeg_input(mid)])
    _run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", ffmpeg_input(mid), ffmpeg_input(dst)])
    return load_audio(dst)


def _sox_effect(y: np.ndarray, tmp: str, pre: list[str], effect: list[str]) -> np.ndarray:
    src, dst = os.path.join(tmp, "in.wav"), os.path.join(tmp, "out.wav")
    write_audio(src, y)
    _run([*SOX, *pre, src, dst, *effect])
    return load_audio(dst)


def modify(y: np.ndarray, mod: str, rng: np.random.Generator, backgrounds: dict[str, np.ndarray] | None = None,
           tmpdir: str | None = None) -> np.ndarray:
    """Apply one modification to a 16 kHz clip.

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
    mod : str
        One of :data:`MODIFICATIONS`.
    rng : numpy.random.Generator
        Noise, dither and background offsets.
    backgrounds : dict, optional
        From :func:`make_backgrounds` (made on demand when missing).
    tmpdir : str, optional
        Scratch folder for the codec round trips.

    Returns
    -------
    numpy.ndarray, shape (n,), float32
    """
    y = np.asarray(y, dtype=np.float32)
    n = len(y)
    if mod == "volume":
        return y * 0.5
    if mod == "noise":
        return 0.5 * y + 0.5 * 0.02 * rng.uniform(-1, 1, n).astype(np.float32)
    if mod == "bitrate":
        tpdf = (rng.uniform(-0.5, 0.5, n) + rng.uniform(-0.5, 0.5, n)).astype(np.float32)
        return (np.clip(np.round(y * 128 + tpdf), -128, 127) / 128).astype(np.float32)
    if mod in ("street", "birds"):
        bg = (backgrounds or make_backgrounds())[mod]
        reps = int(np.ceil((n + 1) / len(bg))) + 1
        bg = np.tile(bg, reps)
        off = int(rng.integers(0, len(bg) - n))
        return 0.5 * y + 0.5 * bg[off:off + n]
    if mod not in MODIFICATIONS:
        raise ValueError(f"unknown modification {mod!r}; choose from {MODIFICATIONS}")
    own_tmp = tmpdir is None
    tmp = tempfile.mkdtemp(prefix="idsd-mod-") if own_tmp else tempfile.mkdtemp(prefix="m-", dir=tmpdir)
    tmp = os.path.abspath(tmp)  # sox has no "--": absolute paths never start with "-"
    try:
        if mod == "mp3":
            out = _sox_roundtrip(y, tmp, ["-C", "9"], "mp3")
        elif mod == "ogg":
            out = _sox_roundtrip(y, tmp, [], "ogg")
        elif mod in ("aac", "wma", "m4v"):
            out = _ffmpeg_roundtrip(y, tmp, mod)
        elif mod == "reduce":
            out = _sox_effect(y, tmp, [], ["sinc", "7.99999k-5k"])
        elif mod == "combined":
            noisy = 0.5 * y + 0.5 * 0.01 * rng.uniform(-1, 1, n).astype(np.float32)
            out = _sox_effect(noisy, tmp, ["-v", "0.98"], ["sinc", "7.99999k-5k"])
        elif mod == "overdrive":
            out = _sox_effect(y, tmp, ["-v", "0.92"], ["overdrive"])
        elif mod == "flanger":
            out = _sox_effect(y, tmp, [], ["flanger"])
        elif mod == "downsample":
            src, dst = os.path.join(tmp, "in.wav"), os.path.join(tmp, "out.wav")
            write_audio(src, y)
            _run([*SOX, src, dst, "downsample"])
            y8, _ = _read_native(dst)
            out = soxr.resample(y8, SR // 2, SR, quality="VHQ")  # upstream: librosa loads it back at 16 kHz
        else:  # reverb
            out = _sox_effect(y, tmp, [], ["reverb"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _fit(out, n)


def _read_native(path: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    y, sr = sf.read(path, dtype="float32", always_2d=True)
    return y.mean(axis=1), int(sr)


def _seed_for(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng([int(seed)] + [zlib.crc32(k.encode()) for k in keys])


def modify_split(in_dir: str | os.PathLike, out_dir: str | os.PathLike, mods=MODIFICATIONS, seed: int = 0,
                 limit: int | None = None, workers: int = 2, progress: bool = True,
                 force: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write every modification of one split folder (``real/`` + ``fake/``).

    Output: ``<out_dir>/<mod>/<split name>/<real|fake>/<file>.wav`` (upstream layout) and
    ``<out_dir>/metadata.csv`` (path relative to ``out_dir``, condition, label, original).

    Parameters
    ----------
    in_dir : folder with ``real/`` and ``fake/`` (e.g. ``.../mini-for/validation``)
    out_dir : destination
    mods : modifications to apply (default all 16)
    seed : noise/dither/background offsets derive from it and the file name
    limit : at most this many files per class, a sample drawn with ``seed`` (the same files every run)
    workers : parallel files (the codec round trips are subprocesses)
    progress : progress bar
    force : redo files that already exist

    Returns
    -------
    written : pandas.DataFrame
        Columns ``path, condition, label, original``.
    rejected : pandas.DataFrame
        Columns ``file, reason`` (unreadable inputs, failed tools, missing binaries).
    """
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    split_name = in_dir.name
    files = []
    for label in ("real", "fake"):
        d = in_dir / label
        if d.is_dir():
            fs = sorted(p for p in d.rglob("*") if p.is_file() and not p.name.startswith("."))
            if limit and len(fs) > limit:  # a seeded sample, not the first names (sorted by language)
                pick = np.random.default_rng([int(seed), zlib.crc32(label.encode())]).choice(len(fs), limit,
                                                                                             replace=False)
                fs = [fs[i] for i in sorted(pick)]
            files += [(label, p) for p in fs]
    if not files:
        raise FileNotFoundError(f"{in_dir}: no real/ or fake/ files to modify")
    avail = tools_available()
    rejected = [(m, f"{TOOLS[m]} not installed") for m in mods if not avail[m]]
    mods = [m for m in mods if avail[m]]
    backgrounds = make_backgrounds(seed=seed)
    rows: list[tuple[str, str, str, str]] = []

    def job(item):
        label, path = item
        out_rows, bad = [], []
        try:
            y = load_audio(path)
        except AudioError as exc:
            return out_rows, [(exc.path, exc.reason)]
        for mod in mods:
            rel = Path(mod) / split_name / label / (path.stem + ".wav")
            dst = out_dir / rel
            if force or not dst.is_file():
                try:
                    z = modify(y, mod, _seed_for(seed, mod, path.name), backgrounds)
                    write_audio(dst, z)
                except (RuntimeError, OSError, AudioError, subprocess.TimeoutExpired) as exc:
                    bad.append((str(path), f"{mod}: {exc}"))
                    continue
            out_rows.append((str(rel), mod, label, str(path.resolve())))
        return out_rows, bad

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for out_rows, bad in tqdm(pool.map(job, files), total=len(files), desc="modified speech",
                                  disable=not progress, unit="file"):
            rows += out_rows
            rejected += bad
    written = pd.DataFrame(rows, columns=["path", "condition", "label", "original"])
    out_dir.mkdir(parents=True, exist_ok=True)
    written.to_csv(out_dir / "metadata.csv", index=False)
    log.info("modified speech: %d files x %d modifications -> %d clips in %s", len(files), len(mods),
             len(written), out_dir)
    return written, pd.DataFrame(rejected, columns=["file", "reason"])


def modified_manifest(out_dir: str | os.PathLike, base: pd.DataFrame | None = None, dataset: str | None = None,
                      progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Manifest of a modified-speech folder written by :func:`modify_split`.

    Parameters
    ----------
    out_dir : the folder holding ``metadata.csv``
    base : manifest of the original corpus; its rows give dataset, source and speaker of each
        original file (matched by absolute path)
    dataset : value of ``dataset`` when ``base`` is missing (default: the folder name)

    Returns
    -------
    (manifest, rejected): the manifest has ``condition`` = modification name, ``split`` = eval.
    """
    from idsd.datasets.common import Entry, expand

    out_dir = Path(out_dir)
    meta = pd.read_csv(out_dir / "metadata.csv", keep_default_na=False)
    info = {}
    if base is not None and len(base):
        for r in base.drop_duplicates("path").itertuples(index=False):
            info[os.path.abspath(r.path)] = (r.dataset, r.source, r.speaker)
    name = dataset or out_dir.name
    entries = []
    for r in meta.itertuples(index=False):
        ds, source, speaker = info.get(r.original, (name, "bonafide" if r.label == "real" else "unknown", "unknown"))
        e = Entry(str(out_dir / r.path), "eval", r.label, source=source, speaker=speaker, condition=r.condition)
        e.dataset = ds
        entries.append(e)
    ds_name = entries[0].dataset if entries else name
    return expand(entries, ds_name, progress=progress)
