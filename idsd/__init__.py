"""IDSD: a research workbook for deepfake speech detection from spectrograms.

Reproduces Firc, Malinka, Hanacek, *Deepfake Speech Detection: A Spectrogram Analysis*
(SAC '24, doi 10.1145/3605098.3635911). Notebooks narrate; this package computes.
"""

__version__ = "0.1.0"

SAMPLE_RATE = 16000
"""Sample rate (Hz) used everywhere, as upstream."""

CLIP_SECONDS = 2.0
"""Fragment length in seconds (upstream: non-overlapping 2-s fragments)."""

CLIP_SAMPLES = 32000
"""Fragment length in samples at :data:`SAMPLE_RATE`."""
