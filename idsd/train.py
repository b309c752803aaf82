"""Training protocol of the paper, with capped profiles for CPU runs, and run records.

Paper protocol (``spectrogram-generator/train_generator.py``): Adam (lr 1e-3), binary
cross-entropy, balanced class weights (``sklearn.utils.class_weight.compute_class_weight``),
batch 128 for arrays / 32 for images, up to 500 epochs, ``EarlyStopping(monitor="loss",
patience=5)`` on the *training* loss, ``ReduceLROnPlateau(monitor="val_loss", factor=0.8,
patience=5)``, the dev split as validation data, and the final-epoch weights kept (no
``restore_best_weights``).

Profiles (:data:`PROFILES`):

``paper``
    the protocol above (500 epochs).
``cpu``
    the paper's protocol at batch :data:`CPU_BATCH_SIZE` for arrays (images keep 32), trained to
    convergence on a 2-core CPU: the embedded ``default`` training splits have ~400-500 clips,
    60-500x fewer than the paper's, so batch 128 would give 4 optimizer steps per epoch; batch
    32 gives 14. Besides the paper's training-loss rule, a dev plateau rule stops a run when the
    dev ROC AUC (:data:`DEV_MONITOR`) has not improved for :data:`CPU_DEV_PATIENCE` epochs,
    watched from epoch :data:`CPU_MIN_EPOCHS` on, and keeps the best dev-AUC weights;
    :data:`CPU_EPOCHS` is a safety cap the rules should reach first. Training runs in
    ``mixed_bfloat16`` (measured 1.4-2.9x faster on this AVX512-BF16 CPU, same EERs within noise;
    ``docs/benchmarks.md``).
``quick``
    2 epochs, for smoke runs and CI.

Data are fed batch by batch from the feature cache's memory map (``X`` (n, n_bins, n_frames) float16, ``y``
(n,) int8, 1 = real) through a :class:`keras.utils.PyDataset` that slices one batch and converts
it to float32, so no per-sample Python generator runs and the whole set is never copied; it works
on every Keras backend. Each run writes ``<name>.keras``, ``<name>.history.csv`` and
``<name>.record.json`` side by side (:mod:`idsd.artifact`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from idsd import __version__
from idsd.artifact import record_path, records_under, sidecars, write_record
from idsd.batches import ArrayBatches
from idsd.errors import TrainingError
from idsd.files import write_csv
from idsd.model import build_model, pooling_settings, run_name

log = logging.getLogger(__name__)

CPU_EPOCHS = 60
"""Epoch cap of the ``cpu`` profile: a safety cap that the stopping rules should reach first."""

CPU_BATCH_SIZE = 32
"""Batch size of the ``cpu`` profile for array inputs (more optimizer steps on small corpora)."""

CPU_DEV_PATIENCE = 6
"""The ``cpu`` profile's dev plateau rule: stop when the dev AUC has not improved for this many epochs
and restore the weights of the best dev-AUC epoch."""

CPU_MIN_EPOCHS = 10
"""The ``cpu`` profile's dev rule watches the dev AUC from this epoch on (1-based), so that it never
keeps the barely trained weights of the first epochs."""

DEV_MONITOR = "val_auc"
"""What the dev plateau rule watches: the dev split's ROC AUC (``keras.metrics.AUC``), maximised.
A ranking measure like the EER the study reports; the dev loss, which the first version of the rule
watched, rises from the first epochs on small corpora when the model grows over-confident while its
ranking still improves (mel and STFT then kept epoch 1-7 weights and stayed near chance)."""

PROFILES: dict[str, dict] = {
    "paper": {"epochs": 500, "dev_patience": None},
    "cpu": {"epochs": CPU_EPOCHS, "batch_size": CPU_BATCH_SIZE, "dev_patience": CPU_DEV_PATIENCE,
            "min_epochs": CPU_MIN_EPOCHS, "bf16": "auto"},
    "quick": {"epochs": 2, "dev_patience": None},
}
"""Profile name -> defaults that differ between profiles (everything else is the paper protocol).
A profile's ``batch_size`` replaces the upstream array batch (128); image batches stay 32;
``dev_patience`` adds the dev-AUC plateau rule (None: the paper's rules only) watched from epoch
``min_epochs`` on; ``bf16`` is the
default precision (``cpu``: ``"auto"``, i.e. ``mixed_bfloat16`` where it runs natively,
:func:`idsd.repro.native_bf16`: measured 1.4-2.9x faster on the AVX512-BF16 CPU with the same EERs
within noise, but 9.3x slower than float32 on an AVX2 CPU that emulates it, docs/benchmarks.md;
float32 elsewhere; the ``paper`` profile trains in float32)."""

CPU_TRAIN_CORPORA = ("mini-for", "mini-asvspoof")
"""Training corpora of the default embedded study under the ``cpu`` profile (``grid="default"``).

Trained to a stopping rule on the 2-core CPU, the full grid's 34 runs (with the extra seeds) take
about 1.7 times as long as this grid's 18 (docs/benchmarks.md gives the measured times), which
with the other stages leaves the study no margin in its 60-minute budget. The default therefore trains every
representation on mini-for (the FoR stand-in, the paper's main corpus, which also carries the
modified-speech set) and on mini-asvspoof (the field's benchmark family); mini-wavefake and
mini-rerec stay evaluation corpora of every model. ``grid="full"`` trains the paper's whole grid."""

GRIDS = ("default", "full")
"""Training grids of notebooks 03 and 06: ``default`` (the CPU budget) or ``full`` (the paper's)."""


def grid_train_corpora(study, profile: str, grid: str = "default") -> list[str]:
    """The training corpora of a grid.

    Parameters
    ----------
    study : idsd.study.Study
    profile : str
        Training profile (:data:`PROFILES`).
    grid : {"default", "full"}
        ``full``: every training corpus of the study. ``default``: the same, except for the
        embedded study under the ``cpu`` profile, which trains on :data:`CPU_TRAIN_CORPORA` only
        (real corpora and the other profiles always get every training corpus).

    Returns
    -------
    list of str
        Training corpora, in the study's order.
    """
    corpora = list(study.train_corpora)
    if not _embedded_cpu_default(study, profile, grid):
        return corpora
    chosen = [c for c in corpora if c in CPU_TRAIN_CORPORA]
    return chosen or corpora


LC_SUBSETS = 10
"""Subsets of the paper's learning curve (ten cumulative tenths of the training split)."""

CPU_LC_FEATURES = ("mfcc",)
CPU_LC_SUBSETS = 5
"""The default learning curve of the embedded study under the ``cpu`` profile: mfcc (the paper's
best representation and among the cheapest to train) on 5 cumulative fifths, a budget choice
(ten subsets of three representations took 13 minutes here under an earlier, shorter stopping
rule)."""


def _embedded_cpu_default(study, profile: str, grid: str) -> bool:
    if grid not in GRIDS:
        raise TrainingError(f"unknown grid {grid!r}; choose from {GRIDS}")
    return grid == "default" and profile == "cpu" and study.source == "embedded"


def learning_curve_grid(study, profile: str, grid: str = "default") -> tuple[list[str], int]:
    """Representations and number of subsets of the learning curve (notebook 06).

    Parameters
    ----------
    study : idsd.study.Study
    profile : str
    grid : {"default", "full"}
        ``default`` with the embedded study and the ``cpu`` profile: :data:`CPU_LC_FEATURES` on
        :data:`CPU_LC_SUBSETS` subsets; otherwise the paper's seven representations on
        :data:`LC_SUBSETS` subsets.

    Returns
    -------
    (features, n_subsets)
    """
    from idsd.features import FEATURES

    if _embedded_cpu_default(study, profile, grid):
        return list(CPU_LC_FEATURES), CPU_LC_SUBSETS
    return list(FEATURES), LC_SUBSETS


STOP_REASONS = {
    "train_loss": "training loss plateau (paper rule: EarlyStopping(loss, patience 5))",
    "dev_auc": "dev AUC plateau (best dev-AUC weights restored)",
    "cap": "epoch cap reached",
}
"""Why a run stopped (``record["stop_reason"]``) -> the sentence the tables show."""

BATCH_SIZES = {"array": 128, "db": 128, "image": 32}
"""Upstream batch sizes per input mode (Pipeline B arrays: 128; Pipeline A images: 32)."""


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run.

    Attributes
    ----------
    profile : {"paper", "cpu", "quick"}
        Which epoch budget and batch cap (:data:`PROFILES`); the rest of the protocol is the paper's.
    epochs : int, optional
        Maximum number of epochs; None = the profile's.
    batch_size : int, optional
        None = 128 for ``array``/``db`` inputs, 32 for ``image`` (upstream), capped by the profile
        (``cpu``: 32).
    feature, mode : str, optional
        The feature and input mode the run is for; None = taken from the data's ``config``. When
        both are known they must agree (a mismatch raises :class:`TrainingError`).
    pooling, pool_size, strides
        Passed to :func:`idsd.model.build_model`.
    learning_rate : float
        Adam learning rate (paper: 1e-3).
    class_weight : bool
        Balanced class weights (``compute_class_weight("balanced")``), applied as sample weights.
    early_stopping_patience, reduce_lr_factor, reduce_lr_patience
        The paper's callbacks.
    dev_patience : int or None or "profile"
        The dev plateau rule: stop when the dev AUC (:data:`DEV_MONITOR`) has not improved for this
        many epochs and restore the best dev-AUC weights; None = off (the paper protocol);
        ``"profile"`` = the profile's (``cpu``: :data:`CPU_DEV_PATIENCE`, others off).
    min_epochs : int or "profile"
        First epoch (1-based) the dev rule watches; ``"profile"`` = the profile's (``cpu``:
        :data:`CPU_MIN_EPOCHS`, others 1). The paper's training-loss rule is not delayed.
    seed : int
        Seeds Python, NumPy, the backend and the batch shuffling.
    deterministic : bool
        TensorFlow op determinism (slower).
    bf16 : bool, optional
        ``mixed_bfloat16`` policy (the output layer stays float32); None = the profile's (``cpu``: on
        where the CPU or GPU computes bfloat16 natively, :func:`idsd.repro.native_bf16`, else off;
        ``paper`` and ``quick``: off). Resolved to a bool when the config is made (the run record
        holds what was used).
    jit_compile : bool or "auto", optional
        Passed to ``Model.compile``; None = :func:`default_jit_compile` (XLA off for TensorFlow on
        CPU, where it measured slower to compile and to run this model, else Keras' ``"auto"``).
    verbose : int
        Keras ``fit`` verbosity: 2 = one line per epoch (headless default), 1 = progress bar.
    """

    profile: str = "paper"
    epochs: int | None = None
    batch_size: int | None = None
    feature: str | None = None
    mode: str | None = None
    pooling: str = "avg"
    pool_size: int | None = None
    strides: int | None = None
    learning_rate: float = 1e-3
    class_weight: bool = True
    early_stopping_patience: int = 5
    reduce_lr_factor: float = 0.8
    reduce_lr_patience: int = 5
    dev_patience: int | None | str = "profile"
    min_epochs: int | str = "profile"
    seed: int = 0
    deterministic: bool = False
    bf16: bool | None = None
    jit_compile: bool | str | None = None
    verbose: int = 2

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {self.profile!r}")
        if self.bf16 is None:
            self.bf16 = PROFILES[self.profile].get("bf16", False)
        if self.bf16 == "auto":
            from idsd.repro import native_bf16

            self.bf16 = native_bf16()
        self.bf16 = bool(self.bf16)
        pooling_settings(self.pooling, self.pool_size, self.strides)  # validates
        if self.epochs is not None and int(self.epochs) < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")

    @classmethod
    def from_profile(cls, profile: str = "paper", **overrides) -> TrainConfig:
        """A config for ``profile``; keyword arguments override single fields (None values ignored)."""
        return cls(profile=profile, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def resolved_dev_patience(self) -> int | None:
        """The dev plateau rule's patience in force (None: off)."""
        if self.dev_patience == "profile":
            return PROFILES[self.profile].get("dev_patience")
        return None if self.dev_patience is None else int(self.dev_patience)

    @property
    def resolved_min_epochs(self) -> int:
        """First epoch (1-based) the dev plateau rule watches."""
        if self.min_epochs == "profile":
            return int(PROFILES[self.profile].get("min_epochs", 1))
        return max(1, int(self.min_epochs))

    @property
    def max_epochs(self) -> int:
        """Epoch cap: ``epochs`` or the profile's."""
        return int(self.epochs if self.epochs is not None else PROFILES[self.profile]["epochs"])

    def resolved_batch_size(self, mode: str | None = None) -> int:
        """Batch size for input ``mode`` (the config's own mode first).

        ``batch_size`` when set, else the upstream size of the mode (:data:`BATCH_SIZES`), capped
        by the profile's ``batch_size`` (the ``cpu`` profile: 32 for arrays, images unchanged).
        """
        if self.batch_size:
            return int(self.batch_size)
        upstream = BATCH_SIZES.get(self.mode or mode or "array", 128)
        return min(upstream, PROFILES[self.profile].get("batch_size", upstream))

    def name(self, feature: str | None = None, seed_suffix: bool = False) -> str:
        """Upstream run name ``<feature>_<pooling>_<pool size>``; with ``seed_suffix`` and a seed other
        than 0, ``-seed<k>`` is appended (the extra seeds of the in-domain seed spread)."""
        base = run_name(self.feature or feature or "model", self.pooling, self.pool_size)
        return f"{base}-seed{int(self.seed)}" if seed_suffix and int(self.seed) != 0 else base


def default_jit_compile() -> bool | str:
    """``False`` for TensorFlow without a GPU (XLA measured slower there), else ``"auto"``."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return False
    return "auto"


def compile_model(model, learning_rate: float = 1e-3, jit_compile: bool | str | None = None):
    """Compile ``model`` with the paper's optimizer and loss (Adam, BCE; metrics accuracy and the ROC
    AUC that the dev plateau rule watches); returns it."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=keras.losses.BinaryCrossentropy(from_logits=False),
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
                  jit_compile=default_jit_compile() if jit_compile is None else jit_compile)
    return model


