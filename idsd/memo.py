"""Computed evidence tables kept on disk, keyed by their inputs, so notebooks share them.

Notebook 04 computes the intervals and paired tests of results 1 and 2, notebooks 05 and 06 those
of results 5 and 3, and notebook 07 needs all of them again for ``results.md``. The bootstrap is
a deterministic function of its score rows, its parameters and the code of
:mod:`idsd.uncertainty` and :mod:`idsd.evidence`, so :func:`cached` stores each result as CSV
under ``<outputs>/cache/evidence/`` with that key in its name, and a later call with the same
inputs reads it back instead of resampling again (in the default study: minutes of notebook 07).
A change of any score, parameter or of that code gives a new key, hence a new computation.

Floats are written with ``repr`` precision and read back with pandas' round-trip float parser, so a
table read back holds the same values to the bit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from idsd.files import CSV_ENCODING, CSV_ERRORS, write_csv, write_json

log = logging.getLogger(__name__)

_CODE = ("uncertainty.py", "evidence.py", "metrics.py")
"""Modules whose source is part of every key (the computation itself)."""


def _code_digest() -> bytes:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in _CODE:
        h.update((here / name).read_bytes())
    return h.digest()


def key(inputs: pd.DataFrame, params: Mapping) -> str:
    """A 16-hex-digit key of a score table, parameters and the evidence code.

    Parameters
    ----------
    inputs : DataFrame
        The rows the computation reads (column order and row order matter, as they may for the
        computation).
    params : mapping
        JSON-serialisable parameters (``n_boot``, ``seed``, ...).

    Returns
    -------
    str
    """
    h = hashlib.sha256(_code_digest())
    h.update(json.dumps(list(map(str, inputs.columns))).encode())
    h.update(pd.util.hash_pandas_object(inputs, index=False).to_numpy().tobytes())
    h.update(json.dumps(dict(params), sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _read_csv(path: Path) -> pd.DataFrame:
    # only "NaN" is a missing value: empty strings and labels such as "NA" or "none" stay strings
    return pd.read_csv(path, keep_default_na=False, na_values=["NaN"], encoding=CSV_ENCODING,
                       encoding_errors=CSV_ERRORS)


def cached(cache_dir: str | os.PathLike | None, name: str, inputs: pd.DataFrame, params: Mapping,
           compute: Callable[[], pd.DataFrame | dict[str, pd.DataFrame]]
           ) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """``compute()``, or its stored result when the same inputs were computed before.

    Parameters
    ----------
    cache_dir : path or None
        Folder of stored results (``Outputs.cache / "evidence"``); None computes without storing.
    name : str
        What is computed (part of the file name).
    inputs, params
        Everything the result depends on besides the code (see :func:`key`).
    compute : callable
        Returns a DataFrame or a dict of DataFrames (stored as one CSV each).

    Returns
    -------
    DataFrame or dict of DataFrames
        Always the stored copy read back from CSV (also right after computing it), so the first
        run and a reuse hand on the same table: the same values to the bit, the same index columns.
    """
    if cache_dir is None:
        return compute()
    folder = Path(cache_dir) / f"{name}-{key(inputs, params)}"
    done = folder / "done.json"
    if done.is_file():
        log.info("%s: reusing %s", name, folder)
    else:
        result = compute()
        single = isinstance(result, pd.DataFrame)
        frames = {"": result} if single else dict(result)
        folder.mkdir(parents=True, exist_ok=True)
        index = {}
        for p, df in frames.items():
            plain = isinstance(df.index, pd.RangeIndex) and df.index.name is None
            index[p] = [] if plain else [n if n is not None else f"level_{i}" for i, n in enumerate(df.index.names)]
            write_csv(df.reset_index(drop=True) if plain else df.reset_index(names=index[p]),
                      folder / f"{p}.csv", na_rep="NaN")
        write_json(done, {"single": single, "index": index}, indent=None)
    # always the stored copy, so a first run and a reuse hand on exactly the same table
    meta = json.loads(done.read_text())
    frames = {}
    for p, cols in meta["index"].items():
        df = _read_csv(folder / f"{p}.csv")
        frames[p] = df.set_index(cols) if cols else df
    return frames[""] if meta["single"] else frames
