"""idsd.evidence and idsd.conclusions: cells with intervals, seeds, paired tests, computed conclusions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from idsd import conclusions, evidence


def _scores(shifts: dict, n: int = 80, corpus: str = "c1", seed: int = 0, seeds=(0,)) -> pd.DataFrame:
    """In-domain eval score rows of several systems on the same trials (one path per trial)."""
    frames = []
    for system, shift in shifts.items():
        for sd in seeds:
            r = np.random.default_rng(seed * 100 + sd * 7 + sum(map(ord, system)))
            t = np.r_[np.ones(n, int), np.zeros(n, int)]
            s = np.r_[r.normal(shift, 1, n), r.normal(0, 1, n)]
            frames.append(pd.DataFrame({
                "train_corpus": corpus, "eval_corpus": corpus, "mode": "array", "feature": system, "pooling": "avg",
                "seed": sd, "run": f"{system}_avg_10", "dataset": corpus, "split": "eval", "condition": "clean",
                "path": [f"/{corpus}/{i}.wav" for i in range(2 * n)], "fragment": 0, "target": t,
                "speaker": [f"s{i % 6}" for i in range(2 * n)], "source": np.where(t == 1, "bonafide", "tts"),
                "score": 1 / (1 + np.exp(-s))}))
    return pd.concat(frames, ignore_index=True)


def test_primary_seed_keeps_the_lowest_seed_per_cell():
    s = _scores({"mel": 1.0, "mfcc": 2.0}, seeds=(0, 1, 2))
    p = evidence.primary_seed(s)
    assert set(p["seed"]) == {0} and len(p) == len(s) // 3
    spread = evidence.seed_spread(s)
    assert list(spread["n_seeds"]) == [3, 3] and (spread["eer_sd"] > 0).all()


def test_in_domain_cells_have_intervals_and_a_pooled_total():
    s = pd.concat([_scores({"mel": 1.0, "lfcc-gmm": 1.0}, corpus="c1"),
                   _scores({"mel": 2.0, "lfcc-gmm": 1.0}, corpus="c2", seed=1)])
    c = evidence.in_domain_cells(s, n_boot=200)
    assert set(c["train_corpus"]) == {"c1", "c2", "Total"}
    assert ((c["lo"] <= c["eer"]) & (c["eer"] <= c["hi"])).all()
    tot = c[(c["train_corpus"] == "Total") & (c["feature"] == "mel")].iloc[0]
    assert tot["n_bona"] == 160 and tot["n_spoof"] == 160  # pooled trials of both corpora
    w = evidence.wide(c, "feature", "train_corpus", column_order=["c1", "c2", "Total"])
    assert list(w.index) == ["mel", "lfcc-gmm"] and list(w.columns) == ["c1", "c2", "Total"]
    assert all("[" in v for v in w.to_numpy().ravel())


def test_equal_systems_are_not_ranked_and_the_conclusion_says_so():
    s = _scores({"mel": 1.5, "cqt": 1.5, "mfcc": 3.5, "bands-lr": 3.5}, n=120)
    cells = evidence.in_domain_cells(s, n_boot=200)
    tests = evidence.paired_tests(s, by=("train_corpus",), n_boot=2000)
    melcqt = tests[(tests["a"] == "mel") & (tests["b"] == "cqt")].iloc[0]
    assert not melcqt["significant"] and melcqt["better"] == ""
    mfcc_mel = tests[(tests["a"] == "mel") & (tests["b"] == "mfcc")].iloc[0]
    assert mfcc_mel["significant"] and mfcc_mel["better"] == "mfcc"
    text = conclusions.in_domain(cells, tests)
    assert "lowest detector EER mfcc" in text
    assert "does not differ significantly from bands-lr" in text  # same shift as the best: no claim


def test_training_conclusions_count_the_stopping_rules():
    runs = pd.DataFrame({"train_corpus": ["a", "a", "b"], "name": ["mel_avg_10", "mfcc_avg_10", "mel_avg_10"],
                         "epochs": [20, 60, 12], "stop_reason": ["dev_auc", "cap", "train_loss"]})
    text = conclusions.training(runs)
    assert "3 runs" in text and "1 stopped by: dev AUC plateau" in text
    assert "Reached the epoch cap" in text and "a/mfcc_avg_10" in text


def test_robustness_conclusions_flag_degradation_and_inversion():
    cells = pd.DataFrame({"feature": ["mel"] * 4, "condition": ["clean", "mp3", "downsample", "reverb"],
                          "eer": [0.05, 0.30, 0.62, 0.52], "lo": [0.03, 0.25, 0.55, 0.45],
                          "hi": [0.08, 0.36, 0.69, 0.58], "n_bona": 100, "n_spoof": 100, "n_groups": 200})
    text = conclusions.robustness(cells)
    assert "**mp3**: clearly worse than clean for mel" in text
    assert "**downsample**: clearly worse than clean for mel; inverted scores (EER interval above 0.5) for mel" in text
    # 0.52 with an interval containing 0.5 is chance, not inversion
    assert "**reverb**: clearly worse than clean for mel." in text


def test_cross_dataset_conclusions_tell_inverted_from_chance():
    cells = pd.DataFrame({"feature": ["mel", "mfcc", "chroma"], "eer": [0.30, 0.502, 0.60],
                          "lo": [0.25, 0.45, 0.55], "hi": [0.35, 0.53, 0.66]})
    text = conclusions.cross_dataset(cells)
    assert "Inverted scores across corpora (EER interval above 0.5): chroma." in text
    assert "At chance across corpora (interval contains 0.5): mfcc." in text


def test_every_cell_carries_pyeers_eer_of_its_trials_beside_the_paper():
    """The paper's EER definition (pyeer) sits beside the ASVspoof EER in every cell and in the
    ``_vs_paper`` table, computed on exactly the cell's trials (pyeer itself is the reference)."""
    from pyeer.eer_stats import calculate_roc, get_eer_values

    from idsd import reports

    s = pd.concat([_scores({"mel": 0.8, "mfcc": 1.5}, n=60, corpus="for-2sec"),
                   _scores({"mel": 1.2, "mfcc": 0.6}, n=60, corpus="mine", seed=3)])
    s["score"] = np.round(s["score"], 2)  # ties, where the two definitions part most
    c = evidence.in_domain_cells(s, n_boot=50)
    for r in c.itertuples():
        rows = s if r.train_corpus == "Total" else s[s["train_corpus"] == r.train_corpus]
        rows = rows[rows["feature"] == r.feature]
        g, i = rows.loc[rows.target == 1, "score"].to_numpy(), rows.loc[rows.target == 0, "score"].to_numpy()
        _, fmr, fnmr = calculate_roc(g.astype(float), i.astype(float))
        assert r.pyeer_eer == pytest.approx(get_eer_values(fmr, fnmr)[3], abs=1e-12)
    assert (c["pyeer_eer"] != c["eer"]).any()  # they are different numbers, so both are shown
    numeric, shown = reports.in_domain_ci_beside_paper(c, {"for-2sec": "F2S"})
    cols = list(numeric.columns)
    assert cols.index("ours (for-2sec) pyeer") == cols.index("ours (for-2sec) hi") + 1
    assert cols.index("paper (F2S)") == cols.index("ours (for-2sec) pyeer") + 1
    assert "ours (mine) pyeer" in cols and "paper (mine)" not in " ".join(cols)
    mel = c[(c.train_corpus == "for-2sec") & (c.feature == "mel")].iloc[0]
    assert numeric.loc["mel", "ours (for-2sec) pyeer"] == mel["pyeer_eer"]
    assert shown.loc["mel", "ours (for-2sec) pyeer"] == f"{mel['pyeer_eer']:.4f}"
