"""idsd.audio extensions: header inspection, validation, atomic writing."""

from __future__ import annotations

import numpy as np
import pytest

from idsd.audio import audio_info, check_audio, format_notes, load_audio, write_audio
from idsd.errors import AudioError


def test_audio_info_and_format_notes(tmp_path, write_clip):
    p = write_clip(tmp_path / "s.wav", np.zeros((22050, 2)), sr=44100, subtype="PCM_24")
    info = audio_info(p)
    assert info["channels"] == 2 and info["samplerate"] == 44100 and abs(info["duration"] - 0.5) < 1e-6
    assert format_notes(info) == ["2 channels -> mono", "44100 Hz -> 16000 Hz", "PCM_24"]
    assert format_notes(audio_info(write_clip(tmp_path / "ok.wav", np.zeros(100)))) == []
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        audio_info(tmp_path / "e.wav")
    (tmp_path / "x.wav").write_text("hello")
    with pytest.raises(AudioError, match="unreadable header"):
        audio_info(tmp_path / "x.wav")


def test_check_audio_rules(tone):
    assert check_audio(tone) == 1
    assert check_audio(np.concatenate([tone, tone, tone[:100]])) == 2
    with pytest.raises(AudioError, match="shorter than 2 s"):
        check_audio(tone[:1000], "a.wav")
    assert check_audio(tone[:1000], pad=True) == 1
    with pytest.raises(AudioError, match="silent"):
        check_audio(np.full(32000, 1e-5, np.float32), "b.wav")


def test_write_audio_roundtrip_and_clipping(tmp_path, tone):
    p = write_audio(tmp_path / "sub" / "o.wav", np.concatenate([tone, [3.0, -3.0]]))
    y = load_audio(p)
    assert len(y) == 32002 and np.max(np.abs(y)) <= 1.0
    assert np.max(np.abs(y[:32000] - tone)) < 1e-3
    assert [f.name for f in (tmp_path / "sub").iterdir()] == ["o.wav"]  # no temporary file left


def test_write_audio_keeps_the_format_of_the_name_and_is_atomic(tmp_path, tone):
    """The temporary name hides the extension, yet the file has the format its name says; a write that
    fails leaves the previous file as it was and no temporary file."""
    import soundfile as sf

    p = write_audio(tmp_path / "o.flac", tone)
    assert sf.info(p).format == "FLAC" and np.max(np.abs(load_audio(p) - tone)) < 1e-3
    before = (tmp_path / "o.flac").read_bytes()
    with pytest.raises(ValueError, match="subtype"):
        write_audio(tmp_path / "o.flac", tone, subtype="NO_SUCH_SUBTYPE")
    assert (tmp_path / "o.flac").read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["o.flac"]
