"""Training protocol: a tiny run under TF and JAX beats chance; run files; cross-backend loading; bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import keras  # noqa: E402
import numpy as np
import pandas as pd
import pytest

from idsd.artifact import ModelRecordError, load_model, read_record
from idsd.metrics import compute_eer
from idsd.scoring import predict_scores
from idsd.train import (  # noqa: E402
    BATCH_SIZES,
    CPU_BATCH_SIZE,
    CPU_DEV_PATIENCE,
    CPU_EPOCHS,
    CPU_MIN_EPOCHS,
    ArrayBatches,
    TrainConfig,
    TrainingError,
    balanced_class_weights,
    grid_train_corpora,
    learning_curve_grid,
    train_model,
)

SHAPE = (24, 16)


def toy(n: int, seed: int, shape=SHAPE, real_fraction: float = 0.5):
    """Two classes with different spectro-temporal patterns plus noise: X (n, T, F) float16, y (n,) int8."""
    r = np.random.default_rng(seed)
    T, F = shape
    y = (r.random(n) < real_fraction).astype(np.int8)
    t, f = np.arange(T)[:, None], np.arange(F)[None, :]
    real = np.sin(2 * np.pi * t / 8) * (f < F // 2)
    fake = np.sin(2 * np.pi * t / 5 + 1) * (f >= F // 2)
    X = 0.6 * r.normal(size=(n, T, F)) + np.where(y[:, None, None] == 1, real, fake)
    return X.astype(np.float16), y


def to_memmap(X, path):
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=X.shape)
    mm[:] = X
    mm.flush()
    return np.load(path, mmap_mode="r")


@pytest.fixture(scope="module")
def tf_run(tmp_path_factory):
    """One tiny TF training run on memory-mapped float16 data (shared by several tests)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the reference run is the TensorFlow one")
    tmp = tmp_path_factory.mktemp("train")
    Xtr, ytr = toy(320, 0, real_fraction=0.35)  # imbalanced on purpose: class weights matter
    Xdv, ydv = toy(64, 1)
    Xev, yev = toy(128, 2)
    train = SimpleNamespace(X=to_memmap(Xtr, tmp / "tr.npy"), y=ytr,
                            config=SimpleNamespace(feature="toy", mode="array", shape=SHAPE))
    dev = SimpleNamespace(X=to_memmap(Xdv, tmp / "dv.npy"), y=ydv,
                          config=SimpleNamespace(feature="toy", mode="array", shape=SHAPE))
    config = TrainConfig.from_profile("quick", epochs=3, seed=0)
    record = train_model(train, dev, config, tmp / "models")
    np.save(tmp / "ev_x.npy", Xev)
    np.save(tmp / "ev_y.npy", yev)
    return SimpleNamespace(record=record, tmp=tmp, Xev=Xev, yev=yev, ytr=ytr, Xdv=Xdv, ydv=ydv)


def test_tf_training_beats_chance_and_writes_run_files(tf_run):
    rec = tf_run.record
    paths = rec["paths"]
    assert paths["model"].endswith("toy_avg_10.keras")
    for key in ("model", "history", "record"):
        assert os.path.isfile(paths[key]), key
    scores = predict_scores(rec["model"], tf_run.Xev, batch_size=50)
    assert scores.shape == (len(tf_run.yev),) and scores.dtype == np.float64
    acc = float(((scores > 0.5) == (tf_run.yev == 1)).mean())
    assert acc > 0.8, f"held-out accuracy {acc:.2f}"

    hist = pd.read_csv(paths["history"])
    assert list(hist["epoch"]) == list(range(1, rec["epochs"] + 1))
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr_end"} <= set(hist.columns)
    saved = json.loads(open(paths["record"]).read())
    for key in ("config", "seed", "versions", "backend", "device", "wall_s", "epochs", "peak_rss_mb",
                "samples_per_s", "class_weight", "n_train", "params"):
        assert key in saved, key
    assert saved["backend"] == "tensorflow" and saved["seed"] == 0
    assert saved["feature"] == "toy" and saved["mode"] == "array" and saved["input_shape"] == list(SHAPE)
    assert saved["config"]["profile"] == "quick" and saved["max_epochs"] == 3
    assert saved["versions"]["keras"] == keras.__version__
    assert saved["peak_rss_mb"] > 50 and saved["samples_per_s"] > 0
    # balanced weights: n / (2 * count) per class
    n, n_real = len(tf_run.ytr), int(tf_run.ytr.sum())
    assert saved["class_weight"]["1"] == pytest.approx(n / (2 * n_real))
    assert saved["class_weight"]["0"] == pytest.approx(n / (2 * (n - n_real)))
    # the dev decision threshold is stored with the model: the EER threshold of the dev scores
    dev_scores = predict_scores(tf_run.record["model"], tf_run.Xdv)
    bona, spoof = dev_scores[tf_run.ydv == 1], dev_scores[tf_run.ydv == 0]
    eer, thr = compute_eer(bona, spoof)
    assert saved["threshold"] == pytest.approx(thr) and saved["dev_eer"] == pytest.approx(eer)
    assert saved["threshold_source"] == "dev EER" and saved["format"] == "idsd-model/1"
    # detect and eval read records through the validating reader, which knows the seven features only
    with pytest.raises(ModelRecordError, match="unknown feature 'toy'"):
        read_record(paths["model"])


