"""idsd.audio: decoding, resampling, fragmentation, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from idsd.audio import (
    AUDIO_EXTENSIONS,
    fit_length,
    fragments,
    is_audio_name,
    iter_audio_files,
    load_audio,
    n_fragments,
)
from idsd.errors import AudioError


def test_load_resamples_and_downmixes(tmp_path, write_clip):
    t = np.arange(44100 * 3) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    path = write_clip(tmp_path / "s.wav", stereo, sr=44100, subtype="PCM_24")
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 48000) <= 1
    spec = np.abs(np.fft.rfft(y[:16000]))
    assert abs(np.argmax(spec) - 440) <= 1  # 1 Hz bins over one second


def test_8bit_and_flac(tmp_path, write_clip):
    y0 = 0.3 * np.sin(2 * np.pi * 200 * np.arange(16000) / 16000)
    for name, sub in (("a.wav", "PCM_U8"), ("b.flac", "PCM_16")):
        y = load_audio(write_clip(tmp_path / name, y0, subtype=sub))
        assert np.max(np.abs(y - y0)) < 0.02


@pytest.mark.parametrize("content,reason", [(b"", "empty"), (b"this is not audio at all" * 10, "not")])
def test_bad_files_name_the_file(tmp_path, content, reason):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(AudioError) as err:
        load_audio(p)
    assert str(p) in str(err.value) and reason in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "nope.wav")


def test_fragments_upstream_rule():
    y = np.arange(32000 * 2 + 5000, dtype=np.float32)
    f = fragments(y)
    assert f.shape == (2, 32000) and f[1, 0] == 32000
    assert fragments(y[:31999]).shape == (0, 32000)
    padded = fragments(y, pad=True)
    assert padded.shape == (3, 32000) and padded[2, 4999] == 64000 + 4999 and padded[2, 5000] == 0
    assert fragments(y[:100], pad=True).shape == (1, 32000)
    for n in (0, 100, 32000, 64001):
        for pad in (False, True):
            assert n_fragments(n, pad=pad) == len(fragments(np.zeros(n), pad=pad))


def test_fit_length_warns():
    with pytest.warns(UserWarning, match="padded"):
        assert fit_length(np.ones(10)).shape == (32000,)
    with pytest.warns(UserWarning, match="cropped"):
        assert fit_length(np.ones(40000)).shape == (32000,)


def test_iter_audio_files_order_filter_and_reasons(tmp_path):
    """The one folder walker: each folder's files by name, then its subfolders by name; hidden entries,
    symlinked folders and other extensions are not taken and each is listed with its reason."""
    import os

    root = tmp_path / "in"
    for rel in ("b.wav", "A.FLAC", "z/x.mp3", "a/y.ogg", "a/deep/w.wav", "notes.txt", ".hidden.wav", ".git/h.wav"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    os.symlink(root / "a", root / "link")
    rejected = []
    got = [os.path.relpath(p, root) for p in iter_audio_files(root, rejected)]
    assert got == ["A.FLAC", "b.wav", "a/y.ogg", "a/deep/w.wav", "z/x.mp3"]
    assert {os.path.relpath(p, root): r for p, r in rejected} == {
        ".git": "hidden folder (not walked)", "link": "symlink to a folder (not followed)",
        ".hidden.wav": "hidden file", "notes.txt": "not an audio file name"}
    wav_only = list(iter_audio_files(root, extensions={".wav"}, reason="not a .wav"))
    assert [os.path.relpath(p, root) for p in wav_only] == ["b.wav", "a/deep/w.wav"]
    assert is_audio_name("X.M4A") and not is_audio_name("x.txt") and not is_audio_name("wav")
    assert all(e == e.lower() and e.startswith(".") for e in AUDIO_EXTENSIONS)

