"""The training grid (notebooks 03 and 06) and the scoring (notebooks 04 and 05) as Dask tasks.

One task per training run (training corpus x representation x seed), per learning-curve subset
and per scored model. Every task runs the in-process code of the workbook in a worker
(:func:`idsd.train._train_seeds`, :func:`idsd.learning_curve.subset_task`,
:func:`idsd.scoring.score_models`) and writes its files to the shared outputs directory, so a run
on a cluster gives the files a run in the notebook's own process gives (``tests/test_tasks.py``):

* each training task builds a fresh model (no :class:`idsd.train.ModelPool` is shared between
  tasks), so its result does not depend on which runs a worker happened to train before it;
  a pooled model is reset to the state of a fresh build, so the sequential grid trains the same
  models;
* a run whose model and record exist with the same :func:`idsd.train.run_fingerprint` is not
  submitted (checked here, on the driver) and is reused in the worker as well, so a cancelled
  grid, or a task rerun after its worker died, resumes with the runs it had not saved;
* the tasks of one worker process run one at a time (global seeds, the Keras session): a worker
  runs as many trainings at once as it has processes, not threads.

Resources: every worker of the project's clusters (:mod:`idsd.cluster`) declares ``run=1``, and
``GPU=<n>`` when it has GPUs; :func:`task_resources` says what a task asks for. Worker log records
reach the notebook through ``client.forward_logging`` (set up by :mod:`idsd.cluster`).
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from idsd.errors import TrainingError
from idsd.paths import Outputs

log = logging.getLogger(__name__)

RUN_RESOURCE = "run"
"""The resource every worker of the project's clusters declares once (one training at a time)."""

GPU_RESOURCE = "GPU"
"""The resource a worker with GPUs declares (its number of GPUs)."""

_LOCK = threading.Lock()  # the tasks of one worker process run one at a time
_ACTIVE: dict[str, str] = {}


def task_resources(client, gpus_per_run: float | None = None) -> dict:
    """The Dask resources a training or scoring task asks for.

    Parameters
    ----------
    client : distributed.Client
    gpus_per_run : float, optional
        GPUs per task. None: 1 when any worker of the cluster declares a ``GPU`` resource, else 0.

    Returns
    -------
    dict
        ``{"run": 1}`` (one run at a time per worker: a run uses all the worker's cores), plus
        ``{"GPU": gpus_per_run}`` when ``gpus_per_run`` is not 0 (the contract of
        :mod:`idsd.cluster`, whose workers declare ``run=1`` and ``GPU=<n>``).
    """
    if gpus_per_run is None:
        workers = client.scheduler_info(n_workers=-1).get("workers", {}).values()
        gpus_per_run = 1 if any(float((w.get("resources") or {}).get(GPU_RESOURCE, 0)) > 0 for w in workers) else 0
    if gpus_per_run < 0:
        raise ValueError(f"gpus_per_run must be >= 0, got {gpus_per_run}")
    return {RUN_RESOURCE: 1, **({GPU_RESOURCE: gpus_per_run} if gpus_per_run else {})}


def active_run() -> str | None:
    """What this worker process is running now (the task's label; None when idle)."""
    return _ACTIVE.get("run")


class _ThreadRandom:
    """Python's :mod:`random` as Keras sees it in a worker process: one generator per thread.

    Keras draws the seeds of its layers and initializers from the process-wide ``random``
    generator, which :func:`idsd.repro.set_seeds` seeds right before a model is built. In a Dask
    worker the event-loop thread draws from that generator too, while a task builds its model
    (``dask.sizeof`` samples the items of every message it sends, heartbeats included), so the
    layers got other seeds than in a process of their own and the run trained another model. Here
    ``seed`` seeds the calling thread's generator (and the process-wide one, as before) and every
    draw comes from the calling thread's generator, so the task's thread sees the sequence a
    single-threaded process sees.
    """

    def __init__(self):
        self._local = threading.local()

    def _generator(self) -> random.Random:
        gen = getattr(self._local, "generator", None)
        if gen is None:
            gen = self._local.generator = random.Random()
        return gen

    def seed(self, *args, **kwargs):
        random.seed(*args, **kwargs)
        self._generator().seed(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._generator(), name)


_THREAD_RANDOM = _ThreadRandom()


def isolate_keras_random() -> int:
    """Make every loaded Keras module draw from this thread's own Python generator
    (:class:`_ThreadRandom`); idempotent. Returns the number of module attributes replaced now."""
    import sys

    replaced = 0
    for name, module in list(sys.modules.items()):
        if not (name == "keras" or name.startswith("keras.")) or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if value is random:
                setattr(module, attr, _THREAD_RANDOM)
                replaced += 1
    return replaced


