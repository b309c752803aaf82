"""``idsd bench cluster``: feature extraction of one large manifest in-process vs a Dask LocalCluster.

Both paths fill a fresh cache (:func:`idsd.cache.load_feature_set`) from the same audio files, in
the same batches of ``batch_files`` files; the distributed one runs each batch as a task on the
workers (:mod:`idsd.shards`) and the driver copies the shards into the array. The run checks that
both caches hold the same bytes, and measures what the scaling model for N nodes needs: the
workers' cost per clip and the driver's cost per shard (copying a shard into the memory map and
rewriting the status table).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from idsd import SAMPLE_RATE

log = logging.getLogger(__name__)


def bench_manifest(folder: str | Path, n_clips: int = 20_000, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """``n_clips`` two-second 16-bit WAV files under ``folder`` (reused when present) and their manifest.

    The clips are the speech-like signals of :func:`idsd.bench.features.bench_clips` (256 distinct
    ones, cycled: extraction cost does not depend on which clip it is).

    Returns
    -------
    pandas.DataFrame
        ``path, fragment, target, split`` (one fragment per file, alternating labels).
    """
    import soundfile as sf

    from idsd.bench.features import bench_clips
    from idsd.progress import tqdm

    folder = Path(folder)
    Y = bench_clips(min(256, n_clips), seed)
    paths = []
    for i in tqdm(range(n_clips), desc="bench audio", unit="file", disable=not progress):
        p = folder / f"{i // 1000:03d}" / f"clip{i:06d}.wav"
        if not p.is_file():
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, Y[i % len(Y)], SAMPLE_RATE, subtype="PCM_16")
        paths.append(str(p))
    return pd.DataFrame({"path": paths, "fragment": 0, "target": np.arange(n_clips) % 2, "split": "train"})


def _array_files(cache_dir: Path) -> dict[str, bytes]:
    (cdir,) = (cache_dir / "features").iterdir()
    return {p.name: p.read_bytes() for p in sorted(cdir.iterdir()) if p.suffix in (".npy", ".csv")}


def driver_costs(manifest: pd.DataFrame, cache_dir: Path, batch_files: int) -> dict[str, float]:
    """Seconds the driver spends per shard, and per commit of the status table.

    Measured on the filled cache of ``cache_dir`` with a shard of ``batch_files`` rows written
    as a worker writes it (not timed): ``apply_s`` reads it back (:func:`idsd.shards.read_shard`),
    copies it into the memory map (:func:`~idsd.shards.apply_shard`) and deletes it;
    ``commit_s`` flushes the map and rewrites the whole ``.rows.csv`` atomically, which
    :func:`idsd.cache.load_feature_set` does at most once every :data:`idsd.cache.COMMIT_SPACING`
    commit durations for a large table.
    """
    from idsd import shards
    from idsd.cache import DONE, entry_ids
    from idsd.files import write_csv

    (cdir,) = (cache_dir / "features").iterdir()
    (arr_path,) = [p for p in cdir.glob("*.npy")]
    table = pd.read_csv(arr_path.with_suffix("").with_suffix(".rows.csv"), keep_default_na=False, dtype={"id": str})
    X = np.load(arr_path, mmap_mode="r+", allow_pickle=False)
    ids = entry_ids(manifest)
    rows = np.arange(min(batch_files, len(ids)), dtype=np.int64)
    result = shards.ShardResult(rows, np.full(len(rows), DONE, np.int8), table["crc"].to_numpy()[rows],
                                [""] * len(rows), np.asarray(X[rows]))
    status, crcs = table["status"].to_numpy().copy(), table["crc"].to_numpy().copy()
    reasons = table["reason"].astype(str).to_numpy().astype(object)
    folder = Path(tempfile.mkdtemp(dir=cdir))
    reps, apply_s, commit_s = 5, 0.0, 0.0
    for _ in range(reps):
        meta = shards.write_shard(folder, "bench", ids, result)
        t0 = time.perf_counter()
        shards.apply_shard(shards.read_shard(meta, ids), X, status, crcs, reasons)
        shards.remove_shard(meta)
        t1 = time.perf_counter()
        X.flush()
        write_csv(table, folder / "bench.rows.csv")
        apply_s += t1 - t0
        commit_s += time.perf_counter() - t1
    shutil.rmtree(folder)
    return {"apply_s": apply_s / reps, "commit_s": commit_s / reps}


def bench_cluster(n_clips: int = 20_000, features=("mel",), workers: int = 2, threads: int = 1,
                  batch_files: int = 64, folder: str | Path | None = None, seed: int = 0,
                  progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Extraction of one ``n_clips`` manifest in-process vs on a LocalCluster, per feature, in one run.

    Parameters
    ----------
    n_clips : int
        Files of the manifest (one 2-s fragment each).
    features : sequence of str
    workers, threads : int
        LocalCluster worker processes and threads per worker.
    batch_files : int
        Files per batch (in-process) = per shard (one task).
    folder : str or Path, optional
        Where the audio and the two caches go (default: a temporary folder, removed afterwards;
        the audio is kept and reused when a folder is given).

    Returns
    -------
    (DataFrame, dict)
        One row per feature: ``feature``, ``clips``, ``shards``, ``in_process_s``, ``cluster_s``,
        ``ratio`` (in-process / cluster), ``in_process_ms_per_clip``, ``cluster_ms_per_clip``,
        ``worker_ms_per_clip`` (task compute time per clip on one worker thread: decode, extract, write
        the shard), ``driver_ms_per_shard`` (read, copy and delete a shard), ``commit_ms`` (one
        write of the status table), ``row_kb``, ``identical``; and the run's facts (cluster start-up
        seconds, decode ms per clip, workers, threads, cores of the machine).
    """
    import os

    import distributed

    from idsd.audio import load_audio
    from idsd.cache import load_feature_set
    from idsd.cluster import open_client
    from idsd.features import FeatureConfig, warm_numba_cache

    own = folder is None
    root = Path(tempfile.mkdtemp(prefix="idsd-bench-cluster-")) if own else Path(folder)
    try:
        manifest = bench_manifest(root / "audio", n_clips, seed, progress)
        t0 = time.perf_counter()
        probe = manifest["path"].iloc[: min(500, n_clips)]
        for p in probe:
            load_audio(p)
        decode_ms = 1e3 * (time.perf_counter() - t0) / len(probe)
        warm_numba_cache()
        facts = {"clips": n_clips, "workers": workers, "threads_per_worker": threads, "batch_files": batch_files,
                 "cpu_count": os.cpu_count(), "decode_ms_per_clip": round(decode_ms, 3),
                 "dask": distributed.__version__}
        rows = []
        t0 = time.perf_counter()
        with open_client({"kind": "local", "workers": workers, "cores": threads}) as client:
            facts["cluster_start_s"] = round(time.perf_counter() - t0, 2)
            for feature in features:
                cfg = FeatureConfig(feature)
                caches = {k: root / f"cache-{feature}-{k}" for k in ("in_process", "cluster")}
                for d in caches.values():
                    shutil.rmtree(d, ignore_errors=True)
                t0 = time.perf_counter()
                load_feature_set(manifest, cfg, caches["in_process"], progress=progress, batch_files=batch_files)
                local_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                with distributed.get_task_stream(client) as stream:
                    load_feature_set(manifest, cfg, caches["cluster"], progress=progress, batch_files=batch_files,
                                     client=client)
                cluster_s = time.perf_counter() - t0
                worker_s = sum(ss["stop"] - ss["start"] for task in stream.data
                               if str(task.get("key", "")).startswith("extract-")
                               for ss in task.get("startstops", ()) if ss.get("action") == "compute")
                same = _array_files(caches["in_process"]) == _array_files(caches["cluster"])
                costs = driver_costs(manifest, caches["cluster"], batch_files)
                shards = -(-n_clips // batch_files)
                rows.append({"feature": feature, "clips": n_clips, "shards": shards,
                             "in_process_s": round(local_s, 2), "cluster_s": round(cluster_s, 2),
                             "ratio": round(local_s / cluster_s, 3),
                             "in_process_ms_per_clip": round(1e3 * local_s / n_clips, 3),
                             "cluster_ms_per_clip": round(1e3 * cluster_s / n_clips, 3),
                             "worker_ms_per_clip": round(1e3 * worker_s / n_clips, 3),
                             "driver_ms_per_shard": round(1e3 * costs["apply_s"], 2),
                             "commit_ms": round(1e3 * costs["commit_s"], 2),
                             "row_kb": round(float(np.prod(cfg.shape)) * 2 / 1024, 1), "identical": same})
                log.info("%s: in-process %.1f s, cluster %.1f s (%s)", feature, local_s, cluster_s,
                         "identical" if same else "DIFFERENT")
                for d in caches.values():
                    shutil.rmtree(d, ignore_errors=True)
        return pd.DataFrame(rows), facts
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)


