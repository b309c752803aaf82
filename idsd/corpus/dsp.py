"""Signal processing shared by both classes of the embedded suite.

The point of this module is that real and fake clips go through *identical* post-processing, so
a detector cannot win on trivial cues (sample rate, codec band, loudness, digital silence):
:func:`common_chain` (resampling through 22.05 kHz, G.722 round trip), :func:`finish` (random
gain around -23 dBFS, a noise floor at a random SNR) and, for ``mini-rerec``,
:func:`playback_channel` (loudspeaker, room, microphone, background noise).
"""

from __future__ import annotations

import numpy as np
import soxr
from scipy import signal

from idsd import CLIP_SAMPLES, SAMPLE_RATE

SR = SAMPLE_RATE
G722_DELAY = 22


def to_16k(y: np.ndarray, sr: int) -> np.ndarray:
    """Resample any rate to 16 kHz through a common 22.05 kHz stage (same chain for every clip).

    Returns
    -------
    numpy.ndarray, shape (n,), float32
    """
    y = np.asarray(y, dtype=np.float32)
    if sr != 22050:
        y = soxr.resample(y, sr, 22050, quality="HQ")
    return soxr.resample(y, 22050, SR, quality="HQ").astype(np.float32)


def g722_roundtrip(y: np.ndarray) -> np.ndarray:
    """G.722 64 kbit/s encode + decode at 16 kHz (the reals' own codec), shape preserved."""
    import G722

    pcm = np.clip(np.round(y * 32767.0), -32768, 32767).astype(np.int16)
    out = np.asarray(G722.G722(SR, 64000).decode(G722.G722(SR, 64000).encode(pcm)), dtype=np.float32) / 32768.0
    out = out[G722_DELAY:]  # the codec's QMF filter bank delays the signal by 22 samples
    if len(out) < len(y):
        out = np.pad(out, (0, len(y) - len(out)))
    return out[: len(y)]


def common_chain(y: np.ndarray, sr: int) -> np.ndarray:
    """The resampling + codec chain every clip of the suite goes through (both classes)."""
    return g722_roundtrip(to_16k(y, sr))


