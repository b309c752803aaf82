"""The upstream image pipeline (paper's "Pipeline A") and a fast equivalent.

Upstream draws each clip's spectrogram as a full matplotlib figure (``plt.subplots()``: 6.4 x 4.8
in at 100 dpi = 640 x 480 px, ``librosa.display.specshow`` with axes, title and a colorbar), saves
it as an RGBA PNG, and the training code loads it in grayscale resized to height 640 x width 480
and divides by 255. :func:`render_figure` + :func:`to_model_input` do exactly that in memory.

Conventions we had to fix (upstream is ambiguous, ``docs/paper.md`` section 2):

* grayscale: PIL's ``convert("L")`` (ITU-R 601-2 luma, ``(19595 R + 38470 G + 7471 B + 2^15) >> 16``),
  as Keras ``load_img(color_mode="grayscale")`` does;
* resize 480 x 640 -> 640 x 480: bilinear with half-pixel centres and no antialiasing
  (``tf.image.resize`` default, used by ``image_dataset_from_directory`` for training);
* titles of MFCC and chroma (not in the final upstream code): "MFCC" and "Chromagram".

The fast path (:class:`FastRenderer`) draws the figure of a feature only a few times, learns
from those draws which data cell every pixel shows and how much of it (spines and ticks are
drawn over the mesh edge with antialiasing), and then renders a clip as a table lookup:
``pixel = template(clim) + weight * (cmap(norm(cell)) - cmap(0))``. The template of a colour
range (the colorbar's tick labels depend on it) is made by redrawing only the colorbar axes over
a cached background, and cached. ``tests/test_images.py`` checks the pixels against
:func:`render_figure`.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict

import numpy as np

from idsd import SAMPLE_RATE
from idsd.feature_params import IMAGE_SHAPE, params

log = logging.getLogger(__name__)

FIGSIZE = (6.4, 4.8)
DPI = 100

TITLES = {
    "mel": "Mel-frequency spectrogram",
    "stft": "Power spectrogram",
    "cqt": "Constant-Q power spectrum",
    "vqt": "Variable-Q power spectrum",
    "iirt": "Semitone spectrogram (iirt)",
    "mfcc": "MFCC",
    "chroma": "Chromagram",
}
DB_FEATURES = ("mel", "stft", "cqt", "vqt", "iirt")


def display_data(raw: np.ndarray, feature: str) -> np.ndarray:
    """What upstream passes to ``specshow``: dB relative to the clip maximum, or the raw values.

    mel: ``power_to_db(S, ref=np.max)``; stft, cqt, vqt, iirt: ``amplitude_to_db(S, ref=np.max)``
    (``top_db`` 80); mfcc, chroma: unchanged. Silent clips give zeros (no -inf).

    Parameters
    ----------
    raw : numpy.ndarray, shape (freq_bins, frames)
        Raw librosa values (not divided by 255).
    """
    import librosa

    raw = np.asarray(raw, dtype=np.float32)
    if feature == "mel":
        return librosa.power_to_db(raw, ref=np.max)
    if feature in DB_FEATURES:
        return librosa.amplitude_to_db(raw, ref=np.max)
    return raw


def specshow_kwargs(feature: str, **overrides) -> dict:
    """The upstream ``specshow`` arguments of a feature."""
    p = params(feature, **overrides)
    kw = {"x_axis": "time", "sr": SAMPLE_RATE}
    if feature != "mfcc":  # upstream omits hop_length for MFCC (time axis labelled for hop 512)
        kw["hop_length"] = p["hop_length"]
    if feature == "mel":
        kw.update(y_axis="mel", fmax=SAMPLE_RATE)
    elif feature == "stft":
        kw.update(y_axis="log")
    elif feature in ("cqt", "vqt"):
        kw.update(y_axis="cqt_note", fmax=SAMPLE_RATE, bins_per_octave=p["bins_per_octave"])
        if p["fmin"] is not None:
            kw["fmin"] = p["fmin"]
    elif feature == "iirt":
        kw.update(y_axis="cqt_hz")
    elif feature == "chroma":
        kw.update(y_axis="chroma")
    return kw


def _build(data: np.ndarray, feature: str, cmap=None, **overrides):
    """Figure, canvas, mesh and colorbar of the upstream plot for ``data`` (display values).

    ``cmap`` None lets librosa choose it from the data, as upstream.
    """
    import librosa.display
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    ax = fig.subplots()
    kw = specshow_kwargs(feature, **overrides)
    if cmap is not None:
        kw["cmap"] = cmap
    mesh = librosa.display.specshow(data, ax=ax, **kw)
    fmt = "%+2.0f dB" if feature in DB_FEATURES else None
    cbar = fig.colorbar(mesh, ax=ax, format=fmt)
    ax.set(title=TITLES[feature])
    return fig, canvas, ax, mesh, cbar


def _rgba(canvas) -> np.ndarray:
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def render_figure(raw: np.ndarray, feature: str, **overrides) -> np.ndarray:
    """The upstream figure of one clip, drawn by matplotlib.

    Parameters
    ----------
    raw : numpy.ndarray, shape (freq_bins, frames)
        Raw librosa values of the feature.

    Returns
    -------
    numpy.ndarray, shape (480, 640, 4), uint8
        The RGBA pixels upstream saved as PNG.
    """
    fig, canvas, *_ = _build(display_data(raw, feature), feature, **overrides)
    return _rgba(canvas)


# --------------------------------------------------------------------------------------------
# grayscale + resize (the loader)


def grayscale(rgba: np.ndarray) -> np.ndarray:
    """PIL ``convert("L")`` of RGB(A) pixels, (..., H, W, 4) uint8 -> (..., H, W) uint8."""
    c = rgba[..., :3].astype(np.uint32)
    return ((c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) bilinear interpolation, half-pixel centres, no antialias (tf.image.resize)."""
    scale = n_in / n_out
    x = (np.arange(n_out) + 0.5) * scale - 0.5
    x = np.clip(x, 0, n_in - 1)
    i0 = np.floor(x).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    f = x - i0
    R = np.zeros((n_out, n_in), np.float32)
    R[np.arange(n_out), i0] += 1 - f
    R[np.arange(n_out), i1] += f
    return R


