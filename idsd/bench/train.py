"""Training-throughput benchmark of the exact detector (``idsd bench train``).

Synthetic batches of the model's input shape are pushed through the compiled training step
(forward, BCE loss, backward, Adam update) on whatever device the Keras backend sees; the first
``warmup`` steps (tracing / XLA compilation) are timed separately and excluded from the rate.
"""

from __future__ import annotations

import logging
import time

import numpy as np

log = logging.getLogger(__name__)


def input_shape(feature: str, mode: str = "array") -> tuple[int, int]:
    """Model input (n_bins, n_frames) of ``feature`` in ``mode``.

    Uses :func:`idsd.features.feature_shape` when that module is available, else the upstream
    shapes of :data:`idsd.model.PAPER_INPUT_SHAPES` (``array``/``db`` = the feature's shape,
    ``image`` = (640, 480)).
    """
    try:
        from idsd.features import feature_shape
    except ImportError:
        from idsd.model import PAPER_INPUT_SHAPES

        if mode == "image" or feature == "image":
            return PAPER_INPUT_SHAPES["image"]
        if feature not in PAPER_INPUT_SHAPES:
            raise ValueError(f"unknown feature {feature!r}; one of {sorted(PAPER_INPUT_SHAPES)}") from None
        return PAPER_INPUT_SHAPES[feature]
    if feature == "image":
        feature, mode = "mel", "image"
    return tuple(feature_shape(feature, mode))


def bench_train(feature: str = "mel", mode: str = "array", batch: int | None = None, steps: int = 10,
                warmup: int = 2, bf16: bool = False, pooling: str = "avg", seed: int = 0,
                jit_compile: bool | str | None = None) -> dict:
    """Measure training samples/s of the three-tower TCN on synthetic data.

    Parameters
    ----------
    feature, mode : str
        Which input shape (e.g. mel array (256, 126), image (640, 480)).
    batch : int, optional
        Batch size; None = the paper's (128 array/db, 32 image).
    steps : int
        Timed training steps (after the warm-up).
    warmup : int
        Untimed steps first (compilation).
    bf16 : bool
        ``mixed_bfloat16`` policy.
    pooling : {"avg", "max"}
    seed : int
    jit_compile : bool or "auto", optional
        None = :func:`idsd.train.default_jit_compile` (as in training).

    Returns
    -------
    dict
        feature, mode, shape, batch, steps, bf16, backend, device, device_name, compile_s (first
        step), step_ms (mean timed step), samples_per_s.
    """
    import keras

    from idsd.model import build_model
    from idsd.repro import device_info, set_seeds
    from idsd.train import BATCH_SIZES, compile_model

    shape = input_shape(feature, mode)
    batch = int(batch or BATCH_SIZES.get(mode, 128))
    if steps < 1 or warmup < 1:
        raise ValueError("steps and warmup must be >= 1")
    set_seeds(seed)
    prev = keras.config.dtype_policy()
    try:
        if bf16:
            keras.config.set_dtype_policy("mixed_bfloat16")
        model = build_model(shape, pooling)
    finally:
        keras.config.set_dtype_policy(prev)
    compile_model(model, 1e-3, jit_compile)
    rng = np.random.default_rng(seed)
    x = rng.random((batch, *shape), dtype=np.float32)
    y = (rng.random((batch, 1)) < 0.5).astype(np.float32)
    t0 = time.perf_counter()
    model.train_on_batch(x, y)  # returns host values: the step has finished
    compile_s = time.perf_counter() - t0
    for _ in range(warmup - 1):
        model.train_on_batch(x, y)
    t0 = time.perf_counter()
    for _ in range(steps):
        logs = model.train_on_batch(x, y, return_dict=True)
    elapsed = time.perf_counter() - t0
    if not np.isfinite(float(logs["loss"])):
        raise RuntimeError("benchmark loss is not finite")
    info = device_info()
    result = {"feature": feature, "mode": mode, "shape": list(shape), "batch": batch, "steps": steps,
              "bf16": bool(bf16), "pooling": pooling, "jit_compile": str(model.jit_compile), **info,
              "compile_s": round(compile_s, 2),
              "step_ms": round(1000 * elapsed / steps, 1), "samples_per_s": round(batch * steps / elapsed, 1)}
    log.info("bench train %s/%s %s batch %d: %.1f samples/s (%s)", feature, mode, shape, batch,
             result["samples_per_s"], info["backend"])
    return result
