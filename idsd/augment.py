"""Waveform data augmentation for training a detector: the field's usual set, seeded and tested.

Every augmentation is a pure function of ``(clips, rng, parameters)`` on 16 kHz float32 clips,
shape ``(n, n_samples)`` (a batch; 2-s clips are ``(n, 32000)``) or ``(n_samples,)`` (one clip):
the input is never modified, the output has the input's shape, is float32, finite and within
[-1, 1], and the same seed gives the same output.

======================  ==========================================================================
function                what it simulates
======================  ==========================================================================
:func:`gain`            another recording level (random dB)
:func:`add_noise`       white/pink/brown background noise at a random SNR (on the active power)
:func:`band_limit`      a band-limited channel (low-/high-/band-pass, telephone 300-3400 Hz)
:func:`reverb`          a room (synthetic exponentially decaying noise impulse response, random RT60)
:func:`rawboost`        RawBoost (Tak et al., ICASSP 2022): convolutive, impulsive, stationary noise
:func:`codec_pool`      lossy codec round trips through ffmpeg (mp3, opus, aac, G.722, G.711, GSM)
======================  ==========================================================================

The codec round trips are subprocesses, far too slow for every batch: :func:`codec_pool`
precomputes one random round trip per clip, once (one ffmpeg encode and one decode per codec and
bitrate, the clips of that group concatenated with silent guards and split again at their exact
offsets), and the on-the-fly chain draws from it.

:class:`Augmenter` chains the on-the-fly steps, each with its own probability, to both classes
alike (an augmentation applied to one class only would become a label cue), and
:class:`AugmentedBatches` feeds Keras with batches of features extracted from augmented
waveforms, each batch seeded by (seed, epoch, batch index) so that a run is reproducible and
any batch can be recomputed.

Overlap with the study's modified speech (:mod:`idsd.perturb`): ``volume`` (gain), ``noise``,
``reverb``, ``reduce``/``downsample`` (band limits) and the ``mp3``/``aac`` round trips are close
relatives of these augmentations. A detector trained with them has seen those conditions, so its
row of the modified-speech robustness table measures robustness to *trained-for* conditions, not
to unseen ones; the model card (:meth:`Augmenter.to_dict`) records what was used.

Run :func:`benchmark` to see the cost of each step in ms per clip next to the feature extraction
of the same batch.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields

import keras
import numpy as np
import scipy.fft as sfft
from scipy import signal

from idsd import SAMPLE_RATE
from idsd.cache import _store
from idsd.features import FeatureConfig, extract_batch
from idsd.perturb import _run
from idsd.validate import ffmpeg_input

log = logging.getLogger(__name__)

SR = SAMPLE_RATE
NOISE_COLORS = ("white", "pink", "brown")
"""Noise colours of :func:`add_noise`: power spectral density ~ 1/f^0, 1/f^1, 1/f^2."""
_COLOR_EXPONENT = {"white": 0.0, "pink": 1.0, "brown": 2.0}
BAND_KINDS = ("lowpass", "highpass", "bandpass", "telephone")
"""Filters of :func:`band_limit`."""
TELEPHONE_HZ = (300.0, 3400.0)
"""Pass band of the ``telephone`` filter (ITU-T narrowband telephony)."""
RAWBOOST_ALGOS = {"lnl": 1, "isd": 2, "ssi": 3, "lnl+isd+ssi": 4, "lnl+isd": 5, "lnl+ssi": 6, "isd+ssi": 7,
                  "lnl|isd": 8}
"""RawBoost combinations by name -> the paper's algorithm number (``+``: in series, ``|``: in parallel)."""
STEPS = ("reverb", "noise", "band", "rawboost", "gain")
"""The on-the-fly steps of :class:`Augmenter` in their default order (the codec pool always comes first)."""

Seed = np.random.Generator | int | Sequence[int]


# --------------------------------------------------------------------------------------------
# helpers


