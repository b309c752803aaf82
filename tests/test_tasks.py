"""idsd.tasks: the training grid, the learning curve and the scoring as Dask tasks give the files and
tables the in-process code gives, resume by fingerprint, and survive a worker killed mid-run.

One LocalCluster (2 worker processes, ``run=1`` each, as :mod:`idsd.cluster` declares) for the
module, two tiny corpora, mfcc, the ``quick`` profile. The sequential results are computed in
``seq/``, the distributed ones in ``dist/`` (same manifests and a copy of the feature cache).
Equality is exact (weights, histories, scores): every task builds its model after the same
``set_seeds`` call, with Keras' seed draws isolated from the worker's event-loop thread
(:func:`idsd.tasks.isolate_keras_random`), and a pooled model of the sequential grid restarts from
the fresh-build state.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import distributed
import keras
import numpy as np
import pandas as pd
import pytest

from idsd import artifact, learning_curve, scoring, tasks
from idsd.errors import TrainingError
from idsd.paths import Outputs
from idsd.study import CorpusEntry, Study
from idsd.train import TrainConfig

pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:Even though the `tf.config.experimental_run_functions_eagerly`")]

CORPORA = ("toy-a", "toy-b")
CONFIG = dict(profile="quick", verbose=0)
TIMING = ("wall_s", "samples_per_s", "train_samples_per_s", "peak_rss_mb", "model_path")
"""Columns of the runs table that measure the run (they differ between runs of the same model)."""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two toy corpora (manifests, cached mfcc) in ``seq/`` and, copied, in ``dist/``."""
    import soundfile as sf
    from conftest import synthetic_clip as clip  # the toy classes of the manifest_factory fixture

    from idsd.cache import fill_study
    from idsd.features import FeatureConfig

    tmp = tmp_path_factory.mktemp("tasks")
    seq = Outputs(tmp / "seq").make()
    k, entries = 0, []
    for name, n_per_class in ((CORPORA[0], {"train": 6, "dev": 2, "eval": 3}),
                              (CORPORA[1], {"train": 5, "dev": 2, "eval": 3}),
                              ("toy-one-class", {"train": 2, "dev": 1})):
        rows = []
        for split, n in n_per_class.items():
            for label in ("real", "fake"):
                if name == "toy-one-class" and split == "train" and label == "fake":
                    continue
                for i in range(n):
                    path = tmp / "audio" / name / split / label / f"{label}_{i}.wav"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(path, clip(label, k), 16000, subtype="PCM_16")
                    k += 1
                    rows.append(dict(path=str(path), dataset=name, split=split, label=label,
                                     target=int(label == "real"), source="bonafide" if label == "real" else "toy-tts",
                                     speaker=f"spk{i % 3}", fragment=0, duration=2.0, condition="clean"))
        pd.DataFrame(rows).to_csv(seq.manifests / f"{name}.csv", index=False)
        entries.append(CorpusEntry(name, f"manifests/{name}.csv"))
    study = Study("embedded", entries[:2])
    one_class = Study("embedded", entries[2:])
    fill_study(study, seq, [FeatureConfig("mfcc")], progress=False)
    fill_study(one_class, seq, [FeatureConfig("mfcc")], progress=False)
    dist = Outputs(tmp / "dist").make()
    for sub in ("manifests", "cache"):
        shutil.copytree(seq.base / sub, dist.base / sub, dirs_exist_ok=True)
    return {"seq": seq, "dist": dist, "study": study, "one_class": one_class}


class Eager(distributed.WorkerPlugin):
    """TensorFlow functions run eagerly in every worker, restarted ones included (see :func:`eager`)."""

    def setup(self, worker):
        import tensorflow as tf

        tf.config.run_functions_eagerly(True)


@pytest.fixture(scope="module", autouse=True)
def eager():
    """Run TensorFlow functions eagerly here and in the workers: tracing a fresh model's training step
    costs ~12 s on the 2-core CPU, a whole eager quick run ~3 s. The properties tested (seeds, the
    pool reset, data order, resumption, result order) do not depend on it; the same equality holds
    with traced functions (checked when the tasks were written, in notebook-sized runs too slow here)."""
    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    before = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(before)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, resources={"run": 1},
                                       dashboard_address=":0")
    c = distributed.Client(cluster)
    c.forward_logging("idsd")
    if keras.backend.backend() == "tensorflow":
        c.register_plugin(Eager())
    # the workers import TensorFlow while the sequential grid trains
    warm = [c.submit(_warm_up, pure=False, workers=[w]) for w in c.scheduler_info()["workers"]]
    yield c
    del warm
    c.close()
    cluster.close()


