"""``idsd detect`` on real files: streamed decoding and scoring, flagged windows, quiet start-up.

Streaming (:class:`idsd.audio.AudioStream`, :meth:`idsd.detect.Detector.detect_files`) must give
the windows and scores of the in-memory path (:func:`idsd.audio.load_audio` +
:meth:`~idsd.detect.Detector.score_signal`), and memory must not grow with the length of a file
(an hour-long WAV scored by ``idsd detect`` in a subprocess). Windows that cannot be judged
(silent, clipped, out-of-range samples) are flagged and left out of the file score.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import requires

from idsd.artifact import write_record
from idsd.audio import AudioStream, load_audio
from idsd.bench.detect import _rss_mb
from idsd.detect import (
    CLIP_FRACTION,
    OUT_OF_RANGE_LEVEL,
    UNDETERMINED,
    DetectionResult,
    flag_summary,
    window_flags,
    windows_frame,
)
from idsd.errors import AudioError

SR = 16000
HAVE_FFMPEG = shutil.which("ffmpeg") is not None
BACKEND_NOISE = re.compile(r"tensorflow|absl|oneDNN|onednn|cuda|cudnn|cpu_feature_guard|port\.cc|"
                           r"^[IWEF]\d{4} |xla|jax", re.IGNORECASE | re.MULTILINE)


def _speech(seconds: float, sr: int = SR, channels: int = 1, seed: int = 0, amp: float = 0.3) -> np.ndarray:
    """Harmonic voice-like signal with a syllable envelope, peak ``amp``; (n,) or (n, channels)."""
    r = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    f0 = 110 + 50 * r.random() + 20 * np.sin(2 * np.pi * 0.7 * t)
    ph = 2 * np.pi * np.cumsum(f0) / sr
    env = 0.4 + 0.6 * np.sin(2 * np.pi * 3.0 * t) ** 2
    y = env * sum(np.sin(k * ph) / k for k in range(1, 8)) + 0.03 * r.normal(size=t.size)
    y = amp * y / np.max(np.abs(y))
    return np.stack([y, 0.6 * y], axis=1) if channels == 2 else y


def _parser():
    import argparse

    from idsd.commands import detect as cmd

    parser = argparse.ArgumentParser(prog="idsd")
    cmd.register(parser.add_subparsers(dest="command"), {})
    return parser


def _run(argv) -> int:
    args = _parser().parse_args(["detect", *map(str, argv)])
    return args.func(args)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """An untrained (seeded) mfcc detector, input (40, 63): the cheapest real model, with its record."""
    import keras

    from idsd.model import build_model

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("models") / "mfcc_avg_10.keras"
    build_model((40, 63), pooling="avg").save(path)
    write_record(path, {"feature": "mfcc", "mode": "array", "pooling": "avg", "train_corpus": "toy",
                        "threshold": 0.3, "threshold_source": "dev EER", "input_shape": [40, 63]})
    return path


@pytest.fixture(scope="module")
def detector(model_path):
    from idsd.detect import Detector

    det = Detector.load(model_path, batch_size=3)
    det.block_s = 0.37  # many block boundaries, none on a window boundary
    return det


# --------------------------------------------------------------------------- the streaming reader


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Files that need resampling and downmixing, that do not, float with big values, mp3, m4a."""
    d = tmp_path_factory.mktemp("stream")
    out = {
        "stereo44k": d / "stereo_44k_9.3s.wav",
        "mono16k": d / "mono_16k_7s.wav",
        "flac48k": d / "hires_48k_24bit.flac",
        "float5": d / "float_peak5.wav",
    }
    sf.write(out["stereo44k"], _speech(9.3, 44100, channels=2, seed=1), 44100, subtype="PCM_16")
    sf.write(out["mono16k"], _speech(7.0, seed=2), SR, subtype="PCM_16")
    sf.write(out["flac48k"], _speech(3.1, 48000, seed=3), 48000, subtype="PCM_24")
    sf.write(out["float5"], (_speech(3.0, seed=4) / 0.3 * 5.0).astype(np.float32), SR, subtype="FLOAT")
    if HAVE_FFMPEG:
        out["mp3"] = d / "stereo_44k.mp3"
        sf.write(out["mp3"], _speech(5.5, 44100, channels=2, seed=5), 44100)
        out["m4a"] = d / "aac.m4a"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(out["stereo44k"]), "-c:a", "aac", str(out["m4a"])],
                       check=True)
    return out


