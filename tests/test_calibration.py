"""idsd.calibration: the logistic calibration, its record entry, the report, operating points, the plot."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from scipy.special import expit

from idsd import calibration as C
from idsd import metrics as M
from idsd.errors import InputError


def gaussian_llr(rng, n_bona, n_spoof, mu=0.5):
    """Calibrated LLRs of two Gaussians: N(+mu, 2 mu) real, N(-mu, 2 mu) fake."""
    sd = np.sqrt(2 * mu)
    return rng.normal(mu, sd, n_bona), rng.normal(-mu, sd, n_spoof)


def miscalibrated(rng, n_bona, n_spoof, a=3.0, c=2.0, mu=0.5):
    """P(real) = sigmoid(a * llr + c): over-confident (a > 1) and biased (c != 0) scores."""
    lb, ls = gaussian_llr(rng, n_bona, n_spoof, mu)
    return expit(a * lb + c), expit(a * ls + c)


# --------------------------------------------------------------------------- the fit


@pytest.mark.parametrize("a,c", [(3.0, 2.0), (1.0, 3.0), (0.4, -1.5)])
def test_calibration_recovers_llr_and_helps_on_held_out_data(a, c):
    rng = np.random.default_rng(1)
    dev_b, dev_s = miscalibrated(rng, 4000, 6000, a, c)
    ev_b, ev_s = miscalibrated(rng, 20000, 20000, a, c)
    x = np.r_[dev_b, dev_s, ev_b, ev_s]
    assert np.all((x > C.CLIP) & (x < 1 - C.CLIP))  # the premise: no score is tied by the clip
    cal = C.Calibration.fit(dev_b, dev_s, source="dev")
    # llr = (logit(p) - c) / a
    assert cal.a == pytest.approx(1 / a, rel=0.06)
    assert cal.b == pytest.approx(-c / a, abs=0.06)
    r = C.calibration_report(ev_b, ev_s, cal)
    before, after = r["before"], r["after"]
    assert r["n_trials"] == 40000 and r["n_bona"] == 20000 and r["n_spoof"] == 20000
    # calibration brings Cllr and actDCF down to (near) their minima on held-out data
    assert after["cllr"] < before["cllr"] - 0.05
    assert after["cllr"] - after["min_cllr"] < 0.01
    assert after["act_dcf"] - after["min_dcf"] < 0.02
    assert after["act_dcf"] <= before["act_dcf"] + 1e-12
    # ... and leaves the order-based metrics as they were (a monotone map)
    assert after["eer"] == before["eer"]
    assert after["min_dcf"] == pytest.approx(before["min_dcf"], abs=1e-12)
    assert after["min_cllr"] == pytest.approx(before["min_cllr"], abs=1e-9)
    assert after["min_cllr"] <= after["cllr"] and before["min_cllr"] <= before["cllr"]


def test_a_badly_biased_detector_gets_a_much_better_act_dcf():
    rng = np.random.default_rng(2)
    dev_b, dev_s = miscalibrated(rng, 3000, 3000, a=1.0, c=3.0, mu=1.0)
    ev_b, ev_s = miscalibrated(rng, 10000, 10000, a=1.0, c=3.0, mu=1.0)
    r = C.calibration_report(ev_b, ev_s, C.Calibration.fit(dev_b, dev_s))
    assert r["before"]["act_dcf"] > r["after"]["act_dcf"] + 0.2
    assert r["after"]["act_dcf"] - r["after"]["min_dcf"] < 0.02


def test_balanced_weights_make_the_fit_independent_of_the_class_ratio():
    rng = np.random.default_rng(3)
    few_real = C.Calibration.fit(*miscalibrated(rng, 1000, 9000))
    balanced = C.Calibration.fit(*miscalibrated(rng, 5000, 5000))
    many_real = C.Calibration.fit(*miscalibrated(rng, 9000, 1000))
    for cal in (few_real, many_real):
        assert cal.a == pytest.approx(balanced.a, abs=0.03)
        assert cal.b == pytest.approx(balanced.b, abs=0.08)
    assert (few_real.n_bona, few_real.n_spoof) == (1000, 9000)


def test_fit_is_deterministic_and_weakly_regularised():
    rng = np.random.default_rng(4)
    b, s = miscalibrated(rng, 500, 700)
    c1, c2 = C.Calibration.fit(b, s), C.Calibration.fit(b.copy(), s.copy())
    assert c1 == c2
    # already calibrated P(real) (logit = LLR) stays close to the identity
    lb, ls = gaussian_llr(rng, 20000, 20000, mu=1.0)
    ident = C.Calibration.fit(expit(lb), expit(ls))
    assert ident.a == pytest.approx(1.0, abs=0.03) and ident.b == pytest.approx(0.0, abs=0.03)


def test_llr_and_apply_spaces_and_shapes():
    cal = C.Calibration(a=0.5, b=-1.0)
    p = np.array([[0.5, 0.9], [1e-3, 0.999]])
    llr = cal.llr(p)
    assert llr.shape == (2, 2)
    np.testing.assert_allclose(llr, 0.5 * np.log(p / (1 - p)) - 1.0)
    np.testing.assert_allclose(cal.apply(p), 1 / (1 + np.exp(-llr)))
    assert cal.llr(0.5) == pytest.approx(-1.0)
    # saturated scores are clipped to 1e-7, so they stay finite
    assert cal.llr(1.0) == pytest.approx(0.5 * np.log((1 - 1e-7) / 1e-7) - 1.0)
    assert np.isfinite(cal.llr([0.0, 1.0])).all()
    assert 0 < cal.apply(0.0) < cal.apply(1.0) < 1


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan, np.inf])
def test_scores_must_be_probabilities(bad):
    with pytest.raises(ValueError):
        C.Calibration.fit([0.9, bad], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"not P\(real\)"):
        C.Calibration(1.0, 0.0).llr([0.3, bad])


def test_empty_class_raises():
    with pytest.raises(ValueError, match="no spoof scores"):
        C.Calibration.fit([0.9], [])


def test_perfectly_separated_dev_warns_and_stays_finite(caplog):
    with caplog.at_level(logging.WARNING, logger="idsd.calibration"):
        cal = C.Calibration.fit([0.9, 0.95, 0.8, 0.99], [0.1, 0.3, 0.2])
    assert "perfectly separated" in caplog.text
    assert np.isfinite(cal.a) and np.isfinite(cal.b) and cal.a > 0
    assert cal.apply(0.9) > 0.5 > cal.apply(0.1)


def test_inverted_detector_warns(caplog):
    rng = np.random.default_rng(5)
    b, s = miscalibrated(rng, 300, 300)
    with caplog.at_level(logging.WARNING, logger="idsd.calibration"):
        cal = C.Calibration.fit(s, b)
    assert cal.a < 0 and "right way" in caplog.text


# --------------------------------------------------------------------------- the record


def test_dict_round_trip_is_strict_json():
    cal = C.Calibration.fit(*miscalibrated(np.random.default_rng(6), 200, 300), source="dev union")
    d = cal.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = C.Calibration.from_dict(json.loads(text))
    assert back == cal
    assert d["format"] == C.CALIBRATION_FORMAT and d["source"] == "dev union"
    assert "llr = a * logit" in d["output"]


def test_store_and_from_record(tmp_path):
    from idsd.artifact import read_record, write_record

    rng = np.random.default_rng(7)
    b, s = miscalibrated(rng, 300, 400)
    cal = C.Calibration.fit(b, s, source="dev union")
    report = C.calibration_report(b, s, cal, threshold=0.5)
    record = {"feature": "mfcc", "mode": "array", "threshold": 0.5}
    new = C.store(record, cal, report)
    assert C.RECORD_KEY not in record  # not modified
    assert new["threshold"] == 0.5 and new[C.RECORD_KEY]["report"]["after"]["cllr"] == report["after"]["cllr"]
    model = tmp_path / "mfcc_avg_1.keras"
    write_record(model, new)
    rec = read_record(model)
    assert C.from_record(rec) == cal
    assert rec[C.RECORD_KEY]["report"] == json.loads(json.dumps(report))
    # a DataFrame report is stored too
    table_rec = C.store(record, cal, C.report_table(report))
    assert set(table_rec[C.RECORD_KEY]["report"]) == {"before", "after"}
    json.dumps(table_rec, allow_nan=False)
    assert C.from_record(record) is None and C.from_record({**record, "calibration": None}) is None
    assert C.from_record(None) is None


@pytest.mark.parametrize("bad,match", [
    ([1, 2], "JSON object"),
    ({"a": 1.0}, "'b' must be a finite number"),
    ({"a": "1", "b": 0.0}, "'a' must be a finite number"),
    ({"a": True, "b": 0.0}, "'a' must be a finite number"),
    ({"a": 1.0, "b": None}, "'b' must be a finite number"),
    ({"a": 1.0, "b": 0.0, "format": "idsd-calibration/9"}, "format"),
    ({"a": 1.0, "b": 0.0, "clip": 0.7}, "clip"),
    ({"a": 1.0, "b": 0.0, "clip": 0}, "positive"),
    ({"a": 1.0, "b": 0.0, "n_bona": -1}, "count"),
])
def test_malformed_calibration_is_one_line_input_error(bad, match):
    with pytest.raises(InputError, match=match) as e:
        C.from_record({"feature": "mel", "calibration": bad}, "x.record.json")
    assert "\n" not in str(e.value) and str(e.value).startswith("x.record.json: ")


# --------------------------------------------------------------------------- the report


def test_report_threshold_columns_and_table():
    rng = np.random.default_rng(8)
    b, s = miscalibrated(rng, 400, 600)
    cal = C.Calibration.fit(b, s)
    r = C.calibration_report(b, s, cal, threshold=0.7)
    for col in ("before", "after"):
        assert set(C.REPORT_METRICS) | {"threshold", "pmiss", "pfa", "dcf"} == set(r[col])
    assert r["before"]["threshold"] == 0.7
    assert r["after"]["threshold"] == pytest.approx(float(cal.apply(0.7)))
    # same decisions before and after (a > 0)
    assert (r["after"]["pmiss"], r["after"]["pfa"]) == (r["before"]["pmiss"], r["before"]["pfa"])
    assert r["before"]["pmiss"] == pytest.approx(np.mean(b <= 0.7))
    assert r["before"]["pfa"] == pytest.approx(np.mean(s > 0.7))
    # before follows the metrics module (logit(p) as LLR), as summarize does
    row = M.summarize(b, s)
    for k in ("cllr", "act_dcf", "min_dcf", "eer", "eer_threshold"):
        assert r["before"][k] == pytest.approx(row[k], abs=1e-12)
    # after: calibrated LLRs; the EER threshold in calibrated P(real)
    assert r["after"]["act_dcf"] == pytest.approx(M.act_dcf(cal.llr(b), cal.llr(s), llr=True))
    assert r["after"]["eer_threshold"] == pytest.approx(float(cal.apply(r["before"]["eer_threshold"])))
    table = C.report_table(r)
    assert list(table.index) == ["before", "after"] and (table["n_trials"] == 1000).all()
    assert "threshold" not in C.calibration_report(b, s, cal)["before"]
    json.dumps(r, allow_nan=False)


# --------------------------------------------------------------------------- operating points


def brute_force_far_threshold(b, s, target):
    cands = np.r_[min(b.min(), s.min()) - 0.001, np.unique(np.r_[b, s])]
    ok = [t for t in cands if np.sum(s > t) <= np.floor(target * s.size + 1e-9)]
    return min(ok)


def test_operating_point_eer_is_the_metrics_threshold():
    rng = np.random.default_rng(9)
    b, s = miscalibrated(rng, 300, 500)
    thr, desc = C.operating_point(b, s, "eer")
    assert thr == M.compute_eer(b, s)[1]
    assert desc.startswith("eer on the dev set: threshold") and "\n" not in desc
    assert C.operating_point(b, s, " EER ")[0] == thr


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("target", [0.0, 0.01, 0.05, 0.1, 0.333, 1.0])
def test_operating_point_far_is_the_smallest_threshold_within_target(seed, target):
    rng = np.random.default_rng(600 + seed)
    b, s = miscalibrated(rng, *rng.integers(5, 300, 2))
    if seed % 2:  # ties, across the classes too
        b, s = np.round(b, 2), np.round(s, 2)
    thr, desc = C.operating_point(b, s, f"far={target}")
    assert np.mean(s > thr) <= target
    assert thr == brute_force_far_threshold(b, s, target)
    assert "dev FAR" in desc


def test_operating_point_far_with_ties():
    b = np.array([0.5, 0.6, 0.95, 0.99])
    s = np.array([0.1, 0.5, 0.5, 0.9])
    assert C.operating_point(b, s, "far=0.25")[0] == 0.5  # only 0.9 accepted
    assert C.operating_point(b, s, "far=0.5")[0] == 0.5  # the tie at 0.5 falls as a whole: 75 % -> 25 %
    assert C.operating_point(b, s, "far=0.74")[0] == 0.5
    assert C.operating_point(b, s, "far=0.75")[0] == 0.1
    assert C.operating_point(b, s, "far=0")[0] == 0.9
    assert C.operating_point(b, s, "far=1")[0] == pytest.approx(0.1 - 0.001)
    assert C.operating_point(b, s, "far=25%")[0] == 0.5
    thr, desc = C.operating_point(b, s, "far=0.1")
    assert thr == 0.9 and "resolution 1/4" in desc and "FRR 50.00%" in desc


@pytest.mark.parametrize("rule", ["far=2", "foo", "far=", "far=-0.1", "far=nan", "far=abc", "eer=1",
                                  "far=150%", "", "far=0.1 far=0.2"])
def test_bad_operating_points_are_one_line_errors(rule):
    with pytest.raises(InputError) as e:
        C.operating_point([0.9], [0.1], rule)
    msg = str(e.value)
    assert isinstance(e.value, ValueError)
    assert msg.startswith("--operating-point: ") and "\n" not in msg
    assert "far=0.01" in msg


def test_parse_operating_point():
    assert C.parse_operating_point("eer") == ("eer", None)
    assert C.parse_operating_point("FAR = 0.01") == ("far", 0.01)
    assert C.parse_operating_point("far=1%") == ("far", 0.01)
    assert C.parse_operating_point("far=1e-3") == ("far", 0.001)


# --------------------------------------------------------------------------- reliability diagram


def test_reliability_bins_balanced_fraction():
    rng = np.random.default_rng(10)
    lb, ls = gaussian_llr(rng, 5000, 45000, mu=1.0)  # calibrated LLRs, 10 % real trials
    t = C.reliability_bins(expit(lb), expit(ls), n_bins=10)
    assert t["n"].sum() == 50000 and (t["n_bona"] + t["n_spoof"] == t["n"]).all()
    big = t[t["n_bona"].clip(upper=t["n_spoof"]) > 200]
    # weighted to prior 0.5, calibrated P(real) lies on the diagonal whatever the class ratio
    np.testing.assert_allclose(big["fraction_real"], big["mean_predicted"], atol=0.05)
    edge = C.reliability_bins([1.0, 0.95], [0.0], n_bins=10)
    assert list(edge["lo"]) == [0.0, pytest.approx(0.9)]  # 1.0 goes in the last, closed bin
    with pytest.raises(ValueError, match="n_bins"):
        C.reliability_bins([0.5], [0.5], n_bins=0)


def test_plot_calibration_draws():
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    assert matplotlib.get_backend().lower() == "agg"
    rng = np.random.default_rng(11)
    b, s = miscalibrated(rng, 500, 800)
    cal = C.Calibration.fit(b, s)
    fig = C.plot_calibration(b, s, cal)
    try:
        assert isinstance(fig, Figure)
        ax = fig.axes[0]
        lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 0]
        assert len(lines) == 3  # raw, calibrated, diagonal
        assert any(len(a.patches) > 0 for a in fig.axes)  # the bin counts
        fig.canvas.draw()
    finally:
        plt.close(fig)
    fig2, ax2 = plt.subplots()
    try:
        assert C.plot_calibration(b, s, cal, ax=ax2, n_bins=5) is fig2
        assert len(ax2.get_lines()) == 3
    finally:
        plt.close(fig2)