# ----------------------------------------------------------------------------------------- data
def as_arrays(data, role: str = "train"):
    """Return ``(X, y, info)`` from a FeatureSet, an ``(X, y)`` pair or a mapping.

    Parameters
    ----------
    data : FeatureSet or tuple or dict
        Anything with ``X`` (n, n_bins, n_frames) and ``y`` (n,) attributes or keys, or a pair ``(X, y)``.
        ``X`` may be a float16 memory map; it is not copied.
    role : str
        Used in error messages ("train", "dev", "eval").

    Returns
    -------
    X : array-like, shape (n, n_bins, n_frames)
    y : np.ndarray, shape (n,), int8 (1 = real) or None when absent
    info : dict
        ``feature``, ``mode``, ``shape`` and ``key`` of the data's feature config when known.
    """
    if data is None:
        raise TrainingError(f"{role} data is missing")
    if isinstance(data, (str, os.PathLike)):
        raise TrainingError(f"{role} data {os.fspath(data)!r} is a path: load it with "
                            "idsd.cache.load_feature_set first")
    if isinstance(data, dict):
        X, y, cfg = data.get("X"), data.get("y"), data.get("config")
    elif isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise TrainingError(f"{role} data must be a pair (X, y), got {len(data)} items")
        (X, y), cfg = data, None
    elif hasattr(data, "X"):
        X, y, cfg = data.X, getattr(data, "y", None), getattr(data, "config", None)
    else:
        X, y, cfg = data, None, None
    if X is None:
        raise TrainingError(f"{role} data has no features X")
    if getattr(X, "ndim", None) != 3:
        raise TrainingError(f"{role} features must have shape (n, n_bins, n_frames), got {getattr(X, 'shape', type(X))}")
    if y is not None:
        y = np.asarray(y).reshape(-1)
        if len(y) != len(X):
            raise TrainingError(f"{role} data: {len(X)} feature rows but {len(y)} labels")
        bad = ~np.isin(y, (0, 1))
        if bad.any():
            raise TrainingError(f"{role} labels must be 0 (fake) or 1 (real); found {np.unique(y[bad])[:5]}")
        y = y.astype(np.int8)
    info = {}
    if cfg is not None:
        for attr in ("feature", "mode"):
            if getattr(cfg, attr, None) is not None:
                info[attr] = getattr(cfg, attr)
        try:
            shape = getattr(cfg, "shape", None)
            if shape is not None:
                info["shape"] = tuple(int(s) for s in shape)
        except Exception:  # a config whose shape needs unavailable extras
            pass
        overrides = getattr(cfg, "overrides", None)
        if overrides:
            info["overrides"] = dict(overrides)
        key = getattr(cfg, "key", None)
        if callable(key):
            try:
                info["key"] = key()
            except Exception:
                pass
    if "shape" in info and tuple(info["shape"]) != tuple(X.shape[1:]):
        raise TrainingError(f"{role} features have shape {tuple(X.shape[1:])} but their config "
                            f"({info.get('feature')}, {info.get('mode')}) says {info['shape']}")
    return X, y, info


