"""The weekly work list and its wording, on hand-made accounts (answers in comments)."""

import numpy as np
import pandas as pd
import pytest

from churnlab.health.worklist import (
    ITEM_COLUMNS,
    describe_rule,
    describe_value,
    indicator_wording,
    lamp_state,
    lit_lamps_now,
    weekly_worklist,
)

KP = indicator_wording("key_person_activity_change", trailing_weeks=4)


@pytest.mark.parametrize(
    ("label", "unit", "value", "versus", "expected"),
    [
        ("Key-person activity change", "percent change", -0.533333, "their 4-week average",
         "Key-person activity 53% below their 4-week average"),
        ("Usage", "percent change", 0.125, "the week before", "Usage 13% above the week before"),
        ("Usage", "percent change", 0.0, "the week before", "Usage level with the week before"),
        ("Usage", "percent change", -0.004, None, "Usage <1% below its usual level"),
        ("License activation rate", "fraction", 0.355, None, "License activation rate 36%"),
        ("Days to onboarding", "days", 75.0, None, "Days to onboarding: 75 days"),
        ("Weeks since last meeting", "weeks", 1.0, None, "Weeks since last meeting: 1 week"),
        ("First-response time", "hours", 13.75, None, "First-response time: 13.8 hours"),
        ("NPS survey unanswered", "flag", 1.0, None, "NPS survey unanswered: yes"),
        ("Onboarding complete", "flag", 0.0, None, "Onboarding complete: no"),
        ("Tickets opened", "tickets", 7.0, None, "Tickets opened: 7"),
        ("Seats", "count", 1234.4, None, "Seats: 1,234"),
        ("Last NPS score", "score", np.nan, None, "Last NPS score: no value"),
    ],
)  # fmt: skip
def test_describe_value(label, unit, value, versus, expected):
    assert describe_value(label, unit, value, versus) == expected


@pytest.mark.parametrize(
    ("unit", "direction", "threshold", "versus", "expected"),
    [
        ("percent change", "low", -0.4, "their 4-week average",
         "lights when more than 40% below their 4-week average"),
        ("percent change", "high", 0.25, None, "lights when more than 25% above its usual level"),
        ("percent change", "low", 0.1, "x", "lights when less than 10% above x"),
        ("fraction", "low", 0.5, None, "lights below 50%"),
        ("days", "high", 60.5, None, "lights above 60.5 days"),
        ("flag", "low", 0.5, None, "lights when no"),
        ("flag", "high", 0.5, None, "lights when yes"),
        ("tickets", "high", 6.5, None, "lights above 6.5"),
    ],
)  # fmt: skip
def test_describe_rule(unit, direction, threshold, versus, expected):
    assert describe_rule(unit, direction, threshold, versus) == expected


def test_wording_from_the_catalog_and_for_unknown_indicators():
    assert KP == {
        "label": "Key-person activity change",
        "unit": "percent change",
        "versus": "their 4-week average",
    }
    assert indicator_wording("days_to_onboarding")["unit"] == "days"
    assert indicator_wording("usage_vs_trailing", 6)["versus"] == "the 6-week average"
    assert indicator_wording("my_metric") == {"label": "My metric", "unit": "value", "versus": None}
    assert (
        indicator_wording("my_metric", meta={"label": "Invoices", "unit": "count"})["label"]
        == "Invoices"
    )
    with pytest.raises(ValueError, match="direction"):
        describe_rule("days", "up", 1.0)


def test_lamp_state():
    # new <= 2 weeks, chronic > 12; a run lit since the data began is never new
    got = lamp_state([1, 2, 3, 12, 13, 1], [False] * 5 + [True], new_weeks=2, chronic_weeks=12)
    assert got.tolist() == ["new", "new", "long-lit", "long-lit", "chronic", "long-lit"]
    with pytest.raises(ValueError, match="new_weeks"):
        lamp_state([1], new_weeks=5, chronic_weeks=3)


