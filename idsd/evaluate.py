"""Score files and the five results of the paper.

Scores are P(real) (higher = more bona fide) everywhere; see :mod:`idsd.metrics`.

Score files
-----------
One CSV per (training corpus, evaluation corpus, input mode, model), one line per 2-s fragment,
columns :data:`SCORE_COLUMNS`, at
``<outputs>/scores/<train_corpus>/<eval_corpus>/<mode>/<run_name>.csv``. In-domain files
(evaluation corpus = training corpus) hold the ``dev`` and the ``eval`` split (the dev rows give
the decision threshold); cross-dataset files hold the ``eval`` split of the other corpus; the
modified-speech set is evaluation corpus :data:`MODIFIED`. Learning-curve scores live one level
deeper, ``<outputs>/scores/learning_curve/<corpus>/<mode>/<subset>/<run_name>.csv``, so they never
mix with the main grid.

The five results (docs/paper.md sections 6 and 9)
----------------------------------------------------------------
1. :func:`in_domain_table`: EER per feature x training corpus on that corpus's eval split, plus
   "Total", the EER of the pooled eval scores of all training corpora (not the row mean).
2. :func:`cross_dataset_tables`: every training corpus on every *other* corpus's eval split;
   pooled per feature over all pairs (upstream ``compute_eer_complete.py``) and per evaluation
   corpus over training corpora and features (``compute_eer_dataset.py``).
3. :func:`learning_curve_subsets` / :func:`run_learning_curve`: cumulative class-stratified
   tenths of one corpus's training split, EER vs size per feature.
4. :func:`hardware_table`: storage, RAM and extraction time per feature from the features
   benchmark and the training run records.
5. :func:`robustness_table`: EER per feature per modification (the ``condition`` column).

Plus :func:`per_source_eer` (each fake source against all bona fide trials) and
:func:`pair_metrics` (every metric, at 0.5 and at the development-split EER threshold).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.special

from idsd import metrics
from idsd.paper_values import FEATURES as PAPER_FEATURES
from idsd.paper_values import HARDWARE_SAMPLES
from idsd.paths import Outputs
from idsd.progress import tqdm

log = logging.getLogger(__name__)

SCORE_COLUMNS = ("path", "fragment", "dataset", "split", "label", "target", "source", "speaker",
                 "condition", "score")
"""Columns of a score file, in order."""

KEY_COLUMNS = ("train_corpus", "eval_corpus", "mode", "run", "feature", "pooling", "seed")
"""Columns :func:`collect_scores` adds from the score file's location."""

MODIFIED = "modified"
"""Evaluation-corpus name of the modified-speech set in score paths."""

BASELINE_MODE = "baseline"
"""``mode`` level of the baselines' score files: ``scores/<train>/<eval>/baseline/<name>.csv``."""

LEARNING_CURVE = "learning_curve"
"""Folder of the learning-curve scores and models (under scores/ and models/)."""

TOTAL = "Total"

_RUN_RE = re.compile(r"^(?P<feature>[a-z0-9]+)_(?P<pooling>[a-z]+)_(?P<setting>[0-9]+)(?:-seed(?P<seed>[0-9]+))?$")


# =========================================================================== score files


