"""Every catalog indicator on the hand-made company of panel_world.py, answers worked by hand.

Weeks (Mondays): A=Jan 1, B=Jan 8, C=Jan 15, D=Jan 22, E=Jan 29, F=Feb 5, G=Feb 12 (as-of
Feb 14). A row's value may only use data before its Monday, so activity in week A shows in B.
"""

import pandas as pd
import pytest
from panel_world import (
    CONTRACT_COLUMNS,
    CONTRACT_DATE_COLUMNS,
    base_tables,
    build,
    frame,
    full_tables,
)

from churnlab.indicators.catalog import CATALOG

WEEKS = ["A", "B", "C", "D", "E", "F", "G"]
NAN = float("nan")

# indicator -> values for weeks A..G, each derived by hand from full_tables():
EXPECTED = {
    # first_login Jan 2 (A) -> visible from B.
    "first_login_done": [0, 1, 1, 1, 1, 1, 1],
    # contract starts Wed Jan 3. A: 0 days elapsed (clamped); B: Jan 3 -> Jan 8 = 5 days, not
    # onboarded yet; onboarding_complete Thu Jan 11 -> from C on: 8 days.
    "days_to_onboarding": [0, 5, 8, 8, 8, 8, 8],
    "onboarding_complete": [0, 0, 1, 1, 1, 1, 1],
    # training_complete Wed Jan 31 (E) -> F.
    "training_completed": [0, 0, 0, 0, 0, 1, 1],
    # u1 activated Jan 2, u2 Jan 4, u3 never; 4 seats.
    "license_activation_rate": [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    # Week A: u1 + u2; B: u1; C: nobody; D: u2; E.. nobody.
    "weekly_active_users": [0, 2, 1, 0, 1, 0, 0],
    # A: Jan 2, Jan 4; B: Jan 9, Jan 10; D: Jan 24.
    "active_days": [0, 2, 2, 0, 1, 0, 0],
    # user-days / (7 * WAU): A: 2/(7*2); B: u1 on 2 days = 2/(7*1); D: 1/7.
    "dau_wau_ratio": [0, 1 / 7, 2 / 7, 0, 1 / 7, 0, 0],
    # WAU / distinct users of the previous 4 weeks: B 2/2, C 1/2 (u1,u2 in A..B), E 1/2.
    "wau_mau_ratio": [0, 1, 0.5, 0, 0.5, 0, 0],
    # A used report_view (available: report_view) -> 1/1; B used dashboard (available:
    # report_view, dashboard; data_export and login are not features) -> 1/2.
    "feature_breadth": [0, 1, 0.5, 0, 0, 0, 0],
    # report_view Jan 2 (A) -> weeks B..E (4-week window).
    "report_feature_used": [0, 1, 1, 1, 1, 0, 0],
    # key person u1 active in A and B.
    "key_person_active": [0, 1, 1, 0, 0, 0, 0],
    # u1 events: A=2, B=3. C: 3 / mean(rows A,B = 0, 2) - 1 = 2; D: 0 / mean(0,2,3) - 1 = -1;
    # E, F, G: 0 over a positive mean = -1. B: baseline mean(0) = 0 -> 0.
    "key_person_activity_change": [0, 0, 2, -1, -1, -1, -1],
    # account events per week: A=3, B=3, C=0, D=1. C: 3/3-1=0; D: 0/3-1=-1; E: no baseline;
    # F: 0/1-1=-1.
    "usage_wow_change": [0, 0, 0, -1, 0, -1, 0],
    # vs mean of the weeks before the previous one: C 3/mean(0,3)-1=1; D 0/..=-1;
    # E 1/mean(0,3,3,0)-1=-1/3; F 0/mean(3,3,0,1)-1=-1; G 0/mean(3,0,1,0)-1=-1.
    "usage_vs_trailing": [0, 0, 1, -1, -1 / 3, -1, -1],
    # last logins Jan 4, Jan 9, Jan 24: B 4 days, C 6, D 13, E 5, F 12, G 19 (in weeks).
    "weeks_since_last_login": [0, 4 / 7, 6 / 7, 13 / 7, 5 / 7, 12 / 7, 19 / 7],
    # data_export Jan 9 (B) -> C.
    "data_exports": [0, 0, 1, 0, 0, 0, 0],
    # t1 and t2 opened in B -> counted in the 4-week windows of C..F.
    "tickets_opened": [0, 0, 2, 2, 2, 2, 0],
    # t1 answered in B after 3 h, t2 in C after 72 h; windows of 4 weeks.
    "first_response_hours": [NAN, NAN, 3, 37.5, 37.5, 37.5, 72],
    "feature_feedback_tickets": [0, 0, 1, 1, 1, 1, 0],
    # event_attendance Jan 17 (C) -> D..G.
    "event_participation": [0, 0, 0, 1, 1, 1, 1],
    # DM meeting Fri Jan 5 (A), meeting Wed Jan 24 (D).
    "weeks_since_meeting": [0, 3 / 7, 10 / 7, 17 / 7, 5 / 7, 12 / 7, 19 / 7],
    "weeks_since_dm_meeting": [0, 3 / 7, 10 / 7, 17 / 7, 24 / 7, 31 / 7, 38 / 7],
    # s1 sent Jan 2, due (>14 days old) from D, answered Jan 20 -> 0; s2 sent Jan 16, due
    # from F (Feb 5 > Jan 30), never answered -> 1.
    "nps_unanswered": [0, 0, 0, 0, 0, 1, 1],
    # s1 answered Jan 20 (C) with 9 -> from D.
    "nps_last_score": [NAN, NAN, NAN, 9, 9, 9, 9],
    # csm1 -> csm2 on Jan 17 (C) -> flagged D onwards (8-week window).
    "csm_changed_recently": [0, 0, 0, 1, 1, 1, 1],
    # monthly from Jan 3: next renewal Feb 3 (A..E), then Mar 3 (F, G).
    "weeks_to_renewal": [33 / 7, 26 / 7, 19 / 7, 12 / 7, 5 / 7, 27 / 7, 20 / 7],
    "mrr_change": [0, 0, 0, 0, 0, 0, 0],
    # WAU / 4 seats.
    "seat_utilisation": [0, 0.5, 0.25, 0, 0.25, 0, 0],
    "goal_achieved": [0, 0, 0, 0, 0, 0, 0],
}


@pytest.fixture(scope="module")
def panel():
    return build(full_tables())


def test_every_catalog_indicator_has_a_hand_computed_case():
    assert set(EXPECTED) == {ind.id for ind in CATALOG}


@pytest.mark.parametrize("indicator", sorted(EXPECTED))
def test_indicator_matches_hand_computation(panel, indicator):
    assert list(panel["week_start"].dt.strftime("%m-%d")) == [
        "01-01",
        "01-08",
        "01-15",
        "01-22",
        "01-29",
        "02-05",
        "02-12",
    ]
    got = panel[indicator].to_numpy()
    want = pd.Series(EXPECTED[indicator], dtype="float64").to_numpy()
    assert got == pytest.approx(want, abs=1e-12, nan_ok=True), dict(zip(WEEKS, got, strict=True))


def _contract_panel(rows, as_of="2025-03-31"):
    t = base_tables()
    t["contracts"] = frame(
        rows,
        CONTRACT_COLUMNS,
        date_cols=CONTRACT_DATE_COLUMNS,
    )
    return build(t, as_of=as_of).set_index("week_start")


def test_weeks_to_renewal_annual_term_and_month_end_clamp():
    # Annual from Wed 2024-01-31: term ends 2025-01-31 (known at signing).
    p = _contract_panel([("c1", "a1", "2024-01-31", None, "annual", "pro", 100.0, 5, None, None)])
    # Mon 2024-01-29 -> 2025-01-31 = 368 days; Mon 2025-01-27 -> 4 days; Mon 2025-02-03 ->
    # next anniversary 2026-01-31 = 362 days.
    assert p.loc["2024-01-29", "weeks_to_renewal"] == pytest.approx(368 / 7)
    assert p.loc["2025-01-27", "weeks_to_renewal"] == pytest.approx(4 / 7)
    assert p.loc["2025-02-03", "weeks_to_renewal"] == pytest.approx(362 / 7)


def test_weeks_to_renewal_monthly_clamps_to_month_end():
    p = _contract_panel(
        [("c1", "a1", "2024-01-31", None, "monthly", "pro", 100.0, 5, None, None)],
        as_of="2024-03-31",
    )
    # Jan 31 + 1 month = Feb 29 (2024); Mon Feb 26 -> 3 days. Jan 31 + 2 months = Mar 31;
    # Mon Mar 4 -> 27 days.
    assert p.loc["2024-02-26", "weeks_to_renewal"] == pytest.approx(3 / 7)
    assert p.loc["2024-03-04", "weeks_to_renewal"] == pytest.approx(27 / 7)


def test_mrr_change_and_current_contract_after_downgrade():
    # 100 MRR from Mon Jan 1, downgrade to 60 on Wed Jan 17 (renewal row), 4-week lookback.
    p = _contract_panel(
        [
            ("c1", "a1", "2024-01-01", "2024-01-17", "monthly", "pro", 100.0, 10, None, None),
            ("c2", "a1", "2024-01-17", None, "monthly", "lite", 60.0, 4, None, None),
        ],
        as_of="2024-03-01",
    )
    # Week of Jan 15 still sees c1 (c2 starts mid-week); Jan 22 sees c2.
    assert p.loc["2024-01-15", ["mrr", "seats", "plan"]].tolist() == [100.0, 10.0, "pro"]
    assert p.loc["2024-01-22", ["mrr", "seats", "plan"]].tolist() == [60.0, 4.0, "lite"]
    # Jan 22 vs 4 weeks earlier (Dec 25 is before the panel -> first week's 100): -0.4.
    assert p.loc["2024-01-22", "mrr_change"] == pytest.approx(-0.4)
    # Feb 19 vs Jan 22 (both 60): 0; Feb 12 vs Jan 15 (100): -0.4.
    assert p.loc["2024-02-12", "mrr_change"] == pytest.approx(-0.4)
    assert p.loc["2024-02-19", "mrr_change"] == pytest.approx(0.0)


def test_mau_counts_distinct_users_across_weeks():
    # u1 active in 3 consecutive weeks, u2 once; MAU over 4 weeks must be 2, not 4.
    t = base_tables()
    t["events"] = frame(
        [
            ("a1", "u1", "2024-01-02 09:00", "login"),
            ("a1", "u1", "2024-01-09 09:00", "login"),
            ("a1", "u2", "2024-01-10 09:00", "login"),
            ("a1", "u1", "2024-01-16 09:00", "login"),
        ],
        ["account_id", "user_id", "occurred_at", "event_type"],
        ts_cols=["occurred_at"],
    )
    p = build(t, as_of="2024-02-28").set_index("week_start")
    # Jan 22: WAU (week of Jan 15) = 1, MAU (Dec 25..Jan 21) = {u1, u2} -> 0.5.
    assert p.loc["2024-01-22", "wau_mau_ratio"] == pytest.approx(0.5)
    # Feb 5: window Jan 8..Feb 4 has u1, u2 but WAU (Jan 29 week) = 0 -> 0.
    assert p.loc["2024-02-05", "wau_mau_ratio"] == 0
    # Feb 19: WAU 0 and MAU 0 -> 0 by convention (no division by zero).
    assert p.loc["2024-02-19", "wau_mau_ratio"] == 0


def test_timestamps_are_bucketed_in_utc():
    # Sunday 23:30 UTC belongs to the week before, whatever the machine's zone.
    t = base_tables()
    t["events"] = frame(
        [("a1", "u1", "2024-01-14 23:30", "login")],
        ["account_id", "user_id", "occurred_at", "event_type"],
        ts_cols=["occurred_at"],
    )
    p = build(t).set_index("week_start")
    assert p.loc["2024-01-15", "weekly_active_users"] == 1
    assert p.loc["2024-01-22", "weekly_active_users"] == 0
