"""Attribution maps for any trained detector and input: which frequency bins and frames decide P(real).

A detector maps a feature array ``x`` of shape (n, n_bins, n_frames) to one sigmoid unit, P(real)
(:mod:`idsd.model`; the TCN's sequence axis is frequency, the frames are its channels). Every
method here returns a map of the SAME shape as ``x``: one value per (bin, frame) cell.

What is explained (``target``, ``output``)
    The attributed score is ``s(x) = sign * logit(P(real))`` (``output="logit"``, the default) or
    ``P(target class)`` (``output="prob"``), with ``sign = +1`` for ``target="real"``, ``-1`` for
    ``"fake"`` and, for ``"predicted"`` (default), the sign of each input's own prediction
    (+1 where P(real) >= 0.5), fixed from ``x`` and used for the baseline and every perturbed copy
    too. Positive attribution = evidence FOR the target class. The logit is the exact
    pre-activation of the output unit when the model ends in a sigmoid ``Dense`` or a sigmoid
    ``Activation`` (:func:`logit_model`), so saturated probabilities (P = 1.0 in float32) still
    give finite, informative scores.

Methods
    :func:`occlusion` (the reference method; backend-neutral: only forward passes and numpy) and
    :func:`integrated_gradients` (``keras.ops`` plus one small per-backend gradient function:
    ``tf.GradientTape`` / ``jax.grad`` / ``torch.autograd``; runs on TensorFlow, JAX and PyTorch).

Frequency axes
    :func:`bin_frequencies` gives each bin's centre in Hz from :mod:`idsd.feature_params` (mel:
    centres of librosa's mel filters; stft: ``fft_frequencies``; cqt/vqt: ``cqt_frequencies`` with
    the feature's ``fmin``/``bins_per_octave``; iirt: librosa's semitone filterbank centres, MIDI
    24..108); MFCC coefficients and chroma classes have no frequency and give NaN (their labels,
    :func:`bin_labels`, are ``MFCC k`` and the pitch classes C..B). :func:`band_profile`,
    :func:`band_shares` and :func:`mask_bands` summarise maps and ablate bands in Hz.

Plotting: :func:`plot_attribution` draws a spectrogram beside its map (a matplotlib ``Figure``);
:func:`explain_map` returns an :class:`Attribution` with the axes it needs.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from idsd import SAMPLE_RATE
from idsd.feature_params import check as _check_feature
from idsd.feature_params import params as _params

log = logging.getLogger(__name__)

TARGETS = ("predicted", "real", "fake")
OUTPUTS = ("logit", "prob")
METHODS = ("occlusion", "integrated_gradients")
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
DEFAULT_EDGES = (0.0, 1000.0, 4000.0, 8000.0)


# =========================================================================== frequency and time axes


def bin_frequencies(feature: str, **overrides) -> np.ndarray:
    """Centre frequency in Hz of each bin of a feature (array/db mode), at 16 kHz.

    Parameters
    ----------
    feature : str
        One of :data:`idsd.feature_params.FEATURES`.
    **overrides
        Feature parameters that differ from :data:`idsd.feature_params.DEFAULTS` (``n_mels=128``...).

    Returns
    -------
    np.ndarray, shape (n_bins,), float64
        mel: centres of librosa's mel filters (``mel_frequencies(n_mels + 2, fmin, fmax)[1:-1]``,
        the peaks of the triangles); stft: ``fft_frequencies(n_fft)``; cqt/vqt:
        ``cqt_frequencies(n_bins, fmin (None = C1), bins_per_octave)`` (VQT's ``gamma`` widens
        the filters, not their centres); iirt: librosa's semitone filterbank centres (MIDI 24..108,
        tuning 0, 85 bins); mfcc and chroma: all NaN (cepstral coefficients and pitch classes have
        no frequency; see :func:`bin_labels`).
    """
    import librosa

    _check_feature(feature)
    p = _params(feature, **overrides)
    sr = SAMPLE_RATE
    if feature == "mel":
        fmax = p["fmax"] if p["fmax"] is not None else sr / 2.0
        return librosa.mel_frequencies(p["n_mels"] + 2, fmin=p["fmin"], fmax=fmax)[1:-1].astype(np.float64)
    if feature == "stft":
        return librosa.fft_frequencies(sr=sr, n_fft=p["n_fft"]).astype(np.float64)
    if feature in ("cqt", "vqt"):
        fmin = p["fmin"] if p["fmin"] is not None else librosa.note_to_hz("C1")
        return librosa.cqt_frequencies(p["n_bins"], fmin=fmin,
                                       bins_per_octave=p["bins_per_octave"]).astype(np.float64)
    if feature == "iirt":
        return np.asarray(librosa.filters.mr_frequencies(0.0)[0], np.float64)
    n = p["n_mfcc"] if feature == "mfcc" else p["n_chroma"]
    return np.full(int(n), np.nan)


def _hz_label(f: float) -> str:
    return f"{f / 1000:.3g} kHz" if f >= 1000 else f"{f:.3g} Hz"


def bin_labels(feature: str, **overrides) -> tuple[str, ...]:
    """Human-readable label of each bin: ``"440 Hz"``, ``"1.5 kHz"``; ``"MFCC 3"``; ``"C"``..``"B"``.

    Returns
    -------
    tuple of str, length n_bins
        Chroma with ``n_chroma = 12`` gets the pitch classes C, C#, ..., B (librosa's chroma
        starts at C); other ``n_chroma`` get ``"chroma k"``.
    """
    _check_feature(feature)
    p = _params(feature, **overrides)
    if feature == "mfcc":
        return tuple(f"MFCC {k}" for k in range(int(p["n_mfcc"])))
    if feature == "chroma":
        n = int(p["n_chroma"])
        return PITCH_CLASSES if n == 12 else tuple(f"chroma {k}" for k in range(n))
    return tuple(_hz_label(f) for f in bin_frequencies(feature, **overrides))


def frame_times(feature: str, **overrides) -> np.ndarray:
    """Time in seconds of each frame's centre (librosa's centred frames: ``t * hop / sr``).

    Returns
    -------
    np.ndarray, shape (n_frames,)
    """
    from idsd.features import feature_shape

    p = _params(feature, **overrides)
    n_frames = feature_shape(feature, "array", **overrides)[1]
    return np.arange(n_frames) * p["hop_length"] / float(SAMPLE_RATE)


# =========================================================================== the explained score


class _Logit(keras.layers.Layer):
    """Pre-activation of a sigmoid ``Dense(1)``: ``h @ kernel + bias`` with the dense layer's own weights."""

    def __init__(self, dense, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.dense = dense

    def call(self, h):
        h = ops.cast(h, "float32")
        y = ops.matmul(h, ops.cast(self.dense.kernel, "float32"))
        if self.dense.use_bias:
            y = y + ops.cast(self.dense.bias, "float32")
        return y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dense.units)


