"""``idsd bench detect``: warm cost per 2-s window of ``idsd detect`` on a long file, vs the upstream loop.

Upstream (the authors' ``eval_model.py``) scores one clip at a time: the whole file is loaded, and
for every 2-s clip the librosa feature is computed (:func:`idsd.features.reference`) and
``model.predict`` is called on a batch of one. Ours is :meth:`idsd.detect.Detector.detect_files`:
the file is decoded as a stream (:class:`idsd.audio.AudioStream`), its windows are flagged,
batched, featurised (:func:`idsd.features.extract_batch`) and predicted ``batch_size`` at a time.

Each path runs in a fresh child process (``python -m idsd.bench.detect``), so that its peak RSS is
its own (TensorFlow's start-up included: it dominates on a CPU machine). The child loads the
model, warms up (one full batch of windows through features and model, or one clip upstream),
then times the whole file; the cost is the timed wall seconds divided by the windows. The model is
the installed default detector (``<outputs>/models/detect/``), the one given, or, when none is
installed, a freshly built untrained detector (:func:`idsd.model.build_model`): the cost of a
forward pass does not depend on the weights. The file is generated: speech-like signal
(:func:`idsd.bench.features.bench_clips`), 16-bit WAV, a whole number of 2-s windows.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from idsd import CLIP_SAMPLES, SAMPLE_RATE

log = logging.getLogger(__name__)

PATHS = ("ours", "upstream")
PATH_LABELS = {
    "ours": "ours      (streamed, batched)",
    "upstream": "upstream  (whole file, one predict per clip)",
}


def _rss_mb(maxrss: int) -> float:
    """``ru_maxrss`` in MB (KiB on Linux, bytes on macOS)."""
    return maxrss / (1024.0 ** 2 if sys.platform == "darwin" else 1024.0)


def write_bench_file(path: str | os.PathLike, seconds: float, sr: int = SAMPLE_RATE, seed: int = 0) -> Path:
    """A long speech-like 16-bit mono WAV, written one block at a time (memory stays small).

    Parameters
    ----------
    path : str or PathLike
    seconds : float
        Rounded up to a whole number of 2-s windows (the upstream loop drops a partial tail).
    sr : int
        Sample rate of the file (16000: no resampling; any other rate: ours and upstream resample).
    seed : int

    Returns
    -------
    pathlib.Path
    """
    import soundfile as sf
    import soxr

    from idsd.bench.features import bench_clips

    clip_s = CLIP_SAMPLES / SAMPLE_RATE
    n_windows = max(1, int(np.ceil(float(seconds) / clip_s - 1e-9)))
    clips = bench_clips(16, seed).reshape(-1)  # 32 s of distinct signal, cycled
    if sr != SAMPLE_RATE:
        clips = soxr.resample(clips, SAMPLE_RATE, sr, quality="VHQ").astype(np.float32)
    total = int(round(n_windows * clip_s * sr))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(path, "w", int(sr), 1, subtype="PCM_16") as f:
        done = 0
        while done < total:
            k = min(len(clips), total - done)
            f.write(clips[:k])
            done += k
    return path


def resolve_model(model: str | os.PathLike | None, outputs, feature: str, folder: Path) -> tuple[Path, str]:
    """The model to time and where it comes from.

    Returns
    -------
    path : pathlib.Path
    source : str
        ``"given"``, ``"installed default detector"`` or ``"untrained <feature> detector built for
        timing (no model installed in <dir>)"``.
    """
    from idsd.detect import ModelNotFoundError, default_model_dir, find_model

    try:
        path = find_model(model, outputs)
    except ModelNotFoundError:
        if model is not None:
            raise
    else:
        return path, "given" if model is not None else "installed default detector"
    import keras

    from idsd.artifact import write_record
    from idsd.features import feature_shape
    from idsd.model import build_model

    keras.utils.set_random_seed(0)
    shape = tuple(int(n) for n in feature_shape(feature, "array"))
    path = folder / f"{feature}_avg_10.keras"
    build_model(shape, pooling="avg").save(path)
    write_record(path, {"feature": feature, "mode": "array", "pooling": "avg", "train_corpus": "none (untrained)",
                        "input_shape": list(shape), "threshold": 0.5, "threshold_source": "untrained bench model"})
    return path, f"untrained {feature} detector built for timing (no model installed in {default_model_dir(outputs)})"


# --------------------------------------------------------------------------- the measured paths (child side)


def _ours(model: str, audio: str, batch_size: int) -> dict:
    from idsd.bench.features import bench_clips
    from idsd.detect import Detector

    det = Detector.load(model, batch_size=batch_size)
    # warm-up: a full batch and a partial one (the last batch of a file has another shape)
    det.score_signal(bench_clips(batch_size + 1).reshape(-1))
    warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    results, errors = det.detect_files([audio])
    elapsed = time.perf_counter() - t0
    if len(errors):
        raise RuntimeError(f"{audio}: {errors.iloc[0]['reason']}")
    row = results.iloc[0]
    return {"seconds": elapsed, "windows": int(row["windows"]), "rss_warm": warm,
            "scores": [None if s != s else float(s) for s in row["window_scores"]],
            "feature": det.feature, "mode": det.mode}


def _upstream(model: str, audio: str, batch_size: int) -> dict:
    """The authors' loop: load the whole file; per 2-s clip, the librosa feature and one predict."""
    from idsd.audio import fragments, load_audio
    from idsd.detect import Detector
    from idsd.features import SCALE, extract, reference

    det = Detector.load(model)  # only for the feature, mode and overrides of the model
    net, feature, mode, over = det.model, det.feature, det.mode, det.overrides

    def feat(clip: np.ndarray) -> np.ndarray:
        if mode == "array":
            return reference(clip, feature, **over) / np.float32(SCALE)
        return extract(clip, feature, mode, **over)

    from idsd.bench.features import bench_clips

    net.predict(feat(bench_clips(1)[0])[None], verbose=0)  # warm-up: one clip
    warm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    y = load_audio(audio)
    scores = [float(np.asarray(net.predict(feat(clip)[None], verbose=0)).reshape(-1)[0])
              for clip in fragments(y, pad=False)]
    elapsed = time.perf_counter() - t0
    return {"seconds": elapsed, "windows": len(scores), "rss_warm": warm, "scores": scores,
            "feature": feature, "mode": mode}


