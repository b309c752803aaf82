"""Detection metrics: EER, ROC AUC, accept/reject counts, minDCF/actDCF, Cllr, DET and ROC points.

Score convention
----------------
Every function takes **P(real)** scores: the detector's sigmoid output, higher = more bona fide
(the ASVspoof direction, and what upstream IDSD writes). ``bona`` are the scores of real (bona
fide, target = 1) trials, ``spoof`` those of fake (spoof, target = 0) trials. A trial is
*accepted as real* when ``score > threshold``, the rule of the ASVspoof ``compute_det_curve``
(a bona fide trial with ``score <= threshold`` is a miss / false rejection, a spoof trial with
``score > threshold`` is a false acceptance).

EER
---
:func:`compute_eer` is the ASVspoof ``compute_eer`` (``clovaai/aasist:evaluation.py``,
``asvspoof-challenge/2021`` and ``asvspoof5`` evaluation packages): sort all scores, take the miss / false-alarm rates at every score used as a threshold
(plus "accept everything" below the minimum), pick the index minimising ``|frr - far|`` and
return ``mean(frr, far)`` there with its threshold. It is identical to the reference code when
all scores are distinct (``tests/test_metrics.py`` keeps a verbatim copy to compare with). With
tied scores the reference code also keeps operating points *inside* a run of ties, which no
threshold can realise and which depend on the order of the trials (bona fide first), e.g. it
gives EER 1.0 when every score is the same; here tied scores are grouped, so only realisable
operating points are kept (constant scores give 0.5).

The paper took its EER from pyeer's ``geteerinf`` (FVC2000 definition: of the two operating
points around the FMR/FNMR crossing, the one with the lower FMR + FNMR). Both definitions use the
same operating points and pick one of the two points next to the crossing, so they differ by at
most half a step of the curve there: ``|EER_asvspoof - EER_pyeer| <= max(1/n_bona, 1/n_spoof) / 2``
when the scores are distinct (tested). :func:`pyeer_eer` reproduces pyeer's value.

DCF and Cllr
------------
ASVspoof 5 stand-alone CM costs (the ASVspoof 5 evaluation plan): ``Pspoof = 0.05, Cmiss = 1, Cfa = 10``;
``DCF = Cmiss (1 - Pspoof) Pmiss + Cfa Pspoof Pfa``, normalised by
``min(Cmiss (1 - Pspoof), Cfa Pspoof)`` (= 0.5), so a detector that always says "real" (or
always "fake", whichever is cheaper) scores 1. :func:`min_dcf` is invariant to monotone score
transforms. :func:`act_dcf` and :func:`cllr` need log-likelihood ratios: P(real) scores are
converted with ``llr = logit(p)`` (clipped at ``1e-15``), which is an LLR when the detector was
trained with balanced class weights (the paper's protocol, an effective prior of 0.5); pass
``llr=True`` for scores that already are LLRs. The actDCF threshold is the Bayes threshold
``-log(beta)``, ``beta = Cmiss (1 - Pspoof) / (Cfa Pspoof)``, i.e. accept as real when
P(real) > 0.3448 for the ASVspoof 5 costs (spoofs are rare, so misses cost more overall).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata

log = logging.getLogger(__name__)

P_SPOOF = 0.05
"""ASVspoof 5 prior of a spoof trial."""
C_MISS = 1.0
"""ASVspoof 5 cost of rejecting a bona fide trial."""
C_FA = 10.0
"""ASVspoof 5 cost of accepting a spoof trial."""

DEFAULT_THRESHOLD = 0.5
"""Upstream IDSD's fixed decision threshold on P(real)."""

LLR_EPS = 1e-15
"""Probabilities are clipped to ``[LLR_EPS, 1 - LLR_EPS]`` before ``logit``."""


# --------------------------------------------------------------------------- input checks