def _warm_up():
    import idsd.tasks  # noqa: F401
    import idsd.train  # noqa: F401


@pytest.fixture(scope="module")
def sequential(data):
    from idsd.train import train_grid

    t0 = time.perf_counter()
    table = train_grid(data["seq"], data["study"], list(CORPORA), ["mfcc"], "array",
                       TrainConfig.from_profile(**CONFIG), progress=False)
    return {"runs": table, "seconds": time.perf_counter() - t0}


def _weights(path) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w) for w in artifact.load_model(path).weights]


def _record(model_path) -> dict:
    return json.loads(Path(model_path).with_name(Path(model_path).stem + ".record.json").read_text())


def _assert_same_runs(a: pd.DataFrame, b: pd.DataFrame):
    pd.testing.assert_frame_equal(a.drop(columns=list(TIMING)), b.drop(columns=list(TIMING)))
    for pa, pb in zip(a["model_path"], b["model_path"], strict=True):
        assert pa != pb
        for wa, wb in zip(_weights(pa), _weights(pb), strict=True):
            assert np.array_equal(wa, wb)  # exact: same seeds, same fresh-build state, same data order
        ra, rb = _record(pa), _record(pb)
        for key in ("fingerprint", "threshold", "dev_eer", "dev_auc", "final", "kept", "epochs", "stop_reason"):
            assert ra[key] == rb[key], key
        ha = pd.read_csv(Path(pa).with_name(Path(pa).stem + ".history.csv"))
        hb = pd.read_csv(Path(pb).with_name(Path(pb).stem + ".history.csv"))
        cols = [c for c in ha.columns if c not in ("train_s", "epoch_s")]
        pd.testing.assert_frame_equal(ha[cols], hb[cols])


def test_task_resources(client):
    assert tasks.task_resources(client) == {"run": 1}  # CPU workers: one run per worker
    assert tasks.task_resources(client, 2) == {"run": 1, "GPU": 2}

    class GPUClient:
        def scheduler_info(self, n_workers=-1):
            return {"workers": {"a": {"resources": {"run": 1}}, "b": {"resources": {"run": 1, "GPU": 4}}}}

    assert tasks.task_resources(GPUClient()) == {"run": 1, "GPU": 1}
    assert tasks.task_resources(GPUClient(), 0) == {"run": 1}
    with pytest.raises(ValueError):
        tasks.task_resources(client, -1)


def test_grid_on_workers_equals_the_sequential_grid_and_survives_a_killed_worker(data, client, sequential,
                                                                                 monkeypatch):
    dist, study = data["dist"], data["study"]
    result = {}

    def grid():
        try:
            result["runs"] = tasks.train_grid(dist, study, list(CORPORA), ["mfcc"], "array",
                                              TrainConfig.from_profile(**CONFIG), progress=False, client=client)
        except BaseException as exc:  # handed to the test thread
            result["error"] = exc

    t0 = time.perf_counter()
    runner = threading.Thread(target=grid)
    runner.start()
    victim = None
    while victim is None and runner.is_alive() and time.perf_counter() - t0 < 120:
        active = {w: label for w, label in client.run(tasks.active_run).items() if label}
        victim, label = next(iter(active.items()), (None, None))
        time.sleep(0.2)
    assert victim is not None, "no training task started"
    time.sleep(1.0)  # inside train_model (building or fitting; the features are loaded in milliseconds)
    pid = client.run(os.getpid, workers=[victim])[victim]
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    runner.join(240)
    assert not runner.is_alive() and "error" not in result, result.get("error")
    distributed_s = time.perf_counter() - t0
    runs = result["runs"]
    _assert_same_runs(sequential["runs"], runs)
    # the run of the killed worker was trained again after the kill, by a worker of the restarted cluster
    (path,) = [p for p, c in zip(runs["model_path"], runs["train_corpus"]) if label == f"train-{c}-array-mfcc_avg_10"]
    assert time.mktime(time.strptime(_record(path)["finished"], "%Y-%m-%dT%H:%M:%S")) > killed_at
    client.wait_for_workers(2, timeout=60)
    assert pid not in client.run(os.getpid).values()
    pd.testing.assert_frame_equal(pd.read_csv(dist.runs_table).drop(columns=list(TIMING)),
                                  runs.drop(columns=list(TIMING)))

    # everything saved: a second call submits nothing and returns the same table
    stamps = {p: Path(p).stat().st_mtime_ns for p in runs["model_path"]}
    monkeypatch.setattr(tasks, "_submit", lambda *a, **k: pytest.fail("a saved run was submitted again"))
    again = tasks.train_grid(dist, study, list(CORPORA), ["mfcc"], "array", TrainConfig.from_profile(**CONFIG),
                             progress=False, client=client)
    pd.testing.assert_frame_equal(again, runs)
    assert {p: Path(p).stat().st_mtime_ns for p in runs["model_path"]} == stamps
    print(f"sequential grid {sequential['seconds']:.1f} s, distributed (one worker killed) {distributed_s:.1f} s")


