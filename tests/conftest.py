"""Shared fixtures: small generated audio, a scratch outputs directory."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("IDSD_HEADLESS", "1")

import numpy as np
import pytest

from idsd import CLIP_SAMPLES, SAMPLE_RATE


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def tone() -> np.ndarray:
    """A 2-s 440 Hz tone at 16 kHz, float32, shape (32000,)."""
    t = np.arange(CLIP_SAMPLES) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


@pytest.fixture
def outputs(tmp_path):
    from idsd.paths import Outputs

    return Outputs(tmp_path / "outputs").make()