def _rng(rng: Seed) -> np.random.Generator:
    """A Generator from a Generator (used as is) or a seed (int or sequence of ints)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:  # every augmentation is reproducible by design: no entropy from the OS
        raise ValueError("give a seed or a numpy Generator, not None")
    return np.random.default_rng(rng)


def _batch(clips) -> tuple[np.ndarray, bool]:
    """(n, L) float32 copy of ``clips`` and whether the input was one clip (L,)."""
    Y = np.array(clips, dtype=np.float32, copy=True)
    if Y.ndim == 1:
        return Y[None], True
    if Y.ndim != 2:
        raise ValueError(f"clips must have shape (n, n_samples) or (n_samples,), got {Y.shape}")
    return Y, False


def _out(Y: np.ndarray, single: bool) -> np.ndarray:
    Y = Y.astype(np.float32, copy=False)
    # one pass without a temporary: a float64 sum of float32 values cannot overflow, so it is
    # finite exactly when every sample is; the copy only when something must be fixed
    if not np.isfinite(np.sum(Y, dtype=np.float64)):
        Y = np.nan_to_num(Y, nan=0.0, posinf=0.0, neginf=0.0)
    return Y[0] if single else Y


def _range(r, name: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in r)
    if not lo <= hi:
        raise ValueError(f"{name}: range ({lo}, {hi}) must have low <= high")
    return lo, hi


def _uniform(rng: np.random.Generator, r, n: int, name: str = "range") -> np.ndarray:
    lo, hi = _range(r, name)
    return rng.uniform(lo, hi, n)


def peak_limit(clips: np.ndarray) -> np.ndarray:
    """Scale down each clip whose peak exceeds 1 so that its peak is exactly 1; others unchanged.

    A static (whole-clip) limiter: no clipping distortion, the waveform shape is kept, only the
    clips that need it change (by ``1 / peak``).

    Parameters
    ----------
    clips : numpy.ndarray, shape (n, L) or (L,), float32

    Returns
    -------
    numpy.ndarray, same shape, float32, within [-1, 1]
    """
    Y = np.asarray(clips, dtype=np.float32)
    peak = np.maximum(Y.max(axis=-1, keepdims=True), -Y.min(axis=-1, keepdims=True))  # no |Y| temporary
    over = peak[..., 0] > 1.0
    if not over.any():
        return Y
    Y = Y.copy()
    # division, not multiplication by 1/peak: x / x == 1 exactly, so the limit is never overshot
    Y[over] = Y[over] / peak[over]
    return Y


def active_power(clips: np.ndarray, frame: int = 320, floor_db: float = -40.0) -> np.ndarray:
    """Mean power of the active frames of each clip (the speech, not the pauses).

    Frames of ``frame`` samples (20 ms) whose mean power is within ``floor_db`` of the clip's
    loudest frame count as active (a simplified ITU-T P.56 active level): an SNR on this power
    does not depend on how much silence a clip has.

    Parameters
    ----------
    clips : numpy.ndarray, shape (n, L) or (L,)
    frame : int
    floor_db : float (< 0)

    Returns
    -------
    numpy.ndarray, shape (n,) (a scalar array for one clip), float64; 0 for a silent clip
    """
    Y = np.asarray(clips, dtype=np.float32)
    single = Y.ndim == 1
    Y = np.atleast_2d(Y)
    n, L = Y.shape
    k = max(1, L // frame)
    Y2 = np.square(Y[:, : k * frame] if L >= frame else Y)
    e = np.mean(Y2.reshape(n, k, -1) if L >= frame else Y2[:, None], axis=-1, dtype=np.float64)
    active = e >= e.max(axis=1, keepdims=True) * 10 ** (floor_db / 10)
    p = np.sum(e * active, axis=1) / np.maximum(active.sum(axis=1), 1)
    return p[0] if single else p


# --------------------------------------------------------------------------------------------
# gain, noise, band limits, reverberation


def gain(clips, rng: Seed, db=(-12.0, 6.0)) -> np.ndarray:
    """Multiply each clip by a random gain, uniform in dB.

    Parameters
    ----------
    clips : numpy.ndarray, shape (n, L) or (L,), float32
    rng : numpy.random.Generator or seed
    db : (low, high)
        Gain range in dB (one draw per clip).

    Returns
    -------
    numpy.ndarray, same shape, float32
        ``clip * 10 ** (g / 20)``; a clip whose peak would exceed 1 is scaled back to peak 1
        (:func:`peak_limit`): its effective gain is ``min(g, -peak_dBFS)``, never clipped.
    """
    Y, single = _batch(clips)
    g = _uniform(_rng(rng), db, len(Y), "gain db")
    # in array mode the features are linear magnitudes: level is a cue the detector must not rely on
    Y *= (10 ** (g / 20)).astype(np.float32)[:, None]  # in place: Y is already our own copy
    return _out(peak_limit(Y), single)


def _white_spectrum(rng: np.random.Generator, n: int, nfft: int) -> np.ndarray:
    """Random rfft coefficients of white noise, shape (n, nfft // 2 + 1), complex64.

    Real and imaginary parts uniform in [-1, 1]: every time sample of the inverse FFT is a sum of
    ``nfft`` independent terms, Gaussian by the central limit theorem, with a flat expected power
    spectrum; uniform draws cost a fifth of Gaussian ones and one FFT is saved.
    """
    U = rng.random((n, 2, nfft // 2 + 1), dtype=np.float32) * np.float32(2) - np.float32(1)
    return U[:, 0] + np.complex64(1j) * U[:, 1]


@functools.lru_cache(maxsize=16)
def _color_shape(L: int, color: str) -> np.ndarray:
    """``f^(-alpha/2)`` on the rfft grid of L samples (DC set to the first bin's value), float32."""
    f = np.fft.rfftfreq(L, 1 / SR)
    f[0] = f[1] if L > 1 else 1.0
    return (f ** (-_COLOR_EXPONENT[color] / 2)).astype(np.float32)


def colored_noise(shape, rng: Seed, color="white") -> np.ndarray:
    """Gaussian noise with a 1/f^alpha power spectrum, unit RMS per row.

    Parameters
    ----------
    shape : int or (n, L)
    rng : numpy.random.Generator or seed
    color : str or sequence of str
        ``white`` (alpha 0), ``pink`` (1) or ``brown`` (2); one per row, or one for all.

    Returns
    -------
    numpy.ndarray, shape ``shape``, float32
        Zero mean (the DC bin is removed). Made in the frequency domain
        (:func:`_white_spectrum` shaped by ``f^(-alpha/2)``, one inverse FFT for the whole batch,
        whatever the colours of the rows); samples are Gaussian by the central limit theorem.
    """
    shape = (1, int(shape)) if np.isscalar(shape) else tuple(int(s) for s in shape)
    n, L = shape if len(shape) == 2 else (1, shape[0])
    colors = [color] * n if isinstance(color, str) else list(color)
    if len(colors) != n or any(c not in _COLOR_EXPONENT for c in colors):
        raise ValueError(f"color: one of {NOISE_COLORS} per row ({n} rows), got {color!r}")
    S = _white_spectrum(_rng(rng), n, L)
    for c in set(colors) - {"white"}:  # amplitude ~ f^(-alpha/2): power ~ f^-alpha
        rows = np.array([k == c for k in colors])
        S[rows] *= _color_shape(L, c)
    S[:, 0] = 0.0
    x = sfft.irfft(S, n=L, axis=-1)
    x /= np.sqrt(np.mean(x * x, axis=-1, keepdims=True)) + np.float32(1e-20)
    return x.astype(np.float32, copy=False).reshape(shape)


def add_noise(clips, rng: Seed, snr_db=(10.0, 40.0), colors=NOISE_COLORS) -> np.ndarray:
    """Add coloured Gaussian noise at a random SNR, measured on each clip's active power.

    Parameters
    ----------
    clips : numpy.ndarray, shape (n, L) or (L,), float32
    rng : numpy.random.Generator or seed
    snr_db : (low, high)
        Uniform SNR range in dB: ``10 log10(active_power(clip) / mean(noise**2))``
        (:func:`active_power`).
    colors : sequence of str
        Colours drawn from uniformly per clip (:data:`NOISE_COLORS`).

    Returns
    -------
    numpy.ndarray, same shape, float32
        ``clip + noise``; a mixture whose peak exceeds 1 is scaled down as a whole
        (:func:`peak_limit`), which keeps its SNR. A silent clip (active power 0) is unchanged.
    """
    Y, single = _batch(clips)
    r = _rng(rng)
    n, L = Y.shape
    colors = tuple(colors)
    snr = _uniform(r, snr_db, n, "snr_db")
    pick = r.integers(0, len(colors), n)
    N = colored_noise((n, L), r, [colors[k] for k in pick])
    scale = np.sqrt(active_power(Y) / 10 ** (snr / 10))
    return _out(peak_limit(Y + (N * scale[:, None]).astype(np.float32)), single)


def band_limit(clips, rng: Seed, kinds=BAND_KINDS, low_hz=(50.0, 600.0), high_hz=(2500.0, 7000.0),
               order: int = 4) -> np.ndarray:
    """Filter each clip with a random Butterworth low-, high- or band-pass, zero phase.

    Parameters
    ----------
    clips : numpy.ndarray, shape (n, L) or (L,), float32
    rng : numpy.random.Generator or seed
    kinds : sequence of str
        Drawn uniformly per clip from :data:`BAND_KINDS`: ``lowpass`` (cutoff from ``high_hz``),
        ``highpass`` (cutoff from ``low_hz``), ``bandpass`` (both: the high-pass and the low-pass
        in one cascade), ``telephone`` (:data:`TELEPHONE_HZ`, fixed, the same cascade).
    low_hz, high_hz : (low, high)
        Uniform ranges of the lower and upper cutoff in Hz (rounded to 1 Hz, so that the filter
        designs are cached; the upper one at most 0.99 x Nyquist).
    order : int
        Butterworth order of each filter; ``scipy.signal.sosfiltfilt`` runs it forward and
        backward (zero phase, so the time-frequency structure stays aligned; the magnitude
        response is squared: -6 dB at the cutoff, 2 x ``order`` poles' slope).

    Returns
    -------
    numpy.ndarray, same shape, float32, peak-limited (:func:`peak_limit`)
    """
    Y, single = _batch(clips)
    r = _rng(rng)
    n = len(Y)
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in BAND_KINDS]
    if bad or not kinds:
        raise ValueError(f"band kinds must be among {BAND_KINDS}, got {kinds!r}")
    pick = r.integers(0, len(kinds), n)
    lo = _uniform(r, low_hz, n, "low_hz")
    hi = _uniform(r, high_hz, n, "high_hz")
    for i in range(n):  # one filter per clip (random cutoffs): a loop over rows, ~0.5 ms each
        kind = kinds[pick[i]]
        a, b = TELEPHONE_HZ if kind == "telephone" else (lo[i], hi[i])
        parts = ([_butter(order, "highpass", a)] if kind != "lowpass" else []) + \
                ([_butter(order, "lowpass", b)] if kind != "highpass" else [])
        Y[i] = signal.sosfiltfilt(np.vstack(parts), Y[i]).astype(np.float32)
    return _out(peak_limit(Y), single)


@functools.lru_cache(maxsize=8192)
def _butter_cached(order: int, kind: str, hz: int) -> np.ndarray:
    return signal.butter(order, min(hz, 0.99 * SR / 2), kind, fs=SR, output="sos")


def _butter(order: int, kind: str, hz: float) -> np.ndarray:
    """Butterworth sos of a cutoff rounded to 1 Hz: the designs (~0.3 ms each) are cached."""
    return _butter_cached(int(order), kind, max(1, int(round(hz))))


def impulse_response(rng: Seed, rt60_s: float, drr_db: float, sr: int = SR) -> np.ndarray:
    """A synthetic room impulse response: a direct path plus an exponentially decaying noise tail.

    ``h[0]`` is the direct path (1); ``h[k] = a w[k] exp(-3 ln(10) k / (sr rt60))`` for
    ``k = 1 .. ceil(rt60 sr) - 1``, ``w`` white Gaussian noise: the tail's energy decays by 60 dB
    in ``rt60`` seconds (the definition of RT60), and ``a`` sets the direct-to-reverberant energy
    ratio ``10 log10(1 / sum(tail**2)) = drr_db``.

    Returns
    -------
    numpy.ndarray, shape (ceil(rt60_s * sr),), float64
    """
    m = max(2, int(math.ceil(rt60_s * sr)))
    k = np.arange(1, m)
    tail = _rng(rng).standard_normal(m - 1) * np.exp(-3 * np.log(10) * k / (rt60_s * sr))
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    return np.concatenate([[1.0], tail])


def reverb(clips, rng: Seed, rt60_s=(0.1, 0.8), drr_db=(-3.0, 9.0)) -> np.ndarray:
    """Convolve each clip with a random synthetic room impulse response (:func:`impulse_response`).

    Parameters
    ----------
    clips : numpy.ndarray, shape (n, L) or (L,), float32
    rng : numpy.random.Generator or seed
    rt60_s : (low, high)
        Uniform reverberation time range in seconds.
    drr_db : (low, high)
        Uniform direct-to-reverberant energy ratio range in dB.

    Returns
    -------
    numpy.ndarray, same shape, float32
        ``fftconvolve(clip, h)[:L]``: the direct path at lag 0 keeps the clip aligned, the tail
        beyond the clip is cut; then scaled to the clip's RMS (level-matched, so that reverb does
        not also act as a gain) and peak-limited (:func:`peak_limit`).
    """
    Y, single = _batch(clips)
    r = _rng(rng)
    n, L = Y.shape
    t60 = _uniform(r, rt60_s, n, "rt60_s")
    if t60.size and t60.min() <= 0:
        raise ValueError("rt60_s must be > 0")
    drr = _uniform(r, drr_db, n, "drr_db")
    hs = [impulse_response(r, t60[i], drr[i]) for i in range(n)]
    M = max((len(h) for h in hs), default=1)
    H = np.zeros((n, M), np.float32)
    for i, h in enumerate(hs):
        H[i, : len(h)] = h
    # one batched float32 FFT convolution (rows padded to the longest response) instead of n calls
    Z = signal.fftconvolve(Y, H, mode="full", axes=-1)[:, :L]
    rms_in = np.sqrt(np.mean(Y.astype(np.float64) ** 2, axis=-1, keepdims=True))
    rms_out = np.sqrt(np.mean(Z.astype(np.float64) ** 2, axis=-1, keepdims=True))
    Z = Z * np.where(rms_out > 0, rms_in / np.maximum(rms_out, 1e-30), 0.0).astype(np.float32)
    return _out(peak_limit(Z.astype(np.float32)), single)


# --------------------------------------------------------------------------------------------
# RawBoost


@dataclass(frozen=True)
class RawBoost:
    """Parameters of :func:`rawboost`: the paper's defaults (Tak et al., ICASSP 2022).

    Attributes
    ----------
    algos : tuple of str
        Combinations drawn uniformly per clip (:data:`RAWBOOST_ALGOS`). Default ``("lnl+isd",
        "ssi")``: algorithm 5 (LnL then ISD), the configuration Tak et al. (Odyssey 2022,
        wav2vec 2.0 + AASIST) trained their ASVspoof LA model with, and algorithm 3 (SSI), the
        one of their DF model: a detector for both kinds of data sees both.
    n_bands : int
        Notch filters cascaded in one filter (5).
    f_hz : (low, high)
        Centre frequency range of a notch (20-8000 Hz).
    bw_hz : (low, high)
        Bandwidth range of a notch (100-1000 Hz).
    taps : (low, high)
        FIR length range of a notch (10-100; made odd).
    n_orders : int or (low, high)
        Non-linearity orders N_f of LnL (5, the paper's; a range draws N_f per clip).
    lnl_gain_db : (low, high)
        Gain range of the linear (order-1) filter (0 dB).
    lnl_bias_db : (low, high)
        Subtracted from ``lnl_gain_db`` for orders >= 2 (5-20 dB: the higher-order terms sit
        5-20 dB below the linear one).
    isd_max_percent : float
        P: at most this percent of the samples get impulsive noise (10).
    isd_gain : float
        g_sd, the impulse scale relative to the sample (2).
    ssi_snr_db : (low, high)
        SNR range of the stationary noise (10-40 dB).
    ssi_gain_db : (low, high)
        Gain of the SSI colouring filter (0 dB; irrelevant after the SNR scaling, kept for 1:1).
    """

    algos: tuple = ("lnl+isd", "ssi")
    n_bands: int = 5
    f_hz: tuple = (20.0, 8000.0)
    bw_hz: tuple = (100.0, 1000.0)
    taps: tuple = (10, 100)
    n_orders: int | tuple = 5
    lnl_gain_db: tuple = (0.0, 0.0)
    lnl_bias_db: tuple = (5.0, 20.0)
    isd_max_percent: float = 10.0
    isd_gain: float = 2.0
    ssi_snr_db: tuple = (10.0, 40.0)
    ssi_gain_db: tuple = (0.0, 0.0)

    def __post_init__(self):
        for f in fields(self):  # lists (from JSON) -> tuples: hashable, comparable
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(v))
        algos = (self.algos,) if isinstance(self.algos, str) else tuple(self.algos)
        object.__setattr__(self, "algos", algos)
        bad = [a for a in algos if a not in RAWBOOST_ALGOS]
        if bad or not algos:
            raise ValueError(f"RawBoost algos must be among {tuple(RAWBOOST_ALGOS)}, got {algos!r}")
        for name in ("f_hz", "bw_hz", "taps", "lnl_gain_db", "lnl_bias_db", "ssi_snr_db", "ssi_gain_db"):
            _range(getattr(self, name), name)
        lo, hi = self.orders
        if lo < 1:
            raise ValueError("n_orders must be >= 1")
        if not 0 <= self.isd_max_percent <= 100:
            raise ValueError("isd_max_percent must be in [0, 100]")

    @property
    def orders(self) -> tuple[int, int]:
        """(min, max) non-linearity orders N_f."""
        o = self.n_orders
        return (int(o), int(o)) if np.isscalar(o) else tuple(int(v) for v in _range(o, "n_orders"))


