"""Tables (csv / md / tex) and figures (png / pdf), with the paper's published values beside ours.

Every table is written by :func:`write_table` to ``<outputs>/tables/<name>.{csv,md,tex}`` and every
figure by :func:`save_figure` to ``<outputs>/figures/<name>.{png,pdf}`` (no timestamps or
software versions in the files, so re-running gives the same bytes).

Where the paper reports the same cell (``idsd.paper_values``, docs/paper.md section 9), the
``*_beside_paper`` builders put it next to ours, every column carrying its corpus: ``ours
(mini-for)`` next to ``paper (F2S)``. The corpus our study used for a paper corpus is given by
``paper_name`` in the study index (:class:`idsd.study.CorpusEntry`); an embedded ``mini-*``
corpus is a small offline stand-in, so its numbers are a different experiment from the paper's,
never a reproduction of that cell.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from idsd import paper_values as P
from idsd.files import write_csv, write_text
from idsd.paths import Outputs

log = logging.getLogger(__name__)

FLOAT_DIGITS = 4
"""Decimals of EERs in the md/tex tables (the paper's precision); the CSV keeps full precision."""


# =========================================================================== writing


def to_markdown(df: pd.DataFrame, digits: int = FLOAT_DIGITS, index: bool = True) -> str:
    """A DataFrame as a GitHub Markdown table (tabulate), floats to ``digits`` decimals, NaN as ``–``."""
    shown = df.copy()
    if isinstance(shown.columns, pd.MultiIndex):
        shown.columns = [" / ".join(str(c) for c in col) for col in shown.columns]
    if isinstance(shown.index, pd.MultiIndex):
        shown.index = [" / ".join(str(c) for c in i) for i in shown.index]
    shown = shown.astype(object).where(shown.notna(), None)
    return shown.to_markdown(index=index, floatfmt=f".{digits}f", missingval="–")


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def escape_latex(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(df: pd.DataFrame, caption: str | None = None, digits: int = FLOAT_DIGITS,
             index: bool = True) -> str:
    """A DataFrame as a booktabs LaTeX table (pandas Styler), text escaped, NaN as ``--``."""
    shown = df.copy()
    if isinstance(shown.columns, pd.MultiIndex):
        shown.columns = [" / ".join(str(c) for c in col) for col in shown.columns]
    sty = shown.style.format(precision=digits, na_rep="--", escape="latex")
    sty = sty.format_index(escape="latex", axis=0).format_index(escape="latex", axis=1)
    if not index:
        sty = sty.hide(axis="index")
    if caption:
        caption = escape_latex(caption)
    return sty.to_latex(hrules=True, caption=caption, position_float="centering")


def write_table(df: pd.DataFrame, name: str, outputs: Outputs, caption: str | None = None,
                index: bool = True, digits: int = FLOAT_DIGITS) -> dict[str, Path]:
    """Write one table as CSV (full precision), Markdown (tabulate) and LaTeX (booktabs).

    Parameters
    ----------
    df : DataFrame
    name : str
        File stem under ``<outputs>/tables``.
    outputs : Outputs
    caption : str, optional
        Printed above the Markdown table and as the LaTeX caption.
    index : bool
        Write the index as the first column.
    digits : int
        Decimals in md / tex.

    Returns
    -------
    dict
        ``{"csv": Path, "md": Path, "tex": Path}``.
    """
    base = Path(outputs.tables)
    paths = {"csv": base / f"{name}.csv", "md": base / f"{name}.md", "tex": base / f"{name}.tex"}
    base.mkdir(parents=True, exist_ok=True)
    write_csv(df, paths["csv"], index=index)
    md = to_markdown(df, digits, index)
    write_text(paths["md"], (f"{caption}\n\n" if caption else "") + md + "\n")
    write_text(paths["tex"], to_latex(df, caption, digits, index))
    log.info("table %s -> %s", name, base)
    return paths


def write_cells(cells: pd.DataFrame, shown: pd.DataFrame, name: str, outputs: Outputs, caption: str | None = None,
                index: bool = True) -> dict[str, Path]:
    """Write a table of EER cells: the CSV holds ``cells`` (long, ``eer``/``lo``/``hi`` in separate
    columns, full precision); the Markdown and LaTeX hold ``shown`` (``0.052 [0.031, 0.077]``).

    Returns
    -------
    dict
        ``{"csv": Path, "md": Path, "tex": Path}``.
    """
    paths = write_table(shown, name, outputs, caption, index=index)
    write_csv(cells, paths["csv"], index=False)
    return paths


def ci_caption(n_boot: int | None = None) -> str:
    """The sentence every interval table carries."""
    from idsd import evidence

    return (f"EER [95 % bootstrap interval: {n_boot or evidence.N_BOOT} resamples of whole utterances, "
            "nested in speakers where a corpus has several]; the CSV has `eer`, `lo`, `hi` and the trial counts.")


def save_figure(fig, name: str, outputs: Outputs, dpi: int = 150) -> dict[str, Path]:
    """Save a matplotlib figure as PNG and PDF with deterministic metadata, then close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    name : str
        File stem under ``<outputs>/figures``.
    outputs : Outputs
    dpi : int
        PNG resolution.

    Returns
    -------
    dict
        ``{"png": Path, "pdf": Path}``.
    """
    import matplotlib.pyplot as plt

    base = Path(outputs.figures)
    base.mkdir(parents=True, exist_ok=True)
    paths = {"png": base / f"{name}.png", "pdf": base / f"{name}.pdf"}
    fig.savefig(paths["png"], dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths["pdf"], bbox_inches="tight",
                metadata={"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None})
    plt.close(fig)
    log.info("figure %s -> %s", name, base)
    return paths


# =========================================================================== labels


def corpus_map(study) -> dict[str, str]:
    """Our corpus name -> the paper's corpus abbreviation, from the study index (``paper_name``)."""
    return {c.name: c.paper_name for c in study.corpora if c.paper_name}


def ours(name: str) -> str:
    """Column label of our result on corpus ``name``: ``"ours (mini-for)"``."""
    return f"ours ({name})"


def paper(name: str) -> str:
    """Column label of the paper's result on corpus ``name``: ``"paper (F2S)"``."""
    return f"paper ({name})"


def corpus_note(mapping: Mapping[str, str], source: str | None = None) -> str:
    """One Markdown paragraph saying which of our corpora stands for which of the paper's."""
    pairs = "; ".join(f"`{k}` stands for {P.paper_label(v)}" for k, v in mapping.items())
    embedded = [k for k in mapping if k.startswith("mini-")]
    warn = (" The `mini-*` corpora are the workbook's small embedded corpora built offline: their numbers "
            "are a different experiment from the paper's real corpora, shown side by side for orientation, "
            "not as a reproduction of those cells.") if embedded else ""
    src = f" Study data: {source}." if source else ""
    return f"Corpora: {pairs}.{warn}{src} Paper values: {P.SOURCE}."


# =========================================================================== beside the paper


def in_domain_beside_paper(table: pd.DataFrame, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Result 1 with the paper's in-domain EERs (docs/paper.md 9.1) beside ours.

    Parameters
    ----------
    table : DataFrame
        :func:`idsd.results.in_domain_table`: index our training corpora + ``"Total"``,
        columns features.
    mapping : dict
        Our corpus -> paper corpus (:func:`corpus_map`).

    Returns
    -------
    DataFrame
        Index feature (paper order); for every training corpus a column ``ours (<corpus>)``,
        followed by ``paper (<paper corpus>)`` when the paper has that row; then
        ``ours (Total: a+b+...)`` and ``paper (Total: F2S+FREC+AS19+WF)``.
    """
    pv = P.in_domain_eer()
    corpora = [c for c in table.index if c != "Total"]
    feats = list(table.columns)
    cols = {}
    for c in corpora:
        cols[ours(c)] = table.loc[c, feats].astype(float)
        pn = mapping.get(c)
        if pn in pv.index:
            cols[paper(pn)] = pv.loc[pn].reindex(feats)
    if "Total" in table.index:
        cols[ours("Total: " + "+".join(corpora))] = table.loc["Total", feats].astype(float)
        cols[paper("Total: " + "+".join(P.PAPER_TRAIN_CORPORA))] = pv.loc["Total"].reindex(feats)
    out = pd.DataFrame(cols)
    out.index.name = "feature"
    return out


def learning_curve_wide(lc: pd.DataFrame, value: str = "eer") -> pd.DataFrame:
    """Long learning-curve rows (``subset, n_train, feature, eer``) -> index subset, one EER column
    per feature plus ``n_train`` (``value="pyeer_eer"``: pyeer's EER instead of the ASVspoof one)."""
    wide = lc.pivot_table(index="subset", columns="feature", values=value)
    feats = [f for f in P.FEATURES if f in wide.columns] + sorted(set(wide.columns) - set(P.FEATURES))
    wide = wide[feats]
    wide.insert(0, "n_train", lc.groupby("subset")["n_train"].first())
    wide.columns.name = None
    return wide


def learning_curve_beside_paper(lc: pd.DataFrame, corpus: str, paper_name: str | None = None) -> pd.DataFrame:
    """Result 3 beside the paper's WaveFake learning curve (docs/paper.md 9.2), aligned by fraction.

    Parameters
    ----------
    lc : DataFrame
        :func:`idsd.learning_curve.run_learning_curve` output (``subset, n_subsets, n_train, feature,
        eer``).
    corpus : str
        Our learning-curve corpus.
    paper_name : str, optional
        Its paper counterpart; the paper's curve is WaveFake (``WF``) whatever it is.

    Returns
    -------
    DataFrame
        Index ``fraction`` of the training split (k / n_subsets); columns
        ``ours (<corpus>) n_train`` and ``ours (<corpus>) <feature>`` EERs (ASVspoof definition),
        each followed by ``ours (<corpus>) <feature> pyeer`` (pyeer's EER, the paper's definition)
        when ``lc`` has ``pyeer_eer``, then
        ``paper (WF) n_train`` and ``paper (WF) <feature>`` where the paper has a point at that
        fraction (its 10 tenths).
    """
    ow = learning_curve_wide(lc)
    n_sub = int(lc["n_subsets"].iloc[0]) if "n_subsets" in lc else len(ow)
    ow.index = np.round(ow.index / n_sub, 6)
    ow.columns = [f"{ours(corpus)} {c}" for c in ow.columns]
    if "pyeer_eer" in lc:  # the paper's EER definition on the same trials, beside the ASVspoof one
        pe = learning_curve_wide(lc, "pyeer_eer").drop(columns="n_train")
        pe.index = ow.index
        for f in pe.columns:
            ow.insert(ow.columns.get_loc(f"{ours(corpus)} {f}") + 1, f"{ours(corpus)} {f} pyeer", pe[f])
    pw = learning_curve_wide(P.learning_curve())
    pw.index = np.round(pw.index / 10, 6)
    feats = [f for f in pw.columns if f == "n_train" or f"{ours(corpus)} {f}" in ow.columns]
    pname = P.LEARNING_CURVE_CORPUS
    pw = pw[feats]
    pw.columns = [f"{paper(pname)} {c}" for c in pw.columns]
    out = ow.join(pw, how="left")
    out.index.name = "fraction"
    if paper_name and paper_name != pname:
        log.info("learning-curve corpus %s stands for %s; the paper's curve is on %s", corpus, paper_name, pname)
    return out


def hardware_beside_paper(hw: pd.DataFrame) -> pd.DataFrame:
    """Result 4 beside the paper's hardware numbers (docs/paper.md 9.3).

    Parameters
    ----------
    hw : DataFrame
        :func:`idsd.results.hardware_table`.

    Returns
    -------
    DataFrame
        Index feature; ``ours storage GB @240k``, ``paper storage GB`` (float32 arrays of 240k
        WaveFake training samples), ``ours extract ms/clip``, ``paper extract ms/sample``,
        ``ours train peak RAM GB``, ``paper RAM GB``, ``ours train samples/s``, and the three
        max-normalised bars of each.
    """
    pv = P.hardware()
    feats = list(hw.index)
    gb = next((c for c in hw.columns if c.startswith("storage_gb_at_")), None)
    cols = {}

    def col(name, series):
        cols[name] = series.reindex(feats) if series is not None else pd.Series(np.nan, index=feats)

    col(f"ours storage GB @{P.HARDWARE_SAMPLES // 1000}k", hw[gb] if gb else None)
    col("paper storage GB", pv["storage_gb"])
    col("ours extract ms/clip", hw.get("extract_ms"))
    col("paper extract ms/sample", pv["extract_ms"])
    col("ours train peak RAM GB", hw.get("train_peak_ram_gb"))
    col("paper RAM GB", pv["ram_gb"])
    col("ours train samples/s", hw.get("train_samples_per_s"))
    for k in ("storage_norm", "ram_norm", "time_norm"):
        col(f"ours {k}", hw.get(k))
        col(f"paper {k}", pv[k])
    out = pd.DataFrame(cols)
    out.index.name = "feature"
    return out


# =========================================================================== results.md


def results_markdown(sections: Sequence[tuple[str, str, pd.DataFrame | None]], title: str,
                     preamble: str = "") -> str:
    """Assemble the README's results page.

    Parameters
    ----------
    sections : sequence of (heading, text, table)
        ``table`` may be None (text only); tables are rendered by :func:`to_markdown`.
    title : str
    preamble : str

    Returns
    -------
    str
        Markdown.
    """
    parts = [f"# {title}", ""]
    if preamble:
        parts += [preamble, ""]
    for heading, text, table in sections:
        parts += [f"## {heading}", ""]
        if text:
            parts += [text, ""]
        if table is not None:
            if len(table):
                parts += [to_markdown(table), ""]
            else:
                parts += ["_(no results: the inputs of this table were not produced in this run)_", ""]
    return "\n".join(parts).rstrip() + "\n"


def write_results_markdown(text: str, outputs: Outputs, name: str = "results") -> Path:
    """Write ``<outputs>/tables/<name>.md`` (atomically)."""
    path = Path(outputs.tables) / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, text)


# =========================================================================== notebook-level writers


def corpus_labels(mapping: Mapping[str, str]):
    """``name -> "name (ABBR)"`` for table cells (the name itself when it has no other abbreviation)."""
    return lambda c: f"{c} ({mapping[c]})" if mapping.get(c) and mapping[c] != c else c


def _study_corpus_note(study) -> str:
    mapping = corpus_map(study)
    return corpus_note(mapping, f"{study.source} corpora" + (" (quick preset)" if study.quick else ""))


def protocol_note(records: Sequence[Mapping], mode: str = "array") -> str:
    """One sentence stating how the detectors of ``mode`` were trained, from their run records, and
    where that departs from the paper's protocol (batch 128 arrays / 32 images, float32, no dev
    plateau rule, up to 500 epochs).

    Parameters
    ----------
    records : sequence of dict
        Run records (:func:`idsd.train.load_run_records`).
    mode : str
        Input mode of the runs described.

    Returns
    -------
    str
        Empty when there are no records of ``mode``.
    """
    from idsd.train import BATCH_SIZES

    recs = [r for r in records if r.get("mode") == mode]
    if not recs:
        return ""

    def values(get):
        return sorted({get(r) for r in recs}, key=str)

    profiles = values(lambda r: (r.get("config") or {}).get("profile"))
    batches = values(lambda r: r.get("batch_size"))
    caps = values(lambda r: r.get("max_epochs"))
    bf16 = values(lambda r: bool((r.get("config") or {}).get("bf16")))
    dev = values(lambda r: (r.get("dev_patience"), r.get("min_epochs")))
    parts = [f"batch {'/'.join(map(str, batches))}"
             + ("" if batches == [BATCH_SIZES.get(mode)] else f" (paper: {BATCH_SIZES.get(mode)})"),
             "mixed_bfloat16" if bf16 == [True] else ("float32" if bf16 == [False] else "bf16 and float32 runs"),
             f"at most {'/'.join(map(str, caps))} epochs"]
    patience = values(lambda r: (r.get("config") or {}).get("early_stopping_patience"))
    rules = f"the paper's EarlyStopping(loss, patience {'/'.join(map(str, patience))})"
    with_dev = [d for d in dev if d[0]]
    if with_dev:
        rules += " and a dev plateau rule (the dev ROC AUC not improving for " + ", ".join(
            f"{p} epochs from epoch {m}" for p, m in with_dev) + "; the best dev-AUC weights kept)"
    return (f"Training protocol (run records): profile {', '.join(map(str, profiles))}, "
            + ", ".join(parts) + f", stopped by {rules}"
            + ("." if profiles == ["paper"] else f"; the paper trained in float32 at batch {BATCH_SIZES.get(mode)}, "
               "up to 500 epochs, without a dev rule."))


def scores_protocol_note(outputs: Outputs, scores: pd.DataFrame) -> str:
    """:func:`protocol_note` for the detectors behind ``scores`` (their input mode; baselines aside)."""
    from idsd import scores as score_files
    from idsd import train

    modes = sorted(set(scores["mode"]) - {score_files.BASELINE_MODE}) if "mode" in scores else []
    records = train.load_run_records(outputs)
    return " ".join(n for n in (protocol_note(records, m) for m in modes) if n)


def grid_note(study, trained: Sequence[str]) -> str:
    """One sentence saying which training corpora the detector was trained on when it is not every
    training corpus of the study (the CPU budget grid, :func:`idsd.train.grid_train_corpora`)."""
    left = [c for c in study.train_corpora if c not in trained]
    if not left or not trained:
        return ""
    return (f"The detector was trained on {', '.join(trained)} only (the CPU budget grid of notebook 03); "
            f"{', '.join(left)} serve as evaluation corpora (`./run_all.sh --full-grid` trains on every corpus, "
            "as the paper did).")


def shared_evidence(outputs: Outputs, name: str, inputs: pd.DataFrame, params: Mapping, compute):
    """An evidence table (intervals, paired tests) computed once per set of score rows and shared by
    the notebooks through ``<outputs>/cache/evidence/`` (:func:`idsd.memo.cached`)."""
    from idsd import evidence, memo

    # the cell columns are part of the key: a table stored before a column was added is recomputed
    return memo.cached(Path(outputs.cache) / "evidence", name, inputs,
                       {**params, "cell_columns": list(evidence.CELL_COLUMNS)}, compute)


def in_domain_ci_beside_paper(cells: pd.DataFrame, mapping: Mapping[str, str], digits: int = 3
                              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Result 1 with intervals, every system a row, each corpus's column followed by the paper's.

    Parameters
    ----------
    cells : DataFrame
        :func:`idsd.evidence.in_domain_cells`.
    mapping : dict
        Our corpus -> paper corpus.

    Returns
    -------
    numeric : DataFrame
        Index ``feature`` (systems: representations then baselines); per corpus ``ours (<c>)``,
        ``ours (<c>) lo``, ``ours (<c>) hi`` (ASVspoof EER with its interval), ``ours (<c>) pyeer``
        (pyeer's EER of the same trials, the paper's definition) and ``paper (<p>)`` where the
        paper has the cell.
    shown : DataFrame
        The same with ``ours`` as ``eer [lo, hi]`` strings, the pyeer and paper values to 4 decimals.
    """
    from idsd import evidence

    pv = P.in_domain_eer()
    corpora = [c for c in dict.fromkeys(cells["train_corpus"]) if c != "Total"]
    systems = evidence.system_order(cells["feature"])
    num, shown = {}, {}
    for c in [*corpora, "Total"]:
        g = cells[cells["train_corpus"] == c].set_index("feature").reindex(systems)
        if g["eer"].isna().all():
            continue
        label = ours(c) if c != "Total" else ours("Total: " + "+".join(corpora))
        num[label], num[label + " lo"], num[label + " hi"] = g["eer"], g["lo"], g["hi"]
        shown[label] = [evidence.format_cell(e, a, b, digits) for e, a, b in zip(g["eer"], g["lo"], g["hi"])]
        if "pyeer_eer" in g:  # the paper's EER definition on the same trials, beside the paper's number
            num[label + " pyeer"] = g["pyeer_eer"]
            shown[label + " pyeer"] = [f"{v:.4f}" if np.isfinite(v) else "–" for v in g["pyeer_eer"]]
        pn = mapping.get(c) if c != "Total" else "Total"
        if pn in pv.index:
            plabel = paper(pn) if c != "Total" else paper("Total: " + "+".join(P.PAPER_TRAIN_CORPORA))
            col = pv.loc[pn].reindex(systems)
            num[plabel] = col
            shown[plabel] = [f"{v:.4f}" if np.isfinite(v) else "–" for v in col]
    numeric, shown = pd.DataFrame(num, index=systems), pd.DataFrame(shown, index=systems)
    numeric.index.name = shown.index.name = "feature"
    return numeric, shown


def write_in_domain(scores: pd.DataFrame, study, outputs: Outputs, n_boot: int | None = None
                    ) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """Result 1: ``in_domain_eer`` (cells with intervals), ``in_domain_eer_vs_paper``, the seed spread,
    the paired tests between systems, and the figures.

    Parameters
    ----------
    scores : DataFrame
        :func:`idsd.scores.collect_scores` of one mode and pooling, plus the baselines' rows
        (``mode == "baseline"``) when they were scored.
    study : idsd.study.Study
    outputs : Outputs
    n_boot : int, optional
        Bootstrap resamples (default :data:`idsd.evidence.N_BOOT`).

    Returns
    -------
    (tables, files)
        tables: ``in_domain_eer`` (point EERs, corpora x systems), ``in_domain_eer_cells``,
        ``in_domain_eer_vs_paper`` (numeric), ``in_domain_seed_spread``, ``in_domain_paired_tests``.
    """
    from idsd import evidence, plots, results

    nb = n_boot or evidence.N_BOOT
    corpora = [c for c in study.train_corpora if (scores["train_corpus"] == c).any()]
    primary = evidence.primary_seed(scores)
    t1 = results.in_domain_table(primary, corpora)
    cells = shared_evidence(outputs, "in_domain_cells", primary, {"corpora": corpora, "n_boot": nb},
                            lambda: evidence.in_domain_cells(primary, corpora, nb))
    numeric, shown = in_domain_ci_beside_paper(cells, corpus_map(study))
    cap = ("In-domain EER per system (the seven representations of the detector, then the baselines "
           "LFCC-GMM and the shortcut audit's logistic regression) and training corpus; Total = EER of "
           "the pooled eval scores. " + ci_caption(nb) + " " + scores_protocol_note(outputs, scores)).strip()
    files = list(write_cells(cells, evidence.wide(cells, "feature", "train_corpus",
                                                  column_order=[*corpora, "Total"]),
                             "in_domain_eer", outputs, cap).values())
    files += write_cells(numeric.reset_index(), shown, "in_domain_eer_vs_paper", outputs,
                         "In-domain EER, ours beside the paper's. `ours (<corpus>)`: the ASVspoof EER "
                         "(compute_eer) with its 95 % interval; `ours (<corpus>) pyeer`: pyeer's EER "
                         "(FVC2000) of the same trials, the definition the paper used, so it is the number to "
                         "compare with `paper (<corpus>)` (as published, without interval). "
                         + _study_corpus_note(study)).values()
    spread = evidence.seed_spread(scores)
    files += write_table(spread, "in_domain_seed_spread", outputs,
                         "In-domain eval EER over training seeds (same data and protocol, different weight "
                         "initialisation, dropout and batch order)", index=False).values()
    ind = primary[(primary["train_corpus"] == primary["eval_corpus"]) & (primary["split"] == "eval")]
    # paired tests: 5x the interval resamples (Holm needs small attainable p-values, see N_BOOT_TESTS)
    ind = ind[ind["train_corpus"].isin(corpora)]
    pooled = ind.assign(train_corpus="Total")  # the Total column: every corpus's trials at once
    both = pd.concat([ind, pooled], ignore_index=True)
    tests = shared_evidence(outputs, "in_domain_paired_tests", both, {"n_boot": 5 * nb},
                            lambda: evidence.paired_tests(both, by=("train_corpus",), n_boot=5 * nb))
    files += write_table(tests, "in_domain_paired_tests", outputs,
                         "Paired bootstrap test of the EER difference of every pair of systems on the same "
                         "in-domain eval trials (diff = a - b; p Holm-corrected within each corpus)",
                         index=False).values()
    fig = plots.in_domain_heatmaps(t1, f"ours ({', '.join(corpora)})")
    files += save_figure(fig, "in_domain_eer", outputs).values()
    files += save_figure(plots.eer_interval_plot(cells, "train_corpus", "In-domain EER with 95 % intervals (ours)"),
                         "in_domain_eer_ci", outputs).values()
    return {"in_domain_eer": t1, "in_domain_eer_cells": cells, "in_domain_eer_vs_paper": numeric,
            "in_domain_eer_vs_paper_shown": shown, "in_domain_seed_spread": spread,
            "in_domain_paired_tests": tests}, files


def write_cross_dataset(scores: pd.DataFrame, study, outputs: Outputs, n_boot: int | None = None
                        ) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """Result 2: ``cross_dataset_{pairs,by_feature,by_eval_corpus,feature_x_eval}`` with intervals + heatmap.

    ``study`` (:class:`idsd.study.Study`, or None for a bare scores folder) names each corpus
    with the paper's abbreviation in the shown tables, as :func:`write_in_domain` does.

    The paper gives no cross-dataset numbers (only its code), so there is no paper column. The
    baselines (fitted on the training corpus, scored on the other corpora) are rows of
    ``pairs``, ``by_feature`` and ``feature_x_eval``; ``by_eval_corpus`` pools the detector only.
    """
    from idsd import evidence, plots, results

    nb = n_boot or evidence.N_BOOT
    primary = evidence.primary_seed(scores)
    x = results.cross_dataset_tables(primary)
    c = shared_evidence(outputs, "cross_cells", primary, {"n_boot": nb}, lambda: evidence.cross_cells(primary, nb))
    files: list[Path] = []
    protocol = scores_protocol_note(outputs, scores)
    captions = {
        "pairs": "Cross-dataset EER of every (training corpus, other evaluation corpus) pair",
        "by_feature": "Cross-dataset EER pooled over all pairs, per system (upstream compute_eer_complete)",
        "by_eval_corpus": "Cross-dataset EER pooled over training corpora and representations (the detector only), "
                          "per evaluation corpus (upstream compute_eer_dataset)",
        "feature_x_eval": "Cross-dataset EER pooled over training corpora, per system and evaluation corpus",
    }
    shown = {
        "pairs": c["pairs"].assign(eer=[evidence.format_cell(e, a, b) for e, a, b in
                                        zip(c["pairs"]["eer"], c["pairs"]["lo"], c["pairs"]["hi"])]
                                   ).drop(columns=["lo", "hi"]).rename(columns={"eer": "EER [95 % CI]"}),
        "by_feature": evidence.wide(c["by_feature"].assign(what="EER [95 % CI]"), "feature", "what"),
        "by_eval_corpus": evidence.wide(c["by_eval_corpus"].assign(what="EER [95 % CI]"), "eval_corpus", "what"),
        "feature_x_eval": evidence.wide(c["feature_x_eval"], "feature", "eval_corpus"),
    }
    note = ""
    if study is not None:  # shown tables name each corpus with the paper's abbreviation too
        label = corpus_labels(corpus_map(study))
        shown["pairs"] = shown["pairs"].assign(train_corpus=shown["pairs"]["train_corpus"].map(label),
                                               eval_corpus=shown["pairs"]["eval_corpus"].map(label))
        shown["by_eval_corpus"] = shown["by_eval_corpus"].rename(index=label)
        shown["feature_x_eval"] = shown["feature_x_eval"].rename(columns=label)
        note = " " + _study_corpus_note(study)
    tables = {}
    for k, cap in captions.items():
        name = f"cross_dataset_{k}"
        files += write_cells(c[k], shown[k], name, outputs, (cap + ". The paper publishes no cross-dataset numbers. "
                             + ci_caption(nb) + " " + protocol + note).strip(), index=k != "pairs").values()
        tables[name] = x[k]
        tables[name + "_cells"] = c[k]
        tables[name + "_shown"] = shown[k]
    if len(x["feature_x_eval"]):
        fig = plots.eer_heatmap(x["feature_x_eval"], "Cross-dataset EER with 95 % intervals (ours; rows: system, "
                                "columns: evaluation corpus, pooled over training corpora)",
                                intervals=evidence.interval_strings(c["feature_x_eval"], "feature", "eval_corpus"))
        files += save_figure(fig, "cross_dataset_eer", outputs).values()
    return tables, files


def write_robustness(scores: pd.DataFrame, outputs: Outputs, train_corpus: str | None = None,
                     n_boot: int | None = None) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """Result 5: ``robustness_eer`` (feature x modification, with intervals) + heatmap. No paper values exist."""
    from idsd import evidence, plots, results

    nb = n_boot or evidence.N_BOOT
    primary = evidence.primary_seed(scores[~scores["feature"].isin(evidence.BASELINES)])
    t = results.robustness_table(primary, train_corpus)
    files: list[Path] = []
    tables = {"robustness_eer": t}
    if len(t) and train_corpus:
        c = shared_evidence(outputs, "robustness_cells", primary, {"train_corpus": train_corpus, "n_boot": nb},
                            lambda: evidence.robustness_cells(primary, train_corpus, nb))
        cap = (f"EER per feature on the modified-speech set (models trained on {train_corpus}; clean = unmodified "
               "eval split; an EER whose interval lies above 0.5 = scores inverted by the modification). It is unknown whether the paper "
               "reports this study. " + ci_caption(nb) + " " + scores_protocol_note(outputs, scores)).strip()
        files += write_cells(c, evidence_wide_robustness(c), "robustness_eer", outputs, cap).values()
        tables["robustness_eer_cells"] = c
        fig = plots.eer_heatmap(t, f"Robustness: EER with 95 % intervals per modification (ours, trained on "
                                f"{train_corpus})", intervals=evidence.interval_strings(c, "feature", "condition"))
        files += save_figure(fig, "robustness_eer", outputs).values()
    return tables, files


def write_learning_curve(lc: pd.DataFrame, corpus: str, paper_name: str | None, outputs: Outputs,
                         lc_scores: pd.DataFrame | None = None, n_boot: int | None = None,
                         ) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """Result 3: ``learning_curve_eer`` (with intervals when ``lc_scores`` are given),
    ``learning_curve_vs_paper``, ``learning_curve_change`` + figure beside the paper's.

    Parameters
    ----------
    lc : DataFrame
        :func:`idsd.learning_curve.run_learning_curve` (one row per feature and subset).
    lc_scores : DataFrame, optional
        :func:`idsd.learning_curve.learning_curve_scores` (the trials behind ``lc``).
    """
    from idsd import evidence, plots

    nb = n_boot or evidence.N_BOOT
    wide_t = learning_curve_wide(lc)
    beside = learning_curve_beside_paper(lc, corpus, paper_name)
    stands = f" ({corpus} stands for {P.paper_label(paper_name)})" if paper_name else ""
    tables = {"learning_curve_eer": wide_t, "learning_curve_vs_paper": beside}
    if lc_scores is not None and len(lc_scores):
        c = shared_evidence(outputs, "learning_curve_cells", lc_scores, {"n_boot": nb},
                            lambda: evidence.learning_curve_cells(lc_scores, nb))
        shown = evidence.wide(c, "subset", "feature")
        shown.insert(0, "n_train", c.groupby("subset")["n_train"].first().reindex(shown.index))
        files = list(write_cells(c, shown, "learning_curve_eer", outputs,
                                 f"EER vs training-set size on {corpus} (ours){stands}. " + ci_caption(nb)).values())
        change = shared_evidence(outputs, "learning_curve_change", lc_scores, {"n_boot": nb},
                                 lambda: evidence.learning_curve_change(lc_scores, nb))
        files += write_table(change, "learning_curve_change", outputs,
                             "Largest minus smallest training subset, paired bootstrap on the same eval trials "
                             "(p Holm-corrected over representations)", index=False).values()
        tables.update(learning_curve_eer_cells=c, learning_curve_eer_shown=shown, learning_curve_change=change)
    else:
        files = list(write_table(wide_t, "learning_curve_eer", outputs,
                                 f"EER vs training-set size on {corpus} (ours){stands}").values())
    files += write_table(beside, "learning_curve_vs_paper", outputs,
                         f"Learning curve, ours on {corpus} beside the paper's on "
                         f"{P.paper_label(P.LEARNING_CURVE_CORPUS)}, aligned by the fraction of the training "
                         "split. `ours ... <feature>`: the ASVspoof EER (compute_eer); `... pyeer`: pyeer's EER "
                         "of the same trials, the definition the paper used; `paper ...`: as published").values()
    files += save_figure(plots.learning_curve_plot(lc, corpus, cells=tables.get("learning_curve_eer_cells")),
                         "learning_curve", outputs).values()
    return tables, files


def write_hardware(outputs: Outputs, mode: str = "array") -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """Result 4: ``hardware``, ``hardware_vs_paper`` + the normalised bars beside the paper's."""
    from idsd import plots, results

    hw = results.hardware_table(outputs, mode)
    files: list[Path] = []
    tables = {"hardware": hw}
    if len(hw):
        files += write_table(hw, "hardware", outputs, "Hardware and speed per feature (ours, this machine)").values()
        beside = hardware_beside_paper(hw)
        tables["hardware_vs_paper"] = beside
        files += write_table(beside, "hardware_vs_paper", outputs,
                             "Hardware and speed, ours beside the paper's (paper storage: GB of float32 "
                             "arrays of ~240k WaveFake training samples; RAM: peak GB while training [INF]; "
                             "extraction time per 2-s sample)").values()
    files += save_figure(plots.hardware_bars(hw if len(hw) else None), "hardware_requirements", outputs).values()
    return tables, files


def study_scores(outputs: Outputs, mode: str = "array", pooling: str | None = None) -> tuple[pd.DataFrame, str]:
    """The detector's score rows of one mode and pooling plus the baselines' (``mode == "baseline"``).

    Returns
    -------
    (scores, pooling)
    """
    from idsd import scores as score_files

    all_scores = score_files.collect_scores(outputs)
    det = all_scores[all_scores["mode"] != score_files.BASELINE_MODE]
    pooling = score_files.choose_pooling(pooling, det["pooling"].unique() if len(det) else [])
    scores = score_files.select(det, mode=mode, pooling=pooling)
    base = all_scores[all_scores["mode"] == score_files.BASELINE_MODE]
    return pd.concat([scores, base], ignore_index=True), pooling


def write_results(outputs: Outputs, study, mode: str = "array", pooling: str | None = None,
                  n_boot: int | None = None) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """All five results with intervals, baselines, seed spread and paired tests, ours beside the
    paper's, the computed conclusions, and ``<outputs>/tables/results.md``.

    Reads the score files (:func:`study_scores`), the learning-curve table and its score files,
    the hardware inputs and the run records; a result whose inputs are missing gets a "not
    produced" line in ``results.md`` instead of a table.

    Returns
    -------
    (tables, files)
    """
    from idsd import conclusions, learning_curve, train
    from idsd import scores as score_files

    scores, pooling = study_scores(outputs, mode, pooling)
    tables: dict[str, pd.DataFrame] = {}
    files: list[Path] = []
    sections: list[tuple[str, str, pd.DataFrame | None]] = []
    note = _study_corpus_note(study)
    runs = train.runs_table([r for r in train.load_run_records(outputs) if r.get("mode") == mode])
    if len(runs):
        sections.append(("0. Training runs", "How every run of the grid stopped (the model records, "
                         "`outputs/models/<corpus>/<mode>/<run>.record.json`).\n\n" + conclusions.training(runs), None))

    # the baselines are fitted wherever asked; the tables compare them on the detector's training corpora
    trained = score_files.trained_corpora(study, scores)
    main = scores[(scores["eval_corpus"] != score_files.MODIFIED) & scores["train_corpus"].isin(trained)]
    protocol = protocol_note(train.load_run_records(outputs), mode)
    note = " ".join(n for n in (note, grid_note(study, trained), protocol) if n)
    if len(main):
        t, f = write_in_domain(main, study, outputs, n_boot)
        tables.update(t)
        files += f
        sections.append(("1. In-domain EER per system and training corpus",
                         "Trained and evaluated on the same corpus (its eval split); the baselines "
                         "(`lfcc-gmm`: the ASVspoof LFCC-GMM baseline; `bands-lr`: the shortcut audit's "
                         "logistic regression on level, digital silence and 32 band means) are fitted on the same "
                         "training split and scored on the same trials. \"Total\" is the EER of the pooled "
                         "scores, not the mean of the rows. " + ci_caption(n_boot) + " " + note
                         + "\n\n**What this shows**\n\n"
                         + conclusions.in_domain(t["in_domain_eer_cells"], t["in_domain_paired_tests"]),
                         t["in_domain_eer_vs_paper_shown"]))
        spread = t["in_domain_seed_spread"]
        sections.append(("1b. Spread over training seeds", conclusions.seeds(spread, t["in_domain_eer_cells"]),
                         spread.round(4) if len(spread) else None))
        tests = t["in_domain_paired_tests"]
        sig = tests[tests["significant"]] if len(tests) else tests
        sections.append(("1c. Which differences are supported (paired bootstrap, Holm-corrected)",
                         f"{len(sig)} of {len(tests)} pairwise differences are significant at 5 % after Holm's "
                         "correction within each corpus; the full table is `outputs/tables/in_domain_paired_tests.csv`. "
                         "Significant pairs:", _paired_summary(sig)))
        t, f = write_cross_dataset(main, study, outputs, n_boot)
        tables.update(t)
        files += f
        sections.append(("2. Cross-dataset EER",
                         "Every training corpus on every other corpus's eval split, pooled per system (over all "
                         "pairs). The paper publishes no numbers for this (only its code). " + ci_caption(n_boot)
                         + "\n\n**What this shows**\n\n"
                         + conclusions.cross_dataset(t["cross_dataset_by_feature_cells"],
                                                     tables.get("in_domain_eer_cells")),
                         t["cross_dataset_by_feature_shown"]))
        sections.append(("2b. Cross-dataset EER per evaluation corpus", "Pooled over training corpora and "
                         "representations (the detector only).", t["cross_dataset_by_eval_corpus_shown"]))
    else:
        sections += [("1. In-domain EER", "", pd.DataFrame()), ("2. Cross-dataset EER", "", pd.DataFrame())]

    lc_path = outputs.learning_curve_table
    if lc_path.is_file():
        lc = pd.read_csv(lc_path)
        corpus = str(lc["corpus"].iloc[0]) if len(lc) else (study.learning_curve_corpus or "")
        try:
            pname = study.corpus(corpus).paper_name
        except KeyError:
            pname = ""
        t, f = write_learning_curve(lc, corpus, pname, outputs, learning_curve.learning_curve_scores(outputs, lc, mode),
                                    n_boot)
        tables.update(t)
        files += f
        text = (f"EER vs training-set size, cumulative class-stratified subsets of the {corpus} training split, "
                "beside the paper's WaveFake curve.")
        if "learning_curve_eer_cells" in t:
            text += ("\n\n**What this shows**\n\n"
                     + conclusions.learning_curve(t["learning_curve_eer_cells"], t["learning_curve_change"]))
        sections.append(("3. Learning curve", text, t.get("learning_curve_eer_shown", t["learning_curve_vs_paper"])))
    else:
        sections.append(("3. Learning curve", "Run notebook 06 to produce it.", pd.DataFrame()))

    t, f = write_hardware(outputs, mode)
    tables.update(t)
    files += f
    sections.append(("4. Hardware requirements and speed", "Storage = float32 size of one clip's features "
                     f"projected to {P.HARDWARE_SAMPLES:,} clips (the paper's WaveFake training set); extraction "
                     "time per 2-s clip on this machine; peak RAM while training = peak resident memory of the "
                     "training kernel, which trains the whole grid in one process in paper order, so the value "
                     "grows along the grid and bounds each representation's need rather than isolating it.\n\n"
                     "**What this shows**\n\n" + conclusions.hardware(t.get("hardware")),
                     t.get("hardware_vs_paper", pd.DataFrame())))

    t, f = write_robustness(scores, outputs, study.modified_base, n_boot)
    tables.update(t)
    files += f
    text = (f"EER per representation per modification of the {study.modified_base or ''} eval split "
            "(models trained on it). No paper values.")
    if "robustness_eer_cells" in t:
        text += " " + ci_caption(n_boot) + "\n\n**What this shows**\n\n" + conclusions.robustness(
            t["robustness_eer_cells"])
        shown = evidence_wide_robustness(t["robustness_eer_cells"])
    else:
        shown = t["robustness_eer"]
    sections.append(("5. Robustness to modified speech", text, shown))

    title = f"Results ({study.source} corpora, input mode {mode}, pooling {pooling})"
    pre = ("Our numbers are computed by the notebooks from the score files under `outputs/scores/`; the "
           "paper's are its published values. Every column names its corpus: `ours (mini-for)` is this "
           "workbook's embedded stand-in, `paper (F2S)` is the paper's FoR for-2seconds result. Every EER of "
           "ours carries its 95 % bootstrap interval; a ranking is claimed only where the paired test supports it.")
    from idsd.readme import run_info

    run = run_info(outputs)
    if run.get("commit"):
        pre += (f" Produced by `./run_all.sh` at commit `{run['commit'][:12]}`"
                + (" with uncommitted changes" if run.get("dirty") else "") + f", started {run.get('started', '?')}.")
    files.append(write_results_markdown(results_markdown(sections, title, pre), outputs))
    return tables, files


def evidence_wide_robustness(cells: pd.DataFrame) -> pd.DataFrame:
    """Robustness cells as the shown table (features x conditions, clean first)."""
    from idsd import evidence

    conds = ["clean", *sorted(x for x in cells["condition"].unique() if x != "clean")]
    return evidence.wide(cells, "feature", "condition", column_order=conds)


def _paired_summary(sig: pd.DataFrame) -> pd.DataFrame | None:
    """The significant pairs of the paired tests, one line each (corpus, better, worse, diff, p)."""
    if sig is None or sig.empty:
        return None
    rows = []
    for r in sig.itertuples():
        worse = r.b if r.better == r.a else r.a
        rows.append({"corpus": r.train_corpus, "lower EER": r.better, "higher EER": worse,
                     "EER difference [95 % CI]": f"{abs(r.diff):.3f} [{min(abs(r.lo), abs(r.hi)):.3f}, "
                                                 f"{max(abs(r.lo), abs(r.hi)):.3f}]",
                     "p (Holm)": f"{r.p_holm:.3g}"})
    return pd.DataFrame(rows)
