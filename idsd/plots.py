"""Seaborn figures of the results: EER heatmaps, DET and ROC curves, learning curves, hardware bars;
and the spectrogram gallery of notebook 02 (:func:`pick_clips`, :func:`gallery`).

Each function returns a ``matplotlib.figure.Figure``; save it with
:func:`idsd.reports.save_figure`. Scores are P(real) (higher = more bona fide). Titles and
legends name the corpus, and the paper's panels are titled with the paper's corpus, so an
embedded-corpus panel is never mistaken for the paper's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from idsd import metrics
from idsd import paper_values as P

log = logging.getLogger(__name__)

DET_TICKS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99)


def set_style() -> None:
    """The workbook's seaborn theme (whitegrid, paper context)."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper", font_scale=1.1)


def _label(feature: str) -> str:
    return P.FEATURE_LABELS.get(feature, feature)


def eer_heatmap(table: pd.DataFrame, title: str, vmax: float = 0.5, ax=None, fmt: str = ".3f",
                intervals: pd.DataFrame | None = None):
    """Heatmap of an EER table (rows x columns), annotated, 0 = green to ``vmax`` = red.

    Parameters
    ----------
    table : DataFrame, shape (r, c)
        EER fractions (NaN cells left blank).
    title : str
    vmax : float
        Colour scale maximum (0.5 = chance).
    ax : matplotlib Axes, optional
    fmt : str
        Annotation format.
    intervals : DataFrame, optional
        Same shape as ``table``: strings ``"lo-hi"`` (e.g. from ``idsd.evidence.wide``) printed
        under each EER, so the figure shows the 95 % intervals too.

    Returns
    -------
    Figure
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    set_style()
    data = table.astype(float)
    if isinstance(data.index, pd.MultiIndex):
        data.index = [" / ".join(map(str, i)) for i in data.index]
    annot: bool | np.ndarray = True
    if intervals is not None:
        iv = intervals.reindex(index=table.index, columns=table.columns)
        annot = np.array([[("" if not np.isfinite(v) else f"{v:{fmt}}\n{'' if not isinstance(c, str) else c}")
                           for v, c in zip(rv, rc)] for rv, rc in zip(data.to_numpy(), iv.to_numpy())], dtype=object)
    h = 0.75 if intervals is not None else 0.5
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.25 * data.shape[1] + 3, h * data.shape[0] + 1.8))
    else:
        fig = ax.figure
    sns.heatmap(data, annot=annot, fmt=fmt if intervals is None else "", cmap="RdYlGn_r", vmin=0, vmax=vmax, ax=ax,
                cbar_kws={"label": "EER"}, linewidths=0.5, annot_kws={"size": 8 if intervals is None else 6.5})
    ax.set_title(title)
    ax.set_ylabel(data.index.name or "")
    ax.set_xlabel(data.columns.name or "")
    fig.tight_layout()
    return fig


def _curves(curves: Mapping[str, tuple]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for label, (bona, spoof) in curves.items():
        try:
            b, s = metrics.check_scores(bona, spoof)
        except ValueError as e:
            log.warning("curve %s skipped: %s", label, e)
            continue
        out.append((label, b, s))
    return out


def _square_axes(ax=None):
    """``(figure, axes)``: a new 6x5.5-inch figure in the workbook style, or ``ax`` and its figure."""
    import matplotlib.pyplot as plt

    set_style()
    if ax is None:
        return plt.subplots(figsize=(6, 5.5))
    return ax.figure, ax


def det_plot(curves: Mapping[str, tuple], title: str, ax=None):
    """DET curves on probit (normal-deviate) axes, with each curve's EER point.

    Parameters
    ----------
    curves : dict
        Legend label -> ``(bona_scores, spoof_scores)``, P(real).
    title : str
    ax : Axes, optional

    Returns
    -------
    Figure
    """
    fig, ax = _square_axes(ax)
    lim = metrics.probit([DET_TICKS[0], DET_TICKS[-1]])
    for label, b, s in _curves(curves):
        d = metrics.det_curve(b, s)
        eer, _ = metrics.compute_eer(b, s)
        line, = ax.plot(d["probit_pfa"], d["probit_pmiss"], drawstyle="steps-post",
                        label=f"{label} (EER {100 * eer:.2f} %)")
        pe = metrics.probit([eer], min(b.size, s.size))[0]
        ax.plot([pe], [pe], "o", color=line.get_color(), ms=4)
    ticks = metrics.probit(DET_TICKS)
    labels = [f"{100 * t:g}" for t in DET_TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.plot(lim, lim, ":", color="grey", lw=0.8)
    ax.set_xlabel("False acceptance rate of fakes (%)")
    ax.set_ylabel("Miss rate of real speech (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def roc_plot(curves: Mapping[str, tuple], title: str, ax=None):
    """ROC curves (real = positive class; TPR = real accepted, FPR = fakes accepted) with AUC.

    Parameters
    ----------
    curves : dict
        Legend label -> ``(bona_scores, spoof_scores)``, P(real).
    title : str
    ax : Axes, optional

    Returns
    -------
    Figure
    """
    fig, ax = _square_axes(ax)
    for label, b, s in _curves(curves):
        r = metrics.roc_points(b, s)
        ax.plot(r["fpr"], r["tpr"], label=f"{label} (AUC {metrics.roc_auc(b, s):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
    ax.set_xlabel("False positive rate (fakes accepted as real)")
    ax.set_ylabel("True positive rate (real accepted)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def learning_curve_plot(ours: pd.DataFrame, ours_corpus: str, show_paper: bool = True,
                        cells: pd.DataFrame | None = None):
    """EER vs training samples per feature: ours, and the paper's WaveFake curve beside it.

    Parameters
    ----------
    ours : DataFrame
        Long rows ``n_train, feature, eer`` (``idsd.learning_curve.run_learning_curve``).
    ours_corpus : str
        Our corpus (panel title).
    show_paper : bool
        Add the paper's panel (docs/paper.md 9.2, WaveFake).
    cells : DataFrame, optional
        ``idsd.evidence.learning_curve_cells``: our curves get their 95 % intervals as bands.

    Returns
    -------
    Figure
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    set_style()
    ncols = 2 if show_paper else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 4.5), squeeze=False)
    panels = [(ours, f"ours ({ours_corpus})")]
    if show_paper:
        pv = P.learning_curve()
        panels.append((pv[pv["feature"].isin(ours["feature"].unique())] if len(ours) else pv,
                       f"paper ({P.paper_label(P.LEARNING_CURVE_CORPUS)})"))
    for ax, (df, title) in zip(axes[0], panels):
        d = df.assign(representation=df["feature"].map(_label))
        order = [_label(f) for f in P.FEATURES if f in set(df["feature"])]
        sns.lineplot(data=d, x="n_train", y="eer", hue="representation", hue_order=order or None,
                     marker="o", ax=ax)
        if cells is not None and title.startswith("ours"):
            palette = dict(zip(order, sns.color_palette(n_colors=len(order))))
            for f, g in cells.groupby("feature"):
                g = g.sort_values("n_train")
                ax.fill_between(g["n_train"], g["lo"], g["hi"], alpha=0.15, color=palette.get(_label(f)), lw=0)
        ax.set_xlabel("Training sample count")
        ax.set_ylabel("EER" + (" (bands: 95 % interval)" if cells is not None and title.startswith("ours") else ""))
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        if ax.get_legend() is not None:
            ax.legend(fontsize=7, title=None)
    fig.tight_layout()
    return fig


