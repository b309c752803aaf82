"""Why was a file called fake? ``idsd detect FILE --explain OUT.png``: one figure per file.

The file is decoded and cut exactly as :mod:`idsd.detect` does (16 kHz mono, non-overlapping 2-s
windows, the last one zero-padded), every window is scored (P(real), the file score is the
audio-weighted mean) and the model's input of each explained window gets an attribution map from
:mod:`idsd.explain`. One figure shows, on a shared time axis in seconds over the whole file
(the windows laid side by side, each 2 s wide):

1. the model input: the spectrogram (or MFCC / chroma) exactly as the model saw it, windows
   concatenated in time, y ticks = :func:`idsd.explain.bin_labels` (Hz, pitch classes, MFCC k);
2. P(real) per window as bars coloured by their own decision (real / fake at the model's
   threshold), with the threshold line; the file score and decision in the axis title;
3. the attribution map (diverging colormap symmetric around 0; red = evidence for the explained
   class, e.g. "evidence for fake"), grey where a window was not explained; its title gives the
   share of the attribution mass below 1 kHz / 1-4 kHz / 4-8 kHz
   (:func:`idsd.explain.band_shares`), or "no Hz axis" for MFCC and chroma.

Defaults of the attribution
---------------------------
``method="occlusion"`` (backend-neutral: forward passes only): frequency bands of
``band_size = max(1, round(n_bins / 32))`` bins (about 32 bands, the rule of the study's maps in
:mod:`idsd.explanations`: mel 256 -> 8 bins, stft 513 -> 16, cqt/vqt 84 -> 3, iirt 85 -> 3, mfcc 40
-> 1 (40 bands), chroma 12 -> 1 (12 bands)), each occluded
over the WHOLE window (``span_size=None``; the time resolution of the map is then the 2-s window;
pass ``span_size=`` for finer), replaced by the window's own mean (``baseline="mean"``), the drop
of ``sign * logit(P(real))`` spread over the band; ``n_bands + 1`` forward passes per window.
``method="integrated_gradients"``: 32 trapezoid steps from the window's mean (cell resolution).
``target="fake"`` (default) explains the evidence for fake, ``"real"`` for real, ``"predicted"``
the FILE's decision at the model's threshold (the same class for every window).
At most ``max_windows`` (30) windows are explained, evenly spaced over the file when it has more;
the figure and the returned dict say how many of how many.

Only ``array`` and ``db`` models are explained: an ``image`` model's input is a rendered picture
without frequency and time axes (:class:`idsd.detect.DetectorConfigError` says so).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from idsd import CLIP_SAMPLES, SAMPLE_RATE
from idsd.detect import DetectorConfigError, _windows, decide
from idsd.errors import show_path

METHODS = ("occlusion", "integrated_gradients")
TARGETS = ("fake", "real", "predicted")
EXPLAIN_MODES = ("array", "db")
N_BANDS = 32
"""Occlusion: about this many frequency bands per window (``band_size = max(1, round(n_bins / N_BANDS))``)."""
IG_STEPS = 32
MAX_WINDOWS = 30
WINDOW_S = CLIP_SAMPLES / SAMPLE_RATE
BAND_EDGES = (0.0, 1000.0, 4000.0, 8000.0)


@dataclass
class FileExplanation:
    """Inputs, scores and attribution maps of one file's windows.

    Attributes
    ----------
    file : str
    duration_s : float
        Seconds of decoded audio.
    feature, mode : str
    X : numpy.ndarray, shape (n_windows, n_bins, n_frames), float32
        The model input of every window (as :func:`idsd.features.extract_batch` gives it).
    window_scores : numpy.ndarray, shape (n_windows,), float64
        P(real) per window (:meth:`idsd.detect.Detector.score_windows`).
    window_audio_s : numpy.ndarray, shape (n_windows,)
        Seconds of audio in each window (2.0 except possibly the last).
    explained : numpy.ndarray, shape (n_explained,), int
        Indices of the explained windows, increasing.
    attribution : numpy.ndarray, shape (n_explained, n_bins, n_frames), float32
        Map of each explained window; positive = evidence for ``target_class``.
    threshold : float
    threshold_source : str
    method : str
    target : str
        As asked (``"fake"``, ``"real"``, ``"predicted"``).
    target_class : str
        The class explained: ``"fake"`` or ``"real"`` (``"predicted"`` resolved to the file decision).
    method_kwargs : dict
        The arguments given to the method (defaults filled in).
    bin_labels : tuple of str, length n_bins
    bins_hz : numpy.ndarray, shape (n_bins,)
        Bin centres in Hz (NaN for MFCC / chroma).
    """

    file: str
    duration_s: float
    feature: str
    mode: str
    X: np.ndarray
    window_scores: np.ndarray
    window_audio_s: np.ndarray
    explained: np.ndarray
    attribution: np.ndarray
    threshold: float
    threshold_source: str
    method: str
    target: str
    target_class: str
    method_kwargs: dict
    bin_labels: tuple
    bins_hz: np.ndarray

    @property
    def n_windows(self) -> int:
        return int(len(self.window_scores))

    @property
    def n_explained(self) -> int:
        return int(len(self.explained))

    @property
    def score(self) -> float:
        """File score: window P(real) averaged with weights = seconds of audio (as ``idsd detect``)."""
        return float(np.average(self.window_scores, weights=self.window_audio_s))

    @property
    def decision(self) -> str:
        return decide(self.score, self.threshold)

    @property
    def band_shares(self) -> dict[str, float] | None:
        """Share of the attribution mass in 0-1 / 1-4 / 4-8 kHz (:func:`idsd.explain.band_shares`);
        ``None`` when the feature has no Hz axis (MFCC, chroma)."""
        from idsd.explain import band_shares

        if np.isnan(self.bins_hz).any():
            return None
        return band_shares(self.attribution, self.bins_hz, BAND_EDGES)


def choose_windows(n_windows: int, max_windows: int = MAX_WINDOWS) -> np.ndarray:
    """Indices of the windows to explain: all of them, or ``max_windows`` evenly spaced.

    Returns
    -------
    numpy.ndarray, shape (min(n_windows, max_windows),), int64
        Increasing, distinct; the first and the last window are always in (when ``max_windows >= 2``).
    """
    if int(max_windows) < 1:
        raise ValueError(f"max_windows must be >= 1, got {max_windows}")
    n, m = int(n_windows), int(max_windows)
    if n <= m:
        return np.arange(n, dtype=np.int64)
    return np.linspace(0, n - 1, m).round().astype(np.int64)  # step >= 1: distinct after rounding


def default_method_kwargs(method: str, n_bins: int, batch_size: int = 64, **given) -> dict:
    """The arguments of :func:`idsd.explain.occlusion` / :func:`idsd.explain.integrated_gradients`
    used here: the module defaults (see the module docstring) updated with ``given``."""
    if method == "occlusion":
        from idsd.explanations import default_band_size

        kw = {"band_size": default_band_size(int(n_bins), N_BANDS), "span_size": None, "baseline": "mean",
              "output": "logit", "batch_size": int(batch_size)}
    elif method == "integrated_gradients":
        kw = {"steps": IG_STEPS, "baseline": "mean", "batch_size": int(batch_size)}
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    kw.update(given)
    return kw


def check_explainable(detector) -> None:
    """Raise :class:`idsd.detect.DetectorConfigError` (one line) unless the model takes array/db input."""
    if detector.mode not in EXPLAIN_MODES:
        name = detector.model_path.name if getattr(detector, "model_path", None) else "the model"
        raise DetectorConfigError(
            f"{name}: --explain needs an array or db model (this one takes {detector.mode!r} input: "
            "rendered images have no frequency and time axes to attribute)")


def explain_windows(detector, path: str | os.PathLike, method: str = "occlusion", target: str = "fake",
                    max_windows: int = MAX_WINDOWS, **method_kwargs) -> FileExplanation:
    """Decode, window, score and explain one file (no figure).

    Parameters
    ----------
    detector : idsd.detect.Detector
        An ``array`` or ``db`` model.
    path : str or PathLike
        Any audio file :func:`idsd.audio.load_audio` reads.
    method : {"occlusion", "integrated_gradients"}
    target : {"fake", "real", "predicted"}
        The class whose evidence is mapped; ``"predicted"`` = the file's decision.
    max_windows : int
        At most this many windows are explained (:func:`choose_windows`).
    **method_kwargs
        Override the method's defaults (:func:`default_method_kwargs`), e.g. ``span_size=16``.

    Returns
    -------
    FileExplanation

    Raises
    ------
    AudioError
        The file cannot be decoded (names the file).
    DetectorConfigError
        An ``image`` model.
    ValueError
        Unknown method or target, ``max_windows < 1``.
    """
    from idsd import explain as E
    from idsd.audio import load_audio
    from idsd.features import extract_batch

    check_explainable(detector)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    choose_windows(1, max_windows)  # checks max_windows before any decoding
    name = os.fspath(path)
    y = load_audio(path)  # AudioError names the file; never empty
    W, audio_s = _windows(y)
    scores = detector.score_windows(W)
    bs = detector.batch_size
    X = np.concatenate([extract_batch(W[i:i + bs], detector.feature, detector.mode, device=detector.device,
                                      **detector.overrides) for i in range(0, len(W), bs)]).astype(np.float32)
    score = float(np.average(scores, weights=audio_s))
    target_class = decide(score, detector.threshold) if target == "predicted" else target
    idx = choose_windows(len(W), max_windows)
    kw = default_method_kwargs(method, X.shape[1], bs, **method_kwargs)
    fn = E.occlusion if method == "occlusion" else E.integrated_gradients
    signs = np.full(len(idx), 1.0 if target_class == "real" else -1.0)
    A = np.asarray(fn(detector.model, X[idx], target=signs, **kw), np.float32)
    overrides = detector.overrides
    return FileExplanation(
        file=name, duration_s=len(y) / SAMPLE_RATE, feature=detector.feature, mode=detector.mode, X=X,
        window_scores=np.asarray(scores, np.float64), window_audio_s=np.asarray(audio_s, np.float64),
        explained=idx, attribution=A, threshold=float(detector.threshold),
        threshold_source=str(detector.threshold_source), method=method, target=target,
        target_class=target_class, method_kwargs=kw,
        bin_labels=tuple(E.bin_labels(detector.feature, **overrides)),
        bins_hz=np.asarray(E.bin_frequencies(detector.feature, **overrides), np.float64))


def _khz(key: str) -> str:
    """``"0-1000 Hz"`` -> ``"0-1 kHz"``."""
    lo, hi = key.removesuffix(" Hz").split("-")
    return f"{float(lo) / 1000:g}-{float(hi) / 1000:g} kHz"


def shares_text(shares: dict[str, float] | None) -> str:
    """``"band shares 0-1 kHz 12%, 1-4 kHz 30%, 4-8 kHz 58%"``, or ``"band shares: no Hz axis"``."""
    if shares is None:
        return "band shares: no Hz axis"
    parts = [f"{_khz(k)} " + ("n/a" if not math.isfinite(v) else f"{100 * v:.0f}%") for k, v in shares.items()]
    return "band shares " + ", ".join(parts)


def explain_figure(ex: FileExplanation, n_ticks: int = 8):
    """The three-row figure of a :class:`FileExplanation` (not saved; no pyplot state).

    Parameters
    ----------
    ex : FileExplanation
    n_ticks : int
        About how many frequency ticks on rows 1 and 3.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[:3]`` = model input, P(real) per window, attribution (sharing the time axis in
        seconds, 0 .. 2 * n_windows); then the two colour bars.
    """
    import matplotlib
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    n, n_bins, n_frames = ex.X.shape
    total_s = n * WINDOW_S
    spec = np.concatenate(list(ex.X), axis=1) if n else np.zeros((n_bins, 0), np.float32)
    attr = np.full((n_bins, n * n_frames), np.nan, np.float32)
    for k, w in enumerate(ex.explained):
        attr[:, w * n_frames:(w + 1) * n_frames] = ex.attribution[k]
    extent = (0.0, total_s, -0.5, n_bins - 0.5)  # each window's frames fill its 2 s
    ticks = np.unique(np.linspace(0, n_bins - 1, min(n_ticks, n_bins)).round().astype(int))
    labels = [ex.bin_labels[k] for k in ticks]
    ylabel = {"mfcc": "MFCC coefficient", "chroma": "pitch class"}.get(ex.feature, "frequency")

    fig = Figure(figsize=(12, 9), layout="constrained")
    gs = fig.add_gridspec(3, 2, width_ratios=[60, 1], height_ratios=[3, 2, 3])
    ax_in = fig.add_subplot(gs[0, 0])  # main axes first: fig.axes[:3]; the colour bars after
    ax_p = fig.add_subplot(gs[1, 0], sharex=ax_in)
    ax_a = fig.add_subplot(gs[2, 0], sharex=ax_in, sharey=ax_in)
    cax_in, cax_a = fig.add_subplot(gs[0, 1]), fig.add_subplot(gs[2, 1])  # gs[1, 1] empty: x axes aligned

    from idsd.explanations import POWER_FEATURES

    shown, what = spec, f"model input ({ex.mode})"
    if ex.mode == "array" and ex.feature in POWER_FEATURES and np.nanmin(spec) >= 0:
        # linear power is drawn in dB to be visible (the model saw it linear)
        shown = 10 * np.log10(np.maximum(spec, 1e-10 * max(float(np.nanmax(spec)), 1e-30)))
        what = "model input (array), drawn in dB"
    im = ax_in.imshow(shown, origin="lower", aspect="auto", cmap="magma", extent=extent, interpolation="nearest")
    fig.colorbar(im, cax=cax_in, label=what)
    ax_in.set_yticks(ticks, labels)
    ax_in.set_ylabel(ylabel)
    ax_in.set_title(f"model input: {ex.feature} ({ex.mode}), {n} window(s) of 2 s side by side", fontsize=10)

    edges = np.arange(n) * WINDOW_S
    colours = ["tab:green" if decide(s, ex.threshold) == "real" else "tab:red" for s in ex.window_scores]
    bars = ax_p.bar(edges, ex.window_scores, width=WINDOW_S, align="edge", color=colours, edgecolor="black",
                    linewidth=0.5)
    done = set(int(w) for w in ex.explained)
    for w, bar in enumerate(bars):
        if w not in done:
            bar.set_alpha(0.35)
        if n <= 20:
            ax_p.text(bar.get_x() + WINDOW_S / 2, bar.get_height() + 0.02, f"{bar.get_height():.2f}",
                      ha="center", va="bottom", fontsize=8)
    ax_p.axhline(ex.threshold, color="black", linestyle="--", linewidth=1)
    ax_p.set_ylim(0, 1.25)  # room above 1 for the bar values and the legend
    ax_p.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax_p.set_ylabel("P(real)")
    ax_p.set_title(f"P(real) per window; file score {ex.score:.3f} -> {ex.decision} "
                   f"(real if > threshold {ex.threshold:.3g})", fontsize=10)
    handles = [Patch(color="tab:green", label="window real"), Patch(color="tab:red", label="window fake"),
               ax_p.lines[-1]]
    ax_p.lines[-1].set_label(f"threshold {ex.threshold:.3g}")
    ax_p.legend(handles=handles, loc="upper right", ncol=3, fontsize=8, framealpha=0.8)

    finite = attr[np.isfinite(attr)]
    vmax = float(np.abs(finite).max()) if finite.size else 0.0
    vmax = vmax or 1.0
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="lightgrey")
    im = ax_a.imshow(np.ma.masked_invalid(attr), origin="lower", aspect="auto", cmap=cmap,
                     norm=Normalize(-vmax, vmax), extent=extent, interpolation="nearest")
    unit = "logit drop per cell" if ex.method == "occlusion" else "logit units per cell"
    fig.colorbar(im, cax=cax_a, label=f"evidence for {ex.target_class} ({unit})")
    ax_a.set_ylabel(ylabel)
    ax_a.set_xlabel("time (s)")
    explained = (f"all {n} windows explained" if ex.n_explained == n
                 else f"{ex.n_explained} of {n} windows explained (evenly spaced; grey = not explained)")
    how = ex.method.replace("_", " ")
    if ex.method == "occlusion":
        span = ex.method_kwargs.get("span_size")
        size = int(ex.method_kwargs.get("band_size", 1))
        how += (f", bands of {size} bin{'s' if size != 1 else ''} x "
                + ("whole window" if span is None else f"{span} frames"))
    shares = ex.band_shares
    mass = ("no Hz axis (MFCC / chroma): no band shares" if shares is None
            else "share of the |attribution| " + shares_text(shares).removeprefix("band shares "))
    ax_a.set_title(f"attribution ({how}): {explained}\n{mass}", fontsize=10)

    for ax in (ax_in, ax_p, ax_a):
        if ex.duration_s < total_s - 0.5 / SAMPLE_RATE:  # the zero padding of the last window
            ax.axvspan(ex.duration_s, total_s, color="white", alpha=0.35, hatch="//", linewidth=0)
        for t in edges[1:]:
            ax.axvline(t, color="white" if ax is not ax_p else "grey", linewidth=0.5, alpha=0.6)
    ax_in.set_xlim(0, total_s)
    for ax in (ax_in, ax_p):
        ax.tick_params(labelbottom=False)

    fig.suptitle(f"{Path(ex.file).name}: feature {ex.feature}, P(real) {ex.score:.3f} -> {ex.decision.upper()}\n"
                 f"threshold {ex.threshold:.3g} ({ex.threshold_source})", fontsize=11)
    return fig


def check_output_png(out_png: str | os.PathLike) -> str | None:
    """Why ``out_png`` cannot receive the figure (``None`` when it can).

    Checks (without writing anything): the name ends in ``.png``, it is not a folder, and its folder
    exists, is a folder and is writable.
    """
    p = Path(os.fspath(out_png)).expanduser()
    if p.suffix.lower() != ".png":
        return "not a .png file name"
    if p.is_dir():
        return "is a folder, not a file"
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        return f"folder {show_path(parent)} does not exist"
    if not parent.is_dir():
        return f"{show_path(parent)} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"folder {show_path(parent)} is not writable"
    if p.exists() and not os.access(p, os.W_OK):
        return "exists and is not writable"
    return None


def save_figure(fig, out_png: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG atomically (:func:`idsd.files.atomic_write`: temporary file, then os.replace)."""
    from idsd.files import atomic_write

    return atomic_write(Path(os.fspath(out_png)).expanduser(),
                        lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))


