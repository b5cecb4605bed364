"""Row-level checks: one hand-made bad row per reason code, everything else accepted."""

from __future__ import annotations

import pandas as pd
import pytest
from ingest_testkit import clean_tables, interim, run_ingest, with_row


def _assert_one(summary, table, reason):
    rows = summary["rows"][table]
    assert rows["quarantined"] == 1, rows
    assert rows["by_reason"][reason] == 1, rows
    assert rows["read"] == rows["accepted"] + rows["quarantined"]


CASES = [
    ("accounts", {"account_id": "A9", "signup_date": "2024-13-01"}, "unparseable_date"),
    ("accounts", {"account_id": "A9", "signup_date": "yesterday"}, "unparseable_date"),
    ("accounts", {"account_id": "  "}, "blank_required"),
    ("accounts", {"account_id": "A1", "name": "Other"}, "duplicate_key"),
    ("contracts", {"contract_id": "C9", "mrr": "12,5"}, "unparseable_number"),
    ("contracts", {"contract_id": "C9", "seats": "2.5"}, "unparseable_number"),
    ("contracts", {"contract_id": "C9", "mrr": "-10"}, "negative_mrr"),
    ("contracts", {"contract_id": "C9", "seats": "0"}, "out_of_range"),
    ("contracts", {"contract_id": "C9", "billing_period": "weekly"}, "invalid_category"),
    ("contracts", {"contract_id": "C9", "end_date": "2023-12-01"}, "time_order"),
    ("contracts", {"contract_id": "C9", "account_id": "NOPE"}, "unknown_account"),
    ("contracts", {"contract_id": "C9", "start_date": ""}, "blank_required"),
    ("users", {"user_id": "U9", "activated_at": "2023-12-31 00:00:00"}, "time_order"),
    ("users", {"user_id": "U9", "invited_at": "2023-12-31 23:00:00"}, "before_signup"),
    ("events", {}, "duplicate"),
    ("events", {"occurred_at": "2024-01-05T01:00:00Z"}, "duplicate"),  # same instant as row 0
    ("events", {"account_id": "A404"}, "unknown_account"),
    ("events", {"occurred_at": "2023-12-31T23:59:59Z"}, "before_signup"),
    ("events", {"occurred_at": "not a time"}, "unparseable_date"),
    ("events", {"occurred_at": ""}, "blank_required"),
    ("events", {"event_type": " "}, "blank_required"),
    # A2's only contract ended 2024-06-01; grace is 30 days, so 2024-07-01 is too late.
    ("events", {"account_id": "A2", "occurred_at": "2024-07-01T00:00:00Z"}, "after_contract_end"),
    ("tickets", {"ticket_id": "T9", "first_response_at": "2024-01-10 09:00"}, "time_order"),
    ("tickets", {"ticket_id": "T9", "closed_at": "2024-01-09 09:00"}, "time_order"),
]


@pytest.mark.parametrize(("table", "values", "reason"), CASES)
def test_each_reason_code_quarantines_exactly_the_bad_row(tmp_path, table, values, reason):
    summary = run_ingest(tmp_path, with_row(clean_tables(), table, **values))
    _assert_one(summary, table, reason)
    q = interim(tmp_path, table, quarantine=True)
    assert q["_reason"].tolist() == [reason]
    # The original strings travel to the quarantine, with the 1-based data row of the file.
    assert q["_source_file"].tolist() == [f"data/raw/{table}.csv"]
    assert q["_source_row"].tolist() == [len(clean_tables()[table]) + 1]
    for column, value in values.items():
        assert q[column].iloc[0] == value  # exactly as written, blanks and spaces included
    for other in summary["rows"]:
        if other != table:
            assert summary["rows"][other]["quarantined"] == 0, other


def test_activity_within_grace_period_is_accepted(tmp_path):
    tables = with_row(clean_tables(), "events", account_id="A2", occurred_at="2024-06-30T23:59:59Z")
    summary = run_ingest(tmp_path, tables)
    assert summary["rows"]["events"]["quarantined"] == 0


def test_grace_days_param_moves_the_cutoff(tmp_path):
    tables = with_row(clean_tables(), "events", account_id="A2", occurred_at="2024-06-01T00:00:00Z")
    summary = run_ingest(tmp_path, tables, ingest={"grace_days": 0})
    _assert_one(summary, "events", "after_contract_end")


@pytest.mark.parametrize(("day", "accepted"), [("2025-04-04", True), ("2025-04-05", False)])
def test_without_notice_activity_is_allowed_for_the_renewal_grace(tmp_path, day, accepted):
    # A3's annual term ends 2025-03-01 with no notice: its renewal may just not be recorded,
    # so activity counts as after the end only from end + renewal_grace_days (35 > 30).
    tables = with_row(clean_tables(), "events", account_id="A3", occurred_at=f"{day}T00:00:00Z")
    summary = run_ingest(tmp_path, tables, ingest={"renewal_grace_days": 35})
    assert summary["rows"]["events"]["quarantined"] == (0 if accepted else 1)


