"""Feature extraction by file shards: the decode-and-extract step of the cache, in-process or on Dask workers.

:func:`idsd.cache.load_feature_set` extracts the rows its array lacks in batches of audio files
(each file decoded once, all its fragments). :func:`extract_files` is that step. With a Dask client
(:mod:`idsd.cluster`) each batch is a *shard* and one task: the worker extracts it with
:func:`extract_files` and writes the result beside the array,

``<cache>/features/<config key>/<array>.shards/<shard key>.npy``
    the float16 rows it computed, (n_done, n_bins, n_frames), in the shard's row order;
``<cache>/features/<config key>/<array>.shards/<shard key>.json``
    written last, atomically (the commit mark of the shard): the array rows it covers, their entry
    ids, status (done or failed), CRC32 of each stored row and the failure reasons.

The driver copies each finished shard into the memory-mapped array, commits the status table and
deletes the shard (:func:`apply_shard`). The shard key hashes the entry ids it covers, so a shard
redone after a worker died (Dask reschedules the task of a lost worker) rewrites the same two files
with the same bytes: nothing is extracted twice into the array and nothing written is lost. A shard
left over by a driver that was killed before copying it is taken on the next load
(:func:`leftover_shards`) instead of being extracted again. Driver and workers must see the same
file system (the outputs folder), as every PBS or Slurm cluster's home or scratch does.

Batches are the same slices of the same file list in both paths, so the distributed cache holds
the same bytes as the in-process one (``tests/test_cache_distributed.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from idsd.errors import AudioError
from idsd.features import FeatureConfig, extract_batch
from idsd.files import atomic_write, write_json

log = logging.getLogger(__name__)

SHARDS = ".shards"  #: suffix of the folder (beside ``<array>.npy``) where workers leave their shards


@dataclass
class ShardResult:
    """What one batch of files gave.

    Attributes
    ----------
    rows : numpy.ndarray, (n,) int64
        Rows of the cached array this batch covers.
    status : numpy.ndarray, (n,) int8
        :data:`idsd.cache.DONE` or :data:`idsd.cache.FAILED` per row.
    crc : numpy.ndarray, (n,) int64
        CRC32 of the stored float16 row (0 for a failed row).
    reasons : list of str, n
        Why a row failed ("" when done).
    values : numpy.ndarray, (n_done, n_bins, n_frames) float16
        The stored rows of the done rows, in ``rows`` order.
    """

    rows: np.ndarray
    status: np.ndarray
    crc: np.ndarray
    reasons: list[str]
    values: np.ndarray


def extract_files(files: list[str], rows_of: dict[str, list[int]], frags: np.ndarray, config: FeatureConfig,
                  device: str = "cpu") -> ShardResult:
    """Decode each file once and extract the features of its fragments.

    Parameters
    ----------
    files : list of str
        Audio files of the batch.
    rows_of : dict
        File -> the array rows (int) of its fragments.
    frags : numpy.ndarray, (n_rows,) int64
        Fragment index of every row of the array (indexed by the row numbers in ``rows_of``).
    config : FeatureConfig
    device : {"cpu", "gpu", "auto"}

    Returns
    -------
    ShardResult
        A file that cannot be decoded (or lacks a fragment) fails all its rows with the reason.
    """
    from idsd.audio import fragments, load_audio
    from idsd.cache import DONE, FAILED, _crc, _store

    clips, done, failed, reasons_of = [], [], [], {}
    for path in files:
        rows_i = rows_of[path]
        try:
            y = load_audio(path)
            frs = fragments(y, pad=True)  # same indices as pad=False, plus a padded tail
            picked = []
            for i in rows_i:
                k = int(frags[i])
                if k >= len(frs):
                    raise AudioError(path, f"fragment {k} beyond the {len(frs)} of the file")
                if len(y) < (k + 1) * len(frs[k]):
                    log.warning("%s: fragment %d has %d samples, zero-padded", path, k, len(y) - k * len(frs[k]))
                picked.append((i, frs[k]))
        except AudioError as exc:
            failed += rows_i
            reasons_of.update({i: exc.reason for i in rows_i})
            log.warning("skipped %s", exc)
            continue
        done += [i for i, _ in picked]
        clips += [c for _, c in picked]
    if clips:
        values = _store(extract_batch(np.stack(clips), config.feature, config.mode, device=device,
                                      **dict(config.overrides)))
    else:
        values = np.zeros((0, *config.shape), np.float16)
    rows = np.asarray(done + failed, np.int64)
    status = np.asarray([DONE] * len(done) + [FAILED] * len(failed), np.int8)
    crc = np.asarray([_crc(v) for v in values] + [0] * len(failed), np.int64)
    return ShardResult(rows, status, crc, [""] * len(done) + [reasons_of[i] for i in failed], values)


# --------------------------------------------------------------------------------------------
# shards on disk


def shard_dir(array_path: str | Path) -> Path:
    """``<array>.shards/`` beside ``<array>.npy``."""
    p = Path(array_path)
    return p.with_name(p.stem + SHARDS)


def shard_key(ids: list[str]) -> str:
    """16 hex digits over the entry ids of a shard's rows (the same shard always gets the same files)."""
    return hashlib.sha1("\n".join(ids).encode()).hexdigest()[:16]


