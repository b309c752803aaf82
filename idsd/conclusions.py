""""What this shows": short conclusions computed from the results, never written by hand.

Every function takes the tables a notebook produced (cells with intervals from
:mod:`idsd.evidence`, paired tests, run records) and returns Markdown bullet points. A ranking is
stated only where the paired test supports it (Holm-corrected p < 0.05); otherwise the systems are
said to be indistinguishable on these trials. An EER whose whole interval lies above 0.5 is called
out as inverted scores; one whose interval contains 0.5 is at chance, not inverted.
"""

from __future__ import annotations

import math

import pandas as pd

from idsd.evidence import ALPHA, BASELINES, format_cell, system_order

INVERTED = 0.5
"""An EER above this means the detector scores the classes the wrong way round (claimed only when
the whole 95 % interval lies above it)."""


def inverted(g: pd.DataFrame) -> list:
    """Rows of ``g`` (cells with ``eer``, ``lo``, ``hi``) whose whole interval lies above 0.5."""
    return [s for s in g.index if g.loc[s, "lo"] > INVERTED]


def at_chance(g: pd.DataFrame) -> list:
    """Rows of ``g`` whose interval contains 0.5: indistinguishable from guessing on these trials."""
    return [s for s in g.index if g.loc[s, "lo"] <= INVERTED <= g.loc[s, "hi"]]


def _fmt(row) -> str:
    return format_cell(row["eer"], row["lo"], row["hi"])


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines) if lines else "- (no results to summarise)"


def _significant(tests: pd.DataFrame, a: str, b: str) -> tuple[bool, str]:
    """Whether systems ``a`` and ``b`` differ significantly in ``tests`` and which one is better."""
    if tests is None or tests.empty:
        return False, ""
    t = tests[((tests["a"] == a) & (tests["b"] == b)) | ((tests["a"] == b) & (tests["b"] == a))]
    if t.empty:
        return False, ""
    r = t.iloc[0]
    return bool(r["significant"]), str(r["better"])


def training(runs: pd.DataFrame) -> str:
    """How the runs of a training grid stopped (``idsd.train.runs_table``)."""
    from idsd.train import STOP_REASONS

    if runs is None or runs.empty:
        return _bullets([])
    lines = [f"{len(runs)} runs; epochs run: median {int(runs['epochs'].median())}, "
             f"range {int(runs['epochs'].min())}-{int(runs['epochs'].max())}."]
    reasons = runs["stop_reason"].fillna("unknown").value_counts()
    for key, n in reasons.items():
        lines.append(f"{n} stopped by: {STOP_REASONS.get(key, key)}.")
    capped = runs[runs["stop_reason"] == "cap"]
    if len(capped):
        names = ", ".join(f"{r.train_corpus}/{r.name}" for r in capped.itertuples())
        lines.append(f"Reached the epoch cap before either stopping rule (may be under-trained): {names}.")
    else:
        lines.append("No run reached the epoch cap: every run stopped on a plateau rule.")
    return _bullets(lines)


def in_domain(cells: pd.DataFrame, tests: pd.DataFrame) -> str:
    """Per training corpus: the best system, the systems it cannot be told apart from, whether the
    detector beats each baseline, and inverted scores.

    Parameters
    ----------
    cells : DataFrame
        :func:`idsd.evidence.in_domain_cells`.
    tests : DataFrame
        :func:`idsd.evidence.paired_tests` grouped by ``train_corpus``.
    """
    lines = []
    for corpus in dict.fromkeys(cells["train_corpus"]):
        g = cells[(cells["train_corpus"] == corpus) & cells["eer"].notna()].set_index("feature")
        if g.empty:
            continue
        t = tests[tests["train_corpus"] == corpus] if tests is not None and len(tests) else None
        t = t if t is not None and len(t) else None
        det = g[~g.index.isin(BASELINES)]
        if det.empty:
            continue
        best = det["eer"].idxmin()
        text = f"**{corpus}**: lowest detector EER {best} {_fmt(g.loc[best])}"
        if t is None:
            lines.append(text + " (no paired test on these trials, so no ranking is claimed).")
            continue
        ties = [s for s in system_order(det.index) if s != best and not _significant(t, best, s)[0]]
        if ties:
            text += f"; not significantly different from {', '.join(ties)}"
        elif len(det) > 1:
            text += "; significantly lower than every other representation"
        verdicts = []
        for b in BASELINES:
            if b not in g.index:
                continue
            sig, better = _significant(t, best, b)
            if sig and better == best:
                verdicts.append(f"beats {b} {_fmt(g.loc[b])}")
            elif sig:
                verdicts.append(f"**loses to {b}** {_fmt(g.loc[b])}")
            else:
                verdicts.append(f"does not differ significantly from {b} {_fmt(g.loc[b])}")
        if verdicts:
            text += f"; against the baselines, {best} " + " and ".join(verdicts)
        inv = inverted(g)
        if inv:
            text += f"; inverted scores (EER interval above 0.5): {', '.join(inv)}"
        lines.append(text + ".")
    return _bullets(lines)


