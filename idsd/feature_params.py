"""Names, modes, upstream parameters and image shape of the seven features: the one definition.

:mod:`idsd.features` (the extraction), :mod:`idsd.images` (the image mode's rendering) and
:mod:`idsd.paper_values` (the paper's tables) all take them from here, so the layering is
``feature_params`` <- ``images`` <- ``features``, without a cycle. :mod:`idsd.features`
re-exports every name (``features.FEATURES``, ``features.params``...).
"""

from __future__ import annotations

FEATURES: tuple[str, ...] = ("mel", "stft", "cqt", "vqt", "iirt", "mfcc", "chroma")
"""Feature keys, in the paper's column order (docs/paper.md section 9)."""

MODES: tuple[str, ...] = ("array", "image", "db")

IMAGE_SHAPE = (640, 480)
"""Model input of the image mode: 640 rows (height) x 480 columns, as upstream."""

DEFAULTS: dict[str, dict] = {
    "mel": {"n_fft": 1024, "hop_length": 256, "n_mels": 256, "fmin": 0.0, "fmax": None},
    "stft": {"n_fft": 1024, "hop_length": 256},
    "cqt": {"hop_length": 256, "fmin": None, "n_bins": 84, "bins_per_octave": 12},
    "vqt": {"hop_length": 256, "fmin": None, "n_bins": 84, "bins_per_octave": 12, "gamma": None},
    "iirt": {"win_length": 1024, "hop_length": 256},
    "mfcc": {"n_mfcc": 40, "n_fft": 2048, "hop_length": 512, "n_mels": 128},
    "chroma": {"n_fft": 1024, "hop_length": 256, "n_chroma": 12},
}
"""Upstream parameters per feature; every key can be overridden (``extract(..., n_bins=96)``)."""


def check(feature: str, mode: str = "array") -> None:
    """ValueError unless ``feature`` is one of :data:`FEATURES` and ``mode`` one of :data:`MODES`."""
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}; choose from {FEATURES}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")


def params(feature: str, **overrides) -> dict:
    """Upstream parameters of ``feature`` updated with ``overrides`` (unknown keys raise)."""
    check(feature)
    p = dict(DEFAULTS[feature])
    bad = set(overrides) - set(p)
    if bad:
        raise ValueError(f"{feature}: unknown parameter(s) {sorted(bad)}; known: {sorted(p)}")
    p.update(overrides)
    return p
