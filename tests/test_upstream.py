"""The authors' keras-tcn ``.h5`` models load into this package's model and score the same.

The reference files are written here, once per module, by the upstream code path itself: Keras 2
(tf-keras, ``TF_USE_LEGACY_KERAS=1``) with keras-tcn, the model built as upstream
``model_average.py`` / ``model_max.py`` build it, saved with ``model.save_weights`` (how the
published ``<feature>_<pooling>_<setting>.h5`` were written) and with ``model.save``. Keras 2
also predicts on fixed inputs and on the features of generated clips; this package's Keras 3
model must give the same P(real), directly (:func:`idsd.model.load_upstream`) and through
``idsd detect`` and ``idsd eval``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import _write_clip, requires, synthetic_clip

from idsd.errors import InputError, MissingInputError
from idsd.model import PAPER_INPUT_SHAPES, load_upstream
from idsd.upstream import IMAGE_SHAPE, UPSTREAM_FEATURES, upstream_info

HAVE_KERAS2 = importlib.util.find_spec("tcn") is not None and importlib.util.find_spec("tf_keras") is not None
KERAS2 = requires(HAVE_KERAS2, "keras-tcn and tf-keras (requirements-tcn.txt)")

# Keras 2 + keras-tcn, the upstream model as model_average.py / model_max.py build it
WRITE_KERAS2 = r"""
import json, os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np
import tensorflow as tf
from tensorflow.keras.layers import Dense, Input
from tensorflow.keras import Model
import tf_keras
import tcn
from tcn import TCN

assert tf.keras.Model.__module__.startswith("tf_keras"), tf.keras.Model.__module__
out, clip_features = sys.argv[1], sys.argv[2]
tf.keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


def build_model(time_steps, input_dim, pool):  # upstream model_average.py / model_max.py
    input_shape = Input(shape=(time_steps, input_dim))
    pool_size, strides = (10, 5) if pool == "avg" else (2, 1)
    Pool = tf.keras.layers.AveragePooling1D if pool == "avg" else tf.keras.layers.MaxPooling1D
    towers = []
    for k in (3, 5, 7):
        t = TCN(input_shape=(time_steps, input_dim), kernel_size=k, return_sequences=True, padding='causal',
                dropout_rate=0.2)(input_shape)
        towers.append(Pool(pool_size=pool_size, strides=strides, padding='valid')(t))
    concat = tf.keras.layers.concatenate(towers, axis=1)
    normalized = tf.keras.layers.BatchNormalization()(concat)
    dropped = tf.keras.layers.Dropout(.2)(normalized)
    out = tf.keras.layers.Flatten()(dropped)
    out = Dense(1, activation='sigmoid')(out)
    model = Model(inputs=[input_shape], outputs=[out])
    model.compile(optimizer='adam', loss=tf.keras.losses.BinaryCrossentropy(from_logits=False),
                  metrics=['accuracy'])
    return model


def perturb(model, x):
    # trained-looking weights: every bias, the batch-norm statistics (near those of x, so the sigmoid
    # does not saturate) and the dense layer non-trivial
    for layer in model.layers:
        if layer.weights and not isinstance(layer, (tf.keras.layers.BatchNormalization, Dense)):
            layer.set_weights([rng.normal(scale=0.05, size=w.shape).astype("float32") if w.shape.rank == 1
                               else w.numpy() for w in layer.weights])
    bn = next(layer for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization))
    h = Model(model.inputs, bn.input).predict(x, verbose=0)
    mean, var = h.mean(axis=(0, 1)), h.var(axis=(0, 1))
    c = mean.size
    bn.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(scale=0.2, size=c),
                    mean * rng.uniform(0.8, 1.2, c), var * rng.uniform(0.8, 1.2, c) + 1e-3])
    dense = model.layers[-1]
    n = dense.weights[0].shape[0]
    dense.set_weights([rng.normal(scale=1.0 / np.sqrt(n), size=(n, 1)), rng.normal(scale=0.1, size=1)])


