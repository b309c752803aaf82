"""``idsd bench cluster``: extraction of a large manifest in-process vs a Dask LocalCluster, one run."""

from __future__ import annotations

import json


def register(subparsers, groups) -> None:
    from idsd.features import FEATURES

    p = groups["bench"].add_parser(
        "cluster", help="feature extraction of a 20,000-clip manifest in-process vs a LocalCluster",
        description="Writes N two-second WAV files, extracts them into a fresh cache in this process and "
                    "again on a Dask LocalCluster (one task per shard of files), checks that both caches "
                    "are identical, and prints the ratio with the per-clip and per-shard costs the scaling "
                    "model for N nodes uses (docs/benchmarks.md).")
    p.add_argument("--clips", type=int, default=20_000, help="files in the manifest (default 20000)")
    p.add_argument("--features", nargs="+", default=["mel"], choices=FEATURES, help="default: mel")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    p.add_argument("--threads", type=int, default=1, help="threads per worker (default 1)")
    p.add_argument("--batch-files", type=int, default=64, help="files per shard / batch (default 64)")
    p.add_argument("--folder", default=None, help="keep the audio here and reuse it (default: a temporary folder)")
    p.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64],
                   help="node counts of the scaling model")
    p.add_argument("--cores-per-node", type=int, default=16)
    p.add_argument("--io-mb-s", type=float, default=500.0, help="shared file system bandwidth of the model")
    p.add_argument("--json", dest="json_path", default=None, help="also write everything to this JSON file")
    p.set_defaults(func=run)


def run(args) -> int:
    from idsd.bench.cluster import bench_cluster, format_lines, scaling_model
    from idsd.paths import resolve

    df, facts = bench_cluster(args.clips, args.features, args.workers, args.threads, args.batch_files,
                              args.folder)
    for line in format_lines(df, facts):
        print(line)
    models = {}
    for row in df.to_dict("records"):
        model = scaling_model(row, args.nodes, args.cores_per_node, args.io_mb_s)
        models[row["feature"]] = model.to_dict("records")
        print(f"scaling model, {row['feature']} ({args.cores_per_node} cores per node, file system "
              f"{args.io_mb_s:g} MB/s):")
        print(model.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if args.json_path:
        path = resolve(args.json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"facts": facts, "runs": df.to_dict("records"), "scaling": models}, indent=2,
                                   default=str))
    return 0
