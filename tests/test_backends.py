"""The package works under KERAS_BACKEND=jax as well as TensorFlow (the GPU machines run JAX)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, numpy as np, keras
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float32")
m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, activation="sigmoid")])
m.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=["accuracy"])
h = m.fit(x, y, epochs=30, batch_size=32, verbose=0)
print(json.dumps({"backend": keras.backend.backend(), "acc": float(h.history["accuracy"][-1])}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_trivial_keras_model_trains(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    assert result["acc"] > 0.9