def hardware_bars(ours: pd.DataFrame | None, show_paper: bool = True):
    """Max-normalised Storage / RAM / Extraction time per representation, as the paper's chart.

    Parameters
    ----------
    ours : DataFrame or None
        ``idsd.results.hardware_table`` (columns ``storage_norm, ram_norm, time_norm``).
    show_paper : bool
        Add the paper's panel (docs/paper.md 9.3).

    Returns
    -------
    Figure
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    set_style()
    panels: list[tuple[pd.DataFrame, str]] = []
    if ours is not None and len(ours):
        panels.append((ours, "ours (this machine)"))
    if show_paper:
        panels.append((P.hardware(), "paper (WF storage/RAM, F2S timing)"))
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(6.5 * max(1, len(panels)), 4.2), squeeze=False)
    names = {"storage_norm": "Storage", "ram_norm": "RAM", "time_norm": "Extraction time"}
    for ax, (df, title) in zip(axes[0], panels):
        cols = [c for c in names if c in df]
        long = (df[cols].rename(columns=names).rename_axis("feature").reset_index()
                .melt(id_vars="feature", var_name="requirement", value_name="normalised"))
        order = [f for f in P.FEATURES if f in set(long["feature"])]
        sns.barplot(data=long, x="feature", y="normalised", hue="requirement", order=order or None, ax=ax)
        ax.set_xlabel("Spectrogram (detector)")
        ax.set_ylabel("Normalised value (max = 1)")
        ax.set_ylim(0, 1.05)
        ax.set_title(title)
    fig.tight_layout()
    return fig


def per_source_bars(table: pd.DataFrame, title: str, hue: str = "feature", order: Sequence[str] | None = None):
    """EER per fake source (x) per ``hue`` (bars), from ``idsd.results.per_source_eer``."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    set_style()
    n = table["source"].nunique() if len(table) else 1
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * n + 3), 4.2))
    if len(table):
        sns.barplot(data=table, x="source", y="eer", hue=hue if hue in table else None, ax=ax,
                    hue_order=order, errorbar=None)
        ax.tick_params(axis="x", rotation=30)
    ax.set_ylabel("EER (source vs all bona fide)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def in_domain_heatmaps(ours: pd.DataFrame, ours_title: str = "ours", show_paper: bool = True):
    """In-domain EER heatmaps: ours (our corpora + Total) beside the paper's (docs/paper.md 9.1).

    Parameters
    ----------
    ours : DataFrame
        ``idsd.results.in_domain_table`` (index our corpora + Total, columns features).
    ours_title : str
        Title of our panel (name the corpora).
    show_paper : bool

    Returns
    -------
    Figure
    """
    import matplotlib.pyplot as plt

    set_style()
    panels = [(ours, ours_title)]
    if show_paper:
        pv = P.in_domain_eer()
        pv = pv[[c for c in ours.columns if c in pv.columns]] if len(ours.columns) else pv
        panels.append((pv, "paper (F2S, FREC, AS19, WF; SAC '24)"))
    width = max(4.0, 1.0 * max(p[0].shape[1] for p in panels) + 2.5)
    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels), 0.5 * max(len(p[0]) for p in panels) + 2),
                             squeeze=False)
    for ax, (df, title) in zip(axes[0], panels):
        eer_heatmap(df, title, ax=ax)
    fig.tight_layout()
    return fig