def check_finite(X, role: str = "train", chunk: int = 512) -> None:
    """Raise :class:`TrainingError` when features contain NaN or inf (e.g. float16 overflow)."""
    for start in range(0, len(X), chunk):
        block = np.asarray(X[start:start + chunk])
        if not np.isfinite(block).all():
            n_bad = int((~np.isfinite(block)).reshape(len(block), -1).any(axis=1).sum())
            raise TrainingError(
                f"{role} features contain NaN/inf (first bad block at row {start}, {n_bad} rows in it): "
                "the values overflow float16 or the extraction failed; rebuild the feature cache")


def balanced_class_weights(y: np.ndarray) -> dict[int, float]:
    """``{0: w_fake, 1: w_real}`` from ``sklearn.utils.class_weight.compute_class_weight('balanced')``."""
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.array([0, 1])
    w = compute_class_weight("balanced", classes=classes, y=np.asarray(y))
    return {int(c): float(v) for c, v in zip(classes, w)}


# ------------------------------------------------------------------------------------- callbacks
def _rss_mb() -> float:
    """Current resident set size of this process, MB (10^6 bytes)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 1e6
    except Exception:
        return float("nan")


def _peak_rss_mb() -> float:
    """Peak resident set size of this process since it started, MB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _make_monitor():
    class RunMonitor(keras.callbacks.Callback):
        """Per-epoch training time (validation excluded), learning rate and RSS samples."""

        def __init__(self):
            super().__init__()
            self.epoch_train_s, self.epoch_total_s, self.lrs = [], [], []
            self.peak_rss = _rss_mb()
            self._t0 = self._t_train_end = None

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()
            self._t_train_end = None

        def on_train_batch_end(self, batch, logs=None):
            self._t_train_end = time.perf_counter()
            if batch % 10 == 0:
                self.peak_rss = max(self.peak_rss, _rss_mb())

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            self.epoch_total_s.append(now - self._t0)
            self.epoch_train_s.append((self._t_train_end or now) - self._t0)
            self.peak_rss = max(self.peak_rss, _rss_mb())
            try:
                self.lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
            except Exception:
                self.lrs.append(float("nan"))

    return RunMonitor()