class _ProbLogit(keras.layers.Layer):
    """``log(p) - log(1 - p)`` of a probability output, clipped to [1e-7, 1 - 1e-7] (the fallback)."""

    def call(self, p):
        p = ops.clip(ops.cast(p, "float32"), 1e-7, 1.0 - 1e-7)
        return ops.log(p) - ops.log1p(-p)


_LOGIT_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_GRAD_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _is_sigmoid(act) -> bool:
    return getattr(act, "__name__", "") == "sigmoid"


def logit_model(model: keras.Model) -> keras.Model:
    """A model with the same weights whose output is the logit of P(real), shape (batch, 1) float32.

    Exact when the model's last layer is a sigmoid ``Dense(1)`` (the project's detector, the
    authors' models) or a sigmoid ``Activation``: the pre-activation is read off that layer's
    input. Otherwise the logit is computed from the probability clipped to [1e-7, 1 - 1e-7]
    (saturated outputs then have zero gradient; a warning says so). Cached per model; the
    weights are shared, so later training is seen.
    """
    if model in _LOGIT_MODELS:
        return _LOGIT_MODELS[model]
    last = model.layers[-1] if model.layers else None
    try:
        h = last.input
        inputs = model.inputs
    except (AttributeError, ValueError):
        h = inputs = None
    if isinstance(last, keras.layers.Dense) and _is_sigmoid(last.activation) and last.units == 1 and h is not None:
        lm = keras.Model(inputs, _Logit(last, name="logit")(h), name=f"{model.name}_logit")
    elif isinstance(last, keras.layers.Activation) and _is_sigmoid(last.activation) and h is not None:
        lm = keras.Model(inputs, ops.cast(h, "float32") if h.dtype != "float32" else h, name=f"{model.name}_logit")
    else:
        log.warning("%s does not end in a sigmoid Dense/Activation: logits from clipped probabilities",
                    model.name)
        inp = keras.Input(model.input_shape[1:])
        lm = keras.Model(inp, _ProbLogit(name="logit")(model(inp)), name=f"{model.name}_logit")
    _LOGIT_MODELS[model] = lm
    return lm