def test_saved_model_reloads_identically(tf_run):
    model = load_model(tf_run.record["paths"]["model"])
    a = predict_scores(model, tf_run.Xev)
    b = predict_scores(tf_run.record["model"], tf_run.Xev)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


JAX_SCRIPT = textwrap.dedent(r"""
    import json, sys, numpy as np, keras
    sys.path.insert(0, sys.argv[2])
    from test_train import toy
    from idsd.artifact import load_model
    from idsd.scoring import predict_scores
    from idsd.train import TrainConfig, train_model
    tmp = sys.argv[1]
    Xev, yev = np.load(tmp + "/ev_x.npy"), np.load(tmp + "/ev_y.npy")
    tf_model = load_model(tmp + "/models/toy_avg_10.keras")
    tf_scores = predict_scores(tf_model, Xev)
    rec = train_model(toy(256, 3), toy(64, 4), TrainConfig.from_profile("quick", epochs=3, feature="toy"),
                      tmp + "/jax/toy_avg_10.keras")
    s = predict_scores(rec["model"], Xev)
    print(json.dumps({"backend": keras.backend.backend(), "tf_scores": tf_scores.tolist(),
                      "acc": float(((s > 0.5) == (yev == 1)).mean()), "record_backend": rec["backend"]}))
""")


