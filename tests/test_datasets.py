"""idsd.datasets: every adapter on a tiny tree laid out like the published corpus, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from idsd.cli import main
from idsd.datasets import (
    MANIFEST_COLUMNS,
    build_manifest,
    detect_layout,
    load_fragment,
    summarize,
)
from idsd.errors import AudioError

SR = 16000


def speech_like(seconds: float, seed: int = 0, sr: int = SR, channels: int = 1) -> np.ndarray:
    r = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.2 * np.sin(2 * np.pi * (150 + 50 * r.random()) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    y = y + 0.01 * r.normal(size=t.size)
    return np.stack([y] * channels, axis=1) if channels > 1 else y


@pytest.fixture
def for_tree(tmp_path, write_clip):
    """for-2seconds layout with one good file per split/class plus every kind of bad input."""
    root = tmp_path / "for-2seconds"
    k = 0
    for split in ("training", "validation", "testing"):
        for label in ("real", "fake"):
            for i in range(2):
                write_clip(root / split / label / f"file{i}.wav_16k.wav_norm.wav_mono.wav_silence.wav_2sec.wav",
                           speech_like(2.0, k))
                k += 1
    tr = root / "training" / "real"
    write_clip(tr / "long.wav", speech_like(5.0, 99))                                  # 2 fragments
    write_clip(tr / "stereo44k24.wav", speech_like(2.5, 1, 44100, 2), sr=44100, subtype="PCM_24")  # kept
    write_clip(tr / "rate48k8bit.wav", speech_like(2.2, 2, 48000), sr=48000, subtype="PCM_U8")     # kept
    write_clip(tr / "short.wav", speech_like(1.0, 3))                                  # too short
    write_clip(tr / "silent.wav", np.zeros(40000))                                     # silent
    (tr / "empty.wav").write_bytes(b"")                                                # empty
    (tr / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 20)     # corrupt
    (tr / "notes.wav").write_text("this is a text file pretending to be audio\n" * 30)  # non-audio
    (tr / "readme.txt").write_text("not audio")                                        # non-audio by name
    return root


def test_for_layout_bad_input_and_splits(for_tree):
    assert detect_layout(for_tree) == "for"
    m, rej = build_manifest(for_tree, progress=False)
    assert tuple(m.columns) == MANIFEST_COLUMNS
    assert set(m.dataset) == {"for-2sec"}
    assert set(m.split) == {"train", "dev", "eval"}
    # FoR convention: testing -> dev, validation -> eval
    assert m[m.path.str.contains("/testing/")].split.eq("dev").all()
    assert m[m.path.str.contains("/validation/")].split.eq("eval").all()
    assert (m.target == (m.label == "real").astype(int)).all()
    reasons = dict(zip(rej.file.map(lambda p: p.rsplit("/", 1)[-1]), rej.reason))
    assert set(reasons) == {"short.wav", "silent.wav", "empty.wav", "corrupt.wav", "notes.wav", "readme.txt"}
    assert "shorter than 2 s" in reasons["short.wav"]
    assert "silent" in reasons["silent.wav"]
    assert "empty" in reasons["empty.wav"]
    assert "not" in reasons["notes.wav"] and "not" in reasons["corrupt.wav"]
    names = m.path.map(lambda p: p.rsplit("/", 1)[-1])
    assert (names == "long.wav").sum() == 2 and (names == "stereo44k24.wav").sum() == 1
    assert (names == "rate48k8bit.wav").sum() == 1
    long_row = m[names == "long.wav"].iloc[1]
    assert long_row.fragment == 1 and abs(long_row.duration - 5.0) < 1e-3
    y = load_fragment(long_row)
    assert y.shape == (32000,) and y.dtype == np.float32
    assert load_fragment(m[names == "stereo44k24.wav"].iloc[0].path, 0).shape == (32000,)
    with pytest.raises(AudioError, match="no fragment 5"):
        load_fragment(long_row.path, 5)


def test_pad_keeps_short_files(for_tree):
    m, rej = build_manifest(for_tree, pad=True, progress=False)
    names = m.path.map(lambda p: p.rsplit("/", 1)[-1])
    assert (names == "short.wav").sum() == 1 and (names == "long.wav").sum() == 3
    assert "short.wav" not in " ".join(rej.file)


def test_header_only_mode_is_fast_path(for_tree):
    m, rej = build_manifest(for_tree, verify=False, progress=False)
    names = set(rej.file.map(lambda p: p.rsplit("/", 1)[-1]))
    assert {"short.wav", "empty.wav", "corrupt.wav", "notes.wav"} <= names
    assert len(m) > 10


def test_for_metadata_fills_source_and_speaker(tmp_path, write_clip):
    root = tmp_path / "mini"
    write_clip(root / "training" / "real" / "a.wav", speech_like(2.0, 1))
    write_clip(root / "training" / "fake" / "b.wav", speech_like(2.0, 2))
    pd.DataFrame([dict(path="training/real/a.wav", split="train", label="real", source="bonafide", speaker="carlo"),
                  dict(path="training/fake/b.wav", split="train", label="fake", source="flite-slt",
                       speaker="flite-slt")]).to_csv(root / "metadata.csv", index=False)
    m, _ = build_manifest(root, layout="for", dataset="mini-x", progress=False)
    assert dict(zip(m.label, m.source)) == {"real": "bonafide", "fake": "flite-slt"}
    assert set(m.speaker) == {"carlo", "flite-slt"} and set(m.dataset) == {"mini-x"}


def test_asvspoof2019_layout(tmp_path, write_clip):
    la = tmp_path / "LA"
    proto = la / "ASVspoof2019_LA_cm_protocols"
    proto.mkdir(parents=True)
    lines = {"train": ("trn", [("LA_0079", "LA_T_1138215", "-", "bonafide"), ("LA_0079", "LA_T_1271820", "A01", "spoof")]),
             "dev": ("trl", [("LA_0069", "LA_D_1047731", "-", "bonafide"), ("LA_0069", "LA_D_1105538", "A02", "spoof")]),
             "eval": ("trl", [("LA_0039", "LA_E_2834763", "A11", "spoof"), ("LA_0014", "LA_E_8877452", "-", "bonafide"),
                              ("LA_0014", "LA_E_0000000", "A12", "spoof")])}  # last one missing on disk
    for i, (split, (kind, rows)) in enumerate(lines.items()):
        (proto / f"ASVspoof2019.LA.cm.{split}.{kind}.txt").write_text(
            "".join(f"{s} {u} - {a} {k}\n" for s, u, a, k in rows) + "garbage line\n")
        for j, (_, utt, _, _) in enumerate(rows):
            if utt != "LA_E_0000000":
                write_clip(la / f"ASVspoof2019_LA_{split}" / "flac" / f"{utt}.flac", speech_like(2.5, 10 * i + j))
    for root in (la, tmp_path):  # LA/ itself or its parent
        assert detect_layout(root) == "asvspoof2019"
        m, rej = build_manifest(root, progress=False)
        assert len(m) == 6 and set(m.dataset) == {"asvspoof2019"}
        assert set(m[m.label == "fake"].source) == {"A01", "A02", "A11"}
        assert set(m[m.label == "real"].source) == {"bonafide"}
        assert m[m.source == "A11"].speaker.iloc[0] == "LA_0039"
        assert rej.reason.str.contains("missing").sum() == 1 and rej.reason.str.contains("malformed").sum() == 3


def test_asvspoof2021_df_layout(tmp_path, write_clip):
    keys = tmp_path / "DF-keys-full" / "keys" / "DF" / "CM"
    keys.mkdir(parents=True)
    (keys / "trial_metadata.txt").write_text(
        "LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -\n"
        "TEF2 DF_E_2000013 low_m4a vcc2020 Task1-team20 spoof notrim eval neural_vocoder_nonautoregressive Task1 team20 FF E\n"
        "LA_0043 DF_E_2000026 mp3m4a asvspoof bonafide bonafide notrim eval - - - - -\n")
    for part, trial in (("part00", "DF_E_2000011"), ("part01", "DF_E_2000013"), ("part01", "DF_E_2000026")):
        write_clip(tmp_path / f"ASVspoof2021_DF_eval_{part}" / "ASVspoof2021_DF_eval" / "flac" / f"{trial}.flac",
                   speech_like(3.0, hash(trial) % 100))
    assert detect_layout(tmp_path) == "asvspoof2021"
    m, rej = build_manifest(tmp_path, progress=False)
    assert len(m) == 3 and set(m.split) == {"eval"} and len(rej) == 0
    assert dict(zip(m.path.map(lambda p: p.rsplit("/", 1)[-1][:-5]), m.source)) == {
        "DF_E_2000011": "A14", "DF_E_2000013": "Task1-team20", "DF_E_2000026": "bonafide"}


def test_wavefake_layout_is_utterance_disjoint(tmp_path, write_clip):
    utts = [f"LJ001-{i:04d}" for i in range(1, 13)]
    for u in utts:
        write_clip(tmp_path / "LJSpeech-1.1" / "wavs" / f"{u}.wav", speech_like(2.2, int(u[-4:])))
        for src in ("ljspeech_melgan", "ljspeech_hifiGAN"):
            write_clip(tmp_path / "generated_audio" / src / f"{u}_gen.wav", speech_like(2.2, int(u[-4:]) + 50))
    for i in range(1, 4):
        write_clip(tmp_path / "jsut_ver1.1" / "basic5000" / "wav" / f"BASIC5000_{i:04d}.wav", speech_like(2.1, i))
        write_clip(tmp_path / "generated_audio" / "jsut_parallel_wavegan" / f"BASIC5000_{i:04d}_gen.wav",
                   speech_like(2.1, i + 7))
    (tmp_path / "LJSpeech-1.1" / "metadata.csv").write_text("LJ001-0001|x|x\n")
    assert detect_layout(tmp_path) == "wavefake"
    m, rej = build_manifest(tmp_path, progress=False)
    assert len(m) == 12 * 3 + 3 * 2
    assert list(zip(rej.file.map(lambda p: p.rsplit("/", 1)[-1]), rej.reason)) == [
        ("metadata.csv", "not a .wav file (real corpus folder)")]  # every skip is listed
    assert set(m[m.label == "fake"].source) == {"ljspeech_melgan", "ljspeech_hifiGAN", "jsut_parallel_wavegan"}
    assert set(m.speaker) == {"LJ", "jsut"}
    stem = m.path.map(lambda p: p.rsplit("/", 1)[-1].replace("_gen.wav", "").replace(".wav", ""))
    assert (m.groupby(stem).split.nunique() == 1).all()  # real and its vocoded copies share a split
    again, _ = build_manifest(tmp_path, progress=False)
    assert again.split.tolist() == m.split.tolist()


def test_fakeavceleb_layout_decodes_video(tmp_path, write_clip):
    import shutil
    import subprocess

    assert shutil.which("ffmpeg"), "ffmpeg is not installed (./run_tests.sh installs it)"
    base = tmp_path / "FakeAVCeleb_v1.2"
    for cat, spk in (("RealVideo-RealAudio", "id00076"), ("RealVideo-FakeAudio", "id00076"),
                     ("FakeVideo-FakeAudio", "id00166")):
        d = base / cat / "African" / "men" / spk
        wav = write_clip(tmp_path / "src.wav", speech_like(2.5, len(cat)))
        d.mkdir(parents=True)
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(wav), "-c:a", "aac",
                        str(d / "00109.mp4")], check=True)
    pd.DataFrame({"source": ["id00076"], "method": ["rtvc"], "path": ["FakeAVCeleb/RealVideo-FakeAudio/African/men/id00076"],
                  "filename": ["00109.mp4"]}).to_csv(base / "meta_data.csv", index=False)
    assert detect_layout(tmp_path) == "fakeavceleb"
    m, rej = build_manifest(tmp_path, progress=False)
    assert len(m) == 2 and set(m.split) == {"eval"} and len(rej) == 0
    assert dict(zip(m.label, m.source)) == {"real": "bonafide", "fake": "rtvc"}
    assert set(m.speaker) == {"id00076"}
    m2, _ = build_manifest(tmp_path, include_fake_video=True, progress=False)
    assert len(m2) == 3


def test_folder_layout(tmp_path, write_clip):
    write_clip(tmp_path / "mine" / "real" / "alice" / "a.wav", speech_like(2.0, 1))
    write_clip(tmp_path / "mine" / "fake" / "xtts" / "b.wav", speech_like(4.0, 2))
    m, _ = build_manifest(tmp_path / "mine", layout="folder", progress=False)
    assert set(m.dataset) == {"mine"} and set(m.split) == {"eval"} and len(m) == 3
    assert set(m[m.label == "fake"].source) == {"xtts"} and set(m[m.label == "real"].speaker) == {"alice"}
    for split in ("train", "dev", "test"):
        write_clip(tmp_path / "split" / split / "real" / "a.wav", speech_like(2.0, 3))
        write_clip(tmp_path / "split" / split / "fake" / "b.wav", speech_like(2.0, 4))
    m, _ = build_manifest(tmp_path / "split", layout="folder", progress=False)
    assert set(m.split) == {"train", "dev", "eval"}
    assert summarize(m).fragments.sum() == 6


def test_cli_manifest_writes_rejected(for_tree, tmp_path, capsys):
    out = tmp_path / "out" / "manifest.csv"
    assert main(["manifest", str(for_tree), "--layout", "for", "--out", str(out)]) == 0
    m = pd.read_csv(out)
    rej = pd.read_csv(out.parent / "rejected.csv")
    assert tuple(m.columns) == MANIFEST_COLUMNS and len(rej) == 6
    assert "files skipped" in capsys.readouterr().out
    assert main(["manifest", str(tmp_path / "nothing-here"), "--out", str(out)]) == 2
