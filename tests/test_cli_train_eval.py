"""``idsd train`` -> ``idsd eval`` round trip on a tiny generated corpus, and the CLI's bad-input paths."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from idsd.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train an mfcc model through the CLI once (quick profile, 3 epochs) on a toy manifest."""
    import soundfile as sf
    from conftest import synthetic_clip as clip  # the toy classes of the manifest_factory fixture

    tmp = tmp_path_factory.mktemp("cli")
    rows, k = [], 0

    for split, n in {"train": 24, "dev": 6, "eval": 10}.items():
        for label in ("real", "fake"):
            for i in range(n):
                path = tmp / "toy" / split / label / f"{label}_{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, clip(label, k), 16000, subtype="PCM_16")
                k += 1
                rows.append(dict(path=str(path), dataset="toy", split=split, label=label,
                                 target=int(label == "real"), source="bonafide" if label == "real" else "toy-tts",
                                 speaker=f"spk{i % 3}", fragment=0, duration=2.0, condition="clean"))
    manifest = tmp / "toy.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    out = tmp / "outputs"
    rc = main(["train", "-i", str(manifest), "-n", "mfcc_avg_10", "--feature", "mfcc", "--profile", "quick",
               "--epochs", "3", "--outputs", str(out)])
    assert rc == 0
    return {"tmp": tmp, "manifest": manifest, "out": out,
            "model": out / "models" / "toy" / "array" / "mfcc_avg_10.keras"}


def test_train_writes_model_history_record(trained):
    model = trained["model"]
    assert model.is_file()
    rec = json.loads(model.with_name("mfcc_avg_10.record.json").read_text())
    assert rec["format"] == "idsd-model/1" and not model.with_name("mfcc_avg_10.run.json").exists()
    assert rec["feature"] == "mfcc" and rec["mode"] == "array" and rec["train_corpus"] == "toy"
    assert 0 <= rec["threshold"] <= 1 and rec["threshold_source"] == "dev EER" and 0 <= rec["dev_eer"] <= 1
    assert rec["n_train"] == 48 and rec["n_dev"] == 12 and rec["epochs"] == 3
    assert (trained["out"] / "cache" / "features").is_dir()
    assert len(pd.read_csv(model.with_name("mfcc_avg_10.history.csv"))) == 3


def test_eval_writes_score_files_and_summary(trained, capsys):
    rc = main(["eval", "-i", str(trained["manifest"]), "-m", "_avg_10", "--outputs", str(trained["out"])])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "mfcc_avg_10" in out and "EER" in out
    from idsd.paths import Outputs
    from idsd.scores import collect_scores

    # the study's score-file schema and place: the reports read it like the notebooks' files
    frame = collect_scores(Outputs(trained["out"]))
    assert set(frame["run"]) == {"mfcc_avg_10"} and set(frame["eval_corpus"]) == {"toy"} and len(frame) == 20
    gen = frame.loc[frame["target"] == 1, "score"].to_numpy()
    spf = frame.loc[frame["target"] == 0, "score"].to_numpy()
    assert not list((trained["out"] / "scores").rglob("*.txt"))
    summary = pd.read_csv(trained["out"] / "metrics" / "eval_result_toy_avg_10.csv")
    assert list(summary["model"]) == ["mfcc_avg_10"]
    row = summary.iloc[0]
    assert row.genuine_accept + row.genuine_reject == 10 and row.deepfake_accept + row.deepfake_reject == 10
    g, f = gen, spf
    assert row.genuine_accept == int((g > 0.5).sum()) and row.deepfake_accept == int((f > 0.5).sum())
    assert row.eer < 0.3, f"EER {row.eer:.2f} on the toy corpus"  # the toy classes are easy


def test_eval_flat_scores_folder_and_missing_suffix(trained, tmp_path, capsys):
    rc = main(["eval", "-i", str(trained["manifest"]), "-m", "_avg_10", "--outputs", str(trained["out"]),
               "--features", "mfcc", "--scores", str(tmp_path / "s")])
    assert rc == 0
    gen = (tmp_path / "s" / "mfcc_avg_10-genuine.txt").read_text().splitlines()
    spf = (tmp_path / "s" / "mfcc_avg_10-spoof.txt").read_text().splitlines()
    assert len(gen) == len(spf) == 10
    assert all(len(s) == 6 and s.startswith(("0.", "1.")) for s in gen + spf)  # upstream %1.4f
    assert (tmp_path / "s" / "mfcc_avg_10.csv").is_file()
    assert (tmp_path / "s" / "eval_result_avg_10.txt").is_file()
    rc = main(["eval", "-i", str(trained["manifest"]), "-m", "_max_2", "--outputs", str(trained["out"])])
    assert rc == 1
    assert "no model" in capsys.readouterr().err


def test_eval_feature_mismatch_is_an_error(trained, tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    # a mfcc model renamed as chroma, with its run record: the record says mfcc
    shutil.copy(trained["model"], models / "chroma_avg_10.keras")
    shutil.copy(trained["model"].with_name("mfcc_avg_10.record.json"), models / "chroma_avg_10.record.json")
    rc = main(["eval", "-i", str(trained["manifest"]), "-m", "_avg_10", "--outputs", str(trained["out"]),
               "--models", str(models)])
    assert rc == 2
    assert "trained on feature 'mfcc'" in capsys.readouterr().err
    # without the record, the input shape (40, 63) vs chroma (12, 126) gives the error
    (models / "chroma_avg_10.record.json").unlink()
    rc = main(["eval", "-i", str(trained["manifest"]), "-m", "_avg_10", "--outputs", str(trained["out"]),
               "--models", str(models), "--features", "chroma"])
    assert rc == 2
    assert "expects input" in capsys.readouterr().err


def test_train_bad_inputs(trained, tmp_path, capsys):
    rc = main(["train", "-i", str(tmp_path / "nowhere"), "--outputs", str(trained["out"])])
    assert rc == 2 and "no such corpus" in capsys.readouterr().err
    one_class = pd.read_csv(trained["manifest"])
    one_class = one_class[(one_class.split != "train") | (one_class.label == "real")]
    path = tmp_path / "one_class.csv"
    one_class.to_csv(path, index=False)
    rc = main(["train", "-i", str(path), "--feature", "mfcc", "--profile", "quick", "--outputs", str(trained["out"]),
               "--models", str(tmp_path / "m")])
    assert rc == 2 and "only one class" in capsys.readouterr().err
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").glob("*.keras"))
    no_train = pd.read_csv(trained["manifest"])
    no_train = no_train[no_train.split != "train"]
    no_train.to_csv(path, index=False)
    rc = main(["train", "-i", str(path), "--feature", "mfcc", "--outputs", str(trained["out"])])
    assert rc == 2 and "training set is empty" in capsys.readouterr().err