def _child(argv: list[str]) -> int:
    """``python -m idsd.bench.detect PATH MODEL AUDIO BATCH``: one JSON line on stdout."""
    from idsd.commands.detect import quiet_backend_import

    which, model, audio, batch = argv[0], argv[1], argv[2], int(argv[3])
    quiet_backend_import()
    out = (_ours if which == "ours" else _upstream)(model, audio, batch)
    out["rss_peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out))
    return 0


# --------------------------------------------------------------------------- the run (parent side)


def measure_path(which: str, model: str | os.PathLike, audio: str | os.PathLike, batch_size: int = 64,
                 device: str = "cpu") -> dict:
    """Run one path in a fresh child process.

    Returns
    -------
    dict
        ``path``, ``windows``, ``seconds`` (timed, after the warm-up), ``ms_per_window``,
        ``peak_rss_mb`` (whole child process: interpreter, backend, model, the run),
        ``warm_rss_mb`` (peak before the timed run), ``scores`` (P(real) per window).
    """
    if which not in PATHS:
        raise ValueError(f"unknown path {which!r} (one of {', '.join(PATHS)})")
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if device == "cpu":  # the CPU cost, even where an accelerator is visible
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["JAX_PLATFORMS"] = "cpu"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "idsd.bench.detect", which, str(model), str(audio),
                                 str(int(batch_size))], stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errtext = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        last = [ln for ln in errtext.strip().splitlines() if ln.strip()][-3:]
        raise RuntimeError(f"bench detect {which}: child failed (exit {proc.returncode}): " + " | ".join(last))
    res = json.loads(text.strip().splitlines()[-1])
    return {"path": which, "windows": res["windows"], "seconds": res["seconds"],
            "ms_per_window": 1e3 * res["seconds"] / max(1, res["windows"]),
            "peak_rss_mb": _rss_mb(max(usage.ru_maxrss, res["rss_peak"])), "warm_rss_mb": _rss_mb(res["rss_warm"]),
            "feature": res["feature"], "mode": res["mode"], "scores": res["scores"]}


