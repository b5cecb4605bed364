"""Issue 14 in the hypotheses stage: the alert budget picks suggested risk thresholds, every
tested lamp is judged as an alert, and verdicts carry report wording (answers in comments)."""

import numpy as np
import pandas as pd
import pytest

from churnlab.errors import ConfigError
from churnlab.health.alerts import alert_summary
from churnlab.hypotheses.alert_budget import (
    bootstrap_budget_threshold,
    budget_curve,
    build_budget_scan,
    choose_threshold,
    curve_from_scan,
)
from churnlab.hypotheses.analysis import Settings, run_hypotheses, tuning_half
from churnlab.hypotheses.lamp_alerts import (
    ALERT_KEYS,
    alert_frame,
    calendar_weeks,
    csm_per_row,
    lamp_alerts,
)
from churnlab.hypotheses.spec import parse_hypotheses
from churnlab.hypotheses.stage import settings_from_params
from churnlab.hypotheses.synthetic import synthetic_panel
from churnlab.hypotheses.verdict import verdict_label, warning_weeks_basis

W0 = pd.Timestamp("2024-01-01")


def wk(k):
    return W0 + pd.Timedelta(weeks=k)


# ---- small pure pieces ------------------------------------------------------------------


def test_calendar_weeks_count_from_the_earliest_week_and_fall_back_to_start():
    p = pd.DataFrame({"week_start": [wk(3), wk(1), wk(1) + pd.Timedelta(days=6)], "start": 0})
    # weeks since 2024-01-08: 2, 0, and 6 days -> 0 (whole weeks, floor)
    assert calendar_weeks(p).tolist() == [2, 0, 0]
    assert calendar_weeks(pd.DataFrame({"start": [4, 5]})).tolist() == [4, 5]


def test_csm_per_row_takes_the_assignment_running_at_week_start():
    """A: c1 from week 0 until week 2 (exclusive), c2 from week 2, open -> c1 c1 c2.
    B: no assignment -> missing. C: c3 from week 0 (open), c4 from week 1 until week 3:
    week 0 c3; week 1 both run, the later start (c4) wins; week 3 c4 has ended -> c3."""
    panel = pd.DataFrame(
        {
            "account_id": ["A", "A", "A", "B", "C", "C", "C"],
            "week_start": [wk(0), wk(1), wk(2), wk(0), wk(0), wk(1), wk(3)],
        }
    )
    a = pd.DataFrame(
        {
            "account_id": ["A", "A", "C", "C"],
            "csm_id": ["c1", "c2", "c3", "c4"],
            "start_date": [wk(0), wk(2), wk(0), wk(1)],
            "end_date": [wk(2), pd.NaT, pd.NaT, wk(3)],
        }
    )
    got = csm_per_row(panel, a)
    assert got.tolist()[:3] == ["c1", "c1", "c2"]
    assert pd.isna(got.iloc[3])
    assert got.tolist()[4:] == ["c3", "c4", "c3"]
    assert csm_per_row(panel, None).isna().all()


