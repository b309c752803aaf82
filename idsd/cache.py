"""Content-keyed, memory-mappable feature cache.

Layout under ``<cache_dir>/features/<FeatureConfig.key()>/`` (one folder per configuration; the
key hashes feature, mode, parameters and :data:`idsd.features.VERSION`):

``config.json``
    the configuration, for humans.
``<set>.npy``
    the feature set of one manifest: (n_rows, T, F) in the storage dtype (float16), written in
    place through a memory map while extracting, read back memory-mapped (``np.load(mmap_mode)``,
    never pickle).
``<set>.rows.csv``
    one line per row of ``<set>.npy``: entry id (hash of the audio file's absolute path, size,
    mtime in ns and the fragment index), path, fragment, status (0 missing, 1 done, 2 failed),
    CRC32 of the stored row, failure reason.

``<set>`` is a hash of the ordered entry ids, so the same manifest (and unchanged audio) maps to
the same file. Rows already computed in any other set of the same configuration are copied, not
recomputed. The status/CRC table is replaced atomically (``os.replace``) after every batch, and
only after the array rows of that batch were flushed: a killed run resumes where it stopped, and
a row whose bytes no longer match its CRC (a corrupted or half-written file) is recomputed.

Storage dtype: float16 (half the float32 size). Array-mode values are the upstream raw
magnitude/power / 255; with clips in [-1, 1] and the upstream parameters they are bounded far
below float16's maximum (65504; the largest, a full-scale DC mel band, is < 300). Values below
6.1e-5 lose relative precision (float16 subnormals) and values below 3e-8 become 0: an absolute
error <= 3e-8, i.e. below 1e-6 of the peak of any audible clip, which is what the model (a
linear first layer on these values) sees. Values outside the float16 range (only possible for
non-normalised input above 0 dBFS) are clipped to +-65504 and logged. ``tests/test_cache.py``
measures the float16 error on speech-like clips.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from idsd.errors import AudioError
from idsd.features import FeatureConfig, extract_batch
from idsd.validate import CSV_ENCODING, CSV_ERRORS, check_manifest, output_dir

log = logging.getLogger(__name__)

STORE_DTYPE = np.float16
F16_MAX = float(np.finfo(np.float16).max)
MISSING, DONE, FAILED = 0, 1, 2


# --------------------------------------------------------------------------------------------
# identity


def file_identity(path: str | os.PathLike) -> str:
    """``path|size|mtime_ns`` of an audio file ("missing" when it does not exist)."""
    p = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(p)
    except OSError:
        return f"{p}|missing"
    return f"{p}|{st.st_size}|{st.st_mtime_ns}"


def entry_ids(manifest: pd.DataFrame) -> list[str]:
    """Entry id per manifest row: hash of the file identity and the fragment index."""
    idents = {p: file_identity(p) for p in manifest["path"].unique()}
    # surrogateescape: a file name with bytes that are not UTF-8 hashes too (same ids otherwise)
    return [hashlib.sha1(f"{idents[p]}#{int(f)}".encode("utf-8", "surrogateescape")).hexdigest()[:20]
            for p, f in zip(manifest["path"], manifest["fragment"])]


def _crc(row: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(row).view(np.uint8)) & 0xFFFFFFFF


def _atomic_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    df.to_csv(tmp, index=False, encoding=CSV_ENCODING, errors=CSV_ERRORS)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# the feature set


@dataclass
class FeatureSet:
    """Features of the usable rows of a manifest.

    Attributes
    ----------
    X : numpy.ndarray or numpy.memmap, shape (n, T, F), float16
    y : numpy.ndarray, shape (n,), int8
        1 = real, 0 = fake (the manifest's ``target``).
    rows : pandas.DataFrame
        The manifest rows aligned with ``X`` (failed rows dropped), index reset.
    config : FeatureConfig
    rejected : pandas.DataFrame
        Columns ``file``, ``reason``: rows that could not be extracted.
    path : Path or None
        The ``.npy`` file ``X`` is mapped from.
    """

    X: np.ndarray
    y: np.ndarray
    rows: pd.DataFrame
    config: FeatureConfig
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["file", "reason"]))
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask) -> FeatureSet:
        """Rows where ``mask`` (bool array or index array) holds; a view when contiguous."""
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask, dtype=int)
        if len(idx) and np.all(np.diff(idx) == 1):
            X = self.X[idx[0]: idx[-1] + 1]
        else:
            X = self.X[idx]
        return FeatureSet(X, self.y[idx], self.rows.iloc[idx].reset_index(drop=True), self.config,
                          self.rejected, self.path)

    def split(self, name: str) -> FeatureSet:
        """The rows of one split (``train``, ``dev`` or ``eval``)."""
        return self.subset(self.rows["split"].to_numpy() == name)

    @property
    def nbytes_float32(self) -> int:
        """Size of the same features as float32 arrays (the paper's storage measure)."""
        return int(np.prod(self.X.shape, dtype=np.int64)) * 4

    @property
    def nbytes_stored(self) -> int:
        """Bytes of ``X`` as stored."""
        return int(np.prod(self.X.shape, dtype=np.int64)) * self.X.dtype.itemsize


def config_dir(cache_dir: str | os.PathLike, config: FeatureConfig) -> Path:
    """``<cache_dir>/features/<config key>``, created with its ``config.json``.

    Raises InputError when the folder cannot be made (a file in the way, no permission).
    """
    d = Path(output_dir(Path(cache_dir) / "features" / config.key(), "feature cache folder"))
    meta = d / "config.json"
    if not meta.exists():
        tmp = meta.with_name(f"config.json.tmp{os.getpid()}")
        tmp.write_text(json.dumps({"feature": config.feature, "mode": config.mode,
                                   "params": config.params}, indent=2, default=str))
        os.replace(tmp, meta)
    return d


def _open_array(path: Path, shape: tuple) -> np.memmap:
    """Open (or create) the set's array for writing; a wrong header/size is recreated."""
    if path.exists():
        try:
            arr = np.load(path, mmap_mode="r+", allow_pickle=False)
            if arr.shape == shape and arr.dtype == STORE_DTYPE:
                return arr
            log.warning("%s: unexpected shape/dtype %s %s, recreating", path, arr.shape, arr.dtype)
        except (ValueError, OSError) as exc:
            log.warning("%s: unreadable (%s), recreating", path, exc)
        path.unlink()
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=STORE_DTYPE, shape=shape)
    arr.flush()
    del arr
    os.replace(tmp, path)
    return np.load(path, mmap_mode="r+", allow_pickle=False)


def _known_rows(cdir: Path, skip: str) -> dict[str, tuple[Path, int, int]]:
    """Entry id -> (set array, row, crc) for rows done in the other sets of this configuration."""
    known: dict[str, tuple[Path, int, int]] = {}
    for rows_csv in cdir.glob("*.rows.csv"):
        name = rows_csv.name[: -len(".rows.csv")]
        if name == skip:
            continue
        try:
            t = pd.read_csv(rows_csv, keep_default_na=False, encoding=CSV_ENCODING, encoding_errors=CSV_ERRORS)
        except (OSError, ValueError, pd.errors.ParserError):
            continue
        arr = cdir / f"{name}.npy"
        for i, (eid, st, crc) in enumerate(zip(t["id"], t["status"], t["crc"])):
            if st == DONE:
                known.setdefault(eid, (arr, i, int(crc)))
    return known


def _store(values: np.ndarray) -> np.ndarray:
    over = np.abs(values) > F16_MAX
    if over.any():
        log.warning("%d values beyond the float16 range clipped to +-%g", int(over.sum()), F16_MAX)
        values = np.clip(values, -F16_MAX, F16_MAX)
    return values.astype(STORE_DTYPE)


def load_feature_set(manifest: pd.DataFrame, config: FeatureConfig, cache_dir: str | os.PathLike,
                     progress: bool = True, batch_files: int = 64, device: str = "cpu",
                     verify: bool = True) -> FeatureSet:
    """Features of every row of ``manifest``, extracting only what the cache lacks.

    Parameters
    ----------
    manifest : pandas.DataFrame
        At least ``path``, ``fragment``, ``target`` (and ``split`` for :meth:`FeatureSet.split`).
    config : FeatureConfig
    cache_dir : str or PathLike
        Usually ``Outputs(...).cache``.
    progress : bool
        Show a progress bar over the audio files.
    batch_files : int
        Audio files decoded per extraction batch (each file decoded once, all its fragments).
    device : {"cpu", "gpu", "auto"}
        Passed to :func:`idsd.features.extract_batch`.
    verify : bool
        Check every stored row against its CRC (recomputing mismatches) before returning.

    Returns
    -------
    FeatureSet
        ``X`` memory-mapped float16 (a copy in memory only when some rows failed).
    """
    from idsd.audio import fragments, load_audio
    from idsd.progress import tqdm

    check_manifest(manifest, "manifest", required=("path", "fragment"))  # InputError on bad rows
    manifest = manifest.reset_index(drop=True)
    n = len(manifest)
    shape = (n, *config.shape)
    cdir = config_dir(cache_dir, config)
    ids = entry_ids(manifest)
    set_name = hashlib.sha1("\n".join(ids).encode()).hexdigest()[:16]
    arr_path, rows_path = cdir / f"{set_name}.npy", cdir / f"{set_name}.rows.csv"

    table = pd.DataFrame({"id": ids, "path": manifest["path"].astype(str),
                          "fragment": manifest["fragment"].astype(int), "status": MISSING, "crc": 0,
                          "reason": ""})
    X = _open_array(arr_path, shape)
    if rows_path.exists():
        try:
            old = pd.read_csv(rows_path, keep_default_na=False, encoding=CSV_ENCODING,
                              encoding_errors=CSV_ERRORS)
            if list(old["id"]) == ids:
                table = old.astype({"status": int, "crc": "int64", "reason": str})
            else:
                log.warning("%s: index has %d rows for a %d-row set (truncated or altered): rebuilding; "
                            "rows found in other sets are reused, the rest recomputed", rows_path,
                            len(old), n)
        except (OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
            log.warning("%s unreadable (%s): recomputing", rows_path, exc)
    status = table["status"].to_numpy().copy()
    crcs = table["crc"].to_numpy().astype(np.int64).copy()
    reasons = table["reason"].astype(str).to_numpy().copy()

    if verify:
        for i in np.flatnonzero(status == DONE):
            if _crc(X[i]) != crcs[i]:
                log.warning("%s row %d (%s) corrupted: recomputing", arr_path.name, i, table["path"][i])
                status[i] = MISSING

    def commit():
        X.flush()
        _atomic_csv(pd.DataFrame({"id": ids, "path": table["path"], "fragment": table["fragment"],
                                  "status": status, "crc": crcs, "reason": reasons}), rows_path)

    # reuse rows computed for other manifests with the same configuration
    todo = np.flatnonzero(status == MISSING)
    if len(todo):
        known = _known_rows(cdir, set_name)
        reused = 0
        opened: dict[Path, np.ndarray] = {}
        for i in todo:
            hit = known.get(ids[i])
            if hit is None:
                continue
            src, j, crc = hit
            try:
                a = opened.setdefault(src, np.load(src, mmap_mode="r", allow_pickle=False))
                if a.shape[1:] == shape[1:] and _crc(a[j]) == crc:
                    X[i] = a[j]
                    status[i], crcs[i] = DONE, crc
                    reused += 1
            except (OSError, ValueError):
                continue
        if reused:
            log.info("%s: %d rows reused from other sets", config.name, reused)
            commit()

    # extract the rest, one decode per file, in batches of files
    todo = np.flatnonzero(status == MISSING)
    by_file: dict[str, list[int]] = {}
    for i in todo:
        by_file.setdefault(table["path"][i], []).append(int(i))
    files = list(by_file)
    bar = tqdm(total=len(files), desc=f"features {config.name}", disable=not progress or not files,
               unit="file")
    for a in range(0, len(files), batch_files):
        clips, targets = [], []
        for path in files[a:a + batch_files]:
            rows_i = by_file[path]
            try:
                y = load_audio(path)
                frags = fragments(y, pad=True)  # same indices as pad=False, plus a padded tail
                for i in rows_i:
                    k = int(table["fragment"][i])
                    if k >= len(frags):
                        raise AudioError(path, f"fragment {k} beyond the {len(frags)} of the file")
                    if len(y) < (k + 1) * len(frags[k]):
                        log.warning("%s: fragment %d has %d samples, zero-padded", path, k,
                                    len(y) - k * len(frags[k]))
                    clips.append(frags[k])
                    targets.append(i)
            except AudioError as exc:
                for i in rows_i:
                    status[i], reasons[i] = FAILED, exc.reason
                log.warning("skipped %s", exc)
        if clips:
            feats = extract_batch(np.stack(clips), config.feature, config.mode, device=device,
                                  **dict(config.overrides))
            for i, v in zip(targets, _store(feats)):
                X[i] = v
                status[i], crcs[i], reasons[i] = DONE, _crc(X[i]), ""
        commit()
        bar.update(len(files[a:a + batch_files]))
    bar.close()

    ok = status == DONE
    rejected = pd.DataFrame({"file": table["path"][~ok].to_numpy(), "reason": reasons[~ok]})
    rows = manifest[ok].reset_index(drop=True)
    Xr = np.load(arr_path, mmap_mode="r", allow_pickle=False)
    if not ok.all():
        Xr = np.asarray(Xr[ok])
    y = rows["target"].to_numpy().astype(np.int8) if "target" in rows else np.zeros(len(rows), np.int8)
    return FeatureSet(Xr, y, rows, config, rejected, arr_path)


def fill_study(study, outputs, configs, progress: bool = True, device: str = "cpu") -> pd.DataFrame:
    """Fill the cache for every corpus of a study (and its modified-speech manifest, if any).

    Parameters
    ----------
    study : idsd.study.Study
    outputs : idsd.paths.Outputs
    configs : iterable of FeatureConfig

    Returns
    -------
    pandas.DataFrame
        One row per (corpus, configuration): ``corpus``, ``feature``, ``mode``, ``rows``,
        ``rejected``, ``stored_mb``, ``float32_mb``, ``seconds`` (wall time, 0 when cached).
    """
    import time

    manifests = [(name, study.manifest(outputs, name)) for name in study.eval_corpora]
    modified = study.modified(outputs)
    if modified is not None and len(modified):
        manifests.append(("modified", modified))
    out = []
    for cfg in configs:
        for name, m in manifests:
            t0 = time.perf_counter()
            fs = load_feature_set(m, cfg, outputs.cache, progress=progress, device=device)
            out.append({"corpus": name, "feature": cfg.feature, "mode": cfg.mode, "rows": len(fs),
                        "rejected": len(fs.rejected), "stored_mb": fs.nbytes_stored / 1e6,
                        "float32_mb": fs.nbytes_float32 / 1e6, "seconds": time.perf_counter() - t0})
    return pd.DataFrame(out)
