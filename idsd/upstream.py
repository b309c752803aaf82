"""Load the authors' published keras-tcn models (``<feature>_<pooling>_<setting>.h5``) into :func:`idsd.model.build_model`.

Upstream (github AntonFirc/IDSD) trains with TF 2.x Keras 2 and keras-tcn and writes HDF5 files,
``model.save_weights("models/<run>.h5")`` in ``train_model.py`` / ``train_generator.py`` (the
published models) or ``model.save("<run>.h5")``. Both are the Keras 2 HDF5 layout::

    /                                  attrs layer_names, backend, keras_version  (save_weights)
    /model_weights                     the same, under this group                 (model.save; the file
                                       attrs also hold model_config, training_config)
    <layer>/                           attrs weight_names = ["<layer>/.../kernel:0", ...]
    <layer>/<weight name>              one dataset per weight ("/" in the name nests groups)

with the layers of the upstream model (``model_average.py``, ``model_max.py``,
``spectrogram-generator/model.py``) named as Keras 2 numbers them in a fresh session: ``input_1``,
``tcn``, ``tcn_1``, ``tcn_2`` (kernel sizes 3, 5, 7), the pooling, ``concatenate``,
``batch_normalization``, ``dropout``, ``flatten``, ``dense``. A keras-tcn ``TCN`` layer stores its
residual blocks' convolutions as (keras-tcn 3.x, verified by writing the file with tf-keras 2.21 and
keras-tcn 3.5.7)::

    tcn/residual_block_<i>/conv1D_<j>/kernel:0      (k, channels_in, 64)   i = 0..5, j = 0, 1
    tcn/residual_block_<i>/conv1D_<j>/bias:0        (64,)
    tcn/residual_block_0/matching_conv1D/kernel:0   (1, n_frames, 64)      only when n_frames != 64
    tcn/residual_block_0/matching_conv1D/bias:0     (64,)

Mapping onto this package's model (layer/weight): ``residual_block_<i>/conv1D_<j>`` of the tower
whose kernels are ``k`` wide -> ``tcn<k>_block<i>_conv<j>``, ``matching_conv1D`` ->
``tcn<k>_block<i>_matching_conv``, the BatchNormalization's ``gamma, beta, moving_mean,
moving_variance`` -> ``batch_norm``, the Dense's ``kernel, bias`` -> ``p_real``. The towers are
told apart by their kernel width, not their layer names (a file written after other models in the
same session has ``tcn_3``...). Keras 2 and Keras 3 use the same kernel layouts (Conv1D
(k, in, out), Dense (in, out)) and channels-last Flatten, so the values are copied as they are.

Nothing is guessed: every weight in the file must land on exactly one weight of the model with the
same shape, and every weight of the model must be filled, else :class:`idsd.errors.InputError`
names the file and the problem. The model input (n_bins, n_frames) and the pooling are resolved
from, in order, the arguments, the file's ``model_config`` (``model.save`` files), and the file
name (feature -> :data:`idsd.model.PAPER_INPUT_SHAPES`, array or image mode; ``<pooling>_<setting>``
-> :func:`idsd.model.pooling_settings`), and must agree with the stored weights (input channels =
the first convolution's input width; sequence length and pooling = the Dense input size).

Reading needs only h5py and numpy (no TensorFlow), so this runs on every Keras 3 backend.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from idsd.errors import InputError, MissingInputError

# idsd.model re-exports load_upstream, so this module imports it only inside the functions

log = logging.getLogger(__name__)

UPSTREAM_SUFFIX = ".h5"
"""File suffix of the authors' models (Keras 2 HDF5)."""

UPSTREAM_FEATURES = ("mel", "stft", "cqt", "vqt", "iirt", "mfcc", "chroma")
"""Features an upstream file name may start with (``mel_avg_10.h5``); the array features of
:data:`idsd.model.PAPER_INPUT_SHAPES` (tested)."""

IMAGE_SHAPE = (640, 480)
"""Input of the upstream image models (main branch): ``PAPER_INPUT_SHAPES["image"]`` (tested)."""

