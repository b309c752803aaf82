"""Hardware-table data (docs/paper.md 9.3): storage, extraction time and peak RAM per feature.

:func:`hardware_table` measures, per feature, on the same clips:

* the float32 size of a feature set (the paper's storage measure: float32 ``.npy`` of the
  training samples) and our stored size (float16 cache), for ``n_samples`` clips;
* extraction time per clip of the upstream loop and of ours (:mod:`idsd.bench.features`);
* peak memory allocated while extracting the batch with our path (``tracemalloc``, which sees
  numpy's buffers), in MB. The paper's RAM column is the host RAM of training, a different
  quantity; both are shown side by side, not compared.

:func:`write_hardware_table` writes ``<outputs>/metrics/features_hardware.csv`` for the paper-tables
notebook.
"""

from __future__ import annotations

import logging
import tracemalloc

import numpy as np
import pandas as pd

from idsd.bench.features import bench_clips, time_ours, time_upstream
from idsd.features import FEATURES, extract_batch, feature_shape
from idsd.files import write_csv

log = logging.getLogger(__name__)

PAPER_SAMPLES = 240_000
"""Training samples behind the paper's storage numbers (WaveFake, [INF] in docs/paper.md 9.3)."""

COLUMNS = ("feature", "mode", "shape", "storage_bytes_per_clip", "stored_bytes_per_clip", "n_samples",
           "storage_float32_gb", "stored_gb", "storage_ratio", "loop_ms_per_clip", "batch_ms_per_clip",
           "speedup", "peak_ram_mib", "clips_timed", "device")


def peak_ram_mib(Y: np.ndarray, feature: str, mode: str = "array", device: str = "cpu") -> float:
    """Peak MiB allocated (tracemalloc) while extracting ``Y`` with our batched path."""
    extract_batch(Y[:2], feature, mode, device=device)
    tracemalloc.start()
    try:
        extract_batch(Y, feature, mode, device=device)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def hardware_table(clips: int = 32, features=FEATURES, mode: str = "array", n_samples: int = PAPER_SAMPLES,
                   device: str = "cpu", seed: int = 0, Y: np.ndarray | None = None,
                   progress: bool = False) -> pd.DataFrame:
    """Measure the hardware table.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`: ``shape`` "TxF"; ``storage_bytes_per_clip`` = T*F*4 (float32,
        the paper's measure), ``stored_bytes_per_clip`` = T*F*2 (our float16 cache);
        ``storage_float32_gb`` / ``stored_gb`` = bytes per clip x ``n_samples`` / 1e9;
        ``storage_ratio`` = stored / float32; ``loop_ms_per_clip`` = upstream loop,
        ``batch_ms_per_clip`` = ours (extraction time per clip), ``speedup``; ``peak_ram_mib`` =
        peak allocation (MiB) of our batch extraction of ``clips_timed`` clips; ``device``.
    """
    from idsd.progress import tqdm

    Y = bench_clips(clips, seed) if Y is None else np.asarray(Y, np.float32)
    rows = []
    for f in tqdm(list(features), desc="hardware table", disable=not progress):
        T, F = feature_shape(f, mode)
        up = time_upstream(Y, f, mode)
        ours = time_ours(Y, f, mode, device)
        b32, b16 = T * F * 4, T * F * 2
        rows.append({"feature": f, "mode": mode, "shape": f"{T}x{F}", "storage_bytes_per_clip": b32,
                     "stored_bytes_per_clip": b16, "n_samples": n_samples,
                     "storage_float32_gb": b32 * n_samples / 1e9, "stored_gb": b16 * n_samples / 1e9,
                     "storage_ratio": b16 / b32, "loop_ms_per_clip": 1e3 * up, "batch_ms_per_clip": 1e3 * ours,
                     "speedup": up / ours, "peak_ram_mib": peak_ram_mib(Y, f, mode, device),
                     "clips_timed": len(Y), "device": device})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write_hardware_table(df: pd.DataFrame, outputs) -> str:
    """Write ``df`` (columns :data:`COLUMNS`) to :attr:`idsd.paths.Outputs.features_hardware`
    (``<outputs>/metrics/features_hardware.csv``, atomically); return the path."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"hardware table lacks columns {missing} (idsd.hardware.COLUMNS)")
    path = outputs.features_hardware
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(write_csv(df, path))


def beside_paper(df: pd.DataFrame) -> pd.DataFrame:
    """Our measurements next to the paper's (docs/paper.md 9.3), one row per feature.

    Returns
    -------
    pandas.DataFrame
        Index feature; ``paper storage GB`` / ``ours float32 GB`` / ``ours stored GB`` (at the
        paper's 240k samples), ``paper ms/clip`` (author's laptop) / ``upstream loop ms/clip`` /
        ``ours ms/clip`` (this machine) / ``speedup``, ``paper RAM GB`` (training) /
        ``ours extraction peak MiB``.
    """
    from idsd import paper_values

    pv = paper_values.hardware()
    d = df.set_index("feature")
    scale = paper_values.HARDWARE_SAMPLES / d["n_samples"]
    out = pd.DataFrame({
        "paper storage GB": pv["storage_gb"],
        "ours float32 GB": d["storage_float32_gb"] * scale,
        "ours stored GB": d["stored_gb"] * scale,
        "paper ms/clip": pv["extract_ms"],
        "upstream loop ms/clip": d["loop_ms_per_clip"],
        "ours ms/clip": d["batch_ms_per_clip"],
        "speedup": d["speedup"],
        "paper RAM GB": pv["ram_gb"],
        "ours extraction peak MiB": d["peak_ram_mib"],
    }).reindex([f for f in FEATURES if f in d.index])
    out.index.name = "feature"
    return out
