"""Uncertainty of EERs: cluster bootstrap intervals, paired tests between systems, Holm correction.

Why a cluster bootstrap
-----------------------
The trials of a score file are 2-s fragments, and fragments cut from one recording (one prompt
of one source, one speaker) share that recording's voice, text, channel and level. They are not
independent, so an interval that resamples fragments one by one is too narrow. The bootstrap here
resamples the *units the data were sampled in*:

1. **Utterances** (the inner unit). :func:`utterance_key` names the utterance of a row: the
   ``utterance`` column when the rows have one; else the file path without an embedded-corpus
   window suffix (``<lang>_<prompt>__<source>__w<i>.wav`` -> ``<lang>_<prompt>__<source>``:
   the prompt-windows of one utterance are separate files); else the path itself (all
   fragments of one file are one utterance). The real and the fake rendering of one prompt are
   different utterances (pass an ``utterance`` column to merge them).
2. **Speakers** (the outer unit), when the corpus has several known speakers: a two-stage
   (hierarchical) bootstrap draws speakers with replacement, then, within every drawn speaker,
   that speaker's utterances with replacement (each time the speaker is drawn). Rows with an
   unknown speaker (``unknown``, empty, NaN) are their own outer unit (one per utterance), and
   with fewer than ``min_speakers`` known speakers the outer stage is dropped: the bootstrap
   resamples utterances only. Two-stage resampling of both stages is the conservative choice
   (it slightly over-states the variance, Davison & Hinkley 1997, section 3.8), which is the
   safe side for claims of the form "A beats B".

Both stages are stratified by class: outer units with only bona fide trials, with only spoof
trials and with both are resampled separately, and so are the utterances of each class within
an outer unit, so every replicate keeps the number of units of each class (an EER needs both
classes). Fragments within an utterance are never resampled one by one: an utterance enters a
replicate whole, ``k`` times.

Speed
-----
A replicate is a vector of integer weights on the trials, never a materialised array: the EER of
weighted trials comes from per-score-level counts (``np.bincount`` with weights, one call for a
whole block of replicates) and cumulative sums, the same operating points as
:func:`idsd.metrics.compute_eer` (resampled duplicates are tied scores, which it groups), so every
replicate's EER equals ``compute_eer`` on the materialised resample exactly (tested). 1000
replicates of 1000 trials take a few milliseconds.

Intervals are percentile intervals. The paired test applies the same replicate weights to two
systems scored on the same trials and reports a two-sided bootstrap p-value for "EER difference
= 0"; :func:`holm` adjusts a family of p-values (Holm-Bonferroni step-down) and
:func:`pairwise_tests` runs every pair of systems of a score table.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from idsd import metrics

log = logging.getLogger(__name__)

UNKNOWN_SPEAKERS = ("unknown", "", "nan", "none")
"""Speaker values that mean "not known" (compared lower-case)."""

_WINDOW_RE = re.compile(r"__w\d+(\.[A-Za-z0-9]+)?$")

_MAX_CELLS = 4_000_000
"""Replicates are processed in blocks of at most this many (replicate x trial) weights."""


# --------------------------------------------------------------------------- resampling units


def utterance_key(rows: pd.DataFrame) -> pd.Series:
    """The utterance each row belongs to (see the module docstring).

    Parameters
    ----------
    rows : DataFrame, n rows
        With an ``utterance`` column, or a ``path`` column.

    Returns
    -------
    Series of str, n rows, aligned with ``rows``
    """
    if "utterance" in rows:
        return rows["utterance"].astype(str)
    if "path" in rows:
        return rows["path"].astype(str).str.replace(_WINDOW_RE, "", regex=True)
    raise ValueError("rows need an 'utterance' or a 'path' column to define resampling units")


def _level(rows: pd.DataFrame, name: str) -> pd.Series:
    if name == "utterance":
        return utterance_key(rows)
    if name not in rows:
        raise ValueError(f"no column {name!r} to resample by (columns: {list(rows.columns)})")
    return rows[name].astype(str)


def cluster_ids(rows: pd.DataFrame, by: Sequence[str] = ("speaker", "utterance"),
                min_speakers: int = 2) -> np.ndarray:
    """Resampling units of score rows: outer unit (speaker) and inner unit (utterance).

    Parameters
    ----------
    rows : DataFrame, n rows
        Score or manifest rows.
    by : sequence of one or two column names
        Outer unit then inner unit, e.g. ``("speaker", "utterance")`` (two-stage) or
        ``("utterance",)`` / ``("path",)`` (one stage). ``utterance`` is derived with
        :func:`utterance_key` when there is no such column. A missing outer column (e.g. no
        ``speaker``) means one stage.
    min_speakers : int
        With fewer distinct known outer units the outer stage is dropped (one stage); outer
        values in :data:`UNKNOWN_SPEAKERS` make every utterance its own outer unit.

    Returns
    -------
    numpy.ndarray, shape (n, 2), int64
        Column 0: outer-unit code, column 1: inner-unit code (unique across outer units). With
        one stage both columns hold the inner-unit code. Pass it as ``groups`` to
        :func:`bootstrap_eer` / :func:`paired_bootstrap`.
    """
    by = list(by)
    if not 1 <= len(by) <= 2:
        raise ValueError(f"by takes one or two levels (outer, inner), got {by}")
    inner = _level(rows, by[-1]).to_numpy()
    if len(by) == 2 and by[0] in rows:
        outer = rows[by[0]].astype(str).to_numpy()
        unknown = np.isin(np.char.lower(outer.astype(str)), UNKNOWN_SPEAKERS)
        n_known = len(set(outer[~unknown]))
        if n_known < min_speakers:
            log.debug("%d known %s(s) < %d: resampling %s only", n_known, by[0], min_speakers, by[-1])
            outer = inner
        else:
            outer = np.where(unknown, np.char.add("\x01utt:", inner.astype(str)), outer)
    else:
        outer = inner
    outer_codes = pd.factorize(pd.Series(outer, dtype=str), sort=False)[0]
    inner_codes = pd.factorize(pd.Series(np.char.add(np.char.add(outer.astype(str), "\x00"),
                                                     inner.astype(str))), sort=False)[0]
    return np.column_stack([outer_codes, inner_codes]).astype(np.int64)


def _groups_array(groups, n: int) -> np.ndarray:
    """``groups`` as an (n, 2) code array: None -> every trial its own unit; 1-D -> one stage."""
    if groups is None:
        g = np.arange(n)
        return np.column_stack([g, g])
    if isinstance(groups, pd.DataFrame):
        groups = groups.to_numpy()
    arr = np.asarray(groups)
    if arr.ndim == 1:
        if arr.shape[0] != n:
            raise ValueError(f"{arr.shape[0]} group labels but {n} trials")
        codes = pd.factorize(pd.Series(arr).astype(str), sort=False)[0]
        return np.column_stack([codes, codes]).astype(np.int64)
    if arr.ndim != 2 or arr.shape != (n, 2):
        raise ValueError(f"groups must have shape ({n},) or ({n}, 2), got {arr.shape}")
    outer = pd.factorize(pd.Series(arr[:, 0]).astype(str), sort=False)[0]
    pair = pd.Series(arr[:, 0]).astype(str) + "\x00" + pd.Series(arr[:, 1]).astype(str)
    inner = pd.factorize(pair, sort=False)[0]
    return np.column_stack([outer, inner]).astype(np.int64)


class _Resampler:
    """Draws stratified two-stage cluster-bootstrap replicates as per-trial integer weights."""

    def __init__(self, target: np.ndarray, groups: np.ndarray):
        self.target = target
        outer, inner = groups[:, 0], groups[:, 1]
        self.inner = inner
        n_inner = int(inner.max()) + 1
        n_outer = int(outer.max()) + 1
        # class composition of every inner and outer unit: 0 spoof only, 1 bona only, 2 both
        self.inner_stratum = self._stratum(inner, n_inner)
        outer_stratum = self._stratum(outer, n_outer)
        inner_outer = np.zeros(n_inner, np.int64)
        inner_outer[inner] = outer
        self.n_inner, self.n_outer = n_inner, n_outer
        self.outer_strata = [np.flatnonzero(outer_stratum == s) for s in range(3)]
        self.outer_strata = [u for u in self.outer_strata if u.size]
        # cells: (outer unit, inner stratum) -> the inner units in it
        key = inner_outer * 3 + self.inner_stratum
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1], True])
        cells = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        single = [c for c in cells if c.size == 1]
        self.single_inner = np.array([c[0] for c in single], np.int64)
        self.single_outer = inner_outer[self.single_inner]
        self.multi = [(int(inner_outer[c[0]]), c) for c in cells if c.size > 1]

    def _stratum(self, codes: np.ndarray, size: int) -> np.ndarray:
        n_b = np.bincount(codes, weights=self.target == 1, minlength=size)
        n_all = np.bincount(codes, minlength=size)
        return np.where(n_b == 0, 0, np.where(n_b == n_all, 1, 2))

    def weights(self, rng: np.random.Generator, n_boot: int) -> np.ndarray:
        """Replicate weights, shape (n_boot, n_trials), float64 (integer counts)."""
        outer_counts = np.zeros((n_boot, self.n_outer), np.int64)
        for units in self.outer_strata:
            m = units.size  # m draws with replacement among m units: counts via one bincount
            draws = rng.integers(0, m, size=(n_boot, m)) + (np.arange(n_boot) * m)[:, None]
            outer_counts[:, units] = np.bincount(draws.ravel(), minlength=n_boot * m).reshape(n_boot, m)
        inner_counts = np.zeros((n_boot, self.n_inner), np.float64)
        if self.single_inner.size:
            inner_counts[:, self.single_inner] = outer_counts[:, self.single_outer]
        for o, cell in self.multi:
            m = cell.size
            inner_counts[:, cell] = rng.multinomial(outer_counts[:, o] * m, np.full(m, 1.0 / m))
        return inner_counts[:, self.inner]


def _eer_weighted(level: np.ndarray, k: int, is_bona: np.ndarray, w: np.ndarray) -> np.ndarray:
    """EER of weighted trials (the :func:`idsd.metrics.compute_eer` rule), one per weight row.

    Parameters
    ----------
    level : numpy.ndarray, shape (n,)
        Index of each trial's score among the ``k`` distinct sorted scores.
    is_bona : numpy.ndarray, shape (n,), bool
    w : numpy.ndarray, shape (b, n)
        Non-negative trial weights (bootstrap counts).

    Returns
    -------
    numpy.ndarray, shape (b,)
        NaN where a replicate has no weight on a class.
    """
    b = w.shape[0]
    offs = (np.arange(b) * k)[:, None]

    def counts(mask):
        idx = (offs + level[None, mask]).ravel()
        return np.bincount(idx, weights=w[:, mask].ravel(), minlength=b * k).reshape(b, k)

    cb = np.cumsum(counts(is_bona), axis=1)  # bona fide with score <= level
    cs = np.cumsum(counts(~is_bona), axis=1)
    nb, ns = cb[:, -1:], cs[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        frr = cb / nb
        far = (ns - cs) / ns
        gap = np.abs(frr - far)
        i = np.argmin(gap, axis=1)
        rows = np.arange(b)
        eer = (frr[rows, i] + far[rows, i]) / 2
    # the "accept everything" point (frr 0, far 1, gap 1) comes first and wins ties
    eer = np.where(gap[rows, i] < 1.0, eer, 0.5)
    eer[(nb[:, 0] <= 0) | (ns[:, 0] <= 0)] = np.nan
    return eer


def _replicate_eers(score_sets: Sequence[np.ndarray], target: np.ndarray, groups: np.ndarray, n_boot: int,
                    seed: int, metric: Callable | None) -> list[np.ndarray]:
    """Bootstrap EERs of several systems on the same trials, the same replicates for all."""
    rng = np.random.default_rng(seed)
    res = _Resampler(target, groups)
    is_bona = target == 1
    prepared = [np.unique(s, return_inverse=True) for s in score_sets]
    out = [np.empty(n_boot) for _ in score_sets]
    block = max(1, _MAX_CELLS // max(1, target.size))
    for start in range(0, n_boot, block):
        nb = min(block, n_boot - start)
        w = res.weights(rng, nb)
        for j, (s, (uniq, inv)) in enumerate(zip(score_sets, prepared)):
            if metric is None:
                out[j][start:start + nb] = _eer_weighted(inv.reshape(-1), uniq.size, is_bona, w)
            else:
                for r in range(nb):
                    idx = np.repeat(np.arange(s.size), w[r].astype(np.int64))
                    t = target[idx]
                    ok = (t == 1).any() and (t == 0).any()
                    out[j][start + r] = float(metric(s[idx][t == 1], s[idx][t == 0])) if ok else np.nan
    return out


def _inputs(scores, target, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    t = np.asarray(target).reshape(-1)
    if s.shape != t.shape:
        raise ValueError(f"{s.size} scores but {t.size} targets")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("targets must be 1 (real) or 0 (fake)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    t = t.astype(np.int64)
    if not (t == 1).any() or not (t == 0).any():
        raise ValueError("an EER needs at least one real and one fake trial")
    return s, t, _groups_array(groups, s.size)


def _point(metric: Callable | None, s: np.ndarray, t: np.ndarray) -> float:
    if metric is None:
        return metrics.compute_eer(s[t == 1], s[t == 0])[0]
    return float(metric(s[t == 1], s[t == 0]))


# --------------------------------------------------------------------------- public API


def bootstrap_eer(scores, target, groups=None, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                  metric: Callable | None = None) -> dict:
    """EER with a percentile cluster-bootstrap confidence interval.

    Parameters
    ----------
    scores : array-like, shape (n,)
        P(real) scores (higher = more real).
    target : array-like, shape (n,)
        1 = real, 0 = fake.
    groups : array-like, shape (n,) or (n, 2), optional
        Resampling units: inner units (one stage), or the (outer, inner) codes of
        :func:`cluster_ids` (two stage). None: every trial is its own unit (the naive bootstrap).
    n_boot : int
        Replicates.
    alpha : float
        Interval level ``1 - alpha``.
    seed : int
        The result is a deterministic function of the inputs and the seed.
    metric : callable ``(bona, spoof) -> float``, optional
        Default (None): the ASVspoof EER of :func:`idsd.metrics.compute_eer`, computed
        vectorised from weights. Any other metric is evaluated on materialised resamples (slow).

    Returns
    -------
    dict
        ``eer`` (point estimate on all trials), ``lo``, ``hi`` (percentile interval),
        ``n_bona``, ``n_spoof``, ``n_groups`` (inner units), ``n_outer`` (outer units),
        ``n_boot`` (replicates with both classes, all of them with stratification).
    """
    s, t, g = _inputs(scores, target, groups)
    boot = _replicate_eers([s], t, g, n_boot, seed, metric)[0]
    ok = boot[np.isfinite(boot)]
    lo, hi = (np.quantile(ok, [alpha / 2, 1 - alpha / 2]) if ok.size else (np.nan, np.nan))
    return dict(eer=_point(metric, s, t), lo=float(lo), hi=float(hi), n_bona=int((t == 1).sum()),
                n_spoof=int((t == 0).sum()), n_groups=int(g[:, 1].max() + 1), n_outer=int(g[:, 0].max() + 1),
                n_boot=int(ok.size))


def paired_bootstrap(scores_a, scores_b, target, groups=None, n_boot: int = 1000, alpha: float = 0.05,
                     seed: int = 0, metric: Callable | None = None, p_method: str = "percentile") -> dict:
    """Paired cluster bootstrap of the EER difference of two systems on the same trials.

    Parameters
    ----------
    scores_a, scores_b : array-like, shape (n,)
        P(real) scores of systems A and B on the same trials, aligned.
    target : array-like, shape (n,)
    groups : array-like, shape (n,) or (n, 2), optional
        As in :func:`bootstrap_eer`.
    n_boot, alpha, seed, metric
        As in :func:`bootstrap_eer`; every replicate's weights are applied to both systems.
    p_method : str
        ``"percentile"``: twice the smaller share of replicates with difference <= 0 or >= 0,
        with the +1 correction ``(count + 1) / (n_boot + 1)``, capped at 1 (replicates with
        difference exactly 0 count on both sides, so identical systems get p = 1); it cannot go
        below ``2 / (n_boot + 1)``, so a Holm family of ``m`` tests needs ``n_boot > 40 m`` to
        reach 0.05. ``"normal"``: ``2 * (1 - Phi(|diff| / sd))`` with ``sd`` the standard
        deviation of the bootstrap differences (not limited by ``n_boot``; p = 1 when sd = 0).

    Returns
    -------
    dict
        ``eer_a``, ``eer_b``, ``diff`` (= eer_a - eer_b; negative: A is better), ``lo``, ``hi``
        (percentile interval of the difference), ``p_value`` (two-sided, for difference = 0),
        ``n_trials``, ``n_groups``.
    """
    if p_method not in ("percentile", "normal"):
        raise ValueError(f"p_method must be 'percentile' or 'normal', got {p_method!r}")
    a, t, g = _inputs(scores_a, target, groups)
    b = np.asarray(scores_b, dtype=np.float64).reshape(-1)
    if b.shape != a.shape:
        raise ValueError(f"system A has {a.size} scores, system B {b.size}: they must be aligned")
    if not np.isfinite(b).all():
        raise ValueError("scores must be finite")
    ea, eb = _replicate_eers([a, b], t, g, n_boot, seed, metric)
    d = ea - eb
    d = d[np.isfinite(d)]
    diff = _point(metric, a, t) - _point(metric, b, t)
    if d.size:
        lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2])
        if p_method == "normal":
            sd = float(np.std(d, ddof=1)) if d.size > 1 else 0.0
            p = 1.0 if sd == 0 else float(min(1.0, 2 * norm.sf(abs(diff) / sd)))
        else:
            below = (np.sum(d <= 0) + 1) / (d.size + 1)
            above = (np.sum(d >= 0) + 1) / (d.size + 1)
            p = min(1.0, 2 * min(below, above))
    else:
        lo = hi = p = np.nan
    return dict(eer_a=_point(metric, a, t), eer_b=_point(metric, b, t), diff=float(diff), lo=float(lo),
                hi=float(hi), p_value=float(p), n_trials=int(a.size), n_groups=int(g[:, 1].max() + 1))


def holm_resamples(n_tests: int, n_boot: int = 1000, smallest: float = 0.01) -> int:
    """Bootstrap resamples per paired test so that a Holm family of ``n_tests`` can reject.

    A percentile p-value (:func:`paired_bootstrap`) cannot go below ``2 / (n_boot + 1)``, so the
    smallest Holm-adjusted p of a family of ``m`` tests is ``2 m / (n_boot + 1)``: with 42 tests
    and 1,000 resamples it is 0.084, and no test of the family can reach 0.05 however large the
    effect. Returns ``max(5 * n_boot, ceil(2 m / smallest))`` (the 5x of the study's other paired
    tests, :data:`idsd.evidence.N_BOOT_TESTS`), which puts the smallest adjusted p at or below
    ``smallest``.

    Examples
    --------
    >>> holm_resamples(42, 1000)
    8400
    >>> holm_resamples(3, 1000)
    5000
    """
    return int(max(5 * int(n_boot), np.ceil(2 * max(int(n_tests), 1) / float(smallest))))


def holm(p_values) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values.

    ``p_adj[(i)] = max_{j <= i} min(1, (m - j + 1) p[(j)])`` over the ascending order; NaN
    entries stay NaN and do not count in ``m``.

    Parameters
    ----------
    p_values : array-like, shape (m,)

    Returns
    -------
    numpy.ndarray, shape (m,), in the input order; monotone in the raw p-values, capped at 1.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="mergesort")]
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


def pairwise_tests(frame: pd.DataFrame, system_col: str = "feature",
                   trial_cols: Sequence[str] = ("dataset", "split", "path", "fragment", "condition"),
                   by: Sequence[str] = ("train_corpus", "eval_corpus", "mode"), split: str | None = "eval",
                   cluster_by: Sequence[str] = ("speaker", "utterance"), family: Sequence[str] | None = None,
                   n_boot: int = 1000, alpha: float = 0.05, seed: int = 0, level: float = 0.05,
                   p_method: str = "percentile") -> pd.DataFrame:
    """Every pair of systems evaluated on the same trials: paired bootstrap + Holm correction.

    Parameters
    ----------
    frame : DataFrame
        Score rows of several systems (e.g. :func:`idsd.scores.collect_scores` output, one mode
        and pooling), columns ``system_col``, ``trial_cols``, ``score``, ``target`` and the
        columns of ``cluster_by``.
    system_col : str
        Column naming the system (``feature``, ``run``, ...).
    trial_cols : sequence of str
        Columns that identify a trial across systems (those present are used). Each pair is
        compared on the trials both systems scored; a system with duplicate trials in a
        comparison group raises ``ValueError`` (select one run per system first).
    by : sequence of str
        Comparison groups (those present): systems are compared within each group only.
    split : str or None
        Keep rows of this split (when a ``split`` column exists); None keeps all.
    cluster_by : sequence of str
        Resampling units, see :func:`cluster_ids`.
    family : sequence of str, optional
        Columns within which Holm's correction is applied; None: the whole table is one family.
    n_boot, alpha, seed
        As in :func:`paired_bootstrap` (the same seed for every pair).
    level : float
        Significance level of the ``significant`` column (on the Holm-adjusted p-value).
    p_method : str
        See :func:`paired_bootstrap`. With ``"percentile"`` the smallest Holm-adjusted p-value
        of a family of ``m`` tests is ``2 m / (n_boot + 1)``; a warning is logged when that
        cannot reach ``level`` (raise ``n_boot``, narrow the ``family``, or use ``"normal"``).

    Returns
    -------
    DataFrame
        ``by`` columns + ``system_a, system_b, eer_a, eer_b, diff, lo, hi, p_value, p_holm,
        significant, better, n_trials, n_groups``; ``diff = eer_a - eer_b``; ``better`` is the
        system with the lower EER when ``significant``, else ``""``.
    """
    df = frame
    if split is not None and "split" in df:
        df = df[df["split"] == split]
    by = [c for c in by if c in df]
    keys = [c for c in trial_cols if c in df]
    if not keys:
        raise ValueError(f"none of the trial columns {list(trial_cols)} is in the frame")
    cols = [*by, "system_a", "system_b", "eer_a", "eer_b", "diff", "lo", "hi", "p_value", "p_holm",
            "significant", "better", "n_trials", "n_groups"]
    rows = []
    for gkey, g in (df.groupby(by, sort=True, dropna=False) if by else [((), df)]):
        gkey = gkey if isinstance(gkey, tuple) else (gkey,)
        dup = g.duplicated([system_col, *keys])
        if dup.any():
            raise ValueError(f"{dict(zip(by, gkey))}: {int(dup.sum())} duplicate trials within a system; "
                             f"select one run per {system_col} first")
        systems = list(dict.fromkeys(g[system_col]))
        per = {s: g[g[system_col] == s].set_index(keys) for s in systems}
        for sa, sb in itertools.combinations(systems, 2):
            common = per[sa].index.intersection(per[sb].index)
            if len(common) == 0:
                continue
            ra, rb = per[sa].loc[common], per[sb].loc[common]
            t = ra["target"].to_numpy().astype(int)
            if not (t == 1).any() or not (t == 0).any():
                continue
            meta = ra.reset_index()
            res = paired_bootstrap(ra["score"].to_numpy(), rb["score"].to_numpy(), t,
                                   cluster_ids(meta, cluster_by), n_boot=n_boot, alpha=alpha, seed=seed,
                                   p_method=p_method)
            rows.append({**dict(zip(by, gkey)), "system_a": sa, "system_b": sb,
                         **{k: res[k] for k in ("eer_a", "eer_b", "diff", "lo", "hi", "p_value",
                                                "n_trials", "n_groups")}})
    out = pd.DataFrame(rows, columns=cols)
    if out.empty:
        return out
    fam = [c for c in (family or []) if c in out]
    if fam:
        out["p_holm"] = out.groupby(fam, dropna=False)["p_value"].transform(lambda p: holm(p.to_numpy()))
    else:
        out["p_holm"] = holm(out["p_value"].to_numpy())
    m = int(out.groupby(fam, dropna=False).size().max()) if fam else len(out)
    if p_method == "percentile" and 2 * m / (n_boot + 1) >= level:
        log.warning("pairwise_tests: %d tests per Holm family with n_boot=%d: no adjusted p-value can be "
                    "below %.3g (smallest possible %.3g); raise n_boot above %d or use p_method='normal'",
                    m, n_boot, level, 2 * m / (n_boot + 1), int(np.ceil(2 * m / level)))
    out["significant"] = out["p_holm"] < level
    lower = np.where(out["diff"] < 0, out["system_a"], out["system_b"])
    out["better"] = np.where(out["significant"] & (out["diff"] != 0), lower, "")
    return out[cols]


def eer_ci(frame: pd.DataFrame, cluster_by: Sequence[str] = ("speaker", "utterance"), n_boot: int = 1000,
           alpha: float = 0.05, seed: int = 0) -> dict:
    """:func:`bootstrap_eer` of a score frame (columns ``score``, ``target`` and the ``cluster_by`` ones),
    with pyeer's EER of the same trials.

    Returns
    -------
    dict
        As :func:`bootstrap_eer`, plus ``pyeer_eer`` (:func:`idsd.metrics.pyeer_eer`: the FVC2000
        definition the paper used; NaN when a class is missing).
    """
    s, t = frame["score"].to_numpy(), frame["target"].to_numpy()
    r = bootstrap_eer(s, t, cluster_ids(frame, cluster_by), n_boot=n_boot, alpha=alpha, seed=seed)
    both = (t == 1).any() and (t == 0).any()
    r["pyeer_eer"] = metrics.pyeer_eer(s[t == 1], s[t == 0]) if both else float("nan")
    return r


def ci_table(scores: pd.DataFrame, by: Sequence[str] = ("train_corpus", "eval_corpus", "feature"),
             split: str | None = "eval", cluster_by: Sequence[str] = ("speaker", "utterance"),
             n_boot: int = 1000, alpha: float = 0.05, seed: int = 0, digits: int = 3) -> pd.DataFrame:
    """EER with its cluster-bootstrap interval for every group of a score table.

    Parameters
    ----------
    scores : DataFrame
        Score rows (e.g. :func:`idsd.scores.collect_scores` output, one mode and pooling).
    by : sequence of str
        Grouping columns (those present); e.g. ``("train_corpus", "feature")`` over in-domain
        rows gives the cells of the in-domain table, ``("feature",)`` its pooled "Total" row
        (pooled trials of one utterance stay one unit, as its path is the same).
    split : str or None
        Keep rows of this split (when a ``split`` column exists); None keeps all.
    cluster_by, n_boot, alpha, seed
        As in :func:`eer_ci` (the same seed for every group).
    digits : int
        Decimals of the ``text`` column.

    Returns
    -------
    DataFrame
        ``by`` columns + ``eer, lo, hi, n_bona, n_spoof, n_groups, n_outer, pyeer_eer, text``
        (``eer``: the ASVspoof definition with its interval; ``pyeer_eer``: pyeer's FVC2000 EER of
        the same trials, :func:`idsd.metrics.pyeer_eer`; ``text``: :func:`format_ci`); groups
        lacking a class are left out.
    """
    df = scores[scores["split"] == split] if (split is not None and "split" in scores) else scores
    by = [c for c in by if c in df]
    rows = []
    for key, g in (df.groupby(by, sort=True, dropna=False) if by else [((), df)]):
        key = key if isinstance(key, tuple) else (key,)
        t = g["target"].to_numpy()
        if not (t == 1).any() or not (t == 0).any():
            continue
        r = eer_ci(g, cluster_by, n_boot=n_boot, alpha=alpha, seed=seed)
        rows.append({**dict(zip(by, key)), **{k: r[k] for k in ("eer", "lo", "hi", "n_bona", "n_spoof",
                                                                "n_groups", "n_outer", "pyeer_eer")},
                     "text": format_ci(r["eer"], r["lo"], r["hi"], digits)})
    return pd.DataFrame(rows, columns=[*by, "eer", "lo", "hi", "n_bona", "n_spoof", "n_groups", "n_outer",
                                       "pyeer_eer", "text"])


def format_ci(value, lo, hi, digits: int = 3) -> str:
    """``"0.052 [0.031, 0.077]"``; ``"n/a"`` when the value is NaN or None.

    Parameters
    ----------
    value, lo, hi : float
    digits : int
        Decimals.

    Examples
    --------
    >>> format_ci(0.0523, 0.0311, 0.0768)
    '0.052 [0.031, 0.077]'
    """
    def num(x):
        return x is not None and not (isinstance(x, float) and math.isnan(x)) and np.isfinite(x)

    if not num(value):
        return "n/a"
    if not (num(lo) and num(hi)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
