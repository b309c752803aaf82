"""``idsd bench detect``: ms per 2-s window and peak RSS of ours vs the upstream one-clip loop."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

from idsd.bench.detect import format_lines, write_bench_file
from idsd.cli import main


def test_write_bench_file_whole_windows(tmp_path):
    f = write_bench_file(tmp_path / "b.wav", 5.0)  # rounded up to 3 windows
    info = sf.info(f)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 96000, "PCM_16")
    y, _ = sf.read(f)
    assert 0.1 < np.abs(y).max() <= 0.31  # speech-like level, no clipping
    g = write_bench_file(tmp_path / "c.wav", 4.0, sr=44100)
    assert sf.info(g).frames == 4 * 44100


@pytest.mark.slow
def test_bench_detect_cli_short_file(tmp_path, capsys):
    """No model installed: an untrained mfcc detector is built (and named); both paths run in children."""
    out = tmp_path / "bench.json"
    status = main(["bench", "detect", "--seconds", "6", "--feature", "mfcc", "--batch-size", "2",
                   "--outputs", str(tmp_path / "out"), "--json", str(out)])
    assert status == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert "untrained mfcc detector built for timing" in lines[0] and "3 windows" in lines[0]
    assert lines[1].startswith("ours") and lines[2].startswith("upstream")
    for line in lines[1:3]:
        assert re.search(r"\d+\.\d+ ms/window .* peak RSS \d+ MB", line), line
    assert re.match(r"upstream / ours: \d+\.\d+x time per window, \d+\.\d+x peak RSS", lines[3])
    res = json.loads(out.read_text())
    assert res["windows"] == 3 and res["feature"] == "mfcc" and set(res["runs"]) == {"ours", "upstream"}
    for run in res["runs"].values():
        assert run["windows"] == 3 and run["ms_per_window"] > 0 and run["peak_rss_mb"] >= run["warm_rss_mb"] > 0
    assert res["ratio"] == pytest.approx(res["runs"]["upstream"]["ms_per_window"] / res["runs"]["ours"]["ms_per_window"])
    assert res["max_score_diff"] < 1e-4  # the two paths score the same windows alike
    assert format_lines(res) == lines
