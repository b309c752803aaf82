"""idsd.explain: attribution maps find the one frequency band that carries the label, on two backends.

Synthetic task: inputs (n, 24 bins, 16 frames) of uniform noise; the real class has +1 in bins
6-9 (4/24 = 17 % of the bins), the fake class does not. The project's detector
(:func:`idsd.model.build_model`) is trained on it for a few epochs in this process (whatever
backend it runs), saved as ``.keras``, and explained here AND in a subprocess under the other
backend (TensorFlow <-> JAX), which must find the same maps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from idsd import explain as E
from idsd.feature_params import FEATURES
from idsd.features import feature_shape
from idsd.model import build_model

SHAPE = (24, 16)
BAND = slice(6, 10)
HZ = np.arange(SHAPE[0]) * 250.0  # bins 6-9 = 1500..2250 Hz
EDGES = (0, 1500, 2500, 8000)  # the label band alone in "1500-2500 Hz"
N_EXPLAIN = 32
OCC = {"band_size": 2, "span_size": 4}
STEPS = 32
BACKEND = keras.backend.backend()
OTHER = "tensorflow" if BACKEND == "jax" else "jax"


def _data(n: int, rng: np.random.Generator):
    X = rng.random((n, *SHAPE), dtype=np.float32)
    y = (np.arange(n) % 2).astype(np.float32)  # 1 = real
    X[y == 1, BAND, :] += 1.0
    return X, y


def _accuracy(model, X, y) -> float:
    p = np.asarray(model.predict(X, batch_size=64, verbose=0)).reshape(-1)
    return float(((p >= 0.5) == (y == 1)).mean())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    X, y = _data(256, rng)
    Xt, yt = _data(128, rng)
    model = build_model(SHAPE)
    # 24 training steps are too few for BatchNormalization's default moving-average momentum
    # (0.99): with 0.9 the inference-mode statistics converge and the model scores well.
    model.get_layer("batch_norm").momentum = 0.9
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    model.fit(X, y, epochs=3, batch_size=32, verbose=0, shuffle=True)
    Xe = Xt[:N_EXPLAIN]
    occ = E.occlusion(model, Xe, **OCC)
    ig = E.integrated_gradients(model, Xe, steps=STEPS)
    d = tmp_path_factory.mktemp("explain")
    model.save(d / "band_model.keras")
    np.save(d / "x.npy", Xe)
    return {"model": model, "Xt": Xt, "yt": yt, "Xe": Xe, "occ": occ, "ig": ig, "dir": d}


def _band_mass(attr) -> float:
    return float(E.band_profile(attr)[BAND].sum())


def _completeness_gap(model, X, ig) -> tuple[np.ndarray, np.ndarray]:
    signs = E.target_signs(model, X)
    delta = E.target_scores(model, X, signs) - E.target_scores(model, E._baseline(X, "mean"), signs)
    return ig.sum(axis=(1, 2), dtype=np.float64), delta


# =========================================================================== the synthetic task


def test_model_learns_the_band(trained):
    assert _accuracy(trained["model"], trained["Xt"], trained["yt"]) > 0.9


def test_occlusion_puts_most_mass_in_the_label_band(trained):
    occ = trained["occ"]
    assert occ.shape == (N_EXPLAIN, *SHAPE) and occ.dtype == np.float32
    mass = _band_mass(occ)
    print(f"occlusion mass in bins 6-9 ({BACKEND}): {mass:.3f}")
    assert mass > 0.5  # the band is 17 % of the bins
    shares = E.band_shares(occ, HZ, EDGES)
    assert list(shares) == ["0-1500 Hz", "1500-2500 Hz", "2500-8000 Hz"]
    assert shares["1500-2500 Hz"] == pytest.approx(mass)
    assert sum(shares.values()) == pytest.approx(1.0)
    # real inputs (odd rows): occluding their extra energy lowers the logit of "real" in every case
    assert (occ[1::2, BAND].sum(axis=(1, 2)) > 0).all()


def test_integrated_gradients_put_most_mass_in_the_label_band_and_are_complete(trained):
    model, X, ig = trained["model"], trained["Xe"], trained["ig"]
    assert ig.shape == X.shape
    mass = _band_mass(ig)
    print(f"IG mass in bins 6-9 ({BACKEND}): {mass:.3f}")
    assert mass > 0.5
    total, delta = _completeness_gap(model, X, ig)
    assert np.abs(delta).max() > 1.0  # the explained logits differ from the baseline's
    np.testing.assert_allclose(total, delta, rtol=0.02, atol=0.02)


def test_masking_the_label_band_drops_accuracy_to_chance_and_another_band_does_not(trained):
    model, Xt, yt = trained["model"], trained["Xt"], trained["yt"]
    masked = E.mask_bands(Xt, HZ, (1500, 2500))
    assert masked.shape == Xt.shape and masked is not Xt
    np.testing.assert_array_equal(masked[:, :6], Xt[:, :6])
    np.testing.assert_array_equal(masked[:, 10:], Xt[:, 10:])
    np.testing.assert_allclose(masked[:, BAND], np.broadcast_to(Xt.mean(axis=(1, 2))[:, None, None],
                                                                masked[:, BAND].shape), rtol=1e-6)
    assert abs(_accuracy(model, masked, yt) - 0.5) < 0.2
    assert _accuracy(model, E.mask_bands(Xt, HZ, (4000, 5000), value="zero"), yt) > 0.9
    single = E.mask_bands(Xt[0], HZ, (1500, 2500), value=0.25)
    assert single.shape == SHAPE and (single[BAND] == 0.25).all()


def test_maps_are_deterministic(trained):
    model, X = trained["model"], trained["Xe"][:8]
    np.testing.assert_array_equal(E.occlusion(model, X, **OCC), trained["occ"][:8])
    np.testing.assert_array_equal(E.integrated_gradients(model, X, steps=STEPS),
                                  E.integrated_gradients(model, X, steps=STEPS))


def test_targets_and_outputs(trained):
    model, X = trained["model"], trained["Xe"][:4]
    real = E.occlusion(model, X, band_size=6, target="real")
    fake = E.occlusion(model, X, band_size=6, target="fake")
    np.testing.assert_allclose(real, -fake, atol=1e-5)  # +logit vs -logit
    signs = E.target_signs(model, X)
    np.testing.assert_array_equal(signs, [-1, 1, -1, 1])  # rows alternate fake, real
    pred = E.occlusion(model, X, band_size=6)
    np.testing.assert_allclose(pred, real * signs[:, None, None], atol=1e-5)
    prob = E.occlusion(model, X, band_size=6, output="prob")
    assert prob.shape == X.shape and np.abs(prob).max() <= 1.0
    one = E.occlusion(model, X[1], band_size=6)
    assert one.shape == SHAPE
    np.testing.assert_allclose(one, pred[1], atol=1e-5)
    # the explained logit is the model's: sigmoid(logit toward real) = its P(real)
    p_real = np.asarray(model.predict(X, verbose=0)).reshape(-1)
    z = E.target_scores(model, X, "real")
    np.testing.assert_allclose(1 / (1 + np.exp(-z)), p_real, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="target"):
        E.occlusion(model, X, target="bona fide")


def test_a_constant_model_gets_all_zero_maps():
    keras.utils.set_random_seed(1)
    model = build_model(SHAPE)
    dense = model.get_layer("p_real")
    dense.kernel.assign(np.zeros(dense.kernel.shape, "float32"))
    X = np.random.default_rng(1).random((4, *SHAPE), dtype=np.float32)
    occ = E.occlusion(model, X, band_size=5, span_size=3, band_stride=3)
    assert occ.shape == X.shape and not occ.any()
    assert not E.integrated_gradients(model, X, steps=4, baseline="zero").any()
    np.testing.assert_array_equal(E.band_profile(occ), np.zeros(SHAPE[0]))
    assert all(np.isnan(v) for v in E.band_shares(occ, HZ).values())


def test_the_other_backend_finds_the_same_maps(trained):
    """Load the saved detector under the other backend (TF <-> JAX) and explain the same inputs there."""
    d = trained["dir"]
    script = r"""
