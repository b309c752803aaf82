"""Hostile input and faults at every entry point: no traceback, nothing silently wrong, nothing lost.

Every case below names an entry point, an input and its exact outcome: **kept** (used, maybe
converted), **listed** (skipped and listed with the reason, in ``rejected.csv`` or the detect
report) or **refused** (an :class:`idsd.errors.IDSDError` / a one-line message on stderr and a
non-zero exit, never a traceback). ``docs/reliability.md`` is generated from these lists
(``python tests/test_hostile.py --write-doc``) and :func:`test_reliability_doc_is_current` fails
when it drifts.

Tests run as root in CI: ``chmod 000`` does not stop root from reading, so the permission cases
assert "kept" as root and "listed: unreadable (permission denied)" otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from idsd.cli import build_parser, main
from idsd.errors import AudioError, IDSDError, InputError, show_path

SR = 16000
ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def tone(seconds: float, sr: int = SR, amp: float = 0.3, channels: int = 1, seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    y = amp * np.sin(2 * np.pi * (180 + 40 * r.random()) * t) + 0.01 * amp * r.normal(size=t.size)
    return np.stack([y, 0.5 * y], axis=1) if channels == 2 else y


def wav(path: Path, y, sr: int = SR, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, subtype=subtype, format="WAV")
    return path


def one_line_error(err: str) -> bool:
    """stderr holds no traceback and the error is on one line."""
    return "Traceback" not in err and len([ln for ln in err.splitlines() if ln.strip()]) >= 1


# =========================================================================== audio files
# (entry: idsd manifest / build_manifest over a folder layout ROOT/real/...)

U = os.fsdecode(b"\xff\xfe-latin1-\xe9.wav")  # not valid UTF-8


def _m4a(path: Path, seconds: float = 2.5) -> None:
    src = wav(path.parent / "_src_tmp.wav", tone(seconds))
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", f"file:{src}", "-c:a", "aac",
                    f"file:{path.parent / '_tmp.m4a'}"], check=True)
    os.replace(path.parent / "_tmp.m4a", path)
    src.unlink()


def _make(d: Path, name: str) -> None:  # noqa: C901 - one branch per kind of file
    p = d / name
    good = tone(2.0)
    if name == "good.wav":
        wav(p, good)
    elif name == "long5s.wav":
        wav(p, tone(5.0))
    elif name == "UPPER.WAV":
        wav(p, good)
    elif name == "corrupt.wav":
        p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 20)
    elif name == "empty.wav":
        p.write_bytes(b"")
    elif name == "text.wav":
        p.write_text("a text file pretending to be audio\n" * 30)
    elif name == "trunc-header.wav":
        wav(d / "_t.wav", good)
        p.write_bytes((d / "_t.wav").read_bytes()[:20])
        (d / "_t.wav").unlink()
    elif name == "trunc-data.wav":
        wav(d / "_t.wav", good)
        b = (d / "_t.wav").read_bytes()
        p.write_bytes(b[: len(b) // 2])
        (d / "_t.wav").unlink()
    elif name == "short1s.wav":
        wav(p, tone(1.0))
    elif name == "silent.wav":
        wav(p, np.zeros(40000))
    elif name == "zero-frames.wav":
        wav(p, np.zeros(0))
    elif name == "stereo44k.wav":
        wav(p, tone(2.5, 44100, channels=2), 44100)
    elif name == "rate11025.wav":
        wav(p, tone(2.5, 11025), 11025)
    elif name == "rate8000.wav":
        wav(p, tone(2.5, 8000), 8000)
    elif name == "u8.wav":
        wav(p, good, subtype="PCM_U8")
    elif name == "pcm24.wav":
        wav(p, good, subtype="PCM_24")
    elif name == "float-huge.wav":
        wav(p, good * 1e6, subtype="FLOAT")
    elif name == "float-1.5.wav":
        wav(p, good / 0.3 * 1.5, subtype="FLOAT")
    elif name == "some-nan.wav":
        y = good.astype(np.float32)
        y[100:200] = np.nan
        wav(p, y, subtype="FLOAT")
    elif name == "all-nan.wav":
        wav(p, np.full(32000, np.nan, dtype=np.float32), subtype="FLOAT")
    elif name == "folder.wav":
        wav(p / "inside.wav", good)
    elif name == "loop.wav":
        os.symlink("loop.wav", p)
    elif name == "dangling.wav":
        os.symlink("does-not-exist.wav", p)
    elif name == "link-to-good.wav":
        wav(d / "target_for_link.bin", good)
        os.symlink("target_for_link.bin", p)
    elif name == "linked-folder":
        os.symlink(".", p)  # a loop back to the folder itself
    elif name == "fifo.wav":
        os.mkfifo(p)
    elif name == ".hidden.wav":
        wav(p, good)
    elif name == ".hidden-folder":
        wav(p / "x.wav", good)
    elif name == "readme.txt":
        p.write_text("not audio")
    elif name == U:
        wav(d / "_u.wav", good)
        os.rename(os.fsencode(d / "_u.wav"), os.fsencode(p))
    elif name == "-rf.wav":
        wav(p, good)
    elif name == "pipe:evil.m4a":
        _m4a(p)
    elif name == "file:x.wav":
        wav(p, good)
    elif name == "with space.wav":
        wav(p, good)
    elif name == "new\nline.wav":
        wav(p, good)
    elif name == 'comma,"quote".wav':
        wav(p, good)
    elif name == "chmod000.wav":
        wav(p, good)
        os.chmod(p, 0)
    elif name == "locked-folder":
        wav(p / "y.wav", good)
        os.chmod(p, 0)
    elif name == "clip.m4a":
        _m4a(p)
    else:  # pragma: no cover
        raise AssertionError(name)


UNREADABLE = "kept (1 fragment; root reads mode 000)" if IS_ROOT else "listed: unreadable (permission denied)"
LOCKED = ("kept (its file: root reads mode 000)" if IS_ROOT
          else "listed: unreadable folder (Permission denied)")

# (file name, what it is, outcome). "kept (k fragment...)" -> k rows; "listed: R" -> rejected with R in reason
AUDIO_CASES = [
    ("good.wav", "2 s, 16 kHz, 16-bit mono", "kept (1 fragment)"),
    ("long5s.wav", "5 s file", "kept (2 fragments; the last 1 s dropped as upstream)"),
    ("UPPER.WAV", "upper-case extension", "kept (1 fragment)"),
    ("corrupt.wav", "RIFF header followed by garbage", "listed: not decodable audio"),
    ("empty.wav", "zero bytes", "listed: empty file"),
    ("text.wav", "text file named .wav", "listed: not decodable audio"),
    ("trunc-header.wav", "first 20 bytes of a wav", "listed: not decodable audio"),
    ("trunc-data.wav", "header promises 2 s, half the data present", "listed: shorter than 2 s"),
    ("short1s.wav", "1 s (too short)", "listed: shorter than 2 s"),
    ("silent.wav", "2.5 s of zeros", "listed: silent (peak below -60 dBFS)"),
    ("zero-frames.wav", "valid header, no frames", "listed: no audio samples"),
    ("stereo44k.wav", "stereo 44.1 kHz", "kept (1 fragment; downmixed, resampled)"),
    ("rate11025.wav", "11025 Hz", "kept (1 fragment; resampled)"),
    ("rate8000.wav", "8000 Hz", "kept (1 fragment; resampled)"),
    ("u8.wav", "8-bit unsigned PCM", "kept (1 fragment)"),
    ("pcm24.wav", "24-bit PCM", "kept (1 fragment)"),
    ("float-huge.wav", "float WAV, peak 3e5", "listed: samples far outside [-1, 1]"),
    ("float-1.5.wav", "float WAV, peak 1.5", "kept (1 fragment; warning logged)"),
    ("some-nan.wav", "float WAV with 100 NaN samples", "kept (1 fragment; NaN -> 0, warning)"),
    ("all-nan.wav", "float WAV, every sample NaN", "listed: silent (peak below -60 dBFS)"),
    ("folder.wav", "a folder named folder.wav holding a good file", "kept (its file: a folder is walked)"),
    ("loop.wav", "symlink pointing to itself", "listed: symlink loop"),
    ("dangling.wav", "symlink to a missing file", "listed: broken symlink"),
    ("link-to-good.wav", "symlink to a good file (target named .bin)", "kept (1 fragment)"),
    ("linked-folder", "symlink to a folder (a loop to its parent)", "listed: symlink to a folder (not followed)"),
    ("fifo.wav", "FIFO named .wav (never opened)", "listed: not a regular file (a FIFO (named pipe))"),
    (".hidden.wav", "hidden file", "listed: hidden file"),
    (".hidden-folder", "hidden folder with a good file", "listed: hidden folder (not walked)"),
    ("readme.txt", "unsupported extension", "listed: not an audio file name"),
    (U, "name with bytes that are not UTF-8", "kept (1 fragment; name round-trips byte for byte)"),
    ("-rf.wav", "name starting with '-'", "kept (1 fragment)"),
    ("pipe:evil.m4a", "AAC file named like ffmpeg's pipe protocol", "kept (1 fragment; read as a file)"),
    ("file:x.wav", "name starting with 'file:'", "kept (1 fragment)"),
    ("with space.wav", "space in the name", "kept (1 fragment)"),
    ("new\nline.wav", "newline in the name", "kept (1 fragment; name round-trips)"),
    ('comma,"quote".wav', "comma and quotes in the name", "kept (1 fragment; name round-trips)"),
    ("chmod000.wav", "mode 000", UNREADABLE),
    ("locked-folder", "folder with mode 000", LOCKED),
    ("clip.m4a", "AAC in MP4 (ffmpeg)", "kept (1 fragment)"),
]


@pytest.fixture(scope="module")
def hostile_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile") / "corpus"
    d = root / "real"
    d.mkdir(parents=True)
    for name, _, _ in AUDIO_CASES:
        _make(d, name)
    yield root
    for name in ("chmod000.wav", "locked-folder"):
        os.chmod(d / name, 0o755)


@pytest.fixture(scope="module")
def manifest_run(hostile_tree, tmp_path_factory):
    """``idsd manifest`` over the hostile tree, in process; (status, manifest read back, rejected)."""
    from idsd.validate import read_manifest

    out = tmp_path_factory.mktemp("mout") / "m.csv"
    status = main(["manifest", str(hostile_tree), "--layout", "folder", "--out", str(out), "--no-progress",
                   "--workers", "2"])
    m = read_manifest(out, required=("path", "fragment", "split", "label", "target"))
    rej = pd.read_csv(out.parent / "rejected.csv", keep_default_na=False, encoding="utf-8",
                      encoding_errors="surrogateescape")
    return status, m, rej, out


def _rel(p: str, base: Path) -> str:
    return os.path.relpath(p, base)


@pytest.mark.parametrize("name,what,outcome", AUDIO_CASES, ids=[show_path(c[0]) for c in AUDIO_CASES])
def test_audio_file_outcome(manifest_run, hostile_tree, name, what, outcome):
    status, m, rej, _ = manifest_run
    assert status == 0
    d = hostile_tree / "real"
    kept = m[m.path.map(lambda p: _rel(p, d).split(os.sep)[0] == name)]
    listed = rej[rej.file.map(lambda p: _rel(p, d).split(os.sep)[0] == name)]
    if outcome.startswith("kept"):
        k = int(outcome.split("(")[1].split()[0]) if outcome.split("(")[1][0].isdigit() else 1
        assert len(kept) == k and len(listed) == 0, (kept, listed)
        assert os.path.lexists(kept.path.iloc[0])  # the path read back names the file on disk
    else:
        reason = outcome.removeprefix("listed: ")
        assert len(kept) == 0 and len(listed) == 1, (kept, listed)
        assert reason in listed.reason.iloc[0], listed.reason.iloc[0]


def test_manifest_names_round_trip_bytes(manifest_run, hostile_tree):
    """Every kept name, read back from m.csv, is the exact byte string on disk."""
    _, m, _, out = manifest_run
    on_disk = set(os.listdir(os.fsencode(hostile_tree / "real")))
    kept = {os.fsencode(os.path.basename(p)) for p in m.path if os.path.dirname(p) == str(hostile_tree / "real")}
    assert os.fsencode(U) in kept and b"new\nline.wav" in kept and b'comma,"quote".wav' in kept
    assert kept <= on_disk
    assert not [f for f in os.listdir(out.parent) if ".tmp" in f or "partial" in f]  # no leftovers


def test_manifest_pipe_name_is_the_file_not_stdin(hostile_tree, tmp_path, monkeypatch):
    """A relative ``pipe:evil.m4a`` is decoded from the file (never ffmpeg's stdin protocol)."""
    from idsd.audio import load_audio

    monkeypatch.chdir(hostile_tree / "real")
    y = load_audio("pipe:evil.m4a")
    (tmp_path / "plain.m4a").write_bytes(Path("pipe:evil.m4a").read_bytes())
    assert np.array_equal(y, load_audio(tmp_path / "plain.m4a")) and np.abs(y).max() > 0.1


# =========================================================================== manifests
# (entry: idsd features MANIFEST; the same reader serves idsd train / eval -i MANIFEST)

HEAD = "path,dataset,split,label,target,source,speaker,fragment,duration,condition\n"


def _row(path="{good}", split="train", label="real", target="1", fragment="0", duration="2.0"):
    return f'"{path}",toy,{split},{label},{target},bonafide,unknown,{fragment},{duration},clean\n'


# (id, content (str | bytes | special), outcome)
MANIFEST_CASES = [
    ("missing", None, "refused: manifest not found"),
    ("a folder", "DIR", "refused: is a folder, not a file"),
    ("a FIFO", "FIFO", "refused: not a regular file (a FIFO (named pipe))"),
    ("empty file", "", "refused: empty file"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 40, "refused: binary file, not a CSV manifest"),
    ("not UTF-8 text, no header", b"\xff\xfe\xfd garbage\n", "refused: not a manifest: missing column(s)"),
    ("unbalanced quote", HEAD + '"/x.wav,toy,train\n', "refused: not a readable CSV manifest"),
    ("missing column fragment", "path,split,target\n/x.wav,train,1\n", "refused: missing column(s) fragment"),
    ("missing column path", "fragment,split\n0,train\n", "refused: missing column(s) path"),
    ("non-numeric fragment", HEAD + _row(fragment="abc"), "refused: column fragment: 'abc' is not an integer"),
    ("fractional fragment", HEAD + _row(fragment="1.5"), "refused: column fragment: '1.5' is not an integer"),
    ("negative fragment", HEAD + _row(fragment="-1"), "refused: column fragment: -1 outside"),
    ("huge fragment", HEAD + _row(fragment="1" + "0" * 30, duration="1e40"), "refused: outside [0, 10000000]"),
    ("fragment beyond duration", HEAD + _row(fragment="3"), "refused: no fragment 3 in a 2-s file"),
    ("NaN duration", HEAD + _row(duration="nan"), "refused: column duration: 'nan' is not a positive number"),
    ("negative duration", HEAD + _row(duration="-2"), "refused: column duration: '-2' is not a positive"),
    ("unknown split", HEAD + _row(split="test"), "refused: column split: 'test' is not one of train, dev, eval"),
    ("unknown label", HEAD + _row(label="spoof"), "refused: column label: 'spoof' is not real or fake"),
    ("target 2", HEAD + _row(target="2"), "refused: column target: 2 outside [0, 1]"),
    ("label contradicts target", HEAD + _row(target="0"), "refused: label 'real' contradicts target 0"),
    ("duplicate rows", HEAD + _row() + _row(), "refused: row 2: duplicate row for fragment 0"),
    ("empty path", HEAD + _row(path=""), "refused: row 1: empty path"),
    ("header only", HEAD, "kept (0 rows, exit 0)"),
    ("row for a missing audio file", HEAD + _row() + _row(path="/nonexistent/x.wav"),
     "listed: file not found (exit 0, 1 row kept)"),
    ("row for a FIFO", HEAD + _row() + _row(path="{fifo}"),
     "listed: not a regular file (a FIFO (named pipe)) (exit 0, 1 row kept)"),
    ("row for a folder", HEAD + _row() + _row(path="{dir}"), "listed: is a folder, not a file (exit 0, 1 row kept)"),
    ("non-UTF-8 file name", "NONUTF8", "kept (1 row; the name read back is the file)"),
]


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("aud")
    wav(d / "good.wav", tone(2.0))
    os.mkfifo(d / "fifo.wav")
    (d / "adir.wav").mkdir()
    wav(d / "_u.wav", tone(2.0, seed=3))
    os.rename(os.fsencode(d / "_u.wav"), os.fsencode(d / U))
    return d


def _write_manifest_case(path: Path, content, audio_dir: Path) -> Path:
    if content is None:
        return path
    if content == "DIR":
        path.mkdir()
    elif content == "FIFO":
        os.mkfifo(path)
    elif content == "NONUTF8":
        path.write_bytes(HEAD.encode() + _row(path=str(audio_dir / U)).encode("utf-8", "surrogateescape"))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content.format(good=audio_dir / "good.wav", fifo=audio_dir / "fifo.wav",
                                       dir=audio_dir / "adir.wav"))
    return path