def test_jax_training_and_tf_model_under_jax(tf_run):
    tf_scores = predict_scores(tf_run.record["model"], tf_run.Xev)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tf_run.tmp), os.path.dirname(__file__)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["backend"] == res["record_backend"] == "jax"
    assert res["acc"] > 0.8, f"JAX held-out accuracy {res['acc']:.2f}"
    np.testing.assert_allclose(res["tf_scores"], tf_scores, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------- pieces
def test_profiles():
    paper = TrainConfig.from_profile("paper")
    assert paper.max_epochs == 500 and paper.learning_rate == 1e-3
    assert (paper.early_stopping_patience, paper.reduce_lr_factor, paper.reduce_lr_patience) == (5, 0.8, 5)
    assert paper.resolved_batch_size("array") == 128 and paper.resolved_batch_size("image") == 32
    assert BATCH_SIZES == {"array": 128, "db": 128, "image": 32}
    assert TrainConfig.from_profile("cpu").max_epochs == CPU_EPOCHS < 500
    cpu = TrainConfig.from_profile("cpu")
    assert cpu.resolved_batch_size("array") == CPU_BATCH_SIZE == 32 and cpu.resolved_batch_size("image") == 32
    assert TrainConfig.from_profile("cpu", batch_size=128).resolved_batch_size("array") == 128
    assert TrainConfig.from_profile("quick").resolved_batch_size("db") == 128
    assert TrainConfig.from_profile("quick").max_epochs <= 2
    assert TrainConfig.from_profile("cpu", epochs=3).max_epochs == 3
    assert TrainConfig.from_profile("paper", epochs=None).max_epochs == 500
    assert TrainConfig(feature="mel", pooling="max").name() == "mel_max_2"
    with pytest.raises(ValueError, match="profile"):
        TrainConfig(profile="fast")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    # the paper profile is exactly the paper's: no dev plateau rule; cpu adds it
    assert paper.resolved_dev_patience is None and TrainConfig.from_profile("quick").resolved_dev_patience is None
    assert cpu.resolved_dev_patience == CPU_DEV_PATIENCE and TrainConfig(dev_patience=None, profile="cpu"
                                                                         ).resolved_dev_patience is None
    assert TrainConfig(feature="mel", seed=2).name(seed_suffix=True) == "mel_avg_10-seed2"
    from idsd.repro import native_bf16

    # precision per profile: cpu uses bf16 only where it is native (else it is ~9x slower than fp32)
    assert cpu.bf16 is native_bf16() and not paper.bf16 and not TrainConfig.from_profile("quick").bf16
    assert TrainConfig.from_profile("cpu", bf16=True).bf16 is True
    assert not TrainConfig.from_profile("cpu", bf16=False).bf16
    assert TrainConfig(feature="mel", seed=0).name(seed_suffix=True) == "mel_avg_10"
    assert cpu.resolved_min_epochs == CPU_MIN_EPOCHS > 1 and paper.resolved_min_epochs == 1
    assert TrainConfig.from_profile("cpu", min_epochs=3).resolved_min_epochs == 3


def test_native_bf16_follows_the_cpu_flags(tmp_path):
    from idsd.repro import cpu_flags, device_info, native_bf16

    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx fma avx2\n\n"
                    "processor\t: 1\nflags\t\t: fpu sse2 avx fma avx2\n")
    spr = tmp_path / "spr"
    spr.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
    assert cpu_flags(avx2) == {"fpu", "sse2", "avx", "fma", "avx2"}
    assert "avx512_bf16" in cpu_flags(spr) and cpu_flags(tmp_path / "absent") == set()
    assert device_info()["device"] == "cpu"  # the test machine computes on its CPU
    assert native_bf16(spr) and not native_bf16(avx2) and not native_bf16(tmp_path / "absent")


def _stopping_data(seed):
    Xtr, ytr = toy(192, seed, real_fraction=0.5)
    Xdv, ydv = toy(64, seed + 1)
    cfg = SimpleNamespace(feature="toy", mode="array", shape=SHAPE)
    return SimpleNamespace(X=Xtr, y=ytr, config=cfg), SimpleNamespace(X=Xdv, y=ydv, config=cfg)


def _dev_auc(model, dev) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(dev.y, predict_scores(model, dev.X)))


def test_dev_plateau_rule_stops_and_restores_the_best_epoch():
    """A dev set whose labels contradict training makes the dev AUC fall as training improves: the
    plateau rule must stop the run long before the cap and keep the best dev-AUC epoch's weights."""
    train, dev = _stopping_data(3)
    dev.y = (1 - dev.y).astype(np.int8)  # dev labels flipped: dev AUC gets worse as training improves
    cfg = TrainConfig.from_profile("cpu", epochs=40, dev_patience=2, min_epochs=1, seed=0, verbose=0)
    rec = train_model(train, dev, cfg)
    h = rec["history"]
    assert rec["stop_reason"] == "dev_auc" and rec["epochs"] < 40 and rec["min_epochs"] == 1
    assert rec["best_epoch"] == int(h["val_auc"].to_numpy().argmax()) + 1 and rec["best_epoch"] <= rec["epochs"] - 2
    # the saved weights are the best epoch's: their dev AUC is that epoch's (Keras' AUC uses 200 thresholds)
    assert _dev_auc(rec["model"], dev) == pytest.approx(float(h["val_auc"].max()), abs=0.03)
    # the kept weights are exactly those of a run stopped at the best epoch (training is deterministic)
    short = train_model(train, dev, TrainConfig.from_profile("cpu", epochs=rec["best_epoch"], dev_patience=None,
                                                             seed=0, verbose=0))
    np.testing.assert_array_equal(predict_scores(rec["model"], dev.X), predict_scores(short["model"], dev.X))


