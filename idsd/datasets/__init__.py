"""Corpus adapters: every published layout -> one manifest schema (one row per 2-s fragment).

>>> manifest, rejected = build_manifest("/data/for-2seconds", layout="for")   # doctest: +SKIP

Layouts: ``for`` (all four FoR versions and the embedded suite), ``asvspoof2019`` (LA),
``asvspoof2021`` (DF), ``asvspoof5`` (ASVspoof 5, track 1), ``wavefake`` (+ LJSpeech, JSUT),
``fakeavceleb``, ``inthewild`` (In-the-Wild), ``mlaad`` (MLAAD + M-AILABS), ``folder`` (any
``real/`` + ``fake/`` tree); docs/data_layouts.md shows the tree each one expects. Bad files
(corrupt, empty, non-audio, too short, silent) are skipped and listed in the rejected table with
the reason; stereo, other sample rates and 8/24-bit files are converted on load (downmix, soxr to
16 kHz, float32) and kept.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from idsd import CLIP_SAMPLES
from idsd.audio import fragments, load_audio
from idsd.datasets import asvspoof, asvspoof5, fakeavceleb, fakeorreal, folder, inthewild, mlaad, wavefake
from idsd.datasets.common import MANIFEST_COLUMNS, REJECTED_COLUMNS, SPLITS, Entry, expand
from idsd.errors import AudioError, IDSDError, InputError, MissingInputError
from idsd.files import write_csv
from idsd.validate import (
    file_problem,
    input_dir,
    output_file,
)

log = logging.getLogger(__name__)

__all__ = ["MANIFEST_COLUMNS", "REJECTED_COLUMNS", "SPLITS", "LAYOUTS", "EVAL_ONLY", "Entry", "build_manifest",
           "default_name", "detect_layout", "list_entries", "load_fragment", "write_manifest", "summarize"]

LAYOUTS = ("for", "asvspoof2019", "asvspoof2021", "asvspoof5", "wavefake", "fakeavceleb", "inthewild", "mlaad",
           "folder")


# Detection order: the tests that look for a marker file or folder of their own come first (cheap
# and unambiguous); asvspoof2021 globs the whole tree, so it comes after them; mlaad must precede
# folder (its fake/ would pass for a generic real/fake tree) and folder is the catch-all.
_DETECT = (("asvspoof2019", asvspoof.looks_like_2019), ("asvspoof5", asvspoof5.looks_like),
           ("inthewild", inthewild.looks_like), ("mlaad", mlaad.looks_like),
           ("asvspoof2021", asvspoof.looks_like_2021), ("wavefake", wavefake.looks_like),
           ("fakeavceleb", fakeavceleb.looks_like), ("for", fakeorreal.looks_like), ("folder", folder.looks_like))


def detect_layout(root: str | os.PathLike) -> str:
    """Guess the layout of a corpus folder (first match in a fixed order); raises when none fits."""
    root = input_dir(root, "corpus folder")
    for name, test in _DETECT:
        if test(root):
            return name
    raise MissingInputError(root, f"no known corpus layout ({', '.join(LAYOUTS)})")


EVAL_ONLY = frozenset({"asvspoof2021", "fakeavceleb", "inthewild"})
"""Layouts whose corpus is evaluation-only: every file is in split ``eval``."""


def default_name(root: str | os.PathLike, layout: str) -> str:
    """The dataset name :func:`list_entries` gives a corpus, without listing its files.

    ``for`` -> from the folder name (``for-2seconds`` -> ``for-2sec``), ``folder`` -> the folder
    name, every other layout -> the layout name (``asvspoof5``, ``inthewild``, ``mlaad``, ...).
    """
    root = os.fspath(root)
    if layout == "for":
        return fakeorreal.dataset_name(root)
    if layout == "folder":
        return os.path.basename(os.path.normpath(root))
    if layout not in LAYOUTS:
        raise InputError(root, f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    return layout


def list_entries(root: str | os.PathLike, layout: str = "auto", **options) -> tuple[str, list[Entry], list]:
    """List the files of a corpus without decoding them.

    Returns
    -------
    (default dataset name, entries, rejected (file, reason) list)
    """
    root = input_dir(root, "corpus folder")
    if layout != "auto" and layout not in LAYOUTS:
        raise InputError(root, f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)} or auto")
    layout = detect_layout(root) if layout == "auto" else layout
    try:
        return _list_entries(root, layout, **options)
    except IDSDError:
        raise
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise MissingInputError(root, str(exc).removeprefix(f"{root}: ")) from None
    except (ValueError, PermissionError) as exc:
        raise InputError(root, str(exc).removeprefix(f"{root}: ")) from None


def _list_entries(root: str, layout: str, **options) -> tuple[str, list[Entry], list]:
    if layout == "for":
        return fakeorreal.dataset_name(root), *fakeorreal.list_entries(root)
    if layout == "asvspoof2019":
        return "asvspoof2019", *asvspoof.list_entries_2019(root)
    if layout == "asvspoof2021":
        return "asvspoof2021", *asvspoof.list_entries_2021(root)
    if layout == "asvspoof5":
        return "asvspoof5", *asvspoof5.list_entries(root)
    if layout == "wavefake":
        return "wavefake", *wavefake.list_entries(root)
    if layout == "fakeavceleb":
        return "fakeavceleb", *fakeavceleb.list_entries(root, **options)
    if layout == "inthewild":
        return "inthewild", *inthewild.list_entries(root)
    if layout == "mlaad":
        return "mlaad", *mlaad.list_entries(root)
    if layout == "folder":
        return os.path.basename(os.path.normpath(root)), *folder.list_entries(root, **options)
    raise ValueError(f"unknown layout {layout!r}; choose one of {LAYOUTS} or 'auto'")


def build_manifest(root: str | os.PathLike, layout: str = "auto", dataset: str | None = None, pad: bool = False,
                   verify: bool = True, workers: int | None = None, progress: bool = True,
                   resume: str | os.PathLike | None = None, **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a corpus in its published layout into a fragment manifest.

    Parameters
    ----------
    root : str or PathLike
        The corpus folder (e.g. ``for-2seconds/``, ``LA/``, the WaveFake download root,
        ``release_in_the_wild/``, the ASVspoof 5 folder holding ``flac_T/``).
    layout : str
        One of :data:`LAYOUTS`, or ``"auto"``.
    dataset : str, optional
        Value of the ``dataset`` column (default: the canonical corpus name, see
        docs/architecture.md).
    pad : bool
        Zero-pad short files and last partial windows instead of dropping them (upstream drops).
    verify : bool
        Decode every file to catch corrupt and silent ones (default); ``False`` trusts headers.
    workers : int, optional
        Decoding threads.
    progress : bool
        Progress bar.
    resume : str or PathLike, optional
        Checkpoint file (see :func:`idsd.datasets.common.expand`): files decoded by an
        interrupted run are not decoded again.
    **options
        Layout-specific: ``unsplit`` (folder), ``include_fake_video`` (fakeavceleb).

    Returns
    -------
    manifest : pandas.DataFrame
        Columns :data:`MANIFEST_COLUMNS`.
    rejected : pandas.DataFrame
        Columns ``file, reason``: every file or folder not used, with the reason (hidden,
        unreadable, not a regular file, broken symlink, unsupported name, corrupt, too short...).

    Raises
    ------
    InputError
        ``root`` missing or not a folder, unknown layout, no known layout, bad ``dataset``.
    """
    if dataset is not None and (not isinstance(dataset, str) or not dataset.strip()
                                or any(c in dataset for c in "\n\r,\"")):
        raise InputError("--dataset", f"{dataset!r} is not a usable corpus name")
    name, entries, rejected = list_entries(root, layout, **options)
    return expand(entries, dataset or name, pad=pad, verify=verify, workers=workers, progress=progress,
                  rejected=rejected, resume=resume)


