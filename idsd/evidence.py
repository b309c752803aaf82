"""Evidence behind every EER: bootstrap intervals, seed spread, paired tests, baselines beside the detector.

The tables of the paper's results are built from score rows (``idsd.scores.collect_scores``: one
row per trial, ``score`` = P(real), ``target`` 1 = real). This module turns them into *cells*: one
row per table cell with the point EER (ASVspoof definition, :func:`idsd.metrics.compute_eer`), its
95 % bootstrap interval (resampling whole utterances and speakers, :mod:`idsd.uncertainty`), and
the numbers of trials and resampling units it rests on. Wide tables for Markdown/LaTeX show
``0.052 [0.031, 0.077]``; the CSV keeps ``eer``, ``lo`` and ``hi`` in separate columns.

Systems: the seven representations of the detector, plus the baselines (``idsd.baselines``:
``lfcc-gmm``, the ASVspoof LFCC-GMM baseline, and ``bands-lr``, the shortcut audit's logistic
regression) scored on the same trials. :func:`paired_tests` compares every pair of systems on the
same trials (paired bootstrap, Holm-corrected within each evaluation).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from idsd import metrics, uncertainty

log = logging.getLogger(__name__)

N_BOOT = 1000
"""Bootstrap resamples per interval."""

N_BOOT_TESTS = 5000
"""Bootstrap resamples per paired test: with percentile p-values the smallest Holm-adjusted p of a
family of m tests is 2 m / (n_boot + 1), so 36 pairs (9 systems) need n_boot well above 1,440."""

ALPHA = 0.05
"""Two-sided level: 95 % intervals, tests at 5 % after Holm's correction."""

BASELINES = ("lfcc-gmm", "bands-lr")
"""The baseline systems, in table order after the seven representations."""

CELL_COLUMNS = ("eer", "lo", "hi", "n_bona", "n_spoof", "n_groups", "pyeer_eer")
"""Columns every cell carries besides its keys: ``eer`` (ASVspoof definition) with its interval
``lo``/``hi``, the trial and resampling-unit counts, and ``pyeer_eer``, pyeer's FVC2000 EER of the
same trials (:func:`idsd.metrics.pyeer_eer`, the definition the paper used)."""

TRIAL_KEY = ("dataset", "split", "path", "fragment", "condition")
"""Columns that identify one trial across systems (paired tests align on them)."""


def primary_seed(scores: pd.DataFrame) -> pd.DataFrame:
    """Rows of the lowest seed of each (train corpus, mode, feature, pooling): the main grid's runs.

    Extra seeds (``-seed<k>`` runs) feed :func:`seed_spread` only; every other table reports one
    run per cell, the same one for every evaluation.
    """
    if "seed" not in scores or scores.empty:
        return scores
    keys = [c for c in ("train_corpus", "mode", "feature", "pooling") if c in scores]
    low = scores.groupby(keys, dropna=False)["seed"].transform("min")
    return scores[scores["seed"] == low]


