"""Feature extraction on a Dask LocalCluster of two workers (idsd.shards): the same cache as in-process,
a worker killed mid-way is survived, shards a killed driver left are taken, bad files fail the same way."""

from __future__ import annotations

import os
import signal
import threading
import time

import distributed
import numpy as np
import pandas as pd
import pytest

from idsd import cache as C
from idsd import shards as S
from idsd.features import FeatureConfig


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, resources={"run": 1},
                                  dashboard_address=None, memory_limit="2GiB") as cluster, \
            distributed.Client(cluster) as c:
        yield c


def _files(cache_dir):
    """name -> bytes of every file of the one configuration folder (config.json excluded)."""
    (cdir,) = (cache_dir / "features").iterdir()
    return {p.name: p.read_bytes() for p in sorted(cdir.iterdir()) if p.is_file() and p.name != "config.json"}


def test_distributed_cache_is_the_in_process_cache(client, manifest_factory, tmp_path):
    m = manifest_factory(n_per_class={"train": 4, "dev": 1, "eval": 1}, seconds=4.0)  # 12 files, 24 rows
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    m = pd.concat([m, m.iloc[:1].assign(path=str(bad))], ignore_index=True)
    cfg = FeatureConfig("mfcc")
    ref = C.load_feature_set(m, cfg, tmp_path / "ref", progress=False, batch_files=4)
    dist = C.load_feature_set(m, cfg, tmp_path / "dist", progress=False, batch_files=4, client=client)
    assert _files(tmp_path / "ref") == _files(tmp_path / "dist")  # array and status table, byte for byte
    assert len(dist) == len(ref) == 24 and list(dist.rejected["file"]) == [str(bad)]
    assert np.array_equal(np.asarray(dist.X), np.asarray(ref.X))
    # no shard is left behind, and a second load submits nothing
    assert not list((tmp_path / "dist").rglob("*.shards"))
    with distributed.get_task_stream(client) as stream:
        C.load_feature_set(m, cfg, tmp_path / "dist", progress=False, batch_files=4, client=client)
    assert stream.data == []


def test_a_worker_killed_during_extraction_is_survived(client, manifest_factory, tmp_path):
    m = manifest_factory(n_per_class={"train": 6, "dev": 2, "eval": 2}, seconds=4.0)  # 20 files, 40 rows
    cfg = FeatureConfig("cqt")  # slow enough (tens of ms a clip) for the kill to land mid-way
    C.load_feature_set(m, cfg, tmp_path / "ref", progress=False, batch_files=1)
    killed = []

    def kill_one_worker():
        folder = tmp_path / "dist"
        t0 = time.time()
        while time.time() - t0 < 60:  # after the first shard is written, while the others run
            if list(folder.rglob("*.shards/*.json")) or list(folder.rglob("*.rows.csv")):
                pids = client.run(os.getpid)
                pid = sorted(pids.values())[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    dist = C.load_feature_set(m, cfg, tmp_path / "dist", progress=False, batch_files=1, client=client)
    killer.join()
    assert killed, "no worker was killed"
    assert _files(tmp_path / "ref") == _files(tmp_path / "dist")
    assert len(dist) == 40 and not list((tmp_path / "dist").rglob("*.shards"))
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker


def test_shards_a_killed_driver_left_are_taken_not_redone(manifest_factory, tmp_path, count_extraction):
    m = manifest_factory(n_per_class={"train": 3, "dev": 1, "eval": 1})  # 10 files, 10 rows
    cfg = FeatureConfig("mfcc")
    ref = C.load_feature_set(m, cfg, tmp_path / "ref", progress=False, batch_files=3)
    # what two workers of a driver killed before copying their shards leave behind
    ids = C.entry_ids(m)
    target = C.config_dir(tmp_path / "dist", cfg) / "leftover.npy"
    rows_of = {p: [i] for i, p in enumerate(m["path"])}
    frags = m["fragment"].to_numpy()
    for batch in (list(m["path"][:3]), list(m["path"][3:6])):
        S.extract_shard(str(target), S.shard_key([ids[rows_of[p][0]] for p in batch]), ids, batch, rows_of, frags, cfg)
    assert len(S.leftover_shards(target)) == 2
    calls = count_extraction()
    dist = C.load_feature_set(m, cfg, tmp_path / "dist", progress=False, batch_files=3, name="leftover")
    assert sum(calls) == 4  # the 6 rows of the two shards were taken
    assert np.array_equal(np.asarray(dist.X), np.asarray(ref.X))
    assert S.leftover_shards(target) == [] and not S.shard_dir(target).exists()
    # a shard of another version of the array (other entry ids) is ignored, not copied in
    S.extract_shard(str(target), "stale", ["x"] * len(ids), list(m["path"][:1]), rows_of, frags, cfg)
    calls.clear()
    again = C.load_feature_set(m, cfg, tmp_path / "dist", progress=False, name="leftover")
    assert calls == [] and np.array_equal(np.asarray(again.X), np.asarray(ref.X))
    assert S.leftover_shards(target) == []


def test_a_large_table_is_committed_sparsely(client, manifest_factory, tmp_path, monkeypatch):
    """Above SMALL_TABLE_ROWS the status table is not rewritten after every batch; shards copied into
    the array stay on disk until a written table covers them, and the result is the same."""
    m = manifest_factory(n_per_class={"train": 3, "dev": 1, "eval": 1})  # 10 files
    cfg = FeatureConfig("mfcc")
    ref = C.load_feature_set(m, cfg, tmp_path / "ref", progress=False, batch_files=2)
    monkeypatch.setattr(C, "SMALL_TABLE_ROWS", 0)
    monkeypatch.setattr(C, "COMMIT_SPACING", 1e9)  # only the first unforced commit and the final one
    writes = []
    real = C.write_csv
    monkeypatch.setattr(C, "write_csv", lambda df, path: (writes.append(path), real(df, path))[1])
    local = C.load_feature_set(m, cfg, tmp_path / "local", progress=False, batch_files=2)
    assert len(writes) == 2 and np.array_equal(np.asarray(local.X), np.asarray(ref.X))
    writes.clear()
    dist = C.load_feature_set(m, cfg, tmp_path / "dist", progress=False, batch_files=2, client=client)
    assert len(writes) == 2 and _files(tmp_path / "dist") == _files(tmp_path / "ref")
    assert len(dist) == 10 and not list((tmp_path / "dist").rglob("*.shards"))
