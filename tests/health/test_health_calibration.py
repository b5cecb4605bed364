"""Logistic recalibration and calibrated bands, checked by hand and against statsmodels."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.optimize import brentq

from churnlab.health.calibration import (
    band_calibration,
    calibration_metrics,
    calibration_split,
    expit,
    fit_recalibration,
    logit,
    recalibrate,
    select_recalibration,
)


def _two_groups():
    # 10 rows predicted 0.2 with 1 churn (observed 0.1), 10 predicted 0.5 with 4 (0.4)
    p = np.r_[np.full(10, 0.2), np.full(10, 0.5)]
    y = np.r_[np.ones(1), np.zeros(9), np.ones(4), np.zeros(6)]
    return p, y


def test_two_groups_are_saturated_so_a_and_b_solve_by_hand():
    # two distinct predictions: a + b logit(p_k) = logit(observed_k) exactly
    # b = (logit .4 - logit .1) / (logit .5 - logit .2) = 1.791759 / 1.386294 = 1.292481
    # a = logit .4 - b * 0 = -0.405465
    p, y = _two_groups()
    fit = fit_recalibration(p, y)
    assert fit["slope"] == pytest.approx(1.2924813, abs=1e-6)
    assert fit["intercept"] == pytest.approx(-0.4054651, abs=1e-6)
    assert fit["n_rows"] == 20 and fit["n_events"] == 5
    assert recalibrate([0.2, 0.5, np.nan], fit["intercept"], fit["slope"])[:2] == pytest.approx(
        [0.1, 0.4], abs=1e-8
    )
    assert np.isnan(recalibrate([np.nan], 0.0, 1.0)[0])


def test_unknown_outcomes_are_left_out_and_identity_is_a0_b1():
    p, y = _two_groups()
    fit = fit_recalibration(np.r_[p, 0.9], np.r_[y, np.nan])
    assert fit["n_rows"] == 20
    assert recalibrate([0.3], 0.0, 1.0)[0] == pytest.approx(0.3)
    assert expit(logit(0.0)) == pytest.approx(1e-6)


def test_matches_statsmodels_logistic_regression():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.02, 0.6, 400)
    y = (rng.random(400) < expit(-0.3 + 0.7 * logit(p))).astype(float)
    fit = fit_recalibration(p, y)
    x = sm.add_constant(logit(p))
    ref = sm.GLM(y, x, family=sm.families.Binomial()).fit()
    assert [fit["intercept"], fit["slope"]] == pytest.approx(list(ref.params), abs=1e-7)
    # calibration-in-the-large: intercept with logit(p) as offset
    ref_citl = sm.GLM(y, np.ones((400, 1)), family=sm.families.Binomial(), offset=logit(p)).fit()
    m = calibration_metrics(p, y, np.arange(400) // 4, reps=20, seed=1)
    assert m["calibration_in_the_large"]["estimate"] == pytest.approx(ref_citl.params[0], abs=1e-7)
    assert m["calibration_slope"]["estimate"] == pytest.approx(ref.params[1], abs=1e-7)
    lo, hi = m["calibration_slope"]["ci_low"], m["calibration_slope"]["ci_high"]
    assert lo < ref.params[1] < hi


def test_calibration_in_the_large_by_hand_and_deterministic_intervals():
    # every row predicted 0.2, observed 1 in 10 -> a = logit(.1) - logit(.2) = -0.810930;
    # the slope cannot be estimated (one distinct prediction)
    p = np.full(20, 0.2)
    y = np.r_[np.ones(2), np.zeros(18)]
    acc = np.arange(20) // 2
    m = calibration_metrics(p, y, acc, reps=50, seed=3)
    assert m["calibration_in_the_large"]["estimate"] == pytest.approx(-0.8109302, abs=1e-6)
    assert np.isnan(m["calibration_slope"]["estimate"])
    assert m["observed"] == pytest.approx(0.1) and m["mean_predicted"] == pytest.approx(0.2)
    assert m["n_accounts"] == 10
    again = calibration_metrics(p, y, acc, reps=50, seed=3)
    assert again["calibration_in_the_large"] == m["calibration_in_the_large"]
    assert (
        m["calibration_in_the_large"]["ci_low"] < -0.81 < m["calibration_in_the_large"]["ci_high"]
    )


def test_band_calibration_intervals_and_within_flag():
    # green: 3 accounts x 2 weeks, predicted 0.05, never churn -> every resample observes 0,
    #        interval [0, 0], 0.05 outside it
    # red: account r1 churns in both weeks, r2 in none, predicted 0.5 -> observed 0.5; a
    #      resample sees 0, 0.5 or 1 (each account alone with chance 1/4), interval [0, 1]
    # amber: no rows
    band = ["green"] * 6 + ["red"] * 4
    acc = ["g1", "g1", "g2", "g2", "g3", "g3", "r1", "r1", "r2", "r2"]
    p = [0.05] * 6 + [0.5] * 4
    y = [0] * 6 + [1, 1, 0, 0]
    t = band_calibration(p, y, band, acc, reps=400, seed=7)
    assert t["band"].tolist() == ["green", "amber", "red"]
    g, a, r = (t.iloc[i] for i in range(3))
    assert g["rows"] == 6 and g["accounts"] == 3 and g["observed"] == 0.0
    assert (g["ci_low"], g["ci_high"]) == (0.0, 0.0) and not g["within_interval"]
    assert a["rows"] == 0 and math.isnan(a["observed"]) and not a["within_interval"]
    assert r["observed"] == 0.5 and r["mean_predicted"] == 0.5
    assert (r["ci_low"], r["ci_high"]) == (0.0, 1.0) and r["within_interval"]
    pd.testing.assert_frame_equal(t, band_calibration(p, y, band, acc, reps=400, seed=7))


def test_calibration_split_by_hand():
    # weeks 0..9, validation starts at week 8, horizon 3, slice 2 weeks:
    # last week whose horizon (w..w+2) ends before week 8 is week 5 -> slice weeks 4, 5;
    # fit on weeks 0-3; weeks 6, 7 in neither
    weeks = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(7 * np.arange(10), unit="D"))
    fit, sl = calibration_split(weeks, weeks[8], horizon_weeks=3, slice_weeks=2)
    assert np.flatnonzero(sl).tolist() == [4, 5]
    assert np.flatnonzero(fit).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="before the calibration slice"):
        calibration_split(weeks, weeks[8], horizon_weeks=3, slice_weeks=6)


def test_errors():
    with pytest.raises(ValueError, match="churned and not-churned"):
        fit_recalibration([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="0 / 1"):
        fit_recalibration([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="values"):
        fit_recalibration([0.1, 0.2], [0])


def _two_predictions(p1, p2, n, events1, events2):
    """n rows predicted p1 with events1 churns, n rows predicted p2 with events2 churns."""
    p = np.r_[np.full(n, p1), np.full(n, p2)]
    y = np.r_[np.arange(n) < events1, np.arange(n) < events2].astype(float)
    return p, y


def _lr_vs_original(p, r, n):
    # 2 x the Bernoulli log-likelihood gain of each group's own rate over its prediction
    return 2 * sum(
        ni * (ri * np.log(ri / pi) + (1 - ri) * np.log((1 - ri) / (1 - pi)))
        for pi, ri, ni in zip(p, r, n, strict=True)
    )


def test_select_recalibration_keeps_well_calibrated_predictions():
    # observed rates equal the predictions: the logistic fit is a = 0, b = 1 exactly
    p, y = _two_predictions(0.1, 0.3, 200, 20, 60)
    fit = select_recalibration(p, y)
    assert fit["update"] == "none" and (fit["intercept"], fit["slope"]) == (0.0, 1.0)
    assert fit["tests"]["logistic_vs_original"]["lr"] == pytest.approx(0.0, abs=1e-8)
    assert fit["logistic"]["slope"] == pytest.approx(1.0, abs=1e-6)


def test_select_recalibration_shifts_only_the_intercept_when_the_slope_is_not_needed():
    # rates 5% and 15% for predictions 10% and 30%: too high throughout, by a similar odds
    # ratio (the exact two-group slope is (logit .15 - logit .05) / (logit .3 - logit .1))
    p, y = _two_predictions(0.1, 0.3, 200, 10, 30)
    fit = select_recalibration(p, y)
    lr0 = _lr_vs_original([0.1, 0.3], [0.05, 0.15], [200, 200])
    assert fit["tests"]["logistic_vs_original"]["lr"] == pytest.approx(lr0, rel=1e-6)
    b = (logit(0.15) - logit(0.05)) / (logit(0.3) - logit(0.1))
    assert fit["logistic"]["slope"] == pytest.approx(b, rel=1e-6)
    assert fit["tests"]["logistic_vs_intercept"]["p_value"] > 0.05
    assert fit["update"] == "intercept" and fit["slope"] == 1.0
    # the intercept solves sum(y - expit(a + logit p)) = 0 (scipy's root finder)
    a = brentq(lambda a: (y - expit(a + logit(p))).sum(), -5, 5)
    assert fit["intercept"] == pytest.approx(a, abs=1e-8)


def test_select_recalibration_uses_the_slope_when_the_slice_shows_it():
    # rates 2% and 30% for predictions 10% and 30%: predictions not extreme enough
    p, y = _two_predictions(0.1, 0.3, 500, 10, 150)
    fit = select_recalibration(p, y)
    b = (logit(0.3) - logit(0.02)) / (logit(0.3) - logit(0.1))
    assert fit["update"] == "logistic"
    assert fit["slope"] == pytest.approx(b, rel=1e-6)
    assert fit["intercept"] == pytest.approx(logit(0.02) - b * logit(0.1), rel=1e-6)


def test_select_recalibration_on_a_small_slice_changes_nothing():
    # the same 5% / 15% rates on 20 rows a group (1 and 3 churns): not enough to reject
    p, y = _two_predictions(0.1, 0.3, 20, 1, 3)
    fit = select_recalibration(p, y)
    lr0 = _lr_vs_original([0.1, 0.3], [0.05, 0.15], [20, 20])
    assert fit["tests"]["logistic_vs_original"]["lr"] == pytest.approx(lr0, rel=1e-6)
    assert fit["tests"]["logistic_vs_original"]["p_value"] > 0.05
    assert fit["update"] == "none"
    with pytest.raises(ValueError, match="alpha"):
        select_recalibration(p, y, alpha=1.5)