@pytest.mark.parametrize("name", ["stereo44k", "mono16k", "flac48k", "float5"])
def test_stream_equals_load_audio(files, name):
    y = load_audio(files[name])
    for block_s in (0.37, 10.0):
        with AudioStream(files[name], block_s=block_s, max_abs=None) as stream:
            blocks = list(stream)
        assert stream.decoder == "libsndfile" and all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
        assert len(blocks) > 1 if block_s < 1 else len(blocks) <= 2  # (+ the resampler's last samples)
        np.testing.assert_array_equal(np.concatenate(blocks), y)  # sample for sample
        assert stream.n_samples == len(y)


@requires(HAVE_FFMPEG, "ffmpeg")
def test_stream_ffmpeg_formats(files):
    """m4a: ffmpeg's 16 kHz mono stream, exactly; mp3: libsndfile cannot read MPEG in blocks, so
    it is streamed through ffmpeg at its own rate, then downmixed and resampled like load_audio."""
    with AudioStream(files["m4a"], block_s=0.37) as stream:
        m4a = np.concatenate(list(stream))
    assert stream.decoder == "ffmpeg" and stream.duration_s is None
    np.testing.assert_array_equal(m4a, load_audio(files["m4a"]))
    with AudioStream(files["mp3"], block_s=0.37) as stream:
        mp3 = np.concatenate(list(stream))
    ref = load_audio(files["mp3"])
    assert stream.decoder == "ffmpeg" and stream.source_rate == 44100 and len(mp3) == len(ref)
    np.testing.assert_allclose(mp3, ref, atol=1e-5)
    stream = AudioStream(files["m4a"], block_s=0.1)  # stopped early: ffmpeg is ended, nothing hangs
    next(iter(stream))
    stream.close()


