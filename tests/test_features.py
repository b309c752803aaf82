"""The seven features: shapes, agreement with the upstream librosa calls, modes, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import synthetic_clip

from idsd import CLIP_SAMPLES
from idsd import features as F

SHAPES = {"mel": (256, 126), "stft": (513, 126), "cqt": (84, 126), "vqt": (84, 126), "iirt": (85, 126),
          "mfcc": (40, 63), "chroma": (12, 126)}


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    """(5, 32000): two 'real', two 'fake' toy clips and white noise."""
    Y = [synthetic_clip("real", 0), synthetic_clip("fake", 1), synthetic_clip("real", 2),
         synthetic_clip("fake", 3), 0.1 * np.random.default_rng(0).normal(size=CLIP_SAMPLES)]
    return np.stack(Y).astype(np.float32)


@pytest.fixture(scope="module")
def refs(clips):
    return {f: np.stack([F.reference(y, f) for y in clips]) for f in F.FEATURES}


def test_shapes_match_spec():
    for f, shape in SHAPES.items():
        assert F.feature_shape(f) == shape
        assert F.feature_shape(f, "db") == shape
        assert F.feature_shape(f, "image") == (640, 480)
        assert F.FeatureConfig(f).shape == shape


@pytest.mark.parametrize("feature", F.FEATURES)
def test_extract_shapes_and_dtype(feature, tone):
    for mode in ("array", "db"):
        out = F.extract(tone, feature, mode)
        assert out.shape == SHAPES[feature] and out.dtype == np.float32
        assert np.all(np.isfinite(out))


@pytest.mark.parametrize("feature", ["mel", "stft", "cqt", "vqt", "mfcc", "chroma"])
def test_array_mode_matches_librosa(feature, clips, refs):
    """Array mode = upstream librosa value / 255, to float32 rounding (max error <= 1e-5 of the
    clip's largest magnitude; measured ~5e-7)."""
    ours = F.extract_batch(clips, feature)
    ref = refs[feature] / 255.0
    assert ours.shape == ref.shape
    scale = np.abs(ref).max(axis=(1, 2), keepdims=True)
    err = np.abs(ours - ref) / scale
    assert err.max() < 1e-5, f"{feature}: max relative error {err.max():.2e}"


def test_iirt_agreement(clips):
    """The fast IIRT vs librosa.iirt (documented in docs/benchmarks.md): dB correlation and the
    median relative error over cells within 40 dB of the clip maximum."""
    a = F.iirt_agreement(clips)
    assert a["corr_log"] > 0.85, a
    assert a["median_rel_err"] < 0.05, a
    assert a["mae_db"] < 1.5, a
    # the upper two octaves (bands 60..84, 1 kHz..4.2 kHz) agree within a few per cent
    assert np.nanmax(a["rel_err_per_band"][60:]) < 0.1


def test_piptrack_and_tuning_match_librosa(clips):
    import librosa

    P = F.power_spectrum(clips, 1024, 256)
    pr, mr = librosa.piptrack(S=P.transpose(0, 2, 1), sr=16000)
    p2, m2 = F._piptrack_last(P, 1024)
    assert np.allclose(pr.transpose(0, 2, 1), p2, atol=1e-3)
    assert np.allclose(mr.transpose(0, 2, 1), m2, rtol=1e-4, atol=1e-6 * mr.max())
    ref = [librosa.estimate_tuning(S=p.T, sr=16000, bins_per_octave=12) for p in P]
    assert np.allclose(F._tunings(P, 12, 1024), ref)


@pytest.mark.parametrize("feature", F.FEATURES)
def test_values_bit_identical_whatever_batch_and_threads(feature):
    """A clip's stored (float16) features do not depend on its batch, its chunk or the thread count,
    so a cache resumed after a kill or extended later holds exactly a fresh extraction's values."""
    rng = np.random.default_rng(7)
    Y = (0.1 * rng.normal(size=(19, CLIP_SAMPLES))).astype(np.float32)
    whole = F.extract_batch(Y, feature, threads=2).astype(np.float16)
    single = np.concatenate([F.extract_batch(Y[i:i + 1], feature, threads=1) for i in (0, 7, 18)])
    split = np.concatenate([F.extract_batch(Y[:5], feature, threads=2), F.extract_batch(Y[5:], feature, threads=1)])
    assert np.array_equal(single.astype(np.float16), whole[[0, 7, 18]])
    assert np.array_equal(split.astype(np.float16), whole)
    assert np.array_equal(F.raw_batch(Y[3:11], feature, threads=2), F.raw_batch(Y, feature, threads=1)[3:11])


def test_raw_all_equals_per_feature(clips):
    allf = F.raw_all(clips, features=("mel", "stft", "chroma", "mfcc"))
    for f, v in allf.items():
        assert np.allclose(v, F.raw_batch(clips, f), rtol=1e-6, atol=1e-9)


def test_db_mode_range_and_silence(tone):
    silent = np.zeros(CLIP_SAMPLES, np.float32)
    for f in F.FEATURES:
        d = F.extract(tone, f, "db")
        if f != "mfcc":
            assert d.min() >= 0 and d.max() <= 1.0 + 1e-6
        s = F.extract(silent, f, "db")
        assert np.all(np.isfinite(s)) and np.all(s == 0), f
        a = F.extract(silent, f, "array")
        assert np.all(np.isfinite(a)), f


def test_bad_input_nan_and_length(tone):
    y = tone.copy()
    y[100:200] = np.nan
    y[300] = np.inf
    out = F.extract(y, "mel")
    assert np.all(np.isfinite(out))
    with pytest.warns(UserWarning, match="padded"):
        short = F.extract(tone[:20000], "mel")
    assert short.shape == SHAPES["mel"]
    with pytest.warns(UserWarning, match="cropped"):
        F.extract_batch(np.stack([np.concatenate([tone, tone[:500]])]), "stft")


def test_config_key_and_overrides():
    a, b = F.FeatureConfig("cqt"), F.FeatureConfig("cqt", overrides={"n_bins": 72, "fmin": 65.4})
    assert a.key() == F.FeatureConfig("cqt", "array", ()).key()
    assert a.key() != b.key() != F.FeatureConfig("cqt", "db").key()
    assert b.shape == (72, 126)
    assert F.extract(np.zeros(CLIP_SAMPLES, np.float32) + 0.01, "cqt", n_bins=72, fmin=65.4).shape == (72, 126)
    with pytest.raises(ValueError):
        F.FeatureConfig("mel", overrides={"bogus": 1})
    with pytest.raises(ValueError):
        F.feature_shape("nope")


@pytest.mark.parametrize("feature", F.GPU_FEATURES)
def test_keras_path_matches_librosa(feature, clips, refs):
    """device="gpu" (Keras ops of the active backend; here TensorFlow on the CPU): max error
    <= 1e-4 of the clip maximum (mfcc: 1e-3 absolute in dB-DCT units)."""
    ours = F.extract_batch(clips, feature, device="gpu") * 255.0
    ref = refs[feature]
    if feature == "mfcc":
        assert np.abs(ours - ref).max() < 1e-2 * np.abs(ref).max() * 1e-1
    else:
        scale = np.abs(ref).max(axis=(1, 2), keepdims=True)
        assert (np.abs(ours - ref) / scale).max() < 1e-4


@pytest.mark.slow
def test_keras_path_under_jax(tmp_path):
    code = (
        "import numpy as np, keras\n"
        "from idsd import features as F\n"
        "assert keras.backend.backend() == 'jax'\n"
        "rng = np.random.default_rng(0)\n"
        "Y = (0.1 * rng.normal(size=(3, 32000))).astype(np.float32)\n"
        "for f in F.GPU_FEATURES:\n"
        "    ref = np.stack([F.reference(y, f) for y in Y])\n"
        "    ours = F.keras_raw_batch(Y, f)\n"
        "    err = np.abs(ours - ref).max() / np.abs(ref).max()\n"
        "    assert err < 1e-4, (f, err)\n"
        "print('ok')\n"
    )
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-2000:]


def test_empty_batch():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert F.extract_batch(np.zeros((0, CLIP_SAMPLES), np.float32), "mel").shape == (0, 256, 126)


def test_numba_cache_is_warmed_in_one_process(tmp_path):
    """warm_numba_cache writes the cache files of librosa's gufuncs (kernel and wrapper) itself, so
    test or Dask workers started after it load them instead of compiling them concurrently."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", "from idsd.features import warm_numba_cache; "
                          "print(','.join(warm_numba_cache()))"], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip().split(",") == list(F.FEATURES)
    names = {p.name.rsplit("-", 1)[0] for p in tmp_path.rglob("*.nbi")}  # <module>.<func>-<line>.py311.nbi
    for kernel in ("utils._localmax", "guf-utils._localmax", "utils._localmin", "guf-utils.__peak_pick",
                   "audio._zc_wrapper", "guf-audio._zc_wrapper", "pitch._pi_wrapper", "guf-pitch._pi_wrapper"):
        assert kernel in names, f"{kernel} not cached: {sorted(names)}"
