"""Each quarantined row names the column(s) its reason was found in (`_column`), so the
data-quality report reads it instead of parsing the rows again (a new user's report spent
~3 s re-parsing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ingest_testkit import clean_tables, interim, run_ingest, with_row

from churnlab.ingest.table import SOURCE_COLUMNS, failed_columns

CASES = [
    ("accounts", {"account_id": "A9", "signup_date": "2024-13-01"}, "signup_date"),
    ("accounts", {"account_id": "  "}, "account_id"),
    ("accounts", {"account_id": "A1", "name": "Other"}, "account_id"),  # duplicate_key
    ("contracts", {"contract_id": "C9", "mrr": "12,5"}, "mrr"),
    ("contracts", {"contract_id": "C9", "seats": "0"}, "seats"),
    ("contracts", {"contract_id": "C9", "billing_period": "weekly"}, "billing_period"),
    ("contracts", {"contract_id": "C9", "end_date": "2023-12-01"}, "end_date"),  # time order
    ("contracts", {"contract_id": "C9", "account_id": "NOPE"}, "account_id"),
    # both dates unreadable: both named, in the contract's column order
    ("contracts", {"contract_id": "C9", "start_date": "x", "end_date": "y"},
     "start_date, end_date"),
    ("users", {"user_id": "U9", "invited_at": "2023-12-31 23:00:00"}, "invited_at"),
    ("events", {"occurred_at": "not a time"}, "occurred_at"),
    ("events", {"account_id": "A2", "occurred_at": "2024-07-01T00:00:00Z"}, "occurred_at"),
    ("tickets", {"ticket_id": "T9", "first_response_at": "2024-01-10 09:00"},
     "first_response_at"),
]  # fmt: skip


@pytest.mark.parametrize(("table", "values", "column"), CASES)
def test_quarantined_row_names_the_column_it_failed_in(tmp_path, table, values, column):
    run_ingest(tmp_path, with_row(clean_tables(), table, **values))
    q = interim(tmp_path, table, quarantine=True)
    assert len(q) == 1
    assert q["_column"].iloc[0] == column
    # next to the reason, before the detail
    assert list(q.columns[-len(SOURCE_COLUMNS) :]) == SOURCE_COLUMNS
    assert SOURCE_COLUMNS.index("_column") == SOURCE_COLUMNS.index("_reason") + 1


def test_row_as_a_whole_has_no_column(tmp_path):
    run_ingest(tmp_path, with_row(clean_tables(), "events"))  # an exact duplicate
    q = interim(tmp_path, "events", quarantine=True)
    assert q["_reason"].tolist() == ["duplicate"] and q["_column"].isna().all()


def test_empty_quarantine_has_the_column(tmp_path):
    run_ingest(tmp_path, clean_tables())
    q = interim(tmp_path, "accounts", quarantine=True)
    assert q.empty and "_column" in q.columns


def test_failed_columns_by_hand():
    reasons = np.array([None, "unparseable_date", "time_order", "duplicate", "blank_required"])
    found = {
        "unparseable_date": {
            "end_date": np.array([0, 1, 0, 0, 0], bool),
            "start_date": np.array([0, 1, 0, 0, 0], bool),
        },
        "time_order": {"end_date": np.array([0, 0, 1, 0, 0], bool)},
        "duplicate": {"": np.array([0, 0, 0, 1, 0], bool)},
        # the row also has an unparseable date, but its reason is blank_required: not named
        "blank_required": {"seats": np.array([0, 1, 0, 0, 1], bool)},
    }
    out = failed_columns(reasons, found, ["start_date", "end_date", "seats"])
    assert out.tolist()[1:3] == ["start_date, end_date", "end_date"]
    assert pd.isna(out.iloc[0]) and pd.isna(out.iloc[3])
    assert out.iloc[4] == "seats"