def write_manifest(manifest: pd.DataFrame, rejected: pd.DataFrame | None, path: str | os.PathLike,
                   rejected_path: str | os.PathLike | None = None) -> dict[str, str]:
    """Write a manifest CSV and its rejected CSV (``<stem>.rejected.csv`` unless named).

    Each is written to a temporary file and moved into place (never a partial file). File names
    with any bytes survive: UTF-8 with undecodable bytes kept as they are
    (:data:`idsd.validate.CSV_ERRORS`), so :func:`idsd.validate.read_manifest` reads back exactly
    the names written.

    Returns
    -------
    dict
        ``{"manifest": path, "rejected": path}``.

    Raises
    ------
    InputError
        ``path`` (or the rejected path) is a folder or cannot be created.
    """
    path = output_file(path, "manifest")
    rpath = None
    if rejected is not None:
        rpath = output_file(os.fspath(rejected_path) if rejected_path
                            else os.path.splitext(path)[0] + ".rejected.csv", "rejected CSV")
    write_csv(manifest.loc[:, list(MANIFEST_COLUMNS)], path)
    out = {"manifest": path}
    if rejected is not None:
        write_csv(rejected.loc[:, list(REJECTED_COLUMNS)], rpath)
        out["rejected"] = rpath
    return out


@functools.lru_cache(maxsize=16)
def _decoded(path: str, mtime: float) -> np.ndarray:
    y = load_audio(path)
    y.setflags(write=False)
    return y


def load_fragment(path, fragment: int | None = None, pad: bool = False) -> np.ndarray:
    """One 2-s fragment of a file, as the manifest row names it.

    Parameters
    ----------
    path : str, PathLike, or a manifest row (mapping / Series with ``path`` and ``fragment``)
    fragment : int
        Window index (offset ``fragment * 32000`` samples after resampling to 16 kHz).
    pad : bool
        Zero-pad a last partial window (as in ``build_manifest(pad=True)``).

    Returns
    -------
    numpy.ndarray, shape (32000,), float32

    Raises
    ------
    AudioError
        Unreadable file, or no such fragment.
    """
    if isinstance(path, Mapping | pd.Series):
        row = path
        path, fragment = row["path"], int(row["fragment"] if fragment is None else fragment)
    path = os.fspath(path)
    fragment = int(fragment or 0)
    problem = file_problem(path)
    if problem:
        raise AudioError(path, problem)
    mtime = os.path.getmtime(path)
    frags = fragments(_decoded(path, mtime), CLIP_SAMPLES, pad=pad)
    if not 0 <= fragment < len(frags):
        raise AudioError(path, f"no fragment {fragment} (file has {len(frags)})")
    return frags[fragment].copy()


def summarize(manifest: pd.DataFrame, by=("dataset", "split", "label")) -> pd.DataFrame:
    """Fragment and file counts per group (for notebook tables)."""
    g = manifest.groupby(list(by), sort=True)
    return pd.DataFrame({"fragments": g.size(), "files": g["path"].nunique(),
                         "hours": g.size() * 2.0 / 3600}).reset_index()