def trim(y: np.ndarray, top_db: float = 35.0, frame: int = 320, margin: int = 800) -> np.ndarray:
    """Cut leading/trailing silence: 20-ms frames below ``top_db`` under the loudest frame.

    Returns
    -------
    numpy.ndarray, shape (m,), with ``margin`` samples kept on each side of the speech.
    """
    y = np.asarray(y, dtype=np.float32)
    n = len(y) // frame
    if n == 0:
        return y
    rms = np.sqrt(np.mean(y[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1) + 1e-20)
    db = 20 * np.log10(rms / rms.max())
    on = np.flatnonzero(db > -top_db)
    if len(on) == 0:
        return y[:0]
    a = max(0, on[0] * frame - margin)
    b = min(len(y), (on[-1] + 1) * frame + margin)
    return y[a:b]


def n_windows(n_samples: int, max_windows: int | None) -> int:
    """Non-overlapping 2-s windows in ``n_samples`` (remainder dropped), at most ``max_windows`` (None: all)."""
    k = n_samples // CLIP_SAMPLES
    return k if max_windows is None else min(int(max_windows), k)


def windows(y: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``k`` consecutive non-overlapping 2-s windows at a random offset inside the slack."""
    slack = len(y) - k * CLIP_SAMPLES
    if k <= 0 or slack < 0:
        return []
    off = int(rng.integers(0, slack + 1))
    return [y[off + i * CLIP_SAMPLES: off + (i + 1) * CLIP_SAMPLES].copy() for i in range(k)]


def rms_db(y: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(y, dtype=np.float64))) + 1e-12))


def finish(y: np.ndarray, rng: np.random.Generator, level_db: float = -23.0, gain_db: float = 6.0,
           snr_db: tuple[float, float] = (35.0, 50.0), crest_db: tuple[float, float] = (9.0, 12.0)) -> np.ndarray:
    """Peak limiting, loudness and noise floor, identical in distribution for both classes.

    A tanh soft limiter at a random crest factor in ``crest_db`` (so peakiness is no cue), RMS
    to ``level_db`` plus a uniform random gain in ``[-gain_db, +gain_db]`` dB (peak limited
    to 0.98), then white noise at a uniform random SNR in ``snr_db`` (no digital zeros remain).

    Returns
    -------
    numpy.ndarray, shape (n,), float32
    """
    y = soft_limit(y, rng.uniform(*crest_db)).astype(np.float64)
    target = level_db + rng.uniform(-gain_db, gain_db)
    y = y * 10 ** ((target - rms_db(y)) / 20)
    peak = np.max(np.abs(y)) if len(y) else 0.0
    if peak > 0.98:
        y *= 0.98 / peak
    noise_rms = np.sqrt(np.mean(y**2)) * 10 ** (-rng.uniform(*snr_db) / 20)
    y = y + rng.normal(0.0, noise_rms, size=len(y))
    return np.clip(y, -1, 1).astype(np.float32)


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.arange(len(spec))
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-12)


def room_impulse(rng: np.random.Generator, rt60: float, drr_db: float) -> np.ndarray:
    """A synthetic room impulse response: direct path + exponentially decaying diffuse tail.

    Returns
    -------
    numpy.ndarray, shape (m,), float64 (unit direct path)
    """
    n = int(min(1.0, rt60) * SR)
    t = np.arange(n) / SR
    tail = rng.normal(size=n) * np.exp(-6.908 * t / rt60)
    tail[: int(0.0025 * SR)] = 0  # first reflections arrive after ~2.5 ms
    tail = signal.sosfilt(signal.butter(2, 6000, "low", fs=SR, output="sos"), tail)
    tail *= 10 ** (-drr_db / 20) / (np.sqrt(np.sum(tail**2)) + 1e-12)
    tail[0] += 1.0
    return tail


def playback_channel(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Simulated replay: loudspeaker -> room -> microphone -> background noise (FoR-rerec style).

    Loudspeaker: band-pass (high-pass 120-300 Hz, low-pass 4.5-7 kHz) and soft saturation;
    room: :func:`room_impulse` with RT60 0.15-0.7 s and direct-to-reverberant ratio 0-12 dB;
    microphone: high-pass 80 Hz and a random presence peak; pink background noise at 15-30 dB SNR.

    Returns
    -------
    numpy.ndarray, same length as ``y``, float32
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    y = signal.sosfilt(signal.butter(2, rng.uniform(120, 300), "high", fs=SR, output="sos"), y)
    y = signal.sosfilt(signal.butter(4, rng.uniform(4500, 7000), "low", fs=SR, output="sos"), y)
    drive = rng.uniform(1.0, 4.0)
    y = y / (np.max(np.abs(y)) + 1e-9)
    y = np.tanh(drive * y) / np.tanh(drive)
    y = signal.fftconvolve(y, room_impulse(rng, rng.uniform(0.15, 0.7), rng.uniform(0.0, 12.0)))[:n]
    y = signal.sosfilt(signal.butter(1, 80, "high", fs=SR, output="sos"), y)
    f0, q, g = rng.uniform(2000, 5000), rng.uniform(1.0, 3.0), rng.uniform(0.0, 0.5)
    b, a = signal.iirpeak(f0, q, fs=SR)
    y = y + g * signal.lfilter(b, a, y)
    noise = _pink(n, rng) * np.sqrt(np.mean(y**2)) * 10 ** (-rng.uniform(15, 30) / 20)
    return (y + noise).astype(np.float32)


N_FFT_MATCH = 512


def long_term_spectrum(y: np.ndarray) -> np.ndarray:
    """Long-term average log power spectrum (Welch, 512-point), shape (257,), dB."""
    _, pxx = signal.welch(np.asarray(y, dtype=np.float64), fs=SR, nperseg=N_FFT_MATCH)
    return 10 * np.log10(pxx + 1e-14)


def matching_curve(target_db: np.ndarray, source_db: np.ndarray, max_db: float = 15.0, smooth: int = 9) -> np.ndarray:
    """Smoothed, clipped gain curve (dB, shape (257,)) that moves ``source`` towards ``target``."""
    delta = np.asarray(target_db, np.float64) - np.asarray(source_db, np.float64)
    delta = np.convolve(np.pad(delta, smooth // 2, mode="edge"), np.ones(smooth) / smooth, mode="valid")
    return np.clip(delta - np.median(delta), -max_db, max_db)


def apply_curve(y: np.ndarray, curve_db: np.ndarray) -> np.ndarray:
    """Zero-phase equalisation of a clip by a gain curve sampled on the 257 Welch bins."""
    y = np.asarray(y, dtype=np.float64)
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(len(y), 1 / SR)
    gain = 10 ** (np.interp(f, np.linspace(0, SR / 2, len(curve_db)), curve_db) / 20)
    return np.fft.irfft(spec * gain, len(y)).astype(np.float32)


def soft_limit(y: np.ndarray, crest_db: float) -> np.ndarray:
    """Soft-clip peaks above ``crest_db`` over the clip's RMS (tanh), the same rule for every clip."""
    y = np.asarray(y, dtype=np.float64)
    level = np.sqrt(np.mean(y**2)) * 10 ** (crest_db / 20) + 1e-12
    return (level * np.tanh(y / level)).astype(np.float32)
