"""Audio input: decode any common file to 16 kHz mono float32 and cut 2-s fragments.

Decoding uses soundfile (wav/flac/ogg/mp3 through libsndfile) and falls back to the ``ffmpeg``
binary for anything else (m4a, aac, wma, video containers) when it is installed. Resampling uses
soxr (VHQ). Every failure raises :class:`idsd.errors.AudioError` naming the file and the problem.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterable, Iterator

import numpy as np
import soundfile as sf
import soxr

from idsd import CLIP_SAMPLES, SAMPLE_RATE
from idsd.errors import AudioError
from idsd.files import atomic_write
from idsd.validate import MAX_ABS_SAMPLE, check_samples, ffmpeg_input, file_problem

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS: frozenset[str] = frozenset({
    ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".wma", ".aif", ".aiff", ".aifc",
    ".au", ".snd", ".caf", ".w64", ".rf64", ".g722", ".webm", ".mka", ".mp4", ".m4v",
})
"""Extensions (lower case) of the audio/video containers taken when a folder is walked."""


# --------------------------------------------------------------------------- walking folders


def is_audio_name(name: str | os.PathLike, extensions: Iterable[str] = AUDIO_EXTENSIONS) -> bool:
    """True when the extension of ``name`` (any case) is one of ``extensions``."""
    return os.path.splitext(os.fspath(name))[1].lower() in extensions


def walk_files(root: str | os.PathLike, rejected: list[tuple[str, str]] | None = None) -> list[str]:
    """All regular files under ``root``; every entry not used is listed in ``rejected``.

    The order is deterministic: each folder's files sorted by name, then its subfolders in name
    order (``os.walk`` top-down). Hidden files and folders (name starting with ``.``) are not
    taken, symlinks to folders are not followed, symlinks to files are taken when they resolve
    to a readable regular file.

    Parameters
    ----------
    root : str or PathLike
    rejected : list of (path, reason), optional
        Receives each entry skipped, with the reason: ``hidden file``, ``hidden folder (not
        walked)``, ``symlink to a folder (not followed)``, ``unreadable folder (...)``, ``broken
        symlink``, ``symlink loop``, ``not a regular file (a FIFO (named pipe))``, ``unreadable
        (permission denied)``, ... (:func:`idsd.validate.file_problem`). Empty files are returned
        (the decoder refuses them with ``empty file``).

    Returns
    -------
    list of str
    """
    out: list[str] = []
    note = rejected.append if rejected is not None else (lambda item: None)

    def onerror(exc: OSError) -> None:
        note((os.fspath(exc.filename or root), f"unreadable folder ({exc.strerror})"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        keep = []
        for d in sorted(dirnames):
            full = os.path.join(dirpath, d)
            if d.startswith("."):
                note((full, "hidden folder (not walked)"))
            elif os.path.islink(full):
                note((full, "symlink to a folder (not followed)"))
            else:
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            full = os.path.join(dirpath, f)
            if f.startswith("."):
                note((full, "hidden file"))
                continue
            problem = file_problem(full, allow_empty=True)
            if problem:
                note((full, problem))
                continue
            out.append(full)
    return out


def iter_audio_files(root: str | os.PathLike, rejected: list[tuple[str, str]] | None = None,
                     extensions: Iterable[str] = AUDIO_EXTENSIONS,
                     reason: str = "not an audio file name") -> Iterator[str]:
    """Yield the audio files under ``root``, in :func:`walk_files` order: the one folder walker.

    Parameters
    ----------
    root : str or PathLike
    rejected : list of (path, reason), optional
        Receives every entry :func:`walk_files` skips, with its reason, and every file whose
        extension is not in ``extensions``, with ``reason``.
    extensions : iterable of str
        Lower-case extensions with the dot; :data:`AUDIO_EXTENSIONS` by default.
    reason : str
        The reason recorded for a file with another extension.
    """
    extensions = frozenset(extensions)
    for path in walk_files(root, rejected):
        if is_audio_name(path, extensions):
            yield path
        elif rejected is not None:
            rejected.append((path, reason))


def _existing_file(path: str | os.PathLike) -> str:
    """``path`` as a string; AudioError when it is not a readable, non-empty regular file.

    The reason is precise (:func:`idsd.validate.file_problem`): ``file not found``, ``broken
    symlink``, ``is a folder, not a file``, ``not a regular file (a FIFO (named pipe))``,
    ``unreadable (permission denied)``, ``empty file``. A FIFO or device is never opened.
    """
    path = os.fspath(path)
    problem = file_problem(path)
    if problem:
        raise AudioError(path, problem)
    return path


def _decode_ffmpeg(path: str) -> tuple[np.ndarray, int]:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError(path, "format not readable by libsndfile and ffmpeg is not installed")
    # file:/absolute/path: a name like "pipe:x.m4a" or "-y.wav" is a file, never a protocol/option
    cmd = [ffmpeg, "-v", "error", "-nostdin", "-i", ffmpeg_input(path), "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
           "-f", "f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True, check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise AudioError(path, f"not decodable audio ({msg[-1] if msg else 'ffmpeg failed'})")
    return np.frombuffer(proc.stdout, dtype="<f4").copy(), SAMPLE_RATE


def load_audio(path: str | os.PathLike, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Load an audio file as mono float32 at ``sr``.

    Parameters
    ----------
    path : str or PathLike
        Any file libsndfile reads (wav, flac, ogg, mp3, 8/16/24/32-bit), or any format ffmpeg
        decodes when the ``ffmpeg`` binary is installed.
    sr : int
        Target sample rate in Hz.

    Returns
    -------
    numpy.ndarray, shape (n_samples,), float32
        Channels averaged to mono, resampled with soxr, NaN/inf replaced by 0 (with a warning);
        samples slightly outside [-1, 1] are kept with a logged warning.

    Raises
    ------
    AudioError
        Missing, empty, not a regular file, unreadable, corrupt or non-audio file; no samples
        after decoding; samples far outside [-1, 1] (peak above
        :data:`idsd.validate.MAX_ABS_SAMPLE`).
    """
    path = _existing_file(path)
    try:
        y, file_sr = sf.read(path, dtype="float32", always_2d=True)
        y = y.mean(axis=1)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        y, file_sr = _decode_ffmpeg(path)
    if y.size == 0:
        raise AudioError(path, "no audio samples")
    if not np.all(np.isfinite(y)):
        warnings.warn(f"{path}: NaN/inf samples replaced by 0", stacklevel=2)
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    check_samples(y, path)
    if file_sr != sr:
        y = soxr.resample(y, file_sr, sr, quality="VHQ")
    return np.ascontiguousarray(y, dtype=np.float32)