# ----------------------------------------------------------------------------------------- train
class ModelPool:
    """Compiled detectors kept for reuse by later runs with the same architecture, seed and optimizer.

    Building a detector is cheap, but its first training step traces the backend's training graph:
    ~10 s per new model with TensorFlow on the 2-core CPU, more than training one of the learning
    curve's small subsets takes. Runs that share a :meth:`key` (input shape, pooling, precision,
    learning rate, XLA setting, seed; the learning curve's subsets of one representation) reuse one
    compiled model. Before each reuse every variable of the model (weights, BatchNorm statistics,
    dropout seed states) and of its optimizer (moments, iteration count, learning rate) is restored
    to its value right after the first build, which is the state a fresh build with the same seed
    starts from, so a reused run trains like a fresh one (``tests/test_train.py``).
    """

    def __init__(self):
        self._entries: dict[tuple, tuple] = {}

    @staticmethod
    def key(input_shape, config: TrainConfig) -> tuple:
        """What must agree for two runs to share a compiled model."""
        return (tuple(int(s) for s in input_shape), config.pooling, config.pool_size, config.strides,
                config.bf16, float(config.learning_rate), str(config.jit_compile), int(config.seed),
                keras.backend.backend())

    def get(self, key: tuple, build) -> keras.Model:
        """The pooled model for ``key`` reset to its initial state, or ``build()`` (compiled) pooled now."""
        if key not in self._entries:
            model = build()
            model.optimizer.build(model.trainable_variables)
            snapshot = ([keras.ops.convert_to_numpy(v) for v in model.variables],
                        [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables])
            self._entries[key] = (model, snapshot)
            return model
        model, (model_values, optimizer_values) = self._entries[key]
        for variable, value in zip(model.variables, model_values, strict=True):
            variable.assign(value)
        for variable, value in zip(model.optimizer.variables, optimizer_values, strict=True):
            variable.assign(value)
        return model

    def __len__(self) -> int:
        return len(self._entries)


def _resolve_out(out_path, name: str) -> Path:
    p = Path(out_path)
    if p.suffix == ".keras":
        return p
    return p / f"{name}.keras"


