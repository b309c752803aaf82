"""``idsd manifest ROOT --layout L --out manifest.csv``: read a corpus into a fragment manifest.

Everything is checked before any decoding (ROOT a folder, ``--out`` a writable file name, the
layout and options). Every file decoded is recorded at once in a checkpoint beside ``--out``
(``.<name>.partial.csv``): a run that is killed or fails resumes there, decoding only the files
not yet done. The manifest and ``rejected.csv`` are written atomically (temporary file, then
rename), and the checkpoint is removed once both are in place.
"""

from __future__ import annotations

import os

from idsd.validate import positive_int


def register(subparsers, groups) -> None:
    from idsd.datasets import LAYOUTS

    p = subparsers.add_parser(
        "manifest", help="read a corpus in its published layout into a 2-s fragment manifest",
        description="Write one row per 2-s fragment (docs/architecture.md schema) and, next to it, "
                    "rejected.csv listing every skipped file with its reason. Resumable: rerun the "
                    "same command after an interruption.")
    p.add_argument("root", help="corpus folder (e.g. for-2seconds/, LA/, the WaveFake root)")
    p.add_argument("--layout", choices=("auto",) + LAYOUTS, default="auto")
    p.add_argument("--out", required=True, help="manifest CSV to write")
    p.add_argument("--rejected", help="rejected CSV (default: rejected.csv next to --out)")
    p.add_argument("--dataset", help="value of the dataset column (default: canonical corpus name)")
    p.add_argument("--pad", action="store_true", help="zero-pad short files / last windows (upstream drops)")
    p.add_argument("--no-verify", action="store_true", help="trust headers instead of decoding every file")
    p.add_argument("--unsplit", default="eval", choices=("train", "dev", "eval", "hash"),
                   help="folder layout without split folders: train/dev/eval/hash")
    p.add_argument("--workers", type=positive_int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def checkpoint_path(out: str | os.PathLike) -> str:
    """The resume checkpoint of a manifest: ``<dir>/.<name>.partial.csv``."""
    out = os.path.abspath(os.fspath(out))
    return os.path.join(os.path.dirname(out), f".{os.path.basename(out)}.partial.csv")


def run(args) -> int:
    from idsd.datasets import build_manifest, summarize, write_manifest
    from idsd.validate import input_dir, output_file

    # every argument is checked before the (long) decoding
    root = input_dir(args.root, "corpus folder")
    out = output_file(args.out, "--out manifest")
    rpath = output_file(args.rejected or os.path.join(os.path.dirname(os.path.abspath(out)), "rejected.csv"),
                        "--rejected CSV")
    if os.path.abspath(rpath) == os.path.abspath(out):
        from idsd.errors import InputError

        raise InputError(out, "--out and --rejected name the same file")
    options = {"unsplit": args.unsplit} if args.layout == "folder" else {}
    ckpt = checkpoint_path(out)
    manifest, rejected = build_manifest(root, layout=args.layout, dataset=args.dataset, pad=args.pad,
                                        verify=not args.no_verify, workers=args.workers,
                                        progress=not args.no_progress, resume=ckpt, **options)
    paths = write_manifest(manifest, rejected, out, rpath)
    if os.path.exists(ckpt):
        os.unlink(ckpt)
    if len(manifest):
        print(summarize(manifest).to_string(index=False))
    print(f"{len(manifest)} fragments -> {paths['manifest']}; {len(rejected)} files skipped -> {paths['rejected']}")
    return 0 if len(manifest) else 1
