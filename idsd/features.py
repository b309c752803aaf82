"""The seven spectrogram representations of the paper, in three input modes.

Features (upstream parameters, 16 kHz, 2-s clips of 32000 samples; see ``docs/architecture.md``):

========  ==============================================================  ==========
key       upstream librosa call                                           shape
========  ==============================================================  ==========
mel       ``feature.melspectrogram(n_mels=256, n_fft=1024, hop=256)``     (256, 126)
stft      ``abs(stft(n_fft=1024, hop_length=256))``                       (513, 126)
cqt       ``abs(cqt(hop_length=256))``                                     (84, 126)
vqt       ``abs(vqt(hop_length=256))``                                     (84, 126)
iirt      ``abs(iirt(win_length=1024, hop_length=256))``                   (85, 126)
mfcc      ``feature.mfcc(n_mfcc=40)`` (n_fft 2048, hop 512)                (40, 63)
chroma    ``feature.chroma_stft(n_fft=1024, hop_length=256)``              (12, 126)
========  ==============================================================  ==========

Modes:

``array``
    The paper's model input: the raw librosa magnitude/power divided by 255, shape
    (freq_bins, frames).
``db``
    Our clean variant: magnitude/power features in dB relative to the clip maximum (``top_db``
    80) mapped linearly to [0, 1]; MFCC standardised per clip (zero mean, unit variance); chroma
    as librosa returns it (already in [0, 1]). Same shape as ``array``. Silent clips give zeros.
``image``
    The upstream image pipeline (:mod:`idsd.images`): dB-scaled matplotlib figure, grayscale,
    resized to (640, 480), / 255.

Three implementations share the parameters:

* :func:`reference`: the exact upstream librosa calls, one clip at a time (what the paper timed).
* the fast CPU path (``device="cpu"``): whole batches at once in chunks of a few clips spread
  over all cores (BLAS limited to one thread meanwhile), framed FFTs, filterbanks as one matrix
  product each (mel, chroma, MFCC's mel + DCT), a vectorised ``piptrack`` for chroma's per-clip
  tuning, librosa's own CQT/VQT on whole chunks. MEL, STFT, MFCC, CQT, VQT and chroma agree with
  :func:`reference` to float32 rounding (tests: ``tests/test_features.py``). IIRT is an
  approximation of ``librosa.iirt`` (see :func:`_iirt_fast`): zero-phase ``sosfiltfilt`` is a
  product with ``|H_k|^2`` on a whole-clip DFT, each band is taken as a short baseband analytic
  signal and its power integrated over the frames. Agreement (``docs/benchmarks.md``,
  :func:`iirt_agreement`): median relative error ~1 % over cells within 40 dB of the clip
  maximum, < 1 % above 260 Hz, ~7-20 % in the lowest two octaves (filter ringing at the clip
  edges, soxr resampling, librosa's frame rounding).
* the Keras path (``device="gpu"``): STFT, mel, MFCC and chroma with ``keras.ops`` of the active
  backend (TensorFlow, JAX or PyTorch), whole batches on the accelerator when there is one; the
  other features fall back to the CPU path. Chroma's per-clip tuning estimate (librosa's
  ``piptrack`` + histogram) runs on the host from the device power spectrum.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
import scipy.signal

from idsd import CLIP_SAMPLES, SAMPLE_RATE, images
from idsd.audio import fit_length
from idsd.feature_params import DEFAULTS as DEFAULTS
from idsd.feature_params import FEATURES as FEATURES
from idsd.feature_params import IMAGE_SHAPE as IMAGE_SHAPE
from idsd.feature_params import MODES as MODES
from idsd.feature_params import check as _check
from idsd.feature_params import params as params

log = logging.getLogger(__name__)

DEVICES: tuple[str, ...] = ("cpu", "gpu", "auto")

VERSION = 1
"""Bumped whenever the numbers a configuration produces change (part of the cache key)."""

SCALE = 255.0
"""Upstream divides every array by 255."""

TOP_DB = 80.0
AMIN_POWER = 1e-10
AMIN_AMPLITUDE = 1e-5

POWER_FEATURES = ("mel", "iirt")  # power (dB: 10 log10); stft/cqt/vqt are magnitudes (20 log10)
GPU_FEATURES = ("mel", "stft", "mfcc", "chroma")


def feature_shape(feature: str, mode: str = "array", **overrides) -> tuple[int, int]:
    """Model input shape (n_bins, n_frames) of a feature in a mode.

    Returns
    -------
    tuple of int
        (freq_bins, frames) for ``array``/``db`` (e.g. mel (256, 126)); (640, 480) for ``image``.
    """
    _check(feature, mode)
    p = params(feature, **overrides)
    if mode == "image":
        return IMAGE_SHAPE
    hop = p["hop_length"]
    frames = 1 + CLIP_SAMPLES // hop
    rows = {
        "mel": lambda: p["n_mels"],
        "stft": lambda: p["n_fft"] // 2 + 1,
        "cqt": lambda: p["n_bins"],
        "vqt": lambda: p["n_bins"],
        "iirt": lambda: 85,  # librosa semitone filterbank, MIDI 24..108
        "mfcc": lambda: p["n_mfcc"],
        "chroma": lambda: p["n_chroma"],
    }[feature]()
    return int(rows), int(frames)


@dataclass(frozen=True)
class FeatureConfig:
    """One feature configuration: feature, input mode and parameter overrides.

    Parameters
    ----------
    feature : str
        One of :data:`FEATURES`.
    mode : str
        One of :data:`MODES`.
    overrides : tuple of (name, value) pairs
        Parameters that differ from :data:`DEFAULTS` (a dict is accepted and normalised).
    """

    feature: str
    mode: str = "array"
    overrides: tuple = field(default=())

    def __post_init__(self):
        ov = self.overrides
        if isinstance(ov, dict):
            ov = tuple(ov.items())
        ov = tuple(sorted((str(k), v) for k, v in ov))
        object.__setattr__(self, "overrides", ov)
        _check(self.feature, self.mode)
        params(self.feature, **dict(ov))

    @property
    def params(self) -> dict:
        """The full parameter dict (defaults + overrides)."""
        return params(self.feature, **dict(self.overrides))

    @property
    def shape(self) -> tuple[int, int]:
        """Model input shape (n_bins, n_frames)."""
        return feature_shape(self.feature, self.mode, **dict(self.overrides))

    def key(self) -> str:
        """Short hash of (feature, mode, full parameters, :data:`VERSION`), used as cache folder."""
        blob = json.dumps({"feature": self.feature, "mode": self.mode, "params": self.params,
                           "sr": SAMPLE_RATE, "samples": CLIP_SAMPLES, "version": VERSION},
                          sort_keys=True, default=str)
        return f"{self.feature}-{self.mode}-{hashlib.sha1(blob.encode()).hexdigest()[:12]}"

    @property
    def name(self) -> str:
        """Human-readable name, e.g. ``mel/array``."""
        return f"{self.feature}/{self.mode}"


# --------------------------------------------------------------------------------------------
# input hygiene


def clean_batch(Y: np.ndarray) -> np.ndarray:
    """Make a (n, 32000) float32 batch: non-finite samples -> 0, wrong lengths fitted with a warning.

    Parameters
    ----------
    Y : array_like, shape (n, n_samples) or (n_samples,)

    Returns
    -------
    numpy.ndarray, shape (n, 32000), float32, C-contiguous
    """
    Y = np.asarray(Y, dtype=np.float32)
    if Y.ndim == 1:
        Y = Y[None]
    if Y.ndim != 2:
        raise ValueError(f"expected (n, samples), got shape {Y.shape}")
    if Y.shape[1] != CLIP_SAMPLES:
        Y = np.stack([fit_length(y, CLIP_SAMPLES, name=f"clip {i}") for i, y in enumerate(Y)]) \
            if len(Y) else np.zeros((0, CLIP_SAMPLES), np.float32)
    if not np.all(np.isfinite(Y)):
        log.warning("non-finite samples replaced by 0")
        Y = np.nan_to_num(Y, nan=0.0, posinf=0.0, neginf=0.0)
    return np.ascontiguousarray(Y)


# --------------------------------------------------------------------------------------------
# reference: the exact upstream calls


def reference(y: np.ndarray, feature: str, **overrides) -> np.ndarray:
    """The upstream librosa call for one clip, raw values (not divided by 255).

    Parameters
    ----------
    y : numpy.ndarray, shape (32000,)

    Returns
    -------
    numpy.ndarray, shape (freq_bins, frames), float32
    """
    import librosa

    p = params(feature, **overrides)
    sr = SAMPLE_RATE
    if feature == "mel":
        out = librosa.feature.melspectrogram(y=y, sr=sr, **p)
    elif feature == "stft":
        out = np.abs(librosa.stft(y, **p))
    elif feature == "cqt":
        out = np.abs(librosa.cqt(y, sr=sr, **p))
    elif feature == "vqt":
        out = np.abs(librosa.vqt(y, sr=sr, **p))
    elif feature == "iirt":
        out = np.abs(librosa.iirt(y, sr=sr, **p))
    elif feature == "mfcc":
        out = librosa.feature.mfcc(y=y, sr=sr, **p)
    else:
        out = librosa.feature.chroma_stft(y=y, sr=sr, **p)
    return np.asarray(out, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# fast CPU path


def n_threads() -> int:
    """Worker threads for the CPU path (``IDSD_THREADS`` or the number of usable cores)."""
    env = os.environ.get("IDSD_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


@functools.lru_cache(maxsize=16)
def _window(n_fft: int, kind: str = "hann") -> np.ndarray:
    if kind == "boxcar":
        return np.ones(n_fft, np.float32)
    return scipy.signal.get_window(kind, n_fft, fftbins=True).astype(np.float32)


def _frames(Y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred, zero-padded frames (librosa ``center=True``, ``pad_mode="constant"``).

    Returns a read-only strided view, shape (n, n_frames, n_fft).
    """
    pad = n_fft // 2
    Yp = np.pad(Y, ((0, 0), (pad, pad)))
    n_frames = 1 + (Yp.shape[1] - n_fft) // hop
    s0, s1 = Yp.strides
    return np.lib.stride_tricks.as_strided(Yp, (Yp.shape[0], n_frames, n_fft), (s0, hop * s1, s1),
                                           writeable=False)


