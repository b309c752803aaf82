"""idsd.metrics against the ASVspoof reference code, scikit-learn and pyeer, plus edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from idsd import metrics as M


def asvspoof_compute_eer(target_scores, nontarget_scores):
    """Verbatim ``compute_det_curve`` + ``compute_eer`` of clovaai/aasist:evaluation.py."""
    n_scores = target_scores.size + nontarget_scores.size
    all_scores = np.concatenate((target_scores, nontarget_scores))
    labels = np.concatenate((np.ones(target_scores.size), np.zeros(nontarget_scores.size)))
    indices = np.argsort(all_scores, kind="mergesort")
    labels = labels[indices]
    tar_trial_sums = np.cumsum(labels)
    nontarget_trial_sums = nontarget_scores.size - (np.arange(1, n_scores + 1) - tar_trial_sums)
    frr = np.concatenate((np.atleast_1d(0), tar_trial_sums / target_scores.size))
    far = np.concatenate((np.atleast_1d(1), nontarget_trial_sums / nontarget_scores.size))
    thresholds = np.concatenate((np.atleast_1d(all_scores[indices[0]] - 0.001), all_scores[indices]))
    abs_diffs = np.abs(frr - far)
    min_index = np.argmin(abs_diffs)
    eer = np.mean((frr[min_index], far[min_index]))
    return eer, thresholds[min_index]


def pyeer_reference(bona, spoof) -> float:
    """pyeer 0.5.6's EER: the two calls its ``get_eer_stats`` makes.

    (``pyeer.eer_info`` itself imports ``pkg_resources``, gone from setuptools >= 81, so the
    ``geteerinf`` CLI does not import in this environment; ``eer_stats`` holds the computation.)
    """
    from pyeer.eer_stats import calculate_roc, get_eer_values

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, fmr, fnmr = calculate_roc(np.asarray(bona, float), np.asarray(spoof, float))
        return float(get_eer_values(fmr, fnmr)[3])


def sample(rng, n_bona, n_spoof, shift=1.0):
    return rng.normal(shift, 1.0, n_bona), rng.normal(0.0, 1.0, n_spoof)


@pytest.mark.parametrize("seed", range(20))
def test_eer_equals_asvspoof_reference_on_distinct_scores(seed):
    rng = np.random.default_rng(seed)
    nb, ns = rng.integers(1, 200, 2)
    b, s = sample(rng, nb, ns, shift=rng.uniform(-1, 3))
    eer, thr = M.compute_eer(b, s)
    ref_eer, ref_thr = asvspoof_compute_eer(b, s)
    assert eer == pytest.approx(ref_eer, abs=1e-12)
    assert thr == pytest.approx(ref_thr, abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_eer_matches_sklearn_roc(seed):
    """Same operating points as sklearn's roc_curve; the same argmin rule gives the same EER."""
    rng = np.random.default_rng(100 + seed)
    b, s = sample(rng, *rng.integers(2, 300, 2))
    if seed % 2:  # with ties too
        b, s = np.round(b, 1), np.round(s, 1)
    y = np.r_[np.ones(b.size), np.zeros(s.size)]
    fpr, tpr, _ = roc_curve(y, np.r_[b, s], drop_intermediate=False)
    fnr = 1 - tpr
    i = np.argmin(np.abs(fnr - fpr))
    # sklearn's first point is "reject everything" (fnr 1, fpr 0); ours is accept-everything
    # first; argmin ties then go to opposite ends, so compare the minimal |fnr - fpr| and the set
    ours = M.compute_det_curve(b, s)
    assert sorted(zip(np.round(fpr, 12), np.round(fnr, 12))) == sorted(
        zip(np.round(ours[1], 12), np.round(ours[0], 12)))
    eer, _ = M.compute_eer(b, s)
    gap = np.min(np.abs(fnr - fpr))
    candidates = (fnr + fpr)[np.isclose(np.abs(fnr - fpr), gap)] / 2
    assert np.any(np.isclose(candidates, eer))
    assert abs(eer - (fnr[i] + fpr[i]) / 2) <= gap + 1e-12