def cross_dataset(by_feature: pd.DataFrame, in_domain_cells: pd.DataFrame | None = None) -> str:
    """Pooled cross-dataset EER per system: the lowest, overlaps, and the gap to in-domain."""
    g = by_feature[by_feature["eer"].notna()].set_index("feature")
    if g.empty:
        return _bullets([])
    det = g[~g.index.isin(BASELINES)]
    best = det["eer"].idxmin()
    overlap = [s for s in system_order(det.index) if s != best and det.loc[s, "lo"] <= det.loc[best, "hi"]]
    lines = [f"Lowest pooled cross-dataset EER: {best} {_fmt(det.loc[best])}"
             + (f"; its interval overlaps those of {', '.join(overlap)}, so no ranking among them is supported."
                if overlap else "; its interval overlaps no other representation's.")]
    if in_domain_cells is not None and len(in_domain_cells):
        tot = in_domain_cells[in_domain_cells["train_corpus"] == "Total"].set_index("feature")
        worse = [s for s in det.index if s in tot.index and det.loc[s, "lo"] > tot.loc[s, "hi"]]
        if worse:
            lines.append(f"Cross-dataset EER is clearly above the pooled in-domain EER (intervals disjoint) for "
                         f"{', '.join(system_order(worse))}: what these detectors learn on one corpus does not "
                         "transfer.")
    inv, chance = inverted(g), at_chance(g)
    if inv:
        lines.append(f"Inverted scores across corpora (EER interval above 0.5): {', '.join(system_order(inv))}.")
    if chance:
        lines.append(f"At chance across corpora (interval contains 0.5): {', '.join(system_order(chance))}.")
    for b in BASELINES:
        if b in g.index:
            beat = [s for s in det.index if det.loc[s, "hi"] < g.loc[b, "lo"]]
            lines.append(f"{b}: {_fmt(g.loc[b])}; representations whose interval lies entirely below it: "
                         f"{', '.join(system_order(beat)) if beat else 'none'}.")
    return _bullets(lines)


def robustness(cells: pd.DataFrame) -> str:
    """Which modifications clearly degrade which representations (interval above the clean one),
    and where scores invert (the EER's whole interval above 0.5)."""
    if cells is None or cells.empty:
        return _bullets([])
    clean = cells[cells["condition"] == "clean"].set_index("feature")
    mod = cells[cells["condition"] != "clean"]
    lines = []
    for cond, g in mod.groupby("condition", sort=True):
        g = g.set_index("feature")
        worse = [f for f in g.index if f in clean.index and g.loc[f, "lo"] > clean.loc[f, "hi"]]
        inv = inverted(g)
        if not worse and not inv:
            continue
        text = f"**{cond}**: "
        text += (f"clearly worse than clean for {', '.join(system_order(worse))}" if worse
                 else "no representation clearly worse than clean")
        if inv:
            text += f"; inverted scores (EER interval above 0.5) for {', '.join(system_order(inv))}"
        lines.append(text + ".")
    unaffected = sorted(set(mod["condition"]) - {ln.split("**")[1] for ln in lines})
    if unaffected:
        lines.append(f"No clear effect (every interval overlaps the clean one): {', '.join(unaffected)}.")
    return _bullets(lines)


def learning_curve(cells: pd.DataFrame, change: pd.DataFrame) -> str:
    """Per representation: EER at the smallest and the largest subset and whether the change is significant."""
    if cells is None or cells.empty:
        return _bullets([])
    lines = []
    for f in system_order(cells["feature"].unique()):
        g = cells[cells["feature"] == f].sort_values("subset")
        first, last = g.iloc[0], g.iloc[-1]
        text = (f"{f}: {_fmt(first)} with {int(first['n_train'])} training clips -> {_fmt(last)} with "
                f"{int(last['n_train'])}")
        c = change[change["feature"] == f] if change is not None and len(change) else pd.DataFrame()
        if len(c):
            r = c.iloc[0]
            if r["significant"]:
                text += f" (significant, Holm p = {r['p_holm']:.3g})"
            else:
                text += f" (not significant, Holm p = {r['p_holm']:.3g})"
        lines.append(text + ".")
    return _bullets(lines)


def seeds(spread: pd.DataFrame, cells: pd.DataFrame | None = None) -> str:
    """How much the EER moves with the training seed, compared with the bootstrap interval width."""
    if spread is None or spread.empty:
        return _bullets(["Only one training seed was run per cell."])
    lines = [f"{len(spread)} cells trained with {int(spread['n_seeds'].min())}-{int(spread['n_seeds'].max())} seeds: "
             f"seed standard deviation of the eval EER median {spread['eer_sd'].median():.3f}, "
             f"max {spread['eer_sd'].max():.3f} ({spread.loc[spread['eer_sd'].idxmax(), 'train_corpus']}/"
             f"{spread.loc[spread['eer_sd'].idxmax(), 'feature']})."]
    if cells is not None and len(cells):
        c = cells.merge(spread, on=["train_corpus", "feature"])
        if len(c):
            half = ((c["hi"] - c["lo"]) / 2).median()
            ratio = float(c["eer_sd"].median() / half) if half > 0 else math.nan
            lines.append(f"The median seed sd is {ratio:.2f}x the median half-width of the bootstrap interval: "
                         + ("training randomness is as large as the trial sampling noise, so single-seed rankings "
                            "need both." if ratio >= 0.5 else
                            "training randomness is small next to the trial sampling noise."))
    return _bullets(lines)


