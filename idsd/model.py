"""The paper's detector: three parallel TCN towers, written with Keras 3 layers only.

Upstream (``model_average.py`` / ``model_max.py`` / ``spectrogram-generator/model.py``) builds

.. code-block:: text

    inp = Input((n_bins, n_frames))                          # a feature array as stored
    t_k = TCN(kernel_size=k, return_sequences=True,
              padding="causal", dropout_rate=0.2)(inp)       # k = 3, 5, 7 (keras-tcn defaults)
    t_k = AveragePooling1D(10, 5)(t_k)  |  MaxPooling1D(2, 1)(t_k)
    x = concatenate([t_3, t_5, t_7], axis=1)                 # along the SEQUENCE axis
    x = BatchNormalization()(x); x = Dropout(0.2)(x); x = Flatten()(x)
    out = Dense(1, activation="sigmoid")(x)                  # P(real)

Axes. A feature array is (n_bins, n_frames): frequency bins (mel bands, STFT bins, CQT/VQT/IIRT
bins, MFCC coefficients, chroma classes) by time frames. Upstream feeds it to the TCN as it is, so
**the sequence axis the TCN convolves and pools over is frequency** and the 126 (MFCC: 63) time
frames are its input channels. This module keeps that (it is the paper's model) and names the axes
``n_bins`` (sequence) and ``n_frames`` (channels) throughout.

with keras-tcn (64 filters, dilations 1..32, one stack, skip connections, relu, he_normal). The
keras-tcn layer imports TensorFlow directly, so this module re-creates its residual blocks from
plain Keras 3 layers (the model then runs on the TensorFlow, JAX and PyTorch backends and loads in
safe mode without custom objects). Structure of one keras-tcn 3.5.7 ``ResidualBlock``::

    x1 = SDrop(relu(Conv1D_d(SDrop(relu(Conv1D_d(x))))))    # two dilated causal convolutions
    x1 = relu(x1)                                            # 'Act_Conv_Blocks' (idempotent)
    x2 = Conv1D_1x1(x) if channels(x) != 64 else x           # 'matching_conv1D'
    next = relu(x1 + x2)                                     # 'Act_Res_Block'
    skip = x1

and the TCN output (``return_sequences=True``, skip connections on) is the plain sum of the six
skip outputs, with no activation after the sum. The parameter counts equal keras-tcn's for every
input (tested against the reference table below and, when ``tcn`` imports, layer by layer).
"""

from __future__ import annotations

import logging
import re

import keras
from keras import layers

log = logging.getLogger(__name__)

KERNEL_SIZES = (3, 5, 7)
NB_FILTERS = 64
DILATIONS = (1, 2, 4, 8, 16, 32)
DROPOUT = 0.2
POOLINGS = {"avg": (10, 5), "max": (2, 1)}
"""Upstream pooling presets: ``pooling -> (pool_size, strides)``."""

PAPER_INPUT_SHAPES = {
    "image": (640, 480), "mel": (256, 126), "stft": (513, 126), "cqt": (84, 126), "vqt": (84, 126),
    "iirt": (85, 126), "mfcc": (40, 63), "chroma": (12, 126),
}
"""Model input (n_bins, n_frames) of each upstream input: the array features' (freq_bins, frames), and the image."""

REFERENCE_PARAMS = {
    "image": {"avg": 1_255_937, "max": 1_354_241},
    "mel": {"avg": 833_345, "max": 872_705},
    "stft": {"avg": 843_137, "max": 922_049},
    "cqt": {"avg": 826_625, "max": 839_681},
    "vqt": {"avg": 826_625, "max": 839_681},
    "iirt": {"avg": 826_817, "max": 839_873},
    "mfcc": {"avg": 752_513, "max": 758_657},
    "chroma": {"avg": 823_937, "max": 825_857},
}
"""Parameter counts of the reference implementation (keras-tcn 3.5.7 on TF 2.21, counted with that implementation)."""