def _as_batch(x) -> tuple[np.ndarray, bool]:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        return x[None], True
    if x.ndim != 3:
        raise ValueError(f"x must have shape (n, n_bins, n_frames) or (n_bins, n_frames), got {x.shape}")
    return x, False


def _logits(lm: keras.Model, X: np.ndarray, batch_size: int) -> np.ndarray:
    """Logits (n,) float64 of ``X`` (n, n_bins, n_frames) in fixed-size batches (the last one padded)."""
    n = len(X)
    out = np.empty(n, np.float64)
    bs = max(1, min(int(batch_size), n))
    for i in range(0, n, bs):
        chunk = X[i:i + bs]
        k = len(chunk)
        if k < bs:  # one input shape: one trace / one compilation
            chunk = np.concatenate([chunk, np.zeros((bs - k, *chunk.shape[1:]), chunk.dtype)])
        y = lm.predict_on_batch(chunk)
        out[i:i + k] = np.asarray(y, np.float64).reshape(bs, -1)[:k, 0]
    return out


def target_signs(model: keras.Model, x, target="predicted", batch_size: int = 64) -> np.ndarray:
    """Sign of the explained class per input: +1 real, -1 fake.

    Parameters
    ----------
    model : keras.Model
    x : array, shape (n, n_bins, n_frames) or (n_bins, n_frames)
    target : {"predicted", "real", "fake"} or array of +1/-1, shape (n,)
        ``"predicted"``: +1 where the model's P(real) >= 0.5 on ``x``, else -1.

    Returns
    -------
    np.ndarray, shape (n,), float64, values +1 / -1
    """
    X, _ = _as_batch(x)
    if isinstance(target, str):
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS} or an array of +1/-1, got {target!r}")
        if target == "real":
            return np.ones(len(X))
        if target == "fake":
            return -np.ones(len(X))
        return np.where(_logits(logit_model(model), X, batch_size) >= 0.0, 1.0, -1.0)
    s = np.asarray(target, np.float64).reshape(-1)
    if s.shape != (len(X),) or not np.isin(s, (-1.0, 1.0)).all():
        raise ValueError(f"target array must hold +1/-1 for each of the {len(X)} inputs")
    return s


def _score(z: np.ndarray, signs: np.ndarray, output: str) -> np.ndarray:
    t = signs * z
    if output == "logit":
        return t
    return 1.0 / (1.0 + np.exp(-t))