def score_frame(rows: pd.DataFrame, scores) -> pd.DataFrame:
    """Score-file rows: the manifest columns of the scored fragments plus their score.

    Parameters
    ----------
    rows : DataFrame, n rows
        Manifest rows aligned with the scores (e.g. ``FeatureSet.rows``). ``path`` and
        ``label`` or ``target`` are required; missing ``fragment`` -> 0, ``speaker`` ->
        ``unknown``, ``condition`` -> ``clean``, ``source`` -> ``bonafide``/``unknown``,
        ``dataset``/``split`` -> ``""``.
    scores : array-like, shape (n,)
        P(real).

    Returns
    -------
    DataFrame, n rows, columns :data:`SCORE_COLUMNS`
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(rows) != scores.size:
        raise ValueError(f"{len(rows)} rows but {scores.size} scores: they must be aligned")
    if "path" not in rows:
        raise ValueError("rows need a 'path' column")
    df = pd.DataFrame({"path": rows["path"].astype(str).to_numpy()})
    if "target" in rows:
        target = rows["target"].astype(int).to_numpy()
    elif "label" in rows:
        lab = rows["label"].astype(str).to_numpy()
        if not np.isin(lab, ("real", "fake")).all():
            raise ValueError("label must be 'real' or 'fake'")
        target = (lab == "real").astype(int)
    else:
        raise ValueError("rows need a 'label' or 'target' column")
    if not np.isin(target, (0, 1)).all():
        raise ValueError("target must be 1 (real) or 0 (fake)")
    df["fragment"] = rows["fragment"].astype(int).to_numpy() if "fragment" in rows else 0
    for col, default in (("dataset", ""), ("split", "")):
        df[col] = rows[col].astype(str).to_numpy() if col in rows else default
    df["label"] = np.where(target == 1, "real", "fake")
    df["target"] = target
    if "source" in rows:
        df["source"] = rows["source"].astype(str).to_numpy()
    else:
        df["source"] = np.where(target == 1, "bonafide", "unknown")
    df["speaker"] = rows["speaker"].astype(str).to_numpy() if "speaker" in rows else "unknown"
    df["condition"] = rows["condition"].astype(str).to_numpy() if "condition" in rows else "clean"
    df["score"] = scores
    return df[list(SCORE_COLUMNS)]


def score_path(out: Outputs, train_corpus: str, eval_corpus: str, mode: str, run: str) -> Path:
    """``<outputs>/scores/<train_corpus>/<eval_corpus>/<mode>/<run>.csv``."""
    return out.scores / train_corpus / eval_corpus / mode / f"{run}.csv"


def write_scores(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a score frame atomically (scores with 9 significant digits: float32 round-trips).

    Parameters
    ----------
    df : DataFrame with columns :data:`SCORE_COLUMNS`
    path : str or Path

    Returns
    -------
    Path
    """
    missing = [c for c in SCORE_COLUMNS if c not in df]
    if missing:
        raise ValueError(f"score frame lacks columns {missing}")
    if not np.isfinite(df["score"].to_numpy(dtype=float)).all():
        raise ValueError(f"{path}: NaN or infinite scores")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df[list(SCORE_COLUMNS)].to_csv(tmp, index=False, float_format="%.9g")
    os.replace(tmp, path)
    return path


def read_scores(path: str | os.PathLike) -> pd.DataFrame:
    """Read a score file written by :func:`write_scores` (types restored, strings kept as-is)."""
    df = pd.read_csv(path, keep_default_na=False, dtype={c: str for c in (
        "path", "dataset", "split", "label", "source", "speaker", "condition")})
    missing = [c for c in SCORE_COLUMNS if c not in df]
    if missing:
        raise ValueError(f"{path}: not a score file (missing {missing})")
    df["score"] = pd.to_numeric(df["score"], errors="raise").astype(float)
    df["target"] = df["target"].astype(int)
    df["fragment"] = df["fragment"].astype(int)
    return df


def parse_run_name(run: str) -> dict[str, str]:
    """``"mel_avg_10"`` -> ``{"feature": "mel", "pooling": "avg", "setting": "10", "seed": 0}``.

    A ``-seed<k>`` suffix (extra training seeds) gives ``seed = k``. Names that do not follow
    ``<feature>_<pooling>_<setting>`` give ``feature = run``.
    """
    m = _RUN_RE.match(run)
    if m:
        d = m.groupdict()
        d["seed"] = int(d["seed"] or 0)
        return d
    return {"feature": run.split("_")[0] if "_" in run else run, "pooling": "", "setting": "", "seed": 0}


def collect_scores(out: Outputs, include_modified: bool = True) -> pd.DataFrame:
    """Every score file of the main grid in one frame.

    Parameters
    ----------
    out : Outputs
    include_modified : bool
        Include the modified-speech files (``eval_corpus == MODIFIED``).

    Returns
    -------
    DataFrame
        :data:`KEY_COLUMNS` + :data:`SCORE_COLUMNS`; empty (with those columns) when none exist.
    """
    frames = []
    for path in sorted(out.scores.glob("*/*/*/*.csv")):
        train, ev, mode = path.parts[-4], path.parts[-3], path.parts[-2]
        if train == LEARNING_CURVE or (ev == MODIFIED and not include_modified):
            continue
        df = read_scores(path)
        info = parse_run_name(path.stem)
        for k, v in (("train_corpus", train), ("eval_corpus", ev), ("mode", mode), ("run", path.stem),
                     ("feature", info["feature"]), ("pooling", info["pooling"]), ("seed", info["seed"])):
            df.insert(0, k, v)
        frames.append(df)
    cols = list(KEY_COLUMNS) + list(SCORE_COLUMNS)
    if not frames:
        return pd.DataFrame(columns=cols)
    return pd.concat(frames, ignore_index=True)[cols]


