"""idsd.detect and ``idsd detect``: any audio file in, P(real) per window and per file out."""

from __future__ import annotations

import argparse
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from idsd.artifact import ModelRecordError, read_record, record_path, write_record
from idsd.detect import (
    DEFAULT_THRESHOLD,
    DetectionResult,
    DetectorConfigError,
    ModelNotFoundError,
    _windows,
    collect_audio_files,
    decide,
    default_model_dir,
    find_model,
    windows_frame,
)
from idsd.errors import AudioError
from idsd.paths import Outputs

SR = 16000


def _signal(seconds: float, sr: int = SR, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Harmonic voice-like tone plus noise, (n,) or (n, channels)."""
    r = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    f0 = 100 + 60 * r.random()
    y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6)) + 0.1 * r.normal(size=t.size)
    y = 0.3 * y / np.max(np.abs(y))
    return np.stack([y, 0.5 * y], axis=1) if channels == 2 else y


def _parser():
    from idsd.commands import detect as cmd

    parser = argparse.ArgumentParser(prog="idsd")
    cmd.register(parser.add_subparsers(dest="command"), {})
    return parser


def _run(argv):
    args = _parser().parse_args(["detect", *map(str, argv)])
    return args.func(args)


# --------------------------------------------------------------------------- no model needed


def test_model_record_round_trip(tmp_path):
    model = tmp_path / "mfcc_avg_10.keras"
    out = write_record(model, {"feature": "mfcc", "mode": "array", "pooling": "avg", "train_corpus": "mini-for",
                               "threshold": np.float64(0.42), "threshold_source": "dev EER", "dev_eer": 0.031,
                               "input_shape": (40, 63), "config": {"seed": 0}, "final": {"val_loss": float("nan")},
                               "model": object()})
    assert out == record_path(model) == tmp_path / "mfcc_avg_10.record.json"
    rec = read_record(model)
    assert rec["format"] == "idsd-model/1" and rec["feature"] == "mfcc" and rec["train_corpus"] == "mini-for"
    assert rec["threshold"] == pytest.approx(0.42) and rec["input_shape"] == [40, 63]
    assert rec["final"]["val_loss"] is None and "model" not in rec  # strict JSON, no in-memory objects
    assert "P(real)" in rec["score"]
    assert read_record(tmp_path / "other.keras") is None
    write_record(model, {"feature": "mfcc", "threshold": 1.5})
    with pytest.raises(ModelRecordError, match="threshold 1.5 outside"):
        read_record(model)
    record_path(model).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelRecordError, match="unreadable model record"):
        read_record(model)


def test_find_model_default_folder_and_hint(tmp_path):
    out = Outputs(tmp_path / "out")
    assert default_model_dir(out) == out.base / "models" / "detect"
    with pytest.raises(ModelNotFoundError) as err:
        find_model(None, out)
    assert "run_all.sh" in str(err.value) and str(default_model_dir(out)) in str(err.value)
    with pytest.raises(ModelNotFoundError):
        find_model(tmp_path / "missing.keras", out)
    d = default_model_dir(out)
    d.mkdir(parents=True)
    (d / "a.keras").write_bytes(b"x")
    newer = d / "b.keras"
    newer.write_bytes(b"x")
    import os

    os.utime(d / "a.keras", (1, 1))
    assert find_model(None, out) == newer
    assert find_model(d / "a.keras", out) == d / "a.keras"


def test_collect_walks_folders_by_extension(tmp_path, write_clip):
    a = write_clip(tmp_path / "in" / "b.wav", _signal(0.5))
    b = write_clip(tmp_path / "in" / "sub" / "a.FLAC", _signal(0.5))
    (tmp_path / "in" / "notes.txt").write_text("hello")
    (tmp_path / "in" / ".hidden.wav").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    explicit = tmp_path / "in" / "notes.txt"
    files, problems = collect_audio_files([tmp_path / "in", a, explicit, tmp_path / "empty",
                                           tmp_path / "nope.wav"])
    assert files == [a, b, explicit]  # sorted walk, duplicates dropped, explicit files kept
    reasons = dict(problems)
    assert reasons[str(tmp_path / "nope.wav")] == "file not found"
    assert "without audio" in reasons[str(tmp_path / "empty")]


def test_windows_and_weighted_aggregate():
    y = np.ones(7 * SR, dtype=np.float32)
    W, audio = _windows(y)
    assert W.shape == (4, 32000) and audio.tolist() == [2.0, 2.0, 2.0, 1.0]
    assert W[3, 16000 - 1] == 1 and not W[3, 16000:].any()
    W1, audio1 = _windows(np.ones(SR // 4, dtype=np.float32))
    assert W1.shape == (1, 32000) and audio1.tolist() == [0.25]
    r = DetectionResult("x.wav", 7.0, np.array([0.9, 0.8, 0.7, 0.0]), audio, threshold=0.6)
    assert r.score == pytest.approx((0.9 + 0.8 + 0.7) * 2 / 7)  # the padded tail weighs 1 s, not 2
    assert (r.score_min, r.score_max, r.n_windows, r.decision) == (0.0, 0.9, 4, "real")
    assert decide(0.61, 0.6) == "real" and decide(0.6, 0.6) == "fake"  # ASVspoof rule: accept when score > t
    frame = windows_frame(pd.DataFrame([r.as_row()]))
    assert frame["padded"].tolist() == [False, False, False, True]
    assert frame["start_s"].tolist() == [0.0, 2.0, 4.0, 6.0] and frame["audio_s"].tolist()[-1] == 1.0
    assert frame["decision"].tolist() == ["real", "real", "real", "fake"]


def test_cli_without_model_exits_2_with_hint(tmp_path, write_clip, capsys):
    from idsd.cli import main

    clip = write_clip(tmp_path / "a.wav", _signal(1.0))
    status = main(["detect", str(clip), "--outputs", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert "no detector model" in err and "./run_all.sh" in err and "--model" in err
    assert _run([clip, "--model", tmp_path / "nope.keras"]) == 2


# --------------------------------------------------------------------------- with a real model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """An untrained (seeded) mfcc detector, input (40, 63), saved as .keras with its record."""
    import keras

    from idsd.model import build_model

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("models") / "mfcc_avg_10.keras"
    build_model((40, 63), pooling="avg").save(path)
    write_record(path, {"feature": "mfcc", "mode": "array", "pooling": "avg", "train_corpus": "toy",
                        "threshold": 0.3, "threshold_source": "dev EER", "dev_eer": 0.1, "input_shape": [40, 63]})
    return path


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory):
    """Odd inputs in one folder: 44.1 kHz stereo 7 s, 1 s, 24-bit 48 kHz, corrupt, empty, non-audio."""
    import soundfile as sf

    d = tmp_path_factory.mktemp("audio")
    files = {
        "stereo": d / "stereo_44k_7s.wav",
        "short": d / "short_1s.wav",
        "hires": d / "deep" / "hires_48k_24bit.flac",
        "corrupt": d / "corrupt.wav",
        "empty": d / "empty.mp3",
    }
    sf.write(files["stereo"], _signal(7.0, 44100, channels=2, seed=1), 44100, subtype="PCM_16")
    sf.write(files["short"], _signal(1.0, seed=2), SR, subtype="PCM_16")
    files["hires"].parent.mkdir()
    sf.write(files["hires"], _signal(3.0, 48000, seed=3), 48000, subtype="PCM_24")
    files["corrupt"].write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    files["empty"].write_bytes(b"")
    (d / "readme.txt").write_text("not audio")
    return d, files


def test_detect_files_odd_inputs(model_path, odd_files):
    from idsd.audio import fragments, load_audio
    from idsd.detect import Detector
    from idsd.features import extract_batch
    from idsd.scoring import predict_scores

    folder, f = odd_files
    detector = Detector.load(model_path, batch_size=3)
    results, errors = detector.detect_files([folder])
    assert list(results.columns[:7]) == ["file", "duration_s", "windows", "score", "score_min",
                                         "score_max", "decision"]
    by_file = results.set_index("file")
    stereo, short, hires = by_file.loc[str(f["stereo"])], by_file.loc[str(f["short"])], by_file.loc[str(f["hires"])]
    assert (stereo.windows, short.windows, hires.windows) == (4, 1, 2)
    assert stereo.duration_s == pytest.approx(7.0, abs=1e-3) and short.duration_s == pytest.approx(1.0)
    assert len(results) == 3 and set(errors["file"]) == {str(f["corrupt"]), str(f["empty"])}
    reasons = errors.set_index("file")["reason"]
    assert reasons[str(f["empty"])] == "empty file" and reasons[str(f["corrupt"])]
    for row in results.itertuples():
        ws = np.asarray(row.window_scores)
        assert len(ws) == row.windows and np.all((ws >= 0) & (ws <= 1))
        assert row.score_min <= row.score <= row.score_max
        assert row.decision == ("real" if row.score > 0.3 else "fake") and row.threshold == 0.3
    # windows of several files share batches (batch_size=3): the scores must still be each file's own
    W = fragments(load_audio(f["stereo"]), pad=True)
    direct = np.asarray(predict_scores(detector.model, extract_batch(W, "mfcc", "array")), dtype=float).reshape(-1)
    np.testing.assert_allclose(stereo.window_scores, direct, atol=1e-5)
    np.testing.assert_allclose(detector.score_signal(load_audio(f["stereo"])).window_scores, direct, atol=1e-5)
    with pytest.raises(AudioError, match="no audio samples"):
        detector.score_signal(np.zeros(0))
    weights = [2, 2, 2, 1]
    assert stereo.score == pytest.approx(np.average(direct, weights=weights), abs=1e-5)
    assert results.attrs["feature"] == "mfcc" and "P(real)" in results.attrs["score"]
    assert "dev EER" in results.attrs["threshold_source"]
    per_window = windows_frame(results)
    assert len(per_window) == 7 and per_window["padded"].sum() == 3  # 7-s, 1-s and 3-s files
    np.testing.assert_allclose(per_window.loc[per_window["file"] == str(f["stereo"]), "score"], direct,
                               atol=1e-5)

    from idsd.commands.detect import render_csv, render_table

    back = pd.read_csv(io.StringIO(render_csv(results, per_window=True)))
    assert back.columns.tolist() == list(per_window.columns) and len(back) == 7
    text = render_table(results, errors, detector.describe(), per_window=True)
    assert text.count(str(f["stereo"])) == 4 and "Not scored:" in text and "empty file" in text


def test_threshold_and_record_resolution(model_path, tmp_path, write_clip):
    from idsd.detect import Detector, detect_files

    clip = write_clip(tmp_path / "a.wav", _signal(2.5))
    res, _ = detect_files([clip], model_path, threshold=0.99)
    assert res.loc[0, "threshold"] == 0.99 and res.loc[0, "decision"] == "fake"
    with pytest.raises(DetectorConfigError, match="trained on feature 'mfcc'"):
        Detector.load(model_path, feature="mel")

    bare = tmp_path / "m" / "mfcc_avg_10.keras"  # no record: feature from the name, threshold 0.5
    bare.parent.mkdir()
    shutil.copy(model_path, bare)
    det = Detector.load(bare)
    assert (det.feature, det.mode, det.threshold) == ("mfcc", "array", DEFAULT_THRESHOLD)
    assert "no threshold stored" in det.threshold_source
    anon = tmp_path / "m" / "model.keras"
    shutil.copy(model_path, anon)
    with pytest.raises(DetectorConfigError, match="--feature"):
        Detector.load(anon)
    assert Detector.load(anon, feature="mfcc").feature == "mfcc"
    with pytest.raises(DetectorConfigError, match=r"expects input \(40, 63\)"):
        Detector.load(anon, feature="chroma")
    broken = tmp_path / "m" / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DetectorConfigError, match="cannot load the model"):
        Detector.load(broken, feature="mfcc")


def test_cli_table_json_csv(model_path, odd_files, tmp_path, capsys):
    folder, f = odd_files
    good = [f["stereo"], f["short"]]

    assert _run([*good, "--model", model_path]) == 0
    out = capsys.readouterr().out
    assert "P(real)" in out and "bona fide" in out and "dev EER" in out
    assert str(f["stereo"]) in out and "2 file(s) scored" in out

    assert _run([folder, "--model", model_path, "--json"]) == 1  # corrupt + empty listed, others scored
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"] == {"scored": 3, "failed": 2, "real": doc["summary"]["real"],
                              "fake": doc["summary"]["fake"], "undetermined": 0}
    assert all(f["judged_windows"] == f["windows"] and f["flagged"] == "" for f in doc["files"])
    assert doc["detector"]["feature"] == "mfcc" and doc["detector"]["threshold"] == 0.3
    assert {e["file"] for e in doc["errors"]} == {str(f["corrupt"]), str(f["empty"])}
    windows = {d["file"]: len(d["window_scores"]) for d in doc["files"]}
    assert windows[str(f["stereo"])] == 4 and windows[str(f["short"])] == 1

    assert _run([folder, "--model", model_path, "--csv"]) == 1
    captured = capsys.readouterr()
    table = pd.read_csv(io.StringIO(captured.out))
    assert len(table) == 3 and set(table["decision"]) <= {"real", "fake"}
    row = table.set_index("file").loc[str(f["stereo"])]
    scores = [float(s) for s in row["window_scores"].split(";")]
    assert len(scores) == 4 and row["score_min"] == pytest.approx(min(scores), abs=1e-6)
    assert "corrupt.wav" in captured.err and "empty file" in captured.err



def test_cli_default_model_from_outputs(model_path, tmp_path, write_clip, capsys):
    out = Outputs(tmp_path / "out")
    d = default_model_dir(out)
    d.mkdir(parents=True)
    shutil.copy(model_path, d / model_path.name)
    shutil.copy(record_path(model_path), record_path(d / model_path.name))
    clip = write_clip(tmp_path / "x.wav", _signal(4.0))
    assert _run([clip, "--outputs", out.base, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["detector"]["model"] == str(d / model_path.name)
    assert doc["files"][0]["windows"] == 2


def test_install_detector_picks_best_generaliser(tmp_path):
    from idsd.study import install_detector

    out = Outputs(tmp_path / "out").make()
    models, rows = [], []
    for corpus in ("a", "b"):
        for feature in ("mel", "mfcc"):
            path = out.model_file(corpus, "array", f"{feature}_avg_10")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"{corpus}-{feature}".encode())
            write_record(path, {"feature": feature, "mode": "array", "train_corpus": corpus,
                                "threshold": 0.42 if (corpus, feature) == ("a", "mfcc") else 0.9})
            models.append(dict(train_corpus=corpus, mode="array", run=f"{feature}_avg_10", feature=feature,
                               pooling="avg", path=str(path)))
            for ev in ("a", "b"):
                # b/mel is best in-domain (0.0) but a/mfcc has the lowest mean over both corpora
                eer = {("a", "mfcc"): 0.1, ("b", "mel"): 0.0 if ev == "b" else 0.5}.get((corpus, feature), 0.3)
                rows.append(dict(train_corpus=corpus, eval_corpus=ev, run=f"{feature}_avg_10", feature=feature,
                                 eer=eer))
    old = default_model_dir(out) / "stale_avg_10.keras"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old")
    dest = install_detector(out, pd.DataFrame(rows), pd.DataFrame(models))
    assert dest.read_bytes() == b"a-mfcc" and not old.exists()
    rec = read_record(dest)
    assert rec["feature"] == "mfcc" and rec["train_corpus"] == "a" and rec["threshold"] == pytest.approx(0.42)
    assert rec["evaluation"]["mean_eer_all_corpora"] == pytest.approx(0.1)
    assert rec["evaluation"]["eer_per_corpus"] == {"a": 0.1, "b": 0.1}
    assert rec["source_model"].endswith("a/array/mfcc_avg_10.keras")
    assert find_model(None, out) == dest
