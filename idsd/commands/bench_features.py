"""``idsd bench features``: upstream extraction loop vs ours, same clips, one run."""

from __future__ import annotations


def register(subparsers, groups) -> None:
    from idsd.features import FEATURES

    p = groups["bench"].add_parser(
        "features", help="ms/clip of the upstream librosa loop vs the batched path, per feature",
        description="Times the upstream loop (one clip at a time, single-threaded librosa; image mode: "
                    "one matplotlib figure per clip) and ours (batched, all cores) on the same clips. "
                    "One line per feature; the last line ends with 'total <ratio>x'.")
    p.add_argument("--clips", type=int, default=32, help="clips (default 32)")
    p.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    p.add_argument("--features", nargs="+", default=list(FEATURES), choices=FEATURES)
    p.add_argument("--mode", default="array", choices=("array", "image", "db"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", default=None, help="also write the table to this CSV")
    p.set_defaults(func=run)


def run(args) -> int:
    from idsd.bench.features import bench_features, format_lines
    from idsd.paths import resolve

    df = bench_features(args.clips, args.device, args.features, args.mode, args.seed)
    for line in format_lines(df):
        print(line)
    if args.csv:
        path = resolve(args.csv)
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False)
    return 0