import json, sys, numpy as np, keras
from idsd import explain as E
from idsd.artifact import load_model
m = load_model(sys.argv[1]); X = np.load(sys.argv[2])
occ = E.occlusion(m, X, band_size=2, span_size=4)
ig = E.integrated_gradients(m, X, steps=int(sys.argv[4]))
s = E.target_signs(m, X)
delta = E.target_scores(m, X, s) - E.target_scores(m, E._baseline(X, "mean"), s)
np.savez(sys.argv[3], occ=occ, ig=ig, delta=delta)
print(json.dumps({"backend": keras.backend.backend()}))
"""
    env = dict(os.environ, KERAS_BACKEND=OTHER, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-c", script, str(d / "band_model.keras"), str(d / "x.npy"),
                          str(d / "maps.npz"), str(STEPS)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["backend"] == OTHER
    with np.load(d / "maps.npz") as f:
        occ, ig, delta = f["occ"], f["ig"], f["delta"]
    print(f"{OTHER}: occlusion mass {_band_mass(occ):.3f}, IG mass {_band_mass(ig):.3f}")
    assert _band_mass(occ) > 0.5 and _band_mass(ig) > 0.5
    np.testing.assert_allclose(ig.sum(axis=(1, 2)), delta, rtol=0.02, atol=0.02)
    for here, there in ((trained["occ"], occ), (trained["ig"], ig)):
        np.testing.assert_allclose(there, here, atol=1e-3 * np.abs(here).max())


# =========================================================================== axes, summaries, plots


def test_bin_frequencies_of_every_feature():
    for f in FEATURES:
        hz, labels = E.bin_frequencies(f), E.bin_labels(f)
        n_bins, n_frames = feature_shape(f)
        assert hz.shape == (n_bins,) and len(labels) == n_bins
        assert E.frame_times(f).shape == (n_frames,)
        if f in ("mfcc", "chroma"):
            assert np.isnan(hz).all()
            with pytest.raises(ValueError, match="no frequency"):
                E.band_shares(np.ones((n_bins, 3)), hz)
            with pytest.raises(ValueError, match="no frequency"):
                E.mask_bands(np.ones((n_bins, 3)), hz, (0, 1000))
        else:
            assert (np.diff(hz) > 0).all() and hz[0] >= 0 and hz[-1] <= 8000
    assert E.bin_labels("chroma") == ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    assert E.bin_labels("mfcc")[3] == "MFCC 3"
    assert E.bin_frequencies("stft")[-1] == 8000 and E.bin_frequencies("stft", n_fft=256).shape == (129,)
    assert E.bin_frequencies("cqt")[0] == pytest.approx(32.703, abs=1e-3)  # C1
    assert E.bin_frequencies("cqt", fmin=55.0, n_bins=24)[-1] == pytest.approx(110 * 2 ** (11 / 12))
    iirt = E.bin_frequencies("iirt")
    assert iirt[0] == pytest.approx(32.703, abs=1e-3) and iirt[-1] == pytest.approx(4186.0, abs=0.1)  # MIDI 24, 108
    assert E.bin_frequencies("mel", n_mels=128).shape == (128,)
    np.testing.assert_allclose(E.frame_times("mfcc")[:2], [0.0, 512 / 16000])


def test_band_profile_and_shares_of_a_known_map():
    attr = np.zeros((2, 4, 3))
    attr[:, 0] = 1.0
    attr[:, 3] = -3.0  # |attribution| counts
    hz = np.array([500.0, 1500.0, 5000.0, 8000.0])
    np.testing.assert_allclose(E.band_profile(attr, hz), [0.25, 0, 0, 0.75])
    assert E.band_shares(attr, hz) == {"0-1000 Hz": 0.25, "1000-4000 Hz": 0.0, "4000-8000 Hz": 0.75}
    assert E.band_shares(attr[0], hz, edges=(0, 1000)) == {"0-1000 Hz": 0.25}  # the rest lies outside
    with pytest.raises(ValueError, match="bins_hz"):
        E.band_shares(attr, hz[:3])
    with pytest.raises(ValueError, match="edges"):
        E.band_shares(attr, hz, edges=(1000, 0))


def test_explain_map_and_plot(trained):
    model, X = trained["model"], trained["Xe"][:2]
    a = E.explain_map(model, X, method="occlusion", band_size=6)
    assert isinstance(a, E.Attribution) and a.values.shape == SHAPE and a.n_inputs == 2
    assert a.bin_labels[0] == "0" and a.feature is None and a.bins_hz is None
    b = E.explain_map(model, X[0], method="integrated_gradients", steps=4, reduce="abs")
    assert b.values.shape == SHAPE and (b.values >= 0).all() and b.method == "integrated_gradients"
    with pytest.raises(ValueError, match="shape"):
        E.explain_map(model, X, feature="mfcc")
    fig = E.plot_attribution(X[0], a)
    assert len([ax for ax in fig.axes if ax.images]) == 2
    chroma = E.Attribution(values=np.zeros((12, 126)), bin_labels=E.bin_labels("chroma"),
                           frame_times_s=E.frame_times("chroma"), method="occlusion", feature="chroma")
    fig = E.plot_attribution(np.ones((12, 126)), chroma)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "C" and labels[-1] == "B" and fig.axes[0].get_xlabel() == "time (s)"