def test_dev_rule_waits_for_min_epochs_and_keeps_the_best_weights_at_the_cap():
    train, dev = _stopping_data(3)
    dev.y = (1 - dev.y).astype(np.int8)
    late = train_model(train, dev, TrainConfig.from_profile("cpu", epochs=40, dev_patience=2, min_epochs=6, seed=0,
                                                            verbose=0))
    h = late["history"]
    # the first 5 epochs are not watched: the best epoch is the best from epoch 6 on, not the overall best
    assert late["stop_reason"] == "dev_auc" and late["epochs"] >= 8 and late["best_epoch"] >= 6
    assert late["best_epoch"] == 6 + int(h["val_auc"].to_numpy()[5:].argmax())
    # the run reaches the cap before the rule fires: the best dev-AUC weights are still the ones kept
    train, dev = _stopping_data(4)
    capped = train_model(train, dev, TrainConfig.from_profile("cpu", epochs=5, dev_patience=50, min_epochs=1, seed=0,
                                                              verbose=0))
    hc = capped["history"]
    assert capped["stop_reason"] == "cap" and capped["best_epoch"] == int(hc["val_auc"].to_numpy().argmax()) + 1
    assert _dev_auc(capped["model"], dev) == pytest.approx(float(hc["val_auc"].max()), abs=0.03)


def test_paper_rule_and_cap_are_recorded():
    train, dev = _stopping_data(5)
    capped = train_model(train, dev, TrainConfig.from_profile("paper", epochs=2, seed=0, verbose=0))
    assert capped["stop_reason"] == "cap" and capped["epochs"] == 2 and capped["dev_patience"] is None
    # training loss that cannot improve (learning rate 0): EarlyStopping(loss, patience 1) fires after 2 epochs
    flat = train_model(train, dev, TrainConfig.from_profile("paper", epochs=30, seed=0, verbose=0, learning_rate=0.0,
                                                            early_stopping_patience=1))
    assert flat["stop_reason"] == "train_loss" and flat["epochs"] < 30


def test_balanced_class_weights_match_sklearn_formula():
    y = np.array([1] * 10 + [0] * 30, dtype=np.int8)
    assert balanced_class_weights(y) == pytest.approx({0: 40 / 60, 1: 40 / 20})


def test_array_batches_cover_every_row_once_as_float32(tmp_path):
    X, y = toy(70, 5)
    mm = to_memmap(X, tmp_path / "x.npy")
    ds = ArrayBatches(mm, y, batch_size=32, shuffle=True, seed=1, class_weight={0: 0.5, 1: 2.0})
    assert len(ds) == 3
    for _epoch in range(2):
        seen = []
        for i in range(len(ds)):
            xb, yb, wb = ds[i]
            assert xb.dtype == np.float32 and xb.shape[1:] == SHAPE
            assert yb.shape == (len(xb), 1)
            np.testing.assert_array_equal(wb, np.where(yb[:, 0] == 1, 2.0, 0.5))
            rows = [int(np.flatnonzero((X.astype(np.float32) == xr).all(axis=(1, 2)))[0]) for xr in xb]
            np.testing.assert_array_equal(y[rows], yb[:, 0])
            seen += rows
        assert sorted(seen) == list(range(70))
        ds.on_epoch_end()
    plain = ArrayBatches(mm, None, batch_size=32)
    np.testing.assert_array_equal(plain[2][0], X[64:].astype(np.float32))


# ------------------------------------------------------------------------------------ bad input
def test_empty_training_set():
    with pytest.raises(TrainingError, match="empty"):
        train_model((np.zeros((0, *SHAPE), np.float16), np.zeros(0, np.int8)), None, TrainConfig("quick"))


def test_one_class_training_set():
    X, _ = toy(16, 0)
    with pytest.raises(TrainingError, match="only one class"):
        train_model((X, np.ones(16, np.int8)), None, TrainConfig("quick"))


def test_bad_labels_and_lengths():
    X, y = toy(16, 0)
    with pytest.raises(TrainingError, match="0 \\(fake\\) or 1 \\(real\\)"):
        train_model((X, y + 1), None, TrainConfig("quick"))
    with pytest.raises(TrainingError, match="labels"):
        train_model((X, y[:-1]), None, TrainConfig("quick"))
    with pytest.raises(TrainingError, match="\\(n, n_bins, n_frames\\)"):
        train_model((X[:, :, 0], y), None, TrainConfig("quick"))
    with pytest.raises(TrainingError, match="path"):
        train_model("outputs/cache/features/missing", None, TrainConfig("quick"))


