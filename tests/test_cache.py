"""Feature cache: memory-mapped float16 sets, reuse, resume after a kill, corruption, bad files."""

from __future__ import annotations

import os
import signal

import numpy as np
import pandas as pd
import pytest
from conftest import kill_during_extraction

from idsd import cache as C
from idsd import features as F
from idsd.audio import load_audio


@pytest.fixture
def manifest(manifest_factory):
    return manifest_factory(n_per_class={"train": 3, "dev": 1, "eval": 1})


def test_fill_and_reload(manifest, tmp_path, monkeypatch, count_extraction):
    cfg = F.FeatureConfig("mel")
    calls = count_extraction()
    fs = C.load_feature_set(manifest, cfg, tmp_path / "cache", progress=False)
    assert isinstance(fs.X, np.memmap) and fs.X.dtype == np.float16 and fs.X.shape == (10, 256, 126)
    assert fs.y.dtype == np.int8 and list(fs.y) == list(manifest["target"])
    assert fs.rows["path"].tolist() == manifest["path"].tolist() and fs.rejected.empty
    assert sum(calls) == 10
    # values: the upstream array / 255, float16-rounded
    ref = F.extract(load_audio(manifest["path"][0])[:32000], "mel")
    assert np.allclose(fs.X[0].astype(np.float32), ref, rtol=1e-3, atol=3e-8)
    assert fs.nbytes_stored * 2 == fs.nbytes_float32
    # second call: nothing extracted, same numbers
    calls.clear()
    fs2 = C.load_feature_set(manifest, cfg, tmp_path / "cache", progress=False)
    assert calls == [] and np.array_equal(fs.X, fs2.X)
    # splits
    tr = fs.split("train")
    assert len(tr) == 6 and set(tr.rows["split"]) == {"train"} and tr.X.shape[0] == 6
    # a subset manifest reuses the rows of the full set
    sub = manifest[manifest["split"] == "eval"]
    fs3 = C.load_feature_set(sub, cfg, tmp_path / "cache", progress=False)
    assert calls == [] and np.array_equal(fs3.X, fs.split("eval").X)


def test_float16_storage_error(manifest, tmp_path):
    """float16 of the upstream values: relative error <= 2^-11 above 6.1e-5, absolute <= 3e-8 below."""
    for feat in ("mel", "stft", "iirt"):
        fs = C.load_feature_set(manifest.iloc[:4], F.FeatureConfig(feat), tmp_path / "c", progress=False)
        ref = np.stack([F.extract(load_audio(p)[:32000], feat) for p in fs.rows["path"]])
        err = np.abs(fs.X.astype(np.float32) - ref)
        assert np.all(err <= np.maximum(np.abs(ref) * 2.0**-11, 3.1e-8) * 1.001)
        assert ref.max() < 6e4


def test_resume_after_kill(manifest, tmp_path, monkeypatch, count_extraction):
    cache = tmp_path / "cache"
    mpath = tmp_path / "m.csv"
    manifest.to_csv(mpath, index=False)
    r = kill_during_extraction(mpath, cache, batch_files=2)
    assert r.returncode == -signal.SIGKILL, r.stderr[-1000:]
    calls = count_extraction()
    fs = C.load_feature_set(manifest, F.FeatureConfig("mfcc"), cache, progress=False, batch_files=2)
    assert sum(calls) == 10 - 4  # the two committed batches (2 files each) were kept
    fresh = C.load_feature_set(manifest, F.FeatureConfig("mfcc"), tmp_path / "fresh", progress=False)
    assert np.array_equal(fs.X, fresh.X)
    assert not list(cache.rglob("*.tmp*"))


def test_corrupted_rows_are_recomputed(manifest, tmp_path, monkeypatch, count_extraction):
    cfg = F.FeatureConfig("chroma")
    fs = C.load_feature_set(manifest, cfg, tmp_path, progress=False)
    good = np.array(fs.X)
    path = fs.path
    del fs
    raw = bytearray(path.read_bytes())
    row_bytes = 12 * 126 * 2
    off = len(raw) - 10 * row_bytes + 3 * row_bytes + 100  # inside row 3
    raw[off:off + 50] = os.urandom(50)
    path.write_bytes(bytes(raw))
    calls = count_extraction()
    fs = C.load_feature_set(manifest, cfg, tmp_path, progress=False)
    assert sum(calls) == 1 and np.array_equal(np.asarray(fs.X), good)
    # a truncated array file is recreated
    path.write_bytes(path.read_bytes()[:1000])
    fs = C.load_feature_set(manifest, cfg, tmp_path, progress=False)
    assert np.array_equal(np.asarray(fs.X), good)


def test_bad_files_rejected(manifest, tmp_path, write_clip):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav")
    short = write_clip(tmp_path / "short.wav", np.zeros(8000, np.float32) + 0.01)
    extra = pd.DataFrame([dict(manifest.iloc[0], path=str(bad)), dict(manifest.iloc[0], path=str(short)),
                          dict(manifest.iloc[0], path=str(tmp_path / "missing.wav"))])
    m = pd.concat([manifest, extra], ignore_index=True)
    fs = C.load_feature_set(m, F.FeatureConfig("mfcc"), tmp_path / "c", progress=False)
    assert len(fs) == len(manifest) + 1  # the short clip is padded, with a warning
    assert sorted(fs.rejected["file"]) == sorted([str(bad), str(tmp_path / "missing.wav")])
    assert all(fs.rejected["reason"].str.len() > 0)
    assert fs.X.shape == (len(fs), 40, 63) and len(fs.rows) == len(fs)
