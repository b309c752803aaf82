"""Comparing two runs of the study (idsd.rerun, ``idsd compare-runs``)."""

import shutil

import numpy as np
import pandas as pd
import soundfile as sf

from idsd.cli import main
from idsd.rerun import compare_runs, reproduced


def _run(root, seed=0):
    rng = np.random.default_rng(seed)
    (root / "data" / "corpora" / "c").mkdir(parents=True)
    sf.write(root / "data" / "corpora" / "c" / "a.wav", rng.uniform(-0.5, 0.5, 800), 16000, subtype="PCM_16")
    (root / "scores" / "c" / "c" / "array").mkdir(parents=True)
    pd.DataFrame({"path": ["a.wav", "b.wav"], "score": [0.25, 1 / 3], "target": [1, 0]}).to_csv(
        root / "scores" / "c" / "c" / "array" / "mel_avg_10.csv", index=False)
    (root / "tables").mkdir()
    pd.DataFrame({"feature": ["mel"], "eer": [0.1], "lo": [0.05], "hi": [0.2], "wall_s": [rng.random()]}).to_csv(
        root / "tables" / "in_domain_eer.csv", index=False)
    pd.DataFrame({"feature": ["mel"], "extraction_ms": [rng.random()]}).to_csv(root / "tables" / "hardware.csv",
                                                                              index=False)
    return root


def test_two_identical_runs_reproduce_whatever_their_timings(tmp_path, capsys):
    a, b = _run(tmp_path / "a"), tmp_path / "b"
    shutil.copytree(a, b)
    # timings differ between runs: a wall-time column and the hardware table are not compared
    pd.DataFrame({"feature": ["mel"], "eer": [0.1], "lo": [0.05], "hi": [0.2], "wall_s": [99.0]}).to_csv(
        b / "tables" / "in_domain_eer.csv", index=False)
    pd.DataFrame({"feature": ["mel"], "extraction_ms": [5.0]}).to_csv(b / "tables" / "hardware.csv", index=False)
    summary, details = compare_runs(a, b)
    assert reproduced(summary), details
    assert summary.set_index("kind")["compared"].to_dict() == {"audio": 1, "scores": 1, "tables": 1}
    assert main(["compare-runs", str(a), str(b)]) == 0
    assert "reproduced" in capsys.readouterr().out


def test_a_changed_score_a_changed_clip_and_a_missing_table_are_reported(tmp_path, capsys):
    a, b = _run(tmp_path / "a"), tmp_path / "b"
    shutil.copytree(a, b)
    s = b / "scores" / "c" / "c" / "array" / "mel_avg_10.csv"
    pd.read_csv(s).assign(score=[0.25, 1 / 3 + 1e-15]).to_csv(s, index=False)  # one score, last digits
    x, sr = sf.read(b / "data" / "corpora" / "c" / "a.wav")
    x[10] = 0.0
    sf.write(b / "data" / "corpora" / "c" / "a.wav", x, sr, subtype="PCM_16")
    (b / "tables" / "in_domain_eer.csv").unlink()
    summary, details = compare_runs(a, b)
    assert not reproduced(summary)
    st = details.set_index("kind")["status"].to_dict()
    assert st == {"audio": "different", "scores": "different", "tables": "only in A"}
    assert "column 'score': 1 of 2 values differ" in details.loc[details["kind"] == "scores", "detail"].iloc[0]
    assert main(["compare-runs", str(a), str(b)]) == 1
    assert "NOT reproduced" in capsys.readouterr().out
    assert main(["compare-runs", str(a), str(tmp_path / "missing")]) == 2  # bad input: one line, exit 2


def test_paths_are_compared_relative_to_each_run(tmp_path):
    """Two clones in different folders write the same score files under different absolute paths."""
    a, b = _run(tmp_path / "clone1" / "outputs"), _run(tmp_path / "clone2" / "outputs")
    for root in (a, b):
        s = root / "scores" / "c" / "c" / "array" / "mel_avg_10.csv"
        pd.read_csv(s).assign(path=[str(root / "data" / "a.wav"), str(root / "data" / "b.wav")]).to_csv(s, index=False)
    summary, details = compare_runs(a, b)
    assert reproduced(summary), details
    s = b / "scores" / "c" / "c" / "array" / "mel_avg_10.csv"
    pd.read_csv(s).assign(path=[str(b / "data" / "a.wav"), str(b / "data" / "other.wav")]).to_csv(s, index=False)
    summary, details = compare_runs(a, b)
    assert not reproduced(summary)
    assert "column 'path': 1 of 2 values differ" in details.loc[details["kind"] == "scores", "detail"].iloc[0]