result = {"tf_keras": tf_keras.__version__, "tcn": tcn.__version__, "files": {}}
for name, (t, d), pool, save in [("mel_avg_10", (256, 126), "avg", "weights"),
                                 ("mfcc_max_2", (40, 63), "max", "model")]:
    model = build_model(t, d, pool)
    x = rng.random((4, t, d), dtype=np.float32)
    xc = np.load(clip_features) if name == "mel_avg_10" else x
    perturb(model, np.concatenate([x, xc]))
    path = os.path.join(out, name + ".h5")
    model.save_weights(path) if save == "weights" else model.save(path)
    np.save(os.path.join(out, name + ".x.npy"), x)
    np.save(os.path.join(out, name + ".p.npy"), model.predict(x, verbose=0))
    result["files"][name] = {"layers": [layer.name for layer in model.layers],
                             "params": int(model.count_params()), "save": save}
    if name == "mel_avg_10":
        np.save(os.path.join(out, "clips.p.npy"), model.predict(xc, verbose=0))
print(json.dumps(result))
"""

LOAD_JAX = r"""
import json, sys, numpy as np, keras
from idsd.model import load_upstream
out = sys.argv[1]
r = {"backend": keras.backend.backend()}
for name in ("mel_avg_10",):
    m = load_upstream(f"{out}/{name}.h5")
    r[name] = float(np.abs(np.asarray(m.predict(np.load(f"{out}/{name}.x.npy"), verbose=0))
                           - np.load(f"{out}/{name}.p.npy")).max())
print(json.dumps(r))
"""

CLIPS = [("real", 0), ("real", 1), ("real", 2), ("fake", 0), ("fake", 1), ("fake", 2)]


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """Reference files written by Keras 2 + keras-tcn, with their predictions; six 2-s clips."""
    if not HAVE_KERAS2:
        pytest.fail("keras-tcn and tf-keras are not installed (./run_tests.sh installs requirements-tcn.txt)",
                    pytrace=False)
    from idsd.audio import load_audio
    from idsd.features import extract_batch

    tmp = tmp_path_factory.mktemp("upstream")
    clips = [_write_clip(tmp / "audio" / label / f"{label}_{i}.wav", synthetic_clip(label, 10 + i))
             for label, i in CLIPS]
    X = extract_batch(np.stack([load_audio(p) for p in clips]), "mel", "array")
    np.save(tmp / "clips.x.npy", X)
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_USE_LEGACY_KERAS="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", WRITE_KERAS2, str(tmp), str(tmp / "clips.x.npy")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"dir": tmp, "info": info, "clips": clips, "clip_scores": np.load(tmp / "clips.p.npy").reshape(-1)}


def _copy(ref, name: str, tmp_path) -> str:
    dst = tmp_path / name
    dst.write_bytes((ref["dir"] / "mel_avg_10.h5").read_bytes())
    return str(dst)


# --------------------------------------------------------------------------- the layout Keras 2 writes


@KERAS2
def test_keras2_writes_the_layout_load_upstream_reads(ref):
    """What Keras 2 + keras-tcn write: the mapping in idsd.upstream's docstring, checked on the real files."""
    with h5py.File(ref["dir"] / "mel_avg_10.h5") as f:  # model.save_weights: weights at the top
        assert "model_weights" not in f
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        assert names == ref["info"]["files"]["mel_avg_10"]["layers"]
        assert names[:4] == ["input_1", "tcn", "tcn_1", "tcn_2"] and names[-1] == "dense"
        w = [n.decode() if isinstance(n, bytes) else n for n in f["tcn"].attrs["weight_names"]]
        assert len(w) == 26 and w[:6] == [
            "tcn/residual_block_0/conv1D_0/kernel:0", "tcn/residual_block_0/conv1D_0/bias:0",
            "tcn/residual_block_0/conv1D_1/kernel:0", "tcn/residual_block_0/conv1D_1/bias:0",
            "tcn/residual_block_0/matching_conv1D/kernel:0", "tcn/residual_block_0/matching_conv1D/bias:0"]
        assert w[-1] == "tcn/residual_block_5/conv1D_1/bias:0"
        assert f["tcn"]["tcn/residual_block_0/matching_conv1D/kernel:0"].shape == (1, 126, 64)
        assert f["tcn_2"]["tcn_2/residual_block_3/conv1D_0/kernel:0"].shape == (7, 64, 64)
        bn = [n.decode() if isinstance(n, bytes) else n for n in f["batch_normalization"].attrs["weight_names"]]
        assert bn == [f"batch_normalization/{v}:0" for v in ("gamma", "beta", "moving_mean", "moving_variance")]
        assert f["dense"]["dense/kernel:0"].shape == (3 * 50 * 64, 1)
    with h5py.File(ref["dir"] / "mfcc_max_2.h5") as f:  # model.save: under model_weights, with the config
        assert "model_config" in f.attrs and "layer_names" in f["model_weights"].attrs
        # the second model of the session: its layers are numbered on (tcn_3 ...), the towers told by kernel width
        assert "tcn_3" in f["model_weights"] and "dense_1" in f["model_weights"]


