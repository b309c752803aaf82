"""Reproducibility: seeds, optional deterministic ops, and the environment a run used.

:func:`set_seeds` seeds Python, NumPy and the Keras backend (``keras.utils.set_random_seed``)
and, on TensorFlow, can switch on op determinism. :func:`environment_info` records library
versions, the Keras backend and the compute device, for run records.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import platform
import sys

log = logging.getLogger(__name__)

_PACKAGES = ("idsd", "numpy", "keras", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch",
             "keras-tcn", "librosa", "scikit-learn", "pandas")


def set_seeds(seed: int = 0, deterministic: bool = False) -> dict:
    """Seed every random number generator a training run touches.

    Parameters
    ----------
    seed : int
        Seed for Python's ``random``, NumPy and the Keras backend.
    deterministic : bool
        On TensorFlow, also call ``tf.config.experimental.enable_op_determinism()`` (slower; the
        setting is process-wide and stays on). Ignored on other backends (JAX is deterministic on
        CPU; GPU reductions may still differ in the last bits).

    Returns
    -------
    dict
        ``{"seed": seed, "deterministic": bool}`` as applied, for the run record.
    """
    import keras

    seed = int(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    keras.utils.set_random_seed(seed)  # python random, numpy, backend
    applied = False
    if deterministic:
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
            applied = True
        else:
            log.info("op determinism is a TensorFlow switch; backend %s left as is",
                     keras.backend.backend())
    return {"seed": seed, "deterministic": applied}


def versions() -> dict[str, str]:
    """Installed versions of the packages that matter for a run (absent ones are omitted)."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def device_info() -> dict:
    """The accelerator the current Keras backend computes on.

    Returns
    -------
    dict
        ``{"backend": str, "device": "gpu" | "cpu" | ..., "device_name": str, "n_devices": int,
        "cpu_count": int}``.
    """
    import keras

    backend = keras.backend.backend()
    info = {"backend": backend, "device": "cpu", "device_name": platform.processor() or platform.machine(),
            "n_devices": 1, "cpu_count": os.cpu_count() or 1}
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                info.update(device="gpu", device_name=details.get("device_name", gpus[0].name),
                            n_devices=len(gpus))
        elif backend == "jax":
            import jax

            devs = jax.devices()
            if devs and devs[0].platform != "cpu":
                info.update(device=devs[0].platform, device_name=getattr(devs[0], "device_kind", str(devs[0])),
                            n_devices=len(devs))
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                info.update(device="gpu", device_name=torch.cuda.get_device_name(0),
                            n_devices=torch.cuda.device_count())
    except Exception as exc:  # device probing must never break a run record
        log.warning("could not query the %s device: %s", backend, exc)
    return info


NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU flags (Linux ``/proc/cpuinfo``) of x86 instructions that compute bfloat16 natively."""


def cpu_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> set[str]:
    """The instruction-set flags of the first CPU in ``cpuinfo`` (empty where there is none: not Linux).

    Parameters
    ----------
    cpuinfo : str or PathLike
        A file in the format of Linux's ``/proc/cpuinfo``.

    Returns
    -------
    set of str
        E.g. ``{"avx2", "avx512f", "avx512_bf16", ...}``.
    """
    from pathlib import Path

    try:
        text = Path(cpuinfo).read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


@functools.lru_cache(maxsize=8)
def native_bf16(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    """Whether ``mixed_bfloat16`` training runs at native speed here.

    True on a GPU (every Keras backend's GPU path has bfloat16 kernels) and on a CPU with one of
    :data:`NATIVE_BF16_FLAGS`; False on other CPUs, where bfloat16 matmuls and convolutions are
    emulated: measured 9.3x slower than float32 for the mel model on a 2-core AVX2 CPU
    (5.5 against 51.0 samples/s, ``idsd bench train --feature mel [--bf16]``, docs/benchmarks.md).
    """
    if device_info()["device"] != "cpu":
        return True
    return bool(cpu_flags(cpuinfo) & set(NATIVE_BF16_FLAGS))


def environment_info() -> dict:
    """Versions, backend, device and platform, for a run record (JSON-serialisable)."""
    return {"versions": versions(), **device_info(), "platform": platform.platform(),
            "python_executable": sys.executable}