def pooling_settings(pooling: str = "avg", pool_size: int | None = None,
                     strides: int | None = None) -> tuple[int, int]:
    """Resolve the pooling preset and its overrides.

    Parameters
    ----------
    pooling : {"avg", "max"}
        AveragePooling1D (default (10, 5), the SAC-era model) or MaxPooling1D (default (2, 1)).
    pool_size, strides : int, optional
        Overrides of the preset. When only ``pool_size`` is given, ``strides`` keeps the preset
        value unless it would exceed ``pool_size``, in which case it becomes ``pool_size``.

    Returns
    -------
    (pool_size, strides) : tuple of int
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {sorted(POOLINGS)}, got {pooling!r}")
    p, s = POOLINGS[pooling]
    if pool_size is not None:
        p = int(pool_size)
        if strides is None:
            s = min(s, p)
    if strides is not None:
        s = int(strides)
    if p < 1 or s < 1:
        raise ValueError(f"pool_size and strides must be >= 1, got {p}, {s}")
    return p, s


def run_name(feature: str, pooling: str = "avg", pool_size: int | None = None) -> str:
    """Upstream model name ``<feature>_<pooling>_<setting>`` (setting = pool size).

    Examples
    --------
    >>> run_name("mel")
    'mel_avg_10'
    >>> run_name("mel", "max")
    'mel_max_2'
    """
    p, _ = pooling_settings(pooling, pool_size)
    return f"{feature}_{pooling}_{p}"


_RUN_RE = re.compile(r"^(?P<feature>[a-z0-9]+)_(?P<pooling>[a-z]+)_(?P<setting>[0-9]+)(?:-seed(?P<seed>[0-9]+))?$")


def parse_run_name(run: str) -> dict:
    """``"mel_avg_10"`` -> ``{"feature": "mel", "pooling": "avg", "setting": "10", "seed": 0}``.

    A ``-seed<k>`` suffix (extra training seeds) gives ``seed = k``. Names that do not follow
    ``<feature>_<pooling>_<setting>`` give ``feature = run``.
    """
    m = _RUN_RE.match(run)
    if m:
        d = m.groupdict()
        d["seed"] = int(d["seed"] or 0)
        return d
    return {"feature": run.split("_")[0] if "_" in run else run, "pooling": "", "setting": "", "seed": 0}


def _residual_block(x, k: int, dilation: int, index: int, prefix: str):
    """One keras-tcn residual block; returns ``(residual_output, skip_output)``, each (batch, n_bins, 64)."""
    name = f"{prefix}_block{index}"
    x1 = x
    for j in range(2):
        x1 = layers.Conv1D(NB_FILTERS, k, dilation_rate=dilation, padding="causal",
                           kernel_initializer="he_normal", name=f"{name}_conv{j}")(x1)
        x1 = layers.Activation("relu", name=f"{name}_relu{j}")(x1)
        x1 = layers.SpatialDropout1D(DROPOUT, name=f"{name}_sdrop{j}")(x1)
    x1 = layers.Activation("relu", name=f"{name}_act_conv_blocks")(x1)
    if x.shape[-1] != NB_FILTERS:
        x2 = layers.Conv1D(NB_FILTERS, 1, padding="same", kernel_initializer="he_normal",
                           name=f"{name}_matching_conv")(x)
    else:
        x2 = x
    return x1, x2


def tcn_tower(inputs, k: int, prefix: str | None = None):
    """A keras-tcn ``TCN(kernel_size=k, return_sequences=True, padding="causal", dropout_rate=0.2)``.

    Parameters
    ----------
    inputs : KerasTensor, shape (batch, n_bins, n_frames)
    k : int
        Kernel size.
    prefix : str, optional
        Layer-name prefix (default ``tcn{k}``).

    Returns
    -------
    KerasTensor, shape (batch, n_bins, 64)
        Sum of the six blocks' skip outputs.
    """
    prefix = prefix or f"tcn{k}"
    x, skips = inputs, []
    for i, d in enumerate(DILATIONS):
        x1, x2 = _residual_block(x, k, d, i, prefix)
        skips.append(x1)
        if i < len(DILATIONS) - 1:  # the last block's residual output feeds nothing
            x = layers.Activation("relu", name=f"{prefix}_block{i}_act_res")(
                layers.Add(name=f"{prefix}_block{i}_add_res")([x2, x1]))
    return layers.Add(name=f"{prefix}_add_skip")(skips)


def build_model(input_shape: tuple[int, int], pooling: str = "avg", pool_size: int | None = None,
                strides: int | None = None, name: str | None = None) -> keras.Model:
    """Build the upstream three-tower TCN detector (uncompiled).

    Parameters
    ----------
    input_shape : (n_bins, n_frames)
        Model input without the batch axis: the feature's ``(freq_bins, frames)`` in array mode
        (e.g. mel ``(256, 126)``), ``(640, 480)`` in image mode. The first axis is the sequence
        axis of the TCN.
    pooling : {"avg", "max"}
        ``avg`` = AveragePooling1D(10, 5) (SAC-era), ``max`` = MaxPooling1D(2, 1) (``model_max.py``).
    pool_size, strides : int, optional
        Override the preset's pool size / strides.
    name : str, optional
        Model name (default ``idsd_tcn_<pooling>_<pool_size>``).

    Returns
    -------
    keras.Model
        Input (batch, n_bins, n_frames) float -> output (batch, 1) float32 sigmoid = P(real). The output layer is
        float32 under a mixed-precision policy.
    """
    if len(input_shape) != 2 or any(int(s) < 1 for s in input_shape):
        raise ValueError(f"input_shape must be (n_bins, n_frames) with positive sizes, got {input_shape!r}")
    n_bins, n_frames = (int(s) for s in input_shape)
    p, s = pooling_settings(pooling, pool_size, strides)
    if n_bins < p:
        raise ValueError(f"sequence length (frequency bins) {n_bins} is shorter than the pool size {p}")
    Pool = layers.AveragePooling1D if pooling == "avg" else layers.MaxPooling1D
    inp = keras.Input((n_bins, n_frames), name="features")
    towers = []
    for k in KERNEL_SIZES:
        t = tcn_tower(inp, k)
        towers.append(Pool(pool_size=p, strides=s, padding="valid", name=f"pool{k}")(t))
    x = layers.Concatenate(axis=1, name="concat_seq")(towers)
    x = layers.BatchNormalization(name="batch_norm")(x)
    x = layers.Dropout(DROPOUT, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(1, activation="sigmoid", dtype="float32", name="p_real")(x)
    return keras.Model(inp, out, name=name or f"idsd_tcn_{pooling}_{p}")
from idsd.upstream import load_upstream  # noqa: E402,F401  (the authors' keras-tcn .h5 models)