def _exclusive(label: str, fn: Callable, *args):
    """Run ``fn(*args)`` in a worker, one such call at a time per process, with Keras drawing its
    seeds from the task thread's own generator (:func:`isolate_keras_random`)."""
    import keras  # noqa: F401  (loads the modules to isolate)

    from idsd import train  # noqa: F401

    with _LOCK:
        isolate_keras_random()
        _ACTIVE["run"] = label
        try:
            return fn(*args)
        finally:
            _ACTIVE.pop("run", None)


def _submit(client, label: str, fn: Callable, *args, resources: dict):
    key = f"{label}-{uuid.uuid4().hex[:8]}"  # unique: an erred future kept by a traceback never shadows a rerun
    return client.submit(_exclusive, label, fn, *args, key=key, resources=resources, pure=False)


def _value(value):
    return value


def _shared(client, label: str, value):
    """``value`` as a future that the tasks needing it share: sent to the cluster once, not once per
    task, and recomputed (it is a task that returns it) when the worker holding it dies."""
    return client.submit(_value, value, key=f"{label}-{uuid.uuid4().hex[:8]}", pure=False)


def _wait(client, futures: dict, desc: str, total: int, initial: int = 0, progress: bool = True) -> dict:
    """Results of ``futures`` (future -> (slot, label)) as ``{slot: result}``, with a progress bar.

    The first task that fails raises :class:`idsd.errors.TrainingError` naming its label; the
    tasks not finished then are cancelled (what finished has written its files).
    """
    from distributed import as_completed

    from idsd.progress import tqdm

    results = {}
    bar = tqdm(total=total, initial=initial, desc=desc, disable=not progress)
    try:
        for fut in as_completed(list(futures)):
            slot, label = futures[fut]
            try:
                results[slot] = fut.result()
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                raise TrainingError(f"{label} failed on a Dask worker: {type(exc).__name__}: {first}") from exc
            bar.set_postfix_str(label)
            bar.update()
    finally:
        bar.close()
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
    return results


# ------------------------------------------------------------------------------------ training grid
def _grid_features(outputs: Outputs, study, corpus: str, feature: str, mode: str, progress: bool):
    """The train + dev rows of a corpus's cached features, as :func:`idsd.train.train_grid` trains on."""
    from idsd.cache import corpus_features
    from idsd.features import FeatureConfig

    fs = corpus_features(outputs, study, corpus, FeatureConfig(feature, mode), progress=progress)
    return fs.subset(np.isin(fs.rows["split"].to_numpy(), ["train", "dev"]))


def grid_run(root: str, study, corpus: str, feature: str, mode: str, config, seed: int, retrain: bool) -> dict:
    """One run of the training grid in a worker: :func:`idsd.train._train_seeds` for one seed with a
    freshly built model (reused when its fingerprint matches a saved run, unless ``retrain``).

    Parameters
    ----------
    root : str
        The outputs directory (shared with the driver).
    study, corpus, feature, mode, config, seed, retrain
        As for :func:`idsd.train.train_grid`.

    Returns
    -------
    dict
        The run record (without the model).
    """
    from idsd.progress import tqdm
    from idsd.train import _train_seeds

    outputs = Outputs(root)
    fs = _grid_features(outputs, study, corpus, feature, mode, progress=False)
    bar = tqdm(total=1, disable=True)
    try:
        (record,) = _train_seeds(fs, corpus, feature, mode, config, [int(seed)], outputs, retrain, bar, None)
    finally:
        bar.close()
    return record


