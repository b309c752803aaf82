"""``idsd eval -i DATASET -m SUFFIX``: score every feature's model on a corpus (upstream ``eval_model.py``).

Upstream usage ``eval_model.py -i ... -m _max_10``: for every feature whose model
``<feature><SUFFIX>.keras`` (or the authors' keras-tcn ``<feature><SUFFIX>.h5``,
:func:`idsd.upstream.load_upstream`) exists, score the evaluation split and write one score file per class
(``genuine`` = real, ``spoof`` = fake; one ``%1.4f`` score P(real) per line), counts genuine /
deepfake accepts and rejects at 0.5, and compute the EER (:func:`idsd.metrics.compute_eer`).

Models are looked up anywhere under ``--models`` (default ``<outputs>/models``) with the package's
one finder (:func:`idsd.artifact.find_models`); several matches are an error. An ``.h5`` has no
record: its mode comes from ``--mode``, else from its weights (``image`` for the 640x480 models of
the upstream main branch, else ``array``), its training corpus is ``upstream``, and the counts use
``--threshold`` (0.5, as upstream). Scoring is the
notebooks' path (:func:`idsd.scoring.score_feature_set`), and the score file has the study's schema
and place (:meth:`idsd.paths.Outputs.score_file`:
``<outputs>/scores/<train corpus>/<eval corpus>/<mode>/<run>.csv``), so notebooks and reports read
it like any other. With ``--scores DIR`` the score file goes flat into ``DIR`` together with the
upstream per-class lists ``<run>-{genuine,spoof}.txt``. The summary goes to
``<outputs>/metrics/eval_result_<eval corpus><SUFFIX>.{txt,csv}`` (or into ``--scores``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

from idsd.validate import positive_int, probability

log = logging.getLogger(__name__)


def register(subparsers, groups) -> None:
    p = subparsers.add_parser(
        "eval", help="score each feature's model <feature><SUFFIX>.keras (or .h5) on a corpus's eval split",
        description="Upstream eval_model.py: per-class score files, accept/reject counts at 0.5, EER.")
    p.add_argument("-i", "--input", required=True, metavar="DATASET",
                   help="corpus folder (any supported layout) or manifest CSV")
    p.add_argument("-m", "--suffix", required=True, metavar="SUFFIX",
                   help="model name suffix after the feature, e.g. _avg_10 or _max_2")
    p.add_argument("--features", default=None,
                   help="comma-separated features to try (default: all seven)")
    p.add_argument("--mode", default=None, choices=("array", "image", "db"),
                   help="input mode when a model has no run record (default array)")
    p.add_argument("--split", default="eval", choices=("train", "dev", "eval"), help="split to score (default eval)")
    p.add_argument("--threshold", type=probability, default=0.5,
                   help="accept as real when score > threshold (a number in [0, 1])")
    p.add_argument("--batch", type=positive_int, default=256)
    p.add_argument("--outputs", default=None, help="outputs directory (default: the workbook's outputs/)")
    p.add_argument("--models", default=None,
                   help="models folder, searched recursively for <feature><SUFFIX>.keras and the authors' "
                        "keras-tcn <feature><SUFFIX>.h5 (default <outputs>/models)")
    p.add_argument("--scores", default=None, help="write score files and the summary flat into this folder")
    p.set_defaults(func=run)


def evaluate_model(model_path: Path, manifest, feature: str, mode_arg: str | None, split: str, out,
                   batch: int = 256) -> dict:
    """Score the ``split`` rows of ``manifest`` with one model (:func:`idsd.scoring.score_feature_set`).

    Returns
    -------
    dict
        ``frame`` (the score rows, :data:`idsd.scores.SCORE_COLUMNS`), ``genuine`` (n_real,) and
        ``spoof`` (n_fake,) score arrays, ``mode``, ``train_corpus``, ``n_rejected`` (files the
        feature cache skipped).
    """
    from idsd.artifact import read_record
    from idsd.commands.train import load_split
    from idsd.errors import TrainingError
    from idsd.scoring import score_feature_set
    from idsd.upstream import is_upstream, upstream_info

    record = read_record(model_path) or {}
    upstream = is_upstream(model_path)
    if upstream and not mode_arg:  # no record: the weights tell the 640x480 image models from the arrays
        mode_arg = upstream_info(model_path, feature=feature).mode
    mode = record.get("mode") or mode_arg or "array"
    if mode_arg and record.get("mode") and mode_arg != record["mode"]:
        raise TrainingError(f"{model_path.name} was trained in mode {record['mode']!r}, not {mode_arg!r}")
    if record.get("feature") and record["feature"] != feature:
        raise TrainingError(f"{model_path.name} was trained on feature {record['feature']!r}, "
                            f"not {feature!r} (its file name says otherwise)")
    fs = load_split(manifest, feature, mode, (split,), out)
    frame = score_feature_set(model_path, fs, batch_size=batch)
    scores, y = frame["score"].to_numpy(), frame["target"].to_numpy()
    train_corpus = record.get("train_corpus") or ("upstream" if upstream else None)
    if not train_corpus:
        parts = model_path.parts
        train_corpus = parts[-3] if len(parts) >= 3 and parts[-2] == mode else "unknown"
    return {"frame": frame, "genuine": scores[y == 1], "spoof": scores[y == 0], "mode": mode,
            "train_corpus": train_corpus, "n_rejected": len(fs.rejected)}


def write_upstream_scores(scores: np.ndarray, path: Path) -> Path:
    """One ``%1.4f`` score per line (upstream ``eval_model.py`` format)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.asarray(scores, dtype=np.float64).reshape(-1), fmt="%1.4f")
    return path


