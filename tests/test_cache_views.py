"""One feature array per (corpus, configuration): splits, subsets and evaluation sets are views of it.

Small generated corpora; every test checks what is stored on disk (which ``.npy`` files exist, which
rows were extracted) as well as the values handed to training and scoring.
"""

from __future__ import annotations

import hashlib
import os
import signal
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from conftest import kill_during_extraction

from idsd import cache as C
from idsd import features as F
from idsd.errors import InputError
from idsd.study import CorpusEntry, Study

CFG = F.FeatureConfig("mfcc")  # (40, 63): the cheapest representation


def _digest(path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _arrays(cdir) -> set[str]:
    return {p.name for p in cdir.iterdir() if p.suffix == ".npy"}


@pytest.fixture
def corpus(manifest_factory):
    """10 rows sorted by split: train 0-5, dev 6-7, eval 8-9 (one fragment per file)."""
    return manifest_factory(n_per_class={"train": 3, "dev": 1, "eval": 1})


@pytest.fixture
def study(outputs, corpus):
    (outputs.base / "manifests").mkdir(parents=True, exist_ok=True)
    corpus.to_csv(outputs.base / "manifests" / "toy.csv", index=False)
    modified = corpus[corpus["split"] == "eval"].assign(condition="pitch")
    modified.to_csv(outputs.base / "manifests" / "modified.csv", index=False)
    return Study(source="embedded", corpora=[CorpusEntry("toy", "manifests/toy.csv")],
                 modified_manifest="manifests/modified.csv")


def test_corpus_loaded_twice_maps_one_file(outputs, study, monkeypatch, count_extraction):
    calls = count_extraction()
    fs = C.corpus_features(outputs, study, "toy", CFG, progress=False)
    cdir = fs.path.parent
    assert fs.path == cdir / "toy.npy" and (cdir / "toy.rows.csv").is_file() and sum(calls) == 10
    assert isinstance(fs.X, np.memmap) and fs.X.shape == (10, 40, 63) and fs.X.dtype == np.float16
    before = sorted(p.name for p in cdir.iterdir())
    calls.clear()
    again = C.corpus_features(outputs, study, "toy", CFG, progress=False)
    assert calls == [] and again.path == fs.path and np.array_equal(again.X, fs.X)
    # splits, eval sets and learning-curve subsets given as manifest rows: views, no new arrays
    m = study.manifest(outputs, "toy")
    train, dev = again.split("train"), again.split("dev")
    ev = again.select(m[m["split"].isin(["dev", "eval"])])
    tr_rows = m[m["split"] == "train"].reset_index(drop=True)
    lc = again.select(tr_rows.iloc[[4, 0, 2]])
    for part in (train, dev, ev, lc):
        base = part.X.base_array if isinstance(part.X, C.RowView) else part.X
        assert os.path.samefile(base.filename, fs.path)
    assert lc.rows["path"].tolist() == tr_rows["path"].iloc[[4, 0, 2]].tolist()
    assert np.array_equal(np.asarray(lc.X), np.asarray(fs.X)[[4, 0, 2]])
    assert np.array_equal(ev.X, np.asarray(fs.X)[6:10]) and len(train) == 6 and len(dev) == 2
    assert calls == [] and sorted(p.name for p in cdir.iterdir()) == before
    assert _arrays(cdir) == {"toy.npy"}
    # the modified-speech manifest is a corpus of its own
    mod = C.corpus_features(outputs, study, "modified", CFG, progress=False)
    assert mod.path == cdir / "modified.npy" and calls == []  # rows copied from toy.npy (same audio)
    assert np.array_equal(mod.X, fs.split("eval").X) and set(mod.rows["condition"]) == {"pitch"}
    # an ad-hoc manifest (no name) still gets a hash-named array, filled from the corpus array
    adhoc = C.load_feature_set(m.iloc[[1, 3]], CFG, outputs.cache, progress=False)
    assert calls == [] and adhoc.path.name not in {"toy.npy", "modified.npy"}
    assert np.array_equal(adhoc.X, np.asarray(fs.X)[[1, 3]])


def test_fill_study_one_array_per_corpus(outputs, study):
    table = C.fill_study(study, outputs, [CFG], progress=False)
    assert table["corpus"].tolist() == ["toy", C.MODIFIED] and table["rows"].tolist() == [10, 2]
    cdir = C.config_dir(outputs.cache, CFG)
    assert _arrays(cdir) == {"toy.npy", "modified.npy"}
    bare = Study(source="embedded", corpora=study.corpora)
    with pytest.raises(InputError, match="no modified-speech manifest"):
        C.corpus_features(outputs, bare, C.MODIFIED, CFG, progress=False)


def test_split_is_a_numpy_view(corpus, tmp_path):
    fs = C.load_feature_set(corpus, CFG, tmp_path, progress=False, name="toy")
    for split, rows in (("train", slice(0, 6)), ("dev", slice(6, 8)), ("eval", slice(8, 10))):
        part = fs.split(split)
        assert isinstance(part.X, np.ndarray) and np.shares_memory(part.X, fs.X)
        assert np.array_equal(part.X, np.asarray(fs.X)[rows])
        assert part.rows["path"].tolist() == corpus["path"][rows].tolist()
        assert part.y.tolist() == corpus["target"][rows].tolist()
    # train+dev (what train_grid takes), then its dev split: still a slice of the one memory map
    trdv = fs.subset(np.isin(fs.rows["split"].to_numpy(), ["train", "dev"]))
    dev = trdv.split("dev")
    assert np.shares_memory(trdv.X, fs.X) and np.shares_memory(dev.X, fs.X)
    assert np.array_equal(dev.X, np.asarray(fs.X)[6:8]) and dev.base_index.tolist() == [6, 7]
    assert fs.subset([]).X.shape == (0, 40, 63)


def test_non_contiguous_subset_is_a_row_view(corpus, tmp_path):
    fs = C.load_feature_set(corpus, CFG, tmp_path, progress=False, name="toy")
    full = np.asarray(fs.X)
    idx = np.array([7, 0, 2, 3, 9])
    sub = fs.subset(idx)
    X = sub.X
    assert isinstance(X, C.RowView) and X.base_array is fs.base_array and X.index.tolist() == idx.tolist()
    assert X.shape == (5, 40, 63) and X.ndim == 3 and X.dtype == np.float16 and len(X) == 5
    assert np.array_equal(np.asarray(X), full[idx]) and np.asarray(X, dtype=np.float32).dtype == np.float32
    assert np.array_equal(X[1], full[0]) and np.array_equal(X[-1], full[9])
    assert isinstance(X[1:4], np.ndarray) and np.array_equal(X[1:4], full[[0, 2, 3]])
    assert np.array_equal(X[np.array([4, 0])], full[[9, 7]])
    assert np.array_equal(X[np.array([True, False, False, True, True])], full[[7, 3, 9]])
    assert np.array_equal(X[1:3, :, 0], full[[0, 2], :, 0]) and np.array_equal(X[2, 5], full[2, 5])
    assert np.array_equal(X.astype(np.float32), full[idx].astype(np.float32))
    assert sub.rows["path"].tolist() == corpus["path"][idx].tolist() and sub.y.tolist() == corpus["target"][idx].tolist()
    # a view of a view points at the base array, and becomes a slice when the rows are one run
    sub2 = sub.subset([2, 3])
    assert isinstance(sub2.X, np.ndarray) and np.shares_memory(sub2.X, fs.X) and sub2.base_index.tolist() == [2, 3]
    sub3 = sub.subset(np.array([True, False, True, False, True]))
    assert isinstance(sub3.X, C.RowView) and sub3.X.base_array is fs.base_array
    assert sub3.X.index.tolist() == [7, 2, 9] and np.array_equal(np.asarray(sub3.X), full[[7, 2, 9]])
    assert isinstance(C.RowView(X, [0, 1]).base_array, np.memmap)  # never nested
    with pytest.raises(ValueError):
        np.asarray(X, copy=False)
    with pytest.raises(IndexError):
        fs.subset(np.ones(3, bool))


def test_row_view_does_not_allocate_the_full_array(tmp_path):
    from idsd.train import ArrayBatches, check_finite

    n, shape = 600, (64, 64)
    full = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float16, shape=(n, *shape))
    full[:] = np.random.default_rng(0).random((n, *shape), dtype=np.float32).astype(np.float16)
    full.flush()
    base = np.load(tmp_path / "big.npy", mmap_mode="r")
    rows = pd.DataFrame({"path": [f"f{i}.wav" for i in range(n)], "fragment": 0, "split": "train"})
    fs = C.FeatureSet(base, np.zeros(n, np.int8), rows, CFG, path=tmp_path / "big.npy")
    full_bytes = n * shape[0] * shape[1] * 2
    tracemalloc.start()
    try:
        sub = fs.subset(np.arange(0, n, 2))  # every other row: 300 rows, half the array
        _, peak_view = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        batches = ArrayBatches(sub.X, None, 16)
        for i in range(len(batches)):
            batches[i]
        check_finite(sub.X, chunk=16)
        _, peak_read = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(sub.X, C.RowView) and len(sub) == 300
    assert peak_view < 100_000  # the index, not rows
    assert peak_read < full_bytes / 8  # one batch (16 rows as float32 = 262 kB) at a time
    assert np.array_equal(np.asarray(sub.X), np.asarray(base)[::2])