def train_model(train, dev, config: TrainConfig | None = None, out_path: str | os.PathLike | None = None,
                extra_record: dict | None = None, pool: ModelPool | None = None) -> dict:
    """Train the three-tower TCN on ``train``, monitoring ``dev``, and save the run.

    Parameters
    ----------
    train : FeatureSet or (X, y)
        Training features ``X`` (n, n_bins, n_frames) (float16 memmap is fine) and labels ``y`` (n,) int8,
        1 = real, 0 = fake. Must hold both classes.
    dev : FeatureSet or (X, y) or None
        Validation data (the paper's monitoring split). None or empty: no validation;
        ReduceLROnPlateau then watches the training loss (logged as a warning).
    config : TrainConfig, optional
        Defaults to ``TrainConfig()`` (the paper profile).
    out_path : str or Path, optional
        ``<dir>/<name>.keras`` or a directory (the name is then :meth:`TrainConfig.name`). The
        history CSV and the run record JSON are written next to it. None: nothing is saved.
    extra_record : dict, optional
        Merged into the run record (e.g. ``{"train_corpus": ...}``).
    pool : ModelPool, optional
        Reuse a compiled model of an earlier run with the same :meth:`ModelPool.key`, reset to its
        initial state (saves the graph tracing); None builds a new model.

    Returns
    -------
    dict
        The record (also written to ``<name>.record.json``); ``record["model"]`` is the trained
        ``keras.Model`` (not serialised).

    Raises
    ------
    TrainingError
        Empty or one-class training data, labels not in {0, 1}, NaN/inf features, a train/dev
        shape or feature/mode mismatch, or a loss that became NaN (nothing is saved then).
    """
    from idsd.repro import environment_info, set_seeds

    config = config or TrainConfig()
    Xtr, ytr, tr_info = as_arrays(train, "train")
    if ytr is None:
        raise TrainingError("training data has no labels y")
    if len(Xtr) == 0:
        raise TrainingError("the training set is empty (0 fragments): check the manifest's 'train' split "
                            "and the rejected-files list of the feature cache")
    counts = np.bincount(ytr, minlength=2)
    if (counts == 0).any():
        present = "real" if counts[1] else "fake"
        raise TrainingError(f"the training set has only one class ({int(counts.max())} {present} fragments, "
                            "0 of the other): a detector cannot be trained on it")
    # feature / mode consistency between config, train and dev
    for attr in ("feature", "mode"):
        want, have = getattr(config, attr), tr_info.get(attr)
        if want is not None and have is not None and want != have:
            raise TrainingError(f"config asks for {attr} {want!r} but the training data is {attr} {have!r}")
    feature = config.feature or tr_info.get("feature")
    mode = config.mode or tr_info.get("mode") or "array"
    config = replace(config, feature=feature, mode=mode)
    Xdv = ydv = None
    if dev is not None:
        Xdv, ydv, dv_info = as_arrays(dev, "dev")
        for attr in ("feature", "mode"):
            if tr_info.get(attr) and dv_info.get(attr) and tr_info[attr] != dv_info[attr]:
                raise TrainingError(f"train is {attr} {tr_info[attr]!r} but dev is {attr} {dv_info[attr]!r}")
        if tuple(Xdv.shape[1:]) != tuple(Xtr.shape[1:]):
            raise TrainingError(f"train features {tuple(Xtr.shape[1:])} and dev features "
                                f"{tuple(Xdv.shape[1:])} differ in shape")
        if ydv is None:
            raise TrainingError("dev data has no labels y")
        if len(Xdv) == 0:
            Xdv = ydv = None
    if Xdv is None:
        log.warning("no dev data: ReduceLROnPlateau watches the training loss instead of val_loss")
    check_finite(Xtr, "train")
    if Xdv is not None:
        check_finite(Xdv, "dev")

    out_name = Path(out_path).name if out_path is not None else ""
    name = out_name[: -len(".keras")] if out_name.endswith(".keras") else config.name(feature)
    seeds = set_seeds(config.seed, config.deterministic)
    batch = config.resolved_batch_size(mode)
    cw = balanced_class_weights(ytr) if config.class_weight else None

    def build():
        prev_policy = keras.config.dtype_policy()
        try:
            if config.bf16:
                keras.config.set_dtype_policy("mixed_bfloat16")
            model = build_model(tuple(Xtr.shape[1:]), config.pooling, config.pool_size, config.strides,
                                name=re.sub(r"[^A-Za-z0-9_.-]", "_", name))
        finally:
            keras.config.set_dtype_policy(prev_policy)
        return compile_model(model, config.learning_rate, config.jit_compile)

    model = build() if pool is None else pool.get(ModelPool.key(Xtr.shape[1:], config), build)

    train_ds = ArrayBatches(Xtr, ytr, batch, shuffle=True, seed=config.seed, class_weight=cw)
    dev_ds = ArrayBatches(Xdv, ydv, batch) if Xdv is not None else None
    monitor = _make_monitor()
    train_stop = keras.callbacks.EarlyStopping(monitor="loss", patience=config.early_stopping_patience)
    callbacks = [
        train_stop,
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss" if dev_ds is not None else "loss",
                                          factor=config.reduce_lr_factor, patience=config.reduce_lr_patience),
        keras.callbacks.TerminateOnNaN(),
        monitor,
    ]
    dev_stop = None
    if config.resolved_dev_patience and dev_ds is not None:
        dev_stop = keras.callbacks.EarlyStopping(monitor=DEV_MONITOR, mode="max",
                                                 patience=config.resolved_dev_patience, restore_best_weights=True,
                                                 start_from_epoch=config.resolved_min_epochs - 1)
        callbacks.insert(1, dev_stop)
    env = environment_info()
    log.info("training %s: %d train (%d real, %d fake), %s dev, input %s, batch %d, <= %d epochs, %s on %s",
             name, len(Xtr), counts[1], counts[0], len(Xdv) if Xdv is not None else 0, tuple(Xtr.shape[1:]),
             batch, config.max_epochs, env["backend"], env["device_name"] if env["device"] != "cpu" else "cpu")
    t0 = time.perf_counter()
    # shuffle=False: ArrayBatches reshuffles the rows every epoch with its own seeded generator;
    # Keras' own batch-order shuffle draws from Python's global `random`, whose state after
    # set_seeds depends on whether the model was just built or reused from a ModelPool.
    hist = model.fit(train_ds, validation_data=dev_ds, epochs=config.max_epochs, callbacks=callbacks,
                     verbose=config.verbose, shuffle=False)
    wall = time.perf_counter() - t0

    history = pd.DataFrame(hist.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    if monitor.lrs and len(monitor.lrs) == len(history):
        history["lr_end"] = monitor.lrs
    if len(monitor.epoch_train_s) == len(history):
        history["train_s"] = monitor.epoch_train_s
        history["epoch_s"] = monitor.epoch_total_s

    paths = sidecars(_resolve_out(out_path, name)) if out_path is not None else None
    if paths is not None:
        paths["model"].parent.mkdir(parents=True, exist_ok=True)
        history.to_csv(paths["history"], index=False)
    losses = np.asarray(hist.history.get("loss", []), dtype=float)
    if losses.size == 0 or not np.isfinite(losses).all() or (
            "val_loss" in hist.history and not np.isfinite(hist.history["val_loss"]).all()):
        raise TrainingError(f"{name}: the loss became NaN/inf at epoch {len(losses)}; no model saved "
                            "(check the features' scale, or lower the learning rate)")

    epochs_run = len(history)
    stop_reason, best_epoch = stopping_outcome(epochs_run, config.max_epochs, train_stop, dev_stop)
    decision = dev_decision(model, Xdv, ydv)
    steady = monitor.epoch_train_s[1:] or monitor.epoch_train_s
    record = {
        "name": name,
        "feature": feature,
        "mode": mode,
        "pooling": config.pooling,
        "input_shape": list(Xtr.shape[1:]),
        "feature_key": tr_info.get("key"),
        "overrides": tr_info.get("overrides", {}),
        "config": asdict(config),
        "batch_size": batch,
        "max_epochs": config.max_epochs,
        "epochs": epochs_run,
        "stopped_early": epochs_run < config.max_epochs,
        "stop_reason": stop_reason,
        "best_epoch": best_epoch,
        "dev_patience": config.resolved_dev_patience,
        "min_epochs": config.resolved_min_epochs if config.resolved_dev_patience else None,
        "n_train": int(len(Xtr)),
        "n_train_real": int(counts[1]),
        "n_train_fake": int(counts[0]),
        "n_dev": int(len(Xdv)) if Xdv is not None else 0,
        "class_weight": cw,
        "params": int(model.count_params()),
        "jit_compile": str(model.jit_compile),
        **seeds,
        **env,
        "wall_s": round(wall, 3),
        "samples_per_s": round(len(Xtr) * epochs_run / wall, 2) if wall > 0 else None,
        "train_samples_per_s": round(len(Xtr) / float(np.median(steady)), 2) if steady else None,
        "peak_rss_mb": round(max(monitor.peak_rss, _rss_mb()), 1),
        "process_peak_rss_mb": round(_peak_rss_mb(), 1),
        "final": {k: float(v[-1]) for k, v in hist.history.items()},
        "kept": {k: float(v[best_epoch - 1]) for k, v in hist.history.items()},
        **decision,
        "idsd_version": __version__,
        "keras": keras.__version__,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **(extra_record or {}),
    }
    if paths is not None:
        model.save(paths["model"])
        record["paths"] = {k: str(v) for k, v in paths.items()}
        write_record(paths["model"], record)
        log.info("saved %s (%d epochs, %.1f s, %.0f samples/s)", paths["model"], epochs_run, wall,
                 record["samples_per_s"] or 0)
    record["model"] = model
    record["history"] = history
    return record


def dev_decision(model, Xdv, ydv) -> dict:
    """The decision threshold a deployed detector uses: the EER threshold of the development split.

    Scored with the weights that are saved (after ``restore_best_weights``), with
    :func:`idsd.scoring.predict_scores`, so the record's threshold is the one notebook 04 derives
    from the dev score files.

    Returns
    -------
    dict
        ``threshold``, ``threshold_source``, ``dev_eer``, ``dev_auc`` (all None without dev data or
        with a one-class dev split).
    """
    from idsd import metrics
    from idsd.scoring import predict_scores

    none = {"threshold": None, "threshold_source": None, "dev_eer": None, "dev_auc": None}
    if Xdv is None or ydv is None or len(np.unique(ydv)) < 2:
        return none
    bona, spoof = metrics.split_by_target(predict_scores(model, Xdv), ydv)
    eer, thr = metrics.compute_eer(bona, spoof)
    return {"threshold": float(thr), "threshold_source": "dev EER", "dev_eer": float(eer),
            "dev_auc": float(metrics.roc_auc(bona, spoof))}


def stopping_outcome(epochs_run: int, max_epochs: int, train_stop, dev_stop) -> tuple[str, int]:
    """Why a run stopped and which epoch's weights it kept.

    Parameters
    ----------
    epochs_run, max_epochs : int
    train_stop, dev_stop : keras.callbacks.EarlyStopping or None
        The paper's training-loss rule and the dev-AUC plateau rule (None when off), after ``fit``.

    Returns
    -------
    reason : str
        A key of :data:`STOP_REASONS` (``train_loss``, ``dev_auc`` or ``cap``).
    kept_epoch : int
        1-based epoch whose weights the saved model holds: the best dev-AUC epoch (the first of
        ties, from the rule's first watched epoch on) whenever the dev rule watched an epoch
        (Keras' ``restore_best_weights`` restores them at the end of training, whatever stopped
        it), else the last epoch.
    """
    kept = (int(dev_stop.best_epoch) + 1 if dev_stop is not None and dev_stop.best_weights is not None
            else int(epochs_run))
    if dev_stop is not None and dev_stop.stopped_epoch > 0:
        return "dev_auc", kept
    if train_stop.stopped_epoch > 0:
        return "train_loss", kept
    return ("cap" if epochs_run >= max_epochs else "train_loss"), kept


# ------------------------------------------------------------------------------------------ grid
RUN_COLUMNS = ("train_corpus", "feature", "mode", "name", "seed", "epochs", "max_epochs", "stop_reason",
               "best_epoch", "kept_val_auc", "n_train", "n_dev",
               "loss", "accuracy", "val_loss", "val_accuracy", "wall_s", "samples_per_s",
               "train_samples_per_s", "peak_rss_mb", "backend", "device", "model_path")
"""Columns of :func:`runs_table`: ``kept_val_auc`` is the dev AUC of the epoch whose weights were kept,
``loss`` ... ``val_accuracy`` are the last epoch's."""


def run_fingerprint(rows: pd.DataFrame, feature_key: str, config: TrainConfig) -> str:
    """Hash of what determines a trained model: its data, features, protocol and the training code.

    Parameters
    ----------
    rows : DataFrame
        The manifest rows trained and monitored on (``path``, ``fragment``, ``split``, ``target``).
    feature_key : str
        :meth:`idsd.features.FeatureConfig.key` of the inputs.
    config : TrainConfig
        The resolved run config (feature and mode set).

    Returns
    -------
    str
        16 hex digits. It changes with any row, label, feature parameter, hyper-parameter, seed, the
        source of ``idsd.model`` / ``idsd.train`` or the Keras version, so a reused model is never stale.
    """
    import hashlib

    h = hashlib.sha256()
    cols = [c for c in ("path", "fragment", "split", "target") if c in rows.columns]
    h.update(rows[cols].to_csv(index=False).encode("utf-8", errors="surrogateescape"))  # any bytes in a name
    h.update(json.dumps({"feature_key": feature_key, "config": asdict(config), "keras": keras.__version__},
                        sort_keys=True, default=str).encode())
    for module in ("model.py", "train.py"):
        h.update((Path(__file__).with_name(module)).read_bytes())
    return h.hexdigest()[:16]


def _reusable_record(model_file: Path, fingerprint: str) -> dict | None:
    """The record of the model at ``model_file`` when both exist and the record matches ``fingerprint``."""
    path = record_path(model_file)
    if not path.is_file() or not model_file.is_file() or model_file.stat().st_size == 0:
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("fingerprint") == fingerprint else None


def train_grid(outputs, study, train_corpora=None, features=None, mode: str = "array",
               config: TrainConfig | None = None, progress: bool = True, retrain: bool = False,
               seeds: Sequence[int] | None = None, reuse_models: bool = True) -> pd.DataFrame:
    """Train one detector per (training corpus, feature) of a study.

    Parameters
    ----------
    outputs : idsd.paths.Outputs
        Models and their records go to :meth:`~idsd.paths.Outputs.model_file`
        (``models/<corpus>/<mode>/<run>.keras`` + ``.record.json``); the table of every grid run to
        :attr:`~idsd.paths.Outputs.runs_table`.
    study : idsd.study.Study
    train_corpora : list of str, optional
        Default: ``study.train_corpora``.
    features : list of str, optional
        Default: all seven (:data:`idsd.features.FEATURES`).
    mode : {"array", "image", "db"}
    config : TrainConfig, optional
        Profile, epochs, pooling, seed...; ``feature``/``mode`` are set per run.
    progress : bool
        A progress bar over the grid (Keras prints one line per epoch with ``verbose=2``).
    retrain : bool
        False (default): a run whose model and record exist with the same :func:`run_fingerprint`
        (same data, features, protocol, seed and training code) is reused, so an interrupted grid
        resumes with the first model it had not saved. True: train every run again.
    seeds : sequence of int, optional
        Train each cell once per seed (default: ``[config.seed]``). Runs of seed 0 keep the upstream
        name (``mel_avg_10``); other seeds are named ``mel_avg_10-seed<k>``.
    reuse_models : bool
        Runs with the same input shape and seed (one representation on every corpus) share one
        compiled model (:class:`ModelPool`, reset to its fresh-build state before each run), so the
        graph tracing is paid once per representation and seed instead of once per run.

    Returns
    -------
    DataFrame
        :func:`runs_table` of the grid's runs (trained now or reused).
    """
    from idsd.cache import corpus_features
    from idsd.features import FEATURES, FeatureConfig
    from idsd.progress import tqdm

    config = config or TrainConfig(profile="cpu")
    corpora = list(train_corpora) if train_corpora else list(study.train_corpora)
    unknown = sorted(set(corpora) - set(study.eval_corpora))
    if unknown:
        raise ValueError(f"corpora {unknown} are not in the study ({study.eval_corpora})")
    features = list(features) if features else list(FEATURES)
    records = []
    seeds = [int(s) for s in seeds] if seeds else [int(config.seed)]
    pool = ModelPool() if reuse_models else None
    bar = tqdm(total=len(corpora) * len(features) * len(seeds), desc="training grid", disable=not progress)
    for corpus in corpora:
        for feature in features:
            fs = corpus_features(outputs, study, corpus, FeatureConfig(feature, mode), progress=progress)
            fs = fs.subset(np.isin(fs.rows["split"].to_numpy(), ["train", "dev"]))
            records += _train_seeds(fs, corpus, feature, mode, config, seeds, outputs, retrain, bar, pool)
    bar.close()
    table = runs_table(records)
    write_csv(runs_table(load_run_records(outputs)), outputs.runs_table)
    return table


def _train_seeds(fs, corpus: str, feature: str, mode: str, config: TrainConfig, seeds: Sequence[int], outputs,
                 retrain: bool, bar, pool: ModelPool | None = None) -> list[dict]:
    """One grid cell: train (or reuse) one run per seed; returns their records."""
    records = []
    for seed in seeds:
        bar.set_postfix_str(f"{corpus} {feature} seed {seed}")
        cfg = replace(config, feature=feature, mode=mode, seed=seed)
        name = cfg.name(seed_suffix=True)
        path = outputs.model_file(corpus, mode, name)
        fingerprint = run_fingerprint(fs.rows, fs.config.key(), cfg)
        rec = None if retrain else _reusable_record(path, fingerprint)
        if rec is not None:
            log.info("%s/%s: reusing %s (same data, features, protocol and code; retrain=True "
                     "trains it again)", corpus, name, path)
        else:
            dev = fs.split("dev")
            rec = train_model(fs.split("train"), dev if len(dev.X) else None, cfg, path,
                              extra_record={"train_corpus": corpus, "fingerprint": fingerprint}, pool=pool)
            rec.pop("model")
            rec.pop("history")
            if pool is None:
                keras.backend.clear_session()
        records.append(rec)
        bar.update()
    return records


def load_run_records(outputs) -> list[dict]:
    """The record of every model of the training grid (:func:`idsd.artifact.records_under`)."""
    return records_under(outputs.models)


def runs_table(records) -> pd.DataFrame:
    """One row per run record with the :data:`RUN_COLUMNS` (final-epoch metrics)."""
    rows = []
    for r in records:
        fin = r.get("final", {})
        rows.append({"train_corpus": r.get("train_corpus"), "feature": r.get("feature"), "mode": r.get("mode"),
                     "name": r.get("name"), "seed": (r.get("config") or {}).get("seed"),
                     "epochs": r.get("epochs"), "max_epochs": r.get("max_epochs"),
                     "stop_reason": r.get("stop_reason"), "best_epoch": r.get("best_epoch"),
                     "kept_val_auc": (r.get("kept") or {}).get("val_auc"),
                     "n_train": r.get("n_train"), "n_dev": r.get("n_dev"), "loss": fin.get("loss"),
                     "accuracy": fin.get("accuracy"), "val_loss": fin.get("val_loss"),
                     "val_accuracy": fin.get("val_accuracy"), "wall_s": r.get("wall_s"),
                     "samples_per_s": r.get("samples_per_s"), "train_samples_per_s": r.get("train_samples_per_s"),
                     "peak_rss_mb": r.get("peak_rss_mb"), "backend": r.get("backend"),
                     "device": r.get("device_name") if r.get("device") not in (None, "cpu") else "cpu",
                     "model_path": (r.get("paths") or {}).get("model")})
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def read_histories(records) -> pd.DataFrame:
    """Long table of the per-epoch histories of ``records``: train_corpus, feature, name, epoch, metrics."""
    frames = []
    for r in records:
        path = (r.get("paths") or {}).get("history")
        if not path or not Path(path).is_file():
            continue
        h = pd.read_csv(path)
        h.insert(0, "name", r.get("name"))
        h.insert(0, "feature", r.get("feature"))
        h.insert(0, "train_corpus", r.get("train_corpus"))
        frames.append(h)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_learning_curves(histories: pd.DataFrame):
    """Loss and accuracy per epoch: one column per training corpus, one line per feature.

    Parameters
    ----------
    histories : DataFrame
        From :func:`read_histories` (training metrics solid, dev metrics dashed).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if histories.empty:
        raise ValueError("no training histories to plot")
    corpora = list(dict.fromkeys(histories["train_corpus"]))
    fig, axes = plt.subplots(2, len(corpora), figsize=(4.2 * len(corpora), 6.4), squeeze=False, sharex="col")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    feats = list(dict.fromkeys(histories["feature"]))
    for j, corpus in enumerate(corpora):
        sub = histories[histories["train_corpus"] == corpus]
        for i, metric in enumerate(("loss", "accuracy")):
            ax = axes[i, j]
            for feature, h in sub.groupby("feature", sort=False):
                c = colors[feats.index(feature) % len(colors)]
                ax.plot(h["epoch"], h[metric], color=c, label=f"{feature}")
                if f"val_{metric}" in h:
                    ax.plot(h["epoch"], h[f"val_{metric}"], color=c, linestyle="--")
            ax.set_title(f"{corpus}: {metric}" + (" (dev dashed)" if j == 0 else ""), fontsize=9)
            ax.grid(alpha=0.3)
            if i == 1:
                ax.set_xlabel("epoch")
                ax.set_ylim(0, 1.02)
    axes[0, 0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
