"""``idsd manifest ROOT --layout L --out manifest.csv``: read a corpus into a fragment manifest."""

from __future__ import annotations

import os


def register(subparsers, groups) -> None:
    from idsd.datasets import LAYOUTS

    p = subparsers.add_parser(
        "manifest", help="read a corpus in its published layout into a 2-s fragment manifest",
        description="Write one row per 2-s fragment (docs/architecture.md schema) and, next to it, "
                    "rejected.csv listing every skipped file with its reason.")
    p.add_argument("root", help="corpus folder (e.g. for-2seconds/, LA/, the WaveFake root)")
    p.add_argument("--layout", choices=("auto",) + LAYOUTS, default="auto")
    p.add_argument("--out", required=True, help="manifest CSV to write")
    p.add_argument("--rejected", help="rejected CSV (default: rejected.csv next to --out)")
    p.add_argument("--dataset", help="value of the dataset column (default: canonical corpus name)")
    p.add_argument("--pad", action="store_true", help="zero-pad short files / last windows (upstream drops)")
    p.add_argument("--no-verify", action="store_true", help="trust headers instead of decoding every file")
    p.add_argument("--unsplit", default="eval", help="folder layout without split folders: train/dev/eval/hash")
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(func=run)


def run(args) -> int:
    from idsd.datasets import build_manifest, summarize, write_manifest

    options = {"unsplit": args.unsplit} if args.layout == "folder" else {}
    try:
        manifest, rejected = build_manifest(args.root, layout=args.layout, dataset=args.dataset, pad=args.pad,
                                            verify=not args.no_verify, workers=args.workers, **options)
    except (FileNotFoundError, ValueError) as exc:
        print(f"idsd manifest: {exc}")
        return 2
    rpath = args.rejected or os.path.join(os.path.dirname(os.path.abspath(args.out)), "rejected.csv")
    paths = write_manifest(manifest, rejected, args.out, rpath)
    if len(manifest):
        print(summarize(manifest).to_string(index=False))
    print(f"{len(manifest)} fragments -> {paths['manifest']}; {len(rejected)} files skipped -> {paths['rejected']}")
    return 0 if len(manifest) else 1