def bench_detect(model: str | os.PathLike | None = None, outputs=None, feature: str = "mel",
                 seconds: float = 600.0, rate: int = SAMPLE_RATE, batch_size: int = 64,
                 paths=PATHS, device: str = "cpu", folder: str | os.PathLike | None = None) -> dict:
    """Time ``idsd detect`` and the upstream loop on the same generated long file.

    Parameters
    ----------
    model : str or PathLike, optional
        A model file or folder; default: the installed default detector, else an untrained one.
    outputs : str, PathLike or Outputs, optional
        Outputs directory of the default detector (default: :data:`idsd.paths.OUTPUTS`).
    feature : str
        Feature of the untrained detector built when none is installed.
    seconds : float
        Length of the generated file (rounded up to whole 2-s windows).
    rate : int
        Its sample rate (16000: no resampling).
    batch_size : int
        Windows per batch of our path.
    paths : sequence of {"ours", "upstream"}
    device : {"cpu", "auto"}
        ``cpu`` hides accelerators from the children (the warm CPU cost).
    folder : str or PathLike, optional
        Where the file (and a built model) go; default: a temporary folder, removed afterwards.

    Returns
    -------
    dict
        ``model``, ``model_source``, ``feature``, ``mode``, ``seconds``, ``rate``, ``windows``,
        ``batch_size``, ``cpu_count``, ``load_avg`` (1-min load before the run), ``runs`` (one
        :func:`measure_path` dict per path, without its scores), and with both paths ``ratio``
        (upstream / ours ms per window), ``rss_ratio`` and ``max_score_diff`` (largest absolute
        difference of the two paths' window scores).
    """
    from idsd.paths import OUTPUTS

    outputs = OUTPUTS if outputs is None else outputs
    tmp = None
    if folder is None:
        tmp = tempfile.TemporaryDirectory(prefix="idsd-bench-detect-")
        folder = tmp.name
    folder = Path(folder)
    try:
        model_path, source = resolve_model(model, outputs, feature, folder)
        audio = write_bench_file(folder / f"bench_{int(round(seconds))}s_{rate}Hz.wav", seconds, rate)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        runs = {}
        for which in paths:
            runs[which] = measure_path(which, model_path, audio, batch_size, device)
            log.debug("%s: %.2f ms/window", which, runs[which]["ms_per_window"])
    finally:
        if tmp is not None:
            tmp.cleanup()
    first = next(iter(runs.values()))
    out = {"model": str(model_path), "model_source": source, "feature": first["feature"], "mode": first["mode"],
           "seconds": first["windows"] * CLIP_SAMPLES / SAMPLE_RATE, "rate": int(rate), "windows": first["windows"],
           "batch_size": int(batch_size), "device": device, "cpu_count": os.cpu_count(), "load_avg": load,
           "runs": {k: {kk: vv for kk, vv in v.items() if kk != "scores"} for k, v in runs.items()}}
    if "ours" in runs and "upstream" in runs:
        ours, up = runs["ours"], runs["upstream"]
        out["ratio"] = up["ms_per_window"] / ours["ms_per_window"]
        out["rss_ratio"] = up["peak_rss_mb"] / ours["peak_rss_mb"]
        a = np.array([np.nan if s is None else s for s in ours["scores"]], dtype=float)
        b = np.asarray(up["scores"], dtype=float)
        both = np.isfinite(a[: len(b)])
        out["max_score_diff"] = float(np.max(np.abs(a[: len(b)][both] - b[both]))) if both.any() else None
    return out


def format_lines(res: dict) -> list[str]:
    """A header line, one line per measured path, and the ratio line when both ran."""
    load = f", load {res['load_avg']:.1f}" if res.get("load_avg") is not None else ""
    lines = [f"model {res['model']} ({res['model_source']}); {res['feature']}/{res['mode']}; "
             f"{res['seconds']:g} s file at {res['rate']} Hz = {res['windows']} windows of 2 s; "
             f"{res['device']}, {res['cpu_count']} cores{load}"]
    for which, r in res["runs"].items():
        label = PATH_LABELS[which].replace("batched", f"batches of {res['batch_size']}")
        lines.append(f"{label:<46} {r['ms_per_window']:9.2f} ms/window  ({r['seconds']:.2f} s warm)  "
                     f"peak RSS {r['peak_rss_mb']:.0f} MB ({r['warm_rss_mb']:.0f} MB after warm-up)")
    if "ratio" in res:
        diff = res.get("max_score_diff")
        agree = f"; window scores differ by at most {diff:.1e}" if diff is not None else ""
        lines.append(f"upstream / ours: {res['ratio']:.2f}x time per window, {res['rss_ratio']:.2f}x peak RSS{agree}")
    return lines


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
