"""Calibrated scores: an affine map of the detector's logit to a log-likelihood ratio, fitted on dev.

The detector outputs P(real) (its sigmoid; higher = more bona fide, :mod:`idsd.metrics`). How
well those numbers separate the classes (EER, minDCF, minCllr) and how well they can be taken at
face value (Cllr, actDCF) are different questions; a detector trained to near-zero training loss
is usually over-confident. :class:`Calibration` fixes the second without touching the first.

Spaces
------
``p``
    The raw score, P(real) of the detector, in [0, 1].
``x = logit(clip(p, CLIP, 1 - CLIP))``
    Its logit, ``CLIP = 1e-7``, so ``|x| <= 16.1``: a float32 sigmoid steps by 6e-8 below 1 and
    reaches exactly 1 near ``x = 16.6``, so on the real side the detector's logits beyond that
    cannot be told apart anyway; the clip keeps saturated scores finite and is symmetric (it also
    ties the fake trials with P(real) < 1e-7).
``llr = a * x + b``
    The calibrated output: a natural-log **log-likelihood ratio**
    ``log p(score | real) / p(score | fake)``, independent of any prior.
``sigmoid(llr)``
    Calibrated P(real) *at prior 0.5* (:meth:`Calibration.apply`); at another prior ``pi`` of real
    speech it is ``sigmoid(llr + logit(pi))``.

Fit
---
Logistic regression of the label on ``x`` (``sklearn.linear_model.LogisticRegression``, lbfgs,
``C = 1e6``: practically unregularised, the intercept is never penalised) with
``class_weight="balanced"``: each class carries half the total weight whatever the dev class ratio,
so the fitted log posterior odds are those at an effective prior of 0.5, i.e. a log-likelihood
ratio. The same calibration therefore comes out of a dev set with 10 % or 90 % real trials.
When the dev trials are perfectly separated the unregularised slope would be infinite; the large
``C`` keeps it finite (a warning says so), and such a calibration is as confident as the data allow.

Metrics
-------
:func:`calibration_report` follows :mod:`idsd.metrics`: ``cllr`` and ``act_dcf`` take P(real) and
read ``logit(p)`` as the LLR (the *before* column: the detector's own claim, with the module's
``1e-15`` clip), or LLRs with ``llr=True`` (the *after* column: :meth:`Calibration.llr`). actDCF
uses the ASVspoof 5 costs of the metrics module and its Bayes threshold on the LLR,
``-log(Cmiss (1 - Pspoof) / (Cfa Pspoof)) = -0.642`` (calibrated P(real) > 0.345). minCllr
(:func:`idsd.metrics.min_cllr`), minDCF and EER depend only on the order of the scores, so a
calibration with ``a > 0`` leaves them unchanged (but for scores
within ``CLIP`` of 0 or 1, which the clip ties).

Operating points
----------------
:func:`operating_point` picks a decision threshold on P(real) from the dev scores: the EER
threshold (``"eer"``) or the smallest threshold with a false acceptance rate (spoof accepted as
real, ``score > threshold``) of at most a target (``"far=0.01"`` or ``"far=1%"``).

In the model record the calibration is one JSON object under the key ``calibration``
(:func:`store`, :func:`from_record`); no pickle.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from idsd import metrics
from idsd.errors import InputError

log = logging.getLogger(__name__)

CLIP = 1e-7
"""P(real) is clipped to ``[CLIP, 1 - CLIP]`` before the logit of the calibration."""

CALIBRATION_C = 1e6
"""Inverse L2 strength of the logistic regression (weak: only perfectly separated data feel it)."""

CALIBRATION_FORMAT = "idsd-calibration/1"
"""``format`` of the calibration object in the model record."""

RECORD_KEY = "calibration"
"""Key of the calibration in the model record."""

OUTPUT_MEANING = ("llr = a * logit(clip(p, clip, 1 - clip)) + b (natural log likelihood ratio, real vs fake); "
                  "calibrated P(real) = sigmoid(llr) at prior 0.5")

REPORT_METRICS = ("cllr", "min_cllr", "min_dcf", "act_dcf", "eer", "eer_threshold")
"""The metrics of each column (before / after) of :func:`calibration_report`."""

OPERATING_POINT_HELP = "'eer' or 'far=<rate>' with a rate in [0, 1] (e.g. far=0.01 or far=1%)"


# --------------------------------------------------------------------------- helpers


def _probabilities(p, what: str = "scores") -> np.ndarray:
    """``p`` as float64 (shape kept); ValueError unless every value is a finite number in [0, 1]."""
    a = np.asarray(p, dtype=np.float64)
    bad = ~np.isfinite(a) | (a < 0) | (a > 1)
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(-1))[0])
        raise ValueError(f"{what}: {int(bad.sum())} of {a.size} values are not P(real) in [0, 1] "
                         f"(first: {a.reshape(-1)[i]!r} at index {i})")
    return a


def logit(p, clip: float = CLIP) -> np.ndarray:
    """``logit(clip(p, clip, 1 - clip))``.

    Parameters
    ----------
    p : array-like, any shape
        P(real) scores.
    clip : float
        Clip level.

    Returns
    -------
    np.ndarray, same shape as ``p``, float64
    """
    q = np.clip(np.asarray(p, dtype=np.float64), clip, 1 - clip)
    return np.log(q) - np.log1p(-q)


def _number(d: dict, key: str, source: str, positive: bool = False) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise InputError(source, f"calibration field {key!r} must be a finite number, got {v!r}")
    if positive and v <= 0:
        raise InputError(source, f"calibration field {key!r} must be positive, got {v!r}")
    return float(v)


# --------------------------------------------------------------------------- the calibration


@dataclass(frozen=True)
class Calibration:
    """An affine calibration of the logit: ``llr = a * logit(clip(p)) + b``.

    Attributes
    ----------
    a : float
        Slope on ``logit(p)`` (positive for a detector that ranks the classes the right way;
        below 1 for an over-confident one).
    b : float
        Intercept: the LLR of a raw score of 0.5.
    clip : float
        P(real) is clipped to ``[clip, 1 - clip]`` before the logit.
    n_bona, n_spoof : int
        Trials the calibration was fitted on (0 when not known).
    source : str
        What it was fitted on (e.g. ``"dev union"``).
    C : float
        Inverse regularisation strength of the fit.
    """

    a: float
    b: float
    clip: float = CLIP
    n_bona: int = 0
    n_spoof: int = 0
    source: str = ""
    C: float = CALIBRATION_C

    @classmethod
    def fit(cls, bona, spoof, source: str = "", C: float = CALIBRATION_C) -> Calibration:
        """Fit on labelled dev scores (logistic regression on the logit, balanced class weights).

        Parameters
        ----------
        bona : array-like, shape (n_bona,)
            P(real) of the real dev trials.
        spoof : array-like, shape (n_spoof,)
            P(real) of the fake dev trials.
        source : str
            Recorded as :attr:`source`.
        C : float
            Inverse L2 strength on the slope (the intercept is not penalised).

        Returns
        -------
        Calibration

        Raises
        ------
        ValueError
            An empty class, or a score that is not a finite number in [0, 1].
        """
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        bona, spoof = metrics.check_scores(bona, spoof)
        xb = logit(_probabilities(bona, "bona fide scores"))
        xs = logit(_probabilities(spoof, "spoof scores"))
        x = np.concatenate([xb, xs])[:, None]
        y = np.concatenate([np.ones(xb.size, dtype=int), np.zeros(xs.size, dtype=int)])
        if xb.min() > xs.max():
            log.warning("calibration: the %d dev trials are perfectly separated; the slope is limited "
                        "only by the regularisation (C=%g) and the calibration is as confident as that",
                        x.shape[0], C)
        model = LogisticRegression(C=C, class_weight="balanced", solver="lbfgs", tol=1e-10, max_iter=10_000)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(x, y)
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                log.warning("calibration: logistic regression did not fully converge: %s", w.message)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
        if a <= 0:
            log.warning("calibration slope a = %.3g <= 0: the detector does not rank the dev trials the "
                        "right way (higher P(real) for real speech)", a)
        return cls(a=a, b=b, clip=CLIP, n_bona=int(xb.size), n_spoof=int(xs.size), source=str(source), C=float(C))

    def llr(self, p) -> np.ndarray:
        """Calibrated log-likelihood ratios.

        Parameters
        ----------
        p : array-like, any shape
            Raw P(real) scores in [0, 1].

        Returns
        -------
        np.ndarray, same shape as ``p``
            ``a * logit(clip(p)) + b`` (natural log; > 0 favours real).
        """
        return self.a * logit(_probabilities(p), self.clip) + self.b

    def apply(self, p) -> np.ndarray:
        """Calibrated P(real) at prior 0.5.

        Parameters
        ----------
        p : array-like, any shape
            Raw P(real) scores in [0, 1].

        Returns
        -------
        np.ndarray, same shape as ``p``
            ``sigmoid(llr(p))``, in (0, 1).
        """
        return expit(self.llr(p))

    def to_dict(self) -> dict:
        """The JSON object stored in the model record (plain floats, ints and strings)."""
        return {"format": CALIBRATION_FORMAT,
                "method": "logistic regression on logit(P(real)), balanced class weights (scikit-learn)",
                "output": OUTPUT_MEANING, "a": float(self.a), "b": float(self.b), "clip": float(self.clip),
                "C": float(self.C), "n_bona": int(self.n_bona), "n_spoof": int(self.n_spoof),
                "source": str(self.source)}

    @classmethod
    def from_dict(cls, d, source: str = "<calibration>") -> Calibration:
        """Read :meth:`to_dict`'s object back (other keys, such as a ``report``, are ignored).

        Raises
        ------
        idsd.errors.InputError
            Not an object, another format, or ``a``/``b``/``clip`` not finite numbers
            (``clip`` in (0, 0.5)).
        """
        if not isinstance(d, dict):
            raise InputError(source, f"calibration must be a JSON object, got {type(d).__name__}")
        fmt = d.get("format", CALIBRATION_FORMAT)
        if fmt != CALIBRATION_FORMAT:
            raise InputError(source, f"calibration format {fmt!r} is not {CALIBRATION_FORMAT!r}")
        a, b = _number(d, "a", source), _number(d, "b", source)
        clip = _number(d, "clip", source, positive=True) if "clip" in d else CLIP
        if clip >= 0.5:
            raise InputError(source, f"calibration clip {clip!r} must be below 0.5")
        C = _number(d, "C", source, positive=True) if d.get("C") is not None else CALIBRATION_C
        counts = []
        for key in ("n_bona", "n_spoof"):
            n = d.get(key, 0)
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise InputError(source, f"calibration field {key!r} must be a count, got {n!r}")
            counts.append(n)
        return cls(a=a, b=b, clip=clip, n_bona=counts[0], n_spoof=counts[1], source=str(d.get("source") or ""),
                   C=C)


def store(record: dict, cal: Calibration, report=None) -> dict:
    """A copy of a model record with the calibration (and its report) under :data:`RECORD_KEY`.

    Parameters
    ----------
    record : dict
        The model record (:func:`idsd.artifact.read_record`); not modified.
    cal : Calibration
    report : dict or DataFrame, optional
        :func:`calibration_report` (or :func:`report_table`), stored as ``calibration.report``.

    Returns
    -------
    dict
        The updated record, for :func:`idsd.artifact.write_record`.
    """
    entry = cal.to_dict()
    if report is not None:
        entry["report"] = _jsonable(report.to_dict(orient="index") if isinstance(report, pd.DataFrame) else report)
    return {**record, RECORD_KEY: entry}


def from_record(record: dict | None, source: str = "<model record>") -> Calibration | None:
    """The calibration stored in a model record, or None when it has none.

    Raises
    ------
    idsd.errors.InputError
        The record's calibration is malformed (see :meth:`Calibration.from_dict`).
    """
    if not record or record.get(RECORD_KEY) is None:
        return None
    return Calibration.from_dict(record[RECORD_KEY], source)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    return obj


# --------------------------------------------------------------------------- before / after


def _column(ob: np.ndarray, os_: np.ndarray, lb: np.ndarray, ls: np.ndarray, to_p, threshold: float | None) -> dict:
    """Metrics of one column.

    ``ob``/``os_``: the scores whose order the EER, minDCF, minCllr and the threshold counts use
    (raw P(real) before, the LLRs after: P = sigmoid(llr) would tie LLRs beyond 37 in float64);
    ``lb``/``ls``: the LLRs of Cllr and actDCF; ``to_p`` maps a threshold of the order scores to
    P(real); ``threshold`` is on the order scores.
    """
    eer, eer_thr = metrics.compute_eer(ob, os_)
    row = {"cllr": metrics.cllr(lb, ls, llr=True), "min_cllr": metrics.min_cllr(ob, os_),
           "min_dcf": metrics.min_dcf(ob, os_), "act_dcf": metrics.act_dcf(lb, ls, llr=True),
           "eer": eer, "eer_threshold": float(to_p(eer_thr))}
    if threshold is not None:
        c = metrics.counts_at(ob, os_, threshold)
        norm = min(metrics.C_MISS * (1 - metrics.P_SPOOF), metrics.C_FA * metrics.P_SPOOF)
        row.update({"threshold": float(to_p(threshold)), "pmiss": c.pmiss, "pfa": c.pfa,
                    "dcf": (metrics.C_MISS * (1 - metrics.P_SPOOF) * c.pmiss
                            + metrics.C_FA * metrics.P_SPOOF * c.pfa) / norm})
    return row


def calibration_report(bona, spoof, cal: Calibration, threshold: float | None = None) -> dict:
    """Cllr, minCllr, minDCF, actDCF and EER before and after calibration.

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        Raw P(real) scores of labelled trials. On the dev trials the calibration was fitted on, the
        *after* column is in-sample; use held-out trials for an honest one.
    cal : Calibration
    threshold : float, optional
        A decision threshold on raw P(real) (e.g. the record's ``threshold``); when given, each
        column also has the miss / false-acceptance rates and the normalised DCF of deciding
        "real" when ``p > threshold`` (after: when ``cal.llr(p) > cal.llr(threshold)``, reported
        as the calibrated P(real) ``cal.apply(threshold)``; the same decisions when ``a > 0``).

    Returns
    -------
    dict
        ``n_bona``, ``n_spoof``, ``n_trials``, ``a``, ``b``, and ``before`` / ``after``: dicts with
        :data:`REPORT_METRICS` (``eer_threshold`` on raw / calibrated P(real)) and, with a threshold,
        ``threshold``, ``pmiss``, ``pfa``, ``dcf``. *Before* reads ``logit(p)`` as the LLR (the
        convention of :mod:`idsd.metrics`, as :func:`idsd.metrics.summarize`); *after* uses
        :meth:`Calibration.llr`. EER, minDCF and minCllr are the same in both columns when
        ``a > 0``, except where the calibration's clip ties raw scores within ``clip`` of 0 or 1.
        JSON-able.
    """
    b, s = metrics.check_scores(bona, spoof)
    b, s = _probabilities(b, "bona fide scores"), _probabilities(s, "spoof scores")
    before = _column(b, s, metrics.to_llr(b), metrics.to_llr(s), float, threshold)
    lb, ls = cal.llr(b), cal.llr(s)
    after = _column(lb, ls, lb, ls, expit, None if threshold is None else float(cal.llr(threshold)))
    return {"n_bona": int(b.size), "n_spoof": int(s.size), "n_trials": int(b.size + s.size),
            "a": float(cal.a), "b": float(cal.b), "before": before, "after": after}


def report_table(report: dict) -> pd.DataFrame:
    """:func:`calibration_report` as a table: rows ``before``, ``after``; one column per metric (+ ``n_trials``)."""
    df = pd.DataFrame([report["before"], report["after"]], index=pd.Index(["before", "after"], name="scores"))
    df["n_trials"] = report["n_trials"]
    return df


# --------------------------------------------------------------------------- operating points


_FAR_RE = re.compile(r"^far\s*=\s*(?P<v>[^%\s]+)\s*(?P<pct>%?)$")


def parse_operating_point(rule: str) -> tuple[str, float | None]:
    """``"eer"`` -> ``("eer", None)``; ``"far=0.01"`` or ``"far=1%"`` -> ``("far", 0.01)``.

    Case and surrounding spaces are ignored. Usable as an argparse ``type``.

    Raises
    ------
    idsd.errors.InputError
        (a ValueError) one line naming ``--operating-point`` and the accepted forms.
    """
    text = str(rule).strip().lower()
    if text == "eer":
        return "eer", None
    m = _FAR_RE.match(text)
    if not m:
        raise InputError("--operating-point", f"{rule!r} is not an operating point: use {OPERATING_POINT_HELP}")
    try:
        v = float(m["v"])
    except ValueError:
        raise InputError("--operating-point", f"{rule!r}: {m['v']!r} is not a number; use {OPERATING_POINT_HELP}") from None
    if m["pct"]:
        v /= 100
    if not math.isfinite(v) or not 0 <= v <= 1:
        raise InputError("--operating-point", f"{rule!r}: the false acceptance rate must be in [0, 1] "
                         f"(a fraction, far=0.01, or a percentage, far=1%)")
    return "far", v


def operating_point(bona, spoof, rule: str = "eer") -> tuple[float, str]:
    """A decision threshold picked on labelled (dev) scores: accept as real when ``score > threshold``.

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        Dev scores (raw P(real); calibrated P(real) gives the threshold in that space).
    rule : str
        ``"eer"``: the EER threshold of :func:`idsd.metrics.compute_eer`. ``"far=<rate>"``: the
        smallest threshold whose false acceptance rate (spoof trials with ``score > threshold``) is
        at most ``rate``. FAR falls at the spoof scores only, so that threshold is a spoof score
        (tied spoof scores fall together: a tie straddling the target is rejected whole) or, for
        ``rate = 1``, the accept-everything point ``min(score) - 0.001``.

    Returns
    -------
    threshold : float
    description : str
        One line, e.g. ``"far=0.01 on the dev set: threshold 0.9731 (dev FAR 0.98 %, FRR 3.10 %)"``.

    Raises
    ------
    idsd.errors.InputError
        A rule that does not parse (:func:`parse_operating_point`).
    ValueError
        An empty class or non-finite scores.
    """
    kind, target = parse_operating_point(rule)
    b, s = metrics.check_scores(bona, spoof)
    if kind == "eer":
        eer, thr = metrics.compute_eer(b, s)
        frr, far = float(np.mean(b <= thr)), float(np.mean(s > thr))
        return thr, (f"eer on the dev set: threshold {thr:.6g} (dev EER {eer:.2%}; FAR {far:.2%}, FRR {frr:.2%}; "
                     f"{b.size} real, {s.size} fake trials)")
    _, _, thresholds = metrics.compute_det_curve(b, s)
    # counts, not rates, so that far = k / n is compared exactly with the target
    allowed = math.floor(target * s.size + 1e-9)
    accepted = s.size - np.searchsorted(np.sort(s), thresholds, side="right")  # spoof with score > t
    i = int(np.flatnonzero(accepted <= allowed)[0])  # the last threshold accepts no spoof
    thr = float(thresholds[i])
    far, frr = accepted[i] / s.size, float(np.mean(b <= thr))
    note = f"; below the resolution 1/{s.size} of the dev set: no spoof accepted" if 0 < target * s.size < 1 else ""
    return thr, (f"far={target:g} on the dev set: threshold {thr:.6g} (dev FAR {far:.2%}, FRR {frr:.2%}; "
                 f"{b.size} real, {s.size} fake trials{note})")


# --------------------------------------------------------------------------- reliability diagram


def reliability_bins(bona, spoof, n_bins: int = 10) -> pd.DataFrame:
    """Binned predicted P(real) against the observed fraction of real trials, at prior 0.5.

    Trials are weighted ``1 / n_bona`` (real) and ``1 / n_spoof`` (fake), so the observed fraction
    is that of a balanced trial set, comparable with a P(real) meant for prior 0.5 whatever the
    class ratio: ``fraction_real = (k_bona / n_bona) / (k_bona / n_bona + k_spoof / n_spoof)``.

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        P(real) scores in [0, 1].
    n_bins : int
        Equal-width bins on [0, 1] (the last one closed).

    Returns
    -------
    DataFrame, one row per non-empty bin
        ``lo``, ``hi``, ``n`` (trials), ``n_bona``, ``n_spoof``, ``mean_predicted`` (the same
        weighted mean of the scores), ``fraction_real``.
    """
    b, s = metrics.check_scores(bona, spoof)
    b, s = _probabilities(b, "bona fide scores"), _probabilities(s, "spoof scores")
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins!r}")
    n_bins = int(n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    p = np.concatenate([b, s])
    w = np.concatenate([np.full(b.size, 1 / b.size), np.full(s.size, 1 / s.size)])
    real = np.concatenate([np.ones(b.size), np.zeros(s.size)])
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    n = np.bincount(idx, minlength=n_bins)
    nb = np.bincount(idx, weights=real, minlength=n_bins).astype(int)
    wsum = np.bincount(idx, weights=w, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(idx, weights=w * p, minlength=n_bins) / wsum
        frac = np.bincount(idx, weights=w * real, minlength=n_bins) / wsum
    keep = n > 0
    return pd.DataFrame({"lo": edges[:-1][keep], "hi": edges[1:][keep], "n": n[keep], "n_bona": nb[keep],
                         "n_spoof": (n - nb)[keep], "mean_predicted": mean[keep], "fraction_real": frac[keep]})


def plot_calibration(bona, spoof, cal: Calibration, ax=None, n_bins: int = 10):
    """Reliability diagram of raw and calibrated P(real) (:func:`reliability_bins`), with bin counts.

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        Raw P(real) of labelled trials.
    cal : Calibration
    ax : matplotlib Axes, optional
        Drawn into (the counts go on a twin axis); a new figure otherwise.
    n_bins : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from idsd.plots import set_style

    b, s = metrics.check_scores(bona, spoof)
    b, s = _probabilities(b, "bona fide scores"), _probabilities(s, "spoof scores")
    set_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 5.5))
    else:
        fig = ax.figure
    cb, cs = cal.apply(b), cal.apply(s)
    tables = {"raw": reliability_bins(b, s, n_bins), "calibrated": reliability_bins(cb, cs, n_bins)}
    cllrs = {"raw": metrics.cllr(b, s), "calibrated": metrics.cllr(cal.llr(b), cal.llr(s), llr=True)}
    counts = ax.twinx()
    width = 1.0 / n_bins
    for k, (name, colour) in enumerate((("raw", "tab:red"), ("calibrated", "tab:blue"))):
        t = tables[name]
        ax.plot(t["mean_predicted"], t["fraction_real"], marker="o", color=colour,
                label=f"{name} (Cllr {cllrs[name]:.3f})")
        counts.bar(t["lo"] + width * (0.25 + 0.5 * k), t["n"], width=width * 0.45, color=colour, alpha=0.18,
                   label=f"{name}: trials per bin")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    counts.set_yscale("log")
    counts.set_ylabel("trials per bin")
    counts.grid(False)
    ax.set_zorder(counts.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("mean predicted P(real)")
    ax.set_ylabel("observed fraction real (prior 0.5)")
    ax.set_title(f"Reliability: {b.size} real, {s.size} fake trials")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = counts.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