@pytest.mark.parametrize("case,content,outcome", MANIFEST_CASES, ids=[c[0] for c in MANIFEST_CASES])
def test_manifest_input_outcome(case, content, outcome, audio_dir, tmp_path, capsys):
    man = _write_manifest_case(tmp_path / "m.csv", content, audio_dir)
    status = main(["features", str(man), "--feature", "mfcc", "--cache", str(tmp_path / "cache"),
                   "--no-progress"])
    cap = capsys.readouterr()
    if outcome.startswith("refused"):
        msg = outcome.removeprefix("refused: ")
        assert status == 2
        lines = [ln for ln in cap.err.splitlines() if ln.startswith("idsd features:")]
        assert len(lines) == 1 and msg in lines[0] and "Traceback" not in cap.err, cap.err
        assert str(man) in lines[0] or show_path(str(man)) in lines[0]
    elif outcome.startswith("kept"):
        assert status == 0, cap.err
        n = int(outcome.split("(")[1].split()[0])
        assert f": {n} rows" in cap.out
    else:  # listed
        assert status == 0, cap.err
        reason = outcome.removeprefix("listed: ").rsplit(" (exit", 1)[0]
        assert ": 1 rows" in cap.out and "1 rejected" in cap.out
        assert f": {reason}" in cap.out


