"""``idsd corpus build`` / ``idsd corpus prepare``: the embedded offline corpus suite."""

from __future__ import annotations


def register(subparsers, groups) -> None:
    from idsd.corpus.build import CORPORA, PRESETS

    p = groups["corpus"].add_parser(
        "build", help="build the embedded offline corpus suite (four corpora, FoR layout)",
        description="Build mini-for, mini-rerec, mini-wavefake and mini-asvspoof offline from the Asterisk "
                    "prompts and the installed TTS engines / vocoders (see docs/data.md).")
    p.add_argument("--preset", choices=sorted(PRESETS), default="default")
    p.add_argument("--out", required=True, help="output folder (one subfolder per corpus + suite.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--corpora", nargs="+", choices=CORPORA, default=list(CORPORA))
    p.add_argument("--force", action="store_true", help="rebuild even if the same build exists")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_build)

    q = groups["corpus"].add_parser(
        "prepare", help="build or locate the corpora and write manifests + study.json (what notebook 01 does)")
    q.add_argument("--outputs", default="outputs", help="outputs directory")
    q.add_argument("--data-root", default="", help="folder with real corpora (empty: embedded suite)")
    q.add_argument("--quick", action="store_true")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--no-modify", action="store_true", help="skip the modified-speech set")
    q.set_defaults(func=run_prepare)


def run_build(args) -> int:
    from idsd.corpus import build_suite, suite_summary

    try:
        roots = build_suite(args.out, args.preset, seed=args.seed, progress=not args.no_progress, force=args.force,
                            corpora=args.corpora)
    except RuntimeError as exc:
        print(f"idsd corpus build: {exc}")
        return 2
    summary = suite_summary(args.out)
    for name, root in roots.items():
        c = summary["corpora"].get(name, {})
        print(f"{name:14s} {c.get('clips', '?'):>6} clips  {c.get('bytes', 0) / 1e6:7.1f} MB  {root}")
    print(f"built in {summary['timings_s'].get('total', 0):.1f} s (suite.json has the details)")
    return 0


def run_prepare(args) -> int:
    from idsd.corpus import prepare_study
    from idsd.paths import Outputs

    study = prepare_study(Outputs(args.outputs), data_root=args.data_root or None, quick=args.quick, seed=args.seed,
                          modify=not args.no_modify)
    for c in study.corpora:
        print(f"{c.name:14s} train={c.train!s:5s} {c.manifest}")
    print(f"modified: {study.modified_manifest}; learning curve: {study.learning_curve_corpus}")
    return 0