def target_scores(model: keras.Model, x, target="predicted", output: str = "logit",
                  batch_size: int = 64) -> np.ndarray:
    """The explained score ``s(x)`` of each input (see the module docstring).

    Parameters
    ----------
    model : keras.Model
    x : array, shape (n, n_bins, n_frames) or (n_bins, n_frames)
    target : {"predicted", "real", "fake"} or array of +1/-1, shape (n,)
        Pass :func:`target_signs` of the ORIGINAL inputs to score perturbed copies or baselines
        toward the same class.
    output : {"logit", "prob"}
        ``sign * logit(P(real))`` or P(target class).

    Returns
    -------
    np.ndarray, shape (n,), float64
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    X, _ = _as_batch(x)
    signs = target_signs(model, X, target, batch_size)
    return _score(_logits(logit_model(model), X, batch_size), signs, output)


def _baseline(X: np.ndarray, baseline) -> np.ndarray:
    """Baseline array (n, n_bins, n_frames) float32: "mean" (per-input mean), "zero", a float, or an array."""
    if isinstance(baseline, str):
        if baseline == "mean":
            return np.broadcast_to(X.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32), X.shape)
        if baseline == "zero":
            return np.zeros_like(X)
        raise ValueError(f"baseline must be 'mean', 'zero', a number or an array, got {baseline!r}")
    b = np.asarray(baseline, np.float32)
    try:
        return np.broadcast_to(b, X.shape)
    except ValueError:
        raise ValueError(f"baseline of shape {b.shape} does not broadcast to the inputs {X.shape}") from None


# =========================================================================== occlusion (the reference)


def _starts(n: int, size: int, stride: int) -> list[int]:
    s = list(range(0, max(n - size, 0) + 1, stride))
    if s[-1] + size < n:  # cover the tail with one last (aligned-to-the-end) patch
        s.append(n - size)
    return s


def occlusion(model: keras.Model, x, band_size: int = 4, span_size: int | None = None, baseline="mean",
              target="predicted", output: str = "logit", band_stride: int | None = None,
              span_stride: int | None = None, batch_size: int = 64) -> np.ndarray:
    """Occlusion sensitivity over frequency bands x time spans.

    Each patch of ``band_size`` bins x ``span_size`` frames is replaced by the baseline; the drop
    of the explained score, ``s(x) - s(x with the patch occluded)``, is spread evenly over the
    patch's cells (divided by its area), and a cell covered by several patches (strides smaller
    than the sizes) gets the mean over them. With non-overlapping patches (the default) the map
    sums, over one patch, to that patch's score drop. Only forward passes: any backend.

    Parameters
    ----------
    model : keras.Model
        Input (batch, n_bins, n_frames) -> (batch, 1) P(real).
    x : array, shape (n, n_bins, n_frames) or (n_bins, n_frames)
    band_size : int
        Bins per patch (clipped to n_bins).
    span_size : int, optional
        Frames per patch (default: all frames, i.e. whole frequency bands).
    baseline : {"mean", "zero"} or float or array broadcastable to x
        What an occluded cell becomes: ``"mean"`` = the input's own mean over all its cells.
    target : {"predicted", "real", "fake"} or array of +1/-1, shape (n,)
    output : {"logit", "prob"}
        Drop of ``sign * logit(P(real))`` (default) or of P(target class).
    band_stride, span_stride : int, optional
        Patch strides (default: the sizes, non-overlapping). A last patch aligned to the end
        covers any remainder.
    batch_size : int
        Occluded copies per forward pass.

    Returns
    -------
    np.ndarray, shape like x, float32
        Positive = occluding the cell lowers the target's score (evidence for the target).
        A model whose output does not depend on its input gives exactly zero everywhere.
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    X, single = _as_batch(x)
    n, n_bins, n_frames = X.shape
    bh = max(1, min(int(band_size), n_bins))
    bw = n_frames if span_size is None else max(1, min(int(span_size), n_frames))
    patches = [(b, t) for b in _starts(n_bins, bh, int(band_stride or bh))
               for t in _starts(n_frames, bw, int(span_stride or bw))]
    base = _baseline(X, baseline)
    lm = logit_model(model)
    signs = target_signs(model, X, target, batch_size)
    ref = _score(_logits(lm, X, batch_size), signs, output)
    P = len(patches)
    rows = np.arange(n * P)  # row r = input r // P, patch r % P
    drops = np.empty(n * P, np.float64)
    bs = max(1, int(batch_size))
    for i in range(0, len(rows), bs):
        r = rows[i:i + bs]
        idx, pat = r // P, r % P
        Xo = X[idx].copy()
        for j, (ii, pp) in enumerate(zip(idx, pat)):
            b, t = patches[pp]
            Xo[j, b:b + bh, t:t + bw] = base[ii, b:b + bh, t:t + bw]
        z = _logits(lm, Xo, bs)
        drops[i:i + len(r)] = ref[idx] - _score(z, signs[idx], output)
    drops = drops.reshape(n, P)
    total = np.zeros((n, n_bins, n_frames), np.float64)
    count = np.zeros((n_bins, n_frames), np.float64)
    for p, (b, t) in enumerate(patches):
        total[:, b:b + bh, t:t + bw] += drops[:, p, None, None] / (bh * bw)
        count[b:b + bh, t:t + bw] += 1.0
    out = (total / count).astype(np.float32)
    return out[0] if single else out


# =========================================================================== integrated gradients