def test_eer_on_a_large_set_agrees_with_sklearn_interpolated_crossing():
    rng = np.random.default_rng(7)
    b, s = sample(rng, 4000, 6000, shift=1.5)
    y = np.r_[np.ones(b.size), np.zeros(s.size)]
    fpr, tpr, _ = roc_curve(y, np.r_[b, s])
    fnr = 1 - tpr
    # linear interpolation of the crossing of fpr and fnr
    d = fpr - fnr
    k = np.flatnonzero(d <= 0)[-1]
    t = d[k] / (d[k] - d[k + 1])
    interp = fpr[k] + t * (fpr[k + 1] - fpr[k])
    assert M.compute_eer(b, s)[0] == pytest.approx(interp, abs=1e-3)
    # the analytic EER of two unit Gaussians 1.5 apart is Phi(-0.75) = 0.2266
    assert M.compute_eer(b, s)[0] == pytest.approx(0.2266, abs=0.015)


@pytest.mark.parametrize("seed", range(30))
def test_pyeer_definition_and_tolerance(seed):
    """pyeer_eer reproduces pyeer exactly; ASVspoof EER is within half a curve step of it."""
    rng = np.random.default_rng(200 + seed)
    nb, ns = rng.integers(1, 80, 2)
    b, s = sample(rng, nb, ns, shift=rng.uniform(0, 2))
    ref = pyeer_reference(b, s)
    assert M.pyeer_eer(b, s) == pytest.approx(ref, abs=1e-12)
    assert abs(M.compute_eer(b, s)[0] - ref) <= 0.5 * max(1 / nb, 1 / ns) + 1e-12
    bt, st = np.round(b, 1), np.round(s, 1)  # ties: still pyeer's number exactly
    assert M.pyeer_eer(bt, st) == pytest.approx(pyeer_reference(bt, st), abs=1e-12)


def test_pyeer_and_asvspoof_can_differ_by_half_a_step():
    """A documented case where the two definitions pick different points."""
    b, s = np.array([0.2, 0.6, 0.9]), np.array([0.1, 0.5, 0.7, 0.8])
    asv, pe = M.compute_eer(b, s)[0], M.pyeer_eer(b, s)
    assert pe == pytest.approx(pyeer_reference(b, s))
    assert abs(asv - pe) <= 0.5 * max(1 / 3, 1 / 4) + 1e-12


def test_perfect_separation_gives_zero():
    b, s = [0.9, 0.95, 0.99, 0.6], [0.1, 0.2, 0.59]
    eer, thr = M.compute_eer(b, s)
    assert eer == 0.0
    assert 0.59 <= thr < 0.6  # accept when score > thr separates the classes
    assert M.pyeer_eer(b, s) == 0.0
    assert M.roc_auc(b, s) == 1.0
    assert M.min_dcf(b, s) == 0.0


def test_inverted_scores_give_one():
    eer, _ = M.compute_eer([0.1, 0.2], [0.8, 0.9])
    assert eer == 1.0
    assert M.roc_auc([0.1, 0.2], [0.8, 0.9]) == 0.0


def test_identical_distributions_near_half():
    rng = np.random.default_rng(3)
    x = rng.random(20000)
    eer, _ = M.compute_eer(x[:10000], x[10000:])
    assert eer == pytest.approx(0.5, abs=0.02)
    assert M.roc_auc(x[:10000], x[10000:]) == pytest.approx(0.5, abs=0.02)


def test_constant_scores_are_half_not_one():
    """Ties: the verbatim ASVspoof code says 1.0 here (order-dependent); grouped ties say 0.5."""
    b, s = np.full(5, 0.5), np.full(7, 0.5)
    assert asvspoof_compute_eer(b, s)[0] == 1.0
    assert M.compute_eer(b, s)[0] == 0.5
    assert M.roc_auc(b, s) == 0.5
    assert M.pyeer_eer(b, s) == pytest.approx(pyeer_reference(b, s))


def test_ties_across_classes_do_not_depend_on_order():
    b = np.array([0.3, 0.7, 0.7, 0.9])
    s = np.array([0.1, 0.7, 0.7, 0.2])
    e1 = M.compute_eer(b, s)
    e2 = M.compute_eer(b[::-1], s[::-1])
    assert e1 == e2
    frr, far, thr = M.compute_det_curve(b, s)
    assert np.all(np.diff(thr) > 0)  # one point per distinct score
    assert np.all(np.diff(frr) >= 0) and np.all(np.diff(far) <= 0)