def explain_file(detector, path: str | os.PathLike, out_png: str | os.PathLike, method: str = "occlusion",
                 target: str = "fake", max_windows: int = MAX_WINDOWS, **method_kwargs) -> dict:
    """Explain one file's detection and save the figure (:func:`explain_figure`) as PNG.

    Parameters
    ----------
    detector : idsd.detect.Detector
        An ``array`` or ``db`` model.
    path : str or PathLike
        The audio file.
    out_png : str or PathLike
        Where the figure goes (written atomically; its folder must exist).
    method : {"occlusion", "integrated_gradients"}
    target : {"fake", "real", "predicted"}
    max_windows : int
        At most this many windows are explained (evenly spaced when the file has more).
    **method_kwargs
        Override the method's defaults (see the module docstring), e.g. ``span_size=16``.

    Returns
    -------
    dict
        ``file``, ``out`` (str), ``score`` (file P(real)), ``decision``, ``threshold``,
        ``n_windows``, ``n_explained``, ``explained_windows`` (indices), ``method``, ``target``,
        ``target_class``, ``band_shares`` (``{"0-1000 Hz": share, ...}`` or ``None`` without an Hz axis).

    Raises
    ------
    AudioError
        The file cannot be decoded (names the file).
    DetectorConfigError
        An ``image`` model.
    OSError
        The PNG cannot be written.
    """
    problem = check_output_png(out_png)
    if problem:
        raise OSError(f"{show_path(out_png)}: {problem}")
    ex = explain_windows(detector, path, method=method, target=target, max_windows=max_windows, **method_kwargs)
    fig = explain_figure(ex)
    out = save_figure(fig, out_png)
    return {"file": ex.file, "out": str(out), "score": ex.score, "decision": ex.decision,
            "threshold": ex.threshold, "n_windows": ex.n_windows, "n_explained": ex.n_explained,
            "explained_windows": [int(i) for i in ex.explained], "method": ex.method, "target": ex.target,
            "target_class": ex.target_class, "band_shares": ex.band_shares}


def summary_line(info: dict) -> str:
    """``explanation: OUT.png (3 windows, occlusion, band shares ...)`` for ``idsd detect --explain``."""
    n = (f"{info['n_windows']} windows" if info["n_explained"] == info["n_windows"]
         else f"{info['n_explained']} of {info['n_windows']} windows")
    return f"explanation: {show_path(info['out'])} ({n}, {info['method']}, {shares_text(info['band_shares'])})"
