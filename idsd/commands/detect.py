"""``idsd detect FILE_OR_DIR...``: is this speech real or fake?

Scores any audio file (any length, sample rate, channel count) with a trained detector and prints
one line per file: P(real) (probability that the speech is bona fide, higher = more genuine), its
min/max over the 2-s windows, and the decision at the model's development threshold. Windows the
detector cannot judge (silent, clipped, out-of-range samples: :func:`idsd.detect.window_flags`)
are flagged with the reason and left out; a file without a judged window is ``undetermined``.
Files are streamed (bounded memory, whatever their length). Output is a table by default, or
JSON / CSV; with several files or a folder, JSON/CSV runs also print the summary line on stderr.
Exit status: 0 every file scored, 1 some could not be scored (listed with the reason), 2 no
usable model (the message says how to get one).

The backend's start-up lines (TensorFlow's oneDNN / CPU-feature / CUDA messages, absl) are kept
off the terminal (:func:`quiet_backend_import`); ``idsd -v detect ...`` shows them.

``--explain OUT.png`` (one FILE only) also draws why the file got its decision
(:mod:`idsd.detect_explain`): the model input, P(real) per window and an attribution map on one
time axis; a one-line summary goes to stderr so that --json/--csv stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys

from idsd.paths import OUTPUTS
from idsd.validate import positive_int

EXIT_OK, EXIT_SOME_FAILED, EXIT_NO_MODEL = 0, 1, 2


def quiet_backend_import() -> None:
    """Import Keras and its backend without their start-up lines on the terminal.

    TensorFlow prints oneDNN, CPU-feature and CUDA lines from C++ while it is imported, some before
    it reads ``TF_CPP_MIN_LOG_LEVEL`` (absl's "All log messages before absl::InitializeLog()"), so
    setting the variable is not enough: file descriptor 2 goes to a temporary file for the import,
    and what was written there is dropped, or shown when the import fails. Later C++ messages obey
    ``TF_CPP_MIN_LOG_LEVEL=3`` (set unless the user set it); absl and the Python loggers of
    TensorFlow and JAX are set to errors only. With DEBUG logging (``idsd -v``) nothing is hidden.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    hide = "keras" not in sys.modules and not logging.getLogger().isEnabledFor(logging.DEBUG)
    saved = None
    if hide:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable fd 2: nothing to protect
            saved = None
    if saved is None:
        import keras  # noqa: F401
    else:
        import tempfile

        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            failed = False
            try:
                import keras  # noqa: F401
            except BaseException:
                failed = True
                raise
            finally:
                try:
                    sys.stderr.flush()
                except (OSError, ValueError):
                    pass
                os.dup2(saved, 2)
                os.close(saved)
                if failed:  # the lines may say why
                    tmp.seek(0)
                    sys.stderr.write(tmp.read().decode(errors="replace"))
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass
    for name in ("tensorflow", "jax._src.xla_bridge", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


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
            "threshold stored with the model, else 0.5; the authors' .h5 models store none), otherwise fake. Windows "
            "the detector cannot judge are flagged and left out of the file score: silent (RMS below "
            "-60 dBFS), clipped (at least 1 % of samples at full scale: |x| of 0.999 or more), "
            "out_of_range (a sample beyond "
            "+-2: float audio that is not normalised); a file with no judged window is undetermined. "
            "Files are decoded and scored as a stream (memory does not grow with their length). "
            "Entries of folders that "
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
    quiet_backend_import()  # idsd.detect imports Keras (idsd.artifact -> idsd.model)
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
    several = len(args.paths) > 1 or any(os.path.isdir(p) for p in args.paths)
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
    if several and (args.json or args.csv):  # the table ends with it already
        print(f"idsd detect: {summary_line(results, errors)}", file=sys.stderr)
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


def _file_rows(results) -> list[dict]:
    """Result rows as plain Python values: NaN -> None, missing flag columns filled in."""
    rows = []
    for row in results.to_dict(orient="records"):
        scores = [None if s is None or s != s else float(s) for s in row.get("window_scores") or []]
        flags = row.get("window_flags")
        flags = [str(f) for f in flags] if isinstance(flags, list | tuple) and len(flags) == len(scores) \
            else ["" if s is not None else "unscored" for s in scores]
        judged = row.get("judged_windows")
        out = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        out.update(window_scores=scores, window_flags=flags,
                   judged_windows=int(judged) if judged == judged and judged is not None
                   else sum(s is not None for s in scores),
                   flagged=row.get("flagged") if isinstance(row.get("flagged"), str) else "")
        for key in ("score", "score_min", "score_max"):
            v = out.get(key)
            out[key] = None if v is None or v != v else float(v)
        rows.append(out)
    return rows


def render_json(results, errors, info: dict) -> str:
    """The JSON report: ``{"detector": ..., "summary": ..., "files": [...], "errors": [...]}``.

    A file's ``score``, ``score_min``, ``score_max`` are ``null`` when no window was judged
    (``decision`` ``"undetermined"``); a flagged window's entry of ``window_scores`` is ``null``
    and its ``window_flags`` entry names the reasons.
    """
    doc = {
        "detector": info,
        "summary": _summary(results, errors),
        "files": _file_rows(results),
        "errors": errors.to_dict(orient="records"),
        "skipped": list(results.attrs.get("skipped", [])),
    }
    return json.dumps(doc, indent=2, allow_nan=False)


def render_csv(results, per_window: bool = False) -> str:
    """CSV of the results, or one row per window.

    ``window_scores`` and ``window_flags`` are ``;``-separated lists (an empty score for a flagged
    window; ``window_flags`` is empty when every window is judged); an undetermined file has an
    empty ``score``.
    """
    import pandas as pd

    from idsd.detect import RESULT_COLUMNS, windows_frame

    if per_window:
        return windows_frame(results).to_csv(index=False, float_format="%.6f")
    rows = _file_rows(results)
    for row in rows:
        row["window_scores"] = ";".join("" if v is None else f"{v:.6f}" for v in row["window_scores"])
        row["window_flags"] = ";".join(row["window_flags"]) if any(row["window_flags"]) else ""
    cols = list(results.columns) + [c for c in RESULT_COLUMNS if c not in results.columns]
    out = pd.DataFrame(rows, columns=cols)
    out["judged_windows"] = out["judged_windows"].astype("Int64")
    return out.to_csv(index=False, float_format="%.6f")


def render_table(results, errors, info: dict, per_window: bool = False) -> str:
    """The human-readable report: what the score means, one line per file, then the failures."""
    import pandas as pd

    from idsd.detect import FLAG_RULES, windows_frame
    from idsd.errors import show_path

    trained = []
    if info.get("train_corpus"):
        trained.append(f"trained on {info['train_corpus']}")
    if info.get("dev_eer") is not None:
        trained.append(f"dev EER {100 * info['dev_eer']:.2f}%")
    rules = info.get("flag_rules") or FLAG_RULES
    lines = [
        f"Model     {info['model']}  (feature {info['feature']}, mode {info['mode']}"
        + "".join(f", {t}" for t in trained) + ")",
        f"Score     {info['score']}",
        "          per file: mean of the judged 2-s window scores weighted by the audio in each window "
        "(last window zero-padded); min/max over judged windows",
        f"Decision  real if P(real) > {info['threshold']:.4g}, else fake  [{info['threshold_source']}]; "
        "undetermined when no window can be judged",
        "Flags     windows not judged: " + "; ".join(f"{k} = {v}" for k, v in rules.items()),
        "",
    ]
    fmt = lambda v: f"{v:.3f}"  # noqa: E731
    if per_window:
        table = windows_frame(results)
        if len(table):
            table["file"] = table["file"].map(show_path)
            table = table.rename(columns={"score": "P(real)", "audio_s": "audio s", "start_s": "start s"})
            lines.append(table.to_string(index=False, float_format=fmt, na_rep="-"))
    elif len(results):
        rows = pd.DataFrame(_file_rows(results))
        flagged = bool((rows["flagged"] != "").any())
        cols = ["file", "duration_s", "windows"] + (["judged_windows"] if flagged else []) + \
            ["score", "score_min", "score_max", "decision"] + (["flagged"] if flagged else [])
        table = rows[cols].copy()
        for c in ("score", "score_min", "score_max"):
            table[c] = table[c].astype(float)
        table["file"] = table["file"].map(show_path)
        table = table.rename(columns={"duration_s": "seconds", "score": "P(real)", "score_min": "min",
                                      "score_max": "max", "judged_windows": "judged"})
        lines.append(table.to_string(index=False, float_format=fmt, na_rep="-"))
    lines.append("")
    lines.append(summary_line(results, errors))

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


def summary_line(results, errors) -> str:
    """``"3 file(s) scored: 1 real, 1 fake, 1 undetermined; 2 not scored"`` (+ windows not judged)."""
    from idsd.detect import flag_summary

    s = _summary(results, errors)
    line = (f"{s['scored']} file(s) scored: {s['real']} real, {s['fake']} fake, {s['undetermined']} "
            f"undetermined; {s['failed']} not scored")
    flags = [f for row in _file_rows(results) for f in row["window_flags"]]
    n_flagged = sum(bool(f) for f in flags)
    if n_flagged:
        line += f"; {n_flagged} window(s) not judged ({flag_summary(flags).replace(':', ' ').replace(';', ', ')})"
    return line


def _summary(results, errors) -> dict:
    decisions = results["decision"].value_counts() if len(results) else {}
    return {"scored": int(len(results)), "failed": int(len(errors)),
            "real": int(decisions.get("real", 0)), "fake": int(decisions.get("fake", 0)),
            "undetermined": int(decisions.get("undetermined", 0))}
