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


# --------------------------------------------------------------------------- newer corpora

CORRUPT = b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 20


def _names(rej) -> dict[str, str]:
    return dict(zip(rej.file.map(lambda p: p.rsplit("/", 1)[-1]), rej.reason))


def test_inthewild_layout(tmp_path, write_clip):
    root = tmp_path / "release_in_the_wild"
    write_clip(root / "0.wav", speech_like(2.5, 1))
    write_clip(root / "1.wav", speech_like(4.2, 2))              # 2 fragments
    write_clip(root / "2.wav", speech_like(2.5, 3))
    (root / "3.wav").write_bytes(CORRUPT)                         # listed, corrupt
    write_clip(root / "9.wav", speech_like(2.5, 9))              # on disk, not listed
    (root / "meta.csv").write_text('file,speaker,label\n0.wav,Alec Guinness,spoof\n1.wav,"Obama, Barack",bona-fide\n'
                                   "2.wav,Alec Guinness,bona-fide\n3.wav,Angela Merkel,spoof\n"
                                   "4.wav,Angela Merkel,bona-fide\n"   # missing on disk
                                   "5.wav,Nobody\n6.wav,Nobody,maybe\n")  # bad rows
    assert detect_layout(root) == "inthewild"
    m, rej = build_manifest(root, progress=False)
    assert set(m.dataset) == {"inthewild"} and set(m.split) == {"eval"} and len(m) == 4
    files = m.drop_duplicates("path").set_index(m.drop_duplicates("path").path.map(lambda p: p.rsplit("/", 1)[-1]))
    assert files.loc["0.wav", "label"] == "fake" and files.loc["0.wav", "source"] == "inthewild"
    assert files.loc["1.wav", "label"] == "real" and files.loc["1.wav", "speaker"] == "Obama, Barack"
    assert files.loc["2.wav", "source"] == "bonafide" and files.loc["2.wav", "speaker"] == "Alec Guinness"
    r = _names(rej)
    assert r["4.wav"] == "listed in meta.csv but missing" and r["9.wav"] == "not listed in meta.csv"
    assert "3.wav" in r and "not" in r["3.wav"].lower()
    assert r["meta.csv:7"].startswith("malformed meta.csv row") and r["meta.csv:8"].startswith("malformed")
    assert len(rej) == 5


def _as5_tree(root, write_clip, phase1: bool = False):
    """A small ASVspoof 5 folder: final-release protocols (10 columns) or challenge-phase ones (6)."""
    rows = {"train": [("T_4850", "T_0000000000", "-", "bonafide"), ("T_4850", "T_0000000001", "A05", "spoof"),
                      ("T_1138", "T_0000000002", "A01", "spoof")],
            "dev": [("D_0062", "D_0000000000", "-", "bonafide"), ("D_0062", "D_0000000001", "A11", "spoof")],
            "eval": [("E_0001", "E_0000000000", "-", "bonafide"), ("E_0002", "E_0000000001", "A20", "spoof"),
                     ("E_0002", "E_0000000009", "A21", "spoof")]}  # the last one is missing on disk
    folders = {"train": "flac_T", "dev": "flac_D", "eval": "flac_E_eval"}
    names = ({"train": "ASVspoof5.train.metadata.txt", "dev": "ASVspoof5.dev.metadata.txt"} if phase1 else
             {"train": "ASVspoof5.train.tsv", "dev": "ASVspoof5.dev.track_1.tsv", "eval": "ASVspoof5.eval.track_1.tsv"})
    pdir = root if phase1 else root / "ASVspoof5_protocols"
    pdir.mkdir(parents=True, exist_ok=True)
    k = 0
    for split, pname in names.items():
        lines = []
        for spk, utt, attack, key in rows[split]:
            if phase1:
                lines.append(f"{spk} {utt} F - {attack} {key}\n")
            else:
                tag, lab = ("bonafide", "bonafide") if key == "bonafide" else ("AC3", attack)
                lines.append(f"{spk} {utt} F {'C05 3 E_0001' if split == 'eval' else '- - -'} {tag} {lab} {key} -\n")
            if utt != "E_0000000009":
                write_clip(root / folders[split] / f"{utt}.flac", speech_like(2.5, k))
            k += 1
        lines.append("T_9999 T_0000000099 F - - -\n")  # truncated line
        (pdir / pname).write_text("".join(lines))
    (root / "flac_T" / "T_0000000001.flac").write_bytes(b"fLaC" + CORRUPT)  # corrupt audio
    return root