_BLOCK_RE = re.compile(r"^residual_block_(\d+)$")
_CONV_RE = re.compile(r"^conv1D_(\d+)$")
_BN_VARS = ("gamma", "beta", "moving_mean", "moving_variance")

# keras-tcn TCN settings the model reproduces (checked against a model_config when the file has one)
_TCN_CONFIG = {"nb_filters": 64, "dilations": [1, 2, 4, 8, 16, 32], "nb_stacks": 1, "padding": "causal",
               "use_skip_connections": True, "return_sequences": True, "activation": "relu",
               "use_batch_norm": False, "use_layer_norm": False, "use_weight_norm": False,
               "go_backwards": False}


@dataclass(frozen=True)
class UpstreamInfo:
    """What an upstream ``.h5`` holds and the model it is loaded into.

    Attributes
    ----------
    path : str
    feature : str or None
        From the argument or the file name; None when neither names one of :data:`UPSTREAM_FEATURES`
        (then ``input_shape`` came from the argument or the model config).
    mode : {"array", "image"}
        ``image`` when the input is the 640x480 spectrogram image (upstream main branch), else
        ``array`` (spectrogram-generator branch). No ``.h5`` carries a decision threshold: use 0.5,
        as upstream ``eval_model.py`` does.
    input_shape : (n_bins, n_frames)
    pooling : {"avg", "max"}
    pool_size, strides : int
    layout : {"save_weights", "model"}
        Weights at the file's top level (``save_weights``) or under ``model_weights`` (``model.save``).
    keras_version, backend : str
        As stored by the writer (e.g. ``"2.4.0"``, ``"tensorflow"``).
    n_weights : int
        Weight arrays in the file: 3 towers x 26 (24 when the input has 64 channels: no matching
        convolution) + 4 (BatchNormalization) + 2 (Dense) = 84.
    """

    path: str
    feature: str | None
    mode: str
    input_shape: tuple[int, int]
    pooling: str
    pool_size: int
    strides: int
    layout: str
    keras_version: str
    backend: str
    n_weights: int

    @property
    def run(self) -> str:
        """Run name ``<feature>_<pooling>_<pool_size>`` (``upstream_<pooling>_<pool_size>`` without a feature);
        also the loaded model's name."""
        return f"{self.feature or 'upstream'}_{self.pooling}_{self.pool_size}"


def is_upstream(path: str | os.PathLike) -> bool:
    """True when ``path`` names an upstream HDF5 model (suffix ``.h5``, any case)."""
    return os.fspath(path).lower().endswith(UPSTREAM_SUFFIX)


def _text(v) -> str:
    return v.decode("utf8") if isinstance(v, bytes | np.bytes_) else str(v)


def _attr_list(group, name: str) -> list[str]:
    """A string-list attribute, also when Keras 2 split it into ``name0``, ``name1``... (HDF5's 64 KiB limit)."""
    if name in group.attrs:
        return [_text(v) for v in np.atleast_1d(group.attrs[name])]
    out, i = [], 0
    while f"{name}{i}" in group.attrs:
        out += [_text(v) for v in np.atleast_1d(group.attrs[f"{name}{i}"])]
        i += 1
    return out