def _lit_row(acc, hid, ind, value, weeks, hr, direction="low", threshold=-0.4):
    return {
        "account_id": acc, "hypothesis_id": hid, "indicator": ind, "indicator_value": value,
        "direction": direction, "threshold": threshold,
        "run_start": pd.Timestamp("2025-06-30") - pd.Timedelta(weeks=weeks - 1),
        "weeks_lit": weeks, "left_censored": False, "action": f"do {hid}", "hazard_ratio": hr,
    }  # fmt: skip


def _case():
    accounts = pd.DataFrame(
        {
            "account_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
            "csm_id": ["c1", "c1", "c1", None, "c2", "c1"],
            "churn_probability": [0.5, 0.2, 0.9, 0.3, 0.1, 0.4],
            "mrr": [100.0, 1000.0, 10.0, 100.0, 100.0, 50.0],
            "account_name": ["A1", "A2", "A3", "A4", "A5", "A6"],
        }
    )
    kp, lic = "key_person_activity_change", "license_activation_rate"
    slow, nps = "days_to_onboarding", "nps_unanswered"
    lit = pd.DataFrame(
        [
            _lit_row("a1", "kp_drop", kp, -0.533333, 1, 5.0),
            _lit_row("a1", "low_lic", lic, 0.3, 2, 2.0, threshold=0.5),
            _lit_row("a2", "low_lic", lic, 0.25, 2, 2.0, threshold=0.5),
            _lit_row("a2", "slow_onb", slow, 120.0, 20, 1.5, "high", 60.5),
            _lit_row("a3", "nps", nps, 1.0, 1, 5.0, "high", 0.5),
            _lit_row("a4", "kp_drop", kp, -0.6, 1, 5.0),
            _lit_row("a5", "slow_onb", slow, 200.0, 30, 1.5, "high", 60.5),
            _lit_row("a6", "low_lic", lic, 0.4, 5, 2.0, threshold=0.5),
            _lit_row("a7", "kp_drop", kp, -0.9, 1, 5.0),  # not an active account: dropped
        ]
    )
    return lit, accounts


def test_weekly_worklist_caps_per_csm_and_ranks_within_it():
    lit, accounts = _case()
    wl = weekly_worklist(lit, accounts, capacity=2, new_weeks=2, chronic_weeks=12)
    items = wl.items
    assert list(items.columns) == ITEM_COLUMNS
    # c1 new-lamp accounts by churn prob x MRR: a2 200, a1 50, a3 9 -> a3 over capacity;
    # a4 has no CSM: its own group, listed after the CSMs, rank 1 there
    assert items[["csm_id", "rank", "account_id"]].values.tolist() == [
        ["c1", 1, "a2"],
        ["c1", 2, "a1"],
        ["unassigned", 1, "a4"],
    ]
    a1 = items[items["account_id"] == "a1"].iloc[0]
    # strongest new lamp of a1: kp_drop (HR 5) over low_lic (HR 2)
    assert a1["hypothesis_id"] == "kp_drop" and a1["action"] == "do kp_drop"
    assert a1["why"] == "Key-person activity 53% below their 4-week average"
    assert a1["lamp_rule"] == "lights when more than 40% below their 4-week average"
    assert a1["other_new_lamps"] == 1 and a1["expected_mrr_at_risk"] == pytest.approx(50.0)
    a2 = items[items["account_id"] == "a2"].iloc[0]
    assert a2["why"] == "License activation rate 25%" and a2["chronic_lamps"] == "slow_onb"
    assert not items["why"].str.contains(r"\d\.\d{3}").any()  # no raw floats

    s = wl.summary
    assert s["accounts_lit"] == 6  # a1-a6 (a7 is not active)
    assert s["accounts_newly_lit"] == 4  # a1-a4
    assert s["accounts_chronic"] == 2  # a2, a5
    assert s["accounts_long_lit_only"] == 1  # a6
    assert s["accounts_listed"] == 3 and s["accounts_over_capacity"] == 1
    assert s["n_csms"] == 2 and s["unassigned_accounts_lit"] == 1
    assert s["per_csm"] == [
        {"csm_id": "c1", "accounts_lit": 4, "accounts_newly_lit": 3, "listed": 2, "over_capacity": 1},
        {"csm_id": "c2", "accounts_lit": 1, "accounts_newly_lit": 0, "listed": 0, "over_capacity": 0},
        {"csm_id": "unassigned", "accounts_lit": 1, "accounts_newly_lit": 1, "listed": 1, "over_capacity": 0},
    ]  # fmt: skip
    per = wl.accounts.set_index("account_id")
    assert per.loc["a3", "rank_in_csm"] == 3 and not per.loc["a3", "listed"]
    assert per.loc["a2", "n_chronic_lamps"] == 1 and per.loc["a6", "long_lit_lamps"] == "low_lic"


