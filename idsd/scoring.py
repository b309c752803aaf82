"""The one inference path: trained models and baselines scored on manifests, score files written.

:func:`predict_scores` is the single call that turns features into P(real) for a Keras detector;
the notebooks (:func:`score_models`), ``idsd eval`` (:func:`score_model`) and ``idsd detect``
(:class:`idsd.detect.Detector`) all use it. Features come from the feature cache
(:func:`idsd.cache.corpus_features`: one array per corpus and representation, evaluation sets are
index views of it); scores are written with :func:`idsd.scores.write_scores`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.special

from idsd.artifact import load_model
from idsd.errors import TrainingError
from idsd.paths import Outputs
from idsd.progress import tqdm
from idsd.scores import BASELINE_MODE, MODIFIED, score_frame, score_path, write_scores

log = logging.getLogger(__name__)


# =========================================================================== the inference call


def check_input(model, X, what: str = "features") -> None:
    """Raise :class:`TrainingError` when ``X`` (n, n_bins, n_frames) does not fit the model's input shape."""
    want = tuple(int(s) for s in model.input_shape[1:])
    have = tuple(int(s) for s in X.shape[1:])
    if want != have:
        raise TrainingError(f"the model {model.name!r} expects input {want} but the {what} have shape "
                            f"{have}: the feature or input mode does not match the one it was trained on")


def predict_scores(model, X, batch_size: int = 256) -> np.ndarray:
    """Scores P(real) of a trained detector.

    Parameters
    ----------
    model : keras.Model
    X : array-like or FeatureSet, shape (n, n_bins, n_frames)
        Features (float16 memmap fine; read one batch at a time).
    batch_size : int

    Returns
    -------
    np.ndarray, shape (n,), float64
        Sigmoid output = P(real); higher = more bona fide.
    """
    if hasattr(X, "X"):
        X = X.X
    if getattr(X, "ndim", None) != 3:
        raise TrainingError(f"features must have shape (n, n_bins, n_frames), got {getattr(X, 'shape', type(X))}")
    check_input(model, X)
    if len(X) == 0:
        return np.zeros(0)
    from idsd.batches import ArrayBatches

    ds = ArrayBatches(X, None, batch_size)
    # one predict_on_batch per batch rather than model.predict(ds): on a keras PyDataset (TF 2.21,
    # tf.data from_generator) predict keeps about one batch alive per call, which grows without
    # bound over the hundreds of calls of a long `idsd detect` stream; same batches, same scores
    scores = np.concatenate([np.asarray(model.predict_on_batch(ds[i][0]), dtype=np.float64).reshape(-1)
                             for i in range(len(ds))])
    if not np.isfinite(scores).all():
        raise TrainingError(f"{int((~np.isfinite(scores)).sum())} scores are NaN/inf: the model or the "
                            "features are broken")
    return scores


# =========================================================================== features and models


def feature_loader(out: Outputs, study=None):
    """``load(corpus, manifest, feature, mode) -> FeatureSet`` from the feature cache, without copying.

    When ``corpus`` is a corpus of the study (or :data:`idsd.scores.MODIFIED`), the rows are looked
    up in the one cached array of that corpus (:func:`idsd.cache.corpus_features`; ``X`` is an
    index view of it). Any other manifest (``idsd eval`` on a folder) gets its own cached array.
    """
    known = set(study.eval_corpora) | {MODIFIED} if study is not None else set()

    def load(corpus: str, manifest: pd.DataFrame, feature: str, mode: str):
        from idsd.cache import corpus_features, load_feature_set
        from idsd.features import FeatureConfig

        config = FeatureConfig(feature, mode)
        if corpus in known:
            fs = corpus_features(out, study, corpus, config).select(manifest)
        else:
            fs = load_feature_set(manifest, config, out.cache)
        if len(fs.rejected):
            log.warning("%d %s fragments of %s rejected by feature extraction (listed in the cache)",
                        len(fs.rejected), feature, corpus)
        return fs

    return load