def hardware(hw: pd.DataFrame) -> str:
    """The cheapest and most expensive representation in storage and extraction time."""
    if hw is None or hw.empty:
        return _bullets([])
    lines = []
    for col, what in (("extract_ms", "extraction time per clip (ms)"), ("storage_gb_at_240k", "storage (GB @240k)")):
        if col in hw and hw[col].notna().any():
            v = hw[col].astype(float)
            lines.append(f"{what}: lowest {v.idxmin()} ({v.min():.3g}), highest {v.idxmax()} ({v.max():.3g}), "
                         f"ratio {v.max() / max(v.min(), 1e-12):.0f}x.")
    return _bullets(lines)


__all__ = ["ALPHA", "INVERTED", "cross_dataset", "hardware", "in_domain",
           "learning_curve", "robustness", "seeds", "training"]


def explanations(shares: pd.DataFrame, ablation: pd.DataFrame) -> str:
    """Where the attribution lies and whether removing that band hurts the detector most.

    Parameters
    ----------
    shares : DataFrame
        :func:`idsd.explanations.band_share_table` rows (``train_corpus``, ``feature``, ``group``,
        ``value``, one column per band, ``top_band``).
    ablation : DataFrame
        :func:`idsd.explanations.ablation_cells` rows (``train_corpus``, ``feature``, ``band``,
        ``eer``, ``lo``, ``hi``, ``delta``, ``significant``).
    """
    from idsd.explanations import INTACT

    if shares is None or shares.empty:
        return _bullets([])
    lines = []
    allc = shares[(shares["group"] == "class") & (shares["value"] == "all") & (shares["top_band"] != "")]
    bands = [c for c in shares.columns if c.endswith(" kHz") and not c.startswith("bins ")]
    if len(allc):
        counts = allc["top_band"].value_counts()
        per = ", ".join(f"{b}: {int(counts.get(b, 0))}" for b in bands)
        lines.append(f"Band holding the largest share of |attribution| ({len(allc)} model(s) with a Hz axis): {per}.")
        for corpus, g in allc.groupby("train_corpus", sort=False):
            items = []
            for _, r in g.iterrows():
                bins = r.get(f"bins {r['top_band']}", math.nan)
                even = f" against {bins:.0%} of its bins" if math.isfinite(float(bins)) else ""
                items.append(f"{r['feature']} {r['top_band']} ({r[r['top_band']]:.0%} of the attribution{even})")
            lines.append(f"**{corpus}**: " + "; ".join(items) + ".")
    if ablation is not None and len(ablation):
        removed = ablation[ablation["band"] != INTACT]
        agree, total, hurt = 0, 0, []
        for (corpus, feat), g in removed.groupby(["train_corpus", "feature"], sort=False):
            sig = g[g["significant"] & (g["delta"] > 0)]
            worst = g.loc[g["delta"].idxmax()]
            intact = ablation[(ablation["train_corpus"] == corpus) & (ablation["feature"] == feat)
                              & (ablation["band"] == INTACT)]
            if len(sig):
                w = sig.loc[sig["delta"].idxmax()]
                hurt.append(f"{feat} on {corpus}: removing {w['band']} raises the EER from "
                            f"{_fmt(intact.iloc[0])} to {_fmt(w)}")
            top = allc[(allc["train_corpus"] == corpus) & (allc["feature"] == feat)]
            if len(top) and len(sig):
                total += 1
                agree += int(top["top_band"].iloc[0] == worst["band"])
        n_cells = removed.groupby(["train_corpus", "feature"]).ngroups
        n_sig = len({(r.train_corpus, r.feature) for r in removed.itertuples() if r.significant and r.delta > 0})
        lines.append(f"Band removal (audio band-stop, paired test against the intact audio, Holm-corrected): "
                     f"{n_sig} of {n_cells} model(s) lose significantly when some band is removed.")
        lines += hurt
        if total:
            lines.append(f"Maps against behaviour: in {agree} of {total} model(s) with a Hz axis and a significant "
                         "loss, the band holding most attribution is also the band whose removal hurts most.")
        better = removed[removed["significant"] & (removed["delta"] < 0)]
        if len(better):
            lines.append("Removing a band **lowers** the EER (the detector relied on a cue that misleads it on "
                         "these trials) for " + ", ".join(f"{r.feature} on {r.train_corpus} ({r.band})"
                                                           for r in better.itertuples()) + ".")
    return _bullets(lines)