def _read(path: Path) -> tuple[dict, list[tuple[str, str, np.ndarray]]]:
    """The file's metadata and every stored weight ``(layer, weight name, value)`` in file order."""
    import h5py

    if not os.path.lexists(path):
        raise MissingInputError(path, "no such model file")
    if not path.is_file():
        raise InputError(path, "not a file (an upstream .h5 model file was expected)")
    try:
        ok = h5py.is_hdf5(path)
    except OSError as exc:
        raise InputError(path, f"cannot read the file ({exc})") from None
    if not ok:
        raise InputError(path, "not an HDF5 file (an upstream Keras 2 .h5 model was expected)")
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            layout = "model" if root is not f else "save_weights"
            if "layer_names" not in root.attrs and "layer_names0" not in root.attrs:
                raise InputError(path, "HDF5 file without Keras 2 weights (no layer_names attribute at the top "
                                       "or under model_weights; a Keras 3 .weights.h5 is not this layout)")
            config = None
            if "model_config" in f.attrs:
                try:
                    config = json.loads(_text(f.attrs["model_config"]))
                except ValueError as exc:
                    raise InputError(path, f"model_config attribute is not JSON ({exc})") from None
            meta = {"layout": layout, "config": config,
                    "keras_version": _text(root.attrs.get("keras_version", f.attrs.get("keras_version", "?"))),
                    "backend": _text(root.attrs.get("backend", f.attrs.get("backend", "?")))}
            layer_names = _attr_list(root, "layer_names")
            weights = []
            for layer in layer_names:
                if layer not in root:
                    raise InputError(path, f"layer {layer!r} is listed in layer_names but has no group")
                g = root[layer]
                for wname in _attr_list(g, "weight_names"):
                    if wname not in g:
                        raise InputError(path, f"layer {layer!r} lists weight {wname!r} but holds no such dataset")
                    weights.append((layer, wname, np.asarray(g[wname][()])))
            # groups that layer_names does not list but that hold weights would be silently dropped
            for name in root:
                if name not in layer_names and isinstance(root[name], h5py.Group) and _attr_list(root[name],
                                                                                                    "weight_names"):
                    raise InputError(path, f"group {name!r} holds weights but is not in layer_names")
    except InputError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise InputError(path, f"unreadable HDF5 model ({type(exc).__name__}: {exc})") from None
    return meta, weights


def _classify(path: Path, weights) -> tuple[dict, dict, int, int]:
    """Sort the stored weights into towers, batch norm and dense.

    Returns
    -------
    towers : dict
        Kernel size -> ``{(block, our conv suffix, var): (source name, value)}``.
    head : dict
        ``{(our layer, var): (source name, value)}`` for ``batch_norm`` and ``p_real``.
    n_frames : int
        Input channels of the first convolution.
    dense_in : int
        Input size of the Dense layer.
    """
    from idsd.model import KERNEL_SIZES

    by_layer: dict[str, list] = {}
    for layer, wname, value in weights:
        by_layer.setdefault(layer, []).append((wname, value))
    towers, head = {}, {}
    n_frames = dense_in = None
    for layer, items in by_layer.items():
        kinds = set()
        tower = {}
        for wname, value in items:
            parts = wname.split(":")[0].split("/")
            var = parts[-1]
            blocks = [i for i, p in enumerate(parts) if _BLOCK_RE.match(p)]
            if blocks:
                kinds.add("tcn")
                block = int(_BLOCK_RE.match(parts[blocks[-1]]).group(1))
                conv = parts[-2] if len(parts) >= 2 else ""
                m = _CONV_RE.match(conv)
                if m and var in ("kernel", "bias"):
                    key = (block, f"conv{m.group(1)}", var)
                elif conv == "matching_conv1D" and var in ("kernel", "bias"):
                    key = (block, "matching_conv", var)
                else:
                    raise InputError(path, f"layer {layer!r}: weight {wname!r} {value.shape} is not a keras-tcn "
                                           "residual-block convolution this model has (batch/layer/weight norm "
                                           "in the TCN is not reproduced)")
                if key in tower:
                    raise InputError(path, f"layer {layer!r}: weight {wname!r} is stored twice")
                tower[key] = (f"{layer}/{wname}", value)
            elif var in _BN_VARS or var in ("kernel", "bias"):
                # the head: the one BatchNormalization ("batch_norm") or the one Dense ("p_real")
                kind, target, what = (("bn", "batch_norm", "BatchNormalization") if var in _BN_VARS
                                      else ("dense", "p_real", "Dense"))
                kinds.add(kind)
                key = (target, var)
                if key in head:
                    raise InputError(path, f"a second {what} weight {var!r} in layer {layer!r}: the upstream "
                                           f"model has one {what} layer")
                head[key] = (f"{layer}/{wname}", value)
            else:
                raise InputError(path, f"layer {layer!r}: weight {wname!r} {value.shape} has no place in the "
                                       "upstream TCN model")
        if len(kinds) > 1:
            raise InputError(path, f"layer {layer!r} mixes TCN, BatchNormalization and Dense weights")
        if tower:
            first = tower.get((0, "conv0", "kernel"))
            if first is None or first[1].ndim != 3:
                raise InputError(path, f"layer {layer!r}: no residual_block_0/conv1D_0/kernel of shape "
                                       "(k, n_frames, filters)")
            k, channels = int(first[1].shape[0]), int(first[1].shape[1])
            if k not in KERNEL_SIZES:
                raise InputError(path, f"TCN layer {layer!r} has kernel size {k}; the upstream towers have "
                                       f"{', '.join(map(str, KERNEL_SIZES))}")
            if k in towers:
                raise InputError(path, f"two TCN layers with kernel size {k} (the upstream towers have "
                                       f"{', '.join(map(str, KERNEL_SIZES))}, one each)")
            if n_frames is not None and channels != n_frames:
                raise InputError(path, f"TCN layer {layer!r} reads {channels} input channels, another TCN {n_frames}")
            towers[k], n_frames = tower, channels
    missing = [k for k in KERNEL_SIZES if k not in towers]
    if missing:
        raise InputError(path, f"missing keras-tcn TCN tower(s) with kernel size {', '.join(map(str, missing))} "
                               f"(found {len(towers)} TCN layer(s) with residual_block_* weights)")
    kernel = head.get(("p_real", "kernel"))
    if kernel is None or kernel[1].ndim != 2 or kernel[1].shape[1] != 1:
        raise InputError(path, "missing the Dense(1) output layer's kernel of shape (n, 1)")
    dense_in = int(kernel[1].shape[0])
    return towers, head, n_frames, dense_in


