"""``idsd train -i DATASET -n RUN_NAME``: train one detector (upstream ``train_generator.py``).

DATASET is a corpus folder in a supported layout (read with
:func:`idsd.datasets.build_manifest`) or a manifest CSV. Features come from the feature cache
(``<outputs>/cache/features/<config key>``); the ``train`` split trains and ``dev`` monitors. The model and
its history / run record are written to ``<outputs>/models/<dataset>/<mode>/<RUN_NAME>.keras``
unless ``--models`` says otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from idsd.validate import positive_int

log = logging.getLogger(__name__)


def register(subparsers, groups) -> None:
    p = subparsers.add_parser(
        "train", help="train the three-tower TCN on a corpus (paper protocol or a capped profile)",
        description="Train one detector on the train split of DATASET, monitoring its dev split "
                    "(upstream: spectrogram-generator/train_generator.py).")
    p.add_argument("-i", "--input", required=True, metavar="DATASET",
                   help="corpus folder (any supported layout) or manifest CSV")
    p.add_argument("-n", "--name", default=None, metavar="RUN_NAME",
                   help="model name (default <feature>_<pooling>_<pool size>, e.g. mel_avg_10)")
    add_feature_args(p)
    p.add_argument("--pooling", default="avg", choices=("avg", "max"))
    p.add_argument("--pool-size", type=positive_int, default=None, help="override the pooling preset's pool size")
    p.add_argument("--strides", type=positive_int, default=None, help="override the pooling preset's strides")
    p.add_argument("--profile", default="paper", choices=("paper", "cpu", "quick"),
                   help="paper = up to 500 epochs; cpu = capped for CPUs; quick = 2 epochs")
    p.add_argument("--epochs", type=positive_int, default=None, help="maximum epochs (default: the profile's)")
    p.add_argument("--batch", type=positive_int, default=None, help="batch size (default 128 array, 32 image)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed_bfloat16 precision (default: the profile's; cpu: on, paper/quick: off)")
    p.add_argument("--deterministic", action="store_true", help="TensorFlow op determinism")
    p.add_argument("--outputs", default=None, help="outputs directory (default: the workbook's outputs/)")
    p.add_argument("--models", default=None, help="folder for the model (default <outputs>/models/<dataset>/<mode>)")
    p.set_defaults(func=run)


def add_feature_args(p) -> None:
    """``--feature`` and ``--mode`` options shared by train and eval."""
    from idsd.features import FEATURES

    p.add_argument("--feature", default="mel", choices=FEATURES,
                   help="time-frequency representation (default mel)")
    p.add_argument("--mode", default=None, choices=("array", "image", "db"),
                   help="input mode (train default: array; eval default: the model's)")


def read_dataset(arg: str):
    """Manifest DataFrame of DATASET (a manifest CSV or a corpus folder) and its name.

    Returns
    -------
    manifest : DataFrame
        One row per 2-s fragment (docs/architecture.md schema).
    name : str
        The ``dataset`` column's value(s), ``+``-joined.
    """
    from idsd.errors import InputError, MissingInputError
    from idsd.paths import resolve
    from idsd.validate import read_manifest

    path = resolve(arg)
    if path.is_dir():
        from idsd.datasets import build_manifest

        manifest, rejected = build_manifest(path, layout="auto")
        if len(rejected):
            log.warning("%d files of %s skipped (first: %s)", len(rejected), path,
                        "; ".join(f"{r.file}: {r.reason}" for r in rejected.head(3).itertuples()))
    elif os.path.lexists(path):
        manifest = read_manifest(path, required=("path", "fragment", "split", "target"))
    else:
        raise MissingInputError(path, "no such corpus folder or manifest CSV")
    if not len(manifest):
        raise InputError(path, "no usable 2-s fragments")
    names = sorted(set(manifest["dataset"].astype(str))) if "dataset" in manifest else [path.stem]
    return manifest, "+".join(names)


def load_split(manifest, feature: str, mode: str, splits, out):
    """Feature set of the manifest rows in ``splits`` from the feature cache under ``<outputs>/cache``."""
    from idsd.cache import load_feature_set
    from idsd.features import FeatureConfig

    rows = manifest[manifest["split"].isin(list(splits))].reset_index(drop=True)
    if not len(rows):
        raise ValueError(f"the dataset has no fragments in split(s) {', '.join(splits)} "
                         f"(splits present: {', '.join(sorted(set(manifest['split'])))})")
    return load_feature_set(rows, FeatureConfig(feature, mode), out.cache)


def run(args) -> int:
    from idsd.paths import Outputs, resolve
    from idsd.train import TrainConfig, TrainingError, train_model

    out = Outputs(args.outputs).make() if args.outputs else Outputs().make()
    mode = args.mode or "array"
    try:
        manifest, dataset = read_dataset(args.input)
        fs = load_split(manifest, args.feature, mode, ("train", "dev"), out)
        train, dev = fs.split("train"), fs.split("dev")
        config = TrainConfig.from_profile(args.profile, epochs=args.epochs, batch_size=args.batch,
                                          feature=args.feature, mode=mode, pooling=args.pooling,
                                          pool_size=args.pool_size, strides=args.strides, seed=args.seed,
                                          bf16=args.bf16, deterministic=args.deterministic)
        name = args.name or config.name()
        models = resolve(args.models) if args.models else out.models / dataset / mode
        record = train_model(train, dev if len(dev.X) else None, config, Path(models) / f"{name}.keras",
                             extra_record={"train_corpus": dataset, "dataset_arg": os.fspath(args.input)})
    except (TrainingError, ValueError, FileNotFoundError) as exc:
        print(f"idsd train: {exc}", file=sys.stderr)
        return 2
    fin = record["final"]
    print(f"{name}: {record['epochs']} epochs in {record['wall_s']:.0f} s ({record['samples_per_s']:.0f} samples/s), "
          f"loss {fin.get('loss', float('nan')):.4f} acc {fin.get('accuracy', float('nan')):.3f}"
          + (f", val_loss {fin['val_loss']:.4f} val_acc {fin['val_accuracy']:.3f}" if "val_loss" in fin else ""))
    print(f"model -> {record['paths']['model']}")
    return 0