def test_shape_and_feature_mismatches():
    X, y = toy(16, 0)
    Xd, yd = toy(8, 1, shape=(20, 16))
    with pytest.raises(TrainingError, match="differ in shape"):
        train_model((X, y), (Xd, yd), TrainConfig("quick"))
    mel = SimpleNamespace(X=X, y=y, config=SimpleNamespace(feature="mel", mode="array"))
    with pytest.raises(TrainingError, match="feature 'cqt'"):
        train_model(mel, None, TrainConfig("quick", feature="cqt"))
    with pytest.raises(TrainingError, match="mode 'image'"):
        train_model(mel, None, TrainConfig("quick", mode="image"))
    wrong = SimpleNamespace(X=X, y=y, config=SimpleNamespace(feature="mel", mode="array", shape=(256, 126)))
    with pytest.raises(TrainingError, match="config"):
        train_model(wrong, None, TrainConfig("quick"))
    dev_other = SimpleNamespace(X=X, y=y, config=SimpleNamespace(feature="stft", mode="array"))
    with pytest.raises(TrainingError, match="dev is feature 'stft'"):
        train_model(mel, dev_other, TrainConfig("quick"))


def test_nonfinite_features_rejected():
    X, y = toy(16, 0)
    X[3, 2, 1] = np.inf
    with pytest.raises(TrainingError, match="NaN/inf"):
        train_model((X, y), None, TrainConfig("quick"))


def test_nan_loss_is_an_error_and_saves_no_model(tmp_path):
    X, y = toy(64, 0)
    X = X.astype(np.float32) * 1e4  # float32: finite input, but lr 1e30 makes the weights explode
    cfg = TrainConfig("quick", epochs=1, batch_size=16, learning_rate=1e30)
    with pytest.raises(TrainingError, match="NaN"):
        train_model((X, y), None, cfg, tmp_path / "nan_model.keras")
    assert not (tmp_path / "nan_model.keras").exists()
    assert (tmp_path / "nan_model.history.csv").exists()  # kept for diagnosis


def test_predict_rejects_wrong_input_shape(tf_run):
    X, _ = toy(4, 0, shape=(30, 16))
    with pytest.raises(TrainingError, match="expects input"):
        predict_scores(tf_run.record["model"], X)


def test_load_model_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model"):
        load_model(tmp_path / "nope.keras")


def test_bench_train_cli_prints_samples_per_s(tmp_path, capsys):
    from idsd.cli import main

    rc = main(["bench", "train", "--feature", "chroma", "--steps", "2", "--warmup", "1", "--batch", "16",
               "--json", str(tmp_path / "b.json")])
    assert rc == 0
    assert "samples/s" in capsys.readouterr().out
    res = json.loads((tmp_path / "b.json").read_text())
    assert res["shape"] == [12, 126] and res["batch"] == 16 and res["steps"] == 2
    assert res["samples_per_s"] > 0 and res["backend"] == keras.backend.backend()