def test_open_ended_contract_never_triggers_after_contract_end(tmp_path):
    # A1's second contract has no end date: still running.
    tables = with_row(clean_tables(), "events", occurred_at="2030-01-01T00:00:00Z")
    summary = run_ingest(tmp_path, tables)
    assert summary["rows"]["events"]["quarantined"] == 0


def test_quarantined_account_cascades_as_account_rejected_not_unknown(tmp_path):
    tables = with_row(clean_tables(), "events", account_id="A404")  # truly unknown
    tables["accounts"].loc[2, "signup_date"] = "01.03.2024"  # A3 rejected
    summary = run_ingest(tmp_path, tables)
    assert summary["rows"]["accounts"]["by_reason"]["unparseable_date"] == 1
    for table in ("contracts", "users", "events"):
        assert summary["rows"][table]["by_reason"]["account_rejected"] == 1, table
    assert summary["rows"]["events"]["by_reason"]["unknown_account"] == 1
    assert summary["rejected_account_cascade"] == {
        "account_rows": 1,
        "account_rows_by_reason": {"unparseable_date": 1},
        "rows": 3,
        "rows_by_table": {"contracts": 1, "users": 1, "events": 1},
    }
    q = interim(tmp_path, "events", quarantine=True).set_index("account_id")
    assert q.loc["A3", "_detail"] == (
        "account row quarantined: unparseable_date (data/raw/accounts.csv row 3)"
    )
    assert pd.isna(q.loc["A404", "_detail"])


def test_first_reason_wins_when_a_row_has_several(tmp_path):
    tables = with_row(clean_tables(), "events", account_id="A404", occurred_at="garbage")
    summary = run_ingest(tmp_path, tables)
    _assert_one(summary, "events", "unparseable_date")


def test_duplicate_keeps_the_first_copy(tmp_path):
    tables = clean_tables()
    tables["events"] = pd.concat(
        [tables["events"], tables["events"].iloc[[2, 2, 0]]], ignore_index=True
    )
    summary = run_ingest(tmp_path, tables)
    assert summary["rows"]["events"] == {
        **summary["rows"]["events"],
        "read": 8,
        "accepted": 5,
        "quarantined": 3,
    }
    q = interim(tmp_path, "events", quarantine=True)
    assert q["_source_row"].tolist() == [6, 7, 8]
    assert set(q["_reason"]) == {"duplicate"}


def test_copies_of_a_rejected_row_keep_its_reason_not_duplicate(tmp_path):
    tables = with_row(clean_tables(), "events", account_id="A404")
    tables = with_row(tables, "events", account_id="A404")
    summary = run_ingest(tmp_path, tables)
    rows = summary["rows"]["events"]
    assert (rows["by_reason"]["unknown_account"], rows["by_reason"]["duplicate"]) == (2, 0)


def test_duplicate_key_keeps_the_first_account_and_its_events(tmp_path):
    tables = with_row(clean_tables(), "accounts", name="Acme (second export)")
    summary = run_ingest(tmp_path, tables)
    assert summary["rows"]["accounts"]["by_reason"]["duplicate_key"] == 1
    assert interim(tmp_path, "accounts").set_index("account_id").loc["A1", "name"] == "Acme"
    assert summary["rows"]["events"]["quarantined"] == 0


def test_sql_null_markers_are_null_not_garbage(tmp_path):
    tables = clean_tables()
    tables["users"].loc[0, "activated_at"] = "NULL"  # nullable column: accepted as null
    tables["events"].loc[0, "user_id"] = "\\N"  # required column: blank_required
    nulls = {"null_values": ["NULL", "\\N"]}
    summary = run_ingest(tmp_path, tables, ingest=nulls)
    assert summary["rows"]["users"]["quarantined"] == 0
    assert interim(tmp_path, "users").set_index("user_id").loc["U1", "activated_at"] is pd.NaT
    _assert_one(summary, "events", "blank_required")
    # Without the markers, "NULL" is just an unparseable timestamp.
    summary = run_ingest(tmp_path, tables, ingest={"null_values": []})
    _assert_one(summary, "users", "unparseable_date")


def test_quarantine_line_counts_and_names_reasons(tmp_path):
    from churnlab.ingest.stage import quarantine_line

    rows = {
        "accounts": {
            "read": 3,
            "accepted": 2,
            "quarantined": 1,
            "by_reason": {"unparseable_date": 1},
        },
        "events": {
            "read": 1000,
            "accepted": 990,
            "quarantined": 10,
            "by_reason": {"account_rejected": 9, "unparseable_date": 1, "duplicate": 0},
        },
    }
    line = quarantine_line(rows, tmp_path)
    assert line.startswith("1,003 rows read, 992 accepted, 11 quarantined (account_rejected 9,")
    assert "unparseable_date 2" in line and "duplicate" not in line
    clean = {"accounts": {"read": 3, "accepted": 3, "quarantined": 0, "by_reason": {}}}
    assert quarantine_line(clean, tmp_path) == "3 rows read, 3 accepted, 0 quarantined"