def _gradient_fn(lm: keras.Model):
    """``grad(X (k, n_bins, n_frames) float32, signs (k,) float32) -> d sum(signs * logit) / dX``, numpy.

    The one backend switch of this module: ``tf.GradientTape`` in a ``tf.function``,
    ``jax.grad`` of the model's ``stateless_call`` (jitted), or ``torch.autograd.grad``.
    """
    if lm in _GRAD_FNS:
        return _GRAD_FNS[lm]
    backend = keras.backend.backend()
    shape = tuple(int(s) for s in lm.input_shape[1:])
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None,), tf.float32)])
        def tf_grad(X, s):
            with tf.GradientTape() as tape:
                tape.watch(X)
                obj = tf.reduce_sum(tf.cast(lm(X, training=False)[:, 0], tf.float32) * s)
            return tape.gradient(obj, X)

        def fn(X, s):
            return tf_grad(tf.constant(X), tf.constant(s)).numpy()
    elif backend == "jax":
        import jax

        def objective(X, s, trainable, non_trainable):
            y, _ = lm.stateless_call(trainable, non_trainable, X, training=False)
            return (y[:, 0].astype("float32") * s).sum()

        jgrad = jax.jit(jax.grad(objective))

        def fn(X, s):
            tv = [v.value for v in lm.trainable_variables]
            ntv = [v.value for v in lm.non_trainable_variables]
            return np.asarray(jgrad(X, s, tv, ntv))
    elif backend == "torch":
        import torch

        def fn(X, s):
            Xt = ops.convert_to_tensor(X).detach().requires_grad_(True)
            st = ops.convert_to_tensor(s)
            obj = (lm(Xt, training=False)[:, 0].float() * st).sum()
            (g,) = torch.autograd.grad(obj, Xt)
            return g.detach().cpu().numpy()
    else:
        raise NotImplementedError(f"integrated gradients: backend {backend!r} is not supported")
    _GRAD_FNS[lm] = fn
    return fn


def input_gradients(model: keras.Model, x, target="predicted", batch_size: int = 64) -> np.ndarray:
    """Gradient of the explained logit ``sign * logit(P(real))`` with respect to the input.

    Parameters
    ----------
    model : keras.Model
    x : array, shape (n, n_bins, n_frames) or (n_bins, n_frames)
    target : {"predicted", "real", "fake"} or array of +1/-1, shape (n,)
    batch_size : int

    Returns
    -------
    np.ndarray, shape like x, float32
    """
    X, single = _as_batch(x)
    signs = target_signs(model, X, target, batch_size).astype(np.float32)
    fn = _gradient_fn(logit_model(model))
    out = np.empty_like(X)
    bs = max(1, min(int(batch_size), len(X)))
    for i in range(0, len(X), bs):
        c, s = X[i:i + bs], signs[i:i + bs]
        k = len(c)
        if k < bs:
            c = np.concatenate([c, np.zeros((bs - k, *c.shape[1:]), np.float32)])
            s = np.concatenate([s, np.zeros(bs - k, np.float32)])
        out[i:i + k] = fn(c, s)[:k]
    return out[0] if single else out