def test_lamp_alerts_is_alert_summary_under_the_record_names():
    rng = np.random.default_rng(0)
    rows = [
        {"account_id": a, "spell": 1, "week_start": wk(w), "event": int(a == "B" and w == 5),
         "csm_id": "c1" if a != "C" else None}
        for a in "ABC" for w in range(6 if a == "B" else 8)
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    lit = rng.random(len(frame)) < 0.4
    raw = alert_summary(frame, lit, 3)
    got = lamp_alerts(alert_frame(frame), lit, 3)
    assert set(ALERT_KEYS) <= set(got)
    assert got["lightings_per_csm_week"] == raw["lightings_per_csm_week_median"]
    assert got["median_weeks_lit"] == raw["weeks_lit_median"]
    assert got["p75_weeks_lit"] == raw["weeks_lit_p75"]
    assert got["precision"] == raw["precision"] and got["lightings"] == raw["lightings"]
    # integer subject codes stand in for account + spell and give the same answers
    codes = pd.factorize(frame["account_id"])[0]
    same = lamp_alerts(alert_frame(frame, codes), lit, 3)
    assert {k: v for k, v in same.items()} == pytest.approx(got, nan_ok=True)


def test_verdict_label_and_warning_basis():
    assert verdict_label("leads churn", "opportunity") == "leads retention"
    assert verdict_label("leads churn", "risk") == "leads churn"
    assert verdict_label("too late to act on", "opportunity") == "too late to act on"
    late = warning_weeks_basis("too late to act on", "risk", 1, 4.0, 4)
    assert "best lag, 1 weeks" in late and "4.0 weeks is lamp-on time before churn" in late
    assert "not evidence of lead" in late
    lead = warning_weeks_basis("leads churn", "risk", 8, 9.5, 4)
    assert "best lag, 8 weeks" in lead and "9.5 weeks" in lead
    opp = warning_weeks_basis("leads churn", "opportunity", 12, 3.0, 4)
    assert "churn less" in opp and "does not apply" in opp
    none = warning_weeks_basis("no evidence", "risk", None, float("nan"), 4)
    assert none.startswith("No lag carries evidence") and "n/a weeks" in none
    attr = warning_weeks_basis("leads churn", "risk", 0, 6.0, 0, attribute=True)
    assert attr.startswith("Verdict rests on lag 0: an attribute")
    assert warning_weeks_basis("not testable", "risk", None, None, 4) is None


# ---- the budget curve from per-account sums, weights, the chi-square objective -----------


def _two_accounts():
    """Weeks 0-5, direction low, horizon 2. A churns in week 5 (values 9 9 9 3 1 1);
    B never churns (values 9 1 9 9 9 9; week 5 unknown)."""
    v = [9, 9, 9, 3, 1, 1, 9, 1, 9, 9, 9, 9]
    acc = ["A"] * 6 + ["B"] * 6
    week = list(range(6)) * 2
    y = [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, np.nan]
    ev = [0, 0, 0, 0, 0, 1] + [0] * 6
    return v, acc, week, y, ev


def test_account_weights_repeat_accounts():
    v, acc, week, y, ev = _two_accounts()
    scan = build_budget_scan(v, [2.0, 5.0], "low", y, acc, week, ev, 2)
    # weights (2, 1) = the data with A twice (as A and A2)
    twice = budget_curve(
        v[:6] + v, [2.0, 5.0], "low", y[:6] + y, ["A2"] * 6 + acc, week[:6] + week,
        ev[:6] + ev, 2,
    )  # fmt: skip
    weighted = curve_from_scan(scan, np.array([2.0, 1.0]))
    cols = ["share_lit", "precision", "lift", "base_rate", "churners_warned_share",
            "median_warning_weeks"]  # fmt: skip
    pd.testing.assert_frame_equal(weighted[cols], twice[cols])
    assert weighted["lightings"].tolist() == twice["lightings"].tolist()
    # < 2: A lit w4-5 (lighting w4 -> churn), B lit w1 (lighting, no churn): precision 1/2;
    # < 5: A lit w3-5 (lighting w3: churn in w5 is 3 weeks on, outside the horizon), B w1: 0
    unweighted = curve_from_scan(scan)
    assert unweighted["precision"].tolist() == pytest.approx([0.5, 0.0])
    assert unweighted["lightings"].tolist() == [2, 2]


def test_chi_square_objective_and_its_bootstrap_need_the_column():
    curve = pd.DataFrame(
        {
            "threshold": [1.0, 2.0, 3.0],
            "share_lit": [0.05, 0.15, 0.3],
            "precision": [0.5, 0.3, 0.2],
            "lift": [5.0, 3.0, 2.0],
            "base_rate": 0.1,
            "lightings": 50,
            "lightings_known": 50,
            "churners_warned": [3, 6, 9],
            "churners_warned_share": [0.3, 0.6, 0.9],
            "median_warning_weeks": 6.0,
            "chosen": False,
        }
    )
    # precision picks the tail (row 0); the sharpest split inside a 20% budget is row 1
    # (row 2 is sharper still but lights 30% of weeks)
    assert choose_threshold(curve, 0.2)[0] == 0
    idx, rule = choose_threshold(curve.assign(chi_square=[10.0, 40.0, 90.0]), 0.2,
                                 objective="chi_square")  # fmt: skip
    assert idx == 1 and rule.startswith("sharpest split")
    with pytest.raises(ValueError, match="chi_square"):
        choose_threshold(curve, 0.2, objective="chi_square")
    v, acc, week, y, ev = _two_accounts()
    scan = build_budget_scan(v, [2.0], "low", y, acc, week, ev, 2)
    with pytest.raises(ValueError, match="perf_scan"):
        bootstrap_budget_threshold(scan, 5, 1, objective="chi_square")


# ---- through run_hypotheses ----------------------------------------------------------------

BASE = {"statement": "s", "stage": "adoption", "expected_lead_weeks": 8, "action": "a"}


@pytest.fixture(scope="module")
def world():
    panel = synthetic_panel(n_accounts=700, n_weeks=60, lead=8, hazard_ratio=8.0, seed=5)
    panel["good"] = panel["leader"]  # as an opportunity: high = not in trouble
    hyps = parse_hypotheses(
        [
            {**BASE, "kind": "risk", "id": "lead", "indicator": "leader", "direction": "low",
             "threshold": "suggest"},
            {**BASE, "kind": "risk", "id": "coin", "indicator": "coincident",
             "direction": "high", "threshold": 0.5},
            {**BASE, "kind": "opportunity", "id": "opp", "indicator": "good",
             "direction": "high", "threshold": "suggest"},
        ],
        known_indicators=["leader", "coincident", "good"],
    )  # fmt: skip
    s = Settings(lags=[0, 4, 8], adjust_for=["segment"], bootstrap_reps=10, with_glm=False)
    res = run_hypotheses(panel, hyps, dict.fromkeys(["leader", "coincident", "good"]), s)
    return panel, hyps, s, res, {r["id"]: r for r in res.hypotheses}


def test_budget_picks_the_risk_threshold_and_the_curve_marks_it(world):
    _, _, s, res, by_id = world
    lead = by_id["lead"]
    assert lead["threshold_method"] == "alert budget"
    assert lead["threshold_rule"].startswith("alert budget: sharpest split")
    curves = res.tables["threshold_curves"]
    for col in ("lamp_on_share", "precision", "lift", "recall", "chi_square", "share_lit",
                "lightings", "churners_warned_share", "lighting_precision", "chosen",
                "chosen_by"):  # fmt: skip
        assert col in curves.columns
    mine = curves[curves["id"] == "lead"]
    chosen = mine[mine["chosen"]]
    assert len(chosen) == 1 and chosen["threshold"].iloc[0] == lead["threshold"]
    assert chosen["share_lit"].iloc[0] <= s.max_share_lit
    # it is the sharpest split among the candidates that fit the budget's conditions
    fits = mine[(mine["share_lit"] <= s.max_share_lit) & (mine["lightings_known"] >= 20)
                & (mine["lighting_median_warning_weeks"] >= 4) & (mine["lighting_lift"] > 1)]  # fmt: skip
    assert chosen["chi_square"].iloc[0] == fits["chi_square"].max()
    lo, hi = lead["threshold_ci"]
    assert lo <= lead["threshold"] <= hi
    # the opportunity keeps the lowest-lift rule; its curve has the same columns
    opp = by_id["opp"]
    assert opp["threshold_method"] == "lowest lift"
    assert curves[curves["id"] == "opp"]["chosen"].sum() == 1
    assert by_id["coin"]["threshold_method"] == "configured"


def test_alerts_are_measured_on_the_test_half_at_lag_0(world):
    panel, _, s, _, by_id = world
    lead = by_id["lead"]
    test = panel[~tuning_half(panel, s.seed)].reset_index(drop=True)
    lit = test["leader"] < lead["threshold"]
    expected = alert_summary(test, lit, s.horizon_weeks)
    got = lead["alerts"]
    assert got["account_weeks"] == len(test)
    for k in ("share_lit_median", "lightings", "precision", "base_rate",
              "churners_warned_share", "median_warning_weeks"):  # fmt: skip
        assert got[k] == pytest.approx(expected[k], nan_ok=True), k
    assert got["median_weeks_lit"] == expected["weeks_lit_median"]
    # the alert design (on/off delays) of every indicator lamp, a configured threshold's
    # too, is chosen on the tuning half and measured on the test half
    assert by_id["coin"]["alerts"]["account_weeks"] == len(test)
    policy = lead["alert_policy"]
    assert (policy["on_weeks"], policy["off_weeks"]) == (1, 1)  # as `lit` above
    assert policy["chosen_on"].startswith("tuning half")
    assert len(policy["tradeoff_test_half"]) == len(s.alert_on_weeks) * len(s.alert_off_weeks)
    assert sum(r["chosen"] for r in policy["tradeoff_test_half"]) == 1


def test_one_alert_design_measures_a_configured_threshold_on_every_account(world):
    panel, hyps, s, _, _ = world
    plain = Settings(**{**s.__dict__, "alert_on_weeks": [1], "alert_off_weeks": [1]})
    coin = [h for h in hyps if h.id == "coin"]
    rec = run_hypotheses(panel, coin, {"coincident": None}, plain).hypotheses[0]
    assert rec["alerts"]["account_weeks"] == len(panel)
    assert rec["alert_policy"] is None


def test_verdict_label_and_basis_on_records(world):
    _, _, _, _, by_id = world
    lead, coin, opp = by_id["lead"], by_id["coin"], by_id["opp"]
    assert lead["verdict"] == "leads churn" and lead["verdict_label"] == "leads churn"
    assert lead["verdict_warning_weeks"] == lead["best_lag_weeks"]
    assert coin["verdict"] == "too late to act on"
    assert coin["verdict_warning_weeks"] == coin["best_lag_weeks"] < 4
    assert "not evidence of lead" in coin["warning_weeks_basis"]
    assert opp["verdict"] == "leads churn" and opp["verdict_label"] == "leads retention"


def test_nothing_in_budget_falls_back_to_the_sharpest_split(world):
    panel, hyps, s, _, _ = world
    tight = Settings(**{**s.__dict__, "max_share_lit": 0.001, "bootstrap_reps": 0})
    rec = run_hypotheses(panel, hyps[:1], {"leader": None}, tight).hypotheses[0]
    assert rec["threshold_method"] == "sharpest split"
    assert (
        "the alert budget found nothing: every candidate lights more than 0%"
        in (rec["threshold_rule"])
    )


def test_params_keys_and_their_errors():
    base = {"base": {"seed": 1}, "hypotheses": {
        "lags": [0], "horizon_weeks": 12, "min_actionable_lead_weeks": 4, "fdr_alpha": 0.05,
        "min_events": 20, "min_accounts": 50, "threshold_min_recall": 0.2,
        "bootstrap_reps": 0}}  # fmt: skip
    s = settings_from_params(base)
    assert (s.max_share_lit, s.min_lightings, s.budget_objective) == (0.2, 20, "chi_square")
    base["hypotheses"].update(max_share_lit=0.1, min_lightings=5, budget_objective="precision")
    s = settings_from_params(base)
    assert (s.max_share_lit, s.min_lightings, s.budget_objective) == (0.1, 5, "precision")
    for bad in ({"max_share_lit": 0}, {"budget_objective": "recall"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            settings_from_params({**base, "hypotheses": {**base["hypotheses"], **bad}})
