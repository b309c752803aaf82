"""idsd.uncertainty: cluster bootstrap of EERs, paired tests, Holm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from idsd import metrics
from idsd.uncertainty import (
    _eer_weighted,
    _groups_array,
    _Resampler,
    bootstrap_eer,
    ci_table,
    cluster_ids,
    format_ci,
    holm,
    paired_bootstrap,
    pairwise_tests,
    utterance_key,
)


def _gauss(rng, n_bona, n_spoof, d):
    s = np.r_[rng.normal(d, 1, n_bona), rng.normal(0, 1, n_spoof)]
    t = np.r_[np.ones(n_bona, int), np.zeros(n_spoof, int)]
    return s, t


def test_weighted_eer_equals_compute_eer_on_the_materialised_resample():
    rng = np.random.default_rng(3)
    s, t = _gauss(rng, 150, 250, 1.0)
    s = np.round(s, 1)  # many ties
    g = _groups_array(np.column_stack([rng.integers(0, 8, s.size), rng.integers(0, 90, s.size)]), s.size)
    w = _Resampler(t, g).weights(np.random.default_rng(0), 40)
    uniq, inv = np.unique(s, return_inverse=True)
    fast = _eer_weighted(inv, uniq.size, t == 1, w)
    for r in range(w.shape[0]):
        idx = np.repeat(np.arange(s.size), w[r].astype(int))
        ref = metrics.compute_eer(s[idx][t[idx] == 1], s[idx][t[idx] == 0])[0]
        assert fast[r] == pytest.approx(ref, abs=1e-12)


def test_resampling_keeps_units_whole_and_classes_present():
    t = np.repeat([1, 0], 30)
    utt = np.repeat(np.arange(12), 5)  # 5 clips per utterance, 6 utterances per class
    w = _Resampler(t, _groups_array(utt, t.size)).weights(np.random.default_rng(0), 200)
    per_utt = w.reshape(200, 12, 5)
    assert (per_utt == per_utt[:, :, :1]).all()  # all clips of an utterance share one count
    assert (w[:, t == 1].sum(1) == 30).all() and (w[:, t == 0].sum(1) == 30).all()  # stratified


def test_bootstrap_is_deterministic_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    s, t = _gauss(rng, 300, 300, 2.0)
    a = bootstrap_eer(s, t, n_boot=300, seed=5)
    b = bootstrap_eer(s, t, n_boot=300, seed=5)
    assert a == b
    assert a["lo"] <= a["eer"] <= a["hi"] and a["hi"] - a["lo"] > 0.01
    assert (a["n_bona"], a["n_spoof"], a["n_groups"], a["n_boot"]) == (300, 300, 600, 300)
    assert a["eer"] == metrics.compute_eer(s[t == 1], s[t == 0])[0]
    assert bootstrap_eer(s, t, n_boot=300, seed=6)["lo"] != a["lo"]


def test_interval_covers_the_population_eer():
    d = 1.5
    true_eer = norm.cdf(-d / 2)
    rng = np.random.default_rng(11)
    hits = 0
    n_rep = 150
    for rep in range(n_rep):
        s, t = _gauss(rng, 150, 150, d)
        r = bootstrap_eer(s, t, n_boot=200, seed=rep)
        hits += r["lo"] <= true_eer <= r["hi"]
    assert 0.88 <= hits / n_rep <= 0.99


def _clustered(rng, n_utt=40, clips=10, d=1.5, sd_utt=1.0):
    rows = []
    for label, mu in (("real", d), ("fake", 0.0)):
        for u in range(n_utt):
            effect = rng.normal(mu, sd_utt)
            for w in range(clips):
                rows.append(dict(path=f"/c/{label}/en_p{u:03d}__{label}__w{w}.wav", fragment=0,
                                 target=int(label == "real"), speaker="unknown",
                                 score=effect + rng.normal(0, 0.3)))
    return pd.DataFrame(rows)


def test_cluster_bootstrap_is_wider_than_the_naive_one_on_clustered_data():
    df = _clustered(np.random.default_rng(2))
    g = cluster_ids(df)
    assert g[:, 1].max() + 1 == 80  # the window suffix is stripped: one unit per utterance
    naive = bootstrap_eer(df.score, df.target, None, n_boot=400)
    clus = bootstrap_eer(df.score, df.target, g, n_boot=400)
    assert clus["eer"] == naive["eer"]
    assert (clus["hi"] - clus["lo"]) > 1.8 * (naive["hi"] - naive["lo"])


def test_cluster_ids_levels_and_fallbacks():
    df = pd.DataFrame({"path": ["/a/x__s__w0.wav", "/a/x__s__w1.wav", "/a/y.wav", "/a/y.wav"],
                       "speaker": ["A", "A", "B", "unknown"]})
    assert list(utterance_key(df)) == ["/a/x__s", "/a/x__s", "/a/y.wav", "/a/y.wav"]
    g = cluster_ids(df)  # two known speakers: two-stage; the unknown row is its own outer unit
    assert g[0, 0] == g[1, 0] != g[2, 0] != g[3, 0]
    assert g[0, 1] == g[1, 1] and g[2, 1] != g[3, 1]  # same file, different speakers: nested
    one = cluster_ids(df.assign(speaker="A"))  # one speaker: utterances only
    assert (one[:, 0] == one[:, 1]).all() and len(set(one[:, 1])) == 2
    assert (cluster_ids(df.drop(columns="speaker"))[:, 0] == one[:, 0]).all()
    assert (cluster_ids(df.assign(utterance=["u", "v", "u", "v"]), by=("utterance",))[:, 1] == [0, 1, 0, 1]).all()


def test_two_stage_speaker_bootstrap_is_wider_when_speakers_differ():
    rng = np.random.default_rng(4)
    rows = []
    for spk in range(12):
        shift = rng.normal(0, 1.0)  # a speaker effect shared by both classes' scores
        for label, mu in (("real", 1.5), ("fake", 0.0)):
            for u in range(6):
                rows.append(dict(path=f"/{spk}/{label}{u}.wav", speaker=f"s{spk}", target=int(label == "real"),
                                 score=mu + shift * (label == "real") + rng.normal(0, 0.5)))
    df = pd.DataFrame(rows)
    two = bootstrap_eer(df.score, df.target, cluster_ids(df), n_boot=400)
    one = bootstrap_eer(df.score, df.target, cluster_ids(df, by=("utterance",)), n_boot=400)
    assert two["n_outer"] == 12 and one["n_outer"] == one["n_groups"] == len(df)
    assert (two["hi"] - two["lo"]) > (one["hi"] - one["lo"])


def test_paired_bootstrap_identical_systems_are_not_different():
    rng = np.random.default_rng(7)
    s, t = _gauss(rng, 200, 200, 1.5)
    same = paired_bootstrap(s, s, t, n_boot=300)
    assert same["diff"] == 0 and same["p_value"] == 1.0 and same["lo"] == same["hi"] == 0


def test_paired_bootstrap_exchangeable_systems_vs_a_better_one():
    rng = np.random.default_rng(8)
    n = 300
    t = np.r_[np.ones(n, int), np.zeros(n, int)]
    base = np.r_[rng.normal(1.0, 1, n), rng.normal(0, 1, n)]  # shared trial difficulty
    a = base + rng.normal(0, 0.5, 2 * n)
    b = base + rng.normal(0, 0.5, 2 * n)  # A and B identically distributed
    c = base + np.where(t == 1, 1.5, 0.0) + rng.normal(0, 0.5, 2 * n)  # C clearly better
    ab = paired_bootstrap(a, b, t, n_boot=500)
    ac = paired_bootstrap(a, c, t, n_boot=500)
    assert ab["p_value"] > 0.05 and ab["lo"] < 0 < ab["hi"]
    assert ac["p_value"] < 0.01 and ac["diff"] > 0 and ac["lo"] > 0
    assert paired_bootstrap(a, c, t, n_boot=500, seed=1)["p_value"] < 0.01
    normal = paired_bootstrap(a, c, t, n_boot=500, p_method="normal")
    assert normal["p_value"] < 2 / 501 and normal["diff"] == ac["diff"]  # not limited by n_boot
    assert paired_bootstrap(a, b, t, n_boot=500, p_method="normal")["p_value"] > 0.05
    assert paired_bootstrap(a, a, t, n_boot=50, p_method="normal")["p_value"] == 1.0
    adj = holm([ab["p_value"], ac["p_value"]])
    assert adj[0] >= ab["p_value"] and adj[0] > 0.05 and adj[1] < 0.05


def test_holm_against_a_hand_checked_example():
    p = [0.01, 0.04, 0.03, 0.005, np.nan]
    # ascending 0.005, 0.01, 0.03, 0.04 (m = 4): 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02, np.nan])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])
    assert holm([]).size == 0


def test_pairwise_tests_on_a_score_table(caplog):
    rng = np.random.default_rng(9)
    n = 120
    t = np.r_[np.ones(n, int), np.zeros(n, int)]
    base = np.r_[rng.normal(1.0, 1, n), rng.normal(0, 1, n)]
    trials = pd.DataFrame({"dataset": "toy", "split": "eval", "path": [f"/x/{i // 2}.wav" for i in range(2 * n)],
                           "fragment": np.arange(2 * n) % 2, "condition": "clean", "target": t,
                           "speaker": "unknown", "train_corpus": "toy", "eval_corpus": "toy", "mode": "array"})
    systems = {"mel": base + rng.normal(0, 0.3, 2 * n), "stft": base + rng.normal(0, 0.3, 2 * n),
               "cqt": base + np.where(t == 1, 2.5, 0) + rng.normal(0, 0.3, 2 * n)}
    frame = pd.concat([trials.assign(feature=k, score=v) for k, v in systems.items()], ignore_index=True)
    frame = pd.concat([frame, frame.assign(split="dev")], ignore_index=True)  # dev rows are ignored
    out = pairwise_tests(frame, n_boot=300)
    assert len(out) == 3 and list(out.system_a) == ["mel", "mel", "stft"]
    assert (out.n_trials == 2 * n).all() and (out.n_groups == n).all()
    assert (out.p_holm >= out.p_value).all()
    row = out.set_index(["system_a", "system_b"])
    assert not row.loc[("mel", "stft"), "significant"] and row.loc[("mel", "stft"), "better"] == ""
    assert row.loc[("mel", "cqt"), "significant"] and row.loc[("mel", "cqt"), "better"] == "cqt"
    with pytest.raises(ValueError, match="duplicate"):
        pairwise_tests(pd.concat([frame, frame]), n_boot=10)
    with caplog.at_level("WARNING", logger="idsd.uncertainty"):
        pairwise_tests(frame, n_boot=100)  # 3 tests x 2 / 101 > 0.05: can never be significant
    assert "raise n_boot" in caplog.text


def test_ci_table_per_group_and_pooled():
    df = _clustered(np.random.default_rng(5), n_utt=20, clips=4)
    frame = pd.concat([df.assign(train_corpus=c, feature=f, split="eval", score=df.score + k)
                       for k, (c, f) in enumerate([("a", "mel"), ("a", "cqt"), ("b", "mel")])], ignore_index=True)
    table = ci_table(frame, by=("train_corpus", "feature"), n_boot=200)
    assert list(zip(table.train_corpus, table.feature)) == [("a", "cqt"), ("a", "mel"), ("b", "mel")]
    assert (table.n_groups == 40).all() and (table.lo <= table.eer).all() and (table.eer <= table.hi).all()
    one = bootstrap_eer(df.score, df.target, cluster_ids(df), n_boot=200)
    assert table.iloc[1][["eer", "lo", "hi"]].tolist() == [one["eer"], one["lo"], one["hi"]]
    assert table.text.iloc[0] == format_ci(table.eer.iloc[0], table.lo.iloc[0], table.hi.iloc[0])
    pooled = ci_table(frame, by=("feature",), n_boot=200)
    assert pooled.set_index("feature").loc["mel", "n_groups"] == 40  # the same utterances pooled: one unit each


def test_format_ci():
    assert format_ci(0.0523, 0.0311, 0.0768) == "0.052 [0.031, 0.077]"
    assert format_ci(0.5, 0.25, 0.75, digits=1) == "0.5 [0.2, 0.8]"
    assert format_ci(float("nan"), 0, 1) == "n/a" and format_ci(0.1, np.nan, np.nan) == "0.100"


def test_holm_resamples_let_the_smallest_adjusted_p_reach_the_target():
    from idsd.uncertainty import holm_resamples

    for m in (1, 3, 42, 500):
        n = holm_resamples(m, 1000)
        assert n >= 5000 and 2 * m / (n + 1) <= 0.01
    assert holm_resamples(42, 1000) == 8400 and holm_resamples(3, 200) == 1000