def integrated_gradients(model: keras.Model, x, baseline="mean", steps: int = 32, target="predicted",
                         batch_size: int = 64) -> np.ndarray:
    """Integrated gradients of the explained logit along the straight line from a baseline.

    ``IG(x) = (x - b) * integral_0^1 grad s(b + a (x - b)) da``, the integral by the trapezoid
    rule on ``steps + 1`` equally spaced points (``steps`` intervals). Completeness:
    ``IG(x).sum() ~= s(x) - s(b)`` (the error shrinks with ``steps``; check it with
    :func:`target_scores` on ``x`` and the baseline, with ``target=target_signs(model, x)``).

    Parameters
    ----------
    model : keras.Model
    x : array, shape (n, n_bins, n_frames) or (n_bins, n_frames)
    baseline : {"mean", "zero"} or float or array broadcastable to x
        ``"mean"``: a constant input at the input's own mean (as :func:`occlusion`).
    steps : int
        Number of trapezoid intervals m (m + 1 gradient evaluations per input).
    target : {"predicted", "real", "fake"} or array of +1/-1, shape (n,)
        The class whose logit is explained (``sign * logit(P(real))``; the sign of ``"predicted"``
        comes from ``x``, not from the points on the path).
    batch_size : int
        Path points per gradient evaluation.

    Returns
    -------
    np.ndarray, shape like x, float32
    """
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    m = int(steps)
    X, single = _as_batch(x)
    n = len(X)
    base = np.ascontiguousarray(_baseline(X, baseline))
    signs = target_signs(model, X, target, batch_size).astype(np.float32)
    fn = _gradient_fn(logit_model(model))
    alphas = np.linspace(0.0, 1.0, m + 1, dtype=np.float64)
    w = np.full(m + 1, 1.0 / m)
    w[0] = w[-1] = 0.5 / m
    avg = np.zeros(X.shape, np.float64)
    rows = np.arange(n * (m + 1))  # row r = input r // (m + 1), point r % (m + 1)
    bs = max(1, int(batch_size))
    delta = X - base
    for i in range(0, len(rows), bs):
        r = rows[i:i + bs]
        idx, k = r // (m + 1), r % (m + 1)
        pts = (base[idx] + alphas[k, None, None].astype(np.float32) * delta[idx]).astype(np.float32)
        s = signs[idx]
        c = len(r)
        if c < bs:
            pts = np.concatenate([pts, np.zeros((bs - c, *pts.shape[1:]), np.float32)])
            s = np.concatenate([s, np.zeros(bs - c, np.float32)])
        g = fn(pts, s)[:c].astype(np.float64)
        np.add.at(avg, idx, g * w[k, None, None])
    out = (delta * avg).astype(np.float32)
    return out[0] if single else out


# =========================================================================== summaries and ablation


def _abs_mass(attr) -> np.ndarray:
    a = np.abs(np.asarray(getattr(attr, "values", attr), np.float64))
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"attribution must have shape (n, n_bins, n_frames) or (n_bins, n_frames), got {a.shape}")
    return a.mean(axis=(0, 2))


def _check_hz(bins_hz, n_bins: int, what: str) -> np.ndarray:
    if bins_hz is None:
        raise ValueError(f"{what} needs bins_hz (see bin_frequencies)")
    f = np.asarray(bins_hz, np.float64).reshape(-1)
    if f.shape != (n_bins,):
        raise ValueError(f"bins_hz has {f.size} values but there are {n_bins} bins")
    if np.isnan(f).any():
        raise ValueError(f"{what}: these bins have no frequency in Hz (MFCC coefficients or chroma classes); "
                         "select bins by index instead")
    return f


def band_profile(attr, bins_hz=None) -> np.ndarray:
    """Mean |attribution| per frequency bin (over inputs and frames), normalised to sum 1.

    Parameters
    ----------
    attr : array, shape (n, n_bins, n_frames) or (n_bins, n_frames), or Attribution
    bins_hz : array, shape (n_bins,), optional
        Only checked for length (NaN allowed): the profile is per bin, whatever the axis.

    Returns
    -------
    np.ndarray, shape (n_bins,), float64
        Sums to 1; all zeros for an all-zero map.
    """
    prof = _abs_mass(attr)
    if bins_hz is not None and np.asarray(bins_hz).reshape(-1).shape != prof.shape:
        raise ValueError(f"bins_hz has {np.asarray(bins_hz).size} values but there are {prof.size} bins")
    total = prof.sum()
    return prof / total if total > 0 else prof


def band_shares(attr, bins_hz, edges: Sequence[float] = DEFAULT_EDGES) -> dict[str, float]:
    """Share of the attribution mass (mean |attribution| per bin) in frequency bands.

    Parameters
    ----------
    attr : array, shape (n, n_bins, n_frames) or (n_bins, n_frames), or Attribution
    bins_hz : array, shape (n_bins,)
        Bin centres in Hz (:func:`bin_frequencies`). NaN (MFCC, chroma) raises ``ValueError``.
    edges : sequence of float, increasing
        Band edges; band k holds the bins with ``edges[k] <= f < edges[k + 1]`` (the last band
        includes its upper edge, so the STFT's 8 kHz Nyquist bin is in 4-8 kHz).

    Returns
    -------
    dict
        ``"lo-hi Hz" -> share`` in band order, e.g. ``{"0-1000 Hz": ..., "1000-4000 Hz": ...,
        "4000-8000 Hz": ...}``. Shares are of the WHOLE map's mass, so they sum to < 1 when some
        bins lie outside the edges; all NaN for an all-zero map.
    """
    prof = _abs_mass(attr)
    f = _check_hz(bins_hz, prof.size, "band_shares")
    e = np.asarray(edges, np.float64)
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0):
        raise ValueError(f"edges must be increasing with at least two values, got {edges!r}")
    total = prof.sum()
    out = {}
    for k, (lo, hi) in enumerate(zip(e[:-1], e[1:])):
        sel = (f >= lo) & ((f <= hi) if k == e.size - 2 else (f < hi))
        out[f"{lo:g}-{hi:g} Hz"] = float(prof[sel].sum() / total) if total > 0 else float("nan")
    return out


