"""``idsd bench detect``: ms per 2-s window and peak RSS of ``idsd detect`` vs the upstream loop, one run."""

from __future__ import annotations

import json
import sys

from idsd.paths import OUTPUTS
from idsd.validate import positive_int


def register(subparsers, groups) -> None:
    from idsd.features import FEATURES

    p = groups["bench"].add_parser(
        "detect", help="warm ms per 2-s window and peak RSS of idsd detect vs the upstream one-clip loop",
        description="Generates a long speech-like WAV, then scores it in two fresh processes: ours "
                    "(idsd detect: streamed decoding, batched features and predictions) and upstream "
                    "(the authors' eval_model.py loop: load the whole file, one model.predict per 2-s "
                    "clip). Each is timed after a warm-up; one line per path with ms/window and the "
                    "process's peak RSS, then the ratio. Model: --model, else the installed default "
                    "detector (<outputs>/models/detect/), else an untrained detector of --feature built "
                    "for timing (the output says which).")
    p.add_argument("--model", metavar="M", default=None, help="a .keras model or a folder of them")
    p.add_argument("--outputs", default=str(OUTPUTS), metavar="DIR",
                   help="outputs directory holding models/detect/ (default: %(default)s)")
    p.add_argument("--feature", default="mel", choices=FEATURES,
                   help="feature of the untrained detector built when no model is installed (default mel)")
    p.add_argument("--seconds", type=float, default=600.0, help="length of the generated file (default 600)")
    p.add_argument("--rate", type=positive_int, default=16000,
                   help="its sample rate (default 16000: no resampling)")
    p.add_argument("--batch-size", type=positive_int, default=64, metavar="N", help="windows per batch (ours)")
    p.add_argument("--paths", nargs="+", default=["ours", "upstream"], choices=("ours", "upstream"))
    p.add_argument("--device", choices=("cpu", "auto"), default="cpu",
                   help="cpu (default) hides accelerators from the measured processes")
    p.add_argument("--folder", default=None, help="keep the generated file (and a built model) here")
    p.add_argument("--json", dest="json_path", default=None, help="also write the result to this JSON file")
    p.set_defaults(func=run)


def run(args) -> int:
    from idsd.commands.detect import quiet_backend_import

    if not args.seconds > 0:
        print("idsd bench detect: --seconds must be > 0", file=sys.stderr)
        return 2
    quiet_backend_import()  # an untrained model may be built here
    from idsd.bench.detect import bench_detect, format_lines
    from idsd.paths import resolve

    res = bench_detect(args.model, args.outputs, args.feature, args.seconds, args.rate, args.batch_size,
                       args.paths, args.device, args.folder)
    for line in format_lines(res):
        print(line)
    if args.json_path:
        path = resolve(args.json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=2))
    return 0