def _config_layers(config: dict | None) -> list[dict]:
    if not isinstance(config, dict):
        return []
    layers = (config.get("config") or {}).get("layers") or []
    return [layer for layer in layers if isinstance(layer, dict)]


def _from_config(path: Path, config: dict | None) -> dict:
    """Input shape, pooling and TCN settings from a ``model.save`` file's ``model_config`` (checked)."""
    out = {}
    for layer in _config_layers(config):
        cls, cfg = layer.get("class_name", ""), layer.get("config") or {}
        if cls == "InputLayer":
            shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
            if isinstance(shape, list) and len(shape) == 3 and all(isinstance(s, int) for s in shape[1:]):
                out["input_shape"] = (int(shape[1]), int(shape[2]))
        elif cls in ("AveragePooling1D", "MaxPooling1D"):
            size = cfg.get("pool_size")
            stride = cfg.get("strides")
            size = size[0] if isinstance(size, list) else size
            stride = stride[0] if isinstance(stride, list) else stride
            got = ("avg" if cls == "AveragePooling1D" else "max", int(size), int(stride if stride else size))
            if out.setdefault("pooling", got) != got:
                raise InputError(path, f"model_config: the towers pool differently ({out['pooling']} vs {got})")
        elif cls.endswith("TCN"):
            for key, want in _TCN_CONFIG.items():
                if key in cfg:
                    have = list(cfg[key]) if isinstance(cfg[key], list | tuple) else cfg[key]
                    if have != want:
                        raise InputError(path, f"model_config: TCN layer {cfg.get('name', '?')!r} has {key}={have!r}; "
                                               f"the reproduced model has {key}={want!r}")
        elif cls == "Dense" and cfg.get("activation") not in (None, "sigmoid"):
            raise InputError(path, f"model_config: the Dense layer's activation is {cfg['activation']!r}, not sigmoid")
    return out


def _steps(n_bins: int, p: int, s: int) -> int:
    return (n_bins - p) // s + 1 if n_bins >= p else 0