def spectrum(Y: np.ndarray, n_fft: int, hop: int, window: str = "hann", workers: int = 1,
             n_dft: int | None = None) -> np.ndarray:
    """Complex STFT of a batch (frames of ``n_fft`` samples, DFT of ``n_dft``, default ``n_fft``).

    Returns
    -------
    numpy.ndarray, shape (n, n_frames, 1 + n_dft // 2), complex64
    """
    fr = _frames(Y, n_fft, hop) * _window(n_fft, window)
    return scipy.fft.rfft(fr, n=n_dft or n_fft, axis=-1, workers=workers).astype(np.complex64, copy=False)


def power_spectrum(Y: np.ndarray, n_fft: int, hop: int, window: str = "hann", workers: int = 1,
                   n_dft: int | None = None) -> np.ndarray:
    """|STFT|^2 of a batch, (n, n_frames, 1 + n_dft // 2), float32."""
    X = spectrum(Y, n_fft, hop, window, workers, n_dft)
    return (X.real * X.real + X.imag * X.imag).astype(np.float32, copy=False)


@functools.lru_cache(maxsize=32)
def _mel_basis(n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II as a (n_out, n_in) matrix (``scipy.fft.dct(..., norm="ortho")``)."""
    return scipy.fft.dct(np.eye(n_in), type=2, norm="ortho", axis=0)[:n_out].astype(np.float32)


@functools.lru_cache(maxsize=256)
def _chroma_fb(n_fft: int, n_chroma: int, tuning: float) -> np.ndarray:
    import librosa

    return librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=n_fft, tuning=tuning, n_chroma=n_chroma).astype(np.float32)


IIRT_NFFT = 1 << 16
"""Length of the whole-clip DFT of the IIRT path (0.24 Hz bins; 4.1 s > padded clip + ringing)."""


@functools.lru_cache(maxsize=8)
def _iirt_plan(hop: int, win_length: int = 1024, n_dft: int = IIRT_NFFT, rel_floor: float = 3e-5):
    """Precomputed plan of the fast IIRT (see :func:`_iirt_fast`).

    For every band k of librosa's semitone filterbank (MIDI 24..108), the zero-phase response of
    ``sosfiltfilt``, ``G_k(f) = |H_k(f)|^2``, on the DFT grid, kept where it exceeds ``rel_floor``
    (the elliptic filters' stopband plateau is 1e-5 in ``|H|^2``). Bands are grouped by the
    length ``L`` of their baseband inverse DFT.

    Returns
    -------
    list of dict
        One per group: ``bands`` (k,), ``idx`` (k, M) DFT bin indices, ``w`` (k, M) weights
        (``2 * G_k`` at the bins, 0 as padding), ``L``, ``edges`` (n_frames + 1,) frame borders in
        units of baseband samples.
    """
    import librosa

    sos_bank, srs = librosa.filters.semitone_filterbank(tuning=0.0, flayout="sos")
    f = np.arange(n_dft // 2 + 1) * SAMPLE_RATE / n_dft
    bands = []
    for k, (sos, fs) in enumerate(zip(sos_bank, srs)):
        ok = f < fs / 2  # computed at rate fs: nothing above its Nyquist survives the resampling
        G = np.zeros(f.shape)
        _, h = scipy.signal.sosfreqz(sos, worN=f[ok], fs=fs)
        G[ok] = np.abs(h) ** 2
        keep = np.flatnonzero(G > rel_floor * G.max())
        j0, j1 = int(keep[0]), int(keep[-1]) + 1
        factor = SAMPLE_RATE / fs
        scale = round(win_length / factor) * factor / win_length  # librosa's rounded window
        bands.append((k, j0, G[j0:j1] * 2.0 * np.sqrt(scale)))
    n_frames = 1 + CLIP_SAMPLES // hop
    groups: dict[int, list] = {}
    for k, j0, w in bands:
        L = max(512, 1 << int(np.ceil(np.log2(2 * len(w)))))
        groups.setdefault(L, []).append((k, j0, w))
    plan = []
    for L, members in sorted(groups.items()):
        M = max(len(w) for _, _, w in members)
        idx = np.zeros((len(members), M), np.int64)
        ww = np.zeros((len(members), M), np.float32)
        for i, (_, j0, w) in enumerate(members):
            idx[i] = np.minimum(j0 + np.arange(M), n_dft // 2)
            ww[i, :len(w)] = w
        # frame t sums padded samples [t * hop, t * hop + win_length); baseband sample s stands
        # for padded sample s * n_dft / L. B integrates the linear interpolant of the baseband
        # power over each frame: frame sums = power (L,) @ B (L, n_frames).
        starts = np.arange(n_frames) * hop
        plan.append({"bands": np.array([k for k, _, _ in members]), "idx": idx, "w": ww, "L": L,
                     "B": _box_matrix(L, starts * L / n_dft, (starts + win_length) * L / n_dft)
                     * np.float32(n_dft / L)})
    return plan


def _box_matrix(L: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(L, n) weights: integral over [lo_t, hi_t] of the hat function centred on sample s."""

    def H(u):  # antiderivative of the hat function max(0, 1 - |u|)
        return np.where(u < -1, 0.0, np.where(u < 0, (u + 1) ** 2 / 2,
                                              np.where(u < 1, 1 - (1 - u) ** 2 / 2, 1.0)))

    s = np.arange(L)[:, None]
    return (H(hi[None, :] - s) - H(lo[None, :] - s)).astype(np.float32)


def _iirt_fast(Y: np.ndarray, hop: int = 256, win_length: int = 1024) -> np.ndarray:
    """Fast approximation of ``librosa.iirt`` for a batch, (n, 85, frames), power units.

    ``librosa.iirt`` pads the clip by ``win_length // 2`` zeros on each side, filters it with
    zero-phase ``sosfiltfilt`` (response ``G_k = |H_k|^2``) at one of three sample rates and sums
    the squared output over each frame. Here the filtering is one product with ``G_k`` on a
    whole-clip DFT; each band's output is taken as an analytic signal shifted to baseband (its
    support is ~8 % of the centre frequency) with a short inverse DFT, and the frame sums of
    ``z^2 = |a|^2 / 2 + Re(a^2) / 2`` keep the first term (the second oscillates at twice the
    centre frequency and mostly cancels over a 64-ms frame: at most ~8 % for the lowest band,
    far less above). Differences left: that term, filtfilt's edge handling in the last ~0.2 s
    of the low bands, soxr resampling and librosa's rounding of frame positions.
    """
    n = len(Y)
    pad = win_length // 2
    Yp = np.zeros((n, CLIP_SAMPLES + 2 * pad), np.float32)
    Yp[:, pad:pad + CLIP_SAMPLES] = Y
    F = scipy.fft.rfft(Yp, n=IIRT_NFFT, axis=-1).astype(np.complex64)
    plan = _iirt_plan(hop, win_length)
    out = np.empty((n, 85, 1 + CLIP_SAMPLES // hop), np.float32)
    for g in plan:
        L, (k, M) = g["L"], g["idx"].shape
        A = np.zeros((n, k, L), np.complex64)
        A[..., :M] = F[:, g["idx"]] * g["w"]
        a = scipy.fft.ifft(A, axis=-1, overwrite_x=True)  # baseband analytic signal * N / L
        e = a.real * a.real + a.imag * a.imag
        e *= np.float32(0.5 * (L / IIRT_NFFT) ** 2)
        out[:, g["bands"]] = np.matmul(e, g["B"])  # per clip: see _apply_fb
    return out


def _piptrack_last(S: np.ndarray, n_fft: int, fmin: float = 150.0, fmax: float = 4000.0,
                   threshold: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """``librosa.piptrack(S=...)`` with frequency on the LAST axis, in plain numpy.

    Same arithmetic as librosa 0.11 (gradient, parabolic-interpolation stencil, local maxima of
    the thresholded spectrum), without numba's per-row dispatch.

    Parameters
    ----------
    S : numpy.ndarray, shape (..., n_bins)

    Returns
    -------
    pitches, mags : numpy.ndarray, shape like ``S``
    """
    S = np.abs(S)
    n_bins = S.shape[-1]
    freqs = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)[:n_bins]
    fmax = min(fmax, SAMPLE_RATE / 2)
    band = np.flatnonzero((fmin <= freqs) & (freqs < fmax))
    pitches = np.zeros_like(S)
    mags = np.zeros_like(S)
    if len(band) == 0:
        return pitches, mags
    # work on the band plus one neighbour each side; the last bin of the spectrum is a local
    # max when above its neighbour (librosa's edge rule), the first never is
    lo, hi = max(int(band[0]), 1), int(band[-1]) + 1
    ref_value = threshold * S.max(axis=-1, keepdims=True)
    Z = S[..., lo - 1:min(hi + 1, n_bins)]
    Z = Z * (Z > ref_value)
    mid = Z[..., 1:hi - lo + 1]
    right = np.concatenate([Z[..., 2:], np.full(Z.shape[:-1] + (1,), -np.inf, Z.dtype)], axis=-1) \
        if hi == n_bins else Z[..., 2:]
    lmax = (mid > Z[..., :hi - lo]) & (mid >= right[..., :hi - lo])
    idx = np.nonzero(lmax)
    k = idx[-1] + lo  # bin index in S
    head = idx[:-1]
    x0 = S[(*head, k)]
    xl = S[(*head, k - 1)]
    xr = S[(*head, np.minimum(k + 1, n_bins - 1))]
    last = k == n_bins - 1
    a = xr + xl - 2 * x0
    b = (xr - xl) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where((np.abs(b) >= np.abs(a)) | last, 0, -b / a).astype(S.dtype)
    avg = np.where(last, x0 - xl, (xr - xl) / 2)  # np.gradient, interior and last-edge rules
    pitches[(*head, k)] = (k + shift) * float(SAMPLE_RATE) / n_fft
    mags[(*head, k)] = x0 + 0.5 * avg * shift
    return pitches, mags


def _tunings(P: np.ndarray, n_chroma: int, n_fft: int) -> np.ndarray:
    """librosa's ``estimate_tuning(S=...)`` for every clip of a power-spectrum batch.

    Parameters
    ----------
    P : numpy.ndarray, shape (n, frames, n_bins)
        Power spectra, frequency last.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Tuning offsets in fractions of a chroma bin (resolution 0.01).
    """
    import warnings

    import librosa

    pitch, mag = _piptrack_last(P, n_fft)
    out = np.zeros(len(P))
    for i in range(len(P)):
        mask = pitch[i] > 0
        thr = np.median(mag[i][mask]) if mask.any() else 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "empty frequency set" for silent clips -> 0.0
            out[i] = librosa.pitch_tuning(pitch[i][(mag[i] >= thr) & mask], bins_per_octave=n_chroma)
    return out


def _apply_fb(W: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Filterbank ``W`` (K, n_bins) applied to P (n, frames, n_bins) -> (n, K, frames), one GEMM per clip."""
    # One GEMM per clip (a stacked matmul), never one GEMM over the whole chunk: BLAS kernels
    # round differently with the number of rows, and a clip's features must not depend on which
    # clips share its batch (the cache resumes and extends with other batch compositions).
    out = np.matmul(np.ascontiguousarray(P), np.ascontiguousarray(W.T))  # a transposed view hits a slow path
    return np.ascontiguousarray(out.transpose(0, 2, 1))


def _normalize_inf(C: np.ndarray) -> np.ndarray:
    """librosa.util.normalize(norm=inf, axis=-2): columns with max below tiny are left as they are."""
    m = np.max(np.abs(C), axis=-2, keepdims=True)
    m = np.where(m < np.finfo(C.dtype).tiny, 1.0, m)
    return C / m


def _power_to_db_clip(S: np.ndarray, top_db: float | None = TOP_DB) -> np.ndarray:
    """librosa.power_to_db(S, ref=1.0) with ``top_db`` applied per clip (axis 0 = clip)."""
    d = 10.0 * np.log10(np.maximum(AMIN_POWER, S))
    if top_db is not None:
        d = np.maximum(d, d.max(axis=tuple(range(1, d.ndim)), keepdims=True) - top_db)
    return d


def _cqt_batch(Y: np.ndarray, feature: str, p: dict) -> np.ndarray:
    import librosa

    fn = librosa.cqt if feature == "cqt" else librosa.vqt
    return np.abs(fn(Y, sr=SAMPLE_RATE, **p))


def _raw_chunk(Y: np.ndarray, feature: str, p: dict) -> np.ndarray:
    """Raw values (librosa units) for a batch chunk on the CPU, (n, freq_bins, frames) float32."""
    if feature in ("cqt", "vqt"):
        out = _cqt_batch(Y, feature, p)
    elif feature == "mfcc":
        P = power_spectrum(Y, p["n_fft"], p["hop_length"])
        M = _apply_fb(_mel_basis(p["n_fft"], p["n_mels"], 0.0, None), P)
        D = _power_to_db_clip(M)  # (n, n_mels, frames)
        out = np.matmul(_dct_matrix(p["n_mels"], p["n_mfcc"]), D)
    elif feature == "iirt":
        out = _iirt_fast(Y, p["hop_length"], p["win_length"])
    elif feature == "stft":
        out = np.abs(spectrum(Y, p["n_fft"], p["hop_length"])).transpose(0, 2, 1)
    else:
        out = _raw_from_power(power_spectrum(Y, p["n_fft"], p["hop_length"]), feature, p)
    return np.ascontiguousarray(out, dtype=np.float32)


def _raw_from_power(P: np.ndarray, feature: str, p: dict) -> np.ndarray:
    """mel / stft / chroma from a shared power spectrum P (n, frames, n_bins) -> (n, K, frames)."""
    if feature == "mel":
        return _apply_fb(_mel_basis(p["n_fft"], p["n_mels"], p["fmin"], p["fmax"]), P)
    if feature == "stft":
        return np.ascontiguousarray(np.sqrt(P).transpose(0, 2, 1))
    if feature == "chroma":
        tunings = _tunings(P, p["n_chroma"], p["n_fft"])
        C = np.empty((len(P), p["n_chroma"], P.shape[1]), np.float32)
        for t in np.unique(tunings):
            sel = np.flatnonzero(tunings == t)
            C[sel] = _apply_fb(_chroma_fb(p["n_fft"], p["n_chroma"], float(t)), P[sel])
        return _normalize_inf(C)
    raise ValueError(feature)


_WARM: set = set()


def _warm_up(features) -> None:
    """Run each feature once on one clip in the calling thread before any worker thread does.

    librosa's numba kernels (``localmax``, piptrack's interpolation, ...) compile on first use;
    concurrent first calls from two threads can crash numba or corrupt its on-disk cache.
    """
    todo = [f for f in features if f not in _WARM]
    if not todo:
        return
    y = np.random.default_rng(0).normal(scale=0.1, size=(1, CLIP_SAMPLES)).astype(np.float32)
    for f in todo:
        _raw_chunk(y, f, DEFAULTS[f])
        _WARM.add(f)


def warm_numba_cache() -> list[str]:
    """Compile, in this one process, the numba kernels of librosa that the features use.

    librosa's ``@guvectorize(cache=True)`` kernels (``localmax``, ``localmin``, ``peak_pick``,
    ``zero_crossings``, piptrack's parabolic interpolation) are compiled at import when no cache
    exists, and numba writes each one's two cache files (kernel and ufunc wrapper) separately: two
    processes compiling at once can leave a pair from different processes, and the next load
    segfaults (numba issue 10128; seen in CI as a crash of a pytest worker in
    ``librosa.util.localmax``). Call this once, before starting several processes on a fresh
    environment (``run_tests.sh`` does, before its pytest workers); later imports load the cache.

    Returns
    -------
    list of str
        The features run (every one of :data:`FEATURES`, on one clip, our path and upstream's).
    """
    import librosa

    y = np.random.default_rng(0).normal(scale=0.1, size=CLIP_SAMPLES).astype(np.float32)
    x = np.abs(y[:2048]).astype(np.float64)
    librosa.zero_crossings(y)
    librosa.util.localmax(x)
    librosa.util.localmin(x)
    librosa.util.peak_pick(x, pre_max=3, post_max=3, pre_avg=3, post_avg=5, delta=0.01, wait=10)
    librosa.estimate_tuning(y=y, sr=SAMPLE_RATE)
    _warm_up(FEATURES)
    for f in FEATURES:
        reference(y, f)
    return list(FEATURES)


CHUNK = 8
"""Clips per work item of the CPU path (small enough to stay in cache, many items per thread)."""


def _run_chunks(fn, Y: np.ndarray, threads: int, chunk: int = CHUNK):
    """Apply ``fn`` to chunks of ``chunk`` clips on ``threads`` threads, results in order.

    BLAS is limited to one thread (our threads already use every core).
    """
    from threadpoolctl import threadpool_limits

    parts = [Y[a:a + chunk] for a in range(0, len(Y), chunk)]
    # BLAS stays single-threaded on every path, so that results do not depend on the thread count.
    with threadpool_limits(1):
        if threads <= 1 or len(parts) == 1:
            res = [fn(p) for p in parts]
        else:
            with ThreadPoolExecutor(min(threads, len(parts))) as ex:
                res = list(ex.map(fn, parts))
    if isinstance(res[0], dict):
        return {k: np.concatenate([r[k] for r in res]) for k in res[0]}
    return np.concatenate(res)


def raw_batch(Y: np.ndarray, feature: str, device: str = "cpu", threads: int | None = None,
              **overrides) -> np.ndarray:
    """Raw feature values (librosa units, not divided by 255) for a batch.

    Parameters
    ----------
    Y : numpy.ndarray, shape (n, 32000)
    device : {"cpu", "gpu", "auto"}
        ``gpu``/``auto`` use the Keras path for mel/stft/mfcc/chroma (``auto`` only when the
        backend sees an accelerator).

    Returns
    -------
    numpy.ndarray, shape (n, freq_bins, frames), float32
    """
    p = params(feature, **overrides)
    Y = clean_batch(Y)
    if len(Y) == 0:
        return np.zeros((0, *feature_shape(feature, **overrides)), np.float32)
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}")
    if feature in GPU_FEATURES and (device == "gpu" or (device == "auto" and accelerator_available())):
        return keras_raw_batch(Y, feature, **overrides)
    threads = threads or n_threads()
    if threads > 1:
        _warm_up([feature])
    # librosa's CQT/VQT rebuild their filters on every call: fewer, larger calls
    chunk = 32 if feature in ("cqt", "vqt") else CHUNK
    return _run_chunks(lambda c: _raw_chunk(c, feature, p), Y, threads, chunk)


def raw_all(Y: np.ndarray, features=FEATURES, threads: int | None = None) -> dict[str, np.ndarray]:
    """Every requested feature (upstream parameters) for one batch, sharing the 1024-point STFT.

    Returns
    -------
    dict
        feature -> raw values, shape (n, freq_bins, frames), float32.
    """
    Y = clean_batch(Y)
    threads = threads or n_threads()
    if threads > 1:
        _warm_up(features)
    shared = [f for f in features if f in ("mel", "stft", "chroma")]

    def work(chunk):
        res = {}
        if shared:
            X = spectrum(chunk, 1024, 256)
            P = (X.real * X.real + X.imag * X.imag).astype(np.float32, copy=False)
            for f in shared:
                res[f] = np.ascontiguousarray(
                    np.abs(X).transpose(0, 2, 1) if f == "stft" else _raw_from_power(P, f, DEFAULTS[f]),
                    dtype=np.float32)
        for f in features:
            if f not in shared:
                res[f] = _raw_chunk(chunk, f, DEFAULTS[f])
        return res

    return _run_chunks(work, Y, threads)


# --------------------------------------------------------------------------------------------
# modes


def to_db(raw: np.ndarray, feature: str) -> np.ndarray:
    """Our ``db`` mode from raw values: see the module docstring. Shape kept, float32."""
    raw = np.asarray(raw, dtype=np.float32)
    axes = tuple(range(1, raw.ndim)) if raw.ndim == 3 else None
    if feature == "mfcc":
        mu = raw.mean(axis=axes, keepdims=True)
        sd = raw.std(axis=axes, keepdims=True)
        tol = 1e-6 * (np.abs(raw).max(axis=(-2, -1), keepdims=True) + 1.0)
        flat = (raw.std(axis=-1, keepdims=True) <= tol).all(axis=-2, keepdims=True)  # silence
        out = (raw - mu) / np.where(sd > 1e-6, sd, 1.0)
        return np.where(flat, 0.0, out).astype(np.float32)
    if feature == "chroma":
        return raw.copy()
    mult, amin = (10.0, AMIN_POWER) if feature in POWER_FEATURES else (20.0, AMIN_AMPLITUDE)
    ref = raw.max(axis=axes, keepdims=True)
    silent = ref <= amin
    d = mult * (np.log10(np.maximum(amin, raw)) - np.log10(np.maximum(amin, ref)))
    d = np.maximum(d, -TOP_DB)
    out = (d + TOP_DB) / TOP_DB
    return np.where(silent, 0.0, out).astype(np.float32)


def extract_batch(Y: np.ndarray, feature: str, mode: str = "array", device: str = "cpu",
                  threads: int | None = None, fast_image: bool = True, **overrides) -> np.ndarray:
    """A feature of every clip of a batch, as model input.

    Parameters
    ----------
    Y : numpy.ndarray, shape (n, 32000)
        Clips; other lengths are padded/cropped with a warning, NaN/inf replaced by 0.
    feature : str
        One of :data:`FEATURES`.
    mode : {"array", "db", "image"}
    device : {"cpu", "gpu", "auto"}
        ``gpu`` runs STFT/mel/MFCC/chroma with Keras ops of the active backend.
    threads : int, optional
        CPU worker threads (default: all usable cores).
    fast_image : bool
        Image mode: the template renderer (default) or one matplotlib figure per clip.
    **overrides
        Parameters of :data:`DEFAULTS`.

    Returns
    -------
    numpy.ndarray, shape (n, n_bins, n_frames), float32
        (n_bins, n_frames) = :func:`feature_shape` (feature, mode).
    """
    _check(feature, mode)
    raw = raw_batch(Y, feature, device=device, threads=threads, **overrides)
    if mode == "array":
        return raw / np.float32(SCALE)
    if mode == "db":
        return to_db(raw, feature)
    return images.images_from_raw(raw, feature, fast=fast_image, **overrides)


def extract(y: np.ndarray, feature: str, mode: str = "array", **overrides) -> np.ndarray:
    """One clip's feature as model input, shape (n_bins, n_frames) float32 (see :func:`extract_batch`)."""
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if len(y) != CLIP_SAMPLES:
        y = fit_length(y, CLIP_SAMPLES)
    return extract_batch(y[None], feature, mode, threads=1, **overrides)[0]


# --------------------------------------------------------------------------------------------
# Keras-ops path


def accelerator_available() -> bool:
    """Whether the active Keras backend sees a GPU/TPU."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return any(d.platform != "cpu" for d in jax.devices())
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - any backend failure means no accelerator
        return False
    return False


def _keras_power(x, n_fft: int, hop: int):
    """Power spectrum with keras.ops, (n, frames, n_bins)."""
    from keras import ops

    pad = n_fft // 2
    x = ops.pad(x, [[0, 0], [pad, pad]])
    re, im = ops.stft(x, sequence_length=n_fft, sequence_stride=hop, fft_length=n_fft,
                      window=ops.convert_to_tensor(_window(n_fft)), center=False)
    return re * re + im * im


def keras_raw_batch(Y: np.ndarray, feature: str, batch_size: int = 512, **overrides) -> np.ndarray:
    """Raw mel / stft / mfcc / chroma values computed with ``keras.ops`` (active backend).

    Parameters
    ----------
    Y : numpy.ndarray, shape (n, 32000)

    Returns
    -------
    numpy.ndarray, shape (n, freq_bins, frames), float32
    """
    from keras import ops

    if feature not in GPU_FEATURES:
        raise ValueError(f"the Keras path covers {GPU_FEATURES}, not {feature!r}")
    p = params(feature, **overrides)
    Y = clean_batch(Y)
    outs = []
    for a in range(0, len(Y), batch_size):
        x = ops.convert_to_tensor(Y[a:a + batch_size], dtype="float32")
        P = _keras_power(x, p["n_fft"], p["hop_length"])  # (n, frames, n_bins)

        def fb(W, P=P):  # (K, n_bins) filterbank -> (n, K, frames)
            return ops.transpose(ops.matmul(P, ops.convert_to_tensor(W.T)), (0, 2, 1))

        if feature == "stft":
            out = ops.transpose(ops.sqrt(P), (0, 2, 1))
        elif feature == "mel":
            out = fb(_mel_basis(p["n_fft"], p["n_mels"], p["fmin"], p["fmax"]))
        elif feature == "mfcc":
            M = fb(_mel_basis(p["n_fft"], p["n_mels"], 0.0, None))
            d = 10.0 * ops.log10(ops.maximum(M, AMIN_POWER))
            d = ops.maximum(d, ops.max(d, axis=(1, 2), keepdims=True) - TOP_DB)
            out = ops.matmul(ops.convert_to_tensor(_dct_matrix(p["n_mels"], p["n_mfcc"])), d)
        else:
            tunings = _tunings(np.asarray(ops.convert_to_numpy(P)), p["n_chroma"], p["n_fft"])
            W = np.stack([_chroma_fb(p["n_fft"], p["n_chroma"], float(t)) for t in tunings])
            C = ops.matmul(ops.convert_to_tensor(W), ops.transpose(P, (0, 2, 1)))
            m = ops.max(ops.abs(C), axis=1, keepdims=True)
            out = C / ops.where(m < np.finfo(np.float32).tiny, 1.0, m)
        outs.append(np.asarray(ops.convert_to_numpy(out), dtype=np.float32))
    return np.concatenate(outs)


# --------------------------------------------------------------------------------------------
# IIRT agreement


def iirt_agreement(Y: np.ndarray, floor_db: float = -80.0) -> dict:
    """How close the fast IIRT is to ``librosa.iirt`` on clips ``Y`` (n, 32000).

    Returns
    -------
    dict
        ``corr_log``: Pearson correlation of the dB values (both floored at ``floor_db`` below each
        clip's maximum), ``median_rel_err``: median |fast - ref| / ref over cells within 40 dB of
        the clip maximum, ``rel_err_per_band``: (85,) median relative error per band (same cells),
        ``mae_db``: mean absolute dB difference over cells within 40 dB of the maximum.
    """
    Y = clean_batch(Y)
    ref = np.stack([reference(y, "iirt") for y in Y])
    fast = raw_batch(Y, "iirt")

    def db(a):
        m = a.max(axis=(1, 2), keepdims=True)
        return np.maximum(10 * np.log10(np.maximum(a, 1e-20) / np.maximum(m, 1e-20)), floor_db)

    dr, dfast = db(ref), db(fast)
    strong = dr > -40
    rel = np.abs(fast - ref) / np.maximum(ref, 1e-20)
    per_band = np.array([np.median(rel[:, k][strong[:, k]]) if strong[:, k].any() else np.nan
                         for k in range(ref.shape[1])])
    return {
        "corr_log": float(np.corrcoef(dr.ravel(), dfast.ravel())[0, 1]),
        "median_rel_err": float(np.median(rel[strong])),
        "mae_db": float(np.mean(np.abs(dr - dfast)[strong])),
        "rel_err_per_band": per_band,
    }