def test_training_and_scoring_see_the_same_values_on_a_row_view(corpus, tmp_path):
    import keras

    from idsd.train import ArrayBatches, as_arrays, check_finite

    try:
        from idsd.scoring import predict_scores
    except ImportError:  # older layout
        from idsd.train import predict_scores
    fs = C.load_feature_set(corpus, CFG, tmp_path, progress=False, name="toy")
    sub = fs.subset([9, 1, 4, 5, 0, 7, 2])
    dense = np.asarray(sub.X)
    assert isinstance(sub.X, C.RowView)
    X, y, info = as_arrays(sub, "train")
    assert X is sub.X and info["feature"] == "mfcc" and y.tolist() == sub.y.tolist()
    check_finite(sub.X, chunk=3)
    for kw in ({"shuffle": False}, {"shuffle": True, "seed": 3, "class_weight": {0: 0.5, 1: 2.0}}):
        a = ArrayBatches(sub.X, sub.y, 3, **kw)
        b = ArrayBatches(dense, sub.y, 3, **kw)
        for _epoch in range(2):
            assert len(a) == len(b) == 3
            for i in range(len(a)):
                for u, v in zip(a[i], b[i]):
                    assert u.dtype == v.dtype and np.array_equal(u, v)
            a.on_epoch_end()
            b.on_epoch_end()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((40, 63)), keras.layers.Flatten(),
                              keras.layers.Dense(1, activation="sigmoid")])
    s_view, s_dense = predict_scores(model, sub.X, batch_size=2), predict_scores(model, dense, batch_size=2)
    assert s_view.shape == (7,) and np.array_equal(s_view, s_dense)
    # the same batch size on both sides: oneDNN may pick another kernel for another batch shape,
    # which changes the last float digits (seen on a 2-core AVX2 EPYC), not what the view reads
    assert np.array_equal(predict_scores(model, sub, batch_size=4), predict_scores(model, dense, batch_size=4))
    np.testing.assert_allclose(predict_scores(model, sub, batch_size=4), s_dense, rtol=1e-6)