# --------------------------------------------------------------------------- same scores as keras-tcn


@KERAS2
@pytest.mark.parametrize(("name", "feature", "pooling", "layout"), [
    ("mel_avg_10", "mel", ("avg", 10, 5), "save_weights"), ("mfcc_max_2", "mfcc", ("max", 2, 1), "model")])
def test_load_upstream_scores_as_keras_tcn(ref, name, feature, pooling, layout):
    path = ref["dir"] / f"{name}.h5"
    info = upstream_info(path)
    assert (info.feature, info.mode, info.input_shape) == (feature, "array", PAPER_INPUT_SHAPES[feature])
    assert (info.pooling, info.pool_size, info.strides, info.layout) == (*pooling, layout)
    assert info.n_weights == 3 * 26 + 4 + 2 and info.keras_version.startswith("2.")
    model = load_upstream(path)
    assert model.count_params() == ref["info"]["files"][name]["params"]
    x, want = np.load(ref["dir"] / f"{name}.x.npy"), np.load(ref["dir"] / f"{name}.p.npy")
    got = np.asarray(model.predict(x, verbose=0))
    assert got.shape == want.shape == (4, 1) and np.ptp(want) > 1e-3  # not a constant output
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@KERAS2
def test_load_upstream_under_jax(ref):
    """h5py only, no TensorFlow: the same scores under KERAS_BACKEND=jax (the authors' save_weights file)."""
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", LOAD_JAX, str(ref["dir"])], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["backend"] == "jax"
    assert r["mel_avg_10"] < 1e-5


@KERAS2
def test_name_without_feature_needs_arguments(ref, tmp_path):
    path = _copy(ref, "authors_model.h5", tmp_path)
    with pytest.raises(InputError, match="authors_model.h5: unknown feature"):
        load_upstream(path)
    # the feature gives the input shape; the pooling preset is the one the Dense input fits
    info = upstream_info(path, feature="mel")
    assert (info.pooling, info.pool_size, info.strides, info.run) == ("avg", 10, 5, "mel_avg_10")
    model = load_upstream(path, input_shape=(256, 126), pooling="avg")
    x, want = np.load(ref["dir"] / "mel_avg_10.x.npy"), np.load(ref["dir"] / "mel_avg_10.p.npy")
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), want, atol=1e-5)


# --------------------------------------------------------------------------- every mismatch is one clear error


def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def _drop_weight(f):
    g = f["dense"]
    g.attrs["weight_names"] = [n for n in g.attrs["weight_names"] if "bias" not in str(n)]
    del g["dense/bias:0"]


def _extra_weight(f):
    g = f["tcn"]
    g.create_dataset("tcn/residual_block_6/conv1D_0/kernel:0", data=np.zeros((3, 64, 64), "float32"))
    g.attrs["weight_names"] = [*g.attrs["weight_names"], "tcn/residual_block_6/conv1D_0/kernel:0"]


