"""Issue 14: the final model's calibration slope comes from a held-out slice (it cannot be seen
in sample), its intercept in sample; final_procedure_check applies the same procedure at the
split with the held-out slice nested in the training weeks. Answers by hand in the comments."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.optimize import brentq

from churnlab.health.calibration import (
    band_calibration,
    expit,
    heldout_recalibration,
    intercept_given_slope,
    logit,
    recalibrate,
    select_recalibration,
)
from churnlab.health.score import band


def _two_groups(p1, p2, n, events1, events2):
    """n rows predicted p1 with events1 churns, n rows predicted p2 with events2 churns."""
    p = np.r_[np.full(n, p1), np.full(n, p2)]
    y = np.r_[np.arange(n) < events1, np.arange(n) < events2].astype(float)
    return p, y


def test_slope_from_the_heldout_model_intercept_from_the_model_by_hand():
    # held-out model: 10% and 30% predicted, 2% and 30% happened (500 rows each): the slice
    # needs the slope, and two groups are saturated, so
    # b = (logit .30 - logit .02) / (logit .30 - logit .10) = 3.0428 / 1.3499 = 2.2541
    p_ho, y = _two_groups(0.1, 0.3, 500, 10, 150)
    b = (logit(0.3) - logit(0.02)) / (logit(0.3) - logit(0.1))
    # the model fitted on all weeks predicts 5% and 20% on the same rows; with b fixed, a
    # solves the intercept's score equation sum(y) = sum(expit(a + b logit p_model))
    p_model = np.r_[np.full(500, 0.05), np.full(500, 0.2)]
    a = brentq(lambda a: (y - expit(a + b * logit(p_model))).sum(), -10, 10)
    fit = heldout_recalibration(p_ho, p_model, y)
    assert fit["heldout"]["update"] == "logistic"
    assert fit["slope"] == pytest.approx(b, rel=1e-6)
    assert fit["intercept"] == pytest.approx(a, abs=1e-7)
    assert fit["update"] == "logistic" and fit["n_rows"] == 1000 and fit["n_events"] == 160
    # recalibration in the large: the recalibrated total equals the observed total
    assert recalibrate(p_model, a, b).sum() == pytest.approx(160, rel=1e-7)
    assert "van Houwelingen" in fit["method"]
    assert intercept_given_slope(p_model, y, b)["intercept"] == pytest.approx(a, abs=1e-7)


def test_no_slope_needed_on_the_heldout_slice_keeps_slope_one():
    # the held-out model is right (10% / 30% happened): slope 1. The model to recalibrate
    # predicts 20% / 60% on the same rows: too high, so the intercept is needed:
    # a solves 500 (.1 + .3) = 500 (expit(a + logit .2) + expit(a + logit .6))
    p_ho, y = _two_groups(0.1, 0.3, 500, 50, 150)
    p_model = np.r_[np.full(500, 0.2), np.full(500, 0.6)]
    a = brentq(lambda a: expit(a + logit(0.2)) + expit(a + logit(0.6)) - 0.4, -10, 10)
    fit = heldout_recalibration(p_ho, p_model, y)
    assert fit["heldout"]["update"] == "none" and fit["slope"] == 1.0
    assert fit["update"] == "intercept" and fit["intercept"] == pytest.approx(a, abs=1e-7)
    assert fit["tests"]["intercept_given_slope"]["p_value"] < 1e-10
    # ... and when the model is right as well, nothing changes
    fit = heldout_recalibration(p_ho, p_ho, y)
    assert (fit["update"], fit["intercept"], fit["slope"]) == ("none", 0.0, 1.0)
    with pytest.raises(ValueError, match="churned and not-churned"):
        heldout_recalibration(p_ho, p_model, np.zeros_like(y))


def _overfitted_world(seed=0, n_before=4000, n_slice=1000, n_new=5000, noise=80):
    """A logistic model with one real predictor (log-odds ratio 0.8, base rate ~15%) and
    `noise` pure-noise predictors: over-confident out of sample. Returns the predictions on
    the slice of the held-out model (fitted on the rows before it) and of the model fitted on
    all rows (slice included: in sample), the slice outcomes, and that model's predictions
    and the outcomes on new rows."""
    rng = np.random.default_rng(seed)

    def draw(n):
        x = rng.normal(size=(n, noise + 1))
        y = (rng.random(n) < expit(-2.0 + 0.8 * x[:, 0])).astype(float)
        return sm.add_constant(x), y

    (xb, yb), (xs, ys), (xn, yn) = draw(n_before), draw(n_slice), draw(n_new)
    family = sm.families.Binomial()
    heldout = sm.GLM(yb, xb, family=family).fit()
    final = sm.GLM(np.r_[yb, ys], np.r_[xb, xs], family=family).fit()
    return heldout.predict(xs), final.predict(xs), ys, final.predict(xn), yn


def _bands(p, y):
    return band_calibration(p, y, band(p, 0.25, 0.10).to_numpy(), np.arange(len(y)), 200, 0)


def test_an_overconfident_model_is_shrunk_where_in_sample_recalibration_sees_nothing():
    p_ho, p_in, y_slice, p_new, y_new = _overfitted_world()
    # in sample the over-fitted model looks calibrated: closed testing keeps it as it is
    old = select_recalibration(p_in, y_slice)
    assert old["update"] == "none"
    # the held-out slice sees the over-confidence: slope 0.73 on this world
    new = heldout_recalibration(p_ho, p_in, y_slice)
    assert new["update"] == "logistic" and 0.6 < new["slope"] < 0.85
    # the final probabilities are shrunk towards the mean: log-odds spread x slope, the
    # lowest risks go up and the highest down, the average on the slice is the observed one
    shrunk = recalibrate(p_new, new["intercept"], new["slope"])
    assert logit(shrunk).std() == pytest.approx(new["slope"] * logit(p_new).std(), rel=1e-9)
    assert shrunk.min() > p_new.min() and shrunk.max() < p_new.max()
    assert recalibrate(p_in, new["intercept"], new["slope"]).mean() == pytest.approx(
        y_slice.mean(), rel=1e-7
    )
    # on new rows: the red band of the in-sample procedure promises 34.8% and 30.1% happens
    # (outside its interval); shrunk, every band holds. A slope measured on a slice of 1,000
    # rows is noisy: over seeds 0-7 of this world the in-sample red band was out in 6 and the
    # held-out one within in 4 (it can over-shrink: the held-out model, fitted on fewer rows,
    # is more over-fitted than the model it is applied to)
    before = _bands(recalibrate(p_new, old["intercept"], old["slope"]), y_new).set_index("band")
    after = _bands(shrunk, y_new).set_index("band")
    assert not before.loc["red", "within_interval"]
    assert before.loc["red", "mean_predicted"] > before.loc["red", "ci_high"]
    assert after["within_interval"].all()


@pytest.fixture(scope="module")
def calibrated():
    from test_health_stage import calibrated_world

    return calibrated_world(800, bootstrap_reps=20, calibration_weeks=6)[1]


def test_final_model_slope_is_measured_on_its_heldout_slice(calibrated):
    final = calibrated["calibration"]["final_model"]
    # weeks 0..59 from 2024-01-01, horizon 8: the last week with its whole horizon observed
    # is week 52 (2024-12-30); 6 calibration weeks 47..52; the held-out model is fitted on
    # weeks 0..46 (to 2024-11-18) and the final model on all weeks
    held = final["heldout"]
    assert final["slope_source"] == "held-out slice"
    assert held["slice_weeks"] == final["slice_weeks"] == ["2024-11-25", "2024-12-30"]
    assert held["fit_weeks"] == ["2024-01-01", "2024-11-18"]
    assert final["fit_weeks"] == ["2024-01-01", "2025-02-17"]
    assert final["slope"] == (held["slope"] if held["update"] == "logistic" else 1.0)
    assert final["tests"]["intercept_given_slope"]["df"] == 1
    assert "held-out slice" in calibrated["calibration"]["final_rule"]


def test_the_check_nests_the_heldout_slice_in_the_training_weeks(calibrated):
    # split at week 36 (60 x 0.6 = 2024-09-09): the training weeks stand for all weeks, so
    # the held-out slice is the 6 weeks whose horizon ends before week 36 (23..28), the
    # held-out model is fitted on weeks 0..22 - the validation model's own slice and fit,
    # whose slope the check therefore applies
    check = calibrated["validation"]["final_procedure_check"]["recalibration"]
    v = calibrated["calibration"]["validation_model"]
    held = check["heldout"]
    assert check["slope_source"] == "held-out slice"
    assert held["slice_weeks"] == v["slice_weeks"] == ["2024-06-10", "2024-07-15"]
    assert held["fit_weeks"] == v["fit_weeks"] == ["2024-01-01", "2024-06-03"]
    assert check["slice_weeks"] == v["slice_weeks"]
    assert check["fit_weeks"] == ["2024-01-01", "2024-09-02"]
    assert (held["update"], held["slope"], held["intercept"]) == (
        v["update"],
        v["slope"],
        v["intercept"],
    )


def test_without_a_heldout_slice_the_final_model_is_recalibrated_in_sample():
    # the latest complete week is 52 (horizon 8 of 60 weeks): a slice of 55 weeks would
    # start before week 0, so no held-out model can be fitted; the final model falls back
    # to closed testing on its latest complete weeks and says why
    from test_health_stage import calibrated_world

    _, result, _ = calibrated_world(300, bootstrap_reps=5, calibration_weeks=55)
    final = result["calibration"]["final_model"]
    assert final["slope_source"].startswith("in-sample slice (no held-out slice: no weeks")
    assert final["heldout"] is None and final["applied"]
    assert final["update"] in ("none", "intercept", "logistic")
    assert "logistic_vs_original" in final["tests"]