# =========================================================================== model records
# (entry: idsd.artifact.read_record, used by idsd detect and idsd eval)

CARD_CASES = [
    ("threshold NaN (JSON NaN literal)", '{"feature": "mfcc", "threshold": NaN}', "refused: non-finite number NaN"),
    ("threshold Infinity", '{"feature": "mfcc", "threshold": Infinity}', "refused: non-finite number Infinity"),
    ("threshold as text", '{"feature": "mfcc", "threshold": "0.5"}', "refused: threshold must be a number"),
    ("threshold true", '{"feature": "mfcc", "threshold": true}', "refused: threshold must be a number"),
    ("threshold 1.5", '{"feature": "mfcc", "threshold": 1.5}', "refused: threshold 1.5 outside [0, 1]"),
    ("dev_eer -0.1", '{"feature": "mfcc", "dev_eer": -0.1}', "refused: dev_eer -0.1 outside [0, 1]"),
    ("unknown feature", '{"feature": "wav2vec"}', "refused: unknown feature 'wav2vec'"),
    ("unknown mode", '{"feature": "mfcc", "mode": "video"}', "refused: unknown mode 'video'"),
    ("no feature", '{"mode": "array"}', "refused: model record without a 'feature' field"),
    ("a JSON list", '["mfcc"]', "refused: model record must be a JSON object"),
    ("not JSON", "{feature: mfcc", "refused: unreadable model record: not valid JSON"),
    ("binary", b"\x00\xff\x00\xfe", "refused: unreadable model record: not UTF-8 text"),
    ("overrides a list", '{"feature": "mfcc", "overrides": [1, 2]}', "refused: overrides must be an object"),
    ("input_shape [0, -1]", '{"feature": "mfcc", "input_shape": [0, -1]}', "refused: input_shape must be two positive"),
    ("record is a folder", "DIR", "refused: is a folder, not a file"),
    ("valid record", '{"feature": "mfcc", "mode": "array", "threshold": 0.25}', "kept (threshold 0.25)"),
]