def _bandstops(rng: np.random.Generator, count: int, f_hz, bw_hz, taps, sr: int = SR) -> list[np.ndarray]:
    """``count`` random Hamming-windowed band-stop FIRs, designed in one vectorised step.

    Centre ``fc ~ U(f_hz)``, bandwidth ``bw ~ U(bw_hz)``, length ``m ~ U{taps}`` made odd (a
    linear-phase band-stop needs an odd length); stop band ``[fc - bw/2, fc + bw/2]`` clamped into
    (0, sr/2). The window method: ``h[k] = w[k] (c1 sinc(c1 k) + sinc(k) - c2 sinc(c2 k))`` on
    ``k = -(m-1)/2 .. (m-1)/2`` with ``c = f / (sr/2)``, ``w`` the Hamming window, scaled to gain 1
    at 0 Hz (what ``scipy.signal.firwin(m, [f1, f2], window="hamming")`` gives; tested).

    Returns
    -------
    list of numpy.ndarray, each shape (m_i,), float64, symmetric; ``[1.]`` for a band that does
    not fit (too short, or outside (0, sr/2)).
    """
    nyq = sr / 2
    fc = rng.uniform(*_range(f_hz, "f_hz"), count)
    bw = rng.uniform(*_range(bw_hz, "bw_hz"), count)
    tlo, thi = (int(v) for v in _range(taps, "taps"))
    m = rng.integers(tlo, thi + 1, count) | 1
    f1, f2 = np.maximum(fc - bw / 2, 1e-3), np.minimum(fc + bw / 2, nyq - 1e-3)
    ok = (m >= 3) & (f1 < f2)
    if not count:
        return []
    M = int(m.max())
    k = np.arange(M) - (M - 1) / 2  # a centred grid; each filter uses |k| <= (m - 1) / 2
    c1, c2 = (f1 / nyq)[:, None], (f2 / nyq)[:, None]
    h = c1 * np.sinc(c1 * k) + np.sinc(k) - c2 * np.sinc(c2 * k)
    half = ((m - 1) / 2)[:, None]
    w = np.where(np.abs(k) <= half, 0.54 + 0.46 * np.cos(np.pi * k / np.maximum(half, 1)), 0.0)
    h *= w
    h /= h.sum(axis=1, keepdims=True)
    lo = (M - m) // 2
    return [h[i, lo[i]:lo[i] + m[i]] if ok[i] else np.ones(1) for i in range(count)]