def eer_interval_plot(cells: pd.DataFrame, group: str, title: str, system: str = "feature"):
    """EER with its 95 % interval per system (points and bars), one panel per ``group`` value.

    Parameters
    ----------
    cells : DataFrame
        ``idsd.evidence`` cells: ``group``, ``system``, ``eer``, ``lo``, ``hi``.
    group : str
        Column whose values become panels (e.g. ``train_corpus``).
    title : str

    Returns
    -------
    Figure
    """
    import matplotlib.pyplot as plt

    from idsd.evidence import BASELINES, system_order

    set_style()
    groups = list(dict.fromkeys(cells[group]))
    systems = system_order(cells[system])
    fig, axes = plt.subplots(1, len(groups), figsize=(2.6 * len(groups) + 1.5, 0.35 * len(systems) + 1.6),
                             sharey=True, squeeze=False)
    for ax, gname in zip(axes[0], groups):
        g = cells[cells[group] == gname].set_index(system).reindex(systems)
        y = np.arange(len(systems))
        colors = ["tab:gray" if s in BASELINES else "tab:blue" for s in systems]
        err = np.vstack([g["eer"] - g["lo"], g["hi"] - g["eer"]])
        for i in range(len(systems)):
            if np.isfinite(g["eer"].iloc[i]):
                ax.errorbar(g["eer"].iloc[i], y[i], xerr=err[:, i:i + 1], fmt="o", color=colors[i], capsize=3)
        ax.axvline(0.5, color="tab:red", lw=0.8, ls=":")
        ax.set_xlim(0, max(0.55, float(np.nanmax(g["hi"])) + 0.02) if g["hi"].notna().any() else 0.55)
        ax.set_title(str(gname), fontsize=9)
        ax.set_xlabel("EER")
        ax.invert_yaxis() if ax is axes[0][0] else None
    axes[0][0].set_yticks(np.arange(len(systems)), [_label(s) if s not in BASELINES else s for s in systems])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# =========================================================================== spectrogram galleries (notebook 02)


def gallery(clips: dict, features, modes=("array", "db", "image")):
    """Gallery figure: one row per (feature, mode), one column per clip (e.g. real vs fake).

    Parameters
    ----------
    clips : dict
        Column title -> clip, shape (32000,).
    features : sequence of str
    modes : sequence of str

    Returns
    -------
    matplotlib.figure.Figure
        Array/db panels show the model input as an image (frequency up, time right; array mode
        on a log colour scale, since the raw values span many decades); image panels show the
        (640, 480) model input.
    """
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    from idsd.features import extract_batch

    names = list(clips)
    Y = np.stack([np.asarray(clips[k], np.float32) for k in names])
    rows = [(f, m) for f in features for m in modes]
    fig = Figure(figsize=(3.2 * len(names), 2.2 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(names), squeeze=False)
    for r, (f, m) in enumerate(rows):
        X = extract_batch(Y, f, m)
        for c, name in enumerate(names):
            ax = axes[r, c]
            x = X[c]
            if m == "array" and f != "mfcc":
                pos = x[x > 0]
                lo = float(pos.min()) if pos.size else 1e-12
                ax.imshow(np.maximum(x, lo), origin="lower", aspect="auto", cmap="magma",
                          norm=LogNorm(vmin=max(lo, x.max() * 1e-8) if x.max() > 0 else 1e-12,
                                       vmax=max(x.max(), 1e-11)))
            elif m == "image":
                ax.imshow(x, cmap="gray", aspect="auto", vmin=0, vmax=1)
            else:
                ax.imshow(x, origin="lower", aspect="auto", cmap="magma" if f != "mfcc" else "coolwarm")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{f}\n{m} {x.shape[0]}x{x.shape[1]}", fontsize=8)
    return fig


def pick_clips(manifest, seed: int = 0, per_label: int = 1) -> dict:
    """One (or ``per_label``) random 2-s fragment per label of a manifest, for galleries.

    Returns
    -------
    dict
        ``"<label> (<source>)"`` -> clip, shape (32000,) float32.
    """
    from idsd.audio import fit_length, fragments, load_audio

    rng = np.random.default_rng(seed)
    out = {}
    for label in ("real", "fake"):
        rows = manifest[manifest["label"] == label]
        for i in rng.permutation(len(rows))[:per_label]:
            r = rows.iloc[int(i)]
            frags = fragments(load_audio(r["path"]), pad=True)
            out[f"{label} ({r.get('source', '')})"] = fit_length(frags[min(int(r["fragment"]), len(frags) - 1)])
    return out