def write_shard(folder: Path, key: str, ids: list[str], result: ShardResult) -> Path:
    """Write a shard: its values first, then its JSON (the commit mark), both atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    def save(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.save would append ".npy" to the temporary name
            np.save(fh, result.values, allow_pickle=False)

    atomic_write(folder / f"{key}.npy", save)
    meta = folder / f"{key}.json"
    write_json(meta, {"rows": result.rows.tolist(), "ids": [ids[int(i)] for i in result.rows],
                      "status": result.status.tolist(), "crc": result.crc.tolist(), "reasons": result.reasons},
               indent=None)
    return meta


def read_shard(meta: Path, ids: list[str]) -> ShardResult | None:
    """A shard written by :func:`write_shard` whose rows still have the entry ids ``ids`` (else None)."""
    from idsd.cache import DONE

    try:
        d = json.loads(meta.read_text())
        rows = np.asarray(d["rows"], np.int64)
        status = np.asarray(d["status"], np.int8)
        values = np.load(meta.with_suffix(".npy"), allow_pickle=False)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("%s unreadable (%s): its rows are extracted again", meta, exc)
        return None
    ok = (len(rows) == len(status) == len(d["ids"]) == len(d["crc"]) == len(d["reasons"])
          and int((status == DONE).sum()) == len(values)
          and all(0 <= int(i) < len(ids) and ids[int(i)] == e for i, e in zip(rows, d["ids"])))
    if not ok:
        log.warning("%s belongs to another version of the array: ignored", meta)
        return None
    return ShardResult(rows, status, np.asarray(d["crc"], np.int64), [str(r) for r in d["reasons"]], values)


def remove_shard(meta: Path) -> None:
    """Delete a shard's two files (the JSON first: a half-removed shard is never read back)."""
    meta.unlink(missing_ok=True)
    meta.with_suffix(".npy").unlink(missing_ok=True)


def sweep_taken(array_path: str | Path, ids: list[str], status: np.ndarray, crcs: np.ndarray) -> int:
    """Delete the shards beside ``array_path`` whose every row is already in the array (same entry
    id, done, same CRC): copies a worker wrote once more after the driver took the first (a task
    rerun by the scheduler). Returns how many were deleted; an empty shard folder is removed."""
    from idsd.cache import DONE

    gone = 0
    for meta in leftover_shards(array_path):
        got = read_shard(meta, ids)
        if got is not None and (status[got.rows] == DONE).all() and (crcs[got.rows] == got.crc).all():
            remove_shard(meta)
            gone += 1
    folder = shard_dir(array_path)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return gone


def leftover_shards(array_path: str | Path) -> list[Path]:
    """JSON files of the shards a killed driver left beside ``array_path``, sorted."""
    folder = shard_dir(array_path)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def apply_shard(result: ShardResult, X: np.ndarray, status: np.ndarray, crcs: np.ndarray, reasons: np.ndarray) -> int:
    """Copy a shard into the array and its status arrays (in place); returns the rows it filled.

    Parameters
    ----------
    result : ShardResult
    X : numpy.memmap, (n_rows, n_bins, n_frames) float16
    status, crcs, reasons : numpy.ndarray, (n_rows,)
        The array's status table columns, updated in place.
    """
    from idsd.cache import DONE

    done = result.rows[result.status == DONE]
    if len(done):
        X[done] = result.values
    status[result.rows] = result.status
    crcs[result.rows] = result.crc
    reasons[result.rows] = result.reasons
    return len(done)


# --------------------------------------------------------------------------------------------
# the Dask task


def extract_shard(array_path: str, key: str, ids: list[str], files: list[str], rows_of: dict[str, list[int]],
                  frags: np.ndarray, config: FeatureConfig, device: str = "cpu") -> str:
    """Worker task: extract one batch of files and leave it as a shard beside the array.

    Parameters
    ----------
    array_path : str
        The cached array the shard belongs to (``<array>.npy``; only its folder is written).
    key : str
        :func:`shard_key` of the shard's entry ids.
    ids : list of str
        Entry id of every row of the array.
    files, rows_of, frags, config, device
        As for :func:`extract_files`.

    Returns
    -------
    str
        The shard's JSON path (what :func:`read_shard` takes).
    """
    result = extract_files(files, rows_of, frags, config, device)
    return str(write_shard(shard_dir(array_path), key, ids, result))


def extract_distributed(client, array_path: Path, ids: list[str], batches: list[list[str]],
                        rows_of: dict[str, list[int]], frags: np.ndarray, config: FeatureConfig,
                        device: str = "cpu"):
    """Submit one :func:`extract_shard` task per batch; yield ``(n_files, shard JSON path)`` as they finish.

    The scheduler reruns the task of a worker that died; a task that fails for another reason
    raises here with the files of its shard named.
    """
    from distributed import as_completed

    rows = [np.asarray([i for f in b for i in rows_of[f]], np.int64) for b in batches]
    keys = [shard_key([ids[int(i)] for i in r]) for r in rows]
    # the array-wide inputs are scattered once instead of being copied into every task
    ids_f, frags_f = client.scatter([ids, frags], broadcast=True)
    futures = {}
    for b, key in zip(batches, keys):
        fut = client.submit(extract_shard, str(array_path), key, ids_f, b, {f: rows_of[f] for f in b}, frags_f,
                            config, device, key=f"extract-{config.name}-{key}", pure=False)
        futures[fut] = b
    try:
        for fut in as_completed(list(futures)):
            batch = futures.pop(fut)
            try:
                path = fut.result()
            except Exception as exc:
                raise RuntimeError(f"feature extraction of {batch[0]} (+{len(batch) - 1} files) failed on a "
                                   f"worker: {exc}") from exc
            # forget the result now: the scheduler recomputes a held result whose worker dies, and
            # that rerun would write the shard again after the driver has taken it
            fut.release()
            yield len(batch), Path(path)
    finally:
        client.cancel(list(futures))