def mask_bands(x, bins_hz, band: tuple[float, float], value="mean") -> np.ndarray:
    """Copy of ``x`` with the bins whose centre lies in ``[lo_hz, hi_hz)`` replaced by ``value``.

    For band-ablation tables: score the test set with each band masked.

    Parameters
    ----------
    x : array, shape (n, n_bins, n_frames) or (n_bins, n_frames)
    bins_hz : array, shape (n_bins,)
        Bin centres in Hz (:func:`bin_frequencies`); NaN (MFCC, chroma) raises ``ValueError``.
    band : (lo_hz, hi_hz)
    value : {"mean", "zero"} or float or array broadcastable to x
        ``"mean"``: each input's own mean over all its cells (before masking), as the
        ``baseline`` of :func:`occlusion`.

    Returns
    -------
    np.ndarray, shape like x, float32
        A band holding no bin leaves the copy unchanged (a warning says so).
    """
    X, single = _as_batch(x)
    f = _check_hz(bins_hz, X.shape[1], "mask_bands")
    lo, hi = (float(v) for v in band)
    if not hi > lo:
        raise ValueError(f"band must be (lo_hz, hi_hz) with hi > lo, got {band!r}")
    sel = (f >= lo) & (f < hi)
    if not sel.any():
        log.warning("mask_bands: no bin lies in [%g, %g) Hz", lo, hi)
    out = X.copy()
    out[:, sel, :] = _baseline(X, value)[:, sel, :]
    return out[0] if single else out


# =========================================================================== a map with its axes, and its plot


@dataclass(frozen=True)
class Attribution:
    """One attribution map with the axes needed to plot it.

    Attributes
    ----------
    values : np.ndarray, shape (n_bins, n_frames)
    bin_labels : tuple of str, length n_bins
    frame_times_s : np.ndarray, shape (n_frames,)
        Frame centres in seconds (frame indices when the feature is unknown).
    method : str
        ``"occlusion"`` or ``"integrated_gradients"``.
    feature : str or None
    bins_hz : np.ndarray, shape (n_bins,), or None
        Bin centres in Hz (NaN for MFCC / chroma); None when the feature is unknown.
    n_inputs : int
        How many inputs were averaged into ``values``.
    """

    values: np.ndarray
    bin_labels: tuple
    frame_times_s: np.ndarray
    method: str
    feature: str | None = None
    bins_hz: np.ndarray | None = None
    n_inputs: int = 1


