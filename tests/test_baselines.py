"""idsd.baselines: LFCC front end, LFCC-GMM, bands-lr, baseline score frames from a manifest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.signal import lfilter

from idsd import metrics
from idsd.baselines import LFCCGMM, _deltas, _linear_filterbank, bands_lr, baseline_scores, lfcc


def _tilted(label: str, i: int, n: int = 32000) -> np.ndarray:
    """'real' = noise with a low-pass tilt, 'fake' = with a high-pass tilt; random level."""
    r = np.random.default_rng(1000 * (label == "fake") + i)
    b = [1.0, 0.8] if label == "real" else [1.0, -0.8]
    y = lfilter(b, [1.0], r.normal(size=n)) * 0.05 * (0.5 + r.random())
    return y.astype(np.float32)


def test_lfcc_shape_and_values(tone):
    f = lfcc(tone)
    assert f.shape == (199, 60) and f.dtype == np.float32 and np.isfinite(f).all()
    static = lfcc(tone, deltas=False)
    np.testing.assert_allclose(static, f[:, :20], rtol=1e-6)
    np.testing.assert_allclose(_deltas(f[:, :20].astype(np.float64)), f[:, 20:40], rtol=1e-4, atol=1e-4)
    assert np.isfinite(lfcc(np.zeros(32000, np.float32))).all()  # silence: log10(eps), finite
    # a 440 Hz tone puts its energy in the first filter (0-381 Hz-wide bands): C1 strongly positive
    assert static[:, 1].mean() > 0


def test_lfcc_frame_by_hand():
    """Frame 5 recomputed step by step: pre-emphasis, 320-sample Hamming frame at 5 * 160, 512-FFT."""
    from scipy.fft import dct

    y = _tilted("fake", 3).astype(np.float64)
    pre = np.r_[y[0], y[1:] - 0.97 * y[:-1]]
    frame = pre[800:1120] * np.hamming(320)
    energy = np.abs(np.fft.fft(frame, 512)[:257]) ** 2 @ _linear_filterbank(16000, 512, 20)
    expected = dct(np.log10(energy + np.finfo(float).eps), norm="ortho")
    np.testing.assert_allclose(lfcc(y, deltas=False)[5], expected, rtol=1e-5, atol=1e-5)


def test_lfcc_building_blocks():
    fb = _linear_filterbank(16000, 512, 20)
    assert fb.shape == (257, 20) and fb.max() == pytest.approx(1.0, abs=0.02)
    f = np.linspace(0, 8000, 257)
    inner = (f >= 8000 / 21) & (f <= 8000 * 20 / 21)  # between the first and the last centre
    np.testing.assert_allclose(fb.sum(axis=1)[inner], 1.0, atol=1e-9)  # overlapping triangles tile it
    with pytest.raises(ValueError):
        _linear_filterbank(16000, 512, 20, fmin=100, fmax=9000)
    hi_res = lfcc(_tilted("real", 0), win_ms=30, hop_ms=15, n_fft=1024, n_filters=70, fmax=4000)
    assert hi_res.shape == (133, 60) and np.isfinite(hi_res).all()
    ramp = np.arange(10, dtype=float)[:, None] * np.ones((1, 3))
    d = _deltas(ramp)
    assert (d[1:-1] == 2).all() and (d[0] == 1).all() and (d[-1] == 1).all()


def test_lfcc_gmm_separates_spectral_tilts():
    train = {lab: [lfcc(_tilted(lab, i)) for i in range(10)] for lab in ("real", "fake")}
    gmm = LFCCGMM(n_components=4, max_iter=50, seed=0).fit(train["real"], train["fake"])
    test = {lab: gmm.score([lfcc(_tilted(lab, 100 + i)) for i in range(10)]) for lab in ("real", "fake")}
    assert test["real"].shape == (10,)
    assert metrics.compute_eer(test["real"], test["fake"])[0] < 0.1
    assert test["real"].mean() > 0 > test["fake"].mean()  # LLR direction: higher = more real
    again = LFCCGMM(n_components=4, max_iter=50, seed=0).fit(train["real"], train["fake"])
    np.testing.assert_allclose(again.score([train["real"][0]]), gmm.score([train["real"][0]]))
    with pytest.raises(RuntimeError):
        LFCCGMM().score([train["real"][0]])


def _manifest(tmp_path, write_clip, n_train=8, n_test=4, datasets=("toy",)) -> pd.DataFrame:
    rows = []
    for d, ds in enumerate(datasets):
        for s, (split, k) in enumerate((("train", n_train), ("dev", n_test), ("eval", n_test))):
            for label in ("real", "fake"):
                for i in range(k):
                    j = 10_000 * d + 100 * s + i
                    p = write_clip(tmp_path / ds / split / label / f"en_p{i}__{label}__w0.wav", _tilted(label, j))
                    rows.append(dict(path=str(p), dataset=ds, split=split, label=label, target=int(label == "real"),
                                     source="bonafide" if label == "real" else "tts", speaker="unknown", fragment=0,
                                     duration=2.0, condition="clean"))
    return pd.DataFrame(rows)


def test_bands_lr_matches_the_shortcut_audit(tmp_path, write_clip):
    from sklearn.metrics import roc_auc_score

    from idsd.audit import audit_features, shortcut_audit

    feats = audit_features(_manifest(tmp_path, write_clip), progress=False)
    out = bands_lr(feats)
    assert len(out) == 16 and set(out.split) == {"dev", "eval"}
    assert "band00" not in out and {"path", "target", "source", "score"} <= set(out.columns)
    assert ((out.score >= 0) & (out.score <= 1)).all()
    ev = out[out.split == "eval"]
    assert roc_auc_score(ev.target, ev.score) == pytest.approx(shortcut_audit(feats, "bands")["auc"])
    with pytest.raises(ValueError, match="both classes"):
        bands_lr(feats[feats.label == "real"])


def test_baseline_scores_on_a_tiny_manifest(tmp_path, write_clip):
    from idsd.results import in_domain_table
    from idsd.scores import KEY_COLUMNS, SCORE_COLUMNS

    man = _manifest(tmp_path, write_clip, datasets=("toy", "other"))
    bad = man.iloc[[0]].assign(path=str(tmp_path / "missing.wav"), split="eval")
    out = baseline_scores(pd.concat([man, bad], ignore_index=True), progress=False, n_components=4)
    assert set(out.feature) == {"lfcc-gmm", "bands-lr"} and (out.run == out.feature).all()
    assert set(KEY_COLUMNS) | set(SCORE_COLUMNS) <= set(out.columns)
    assert len(out) == 2 * 2 * 16  # corpora x baselines x (dev + eval rows); the unreadable row is dropped
    assert not out.path.str.contains("missing").any() and set(out.split) == {"dev", "eval"}
    assert (out.train_corpus == out.dataset).all() and (out.eval_corpus == out.dataset).all()
    assert np.isfinite(out.score).all()
    table = in_domain_table(out)
    assert list(table.index) == ["other", "toy", "Total"] and set(table.columns) == {"lfcc-gmm", "bands-lr"}
    assert table.loc["toy", "lfcc-gmm"] < 0.2  # the tilt is easy for LFCC
    only = baseline_scores(man[man.dataset == "toy"], kinds=("bands-lr",), splits=("eval",), progress=False)
    assert set(only.feature) == {"bands-lr"} and set(only.split) == {"eval"} and len(only) == 8
    with_train = baseline_scores(man[man.dataset == "toy"], splits=("train", "eval"), progress=False, n_components=4)
    assert set(with_train.split) == {"train", "eval"} and len(with_train) == 2 * (16 + 8)
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_scores(man, kinds=("cqcc-gmm",))
