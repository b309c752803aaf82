"""The three-tower TCN: parameter counts (the reference table), structure, keras-tcn equivalence, causality."""

from __future__ import annotations

import importlib.util

import keras
import numpy as np
import pytest
from conftest import requires

from idsd.model import (
    PAPER_INPUT_SHAPES,
    REFERENCE_PARAMS,
    build_model,
    pooling_settings,
    run_name,
    tcn_tower,
)

# Parameter counts of the reference implementation (keras-tcn 3.5.7 on TF 2.21) for each upstream
# input: the specification build_model must meet, stated here, independently of idsd.model.
KERAS_TCN_PARAMS = {
    "image": {"avg": 1_255_937, "max": 1_354_241},
    "mel": {"avg": 833_345, "max": 872_705},
    "stft": {"avg": 843_137, "max": 922_049},
    "cqt": {"avg": 826_625, "max": 839_681},
    "vqt": {"avg": 826_625, "max": 839_681},
    "iirt": {"avg": 826_817, "max": 839_873},
    "mfcc": {"avg": 752_513, "max": 758_657},
    "chroma": {"avg": 823_937, "max": 825_857},
}


@pytest.mark.parametrize("pooling", ["avg", "max"])
@pytest.mark.parametrize("feature", sorted(KERAS_TCN_PARAMS))
def test_parameter_count_matches_reference(feature, pooling):
    """The model built for each upstream input has the reference implementation's parameter count,
    and idsd.model.REFERENCE_PARAMS (printed in the docs) states the count of the model it builds."""
    model = build_model(PAPER_INPUT_SHAPES[feature], pooling)
    assert model.count_params() == KERAS_TCN_PARAMS[feature][pooling]
    assert REFERENCE_PARAMS[feature][pooling] == model.count_params()


def test_paper_input_shapes_are_the_feature_shapes():
    """The model input shapes are those idsd.features produces (array mode; the image mode's image)."""
    from idsd import features

    assert set(PAPER_INPUT_SHAPES) == set(features.FEATURES) | {"image"} == set(REFERENCE_PARAMS)
    for f in features.FEATURES:
        assert PAPER_INPUT_SHAPES[f] == features.feature_shape(f, "array"), f
    assert {features.feature_shape(f, "image") for f in features.FEATURES} == {PAPER_INPUT_SHAPES["image"]}


def test_structure_and_output():
    model = build_model((40, 63))
    assert model.input_shape == (None, 40, 63)
    assert model.output_shape == (None, 1)
    # concat along the sequence axis: 3 towers x floor((40 - 10) / 5 + 1) = 21 steps of 64 channels
    assert model.get_layer("concat_seq").output.shape[1:] == (21, 64)
    assert model.get_layer("flatten").output.shape[-1] == 21 * 64
    assert model.get_layer("p_real").activation.__name__ == "sigmoid"
    dil = [model.get_layer(f"tcn5_block{i}_conv0").dilation_rate[0] for i in range(6)]
    assert dil == [1, 2, 4, 8, 16, 32]
    assert model.get_layer("tcn7_block0_conv1").kernel_size == (7,)
    assert model.get_layer("tcn3_block0_conv0").padding == "causal"
    # only the first block needs a 1x1 matching conv (63 -> 64 channels)
    names = [layer.name for layer in model.layers]
    assert [n for n in names if "matching" in n] == [f"tcn{k}_block0_matching_conv" for k in (3, 5, 7)]
    x = np.random.default_rng(0).random((3, 40, 63), dtype=np.float32)
    p = keras.ops.convert_to_numpy(model(x, training=False))
    # one finite probability per clip, and it depends on the clip (the towers reach the output)
    assert p.shape == (3, 1) and np.all(np.isfinite(p)) and np.ptp(p) > 0


def test_channel_count_64_needs_no_matching_conv():
    model = build_model((32, 64))
    assert not [layer for layer in model.layers if "matching" in layer.name]


def test_pooling_settings_and_run_name():
    assert pooling_settings("avg") == (10, 5)
    assert pooling_settings("max") == (2, 1)
    assert pooling_settings("max", 10) == (10, 1)
    assert pooling_settings("avg", 4) == (4, 4)
    assert pooling_settings("avg", 20, 10) == (20, 10)
    assert run_name("mel") == "mel_avg_10"
    assert run_name("mel", "max") == "mel_max_2"
    assert run_name("cqt", "max", 10) == "cqt_max_10"
    with pytest.raises(ValueError, match="pooling"):
        pooling_settings("min")
    with pytest.raises(ValueError, match="shorter than the pool size"):
        build_model((8, 12))
    with pytest.raises(ValueError, match="input_shape"):
        build_model((256,))


