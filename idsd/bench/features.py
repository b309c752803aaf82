"""``idsd bench features``: the upstream extraction loop vs ours, on the same clips, in one run.

Upstream (``docs/paper.md`` section 3, ``data_preprocessing_measure_time.py``): one clip at a time,
single-threaded librosa calls (audio loading excluded); for the image mode additionally one
matplotlib figure per clip. Ours: :func:`idsd.features.extract_batch` on the whole batch (all
cores), after one untimed warm-up call on both sides (numba compilation, filterbank design).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from idsd import CLIP_SAMPLES, SAMPLE_RATE
from idsd.features import FEATURES, extract_batch, reference

log = logging.getLogger(__name__)


def bench_clips(n: int = 32, seed: int = 0) -> np.ndarray:
    """Speech-like test clips: a gliding harmonic voice plus noise, (n, 32000) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(CLIP_SAMPLES) / SAMPLE_RATE
    out = np.empty((n, CLIP_SAMPLES), np.float32)
    for i in range(n):
        f0 = 90 + 120 * rng.random() + 25 * np.sin(2 * np.pi * rng.uniform(0.3, 2) * t)
        ph = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 4) * t) ** 2
        y = env * sum(np.sin(k * ph) / k for k in range(1, 12)) + 0.05 * rng.normal(size=t.size)
        out[i] = 0.3 * y / np.max(np.abs(y))
    return out


def _single_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def time_upstream(Y: np.ndarray, feature: str, mode: str = "array") -> float:
    """Seconds per clip of the upstream loop (librosa per clip; image mode: + figure per clip)."""
    from idsd import images

    with _single_thread():
        reference(Y[0], feature)  # warm-up (numba)
        t0 = time.perf_counter()
        for y in Y:
            raw = reference(y, feature)
            if mode == "image":
                images.to_model_input(images.render_figure(raw, feature))
            else:
                _ = raw / np.float32(255.0)
        return (time.perf_counter() - t0) / len(Y)


def time_ours(Y: np.ndarray, feature: str, mode: str = "array", device: str = "cpu") -> float:
    """Seconds per clip of :func:`extract_batch` on the whole batch (after a warm-up call)."""
    extract_batch(Y[:2], feature, mode, device=device)
    t0 = time.perf_counter()
    extract_batch(Y, feature, mode, device=device)
    return (time.perf_counter() - t0) / len(Y)


def bench_features(clips: int = 32, device: str = "cpu", features=FEATURES, mode: str = "array",
                   seed: int = 0, Y: np.ndarray | None = None, progress: bool = False) -> pd.DataFrame:
    """Upstream loop vs ours for each feature on the same clips.

    Returns
    -------
    pandas.DataFrame
        One row per feature: ``feature``, ``mode``, ``device``, ``clips``, ``upstream_ms``,
        ``ours_ms`` (per clip), ``speedup``.
    """
    from idsd.progress import tqdm

    Y = bench_clips(clips, seed) if Y is None else np.asarray(Y, np.float32)
    rows = []
    for f in tqdm(list(features), desc="bench features", disable=not progress):
        up = time_upstream(Y, f, mode)
        ours = time_ours(Y, f, mode, device)
        rows.append({"feature": f, "mode": mode, "device": device, "clips": len(Y),
                     "upstream_ms": 1e3 * up, "ours_ms": 1e3 * ours, "speedup": up / ours})
        log.info("%s: upstream %.2f ms/clip, ours %.2f ms/clip", f, 1e3 * up, 1e3 * ours)
    return pd.DataFrame(rows)


def format_lines(df: pd.DataFrame) -> list[str]:
    """One line per feature, then ``all <k> features ... total <ratio>x``."""
    lines = [f"{r.feature:<7} upstream {r.upstream_ms:9.2f} ms/clip   ours {r.ours_ms:8.2f} ms/clip   "
             f"{r.speedup:7.1f}x" for r in df.itertuples()]
    up, ours = df["upstream_ms"].sum(), df["ours_ms"].sum()
    lines.append(f"all {len(df)} features upstream {up:9.2f} ms/clip   ours {ours:8.2f} ms/clip   "
                 f"total {up / ours:.1f}x")
    return lines
