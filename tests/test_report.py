"""idsd.report: one self-contained report.html, checked in headless Chromium (tests/browser.py)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from browser import open_in_chromium  # tests/browser.py
from matplotlib.figure import Figure  # no pyplot: drawn with Agg, whatever the backend

from idsd.paths import ROOT, Outputs
from idsd.report import build_report
from idsd.stage import FIELDS

COMMIT = "abc123def4567890abc123def4567890abc12345"
RESULTS = """# Results of the quick study

## 1. In-domain EER

Trained and evaluated on **mini-for**; EER from `pyeer`.

| representation | EER |
|:---|---:|
| mfcc | 0.1250 |
| stft | 0.0830 |

## 2. Cross-dataset EER

| train | eval | EER |
|:---|:---|---:|
| mini-for | mini-asvspoof | 0.3100 |
"""
EXPLANATIONS = """# Explanations

## 1. Band shares

| band | share |
|:---|---:|
| low | 0.6 |
| high | 0.4 |
"""
FIGURE_NAMES = ("cross_dataset_eer", "in_domain_eer", "score_histogram")


def make_outputs(base: Path) -> Outputs:
    out = Outputs(base).make()
    (out.tables / "results.md").write_text(RESULTS)
    (out.tables / "explanations.md").write_text(EXPLANATIONS)
    for i, name in enumerate(FIGURE_NAMES):
        fig = Figure(figsize=(3, 2))
        fig.add_subplot().plot([0, 1, 2], [i, i + 1, i * 2])
        fig.savefig(out.figures / f"{name}.png", dpi=50, metadata={"Software": None})
    (out.notebooks / "run.json").write_text(json.dumps(
        {"commit": COMMIT, "config": "configs/quick.yaml", "dirty": False, "started": "2025-01-02T03:04:05Z",
         "study_name": "quick"}))
    with open(out.notebooks / "timings.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for stage, seconds in (("01_data_prep", 12.5), ("02_spectrograms", 30.1), ("01_data_prep", 11.0)):
            writer.writerow(dict(stage=stage, status="ok", seconds=seconds, peak_rss_mib=512.0,
                                 finished="2025-01-02T03:10:00+00:00"))
    (out.manifests / "study.json").write_text(json.dumps({"source": "embedded"}))
    for name in ("01_data_prep", "02_spectrograms"):
        (out.notebooks / f"{name}.ipynb").write_text("")
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Outputs:
    return make_outputs(tmp_path_factory.mktemp("outputs"))


@pytest.fixture(scope="module")
def report(outputs) -> Path:
    return build_report(outputs)


def test_report_is_one_self_contained_file(outputs, report):
    assert report == outputs.base / "report.html"
    html = report.read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|//)""", html, flags=re.I)
    assert not re.search(r"""url\(""", html), "CSS must not load anything"
    srcs = re.findall(r"""\bsrc\s*=\s*["']([^"']*)""", html)
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    hrefs = re.findall(r"""\bhref\s*=\s*["']([^"']*)""", html)
    assert hrefs == ["notebooks/01_data_prep.ipynb", "notebooks/02_spectrograms.ipynb"]
    assert not list(report.parent.glob("report.html.tmp*"))
    assert COMMIT in html and "./run_all.sh --quick" in html and "embedded" in html
    # results, then explanations, then figures, then notebooks
    order = [html.index(s) for s in ("In-domain EER", "Band shares", "<figure", "Executed notebooks")]
    assert order == sorted(order)
    assert "<strong>mini-for</strong>" in html and "<code>pyeer</code>" in html
    # a caption of idsd.readme.FIGURES, else the name with spaces
    assert "<figcaption>Cross-dataset EER</figcaption>" in html
    assert "<figcaption>score histogram</figcaption>" in html
    # timings: the last row of each stage
    assert html.count("<td>01_data_prep</td>") == 1 and "<td>11.0</td>" in html


def test_report_loads_completely_in_chromium(report):
    page = open_in_chromium(report)
    assert page["broken"] == []
    assert page["expected"] == {"images": page["images"], "tables": page["tables"]}
    assert page["images"] == len(FIGURE_NAMES)
    assert page["tables"] == 2 + 1 + 1  # results, explanations, timings
    assert page["empty_tables"] == 0
    assert page["title"] == "IDSD study report: quick"


def test_corrupt_png_is_named(outputs, tmp_path):
    out = Outputs(tmp_path / "o")
    shutil.copytree(outputs.base, out.base)
    report = out.base / "report.html"
    before = report.read_bytes() if report.exists() else None
    bad = out.figures / "in_domain_eer.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match=re.escape(str(bad))) as err:
        build_report(out)
    assert "\n" not in str(err.value)
    (out.figures / "empty.png").write_bytes(b"")
    bad.unlink()
    with pytest.raises(ValueError, match="empty.png"):
        build_report(out)
    assert (report.read_bytes() if report.exists() else None) == before  # nothing half-written


def test_missing_results_is_an_error(tmp_path):
    out = Outputs(tmp_path).make()
    with pytest.raises(FileNotFoundError, match=r"results\.md.*run_all\.sh"):
        build_report(out)
    assert not (tmp_path / "report.html").exists()


def test_command_line(outputs, tmp_path):
    target = tmp_path / "cli"
    shutil.copytree(outputs.base, target)
    (target / "report.html").unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-m", "idsd.report", str(target)], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {target / 'report.html'}"
    assert (target / "report.html").is_file()
    (target / "tables" / "results.md").unlink()
    failed = subprocess.run([sys.executable, "-m", "idsd.report", str(target)], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert failed.returncode == 1 and "results.md" in failed.stderr and "Traceback" not in failed.stderr


def test_deterministic(outputs, report):
    first = report.read_bytes()
    assert build_report(outputs.base).read_bytes() == first
