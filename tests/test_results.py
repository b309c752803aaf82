"""Score files (idsd.scores), the one scoring path (idsd.scoring), the results (idsd.results) and the
learning curve (idsd.learning_curve), with synthetic scores (no trained model, no features)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from idsd import artifact as A
from idsd import learning_curve as LC
from idsd import metrics as M
from idsd import model as MD
from idsd import results as R
from idsd import scores as S
from idsd import scoring as SC


def rows(n_real, n_fake, dataset="c1", split="eval", sources=("tts-a",), condition="clean"):
    recs = []
    for i in range(n_real):
        recs.append(dict(path=f"/d/{dataset}/{split}/real/{i}.wav", dataset=dataset, split=split, label="real",
                         target=1, source="bonafide", speaker=f"s{i % 2}", fragment=0, duration=2.0,
                         condition=condition))
    for i in range(n_fake):
        recs.append(dict(path=f"/d/{dataset}/{split}/fake/{i}.wav", dataset=dataset, split=split, label="fake",
                         target=0, source=sources[i % len(sources)], speaker=f"s{i % 2}", fragment=0,
                         duration=2.0, condition=condition))
    return pd.DataFrame(recs)


def scored(n_real, n_fake, shift, rng, **kw):
    r = rows(n_real, n_fake, **kw)
    s = np.r_[rng.normal(shift, 1, n_real), rng.normal(0, 1, n_fake)]
    return S.score_frame(r, 1 / (1 + np.exp(-s)))


def put(out, df, train, ev, run, mode="array"):
    return S.write_scores(df, S.score_path(out, train, ev, mode, run))


# --------------------------------------------------------------------------- score files


def test_score_frame_columns_and_defaults():
    r = rows(2, 3).drop(columns=["condition", "speaker", "target"])
    df = S.score_frame(r, [0.9, 0.8, 0.1, 0.2, 0.3])
    assert tuple(df.columns) == S.SCORE_COLUMNS
    assert list(df["target"]) == [1, 1, 0, 0, 0]
    assert set(df["condition"]) == {"clean"} and set(df["speaker"]) == {"unknown"}
    with pytest.raises(ValueError, match="aligned"):
        S.score_frame(r, [0.1])
    with pytest.raises(ValueError, match="label"):
        S.score_frame(r.drop(columns=["label"]), np.zeros(5))


def test_write_read_roundtrip_keeps_float32_scores(outputs):
    rng = np.random.default_rng(0)
    s = rng.random(50).astype(np.float32)
    df = S.score_frame(rows(25, 25), s)
    path = put(outputs, df, "c1", "c1", "mel_avg_10")
    assert path == outputs.scores / "c1" / "c1" / "array" / "mel_avg_10.csv"
    back = S.read_scores(path)
    assert np.array_equal(back["score"].to_numpy().astype(np.float32), s)
    pd.testing.assert_frame_equal(back.drop(columns="score"), df.drop(columns="score"))
    bad = df.copy()
    bad.loc[0, "score"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        S.write_scores(bad, outputs.scores / "x.csv")


def test_parse_run_name():
    assert MD.parse_run_name("mel_avg_10") == {"feature": "mel", "pooling": "avg", "setting": "10", "seed": 0}
    assert MD.parse_run_name("mel_avg_10-seed2") == {"feature": "mel", "pooling": "avg", "setting": "10", "seed": 2}
    assert MD.parse_run_name("chroma_max_2")["feature"] == "chroma"
    assert MD.parse_run_name("odd")["feature"] == "odd"


def test_collect_scores_parses_layout_and_skips_learning_curve(outputs):
    rng = np.random.default_rng(1)
    put(outputs, scored(5, 5, 2, rng), "c1", "c2", "mfcc_avg_10")
    lc = outputs.scores / A.LEARNING_CURVE / "c1" / "array" / "1of3"
    S.write_scores(scored(5, 5, 2, rng), lc / "mfcc_avg_10.csv")
    put(outputs, scored(5, 5, 2, rng), "c1", S.MODIFIED, "mfcc_avg_10")
    s = S.collect_scores(outputs)
    assert set(s["eval_corpus"]) == {"c2", S.MODIFIED}
    assert set(s["feature"]) == {"mfcc"} and set(s["pooling"]) == {"avg"} and set(s["mode"]) == {"array"}
    assert set(S.collect_scores(outputs, include_modified=False)["eval_corpus"]) == {"c2"}
    assert S.collect_scores(type(outputs)(outputs.base / "none")).empty


# --------------------------------------------------------------------------- results 1 and 2


@pytest.fixture
def grid(outputs):
    """Two training corpora (c1 small and easy, c2 large and hard), an eval-only corpus c3,
    two features; in-domain files hold dev + eval."""
    rng = np.random.default_rng(2)
    shifts = {"mel": 1.0, "mfcc": 3.0}
    for f, sh in shifts.items():
        run = f"{f}_avg_10"
        for tc, n, k in (("c1", 20, 2.0), ("c2", 400, 0.5)):
            ev = scored(n, n, sh * k, rng, dataset=tc)
            dv = scored(n // 2, n // 2, sh * k, rng, dataset=tc, split="dev")
            put(outputs, pd.concat([dv, ev], ignore_index=True), tc, tc, run)
            for other in ("c1", "c2", "c3"):
                if other != tc:
                    put(outputs, scored(30, 30, sh * 0.3, rng, dataset=other, sources=("a", "b")), tc, other, run)
    return S.collect_scores(outputs)


def test_in_domain_table_total_is_pooled_not_mean(grid):
    t = R.in_domain_table(grid)
    assert list(t.index) == ["c1", "c2", "Total"]
    assert list(t.columns) == ["mel", "mfcc"]  # paper order
    for tc in ("c1", "c2"):
        g = grid[(grid["train_corpus"] == tc) & (grid["eval_corpus"] == tc) & (grid["split"] == "eval")
                 & (grid["feature"] == "mel")]
        assert t.loc[tc, "mel"] == pytest.approx(R.eer_of(g))
    pooled = grid[(grid["train_corpus"] == grid["eval_corpus"]) & (grid["split"] == "eval")
                  & (grid["feature"] == "mel")]
    assert t.loc["Total", "mel"] == pytest.approx(R.eer_of(pooled))
    # c2 is 20x larger, so the pooled Total is pulled towards c2, away from the row mean
    assert abs(t.loc["Total", "mel"] - t.loc["c2", "mel"]) < abs(t.loc[["c1", "c2"], "mel"].mean()
                                                                 - t.loc["c2", "mel"])
    assert t.loc["c1", "mfcc"] < t.loc["c1", "mel"]


def test_in_domain_table_refuses_two_runs_per_feature(grid, outputs):
    put(outputs, scored(5, 5, 1, np.random.default_rng(0), dataset="c1"), "c1", "c1", "mel_max_2")
    s = S.collect_scores(outputs)
    with pytest.raises(ValueError, match="several models per feature"):
        R.in_domain_table(s)
    assert list(R.in_domain_table(S.select(s, pooling="avg")).columns) == ["mel", "mfcc"]


def test_cross_dataset_tables(grid):
    x = R.cross_dataset_tables(grid)
    pairs = x["pairs"]
    assert len(pairs) == 2 * 2 * 2  # 2 train corpora x 2 other corpora x 2 features
    assert not (pairs["train_corpus"] == pairs["eval_corpus"]).any()
    cross_mel = grid[(grid["train_corpus"] != grid["eval_corpus"]) & (grid["feature"] == "mel")]
    assert x["by_feature"].loc["mel", "eer"] == pytest.approx(R.eer_of(cross_mel))
    assert x["by_feature"].loc["mel", "n_pairs"] == 4
    c3 = grid[grid["eval_corpus"] == "c3"]
    assert x["by_eval_corpus"].loc["c3", "eer"] == pytest.approx(R.eer_of(c3))
    assert x["by_eval_corpus"].loc["c3", "n_train_corpora"] == 2
    assert np.isnan(x["matrix"].loc[("mel", "c1"), "c1"])
    assert x["matrix"].loc[("mel", "c1"), "c2"] == pytest.approx(
        pairs.query("feature == 'mel' and train_corpus == 'c1' and eval_corpus == 'c2'")["eer"].item())
    assert list(x["feature_x_eval"].columns) == ["c1", "c2", "c3"]


def test_dev_threshold_and_pair_metrics(grid):
    th = R.dev_thresholds(grid)
    assert len(th) == 4 and th["dev_threshold"].between(0, 1).all()
    pm = R.pair_metrics(grid)
    assert len(pm) == 2 * 2 * 3
    row = pm[(pm.train_corpus == "c2") & (pm.eval_corpus == "c2") & (pm.feature == "mfcc")].iloc[0]
    thr = th[(th.train_corpus == "c2") & (th.run == "mfcc_avg_10")]["dev_threshold"].item()
    assert row["dev_threshold"] == thr and row["threshold"] == 0.5
    ev = grid[(grid.train_corpus == "c2") & (grid.eval_corpus == "c2") & (grid.split == "eval")
              & (grid.feature == "mfcc")]
    b, s = M.split_by_target(ev["score"], ev["target"])
    assert row["dev_accuracy"] == pytest.approx(M.accuracy(b, s, thr))
    assert row["eer"] == pytest.approx(M.compute_eer(b, s)[0])
    # cross pairs use the dev threshold of the model's own corpus
    cross = pm[(pm.train_corpus == "c2") & (pm.eval_corpus == "c3") & (pm.feature == "mfcc")].iloc[0]
    assert cross["dev_threshold"] == thr and not cross["in_domain"]


def test_per_source_eer_against_all_bona_fide():
    r = rows(4, 4, sources=("easy", "hard"))
    # bona 0.6..0.9; easy fakes far below; hard fakes interleaved
    s = [0.6, 0.7, 0.8, 0.9, 0.1, 0.65, 0.2, 0.85]
    t = R.per_source_eer(S.score_frame(r, s), by=())
    t = t.set_index("source")
    assert t.loc["easy", "eer"] == 0.0 and t.loc["easy", "n_bona"] == 4 and t.loc["easy", "n_spoof"] == 2
    assert t.loc["hard", "eer"] == pytest.approx(M.compute_eer([0.6, 0.7, 0.8, 0.9], [0.65, 0.85])[0])
    assert t.loc["hard", "eer"] > 0


# --------------------------------------------------------------------------- result 5


def test_robustness_table_with_clean_reference(outputs):
    rng = np.random.default_rng(3)
    for f in ("mel", "mfcc"):
        run = f"{f}_avg_10"
        put(outputs, scored(50, 50, 3, rng, dataset="c1"), "c1", "c1", run)
        mod = pd.concat([scored(50, 50, 2.5, rng, condition="mp3"), scored(50, 50, 0.0, rng, condition="noise")],
                        ignore_index=True)
        put(outputs, mod, "c1", S.MODIFIED, run)
    t = R.robustness_table(S.collect_scores(outputs))
    assert list(t.columns) == ["clean", "mp3", "noise"]
    assert list(t.index) == ["mel", "mfcc"]
    assert (t["noise"] > t["mp3"]).all() and (t["noise"] > 0.3).all()
    s = S.collect_scores(outputs)
    g = s[(s.eval_corpus == S.MODIFIED) & (s.condition == "mp3") & (s.feature == "mel")]
    assert t.loc["mel", "mp3"] == pytest.approx(R.eer_of(g))


# --------------------------------------------------------------------------- result 3


def test_learning_curve_subsets_nested_stratified_deterministic():
    r = rows(30, 90, split="train")
    subs = LC.learning_curve_subsets(r, 10, seed=4)
    assert len(subs) == 10
    assert np.array_equal(subs[-1], np.arange(120))
    for a, b in zip(subs, subs[1:]):
        assert set(a) < set(b)
    for k, idx in enumerate(subs, 1):
        assert (r["target"].to_numpy()[idx] == 1).sum() == 3 * k  # class proportions kept
        assert len(idx) == 12 * k and np.all(np.diff(idx) > 0)
    again = LC.learning_curve_subsets(r, 10, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(subs, again))
    other = LC.learning_curve_subsets(r, 10, seed=5)
    assert not np.array_equal(subs[0], other[0])
    with pytest.raises(ValueError, match="only 3 real"):
        LC.learning_curve_subsets(rows(3, 30), 10)


def test_run_learning_curve_with_injected_training(outputs):
    rng = np.random.default_rng(5)
    train, dev, ev = rows(20, 40, split="train"), rows(5, 5, split="dev"), rows(30, 30, split="eval")

    def load(corpus, m, feature, mode):
        x = np.where(m["target"].to_numpy() == 1, 1.0, -1.0)[:, None, None] * np.ones((1, 2, 3))
        return x + rng.normal(0, 1, x.shape), m.reset_index(drop=True)

    seen = []

    def train_fn(tr, dv, feature, out_path):
        X, y = tr
        seen.append((feature, len(y), int(y.sum()), out_path))
        return {"n": len(y)}

    def predict(rec, X):  # more data -> better separation
        return 1 / (1 + np.exp(-X.mean(axis=(1, 2)) * rec["n"] / 20))

    lc = LC.run_learning_curve(outputs, train, dev, ev, "c1", ["mel", "mfcc"], n_subsets=3, seed=0,
                              load=load, train=train_fn, predict=predict)
    # np.array_split: 20 real -> 7/7/6, 40 fake -> 14/13/13, cumulated
    assert len(lc) == 6 and list(lc["n_train"][:3]) == [21, 41, 60]
    assert [s[2] for s in seen[:3]] == [7, 14, 20]
    assert (outputs.metrics / "learning_curve.csv").is_file()
    assert (outputs.scores / A.LEARNING_CURVE / "c1" / "array" / "3of3" / "mel_avg.csv").is_file()
    assert str(seen[0][3]).endswith("learning_curve/c1/array/1of3/mel_avg.keras")
    # re-running reuses the score files: nothing is retrained
    n = len(seen)
    again = LC.run_learning_curve(outputs, train, dev, ev, "c1", ["mel", "mfcc"], n_subsets=3, seed=0,
                                 load=load, train=train_fn, predict=predict)
    assert len(seen) == n
    pd.testing.assert_frame_equal(again, lc)


# --------------------------------------------------------------------------- scoring models


def test_score_models_with_injected_loader_and_predictor(outputs):
    m1 = pd.concat([rows(3, 3, "c1", "dev"), rows(4, 4, "c1", "eval")], ignore_index=True)
    m2 = pd.concat([rows(3, 3, "c2", "dev"), rows(5, 5, "c2", "eval")], ignore_index=True)
    for tc in ("c1", "c2"):
        for f in ("mel", "mfcc"):
            p = outputs.models / tc / "array" / f"{f}_avg_10.keras"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"")
    models = A.find_models(outputs.models)
    assert len(models) == 4 and set(models["feature"]) == {"mel", "mfcc"}
    loads = []

    def loader(name, m, feature, mode):
        loads.append((m["dataset"].iloc[0], feature))
        return np.arange(len(m), dtype=float)[:, None, None], m

    def predictor(path, X):
        return np.full(len(X), 0.25 if "c1" in path else 0.75)

    done = SC.score_models(outputs, {"c1": m1, "c2": m2}, models, loader=loader, predictor=predictor)
    assert done["written"].all() and len(done) == 8
    assert sorted(loads) == sorted({(d, f) for d in ("c1", "c2") for f in ("mel", "mfcc")})  # once each
    ind = S.read_scores(S.score_path(outputs, "c1", "c1", "array", "mel_avg_10"))
    assert set(ind["split"]) == {"dev", "eval"} and len(ind) == 14
    cross = S.read_scores(S.score_path(outputs, "c1", "c2", "array", "mel_avg_10"))
    assert set(cross["split"]) == {"eval"} and len(cross) == 10 and (cross["score"] == 0.25).all()
    again = SC.score_models(outputs, {"c1": m1, "c2": m2}, models, loader=loader, predictor=predictor)
    assert not again["written"].any() and len(loads) == 4


# --------------------------------------------------------------------------- result 4


def test_hardware_table_reads_the_benchmark_and_the_training_records(outputs):
    from idsd import hardware

    bench = hardware.hardware_table(clips=2, features=["mel", "mfcc"], seed=0)
    # an image-mode row of the same feature must not leak into the array-mode table
    hardware.write_hardware_table(pd.concat([bench, bench.iloc[:1].assign(mode="image", batch_ms_per_clip=999.0)]),
                                  outputs)
    for corpus, f, rss, sps in [("c1", "mel", 2000.0, 221.0), ("c2", "mel", 3000.0, 200.0), ("c1", "mfcc", 800.0, 783.0)]:
        A.write_record(outputs.model_file(corpus, "array", f"{f}_avg_10"),
                       {"name": f"{f}_avg_10", "feature": f, "mode": "array", "train_corpus": corpus,
                        "peak_rss_mb": rss, "train_samples_per_s": sps})
    # the learning curve's records are not the grid's
    A.write_record(outputs.learning_curve_model_file("c1", "array", 1, 3, "mel_avg_10"),
                   {"name": "mel_avg_10", "feature": "mel", "mode": "array", "peak_rss_mb": 9000.0,
                    "learning_curve": True})
    t = R.hardware_table(outputs)
    b = bench.set_index("feature")
    assert list(t.index) == ["mel", "mfcc"]
    assert t.loc["mel", "storage_bytes_per_clip"] == 256 * 126 * 4
    assert t.loc["mel", "storage_gb_at_240k"] == pytest.approx(30.97, abs=0.01)  # the paper's 31.0
    assert t.loc["mel", "extract_ms"] == pytest.approx(b.loc["mel", "batch_ms_per_clip"])  # ours, not upstream's
    assert t.loc["mfcc", "extract_ram_gb"] == pytest.approx(b.loc["mfcc", "peak_ram_mib"] * 2 ** 20 / 1e9)
    assert t.loc["mel", "train_peak_ram_gb"] == pytest.approx(3.0)
    assert t.loc["mel", "train_samples_per_s"] == pytest.approx(210.5)
    assert t.loc["mel", "storage_norm"] == 1.0 and t.loc["mel", "ram_norm"] == 1.0


def test_features_benchmark_with_other_columns_is_refused(tmp_path):
    from idsd.errors import InputError

    p = tmp_path / "hw.csv"
    pd.DataFrame({"feature": ["stft"], "storage_gb": [62.0], "ram_gb": [200.0]}).to_csv(p, index=False)
    with pytest.raises(InputError, match="hw.csv.*missing"):
        R.read_features_hardware(p)


def test_hardware_table_without_inputs_is_empty(outputs):
    assert R.hardware_table(outputs).empty


def test_score_baselines_fits_each_training_corpus_and_scores_every_eval_split(outputs, manifest_factory):
    """Baselines fitted on a corpus score its own dev/eval and the other corpus's eval, as the detector does."""
    from idsd.study import CorpusEntry, Study

    for name in ("c1", "c2"):
        manifest_factory({"train": 6, "dev": 3, "eval": 4}, dataset=name).to_csv(
            outputs.manifests / f"{name}.csv", index=False)
    study = Study("embedded", [CorpusEntry("c1", "manifests/c1.csv", True), CorpusEntry("c2", "manifests/c2.csv",
                                                                                         True)])
    done = SC.score_baselines(outputs, study, progress=False)
    assert done["written"].all() and len(done) == 2 * 2 * 2  # 2 training corpora x 2 eval corpora x 2 kinds
    own = S.read_scores(S.score_path(outputs, "c1", "c1", S.BASELINE_MODE, "lfcc-gmm"))
    other = S.read_scores(S.score_path(outputs, "c1", "c2", S.BASELINE_MODE, "bands-lr"))
    assert set(own["split"]) == {"dev", "eval"} and set(other["split"]) == {"eval"} and set(other["dataset"]) == {"c2"}
    assert own["score"].between(0, 1).all()  # LLR mapped to P(real)
    s = S.collect_scores(outputs)
    assert set(s["mode"]) == {S.BASELINE_MODE} and set(s["feature"]) == {"lfcc-gmm", "bands-lr"}
    again = SC.score_baselines(outputs, study, progress=False)
    assert not again["written"].any()  # reused