def explain_map(model: keras.Model, x, feature: str | None = None, method: str = "occlusion",
                reduce: str = "mean", overrides: dict | None = None, **kwargs) -> Attribution:
    """Attribution map of one input (or the average over a batch) with labelled axes.

    Parameters
    ----------
    model : keras.Model
    x : array, shape (n_bins, n_frames) or (n, n_bins, n_frames)
    feature : str, optional
        The feature of ``x`` (array/db mode): gives bin labels in Hz (pitch classes, MFCC index)
        and frame times; its shape must match ``x``. Without it, bins and frames are indices.
    method : {"occlusion", "integrated_gradients"}
    reduce : {"mean", "abs"}
        How a batch is averaged: signed mean, or mean of |attribution|.
    overrides : dict, optional
        Feature parameter overrides (``{"n_mels": 128}``).
    **kwargs
        Passed to :func:`occlusion` or :func:`integrated_gradients`.

    Returns
    -------
    Attribution
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if reduce not in ("mean", "abs"):
        raise ValueError(f"reduce must be 'mean' or 'abs', got {reduce!r}")
    X, _ = _as_batch(x)
    overrides = dict(overrides or {})
    n_bins, n_frames = X.shape[1:]
    if feature is not None:
        from idsd.features import feature_shape

        want = feature_shape(feature, "array", **overrides)
        if want != (n_bins, n_frames):
            raise ValueError(f"{feature} arrays have shape {want} but x has {(n_bins, n_frames)}")
        labels, hz, times = bin_labels(feature, **overrides), bin_frequencies(feature, **overrides), \
            frame_times(feature, **overrides)
    else:
        labels, hz, times = tuple(str(k) for k in range(n_bins)), None, np.arange(n_frames, dtype=np.float64)
    fn = occlusion if method == "occlusion" else integrated_gradients
    A = fn(model, X, **kwargs)
    values = np.abs(A).mean(axis=0) if reduce == "abs" else A.mean(axis=0)
    return Attribution(values=values.astype(np.float32), bin_labels=tuple(labels), frame_times_s=times,
                       method=method, feature=feature, bins_hz=hz, n_inputs=len(X))


def plot_attribution(spec, attr, bin_labels: Sequence[str] | None = None, frame_times_s=None,
                     title: str | None = None, n_ticks: int = 8, spec_cmap: str = "magma"):
    """A spectrogram beside its attribution map (frequency up, time right).

    Parameters
    ----------
    spec : array, shape (n_bins, n_frames)
        The input as the model saw it (drawn as is; pass dB values for a log look).
    attr : array, shape (n_bins, n_frames), or Attribution
        Drawn on a symmetric diverging scale (red = evidence for the explained class). An
        :class:`Attribution` also supplies the labels, times and title.
    bin_labels : sequence of str, optional
        Y tick labels (Hz, pitch classes, MFCC index); default bin indices.
    frame_times_s : array, shape (n_frames,), optional
        X axis in seconds; default frame indices.
    title : str, optional
    n_ticks : int
        About how many y ticks.

    Returns
    -------
    matplotlib.figure.Figure
        Two image axes (spectrogram, map), each with a colour bar.
    """
    from matplotlib.figure import Figure

    if isinstance(attr, Attribution):
        bin_labels = attr.bin_labels if bin_labels is None else bin_labels
        frame_times_s = attr.frame_times_s if frame_times_s is None else frame_times_s
        title = title or f"{attr.feature or 'input'}: {attr.method.replace('_', ' ')}"
        a = np.asarray(attr.values, np.float64)
    else:
        a = np.asarray(attr, np.float64)
    s = np.asarray(spec, np.float64)
    if s.ndim != 2 or a.shape != s.shape:
        raise ValueError(f"spec and attr must both be (n_bins, n_frames); got {s.shape} and {a.shape}")
    n_bins, n_frames = s.shape
    labels = list(bin_labels) if bin_labels is not None else [str(k) for k in range(n_bins)]
    if len(labels) != n_bins:
        raise ValueError(f"{len(labels)} bin labels for {n_bins} bins")
    t = np.asarray(frame_times_s, np.float64) if frame_times_s is not None else np.arange(n_frames, dtype=np.float64)
    dt = float(t[1] - t[0]) if n_frames > 1 else 1.0
    extent = (t[0] - dt / 2, t[-1] + dt / 2, -0.5, n_bins - 0.5)
    ticks = np.unique(np.linspace(0, n_bins - 1, min(n_ticks, n_bins)).round().astype(int))
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_s, ax_a = fig.subplots(1, 2, sharey=True)
    im = ax_s.imshow(s, origin="lower", aspect="auto", cmap=spec_cmap, extent=extent, interpolation="nearest")
    fig.colorbar(im, ax=ax_s, label="input")
    vmax = float(np.abs(a).max()) or 1.0
    im = ax_a.imshow(a, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, extent=extent,
                     interpolation="nearest")
    fig.colorbar(im, ax=ax_a, label="attribution")
    xlabel = "time (s)" if frame_times_s is not None else "frame"
    for ax, name in ((ax_s, "spectrogram"), (ax_a, "attribution")):
        ax.set_xlabel(xlabel)
        ax.set_title(name, fontsize=10)
    ax_s.set_yticks(ticks, [labels[k] for k in ticks])
    ax_s.set_ylabel("frequency bin")
    if title:
        fig.suptitle(title)
    return fig