def train_grid_distributed(client, outputs: Outputs, study, train_corpora=None, features=None, mode: str = "array",
                           config=None, progress: bool = True, retrain: bool = False,
                           seeds: Sequence[int] | None = None, gpus_per_run: float | None = None) -> pd.DataFrame:
    """:func:`idsd.train.train_grid` on a Dask cluster: one task per run (corpus x feature x seed).

    Runs whose model and record exist with the same :func:`idsd.train.run_fingerprint` are reused
    without a task (unless ``retrain``); the others are submitted with :func:`task_resources` and
    trained by :func:`grid_run`, which writes the model, history and record to ``outputs`` (a
    folder every worker sees). A task whose worker dies is rerun by the scheduler.

    Parameters
    ----------
    client : distributed.Client
    outputs, study, train_corpora, features, mode, config, progress, retrain, seeds
        As for :func:`idsd.train.train_grid` (``progress``: one bar over the finished runs).
    gpus_per_run : float, optional
        See :func:`task_resources`.

    Returns
    -------
    DataFrame
        :func:`idsd.train.runs_table` of the grid's runs in the grid's order (corpus, feature, seed),
        as :func:`idsd.train.train_grid` returns it; ``outputs.runs_table`` is rewritten from every
        saved record.

    Raises
    ------
    TrainingError
        A run failed in its worker (the message names it; the runs finished before are saved).
    """
    from idsd.features import FEATURES
    from idsd.files import write_csv
    from idsd.train import TrainConfig, _reusable_record, load_run_records, run_fingerprint, runs_table

    config = config or TrainConfig(profile="cpu")
    corpora = list(train_corpora) if train_corpora else list(study.train_corpora)
    unknown = sorted(set(corpora) - set(study.eval_corpora))
    if unknown:
        raise ValueError(f"corpora {unknown} are not in the study ({study.eval_corpora})")
    features = list(features) if features else list(FEATURES)
    seeds = [int(s) for s in seeds] if seeds else [int(config.seed)]
    resources = task_resources(client, gpus_per_run)
    records: list[dict | None] = []
    futures = {}
    for corpus in corpora:
        for feature in features:
            fs = _grid_features(outputs, study, corpus, feature, mode, progress)
            for seed in seeds:
                cfg = replace(config, feature=feature, mode=mode, seed=seed)
                name = cfg.name(seed_suffix=True)
                path = outputs.model_file(corpus, mode, name)
                rec = None if retrain else _reusable_record(path, run_fingerprint(fs.rows, fs.config.key(), cfg))
                if rec is not None:
                    log.info("%s/%s: reusing %s (same data, features, protocol and code; retrain=True "
                             "trains it again)", corpus, name, path)
                else:
                    label = f"train-{corpus}-{mode}-{name}"
                    fut = _submit(client, label, grid_run, str(outputs.base), study, corpus, feature, mode, config,
                                  seed, retrain, resources=resources)
                    futures[fut] = (len(records), f"training run {corpus}/{mode}/{name}")
                records.append(rec)
    if futures:
        log.info("training grid: %d runs submitted to the cluster, %d reused", len(futures),
                 len(records) - len(futures))
    done = _wait(client, futures, "training grid", len(records), len(records) - len(futures), progress)
    for slot, rec in done.items():
        records[slot] = rec
    table = runs_table(records)
    write_csv(runs_table(load_run_records(outputs)), outputs.runs_table)
    return table


def train_grid(outputs: Outputs, study, train_corpora=None, features=None, mode: str = "array", config=None,
               progress: bool = True, retrain: bool = False, seeds: Sequence[int] | None = None,
               reuse_models: bool = True, client=None, gpus_per_run: float | None = None) -> pd.DataFrame:
    """The training grid of notebook 03, in this process or on a Dask cluster.

    Parameters
    ----------
    outputs, study, train_corpora, features, mode, config, progress, retrain, seeds, reuse_models
        As for :func:`idsd.train.train_grid` (``reuse_models`` only applies without a client).
    client : distributed.Client, optional
        None: :func:`idsd.train.train_grid` here; else :func:`train_grid_distributed`.
    gpus_per_run : float, optional
        See :func:`task_resources` (with a client).

    Returns
    -------
    DataFrame
        :func:`idsd.train.runs_table` of the grid's runs.
    """
    if client is None:
        from idsd.train import train_grid as sequential

        return sequential(outputs, study, train_corpora, features, mode, config, progress, retrain, seeds,
                          reuse_models)
    return train_grid_distributed(client, outputs, study, train_corpora, features, mode, config, progress, retrain,
                                  seeds, gpus_per_run)


# ------------------------------------------------------------------------------------- learning curve
def learning_curve_distributed(client, out: Outputs, train_set, dev_set, eval_set, corpus: str,
                               features: Sequence[str], n_subsets: int = 10, seed: int = 0, profile: str = "cpu",
                               epochs: int | None = None, mode: str = "array", pooling: str = "avg", study=None,
                               gpus_per_run: float | None = None, progress: bool = True) -> list[str]:
    """Train and score, one Dask task each, the learning-curve subsets whose score file is missing.

    Each task is :func:`idsd.learning_curve.subset_task` (the step
    :func:`idsd.learning_curve.run_learning_curve` runs in its own process); the table is then
    built by :func:`~idsd.learning_curve.run_learning_curve` from the score files.

    Parameters
    ----------
    client : distributed.Client
    out, train_set, dev_set, eval_set, corpus, features, n_subsets, seed, profile, epochs, mode, pooling, study
        As for :func:`idsd.learning_curve.run_learning_curve`.
    gpus_per_run : float, optional
        See :func:`task_resources`.
    progress : bool

    Returns
    -------
    list of str
        The score files written.
    """
    from idsd.learning_curve import subset_run_name, subset_task

    resources = task_resources(client, gpus_per_run)
    futures, total, sets = {}, 0, None
    for feature in features:
        run = subset_run_name(feature, pooling)
        for k in range(1, n_subsets + 1):
            total += 1
            if out.learning_curve_score_file(corpus, mode, k, n_subsets, run).is_file():
                continue
            if sets is None:
                sets = [_shared(client, f"learning-curve-{split}-rows", rows)
                        for split, rows in (("train", train_set), ("dev", dev_set), ("eval", eval_set))]
            label = f"learning-curve-{corpus}-{mode}-{run}-{k}of{n_subsets}"
            fut = _submit(client, label, subset_task, str(out.base), *sets, corpus, feature, k, n_subsets, seed,
                          profile, epochs, mode, pooling, study, resources=resources)
            futures[fut] = (len(futures), f"learning-curve run {corpus}/{mode}/{run} subset {k}of{n_subsets}")
    done = _wait(client, futures, "learning curve", total, total - len(futures), progress)
    return [done[i] for i in sorted(done)]