def test_tower_is_causal():
    """Changing step t of the input never changes the tower's output before t."""
    inp = keras.Input((48, 5))
    tower = keras.Model(inp, tcn_tower(inp, 3))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 48, 5)).astype("float32")
    x2 = x.copy()
    x2[:, 30:] += rng.normal(size=(1, 18, 5)).astype("float32")
    a = keras.ops.convert_to_numpy(tower(x, training=False))
    b = keras.ops.convert_to_numpy(tower(x2, training=False))
    np.testing.assert_allclose(a[:, :30], b[:, :30], rtol=1e-5, atol=1e-5)
    assert np.abs(a[:, 30:] - b[:, 30:]).max() > 1e-3


def _ours_in_keras_tcn_order(model, k):
    out = []
    for i in range(6):
        for j in range(2):
            out += model.get_layer(f"tcn{k}_block{i}_conv{j}").weights
        if i == 0:
            out += model.get_layer(f"tcn{k}_block0_matching_conv").weights
    return out


@requires(importlib.util.find_spec("tcn") is not None, "keras-tcn")
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="keras-tcn needs the TensorFlow backend")
@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_matches_keras_tcn_layer_by_layer(pooling):
    from tcn import TCN

    shape = (40, 63)
    p, s = pooling_settings(pooling)
    Pool = keras.layers.AveragePooling1D if pooling == "avg" else keras.layers.MaxPooling1D
    inp = keras.Input(shape)
    towers = [Pool(pool_size=p, strides=s, padding="valid")(
        TCN(kernel_size=k, return_sequences=True, padding="causal", dropout_rate=0.2)(inp)) for k in (3, 5, 7)]
    x = keras.layers.concatenate(towers, axis=1)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.Flatten()(x)
    ref = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(x))
    ours = build_model(shape, pooling)
    assert ours.count_params() == ref.count_params()

    tcn_layers = [layer for layer in ref.layers if isinstance(layer, TCN)]
    assert [t.kernel_size for t in tcn_layers] == [3, 5, 7]
    rng = np.random.default_rng(0)
    for t, k in zip(tcn_layers, (3, 5, 7)):
        theirs, mine = t.weights, _ours_in_keras_tcn_order(ours, k)
        assert [tuple(w.shape) for w in theirs] == [tuple(w.shape) for w in mine], f"tower k={k}"
        for w_ref, w_ours in zip(theirs, mine):
            value = rng.normal(scale=0.1, size=tuple(w_ref.shape)).astype("float32")
            w_ref.assign(value)
            w_ours.assign(value)
    bn_ref = next(layer for layer in ref.layers if isinstance(layer, keras.layers.BatchNormalization))
    dense_ref = ref.layers[-1]
    pairs = list(zip(bn_ref.weights + dense_ref.weights,
                     ours.get_layer("batch_norm").weights + ours.get_layer("p_real").weights))
    assert len(pairs) == 6  # gamma, beta, moving mean, moving variance; kernel, bias
    for i, (w_ref, w_ours) in enumerate(pairs):
        assert tuple(w_ref.shape) == tuple(w_ours.shape)
        value = (rng.uniform(0.5, 1.5, size=tuple(w_ref.shape)) if i < 4
                 else rng.normal(scale=0.002, size=tuple(w_ref.shape))).astype("float32")
        w_ref.assign(value)
        w_ours.assign(value)

    xin = rng.normal(size=(4, *shape)).astype("float32")
    a = keras.ops.convert_to_numpy(ref(xin, training=False))
    b = keras.ops.convert_to_numpy(ours(xin, training=False))
    assert np.std(a) > 0
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    # the concatenated tower outputs (before BN) agree too, not just the sigmoid
    ref_mid = keras.Model(ref.input, ref.layers[ref.layers.index(bn_ref) - 1].output)
    ours_mid = keras.Model(ours.input, ours.get_layer("concat_seq").output)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours_mid(xin, training=False)),
                               keras.ops.convert_to_numpy(ref_mid(xin, training=False)), rtol=1e-4, atol=1e-4)