def test_select_order_rejected_and_missing_rows(corpus, tmp_path, write_clip):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav")
    m = pd.concat([corpus.iloc[:5], pd.DataFrame([dict(corpus.iloc[0], path=str(bad))]), corpus.iloc[5:]],
                  ignore_index=True)
    fs = C.load_feature_set(m, CFG, tmp_path / "c", progress=False, name="toy")
    clean = C.load_feature_set(corpus, CFG, tmp_path / "fresh", progress=False)
    # the failed row is left out by a view, not by copying the usable rows
    assert len(fs) == 10 and isinstance(fs.X, C.RowView) and fs.X.base_array.shape[0] == 11
    assert fs.X.index.tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert np.array_equal(np.asarray(fs.X), clean.X) and fs.rows["path"].tolist() == corpus["path"].tolist()
    assert fs.y.tolist() == corpus["target"].tolist() and fs.rejected["file"].tolist() == [str(bad)]
    assert isinstance(fs.split("dev").X, np.ndarray) and np.shares_memory(fs.split("dev").X, fs.base_array)
    # select: order of the rows given, their own columns, failed files listed as rejected
    want = m.iloc[[8, 5, 2]].assign(note="mine")
    got = fs.select(want)
    assert got.rows["path"].tolist() == want["path"].tolist()[::2] and (got.rows["note"] == "mine").all()
    assert np.array_equal(np.asarray(got.X), np.asarray(clean.X)[[7, 2]]) and got.y.tolist() == want["target"].tolist()[::2]
    assert got.rejected["file"].tolist() == [str(bad)] and got.rejected["reason"].str.len().gt(0).all()
    assert fs.select(m.iloc[:0]).X.shape == (0, 40, 63)
    # a row that is not in the array: a clear error naming it
    other = write_clip(tmp_path / "other.wav", np.zeros(32000, np.float32) + 0.01)
    stray = pd.concat([m.iloc[[0]], pd.DataFrame([dict(corpus.iloc[0], path=str(other))])], ignore_index=True)
    with pytest.raises(InputError, match=r"other\.wav: fragment 0 \(row 1 of the 2 selected"):
        fs.select(stray)
    with pytest.raises(InputError, match="fragment 3"):
        fs.select(m.iloc[[0]].assign(fragment=3))
    with pytest.raises(InputError, match="target"):
        fs.select(m.iloc[[0]].assign(target=1 - int(m["target"].iloc[0])))
    with pytest.raises(InputError, match="path and fragment"):
        fs.select(m[["path"]])


