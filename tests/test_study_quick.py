"""The whole study at smoke scale: ./run_all.sh --quick runs notebooks 01-08 with papermill.

Asserts that every table and figure the README and the paper tables rely on was written, and
that the metrics are in valid ranges (values themselves are not pinned: tiny data, few epochs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from browser import open_in_chromium  # tests/browser.py

from idsd.paths import NOTEBOOKS, ROOT, Outputs
from idsd.study import Study

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

TABLES = [
    "data_counts", "shortcut_audit", "training_runs", "eval_metrics", "in_domain_eer", "in_domain_eer_vs_paper",
    "cross_dataset_pairs", "cross_dataset_by_feature", "cross_dataset_by_eval_corpus", "per_source_eer",
    "robustness_eer", "learning_curve_eer", "learning_curve_vs_paper", "hardware", "hardware_vs_paper",
    "in_domain_seed_spread", "in_domain_paired_tests", "learning_curve_change",
    "explain_band_shares", "explain_band_shares_by_source", "band_ablation",
]
FIGURES = [
    "data_distributions", "spectrogram_gallery", "learning_curves_training", "in_domain_eer", "cross_dataset_eer",
    "per_source_eer", "robustness_eer", "learning_curve", "hardware_requirements", "in_domain_eer_ci",
    "explain_profiles", "band_ablation", "explain_gallery",
]


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory) -> Outputs:
    base = tmp_path_factory.mktemp("study") / "outputs"
    env = dict(os.environ, IDSD_SKIP_APT="1")
    proc = subprocess.run([str(ROOT / "run_all.sh"), "--quick", "--outputs", str(base)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return Outputs(base)


def test_every_notebook_ran(quick_study):
    for nb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        assert (quick_study.notebooks / nb.name).is_file(), nb.name
        assert (quick_study.notebooks / "logs" / f"{nb.stem}.log").is_file()


def test_study_index_and_data(quick_study):
    study = Study.load(quick_study)
    assert study.quick and len(study.train_corpora) == 4
    modified = study.modified(quick_study)
    assert modified is not None and modified["condition"].nunique() == 16
    for name in study.eval_corpora:
        m = study.manifest(quick_study, name)
        assert set(m["split"]) == {"train", "dev", "eval"} and set(m["target"]) == {0, 1}


@pytest.mark.parametrize("name", TABLES)
def test_tables_written(quick_study, name):
    for ext in ("csv", "md", "tex"):
        path = quick_study.tables / f"{name}.{ext}"
        assert path.is_file() and path.stat().st_size > 0, path
    assert len(pd.read_csv(quick_study.tables / f"{name}.csv")) > 0


@pytest.mark.parametrize("name", FIGURES)
def test_figures_written(quick_study, name):
    for ext in ("png", "pdf"):
        path = quick_study.figures / f"{name}.{ext}"
        assert path.is_file() and path.stat().st_size > 1000, path


def test_metrics_in_valid_ranges(quick_study):
    pm = pd.read_csv(quick_study.tables / "eval_metrics.csv")
    for col in ("eer", "auc", "accuracy", "min_dcf"):
        assert pm[col].between(0, 1).all(), col
    assert (pm["cllr"] >= 0).all() and (pm["act_dcf"] >= 0).all()
    for name in ("in_domain_eer", "robustness_eer", "learning_curve_eer", "cross_dataset_by_feature"):
        cells = pd.read_csv(quick_study.tables / f"{name}.csv")  # one row per cell: eer with its interval
        assert cells[["eer", "lo", "hi"]].stack().between(0, 1).all(), name
        assert ((cells["lo"] <= cells["eer"] + 1e-12) & (cells["eer"] <= cells["hi"] + 1e-12)).all(), name
        assert (cells["n_bona"] > 0).all() and (cells["n_spoof"] > 0).all(), name
    lc = pd.read_csv(quick_study.tables / "learning_curve_eer.csv")
    assert all(g.sort_values("subset")["n_train"].is_monotonic_increasing for _, g in lc.groupby("feature"))
    ind = pd.read_csv(quick_study.tables / "in_domain_eer.csv")
    assert {"lfcc-gmm", "bands-lr"} <= set(ind["feature"]) and "Total" in set(ind["train_corpus"])  # baseline rows
    runs = pd.read_csv(quick_study.tables / "training_runs.csv")
    assert runs["stop_reason"].isin(["train_loss", "dev_auc", "cap"]).all() and (runs["seed"] > 0).any()
    hw = pd.read_csv(quick_study.tables / "hardware.csv")
    assert (hw["storage_gb_at_240k"] > 0).all() and (hw["extract_ms"] > 0).all()


def test_paper_values_beside_ours(quick_study):
    t = pd.read_csv(quick_study.tables / "in_domain_eer_vs_paper.csv").set_index("feature")
    assert t.loc["mel", "paper (F2S)"] == pytest.approx(0.0559)
    assert "ours (mini-for)" in t.columns
    results = (quick_study.tables / "results.md").read_text()
    assert "paper (F2S)" in results and "mini-for" in results


def test_explanations_of_every_model(quick_study):
    """Notebook 08: maps of every trained model, band shares where bins have Hz, band removal with
    intervals, and its conclusions in explanations.md."""
    from idsd.study import Study

    study = Study.load(quick_study)
    prof = pd.read_csv(quick_study.tables / "explain_profiles.csv")
    assert {(c, f) for c in study.train_corpora for f in ("mel", "mfcc")} <= set(zip(prof["train_corpus"], prof["feature"]))
    assert np.allclose(prof.groupby(["train_corpus", "feature", "group", "value"])["share"].sum(), 1.0)
    shares = pd.read_csv(quick_study.tables / "explain_band_shares.csv")
    assert set(shares["feature"]) == {"mel"}  # MFCC has no Hz axis
    bands = shares[["0-1 kHz", "1-4 kHz", "4-8 kHz"]].sum(axis=1)
    assert np.allclose(bands, 1.0, atol=1e-3)  # the table is rounded to 4 decimals
    abl = pd.read_csv(quick_study.tables / "band_ablation.csv")
    assert set(abl["band"]) == {"none", "0-1 kHz", "1-4 kHz", "4-8 kHz"}
    assert abl[["eer", "lo", "hi"]].stack().between(0, 1).all() and abl["p_holm"].dropna().between(0, 1).all()
    assert len(abl) == 4 * len(study.train_corpora) * 2
    page = (quick_study.tables / "explanations.md").read_text()
    assert "## 6. What the detector uses" in page and "**What this shows**" in page and "Band removal" in page


def test_report_opens_in_a_browser_with_every_figure_and_table(quick_study):
    report = quick_study.base / "report.html"
    seen = open_in_chromium(report)
    assert not seen["broken"], seen["broken"]
    assert seen["expected"] is not None and seen["images"] == seen["expected"]["images"]
    assert seen["tables"] == seen["expected"]["tables"] and seen["empty_tables"] == 0
    n_png = len(list(quick_study.figures.glob("*.png")))
    assert seen["images"] == n_png >= len(FIGURES)
    assert "What the detector uses" in report.read_text()


def test_default_detect_model_scores_a_file(quick_study, tmp_path):
    t = np.arange(16000 * 3) / 16000
    wav = tmp_path / "probe.wav"
    sf.write(wav, 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    exe = Path(sys.executable).with_name("idsd")
    proc = subprocess.run([str(exe), "detect", str(wav), "--outputs", str(quick_study.base), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    (entry,) = report["files"]
    from idsd import artifact
    from idsd.detect import decide, detect_files

    # the default model of the study, with the threshold stored in its record (its dev EER threshold)
    model = Path(report["detector"]["model"]).resolve()
    assert model.is_relative_to(Path(quick_study.models).resolve()) and model.suffix == ".keras"
    assert entry["threshold"] == pytest.approx(artifact.read_record(model)["threshold"])
    # 3 s -> two 2-s windows, the second half padding: the file score weights them 2 s : 1 s
    w = entry["window_scores"]
    assert entry["windows"] == len(w) == 2 and entry["duration_s"] == pytest.approx(3.0)
    assert entry["score"] == pytest.approx((2 * w[0] + 1 * w[1]) / 3, abs=1e-6)
    assert entry["decision"] == decide(entry["score"], entry["threshold"])
    # the command line scores as the Python API does with the same model
    results, errors = detect_files([wav], model)
    assert errors.empty and results["score"].iloc[0] == pytest.approx(entry["score"], abs=1e-6)


def test_training_and_tables_reproduce(quick_study, tmp_path):
    """The same data, seed and code train the same model: one cell of the quick grid retrained from
    scratch in a fresh outputs folder gives the same scores, so the tables reproduce."""
    import shutil

    from idsd import artifact, scoring
    from idsd import scores as score_files
    from idsd.train import TrainConfig, train_grid

    out = Outputs(tmp_path / "again").make()
    shutil.copytree(quick_study.manifests, out.manifests, dirs_exist_ok=True)
    study = Study.load(out)
    train_grid(out, study, ["mini-for"], ["mfcc"], "array", TrainConfig.from_profile("quick"), progress=False)
    models = artifact.find_models(out.models, ["mini-for"], "array", ["mfcc"])
    scoring.score_models(out, scoring.study_eval_sets(study, out, ["mini-for"]), models, study=study)
    run = "mfcc_avg_10"
    first = score_files.read_scores(quick_study.score_file("mini-for", "mini-for", "array", run))
    again = score_files.read_scores(out.score_file("mini-for", "mini-for", "array", run))
    assert np.array_equal(first["score"].to_numpy(), again["score"].to_numpy())