def model_predictor(batch_size: int = 256):
    """``predict(model_path, X) -> scores``, keeping the last loaded model in memory.

    ``model_path`` is a ``.keras`` file or an authors' ``.h5`` (:func:`idsd.artifact.load_model`).
    """
    loaded: dict[str, object] = {}

    def predict(model_path: str, X) -> np.ndarray:
        if model_path not in loaded:
            loaded.clear()  # one model in memory at a time
            loaded[model_path] = load_model(model_path)
        return predict_scores(loaded[model_path], X, batch_size=batch_size)

    return predict


def score_feature_set(model_path: str, fs, batch_size: int = 256, predictor: Callable | None = None) -> pd.DataFrame:
    """Score one feature set with one model: the score rows (:func:`idsd.scores.score_frame`).

    Parameters
    ----------
    model_path : str or PathLike
        A ``.keras`` file, or an authors' keras-tcn ``.h5`` (:func:`idsd.artifact.load_model`).
    fs : idsd.cache.FeatureSet
        Features (``X`` (n, n_bins, n_frames)) and their manifest ``rows``.
    batch_size : int
    predictor : callable, optional
        Default :func:`model_predictor`.

    Returns
    -------
    DataFrame, n rows, columns :data:`idsd.scores.SCORE_COLUMNS`
    """
    predictor = predictor or model_predictor(batch_size)
    return score_frame(fs.rows, predictor(str(model_path), fs.X))


class _Pair:
    """``(X, rows)`` from a custom loader, with the FeatureSet calls :func:`score_models` makes."""

    def __init__(self, X, rows: pd.DataFrame):
        self.X, self.rows = X, rows.reset_index(drop=True)

    def subset(self, idx: np.ndarray) -> _Pair:
        return _Pair(self.X[idx], self.rows.iloc[idx])


def score_models(out: Outputs, eval_sets: dict[str, pd.DataFrame], models: pd.DataFrame,
                 overwrite: bool = False, study=None, loader: Callable | None = None,
                 predictor: Callable | None = None, client=None, gpus_per_run: int | None = None) -> pd.DataFrame:
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
        From :func:`idsd.artifact.find_models`.
    overwrite : bool
    study : idsd.study.Study, optional
        Lets the default loader view each corpus's one cached array (:func:`feature_loader`).
    loader : callable, optional
        ``loader(eval_name, manifest, feature, mode)`` -> a FeatureSet, or a pair
        ``(X (n, n_bins, n_frames), rows DataFrame aligned with X)``; default :func:`feature_loader`.
    predictor : callable, optional
        ``predictor(model_path, X) -> scores (n,)`` P(real); default :func:`model_predictor`
        (:func:`idsd.artifact.load_model` + :func:`predict_scores`).
    client : distributed.Client, optional
        Score on the client's workers, one Dask task per model
        (:func:`idsd.tasks.score_models_distributed`: the same score files and the same table).
        Needs the default ``loader`` and ``predictor``.
    gpus_per_run : int, optional
        GPUs per task with a client (:func:`idsd.tasks.task_resources`).

    Returns
    -------
    DataFrame
        One row per score file: ``train_corpus, eval_corpus, mode, run, path, n, written``.

    Raises
    ------
    ValueError
        A ``client`` with a custom ``loader`` or ``predictor`` (callables are not sent to workers).
    """
    if client is not None:
        if loader is not None or predictor is not None:
            raise ValueError("score_models with a client scores with the default loader and predictor only: "
                             "custom callables are not sent to Dask workers (call it without a client)")
        from idsd.tasks import score_models_distributed

        return score_models_distributed(client, out, eval_sets, models, overwrite, study, gpus_per_run)
    loader = loader or feature_loader(out, study)
    predictor = predictor or model_predictor()
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
                got = loader(ev, manifest, feature, mode)
                loaded[ev] = got if hasattr(got, "subset") else _Pair(*got)
        for r in group.itertuples():
            for ev, fs in loaded.items():
                rows = fs.rows
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
                s = predictor(r.path, fs.X if idx.size == len(rows) else fs.subset(idx).X)
                write_scores(score_frame(rows.iloc[idx], s), path)
                done.append({"train_corpus": r.train_corpus, "eval_corpus": ev, "mode": mode,
                             "run": r.run, "path": str(path), "n": int(idx.size), "written": True})
        del loaded
    return pd.DataFrame(done, columns=["train_corpus", "eval_corpus", "mode", "run", "path", "n", "written"])


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