@pytest.mark.parametrize("case,content,outcome", CARD_CASES, ids=[c[0] for c in CARD_CASES])
def test_model_record_outcome(case, content, outcome, tmp_path):
    from idsd.artifact import ModelRecordError, read_record, record_path

    model = tmp_path / "mfcc_avg_10.keras"
    cp = record_path(model)
    if content == "DIR":
        cp.mkdir()
    elif isinstance(content, bytes):
        cp.write_bytes(content)
    else:
        cp.write_text(content)
    if outcome.startswith("kept"):
        assert read_record(model)["threshold"] == 0.25
    else:
        with pytest.raises(ModelRecordError) as err:
            read_record(model)
        assert outcome.removeprefix("refused: ") in str(err.value) and "\n" not in str(err.value)


def test_detect_json_with_nan_record_is_one_line(tmp_path, capsys):
    """The reported crash: a NaN threshold in the record -> exit 2, one line, no traceback."""
    model = tmp_path / "mfcc_avg_10.keras"
    model.write_bytes(b"not a model")
    model.with_name("mfcc_avg_10.record.json").write_text('{"feature": "mfcc", "threshold": NaN}')
    clip = wav(tmp_path / "a.wav", tone(2.0))
    assert main(["detect", "--json", "--model", str(model), str(clip)]) == 2
    err = capsys.readouterr().err
    assert "non-finite number NaN" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# =========================================================================== score files

SCORE_CASES = [
    ("txt: valid", "0.1\n0.9\n\n0.5\n", "kept (3 scores)"),
    ("txt: NaN", "0.1\nnan\n", "refused: score 2: 'nan' is not a finite number"),
    ("txt: text", "0.1\nhigh\n", "refused: score 2: 'high' is not a finite number"),
    ("txt: 1.5", "1.5\n", "refused: score 1: 1.5 outside [0, 1]"),
    ("txt: negative", "-0.2\n", "refused: score 1: -0.2 outside [0, 1]"),
    ("txt: binary", b"\x00\x01\x02", "refused: binary file, not a score file"),
    ("csv: missing column score", "path,fragment,target\n/x.wav,0,1\n", "refused: missing column(s)"),
    ("csv: target 3", "CSV:3:0.5", "refused: column target: 3 outside [0, 1]"),
    ("csv: score inf", "CSV:1:inf", "refused: score 1: 'inf' is not a finite number"),
    ("csv: valid", "CSV:1:0.75", "kept (1 row)"),
    ("missing file", None, "refused: score file not found"),
]


@pytest.mark.parametrize("case,content,outcome", SCORE_CASES, ids=[c[0] for c in SCORE_CASES])
def test_score_file_outcome(case, content, outcome, tmp_path):
    from idsd.scores import SCORE_COLUMNS
    from idsd.validate import read_score_file

    path = tmp_path / ("s.csv" if case.startswith("csv") else "s.txt")
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str) and content.startswith("CSV:"):
        _, target, score = content.split(":")
        row = {"path": "/x.wav", "fragment": 0, "dataset": "toy", "split": "eval",
               "label": "real" if target == "1" else "fake", "target": target, "source": "bonafide",
               "speaker": "unknown", "condition": "clean", "score": score}
        pd.DataFrame([{c: row.get(c, "") for c in SCORE_COLUMNS}]).to_csv(path, index=False)
    elif content is not None:
        path.write_text(content)
    if outcome.startswith("kept"):
        got = read_score_file(path)
        assert len(got) == int(outcome.split("(")[1].split()[0])
    else:
        with pytest.raises(InputError, match=None) as err:
            read_score_file(path)
        assert outcome.removeprefix("refused: ") in str(err.value)


# =========================================================================== the study index

_GOOD_STUDY = {"source": "embedded", "corpora": [{"name": "a", "manifest": "manifests/a.csv", "train": True}],
               "modified_manifest": None, "modified_base": None, "learning_curve_corpus": "a", "quick": True}

STUDY_CASES = [
    ("valid", _GOOD_STUDY, "kept (1 corpus)"),
    ("not JSON", "{oops", "refused: unreadable study index: not valid JSON"),
    ("a list", [], "refused: study index must be a JSON object"),
    ("NaN in it", '{"source": NaN}', "refused: non-finite number NaN"),
    ("unknown field", {**_GOOD_STUDY, "extra": 1}, "refused: unknown field(s) extra"),
    ("no corpora", {**_GOOD_STUDY, "corpora": []}, "refused: field corpora must be a non-empty list"),
    ("duplicate corpus", {**_GOOD_STUDY, "corpora": _GOOD_STUDY["corpora"] * 2}, "refused: corpus 'a' listed twice"),
    ("absolute manifest path", {**_GOOD_STUDY, "corpora": [{"name": "a", "manifest": "/etc/passwd"}]},
     "refused: manifest must be a path relative to the outputs folder"),
    ("'..' in manifest path", {**_GOOD_STUDY, "corpora": [{"name": "a", "manifest": "../x.csv"}]},
     "refused: manifest must be a path relative"),
    ("train is text", {**_GOOD_STUDY, "corpora": [{"name": "a", "manifest": "m.csv", "train": "yes"}]},
     "refused: train must be true or false"),
    ("unknown learning-curve corpus", {**_GOOD_STUDY, "learning_curve_corpus": "b"},
     "refused: field learning_curve_corpus: 'b' is not a corpus of the study"),
    ("missing file", None, "refused: study index not found"),
]