def _resolve(path: Path, feature, pooling, input_shape, meta, n_frames, dense_in):
    """Pick the one (input shape, pooling) that the arguments, config, file name and weights agree on."""
    from idsd.model import NB_FILTERS, PAPER_INPUT_SHAPES, POOLINGS, parse_run_name, pooling_settings

    name = parse_run_name(path.name[: -len(UPSTREAM_SUFFIX)] if is_upstream(path) else path.stem)
    if feature is not None and feature not in UPSTREAM_FEATURES:
        raise InputError(path, f"unknown feature {feature!r} (one of {', '.join(UPSTREAM_FEATURES)})")
    if feature is None and name["feature"] in UPSTREAM_FEATURES:
        feature = name["feature"]
    cfg = _from_config(path, meta["config"])
    if pooling is not None and pooling not in POOLINGS:
        raise InputError(path, f"unknown pooling {pooling!r} (one of {', '.join(POOLINGS)})")
    if input_shape is not None:
        if len(tuple(input_shape)) != 2:
            raise InputError(path, f"input_shape must be (n_bins, n_frames), got {input_shape!r}")
        shapes = [tuple(int(s) for s in input_shape)]
        if "input_shape" in cfg and cfg["input_shape"] != shapes[0]:
            raise InputError(path, f"input_shape {shapes[0]} given, but the file's model_config has "
                                   f"{cfg['input_shape']}")
    elif "input_shape" in cfg:
        shapes = [cfg["input_shape"]]
    elif feature is not None:
        shapes = list(dict.fromkeys([PAPER_INPUT_SHAPES[feature], IMAGE_SHAPE]))
    else:
        raise InputError(path, f"unknown feature: the file name is not <feature>_<pooling>_<setting>.h5 with a "
                               f"feature in {', '.join(UPSTREAM_FEATURES)}, and the file stores no input shape: "
                               "pass the feature (or the input shape)")
    if "pooling" in cfg:
        if pooling is not None and pooling != cfg["pooling"][0]:
            raise InputError(path, f"pooling {pooling!r} given, but the file's model_config pools with "
                                   f"{cfg['pooling'][0]!r}")
        poolings = [cfg["pooling"]]
    elif pooling is not None or name["pooling"] in POOLINGS:
        kind = pooling or name["pooling"]
        size = int(name["setting"]) if name["pooling"] == kind and name["setting"] else None
        try:
            poolings = [(kind, *pooling_settings(kind, size))]
        except ValueError as exc:
            raise InputError(path, str(exc)) from None
    else:  # neither named nor stored: the presets, told apart by the Dense input size
        poolings = [(kind, *POOLINGS[kind]) for kind in POOLINGS]
    fits = [(shape, pool) for shape in shapes for pool in poolings
            if shape[1] == n_frames and 3 * _steps(shape[0], pool[1], pool[2]) * NB_FILTERS == dense_in]
    if not fits:
        tried = "; ".join(f"input {shape} with {kind}({p}, {s}) -> Dense input "
                          f"{3 * _steps(shape[0], p, s) * NB_FILTERS}" for shape in shapes for kind, p, s in poolings)
        raise InputError(path, f"the weights (input channels {n_frames}, Dense input {dense_in}) fit no model tried "
                               f"({tried}): pass the input shape and pooling the model was trained with")
    if len(fits) > 1:
        raise InputError(path, f"the weights fit several models ({fits}): pass the input shape and pooling")
    (shape, (kind, p, s)), = fits
    if feature is not None and shape not in (PAPER_INPUT_SHAPES[feature], IMAGE_SHAPE):
        log.warning("%s: input %s is not feature %s's %s (array) or %s (image)", path.name, shape, feature,
                    PAPER_INPUT_SHAPES[feature], IMAGE_SHAPE)
    mode = "image" if shape == IMAGE_SHAPE else "array"
    return feature, mode, shape, kind, p, s


def _inspect(path, feature=None, pooling=None, input_shape=None):
    path = Path(path)
    meta, weights = _read(path)
    towers, head, n_frames, dense_in = _classify(path, weights)
    feature, mode, shape, kind, p, s = _resolve(path, feature, pooling, input_shape, meta, n_frames, dense_in)
    info = UpstreamInfo(str(path), feature, mode, shape, kind, p, s, meta["layout"], meta["keras_version"],
                        meta["backend"], len(weights))
    return info, towers, head


