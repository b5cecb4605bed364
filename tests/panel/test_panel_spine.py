"""Rows, start/stop and the churn event on hand-made contracts (spells and contract_terms
derived from them as ingest does for simple histories: panel_world.simple_history)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "indicators"))
from panel_world import CONTRACT_COLUMNS, base_tables, build, frame  # noqa: E402


def panel_for(contract_rows, as_of, accounts=("a1",)):
    t = base_tables()
    t["accounts"] = frame(
        [(a, a.upper(), "2023-01-01", "smb", "learn_myself", "eu") for a in accounts],
        ["account_id", "name", "signup_date", "segment", "customer_goal", "region"],
        date_cols=["signup_date"],
    )
    t["contracts"] = frame(
        contract_rows, CONTRACT_COLUMNS, date_cols=["start_date", "end_date", "cancelled_at"]
    )
    return build(t, as_of=as_of)


def test_monthly_cancelled_mid_term_churns_at_term_end():
    # Starts Wed Jan 3; notice on Feb 10 (mid-term); the term ends Sun Mar 3 = churn date.
    p = panel_for(
        [
            (
                "c1",
                "a1",
                "2024-01-03",
                "2024-03-03",
                "monthly",
                "pro",
                50.0,
                2,
                "2024-02-10",
                "price",
            )
        ],
        as_of="2024-06-30",
    )
    # Weeks Jan 1 .. Feb 26 (the week holding Mar 3): 9 rows, event only on the last.
    assert p["week_start"].dt.strftime("%Y-%m-%d").tolist()[0] == "2024-01-01"
    assert p["week_start"].dt.strftime("%Y-%m-%d").tolist()[-1] == "2024-02-26"
    assert p["start"].tolist() == list(range(9))
    assert (p["stop"] - p["start"]).eq(1).all()
    assert p["tenure_weeks"].tolist() == p["start"].tolist()
    assert p["event"].tolist() == [0] * 8 + [1]


def test_annual_renewal_is_not_churn_but_missing_second_renewal_is():
    p = panel_for(
        [
            ("c1", "a1", "2023-01-04", "2024-01-04", "annual", "pro", 100.0, 5, None, None),
            ("c2", "a1", "2024-01-04", "2025-01-04", "annual", "pro", 120.0, 5, None, None),
        ],
        as_of="2025-03-01",
    )
    # First week Mon 2023-01-02; churn Sat 2025-01-04 -> its week starts Mon 2024-12-30.
    assert p["week_start"].iloc[0].strftime("%Y-%m-%d") == "2023-01-02"
    assert p["week_start"].iloc[-1].strftime("%Y-%m-%d") == "2024-12-30"
    assert p["event"].sum() == 1 and p["event"].iloc[-1] == 1
    # The renewal week carries the new MRR from the first Monday on or after Jan 4 2024.
    by_week = p.set_index("week_start")
    assert by_week.loc["2024-01-01", "mrr"] == 100.0
    assert by_week.loc["2024-01-08", "mrr"] == 120.0
    assert len(p) == (p["week_start"].iloc[-1] - p["week_start"].iloc[0]).days // 7 + 1


def test_account_still_active_runs_to_as_of_week_without_event():
    # Open-ended monthly plus an annual whose term ends after as-of: neither churned.
    p = panel_for(
        [
            ("c1", "a1", "2024-01-03", None, "monthly", "pro", 50.0, 2, None, None),
            ("c2", "a2", "2024-01-10", "2025-01-10", "annual", "pro", 80.0, 2, None, None),
        ],
        as_of="2024-03-13",  # a Wednesday; its week starts Mon Mar 11
        accounts=("a1", "a2"),
    )
    for account, first in (("a1", "2024-01-01"), ("a2", "2024-01-08")):
        rows = p[p["account_id"] == account]
        assert rows["week_start"].iloc[0].strftime("%Y-%m-%d") == first
        assert rows["week_start"].iloc[-1].strftime("%Y-%m-%d") == "2024-03-11"
        assert rows["event"].sum() == 0
    assert p["account_id"].tolist() == sorted(p["account_id"].tolist())


def test_churn_on_a_monday_falls_in_that_week_and_ended_after_as_of_is_censored():
    p = panel_for(
        [
            ("c1", "a1", "2024-01-01", "2024-02-05", "monthly", "pro", 50.0, 2, None, None),
            ("c2", "a2", "2024-01-01", "2024-02-05", "monthly", "pro", 50.0, 2, None, None),
        ],
        as_of="2024-02-04",
        accounts=("a1", "a2"),
    )
    # as-of Sun Feb 4 is before the end date Feb 5: not churned yet, censored at Jan 29.
    assert p["event"].sum() == 0
    assert p.groupby("account_id")["week_start"].max().dt.strftime("%m-%d").tolist() == [
        "01-29",
        "01-29",
    ]
    p2 = panel_for(
        [("c1", "a1", "2024-01-01", "2024-02-05", "monthly", "pro", 50.0, 2, None, None)],
        as_of="2024-02-05",
    )
    assert p2["week_start"].iloc[-1].strftime("%m-%d") == "02-05"
    assert p2["event"].tolist() == [0, 0, 0, 0, 0, 1]


def test_gap_between_contracts_is_not_churn_and_future_contracts_are_ignored():
    p = panel_for(
        [
            ("c1", "a1", "2024-01-01", "2024-02-01", "monthly", "pro", 50.0, 2, None, None),
            ("c2", "a1", "2024-02-20", None, "monthly", "pro", 70.0, 2, None, None),
            ("c3", "a2", "2024-05-01", None, "monthly", "pro", 70.0, 2, None, None),
        ],
        as_of="2024-03-04",
        accounts=("a1", "a2"),
    )
    assert set(p["account_id"]) == {"a1"}  # a2 starts after as-of
    assert p["event"].sum() == 0
    assert len(p) == 10  # Jan 1 .. Mar 4


@pytest.mark.parametrize("as_of", ["2024-02-14", "2024-02-18"])
def test_as_of_week_is_inclusive(as_of):
    p = panel_for(
        [("c1", "a1", "2024-01-03", None, "monthly", "pro", 50.0, 2, None, None)], as_of=as_of
    )
    assert p["week_start"].iloc[-1].strftime("%Y-%m-%d") == "2024-02-12"


def test_static_attributes_come_from_accounts_and_current_contract():
    p = panel_for(
        [("c1", "a1", "2024-01-03", None, "annual", "enterprise", 900.0, 30, None, None)],
        as_of="2024-01-20",
    )
    assert p[["segment", "customer_goal", "plan", "billing_period"]].iloc[0].tolist() == [
        "smb",
        "learn_myself",
        "enterprise",
        "annual",
    ]
    assert p[["seats", "mrr"]].iloc[0].tolist() == [30.0, 900.0]
    assert str(p["week_start"].dtype) == "datetime64[ns]"
    assert p["start"].dtype == "int64" and p["event"].dtype == "int64"