def _notch_cascades(rng: np.random.Generator, count: int, config: RawBoost) -> list[np.ndarray]:
    """``count`` cascades of ``config.n_bands`` random band-stops (unscaled), see :func:`notch_filter`."""
    nb = int(config.n_bands)
    bands = _bandstops(rng, count * nb, config.f_hz, config.bw_hz, config.taps)
    out = []
    for i in range(count):
        b = np.ones(1)
        for h in bands[i * nb:(i + 1) * nb]:
            b = np.convolve(b, h)  # short filters: the time-domain cascade is cheaper than FFTs
        out.append(b)
    return out


def notch_filter(rng: Seed, n_bands: int = 5, f_hz=(20.0, 8000.0), bw_hz=(100.0, 1000.0), taps=(10, 100),
                 gain_db=(0.0, 0.0), sr: int = SR, nfft: int = 32768) -> np.ndarray:
    """A random multi-notch FIR filter: RawBoost's filter, written from the paper's description.

    ``n_bands`` random band-stop FIRs (:func:`_bandstops`: centre ``U(f_hz)``, bandwidth
    ``U(bw_hz)``, ``U{taps}`` taps, Hamming window) cascaded (convolved), then scaled so that the
    peak magnitude response (on an ``nfft``-point grid) is ``10 ** (G / 20)``, ``G ~ U(gain_db)``.

    Returns
    -------
    numpy.ndarray, shape (m_total,), float64, odd length, symmetric (linear phase)
    """
    r = _rng(rng)
    cfg = RawBoost(n_bands=n_bands, f_hz=tuple(f_hz), bw_hz=tuple(bw_hz), taps=tuple(taps))
    b = _notch_cascades(r, 1, cfg)[0]
    g = r.uniform(*_range(gain_db, "gain_db"))
    peak = np.max(np.abs(np.fft.rfft(b, n=max(nfft, 2 * len(b)))))
    return b * (10 ** (g / 20) / max(peak, 1e-12))


def _filter_spectra(B: list[np.ndarray], gains_db: np.ndarray, nfft: int) -> np.ndarray:
    """Zero-phase frequency response (nfft-point rfft grid) of each odd symmetric filter, scaled.

    Each filter is placed with its centre tap at sample 0 (the taps before it wrapped to the end
    of the nfft buffer): its response is then real (a symmetric filter has zero phase about its
    centre), filtering with it keeps the signal aligned (the reference's ``filter_FIR`` also
    removes the delay), and with ``nfft >= L + len(b) - 1`` the product with a signal's rfft is
    the exact linear, centred convolution on samples 0..L-1. The peak magnitude on the grid is
    set to ``10 ** (gain_db / 20)``.

    Returns
    -------
    numpy.ndarray, shape (len(B), nfft // 2 + 1), float32
    """
    H = np.zeros((len(B), nfft), np.float32)
    for i, b in enumerate(B):
        d = (len(b) - 1) // 2
        H[i, :d + 1] = b[d:]
        if d:
            H[i, nfft - d:] = b[:d]
    F = sfft.rfft(H, axis=-1).real  # the imaginary part is rounding noise (symmetric filters)
    peak = np.max(np.abs(F), axis=-1, keepdims=True)
    F *= (10 ** (np.asarray(gains_db, np.float64)[:, None] / 20) / np.maximum(peak, 1e-12)).astype(np.float32)
    return F