def scaling_model(row: dict, nodes=(1, 2, 4, 8, 16, 32, 64), cores_per_node: int = 16,
                  io_mb_s: float = 500.0) -> pd.DataFrame:
    """The extraction time of the benchmark's manifest on ``nodes`` nodes, on paper, from measured costs.

    Each node's workers process ``cores_per_node`` clips at a time at the worker cost per clip
    measured here (``worker_ms_per_clip``: the task compute time per clip on one worker thread,
    i.e. one core). The driver handles the shards one after another (``driver_ms_per_shard``),
    plus the status-table commits, which the cache spaces to at most a tenth of the run
    (:data:`idsd.cache.COMMIT_SPACING`): ``driver_s = shards x driver_ms_per_shard / 0.9``. The
    shared file system moves, per clip, the audio in, the shard out and back, the row into the
    array: ``wav_kb + 3 x row_kb`` at ``io_mb_s``. The time is the largest of the three; scaling
    stops where the driver or the file system becomes the largest.

    Returns
    -------
    pandas.DataFrame
        ``nodes, compute_s, driver_s, io_s, total_s, speedup, bound``.
    """
    from idsd.cache import COMMIT_SPACING

    clips, shards = row["clips"], row["shards"]
    core_ms = row["worker_ms_per_clip"]
    driver_s = shards * row["driver_ms_per_shard"] / 1e3 / (1 - 1 / COMMIT_SPACING)
    wav_kb = 2 * SAMPLE_RATE * 2 / 1024
    io_s = clips * (wav_kb + 3 * row["row_kb"]) / 1024 / io_mb_s
    out = []
    for n in nodes:
        compute_s = clips * core_ms / 1e3 / (n * cores_per_node)
        parts = {"compute": compute_s, "driver": driver_s, "file system": io_s}
        bound = max(parts, key=parts.get)
        out.append({"nodes": n, "compute_s": compute_s, "driver_s": driver_s, "io_s": io_s,
                    "total_s": parts[bound], "bound": bound})
    df = pd.DataFrame(out)
    df["speedup"] = df["total_s"].iloc[0] / df["total_s"]
    return df


def format_lines(df: pd.DataFrame, facts: dict) -> list[str]:
    """One line per feature, ending with the ratio in-process / cluster."""
    lines = [f"{facts['clips']} clips, {facts['cpu_count']} cores, LocalCluster {facts['workers']} workers x "
             f"{facts['threads_per_worker']} thread (start-up {facts['cluster_start_s']} s), decode "
             f"{facts['decode_ms_per_clip']} ms/clip, {facts['batch_files']} files per shard"]
    for r in df.itertuples():
        lines.append(f"{r.feature:<7} in-process {r.in_process_s:8.1f} s ({r.in_process_ms_per_clip:.2f} ms/clip)   "
                     f"cluster {r.cluster_s:8.1f} s ({r.cluster_ms_per_clip:.2f} ms/clip)   driver "
                     f"{r.driver_ms_per_shard:.1f} ms/shard (commit {r.commit_ms:.0f} ms)   worker {r.worker_ms_per_clip:.2f} ms/clip   {'identical' if r.identical else 'DIFFERENT'}   "
                     f"ratio {r.ratio:.2f}x")
    return lines