def to_model_input(rgba: np.ndarray) -> np.ndarray:
    """Upstream loader: grayscale, resize to height 640 x width 480, / 255.

    Parameters
    ----------
    rgba : numpy.ndarray, shape (..., 480, 640, 4), uint8

    Returns
    -------
    numpy.ndarray, shape (..., 640, 480), float32 in [0, 1]
    """
    g = grayscale(rgba).astype(np.float32)
    h, w = g.shape[-2:]
    Rh = _resize_matrix(h, IMAGE_SHAPE[0])  # (640, 480)
    Rw = _resize_matrix(w, IMAGE_SHAPE[1])  # (480, 640)
    return (Rh @ g @ Rw.T) / np.float32(255.0)


# --------------------------------------------------------------------------------------------
# fast path


class FastRenderer:
    """Pixel-equivalent of :func:`render_figure` for one feature and data shape, without a
    full matplotlib draw per clip.

    Parameters
    ----------
    feature : str
    shape : tuple of int
        (freq_bins, frames) of the display data.
    max_templates : int
        Colour ranges whose colorbar rendering is kept.
    """

    def __init__(self, feature: str, shape: tuple[int, int], cmap: str = "magma", max_templates: int = 64,
                 **overrides):
        from matplotlib.colors import ListedColormap, NoNorm

        self.feature = feature
        self.shape = tuple(shape)
        self.overrides = overrides
        data = np.zeros(self.shape, np.float32)
        data[0, 0] = 1.0
        fig, canvas, ax, mesh, cbar = _build(data, feature, cmap=cmap, **overrides)
        self.fig, self.canvas, self.ax, self.mesh, self.cbar = fig, canvas, ax, mesh, cbar
        self.cmap = mesh.get_cmap()
        self.lut = (self.cmap(np.array([0.0, 1.0])) * 255).astype(np.float32)[:, :3]
        canvas.draw()
        # (1) mesh weight per pixel: all cells at cmap(0) vs all at cmap(1), colorbar unchanged
        mesh.set_clim(0.0, 1.0)
        mesh.set_array(np.zeros(self.shape, np.float32).ravel())
        lo = _rgba(canvas).astype(np.float32)
        mesh.set_array(np.ones(self.shape, np.float32).ravel())
        hi = _rgba(canvas).astype(np.float32)
        c0, c1 = self.lut[0], self.lut[-1]
        ch = int(np.argmax(np.abs(c1 - c0)))
        w = (hi[..., ch] - lo[..., ch]) / (c1[ch] - c0[ch])
        w[np.abs(w) < 0.5 / 255] = 0.0
        w[np.abs(w - 1) < 0.5 / 255] = 1.0
        self.weight = np.clip(w, 0, 1).astype(np.float32)
        # (2) which cell each pixel shows: index-coded colours, axes decorations hidden
        n_cells = self.shape[0] * self.shape[1]
        codes = np.arange(n_cells)
        colors = np.stack([codes & 255, (codes >> 8) & 255, (codes >> 16) & 255], axis=1) / 255.0
        spines = [s.get_visible() for s in ax.spines.values()]
        for s in ax.spines.values():
            s.set_visible(False)
        mesh.set_cmap(ListedColormap(colors))
        mesh.set_norm(NoNorm())
        mesh.set_array(codes.reshape(self.shape).ravel())
        px = _rgba(canvas).astype(np.int64)
        self.index = (px[..., 0] + (px[..., 1] << 8) + (px[..., 2] << 16)).clip(0, n_cells - 1)
        self.index = self.index[self.weight > 0]
        self.mask = self.weight > 0
        # restore the real figure; background without the colorbar, mesh at cmap(0)
        for s, v in zip(ax.spines.values(), spines):
            s.set_visible(v)
        from matplotlib.colors import Normalize

        mesh.set_cmap(self.cmap)
        mesh.set_norm(Normalize(0.0, 1.0))
        if feature in DB_FEATURES:  # a new norm resets the colorbar's formatter
            from matplotlib.ticker import FormatStrFormatter

            cbar.formatter = FormatStrFormatter("%+2.0f dB")
        mesh.set_array(np.zeros(self.shape, np.float32).ravel())
        cbar.ax.set_visible(False)
        canvas.draw()
        self.background = canvas.copy_from_bbox(fig.bbox)
        cbar.ax.set_visible(True)
        self.templates: OrderedDict = OrderedDict()
        self.max_templates = max_templates

    def _template(self, vmin: float, vmax: float) -> np.ndarray:
        key = (float(vmin), float(vmax))
        t = self.templates.get(key)
        if t is not None:
            self.templates.move_to_end(key)
            return t
        self.mesh.set_clim(vmin, vmax)
        renderer = self.canvas.get_renderer()
        self.canvas.restore_region(self.background)
        self.cbar.ax.draw(renderer)
        t = np.asarray(renderer.buffer_rgba())[..., :3].astype(np.float32)
        self.templates[key] = t
        if len(self.templates) > self.max_templates:
            self.templates.popitem(last=False)
        return t

    def render(self, data: np.ndarray) -> np.ndarray:
        """RGBA pixels of one clip's figure, (480, 640, 4) uint8, from display values."""
        data = np.asarray(data, dtype=np.float32)
        if data.shape != self.shape:
            raise ValueError(f"expected display data of shape {self.shape}, got {data.shape}")
        # the colour range matplotlib's autoscaling picks (QuadMesh norm from the data)
        self.mesh.set_clim(float(data.min()), float(data.max()))
        norm = self.mesh.norm
        vmin, vmax = norm.vmin, norm.vmax
        rgba = self.cmap(norm(data.ravel()))[:, :3].astype(np.float32) * np.float32(255.0)
        out = self._template(vmin, vmax).copy()
        cell = rgba[self.index] - self.lut[0]
        out[self.mask] += self.weight[self.mask, None] * cell
        res = np.empty(out.shape[:2] + (4,), np.uint8)
        res[..., :3] = np.clip(np.rint(out), 0, 255)
        res[..., 3] = 255
        return res