def test_tiny_sets_one_each():
    assert M.compute_eer([0.8], [0.2])[0] == 0.0
    assert M.compute_eer([0.2], [0.8])[0] == 1.0
    assert M.compute_eer([0.5], [0.5])[0] == 0.5
    s = M.summarize([0.8], [0.2])
    assert s["accuracy"] == 1.0 and s["n_bona"] == 1 and s["n_spoof"] == 1


@pytest.mark.parametrize("bona,spoof", [([], [0.1]), ([0.1], []), ([], [])])
def test_empty_class_raises(bona, spoof):
    with pytest.raises(ValueError, match="no (bona fide|spoof) scores"):
        M.compute_eer(bona, spoof)
    with pytest.raises(ValueError):
        M.summarize(bona, spoof)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_scores_raise(bad):
    with pytest.raises(ValueError, match="NaN or infinite"):
        M.compute_eer([0.1, bad], [0.2])
    with pytest.raises(ValueError, match="spoof scores are NaN"):
        M.roc_auc([0.1], [0.2, bad])


def test_monotone_transform_invariance():
    rng = np.random.default_rng(11)
    b, s = rng.beta(5, 2, 300), rng.beta(2, 5, 400)
    eer = M.compute_eer(b, s)[0]
    for f in (lambda x: 3 * x + 1, np.log, lambda x: x ** 3, M.to_llr):
        assert M.compute_eer(f(b), f(s))[0] == pytest.approx(eer, abs=1e-12)
        assert M.roc_auc(f(b), f(s)) == pytest.approx(M.roc_auc(b, s), abs=1e-12)
        assert M.min_dcf(f(b), f(s)) == pytest.approx(M.min_dcf(b, s), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_sklearn(seed):
    rng = np.random.default_rng(300 + seed)
    b, s = np.round(rng.normal(0.5, 1, 150), 1), np.round(rng.normal(0, 1, 90), 1)
    y = np.r_[np.ones(b.size), np.zeros(s.size)]
    assert M.roc_auc(b, s) == pytest.approx(roc_auc_score(y, np.r_[b, s]), abs=1e-12)


def test_roc_points_match_sklearn():
    rng = np.random.default_rng(5)
    b, s = np.round(rng.random(50), 2), np.round(rng.random(40) * 0.8, 2)
    y = np.r_[np.ones(b.size), np.zeros(s.size)]
    fpr, tpr, _ = roc_curve(y, np.r_[b, s], drop_intermediate=False)
    ours = M.roc_points(b, s)
    np.testing.assert_allclose(ours["fpr"], fpr, atol=1e-12)
    np.testing.assert_allclose(ours["tpr"], tpr, atol=1e-12)
    # trapezoid area of our ROC equals the Mann-Whitney AUC
    assert np.trapezoid(ours["tpr"], ours["fpr"]) == pytest.approx(M.roc_auc(b, s), abs=1e-12)


def test_counts_at_threshold_upstream_convention():
    c = M.counts_at([0.9, 0.5, 0.4, 0.8], [0.1, 0.5, 0.7])
    assert (c.genuine_accept, c.genuine_reject, c.deepfake_reject, c.deepfake_accept) == (2, 2, 2, 1)
    assert c.accuracy == pytest.approx(4 / 7)
    assert c.balanced_accuracy == pytest.approx((2 / 4 + 2 / 3) / 2)
    assert c.pmiss == 0.5 and c.pfa == pytest.approx(1 / 3)
    assert M.accuracy([0.9], [0.1], threshold=0.95) == 0.5


def test_min_dcf_against_brute_force_and_bounds():
    rng = np.random.default_rng(9)
    b, s = rng.normal(1, 1, 120), rng.normal(0, 1, 80)
    best = np.inf
    for t in np.r_[-np.inf, np.unique(np.r_[b, s])]:
        pmiss, pfa = np.mean(b <= t), np.mean(s > t)
        best = min(best, 0.95 * pmiss + 0.5 * pfa)
    assert M.min_dcf(b, s) == pytest.approx(best / 0.5)
    assert 0 <= M.min_dcf(b, s) <= 1
    # uninformative scores cost the default decision: min(0.95, 0.5) / 0.5 = 1
    assert M.min_dcf(np.full(10, 0.3), np.full(10, 0.3)) == pytest.approx(1.0)


def test_act_dcf_bayes_threshold():
    # tau = -log(0.95 / 0.5) = -0.642 (P(real) 0.3448): a bona fide at p=0.3 is a miss,
    # a spoof at p=0.4 a false alarm
    assert M.act_dcf([0.9, 0.3], [0.1, 0.2]) == pytest.approx(0.95 * 0.5 / 0.5)
    assert M.act_dcf([0.9, 0.8], [0.1, 0.4]) == pytest.approx(0.5 * 0.5 / 0.5)
    assert M.act_dcf([0.9], [0.1]) == 0.0
    llr = np.array([-0.6, 2.0])
    assert M.act_dcf(llr, [-3.0], llr=True) == 0.0
    assert M.act_dcf(llr, [-0.7], llr=True) == pytest.approx(0.95 * 0 / 0.5 + 0.0)


def test_cllr_values():
    assert M.cllr([0.5, 0.5], [0.5]) == pytest.approx(1.0)
    assert M.cllr([1 - 1e-12], [1e-12]) == pytest.approx(0.0, abs=1e-9)
    # worse than uninformative when confidently wrong
    assert M.cllr([0.01], [0.99]) > 1
    # closed form for llr inputs
    b, s = np.array([1.0, 2.0]), np.array([-1.0, 0.5])
    ref = 0.5 * (np.mean(np.log2(1 + np.exp(-b))) + np.mean(np.log2(1 + np.exp(s))))
    assert M.cllr(b, s, llr=True) == pytest.approx(ref)
    # saturated probabilities stay finite
    assert np.isfinite(M.cllr([1.0], [1.0]))


def test_det_curve_probit_finite_and_monotone():
    rng = np.random.default_rng(1)
    d = M.det_curve(rng.normal(1, 1, 100), rng.normal(0, 1, 50))
    assert np.all(np.isfinite(d["probit_pfa"])) and np.all(np.isfinite(d["probit_pmiss"]))
    assert np.all(np.diff(d["probit_pmiss"]) >= 0) and np.all(np.diff(d["probit_pfa"]) <= 0)
    assert d["pmiss"][0] == 0 and d["pfa"][0] == 1 and d["pmiss"][-1] == 1 and d["pfa"][-1] == 0


def test_split_by_target_and_summary_dev_threshold():
    scores = np.array([0.9, 0.2, 0.7, 0.4])
    b, s = M.split_by_target(scores, [1, 0, 1, 0])
    assert list(b) == [0.9, 0.7] and list(s) == [0.2, 0.4]
    with pytest.raises(ValueError, match="targets"):
        M.split_by_target(scores, [1, 0, 2, 0])
    row = M.summarize(b, s, dev_threshold=0.8)
    assert row["dev_accuracy"] == 0.75 and row["dev_pmiss"] == 0.5 and row["dev_pfa"] == 0.0


# --------------------------------------------------------------------------- minCllr (PAV)


def reference_min_cllr(bona, spoof) -> float:
    """A plain pool-adjacent-violators minCllr (tied scores pooled first), no scikit-learn."""
    b, s = np.asarray(bona, float), np.asarray(spoof, float)
    x, y = np.r_[b, s], np.r_[np.ones(b.size), np.zeros(s.size)]
    levels, inv = np.unique(x, return_inverse=True)
    blocks = []  # [sum of labels, trials, score levels]
    for k, n in zip(np.bincount(inv, weights=y), np.bincount(inv).astype(float)):
        blocks.append([k, n, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            k2, n2, m2 = blocks.pop()
            blocks[-1] = [blocks[-1][0] + k2, blocks[-1][1] + n2, blocks[-1][2] + m2]
    p = np.repeat([bk[0] / bk[1] for bk in blocks], [bk[2] for bk in blocks])[inv]
    with np.errstate(divide="ignore"):
        llr = np.log(p) - np.log1p(-p) - np.log(b.size / s.size)
    return float(0.5 * (np.mean(np.logaddexp(0, -llr[: b.size])) + np.mean(np.logaddexp(0, llr[b.size:])))
                 / np.log(2))


@pytest.mark.parametrize("seed", range(8))
def test_min_cllr_matches_a_reference_pav(seed):
    rng = np.random.default_rng(400 + seed)
    b, s = sample(rng, *rng.integers(1, 150, 2), shift=rng.uniform(-1, 3))
    if seed % 2:  # ties, across classes too
        b, s = np.round(b, 1), np.round(s, 1)
    assert M.min_cllr(b, s) == pytest.approx(reference_min_cllr(b, s), abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_min_cllr_is_below_cllr_of_calibrated_and_miscalibrated_scores(seed):
    rng = np.random.default_rng(500 + seed)
    mu = rng.uniform(0.5, 3)
    lb, ls = rng.normal(mu, np.sqrt(2 * mu), 300), rng.normal(-mu, np.sqrt(2 * mu), 500)  # calibrated LLRs
    mc = M.min_cllr(lb, ls)
    assert mc <= M.cllr(lb, ls, llr=True) + 1e-12
    for a, c in ((3, 2), (0.3, -1), (1, 4), (10, 0), (0.01, 0)):  # miscalibrated affine maps
        assert mc <= M.cllr(a * lb + c, a * ls + c, llr=True) + 1e-12
    p = 1 / (1 + np.exp(-(3 * lb + 2)))
    q = 1 / (1 + np.exp(-(3 * ls + 2)))
    assert M.min_cllr(p, q) == pytest.approx(mc, abs=1e-9)
    assert M.min_cllr(p, q) <= M.cllr(p, q)
    # and below a monotone but non-affine map as well
    assert mc <= M.cllr(np.tanh(lb) * 3, np.tanh(ls) * 3, llr=True) + 1e-12


def test_min_cllr_perfect_separation_is_zero_and_finite():
    b, s = [0.9, 0.95, 0.99, 0.6], [0.1, 0.2, 0.59]
    assert M.min_cllr(b, s) == 0.0
    lb, ls = M.pav_llr(b, s)
    assert np.all(lb == np.inf) and np.all(ls == -np.inf)
    cb, cs = M.pav_llr(b, s, clamp=30)
    assert np.all(cb == 30) and np.all(cs == -30)
    # one overlapping pair: finite, positive, infinities still only on the correct side
    b2, s2 = [0.9, 0.95, 0.5], [0.1, 0.6, 0.2]
    lb2, ls2 = M.pav_llr(b2, s2)
    assert not np.any(lb2 == -np.inf) and not np.any(ls2 == np.inf)
    assert 0 < M.min_cllr(b2, s2) < 1


def test_min_cllr_random_scores_near_one():
    rng = np.random.default_rng(12)
    x = rng.random(40000)
    mc = M.min_cllr(x[:20000], x[20000:])
    assert mc <= 1.0
    assert mc == pytest.approx(1.0, abs=0.01)
    # unbalanced classes: the data's prior is removed, still ~1
    assert M.min_cllr(x[:4000], x[4000:]) == pytest.approx(1.0, abs=0.01)
    assert M.min_cllr(np.full(5, 0.3), np.full(9, 0.3)) == pytest.approx(1.0, abs=1e-12)  # one block


def test_min_cllr_monotone_invariance_and_ties():
    rng = np.random.default_rng(13)
    b, s = rng.beta(5, 2, 300), rng.beta(2, 5, 400)
    ref = M.min_cllr(b, s)
    for f in (lambda x: 3 * x + 1, np.log, np.exp, M.to_llr):
        assert M.min_cllr(f(b), f(s)) == pytest.approx(ref, abs=1e-12)
    bt, st = np.round(b, 1), np.round(s, 1)
    lb, ls = M.pav_llr(bt, st)
    llr = np.r_[lb, ls]
    x = np.r_[bt, st]
    for v in np.unique(x):  # one LLR per tied score, non-decreasing in the score
        assert np.unique(llr[x == v]).size == 1
    order = np.argsort(x, kind="mergesort")
    assert np.array_equal(llr[order], np.sort(llr))  # (with infinities, so no diff)
    assert M.min_cllr(bt, st) >= ref - 1e-12  # rounding only loses information