def check_scores(bona, spoof) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert two score sets to 1-D float64 arrays.

    Parameters
    ----------
    bona : array-like, shape (n_bona,)
        Scores of the bona fide (real) trials.
    spoof : array-like, shape (n_spoof,)
        Scores of the spoof (fake) trials.

    Returns
    -------
    bona, spoof : np.ndarray, shapes (n_bona,), (n_spoof,), float64

    Raises
    ------
    ValueError
        When a class has no trial (an EER needs both) or a score is NaN or infinite.
    """
    out = []
    for name, s in (("bona fide", bona), ("spoof", spoof)):
        a = np.asarray(s, dtype=np.float64).reshape(-1)
        if a.size == 0:
            raise ValueError(f"no {name} scores: every metric needs at least one real and one fake trial")
        bad = ~np.isfinite(a)
        if bad.any():
            raise ValueError(
                f"{int(bad.sum())} of {a.size} {name} scores are NaN or infinite "
                f"(first at index {int(np.flatnonzero(bad)[0])}); check the model's predictions"
            )
        out.append(a)
    return out[0], out[1]


def split_by_target(scores, target) -> tuple[np.ndarray, np.ndarray]:
    """Split scores by label.

    Parameters
    ----------
    scores : array-like, shape (n,)
        P(real) scores.
    target : array-like, shape (n,)
        1 = real (bona fide), 0 = fake (spoof).

    Returns
    -------
    bona, spoof : np.ndarray, shapes (n_bona,), (n_spoof,)
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    target = np.asarray(target).reshape(-1)
    if scores.shape != target.shape:
        raise ValueError(f"{scores.size} scores but {target.size} targets")
    bad = ~np.isin(target, (0, 1))
    if bad.any():
        raise ValueError(f"targets must be 1 (real) or 0 (fake); got {np.unique(target[bad])[:5]}")
    return scores[target == 1], scores[target == 0]


# --------------------------------------------------------------------------- DET / EER


