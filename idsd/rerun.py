"""Does a second run of the study reproduce the first? Compare two outputs directories.

Two runs of the same commit, preset and seed must build the same corpus (the same audio bytes),
write the same score files and the same result tables. :func:`compare_runs` checks all three;
the measurements of time and memory (stage timings, wall seconds, samples/s, peak RSS) differ
between any two runs and are left out of the comparison (:data:`VOLATILE`), and file paths are
compared relative to each run's outputs directory (two clones live in different folders).

``idsd compare-runs A B`` prints the summary and exits with 1 when anything deterministic differs.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

AUDIO_SUFFIXES = (".wav", ".flac")
"""Files of the built corpus compared byte for byte."""

VOLATILE = re.compile(r"(^|_)(wall|seconds|secs?|s|ms|per_s|rss|ram|mb|mib|gb|time|timings?|finished|started|"
                      r"date|speedup|load)($|_)|samples_per_s|peak|throughput|ms/clip", re.IGNORECASE)
"""Column names that hold measurements of time or memory (not compared)."""

VOLATILE_TABLES = ("hardware", "hardware_vs_paper", "extraction_benchmark")
"""Tables made only of measurements (not compared)."""


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(root: Path, sub: str, suffixes: tuple[str, ...]) -> dict[str, Path]:
    base = root / sub
    if not base.is_dir():
        return {}
    return {str(p.relative_to(base)): p for p in sorted(base.rglob("*"))
            if p.is_file() and p.suffix.lower() in suffixes}


def _relative(df: pd.DataFrame, root: Path | None) -> pd.DataFrame:
    """Text columns with the run's own outputs directory replaced by ``<outputs>``: two clones in
    different folders write the same files under different absolute paths."""
    if root is None:
        return df
    df = df.copy()
    for prefix in dict.fromkeys((str(root.resolve()), str(root.absolute()))):
        for c in df.columns:
            if df[c].dtype == object or pd.api.types.is_string_dtype(df[c]):
                df[c] = df[c].astype(str).str.replace(prefix, "<outputs>", regex=False)
    return df


def _same_table(a: Path, b: Path, root_a: Path | None = None, root_b: Path | None = None) -> tuple[bool, str]:
    da = _relative(pd.read_csv(a, keep_default_na=False), root_a)
    db = _relative(pd.read_csv(b, keep_default_na=False), root_b)
    if list(da.columns) != list(db.columns):
        return False, f"columns differ: {sorted(set(da.columns) ^ set(db.columns))}"
    if len(da) != len(db):
        return False, f"{len(da)} rows vs {len(db)}"
    cols = [c for c in da.columns if not VOLATILE.search(str(c))]
    for c in cols:
        x, y = da[c].to_numpy(), db[c].to_numpy()
        if not np.array_equal(x, y):
            return False, f"column {c!r}: {int(np.sum(x != y))} of {len(x)} values differ"
    return True, ""


def _compare(kind: str, fa: dict[str, Path], fb: dict[str, Path], same) -> list[dict]:
    rows = []
    for name in sorted(set(fa) | set(fb)):
        if name not in fb:
            rows.append({"kind": kind, "file": name, "status": "only in A", "detail": ""})
        elif name not in fa:
            rows.append({"kind": kind, "file": name, "status": "only in B", "detail": ""})
        else:
            ok, detail = same(fa[name], fb[name])
            rows.append({"kind": kind, "file": name, "status": "identical" if ok else "different", "detail": detail})
    return rows


def compare_runs(a: str | os.PathLike, b: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare the corpus audio, the score files and the tables of two outputs directories.

    Parameters
    ----------
    a, b : path
        Two outputs directories (``outputs/`` of two runs).

    Returns
    -------
    summary : DataFrame
        One row per kind (``audio``, ``scores``, ``tables``): ``compared``, ``identical``,
        ``different``, ``only_a``, ``only_b``.
    details : DataFrame
        One row per file: ``kind, file, status, detail`` (what differs in a table).
    """
    a, b = Path(a), Path(b)

    def same_bytes(x, y):
        return (_digest(x) == _digest(y)), ""

    rows = _compare("audio", _files(a, "data", AUDIO_SUFFIXES), _files(b, "data", AUDIO_SUFFIXES), same_bytes)
    def same_table(x, y):
        return _same_table(x, y, a, b)

    rows += _compare("scores", _files(a, "scores", (".csv",)), _files(b, "scores", (".csv",)), same_table)
    ta = {k: p for k, p in _files(a, "tables", (".csv",)).items() if Path(k).stem not in VOLATILE_TABLES}
    tb = {k: p for k, p in _files(b, "tables", (".csv",)).items() if Path(k).stem not in VOLATILE_TABLES}
    rows += _compare("tables", ta, tb, same_table)
    details = pd.DataFrame(rows, columns=["kind", "file", "status", "detail"])
    summary = []
    for kind in ("audio", "scores", "tables"):
        g = details[details["kind"] == kind]["status"]
        summary.append({"kind": kind, "compared": int(g.isin(["identical", "different"]).sum()),
                        "identical": int((g == "identical").sum()), "different": int((g == "different").sum()),
                        "only_a": int((g == "only in A").sum()), "only_b": int((g == "only in B").sum())})
    return pd.DataFrame(summary), details


def reproduced(summary: pd.DataFrame) -> bool:
    """True when every compared file is identical and no file is missing on either side."""
    return bool(len(summary)) and int(summary[["different", "only_a", "only_b"]].to_numpy().sum()) == 0 \
        and int(summary["compared"].sum()) > 0