def test_asvspoof5_layout(tmp_path, write_clip):
    root = _as5_tree(tmp_path / "ASVspoof5", write_clip)
    assert detect_layout(root) == "asvspoof5"
    m, rej = build_manifest(root, progress=False)
    assert set(m.dataset) == {"asvspoof5"} and len(m) == 6
    by = m.set_index(m.path.map(lambda p: p.rsplit("/", 1)[-1][:-5]))
    assert by.split.to_dict() == {"T_0000000000": "train", "T_0000000002": "train", "D_0000000000": "dev",
                                  "D_0000000001": "dev", "E_0000000000": "eval", "E_0000000001": "eval"}
    assert by.source.to_dict()["T_0000000002"] == "A01" and by.source["E_0000000001"] == "A20"
    assert set(m[m.label == "real"].source) == {"bonafide"} and by.speaker["T_0000000002"] == "T_1138"
    assert (m.target == (m.label == "real").astype(int)).all() and set(m.condition) == {"clean"}
    r = _names(rej)
    assert r["E_0000000009.flac"] == "listed in the protocol but missing"
    assert "T_0000000001.flac" in r                                        # corrupt: decoder's reason
    assert sum(v.startswith("malformed protocol line") for v in r.values()) == 3
    # challenge-phase metadata files (6 columns, no eval keys), in the root itself
    old = _as5_tree(tmp_path / "phase1", write_clip, phase1=True)
    assert detect_layout(old) == "asvspoof5"
    m2, rej2 = build_manifest(old, progress=False)
    assert set(m2.split) == {"train", "dev"} and len(m2) == 4
    assert set(m2[m2.label == "fake"].source) == {"A01", "A11"}


def _mlaad_tree(root, write_clip):
    readers = [("de_DE", "female", "eva_k", "kleinzaches"), ("de_DE", "male", "karlsson", "altehaus"),
               ("en_US", "female", "judy_bieber", "dorothy"), ("en_US", "male", "elliot_miller", "pink_fairy"),
               ("en_UK", "mix", None, "sherlock"), ("fr_FR", "female", "ezwa", "monsieur"),
               ("es_ES", "male", "tux", "quijote"), ("it_IT", "female", "lisa", "pinocchio")]
    originals = []
    k = 0
    for lang, gender, spk, book in readers:
        for i in range(2):
            parts = [lang, "by_book", gender] + ([spk] if spk else []) + [book, "wavs", f"{book}_{i:02d}_f{i:06d}.wav"]
            rel = "/".join(parts)
            write_clip(root / "mailabs" / rel, speech_like(2.5, k))
            originals.append(rel)
            k += 1
    (root / "mailabs" / "de_DE" / "by_book" / "female" / "eva_k" / "kleinzaches" / "metadata.csv").write_text("x|y\n")
    model = root / "fake" / "de" / "tts_models_de_thorsten_vits"
    lines = ["path|original_file|language|is_original_language|duration|training_data|model_name|architecture|"
             "transcript"]
    for j, orig in enumerate(originals):
        name = f"fake_{j:03d}.wav"
        if j != 3:  # row 3 is listed but missing on disk
            write_clip(model / name, speech_like(2.5, 100 + j))
        lines.append(f"./fake/de/tts_models_de_thorsten_vits/{name}|{orig}|de|True|2.5|thorsten|"
                     f"tts_models/de/thorsten/vits|vits|hallo welt")
    lines.append("./fake/de/tts_models_de_thorsten_vits/broken.wav|only two fields")
    (model / "meta.csv").write_text("\n".join(lines) + "\n")
    write_clip(model / "unlisted.wav", speech_like(2.5, 7))
    bare = root / "fake" / "en" / "facebook_mms-tts-eng"              # a model folder without meta.csv
    for j in range(3):
        write_clip(bare / f"clip_{j}.wav", speech_like(2.5, 200 + j))
    (bare / "corrupt.wav").write_bytes(CORRUPT)
    return root


def test_mlaad_layout_is_reader_disjoint(tmp_path, write_clip):
    root = _mlaad_tree(tmp_path / "MLAAD", write_clip)
    assert detect_layout(root) == "mlaad"
    m, rej = build_manifest(root, progress=False)
    assert set(m.dataset) == {"mlaad"} and set(m.label) == {"real", "fake"}
    real, fake = m[m.label == "real"], m[m.label == "fake"]
    assert len(real) == 16 and len(fake) == 15 + 3
    assert set(real.source) == {"bonafide"}
    assert set(fake.source) == {"tts_models/de/thorsten/vits", "facebook_mms-tts-eng"}
    assert set(real.speaker) == {"eva_k", "karlsson", "judy_bieber", "elliot_miller", "mix", "ezwa", "tux", "lisa"}
    assert set(fake[fake.source == "facebook_mms-tts-eng"].speaker) == {"unknown"}
    assert (m[m.speaker != "unknown"].groupby("speaker").split.nunique() == 1).all()  # no reader in two splits
    assert len(set(m.split)) >= 2
    r = _names(rej)
    assert r["fake_003.wav"] == "listed in meta.csv but missing" and r["unlisted.wav"] == "not listed in meta.csv"
    assert r["meta.csv:18"].startswith("malformed meta.csv row") and "corrupt.wav" in r
    assert r["metadata.csv"] == "not a .wav file (M-AILABS folder)"
    again, _ = build_manifest(root, progress=False)
    assert again.split.tolist() == m.split.tolist()


