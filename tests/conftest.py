"""Shared fixtures: small generated audio, a scratch outputs directory."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("IDSD_HEADLESS", "1")

import numpy as np
import pytest

from idsd import CLIP_SAMPLES, SAMPLE_RATE


def requires(ok: bool, what: str):
    """Mark a test that needs ``what`` (a Debian tool, a Python package). ``./run_tests.sh`` installs
    every such dependency, so a missing one fails the test with this message instead of skipping it."""
    return pytest.mark.requires(ok=bool(ok), what=what)


def pytest_runtest_setup(item):
    for mark in item.iter_markers("requires"):
        if not mark.kwargs["ok"]:
            pytest.fail(f"{mark.kwargs['what']} is not installed (./run_tests.sh installs it)", pytrace=False)


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


def _write_clip(path, y, sr=16000, subtype="PCM_16"):
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, subtype=subtype)
    return path


@pytest.fixture
def write_clip():
    """``write_clip(path, y, sr=16000, subtype="PCM_16")`` writes a wav and returns its path."""
    return _write_clip


def synthetic_clip(label: str, i: int, seconds: float = 2.0, sr: int = 16000) -> np.ndarray:
    """A deterministic toy clip: 'real' = harmonic chirp + breath noise, 'fake' = buzzy tones.

    The classes differ in spectral shape so a detector can learn them in a few epochs.
    """
    r = np.random.default_rng(1000 * (label == "fake") + i)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110 + 40 * r.random() + 30 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    if label == "real":
        y = sum(np.sin(k * phase) / k for k in range(1, 8)) + 0.05 * r.normal(size=t.size)
    else:
        y = np.sign(np.sin(phase)) * 0.3 + 0.3 * np.sin(2 * np.pi * 3000 * t) + 0.01 * r.normal(size=t.size)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


@pytest.fixture
def manifest_factory(tmp_path):
    """Write toy wav files and return a manifest DataFrame in the shared schema.

    ``manifest_factory(n_per_class={"train": 8, "dev": 4, "eval": 4}, dataset="toy", seconds=2.0)``
    """
    import pandas as pd

    def make(n_per_class=None, dataset="toy", seconds=2.0):
        n_per_class = n_per_class or {"train": 8, "dev": 4, "eval": 4}
        rows, k = [], 0
        for split, n in n_per_class.items():
            for label in ("real", "fake"):
                for i in range(n):
                    path = tmp_path / dataset / split / label / f"{label}_{i}.wav"
                    _write_clip(path, synthetic_clip(label, k, seconds))
                    k += 1
                    for frag in range(max(1, int(seconds // 2))):
                        rows.append(dict(path=str(path), dataset=dataset, split=split, label=label,
                                         target=int(label == "real"),
                                         source="bonafide" if label == "real" else "toy-tts",
                                         speaker=f"spk{i % 3}", fragment=frag, duration=seconds,
                                         condition="clean"))
        return pd.DataFrame(rows)

    return make


@pytest.fixture
def count_extraction(monkeypatch):
    """``count_extraction()`` -> a list that records the batch size of every
    ``idsd.shards.extract_batch`` call (the cache's extraction step) from then on."""
    import idsd.shards as S

    def start() -> list[int]:
        calls = []
        real = S.extract_batch

        def spy(Y, *a, **k):
            calls.append(len(Y))
            return real(Y, *a, **k)

        monkeypatch.setattr(S, "extract_batch", spy)
        return calls

    return start


def kill_during_extraction(manifest_csv, cache, batch_files: int, name: str | None = None, at_call: int = 3):
    """Run ``idsd.cache.load_feature_set`` in a subprocess that SIGKILLs itself at the ``at_call``-th
    extraction batch; return the finished process (its return code is ``-SIGKILL``)."""
    import subprocess
    import sys

    script = (
        "import os, signal, pandas as pd\n"
        "import idsd.cache as C, idsd.shards as S\n"
        "from idsd.features import FeatureConfig\n"
        "real = S.extract_batch\n"
        "n = [0]\n"
        "def killer(*a, **k):\n"
        "    n[0] += 1\n"
        f"    if n[0] == {int(at_call)}:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(*a, **k)\n"
        "S.extract_batch = killer\n"
        f"C.load_feature_set(pd.read_csv({str(manifest_csv)!r}), FeatureConfig('mfcc'), {str(cache)!r}, "
        f"progress=False, batch_files={int(batch_files)}, name={name!r})\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
