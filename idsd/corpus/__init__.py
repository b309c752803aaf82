"""The embedded offline corpus suite (``idsd corpus build``) and the study preparation.

See :mod:`idsd.corpus.build` for what the four corpora contain and :func:`prepare_study` for how
notebook 01 turns built or real corpora into manifests and ``study.json``.
"""

from idsd.corpus.build import CORPORA, PAPER_NAMES, PRESETS, Preset, build_suite, preset_with, suite_summary

__all__ = ["CORPORA", "PAPER_NAMES", "PRESETS", "Preset", "build_suite", "preset_with", "suite_summary",
           "prepare_study"]


def prepare_study(*args, **kwargs):
    """Build or locate the corpora, write manifests and ``study.json`` (see :mod:`idsd.corpus.prepare`)."""
    from idsd.corpus.prepare import prepare_study as _prepare

    return _prepare(*args, **kwargs)
