"""What the trained detectors use, study-wide (notebook 08): attribution per frequency bin, band shares, band ablation.

:mod:`idsd.explain` explains one model on one input; this module runs it over a study:

- :func:`explain_rows` picks the clips to explain from a corpus's eval split (balanced per class,
  spread over the fake sources);
- :func:`clip_profiles` reduces each clip's attribution map (n_bins x n_frames) to its mean
  |attribution| and mean signed attribution per frequency bin;
- :func:`profile_table` averages them per class (real, fake) and per fake source, with each bin's
  label and centre in Hz; :func:`band_share_table` gives the share of the attribution mass below
  1 kHz, 1-4 kHz and 4-8 kHz (MFCC and chroma have no Hz axis: NaN);
- :func:`band_stop` and :func:`ablation_scores` remove one band from the AUDIO (a brick-wall
  band-stop on each clip's FFT, so every representation, MFCC and chroma included, loses the same
  content), re-extract the model's features and re-score; :func:`ablation_cells` gives the EER
  of each band removal with its interval and a paired bootstrap test against the intact audio
  (Holm-corrected), which checks the maps against the detector's behaviour.

Attribution target: ``"real"``, so a positive value is evidence for bona fide speech and a
negative one evidence for fake; band shares use |attribution| and do not depend on the sign.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from idsd import SAMPLE_RATE
from idsd.progress import tqdm

log = logging.getLogger(__name__)

BANDS: tuple[tuple[float, float], ...] = ((0.0, 1000.0), (1000.0, 4000.0), (4000.0, 8000.0))
"""The bands of the band-share and band-ablation tables, in Hz."""
INTACT = "none"
"""The ``band`` of the unmodified audio in the ablation tables."""
POWER_FEATURES = ("mel", "stft", "cqt", "vqt", "iirt")
"""Representations whose array mode holds linear power or magnitude (drawn in dB in the gallery)."""
ABLATION_METHOD = "the band's FFT coefficients of each 2-s clip set to zero (brick-wall band-stop on the 16 kHz audio)"


def band_name(band: tuple[float, float]) -> str:
    """``(1000, 4000) -> "1-4 kHz"``."""
    lo, hi = band
    return f"{lo / 1000:g}-{hi / 1000:g} kHz"


def code_digest() -> str:
    """Hash of the explanation code (a stored result is reused only for the same code)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in ("explain.py", "explanations.py", "features.py", "feature_params.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


# =========================================================================== which clips


def explain_rows(manifest: pd.DataFrame, per_class: int, seed: int = 0, split: str = "eval") -> pd.DataFrame:
    """Clips of one split to explain: ``per_class`` per class, spread evenly over sources.

    Parameters
    ----------
    manifest : DataFrame
        A corpus manifest (``split``, ``target``, ``source``, ``path``, ``fragment`` ...).
    per_class : int
        Clips per class (0: every clip of the split).
    seed : int
    split : str

    Returns
    -------
    DataFrame
        The chosen rows (reals first, then fakes), index reset. Within a class, the k-th clip of
        every source is taken before the (k+1)-th of any, in a seeded random order.
    """
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        raise ValueError(f"the manifest has no {split!r} rows to explain")
    picked = []
    for target in (1, 0):
        cls = rows[rows["target"] == target]
        if per_class and len(cls) > per_class:
            order = cls.sample(frac=1.0, random_state=seed)
            rank = order.groupby("source", sort=False).cumcount()
            order = order.assign(_rank=rank.to_numpy(), _draw=np.arange(len(order)))
            cls = order.sort_values(["_rank", "_draw"]).head(per_class).drop(columns=["_rank", "_draw"])
        picked.append(cls)
    return pd.concat(picked).reset_index(drop=True)


def clip_windows(rows: pd.DataFrame) -> np.ndarray:
    """The 2-s audio of manifest rows (each file decoded once).

    Returns
    -------
    numpy.ndarray, shape (n, 32000), float32
    """
    from idsd.audio import fragments, load_audio

    W = np.zeros((len(rows), 32000), dtype=np.float32)
    by_path = rows.reset_index(drop=True).groupby("path", sort=False).indices
    for path, idx in tqdm(by_path.items(), desc="audio", unit="file", total=len(by_path)):
        frags = fragments(load_audio(path), pad=True)
        for i in idx:
            W[i] = frags[int(rows["fragment"].iloc[i])]
    return W


# =========================================================================== attribution per bin


def clip_profiles(model, X, method: str = "occlusion", chunk: int = 32, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Mean |attribution| and mean attribution per frequency bin of every clip.

    Parameters
    ----------
    model : keras.Model
    X : array, shape (n, n_bins, n_frames)
        Model inputs.
    method : {"occlusion", "integrated_gradients"}
    chunk : int
        Clips per call of the attribution method.
    **kwargs
        Passed to :func:`idsd.explain.occlusion` or :func:`idsd.explain.integrated_gradients`
        (``target`` defaults to ``"real"``).

    Returns
    -------
    abs_profile : numpy.ndarray, shape (n, n_bins), float64
        Mean over frames of |attribution|.
    signed_profile : numpy.ndarray, shape (n, n_bins), float64
        Mean over frames of the attribution (positive: evidence for real).
    """
    from idsd import explain

    if method not in explain.METHODS:
        raise ValueError(f"method must be one of {explain.METHODS}, got {method!r}")
    fn = explain.occlusion if method == "occlusion" else explain.integrated_gradients
    kwargs.setdefault("target", "real")
    n, n_bins = len(X), X.shape[1]
    abs_p = np.zeros((n, n_bins))
    signed = np.zeros((n, n_bins))
    for start in range(0, n, chunk):
        A = np.asarray(fn(model, np.asarray(X[start:start + chunk], np.float32), **kwargs), np.float64)
        abs_p[start:start + len(A)] = np.abs(A).mean(axis=2)
        signed[start:start + len(A)] = A.mean(axis=2)
    return abs_p, signed


def default_band_size(n_bins: int, n_bands: int = 32) -> int:
    """Bins per occlusion band so that a map has about ``n_bands`` bands (at least 1 bin)."""
    return max(1, int(round(n_bins / n_bands)))


def profile_table(rows: pd.DataFrame, abs_profile: np.ndarray, signed_profile: np.ndarray, feature: str,
                  overrides: dict | None = None) -> pd.DataFrame:
    """Mean attribution per bin, per class and per fake source.

    Parameters
    ----------
    rows : DataFrame, n rows
        The explained clips (``target``, ``source``).
    abs_profile, signed_profile : numpy.ndarray, shape (n, n_bins)
        From :func:`clip_profiles`.
    feature : str
    overrides : dict, optional

    Returns
    -------
    DataFrame
        One row per (group, value, bin): ``group`` ("class" with value all/real/fake, or "source"
        with a fake source), ``n_clips``, ``bin``, ``bin_label``, ``hz`` (NaN for MFCC/chroma),
        ``share`` (the group's mean |attribution| per bin over its sum: sums to 1 per group) and
        ``signed`` (mean signed attribution per bin over the same sum: > 0 evidence for real).
    """
    from idsd.explain import bin_frequencies, bin_labels

    overrides = overrides or {}
    hz = bin_frequencies(feature, **overrides)
    labels = bin_labels(feature, **overrides)
    target = rows["target"].to_numpy()
    groups = [("class", "all", np.ones(len(target), bool)), ("class", "real", target == 1),
              ("class", "fake", target == 0)]
    fake_sources = rows.loc[target == 0, "source"].astype(str)
    for src in sorted(fake_sources.unique()):
        groups.append(("source", src, (target == 0) & (rows["source"].astype(str) == src).to_numpy()))
    parts = []
    for group, value, sel in groups:
        if not sel.any():
            continue
        mass = abs_profile[sel].mean(axis=0)
        total = mass.sum()
        scale = total if total > 0 else 1.0
        parts.append(pd.DataFrame({
            "group": group, "value": value, "n_clips": int(sel.sum()), "bin": np.arange(len(mass)),
            "bin_label": labels, "hz": hz, "share": mass / scale, "signed": signed_profile[sel].mean(axis=0) / scale,
        }))
    return pd.concat(parts, ignore_index=True)


def band_share_table(profiles: pd.DataFrame, bands: Sequence[tuple[float, float]] = BANDS,
                     keys: Sequence[str] = ("train_corpus", "feature")) -> pd.DataFrame:
    """Share of the attribution mass in each band, per (keys, group, value).

    Parameters
    ----------
    profiles : DataFrame
        :func:`profile_table` rows with the ``keys`` columns added.
    bands : sequence of (lo_hz, hi_hz)
        A bin belongs to a band when ``lo <= hz < hi`` (the last band includes its upper edge).

    Returns
    -------
    DataFrame
        ``keys``, ``group``, ``value``, ``n_clips``, one column per band (``band_name``),
        ``top_band`` (the band holding most of the mass) and, per band, ``bins <band>``: the share
        of the representation's bins in that band, i.e. the band's share under a map spread evenly
        over the bins (a log-frequency axis such as CQT's has most of its bins below 1 kHz, so a
        share is telling only against it). Representations without a Hz axis (MFCC, chroma) get
        NaN shares and an empty ``top_band``.
    """
    by = [*keys, "group", "value"]
    names = [band_name(b) for b in bands]
    out = []
    for k, g in profiles.groupby(by, sort=False):
        row = dict(zip(by, k))
        row["n_clips"] = int(g["n_clips"].iloc[0])
        hz = g["hz"].to_numpy()
        bins = {}
        for j, (b, name) in enumerate(zip(bands, names)):
            if np.isnan(hz).any():
                row[name] = bins[name] = np.nan
                continue
            upper = hz <= b[1] if j == len(bands) - 1 else hz < b[1]
            inside = (hz >= b[0]) & upper
            row[name] = float(g["share"].to_numpy()[inside].sum())
            bins[name] = float(inside.mean())
        shares = np.array([row[n] for n in names], dtype=float)
        row["top_band"] = names[int(np.nanargmax(shares))] if np.isfinite(shares).any() else ""
        row.update({f"bins {n}": v for n, v in bins.items()})
        out.append(row)
    return pd.DataFrame(out)


# =========================================================================== band ablation


def band_stop(W: np.ndarray, band: tuple[float, float], sr: int = SAMPLE_RATE) -> np.ndarray:
    """Remove one frequency band from audio: a brick-wall band-stop over the whole clip.

    The clip's FFT coefficients with ``lo <= f < hi`` (``f <= hi`` when ``hi`` is the Nyquist
    frequency) are set to zero and the clip is transformed back. Unlike a recursive filter it
    leaves no transition band in which the removed content survives (a threshold-free EER
    would still rank on a residue 20 dB down).

    Parameters
    ----------
    W : numpy.ndarray, shape (n, n_samples) or (n_samples,)
    band : (lo_hz, hi_hz)
    sr : int

    Returns
    -------
    numpy.ndarray, shape like W, float32
    """
    lo, hi = (float(v) for v in band)
    nyq = sr / 2
    if not 0 <= lo < hi:
        raise ValueError(f"band must be (lo_hz, hi_hz) with 0 <= lo < hi, got {band!r}")
    if lo <= 0 and hi >= nyq:
        raise ValueError(f"band {band!r} covers the whole spectrum (0-{nyq:g} Hz)")
    W = np.asarray(W, np.float64)
    n = W.shape[-1]
    spec = np.fft.rfft(W, axis=-1)
    f = np.fft.rfftfreq(n, 1 / sr)
    spec[..., (f >= lo) & ((f <= hi) if hi >= nyq else (f < hi))] = 0
    return np.fft.irfft(spec, n=n, axis=-1).astype(np.float32)


def ablation_scores(model, W: np.ndarray, rows: pd.DataFrame, feature: str, mode: str = "array",
                    overrides: dict | None = None, bands: Sequence[tuple[float, float]] = BANDS,
                    batch_size: int = 64) -> pd.DataFrame:
    """P(real) of every clip with its audio intact and with each band removed.

    Parameters
    ----------
    model : keras.Model
    W : numpy.ndarray, shape (n, 32000)
        The clips' audio (:func:`clip_windows`).
    rows : DataFrame, n rows
        Their manifest rows (kept as columns of the result).
    feature, mode : str
    overrides : dict, optional
    bands : sequence of (lo_hz, hi_hz)
    batch_size : int

    Returns
    -------
    DataFrame, n * (1 + len(bands)) rows
        ``rows``' columns plus ``band`` (:data:`INTACT` or a ``band_name``) and ``score``.
    """
    from idsd.features import extract_batch
    from idsd.scoring import predict_scores

    overrides = overrides or {}
    base = rows.reset_index(drop=True)
    parts = []
    for band in [None, *bands]:
        scores = np.empty(len(W))
        for start in range(0, len(W), batch_size):
            chunk = W[start:start + batch_size]
            if band is not None:
                chunk = band_stop(chunk, band)
            X = extract_batch(chunk, feature, mode, **overrides)
            scores[start:start + len(chunk)] = np.asarray(predict_scores(model, X, batch_size=batch_size)).reshape(-1)
        parts.append(base.assign(band=INTACT if band is None else band_name(band), score=scores))
    return pd.concat(parts, ignore_index=True)


def ablation_cells(scores: pd.DataFrame, keys: Sequence[str] = ("train_corpus", "feature"), n_boot: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """EER of each band removal with its interval, and its paired test against the intact audio.

    Parameters
    ----------
    scores : DataFrame
        :func:`ablation_scores` rows with the ``keys`` columns (``speaker``, ``utterance`` or
        ``path`` give the resampling clusters, as everywhere in :mod:`idsd.uncertainty`).
    keys : sequence of str
    n_boot, seed
        Bootstrap resamples and seed.

    Returns
    -------
    DataFrame
        ``keys``, ``band``, ``eer``, ``lo``, ``hi``, ``n_real``, ``n_fake``, and for the removals
        ``delta`` (EER removed - EER intact), ``delta_lo``, ``delta_hi``, ``p_value``, ``p_holm``
        (Holm over every removal of the table), ``significant`` (p_holm < 0.05) and
        ``n_boot_test``: the paired tests take :func:`idsd.uncertainty.holm_resamples` resamples
        (at least 5 ``n_boot``, and enough for the table's Holm family to reach p = 0.01: with
        ``n_boot`` resamples, 42 removals could never be significant), the intervals ``n_boot``.
    """
    from idsd.uncertainty import cluster_ids, eer_ci, holm, holm_resamples, paired_bootstrap

    n_tests = sum(int((g["band"] != INTACT).any()) * (g["band"].nunique() - 1)
                  for _, g in scores.groupby(list(keys), sort=False))
    n_boot_tests = holm_resamples(n_tests, n_boot)
    out = []
    for k, g in scores.groupby(list(keys), sort=False):
        k = k if isinstance(k, tuple) else (k,)
        intact = g[g["band"] == INTACT].reset_index(drop=True)
        for band, b in g.groupby("band", sort=False):
            b = b.reset_index(drop=True)
            ci = eer_ci(b, n_boot=n_boot, seed=seed)
            row = dict(zip(keys, k), band=band, eer=ci["eer"], lo=ci["lo"], hi=ci["hi"],
                       n_real=int((b["target"] == 1).sum()), n_fake=int((b["target"] == 0).sum()))
            if band != INTACT:
                test = paired_bootstrap(b["score"], intact["score"], b["target"], cluster_ids(b),
                                        n_boot=n_boot_tests, seed=seed)
                row.update(delta=test["diff"], delta_lo=test["lo"], delta_hi=test["hi"], p_value=test["p_value"],
                           n_boot_test=n_boot_tests)
            out.append(row)
    cells = pd.DataFrame(out)
    removed = cells["band"] != INTACT
    cells["p_holm"] = np.nan
    if removed.any():
        cells.loc[removed, "p_holm"] = holm(cells.loc[removed, "p_value"].to_numpy())
    cells["significant"] = cells["p_holm"] < 0.05
    return cells


def ablation_wide(cells: pd.DataFrame, keys: Sequence[str] = ("train_corpus", "feature"), digits: int = 3
                  ) -> pd.DataFrame:
    """One row per (keys), one column per band: ``EER [lo, hi]``, a removal that changes the EER
    significantly marked ``*`` (Holm-corrected paired test)."""
    from idsd.evidence import format_cell

    def cell(r):
        text = format_cell(r["eer"], r["lo"], r["hi"], digits)
        return text + (" *" if bool(r.get("significant")) and r["band"] != INTACT else "")

    shown = cells.assign(cell=cells.apply(cell, axis=1))
    bands = list(dict.fromkeys(cells["band"]))
    return shown.pivot(index=list(keys), columns="band", values="cell")[bands]


# =========================================================================== one model, end to end


def explain_model(model, X, rows: pd.DataFrame, W: np.ndarray | None, feature: str, mode: str = "array",
                  overrides: dict | None = None, method: str = "occlusion", bands: Sequence = BANDS,
                  ablation_rows: pd.DataFrame | None = None, n_bands: int = 32, **method_kwargs
                  ) -> dict[str, pd.DataFrame]:
    """Profiles of the explained clips and ablation scores of one model.

    Parameters
    ----------
    model : keras.Model
    X : array, shape (n, n_bins, n_frames)
        Model inputs of ``rows`` (from the feature cache).
    rows : DataFrame, n rows
    W : numpy.ndarray, shape (m, 32000), or None
        Audio of ``ablation_rows`` (None: no ablation).
    feature, mode, overrides
    method : {"occlusion", "integrated_gradients"}
    bands : sequence of (lo_hz, hi_hz)
    ablation_rows : DataFrame, m rows, optional
    n_bands : int
        Occlusion: about this many frequency bands per map (:func:`default_band_size`), each
        occluded over the whole clip.
    **method_kwargs
        For the attribution method.

    Returns
    -------
    dict
        ``"profiles"`` (:func:`profile_table`) and ``"ablation"`` (:func:`ablation_scores`, empty
        without ``W``).
    """
    if method == "occlusion":
        method_kwargs.setdefault("band_size", default_band_size(X.shape[1], n_bands))
    abs_p, signed = clip_profiles(model, X, method, **method_kwargs)
    result = {"profiles": profile_table(rows, abs_p, signed, feature, overrides)}
    if W is not None and ablation_rows is not None:
        result["ablation"] = ablation_scores(model, W, ablation_rows, feature, mode, overrides, bands)
    else:
        result["ablation"] = pd.DataFrame()
    return result


# =========================================================================== figures


def profile_figure(profiles: pd.DataFrame, keys: Sequence[str] = ("train_corpus",), title: str | None = None):
    """Mean |attribution| per bin, real vs fake, one panel per representation.

    Parameters
    ----------
    profiles : DataFrame
        :func:`profile_table` rows with ``feature`` and the ``keys`` columns; only the
        ``group == "class"`` rows are drawn (line style per ``keys`` value).

    Returns
    -------
    matplotlib.figure.Figure
        X axis in Hz (log) where the bins have frequencies, bin labels otherwise.
    """
    from matplotlib.figure import Figure

    from idsd.features import FEATURES

    cls = profiles[profiles["group"] == "class"]
    feats = [f for f in FEATURES if f in set(cls["feature"])]
    ncol = min(4, len(feats))
    nrow = -(-len(feats) // ncol)
    fig = Figure(figsize=(3.6 * ncol, 2.8 * nrow), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    styles = ["-", "--", ":", "-."]
    for ax, feat in zip(axes, feats):
        f = cls[cls["feature"] == feat]
        for i, (k, g) in enumerate(f.groupby(list(keys), sort=False)):
            label_k = k if isinstance(k, str) else " ".join(map(str, k))
            for value, color in (("real", "tab:green"), ("fake", "tab:red")):
                v = g[g["value"] == value].sort_values("bin")
                if v.empty:
                    continue
                x = v["hz"].to_numpy() if v["hz"].notna().all() else v["bin"].to_numpy()
                ax.plot(x, v["share"], styles[i % len(styles)], color=color, lw=1.2,
                        label=f"{value} ({label_k})")
        hz_axis = f["hz"].notna().all()
        if hz_axis:
            ax.set_xscale("log")
            ax.set_xlabel("frequency (Hz)")
            for edge in (1000, 4000):
                ax.axvline(edge, color="0.6", lw=0.6, ls=":")
        else:
            v = f[f["value"] == "real"].drop_duplicates("bin").sort_values("bin")
            step = max(1, len(v) // 6)
            ax.set_xticks(v["bin"].to_numpy()[::step], v["bin_label"].to_numpy()[::step], fontsize=7)
            ax.set_xlabel("bin")
        ax.set_title(feat, fontsize=10)
        ax.set_ylabel("share of |attribution|", fontsize=8)
    for ax in axes[len(feats):]:
        ax.set_visible(False)
    if feats:
        axes[0].legend(fontsize=7)
    fig.suptitle(title or "Where the detector looks: mean |attribution| per frequency bin", fontsize=11)
    return fig


def ablation_figure(cells: pd.DataFrame, title: str | None = None):
    """EER with its interval per representation, one marker per removed band, one panel per training corpus.

    Parameters
    ----------
    cells : DataFrame
        :func:`ablation_cells` rows.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    from idsd.evidence import system_order

    corpora = list(dict.fromkeys(cells["train_corpus"]))
    feats = system_order(cells["feature"].unique())
    bands = list(dict.fromkeys(cells["band"]))
    colors = ["black", "tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:green"]
    fig = Figure(figsize=(4.2 * len(corpora) + 1, 0.5 * len(feats) + 1.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(corpora), sharey=True, squeeze=False)).ravel()
    offsets = np.linspace(-0.3, 0.3, len(bands))
    for ax, corpus in zip(axes, corpora):
        c = cells[cells["train_corpus"] == corpus]
        for j, band in enumerate(bands):
            b = c[c["band"] == band].set_index("feature").reindex(feats)
            y = np.arange(len(feats)) + offsets[j]
            err = np.vstack([b["eer"] - b["lo"], b["hi"] - b["eer"]])
            ax.errorbar(b["eer"], y, xerr=err, fmt="o", ms=4, capsize=2, color=colors[j % len(colors)],
                        label="intact" if band == INTACT else f"{band} removed")
        ax.axvline(0.5, color="tab:red", lw=0.8, ls=":")
        ax.set_xlim(0, 1)
        ax.set_title(str(corpus), fontsize=10)
        ax.set_xlabel("EER")
    axes[0].set_yticks(np.arange(len(feats)), feats)
    axes[0].invert_yaxis()
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(title or "EER with one band removed from the audio (95 % intervals)", fontsize=11)
    return fig


def gallery_figure(items: Sequence[dict], title: str | None = None):
    """Spectrogram beside attribution map for a few clips (one row per clip).

    Parameters
    ----------
    items : sequence of dict
        Each with ``spec`` (n_bins, n_frames), ``attr`` (same shape), ``bin_labels``,
        ``frame_times_s``, ``label`` (the row title: feature, class, source, P(real)) and
        optionally ``db`` (draw the spectrogram in dB: a linear power array).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 2.1 * len(items) + 0.6), layout="constrained")
    axes = fig.subplots(len(items), 2, squeeze=False)
    for (ax_s, ax_a), it in zip(axes, items):
        s = np.asarray(it["spec"], np.float64)
        if it.get("db"):  # power arrays are drawn in dB (the model saw them linear)
            s = 10 * np.log10(np.maximum(s, 1e-10 * max(float(s.max()), 1e-30)))
        a = np.asarray(it["attr"], np.float64)
        t = np.asarray(it["frame_times_s"], np.float64)
        n_bins = s.shape[0]
        dt = float(t[1] - t[0]) if len(t) > 1 else 1.0
        extent = (t[0] - dt / 2, t[-1] + dt / 2, -0.5, n_bins - 0.5)
        ax_s.imshow(s, origin="lower", aspect="auto", cmap="magma", extent=extent, interpolation="nearest")
        vmax = float(np.abs(a).max()) or 1.0
        im = ax_a.imshow(a, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, extent=extent,
                         interpolation="nearest")
        ticks = np.unique(np.linspace(0, n_bins - 1, min(5, n_bins)).round().astype(int))
        labels = list(it["bin_labels"])
        for ax in (ax_s, ax_a):
            ax.set_yticks(ticks, [labels[k] for k in ticks], fontsize=7)
            ax.grid(False)
        ax_s.set_title(it["label"], fontsize=8, loc="left")
        fig.colorbar(im, ax=ax_a, label="evidence for real", fraction=0.05)
    axes[-1][0].set_xlabel("time (s)")
    axes[-1][1].set_xlabel("time (s)")
    fig.suptitle(title or "Spectrograms beside their attribution maps (red: evidence for real, blue: for fake)",
                 fontsize=10)
    return fig


# =========================================================================== the study (notebook 08)


def study_explanations(out, study, models: pd.DataFrame, per_class: int = 64, ablation_per_class: int = 0,
                       method: str = "occlusion", bands: Sequence = BANDS, seed: int = 0,
                       **method_kwargs) -> dict[str, pd.DataFrame]:
    """Profiles and ablation scores of every model, on its own training corpus's eval split.

    Each model's result is stored under ``<outputs>/cache/explain/`` keyed by the clips, the
    model file, the method and the explanation code (:func:`idsd.memo.cached`), so an
    interrupted notebook resumes with the models it had finished.

    Parameters
    ----------
    out : idsd.paths.Outputs
    study : idsd.study.Study
    models : DataFrame
        :func:`idsd.artifact.find_models` rows (``train_corpus``, ``feature``, ``mode``,
        ``run``, ``path``).
    per_class : int
        Clips per class explained per model (:func:`explain_rows`).
    ablation_per_class : int
        Clips per class scored with each band removed (0: the whole eval split).
    method, bands, seed, **method_kwargs
        As :func:`explain_model`; ``seed`` picks the clips.

    Returns
    -------
    dict
        ``"profiles"`` (:func:`profile_table` rows) and ``"ablation"`` (:func:`ablation_scores`
        rows), both with the model's ``train_corpus``, ``feature``, ``run`` columns.
    """
    from idsd import memo
    from idsd.artifact import load_model, read_record
    from idsd.cache import corpus_features, file_identity
    from idsd.features import FeatureConfig

    profiles, ablations = [], []
    audio: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}
    for m in tqdm(list(models.itertuples(index=False)), desc="explain", unit="model"):
        manifest = study.manifest(out, m.train_corpus)
        rows = explain_rows(manifest, per_class, seed)
        fs = corpus_features(out, study, m.train_corpus, FeatureConfig(m.feature, m.mode), progress=False).select(rows)
        rows = fs.rows.reset_index(drop=True)
        if m.train_corpus not in audio:
            ab_rows = explain_rows(manifest, ablation_per_class, seed)
            audio[m.train_corpus] = (ab_rows, clip_windows(ab_rows))
        ab_rows, W = audio[m.train_corpus]
        overrides = (read_record(m.path) or {}).get("overrides") or {}
        params = {"model": file_identity(m.path), "method": method, "bands": [list(b) for b in bands],
                  "code": code_digest(), "overrides": overrides,
                  "kwargs": {k: v for k, v in sorted(method_kwargs.items())},
                  "ablation": memo.key(ab_rows[["path", "fragment", "target"]], {})}

        def compute(m=m, rows=rows, fs=fs, ab_rows=ab_rows, W=W, overrides=overrides):
            model = load_model(m.path)
            return explain_model(model, np.asarray(fs.X, np.float32), rows, W, m.feature, m.mode, overrides,
                                 method, bands, ab_rows, **method_kwargs)

        got = memo.cached(out.cache / "explain", f"{m.train_corpus}-{m.run}", rows[["path", "fragment", "target"]],
                          params, compute)
        tag = {"train_corpus": m.train_corpus, "feature": m.feature, "run": m.run}
        profiles.append(got["profiles"].assign(**tag))
        if len(got["ablation"]):
            ablations.append(got["ablation"].assign(**tag))
    first = ["train_corpus", "feature", "run"]
    prof = pd.concat(profiles, ignore_index=True) if profiles else pd.DataFrame(columns=first)
    abl = pd.concat(ablations, ignore_index=True) if ablations else pd.DataFrame(columns=first)
    return {"profiles": prof[first + [c for c in prof.columns if c not in first]],
            "ablation": abl[first + [c for c in abl.columns if c not in first]]}


def gallery_items(out, study, models: pd.DataFrame, train_corpus: str, seed: int = 0,
                  method: str = "occlusion") -> list[dict]:
    """One real and one fake clip per representation, each with its full attribution map.

    The clips are the same for every representation (drawn with ``seed`` from the corpus's eval
    split); the map is occlusion over ~32 bands x 16 time spans (or integrated gradients).

    Returns
    -------
    list of dict
        For :func:`gallery_figure`.
    """
    from idsd import explain
    from idsd.artifact import load_model, read_record
    from idsd.cache import corpus_features
    from idsd.features import FEATURES, FeatureConfig

    manifest = study.manifest(out, train_corpus)
    rows = explain_rows(manifest, 1, seed)
    items = []
    chosen = models[models["train_corpus"] == train_corpus]
    for feat in [f for f in FEATURES if f in set(chosen["feature"])]:
        m = chosen[chosen["feature"] == feat].iloc[0]
        fs = corpus_features(out, study, train_corpus, FeatureConfig(feat, m["mode"]), progress=False).select(rows)
        X = np.asarray(fs.X, np.float32)
        model = load_model(m["path"])
        overrides = (read_record(m["path"]) or {}).get("overrides") or {}
        if method == "occlusion":
            A = explain.occlusion(model, X, band_size=default_band_size(X.shape[1]),
                                  span_size=max(1, X.shape[2] // 16), target="real")
        else:
            A = explain.integrated_gradients(model, X, target="real")
        p = np.asarray(model.predict(X, verbose=0)).reshape(-1)
        labels = explain.bin_labels(feat, **overrides)
        times = explain.frame_times(feat, **overrides)
        for i, r in enumerate(fs.rows.itertuples(index=False)):
            db = m["mode"] == "array" and feat in POWER_FEATURES and float(X[i].min()) >= 0
            items.append({"spec": X[i], "attr": A[i], "bin_labels": labels, "frame_times_s": times, "db": db,
                          "label": f"{feat} | {r.label} ({r.source}) | P(real) {p[i]:.2f}"})
    return items


# =========================================================================== tables, figures, results page


def write_explanations(out, results: dict[str, pd.DataFrame], n_boot: int = 1000, seed: int = 0,
                       method: str = "occlusion", gallery: Sequence[dict] | None = None
                       ) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """Tables, figures and ``<outputs>/tables/explanations.md`` from :func:`study_explanations`.

    Writes the tables ``explain_band_shares`` (per training corpus, representation and class),
    ``explain_band_shares_by_source`` (per fake source), ``band_ablation`` (cells in the CSV,
    ``EER [lo, hi]`` in Markdown/LaTeX), the per-bin profiles ``explain_profiles.csv``, and the
    figures ``explain_profiles``, ``band_ablation`` and (with ``gallery``) ``explain_gallery``.

    Returns
    -------
    (tables, files)
    """
    from idsd import conclusions, reports
    from idsd.files import write_csv

    tables: dict[str, pd.DataFrame] = {}
    files: list[Path] = []
    prof = results["profiles"]
    files.append(write_csv(prof, out.tables / "explain_profiles.csv"))
    shares = band_share_table(prof)
    tables["explain_band_shares"] = shares
    hz = shares[shares["top_band"] != ""]  # MFCC and chroma: no Hz axis, no band share
    by_class = hz[hz["group"] == "class"].drop(columns="group").rename(columns={"value": "class"})
    by_source = hz[hz["group"] == "source"].drop(columns="group").rename(columns={"value": "source"})
    n_clips = int(by_class[by_class["class"] == "all"]["n_clips"].max()) if len(by_class) else 0
    what = (f"Share of the mean |attribution| ({method.replace('_', ' ')}, explaining logit P(real)) per band, "
            f"on up to {n_clips} eval clips per model of its own training corpus; MFCC and chroma have no Hz "
            "axis and no band share (their maps are in `explain_profiles.csv`, their band removal below).")
    files += reports.write_table(by_class.round(4), "explain_band_shares", out, what, index=False).values()
    files += reports.write_table(by_source.round(4), "explain_band_shares_by_source", out,
                                 what + " Fake clips, per source.", index=False).values()
    fig = profile_figure(prof)
    files += reports.save_figure(fig, "explain_profiles", out).values()

    abl = results["ablation"]
    cells = ablation_cells(abl, n_boot=n_boot, seed=seed) if len(abl) else pd.DataFrame()
    tables["band_ablation_cells"] = cells
    if len(cells):
        shown = ablation_wide(cells)
        tables["band_ablation_shown"] = shown
        caption = (f"EER on the eval split with one band removed from the audio ({ABLATION_METHOD}) before feature "
                   f"extraction; `none` = intact audio. {reports.ci_caption(n_boot)} `*`: the change against the "
                   "intact audio is significant (paired bootstrap with "
                   f"{int(cells['n_boot_test'].max()):,} resamples, Holm-corrected over the table).")
        files += reports.write_cells(cells, shown, "band_ablation", out, caption).values()
        files += reports.save_figure(ablation_figure(cells), "band_ablation", out).values()
    if gallery:
        files += reports.save_figure(gallery_figure(gallery), "explain_gallery", out).values()

    text = (f"{what} Figure `explain_profiles.png` shows the per-bin profiles (real vs fake); "
            "`explain_gallery.png` single clips beside their maps.\n\n**What this shows**\n\n"
            + conclusions.explanations(shares, cells))
    sections = [("6. What the detector uses", text, by_class.round(3).set_index(["train_corpus", "feature", "class"])),
                ("6b. Band removal", caption if len(cells) else "No ablation scores in this run.",
                 tables.get("band_ablation_shown")),
                ("6c. Per fake source", "Fake clips of each source.",
                 by_source.round(3).set_index(["train_corpus", "feature", "source"]))]
    files.append(reports.write_results_markdown(reports.results_markdown(sections, "Explanations"), out,
                                                name="explanations"))
    return tables, files