@pytest.mark.parametrize("case,content,outcome", STUDY_CASES, ids=[c[0] for c in STUDY_CASES])
def test_study_index_outcome(case, content, outcome, tmp_path):
    from idsd.validate import read_study

    path = tmp_path / "study.json"
    if isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        path.write_text(json.dumps(content))
    if outcome.startswith("kept"):
        assert read_study(path).eval_corpora == ["a"]
    else:
        with pytest.raises(InputError) as err:
            read_study(path)
        assert outcome.removeprefix("refused: ") in str(err.value)


# =========================================================================== CLI arguments


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("small") / "c"
    for i, label in enumerate(("real", "fake")):
        wav(d / label / f"{label}.wav", tone(2.0, seed=i))
    return d


# (id, argv with {c} corpus, {f} a regular file, {d} a folder, {t} tmp; outcome)
CLI_CASES = [
    ("manifest: root is a file", ["manifest", "{f}", "--out", "{t}/m.csv"], "refused: corpus folder expected, but it is a file"),
    ("manifest: root missing", ["manifest", "{t}/nope", "--out", "{t}/m.csv"], "refused: corpus folder not found"),
    ("manifest: --out is a folder", ["manifest", "{c}", "--out", "{d}"], "refused: --out manifest is a folder"),
    ("manifest: --out below a file", ["manifest", "{c}", "--out", "{f}/m.csv"], "refused: is a file, not a folder"),
    ("manifest: --out = --rejected", ["manifest", "{c}", "--out", "{t}/m.csv", "--rejected", "{t}/m.csv"],
     "refused: --out and --rejected name the same file"),
    ("manifest: --workers 0", ["manifest", "{c}", "--out", "{t}/m.csv", "--workers", "0"], "usage: --workers: must be >= 1"),
    ("manifest: --unsplit bogus", ["manifest", "{c}", "--out", "{t}/m.csv", "--unsplit", "bogus"], "usage: invalid choice"),
    ("manifest: --layout bogus", ["manifest", "{c}", "--out", "{t}/m.csv", "--layout", "bogus"], "usage: invalid choice"),
    ("manifest: --dataset with a newline", ["manifest", "{c}", "--out", "{t}/m.csv", "--dataset", "a\nb"],
     "refused: is not a usable corpus name"),
    ("manifest: no known layout", ["manifest", "{d}", "--out", "{t}/m.csv"], "refused: no known corpus layout"),
    ("features: --cache below a file", ["features", "{t}/good.csv", "--cache", "{f}/cache"],
     "refused: --cache folder cannot be created"),
    ("features: --feature bogus", ["features", "{t}/good.csv", "--feature", "bogus"], "usage: invalid choice"),
    ("detect: --batch-size 0", ["detect", "--batch-size", "0", "{f}"], "usage: --batch-size: must be >= 1"),
    ("detect: --threshold 1.5", ["detect", "--threshold", "1.5", "{f}"], "refused: --threshold must be in [0, 1]"),
    ("detect: --threshold nan", ["detect", "--threshold", "nan", "{f}"], "refused: --threshold must be a finite number"),
    ("detect: bare -rf.wav", ["detect", "-rf.wav"], "usage: put -- before file names that start with '-'"),
    ("detect: model is a FIFO", ["detect", "--model", "{t}/fifo.keras", "{f}"],
     "refused: cannot use the model: " + "{t}/fifo.keras: not a regular file (a FIFO (named pipe))"),
    ("train: --epochs 0", ["train", "-i", "{c}", "--epochs", "0"], "usage: --epochs: must be >= 1"),
    ("train: --feature bogus", ["train", "-i", "{c}", "--feature", "bogus"], "usage: invalid choice"),
    ("train: -i missing", ["train", "-i", "{t}/nope.csv"], "refused: no such corpus folder or manifest CSV"),
    ("train: -i binary manifest", ["train", "-i", "{t}/bin.csv"], "refused: binary file, not a CSV manifest"),
    ("train: -i manifest without split", ["train", "-i", "{t}/nosplit.csv"], "refused: missing column(s) split"),
    ("eval: --threshold 2", ["eval", "-i", "{c}", "-m", "_avg_10", "--threshold", "2"], "usage: must be a number in [0, 1]"),
    ("eval: --split test", ["eval", "-i", "{c}", "-m", "_avg_10", "--split", "test"], "usage: invalid choice"),
    ("eval: --batch -1", ["eval", "-i", "{c}", "-m", "_avg_10", "--batch", "-1"], "usage: --batch: must be >= 1"),
    ("eval: -i FIFO", ["eval", "-i", "{t}/fifo.csv", "-m", "_avg_10"], "refused: not a regular file (a FIFO"),
]


