"""``idsd detect FILE --explain OUT.png`` (idsd.detect_explain): why a file was called fake.

Synthetic task in the AUDIO: every clip holds a voice-like harmonic tone (random f0, below 1 kHz);
fake clips also hold a noise band at 4.5-7 kHz, real clips do not. A small Keras detector
(a logistic regression on each band's mean level) is trained for a few seconds on mel features in dB mode (32 mel bands,
hop 512: input (32, 63)), saved as ``.keras`` with its model record, and loaded as
``idsd detect`` does. The explanation of a 5-s fake file must cover its 3 windows and put most
of the evidence for fake in 4-8 kHz.
"""

from __future__ import annotations

import json
import time

import keras
import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from idsd.artifact import write_record
from idsd.detect import Detector, DetectorConfigError
from idsd.detect_explain import (
    check_output_png,
    choose_windows,
    explain_figure,
    explain_file,
    explain_windows,
    summary_line,
)
from idsd.errors import AudioError

SR = 16000
FEATURE, MODE = "mel", "db"
OVERRIDES = {"n_mels": 32, "hop_length": 512}


def _clip(fake: bool, seconds: float, seed: int) -> np.ndarray:
    """Harmonic tone (f0 100-220 Hz, 4 partials) plus, when fake, a 4.5-7 kHz noise band."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * SR))
    t = np.arange(n) / SR
    f0 = rng.uniform(100, 220)
    y = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k for k in range(1, 5))
    y = 0.2 * y / np.abs(y).max()
    if fake:
        sos = butter(6, [4500, 7000], btype="bandpass", fs=SR, output="sos")
        y = y + 0.05 * sosfilt(sos, rng.normal(size=n))
    return (y + 1e-3 * rng.normal(size=n)).astype(np.float32)


def _write(path, y):
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, SR, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A mel/db detector trained for a few seconds on the synthetic task, with its model record."""
    from idsd.features import extract_batch, feature_shape

    keras.utils.set_random_seed(0)
    n = 96
    W = np.stack([_clip(bool(i % 2), 2.0, i) for i in range(n)])
    y = (np.arange(n) % 2 == 0).astype(np.float32)  # 1 = real (even), fake = odd
    X = extract_batch(W, FEATURE, MODE, **OVERRIDES)
    shape = feature_shape(FEATURE, MODE, **OVERRIDES)
    # logistic regression on the mean dB level of each band, the silence floor (~0.3) shifted to 0:
    # with zero weights to start and plain SGD, bands that carry nothing keep small weights
    model = keras.Sequential([keras.Input(shape), keras.layers.Rescaling(1.0, offset=-0.3),
                              keras.layers.GlobalAveragePooling1D(data_format="channels_first"),
                              keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros",
                                                 name="p_real")])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="binary_crossentropy")
    model.fit(X, y, epochs=30, batch_size=16, verbose=0)
    path = tmp_path_factory.mktemp("models") / "mel_dense_test.keras"
    model.save(path)
    write_record(path, {"feature": FEATURE, "mode": MODE, "overrides": OVERRIDES, "pooling": "none",
                        "train_corpus": "synthetic", "threshold": 0.5, "threshold_source": "dev EER",
                        "dev_eer": 0.0, "input_shape": list(shape)})
    return path


