"""``idsd bench cluster`` on a small manifest: identical caches, a ratio, and the scaling model's bounds."""

from __future__ import annotations

import json

import pytest

from idsd.bench.cluster import bench_manifest, scaling_model
from idsd.cli import main


def test_bench_cluster_command(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "cluster", "--clips", "48", "--batch-files", "8", "--folder", str(tmp_path / "b"),
                 "--nodes", "1", "4", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "48 clips" in text and "identical" in text and "DIFFERENT" not in text and "ratio" in text
    got = json.loads(out.read_text())
    (run,) = got["runs"]
    assert run["feature"] == "mel" and run["shards"] == 6 and run["identical"] is True
    assert run["in_process_s"] > 0 and run["cluster_s"] > 0 and run["driver_ms_per_shard"] > 0 and run["commit_ms"] > 0
    assert 0 < run["worker_ms_per_clip"] * 48 / 1e3 < 2 * run["cluster_s"]  # 2 workers' compute within the wall
    assert [r["nodes"] for r in got["scaling"]["mel"]] == [1, 4]
    # the audio is kept in --folder and reused by the next run
    assert len(list((tmp_path / "b" / "audio").rglob("*.wav"))) == 48


def test_bench_manifest_reuses_its_files(tmp_path):
    m = bench_manifest(tmp_path, 5, progress=False)
    stamps = [p.stat().st_mtime_ns for p in map(__import__("pathlib").Path, m["path"])]
    again = bench_manifest(tmp_path, 5, progress=False)
    assert list(again["path"]) == list(m["path"]) and list(m["target"]) == [0, 1, 0, 1, 0]
    assert [p.stat().st_mtime_ns for p in map(__import__("pathlib").Path, again["path"])] == stamps


def test_scaling_model_stops_at_the_driver_or_the_file_system():
    row = {"clips": 20_000, "shards": 313, "worker_ms_per_clip": 4.0, "driver_ms_per_shard": 20.0,
           "row_kb": 63.0}
    m = scaling_model(row, nodes=(1, 2, 64), cores_per_node=16, io_mb_s=1e9)
    # compute: 20,000 clips x 4 ms (one core) / 16 cores = 5 s on one node; the driver: 313 x 20 ms / 0.9
    assert m["compute_s"].tolist() == pytest.approx([5.0, 2.5, 5 / 64], rel=1e-3)
    assert m["bound"].tolist() == ["driver", "driver", "driver"] and m["total_s"].iloc[0] == pytest.approx(6.26 / 0.9)
    m = scaling_model(dict(row, driver_ms_per_shard=1.0), nodes=(1, 2, 64), io_mb_s=1e9)
    assert m["bound"].tolist() == ["compute", "compute", "driver"] and m["speedup"].iloc[1] == pytest.approx(2.0)
    slow_fs = scaling_model(dict(row, driver_ms_per_shard=1.0), nodes=(64,), io_mb_s=100.0)
    assert slow_fs["bound"].tolist() == ["file system"]