def test_detection_order_keeps_generic_folders(tmp_path, write_clip):
    # fake/<a>/<b>/ without an M-AILABS folder or meta.csv stays a generic real/fake folder
    write_clip(tmp_path / "mine" / "real" / "a.wav", speech_like(2.0, 1))
    write_clip(tmp_path / "mine" / "fake" / "xtts" / "v2" / "b.wav", speech_like(2.0, 2))
    assert detect_layout(tmp_path / "mine") == "folder"
    (tmp_path / "wild").mkdir()
    (tmp_path / "wild" / "meta.csv").write_text("path,label\n")  # not In-the-Wild's columns
    with pytest.raises(Exception, match="no known corpus layout"):
        detect_layout(tmp_path / "wild")


def test_synthetic_real_corpora_tree(tmp_path):
    import hashlib

    from idsd.corpus.prepare import find_corpora
    from idsd.datasets.synthetic_tree import make_real_corpora_tree

    roots = make_real_corpora_tree(tmp_path / "data", files_per_class=2, seed=0)
    found = find_corpora(tmp_path / "data")
    assert {k: v[1] for k, v in found.items()} == {
        "for-2sec": "for", "for-rerec": "for", "asvspoof2019": "asvspoof2019", "wavefake": "wavefake",
        "inthewild": "inthewild", "asvspoof5": "asvspoof5"}
    assert {k: v[0] for k, v in found.items()} == {k: str(v) for k, v in roots.items()}
    for name, (root, layout) in found.items():
        m, rej = build_manifest(root, layout=layout, progress=False)
        assert len(rej) == 0, (name, rej.head())
        assert set(m.dataset) == {name} and set(m.label) == {"real", "fake"}
        want = {"eval"} if name == "inthewild" else {"train", "dev", "eval"}
        assert set(m.split) == want, name
        assert (m.groupby(["split", "label"]).size() == 2).all(), name  # one fragment per file
        assert set(m.duration.round(2)) == {2.5}
    assert set(build_manifest(roots["asvspoof5"], progress=False)[0].query("label == 'fake'").source) <= {
        f"A{i:02d}" for i in range(1, 33)}
    # an ASVspoof 2021 DF folder beside them must not make the data root pass for that corpus
    df = tmp_path / "data" / "ASVspoof2021_DF"
    (df / "DF-keys-full" / "keys" / "DF" / "CM").mkdir(parents=True)
    (df / "DF-keys-full" / "keys" / "DF" / "CM" / "trial_metadata.txt").write_text(
        "LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -\n")
    (df / "ASVspoof2021_DF_eval_part00" / "ASVspoof2021_DF_eval" / "flac").mkdir(parents=True)
    found = find_corpora(tmp_path / "data")
    assert found["asvspoof2021"] == (str(df), "asvspoof2021") and len(found) == 7
    # deterministic from the seed
    again = make_real_corpora_tree(tmp_path / "again", files_per_class=1, seed=0)
    other = make_real_corpora_tree(tmp_path / "other", files_per_class=1, seed=1)
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    f = "training/fake/file0_train.wav"
    assert digest(again["for-2sec"] / f) == digest(roots["for-2sec"] / f)
    assert digest(other["for-2sec"] / f) != digest(roots["for-2sec"] / f)
    with pytest.raises(ValueError, match="files_per_class"):
        make_real_corpora_tree(tmp_path / "none", files_per_class=0)


def test_default_name_matches_list_entries(tmp_path):
    from idsd.corpus.prepare import find_corpora
    from idsd.datasets import EVAL_ONLY, LAYOUTS, default_name
    from idsd.datasets.synthetic_tree import make_real_corpora_tree

    make_real_corpora_tree(tmp_path, files_per_class=1)
    for name, (root, layout) in find_corpora(tmp_path).items():
        assert default_name(root, layout) == name
    assert EVAL_ONLY <= set(LAYOUTS) and "inthewild" in EVAL_ONLY