# -------------------------------------------------------------------------------------------- scoring
def score_models_distributed(client, out: Outputs, eval_sets: dict[str, pd.DataFrame], models: pd.DataFrame,
                             overwrite: bool = False, study=None, gpus_per_run: float | None = None,
                             progress: bool = True) -> pd.DataFrame:
    """:func:`idsd.scoring.score_models` on a Dask cluster: one task per model (row of ``models``).

    Each task is ``score_models(out, eval_sets, models.iloc[[i]], overwrite, study)`` in a worker,
    which writes the model's score files to ``out``; a model whose score files all exist (and not
    ``overwrite``) gets no task.

    Parameters
    ----------
    client : distributed.Client
    out, eval_sets, models, overwrite, study
        As for :func:`idsd.scoring.score_models`.
    gpus_per_run : float, optional
        See :func:`task_resources`.
    progress : bool

    Returns
    -------
    DataFrame
        The rows :func:`idsd.scoring.score_models` returns, in its order.
    """
    from idsd.scores import score_path
    from idsd.scoring import score_models

    columns = ["train_corpus", "eval_corpus", "mode", "run", "path", "n", "written"]
    models = models.reset_index(drop=True)
    resources = task_resources(client, gpus_per_run)
    scored = [i for i, r in enumerate(models.itertuples()) if not overwrite and all(
        score_path(out, r.train_corpus, ev, r.mode, r.run).is_file() for ev in eval_sets)]
    todo = [i for i in range(len(models)) if i not in set(scored)]
    frames = []
    if scored:  # every score file exists: nothing to score, no features loaded, no task
        reused = score_models(out, eval_sets, models.iloc[scored], False, study)
        slot = {(r.train_corpus, r.mode, r.run): i for i, r in zip(scored, models.iloc[scored].itertuples())}
        frames.append(reused.assign(_model=[slot[k] for k in zip(reused["train_corpus"], reused["mode"],
                                                                   reused["run"])]))
    futures = {}
    if todo:
        shared = _shared(client, "score-eval-sets", eval_sets)
        for i in todo:
            corpus, mode, run = models.loc[i, ["train_corpus", "mode", "run"]]
            fut = _submit(client, f"score-{corpus}-{mode}-{run}", score_task, str(out.base), shared,
                          models.iloc[[i]], overwrite, study, resources=resources)
            futures[fut] = (i, f"scoring of {corpus}/{mode}/{run}")
    done = _wait(client, futures, "scoring", len(models), len(scored), progress)
    frames += [done[i].assign(_model=i) for i in sorted(done)]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    table = pd.concat(frames, ignore_index=True)
    # score_models' order: (feature, mode) groups sorted, the reused files of a group before the
    # written ones, then model (rows order) and evaluation set (eval_sets order)
    keys = list(zip(models["feature"], models["mode"]))
    rank = {g: j for j, g in enumerate(sorted({k for k in keys if pd.notna(k[0]) and pd.notna(k[1])}))}
    evs = {ev: j for j, ev in enumerate(eval_sets)}
    table["_group"] = [rank[keys[i]] for i in table["_model"]]
    table["_eval"] = table["eval_corpus"].map(evs)
    table = table.sort_values(["_group", "written", "_model", "_eval"], kind="stable")
    # rebuilt from records as score_models builds its table (same dtypes: n is float when some are None)
    return pd.DataFrame(table[columns].to_dict("records"), columns=columns)


def score_task(root: str, eval_sets: dict[str, pd.DataFrame], models: pd.DataFrame, overwrite: bool,
               study=None) -> pd.DataFrame:
    """:func:`idsd.scoring.score_models` in a worker, on the outputs directory ``root``."""
    from idsd.scoring import score_models

    return score_models(Outputs(root), eval_sets, models, overwrite, study)