def _bad_shape(f):
    del f["tcn_1"]["tcn_1/residual_block_2/conv1D_1/bias:0"]
    f["tcn_1"].create_dataset("tcn_1/residual_block_2/conv1D_1/bias:0", data=np.zeros(65, "float32"))


def _foreign_weight(f):
    g = f["dense"]
    g.create_dataset("dense/alpha:0", data=np.zeros(1, "float32"))
    g.attrs["weight_names"] = [*g.attrs["weight_names"], "dense/alpha:0"]


def _no_tower(f):
    f.attrs["layer_names"] = [n for n in f.attrs["layer_names"] if n not in ("tcn_2", b"tcn_2")]
    del f["tcn_2"]


def _unlisted_group(f):
    f.attrs["layer_names"] = [n for n in f.attrs["layer_names"] if n not in ("tcn_2", b"tcn_2")]


@KERAS2
@pytest.mark.parametrize(("edit", "message"), [
    (_drop_weight, r"1 weight\(s\) of the model are missing from the file \(e.g. p_real/bias\)"),
    (_extra_weight, r"1 stored weight\(s\) have no place in the model \(e.g. tcn/tcn/residual_block_6"),
    (_bad_shape, r"weight tcn_1/tcn_1/residual_block_2/conv1D_1/bias:0 has shape \(65,\), the model's "
                 r"tcn5_block2_conv1/bias needs \(64,\)"),
    (_foreign_weight, r"weight 'dense/alpha:0' \(1,\) has no place"),
    (_no_tower, r"missing keras-tcn TCN tower\(s\) with kernel size 7"),
    (_unlisted_group, r"group 'tcn_2' holds weights but is not in layer_names"),
])
def test_mismatch_is_one_line_error_naming_the_file(ref, tmp_path, edit, message):
    path = _edit(_copy(ref, "mel_avg_10.h5", tmp_path), edit)
    with pytest.raises(InputError, match=message) as exc:
        load_upstream(path)
    assert str(exc.value).startswith(f"{path}: ") and "\n" not in str(exc.value)


@KERAS2
def test_wrong_feature_or_pooling_is_an_error(ref, tmp_path):
    with pytest.raises(InputError, match=r"stft_avg_10.h5: the weights \(input channels 126, Dense input 9600\) "
                                         r"fit no model tried \(input \(513, 126\) with avg\(10, 5\)"):
        load_upstream(_copy(ref, "stft_avg_10.h5", tmp_path))
    with pytest.raises(InputError, match="fit no model tried"):
        load_upstream(_copy(ref, "mel_max_2.h5", tmp_path))
    with pytest.raises(InputError, match="unknown feature 'spectro'"):
        load_upstream(_copy(ref, "x.h5", tmp_path), feature="spectro")
    # model.save files carry their config: a pooling that contradicts it is refused
    with pytest.raises(InputError, match="model_config pools with 'max'"):
        load_upstream(ref["dir"] / "mfcc_max_2.h5", pooling="avg")


def _as_image_model(f):
    """The stored shapes of a 640x480 image model (upstream main branch): 480 input channels, 127 pooled steps."""
    for layer in ("tcn", "tcn_1", "tcn_2"):
        g = f[layer]
        for w in ("residual_block_0/conv1D_0/kernel:0", "residual_block_0/matching_conv1D/kernel:0"):
            k = g[f"{layer}/{w}"].shape[0]
            del g[f"{layer}/{w}"]
            g.create_dataset(f"{layer}/{w}", data=np.zeros((k, 480, 64), "float32"))
    del f["dense"]["dense/kernel:0"]
    f["dense"].create_dataset("dense/kernel:0", data=np.zeros((3 * 127 * 64, 1), "float32"))


@KERAS2
def test_image_models_are_told_by_their_weights(ref, tmp_path):
    path = _edit(_copy(ref, "cqt_avg_10.h5", tmp_path), _as_image_model)
    info = upstream_info(path)
    assert (info.feature, info.mode, info.input_shape, info.run) == ("cqt", "image", IMAGE_SHAPE, "cqt_avg_10")
    from idsd.artifact import find_models

    found = find_models(tmp_path, layout="any")
    assert list(found["run"]) == ["cqt_avg_10"] and list(found["mode"]) == ["image"]
    assert list(found["train_corpus"]) == ["upstream"]