def test_changed_manifest_reuses_rows_and_replaces_the_file(corpus, manifest_factory, tmp_path, monkeypatch, count_extraction):
    cache = tmp_path / "cache"
    fs1 = C.load_feature_set(corpus, CFG, cache, progress=False, name="toy")
    old_values = np.array(fs1.X)
    cdir, inode = fs1.path.parent, os.stat(fs1.path).st_ino
    extra = manifest_factory(n_per_class={"eval": 1}, dataset="extra")  # 2 new files
    m2 = pd.concat([corpus.iloc[[9, 0, 1, 2, 5, 6, 7]], extra], ignore_index=True)  # 3 rows gone, reordered
    calls = count_extraction()
    fs2 = C.load_feature_set(m2, CFG, cache, progress=False, name="toy")
    assert sum(calls) == 2  # only the new files' rows extracted
    assert fs2.path == cdir / "toy.npy" and os.stat(fs2.path).st_ino != inode and fs2.X.shape[0] == 9
    assert _arrays(cdir) == {"toy.npy"} and not [p for p in cdir.iterdir() if "~" in p.name or ".tmp" in p.name]
    table = pd.read_csv(cdir / "toy.rows.csv", dtype={"id": str})
    assert table["id"].tolist() == C.entry_ids(m2) and (table["status"] == C.DONE).all()
    fresh = C.load_feature_set(m2, CFG, tmp_path / "fresh", progress=False)
    assert np.array_equal(fs2.X, fresh.X) and fs2.rows["path"].tolist() == m2["path"].tolist()
    assert np.array_equal(fs1.X, old_values)  # an open view keeps reading the version it mapped
    calls.clear()
    assert np.array_equal(C.load_feature_set(m2, CFG, cache, progress=False, name="toy").X, fresh.X)
    assert calls == []
    with pytest.raises(InputError):
        C.load_feature_set(m2, CFG, cache, progress=False, name="../toy")
    with pytest.raises(InputError):
        C.load_feature_set(m2, CFG, cache, progress=False, name="toy~rebuild")


