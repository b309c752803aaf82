"""Result 3, the learning curve: nested class-stratified subsets of one training split, a detector
trained on each (:func:`idsd.train.train_model`, sharing one compiled model per representation) and
scored on the eval split.

Upstream: ``learning_curve_split.py`` cuts the WaveFake training split into tenths; the paper
trains one model per cumulative tenth and reports the EER against the training-set size
(docs/paper.md section 9.2). Models: ``<outputs>/models/learning_curve/<corpus>/<mode>/<k>of<n>/``;
scores: :meth:`idsd.paths.Outputs.learning_curve_score_file`; table:
:meth:`idsd.paths.Outputs.learning_curve_table`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from idsd import metrics
from idsd.artifact import read_record
from idsd.files import write_csv
from idsd.paths import Outputs
from idsd.progress import tqdm
from idsd.scores import read_scores, score_frame, write_scores


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
                       mode: str = "array", pooling: str = "avg", study=None, load: Callable | None = None,
                       train: Callable | None = None, predict: Callable | None = None, client=None,
                       gpus_per_run: int | None = None) -> pd.DataFrame:
    """Train one model per (feature, cumulative subset) and score it on the eval split.

    Writes models to :meth:`~idsd.paths.Outputs.learning_curve_model_file`, scores to
    :meth:`~idsd.paths.Outputs.learning_curve_score_file` and the table to
    :attr:`~idsd.paths.Outputs.learning_curve_table`. Subsets already scored are not retrained.
    Every subset is an index view of the corpus's one cached feature array (nothing is copied).

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
    study : idsd.study.Study, optional
        Lets the default loader view the corpus's cached array (:func:`idsd.scoring.feature_loader`).
    load : callable, optional
        ``load(corpus, manifest, feature, mode)`` -> a FeatureSet or ``(X, rows)``; default
        :func:`idsd.scoring.feature_loader`.
    train : callable, optional
        ``train(train_data, dev_data, feature, out_path) -> record`` where the data are FeatureSets
        (or ``(X, y)`` pairs from a custom loader); default :func:`idsd.train.train_model`.
    predict : callable, optional
        ``predict(record, X) -> scores``; default: the trained model of the record.
    client : distributed.Client, optional
        Train and score every (feature, subset) whose score file is missing as one Dask task
        (:func:`idsd.tasks.learning_curve_distributed`: same models, score files and table; each
        task builds a fresh model instead of sharing one compiled model per representation), then
        build the table from the score files as without a client. Needs the default ``load``,
        ``train`` and ``predict``.
    gpus_per_run : int, optional
        GPUs per task with a client (:func:`idsd.tasks.task_resources`).

    Returns
    -------
    DataFrame
        ``corpus, feature, subset, n_subsets, fraction, n_train, n_train_real, n_train_fake, eer,
        pyeer_eer, auc, n_eval, run, epochs, stop_reason`` (the last two from the run record).

    Raises
    ------
    ValueError
        A ``client`` with a custom ``load``, ``train`` or ``predict`` (callables are not sent to
        workers).
    """
    if client is not None:
        if any(f is not None for f in (load, train, predict)):
            raise ValueError("run_learning_curve with a client trains with the default load, train and predict "
                             "only: custom callables are not sent to Dask workers (call it without a client)")
        from idsd.tasks import learning_curve_distributed

        learning_curve_distributed(client, out, train_set, dev_set, eval_set, corpus, features, n_subsets, seed,
                                   profile, epochs, mode, pooling, study, gpus_per_run)
    custom = train is not None
    load, train, predict = subset_callables(out, corpus, seed, profile, epochs, mode, pooling, study,
                                            load, train, predict)
    results = []
    for feature in features:
        run = subset_run_name(feature, pooling, custom)
        spaths = [out.learning_curve_score_file(corpus, mode, k, n_subsets, run) for k in range(1, n_subsets + 1)]
        if all(p.is_file() for p in spaths):  # everything scored before: no features needed
            sets = None
            rtr = train_set.reset_index(drop=True)
        else:
            sets = load_sets(load, corpus, feature, mode, train_set, dev_set, eval_set)
            rtr = sets[0].rows
        ytr = _targets(rtr)
        subsets = learning_curve_subsets(rtr.reset_index(drop=True), n_subsets, seed)
        for k, idx in enumerate(tqdm(subsets, desc=f"learning curve {feature}", unit="subset"), start=1):
            spath = spaths[k - 1]
            if spath.is_file():
                sf = read_scores(spath)
                record = read_record(out.learning_curve_model_file(corpus, mode, k, n_subsets, run)) or {}
            else:
                sf, record = train_subset(out, corpus, feature, mode, k, n_subsets, run, sets, idx, train, predict)
            b, s = metrics.split_by_target(sf["score"].to_numpy(), sf["target"].to_numpy())
            results.append({"corpus": corpus, "feature": feature, "subset": k, "n_subsets": n_subsets,
                            "fraction": k / n_subsets, "n_train": int(idx.size),
                            "n_train_real": int(ytr[idx].sum()), "n_train_fake": int(idx.size - ytr[idx].sum()),
                            "eer": metrics.compute_eer(b, s)[0], "pyeer_eer": metrics.pyeer_eer(b, s),
                            "auc": metrics.roc_auc(b, s),
                            "n_eval": len(sf), "run": run, "epochs": record.get("epochs"),
                            "stop_reason": record.get("stop_reason")})
    df = pd.DataFrame(results)
    out.learning_curve_table.parent.mkdir(parents=True, exist_ok=True)
    write_csv(df, out.learning_curve_table)
    return df


def subset_run_name(feature: str, pooling: str, custom_train: bool = False) -> str:
    """Run name of the learning curve's models of ``feature``: the grid's ``<feature>_<pooling>_<setting>``
    (:func:`idsd.model.run_name`), or ``<feature>_<pooling>`` with a custom ``train`` callable."""
    if custom_train:
        return f"{feature}_{pooling}"
    from idsd.model import run_name

    return run_name(feature, pooling)


def subset_callables(out: Outputs, corpus: str, seed: int, profile: str, epochs: int | None, mode: str,
                     pooling: str, study=None, load: Callable | None = None,
                     train: Callable | None = None, predict: Callable | None = None, pool: bool = True):
    """The ``(load, train, predict)`` of :func:`run_learning_curve`: the given ones, else the defaults.

    The default ``train`` is :func:`idsd.train.train_model` with the curve's protocol; with ``pool``
    the subsets of one representation share one compiled model (:class:`idsd.train.ModelPool`, no
    re-tracing), without it every call builds a fresh model (a Dask task, :func:`subset_task`).
    """
    from idsd.scoring import feature_loader, predict_scores

    load = load or feature_loader(out, study)
    if train is None:
        from idsd.train import ModelPool

        model_pool = ModelPool() if pool else None

        def train(tr, dv, feature, out_path):
            from idsd.train import TrainConfig, train_model

            cfg = TrainConfig(profile=profile, epochs=epochs, feature=feature, mode=mode, pooling=pooling,
                              seed=seed, verbose=0)
            return train_model(tr, dv, cfg, out_path, pool=model_pool,
                               extra_record={"train_corpus": corpus, "learning_curve": True})
    if predict is None:
        def predict(record, X):
            return predict_scores(record["model"], X)

    return load, train, predict


def load_sets(load: Callable, corpus: str, feature: str, mode: str, train_set, dev_set, eval_set) -> tuple:
    """The train, dev and eval data of one representation (``_Set`` objects) from ``load``."""
    return tuple(_as_set(load(corpus, m, feature, mode)) for m in (train_set, dev_set, eval_set))


def train_subset(out: Outputs, corpus: str, feature: str, mode: str, k: int, n_subsets: int, run: str, sets,
                 idx: np.ndarray, train: Callable, predict: Callable) -> tuple[pd.DataFrame, dict]:
    """Train subset ``k`` of ``feature``, score the eval split and write its score file.

    The one step of the learning curve, in this process (:func:`run_learning_curve`) or in a Dask
    task (:func:`subset_task`).

    Parameters
    ----------
    out : Outputs
    corpus, feature, mode : str
    k, n_subsets : int
        Subset ``k`` (1-based) of ``n_subsets``.
    run : str
        Run name (:func:`subset_run_name`).
    sets : tuple
        Train, dev and eval data (:func:`load_sets`).
    idx : np.ndarray
        Positions of the subset's rows in the training split (:func:`learning_curve_subsets`).
    train, predict : callable
        See :func:`run_learning_curve`.

    Returns
    -------
    (DataFrame, dict)
        The score rows written to :meth:`~idsd.paths.Outputs.learning_curve_score_file` and the run
        record.
    """
    tr, dv, ev = sets
    record = train(tr.subset(idx).data, dv.data, feature, out.learning_curve_model_file(corpus, mode, k, n_subsets,
                                                                                         run))
    sf = score_frame(ev.rows, predict(record, ev.X))
    write_scores(sf, out.learning_curve_score_file(corpus, mode, k, n_subsets, run))
    return sf, record


def subset_task(root: str, train_set, dev_set, eval_set, corpus: str, feature: str, k: int, n_subsets: int,
                seed: int, profile: str, epochs: int | None, mode: str, pooling: str, study=None) -> str:
    """One learning-curve subset in a Dask worker: :func:`train_subset` with the default callables and a
    freshly built model; returns the score file written.

    Parameters are those of :func:`run_learning_curve` (``root``: the outputs directory).
    """
    import keras

    out = Outputs(root)
    load, train, predict = subset_callables(out, corpus, seed, profile, epochs, mode, pooling, study,
                                            pool=False)
    sets = load_sets(load, corpus, feature, mode, train_set, dev_set, eval_set)
    idx = learning_curve_subsets(sets[0].rows, n_subsets, seed)[k - 1]
    try:
        train_subset(out, corpus, feature, mode, k, n_subsets, subset_run_name(feature, pooling), sets, idx, train,
                     predict)
    finally:
        keras.backend.clear_session()  # a fresh model per task: free the last one's graph
    return str(out.learning_curve_score_file(corpus, mode, k, n_subsets, subset_run_name(feature, pooling)))


def learning_curve_scores(out: Outputs, lc: pd.DataFrame, mode: str = "array") -> pd.DataFrame:
    """The score rows behind a learning-curve table (:func:`run_learning_curve`), with ``feature``,
    ``subset`` and ``n_train`` added; empty when none of its score files exist."""
    frames = []
    for r in lc.itertuples():
        p = out.learning_curve_score_file(r.corpus, mode, int(r.subset), int(r.n_subsets), r.run)
        if p.is_file():
            frames.append(read_scores(p).assign(feature=r.feature, subset=int(r.subset), n_train=int(r.n_train)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _targets(rows: pd.DataFrame) -> np.ndarray:
    if "target" in rows:
        return rows["target"].astype(np.int8).to_numpy()
    return (rows["label"].astype(str).to_numpy() == "real").astype(np.int8)


class _Set:
    """What the learning curve needs of its loaded data: ``rows``, ``X``, ``subset(idx)`` and the
    ``data`` handed to training (a FeatureSet itself, or an ``(X, y)`` pair from a custom loader)."""

    def __init__(self, fs=None, X=None, rows=None):
        self.fs = fs
        self.X = fs.X if fs is not None else X
        self.rows = (fs.rows if fs is not None else rows).reset_index(drop=True)

    @property
    def data(self):
        return self.fs if self.fs is not None else (self.X, _targets(self.rows))

    def subset(self, idx: np.ndarray) -> _Set:
        if self.fs is not None:
            return _Set(self.fs.subset(idx))
        return _Set(X=np.asarray(self.X[idx]), rows=self.rows.iloc[idx])


def _as_set(loaded) -> _Set:
    return _Set(loaded) if hasattr(loaded, "subset") else _Set(X=loaded[0], rows=loaded[1])

