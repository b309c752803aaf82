"""The upstream figure rendering and the fast template renderer agree pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import synthetic_clip

from idsd import CLIP_SAMPLES
from idsd import features as F
from idsd import images as I


def _compare(raw, feature):
    a = I.render_figure(raw, feature)
    b = I.render_fast(raw, feature)
    assert a.shape == b.shape == (480, 640, 4) and a.dtype == b.dtype == np.uint8
    ma, mb = I.to_model_input(a), I.to_model_input(b)
    diff = np.abs(ma - mb)
    return diff.mean(), (diff <= 2 / 255 + 1e-7).mean(), np.abs(a.astype(int) - b.astype(int)).max()


@pytest.mark.parametrize("feature", ["mel", "mfcc"])
def test_fast_path_matches_figure(feature):
    """mel (dB, magma, '%+2.0f dB' colorbar) and mfcc (coolwarm, data-dependent colour range)."""
    Y = np.stack([synthetic_clip("real", 4), synthetic_clip("fake", 5), np.zeros(CLIP_SAMPLES, np.float32)])
    raw = F.raw_batch(Y, feature)
    for r in raw:
        mad, within, worst = _compare(r, feature)
        assert mad < 2e-3 and within > 0.99, (feature, mad, within, worst)


@pytest.mark.slow
@pytest.mark.parametrize("feature", ["stft", "cqt", "vqt", "iirt", "chroma"])
def test_fast_path_matches_figure_other_features(feature):
    raw = F.raw_batch(synthetic_clip("real", 6)[None], feature)[0]
    mad, within, _ = _compare(raw, feature)
    assert mad < 2e-3 and within > 0.99


def test_image_mode_shape_and_range():
    out = F.extract_batch(np.stack([synthetic_clip("real", 7), synthetic_clip("fake", 8)]), "mel", "image")
    assert out.shape == (2, 640, 480) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    # the plot is not blank: title, axes and the spectrogram differ between the clips
    assert np.abs(out[0] - out[1]).mean() > 1e-3


def test_display_data_no_inf_for_silence():
    for f in F.FEATURES:
        raw = F.raw_batch(np.zeros((1, CLIP_SAMPLES), np.float32), f)[0]
        assert np.all(np.isfinite(I.display_data(raw, f)))


def test_loader_grayscale_and_resize():
    rgba = np.zeros((480, 640, 4), np.uint8)
    rgba[..., :3] = (255, 0, 0)
    g = I.grayscale(rgba)
    assert g.shape == (480, 640) and int(g[0, 0]) == 76  # PIL convert("L") of pure red
    rgba[:, 320:, :3] = 255
    m = I.to_model_input(rgba)
    assert m.shape == (640, 480)
    assert np.isclose(m[0, 0], 76 / 255) and np.isclose(m[-1, -1], 1.0)


def test_images_does_not_import_features():
    """The layering has no cycle: idsd.images needs idsd.feature_params only, idsd.features uses images."""
    import subprocess
    import sys

    code = ("import sys, idsd.images, idsd.paper_values; "
            "assert 'idsd.features' not in sys.modules, sorted(m for m in sys.modules if m.startswith('idsd'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    from idsd import feature_params, paper_values

    assert F.FEATURES is feature_params.FEATURES is paper_values.FEATURES
    assert F.IMAGE_SHAPE is I.IMAGE_SHAPE is feature_params.IMAGE_SHAPE