def test_killed_rebuild_keeps_the_old_version_and_resumes(corpus, manifest_factory, tmp_path, monkeypatch, count_extraction):
    cache = tmp_path / "cache"
    fs1 = C.load_feature_set(corpus, CFG, cache, progress=False, name="toy")
    cdir = fs1.path.parent
    old = {p: _digest(cdir / p) for p in ("toy.npy", "toy.rows.csv")}
    del fs1
    extra = manifest_factory(n_per_class={"eval": 2}, dataset="extra")  # 4 new files
    m2 = pd.concat([corpus, extra], ignore_index=True)
    mpath = tmp_path / "m2.csv"
    m2.to_csv(mpath, index=False)
    r = kill_during_extraction(mpath, cache, batch_files=1, name='toy')
    assert r.returncode == -signal.SIGKILL, r.stderr[-1000:]
    # the old version is untouched; the new one is half built beside it
    assert {p: _digest(cdir / p) for p in old} == old
    assert (cdir / "toy~rebuild.npy").is_file() and (cdir / "toy~rebuild.rows.csv").is_file()
    calls = count_extraction()
    fs2 = C.load_feature_set(m2, CFG, cache, progress=False, batch_files=1, name="toy")
    assert sum(calls) == 2  # 4 new files, 2 committed before the kill
    fresh = C.load_feature_set(m2, CFG, tmp_path / "fresh", progress=False)
    assert np.array_equal(fs2.X, fresh.X) and _arrays(cdir) == {"toy.npy"}
    assert not list(cache.rglob("*.tmp*")) and not list(cdir.glob("*~*"))


def test_interrupted_swap_is_finished(corpus, manifest_factory, tmp_path, monkeypatch, count_extraction):
    cache = tmp_path / "cache"
    C.load_feature_set(corpus, CFG, cache, progress=False, name="toy")
    m2 = pd.concat([corpus.iloc[::-1], manifest_factory(n_per_class={"eval": 1}, dataset="extra")],
                   ignore_index=True)
    real_replace = os.replace

    def dies_before_the_table(src, dst, *a, **k):
        if os.fspath(src).endswith("toy~rebuild.rows.csv") and os.fspath(dst).endswith("toy.rows.csv"):
            raise OSError("killed")
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(C.os, "replace", dies_before_the_table)
    with pytest.raises(OSError, match="killed"):
        C.load_feature_set(m2, CFG, cache, progress=False, name="toy")
    monkeypatch.setattr(C.os, "replace", real_replace)
    cdir = C.config_dir(cache, CFG)
    assert (cdir / "toy~swap").is_file() and not (cdir / "toy~rebuild.npy").exists()  # new array moved, old table
    calls = count_extraction()
    fs = C.load_feature_set(m2, CFG, cache, progress=False, name="toy")
    assert calls == [] and not list(cdir.glob("*~*"))
    fresh = C.load_feature_set(m2, CFG, tmp_path / "fresh", progress=False)
    assert np.array_equal(fs.X, fresh.X)


def test_corrupted_corpus_row_recomputed_and_verified_once(outputs, study, monkeypatch, count_extraction):
    fs = C.corpus_features(outputs, study, "toy", CFG, progress=False)
    good, path = np.array(fs.X), fs.path
    del fs
    crcs = []
    real_crc = C._crc
    monkeypatch.setattr(C, "_crc", lambda row: crcs.append(1) or real_crc(row))
    C.corpus_features(outputs, study, "toy", CFG, progress=False)
    assert crcs == []  # same files, already checked in this process
    C.load_feature_set(study.manifest(outputs, "toy"), CFG, outputs.cache, progress=False, name="toy")
    assert len(crcs) == 10  # verify=True checks every row
    raw = bytearray(path.read_bytes())
    row_bytes = 40 * 63 * 2
    off = len(raw) - 10 * row_bytes + 4 * row_bytes + 10  # inside row 4
    raw[off:off + 40] = os.urandom(40)
    (path.parent / "x.part").write_bytes(bytes(raw))
    os.replace(path.parent / "x.part", path)  # a new version of the file
    calls = count_extraction()
    fs = C.corpus_features(outputs, study, "toy", CFG, progress=False)
    assert sum(calls) == 1 and np.array_equal(np.asarray(fs.X), good)