def test_not_a_model_file(tmp_path):
    with pytest.raises(MissingInputError, match="mel_avg_10.h5: no such model file"):
        load_upstream(tmp_path / "mel_avg_10.h5")
    (tmp_path / "mel_avg_10.h5").write_text("not hdf5\n")
    with pytest.raises(InputError, match=r"mel_avg_10.h5: not an HDF5 file"):
        load_upstream(tmp_path / "mel_avg_10.h5")
    with h5py.File(tmp_path / "cqt_avg_10.h5", "w") as f:  # HDF5, but no Keras 2 weights
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(InputError, match="cqt_avg_10.h5: HDF5 file without Keras 2 weights"):
        load_upstream(tmp_path / "cqt_avg_10.h5")


def test_constants_are_the_model_module_s():
    assert set(UPSTREAM_FEATURES) == set(PAPER_INPUT_SHAPES) - {"image"}
    assert IMAGE_SHAPE == PAPER_INPUT_SHAPES["image"]


# --------------------------------------------------------------------------- the command line


@KERAS2
def test_idsd_detect_with_an_h5(ref, tmp_path, capsys):
    from idsd.cli import main

    model = _copy(ref, "mel_avg_10.h5", tmp_path)
    rc = main(["detect", *map(str, ref["clips"]), "--model", model, "--feature", "mel", "--json",
               "--outputs", str(tmp_path / "out")])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert doc["detector"]["feature"] == "mel" and doc["detector"]["mode"] == "array"
    assert doc["detector"]["threshold"] == 0.5 and ".h5 model stores no threshold" in doc["detector"]["threshold_source"]
    got = np.array([f["score"] for f in doc["files"]])
    assert [f["file"] for f in doc["files"]] == [str(p) for p in ref["clips"]]
    np.testing.assert_allclose(got, ref["clip_scores"], atol=1e-5)  # keras-tcn's scores of the same clips
    assert [f["decision"] for f in doc["files"]] == ["real" if s > 0.5 else "fake" for s in ref["clip_scores"]]
    # the feature from the file name when --feature is not given; a wrong one is refused
    assert main(["detect", str(ref["clips"][0]), "--model", model, "--json"]) == 0
    capsys.readouterr()
    assert main(["detect", str(ref["clips"][0]), "--model", model, "--feature", "cqt"]) == 2
    assert "fit no model tried" in capsys.readouterr().err


@KERAS2
def test_idsd_eval_with_a_folder_of_h5(ref, tmp_path, capsys):
    from idsd.cli import main

    models = tmp_path / "models"
    models.mkdir()
    _copy(ref, "models/mel_avg_10.h5", tmp_path)
    rows = [dict(path=str(p), dataset="toy", split="eval", label=label, target=int(label == "real"),
                 source="bonafide" if label == "real" else "toy-tts", speaker=f"spk{i}", fragment=0,
                 duration=2.0, condition="clean") for p, (label, i) in zip(ref["clips"], CLIPS)]
    manifest = tmp_path / "toy.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    rc = main(["eval", "-i", str(manifest), "-m", "_avg_10", "--models", str(models), "--features", "mel",
               "--outputs", str(tmp_path / "out"), "--scores", str(tmp_path / "s")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "mel_avg_10 (array, trained on upstream) on toy/eval" in out
    frame = pd.read_csv(tmp_path / "s" / "mel_avg_10.csv")
    by_path = dict(zip(frame["path"], frame["score"]))
    got = np.array([by_path[str(p)] for p in ref["clips"]])
    np.testing.assert_allclose(got, ref["clip_scores"], atol=1e-3)  # features through the (float16) cache
    summary = pd.read_csv(tmp_path / "s" / "eval_result_avg_10.csv").iloc[0]
    assert summary.genuine_accept == int((got[:3] > 0.5).sum()) and summary.n_genuine == summary.n_spoof == 3