@pytest.mark.parametrize("case,argv,outcome", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_argument_outcome(case, argv, outcome, small_corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "regular.txt"
    f.write_text("x")
    (tmp_path / "adir").mkdir()
    wav(tmp_path / "-rf.wav", tone(2.0))
    os.mkfifo(tmp_path / "fifo.keras")
    os.mkfifo(tmp_path / "fifo.csv")
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01binary" * 50)
    (tmp_path / "nosplit.csv").write_text("path,fragment,target\n/x.wav,0,1\n")
    (tmp_path / "good.csv").write_text(HEAD + _row(path=str(small_corpus / "real" / "real.wav")))
    sub = {"{c}": str(small_corpus), "{f}": str(f), "{d}": str(tmp_path / "adir"), "{t}": str(tmp_path)}
    args = []
    for a in argv:
        for k, v in sub.items():
            a = a.replace(k, v)
        args.append(a)
    if case.startswith("train") or case.startswith("eval"):
        args += ["--outputs", str(tmp_path / "out")]
    if case.startswith("features") and "--cache" not in args:
        args += ["--cache", str(tmp_path / "cache")]
    if outcome.startswith("usage"):
        with pytest.raises(SystemExit) as ex:
            main(args)
        assert ex.value.code == 2
    else:
        assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    msg = outcome.split(": ", 1)[1].replace("{t}", str(tmp_path))
    assert msg in err, err
    if outcome.startswith("refused"):
        hits = [ln for ln in err.splitlines() if msg in ln]
        assert len(hits) == 1 and hits[0].startswith("idsd ")
    assert not (tmp_path / "m.csv").exists()  # refused before anything is written


def test_cli_double_dash_before_paths():
    """``--`` ends the options: a path starting with '-' is a path."""
    args = build_parser().parse_args(["detect", "--json", "--", "-rf.wav", "--model"])
    assert args.paths == ["-rf.wav", "--model"] and args.json
    args = build_parser().parse_args(["manifest", "--out", "m.csv", "--", "-corpus"])
    assert args.root == "-corpus"


def test_manifest_out_folder_refused_before_decoding(small_corpus, tmp_path, monkeypatch, capsys):
    """``--out`` that is a folder is refused before any file is decoded."""
    import idsd.datasets.common as common

    calls = []
    monkeypatch.setattr(common, "load_audio", lambda p: calls.append(p))
    assert main(["manifest", str(small_corpus), "--out", str(tmp_path)]) == 2
    assert calls == [] and "is a folder" in capsys.readouterr().err


def test_debug_flag_shows_traceback_and_plain_run_does_not(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    cmd = [sys.executable, "-m", "idsd", "manifest", str(f), "--out", str(tmp_path / "m.csv")]
    plain = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=120)
    debug = subprocess.run(cmd[:3] + ["--debug"] + cmd[3:], capture_output=True, text=True, env=ENV, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines()[-1].startswith("idsd manifest: ")
    assert "is a file" in plain.stderr
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "InputError" in debug.stderr


def test_non_utf8_folder_manifest_subprocess(tmp_path):
    """The reported crash: a non-UTF-8 name -> UnicodeEncodeError in write_manifest, partial m.csv.

    Now: exit 0, full m.csv and rejected.csv, no traceback; the name reads back byte for byte.
    """
    from idsd.validate import read_manifest

    c = tmp_path / "c"
    for i in range(3):
        wav(c / "real" / f"r{i}.wav", tone(2.0, seed=i))
    wav(c / "fake" / "_u.wav", tone(2.0, seed=9))
    os.rename(os.fsencode(c / "fake" / "_u.wav"), os.fsencode(c / "fake" / U))
    out = tmp_path / "o" / "m.csv"
    p = subprocess.run([sys.executable, "-m", "idsd", "manifest", str(c), "--out", str(out), "--no-progress"],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    m = read_manifest(out)
    assert len(m) == 4 and (out.parent / "rejected.csv").is_file()
    assert os.fsencode(str(c / "fake" / U)) in {os.fsencode(x) for x in m.path}


# =========================================================================== library entry points


def test_build_manifest_entry_errors(tmp_path):
    from idsd.datasets import build_manifest, detect_layout

    f = tmp_path / "f.wav"
    f.write_text("x")
    with pytest.raises(InputError, match="corpus folder expected, but it is a file"):
        build_manifest(f, progress=False)
    with pytest.raises(FileNotFoundError, match="corpus folder not found"):  # also an IDSDError
        build_manifest(tmp_path / "none", progress=False)
    with pytest.raises(InputError, match="unknown layout 'bogus'"):
        build_manifest(tmp_path, layout="bogus", progress=False)
    with pytest.raises(IDSDError, match="no known corpus layout"):
        detect_layout(tmp_path)


def test_layout_levels_list_stray_entries(tmp_path):
    """Entries beside real/ and fake/ (or beside the FoR split folders) are listed, not ignored."""
    from idsd.datasets import build_manifest

    f = tmp_path / "mine"
    wav(f / "real" / "a.wav", tone(2.0))
    (f / "notes.txt").write_text("x")
    wav(f / "extras" / "b.wav", tone(2.0))
    (f / ".git").mkdir()
    m, rej = build_manifest(f, layout="folder", progress=False)
    assert len(m) == 1
    assert dict(zip(rej.file.map(os.path.basename), rej.reason)) == {
        ".git": "hidden folder", "extras": "outside real/ and fake/ (not used)",
        "notes.txt": "outside real/ and fake/ (not used)"}
    r = tmp_path / "for-2seconds"
    wav(r / "training" / "real" / "a.wav", tone(2.0))
    wav(r / "training" / "other" / "b.wav", tone(2.0))
    (r / "README.md").write_text("x")
    m, rej = build_manifest(r, layout="for", progress=False)
    assert len(m) == 1 and sorted(rej.file.map(os.path.basename)) == ["README.md", "other"]
    assert set(rej.reason) == {"outside the FoR layout {training,validation,testing}/{real,fake} (not used)"}


def test_load_audio_precise_reasons(tmp_path):
    from idsd.audio import load_audio

    (tmp_path / "d.wav").mkdir()
    os.mkfifo(tmp_path / "p.wav")
    os.symlink("nowhere.wav", tmp_path / "b.wav")
    for name, reason in (("d.wav", "is a folder, not a file"), ("p.wav", "not a regular file (a FIFO (named pipe))"),
                         ("b.wav", "broken symlink"), ("n.wav", "file not found")):
        with pytest.raises(AudioError) as err:
            load_audio(tmp_path / name)
        assert err.value.reason == reason


def test_cache_path_below_a_file_and_truncated_index(tmp_path, caplog):
    from idsd.cache import load_feature_set
    from idsd.features import FeatureConfig

    clip = wav(tmp_path / "a.wav", tone(4.0))
    m = pd.DataFrame({"path": [str(clip)] * 2, "fragment": [0, 1], "target": [1, 1], "split": ["train"] * 2})
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        load_feature_set(m, FeatureConfig("mfcc"), tmp_path / "file" / "cache", progress=False)
    with pytest.raises(InputError, match="duplicate row"):
        load_feature_set(pd.concat([m, m]), FeatureConfig("mfcc"), tmp_path / "c", progress=False)
    fs = load_feature_set(m, FeatureConfig("mfcc"), tmp_path / "c", progress=False)
    X = np.asarray(fs.X).copy()
    rows_csv = next((tmp_path / "c").rglob("*.rows.csv"))
    rows_csv.write_text(rows_csv.read_text().splitlines()[0] + "\n" + rows_csv.read_text().splitlines()[1] + "\n")
    caplog.clear()
    with caplog.at_level("WARNING", logger="idsd.cache"):
        fs2 = load_feature_set(m, FeatureConfig("mfcc"), tmp_path / "c", progress=False)
    assert any("index has 1 rows for a 2-row set" in r.getMessage() for r in caplog.records)
    assert np.array_equal(np.asarray(fs2.X), X)


def test_detect_lists_every_skip(tmp_path):
    from idsd.detect import collect_audio_files

    d = tmp_path / "in"
    wav(d / "a.wav", tone(2.0))
    (d / "notes.txt").write_text("x")
    wav(d / ".h.wav", tone(2.0))
    os.mkfifo(d / "p.wav")
    os.symlink("gone.wav", d / "b.wav")
    os.symlink(".", d / "loopdir")
    os.mkfifo(tmp_path / "named.wav")
    skipped = []
    files, problems = collect_audio_files([d, tmp_path / "named.wav"], skipped)
    assert files == [d / "a.wav"]
    assert dict(problems) == {str(tmp_path / "named.wav"): "not a regular file (a FIFO (named pipe))"}
    got = {os.path.basename(f): r for f, r in skipped}
    assert got == {"notes.txt": "not an audio file name (extension not in the audio list)", ".h.wav": "hidden file",
                   "p.wav": "not a regular file (a FIFO (named pipe))", "b.wav": "broken symlink",
                   "loopdir": "symlink to a folder (not followed)"}


def test_detect_report_shows_skips_and_odd_names_on_one_line():
    """Table, JSON and CSV reports list skipped entries; odd names print escaped on one line."""
    from idsd.commands.detect import render_json, render_table
    from idsd.detect import ERROR_COLUMNS, RESULT_COLUMNS

    odd = "/in/" + U.replace(".wav", "\nx.wav")
    results = pd.DataFrame([{"file": odd, "duration_s": 2.0, "windows": 1, "score": 0.7, "score_min": 0.7,
                             "score_max": 0.7, "decision": "real", "threshold": 0.5, "window_scores": [0.7]}],
                           columns=list(RESULT_COLUMNS))
    results.attrs["skipped"] = [{"file": "/in/p.wav", "reason": "not a regular file (a FIFO (named pipe))"}]
    errors = pd.DataFrame([(odd, "empty file")], columns=list(ERROR_COLUMNS))
    info = {"model": "m.keras", "feature": "mfcc", "mode": "array", "score": "P(real)", "threshold": 0.5,
            "threshold_source": "given"}
    table = render_table(results, errors, info)
    table.encode("utf-8")  # printable whatever the names hold
    assert "Skipped in folders (1):" in table and "  /in/p.wav: not a regular file (a FIFO (named pipe))" in table
    assert f"  {show_path(odd)}: empty file" in table and "\\xff\\xfe" in table
    doc = json.loads(render_json(results, errors, info))
    assert doc["skipped"] == results.attrs["skipped"] and doc["errors"][0]["file"] == odd


def test_detect_help_says_strictly_greater(capsys):
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "real if score > threshold" in out and ">=" not in out


# =========================================================================== kill and resume


def _wait_lines(path: Path, n: int, proc, timeout: float = 60.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.exists() and len(path.read_bytes().splitlines()) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"finished before the kill: {proc.stderr.read()}")
        time.sleep(0.005)
    raise AssertionError("no progress")


def test_manifest_kill_and_resume(tmp_path, caplog):
    """SIGKILL ``idsd manifest`` mid-way; the re-run decodes only the rest; same result as uninterrupted.

    The killed child decodes slowly (a 30 ms sleep per file, so the kill lands mid-way on any
    machine); the re-run and the reference run are ordinary in-process runs.
    """
    from idsd.commands.manifest import checkpoint_path

    c = tmp_path / "c"
    for i in range(40):
        wav(c / ("real" if i % 2 else "fake") / f"f{i:02d}.wav", tone(2.5, 22050, seed=i), 22050)
    (c / "real" / "bad.wav").write_bytes(b"junk" * 100)
    out = tmp_path / "o" / "m.csv"
    ckpt = Path(checkpoint_path(out))
    code = ("import sys, time; import idsd.datasets.common as c; f = c.load_audio; "
            "c.load_audio = lambda p: (time.sleep(0.03), f(p))[1]; from idsd.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, "manifest", str(c), "--out", str(out), "--no-progress",
                             "--workers", "1"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_lines(ckpt, 6, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # never a partial manifest
    done = len(ckpt.read_bytes().splitlines()) - 1
    assert 5 <= done < 41
    with caplog.at_level("INFO", logger="idsd.datasets.common"):
        assert main(["manifest", str(c), "--out", str(out), "--no-progress", "--workers", "1"]) == 0
    resumed = [r.getMessage() for r in caplog.records if "resumed" in r.getMessage()]
    assert len(resumed) == 1
    n_resumed = int(resumed[0].split("resumed ")[1].split()[0])
    assert n_resumed >= done - 1  # a line cut by the kill is decoded again
    assert not ckpt.exists()
    ref = tmp_path / "ref" / "m.csv"
    assert main(["manifest", str(c), "--out", str(ref), "--no-progress", "--workers", "2"]) == 0
    assert out.read_bytes() == ref.read_bytes()
    assert (out.parent / "rejected.csv").read_bytes() == (ref.parent / "rejected.csv").read_bytes()


def test_features_kill_and_resume(tmp_path, monkeypatch):
    """SIGKILL feature extraction mid-way; the re-run extracts only missing rows; same features.

    The killed child extracts slowly (a 30 ms sleep per batch of one file) so the kill lands mid-way.
    """
    import idsd.cache as cache
    import idsd.shards as shards
    from idsd.features import FeatureConfig

    rows = []
    for i in range(24):
        p = wav(tmp_path / "a" / f"c{i:02d}.wav", tone(4.0, seed=i))
        rows += [{"path": str(p), "fragment": k, "target": i % 2, "split": "train"} for k in (0, 1)]
    m = pd.DataFrame(rows)
    man = tmp_path / "m.csv"
    m.to_csv(man, index=False)
    code = ("import sys, time, pandas as pd; import idsd.cache as c, idsd.shards as s; "
            "from idsd.features import FeatureConfig; f = s.extract_batch; s.extract_batch = lambda *a, **k: (time.sleep(0.03), f(*a, **k))[1]; "
            "c.load_feature_set(pd.read_csv(sys.argv[1]), FeatureConfig('mfcc'), sys.argv[2], progress=False, "
            "batch_files=1)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(man), str(tmp_path / "cache")], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    rows_csv = None
    while time.time() - t0 < 120:
        hits = list((tmp_path / "cache").rglob("*.rows.csv"))
        if hits:
            try:
                st = pd.read_csv(hits[0])["status"]
            except (pd.errors.EmptyDataError, KeyError, ValueError):
                st = pd.Series([], dtype=int)
            if (st == 1).sum() >= 6:
                rows_csv = hits[0]
                break
        if proc.poll() is not None:
            raise AssertionError(f"finished before the kill: {proc.stderr.read()}")
        time.sleep(0.01)
    assert rows_csv is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = int((pd.read_csv(rows_csv)["status"] == 1).sum())
    assert 6 <= saved < 48
    computed = []
    real_extract = shards.extract_batch
    monkeypatch.setattr(shards, "extract_batch", lambda Y, *a, **k: (computed.append(len(Y)), real_extract(Y, *a, **k))[1])
    fs = cache.load_feature_set(m, FeatureConfig("mfcc"), tmp_path / "cache", progress=False)
    assert sum(computed) == 48 - saved and len(fs) == 48
    computed.clear()
    ref = cache.load_feature_set(m, FeatureConfig("mfcc"), tmp_path / "ref", progress=False)
    np.testing.assert_array_equal(np.asarray(fs.X), np.asarray(ref.X))


# =========================================================================== docs/reliability.md

GROUPS = [
    ("Audio files", "`idsd manifest` / `idsd.datasets.build_manifest` over a folder corpus "
     "(the same decoder serves `idsd features` and `idsd detect`)", [(show_path(n), w, o) for n, w, o in AUDIO_CASES]),
    ("Manifests", "`idsd features MANIFEST` (the same reader, `idsd.validate.read_manifest`, serves "
     "`idsd train -i` / `idsd eval -i` and `idsd.cache.load_feature_set`)",
     [(c, "", o) for c, _, o in MANIFEST_CASES]),
    ("Model records", "`idsd.artifact.read_record` (used by `idsd detect` and `idsd eval`)", [(c, "", o) for c, _, o in CARD_CASES]),
    ("Score files", "`idsd.validate.read_score_file` (upstream per-class `.txt`, score-frame `.csv`)",
     [(c, "", o) for c, _, o in SCORE_CASES]),
    ("Study index", "`idsd.validate.read_study` (`<outputs>/manifests/study.json`)",
     [(c, "", o) for c, _, o in STUDY_CASES]),
    ("Command-line arguments", "`idsd manifest`, `features`, `detect`, `train`, `eval`; `usage:` = argparse "
     "refuses with its usage line, exit 2", [(c, "", o) for c, _, o in CLI_CASES]),
]

EXTRA = [
    "`idsd manifest` over a folder with a non-UTF-8 file name: exit 0, full `m.csv` and `rejected.csv`, the "
    "name reads back byte for byte (`test_non_utf8_folder_manifest_subprocess`).",
    "`idsd detect --json` with a model record whose threshold is `NaN`: exit 2, one line, no traceback.",
    "A relative `pipe:evil.m4a` is decoded from the file, not from ffmpeg's stdin (`-i file:/abs/path`, "
    "stdin closed).",
    "`--` before paths: `idsd detect -- -rf.wav`; a bare `-rf.wav` is refused with a hint to use `--`.",
    "`--out` that is a folder is refused before any file is decoded.",
    "`idsd --debug ...` shows the traceback; without it, one line `idsd <command>: <message>`.",
    "Kill and resume: `idsd manifest` SIGKILLed mid-way leaves no `m.csv`; the re-run decodes only the files "
    "not in its checkpoint and writes byte-identical `m.csv` / `rejected.csv` to an uninterrupted run.",
    "Kill and resume: feature extraction SIGKILLed mid-way; the re-run extracts only the rows not saved and "
    "the features equal an uninterrupted run's.",
    "A truncated feature-cache index is rebuilt with a logged warning; duplicate manifest rows are refused.",
    "Folders walked by `idsd detect` list every entry not scored (hidden, not an audio name, FIFO, broken "
    "symlink, symlink to a folder) under `skipped` in the report (table, JSON, CSV on stderr); file names "
    "with newlines or non-UTF-8 bytes print escaped, on one line.",
    "Entries beside `real/` and `fake/` (folder layout) or beside the FoR split and label folders are "
    "listed in `rejected.csv` (`outside real/ and fake/ (not used)`), not silently ignored.",
    "`idsd detect --help` says \"real if score > threshold\", as the code decides.",
]


def reliability_doc() -> str:
    n = sum(len(rows) for _, _, rows in GROUPS)
    lines = [
        "# Reliability: hostile input and faults at every entry point",
        "",
        "<!-- generated by `python tests/test_hostile.py --write-doc` from the case lists of "
        "tests/test_hostile.py; do not edit by hand -->",
        "",
        "Outcomes: **kept** (used, converted where needed), **listed** (skipped and listed with the reason "
        "in `rejected.csv` or the detect report), **refused** (an `IDSDError` naming the file and the problem; "
        "the command line prints it as one line `idsd <command>: <file>: <problem>` and exits 2, never a "
        "traceback; `idsd --debug` shows it). Every row is asserted by `tests/test_hostile.py`.",
        "",
        f"{n} table cases plus {len(EXTRA)} scenario tests.",
        "",
        "Tests run as root in CI, and root reads files and folders of mode 000: the two permission rows "
        "say what happens as root; as another user they are listed as `unreadable (permission denied)` / "
        "`unreadable folder (Permission denied)` (the test asserts whichever applies).",
        "",
    ]
    for title, entry, rows in GROUPS:
        lines += [f"## {title}", "", f"Entry point: {entry}.", ""]
        has_what = any(w for _, w, _ in rows)
        lines.append("| case | input | outcome |" if has_what else "| case | outcome |")
        lines.append("|---|---|---|" if has_what else "|---|---|")
        for c, w, o in rows:
            c = c.replace("|", "\\|").replace("\n", "\\n")
            o = o.replace("|", "\\|")
            lines.append(f"| `{c}` | {w} | {o} |" if has_what else f"| {c} | {o} |")
        lines.append("")
    lines += ["## Scenarios", ""] + [f"- {e}" for e in EXTRA] + [""]
    return "\n".join(lines)


def test_reliability_doc_is_current():
    doc = ROOT / "docs" / "reliability.md"
    assert doc.read_text(encoding="utf-8") == reliability_doc(), "run: python tests/test_hostile.py --write-doc"
    assert sum(len(r) for _, _, r in GROUPS) >= 60


if __name__ == "__main__" and "--write-doc" in sys.argv:
    (ROOT / "docs" / "reliability.md").write_text(reliability_doc(), encoding="utf-8")
    print(ROOT / "docs" / "reliability.md")
