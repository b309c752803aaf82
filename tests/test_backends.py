"""idsd's detector is the same model under KERAS_BACKEND=jax and TensorFlow (the GPU machines run JAX).

A model built and saved by :func:`idsd.model.build_model` under one backend is loaded by
:func:`idsd.artifact.load_model` under the other and gives the same scores
(:func:`idsd.scoring.predict_scores`), with the reference parameter count on both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SAVE = r"""
import json, sys, numpy as np, keras
from idsd.model import REFERENCE_PARAMS, build_model
from idsd.scoring import predict_scores
keras.utils.set_random_seed(0)
m = build_model((40, 63))
X = np.random.default_rng(0).random((8, 40, 63), dtype=np.float32)
m.save(sys.argv[1])
np.save(sys.argv[2], X)
s = predict_scores(m, X)
print(json.dumps({"backend": keras.backend.backend(), "params": m.count_params(),
                  "reference": REFERENCE_PARAMS["mfcc"]["avg"], "scores": s.tolist()}))
"""

LOAD = r"""
import json, sys, numpy as np, keras
from idsd.artifact import load_model
from idsd.scoring import predict_scores
m = load_model(sys.argv[1])
s = predict_scores(m, np.load(sys.argv[2]))
print(json.dumps({"backend": keras.backend.backend(), "params": m.count_params(), "scores": s.tolist()}))
"""


def _run(script: str, backend: str, *args) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    return result


@pytest.mark.parametrize(("saved_under", "loaded_under"), [("tensorflow", "jax"), ("jax", "tensorflow")])
def test_model_saved_under_one_backend_scores_the_same_under_the_other(tmp_path, saved_under, loaded_under):
    model, x = tmp_path / "mfcc_avg_10.keras", tmp_path / "x.npy"
    saved = _run(SAVE, saved_under, model, x)
    assert saved["params"] == saved["reference"]
    loaded = _run(LOAD, loaded_under, model, x)
    assert loaded["params"] == saved["params"]
    a, b = saved["scores"], loaded["scores"]
    assert len(a) == len(b) == 8 and max(a) - min(a) > 0  # eight scores, not a constant output
    assert max(abs(p - q) for p, q in zip(a, b)) < 1e-5
