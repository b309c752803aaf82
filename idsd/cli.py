"""The ``idsd`` command line.

Each subcommand lives in a module of :mod:`idsd.commands` that defines
``register(subparsers, groups)``: ``subparsers`` is the top-level ``add_subparsers`` object and
``groups`` maps group names (``"bench"``, ``"corpus"``) to their own subparsers, so that, for
example, ``idsd bench features`` and ``idsd bench train`` can be defined in different modules.
A registered parser sets ``func`` (``args -> int | None``) with ``set_defaults``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from idsd import __version__

GROUPS = {
    "bench": "benchmarks: the upstream way vs ours, measured in the same run",
    "corpus": "build the embedded offline corpus suite and the modified-speech set",
}


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(
        prog="idsd",
        description="IDSD workbook: deepfake speech detection from spectrograms (SAC '24 reproduction).",
    )
    parser.add_argument("--version", action="version", version=f"idsd {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups = {}
    for name, help_text in GROUPS.items():
        group = sub.add_parser(name, help=help_text, description=help_text)
        groups[name] = group.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")
        group.set_defaults(func=lambda args, g=group: (g.print_help(), 2)[1])
    import idsd.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"idsd.commands.{info.name}")
        module.register(sub, groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``idsd`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    status = args.func(args)
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
