"""idsd.explanations: study-level maps, band shares and band removal agree on a synthetic audio task.

Synthetic task in the AUDIO: every clip holds a voice-like harmonic tone (random f0, below 1 kHz);
real clips also hold a noise band at 4.5-7 kHz, fake clips do not. A small Keras model is trained
on mel features in dB mode for a few epochs. The maps must put most of their mass in 4-8 kHz, and
removing 4-8 kHz from the audio must break the detector (a significant EER rise) while removing
0-1 kHz must not.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from scipy.signal import butter, sosfilt

from idsd import conclusions
from idsd import explanations as X
from idsd.features import extract_batch, feature_shape

SR = 16000
N = 32000
FEATURE, MODE = "mel", "db"


def _clips(n: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    t = np.arange(N) / SR
    sos = butter(6, [4500, 7000], btype="bandpass", fs=SR, output="sos")
    W = np.zeros((n, N), np.float32)
    target = (np.arange(n) % 2).astype(int)  # 1 = real
    for i in range(n):
        f0 = rng.uniform(100, 220)
        y = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k for k in range(1, 5))
        y = 0.2 * y / np.abs(y).max()
        if target[i] == 1:
            y = y + 0.05 * sosfilt(sos, rng.normal(size=N))
        W[i] = y + 1e-3 * rng.normal(size=N)
    rows = pd.DataFrame({"path": [f"clip{seed}_{i}.wav" for i in range(n)], "fragment": 0, "target": target,
                         "label": np.where(target == 1, "real", "fake"),
                         "source": np.where(target == 1, "bonafide", np.where(np.arange(n) % 4 == 0, "tts-a", "tts-b")),
                         "speaker": [f"s{i % 6}" for i in range(n)], "split": "eval"})
    return W, rows


@pytest.fixture(scope="module")
def task():
    keras.utils.set_random_seed(0)
    Wtr, rtr = _clips(96, 0)
    Wte, rte = _clips(64, 1)
    Xtr = extract_batch(Wtr, FEATURE, MODE)
    Xte = extract_batch(Wte, FEATURE, MODE)
    shape = feature_shape(FEATURE, MODE)
    scale = float(np.abs(Xtr).max())
    model = keras.Sequential([keras.Input(shape), keras.layers.Rescaling(1 / scale), keras.layers.Flatten(),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    model.fit(Xtr, rtr["target"].to_numpy(np.float32), epochs=20, batch_size=16, verbose=0)
    result = X.explain_model(model, Xte, rte, Wte, FEATURE, MODE, ablation_rows=rte, n_bands=32)
    return {"model": model, "Xte": Xte, "rte": rte, "result": result}


def test_the_synthetic_detector_learnt_the_band(task):
    p = task["model"].predict(task["Xte"], verbose=0).reshape(-1)
    assert ((p >= 0.5) == (task["rte"]["target"] == 1)).mean() >= 0.95


def test_maps_put_most_mass_in_the_label_band(task):
    shares = X.band_share_table(task["result"]["profiles"].assign(train_corpus="synthetic", feature=FEATURE))
    every = shares[(shares["group"] == "class") & (shares["value"] == "all")].iloc[0]
    assert every["top_band"] == "4-8 kHz"
    hz = task["result"]["profiles"].drop_duplicates("bin")["hz"].to_numpy()
    bins_share = float((hz >= 4000).mean())  # the share a flat map would give 4-8 kHz
    assert every["4-8 kHz"] > 1.5 * bins_share and every["4-8 kHz"] > max(every["0-1 kHz"], every["1-4 kHz"]), every
    assert every["bins 4-8 kHz"] == pytest.approx(bins_share)  # the table carries the flat-map baseline
    assert every[["bins 0-1 kHz", "bins 1-4 kHz", "bins 4-8 kHz"]].sum() == pytest.approx(1.0)
    assert abs(every[["0-1 kHz", "1-4 kHz", "4-8 kHz"]].sum() - 1) < 1e-9
    real = shares[(shares["group"] == "class") & (shares["value"] == "real")].iloc[0]
    assert real["top_band"] == "4-8 kHz" and real["n_clips"] == 32
    # one row per fake source, and one profile per group summing to 1
    src = shares[shares["group"] == "source"]
    assert set(src["value"]) == {"tts-a", "tts-b"} and src["n_clips"].sum() == 32
    prof = task["result"]["profiles"]
    assert np.allclose(prof.groupby(["group", "value"])["share"].sum(), 1.0)
    assert prof["hz"].between(0, 8000).all()


def test_removing_the_label_band_breaks_the_detector_and_the_low_band_does_not(task):
    abl = task["result"]["ablation"].assign(train_corpus="synthetic", feature=FEATURE)
    assert set(abl["band"]) == {"none", "0-1 kHz", "1-4 kHz", "4-8 kHz"}
    cells = X.ablation_cells(abl, n_boot=300).set_index("band")
    assert cells.loc["none", "eer"] < 0.05
    assert cells.loc["4-8 kHz", "eer"] > 0.3 and bool(cells.loc["4-8 kHz", "significant"])
    assert cells.loc["4-8 kHz", "delta"] > 0.3
    assert not bool(cells.loc["0-1 kHz", "significant"])
    assert cells.loc["none", "n_real"] == cells.loc["none", "n_fake"] == 32
    shown = X.ablation_wide(cells.reset_index())
    assert shown.loc[("synthetic", FEATURE), "4-8 kHz"].endswith("*")
    shares = X.band_share_table(task["result"]["profiles"].assign(train_corpus="synthetic", feature=FEATURE))
    text = conclusions.explanations(shares, cells.reset_index())
    assert "in 1 of 1 model(s)" in text and "removing 4-8 kHz raises the EER" in text
    assert f"of the attribution against {shares.iloc[0]['bins 4-8 kHz']:.0%} of its bins" in text


def test_a_large_ablation_table_can_still_reject(task):
    """14 models x 3 bands = 42 Holm-corrected tests: with the interval's 1,000 resamples no test
    could reach 0.05 (smallest adjusted p 2 x 42 / 1001); the tests take enough resamples."""
    abl = task["result"]["ablation"]
    many = pd.concat([abl.assign(train_corpus="synthetic", feature=f"copy{i}") for i in range(14)], ignore_index=True)
    cells = X.ablation_cells(many, n_boot=1000)
    removed = cells[cells["band"] != "none"]
    assert len(removed) == 42 and (removed["n_boot_test"] == 8400).all()
    assert removed.loc[removed["band"] == "4-8 kHz", "significant"].all()
    assert removed.loc[removed["band"] == "4-8 kHz", "p_holm"].max() <= 0.01


def test_band_stop_removes_the_band_and_keeps_the_rest():
    t = np.arange(N) / SR
    tones = {500: None, 2000: None, 6000: None}
    y = sum(np.sin(2 * np.pi * f * t) for f in tones).astype(np.float32)
    spec = lambda s: np.abs(np.fft.rfft(s[4000:-4000]))  # noqa: E731  (edges: filter transients)
    freqs = np.fft.rfftfreq(N - 8000, 1 / SR)
    level = {f: spec(y)[np.argmin(np.abs(freqs - f))] for f in tones}
    for band, gone in (((0, 1000), 500), ((1000, 4000), 2000), ((4000, 8000), 6000)):
        out = X.band_stop(y[None], band)[0]
        assert out.shape == y.shape and out.dtype == np.float32
        s = spec(out)
        for f in tones:
            ratio = s[np.argmin(np.abs(freqs - f))] / level[f]
            if f == gone:
                assert ratio < 1e-3, (band, f, ratio)  # > 60 dB down
            else:
                assert 0.99 < ratio < 1.01, (band, f, ratio)
    with pytest.raises(ValueError, match="whole spectrum"):
        X.band_stop(y, (0, 8000))
    with pytest.raises(ValueError, match="lo < hi"):
        X.band_stop(y, (3000, 1000))


def test_explain_rows_are_balanced_spread_over_sources_and_seeded():
    m = pd.DataFrame({"path": [f"f{i}.wav" for i in range(60)], "fragment": 0, "split": ["eval"] * 50 + ["dev"] * 10,
                      "target": [1] * 20 + [0] * 30 + [0] * 10,
                      "source": ["bonafide"] * 20 + ["a"] * 24 + ["b"] * 3 + ["c"] * 3 + ["a"] * 10})
    r = X.explain_rows(m, 9, seed=3)
    assert (r["split"] == "eval").all()
    assert (r["target"] == 1).sum() == 9 and (r["target"] == 0).sum() == 9
    counts = r[r["target"] == 0]["source"].value_counts()
    assert counts["b"] == 3 and counts["c"] == 3 and counts["a"] == 3  # every source before a second "a"
    assert r.equals(X.explain_rows(m, 9, seed=3))
    assert not r.equals(X.explain_rows(m, 9, seed=4))
    assert len(X.explain_rows(m, 0)) == 50  # 0: the whole split
    with pytest.raises(ValueError, match="no 'train' rows"):
        X.explain_rows(m, 3, split="train")


def test_mfcc_has_maps_but_no_band_shares():
    rows = pd.DataFrame({"target": [1, 0], "source": ["bonafide", "x"]})
    n_bins = feature_shape("mfcc")[0]
    prof = X.profile_table(rows, np.ones((2, n_bins)), np.zeros((2, n_bins)), "mfcc")
    assert prof["hz"].isna().all() and prof["bin_label"].iloc[0] == "MFCC 0"
    shares = X.band_share_table(prof.assign(train_corpus="c", feature="mfcc"))
    assert shares["top_band"].eq("").all() and shares["4-8 kHz"].isna().all()


def test_figures_draw(task):
    prof = task["result"]["profiles"].assign(train_corpus="synthetic", feature=FEATURE)
    fig = X.profile_figure(prof)
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_title() == FEATURE
    cells = X.ablation_cells(task["result"]["ablation"].assign(train_corpus="synthetic", feature=FEATURE), n_boot=50)
    fig = X.ablation_figure(cells)
    assert fig.axes[0].get_title() == "synthetic" and len(fig.axes[0].get_legend().get_texts()) == 4
    item = {"spec": task["Xte"][0], "attr": np.zeros_like(task["Xte"][0]), "bin_labels": [str(i) for i in range(256)],
            "frame_times_s": np.arange(task["Xte"].shape[2]) * 0.016, "label": "mel | real", "db": False}
    assert len(X.gallery_figure([item, item]).axes) == 2 * 2 + 2  # two clips x (spectrogram, map) + colour bars