def test_train_grid_resumes_and_retrains_when_inputs_change(outputs, manifest_factory):
    """An interrupted grid resumes: a saved run with the same fingerprint is reused, not retrained."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow run")
    from idsd.study import CorpusEntry, Study
    from idsd.train import train_grid

    manifest = manifest_factory({"train": 6, "dev": 2, "eval": 2}, dataset="toy")
    (outputs.manifests / "toy.csv").parent.mkdir(parents=True, exist_ok=True)
    manifest.to_csv(outputs.manifests / "toy.csv", index=False)
    study = Study(source="embedded", corpora=[CorpusEntry("toy", "manifests/toy.csv")])
    config = TrainConfig.from_profile("quick", epochs=1, seed=0, verbose=0)
    first = train_grid(outputs, study, features=["mfcc"], config=config, progress=False)
    model = Path(first.loc[0, "model_path"])
    stamp = model.stat().st_mtime_ns
    again = train_grid(outputs, study, features=["mfcc"], config=config, progress=False)
    assert model.stat().st_mtime_ns == stamp  # reused, not retrained
    assert again.loc[0, "name"] == first.loc[0, "name"] and again.loc[0, "n_train"] == 12
    changed = TrainConfig.from_profile("quick", epochs=2, seed=0, verbose=0)  # another protocol: trained again
    train_grid(outputs, study, features=["mfcc"], config=changed, progress=False)
    assert model.stat().st_mtime_ns != stamp
    seeded = train_grid(outputs, study, features=["mfcc"], config=changed, progress=False, seeds=[1])
    assert seeded.loc[0, "name"] == "mfcc_avg_10-seed1" and seeded.loc[0, "seed"] == 1  # extra seeds: own files
    assert model.with_name("mfcc_avg_10-seed1.keras").is_file()
    stamp = model.stat().st_mtime_ns
    train_grid(outputs, study, features=["mfcc"], config=changed, progress=False, retrain=True)
    assert model.stat().st_mtime_ns != stamp


def test_pooled_model_trains_like_a_fresh_one(tmp_path):
    """A ModelPool reuse starts from the fresh-build state: same history and weights as a new model,
    with several batches per epoch (whose order must not depend on the process's global RNG)."""
    from idsd.train import ModelPool

    config = TrainConfig.from_profile("quick", epochs=2, seed=3, feature="toy", verbose=0, batch_size=16)
    data, dev = toy(96, 5), toy(32, 6)
    fresh = train_model(data, dev, config)
    pool = ModelPool()
    dirty = train_model(toy(160, 7), dev, config, pool=pool)  # first use: builds, then trains on other data
    reused = train_model(data, dev, config, pool=pool)
    assert len(pool) == 1 and reused["model"] is dirty["model"]
    for col in ("loss", "val_loss", "accuracy"):
        np.testing.assert_allclose(reused["history"][col], fresh["history"][col], rtol=1e-4, atol=1e-6)
    for a, b in zip(reused["model"].weights, fresh["model"].weights, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-4, atol=1e-5)
    other = TrainConfig.from_profile("quick", epochs=1, seed=4, feature="toy", verbose=0)
    train_model(data, None, other, pool=pool)  # another seed: another model
    assert len(pool) == 2


def _study(source):
    from idsd.study import CorpusEntry, Study

    names = ["mini-asvspoof", "mini-for", "mini-rerec", "mini-wavefake"]
    return Study(source, [CorpusEntry(n, f"manifests/{n}.csv") for n in names]
                 + [CorpusEntry("extra-eval", "manifests/extra-eval.csv", train=False)])


def test_budget_grid_only_for_the_embedded_study_on_the_cpu_profile():
    from idsd import reports
    from idsd.scores import trained_corpora

    embedded, real = _study("embedded"), _study("real")
    every = ["mini-asvspoof", "mini-for", "mini-rerec", "mini-wavefake"]
    assert grid_train_corpora(embedded, "cpu") == ["mini-asvspoof", "mini-for"]
    assert grid_train_corpora(embedded, "cpu", "full") == every
    assert grid_train_corpora(embedded, "paper") == every
    assert grid_train_corpora(real, "cpu") == every
    assert learning_curve_grid(embedded, "cpu") == (["mfcc"], 5)
    feats, n = learning_curve_grid(embedded, "cpu", "full")
    assert len(feats) == 7 and n == 10 and learning_curve_grid(real, "cpu") == (feats, n)
    with pytest.raises(TrainingError, match="unknown grid"):
        grid_train_corpora(embedded, "cpu", "huge")
    # the tables compare the baselines on the detector's training corpora, and say which were left out
    scores = pd.DataFrame({"train_corpus": ["mini-for", "mini-rerec", "mini-asvspoof"],
                           "mode": ["array", "baseline", "array"]})
    trained = trained_corpora(embedded, scores)
    assert trained == ["mini-asvspoof", "mini-for"] and trained_corpora(embedded, scores.iloc[:0]) == []
    note = reports.grid_note(embedded, trained)
    assert "mini-rerec, mini-wavefake serve as evaluation corpora" in note and "--full-grid" in note
    assert reports.grid_note(embedded, every) == ""
