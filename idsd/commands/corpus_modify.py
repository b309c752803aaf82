"""``idsd corpus modify --in SPLIT_DIR --out DIR``: the modified-speech set (16 modifications)."""

from __future__ import annotations


def register(subparsers, groups) -> None:
    from idsd.perturb import MODIFICATIONS

    p = groups["corpus"].add_parser(
        "modify", help="write the 16 upstream modifications of a split folder (real/ + fake/)",
        description="Writes DIR/<modification>/<split>/<real|fake>/<file>.wav and DIR/metadata.csv; "
                    "needs the sox (with libsox-fmt-all) and ffmpeg binaries.")
    p.add_argument("--in", dest="in_dir", required=True, help="split folder with real/ and fake/ (e.g. .../validation)")
    p.add_argument("--out", required=True)
    p.add_argument("--mods", nargs="+", choices=MODIFICATIONS, default=list(MODIFICATIONS))
    p.add_argument("--limit", type=int, default=None, help="at most N files per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--manifest", help="also write the manifest of the result to this CSV")
    p.add_argument("--force", action="store_true", help="redo files that exist")
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    from idsd.datasets import write_manifest
    from idsd.perturb import modified_manifest, modify_split

    try:
        written, rejected = modify_split(args.in_dir, args.out, mods=args.mods, seed=args.seed, limit=args.limit,
                                         workers=args.workers, force=args.force)
    except FileNotFoundError as exc:
        print(f"idsd corpus modify: {exc}")
        return 2
    rpath = os.path.join(args.out, "rejected.csv")
    rejected.to_csv(rpath, index=False)
    print(written.groupby(["condition", "label"]).size().unstack(fill_value=0).to_string())
    print(f"{len(written)} clips in {args.out}; {len(rejected)} problems -> {rpath}")
    if args.manifest:
        m, rej = modified_manifest(args.out)
        write_manifest(m, rej, args.manifest)
        print(f"manifest: {len(m)} rows -> {args.manifest}")
    return 0 if len(written) else 1