def test_stream_refusals_name_the_file(tmp_path, files):
    huge = tmp_path / "huge.wav"
    sf.write(huge, np.full(SR, 3e5, np.float32), SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="samples far outside") as err:
        list(AudioStream(huge))
    assert str(huge) in str(err.value) and "\n" not in str(err.value)
    assert len(np.concatenate(list(AudioStream(huge, max_abs=None)))) == SR  # kept for the caller to judge
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty file"):
        AudioStream(empty)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0), SR)
    with pytest.raises(AudioError, match="no audio samples"):
        list(AudioStream(zero))
    nan = tmp_path / "nan.wav"
    y = _speech(1.0).astype(np.float32)
    y[10] = np.nan
    sf.write(nan, y, SR, subtype="FLOAT")
    with pytest.warns(UserWarning, match="NaN/inf samples replaced by 0"):
        got = np.concatenate(list(AudioStream(nan, block_s=0.3)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(got, load_audio(nan))


# --------------------------------------------------------------------------- streamed == in memory


@pytest.mark.parametrize("name", ["stereo44k", "mono16k"])
def test_streamed_scores_equal_in_memory(detector, files, name):
    """Same windows, padding rule and scores as load_audio + score_signal (resampled file or not)."""
    results, errors = detector.detect_files([files[name]])
    assert errors.empty and len(results) == 1
    row = results.iloc[0]
    ref = detector.score_signal(load_audio(files[name]), str(files[name]))
    assert row.windows == ref.n_windows == int(np.ceil(ref.duration_s / 2)) and row.judged_windows == ref.n_windows
    assert row.duration_s == pytest.approx(ref.duration_s, abs=1e-9)
    np.testing.assert_allclose(row.window_scores, ref.window_scores, rtol=1e-5)
    assert row.score == pytest.approx(ref.score, rel=1e-5)
    assert (row.score_min, row.score_max) == pytest.approx((ref.score_min, ref.score_max), rel=1e-5)
    assert row.window_flags == [""] * row.windows and row.flagged == ""


def test_long_file_progress_over_windows(detector, tmp_path, capsys):
    long = tmp_path / "long_62s.wav"
    sf.write(long, _speech(62.0, seed=7), SR, subtype="PCM_16")
    sf.write(tmp_path / "short.wav", _speech(2.0, seed=8), SR, subtype="PCM_16")
    results, _ = detector.detect_files([tmp_path], progress=True)
    err = capsys.readouterr().err
    assert "window" in err and "file" in err  # a bar over the windows of the long file, one over files
    assert results.set_index("file").loc[str(long), "windows"] == 31


# --------------------------------------------------------------------------- flagged windows


def test_window_flags_rules():
    W = np.zeros((5, 32000), np.float32)
    n = np.full(5, 32000)
    W[1] = 0.3 * np.sin(np.arange(32000) / 7.0)  # speech-level: judged
    W[2] = W[1]
    W[2, : int(CLIP_FRACTION * 32000)] = 1.0  # exactly 1 % at full scale
    W[3] = W[1]
    W[3, 100] = OUT_OF_RANGE_LEVEL + 0.5
    n[4] = 800  # a 50-ms tail: RMS over its audio (-49 dBFS), not over the padded window
    W[4, :800] = 0.005 * np.sqrt(2) * np.sin(np.arange(800) / 3.0)
    assert window_flags(W, n) == ["silent", "", "clipped", "out_of_range", ""]
    assert window_flags(W[:0], n[:0]) == []
    assert flag_summary(["", "silent", "clipped+silent"]) == "silent:2;clipped:1"


def test_digital_silence_is_undetermined(detector, tmp_path):
    f = tmp_path / "silence.wav"
    sf.write(f, np.zeros(3 * SR), SR, subtype="PCM_16")
    results, errors = detector.detect_files([f])
    row = results.iloc[0]
    assert errors.empty and row.decision == UNDETERMINED and np.isnan(row.score)
    assert row.judged_windows == 0 and row.flagged == "silent:2" and row.window_flags == ["silent", "silent"]
    assert np.isnan(row.window_scores).all()  # never fed to the model
    frame = windows_frame(results)
    assert frame["decision"].tolist() == [UNDETERMINED] * 2 and frame["flag"].tolist() == ["silent"] * 2


def test_half_silent_file_scores_its_speech_window(detector, tmp_path):
    f = tmp_path / "half.wav"
    speech = _speech(2.0, seed=9)
    sf.write(f, np.concatenate([np.zeros(2 * SR), speech]), SR, subtype="PCM_16")
    row = detector.detect_files([f])[0].iloc[0]
    assert row.windows == 2 and row.judged_windows == 1 and row.window_flags == ["silent", ""]
    assert np.isnan(row.window_scores[0]) and row.score == row.window_scores[1]
    assert row.score_min == row.score_max == row.score and row.decision in ("real", "fake")
    alone = detector.score_signal(load_audio(f)[2 * SR:])
    assert row.score == pytest.approx(alone.score, rel=1e-5)


def test_out_of_range_and_clipped_are_flagged(detector, files, tmp_path):
    clipped = tmp_path / "clipped.wav"
    sf.write(clipped, np.clip(_speech(4.0, seed=10) * 8, -1, 1), SR, subtype="PCM_16")
    results, errors = detector.detect_files([files["float5"], clipped])
    assert errors.empty  # a float file far above 1 is judged per window, not refused
    by = results.set_index("file")
    f5 = by.loc[str(files["float5"])]
    assert f5.decision == UNDETERMINED and all("out_of_range" in w for w in f5.window_flags)
    assert "out_of_range:2" in f5.flagged
    c = by.loc[str(clipped)]
    assert c.decision == UNDETERMINED and c.window_flags == ["clipped", "clipped"] and c.flagged == "clipped:2"


def test_result_aggregates_skip_flagged_windows():
    r = DetectionResult("x.wav", 5.0, np.array([0.9, np.nan, 0.2]), np.array([2.0, 2.0, 1.0]), 0.5,
                        ["", "silent", ""])
    assert r.judged_windows == 2 and r.score == pytest.approx((0.9 * 2 + 0.2) / 3)
    assert (r.score_min, r.score_max, r.decision, r.flagged) == (0.2, 0.9, "real", "silent:1")
    none = DetectionResult("y.wav", 2.0, np.array([np.nan]), np.array([2.0]), 0.5, ["clipped"])
    assert none.decision == UNDETERMINED and np.isnan(none.score) and np.isnan(none.score_min)


def test_cli_reports_reasons_in_table_csv_json(model_path, files, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    sf.write(d / "silence.wav", np.zeros(2 * SR), SR, subtype="PCM_16")
    sf.write(d / "half.wav", np.concatenate([np.zeros(2 * SR), _speech(2.0, seed=11)]), SR, subtype="PCM_16")
    shutil.copy(files["float5"], d / "float5.wav")

    assert _run([d, "--model", model_path]) == 0
    out = capsys.readouterr().out
    assert "undetermined" in out and "silent:1" in out and "out_of_range:2" in out and "judged" in out
    assert "3 file(s) scored: " in out and "2 undetermined" in out

    assert _run([d, "--model", model_path, "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["summary"]["undetermined"] == 2 and doc["summary"]["scored"] == 3
    by = {os.path.basename(f["file"]): f for f in doc["files"]}
    assert by["silence.wav"]["score"] is None and by["silence.wav"]["decision"] == UNDETERMINED
    assert by["silence.wav"]["window_flags"] == ["silent"] and by["silence.wav"]["window_scores"] == [None]
    assert by["half.wav"]["judged_windows"] == 1 and by["half.wav"]["flagged"] == "silent:1"
    assert "silent" in doc["detector"]["flag_rules"] and "file(s) scored" in captured.err  # summary on stderr

    assert _run([d, "--model", model_path, "--csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    row = table.set_index("file").loc[str(d / "half.wav")]
    assert row["judged_windows"] == 1 and row["window_flags"] == "silent;" and row["flagged"] == "silent:1"
    assert table.set_index("file").loc[str(d / "silence.wav"), "score"] == ""
    assert _run([d, "--model", model_path, "--csv", "--windows"]) == 0
    per_window = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    assert set(per_window["flag"]) == {"", "silent", "clipped+out_of_range"}
    assert set(per_window.loc[per_window["flag"] != "", "decision"]) == {UNDETERMINED}


# --------------------------------------------------------------------------- an hour, in a subprocess


def _write_long_wav(path, seconds: int) -> None:
    """A ``seconds`` s 16 kHz 16-bit speech-like WAV, written one minute at a time (lean test)."""
    minute = np.resize(_speech(16.0, seed=12), 60 * SR).astype(np.float32)
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
        for _ in range(seconds // 60):
            f.write(minute)
        f.write(minute[: (seconds % 60) * SR])


def _detect_in_subprocess(model_path, audio, tmp_path) -> tuple[int, dict, str, float]:
    """``python -m idsd detect AUDIO --json`` as a new user runs it; (status, JSON, stderr, peak RSS MB)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # not pre-silenced
    out, err = tmp_path / f"{audio.stem}.out", tmp_path / f"{audio.stem}.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen([sys.executable, "-m", "idsd", "detect", str(audio), "--model", str(model_path),
                                 "--json"], stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = err.read_text(errors="replace")
    doc = json.loads(out.read_text()) if proc.returncode == 0 else {}
    return proc.returncode, doc, text, _rss_mb(usage.ru_maxrss)


@pytest.mark.slow
def test_hour_long_file_in_bounded_memory_and_quiet(model_path, tmp_path):
    """An hour of 16 kHz audio costs (almost) no more memory than 4 s: the file is never held whole.

    The fixed cost (TensorFlow alone takes ~800 MB RSS on import on the reference machine) is
    measured on a 4-s file first; the hour-long file may add at most 150 MB to it. Holding the hour
    in memory (as before streaming) adds ~330 MB for this mfcc model (230 MB of samples plus their
    windows; a mel model's features add another 230 MB). stderr shows no backend start-up lines.
    """
    short, hour = tmp_path / "short.wav", tmp_path / "hour.wav"
    _write_long_wav(short, 4)
    _write_long_wav(hour, 3600)
    assert sf.info(hour).frames == 3600 * SR
    status, doc, err, base_mb = _detect_in_subprocess(model_path, short, tmp_path)
    assert status == 0 and doc["files"][0]["windows"] == 2
    assert not BACKEND_NOISE.search(err), err[:2000]
    status, doc, err, hour_mb = _detect_in_subprocess(model_path, hour, tmp_path)
    assert status == 0, err[-2000:]
    assert not BACKEND_NOISE.search(err), err[:2000]
    f = doc["files"][0]
    assert f["windows"] == f["judged_windows"] == 1800 and f["duration_s"] == 3600.0
    assert all(s is not None and 0.0 <= s <= 1.0 for s in f["window_scores"])
    print(f"peak RSS: 4-s file {base_mb:.0f} MB, hour-long file {hour_mb:.0f} MB")
    assert hour_mb - base_mb < 150, (base_mb, hour_mb)