def eer_cell(rows: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """EER of a set of trials with its bootstrap interval.

    Parameters
    ----------
    rows : DataFrame, n rows
        Score rows (``score``, ``target`` and the resampling columns ``path``/``speaker`` when present).
    n_boot, seed : int

    Returns
    -------
    dict
        :data:`CELL_COLUMNS`; NaN EER and interval when a class is missing.
    """
    target = rows["target"].to_numpy(dtype=int)
    n_bona, n_spoof = int((target == 1).sum()), int((target == 0).sum())
    if n_bona == 0 or n_spoof == 0:
        return {"eer": math.nan, "lo": math.nan, "hi": math.nan, "n_bona": n_bona, "n_spoof": n_spoof,
                "n_groups": 0, "pyeer_eer": math.nan}
    r = uncertainty.eer_ci(rows, n_boot=n_boot, alpha=ALPHA, seed=seed)
    return {k: r[k] for k in CELL_COLUMNS if k in r}


def cells(scores: pd.DataFrame, by: Sequence[str], n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """One :func:`eer_cell` per group of ``by`` (e.g. ``("train_corpus", "feature")``).

    Returns
    -------
    DataFrame
        ``by`` columns + :data:`CELL_COLUMNS`, one row per group that has both classes.
    """
    by = list(by)
    t = uncertainty.ci_table(scores, by=by, split=None, n_boot=n_boot, alpha=ALPHA, seed=seed)
    return t[[*by, *CELL_COLUMNS]].reset_index(drop=True)


def pooled_cells(scores: pd.DataFrame, by: Sequence[str], label_col: str, label: str,
                 n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Cells of the trials pooled over everything but ``by``, labelled ``label`` in ``label_col``.

    The paper's "Total" is the EER of the pooled scores (not the mean of the rows): pooling the
    training corpora per feature is ``pooled_cells(s, ["feature"], "train_corpus", "Total")``.
    """
    c = cells(scores, by, n_boot, seed)
    c.insert(0, label_col, label)
    return c


def system_order(systems: Sequence[str]) -> list[str]:
    """The paper's feature order, then the baselines, then anything else sorted."""
    from idsd.paper_values import FEATURES

    s = list(dict.fromkeys(systems))
    return ([f for f in FEATURES if f in s] + [b for b in BASELINES if b in s]
            + sorted(x for x in s if x not in FEATURES and x not in BASELINES))


def format_cell(eer: float, lo: float, hi: float, digits: int = 3) -> str:
    """``0.052 [0.031, 0.077]``; ``–`` for a missing cell."""
    if eer is None or not np.isfinite(eer):
        return "–"
    return uncertainty.format_ci(eer, lo, hi, digits=digits)


def wide(cell_table: pd.DataFrame, index: str, columns: str, digits: int = 3,
         index_order: Sequence[str] | None = None, column_order: Sequence[str] | None = None) -> pd.DataFrame:
    """Cells as a wide table of formatted strings (``eer [lo, hi]``), for Markdown and LaTeX.

    Parameters
    ----------
    cell_table : DataFrame from :func:`cells`
    index, columns : str
        Columns of ``cell_table`` that become the rows and the columns.
    index_order, column_order : sequence of str, optional
        Row / column order (default: :func:`system_order` for a ``feature`` axis, else sorted).
    """
    t = cell_table.assign(cell=[format_cell(e, a, b, digits) for e, a, b in
                                zip(cell_table["eer"], cell_table["lo"], cell_table["hi"])])
    w = t.pivot_table(index=index, columns=columns, values="cell", aggfunc="first")

    def order(axis, values, given):
        if given is not None:
            return [v for v in given if v in set(values)] + [v for v in values if v not in set(given)]
        return system_order(values) if axis == "feature" else sorted(values)

    w = w.reindex(index=order(index, list(w.index), index_order),
                  columns=order(columns, list(w.columns), column_order))
    w.columns.name = None
    return w.fillna("–")


def interval_strings(cell_table: pd.DataFrame, index: str, columns: str, digits: int = 2) -> pd.DataFrame:
    """``"[lo, hi]"`` per cell, wide (for annotating heatmaps under the point EER)."""
    t = cell_table.assign(iv=[f"[{a:.{digits}f}, {b:.{digits}f}]" if np.isfinite(a) and np.isfinite(b) else ""
                              for a, b in zip(cell_table["lo"], cell_table["hi"])])
    w = t.pivot_table(index=index, columns=columns, values="iv", aggfunc="first")
    w.columns.name = None
    return w


# =========================================================================== seeds


def seed_spread(scores: pd.DataFrame, split: str = "eval") -> pd.DataFrame:
    """EER spread over training seeds, per (train corpus, feature), on the in-domain eval split.

    Returns
    -------
    DataFrame
        ``train_corpus, feature, n_seeds, seeds, eer_mean, eer_sd, eer_min, eer_max`` for the
        cells trained with at least two seeds (sd with ddof=1).
    """
    ind = scores[(scores["train_corpus"] == scores["eval_corpus"]) & (scores["split"] == split)]
    rows = []
    for (tc, f), g in ind.groupby(["train_corpus", "feature"], sort=True):
        per_seed = {int(s): _eer(gs) for s, gs in g.groupby("seed")}
        if len(per_seed) < 2:
            continue
        v = np.array(list(per_seed.values()))
        rows.append({"train_corpus": tc, "feature": f, "n_seeds": len(v),
                     "seeds": ",".join(str(s) for s in sorted(per_seed)), "eer_mean": float(v.mean()),
                     "eer_sd": float(v.std(ddof=1)), "eer_min": float(v.min()), "eer_max": float(v.max())})
    cols = ["train_corpus", "feature", "n_seeds", "seeds", "eer_mean", "eer_sd", "eer_min", "eer_max"]
    return pd.DataFrame(rows, columns=cols)


def _eer(rows: pd.DataFrame) -> float:
    b, s = metrics.split_by_target(rows["score"].to_numpy(), rows["target"].to_numpy())
    return metrics.compute_eer(b, s)[0] if b.size and s.size else math.nan


# =========================================================================== paired tests


def paired_tests(scores: pd.DataFrame, by: Sequence[str] = ("train_corpus", "eval_corpus"),
                 system: str = "feature", n_boot: int = N_BOOT_TESTS, seed: int = 0) -> pd.DataFrame:
    """Paired bootstrap test of the EER difference of every pair of systems on the same trials.

    Within each group of ``by`` (one evaluation), each pair is compared on the trials both
    systems scored (:func:`idsd.uncertainty.pairwise_tests`); p-values are Holm-corrected within
    the group (the family of that evaluation's pairwise comparisons).

    Returns
    -------
    DataFrame
        ``by`` columns + ``a, b, eer_a, eer_b, diff (a - b), lo, hi, p, p_holm, significant, better,
        n_trials, n_groups``; ``better`` names the system with the lower EER when the difference
        is significant, else ``""``. Rows are ordered as :func:`system_order`.
    """
    if scores.empty:
        return pd.DataFrame()
    order = {s: i for i, s in enumerate(system_order(scores[system].unique()))}
    df = scores.assign(_order=scores[system].map(order)).sort_values("_order", kind="stable")
    t = uncertainty.pairwise_tests(df.drop(columns="_order"), system_col=system, trial_cols=TRIAL_KEY,
                                   by=tuple(by), split=None, family=tuple(by), n_boot=n_boot, alpha=ALPHA,
                                   seed=seed, level=ALPHA)
    return t.rename(columns={"system_a": "a", "system_b": "b", "p_value": "p"})


# =========================================================================== the results as cells


def in_domain_cells(scores: pd.DataFrame, corpora: Sequence[str] | None = None, n_boot: int = N_BOOT,
                    seed: int = 0) -> pd.DataFrame:
    """Result 1 as cells: every system on its own corpus's eval split, plus the pooled ``Total``.

    Parameters
    ----------
    scores : DataFrame
        Score rows of the detector (one mode and pooling; the primary seed is taken) and of the
        baselines, all with ``train_corpus``, ``eval_corpus``, ``split``, ``feature``.
    corpora : sequence of str, optional
        Training corpora kept (default: all found).

    Returns
    -------
    DataFrame
        ``train_corpus`` (``Total`` for the pooled rows), ``feature`` + :data:`CELL_COLUMNS`.
    """
    ind = primary_seed(scores)
    ind = ind[(ind["train_corpus"] == ind["eval_corpus"]) & (ind["split"] == "eval")]
    if corpora is not None:
        ind = ind[ind["train_corpus"].isin(list(corpora))]
    per = cells(ind, ["train_corpus", "feature"], n_boot, seed)
    total = pooled_cells(ind, ["feature"], "train_corpus", "Total", n_boot, seed)
    return pd.concat([per, total], ignore_index=True)


def cross_cells(scores: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Result 2 as cells: every training corpus on every *other* corpus's eval split.

    Returns
    -------
    dict
        ``pairs`` (train_corpus, eval_corpus, feature), ``by_feature`` (all pairs pooled per
        system), ``by_eval_corpus`` (pooled over training corpora and systems of the detector, the
        baselines left out), ``feature_x_eval`` (pooled over training corpora).
    """
    from idsd.scores import MODIFIED

    s = primary_seed(scores)
    cross = s[(s["train_corpus"] != s["eval_corpus"]) & (s["split"] == "eval") & (s["eval_corpus"] != MODIFIED)]
    detector = cross[~cross["feature"].isin(BASELINES)]
    return {
        "pairs": cells(cross, ["train_corpus", "eval_corpus", "feature"], n_boot, seed),
        "by_feature": cells(cross, ["feature"], n_boot, seed),
        "by_eval_corpus": cells(detector, ["eval_corpus"], n_boot, seed),
        "feature_x_eval": cells(cross, ["feature", "eval_corpus"], n_boot, seed),
    }


def per_source_cells(scores: pd.DataFrame, by: Sequence[str] = ("train_corpus", "eval_corpus", "feature"),
                     n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """EER of each fake source against all bona fide trials of its group, with intervals."""
    df = scores[scores["split"] == "eval"] if "split" in scores else scores
    by = [c for c in by if c in df]
    rows = []
    for key, g in df.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        bona = g[g["target"] == 1]
        if bona.empty:
            continue
        for src, gs in g[g["target"] == 0].groupby("source", sort=True):
            rows.append({**dict(zip(by, key)), "source": src,
                         **eer_cell(pd.concat([bona, gs], ignore_index=True), n_boot, seed)})
    return pd.DataFrame(rows, columns=[*by, "source", *CELL_COLUMNS])


def robustness_cells(scores: pd.DataFrame, train_corpus: str, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Result 5 as cells: (feature, condition), with ``clean`` = the in-domain eval split of the
    same models when the modified set has no clean condition."""
    from idsd.scores import MODIFIED

    s = primary_seed(scores[scores["train_corpus"] == train_corpus])
    mod = s[s["eval_corpus"] == MODIFIED]
    out = cells(mod, ["feature", "condition"], n_boot, seed)
    if not (out["condition"] == "clean").any():
        ref = s[(s["eval_corpus"] == train_corpus) & (s["split"] == "eval")
                & s["feature"].isin(out["feature"].unique())]
        clean = cells(ref, ["feature"], n_boot, seed)
        clean.insert(1, "condition", "clean")
        out = pd.concat([clean, out], ignore_index=True)
    return out


def learning_curve_cells(lc_scores: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Result 3 as cells: (feature, subset) on the eval split, with ``n_train``.

    ``lc_scores`` are the learning curve's score rows with ``feature``, ``subset`` and ``n_train``.
    """
    c = cells(lc_scores, ["feature", "subset"], n_boot, seed)
    n = lc_scores.groupby("subset")["n_train"].first()
    c.insert(2, "n_train", c["subset"].map(n).astype(int))
    return c


def learning_curve_change(lc_scores: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> pd.DataFrame:
    """Does more training data lower the EER? Per feature, the paired bootstrap difference
    between the smallest and the largest subset on the same eval trials (Holm over features)."""
    first, last = lc_scores["subset"].min(), lc_scores["subset"].max()
    two = lc_scores[lc_scores["subset"].isin([first, last])].copy()
    two["system"] = np.where(two["subset"] == first, "smallest", "largest")
    res = []
    for f, g in two.groupby("feature", sort=True):
        t = paired_tests(g.assign(group=f), by=("group",), system="system", n_boot=max(n_boot, N_BOOT_TESTS),
                         seed=seed)
        if len(t):
            res.append(t.rename(columns={"group": "feature"}))
    if not res:
        return pd.DataFrame()
    out = pd.concat(res, ignore_index=True)
    out["p_holm"] = uncertainty.holm(out["p"].to_numpy())
    out["significant"] = out["p_holm"] < ALPHA
    return out
