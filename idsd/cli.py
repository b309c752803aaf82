"""The ``idsd`` command line.

Each subcommand lives in a module of :mod:`idsd.commands` that defines
``register(subparsers, groups)``: ``subparsers`` is the top-level ``add_subparsers`` object and
``groups`` maps group names (``"bench"``, ``"corpus"``) to their own subparsers, so that, for
example, ``idsd bench features`` and ``idsd bench train`` can be defined in different modules.
A registered parser sets ``func`` (``args -> int | None``) with ``set_defaults``.

Errors: an :class:`idsd.errors.IDSDError` (bad input: a file, a manifest, a model record, an
argument) or an ``OSError`` (disk full, permission) is printed as one line on stderr,
``idsd <command>: <message>``, and the exit status is 2; any other exception prints one line
naming it (exit 3). ``idsd --debug ...`` shows the traceback instead. Paths given after ``--`` are
never read as options (``idsd detect -- -rf.wav``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from idsd import __version__

EXIT_INPUT_ERROR, EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED = 2, 3, 130
_ARGV: list[str] = []  # the arguments being parsed, for the hint in ArgumentParser.error


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a hint when an unknown "option" is in fact an existing file name."""

    def error(self, message: str):
        import os

        argv = _ARGV[: _ARGV.index("--")] if "--" in _ARGV else _ARGV
        files = [a for a in argv if a.startswith("-") and len(a) > 1 and os.path.lexists(a)]
        if files:
            message += (f" ({files[0]!r} is a file: put -- before file names that start with '-',"
                        f" e.g. idsd detect -- {files[0]})")
        super().error(message)


GROUPS = {
    "bench": "benchmarks: the upstream way vs ours, measured in the same run",
    "cluster": "the Dask cluster of a study configuration (local, PBS, Slurm): check it, show its job script",
    "corpus": "build the embedded offline corpus suite and the modified-speech set",
}


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser with every discovered subcommand."""
    parser = ArgumentParser(
        prog="idsd",
        description="IDSD workbook: deepfake speech detection from spectrograms (SAC '24 reproduction).",
    )
    parser.add_argument("--version", action="version", version=f"idsd {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of a one-line message")
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


def _command_name(args) -> str:
    parts = ["idsd"]
    cmd = getattr(args, "command", None)
    if cmd:
        parts.append(cmd)
        sub = getattr(args, f"{cmd}_command", None)
        if sub:
            parts.append(sub)
    return " ".join(parts)


def _one_line(text) -> str:
    """The message on one line, printable whatever it holds (undecodable bytes escaped)."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return " ".join(lines).encode("utf-8", "backslashreplace").decode("utf-8") if lines else ""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``idsd`` console script; returns the exit status.

    Bad input never ends in a traceback: see the module docstring (``--debug`` shows it).
    """
    from idsd.errors import IDSDError

    parser = build_parser()
    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)  # warnings.warn -> one log line, not a source excerpt
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    name = _command_name(args)
    try:
        status = args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (IDSDError, OSError) as exc:
        if args.debug:
            raise
        print(f"{name}: {_one_line(exc) or type(exc).__name__}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except Exception as exc:  # noqa: BLE001 - the CLI contract: one line, never a traceback
        if args.debug:
            raise
        print(f"{name}: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
