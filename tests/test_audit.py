"""idsd.audit: the trivial-statistics baseline finds planted shortcuts and only those."""

from __future__ import annotations

import numpy as np
import pandas as pd

from idsd.audit import SCALAR, audit_corpora, audit_features, per_source, shortcut_audit, trivial_features


def test_trivial_features_shape_and_zero_fraction():
    y = np.zeros(32000, np.float32)
    y[:16000] = 0.1 * np.random.default_rng(0).normal(size=16000)
    f = trivial_features(y, 2.0)
    assert f.shape == (6 + 32,)
    assert f[0] == 2.0 and abs(f[SCALAR.index("zero_frac")] - 0.5) < 0.01


def _manifest(tmp_path, write_clip, loud_fakes: bool, n=12):
    rows = []
    r = np.random.default_rng(0)
    for split, k in (("train", n), ("eval", n // 2)):
        for label in ("real", "fake"):
            for i in range(k):
                gain = 0.3 if (label == "fake" and loud_fakes) else 0.05
                y = gain * r.normal(size=32000) * (0.5 + r.random())
                p = write_clip(tmp_path / split / label / f"{i}.wav", np.clip(y, -1, 1))
                rows.append(dict(path=str(p), dataset="toy", split=split, label=label, target=int(label == "real"),
                                 source="bonafide" if label == "real" else "loud", speaker="s", fragment=0,
                                 duration=2.0, condition="clean"))
    return pd.DataFrame(rows)


def test_audit_finds_a_planted_loudness_cue(tmp_path, write_clip):
    feats = audit_features(_manifest(tmp_path, write_clip, loud_fakes=True), progress=False)
    res = shortcut_audit(feats, "scalar")
    assert res["accuracy"] == 1.0 and res["eer"] == 0.0 and res["n_test"] == 12
    table = audit_corpora(feats)
    assert list(table.features) == ["scalar", "bands"] and set(table.dataset) == {"toy"}
    assert set(per_source(feats).source) == {"bonafide", "loud"}


def test_audit_is_at_chance_without_a_cue(tmp_path, write_clip):
    feats = audit_features(_manifest(tmp_path, write_clip, loud_fakes=False, n=20), progress=False)
    res = shortcut_audit(feats, "scalar")
    assert 0.2 <= res["eer"] <= 0.8 and res["accuracy"] < 0.85