def compute_det_curve(bona, spoof) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Miss and false-alarm rates at every realisable threshold (ASVspoof ``compute_det_curve``).

    Parameters
    ----------
    bona : array-like, shape (n_bona,)
        P(real) scores of the real trials.
    spoof : array-like, shape (n_spoof,)
        P(real) scores of the fake trials.

    Returns
    -------
    frr : np.ndarray, shape (k + 1,)
        Miss rate (bona fide with ``score <= threshold``), increasing from 0 to 1.
    far : np.ndarray, shape (k + 1,)
        False-alarm rate (spoof with ``score > threshold``), decreasing from 1 to 0.
    thresholds : np.ndarray, shape (k + 1,)
        ``min - 0.001`` ("accept everything"), then the ``k`` distinct sorted scores.
    """
    bona, spoof = check_scores(bona, spoof)
    scores = np.concatenate([bona, spoof])
    labels = np.concatenate([np.ones(bona.size), np.zeros(spoof.size)])
    order = np.argsort(scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    bona_below = np.cumsum(labels)  # bona fide with score <= scores[i]
    spoof_below = np.arange(1, scores.size + 1) - bona_below
    # keep the last index of every run of tied scores: only those thresholds are realisable
    last = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
    frr = np.r_[0.0, bona_below[last] / bona.size]
    far = np.r_[1.0, (spoof.size - spoof_below[last]) / spoof.size]
    thresholds = np.r_[scores[0] - 0.001, scores[last]]
    return frr, far, thresholds


def compute_eer(bona, spoof) -> tuple[float, float]:
    """Equal error rate, ASVspoof definition (see the module docstring).

    Parameters
    ----------
    bona : array-like, shape (n_bona,)
        P(real) scores of the real trials.
    spoof : array-like, shape (n_spoof,)
        P(real) scores of the fake trials.

    Returns
    -------
    eer : float
        In [0, 1] (a fraction: 0.0559 = 5.59 %, as in the paper's tables).
    threshold : float
        The threshold at the EER point: accept as real when ``score > threshold``.

    Raises
    ------
    ValueError
        Empty class, NaN or infinite scores.

    Examples
    --------
    >>> compute_eer([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])[0]
    0.0
    """
    frr, far, thr = compute_det_curve(bona, spoof)
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2), float(thr[i])


def pyeer_eer(bona, spoof) -> float:
    """EER as pyeer 0.5.6 ``get_eer_stats(...).eer`` computes it (FVC2000), without pyeer.

    Operating points at the distinct scores (accept when ``score >= t``); with ``t2`` the first
    point where FMR <= FNMR and ``t1`` the one before it (unless FMR == FNMR at ``t2``), the EER is
    the mean of FMR and FNMR at whichever of the two has the lower FMR + FNMR.

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        P(real) scores (pyeer's "genuine" and "impostor" scores).

    Returns
    -------
    float
        pyeer's EER (1.0 with a warning when the curves do not cross, as pyeer).
    """
    bona, spoof = check_scores(bona, spoof)
    thr = np.unique(np.concatenate([bona, spoof]))
    fnmr = np.searchsorted(np.sort(bona), thr, side="left") / bona.size  # genuine < t rejected
    fmr = (spoof.size - np.searchsorted(np.sort(spoof), thr, side="left")) / spoof.size
    diff = fmr - fnmr
    hits = np.flatnonzero(diff <= 0)
    if hits.size == 0:
        log.warning("FMR and FNMR do not cross (inverted scores?); pyeer returns 1.0")
        return 1.0
    t2 = int(hits[0])
    t1 = t2 - 1 if diff[t2] != 0 and t2 != 0 else t2
    t = t1 if fmr[t1] + fnmr[t1] <= fmr[t2] + fnmr[t2] else t2
    return float((fmr[t] + fnmr[t]) / 2)


def det_curve(bona, spoof) -> dict[str, np.ndarray]:
    """DET curve points, with probit (normal deviate) coordinates for plotting.

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        P(real) scores.

    Returns
    -------
    dict
        ``pfa``, ``pmiss``, ``threshold`` (each shape (k + 1,)) and ``probit_pfa``,
        ``probit_pmiss`` (``scipy.stats.norm.ppf`` of the rates, clipped to
        ``[0.5 / n, 1 - 0.5 / n]`` of the class size so that 0 and 1 stay finite).
    """
    b, s = check_scores(bona, spoof)
    frr, far, thr = compute_det_curve(b, s)
    return {
        "pfa": far,
        "pmiss": frr,
        "threshold": thr,
        "probit_pfa": probit(far, s.size),
        "probit_pmiss": probit(frr, b.size),
    }


def probit(p, n: int | None = None) -> np.ndarray:
    """Normal deviate of a rate, finite at 0 and 1.

    Parameters
    ----------
    p : array-like, shape (k,)
        Rates in [0, 1].
    n : int, optional
        Trials behind the rate; clipping is to half a trial (``0.5 / n``), else to ``1e-6``.

    Returns
    -------
    np.ndarray, shape (k,)
    """
    eps = 0.5 / n if n else 1e-6
    return norm.ppf(np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps))


def roc_points(bona, spoof) -> dict[str, np.ndarray]:
    """ROC curve points (false-positive rate = spoof accepted, true-positive rate = real accepted).

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)

    Returns
    -------
    dict
        ``fpr``, ``tpr``, ``threshold`` (shape (k + 1,)): :func:`compute_det_curve` reversed
        (``tpr = 1 - frr``, ``fpr = far``), from "reject everything" (0, 0) to "accept
        everything" (1, 1); accept as real when ``score > threshold``. The same points as
        ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.
    """
    frr, far, thr = compute_det_curve(bona, spoof)
    return {"fpr": far[::-1].copy(), "tpr": (1 - frr)[::-1], "threshold": thr[::-1].copy()}


def roc_auc(bona, spoof) -> float:
    """Area under the ROC curve: P(score of a real trial > score of a fake trial), ties count 1/2.

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)

    Returns
    -------
    float
        In [0, 1]; 0.5 = chance, 1 = perfect separation (the Mann-Whitney U statistic / n_b n_s).
    """
    b, s = check_scores(bona, spoof)
    ranks = rankdata(np.concatenate([b, s]))  # average ranks for ties
    u = ranks[: b.size].sum() - b.size * (b.size + 1) / 2
    return float(u / (b.size * s.size))


# --------------------------------------------------------------------------- fixed threshold


@dataclass(frozen=True)
class Counts:
    """Upstream ``eval_model.py`` accept/reject counts at one threshold (accept = ``score > t``).

    Attributes
    ----------
    genuine_accept, genuine_reject, deepfake_reject, deepfake_accept : int
    threshold : float
    """

    genuine_accept: int
    genuine_reject: int
    deepfake_reject: int
    deepfake_accept: int
    threshold: float

    @property
    def n(self) -> int:
        return self.genuine_accept + self.genuine_reject + self.deepfake_reject + self.deepfake_accept

    @property
    def accuracy(self) -> float:
        """Fraction of trials decided correctly."""
        return (self.genuine_accept + self.deepfake_reject) / self.n

    @property
    def balanced_accuracy(self) -> float:
        """Mean of the per-class accuracies (robust to the class imbalance of ASVspoof)."""
        gen = self.genuine_accept / max(1, self.genuine_accept + self.genuine_reject)
        fake = self.deepfake_reject / max(1, self.deepfake_reject + self.deepfake_accept)
        return (gen + fake) / 2

    @property
    def pmiss(self) -> float:
        """Real trials rejected / real trials."""
        return self.genuine_reject / max(1, self.genuine_accept + self.genuine_reject)

    @property
    def pfa(self) -> float:
        """Fake trials accepted / fake trials."""
        return self.deepfake_accept / max(1, self.deepfake_reject + self.deepfake_accept)

    def as_dict(self) -> dict[str, float]:
        return {
            "threshold": self.threshold, "genuine_accept": self.genuine_accept,
            "genuine_reject": self.genuine_reject, "deepfake_reject": self.deepfake_reject,
            "deepfake_accept": self.deepfake_accept, "accuracy": self.accuracy,
            "balanced_accuracy": self.balanced_accuracy,
        }


def counts_at(bona, spoof, threshold: float = DEFAULT_THRESHOLD) -> Counts:
    """Accept/reject counts at ``threshold`` (upstream: 0.5).

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        P(real) scores.
    threshold : float
        Accept as real when ``score > threshold``. Upstream counted genuine accepts as
        ``> 0.5`` and deepfake rejects as ``< 0.5``; a score of exactly 0.5 is a reject here.

    Returns
    -------
    Counts
    """
    b, s = check_scores(bona, spoof)
    ga = int((b > threshold).sum())
    da = int((s > threshold).sum())
    return Counts(ga, b.size - ga, s.size - da, da, float(threshold))


def accuracy(bona, spoof, threshold: float = DEFAULT_THRESHOLD) -> float:
    """Fraction of correct decisions at ``threshold`` (accept as real when ``score > threshold``)."""
    return counts_at(bona, spoof, threshold).accuracy


# --------------------------------------------------------------------------- DCF / Cllr


def to_llr(p) -> np.ndarray:
    """``logit(p)`` of P(real) scores, clipped at :data:`LLR_EPS`; shape preserved."""
    p = np.clip(np.asarray(p, dtype=np.float64), LLR_EPS, 1 - LLR_EPS)
    return np.log(p) - np.log1p(-p)


def _dcf_norm(p_spoof: float, c_miss: float, c_fa: float) -> float:
    return min(c_miss * (1 - p_spoof), c_fa * p_spoof)


def min_dcf(bona, spoof, p_spoof: float = P_SPOOF, c_miss: float = C_MISS, c_fa: float = C_FA) -> float:
    """Normalised minimum detection cost (ASVspoof 5 ``compute_mindcf``).

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        Scores (any monotone scale; the result does not depend on it).
    p_spoof, c_miss, c_fa : float
        Cost model; ASVspoof 5 defaults.

    Returns
    -------
    float
        ``min_t [Cmiss (1-Pspoof) Pmiss(t) + Cfa Pspoof Pfa(t)] / min(Cmiss (1-Pspoof), Cfa Pspoof)``,
        in [0, 1].
    """
    frr, far, _ = compute_det_curve(bona, spoof)
    dcf = c_miss * (1 - p_spoof) * frr + c_fa * p_spoof * far
    # "reject everything" is also a decision (Pmiss 1, Pfa 0); compute_det_curve's last point is it
    return float(dcf.min() / _dcf_norm(p_spoof, c_miss, c_fa))


def act_dcf(bona, spoof, p_spoof: float = P_SPOOF, c_miss: float = C_MISS, c_fa: float = C_FA,
            llr: bool = False) -> float:
    """Normalised actual detection cost at the Bayes threshold (ASVspoof 5 ``compute_actDCF``).

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        P(real) scores (converted with :func:`to_llr`), or LLRs with ``llr=True``.
    p_spoof, c_miss, c_fa : float
        Cost model; ASVspoof 5 defaults.
    llr : bool
        The scores already are log-likelihood ratios.

    Returns
    -------
    float
        ``[Cmiss (1-Pspoof) P(llr_bona < tau) + Cfa Pspoof P(llr_spoof >= tau)] / norm`` with
        ``tau = -log(Cmiss (1-Pspoof) / (Cfa Pspoof))``. Can exceed 1 for miscalibrated scores.
    """
    b, s = check_scores(bona, spoof)
    if not llr:
        b, s = to_llr(b), to_llr(s)
    tau = -np.log(c_miss * (1 - p_spoof) / (c_fa * p_spoof))
    cost = c_miss * (1 - p_spoof) * np.mean(b < tau) + c_fa * p_spoof * np.mean(s >= tau)
    return float(cost / _dcf_norm(p_spoof, c_miss, c_fa))


def cllr(bona, spoof, llr: bool = False) -> float:
    """Log-likelihood-ratio cost in bits (ASVspoof 5 secondary metric).

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        P(real) scores (converted with :func:`to_llr`), or LLRs with ``llr=True``.
    llr : bool
        The scores already are log-likelihood ratios.

    Returns
    -------
    float
        ``0.5 (mean log2(1 + e^-llr_bona) + mean log2(1 + e^llr_spoof))``: 0 for perfect confident
        scores, 1 for the uninformative p = 0.5, above 1 when miscalibrated.
    """
    b, s = check_scores(bona, spoof)
    if not llr:
        b, s = to_llr(b), to_llr(s)
    ln2 = np.log(2)
    return float(0.5 * (np.mean(np.logaddexp(0, -b)) + np.mean(np.logaddexp(0, s))) / ln2)


# --------------------------------------------------------------------------- summary


def summarize(bona, spoof, threshold: float = DEFAULT_THRESHOLD,
              dev_threshold: float | None = None) -> dict[str, float]:
    """Every metric of one score set in a flat dict (a row of a results table).

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        P(real) scores.
    threshold : float
        Fixed decision threshold (upstream 0.5) for the accept/reject counts.
    dev_threshold : float, optional
        A threshold chosen on the development split (its EER threshold); when given, the
        accuracy and the miss / false-alarm rates at it are added with a ``dev_`` prefix.

    Returns
    -------
    dict
        ``n_bona, n_spoof, eer, eer_threshold, pyeer_eer, auc, min_dcf, act_dcf, cllr`` and the
        counts at ``threshold`` (``genuine_accept``... ``accuracy``, ``balanced_accuracy``).
    """
    b, s = check_scores(bona, spoof)
    eer, thr = compute_eer(b, s)
    row: dict[str, float] = {
        "n_bona": int(b.size), "n_spoof": int(s.size), "eer": eer, "eer_threshold": thr,
        "pyeer_eer": pyeer_eer(b, s), "auc": roc_auc(b, s), "min_dcf": min_dcf(b, s),
        "act_dcf": act_dcf(b, s), "cllr": cllr(b, s),
    }
    row.update(counts_at(b, s, threshold).as_dict())
    if dev_threshold is not None:
        c = counts_at(b, s, dev_threshold)
        row.update({"dev_threshold": float(dev_threshold), "dev_accuracy": c.accuracy,
                    "dev_balanced_accuracy": c.balanced_accuracy, "dev_pmiss": c.pmiss,
                    "dev_pfa": c.pfa})
    return row


# --------------------------------------------------------------------------- minCllr (PAV)


def pav_llr(bona, spoof, clamp: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The optimal monotone (PAV) calibration of the scores, as log-likelihood ratios.

    The pool-adjacent-violators algorithm (``sklearn.isotonic.IsotonicRegression``, increasing,
    ``out_of_bounds="clip"``) fits the non-decreasing posterior P(real | score) of the pooled trials
    (tied scores are pooled first, so they get one value); the posterior's prior, the class ratio of
    the data ``pi = n_bona / (n_bona + n_spoof)``, is removed:
    ``llr = logit(p_pav) - logit(pi)``. This map is the monotone calibration of least Cllr (and of
    least cost for every prior at once: its blocks are the segments of the ROC convex hull), the
    BOSARIS ``opt_loglr`` without the Laplace pseudo-counts.

    Infinite LLRs: a PAV block of bona fide trials only has posterior 1 (LLR ``+inf``) and one of
    spoof trials only posterior 0 (``-inf``). Only the top block can be pure bona fide and only the
    bottom block pure spoof, so an infinity is always on the *correct* side: ``+inf`` is given to
    bona fide trials only, ``-inf`` to spoof trials only, where its Cllr cost is exactly 0
    (BOSARIS keeps them and lets ``neglogsigmoid`` give 0; :func:`min_cllr` does the same).

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        Scores on any monotone scale (higher = more bona fide); the result depends only on their order.
    clamp : float, optional
        Replace ``+-inf`` by ``+-clamp`` (e.g. for plotting or JSON); the finite LLRs are left alone
        (a finite PAV LLR is at most ``log(max(n_bona, n_spoof))`` in magnitude). Default: keep ``+-inf``.

    Returns
    -------
    llr_bona, llr_spoof : np.ndarray, shapes (n_bona,), (n_spoof,)
        Natural-log LLRs, non-decreasing in the scores, equal for equal scores.
    """
    from sklearn.isotonic import IsotonicRegression

    b, s = check_scores(bona, spoof)
    x = np.concatenate([b, s])
    y = np.concatenate([np.ones(b.size), np.zeros(s.size)])
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    p = np.clip(iso.fit(x, y).predict(x), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        llr = np.log(p) - np.log1p(-p) - (np.log(b.size) - np.log(s.size))
    if clamp is not None:
        llr = np.clip(llr, -abs(clamp), abs(clamp))
    return llr[: b.size], llr[b.size:]


def min_cllr(bona, spoof) -> float:
    """Minimum Cllr in bits: the Cllr after the optimal monotone (PAV) calibration.

    ``Cllr - minCllr`` is the calibration loss of the scores; ``minCllr`` measures discrimination
    alone, like the EER and minDCF, and like them it is invariant to any strictly increasing
    transform of the scores.

    Parameters
    ----------
    bona, spoof : array-like, shapes (n_bona,), (n_spoof,)
        Scores on any monotone scale (P(real), logits, LLRs: the same result).

    Returns
    -------
    float
        In [0, 1]: 0 when the classes are perfectly separated, close to 1 (slightly below: PAV is
        fitted on the very trials it is scored on) for uninformative scores; never above the
        :func:`cllr` of any monotone calibration of the same scores (the identity included).

    Notes
    -----
    The PAV LLRs (:func:`pav_llr`) may be ``+-inf``, but only on the correct side (``+inf`` for
    bona fide trials of a top block with no spoof, ``-inf`` for spoof trials of a bottom block with
    no bona fide); their cost ``log(1 + e^-inf)`` is exactly 0, the limit of clamping them at
    ``+-L`` as ``L -> inf``. Keeping that limit (rather than a finite clamp, which would add a
    tiny positive cost) keeps minCllr finite and a true lower bound of every monotone calibration.
    """
    lb, ls = pav_llr(bona, spoof)
    cost_b = np.logaddexp(0.0, -lb)  # +inf -> 0; -inf cannot occur for bona fide trials
    cost_s = np.logaddexp(0.0, ls)   # -inf -> 0; +inf cannot occur for spoof trials
    value = 0.5 * (np.mean(cost_b) + np.mean(cost_s)) / np.log(2)
    if not np.isfinite(value):  # pragma: no cover - PAV puts infinities on the correct side only
        raise ArithmeticError("minCllr is not finite: PAV gave an LLR of the wrong sign")
    return float(value)
