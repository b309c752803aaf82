"""``idsd features MANIFEST --feature mel --mode array``: fill the feature cache for a manifest."""

from __future__ import annotations


def register(subparsers, groups) -> None:
    from idsd.features import DEVICES, FEATURES, MODES

    p = subparsers.add_parser(
        "features", help="extract a feature for every row of a manifest into the cache",
        description="Extract (only what is missing) and cache one feature for every 2-s fragment of a "
                    "manifest CSV, with a progress bar. Resumable: rerun after an interruption.")
    p.add_argument("manifest", help="manifest CSV (one row per 2-s fragment)")
    p.add_argument("--feature", default="mel", choices=FEATURES + ("all",), help="feature (default mel)")
    p.add_argument("--mode", default="array", choices=MODES, help="input mode (default array)")
    p.add_argument("--outputs", default="outputs", help="outputs directory whose cache/ is used")
    p.add_argument("--cache", default=None, help="cache directory (default <outputs>/cache)")
    p.add_argument("--device", default="cpu", choices=DEVICES)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from idsd.cache import load_feature_set
    from idsd.errors import show_path
    from idsd.features import FEATURES, FeatureConfig
    from idsd.paths import Outputs, resolve
    from idsd.validate import output_dir, read_manifest

    manifest = read_manifest(resolve(args.manifest), required=("path", "fragment"))
    cache = resolve(args.cache) if args.cache else Outputs(args.outputs).cache
    output_dir(cache, "--cache folder")
    feats = FEATURES if args.feature == "all" else (args.feature,)
    status = 0
    for f in feats:
        fs = load_feature_set(manifest, FeatureConfig(f, args.mode), cache, progress=not args.no_progress,
                              device=args.device)
        print(f"{f}/{args.mode}: {len(fs)} rows {fs.X.shape} {fs.X.dtype} in {fs.path} "
              f"({fs.nbytes_stored / 1e6:.1f} MB stored, {fs.nbytes_float32 / 1e6:.1f} MB as float32); "
              f"{len(fs.rejected)} rejected")
        for r in fs.rejected.itertuples():
            print(f"  rejected {show_path(r.file)}: {r.reason}")
        status = status or int(len(fs) == 0 and len(manifest) > 0)
    return status