@functools.lru_cache(maxsize=16)
def _renderer(feature: str, shape: tuple[int, int], cmap: str, overrides: tuple) -> FastRenderer:
    return FastRenderer(feature, shape, cmap=cmap, **dict(overrides))


def render_fast(raw: np.ndarray, feature: str, **overrides) -> np.ndarray:
    """Same pixels as :func:`render_figure` via :class:`FastRenderer`, (480, 640, 4) uint8."""
    import librosa.display

    data = display_data(raw, feature)
    cmap = librosa.display.cmap(data).name  # librosa's automatic choice, as in the figure path
    return _renderer(feature, data.shape, cmap, tuple(sorted(overrides.items()))).render(data)


def images_from_raw(raw: np.ndarray, feature: str, fast: bool = True, progress: bool = False,
                    **overrides) -> np.ndarray:
    """Image-mode model input for a batch of raw features.

    Parameters
    ----------
    raw : numpy.ndarray, shape (n, freq_bins, frames)
    fast : bool
        Template renderer (default) or one matplotlib figure per clip.

    Returns
    -------
    numpy.ndarray, shape (n, 640, 480), float32 in [0, 1]
    """
    from idsd.progress import tqdm

    render = render_fast if fast else render_figure
    out = np.empty((len(raw), *IMAGE_SHAPE), np.float32)
    for i in tqdm(range(len(raw)), desc=f"{feature} images", disable=not progress, leave=False):
        out[i] = to_model_input(render(raw[i], feature, **overrides))
    return out