def test_without_csms_nobody_counts_as_a_csm_and_errors():
    lit, accounts = _case()
    wl = weekly_worklist(lit, accounts.drop(columns="csm_id"), capacity=10)
    assert wl.summary["n_csms"] == 0
    assert set(wl.items["csm_id"]) == {"unassigned"}
    assert wl.items["rank"].tolist() == [1, 2, 3, 4]  # a2 200, a1 50, a4 30, a3 9
    assert wl.items["account_id"].tolist() == ["a2", "a1", "a4", "a3"]
    with pytest.raises(ValueError, match="capacity"):
        weekly_worklist(lit, accounts, capacity=0)
    with pytest.raises(ValueError, match="mrr"):
        weekly_worklist(lit, accounts.drop(columns="mrr"))


def test_lit_lamps_now_reads_run_start_on_the_panel():
    weeks = pd.date_range("2025-06-09", periods=4, freq="7D")
    panel = pd.DataFrame(
        {
            "account_id": ["x"] * 4 + ["y"] * 4,
            "week_start": list(weeks) * 2,
            "event": 0,
            # x: lit (< 0.5) in weeks 2-3 -> run start week 2, 2 weeks lit; y: lit only week 0
            "rate": [0.9, 0.9, 0.2, 0.3, 0.1, 0.9, 0.9, np.nan],
        }
    )
    lamps = pd.DataFrame(
        {
            "id": ["low_rate", "missing"],
            "indicator": ["rate", "not_in_panel"],
            "direction": ["low", "low"],
            "threshold": [0.5, 1.0],
            "action": ["call", "x"],
            "hazard_ratio": [3.0, 2.0],
        }
    )
    got = lit_lamps_now(panel, lamps)
    assert got[["account_id", "hypothesis_id", "weeks_lit"]].values.tolist() == [
        ["x", "low_rate", 2]
    ]
    assert got["run_start"].iloc[0] == weeks[2]
    assert got["indicator_value"].iloc[0] == pytest.approx(0.3)
    assert not got["left_censored"].iloc[0]


def test_lit_lamps_now_lights_as_the_alert_design_says():
    """A lamp with an on-delay of 2 and an off-delay of 2 (hypotheses' alert_policy): x's
    indicator is low in weeks 1, 2 and 4 (week 3 back up): the alert lights in week 2 (the
    2nd week in a row), is held through week 3 (one week back is not enough to put it out)
    and is still lit in week 4, a run of 3 weeks from week 2. y is low only in the latest
    week: the plain lamp would list it, the alert has not lit yet."""
    weeks = pd.date_range("2025-06-02", periods=5, freq="7D")
    panel = pd.DataFrame(
        {
            "account_id": ["x"] * 5 + ["y"] * 5,
            "week_start": list(weeks) * 2,
            "event": 0,
            "rate": [0.9, 0.2, 0.3, 0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.1],
        }
    )
    lamps = pd.DataFrame(
        {
            "id": ["low_rate"],
            "indicator": ["rate"],
            "direction": ["low"],
            "threshold": [0.5],
            "action": ["call"],
            "hazard_ratio": [3.0],
            "alert_on_weeks": [2],
            "alert_off_weeks": [2],
        }
    )
    got = lit_lamps_now(panel, lamps)
    assert got[["account_id", "weeks_lit"]].values.tolist() == [["x", 3]]
    assert got["run_start"].iloc[0] == weeks[2]
    plain = lit_lamps_now(panel, lamps.drop(columns=["alert_on_weeks", "alert_off_weeks"]))
    assert plain[["account_id", "weeks_lit"]].values.tolist() == [["x", 1], ["y", 1]]
