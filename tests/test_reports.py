"""idsd.reports / idsd.plots / idsd.paper_values: files written, paper values beside ours, labels."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from idsd import paper_values as P
from idsd import plots, reports
from idsd.study import CorpusEntry, Study

PAPER_MD = Path(__file__).resolve().parents[1] / "docs" / "paper.md"


def _paper_section(number: str) -> str:
    text = PAPER_MD.read_text(encoding="utf-8")
    start = text.index(f"### {number} ")
    end = text.find("\n#", start + 1)
    return text[start:end if end >= 0 else None]


def test_paper_values_match_paper_md():
    """Every cell of the in-domain table and the numbers the text of docs/paper.md section 9 states
    are what idsd.paper_values hands to the tables (read from the document, not copied here)."""
    rows = [line.strip("|").split("|") for line in _paper_section("9.1").splitlines() if line.startswith("|")]
    header, body = [c.strip() for c in rows[0]], [[c.strip() for c in r] for r in rows[2:]]
    doc = pd.DataFrame([[float(c) for c in r[1:]] for r in body], index=[r[0] for r in body], columns=header[1:])
    t = P.in_domain_eer()
    assert list(t.columns) == header[1:] and list(t.index) == list(doc.index) and len(doc) == 5
    pd.testing.assert_frame_equal(t, doc, check_names=False)
    # "Total is not the mean of the rows" (9.1)
    assert (t.loc["Total"] - t.drop(index="Total").mean()).abs().max() > 1e-3

    lc = P.learning_curve()
    n = sorted(set(lc["n_train"]))
    assert (n[0], n[-1], len(n)) == (24_000, 240_000, 10)  # "ten subsets, 24,000 to 240,000" (9.2)
    assert lc.groupby("feature").size().eq(10).all() and set(lc["feature"]) == set(t.columns)
    last = lc[lc["subset"] == 10].set_index("feature")["eer"]
    # "the last point equals the WF row of 9.1", to the table's 4 decimals
    pd.testing.assert_series_equal(last.reindex(t.columns), t.loc["WF"], check_names=False, check_exact=False,
                                   rtol=0, atol=1.5e-4)

    hw = P.hardware()
    text = " ".join(_paper_section("9.3").split())
    stated = re.search(r"Storage = [^(]*\(([^)]*)\)", text).group(1)  # "mel 31.0, stft 62.0, cqt and vqt 10.2, ..."
    storage = dict(re.findall(r"\b(mel|stft|iirt|mfcc|chroma) (\d+\.\d)", stated))
    storage["cqt"] = storage["vqt"] = re.search(r"cqt and vqt (\d+\.\d)", stated).group(1)
    assert hw["storage_gb"].to_dict() == {f: float(v) for f, v in storage.items()}
    assert hw["extract_ms"].idxmax() == "iirt" and hw["extract_ms"].max() == pytest.approx(167, abs=0.5)
    assert hw["extract_ms"].idxmin() == "stft" and hw["extract_ms"].min() == pytest.approx(0.85, abs=0.005)
    # the normalised columns are each column over its maximum (the paper's bar chart)
    for col, norm in (("storage_gb", "storage_norm"), ("ram_gb", "ram_norm"), ("extract_ms", "time_norm")):
        assert hw[norm].max() == 1.0 and np.allclose(hw[norm] * hw[col].max(), hw[col])
    assert P.paper_label("F2S") == "F2S (FoR for-2seconds)" and P.paper_label("mini-for") == "mini-for"


def test_write_table_formats(outputs):
    df = pd.DataFrame({"mel": [0.01234567, np.nan], "mfcc_x": [0.5, 0.25]}, index=["mini-for", "Total"])
    paths = reports.write_table(df, "t1", outputs, caption="Caption & more")
    assert set(paths) == {"csv", "md", "tex"}
    back = pd.read_csv(paths["csv"], index_col=0)
    assert back.loc["mini-for", "mel"] == pytest.approx(0.01234567)  # full precision
    md = paths["md"].read_text()
    assert md.startswith("Caption & more") and "0.0123" in md and "–" in md and "|" in md
    tex = paths["tex"].read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "mfcc\\_x" in tex and "Caption \\& more" in tex and "--" in tex


def test_save_figure_is_deterministic(outputs):
    import matplotlib.pyplot as plt

    def make():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        return fig

    p1 = reports.save_figure(make(), "f", outputs)
    b1 = {k: v.read_bytes() for k, v in p1.items()}
    p2 = reports.save_figure(make(), "f", outputs)
    assert {k: v.read_bytes() for k, v in p2.items()} == b1
    assert b1["png"][:4] == b"\x89PNG" and b1["pdf"][:4] == b"%PDF"
    assert b"CreationDate" not in b1["pdf"]


def test_in_domain_beside_paper_labels_every_corpus():
    ours = pd.DataFrame({"mel": [0.1, 0.2, 0.15], "mfcc": [0.05, 0.1, 0.08]},
                        index=["mini-for", "mini-asvspoof", "Total"])
    study = Study("embedded", [CorpusEntry("mini-for", "m1.csv", True, "F2S"),
                               CorpusEntry("mini-asvspoof", "m2.csv", True, "AS19"),
                               CorpusEntry("extra", "m3.csv", False, "")])
    mapping = reports.corpus_map(study)
    assert mapping == {"mini-for": "F2S", "mini-asvspoof": "AS19"}
    t = reports.in_domain_beside_paper(ours, mapping)
    assert list(t.columns) == ["ours (mini-for)", "paper (F2S)", "ours (mini-asvspoof)", "paper (AS19)",
                               "ours (Total: mini-for+mini-asvspoof)", "paper (Total: F2S+FREC+AS19+WF)"]
    assert t.loc["mel", "ours (mini-for)"] == 0.1 and t.loc["mel", "paper (F2S)"] == 0.0559
    assert t.loc["mfcc", "paper (AS19)"] == 0.1571
    note = reports.corpus_note(mapping)
    assert "`mini-for` stands for F2S (FoR for-2seconds)" in note and "different experiment" in note


def test_learning_curve_beside_paper_aligns_fractions():
    lc = pd.DataFrame([{"subset": k, "n_subsets": 3, "n_train": 10 * k, "feature": f, "eer": 0.1 * k}
                       for f in ("mfcc",) for k in (1, 2, 3)])
    t = reports.learning_curve_beside_paper(lc, "mini-wavefake", "WF")
    assert list(t.index) == [round(1 / 3, 6), round(2 / 3, 6), 1.0]
    assert t.loc[1.0, "paper (WF) mfcc"] == 0.00394 and t.loc[1.0, "paper (WF) n_train"] == 240_000
    assert np.isnan(t.loc[round(1 / 3, 6), "paper (WF) mfcc"])  # the paper has no 1/3 point
    assert t.loc[1.0, "ours (mini-wavefake) mfcc"] == pytest.approx(0.3)
    assert "paper (WF) mel" not in t  # only features we ran
    # with pyeer's EER of the same runs, it follows the ASVspoof EER of each representation
    lc["pyeer_eer"] = lc["eer"] + 0.01
    t = reports.learning_curve_beside_paper(lc, "mini-wavefake", "WF")
    cols = list(t.columns)
    assert cols.index("ours (mini-wavefake) mfcc pyeer") == cols.index("ours (mini-wavefake) mfcc") + 1
    assert t.loc[1.0, "ours (mini-wavefake) mfcc pyeer"] == pytest.approx(0.31)


def test_hardware_beside_paper():
    hw = pd.DataFrame({"storage_gb_at_240k": [30.97, 2.4], "extract_ms": [1.9, 0.6],
                       "train_peak_ram_gb": [3.0, 1.0], "train_samples_per_s": [221, 783],
                       "storage_norm": [1, 0.08], "ram_norm": [1, 0.33], "time_norm": [1, 0.3]},
                      index=pd.Index(["mel", "mfcc"], name="feature"))
    t = reports.hardware_beside_paper(hw)
    assert t.loc["mel", "paper storage GB"] == 31.0 and t.loc["mel", "ours storage GB @240k"] == 30.97
    assert t.loc["mfcc", "paper extract ms/sample"] == 5.534 and t.loc["mfcc", "ours extract ms/clip"] == 0.6


def test_results_markdown(outputs):
    text = reports.results_markdown(
        [("1. In-domain", "note", pd.DataFrame({"ours (mini-for)": [0.1]}, index=["mel"])),
         ("2. Cross", "", pd.DataFrame()), ("3. Text only", "just text", None)],
        title="Results", preamble="pre")
    assert text.startswith("# Results\n\npre") and "ours (mini-for)" in text and "no results" in text
    p = reports.write_results_markdown(text, outputs)
    assert p == outputs.tables / "results.md" and p.read_text() == text


def test_figures_render(outputs):
    rng = np.random.default_rng(0)
    curves = {"mel": (rng.normal(1, 1, 50), rng.normal(0, 1, 40)), "empty": ([], [0.1])}
    for name, fig in {
        "det": plots.det_plot(curves, "DET (mini-for)"),
        "roc": plots.roc_plot(curves, "ROC (mini-for)"),
        "heat": plots.eer_heatmap(pd.DataFrame({"a": [0.1, np.nan]}, index=["mel", "mfcc"]), "EER"),
        "lc": plots.learning_curve_plot(pd.DataFrame({"n_train": [10, 20, 10, 20], "eer": [0.3, 0.2, 0.4, 0.1],
                                                      "feature": ["mel", "mel", "mfcc", "mfcc"]}), "mini-wavefake"),
        "hw": plots.hardware_bars(pd.DataFrame({"storage_norm": [1, 0.1], "ram_norm": [1, 0.5],
                                                "time_norm": [0.2, 1]}, index=["mel", "mfcc"])),
        "src": plots.per_source_bars(pd.DataFrame({"source": ["a", "b"], "eer": [0.1, 0.2],
                                                   "feature": ["mel", "mel"]}), "per source"),
    }.items():
        paths = reports.save_figure(fig, name, outputs)
        assert paths["png"].stat().st_size > 1000
    import matplotlib.pyplot as plt

    fig = plots.learning_curve_plot(pd.DataFrame({"n_train": [1], "eer": [0.1], "feature": ["mfcc"]}), "c")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["ours (c)", "paper (WF (WaveFake + LJSpeech + JSUT))"]
    plt.close(fig)


def test_write_results_end_to_end(outputs):
    """Five results from generated score files: intervals, baselines, seeds, paired tests, conclusions."""
    from idsd import artifact as A
    from idsd import scores as S

    rng = np.random.default_rng(1)
    study = Study("embedded", [CorpusEntry("mini-for", "manifests/mini-for.csv", True, "F2S"),
                               CorpusEntry("mini-wavefake", "manifests/mini-wavefake.csv", True, "WF")],
                  modified_manifest="manifests/modified.csv", modified_base="mini-for",
                  learning_curve_corpus="mini-wavefake")

    def frame(n, shift, split="eval", condition="clean", dataset="mini-for"):
        r = pd.DataFrame({"path": [f"/x/{dataset}/{split}/{i}.wav" for i in range(2 * n)], "dataset": dataset,
                          "split": split, "target": [1] * n + [0] * n, "source": ["bonafide"] * n + ["tts"] * n,
                          "condition": condition, "speaker": [f"s{i % 5}" for i in range(2 * n)]})
        s = np.r_[rng.normal(shift, 1, n), rng.normal(0, 1, n)]
        return S.score_frame(r, 1 / (1 + np.exp(-s)))

    # mfcc separates well (shift 4), mel barely (0.3); a second mfcc seed; two baselines
    systems = {"mel_avg_10": 0.3, "mfcc_avg_10": 4.0, "mfcc_avg_10-seed1": 3.5}
    for run, shift in systems.items():
        for tc in ("mini-for", "mini-wavefake"):
            rng = np.random.default_rng(zlib.crc32(f"{run}{tc}".encode()))
            S.write_scores(pd.concat([frame(40, shift, "dev", dataset=tc), frame(60, shift, dataset=tc)]),
                           S.score_path(outputs, tc, tc, "array", run))
            other = "mini-wavefake" if tc == "mini-for" else "mini-for"
            S.write_scores(frame(40, 0.5, dataset=other), S.score_path(outputs, tc, other, "array", run))
        S.write_scores(pd.concat([frame(30, 1, condition="mp3"), frame(30, -1.5, condition="noise")]),
                       S.score_path(outputs, "mini-for", S.MODIFIED, "array", run))
    for kind, shift in (("lfcc-gmm", 1.5), ("bands-lr", 1.0)):
        for tc in ("mini-for", "mini-wavefake"):
            rng = np.random.default_rng(zlib.crc32(f"{kind}{tc}".encode()))
            S.write_scores(frame(60, shift, dataset=tc), S.score_path(outputs, tc, tc, S.BASELINE_MODE, kind))
    lc = []
    for k in range(1, 4):
        rng = np.random.default_rng(k)
        S.write_scores(frame(50, k, dataset="mini-wavefake"),
                       outputs.scores / A.LEARNING_CURVE / "mini-wavefake" / "array" / f"{k}of3" / "mfcc_avg_10.csv")
        lc.append({"corpus": "mini-wavefake", "feature": "mfcc", "subset": k, "n_subsets": 3, "fraction": k / 3,
                   "n_train": 10 * k, "eer": 0.5 / k, "run": "mfcc_avg_10"})
    pd.DataFrame(lc).to_csv(outputs.learning_curve_table, index=False)
    from idsd.hardware import COLUMNS, write_hardware_table

    bench = pd.DataFrame([{c: 1.0 for c in COLUMNS} | {"feature": f, "mode": "array", "shape": "x", "device": "cpu",
                                                       "batch_ms_per_clip": ms} for f, ms in (("mel", 1.9), ("mfcc", 0.6))])
    write_hardware_table(bench, outputs)

    tables, files = reports.write_results(outputs, study, n_boot=200)
    assert all(p.is_file() for p in files)
    for name in ("in_domain_eer", "in_domain_eer_vs_paper", "in_domain_seed_spread", "in_domain_paired_tests",
                 "cross_dataset_by_feature", "learning_curve_vs_paper", "learning_curve_change", "hardware_vs_paper",
                 "robustness_eer"):
        assert (outputs.tables / f"{name}.md").is_file(), name
    for fig in ("in_domain_eer", "in_domain_eer_ci", "cross_dataset_eer", "learning_curve", "hardware_requirements",
                "robustness_eer"):
        assert (outputs.figures / f"{fig}.png").is_file(), fig
    md = (outputs.tables / "results.md").read_text()
    assert "ours (mini-for)" in md and "paper (F2S)" in md
    assert "`mini-for` stands for F2S (FoR for-2seconds)" in md
    assert tables["in_domain_eer_vs_paper"].loc["mfcc", "paper (F2S)"] == 0.0070

    # every EER of ours carries an interval: CSV has eer/lo/hi, Markdown shows "eer [lo, hi]"
    cells = pd.read_csv(outputs.tables / "in_domain_eer.csv")
    assert {"eer", "lo", "hi", "n_bona", "n_spoof", "n_groups"} <= set(cells.columns)
    assert ((cells["lo"] <= cells["eer"]) & (cells["eer"] <= cells["hi"])).all()
    assert set(cells["feature"]) == {"mel", "mfcc", "lfcc-gmm", "bands-lr"}  # baseline rows, main seed only
    assert "Total" in set(cells["train_corpus"])
    shown = (outputs.tables / "in_domain_eer.md").read_text()
    assert re.search(r"0\.\d{3} \[0\.\d{3}, 0\.\d{3}\]", shown)
    # the seed spread uses both mfcc seeds; the paired test finds mfcc better than mel on both corpora
    spread = tables["in_domain_seed_spread"]
    assert set(spread["feature"]) == {"mfcc"} and (spread["n_seeds"] == 2).all()
    tests = tables["in_domain_paired_tests"]
    mm = tests[((tests["a"] == "mel") & (tests["b"] == "mfcc"))]
    assert len(mm) == 3 and mm["significant"].all() and (mm["better"] == "mfcc").all()  # 2 corpora + Total
    # conclusions are computed: the best representation and its comparison with the baselines
    assert "lowest detector EER mfcc" in md and "beats lfcc-gmm" in md
    assert list(tables["robustness_eer"].columns) == ["clean", "mp3", "noise"]
    assert "inverted scores" in md  # noise shifts fakes above reals: EER > 0.5 is called out


def test_protocol_note_states_every_departure_from_the_paper():
    from idsd.reports import protocol_note

    cpu = {"mode": "array", "config": {"profile": "cpu", "bf16": True}, "batch_size": 32, "max_epochs": 60,
           "dev_patience": 6, "min_epochs": 10}
    text = protocol_note([cpu, dict(cpu, mode="image", batch_size=32)], "array")
    assert "profile cpu, batch 32 (paper: 128), mixed_bfloat16, at most 60 epochs" in text
    assert "not improving for 6 epochs from epoch 10" in text and "float32 at batch 128" in text
    paper = {"mode": "image", "config": {"profile": "paper", "bf16": False}, "batch_size": 32, "max_epochs": 500,
             "dev_patience": None, "min_epochs": None}
    text = protocol_note([paper], "image")
    assert "batch 32, float32, at most 500 epochs" in text and "dev plateau" not in text and "(paper:" not in text
    assert protocol_note([paper], "array") == ""
