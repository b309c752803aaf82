"""The paper's five results, computed from score files (and result 4 from the measurement files).

1. :func:`in_domain_table`: EER per feature x training corpus on that corpus's eval split, plus
   "Total", the EER of the pooled eval scores of all training corpora (not the row mean).
2. :func:`cross_dataset_tables`: every training corpus on every *other* corpus's eval split;
   pooled per feature over all pairs (upstream ``compute_eer_complete.py``) and per evaluation
   corpus over training corpora and features (``compute_eer_dataset.py``).
3. the learning curve: trained and scored by :mod:`idsd.learning_curve`; its tables and intervals
   are assembled in :mod:`idsd.reports`.
4. :func:`hardware_table`: storage, RAM and extraction time per feature from the features
   benchmark (:data:`idsd.hardware.COLUMNS`) and the training records (:mod:`idsd.artifact`).
5. :func:`robustness_table`: EER per feature per modification (the ``condition`` column).

Plus :func:`per_source_eer` (each fake source against all bona fide trials),
:func:`pair_metrics` (every metric, at 0.5 and at the development-split EER threshold) and
:func:`curves` (DET/ROC inputs). The paper's definitions are in docs/paper.md (sections 6 and 9).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from idsd import metrics
from idsd.features import FEATURES
from idsd.paper_values import HARDWARE_SAMPLES
from idsd.paths import Outputs
from idsd.scores import KEY_COLUMNS, MODIFIED

log = logging.getLogger(__name__)

TOTAL = "Total"
"""Row name of the pooled in-domain EER (the paper's Total)."""


def eer_of(df: pd.DataFrame) -> float:
    """EER of a score frame (columns ``score``, ``target``); NaN when a class is missing."""
    b, s = metrics.split_by_target(df["score"].to_numpy(), df["target"].to_numpy())
    if b.size == 0 or s.size == 0:
        return math.nan
    return metrics.compute_eer(b, s)[0]


def dev_thresholds(scores: pd.DataFrame) -> pd.DataFrame:
    """The EER threshold on the development split of each model's own corpus.

    Parameters
    ----------
    scores : DataFrame from :func:`idsd.scores.collect_scores`

    Returns
    -------
    DataFrame
        ``train_corpus, mode, run, dev_eer, dev_threshold, n_dev`` (models without dev scores
        are absent).
    """
    dev = scores[(scores["train_corpus"] == scores["eval_corpus"]) & (scores["split"] == "dev")]
    rows = []
    for (tc, mode, run), g in dev.groupby(["train_corpus", "mode", "run"], sort=True):
        b, s = metrics.split_by_target(g["score"].to_numpy(), g["target"].to_numpy())
        if b.size == 0 or s.size == 0:
            log.warning("%s/%s/%s: the dev split lacks a class; no dev threshold", tc, mode, run)
            continue
        eer, thr = metrics.compute_eer(b, s)
        rows.append({"train_corpus": tc, "mode": mode, "run": run, "dev_eer": eer,
                     "dev_threshold": thr, "n_dev": len(g)})
    return pd.DataFrame(rows, columns=["train_corpus", "mode", "run", "dev_eer", "dev_threshold", "n_dev"])


def pair_metrics(scores: pd.DataFrame, threshold: float = metrics.DEFAULT_THRESHOLD) -> pd.DataFrame:
    """Every metric of every (train corpus, eval corpus, mode, model) on the eval split.

    Accuracy and accept/reject counts are given at ``threshold`` (upstream 0.5) and, with a
    ``dev_`` prefix, at the model's development-split EER threshold (:func:`dev_thresholds`),
    which is the threshold a deployed detector would use.

    Returns
    -------
    DataFrame
        Key columns + :func:`idsd.metrics.summarize` columns, one row per pair.
    """
    thr = dev_thresholds(scores).set_index(["train_corpus", "mode", "run"])["dev_threshold"].to_dict()
    ev = scores[scores["split"] == "eval"]
    rows = []
    for key, g in ev.groupby(list(KEY_COLUMNS), sort=True):
        b, s = metrics.split_by_target(g["score"].to_numpy(), g["target"].to_numpy())
        if b.size == 0 or s.size == 0:
            log.warning("%s: one class only; skipped", "/".join(key))
            continue
        row = dict(zip(KEY_COLUMNS, key))
        row["in_domain"] = key[0] == key[1]
        row.update(metrics.summarize(b, s, threshold, thr.get((key[0], key[2], key[3]))))
        rows.append(row)
    return pd.DataFrame(rows)


def feature_order(features: Iterable[str]) -> list[str]:
    """``features`` in the paper's order, unknown names after them (sorted)."""
    feats = list(dict.fromkeys(features))
    known = [f for f in FEATURES if f in feats]
    return known + sorted(f for f in feats if f not in known)


def _check_one_run_per_feature(df: pd.DataFrame) -> None:
    multi = df.groupby(["mode", "feature"])["run"].nunique()
    multi = multi[multi > 1]
    if len(multi):
        raise ValueError(f"several models per feature ({dict(multi)}): select one mode and pooling "
                         "first (idsd.scores.select(scores, mode=..., pooling=...))")


def in_domain_table(scores: pd.DataFrame, corpora: Sequence[str] | None = None) -> pd.DataFrame:
    """Result 1: in-domain EER per training corpus x feature, with the pooled "Total".

    Parameters
    ----------
    scores : DataFrame from :func:`idsd.scores.collect_scores`, one mode and pooling (see :func:`idsd.scores.select`)
    corpora : sequence of str, optional
        Row order (default: the training corpora found, sorted).

    Returns
    -------
    DataFrame
        Index: training corpora then ``"Total"`` (EER of the pooled eval scores of the rows
        above, as the paper's Total; docs/paper.md 9.1); columns: features (paper order). NaN where
        a model is missing.
    """
    ind = scores[(scores["train_corpus"] == scores["eval_corpus"]) & (scores["split"] == "eval")]
    _check_one_run_per_feature(ind)
    corpora = list(corpora) if corpora is not None else sorted(ind["train_corpus"].unique())
    feats = feature_order(ind["feature"])
    table = pd.DataFrame(index=[*corpora, TOTAL], columns=feats, dtype=float)
    for (tc, f), g in ind.groupby(["train_corpus", "feature"]):
        if tc in corpora:
            table.loc[tc, f] = eer_of(g)
    for f, g in ind[ind["train_corpus"].isin(corpora)].groupby("feature"):
        table.loc[TOTAL, f] = eer_of(g)
    table.index.name = "training corpus"
    return table


def cross_dataset_tables(scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Result 2: cross-dataset EER (each training corpus on every other corpus's eval split).

    Parameters
    ----------
    scores : DataFrame from :func:`idsd.scores.collect_scores`, one mode and pooling; the modified set is ignored

    Returns
    -------
    dict of DataFrame
        ``pairs``: long, one row per (train corpus, eval corpus, feature) with ``eer``,
        ``n_bona``, ``n_spoof``;
        ``matrix``: index (feature, train corpus), columns eval corpora (NaN on the diagonal);
        ``by_feature``: EER of all cross pairs pooled per feature (upstream
        ``compute_eer_complete``), index feature, columns ``eer, n_pairs, n``;
        ``by_eval_corpus``: EER pooled per eval corpus over training corpora and features
        (upstream ``compute_eer_dataset``), index eval corpus;
        ``feature_x_eval``: EER pooled over training corpora, index feature, columns eval corpora.
    """
    cross = scores[(scores["train_corpus"] != scores["eval_corpus"]) & (scores["split"] == "eval")
                   & (scores["eval_corpus"] != MODIFIED)]
    _check_one_run_per_feature(cross)
    feats = feature_order(cross["feature"])
    pairs = []
    for (tc, ev, f), g in cross.groupby(["train_corpus", "eval_corpus", "feature"], sort=True):
        pairs.append({"train_corpus": tc, "eval_corpus": ev, "feature": f, "eer": eer_of(g),
                      "n_bona": int((g["target"] == 1).sum()), "n_spoof": int((g["target"] == 0).sum())})
    pairs = pd.DataFrame(pairs, columns=["train_corpus", "eval_corpus", "feature", "eer", "n_bona", "n_spoof"])
    evs = sorted(cross["eval_corpus"].unique())
    matrix = pairs.pivot_table(index=["feature", "train_corpus"], columns="eval_corpus", values="eer",
                               dropna=False) if len(pairs) else pd.DataFrame()
    if len(matrix):
        matrix = matrix.reindex(columns=evs).reindex(feats, level=0)
    by_feature = pd.DataFrame(
        [{"feature": f, "eer": eer_of(g), "n_pairs": g.groupby(["train_corpus", "eval_corpus"]).ngroups,
          "n": len(g)} for f, g in cross.groupby("feature")],
        columns=["feature", "eer", "n_pairs", "n"]).set_index("feature").reindex(feats)
    by_eval = pd.DataFrame(
        [{"eval_corpus": ev, "eer": eer_of(g), "n_train_corpora": g["train_corpus"].nunique(),
          "n_features": g["feature"].nunique(), "n": len(g)} for ev, g in cross.groupby("eval_corpus")],
        columns=["eval_corpus", "eer", "n_train_corpora", "n_features", "n"]).set_index("eval_corpus")
    fx = pd.DataFrame(index=feats, columns=evs, dtype=float)
    for (f, ev), g in cross.groupby(["feature", "eval_corpus"]):
        fx.loc[f, ev] = eer_of(g)
    fx.index.name = "feature"
    return {"pairs": pairs, "matrix": matrix, "by_feature": by_feature, "by_eval_corpus": by_eval,
            "feature_x_eval": fx}


def per_source_eer(scores: pd.DataFrame, by: Sequence[str] = ("train_corpus", "eval_corpus", "feature"),
                   ) -> pd.DataFrame:
    """EER of each fake source (TTS engine / vocoder / attack) against all bona fide trials.

    Parameters
    ----------
    scores : DataFrame
        Score rows (eval split is taken when a ``split`` column exists).
    by : sequence of str
        Grouping columns; within each group every fake source is scored against the group's
        bona fide trials.

    Returns
    -------
    DataFrame
        ``by`` columns + ``source, eer, n_bona, n_spoof``.
    """
    df = scores[scores["split"] == "eval"] if "split" in scores else scores
    by = [c for c in by if c in df]
    rows = []
    for key, g in (df.groupby(by, sort=True) if by else [((), df)]):
        key = key if isinstance(key, tuple) else (key,)
        bona = g.loc[g["target"] == 1, "score"].to_numpy()
        if bona.size == 0:
            continue
        for src, gs in g[g["target"] == 0].groupby("source", sort=True):
            spoof = gs["score"].to_numpy()
            rows.append({**dict(zip(by, key)), "source": src, "eer": metrics.compute_eer(bona, spoof)[0],
                         "n_bona": int(bona.size), "n_spoof": int(spoof.size)})
    return pd.DataFrame(rows, columns=[*by, "source", "eer", "n_bona", "n_spoof"])


def robustness_table(scores: pd.DataFrame, train_corpus: str | None = None,
                     clean_from_in_domain: bool = True) -> pd.DataFrame:
    """Result 5: EER per feature (rows) per modification (columns) of the modified-speech set.

    Parameters
    ----------
    scores : DataFrame from :func:`idsd.scores.collect_scores`, one mode and pooling
    train_corpus : str, optional
        Models trained on this corpus (default: every training corpus with modified-set scores;
        more than one gives a ``train_corpus`` index level).
    clean_from_in_domain : bool
        When the modified set has no ``clean`` condition, add a ``clean`` column from the
        in-domain eval scores of the same models (the unmodified reference).

    Returns
    -------
    DataFrame
        Index feature (or (train_corpus, feature)); columns ``clean`` first, then the
        conditions sorted.
    """
    mod = scores[scores["eval_corpus"] == MODIFIED]
    if train_corpus is not None:
        mod = mod[mod["train_corpus"] == train_corpus]
    _check_one_run_per_feature(mod)
    rows = {}
    for (tc, f, cond), g in mod.groupby(["train_corpus", "feature", "condition"], sort=True):
        rows.setdefault((tc, f), {})[cond] = eer_of(g)
    if clean_from_in_domain:
        for (tc, f), r in rows.items():
            if "clean" not in r:
                ref = scores[(scores["train_corpus"] == tc) & (scores["eval_corpus"] == tc)
                             & (scores["split"] == "eval") & (scores["feature"] == f)
                             & (scores["mode"].isin(mod["mode"].unique()))
                             & (scores["run"].isin(mod["run"].unique()))]
                if len(ref):
                    r["clean"] = eer_of(ref)
    table = pd.DataFrame.from_dict(rows, orient="index")
    if table.empty:
        return table
    table.index = pd.MultiIndex.from_tuples(table.index, names=["train_corpus", "feature"])
    cols = sorted(table.columns, key=lambda c: (c != "clean", c))
    table = table[cols]
    order = feature_order(table.index.get_level_values("feature"))
    table = table.reindex(sorted(table.index, key=lambda k: (k[0], order.index(k[1]))))
    if table.index.get_level_values("train_corpus").nunique() == 1:
        table = table.droplevel("train_corpus")
    return table


def curves(scores: pd.DataFrame, label: str = "feature", split: str = "eval", **equal) -> dict[str, tuple]:
    """Bona fide / spoof score arrays per ``label`` value, for DET and ROC plots.

    Parameters
    ----------
    scores : DataFrame (score rows)
    label : str
        Column whose values become the curves (e.g. ``feature``).
    split : str
        Split kept.
    **equal
        Column filters, e.g. ``train_corpus="mini-for", eval_corpus="mini-for"``.

    Returns
    -------
    dict
        ``value -> (bona (n_b,), spoof (n_s,))``.
    """
    df = scores[scores["split"] == split]
    for k, v in equal.items():
        df = df[df[k] == v]
    out = {}
    keys = list(dict.fromkeys(df[label]))
    if label == "feature":
        keys = feature_order(keys)
    for key in keys:
        g = df[df[label] == key]
        out[str(key)] = metrics.split_by_target(g["score"].to_numpy(), g["target"].to_numpy())
    return out


# =========================================================================== result 4

def feature_bytes_per_clip(feature: str, mode: str = "array") -> float | None:
    """float32 bytes of one clip's feature (``idsd.features.feature_shape``), None if unavailable."""
    try:
        from idsd.features import feature_shape
    except ImportError:
        return None
    try:
        return float(np.prod(feature_shape(feature, mode)) * 4)
    except (ValueError, KeyError):
        return None

def hardware_table(out: Outputs, mode: str = "array", n_samples: int = HARDWARE_SAMPLES) -> pd.DataFrame:
    """Result 4: storage, RAM and speed per feature.

    Sources: :attr:`idsd.paths.Outputs.features_hardware` (notebook 02; see
    :func:`read_features_hardware`) and the grid's training records (:func:`idsd.artifact.records_under`).
    Storage is the float32 size of one clip's features (from the features benchmark or, when
    it has none, ``feature_shape``), also projected to ``n_samples`` clips (the paper's ~240k
    WaveFake training samples) to compare with the paper's GB.

    Returns
    -------
    DataFrame
        Index feature (paper order); columns ``storage_bytes_per_clip``,
        ``storage_gb_at_<n>k``, ``extract_ms`` (per clip), ``extract_ram_gb`` (from the features
        benchmark), ``train_peak_ram_gb`` (max over runs of this mode), ``train_samples_per_s``
        (median over runs), and ``storage_norm``, ``ram_norm``, ``time_norm`` (max-normalised
        as the paper's bar chart; RAM = training peak RAM when known, else extraction RAM).
        Empty when neither source exists.
    """
    from idsd.artifact import records_under

    hw_path = out.features_hardware
    hw = read_features_hardware(hw_path) if hw_path.is_file() else pd.DataFrame()
    if not hw_path.is_file():
        log.warning("%s not found (notebook 02 writes it): no extraction time / storage columns", hw_path)
    runs = read_run_records(records_under(out.models))
    if len(runs):
        runs = runs[(runs["mode"].isin([mode, ""])) & (~runs["learning_curve"])]
    feats = feature_order(list(hw.index) + list(runs["feature"]) if len(runs) else list(hw.index))
    if not feats:
        return pd.DataFrame()
    t = pd.DataFrame(index=pd.Index(feats, name="feature"))
    st = hw["storage_bytes_per_clip"] if "storage_bytes_per_clip" in hw else pd.Series(dtype=float)
    t["storage_bytes_per_clip"] = [st.get(f, math.nan) if not pd.isna(st.get(f, math.nan))
                                   else (feature_bytes_per_clip(f, mode) or math.nan) for f in feats]
    t[f"storage_gb_at_{n_samples // 1000}k"] = t["storage_bytes_per_clip"] * n_samples / 1e9
    t["extract_ms"] = hw["extract_ms"].reindex(feats) if "extract_ms" in hw else math.nan
    t["extract_ram_gb"] = hw["ram_gb"].reindex(feats) if "ram_gb" in hw else math.nan
    if len(runs):
        g = runs.groupby("feature")
        t["train_peak_ram_gb"] = g["peak_ram_gb"].max().reindex(feats)
        t["train_samples_per_s"] = g["samples_per_s"].median().reindex(feats)
    else:
        t["train_peak_ram_gb"] = math.nan
        t["train_samples_per_s"] = math.nan
    ram = t["train_peak_ram_gb"].where(t["train_peak_ram_gb"].notna(), t["extract_ram_gb"])
    for col, norm in ((t["storage_bytes_per_clip"], "storage_norm"), (ram, "ram_norm"),
                      (t["extract_ms"], "time_norm")):
        mx = col.max()
        t[norm] = col / mx if pd.notna(mx) and mx > 0 else math.nan
    return t

def read_features_hardware(path: str | os.PathLike) -> pd.DataFrame:
    """Read the features benchmark table (:func:`idsd.hardware.write_hardware_table`, notebook 02).

    Parameters
    ----------
    path : str or PathLike
        ``features_hardware.csv`` with the columns :data:`idsd.hardware.COLUMNS`.

    Returns
    -------
    DataFrame
        Index feature (the ``array`` mode rows when the file has several modes); columns
        ``storage_bytes_per_clip`` (float32 bytes of one clip's features), ``ram_gb`` (peak
        extraction memory, from ``peak_ram_mib``), ``extract_ms`` (our batched extraction time per
        clip, ``batch_ms_per_clip``), then the file's other numeric columns unchanged.

    Raises
    ------
    InputError
        The file lacks columns of :data:`idsd.hardware.COLUMNS`.
    """
    from idsd.errors import InputError
    from idsd.hardware import COLUMNS

    raw = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(path, f"not a features benchmark table (idsd.hardware.COLUMNS): missing {missing}")
    if (raw["mode"] == "array").any():
        raw = raw[raw["mode"] == "array"]
    num = raw.select_dtypes("number").groupby(raw["feature"].astype(str)).mean()
    out = pd.DataFrame(index=num.index)
    out.index.name = "feature"
    out["storage_bytes_per_clip"] = num["storage_bytes_per_clip"]
    out["ram_gb"] = num["peak_ram_mib"] * 1024 ** 2 / 1e9
    out["extract_ms"] = num["batch_ms_per_clip"]
    out.attrs["extract_column"] = "batch_ms_per_clip"
    for c in num.columns:
        if c not in out:
            out[c] = num[c]
    return out


def read_run_records(records: Iterable[dict]) -> pd.DataFrame:
    """Training records (:mod:`idsd.artifact`) -> one row per run: ``feature, mode, train_corpus,
    run, peak_ram_gb`` (from ``peak_rss_mb``), ``samples_per_s`` (``train_samples_per_s``, the
    steady-state speed, else ``samples_per_s``) and ``learning_curve``."""
    rows = []
    for rec in records:
        sps = rec.get("train_samples_per_s")
        sps = rec.get("samples_per_s") if sps is None else sps
        ram = rec.get("peak_rss_mb")
        rows.append({
            "feature": rec.get("feature"), "mode": rec.get("mode", ""), "train_corpus": rec.get("train_corpus", ""),
            "run": rec.get("name"),
            "peak_ram_gb": float(ram) * 1e6 / 1e9 if ram is not None else math.nan,
            "samples_per_s": float(sps) if sps is not None else math.nan,
            "learning_curve": bool(rec.get("learning_curve", False)),
        })
    return pd.DataFrame(rows, columns=["feature", "mode", "train_corpus", "run", "peak_ram_gb", "samples_per_s",
                                       "learning_curve"])