def upstream_info(path: str | os.PathLike, feature: str | None = None, pooling: str | None = None,
                  input_shape: tuple[int, int] | None = None) -> UpstreamInfo:
    """Read an upstream ``.h5`` and resolve its model without building it (h5py only).

    Parameters are those of :func:`load_upstream`.

    Returns
    -------
    UpstreamInfo

    Raises
    ------
    InputError
        As :func:`load_upstream` (every check but the final weight-by-weight match).
    """
    return _inspect(path, feature, pooling, input_shape)[0]


def load_upstream(path: str | os.PathLike, feature: str | None = None, pooling: str | None = None,
                  input_shape: tuple[int, int] | None = None):
    """Load an authors' keras-tcn ``.h5`` (``model.save_weights`` or ``model.save``) as this package's model.

    Parameters
    ----------
    path : str or PathLike
        ``<feature>_<pooling>_<setting>.h5`` (e.g. ``mel_avg_10.h5``, ``cqt_max_2.h5``), any name
        when ``feature``/``input_shape`` and ``pooling`` are given.
    feature : str, optional
        One of :data:`UPSTREAM_FEATURES`; default from the file name. Gives the input shape
        :data:`idsd.model.PAPER_INPUT_SHAPES` ``[feature]`` (array mode) or (640, 480) (image
        mode), whichever the stored weights fit.
    pooling : {"avg", "max"}, optional
        Default: the file's model_config, else the file name (``<pooling>_<setting>``, setting =
        pool size, :func:`idsd.model.pooling_settings`), else the preset the weights fit.
    input_shape : (n_bins, n_frames), optional
        Model input without the batch axis, for models trained on non-default feature settings.

    Returns
    -------
    keras.Model
        :func:`idsd.model.build_model` with the file's weights, uncompiled: input
        (batch, n_bins, n_frames) float -> output (batch, 1) P(real). No decision threshold comes
        with it (upstream decides at 0.5).

    Raises
    ------
    InputError
        One line naming the file and the problem: no such file, not HDF5, not the Keras 2 layout,
        unknown feature, a missing or extra weight, a shape that does not match, weights that fit
        no model of the resolved input shape and pooling (:class:`idsd.errors.MissingInputError`
        when the file does not exist).
    """
    from idsd.model import DILATIONS, build_model

    info, towers, head = _inspect(path, feature, pooling, input_shape)
    path = Path(path)
    model = build_model(info.input_shape, info.pooling, info.pool_size, info.strides, name=info.run)
    source = {}
    for k, tower in towers.items():
        for (block, conv, var), item in tower.items():
            source[(f"tcn{k}_block{block}_{conv}", var)] = item
    source.update(head)
    target = {(layer.name, w.name): w for layer in model.layers for w in layer.weights}
    extra = sorted(set(source) - set(target))
    if extra:
        names = ", ".join(source[key][0] for key in extra[:3])
        raise InputError(path, f"{len(extra)} stored weight(s) have no place in the model (e.g. {names}): "
                               f"not the upstream TCN ({len(DILATIONS)} residual blocks per tower)")
    missing = sorted(set(target) - set(source))
    if missing:
        names = ", ".join(f"{layer}/{var}" for layer, var in missing[:3])
        raise InputError(path, f"{len(missing)} weight(s) of the model are missing from the file (e.g. {names})")
    for key, var in target.items():
        name, value = source[key]
        if tuple(value.shape) != tuple(var.shape):
            raise InputError(path, f"weight {name} has shape {tuple(value.shape)}, the model's "
                                   f"{key[0]}/{key[1]} needs {tuple(var.shape)}")
        if not np.issubdtype(value.dtype, np.floating):
            raise InputError(path, f"weight {name} is {value.dtype}, not a float array")
    for key, var in target.items():
        var.assign(source[key][1].astype(var.dtype))
    log.info("%s: %d weights (%s layout, Keras %s) -> %s, input %s, %s pooling (%d, %d), mode %s", path.name,
             len(target), info.layout, info.keras_version, model.name, info.input_shape, info.pooling,
             info.pool_size, info.strides, info.mode)
    return model