def _match_peak(Z: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Scale each row of Z to the peak of the row of ref (RawBoost normalises to peak 1 instead)."""
    pz = np.max(np.abs(Z), axis=-1, keepdims=True)
    pr = np.max(np.abs(ref), axis=-1, keepdims=True)
    return Z * np.where(pz > 0, pr / np.maximum(pz, 1e-30), 0.0).astype(Z.dtype)


LNL_CHUNK = 16
"""Clips per LnL FFT block (bounds memory: ~25 MB for 5 orders)."""


def lnl_noise(clips, rng: Seed, config: RawBoost | None = None) -> np.ndarray:
    """RawBoost (1): linear and non-linear convolutive noise.

    ``y = sum_{j=1..N_f} b_j * x**j``: the j-th power of the clip filtered by its own random
    multi-notch filter b_j (:func:`notch_filter` with ``config``'s bands; peak gain ``G ~
    U(lnl_gain_db)`` for j = 1 and ``G ~ U(lnl_gain_db - lnl_bias_db)`` for j >= 2), then the
    mean removed and ``y`` scaled to the clip's peak. Filters are applied centred (no delay), as
    linear convolutions in the frequency domain: the N_f products are summed before one inverse
    FFT per clip.

    Returns
    -------
    numpy.ndarray, same shape as ``clips``, float32
    """
    config = config or RawBoost()
    Y, single = _batch(clips)
    r = _rng(rng)
    n, L = Y.shape
    lo, hi = config.orders
    g0 = _range(config.lnl_gain_db, "lnl_gain_db")
    bias = _range(config.lnl_bias_db, "lnl_bias_db")
    nf = r.integers(lo, hi + 1, n)
    B = _notch_cascades(r, n * hi, config)  # (clip, order) in row-major order
    g_lin = r.uniform(*g0, n)
    g_nl = r.uniform(*sorted((g0[0] - bias[0], g0[1] - bias[1])), (n, max(hi - 1, 0)))
    gains = np.concatenate([g_lin[:, None], g_nl], axis=1).reshape(-1)
    M = max(len(b) for b in B)
    nfft = sfft.next_fast_len(L + M - 1, real=True)
    out = np.empty((n, L), np.float32)
    for a in range(0, n, LNL_CHUNK):
        rows = slice(a, min(n, a + LNL_CHUNK))
        X = Y[rows]
        P = np.empty((len(X), hi, L), np.float32)  # x, x^2, ..., x^N_f by repeated products
        P[:, 0] = X
        for j in range(1, hi):
            P[:, j] = P[:, j - 1] * X
        F = _filter_spectra(B[a * hi:rows.stop * hi], gains[a * hi:rows.stop * hi], nfft)
        F = F.reshape(len(X), hi, -1)
        F[np.arange(hi)[None, :] >= nf[rows, None]] = 0  # orders beyond a clip's N_f contribute 0
        S = sfft.rfft(P, nfft, axis=-1)
        S *= F
        Z = sfft.irfft(S.sum(axis=1), nfft, axis=-1)[:, :L]
        Z -= Z.mean(axis=-1, keepdims=True)
        out[rows] = _match_peak(Z, X)
    return _out(peak_limit(out), single)


def isd_noise(clips, rng: Seed, config: RawBoost | None = None) -> np.ndarray:
    """RawBoost (2): impulsive signal-dependent additive noise.

    ``beta ~ U(0, P)`` percent (P = ``isd_max_percent``); ``floor(L beta / 100)`` sample positions
    drawn without replacement; at each, ``y[p] = x[p] + g_sd x[p] f_r`` with ``f_r = (2 u1 - 1)(2
    u2 - 1)``, ``u1, u2 ~ U(0, 1)`` (g_sd = ``isd_gain``); then ``y`` scaled to the clip's peak.

    Returns
    -------
    numpy.ndarray, same shape as ``clips``, float32
    """
    config = config or RawBoost()
    Y, single = _batch(clips)
    r = _rng(rng)
    n, L = Y.shape
    Z = Y.astype(np.float64)
    beta = r.uniform(0, config.isd_max_percent, n)
    for i in range(n):
        k = int(L * beta[i] / 100)
        p = r.choice(L, size=k, replace=False)
        fr = (2 * r.random(k) - 1) * (2 * r.random(k) - 1)
        Z[i, p] += config.isd_gain * Z[i, p] * fr
    return _out(peak_limit(_match_peak(Z, Y).astype(np.float32)), single)


def ssi_noise(clips, rng: Seed, config: RawBoost | None = None) -> np.ndarray:
    """RawBoost (3): stationary signal-independent additive noise.

    White Gaussian noise filtered by a random multi-notch filter (:func:`notch_filter`, gain ``U(
    ssi_gain_db)``), scaled so that ``20 log10(||x|| / ||noise||) = SNR``, ``SNR ~ U(ssi_snr_db)``
    (the whole-clip norm, as in the paper), then added. The noise is made and filtered in the
    frequency domain (:func:`_white_spectrum` times the filter's zero-phase response, one inverse
    FFT): stationary noise, so the circular filtering is exact in distribution.

    Returns
    -------
    numpy.ndarray, same shape as ``clips``, float32, peak-limited (:func:`peak_limit`)
    """
    config = config or RawBoost()
    Y, single = _batch(clips)
    r = _rng(rng)
    n, L = Y.shape
    snr = _uniform(r, config.ssi_snr_db, n, "ssi_snr_db")
    B = _notch_cascades(r, n, config)
    g = r.uniform(*_range(config.ssi_gain_db, "ssi_gain_db"), n)
    N = sfft.irfft(_white_spectrum(r, n, L) * _filter_spectra(B, g, L), L, axis=-1)
    X = Y.astype(np.float64)
    k = np.linalg.norm(X, axis=-1) / (np.linalg.norm(N.astype(np.float64), axis=-1) + 1e-30) / 10 ** (snr / 20)
    return _out(peak_limit((X + N * k[:, None]).astype(np.float32)), single)


def rawboost(clips, rng: Seed, config: RawBoost | None = None) -> np.ndarray:
    """RawBoost data boosting (Tak, Todisco, Wang, Jung, Yamagishi, Evans, ICASSP 2022).

    Implemented from the paper's description (not the reference code). Per clip, one combination
    is drawn uniformly from ``config.algos``:

    ====  =================  =======================================================================
    no.   name               processing
    ====  =================  =======================================================================
    1     ``lnl``            (1) linear and non-linear convolutive noise, :func:`lnl_noise`
    2     ``isd``            (2) impulsive signal-dependent additive noise, :func:`isd_noise`
    3     ``ssi``            (3) stationary signal-independent additive coloured noise, :func:`ssi_noise`
    4     ``lnl+isd+ssi``    (1), then (2) on its output, then (3) on that
    5     ``lnl+isd``        (1) then (2)
    6     ``lnl+ssi``        (1) then (3)
    7     ``isd+ssi``        (2) then (3)
    8     ``lnl|isd``        (1) and (2) both on the clip, their outputs summed (then scaled to the peak)
    ====  =================  =======================================================================

    (1) ``y = sum_{j=1..N_f} b_j * x**j``: N_f = 5 non-linearity orders, each power of the signal
    convolved with its own random filter b_j, a cascade of 5 band-stop (notch) FIRs with centre
    20-8000 Hz, bandwidth 100-1000 Hz, 10-100 taps, scaled to a peak gain of 0 dB (order 1) or
    -5..-20 dB (orders >= 2); mean removed. (2) ``beta ~ U(0, 10)`` percent of the samples,
    ``x[p] += 2 x[p] (2u1 - 1)(2u2 - 1)``. (3) white noise coloured by such a notch cascade, added
    at ``SNR ~ U(10, 40)`` dB (whole-clip norms).

    Differences from the reference: (1) and (2) scale their output to the *input's* peak (the
    reference normalises to peak 1, which would undo a gain step), filters are applied centred
    (no group delay, as the reference's ``filter_FIR`` also does), and the output is peak-limited
    to [-1, 1] (:func:`peak_limit`).

    Parameters
    ----------
    clips : numpy.ndarray, shape (n, L) or (L,), float32
    rng : numpy.random.Generator or seed
    config : RawBoost

    Returns
    -------
    numpy.ndarray, same shape, float32
    """
    config = config or RawBoost()
    Y, single = _batch(clips)
    r = _rng(rng)
    n = len(Y)
    pick = r.integers(0, len(config.algos), n)
    seeds = r.integers(0, 2**63, size=len(config.algos))
    out = Y.copy()
    for a, name in enumerate(config.algos):
        m = pick == a
        if not m.any():
            continue
        sub = np.random.default_rng(seeds[a])
        X = Y[m]
        if name == "lnl|isd":
            Z = lnl_noise(X, sub, config).astype(np.float64) + isd_noise(X, sub, config)
            Z = peak_limit(_match_peak(Z, X).astype(np.float32))
        else:
            Z = X
            for part in name.split("+"):
                Z = {"lnl": lnl_noise, "isd": isd_noise, "ssi": ssi_noise}[part](Z, sub, config)
        out[m] = Z
    return _out(out, single)


# --------------------------------------------------------------------------------------------
# codec round trips


@dataclass(frozen=True)
class Codec:
    """One ffmpeg codec round trip.

    Attributes
    ----------
    encoder : str
        ffmpeg encoder name (``ffmpeg -encoders``).
    ext : str
        Container extension of the encoded file (one whose timing metadata ffmpeg honours, so the
        decoded stream starts at the first input sample: ``.mp3`` with its LAME header, ``.m4a``
        with its edit list, Ogg Opus with its pre-skip).
    rate : int
        Sample rate of the encoded stream (8000: the narrowband codecs remove everything above
        4 kHz).
    bitrates : tuple of int
        kbit/s drawn from per clip; empty: the codec has one fixed rate.
    demux : tuple of str
        Input options to read a raw encoded stream back (``-f g722``).
    delay : int
        Samples (16 kHz) the decoded stream lags the input by, removed when splitting (G.722's
        QMF filter bank: 22, measured; ``tests/test_augment.py`` checks every codec's alignment).
    """

    encoder: str
    ext: str
    rate: int = SR
    bitrates: tuple = ()
    demux: tuple = ()
    delay: int = 0


CODECS: dict[str, Codec] = {
    "mp3": Codec("libmp3lame", "mp3", SR, (16, 24, 32)),
    "opus": Codec("libopus", "opus", SR, (8, 12, 16, 24)),
    "aac": Codec("aac", "m4a", SR, (16, 24, 32)),
    "g722": Codec("g722", "g722", SR, (), ("-f", "g722"), delay=22),
    "mulaw": Codec("pcm_mulaw", "wav", 8000),
    "alaw": Codec("pcm_alaw", "wav", 8000),
    "gsm": Codec("libgsm", "gsm", 8000, (), ("-f", "gsm", "-ar", "8000")),
    "g726": Codec("g726", "wav", 8000, (16, 24, 32, 40)),
    "vorbis": Codec("libvorbis", "ogg", SR, (16, 24, 32)),
}
"""Codec round trips by name (G.711 = ``mulaw``/``alaw``; ``g726`` and ``vorbis`` are extras)."""
DEFAULT_CODECS = ("mp3", "opus", "aac", "g722", "mulaw", "alaw", "gsm")
"""Codecs :func:`codec_pool` draws from by default (those of them this ffmpeg can encode)."""
GUARD = 2048
"""Silent samples around each clip in a concatenated stream: longer than any codec's frame overlap
(AAC: 1024 at 16 kHz) and the resamplers' filters, so no output sample mixes in a neighbour's
samples. Stateful codecs (the MP3 bit reservoir, Opus, GSM's and ADPCM's adaptive predictors)
still carry state across the guard: a clip's coding noise then differs from that of the same clip
coded alone (another equally likely realisation), its alignment and statistics do not."""


@functools.lru_cache(maxsize=1)
def _ffmpeg_encoders() -> frozenset[str]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return frozenset()
    proc = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, timeout=60)
    names = set()
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] == "A":
            names.add(parts[1])
    return frozenset(names)


def available_codecs(codecs: Sequence[str] = tuple(CODECS)) -> tuple[str, ...]:
    """The codecs of ``codecs`` whose encoder this machine's ffmpeg has (none without ffmpeg)."""
    have = _ffmpeg_encoders()
    return tuple(c for c in codecs if CODECS[c].encoder in have)


def codec_roundtrip(clips, codec: str, bitrate: int | None = None, tmpdir: str | None = None) -> np.ndarray:
    """Encode and decode clips through one codec: one ffmpeg encode and one decode for all of them.

    The clips are concatenated into one 16 kHz float32 stream, each preceded by :data:`GUARD`
    zeros (and one guard after the last), encoded, decoded back to 16 kHz and cut at the same
    offsets (plus the codec's known :attr:`Codec.delay`), so each output row is sample-aligned
    with its input row and the stream's length cannot shift a later clip. For a stateless codec
    (G.711) row i equals the round trip of clip i alone exactly (tested); see :data:`GUARD` for
    the stateful ones.

    Parameters
    ----------
    clips : numpy.ndarray, shape (n, L) or (L,), float32
    codec : str
        A key of :data:`CODECS`.
    bitrate : int, optional
        kbit/s; default the codec's middle bitrate (ignored by fixed-rate codecs).
    tmpdir : str, optional
        Folder for the scratch files (a temporary one by default).

    Returns
    -------
    numpy.ndarray, same shape, float32, peak-limited (:func:`peak_limit`)

    Raises
    ------
    RuntimeError
        ffmpeg missing or failing (its last error line).
    """
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; choose from {tuple(CODECS)}")
    spec = CODECS[codec]
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("the codec round trips need the ffmpeg binary")
    Y, single = _batch(clips)
    n, L = Y.shape
    stream = np.zeros(GUARD + n * (L + GUARD), np.float32)
    starts = GUARD + np.arange(n) * (L + GUARD)
    for i, s in enumerate(starts):
        stream[s:s + L] = Y[i]
    rate_args = []
    if spec.bitrates:
        br = bitrate if bitrate is not None else spec.bitrates[len(spec.bitrates) // 2]
        rate_args = ["-b:a", f"{int(br)}k"]
    with tempfile.TemporaryDirectory(prefix="idsd-codec-", dir=tmpdir) as tmp:
        src, mid, dst = (os.path.join(tmp, f) for f in ("in.f32", f"mid.{spec.ext}", "out.f32"))
        stream.astype("<f4").tofile(src)
        base = [ffmpeg, "-v", "error", "-nostdin", "-y", "-threads", "1"]
        # raw float input and output: no 16-bit quantisation besides the codec's own
        _run([*base, "-f", "f32le", "-ar", str(SR), "-ac", "1", "-i", ffmpeg_input(src),
              "-c:a", spec.encoder, "-ar", str(spec.rate), *rate_args, ffmpeg_input(mid)])
        _run([*base, *spec.demux, "-i", ffmpeg_input(mid), "-ac", "1", "-ar", str(SR), "-f", "f32le",
              ffmpeg_input(dst)])
        dec = np.fromfile(dst, dtype="<f4")
    need = starts[-1] + spec.delay + L if n else 0
    if len(dec) < need:  # a codec that drops trailing padding: the tail of the last guard is zeros
        dec = np.pad(dec, (0, need - len(dec)))
    out = np.stack([dec[s + spec.delay:s + spec.delay + L] for s in starts]) if n else Y
    return _out(peak_limit(out.astype(np.float32)), single)


def codec_choices(n: int, seed: Seed, codecs: Sequence[str] | None = None) -> list[tuple[str, int | None]]:
    """The (codec, kbit/s) :func:`codec_pool` gives each of ``n`` clips for a seed.

    Codec uniform over ``codecs`` (default: :data:`DEFAULT_CODECS` available here), then bitrate
    uniform over that codec's :attr:`Codec.bitrates` (None for fixed-rate codecs). Depends only on
    (n, seed, codecs), not on the clips.
    """
    names = _codec_names(codecs)
    r = _rng(seed)
    pick = r.integers(0, len(names), n)
    u = r.random(n)
    out = []
    for k, v in zip(pick, u):
        spec = CODECS[names[k]]
        br = spec.bitrates[int(v * len(spec.bitrates))] if spec.bitrates else None
        out.append((names[k], br))
    return out


def _codec_names(codecs: Sequence[str] | None) -> tuple[str, ...]:
    if codecs is None:
        names = available_codecs(DEFAULT_CODECS)
        missing = sorted(set(DEFAULT_CODECS) - set(names))
        if missing:
            log.warning("codec pool without %s (this ffmpeg has no encoder for them)", ", ".join(missing))
    else:
        names = tuple(codecs)
        unknown = [c for c in names if c not in CODECS]
        if unknown:
            raise ValueError(f"unknown codecs {unknown}; choose from {tuple(CODECS)}")
        missing = [c for c in names if c not in available_codecs(names)]
        if missing:
            raise RuntimeError(f"ffmpeg cannot encode {missing} here (or ffmpeg is missing)")
    if not names:
        raise RuntimeError("no codec available (is ffmpeg installed?)")
    return names


def codec_pool(clips, seed: Seed, codecs: Sequence[str] | None = None, workers: int = 2,
               chunk: int = 512, progress: bool = False) -> np.ndarray:
    """One random codec round trip of every clip, computed once, for :class:`Augmenter` to draw from.

    The clips of one (codec, bitrate) group (:func:`codec_choices`) go through
    :func:`codec_roundtrip` together, ``chunk`` clips per ffmpeg call: about 15 groups of two
    ffmpeg processes for the default codecs, whatever the number of clips.

    Parameters
    ----------
    clips : numpy.ndarray, shape (n, L), float32 or float16
    seed : int or Generator
        Chooses each clip's codec and bitrate.
    codecs : sequence of str, optional
        Keys of :data:`CODECS` (default :data:`DEFAULT_CODECS`, those available here).
    workers : int
        ffmpeg groups run in parallel (threads waiting on subprocesses).
    chunk : int
        At most this many clips per ffmpeg call (bounds the scratch files: ~130 kB per clip).
    progress : bool
        Log each finished group.

    Returns
    -------
    numpy.ndarray, shape (n, L), float32
        Row i is the round trip of clip i, sample-aligned with it.
    """
    X = np.asarray(clips)
    if X.ndim != 2:
        raise ValueError(f"clips must have shape (n, n_samples), got {X.shape}")
    choice = codec_choices(len(X), seed, codecs)
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(choice):
        groups.setdefault(key, []).append(i)
    jobs = [(key, idx[a:a + chunk]) for key, idx in sorted(groups.items(), key=lambda kv: str(kv[0]))
            for a in range(0, len(idx), chunk)]
    out = np.zeros(X.shape, np.float32)

    def job(item):
        (name, br), idx = item
        t0 = time.perf_counter()
        out[idx] = codec_roundtrip(np.asarray(X[idx], dtype=np.float32), name, br)
        if progress:
            log.info("codec pool: %s %s kbit/s, %d clips in %.1f s", name, br, len(idx), time.perf_counter() - t0)

    with ThreadPoolExecutor(max(1, int(workers))) as ex:
        list(ex.map(job, jobs))
    return out


# --------------------------------------------------------------------------------------------
# the chain


def _tuple(v):
    return tuple(_tuple(x) for x in v) if isinstance(v, list | tuple) else v


@dataclass(frozen=True)
class Augmenter:
    """A seeded chain of waveform augmentations, each applied with its own probability.

    The codec step (if a pool row is given) replaces the clip by its precomputed round trip first
    (the pool holds round trips of the clean clips), then the steps of ``order`` follow. Each clip
    is augmented independently (its own coin flips and parameters), labels are not looked at.

    The defaults aim at a spectrogram detector trained on small corpora: each step on a minority
    of clips, so that about 30 % of the clips are seen clean apart from the gain (0.75 x 0.85 x
    0.85 x 0.75 x 0.75 with a codec pool, 41 % without one; 15 % untouched, gain included) and
    the clean condition stays by far the most frequent one; gain on half the
    clips because the array-mode features are linear magnitudes (level must not be a cue); SNRs
    of 10-40 dB, so that noise masks the artefacts only partly; RawBoost as in its paper.

    Attributes
    ----------
    p_codec : float
        Probability of taking a clip's codec pool row (0.25; only when a pool is passed).
    p_reverb, reverb_rt60_s, reverb_drr_db
        0.15; RT60 0.1-0.8 s; direct-to-reverberant ratio -3..9 dB (:func:`reverb`).
    p_noise, noise_snr_db, noise_colors
        0.25; SNR 10-40 dB on the active power; white/pink/brown (:func:`add_noise`).
    p_band, band_kinds, band_low_hz, band_high_hz, band_order
        0.15; low-/high-/band-pass/telephone; lower cutoff 50-600 Hz, upper 2.5-7 kHz, order 4
        (:func:`band_limit`).
    p_rawboost, rawboost
        0.25; :class:`RawBoost` defaults (algorithms 5 and 3) (:func:`rawboost`).
    p_gain, gain_db
        0.5; -12..+6 dB (:func:`gain`), last, so the level is random whatever came before.
    order : tuple of str
        The on-the-fly steps in application order (a permutation of a subset of :data:`STEPS`).
    """

    p_codec: float = 0.25
    p_reverb: float = 0.15
    reverb_rt60_s: tuple = (0.1, 0.8)
    reverb_drr_db: tuple = (-3.0, 9.0)
    p_noise: float = 0.25
    noise_snr_db: tuple = (10.0, 40.0)
    noise_colors: tuple = NOISE_COLORS
    p_band: float = 0.15
    band_kinds: tuple = BAND_KINDS
    band_low_hz: tuple = (50.0, 600.0)
    band_high_hz: tuple = (2500.0, 7000.0)
    band_order: int = 4
    p_rawboost: float = 0.25
    rawboost: RawBoost = field(default_factory=RawBoost)
    p_gain: float = 0.5
    gain_db: tuple = (-12.0, 6.0)
    order: tuple = STEPS

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, _tuple(v))
        if isinstance(self.rawboost, dict):
            object.__setattr__(self, "rawboost", RawBoost(**self.rawboost))
        for name in ("p_codec", "p_reverb", "p_noise", "p_band", "p_rawboost", "p_gain"):
            p = float(getattr(self, name))
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        for name in ("reverb_rt60_s", "reverb_drr_db", "noise_snr_db", "band_low_hz", "band_high_hz", "gain_db"):
            _range(getattr(self, name), name)
        if _range(self.reverb_rt60_s, "reverb_rt60_s")[0] <= 0:
            raise ValueError("reverb_rt60_s must be > 0")
        if any(c not in NOISE_COLORS for c in self.noise_colors) or not self.noise_colors:
            raise ValueError(f"noise_colors must be among {NOISE_COLORS}")
        if any(k not in BAND_KINDS for k in self.band_kinds) or not self.band_kinds:
            raise ValueError(f"band_kinds must be among {BAND_KINDS}")
        if len(set(self.order)) != len(self.order) or any(s not in STEPS for s in self.order):
            raise ValueError(f"order must list distinct steps of {STEPS}, got {self.order!r}")

    @classmethod
    def off(cls) -> Augmenter:
        """Every probability 0: the identity."""
        return cls(p_codec=0.0, p_reverb=0.0, p_noise=0.0, p_band=0.0, p_rawboost=0.0, p_gain=0.0)

    @property
    def active(self) -> bool:
        """Whether any step has a probability above 0."""
        return any(getattr(self, f"p_{s}") > 0 for s in ("codec", *self.order))

    def to_dict(self) -> dict:
        """Every probability, range and parameter, JSON-ready (lists), for the model card."""

        def plain(v):
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [plain(x) for x in v]
            return v.item() if isinstance(v, np.generic) else v

        return {"kind": "idsd.augment.Augmenter", "sample_rate": SR, **plain(asdict(self))}

    @classmethod
    def from_dict(cls, d: dict) -> Augmenter:
        """The Augmenter of a :meth:`to_dict` (unknown keys refused)."""
        d = {k: v for k, v in d.items() if k not in ("kind", "sample_rate")}
        return cls(**d)

    def _step(self, name: str, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if name == "gain":
            return gain(X, rng, self.gain_db)
        if name == "noise":
            return add_noise(X, rng, self.noise_snr_db, self.noise_colors)
        if name == "band":
            return band_limit(X, rng, self.band_kinds, self.band_low_hz, self.band_high_hz, self.band_order)
        if name == "reverb":
            return reverb(X, rng, self.reverb_rt60_s, self.reverb_drr_db)
        return rawboost(X, rng, self.rawboost)

    def __call__(self, clips, rng: Seed, coded: np.ndarray | None = None) -> np.ndarray:
        """Augment a batch.

        Parameters
        ----------
        clips : numpy.ndarray, shape (n, L) or (L,), float32 (float16 accepted)
        rng : numpy.random.Generator or seed
            Every coin flip and parameter comes from it: the same seed, the same output.
        coded : numpy.ndarray, shape like ``clips``, optional
            The :func:`codec_pool` rows of these clips; without it the codec step is skipped.

        Returns
        -------
        numpy.ndarray, same shape, float32, within [-1, 1]
        """
        Y, single = _batch(clips)
        r = _rng(rng)
        n = len(Y)
        steps = ("codec", *STEPS)
        # every coin and every step's seed drawn up front in a fixed order: what one step draws
        # does not shift the randomness of the next (changing p_noise keeps the reverbs the same)
        coins = {s: r.random(n) for s in steps}
        seeds = {s: int(r.integers(0, 2**63)) for s in steps}
        if coded is not None and self.p_codec > 0:
            C, _ = _batch(coded)
            if C.shape != Y.shape:
                raise ValueError(f"coded rows {C.shape} do not match the clips {Y.shape}")
            m = coins["codec"] < self.p_codec
            Y[m] = C[m]
        for s in self.order:
            m = coins[s] < getattr(self, f"p_{s}")
            if m.all():  # no gather/scatter copies when every clip takes the step
                Y = self._step(s, Y, np.random.default_rng(seeds[s]))
            elif m.any():
                idx = np.flatnonzero(m)
                Y[idx] = self._step(s, Y[idx], np.random.default_rng(seeds[s]))
        return _out(peak_limit(Y), single)


# --------------------------------------------------------------------------------------------
# Keras feed


class AugmentedBatches(keras.utils.PyDataset):
    """Batches of features of augmented waveforms, for ``model.fit``: :class:`idsd.batches.ArrayBatches`'s
    conventions, with the waveforms held instead of the features.

    Batch ``i`` of epoch ``e``: the rows ``order_e[i * batch_size:(i + 1) * batch_size]`` (sorted:
    sequential reads of a memory map), augmented by ``augmenter`` with the generator
    ``default_rng([seed, 1, e, i])``, then ``extract_batch(Y, feature, mode, **overrides)`` stored as
    the feature cache stores it (:func:`idsd.cache._store`: float16, clipped to its range) and
    converted to float32, as ArrayBatches yields a cached array: the model sees the same values as
    in a cached-features run of the same clips. ``order_e`` is the identity, or with ``shuffle`` a
    permutation by ``default_rng([seed, 0, e])``: any batch of any epoch can be recomputed
    (:meth:`batch`), whatever ran before.

    Parameters
    ----------
    waves : array-like, shape (n, 32000), float32 or float16
        Clips (float16 halves the memory; it quantises the waveform at ~-66 dB relative, far below
        any augmentation).
    y : numpy.ndarray, shape (n,), optional
        Labels (0/1); None yields inputs only.
    feature : str or FeatureConfig
        A feature of :data:`idsd.features.FEATURES`, or a config (its mode and overrides are used).
    mode : {"array", "db", "image"}
    augmenter : Augmenter, optional
        None or :meth:`Augmenter.off`: the clips as they are.
    batch_size : int
    shuffle : bool
        A new order every epoch.
    seed : int
        Seeds the order and the augmentation.
    class_weight : dict, optional
        ``{class: weight}``; yields ``(x, y, sample_weight)``.
    coded : numpy.ndarray, shape (n, 32000) or (k, n, 32000), optional
        :func:`codec_pool` rows of ``waves`` (k pools: one drawn per clip per batch).
    device, threads, overrides
        Passed to :func:`idsd.features.extract_batch`.

    Attributes
    ----------
    epoch : int
        The epoch :meth:`__getitem__` serves (0 at first, +1 at each :meth:`on_epoch_end`; set it
        to resume a run). Keras 3 on TensorFlow reads the first two batches for the tensor spec
        and calls ``on_epoch_end`` once before training (``EpochIterator.reset``), so its training
        epoch k is served by ``epoch`` k + 1 here (ArrayBatches reshuffles at the same call):
        deterministic, and :meth:`batch` recomputes any of them.
    """

    def __init__(self, waves, y=None, feature: str | FeatureConfig = "mel", mode: str = "array",
                 augmenter: Augmenter | None = None, batch_size: int = 128, shuffle: bool = False, seed: int = 0,
                 class_weight: dict | None = None, coded: np.ndarray | None = None, device: str = "cpu",
                 threads: int | None = None, overrides: dict | None = None):
        super().__init__(workers=1, use_multiprocessing=False)
        if isinstance(feature, FeatureConfig):
            feature, mode, overrides = feature.feature, feature.mode, {**dict(feature.overrides), **(overrides or {})}
        self.config = FeatureConfig(feature, mode, dict(overrides or {}))  # validates feature/mode/overrides
        self.waves, self.y = waves, y
        if np.ndim(waves) != 2:
            raise ValueError(f"waves must have shape (n, n_samples), got {np.shape(waves)}")
        if y is not None and len(y) != len(waves):
            raise ValueError(f"{len(y)} labels for {len(waves)} clips")
        if coded is not None and np.shape(coded)[-2:] != np.shape(waves):
            raise ValueError(f"coded pool {np.shape(coded)} does not match waves {np.shape(waves)}")
        self.augmenter = augmenter
        self.coded = coded
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.device, self.threads = device, threads
        self.epoch = 0
        self.weights = None
        if class_weight is not None and y is not None:
            self.weights = np.array([class_weight[0], class_weight[1]], dtype=np.float32)

    def __len__(self) -> int:
        return math.ceil(len(self.waves) / self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """Row order of an epoch, shape (n,)."""
        n = len(self.waves)
        return np.random.default_rng([self.seed, 0, int(epoch)]).permutation(n) if self.shuffle else np.arange(n)

    def rows(self, i: int, epoch: int | None = None) -> np.ndarray:
        """Row indices of batch ``i`` of ``epoch`` (default: the current one), sorted."""
        e = self.epoch if epoch is None else int(epoch)
        return np.sort(self.order(e)[i * self.batch_size:(i + 1) * self.batch_size])

    def waveforms(self, i: int, epoch: int | None = None) -> np.ndarray:
        """The augmented clips of batch ``i`` of ``epoch``, shape (batch, 32000), float32."""
        e = self.epoch if epoch is None else int(epoch)
        idx = self.rows(i, e)
        Y = np.asarray(self.waves[idx], dtype=np.float32)
        if self.augmenter is None or not self.augmenter.active:
            return Y
        coded = None
        if self.coded is not None and self.augmenter.p_codec > 0:
            if np.ndim(self.coded) == 3:  # several pools: one drawn per clip, from its own stream
                k = np.random.default_rng([self.seed, 2, e, int(i)]).integers(0, len(self.coded), len(idx))
                coded = np.stack([np.asarray(self.coded[k[j], idx[j]], np.float32) for j in range(len(idx))])
            else:
                coded = np.asarray(self.coded[idx], dtype=np.float32)
        return self.augmenter(Y, np.random.default_rng([self.seed, 1, e, int(i)]), coded=coded)

    def batch(self, i: int, epoch: int | None = None):
        """Batch ``i`` of ``epoch`` (default: the current one), as :meth:`__getitem__` yields it."""
        e = self.epoch if epoch is None else int(epoch)
        idx = self.rows(i, e)
        Y = self.waveforms(i, e)
        c = self.config
        x = _store(extract_batch(Y, c.feature, c.mode, device=self.device, threads=self.threads,
                                 **dict(c.overrides))).astype(np.float32)
        if self.y is None:
            return (x,)
        yb = np.asarray(self.y)[idx].astype(np.float32).reshape(-1, 1)
        if self.weights is not None:
            return x, yb, self.weights[np.asarray(self.y)[idx].astype(np.intp)]
        return x, yb

    def __getitem__(self, i: int):
        return self.batch(i)

    def on_epoch_end(self):
        self.epoch += 1  # the next epoch: a new order (shuffle) and new augmentations


# --------------------------------------------------------------------------------------------
# benchmark


def benchmark(n: int = 32, feature: str = "mel", seed: int = 0, codecs: Sequence[str] | None = None,
              threads: int | None = 1, repeat: int = 3, cpu: bool = True, echo: bool = True) -> dict[str, float]:
    """Time every augmentation on one batch, in ms per clip, beside the feature extraction.

    Each step runs on all ``n`` clips (probability 1), ``repeat`` times after a warm-up call; the
    fastest run counts (the least disturbed by other load). Not a test: the numbers depend on the
    machine. The ``Augmenter()`` row is the default chain, each step at its probability.

    Parameters
    ----------
    n : int
        Clips in the batch.
    feature : str
        Feature whose :func:`idsd.features.extract_batch` is timed for comparison.
    codecs : sequence of str, optional
        Codecs for the :func:`codec_pool` timing (default: those available; none without ffmpeg).
    threads : int, optional
        Threads of the feature extraction (1: the per-core cost, like the single-threaded
        augmentations; None: all cores).
    repeat : int
        Timed runs per step.
    cpu : bool
        Time CPU seconds of this process (``time.process_time``: on a shared machine, what the
        step costs, not how long it waited), else wall-clock seconds. The codec rows are always
        wall-clock time (ffmpeg's CPU time is another process's).
    echo : bool
        Print the table.

    Returns
    -------
    dict
        name -> ms per clip.
    """
    from idsd.bench.features import bench_clips  # the speech-like clips of the other benchmarks

    Y = bench_clips(n, seed)
    steps = {
        "gain": lambda X: gain(X, 1),
        "noise": lambda X: add_noise(X, 1),
        "band_limit": lambda X: band_limit(X, 1),
        "reverb": lambda X: reverb(X, 1),
        "rawboost lnl": lambda X: lnl_noise(X, 1),
        "rawboost isd": lambda X: isd_noise(X, 1),
        "rawboost ssi": lambda X: ssi_noise(X, 1),
        "rawboost (default algos)": lambda X: rawboost(X, 1),
        "Augmenter() chain (no codec)": lambda X: Augmenter()(X, 1),
        f"extract_batch {feature}": lambda X: extract_batch(X, feature, threads=threads),
    }
    clock = time.process_time if cpu else time.perf_counter

    def best(fn, clock=clock) -> float:  # the fastest of `repeat` runs: the least disturbed by other load
        ts = []
        for _ in range(max(1, int(repeat))):
            t0 = clock()
            fn(Y)
            ts.append(clock() - t0)
        return 1000 * min(ts) / n

    res = {}
    for name, fn in steps.items():
        fn(Y[:2])  # warm-up: imports, FFT plans, numba
        res[name] = best(fn)
    names = available_codecs(DEFAULT_CODECS if codecs is None else codecs)
    if names:
        res[f"codec_pool ({', '.join(names)})"] = best(lambda X: codec_pool(X, seed, names),
                                                             time.perf_counter)
        for c in names:
            res[f"codec_roundtrip {c}"] = best(lambda X, c=c: codec_roundtrip(X, c), time.perf_counter)
    if echo:
        width = max(len(k) for k in res)
        print(f"{'step':<{width}}  ms/clip  (batch of {n} clips, {'CPU' if cpu else 'wall'} time)")
        for k, v in res.items():
            print(f"{k:<{width}}  {v:7.2f}")
    return res