@pytest.fixture(scope="module")
def detector(model_path):
    return Detector.load(model_path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    out = {
        "fake5": _write(d / "fake_5s.wav", _clip(True, 5.0, 1001)),
        "real5": _write(d / "real_5s.wav", _clip(False, 5.0, 1002)),
        "fake11": _write(d / "fake_11s.wav", _clip(True, 11.0, 1003)),
        "corrupt": d / "corrupt.wav",
    }
    out["corrupt"].write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    return d, out


def _main(argv):
    from idsd.cli import main

    return main(["detect", *map(str, argv)])


# --------------------------------------------------------------------------- the model and the file


def test_the_detector_learnt_the_band(detector):
    real = detector.score_windows(np.stack([_clip(False, 2.0, 500 + i) for i in range(8)]))
    fake = detector.score_windows(np.stack([_clip(True, 2.0, 600 + i) for i in range(8)]))
    assert (real > 0.5).all() and (fake <= 0.5).all(), (real, fake)


def test_cli_explain_writes_a_png_and_keeps_stdout_machine_readable(model_path, files, tmp_path, capsys):
    from matplotlib.image import imread

    _, f = files
    out = tmp_path / "out.png"
    assert _main([f["fake5"], "--model", model_path, "--explain", out, "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # stdout is still only the JSON report
    assert doc["files"][0]["windows"] == 3 and doc["files"][0]["decision"] == "fake"
    line = [ln for ln in captured.err.splitlines() if ln.startswith("explanation:")]
    assert len(line) == 1 and line[0].startswith(f"explanation: {out} (3 windows, occlusion, band shares ")
    assert "4-8 kHz" in line[0]
    img = imread(out)
    assert img.ndim == 3 and img.shape[0] > 400 and img.shape[1] > 600
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically, no temporary left

    out2 = tmp_path / "ig.png"
    assert _main([f["real5"], "--model", model_path, "--explain", out2, "--explain-method",
                  "integrated_gradients", "--csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("file,") and "integrated_gradients" in captured.err
    assert imread(out2).shape[0] > 400


def test_explain_file_result_agrees_with_detect(detector, files, tmp_path):
    _, f = files
    info = explain_file(detector, f["fake5"], tmp_path / "a.png")
    results, errors = detector.detect_files([f["fake5"]])
    assert len(errors) == 0
    assert set(info) >= {"file", "out", "score", "decision", "n_windows", "n_explained", "method", "target",
                         "band_shares"}
    assert info["file"] == str(f["fake5"]) and info["out"] == str(tmp_path / "a.png")
    assert (info["n_windows"], info["n_explained"], info["method"], info["target"]) == (3, 3, "occlusion", "fake")
    assert info["score"] == pytest.approx(results.loc[0, "score"], abs=1e-6)
    assert info["decision"] == results.loc[0, "decision"] == "fake"
    shares = info["band_shares"]
    assert list(shares) == ["0-1000 Hz", "1000-4000 Hz", "4000-8000 Hz"]
    assert shares["4000-8000 Hz"] > 0.5 and shares["4000-8000 Hz"] == max(shares.values()), shares
    assert sum(shares.values()) == pytest.approx(1.0)
    assert "3 windows" in summary_line(info) and "4-8 kHz" in summary_line(info)


def test_the_figure_has_three_rows_on_one_time_axis(detector, files):
    _, f = files
    ex = explain_windows(detector, f["fake5"])
    assert ex.X.shape == (3, 32, 63) and ex.attribution.shape == (3, 32, 63)
    fig = explain_figure(ex)
    ax_in, ax_p, ax_a = fig.axes[:3]
    assert ax_in.get_ylabel() == "frequency" and ax_a.get_ylabel() == "frequency"
    assert ax_p.get_ylabel() == "P(real)" and ax_a.get_xlabel() == "time (s)"
    assert ax_in.get_xlim() == pytest.approx((0.0, 6.0)) and ax_a.get_xlim() == pytest.approx((0.0, 6.0))
    assert ax_in.get_shared_x_axes().joined(ax_in, ax_p) and ax_in.get_shared_x_axes().joined(ax_in, ax_a)
    ticks = [t.get_text() for t in ax_in.get_yticklabels()]
    assert any(t.endswith("kHz") for t in ticks) and any(t.endswith(" Hz") for t in ticks)
    # the model input as the model saw it: windows side by side
    np.testing.assert_array_equal(ax_in.images[0].get_array(), np.concatenate(list(ex.X), axis=1))
    # bars: one per window, heights = window P(real), red = fake; the threshold line
    heights = [b.get_height() for b in ax_p.patches[:3]]
    np.testing.assert_allclose(heights, ex.window_scores)
    assert any(np.allclose(ln.get_ydata(), 0.5) for ln in ax_p.lines)
    assert "fake" in ax_p.get_title() and f"{ex.score:.3f}" in ax_p.get_title()
    # the map: symmetric diverging scale, colour bar names the explained class
    norm = ax_a.images[0].norm
    assert norm.vmin == -norm.vmax > -np.inf
    labels = [ax.get_ylabel() for ax in fig.axes[3:]]
    assert len(labels) == 2 and "model input (db)" in labels[0] and labels[1].startswith("evidence for fake")
    assert "all 3 windows explained" in ax_a.get_title() and "4-8 kHz" in ax_a.get_title()
    title = fig._suptitle.get_text()
    for part in ("fake_5s.wav", "feature mel", f"{ex.score:.3f}", "FAKE", "dev EER"):
        assert part in title, (part, title)


def test_a_feature_without_hz_says_so(tmp_path, files):
    """An (untrained, seeded) MFCC model: MFCC k ticks, 'no Hz axis', band_shares None; target real."""
    from idsd.features import feature_shape

    keras.utils.set_random_seed(1)
    shape = feature_shape("mfcc", "array")
    model = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(1, activation="sigmoid")])
    det = Detector(model, "mfcc", "array", threshold=0.5)
    _, f = files
    ex = explain_windows(det, f["real5"], target="real")
    assert ex.band_shares is None and ex.method_kwargs["band_size"] == 1  # 40 coefficients -> 40 bands
    fig = explain_figure(ex)
    assert fig.axes[0].get_ylabel() == "MFCC coefficient"
    assert all(t.get_text().startswith("MFCC ") for t in fig.axes[0].get_yticklabels())
    assert "no Hz axis" in fig.axes[2].get_title() and fig.axes[-1].get_ylabel().startswith("evidence for real")
    info = explain_file(det, f["real5"], tmp_path / "m.png", target="predicted")
    assert info["band_shares"] is None and info["target_class"] == info["decision"]
    assert "band shares: no Hz axis" in summary_line(info)


def test_a_long_file_explains_only_max_windows_and_says_so(detector, files, tmp_path):
    _, f = files
    ex = explain_windows(detector, f["fake11"], max_windows=3)
    assert ex.n_windows == 6 and ex.n_explained == 3 and ex.explained.tolist() == [0, 2, 5]
    assert ex.attribution.shape == (3, 32, 63)
    fig = explain_figure(ex)
    assert "3 of 6 windows explained" in fig.axes[2].get_title()
    shown = np.ma.getmaskarray(fig.axes[2].images[0].get_array())
    assert shown[:, 63:126].all() and not shown[:, :63].any()  # window 1 not explained: grey
    info = explain_file(detector, f["fake11"], tmp_path / "long.png", max_windows=3)
    assert (info["n_windows"], info["n_explained"], info["explained_windows"]) == (6, 3, [0, 2, 5])
    assert "(3 of 6 windows, occlusion" in summary_line(info)
    assert choose_windows(4, 30).tolist() == [0, 1, 2, 3] and choose_windows(100, 1).tolist() == [0]
    picked = choose_windows(1000, 30)
    assert len(set(picked.tolist())) == 30 and picked[0] == 0 and picked[-1] == 999
    with pytest.raises(ValueError, match="max_windows"):
        explain_windows(detector, f["fake5"], max_windows=0)


def test_bad_explain_arguments_exit_2_before_the_model_loads(model_path, files, tmp_path, capsys, monkeypatch):
    import idsd.detect

    def no_load(*a, **k):
        raise AssertionError("the model must not be loaded")

    monkeypatch.setattr(idsd.detect.Detector, "load", no_load)
    monkeypatch.setattr(idsd.detect, "find_model", no_load)
    folder, f = files
    t0 = time.perf_counter()
    cases = [
        ([folder], "exactly one audio FILE, not a folder"),
        ([f["fake5"], f["real5"]], "exactly one audio FILE, not 2 paths"),
        ([f["fake5"]], "/nonexistent/dir/x.png"),
    ]
    for paths, expected in cases:
        out = "/nonexistent/dir/x.png" if expected.startswith("/") else tmp_path / "x.png"
        assert _main([*paths, "--model", model_path, "--explain", out]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err and "Traceback" not in err, err
    assert "/nonexistent/dir" in err and "does not exist" in err
    assert _main([f["fake5"], "--model", model_path, "--explain", tmp_path / "x.jpg"]) == 2
    err = capsys.readouterr().err
    assert "x.jpg" in err and ".png" in err
    assert _main([f["fake5"], "--model", model_path, "--explain", tmp_path]) == 2  # a folder as OUT
    assert str(tmp_path) in capsys.readouterr().err
    assert time.perf_counter() - t0 < 5.0
    assert check_output_png(tmp_path / "ok.png") is None
    with pytest.raises(OSError, match="does not exist"):
        explain_file(None, f["fake5"], tmp_path / "missing" / "x.png")


def test_an_unreadable_file_is_one_line_exit_1(model_path, detector, files, tmp_path, capsys):
    _, f = files
    out = tmp_path / "c.png"
    assert _main([f["corrupt"], "--model", model_path, "--explain", out]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = [ln for ln in captured.err.splitlines() if "not explained" in ln]
    assert len(lines) == 1 and str(f["corrupt"]) in lines[0]
    assert not out.exists()
    with pytest.raises(AudioError, match="corrupt.wav"):
        explain_file(detector, f["corrupt"], out)
    assert _main([tmp_path / "nope.wav", "--model", model_path, "--explain", out]) == 1
    assert "nope.wav: file not found" in capsys.readouterr().err


def test_image_models_are_refused():
    det = Detector(None, "mel", "image")
    with pytest.raises(DetectorConfigError, match="--explain needs an array or db model"):
        explain_windows(det, "whatever.wav")


def test_the_maps_are_deterministic(detector, files):
    _, f = files
    for method in ("occlusion", "integrated_gradients"):
        a = explain_windows(detector, f["fake5"], method=method)
        b = explain_windows(detector, f["fake5"], method=method)
        assert np.abs(a.attribution).max() > 0
        np.testing.assert_array_equal(a.attribution, b.attribution)
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.window_scores, b.window_scores)
