"""``idsd detect FILE_OR_DIR...``: is this speech real or fake?

Scores any audio file (any length, sample rate, channel count) with a trained detector and prints
one line per file: P(real) (probability that the speech is bona fide, higher = more genuine), its
min/max over the 2-s windows, and the decision at the model's development threshold. Output is a
table by default, or JSON / CSV. Exit status: 0 every file scored, 1 some could not be scored
(listed with the reason), 2 no usable model (the message says how to get one).

``--explain OUT.png`` (one FILE only) also draws why the file got its decision
(:mod:`idsd.detect_explain`): the model input, P(real) per window and an attribution map on one
time axis; a one-line summary goes to stderr so that --json/--csv stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from idsd.paths import OUTPUTS
from idsd.validate import positive_int

EXIT_OK, EXIT_SOME_FAILED, EXIT_NO_MODEL = 0, 1, 2


def register(subparsers, groups) -> None:
    """Add ``idsd detect`` to the command line."""
    p = subparsers.add_parser(
        "detect",
        help="score audio files: P(real) per file and per 2-s window, decision real/fake",
        description=(
            "Score any audio files (or folders of them) with a trained detector. Audio is decoded "
            "to 16 kHz mono and cut into 2-s windows (the last one zero-padded). Score = P(real): "
            "the probability that the speech is bona fide, 0..1, higher = more genuine. File score "
            "= mean of the window scores weighted by the audio in each window; min/max over "
            "windows are shown too. Decision: real if score > threshold (the development-set EER "
            "threshold stored with the model, else 0.5; the authors' .h5 models store none), otherwise fake. Entries of folders that "
            "are not scored on purpose (hidden, not an audio name, FIFO, broken symlink) are "
            "listed as skipped. Put -- before file names that start with '-' "
            "(idsd detect -- -x.wav). --explain OUT.png (one FILE, not a folder) also saves a "
            "figure of why the file got its decision: the model input (spectrogram as the model "
            "saw it), P(real) per window with the threshold, and an attribution map (occlusion of "
            "~32 frequency bands per window, or integrated gradients; at most 30 windows, evenly "
            "spaced) with the share of evidence below 1 kHz / 1-4 kHz / 4-8 kHz; array and db "
            "models only; a one-line summary goes to stderr. Exit status: 0 all files scored, "
            "1 some could not be scored (or explained), 2 no usable model or bad arguments."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="FILE_OR_DIR",
                   help="audio files (any format ffmpeg/libsndfile reads) or folders (walked recursively)")
    p.add_argument("--model", metavar="M",
                   help="a .keras model (or a folder of them: the newest is used), or an authors' "
                        "keras-tcn <feature>_<pooling>_<setting>.h5 (no record: threshold 0.5, mode "
                        "from its weights); default: the newest model in <outputs>/models/detect/")
    p.add_argument("--feature", metavar="F",
                   help="feature of a model without a model record (mel, stft, cqt, vqt, iirt, mfcc, "
                        "chroma); default: from the record, else from the model's file name")
    p.add_argument("--mode", metavar="MODE",
                   help="input mode of a model without a record (array, image, db); default array")
    p.add_argument("--threshold", type=float, metavar="T",
                   help="decision threshold on P(real) (default: the model's dev EER threshold, else 0.5)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON (detector, files with window scores, errors)")
    fmt.add_argument("--csv", action="store_true", help="print CSV (failures go to stderr)")
    p.add_argument("--windows", action="store_true",
                   help="table/CSV: one row per 2-s window instead of per file")
    p.add_argument("--outputs", default=str(OUTPUTS), metavar="DIR",
                   help="outputs directory holding models/detect/ (default: %(default)s)")
    p.add_argument("--device", choices=("cpu", "gpu", "auto"), default="cpu",
                   help="feature extraction device (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=64, metavar="N",
                   help="2-s windows per batch (default: %(default)s)")
    p.add_argument("--explain", metavar="OUT.png",
                   help="with exactly one FILE: also save a figure of why it got its decision (model "
                        "input, P(real) per window, attribution map of the evidence for fake) to OUT.png")
    p.add_argument("--explain-method", choices=("occlusion", "integrated_gradients"), default="occlusion",
                   help="attribution method of --explain (default: %(default)s: ~32 frequency bands "
                        "occluded per 2-s window, forward passes only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``idsd detect``; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from idsd.detect import Detector, DetectorConfigError, ModelNotFoundError, find_model

    if args.batch_size < 1:
        print("idsd detect: --batch-size must be >= 1", file=sys.stderr)
        return EXIT_NO_MODEL
    if args.threshold is not None and not math.isfinite(args.threshold):
        print("idsd detect: --threshold must be a finite number", file=sys.stderr)
        return EXIT_NO_MODEL
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        print(f"idsd detect: --threshold must be in [0, 1] (a P(real)), got {args.threshold:g}",
              file=sys.stderr)
        return EXIT_NO_MODEL
    explain = getattr(args, "explain", None)
    if explain is not None:
        problem = _explain_problem(args.paths, explain)
        if problem:
            print(f"idsd detect: {problem}", file=sys.stderr)
            return EXIT_NO_MODEL
    try:
        model_path = find_model(args.model, args.outputs)
        detector = Detector.load(model_path, feature=args.feature, mode=args.mode,
                                 threshold=args.threshold, batch_size=args.batch_size,
                                 device=args.device)
    except ModelNotFoundError as exc:
        print(f"idsd detect: {exc}", file=sys.stderr)
        return EXIT_NO_MODEL
    except DetectorConfigError as exc:
        print(f"idsd detect: cannot use the model: {exc}", file=sys.stderr)
        return EXIT_NO_MODEL
    if explain is not None:
        from idsd.detect_explain import check_explainable

        try:
            check_explainable(detector)
        except DetectorConfigError as exc:
            print(f"idsd detect: {exc}", file=sys.stderr)
            return EXIT_NO_MODEL

    results, errors = detector.detect_files(args.paths, progress=sys.stderr.isatty())
    info = detector.describe()
    if args.json:
        print(render_json(results, errors, info))
    elif args.csv:
        from idsd.errors import show_path

        print(render_csv(results, args.windows), end="")
        for row in errors.itertuples(index=False):
            print(f"idsd detect: not scored: {show_path(row.file)}: {row.reason}", file=sys.stderr)
        for item in results.attrs.get("skipped", []):
            print(f"idsd detect: skipped: {show_path(item['file'])}: {item['reason']}", file=sys.stderr)
    else:
        print(render_table(results, errors, info, args.windows))
    if explain is not None:
        return _explain(detector, args, errors)
    return EXIT_SOME_FAILED if len(errors) else EXIT_OK


def _explain_problem(paths, out_png) -> str | None:
    """Why ``--explain`` cannot run with these arguments (one line), checked before the model loads."""
    from idsd.detect_explain import check_output_png
    from idsd.errors import show_path

    if len(paths) != 1 or os.path.isdir(paths[0]):
        what = f"{len(paths)} paths" if len(paths) != 1 else f"a folder ({show_path(paths[0])})"
        return f"--explain needs exactly one audio FILE, not {what}"
    problem = check_output_png(out_png)
    return f"--explain {show_path(out_png)}: {problem}" if problem else None


def _explain(detector, args, errors) -> int:
    """Draw the explanation of the one FILE; the summary (or why not) goes to stderr."""
    from idsd.detect_explain import explain_file, summary_line
    from idsd.errors import AudioError, IDSDError, show_path

    if len(errors):  # the file was not scored: the reason is already in the report
        row = next(errors.itertuples(index=False))
        print(f"idsd detect: not explained: {show_path(row.file)}: {row.reason}", file=sys.stderr)
        return EXIT_SOME_FAILED
    try:
        info = explain_file(detector, args.paths[0], args.explain, method=args.explain_method)
    except AudioError as exc:
        print(f"idsd detect: not explained: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    except OSError as exc:
        why = f"cannot write the figure: {exc.strerror}" if exc.strerror else str(exc)
        print(f"idsd detect: --explain {show_path(args.explain)}: {why}" if exc.strerror
              else f"idsd detect: --explain {why}", file=sys.stderr)
        return EXIT_NO_MODEL
    except (IDSDError, ValueError) as exc:
        print(f"idsd detect: not explained: {show_path(args.paths[0])}: {exc}", file=sys.stderr)
        return EXIT_SOME_FAILED
    print(summary_line(info), file=sys.stderr)
    return EXIT_OK


def render_json(results, errors, info: dict) -> str:
    """The JSON report: ``{"detector": ..., "summary": ..., "files": [...], "errors": [...]}``."""
    files = []
    for row in results.to_dict(orient="records"):
        row["window_scores"] = [float(s) for s in row["window_scores"]]
        files.append({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    doc = {
        "detector": info,
        "summary": _summary(results, errors),
        "files": files,
        "errors": errors.to_dict(orient="records"),
        "skipped": list(results.attrs.get("skipped", [])),
    }
    return json.dumps(doc, indent=2, allow_nan=False)


def render_csv(results, per_window: bool = False) -> str:
    """CSV of the results (``window_scores`` as ``;``-separated values), or one row per window."""
    from idsd.detect import windows_frame

    if per_window:
        return windows_frame(results).to_csv(index=False, float_format="%.6f")
    out = results.copy()
    out["window_scores"] = [";".join(f"{s:.6f}" for s in ws) for ws in out["window_scores"]]
    return out.to_csv(index=False, float_format="%.6f")


def render_table(results, errors, info: dict, per_window: bool = False) -> str:
    """The human-readable report: what the score means, one line per file, then the failures."""
    from idsd.detect import windows_frame

    trained = []
    if info.get("train_corpus"):
        trained.append(f"trained on {info['train_corpus']}")
    if info.get("dev_eer") is not None:
        trained.append(f"dev EER {100 * info['dev_eer']:.2f}%")
    lines = [
        f"Model     {info['model']}  (feature {info['feature']}, mode {info['mode']}"
        + "".join(f", {t}" for t in trained) + ")",
        f"Score     {info['score']}",
        "          per file: mean of the 2-s window scores weighted by the audio in each window "
        "(last window zero-padded); min/max over windows",
        f"Decision  real if P(real) > {info['threshold']:.4g}, else fake  [{info['threshold_source']}]",
        "",
    ]
    if per_window:
        table = windows_frame(results)
        if len(table):
            from idsd.errors import show_path

            table["file"] = table["file"].map(show_path)
            table = table.rename(columns={"score": "P(real)", "audio_s": "audio s", "start_s": "start s"})
            lines.append(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    elif len(results):
        from idsd.errors import show_path

        table = results[["file", "duration_s", "windows", "score", "score_min", "score_max", "decision"]].copy()
        table["file"] = table["file"].map(show_path)
        table = table.rename(columns={"duration_s": "seconds", "score": "P(real)", "score_min": "min",
                                      "score_max": "max"})
        lines.append(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    s = _summary(results, errors)
    lines.append("")
    lines.append(f"{s['scored']} file(s) scored: {s['real']} real, {s['fake']} fake; "
                 f"{s['failed']} not scored")
    from idsd.errors import show_path

    if len(errors):
        lines.append("Not scored:")
        lines.extend(f"  {show_path(row.file)}: {row.reason}" for row in errors.itertuples(index=False))
    skipped = results.attrs.get("skipped", [])
    if skipped:
        lines.append(f"Skipped in folders ({len(skipped)}):")
        lines.extend(f"  {show_path(item['file'])}: {item['reason']}" for item in skipped)
    lines.append("Note: a detector only knows the kinds of fakes in its training data; scores on "
                 "audio unlike it are indicative only.")
    return "\n".join(lines)


def _summary(results, errors) -> dict:
    decisions = results["decision"].value_counts() if len(results) else {}
    return {"scored": int(len(results)), "failed": int(len(errors)),
            "real": int(decisions.get("real", 0)), "fake": int(decisions.get("fake", 0))}