def select(scores: pd.DataFrame, mode: str | None = None, pooling: str | None = None,
           features: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows of one input mode / pooling / feature subset (None keeps all)."""
    keep = np.ones(len(scores), bool)
    if mode is not None:
        keep &= scores["mode"].to_numpy() == mode
    if pooling is not None:
        keep &= scores["pooling"].to_numpy() == pooling
    if features is not None:
        keep &= scores["feature"].isin(list(features)).to_numpy()
    return scores[keep]


def choose_pooling(pooling: str | None, available: Iterable[str]) -> str:
    """The pooling to report: ``pooling`` when given, else the only one available, else ``avg``.

    Raises
    ------
    ValueError
        When ``pooling`` is given but no model uses it.
    """
    avail = sorted(set(available))
    if pooling:
        if avail and pooling not in avail:
            raise ValueError(f"no model with pooling {pooling!r} (available: {avail})")
        return pooling
    if len(avail) == 1:
        return avail[0]
    return "avg" if "avg" in avail or not avail else avail[0]


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
        keys = _feature_order(keys)
    for key in keys:
        g = df[df[label] == key]
        out[str(key)] = metrics.split_by_target(g["score"].to_numpy(), g["target"].to_numpy())
    return out


# =========================================================================== scoring models


def find_models(out: Outputs, train_corpora: Iterable[str] | None = None, mode: str | None = None,
                features: Iterable[str] | None = None) -> pd.DataFrame:
    """Trained models saved by notebook 03 (``<outputs>/models/<train_corpus>/<mode>/<run>.keras``).

    Returns
    -------
    DataFrame
        Columns ``train_corpus, mode, run, feature, pooling, path``, sorted.
    """
    rows = []
    for p in sorted(out.models.glob("*/*/*.keras")):
        train, md = p.parts[-3], p.parts[-2]
        if train == LEARNING_CURVE:
            continue
        info = parse_run_name(p.stem)
        rows.append({"train_corpus": train, "mode": md, "run": p.stem, "feature": info["feature"],
                     "pooling": info["pooling"], "seed": info["seed"], "path": str(p)})
    df = pd.DataFrame(rows, columns=["train_corpus", "mode", "run", "feature", "pooling", "seed", "path"])
    if train_corpora is not None:
        df = df[df["train_corpus"].isin(list(train_corpora))]
    if mode is not None:
        df = df[df["mode"] == mode]
    if features is not None:
        df = df[df["feature"].isin(list(features))]
    return df.reset_index(drop=True)


def _default_loader(out: Outputs):
    def load(manifest: pd.DataFrame, feature: str, mode: str):
        from idsd.cache import load_feature_set
        from idsd.features import FeatureConfig

        fs = load_feature_set(manifest, FeatureConfig(feature, mode), out.cache)
        if len(fs.rejected):
            log.warning("%d %s fragments rejected by feature extraction (listed in the cache)",
                        len(fs.rejected), feature)
        return fs.X, fs.rows

    return load


def _default_predictor():
    cache: dict[str, object] = {}

    def predict(model_path: str, X) -> np.ndarray:
        from idsd.train import load_model, predict_scores

        if model_path not in cache:
            cache.clear()  # one model in memory at a time
            cache[model_path] = load_model(model_path)
        return predict_scores(cache[model_path], X)

    return predict


def score_models(out: Outputs, eval_sets: dict[str, pd.DataFrame], models: pd.DataFrame,
                 overwrite: bool = False, loader: Callable | None = None,
                 predictor: Callable | None = None) -> pd.DataFrame:
    """Score every model on every evaluation set and write the score files.

    Features of each evaluation set are loaded once per (feature, mode) and shared by every
    model using them. Existing score files are kept unless ``overwrite``.

    Parameters
    ----------
    out : Outputs
    eval_sets : dict
        Evaluation-corpus name -> manifest rows to score (see :func:`study_eval_sets`). Rows of
        the training corpus itself should include its ``dev`` split (for the dev threshold).
    models : DataFrame
        From :func:`find_models`.
    overwrite : bool
    loader : callable, optional
        ``loader(manifest, feature, mode) -> (X (n, T, F), rows DataFrame aligned with X)``;
        default: the feature cache (:func:`idsd.cache.load_feature_set`).
    predictor : callable, optional
        ``predictor(model_path, X) -> scores (n,)`` P(real); default: :func:`idsd.train.load_model`
        + :func:`idsd.train.predict_scores`.

    Returns
    -------
    DataFrame
        One row per score file: ``train_corpus, eval_corpus, mode, run, path, n, written``.
    """
    loader = loader or _default_loader(out)
    predictor = predictor or _default_predictor()
    done = []
    groups = list(models.groupby(["feature", "mode"], sort=True))
    for (feature, mode), group in tqdm(groups, desc="scoring", unit="feature"):
        paths = {(r.run, r.train_corpus, ev): score_path(out, r.train_corpus, ev, mode, r.run)
                 for r in group.itertuples() for ev in eval_sets}
        todo = {k: p for k, p in paths.items() if overwrite or not p.is_file()}
        done += [{"train_corpus": tc, "eval_corpus": ev, "mode": mode, "run": run, "path": str(p), "n": None,
                  "written": False} for (run, tc, ev), p in paths.items() if (run, tc, ev) not in todo]
        if not todo:
            continue
        # features of every evaluation set once per representation (memory maps), then each model is
        # loaded once and scores all of them (loading and tracing a model costs seconds)
        loaded = {}
        for ev, manifest in eval_sets.items():
            if len(manifest) == 0:
                log.warning("evaluation set %s is empty; skipped", ev)
            elif any(k[2] == ev for k in todo):
                X, rows = loader(manifest, feature, mode)
                loaded[ev] = (X, rows.reset_index(drop=True))
        for r in group.itertuples():
            for ev, (X, rows) in loaded.items():
                path = todo.get((r.run, r.train_corpus, ev))
                if path is None:
                    continue
                keep = np.ones(len(rows), bool)
                if ev != r.train_corpus and "split" in rows and ev != MODIFIED:
                    keep = rows["split"].to_numpy() == "eval"  # other corpora: eval split only
                idx = np.flatnonzero(keep)
                if idx.size == 0:
                    log.warning("%s on %s: no rows to score", r.run, ev)
                    continue
                Xs = X if idx.size == len(rows) else X[idx]
                s = predictor(r.path, Xs)
                write_scores(score_frame(rows.iloc[idx], s), path)
                done.append({"train_corpus": r.train_corpus, "eval_corpus": ev, "mode": mode,
                             "run": r.run, "path": str(path), "n": int(idx.size), "written": True})
        del loaded
    return pd.DataFrame(done, columns=["train_corpus", "eval_corpus", "mode", "run", "path", "n", "written"])


def trained_corpora(study, table: pd.DataFrame) -> list[str]:
    """The study's training corpora that have a trained detector in ``table``, in the study's order.

    Parameters
    ----------
    study : idsd.study.Study
    table : DataFrame
        Models (:func:`find_models`) or scores (:func:`collect_scores`), with ``train_corpus`` and,
        for scores, ``mode`` (the baselines' rows, ``mode == "baseline"``, do not count).

    Returns
    -------
    list of str
    """
    if table.empty:
        return []
    rows = table[table["mode"] != BASELINE_MODE] if "mode" in table else table
    have = set(rows["train_corpus"])
    return [c for c in study.train_corpora if c in have]


def score_baselines(out: Outputs, study, kinds: Sequence[str] = ("lfcc-gmm", "bands-lr"),
                    train_corpora: Iterable[str] | None = None, overwrite: bool = False, seed: int = 0,
                    progress: bool = True) -> pd.DataFrame:
    """Fit the baselines (:mod:`idsd.baselines`) on each training corpus and score the same trials
    as the detector: the corpus's own ``dev`` and ``eval`` splits and every other corpus's ``eval``.

    Score files: ``<outputs>/scores/<train_corpus>/<eval_corpus>/baseline/<kind>.csv``
    (``mode = "baseline"``, ``run = feature = kind``). Existing files are kept unless ``overwrite``.

    Returns
    -------
    DataFrame
        One row per score file: ``train_corpus, eval_corpus, run, path, n, written``.
    """
    from idsd import baselines

    corpora = list(train_corpora) if train_corpora is not None else list(study.train_corpora)
    manifests = {c: study.manifest(out, c) for c in study.eval_corpora}
    done, todo = [], []
    for tc in corpora:
        targets = {(ev, k): score_path(out, tc, ev, BASELINE_MODE, k) for ev in manifests for k in kinds}
        if not overwrite and all(p.is_file() for p in targets.values()):
            done += [{"train_corpus": tc, "eval_corpus": ev, "run": k, "path": str(p), "n": None, "written": False}
                     for (ev, k), p in targets.items()]
        else:
            todo.append(tc)
    if not todo:
        return pd.DataFrame(done, columns=["train_corpus", "eval_corpus", "run", "path", "n", "written"])
    # every clip's features once: the training corpora's train/dev/eval and every corpus's eval split
    union = pd.concat([m[m["split"].isin(["train", "dev", "eval"] if c in todo else ["eval"])]
                       for c, m in manifests.items()], ignore_index=True)
    rows, lf, tv = baselines.baseline_features(union, kinds, progress)
    ds, split = rows["dataset"].to_numpy(), rows["split"].to_numpy()
    for tc in todo:
        train = (ds == tc) & (split == "train")
        test = ((ds == tc) & np.isin(split, ["dev", "eval"])) | ((ds != tc) & (split == "eval"))
        sc = baselines.fit_and_score(rows, lf, tv, train, test, kinds, seed, name=tc)
        for (ev, kind), g in sc.groupby(["dataset", "feature"], sort=True):
            s = g["score"].to_numpy(dtype=float)
            if kind == "lfcc-gmm":  # mean frame LLR -> P(real) at equal priors (monotone: EER unchanged)
                s = scipy.special.expit(s)
            path = write_scores(score_frame(g, s), score_path(out, tc, ev, BASELINE_MODE, kind))
            done.append({"train_corpus": tc, "eval_corpus": ev, "run": kind, "path": str(path), "n": len(g),
                         "written": True})
    return pd.DataFrame(done, columns=["train_corpus", "eval_corpus", "run", "path", "n", "written"])


def study_eval_sets(study, out: Outputs, corpora: Iterable[str] | None = None,
                    splits: Sequence[str] = ("dev", "eval")) -> dict[str, pd.DataFrame]:
    """Manifest rows to score for each study corpus (``dev`` + ``eval``; see :func:`score_models`).

    Parameters
    ----------
    study : idsd.study.Study
    out : Outputs
    corpora : iterable of str, optional
        Default: every evaluation corpus of the study.
    splits : sequence of str
        Splits kept (cross-dataset pairs later use only ``eval``).
    """
    sets = {}
    for name in corpora if corpora is not None else study.eval_corpora:
        m = study.manifest(out, name)
        m = m[m["split"].isin(list(splits))].reset_index(drop=True)
        if not (m["split"] == "eval").any():
            log.warning("corpus %s has no 'eval' split rows: it cannot be evaluated", name)
        sets[name] = m
    return sets


# =========================================================================== metrics per pair


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
    scores : DataFrame from :func:`collect_scores`

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


def _feature_order(features: Iterable[str]) -> list[str]:
    feats = list(dict.fromkeys(features))
    known = [f for f in PAPER_FEATURES if f in feats]
    return known + sorted(f for f in feats if f not in known)


def _check_one_run_per_feature(df: pd.DataFrame) -> None:
    multi = df.groupby(["mode", "feature"])["run"].nunique()
    multi = multi[multi > 1]
    if len(multi):
        raise ValueError(f"several models per feature ({dict(multi)}): select one mode and pooling "
                         "first (idsd.evaluate.select(scores, mode=..., pooling=...))")


# =========================================================================== result 1


def in_domain_table(scores: pd.DataFrame, corpora: Sequence[str] | None = None) -> pd.DataFrame:
    """Result 1: in-domain EER per training corpus x feature, with the pooled "Total".

    Parameters
    ----------
    scores : DataFrame from :func:`collect_scores`, one mode and pooling (see :func:`select`)
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
    feats = _feature_order(ind["feature"])
    table = pd.DataFrame(index=[*corpora, TOTAL], columns=feats, dtype=float)
    for (tc, f), g in ind.groupby(["train_corpus", "feature"]):
        if tc in corpora:
            table.loc[tc, f] = eer_of(g)
    for f, g in ind[ind["train_corpus"].isin(corpora)].groupby("feature"):
        table.loc[TOTAL, f] = eer_of(g)
    table.index.name = "training corpus"
    return table


# =========================================================================== result 2


def cross_dataset_tables(scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Result 2: cross-dataset EER (each training corpus on every other corpus's eval split).

    Parameters
    ----------
    scores : DataFrame from :func:`collect_scores`, one mode and pooling; the modified set is ignored

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
    feats = _feature_order(cross["feature"])
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


# =========================================================================== breakdowns


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


# =========================================================================== result 5


def robustness_table(scores: pd.DataFrame, train_corpus: str | None = None,
                     clean_from_in_domain: bool = True) -> pd.DataFrame:
    """Result 5: EER per feature (rows) per modification (columns) of the modified-speech set.

    Parameters
    ----------
    scores : DataFrame from :func:`collect_scores`, one mode and pooling
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
    order = _feature_order(table.index.get_level_values("feature"))
    table = table.reindex(sorted(table.index, key=lambda k: (k[0], order.index(k[1]))))
    if table.index.get_level_values("train_corpus").nunique() == 1:
        table = table.droplevel("train_corpus")
    return table


# =========================================================================== result 3


def learning_curve_subsets(rows: pd.DataFrame, n_subsets: int = 10, seed: int = 0) -> list[np.ndarray]:
    """Cumulative class-stratified subsets of a training split (upstream ``learning_curve_split.py``).

    Each class's rows are shuffled (``seed``) and cut into ``n_subsets`` near-equal chunks;
    subset ``k`` (1-based) is chunks ``1..k`` of both classes, so every subset keeps the class
    proportions of the whole split (the paper's "class-balanced" tenths: 24k, 48k, ... 240k
    samples of WaveFake), the subsets are nested and the last one is the whole split.

    Parameters
    ----------
    rows : DataFrame, n rows
        Training rows with ``target`` (1 real / 0 fake) or ``label``.
    n_subsets : int
    seed : int

    Returns
    -------
    list of np.ndarray
        ``n_subsets`` sorted positional index arrays into ``rows`` (sorted: memory-map friendly).

    Raises
    ------
    ValueError
        When a class has fewer rows than ``n_subsets`` (a subset would lack it).
    """
    if n_subsets < 1:
        raise ValueError("n_subsets must be >= 1")
    if "target" in rows:
        target = rows["target"].astype(int).to_numpy()
    elif "label" in rows:
        target = (rows["label"].astype(str).to_numpy() == "real").astype(int)
    else:
        raise ValueError("rows need a 'target' or 'label' column")
    rng = np.random.default_rng(seed)
    chunks = []
    for cls in (1, 0):
        idx = np.flatnonzero(target == cls)
        if idx.size < n_subsets:
            raise ValueError(f"only {idx.size} {'real' if cls else 'fake'} rows for {n_subsets} subsets: "
                             "every subset needs both classes")
        chunks.append(np.array_split(rng.permutation(idx), n_subsets))
    return [np.sort(np.concatenate([c[j] for c in chunks for j in range(k + 1)])) for k in range(n_subsets)]


def run_learning_curve(out: Outputs, train_set, dev_set, eval_set, corpus: str, features: Sequence[str],
                       n_subsets: int = 10, seed: int = 0, profile: str = "cpu", epochs: int | None = None,
                       mode: str = "array", pooling: str = "avg", load: Callable | None = None,
                       train: Callable | None = None, predict: Callable | None = None) -> pd.DataFrame:
    """Train one model per (feature, cumulative subset) and score it on the eval split.

    Writes models to ``<outputs>/models/learning_curve/<corpus>/<mode>/<k>of<n>/<run>.keras``,
    scores to ``<outputs>/scores/learning_curve/<corpus>/<mode>/<k>of<n>/<run>.csv`` and the
    table to ``<outputs>/metrics/learning_curve.csv``. Subsets already scored are not retrained.

    Parameters
    ----------
    out : Outputs
    train_set, dev_set, eval_set : DataFrame
        Manifest rows of the corpus's train, dev and eval splits.
    corpus : str
    features : sequence of str
    n_subsets, seed : int
        See :func:`learning_curve_subsets`.
    profile : str
        Training profile (``idsd.train.TrainConfig``); ``epochs`` caps it when given.
    mode, pooling : str
    load : callable, optional
        ``load(manifest, feature, mode) -> (X, rows)``; default: the feature cache.
    train : callable, optional
        ``train((X, y), (X, y), feature, out_path) -> record``; default :func:`idsd.train.train_model`.
    predict : callable, optional
        ``predict(record, X) -> scores``; default: the trained model of the record.

    Returns
    -------
    DataFrame
        ``corpus, feature, subset, n_subsets, fraction, n_train, n_train_real, n_train_fake, eer,
        auc, n_eval, run, epochs, stop_reason`` (the last two from the run record).
    """
    load = load or _default_loader(out)
    if train is None:
        from idsd.model import run_name as _run_name
        from idsd.train import ModelPool

        pool = ModelPool()  # the subsets of one representation share one compiled model (no re-tracing)

        def train(tr, dv, feature, out_path):
            from idsd.train import TrainConfig, train_model

            cfg = TrainConfig(profile=profile, epochs=epochs, feature=feature, mode=mode, pooling=pooling,
                              seed=seed, verbose=0)
            return train_model(tr, dv, cfg, out_path, pool=pool,
                               extra_record={"train_corpus": corpus, "learning_curve": True})
        name_of = lambda f: _run_name(f, pooling)  # noqa: E731
    else:
        name_of = lambda f: f"{f}_{pooling}"  # noqa: E731
    if predict is None:
        def predict(record, X):
            from idsd.train import predict_scores

            return predict_scores(record["model"], X)

    results = []
    for feature in features:
        run = name_of(feature)
        spaths = [out.scores / LEARNING_CURVE / corpus / mode / f"{k}of{n_subsets}" / f"{run}.csv"
                  for k in range(1, n_subsets + 1)]
        if all(p.is_file() for p in spaths):  # everything scored before: no features needed
            Xtr = Xdv = Xev = ydv = None
            rtr, rev = train_set.reset_index(drop=True), None
        else:
            Xtr, rtr = load(train_set, feature, mode)
            Xdv, rdv = load(dev_set, feature, mode)
            Xev, rev = load(eval_set, feature, mode)
            ydv = _targets(rdv)
        ytr = _targets(rtr)
        subsets = learning_curve_subsets(rtr.reset_index(drop=True), n_subsets, seed)
        for k, idx in enumerate(tqdm(subsets, desc=f"learning curve {feature}", unit="subset"), start=1):
            tag = f"{k}of{n_subsets}"
            spath = spaths[k - 1]
            mpath = out.models / LEARNING_CURVE / corpus / mode / tag / f"{run}.keras"
            if spath.is_file():
                sf = read_scores(spath)
                from idsd.train import read_record

                record = read_record(mpath) or {}
            else:
                record = train((np.asarray(Xtr[idx]), ytr[idx]), (Xdv, ydv), feature, mpath)
                sf = score_frame(rev, predict(record, Xev))
                write_scores(sf, spath)
            b, s = metrics.split_by_target(sf["score"].to_numpy(), sf["target"].to_numpy())
            results.append({"corpus": corpus, "feature": feature, "subset": k, "n_subsets": n_subsets,
                            "fraction": k / n_subsets, "n_train": int(idx.size),
                            "n_train_real": int(ytr[idx].sum()), "n_train_fake": int(idx.size - ytr[idx].sum()),
                            "eer": metrics.compute_eer(b, s)[0], "auc": metrics.roc_auc(b, s),
                            "n_eval": len(sf), "run": run, "epochs": record.get("epochs"),
                            "stop_reason": record.get("stop_reason")})
    df = pd.DataFrame(results)
    path = out.metrics / "learning_curve.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return df


def learning_curve_scores(out: Outputs, lc: pd.DataFrame, mode: str = "array") -> pd.DataFrame:
    """The score rows behind a learning-curve table (:func:`run_learning_curve`), with ``feature``,
    ``subset`` and ``n_train`` added; empty when none of its score files exist."""
    frames = []
    for r in lc.itertuples():
        p = out.scores / LEARNING_CURVE / r.corpus / mode / f"{r.subset}of{r.n_subsets}" / f"{r.run}.csv"
        if p.is_file():
            frames.append(read_scores(p).assign(feature=r.feature, subset=int(r.subset), n_train=int(r.n_train)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _targets(rows: pd.DataFrame) -> np.ndarray:
    if "target" in rows:
        return rows["target"].astype(np.int8).to_numpy()
    return (rows["label"].astype(str).to_numpy() == "real").astype(np.int8)


# =========================================================================== result 4

_UNITS_BYTES = {"b": 1, "bytes": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1024, "mib": 1024 ** 2,
                "gib": 1024 ** 3}
_UNITS_S = {"s": 1.0, "sec": 1.0, "seconds": 1.0, "ms": 1e-3, "us": 1e-6}


def _unit(name: str, table: dict) -> float | None:
    for tok in reversed(re.split(r"[_\s/()\[\]]+", name.lower())):
        if tok in table:
            return table[tok]
    return None


def _find(cols: Iterable[str], *must: str, any_of: Sequence[str] = (), none_of: Sequence[str] = ()) -> str | None:
    for c in cols:
        lc = c.lower()
        if all(m in lc for m in must) and (not any_of or any(a in lc for a in any_of)) \
                and not any(n in lc for n in none_of):
            return c
    return None


def read_features_hardware(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``features_hardware.csv`` (written by notebook 02) defensively, in standard units.

    Expected: one row per feature (a ``feature`` column; several rows per feature, e.g. one per
    mode, are reduced to the ``array`` mode when a ``mode`` column exists, else averaged) and
    any of the columns below; units are read from the name's last unit token (``_bytes``,
    ``_kb``/``_mb``/``_gb``, ``_kib``/``_mib``/``_gib``, ``_s``, ``_ms``, ``_us``):

    - storage per clip: a name with ``storage`` or ``bytes`` and ``clip`` or ``sample``
      (e.g. ``storage_bytes_per_clip``); or a total storage (``storage_gb``) with ``n_clips``;
    - RAM: a name with ``ram``, ``rss`` or ``mem`` (e.g. ``peak_ram_mb``);
    - extraction time per clip: a name with ``ms``/``_s`` and ``clip``/``sample``/``extract``
      (e.g. ``extract_ms_per_clip``, ``ms_per_clip``, ``batch_ms_per_clip``; a name with
      ``batch`` is preferred to one with ``loop`` when both exist).

    Returns
    -------
    DataFrame
        Index feature; columns ``storage_bytes_per_clip``, ``ram_gb``, ``extract_ms`` where
        found (NaN otherwise), plus the file's other numeric columns unchanged.
    """
    raw = pd.read_csv(path)
    cols = list(raw.columns)
    fcol = _find(cols, "feature") or _find(cols, "name") or _find(cols, "key")
    if fcol is None:
        raise ValueError(f"{path}: no 'feature' column (columns: {cols})")
    if "mode" in raw and (raw["mode"] == "array").any():
        raw = raw[raw["mode"] == "array"]
    num = raw.select_dtypes("number").groupby(raw[fcol].astype(str)).mean()
    out = pd.DataFrame(index=num.index)
    out.index.name = "feature"
    ncols = list(num.columns)
    st = _find(ncols, "storage", any_of=("clip", "sample")) or _find(ncols, "bytes", any_of=("clip", "sample"))
    if st is not None:
        out["storage_bytes_per_clip"] = num[st] * (_unit(st, _UNITS_BYTES) or 1.0)
    else:
        tot = _find(ncols, "storage")
        ncl = _find(ncols, "n_", any_of=("clip", "sample", "fragment"))
        if tot is not None and ncl is not None:
            out["storage_bytes_per_clip"] = num[tot] * (_unit(tot, _UNITS_BYTES) or 1.0) / num[ncl]
    ram = _find(ncols, "", any_of=("ram", "rss", "mem"))
    if ram is not None:
        out["ram_gb"] = num[ram] * (_unit(ram, _UNITS_BYTES) or 1e6) / 1e9
    tcands = [c for c in ncols if (_unit(c, _UNITS_S) is not None)
              and any(k in c.lower() for k in ("clip", "sample", "extract", "time"))]
    if tcands:
        tcol = next((c for c in tcands if "batch" in c.lower()), None) or \
            next((c for c in tcands if "loop" not in c.lower()), tcands[0])
        out["extract_ms"] = num[tcol] * _unit(tcol, _UNITS_S) * 1e3
        out.attrs["extract_column"] = tcol
    for c in ncols:
        if c not in out:
            out[c] = num[c]
    return out


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


def read_run_records(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Training run records (JSON) -> one row per run with ``feature, mode, train_corpus,
    peak_ram_gb, samples_per_s`` (found by name: a key with ``peak`` and ``rss``/``ram``/``mem``,
    units from its suffix, MB by default; ``train_samples_per_s`` preferred to ``samples_per_s``).
    Unreadable files are skipped with a warning."""
    rows = []
    for p in paths:
        try:
            rec = _flatten(json.loads(Path(p).read_text()))
        except (OSError, ValueError) as e:
            log.warning("run record %s unreadable: %s", p, e)
            continue
        keys = list(rec)
        feature = rec.get("feature") or parse_run_name(str(rec.get("name", Path(p).stem)))["feature"]
        ram = next((k for k in keys if "peak" in k.lower() and any(m in k.lower() for m in ("rss", "ram", "mem"))
                    and "process" not in k.lower()), None)
        sps = "train_samples_per_s" if rec.get("train_samples_per_s") is not None else (
            "samples_per_s" if "samples_per_s" in rec else None)
        rows.append({
            "feature": feature, "mode": rec.get("mode", ""), "train_corpus": rec.get("train_corpus", ""),
            "run": rec.get("name", Path(p).stem),
            "peak_ram_gb": float(rec[ram]) * (_unit(ram, _UNITS_BYTES) or 1e6) / 1e9 if ram and rec[ram] is not None
            else math.nan,
            "samples_per_s": float(rec[sps]) if sps and rec[sps] is not None else math.nan,
            "learning_curve": bool(rec.get("learning_curve", False)),
        })
    return pd.DataFrame(rows, columns=["feature", "mode", "train_corpus", "run", "peak_ram_gb", "samples_per_s",
                                       "learning_curve"])


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

    Sources: ``<outputs>/metrics/features_hardware.csv`` (notebook 02; see
    :func:`read_features_hardware`) and the training run records
    ``<outputs>/metrics/runs/*.json`` (falling back to ``<outputs>/models/**/*.run.json``).
    Storage is the float32 size of one clip's features (from ``features_hardware.csv`` or, when
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
    hw_path = out.metrics / "features_hardware.csv"
    hw = read_features_hardware(hw_path) if hw_path.is_file() else pd.DataFrame()
    if not hw_path.is_file():
        log.warning("%s not found (notebook 02 writes it): no extraction time / storage columns", hw_path)
    rec_paths = sorted((out.metrics / "runs").glob("*.json")) or sorted(out.models.rglob("*.run.json"))
    runs = read_run_records(rec_paths)
    if len(runs):
        runs = runs[(runs["mode"].isin([mode, ""])) & (~runs["learning_curve"])]
    feats = _feature_order(list(hw.index) + list(runs["feature"]) if len(runs) else list(hw.index))
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

