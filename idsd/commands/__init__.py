"""Subcommands of the ``idsd`` CLI, one module each, discovered by :mod:`idsd.cli`."""