def test_failed_run_names_the_run(data, client):
    with pytest.raises(TrainingError, match=r"^training run toy-one-class/array/mfcc_avg_10 failed on a Dask "
                                            r"worker: TrainingError: the training set has only one class"):
        tasks.train_grid(data["dist"], data["one_class"], None, ["mfcc"], "array",
                         TrainConfig.from_profile(**CONFIG), progress=False, client=client)


def _relative(table: pd.DataFrame, out: Outputs) -> pd.DataFrame:
    return table.assign(path=[str(Path(p).relative_to(out.base)) for p in table["path"]])


def _score_files(out: Outputs, under: str = "") -> dict[str, bytes]:
    root = out.scores / under
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.csv"))}


def test_scoring_with_a_client_writes_the_same_score_files(data, client, sequential):
    seq, dist, study = data["seq"], data["dist"], data["study"]
    models = artifact.find_models(seq.models, list(CORPORA), "array")  # the same models, scored both ways
    assert len(models) == 2
    eval_sets = scoring.study_eval_sets(study, seq)
    local = scoring.score_models(seq, eval_sets, models, study=study)
    remote = scoring.score_models(dist, eval_sets, models, study=study, client=client)
    assert local["written"].all() and len(local) == 4
    pd.testing.assert_frame_equal(_relative(local, seq), _relative(remote, dist))
    assert _score_files(seq) == _score_files(dist) and len(_score_files(seq)) == 4
    # one file missing of the second model: the reused files come first, as without a client
    for out in (seq, dist):
        out.score_file(CORPORA[1], CORPORA[0], "array", "mfcc_avg_10").unlink()
    local = scoring.score_models(seq, eval_sets, models, study=study)
    remote = scoring.score_models(dist, eval_sets, models, study=study, client=client)
    assert local["written"].sum() == 1
    pd.testing.assert_frame_equal(_relative(local, seq), _relative(remote, dist))
    assert _score_files(seq) == _score_files(dist)
    with pytest.raises(ValueError, match="custom callables"):
        scoring.score_models(dist, eval_sets, models, study=study, client=client, predictor=lambda p, X: X)


def test_learning_curve_with_a_client_gives_the_same_table_and_score_files(data, client):
    seq, dist, study = data["seq"], data["dist"], data["study"]
    m = study.manifest(seq, CORPORA[0])
    splits = [m[m["split"] == s].reset_index(drop=True) for s in ("train", "dev", "eval")]
    args = dict(n_subsets=2, seed=0, profile="quick", mode="array", pooling="avg", study=study)
    local = learning_curve.run_learning_curve(seq, *splits, CORPORA[0], ["mfcc"], **args)
    # subset 1 was scored before (a resumed curve): only subset 2 is trained on the cluster
    for k in (1, 2):
        assert seq.learning_curve_score_file(CORPORA[0], "array", k, 2, "mfcc_avg_10").is_file()
    first = seq.learning_curve_model_file(CORPORA[0], "array", 1, 2, "mfcc_avg_10").parent
    shutil.copytree(first, dist.learning_curve_model_file(CORPORA[0], "array", 1, 2, "mfcc_avg_10").parent)
    target = dist.learning_curve_score_file(CORPORA[0], "array", 1, 2, "mfcc_avg_10")
    target.parent.mkdir(parents=True)
    shutil.copy(seq.learning_curve_score_file(CORPORA[0], "array", 1, 2, "mfcc_avg_10"), target)
    remote = learning_curve.run_learning_curve(dist, *splits, CORPORA[0], ["mfcc"], client=client, **args)
    pd.testing.assert_frame_equal(local, remote)
    assert _score_files(seq, "learning_curve") == _score_files(dist, "learning_curve")
    assert len(_score_files(dist, "learning_curve")) == 2
    pd.testing.assert_frame_equal(pd.read_csv(seq.learning_curve_table), pd.read_csv(dist.learning_curve_table))
    with pytest.raises(ValueError, match="custom callables"):
        learning_curve.run_learning_curve(dist, *splits, CORPORA[0], ["mfcc"], client=client,
                                          predict=lambda record, X: np.zeros(len(X)), **args)
