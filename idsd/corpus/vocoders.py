"""Vocoder resynthesis and voice-conversion-style attacks on real clips (offline, CPU).

Families: WORLD (``pyworld``: DIO/StoneMask F0, CheapTrick envelope, D4C aperiodicity),
Griffin-Lim from an 80-band mel spectrogram (``librosa``), and a source-filter LPC vocoder
(pulse/noise excitation through frame-wise all-pole filters). Voice conversion: WORLD with a
scaled F0 and a warped spectral envelope, and a phase-vocoder pitch shift.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys

import numpy as np
from scipy import signal

from idsd import SAMPLE_RATE

SR = SAMPLE_RATE
VOCODERS = ("world", "griffinlim", "lpc")


@functools.lru_cache(maxsize=1)
def _pyworld():
    """Import pyworld; its 0.3.5 ``__init__`` needs ``pkg_resources`` (gone from new setuptools),
    so the compiled extension is loaded directly when the plain import fails."""
    try:
        import pyworld

        return pyworld
    except ModuleNotFoundError as exc:
        if exc.name != "pkg_resources":
            raise
    spec = importlib.util.find_spec("pyworld")
    folder = os.path.dirname(spec.origin)
    ext = next(f for f in os.listdir(folder) if f.startswith("pyworld.") and f.endswith((".so", ".pyd")))
    sys.modules.pop("pyworld", None)
    mspec = importlib.util.spec_from_file_location("pyworld", os.path.join(folder, ext))
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module


def _world_analyse(y: np.ndarray, frame_period: float = 5.0):
    pw = _pyworld()
    x = np.asarray(y, dtype=np.float64)
    f0, t = pw.dio(x, SR, frame_period=frame_period)
    f0 = pw.stonemask(x, f0, t, SR)
    sp = pw.cheaptrick(x, f0, t, SR)
    ap = pw.d4c(x, f0, t, SR)
    return f0, sp, ap


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def world(y: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """WORLD analysis-synthesis. Returns shape ``y.shape``, float32."""
    pw = _pyworld()
    f0, sp, ap = _world_analyse(y)
    return _fit(pw.synthesize(f0, sp, ap, SR, 5.0), len(y))


@functools.lru_cache(maxsize=4)
def _mel_pinv(n_mels: int = 80, n_fft: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    basis = librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=n_mels)
    return basis, np.linalg.pinv(basis)


def griffinlim(y: np.ndarray, rng: np.random.Generator | None = None, n_iter: int = 32) -> np.ndarray:
    """80-band mel spectrogram (n_fft 1024, hop 256) inverted with Griffin-Lim.

    The linear magnitude comes from the pseudo-inverse of the mel filter bank (clipped at 0),
    which is much faster than librosa's NNLS ``mel_to_stft`` and sounds the same after GL.
    """
    import librosa

    basis, pinv = _mel_pinv()
    power = np.abs(librosa.stft(np.asarray(y, np.float32), n_fft=1024, hop_length=256)) ** 2
    mag = np.sqrt(np.maximum(pinv @ (basis @ power), 0.0))
    seed = None if rng is None else int(rng.integers(2**31))
    out = librosa.griffinlim(mag, n_iter=n_iter, hop_length=256, n_fft=1024, length=len(y), random_state=seed)
    return _fit(out, len(y))


def lpc(y: np.ndarray, rng: np.random.Generator | None = None, order: int = 18, f0_scale: float = 1.0,
        frame: int = 400, hop: int = 160) -> np.ndarray:
    """Source-filter LPC vocoder: pulse train at the (scaled) F0 or white noise, through
    frame-wise all-pole filters fitted to the input, overlap-added with a Hann window."""
    import librosa

    rng = rng or np.random.default_rng(0)
    x = np.asarray(y, dtype=np.float64)
    pw = _pyworld()
    f0, t = pw.dio(x, SR, frame_period=1000 * hop / SR)
    n = len(x)
    win = signal.windows.hann(frame, sym=False)
    out = np.zeros(n + frame)
    phase = 0.0
    for i, start in enumerate(range(0, n - frame + 1, hop)):
        seg = x[start:start + frame] * win
        energy = np.sqrt(np.mean(seg**2))
        if energy < 1e-6:
            continue
        a = librosa.lpc(seg + 1e-9 * rng.normal(size=frame), order=order)
        if not np.all(np.isfinite(a)):
            continue
        fi = f0[min(i, len(f0) - 1)] * f0_scale
        if fi > 0:
            exc = np.zeros(frame)
            period = SR / fi
            k = phase
            while k < frame:
                exc[int(k)] = 1.0
                k += period
            phase = (k - hop) % period if k - hop >= 0 else 0.0
            exc = signal.lfilter([1.0, -0.9], [1.0], exc)
        else:
            exc = rng.normal(size=frame)
        syn = signal.lfilter([1.0], a, exc)
        syn *= energy / (np.sqrt(np.mean((syn * win) ** 2)) + 1e-12)
        out[start:start + frame] += syn * win
    out = out[:n] * (hop / (frame / 2))  # Hann OLA gain at 60 % overlap ~ frame/(2 hop)
    return _fit(out, n)


def world_vc(y: np.ndarray, rng: np.random.Generator, direction: str = "up") -> np.ndarray:
    """WORLD voice conversion: F0 scaled and spectral envelope warped towards another voice.

    ``up``: F0 x1.2-1.5, formants x1.08-1.18; ``down``: F0 x0.65-0.85, formants x0.85-0.93.
    """
    pw = _pyworld()
    f0, sp, ap = _world_analyse(y)
    if direction == "up":
        ratio, alpha = rng.uniform(1.2, 1.5), rng.uniform(1.08, 1.18)
    else:
        ratio, alpha = rng.uniform(0.65, 0.85), rng.uniform(0.85, 0.93)
    bins = np.arange(sp.shape[1])
    src = np.clip(bins / alpha, 0, sp.shape[1] - 1)
    sp_w = np.stack([np.interp(src, bins, row) for row in sp])
    out = pw.synthesize(f0 * ratio, np.ascontiguousarray(sp_w), ap, SR, 5.0)
    return _fit(out, len(y))


def pitch_shift(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Phase-vocoder pitch shift by 3-6 semitones up or down (librosa)."""
    import librosa

    steps = rng.uniform(3, 6) * rng.choice([-1, 1])
    return _fit(librosa.effects.pitch_shift(np.asarray(y, np.float32), sr=SR, n_steps=float(steps)), len(y))


VOCODER_FUNCS = {"world": world, "griffinlim": griffinlim, "lpc": lpc}
