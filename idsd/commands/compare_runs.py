"""``idsd compare-runs A B``: does a second run of the study reproduce the first?

Compares the corpus audio (bytes), the score files and the result tables (values to the bit,
measurements of time and memory left out) of two outputs directories (:mod:`idsd.rerun`).
Exit status 0 when everything compared is identical, 1 when anything differs or is missing.
"""

from __future__ import annotations


def register(subparsers, groups) -> None:
    p = subparsers.add_parser(
        "compare-runs", help="compare two outputs directories: corpus audio, score files, tables",
        description="Check that two runs of the study built the same corpus and wrote the same score files "
                    "and tables (time and memory measurements are not compared).")
    p.add_argument("a", help="outputs directory of the first run")
    p.add_argument("b", help="outputs directory of the second run")
    p.add_argument("--details", help="write the per-file comparison to this CSV")
    p.set_defaults(func=run)


def run(args) -> int:
    from idsd.rerun import compare_runs, reproduced
    from idsd.validate import input_dir, output_file

    a, b = input_dir(args.a, "outputs directory A"), input_dir(args.b, "outputs directory B")
    details_path = output_file(args.details, "--details CSV") if args.details else None
    summary, details = compare_runs(a, b)
    print(summary.to_string(index=False))
    differing = details[details["status"] != "identical"]
    for r in differing.head(20).itertuples():
        print(f"{r.kind}: {r.file}: {r.status}{' (' + r.detail + ')' if r.detail else ''}")
    if len(differing) > 20:
        print(f"... and {len(differing) - 20} more")
    if details_path:
        details.to_csv(details_path, index=False)
    ok = reproduced(summary)
    print("reproduced: every compared file is identical" if ok else "NOT reproduced")
    return 0 if ok else 1
