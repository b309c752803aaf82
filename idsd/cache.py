"""Content-keyed, memory-mappable feature cache: one array per (corpus, feature configuration).

Layout under ``<cache_dir>/features/<FeatureConfig.key()>/`` (one folder per configuration; the
key hashes feature, mode, parameters and :data:`idsd.features.VERSION`):

``config.json``
    the configuration, for humans.
``<corpus>.npy``
    the features of a whole corpus manifest (:func:`corpus_features`, ``load_feature_set(...,
    name=corpus)``): (n_rows, n_bins, n_frames) in the storage dtype (float16), one row per manifest row in
    manifest order, written in place through a memory map while extracting, read back
    memory-mapped (``np.load(mmap_mode="r")``, never pickle). ``<corpus>`` is the study's corpus
    name (``mini-for``, ...) or ``modified`` (the modified-speech manifest).
``<corpus>.rows.csv``
    one line per row of ``<corpus>.npy``: entry id (hash of the audio file's absolute path, size,
    mtime in ns and the fragment index), path, fragment, status (0 missing, 1 done, 2 failed),
    CRC32 of the stored row, failure reason.
``<set>.npy``, ``<set>.rows.csv``
    the same for a manifest loaded without a name (``idsd features``, ``idsd eval`` on a folder):
    ``<set>`` hashes the ordered entry ids, so the same manifest (and unchanged audio) maps to the
    same file.
``<corpus>~rebuild.npy``, ``<corpus>~rebuild.rows.csv``, ``<corpus>~swap``
    only while a corpus whose manifest changed (rebuilt corpus, touched audio) is being rebuilt:
    the new version is filled under the ``~rebuild`` name (rows whose entry id is in the old
    version or any other array of the configuration are copied, the rest extracted), then the
    ``~swap`` marker is written and the pair is moved over the old one (``os.replace``: array,
    then table, then the marker is removed). A run killed while filling resumes the rebuild; one
    killed during the swap finishes it first. Until then readers see the old, complete version.

Splits, learning-curve subsets and evaluation sets are never stored: they are index views of the
corpus array (:meth:`FeatureSet.split`, :meth:`FeatureSet.subset`, :meth:`FeatureSet.select`):
a contiguous run of rows is a slice of the memory map (a numpy view), any other selection a
:class:`RowView` that reads only the rows asked for. Rows that failed extraction stay in the
array (status 2) and are left out of the view.

The status/CRC table is replaced atomically (:func:`idsd.files.write_csv`) after a batch (after
every batch for a table of up to :data:`SMALL_TABLE_ROWS` rows; for a larger one at most once every
:data:`COMMIT_SPACING` times the duration of writing it, so that it stays below ~10 % of the run),
and only after the array rows of that batch were flushed: a killed run resumes where it stopped, and a
row whose bytes no longer match its CRC (a corrupted or half-written file) is recomputed
(``verify=True`` checks every row on every load; ``verify="once"``, what :func:`corpus_features`
uses, checks a given version of the files once per process).

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
import logging
import os
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from idsd.errors import InputError
from idsd.features import FeatureConfig
from idsd.files import atomic_write, write_csv, write_json, write_text
from idsd.validate import CSV_ENCODING, CSV_ERRORS, check_manifest, output_dir

log = logging.getLogger(__name__)

STORE_DTYPE = np.float16
F16_MAX = float(np.finfo(np.float16).max)
MISSING, DONE, FAILED = 0, 1, 2
MODIFIED = "modified"  #: corpus name of the study's modified-speech manifest (:func:`corpus_features`)
REBUILD = "~rebuild"  #: suffix of a named array being rebuilt (``~`` is not allowed in names)
SWAP = "~swap"  #: suffix of the marker written while a rebuilt array replaces the old one
COMMIT_SPACING = 10  #: a larger table is committed after at least this many of its write times (<= ~10 % of the run)
SMALL_TABLE_ROWS = 5000  #: a status table of up to this many rows (a few ms to write) is committed after every batch
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# array path -> stat signature of (array, table) verified by CRC in this process (verify="once")
_VERIFIED: dict[str, tuple] = {}


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


# --------------------------------------------------------------------------------------------
# views


def _positions(selector, n: int) -> np.ndarray:
    """Row positions (intp, non-negative) of a bool mask, an index array or a slice over ``n`` rows."""
    if isinstance(selector, slice):
        return np.arange(n)[selector]
    a = np.asarray(selector)
    if a.dtype == bool:
        if a.shape != (n,):
            raise IndexError(f"boolean mask of shape {a.shape} for {n} rows")
        return np.flatnonzero(a)
    if a.size == 0:
        return np.zeros(0, np.intp)
    if not np.issubdtype(a.dtype, np.integer):
        raise IndexError(f"row selector must be a bool mask, integer indices or a slice, got {a.dtype}")
    a = a.reshape(-1).astype(np.intp)
    if a.min() < -n or a.max() >= n:
        raise IndexError(f"row index out of range for {n} rows")
    return np.where(a < 0, a + n, a)


def _contiguous(index: np.ndarray) -> bool:
    return len(index) > 0 and int(index[-1]) - int(index[0]) == len(index) - 1 and bool(np.all(np.diff(index) == 1))


def _view(base, index: np.ndarray):
    """Rows ``index`` of ``base``: a slice (numpy view) when they are one ascending run, else a RowView."""
    if len(index) == 0:
        return base[0:0]
    if _contiguous(index):
        return base[int(index[0]):int(index[-1]) + 1]
    return RowView(base, index)


class RowView:
    """A lazy view of some rows of a (memory-mapped) array: reads only the rows asked for.

    ``RowView(base, index)`` behaves like ``base[index]`` for the array protocol and for reading
    rows, without copying anything until rows are read:

    * ``shape``, ``ndim``, ``dtype``, ``len(view)``;
    * ``view[i]`` (int): row ``index[i]`` of ``base``;
    * ``view[a:b]``, ``view[int_array]``, ``view[bool_mask]``: those rows as an array (a slice of
      ``base`` when they are one ascending run of it, else read by fancy indexing); further axes
      (``view[a:b, :, 0]``) apply to the rows read;
    * ``np.asarray(view, dtype)``: all its rows (the only call that reads the whole view).

    Parameters
    ----------
    base : numpy.ndarray or numpy.memmap or RowView
        The array viewed (a RowView is resolved to its own base: views never nest).
    index : array-like of int
        Rows of ``base``, in view order (any order, repeats allowed).
    """

    __slots__ = ("_base", "_index")

    def __init__(self, base, index):
        idx = np.asarray(index)
        if isinstance(base, RowView):
            idx = base.index[_positions(idx, len(base))]
            base = base.base_array
        else:
            idx = _positions(idx, len(base))
        if getattr(base, "ndim", 0) < 1:
            raise ValueError("RowView needs an array with at least one axis")
        idx = np.ascontiguousarray(idx, dtype=np.intp)
        idx.setflags(write=False)
        self._base, self._index = base, idx

    @property
    def base_array(self):
        """The array viewed (the corpus's memory map)."""
        return self._base

    @property
    def index(self) -> np.ndarray:
        """Rows of :attr:`base_array`, in view order (read-only)."""
        return self._index

    @property
    def shape(self) -> tuple:
        return (len(self._index), *self._base.shape[1:])

    @property
    def ndim(self) -> int:
        return self._base.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._base.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def itemsize(self) -> int:
        return self._base.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes the rows take once read (nothing is held before)."""
        return self.size * self.itemsize

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self):
        for i in self._index:
            yield self._base[i]

    def _read(self, rows: np.ndarray):
        if len(rows) and _contiguous(rows):
            return self._base[int(rows[0]):int(rows[-1]) + 1]
        return np.asarray(self._base[rows])

    def __getitem__(self, key):
        if isinstance(key, tuple):
            if not key or key[0] is Ellipsis or key[0] is None:
                return np.asarray(self)[key]
            first, rest = key[0], key[1:]
            got = self[first]
            if not rest:
                return got
            if isinstance(first, (int, np.integer)):
                return got[rest]
            return got[(slice(None), *rest)]
        if isinstance(key, (bool, np.bool_)) or key is None or key is Ellipsis:
            return np.asarray(self)[key]
        if isinstance(key, (int, np.integer)):
            return self._base[self._index[key]]
        if not isinstance(key, slice):
            key = np.asarray(key)
            if key.dtype != bool and key.size and not np.issubdtype(key.dtype, np.integer):
                raise IndexError(f"RowView rows are selected by int, slice, int array or bool mask, got {key.dtype}")
            if key.size == 0 and key.dtype != bool:
                key = key.astype(np.intp)
        return self._read(self._index[key])

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("a RowView cannot become an array without reading (copying) its rows")
        out = self._read(self._index)
        if copy:
            return np.array(out, dtype=dtype, copy=True)
        return np.asarray(out, dtype=dtype)

    def astype(self, dtype) -> np.ndarray:
        """All rows, converted (like ``ndarray.astype``; reads the whole view)."""
        return np.asarray(self, dtype=dtype)

    def __repr__(self) -> str:
        return f"RowView(shape={self.shape}, dtype={self.dtype}, rows of a base of {len(self._base)})"


# --------------------------------------------------------------------------------------------
# the feature set


def _row_keys(rows: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([rows["path"].astype(str).to_numpy(),
                                      rows["fragment"].astype(np.int64).to_numpy()], names=["path", "fragment"])


@dataclass
class FeatureSet:
    """Features of the usable rows of a manifest.

    Attributes
    ----------
    X : numpy.memmap or RowView, shape (n, n_bins, n_frames), float16
        A view of the cached array: a slice of its memory map when the rows are one run of it,
        else a :class:`RowView` (reads only the rows asked for). Never a copy.
    y : numpy.ndarray, shape (n,), int8
        1 = real, 0 = fake (the manifest's ``target``).
    rows : pandas.DataFrame
        The manifest rows aligned with ``X`` (failed rows dropped), index reset.
    config : FeatureConfig
    rejected : pandas.DataFrame
        Columns ``file``, ``reason``: rows that could not be extracted.
    path : Path or None
        The ``.npy`` file ``X`` is mapped from.
    base_array, base_index : optional
        The whole cached array and the rows of it that ``X`` shows (``X`` itself and
        ``arange(len(X))`` when not given); views of views keep pointing at the one array.
    """

    X: np.ndarray
    y: np.ndarray
    rows: pd.DataFrame
    config: FeatureConfig
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["file", "reason"]))
    path: Path | None = None
    base_array: np.ndarray | None = field(default=None, repr=False, compare=False)
    base_index: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.y)

    def _base(self) -> tuple:
        if self.base_array is not None and self.base_index is not None:
            return self.base_array, self.base_index
        if isinstance(self.X, RowView):
            return self.X.base_array, self.X.index
        return self.X, np.arange(len(self.X))

    def subset(self, mask_or_index) -> FeatureSet:
        """The rows selected by a bool mask, an index array or a slice (positions in this set).

        ``X`` of the result is a view of the cached array, never a copy: a slice of the memory map
        when the rows are one ascending run of it, else a :class:`RowView`.
        """
        idx = _positions(mask_or_index, len(self))
        base, bidx = self._base()
        sel = bidx[idx]
        return FeatureSet(_view(base, sel), self.y[idx], self.rows.iloc[idx].reset_index(drop=True), self.config,
                          self.rejected, self.path, base, sel)

    def split(self, name: str) -> FeatureSet:
        """The rows of one split (``train``, ``dev`` or ``eval``)."""
        return self.subset(self.rows["split"].to_numpy() == name)

    def select(self, rows: pd.DataFrame) -> FeatureSet:
        """The features of some manifest rows (an evaluation set, a learning-curve subset), as a view.

        Parameters
        ----------
        rows : pandas.DataFrame
            Rows of the manifest this set was loaded from (at least ``path`` and ``fragment``),
            matched by (``path``, ``fragment``), any order.

        Returns
        -------
        FeatureSet
            In the order of ``rows``; ``rows`` is ``rows`` itself (index reset, its own columns
            kept); rows whose file failed extraction are left out and listed in ``rejected``.

        Raises
        ------
        InputError
            A row that is not in this set (naming the first one), or a ``target`` that differs
            from the cached one.
        """
        if not isinstance(rows, pd.DataFrame) or not {"path", "fragment"} <= set(rows.columns):
            raise InputError("rows", "select() needs a DataFrame with columns path and fragment")
        want = rows.reset_index(drop=True)
        have = _row_keys(self.rows)
        first = ~have.duplicated()  # one cached row per (path, fragment): the features of one audio fragment
        pos = have[first].get_indexer(_row_keys(want))
        found = pos >= 0
        pos = np.flatnonzero(first)[pos[found]] if found.any() else np.zeros(0, np.intp)
        failed = np.zeros(len(want), bool)
        if not found.all():
            failed = ~found & want["path"].astype(str).isin(set(self.rejected["file"].astype(str))).to_numpy()
            absent = np.flatnonzero(~found & ~failed)
            if absent.size:
                i = int(absent[0])
                where = self.path.name if self.path is not None else "this feature set"
                raise InputError(str(want["path"].iloc[i]),
                                 f"fragment {int(want['fragment'].iloc[i])} (row {i} of the {len(want)} "
                                 f"selected; {absent.size} missing) is not a row of {where} "
                                 f"({len(self)} rows): select rows of the manifest the features were loaded from")
        out = self.subset(pos)
        kept = want[found].reset_index(drop=True)
        if "target" in kept and len(kept):
            bad = np.flatnonzero(kept["target"].astype(np.int64).to_numpy() != out.y)
            if bad.size:
                i = int(bad[0])
                raise InputError(str(kept["path"].iloc[i]), f"fragment {int(kept['fragment'].iloc[i])}: target "
                                 f"{int(kept['target'].iloc[i])} differs from the cached rows' {int(out.y[i])}")
        out.rows = kept
        reasons = dict(zip(self.rejected["file"].astype(str), self.rejected["reason"].astype(str)))
        files = want["path"][failed].astype(str).to_numpy()
        out.rejected = pd.DataFrame({"file": files, "reason": [reasons.get(f, "") for f in files]})
        return out

    @property
    def nbytes_float32(self) -> int:
        """Size of the same features as float32 arrays (the paper's storage measure)."""
        return int(np.prod(self.X.shape, dtype=np.int64)) * 4

    @property
    def nbytes_stored(self) -> int:
        """Bytes of ``X`` as stored."""
        return int(np.prod(self.X.shape, dtype=np.int64)) * self.X.dtype.itemsize


# --------------------------------------------------------------------------------------------
# files


def config_dir(cache_dir: str | os.PathLike, config: FeatureConfig) -> Path:
    """``<cache_dir>/features/<config key>``, created with its ``config.json``.

    Raises InputError when the folder cannot be made (a file in the way, no permission).
    """
    d = Path(output_dir(Path(cache_dir) / "features" / config.key(), "feature cache folder"))
    meta = d / "config.json"
    if not meta.exists():
        write_json(meta, {"feature": config.feature, "mode": config.mode, "params": config.params})
    return d


def _open_array(path: Path, shape: tuple) -> tuple[np.memmap, bool]:
    """Open (or create) a cached array for writing; a wrong header/size is recreated.

    Returns the memory map and whether it was (re)created (all its rows then need computing).
    """
    if path.exists():
        try:
            arr = np.load(path, mmap_mode="r+", allow_pickle=False)
            if arr.shape == shape and arr.dtype == STORE_DTYPE:
                return arr, False
            log.warning("%s: unexpected shape/dtype %s %s, recreating", path, arr.shape, arr.dtype)
            del arr
        except (ValueError, OSError) as exc:
            log.warning("%s: unreadable (%s), recreating", path, exc)
        path.unlink()

    def create(tmp: Path) -> None:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=STORE_DTYPE, shape=shape)
        arr.flush()
        del arr

    atomic_write(path, create)
    return np.load(path, mmap_mode="r+", allow_pickle=False), True


def _read_table(path: Path) -> pd.DataFrame | None:
    """A ``.rows.csv`` table, or None when absent or unreadable (logged)."""
    if not path.exists():
        return None
    try:
        t = pd.read_csv(path, keep_default_na=False, encoding=CSV_ENCODING, encoding_errors=CSV_ERRORS,
                        dtype={"id": str, "path": str, "reason": str})
        return t.astype({"fragment": "int64", "status": int, "crc": "int64", "reason": str})
    except (OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
        log.warning("%s unreadable (%s): its rows are recomputed", path, exc)
        return None


def _known_rows(cdir: Path, skip: str) -> dict[str, tuple[Path, int, int]]:
    """Entry id -> (array, row, crc) for rows done in the other arrays of this configuration."""
    known: dict[str, tuple[Path, int, int]] = {}
    for rows_csv in sorted(cdir.glob("*.rows.csv")):
        name = rows_csv.name[: -len(".rows.csv")]
        if name == skip:
            continue
        try:
            t = pd.read_csv(rows_csv, keep_default_na=False, encoding=CSV_ENCODING, encoding_errors=CSV_ERRORS,
                            dtype={"id": str})
            arr = cdir / f"{name}.npy"
            for i, (eid, st, crc) in enumerate(zip(t["id"], t["status"], t["crc"])):
                if st == DONE:
                    known.setdefault(str(eid), (arr, i, int(crc)))
        except (OSError, ValueError, KeyError, pd.errors.ParserError):
            continue
    return known


def _signature(*paths: Path) -> tuple | None:
    """Identity of a version of some files (inode, size, mtime, ctime); None when one is missing."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            return None
        out.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(str(name), "a cached array's name must be letters, digits, '.', '_' or '-' "
                                    "(a corpus name such as 'mini-for'), not starting with '.', '_' or '-'")


def _finish_swap(cdir: Path, name: str) -> None:
    """Complete the replacement of ``<name>`` by ``<name>~rebuild`` that a killed run left half done."""
    marker = cdir / f"{name}{SWAP}"
    if not marker.exists():
        return
    new_arr, new_rows = cdir / f"{name}{REBUILD}.npy", cdir / f"{name}{REBUILD}.rows.csv"
    if new_arr.exists():
        os.replace(new_arr, cdir / f"{name}.npy")
    if new_rows.exists():
        os.replace(new_rows, cdir / f"{name}.rows.csv")
    marker.unlink()
    log.info("%s: finished replacing the rebuilt array %s", cdir.name, name)


def _store(values: np.ndarray) -> np.ndarray:
    over = np.abs(values) > F16_MAX
    if over.any():
        log.warning("%d values beyond the float16 range clipped to +-%g", int(over.sum()), F16_MAX)
        values = np.clip(values, -F16_MAX, F16_MAX)
    return values.astype(STORE_DTYPE)


# --------------------------------------------------------------------------------------------
# loading


def load_feature_set(manifest: pd.DataFrame, config: FeatureConfig, cache_dir: str | os.PathLike,
                     progress: bool = True, batch_files: int = 64, device: str = "cpu",
                     verify: bool | str = True, name: str | None = None, client=None) -> FeatureSet:
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
    verify : bool or "once"
        Check every stored row against its CRC (recomputing mismatches) before returning;
        ``"once"``: skip the check when this process already checked the same version of the files.
    name : str, optional
        The array's name (a corpus name: :func:`corpus_features`): ``<name>.npy`` holds exactly
        the manifest's rows, in order. When the manifest changed since it was stored, the new
        version is built beside it (unchanged rows copied by entry id, the rest extracted) and
        then replaces it. Without a name, the array is named by a hash of the ordered entry ids.
    client : distributed.Client, optional
        Extract the missing rows on the client's workers, one task per batch of ``batch_files``
        files (:mod:`idsd.shards`; the same bytes as in-process). None (default): in this process,
        no Dask.

    Returns
    -------
    FeatureSet
        ``X`` memory-mapped float16, a view over the usable rows (failed rows are skipped by the
        view, not copied out).
    """
    from idsd import shards
    from idsd.progress import tqdm

    check_manifest(manifest, "manifest", required=("path", "fragment"))  # InputError on bad rows
    if verify not in (True, False, "once"):
        raise ValueError(f"verify must be True, False or 'once', got {verify!r}")
    manifest = manifest.reset_index(drop=True)
    n = len(manifest)
    shape = (n, *config.shape)
    cdir = config_dir(cache_dir, config)
    ids = entry_ids(manifest)
    final = None  # (array, table) that a rebuilt named array replaces
    if name is None:
        target = hashlib.sha1("\n".join(ids).encode()).hexdigest()[:16]
    else:
        _check_name(name)
        _finish_swap(cdir, name)
        target = name
        stored = _read_table(cdir / f"{name}.rows.csv")
        if stored is not None and list(stored["id"]) != ids:
            final = (cdir / f"{name}.npy", cdir / f"{name}.rows.csv")
            target = name + REBUILD
            log.info("%s %s: the manifest changed (%d rows stored, %d now): rebuilding it, unchanged rows "
                     "copied", config.name, name, len(stored), n)
    arr_path, rows_path = cdir / f"{target}.npy", cdir / f"{target}.rows.csv"

    table = pd.DataFrame({"id": ids, "path": manifest["path"].astype(str),
                          "fragment": manifest["fragment"].astype(int), "status": MISSING, "crc": 0,
                          "reason": ""})
    sig = _signature(arr_path, rows_path)
    checked = verify == "once" and sig is not None and _VERIFIED.get(str(arr_path)) == sig
    X, created = _open_array(arr_path, shape)
    old = _read_table(rows_path)
    if old is not None:
        if created:
            log.warning("%s: array recreated, its %d rows are recomputed", arr_path, int((old["status"] == DONE).sum()))
        elif list(old["id"]) == ids:
            table = old
        else:
            log.warning("%s: index has %d rows for a %d-row set (truncated or altered): rebuilding; "
                        "rows found in other arrays are reused, the rest recomputed", rows_path, len(old), n)
    status = table["status"].to_numpy().astype(int).copy()
    crcs = table["crc"].to_numpy().astype(np.int64).copy()
    reasons = table["reason"].astype(str).to_numpy().astype(object).copy()
    paths = manifest["path"].astype(str).to_numpy()
    frags = manifest["fragment"].to_numpy().astype(np.int64)

    if verify and not checked and not created:
        for i in np.flatnonzero(status == DONE):
            if _crc(X[i]) != crcs[i]:
                log.warning("%s row %d (%s) corrupted: recomputing", arr_path.name, i, paths[i])
                status[i] = MISSING

    last_commit = {"at": -np.inf, "cost": 0.0}

    def commit(force: bool = True) -> bool:
        """Flush the array, then write the table; unforced and for a table of more than
        ``SMALL_TABLE_ROWS`` rows, only once ``COMMIT_SPACING`` commit durations have passed since the
        last one (a 20,000-row table takes ~60 ms to write: after every batch of 64 files it would
        cost the driver about as much as the batch)."""
        t0 = time.perf_counter()
        if not force and n > SMALL_TABLE_ROWS and t0 - last_commit["at"] < COMMIT_SPACING * last_commit["cost"]:
            return False
        X.flush()
        write_csv(pd.DataFrame({"id": ids, "path": paths, "fragment": frags, "status": status, "crc": crcs,
                                "reason": reasons}), rows_path)
        last_commit["at"] = time.perf_counter()
        last_commit["cost"] = last_commit["at"] - t0
        return True

    # reuse rows computed for other manifests (or the old version of this one) with the same configuration
    todo = np.flatnonzero(status == MISSING)
    if len(todo):
        known = _known_rows(cdir, target)
        reused = 0
        opened: dict[Path, np.ndarray | None] = {}
        for i in todo:
            hit = known.get(ids[i])
            if hit is None:
                continue
            src, j, crc = hit
            if src not in opened:
                try:
                    a = np.load(src, mmap_mode="r", allow_pickle=False)
                    opened[src] = a if a.shape[1:] == shape[1:] and a.dtype == STORE_DTYPE else None
                except (OSError, ValueError):
                    opened[src] = None
            a = opened[src]
            if a is None or j >= len(a) or _crc(a[j]) != crc:
                continue
            X[i] = a[j]
            status[i], crcs[i], reasons[i] = DONE, crc, ""
            reused += 1
        del opened
        if reused:
            log.info("%s: %d rows reused from other arrays", config.name, reused)
            commit()

    # shards a killed run left behind (extracted by workers, never copied in): taken, not redone
    leftovers = shards.leftover_shards(arr_path)
    if leftovers:
        taken = 0
        for meta in leftovers:
            got = shards.read_shard(meta, ids)
            if got is not None:
                taken += shards.apply_shard(got, X, status, crcs, reasons)
            shards.remove_shard(meta)
        log.info("%s: %d rows taken from %d shards an earlier run left", arr_path.name, taken, len(leftovers))
        commit()

    # extract the rest, one decode per file, in batches of files (one Dask task per batch with a client)
    todo = np.flatnonzero(status == MISSING)
    by_file: dict[str, list[int]] = {}
    for i in todo:
        by_file.setdefault(paths[i], []).append(int(i))
    files = list(by_file)
    batches = [files[a:a + batch_files] for a in range(0, len(files), batch_files)]
    bar = tqdm(total=len(files), desc=f"features {config.name}", disable=not progress or not files,
               unit="file")
    if client is not None and batches:
        copied: list[Path] = []  # shards in the array but not yet in a written table: kept until they are
        for n_files, meta in shards.extract_distributed(client, arr_path, ids, batches, by_file, frags, config,
                                                        device):
            got = shards.read_shard(meta, ids)
            if got is None:  # cannot happen unless the shard folder is shared with another writer
                raise RuntimeError(f"{meta}: a worker's shard could not be read back")
            shards.apply_shard(got, X, status, crcs, reasons)
            copied.append(meta)
            if commit(force=False):
                for m in copied:
                    shards.remove_shard(m)
                copied.clear()
            bar.update(n_files)
        commit()
        for m in copied:
            shards.remove_shard(m)
    elif batches:
        for batch in batches:
            shards.apply_shard(shards.extract_files(batch, by_file, frags, config, device), X, status, crcs,
                               reasons)
            commit(force=False)
            bar.update(len(batch))
        commit()
    bar.close()
    shards.sweep_taken(arr_path, ids, status, crcs)
    if not rows_path.exists():
        commit()  # a set with nothing to extract (empty manifest) still gets its table
    X.flush()
    X = None  # release the writable map (before a swap)

    if final is not None:  # the rebuilt version replaces the old one: marker, array, table, no marker
        marker = cdir / f"{name}{SWAP}"
        write_text(marker, f"{target} replaces {name}\n")
        os.replace(arr_path, final[0])
        os.replace(rows_path, final[1])
        marker.unlink()
        arr_path, rows_path = final
        log.info("%s %s: rebuilt array in place", config.name, name)
    elif name is not None:
        for stale in (cdir / f"{name}{REBUILD}.npy", cdir / f"{name}{REBUILD}.rows.csv"):
            if stale.exists():  # an unfinished rebuild for a manifest that is no longer current
                stale.unlink()
    if verify:
        _VERIFIED[str(arr_path)] = _signature(arr_path, rows_path)

    ok = status == DONE
    rejected = pd.DataFrame({"file": paths[~ok], "reason": reasons[~ok].astype(str)})
    rows = manifest[ok].reset_index(drop=True)
    full = np.load(arr_path, mmap_mode="r", allow_pickle=False)
    keep = np.flatnonzero(ok)
    y = rows["target"].to_numpy().astype(np.int8) if "target" in rows else np.zeros(len(rows), np.int8)
    return FeatureSet(_view(full, keep), y, rows, config, rejected, arr_path, full, keep)


def corpus_features(outputs, study, corpus: str, config: FeatureConfig, progress: bool = True,
                    device: str = "cpu", client=None) -> FeatureSet:
    """The one cached feature array of a study corpus (every row of its manifest, in order).

    Splits, learning-curve subsets and evaluation sets are views of it (:meth:`FeatureSet.split`,
    :meth:`FeatureSet.subset`, :meth:`FeatureSet.select`); nothing is copied.

    Parameters
    ----------
    outputs : idsd.paths.Outputs
    study : idsd.study.Study
    corpus : str
        A corpus of the study, or ``"modified"`` (:data:`MODIFIED`) for its modified-speech manifest.
    config : FeatureConfig
    progress : bool
    device : {"cpu", "gpu", "auto"}
    client : distributed.Client, optional
        Extract missing rows on its workers (:func:`load_feature_set`).

    Returns
    -------
    FeatureSet
        From ``<outputs.cache>/features/<config key>/<corpus>.npy`` (filled where rows are missing;
        rows are checked by CRC once per process and file version).

    Raises
    ------
    InputError
        ``"modified"`` for a study without a modified-speech manifest.
    """
    if corpus == MODIFIED:
        manifest = study.modified(outputs)
        if manifest is None:
            raise InputError(MODIFIED, "the study has no modified-speech manifest")
    else:
        manifest = study.manifest(outputs, corpus)
    return load_feature_set(manifest, config, outputs.cache, progress=progress, device=device, verify="once",
                            name=corpus, client=client)


def fill_study(study, outputs, configs, progress: bool = True, device: str = "cpu", client=None) -> pd.DataFrame:
    """Fill the cache for every corpus of a study (and its modified-speech manifest, if any).

    One array per (corpus, configuration): :func:`corpus_features`.

    Parameters
    ----------
    study : idsd.study.Study
    outputs : idsd.paths.Outputs
    configs : iterable of FeatureConfig
    progress : bool
    device : {"cpu", "gpu", "auto"}
    client : distributed.Client, optional
        Extract on its workers, one task per batch of files (:mod:`idsd.shards`); None: in-process.

    Returns
    -------
    pandas.DataFrame
        One row per (corpus, configuration): ``corpus``, ``feature``, ``mode``, ``rows``,
        ``rejected``, ``stored_mb``, ``float32_mb``, ``seconds`` (wall time, 0 when cached).
    """
    import time

    names = list(study.eval_corpora)
    modified = study.modified(outputs)
    if modified is not None and len(modified):
        names.append(MODIFIED)
    out = []
    for cfg in configs:
        for name in names:
            t0 = time.perf_counter()
            fs = corpus_features(outputs, study, name, cfg, progress=progress, device=device, client=client)
            out.append({"corpus": name, "feature": cfg.feature, "mode": cfg.mode, "rows": len(fs),
                        "rejected": len(fs.rejected), "stored_mb": fs.nbytes_stored / 1e6,
                        "float32_mb": fs.nbytes_float32 / 1e6, "seconds": time.perf_counter() - t0})
    return pd.DataFrame(out)
