"""`idsd bench features`, the hardware table and `idsd features`."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from idsd.bench.features import bench_clips, bench_features, format_lines
from idsd.cli import main
from idsd.hardware import COLUMNS, beside_paper, hardware_table, write_hardware_table


def test_bench_features_table():
    df = bench_features(clips=3, features=["mfcc", "stft"])
    assert list(df["feature"]) == ["mfcc", "stft"]
    assert (df["upstream_ms"] > 0).all() and (df["ours_ms"] > 0).all()
    assert np.allclose(df["speedup"], df["upstream_ms"] / df["ours_ms"])
    lines = format_lines(df)
    assert len(lines) == 3 and re.search(r"total \d+(\.\d+)?x$", lines[-1])


def test_bench_cli(capsys):
    assert main(["bench", "features", "--clips", "2", "--features", "mfcc"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("mfcc") and re.search(r"total \d+(\.\d+)?x$", out[-1])


def test_bench_clips_deterministic():
    a, b = bench_clips(2, seed=1), bench_clips(2, seed=1)
    assert a.shape == (2, 32000) and np.array_equal(a, b) and np.abs(a).max() <= 0.3 + 1e-6


def test_hardware_table(outputs):
    df = hardware_table(clips=2, features=["mel", "chroma"], n_samples=1000)
    assert list(df.columns) == list(COLUMNS)
    mel = df.set_index("feature").loc["mel"]
    assert mel["storage_bytes_per_clip"] == 256 * 126 * 4 and mel["storage_ratio"] == 0.5
    assert np.isclose(mel["storage_float32_gb"], 256 * 126 * 4 * 1000 / 1e9)
    assert (df["peak_ram_mib"] > 0).all()
    path = write_hardware_table(df, outputs)
    assert pd.read_csv(path).shape == df.shape
    side = beside_paper(df)
    assert np.isclose(side.loc["mel", "ours float32 GB"], 30.97, atol=0.01)  # paper: 31.0 GB
    assert side.loc["mel", "paper storage GB"] == 31.0


def test_features_cli(manifest_factory, tmp_path, capsys):
    m = manifest_factory(n_per_class={"train": 1, "eval": 1})
    mpath = tmp_path / "m.csv"
    m.to_csv(mpath, index=False)
    rc = main(["features", str(mpath), "--feature", "chroma", "--mode", "db", "--cache", str(tmp_path / "c"),
               "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "chroma/db: 4 rows (4, 12, 126) float16" in out