def run(args) -> int:
    import pandas as pd

    from idsd.artifact import find_models
    from idsd.commands.train import read_dataset
    from idsd.errors import TrainingError
    from idsd.features import FEATURES
    from idsd.metrics import compute_eer, counts_at
    from idsd.paths import Outputs, resolve
    from idsd.scores import write_scores

    out = Outputs(args.outputs).make() if args.outputs else Outputs().make()
    models = resolve(args.models) if args.models else out.models
    features = [f.strip() for f in args.features.split(",")] if args.features else list(FEATURES)
    unknown = sorted(set(features) - set(FEATURES))
    if unknown:
        print(f"idsd eval: unknown feature(s) {', '.join(unknown)}; known: {', '.join(FEATURES)}", file=sys.stderr)
        return 2
    try:
        manifest, dataset = read_dataset(args.input)
    except (ValueError, FileNotFoundError) as exc:
        print(f"idsd eval: {exc}", file=sys.stderr)
        return 2
    flat = resolve(args.scores) if args.scores else None
    rows, lines = [], []
    for feature in features:
        run_name = f"{feature}{args.suffix}"
        found = find_models(models, run=run_name, layout="any")
        if len(found) > 1:
            print(f"idsd eval: {len(found)} models named {run_name}(.keras|.h5) under {models} "
                  f"({', '.join(str(Path(p).parent.relative_to(models)) for p in found['path'])}): pass --models",
                  file=sys.stderr)
            return 2
        if found.empty:
            continue
        path = Path(found["path"].iloc[0])
        try:
            res = evaluate_model(path, manifest, feature, args.mode, args.split, out, args.batch)
        except (TrainingError, ValueError, FileNotFoundError) as exc:
            print(f"idsd eval: {run_name}: {exc}", file=sys.stderr)
            return 2
        # the study's score-file schema and place; --scores also exports the upstream per-class lists
        if flat:
            spath = write_scores(res["frame"], flat / f"{run_name}.csv")
            write_upstream_scores(res["genuine"], flat / f"{run_name}-genuine.txt")
            write_upstream_scores(res["spoof"], flat / f"{run_name}-spoof.txt")
        else:
            spath = write_scores(res["frame"], out.score_file(res["train_corpus"], dataset, res["mode"], run_name))
        gen, spf = res["genuine"], res["spoof"]
        row = {"model": run_name, "feature": feature, "mode": res["mode"], "train_corpus": res["train_corpus"],
               "eval_corpus": dataset, "split": args.split, "n_genuine": len(gen), "n_spoof": len(spf)}
        if len(gen) and len(spf):
            row.update(counts_at(gen, spf, args.threshold).as_dict())
            row["eer"], row["eer_threshold"] = compute_eer(gen, spf)
        else:
            log.warning("%s: only one class in split %s, no EER", run_name, args.split)
            row.update(threshold=args.threshold, genuine_accept=int((gen > args.threshold).sum()),
                       genuine_reject=int((gen <= args.threshold).sum()),
                       deepfake_reject=int((spf <= args.threshold).sum()),
                       deepfake_accept=int((spf > args.threshold).sum()), eer=float("nan"))
        row.update(scores=str(spath))
        rows.append(row)
        lines += [f"{run_name} ({res['mode']}, trained on {res['train_corpus']}) on {dataset}/{args.split}:",
                  f"  genuine accept: {row['genuine_accept']}  genuine reject: {row['genuine_reject']}",
                  f"  deepfake reject: {row['deepfake_reject']}  deepfake accept: {row['deepfake_accept']}",
                  f"  EER: {100 * row['eer']:.2f} %" if np.isfinite(row["eer"]) else "  EER: n/a (one class)",
                  f"  scores: {spath}"]
    if not rows:
        print(f"idsd eval: no model <feature>{args.suffix}.keras or .h5 under {models} "
              f"(features tried: {', '.join(features)})", file=sys.stderr)
        return 1
    summary = pd.DataFrame(rows)
    base = (flat / f"eval_result{args.suffix}") if flat else out.metrics / f"eval_result_{dataset}{args.suffix}"
    base.parent.mkdir(parents=True, exist_ok=True)
    summary.to_csv(base.with_name(base.name + ".csv"), index=False)
    base.with_name(base.name + ".txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"summary -> {base.with_name(base.name + '.csv')}")
    return 0