# --------------------------------------------------------------------------- streaming

STREAM_BLOCK_S = 10.0
"""Seconds of source audio decoded per block by :class:`AudioStream`."""


class AudioStream:
    """Decode an audio file block by block to mono float32 at ``sr``, in bounded memory.

    The blocks, concatenated, equal :func:`load_audio` sample for sample: the same decoder
    (libsndfile, else the ``ffmpeg`` binary streaming ``f32le`` 16 kHz mono on its stdout), the same
    downmix (mean of the channels), NaN/inf replaced by 0 (one warning), the same soxr VHQ resampler
    (``soxr.ResampleStream`` gives the one-shot output exactly). Memory is a few blocks, whatever the
    length of the file.

    One exception: MP3. libsndfile 1.2 decodes MPEG wrongly when it is read in blocks (the samples
    after a block boundary are garbled; reading the whole file at once is right), so an MP3 is
    streamed through ffmpeg at its own rate and channel count, then downmixed and resampled here as
    above; ffmpeg's and libsndfile's MP3 decoders agree within about 1e-6. Without ffmpeg an MP3 is
    read whole (memory grows with its length; a warning says so).

    Parameters
    ----------
    path : str or PathLike
    sr : int
        Target sample rate in Hz.
    block_s : float
        Seconds of source audio per block (> 0).
    max_abs : float or None
        Refuse the file (AudioError, like :func:`load_audio`) when a decoded sample is beyond this
        (:data:`idsd.validate.MAX_ABS_SAMPLE` by default); ``None`` keeps every sample as decoded, so
        that the caller can judge them (``idsd detect`` flags such windows instead).

    Attributes
    ----------
    decoder : {"libsndfile", "ffmpeg"}
    source_rate : int
        Rate of the decoded stream before resampling (16000 for ffmpeg, which resamples itself).
    frames : int or None
        Source frames from the header (libsndfile), ``None`` when not known (ffmpeg).
    n_samples : int
        Samples at ``sr`` yielded so far.

    Raises
    ------
    AudioError
        At open (missing, empty, not a regular file, ffmpeg needed but missing) or while iterating
        (corrupt data, no audio samples, samples beyond ``max_abs``).

    Examples
    --------
    >>> with AudioStream("long.flac") as stream:  # doctest: +SKIP
    ...     for y in stream:                       # y: (n,) float32 at 16 kHz
    ...         ...
    """

    def __init__(self, path: str | os.PathLike, sr: int = SAMPLE_RATE, block_s: float = STREAM_BLOCK_S,
                 max_abs: float | None = MAX_ABS_SAMPLE):
        if not block_s > 0:
            raise ValueError(f"block_s must be > 0, got {block_s}")
        self.path = _existing_file(path)
        self.sr = int(sr)
        self.block_s = float(block_s)
        self.max_abs = max_abs
        self.n_samples = 0
        self._sf = None
        self._gen = None
        try:
            self._sf = sf.SoundFile(self.path)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
            self._sf = None
        self._native_channels = None  # MP3 through ffmpeg: decoded at its own rate and channel count
        self._whole = False  # MP3 without ffmpeg: one read of the whole file
        if self._sf is not None:
            self.decoder, self.source_rate, self.frames = "libsndfile", int(self._sf.samplerate), int(self._sf.frames)
            if str(self._sf.subtype).startswith("MPEG"):  # see the class docstring: no block reads of MPEG
                if shutil.which("ffmpeg") is not None:
                    self._native_channels = int(self._sf.channels)
                    self.decoder = "ffmpeg"
                    self._release()
                else:
                    log.warning("%s: MP3 read whole (libsndfile cannot read MPEG in blocks; install ffmpeg "
                                "to stream it)", self.path)
                    self._whole = True
        else:
            self._use_ffmpeg()

    def _use_ffmpeg(self) -> None:
        if shutil.which("ffmpeg") is None:
            raise AudioError(self.path, "format not readable by libsndfile and ffmpeg is not installed")
        self.decoder, self.source_rate, self.frames = "ffmpeg", SAMPLE_RATE, None
        self._native_channels = None

    @property
    def duration_s(self) -> float | None:
        """Duration from the header in seconds, ``None`` when not known before decoding."""
        return None if self.frames is None else self.frames / self.source_rate

    # ---- decoding
    def _sf_blocks(self) -> Iterator[np.ndarray]:
        """(m,) mono float32 source blocks from libsndfile; falls back to ffmpeg before the first block."""
        n = -1 if self._whole else max(1, int(round(self.block_s * self.source_rate)))
        first = True
        while True:
            try:
                y = self._sf.read(n, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
                if first:  # load_audio would have fallen back to ffmpeg for the whole file
                    self._sf.close()
                    self._sf = None
                    self._use_ffmpeg()
                    yield from self._ffmpeg_blocks()
                    return
                raise AudioError(self.path, f"not decodable audio ({exc})") from None
            first = False
            if len(y) == 0:
                return
            yield y.mean(axis=1)

    def _ffmpeg_blocks(self) -> Iterator[np.ndarray]:
        """(m,) mono float32 blocks of ffmpeg's f32le output, read from its stdout as it comes.

        ffmpeg converts to 16 kHz mono itself (as :func:`load_audio` asks it to), except for an MP3
        read by libsndfile's rules (``_native_channels``): its own rate and channels, downmixed here.
        """
        import tempfile

        ch = self._native_channels or 1
        convert = [] if self._native_channels else ["-ac", "1", "-ar", str(SAMPLE_RATE)]
        # file:/absolute/path: a name like "pipe:x.m4a" or "-y.wav" is a file, never a protocol/option
        cmd = [shutil.which("ffmpeg") or "ffmpeg", "-v", "error", "-nostdin", "-i", ffmpeg_input(self.path),
               "-vn", *convert, "-f", "f32le", "-"]
        frame = 4 * ch
        nbytes = frame * max(1, int(round(self.block_s * self.source_rate)))
        with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty ffmpeg cannot block on it
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
            try:
                rest = b""
                while True:
                    chunk = proc.stdout.read(nbytes)
                    if not chunk:
                        break
                    buf = rest + chunk
                    k = len(buf) // frame * frame
                    rest = buf[k:]
                    if k:
                        yield np.frombuffer(buf[:k], dtype="<f4").astype(np.float32).reshape(-1, ch).mean(axis=1)
                if proc.wait() != 0:  # as load_audio: a failed decode refuses the file
                    err.seek(0)
                    msg = err.read().decode(errors="replace").strip().splitlines()
                    raise AudioError(self.path, f"not decodable audio ({msg[-1] if msg else 'ffmpeg failed'})")
            finally:
                if proc.poll() is None:  # the reader stopped early
                    proc.kill()
                    proc.wait()
                proc.stdout.close()

    def _blocks(self) -> Iterator[np.ndarray]:
        source = self._sf_blocks() if self._sf is not None else self._ffmpeg_blocks()
        resampler = None
        warned_nan = warned_peak = False
        try:
            for y in source:
                if not np.all(np.isfinite(y)):
                    if not warned_nan:
                        warnings.warn(f"{self.path}: NaN/inf samples replaced by 0", stacklevel=3)
                        warned_nan = True
                    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
                peak = float(np.max(np.abs(y))) if y.size else 0.0
                if self.max_abs is not None and peak > self.max_abs:
                    raise AudioError(self.path, f"samples far outside [-1, 1] (peak {peak:.3g}): not normalised audio")
                if peak > 1.0 + 1e-6 and not warned_peak:
                    log.warning("%s: samples outside [-1, 1] (peak %.3g), used as they are", self.path, peak)
                    warned_peak = True
                if self.source_rate != self.sr:
                    if resampler is None:
                        resampler = soxr.ResampleStream(self.source_rate, self.sr, 1, dtype="float32",
                                                        quality="VHQ")
                    y = resampler.resample_chunk(y, last=False)
                y = np.ascontiguousarray(y, dtype=np.float32)
                if y.size:
                    self.n_samples += y.size
                    yield y
            if resampler is not None:  # the resampler's delay line: the last samples
                y = np.ascontiguousarray(resampler.resample_chunk(np.zeros(0, np.float32), last=True),
                                         dtype=np.float32)
                if y.size:
                    self.n_samples += y.size
                    yield y
            if self.n_samples == 0:
                raise AudioError(self.path, "no audio samples")
        finally:
            source.close()
            self._release()

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield (n,) float32 blocks at ``sr`` (about ``block_s`` seconds each); once per stream."""
        if self._gen is not None:
            raise RuntimeError(f"{self.path}: an AudioStream is read once")
        self._gen = self._blocks()
        return self._gen

    def _release(self) -> None:
        if self._sf is not None:
            self._sf.close()
            self._sf = None

    def close(self) -> None:
        """Release the file (and stop ffmpeg when the stream was not read to its end)."""
        gen, self._gen = self._gen, False
        if gen:
            gen.close()
        self._release()

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def fragments(y: np.ndarray, length: int = CLIP_SAMPLES, pad: bool = False) -> np.ndarray:
    """Cut a signal into non-overlapping fragments (the upstream rule).

    Parameters
    ----------
    y : numpy.ndarray, shape (n_samples,)
    length : int
        Fragment length in samples (2 s at 16 kHz by default).
    pad : bool
        Upstream drops signals shorter than ``length`` and the remainder after the last full
        window. With ``pad=True`` the last partial window (or a short signal) is zero-padded
        instead, so no audio is dropped.

    Returns
    -------
    numpy.ndarray, shape (n_fragments, length), float32
        May have zero rows when ``pad=False`` and ``y`` is shorter than ``length``.
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    n_full = len(y) // length
    out = y[: n_full * length].reshape(n_full, length)
    if pad and (len(y) % length or n_full == 0) and len(y) > 0:
        tail = np.zeros((1, length), dtype=np.float32)
        rest = y[n_full * length:]
        tail[0, : len(rest)] = rest
        out = np.concatenate([out, tail])
    return np.ascontiguousarray(out)


def n_fragments(n_samples: int, length: int = CLIP_SAMPLES, pad: bool = False) -> int:
    """Number of fragments :func:`fragments` returns for a signal of ``n_samples``."""
    full = n_samples // length
    return full + int(bool(pad and n_samples > 0 and (n_samples % length or full == 0)))


def fit_length(y: np.ndarray, length: int = CLIP_SAMPLES, name: str = "clip") -> np.ndarray:
    """Zero-pad or crop a clip to exactly ``length`` samples, warning when it changes.

    Returns
    -------
    numpy.ndarray, shape (length,), float32
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if len(y) == length:
        return y
    warnings.warn(f"{name}: {len(y)} samples, {'padded' if len(y) < length else 'cropped'} to {length}",
                  stacklevel=2)
    out = np.zeros(length, dtype=np.float32)
    out[: min(length, len(y))] = y[:length]
    return out


# --------------------------------------------------------------------------------------------
# Inspection, validation and writing (used by the corpus adapters, the embedded corpus builder
# and the modified-speech set).

SILENCE_PEAK = 10 ** (-60 / 20)
"""Peak amplitude (-60 dBFS) below which a whole file counts as silent."""


def audio_info(path: str | os.PathLike) -> dict:
    """Header facts of an audio file without decoding it (libsndfile formats only).

    Returns
    -------
    dict
        ``samplerate`` (int), ``channels`` (int), ``frames`` (int), ``duration`` (float, s),
        ``subtype`` (str, e.g. ``"PCM_16"``), ``format`` (str, e.g. ``"WAV"``).

    Raises
    ------
    AudioError
        Missing, empty or unreadable header (formats only ffmpeg reads raise too).
    """
    path = _existing_file(path)
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(path, f"unreadable header ({exc})") from None
    return dict(samplerate=int(info.samplerate), channels=int(info.channels), frames=int(info.frames),
                duration=float(info.duration), subtype=str(info.subtype), format=str(info.format))


def format_notes(info: dict, sr: int = SAMPLE_RATE) -> list[str]:
    """Conversions a file needs to become 16 kHz mono float32 (empty when none).

    Parameters
    ----------
    info : dict
        As returned by :func:`audio_info`.

    Returns
    -------
    list of str
        e.g. ``["stereo -> mono", "44100 Hz -> 16000 Hz", "PCM_24"]``.
    """
    notes = []
    if info.get("channels", 1) != 1:
        notes.append(f"{info['channels']} channels -> mono")
    if info.get("samplerate", sr) != sr:
        notes.append(f"{info['samplerate']} Hz -> {sr} Hz")
    if info.get("subtype") not in (None, "PCM_16", "FLOAT", "VORBIS", "MPEG_LAYER_III"):
        notes.append(str(info["subtype"]))
    return notes


def check_audio(y: np.ndarray, path: str | os.PathLike = "<array>", min_samples: int = CLIP_SAMPLES,
                pad: bool = False) -> int:
    """Validate a decoded signal for fragmentation and return its number of 2-s fragments.

    Parameters
    ----------
    y : numpy.ndarray, shape (n_samples,)
        Decoded audio (see :func:`load_audio`).
    path : str or PathLike
        Named in the error.
    min_samples : int
        The upstream rule drops signals shorter than one fragment; ignored when ``pad``.
    pad : bool
        Accept short signals (zero-padded by :func:`fragments`).

    Returns
    -------
    int
        Number of fragments :func:`fragments` will return (at least 1).

    Raises
    ------
    AudioError
        ``"shorter than 2 s"`` or ``"silent"`` (peak below -60 dBFS).
    """
    if not pad and len(y) < min_samples:
        raise AudioError(path, f"shorter than {min_samples / SAMPLE_RATE:g} s ({len(y) / SAMPLE_RATE:.2f} s)")
    if len(y) == 0 or float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise AudioError(path, "silent (peak below -60 dBFS)")
    return n_fragments(len(y), min_samples, pad=pad)


def write_audio(path: str | os.PathLike, y: np.ndarray, sr: int = SAMPLE_RATE, subtype: str = "PCM_16") -> str:
    """Write a mono signal atomically (temporary file, then rename), clipping to [-1, 1].

    Parameters
    ----------
    path : str or PathLike
        Destination; the format follows the extension (wav, flac, ogg).
    y : numpy.ndarray, shape (n_samples,)
    sr : int
    subtype : str
        libsndfile subtype, 16-bit PCM by default.

    Returns
    -------
    str
        The path written.
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    y = np.clip(np.asarray(y, dtype=np.float32).reshape(-1), -1.0, 1.0)
    # the temporary name hides the extension, so the format is named as libsndfile would infer it
    fmt = os.path.splitext(path)[1][1:] or None
    atomic_write(path, lambda tmp: sf.write(tmp, y, sr, subtype=subtype, format=fmt))
    return path
